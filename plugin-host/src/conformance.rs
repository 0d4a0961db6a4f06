//! Runs the conformance suite (`byok_core::conformance`): every case through a plugin, each
//! request answered from the case's script instead of the network, so the suite runs the same
//! in the CLI, in CI and inside the Worker when an admin uploads, with no provider reachable.

use std::cell::Cell;

use byok_core::catalog::CatalogEntry;
use byok_core::conformance::{self, Case, CaseResult, Fixtures, Observed, Scripted, SuiteReport};

use crate::engine::PluginEngine;
use crate::load::LoadedPlugin;
use crate::run::{Egress, EgressError, HttpRequest, HttpResponse, RunError, RunInput, RunReport};

/// An [`Egress`] that answers a case's script: the n-th request gets the case's n-th answer,
/// and a scripted timeout moves the clock past the request's deadline.
pub struct ScriptedEgress<'a> {
    case: &'a Case,
    sent: Cell<usize>,
    clock: Cell<u64>,
}

impl<'a> ScriptedEgress<'a> {
    pub fn new(case: &'a Case) -> Self {
        Self {
            case,
            sent: Cell::new(0),
            clock: Cell::new(0),
        }
    }
}

impl Egress for ScriptedEgress<'_> {
    async fn send(
        &self,
        _request: HttpRequest,
        timeout_ms: u64,
        max_response_bytes: usize,
    ) -> Result<HttpResponse, EgressError> {
        let n = self.sent.get();
        self.sent.set(n + 1);
        self.clock.set(self.clock.get() + 1);
        match self.case.answer(n) {
            Scripted::Timeout => {
                self.clock.set(self.clock.get() + timeout_ms);
                Err(EgressError::Timeout)
            }
            Scripted::Answer(a) => {
                let body = a.body_bytes();
                if body.len() > max_response_bytes {
                    return Err(EgressError::ResponseTooLarge);
                }
                Ok(HttpResponse {
                    status: a.status,
                    headers: a.headers(),
                    body,
                })
            }
        }
    }

    fn now_millis(&self) -> u64 {
        self.clock.get()
    }
}

/// One case as run: what the judge said, and the run itself (its requests, for a table);
/// no run when an earlier case spent the plugin's whole budget.
#[derive(Debug)]
pub struct CaseRun {
    pub result: CaseResult,
    pub run: Option<RunReport>,
}

/// Runs every case of `entry`'s suite (its fixtures, then the host's cases) through `plugin`
/// with the entry's config and egress rules. A case that spends all the plugin's fuel or
/// memory fails, and the cases after it are not run: inside the Worker each such case costs
/// seconds of CPU, and one is enough to refuse the plugin.
pub async fn run_suite(
    engine: &PluginEngine,
    plugin: &LoadedPlugin,
    entry: &CatalogEntry,
    fixtures: &Fixtures,
    now_unix_seconds: u64,
) -> Vec<CaseRun> {
    let (secret, fields) = conformance::run_credential(entry, fixtures);
    let config = entry
        .spec()
        .test_plugin
        .as_ref()
        .map_or_else(|| "{}".to_owned(), |t| t.config.to_string());
    let input = RunInput {
        secret: &secret,
        fields: &fields,
        config_json: &config,
        now_unix_seconds,
        egress: &entry.spec().egress,
    };
    let mut out = Vec::new();
    let mut exhausted: Option<String> = None;
    for case in conformance::suite(fixtures) {
        if let Some(by) = &exhausted {
            out.push(CaseRun {
                result: CaseResult::not_run(&case, by),
                run: None,
            });
            continue;
        }
        let egress = ScriptedEgress::new(&case);
        let run = engine.run(plugin, &input, &egress).await;
        let fault;
        let observed = match &run.result {
            Ok(o) => Observed::Outcome {
                verdict: o.verdict,
                message: &o.message,
                label: o.account_label.as_deref(),
                echoed_secret: o.echoed_secret,
            },
            Err(e) => {
                fault = e.to_string();
                Observed::Fault(&fault)
            }
        };
        let result = CaseResult::new(&case, &observed);
        if matches!(
            run.result,
            Err(RunError::OutOfFuel { .. } | RunError::MemoryLimit { .. })
        ) {
            exhausted = Some(case.name.clone());
        }
        out.push(CaseRun {
            result,
            run: Some(run),
        });
    }
    out
}

/// [`run_suite`]'s results alone.
pub async fn check(
    engine: &PluginEngine,
    plugin: &LoadedPlugin,
    entry: &CatalogEntry,
    fixtures: &Fixtures,
    now_unix_seconds: u64,
) -> SuiteReport {
    SuiteReport {
        cases: run_suite(engine, plugin, entry, fixtures, now_unix_seconds)
            .await
            .into_iter()
            .map(|c| c.result)
            .collect(),
    }
}
