// A stand-in for the platform's app, for the browser tests of the connect flow: an identity
// provider (JWKS + token minting with node:crypto), a backend that asks BYOK for a connect link
// with its user's token, and a front end that opens the link with @byok/connect
// (clients/connect/index.js, served as /connect.js).
//
// It listens on `localhost`, never 127.0.0.1: BYOK runs on 127.0.0.1, and the app must be
// another *site* (cookies, storage partitioning, SameSite) as a real platform would be.
//
//   const app = await startPlatformApp();
//   app.setByok(base);
//   app.setClaims({ org_id: 'ws1' });          // the backend's user, if not the default
//   await page.goto(`${app.origin}/?provider=openai`);   // also ?lang=fr, ?theme={"accent":"#0a7"}
//   await page.getByRole('button', { name: 'Connect (popup)' }).click();
//   ... window.platformEvents, app.lastSession() ...
//   await app.close();
//
// Checked by tests/browser/platform-app.selfcheck.mjs (run by hand; not a *.test.mjs).

import { createHash, createHmac, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const CONNECT_JS = join(root, 'clients/connect/index.js');

/** The claim the platform's tokens carry the user's roles in. */
export const ROLES_CLAIM = 'https://platform.test/roles';

/** The app most recently started (and not closed), for the module-level forging helpers. */
let current = null;

const b64url = (input) => Buffer.from(input).toString('base64url');
const encodePart = (object) => b64url(JSON.stringify(object));

/** `{...base, ...overrides}` where an override of `null` removes the member. */
function merge(base, overrides = {}) {
  const out = { ...base, ...overrides };
  for (const [name, value] of Object.entries(out)) if (value === null) delete out[name];
  return out;
}

/** The public JWK of a key with exactly the RFC 7517/7518/8037 members, plus kid, use, alg. */
function publicJwk(entry) {
  const jwk = createPublicKey(entry.privateKey).export({ format: 'jwk' });
  const members = { RSA: ['kty', 'n', 'e'], EC: ['kty', 'crv', 'x', 'y'], OKP: ['kty', 'crv', 'x'] }[jwk.kty];
  const out = {};
  for (const name of members) out[name] = jwk[name];
  return { ...out, kid: entry.kid, use: 'sig', alg: entry.alg };
}

function rsaKey(kid) {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { kid, alg: 'RS256', type: 'rsa', privateKey, publicKey };
}

/** Signs `data` the way `alg` says with `entry`'s key, or null if the key cannot do `alg`. */
function signWith(alg, entry, data) {
  if (alg === 'RS256' && entry.type === 'rsa') return sign('sha256', data, entry.privateKey);
  if (alg === 'ES256' && entry.type === 'ec') return sign('sha256', data, { key: entry.privateKey, dsaEncoding: 'ieee-p1363' });
  if (alg === 'EdDSA' && entry.type === 'ed') return sign(null, data, entry.privateKey);
  return null;
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text) return {};
  try {
    return JSON.parse(text);
  } catch {
    return {};
  }
}

