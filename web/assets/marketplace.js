// Marketplace → Integrations: every active provider as a card, by category, with a search box
// and a category filter. Install opens a dialog: paste the key now (saved and tested at once)
// or "I'll add it later" (installed, disconnected).
//
// `?provider=KEY` opens that provider's install dialog once the catalog is loaded, or leads
// to its row in Settings when it is installed already.

import { api, ApiError } from './api.js';
import { credentialInputs } from './credential-form.js';
import { openDialog } from './dialog.js';
import { fill, h, named, showMessage, uid } from './dom.js';
import { emit } from './embed.js';
import { t } from './i18n.js';
import { session, showError } from './session.js';
import { afterSave, status } from './words.js';

const content = document.getElementById('content');
const notice = document.getElementById('notice');

/** provider key → IntegrationView of this workspace. */
const installed = new Map();
let providers = [];

/** The group of entries without a category (shown as "Other" in the reader's language). */
const OTHER = 'Other';

const categoryOf = (entry) => entry.category || OTHER;
const categoryName = (value) => (value === OTHER ? t('marketplace.other') : value);

function logo(entry, size = 40) {
  return h('img', { class: 'logo', src: entry.logo ?? '/assets/icon.svg', alt: '', width: size, height: size });
}

function steps(instructions) {
  const list = Array.isArray(instructions)
    ? instructions
    : String(instructions ?? '').split('\n').map((s) => s.trim()).filter(Boolean);
  return list.length ? h('ol', { class: 'steps' }, list.map((s) => h('li', {}, s))) : null;
}

function installDialog(entry) {
  const current = installed.get(entry.key);
  openDialog({
    title: current ? t('marketplace.connectName', { name: entry.name }) : t('marketplace.installName', { name: entry.name }),
    icon: logo(entry, 32),
    label: 'install',
    onClose() {
      render();
      return results.querySelector(`[data-provider="${CSS.escape(entry.key)}"] .card-foot :is(button, a)`);
    },
    build(body, close) {
      const form = credentialInputs(entry);
      const messageRegion = h('div', { class: 'message', role: 'status', 'aria-live': 'polite' });
      const errorRegion = h('div', { class: 'message', role: 'alert' });
      const save = h('button', { type: 'submit' }, t('marketplace.saveAndTest'));
      const later = installed.has(entry.key)
        ? null
        : h('button', { type: 'button', class: 'secondary', onclick: addLater }, t('marketplace.later'));
      const cancel = h('button', { type: 'button', class: 'secondary', onclick: close }, t('common.cancel'));
      const buttons = h('div', { class: 'actions' }, save, later, cancel);

      const busy = (on, text) => {
        for (const b of buttons.querySelectorAll('button')) b.disabled = on;
        save.textContent = on && text ? text : t('marketplace.saveAndTest');
      };
      const fail = (error) => {
        const text = error instanceof ApiError ? error.message : t('marketplace.failed');
        showMessage(errorRegion, 'bad', [text]);
      };

      async function submit(event) {
        event.preventDefault();
        fill(errorRegion);
        const { key, fields, expires_at: expiresAt } = form.read();
        if (!key) {
          showMessage(errorRegion, 'bad', [later
            ? t('form.pasteFirstOrLater', { label: form.mainLabel })
            : t('form.pasteFirst', { label: form.mainLabel })]);
          form.focusMain();
          return;
        }
        busy(true, t('marketplace.saving'));
        try {
          const installing = !installed.has(entry.key);
          const view = installing
            ? await api('POST', '/v1/integrations', { provider: entry.key, key, fields, expires_at: expiresAt })
            : await api('PUT', `/v1/integrations/${encodeURIComponent(entry.key)}/credential`, { key, fields, expires_at: expiresAt });
          installed.set(entry.key, view);
          form.clearSecrets();
          if (installing) emit('installed', { provider: entry.key });
          emit('saved', { provider: entry.key, status: view.status });
          const said = afterSave(view);
          showMessage(messageRegion, said.tone, said.lines);
          // The integration exists now: another key may be pasted, or the dialog closed.
          later?.remove();
          cancel.textContent = t('common.done');
        } catch (error) {
          fail(error);
        } finally {
          busy(false);
        }
      }

      async function addLater() {
        fill(errorRegion);
        busy(true);
        try {
          const view = await api('POST', '/v1/integrations', { provider: entry.key });
          installed.set(entry.key, view);
          emit('installed', { provider: entry.key });
          fill(notice, t('marketplace.installedLater', { name: entry.name, label: entry.credential_label ?? t('common.key') }));
          close();
        } catch (error) {
          fail(error);
          busy(false);
        }
      }

      const label = entry.credential_label ?? t('common.key');
      body.append(
        h('p', {}, t('marketplace.intro', { name: entry.name, label })),
        entry.help_url
          ? h('a', { class: 'help-link', href: entry.help_url, target: '_blank', rel: 'noopener noreferrer' },
            t('marketplace.whereToFind', { label }), h('span', { class: 'visually-hidden' }, ` ${t('common.newTab')}`))
          : null,
        steps(entry.help_instructions),
        h('form', { novalidate: true, onsubmit: submit }, form.element, errorRegion, messageRegion, buttons),
      );
    },
  });
}

