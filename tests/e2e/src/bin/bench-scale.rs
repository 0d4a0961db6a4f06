//! `bench-scale`: the Worker under workerd over a local D1 filled with `BENCH_TENANTS` (default
//! 100,000) tenants' rows, against the same measures over 1,000 tenants **in the same run**
//! (issue #24). Each edge is seeded, stopped, filled directly by `script/bench-scale-fill.py`
//! (generated rows, no API calls: 3 integrations per tenant, a year of audit rows and status
//! events, 60 days of usage), started again, and measured through `PROBES` probe tenants of
//! its own, created through the API after the fill:
//!
//! - a save and a test (install with a key the fake provider accepts), each probe once;
//! - `GET /v1/integrations`, each probe;
//! - resolve on a cache miss (each probe's first resolve);
//! - the admin aggregates: fleet counts and failing keys, the audit search by tenant and by
//!   provider;
//! - the cron run with the probes' keys due (its selection and queueing), and the queue's
//!   re-check of them (until each is counted).
//!
//! Prints medians and the ratio 100k / 1k. Run with `script/bench-scale` (not in CI).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use byok_e2e::{root, Edge};
use byok_fake_providers::FakeProviders;
use serde_json::json;

const PROBES: usize = 100;
const KEY: &str = "sk-ant-FAKE-valid-bench-scale-0000000000000000000000";

fn d1_file(state: &Path) -> PathBuf {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "sqlite")
                && p.file_name().is_some_and(|n| n != "metadata.sqlite")
            {
                out.push(p);
            }
        }
    }
    let mut found = Vec::new();
    walk(&state.join("v3/d1"), &mut found);
    assert_eq!(
        found.len(),
        1,
        "one local D1 file under {}: {found:?}",
        state.display()
    );
    found.remove(0)
}

fn median(mut ms: Vec<f64>) -> f64 {
    ms.sort_by(f64::total_cmp);
    ms.get(ms.len() / 2).copied().unwrap_or(f64::NAN)
}

/// One database size's figures, in ms (medians, or walls where said).
#[derive(Default)]
struct Figures {
    save_and_test: f64,
    list: f64,
    resolve_miss: f64,
    fleet: f64,
    audit_by_tenant: f64,
    audit_by_provider: f64,
    cron_run: f64,
    recheck_per_key: f64,
    /// Audit rows the cron's re-checks of the probes wrote (before issue #24: one per key).
    recheck_audit_rows: u64,
    fill: String,
}

