// @byok/connect: opens a BYOK connect link (from `POST /v1/connect/sessions`, made by the
// platform's backend) in a popup or an iframe, and hands the page's events to the app.
//
// Trust rules (the page follows the same ones on its side):
// - A message is accepted only from the connect link's origin, only from the very window this
//   module opened or framed, and only if it carries the `byok: 1` marker.
// - Messages to the page name the link's origin as their target, never '*'.
//
// No dependencies, no <style> tag, no inline style text: the modal is styled through the
// CSSOM (`element.style.x = ...`), which a strict Content-Security-Policy allows.

/** The modes `openConnect` knows. */
export const MODES = Object.freeze(['popup', 'iframe']);

/** The event types the connect page posts (and `closed` / `error`, which this module may add). */
export const EVENT_TYPES = Object.freeze([
  'ready',
  'installed',
  'saved',
  'tested',
  'uninstalled',
  'signed-out',
  'closed',
  'error',
]);

/** The window name of the popup (opening twice reuses it). */
export const POPUP_NAME = 'byok-connect';

const POPUP_WIDTH = 600;
const POPUP_HEIGHT = 760;
const POLL_MS = 500;

/**
 * The origin of a connect link, which must be an absolute http(s) URL.
 * @throws {TypeError} for anything else.
 */
