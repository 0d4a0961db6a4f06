/**
 * An AI edge function: `POST /v1/complete {prompt, provider?}` answers with the provider's
 * completion, made with the caller's tenant's own key (or the platform's, where allowed).
 *
 * 0. Who is calling: the platform user's own token (`Authorization: Bearer`), verified by the
 *    BYOK service (`GET /v1/me` over the binding). The tenant is the verified token's, never
 *    one named in the request body: a function that trusts a body's tenant resolves any
 *    tenant's key for anyone who can reach it.
 * 1. `getAiConfig` over the `BYOK` service binding: which key, and whose. The function's own
 *    service token is scoped to the providers it calls (`byok token --role service
 *    --providers anthropic,openai`), so a leak of it cannot resolve a Stripe or Twilio key.
 * 2. The provider's messages / chat API with that key.
 * 3. A 401/403 (and Anthropic's 402, billing) is reported with `reportRejection`, so the
 *    service re-tests the tenant's key and Settings shows "Invalid key" within seconds.
 *
 * The key never leaves this function: answers carry the provider's text and `source`.
 */
import {
  ByokError,
  FallbackNotAllowed,
  NoKey,
  NotInstalled,
  UnknownProvider,
  getAiConfig,
  reportRejection,
  type AiConfig,
  type FetcherLike,
} from "@byok/client";

export interface Env {
  BYOK: FetcherLike;
  BYOK_SERVICE_TOKEN: string;
  ANTHROPIC_BASE_URL: string;
  OPENAI_BASE_URL: string;
}

interface Ask {
  tenant: string;
  prompt: string;
  provider: "anthropic" | "openai";
}

interface Caller {
  tenant: string;
  sub: string;
}

const json = (status: number, body: unknown): Response =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

/** The caller, from its own token as the BYOK service verifies it; or the answer refusing it. */
async function caller(req: Request, env: Env): Promise<Caller | Response> {
  const auth = req.headers.get("authorization");
  if (!auth || !/^Bearer \S+$/.test(auth)) {
    return json(401, { error: "unauthenticated", detail: "Send your session token: Authorization: Bearer <token>." });
  }
  let r: Response;
  try {
    r = await env.BYOK.fetch("https://byok.internal/v1/me", {
      headers: { authorization: auth, accept: "application/json" },
      redirect: "manual",
    });
  } catch {
    return json(502, { error: "byok-unreachable", detail: "The BYOK service could not be reached." });
  }
  if (r.status === 401) return json(401, { error: "unauthenticated", detail: "The token was refused: sign in again." });
  if (!r.ok) return json(502, { error: "byok-error", detail: `The BYOK service answered ${r.status}.` });
  const me = (await r.json().catch(() => null)) as { tenant?: unknown; sub?: unknown; role?: unknown } | null;
  if (!me || typeof me.tenant !== "string" || typeof me.sub !== "string") {
    return json(502, { error: "byok-error", detail: "The BYOK service's answer is not a session." });
  }
  if (me.role !== "member" && me.role !== "owner") {
    return json(403, { error: "forbidden", detail: "Only a tenant's members and owners call this function." });
  }
  return { tenant: me.tenant, sub: me.sub };
}

/** The request body: a prompt and a provider. A `tenant` in it is ignored. */
function parse(body: unknown, who: Caller): Ask | string {
  const b = body as Record<string, unknown> | null;
  if (!b || typeof b.prompt !== "string") {
    return "Send {\"prompt\": \"...\"} (provider: anthropic or openai).";
  }
  const provider = b.provider ?? "anthropic";
  if (provider !== "anthropic" && provider !== "openai") return "provider must be anthropic or openai.";
  return { tenant: who.tenant, prompt: b.prompt.slice(0, 4000), provider };
}

