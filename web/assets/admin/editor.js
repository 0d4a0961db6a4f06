// The catalog entry editor: every member of an entry as a labelled control, read back as the
// JSON `PUT /v1/admin/providers/{key}` takes. A refusal is shown where it belongs: each of the
// problem's `errors[]` beside the control its `field` names (`credential_fields[1].pattern`
// → the pattern of the second field), marked aria-invalid and described by the message, and
// all of them in a summary at the top (those the form has no control for only there). A
// failed conformance suite shows the problem's detail and every case.

import { ApiError } from '../api.js';
import { fill, h, uid } from '../dom.js';
import { t } from '../i18n.js';
import { dataTable, row } from './table.js';

const KEY = /^[a-z0-9][a-z0-9-]*$/;
const AUTH_TYPES = ['api-key', 'key-pair', 'service-account'];

/** JSON for a textarea: '' for nothing. */
const pretty = (value) => (value === undefined || value === null ? '' : JSON.stringify(value, null, 2));

/** A labelled control in a `.field`: {holder, input}. `hint` is shown below and describes it. */
function control(label, input, hint) {
  const id = input.id || uid('control');
  input.id = id;
  const hintEl = hint ? h('p', { class: 'hint', id: uid('hint') }, hint) : null;
  if (hintEl) input.setAttribute('aria-describedby', hintEl.id);
  input.dataset.describedby = input.getAttribute('aria-describedby') ?? '';
  const holder = h('div', { class: 'field' }, h('label', { for: id }, label), input, hintEl);
  return { holder, input };
}

/** A checkbox with its label after it: {holder, input}. */
function checkbox(label, checked, hint) {
  const input = h('input', { type: 'checkbox', id: uid('check'), checked: checked ? true : null });
  const hintEl = hint ? h('p', { class: 'hint', id: uid('hint') }, hint) : null;
  if (hintEl) input.setAttribute('aria-describedby', hintEl.id);
  input.dataset.describedby = input.getAttribute('aria-describedby') ?? '';
  return { holder: h('div', { class: 'check' }, input, h('label', { for: input.id }, label), hintEl), input };
}

const text = (attrs = {}) => h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', ...attrs });
const area = (value, rows, prose = false) => h('textarea', { rows, spellcheck: prose ? null : 'false', class: prose ? 'prose' : null, value });

/** The path's controls from the most precise to the least: `a.b[1].c`, `a.b[1]`, `a.b`, `a`. */
function prefixes(path) {
  const out = [];
  let rest = path;
  while (rest) {
    out.push(rest);
    const cut = Math.max(rest.lastIndexOf('.'), rest.lastIndexOf('['));
    rest = cut > 0 ? rest.slice(0, cut) : '';
  }
  return out;
}

/**
 * An editor for `entry` (an entry of `GET /v1/admin/providers`), or for a new one when null.
 * `onChange()` runs after each edit; `onSubmit()` when Save is pressed.
 * Returns {element, isNew, key, read, draft, markSaved, showProblem, showErrors, clear, saving}.
 */
