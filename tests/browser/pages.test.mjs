// The Marketplace and Settings pages in a real Chromium (Debian's, driven by playwright-core),
// against the Worker under workerd with the fake providers on loopback (`browser-env`).
//
// Run by script/test after the Worker and browser-env are built:
//   node --test "tests/browser/*.test.mjs"
// Each test signs in to its own workspace, so they do not see each other's integrations.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startPlatformApp, ROLES_CLAIM } from './platform-app.mjs';
import { connectTests } from './connect.cases.mjs';
import { adminTests } from './admin.cases.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const targetDir = process.env.CARGO_TARGET_DIR ?? join(root, 'target');
// The seeded catalog, as the Marketplace should show it.
const seeds = readdirSync(join(root, 'seeds')).map((k) => JSON.parse(readFileSync(join(root, 'seeds', k, 'entry.json'), 'utf8')));
const seededIn = (category) => seeds.filter((e) => (e.category ?? 'Other') === category).map((e) => e.name).sort();
const screenshots = join(root, 'docs/screenshots');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const DESKTOP = { width: 1280, height: 860 };
const NARROW = { width: 375, height: 812 };

/** Test keys: the fakes answer by the keyword inside (valid, badkey, noscope, ...). */
const stripeKey = (scenario) => `sk_test_fake${scenario}0000000000000000000000`;
const openaiKey = (scenario) => `sk-test-proj-${scenario}-000000000000000000000000`;
const anthropicKey = (scenario) => `sk-ant-fake0-${scenario}-0000000000000000000000`;

let env;
let base;
/** The fakes' address and a platform admin's token, for tests that add entries of their own. */
let fakes;
let admin;
/** A service token (what AI functions call resolve with). */
let service;
let browser;
let workspace = 0;

/** The stand-in platform app (its identity provider and its page), on another site. */
let app;
/** The floor between two fetches of the platform's key set (short, so a rotation test waits little). */
const REFETCH_SECONDS = 3;
/**
 * Where the edge delivers its status webhooks: a receiver on loopback that answers 500 (so
 * every event becomes a dead letter after its one attempt), except for the workspaces a test
 * has mended it for, whose deliveries it accepts and keeps.
 */
const receiver = {
  mendedFor: new Set(),
  /** The bodies accepted, with their signature header. */
  accepted: [],
  /** Every request's workspace and answer, for a failing test's message. */
  seen: [],
  server: createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let tenant;
      try { tenant = JSON.parse(body)?.data?.tenant; } catch { tenant = undefined; }
      const ok = receiver.mendedFor.has(tenant);
      receiver.seen.push(`${tenant ?? body.slice(0, 80)} → ${ok ? 200 : 500}`);
      if (ok) receiver.accepted.push({ body, headers: req.headers });
      res.writeHead(ok ? 200 : 500, { 'content-type': 'application/json' });
      res.end(ok ? '{"ok":true}' : '{"error":"the receiver is down"}');
    });
  }),
};
/** What the connect tests share with this file's edge. */
const ctx = {
  receiver,
  get base() { return base; },
  get browser() { return browser; },
  get service() { return service; },
  get app() { return app; },
  get fakes() { return fakes; },
  root,
  targetDir,
  rolesClaim: ROLES_CLAIM,
  refetchSeconds: REFETCH_SECONDS,
  stripeKey: (s) => stripeKey(s),
  openaiKey: (s) => openaiKey(s),
};

before(async () => {
  app = await startPlatformApp({ audience: 'byok' });
  receiver.server.listen(0, '127.0.0.1');
  await once(receiver.server, 'listening');
  env = spawn(join(targetDir, 'debug/browser-env'), [], {
    cwd: root,
    env: {
      ...process.env,
      BYOK_ROOT: root,
      BYOK_EDGE_WEBHOOK_URL: `http://127.0.0.1:${receiver.server.address().port}/hooks/byok`,
      BYOK_EDGE_WEBHOOK_MAX_ATTEMPTS: '1',
      // Three workspaces' keys left under the first master key by a rotation: the console's
      // Keyring page reseals them.
      BYOK_EDGE_ROTATE: '1',
      // The platform's identity provider and its app's origin: the edge accepts the app's
      // tokens, lets the app frame the pages, and posts events to it.
      BYOK_EDGE_VARS: JSON.stringify({
        AUTH_JWKS_URL: app.jwksUrl,
        AUTH_JWKS_ISSUER: app.issuer,
        AUTH_TENANT_CLAIM: 'org_id',
        AUTH_ROLE_CLAIM: ROLES_CLAIM,
        AUTH_ROLE_MAP: JSON.stringify({ admin: 'owner', viewer: 'member', staff: 'platform-admin' }),
        AUTH_JWKS_REFETCH_SECONDS: String(REFETCH_SECONDS),
        CONNECT_ORIGINS: app.origin,
        ALLOWED_EMBED_ORIGINS: app.origin,
      }),
    },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: env.stdout });
  const [first] = await Promise.race([
    once(lines, 'line'),
    once(env, 'exit').then(([code]) => { throw new Error(`browser-env exited with ${code} before it was ready`); }),
  ]);
  const ready = JSON.parse(first);
  ({ base, fakes, admin } = ready);
  service = ready.tokens.service;
  app.setByok(base);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  mkdirSync(screenshots, { recursive: true });
});

