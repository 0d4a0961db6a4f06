// Unit tests of @byok/connect without a browser: the pure helpers, and openConnect against a
// minimal fake `window` (message listeners, window.open, a DOM just deep enough for the modal).
// The real thing (Chromium, the Worker) is exercised by tests/browser.
import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  acceptMessage,
  checkOptions,
  connectOrigin,
  EVENT_TYPES,
  openConnect,
  openerRect,
  popupFeatures,
} from '../index.js';

const URL_ = 'https://byok.example.com/connect/tok_123';
const ORIGIN = 'https://byok.example.com';

describe('acceptMessage', () => {
  const source = { name: 'popup' };
  const good = { origin: ORIGIN, source, data: { byok: 1, type: 'saved', provider: 'openai', status: 'connected' } };

  test('a good message gives its data', () => {
    assert.equal(acceptMessage(good, { origin: ORIGIN, source }), good.data);
  });

  test('another origin is ignored', () => {
    assert.equal(acceptMessage({ ...good, origin: 'https://evil.example' }, { origin: ORIGIN, source }), null);
    assert.equal(acceptMessage({ ...good, origin: 'http://byok.example.com' }, { origin: ORIGIN, source }), null);
    assert.equal(acceptMessage({ ...good, origin: `${ORIGIN}:443` }, { origin: ORIGIN, source }), null);
    assert.equal(acceptMessage({ ...good, origin: 'null' }, { origin: ORIGIN, source }), null);
  });

  test('another source is ignored', () => {
    assert.equal(acceptMessage({ ...good, source: { name: 'other' } }, { origin: ORIGIN, source }), null);
    assert.equal(acceptMessage({ ...good, source: null }, { origin: ORIGIN, source }), null);
    // No window to compare with (a removed frame's contentWindow is null): nothing is accepted.
    assert.equal(acceptMessage({ ...good, source: null }, { origin: ORIGIN, source: null }), null);
  });

  test('data without the byok marker is ignored', () => {
    for (const data of [
      { type: 'saved' },
      { byok: '1', type: 'saved' },
      { byok: true, type: 'saved' },
      { byok: 2, type: 'saved' },
      { byok: 1 },
      { byok: 1, type: 7 },
      'byok',
      null,
      undefined,
      [1],
    ]) {
      assert.equal(acceptMessage({ ...good, data }, { origin: ORIGIN, source }), null, JSON.stringify(data));
    }
  });

  test('no event, no expectations: null', () => {
    assert.equal(acceptMessage(null, { origin: ORIGIN, source }), null);
    assert.equal(acceptMessage(good), null);
    assert.equal(acceptMessage(good, { source }), null);
  });
});

describe('popupFeatures', () => {
  test('centred on the opener', () => {
    assert.equal(
      popupFeatures({ left: 100, top: 50, width: 1280, height: 900 }, 600, 760),
      'popup=yes,width=600,height=760,left=440,top=120',
    );
  });

  test('on a monitor left of the primary one', () => {
    assert.equal(
      popupFeatures({ left: -1920, top: 0, width: 1920, height: 1080 }, 600, 700),
      'popup=yes,width=600,height=700,left=-1260,top=190',
    );
  });

  test('larger than the opener: its top-left corner', () => {
    assert.equal(popupFeatures({ left: 10, top: 20, width: 400, height: 300 }, 600, 760), 'popup=yes,width=600,height=760,left=10,top=20');
  });

  test('defaults and rounding', () => {
    assert.equal(popupFeatures({ left: 0, top: 0, width: 1001, height: 801 }), 'popup=yes,width=600,height=760,left=201,top=21');
    assert.equal(popupFeatures({}, 'wide', -5), 'popup=yes,width=600,height=760,left=0,top=0');
    assert.equal(popupFeatures(undefined, 500.4, 400.6), 'popup=yes,width=500,height=401,left=0,top=0');
  });

  test('openerRect reads the screen position', () => {
    assert.deepEqual(openerRect({ screenX: 5, screenY: 6, outerWidth: 700, outerHeight: 800 }), { left: 5, top: 6, width: 700, height: 800 });
    assert.deepEqual(openerRect({ screenLeft: 1, screenTop: 2, innerWidth: 3, innerHeight: 4 }), { left: 1, top: 2, width: 3, height: 4 });
  });
});

