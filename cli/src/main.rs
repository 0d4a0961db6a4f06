//! `byok`: the command line for plugin authors and platform admins.

mod admin;
mod kit;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context as _, Result};
use byok_core::auth::Role;
use byok_core::catalog::{CatalogEntry, EgressRule, Scheme};
use byok_core::ids::ProviderKey;
use byok_plugin_host::egress_reqwest::ReqwestEgress;
use byok_plugin_host::{Backend, Limits, PluginEngine, RunInput};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "byok",
    version,
    about = "BYOK integrations: plugin and admin tools"
)]
struct Cli {
    #[command(subcommand)]
    command: Top,
}

#[derive(Subcommand)]
enum Top {
    /// Build, check and run connection-test plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Create and rotate BYOK_KEYRING documents (see the README's "Rotating the master key").
    #[command(subcommand)]
    Keyring(KeyringCommand),
    /// Mint a token: user roles are signed with AUTH_SECRET, `service` with
    /// SERVICE_AUTH_SECRET, each read from the environment or else from --dev-vars.
    Token {
        #[arg(long, default_value = "owner", value_parser = parse_role)]
        role: Role,
        #[arg(long, default_value = "demo")]
        tenant: String,
        #[arg(long, default_value = "dev-cli")]
        sub: String,
        #[arg(long, default_value = ".dev.vars")]
        dev_vars: PathBuf,
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
        #[command(flatten)]
        to: admin::Audience,
        #[command(flatten)]
        scope: admin::TokenScope,
    },
    /// Manage catalog entries (as platform-admin).
    #[command(subcommand)]
    Provider(ProviderCommand),
    /// Manage the platform's fallback keys (as platform-admin).
    #[command(subcommand)]
    PlatformKey(PlatformKeyCommand),
    /// Check webhooks the service sent (Standard Webhooks), as the platform's developers do.
    #[command(subcommand)]
    Webhook(WebhookCommand),
    /// Move tenants between D1 databases (as platform-admin; docs/capacity.md, "Adding a
    /// database").
    #[command(subcommand)]
    Moves(MovesCommand),
}

