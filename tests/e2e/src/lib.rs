//! A local edge for tests: the built Worker (`build/index.js`, from `script/build-worker`)
//! under `wrangler dev` on workerd, with its own D1/KV state, secrets and ports in a temporary
//! folder, seeded with the catalog. Stopped (its whole process group) when dropped, also when
//! a test panics.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use byok_core::keyring::{KeyId, KeyringDocument};
use byok_fake_providers::FakeProviders;
use jsonwebtoken::{Algorithm, EncodingKey, Header};

pub struct Edge {
    child: Child,
    pub base: String,
    dir: PathBuf,
    config: EdgeConfig,
    /// The Worker's name (unique per edge), what a service binding names.
    pub name: String,
}

/// The checkout under test: `BYOK_ROOT` (set by `script/lib.sh`), else the package's directory
/// as cargo gives it at run time, else as it was at build time. Clones that share a target
/// directory share this crate's build (cargo hashes path packages relative to the workspace),
/// so the path baked in at build time may be another clone's.
pub fn root() -> PathBuf {
    if let Some(root) = std::env::var_os("BYOK_ROOT") {
        return PathBuf::from(root);
    }
    let manifest =
        std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into());
    Path::new(&manifest)
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// The Tokio runtime the e2e tests drive their HTTP calls and loopback fakes on.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn wrangler(root: &Path) -> Command {
    let mut c = Command::new(root.join("node_modules/.bin/wrangler"));
    c.env_remove("WRANGLER_REGISTRY_PATH");
    c.current_dir(root)
        .env("CI", "true")
        .env("WRANGLER_SEND_METRICS", "false")
        .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
        .stdin(Stdio::null());
    c
}

/// `wrangler dev` over `dir` (its `wrangler.toml`, its D1/KV state in `state/`, its log in
/// `wrangler.log`) on a fresh loopback port, announcing itself in (and finding service
/// bindings through) the dev registry at `registry`, in its own process group. The port it
/// will listen on is returned beside the command.
fn dev_command(root: &Path, dir: &Path, registry: &Path) -> (Command, u16) {
    let port = free_port();
    let log = std::fs::File::create(dir.join("wrangler.log")).expect("log");
    let mut cmd = wrangler(root);
    cmd.env("WRANGLER_REGISTRY_PATH", registry)
        .args([
            "dev",
            "--local",
            "--ip",
            "127.0.0.1",
            "--show-interactive-dev-session=false",
            "--test-scheduled",
            "--log-level",
            "warn",
        ])
        .arg("--config")
        .arg(dir.join("wrangler.toml"))
        .arg("--persist-to")
        .arg(dir.join("state"))
        .args([
            "--port",
            &port.to_string(),
            "--inspector-port",
            &free_port().to_string(),
        ])
        .stdout(log.try_clone().expect("log"))
        .stderr(log);
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    (cmd, port)
}

/// What an edge is started with: its secrets and vars. `EdgeConfig::default()` is a working
/// local edge (dev mode, random secrets, a fresh keyring); tests change what they examine.
#[derive(Clone)]
pub struct EdgeConfig {
    pub auth_secret: String,
    pub service_secret: String,
    /// The `BYOK_KEYRING` document (JSON).
    pub keyring: String,
    pub issuer: String,
    pub audience: String,
    pub dev_mode: bool,
    /// `WEBHOOK_URL` (unset: no webhooks; events are only stored).
    pub webhook_url: Option<String>,
    /// `WEBHOOK_SECRET` (`whsec_...`), random by default.
    pub webhook_secret: String,
    /// The rate limits per minute (tenant, user) of each limited action. High by default, so
    /// that only the tests about limits meet them.
    pub rate_limits: (u32, u32),
    /// `WEBHOOK_MAX_ATTEMPTS`: how many deliveries before an event is dead (8 by default).
    pub webhook_max_attempts: u32,
    /// More `[vars]` (the identity provider's key set, connect origins…), written as given.
    pub extra_vars: Vec<(String, String)>,
    /// How many D1 databases hold the tenants (`D1_SHARDS`: `DB`, then `DB_1`, `DB_2`…), each
    /// with every migration applied. 1 unless `BYOK_E2E_SHARDS` says otherwise.
    pub shards: usize,
}