describe('options', () => {
  test('http(s) URLs only', () => {
    assert.equal(connectOrigin(URL_), ORIGIN);
    assert.equal(connectOrigin('http://127.0.0.1:8787/connect/x'), 'http://127.0.0.1:8787');
    assert.equal(connectOrigin(new URL(URL_)), ORIGIN);
    for (const url of ['javascript:alert(1)', 'data:text/html,hi', 'file:///etc/passwd', 'ftp://x.example/', '/connect/x', '', undefined, 'blob:https://byok.example.com/1']) {
      assert.throws(() => connectOrigin(url), TypeError, String(url));
      assert.throws(() => openConnect({ url, onEvent() {} }), TypeError, String(url));
    }
  });

  test('popup or iframe only', () => {
    assert.equal(checkOptions({ url: URL_ }), ORIGIN);
    assert.equal(checkOptions({ url: URL_, mode: 'iframe' }), ORIGIN);
    for (const mode of ['page', 'tab', 'POPUP', '', null, 1]) {
      assert.throws(() => openConnect({ url: URL_, mode }), TypeError, String(mode));
    }
  });

  test('onEvent must be a function', () => {
    assert.throws(() => checkOptions({ url: URL_, onEvent: 'log' }), TypeError);
  });

  test('no arguments: TypeError', () => {
    assert.throws(() => openConnect(), TypeError);
  });

  test('the event types', () => {
    assert.deepEqual([...EVENT_TYPES].sort(), ['closed', 'error', 'installed', 'ready', 'saved', 'signed-out', 'tested', 'uninstalled']);
  });
});

// ---- openConnect against a fake window ------------------------------------------------------

class FakeTarget {
  constructor() {
    this.listeners = new Map();
  }
  addEventListener(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(fn);
  }
  removeEventListener(type, fn) {
    this.listeners.get(type)?.delete(fn);
  }
  dispatch(type, event) {
    for (const fn of [...(this.listeners.get(type) ?? [])]) fn(event);
  }
  count(type) {
    return this.listeners.get(type)?.size ?? 0;
  }
}

/** A window another window can message; records what it receives. */
class FakeWindow extends FakeTarget {
  constructor() {
    super();
    this.posted = [];
    this.closed = false;
  }
  postMessage(data, targetOrigin) {
    this.posted.push({ data, targetOrigin });
  }
  close() {
    this.closed = true;
  }
  focus() {}
}

class FakeElement extends FakeTarget {
  constructor(tag, doc) {
    super();
    this.tagName = tag.toUpperCase();
    this.ownerDocument = doc;
    this.style = {};
    this.dataset = {};
    this.attributes = {};
    this.children = [];
    this.parent = null;
    this.contentWindow = null;
  }
  setAttribute(name, value) {
    this.attributes[name] = String(value);
  }
  appendChild(child) {
    child.parent = this;
    this.children.push(child);
    if (this.isConnected()) child.connected();
    return child;
  }
  isConnected() {
    return this === this.ownerDocument.body || Boolean(this.parent?.isConnected());
  }
  connected() {
    if (this.tagName === 'IFRAME' && !this.contentWindow) this.contentWindow = new FakeWindow();
    for (const child of this.children) child.connected();
  }
  disconnected() {
    if (this.tagName === 'IFRAME') this.contentWindow = null;
    for (const child of this.children) child.disconnected();
  }
  remove() {
    if (!this.parent) return;
    this.parent.children = this.parent.children.filter((c) => c !== this);
    this.parent = null;
    this.disconnected();
  }
  focus() {
    this.ownerDocument.activeElement = this;
  }
  click() {
    this.dispatch('click', { type: 'click' });
  }
  find(predicate) {
    if (predicate(this)) return this;
    for (const child of this.children) {
      const found = child.find(predicate);
      if (found) return found;
    }
    return null;
  }
}

class FakeDocument extends FakeTarget {
  constructor() {
    super();
    this.body = new FakeElement('body', this);
    this.activeElement = this.body;
  }
  createElement(tag) {
    return new FakeElement(tag, this);
  }
}

function fakeWindow({ blockPopups = false } = {}) {
  const win = new FakeWindow();
  Object.assign(win, { screenX: 100, screenY: 50, outerWidth: 1280, outerHeight: 900 });
  win.document = new FakeDocument();
  win.opened = [];
  win.open = (url, name, features) => {
    win.opened.push({ url, name, features });
    if (blockPopups) return null;
    win.popup = new FakeWindow();
    return win.popup;
  };
  return win;
}

