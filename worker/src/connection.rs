//! Running a connection test for a stored credential: the entry's plugin, inside the Worker,
//! on Pulley, with `fetch` limited to the entry's allowlist.
//!
//! Plugins are loaded once per isolate: from the integrity-checked artifact in KV
//! (`artifact:<digest>:<engine>`), or, on a cold isolate of another engine version, compiled
//! again from the component bytes (`plugin:<digest>`) and the artifact stored anew.

use std::cell::RefCell;
use std::collections::HashMap;

use byok_core::api::{HostVerdict, ReportedVerdict, TestReport};
use byok_core::catalog::CatalogEntry;
use byok_core::ExposeSecret;
use byok_plugin_host::artifact::ArtifactKey;
use byok_plugin_host::{Backend, Limits, LoadedPlugin, PluginEngine, RunInput};

use crate::credentials::Opened;
use crate::egress::FetchEgress;
use crate::util::Counted;
use crate::util::{now_millis, rfc3339};
use crate::App;

thread_local! {
    static ENGINE: RefCell<Option<PluginEngine>> = const { RefCell::new(None) };
    static LOADED: RefCell<HashMap<String, LoadedPlugin>> = RefCell::new(HashMap::new());
}

pub fn engine() -> Result<PluginEngine, String> {
    if let Some(e) = ENGINE.with(|e| e.borrow().clone()) {
        return Ok(e);
    }
    let e = PluginEngine::new(Backend::Pulley, Limits::default()).map_err(|e| e.to_string())?;
    ENGINE.with(|slot| *slot.borrow_mut() = Some(e.clone()));
    Ok(e)
}

/// The MAC key of plugin artifacts, derived from the keyring's *primary* key: a rotation
/// retires it with the master key, so an artifact stored under the old key is compiled again
/// from its component rather than trusted.
pub fn artifact_key(app: &App) -> ArtifactKey {
    ArtifactKey::new(*app.keyring.derive_rotating_key("plugin-artifacts").1)
}

/// Where an artifact lives in KV: named by the component's digest, the engine, and the key id
/// its MAC key was derived from (so a rotated isolate never even reads an old artifact).
pub fn artifact_kv_key(app: &App, engine: &PluginEngine, digest: &str) -> String {
    format!(
        "artifact:{digest}:{}:{}",
        &engine.fingerprint_hex()[..16],
        app.keyring.primary()
    )
}

/// The plugin for `digest`, from this isolate's cache, its artifact, or its bytes.
async fn plugin(app: &App, digest: &str) -> Result<LoadedPlugin, String> {
    if let Some(p) = LOADED.with(|l| l.borrow().get(digest).cloned()) {
        return Ok(p);
    }
    let engine = engine()?;
    let key = artifact_key(app);
    let mut expected = [0u8; 32];
    for (i, byte) in expected.iter_mut().enumerate() {
        *byte = u8::from_str_radix(digest.get(2 * i..2 * i + 2).ok_or("bad digest")?, 16)
            .map_err(|_| "bad digest")?;
    }
    let artifact_name = artifact_kv_key(app, &engine, digest);
    let from_artifact = match app.kv.get(&artifact_name).bytes().await.counted() {
        Ok(Some(bytes)) => match engine.load_artifact(&key, &expected, &bytes) {
            Ok(p) => Some(p),
            Err(why) => {
                // Recompiled below. Logged (never the bytes): an artifact that fails its MAC
                // was altered in storage, or made under a key this isolate does not hold.
                worker::console_error!("plugin {digest}: stored artifact refused: {why}");
                None
            }
        },
        _ => None,
    };
    let loaded = match from_artifact {
        Some(p) => p,
        None => {
            let bytes = app
                .kv
                .get(&format!("plugin:{digest}"))
                .bytes()
                .await
                .counted()
                .map_err(|e| e.to_string())?
                .ok_or("the entry's test plugin has not been uploaded")?;
            let (p, artifact) = engine
                .precompile_expecting(&key, &expected, &bytes)
                .map_err(|e| e.to_string())?;
            if let Ok(put) = app.kv.put_bytes(&artifact_name, &artifact) {
                let _ = put.execute().await.counted();
            }
            p
        }
    };
    LOADED.with(|l| l.borrow_mut().insert(digest.to_owned(), loaded.clone()));
    Ok(loaded)
}

