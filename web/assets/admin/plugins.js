// Console → Plugins: upload a test plugin (a .wasm component) and see what the service made of
// it; attach it to an entry; and try an entry's connection test on a pasted key, with every
// request the test made. A pasted key is never stored by the page and is cleared once the
// answer is in.

import { api, ApiError } from '../api.js';
import { credentialInputs, fieldsOf } from '../credential-form.js';
import { fill, h, showMessage, uid } from '../dom.js';
import { t } from '../i18n.js';
import { showError } from '../session.js';
import { formatWarnings, outcome } from '../words.js';
import { failed, seg, upload } from './http.js';
import { ready, startConsole } from './nav.js';
import { dataTable, row } from './table.js';

let entries = [];

/** `{digest, size, contract, compile_ms}` as a definition list. */
function described(answer) {
  const pair = (term, value) => [h('dt', {}, term), h('dd', {}, value)];
  return h('dl', { class: 'facts' },
    pair(t('admin.plugins.digest'), h('code', { class: 'digest' }, answer.digest)),
    pair(t('admin.plugins.size'), t('admin.plugins.bytes', { count: answer.size })),
    pair(t('admin.plugins.contract'), answer.contract),
    pair(t('admin.plugins.compile'), t('admin.plugins.ms', { ms: answer.compile_ms })));
}

/** A failure, with the conformance cases when the suite failed. */
function problemView(error) {
  const cases = error instanceof ApiError && Array.isArray(error.problem?.cases) ? error.problem.cases : null;
  return h('div', { class: 'message tone-bad' },
    h('p', {}, failed(error)),
    cases ? dataTable({
      caption: t('admin.editor.cases'),
      head: [t('admin.editor.caseName'), t('admin.editor.caseMust'), t('admin.editor.caseGot'), t('admin.editor.caseFailure')],
      rows: cases.map((c) => row([c.name, c.must, c.got, c.failure ?? t('admin.editor.casePassed')])),
    }) : null);
}

const entryOptions = (list) => list.map((e) => h('option', { value: e.key },
  e.active ? `${e.name} (${e.key})` : t('admin.plugins.retiredOption', { name: e.name, key: e.key })));

/** Upload a plugin, then use it for an entry. */
function uploadSection() {
  const fileId = uid('wasm');
  const hintId = uid('hint');
  const file = h('input', { id: fileId, type: 'file', accept: '.wasm,application/wasm', required: true, 'aria-describedby': hintId });
  const send = h('button', { type: 'submit' }, t('admin.plugins.upload'));
  const result = h('div', { class: 'result', role: 'status', 'aria-live': 'polite' });
  const useId = uid('use');
  const use = h('select', { id: useId }, entryOptions(entries));
  const attach = h('button', { type: 'submit' }, t('admin.plugins.attach'));
  const attached = h('div', { class: 'result', role: 'status', 'aria-live': 'polite' });
  const useForm = h('form', { class: 'fields', hidden: true, onsubmit: attachTo },
    h('h3', {}, t('admin.plugins.useHeading')),
    h('p', { class: 'hint' }, t('admin.plugins.useHint')),
    h('div', { class: 'field' }, h('label', { for: useId }, t('admin.plugins.entry')), use),
    h('div', { class: 'actions' }, attach),
    attached);
  let uploaded = null;

  async function sendFile(event) {
    event.preventDefault();
    fill(result);
    fill(attached);
    const chosen = file.files?.[0];
    if (!chosen) {
      fill(result, h('div', { class: 'message tone-bad' }, h('p', {}, t('admin.plugins.chooseFirst'))));
      file.focus();
      return;
    }
    send.disabled = true;
    fill(result, h('p', {}, t('admin.plugins.uploading')));
    try {
      const answer = await upload('/v1/admin/plugins', chosen, 'application/wasm');
      uploaded = chosen;
      fill(result, h('div', { class: 'message tone-good' }, h('p', {}, t('admin.plugins.uploaded', { name: chosen.name }))), described(answer));
      useForm.hidden = false;
    } catch (error) {
      uploaded = null;
      useForm.hidden = true;
      fill(result, problemView(error));
    } finally {
      send.disabled = false;
    }
  }

  async function attachTo(event) {
    event.preventDefault();
    if (!uploaded || !use.value) return;
    attach.disabled = true;
    fill(attached, h('p', {}, t('admin.plugins.attaching')));
    try {
      const answer = await upload(`/v1/admin/providers/${seg(use.value)}/plugin`, uploaded, 'application/wasm');
      const name = answer.entry?.name ?? use.value;
      fill(attached, h('div', { class: 'message tone-good' }, h('p', {}, t('admin.plugins.attached', { name }))), described(answer));
    } catch (error) {
      fill(attached, problemView(error));
    } finally {
      attach.disabled = false;
    }
  }

  const headingId = uid('heading');
  return h('section', { class: 'panel', 'aria-labelledby': headingId },
    h('h2', { id: headingId }, t('admin.plugins.uploadHeading')),
    h('form', { class: 'fields', onsubmit: sendFile, novalidate: true },
      h('div', { class: 'field' }, h('label', { for: fileId }, t('admin.plugins.file')), file,
        h('p', { class: 'hint', id: hintId }, t('admin.plugins.fileHint'))),
      h('div', { class: 'actions' }, send)),
    result,
    useForm);
}

