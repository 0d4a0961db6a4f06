// The pages' message catalogs (web/assets/messages/*.js), without a browser:
//   node --test tests/browser/i18n.test.mjs
//
// Every catalog has exactly the keys of en.js, none empty, with the same {placeholders}; every
// key the pages use exists in English and every English key is used; i18n.js imports and
// switches languages under node; the English words are the ones the browser tests expect.

import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after } from 'node:test';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const web = join(root, 'web');

/** Files under `dir`, recursively. */
function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (
    e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
}

const PLURAL = /\.(zero|one|two|few|many|other)$/;
const placeholders = (text) => [...new Set([...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]))].sort();

// The pages' modules are ES modules served as .js; under node they are imported from a copy
// marked as such, whatever the repository's package.json says.
let copy;
let i18n;
let words;
const catalogs = {};

before(async () => {
  copy = mkdtempSync(join(tmpdir(), 'byok-i18n-'));
  cpSync(join(web, 'assets'), copy, { recursive: true });
  writeFileSync(join(copy, 'package.json'), '{"type":"module"}\n');
  i18n = await import(pathToFileURL(join(copy, 'i18n.js')).href);
  words = await import(pathToFileURL(join(copy, 'words.js')).href);
  for (const code of i18n.SUPPORTED) {
    catalogs[code] = (await import(pathToFileURL(join(copy, 'messages', `${code}.js`)).href)).default;
  }
});

after(() => {
  if (copy) rmSync(copy, { recursive: true, force: true });
});

