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
use jsonwebtoken::{Algorithm, EncodingKey, Header};

pub struct Edge {
    child: Child,
    pub base: String,
    dir: PathBuf,
    auth_secret: String,
}

fn root() -> PathBuf {
    let manifest =
        std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into());
    Path::new(&manifest)
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn wrangler(root: &Path) -> Command {
    let mut c = Command::new(root.join("node_modules/.bin/wrangler"));
    c.current_dir(root)
        .env("CI", "true")
        .env("WRANGLER_SEND_METRICS", "false")
        .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
        .stdin(Stdio::null());
    c
}

impl Edge {
    /// Starts a fresh edge. Panics with a clear message when a prerequisite is missing.
    pub fn start() -> Edge {
        let root = root();
        let main = root.join("build/index.js");
        assert!(
            main.exists(),
            "{} is missing: run script/build-worker first (script/test does)",
            main.display()
        );
        let dir =
            std::env::temp_dir().join(format!("byok-e2e-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(
            dir.join("wrangler.toml"),
            format!(
                r#"name = "byok-e2e"
main = "{main}"
compatibility_date = "2026-11-01"
[[d1_databases]]
binding = "DB"
database_name = "byok"
database_id = "00000000-0000-0000-0000-000000000000"
migrations_dir = "{migrations}"
[[kv_namespaces]]
binding = "KV"
id = "00000000000000000000000000000000"
[vars]
DEV_MODE = "true"
"#,
                main = main.display(),
                migrations = root.join("worker/migrations").display()
            ),
        )
        .expect("wrangler.toml");
        let mut secret = [0u8; 32];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut secret);
        let auth_secret: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        let keyring =
            KeyringDocument::generate(KeyId::parse("e2e").expect("id"), &mut rand_core::OsRng)
                .expect("keyring");
        let mut vars = std::fs::File::create(dir.join(".dev.vars")).expect(".dev.vars");
        writeln!(
            vars,
            "AUTH_SECRET=\"{auth_secret}\"\nBYOK_KEYRING='{}'",
            keyring.to_json().as_str()
        )
        .expect("write");

        let config = dir.join("wrangler.toml");
        let state = dir.join("state");
        let status = wrangler(&root)
            .args(["d1", "migrations", "apply", "DB", "--local"])
            .arg("--config")
            .arg(&config)
            .arg("--persist-to")
            .arg(&state)
            .stdout(Stdio::null())
            .status()
            .expect("wrangler d1 migrations apply (is Node >= 22 on PATH? source script/lib.sh)");
        assert!(status.success(), "applying migrations failed");

        let port = free_port();
        let log = std::fs::File::create(dir.join("wrangler.log")).expect("log");
        let mut cmd = wrangler(&root);
        cmd.args([
            "dev",
            "--local",
            "--ip",
            "127.0.0.1",
            "--show-interactive-dev-session=false",
            "--log-level",
            "warn",
        ])
        .arg("--config")
        .arg(&config)
        .arg("--persist-to")
        .arg(&state)
        .args([
            "--port",
            &port.to_string(),
            "--inspector-port",
            &free_port().to_string(),
        ])
        .stdout(log.try_clone().expect("log"))
        .stderr(log);
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd.spawn().expect("wrangler dev");
        let edge = Edge {
            child,
            base: format!("http://127.0.0.1:{port}"),
            dir,
            auth_secret,
        };
        edge.wait_healthy();
        edge
    }

    fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(90);
        let url = format!("{}/healthz", self.base);
        while Instant::now() < deadline {
            if let Ok(mut s) = std::net::TcpStream::connect(
                url.trim_start_matches("http://")
                    .trim_end_matches("/healthz"),
            ) {
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
        let log = std::fs::read_to_string(self.dir.join("wrangler.log")).unwrap_or_default();
        panic!("the Worker did not become healthy at {url}; wrangler said:\n{log}");
    }

    /// A token signed with this edge's secret.
    pub fn token(&self, role: &str, tenant: &str) -> String {
        self.token_with(role, tenant, 3600, &self.auth_secret)
    }

    /// A token signed with this edge's secret and a chosen lifetime (negative: expired).
    pub fn token_ttl(&self, role: &str, tenant: &str, ttl: i64) -> String {
        self.token_with(role, tenant, ttl, &self.auth_secret)
    }

    /// A token with a chosen lifetime (negative: expired) and signing secret.
    pub fn token_with(&self, role: &str, tenant: &str, ttl: i64, secret: &str) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let claims = serde_json::json!({"sub": format!("{role}@{tenant}"), "tenant": tenant, "role": role, "exp": now + ttl});
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .expect("token")
    }

    /// Pushes every seed (entry and logo) as a platform admin.
    pub async fn seed(&self) {
        let client = reqwest::Client::new();
        let token = self.token("platform-admin", "platform");
        for dir in std::fs::read_dir(root().join("seeds")).expect("seeds") {
            let dir = dir.expect("dir").path();
            let key = dir
                .file_name()
                .and_then(|n| n.to_str())
                .expect("name")
                .to_owned();
            let entry = std::fs::read_to_string(dir.join("entry.json")).expect("entry");
            let r = client
                .put(format!("{}/v1/admin/providers/{key}", self.base))
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body(entry)
                .send()
                .await
                .expect("push");
            assert!(
                r.status().is_success(),
                "seeding {key}: {}",
                r.text().await.unwrap_or_default()
            );
            let logo = std::fs::read(dir.join("logo.svg")).expect("logo");
            let r = client
                .put(format!("{}/v1/admin/providers/{key}/logo", self.base))
                .bearer_auth(&token)
                .header("content-type", "image/svg+xml")
                .body(logo)
                .send()
                .await
                .expect("logo");
            assert!(r.status().is_success(), "logo of {key}");
        }
    }
}

impl Drop for Edge {
    fn drop(&mut self) {
        // wrangler and workerd run in the child's process group: stop all of them.
        let group = format!("-{}", self.child.id());
        let kill = |signal: &str| {
            let _ = Command::new("kill")
                .args([signal, "--", &group])
                .stderr(Stdio::null())
                .status();
        };
        kill("-TERM");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        kill("-KILL");
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
