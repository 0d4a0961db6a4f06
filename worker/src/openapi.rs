//! `GET /openapi.json`: the API described from the Rust types (utoipa). The schemas are the
//! core's request/response types; each route below documents one arm of `lib.rs`'s table.
#![allow(dead_code)] // the functions exist to carry the route annotations

use byok_core::api::PROBLEM_CONTENT_TYPE;
use byok_core::api::{
    AuditBy, AuditEntry, CredentialRequest, InstallRequest, IntegrationList, IntegrationView,
    PolicyRequest, PolicyView, Problem, ProviderList, ResolveRequest, ResolveResponse, UsageList,
    UsageReportAnswer, UsageReportRequest, UsageRow,
};
use byok_core::api::{
    CapReachedView, PendingView, ProblemExtra, SwitchRequest, TenantPolicyRequest, TenantPolicyView,
};
use byok_core::api::{Delivery, EventList, EventView, WebhookEventList, WebhookEventView};
use byok_core::catalog::ProviderSpec;
use byok_core::events::{Cause, Reason};
use byok_core::failure::{Failure, FailureView};
use byok_core::ids::{ProviderKey, TenantId};
use byok_core::quota::CapScope;
use byok_core::recheck::Recheck;
use byok_core::replace::PendingState;
use byok_core::resolve::{PlatformFallback, Source};
use byok_core::rotation::{
    KeyStatus, KeyringReport, ResealReport, ResealRequest, RowRef, Unreadable,
};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "BYOK integrations", version = "1", description = "Bring-your-own-key integrations at the edge. Errors are application/problem+json (RFC 9457)."),
    paths(
        healthz, me, list_providers, get_provider, get_logo, put_provider, retire_provider, put_logo, put_plugin, put_component, put_platform_key,
        list_integrations, install, save_credential, test_integration, uninstall, audit, resolve,
        report_usage, get_policy, put_policy, get_usage, get_keyring, reseal_keyring, list_events, list_webhooks, redeliver_webhook,
        switch_pending, discard_pending, get_tenant_policy, put_tenant_policy, create_connect_session, sign_out,
        admin_providers, restore_provider, try_key, fleet, audit_search, recheck_now, list_platform_keys, test_platform_key,
        moves_status, moves_copy, moves_prune
    ),
    components(schemas(crate::auth::Me, crate::auth::Role, Problem, ProviderSpec, ProviderList, InstallRequest, CredentialRequest, IntegrationView, IntegrationList, ResolveRequest, ResolveResponse, AuditEntry, AuditBy,
        UsageReportRequest, UsageReportAnswer, PolicyRequest, PolicyView, PlatformFallback, Source, UsageList, UsageRow,
        KeyringReport, KeyStatus, ResealRequest, ResealReport, RowRef, Unreadable,
        EventList, EventView, Reason, Cause, Recheck, Delivery, WebhookEventView, WebhookEventList,
        PendingView, PendingState, SwitchRequest, Failure, FailureView,
        TenantPolicyRequest, TenantPolicyView, CapReachedView, CapScope, ProblemExtra,
        byok_core::connect::ConnectRequest, byok_core::connect::SessionInfo, byok_core::connect::Mode, byok_core::connect::Lang,
        byok_core::connect::Theme, byok_core::connect::ThemeMode, crate::connect::ConnectLink,
        crate::moves::MovesStatus, crate::moves::WalkRequest, crate::moves::WalkReport, crate::moves::TenantMoved, crate::moves::Kept)),
    modifiers(&Security, &ProblemResponses, &Links),
    security(("bearer" = []), ("cookie" = []))
)]
pub struct ApiDoc;

struct Security;

/// A body of raw bytes (`type: string, format: binary`).
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
struct Bytes(Vec<u8>);

impl Modify for Security {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(crate::auth::COOKIE))),
        );
    }
}

/// Every error is `application/problem+json` ([`Problem`]), and every status a route can
/// answer is documented where it can happen: 401 and 403 on authenticated routes; 400, 413,
/// 415 and 422 where there is a body; 404 where the path names something; 409 on the routes
/// that change an integration; 429 with `Retry-After` on the rate-limited ones. Declared once
/// here rather than on each route.
struct ProblemResponses;

