//! The Worker under workerd, driven over HTTP: the catalog, both install paths, settings,
//! resolve, tenant isolation, bad input of every kind, and audit. One edge serves every
//! trial; each trial uses its own tenants so trials can run in parallel.

use std::sync::Arc;

use byok_e2e::Edge;
use libtest_mimic::{Arguments, Failed, Trial};
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

struct Ctx {
    edge: Edge,
    fakes: byok_fake_providers::FakeProviders,
    http: Client,
    /// One runtime for every trial's calls (trials run on their own threads and block on it).
    rt: tokio::runtime::Runtime,
}

type Check = fn(&Ctx) -> Result<(), Failed>;

/// A call and its answer, with the body parsed when it is JSON.
struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
}

impl Ctx {
    fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Answer {
        self.raw(
            method,
            path,
            token,
            body.map(|b| ("application/json", b.to_string().into_bytes())),
            &[],
        )
    }

    fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<(&str, Vec<u8>)>,
        headers: &[(&str, &str)],
    ) -> Answer {
        self.rt.block_on(async {
            let mut req = self
                .http
                .request(method, format!("{}{path}", self.edge.base));
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            if let Some((ct, bytes)) = body {
                req = req.header("content-type", ct).body(bytes);
            }
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            let resp = req.send().await.expect("request");
            Answer {
                status: resp.status(),
                headers: resp.headers().clone(),
                text: resp.text().await.unwrap_or_default(),
            }
        })
    }

    fn owner(&self, tenant: &str) -> String {
        self.edge.token("owner", tenant)
    }
    fn member(&self, tenant: &str) -> String {
        self.edge.token("member", tenant)
    }
    fn service(&self) -> String {
        self.edge.token("service", "platform")
    }
    fn admin(&self) -> String {
        self.edge.token("platform-admin", "platform")
    }

    fn resolve(&self, tenant: &str, provider: &str) -> Answer {
        self.call(
            Method::POST,
            "/v1/resolve",
            Some(&self.service()),
            Some(json!({"tenant": tenant, "provider": provider})),
        )
    }
}

fn ensure(cond: bool, what: impl Into<String>) -> Result<(), Failed> {
    if cond {
        Ok(())
    } else {
        Err(what.into().into())
    }
}

fn expect_status(a: &Answer, want: u16, what: &str) -> Result<(), Failed> {
    ensure(
        a.status.as_u16() == want,
        format!("{what}: expected {want}, got {} {}", a.status, a.text),
    )
}

/// A problem+json answer with this status, whose detail says something.
fn expect_problem(a: &Answer, want: u16, what: &str) -> Result<(), Failed> {
    expect_status(a, want, what)?;
    let ct = a
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    ensure(
        ct.starts_with("application/problem+json"),
        format!("{what}: content-type {ct}"),
    )?;
    let p = a.json();
    ensure(
        p["status"] == want && p["type"].is_string() && p["title"].is_string(),
        format!("{what}: {p}"),
    )?;
    ensure(
        p["detail"].as_str().is_some_and(|d| d.len() > 10),
        format!("{what}: a useful detail, got {p}"),
    )
}

fn no_secret(a: &Answer, secret: &str, what: &str) -> Result<(), Failed> {
    ensure(
        !a.text.contains(secret),
        format!("{what}: the answer contains the secret"),
    )
}

// --- the catalog -------------------------------------------------------------------------