/// The issuer and audience of the edges under test (what `byok token` defaults to).
pub const ISSUER: &str = "byok-dev";
pub const AUDIENCE: &str = "byok";

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
    b.iter().map(|b| format!("{b:02x}")).collect()
}

impl Default for EdgeConfig {
    fn default() -> Self {
        let keyring =
            KeyringDocument::generate(KeyId::parse("e2e").expect("id"), &mut rand_core::OsRng)
                .expect("keyring");
        Self {
            auth_secret: random_hex(32),
            service_secret: random_hex(32),
            keyring: keyring.to_json().to_string(),
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            dev_mode: true,
            webhook_url: None,
            webhook_secret: byok_core::webhook::WebhookSecret::from_bytes(&{
                let mut b = [0u8; 32];
                rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
                b
            })
            .expect("secret")
            .to_text()
            .to_string(),
            rate_limits: (10_000, 10_000),
            webhook_max_attempts: 8,
            extra_vars: Vec::new(),
            shards: std::env::var("BYOK_E2E_SHARDS")
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or(1),
        }
    }
}

/// Writes the edge's `wrangler.toml` (its bindings and vars) for `config`: at the start, and
/// again at each restart, so that a restart can change vars as a redeploy does.
fn write_config(root: &Path, dir: &Path, name: &str, config: &EdgeConfig) {
    let main = root.join("build/index.js");
    std::fs::write(
            dir.join("wrangler.toml"),
            format!(
                r#"name = "{name}"
main = "{main}"
compatibility_date = "2026-11-01"
{databases}
[[kv_namespaces]]
binding = "KV"
id = "00000000000000000000000000000000"
[[queues.producers]]
binding = "JOBS"
queue = "{name}-jobs"
[[queues.consumers]]
queue = "{name}-jobs"
max_batch_size = 5
max_batch_timeout = 1
max_retries = 3
[[ratelimits]]
name = "TENANT_LIMITER"
namespace_id = "1001"
simple = {{ limit = {tenant_limit}, period = 60 }}
[[ratelimits]]
name = "USER_LIMITER"
namespace_id = "1002"
simple = {{ limit = {user_limit}, period = 60 }}
[[durable_objects.bindings]]
name = "QUOTA"
class_name = "PlatformQuota"
[[migrations]]
tag = "v1-platform-quota"
new_sqlite_classes = ["PlatformQuota"]
[vars]
DEV_MODE = "{dev_mode}"
AUTH_ISSUER = "{issuer}"
AUTH_AUDIENCE = "{audience}"
WEBHOOK_URL = "{webhook_url}"
WEBHOOK_RETRY_BASE_SECONDS = "1"
WEBHOOK_MAX_ATTEMPTS = "{max_attempts}"
{shards}
{extra}
"#,
                databases = shard_names(config.shards)
                    .iter()
                    .enumerate()
                    .map(|(i, binding)| format!(
                        "[[d1_databases]]\nbinding = \"{binding}\"\ndatabase_name = \"byok-{i}\"\ndatabase_id = \"00000000-0000-0000-0000-00000000000{i}\"\nmigrations_dir = \"{}\"",
                        root.join("worker/migrations").display()
                    ))
                    .collect::<Vec<_>>()
                    .join("\n"),
                // Every database by default; a test that moves tenants lists fewer itself.
                shards = if config.extra_vars.iter().any(|(k, _)| k == "D1_SHARDS") {
                    String::new()
                } else {
                    format!("D1_SHARDS = \"{}\"", shard_names(config.shards).join(","))
                },
                extra = config
                    .extra_vars
                    .iter()
                    .map(|(k, v)| format!("{k} = {}", serde_json::Value::String(v.clone())))
                    .collect::<Vec<_>>()
                    .join("\n"),
                max_attempts = config.webhook_max_attempts,
                webhook_url = config.webhook_url.as_deref().unwrap_or(""),
                tenant_limit = config.rate_limits.0,
                user_limit = config.rate_limits.1,
                main = main.display(),
                dev_mode = config.dev_mode,
                issuer = config.issuer,
                audience = config.audience,
            ),
        )
        .expect("wrangler.toml");
}

