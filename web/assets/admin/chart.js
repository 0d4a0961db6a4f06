// A stacked bar chart as inline SVG, built node by node (no library, no style attribute: the
// bars' colours are CSS classes). The chart is an image named by its title and description;
// the numbers are for screen readers in a table beside it (the caller's).

import { t } from '../i18n.js';

const NS = 'http://www.w3.org/2000/svg';

/** An SVG element with attributes and children (text as text nodes). */
function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null) el.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child !== undefined && child !== null) el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** A round top for the axis: 1, 2, 5, 10, 20, 50... at or above `n`. */
function niceMax(n) {
  if (n <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(n));
  for (const step of [1, 2, 5, 10]) if (step * power >= n) return step * power;
  return 10 * power;
}

/**
 * `bars`: [{label, values: [n, ...]}] in order; `series`: [{name, className}] (one per value,
 * stacked from the bottom). `width` in pixels. Returns the <svg>.
 */
export function stackedBars({ id, title, description, bars, series, width = 640, height = 220 }) {
  const margin = { top: 12, right: 8, bottom: 30, left: 44 };
  const plotW = Math.max(1, width - margin.left - margin.right);
  const plotH = height - margin.top - margin.bottom;
  const totals = bars.map((b) => b.values.reduce((a, v) => a + v, 0));
  const top = niceMax(Math.max(0, ...totals));
  const y = (v) => margin.top + plotH - (v / top) * plotH;
  const slot = plotW / Math.max(1, bars.length);
  const barW = Math.max(1, Math.min(28, slot * 0.7));
  const format = new Intl.NumberFormat(document.documentElement.lang || undefined);

  const grid = [0, top / 2, top].map((v) => s('g', { class: 'tick' },
    s('line', { x1: margin.left, x2: width - margin.right, y1: y(v), y2: y(v), class: v === 0 ? 'axis' : 'grid' }),
    s('text', { x: margin.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, format.format(v))));

  const columns = bars.map((bar, i) => {
    const x = margin.left + slot * i + (slot - barW) / 2;
    let base = 0;
    const rects = bar.values.map((v, k) => {
      if (v <= 0) return null;
      const rect = s('rect', {
        x: x.toFixed(1), y: y(base + v).toFixed(1), width: barW.toFixed(1), height: (y(base) - y(base + v)).toFixed(1),
        class: `bar ${series[k].className}`,
      }, s('title', {}, t('admin.chart.barTitle', { day: bar.label, series: series[k].name, count: v })));
      base += v;
      return rect;
    });
    return s('g', {}, rects);
  });

  // Day labels: the first, the middle and the last, so they never overlap.
  const labelled = [...new Set([0, Math.floor((bars.length - 1) / 2), bars.length - 1])].filter((i) => i >= 0 && bars.length);
  const labels = labelled.map((i) => s('text', {
    x: (margin.left + slot * i + slot / 2).toFixed(1),
    y: height - 8,
    'text-anchor': i === 0 && bars.length > 1 ? 'start' : i === bars.length - 1 && bars.length > 1 ? 'end' : 'middle',
  }, bars[i].label));

  const titleId = `${id}-title`;
  const descId = `${id}-desc`;
  return s('svg', {
    id, class: 'chart', role: 'img', width, height, viewBox: `0 0 ${width} ${height}`, 'aria-labelledby': `${titleId} ${descId}`,
  },
  s('title', { id: titleId }, title),
  s('desc', { id: descId }, description),
  grid,
  columns,
  s('g', { class: 'labels', 'aria-hidden': 'true' }, labels));
}
