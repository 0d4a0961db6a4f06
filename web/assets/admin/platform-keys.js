// Console → Platform keys: for each active entry that allows the platform's fallback key (or
// already has one), the key's mask or "not set", what its last test left, when a test last
// concluded and the last day a tenant's call used it (`GET /v1/admin/platform-keys`); a form to
// set or replace it (`PUT /v1/admin/platform-keys/{key}`; the pasted key is cleared once the
// answer is in) and Test (`POST …/{key}/test`). Below, one tenant's policy for one provider:
// whether the platform key may answer for it and its daily cap
// (`GET`/`PUT /v1/admin/tenants/{tenant}/providers/{key}/policy`).

import { api } from '../api.js';
import { logo } from '../card.js';
import { credentialInputs, fieldsOf } from '../credential-form.js';
import { fill, h, named, showMessage, uid, when } from '../dom.js';
import { formatDate, t } from '../i18n.js';
import { showError } from '../session.js';
import { formatWarnings, outcome, status } from '../words.js';
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

/** What the key's last test left, when one last concluded, and its last day of use. */
function factsOf(check) {
  const pair = (term, value) => [h('dt', {}, term), h('dd', {}, value)];
  const st = check?.status ? status(check.status) : null;
  return [
    ...pair(t('admin.platformKeys.status'), st
      ? h('span', { class: `badge tone-${st.tone}` }, st.label)
      : t('admin.platformKeys.untested')),
    ...pair(t('admin.platformKeys.verifiedAt'), check?.verified_at ? when(check.verified_at) : t('admin.platformKeys.never')),
    ...pair(t('admin.platformKeys.lastUsed'), check?.last_used
      ? formatDate(`${check.last_used}T00:00:00Z`, { dateStyle: 'medium', timeZone: 'UTC' })
      : t('admin.platformKeys.notUsed')),
  ];
}

function panel(entry, check) {
  const headingId = uid('heading');
  const current = h('p', { class: 'current-key' }, currentLine(entry.platform_key));
  let known = check ?? null;
  const facts = h('dl', { class: 'facts' }, entry.platform_key ? factsOf(known) : []);
  const testResult = h('div', { class: 'message', role: 'status', 'aria-live': 'polite' });
  const test = h('button', { type: 'button', class: 'secondary', disabled: entry.platform_key ? null : true },
    named(t('admin.platformKeys.test'), t('admin.platformKeys.testName', { name: entry.name })));
  test.addEventListener('click', async () => {
    test.disabled = true;
    fill(testResult);
    testResult.className = 'message';
    try {
      const answer = await api('POST', `/v1/admin/platform-keys/${seg(entry.key)}/test`);
      known = { ...known, status: answer.status, verified_at: answer.verified_at };
      fill(facts, factsOf(known));
      const said = outcome(answer.report);
      showMessage(testResult, said.tone, said.lines);
    } catch (failure) {
      showMessage(testResult, 'bad', [failed(failure)]);
    } finally {
      test.disabled = false;
    }
  });
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
      // A new key is untested until Test runs; its past use stays the provider's.
      known = { last_used: known?.last_used ?? null, status: null, verified_at: null };
      fill(facts, factsOf(known));
      fill(testResult);
      test.disabled = false;
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
    facts,
    h('div', { class: 'actions' }, test),
    testResult,
    allowed,
    h('form', { novalidate: true, onsubmit: submit }, form.element, error, message, h('div', { class: 'actions' }, save)));
}