impl Modify for ProblemResponses {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::Operation;
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        let problem = || {
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build()
        };
        // A refusal to try again later: its problem and `Retry-After`.
        let retry_later = |description: &str| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .header(
                        "Retry-After",
                        utoipa::openapi::HeaderBuilder::new()
                            .schema(
                                utoipa::openapi::ObjectBuilder::new()
                                    .schema_type(utoipa::openapi::schema::Type::Integer),
                            )
                            .description(Some("Seconds to wait before trying again"))
                            .build(),
                    )
                    .content(PROBLEM_CONTENT_TYPE, problem())
                    .build(),
            )
        };
        for (path, item) in api.paths.paths.iter_mut() {
            let names_something = path.contains('{');
            let changes_integration = path.starts_with("/v1/integrations");
            let ops: [(&str, &mut Option<Operation>); 4] = [
                ("get", &mut item.get),
                ("put", &mut item.put),
                ("post", &mut item.post),
                ("delete", &mut item.delete),
            ];
            for (method, op) in ops {
                let Some(op) = op.as_mut() else { continue };
                for response in op.responses.responses.values_mut() {
                    if let RefOr::T(r) = response {
                        let is_problem = r.content.get("application/json").is_some_and(|c| {
                            matches!(&c.schema, Some(RefOr::Ref(rf)) if rf.ref_location.ends_with("/Problem"))
                        });
                        if is_problem {
                            r.content.shift_remove("application/json");
                            r.content.insert(PROBLEM_CONTENT_TYPE.to_owned(), problem());
                        }
                    }
                }
                let public = op
                    .security
                    .as_ref()
                    .is_some_and(|s| s.iter().all(|r| r == &Default::default()));
                let mut statuses: Vec<(&str, &str)> = Vec::new();
                if !public {
                    statuses.push(("401", "Not signed in, or the token is not valid"));
                    statuses.push(("403", "The caller's role may not do this"));
                    statuses.push((
                        "500",
                        "The service is misconfigured (the detail names the setting)",
                    ));
                }
                if op.request_body.is_some() {
                    statuses.push(("400", "The body is not JSON of the expected shape"));
                    statuses.push(("413", "The body is larger than the route accepts"));
                    statuses.push((
                        "415",
                        "The body's content type is not the one the route takes",
                    ));
                    statuses.push(("422", "The body breaks a rule (see errors)"));
                }
                if names_something || op.request_body.is_some() {
                    statuses.push(("404", "No such provider or integration"));
                }
                if changes_integration && method != "get" {
                    statuses.push(("409", "The integration's state does not allow this"));
                }
                let limited = matches!(
                    (method, path.as_str()),
                    ("post", "/v1/integrations")
                        | ("put", "/v1/integrations/{key}/credential")
                        | ("post", "/v1/integrations/{key}/test")
                        | ("delete", "/v1/integrations/{key}")
                        | ("post", "/v1/integrations/{key}/pending/switch")
                        | ("delete", "/v1/integrations/{key}/pending")
                        | ("post", "/v1/resolve/report")
                );
                // A scoped service token asking outside its scope (the detail names the claim).
                if matches!(path.as_str(), "/v1/resolve" | "/v1/resolve/report") {
                    statuses.retain(|(s, _)| *s != "403");
                    statuses.push((
                        "403",
                        "Not a service token, or the token's 'providers' or 'tenants' claim does not include this",
                    ));
                }
                // Writes paused while the tenant's rows move between databases (D1_SHARDS_NEXT).
                let paused = method != "get"
                    && (changes_integration
                        || path.starts_with("/v1/admin/tenants/")
                        || matches!(
                            path.as_str(),
                            "/v1/admin/keyring/reseal"
                                | "/v1/admin/webhooks/{id}/redeliver"
                                | "/v1/admin/moves/prune"
                        ));
                if paused {
                    op.responses
                        .responses
                        .entry("503".to_owned())
                        .or_insert_with(|| retry_later("A move between databases is under way (/problems/moving): changes about this tenant, or across tenants, wait; reads work"));
                }
                if limited {
                    op.responses
                        .responses
                        .entry("429".to_owned())
                        .or_insert_with(|| retry_later("Over the tenant's or the user's rate limit: nothing was stored or tested"));
                }
                for (status, description) in statuses {
                    op.responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| {
                            RefOr::T(
                                ResponseBuilder::new()
                                    .description(description)
                                    .content(PROBLEM_CONTENT_TYPE, problem())
                                    .build(),
                            )
                        });
                }
            }
        }
    }
}

/// What a response lets a client do next (OpenAPI links), so that a client, and the fuzzer's
/// stateful phase, can chain real calls: the catalog's first key installs; an install's
/// provider is then saved, tested, listed and uninstalled; an admin's new entry is read back.
struct Links;

/// One link: from every success of `(method, path)` to the operation `target`, with path
/// parameters and an optional request body as runtime expressions.
struct LinkSpec {
    from: (&'static str, &'static str),
    name: &'static str,
    target: &'static str,
    parameters: &'static [(&'static str, &'static str)],
    body: Option<(&'static str, &'static str)>,
}

const FIRST_PROVIDER: &str = "$response.body#/providers/0/key";
const FIRST_INTEGRATION: &str = "$response.body#/integrations/0/provider";
const THIS_INTEGRATION: &str = "$response.body#/provider";
const PATH_KEY: &str = "$request.path.key";

/// The operations an integration's key leads to, by link name and operation id.
const ON_INTEGRATION: [(&str, &str); 4] = [
    ("SaveCredential", "save_credential"),
    ("TestIntegration", "test_integration"),
    ("ListEvents", "list_events"),
    ("Uninstall", "uninstall"),
];