impl EdgeConfig {
    pub fn start(self) -> Edge {
        Edge::start_with(self)
    }
}

impl Edge {
    /// Starts a fresh edge. Panics with a clear message when a prerequisite is missing.
    pub fn start() -> Edge {
        Edge::start_with(EdgeConfig::default())
    }

    pub fn start_with(config: EdgeConfig) -> Edge {
        let root = root();
        let main = root.join("build/index.js");
        assert!(
            main.exists(),
            "{} is missing: run script/build-worker first (script/test does)",
            main.display()
        );
        let id = format!("{}-{}", std::process::id(), free_port());
        let dir = std::env::temp_dir().join(format!("byok-e2e-{id}"));
        let name = format!("byok-e2e-{id}");
        std::fs::create_dir_all(&dir).expect("temp dir");
        write_config(&root, &dir, &name, &config);

        for binding in shard_names(config.shards) {
            let status = wrangler(&root)
                .args(["d1", "migrations", "apply", &binding, "--local"])
                .arg("--config")
                .arg(dir.join("wrangler.toml"))
                .arg("--persist-to")
                .arg(dir.join("state"))
                .stdout(Stdio::null())
                .status()
                .expect(
                    "wrangler d1 migrations apply (is Node >= 22 on PATH? source script/lib.sh)",
                );
            assert!(status.success(), "applying migrations to {binding} failed");
        }
        let child = Edge::spawn(&root, &dir, &config);
        let edge = Edge {
            base: format!("http://127.0.0.1:{}", child.1),
            child: child.0,
            dir,
            config,
            name,
        };
        edge.wait_healthy();
        edge
    }

    /// Writes the secrets and starts `wrangler dev` on a fresh port over the edge's state.
    fn spawn(root: &Path, dir: &Path, config: &EdgeConfig) -> (Child, u16) {
        let mut vars = std::fs::File::create(dir.join(".dev.vars")).expect(".dev.vars");
        writeln!(
            vars,
            "AUTH_SECRET=\"{}\"\nSERVICE_AUTH_SECRET=\"{}\"\nBYOK_KEYRING='{}'\nWEBHOOK_SECRET=\"{}\"",
            config.auth_secret, config.service_secret, config.keyring, config.webhook_secret
        )
        .expect("write");
        let (mut cmd, port) = dev_command(root, dir, &dir.join("registry"));
        (cmd.spawn().expect("wrangler dev"), port)
    }

    /// Stops the Worker and starts it again over the same D1 and KV state with another
    /// configuration (a rotated keyring, say): what an operator's `wrangler secret put` and
    /// redeploy do. The base URL changes (a fresh port).
    pub fn restart(&mut self, config: EdgeConfig) {
        self.config = config;
        self.restart_after(|_| ());
    }

    /// Stops the Worker, lets `change` edit its stopped D1/KV state (the folder `state/`), and
    /// starts it again with the same configuration: how a bench fills a database directly.
    pub fn restart_after(&mut self, change: impl FnOnce(&Path)) {
        self.stop();
        change(&self.dir.join("state"));
        write_config(&root(), &self.dir, &self.name, &self.config);
        let (child, port) = Edge::spawn(&root(), &self.dir, &self.config);
        self.child = child;
        self.base = format!("http://127.0.0.1:{port}");
        self.wait_healthy();
    }

    /// The edge's folder: its `wrangler.toml`, and its D1/KV under `state/`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stops the Worker and moves its D1/KV state aside (to `state.before`), leaving `state/`
    /// absent: what a restore drill fills before [`Edge::restart`] serves from it.
    pub fn stop_and_set_state_aside(&mut self) -> PathBuf {
        self.stop();
        let aside = self.dir.join("state.before");
        std::fs::rename(self.dir.join("state"), &aside).expect("state aside");
        aside
    }