/** Where the pages use keys: t('…'), tParts('…'), data-i18n="…", data-i18n-attr="a:…,b:…". */
function usedKeys() {
  const used = new Map();
  const note = (key, file) => {
    if (!used.has(key)) used.set(key, new Set());
    used.get(key).add(relative(root, file));
  };
  for (const file of walk(web)) {
    if (file.includes(`${join('assets', 'messages')}`)) continue;
    if (!/\.(js|html)$/.test(file)) continue;
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/\b(?:t|tParts)\(\s*(['"])((?:(?!\1).)+)\1/g)) note(m[2], file);
    for (const m of text.matchAll(/\bdata-i18n="([^"]+)"/g)) note(m[1], file);
    for (const m of text.matchAll(/\bdata-i18n-attr="([^"]+)"/g)) {
      for (const pair of m[1].split(',')) {
        const [attr, key] = pair.split(':').map((s) => s.trim());
        assert.ok(attr && key, `${relative(root, file)}: data-i18n-attr pair "${pair}" is attr:key`);
        note(key, file);
      }
    }
  }
  return used;
}

describe('message catalogs', () => {
  test('every catalog has exactly the keys of en.js, none empty, with the same placeholders', () => {
    const en = catalogs.en;
    const keys = Object.keys(en).sort();
    assert.ok(keys.length > 100, `en.js has its keys (${keys.length})`);
    for (const code of i18n.SUPPORTED) {
      const catalog = catalogs[code];
      const have = Object.keys(catalog).sort();
      const missing = keys.filter((k) => !Object.hasOwn(catalog, k));
      const extra = have.filter((k) => !Object.hasOwn(en, k));
      assert.deepEqual(missing, [], `${code}.js lacks these keys`);
      assert.deepEqual(extra, [], `${code}.js has keys en.js does not`);
      for (const key of keys) {
        const value = catalog[key];
        assert.equal(typeof value, 'string', `${code}: ${key} is a string`);
        assert.ok(value.trim() !== '', `${code}: ${key} is not empty`);
        assert.deepEqual(placeholders(value), placeholders(en[key]), `${code}: ${key} has the placeholders of en`);
      }
    }
  });

  test('plural keys come with an "other" form', () => {
    for (const key of Object.keys(catalogs.en).filter((k) => PLURAL.test(k))) {
      const base = key.replace(PLURAL, '');
      assert.ok(Object.hasOwn(catalogs.en, `${base}.other`), `${base} has an .other form`);
      assert.ok(!Object.hasOwn(catalogs.en, base), `${base} is either plural or not`);
    }
  });

  test('every key used in web/ exists in en.js, and every key of en.js is used', () => {
    const en = catalogs.en;
    const used = usedKeys();
    const unknown = [...used.entries()]
      .filter(([key]) => !Object.hasOwn(en, key) && !Object.hasOwn(en, `${key}.other`))
      .map(([key, files]) => `${key} (${[...files].join(', ')})`);
    assert.deepEqual(unknown, [], 'keys used but not in en.js');
    const unused = Object.keys(en).filter((key) => !used.has(key) && !(PLURAL.test(key) && used.has(key.replace(PLURAL, ''))));
    assert.deepEqual(unused, [], 'keys in en.js that no page uses');
  });

  test('the pages name their keys literally (so that the checks above see them all)', () => {
    for (const file of walk(join(web, 'assets'))) {
      if (!file.endsWith('.js') || file.includes(join('assets', 'messages')) || file.endsWith('i18n.js')) continue;
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/\b(?:t|tParts)\(\s*(.)/g)) {
        assert.ok(m[1] === '\'' || m[1] === '"', `${relative(root, file)}: a key that is not a string literal at "${text.slice(m.index, m.index + 40)}"`);
      }
    }
  });

  test('the English of the pages\' markup is en.js\'s, word for word', () => {
    const en = catalogs.en;
    const consolePages = readdirSync(join(web, 'admin')).filter((f) => f.endsWith('.html')).map((f) => join('admin', f));
    for (const name of ['marketplace.html', 'settings.html', ...consolePages]) {
      const html = readFileSync(join(web, name), 'utf8');
      let texts = 0;
      for (const m of html.matchAll(/<(\w+)\b[^>]*\bdata-i18n="([^"]+)"[^>]*>([^<]*)<\/\1>/g)) {
        assert.equal(m[3], en[m[2]], `${name}: the text of ${m[2]}`);
        texts += 1;
      }
      assert.ok(texts >= 9, `${name}: its texts are keyed (${texts})`);
      for (const m of html.matchAll(/<[^>]*\bdata-i18n-attr="([^"]+)"[^>]*>/g)) {
        for (const pair of m[1].split(',')) {
          const [attr, key] = pair.split(':').map((s) => s.trim());
          const inline = m[0].match(new RegExp(`\\s${attr}="([^"]*)"`));
          assert.ok(inline, `${name}: ${attr} is written out in English too`);
          assert.equal(inline[1], en[key], `${name}: the ${attr} of ${key}`);
        }
      }
    }
  });

  test('the console\'s pages share one header: the same sections, the current one marked', () => {
    const pages = readdirSync(join(web, 'admin')).filter((f) => f.endsWith('.html')).sort();
    assert.equal(pages.length, 7, `the console's pages: ${pages}`);
    const links = (html) => [...html.matchAll(/<a href="(\/admin\/[^"]+)"([^>]*)>/g)].map((m) => [m[1], m[2].includes('aria-current="page"')]);
    let sections = null;
    for (const name of pages) {
      const html = readFileSync(join(web, 'admin', name), 'utf8');
      const nav = html.match(/<nav class="console-nav"[^>]*>([\s\S]*?)<\/nav>/);
      assert.ok(nav, `${name}: the console's nav`);
      const found = links(nav[1]);
      const paths = found.map(([path]) => path);
      sections ??= paths;
      assert.deepEqual(paths, sections, `${name}: the same sections as the others`);
      assert.deepEqual(found.filter(([, current]) => current).map(([path]) => path), [`/admin/${name.replace(/\.html$/, '')}`],
        `${name}: aria-current on its own link only`);
      assert.ok(html.includes('<html lang="en">') && html.includes('<body data-dev-login="false">'), `${name}: the markers the server rewrites`);
      assert.ok(html.includes(`<script type="module" src="/assets/admin/${name.replace(/\.html$/, '.js')}"></script>`), `${name}: its module`);
    }
    assert.deepEqual([...sections].sort(), pages.map((n) => `/admin/${n.replace(/\.html$/, '')}`).sort(), 'the nav lists every page');
  });

  test('the Worker serves the console\'s pages and modules, and the shared card module', () => {
    const rust = readFileSync(join(root, 'worker/src/web.rs'), 'utf8').replace(/\s+/g, ' ');
    assert.ok(rust.includes('asset!("/assets/card.js", "assets/card.js", JS)'), 'card.js is an asset');
    for (const name of readdirSync(join(web, 'admin'))) {
      const path = `/admin/${name.replace(/\.html$/, '')}`;
      assert.ok(rust.includes(`asset!("${path}", "admin/${name}", HTML)`), `${path} is served`);
    }
    for (const name of readdirSync(join(web, 'assets', 'admin'))) {
      assert.ok(rust.includes(`asset!( "/assets/admin/${name}", "assets/admin/${name}", JS )`)
        || rust.includes(`asset!("/assets/admin/${name}", "assets/admin/${name}", JS)`), `assets/admin/${name} is served`);
    }
  });

  test('the Worker serves i18n.js and every catalog', () => {
    const rust = readFileSync(join(root, 'worker/src/web.rs'), 'utf8');
    assert.ok(rust.includes('asset!("/assets/i18n.js", "assets/i18n.js", JS)'), 'i18n.js is an asset');
    for (const code of i18n.SUPPORTED) {
      assert.ok(rust.includes(`asset!("/assets/messages/${code}.js", "assets/messages/${code}.js", JS)`), `${code}.js is an asset`);
    }
  });
});

