// Console → Keyring: each master key id, in the keyring or only in storage, and how many
// stored values it still seals; and Reseal, which re-seals every value under the primary key
// in passes (`POST /v1/admin/keyring/reseal`, each pass continuing from the last one's `next`)
// until none remains under an old key, with a progress bar and the counts.

import { api } from '../api.js';
import { fill, h, showMessage, uid } from '../dom.js';
import { t } from '../i18n.js';
import { showError } from '../session.js';
import { failed } from './http.js';
import { ready, startConsole } from './nav.js';
import { dataTable, row } from './table.js';

const BATCH = 100;
/** Full runs over the table before giving up on what stays under old keys. */
const MAX_RUNS = 3;

const sum = (map) => Object.values(map ?? {}).reduce((a, n) => a + n, 0);
const format = (n) => new Intl.NumberFormat(document.documentElement.lang || undefined).format(n);

function keysTable(report) {
  return dataTable({
    caption: t('admin.keyring.caption'),
    hiddenCaption: true,
    className: 'numbers',
    head: [t('admin.keyring.keyId'), t('admin.keyring.role'), t('admin.keyring.inKeyring'), t('admin.keyring.integrations'), t('admin.keyring.platformKeys')],
    rows: report.keys.map((k) => row([
      h('code', {}, k.id),
      k.primary ? t('admin.keyring.primary') : t('admin.keyring.old'),
      k.in_keyring ? t('admin.keyring.yes') : h('span', { class: 'badge tone-bad' }, t('admin.keyring.missing')),
      format(k.integrations),
      format(k.platform_keys),
    ])),
  });
}

async function main() {
  const started = await startConsole();
  if (!started) return;
  const { content } = started;
  let report;
  try {
    report = await api('GET', '/v1/admin/keyring');
  } catch (error) {
    showError(content, error);
    return;
  }

  const tableArea = h('div', {});
  const state = h('p', {});
  const progressId = uid('progress');
  const progress = h('progress', { id: progressId, max: 1, value: 0 });
  const progressField = h('div', { class: 'field progress-field', hidden: true },
    h('label', { for: progressId }, t('admin.keyring.progress')), progress);
  const counts = h('p', { class: 'count', role: 'status', 'aria-live': 'polite' });
  const result = h('div', { class: 'message', role: 'status', 'aria-live': 'polite', tabindex: '-1' });
  const unreadableArea = h('div', {});
  const start = h('button', { type: 'button' });
  const stop = h('button', { type: 'button', class: 'secondary', hidden: true }, t('admin.keyring.stop'));
  let stopping = false;

  function show(r) {
    report = r;
    fill(tableArea, keysTable(r));
    fill(state, r.remaining
      ? t('admin.keyring.remaining', { count: r.remaining, primary: r.primary })
      : t('admin.keyring.allPrimary', { primary: r.primary }));
    fill(start, t('admin.keyring.reseal', { primary: r.primary }));
    start.disabled = r.remaining === 0;
  }

  async function reseal() {
    stopping = false;
    start.disabled = true;
    stop.disabled = false;
    fill(stop, t('admin.keyring.stop'));
    stop.hidden = false;
    fill(result);
    result.className = 'message';
    fill(unreadableArea);
    const total = report.remaining;
    let done = 0;
    let left = total;
    let changed = 0;
    let unreadable = new Map();
    progress.max = Math.max(1, total);
    progress.value = 0;
    progressField.hidden = false;
    const say = () => {
      progress.max = Math.max(1, done + left);
      progress.value = done;
      fill(counts, t('admin.keyring.counts', { done, total: done + left, left }));
    };
    say();
    let after = null;
    let runs = 1;
    let movedThisRun = 0;
    try {
      while (!stopping) {
        const answer = await api('POST', '/v1/admin/keyring/reseal', after ? { batch: BATCH, after } : { batch: BATCH });
        const moved = answer.resealed + answer.platform_keys_resealed;
        done += moved;
        movedThisRun += moved;
        changed += answer.changed_meanwhile;
        left = sum(answer.remaining);
        for (const u of answer.unreadable) unreadable.set(`${u.tenant ?? ''}|${u.provider}`, u);
        say();
        if (left === 0) break;
        if (answer.next) {
          after = answer.next;
          continue;
        }
        // The end of the table with values still under old keys (changed meanwhile, or
        // unreadable): another run only while runs move something.
        if (movedThisRun === 0 || runs >= MAX_RUNS) break;
        runs += 1;
        movedThisRun = 0;
        after = null;
        unreadable = new Map();
      }
      if (left === 0) {
        showMessage(result, 'good', [t('admin.keyring.finished', { count: done, primary: report.primary })]);
      } else {
        showMessage(result, 'warn', [
          stopping ? t('admin.keyring.stopped', { count: left }) : t('admin.keyring.leftOver', { count: left }),
          changed ? t('admin.keyring.changed', { count: changed }) : null,
        ].filter(Boolean));
      }
    } catch (error) {
      showMessage(result, 'bad', [failed(error)]);
    }
    if (unreadable.size) {
      fill(unreadableArea, dataTable({
        caption: t('admin.keyring.unreadable', { count: unreadable.size }),
        head: [t('admin.keyring.tenant'), t('admin.keyring.provider'), t('admin.keyring.keyId')],
        rows: [...unreadable.values()].map((u) => row([u.tenant ?? t('admin.keyring.platform'), u.provider, h('code', {}, u.key_id)])),
      }));
    }
    stop.hidden = true;
    try {
      show(await api('GET', '/v1/admin/keyring'));
    } catch {
      start.disabled = false;
    }
    (start.disabled ? result : start).focus();
  }

  start.addEventListener('click', reseal);
  stop.addEventListener('click', () => {
    stopping = true;
    stop.disabled = true;
    fill(stop, t('admin.keyring.stopping'));
  });

  const headingId = uid('heading');
  fill(content,
    h('section', { class: 'panel', 'aria-labelledby': `${headingId}-keys` },
      h('h2', { id: `${headingId}-keys` }, t('admin.keyring.keysHeading')),
      tableArea),
    h('section', { class: 'panel', 'aria-labelledby': headingId },
      h('h2', { id: headingId }, t('admin.keyring.resealHeading')),
      state,
      h('p', { class: 'hint' }, t('admin.keyring.resealHint')),
      progressField,
      counts,
      h('div', { class: 'actions' }, start, stop),
      result,
      unreadableArea));
  show(report);
  ready(content);
}

main();