fn catalog_lists_the_seeds_with_an_etag(c: &Ctx) -> Result<(), Failed> {
    let t = c.member("cat-a");
    let a = c.call(Method::GET, "/v1/providers", Some(&t), None);
    expect_status(&a, 200, "list")?;
    let list = a.json();
    let keys: Vec<&str> = list["providers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["key"].as_str())
        .collect();
    for k in [
        "anthropic",
        "openai",
        "stripe",
        "twilio",
        "sendgrid",
        "google-calendar",
        "meta-ads",
    ] {
        ensure(keys.contains(&k), format!("{k} is listed: {keys:?}"))?;
    }
    let sendgrid = list["providers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["key"] == "sendgrid")
        .cloned()
        .unwrap_or_default();
    ensure(
        sendgrid["category"] == "Email",
        format!("SendGrid's category: {}", sendgrid["category"]),
    )?;
    ensure(
        sendgrid["logo"]
            .as_str()
            .is_some_and(|l| l.starts_with("/v1/providers/sendgrid/logo")),
        "logo URL",
    )?;
    let etag = a
        .headers
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    ensure(!etag.is_empty(), "an ETag")?;
    let again = c.raw(
        Method::GET,
        "/v1/providers",
        Some(&t),
        None,
        &[("if-none-match", &etag)],
    );
    expect_status(&again, 304, "revalidation")?;
    let one = c.call(Method::GET, "/v1/providers/google-calendar", Some(&t), None);
    expect_status(&one, 200, "one entry")?;
    ensure(one.json()["auth_type"] == "service-account", "auth type")?;
    expect_problem(
        &c.call(Method::GET, "/v1/providers/nope", Some(&t), None),
        404,
        "unknown provider",
    )?;
    expect_problem(
        &c.call(Method::GET, "/v1/providers", None, None),
        401,
        "catalog needs sign-in",
    )
}

fn logos_are_public_and_sandboxed(c: &Ctx) -> Result<(), Failed> {
    let a = c.call(Method::GET, "/v1/providers/stripe/logo", None, None);
    expect_status(&a, 200, "logo")?;
    let h = |n: &str| {
        a.headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    ensure(h("content-type") == "image/svg+xml", "svg")?;
    ensure(
        h("content-security-policy").contains("sandbox"),
        "scripts in an SVG cannot run",
    )?;
    ensure(
        h("cache-control").contains("max-age=31536000"),
        "long cache",
    )?;
    expect_problem(
        &c.call(Method::GET, "/v1/providers/nope/logo", None, None),
        404,
        "no logo",
    )
}

// --- install, settings, uninstall --------------------------------------------------------

fn add_later_then_connect_in_settings(c: &Ctx) -> Result<(), Failed> {
    let t = c.owner("flow-a");
    let a = c.call(
        Method::POST,
        "/v1/integrations",
        Some(&t),
        Some(json!({"provider": "stripe"})),
    );
    expect_status(&a, 201, "install later")?;
    ensure(
        a.json()["status"] == "disconnected" && a.json().get("mask").is_none(),
        format!("disconnected: {}", a.text),
    )?;
    expect_problem(
        &c.call(
            Method::POST,
            "/v1/integrations",
            Some(&t),
            Some(json!({"provider": "stripe"})),
        ),
        409,
        "installed twice",
    )?;
    expect_problem(
        &c.call(Method::POST, "/v1/integrations/stripe/test", Some(&t), None),
        409,
        "nothing to test",
    )?;
    expect_problem(
        &c.resolve("flow-a", "stripe"),
        404,
        "no key, and Stripe has no platform fallback",
    )?;

    let secret = "sk_test_valid0000000000000000SECRET1";
    let saved = c.call(
        Method::PUT,
        "/v1/integrations/stripe/credential",
        Some(&t),
        Some(json!({"key": secret})),
    );
    expect_status(&saved, 200, "save in settings")?;
    no_secret(&saved, secret, "save")?;
    let v = saved.json();
    ensure(
        v["status"] == "unverified",
        format!("saved and not yet verified: {v}"),
    )?;
    ensure(
        v["mask"]["masked"] == "••••RET1",
        format!("at most the last 4 characters: {}", v["mask"]),
    )?;
    ensure(
        v["last_test"]["tested_at"].is_string() && v["last_test"]["message"].is_string(),
        "tested at once (Stripe's plugin is not uploaded here: could not verify)",
    )?;

    let list = c.call(Method::GET, "/v1/integrations", Some(&t), None);
    no_secret(&list, secret, "list")?;
    ensure(
        list.json()["integrations"][0]["provider"] == "stripe",
        "listed",
    )?;

    // The mask sent back untouched changes nothing.
    let masked = v["mask"]["masked"].as_str().unwrap_or_default().to_owned();
    let same = c.call(
        Method::PUT,
        "/v1/integrations/stripe/credential",
        Some(&t),
        Some(json!({"key": masked})),
    );
    expect_status(&same, 200, "unchanged")?;
    ensure(
        same.json()["updated_at"] == v["updated_at"],
        "nothing was written",
    )?;
    let r = c.resolve("flow-a", "stripe");
    ensure(
        r.json()["api_key"] == secret && r.json()["source"] == "tenant",
        format!("resolve: {}", r.text),
    )?;

    // Uninstall deletes the key.
    expect_status(
        &c.call(Method::DELETE, "/v1/integrations/stripe", Some(&t), None),
        204,
        "uninstall",
    )?;
    expect_problem(&c.resolve("flow-a", "stripe"), 404, "gone after uninstall")?;
    expect_problem(
        &c.call(Method::DELETE, "/v1/integrations/stripe", Some(&t), None),
        404,
        "already gone",
    )
}

fn paste_now_is_saved_masked_with_format_warnings(c: &Ctx) -> Result<(), Failed> {
    let t = c.owner("flow-b");
    let secret = "not-an-anthropic-looking-key-1234";
    let a = c.call(
        Method::POST,
        "/v1/integrations",
        Some(&t),
        Some(json!({"provider": "anthropic", "key": secret})),
    );
    expect_status(&a, 201, "install with key")?;
    no_secret(&a, secret, "install")?;
    let v = a.json();
    ensure(
        v["status"] == "unverified" && v["mask"]["masked"] == "••••1234",
        format!("{v}"),
    )?;
    ensure(
        v["mask"]["fingerprint"]
            .as_str()
            .is_some_and(|f| f.len() == 8),
        "fingerprint",
    )?;
    ensure(
        v["format_warnings"][0]["field"] == "api_key",
        format!("a format warning, not a refusal: {v}"),
    )?;
    ensure(v["last_test"]["tested_at"].is_string(), "tested at once")?;
    let twilio = c.call(
        Method::POST,
        "/v1/integrations",
        Some(&t),
        Some(json!({"provider": "twilio", "key": "0123456789abcdef0123456789abcdef"})),
    );
    expect_problem(&twilio, 422, "Twilio needs its Account SID")?;
    ensure(
        twilio.json()["detail"]
            .as_str()
            .unwrap_or("")
            .contains("Account SID"),
        "names the field",
    )?;
    let ok = c.call(
        Method::POST,
        "/v1/integrations",
        Some(&t),
        Some(json!({"provider": "twilio", "key": "0123456789abcdef0123456789abcdef", "fields": {"account_sid": "AC0123456789abcdef0123456789abcdef"}})),
    );
    expect_status(&ok, 201, "Twilio with its SID")?;
    ensure(
        ok.json()["fields"]["account_sid"] == "AC0123456789abcdef0123456789abcdef",
        "the SID is shown",
    )?;
    let r = c.resolve("flow-b", "twilio");
    ensure(
        r.json()["fields"]["account_sid"] == "AC0123456789abcdef0123456789abcdef",
        format!("resolve carries fields: {}", r.text),
    )
}

fn a_refused_save_keeps_the_old_key(c: &Ctx) -> Result<(), Failed> {
    let t = c.owner("flow-c");
    let first = "sk-test-proj-first000000000000000000KEEP";
    expect_status(
        &c.call(
            Method::POST,
            "/v1/integrations",
            Some(&t),
            Some(json!({"provider": "openai", "key": first})),
        ),
        201,
        "install",
    )?;
    for bad in [
        json!({"key": "   "}),
        json!({"key": "••••ABCD"}),
        json!({"key": "sk-\u{7}bad"}),
        json!({"key": "x".repeat(9000)}),
        json!({"key": "sk-new", "fields": {"nope": "1"}}),
    ] {
        let a = c.call(
            Method::PUT,
            "/v1/integrations/openai/credential",
            Some(&t),
            Some(bad.clone()),
        );
        expect_problem(
            &a,
            422,
            &format!(
                "refused save {}",
                &bad.to_string()[..bad.to_string().len().min(40)]
            ),
        )?;
        no_secret(&a, first, "refusal")?;
    }
    let r = c.resolve("flow-c", "openai");
    ensure(
        r.json()["api_key"] == first,
        format!("the old key is still in place: {}", r.text),
    )?;
    // A key saved is resolved at once, even right after a cached answer.
    let second = "sk-test-proj-second00000000000000000NEW";
    expect_status(
        &c.call(
            Method::PUT,
            "/v1/integrations/openai/credential",
            Some(&t),
            Some(json!({"key": second})),
        ),
        200,
        "save",
    )?;
    let r = c.resolve("flow-c", "openai");
    ensure(
        r.json()["api_key"] == second,
        format!("the new key at once: {}", r.text),
    )
}

// --- resolve -----------------------------------------------------------------------------

fn resolve_uses_tenant_then_platform_then_nothing(c: &Ctx) -> Result<(), Failed> {
    let platform = "sk-ant-fake0-platform00000000000000PLAT";
    let set = c.call(
        Method::PUT,
        "/v1/admin/platform-keys/anthropic",
        Some(&c.admin()),
        Some(json!({"key": platform})),
    );
    expect_status(&set, 200, "platform key")?;
    no_secret(&set, platform, "platform key answer")?;
    let r = c.resolve("res-none", "anthropic");
    ensure(
        r.json()["api_key"] == platform
            && r.json()["source"] == "platform"
            && r.json().get("status").is_none(),
        format!("platform fallback: {}", r.text),
    )?;

    let t = c.owner("res-own");
    let own = "sk-ant-fake0-tenant000000000000000000OWN";
    expect_status(
        &c.call(
            Method::POST,
            "/v1/integrations",
            Some(&t),
            Some(json!({"provider": "anthropic", "key": own})),
        ),
        201,
        "install",
    )?;
    let r = c.resolve("res-own", "anthropic");
    ensure(
        r.json()["api_key"] == own
            && r.json()["source"] == "tenant"
            && r.json()["status"] == "unverified",
        format!("tenant key wins: {}", r.text),
    )?;

    // Installed without a key: still the platform's.
    let t2 = c.owner("res-later");
    expect_status(
        &c.call(
            Method::POST,
            "/v1/integrations",
            Some(&t2),
            Some(json!({"provider": "anthropic"})),
        ),
        201,
        "install later",
    )?;
    ensure(
        c.resolve("res-later", "anthropic").json()["source"] == "platform",
        "no key yet: platform",
    )?;

    // No fallback allowed, or no platform key: 404 with the reason.
    let stripe = c.resolve("res-none", "stripe");
    expect_problem(&stripe, 404, "Stripe allows no fallback")?;
    ensure(
        stripe.json()["detail"]
            .as_str()
            .unwrap_or("")
            .contains("does not allow the platform key"),
        "reason",
    )?;
    let openai = c.resolve("res-none", "openai");
    expect_problem(&openai, 404, "no platform key for OpenAI")?;
    expect_problem(&c.resolve("res-none", "nope"), 404, "unknown provider")?;
    // Only the service role resolves.
    let as_owner = c.call(
        Method::POST,
        "/v1/resolve",
        Some(&t),
        Some(json!({"tenant": "res-own", "provider": "anthropic"})),
    );
    expect_problem(&as_owner, 403, "an owner cannot resolve")?;
    no_secret(&as_owner, own, "refused resolve")
}

// --- isolation and roles -----------------------------------------------------------------

fn tenants_cannot_reach_each_other(c: &Ctx) -> Result<(), Failed> {
    let a = c.owner("iso-a");
    let b = c.owner("iso-b");
    let secret = "SG.isolation-secret-0000.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    expect_status(
        &c.call(
            Method::POST,
            "/v1/integrations",
            Some(&a),
            Some(json!({"provider": "sendgrid", "key": secret})),
        ),
        201,
        "A installs",
    )?;
    let list = c.call(Method::GET, "/v1/integrations", Some(&b), None);
    ensure(
        list.json()["integrations"]
            .as_array()
            .is_some_and(|l| l.is_empty()),
        "B sees none of A's",
    )?;
    expect_problem(
        &c.call(
            Method::POST,
            "/v1/integrations/sendgrid/test",
            Some(&b),
            None,
        ),
        404,
        "B cannot test A's",
    )?;
    expect_problem(
        &c.call(
            Method::PUT,
            "/v1/integrations/sendgrid/credential",
            Some(&b),
            Some(json!({"key": "SG.overwrite"})),
        ),
        404,
        "B cannot overwrite A's",
    )?;
    expect_problem(
        &c.call(Method::DELETE, "/v1/integrations/sendgrid", Some(&b), None),
        404,
        "B cannot uninstall A's",
    )?;
    expect_problem(&c.resolve("iso-b", "sendgrid"), 404, "B resolves nothing")?;
    ensure(
        c.resolve("iso-a", "sendgrid").json()["api_key"] == secret,
        "A's key is intact",
    )?;
    // Roles: a member cannot uninstall; tenants cannot administer the catalog.
    expect_problem(
        &c.call(
            Method::DELETE,
            "/v1/integrations/sendgrid",
            Some(&c.member("iso-a")),
            None,
        ),
        403,
        "members cannot uninstall",
    )?;
    expect_problem(
        &c.call(
            Method::PUT,
            "/v1/admin/providers/x-new",
            Some(&a),
            Some(json!({})),
        ),
        403,
        "owners are not admins",
    )?;
    expect_problem(
        &c.call(Method::GET, "/v1/integrations", Some(&c.service()), None),
        403,
        "service is not a tenant user",
    )?;
    expect_problem(
        &c.call(Method::GET, "/v1/audit", Some(&c.member("iso-a")), None),
        403,
        "members cannot read the audit log",
    )
}

// --- bad input ---------------------------------------------------------------------------

fn bad_bodies_get_clear_problems(c: &Ctx) -> Result<(), Failed> {
    let t = c.owner("bad-in");
    let post = |ct: &str, body: &[u8]| {
        c.raw(
            Method::POST,
            "/v1/integrations",
            Some(&t),
            Some((ct, body.to_vec())),
            &[],
        )
    };
    expect_problem(
        &post("application/json", b"{not json"),
        400,
        "malformed JSON",
    )?;
    let missing = post("application/json", br#"{"key": "sk-secretvalue-123"}"#);
    expect_problem(&missing, 400, "missing provider")?;
    no_secret(&missing, "sk-secretvalue-123", "parse error")?;
    let typed = post(
        "application/json",
        br#"{"provider": "openai", "key": 5, "x": "sk-secretvalue-456"}"#,
    );
    expect_problem(&typed, 400, "wrong type / unknown field")?;
    no_secret(&typed, "sk-secretvalue-456", "parse error")?;
    // serde quotes the value with escapes: an escaped quote must not end the redaction.
    let escaped = post(
        "application/json",
        br#"{"provider": "openai", "fields": "a\"sk-secretvalue-789 rest"}"#,
    );
    expect_problem(&escaped, 400, "a string where a map belongs")?;
    no_secret(
        &escaped,
        "sk-secretvalue-789",
        "parse error after an escaped quote",
    )?;
    let unknown = post(
        "application/json",
        br#"{"provider": "openai", "api_key": "x"}"#,
    );
    expect_problem(&unknown, 400, "unknown field")?;
    // The allowed names, never the client's own (an unknown field's name may be a pasted key).
    let detail = unknown.json()["detail"].as_str().unwrap_or("").to_owned();
    ensure(
        detail.contains("expected one of `provider`") && !detail.contains("api_key"),
        format!("names the fields it expects, not the one it got: {detail}"),
    )?;
    expect_problem(
        &post("application/json", br#"{"provider": "nope"}"#),
        404,
        "unknown provider",
    )?;
    // serde would read the struct from an array; the API takes objects only.
    let array = post("application/json", br#"["openai", "sk-secretvalue-321"]"#);
    expect_problem(&array, 400, "an array is not an object")?;
    no_secret(&array, "sk-secretvalue-321", "array body")?;
    expect_problem(
        &post("application/json", br#"{"provider": "Not A Key"}"#),
        400,
        "invalid provider key",
    )?;
    expect_problem(
        &post("text/plain", br#"{"provider": "openai"}"#),
        415,
        "content type",
    )?;
    let huge = format!(
        r#"{{"provider": "openai", "key": "{}"}}"#,
        "k".repeat(40_000)
    );
    expect_problem(
        &post("application/json", huge.as_bytes()),
        413,
        "oversize body",
    )?;
    let status = chunked_body_that_never_ends(&c.edge.base, &t)?;
    ensure(
        status.starts_with("HTTP/1.1 413"),
        format!("a chunked body past the cap is refused while it is still arriving: {status}"),
    )?;
    let patch = c.call(Method::PATCH, "/v1/integrations", Some(&t), None);
    expect_problem(&patch, 405, "method")?;
    ensure(
        patch.headers.get("allow").and_then(|v| v.to_str().ok()) == Some("GET, POST, HEAD"),
        format!(
            "405 names the allowed methods: {:?}",
            patch.headers.get("allow")
        ),
    )?;
    // HEAD is GET without the body, wherever GET is answered.
    let get = c.call(Method::GET, "/v1/integrations", Some(&t), None);
    let head = c.call(Method::HEAD, "/v1/integrations", Some(&t), None);
    ensure(
        head.status == 200
            && head.text.is_empty()
            && head.headers.get("content-type") == get.headers.get("content-type"),
        format!(
            "HEAD answers as GET without a body: {} {:?}",
            head.status, head.headers
        ),
    )?;
    expect_status(
        &c.call(Method::HEAD, "/healthz", None, None),
        200,
        "HEAD /healthz",
    )?;
    let head_post = c.call(Method::HEAD, "/v1/resolve", Some(&t), None);
    ensure(
        head_post.status == 405,
        format!("HEAD where there is no GET is 405: {}", head_post.status),
    )?;
    let unknown_method = c.call(
        Method::from_bytes(b"QUERY").expect("method"),
        "/healthz",
        None,
        None,
    );
    expect_problem(&unknown_method, 405, "a method the service does not know")?;
    expect_problem(
        &c.call(Method::GET, "/v2/nothing", Some(&t), None),
        404,
        "no route",
    )?;
    // This edge has no WEBHOOK_URL: nothing can be sent again.
    let off = c.call(
        Method::POST,
        "/v1/admin/webhooks/msg_0123456789abcdef0123456789abcdef/redeliver",
        Some(&c.admin()),
        None,
    );
    expect_problem(&off, 409, "redelivery with webhooks off")?;
    ensure(
        off.json()["detail"]
            .as_str()
            .is_some_and(|d| d.contains("WEBHOOK_URL")),
        format!("names the setting: {}", off.text),
    )?;
    let invalid_entry = c.call(Method::PUT, "/v1/admin/providers/acme-mail", Some(&c.admin()), Some(json!({"name": "", "description": "x", "auth_type": "api-key", "credential_label": "Key", "help_url": "http://insecure"})));
    expect_problem(&invalid_entry, 422, "invalid entry")?;
    let fields: Vec<String> = invalid_entry.json()["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["field"].as_str().map(str::to_owned))
        .collect();
    ensure(
        fields.contains(&"name".to_owned()) && fields.contains(&"help_url".to_owned()),
        format!("names the fields: {fields:?}"),
    )
}

/// Sends a chunked JSON body (no Content-Length) of 64 KiB that never ends, and returns the
/// status line of the answer: a service that buffers the whole body before checking its size
/// never answers.
fn chunked_body_that_never_ends(base: &str, token: &str) -> Result<String, Failed> {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut tcp = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(15)))
        .map_err(|e| e.to_string())?;
    let head = format!(
        "POST /v1/integrations HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {token}\r\n\
         content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
    );
    tcp.write_all(head.as_bytes()).map_err(|e| e.to_string())?;
    let chunk = vec![b' '; 16 * 1024];
    for _ in 0..4 {
        tcp.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .and_then(|()| tcp.write_all(&chunk))
            .and_then(|()| tcp.write_all(b"\r\n"))
            .map_err(|e| e.to_string())?;
    }
    let mut answer = [0u8; 64];
    let n = tcp
        .read(&mut answer)
        .map_err(|e| format!("no answer while the body was still open: {e}"))?;
    Ok(String::from_utf8_lossy(&answer[..n])
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned())
}

fn every_bad_token_is_401(c: &Ctx) -> Result<(), Failed> {
    let good = c.owner("tok");
    let expired = c.edge.token_ttl("owner", "tok", -3600);
    let expired_and_wrong = c.edge.token_with("owner", "tok", -3600, "another-secret");
    let wrong_sig = c.edge.token_with("owner", "tok", 3600, "another-secret");
    let header_none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"; // {"alg":"none","typ":"JWT"}
    let body = good.split('.').nth(1).unwrap_or("");
    let alg_none = format!("{header_none}.{body}.");
    for (what, token) in [
        ("expired", expired.as_str()),
        ("expired, wrong secret", expired_and_wrong.as_str()),
        ("wrong signature", wrong_sig.as_str()),
        ("alg none", alg_none.as_str()),
        ("malformed", "not.a.jwt"),
    ] {
        expect_problem(
            &c.call(Method::GET, "/v1/integrations", Some(token), None),
            401,
            what,
        )?;
    }
    // Issuer and audience are checked, and required.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let user_secret = c.edge.config().auth_secret.clone();
    let claims = |iss: Option<&str>, aud: Option<&str>| {
        let mut v = json!({"sub": "x", "tenant": "tok", "role": "owner", "exp": now + 600});
        if let Some(iss) = iss {
            v["iss"] = json!(iss);
        }
        if let Some(aud) = aud {
            v["aud"] = json!(aud);
        }
        c.edge.sign(&v, &user_secret)
    };
    for (what, token, names) in [
        (
            "another issuer",
            claims(Some("https://evil.example"), Some(byok_e2e::AUDIENCE)),
            "iss",
        ),
        (
            "another audience",
            claims(Some(byok_e2e::ISSUER), Some("other-service")),
            "aud",
        ),
        ("no issuer", claims(None, Some(byok_e2e::AUDIENCE)), "iss"),
        ("no audience", claims(Some(byok_e2e::ISSUER), None), "aud"),
    ] {
        let a = c.call(Method::GET, "/v1/integrations", Some(&token), None);
        expect_problem(&a, 401, what)?;
        ensure(
            a.json()["detail"].as_str().unwrap_or("").contains(names),
            format!("{what}: the detail names '{names}': {}", a.text),
        )?;
    }
    let basic = c.raw(
        Method::GET,
        "/v1/integrations",
        None,
        None,
        &[("authorization", "Basic dXNlcjpwYXNz")],
    );
    expect_problem(&basic, 401, "not a bearer token")?;
    expect_status(
        &c.call(Method::GET, "/v1/integrations", Some(&good), None),
        200,
        "the good token",
    )
}

/// A leak of the secret that signs people's sessions must not read tenants' keys: `service`
/// tokens verify only under `SERVICE_AUTH_SECRET`, and user roles only under `AUTH_SECRET`.
fn each_role_needs_its_own_secret(c: &Ctx) -> Result<(), Failed> {
    let tenant = "split-secrets";
    let install = c.call(
        Method::POST,
        "/v1/integrations",
        Some(&c.owner(tenant)),
        Some(json!({"provider": "anthropic", "key": "sk-ant-FAKE-split-secrets-0000000000000000000000000"})),
    );
    expect_status(&install, 201, "install")?;
    let body = json!({"tenant": tenant, "provider": "anthropic"});
    let cfg = c.edge.config();
    let forged = c
        .edge
        .token_with("service", "platform", 600, &cfg.auth_secret);
    let a = c.call(
        Method::POST,
        "/v1/resolve",
        Some(&forged),
        Some(body.clone()),
    );
    expect_problem(&a, 401, "a service token signed with AUTH_SECRET")?;
    ensure(
        a.json()["detail"]
            .as_str()
            .unwrap_or("")
            .contains("SERVICE_AUTH_SECRET")
            && !a.text.contains("sk-ant-"),
        format!("names the secret it needs, leaks nothing: {}", a.text),
    )?;
    let owner_by_service = c.edge.token_with("owner", tenant, 600, &cfg.service_secret);
    expect_problem(
        &c.call(
            Method::GET,
            "/v1/integrations",
            Some(&owner_by_service),
            None,
        ),
        401,
        "an owner token signed with SERVICE_AUTH_SECRET",
    )?;
    let admin_by_service =
        c.edge
            .token_with("platform-admin", "platform", 600, &cfg.service_secret);
    expect_problem(
        &c.call(
            Method::GET,
            "/v1/admin/keyring",
            Some(&admin_by_service),
            None,
        ),
        401,
        "an admin token signed with SERVICE_AUTH_SECRET",
    )?;
    // A service token is a bearer credential of a program, never a browser session.
    let as_cookie = c.raw(
        Method::POST,
        "/v1/resolve",
        None,
        Some(("application/json", body.to_string().into_bytes())),
        &[
            ("cookie", &format!("byok_session={}", c.service())),
            ("origin", &c.edge.base),
        ],
    );
    expect_problem(&as_cookie, 401, "a service token in the session cookie")?;
    let ok = c.call(Method::POST, "/v1/resolve", Some(&c.service()), Some(body));
    expect_status(&ok, 200, "the real service token")
}

/// `/dev/login` exists only in dev mode *and* for a request addressed to loopback.
fn dev_login_is_loopback_only(c: &Ctx) -> Result<(), Failed> {
    let path = "/dev/login?tenant=remote-t&role=platform-admin";
    for host in ["byok.example.com", "10.0.0.7:8787", "localhost.example.com"] {
        let a = c.raw(Method::GET, path, None, None, &[("host", host)]);
        expect_problem(&a, 404, &format!("dev login for Host {host}"))?;
        ensure(
            a.headers.get("set-cookie").is_none(),
            format!("no session for Host {host}"),
        )?;
    }
    let a = c.raw(Method::GET, path, None, None, &[("host", "localhost")]);
    expect_status(&a, 200, "dev login for Host localhost")
}

fn cookie_sessions_and_csrf(c: &Ctx) -> Result<(), Failed> {
    let login = c.call(
        Method::GET,
        "/dev/login?tenant=cookie-t&role=owner",
        None,
        None,
    );
    expect_status(&login, 200, "dev login")?;
    let cookie = login
        .headers
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    ensure(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        format!("cookie flags: {cookie}"),
    )?;
    let session = cookie.split(';').next().unwrap_or("").to_owned();
    let get = c.raw(
        Method::GET,
        "/v1/integrations",
        None,
        None,
        &[("cookie", &session)],
    );
    expect_status(&get, 200, "cookie auth")?;
    // The production cookie name, as the platform sets it.
    let host_cookie = session.replacen("byok_session=", "__Host-byok_session=", 1);
    let get = c.raw(
        Method::GET,
        "/v1/integrations",
        None,
        None,
        &[("cookie", &format!("theme=dark; {host_cookie}"))],
    );
    expect_status(&get, 200, "__Host-byok_session cookie auth")?;
    let body = Some(("application/json", br#"{"provider": "openai"}"#.to_vec()));
    let cross = c.raw(
        Method::POST,
        "/v1/integrations",
        None,
        body.clone(),
        &[("cookie", &session), ("origin", "https://evil.example")],
    );
    expect_problem(&cross, 403, "cross-site write")?;
    let no_origin = c.raw(
        Method::POST,
        "/v1/integrations",
        None,
        body.clone(),
        &[("cookie", &session)],
    );
    expect_problem(&no_origin, 403, "write without Origin")?;
    let same = c.raw(
        Method::POST,
        "/v1/integrations",
        None,
        body,
        &[("cookie", &session), ("origin", &c.edge.base)],
    );
    expect_status(&same, 201, "same-origin write")
}

fn audit_log_records_actions_without_secrets(c: &Ctx) -> Result<(), Failed> {
    let t = c.owner("audit-t");
    let secret = "EAAauditsecret000000000000000000";
    expect_status(
        &c.call(
            Method::POST,
            "/v1/integrations",
            Some(&t),
            Some(json!({"provider": "meta-ads", "key": secret})),
        ),
        201,
        "install",
    )?;
    expect_status(
        &c.call(
            Method::POST,
            "/v1/integrations/meta-ads/test",
            Some(&t),
            None,
        ),
        200,
        "test",
    )?;
    expect_status(
        &c.call(Method::DELETE, "/v1/integrations/meta-ads", Some(&t), None),
        204,
        "uninstall",
    )?;
    let log = c.call(Method::GET, "/v1/audit", Some(&t), None);
    expect_status(&log, 200, "audit")?;
    no_secret(&log, secret, "audit")?;
    let actions: Vec<String> = log.json()["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["action"].as_str().map(str::to_owned))
        .collect();
    for a in ["install", "test", "uninstall"] {
        ensure(
            actions.contains(&a.to_owned()),
            format!("{a} in {actions:?}"),
        )?;
    }
    let other = c.call(
        Method::GET,
        "/v1/audit",
        Some(&c.owner("audit-other")),
        None,
    );
    ensure(
        other.json()["entries"]
            .as_array()
            .is_some_and(|e| e.is_empty()),
        "another tenant sees none of it",
    )
}

fn a_retired_provider_keeps_existing_keys(c: &Ctx) -> Result<(), Failed> {
    let admin = c.admin();
    let spec = json!({"name": "Acme Mail", "description": "Mail by Acme.", "auth_type": "api-key", "credential_label": "API key", "help_url": "https://acme.example/keys", "help_instructions": ["Open settings.", "Copy the key."], "platform_fallback": true});
    expect_status(
        &c.call(
            Method::PUT,
            "/v1/admin/providers/acme-mail",
            Some(&admin),
            Some(spec),
        ),
        201,
        "create entry",
    )?;
    let t = c.owner("retire-t");
    let secret = "acme-key-0000000000000000RETIRE";
    expect_status(
        &c.call(
            Method::POST,
            "/v1/integrations",
            Some(&t),
            Some(json!({"provider": "acme-mail", "key": secret})),
        ),
        201,
        "install",
    )?;
    expect_status(
        &c.call(
            Method::DELETE,
            "/v1/admin/providers/acme-mail",
            Some(&admin),
            None,
        ),
        204,
        "retire",
    )?;
    let list = c.call(Method::GET, "/v1/providers", Some(&t), None);
    ensure(
        !list.text.contains("\"acme-mail\""),
        "retired entries leave the catalog",
    )?;
    expect_problem(
        &c.call(
            Method::POST,
            "/v1/integrations",
            Some(&c.owner("retire-new")),
            Some(json!({"provider": "acme-mail"})),
        ),
        404,
        "no new installs",
    )?;
    ensure(
        c.resolve("retire-t", "acme-mail").json()["api_key"] == secret,
        "the existing key still resolves",
    )?;
    ensure(
        c.call(Method::GET, "/v1/integrations", Some(&t), None)
            .json()["integrations"][0]["provider"]
            == "acme-mail",
        "still listed in settings",
    )
}

fn component(name: &str) -> Vec<u8> {
    byok_e2e::plugin_component(name)
}

/// Fixtures for a test entry with one field (`key`): the seed's own for a seeded plugin, and
/// for the hostile plugin (careful unless the key is armed) a refused key and a working one.
fn fixtures_for(plugin: &str) -> Value {
    let mut f = if plugin == "hostile" {
        json!({
            "credential": {"key": "hostile-fixture-key-0000"},
            "cases": [
                {"name": "a wrong key is refused", "source": "https://example.com/docs/errors",
                 "answers": [{"status": 401, "body": {"error": "bad key"}}], "expect": {"verdict": "invalid-credential"}},
                {"name": "a working key", "source": "https://example.com/docs/me",
                 "answers": [{"status": 200, "body": {"ok": true}}], "expect": {"verdict": "connected"}}
            ]
        })
    } else {
        byok_e2e::seed_entry(plugin)["fixtures"].clone()
    };
    let secret = f["credential"]
        .as_object()
        .and_then(|c| c.values().next().cloned())
        .unwrap_or_default();
    f["credential"] = json!({ "key": secret });
    f
}

/// Creates an entry whose test plugin (`plugin`, with `config`) may reach only the fakes: the
/// plugin is uploaded, then the entry names it with fixtures (and passes the suite).
fn entry_with_plugin(c: &Ctx, key: &str, plugin: &str, config: Value) -> Result<(), Failed> {
    let port = c.fakes.addr().port();
    let up = c.raw(
        Method::PUT,
        "/v1/admin/plugins",
        Some(&c.admin()),
        Some(("application/wasm", component(plugin))),
        &[],
    );
    expect_status(&up, 200, "upload plugin")?;
    let digest = up.json()["digest"].clone();
    let spec = json!({
        "name": format!("Test {key}"), "description": "An entry whose test runs against a loopback fake.",
        "auth_type": "api-key", "credential_label": "API key", "help_url": "https://example.com/keys",
        "test_plugin": {"digest": digest, "config": config},
        "egress": [{"scheme": "http", "host": "127.0.0.1", "port": port}],
        "fixtures": fixtures_for(plugin),
    });
    let created = c.call(
        Method::PUT,
        &format!("/v1/admin/providers/{key}"),
        Some(&c.admin()),
        Some(spec),
    );
    expect_status(&created, 201, "create entry")?;
    ensure(
        created.json()["test_plugin"]["digest"] == digest
            && created.json().get("fixtures").is_none(),
        "the entry names the uploaded digest and never shows its fixtures",
    )
}

fn connection_tests_run_inside_the_worker(c: &Ctx) -> Result<(), Failed> {
    entry_with_plugin(
        c,
        "edge-anthropic",
        "anthropic",
        json!({"base_url": c.fakes.base_url("anthropic")}),
    )?;
    let t = c.owner("edge-tests");
    let install = |key: &str| {
        c.call(
            Method::POST,
            "/v1/integrations",
            Some(&t),
            Some(json!({"provider": "edge-anthropic", "key": key})),
        )
    };
    let save = |key: &str| {
        c.call(
            Method::PUT,
            "/v1/integrations/edge-anthropic/credential",
            Some(&t),
            Some(json!({"key": key})),
        )
    };
    // No key works yet: each save serves at once and says what its test found.
    let bad = install("sk-ant-fake0-badkey-0000000000000");
    expect_status(&bad, 201, "install, tested at once")?;
    ensure(
        bad.json()["status"] == "invalid"
            && bad.json()["last_test"]["failure"]["reason"] == "wrong-key"
            && bad.json()["last_test"]["message"]
                .as_str()
                .unwrap_or("")
                .contains("invalid x-api-key"),
        format!("invalid with the reason: {}", bad.text),
    )?;
    let down = save("sk-ant-fake0-down-00000000000000");
    ensure(
        down.json()["status"] == "unverified"
            && down.json()["last_test"]["verdict"] == "provider-unavailable"
            && down.json()["last_test"]["failure"]["reason"] == "provider-down",
        format!("transient: {}", down.text),
    )?;
    let ok = save("sk-ant-fake0-valid-00000000000000");
    ensure(
        ok.json()["status"] == "connected" && ok.json()["last_test"]["verdict"] == "connected",
        format!("connected: {}", ok.text),
    )?;
    // Over the working key, a refused key changes nothing and says why...
    let refused = save("sk-ant-fake0-badkey-0000000000000");
    expect_problem(&refused, 422, "a refused replacement")?;
    ensure(
        refused.json()["failure"]["reason"] == "wrong-key",
        format!("refused in words: {}", refused.text),
    )?;
    // ...and a key whose test cannot conclude waits beside it.
    let waiting = save("sk-ant-fake0-down-00000000000000");
    expect_status(&waiting, 202, "an inconclusive replacement waits")?;
    ensure(
        waiting.json()["status"] == "connected"
            && waiting.json()["pending"]["state"] == "inconclusive"
            && waiting.json()["pending"]["last_test"]["verdict"] == "provider-unavailable",
        format!("pending: {}", waiting.text),
    )?;
    let again = save("sk-ant-fake0-valid-11111111111111");
    ensure(
        again.json()["status"] == "connected" && again.json().get("pending").is_none(),
        format!("a passing key replaces the working one: {}", again.text),
    )?;
    let retest = c.call(
        Method::POST,
        "/v1/integrations/edge-anthropic/test",
        Some(&t),
        None,
    );
    ensure(
        retest.json()["last_test"]["verdict"] == "connected",
        format!("Test re-runs: {}", retest.text),
    )
}

fn a_hostile_plugin_leaves_the_worker_serving(c: &Ctx) -> Result<(), Failed> {
    let t = c.owner("edge-hostile");
    for (key, mode, says) in [
        ("edge-loop", "loop", "fuel"),
        ("edge-escape", "off-allowlist", "allowlist"),
        ("edge-trap", "trap", "crashed"),
    ] {
        entry_with_plugin(
            c,
            key,
            "hostile",
            json!({"mode": mode, "url": format!("http://{}/generic/v1/me", c.fakes.addr()), "armed_by_key": true}),
        )?;
        let a = c.call(
            Method::POST,
            "/v1/integrations",
            Some(&t),
            Some(json!({"provider": key, "key": "hostile-armed-key-000000"})),
        );
        expect_status(&a, 201, mode)?;
        let v = a.json();
        // Leaving the allowlist is this service's refusal, not a fault: it says so.
        let (verdict, reason) = if mode == "off-allowlist" {
            ("egress-refused", "network-refused")
        } else {
            ("plugin-fault", "test-fault")
        };
        ensure(
            v["status"] == "unverified"
                && v["last_test"]["verdict"] == verdict
                && v["last_test"]["failure"]["reason"] == reason,
            format!("{mode}: {v}"),
        )?;
        ensure(
            v["last_test"]["message"]
                .as_str()
                .unwrap_or("")
                .contains(says),
            format!("{mode}: says why: {v}"),
        )?;
        expect_status(
            &c.call(Method::GET, "/healthz", None, None),
            200,
            "still serving",
        )?;
    }
    let core_module = b"\0asm\x01\0\0\0".to_vec();
    let refused = c.raw(
        Method::PUT,
        "/v1/admin/providers/edge-loop/plugin",
        Some(&c.admin()),
        Some(("application/wasm", core_module)),
        &[],
    );
    expect_problem(&refused, 422, "a core module is refused")?;
    // A plugin that would pass for any key is refused before it can serve: the suite's fake
    // key must be refused (the hostile plugin unarmed by key answers "connected" to anything).
    let upload = c.raw(
        Method::PUT,
        "/v1/admin/plugins",
        Some(&c.admin()),
        Some(("application/wasm", component("hostile"))),
        &[],
    );
    let mut spec = json!({
        "name": "Accepts anything", "description": "A test that passes any key.",
        "auth_type": "api-key", "credential_label": "API key", "help_url": "https://example.com/keys",
        "test_plugin": {"digest": upload.json()["digest"], "config": {"mode": "outcome-from-config", "verdict": 0, "message": "ok"}},
        "egress": [{"scheme": "http", "host": "127.0.0.1", "port": c.fakes.addr().port()}],
        "fixtures": fixtures_for("hostile"),
    });
    let passes_anything = c.call(
        Method::PUT,
        "/v1/admin/providers/edge-anything",
        Some(&c.admin()),
        Some(spec.clone()),
    );
    expect_problem(
        &passes_anything,
        422,
        "a test that passes a fake key is refused",
    )?;
    let p = passes_anything.json();
    ensure(
        p["type"] == "/problems/conformance-failed"
            && p["detail"].as_str().unwrap_or("").contains(
                "case 'a wrong key is refused': must be invalid-credential, got connected",
            )
            && p["cases"].as_array().is_some_and(|cases| {
                cases
                    .iter()
                    .any(|k| k["name"] == "a 401 is never connected" && k["got"] == "connected")
            }),
        format!("says which cases failed: {p}"),
    )?;
    expect_status(
        &c.call(
            Method::GET,
            "/v1/providers/edge-anything",
            Some(&c.admin()),
            None,
        ),
        404,
        "nothing was saved",
    )?;
    // Naming a plugin nobody uploaded is refused by name.
    spec["test_plugin"]["digest"] = json!("ab".repeat(32));
    let unknown = c.call(
        Method::PUT,
        "/v1/admin/providers/edge-anything",
        Some(&c.admin()),
        Some(spec),
    );
    expect_problem(&unknown, 422, "an unknown digest")?;
    ensure(
        unknown.json()["errors"][0]["field"] == "test_plugin.digest"
            && unknown.json()["errors"][0]["message"]
                .as_str()
                .unwrap_or("")
                .contains("has been uploaded"),
        format!("names the field: {}", unknown.text),
    )?;
    // A file other than the one the entry names is not swapped in behind its back.
    let other = c.raw(
        Method::PUT,
        "/v1/admin/providers/edge-loop/plugin",
        Some(&c.admin()),
        Some(("application/wasm", component("http-check"))),
        &[],
    );
    expect_problem(&other, 409, "another plugin file")?;
    ensure(
        other.json()["detail"]
            .as_str()
            .unwrap_or("")
            .contains("names plugin"),
        format!("says which: {}", other.text),
    )?;
    ensure(
        refused.json()["detail"]
            .as_str()
            .unwrap_or("")
            .contains("core WebAssembly module"),
        "says why",
    )
}

/// A new author's provider, as the plugin guide walks it: a folder with an http-check entry and
/// its fixtures, pushed with `byok provider push`. A test that a fake key passes is refused by
/// the Worker's conformance suite (nothing saved); mended, it is accepted, tenants install it
/// and the fakes' documented answers reach the right verdicts; `byok provider retire` takes it
/// out of the Marketplace.
fn a_new_provider_from_the_kit(c: &Ctx) -> Result<(), Failed> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target")
        });
    let byok = target.join("debug/byok");
    let dir = std::env::temp_dir()
        .join(format!("byok-kit-e2e-{}", std::process::id()))
        .join("kit-llm");
    std::fs::create_dir_all(&dir).expect("dir");
    let mut entry = byok_e2e::seed_entry("mistral");
    let fixtures = entry["fixtures"].take();
    entry.as_object_mut().map(|e| e.remove("fixtures"));
    entry["key"] = json!("kit-llm");
    entry["name"] = json!("Kit LLM");
    entry["test_plugin"]["config"]["url"] =
        json!(format!("{}/v1/models", c.fakes.base_url("mistral")));
    entry["egress"] =
        json!([{"scheme": "http", "host": "127.0.0.1", "port": c.fakes.addr().port()}]);
    let documented = entry["test_plugin"]["config"]["statuses"].clone();
    entry["test_plugin"]["config"]["statuses"] = json!({"connected": [401]});
    std::fs::write(dir.join("entry.json"), entry.to_string()).expect("entry");
    std::fs::write(dir.join("fixtures.json"), fixtures.to_string()).expect("fixtures");
    std::fs::copy(
        byok_e2e::root().join("seeds/mistral/logo.svg"),
        dir.join("logo.svg"),
    )
    .expect("logo");
    let push = || {
        std::process::Command::new(&byok)
            .args(["provider", "push"])
            .arg(&dir)
            .arg("--plugins-dir")
            .arg(target.join("plugins"))
            .args(["--url", &c.edge.base, "--token", &c.admin()])
            .output()
            .expect("byok runs")
    };
    let refused = push();
    let said = String::from_utf8_lossy(&refused.stderr).into_owned();
    ensure(
        !refused.status.success()
            && said.contains("did not pass the conformance suite")
            && said.contains(
                "case 'a wrong key is refused': must be invalid-credential, got connected",
            ),
        format!("a 401 read as connected is refused: {said}"),
    )?;
    expect_status(
        &c.call(Method::GET, "/v1/providers/kit-llm", Some(&c.admin()), None),
        404,
        "nothing was saved",
    )?;
    entry["test_plugin"]["config"]["statuses"] = documented;
    std::fs::write(dir.join("entry.json"), entry.to_string()).expect("entry");
    let pushed = push();
    let said = String::from_utf8_lossy(&pushed.stdout).into_owned();
    ensure(
        pushed.status.success() && said.contains("conformance:") && said.contains("cases passed"),
        format!(
            "the mended entry is accepted: {said}{}",
            String::from_utf8_lossy(&pushed.stderr)
        ),
    )?;
    let t = c.owner("kit-tenant");
    for (key, status) in [
        ("FAKEvalid0000000000000000000000", "connected"),
        ("FAKEbadkey000000000000000000000", "invalid"),
    ] {
        let _ = c.call(Method::DELETE, "/v1/integrations/kit-llm", Some(&t), None);
        let a = c.call(
            Method::POST,
            "/v1/integrations",
            Some(&t),
            Some(json!({"provider": "kit-llm", "key": key})),
        );
        expect_status(&a, 201, "install")?;
        ensure(
            a.json()["status"] == status,
            format!("{status}: {}", a.text),
        )?;
    }
    let retire = std::process::Command::new(&byok)
        .args([
            "provider",
            "retire",
            "kit-llm",
            "--url",
            &c.edge.base,
            "--token",
            &c.admin(),
        ])
        .output()
        .expect("byok runs");
    ensure(retire.status.success(), "retired")?;
    let _ = std::fs::remove_dir_all(dir.parent().unwrap_or(&dir));
    expect_status(
        &c.call(Method::GET, "/v1/providers/kit-llm", Some(&c.admin()), None),
        404,
        "out of the Marketplace",
    )
}

/// `byok provider push / list` and `byok platform-key set` against the running edge.
fn the_cli_administers_the_edge(c: &Ctx) -> Result<(), Failed> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target")
        });
    let byok = target.join("debug/byok");
    ensure(
        byok.exists(),
        format!("{} (built by script/build-plugins)", byok.display()),
    )?;
    let root = byok_e2e::root();
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(&byok);
        cmd.args(args)
            .args(["--url", &c.edge.base, "--token", &c.admin()])
            .current_dir(&root);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("byok runs")
    };
    let push = run(
        &[
            "provider",
            "push",
            "seeds/sendgrid",
            "--plugin",
            &target.join("plugins/sendgrid.wasm").to_string_lossy(),
        ],
        &[],
    );
    ensure(
        push.status.success(),
        format!("push: {}", String::from_utf8_lossy(&push.stderr)),
    )?;
    ensure(
        String::from_utf8_lossy(&push.stdout).contains("pushed sendgrid (plugin "),
        "the plugin was uploaded",
    )?;
    let list = run(&["provider", "list"], &[]);
    ensure(
        String::from_utf8_lossy(&list.stdout).contains("sendgrid"),
        "listed",
    )?;
    // A provider of its own, so that other trials' platform keys do not race with this one.
    let dir = std::env::temp_dir()
        .join(format!("byok-cli-e2e-{}", std::process::id()))
        .join("cli-ai");
    std::fs::create_dir_all(&dir).expect("dir");
    let entry = json!({"name": "CLI AI", "description": "Pushed by the CLI.", "category": "AI", "auth_type": "api-key",
        "credential_label": "API key", "help_url": "https://example.com/keys", "platform_fallback": true});
    std::fs::write(dir.join("entry.json"), entry.to_string()).expect("entry");
    let push = run(&["provider", "push", &dir.to_string_lossy()], &[]);
    ensure(
        push.status.success(),
        format!("push: {}", String::from_utf8_lossy(&push.stderr)),
    )?;
    let secret = "cli-platform-key-000000000000PLAT";
    let set = run(
        &[
            "platform-key",
            "set",
            "cli-ai",
            "--from-env",
            "BYOK_E2E_PLATFORM_KEY",
        ],
        &[("BYOK_E2E_PLATFORM_KEY", secret)],
    );
    ensure(
        set.status.success(),
        format!("platform-key: {}", String::from_utf8_lossy(&set.stderr)),
    )?;
    ensure(
        !String::from_utf8_lossy(&set.stdout).contains(secret),
        "the CLI prints the mask, not the key",
    )?;
    let _ = std::fs::remove_dir_all(dir.parent().unwrap_or(&dir));
    let r = c.resolve("cli-nobody", "cli-ai");
    ensure(
        r.json()["api_key"] == secret && r.json()["source"] == "platform",
        format!("resolve: {}", r.text),
    )?;
    // `byok token` mints both kinds, each with its own secret from the environment.
    let cfg = c.edge.config();
    let mint = |role: &str| {
        let out = std::process::Command::new(&byok)
            .args([
                "token",
                "--role",
                role,
                "--tenant",
                "cli-nobody",
                "--dev-vars",
                "/nonexistent",
            ])
            .env("AUTH_SECRET", &cfg.auth_secret)
            .env("SERVICE_AUTH_SECRET", &cfg.service_secret)
            .output()
            .expect("byok token");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let service = mint("service");
    let r = c.call(
        Method::POST,
        "/v1/resolve",
        Some(&service),
        Some(json!({"tenant": "cli-nobody", "provider": "cli-ai"})),
    );
    expect_status(&r, 200, "resolve with a service token from byok token")?;
    let member = mint("member");
    expect_status(
        &c.call(Method::GET, "/v1/integrations", Some(&member), None),
        200,
        "a member token from byok token",
    )?;
    expect_problem(
        &c.call(
            Method::POST,
            "/v1/resolve",
            Some(&member),
            Some(json!({"tenant": "cli-nobody", "provider": "cli-ai"})),
        ),
        403,
        "a member cannot resolve",
    )
}

/// Where a file of `web/` is served.
fn web_path(file: &str) -> String {
    match file {
        "marketplace.html" => "/marketplace/integrations".to_owned(),
        "settings.html" => "/settings/integrations".to_owned(),
        other => match other
            .strip_prefix("admin/")
            .and_then(|f| f.strip_suffix(".html"))
        {
            Some(page) => format!("/admin/{page}"),
            None => format!("/{other}"),
        },
    }
}

fn pages_are_served_whole_with_a_strict_policy(c: &Ctx) -> Result<(), Failed> {
    let web = byok_e2e::root().join("web");
    let mut files = Vec::new();
    for dir in [
        web.clone(),
        web.join("assets"),
        web.join("assets/messages"),
        web.join("admin"),
        web.join("assets/admin"),
    ] {
        for entry in std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
            let path = entry.map_err(|e| e.to_string())?.path();
            if path.is_file() {
                let rel = path.strip_prefix(&web).map_err(|e| e.to_string())?;
                files.push((rel.to_string_lossy().replace('\\', "/"), path));
            }
        }
    }
    ensure(files.len() >= 12, format!("the web files: {files:?}"))?;
    for (rel, path) in &files {
        let url = web_path(rel);
        let a = c.call(Method::GET, &url, None, None);
        expect_status(&a, 200, &url)?;
        let on_disk = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
        // Under DEV_MODE the pages switch the dev sign-in on; nothing else differs.
        let want = on_disk.replacen("data-dev-login=\"false\"", "data-dev-login=\"true\"", 1);
        ensure(a.text == want, format!("{url} serves web/{rel} as it is"))?;
        let header = |name: &str| {
            a.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        let csp = header("content-security-policy");
        ensure(
            csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
            format!("{url}: CSP {csp}"),
        )?;
        ensure(
            header("x-content-type-options") == "nosniff",
            format!("{url}: nosniff"),
        )?;
        // With no ALLOWED_EMBED_ORIGINS and no CONNECT_ORIGINS: never framed, no opener kept.
        ensure(
            csp.ends_with("frame-ancestors 'none'")
                && header("cross-origin-opener-policy") == "same-origin",
            format!("{url}: framing and opener refused by default ({csp})"),
        )?;
        let kind = header("content-type");
        let expected = match rel.rsplit('.').next() {
            Some("html") => "text/html",
            Some("js") => "text/javascript",
            Some("css") => "text/css",
            Some("svg") => "image/svg+xml",
            _ => "",
        };
        ensure(
            !expected.is_empty() && kind.starts_with(expected),
            format!("{url}: content-type {kind}"),
        )?;
        let etag = header("etag");
        let again = c.raw(Method::GET, &url, None, None, &[("if-none-match", &etag)]);
        expect_status(&again, 304, &format!("{url} revalidated by ETag"))?;
    }
    ensure(
        c.call(Method::GET, "/assets/nothing.js", None, None).status == 404,
        "an unknown asset is 404",
    )?;
    // The visitor's language is written on <html lang> (the page's words follow it).
    for (accept, lang) in [
        ("de-CH, de;q=0.9", "de"),
        ("ja, es;q=0.5", "es"),
        ("ja", "en"),
    ] {
        let a = c.raw(
            Method::GET,
            "/settings/integrations",
            None,
            None,
            &[("accept-language", accept)],
        );
        ensure(
            a.text.contains(&format!("<html lang=\"{lang}\">")),
            format!("Accept-Language {accept} gives lang {lang}"),
        )?;
        let vary = a.headers.get("vary").and_then(|v| v.to_str().ok());
        ensure(vary == Some("accept-language"), format!("Vary: {vary:?}"))?;
    }
    // Without CONNECT_ORIGINS, a connect link can go nowhere: the request says so.
    let owner = c.edge.token("owner", "connect-less");
    let r = c.call(
        Method::POST,
        "/v1/connect/sessions",
        Some(&owner),
        Some(serde_json::json!({"origin": "https://app.example"})),
    );
    expect_status(&r, 422, "a link with no CONNECT_ORIGINS")?;
    ensure(
        r.text.contains("no CONNECT_ORIGINS configured"),
        format!("says why: {}", r.text),
    )?;

    // Without following redirects: `/` leads to the Marketplace, and the dev login goes back
    // only to a path on this site.
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    let get = |path: &str| {
        c.rt.block_on(async {
            let r = plain
                .get(format!("{}{path}", c.edge.base))
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let location = r
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let cookie = r.headers().get("set-cookie").is_some();
            Ok::<_, String>((r.status().as_u16(), location, cookie))
        })
    };
    let (status, location, _) = get("/")?;
    ensure(
        status == 302 && location == "/marketplace/integrations",
        format!("/ → {status} {location}"),
    )?;
    let (status, location, cookie) =
        get("/dev/login?tenant=pages-t&role=owner&next=%2Fsettings%2Fintegrations")?;
    ensure(
        status == 303 && location == "/settings/integrations" && cookie,
        format!("dev login with next → {status} {location} (cookie: {cookie})"),
    )?;
    for evil in [
        "%2F%2Fevil.example",
        "https%3A%2F%2Fevil.example",
        "%2F%5Cevil.example",
    ] {
        let (status, location, cookie) =
            get(&format!("/dev/login?tenant=pages-t&role=owner&next={evil}"))?;
        ensure(
            status == 422 && location.is_empty() && !cookie,
            format!("next={evil} is refused, got {status} {location}"),
        )?;
    }
    Ok(())
}

fn me_says_who_is_signed_in(c: &Ctx) -> Result<(), Failed> {
    let a = c.call(Method::GET, "/v1/me", Some(&c.member("me-t")), None);
    expect_status(&a, 200, "GET /v1/me")?;
    let me = a.json();
    ensure(
        me["tenant"] == "me-t" && me["role"] == "member",
        format!("me: {me}"),
    )?;
    expect_problem(
        &c.call(Method::GET, "/v1/me", None, None),
        401,
        "me without a session",
    )
}

/// Whether a schema in the document carries a pattern (directly or as the first of `allOf`).
fn schemas_pattern(doc: &Value, name: &str) -> bool {
    let s = &doc["components"]["schemas"][name];
    s["pattern"].is_string()
}

fn openapi_describes_every_route(c: &Ctx) -> Result<(), Failed> {
    let a = c.call(Method::GET, "/openapi.json", None, None);
    expect_status(&a, 200, "openapi")?;
    let doc = a.json();
    ensure(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "an OpenAPI 3 document",
    )?;
    for (path, method) in [
        ("/healthz", "get"),
        ("/v1/providers", "get"),
        ("/v1/providers/{key}", "get"),
        ("/v1/providers/{key}/logo", "get"),
        ("/v1/admin/providers/{key}", "put"),
        ("/v1/admin/providers/{key}", "delete"),
        ("/v1/admin/providers/{key}/logo", "put"),
        ("/v1/admin/platform-keys/{key}", "put"),
        ("/v1/integrations", "get"),
        ("/v1/integrations", "post"),
        ("/v1/integrations/{key}/credential", "put"),
        ("/v1/integrations/{key}/test", "post"),
        ("/v1/integrations/{key}", "delete"),
        ("/v1/audit", "get"),
        ("/v1/resolve", "post"),
        ("/v1/me", "get"),
        ("/v1/admin/keyring", "get"),
        ("/v1/admin/keyring/reseal", "post"),
    ] {
        let op = &doc["paths"][path][method];
        ensure(op.is_object(), format!("{method} {path} is documented"))?;
        // Every documented error is a problem document.
        for (status, response) in op["responses"].as_object().into_iter().flatten() {
            if status.starts_with('4') || status.starts_with('5') {
                ensure(
                    response["content"]["application/problem+json"].is_object()
                        && response["content"]["application/json"].is_null(),
                    format!("{method} {path} {status} is application/problem+json"),
                )?;
            }
        }
    }
    ensure(
        doc["paths"]["/dev/login"].is_null(),
        "the dev login is not part of the API",
    )?;
    // Links (for clients, and the fuzzer's stateful phase) name real operations and fill
    // their path parameters.
    let operations: std::collections::BTreeMap<&str, &serde_json::Value> = doc["paths"]
        .as_object()
        .into_iter()
        .flatten()
        .flat_map(|(_, item)| item.as_object().into_iter().flatten())
        .filter_map(|(_, op)| Some((op["operationId"].as_str()?, op)))
        .collect();
    let mut links = 0;
    for op in operations.values() {
        for response in op["responses"].as_object().into_iter().flatten() {
            for (name, link) in response.1["links"].as_object().into_iter().flatten() {
                links += 1;
                let target = link["operationId"].as_str().unwrap_or_default();
                let Some(target_op) = operations.get(target) else {
                    return Err(format!("link {name} names no operation: {link}").into());
                };
                for parameter in link["parameters"].as_object().into_iter().flatten() {
                    ensure(
                        target_op["parameters"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .any(|p| p["name"] == parameter.0.as_str() && p["in"] == "path"),
                        format!("link {name}: {target} has a path parameter {}", parameter.0),
                    )?;
                }
            }
        }
    }
    ensure(links >= 20, format!("the document has its links ({links})"))?;
    let install = &doc["paths"]["/v1/integrations"]["post"]["responses"];
    for status in ["400", "401", "403", "404", "409", "413", "415", "422"] {
        ensure(
            install[status].is_object(),
            format!("install documents {status}"),
        )?;
    }
    ensure(
        schemas_pattern(&doc, "ProviderKey") && schemas_pattern(&doc, "TenantId"),
        "ids carry their patterns",
    )?;
    let schemas = &doc["components"]["schemas"];
    for s in [
        "IntegrationView",
        "InstallRequest",
        "ResolveResponse",
        "Problem",
        "ProviderSpec",
        "Status",
        "Mask",
    ] {
        ensure(schemas[s].is_object(), format!("schema {s}"))?;
    }
    ensure(
        schemas["Status"].to_string().contains("unverified"),
        "statuses are enumerated",
    )?;
    ensure(
        doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer",
        "bearer auth",
    )
}

/// Where the shared edge looks for the platform's identity provider: a loopback port nobody
/// listens on (an outage from the start). HS256 tokens, which carry no `kid`, never go there.
fn dead_jwks_url() -> String {
    format!(
        "http://127.0.0.1:{}/.well-known/jwks.json",
        byok_e2e::free_port()
    )
}

fn an_unreachable_identity_provider_is_503_and_hs256_tokens_still_work(
    c: &Ctx,
) -> Result<(), Failed> {
    use base64::Engine as _;
    let b64 = |v: Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
    };
    let token = format!(
        "{}.{}.c2ln",
        b64(json!({"alg": "RS256", "kid": "k1", "typ": "JWT"})),
        b64(json!({"sub": "u", "tenant": "idp", "role": "owner", "exp": 4_000_000_000u64}))
    );
    // The first asks the identity provider (refused); the second is inside the refetch floor.
    for attempt in ["first", "within the floor"] {
        let a = c.call(Method::GET, "/v1/me", Some(&token), None);
        expect_problem(&a, 503, attempt)?;
        ensure(
            a.text.contains("identity-provider-unavailable")
                && a.text.contains("could not be fetched"),
            format!(
                "{attempt}: says the keys are unavailable, not that the token is bad: {}",
                a.text
            ),
        )?;
    }
    let me = c.call(Method::GET, "/v1/me", Some(&c.owner("idp")), None);
    expect_status(&me, 200, "an HS256 token during the outage")
}

fn an_entry_speaks_the_readers_language_and_bad_translations_are_named(
    c: &Ctx,
) -> Result<(), Failed> {
    let mut entry = json!({
        "name": "Polyglot", "description": "A provider in several languages.",
        "auth_type": "api-key", "credential_label": "API key",
        "help_url": "https://example.com/keys", "help_instructions": ["Open Settings.", "Copy the key."],
        "translations": {"fr": {"name": "Polyglotte", "credential_label": "Clé d'API"}, "xx": {"name": "?"}}
    });
    let path = "/v1/admin/providers/polyglot";
    let bad = c.call(Method::PUT, path, Some(&c.admin()), Some(entry.clone()));
    expect_problem(&bad, 422, "an unknown language")?;
    ensure(
        bad.text.contains("translations.xx"),
        format!("names the field: {}", bad.text),
    )?;
    entry["translations"]
        .as_object_mut()
        .map(|t| t.remove("xx"));
    let saved = c.call(Method::PUT, path, Some(&c.admin()), Some(entry));
    ensure(
        saved.status.is_success(),
        format!("saved: {} {}", saved.status, saved.text),
    )?;
    let owner = c.owner("polyglot");
    let read = |accept: &str| -> Result<Value, Failed> {
        let a = c.raw(
            Method::GET,
            "/v1/providers/polyglot",
            Some(&owner),
            None,
            &[("accept-language", accept)],
        );
        expect_status(&a, 200, accept)?;
        serde_json::from_str(&a.text).map_err(|e| Failed::from(e.to_string()))
    };
    let fr = read("fr-FR,fr;q=0.9")?;
    ensure(
        fr["name"] == "Polyglotte" && fr["credential_label"] == "Clé d'API",
        format!("French words: {fr}"),
    )?;
    ensure(
        fr["description"] == "A provider in several languages.",
        "an untranslated word is English",
    )?;
    ensure(
        fr.get("translations").is_none(),
        "a tenant's view carries no translations",
    )?;
    let de = read("de")?;
    ensure(
        de["name"] == "Polyglot",
        format!("no German words: English ({de})"),
    )?;
    // The list too, per language.
    let list = c.raw(
        Method::GET,
        "/v1/providers",
        Some(&owner),
        None,
        &[("accept-language", "fr")],
    );
    ensure(
        list.text.contains("\"Polyglotte\""),
        "the catalog in French",
    )?;
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    // Over two databases (at least): every route's store calls go through the lookup from
    // tenant to database, and every cross-tenant view merges both (shards.rs checks where
    // each row lands).
    let defaults = byok_e2e::EdgeConfig::default();
    let edge = byok_e2e::EdgeConfig {
        extra_vars: vec![("AUTH_JWKS_URL".into(), dead_jwks_url())],
        shards: defaults.shards.max(2),
        ..defaults
    }
    .start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(edge.seed());
    let fakes = rt
        .block_on(byok_fake_providers::FakeProviders::start(0))
        .expect("fakes");
    let ctx = Arc::new(Ctx {
        edge,
        fakes,
        http: Client::new(),
        rt,
    });
    let checks: Vec<(&str, Check)> = vec![
        (
            "catalog_lists_the_seeds_with_an_etag",
            catalog_lists_the_seeds_with_an_etag,
        ),
        (
            "logos_are_public_and_sandboxed",
            logos_are_public_and_sandboxed,
        ),
        (
            "add_later_then_connect_in_settings",
            add_later_then_connect_in_settings,
        ),
        (
            "paste_now_is_saved_masked_with_format_warnings",
            paste_now_is_saved_masked_with_format_warnings,
        ),
        (
            "a_refused_save_keeps_the_old_key",
            a_refused_save_keeps_the_old_key,
        ),
        (
            "resolve_uses_tenant_then_platform_then_nothing",
            resolve_uses_tenant_then_platform_then_nothing,
        ),
        (
            "tenants_cannot_reach_each_other",
            tenants_cannot_reach_each_other,
        ),
        (
            "bad_bodies_get_clear_problems",
            bad_bodies_get_clear_problems,
        ),
        ("every_bad_token_is_401", every_bad_token_is_401),
        (
            "an_entry_speaks_the_readers_language_and_bad_translations_are_named",
            an_entry_speaks_the_readers_language_and_bad_translations_are_named,
        ),
        (
            "an_unreachable_identity_provider_is_503_and_hs256_tokens_still_work",
            an_unreachable_identity_provider_is_503_and_hs256_tokens_still_work,
        ),
        ("cookie_sessions_and_csrf", cookie_sessions_and_csrf),
        (
            "each_role_needs_its_own_secret",
            each_role_needs_its_own_secret,
        ),
        ("dev_login_is_loopback_only", dev_login_is_loopback_only),
        (
            "audit_log_records_actions_without_secrets",
            audit_log_records_actions_without_secrets,
        ),
        (
            "a_retired_provider_keeps_existing_keys",
            a_retired_provider_keeps_existing_keys,
        ),
        (
            "openapi_describes_every_route",
            openapi_describes_every_route,
        ),
        (
            "connection_tests_run_inside_the_worker",
            connection_tests_run_inside_the_worker,
        ),
        (
            "a_hostile_plugin_leaves_the_worker_serving",
            a_hostile_plugin_leaves_the_worker_serving,
        ),
        ("the_cli_administers_the_edge", the_cli_administers_the_edge),
        ("a_new_provider_from_the_kit", a_new_provider_from_the_kit),
        (
            "pages_are_served_whole_with_a_strict_policy",
            pages_are_served_whole_with_a_strict_policy,
        ),
        ("me_says_who_is_signed_in", me_says_who_is_signed_in),
    ];
    let trials = checks
        .into_iter()
        .map(|(name, check)| {
            let ctx = ctx.clone();
            Trial::test(name, move || check(&ctx))
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    drop(ctx); // stops the edge before exiting
    conclusion.exit();
}
