// Types of @byok/connect.

/** Every message from the connect page carries this marker; events this module adds do too. */
interface Marked {
  byok: 1;
}

/** The page has loaded and knows who it talks to. */
export interface ReadyEvent extends Marked {
  type: 'ready';
}
/** An integration was installed (maybe without a key yet). */
export interface InstalledEvent extends Marked {
  type: 'installed';
  provider: string;
}
/** A key was saved; `status` is the integration's status afterwards (e.g. `connected`). */
export interface SavedEvent extends Marked {
  type: 'saved';
  provider: string;
  status: string;
}
/** A key was tested (Settings → Test); `verdict` is the test's outcome. */
export interface TestedEvent extends Marked {
  type: 'tested';
  provider: string;
  status: string;
  verdict:
    | 'connected'
    | 'invalid-credential'
    | 'insufficient-permission'
    | 'rate-limited'
    | 'provider-unavailable'
    | 'unexpected-response'
    | 'plugin-fault'
    | 'no-test'
    | null;
}
/** An integration was uninstalled (its key is gone). */
export interface UninstalledEvent extends Marked {
  type: 'uninstalled';
  provider: string;
}
/** The user signed out of the connect page. */
export interface SignedOutEvent extends Marked {
  type: 'signed-out';
}
/**
 * The flow is over: the page said so ("Done"), the user closed the popup or the modal, or
 * `close()` was called. Delivered exactly once per `openConnect`.
 */
export interface ClosedEvent extends Marked {
  type: 'closed';
}
/** Something went wrong: the page reported it, or the browser blocked the popup. */
export interface ErrorEvent extends Marked {
  type: 'error';
  message: string;
}

export type ConnectEvent =
  | ReadyEvent
  | InstalledEvent
  | SavedEvent
  | TestedEvent
  | UninstalledEvent
  | SignedOutEvent
  | ClosedEvent
  | ErrorEvent;

export type ConnectEventType = ConnectEvent['type'];

export type ConnectMode = 'popup' | 'iframe';

export interface OpenConnectOptions {
  /** The `url` answered by `POST /v1/connect/sessions` (single use, valid at most 10 minutes). */
  url: string;
  /** `popup` (default) or `iframe`; must match the `mode` the session was made with. */
  mode?: ConnectMode;
  /** Called with every event from the page (and `closed` / `error` added by this module). */
  onEvent?: (event: ConnectEvent) => void;
  /** iframe mode: the element to put the frame in. Default: a modal overlay with a close button. */
  container?: Element;
  /** Popup: window width in pixels (default 600). iframe: the frame's CSS width (default 100%). */
  width?: number | string;
  /** Popup: window height in pixels (default 760). iframe: the frame's CSS height (default 100%). */
  height?: number | string;
}

export interface Connection {
  /** Asks the page to close, closes the popup or removes the frame, and emits `closed` once. */
  close(): void;
  /** Resolves when the flow is over. */
  readonly closed: Promise<void>;
}

/**
 * Opens a connect link in a popup (centred on this window) or an iframe.
 * @throws {TypeError} if `url` is not an absolute http(s) URL or `mode` is not popup/iframe.
 */
export function openConnect(options: OpenConnectOptions): Connection;

export const MODES: readonly ConnectMode[];
export const EVENT_TYPES: readonly ConnectEventType[];
export const POPUP_NAME: 'byok-connect';

/** The origin of a connect link. @throws {TypeError} unless it is an absolute http(s) URL. */
export function connectOrigin(url: string | URL): string;

/**
 * The message's data if `event.origin === origin`, `event.source === source` and the data
 * carries `byok: 1` and a string `type`; otherwise null.
 */
export function acceptMessage(
  event: Pick<MessageEvent, 'origin' | 'source' | 'data'> | null | undefined,
  expected: { origin: string; source: unknown },
): ConnectEvent | null;

export interface Rect {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** `window.open` features for a popup of `width` x `height` centred on `openerRect`. */
export function popupFeatures(openerRect: Partial<Rect>, width?: number, height?: number): string;

/** A window's rectangle on screen (`screenX`, `screenY`, `outerWidth`, `outerHeight`). */
export function openerRect(win: Pick<Window, 'screenX' | 'screenY' | 'outerWidth' | 'outerHeight'>): Rect;

/** Checks `openConnect`'s options and returns the link's origin. @throws {TypeError} */
export function checkOptions(options: Pick<OpenConnectOptions, 'url' | 'mode' | 'onEvent'>): string;