after(async () => {
  await browser?.close();
  await app?.close();
  receiver.server.close();
  if (env && env.exitCode === null) {
    env.stdin.end();
    await once(env, 'exit');
  }
});

/**
 * A signed-in page for a fresh workspace (unless `tenant` is given). Every request the page
 * makes is recorded, and an uncaught script error fails the test.
 */
async function signIn({ role = 'owner', tenant, viewport = DESKTOP, path = '/marketplace/integrations' } = {}) {
  workspace += 1;
  const name = tenant ?? `ws${workspace}-${process.pid}`;
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const requests = [];
  const errors = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('pageerror', (e) => errors.push(e));
  await page.goto(`${base}/dev/login?tenant=${name}&role=${role}&next=${encodeURIComponent(path)}`);
  await page.waitForSelector('#content:not([aria-busy])');
  return {
    page,
    tenant: name,
    requests,
    async close() {
      assert.deepEqual(errors.map(String), [], 'no script error on the page');
      await context.close();
    },
  };
}

/** The integration as the API has it, with the page's own session cookie. */
async function integration(page, provider) {
  const r = await page.request.get(`${base}/v1/integrations`);
  assert.equal(r.status(), 200);
  return (await r.json()).integrations.find((i) => i.provider === provider);
}

const card = (page, name) => page.locator('li[data-provider]').filter({ has: page.getByRole('heading', { name, exact: true }) });
const settingsCard = (page, key) => page.locator(`section.integration[data-provider="${key}"]`);

/** Clicks a card's button and waits for the card to be redrawn with the answer. */
async function pressAndWait(page, key, buttonName) {
  const item = settingsCard(page, key);
  await item.evaluate((el) => { el.dataset.stale = 'true'; });
  await item.getByRole('button', { name: buttonName }).click();
  await page.locator(`section.integration[data-provider="${key}"]:not([data-stale])`).waitFor();
  return settingsCard(page, key);
}

async function assertNoSecret(page, ...keys) {
  const text = await page.locator('body').innerText();
  const values = await page.locator('input, textarea').evaluateAll((els) => els.map((e) => e.value));
  for (const key of keys) {
    assert.ok(!text.includes(key), 'the page text never shows a key');
    assert.ok(!values.includes(key), 'no field holds a saved key after saving');
  }
}