fn link_specs() -> Vec<LinkSpec> {
    let mut links = vec![
        LinkSpec {
            from: ("get", "/v1/admin/webhooks"),
            name: "Redeliver",
            target: "redeliver_webhook",
            parameters: &[("id", "$response.body#/events/0/id")],
            body: None,
        },
        LinkSpec {
            from: ("get", "/v1/providers"),
            name: "GetProvider",
            target: "get_provider",
            parameters: &[("key", FIRST_PROVIDER)],
            body: None,
        },
        LinkSpec {
            from: ("get", "/v1/providers"),
            name: "GetLogo",
            target: "get_logo",
            parameters: &[("key", FIRST_PROVIDER)],
            body: None,
        },
        LinkSpec {
            from: ("get", "/v1/providers"),
            name: "Install",
            target: "install",
            parameters: &[],
            body: Some(("provider", FIRST_PROVIDER)),
        },
        LinkSpec {
            from: ("put", "/v1/admin/providers/{key}"),
            name: "GetProvider",
            target: "get_provider",
            parameters: &[("key", PATH_KEY)],
            body: None,
        },
        LinkSpec {
            from: ("put", "/v1/admin/providers/{key}"),
            name: "PutLogo",
            target: "put_logo",
            parameters: &[("key", PATH_KEY)],
            body: None,
        },
        LinkSpec {
            from: ("put", "/v1/admin/providers/{key}"),
            name: "PutPlatformKey",
            target: "put_platform_key",
            parameters: &[("key", PATH_KEY)],
            body: None,
        },
        LinkSpec {
            from: ("put", "/v1/admin/platform-keys/{key}"),
            name: "TestPlatformKey",
            target: "test_platform_key",
            parameters: &[("key", PATH_KEY)],
            body: None,
        },
        LinkSpec {
            from: ("put", "/v1/admin/providers/{key}"),
            name: "Retire",
            target: "retire_provider",
            parameters: &[("key", PATH_KEY)],
            body: None,
        },
        LinkSpec {
            from: ("put", "/v1/admin/tenants/{tenant}/providers/{key}/policy"),
            name: "GetPolicy",
            target: "get_policy",
            parameters: &[("tenant", "$request.path.tenant"), ("key", PATH_KEY)],
            body: None,
        },
    ];
    type Parameters = &'static [(&'static str, &'static str)];
    const THIS: Parameters = &[("key", THIS_INTEGRATION)];
    const FIRST: Parameters = &[("key", FIRST_INTEGRATION)];
    let sources = [
        (("post", "/v1/integrations"), THIS),
        (("get", "/v1/integrations"), FIRST),
        (("put", "/v1/integrations/{key}/credential"), THIS),
        (("post", "/v1/integrations/{key}/test"), THIS),
    ];
    for (from, parameters) in sources {
        for (name, target) in ON_INTEGRATION {
            links.push(LinkSpec {
                from,
                name,
                target,
                parameters,
                body: None,
            });
        }
    }
    links
}

impl Modify for Links {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::link::LinkBuilder;
        use utoipa::openapi::RefOr;
        for spec in link_specs() {
            let (method, path) = spec.from;
            let Some(item) = api.paths.paths.get_mut(path) else {
                continue;
            };
            let op = match method {
                "get" => item.get.as_mut(),
                "put" => item.put.as_mut(),
                "post" => item.post.as_mut(),
                _ => item.delete.as_mut(),
            };
            let Some(op) = op else { continue };
            let mut link = LinkBuilder::new().operation_id(spec.target);
            for (name, value) in spec.parameters {
                link = link.parameter(*name, *value);
            }
            if let Some((field, value)) = spec.body {
                link = link.request_body(Some(serde_json::json!({ field: value })));
            }
            let link = link.build();
            for (status, response) in op.responses.responses.iter_mut() {
                if let (true, RefOr::T(response)) = (status.starts_with('2'), response) {
                    response
                        .links
                        .insert(spec.name.to_owned(), RefOr::T(link.clone()));
                }
            }
        }
    }
}

/// The document as JSON.
pub fn document() -> String {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    camel_case_links(&mut doc);
    state_cross_field_rules(&mut doc);
    doc.to_string()
}

/// What a character class in a pattern must leave out of a credential value: the control
/// characters (`char::is_control`: C0, DEL and C1) but tab, newline and carriage return, which
/// a multi-line field (a service-account JSON) may hold; the entry decides those.
const NO_CONTROL: &str = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$";

/// The rules across fields that utoipa's derive cannot say, stated in JSON Schema so that a
/// body the document calls valid is one the routes accept (issue #20 §5):
/// - an install sends `fields` only with a `key` (both, or neither for "add it later");
/// - a key and a field value hold no control character but tab, newline and carriage return;
/// - a test plugin's digest is 64 lowercase hex characters, and an entry with a test plugin
///   lists at least one egress rule.
fn state_cross_field_rules(doc: &mut serde_json::Value) {
    use serde_json::json;
    let no_control = NO_CONTROL;
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(|s| s.as_object_mut())
    else {
        return;
    };
    for name in ["InstallRequest", "CredentialRequest"] {
        if let Some(props) = schemas
            .get_mut(name)
            .and_then(|s| s.get_mut("properties"))
            .and_then(|p| p.as_object_mut())
        {
            if let Some(key) = props.get_mut("key").and_then(|k| k.as_object_mut()) {
                key.insert("pattern".into(), json!(no_control));
            }
            if let Some(fields) = props.get_mut("fields").and_then(|f| f.as_object_mut()) {
                fields.insert(
                    "additionalProperties".into(),
                    json!({"type": "string", "pattern": no_control}),
                );
            }
        }
    }
    if let Some(install) = schemas
        .get_mut("InstallRequest")
        .and_then(|s| s.as_object_mut())
    {
        install.insert(
            "anyOf".into(),
            json!([
                {"required": ["key"]},
                {"properties": {"fields": {"maxProperties": 0}}}
            ]),
        );
    }
    if let Some(digest) = schemas
        .get_mut("TestPlugin")
        .and_then(|s| s.pointer_mut("/properties/digest"))
        .and_then(|d| d.as_object_mut())
    {
        digest.insert("pattern".into(), json!("^[0-9a-f]{64}$"));
    }
    if let Some(spec) = schemas
        .get_mut("ProviderSpec")
        .and_then(|s| s.as_object_mut())
    {
        // A plugin must be able to reach something; an entry without one needs no egress.
        spec.insert(
            "anyOf".into(),
            json!([
                {"not": {"required": ["test_plugin"], "properties": {"test_plugin": {"type": "object"}}}},
                {"required": ["egress"], "properties": {"egress": {"minItems": 1}}}
            ]),
        );
    }
    // A logo is SVG as UTF-8 text (with an <svg> element), or PNG bytes.
    if let Some(content) = doc
        .pointer_mut("/paths/~1v1~1admin~1providers~1{key}~1logo/put/requestBody/content")
        .and_then(|c| c.as_object_mut())
    {
        content.clear();
        content.insert(
            "image/svg+xml".into(),
            json!({"schema": {"type": "string", "pattern": "<svg"}}),
        );
        content.insert(
            "image/png".into(),
            json!({"schema": {"type": "string", "format": "binary"}}),
        );
    }
    // ... and is served as what it was uploaded as.
    if let Some(ok) = doc
        .pointer_mut("/paths/~1v1~1providers~1{key}~1logo/get/responses/200")
        .and_then(|r| r.as_object_mut())
    {
        ok.insert(
            "content".into(),
            json!({
                "image/svg+xml": {"schema": {"type": "string"}},
                "image/png": {"schema": {"type": "string", "format": "binary"}}
            }),
        );
    }
}

