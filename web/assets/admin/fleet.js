// Console → Fleet: installs per provider and status, the keys that stopped working (oldest
// failure first, paged) with a re-check on demand, when the scheduled re-check last ran, and
// resolves per day (tenants' keys against the platform's) as a chart with its numbers in a
// table.

import { api } from '../api.js';
import { fill, h, named, uid, when } from '../dom.js';
import { formatDate, t } from '../i18n.js';
import { showError } from '../session.js';
import { ago, status } from '../words.js';
import { stackedBars } from './chart.js';
import { failed, query, seg } from './http.js';
import { ready, startConsole } from './nav.js';
import { bodyOf, dataTable, row } from './table.js';

/** provider key → name (the key when the catalog does not say). */
const names = new Map();
const nameOf = (key) => names.get(key) ?? key;

/** The last scheduled run, in words. */
function lastRun(run) {
  if (!run) return h('p', { class: 'last-run' }, t('admin.fleet.noRun'));
  return h('p', { class: 'last-run' }, t('admin.fleet.lastRun', {
    ago: ago(run.at), date: formatDate(run.at) ?? t('time.unknown'), candidates: run.candidates ?? 0, queued: run.queued ?? 0,
  }));
}

function countsTable(providers) {
  const keys = Object.keys(providers).sort((a, b) => nameOf(a).localeCompare(nameOf(b)));
  if (!keys.length) return h('p', {}, t('admin.fleet.noInstalls'));
  return dataTable({
    caption: t('admin.fleet.countsCaption'),
    hiddenCaption: true,
    className: 'numbers',
    head: [t('admin.fleet.provider'), status('connected').label, status('unverified').label, status('invalid').label,
      status('disconnected').label, t('admin.fleet.total')],
    rows: keys.map((key) => {
      const c = providers[key];
      const total = c.connected + c.unverified + c.invalid + c.disconnected;
      return row([nameOf(key), c.connected, c.unverified, c.invalid, c.disconnected, total].map((v) => (typeof v === 'number' ? format(v) : v)));
    }),
  });
}

const format = (n) => new Intl.NumberFormat(document.documentElement.lang || undefined).format(n);

/** The failing keys, with Re-check now per row and More for the next page. */
function failingPart(first, next) {
  const live = h('p', { class: 'live', role: 'status', 'aria-live': 'polite' });
  if (!first.length) return [h('p', {}, t('admin.fleet.noneFailing')), live];
  const table = dataTable({
    caption: t('admin.fleet.failingCaption'),
    hiddenCaption: true,
    head: [t('admin.fleet.tenant'), t('admin.fleet.provider'), t('admin.fleet.status'), t('admin.fleet.failingSince'),
      t('admin.fleet.lastChecked'), t('admin.fleet.why'), t('admin.fleet.action')],
    rows: first.map((f) => failingRow(f, live)),
  });
  let after = next;
  const more = h('button', { type: 'button', class: 'secondary', hidden: !after, onclick: loadMore }, t('admin.fleet.more'));
  async function loadMore() {
    more.disabled = true;
    try {
      const page = await api('GET', `/v1/admin/fleet${query({ failing_after: after })}`);
      const rows = page.failing.map((f) => failingRow(f, live));
      bodyOf(table).append(...rows);
      after = page.failing_next ?? null;
      fill(live, t('admin.fleet.moreShown', { count: rows.length }));
      if (!after) {
        more.hidden = true;
        rows[0]?.querySelector('button')?.focus();
      }
    } catch (error) {
      fill(live, failed(error));
    } finally {
      more.disabled = false;
    }
  }
  return [table, live, h('div', { class: 'actions' }, more)];
}

function failingRow(f, live) {
  const who = { provider: nameOf(f.provider), tenant: f.tenant };
  const button = h('button', { type: 'button', class: 'secondary compact' },
    named(t('admin.fleet.recheck'), t('admin.fleet.recheckName', who)));
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      await api('POST', `/v1/admin/tenants/${seg(f.tenant)}/integrations/${seg(f.provider)}/recheck`);
      fill(button, named(t('admin.fleet.queued'), t('admin.fleet.queuedName', who)));
      fill(live, t('admin.fleet.queuedLive', who));
    } catch (error) {
      button.disabled = false;
      fill(live, failed(error));
    }
  });
  const said = status(f.status);
  return row([
    f.tenant,
    nameOf(f.provider),
    h('span', { class: `badge tone-${said.tone}` }, said.label),
    f.failing_since ? when(f.failing_since) : t('time.unknown'),
    f.last_checked_at ? when(f.last_checked_at) : t('admin.fleet.neverChecked'),
    f.why ?? '',
    button,
  ]);
}

/** UTC day `YYYY-MM-DD`, `days` before today. */
function dayBefore(days) {
  return new Date(Date.now() - days * 86_400_000).toISOString().slice(0, 10);
}