function send(res, status, body, headers = {}) {
  res.writeHead(status, { 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

const json = (res, status, value, headers = {}) =>
  send(res, status, JSON.stringify(value), { 'content-type': 'application/json', ...headers });

const problem = (res, status, title, detail) =>
  send(res, status, JSON.stringify({ type: 'about:blank', title, status, detail }), { 'content-type': 'application/problem+json' });

const INDEX_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Platform app</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 24px; }
  #frame-host { width: 100%; max-width: 960px; height: 700px; border: 1px solid #ccc; margin-top: 16px; }
  #frame-host:empty { display: none; }
</style>
<script type="module" src="/app.js"></script>
</head>
<body>
<h1>Platform app</h1>
<p>
  <button type="button" id="connect-popup">Connect (popup)</button>
  <button type="button" id="connect-iframe">Connect (iframe)</button>
  <button type="button" id="connect-close">Close connect</button>
</p>
<div id="frame-host"></div>
<h2>Events</h2>
<ol id="events"></ol>
</body>
</html>
`;

// The front end. `window.platformEvents`: what onEvent received, with the origin of the message
// that carried it (null for the events @byok/connect adds itself: `closed` on a closed popup or
// close(), `error` on a blocked popup). `window.platformMessages`: every message with the byok
// marker this window saw, accepted or not. `window.platformConnection`: the open connection.
const APP_JS = `import { openConnect } from '/connect.js';

window.platformEvents = [];
window.platformMessages = [];
window.platformSession = null;
window.platformConnection = null;

const params = new URLSearchParams(location.search);
const provider = params.get('provider') || undefined;
const lang = params.get('lang') || undefined;
let theme;
try {
  theme = params.get('theme') ? JSON.parse(params.get('theme')) : undefined;
} catch {
  theme = undefined;
}
const list = document.getElementById('events');
const frameHost = document.getElementById('frame-host');

// Registered before any openConnect listener, so it runs first for the same message.
let last = null;
window.addEventListener('message', (event) => {
  if (event.data?.byok !== 1) return;
  last = { data: event.data, origin: event.origin };
  window.platformMessages.push({ data: event.data, origin: event.origin });
});

function record(data) {
  const origin = last && last.data === data ? last.origin : null;
  last = null;
  window.platformEvents.push({ ...data, origin });
  const item = document.createElement('li');
  item.textContent = [data.type, data.provider, data.status].filter(Boolean).join(' ');
  list.append(item);
}

async function connect(mode) {
  window.platformConnection?.close();
  const body = { mode };
  if (provider) body.provider = provider;
  if (lang) body.lang = lang;
  if (theme) body.theme = theme;
  const res = await fetch('/backend/connect-session', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const session = await res.json().catch(() => null);
  window.platformSession = { status: res.status, body: session };
  if (!res.ok || !session?.url) {
    record({ byok: 1, type: 'error', message: session?.detail || session?.title || 'HTTP ' + res.status });
    return;
  }
  window.platformConnection = openConnect({
    url: session.url,
    mode,
    onEvent: record,
    container: mode === 'iframe' ? frameHost : undefined,
  });
}

document.getElementById('connect-popup').addEventListener('click', () => connect('popup'));
document.getElementById('connect-iframe').addEventListener('click', () => connect('iframe'));
document.getElementById('connect-close').addEventListener('click', () => window.platformConnection?.close());
`;

const DONE_HTML = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Platform app</title></head>
<body><h1>Back in the platform app</h1><p>Back in the platform app.</p></body>
</html>
`;

/**
 * Starts the stand-in platform app on `localhost` (an ephemeral port).
 * @param {{ issuer?: string, audience?: string }} [options]
 */
export async function startPlatformApp({ issuer = 'https://idp.platform.test/', audience = 'byok' } = {}) {
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ed = generateKeyPairSync('ed25519');
  /** Every key ever made, by kid (retired ones too, to forge tokens with them). */
  const keys = new Map();
  /** The kids the JWKS publishes, in order. */
  let published = [];
  const add = (entry) => {
    keys.set(entry.kid, entry);
    return entry;
  };
  let rsa = add(rsaKey('rsa-1'));
  add({ kid: 'ec-1', alg: 'ES256', type: 'ec', ...ec });
  add({ kid: 'ed-1', alg: 'EdDSA', type: 'ed', ...ed });
  published = ['rsa-1', 'ec-1', 'ed-1'];
  let rsaGeneration = 1;

  let hits = 0;
  let byok = null;
  let backendClaims = {};
  let sessionFields = {};
  let exchange = null;

  const defaults = () => {
    const now = Math.floor(Date.now() / 1000);
    return { iss: issuer, aud: audience, sub: 'user-1', org_id: 'acme', [ROLES_CLAIM]: ['admin'], iat: now, exp: now + 600 };
  };

  /**
   * A compact JWT. The key is `kid`'s (an unknown kid signs with the current RSA key); it
   * signs with `alg` (default: the key's own) if the key can, else with the key's own algorithm
   * while the header still says `alg` (a forged mismatch). `header` members override (null
   * removes one, e.g. `{ kid: null }`).
   */
  function mint(claims = {}, { kid = 'rsa-1', alg, header = {} } = {}) {
    const entry = keys.get(kid) ?? rsa;
    const headerAlg = alg ?? entry.alg;
    const head = merge({ alg: headerAlg, typ: 'JWT', kid }, header);
    const payload = merge(defaults(), claims);
    const input = `${encodePart(head)}.${encodePart(payload)}`;
    const signature = signWith(headerAlg, entry, Buffer.from(input)) ?? signWith(entry.alg, entry, Buffer.from(input));
    return `${input}.${b64url(signature)}`;
  }

  /** `alg: none` and an empty signature. */
  function mintNone(claims = {}) {
    return `${encodePart({ alg: 'none', typ: 'JWT' })}.${encodePart(merge(defaults(), claims))}.`;
  }

  /**
   * HS256 whose HMAC secret is the current RSA public key's PEM (SPKI, `BEGIN PUBLIC KEY`, as
   * JWKS-to-PEM tools give it), with that key's kid (rsa-1 until rotate()): the
   * algorithm-confusion attack.
   */
  function mintHs256WithPublicKey(claims = {}) {
    const head = { alg: 'HS256', typ: 'JWT', kid: rsa.kid };
    const input = `${encodePart(head)}.${encodePart(merge(defaults(), claims))}`;
    const secret = rsa.publicKey.export({ type: 'spki', format: 'pem' });
    return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
  }

  function jwks() {
    return { keys: published.map((kid) => publicJwk(keys.get(kid))) };
  }

  /** Replaces the RSA key with a new one (rsa-2, then rsa-3, ...); the old kid leaves the JWKS. */
  function rotate() {
    rsaGeneration += 1;
    const old = rsa.kid;
    rsa = add(rsaKey(`rsa-${rsaGeneration}`));
    published = published.map((kid) => (kid === old ? rsa.kid : kid));
    return rsa.kid;
  }

  let origin;

  async function connectSession(req, res, url) {
    const body = await readBody(req);
    if (!byok) return problem(res, 500, 'BYOK unknown', 'setByok(base) was not called');
    const lang = body.lang ?? url.searchParams.get('lang') ?? undefined;
    const request = {
      user: 'user-1',
      provider: body.provider ?? url.searchParams.get('provider') ?? undefined,
      mode: body.mode,
      origin,
      return_to: `${origin}/done`,
      lang,
      theme: body.theme,
      ...sessionFields,
    };
    for (const [name, value] of Object.entries(request)) if (value === undefined || value === null) delete request[name];
    const token = mint(backendClaims, { kid: rsa.kid });
    let answer;
    try {
      answer = await fetch(`${byok}/v1/connect/sessions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(request),
      });
    } catch (error) {
      exchange = { request, token, status: 0, answer: null, error: String(error) };
      return problem(res, 502, 'BYOK unreachable', String(error));
    }
    const text = await answer.text();
    let parsed = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = text;
    }
    exchange = { request, token, status: answer.status, answer: parsed };
    send(res, answer.status, text, { 'content-type': answer.headers.get('content-type') ?? 'application/json' });
  }

  async function handle(req, res) {
    const url = new URL(req.url, origin);
    const route = `${req.method} ${url.pathname}`;
    switch (route) {
      case 'GET /.well-known/jwks.json':
        hits += 1;
        return json(res, 200, jwks(), { 'cache-control': 'max-age=300' });
      case 'GET /':
        return send(res, 200, INDEX_HTML, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      case 'GET /app.js':
        return send(res, 200, APP_JS, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-store' });
      case 'GET /connect.js':
        return send(res, 200, await readFile(CONNECT_JS, 'utf8'), { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-store' });
      case 'POST /backend/connect-session':
        return connectSession(req, res, url);
      case 'GET /done':
        return send(res, 200, DONE_HTML, { 'content-type': 'text/html; charset=utf-8' });
      case 'GET /favicon.ico':
        return send(res, 204, '');
      default:
        return problem(res, 404, 'Not found', route);
    }
  }

  const onRequest = (req, res) => {
    handle(req, res).catch((error) => {
      if (!res.headersSent) problem(res, 500, 'Platform app error', String(error?.stack ?? error));
      else res.destroy();
    });
  };

  // `localhost` may resolve to 127.0.0.1 or ::1 (Chromium tries both, in its own order): listen
  // on both loopback addresses with the same port, the IPv6 one if the machine has it.
  const servers = [createServer(onRequest)];
  servers[0].listen(0, '127.0.0.1');
  await once(servers[0], 'listening');
  const { port } = servers[0].address();
  const v6 = createServer(onRequest);
  await new Promise((resolve) => {
    v6.once('error', resolve);
    v6.listen(port, '::1', () => {
      servers.push(v6);
      resolve();
    });
  });
  origin = `http://localhost:${port}`;

  const app = {
    origin,
    jwksUrl: `${origin}/.well-known/jwks.json`,
    issuer,
    audience,
    mint,
    mintNone,
    mintHs256WithPublicKey,
    rotate,
    jwks,
    /** How many times the JWKS was fetched. */
    jwksHits: () => hits,
    /** The kid of the current RSA key (rsa-1, then rsa-2 after rotate()). */
    currentKid: () => rsa.kid,
    /** Where BYOK is (e.g. http://127.0.0.1:8787). */
    setByok(base) {
      byok = String(base).replace(/\/+$/, '');
    },
    /** Claims merged into the backend's token for POST /backend/connect-session (null removes). */
    setClaims(claims = {}) {
      backendClaims = { ...claims };
    },
    /** Members merged into the backend's POST /v1/connect/sessions body (e.g. tenant, role). */
    setSessionFields(fields = {}) {
      sessionFields = { ...fields };
    },
    /** BYOK's JSON answer to the last POST /v1/connect/sessions, or null. */
    lastSession: () => exchange?.answer ?? null,
    /** The last exchange with BYOK: `{ request, token, status, answer }`, or null. */
    lastSessionExchange: () => exchange,
    async close() {
      if (current === app) current = null;
      await Promise.all(
        servers.map(async (server) => {
          const closed = once(server, 'close');
          server.close();
          server.closeAllConnections();
          await closed;
        }),
      );
    },
  };
  current = app;
  return app;
}

function started() {
  if (!current) throw new Error('no platform app is running: call startPlatformApp() first');
  return current;
}

/** `alg: none`, empty signature, with the running app's default claims merged with `claims`. */
export function mintNone(claims) {
  return started().mintNone(claims);
}

/** HS256 keyed with the running app's RSA public key PEM (algorithm confusion), its kid. */
export function mintHs256WithPublicKey(claims) {
  return started().mintHs256WithPublicKey(claims);
}

/** The RFC 7638 thumbprint of a public JWK (handy to compare keys in tests). */
export function jwkThumbprint(jwk) {
  const members = { RSA: ['e', 'kty', 'n'], EC: ['crv', 'kty', 'x', 'y'], OKP: ['crv', 'kty', 'x'] }[jwk.kty];
  const canonical = JSON.stringify(Object.fromEntries(members.map((m) => [m, jwk[m]])));
  return createHash('sha256').update(canonical).digest('base64url');
}
