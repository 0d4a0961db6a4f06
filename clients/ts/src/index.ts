/**
 * `@byok/client`: what an AI edge function needs from the BYOK service.
 *
 * - `getAiConfig(target, { tenant, provider })`: the key to call the provider with, the
 *   tenant's own or the platform's (`source` says which), cached in the isolate for as long
 *   as the service's `Cache-Control: private, max-age=N` allows.
 * - `reportRejection(target, { tenant, provider, source, status })`: tell the service what
 *   the provider answered; a 401/403 on a tenant's key makes the service re-test it, so the
 *   tenant sees "Invalid key" in Settings within seconds instead of never.
 *
 * `target` is a service binding (`{ binding: env.BYOK, token }`) or HTTPS
 * (`{ url: "https://byok.example.com", token }`); `token` is a service token. A plain `http:`
 * URL is refused unless its host is loopback (the token would cross the network in clear),
 * and redirects are never followed (the token would go wherever they point). No runtime
 * dependencies. Keys never appear in an error message, in `JSON.stringify` or in
 * `console.log` of a config (the key and fields are non-enumerable).
 */

/** Anything with a Workers `fetch` (a service binding's `Fetcher`). */
export interface FetcherLike {
  fetch(input: string, init?: RequestInit): Promise<Response>;
}

export type Target =
  | { binding: FetcherLike; token: string }
  | { url: string; token: string; fetch?: typeof fetch };

export type Source = "tenant" | "platform";
export type Status = "connected" | "invalid" | "unverified" | "disconnected";

export interface AiConfig {
  readonly provider: string;
  /** The key. Non-enumerable: it does not print or serialise by accident. */
  readonly apiKey: string;
  /** The credential's other fields (Twilio's Account SID...). Non-enumerable too. */
  readonly fields: Readonly<Record<string, string>>;
  /** Whose key this is. */
  readonly source: Source;
  /** The tenant key's status (`undefined` for the platform key). A tenant's key is returned
   * even when `invalid`: the service never switches a tenant to the platform's bill. */
  readonly status: Status | undefined;
}

export interface Which {
  tenant: string;
  provider: string;
}

export interface GetOptions {
  /** `false` skips the isolate cache (the answer is still stored for later calls). */
  cache?: boolean;
  signal?: AbortSignal;
}

export interface Report extends Which {
  /** Whose key the call used: the `source` of the config. */
  source: Source;
  /** The HTTP status the provider answered. */
  status: number;
}

export interface ReportAnswer {
  /** `retest-scheduled`, `deduplicated`, `not-a-rejection`, `no-tenant-key` or
   * `platform-key-recorded`. */
  action: string;
  detail: string;
  retestAfter: string | undefined;
}

/** Every failure is a `ByokError`; branch on the subclass or on `type`. */
export class ByokError extends Error {
  /** The problem type (`/problems/no-key`...) or `network` / `malformed-answer`. */
  readonly type: string;
  /** The HTTP status, or 0 when there was no answer. */
  readonly status: number;
  /** Seconds to wait, from `Retry-After`, when the service said so. */
  readonly retryAfter: number | undefined;
  constructor(message: string, type: string, status: number, retryAfter?: number) {
    super(message);
    this.name = new.target.name;
    this.type = type;
    this.status = status;
    this.retryAfter = retryAfter;
  }
}
/** The provider is not in the catalog. */
export class UnknownProvider extends ByokError {}
/** The tenant has not installed the provider and the platform key cannot serve it. */
export class NotInstalled extends ByokError {}
/** The tenant installed the provider without a key and the platform key cannot serve it. */
export class NoKey extends ByokError {}
/** No tenant key and the platform key is not allowed (by the catalog entry, or because the
 * tenant is bring-your-own-key only). */
export class FallbackNotAllowed extends ByokError {}
/** The service token is missing, invalid or not a service token (401/403). */
export class Unauthorized extends ByokError {}
/** The request was refused as malformed (400, 413, 415, 422): a bug in the caller. */
export class BadRequest extends ByokError {}
/** Too many requests (429); see `retryAfter`. */
export class RateLimited extends ByokError {}
/** The service could not answer (5xx, network, an answer that is not what it documents). */
export class Unavailable extends ByokError {}

const BY_TYPE: Record<string, typeof ByokError> = {
  "/problems/unknown-provider": UnknownProvider,
  "/problems/not-installed": NotInstalled,
  "/problems/no-key": NoKey,
  "/problems/fallback-not-allowed": FallbackNotAllowed,
};

