// Settings → Integrations: each installed provider with its status, the saved key (masked),
// Save and Test, the last test, and Uninstall for owners. A provider added with "I'll add it
// later" is connected here by pasting its key and saving.
//
// `?provider=KEY` scrolls to that provider's row, highlights it and puts the keyboard focus in
// its key field.

import { api, ApiError } from './api.js';
import { credentialInputs } from './credential-form.js';
import { confirmDialog } from './dialog.js';
import { fill, h, named, showMessage, uid, when } from './dom.js';
import { emit } from './embed.js';
import { t, tParts } from './i18n.js';
import { session, showError } from './session.js';
import { afterSave, eventLine, expiryLine, outcome, pendingLines, status, usageLine } from './words.js';

const content = document.getElementById('content');
const notice = document.getElementById('notice');
let me;
/** provider key → catalog entry (active entries; a retired one falls back to one key field). */
const entries = new Map();
let list;
/** section → puts the focus in its main key field. */
const focusers = new WeakMap();

function lastTest(view) {
  if (!view.last_test) {
    return h('p', { class: 'last-test' }, view.status === 'disconnected' ? t('settings.noKeyYet') : t('settings.notTested'));
  }
  const said = outcome(view.last_test);
  return h('p', { class: 'last-test' },
    tParts('settings.lastTested', { when: when(view.last_test.tested_at), result: said.lines.join(' ') }));
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
  const details = h('details', { class: 'history' }, h('summary', {}, t('settings.history')), items);
  let loaded = false;
  details.addEventListener('toggle', async () => {
    if (!details.open || loaded) return;
    loaded = true;
    fill(items, h('li', {}, t('common.loading')));
    try {
      const { events } = await api('GET', `/v1/integrations/${encodeURIComponent(view.provider)}/events`);
      fill(items, events.length
        ? events.map((e) => h('li', {}, eventLine(e)))
        : h('li', {}, t('settings.noChanges')));
    } catch (error) {
      loaded = false;
      fill(items, h('li', {}, error instanceof ApiError ? error.message : t('settings.historyFailed')));
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
      h('button', { type: 'button', onclick: () => choose('switch') }, t('settings.useAnyway')),
      h('button', { type: 'button', class: 'secondary', onclick: () => choose('discard') }, t('settings.discard')))
    : null;
  return h('div', { class: 'pending message tone-warn', role: 'group', 'aria-label': t('settings.pendingGroup') }, ...lines, actions);
}

/** One installed provider; `said` is a message to show in its card after a re-render. */
function integrationCard(view, said) {
  const entry = entries.get(view.provider) ?? { key: view.provider, name: view.name, credential_label: t('common.apiKey') };
  const headingId = uid('integration');
  const form = credentialInputs(entry, view);
  const messageRegion = h('div', { class: 'message', role: 'status', 'aria-live': 'polite' });
  const errorRegion = h('div', { class: 'message', role: 'alert' });
  const badge = status(view.status);
  const save = h('button', { type: 'submit' }, named(t('settings.save'), t('settings.saveName', { name: view.name })));
  const test = h('button', {
    type: 'button',
    class: 'secondary',
    disabled: view.status === 'disconnected',
    title: view.status === 'disconnected' ? t('settings.saveFirst') : null,
    onclick: runTest,
  }, named(t('settings.test'), t('settings.testName', { name: view.name })));
  const uninstall = me.role === 'owner'
    ? h('button', { type: 'button', class: 'danger uninstall', onclick: remove },
      named(t('settings.uninstall'), t('settings.uninstallName', { name: view.name })))
    : null;
  const section = h('section', { class: 'integration', 'aria-labelledby': headingId, 'data-provider': view.provider },
    h('div', { class: 'integration-head' },
      h('img', { class: 'logo', src: view.logo ?? '/assets/icon.svg', alt: '', width: 40, height: 40 }),
      h('h2', { id: headingId }, view.name),
      h('span', { class: `badge tone-${badge.tone}` }, named(badge.label, t('settings.status', { status: badge.label })))),
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
  focusers.set(section, () => form.focusMain());

  const buttons = () => section.querySelectorAll('button');
  const busy = (on) => { for (const b of buttons()) b.disabled = on || (b === test && view.status === 'disconnected'); };
  const fail = (error) => {
    showMessage(errorRegion, 'bad', [error instanceof ApiError ? error.message : t('settings.failed')]);
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
      showMessage(errorRegion, 'bad', [t('form.pasteFirst', { label: form.mainLabel })]);
      form.focusMain();
      return;
    }
    busy(true);
    // Over a working key, the new one is tested first and the working one keeps serving.
    showMessage(messageRegion, 'neutral', [view.status === 'connected'
      ? t('pending.testing')
      : t('settings.saving')]);
    try {
      const next = await api('PUT', `/v1/integrations/${encodeURIComponent(view.provider)}/credential`, { key, fields, expires_at: expiresAt });
      const unchanged = next.updated_at === view.updated_at && !next.pending
        && next.key_version === view.key_version && next.expires_at === view.expires_at;
      const message = next.pending
        ? { tone: 'warn', lines: pendingLines(next.pending) }
        : unchanged
          ? { tone: 'neutral', lines: [t('settings.unchanged')] }
          : next.key_version !== view.key_version && view.status === 'connected'
            ? { ...afterSave(next), lines: [t('settings.replaced'), ...afterSave(next).lines] }
            : afterSave(next);
      if (!unchanged) emit('saved', { provider: view.provider, status: next.status });
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
          lines: [t('settings.switched'), ...(next.last_test ? outcome(next.last_test).lines : [])] }
        : { tone: 'neutral', lines: [t('settings.discarded')] };
      if (what === 'switch') emit('saved', { provider: view.provider, status: next.status });
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
      emit('tested', { provider: view.provider, status: next.status, verdict: next.last_test?.verdict ?? null });
      replace(next, outcome(next.last_test), 'button.secondary');
    } catch (error) {
      busy(false);
      fail(error);
    }
  }

  async function remove() {
    const yes = await confirmDialog({
      title: t('settings.uninstallTitle', { name: view.name }),
      text: t('settings.uninstallText', { label: entry.credential_label ?? t('common.key'), name: view.name }),
      confirm: t('settings.uninstallName', { name: view.name }),
      danger: true,
    });
    if (!yes) return;
    busy(true);
    try {
      await api('DELETE', `/v1/integrations/${encodeURIComponent(view.provider)}`);
      section.remove();
      emit('uninstalled', { provider: view.provider });
      fill(notice, t('settings.uninstalled', { name: view.name }));
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
    h('p', {}, t('settings.empty')),
    h('a', { class: 'button', href: '/marketplace/integrations' }, t('settings.browse')));
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
  followLink();
}

/** `?provider=KEY`: its row scrolled into view, highlighted, with the focus in its key field. */
function followLink() {
  const wanted = new URLSearchParams(location.search).get('provider');
  if (!wanted) return;
  const row = [...list.querySelectorAll('section.integration')].find((s) => s.dataset.provider === wanted);
  if (row) {
    row.classList.add('focus-row');
    row.scrollIntoView({ block: 'center' });
    focusers.get(row)?.();
    return;
  }
  const entry = entries.get(wanted);
  if (entry) {
    fill(notice, t('settings.notInstalled', { name: entry.name }), ' ',
      h('a', { href: `/marketplace/integrations?provider=${encodeURIComponent(entry.key)}` }, t('settings.installIt')));
  } else {
    fill(notice, t('settings.unknownProvider', { provider: wanted }));
  }
}

main();