#[derive(Subcommand)]
enum MovesCommand {
    /// Shows the databases tenants are spread over (D1_SHARDS) and where a move under way goes
    /// (D1_SHARDS_NEXT).
    Status {
        #[command(flatten)]
        remote: Remote,
    },
    /// While a move is under way: copies every moving tenant's rows to the database it moves
    /// to, database by database. Safe to run again: a tenant copied before is left as it is.
    Copy {
        #[command(flatten)]
        remote: Remote,
    },
    /// Once D1_SHARDS lists the new databases (and D1_SHARDS_NEXT is gone): deletes the rows
    /// each database keeps about tenants another one now serves, when that one recorded their
    /// copy, and only while they are as the copy saw them. Exits 1 when any tenant's rows were kept.
    Prune {
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(Subcommand)]
enum WebhookCommand {
    /// Checks a received delivery: its body (exact bytes) and its three headers against the
    /// secret. Exit 0 when it verifies, 1 with the reason when it does not.
    Verify {
        /// The received body, byte for byte (`-` for standard input).
        #[arg(long)]
        body: PathBuf,
        /// The `webhook-id` header.
        #[arg(long)]
        id: String,
        /// The `webhook-timestamp` header (Unix seconds).
        #[arg(long)]
        timestamp: String,
        /// The `webhook-signature` header (`v1,<base64>`, several separated by spaces).
        #[arg(long)]
        signature: String,
        /// The secret (`whsec_...`): from the environment, so it stays out of shell history.
        #[arg(long, env = "WEBHOOK_SECRET", hide_env_values = true)]
        secret: String,
        /// Check as if at this Unix time (default: now), to look at an old delivery.
        #[arg(long)]
        now: Option<u64>,
    },
    /// Lists status events by the state of their webhook (as platform-admin): the dead letters
    /// by default.
    List {
        #[arg(long, default_value = "dead", value_parser = ["dead", "pending", "delivered", "none"])]
        delivery: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Sends an event's webhook again (as platform-admin), once its receiver is mended: a new
    /// series of attempts with the same webhook-id and body.
    Redeliver {
        /// The event's id (`msg_...`, the webhook-id), as `byok webhook list` shows it.
        id: String,
        #[command(flatten)]
        remote: Remote,
    },
}

/// `byok webhook verify`: the core's verification, with the reason in words on failure.
fn verify_webhook(
    body: &Path,
    id: &str,
    timestamp: &str,
    signature: &str,
    secret: &str,
    now: Option<u64>,
) -> Result<()> {
    use byok_core::webhook::{verify, WebhookSecret};
    let secret = WebhookSecret::parse(secret).map_err(|e| anyhow::anyhow!("{e}"))?;
    let bytes = if body == Path::new("-") {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut b).context("reading stdin")?;
        b
    } else {
        std::fs::read(body).with_context(|| format!("reading {}", body.display()))?
    };
    let now = match now {
        Some(n) => n,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .context("the clock")?
            .as_secs(),
    };
    match verify(
        &secret,
        Some(id),
        Some(timestamp),
        Some(signature),
        &bytes,
        now,
    ) {
        Ok(()) => {
            println!(
                "valid: {id} was signed with this secret ({} bytes)",
                bytes.len()
            );
            Ok(())
        }
        Err(e) => {
            eprintln!("invalid: {e}");
            std::process::exit(1);
        }
    }
}

fn parse_role(s: &str) -> std::result::Result<Role, String> {
    Role::parse(s).ok_or_else(|| "one of member, owner, platform-admin, service".to_owned())
}

#[derive(Subcommand)]
enum KeyringCommand {
    /// Print a new keyring document: one primary key and a fingerprint key.
    New {
        #[arg(long, default_value = "k1")]
        id: String,
    },
    /// Add a fresh primary key to a document (from FILE, or standard input) and print it; the
    /// old keys stay to open what they sealed until `POST /v1/admin/keyring/reseal` is done.
    Rotate {
        #[arg(long)]
        id: String,
        file: Option<PathBuf>,
    },
    /// Remove a key that nothing is sealed under any more, and print the document.
    Drop {
        #[arg(long)]
        id: String,
        file: Option<PathBuf>,
    },
    /// List a document's key ids and which is primary (no key material).
    Ids { file: Option<PathBuf> },
}

/// A keyring document from a file or standard input (never from the command line).
fn read_document(file: Option<&Path>) -> Result<String> {
    match file {
        Some(f) => std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display())),
        None => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                .context("reading the keyring document from standard input")?;
            Ok(s)
        }
    }
}

#[derive(clap::Args)]
struct Remote {
    /// The service's base URL.
    #[arg(long, env = "BYOK_URL", default_value = "http://127.0.0.1:8787")]
    url: String,
    /// A platform-admin token; minted from --dev-vars when absent.
    #[arg(long, env = "BYOK_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Where AUTH_SECRET is read from when neither --token nor the AUTH_SECRET variable is set.
    #[arg(long, default_value = ".dev.vars")]
    dev_vars: PathBuf,
    #[command(flatten)]
    to: admin::Audience,
}

impl Remote {
    fn client(&self) -> Result<admin::Client> {
        let token = match &self.token {
            Some(t) => t.clone(),
            None => admin::token(
                &admin::signing_secret(Role::PlatformAdmin, &self.dev_vars)?,
                "byok-cli",
                "platform",
                Role::PlatformAdmin,
                600,
                &self.to,
                &admin::TokenScope::default(),
            )?,
        };
        admin::Client::new(&self.url, token)
    }
}

