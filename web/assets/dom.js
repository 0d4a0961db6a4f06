// Building DOM nodes from data without ever parsing it as HTML: catalog text and API answers
// are inserted as text, so nothing in them can run.

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

/** A date and time in the reader's locale, inside a machine-readable <time>. */
export function when(rfc3339) {
  const date = new Date(rfc3339);
  if (Number.isNaN(date.getTime())) return h('span', {}, 'at an unknown time');
  return h('time', { datetime: rfc3339 }, date.toLocaleString(undefined, {
    dateStyle: 'medium',
    timeStyle: 'short',
  }));
}