/// utoipa 5.5 serialises a Link's fields in snake case (`operation_id`, `request_body`), which
/// OpenAPI tools do not read; renames them in every response's links.
fn camel_case_links(doc: &mut serde_json::Value) {
    let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return;
    };
    let responses = paths
        .values_mut()
        .filter_map(|item| item.as_object_mut())
        .flat_map(|item| item.values_mut())
        .filter_map(|op| op.get_mut("responses").and_then(|r| r.as_object_mut()))
        .flat_map(|r| r.values_mut());
    for response in responses {
        let Some(links) = response.get_mut("links").and_then(|l| l.as_object_mut()) else {
            continue;
        };
        for link in links.values_mut().filter_map(|l| l.as_object_mut()) {
            for (from, to) in [
                ("operation_id", "operationId"),
                ("operation_ref", "operationRef"),
                ("request_body", "requestBody"),
            ] {
                if let Some(v) = link.remove(from) {
                    link.insert(to.to_owned(), v);
                }
            }
        }
    }
}

#[utoipa::path(get, path = "/healthz", security(()), responses((status = 200, description = "Alive")))]
fn healthz() {}

#[utoipa::path(get, path = "/v1/me", tag = "session",
    responses((status = 200, description = "The signed-in caller", body = crate::auth::Me), (status = 401, body = Problem)))]
fn me() {}

#[utoipa::path(post, path = "/v1/connect/sessions", tag = "session", request_body = byok_core::connect::ConnectRequest,
    description = "A single-use link (valid at most 10 minutes) that opens the Marketplace, or one provider, for a tenant's user inside the platform's app (popup, iframe or page). The platform's backend calls it with a service token (within its scope) or a platform admin's; an owner may call it for their own workspace. `return_to` and `origin` must be on `CONNECT_ORIGINS`. Opening the link (`GET /connect/{token}`) sets the session and redirects; a used, expired or altered link shows a page saying so and creates no session.",
    responses((status = 201, description = "The link", body = crate::connect::ConnectLink), (status = 422, body = Problem), (status = 403, body = Problem), (status = 401, body = Problem)))]
fn create_connect_session() {}

#[utoipa::path(get, path = "/v1/admin/providers", tag = "admin",
    description = "Every entry, active and retired (`active`), in English with its `translations`, and the platform key's mask (`platform_key`) when one is set: the console's catalog.",
    responses((status = 200, description = "`{providers: [entry & {active, platform_key?}]}`", body = Object), (status = 403, body = Problem)))]
fn admin_providers() {}

#[utoipa::path(post, path = "/v1/admin/providers/{key}/restore", tag = "admin", params(("key" = ProviderKey, Path, example = "openai")),
    responses((status = 204, description = "Back in the Marketplace"), (status = 404, description = "No retired entry with this key", body = Problem), (status = 403, body = Problem)))]
fn restore_provider() {}

#[utoipa::path(post, path = "/v1/admin/providers/{key}/try", tag = "admin", params(("key" = ProviderKey, Path, example = "openai")), request_body = CredentialRequest,
    description = "Runs the entry's connection test on a pasted key through the real test path, and answers the report with the exchange (method, URL with every credential value scrubbed, status or error, duration). The key is never stored, logged or echoed; an audit row records that a try ran and its verdict.",
    responses((status = 200, description = "`{report, format_warnings, exchange: [{method, url, status?, error?, duration_ms}], duration_ms}`", body = Object), (status = 404, body = Problem), (status = 422, body = Problem), (status = 403, body = Problem)))]
fn try_key() {}

#[utoipa::path(get, path = "/v1/admin/fleet", tag = "admin",
    params(("failing_after" = Option<String>, Query, description = "The previous page's `failing_next`")),
    description = "Installs by provider and status, the keys that stopped working (oldest failure first, 50 a page, with why in words), and the last cron run (`{at, candidates, queued}`).",
    responses((status = 200, description = "`{providers: {KEY: {connected, invalid, unverified, disconnected}}, failing: [{tenant, provider, status, failing_since, last_checked_at, why}], failing_next?, last_run}`", body = Object), (status = 403, body = Problem)))]