    /// What this edge runs with.
    pub fn config(&self) -> &EdgeConfig {
        &self.config
    }

    /// Runs SQL against every one of the edge's local D1 databases (`wrangler d1 execute
    /// --local`) while it serves: how a test moves a stored clock (a key checked "25 hours
    /// ago") without waiting, wherever the tenant's rows are.
    pub fn sql(&self, sql: &str) {
        for binding in shard_names(self.config.shards) {
            self.sql_in(&binding, sql);
        }
    }

    /// The binding of the database that holds `tenant`'s rows (as the Worker places them).
    pub fn binding_of(&self, tenant: &str) -> String {
        let names = shard_names(self.config.shards);
        let map = byok_core::shard::ShardMap::parse(Some(&names.join(","))).expect("shard map");
        names[map.shard_of(tenant)].clone()
    }

    /// Runs SQL against one of the edge's databases, by binding name.
    pub fn sql_in(&self, binding: &str, sql: &str) {
        let status = wrangler(&root())
            .args(["d1", "execute", binding, "--local", "--command", sql])
            .arg("--config")
            .arg(self.dir.join("wrangler.toml"))
            .arg("--persist-to")
            .arg(self.dir.join("state"))
            .stdout(Stdio::null())
            .status()
            .expect("wrangler d1 execute");
        assert!(
            status.success(),
            "wrangler d1 execute failed in {binding}: {sql}"
        );
    }

    /// A query's rows from every one of the edge's local D1 databases, the home one's first
    /// (`wrangler d1 execute --local --json`).
    pub fn query(&self, sql: &str) -> Vec<serde_json::Value> {
        shard_names(self.config.shards)
            .iter()
            .flat_map(|binding| self.query_in(binding, sql))
            .collect()
    }

    /// A query's rows from one of the edge's databases, by binding name.
    pub fn query_in(&self, binding: &str, sql: &str) -> Vec<serde_json::Value> {
        let out = wrangler(&root())
            .args([
                "d1",
                "execute",
                binding,
                "--local",
                "--json",
                "--command",
                sql,
            ])
            .arg("--config")
            .arg(self.dir.join("wrangler.toml"))
            .arg("--persist-to")
            .arg(self.dir.join("state"))
            .output()
            .expect("wrangler d1 execute");
        assert!(
            out.status.success(),
            "wrangler d1 execute failed in {binding}: {sql}"
        );
        let v: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("JSON from d1 execute");
        v[0]["results"].as_array().cloned().unwrap_or_default()
    }

    /// The sum over the edge's databases of column `n` in the first row of `sql` (`SELECT
    /// COUNT(*) AS n …`); 0 when there is none.
    pub fn count(&self, sql: &str) -> u64 {
        shard_names(self.config.shards)
            .iter()
            .map(|binding| {
                self.query_in(binding, sql)
                    .first()
                    .and_then(|r| r["n"].as_u64())
                    .unwrap_or(0)
            })
            .sum()
    }

