//! Platform-admin routes for retiring a master key: `GET /v1/admin/keyring` (the key ids in
//! use) and `POST /v1/admin/keyring/reseal` (one bounded pass of re-sealing under the primary
//! key). The decisions are `byok_core::rotation`'s; this module reads and writes D1.

use byok_core::api::{AuditEntry, ProblemKind};
use byok_core::ids::{ProviderKey, TenantId};
use byok_core::keyring::{Owner, Sealed};
use byok_core::rotation::{
    self, KeyUse, KeyringReport, ResealReport, ResealRequest, RowRef, Unreadable,
};
use worker::Request;

use crate::auth::{Principal, Role};
use crate::credentials;
use crate::http::{json, problem, read_body, ApiError, ApiResult};
use crate::store;
use crate::util::{now_millis, rfc3339};
use crate::App;

/// The key id a stored frame names; a frame that does not parse shows as "?" so that it is
/// still counted.
fn key_id_of(frame: &[u8]) -> String {
    Sealed::from_bytes(frame.to_vec())
        .map(|s| s.key_id().to_owned())
        .unwrap_or_else(|_| "?".to_owned())
}

/// What storage holds, per key id.
async fn key_uses(app: &App) -> Result<Vec<KeyUse>, ApiError> {
    // Every database's counts (the report adds the uses of a key id up).
    let mut uses: Vec<KeyUse> = Vec::new();
    for db in app.shards() {
        uses.extend(
            store::integration_key_ids(db)
                .await?
                .into_iter()
                .map(|c| KeyUse {
                    key_id: c.key_id,
                    integrations: c.n.max(0) as u64,
                    platform_keys: 0,
                }),
        );
    }
    for row in store::platform_secrets(app.home()).await? {
        uses.push(KeyUse {
            key_id: key_id_of(&row.platform_secret),
            integrations: 0,
            platform_keys: 1,
        });
    }
    Ok(uses)
}

async fn report(app: &App) -> Result<KeyringReport, ApiError> {
    Ok(rotation::report(&app.keyring, &key_uses(app).await?))
}

/// `GET /v1/admin/keyring`.
pub async fn get(app: &App, who: &Principal) -> ApiResult {
    who.require(&[Role::PlatformAdmin])?;
    Ok(json(200, &report(app).await?)?)
}