fn fleet() {}

#[utoipa::path(get, path = "/v1/admin/audit", tag = "admin",
    params(("tenant" = Option<String>, Query), ("provider" = Option<String>, Query), ("action" = Option<String>, Query), ("actor" = Option<String>, Query),
        ("since" = Option<String>, Query, description = "RFC 3339, inclusive"), ("until" = Option<String>, Query, description = "RFC 3339, exclusive"),
        ("before" = Option<i64>, Query, description = "The previous page's `next_before`"), ("limit" = Option<u32>, Query, description = "1 to 500 (JSON), 1 to 10000 (CSV)"),
        ("format" = Option<String>, Query, description = "`json` (default) or `csv`")),
    description = "The whole audit log searched across tenants, newest first. `format=csv` answers a file (`text/csv`, RFC 4180, cells never read as formulas). An unknown parameter is 422, so a misspelt filter never widens the search.",
    responses((status = 200, description = "`{entries: [{id, at, actor, tenant?, provider?, action, outcome}], next_before}`, or CSV", body = Object), (status = 422, body = Problem), (status = 403, body = Problem)))]
fn audit_search() {}

#[utoipa::path(post, path = "/v1/admin/tenants/{tenant}/integrations/{key}/recheck", tag = "admin",
    params(("tenant" = String, Path, example = "acme"), ("key" = ProviderKey, Path, example = "openai")),
    description = "Queues the key's re-check on the cron's queue: the consumer re-tests it as the cron would, records the outcome, and emits the event and webhook.",
    responses((status = 202, description = "Queued", body = Object), (status = 404, description = "No saved key to re-check", body = Problem), (status = 403, body = Problem)))]
fn recheck_now() {}

#[utoipa::path(post, path = "/v1/session/sign-out", tag = "session", security(()),
    responses((status = 204, description = "The session cookie is cleared")))]
fn sign_out() {}

#[utoipa::path(get, path = "/v1/providers", tag = "catalog",
    params(("If-None-Match" = Option<String>, Header, description = "A previous ETag")),
    responses((status = 200, description = "The active catalog", body = ProviderList), (status = 304, description = "Unchanged"), (status = 401, body = Problem)))]
fn list_providers() {}

#[utoipa::path(get, path = "/v1/providers/{key}", tag = "catalog", params(("key" = ProviderKey, Path, example = "openai")),
    responses((status = 200, body = ProviderSpec), (status = 404, body = Problem)))]
fn get_provider() {}

#[utoipa::path(get, path = "/v1/providers/{key}/logo", tag = "catalog", security(()), params(("key" = ProviderKey, Path, example = "openai")),
    responses((status = 200, description = "SVG or PNG, sandboxed", content_type = "image/svg+xml"), (status = 404, body = Problem)))]
fn get_logo() {}

#[utoipa::path(put, path = "/v1/admin/providers/{key}", tag = "admin", params(("key" = ProviderKey, Path, example = "openai")), request_body = ProviderSpec,
    description = "Creates or updates an entry. With a test plugin, the entry must name an uploaded plugin and bring `fixtures`, and the plugin must pass the conformance suite (its fixtures and the host's cases); otherwise 422 (`validation-failed`, or `conformance-failed` with every case in `cases`) and nothing is saved. Fixtures are stored apart and never returned.",
    responses((status = 201, description = "Created", body = ProviderSpec, headers(("x-byok-conformance" = String, description = "When the suite ran: how many cases passed"))), (status = 200, description = "Updated", body = ProviderSpec, headers(("x-byok-conformance" = String, description = "When the suite ran: how many cases passed"))), (status = 422, body = Problem), (status = 403, body = Problem)))]
fn put_provider() {}

#[utoipa::path(delete, path = "/v1/admin/providers/{key}", tag = "admin", params(("key" = ProviderKey, Path, example = "openai")),
    responses((status = 204, description = "Retired; installs keep their keys"), (status = 404, body = Problem)))]
fn retire_provider() {}

#[utoipa::path(put, path = "/v1/admin/providers/{key}/logo", tag = "admin", params(("key" = ProviderKey, Path, example = "openai")),
    request_body(content = Bytes, content_type = "image/svg+xml", description = "SVG or PNG, at most 64 KiB"),
    responses((status = 200, body = ProviderSpec), (status = 413, body = Problem), (status = 415, body = Problem)))]
fn put_logo() {}

#[utoipa::path(put, path = "/v1/admin/providers/{key}/plugin", tag = "admin", params(("key" = ProviderKey, Path, example = "openai")),
    request_body(content = Bytes, content_type = "application/wasm", description = "The plugin component the entry names (wit/v1 or wit/v2, importing nothing)"),
    responses((status = 200, description = "Stored by digest (and, for an entry that named no plugin, attached after passing the conformance suite)"), (status = 409, description = "The entry names another plugin", body = Problem), (status = 422, body = Problem), (status = 415, body = Problem)))]
fn put_plugin() {}