let saved;
beforeEach(() => {
  saved = Object.getOwnPropertyDescriptor(globalThis, 'window');
  mock.timers.enable({ apis: ['setInterval'] });
});
afterEach(() => {
  mock.timers.reset();
  if (saved) Object.defineProperty(globalThis, 'window', saved);
  else delete globalThis.window;
});

function install(win) {
  globalThis.window = win;
  return win;
}

const settled = (promise) => Promise.race([promise.then(() => true), new Promise((r) => setImmediate(() => r(false)))]);

describe('openConnect, popup', () => {
  test('opens the link centred on the opener and passes on the page\'s messages only', async () => {
    const win = install(fakeWindow());
    const events = [];
    const connection = openConnect({ url: URL_, onEvent: (e) => events.push(e) });
    assert.deepEqual(win.opened, [{ url: URL_, name: 'byok-connect', features: 'popup=yes,width=600,height=760,left=440,top=120' }]);
    assert.equal(win.count('message'), 1);

    const saved = { byok: 1, type: 'saved', provider: 'openai', status: 'connected' };
    win.dispatch('message', { origin: ORIGIN, source: win.popup, data: { byok: 1, type: 'ready' } });
    win.dispatch('message', { origin: 'https://evil.example', source: win.popup, data: saved });
    win.dispatch('message', { origin: ORIGIN, source: new FakeWindow(), data: saved });
    win.dispatch('message', { origin: ORIGIN, source: win.popup, data: { type: 'saved' } });
    win.dispatch('message', { origin: ORIGIN, source: win.popup, data: saved });
    assert.deepEqual(events, [{ byok: 1, type: 'ready' }, saved]);
    assert.equal(await settled(connection.closed), false);
  });

  test('the user closes the popup: closed exactly once', async () => {
    const win = install(fakeWindow());
    const events = [];
    const connection = openConnect({ url: URL_, onEvent: (e) => events.push(e.type) });
    mock.timers.tick(500);
    assert.deepEqual(events, []);
    win.popup.closed = true;
    mock.timers.tick(500);
    mock.timers.tick(500);
    assert.deepEqual(events, ['closed']);
    assert.equal(await settled(connection.closed), true);
    assert.equal(win.count('message'), 0);
    connection.close();
    assert.deepEqual(events, ['closed']);
    assert.deepEqual(win.popup.posted, []);
  });

  test('the page says closed, then the window goes: closed once', async () => {
    const win = install(fakeWindow());
    const events = [];
    const connection = openConnect({ url: URL_, onEvent: (e) => events.push(e.type) });
    win.dispatch('message', { origin: ORIGIN, source: win.popup, data: { byok: 1, type: 'closed' } });
    mock.timers.tick(500);
    win.dispatch('message', { origin: ORIGIN, source: win.popup, data: { byok: 1, type: 'closed' } });
    assert.deepEqual(events, ['closed']);
    assert.equal(await settled(connection.closed), true);
  });

  test('close() tells the page at its origin, closes the popup, closed once', async () => {
    const win = install(fakeWindow());
    const events = [];
    const connection = openConnect({ url: URL_, onEvent: (e) => events.push(e.type) });
    const popup = win.popup;
    connection.close();
    connection.close();
    mock.timers.tick(1500);
    assert.deepEqual(popup.posted, [{ data: { byok: 1, type: 'close' }, targetOrigin: ORIGIN }]);
    assert.equal(popup.closed, true);
    assert.deepEqual(events, ['closed']);
    assert.equal(await settled(connection.closed), true);
    // The page's answer comes too late: ignored.
    win.dispatch('message', { origin: ORIGIN, source: popup, data: { byok: 1, type: 'closed' } });
    assert.deepEqual(events, ['closed']);
  });

  test('a blocked popup: an error, and the flow is over', async () => {
    install(fakeWindow({ blockPopups: true }));
    const events = [];
    const connection = openConnect({ url: URL_, onEvent: (e) => events.push(e) });
    assert.equal(events.length, 1);
    assert.equal(events[0].type, 'error');
    assert.match(events[0].message, /^The browser blocked the popup/);
    assert.equal(await settled(connection.closed), true);
    connection.close();
    assert.equal(events.length, 1);
  });

  test('a throwing onEvent does not break the flow', async () => {
    const win = install(fakeWindow());
    const reported = [];
    const original = globalThis.reportError;
    globalThis.reportError = (e) => reported.push(e.message);
    try {
      const connection = openConnect({ url: URL_, onEvent: () => { throw new Error('app bug'); } });
      win.dispatch('message', { origin: ORIGIN, source: win.popup, data: { byok: 1, type: 'ready' } });
      connection.close();
      assert.deepEqual(reported, ['app bug', 'app bug']);
      assert.equal(await settled(connection.closed), true);
    } finally {
      if (original) globalThis.reportError = original;
      else delete globalThis.reportError;
    }
  });
});

