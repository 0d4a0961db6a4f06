// The live preview of an entry being edited: its Marketplace card and its install dialog,
// drawn by the tenant pages' own code (card.js), so that what the admin sees is what tenants
// get. Nothing in the preview is saved or tested.

import { installBody, installTitle, logo, providerCard } from '../card.js';
import { fill, h, uid } from '../dom.js';
import { t } from '../i18n.js';

/** The preview panel: {element, update(entry)}. */
export function entryPreview() {
  const headingId = uid('preview');
  const cards = h('ul', { class: 'cards preview-cards' });
  const dialogTitleId = uid('preview-dialog');
  const dialog = h('div', { class: 'dialog-preview', role: 'group', 'aria-labelledby': dialogTitleId });
  let current = null;

  function update(entry) {
    current = entry;
    fill(cards, providerCard(entry, {
      view: null,
      open: () => dialog.querySelector('input, textarea, button')?.focus(),
    }));
    const body = h('div', { class: 'dialog-body' },
      h('h3', { id: dialogTitleId }, logo(entry, 32), installTitle(entry, false)));
    installBody(body, entry, {
      installed: false,
      // A preview: nothing is sent anywhere.
      save: async () => ({ tone: 'warn', lines: [t('admin.preview.notSaved')] }),
      later: async () => {},
      close: () => update(current),
    });
    fill(dialog, body);
  }

  const element = h('section', { class: 'preview', 'aria-labelledby': headingId },
    h('h2', { id: headingId }, t('admin.preview.heading')),
    h('p', { class: 'hint' }, t('admin.preview.lede')),
    h('p', { class: 'preview-label' }, t('admin.preview.card')),
    cards,
    h('p', { class: 'preview-label' }, t('admin.preview.dialog')),
    dialog);
  return { element, update };
}

/**
 * Calls `fn` once `ms` have passed without another call: the preview follows the form
 * without redrawing on every keystroke.
 */
export function debounce(fn, ms = 250) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
