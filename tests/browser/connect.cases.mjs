// The front door, in a real Chromium against the Worker under workerd: tokens from the
// platform's identity provider (a stand-in with its own JWKS: RSA, EC and Ed25519 keys, and a
// rotation), connect links opened as a popup and as an iframe from a platform app on another
// site, the events the app receives, the links and frames that are refused, and the pages in
// four languages checked by axe-core.
//
// Imported by pages.test.mjs, which starts one edge for both (the edge is slow to start):
// `connectTests(ctx)` reads the edge's address and the browser from `ctx` once they exist.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const OPENAI = JSON.parse(readFileSync(new URL('../../seeds/openai/entry.json', import.meta.url), 'utf8'));
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const LANGS = ['en', 'fr', 'de', 'es'];

/** The heading each page starts with, per language (from the catalogs). */
async function catalog(lang) {
  return (await import(`../../web/assets/messages/${lang}.js`)).default;
}

/** Runs axe-core on the page and returns its violations as readable lines. */
export async function axeViolations(page) {
  await page.evaluate(AXE);
  const result = await page.evaluate(async () => window.axe.run(document, { resultTypes: ['violations'] }));
  return result.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
}

export function connectTests(ctx) {
  let counter = 0;
  const fresh = (prefix) => `${prefix}${++counter}-${process.pid}`;
  const me = (token) => fetch(`${ctx.base}/v1/me`, { headers: { authorization: `Bearer ${token}` } });
  const createLink = (body, token = ctx.service) => fetch(`${ctx.base}/v1/connect/sessions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

  describe('Sign-in with the platform identity provider (JWKS)', () => {
    test('RS256, ES256 and EdDSA tokens are accepted, with the tenant and role claims mapped', async () => {
      const { app } = ctx;
      for (const kid of ['ec-1', 'ed-1', app.currentKid()]) {
        const r = await me(app.mint({ org_id: 'jwks-acme' }, { kid }));
        assert.equal(r.status, 200, kid);
        const body = await r.json();
        assert.equal(body.tenant, 'jwks-acme');
        assert.equal(body.role, 'owner', 'the IdP role "admin" maps to owner');
        assert.equal(body.sub, 'user-1');
      }
      const viewer = await (await me(app.mint({ [ctx.rolesClaim]: ['viewer'] }, { kid: 'ec-1' }))).json();
      assert.equal(viewer.role, 'member');
    });

    test('refused: wrong audience, alg none, HS256 signed with the public key, a key of another type, an unmapped role', async () => {
      const { app } = ctx;
      const cases = [
        [app.mint({ aud: 'someone-else' }, { kid: 'ec-1' }), /'aud' must be 'byok'/],
        [app.mint({ iss: 'https://evil.example/' }, { kid: 'ec-1' }), /'iss' must be/],
        [app.mint({ exp: Math.floor(Date.now() / 1000) - 3600 }, { kid: 'ec-1' }), /expired/],
        [app.mintNone({}), /alg 'none'/],
        [app.mintHs256WithPublicKey({}), /signed with HS256, but its key verifies RS256/],
        [app.mint({}, { kid: 'ec-1', alg: 'RS256' }), /RS256, but its key verifies ES256/],
        [app.mint({ [ctx.rolesClaim]: ['guest'] }, { kid: 'ec-1' }), /AUTH_ROLE_MAP/],
        [app.mint({ org_id: null }, { kid: 'ec-1' }), /'org_id'/],
      ];
      for (const [token, says] of cases) {
        const r = await me(token);
        assert.equal(r.status, 401, String(says));
        assert.match(r.headers.get('content-type'), /application\/problem\+json/);
        const problem = await r.json();
        assert.match(problem.detail, says);
      }
    });

    test('a burst of unknown kids costs the identity provider at most one fetch; a rotation is picked up after the floor', async () => {
      const { app } = ctx;
      const before = app.jwksHits();
      const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => me(app.mint({}, { kid: `made-up-${i}` }))));
      for (const r of answers) {
        assert.equal(r.status, 401);
        assert.match((await r.json()).detail, /is not in the identity provider's key set/);
      }
      assert.ok(app.jwksHits() - before <= 1, `at most one fetch under the burst (${app.jwksHits() - before})`);

      const old = app.mint({ org_id: 'jwks-rotate' }, { kid: app.currentKid() });
      assert.equal((await me(old)).status, 200);
      const retired = app.currentKid();
      app.rotate();
      await sleep(ctx.refetchSeconds * 1000 + 200);
      const renewed = await me(app.mint({ org_id: 'jwks-rotate' }, { kid: app.currentKid() }));
      assert.equal(renewed.status, 200, 'the new key is fetched once the floor has passed');
      const stale = await me(old);
      assert.equal(stale.status, 401, `a token under the retired key ${retired} stops working`);
    });
  });

  describe('Connect links', () => {
    test('popup: the platform app opens one provider, the user saves a key, the app hears each step from BYOK\'s origin', async () => {
      const { app, browser } = ctx;
      const tenant = fresh('pop');
      app.setClaims({ org_id: tenant });
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(`${app.origin}/?provider=stripe`);
      const [popup] = await Promise.all([
        page.waitForEvent('popup'),
        page.getByRole('button', { name: 'Connect (popup)' }).click(),
      ]);
      const dialog = popup.getByRole('dialog', { name: 'Install Stripe' });
      await dialog.waitFor();
      await dialog.getByLabel('Secret or restricted key').fill(ctx.stripeKey('valid'));
      await dialog.getByRole('button', { name: 'Save and test' }).click();
      await dialog.getByText(/Connected to Acme/).waitFor();
      await page.waitForFunction(() => window.platformEvents.some((e) => e.type === 'saved'));
      let events = await page.evaluate(() => window.platformEvents);
      const from = events.filter((e) => ['ready', 'installed', 'saved'].includes(e.type));
      assert.deepEqual([...new Set(from.map((e) => e.type))].sort(), ['installed', 'ready', 'saved']);
      assert.ok(from.every((e) => e.origin === ctx.base), 'every event comes from BYOK\'s origin');
      assert.equal(from.find((e) => e.type === 'saved').status, 'connected');
      assert.equal(from.find((e) => e.type === 'installed').provider, 'stripe');
      assert.ok(!JSON.stringify(events).includes(ctx.stripeKey('valid')), 'no event carries the key');

      // The session is the tenant's, held in an HttpOnly cookie the page cannot read.
      const who = await (await popup.request.get(`${ctx.base}/v1/me`)).json();
      assert.equal(who.tenant, tenant);
      assert.equal(who.connect.origin, app.origin);
      const cookies = await context.cookies(ctx.base);
      assert.ok(cookies.some((c) => c.httpOnly && c.sameSite === 'Lax'), 'an HttpOnly, SameSite=Lax session cookie');
      assert.equal(await popup.evaluate(() => document.cookie), '', 'the page cannot read it');

      await dialog.getByRole('button', { name: 'Done' }).click();
      await popup.getByRole('button', { name: 'Done' }).click();
      await page.waitForFunction(() => window.platformEvents.some((e) => e.type === 'closed'));
      events = await page.evaluate(() => window.platformEvents);
      assert.equal(events.filter((e) => e.type === 'closed').length, 1, 'closed once');
      await context.close();
    });

    test('iframe: the flow runs inside the app with no cookie, and the app hears the events', async () => {
      const { app, browser } = ctx;
      const tenant = fresh('frame');
      app.setClaims({ org_id: tenant });
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(`${app.origin}/?provider=openai`);
      await page.getByRole('button', { name: 'Connect (iframe)' }).click();
      const frame = page.frameLocator('iframe');
      const dialog = frame.getByRole('dialog', { name: 'Install OpenAI' });
      await dialog.waitFor();
      await dialog.getByLabel('Secret key').fill(ctx.openaiKey('valid'));
      await dialog.getByRole('button', { name: 'Save and test' }).click();
      await dialog.getByText(/Connected/).first().waitFor();
      await page.waitForFunction(() => window.platformEvents.some((e) => e.type === 'saved'));
      const saved = (await page.evaluate(() => window.platformEvents)).find((e) => e.type === 'saved');
      assert.equal(saved.origin, ctx.base);
      assert.equal(saved.provider, 'openai');
      assert.deepEqual(await context.cookies(ctx.base), [], 'no cookie: the frame holds its session itself');
      // The fragment that carried the session is gone from the frame's address.
      const frameUrl = page.frames().find((f) => f.url().startsWith(ctx.base)).url();
      assert.ok(!frameUrl.includes('session='), frameUrl);
      // Sign out: the frame forgets its session, says so, and tells the app.
      await dialog.getByRole('button', { name: 'Done' }).click();
      await frame.getByRole('button', { name: 'Sign out' }).click();
      await frame.getByRole('heading', { name: 'You are not signed in' }).waitFor();
      await page.waitForFunction(() => window.platformEvents.some((e) => e.type === 'signed-out'));
      await context.close();
    });

    test('a link opens once: concurrent opens, a replay, an expired link and an altered one create no session', async () => {
      const tenant = fresh('links');
      const r = await createLink({ tenant, user: 'u-1', origin: ctx.app.origin, mode: 'page' });
      assert.equal(r.status, 201);
      const { url, expires_in: ttl } = await r.json();
      assert.ok(ttl <= 600 && ttl > 0);
      const opens = await Promise.all(Array.from({ length: 8 }, () => fetch(url, { redirect: 'manual' })));
      const statuses = opens.map((o) => o.status).sort();
      assert.deepEqual(statuses, [303, 410, 410, 410, 410, 410, 410, 410], 'exactly one open wins');
      const won = opens.find((o) => o.status === 303);
      assert.match(won.headers.get('set-cookie'), /HttpOnly; SameSite=Lax; Path=\/; Max-Age=3600/);

      const context = await ctx.browser.newContext();
      const page = await context.newPage();
      const replay = await page.goto(url);
      assert.equal(replay.status(), 410);
      await page.getByRole('heading', { name: 'This link has already been used' }).waitFor();
      assert.equal((await page.request.get(`${ctx.base}/v1/me`)).status(), 401, 'no session');

      const short = await (await createLink({ tenant, user: 'u-1', origin: ctx.app.origin, expires_in: 1 })).json();
      await sleep(2100);
      assert.equal((await page.goto(short.url)).status(), 410);
      await page.getByRole('heading', { name: 'This link has expired' }).waitFor();

      const fresh2 = await (await createLink({ tenant, user: 'u-1', origin: ctx.app.origin })).json();
      const last = fresh2.url.at(-1) === 'A' ? 'B' : 'A';
      assert.equal((await page.goto(fresh2.url.slice(0, -1) + last)).status(), 404);
      await page.getByRole('heading', { name: 'This link is not valid' }).waitFor();
      assert.equal((await page.request.get(`${ctx.base}/v1/me`)).status(), 401, 'still no session');
      assert.deepEqual(await axeViolations(page), []);
      // The untouched link still opens (the altered one did not use it up).
      assert.equal((await fetch(fresh2.url, { redirect: 'manual' })).status, 303);
      await context.close();
    });

    test('who may mint a link, and for whom; return_to and origin must be the platform\'s', async () => {
      const { app } = ctx;
      const owner = app.mint({ org_id: 'mint-a' }, { kid: 'ec-1' });
      const member = app.mint({ org_id: 'mint-a', [ctx.rolesClaim]: ['viewer'] }, { kid: 'ec-1' });
      assert.equal((await createLink({ origin: app.origin }, owner)).status, 201, 'an owner, for their own tenant');
      const other = await createLink({ tenant: 'mint-b', origin: app.origin }, owner);
      assert.equal(other.status, 403);
      assert.match((await other.json()).detail, /own workspace/);
      assert.equal((await createLink({ origin: app.origin }, member)).status, 403);
      const bad = await createLink({ tenant: 'mint-a', user: 'u', return_to: 'https://evil.example/x', theme: { accent: 'red;x' } });
      assert.equal(bad.status, 422);
      const fields = (await bad.json()).errors.map((e) => e.field);
      assert.deepEqual(fields, ['return_to', 'theme.accent']);
    });

    test('framing: allowed for the platform\'s origin only', async () => {
      const page = await (await fetch(`${ctx.base}/marketplace/integrations`)).headers;
      assert.match(page.get('content-security-policy'), new RegExp(`frame-ancestors ${ctx.app.origin}$`));
      // A site not on ALLOWED_EMBED_ORIGINS frames the page: Chromium refuses to show it.
      const server = createServer((_, res) => {
        res.setHeader('content-type', 'text/html');
        res.end(`<!doctype html><title>Stranger</title><iframe src="${ctx.base}/marketplace/integrations"></iframe>`);
      });
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const context = await ctx.browser.newContext();
      const tab = await context.newPage();
      const refused = new Promise((resolve) => tab.on('console', (m) => {
        if (/frame-ancestors/.test(m.text())) resolve(m.text());
      }));
      await tab.goto(`http://127.0.0.1:${server.address().port}/`);
      assert.match(await refused, /violates the following Content Security Policy directive: "frame-ancestors /);
      await context.close();
      server.close();
    });
  });

  describe('Four languages', () => {
    for (const lang of LANGS) {
      test(`${lang}: both pages render every message, and axe-core finds no violation`, async () => {
        const messages = await catalog(lang);
        const context = await ctx.browser.newContext({ locale: lang === 'en' ? 'en-US' : `${lang}-${lang.toUpperCase()}` });
        const page = await context.newPage();
        const errors = [];
        page.on('pageerror', (e) => errors.push(String(e)));
        const tenant = fresh(`lang-${lang}-`);
        await page.goto(`${ctx.base}/dev/login?tenant=${tenant}&role=owner&next=/marketplace/integrations`);
        await page.waitForSelector('#content:not([aria-busy])');
        assert.equal(await page.getAttribute('html', 'lang'), lang);
        const title = await page.title();
        assert.ok(Object.values(messages).includes(title), `the title is in ${lang}: ${title}`);
        const installed = await page.evaluate(async () => (await fetch('/v1/integrations', {
          method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ provider: 'openai' }),
        })).status);
        assert.equal(installed, 201);
        // The catalog speaks the reader's language too: OpenAI's seed carries its words in
        // each language (English where it has none).
        const words = OPENAI.translations?.[lang] ?? {};
        if (lang !== 'en') assert.ok(words.description, `the OpenAI seed has a ${lang} description`);
        await page.locator('li[data-provider="openai"] p.description')
          .filter({ hasText: words.description ?? OPENAI.description }).waitFor();
        for (const path of ['/marketplace/integrations', '/settings/integrations']) {
          await page.goto(`${ctx.base}${path}`);
          await page.waitForSelector('#content:not([aria-busy])');
          const missing = await page.evaluate(async () => (await import('/assets/i18n.js')).missingMessages());
          assert.deepEqual(missing, [], `${path}: no message missing in ${lang}`);
          assert.deepEqual(await axeViolations(page), [], `${path} in ${lang}`);
        }
        assert.deepEqual(errors, []);
        await context.close();
      });
    }

    test('a link\'s language and theme win over the browser\'s: German, dark, the app\'s accent', async () => {
      const context = await ctx.browser.newContext({ locale: 'fr-FR' });
      const page = await context.newPage();
      const r = await createLink({
        tenant: fresh('themed'), user: 'u-1', origin: ctx.app.origin, mode: 'page', lang: 'de',
        theme: { accent: '#0b5d3b', radius: 2, mode: 'dark', font: 'Georgia, serif' },
      });
      const { url } = await r.json();
      await page.goto(url);
      await page.waitForSelector('#content:not([aria-busy])');
      await page.waitForFunction(() => document.documentElement.lang === 'de');
      const look = await page.evaluate(() => ({
        accent: getComputedStyle(document.documentElement).getPropertyValue('--accent').trim(),
        theme: document.documentElement.dataset.theme,
        radius: getComputedStyle(document.documentElement).getPropertyValue('--radius').trim(),
      }));
      assert.deepEqual(look, { accent: '#0b5d3b', theme: 'dark', radius: '2px' });
      assert.deepEqual(await axeViolations(page), [], 'the dark theme passes too');
      await context.close();
    });
  });
}
