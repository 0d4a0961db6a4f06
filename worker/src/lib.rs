//! The BYOK Worker: every route of the API over D1 and KV.
//!
//! Thin adapters only: the decisions (validation, status, sealing, masking, resolve policy)
//! are `byok-core`'s; this crate reads requests, calls the core, and stores results.

use std::cell::RefCell;
use std::rc::Rc;

use byok_core::api::{Problem, ProblemKind};
use byok_core::auth::{AuthSettings, AUTH_AUDIENCE, AUTH_ISSUER, AUTH_SECRET, SERVICE_AUTH_SECRET};
use byok_core::events::Job;
use byok_core::keyring::Keyring;
use byok_core::verifier::Verifier;
use worker::{
    event, Context, D1Database, Env, KvStore, MessageBatch, MessageExt, Method, Request, Response,
    ScheduleContext, ScheduledEvent,
};

mod admin;
mod audit;
mod auth;
mod catalog;
mod connect;
mod connection;
mod console;
mod credentials;
mod dev;
mod egress;
mod events;
mod expiry;
mod http;
mod integrations;
mod limits;
mod moves;
mod openapi;
mod policy;
mod quota;
mod recheck;
mod report;
mod resolve;
mod retention;
mod rotation;
mod store;
mod usage;
mod util;
mod web;

use http::{problem, problem_response, ApiError, ApiResult};

/// What every route needs: storage, the keyring, the authentication settings.
pub struct App {
    /// The D1 databases `D1_SHARDS` lists, the home database first (`byok_core::shard`).
    dbs: Vec<D1Database>,
    shard_map: byok_core::shard::ShardMap,
    /// A move under way (`D1_SHARDS_NEXT`), with the databases it lists, in its order.
    next: Option<(byok_core::shard::ShardMove, Vec<D1Database>)>,
    pub kv: KvStore,
    pub keyring: Rc<Keyring>,
    /// Verifies tokens (and remembers those that verified) under this isolate's settings.
    pub auth: Rc<RefCell<Verifier>>,
    pub dev_mode: bool,
    /// For work after the answer (`waitUntil`), which builds its own `App` from it.
    pub env: Env,
}

impl App {
    /// The home database: the catalog, uploaded plugins, connect links, and the rows about no
    /// tenant (platform-scope audit).
    pub fn home(&self) -> &D1Database {
        &self.dbs[0]
    }

    /// The database that holds `tenant`'s rows (its integrations, events, audit, usage,
    /// policies): one lookup, no query (`byok_core::shard::ShardMap::shard_of`).
    pub fn db_for(&self, tenant: &str) -> &D1Database {
        &self.dbs[self.shard_of(tenant)]
    }

    /// The position of `tenant`'s database in [`Self::shards`].
    pub fn shard_of(&self, tenant: &str) -> usize {
        self.shard_map.shard_of(tenant)
    }

    /// Where a row about `tenant` lives; a row about no tenant (platform scope) is at home.
    pub fn db_of(&self, tenant: Option<&byok_core::ids::TenantId>) -> &D1Database {
        tenant.map_or(self.home(), |t| self.db_for(t.as_str()))
    }

    /// Every database, for the views and sweeps across tenants (the cron, the console).
    pub fn shards(&self) -> &[D1Database] {
        &self.dbs
    }

    /// The binding names of [`Self::shards`], in order.
    pub fn shard_names(&self) -> &[String] {
        self.shard_map.names()
    }

    /// The move under way, if any, and the databases it moves tenants to.
    pub fn shard_move(&self) -> Option<(&byok_core::shard::ShardMove, &[D1Database])> {
        self.next.as_ref().map(|(m, dbs)| (m, dbs.as_slice()))
    }

    /// Whether `tenant` is changing database in the move under way.
    pub fn is_moving(&self, tenant: &str) -> bool {
        self.next
            .as_ref()
            .is_some_and(|(m, _)| m.moving(tenant).is_some())
    }

