// Marketplace → Integrations: every active provider as a card, by category, with a search box
// and a category filter. Install opens a dialog: paste the key now (saved and tested at once)
// or "I'll add it later" (installed, disconnected).

import { api, ApiError } from './api.js';
import { credentialInputs } from './credential-form.js';
import { openDialog } from './dialog.js';
import { fill, h, showMessage, uid } from './dom.js';
import { session, showError } from './session.js';
import { afterSave, status } from './words.js';

const content = document.getElementById('content');
const notice = document.getElementById('notice');

/** provider key → IntegrationView of this workspace. */
const installed = new Map();
let providers = [];

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
    title: current ? `Connect ${entry.name}` : `Install ${entry.name}`,
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
      const save = h('button', { type: 'submit' }, 'Save and test');
      const later = installed.has(entry.key)
        ? null
        : h('button', { type: 'button', class: 'secondary', onclick: addLater }, 'I\'ll add it later');
      const cancel = h('button', { type: 'button', class: 'secondary', onclick: close }, 'Cancel');
      const buttons = h('div', { class: 'actions' }, save, later, cancel);

      const busy = (on, text) => {
        for (const b of buttons.querySelectorAll('button')) b.disabled = on;
        save.textContent = on && text ? text : 'Save and test';
      };
      const fail = (error) => {
        const text = error instanceof ApiError ? error.message : 'Something went wrong. Nothing was saved.';
        showMessage(errorRegion, 'bad', [text]);
      };

      async function submit(event) {
        event.preventDefault();
        fill(errorRegion);
        const { key, fields, expires_at: expiresAt } = form.read();
        if (!key) {
          showMessage(errorRegion, 'bad', [`Paste your ${form.mainLabel} first${later ? ', or choose “I\'ll add it later”' : ''}.`]);
          form.focusMain();
          return;
        }
        busy(true, 'Saving and testing…');
        try {
          const view = installed.has(entry.key)
            ? await api('PUT', `/v1/integrations/${encodeURIComponent(entry.key)}/credential`, { key, fields, expires_at: expiresAt })
            : await api('POST', '/v1/integrations', { provider: entry.key, key, fields, expires_at: expiresAt });
          installed.set(entry.key, view);
          form.clearSecrets();
          const said = afterSave(view);
          showMessage(messageRegion, said.tone, said.lines);
          // The integration exists now: another key may be pasted, or the dialog closed.
          later?.remove();
          cancel.textContent = 'Done';
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
          fill(notice, `${entry.name} is installed but not connected yet. Add its ${entry.credential_label ?? 'key'} any time in Settings → Integrations.`);
          close();
        } catch (error) {
          fail(error);
          busy(false);
        }
      }

      const label = entry.credential_label ?? 'key';
      body.append(
        h('p', {}, `Connect ${entry.name} with your own ${label}. It is encrypted before it is stored and tested right away.`),
        entry.help_url
          ? h('a', { class: 'help-link', href: entry.help_url, target: '_blank', rel: 'noopener noreferrer' },
            `Where to find your ${label}`, h('span', { class: 'visually-hidden' }, ' (opens in a new tab)'))
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
      'Install', h('span', { class: 'visually-hidden' }, ` ${entry.name}`));
  } else if (view.status === 'disconnected' || view.status === 'invalid') {
    action = h('button', { type: 'button', onclick: () => installDialog(entry) },
      'Connect', h('span', { class: 'visually-hidden' }, ` ${entry.name}`));
  } else {
    action = h('a', { class: 'button secondary', href: '/settings/integrations' },
      'Manage', h('span', { class: 'visually-hidden' }, ` ${entry.name} in Settings`));
  }
  const badge = view
    ? h('span', { class: `badge tone-${status(view.status).tone}` }, `Installed · ${status(view.status).label}`)
    : h('span', {});
  return h('li', { 'data-provider': entry.key },
    h('article', { class: 'card', 'aria-labelledby': titleId },
      h('div', { class: 'card-head' },
        logo(entry),
        h('div', {},
          h('h3', { id: titleId }, entry.name),
          h('p', { class: 'category-name' }, entry.category || 'Other'))),
      h('p', { class: 'description' }, entry.description ?? ''),
      h('div', { class: 'card-foot' }, badge, action)));
}

let search;
let category;
let results;
let count;

/** Categories in alphabetical order, with "Other" (entries without one) last. */
function byCategory(a, b) {
  return (a === 'Other') - (b === 'Other') || a.localeCompare(b);
}

function matches(entry, query, wanted) {
  if (wanted && (entry.category || 'Other') !== wanted) return false;
  if (!query) return true;
  const text = `${entry.name} ${entry.description ?? ''} ${entry.category || ''} ${entry.key}`.toLowerCase();
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
    const name = entry.category || 'Other';
    if (!groups.has(name)) groups.set(name, []);
    groups.get(name).push(entry);
  }
  fill(results, [...groups.entries()].sort(([a], [b]) => byCategory(a, b)).map(([name, entries]) => {
    const headingId = uid('category');
    return h('section', { class: 'category', 'aria-labelledby': headingId },
      h('h2', { id: headingId }, name),
      h('ul', { class: 'cards' }, entries.map(card)));
  }));
  fill(count, shown.length === 0
    ? (query ? `No provider matches “${query}”.` : 'No provider in this category.')
    : `${shown.length} ${shown.length === 1 ? 'provider' : 'providers'}`);
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
  const categories = [...new Set(providers.map((p) => p.category || 'Other'))].sort(byCategory);
  search = h('input', { id: 'search', type: 'search', autocomplete: 'off', placeholder: 'Name, category or description', oninput: render });
  category = h('select', { id: 'category', onchange: render },
    h('option', { value: '' }, 'All categories'),
    categories.map((c) => h('option', { value: c }, c)));
  count = h('p', { class: 'count', role: 'status', 'aria-live': 'polite' });
  results = h('div', {});
  fill(content,
    h('div', { class: 'toolbar', role: 'search' },
      h('div', { class: 'field' }, h('label', { for: 'search' }, 'Search providers'), search),
      h('div', { class: 'field narrow' }, h('label', { for: 'category' }, 'Category'), category)),
    count,
    results);
  content.removeAttribute('aria-busy');
  render();
}

main();
