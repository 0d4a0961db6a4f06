// Unit tests of @byok/client against a stand-in binding (a Fetcher that records each call and
// answers as the service documents). The real service is exercised by the example function's
// end-to-end test under workerd (tests/e2e/tests/ai_function.rs).
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  ByokClient,
  getAiConfig,
  reportRejection,
  maxAge,
  ByokError,
  NoKey,
  NotInstalled,
  FallbackNotAllowed,
  UnknownProvider,
  Unauthorized,
  Unavailable,
  RateLimited,
  BadRequest,
} from "../dist/index.js";

const KEY = "sk-ant-FAKE-valid-0000000000000000000000";

function binding(answers) {
  const calls = [];
  return {
    calls,
    async fetch(url, init) {
      calls.push({ url, init, body: init.body ? JSON.parse(init.body) : undefined });
      const next = typeof answers === "function" ? answers(calls.length, calls.at(-1)) : answers.shift();
      if (next instanceof Error) throw next;
      const { status = 200, body, headers = {} } = next;
      return new Response(body === undefined ? null : JSON.stringify(body), {
        status,
        headers: { "content-type": status >= 400 ? "application/problem+json" : "application/json", ...headers },
      });
    },
  };
}

const resolved = (over = {}) => ({
  status: 200,
  body: { provider: "anthropic", api_key: KEY, source: "tenant", status: "connected", ...over },
  headers: { "cache-control": "private, max-age=30" },
});

const problem = (status, slug, detail = "words") => ({
  status,
  body: { type: `/problems/${slug}`, title: "t", status, detail },
});

test("a resolve returns the key, its source and status, over the binding with the token", async () => {
  const b = binding([resolved()]);
  const c = new ByokClient({ binding: b, token: "svc-token" });
  const cfg = await c.getAiConfig({ tenant: "acme", provider: "anthropic" });
  assert.equal(cfg.apiKey, KEY);
  assert.equal(cfg.source, "tenant");
  assert.equal(cfg.status, "connected");
  assert.equal(b.calls.length, 1);
  assert.equal(new URL(b.calls[0].url).pathname, "/v1/resolve");
  assert.equal(b.calls[0].init.headers.authorization, "Bearer svc-token");
  assert.deepEqual(b.calls[0].body, { tenant: "acme", provider: "anthropic" });
});

test("the key never prints or serialises", async () => {
  const c = new ByokClient({ binding: binding([resolved({ fields: { account_sid: "AC123" } })]), token: "t" });
  const cfg = await c.getAiConfig({ tenant: "acme", provider: "anthropic" });
  const { inspect } = await import("node:util");
  assert.ok(!JSON.stringify(cfg).includes(KEY));
  assert.ok(!inspect(cfg).includes(KEY));
  assert.ok(!inspect(cfg).includes("AC123"));
  assert.equal(cfg.fields.account_sid, "AC123");
});

test("a cache hit makes no request until max-age passes", async () => {
  let now = 1_000_000;
  const b = binding(() => resolved());
  const c = new ByokClient({ binding: b, token: "t" }, { now: () => now });
  await c.getAiConfig({ tenant: "acme", provider: "anthropic" });
  for (let i = 0; i < 50; i++) await c.getAiConfig({ tenant: "acme", provider: "anthropic" });
  assert.equal(b.calls.length, 1, "hits make no request");
  await c.getAiConfig({ tenant: "other", provider: "anthropic" });
  assert.equal(b.calls.length, 2, "another tenant is another entry");
  now += 29_999;
  await c.getAiConfig({ tenant: "acme", provider: "anthropic" });
  assert.equal(b.calls.length, 2);
  now += 1;
  await c.getAiConfig({ tenant: "acme", provider: "anthropic" });
  assert.equal(b.calls.length, 3, "expired at max-age");
  await c.getAiConfig({ tenant: "acme", provider: "anthropic" }, { cache: false });
  assert.equal(b.calls.length, 4, "cache: false asks the service");
});

test("no Cache-Control, no-store or a garbled max-age: nothing is cached", async () => {
  for (const header of [undefined, "no-store", "private, max-age=30, no-store", "max-age=abc", "max-age=-5"]) {
    const headers = header === undefined ? {} : { "cache-control": header };
    const b = binding(() => ({ ...resolved(), headers }));
    const c = new ByokClient({ binding: b, token: "t" });
    await c.getAiConfig({ tenant: "a", provider: "p" });
    await c.getAiConfig({ tenant: "a", provider: "p" });
    assert.equal(b.calls.length, 2, `header ${header}`);
  }
  assert.equal(maxAge("private, max-age=30"), 30);
  assert.equal(maxAge("Private, Max-Age=7"), 7);
});

test("the cache is bounded, oldest first", async () => {
  const b = binding(() => resolved());
  const c = new ByokClient({ binding: b, token: "t" }, { maxEntries: 2 });
  for (const t of ["a", "b", "c"]) await c.getAiConfig({ tenant: t, provider: "p" });
  await c.getAiConfig({ tenant: "c", provider: "p" });
  await c.getAiConfig({ tenant: "b", provider: "p" });
  assert.equal(b.calls.length, 3);
  await c.getAiConfig({ tenant: "a", provider: "p" });
  assert.equal(b.calls.length, 4, "the oldest was dropped");
});