    /// What `wrangler dev` and the Worker's console wrote so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("wrangler.log")).unwrap_or_default()
    }

    /// The dev registry this edge's `wrangler dev` announces itself in: another `wrangler
    /// dev` started with the same `WRANGLER_REGISTRY_PATH` reaches it by service binding.
    pub fn registry(&self) -> PathBuf {
        self.dir.join("registry")
    }

    fn wait_healthy(&self) {
        wait_healthy(&self.base, &self.dir.join("wrangler.log"));
    }

    /// A token for `role`, signed with the secret of its kind (user roles: `AUTH_SECRET`,
    /// `service`: `SERVICE_AUTH_SECRET`).
    pub fn token(&self, role: &str, tenant: &str) -> String {
        self.token_ttl(role, tenant, 3600)
    }

    /// The same with a chosen lifetime (negative: expired).
    pub fn token_ttl(&self, role: &str, tenant: &str, ttl: i64) -> String {
        let secret = if role == "service" {
            &self.config.service_secret
        } else {
            &self.config.auth_secret
        };
        self.token_with(role, tenant, ttl, secret)
    }

    /// A one-hour token for a named user (`sub`) of `tenant`, signed with its role's secret.
    pub fn token_with_sub(&self, role: &str, tenant: &str, sub: &str) -> String {
        let secret = if role == "service" {
            &self.config.service_secret
        } else {
            &self.config.auth_secret
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        self.sign(
            &serde_json::json!({"sub": sub, "tenant": tenant, "role": role,
                "exp": now + 3600, "iss": self.config.issuer, "aud": self.config.audience}),
            secret,
        )
    }

    /// A token with a chosen lifetime (negative: expired) and signing secret.
    pub fn token_with(&self, role: &str, tenant: &str, ttl: i64, secret: &str) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        self.sign(
            &serde_json::json!({"sub": format!("{role}@{tenant}"), "tenant": tenant, "role": role,
                "exp": now + ttl, "iss": self.config.issuer, "aud": self.config.audience}),
            secret,
        )
    }

    /// A one-hour service token limited to `providers` and/or `tenants` (the scope claims).
    pub fn scoped_service_token(
        &self,
        providers: Option<&[&str]>,
        tenants: Option<&[&str]>,
    ) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let mut claims = serde_json::json!({"sub": "scoped-function", "tenant": "platform",
            "role": "service", "exp": now + 3600, "iss": self.config.issuer,
            "aud": self.config.audience});
        if let Some(p) = providers {
            claims["providers"] = serde_json::json!(p);
        }
        if let Some(t) = tenants {
            claims["tenants"] = serde_json::json!(t);
        }
        self.sign(&claims, &self.config.service_secret)
    }

    /// Any claims, signed (HS256) with `secret`.
    pub fn sign(&self, claims: &serde_json::Value, secret: &str) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .expect("token")
    }

    /// Pushes the first seven seeds (the providers the API tests use) as a platform admin, as
    /// `byok provider push` does: its test plugin (`PUT /v1/admin/plugins`), then the entry
    /// with its fixtures (the Worker runs the conformance suite), then its logo. Every seed
    /// goes through the same path in `seed_all_against_fakes` (the browser tests) and in
    /// `script/deploy`'s test; each test here would otherwise pay for 29 entries it never reads.
    pub async fn seed(&self) {
        self.push_seeds(None, &FIRST_SEEDS).await;
    }

    /// The first seven seeds with their tests pointed at the fakes.
    pub async fn seed_against_fakes(&self, fakes: &FakeProviders) {
        self.push_seeds(Some(fakes), &FIRST_SEEDS).await;
    }

    /// Every seed, pointed at the fakes (which serve each data-only seed's fixtures).
    pub async fn seed_all_against_fakes(&self, fakes: &FakeProviders) {
        let mut all: Vec<String> = std::fs::read_dir(root().join("seeds"))
            .expect("seeds")
            .map(|d| d.expect("dir").file_name().to_string_lossy().into_owned())
            .collect();
        all.sort();
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        self.push_seeds(Some(fakes), &all).await;
    }

    async fn push_seeds(&self, fakes: Option<&FakeProviders>, keys: &[&str]) {
        let client = reqwest::Client::new();
        let token = self.token("platform-admin", "platform");
        let mut uploaded = std::collections::BTreeSet::new();
        for key in keys {
            let key = (*key).to_owned();
            let dir = root().join("seeds").join(&key);
            let mut entry = seed_entry(&key);
            if let Some(fakes) = fakes {
                entry = entry_against_fakes(entry, &key, fakes);
            }
            let mut steps = Vec::new();
            let plugin = seed_plugin(&key);
            if entry.get("test_plugin").is_some() && uploaded.insert(plugin.clone()) {
                steps.push((
                    "/v1/admin/plugins".to_owned(),
                    "application/wasm",
                    plugin_component(&plugin),
                ));
            }
            steps.push((
                format!("/v1/admin/providers/{key}"),
                "application/json",
                entry.to_string().into_bytes(),
            ));
            steps.push((
                format!("/v1/admin/providers/{key}/logo"),
                "image/svg+xml",
                std::fs::read(dir.join("logo.svg")).expect("logo"),
            ));
            for (path, content_type, body) in steps {
                let r = client
                    .put(format!("{}{path}", self.base))
                    .bearer_auth(&token)
                    .header("content-type", content_type)
                    .body(body)
                    .send()
                    .await
                    .expect("push");
                assert!(
                    r.status().is_success(),
                    "{path}: {}",
                    r.text().await.unwrap_or_default()
                );
            }
        }
    }
}

