//! The hard daily cap on the platform key: a Durable Object per tenant (`PlatformQuota`,
//! binding `QUOTA`) holds the tenant's counts for today and decides each resolve with
//! `byok_core::quota::take`. One object per tenant runs one request at a time, and its SQLite
//! calls are synchronous, so a read and its write can never interleave with another resolve:
//! the count is exact however many isolates and connections ask at once.
//!
//! Only a resolve whose answer would be the platform key, for a tenant with a cap, asks the
//! object; the tenant's own key never does. If the object cannot be reached the resolve fails
//! closed (503): a hard cap that a fault could lift would not be one.

use byok_core::api::{CapReachedView, Problem, ProblemKind};
use byok_core::ids::{ProviderKey, TenantId};
use byok_core::quota::{self, CapReached, Caps, Count, Taken};
use byok_core::resolve::Source;
use serde::{Deserialize, Serialize};
use worker::{
    durable_object, DurableObject, Env, Method, Request, RequestInit, Response, Result, State,
};

use crate::http::{problem, ApiError};
use crate::util::{now_millis, rfc3339};
use crate::App;

/// The binding's name in wrangler.toml.
pub const BINDING: &str = "QUOTA";

/// The overall count's scope name (providers' keys never contain `*`).
const OVERALL: &str = "*";

#[derive(Serialize, Deserialize)]
struct TakeRequest {
    provider: String,
    caps: Caps,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "answer")]
enum TakeAnswer {
    Allowed { taken: Taken },
    Refused { reached: CapReached },
}

/// Today's counts for one provider and overall.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Today {
    pub provider: u32,
    pub overall: u32,
}

#[derive(Deserialize)]
struct Row {
    day: f64,
    n: f64,
}

#[durable_object(fetch)]
pub struct PlatformQuota {
    state: State,
}

impl PlatformQuota {
    fn sql(&self) -> worker::SqlStorage {
        self.state.storage().sql()
    }

    fn count(&self, scope: &str) -> Result<Count> {
        let rows: Vec<Row> = self
            .sql()
            .exec(
                "SELECT day, n FROM counts WHERE scope = ?",
                vec![scope.into()],
            )?
            .to_array()?;
        Ok(rows.first().map_or(Count::default(), |r| Count {
            day: r.day.max(0.0) as u64,
            n: r.n.clamp(0.0, f64::from(u32::MAX)) as u32,
        }))
    }

    fn store(&self, scope: &str, c: Count) -> Result<()> {
        self.sql().exec(
            "INSERT INTO counts (scope, day, n) VALUES (?, ?, ?)
             ON CONFLICT (scope) DO UPDATE SET day = excluded.day, n = excluded.n",
            vec![
                scope.into(),
                i64::try_from(c.day).unwrap_or(i64::MAX).into(),
                i64::from(c.n).into(),
            ],
        )?;
        Ok(())
    }
}

impl DurableObject for PlatformQuota {
    fn new(state: State, _env: Env) -> Self {
        Self { state }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        // One row per provider the tenant resolved under a cap, plus the overall one: the
        // storage stays bounded, whatever the number of days.
        self.sql().exec(
            "CREATE TABLE IF NOT EXISTS counts (scope TEXT PRIMARY KEY, day INTEGER NOT NULL, n INTEGER NOT NULL)",
            None,
        )?;
        let today = quota::day_of(now_millis());
        match req.path().as_str() {
            "/take" => {
                let ask: TakeRequest = req.json().await?;
                let scope = format!("p:{}", ask.provider);
                // From here to the writes nothing awaits: no other request runs in between.
                let answer =
                    match quota::take(self.count(&scope)?, self.count(OVERALL)?, today, ask.caps) {
                        Ok(taken) => {
                            self.store(&scope, taken.provider)?;
                            self.store(OVERALL, taken.overall)?;
                            TakeAnswer::Allowed { taken }
                        }
                        Err(reached) => TakeAnswer::Refused { reached },
                    };
                Response::from_json(&answer)
            }
            "/today" => {
                let provider = req
                    .url()?
                    .query_pairs()
                    .find(|(k, _)| k == "provider")
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default();
                Response::from_json(&Today {
                    provider: self.count(&format!("p:{provider}"))?.on(today),
                    overall: self.count(OVERALL)?.on(today),
                })
            }
            _ => Response::error("not found", 404),
        }
    }
}

fn unreachable_cap(why: impl std::fmt::Display) -> ApiError {
    worker::console_error!("platform cap counter unavailable: {why}");
    problem(
        ProblemKind::Misconfigured,
        "The platform key's daily cap could not be checked, so the platform key was not handed out. Try again shortly.",
    )
}

fn stub(app: &App, tenant: &TenantId) -> std::result::Result<worker::Stub, ApiError> {
    app.env
        .durable_object(BINDING)
        .and_then(|ns| ns.id_from_name(tenant.as_str())?.get_stub())
        .map_err(unreachable_cap)
}

/// Counts one platform-key resolve for `tenant` against `caps`, or refuses it with a 429
/// problem that says the source would be the platform key, the cap, and when it resets.
pub async fn take(
    app: &App,
    tenant: &TenantId,
    provider: &ProviderKey,
    name: &str,
    caps: Caps,
) -> std::result::Result<(), ApiError> {
    let body = serde_json::to_string(&TakeRequest {
        provider: provider.as_str().to_owned(),
        caps,
    })
    .map_err(unreachable_cap)?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(body.into()));
    let req = Request::new_with_init("https://quota/take", &init).map_err(unreachable_cap)?;
    let mut resp = stub(app, tenant)?
        .fetch_with_request(req)
        .await
        .map_err(unreachable_cap)?;
    match resp.json::<TakeAnswer>().await.map_err(unreachable_cap)? {
        TakeAnswer::Allowed { .. } => Ok(()),
        TakeAnswer::Refused { reached } => Err(cap_reached(provider, name, reached)),
    }
}

fn cap_reached(provider: &ProviderKey, name: &str, r: CapReached) -> ApiError {
    let resets_at = rfc3339(r.resets_at_ms);
    let which = match r.scope {
        quota::CapScope::Provider => format!("{} platform-key resolves for '{provider}'", r.cap),
        quota::CapScope::Overall => {
            format!("{} platform-key resolves (all providers together)", r.cap)
        }
    };
    let mut p = Problem::new(
        ProblemKind::PlatformCapReached,
        format!(
            "This workspace has no {name} key of its own, so the answer would be the platform's key, and it has used its {which} for today. The cap resets at {resets_at}. A key of its own is never capped: add one in Settings → Integrations."
        ),
    );
    p.retry_after_s = Some(
        u32::try_from(r.resets_at_ms.saturating_sub(now_millis()).div_ceil(1000))
            .unwrap_or(u32::MAX)
            .max(1),
    );
    p.extra.cap = Some(CapReachedView {
        source: Source::Platform,
        scope: r.scope,
        cap: r.cap,
        resets_at,
    });
    ApiError(p)
}

/// Today's counts for a tenant (admin views).
pub async fn today(
    app: &App,
    tenant: &TenantId,
    provider: Option<&ProviderKey>,
) -> std::result::Result<Today, ApiError> {
    let url = format!(
        "https://quota/today?provider={}",
        provider.map(ProviderKey::as_str).unwrap_or("")
    );
    let mut resp = stub(app, tenant)?
        .fetch_with_str(&url)
        .await
        .map_err(unreachable_cap)?;
    resp.json::<Today>().await.map_err(unreachable_cap)
}