function card(entry) {
  const view = installed.get(entry.key);
  const titleId = uid('provider');
  let action;
  if (!view) {
    action = h('button', { type: 'button', onclick: () => installDialog(entry) },
      named(t('marketplace.install'), t('marketplace.installName', { name: entry.name })));
  } else if (view.status === 'disconnected' || view.status === 'invalid') {
    action = h('button', { type: 'button', onclick: () => installDialog(entry) },
      named(t('marketplace.connect'), t('marketplace.connectName', { name: entry.name })));
  } else {
    action = h('a', { class: 'button secondary', href: `/settings/integrations?provider=${encodeURIComponent(entry.key)}` },
      named(t('marketplace.manage'), t('marketplace.manageName', { name: entry.name })));
  }
  const badge = view
    ? h('span', { class: `badge tone-${status(view.status).tone}` }, t('marketplace.installedBadge', { status: status(view.status).label }))
    : h('span', {});
  return h('li', { 'data-provider': entry.key },
    h('article', { class: 'card', 'aria-labelledby': titleId },
      h('div', { class: 'card-head' },
        logo(entry),
        h('div', {},
          h('h3', { id: titleId }, entry.name),
          h('p', { class: 'category-name' }, categoryName(categoryOf(entry))))),
      h('p', { class: 'description' }, entry.description ?? ''),
      h('div', { class: 'card-foot' }, badge, action)));
}

let search;
let category;
let results;
let count;

/** Categories in alphabetical order, with "Other" (entries without one) last. */
function byCategory(a, b) {
  return (a === OTHER) - (b === OTHER) || a.localeCompare(b);
}

function matches(entry, query, wanted) {
  if (wanted && categoryOf(entry) !== wanted) return false;
  if (!query) return true;
  const text = `${entry.name} ${entry.description ?? ''} ${categoryName(categoryOf(entry))} ${entry.key}`.toLowerCase();
  return query.toLowerCase().split(/\s+/).every((word) => text.includes(word));
}

/** Draws the cards that match the search and the category, grouped by category. */
function render() {
  if (!results) return;
  const query = search.value.trim();
  const wanted = category.value;
  const shown = providers.filter((p) => matches(p, query, wanted));
  const groups = new Map();
  for (const entry of shown) {
    const value = categoryOf(entry);
    if (!groups.has(value)) groups.set(value, []);
    groups.get(value).push(entry);
  }
  fill(results, [...groups.entries()].sort(([a], [b]) => byCategory(a, b)).map(([value, entries]) => {
    const headingId = uid('category');
    return h('section', { class: 'category', 'aria-labelledby': headingId },
      h('h2', { id: headingId }, categoryName(value)),
      h('ul', { class: 'cards' }, entries.map(card)));
  }));
  fill(count, shown.length === 0
    ? (query ? t('marketplace.noMatch', { query }) : t('marketplace.noneInCategory'))
    : t('marketplace.count', { count: shown.length }));
}

/** `?provider=KEY`: its install dialog, its row in Settings once installed, or a notice. */
function followLink() {
  const wanted = new URLSearchParams(location.search).get('provider');
  if (!wanted) return;
  const entry = providers.find((p) => p.key === wanted);
  if (!entry) {
    fill(notice, t('marketplace.unknownProvider', { provider: wanted }));
  } else if (installed.has(entry.key)) {
    location.replace(`/settings/integrations?provider=${encodeURIComponent(entry.key)}`);
  } else {
    installDialog(entry);
  }
}

async function main() {
  const me = await session(content);
  if (!me) return;
  try {
    const [catalog, mine] = await Promise.all([api('GET', '/v1/providers'), api('GET', '/v1/integrations')]);
    providers = [...catalog.providers].sort((a, b) => a.name.localeCompare(b.name));
    for (const view of mine.integrations) installed.set(view.provider, view);
  } catch (error) {
    showError(content, error);
    return;
  }
  const categories = [...new Set(providers.map(categoryOf))].sort(byCategory);
  search = h('input', {
    id: 'search', type: 'search', autocomplete: 'off', placeholder: t('marketplace.searchPlaceholder'), oninput: render,
  });
  category = h('select', { id: 'category', onchange: render },
    h('option', { value: '' }, t('marketplace.allCategories')),
    categories.map((c) => h('option', { value: c }, categoryName(c))));
  count = h('p', { class: 'count', role: 'status', 'aria-live': 'polite' });
  results = h('div', {});
  fill(content,
    h('div', { class: 'toolbar', role: 'search' },
      h('div', { class: 'field' }, h('label', { for: 'search' }, t('marketplace.search')), search),
      h('div', { class: 'field narrow' }, h('label', { for: 'category' }, t('marketplace.category')), category)),
    count,
    results);
  content.removeAttribute('aria-busy');
  render();
  followLink();
}

main();