export function connectOrigin(url) {
  let parsed;
  try {
    parsed = new URL(String(url));
  } catch {
    throw new TypeError(`openConnect: url must be an absolute http(s) URL, got ${JSON.stringify(String(url))}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new TypeError(`openConnect: url must be http(s), got ${parsed.protocol}`);
  }
  return parsed.origin;
}

/**
 * The message's data if it comes from the connect page, else null: `event.origin` must be
 * `origin`, `event.source` must be `source` (the popup or the iframe's contentWindow) and the
 * data must be an object with `byok: 1` and a string `type`.
 */
export function acceptMessage(event, { origin, source } = {}) {
  if (!event || typeof origin !== 'string' || event.origin !== origin) return null;
  if (source === null || source === undefined || event.source !== source) return null;
  const data = event.data;
  if (data === null || typeof data !== 'object' || data.byok !== 1 || typeof data.type !== 'string') return null;
  return data;
}

/**
 * `window.open` features for a `width` x `height` popup centred on the opener's window.
 * `openerRect` is `{ left, top, width, height }` in screen pixels (`screenX`, `screenY`,
 * `outerWidth`, `outerHeight`). Negative coordinates are kept: they are real on a monitor left
 * of (or above) the primary one. A popup larger than the opener aligns with its top-left corner.
 */
export function popupFeatures(openerRect = {}, width = POPUP_WIDTH, height = POPUP_HEIGHT) {
  const w = Math.round(positive(width, POPUP_WIDTH));
  const h = Math.round(positive(height, POPUP_HEIGHT));
  const left = finite(openerRect.left) + Math.max(0, (finite(openerRect.width) - w) / 2);
  const top = finite(openerRect.top) + Math.max(0, (finite(openerRect.height) - h) / 2);
  return `popup=yes,width=${w},height=${h},left=${Math.round(left)},top=${Math.round(top)}`;
}

function finite(n) {
  return typeof n === 'number' && Number.isFinite(n) ? n : 0;
}

function positive(n, fallback) {
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : fallback;
}

/** The opener window's rectangle on screen, for `popupFeatures`. */
export function openerRect(win) {
  return {
    left: win.screenX ?? win.screenLeft ?? 0,
    top: win.screenY ?? win.screenTop ?? 0,
    width: win.outerWidth ?? win.innerWidth ?? 0,
    height: win.outerHeight ?? win.innerHeight ?? 0,
  };
}

/** Checks `openConnect`'s options; returns the link's origin. */
export function checkOptions({ url, mode = 'popup', onEvent } = {}) {
  const origin = connectOrigin(url);
  if (!MODES.includes(mode)) {
    throw new TypeError(`openConnect: mode must be "popup" or "iframe", got ${JSON.stringify(mode)}`);
  }
  if (onEvent !== undefined && onEvent !== null && typeof onEvent !== 'function') {
    throw new TypeError('openConnect: onEvent must be a function');
  }
  return origin;
}

/**
 * Opens a connect link. Returns `{ close(), closed }`: `closed` resolves once the flow is over
 * (the user closed the popup or the modal, the page said `closed`, or `close()` was called);
 * `onEvent` then has received exactly one `closed` event (none if the popup was blocked: it gets
 * an `error` event instead).
 */
export function openConnect(options = {}) {
  const origin = checkOptions(options);
  const { url, mode = 'popup', onEvent, container, width, height } = options;
  const win = globalThis.window;
  if (!win) throw new TypeError('openConnect: needs a browser window');

  let finished = false;
  let resolveClosed;
  const closed = new Promise((resolve) => {
    resolveClosed = resolve;
  });
  const deliver = (data) => {
    if (typeof onEvent !== 'function') return;
    try {
      onEvent(data);
    } catch (error) {
      // The app's handler failed: report it like an uncaught error, but keep the flow going.
      if (typeof globalThis.reportError === 'function') globalThis.reportError(error);
      else setTimeout(() => { throw error; });
    }
  };

  let source = () => null;
  let teardown = () => {};

  const finish = (event = { byok: 1, type: 'closed' }) => {
    if (finished) return;
    finished = true;
    win.removeEventListener('message', onMessage);
    teardown();
    if (event) deliver(event);
    resolveClosed();
  };

  function onMessage(event) {
    if (finished) return;
    const data = acceptMessage(event, { origin, source: source() });
    if (!data) return;
    // The page says it is done (its "Done" button, or our `close`): that is the one `closed`.
    if (data.type === 'closed') finish(data);
    else deliver(data);
  }

  if (mode === 'popup') {
    const popup = win.open(url, POPUP_NAME, popupFeatures(openerRect(win), width, height));
    if (!popup) {
      finished = true;
      deliver({
        byok: 1,
        type: 'error',
        message: 'The browser blocked the popup. Allow popups for this site, or try again.',
      });
      resolveClosed();
      return { close() {}, closed };
    }
    try {
      popup.focus?.();
    } catch {
      // focus is best-effort
    }
    source = () => popup;
    const timer = setInterval(() => {
      if (popup.closed) finish();
    }, POLL_MS);
    teardown = () => {
      clearInterval(timer);
      try {
        if (!popup.closed) popup.close();
      } catch {
        // already gone
      }
    };
  } else {
    const doc = win.document;
    const frame = doc.createElement('iframe');
    frame.title = 'Connect your services';
    frame.src = url;
    Object.assign(frame.style, { border: '0', display: 'block', width: '100%', height: '100%' });
    if (width !== undefined) frame.style.width = typeof width === 'number' ? `${width}px` : String(width);
    if (height !== undefined) frame.style.height = typeof height === 'number' ? `${height}px` : String(height);
    let modal = null;
    if (container) {
      container.appendChild(frame);
    } else {
      modal = createModal(doc, frame, () => close());
    }
    source = () => frame.contentWindow;
    teardown = () => {
      frame.remove();
      modal?.remove();
    };
  }

  function close() {
    if (finished) return;
    const target = source();
    try {
      target?.postMessage({ byok: 1, type: 'close' }, origin);
    } catch {
      // the window is gone already
    }
    finish();
  }

  win.addEventListener('message', onMessage);
  return { close, closed };
}

/**
 * The default container: a modal overlay with a title bar and a close button, appended to
 * `document.body`. Returns `{ remove() }`, which also gives the focus back.
 */
function createModal(doc, frame, onClose) {
  const previous = doc.activeElement;
  const overlay = doc.createElement('div');
  overlay.dataset.byokConnect = 'overlay';
  Object.assign(overlay.style, {
    position: 'fixed',
    top: '0',
    right: '0',
    bottom: '0',
    left: '0',
    zIndex: '2147483000',
    display: 'flex',
    alignItems: 'center',
    justifyContent: 'center',
    background: 'rgba(15, 23, 42, 0.55)',
  });

  const dialog = doc.createElement('div');
  dialog.setAttribute('role', 'dialog');
  dialog.setAttribute('aria-modal', 'true');
  dialog.setAttribute('aria-label', 'Connect your services');
  Object.assign(dialog.style, {
    display: 'flex',
    flexDirection: 'column',
    width: 'min(960px, calc(100vw - 32px))',
    height: 'min(760px, calc(100vh - 32px))',
    background: '#ffffff',
    borderRadius: '12px',
    overflow: 'hidden',
    boxShadow: '0 24px 64px rgba(15, 23, 42, 0.35)',
  });

  const bar = doc.createElement('div');
  Object.assign(bar.style, {
    display: 'flex',
    justifyContent: 'flex-end',
    alignItems: 'center',
    flex: '0 0 auto',
    padding: '4px 8px',
    borderBottom: '1px solid rgba(15, 23, 42, 0.12)',
  });
  const button = doc.createElement('button');
  button.type = 'button';
  button.textContent = '\u00d7';
  button.title = 'Close';
  button.setAttribute('aria-label', 'Close');
  Object.assign(button.style, {
    font: 'inherit',
    fontSize: '22px',
    lineHeight: '1',
    width: '32px',
    height: '32px',
    border: '0',
    borderRadius: '6px',
    background: 'transparent',
    color: '#334155',
    cursor: 'pointer',
  });
  button.addEventListener('click', onClose);
  bar.appendChild(button);

  const body = doc.createElement('div');
  Object.assign(body.style, { flex: '1 1 auto', minHeight: '0' });
  body.appendChild(frame);

  dialog.appendChild(bar);
  dialog.appendChild(body);
  overlay.appendChild(dialog);

  const onKey = (event) => {
    if (event.key === 'Escape') onClose();
  };
  doc.addEventListener('keydown', onKey);
  doc.body.appendChild(overlay);
  try {
    button.focus?.();
  } catch {
    // focus is best-effort
  }

  return {
    remove() {
      doc.removeEventListener('keydown', onKey);
      overlay.remove();
      try {
        previous?.focus?.();
      } catch {
        // the element is gone
      }
    },
  };
}
