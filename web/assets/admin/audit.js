// Console → Audit: the whole audit log searched by tenant, provider, action, actor and time
// (`GET /v1/admin/audit`), newest first, with Older for the next page (`before`) and Export
// CSV, a link to the same search as a file. Times are entered in the reader's time zone and
// sent as RFC 3339 UTC.

import { api, ApiError } from '../api.js';
import { fill, h, uid, when } from '../dom.js';
import { t } from '../i18n.js';
import { failed, query } from './http.js';
import { ready, startConsole } from './nav.js';
import { bodyOf, dataTable, row } from './table.js';

const TEXT_FILTERS = ['tenant', 'provider', 'action', 'actor'];
const TIME_FILTERS = ['since', 'until'];

/** A datetime-local value (the reader's time zone) as RFC 3339 UTC, or '' for none. */
export function utc(local) {
  if (!local) return '';
  const date = new Date(local);
  return Number.isNaN(date.getTime()) ? '' : date.toISOString();
}

function label(name) {
  switch (name) {
    case 'tenant': return t('admin.audit.tenant');
    case 'provider': return t('admin.audit.provider');
    case 'action': return t('admin.audit.action');
    case 'actor': return t('admin.audit.actor');
    case 'since': return t('admin.audit.since');
    default: return t('admin.audit.until');
  }
}

function entryRow(e) {
  return row([when(e.at), e.actor, e.tenant ?? '', e.provider ?? '', h('code', {}, e.action), e.outcome]);
}

async function main() {
  const started = await startConsole();
  if (!started) return;
  const { content } = started;
  const params = new URLSearchParams(location.search);

  /** name → {input, holder} */
  const inputs = new Map();
  const field = (name) => {
    const id = uid(`audit-${name}`);
    const input = TIME_FILTERS.includes(name)
      ? h('input', { id, name, type: 'datetime-local', step: 1 })
      : h('input', { id, name, type: 'text', autocomplete: 'off', spellcheck: 'false', value: params.get(name) ?? '' });
    const holder = h('div', { class: 'field' }, h('label', { for: id }, label(name)), input);
    inputs.set(name, { input, holder });
    return holder;
  };
  const hintId = uid('hint');
  const search = h('button', { type: 'submit' }, t('admin.audit.search'));
  const clear = h('button', { type: 'button', class: 'secondary' }, t('admin.audit.clear'));
  const csv = h('a', { class: 'button secondary', href: '/v1/admin/audit?format=csv', download: true }, t('admin.audit.export'));
  const form = h('form', { class: 'filters', role: 'search', 'aria-describedby': hintId, novalidate: true },
    h('div', { class: 'filter-grid' }, [...TEXT_FILTERS, ...TIME_FILTERS].map(field)),
    h('p', { class: 'hint', id: hintId }, t('admin.audit.hint')),
    h('div', { class: 'actions' }, search, clear, csv));
  const count = h('p', { class: 'count', role: 'status', 'aria-live': 'polite' });
  const results = h('div', {});
  const older = h('button', { type: 'button', class: 'secondary', hidden: true }, t('admin.audit.older'));
  let filters = {};
  let next = null;
  let shown = 0;

  /** The filters as the API takes them. */
  function read() {
    const out = {};
    for (const name of TEXT_FILTERS) out[name] = inputs.get(name).input.value.trim();
    for (const name of TIME_FILTERS) out[name] = utc(inputs.get(name).input.value);
    return out;
  }

  function clearErrors() {
    for (const { input, holder } of inputs.values()) {
      input.removeAttribute('aria-invalid');
      input.removeAttribute('aria-describedby');
      holder.querySelector('.field-error')?.remove();
    }
  }

  /** A refused search: each error beside its filter; the first one focused. */
  function showErrors(error) {
    const errors = error instanceof ApiError && Array.isArray(error.problem?.errors) ? error.problem.errors : [];
    let first = null;
    const others = [];
    for (const e of errors) {
      const found = inputs.get(e.field);
      if (!found) {
        others.push(`${e.field}: ${e.message}`);
        continue;
      }
      const id = uid('error');
      found.input.setAttribute('aria-invalid', 'true');
      found.input.setAttribute('aria-describedby', id);
      found.holder.append(h('p', { class: 'field-error', id }, `${label(e.field)}: ${e.message}`));
      first ??= found.input;
    }
    fill(count, [failed(error), ...others].join(' '));
    first?.focus();
  }

  async function run(event) {
    event?.preventDefault();
    clearErrors();
    filters = read();
    csv.href = `/v1/admin/audit${query({ ...filters, format: 'csv' })}`;
    history.replaceState(null, '', `${location.pathname}${query(Object.fromEntries(TEXT_FILTERS.map((n) => [n, filters[n]])))}`);
    search.disabled = true;
    fill(count, t('common.loading'));
    try {
      const answer = await api('GET', `/v1/admin/audit${query(filters)}`);
      shown = answer.entries.length;
      next = answer.next_before ?? null;
      fill(results, shown
        ? dataTable({
          caption: t('admin.audit.caption'),
          hiddenCaption: true,
          head: [t('admin.audit.at'), t('admin.audit.actor'), t('admin.audit.tenant'), t('admin.audit.provider'), t('admin.audit.action'), t('admin.audit.outcome')],
          rows: answer.entries.map(entryRow),
        })
        : null);
      older.hidden = !next;
      fill(count, shown ? t('admin.audit.count', { count: shown }) : t('admin.audit.empty'));
    } catch (error) {
      fill(results);
      older.hidden = true;
      showErrors(error);
    } finally {
      search.disabled = false;
    }
  }

  older.addEventListener('click', async () => {
    if (!next) return;
    older.disabled = true;
    try {
      const answer = await api('GET', `/v1/admin/audit${query({ ...filters, before: next })}`);
      const rows = answer.entries.map(entryRow);
      const table = results.querySelector('.table-wrap');
      if (table) bodyOf(table).append(...rows);
      shown += rows.length;
      next = answer.next_before ?? null;
      fill(count, t('admin.audit.count', { count: shown }));
      if (!next) {
        older.hidden = true;
        rows[0]?.querySelector('th')?.setAttribute('tabindex', '-1');
        rows[0]?.querySelector('th')?.focus();
      }
    } catch (error) {
      fill(count, failed(error));
    } finally {
      older.disabled = false;
    }
  });

  form.addEventListener('submit', run);
  clear.addEventListener('click', () => {
    for (const { input } of inputs.values()) input.value = '';
    run();
  });

  fill(content, form, count, results, h('div', { class: 'actions' }, older));
  ready(content);
  await run();
}

main();