#[utoipa::path(put, path = "/v1/admin/plugins", tag = "admin",
    request_body(content = Bytes, content_type = "application/wasm", description = "A plugin component (wit/v1 or wit/v2) that imports nothing"),
    responses((status = 200, description = "Validated, compiled and stored under its SHA-256 digest: `{digest, size, contract, compile_ms}`"), (status = 422, body = Problem), (status = 413, body = Problem), (status = 415, body = Problem), (status = 403, body = Problem)))]
fn put_component() {}

#[utoipa::path(put, path = "/v1/admin/platform-keys/{key}", tag = "admin", params(("key" = ProviderKey, Path, example = "openai")), request_body = CredentialRequest,
    responses((status = 200, description = "Saved (masked)"), (status = 422, body = Problem)))]
fn put_platform_key() {}

#[utoipa::path(get, path = "/v1/admin/platform-keys", tag = "admin",
    description = "Every platform key set, masked, with what its last test left (`status`: connected, invalid or unverified; `null` until it is tested after being set), when a test of it last concluded (`verified_at`), and the last day a tenant's call resolved to it (`last_used`, from the daily usage).",
    responses((status = 200, description = "`{platform_keys: [{provider, active, mask: {masked, fingerprint}, status?, verified_at?, last_used?}]}`", body = Object), (status = 403, body = Problem)))]
fn list_platform_keys() {}

#[utoipa::path(post, path = "/v1/admin/platform-keys/{key}/test", tag = "admin", params(("key" = ProviderKey, Path, example = "openai")),
    description = "Runs the entry's connection test on the platform key through the real test path and records the outcome against the key tested (409 when the key was replaced meanwhile). A test that cannot conclude (rate limited, provider down) leaves the status as it was.",
    responses((status = 200, description = "`{provider, status, verified_at?, report}`", body = Object), (status = 404, description = "No such entry, or no platform key set for it", body = Problem), (status = 409, body = Problem), (status = 403, body = Problem)))]
fn test_platform_key() {}

#[utoipa::path(get, path = "/v1/integrations", tag = "integrations", responses((status = 200, body = IntegrationList), (status = 403, body = Problem)))]
fn list_integrations() {}

#[utoipa::path(post, path = "/v1/integrations", tag = "integrations", request_body = InstallRequest,
    responses((status = 201, body = IntegrationView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
fn install() {}

#[utoipa::path(put, path = "/v1/integrations/{key}/credential", tag = "integrations", params(("key" = ProviderKey, Path, example = "openai")), request_body = CredentialRequest,
    description = "Saves a new key. Where none works, it is stored at once and tested (200). Over a working key, the new one is tested first while the working key keeps serving: promoted if it passes (200), refused if the provider rejects it (422 `key-refused`, with `failure`; nothing changed), or left as `pending` when the test could not conclude (202): switch to it anyway or discard it.",
    responses((status = 200, body = IntegrationView, description = "Stored (no key worked) or replaced (the new key passed)"),
        (status = 202, body = IntegrationView, description = "The new key's test could not conclude: it waits in `pending`; the working key stays in use"),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "A later save replaced this key before its test finished"),
        (status = 422, body = Problem, description = "The body breaks a rule, or (`key-refused`) the provider refused the new key: the working key stays in use")))]
fn save_credential() {}

#[utoipa::path(post, path = "/v1/integrations/{key}/pending/switch", tag = "integrations", params(("key" = ProviderKey, Path, example = "openai")), request_body = SwitchRequest,
    description = "Uses the pending key anyway, once its test could not conclude: it serves from now on (unverified) and is tested again at once.",
    responses((status = 200, body = IntegrationView, description = "Switched; the key was tested again"),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "No key is waiting, another one is, or its test is still running")))]
fn switch_pending() {}

#[utoipa::path(delete, path = "/v1/integrations/{key}/pending", tag = "integrations",
    params(("key" = ProviderKey, Path, example = "openai"), ("version" = u64, Query, description = "The pending key's version, as shown")),
    description = "Discards the pending key; the key in use is untouched.",
    responses((status = 200, body = IntegrationView, description = "Discarded"),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "No key is waiting, or another one is"),
        (status = 422, body = Problem, description = "No version named")))]
fn discard_pending() {}

#[utoipa::path(post, path = "/v1/integrations/{key}/test", tag = "integrations", params(("key" = ProviderKey, Path, example = "openai")),
    responses((status = 200, body = IntegrationView), (status = 404, body = Problem), (status = 409, body = Problem)))]
fn test_integration() {}

#[utoipa::path(delete, path = "/v1/integrations/{key}", tag = "integrations", params(("key" = ProviderKey, Path, example = "openai")),
    responses((status = 204, description = "Uninstalled; the ciphertext is deleted"), (status = 403, body = Problem), (status = 404, body = Problem)))]
fn uninstall() {}

#[utoipa::path(get, path = "/v1/integrations/{key}/events", tag = "integrations", params(("key" = ProviderKey, Path, example = "openai")),
    responses((status = 200, body = EventList, description = "The integration's status changes, newest first (at most 50); each id is the webhook-id of its deliveries"),
        (status = 404, body = Problem), (status = 403, body = Problem)))]
fn list_events() {}

#[utoipa::path(get, path = "/v1/admin/webhooks", tag = "admin",
    params(("delivery" = Option<Delivery>, Query, description = "dead (default: the dead letters), pending, delivered or none")),
    responses((status = 200, body = WebhookEventList, description = "Status events by the state of their webhook, newest first (at most 100)"),
        (status = 422, body = Problem), (status = 403, body = Problem)))]
