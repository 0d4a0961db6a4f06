// An entry's logo: choose an SVG or a PNG, see it before it is sent, upload it
// (`PUT /v1/admin/providers/{key}/logo`, the file as it is). Only for an entry that exists.
//
// The preview draws the chosen file on a <canvas> (createImageBitmap reads the file itself,
// which no CSP governs); where the browser cannot decode it so (SVG in Chromium), it falls
// back to an <img> of an object URL, which the pages' `img-src 'self'` may refuse, and then
// says the logo shows once uploaded.

import { fill, h, showMessage, uid } from '../dom.js';
import { t } from '../i18n.js';
import { failed, seg, upload } from './http.js';

const TYPES = ['image/svg+xml', 'image/png'];
/** What the service takes (`LOGO_MAX_BYTES` in worker/src/admin.rs). */
export const LOGO_MAX_BYTES = 64 * 1024;
const SIZE = 64;

/** A preview of `file`: a canvas, an image, or words. */
async function previewOf(file) {
  const label = t('admin.logo.previewOf', { name: file.name });
  try {
    const bitmap = await createImageBitmap(file);
    const canvas = h('canvas', { width: SIZE, height: SIZE, class: 'logo-preview', role: 'img', 'aria-label': label });
    const scale = Math.min(SIZE / bitmap.width, SIZE / bitmap.height);
    const w = bitmap.width * scale;
    const hgt = bitmap.height * scale;
    canvas.getContext('2d').drawImage(bitmap, (SIZE - w) / 2, (SIZE - hgt) / 2, w, hgt);
    bitmap.close();
    return canvas;
  } catch {
    const url = URL.createObjectURL(file);
    const img = h('img', { class: 'logo-preview', src: url, alt: label, width: SIZE, height: SIZE });
    img.addEventListener('load', () => URL.revokeObjectURL(url), { once: true });
    img.addEventListener('error', () => {
      URL.revokeObjectURL(url);
      img.replaceWith(h('p', { class: 'hint' }, t('admin.logo.noPreview')));
    }, { once: true });
    return img;
  }
}

/**
 * The logo panel for the entry `key()` names. `onUploaded(entry)` gets the stored entry.
 * Returns {element, setEnabled(on), setLogo(url)}.
 */
export function logoPanel({ key, logoUrl, onUploaded }) {
  const inputId = uid('logo');
  const hintId = uid('hint');
  const current = h('img', { class: 'logo', src: logoUrl ?? '/assets/icon.svg', alt: '', width: 40, height: 40 });
  const input = h('input', { id: inputId, type: 'file', accept: TYPES.join(','), 'aria-describedby': hintId });
  const shown = h('div', { class: 'logo-shown' });
  const message = h('div', { class: 'message', role: 'status', 'aria-live': 'polite' });
  const send = h('button', { type: 'button', disabled: true }, t('admin.logo.upload'));
  const hint = h('p', { class: 'hint', id: hintId }, t('admin.logo.hint', { kib: LOGO_MAX_BYTES / 1024 }));
  let file = null;

  input.addEventListener('change', async () => {
    fill(message);
    fill(shown);
    file = null;
    send.disabled = true;
    const chosen = input.files?.[0];
    if (!chosen) return;
    if (!TYPES.includes(chosen.type)) {
      showMessage(message, 'bad', [t('admin.logo.wrongType')]);
      return;
    }
    if (chosen.size > LOGO_MAX_BYTES) {
      showMessage(message, 'bad', [t('admin.logo.tooLarge', { kib: LOGO_MAX_BYTES / 1024 })]);
      return;
    }
    file = chosen;
    fill(shown, await previewOf(chosen));
    send.disabled = !enabled;
  });

  send.addEventListener('click', async () => {
    if (!file) return;
    send.disabled = true;
    fill(message, t('admin.logo.uploading'));
    message.className = 'message';
    try {
      const entry = await upload(`/v1/admin/providers/${seg(key())}/logo`, file);
      current.src = entry.logo ?? current.src;
      showMessage(message, 'good', [t('admin.logo.uploaded')]);
      file = null;
      input.value = '';
      fill(shown);
      onUploaded(entry);
    } catch (error) {
      showMessage(message, 'bad', [failed(error)]);
      send.disabled = false;
    }
  });

  const later = h('p', { class: 'hint' }, t('admin.logo.saveFirst'));
  let enabled = false;
  const element = h('fieldset', { class: 'section logo-panel' },
    h('legend', {}, t('admin.logo.legend')),
    h('div', { class: 'logo-row' }, current, h('span', { class: 'hint' }, t('admin.logo.current'))),
    later,
    h('div', { class: 'field' }, h('label', { for: inputId }, t('admin.logo.file')), input, hint),
    shown,
    message,
    h('div', { class: 'actions' }, send));

  function setEnabled(on) {
    enabled = on;
    later.hidden = on;
    send.disabled = !on || !file;
  }
  setEnabled(false);
  return { element, setEnabled };
}
