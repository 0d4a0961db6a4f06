// A catalog entry as tenants see it: its Marketplace card and the body of its install dialog.
// The Marketplace (marketplace.js) and the console's live preview (admin/preview.js) draw
// entries with these same functions, so an admin previews exactly what tenants will get.

import { ApiError } from './api.js';
import { credentialInputs } from './credential-form.js';
import { fill, h, named, showMessage, uid } from './dom.js';
import { t } from './i18n.js';
import { status } from './words.js';

/** The group of entries without a category (shown as "Other" in the reader's language). */
export const OTHER = 'Other';

/** The entry's category, or OTHER. */
export const categoryOf = (entry) => entry.category || OTHER;

/** A category in words (OTHER in the reader's language). */
export const categoryName = (value) => (value === OTHER ? t('marketplace.other') : value);

/** The entry's logo (decorative: the name is always beside it). */
export function logo(entry, size = 40) {
  return h('img', { class: 'logo', src: entry.logo ?? '/assets/icon.svg', alt: '', width: size, height: size });
}

/** The help steps, from a list or one text with a step per line; null when there are none. */
export function steps(instructions) {
  const list = Array.isArray(instructions)
    ? instructions
    : String(instructions ?? '').split('\n').map((s) => s.trim()).filter(Boolean);
  return list.length ? h('ol', { class: 'steps' }, list.map((s) => h('li', {}, s))) : null;
}

/** The install dialog's title: "Install Stripe", or "Connect Stripe" once installed. */
export function installTitle(entry, installed) {
  return installed ? t('marketplace.connectName', { name: entry.name }) : t('marketplace.installName', { name: entry.name });
}

/**
 * The card of `entry` (an <li> for a `ul.cards`). `view` is this workspace's integration, if
 * installed; `open()` opens the install dialog.
 */
export function providerCard(entry, { view, open }) {
  const titleId = uid('provider');
  let action;
  if (!view) {
    action = h('button', { type: 'button', onclick: () => open(entry) },
      named(t('marketplace.install'), t('marketplace.installName', { name: entry.name })));
  } else if (view.status === 'disconnected' || view.status === 'invalid') {
    action = h('button', { type: 'button', onclick: () => open(entry) },
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

/**
 * Fills the body of `entry`'s install dialog (below its title): the intro, where to find the
 * key, the steps, and the credential form with Save and test, "I'll add it later" (unless
 * `installed`) and Cancel.
 *
 * - `save({key, fields, expires_at})` stores the pasted credential and resolves to what to say
 *   ({tone, lines}); a rejection is shown in words (an ApiError's message).
 * - `later()` installs without a key; `close()` is called once it resolved.
 * - `close()` closes the dialog.
 */
export function installBody(body, entry, { installed, save, later, close }) {
  const form = credentialInputs(entry);
  const messageRegion = h('div', { class: 'message', role: 'status', 'aria-live': 'polite' });
  const errorRegion = h('div', { class: 'message', role: 'alert' });
  const saveButton = h('button', { type: 'submit' }, t('marketplace.saveAndTest'));
  const laterButton = installed
    ? null
    : h('button', { type: 'button', class: 'secondary', onclick: addLater }, t('marketplace.later'));
  const cancel = h('button', { type: 'button', class: 'secondary', onclick: close }, t('common.cancel'));
  const buttons = h('div', { class: 'actions' }, saveButton, laterButton, cancel);

  const busy = (on, text) => {
    for (const b of buttons.querySelectorAll('button')) b.disabled = on;
    saveButton.textContent = on && text ? text : t('marketplace.saveAndTest');
  };
  const fail = (error) => {
    const text = error instanceof ApiError ? error.message : t('marketplace.failed');
    showMessage(errorRegion, 'bad', [text]);
  };

  async function submit(event) {
    event.preventDefault();
    fill(errorRegion);
    const credential = form.read();
    if (!credential.key) {
      showMessage(errorRegion, 'bad', [laterButton
        ? t('form.pasteFirstOrLater', { label: form.mainLabel })
        : t('form.pasteFirst', { label: form.mainLabel })]);
      form.focusMain();
      return;
    }
    busy(true, t('marketplace.saving'));
    try {
      const said = await save(credential);
      form.clearSecrets();
      showMessage(messageRegion, said.tone, said.lines);
      // The integration exists now: another key may be pasted, or the dialog closed.
      laterButton?.remove();
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
      await later();
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
}
