// The pages' words in the reader's language. Every user-visible string lives in a catalog under
// `messages/` (English is the reference; the others have exactly its keys, which
// tests/browser/i18n.test.mjs checks). Text the service sends (a problem's detail, provider
// names and messages) is shown as it comes.
//
// The initial language is the one the server wrote on <html lang> (from the session or
// Accept-Language); `session.js` switches to the session's own once `/v1/me` answers.

import en from './messages/en.js';
import fr from './messages/fr.js';
import de from './messages/de.js';
import es from './messages/es.js';

export const SUPPORTED = ['en', 'fr', 'de', 'es'];

const CATALOGS = { en, fr, de, es };

/**
 * The locale for dates and numbers in each language. English dates read "28 Nov 2026", as
 * they always have on these pages.
 */
const LOCALES = { en: 'en-GB', fr: 'fr-FR', de: 'de-DE', es: 'es-ES' };

const hasDocument = typeof document !== 'undefined' && document !== null;

let current = 'en';

/** The supported language of a tag ("fr-CA" → "fr"), or English. */
export function normalize(code) {
  const base = String(code ?? '').trim().toLowerCase().split(/[-_]/)[0];
  return SUPPORTED.includes(base) ? base : 'en';
}

/** The current language ("en", "fr", "de" or "es"). */
export function lang() {
  return current;
}

/** The locale for dates and numbers in the current language. */
export function locale() {
  return LOCALES[current];
}

/** Switches the language (unsupported → English) and says so on <html lang>. */
export function setLang(code) {
  current = normalize(code);
  if (hasDocument && document.documentElement) document.documentElement.lang = current;
  return current;
}

const own = (catalog, key) => (Object.hasOwn(catalog, key) && typeof catalog[key] === 'string' && catalog[key] !== ''
  ? catalog[key]
  : null);

const pluralRules = new Map();
function plural(code, count) {
  if (!pluralRules.has(code)) pluralRules.set(code, new Intl.PluralRules(LOCALES[code]));
  return pluralRules.get(code).select(count);
}

/** Keys a page asked for that the current catalog lacks (the browser tests read it). */
const missing = new Set();

/** The keys looked up and not found in the current language since the page loaded. */
export function missingMessages() {
  return [...missing].sort();
}

/** The template of `key`: the current catalog, else English, else null. */
function template(key, count) {
  const codes = current === 'en' ? ['en'] : [current, 'en'];
  for (const code of codes) {
    if (code !== current) missing.add(`${current}:${key}`);
    const catalog = CATALOGS[code];
    if (count !== undefined) {
      const text = own(catalog, `${key}.${plural(code, count)}`) ?? own(catalog, `${key}.other`);
      if (text !== null) return text;
    }
    const text = own(catalog, key);
    if (text !== null) return text;
  }
  missing.add(`${current}:${key}`);
  return null;
}

function countOf(vars) {
  return typeof vars?.count === 'number' && Number.isFinite(vars.count) ? vars.count : undefined;
}

function show(value) {
  return typeof value === 'number' ? new Intl.NumberFormat(locale()).format(value) : String(value);
}

/**
 * The text of `key` with its `{placeholders}` filled from `vars`. With a numeric `vars.count`,
 * the plural form `key.one`, `key.other`... is chosen by the language's rules. Falls back to
 * English, then to the key itself.
 */
export function t(key, vars = {}) {
  const text = template(key, countOf(vars)) ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (
    vars && vars[name] !== undefined && vars[name] !== null ? show(vars[name]) : whole));
}

/**
 * Like `t`, as a list of parts for `h()`: placeholders whose value is not a string or a
 * number (a DOM node) are kept as they are, so that an element can sit inside a sentence
 * whose word order depends on the language.
 */
export function tParts(key, vars = {}) {
  const text = template(key, countOf(vars)) ?? key;
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(/\{(\w+)\}/g)) {
    if (match.index > last) parts.push(text.slice(last, match.index));
    const value = vars?.[match[1]];
    if (value === undefined || value === null) parts.push(match[0]);
    else if (typeof value === 'string' || typeof value === 'number') parts.push(show(value));
    else parts.push(value);
    last = match.index + match[0].length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
}

/**
 * A date (and by default a time) in the current language, or null for an invalid one.
 * `options` are Intl.DateTimeFormat's.
 */
export function formatDate(value, options = { dateStyle: 'medium', timeStyle: 'short' }) {
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) return null;
  return new Intl.DateTimeFormat(locale(), options).format(date);
}

const UNITS = [
  ['year', 365 * 24 * 3600],
  ['month', 30 * 24 * 3600],
  ['week', 7 * 24 * 3600],
  ['day', 24 * 3600],
  ['hour', 3600],
  ['minute', 60],
];

/**
 * "3 hours ago", "yesterday", "in 2 days", "just now" in the current language: `seconds` from
 * now (negative for the past).
 */
export function relativeTime(seconds) {
  if (typeof seconds !== 'number' || Number.isNaN(seconds)) return t('time.unknown');
  if (Math.abs(seconds) < 60) return t('time.justNow');
  const format = new Intl.RelativeTimeFormat(locale(), { numeric: 'auto' });
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size) return format.format(Math.trunc(seconds / size), unit);
  }
  return t('time.justNow');
}

/**
 * Fills the page's fixed words: an element's `data-i18n` names the key of its text (the
 * <title> too); `data-i18n-attr` lists `attribute:key` pairs, comma-separated, for its
 * attributes (aria-label, placeholder, title, alt...).
 */
export function translatePage(root = hasDocument ? document : null) {
  if (!root?.querySelectorAll) return;
  for (const el of root.querySelectorAll('[data-i18n]')) {
    el.textContent = t(el.getAttribute('data-i18n'));
  }
  for (const el of root.querySelectorAll('[data-i18n-attr]')) {
    for (const pair of el.getAttribute('data-i18n-attr').split(',')) {
      const at = pair.indexOf(':');
      const attr = pair.slice(0, at).trim();
      const key = pair.slice(at + 1).trim();
      if (at > 0 && key) el.setAttribute(attr, t(key));
    }
  }
}

setLang(hasDocument ? document.documentElement?.lang : 'en');