/// The providers the catalog first shipped with, which the API tests use.
pub const FIRST_SEEDS: [&str; 7] = [
    "anthropic",
    "google-calendar",
    "meta-ads",
    "openai",
    "sendgrid",
    "stripe",
    "twilio",
];

/// A seed's entry with its fixtures, as the admin API takes it.
pub fn seed_entry(key: &str) -> serde_json::Value {
    let dir = root().join("seeds").join(key);
    let text = std::fs::read_to_string(dir.join("entry.json")).expect("entry");
    let mut entry: serde_json::Value = serde_json::from_str(&text).expect("entry JSON");
    if let Ok(text) = std::fs::read_to_string(dir.join("fixtures.json")) {
        entry["fixtures"] = serde_json::from_str(&text).expect("fixtures JSON");
    }
    entry
}

/// The plugin a seed runs: a crate of its own name, else the declarative http-check.
pub fn seed_plugin(key: &str) -> String {
    if root().join("plugins").join(key).is_dir() {
        key.to_owned()
    } else {
        "http-check".to_owned()
    }
}

/// A built plugin component (`script/build-plugins` writes them to `$CARGO_TARGET_DIR/plugins`).
pub fn plugin_component(name: &str) -> Vec<u8> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    let path = target.join("plugins").join(format!("{name}.wasm"));
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run script/build-plugins)", path.display()))
}

/// The fake's path prefix for a seeded provider.
fn fake_prefix(key: &str) -> &str {
    match key {
        "google-calendar" => "google",
        "meta-ads" => "meta",
        other => other,
    }
}

/// A seed entry re-pointed at the loopback fakes: every `https://host` in its test config
/// becomes the fake's base URL, and the egress allowlist names only the fakes.
pub fn entry_against_fakes(
    mut entry: serde_json::Value,
    key: &str,
    fakes: &FakeProviders,
) -> serde_json::Value {
    let base = fakes.base_url(fake_prefix(key));
    if let Some(config) = entry["test_plugin"]["config"].as_object_mut() {
        for value in config.values_mut() {
            if let Some(url) = value.as_str().and_then(|u| u.strip_prefix("https://")) {
                let path = url.find('/').map_or("", |i| &url[i..]);
                *value = serde_json::Value::String(format!("{base}{path}"));
            }
        }
    }
    entry["egress"] =
        serde_json::json!([{"scheme": "http", "host": "127.0.0.1", "port": fakes.addr().port()}]);
    entry
}

/// The example AI function (`examples/ai-function`) under its own `wrangler dev`, bound to an
/// edge by a service binding (through the edge's dev registry), with the providers' base URLs
/// pointed at the fakes. Stopped when dropped.
pub struct AiFunction {
    child: Child,
    pub base: String,
    dir: PathBuf,
}

