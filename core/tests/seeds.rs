//! Every seeded catalog entry in `seeds/` validates, and its logo is a safe, original SVG.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use byok_core::catalog::CatalogEntry;
use byok_core::conformance::Fixtures;
use byok_core::credential::Credential;
use byok_core::ids::ProviderKey;
use byok_core::SecretString;

const LOGO_MAX_BYTES: usize = 8 * 1024;

/// The seeds of the clone being tested. Read at run time: a test binary reused from another
/// clone sharing the target directory would carry that clone's compile-time path.
fn seeds_dir() -> PathBuf {
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf());
    dir.join("../seeds")
}

fn load_all() -> BTreeMap<String, CatalogEntry> {
    let mut out = BTreeMap::new();
    for dir in fs::read_dir(seeds_dir()).expect("seeds/ exists") {
        let dir = dir.expect("entry").path();
        if !dir.is_dir() {
            continue;
        }
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .expect("utf-8 name")
            .to_owned();
        let key = ProviderKey::parse(&name).unwrap_or_else(|e| panic!("seeds/{name}: {e}"));
        let json = fs::read_to_string(dir.join("entry.json")).expect("entry.json");
        let entry =
            CatalogEntry::from_json(key, &json).unwrap_or_else(|e| panic!("seeds/{name}: {e}"));
        out.insert(name, entry);
    }
    out
}

fn fixtures_of(name: &str) -> Fixtures {
    let path = seeds_dir().join(name).join("fixtures.json");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_catalog_ships_the_seven_and_twenty_more_all_valid() {
    let seeds = load_all();
    let got: Vec<(&str, &str, &str)> = seeds
        .values()
        .map(|e| (e.key().as_str(), e.spec().name.as_str(), e.category_label()))
        .collect();
    for seven in [
        ("anthropic", "Anthropic", "AI"),
        ("google-calendar", "Google Calendar", "Calendar"),
        ("meta-ads", "Meta Ads", "Advertising"),
        ("openai", "OpenAI", "AI"),
        ("sendgrid", "SendGrid", "Email"),
        ("stripe", "Stripe", "Payments"),
        ("twilio", "Twilio", "Messaging"),
    ] {
        assert!(got.contains(&seven), "{seven:?} is seeded");
    }
    assert!(seeds.len() >= 27, "{} providers", seeds.len());
    for e in seeds.values() {
        let steps = e.spec().help_instructions.steps();
        assert!(steps.len() >= 3, "{}: step-by-step help", e.key());
        assert!(e.spec().help_url.starts_with("https://"), "{}", e.key());
        assert!(e.spec().credential_hint.is_some(), "{}: a hint", e.key());
    }
}

/// Every seed would be accepted by the admin API: its fixtures cite pages, include a fake key
/// refused and a working key, use a credential of the entry's shape, and every URL its test
/// reaches is inside its egress rules.
#[test]
fn every_seed_passes_the_upload_checks_with_its_fixtures() {
    for (name, entry) in load_all() {
        let mut spec = entry.spec().clone();
        spec.fixtures = Some(fixtures_of(&name));
        let with = CatalogEntry::new(entry.key().clone(), spec)
            .unwrap_or_else(|e| panic!("seeds/{name}: {e}"));
        with.check_upload()
            .unwrap_or_else(|e| panic!("seeds/{name}: {e}"));
    }
}

/// The made-up credential in every seed's fixtures has the usual shape (no warning), and a
/// value pasted into the wrong provider gets one.
#[test]
fn fixture_credentials_fit_their_patterns_and_wrong_pastes_warn() {
    for (name, entry) in load_all() {
        let fixtures = fixtures_of(&name);
        let fields = entry.credential_fields();
        let main = fields.iter().find(|f| f.secret).expect("a secret field");
        let secret = fixtures.credential[&main.name].clone();
        let others: BTreeMap<String, SecretString> = fixtures
            .credential
            .iter()
            .filter(|(k, _)| **k != main.name)
            .map(|(k, v)| (k.clone(), SecretString::from(v.clone())))
            .collect();
        let (_, warnings) = Credential::check(&entry, SecretString::from(secret), others.clone())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(warnings.is_empty(), "{name}: {warnings:?}");
        let (_, warnings) =
            Credential::check(&entry, SecretString::from("pasted the wrong thing"), others)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(warnings.len(), 1, "{name}: a wrong-looking key warns");
    }
}

#[test]
fn only_ai_providers_fall_back_to_the_platform_key() {
    for e in load_all().values() {
        let ai = e.spec().category.as_deref() == Some("AI");
        assert_eq!(e.spec().platform_fallback, ai, "{}", e.key());
    }
}

/// A provider key, a fake secret and the other fields.
type Typical = (&'static str, String, Vec<(&'static str, String)>);