/** One tenant's rule for one provider's platform key: look it up, change it, save it. */
function policyPanel(entries) {
  const headingId = uid('heading');
  const tenantId = uid('tenant');
  const providerId = uid('provider');
  const fallbackId = uid('fallback');
  const capId = uid('cap');
  const capHintId = uid('cap-hint');
  const tenant = h('input', { id: tenantId, type: 'text', autocomplete: 'off', spellcheck: 'false', required: true });
  const provider = h('select', { id: providerId }, entries.map((e) => h('option', { value: e.key }, e.name)));
  const fallback = h('select', { id: fallbackId },
    h('option', { value: 'inherit' }, t('admin.policy.inherit')),
    h('option', { value: 'never' }, t('admin.policy.never')));
  const cap = h('input', { id: capId, type: 'number', min: '0', max: '4294967295', step: '1', inputmode: 'numeric', 'aria-describedby': capHintId });
  const summary = h('p', {});
  const message = h('div', { class: 'message', role: 'status', 'aria-live': 'polite' });
  const save = h('button', { type: 'submit' }, t('admin.policy.save'));
  const edit = h('div', { hidden: true },
    summary,
    h('div', { class: 'field' }, h('label', { for: fallbackId }, t('admin.policy.fallback')), fallback),
    h('div', { class: 'field narrow' }, h('label', { for: capId }, t('admin.policy.cap')), cap,
      h('p', { class: 'hint', id: capHintId }, t('admin.policy.capHint'))),
    h('div', { class: 'actions' }, save));
  const lookUp = h('button', { type: 'button', class: 'secondary' }, t('admin.policy.lookUp'));
  const path = () => `/v1/admin/tenants/${seg(tenant.value.trim())}/providers/${seg(provider.value)}/policy`;
  const name = () => entries.find((e) => e.key === provider.value)?.name ?? provider.value;

  function show(view) {
    fallback.value = view.platform_fallback;
    cap.value = view.platform_daily_cap ?? '';
    fill(summary, [
      view.platform_key_allowed
        ? t('admin.policy.allowed', { tenant: view.tenant, name: name() })
        : t('admin.policy.refused', { tenant: view.tenant, name: name() }),
      ' ',
      t('admin.policy.today', { count: view.platform_resolves_today ?? 0 }),
      view.updated_at ? [' ', t('admin.policy.updated', { who: view.updated_by ?? '', when: formatDate(view.updated_at) ?? view.updated_at })] : null,
    ]);
    edit.hidden = false;
  }

  lookUp.addEventListener('click', async () => {
    fill(message);
    message.className = 'message';
    if (!tenant.value.trim()) {
      showMessage(message, 'bad', [t('admin.policy.tenantFirst')]);
      tenant.focus();
      return;
    }
    try {
      show(await api('GET', path()));
    } catch (failure) {
      edit.hidden = true;
      showMessage(message, 'bad', [failed(failure)]);
    }
  });
  provider.addEventListener('change', () => { edit.hidden = true; fill(message); });
  tenant.addEventListener('input', () => { edit.hidden = true; });

  async function submit(event) {
    event.preventDefault();
    fill(message);
    message.className = 'message';
    const text = cap.value.trim();
    const body = { platform_fallback: fallback.value, platform_daily_cap: text === '' ? null : Number(text) };
    save.disabled = true;
    try {
      const view = await api('PUT', path(), body);
      show(view);
      showMessage(message, 'good', [t('admin.policy.saved', { tenant: view.tenant, name: name() })]);
    } catch (failure) {
      showMessage(message, 'bad', [failed(failure)]);
    } finally {
      save.disabled = false;
    }
  }

  return h('section', { class: 'panel', 'aria-labelledby': headingId },
    h('h2', { id: headingId }, t('admin.policy.heading')),
    h('p', { class: 'hint' }, t('admin.policy.hint')),
    h('div', { class: 'toolbar' },
      h('div', { class: 'field' }, h('label', { for: tenantId }, t('admin.policy.tenant')), tenant),
      h('div', { class: 'field' }, h('label', { for: providerId }, t('admin.policy.provider')), provider),
      h('div', { class: 'actions' }, lookUp)),
    h('form', { novalidate: true, onsubmit: submit }, edit),
    message);
}

async function main() {
  const started = await startConsole();
  if (!started) return;
  const { content } = started;
  let providers;
  let checks;
  try {
    [{ providers }, { platform_keys: checks }] = await Promise.all([
      api('GET', '/v1/admin/providers'),
      api('GET', '/v1/admin/platform-keys'),
    ]);
  } catch (error) {
    showError(content, error);
    return;
  }
  const checkOf = new Map(checks.map((c) => [c.provider, c]));
  const shown = providers
    .filter((p) => p.active && (p.platform_fallback || p.platform_key))
    .sort((a, b) => a.name.localeCompare(b.name));
  fill(content,
    shown.length
      ? h('div', { class: 'integrations' }, shown.map((e) => panel(e, checkOf.get(e.key))))
      : h('div', { class: 'empty' }, h('p', {}, t('admin.platformKeys.none'))),
    shown.length ? policyPanel(shown) : null);
  ready(content);
}

main();
