// A check of the stand-in platform app itself (not a browser test of the service: the
// *.test.mjs here run against the real Worker). Run by hand:
//
//   node tests/browser/platform-app.selfcheck.mjs            # keys, tokens, routes, backend
//   node tests/browser/platform-app.selfcheck.mjs --browser  # also @byok/connect in Chromium,
//                                                            # against a fake BYOK page
//
// The backend is checked against a fake BYOK on 127.0.0.1 that verifies the bearer token with
// the app's JWKS.

import assert from 'node:assert/strict';
import { createHmac, createPublicKey, verify } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { jwkThumbprint, mintHs256WithPublicKey, mintNone, ROLES_CLAIM, startPlatformApp } from './platform-app.mjs';

const decode = (part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));

function parse(token) {
  const [h, p, s] = token.split('.');
  return { header: decode(h), payload: decode(p), input: Buffer.from(`${h}.${p}`), signature: Buffer.from(s, 'base64url'), raw: s };
}

/** Verifies a token with the JWKS the way a careful verifier would (alg from the JWK, not the header). */
function verifyWith(jwks, token) {
  const { header, payload, input, signature } = parse(token);
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  if (!jwk) return { ok: false, why: 'unknown kid' };
  if (jwk.alg !== header.alg) return { ok: false, why: 'alg mismatch' };
  const { kid, use, alg, ...material } = jwk;
  const key = createPublicKey({ key: material, format: 'jwk' });
  const ok = {
    RS256: () => verify('sha256', input, key, signature),
    ES256: () => verify('sha256', input, { key, dsaEncoding: 'ieee-p1363' }, signature),
    EdDSA: () => verify(null, input, key, signature),
  }[alg]();
  return { ok, payload, header };
}

async function fakeByok(app) {
  const sessions = new Map();
  const received = [];
  let counter = 0;
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    if (req.method === 'POST' && url.pathname === '/v1/connect/sessions') {
      const chunks = [];
      for await (const c of req) chunks.push(c);
      const body = JSON.parse(Buffer.concat(chunks).toString());
      const token = (req.headers.authorization ?? '').replace(/^Bearer /, '');
      const jwks = await (await fetch(app.jwksUrl)).json();
      const check = verifyWith(jwks, token);
      received.push({ body, check });
      if (!check.ok) {
        res.writeHead(401, { 'content-type': 'application/problem+json' });
        return res.end(JSON.stringify({ title: 'Unauthorized', status: 401 }));
      }
      counter += 1;
      const id = `tok${counter}`;
      sessions.set(id, body);
      res.writeHead(201, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ url: `${base}/connect/${id}`, expires_at: new Date(Date.now() + 600_000).toISOString() }));
    }
    const m = url.pathname.match(/^\/connect\/(\w+)$/);
    if (req.method === 'GET' && m && sessions.has(m[1])) {
      const s = sessions.get(m[1]);
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      // A stand-in for the connect page: the same posting rules as web/assets/embed.js.
      return res.end(`<!doctype html><title>Fake BYOK</title><h1>Fake BYOK</h1>
<script type="module">
const s = ${JSON.stringify(s)};
const to = s.mode === 'popup' ? window.opener : window.parent;
to.postMessage({ byok: 1, type: 'ready' }, s.origin);
to.postMessage({ byok: 1, type: 'saved', provider: s.provider, status: 'connected' }, s.origin);
to.postMessage({ byok: 1, type: 'saved', provider: 'wrong-origin' }, 'http://localhost:1');
to.postMessage({ type: 'saved', provider: 'no-marker' }, s.origin);
window.addEventListener('message', (e) => {
  if (e.origin !== s.origin || e.source !== to || e.data?.byok !== 1) return;
  if (e.data.type === 'close') to.postMessage({ byok: 1, type: 'closed' }, s.origin);
});
</script>`);
    }
    res.writeHead(404).end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const base = `http://127.0.0.1:${server.address().port}`;
  return { base, received, close: () => { server.closeAllConnections(); server.close(); } };
}