#[derive(Subcommand)]
enum ProviderCommand {
    /// Create or update an entry from a folder (entry.json, and its logo if present).
    Push {
        dirs: Vec<PathBuf>,
        /// A logo file (SVG or PNG) instead of the folder's.
        #[arg(long)]
        logo: Option<PathBuf>,
        /// The entry's test plugin (a component), uploaded before the entry. Its digest
        /// must be the one the entry names.
        #[arg(long, conflicts_with = "plugins_dir")]
        plugin: Option<PathBuf>,
        /// A folder of built plugins: for each entry, the component whose digest it names.
        #[arg(long)]
        plugins_dir: Option<PathBuf>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Check entry folders offline as the upload will: validation, fixtures, the digest of
    /// the plugin file, and (given the plugin) the conformance suite. Exit 1 if any fails.
    Check {
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// The entry's test plugin (its digest must be the one the entry names).
        #[arg(long, conflicts_with = "plugins_dir")]
        plugin: Option<PathBuf>,
        /// A folder of built plugins: the one whose digest the entry names is used.
        #[arg(long)]
        plugins_dir: Option<PathBuf>,
    },
    /// Retire an entry: it leaves the Marketplace; installs keep their keys.
    Retire {
        key: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// List the active catalog.
    List {
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(Subcommand)]
enum PlatformKeyCommand {
    /// Set the platform key for a provider, read from --from-env or standard input (never
    /// from the command line).
    Set {
        provider: String,
        #[arg(long)]
        from_env: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Build plugin crates into components that import nothing
    /// (wasm32-unknown-unknown, then wrapped as a component).
    Build {
        /// Plugin crate folders, e.g. plugins/anthropic.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Where to write the components (default: $CARGO_TARGET_DIR/plugins).
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
    /// Check that a file is a plugin this host runs: a component of a supported contract that
    /// imports nothing.
    Check { file: PathBuf },
    /// Scaffold a provider: seeds/KEY/ with entry.json, fixtures.json and a logo, tested by
    /// the declarative http-check plugin; with --crate, also a plugin crate in plugins/KEY.
    New {
        key: String,
        /// Write a plugin crate too (for a test http-check cannot express).
        #[arg(long = "crate")]
        with_crate: bool,
        /// Where entry folders live.
        #[arg(long, default_value = "seeds")]
        seeds: PathBuf,
        /// Where plugin crates live.
        #[arg(long, default_value = "plugins")]
        plugins: PathBuf,
    },
    /// Run each entry's fixtures and the host's cases (the conformance suite an upload must
    /// pass) through its plugin on Cranelift and on Pulley, and print a table. Exit 1 if any
    /// case fails.
    Test {
        /// Entry folders (entry.json and fixtures.json), e.g. seeds/mistral.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// The plugin to run (its digest must be the one the entry names).
        #[arg(long, conflicts_with = "plugins_dir")]
        plugin: Option<PathBuf>,
        /// A folder of built plugins (default: $CARGO_TARGET_DIR/plugins): the component whose
        /// digest the entry names is used.
        #[arg(long)]
        plugins_dir: Option<PathBuf>,
        /// Print only failing entries' tables.
        #[arg(long)]
        quiet: bool,
    },
    /// Run a plugin's connection test for real, printing each request (without the secret).
    Run {
        file: PathBuf,
        /// The catalog entry folder, e.g. seeds/anthropic.
        #[arg(long)]
        entry: PathBuf,
        /// The environment variable holding the secret (never pass a secret as an argument).
        #[arg(long)]
        secret_env: String,
        /// Another credential field, from an environment variable: NAME=ENV_VAR.
        #[arg(long = "field-env", value_name = "NAME=ENV_VAR")]
        fields: Vec<String>,
        /// Override a config value: KEY=VALUE (e.g. base_url=http://127.0.0.1:9000); a dotted
        /// KEY sets a nested value (auth.name=X-Key), and a VALUE that is JSON is set as JSON.
        #[arg(long = "config", value_name = "KEY=VALUE")]
        config: Vec<String>,
        /// Also allow this origin (e.g. http://127.0.0.1:9000), for local fakes.
        #[arg(long = "allow", value_name = "ORIGIN")]
        allow: Vec<String>,
        /// Run on Pulley, the interpreter used inside the Worker, instead of Cranelift.
        #[arg(long)]
        pulley: bool,
        /// Answer from the fixture case with this `when` keyword (the entry's fixtures.json)
        /// instead of the network: no fake server, no provider.
        #[arg(long, value_name = "WHEN")]
        case: Option<String>,
    },
}

/// Runs a move's `step` (copy or prune) over every database the service lists, each to its
/// end, printing what each call did.
fn walk_moves(remote: &Remote, step: &str) -> Result<()> {
    let client = remote.client()?;
    let rt = runtime()?;
    let status = rt.block_on(client.moves())?;
    let databases: Vec<String> = status["databases"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d.as_str().map(str::to_owned))
        .collect();
    let (mut done, mut kept) = (0usize, 0usize);
    for database in &databases {
        let mut after: Option<String> = None;
        loop {
            let report = rt.block_on(client.move_step(step, database, after.as_deref()))?;
            for t in report["done"].as_array().into_iter().flatten() {
                done += 1;
                println!(
                    "{database}: {} {} {} ({})",
                    t["tenant"].as_str().unwrap_or(""),
                    if step == "copy" {
                        "copied to"
                    } else {
                        "removed, served by"
                    },
                    t["to"].as_str().unwrap_or(""),
                    t["rows"]
                );
            }
            for k in report["kept"].as_array().into_iter().flatten() {
                kept += 1;
                eprintln!(
                    "{database}: kept {}: {}",
                    k["tenant"].as_str().unwrap_or(""),
                    k["why"].as_str().unwrap_or("")
                );
            }
            match report["next"].as_str() {
                Some(next) => after = Some(next.to_owned()),
                None => break,
            }
        }
    }
    println!(
        "{step}: {done} tenant(s) {} over {} database(s)",
        if step == "copy" { "copied" } else { "removed" },
        databases.len()
    );
    if kept > 0 {
        bail!("{kept} tenant(s) kept: their rows stay where they are (see above)");
    }
    Ok(())
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Errors are printed as their chain of causes, without a backtrace (a user's mistake is not a
/// crash), and exit 1.
fn main() -> std::process::ExitCode {
    match run_command() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run_command() -> Result<()> {
    match Cli::parse().command {
        Top::Keyring(command) => {
            let out = match command {
                KeyringCommand::New { id } => admin::keyring_new(&id)?,
                KeyringCommand::Rotate { id, file } => {
                    admin::keyring_rotate(&read_document(file.as_deref())?, &id)?
                }
                KeyringCommand::Drop { id, file } => {
                    admin::keyring_drop(&read_document(file.as_deref())?, &id)?
                }
                KeyringCommand::Ids { file } => {
                    admin::keyring_ids(&read_document(file.as_deref())?)?
                }
            };
            println!("{out}");
            Ok(())
        }
        Top::Token {
            role,
            tenant,
            sub,
            dev_vars,
            ttl,
            to,
            scope,
        } => {
            let secret = admin::signing_secret(role, &dev_vars)?;
            println!(
                "{}",
                admin::token(&secret, &sub, &tenant, role, ttl, &to, &scope)?
            );
            Ok(())
        }
        Top::Provider(ProviderCommand::Push {
            dirs,
            logo,
            plugin,
            plugins_dir,
            remote,
        }) => {
            let client = remote.client()?;
            // Every folder is read and its plugin found before anything is sent.
            let mut plan = Vec::new();
            for dir in &dirs {
                let entry = kit::EntryDir::read(dir)?;
                let file = kit::find_plugin(&entry, plugin.as_deref(), plugins_dir.as_deref())?;
                plan.push((entry, file));
            }
            runtime()?.block_on(async {
                // Several entries share a plugin (http-check): upload each file once.
                let mut sent = std::collections::BTreeSet::new();
                for (entry, file) in &plan {
                    let upload = file.as_deref().filter(|f| sent.insert(f.to_path_buf()));
                    client.push_provider(entry, logo.clone(), upload).await?;
                }
                Ok(())
            })
        }
        Top::Provider(ProviderCommand::Check {
            dirs,
            plugin,
            plugins_dir,
        }) => {
            let mut ok = true;
            for dir in &dirs {
                ok &= kit::check_entry(dir, plugin.as_deref(), plugins_dir.as_deref())?;
            }
            if !ok {
                std::process::exit(1);
            }
            Ok(())
        }
        Top::Provider(ProviderCommand::Retire { key, remote }) => {
            runtime()?.block_on(remote.client()?.retire(&key))?;
            println!("{key}: retired (installs keep their keys)");
            Ok(())
        }
        Top::Provider(ProviderCommand::List { remote }) => {
            let list = runtime()?.block_on(remote.client()?.list_providers())?;
            for p in list["providers"].as_array().into_iter().flatten() {
                println!(
                    "{:<18} {:<18} {}",
                    p["key"].as_str().unwrap_or(""),
                    p["category"].as_str().unwrap_or("Other"),
                    p["name"].as_str().unwrap_or("")
                );
            }
            Ok(())
        }
        Top::PlatformKey(PlatformKeyCommand::Set {
            provider,
            from_env,
            remote,
        }) => {
            let key = admin::read_secret(from_env.as_deref())?;
            let answer = runtime()?.block_on(remote.client()?.set_platform_key(&provider, key))?;
            println!(
                "platform key for {provider} saved: {}",
                answer["mask"]["masked"].as_str().unwrap_or("")
            );
            Ok(())
        }
        Top::Webhook(WebhookCommand::Verify {
            body,
            id,
            timestamp,
            signature,
            secret,
            now,
        }) => verify_webhook(&body, &id, &timestamp, &signature, &secret, now),
        Top::Webhook(WebhookCommand::List { delivery, remote }) => {
            let list = runtime()?.block_on(remote.client()?.webhooks(&delivery))?;
            for e in list["events"].as_array().into_iter().flatten() {
                println!(
                    "{}  {}  {:<10} {:<18} {} -> {}  {} attempts",
                    e["id"].as_str().unwrap_or(""),
                    e["at"].as_str().unwrap_or(""),
                    e["tenant"].as_str().unwrap_or(""),
                    e["provider"].as_str().unwrap_or(""),
                    e["from"].as_str().unwrap_or(""),
                    e["to"].as_str().unwrap_or(""),
                    e["attempts"].as_u64().unwrap_or(0)
                );
            }
            Ok(())
        }
        Top::Moves(MovesCommand::Status { remote }) => {
            let status = runtime()?.block_on(remote.client()?.moves())?;
            println!("{}", serde_json::to_string_pretty(&status)?);
            Ok(())
        }
        Top::Moves(MovesCommand::Copy { remote }) => walk_moves(&remote, "copy"),
        Top::Moves(MovesCommand::Prune { remote }) => walk_moves(&remote, "prune"),
        Top::Webhook(WebhookCommand::Redeliver { id, remote }) => {
            runtime()?.block_on(remote.client()?.redeliver(&id))?;
            println!("{id}: queued again");
            Ok(())
        }
        Top::Plugin(PluginCommand::Build { dirs, out_dir }) => build(&dirs, out_dir),
        Top::Plugin(PluginCommand::Check { file }) => check(&file),
        Top::Plugin(PluginCommand::New {
            key,
            with_crate,
            seeds,
            plugins,
        }) => {
            let http_check = std::fs::read(target_dir().join("plugins/http-check.wasm"))
                .ok()
                .map(|b| kit::sha256_hex(&b));
            let digest_set = http_check.is_some() && !with_crate;
            let written = kit::scaffold(
                &key,
                &seeds,
                with_crate.then_some(plugins.as_path()),
                http_check,
            )?;
            for path in &written {
                println!("wrote {}", path.display());
            }
            let dir = seeds.join(&key);
            println!("\nNext (docs/plugin-guide.md walks through each):");
            println!(
                "  1. fill in {}/entry.json and fixtures.json from the provider's docs",
                dir.display()
            );
            if with_crate {
                println!("  2. write plugins/{key}/src/lib.rs (cargo test -p byok-plugin-{key} runs its unit tests), then: script/build-plugins --update-seeds");
            } else if digest_set {
                println!("  2. (http-check's digest is already in the entry; after changing http-check, script/build-plugins --update-seeds)");
            } else {
                println!("  2. script/build-plugins --update-seeds   (builds http-check and puts its digest in the entry)");
            }
            println!("  3. byok plugin test {}", dir.display());
            println!(
                "  4. byok provider check {} --plugins-dir \"$CARGO_TARGET_DIR/plugins\"",
                dir.display()
            );
            println!("  5. byok provider push {} --plugins-dir \"$CARGO_TARGET_DIR/plugins\"   (to http://127.0.0.1:8787; --url for another)", dir.display());
            Ok(())
        }
        Top::Plugin(PluginCommand::Test {
            dirs,
            plugin,
            plugins_dir,
            quiet,
        }) => {
            let plugins_dir = plugins_dir.unwrap_or_else(|| target_dir().join("plugins"));
            let mut ok = true;
            let mut tester = kit::Tester::new()?;
            for dir in &dirs {
                let entry = kit::EntryDir::read(dir)?;
                let dir_for_find = plugin.is_none().then_some(plugins_dir.as_path());
                match kit::find_plugin(&entry, plugin.as_deref(), dir_for_find)? {
                    Some(file) => ok &= kit::test_entry(&mut tester, &entry, &file, quiet)?,
                    None => bail!("{} names no test plugin: nothing to test", dir.display()),
                }
            }
            if !ok {
                std::process::exit(1);
            }
            Ok(())
        }
        Top::Plugin(PluginCommand::Run {
            file,
            entry,
            secret_env,
            fields,
            config,
            allow,
            pulley,
            case,
        }) => run(
            &file,
            &entry,
            &RunOptions {
                secret_env: &secret_env,
                field_envs: &fields,
                overrides: &config,
                allow: &allow,
                pulley,
                case: case.as_deref(),
            },
        ),
    }
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"))
}

fn build(dirs: &[PathBuf], out_dir: Option<PathBuf>) -> Result<()> {
    let out_dir = out_dir.unwrap_or_else(|| target_dir().join("plugins"));
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let engine = PluginEngine::new(Backend::Cranelift, Limits::default())?;
    for dir in dirs {
        let module = cargo_build_wasm(dir)?;
        let bytes =
            std::fs::read(&module).with_context(|| format!("reading {}", module.display()))?;
        let component = wit_component::ComponentEncoder::default()
            .module(&bytes)
            .context("reading the module's component type (is the crate using byok-plugin-sdk's export_plugin!?)")?
            .validate(true)
            .encode()
            .context("wrapping the module as a component")?;
        let plugin = engine.load(&component).with_context(|| {
            format!(
                "{}: the built component is not a valid plugin",
                dir.display()
            )
        })?;
        let name = module
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("plugin")
            .trim_start_matches("byok_plugin_")
            .replace('_', "-");
        let out = out_dir.join(format!("{name}.wasm"));
        std::fs::write(&out, &component).with_context(|| format!("writing {}", out.display()))?;
        println!(
            "{}  {} bytes  contract {}  sha256 {}",
            out.display(),
            component.len(),
            plugin.version().as_str(),
            plugin.digest_hex()
        );
    }
    Ok(())
}

/// Runs `cargo build --profile plugin --target wasm32-unknown-unknown` for one crate and returns
/// the `.wasm` module it produced.
fn cargo_build_wasm(dir: &Path) -> Result<PathBuf> {
    let manifest = dir.join("Cargo.toml");
    if !manifest.is_file() {
        bail!("{} has no Cargo.toml", dir.display());
    }
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--profile",
            "plugin",
            "--target",
            "wasm32-unknown-unknown",
        ])
        .args([
            "--message-format",
            "json-render-diagnostics",
            "--manifest-path",
        ])
        .arg(&manifest)
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("running cargo")?;
    if !output.status.success() {
        bail!("cargo build failed for {}", dir.display());
    }
    let mut found = None;
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let is_cdylib = msg["reason"] == "compiler-artifact"
            && msg["manifest_path"].as_str().map(Path::new)
                == Some(&std::fs::canonicalize(&manifest)?)
            && msg["target"]["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "cdylib"));
        if is_cdylib {
            found = msg["filenames"]
                .as_array()
                .and_then(|f| {
                    f.iter()
                        .filter_map(|f| f.as_str())
                        .find(|f| f.ends_with(".wasm"))
                })
                .map(PathBuf::from);
        }
    }
    found.with_context(|| {
        format!(
            "{}: no cdylib .wasm was built (crate-type = [\"cdylib\"]?)",
            dir.display()
        )
    })
}

fn check(file: &Path) -> Result<()> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let engine = PluginEngine::new(Backend::Cranelift, Limits::default())?;
    let plugin = engine
        .load(&bytes)
        .with_context(|| format!("{} is not a plugin this host runs", file.display()))?;
    println!(
        "ok: {}  {} bytes  contract {}  imports none  sha256 {}",
        file.display(),
        plugin.size(),
        plugin.version().as_str(),
        plugin.digest_hex()
    );
    Ok(())
}

fn env_value(var: &str) -> Result<String> {
    std::env::var(var).with_context(|| format!("environment variable {var} is not set"))
}

/// `byok plugin run`'s options beside the plugin and the entry.
struct RunOptions<'a> {
    secret_env: &'a str,
    field_envs: &'a [String],
    overrides: &'a [String],
    allow: &'a [String],
    pulley: bool,
    case: Option<&'a str>,
}

fn run(file: &Path, entry_dir: &Path, options: &RunOptions<'_>) -> Result<()> {
    let RunOptions {
        secret_env,
        field_envs,
        overrides,
        allow,
        pulley,
        case,
    } = *options;
    let key_name = entry_dir
        .file_name()
        .and_then(|n| n.to_str())
        .context("the entry folder has no name")?;
    let key = ProviderKey::parse(key_name)?;
    let json = std::fs::read_to_string(entry_dir.join("entry.json"))
        .with_context(|| format!("reading {}/entry.json", entry_dir.display()))?;
    let entry = CatalogEntry::from_json(key, &json)?;

    let mut config = entry
        .spec()
        .test_plugin
        .as_ref()
        .map(|p| p.config.clone())
        .unwrap_or_else(|| serde_json::json!({}));
    for o in overrides {
        let (k, v) = o.split_once('=').context("--config takes KEY=VALUE")?;
        kit::set_config(&mut config, k, v)?;
    }
    let mut egress = entry.spec().egress.clone();
    for origin in allow {
        let url = url_parts(origin)?;
        egress.push(url);
    }
    let secret = env_value(secret_env)?;
    let mut fields = Vec::new();
    for f in field_envs {
        let (name, var) = f
            .split_once('=')
            .context("--field-env takes NAME=ENV_VAR")?;
        fields.push((name.to_owned(), env_value(var)?));
    }

    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let backend = if pulley {
        Backend::Pulley
    } else {
        Backend::Cranelift
    };
    let engine = PluginEngine::new(backend, Limits::default())?;
    let plugin = engine.load(&bytes)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let config_json = config.to_string();
    let input = RunInput {
        secret: &secret,
        fields: &fields,
        config_json: &config_json,
        now_unix_seconds: now,
        egress: &egress,
    };
    for warning in engine.format_check(&plugin, &input)? {
        println!("format warning: {warning}");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = match case {
        Some(when) => {
            let fixtures = kit::EntryDir::read(entry_dir)?
                .entry
                .spec()
                .fixtures
                .clone()
                .with_context(|| format!("{} has no fixtures.json", entry_dir.display()))?;
            let index = fixtures
                .cases
                .iter()
                .position(|c| c.when.as_deref() == Some(when))
                .with_context(|| {
                    format!(
                        "no fixture case has \"when\": \"{when}\" (they have: {})",
                        fixtures
                            .cases
                            .iter()
                            .filter_map(|c| c.when.as_deref())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })?;
            let suite = byok_core::conformance::suite(&fixtures);
            println!("answering from fixture case \"{}\"", suite[index].name);
            let egress = byok_plugin_host::conformance::ScriptedEgress::new(&suite[index]);
            runtime.block_on(engine.run(&plugin, &input, &egress))
        }
        None => {
            let egress_impl = ReqwestEgress::new().map_err(anyhow::Error::msg)?;
            runtime.block_on(engine.run(&plugin, &input, &egress_impl))
        }
    };
    for x in &report.exchanges {
        match &x.result {
            Ok(status) => println!("{} {} -> {status}", x.method, x.url),
            Err(e) => println!("{} {} -> {e}", x.method, x.url),
        }
    }
    match report.result {
        Ok(o) => {
            println!(
                "verdict: {}",
                byok_core::conformance::verdict_name(o.verdict)
            );
            println!("message: {}", o.message);
            if let Some(label) = o.account_label {
                println!("account: {label}");
            }
            for w in o.warnings {
                println!("warning: {w}");
            }
            let code = verdict_exit_code(o.verdict);
            if code != 0 {
                std::process::exit(code);
            }
        }
        Err(byok_plugin_host::RunError::EgressDenied { origin }) => {
            // The host does not repeat an origin it refused; the config's URLs say which.
            let outside = kit::origins_outside(&config, &egress);
            let suggestion = if outside.is_empty() {
                "--allow ORIGIN (scheme://host:port of the URL it calls)".to_owned()
            } else {
                outside
                    .iter()
                    .map(|o| format!("--allow {o}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            bail!(
                "the plugin asked to reach {origin}, which the entry's egress rules do not allow. To run it against a local fake, add {suggestion}; for the real provider, add the origin to the entry's egress"
            )
        }
        Err(e) => bail!("plugin fault: {e}"),
    }
    Ok(())
}

/// `byok plugin run`'s exit code: 0 connected, then one code per verdict, so a script can
/// branch on it (1 stays "the command failed").
fn verdict_exit_code(v: byok_core::status::Verdict) -> i32 {
    use byok_core::status::Verdict::*;
    match v {
        Connected => 0,
        InvalidCredential => 2,
        InsufficientPermission => 3,
        RateLimited => 4,
        ProviderUnavailable => 5,
        UnexpectedResponse => 6,
    }
}

fn url_parts(origin: &str) -> Result<EgressRule> {
    let (scheme, rest) = origin
        .split_once("://")
        .context("--allow takes scheme://host[:port]")?;
    let scheme = match scheme {
        "https" => Scheme::Https,
        "http" => Scheme::Http,
        other => bail!("unsupported scheme {other}"),
    };
    let rest = rest.trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (h.to_owned(), Some(p.parse().context("bad port")?)),
        None => (rest.to_owned(), None),
    };
    Ok(EgressRule {
        scheme,
        host,
        port,
        path_prefix: None,
        methods: None,
    })
}
