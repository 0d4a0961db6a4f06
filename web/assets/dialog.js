// Modal dialogs on the native <dialog> element: the rest of the page is inert while one is
// open, Tab and Shift+Tab cycle through the dialog's own controls (focus never leaves it),
// Escape closes it, and focus returns to the control that opened it.

import { h, uid } from './dom.js';
import { t } from './i18n.js';

const FOCUSABLE = [
  'a[href]', 'button:not([disabled])', 'input:not([disabled]):not([type="hidden"])',
  'select:not([disabled])', 'textarea:not([disabled])', '[tabindex]:not([tabindex="-1"])',
].join(',');

function focusables(root) {
  return [...root.querySelectorAll(FOCUSABLE)].filter((el) => el.getClientRects().length > 0);
}

/**
 * Opens a modal dialog titled `title`; `build(body, close)` fills it. `onClose` runs after it
 * closed and may return the element to focus next (else the opener). Returns {dialog, close}.
 */
export function openDialog({ title, icon, build, onClose, label = 'dialog' }) {
  const titleId = uid(`${label}-title`);
  const body = h('div', { class: 'dialog-body' });
  const dialog = h('dialog', { 'aria-labelledby': titleId }, body);
  const opener = document.activeElement;

  const close = () => dialog.close();
  dialog.addEventListener('close', () => {
    dialog.remove();
    const target = onClose ? onClose() : null;
    const back = target instanceof HTMLElement ? target
      : opener instanceof HTMLElement && opener.isConnected ? opener : document.getElementById('main');
    back?.focus();
  });
  dialog.addEventListener('keydown', (event) => {
    if (event.key !== 'Tab') return;
    const items = focusables(dialog);
    if (items.length === 0) {
      event.preventDefault();
      return;
    }
    const first = items[0];
    const last = items[items.length - 1];
    const inside = dialog.contains(document.activeElement);
    if (event.shiftKey && (document.activeElement === first || !inside)) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && (document.activeElement === last || !inside)) {
      event.preventDefault();
      first.focus();
    }
  });

  body.append(h('h2', { id: titleId }, icon ?? null, title));
  build(body, close);
  document.body.append(dialog);
  dialog.showModal();
  const autofocus = dialog.querySelector('[autofocus]') ?? focusables(dialog)[0];
  autofocus?.focus();
  return { dialog, close };
}

/** A yes/no question; resolves to true when confirmed. */
export function confirmDialog({ title, text, confirm, danger = false }) {
  return new Promise((resolve) => {
    let answer = false;
    openDialog({
      title,
      label: 'confirm',
      onClose: () => resolve(answer),
      build(body, close) {
        body.append(
          h('p', {}, text),
          h('div', { class: 'actions' },
            h('button', {
              type: 'button',
              class: danger ? 'danger solid' : null,
              onclick: () => { answer = true; close(); },
            }, confirm),
            h('button', { type: 'button', class: 'secondary', autofocus: true, onclick: close }, t('common.cancel'))),
        );
      },
    });
  });
}