/** Try an entry's connection test on a pasted key. */
function trySection() {
  const pickId = uid('try');
  const pick = h('select', { id: pickId }, h('option', { value: '' }, t('admin.plugins.chooseEntry')), entryOptions(entries));
  const formArea = h('div', {});
  const result = h('div', { class: 'result', role: 'status', 'aria-live': 'polite' });
  let form = null;
  let entry = null;
  const run = h('button', { type: 'submit', disabled: true }, t('admin.plugins.try'));

  pick.addEventListener('change', () => {
    fill(result);
    entry = entries.find((e) => e.key === pick.value) ?? null;
    // The test takes the credential only; an expiry date has no place here.
    form = entry ? credentialInputs({ ...entry, keys_expire: false }) : null;
    fill(formArea, form?.element);
    run.disabled = !form;
  });

  async function tryIt(event) {
    event.preventDefault();
    if (!form || !entry) return;
    const { key, fields } = form.read();
    if (!key) {
      fill(result, h('div', { class: 'message tone-bad' }, h('p', {}, t('form.pasteFirst', { label: form.mainLabel }))));
      form.focusMain();
      return;
    }
    const body = fieldsOf(entry).length > 1 ? { key, fields } : { key };
    run.disabled = true;
    fill(result, h('p', {}, t('admin.plugins.trying')));
    try {
      const answer = await api('POST', `/v1/admin/providers/${seg(entry.key)}/try`, body);
      fill(result, report(answer));
    } catch (error) {
      fill(result, problemView(error));
    } finally {
      // Never kept: the key leaves the page with the request.
      form.clearSecrets();
      run.disabled = false;
    }
  }

  const headingId = uid('heading');
  return h('section', { class: 'panel', 'aria-labelledby': headingId },
    h('h2', { id: headingId }, t('admin.plugins.tryHeading')),
    h('p', { class: 'hint' }, t('admin.plugins.tryHint')),
    h('form', { class: 'fields', onsubmit: tryIt, novalidate: true },
      h('div', { class: 'field' }, h('label', { for: pickId }, t('admin.plugins.entry')), pick),
      formArea,
      h('div', { class: 'actions' }, run)),
    result);
}

/** A try's answer: the verdict in words, format warnings, and the exchange. */
function report(answer) {
  const said = outcome(answer.report);
  const warnings = formatWarnings({ format_warnings: answer.format_warnings });
  const message = h('div', { class: 'message' });
  showMessage(message, said.tone, [...said.lines, ...warnings, t('admin.plugins.took', { ms: answer.duration_ms })]);
  const exchange = answer.exchange ?? [];
  return [
    message,
    exchange.length
      ? dataTable({
        caption: t('admin.plugins.exchange'),
        head: [t('admin.plugins.method'), t('admin.plugins.url'), t('admin.plugins.status'), t('admin.plugins.duration')],
        rows: exchange.map((x) => row([
          x.method,
          h('code', { class: 'url' }, x.url),
          x.status !== undefined && x.status !== null ? String(x.status) : (x.error ?? t('admin.plugins.noAnswer')),
          t('admin.plugins.ms', { ms: x.duration_ms }),
        ])),
      })
      : h('p', {}, t('admin.plugins.noExchange')),
  ];
}

async function main() {
  const started = await startConsole();
  if (!started) return;
  const { content } = started;
  try {
    const { providers } = await api('GET', '/v1/admin/providers');
    entries = [...providers].sort((a, b) => a.name.localeCompare(b.name));
  } catch (error) {
    showError(content, error);
    return;
  }
  fill(content, uploadSection(), trySection());
  ready(content);
}

main();
