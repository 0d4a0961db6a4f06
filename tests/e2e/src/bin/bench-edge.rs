//! `bench-edge`: measures the Worker under workerd on loopback, against baselines taken in the
//! same run: resolve and page throughput and p99 against `/healthz` of the same Worker (wrk), a
//! connection test's overhead over the fake provider's own latency, cold start, and size.
//! Run with `script/bench-edge` (it builds what is needed and installs wrk if missing).

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use byok_e2e::{AiFunction, Edge};
use byok_fake_providers::FakeProviders;
use serde_json::json;

struct Wrk {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn wrk(url: &str, script: Option<&PathBuf>, seconds: u32) -> Wrk {
    let mut cmd = Command::new("wrk");
    cmd.args(["-t2", "-c16", &format!("-d{seconds}s"), "--latency"]);
    if let Some(s) = script {
        cmd.arg("-s").arg(s);
    }
    let out = cmd.arg(url).output().expect("wrk (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let number = |line_start: &str| -> f64 {
        text.lines()
            .find(|l| l.trim_start().starts_with(line_start))
            .and_then(|l| l.split_whitespace().nth(1))
            .map(|v| {
                let (n, unit) =
                    v.split_at(v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len()));
                let n: f64 = n.parse().unwrap_or(f64::NAN);
                match unit {
                    "us" => n / 1000.0,
                    "s" => n * 1000.0,
                    _ => n,
                }
            })
            .unwrap_or(f64::NAN)
    };
    let rps = text
        .lines()
        .find(|l| l.starts_with("Requests/sec:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN);
    let errors = text
        .lines()
        .find(|l| l.contains("Non-2xx"))
        .map(str::to_owned);
    assert!(errors.is_none(), "{url}: {errors:?}\n{text}");
    Wrk {
        rps,
        p50_ms: number("50%"),
        p99_ms: number("99%"),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let seconds: u32 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let started = Instant::now();
    let edge = Edge::start();
    let cold_start = started.elapsed();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let fakes = rt.block_on(FakeProviders::start(0)).expect("fakes");
    let http = reqwest::Client::new();
    let admin = edge.token("platform-admin", "platform");
    let owner = edge.token("owner", "bench");
    let service = edge.token("service", "platform");

    // The first upload in a fresh isolate (validate + compile with Cranelift inside the
    // Worker), as `byok provider push` sends it; then the seeds, the Anthropic entry's test
    // pointed at the fake, and a tenant key for it.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    let plugin =
        std::fs::read(target.join("plugins/anthropic.wasm")).expect("script/build-plugins first");
    rt.block_on(async {
        let first_upload = Instant::now();
        let r = http
            .put(format!("{}/v1/admin/plugins", edge.base))
            .bearer_auth(&admin)
            .header("content-type", "application/wasm")
            .body(plugin)
            .send()
            .await
            .expect("upload");
        assert!(r.status().is_success(), "upload: {}", r.status());
        let answer: serde_json::Value = r.json().await.expect("json");
        println!(
            "upload (validate + compile inside the Worker): {:.0} ms, of which compile {} ms",
            first_upload.elapsed().as_secs_f64() * 1000.0,
            answer["compile_ms"]
        );
        edge.seed_against_fakes(&fakes).await;
        let r = http
            .post(format!("{}/v1/integrations", edge.base))
            .bearer_auth(&owner)
            .json(&json!({"provider": "anthropic", "key": "sk-ant-fake0-valid-bench-000000"}))
            .send()
            .await
            .expect("install");
        assert!(r.status().is_success());
    });

    // Connection test overhead: the test route against the fake's own latency, same run.
    let (fake_ms, test_ms, list_ms, test_spans) = rt.block_on(async {
        let mut fake = Vec::new();
        let mut test = Vec::new();
        let mut list = Vec::new();
        let mut spans: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
        for i in 0..60 {
            let t = Instant::now();
            let r = http
                .get(format!("{}/v1/integrations", edge.base))
                .bearer_auth(&owner)
                .send()
                .await
                .expect("list");
            let _ = r.bytes().await;
            list.push(t.elapsed().as_secs_f64() * 1000.0);
            let t = Instant::now();
            let r = http
                .get(format!("{}/v1/models?limit=1", fakes.base_url("anthropic")))
                .header("x-api-key", "sk-ant-fake0-valid-bench-000000")
                .header("anthropic-version", "2023-06-01")
                .send()
                .await
                .expect("fake");
            let _ = r.bytes().await;
            fake.push(t.elapsed().as_secs_f64() * 1000.0);
            let t = Instant::now();
            let r = http
                .post(format!("{}/v1/integrations/anthropic/test", edge.base))
                .bearer_auth(&owner)
                .send()
                .await
                .expect("test");
            assert!(r.status().is_success());
            let timing = r
                .headers()
                .get("server-timing")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let body: serde_json::Value = r.json().await.expect("json");
            assert_eq!(body["last_test"]["verdict"], "connected");
            test.push(t.elapsed().as_secs_f64() * 1000.0);
            for span in timing.split(", ").filter(|_| i >= 10) {
                if let Some((name, dur)) = span.split_once(";dur=") {
                    if let Ok(ms) = dur.parse::<f64>() {
                        spans.entry(name.to_owned()).or_default().push(ms);
                    }
                }
            }
        }
        let spans: Vec<String> = spans
            .into_iter()
            .map(|(name, v)| format!("{name} {:.1}", median(v)))
            .collect();
        (
            median(fake[10..].to_vec()),
            median(test[10..].to_vec()),
            median(list[10..].to_vec()),
            spans.join(", "),
        )
    });

    // Throughput: /healthz and /v1/resolve of the same Worker.
    let dir = std::env::temp_dir().join(format!("byok-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let lua = dir.join("resolve.lua");
    let mut f = std::fs::File::create(&lua).expect("lua");
    write!(f, "wrk.method = \"POST\"\nwrk.body = '{}'\nwrk.headers[\"content-type\"] = \"application/json\"\nwrk.headers[\"authorization\"] = \"Bearer {service}\"\n",
        json!({"tenant": "bench", "provider": "anthropic"})).expect("write");
    let _ = wrk(&format!("{}/healthz", edge.base), None, 2); // warm-up
    let health = wrk(&format!("{}/healthz", edge.base), None, seconds);
    let resolve = wrk(&format!("{}/v1/resolve", edge.base), Some(&lua), seconds);
    // An authenticated route with no body and no storage (the same token): what a request
    // costs once it is authenticated, to tell resolve's own work from authentication's.
    let me_lua = dir.join("me.lua");
    std::fs::write(
        &me_lua,
        format!("wrk.headers[\"authorization\"] = \"Bearer {service}\"\n"),
    )
    .expect("write");
    let me = wrk(&format!("{}/v1/me", edge.base), Some(&me_lua), seconds);
    // The Marketplace page: whole, and revalidated by its ETag (what a browser does on reload).
    let page_url = format!("{}/marketplace/integrations", edge.base);
    let (page_bytes, etag) = rt.block_on(async {
        let r = http.get(&page_url).send().await.expect("page");
        let etag = r
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .expect("the page has an ETag")
            .to_owned();
        (r.bytes().await.expect("page body").len(), etag)
    });
    let revalidate = dir.join("revalidate.lua");
    std::fs::write(
        &revalidate,
        format!("wrk.headers[\"if-none-match\"] = '{etag}'\n"),
    )
    .expect("lua");
    let page = wrk(&page_url, None, seconds);
    let not_modified = wrk(&page_url, Some(&revalidate), seconds);
    let _ = std::fs::remove_dir_all(&dir);

    // The service binding hop: the example AI function asking which key serves a tenant (no
    // client cache), against the same resolve called directly, interleaved, same run.
    let function = AiFunction::start(&edge, &fakes, &service);
    let (direct_ms, bound_ms, function_health_ms) = rt.block_on(async {
        let r = http
            .put(format!("{}/v1/admin/platform-keys/anthropic", edge.base))
            .bearer_auth(&admin)
            .json(&json!({"key": "sk-ant-FAKE-bench-platform-0000000000000000000000"}))
            .send()
            .await
            .expect("platform key");
        assert!(r.status().is_success(), "platform key: {}", r.status());
        let body = json!({"tenant": "bench-binding", "provider": "anthropic"});
        // The function takes its tenant from the caller's verified token (one more hop, to
        // /v1/me, inside the binding figure).
        let user = edge.token("member", "bench-binding");
        let (mut direct, mut bound, mut health) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..220 {
            let t = Instant::now();
            let r = http
                .post(format!("{}/v1/resolve", edge.base))
                .bearer_auth(&service)
                .json(&body)
                .send()
                .await
                .expect("resolve");
            assert!(r.status().is_success());
            let _ = r.bytes().await;
            direct.push(t.elapsed().as_secs_f64() * 1000.0);
            let t = Instant::now();
            let r = http
                .post(format!("{}/v1/which-key", function.base))
                .bearer_auth(&user)
                .json(&json!({"provider": "anthropic"}))
                .send()
                .await
                .expect("which-key");
            assert!(r.status().is_success(), "which-key: {}", r.status());
            let _ = r.bytes().await;
            bound.push(t.elapsed().as_secs_f64() * 1000.0);
            let t = Instant::now();
            let r = http
                .get(format!("{}/healthz", function.base))
                .send()
                .await
                .expect("function healthz");
            let _ = r.bytes().await;
            health.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        (
            median(direct[20..].to_vec()),
            median(bound[20..].to_vec()),
            median(health[20..].to_vec()),
        )
    });
    drop(function);

    // The platform key's cap (issue #21): resolve answered with the platform key, with and
    // without a cap (the Durable Object counter on the path), and a tenant's own key when the
    // tenant has a cap (the counter must not be on that path). The caps are never reached.
    let cap_dir = std::env::temp_dir().join(format!("byok-bench-cap-{}", std::process::id()));
    std::fs::create_dir_all(&cap_dir).expect("dir");
    let resolve_lua = |name: &str, tenant: &str, provider: &str| {
        let path = cap_dir.join(format!("{name}.lua"));
        std::fs::write(
            &path,
            format!("wrk.method = \"POST\"\nwrk.body = '{}'\nwrk.headers[\"content-type\"] = \"application/json\"\nwrk.headers[\"authorization\"] = \"Bearer {service}\"\n",
                json!({"tenant": tenant, "provider": provider})),
        )
        .expect("lua");
        path
    };
    rt.block_on(async {
        for (tenant, key) in [("bench-capped", "anthropic"), ("bench", "anthropic")] {
            let r = http
                .put(format!("{}/v1/admin/tenants/{tenant}/providers/{key}/policy", edge.base))
                .bearer_auth(&admin)
                .json(&json!({"platform_fallback": "inherit", "platform_daily_cap": 4_000_000_000u64}))
                .send()
                .await
                .expect("cap");
            assert!(r.status().is_success(), "cap: {}", r.status());
        }
    });
    let resolve_url = format!("{}/v1/resolve", edge.base);
    let platform = wrk(
        &resolve_url,
        Some(&resolve_lua("platform", "bench-platform", "anthropic")),
        seconds,
    );
    let capped = wrk(
        &resolve_url,
        Some(&resolve_lua("capped", "bench-capped", "anthropic")),
        seconds,
    );
    let own_capped = wrk(
        &resolve_url,
        Some(&resolve_lua("own", "bench", "anthropic")),
        seconds,
    );
    let _ = std::fs::remove_dir_all(&cap_dir);

    let root = byok_e2e::root();
    let wasm = std::fs::read(root.join("build/index_bg.wasm")).expect("build/index_bg.wasm");
    let gz = Command::new("gzip")
        .args(["-9", "-c"])
        .arg(root.join("build/index_bg.wasm"))
        .output()
        .map(|o| o.stdout.len())
        .unwrap_or(0);

    println!("\n| measure | value | baseline (same run) | ratio | target |");
    println!("|---|---:|---:|---:|---|");
    println!(
        "| resolve throughput (usage counted) | {:.0} req/s | /healthz {:.0} req/s | {:.2}x | >= 0.95x |",
        resolve.rps,
        health.rps,
        resolve.rps / health.rps
    );
    println!(
        "| GET /v1/me throughput (service token verified, no body, no storage) | {:.0} req/s | /healthz {:.0} req/s | {:.2}x | |",
        me.rps,
        health.rps,
        me.rps / health.rps
    );
    println!(
        "| resolve throughput against GET /v1/me | {:.0} req/s | /v1/me {:.0} req/s | {:.2}x | |",
        resolve.rps,
        me.rps,
        resolve.rps / me.rps
    );
    println!(
        "| resolve, platform key under a cap (Durable Object counter on the path) | {:.0} req/s | platform key, no cap {:.0} req/s | {:.2}x | |",
        capped.rps,
        platform.rps,
        capped.rps / platform.rps
    );
    println!(
        "| the same, p50 | {:.2} ms | platform key, no cap {:.2} ms | +{:.2} ms | |",
        capped.p50_ms,
        platform.p50_ms,
        capped.p50_ms - platform.p50_ms
    );
    println!(
        "| resolve, tenant's own key, tenant has a cap (no counter) | {:.0} req/s | own key, no cap {:.0} req/s | {:.2}x | ~1.00x |",
        own_capped.rps,
        resolve.rps,
        own_capped.rps / resolve.rps
    );
    println!(
        "| resolve p99 | {:.2} ms | /healthz p99 {:.2} ms | {:.2}x | |",
        resolve.p99_ms,
        health.p99_ms,
        resolve.p99_ms / health.p99_ms
    );
    println!(
        "| resolve p50 | {:.2} ms | /healthz p50 {:.2} ms | | |",
        resolve.p50_ms, health.p50_ms
    );
    println!(
        "| GET /marketplace/integrations ({page_bytes} B) | {:.0} req/s | /healthz {:.0} req/s | {:.2}x | |",
        page.rps,
        health.rps,
        page.rps / health.rps
    );
    println!(
        "| the same, revalidated (304) | {:.0} req/s | /healthz {:.0} req/s | {:.2}x | |",
        not_modified.rps,
        health.rps,
        not_modified.rps / health.rps
    );
    println!(
        "| resolve through the AI function and its service binding, p50 | {bound_ms:.2} ms | resolve called directly {direct_ms:.2} ms | +{:.2} ms | |",
        bound_ms - direct_ms
    );
    println!(
        "| the AI function's own /healthz p50 (loopback HTTP to a second workerd) | {function_health_ms:.2} ms | | | |"
    );
    println!("| connection test p50 (route) | {test_ms:.2} ms | fake provider alone {fake_ms:.2} ms | +{:.2} ms | <= 5 ms overhead |", test_ms - fake_ms);
    println!("| GET /v1/integrations p50 (auth + D1 reads, no test) | {list_ms:.2} ms | | | |");
    println!(
        "| the test route's own cost: test p50 - list p50 - fake p50 | {:.2} ms | | | <= 3 ms |",
        test_ms - list_ms - fake_ms
    );
    println!("| Server-Timing of the test route, p50 per span (ms) | {test_spans} | | | |");
    println!(
        "| Worker .wasm | {:.2} MB raw | {:.2} MB gzip | | <= 64 MiB raw (Cloudflare) |",
        wasm.len() as f64 / 1e6,
        gz as f64 / 1e6
    );
    println!(
        "| cold start (wrangler dev to first healthy answer) | {:.1} s | | | |",
        cold_start.as_secs_f64()
    );
    drop(edge);
    std::thread::sleep(Duration::from_millis(100));
}