/** Resolves per day and source, from `since` to today (days without any count as 0). */
function perDay(rows, since, provider) {
  const days = new Map();
  for (let d = new Date(`${since}T00:00:00Z`); d.toISOString().slice(0, 10) <= dayBefore(0); d = new Date(d.getTime() + 86_400_000)) {
    days.set(d.toISOString().slice(0, 10), { tenant: 0, platform: 0 });
  }
  for (const r of rows) {
    if (provider && r.provider !== provider) continue;
    const day = days.get(r.day) ?? { tenant: 0, platform: 0 };
    day[r.source === 'platform' ? 'platform' : 'tenant'] += r.resolves;
    days.set(r.day, day);
  }
  return [...days.entries()].sort(([a], [b]) => a.localeCompare(b));
}

const dayLabel = (day) => formatDate(`${day}T12:00:00Z`, { day: 'numeric', month: 'short', timeZone: 'UTC' }) ?? day;

/** Usage per day: the period and provider, the chart and its table. */
function usagePart(providerKeys) {
  const periodId = uid('period');
  const providerId = uid('provider');
  const period = h('select', { id: periodId },
    [7, 30, 90].map((n) => h('option', { value: n, selected: n === 30 ? true : null }, t('admin.fleet.lastDays', { count: n }))));
  const provider = h('select', { id: providerId },
    h('option', { value: '' }, t('admin.fleet.allProviders')),
    providerKeys.map((k) => h('option', { value: k }, nameOf(k))));
  const summary = h('p', { class: 'count', role: 'status', 'aria-live': 'polite' });
  const area = h('div', { class: 'chart-area' });
  let rows = [];
  let since = null;

  async function load() {
    since = dayBefore(Number(period.value) - 1);
    fill(summary, t('common.loading'));
    try {
      ({ usage: rows } = await api('GET', `/v1/admin/usage${query({ since })}`));
      draw();
    } catch (error) {
      fill(summary, failed(error));
      fill(area);
    }
  }

  function draw() {
    const days = perDay(rows, since, provider.value);
    const tenantTotal = days.reduce((a, [, d]) => a + d.tenant, 0);
    const platformTotal = days.reduce((a, [, d]) => a + d.platform, 0);
    fill(summary, t('admin.fleet.usageSummary', { tenant: tenantTotal, platform: platformTotal, days: days.length }),
      rows.length >= 10_000 ? ` ${t('admin.fleet.usageCut')}` : null);
    const series = [
      { name: t('admin.fleet.tenantKeys'), className: 'bar-tenant' },
      { name: t('admin.fleet.platformKey'), className: 'bar-platform' },
    ];
    const width = Math.max(300, Math.min(900, Math.floor(area.clientWidth || 640)));
    const chart = stackedBars({
      id: uid('chart'),
      title: t('admin.fleet.chartTitle', { provider: provider.value ? nameOf(provider.value) : t('admin.fleet.allProviders') }),
      description: t('admin.fleet.usageSummary', { tenant: tenantTotal, platform: platformTotal, days: days.length }),
      bars: days.map(([day, d]) => ({ label: dayLabel(day), values: [d.tenant, d.platform] })),
      series,
      width,
    });
    fill(area,
      chart,
      h('ul', { class: 'legend' }, series.map((x) => h('li', {}, h('span', { class: `swatch ${x.className}`, 'aria-hidden': 'true' }), x.name))),
      h('details', { class: 'numbers-table' },
        h('summary', {}, t('admin.fleet.asTable')),
        dataTable({
          caption: t('admin.fleet.tableCaption'),
          className: 'numbers',
          head: [t('admin.fleet.day'), t('admin.fleet.tenantKeys'), t('admin.fleet.platformKey')],
          rows: days.map(([day, d]) => row([h('time', { datetime: day }, dayLabel(day)), format(d.tenant), format(d.platform)])),
        })));
  }

  period.addEventListener('change', load);
  provider.addEventListener('change', draw);
  const element = [
    h('div', { class: 'toolbar' },
      h('div', { class: 'field narrow' }, h('label', { for: periodId }, t('admin.fleet.period')), period),
      h('div', { class: 'field narrow' }, h('label', { for: providerId }, t('admin.fleet.provider')), provider)),
    summary,
    area,
  ];
  return { element, load };
}

const section = (title, ...children) => {
  const id = uid('heading');
  return h('section', { class: 'panel', 'aria-labelledby': id }, h('h2', { id }, title), children);
};

async function main() {
  const started = await startConsole();
  if (!started) return;
  const { content } = started;
  let fleet;
  try {
    const [catalog, answer] = await Promise.all([api('GET', '/v1/admin/providers'), api('GET', '/v1/admin/fleet')]);
    for (const p of catalog.providers) names.set(p.key, p.name);
    fleet = answer;
  } catch (error) {
    showError(content, error);
    return;
  }
  const usage = usagePart([...names.keys()].sort((a, b) => nameOf(a).localeCompare(nameOf(b))));
  fill(content,
    lastRun(fleet.last_run),
    section(t('admin.fleet.countsHeading'), countsTable(fleet.providers)),
    section(t('admin.fleet.failingHeading'), failingPart(fleet.failing, fleet.failing_next)),
    section(t('admin.fleet.usageHeading'), usage.element));
  ready(content);
  await usage.load();
}

main();