function errorClass(type: string, status: number): typeof ByokError {
  const byType = BY_TYPE[type];
  if (byType) return byType;
  if (status === 401 || status === 403) return Unauthorized;
  if (status === 429) return RateLimited;
  if (status >= 500 || status === 0) return Unavailable;
  if (status === 404) return UnknownProvider;
  return BadRequest;
}

/** Refuses a target URL that would carry the token in clear: `https:` always, `http:` only to
 * a loopback host (local development). */
export function checkUrl(url: string): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TypeError("The BYOK target's url is not a URL.");
  }
  if (u.protocol === "https:") return;
  const host = u.hostname.replace(/^\[|\]$/g, "").toLowerCase();
  const loopback = host === "localhost" || host === "::1" || /^127(\.\d{1,3}){3}$/.test(host);
  if (u.protocol === "http:" && loopback) return;
  throw new TypeError(
    "The BYOK target's url must be https (plain http only to localhost or 127.0.0.1): a service token must not cross the network in clear.",
  );
}

/** The number of seconds in `Cache-Control: ... max-age=N` (0 when absent or `no-store`). */
export function maxAge(header: string | null): number {
  if (!header) return 0;
  const parts = header.toLowerCase().split(",").map((p) => p.trim());
  if (parts.includes("no-store") || parts.includes("no-cache")) return 0;
  for (const p of parts) {
    const m = /^max-age=(\d{1,9})$/.exec(p);
    if (m) return Number(m[1]);
  }
  return 0;
}

function retryAfterOf(r: Response): number | undefined {
  const v = r.headers.get("retry-after");
  if (v === null || !/^\d{1,9}$/.test(v.trim())) return undefined;
  return Number(v.trim());
}

async function failure(r: Response): Promise<ByokError> {
  let type = `/problems/http-${r.status}`;
  let detail = `The BYOK service answered ${r.status}.`;
  try {
    const p = (await r.json()) as { type?: unknown; detail?: unknown };
    if (typeof p.type === "string") type = p.type;
    if (typeof p.detail === "string") detail = p.detail;
  } catch {
    // Not a problem document: keep the status line.
  }
  const Cls = errorClass(type, r.status);
  return new Cls(detail, type, r.status, retryAfterOf(r));
}

function config(body: unknown): AiConfig {
  const b = body as Record<string, unknown> | null;
  if (
    !b ||
    typeof b.provider !== "string" ||
    typeof b.api_key !== "string" ||
    (b.source !== "tenant" && b.source !== "platform")
  ) {
    throw new Unavailable("The BYOK service's answer is not a resolve answer.", "malformed-answer", 200);
  }
  const fields: Record<string, string> = {};
  if (b.fields && typeof b.fields === "object") {
    for (const [k, v] of Object.entries(b.fields as Record<string, unknown>)) {
      if (typeof v === "string") fields[k] = v;
    }
  }
  const out = {
    provider: b.provider,
    source: b.source,
    status: typeof b.status === "string" ? (b.status as Status) : undefined,
  };
  Object.defineProperty(out, "apiKey", { value: b.api_key, enumerable: false });
  Object.defineProperty(out, "fields", { value: Object.freeze(fields), enumerable: false });
  return Object.freeze(out) as AiConfig;
}

export interface ClientOptions {
  /** The clock, in milliseconds (tests). */
  now?: () => number;
  /** At most this many cached answers; the oldest goes first. */
  maxEntries?: number;
}

/** A client bound to one target, with its own cache. */
export class ByokClient {
  readonly #target: Target;
  readonly #now: () => number;
  readonly #max: number;
  readonly #cache = new Map<string, { config: AiConfig; expires: number }>();

  constructor(target: Target, options: ClientOptions = {}) {
    if (!target || typeof target.token !== "string" || target.token === "") {
      throw new TypeError("A BYOK target needs a service token.");
    }
    if ("url" in target) checkUrl(target.url);
    this.#target = target;
    this.#now = options.now ?? Date.now;
    this.#max = options.maxEntries ?? 1000;
  }

