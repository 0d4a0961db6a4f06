// The admin console, in a real Chromium against the Worker under workerd: every page for a
// platform admin (no missing message, no axe-core violation), refused to anyone else; an entry
// created in the editor (a refusal shown beside its field, a logo, the live preview) and then
// installed by a tenant; a plugin uploaded and a key tried on it (accepted, refused, the
// exchange shown without the key); a platform key set; a failing tenant key seen in the fleet
// and re-checked; a dead webhook redelivered once its receiver is mended; the keys left under
// the old master key by a rotation (browser-env's BYOK_EDGE_ROTATE) resealed, and still working;
// the audit log searched and exported.
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

  /**
   * Polls `check(arg)` in the page (awaited: it may fetch) every half second until it is true;
   * fails naming `what` after `seconds`.
   */
  async function until(page, what, check, arg = null, seconds = 30) {
    const deadline = Date.now() + seconds * 1000;
    while (!(await page.evaluate(check, arg))) {
      assert.ok(Date.now() < deadline, `${what} within ${seconds} s`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }

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
      await until(page, 'the entry has its logo', async (k) => {
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

    test('set a platform key, test it, see its last use, and set one tenant\'s policy for it', async () => {
      const s = await signedIn('platform-admin', '/admin/platform-keys');
      const { page } = s;
      await ready(page);
      const panel = page.locator('section[data-provider="mistral"]');
      const secret = 'platformMistralvalid0000000000XyZ9';
      await panel.getByLabel(/API key/).fill(secret);
      await panel.getByRole('button', { name: /Save/ }).click();
      await panel.getByText(/Saved\. The platform key is now .*XyZ9/).waitFor();
      await panel.getByText('Not tested since it was set').waitFor();
      // Test: the entry's real test path on the stored key (the fake accepts it).
      await panel.getByRole('button', { name: /^Test\W+the platform key for Mistral AI$/ }).click();
      await panel.locator('.badge', { hasText: 'Connected' }).waitFor();
      assert.doesNotMatch(await panel.locator('dl.facts').innerText(), /Never/, 'verified just now');
      assert.ok(!(await page.locator('body').innerText()).includes(secret));

      // A tenant with no key of its own is answered with it: the page shows today as its last use.
      const tenant = fresh('fallback-');
      const resolved = await page.request.post(`${ctx.base}/v1/resolve`, {
        headers: { authorization: `Bearer ${ctx.service}` },
        data: { tenant, provider: 'mistral' },
      });
      assert.equal(resolved.status(), 200);
      assert.equal((await resolved.json()).source, 'platform');
      const today = new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeZone: 'UTC' }).format(new Date());
      await until(page, 'the platform key\'s last use is known', async () => {
        const r = await fetch('/v1/admin/platform-keys');
        return (await r.json()).platform_keys.some((k) => k.provider === 'mistral' && k.last_used);
      });
      await page.reload();
      await ready(page);
      await panel.getByText(today, { exact: true }).waitFor();

      // That tenant's policy: first a daily cap, which counts its calls to the platform key…
      const policy = page.locator('section').filter({ has: page.getByRole('heading', { name: 'A tenant’s policy' }) });
      await policy.getByLabel('Tenant', { exact: true }).fill(tenant);
      await policy.getByLabel('Provider', { exact: true }).selectOption('mistral');
      await policy.getByRole('button', { name: 'Look up' }).click();
      await policy.getByText(`Without a key of its own, ${tenant} is answered with the platform key for Mistral AI.`).waitFor();
      await policy.getByLabel('Daily cap on the platform key').fill('25');
      await policy.getByRole('button', { name: 'Save the policy' }).click();
      await policy.getByText(`Saved: the policy of ${tenant} for Mistral AI.`).waitFor();
      const again = await page.request.post(`${ctx.base}/v1/resolve`, {
        headers: { authorization: `Bearer ${ctx.service}` },
        data: { tenant, provider: 'mistral' },
      });
      assert.equal(again.status(), 200);
      await policy.getByRole('button', { name: 'Look up' }).click();
      await policy.getByText('1 call used it today.').waitFor();
      assert.equal(await policy.getByLabel('Daily cap on the platform key').inputValue(), '25');
      // …then never the platform key for it.
      await policy.getByLabel('The platform key for this tenant').selectOption('never');
      await policy.getByRole('button', { name: 'Save the policy' }).click();
      await policy.getByText(`The platform key does not answer for ${tenant} on Mistral AI.`).waitFor();
      const refused = await page.request.post(`${ctx.base}/v1/resolve`, {
        headers: { authorization: `Bearer ${ctx.service}` },
        data: { tenant, provider: 'mistral' },
      });
      assert.notEqual(refused.status(), 200, 'the policy holds: no platform key for this tenant');
      await s.close();
    });

    test('a dead webhook is redelivered from the console once its receiver is mended', async () => {
      // The receiver refuses this workspace's webhooks: the one attempt fails, a dead letter.
      const owner = await signedIn('owner', '/settings/integrations');
      await ready(owner.page);
      const badKey = ctx.openaiKey('badkey');
      const installed = await owner.page.evaluate(async (key) => (await fetch('/v1/integrations', {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ provider: 'openai', key }),
      })).json(), badKey);
      assert.equal(installed.status, 'invalid');
      const tenant = owner.tenant;
      await owner.close();

      const s = await signedIn('platform-admin', '/admin/webhooks');
      const { page } = s;
      await ready(page);
      const deadFor = (state) => until(page, `the event of ${tenant} is ${state} (receiver: ${ctx.receiver.seen.slice(-6).join('; ')})`,
        async ([t, st]) => {
          const r = await fetch(`/v1/admin/webhooks?delivery=${st}`);
          return (await r.json()).events.some((e) => e.tenant === t && e.provider === 'openai');
        }, [tenant, state]);
      await deadFor('dead');
      await page.reload();
      await ready(page);
      const event = page.locator('article.event').filter({ has: page.getByRole('heading', { name: `openai for ${tenant}`, exact: true }) }).first();
      await event.locator('.badge', { hasText: 'Dead letters' }).waitFor();
      // The body shown is the event's data, never a key.
      assert.ok(!(await event.innerText()).includes(badKey));

      ctx.receiver.mendedFor.add(tenant);
      await event.getByRole('button', { name: new RegExp(`^Redeliver\\W+the webhook of openai for ${tenant}$`) }).click();
      await page.getByText(`The webhook of openai for ${tenant} is being sent again.`).waitFor();
      await deadFor('delivered');
      const got = ctx.receiver.accepted.filter((a) => JSON.parse(a.body).data.tenant === tenant);
      assert.equal(got.length, 1, `the receiver got the event once: ${ctx.receiver.seen.slice(-10).join('; ')}`);
      const body = JSON.parse(got[0].body);
      assert.equal(body.type, 'integration.status_changed');
      assert.equal(body.data.to, 'invalid');
      assert.ok(got[0].headers['webhook-signature'], 'signed (Standard Webhooks)');
      assert.ok(!got[0].body.includes(badKey), 'no key in the body');
      // Delivered now: the page shows it under Delivered, and no longer among the dead letters.
      await page.getByLabel('Show').selectOption('delivered');
      await event.locator('.badge', { hasText: 'Delivered' }).waitFor();
      await s.close();
    });

    test('after a rotation, reseal moves every stored key under the new primary key, and they still work', async () => {
      const s = await signedIn('platform-admin', '/admin/keyring');
      const { page } = s;
      await ready(page);
      const keys = page.locator('table tbody tr');
      const before = await page.evaluate(async () => (await fetch('/v1/admin/keyring')).json());
      assert.equal(before.primary, 'rotated');
      const old = before.keys.find((k) => k.id === 'e2e');
      assert.ok(old && old.integrations >= 3, `the rotation left keys under e2e: ${JSON.stringify(before)}`);
      assert.match(await keys.filter({ hasText: 'e2e' }).innerText(), /Old/);
      await page.getByText(`${before.remaining} stored values are still sealed under old keys; the primary key is rotated.`).waitFor();

      await page.getByRole('button', { name: 'Reseal under rotated' }).click();
      await page.getByText(`Done: ${before.remaining} values re-sealed; everything is under rotated.`).waitFor();
      await page.getByText('Every stored value is sealed under the primary key, rotated.').waitFor();
      const after = await page.evaluate(async () => (await fetch('/v1/admin/keyring')).json());
      assert.equal(after.remaining, 0);
      assert.ok(!after.keys.some((k) => k.id === 'e2e' && (k.integrations || k.platform_keys)), JSON.stringify(after));
      await s.close();

      // A resealed key still opens: its workspace tests it and the provider accepts it.
      const sealed = await ctx.browser.newContext();
      const page2 = await sealed.newPage();
      await page2.goto(`${ctx.base}/dev/login?tenant=sealed-1&role=owner&sub=sealed-owner&next=${encodeURIComponent('/settings/integrations')}`);
      const answer = await page2.evaluate(async () => {
        const r = await fetch('/v1/integrations/stripe/test', { method: 'POST' });
        return { status: r.status, body: await r.json() };
      });
      assert.equal(answer.status, 200, JSON.stringify(answer));
      assert.equal(answer.body.status, 'connected', JSON.stringify(answer));
      await sealed.close();
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
