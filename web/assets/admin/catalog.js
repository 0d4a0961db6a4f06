// Console → Catalog: every entry, active and retired, with a search box and a state filter;
// Edit, Retire (after confirming) and Restore per entry; New entry. Editing shows the editor
// beside a live preview of the entry's Marketplace card and install dialog, and the logo.
//
// `?entry=KEY` opens that entry's editor; `?entry=` (empty) a new one.

import { api } from '../api.js';
import { logo } from '../card.js';
import { confirmDialog } from '../dialog.js';
import { fill, h, named, showMessage } from '../dom.js';
import { t } from '../i18n.js';
import { showError } from '../session.js';
import { entryEditor } from './editor.js';
import { failed, seg } from './http.js';
import { logoPanel } from './logo.js';
import { ready, startConsole } from './nav.js';
import { debounce, entryPreview } from './preview.js';
import { dataTable, row } from './table.js';

let content;
let notice;
/** Entries of `GET /v1/admin/providers`, by name. */
let entries = [];
/** The list's controls, kept across redraws. */
let search;
let state;
let count;
let results;

async function load() {
  const { providers } = await api('GET', '/v1/admin/providers');
  entries = [...providers].sort((a, b) => a.name.localeCompare(b.name));
}

function matches(entry, query, wanted) {
  if (wanted === 'active' && !entry.active) return false;
  if (wanted === 'retired' && entry.active) return false;
  if (!query) return true;
  const text = `${entry.name} ${entry.key} ${entry.category ?? ''} ${entry.description ?? ''}`.toLowerCase();
  return query.toLowerCase().split(/\s+/).every((word) => text.includes(word));
}

/** One entry's row: name and key, category, state, platform key, and its actions. */
function entryRow(entry) {
  const actions = h('div', { class: 'row-actions' },
    h('button', { type: 'button', class: 'secondary compact', 'data-action': 'edit', onclick: () => edit(entry) },
      named(t('admin.catalog.edit'), t('admin.catalog.editName', { name: entry.name }))),
    entry.active
      ? h('button', { type: 'button', class: 'danger compact', 'data-action': 'retire', onclick: () => retire(entry) },
        named(t('admin.catalog.retire'), t('admin.catalog.retireName', { name: entry.name })))
      : h('button', { type: 'button', class: 'compact', 'data-action': 'restore', onclick: () => restore(entry) },
        named(t('admin.catalog.restore'), t('admin.catalog.restoreName', { name: entry.name }))));
  return row([
    h('span', { class: 'entry-name' }, logo(entry, 24), h('span', {}, entry.name, h('br'), h('code', {}, entry.key))),
    entry.category ?? t('marketplace.other'),
    h('span', { class: `badge tone-${entry.active ? 'good' : 'neutral'}` }, entry.active ? t('admin.catalog.active') : t('admin.catalog.retired')),
    entry.platform_key ? h('code', {}, entry.platform_key.masked) : t('admin.catalog.noPlatformKey'),
    actions,
  ], { 'data-key': entry.key });
}

function renderList() {
  const query = search.value.trim();
  const shown = entries.filter((e) => matches(e, query, state.value));
  fill(results, shown.length
    ? dataTable({
      caption: t('admin.catalog.caption'),
      hiddenCaption: true,
      head: [t('admin.catalog.colEntry'), t('admin.catalog.colCategory'), t('admin.catalog.colState'), t('admin.catalog.colPlatformKey'), t('admin.catalog.colActions')],
      rows: shown.map(entryRow),
    })
    : null);
  fill(count, shown.length === 0
    ? (query ? t('admin.catalog.noMatch', { query }) : t('admin.catalog.none'))
    : t('admin.catalog.count', { count: shown.length }));
}

/** The list, with the focus on `focusKey`'s `action` button when given. */
function showList(focusKey, action) {
  history.replaceState(null, '', location.pathname);
  fill(content,
    h('div', { class: 'toolbar', role: 'search' },
      h('div', { class: 'field' }, h('label', { for: 'search' }, t('admin.catalog.search')), search),
      h('div', { class: 'field narrow' }, h('label', { for: 'state' }, t('admin.catalog.state')), state),
      h('button', { type: 'button', onclick: () => edit(null) }, t('admin.catalog.new'))),
    count,
    results);
  renderList();
  if (focusKey) {
    const button = results.querySelector(`tr[data-key="${CSS.escape(focusKey)}"] button[data-action="${action}"]`);
    (button ?? search).focus();
  }
}