export function entryEditor(entry, { onChange, onSubmit }) {
  let base = entry ?? {};
  let isNew = !entry;
  /** path → {input?, holder, label} for the entry's own members. */
  const controls = new Map();
  const add = (path, label, made) => {
    controls.set(path, { ...made, label });
    return made.holder;
  };

  const key = control(t('admin.editor.key'), text({ value: base.key ?? '', required: true, readonly: isNew ? null : true }),
    isNew ? t('admin.editor.keyHint') : t('admin.editor.keyFixed'));
  const name = control(t('admin.editor.name'), text({ value: base.name ?? '', required: true }));
  const description = control(t('admin.editor.description'), area(base.description ?? '', 3, true));
  const category = control(t('admin.editor.category'), text({ value: base.category ?? '' }), t('admin.editor.categoryHint'));
  const authType = control(t('admin.editor.authType'), h('select', {},
    AUTH_TYPES.map((value) => h('option', { value, selected: (base.auth_type ?? 'api-key') === value ? true : null }, authTypeName(value)))));
  const label = control(t('admin.editor.credentialLabel'), text({ value: base.credential_label ?? '', required: true }),
    t('admin.editor.credentialLabelHint'));
  const hint = control(t('admin.editor.credentialHint'), text({ value: base.credential_hint ?? '' }), t('admin.editor.credentialHintHint'));
  const helpUrl = control(t('admin.editor.helpUrl'), text({ type: 'url', value: base.help_url ?? '', required: true }), t('admin.editor.helpUrlHint'));
  const steps = control(t('admin.editor.helpInstructions'),
    area(Array.isArray(base.help_instructions) ? base.help_instructions.join('\n') : base.help_instructions ?? '', 5, true),
    t('admin.editor.helpInstructionsHint'));

  // The credential fields: a repeatable group.
  const groups = [];
  const groupList = h('ol', { class: 'field-groups' });
  const fieldsHint = h('p', { class: 'hint', id: uid('hint') }, t('admin.editor.fieldsHint'));
  const addField = h('button', { type: 'button', class: 'secondary', onclick: () => { addGroup({}).focus(); changed(); } },
    t('admin.editor.addField'));

  function addGroup(field) {
    const legend = h('legend', {});
    const inputs = {
      name: control(t('admin.editor.fieldName'), text({ value: field.name ?? '' }), t('admin.editor.fieldNameHint')),
      label: control(t('admin.editor.fieldLabel'), text({ value: field.label ?? '' })),
      hint: control(t('admin.editor.fieldHint'), text({ value: field.hint ?? '' })),
      pattern: control(t('admin.editor.fieldPattern'), text({ value: field.pattern ?? '' }), t('admin.editor.fieldPatternHint')),
      secret: checkbox(t('admin.editor.fieldSecret'), field.secret),
      required: checkbox(t('admin.editor.fieldRequired'), field.required !== false),
      multiline: checkbox(t('admin.editor.fieldMultiline'), field.multiline),
    };
    const remove = h('button', { type: 'button', class: 'secondary compact' });
    const set = h('fieldset', { class: 'group' }, legend,
      h('div', { class: 'group-grid' }, inputs.name.holder, inputs.label.holder, inputs.hint.holder, inputs.pattern.holder),
      h('div', { class: 'checks' }, inputs.secret.holder, inputs.required.holder, inputs.multiline.holder),
      h('div', { class: 'actions' }, remove));
    const group = { item: h('li', {}, set), set, legend, remove, inputs, focus: () => inputs.name.input.focus() };
    remove.addEventListener('click', () => {
      const at = groups.indexOf(group);
      groups.splice(at, 1);
      group.item.remove();
      number();
      (groups[at]?.inputs.name.input ?? addField).focus();
      changed();
    });
    groups.push(group);
    groupList.append(group.item);
    number();
    return group;
  }

  /** Legends and Remove buttons say each group's place: "Field 2". */
  function number() {
    groups.forEach((g, i) => {
      fill(g.legend, t('admin.editor.fieldGroup', { n: i + 1 }));
      fill(g.remove, t('admin.editor.removeField', { n: i + 1 }));
    });
  }
  for (const field of base.credential_fields ?? []) addGroup(field);

  const fallback = checkbox(t('admin.editor.platformFallback'), base.platform_fallback, t('admin.editor.platformFallbackHint'));
  const expire = checkbox(t('admin.editor.keysExpire'), base.keys_expire, t('admin.editor.keysExpireHint'));
  const rejections = control(t('admin.editor.rejectionStatuses'), text({ value: (base.rejection_statuses ?? []).join(', '), inputmode: 'numeric' }),
    t('admin.editor.rejectionStatusesHint'));
  const hours = (value) => h('input', { type: 'number', min: 0, max: 8760, step: 1, inputmode: 'numeric', value: value ?? '' });
  const recheck = {
    connected_hours: control(t('admin.editor.recheckConnected'), hours(base.recheck?.connected_hours)),
    unverified_hours: control(t('admin.editor.recheckUnverified'), hours(base.recheck?.unverified_hours)),
    invalid_hours: control(t('admin.editor.recheckInvalid'), hours(base.recheck?.invalid_hours)),
  };
  const recheckHint = h('p', { class: 'hint', id: uid('hint') }, t('admin.editor.recheckHint'));

  const digest = control(t('admin.editor.digest'), text({ value: base.test_plugin?.digest ?? '' }), t('admin.editor.digestHint'));
  const config = control(t('admin.editor.config'), area(pretty(base.test_plugin?.config), 5), t('admin.editor.configHint'));
  const egress = control(t('admin.editor.egress'), area(pretty(base.egress?.length ? base.egress : undefined), 5), t('admin.editor.egressHint'));
  const fixtures = control(t('admin.editor.fixtures'), area('', 6), t('admin.editor.fixturesHint'));
  const translations = control(t('admin.editor.translations'),
    area(pretty(base.translations && Object.keys(base.translations).length ? base.translations : undefined), 6),
    t('admin.editor.translationsHint'));

  const summary = h('div', { class: 'message', role: 'alert', tabindex: '-1' });
  const status = h('div', { class: 'message', role: 'status', 'aria-live': 'polite' });
  const save = h('button', { type: 'submit' }, t('admin.editor.save'));

  const section = (title, ...children) => h('fieldset', { class: 'section' }, h('legend', {}, title), children);
  const fieldsSet = h('fieldset', { class: 'section', 'aria-describedby': fieldsHint.id },
    h('legend', {}, t('admin.editor.fields')), fieldsHint, groupList, h('div', { class: 'actions' }, addField));
  const recheckSet = h('fieldset', { class: 'group', 'aria-describedby': recheckHint.id },
    h('legend', {}, t('admin.editor.recheck')), recheckHint,
    h('div', { class: 'group-grid' }, Object.values(recheck).map((c) => c.holder)));

  const form = h('form', { class: 'editor', novalidate: true },
    summary,
    section(t('admin.editor.basics'),
      add('key', t('admin.editor.key'), key), add('name', t('admin.editor.name'), name),
      add('description', t('admin.editor.description'), description), add('category', t('admin.editor.category'), category),
      add('auth_type', t('admin.editor.authType'), authType)),
    section(t('admin.editor.credential'),
      add('credential_label', t('admin.editor.credentialLabel'), label),
      add('credential_hint', t('admin.editor.credentialHint'), hint),
      add('help_url', t('admin.editor.helpUrl'), helpUrl),
      add('help_instructions', t('admin.editor.helpInstructions'), steps)),
    fieldsSet,
    section(t('admin.editor.behaviour'),
      add('platform_fallback', t('admin.editor.platformFallback'), fallback),
      add('keys_expire', t('admin.editor.keysExpire'), expire),
      add('rejection_statuses', t('admin.editor.rejectionStatuses'), rejections),
      recheckSet),
    section(t('admin.editor.test'),
      add('test_plugin.digest', t('admin.editor.digest'), digest),
      add('test_plugin.config', t('admin.editor.config'), config),
      add('egress', t('admin.editor.egress'), egress),
      add('fixtures', t('admin.editor.fixtures'), fixtures)),
    section(t('admin.editor.translationsSection'), add('translations', t('admin.editor.translations'), translations)),
    status,
    h('div', { class: 'actions' }, save));
  for (const [path, made] of Object.entries(recheck)) {
    controls.set(`recheck.${path}`, { ...made, label: made.holder.querySelector('label').textContent });
  }
  controls.set('recheck', { holder: recheckSet, label: t('admin.editor.recheck') });
  controls.set('credential_fields', { holder: fieldsSet, label: t('admin.editor.fields') });
  controls.set('test_plugin', { ...digest, label: t('admin.editor.digest') });

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    onSubmit();
  });
  form.addEventListener('input', changed);
  form.addEventListener('change', changed);
  function changed() {
    onChange?.();
  }

  /** The control an error's field names, or null. */
  function target(path) {
    for (const p of prefixes(path)) {
      const m = /^credential_fields\[(\d+)\](?:\.(\w+))?$/.exec(p);
      if (m) {
        const group = groups[Number(m[1])];
        if (!group) continue;
        const n = Number(m[1]) + 1;
        const made = m[2] ? group.inputs[m[2]] : null;
        if (made) return { ...made, label: `${made.holder.querySelector('label').textContent} (${t('admin.editor.fieldGroup', { n })})` };
        if (!m[2]) return { holder: group.set, label: t('admin.editor.fieldGroup', { n }) };
        continue;
      }
      if (controls.has(p)) return controls.get(p);
    }
    return null;
  }

  /** Clears every error mark and the summary. */
  function clear() {
    for (const el of form.querySelectorAll('.field-error')) el.remove();
    for (const el of form.querySelectorAll('[aria-invalid]')) {
      el.removeAttribute('aria-invalid');
      const before = el.dataset.describedby;
      if (before) el.setAttribute('aria-describedby', before);
      else el.removeAttribute('aria-describedby');
    }
    for (const el of form.querySelectorAll('fieldset[data-describedby]')) {
      if (el.dataset.describedby) el.setAttribute('aria-describedby', el.dataset.describedby);
      else el.removeAttribute('aria-describedby');
      delete el.dataset.describedby;
    }
    summary.className = 'message';
    fill(summary);
    fill(status);
  }

  /** Puts `message` beside the control; returns its element's id. */
  function mark(found, message) {
    const id = uid('error');
    const error = h('p', { class: 'field-error', id }, message);
    const { input, holder } = found;
    if (input) {
      input.setAttribute('aria-invalid', 'true');
      input.setAttribute('aria-describedby', `${input.getAttribute('aria-describedby') ?? ''} ${id}`.trim());
      const after = holder.querySelector(':scope > .hint') ?? input;
      after.after(error);
    } else {
      // A group: the message under its legend, and the group described by it.
      if (!('describedby' in holder.dataset)) holder.dataset.describedby = holder.getAttribute('aria-describedby') ?? '';
      holder.setAttribute('aria-describedby', `${holder.getAttribute('aria-describedby') ?? ''} ${id}`.trim());
      holder.querySelector(':scope > legend').after(error);
    }
    return id;
  }

  /** Shows `errors` ([{field, message}]) beside their controls and in the summary; focuses it. */
  function showErrors(errors, lead = t('admin.editor.notSaved', { count: errors.length })) {
    clear();
    const items = errors.map((e) => {
      const found = target(e.field);
      if (!found) return h('li', {}, h('code', {}, e.field), ` ${e.message}`);
      mark(found, e.message);
      const focusable = found.input ?? found.holder.querySelector('input, select, textarea, button');
      const text = `${found.label}: ${e.message}`;
      return h('li', {}, focusable
        ? h('a', { href: `#${focusable.id}`, onclick: (event) => { event.preventDefault(); focusable.focus(); } }, text)
        : text);
    });
    summary.className = 'message tone-bad';
    fill(summary, h('p', {}, lead), h('ul', {}, items));
    summary.focus();
  }

  /** Shows a failed save: field errors, a failed conformance suite, or the problem in words. */
  function showProblem(error) {
    const problem = error instanceof ApiError ? error.problem : null;
    if (problem && Array.isArray(problem.errors) && problem.errors.length) {
      showErrors(problem.errors);
      return;
    }
    clear();
    summary.className = 'message tone-bad';
    const cases = Array.isArray(problem?.cases) ? problem.cases : null;
    fill(summary,
      h('p', {}, error instanceof ApiError ? error.message : t('admin.failed')),
      cases ? dataTable({
        caption: t('admin.editor.cases'),
        head: [t('admin.editor.caseName'), t('admin.editor.caseMust'), t('admin.editor.caseGot'), t('admin.editor.caseFailure')],
        rows: cases.map((c) => row([
          c.source ? h('a', { href: c.source, target: '_blank', rel: 'noopener noreferrer' }, c.name,
            h('span', { class: 'visually-hidden' }, ` ${t('common.newTab')}`)) : c.name,
          c.must, c.got, c.failure ?? t('admin.editor.casePassed')], { class: c.failure ? 'failed' : null })),
      }) : null);
    summary.focus();
  }

  /** Parses a JSON textarea: undefined when empty; pushes an error when it is not JSON of `kind`. */
  function json(made, path, kind, errors) {
    const value = made.input.value.trim();
    if (!value) return undefined;
    try {
      const parsed = JSON.parse(value);
      const isKind = kind === 'array' ? Array.isArray(parsed) : parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed);
      if (!isKind) {
        errors.push({ field: path, message: kind === 'array' ? t('admin.editor.jsonArray') : t('admin.editor.jsonObject') });
        return undefined;
      }
      return parsed;
    } catch (e) {
      errors.push({ field: path, message: t('admin.editor.jsonInvalid', { reason: e.message }) });
      return undefined;
    }
  }

  /**
   * The entry as the API takes it: {body, errors} where errors are what the page itself finds
   * wrong (a key that cannot be one, JSON that does not parse, statuses that are not numbers).
   */
  function read() {
    const errors = [];
    const optional = (made) => value(made) || undefined;
    if (isNew && !KEY.test(value(key))) errors.push({ field: 'key', message: t('admin.editor.keyInvalid') });
    const body = {
      name: value(name),
      description: value(description),
      category: optional(category),
      auth_type: authType.input.value,
      credential_label: value(label),
      credential_hint: optional(hint),
      help_url: value(helpUrl),
      help_instructions: steps.input.value.split('\n').map((s) => s.trim()).filter(Boolean),
    };
    if (base.logo) body.logo = base.logo;
    if (groups.length) {
      body.credential_fields = groups.map(({ inputs }) => ({
        name: value(inputs.name),
        label: value(inputs.label),
        hint: optional(inputs.hint),
        pattern: optional(inputs.pattern),
        secret: inputs.secret.input.checked,
        required: inputs.required.input.checked,
        multiline: inputs.multiline.input.checked,
      }));
    }
    body.platform_fallback = fallback.input.checked;
    body.keys_expire = expire.input.checked;
    const statuses = value(rejections).split(/[\s,]+/).filter(Boolean);
    if (statuses.length) {
      if (statuses.every((s) => /^\d{3}$/.test(s))) body.rejection_statuses = statuses.map(Number);
      else errors.push({ field: 'rejection_statuses', message: t('admin.editor.statusesInvalid') });
    }
    const every = {};
    for (const [path, made] of Object.entries(recheck)) {
      if (value(made) !== '') every[path] = Number(value(made));
    }
    if (Object.keys(every).length) body.recheck = every;
    const pluginConfig = json(config, 'test_plugin.config', 'object', errors);
    if (value(digest) || pluginConfig) body.test_plugin = { digest: value(digest), config: pluginConfig ?? {} };
    body.egress = json(egress, 'egress', 'array', errors);
    body.fixtures = json(fixtures, 'fixtures', 'object', errors);
    body.translations = json(translations, 'translations', 'object', errors);
    return { body: JSON.parse(JSON.stringify(body)), errors };
  }

  return {
    element: form,
    get isNew() { return isNew; },
    get key() { return value(key); },
    read,
    /** The entry as tenants would see it now, for the preview (whatever does not parse left out). */
    draft() {
      const { body } = read();
      // A form under way has blanks: the preview names them, so that every control keeps a label.
      const credentialLabel = body.credential_label || t('common.apiKey');
      return {
        ...body,
        key: value(key) || 'new-entry',
        name: body.name || t('admin.preview.untitled'),
        credential_label: credentialLabel,
        credential_fields: body.credential_fields?.map((f, i) => ({
          ...f, label: f.label || f.name || t('admin.editor.fieldGroup', { n: i + 1 }),
        })),
        logo: base.logo,
      };
    },
    /** After a save: the entry exists, its key is fixed, and `saved` is what is stored. */
    markSaved(saved) {
      base = { ...base, ...saved };
      isNew = false;
      key.input.readOnly = true;
      const keyHint = key.holder.querySelector('.hint');
      if (keyHint) keyHint.textContent = t('admin.editor.keyFixed');
      clear();
    },
    /** A new logo URL (uploaded). */
    setLogo(url) {
      base = { ...base, logo: url };
    },
    showProblem,
    showErrors,
    clear,
    status,
    saving(on) {
      save.disabled = on;
      save.textContent = on ? t('admin.editor.saving') : t('admin.editor.save');
    },
  };

  function value(made) {
    return made.input.value.trim();
  }
}

/** An auth type in words. */
function authTypeName(value) {
  switch (value) {
    case 'api-key': return t('admin.editor.authApiKey');
    case 'key-pair': return t('admin.editor.authKeyPair');
    default: return t('admin.editor.authServiceAccount');
  }
}
