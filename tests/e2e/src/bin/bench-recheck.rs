//! The scheduled re-check at scale, under workerd with the provider faked on loopback:
//! `BENCH_KEYS` (default 1,000) tenants each store a key, 25 hours pass for the stored clock,
//! and one cron run (`GET /__scheduled`) must re-test every key exactly once. Reports the
//! run's wall time against the same keys' installs (each tested at once) in the same run, how
//! many queue invocations it took, the most jobs and subrequests one invocation made, and how
//! many keys were re-tested more than once (after a second run right behind the first).
//! Run with `script/bench-recheck`.

use std::time::{Duration, Instant};

use byok_e2e::Edge;
use byok_fake_providers::FakeProviders;
use serde_json::json;

const KEY: &str = "sk-ant-FAKE-valid-bench-recheck-000000000000000000000";

fn main() {
    let keys: usize = std::env::var("BENCH_KEYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    let rt = byok_e2e::runtime();
    let fakes = rt.block_on(FakeProviders::start(0)).expect("fakes");
    let edge = Edge::start();
    rt.block_on(edge.seed_against_fakes(&fakes));
    let http = reqwest::Client::new();

    // Baseline: the same keys installed with a key (each saved and tested at once), 8 at a time.
    let installs = Instant::now();
    rt.block_on(async {
        let tokens: Vec<String> = (0..keys)
            .map(|i| edge.token("owner", &format!("bench-{i}")))
            .collect();
        for chunk in tokens.chunks(8) {
            let mut set = tokio::task::JoinSet::new();
            for t in chunk {
                let call = http
                    .post(format!("{}/v1/integrations", edge.base))
                    .bearer_auth(t)
                    .json(&json!({"provider": "anthropic", "key": KEY}))
                    .send();
                set.spawn(call);
            }
            while let Some(r) = set.join_next().await {
                let r = r.expect("task").expect("install");
                assert_eq!(r.status(), 201, "install");
            }
        }
    });
    let install_wall = installs.elapsed();

    edge.sql("UPDATE integrations SET last_checked_at = last_checked_at - 90000000, next_check_at = next_check_at - 90000000");
    let log_before = edge.log().len();
    let scheduled = |rt: &tokio::runtime::Runtime| {
        rt.block_on(async {
            let r = http
                .get(format!("{}/__scheduled", edge.base))
                .send()
                .await
                .expect("cron");
            assert_eq!(r.status(), 200);
        })
    };
    // Re-tests done: the unchanged ones are counted per day (no audit row, issue #24), the
    // others are audit rows by the scheduler.
    let by_scheduler = "SELECT (SELECT COALESCE(SUM(checks), 0) FROM recheck_daily)
        + (SELECT count(*) FROM audit_log WHERE actor = 'scheduler' AND action = 'test') AS n";
    let started = Instant::now();
    scheduled(&rt);
    let deadline = started + Duration::from_secs(900);
    let mut done = 0;
    while Instant::now() < deadline {
        done = edge.count(by_scheduler);
        if done as usize >= keys {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let run_wall = started.elapsed();
    assert_eq!(done as usize, keys, "every key re-tested within 15 minutes");

    // A second run right behind the first: nothing is due, nothing is re-tested again.
    scheduled(&rt);
    std::thread::sleep(Duration::from_secs(10));
    let total = edge.count(by_scheduler);
    let twice = total.saturating_sub(keys as u64);
    let audit_rows = edge.count("SELECT count(*) AS n FROM audit_log WHERE actor = 'scheduler'");

    let log = edge.log();
    let (mut invocations, mut max_jobs, mut max_sub) = (0u32, 0u32, 0u32);
    for line in log[log_before.min(log.len())..].lines() {
        let Some(rest) = line.split("queue invocation: ").nth(1) else {
            continue;
        };
        let nums: Vec<u32> = rest
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|n| n.parse().ok())
            .collect();
        if let [jobs, sub, ..] = nums[..] {
            invocations += 1;
            max_jobs = max_jobs.max(jobs);
            max_sub = max_sub.max(sub);
        }
    }

    let per = |d: Duration| d.as_secs_f64() * 1000.0 / keys as f64;
    println!("\n| measure ({keys} keys) | value | baseline (same run) | ratio |");
    println!("|---|---:|---:|---:|");
    println!(
        "| one cron run re-tests every key (wall, polled every 0.5 s + a D1 read) | {:.1} s ({:.1} ms/key) | installing them, each tested at once, 8 at a time: {:.1} s ({:.1} ms/key) | {:.2}x |",
        run_wall.as_secs_f64(), per(run_wall), install_wall.as_secs_f64(), per(install_wall),
        run_wall.as_secs_f64() / install_wall.as_secs_f64()
    );
    println!("| queue consumer invocations | {invocations} | | |");
    println!("| most jobs in one invocation | {max_jobs} | max_batch_size | |");
    println!("| most subrequests in one invocation (D1, KV, Queues, fetch) | {max_sub} | Workers limit 1,000 (paid), 50 (free) | |");
    println!(
        "| re-tests after a second run right behind | {} | {keys} keys | |",
        total
    );
    println!("| re-tests beyond one per key | {twice} | | |");
    println!("| audit rows the run wrote (unchanged re-checks are counted per day instead) | {audit_rows} | {keys} keys | |");
    assert_eq!(twice, 0, "no key re-tested twice");
}