fn list_webhooks() {}

#[utoipa::path(post, path = "/v1/admin/webhooks/{id}/redeliver", tag = "admin",
    params(("id" = String, Path, pattern = "^msg_[0-9a-f]{32}$", example = "msg_0123456789abcdef0123456789abcdef",
        description = "The event's id: the webhook-id of its deliveries")),
    responses((status = 202, body = WebhookEventView, description = "Queued again as a new series of attempts, with the same webhook-id and body (receivers deduplicate by id)"),
        (status = 404, body = Problem, description = "No event with this id"),
        (status = 409, body = Problem, description = "Its attempts are still under way, or webhooks are off (no WEBHOOK_URL)"),
        (status = 403, body = Problem)))]
fn redeliver_webhook() {}

#[utoipa::path(get, path = "/v1/audit", tag = "integrations",
    params(("by" = Option<AuditBy>, Query, description = "all (default), people (leaves out the scheduler's and usage reports' automatic re-tests) or automated"),
        ("actor" = Option<String>, Query, description = "Only this actor's rows", min_length = 1, max_length = 200)),
    responses((status = 200, description = "This tenant's log, newest first (at most 200 rows)"),
        (status = 422, body = Problem, description = "by or actor out of range")))]
fn audit() {}

#[utoipa::path(post, path = "/v1/resolve", tag = "resolve", request_body = ResolveRequest,
    responses((status = 200, body = ResolveResponse,
            headers(("Cache-Control" = String, description = "private, max-age=30: how long a client may keep the answer"))),
        (status = 404, body = Problem, description = "No key: the type is /problems/unknown-provider, not-installed, no-key or fallback-not-allowed"),
        (status = 429, body = Problem, description = "The answer would be the platform key and the tenant's daily cap on it is reached (/problems/platform-cap-reached; `cap` and Retry-After say when it resets). A tenant's own key is never capped",
            headers(("Retry-After" = u32, description = "Seconds until the cap resets (the next UTC midnight)"))),
        (status = 403, body = Problem)))]
fn resolve() {}

#[utoipa::path(post, path = "/v1/resolve/report", tag = "resolve", request_body = UsageReportRequest,
    responses((status = 202, body = UsageReportAnswer, description = "What the service will do: a rejection of a tenant key re-tests it (at most once per integration per 5 minutes)"),
        (status = 404, body = Problem, description = "The provider is not in the catalog"), (status = 403, body = Problem)))]
fn report_usage() {}

#[utoipa::path(get, path = "/v1/admin/tenants/{tenant}/providers/{key}/policy", tag = "admin",
    params(("tenant" = TenantId, Path, example = "acme"), ("key" = ProviderKey, Path, example = "openai")),
    responses((status = 200, body = PolicyView), (status = 404, body = Problem), (status = 403, body = Problem)))]
fn get_policy() {}

#[utoipa::path(put, path = "/v1/admin/tenants/{tenant}/providers/{key}/policy", tag = "admin",
    params(("tenant" = TenantId, Path, example = "acme"), ("key" = ProviderKey, Path, example = "openai")), request_body = PolicyRequest,
    responses((status = 200, body = PolicyView, description = "Set: `never` makes resolve fail closed for this tenant without its own key"),
        (status = 404, body = Problem), (status = 403, body = Problem)))]
fn put_policy() {}

#[utoipa::path(get, path = "/v1/admin/tenants/{tenant}/policy", tag = "admin",
    params(("tenant" = TenantId, Path, example = "acme")),
    responses((status = 200, body = TenantPolicyView), (status = 404, body = Problem), (status = 403, body = Problem)))]
fn get_tenant_policy() {}

#[utoipa::path(put, path = "/v1/admin/tenants/{tenant}/policy", tag = "admin",
    params(("tenant" = TenantId, Path, example = "acme")), request_body = TenantPolicyRequest,
    responses((status = 200, body = TenantPolicyView, description = "Set: the tenant's platform-key resolves, all providers together, are capped per UTC day (null: no cap)"),
        (status = 404, body = Problem), (status = 403, body = Problem)))]
fn put_tenant_policy() {}

#[utoipa::path(get, path = "/v1/admin/usage", tag = "admin",
    params(("since" = Option<String>, Query, format = Date, description = "A UTC day, YYYY-MM-DD (default: 30 days ago)")),
    responses((status = 200, body = UsageList, description = "Resolves and reports per day, tenant, provider and source, counted in batches of a few seconds"),
        (status = 422, body = Problem), (status = 403, body = Problem)))]
fn get_usage() {}

/// Not in the document: `/dev/login` exists only under DEV_MODE on loopback (README).
#[utoipa::path(get, path = "/dev/login", tag = "dev", security(()),
    params(("tenant" = Option<String>, Query), ("role" = Option<String>, Query), ("sub" = Option<String>, Query),
        ("next" = Option<String>, Query, description = "A path on this site to go to once signed in")),
    responses((status = 200, description = "Sets the byok_session cookie (only when DEV_MODE is \"true\" and the request is addressed to loopback)"),
        (status = 303, description = "Sets the cookie and goes to `next`")))]
fn dev_login() {}

#[utoipa::path(get, path = "/v1/admin/moves", tag = "admin",
    responses((status = 200, body = crate::moves::MovesStatus, description = "The databases tenants are spread over, and the list a move under way goes to"),
        (status = 403, body = Problem)))]