describe('Marketplace → Integrations', () => {
  test('shows every active provider by category, with search and a category filter', async () => {
    const s = await signIn();
    const { page } = s;
    const names = await page.locator('li[data-provider] h3').allInnerTexts();
    for (const name of ['Anthropic', 'OpenAI', 'Stripe', 'Twilio', 'SendGrid', 'Google Calendar', 'Meta Ads', 'Acme CRM']) {
      assert.ok(names.includes(name), `${name} is listed`);
    }
    assert.ok(names.length >= 28, `the whole seeded catalog is listed (${names.length})`);
    const categories = await page.locator('section.category > h2').allInnerTexts();
    const seededCategories = [...new Set(seeds.map((e) => e.category))].sort((a, b) => a.localeCompare(b));
    assert.deepEqual(categories, [...seededCategories, 'Other'], 'grouped by category, alphabetically, Other last');
    const ai = page.locator('section.category').filter({ has: page.getByRole('heading', { name: 'AI', exact: true }) });
    assert.deepEqual((await ai.locator('h3').allInnerTexts()).sort(), seededIn('AI'));
    const other = page.locator('section.category').filter({ has: page.getByRole('heading', { name: 'Other', exact: true }) });
    assert.deepEqual(await other.locator('h3').allInnerTexts(), ['Acme CRM'], 'an entry without a category is under Other');
    // Logos load from this origin (every one decodes to a real image).
    await page.waitForFunction(() => {
      const imgs = [...document.querySelectorAll('li[data-provider] img.logo')];
      return imgs.length >= 8 && imgs.every((i) => i.complete);
    });
    const broken = await page.locator('li[data-provider] img.logo')
      .evaluateAll((imgs) => imgs.filter((i) => i.naturalWidth === 0).map((i) => i.src));
    assert.deepEqual(broken, [], 'every logo loaded');

    await page.getByLabel('Search providers').fill('payments');
    assert.deepEqual(await page.locator('li[data-provider] h3').allInnerTexts(), ['Stripe']);
    await page.getByLabel('Search providers').fill('no such provider');
    await page.getByText('No provider matches “no such provider”.').waitFor();
    await page.getByLabel('Search providers').fill('');
    await page.getByLabel('Category').selectOption('AI');
    assert.deepEqual((await page.locator('li[data-provider] h3').allInnerTexts()).sort(), seededIn('AI'));
    await page.getByText(`${seededIn('AI').length} providers`).waitFor();

    const foreign = s.requests.filter((u) => !u.startsWith(`${base}/`));
    assert.deepEqual(foreign, [], 'nothing is loaded from another origin');
    await s.close();
  });

  test('paste the key now: saved, tested at once, connected with the account', async () => {
    const s = await signIn();
    const { page } = s;
    await card(page, 'Stripe').getByRole('button', { name: 'Install Stripe' }).click();
    const dialog = page.getByRole('dialog', { name: 'Install Stripe' });
    await dialog.waitFor();
    const help = dialog.getByRole('link', { name: /Where to find your Secret or restricted key/ });
    assert.equal(await help.getAttribute('href'), 'https://dashboard.stripe.com/apikeys');
    assert.ok(await dialog.locator('ol.steps li').count() >= 3, 'the steps are shown');
    const field = dialog.getByLabel('Secret or restricted key');
    assert.equal(await field.getAttribute('type'), 'password', 'the paste field is masked');
    assert.equal(await field.getAttribute('placeholder'), 'sk_live_… or rk_live_…');

    await field.fill(stripeKey('valid'));
    await dialog.getByRole('button', { name: 'Save and test' }).click();
    await dialog.getByText(/Connected to Acme/).waitFor();
    await assertNoSecret(page, stripeKey('valid'));
    await dialog.getByRole('button', { name: 'Done' }).click();
    await card(page, 'Stripe').getByText('Installed · Connected').waitFor();
    assert.equal((await integration(page, 'stripe')).status, 'connected');
    await s.close();
  });

  test('a provider added as data installs like any other: its documented answers decide', async () => {
    const s = await signIn();
    const { page } = s;
    await page.getByLabel('Search providers').fill('Groq');
    await card(page, 'Groq').getByRole('button', { name: 'Install Groq' }).click();
    const dialog = page.getByRole('dialog', { name: 'Install Groq' });
    assert.ok(await dialog.locator('ol.steps li').count() >= 3, 'the steps are shown');
    const bad = 'gsk_FAKEbadkey0000000000000000000000000000000000000000';
    await dialog.getByLabel('API key').fill(bad);
    await dialog.getByRole('button', { name: 'Save and test' }).click();
    await dialog.getByText('The provider does not accept this key.').waitFor();
    await assertNoSecret(page, bad);
    await page.keyboard.press('Escape');
    await card(page, 'Groq').getByRole('button', { name: 'Connect Groq' }).click();
    const again = page.getByRole('dialog', { name: /Groq/ });
    const good = 'gsk_FAKEvalid00000000000000000000000000000000000000000';
    await again.getByLabel('API key').fill(good);
    await again.getByRole('button', { name: /Save and test|Save/ }).first().click();
    await again.getByText(/Connected/).first().waitFor();
    await assertNoSecret(page, good);
    assert.equal((await integration(page, 'groq')).status, 'connected');
    await s.close();
  });

  test('an invalid key: the provider\'s reason in words, and a format warning', async () => {
    const s = await signIn();
    const { page } = s;
    await card(page, 'OpenAI').getByRole('button', { name: 'Install OpenAI' }).click();
    const dialog = page.getByRole('dialog', { name: 'Install OpenAI' });
    const key = 'not-an-openai-key-badkey-000000';
    await dialog.getByLabel('Secret key').fill(key);
    await dialog.getByRole('button', { name: 'Save and test' }).click();
    await dialog.getByText('The provider does not accept this key.').waitFor();
    const said = await dialog.locator('.message.tone-bad').innerText();
    assert.match(said, /OpenAI rejected the key: it is mistyped/, 'the provider\'s reason is shown');
    assert.match(said, /Check the key/, 'the format warning is shown');
    await assertNoSecret(page, key);
    await page.keyboard.press('Escape');
    await card(page, 'OpenAI').getByText('Installed · Invalid key').waitFor();
    // The card now offers to connect with another key.
    await card(page, 'OpenAI').getByRole('button', { name: 'Connect OpenAI' }).waitFor();
    await s.close();
  });

  test('errors from the API are shown in words, never as JSON, and keep the dialog usable', async () => {
    const s = await signIn();
    const { page } = s;
    await card(page, 'Twilio').getByRole('button', { name: 'Install Twilio' }).click();
    const dialog = page.getByRole('dialog', { name: 'Install Twilio' });
    // The Auth Token without the Account SID the entry requires: a 422 problem.
    await dialog.getByLabel('Auth Token or API key secret').fill('validvalidvalidvalidvalidvalid00');
    await dialog.getByRole('button', { name: 'Save and test' }).click();
    const alert = dialog.getByRole('alert');
    await alert.getByText(/Account SID/).waitFor();
    const text = await alert.innerText();
    assert.ok(!text.includes('{') && !text.includes('"status"'), `words, not JSON: ${text}`);
    assert.ok(!text.includes('validvalidvalid'), 'the error never shows the key');
    assert.equal(await integration(page, 'twilio'), undefined, 'nothing was installed');
    // Nothing pasted at all: the dialog says what to do.
    await dialog.getByLabel('Auth Token or API key secret').fill('');
    await dialog.getByRole('button', { name: 'Save and test' }).click();
    await alert.getByText('Paste your Auth Token or API key secret first, or choose “I\'ll add it later”.').waitFor();
    await s.close();
  });

  test('keyboard only: install from the card, focus stays in the dialog, Escape returns focus', async () => {
    const s = await signIn();
    const { page } = s;
    // Tab from the top of the page to the Install button of Anthropic.
    let reached = false;
    for (let i = 0; i < 60 && !reached; i += 1) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate(() => document.activeElement?.textContent === 'Install Anthropic');
    }
    assert.ok(reached, 'the Install button is reachable with Tab');
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    assert.notEqual(outline, 'none', 'the focused control shows a visible focus ring');
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog', { name: 'Install Anthropic' });
    await dialog.waitFor();
    assert.ok(await page.evaluate(() => document.activeElement?.closest('dialog') !== null), 'focus moves into the dialog');
    // Tab and Shift+Tab never leave the dialog.
    for (const key of [...Array(12).fill('Tab'), ...Array(12).fill('Shift+Tab')]) {
      await page.keyboard.press(key);
      assert.ok(await page.evaluate(() => document.activeElement?.closest('dialog[open]') !== null), `focus stays in the dialog after ${key}`);
    }
    await dialog.getByLabel('API key').focus();
    await page.keyboard.type(anthropicKey('valid'));
    await page.keyboard.press('Enter');
    await dialog.getByText('Connected.').waitFor();
    await page.keyboard.press('Escape');
    // The closed dialog leaves the accessibility tree before its close handler redraws the
    // card; wait for the redrawn card (focus moves in the same task).
    await card(page, 'Anthropic').getByRole('link', { name: 'Manage Anthropic in Settings' }).waitFor();
    assert.equal(await page.locator('dialog').count(), 0, 'the dialog is gone');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Manage Anthropic in Settings', 'focus returns to the card');
    assert.equal((await integration(page, 'anthropic')).status, 'connected');
    await s.close();
  });
});