describe('i18n.js under node', () => {
  test('imports without a document, and every language can be set and used', () => {
    assert.deepEqual(i18n.SUPPORTED, ['en', 'fr', 'de', 'es']);
    assert.equal(i18n.lang(), 'en', 'English without a document');
    assert.doesNotThrow(() => i18n.translatePage(), 'translatePage without a document does nothing');
    for (const code of i18n.SUPPORTED) {
      assert.doesNotThrow(() => i18n.setLang(code), code);
      assert.equal(i18n.lang(), code);
      assert.equal(i18n.t('common.cancel'), catalogs[code]['common.cancel']);
      assert.ok(i18n.t('marketplace.count', { count: 1 }).includes('1'), `${code}: one`);
      assert.ok(i18n.t('marketplace.count', { count: 28 }).includes('28'), `${code}: many`);
      assert.ok(i18n.formatDate('2026-11-28T12:00:00Z'), `${code}: a date`);
      assert.equal(i18n.formatDate('not a date'), null);
      assert.equal(i18n.relativeTime(-10), catalogs[code]['time.justNow']);
      assert.ok(i18n.relativeTime(-3 * 3600).includes('3'), `${code}: hours ago`);
      // Every message of the catalog renders, with or without its variables.
      for (const key of Object.keys(catalogs.en)) {
        const vars = Object.fromEntries(placeholders(catalogs.en[key]).map((p) => [p, p === 'count' ? 3 : `<${p}>`]));
        const text = i18n.t(key.replace(PLURAL, ''), vars);
        assert.ok(!/\{\w+\}/.test(text), `${code}: ${key} fills its placeholders: ${text}`);
      }
      assert.doesNotThrow(() => words.eventLine({ at: '2026-11-28T12:00:00Z', to: 'invalid', reason: { cause: 'recheck' } }));
    }
    i18n.setLang('en');
  });

  test('a region, an unknown language and a missing key fall back', () => {
    assert.equal(i18n.setLang('fr-CA'), 'fr');
    assert.equal(i18n.setLang('de_AT'), 'de');
    assert.equal(i18n.setLang('pt-BR'), 'en');
    assert.equal(i18n.setLang(undefined), 'en');
    assert.equal(i18n.setLang('ES'), 'es');
    assert.equal(i18n.t('no.such.key'), 'no.such.key');
    assert.equal(i18n.t('outcome.connectedTo', {}), 'Conectado a {account}.', 'an unfilled placeholder stays visible');
    const parts = i18n.tParts('settings.lastTested', { when: { node: true }, result: 'ok' });
    assert.deepEqual(parts, ['Última prueba el ', { node: true }, ': ', 'ok']);
    i18n.setLang('en');
  });

  test('English reads as the browser tests expect', () => {
    i18n.setLang('en');
    const t = i18n.t;
    assert.equal(t('marketplace.noMatch', { query: 'no such provider' }), 'No provider matches “no such provider”.');
    assert.equal(t('marketplace.count', { count: 1 }), '1 provider');
    assert.equal(t('marketplace.count', { count: 7 }), '7 providers');
    assert.equal(t('form.pasteFirstOrLater', { label: 'Auth Token or API key secret' }),
      'Paste your Auth Token or API key secret first, or choose “I\'ll add it later”.');
    assert.equal(t('marketplace.installedBadge', { status: t('status.invalid') }), 'Installed · Invalid key');
    assert.equal(i18n.formatDate('2026-11-28T12:00:00Z', { day: 'numeric', month: 'short', timeZone: 'UTC' }), '28 Nov');

    const now = Date.parse('2026-11-28T12:00:00Z');
    assert.equal(words.usageLine({ status: 'connected', last_verified_at: '2026-11-28T11:59:50Z' }, now),
      'Not used by an AI function yet · Last verified just now');
    assert.equal(words.usageLine({
      status: 'connected', last_used_at: '2026-11-28T09:00:00Z', last_verified_at: '2026-11-27T12:00:00Z',
    }, now), 'Last used 3 hours ago · Last verified yesterday');
    assert.match(words.usageLine({ status: 'invalid', failing_since: '2026-11-28T10:00:00Z' }, now),
      /^Stopped working on \d{1,2} [A-Z][a-z]{2} · /);
    assert.match(words.expiryLine(new Date(now + 5 * 86_400_000).toISOString(), now).text,
      /^Expires in 5 days, on \d{1,2} [A-Z][a-z]{2} \d{4}: paste a new key before then\.$/);
    assert.match(words.expiryLine(new Date(now + 3600_000).toISOString(), now).text, /^Expires within a day, on /);
    assert.deepEqual(words.outcome({ verdict: 'connected' }), { tone: 'good', lines: ['Connected.'] });
    assert.deepEqual(words.outcome({ verdict: 'connected', account_label: 'Acme' }).lines, ['Connected to Acme.']);
    assert.deepEqual(words.outcome({ verdict: 'invalid-credential', failure: { summary: 'S.', next_step: 'N' }, warnings: ['W'] }).lines,
      ['S.', 'What to do: N', 'Note: W']);
    assert.deepEqual(words.pendingLines({ state: 'testing' }), ['Testing the new key… your current key stays in use.']);
    assert.deepEqual(words.pendingLines({ state: 'inconclusive', mask: { masked: '••••abcd' } }), [
      'The new key (••••abcd) could not be verified: Its test did not finish.',
      'Your current key stays in use. Use the new key anyway, or discard it.',
    ]);
    assert.deepEqual(words.afterSave({ format_warnings: [{ message: 'M' }] }).lines, ['Saved.', 'Check the key: M']);
    assert.deepEqual(words.status('unverified'), { label: 'Could not verify', tone: 'warn' });
    assert.deepEqual(words.status('odd'), { label: 'odd', tone: 'neutral' });

    const at = '2026-11-28T12:00:00Z';
    const line = (event) => words.eventLine({ at, ...event });
    assert.match(line({ to: 'invalid', reason: { cause: 'test' }, failure: { summary: 'The provider does not accept this key.' } }),
      /^Stopped working on \d{1,2} [A-Z][a-z]{2}: the provider does not accept this key$/);
    assert.match(line({ to: 'invalid', reason: { cause: 'recheck' } }), /: the key was rejected at a scheduled check$/);
    assert.match(line({ to: 'invalid', reason: { cause: 'usage-report', reported_status: 401 } }),
      /: the key was rejected \(401 in an AI call, confirmed by a re-test\)$/);
    assert.match(line({ to: 'connected', from: 'invalid', reason: { cause: 'recheck' } }), /^Working again on .+ at a scheduled check$/);
    assert.match(line({ to: 'connected', from: 'unverified', reason: { cause: 'usage-report' } }), /^Verified on .+ after an AI call failed$/);
    assert.match(line({ to: 'connected', reason: { cause: 'key-saved' } }), /^New key saved on /);
    assert.match(line({ to: 'unverified', reason: { cause: 'key-replaced', by: 'ann' } }),
      /^Key replaced by ann on \d{1,2} [A-Z][a-z]{2}: chosen without a conclusive test$/);
    assert.match(line({ to: 'connected', reason: { cause: 'key-replaced' } }), /^Key replaced on .+: the new key passed its test$/);
    assert.match(line({ to: 'connected', reason: { cause: 'expiry', expiry: { stage: 'soon', expires_at: '2026-12-05T00:00:00Z' } } }),
      /^Warned on .+: the key expires on 5 Dec$/);
    assert.match(line({ to: 'disconnected', reason: { cause: 'removed' } }), /^Key removed on /);
  });

  test('other languages are not English', () => {
    for (const code of ['fr', 'de', 'es']) {
      i18n.setLang(code);
      const now = Date.parse('2026-11-28T12:00:00Z');
      const usage = words.usageLine({ status: 'connected', last_used_at: '2026-11-28T09:00:00Z' }, now);
      assert.ok(!/Last used|hours ago/.test(usage), `${code}: ${usage}`);
      assert.notEqual(words.status('connected').label, 'Connected', code);
    }
    i18n.setLang('en');
  });
});