const app = await startPlatformApp();
let byok;
try {
  assert.match(app.origin, /^http:\/\/localhost:\d+$/);
  assert.equal(app.jwksUrl, `${app.origin}/.well-known/jwks.json`);
  assert.equal(app.issuer, 'https://idp.platform.test/');
  assert.equal(app.audience, 'byok');

  // JWKS: exactly the RFC 7517 members, caching, hit count.
  const res = await fetch(app.jwksUrl);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('cache-control'), 'max-age=300');
  assert.match(res.headers.get('content-type'), /^application\/json/);
  const jwks = await res.json();
  assert.deepEqual(Object.keys(jwks), ['keys']);
  const byKid = Object.fromEntries(jwks.keys.map((k) => [k.kid, k]));
  assert.deepEqual(Object.keys(byKid), ['rsa-1', 'ec-1', 'ed-1']);
  assert.deepEqual(Object.keys(byKid['rsa-1']).sort(), ['alg', 'e', 'kid', 'kty', 'n', 'use']);
  assert.deepEqual(Object.keys(byKid['ec-1']).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
  assert.deepEqual(Object.keys(byKid['ed-1']).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x']);
  assert.deepEqual([byKid['rsa-1'].kty, byKid['rsa-1'].alg, byKid['rsa-1'].use], ['RSA', 'RS256', 'sig']);
  assert.deepEqual([byKid['ec-1'].kty, byKid['ec-1'].crv, byKid['ec-1'].alg], ['EC', 'P-256', 'ES256']);
  assert.deepEqual([byKid['ed-1'].kty, byKid['ed-1'].crv, byKid['ed-1'].alg], ['OKP', 'Ed25519', 'EdDSA']);
  assert.equal(Buffer.from(byKid['rsa-1'].n, 'base64url').length, 256);
  assert.equal(app.jwksHits(), 1);

  // Tokens with each key verify against the served JWK.
  for (const kid of ['rsa-1', 'ec-1', 'ed-1']) {
    const token = app.mint({}, { kid });
    const { ok, header, payload } = verifyWith(jwks, token);
    assert.equal(ok, true, kid);
    assert.deepEqual(header, { alg: byKid[kid].alg, typ: 'JWT', kid });
    assert.equal(payload.iss, app.issuer);
    assert.equal(payload.aud, 'byok');
    assert.equal(payload.sub, 'user-1');
    assert.equal(payload.org_id, 'acme');
    assert.deepEqual(payload[ROLES_CLAIM], ['admin']);
    assert.equal(payload.exp - payload.iat, 600);
    assert.ok(Math.abs(payload.iat - Date.now() / 1000) < 5);
  }
  const ecSig = parse(app.mint({}, { kid: 'ec-1' })).signature;
  assert.equal(ecSig.length, 64, 'ES256 signatures are r||s (IEEE P1363)');

  // Claims merge; null removes; header overrides; mismatches.
  const custom = parse(app.mint({ sub: 'u2', org_id: null, exp: 1 }, { header: { typ: null, cty: 'x' } }));
  assert.equal(custom.payload.sub, 'u2');
  assert.equal('org_id' in custom.payload, false);
  assert.equal(custom.payload.exp, 1);
  assert.deepEqual(custom.header, { alg: 'RS256', kid: 'rsa-1', cty: 'x' });
  const mismatch = app.mint({}, { kid: 'ec-1', alg: 'RS256' });
  assert.equal(parse(mismatch).header.alg, 'RS256');
  assert.equal(verifyWith(jwks, mismatch).ok, false);
  assert.equal(verifyWith(jwks, app.mint({}, { kid: 'nope' })).ok, false);
  assert.equal(verifyWith(jwks, app.mint({}, { kid: 'rsa-1', header: { kid: 'ec-1' } })).ok, false);

  // Forgeries.
  const none = mintNone({ sub: 'evil' });
  assert.deepEqual(parse(app.mintNone({ sub: 'evil' })).header, parse(none).header);
  assert.ok(none.endsWith('.'));
  assert.deepEqual(parse(none).header, { alg: 'none', typ: 'JWT' });
  assert.equal(parse(none).payload.sub, 'evil');
  const hs = mintHs256WithPublicKey({ sub: 'evil' });
  const parsedHs = parse(hs);
  assert.deepEqual(parsedHs.header, { alg: 'HS256', typ: 'JWT', kid: 'rsa-1' });
  const pem = createPublicKey({ key: (({ kid, use, alg, ...m }) => m)(byKid['rsa-1']), format: 'jwk' }).export({ type: 'spki', format: 'pem' });
  assert.equal(createHmac('sha256', pem).update(parsedHs.input).digest('base64url'), parsedHs.raw);
  assert.equal(verifyWith(jwks, hs).ok, false);

  // Rotation: rsa-2 replaces rsa-1 in the JWKS; old kid can still be forged.
  const thumb1 = jwkThumbprint(byKid['rsa-1']);
  assert.equal(app.rotate(), 'rsa-2');
  assert.equal(app.currentKid(), 'rsa-2');
  const rotated = await (await fetch(app.jwksUrl)).json();
  assert.deepEqual(rotated.keys.map((k) => k.kid), ['rsa-2', 'ec-1', 'ed-1']);
  assert.notEqual(jwkThumbprint(rotated.keys[0]), thumb1);
  assert.equal(verifyWith(rotated, app.mint({}, { kid: 'rsa-2' })).ok, true);
  assert.equal(verifyWith(rotated, app.mint({}, { kid: 'rsa-1' })).ok, false);
  assert.equal(verifyWith(jwks, app.mint({}, { kid: 'rsa-1' })).ok, true, 'rsa-1 still signs, for forging');
  assert.equal(app.jwksHits(), 2);

  // Pages.
  const index = await fetch(`${app.origin}/`);
  assert.match(await index.text(), /<title>Platform app<\/title>[\s\S]*Connect \(popup\)[\s\S]*Connect \(iframe\)[\s\S]*id="frame-host"[\s\S]*id="events"/);
  const appJs = await (await fetch(`${app.origin}/app.js`)).text();
  assert.match(appJs, /from '\/connect\.js'/);
  const connectJs = await fetch(`${app.origin}/connect.js`);
  assert.match(connectJs.headers.get('content-type'), /^text\/javascript/);
  assert.match(await connectJs.text(), /export function openConnect/);
  assert.match(await (await fetch(`${app.origin}/done`)).text(), /Back in the platform app/);
  assert.equal((await fetch(`${app.origin}/nope`)).status, 404);

  // Backend: no BYOK yet.
  assert.equal((await fetch(`${app.origin}/backend/connect-session`, { method: 'POST', body: '{}' })).status, 500);

  // Backend against the fake BYOK: the token verifies with the (rotated) JWKS.
  byok = await fakeByok(app);
  app.setByok(`${byok.base}/`);
  const made = await fetch(`${app.origin}/backend/connect-session?lang=fr`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ mode: 'popup', provider: 'openai', theme: { accent: '#112233' } }),
  });
  assert.equal(made.status, 201);
  const session = await made.json();
  assert.match(session.url, /^http:\/\/127\.0\.0\.1:\d+\/connect\/tok1$/);
  assert.deepEqual(app.lastSession(), session);
  const [first] = byok.received;
  assert.equal(first.check.ok, true);
  assert.equal(first.check.header.kid, 'rsa-2');
  assert.deepEqual(first.body, {
    user: 'user-1', provider: 'openai', mode: 'popup', origin: app.origin,
    return_to: `${app.origin}/done`, lang: 'fr', theme: { accent: '#112233' },
  });
  assert.equal(app.lastSessionExchange().status, 201);

  // Claims and extra fields for the backend; a rejected token's status passes through.
  app.setClaims({ org_id: 'globex', sub: 'user-9' });
  app.setSessionFields({ role: 'member' });
  await (await fetch(`${app.origin}/backend/connect-session`, { method: 'POST', body: JSON.stringify({ mode: 'iframe' }) })).json();
  assert.equal(byok.received[1].check.payload.org_id, 'globex');
  assert.deepEqual(byok.received[1].body, { user: 'user-1', mode: 'iframe', origin: app.origin, return_to: `${app.origin}/done`, role: 'member' });
  app.setClaims({});
  app.setSessionFields({});
  app.rotate();
  // The fake BYOK fetches the JWKS each time, so rsa-3 verifies too.
  assert.equal((await fetch(`${app.origin}/backend/connect-session`, { method: 'POST', body: '{"mode":"popup"}' })).status, 201);

  if (process.argv.includes('--browser')) await browserCheck(app, byok);
  console.log('platform-app self-check: ok');
} finally {
  byok?.close();
  await app.close();
}

