// The admin console, in a real Chromium against the Worker under workerd: every page for a
// platform admin (no missing message, no axe-core violation), refused to anyone else; an entry
// created in the editor (a refusal shown beside its field, a logo, the live preview) and then
// installed by a tenant; a plugin uploaded and a key tried on it (accepted, refused, the
// exchange shown without the key); a platform key set; a failing tenant key seen in the fleet
// and re-checked; the audit log searched and exported.
//
// Imported by pages.test.mjs, which starts one edge for all the browser tests.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { axeViolations } from './connect.cases.mjs';

const PAGES = ['catalog', 'plugins', 'platform-keys', 'fleet', 'webhooks', 'keyring', 'audit'];

export function adminTests(ctx) {
  let counter = 0;
  const fresh = (prefix) => `${prefix}${++counter}-${process.pid}`;

  /** A page signed in with `role` (dev login) on `path`. */
  async function signedIn(role, path, { locale } = {}) {
    const context = await ctx.browser.newContext(locale ? { locale } : {});
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    const tenant = role === 'platform-admin' ? 'platform' : fresh('ws');
    const response = await page.goto(`${ctx.base}/dev/login?tenant=${tenant}&role=${role}&sub=${role}-${counter}&next=${encodeURIComponent(path)}`);
    return {
      page,
      tenant,
      response,
      async close() {
        assert.deepEqual(errors, [], 'no script error on the page');
        await context.close();
      },
    };
  }

  const ready = (page) => page.waitForSelector('#content:not([aria-busy])');

  describe('Admin console', () => {
    for (const locale of ['en-GB', 'fr-FR']) {
      test(`every page loads for a platform admin (${locale}): every message, no axe-core violation`, async () => {
        const s = await signedIn('platform-admin', '/admin/catalog', { locale });
        for (const name of PAGES) {
          await s.page.goto(`${ctx.base}/admin/${name}`);
          await ready(s.page);
          const current = await s.page.locator('nav.console-nav a[aria-current="page"]').getAttribute('href');
          assert.equal(current, `/admin/${name}`);
          const missing = await s.page.evaluate(async () => (await import('/assets/i18n.js')).missingMessages());
          assert.deepEqual(missing, [], `${name}: no message missing`);
          assert.deepEqual(await axeViolations(s.page), [], `${name} (${locale})`);
          if (locale === 'en-GB' && ['catalog', 'fleet', 'plugins'].includes(name)) {
            await s.page.screenshot({ path: join(ctx.root, `docs/screenshots/admin-${name}-desktop.png`), fullPage: true });
          }
        }
        if (locale === 'en-GB') {
          // At 375 px, the console stays usable (and the README shows it).
          await s.page.setViewportSize({ width: 375, height: 812 });
          for (const name of ['catalog', 'fleet']) {
            await s.page.goto(`${ctx.base}/admin/${name}`);
            await ready(s.page);
            const wide = await s.page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
            assert.equal(wide, false, `${name} does not scroll sideways at 375 px`);
            await s.page.screenshot({ path: join(ctx.root, `docs/screenshots/admin-${name}-narrow.png`) });
          }
        }
        await s.close();
      });
    }

    test('an owner or a member sees no console page and reaches no console route', async () => {
      for (const role of ['owner', 'member']) {
        const s = await signedIn(role, '/admin/fleet');
        assert.equal(s.response.status(), 403);
        await s.page.getByRole('heading', { name: 'This console is for platform admins' }).waitFor();
        for (const path of ['/v1/admin/providers', '/v1/admin/fleet', '/v1/admin/audit', '/v1/admin/keyring', '/v1/admin/webhooks']) {
          assert.equal((await s.page.request.get(`${ctx.base}${path}`)).status(), 403, `${role} ${path}`);
        }
        await s.close();
      }
    });

    test('create an entry in the editor: a refusal beside its field, a logo, the preview, then tenants install it', async () => {
      const groq = JSON.parse(readFileSync(join(ctx.root, 'seeds/groq/entry.json'), 'utf8'));
      const fixtures = JSON.parse(readFileSync(join(ctx.root, 'seeds/groq/fixtures.json'), 'utf8'));
      fixtures.credential = { key: 'gsk_FAKE000000000000000000000000000000000000000000000000' };
      const port = Number(ctx.fakes.split(':')[1]);
      const config = { ...groq.test_plugin.config, url: `http://${ctx.fakes}/groq/openai/v1/models` };
      const key = fresh('acme-ai-');
      const s = await signedIn('platform-admin', '/admin/catalog');
      const { page } = s;
      await ready(page);
      await page.getByRole('button', { name: 'New entry' }).click();
      await page.getByLabel('Key', { exact: true }).fill(key);
      await page.getByLabel('Name', { exact: true }).fill('Acme AI');
      await page.getByLabel('Description').fill('Models from Acme AI in your workspace.');
      await page.getByLabel('Category').fill('AI');
      await page.getByLabel('Key label').fill('API key');
      await page.getByLabel('Where to find it (URL)').fill('http://example.com/keys');
      await page.getByLabel('Steps').fill('Open the console.\nCreate a key.\nCopy it.');
      await page.getByLabel('Plugin digest').fill(groq.test_plugin.digest);
      await page.getByLabel('Plugin configuration (JSON)').fill(JSON.stringify(config));
      await page.getByLabel('Egress rules (JSON)').fill(JSON.stringify([{ scheme: 'http', host: '127.0.0.1', port }]));
      await page.getByLabel('Fixtures (JSON)').fill(JSON.stringify(fixtures));
      // The live preview shows the card as tenants will.
      await page.locator('.preview-cards li h3', { hasText: 'Acme AI' }).waitFor();
      await page.getByRole('button', { name: 'Save the entry' }).click();
      // The service refuses the http help URL: said beside that field.
      const helpUrl = page.getByLabel('Where to find it (URL)');
      await page.waitForFunction(() => document.querySelector('[aria-invalid="true"]'));
      assert.equal(await helpUrl.getAttribute('aria-invalid'), 'true');
      const described = await helpUrl.getAttribute('aria-describedby');
      const said = await page.locator(`[id="${described.split(' ').find((id) => id.includes('error')) ?? described.split(' ').at(-1)}"]`).innerText();
      assert.match(said, /https/i);
      await helpUrl.fill('https://example.com/keys');
      await page.getByRole('button', { name: 'Save the entry' }).click();
      await page.getByText('Acme AI was created. It is in the Marketplace now.').waitFor();
      // A logo: an SVG, uploaded once the entry exists.
      const svg = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><circle cx="12" cy="12" r="10" fill="#0a7"/></svg>';
      await page.locator('input[type="file"]').setInputFiles({ name: 'acme.svg', mimeType: 'image/svg+xml', buffer: Buffer.from(svg) });
      await page.getByRole('button', { name: 'Upload the logo' }).click();
      await page.getByText('The logo was uploaded.').waitFor();
      await page.waitForFunction(async (k) => {
        const r = await fetch(`/v1/admin/providers`);
        const entry = (await r.json()).providers.find((p) => p.key === k);
        return Boolean(entry?.logo);
      }, key);
      await s.close();

      // A tenant finds it in the Marketplace and connects it (the fake accepts this key).
      const tenant = await signedIn('owner', '/marketplace/integrations');
      await ready(tenant.page);
      await tenant.page.getByLabel('Search providers').fill('Acme AI');
      await tenant.page.getByRole('button', { name: 'Install Acme AI' }).click();
      const dialog = tenant.page.getByRole('dialog', { name: 'Install Acme AI' });
      await dialog.getByLabel('API key').fill('gsk_FAKEvalid00000000000000000000000000000000000000000');
      await dialog.getByRole('button', { name: 'Save and test' }).click();
      await dialog.getByText(/Connected/).first().waitFor();
      await tenant.close();
    });

    test('try a key on an entry: accepted, refused, each request shown without the key', async () => {
      const s = await signedIn('platform-admin', '/admin/plugins');
      const { page } = s;
      await ready(page);
      // Upload the http-check component and see what the service made of it.
      const wasm = readFileSync(join(ctx.targetDir, 'plugins/http-check.wasm'));
      await page.getByLabel('Plugin file (.wasm)').setInputFiles({ name: 'http-check.wasm', mimeType: 'application/wasm', buffer: wasm });
      await page.getByRole('button', { name: 'Upload', exact: true }).click();
      await page.getByText(/was accepted/).waitFor();
      const digest = await page.locator('dl').first().innerText();
      assert.match(digest, /[0-9a-f]{64}/);

      const tryPanel = page.locator('section').filter({ has: page.getByRole('heading', { name: 'Try a key' }) });
      await tryPanel.getByLabel('Entry').selectOption('groq');
      const good = 'gsk_FAKEvalid00000000000000000000000000000000000000000';
      await tryPanel.getByLabel('API key').fill(good);
      await tryPanel.getByRole('button', { name: 'Try' }).click();
      await tryPanel.getByText(/Connected/).first().waitFor();
      const rows = tryPanel.locator('table tbody tr');
      assert.ok(await rows.count() >= 1, 'the exchange is listed');
      assert.match(await rows.first().innerText(), /GET[\s\S]*127\.0\.0\.1[\s\S]*200/);
      const bad = 'gsk_FAKEbadkey0000000000000000000000000000000000000000';
      await tryPanel.getByLabel('API key').fill(bad);
      await tryPanel.getByRole('button', { name: 'Try' }).click();
      await tryPanel.getByText('The provider does not accept this key.').waitFor();
      const text = await page.locator('body').innerText();
      assert.ok(!text.includes(good) && !text.includes(bad), 'no key on the page');
      assert.equal(await tryPanel.getByLabel('API key').inputValue(), '', 'the field is cleared');
      await s.close();
    });

    test('set a platform key: saved and shown masked', async () => {
      const s = await signedIn('platform-admin', '/admin/platform-keys');
      const { page } = s;
      await ready(page);
      const panel = page.locator('section[data-provider="mistral"]');
      const secret = 'platformMistralKey000000000000XyZ9';
      await panel.getByLabel(/API key/).fill(secret);
      await panel.getByRole('button', { name: /Save/ }).click();
      await panel.getByText(/Saved\. The platform key is now .*XyZ9/).waitFor();
      assert.ok(!(await page.locator('body').innerText()).includes(secret));
      await s.close();
    });

    test('a failing tenant key appears in the fleet, is re-checked now, and the audit log finds it (CSV too)', async () => {
      const owner = await signedIn('owner', '/settings/integrations');
      await ready(owner.page);
      const installed = await owner.page.evaluate(async (key) => (await fetch('/v1/integrations', {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ provider: 'openai', key }),
      })).json(), ctx.openaiKey('badkey'));
      assert.equal(installed.status, 'invalid');
      const tenant = owner.tenant;
      await owner.close();

      const s = await signedIn('platform-admin', '/admin/fleet');
      const { page } = s;
      await ready(page);
      const recheck = page.getByRole('button', { name: new RegExp(`^Re-check now\\W+OpenAI for ${tenant}$`) });
      // The newest failure is last (oldest first, 50 a page): page on until it shows.
      for (let pages = 0; ; pages += 1) {
        const shown = await recheck.waitFor({ timeout: 3000 }).then(() => true, () => false);
        if (shown) break;
        const more = page.getByRole('button', { name: 'More', exact: true });
        if (!(pages < 20 && await more.isVisible())) {
          const api = await page.evaluate(async () => (await fetch('/v1/admin/fleet')).json());
          assert.fail(`${tenant} is not among the failing keys shown: ${JSON.stringify(api.failing.map((f) => f.tenant))} next=${api.failing_next} | ${await page.locator('main').ariaSnapshot()}`.slice(-2500));
        }
        await more.click();
      }
      await recheck.click();
      await page.getByText(`Queued: OpenAI for ${tenant} is re-checked in a moment.`).waitFor();

      await page.goto(`${ctx.base}/admin/audit`);
      await ready(page);
      await page.getByLabel('Tenant').fill(tenant);
      await page.getByRole('button', { name: 'Search' }).click();
      await page.locator('table tbody tr', { hasText: 'recheck-now' }).waitFor();
      const href = await page.getByRole('link', { name: /Export CSV/ }).getAttribute('href');
      assert.match(href, new RegExp(`format=csv`));
      assert.match(href, new RegExp(`tenant=${tenant}`));
      const csv = await page.request.get(`${ctx.base}${href}`);
      assert.match(csv.headers()['content-type'], /text\/csv/);
      const body = await csv.text();
      assert.ok(body.startsWith('at,actor,tenant,provider,action,outcome\r\n'), body);
      assert.ok(body.includes(`,${tenant},openai,recheck-now,queued\r\n`), body);
      await s.close();
    });
  });
}