fn measure(rt: &tokio::runtime::Runtime, fakes: &FakeProviders, tenants: usize) -> Figures {
    let mut edge = Edge::start();
    rt.block_on(edge.seed_against_fakes(fakes));
    let mut fill = String::new();
    edge.restart_after(|state| {
        let out = Command::new("python3")
            .arg(root().join("script/bench-scale-fill.py"))
            .arg(d1_file(state))
            .arg(tenants.to_string())
            .output()
            .expect("python3 script/bench-scale-fill.py");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        fill = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    });
    println!("{fill}");
    let http = reqwest::Client::new();
    let b = edge.base.clone();
    let admin = edge.token("platform-admin", "platform");
    let service = edge.token("service", "platform");
    let owners: Vec<String> = (0..PROBES)
        .map(|i| edge.token("owner", &format!("probe-{i:03}")))
        .collect();
    let timed = |req: reqwest::RequestBuilder, want: u16| {
        rt.block_on(async {
            let started = Instant::now();
            let r = req.send().await.expect("request");
            let status = r.status().as_u16();
            let body = r.text().await.unwrap_or_default();
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            assert_eq!(status, want, "{body}");
            ms
        })
    };
    let mut f = Figures {
        fill,
        ..Figures::default()
    };
    f.save_and_test = median(
        owners
            .iter()
            .map(|t| {
                timed(
                    http.post(format!("{b}/v1/integrations"))
                        .bearer_auth(t)
                        .json(&json!({"provider": "anthropic", "key": KEY})),
                    201,
                )
            })
            .collect(),
    );
    f.list = median(
        owners
            .iter()
            .map(|t| timed(http.get(format!("{b}/v1/integrations")).bearer_auth(t), 200))
            .collect(),
    );
    f.resolve_miss = median(
        (0..PROBES)
            .map(|i| {
                timed(
                    http.post(format!("{b}/v1/resolve"))
                        .bearer_auth(&service)
                        .json(&json!({"tenant": format!("probe-{i:03}"), "provider": "anthropic"})),
                    200,
                )
            })
            .collect(),
    );
    let twenty = |path: &str| {
        median(
            (0..20)
                .map(|_| timed(http.get(format!("{b}{path}")).bearer_auth(&admin), 200))
                .collect(),
        )
    };
    f.fleet = twenty("/v1/admin/fleet");
    f.audit_by_tenant = twenty("/v1/admin/audit?tenant=probe-007");
    f.audit_by_provider = twenty("/v1/admin/audit?provider=anthropic");

    // The probes' keys are due (25 hours pass for their stored clock); one cron run.
    edge.sql("UPDATE integrations SET last_checked_at = last_checked_at - 90000000, next_check_at = next_check_at - 90000000 WHERE tenant LIKE 'probe-%'");
    let counted = "SELECT COALESCE(SUM(checks), 0) AS n FROM recheck_daily WHERE provider = 'anthropic' AND outcome = 'connected' AND day = date('now')";
    let before = edge.count(counted);
    let started = Instant::now();
    f.cron_run = timed(http.get(format!("{b}/__scheduled")), 200);
    let deadline = started + Duration::from_secs(600);
    while edge.count(counted) < before + PROBES as u64 {
        assert!(
            Instant::now() < deadline,
            "the probes were re-checked: {}",
            edge.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    // The consumer's share: from the end of the cron run until the last probe is counted.
    f.recheck_per_key =
        (started.elapsed().as_secs_f64() * 1000.0 - f.cron_run).max(0.0) / PROBES as f64;
    f.recheck_audit_rows = edge.count(
        "SELECT count(*) AS n FROM audit_log WHERE actor = 'scheduler' AND tenant LIKE 'probe-%'",
    );
    f
}

fn main() {
    let tenants: usize = std::env::var("BENCH_TENANTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let rt = byok_e2e::runtime();
    let fakes = rt.block_on(FakeProviders::start(0)).expect("fakes");
    let small = measure(&rt, &fakes, 1_000);
    let large = measure(&rt, &fakes, tenants);
    let row = |name: &str, a: f64, b: f64| {
        println!("| {name} | {a:.1} | {b:.1} | {:.2}x |", b / a);
    };
    println!("\n| measure (ms; medians of {PROBES} probes, 20 for the console) | 1,000 tenants | {tenants} tenants | ratio |");
    println!("|---|---:|---:|---:|");
    row(
        "save and test a key (install)",
        small.save_and_test,
        large.save_and_test,
    );
    row("GET /v1/integrations", small.list, large.list);
    row(
        "resolve, cache miss",
        small.resolve_miss,
        large.resolve_miss,
    );
    row(
        "console: fleet counts and failing keys",
        small.fleet,
        large.fleet,
    );
    row(
        "console: audit search by tenant",
        small.audit_by_tenant,
        large.audit_by_tenant,
    );
    row(
        "console: audit search by provider",
        small.audit_by_provider,
        large.audit_by_provider,
    );
    row(
        &format!("cron run with {PROBES} keys due (selection and queueing; wall)"),
        small.cron_run,
        large.cron_run,
    );
    row(
        "queue re-check, per key (wall from the end of the cron run until each is counted)",
        small.recheck_per_key,
        large.recheck_per_key,
    );
    println!(
        "| audit rows written by the re-checks of {PROBES} unchanged keys | {} | {} | |",
        small.recheck_audit_rows, large.recheck_audit_rows
    );
    println!("\nfill: {}\nfill: {}", small.fill, large.fill);
}