describe('openConnect, iframe', () => {
  test('in a container: accepts messages from the frame only, removed on close()', async () => {
    const win = install(fakeWindow());
    const container = win.document.createElement('div');
    win.document.body.appendChild(container);
    const events = [];
    const connection = openConnect({ url: URL_, mode: 'iframe', container, onEvent: (e) => events.push(e.type) });
    assert.equal(win.opened.length, 0);
    const [frame] = container.children;
    assert.equal(frame.tagName, 'IFRAME');
    assert.equal(frame.src, URL_);
    assert.equal(frame.title, 'Connect your services');
    assert.equal(frame.attributes.sandbox, undefined);
    assert.equal(frame.style.width, '100%');
    const child = frame.contentWindow;

    win.dispatch('message', { origin: ORIGIN, source: child, data: { byok: 1, type: 'ready' } });
    win.dispatch('message', { origin: ORIGIN, source: win, data: { byok: 1, type: 'installed', provider: 'x' } });
    win.dispatch('message', { origin: 'https://evil.example', source: child, data: { byok: 1, type: 'installed', provider: 'x' } });
    assert.deepEqual(events, ['ready']);

    connection.close();
    assert.deepEqual(child.posted, [{ data: { byok: 1, type: 'close' }, targetOrigin: ORIGIN }]);
    assert.deepEqual(container.children, []);
    assert.deepEqual(events, ['ready', 'closed']);
    assert.equal(await settled(connection.closed), true);
    assert.equal(win.count('message'), 0);
  });

  test('the page says closed: the frame goes', async () => {
    const win = install(fakeWindow());
    const container = win.document.createElement('div');
    win.document.body.appendChild(container);
    const events = [];
    const connection = openConnect({ url: URL_, mode: 'iframe', container, width: 400, height: '70vh', onEvent: (e) => events.push(e.type) });
    const [frame] = container.children;
    assert.equal(frame.style.width, '400px');
    assert.equal(frame.style.height, '70vh');
    win.dispatch('message', { origin: ORIGIN, source: frame.contentWindow, data: { byok: 1, type: 'closed' } });
    assert.deepEqual(container.children, []);
    assert.deepEqual(events, ['closed']);
    assert.equal(await settled(connection.closed), true);
  });

  test('no container: a modal with a close button, styled through element.style', async () => {
    const win = install(fakeWindow());
    const doc = win.document;
    const events = [];
    const connection = openConnect({ url: URL_, mode: 'iframe', onEvent: (e) => events.push(e.type) });
    const [overlay] = doc.body.children;
    assert.equal(overlay.style.position, 'fixed');
    assert.equal(overlay.attributes.style, undefined);
    const dialog = overlay.find((e) => e.attributes.role === 'dialog');
    assert.equal(dialog.attributes['aria-modal'], 'true');
    const frame = overlay.find((e) => e.tagName === 'IFRAME');
    assert.ok(frame.contentWindow);
    const button = overlay.find((e) => e.tagName === 'BUTTON');
    assert.equal(button.attributes['aria-label'], 'Close');
    assert.equal(doc.activeElement, button);
    const child = frame.contentWindow;

    button.click();
    assert.deepEqual(child.posted, [{ data: { byok: 1, type: 'close' }, targetOrigin: ORIGIN }]);
    assert.deepEqual(doc.body.children, []);
    assert.equal(doc.count('keydown'), 0);
    assert.deepEqual(events, ['closed']);
    assert.equal(await settled(connection.closed), true);
  });

  test('Escape closes the modal', async () => {
    const win = install(fakeWindow());
    const events = [];
    const connection = openConnect({ url: URL_, mode: 'iframe', onEvent: (e) => events.push(e.type) });
    win.document.dispatch('keydown', { key: 'Enter' });
    assert.equal(win.document.body.children.length, 1);
    win.document.dispatch('keydown', { key: 'Escape' });
    assert.deepEqual(win.document.body.children, []);
    assert.deepEqual(events, ['closed']);
    assert.equal(await settled(connection.closed), true);
  });
});