    /// Nothing about a tenant that is changing database is written until the move is done (so
    /// the copy is complete when the list changes): 503 with `Retry-After`, reads still served.
    pub fn check_writable(&self, tenant: &str) -> Result<(), ApiError> {
        if self.is_moving(tenant) {
            return Err(moving_problem(
                "This workspace's integrations are being moved to another database: they can be read and resolved, and changes are paused for a few minutes. Try again shortly.",
            ));
        }
        Ok(())
    }

    /// Writes across tenants (resealing every key, redelivering an event) wait for the move.
    pub fn check_no_move(&self, what: &str) -> Result<(), ApiError> {
        if self.next.is_some() {
            return Err(moving_problem(&format!(
                "Tenants are being moved between databases (D1_SHARDS_NEXT is set): {what} waits until the move is done."
            )));
        }
        Ok(())
    }
}

/// The retry a client is told while a move is under way.
const MOVING_RETRY_S: u32 = 60;
/// How long a queued delivery about a moving tenant waits before it is tried again.
const MOVE_RETRY_S: u32 = 300;

fn moving_problem(detail: &str) -> ApiError {
    let mut p = Problem::new(ProblemKind::Moving, detail);
    p.retry_after_s = Some(MOVING_RETRY_S);
    ApiError(p)
}

