/**
 * An AI edge function: `POST /v1/complete {tenant, prompt, provider?}` answers with the
 * provider's completion, made with the tenant's own key (or the platform's, where allowed).
 *
 * 1. `getAiConfig` over the `BYOK` service binding: which key, and whose.
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

const json = (status: number, body: unknown): Response =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

function parse(body: unknown): Ask | string {
  const b = body as Record<string, unknown> | null;
  if (!b || typeof b.tenant !== "string" || typeof b.prompt !== "string") {
    return "Send {\"tenant\": \"...\", \"prompt\": \"...\"} (provider: anthropic or openai).";
  }
  const provider = b.provider ?? "anthropic";
  if (provider !== "anthropic" && provider !== "openai") return "provider must be anthropic or openai.";
  return { tenant: b.tenant, prompt: b.prompt.slice(0, 4000), provider };
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

/** `POST /v1/which-key {tenant, provider?}`: whose key would serve this tenant, asked of the
 * service now (no cache); never the key itself. For a function's own checks, and the
 * benchmark of the binding hop. */
async function whichKey(req: Request, env: Env): Promise<Response> {
  if (req.method !== "POST") return json(405, { error: "method-not-allowed" });
  const ask = parse({ prompt: "", ...((await req.json().catch(() => null)) as object) });
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
    if (path === "/v1/which-key") return whichKey(req, env);
    if (path !== "/v1/complete") return json(404, { error: "not-found" });
    if (req.method !== "POST") return json(405, { error: "method-not-allowed" });
    const ask = parse(await req.json().catch(() => null));
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