impl AiFunction {
    pub fn start(edge: &Edge, fakes: &FakeProviders, service_token: &str) -> AiFunction {
        let root = root();
        let dir = edge.dir.join("ai-function");
        std::fs::create_dir_all(&dir).expect("dir");
        let example = root.join("examples/ai-function");
        std::fs::write(
            dir.join("wrangler.toml"),
            format!(
                r#"name = "{name}-ai-function"
main = "{main}"
compatibility_date = "2026-11-01"
[alias]
"@byok/client" = "{client}"
[[services]]
binding = "BYOK"
service = "{name}"
[vars]
ANTHROPIC_BASE_URL = "{anthropic}"
OPENAI_BASE_URL = "{openai}"
"#,
                name = edge.name,
                main = example.join("src/index.ts").display(),
                client = root.join("clients/ts/src/index.ts").display(),
                anthropic = fakes.base_url("anthropic"),
                openai = fakes.base_url("openai"),
            ),
        )
        .expect("wrangler.toml");
        std::fs::write(
            dir.join(".dev.vars"),
            format!("BYOK_SERVICE_TOKEN=\"{service_token}\"\n"),
        )
        .expect(".dev.vars");
        let (mut cmd, port) = dev_command(&root, &dir, &edge.registry());
        let f = AiFunction {
            child: cmd.spawn().expect("wrangler dev (ai-function)"),
            base: format!("http://127.0.0.1:{port}"),
            dir,
        };
        wait_healthy(&f.base, &f.dir.join("wrangler.log"));
        f
    }
}

impl Drop for AiFunction {
    fn drop(&mut self) {
        stop_group(&mut self.child);
    }
}

/// Waits until `base/healthz` answers 200, or panics with the log.
fn wait_healthy(base: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(90);
    let addr = base.trim_start_matches("http://");
    while Instant::now() < deadline {
        if let Ok(mut s) = std::net::TcpStream::connect(addr) {
            let _ = s.write_all(
                b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
            );
            let mut buf = [0u8; 16];
            if std::io::Read::read(&mut s, &mut buf)
                .is_ok_and(|n| buf[..n].starts_with(b"HTTP/1.1 200"))
            {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let log = std::fs::read_to_string(log).unwrap_or_default();
    panic!("nothing healthy at {base}/healthz; wrangler said:\n{log}");
}

/// Stops a process group (wrangler and its workerd): TERM, then KILL after 5 s.
fn stop_group(child: &mut Child) {
    let group = format!("-{}", child.id());
    let kill = |signal: &str| {
        let _ = Command::new("kill")
            .args([signal, "--", &group])
            .stderr(Stdio::null())
            .status();
    };
    kill("-TERM");
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    kill("-KILL");
    let _ = child.wait();
}

impl Edge {
    /// Stops wrangler and workerd (the child's whole process group).
    fn stop(&mut self) {
        stop_group(&mut self.child);
    }
}

impl Drop for Edge {
    fn drop(&mut self) {
        self.stop();
        // BYOK_E2E_KEEP=1 keeps the folder (its wrangler.log, its state) to look at a failure.
        if std::env::var_os("BYOK_E2E_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("kept {}", self.dir.display());
        }
    }
}

/// The D1 bindings of an edge with `n` databases: `DB` (the home one), then `DB_1`, `DB_2`…
pub fn shard_names(n: usize) -> Vec<String> {
    std::iter::once("DB".to_owned())
        .chain((1..n.max(1)).map(|i| format!("DB_{i}")))
        .collect()
}

/// The wall clock in Unix ms, as the Worker stores times.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Polls `check` until it holds, for at most 45 seconds; panics naming `what` if it never does.
pub async fn wait_for<F: std::future::Future<Output = bool>>(
    what: &str,
    mut check: impl FnMut() -> F,
) {
    let deadline = Instant::now() + Duration::from_secs(45);
    while Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    panic!("timed out waiting for {what}");
}

/// One cron run of the edge at `base` (`GET /__scheduled`: wrangler dev runs with
/// `--test-scheduled`), answered once the scheduled handler has finished.
pub async fn scheduled_run(base: &str) {
    let resp = reqwest::Client::new()
        .get(format!("{base}/__scheduled"))
        .send()
        .await
        .expect("scheduled");
    assert_eq!(
        resp.status(),
        200,
        "wrangler dev runs with --test-scheduled"
    );
}