/// `POST /v1/admin/keyring/reseal`.
pub async fn reseal(req: &mut Request, app: &App, who: &Principal) -> ApiResult {
    who.require(&[Role::PlatformAdmin])?;
    let body = read_body(req, 4 * 1024).await?;
    // No body, or `null`: a first pass of the default size.
    let text = body.trim_ascii();
    let request: ResealRequest = if text.is_empty() || text == b"null" {
        ResealRequest::default()
    } else {
        byok_core::json_error::parse_object(text).map_err(|d| {
            problem(
                ProblemKind::MalformedBody,
                format!("{d} It is {{\"batch\": 1..500, \"after\": {{\"tenant\", \"provider\"}}}}, both optional."),
            )
        })?
    };
    let batch = request
        .batch()
        .map_err(|e| problem(ProblemKind::ValidationFailed, e.to_string()))?;
    let primary = app.keyring.primary().as_str().to_owned();
    let mut unreadable = Vec::new();

    // The platform's keys: a handful, all done by the first pass.
    let mut platform_keys_resealed = 0;
    let mut changed_meanwhile = 0;
    if request.after.is_none() {
        for row in store::platform_secrets(app.home()).await? {
            let Ok(provider) = ProviderKey::parse(&row.key) else {
                continue;
            };
            let kid = key_id_of(&row.platform_secret);
            if kid == primary {
                continue;
            }
            match credentials::reseal(
                &app.keyring,
                Owner::Platform,
                &provider,
                &row.platform_secret,
                row.platform_fields.as_deref(),
            ) {
                Ok(new) => {
                    if store::reseal_platform_key(
                        app.home(),
                        &row.key,
                        &row.platform_secret,
                        &new.secret,
                        new.fields.as_deref(),
                    )
                    .await?
                    {
                        platform_keys_resealed += 1;
                    } else {
                        changed_meanwhile += 1;
                    }
                }
                Err(credentials::NotResealed) => unreadable.push(Unreadable {
                    tenant: None,
                    provider: row.key,
                    key_id: kid,
                }),
            }
        }
    }

    // Tenant rows: one pass of at most `batch`, written in one D1 batch with compare-and-swap.
    let after = request
        .after
        .as_ref()
        .map(|r| (r.tenant.as_str(), r.provider.as_str()));
    // The cursor is a position by value, the same in every database: each database's next
    // rows after it, then the first `batch` of those in the same order.
    let mut rows = Vec::new();
    for db in app.shards() {
        rows.extend(store::rows_to_reseal(db, &primary, after, batch).await?);
    }
    rows.sort_by(|a, b| (&a.tenant, &a.provider).cmp(&(&b.tenant, &b.provider)));
    rows.truncate(usize::try_from(batch).unwrap_or(usize::MAX));
    let mut statements: Vec<Vec<worker::D1PreparedStatement>> =
        app.shards().iter().map(|_| Vec::new()).collect();
    let mut read = Vec::with_capacity(rows.len());
    for row in &rows {
        let (Ok(tenant), Ok(provider)) = (
            TenantId::parse(&row.tenant),
            ProviderKey::parse(&row.provider),
        ) else {
            continue;
        };
        read.push(RowRef {
            tenant: tenant.clone(),
            provider: provider.clone(),
        });
        let owner = Owner::Tenant(&tenant);
        let serving = credentials::reseal(
            &app.keyring,
            owner,
            &provider,
            &row.secret,
            row.fields.as_deref(),
        );
        // A pending key waiting for its test or the user's choice is sealed the same way.
        let pending = match &row.pending_secret {
            None => Ok(None),
            Some(p) => credentials::reseal(
                &app.keyring,
                owner,
                &provider,
                p,
                row.pending_fields.as_deref(),
            )
            .map(Some),
        };
        match (serving, pending) {
            (Ok(new), Ok(pending)) => {
                statements[app.shard_of(&row.tenant)].push(store::reseal_statement(
                    app.db_for(&row.tenant),
                    row,
                    &store::Resealed {
                        secret: &new.secret,
                        fields: new.fields.as_deref(),
                        key_id: &new.key_id,
                        pending: pending
                            .as_ref()
                            .map(|p| (p.secret.as_slice(), p.fields.as_deref(), p.key_id.as_str())),
                    },
                )?)
            }
            _ => unreadable.push(Unreadable {
                tenant: Some(row.tenant.clone()),
                provider: row.provider.clone(),
                key_id: row.key_id.clone(),
            }),
        }
    }
    // One batch per database, each with compare-and-swap on every row. A database whose
    // batch fails keeps its rows as they were (a D1 batch is one transaction), while those
    // before it are written: the answer says so, since "nothing was changed" would be false.
    let mut written = Vec::new();
    for ((db, name), statements) in app.shards().iter().zip(app.shard_names()).zip(statements) {
        match store::run_batch(db, statements).await {
            Ok(w) => written.extend(w),
            Err(e) => {
                worker::console_error!("reseal: the batch for {name} failed: {e}");
                return Err(problem(
                    ProblemKind::Internal,
                    format!(
                        "The reseal could not write database {name}; its rows are as they were. \
                         {} rows in the databases before it and {platform_keys_resealed} platform \
                         keys were resealed. Nothing is lost: every value opens with a key in \
                         the keyring. Run the reseal again (GET /v1/admin/keyring counts what \
                         remains).",
                        written.iter().filter(|w| **w).count()
                    ),
                ));
            }
        }
    }
    let resealed = written.iter().filter(|w| **w).count() as u64;
    changed_meanwhile += written.iter().filter(|w| !**w).count() as u64;

    let after_pass = report(app).await?;
    let answer = ResealReport {
        primary,
        resealed,
        platform_keys_resealed,
        changed_meanwhile,
        unreadable,
        remaining: rotation::remaining(&after_pass.keys),
        next: rotation::next_after(batch, &read),
    };
    store::audit(
        app.home(),
        &AuditEntry {
            at: rfc3339(now_millis()),
            actor: who.sub.clone(),
            tenant: None,
            provider: None,
            action: "keyring-reseal".into(),
            outcome: format!(
                "resealed {} rows and {} platform keys under '{}'; {} unreadable; {} remaining",
                answer.resealed,
                answer.platform_keys_resealed,
                answer.primary,
                answer.unreadable.len(),
                after_pass.remaining
            ),
        },
    )
    .await?;
    Ok(json(200, &answer)?)
}
