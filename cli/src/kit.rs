//! The plugin author's kit: scaffold a provider (`byok plugin new`), run its fixtures and the
//! host's cases on both backends (`byok plugin test`), and check an entry folder offline as the
//! upload will (`byok provider check`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use byok_core::catalog::{CatalogEntry, ProviderSpec};
use byok_core::conformance::Fixtures;
use byok_core::ids::ProviderKey;
use byok_plugin_host::conformance::{run_suite, CaseRun};
use byok_plugin_host::{Backend, Limits, PluginEngine};
use sha2::{Digest, Sha256};

/// An entry folder read as the upload reads it: `entry.json` with `fixtures.json` beside it
/// merged in as `fixtures`, validated.
pub struct EntryDir {
    pub dir: PathBuf,
    pub entry: CatalogEntry,
}

impl EntryDir {
    pub fn read(dir: &Path) -> Result<Self> {
        let name = dir
            .canonicalize()
            .unwrap_or_else(|_| dir.to_path_buf())
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_owned)
            .context("the entry folder has no name")?;
        let key = ProviderKey::parse(&name).with_context(|| {
            format!("{}: the folder's name is the provider's key", dir.display())
        })?;
        let named: Option<String> = serde_json::from_str::<serde_json::Value>(
            &std::fs::read_to_string(dir.join("entry.json")).unwrap_or_default(),
        )
        .ok()
        .and_then(|v| v.get("key")?.as_str().map(str::to_owned));
        if let Some(named) = named.filter(|n| n != key.as_str()) {
            bail!(
                "{}: entry.json says \"key\": \"{named}\" but the folder is named {key}: the folder's name is the provider's key, so rename one to match",
                dir.display()
            );
        }
        let text = std::fs::read_to_string(dir.join("entry.json"))
            .with_context(|| format!("reading {}/entry.json", dir.display()))?;
        let mut spec: ProviderSpec = serde_json::from_str(&text)
            .with_context(|| format!("{}/entry.json is not a catalog entry", dir.display()))?;
        let fixtures_path = dir.join("fixtures.json");
        if fixtures_path.exists() {
            if spec.fixtures.is_some() {
                bail!(
                    "{}: fixtures are in both entry.json and fixtures.json; keep them in fixtures.json",
                    dir.display()
                );
            }
            let text = std::fs::read_to_string(&fixtures_path)
                .with_context(|| format!("reading {}", fixtures_path.display()))?;
            let fixtures: Fixtures = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a fixtures file", fixtures_path.display()))?;
            spec.fixtures = Some(fixtures);
        }
        let entry = CatalogEntry::new(key, spec).with_context(|| format!("{}", dir.display()))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            entry,
        })
    }

    /// The digest the entry names, if it has a test plugin.
    pub fn digest(&self) -> Option<&str> {
        self.entry
            .spec()
            .test_plugin
            .as_ref()
            .map(|t| t.digest.as_str())
    }

    /// The upload's JSON body: the entry with its fixtures.
    pub fn body(&self) -> Result<String> {
        Ok(serde_json::to_string(self.entry.spec())?)
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The component an entry names: `--plugin FILE` (which must have the entry's digest), else the
/// file in `plugins_dir` whose digest the entry names (any name: several entries share
/// `http-check.wasm`).
pub fn find_plugin(
    entry: &EntryDir,
    plugin: Option<&Path>,
    plugins_dir: Option<&Path>,
) -> Result<Option<PathBuf>> {
    let Some(digest) = entry.digest() else {
        if let Some(file) = plugin {
            bail!(
                "{} names no test plugin, so {} would not be used: add \"test_plugin\": {{\"digest\": \"{}\", \"config\": {{...}}}} to its entry.json",
                entry.dir.display(),
                file.display(),
                sha256_hex(&std::fs::read(file)?)
            );
        }
        return Ok(None);
    };
    if let Some(file) = plugin {
        let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        let got = sha256_hex(&bytes);
        if got != digest {
            bail!(
                "{}/entry.json names plugin {digest} but {} is {got}: if this file is the new plugin, put its digest in test_plugin.digest (script/build-plugins --update-seeds does it for the seeds); otherwise pass the file the entry names",
                entry.dir.display(),
                file.display()
            );
        }
        return Ok(Some(file.to_path_buf()));
    }
    let Some(dir) = plugins_dir else {
        return Ok(None);
    };
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .collect();
    names.sort();
    for path in names {
        if std::fs::read(&path).is_ok_and(|b| sha256_hex(&b) == digest) {
            return Ok(Some(path));
        }
    }
    bail!(
        "no component in {} has the digest {}/entry.json names ({digest}): build the plugins (script/build-plugins --update-seeds for the seeds, or byok plugin build DIR) or fix the digest",
        dir.display(),
        entry.dir.display()
    )
}

/// One case as both backends ran it.
struct Row {
    name: String,
    must: String,
    got: [String; 2],
    failure: Option<String>,
}

/// Both engines, and each plugin loaded once per engine (several entries share one plugin).
pub struct Tester {
    engines: [PluginEngine; 2],
    loaded: std::collections::HashMap<String, [byok_plugin_host::LoadedPlugin; 2]>,
    runtime: tokio::runtime::Runtime,
}

impl Tester {
    pub fn new() -> Result<Self> {
        Ok(Self {
            engines: [
                PluginEngine::new(Backend::Cranelift, Limits::default())?,
                PluginEngine::new(Backend::Pulley, Limits::default())?,
            ],
            loaded: std::collections::HashMap::new(),
            runtime: crate::runtime()?,
        })
    }

    fn load(&mut self, file: &Path) -> Result<&[byok_plugin_host::LoadedPlugin; 2]> {
        let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        let digest = sha256_hex(&bytes);
        if !self.loaded.contains_key(&digest) {
            let load = |e: &PluginEngine| {
                e.load(&bytes)
                    .with_context(|| format!("{} is not a plugin this host runs", file.display()))
            };
            let both = [load(&self.engines[0])?, load(&self.engines[1])?];
            self.loaded.insert(digest.clone(), both);
        }
        self.loaded.get(&digest).context("loaded")
    }
}

/// Runs `entry`'s suite through `file` on Cranelift and on Pulley. Both must pass every case
/// and agree on every verdict.
pub fn test_entry(tester: &mut Tester, entry: &EntryDir, file: &Path, quiet: bool) -> Result<bool> {
    let Some(fixtures) = entry.entry.spec().fixtures.as_ref() else {
        bail!(
            "{} has no fixtures.json: write the provider's documented answers (see docs/plugin-guide.md, \"Fixtures\"), at least a fake key refused and a working key",
            entry.dir.display()
        );
    };
    byok_core::conformance::validate(&entry.entry, fixtures)
        .with_context(|| format!("{}", entry.dir.display()))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let plugins = tester.load(file)?.clone();
    let contract = plugins[0].version().as_str().to_owned();
    let mut per_backend: Vec<Vec<CaseRun>> = Vec::new();
    for (engine, plugin) in tester.engines.iter().zip(&plugins) {
        per_backend.push(tester.runtime.block_on(run_suite(
            engine,
            plugin,
            &entry.entry,
            fixtures,
            now,
        )));
    }
    let rows: Vec<Row> = per_backend[0]
        .iter()
        .zip(&per_backend[1])
        .map(|(c, p)| {
            let failure = c.result.failure.clone().or_else(|| p.result.failure.clone()).or_else(|| {
                (c.result.got != p.result.got).then(|| {
                    format!(
                        "Cranelift and Pulley disagree ({} vs {}): report it, the Worker runs Pulley",
                        c.result.got, p.result.got
                    )
                })
            });
            Row {
                name: c.result.name.clone(),
                must: c.result.must.clone(),
                got: [c.result.got.clone(), p.result.got.clone()],
                failure,
            }
        })
        .collect();
    let failed = rows.iter().filter(|r| r.failure.is_some()).count();
    if !quiet || failed > 0 {
        println!(
            "{}  plugin {} (contract {contract})",
            entry.dir.display(),
            file.display()
        );
        let width = rows
            .iter()
            .map(|r| r.name.chars().count())
            .max()
            .unwrap_or(4)
            .clamp(4, 90);
        println!(
            "  {:<width$} {:<30} {:<24} {:<24}",
            "case", "must be", "cranelift", "pulley"
        );
        for r in &rows {
            println!(
                "  {:<width$} {:<30} {:<24} {:<24} {}",
                truncate(&r.name, 90),
                r.must,
                r.got[0],
                r.got[1],
                if r.failure.is_some() { "FAIL" } else { "ok" }
            );
            if let Some(why) = &r.failure {
                println!("      {why}");
            }
        }
    }
    println!(
        "{}: {} of {} cases passed on both backends",
        entry.dir.display(),
        rows.len() - failed,
        rows.len()
    );
    Ok(failed == 0)
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let cut: String = s.chars().take(n - 1).collect();
        format!("{cut}…")
    }
}

/// `byok provider check`: what the upload will refuse, found before pushing.
pub fn check_entry(dir: &Path, plugin: Option<&Path>, plugins_dir: Option<&Path>) -> Result<bool> {
    let entry = EntryDir::read(dir)?;
    if let Err(errors) = entry.entry.check_upload() {
        println!("{}: the upload would be refused:", dir.display());
        for e in &errors.0 {
            println!("  {}: {}", e.field, e.message);
        }
        return Ok(false);
    }
    if entry.entry.private_egress().is_some() {
        println!(
            "{}: note: its egress names a private or loopback address, which only a development server (DEV_MODE) accepts",
            dir.display()
        );
    }
    println!(
        "{}: entry valid, fixtures fit it, every config URL inside its egress rules",
        dir.display()
    );
    match find_plugin(&entry, plugin, plugins_dir)? {
        Some(file) => {
            let passed = test_entry(&mut Tester::new()?, &entry, &file, true)?;
            if passed {
                println!(
                    "{}: the upload would be accepted (plugin {})",
                    dir.display(),
                    file.display()
                );
            }
            Ok(passed)
        }
        None if entry.digest().is_some() => {
            println!(
                "{}: its plugin was not run (pass --plugin FILE or --plugins-dir DIR to run the conformance suite)",
                dir.display()
            );
            Ok(true)
        }
        None => {
            println!(
                "{}: no test plugin: keys are saved unverified",
                dir.display()
            );
            Ok(true)
        }
    }
}

/// The origins (`scheme://host:port`) of the URLs in a plugin config that no egress rule
/// allows.
pub fn origins_outside(
    config: &serde_json::Value,
    egress: &[byok_core::catalog::EgressRule],
) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![config];
    while let Some(v) = stack.pop() {
        match v {
            serde_json::Value::Object(m) => stack.extend(m.values()),
            serde_json::Value::Array(a) => stack.extend(a),
            serde_json::Value::String(s) => {
                let Ok(u) = url::Url::parse(s) else { continue };
                let (Some(host), Some(port)) = (u.host_str(), u.port_or_known_default()) else {
                    continue;
                };
                if !matches!(u.scheme(), "http" | "https") {
                    continue;
                }
                if !egress.iter().any(|r| r.allows(u.scheme(), host, port)) {
                    let origin = format!("{}://{host}:{port}", u.scheme());
                    if !out.contains(&origin) {
                        out.push(origin);
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// Sets `path` (`a.b.c`) in a JSON object to `value`: JSON if it parses as JSON (numbers,
/// booleans, lists, objects), else the text.
pub fn set_config(config: &mut serde_json::Value, path: &str, value: &str) -> Result<()> {
    let parsed =
        serde_json::from_str(value).unwrap_or_else(|_| serde_json::Value::String(value.to_owned()));
    let mut at = config;
    let parts: Vec<&str> = path.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        bail!("--config {path}=...: the path has an empty part");
    }
    for (i, part) in parts.iter().enumerate() {
        if !at.is_object() {
            if at.is_null() {
                *at = serde_json::json!({});
            } else {
                bail!("--config {path}: {} is not an object", parts[..i].join("."));
            }
        }
        let map = at.as_object_mut().context("an object")?;
        if i + 1 == parts.len() {
            map.insert((*part).to_owned(), parsed);
            return Ok(());
        }
        at = map
            .entry((*part).to_owned())
            .or_insert(serde_json::Value::Null);
    }
    Ok(())
}

/// `byok plugin new KEY`: an entry folder (and with `crate_dir`, a plugin crate) to fill in.
pub fn scaffold(
    key: &str,
    seeds: &Path,
    crate_dir: Option<&Path>,
    http_check_digest: Option<String>,
) -> Result<Vec<PathBuf>> {
    let key = ProviderKey::parse(key)?;
    let dir = seeds.join(key.as_str());
    if dir.exists() {
        bail!(
            "{} exists already: pick another key or edit it",
            dir.display()
        );
    }
    let name = title(key.as_str());
    let mut written = Vec::new();
    let (digest, config) = match crate_dir {
        None => (
            http_check_digest.unwrap_or_else(|| "0".repeat(64)),
            serde_json::json!({
                "method": "GET",
                "url": format!("https://api.{}.example/v1/me", key.as_str()),
                "auth": {"type": "bearer"},
                "headers": {"accept": "application/json"},
                "label_pointer": "/name"
            }),
        ),
        Some(_) => (
            "0".repeat(64),
            serde_json::json!({"base_url": format!("https://api.{}.example", key.as_str())}),
        ),
    };
    let entry = serde_json::json!({
        "key": key.as_str(),
        "name": name,
        "description": format!("Use your own {name} account: replace this with one sentence on what a tenant gets."),
        "category": "Other",
        "auth_type": "api-key",
        "credential_label": "API key",
        "credential_hint": "key_…",
        "help_url": format!("https://{}.example/settings/api-keys", key.as_str()),
        "help_instructions": [
            format!("Sign in to {name}."),
            "Open Settings → API keys and click Create key. Give it read access to the account (the connection test reads it).",
            "Copy the key. It is shown only once."
        ],
        "credential_fields": [{
            "name": "api_key",
            "label": "API key",
            "hint": "key_…",
            "secret": true,
            "pattern": "^key_[A-Za-z0-9]{20,}$"
        }],
        "test_plugin": {"digest": digest, "config": config},
        "egress": [{"scheme": "https", "host": format!("api.{}.example", key.as_str())}]
    });
    let fixtures = serde_json::json!({
        "checked": "YYYY-MM-DD",
        "credential": {"api_key": "key_FAKE00000000000000000000"},
        "cases": [
            {
                "name": "a wrong key is refused",
                "source": format!("https://{}.example/docs/errors", key.as_str()),
                "when": "badkey",
                "answers": [{"status": 401, "body": {"error": {"message": "Invalid API key"}}}],
                "expect": {"verdict": "invalid-credential"}
            },
            {
                "name": "a working key",
                "source": format!("https://{}.example/docs/api/me", key.as_str()),
                "when": "valid",
                "answers": [{"status": 200, "body": {"name": "Example Inc"}}],
                "expect": {"verdict": "connected", "label": "Example Inc"}
            },
            {
                "name": "rate limited",
                "source": format!("https://{}.example/docs/rate-limits", key.as_str()),
                "when": "ratelimit",
                "answers": [{"status": 429, "headers": {"retry-after": "10"}, "body": {"error": {"message": "Too many requests"}}}],
                "expect": {"verdict": "rate-limited"}
            }
        ]
    });
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let write = |path: PathBuf, text: String, written: &mut Vec<PathBuf>| -> Result<()> {
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
        Ok(())
    };
    write(
        dir.join("entry.json"),
        serde_json::to_string_pretty(&entry)? + "\n",
        &mut written,
    )?;
    write(
        dir.join("fixtures.json"),
        serde_json::to_string_pretty(&fixtures)? + "\n",
        &mut written,
    )?;
    let letter = name.chars().next().unwrap_or('?').to_uppercase();
    write(
        dir.join("logo.svg"),
        format!(
            r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" width="64" height="64" role="img" aria-label="{name}">
  <title>{name}</title>
  <rect width="64" height="64" rx="14" fill="#4B5563"/>
  <text x="32" y="32" dy="0.35em" text-anchor="middle" font-family="system-ui, -apple-system, 'Segoe UI', sans-serif" font-size="30" font-weight="700" fill="#FFFFFF">{letter}</text>
</svg>
"##
        ),
        &mut written,
    )?;
    if let Some(plugins) = crate_dir {
        let cdir = plugins.join(key.as_str());
        if cdir.exists() {
            bail!("{} exists already", cdir.display());
        }
        std::fs::create_dir_all(cdir.join("src"))?;
        write(
            cdir.join("Cargo.toml"),
            format!(
                r#"[package]
name = "byok-plugin-{key}"
version = "0.1.0"
description = "Connection test for {name} keys."
edition.workspace = true
rust-version.workspace = true
license.workspace = true
publish.workspace = true

[lib]
crate-type = ["cdylib", "rlib"]

[dependencies]
byok-plugin-sdk = {{ path = "../sdk" }}

[lints]
workspace = true
"#
            ),
            &mut written,
        )?;
        let ty = name.replace(' ', "");
        write(
            cdir.join("src/lib.rs"),
            format!(
                r##"//! Connection test for {name}: `GET /v1/me` with the key as a bearer token. Replace the
//! endpoint with the provider's cheapest authenticated read, one a made-up key cannot pass.

use byok_plugin_sdk::{{
    common_status, export_plugin, Context, Credential, Outcome, Plugin, Request, Response, Step,
    TransportError,
}};

pub struct {ty};

impl Plugin for {ty} {{
    fn start(credential: Credential, ctx: Context) -> (Self, Step) {{
        let base = ctx.base_url("https://api.{key}.example");
        let request = Request::get(format!("{{base}}/v1/me")).bearer(&credential.secret);
        ({ty}, Step::Send(request))
    }}

    fn resume(&mut self, response: Result<Response, TransportError>) -> Step {{
        Step::conclude(response, |r| match r.status {{
            200 => match r.json().and_then(|v| v.get("name")?.as_str().map(str::to_owned)) {{
                Some(name) => Outcome::connected("The key works.").with_label(name),
                None => Outcome::unexpected_status(r),
            }},
            _ => common_status(r).unwrap_or_else(|| Outcome::unexpected_status(r)),
        }})
    }}
}}

export_plugin!({ty});

#[cfg(test)]
mod tests {{
    use super::*;
    use byok_plugin_sdk::{{drive, Verdict}};

    fn answer(status: u16, body: &str) -> Outcome {{
        let ctx = Context::new(byok_plugin_sdk::json!({{}}), 0);
        let body = body.as_bytes().to_vec();
        drive::<{ty}>(Credential::new("key_FAKE0000"), ctx, 2, move |request| {{
            assert!(request.url.ends_with("/v1/me"));
            Ok(Response {{ status, headers: vec![], body: body.clone() }})
        }})
        .expect("done")
    }}

    #[test]
    fn a_working_key_names_the_account() {{
        let o = answer(200, r#"{{"name": "Example Inc"}}"#);
        assert_eq!((o.verdict, o.account_label.as_deref()), (Verdict::Connected, Some("Example Inc")));
    }}

    #[test]
    fn a_refused_key_is_invalid() {{
        assert_eq!(answer(401, r#"{{"error": {{"message": "Invalid API key"}}}}"#).verdict, Verdict::InvalidCredential);
    }}
}}
"##
            ),
            &mut written,
        )?;
    }
    Ok(written)
}

/// `mistral` → `Mistral`, `google-gemini` → `Google Gemini`.
fn title(key: &str) -> String {
    key.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_paths_nest_and_values_parse_as_json() {
        let mut c = serde_json::json!({"url": "https://x", "auth": {"type": "bearer"}});
        set_config(&mut c, "auth.name", "X-Key").expect("set");
        set_config(&mut c, "statuses.invalid-credential", "[400, 404]").expect("set");
        set_config(&mut c, "expect_json", "false").expect("set");
        set_config(&mut c, "url", "http://127.0.0.1:9/v1/me").expect("set");
        assert_eq!(
            c,
            serde_json::json!({"url": "http://127.0.0.1:9/v1/me",
                "auth": {"type": "bearer", "name": "X-Key"},
                "statuses": {"invalid-credential": [400, 404]}, "expect_json": false})
        );
        let err = set_config(&mut c, "url.x", "1").expect_err("url is text");
        assert!(err.to_string().contains("url is not an object"), "{err}");
    }

    #[test]
    fn titles_come_from_keys() {
        assert_eq!(title("google-gemini"), "Google Gemini");
        assert_eq!(title("xai"), "Xai");
    }
}
