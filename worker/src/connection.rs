//! Running a connection test for a stored credential.
//!
//! Plugins do not run inside the Worker yet (plugin upload and the in-Worker Pulley engine
//! arrive with the plugin-at-the-edge work of issue #4): until then every test reports
//! `no-test` and the key stays `unverified`, which is what the status machine does for an
//! entry without a plugin.

use byok_core::api::{HostVerdict, ReportedVerdict, TestReport};
use byok_core::catalog::CatalogEntry;

use crate::credentials::Opened;
use crate::util::{now_millis, rfc3339};
use crate::App;

pub async fn run(_app: &App, entry: &CatalogEntry, _credential: &Opened) -> TestReport {
    let message = if entry.spec().test_plugin.is_some() {
        "The key was saved. Connection tests do not run in this deployment yet, so it could not be verified."
    } else {
        "The key was saved. This provider has no connection test, so it could not be verified."
    };
    TestReport {
        verdict: ReportedVerdict::Host(HostVerdict::NoTest),
        message: message.to_owned(),
        account_label: None,
        warnings: Vec::new(),
        tested_at: rfc3339(now_millis()),
    }
}
