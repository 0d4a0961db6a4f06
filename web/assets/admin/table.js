// Data tables: a caption, column headers, and a wrapper that scrolls sideways on its own on a
// narrow screen (keyboard-scrollable, named by the caption) instead of the whole page.

import { h, uid } from '../dom.js';

/** A table of `rows` (<tr> elements) under `head` (column names). Returns the wrapper. */
export function dataTable({ caption, head, rows = [], hiddenCaption = false, className = null }) {
  const captionId = uid('caption');
  return h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-labelledby': captionId },
    h('table', { class: className ? `data ${className}` : 'data' },
      h('caption', { id: captionId, class: hiddenCaption ? 'visually-hidden' : null }, caption),
      h('thead', {}, h('tr', {}, head.map((name) => h('th', { scope: 'col' }, name)))),
      h('tbody', {}, rows)));
}

/** A row whose first cell heads it. `cells` are text, nodes or lists of them. */
export function row(cells, attrs = {}) {
  const [first, ...rest] = cells;
  return h('tr', attrs, h('th', { scope: 'row' }, first), rest.map((cell) => h('td', {}, cell)));
}

/** The table's body, to add rows to. */
export function bodyOf(wrapper) {
  return wrapper.querySelector('tbody');
}