  async #call(path: string, body: unknown, signal?: AbortSignal): Promise<Response> {
    const init: RequestInit = {
      method: "POST",
      headers: {
        authorization: `Bearer ${this.#target.token}`,
        "content-type": "application/json",
        accept: "application/json",
      },
      body: JSON.stringify(body),
      // The service never redirects; following one would send the token along.
      redirect: "manual",
    };
    if (signal) init.signal = signal;
    try {
      if ("binding" in this.#target) {
        // The host is ignored by a service binding; the path is what routes.
        return await this.#target.binding.fetch(`https://byok.internal${path}`, init);
      }
      const f = this.#target.fetch ?? fetch;
      return await f(new URL(path, this.#target.url).toString(), init);
    } catch (e) {
      if (signal?.aborted) throw e;
      throw new Unavailable(
        `The BYOK service could not be reached: ${(e as Error)?.name ?? "error"}.`,
        "network",
        0,
      );
    }
  }

  /** `#call`, refusing a redirect (a 3xx, or the opaque answer some runtimes give for one). */
  async #send(path: string, body: unknown, signal?: AbortSignal): Promise<Response> {
    const r = await this.#call(path, body, signal);
    if (r.type === "opaqueredirect" || (r.status >= 300 && r.status < 400)) {
      throw new Unavailable(
        "The BYOK service answered with a redirect; it is not followed with the service token.",
        "redirect-refused",
        r.status,
      );
    }
    return r;
  }

  /** The key for `tenant` and `provider`; see the module's docs. */
  async getAiConfig(which: Which, options: GetOptions = {}): Promise<AiConfig> {
    const key = `${which.tenant}\u0000${which.provider}`;
    const now = this.#now();
    if (options.cache !== false) {
      const hit = this.#cache.get(key);
      if (hit && hit.expires > now) return hit.config;
      if (hit) this.#cache.delete(key);
    }
    const r = await this.#send(
      "/v1/resolve",
      { tenant: which.tenant, provider: which.provider },
      options.signal,
    );
    if (!r.ok) throw await failure(r);
    let body: unknown;
    try {
      body = await r.json();
    } catch {
      throw new Unavailable("The BYOK service's answer is not JSON.", "malformed-answer", r.status);
    }
    const c = config(body);
    const ttl = maxAge(r.headers.get("cache-control"));
    if (ttl > 0) {
      this.#cache.delete(key);
      this.#cache.set(key, { config: c, expires: now + ttl * 1000 });
      while (this.#cache.size > this.#max) {
        const oldest = this.#cache.keys().next().value;
        if (oldest === undefined) break;
        this.#cache.delete(oldest);
      }
    }
    return c;
  }

  /** Reports what the provider answered a call made with a resolved key, and drops the cached
   * answer for that tenant and provider when the status rejects the key. */
  async reportRejection(report: Report, signal?: AbortSignal): Promise<ReportAnswer> {
    if (report.status === 401 || report.status === 402 || report.status === 403) {
      this.forget(report);
    }
    const r = await this.#send(
      "/v1/resolve/report",
      {
        tenant: report.tenant,
        provider: report.provider,
        source: report.source,
        status: report.status,
      },
      signal,
    );
    if (r.status !== 202) throw await failure(r);
    const b = (await r.json()) as { action?: unknown; detail?: unknown; retest_after?: unknown };
    return {
      action: String(b.action ?? ""),
      detail: String(b.detail ?? ""),
      retestAfter: typeof b.retest_after === "string" ? b.retest_after : undefined,
    };
  }

  /** Drops the cached answer for one tenant and provider. */
  forget(which: Which): void {
    this.#cache.delete(`${which.tenant}\u0000${which.provider}`);
  }

  /** Drops every cached answer. */
  clear(): void {
    this.#cache.clear();
  }
}

// One client (and cache) per binding or URL+token, for the function-style API.
const byBinding = new WeakMap<FetcherLike, Map<string, ByokClient>>();
const byUrl = new Map<string, ByokClient>();

function clientFor(target: Target): ByokClient {
  if ("binding" in target) {
    let m = byBinding.get(target.binding);
    if (!m) byBinding.set(target.binding, (m = new Map()));
    let c = m.get(target.token);
    if (!c) m.set(target.token, (c = new ByokClient(target)));
    return c;
  }
  const id = `${target.url}\u0000${target.token}`;
  let c = byUrl.get(id);
  if (!c) byUrl.set(id, (c = new ByokClient(target)));
  return c;
}

/** The key for a tenant and provider (see `ByokClient.getAiConfig`). */
export function getAiConfig(target: Target, which: Which, options?: GetOptions): Promise<AiConfig> {
  return clientFor(target).getAiConfig(which, options);
}

/** Reports what the provider answered (see `ByokClient.reportRejection`). */
export function reportRejection(target: Target, report: Report, signal?: AbortSignal): Promise<ReportAnswer> {
  return clientFor(target).reportRejection(report, signal);
}
