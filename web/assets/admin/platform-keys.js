// Console → Platform keys: for each active entry that allows the platform's fallback key (or
// already has one), the key's mask or "not set", and a form to set or replace it
// (`PUT /v1/admin/platform-keys/{key}`). The pasted key is cleared once the answer is in.

import { api } from '../api.js';
import { logo } from '../card.js';
import { credentialInputs, fieldsOf } from '../credential-form.js';
import { fill, h, named, showMessage, uid } from '../dom.js';
import { t } from '../i18n.js';
import { showError } from '../session.js';
import { formatWarnings } from '../words.js';
import { failed, seg } from './http.js';
import { ready, startConsole } from './nav.js';

const maskText = (mask) => (typeof mask === 'string' ? mask : mask?.masked ?? null);

/** The current key in words. */
function currentLine(mask) {
  const masked = maskText(mask);
  return masked
    ? [t('admin.platformKeys.current'), ' ', h('code', {}, masked)]
    : t('admin.platformKeys.notSet');
}

function panel(entry) {
  const headingId = uid('heading');
  const current = h('p', { class: 'current-key' }, currentLine(entry.platform_key));
  const allowed = h('p', { class: 'hint' }, entry.platform_fallback
    ? t('admin.platformKeys.fallbackOn')
    : t('admin.platformKeys.fallbackOff'));
  // A platform key carries no expiry: the form asks for the credential only.
  const form = credentialInputs({ ...entry, keys_expire: false });
  const message = h('div', { class: 'message', role: 'status', 'aria-live': 'polite' });
  const error = h('div', { class: 'message', role: 'alert' });
  const save = h('button', { type: 'submit' },
    named(t('admin.platformKeys.save'), t('admin.platformKeys.saveName', { name: entry.name })));

  async function submit(event) {
    event.preventDefault();
    fill(error);
    error.className = 'message';
    fill(message);
    message.className = 'message';
    const { key, fields } = form.read();
    if (!key) {
      showMessage(error, 'bad', [t('form.pasteFirst', { label: form.mainLabel })]);
      form.focusMain();
      return;
    }
    save.disabled = true;
    try {
      const body = fieldsOf(entry).length > 1 ? { key, fields } : { key };
      const answer = await api('PUT', `/v1/admin/platform-keys/${seg(entry.key)}`, body);
      fill(current, currentLine(answer.mask));
      const warnings = formatWarnings(answer);
      showMessage(message, warnings.length ? 'warn' : 'good', [
        t('admin.platformKeys.saved', { mask: maskText(answer.mask) ?? '' }),
        answer.fallback_allowed ? null : t('admin.platformKeys.fallbackOff'),
        ...warnings,
      ].filter(Boolean));
    } catch (failure) {
      showMessage(error, 'bad', [failed(failure)]);
    } finally {
      form.clearSecrets();
      save.disabled = false;
    }
  }

  return h('section', { class: 'integration', 'aria-labelledby': headingId, 'data-provider': entry.key },
    h('div', { class: 'integration-head' }, logo(entry, 32), h('h2', { id: headingId }, entry.name), h('code', {}, entry.key)),
    current,
    allowed,
    h('form', { novalidate: true, onsubmit: submit }, form.element, error, message, h('div', { class: 'actions' }, save)));
}

async function main() {
  const started = await startConsole();
  if (!started) return;
  const { content } = started;
  let providers;
  try {
    ({ providers } = await api('GET', '/v1/admin/providers'));
  } catch (error) {
    showError(content, error);
    return;
  }
  const shown = providers
    .filter((p) => p.active && (p.platform_fallback || p.platform_key))
    .sort((a, b) => a.name.localeCompare(b.name));
  fill(content, shown.length
    ? h('div', { class: 'integrations' }, shown.map(panel))
    : h('div', { class: 'empty' }, h('p', {}, t('admin.platformKeys.none'))));
  ready(content);
}

main();