/// The databases `D1_SHARDS` names, each a D1 binding of the Worker. A setting that does not
/// parse, or names a binding that is not there, is a 500 naming it: no request is served
/// against a partial set of databases.
pub(crate) fn databases(
    env: &Env,
) -> Result<(byok_core::shard::ShardMap, Vec<D1Database>), ApiError> {
    use byok_core::shard::{ShardMap, D1_SHARDS};
    let setting = env.var(D1_SHARDS).ok().map(|v| v.to_string());
    let map = ShardMap::parse(setting.as_deref()).map_err(|e| {
        problem(
            ProblemKind::Misconfigured,
            format!("The service is not configured: {e}."),
        )
    })?;
    let dbs = map
        .names()
        .iter()
        .map(|name| {
            env.d1(name).map_err(|_| {
                problem(
                    ProblemKind::Misconfigured,
                    format!("The service is not configured: D1_SHARDS names {name:?}, which is not a D1 binding of this Worker."),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    SHARD_MAP.with(|m| *m.borrow_mut() = map.clone());
    Ok((map, dbs))
}

/// The move `D1_SHARDS_NEXT` describes, with the databases it lists (each a D1 binding of the
/// Worker); none when it is unset. A value that does not parse, or names a binding that is not
/// there, is a 500 naming it, as for `D1_SHARDS`.
pub(crate) fn next_databases(
    env: &Env,
    map: &byok_core::shard::ShardMap,
) -> Result<Option<(byok_core::shard::ShardMove, Vec<D1Database>)>, ApiError> {
    use byok_core::shard::{ShardMove, D1_SHARDS_NEXT};
    let setting = env.var(D1_SHARDS_NEXT).ok().map(|v| v.to_string());
    let misconfigured = |detail: String| {
        problem(
            ProblemKind::Misconfigured,
            format!("The service is not configured: {detail}."),
        )
    };
    let Some(found) =
        ShardMove::parse(map, setting.as_deref()).map_err(|e| misconfigured(e.to_string()))?
    else {
        return Ok(None);
    };
    let dbs = found
        .to()
        .names()
        .iter()
        .map(|name| {
            env.d1(name).map_err(|_| {
                misconfigured(format!(
                    "D1_SHARDS_NEXT names {name:?}, which is not a D1 binding of this Worker"
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some((found, dbs)))
}

/// The position of the database that holds rows about `tenant` (none: the home database).
pub(crate) fn position_of(tenant: Option<&str>) -> usize {
    tenant.map_or(0, |t| SHARD_MAP.with(|m| m.borrow().shard_of(t)))
}

thread_local! {
    /// The isolate's map of databases, as `databases` last read it (for the few writes that
    /// must know a row's database by position, the audit ids).
    static SHARD_MAP: RefCell<byok_core::shard::ShardMap> = RefCell::new(Default::default());
    /// The keyring, parsed once per isolate (secrets do not change under a running isolate).
    static KEYRING: RefCell<Option<Rc<Keyring>>> = const { RefCell::new(None) };
    /// The checked authentication settings, once per isolate for the same reason, with the
    /// tokens verified under them.
    static VERIFIER: RefCell<Option<Rc<RefCell<Verifier>>>> = const { RefCell::new(None) };
}

fn keyring(env: &Env) -> Result<Rc<Keyring>, ApiError> {
    if let Some(k) = KEYRING.with(|k| k.borrow().clone()) {
        return Ok(k);
    }
    let doc = env
        .secret("BYOK_KEYRING")
        .map_err(|_| {
            problem(
                ProblemKind::Misconfigured,
                "The service is not configured: BYOK_KEYRING is missing.",
            )
        })?
        .to_string();
    let ring = Rc::new(Keyring::from_json(&doc).map_err(|e| {
        worker::console_error!("{e}");
        problem(
            ProblemKind::Misconfigured,
            "The service is not configured: BYOK_KEYRING is invalid.",
        )
    })?);
    KEYRING.with(|k| *k.borrow_mut() = Some(ring.clone()));
    Ok(ring)
}

/// The authentication settings, checked: both secrets at least 32 bytes and distinct, issuer
/// and audience set. Anything short of that is a 500 problem naming the setting (never its
/// value), so no authenticated route is served with a weak or missing secret. Only settings
/// that pass are kept for the isolate.
fn verifier(env: &Env) -> Result<Rc<RefCell<Verifier>>, ApiError> {
    if let Some(v) = VERIFIER.with(|v| v.borrow().clone()) {
        return Ok(v);
    }
    let settings = auth_settings(env)?;
    let idp = idp_config(env, &settings)?.map(byok_core::idp::Idp::new);
    let v = Rc::new(RefCell::new(Verifier::new(settings).with_idp(idp)));
    VERIFIER.with(|slot| *slot.borrow_mut() = Some(v.clone()));
    Ok(v)
}

fn auth_settings(env: &Env) -> Result<AuthSettings, ApiError> {
    let secret = |name: &str| env.secret(name).ok().map(|s| s.to_string());
    let var = |name: &str| env.var(name).ok().map(|s| s.to_string());
    let (user, service) = (secret(AUTH_SECRET), secret(SERVICE_AUTH_SECRET));
    AuthSettings::from_values(
        user.as_deref(),
        service.as_deref(),
        var(AUTH_ISSUER).as_deref(),
        var(AUTH_AUDIENCE).as_deref(),
    )
    .map_err(|e| {
        problem(
            ProblemKind::Misconfigured,
            format!("The service is not configured: {e}. Set it with `wrangler secret put` (secrets) or in wrangler.toml (vars)."),
        )
    })
}

/// The identity provider's settings (`AUTH_JWKS_URL` and its companions), checked; `None`
/// when no key set is configured.
fn idp_config(
    env: &Env,
    settings: &AuthSettings,
) -> Result<Option<byok_core::idp::IdpConfig>, ApiError> {
    use byok_core::idp::*;
    let var = |name: &str| {
        env.var(name)
            .ok()
            .map(|s| s.to_string())
            .filter(|s| !s.trim().is_empty())
    };
    let names = [
        AUTH_JWKS_URL,
        AUTH_JWKS_ISSUER,
        AUTH_JWKS_AUDIENCE,
        AUTH_TENANT_CLAIM,
        AUTH_ROLE_CLAIM,
        AUTH_ROLE_MAP,
        AUTH_JWKS_REFETCH_SECONDS,
    ];
    let v: Vec<Option<String>> = names.iter().map(|n| var(n)).collect();
    IdpConfig::from_values(
        IdpValues {
            jwks_url: v[0].as_deref(),
            issuer: v[1].as_deref(),
            audience: v[2].as_deref(),
            tenant_claim: v[3].as_deref(),
            role_claim: v[4].as_deref(),
            role_map: v[5].as_deref(),
            refetch_seconds: v[6].as_deref(),
        },
        &settings.issuer,
        &settings.audience,
    )
    .map_err(|e| {
        problem(
            ProblemKind::Misconfigured,
            format!("The service is not configured: {e}."),
        )
    })
}

pub(crate) fn app(env: &Env) -> Result<App, ApiError> {
    let (shard_map, dbs) = databases(env)?;
    let next = next_databases(env, &shard_map)?;
    Ok(App {
        dbs,
        shard_map,
        next,
        kv: env.kv("KV")?,
        keyring: keyring(env)?,
        auth: verifier(env)?,
        dev_mode: dev_mode(env),
        env: env.clone(),
    })
}

/// `DEV_MODE = "true"`: the dev login exists and the pages offer it.
fn dev_mode(env: &Env) -> bool {
    env.var("DEV_MODE").is_ok_and(|v| v.to_string() == "true")
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    // `req.method()` reads a method worker does not know (QUERY...) as GET: use the raw one.
    let method = req.inner().method().to_ascii_uppercase();
    // HEAD is GET without the body, wherever GET is answered (RFC 9110 §9.3.2).
    if method == "HEAD" {
        // A link checker's HEAD must not use up a single-use connect link.
        if req.path().starts_with("/connect/") {
            return Response::empty().map(|r| r.with_status(204));
        }
        let resp = serve(req, env, ctx, "GET").await?;
        return Ok(Response::empty()?
            .with_status(resp.status_code())
            .with_headers(resp.headers().clone()));
    }
    serve(req, env, ctx, &method).await
}

/// Answers a request as `method` (the raw method, upper case; GET for a HEAD).
async fn serve(mut req: Request, env: Env, ctx: Context, method: &str) -> worker::Result<Response> {
    let is_get = method == "GET";
    // Liveness and the API description need no configuration.
    if is_get && req.path() == "/healthz" {
        return http::json(200, &serde_json::json!({"status": "ok"}));
    }
    if is_get && req.path() == "/openapi.json" {
        let resp = Response::ok(openapi::document())?;
        resp.headers().set("content-type", "application/json")?;
        return Ok(resp);
    }
    // The pages are public shells (their data comes from the API under the session).
    if is_get {
        if req.path() == "/" {
            return web::home();
        }
        if req.path() == "/admin" || req.path() == "/admin/" {
            return web::redirect(web::ADMIN_HOME);
        }
        if let Some(page) = web::find(&req.path()) {
            // The console's pages hold no data, but a signed-in member or owner is not even
            // shown one: 403, in words. (Signed out, the page offers the sign-in.)
            if page.is_admin() {
                if let Some(refusal) = admin_page_refusal(&req, &env).await? {
                    return Ok(refusal);
                }
            }
            let etag = req.headers().get("if-none-match")?;
            return match page_options(&req, &env) {
                Ok(opts) => web::respond(page, etag.as_deref(), &opts),
                Err(ApiError(p)) => problem_response(&p),
            };
        }
    }
    let result = match app(&env) {
        Ok(app) => route(&mut req, &app, &ctx, method).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(resp) => Ok(resp),
        Err(ApiError(p)) => problem_response(&p),
    }
}

/// A console page asked for by a session that is not a platform admin's: the 403 page.
async fn admin_page_refusal(req: &Request, env: &Env) -> worker::Result<Option<Response>> {
    let Ok(app) = app(env) else {
        return Ok(None);
    };
    match auth::authenticate(req, &app.auth, app.dev_mode).await {
        Ok(who) if who.role != auth::Role::PlatformAdmin => {
            let opts = page_options(req, env).unwrap_or_default();
            let page = web::message_page(
                "admin",
                opts.lang,
                "This console is for platform admins",
                "Your session is not a platform admin's. Manage your workspace's integrations from Settings.",
            );
            let resp = Response::from_html(page)?.with_status(403);
            web::page_headers(resp.headers(), &opts)?;
            resp.headers().set("cache-control", "no-store")?;
            Ok(Some(resp))
        }
        _ => Ok(None),
    }
}

/// How the pages are served: dev sign-in, the visitor's language, who may frame them and
/// whether connect popups must keep their opener.
pub(crate) fn page_options(req: &Request, env: &Env) -> Result<web::PageOptions, ApiError> {
    let accept = req.headers().get("accept-language")?;
    let embed = env
        .var(byok_core::connect::ALLOWED_EMBED_ORIGINS)
        .ok()
        .map(|v| v.to_string());
    let frame_ancestors = byok_core::connect::parse_origins(embed.as_deref()).map_err(|e| {
        problem(
            ProblemKind::Misconfigured,
            format!(
                "The service is not configured: {}: {e}.",
                byok_core::connect::ALLOWED_EMBED_ORIGINS
            ),
        )
    })?;
    Ok(web::PageOptions {
        dev: dev_mode(env),
        lang: byok_core::connect::negotiate(None, accept.as_deref()).as_str(),
        frame_ancestors,
        keep_opener: !connect::connect_origins(env)?.is_empty(),
    })
}

/// The Cron Trigger: queue the stored keys that are due for a re-check.
#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    // One App (keyring, auth settings) for both parts of the run.
    let app = match app(&env) {
        Ok(app) => app,
        Err(ApiError(p)) => {
            worker::console_error!("re-check run failed: {}", p.detail);
            return;
        }
    };
    match recheck::run(&app).await {
        Ok(run) => {
            worker::console_log!(
                "re-check run: {} candidates read, {} queued, {} rescheduled",
                run.candidates,
                run.queued,
                run.rescheduled
            );
            // For the console's fleet view: when the cron last ran and what it queued.
            let summary = serde_json::json!({
                "at": util::rfc3339(util::now_millis()),
                "candidates": run.candidates,
                "queued": run.queued,
                "rescheduled": run.rescheduled,
            });
            // As JSON text: a `serde_json::Value` handed to KV as it is was stored as `{}`.
            if let Ok(put) = app.kv.put(console::LAST_RUN_KEY, summary.to_string()) {
                let _ = put.execute().await;
            }
        }
        Err(ApiError(p)) => worker::console_error!("re-check run failed: {}", p.detail),
    }
    if let Err(ApiError(p)) = events::stall_sweep(&app).await {
        worker::console_error!("webhook stall sweep failed: {}", p.detail);
    }
    // The run's own time (which a local test can set), not the isolate's clock.
    let now = event.schedule().max(0.0) as u64;
    match expiry::sweep(&app, now).await {
        Ok(s) if s.sent > 0 => {
            worker::console_log!("expiry notices: {} read, {} sent", s.read, s.sent)
        }
        Ok(_) => {}
        Err(ApiError(p)) => worker::console_error!("expiry sweep failed: {}", p.detail),
    }
    match connect::sweep(app.home(), now / 1000).await {
        Ok(n) if n > 0 => worker::console_log!("connect links: {n} expired links deleted"),
        Ok(_) => {}
        Err(e) => worker::console_error!("connect link sweep failed: {e}"),
    }
    match retention::sweep(&app, now).await {
        Ok(s) if s.total() > 0 => worker::console_log!(
            "retention: {} audit rows, {} status events, {} usage rows, {} re-check counts removed",
            s.audit,
            s.events,
            s.usage,
            s.recheck_counts
        ),
        Ok(_) => {}
        Err(ApiError(p)) => worker::console_error!("retention sweep failed: {}", p.detail),
    }
}

/// The queue's consumer: re-checks and webhook deliveries. Each message is acknowledged or
/// retried on its own, so one failure never repeats the rest of the batch.
#[event(queue)]
async fn queue(batch: MessageBatch<Job>, env: Env, _ctx: Context) -> worker::Result<()> {
    let messages = batch.messages()?;
    let jobs = messages.len();
    let started = util::clock_ms();
    util::take_subrequests();
    for message in messages {
        let done = match message.body() {
            Job::Recheck(m) => recheck::recheck(&env, m).await,
            Job::Deliver(m) => events::deliver(&env, m.clone()).await,
        };
        match done {
            Ok(()) => message.ack(),
            // A delivery about a tenant changing database waits for the move, a few minutes at
            // a time (each wait is one of the queue's retries).
            Err(ApiError(p)) if p.retry_after_s.is_some() && p.status == 503 => {
                message.retry_with_options(
                    &worker::QueueRetryOptionsBuilder::new()
                        .with_delay_seconds(MOVE_RETRY_S)
                        .build(),
                );
            }
            Err(ApiError(p)) => {
                worker::console_error!("queued job failed, retrying: {}", p.detail);
                message.retry();
            }
        }
    }
    // One line per invocation: what the Workers limits bound (scripts/bench-recheck reads it).
    worker::console_warn!(
        "queue invocation: {jobs} jobs, {} subrequests, {} ms",
        util::take_subrequests(),
        (util::clock_ms() - started).max(0.0) as u64
    );
    Ok(())
}

async fn route(req: &mut Request, app: &App, ctx: &Context, method_name: &str) -> ApiResult {
    let url = req.url()?;
    let path = url.path().to_owned();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let method = Method::from(method_name.to_owned());

    if let (Method::Get, ["dev", "login"]) = (&method, segments.as_slice()) {
        let open = byok_core::auth::dev_login_open(
            app.dev_mode,
            &app.auth.borrow().settings().issuer,
            dev::is_loopback(&url),
        );
        if open {
            return dev::login(req, app);
        }
    }
    // A path the API has, with a method it does not: 405 with `Allow` (RFC 9110 §15.5.6),
    // before authentication, since the answer depends on the path alone.
    let Some(allowed) = allowed_methods(&segments) else {
        return Err(problem(
            ProblemKind::NotFound,
            format!("No route for {path}."),
        ));
    };
    // The raw method: worker's `Method` reads any method it does not know as GET.
    if !allowed.contains(&method_name) {
        let mut allow = allowed.to_vec();
        if allow.contains(&"GET") {
            allow.push("HEAD");
        }
        let allow = allow.join(", ");
        let resp = http::problem_response(&Problem::new(
            ProblemKind::MethodNotAllowed,
            format!("{method_name} is not allowed on {path}: use {allow}."),
        ))?;
        resp.headers().set("allow", &allow)?;
        return Ok(resp);
    }

    // Public routes.
    match (&method, segments.as_slice()) {
        (Method::Get, ["connect", token]) => return Ok(connect::open(req, app, token).await?),
        (Method::Post, ["v1", "session", "sign-out"]) => return connect::sign_out(req),
        (Method::Get, ["healthz"]) => {
            return Ok(http::json(200, &serde_json::json!({"status": "ok"}))?)
        }
        (Method::Get, ["v1", "providers", key, "logo"]) => return catalog::logo(app, key).await,
        _ => {}
    }
    let who = auth::authenticate(req, &app.auth, app.dev_mode).await?;
    auth::check_origin(req, &who)?;
    // While a move is under way (D1_SHARDS_NEXT), nothing is written about a tenant that is
    // changing database, nor across tenants: its copy must be complete when the list changes.
    if app.shard_move().is_some() && !matches!(method, Method::Get) {
        match segments.as_slice() {
            ["v1", "integrations", ..] => app.check_writable(who.tenant.as_str())?,
            ["v1", "admin", "tenants", tenant, ..] => app.check_writable(tenant)?,
            ["v1", "admin", "keyring", "reseal"] => {
                app.check_no_move("resealing the stored keys")?
            }
            ["v1", "admin", "webhooks", _, "redeliver"] => app.check_no_move("a redelivery")?,
            _ => {}
        }
    }
    match (&method, segments.as_slice()) {
        (Method::Get, ["v1", "me"]) => auth::me(req, &who),
        (Method::Post, ["v1", "connect", "sessions"]) => connect::create(req, app, &who).await,
        (Method::Get, ["v1", "providers"]) => catalog::list(req, app, &who).await,
        (Method::Get, ["v1", "providers", key]) => catalog::get(req, app, &who, key).await,
        (Method::Get, ["v1", "admin", "providers"]) => console::providers(app, &who).await,
        (Method::Post, ["v1", "admin", "providers", key, "restore"]) => {
            console::restore(app, &who, key).await
        }
        (Method::Post, ["v1", "admin", "providers", key, "try"]) => {
            console::try_key(req, app, &who, key).await
        }
        (Method::Get, ["v1", "admin", "fleet"]) => console::fleet(req, app, &who).await,
        (Method::Get, ["v1", "admin", "audit"]) => console::audit_search(req, app, &who).await,
        (Method::Post, ["v1", "admin", "tenants", tenant, "integrations", key, "recheck"]) => {
            console::recheck_now(app, &who, tenant, key).await
        }
        (Method::Put, ["v1", "admin", "providers", key]) => {
            admin::put_provider(req, app, &who, key).await
        }
        (Method::Delete, ["v1", "admin", "providers", key]) => admin::retire(app, &who, key).await,
        (Method::Put, ["v1", "admin", "plugins"]) => admin::put_component(req, app, &who).await,
        (Method::Put, ["v1", "admin", "providers", key, "plugin"]) => {
            admin::put_plugin(req, app, &who, key).await
        }
        (Method::Put, ["v1", "admin", "providers", key, "logo"]) => {
            admin::put_logo(req, app, &who, key).await
        }
        (Method::Put, ["v1", "admin", "platform-keys", key]) => {
            admin::platform_key(req, app, &who, key).await
        }
        (Method::Get, ["v1", "admin", "platform-keys"]) => console::platform_keys(app, &who).await,
        (Method::Post, ["v1", "admin", "platform-keys", key, "test"]) => {
            console::test_platform_key(app, &who, key).await
        }
        (Method::Get, ["v1", "integrations"]) => integrations::list(app, &who).await,
        (Method::Post, ["v1", "integrations"]) => integrations::install(req, app, &who).await,
        (Method::Put, ["v1", "integrations", key, "credential"]) => {
            integrations::save(req, app, &who, key).await
        }
        (Method::Post, ["v1", "integrations", key, "test"]) => {
            integrations::test(app, &who, key).await
        }
        (Method::Get, ["v1", "integrations", key, "events"]) => events::list(app, &who, key).await,
        (Method::Post, ["v1", "integrations", key, "pending", "switch"]) => {
            integrations::switch_pending(req, app, &who, key).await
        }
        (Method::Delete, ["v1", "integrations", key, "pending"]) => {
            integrations::discard_pending(req, app, &who, key).await
        }
        (Method::Delete, ["v1", "integrations", key]) => {
            integrations::uninstall(app, &who, key).await
        }
        (Method::Get, ["v1", "audit"]) => integrations::audit_log(req, app, &who).await,
        (Method::Get, ["v1", "admin", "keyring"]) => rotation::get(app, &who).await,
        (Method::Post, ["v1", "admin", "keyring", "reseal"]) => {
            rotation::reseal(req, app, &who).await
        }
        (Method::Post, ["v1", "resolve"]) => resolve::resolve(req, app, &who, ctx).await,
        (Method::Post, ["v1", "resolve", "report"]) => report::report(req, app, &who, ctx).await,
        (Method::Get, ["v1", "admin", "tenants", tenant, "providers", key, "policy"]) => {
            policy::get(app, &who, tenant, key).await
        }
        (Method::Put, ["v1", "admin", "tenants", tenant, "providers", key, "policy"]) => {
            policy::put(req, app, &who, tenant, key).await
        }
        (Method::Get, ["v1", "admin", "tenants", tenant, "policy"]) => {
            policy::get_tenant(app, &who, tenant).await
        }
        (Method::Put, ["v1", "admin", "tenants", tenant, "policy"]) => {
            policy::put_tenant(req, app, &who, tenant).await
        }
        (Method::Get, ["v1", "admin", "usage"]) => policy::usage(req, app, &who).await,
        (Method::Get, ["v1", "admin", "webhooks"]) => events::by_delivery(req, app, &who).await,
        (Method::Post, ["v1", "admin", "webhooks", id, "redeliver"]) => {
            events::redeliver(app, &who, id).await
        }
        (Method::Get, ["v1", "admin", "moves"]) => moves::status(app, &who).await,
        (Method::Post, ["v1", "admin", "moves", "copy"]) => moves::copy(req, app, &who).await,
        (Method::Post, ["v1", "admin", "moves", "prune"]) => moves::prune(req, app, &who).await,
        _ => Err(ApiError(Problem::new(
            ProblemKind::MethodNotAllowed,
            format!("{method:?} is not allowed on {path}."),
        ))),
    }
}

/// The methods a path's routes answer (`None`: no such path), to tell 405 from 404 and to
/// fill `Allow`. Kept beside the routing table above, which it must match.
fn allowed_methods(s: &[&str]) -> Option<&'static [&'static str]> {
    Some(match s {
        ["healthz"] | ["v1", "me"] | ["v1", "providers"] | ["v1", "audit"] => &["GET"],
        ["v1", "providers", _] | ["v1", "providers", _, "logo"] => &["GET"],
        ["v1", "integrations", _, "events"] => &["GET"],
        ["v1", "admin", "keyring"]
        | ["v1", "admin", "usage"]
        | ["v1", "admin", "webhooks"]
        | ["v1", "admin", "moves"] => &["GET"],
        ["v1", "admin", "moves", "copy"] | ["v1", "admin", "moves", "prune"] => &["POST"],
        ["v1", "admin", "tenants", _, "providers", _, "policy"]
        | ["v1", "admin", "tenants", _, "policy"] => &["GET", "PUT"],
        ["v1", "admin", "providers", _] => &["PUT", "DELETE"],
        ["v1", "admin", "plugins"] => &["PUT"],
        ["v1", "admin", "providers"]
        | ["v1", "admin", "fleet"]
        | ["v1", "admin", "audit"]
        | ["v1", "admin", "platform-keys"] => &["GET"],
        ["v1", "admin", "providers", _, "restore"]
        | ["v1", "admin", "providers", _, "try"]
        | ["v1", "admin", "platform-keys", _, "test"]
        | ["v1", "admin", "tenants", _, "integrations", _, "recheck"] => &["POST"],
        ["v1", "admin", "providers", _, "logo"]
        | ["v1", "admin", "providers", _, "plugin"]
        | ["v1", "admin", "platform-keys", _]
        | ["v1", "integrations", _, "credential"] => &["PUT"],
        ["v1", "integrations"] => &["GET", "POST"],
        ["connect", _] => &["GET"],
        ["v1", "connect", "sessions"] | ["v1", "session", "sign-out"] => &["POST"],
        ["v1", "integrations", _] | ["v1", "integrations", _, "pending"] => &["DELETE"],
        ["v1", "integrations", _, "test"]
        | ["v1", "admin", "keyring", "reseal"]
        | ["v1", "resolve"]
        | ["v1", "resolve", "report"]
        | ["v1", "integrations", _, "pending", "switch"]
        | ["v1", "admin", "webhooks", _, "redeliver"] => &["POST"],
        _ => return None,
    })
}