describe('Settings → Integrations', () => {
  test('"I\'ll add it later" installs disconnected; pasting and saving in Settings connects it', async () => {
    const s = await signIn();
    const { page } = s;
    await card(page, 'Anthropic').getByRole('button', { name: 'Install Anthropic' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'I\'ll add it later' }).click();
    await page.getByText('Anthropic is installed but not connected yet.').waitFor();
    await card(page, 'Anthropic').getByText('Installed · Disconnected').waitFor();
    assert.equal((await integration(page, 'anthropic')).status, 'disconnected');

    await page.getByRole('link', { name: 'Settings', exact: true }).click();
    const item = settingsCard(page, 'anthropic');
    await item.getByText('Disconnected').waitFor();
    assert.ok(await item.getByRole('button', { name: 'Test Anthropic connection' }).isDisabled(), 'nothing to test yet');
    await item.getByLabel('API key').fill(anthropicKey('valid'));
    await item.getByRole('button', { name: 'Save Anthropic key' }).click();
    const fresh = settingsCard(page, 'anthropic');
    await fresh.locator('.message[role=status]').getByText('Connected.', { exact: true }).waitFor();
    await fresh.locator('.badge').getByText('Connected').waitFor();
    const masked = await fresh.getByLabel('API key').inputValue();
    assert.ok(masked.startsWith('•') && masked.endsWith(anthropicKey('valid').slice(-4)), `the field shows the mask: ${masked}`);
    await fresh.locator('.usage').getByText('Not used by an AI function yet · Last verified just now').waitFor();
    await assertNoSecret(page, anthropicKey('valid'));

    // An AI function resolves the key; usage is flushed within seconds and shown in words.
    const r = await fetch(`${base}/v1/resolve`, {
      method: 'POST',
      headers: { authorization: `Bearer ${service}`, 'content-type': 'application/json' },
      body: JSON.stringify({ tenant: s.tenant, provider: 'anthropic' }),
    });
    assert.equal(r.status, 200);
    for (let i = 0; i < 40 && !(await integration(page, 'anthropic')).last_used_at; i++) {
      await new Promise((done) => setTimeout(done, 250));
    }
    await page.reload();
    await settingsCard(page, 'anthropic').locator('.usage').getByText('Last used just now · Last verified just now').waitFor();
    await s.close();
  });

  test('Save with the mask untouched changes nothing', async () => {
    const s = await signIn();
    const { page } = s;
    const install = await page.request.post(`${base}/v1/integrations`, {
      data: { provider: 'openai', key: openaiKey('valid') },
      headers: { origin: base },
    });
    assert.equal(install.status(), 201);
    const before = await integration(page, 'openai');
    await page.goto(`${base}/settings/integrations`);
    const item = settingsCard(page, 'openai');
    assert.equal(await item.getByLabel('Secret key').inputValue(), before.mask.masked);
    await item.getByRole('button', { name: 'Save OpenAI key' }).click();
    await settingsCard(page, 'openai').getByText('Nothing changed: the saved key was kept.').waitFor();
    const after = await integration(page, 'openai');
    assert.equal(after.updated_at, before.updated_at, 'the key was not re-saved');
    assert.deepEqual(after.last_test, before.last_test, 'no new test was run');
    assert.deepEqual(after.mask, before.mask);
    await s.close();
  });

  test('Test shows each verdict in words', async () => {
    const s = await signIn({ path: '/settings/integrations' });
    const { page } = s;
    await page.request.post(`${base}/v1/integrations`, { data: { provider: 'stripe' }, headers: { origin: base } });
    await page.request.post(`${base}/v1/integrations`, { data: { provider: 'acme-crm' }, headers: { origin: base } });
    await page.reload();
    const cases = [
      ['badkey', 'Invalid key', /The provider does not accept this key\./],
      ['noscope', 'Invalid key', /lacks a permission/],
      ['ratelimit', 'Could not verify', /The provider is limiting requests right now\. This says nothing about the key/],
      ['down', 'Could not verify', /The provider did not answer properly/],
      ['garbage', 'Could not verify', /answered in a way the test does not recognise/],
      ['valid', 'Connected', /Connected to Acme/],
    ];
    // Each key is saved (and tested), then tested again with Test. An inconclusive verdict
    // leaves a freshly saved key unverified: "could not verify", never "invalid". (No key
    // works until the last, so each save serves at once: over a working key, a new one is
    // tested first; see the replace test below.)
    for (const [scenario, badge, words] of cases) {
      await settingsCard(page, 'stripe').getByLabel('Secret or restricted key').fill(stripeKey(scenario));
      let item = await pressAndWait(page, 'stripe', 'Save Stripe key');
      await item.locator('.message[role=status] p', { hasText: words }).first().waitFor();
      item = await pressAndWait(page, 'stripe', 'Test Stripe connection');
      await item.locator('.message[role=status] p', { hasText: words }).first().waitFor();
      await item.locator('.last-test', { hasText: words }).waitFor();
      if (scenario !== 'valid') {
        // The next step, in the service's words.
        await item.locator('.message[role=status] p', { hasText: /^What to do: / }).first().waitFor();
      }
      const shown = (await item.locator('.badge').innerText()).replace(/\s+/g, ' ').trim();
      assert.ok(shown.endsWith(badge), `${scenario}: the badge says ${shown}`);
      if (scenario === 'badkey') {
        // A rejected key says since when, in words.
        await item.locator('.usage', { hasText: /^Stopped working on \d{1,2} [A-Z][a-z]{2} · / }).waitFor();
        // The history, in words, newest first: rejected by this Test, after the save's own.
        await item.getByText('History').click();
        const lines = item.locator('ol.history li');
        await lines.first().getByText(/^Stopped working on \d{1,2} [A-Z][a-z]{2}: the provider does not accept this key$/).waitFor();
        assert.match(await lines.last().innerText(), /^New key saved on /, 'the oldest change is the first save');
      }
      await assertNoSecret(page, stripeKey(scenario));
    }
    // An entry without a connection test.
    await settingsCard(page, 'acme-crm').getByLabel('API token').fill('acme_fake_token_0001');
    await settingsCard(page, 'acme-crm').getByRole('button', { name: 'Save Acme CRM key' }).click();
    await settingsCard(page, 'acme-crm').getByText('This provider has no connection test').first().waitFor();
    await s.close();
  });

  test('a connection test that crashes: could not verify, the key is kept, the page keeps working', async () => {
    // An entry of this test's own whose plugin traps (tests/hostile-plugin), retired at the end
    // so that the other tests' Marketplace does not list it.
    const key = `faulty-${process.pid}`;
    const asAdmin = { authorization: `Bearer ${admin}` };
    const [host, port] = fakes.split(':');
    const s = await signIn({ path: '/settings/integrations' });
    const { page } = s;
    try {
      // The plugin passes the conformance suite (it behaves unless the key is "armed"), as a
      // plugin with a bug on some inputs would, and crashes on the key pasted below.
      const plugin = readFileSync(join(targetDir, 'plugins/hostile.wasm'));
      const upload = await page.request.put(`${base}/v1/admin/plugins`, {
        data: plugin, headers: { ...asAdmin, 'content-type': 'application/wasm' },
      });
      assert.equal(upload.status(), 200, await upload.text());
      const spec = {
        name: 'Faulty Co', description: 'A provider whose connection test crashes.', category: 'Testing',
        auth_type: 'api-key', credential_label: 'API key', help_url: 'https://example.com/keys',
        test_plugin: { digest: (await upload.json()).digest, config: { mode: 'trap', armed_by_key: true, url: `http://${fakes}/generic/v1/me` } },
        egress: [{ scheme: 'http', host, port: Number(port) }],
        fixtures: {
          credential: { key: 'faulty-fixture-key-000000' },
          cases: [
            { name: 'a wrong key is refused', source: 'https://example.com/docs/errors', answers: [{ status: 401, body: { error: 'bad key' } }], expect: { verdict: 'invalid-credential' } },
            { name: 'a working key', source: 'https://example.com/docs/me', answers: [{ status: 200, body: { ok: true } }], expect: { verdict: 'connected' } },
          ],
        },
      };
      const created = await page.request.put(`${base}/v1/admin/providers/${key}`, { data: spec, headers: asAdmin });
      assert.equal(created.status(), 201, await created.text());

      await page.goto(`${base}/marketplace/integrations`);
      await card(page, 'Faulty Co').getByRole('button', { name: 'Install Faulty Co' }).click();
      const dialog = page.getByRole('dialog', { name: 'Install Faulty Co' });
      await dialog.getByLabel('API key').fill('faulty-armed-key-0000000');
      await dialog.getByRole('button', { name: 'Save and test' }).click();
      await dialog.getByText('The connection test failed on our side. This says nothing about the key.').waitFor();
      await dialog.getByRole('button', { name: 'Done' }).click();

      await page.getByRole('link', { name: 'Settings', exact: true }).click();
      const item = await pressAndWait(page, key, 'Test Faulty Co connection');
      await item.locator('.message[role=status]').getByText('The connection test failed on our side. This says nothing about the key.').waitFor();
      assert.match(await item.locator('.badge').innerText(), /Could not verify/);
      const view = await integration(page, key);
      assert.equal(view.status, 'unverified', 'a crash never marks the key invalid');
      assert.equal(view.last_test.verdict, 'plugin-fault');
      assert.ok(view.mask, 'the key is kept');
      // The service keeps serving and the page still loads with the key's mask.
      assert.equal((await page.request.get(`${base}/healthz`)).status(), 200);
      await page.reload();
      assert.equal(await settingsCard(page, key).getByLabel('API key').inputValue(), view.mask.masked);
      await assertNoSecret(page, 'faulty-armed-key-0000000');
    } finally {
      await page.request.delete(`${base}/v1/admin/providers/${key}`, { headers: asAdmin });
    }
    await s.close();
  });

  test('a new key over a working one: tested first, the working key stays in use until it passes or the user chooses', async () => {
    const s = await signIn({ path: '/settings/integrations' });
    const { page } = s;
    const working = anthropicKey('valid');
    const install = await page.request.post(`${base}/v1/integrations`, {
      data: { provider: 'anthropic', key: working }, headers: { origin: base },
    });
    assert.equal(install.status(), 201);
    await page.reload();
    const resolved = async () => {
      const r = await fetch(`${base}/v1/resolve`, {
        method: 'POST',
        headers: { authorization: `Bearer ${service}`, 'content-type': 'application/json' },
        body: JSON.stringify({ tenant: s.tenant, provider: 'anthropic' }),
      });
      return (await r.json()).api_key;
    };
    const field = () => settingsCard(page, 'anthropic').getByLabel('API key');
    const badge = async () => (await settingsCard(page, 'anthropic').locator('.badge').innerText()).replace(/\s+/g, ' ').trim();

    // A wrong paste: refused in words, and nothing changes.
    await field().fill(anthropicKey('badkey'));
    await settingsCard(page, 'anthropic').getByRole('button', { name: 'Save Anthropic key' }).click();
    const alert = settingsCard(page, 'anthropic').locator('.message[role=alert]');
    await alert.getByText(/Anthropic refused the new key: The provider does not accept this key\./).waitFor();
    assert.match(await alert.innerText(), /Nothing changed: your current key \(.+\) stays in use\. Check that you copied the whole key/);
    assert.ok((await badge()).endsWith('Connected'));
    assert.equal(await resolved(), working, 'the working key still serves');

    // A slow provider: while the new key is tested, the page says the current key stays in use.
    await field().fill(anthropicKey('slow-valid'));
    await settingsCard(page, 'anthropic').getByRole('button', { name: 'Save Anthropic key' }).click();
    await settingsCard(page, 'anthropic').getByText('Testing the new key… your current key stays in use.').waitFor();
    assert.equal(await resolved(), working, 'never the key under test');
    await page.locator('section.integration[data-provider="anthropic"] .message[role=status]')
      .getByText('The new key passed its test and replaced the old one.').waitFor({ timeout: 20_000 });
    assert.equal(await resolved(), anthropicKey('slow-valid'));

    // A test that cannot conclude: the new key waits for a choice. Discard it...
    await field().fill(anthropicKey('garbage'));
    let item = await pressAndWait(page, 'anthropic', 'Save Anthropic key');
    const waiting = item.getByRole('group', { name: 'New key waiting' });
    await waiting.getByText(/could not be verified: The provider answered in a way the test does not recognise\./).waitFor();
    await waiting.getByText('Your current key stays in use. Use the new key anyway, or discard it.').waitFor();
    assert.equal(await resolved(), anthropicKey('slow-valid'));
    item = await pressAndWait(page, 'anthropic', 'Discard the new key');
    await item.getByText('The new key was discarded; your current key stays in use.').waitFor();
    assert.equal(await item.getByRole('group', { name: 'New key waiting' }).count(), 0);
    // ...or use it anyway, by an explicit choice.
    await field().fill(anthropicKey('garbage'));
    item = await pressAndWait(page, 'anthropic', 'Save Anthropic key');
    item = await pressAndWait(page, 'anthropic', 'Use the new key anyway');
    await item.getByText('Switched to the new key, without a conclusive test.').waitFor();
    assert.ok((await badge()).endsWith('Could not verify'));
    assert.equal(await resolved(), anthropicKey('garbage'));
    // The history names the replacements and who made them.
    await item.getByText('History').click();
    await item.locator('ol.history li').first().getByText(/^Key replaced by .+ on \d{1,2} [A-Z][a-z]{2}: chosen without a conclusive test$/).waitFor();
    await item.locator('ol.history li', { hasText: /the new key passed its test$/ }).waitFor();
    await assertNoSecret(page, working, anthropicKey('badkey'), anthropicKey('slow-valid'), anthropicKey('garbage'));
    await s.close();
  });

  test('an expiring key: asked where the provider issues them, and Settings warns ahead', async () => {
    const s = await signIn();
    const { page } = s;
    // Meta Ads issues tokens that may lapse: its dialog asks when; Anthropic's does not.
    await card(page, 'Meta Ads').getByRole('button', { name: 'Install Meta Ads' }).click();
    const meta = page.getByRole('dialog', { name: 'Install Meta Ads' });
    await meta.getByLabel('Expires on').waitFor();
    await page.keyboard.press('Escape');
    await card(page, 'Anthropic').getByRole('button', { name: 'Install Anthropic' }).click();
    assert.equal(await page.getByRole('dialog', { name: 'Install Anthropic' }).getByLabel('Expires on').count(), 0);
    await page.keyboard.press('Escape');

    const soon = new Date(Date.now() + 5 * 86_400_000).toISOString();
    const install = await page.request.post(`${base}/v1/integrations`, {
      data: { provider: 'anthropic', key: anthropicKey('valid'), expires_at: soon }, headers: { origin: base },
    });
    assert.equal(install.status(), 201, await install.text());
    await page.goto(`${base}/settings/integrations`);
    const line = settingsCard(page, 'anthropic').locator('.expiry');
    await line.getByText(/^Expires in 5 days, on \d{1,2} [A-Z][a-z]{2} \d{4}: paste a new key before then\.$/).waitFor();
    assert.match(await line.getAttribute('class'), /tone-warn/);
    await s.close();
  });

  test('a member sees no Uninstall; an owner uninstalls after confirming', async () => {
    const tenant = `shared-${process.pid}`;
    const member = await signIn({ role: 'member', tenant, path: '/settings/integrations' });
    await member.page.request.post(`${base}/v1/integrations`, { data: { provider: 'sendgrid' }, headers: { origin: base } });
    await member.page.reload();
    await settingsCard(member.page, 'sendgrid').waitFor();
    assert.equal(await member.page.getByRole('button', { name: /Uninstall/ }).count(), 0, 'no Uninstall for a member');
    await member.close();

    const owner = await signIn({ role: 'owner', tenant, path: '/settings/integrations' });
    const { page } = owner;
    await settingsCard(page, 'sendgrid').getByRole('button', { name: 'Uninstall SendGrid' }).click();
    const confirm = page.getByRole('dialog', { name: 'Uninstall SendGrid?' });
    await confirm.getByRole('button', { name: 'Cancel' }).click();
    assert.ok(await integration(page, 'sendgrid'), 'Cancel keeps it');
    await settingsCard(page, 'sendgrid').getByRole('button', { name: 'Uninstall SendGrid' }).click();
    await confirm.getByRole('button', { name: 'Uninstall SendGrid' }).click();
    await page.getByText('SendGrid was uninstalled and its key deleted.').waitFor();
    assert.equal(await integration(page, 'sendgrid'), undefined);
    await page.getByText('No integrations are installed yet.').waitFor();
    await owner.close();
  });

  test('signed out, the page says so and offers the dev sign-in', async () => {
    const context = await browser.newContext({ viewport: DESKTOP });
    const page = await context.newPage();
    await page.goto(`${base}/settings/integrations`);
    await page.getByRole('heading', { name: 'You are not signed in' }).waitFor();
    await page.getByLabel('Workspace').fill(`signin-${process.pid}`);
    await page.getByLabel('Role').selectOption('member');
    await page.getByRole('button', { name: 'Sign in (development)' }).click();
    await page.waitForURL(`${base}/settings/integrations`);
    await page.getByText(`Signed in to signin-${process.pid}`).waitFor();
    await page.getByText('No integrations are installed yet.').waitFor();
    await context.close();
  });
});

