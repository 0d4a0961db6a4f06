// Building DOM nodes from data without ever parsing it as HTML: catalog text and API answers
// are inserted as text, so nothing in them can run.

import { formatDate, t } from './i18n.js';

/** `h('button', {class: 'x', onclick: f}, 'Save')`. Attributes with null/false are skipped. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2), value);
    } else if (name === 'value') {
      el.value = value;
    } else {
      el.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

/** Replaces an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** Shows `lines` (one paragraph each) in a message region, with a tone (good, warn, bad...). */
export function showMessage(region, tone, lines) {
  region.className = `message tone-${tone}`;
  fill(region, lines.map((line) => h('p', {}, line)));
}

let counter = 0;
/** A document-unique id with a readable prefix. */
export function uid(prefix) {
  counter += 1;
  return `${prefix}-${counter}`;
}

/** A date and time in the page's language, inside a machine-readable <time>. */
export function when(rfc3339) {
  const text = formatDate(rfc3339);
  if (text === null) return h('span', {}, t('time.unknown'));
  return h('time', { datetime: rfc3339 }, text);
}

/**
 * The content of a control whose visible word is short and whose accessible name says more:
 * "Install" read as "Install Stripe". Where the full name starts or ends with the visible word
 * (as in English), the rest is added as visually hidden text; otherwise (another word order)
 * the visible word is hidden from assistive technology and the full name is read instead.
 */
export function named(visible, full) {
  if (full === visible) return [visible];
  if (full.startsWith(visible)) return [visible, h('span', { class: 'visually-hidden' }, full.slice(visible.length))];
  if (full.endsWith(visible)) return [h('span', { class: 'visually-hidden' }, full.slice(0, full.length - visible.length)), visible];
  return [h('span', { 'aria-hidden': 'true' }, visible), h('span', { class: 'visually-hidden' }, full)];
}