/** The provider call; returns the status and the text (or the provider's error message). */
async function complete(env: Env, ask: Ask, cfg: AiConfig): Promise<{ status: number; text: string }> {
  const r =
    ask.provider === "anthropic"
      ? await fetch(`${env.ANTHROPIC_BASE_URL}/v1/messages`, {
          method: "POST",
          headers: { "x-api-key": cfg.apiKey, "anthropic-version": "2023-06-01", "content-type": "application/json" },
          body: JSON.stringify({ model: "claude-sonnet-4-5", max_tokens: 256, messages: [{ role: "user", content: ask.prompt }] }),
        })
      : await fetch(`${env.OPENAI_BASE_URL}/v1/chat/completions`, {
          method: "POST",
          headers: { authorization: `Bearer ${cfg.apiKey}`, "content-type": "application/json" },
          body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: ask.prompt }] }),
        });
  const body = (await r.json().catch(() => ({}))) as Record<string, any>;
  if (!r.ok) return { status: r.status, text: String(body?.error?.message ?? `HTTP ${r.status}`) };
  const text = ask.provider === "anthropic" ? body?.content?.[0]?.text : body?.choices?.[0]?.message?.content;
  return { status: r.status, text: String(text ?? "") };
}

/** `POST /v1/which-key {provider?}`: whose key would serve the caller's tenant, asked of the
 * service now (no cache); never the key itself. For a function's own checks, and the
 * benchmark of the binding hop. Signed-in callers only, about their own tenant. */
async function whichKey(req: Request, env: Env, who: Caller): Promise<Response> {
  if (req.method !== "POST") return json(405, { error: "method-not-allowed" });
  const ask = parse({ ...((await req.json().catch(() => null)) as object), prompt: "" }, who);
  if (typeof ask === "string") return json(400, { error: "bad-request", detail: ask });
  try {
    const cfg = await getAiConfig(
      { binding: env.BYOK, token: env.BYOK_SERVICE_TOKEN },
      { tenant: ask.tenant, provider: ask.provider },
      { cache: false },
    );
    return json(200, { provider: cfg.provider, source: cfg.source, status: cfg.status ?? null });
  } catch (e) {
    if (e instanceof ByokError) return json(e.status === 404 ? 409 : 502, { error: e.name, detail: e.message });
    throw e;
  }
}

export default {
  async fetch(req: Request, env: Env): Promise<Response> {
    const path = new URL(req.url).pathname;
    if (path === "/healthz") return json(200, { status: "ok" });
    if (path !== "/v1/complete" && path !== "/v1/which-key") return json(404, { error: "not-found" });
    const who = await caller(req, env);
    if (who instanceof Response) return who;
    if (path === "/v1/which-key") return whichKey(req, env, who);
    if (req.method !== "POST") return json(405, { error: "method-not-allowed" });
    const ask = parse(await req.json().catch(() => null), who);
    if (typeof ask === "string") return json(400, { error: "bad-request", detail: ask });

    const target = { binding: env.BYOK, token: env.BYOK_SERVICE_TOKEN };
    let cfg: AiConfig;
    try {
      cfg = await getAiConfig(target, { tenant: ask.tenant, provider: ask.provider });
    } catch (e) {
      if (e instanceof FallbackNotAllowed || e instanceof NoKey || e instanceof NotInstalled || e instanceof UnknownProvider) {
        // The tenant must bring its key: say so, never fall back on our own.
        return json(409, { error: e.name, detail: e.message });
      }
      if (e instanceof ByokError) return json(502, { error: e.name, detail: e.message });
      throw e;
    }

    const answer = await complete(env, ask, cfg);
    const rejected = answer.status === 401 || answer.status === 403 || (ask.provider === "anthropic" && answer.status === 402);
    if (rejected) {
      // Close the loop: the service re-tests the key and the tenant's Settings show it.
      const report = await reportRejection(target, {
        tenant: ask.tenant,
        provider: ask.provider,
        source: cfg.source,
        status: answer.status,
      }).catch((e: unknown) => ({ action: "not-reported", detail: String((e as Error)?.message) }));
      return json(502, { error: "provider-rejected-key", source: cfg.source, status: answer.status, reported: report.action });
    }
    if (answer.status >= 400) return json(502, { error: "provider-error", source: cfg.source, status: answer.status, detail: answer.text });
    return json(200, { provider: ask.provider, source: cfg.source, status: cfg.status ?? null, text: answer.text });
  },
};