/// Runs the conformance suite of `entry` (its plugin, config and egress) with `fixtures`, on
/// the Worker's own engine: every request is answered from the case, none leaves the isolate.
pub async fn conformance(
    app: &App,
    entry: &CatalogEntry,
    fixtures: &byok_core::conformance::Fixtures,
) -> Result<byok_core::conformance::SuiteReport, String> {
    let test = entry
        .spec()
        .test_plugin
        .as_ref()
        .ok_or("the entry has no test plugin")?;
    let plugin = plugin(app, &test.digest).await?;
    let engine = engine()?;
    Ok(crate::util::timed(
        "conformance",
        byok_plugin_host::conformance::check(
            &engine,
            &plugin,
            entry,
            fixtures,
            now_millis() / 1000,
        ),
    )
    .await)
}

fn report(
    verdict: ReportedVerdict,
    message: String,
    account_label: Option<String>,
    warnings: Vec<String>,
) -> TestReport {
    TestReport {
        verdict,
        message,
        account_label,
        warnings,
        failure: None,
        hint: None,
        missing_scopes: Vec::new(),
        expires_at: None,
        tested_at: rfc3339(now_millis()),
    }
}

/// Tests `credential`. `new_key` also runs the plugin's offline format check (a re-test of a
/// stored key skips it: its warnings were shown when it was saved).
pub async fn run(
    app: &App,
    entry: &CatalogEntry,
    credential: &Opened,
    new_key: bool,
) -> TestReport {
    run_with(app, entry, credential, new_key, &FetchEgress).await
}

/// [`run`] through `egress` (an admin's "Try it" records the exchange).
pub async fn run_with(
    app: &App,
    entry: &CatalogEntry,
    credential: &Opened,
    new_key: bool,
    egress: &impl byok_plugin_host::Egress,
) -> TestReport {
    let Some(test) = &entry.spec().test_plugin else {
        return report(
            ReportedVerdict::Host(HostVerdict::NoTest),
            "The key was saved. This provider has no connection test, so it could not be verified."
                .into(),
            None,
            Vec::new(),
        );
    };
    let plugin = match crate::util::timed("plugin-load", plugin(app, &test.digest)).await {
        Ok(p) => p,
        Err(why) => {
            worker::console_error!("plugin {} unavailable: {why}", test.digest);
            return report(
                ReportedVerdict::Host(HostVerdict::PluginFault),
                format!("The key was saved, but the connection test could not start: {why}."),
                None,
                Vec::new(),
            );
        }
    };
    let engine = match engine() {
        Ok(e) => e,
        Err(why) => {
            return report(
                ReportedVerdict::Host(HostVerdict::PluginFault),
                why,
                None,
                Vec::new(),
            )
        }
    };
    let config = test.config.to_string();
    let input = RunInput {
        secret: credential.secret.expose_secret(),
        fields: &credential.fields,
        config_json: &config,
        now_unix_seconds: now_millis() / 1000,
        egress: &entry.spec().egress,
    };
    let warnings = if new_key {
        crate::util::timed_sync("format-check", || {
            engine.format_check(&plugin, &input).unwrap_or_default()
        })
    } else {
        Vec::new()
    };
    let run = crate::util::timed("run", engine.run(&plugin, &input, egress)).await;
    match run.result {
        Ok(o) => {
            let mut all = warnings;
            all.extend(o.warnings);
            let mut r = report(
                ReportedVerdict::Plugin(o.verdict),
                o.message,
                o.account_label,
                all,
            );
            // What a v2 plugin said beyond the verdict (a v1 plugin's details are empty).
            r.hint = o.details.hint.map(|h| match h {
                byok_plugin_host::Hint::Billing => byok_core::failure::Hint::Billing,
                byok_plugin_host::Hint::WrongMode => byok_core::failure::Hint::WrongMode,
                byok_plugin_host::Hint::Expired => byok_core::failure::Hint::Expired,
            });
            r.missing_scopes = o.details.missing_scopes;
            r.expires_at = o
                .details
                .expires_at
                .map(|s| rfc3339(s.saturating_mul(1000)));
            r
        }
        Err(e @ byok_plugin_host::RunError::EgressDenied { .. }) => report(
            ReportedVerdict::Host(HostVerdict::EgressRefused),
            format!("The connection test was stopped: {e}."),
            None,
            warnings,
        ),
        Err(e) => report(
            ReportedVerdict::Host(HostVerdict::PluginFault),
            format!("The connection test failed on our side ({e}); the key was kept."),
            None,
            warnings,
        ),
    }
}
