// The credential fields of a catalog entry as labelled inputs. The first secret field is the
// main key (it travels as `key`); the others travel in `fields`. In Settings the main key
// field shows the saved key's mask: sending the mask back untouched means "keep the key".

import { h, uid } from './dom.js';
import { t } from './i18n.js';

/** The entry's fields; an entry with only the catalog basics has one secret field. */
export function fieldsOf(entry) {
  const declared = entry?.credential_fields ?? [];
  if (declared.length === 0) {
    return [{
      name: 'key',
      label: entry?.credential_label ?? t('common.apiKey'),
      hint: entry?.credential_hint,
      secret: true,
      required: true,
      main: true,
    }];
  }
  const mainIndex = Math.max(0, declared.findIndex((f) => f.secret));
  return declared.map((f, i) => ({ ...f, required: f.required !== false || i === mainIndex, main: i === mainIndex }));
}

/**
 * Inputs for `entry`; `view` (an installed integration) pre-fills the mask and the stored
 * non-secret values. Returns {element, read, clearSecrets, focusMain}.
 */
export function credentialInputs(entry, view) {
  const fields = fieldsOf(entry);
  const inputs = new Map();
  const mask = view?.mask?.masked ?? null;

  const rows = fields.map((field) => {
    const id = uid(`field-${field.name}`);
    const hintId = uid('hint');
    const hints = [];
    let value = '';
    let kind = 'text';
    if (field.main && mask) {
      value = mask;
      hints.push(t('form.maskHint'));
    } else if (!field.secret) {
      value = view?.fields?.[field.name] ?? '';
    }
    if (field.secret && !(field.main && mask)) kind = 'password';
    const common = {
      id,
      name: field.name,
      autocomplete: 'off',
      autocapitalize: 'off',
      spellcheck: 'false',
      placeholder: field.hint ?? null,
      required: field.main && !mask ? true : null,
      'aria-describedby': hints.length ? hintId : null,
      'data-mask': field.main && mask ? 'true' : null,
      value,
    };
    const input = field.multiline && !(field.main && mask)
      ? h('textarea', { ...common, rows: 5 })
      : h('input', { ...common, type: kind, class: field.secret ? 'secret' : null });
    if (field.main && mask) {
      input.classList.add('masked');
      // Selecting on focus lets a paste replace the whole mask; once edited, hide the value.
      input.addEventListener('focus', () => input.select());
      input.addEventListener('input', () => {
        if (input.value !== mask && input.type !== 'password') input.type = 'password';
      });
    }
    inputs.set(field.name, { field, input });
    return h('div', { class: 'field' },
      h('label', { for: id }, field.label, field.required ? null : h('span', { class: 'visually-hidden' }, ` ${t('common.optional')}`)),
      input,
      hints.length ? h('p', { class: 'hint', id: hintId }, hints.join(' ')) : null);
  });

  // Providers that issue expiring keys: when this one expires (a day), to be warned ahead.
  let expiry = null;
  if (entry?.keys_expire) {
    const id = uid('expires');
    const hintId = uid('hint');
    const stored = view?.expires_at ? view.expires_at.slice(0, 10) : '';
    expiry = h('input', { id, name: 'expires_at', type: 'date', value: stored, 'aria-describedby': hintId });
    rows.push(h('div', { class: 'field' },
      h('label', { for: id }, t('form.expiresOn'), h('span', { class: 'visually-hidden' }, ` ${t('common.optional')}`)),
      expiry,
      h('p', { class: 'hint', id: hintId }, t('form.expiresHint'))));
  }

  return {
    element: h('div', { class: 'fields' }, rows),
    /** {key, fields, expires_at?} as the API takes them; key is '' when the main field is empty. */
    read() {
      let key = '';
      const values = {};
      for (const { field, input } of inputs.values()) {
        const text = input.value.trim();
        if (field.main) key = text;
        else if (text !== '') values[field.name] = text;
      }
      const body = { key, fields: values };
      if (expiry?.value) body.expires_at = expiry.value;
      return body;
    },
    clearSecrets() {
      for (const { field, input } of inputs.values()) if (field.secret) input.value = '';
    },
    focusMain() {
      for (const { field, input } of inputs.values()) if (field.main) input.focus();
    },
    mainLabel: fields.find((f) => f.main)?.label ?? t('common.key'),
  };
}