async function retire(entry) {
  const sure = await confirmDialog({
    title: t('admin.catalog.retireTitle', { name: entry.name }),
    text: t('admin.catalog.retireText', { name: entry.name }),
    confirm: t('admin.catalog.retireName', { name: entry.name }),
    danger: true,
  });
  if (!sure) return;
  await change(entry, 'DELETE', `/v1/admin/providers/${seg(entry.key)}`, t('admin.catalog.retiredNotice', { name: entry.name }), 'restore');
}

async function restore(entry) {
  await change(entry, 'POST', `/v1/admin/providers/${seg(entry.key)}/restore`, t('admin.catalog.restoredNotice', { name: entry.name }), 'retire');
}

/** Retire or restore, then the list again with the focus on the entry's new action. */
async function change(entry, method, path, said, next) {
  try {
    await api(method, path);
    await load();
    showMessage(notice, 'good', [said]);
    showList(entry.key, next);
  } catch (error) {
    showMessage(notice, 'bad', [failed(error)]);
  }
}

/** The editor for `entry` (null: a new one), beside its live preview. */
function edit(entry) {
  fill(notice);
  notice.className = 'notice';
  history.replaceState(null, '', `${location.pathname}?entry=${seg(entry?.key ?? '')}`);
  const headingId = 'editor-heading';
  const heading = h('h2', { id: headingId, tabindex: '-1' },
    entry ? t('admin.editor.editHeading', { name: entry.name }) : t('admin.editor.newHeading'));
  const preview = entryPreview();
  const refresh = debounce(() => preview.update(editor.draft()));
  const editor = entryEditor(entry, { onChange: refresh, onSubmit: save });
  const logoPart = logoPanel({
    key: () => editor.key,
    logoUrl: entry?.logo,
    onUploaded(stored) {
      editor.setLogo(stored.logo);
      remember(stored);
      preview.update(editor.draft());
    },
  });
  logoPart.setEnabled(!editor.isNew);

  async function save() {
    editor.clear();
    const { body, errors } = editor.read();
    if (errors.length) {
      editor.showErrors(errors);
      return;
    }
    editor.saving(true);
    try {
      const wasNew = editor.isNew;
      const stored = await api('PUT', `/v1/admin/providers/${seg(editor.key)}`, body);
      editor.markSaved(stored);
      remember(stored);
      logoPart.setEnabled(true);
      fill(heading, t('admin.editor.editHeading', { name: stored.name }));
      history.replaceState(null, '', `${location.pathname}?entry=${seg(stored.key)}`);
      showMessage(editor.status, 'good', [wasNew ? t('admin.editor.created', { name: stored.name }) : t('admin.editor.saved', { name: stored.name })]);
      preview.update(editor.draft());
    } catch (error) {
      editor.showProblem(error);
    } finally {
      editor.saving(false);
    }
  }

  fill(content,
    h('section', { class: 'editor-view', 'aria-labelledby': headingId },
      h('div', { class: 'editor-top' },
        heading,
        h('button', { type: 'button', class: 'secondary', onclick: () => showList(entry?.key ?? editor.key, 'edit') }, t('admin.editor.back'))),
      h('div', { class: 'editor-layout' },
        h('div', { class: 'editor-main' }, editor.element, logoPart.element),
        preview.element)));
  preview.update(editor.draft());
  heading.focus();
}

/** Keeps the list in step with a stored entry (active after a save). */
function remember(stored) {
  const at = entries.findIndex((e) => e.key === stored.key);
  const merged = { ...(at >= 0 ? entries[at] : {}), ...stored, active: true };
  if (at >= 0) entries[at] = merged;
  else entries.push(merged);
  entries.sort((a, b) => a.name.localeCompare(b.name));
}

async function main() {
  const started = await startConsole();
  if (!started) return;
  ({ content, notice } = started);
  try {
    await load();
  } catch (error) {
    showError(content, error);
    return;
  }
  search = h('input', { id: 'search', type: 'search', autocomplete: 'off', placeholder: t('admin.catalog.searchPlaceholder'), oninput: renderList });
  state = h('select', { id: 'state', onchange: renderList },
    h('option', { value: '' }, t('admin.catalog.all')),
    h('option', { value: 'active' }, t('admin.catalog.active')),
    h('option', { value: 'retired' }, t('admin.catalog.retired')));
  count = h('p', { class: 'count', role: 'status', 'aria-live': 'polite' });
  results = h('div', {});
  ready(content);
  const wanted = new URLSearchParams(location.search).get('entry');
  if (wanted === null) {
    showList();
  } else if (wanted === '') {
    edit(null);
  } else {
    const entry = entries.find((e) => e.key === wanted);
    if (entry) edit(entry);
    else {
      showList();
      showMessage(notice, 'warn', [t('admin.catalog.unknown', { key: wanted })]);
    }
  }
}

main();