test("each problem type is its own error class, with the detail and never the key", async () => {
  const cases = [
    [problem(404, "no-key"), NoKey],
    [problem(404, "not-installed"), NotInstalled],
    [problem(404, "fallback-not-allowed"), FallbackNotAllowed],
    [problem(404, "unknown-provider"), UnknownProvider],
    [problem(401, "unauthenticated"), Unauthorized],
    [problem(403, "forbidden"), Unauthorized],
    [problem(422, "validation-failed"), BadRequest],
    [{ ...problem(429, "too-many-requests"), headers: { "retry-after": "7" } }, RateLimited],
    [problem(500, "internal"), Unavailable],
    [{ status: 502, body: undefined }, Unavailable],
  ];
  for (const [answer, Cls] of cases) {
    const c = new ByokClient({ binding: binding([answer]), token: "t" });
    await assert.rejects(c.getAiConfig({ tenant: "a", provider: "p" }), (e) => {
      assert.ok(e instanceof Cls, `${answer.status} → ${e.name}`);
      assert.ok(e instanceof ByokError);
      assert.equal(e.status, answer.status);
      if (answer.body) assert.equal(e.message, "words");
      if (Cls === RateLimited) assert.equal(e.retryAfter, 7);
      return true;
    });
  }
});

test("a network failure is Unavailable and names no URL or token", async () => {
  const c = new ByokClient({ binding: binding([new TypeError("connect ECONNREFUSED https://x?token=secret")]), token: "svc-secret" });
  await assert.rejects(c.getAiConfig({ tenant: "a", provider: "p" }), (e) => {
    assert.ok(e instanceof Unavailable);
    assert.equal(e.type, "network");
    assert.ok(!e.message.includes("secret"));
    return true;
  });
});

test("an answer that is not a resolve answer is Unavailable, not a config", async () => {
  const c = new ByokClient({ binding: binding([{ status: 200, body: { provider: "p" } }]), token: "t" });
  await assert.rejects(c.getAiConfig({ tenant: "a", provider: "p" }), Unavailable);
});

test("a rejection report drops the cached key and says what the service will do", async () => {
  const b = binding((n, call) =>
    new URL(call.url).pathname === "/v1/resolve/report"
      ? { status: 202, body: { action: "retest-scheduled", detail: "re-tested now" } }
      : resolved(),
  );
  const c = new ByokClient({ binding: b, token: "t" });
  await c.getAiConfig({ tenant: "acme", provider: "anthropic" });
  const a = await c.reportRejection({ tenant: "acme", provider: "anthropic", source: "tenant", status: 401 });
  assert.equal(a.action, "retest-scheduled");
  assert.deepEqual(b.calls[1].body, { tenant: "acme", provider: "anthropic", source: "tenant", status: 401 });
  await c.getAiConfig({ tenant: "acme", provider: "anthropic" });
  assert.equal(b.calls.length, 3, "resolved again after the report");
});

test("the function API shares one cache per binding and token", async () => {
  const b = binding(() => resolved());
  const target = { binding: b, token: "t" };
  await getAiConfig(target, { tenant: "a", provider: "p" });
  await getAiConfig({ binding: b, token: "t" }, { tenant: "a", provider: "p" });
  assert.equal(b.calls.length, 1);
  await getAiConfig({ binding: b, token: "other" }, { tenant: "a", provider: "p" });
  assert.equal(b.calls.length, 2, "another token is another client");
  const r = binding([{ status: 202, body: { action: "not-a-rejection", detail: "x" } }]);
  assert.equal((await reportRejection({ binding: r, token: "t" }, { tenant: "a", provider: "p", source: "platform", status: 429 })).action, "not-a-rejection");
});

test("HTTPS targets use the URL and the given fetch", async () => {
  const b = binding([resolved()]);
  const c = new ByokClient({ url: "https://byok.example.com/", token: "t", fetch: (u, i) => b.fetch(u, i) });
  await c.getAiConfig({ tenant: "a", provider: "p" });
  assert.equal(b.calls[0].url, "https://byok.example.com/v1/resolve");
  assert.throws(() => new ByokClient({ url: "https://x", token: "" }), TypeError);
});

test("a plain http URL is refused unless it is loopback (the token would travel in clear)", () => {
  for (const url of ["http://byok.example.com", "http://10.0.0.7:8787", "http://localhost.example.com", "ftp://byok", "not a url"]) {
    assert.throws(() => new ByokClient({ url, token: "t" }), TypeError, url);
  }
  for (const url of ["https://byok.example.com", "http://127.0.0.1:8787", "http://localhost:8787", "http://[::1]:8787"]) {
    assert.doesNotThrow(() => new ByokClient({ url, token: "t" }), url);
  }
});

test("a redirect is never followed with the token, and says so", async () => {
  const seen = [];
  const c = new ByokClient({
    url: "https://byok.example.com",
    token: "the-service-token",
    fetch: async (u, init) => {
      seen.push({ u, redirect: init.redirect });
      return new Response(null, { status: 307, headers: { location: "https://elsewhere.example/v1/resolve" } });
    },
  });
  await assert.rejects(c.getAiConfig({ tenant: "a", provider: "p" }), (e) => {
    assert.ok(e instanceof Unavailable);
    assert.match(e.message, /redirect/);
    assert.ok(!e.message.includes("the-service-token"));
    return true;
  });
  await assert.rejects(c.reportRejection({ tenant: "a", provider: "p", source: "tenant", status: 401 }), Unavailable);
  assert.equal(seen.length, 2, "one request each, none to the redirect's target");
  assert.ok(seen.every((s) => s.redirect === "manual" && s.u.startsWith("https://byok.example.com/")));
});
