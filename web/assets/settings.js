// Settings → Integrations: each installed provider with its status, the saved key (masked),
// Save and Test, the last test, and Uninstall for owners. A provider added with "I'll add it
// later" is connected here by pasting its key and saving.

import { api, ApiError } from './api.js';
import { credentialInputs } from './credential-form.js';
import { confirmDialog } from './dialog.js';
import { fill, h, showMessage, uid, when } from './dom.js';
import { session, showError } from './session.js';
import { afterSave, eventLine, expiryLine, outcome, pendingLines, status, usageLine } from './words.js';

const content = document.getElementById('content');
const notice = document.getElementById('notice');
let me;
/** provider key → catalog entry (active entries; a retired one falls back to one key field). */
const entries = new Map();
let list;

function lastTest(view) {
  if (!view.last_test) {
    return h('p', { class: 'last-test' }, view.status === 'disconnected' ? 'No key saved yet.' : 'Not tested yet.');
  }
  const said = outcome(view.last_test);
  return h('p', { class: 'last-test' }, 'Last tested ', when(view.last_test.tested_at), `: ${said.lines.join(' ')}`);
}

/** When the key last served an AI function and when a test last concluded, in words. */
function usage(view) {
  const line = usageLine(view);
  return line ? h('p', { class: 'usage' }, line) : null;
}

/** When the key expires, if it does: warned in its last 14 days, and once it has lapsed. */
function expiry(view) {
  const said = expiryLine(view.expires_at);
  return said ? h('p', { class: `expiry tone-${said.tone}` }, said.text) : null;
}

/** The integration's status changes, newest first, loaded when the reader opens them. */
function history(view) {
  const items = h('ol', { class: 'history' });
  const details = h('details', { class: 'history' }, h('summary', {}, 'History'), items);
  let loaded = false;
  details.addEventListener('toggle', async () => {
    if (!details.open || loaded) return;
    loaded = true;
    fill(items, h('li', {}, 'Loading…'));
    try {
      const { events } = await api('GET', `/v1/integrations/${encodeURIComponent(view.provider)}/events`);
      fill(items, events.length
        ? events.map((e) => h('li', {}, eventLine(e)))
        : h('li', {}, 'No changes yet.'));
    } catch (error) {
      loaded = false;
      fill(items, h('li', {}, error instanceof ApiError ? error.message : 'The history could not be loaded.'));
    }
  });
  return details;
}

/**
 * A new key waiting beside the working one: its state in words and, once its test could not
 * conclude, the user's choice (use it anyway, or discard it).
 */
function pendingPanel(view, choose) {
  const { pending } = view;
  if (!pending) return null;
  const lines = pendingLines(pending).map((line) => h('p', {}, line));
  const actions = pending.state === 'inconclusive'
    ? h('div', { class: 'actions' },
      h('button', { type: 'button', onclick: () => choose('switch') }, 'Use the new key anyway'),
      h('button', { type: 'button', class: 'secondary', onclick: () => choose('discard') }, 'Discard the new key'))
    : null;
  return h('div', { class: 'pending message tone-warn', role: 'group', 'aria-label': 'New key waiting' }, ...lines, actions);
}