fn moves_status() {}

#[utoipa::path(post, path = "/v1/admin/moves/copy", tag = "admin", request_body = crate::moves::WalkRequest,
    description = "While a move is under way (D1_SHARDS_NEXT), copies the rows of the tenants of one database that change database, a bounded share per call: call again with `after` set to `next` until `next` is absent. A tenant copied before is left as it is.",
    responses((status = 200, body = crate::moves::WalkReport, description = "What this call copied, and where the next one starts"),
        (status = 409, body = Problem, description = "No move is under way, or a copy did not match its source (nothing recorded; the next call copies it again)"),
        (status = 404, body = Problem, description = "Not a database D1_SHARDS lists"),
        (status = 403, body = Problem)))]
fn moves_copy() {}

#[utoipa::path(post, path = "/v1/admin/moves/prune", tag = "admin", request_body = crate::moves::WalkRequest,
    description = "Once the list has changed (no move under way), deletes from one database the rows of tenants another database now serves, when that database records their copy from this one and the rows are still as the copy saw them; any other tenant's rows are kept and named (never copied, or written after their copy).",
    responses((status = 200, body = crate::moves::WalkReport, description = "What this call removed and kept, and where the next one starts"),
        (status = 404, body = Problem, description = "Not a database D1_SHARDS lists"),
        (status = 403, body = Problem)))]
fn moves_prune() {}

#[utoipa::path(get, path = "/v1/admin/keyring", tag = "admin",
    responses((status = 200, description = "The key ids in use, their row counts, and which is primary", body = KeyringReport), (status = 403, body = Problem)))]
fn get_keyring() {}

#[utoipa::path(post, path = "/v1/admin/keyring/reseal", tag = "admin", request_body(content = Option<ResealRequest>, description = "Optional; an empty body is a first pass of 100 rows"),
    responses((status = 200, description = "One pass: what was re-sealed under the primary key and what remains", body = ResealReport),
        (status = 400, body = Problem), (status = 422, body = Problem), (status = 403, body = Problem)))]
fn reseal_keyring() {}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    fn doc() -> Value {
        serde_json::from_str(&super::document()).expect("the document is JSON")
    }

    /// Each rule a route enforces whatever the catalog holds is stated in the document, so a
    /// body the document calls valid is not refused for it (issue #20 §5).
    #[test]
    fn the_cross_field_rules_are_in_the_document() {
        let d = doc();
        let schema = |name: &str| d["components"]["schemas"][name].clone();
        let install = schema("InstallRequest");
        assert_eq!(install["anyOf"][0]["required"][0], "key", "{install}");
        assert_eq!(
            install["anyOf"][1]["properties"]["fields"]["maxProperties"],
            0
        );
        for name in ["InstallRequest", "CredentialRequest"] {
            let pattern = schema(name)["properties"]["key"]["pattern"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            assert!(pattern.contains("\\u0000-\\u0008"), "{name}: {pattern}");
            assert_eq!(
                schema(name)["properties"]["fields"]["additionalProperties"]["pattern"],
                pattern.as_str()
            );
        }
        assert_eq!(
            schema("TestPlugin")["properties"]["digest"]["pattern"],
            "^[0-9a-f]{64}$"
        );
        let spec = schema("ProviderSpec");
        assert_eq!(
            spec["anyOf"][1]["properties"]["egress"]["minItems"], 1,
            "{spec}"
        );
        let logo = &d["paths"]["/v1/admin/providers/{key}/logo"]["put"]["requestBody"]["content"];
        assert_eq!(logo["image/svg+xml"]["schema"]["type"], "string", "{logo}");
        assert_eq!(logo["image/png"]["schema"]["format"], "binary", "{logo}");
        let served = &d["paths"]["/v1/providers/{key}/logo"]["get"]["responses"]["200"]["content"];
        assert!(
            served["image/png"].is_object() && served["image/svg+xml"].is_object(),
            "{served}"
        );
    }

    /// The patterns compile as the regular expressions validators use, and mean what the
    /// routes check: no control character but tab, newline and carriage return.
    #[test]
    fn the_key_pattern_refuses_control_characters_but_tab_and_newlines() {
        let class: String = super::NO_CONTROL
            .trim_start_matches("^[^")
            .trim_end_matches("]*$")
            .to_owned();
        // Decode the \uXXXX escapes into the ranges they name.
        let mut refused = Vec::new();
        for part in class.split("\\u").filter(|p| !p.is_empty()) {
            let hex = &part[..4];
            refused.push((
                u32::from_str_radix(hex, 16).expect("hex"),
                part.ends_with('-'),
            ));
        }
        let mut ranges = Vec::new();
        let mut i = 0;
        while i < refused.len() {
            let (start, open) = refused[i];
            if open {
                ranges.push((start, refused[i + 1].0));
                i += 2;
            } else {
                ranges.push((start, start));
                i += 1;
            }
        }
        let in_class = |c: char| ranges.iter().any(|(a, b)| (*a..=*b).contains(&(c as u32)));
        for c in (0u32..0x200).filter_map(char::from_u32) {
            let allowed_by_route = !c.is_control() || matches!(c, '\t' | '\n' | '\r');
            assert_eq!(!in_class(c), allowed_by_route, "U+{:04X}", c as u32);
        }
    }
}
