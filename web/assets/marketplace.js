// Marketplace → Integrations: every active provider as a card, by category, with a search box
// and a category filter. Install opens a dialog: paste the key now (saved and tested at once)
// or "I'll add it later" (installed, disconnected).
//
// `?provider=KEY` opens that provider's install dialog once the catalog is loaded, or leads
// to its row in Settings when it is installed already.

import { api } from './api.js';
import { categoryName, categoryOf, installBody, installTitle, logo, OTHER, providerCard } from './card.js';
import { openDialog } from './dialog.js';
import { fill, h, uid } from './dom.js';
import { emit } from './embed.js';
import { t } from './i18n.js';
import { session, showError } from './session.js';
import { afterSave } from './words.js';

const content = document.getElementById('content');
const notice = document.getElementById('notice');

/** provider key → IntegrationView of this workspace. */
const installed = new Map();
let providers = [];

function installDialog(entry) {
  openDialog({
    title: installTitle(entry, installed.has(entry.key)),
    icon: logo(entry, 32),
    label: 'install',
    onClose() {
      render();
      return results.querySelector(`[data-provider="${CSS.escape(entry.key)}"] .card-foot :is(button, a)`);
    },
    build(body, close) {
      installBody(body, entry, {
        installed: installed.has(entry.key),
        close,
        async save({ key, fields, expires_at: expiresAt }) {
          const installing = !installed.has(entry.key);
          const view = installing
            ? await api('POST', '/v1/integrations', { provider: entry.key, key, fields, expires_at: expiresAt })
            : await api('PUT', `/v1/integrations/${encodeURIComponent(entry.key)}/credential`, { key, fields, expires_at: expiresAt });
          installed.set(entry.key, view);
          if (installing) emit('installed', { provider: entry.key });
          emit('saved', { provider: entry.key, status: view.status });
          return afterSave(view);
        },
        async later() {
          const view = await api('POST', '/v1/integrations', { provider: entry.key });
          installed.set(entry.key, view);
          emit('installed', { provider: entry.key });
          fill(notice, t('marketplace.installedLater', { name: entry.name, label: entry.credential_label ?? t('common.key') }));
        },
      });
    },
  });
}

function card(entry) {
  return providerCard(entry, { view: installed.get(entry.key), open: installDialog });
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