/** One installed provider; `said` is a message to show in its card after a re-render. */
function integrationCard(view, said) {
  const entry = entries.get(view.provider) ?? { key: view.provider, name: view.name, credential_label: 'API key' };
  const headingId = uid('integration');
  const form = credentialInputs(entry, view);
  const messageRegion = h('div', { class: 'message', role: 'status', 'aria-live': 'polite' });
  const errorRegion = h('div', { class: 'message', role: 'alert' });
  const badge = status(view.status);
  const save = h('button', { type: 'submit' }, 'Save', h('span', { class: 'visually-hidden' }, ` ${view.name} key`));
  const test = h('button', {
    type: 'button',
    class: 'secondary',
    disabled: view.status === 'disconnected',
    title: view.status === 'disconnected' ? 'Save a key first' : null,
    onclick: runTest,
  }, 'Test', h('span', { class: 'visually-hidden' }, ` ${view.name} connection`));
  const uninstall = me.role === 'owner'
    ? h('button', { type: 'button', class: 'danger uninstall', onclick: remove },
      'Uninstall', h('span', { class: 'visually-hidden' }, ` ${view.name}`))
    : null;
  const section = h('section', { class: 'integration', 'aria-labelledby': headingId, 'data-provider': view.provider },
    h('div', { class: 'integration-head' },
      h('img', { class: 'logo', src: view.logo ?? '/assets/icon.svg', alt: '', width: 40, height: 40 }),
      h('h2', { id: headingId }, view.name),
      h('span', { class: `badge tone-${badge.tone}` }, h('span', { class: 'visually-hidden' }, 'Status: '), badge.label)),
    h('form', { novalidate: true, onsubmit: submit },
      form.element,
      h('div', { class: 'actions' }, save, test, uninstall)),
    pendingPanel(view, choose),
    lastTest(view),
    expiry(view),
    usage(view),
    history(view),
    errorRegion,
    messageRegion);
  if (said) showMessage(messageRegion, said.tone, said.lines);

  const buttons = () => section.querySelectorAll('button');
  const busy = (on) => { for (const b of buttons()) b.disabled = on || (b === test && view.status === 'disconnected'); };
  const fail = (error) => {
    showMessage(errorRegion, 'bad', [error instanceof ApiError ? error.message : 'Something went wrong; nothing was changed.']);
  };
  /** Replaces this card with a fresh one for `next`, keeping keyboard focus in place. */
  const replace = (next, message, focusOn) => {
    const card = integrationCard(next, message);
    section.replaceWith(card);
    card.querySelector(focusOn)?.focus();
  };

  async function submit(event) {
    event.preventDefault();
    fill(errorRegion);
    const { key, fields, expires_at: expiresAt } = form.read();
    if (!key) {
      showMessage(errorRegion, 'bad', [`Paste your ${form.mainLabel} first.`]);
      form.focusMain();
      return;
    }
    busy(true);
    // Over a working key, the new one is tested first and the working one keeps serving.
    showMessage(messageRegion, 'neutral', [view.status === 'connected'
      ? 'Testing the new key… your current key stays in use.'
      : 'Saving and testing the key…']);
    try {
      const next = await api('PUT', `/v1/integrations/${encodeURIComponent(view.provider)}/credential`, { key, fields, expires_at: expiresAt });
      const unchanged = next.updated_at === view.updated_at && !next.pending
        && next.key_version === view.key_version && next.expires_at === view.expires_at;
      const message = next.pending
        ? { tone: 'warn', lines: pendingLines(next.pending) }
        : unchanged
          ? { tone: 'neutral', lines: ['Nothing changed: the saved key was kept.'] }
          : next.key_version !== view.key_version && view.status === 'connected'
            ? { ...afterSave(next), lines: ['The new key passed its test and replaced the old one.', ...afterSave(next).lines] }
            : afterSave(next);
      replace(next, message, 'button[type="submit"]');
    } catch (error) {
      fill(messageRegion);
      busy(false);
      fail(error);
    }
  }

  /** The user's choice about a waiting key: `switch` to it anyway, or `discard` it. */
  async function choose(what) {
    fill(errorRegion);
    busy(true);
    const path = `/v1/integrations/${encodeURIComponent(view.provider)}/pending`;
    try {
      const next = what === 'switch'
        ? await api('POST', `${path}/switch`, { version: view.pending.version })
        : await api('DELETE', `${path}?version=${view.pending.version}`);
      const message = what === 'switch'
        ? { tone: outcome(next.last_test ?? { verdict: 'no-test' }).tone,
          lines: ['Switched to the new key, without a conclusive test.', ...(next.last_test ? outcome(next.last_test).lines : [])] }
        : { tone: 'neutral', lines: ['The new key was discarded; your current key stays in use.'] };
      replace(next, message, 'button[type="submit"]');
    } catch (error) {
      busy(false);
      fail(error);
    }
  }

  async function runTest() {
    fill(errorRegion);
    busy(true);
    try {
      const next = await api('POST', `/v1/integrations/${encodeURIComponent(view.provider)}/test`);
      replace(next, outcome(next.last_test), 'button.secondary');
    } catch (error) {
      busy(false);
      fail(error);
    }
  }

  async function remove() {
    const yes = await confirmDialog({
      title: `Uninstall ${view.name}?`,
      text: `The saved ${entry.credential_label ?? 'key'} is deleted. Features that use ${view.name} stop working for your workspace until it is installed again.`,
      confirm: `Uninstall ${view.name}`,
      danger: true,
    });
    if (!yes) return;
    busy(true);
    try {
      await api('DELETE', `/v1/integrations/${encodeURIComponent(view.provider)}`);
      section.remove();
      fill(notice, `${view.name} was uninstalled and its key deleted.`);
      if (!list.querySelector('.integration')) fill(list, empty());
      document.getElementById('main').focus();
    } catch (error) {
      busy(false);
      fail(error);
    }
  }

  return section;
}

function empty() {
  return h('div', { class: 'empty' },
    h('p', {}, 'No integrations are installed yet.'),
    h('a', { class: 'button', href: '/marketplace/integrations' }, 'Browse the Marketplace'));
}

async function main() {
  me = await session(content);
  if (!me) return;
  let mine;
  try {
    const [catalog, installed] = await Promise.all([api('GET', '/v1/providers'), api('GET', '/v1/integrations')]);
    for (const entry of catalog.providers) entries.set(entry.key, entry);
    mine = installed.integrations;
  } catch (error) {
    showError(content, error);
    return;
  }
  list = h('div', { class: 'integrations' });
  if (mine.length === 0) fill(list, empty());
  else fill(list, [...mine].sort((a, b) => a.name.localeCompare(b.name)).map((view) => integrationCard(view)));
  fill(content, list);
  content.removeAttribute('aria-busy');
}

main();