async function browserCheck(app) {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu'],
  });
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e));
    await page.goto(`${app.origin}/?provider=openai`);

    // Popup: events from the page, with BYOK's origin; close() ends it once.
    const popupPromise = page.waitForEvent('popup');
    await page.getByRole('button', { name: 'Connect (popup)' }).click();
    const popup = await popupPromise;
    await page.waitForFunction(() => window.platformEvents.length >= 2);
    const byokOrigin = new URL(app.lastSession().url).origin;
    let events = await page.evaluate(() => window.platformEvents);
    assert.deepEqual(events, [
      { byok: 1, type: 'ready', origin: byokOrigin },
      { byok: 1, type: 'saved', provider: 'openai', status: 'connected', origin: byokOrigin },
    ]);
    const popupClosed = popup.waitForEvent('close');
    await page.getByRole('button', { name: 'Close connect' }).click();
    await popupClosed;
    await page.waitForTimeout(1200);
    events = await page.evaluate(() => window.platformEvents.map((e) => e.type));
    assert.deepEqual(events, ['ready', 'saved', 'closed']);

    // Popup closed by the user: one `closed` from the poll.
    const second = page.waitForEvent('popup');
    await page.getByRole('button', { name: 'Connect (popup)' }).click();
    const popup2 = await second;
    await page.waitForFunction(() => window.platformEvents.length >= 5);
    await popup2.close();
    await page.waitForFunction(() => window.platformEvents.length >= 6);
    await page.waitForTimeout(1200);
    events = await page.evaluate(() => window.platformEvents.map((e) => e.type));
    assert.deepEqual(events, ['ready', 'saved', 'closed', 'ready', 'saved', 'closed']);
    assert.equal((await page.evaluate(() => window.platformEvents.at(-1))).origin, null);

    // iframe in #frame-host: the page's `closed` answer to close() is not needed; one `closed`.
    await page.getByRole('button', { name: 'Connect (iframe)' }).click();
    await page.waitForFunction(() => window.platformEvents.length >= 8);
    assert.equal(await page.locator('#frame-host iframe[title="Connect your services"]').count(), 1);
    const texts = await page.locator('#events li').allTextContents();
    assert.deepEqual(texts.slice(-2), ['ready', 'saved openai connected']);
    await page.getByRole('button', { name: 'Close connect' }).click();
    await page.waitForTimeout(300);
    assert.equal(await page.locator('#frame-host iframe').count(), 0);
    events = await page.evaluate(() => window.platformEvents.map((e) => e.type));
    assert.deepEqual(events.slice(6), ['ready', 'saved', 'closed']);

    // Default modal (no container), closed from its own button.
    await page.evaluate(async () => {
      const { openConnect } = await import('/connect.js');
      const res = await fetch('/backend/connect-session', { method: 'POST', body: JSON.stringify({ mode: 'iframe' }) });
      const { url } = await res.json();
      window.modalEvents = [];
      window.modalConnection = openConnect({ url, mode: 'iframe', onEvent: (e) => window.modalEvents.push(e.type) });
    });
    await page.waitForFunction(() => window.modalEvents.length >= 2);
    await page.getByRole('dialog', { name: 'Connect your services' }).getByRole('button', { name: 'Close' }).click();
    assert.equal(await page.getByRole('dialog').count(), 0);
    assert.deepEqual(await page.evaluate(() => window.modalEvents), ['ready', 'saved', 'closed']);

    // Nothing without the marker or for another origin was ever passed on.
    const passed = await page.evaluate(() => window.platformEvents.map((e) => e.provider).filter(Boolean));
    assert.deepEqual([...new Set(passed)], ['openai']);
    assert.deepEqual(errors, []);
    console.log('browser check: ok');
  } finally {
    await browser.close();
  }
}
