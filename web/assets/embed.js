// The page's side of the connect flow (`POST /v1/connect/sessions`): a page opened from a
// connect link inside the platform's app, as a popup or an iframe, tells the app what happens
// (`@byok/connect` listens) and wears the app's theme.
//
// - Events go to exactly one origin, the platform app's that the session names, never '*'.
// - Messages are accepted only from that origin, and only from the window that opened or
//   framed this page.
// - In iframe mode the session cannot ride on a cookie (third-party cookies are blocked in
//   Safari and Firefox), so the link hands the page its session in the URL fragment, which
//   never reaches a server: the page moves it to sessionStorage (partitioned by the top-level
//   site in every browser) and sends it as `Authorization: Bearer`.

const STORE = 'byok.session';

function takeFragmentToken() {
  const hash = location.hash.startsWith('#') ? location.hash.slice(1) : '';
  const params = new URLSearchParams(hash);
  const token = params.get('session');
  if (!token) return;
  try {
    sessionStorage.setItem(STORE, token);
  } catch {
    // Storage refused (a sandboxed frame): the token lives for this page only.
    memory = token;
  }
  params.delete('session');
  const rest = params.toString();
  history.replaceState(null, '', location.pathname + location.search + (rest ? `#${rest}` : ''));
}

let memory = null;
takeFragmentToken();

/** The session token handed over by an iframe-mode link, or null (the cookie carries it). */
export function sessionToken() {
  try {
    return sessionStorage.getItem(STORE) ?? memory;
  } catch {
    return memory;
  }
}

/** Forgets a session held by the page (sign out). */
export function forgetSession() {
  memory = null;
  try {
    sessionStorage.removeItem(STORE);
  } catch {
    // nothing stored
  }
}

/** The connect session's embedding ({origin, mode, return_to}), once `/v1/me` has said it. */
let embedding = null;

/**
 * The embedding a `/v1/me` of this tab said earlier (kept in sessionStorage: same origin and
 * same tab only), so that a page whose session has ended can still tell the app so. Used for
 * events only, never for `embedded()`.
 */
const EMBEDDING = 'byok.embedding';

function remembered() {
  try {
    const value = JSON.parse(sessionStorage.getItem(EMBEDDING) ?? 'null');
    return value && typeof value.origin === 'string' && typeof value.mode === 'string' ? value : null;
  } catch {
    return null;
  }
}

function remember(value) {
  try {
    if (value) sessionStorage.setItem(EMBEDDING, JSON.stringify(value));
    else sessionStorage.removeItem(EMBEDDING);
  } catch {
    // Storage refused (a sandboxed frame): only this page knows.
  }
}

function target(of) {
  if (!of?.origin) return null;
  if (of.mode === 'popup' && window.opener && window.opener !== window) return window.opener;
  if (of.mode === 'iframe' && window.parent !== window) return window.parent;
  return null;
}

/** Posts an event to the platform app that opened or framed this page, if any. */
export function emit(type, detail = {}) {
  const of = embedding ?? remembered();
  const to = target(of);
  if (!to) return;
  to.postMessage({ byok: 1, type, ...detail }, of.origin);
}

/** Whether this page runs inside a connect flow (popup, iframe or a plain page with a way back). */
export function embedded() {
  return Boolean(embedding);
}

/** Where "Done" leads: back to the platform (page mode), or closing the popup or frame. */
export function done() {
  emit('closed');
  if (embedding?.mode === 'popup') {
    window.close();
  } else if (embedding?.return_to && embedding.mode !== 'iframe') {
    location.assign(embedding.return_to);
  }
}

const THEME = {
  accent: '--accent',
  radius: '--radius',
  font: '--font',
};

/**
 * Applies what the session says about the page: the app's theme as CSS custom properties
 * (validated by the service; set through the CSSOM, which the strict CSP allows, never as
 * inline style text), light or dark, and the embedding.
 */
export function applySession(me) {
  const connect = me?.connect;
  if (!connect) {
    // A session of its own, not a connect flow: forget one this tab may have been in.
    remember(null);
    return;
  }
  embedding = { origin: connect.origin ?? null, mode: connect.mode ?? 'page', return_to: connect.return_to ?? null };
  remember(embedding.origin ? embedding : null);
  const theme = connect.theme ?? {};
  const root = document.documentElement;
  for (const [name, property] of Object.entries(THEME)) {
    if (theme[name] === undefined || theme[name] === null) continue;
    const value = name === 'radius' ? `${Number(theme[name])}px` : String(theme[name]);
    root.style.setProperty(property, value);
  }
  if (theme.mode === 'dark' || theme.mode === 'light') root.dataset.theme = theme.mode;
  root.dataset.embedded = embedding.mode;
  window.addEventListener('message', (event) => {
    if (event.origin !== embedding.origin) return;
    if (event.source !== window.opener && event.source !== window.parent) return;
    if (event.data?.byok === 1 && event.data.type === 'close') done();
  });
  emit('ready');
}