/// Realistic-looking fake credentials (not real keys) pass each seed's pattern without a
/// warning, and a value pasted into the wrong provider gets one.
#[test]
fn seed_patterns_accept_typical_keys_and_warn_on_others() {
    let seeds = load_all();
    let hex32 = "0123456789abcdef0123456789abcdef";
    let typical: [Typical; 7] = [
        (
            "anthropic",
            format!("sk-ant-fake00-{}", "A".repeat(40)),
            vec![],
        ),
        ("openai", format!("sk-proj-{}", "b".repeat(48)), vec![]),
        ("stripe", format!("rk_test_{}", "C".repeat(24)), vec![]),
        (
            "twilio",
            hex32.to_owned(),
            vec![("account_sid", format!("AC{hex32}"))],
        ),
        (
            "sendgrid",
            format!("SG.{}.{}", "d".repeat(22), "e".repeat(43)),
            vec![],
        ),
        (
            "google-calendar",
            "{\n  \"type\": \"service_account\",\n  \"project_id\": \"demo\"\n}".to_owned(),
            vec![],
        ),
        (
            "meta-ads",
            format!("EAA{}", "f".repeat(60)),
            vec![("ad_account_id", "act_1234567890".to_owned())],
        ),
    ];
    for (key, secret, fields) in typical {
        let entry = &seeds[key];
        let fields: BTreeMap<String, SecretString> = fields
            .into_iter()
            .map(|(k, v)| (k.to_owned(), SecretString::from(v)))
            .collect();
        let (_, warnings) = Credential::check(entry, SecretString::from(secret), fields.clone())
            .unwrap_or_else(|e| panic!("{key}: {e}"));
        assert!(warnings.is_empty(), "{key}: {warnings:?}");

        let (_, warnings) =
            Credential::check(entry, SecretString::from("pasted-the-wrong-thing"), fields)
                .unwrap_or_else(|e| panic!("{key}: {e}"));
        assert_eq!(warnings.len(), 1, "{key}: a wrong-looking key warns");
    }
}

#[test]
fn logos_are_small_safe_svgs() {
    for name in load_all().keys() {
        let path = seeds_dir().join(name).join("logo.svg");
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(text.len() <= LOGO_MAX_BYTES, "{name}: logo too large");
        let doc = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "svg", "{name}");
        assert_eq!(
            root.tag_name().namespace(),
            Some("http://www.w3.org/2000/svg"),
            "{name}"
        );
        for node in doc.descendants().filter(|n| n.is_element()) {
            let tag = node.tag_name().name();
            assert!(
                !matches!(tag, "script" | "foreignObject" | "image" | "use" | "a"),
                "{name}: <{tag}> is not allowed in a logo"
            );
            for attr in node.attributes() {
                assert!(
                    !attr.name().starts_with("on"),
                    "{name}: event handler {}",
                    attr.name()
                );
                assert!(!attr.name().ends_with("href"), "{name}: no links in a logo");
            }
        }
        assert!(
            doc.descendants().any(|n| n.tag_name().name() == "title"),
            "{name}: a <title> for screen readers"
        );
    }
}