describe('Layout', () => {
  test('both pages fit 375 px and the screenshots are written', async () => {
    const tenant = `shots-${process.pid}`;
    const setup = await signIn({ tenant });
    const post = (data) => setup.page.request.post(`${base}/v1/integrations`, { data, headers: { origin: base } });
    await post({ provider: 'anthropic', key: anthropicKey('valid') });
    await post({ provider: 'stripe', key: stripeKey('ratelimit') });
    await post({ provider: 'openai', key: openaiKey('badkey') });
    await post({ provider: 'sendgrid' });
    await setup.close();

    for (const [label, viewport] of [['desktop', DESKTOP], ['narrow', NARROW]]) {
      for (const page of ['marketplace', 'settings']) {
        const s = await signIn({ tenant, viewport, path: `/${page}/integrations` });
        const overflow = await s.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert.ok(overflow <= 0, `${page} at ${viewport.width} px scrolls sideways by ${overflow} px`);
        await s.page.screenshot({ path: join(screenshots, `${page}-${label}.png`), fullPage: label === 'desktop' });
        if (page === 'marketplace') {
          await card(s.page, 'Twilio').getByRole('button', { name: 'Install Twilio' }).click();
          const dialog = s.page.getByRole('dialog', { name: 'Install Twilio' });
          await dialog.waitFor();
          const box = await dialog.boundingBox();
          assert.ok(box.x >= 0 && box.x + box.width <= viewport.width, 'the dialog fits the width');
          await s.page.screenshot({ path: join(screenshots, `install-dialog-${label}.png`) });
        }
        await s.close();
      }
    }
  });
});

connectTests(ctx);
adminTests(ctx);
