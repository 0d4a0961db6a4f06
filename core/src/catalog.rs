//! The provider catalog: what platform admins keep as data, and its validation.
//!
//! A [`ProviderSpec`] is the JSON an admin sends (or a seed file holds): the source's fields in
//! snake_case plus richer optional ones. A [`CatalogEntry`] is a spec that passed
//! [`CatalogEntry::new`]; only validated entries exist past the API boundary.

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::ProviderKey;

/// How a tenant authenticates to the provider. The names are the API's (`api-key`, ...).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthType {
    /// One secret, such as `sk-ant-...`.
    ApiKey,
    /// A secret plus an identifier, such as Twilio's Account SID and Auth Token.
    KeyPair,
    /// A pasted JSON service-account key, such as Google's.
    ServiceAccount,
}

/// Step-by-step help, accepted as a list of steps or as one text (one step per line).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "InstructionsInput", into = "Vec<String>")]
pub struct Instructions(Vec<String>);

#[derive(Deserialize)]
#[serde(untagged)]
enum InstructionsInput {
    Steps(Vec<String>),
    Text(String),
}

impl From<InstructionsInput> for Instructions {
    fn from(input: InstructionsInput) -> Self {
        match input {
            InstructionsInput::Steps(steps) => Self(steps),
            InstructionsInput::Text(text) => Self(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect(),
            ),
        }
    }
}

impl From<Instructions> for Vec<String> {
    fn from(i: Instructions) -> Self {
        i.0
    }
}

impl Instructions {
    pub fn steps(&self) -> &[String] {
        &self.0
    }
}

/// One field of the credential form.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialField {
    /// Machine name, `snake_case`: the key of `"fields"` in requests. The first secret field
    /// travels as `"key"` instead.
    pub name: String,
    pub label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Secret fields are encrypted at rest and only ever shown masked.
    pub secret: bool,
    /// Optional fields may be left out (Twilio's API key SID, used only with an API key).
    /// The first secret field, the main key, is always required.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub required: bool,
    /// A paste area instead of a one-line input (service-account JSON).
    #[serde(default, skip_serializing_if = "is_false")]
    pub multiline: bool,
    /// A regular expression the value usually matches. A mismatch only warns: real keys break
    /// strict patterns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_true(b: &bool) -> bool {
    *b
}

fn yes() -> bool {
    true
}

/// The name the primary secret has when an entry declares no credential fields.
pub const DEFAULT_SECRET_FIELD: &str = "key";

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    Https,
    Http,
}

impl Scheme {
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Https => 443,
            Scheme::Http => 80,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Https => "https",
            Scheme::Http => "http",
        }
    }
}

/// An HTTP method an egress rule may limit a plugin to.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
}

impl HttpMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Head => "HEAD",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
        }
    }
}

/// One origin a test plugin may reach, optionally only under a path prefix and with some
/// methods (so that a plugin for a shared API host cannot call its destructive endpoints).
/// Plain `http` is allowed only for loopback hosts (local fakes of a provider), never on the
/// open network.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgressRule {
    pub scheme: Scheme,
    pub host: String,
    /// Defaults to the scheme's port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 65535))]
    pub port: Option<u16>,
    /// Only paths equal to this or under it (`/v1/` allows `/v1/models`, not `/v2/x`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_prefix: Option<String>,
    /// Only these methods; any when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub methods: Option<Vec<HttpMethod>>,
}

impl EgressRule {
    pub fn port_or_default(&self) -> u16 {
        self.port.unwrap_or_else(|| self.scheme.default_port())
    }

    /// Whether a request to `scheme://host:port` is allowed by this rule's origin. Host names
    /// compare case-insensitively; there are no wildcards.
    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        self.scheme.as_str().eq_ignore_ascii_case(scheme)
            && self.host.eq_ignore_ascii_case(host.trim_end_matches('.'))
            && self.port_or_default() == port
    }

    /// Whether a `method` request to `path` (already normalised: no dot segments) on an
    /// allowed origin is allowed by this rule's path prefix and methods.
    pub fn allows_request(&self, method: &str, path: &str) -> bool {
        let method_ok = self
            .methods
            .as_ref()
            .is_none_or(|ms| ms.iter().any(|m| m.as_str().eq_ignore_ascii_case(method)));
        let path_ok = self.path_prefix.as_deref().is_none_or(|prefix| {
            path == prefix.trim_end_matches('/')
                || path.starts_with(prefix)
                    && (prefix.ends_with('/') || path[prefix.len()..].starts_with('/'))
        });
        method_ok && path_ok
    }
}

/// The connection-test plugin an entry runs, named by the SHA-256 digest of its component.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestPlugin {
    /// Lowercase hex SHA-256 of the uploaded component.
    pub digest: String,
    /// Provider configuration handed to the plugin (base URL, API version...). A JSON object.
    #[serde(default = "empty_object")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub config: serde_json::Value,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

/// A catalog entry as JSON: what an admin sends and a seed file holds.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSpec {
    /// Optional in a body (the key comes from the path); when present it must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<ProviderKey>,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 80))]
    pub name: String,
    /// Where the logo is served from; absent until a logo is uploaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo: Option<String>,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 1000))]
    pub description: String,
    /// Absent means "Other".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 40))]
    pub category: Option<String>,
    pub auth_type: AuthType,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 80))]
    pub credential_label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub credential_hint: Option<String>,
    /// An absolute `https://` URL.
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^https://[^/?#]+", max_length = 2048)
    )]
    pub help_url: String,
    #[serde(default)]
    pub help_instructions: Instructions,
    /// The credential form. Empty means one secret field named `key`, labelled with
    /// `credential_label`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub credential_fields: Vec<CredentialField>,
    /// Whether the platform's own key may answer resolve when a tenant supplied none.
    #[serde(default, skip_serializing_if = "is_false")]
    pub platform_fallback: bool,
    /// The provider issues keys that expire (Meta access tokens): the forms ask when, and the
    /// service warns ahead. Any key may still be given an expiry through the API.
    #[serde(default, skip_serializing_if = "is_false")]
    pub keys_expire: bool,
    /// Provider answers that reject the key in real traffic, besides 401 and 403 (Anthropic's
    /// 402 for billing): a usage report with one of them re-tests the tenant's key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(schema_with = instructions_schema::rejection_statuses))]
    pub rejection_statuses: Vec<u16>,
    /// How often stored keys are re-tested, in hours per status (0: never). Absent: connected
    /// and invalid keys daily, unverified keys hourly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recheck: Option<crate::recheck::Recheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_plugin: Option<TestPlugin>,
    /// Origins the test plugin may reach.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<EgressRule>,
    /// Documented provider answers the test plugin must pass before the entry is saved (the
    /// conformance suite). Required with a test plugin; kept apart from the stored entry and
    /// never shown to tenants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixtures: Option<crate::conformance::Fixtures>,
    /// The entry's words in other languages (`fr`, `de`, `es`), each falling back to English
    /// field by field. Stored apart from the spec (a Worker one release older refuses fields
    /// it does not know); tenants see the entry in their language ([`ProviderSpec::localized`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = TranslationsDoc))]
    #[serde(deserialize_with = "words_by_language")]
    pub translations: BTreeMap<String, EntryWords>,
}

/// The document's shape of `translations`: one optional set of words per language, no other
/// member (the type the service reads is a map, whose other keys validation names).
#[cfg(feature = "openapi")]
#[derive(utoipa::ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct TranslationsDoc {
    #[serde(default)]
    fr: EntryWords,
    #[serde(default)]
    de: EntryWords,
    #[serde(default)]
    es: EntryWords,
}

/// `translations` as sent: each language's words must be a JSON object (serde would also
/// read a struct from an array, which the document does not allow).
fn words_by_language<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, EntryWords>, D::Error> {
    use serde::de::Error as _;
    BTreeMap::<String, serde_json::Value>::deserialize(d)?
        .into_iter()
        .map(|(lang, words)| {
            if !words.is_object() {
                return Err(D::Error::custom(
                    "each language's words must be an object, expected an object of words",
                ));
            }
            serde_json::from_value(words)
                .map(|w| (lang, w))
                .map_err(D::Error::custom)
        })
        .collect()
}

/// An entry's words in one language. Any may be left out: the English one shows instead.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryWords {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_hint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help_instructions: Option<Instructions>,
}

impl ProviderSpec {
    /// The entry as a reader of `lang` sees it: each translated word in place of the English
    /// one, the rest in English, and no translations left in the view.
    pub fn localized(&self, lang: crate::connect::Lang) -> ProviderSpec {
        let mut spec = self.clone();
        let words = spec.translations.remove(lang.as_str()).unwrap_or_default();
        spec.translations.clear();
        if let Some(name) = words.name {
            spec.name = name;
        }
        if let Some(description) = words.description {
            spec.description = description;
        }
        if let Some(label) = words.credential_label {
            // The single field's label follows the entry's (forms read the field's).
            if let [field] = spec.credential_fields.as_mut_slice() {
                if field.label == spec.credential_label {
                    field.label = label.clone();
                }
            }
            spec.credential_label = label;
        }
        if let Some(hint) = words.credential_hint {
            if let [field] = spec.credential_fields.as_mut_slice() {
                if field.hint.as_deref() == spec.credential_hint.as_deref() {
                    field.hint = Some(hint.clone());
                }
            }
            spec.credential_hint = Some(hint);
        }
        if let Some(steps) = words.help_instructions {
            spec.help_instructions = steps;
        }
        spec
    }
}

/// The rule a field broke. Stable names: clients may match on them.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    Required,
    Length,
    Format,
    MatchesPath,
    HttpsUrl,
    Unique,
    NeedsSecretField,
    ValidPattern,
    LoopbackOnlyHttp,
    NeedsEgress,
    Count,
    /// A plugin config value that looks like a credential: config is public.
    LooksLikeCredential,
    /// An egress host on a loopback, private or link-local address, outside development.
    PrivateHost,
    /// A URL in the plugin config that the entry's egress rules do not allow.
    OutsideEgress,
}

/// One broken rule, naming the field by its JSON path (`credential_fields[1].pattern`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub rule: Rule,
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Every rule an entry broke, not only the first.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid catalog entry: {}", join(.0))]
pub struct ValidationErrors(pub Vec<FieldError>);

fn join(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Limits on an entry's text, so that a catalog page stays readable and bounded.
pub mod limits {
    pub const NAME: usize = 80;
    pub const DESCRIPTION: usize = 1000;
    pub const CATEGORY: usize = 40;
    pub const LABEL: usize = 80;
    pub const HINT: usize = 200;
    pub const URL: usize = 2048;
    pub const STEPS: usize = 20;
    pub const STEP: usize = 500;
    pub const FIELDS: usize = 6;
    pub const PATTERN: usize = 256;
    pub const EGRESS_RULES: usize = 16;
    pub const PLUGIN_CONFIG_BYTES: usize = 16 * 1024;
}

/// A catalog entry that passed validation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(into = "ProviderSpec")]
pub struct CatalogEntry {
    key: ProviderKey,
    spec: ProviderSpec,
}

impl From<CatalogEntry> for ProviderSpec {
    fn from(entry: CatalogEntry) -> Self {
        entry.spec
    }
}

impl CatalogEntry {
    /// Validates `spec` as the entry for `key`. Every broken rule is reported.
    pub fn new(key: ProviderKey, mut spec: ProviderSpec) -> Result<Self, ValidationErrors> {
        let mut v = Validator::default();
        if let Some(body_key) = &spec.key {
            if body_key != &key {
                v.push(
                    "key",
                    Rule::MatchesPath,
                    format!("is '{body_key}' but the entry being saved is '{key}'"),
                );
            }
        }
        v.text("name", &spec.name, limits::NAME);
        v.text("description", &spec.description, limits::DESCRIPTION);
        if let Some(category) = &spec.category {
            v.text("category", category, limits::CATEGORY);
        }
        if let Some(logo) = &spec.logo {
            v.logo(logo);
        }
        v.text("credential_label", &spec.credential_label, limits::LABEL);
        if let Some(hint) = &spec.credential_hint {
            v.text("credential_hint", hint, limits::HINT);
        }
        v.https_url("help_url", &spec.help_url);
        v.count(
            "help_instructions",
            spec.help_instructions.steps().len(),
            limits::STEPS,
        );
        for (i, step) in spec.help_instructions.steps().iter().enumerate() {
            v.text(&format!("help_instructions[{i}]"), step, limits::STEP);
        }
        v.fields(&spec.credential_fields);
        for (lang, words) in &spec.translations {
            let at = |f: &str| format!("translations.{lang}.{f}");
            match crate::connect::Lang::parse(lang) {
                Some(l) if l != crate::connect::Lang::En && l.as_str() == lang => {}
                _ => v.push(
                    &format!("translations.{lang}"),
                    Rule::Format,
                    "must be one of fr, de, es (English is the entry itself)",
                ),
            }
            if let Some(name) = &words.name {
                v.text(&at("name"), name, limits::NAME);
            }
            if let Some(d) = &words.description {
                v.text(&at("description"), d, limits::DESCRIPTION);
            }
            if let Some(l) = &words.credential_label {
                v.text(&at("credential_label"), l, limits::LABEL);
            }
            if let Some(h) = &words.credential_hint {
                v.text(&at("credential_hint"), h, limits::HINT);
            }
            if let Some(steps) = &words.help_instructions {
                v.count(&at("help_instructions"), steps.steps().len(), limits::STEPS);
                for (i, step) in steps.steps().iter().enumerate() {
                    v.text(&at(&format!("help_instructions[{i}]")), step, limits::STEP);
                }
            }
        }
        v.count("rejection_statuses", spec.rejection_statuses.len(), 8);
        for (i, status) in spec.rejection_statuses.iter().enumerate() {
            if !(400..=499).contains(status) {
                v.push(
                    &format!("rejection_statuses[{i}]"),
                    Rule::Format,
                    "must be a 4xx status (a 5xx or 429 says nothing about the key)",
                );
            } else if *status == 429 {
                v.push(
                    &format!("rejection_statuses[{i}]"),
                    Rule::Format,
                    "must not be 429: a rate limit says nothing about the key",
                );
            }
        }
        if let Some(recheck) = &spec.recheck {
            for part in recheck.out_of_range() {
                v.push(
                    &format!("recheck.{part}"),
                    Rule::Format,
                    format!(
                        "must be at most {} hours (a year); 0 turns it off",
                        crate::recheck::MAX_HOURS
                    ),
                );
            }
        }
        v.egress(&spec.egress);
        if let Some(plugin) = &spec.test_plugin {
            v.plugin(plugin, spec.egress.is_empty());
        }
        v.finish()?;
        spec.key = Some(key.clone());
        Ok(Self { key, spec })
    }

    /// Parses and validates a seed file or request body for `key`.
    pub fn from_json(key: ProviderKey, json: &str) -> Result<Self, EntryParseError> {
        let spec: ProviderSpec = serde_json::from_str(json).map_err(EntryParseError::Json)?;
        Ok(Self::new(key, spec)?)
    }

    pub fn key(&self) -> &ProviderKey {
        &self.key
    }

    pub fn spec(&self) -> &ProviderSpec {
        &self.spec
    }

    pub fn into_spec(self) -> ProviderSpec {
        self.spec
    }

    /// The category to show: the entry's, or "Other" when it has none.
    pub fn category_label(&self) -> &str {
        self.spec.category.as_deref().unwrap_or("Other")
    }

    /// The credential form: the declared fields, or one secret field named `key`.
    pub fn credential_fields(&self) -> Vec<CredentialField> {
        if self.spec.credential_fields.is_empty() {
            vec![CredentialField {
                name: DEFAULT_SECRET_FIELD.to_owned(),
                label: self.spec.credential_label.clone(),
                hint: self.spec.credential_hint.clone(),
                secret: true,
                required: true,
                multiline: self.spec.auth_type == AuthType::ServiceAccount,
                pattern: None,
            }]
        } else {
            self.spec.credential_fields.clone()
        }
    }

    /// Whether the test plugin may send a request to this origin.
    pub fn egress_allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        self.spec
            .egress
            .iter()
            .any(|rule| rule.allows(scheme, host, port))
    }

    /// Egress rules that name a loopback, private, link-local or unspecified address (or
    /// `localhost`): refused outside development, where only the local fakes need them.
    pub fn private_egress(&self) -> Option<ValidationErrors> {
        let errors: Vec<FieldError> = self
            .spec
            .egress
            .iter()
            .enumerate()
            .filter(|(_, rule)| url::Host::parse(&rule.host).is_ok_and(|h| is_private(&h)))
            .map(|(i, _)| FieldError {
                field: format!("egress[{i}].host"),
                rule: Rule::PrivateHost,
                message: "names a loopback, private or link-local address: allowed only in development (DEV_MODE)".to_owned(),
            })
            .collect();
        (!errors.is_empty()).then_some(ValidationErrors(errors))
    }

    /// The rules an admin's upload must meet beyond those every stored entry meets (stored
    /// entries saved before a rule existed keep loading): a test plugin comes with fixtures
    /// that fit the entry, and every URL in its config is one the egress rules allow.
    pub fn check_upload(&self) -> Result<(), ValidationErrors> {
        let mut v = Validator::default();
        if let Some(plugin) = &self.spec.test_plugin {
            let mut urls = Vec::new();
            config_urls(&plugin.config, "test_plugin.config", &mut urls);
            for (path, url) in urls {
                let allowed = url::Url::parse(&url).ok().is_some_and(|u| {
                    let (Some(host), Some(port)) = (u.host_str(), u.port_or_known_default()) else {
                        return false;
                    };
                    let host = host.trim_start_matches('[').trim_end_matches(']');
                    // A base URL (no path) is a prefix: only its origin is checked.
                    self.spec.egress.iter().any(|r| {
                        let method = r
                            .methods
                            .as_ref()
                            .and_then(|m| m.first())
                            .map_or("GET", |m| m.as_str());
                        r.allows(u.scheme(), host, port)
                            && (u.path() == "/" || r.allows_request(method, u.path()))
                    })
                });
                if !allowed {
                    v.push(
                        &path,
                        Rule::OutsideEgress,
                        format!("{url} is not allowed by the entry's egress rules: add a rule for its scheme, host and port (and path), or fix the URL"),
                    );
                }
            }
            if self.spec.fixtures.is_none() {
                v.push(
                    "fixtures",
                    Rule::Required,
                    "an entry with a test plugin needs fixtures: the provider's documented answers, at least a fake key refused and a working key (see the plugin author's guide)",
                );
            }
        }
        // Fixtures are checked whenever they come (an entry may bring them before its plugin).
        if let Some(fixtures) = &self.spec.fixtures {
            v.errors.extend(crate::conformance::check(self, fixtures));
        }
        v.finish()
    }

    /// The entry without its fixtures: what is stored as the entry and shown to anyone.
    pub fn without_fixtures(mut self) -> (Self, Option<crate::conformance::Fixtures>) {
        let fixtures = self.spec.fixtures.take();
        (self, fixtures)
    }

    /// The entry without its translations, which are stored apart (empty: none).
    pub fn without_translations(mut self) -> (Self, BTreeMap<String, EntryWords>) {
        let words = std::mem::take(&mut self.spec.translations);
        (self, words)
    }

    /// The entry with its stored translations put back (they were checked on the way in).
    pub fn with_translations(mut self, words: BTreeMap<String, EntryWords>) -> Self {
        self.spec.translations = words;
        self
    }

    /// The entry in `lang` ([`ProviderSpec::localized`]), still valid.
    pub fn localized(&self, lang: crate::connect::Lang) -> Self {
        Self {
            key: self.key.clone(),
            spec: self.spec.localized(lang),
        }
    }

    /// Sets where the logo is served from (after an upload).
    pub fn with_logo(mut self, url: String) -> Result<Self, ValidationErrors> {
        self.spec.logo = Some(url);
        Self::new(self.key, self.spec)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EntryParseError {
    #[error("not a catalog entry: {0}")]
    Json(serde_json::Error),
    #[error(transparent)]
    Invalid(#[from] ValidationErrors),
}

#[derive(Default)]
struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    fn push(&mut self, field: &str, rule: Rule, message: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.to_owned(),
            rule,
            message: message.into(),
        });
    }

    fn finish(self) -> Result<(), ValidationErrors> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ValidationErrors(self.errors))
        }
    }

    fn text(&mut self, field: &str, value: &str, max: usize) {
        let len = value.chars().count();
        if value.trim().is_empty() {
            self.push(field, Rule::Required, "must not be empty");
        } else if len > max {
            self.push(
                field,
                Rule::Length,
                format!("must be at most {max} characters (got {len})"),
            );
        } else if value.chars().any(|c| c.is_control() && c != '\n') {
            self.push(field, Rule::Format, "must not contain control characters");
        }
    }

    fn count(&mut self, field: &str, n: usize, max: usize) {
        if n > max {
            self.push(
                field,
                Rule::Count,
                format!("must have at most {max} items (got {n})"),
            );
        }
    }

    fn https_url(&mut self, field: &str, value: &str) {
        if value.len() > limits::URL {
            self.push(
                field,
                Rule::Length,
                format!("must be at most {} characters", limits::URL),
            );
            return;
        }
        match url::Url::parse(value) {
            Ok(u) if u.scheme() == "https" && u.host_str().is_some() => {}
            _ => self.push(
                field,
                Rule::HttpsUrl,
                "must be an absolute https:// URL".to_owned(),
            ),
        }
    }

    fn logo(&mut self, value: &str) {
        // Either an absolute https URL or a path on this service (where uploads are served).
        if value.starts_with('/') && !value.starts_with("//") {
            if value.len() > limits::URL || value.chars().any(|c| c.is_whitespace()) {
                self.push("logo", Rule::Format, "must be a path without spaces");
            }
        } else {
            self.https_url("logo", value);
        }
    }

    fn fields(&mut self, fields: &[CredentialField]) {
        if fields.is_empty() {
            return;
        }
        self.count("credential_fields", fields.len(), limits::FIELDS);
        let mut names = BTreeSet::new();
        for (i, f) in fields.iter().enumerate() {
            let at = |part: &str| format!("credential_fields[{i}].{part}");
            let name_ok = !f.name.is_empty()
                && f.name.len() <= 32
                && f.name.starts_with(|c: char| c.is_ascii_lowercase())
                && f.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !name_ok {
                self.push(
                    &at("name"),
                    Rule::Format,
                    "must be snake_case: a-z first, then a-z, 0-9, '_' (at most 32)",
                );
            } else if !names.insert(f.name.as_str()) {
                self.push(
                    &at("name"),
                    Rule::Unique,
                    format!("'{}' is used by another field", f.name),
                );
            }
            self.text(&at("label"), &f.label, limits::LABEL);
            if let Some(hint) = &f.hint {
                self.text(&at("hint"), hint, limits::HINT);
            }
            if let Some(pattern) = &f.pattern {
                if pattern.len() > limits::PATTERN {
                    self.push(
                        &at("pattern"),
                        Rule::Length,
                        format!("must be at most {} characters", limits::PATTERN),
                    );
                } else if let Err(e) = regex_lite::Regex::new(pattern) {
                    self.push(
                        &at("pattern"),
                        Rule::ValidPattern,
                        format!("is not a valid regular expression: {e}"),
                    );
                }
            }
        }
        match fields.iter().position(|f| f.secret) {
            None => self.push(
                "credential_fields",
                Rule::NeedsSecretField,
                "must include at least one secret field",
            ),
            Some(i) if !fields[i].required => self.push(
                &format!("credential_fields[{i}].required"),
                Rule::NeedsSecretField,
                "the first secret field is the main key and must be required",
            ),
            Some(_) => {}
        }
    }

    fn egress(&mut self, rules: &[EgressRule]) {
        self.count("egress", rules.len(), limits::EGRESS_RULES);
        for (i, rule) in rules.iter().enumerate() {
            let field = format!("egress[{i}].host");
            match url::Host::parse(&rule.host) {
                Ok(host) if !rule.host.is_empty() && !rule.host.contains('*') => {
                    if rule.scheme == Scheme::Http && !is_loopback(&host) {
                        self.push(
                            &format!("egress[{i}].scheme"),
                            Rule::LoopbackOnlyHttp,
                            "plain http is allowed only for loopback hosts (local fakes)",
                        );
                    }
                }
                _ => self.push(
                    &field,
                    Rule::Format,
                    "must be a host name or IP address, without scheme, port, path or wildcard",
                ),
            }
            if rule.port == Some(0) {
                self.push(&format!("egress[{i}].port"), Rule::Format, "must not be 0");
            }
            if let Some(prefix) = &rule.path_prefix {
                let plain = prefix.starts_with('/')
                    && prefix.len() <= 200
                    && !prefix.split('/').any(|seg| seg == "." || seg == "..")
                    && prefix
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"/-._~".contains(&b));
                if !plain {
                    self.push(
                        &format!("egress[{i}].path_prefix"),
                        Rule::Format,
                        "must be a plain path starting with / (letters, digits, - . _ ~), without . or .. segments",
                    );
                }
            }
            if rule.methods.as_ref().is_some_and(Vec::is_empty) {
                self.push(
                    &format!("egress[{i}].methods"),
                    Rule::Format,
                    "must name at least one method, or be left out to allow any",
                );
            }
        }
    }

    fn plugin(&mut self, plugin: &TestPlugin, no_egress: bool) {
        let hex_ok = plugin.digest.len() == 64
            && plugin
                .digest
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !hex_ok {
            self.push(
                "test_plugin.digest",
                Rule::Format,
                "must be a SHA-256 digest: 64 lowercase hex characters",
            );
        }
        if !plugin.config.is_object() {
            self.push("test_plugin.config", Rule::Format, "must be a JSON object");
        } else if plugin.config.to_string().len() > limits::PLUGIN_CONFIG_BYTES {
            self.push(
                "test_plugin.config",
                Rule::Length,
                format!("must be at most {} bytes", limits::PLUGIN_CONFIG_BYTES),
            );
        }
        let mut found = Vec::new();
        credential_like(&plugin.config, "test_plugin.config", &mut found);
        for path in found {
            self.push(
                &path,
                Rule::LooksLikeCredential,
                "looks like a credential: the plugin config is shown to every signed-in user, so keys belong in credential fields or the platform key, never here",
            );
        }
        if no_egress {
            self.push(
                "egress",
                Rule::NeedsEgress,
                "a test plugin needs at least one allowed origin to reach",
            );
        }
    }
}

/// The paths of config values that look like credentials: under a key named like one
/// (`api_key`, `token`, `secret`, `password`, `authorization`), or a string that starts like a
/// known provider key or is a long run of key characters that is not a URL, path or version.
fn credential_like(value: &serde_json::Value, path: &str, found: &mut Vec<String>) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let child = format!("{path}.{k}");
                let name = k.to_ascii_lowercase().replace('-', "_");
                let named_secret = [
                    "api_key",
                    "apikey",
                    "token",
                    "secret",
                    "password",
                    "authorization",
                    "private_key",
                    "access_key",
                ]
                .iter()
                .any(|n| name == *n || name.ends_with(&format!("_{n}")));
                // A verdict name is what a plugin maps an error code to (`errors.verdicts`
                // of http-check: `"invalid_api_key": "invalid-credential"`), never a key.
                let verdict = v.as_str().is_some_and(|s| {
                    serde_json::from_value::<crate::status::Verdict>(Value::String(s.to_owned()))
                        .is_ok()
                });
                if named_secret && !verdict && v.as_str().is_some_and(|s| !s.trim().is_empty()) {
                    found.push(child);
                } else {
                    credential_like(v, &child, found);
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                credential_like(v, &format!("{path}[{i}]"), found);
            }
        }
        Value::String(s) if looks_like_key(s) => found.push(path.to_owned()),
        _ => {}
    }
}

/// The `http://` and `https://` URLs in a plugin config, with their paths.
fn config_urls(value: &serde_json::Value, path: &str, found: &mut Vec<(String, String)>) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                config_urls(v, &format!("{path}.{k}"), found);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                config_urls(v, &format!("{path}[{i}]"), found);
            }
        }
        Value::String(s) if s.starts_with("https://") || s.starts_with("http://") => {
            found.push((path.to_owned(), s.clone()))
        }
        _ => {}
    }
}

fn looks_like_key(s: &str) -> bool {
    const PREFIXES: [&str; 14] = [
        "sk-",
        "sk_live_",
        "sk_test_",
        "rk_live_",
        "rk_test_",
        "SG.",
        "EAA",
        "xoxb-",
        "xoxp-",
        "AKIA",
        "ghp_",
        "github_pat_",
        "AIza",
        "-----BEGIN",
    ];
    let s = s.trim();
    if PREFIXES.iter().any(|p| s.starts_with(p)) && s.len() >= 12 {
        return true;
    }
    let keyish = s.len() >= 32
        && !s.contains("://")
        && !s.starts_with('/')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-+/=.".contains(&b))
        && s.bytes().any(|b| b.is_ascii_digit())
        && s.bytes().any(|b| b.is_ascii_alphabetic());
    keyish
}

fn is_private(host: &url::Host<String>) -> bool {
    match host {
        url::Host::Domain(d) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        url::Host::Ipv4(ip) => {
            ip.is_loopback()
                || ip.is_private()
                || ip.is_link_local()
                || ip.is_unspecified()
                || ip.is_broadcast()
                || ip.octets()[0] == 100 && (64..128).contains(&ip.octets()[1])
        }
        url::Host::Ipv6(ip) => {
            let first = ip.segments()[0];
            ip.is_loopback()
                || ip.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || ip
                    .to_ipv4_mapped()
                    .is_some_and(|v4| is_private(&url::Host::Ipv4(v4)))
        }
    }
}

fn is_loopback(host: &url::Host<String>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(s: &str) -> ProviderKey {
        ProviderKey::parse(s).expect("test key")
    }

    /// An entry with only the source's fields.
    fn minimal() -> serde_json::Value {
        json!({
            "name": "Example",
            "description": "An example provider.",
            "auth_type": "api-key",
            "credential_label": "API key",
            "help_url": "https://example.com/keys",
            "help_instructions": "Sign in.\nOpen Settings → API keys.\n\nCopy the key."
        })
    }

    fn entry(v: serde_json::Value) -> Result<CatalogEntry, ValidationErrors> {
        let spec: ProviderSpec = serde_json::from_value(v).expect("parses as a spec");
        CatalogEntry::new(key("example"), spec)
    }

    fn rules(err: &ValidationErrors) -> Vec<(String, Rule)> {
        err.0.iter().map(|e| (e.field.clone(), e.rule)).collect()
    }

    fn with_plugin(config: serde_json::Value, egress: serde_json::Value) -> serde_json::Value {
        let mut v = minimal();
        v["test_plugin"] = json!({"digest": "a".repeat(64), "config": config});
        v["egress"] = egress;
        v
    }

    fn good_fixtures() -> serde_json::Value {
        json!({
            "credential": {"key": "fake-key-000000"},
            "cases": [
                {"name": "wrong key", "source": "https://example.com/docs#errors",
                 "answers": [{"status": 401}], "expect": {"verdict": "invalid-credential"}},
                {"name": "working key", "source": "https://example.com/docs#me",
                 "answers": [{"status": 200, "body": {}}], "expect": {"verdict": "connected"}}
            ]
        })
    }

    #[test]
    fn translations_show_per_language_and_fall_back_to_english_field_by_field() {
        use crate::connect::Lang;
        let mut v = minimal();
        v["credential_hint"] = json!("ex_…");
        v["translations"] = json!({
            "fr": {"name": "Exemple", "description": "Un fournisseur d'exemple.",
                   "credential_label": "Clé d'API", "help_instructions": "Connectez-vous.\nCopiez la clé."},
            "de": {"credential_hint": "ex_… (beginnt mit ex_)"}
        });
        let e = entry(v).expect("valid");
        let fr = e.localized(Lang::Fr);
        assert_eq!(fr.spec().name, "Exemple");
        assert_eq!(fr.spec().credential_label, "Clé d'API");
        assert_eq!(
            fr.spec().help_instructions.steps(),
            ["Connectez-vous.", "Copiez la clé."]
        );
        assert_eq!(
            fr.spec().credential_hint.as_deref(),
            Some("ex_…"),
            "untranslated: English"
        );
        assert!(
            fr.spec().translations.is_empty(),
            "a view carries no translations"
        );
        let de = e.localized(Lang::De);
        assert_eq!(
            (
                de.spec().name.as_str(),
                de.spec().credential_hint.as_deref()
            ),
            ("Example", Some("ex_… (beginnt mit ex_)"))
        );
        let es = e.localized(Lang::Es);
        assert_eq!(es.spec().name, "Example", "no Spanish words: all English");
        // Stored apart: the spec saved carries none, and they come back whole.
        let (bare, words) = e.clone().without_translations();
        assert!(serde_json::to_string(bare.spec())
            .expect("json")
            .find("translations")
            .is_none());
        assert_eq!(bare.with_translations(words), e);
    }

    #[test]
    fn translations_are_checked_like_the_english_words() {
        let mut v = minimal();
        v["translations"] = json!({
            "en": {"name": "Again"},
            "tlh": {"name": "Qapla'"},
            "fr": {"name": "", "description": "x".repeat(limits::DESCRIPTION + 1)},
        });
        let err = entry(v).expect_err("invalid");
        assert_eq!(
            rules(&err),
            [
                ("translations.en".to_owned(), Rule::Format),
                ("translations.fr.name".to_owned(), Rule::Required),
                ("translations.fr.description".to_owned(), Rule::Length),
                ("translations.tlh".to_owned(), Rule::Format),
            ]
        );
        let mut v = minimal();
        v["translations"] = json!({"fr": {"nom": "Exemple"}});
        assert!(
            serde_json::from_value::<ProviderSpec>(v).is_err(),
            "an unknown word is refused"
        );
    }

    #[test]
    fn error_codes_mapped_to_verdicts_are_not_credentials() {
        let mut v = with_plugin(
            json!({"errors": {"pointer": "/error/code", "verdicts": {"invalid_api_key": "invalid-credential"}},
                   "api_key": "sk-live-0123456789abcdef"}),
            json!([{"scheme": "https", "host": "api.example.com"}]),
        );
        v["fixtures"] = good_fixtures();
        let err = entry(v).expect_err("the real key is still caught");
        assert_eq!(
            rules(&err),
            [(
                "test_plugin.config.api_key".into(),
                Rule::LooksLikeCredential
            )]
        );
    }

    #[test]
    fn an_upload_with_a_plugin_needs_fixtures() {
        let v = with_plugin(
            json!({"url": "https://api.example.com/v1/me"}),
            json!([{"scheme": "https", "host": "api.example.com"}]),
        );
        let e = entry(v.clone()).expect("stored entries without fixtures still load");
        let err = e.check_upload().expect_err("refused at upload");
        assert_eq!(rules(&err), [("fixtures".into(), Rule::Required)]);
        let mut v = v;
        v["fixtures"] = good_fixtures();
        entry(v).expect("valid").check_upload().expect("accepted");
    }

    #[test]
    fn a_config_url_outside_the_egress_rules_is_refused_at_upload() {
        let mut v = with_plugin(
            json!({"url": "https://evil.example/v1/me", "base_url": "https://api.example.com",
                   "nested": {"docs": ["http://api.example.com/v1/x"]}}),
            json!([{"scheme": "https", "host": "api.example.com", "path_prefix": "/v1/"}]),
        );
        v["fixtures"] = good_fixtures();
        let err = entry(v)
            .expect("valid")
            .check_upload()
            .expect_err("refused");
        assert_eq!(
            rules(&err),
            [
                (
                    "test_plugin.config.nested.docs[0]".into(),
                    Rule::OutsideEgress
                ),
                ("test_plugin.config.url".into(), Rule::OutsideEgress),
            ]
        );
        assert!(
            err.to_string()
                .contains("https://evil.example/v1/me is not allowed"),
            "{err}"
        );
        // A path outside the rule's prefix is refused too; the base URL (no path) is fine.
        let mut v = with_plugin(
            json!({"url": "https://api.example.com/v2/me", "base_url": "https://api.example.com"}),
            json!([{"scheme": "https", "host": "api.example.com", "path_prefix": "/v1/"}]),
        );
        v["fixtures"] = good_fixtures();
        let err = entry(v)
            .expect("valid")
            .check_upload()
            .expect_err("refused");
        assert_eq!(
            rules(&err),
            [("test_plugin.config.url".into(), Rule::OutsideEgress)]
        );
    }

    #[test]
    fn fixtures_are_checked_even_without_a_plugin() {
        let mut v = minimal();
        let mut f = good_fixtures();
        f["cases"][0]["answers"][0]["status"] = json!(99);
        v["fixtures"] = f;
        let err = entry(v)
            .expect("valid")
            .check_upload()
            .expect_err("refused");
        assert_eq!(
            rules(&err),
            [("fixtures.cases[0].answers[0].status".into(), Rule::Format)]
        );
    }

    #[test]
    fn fixtures_are_taken_out_of_what_is_stored() {
        let mut v = with_plugin(
            json!({}),
            json!([{"scheme": "https", "host": "api.example.com"}]),
        );
        v["fixtures"] = good_fixtures();
        let (stored, fixtures) = entry(v).expect("valid").without_fixtures();
        assert!(fixtures.is_some());
        assert!(!serde_json::to_string(&stored)
            .expect("json")
            .contains("fixtures"));
    }

    #[test]
    fn an_entry_with_only_the_source_fields_is_valid() {
        let e = entry(minimal()).expect("valid");
        assert_eq!(e.category_label(), "Other");
        assert_eq!(
            e.spec().help_instructions.steps(),
            ["Sign in.", "Open Settings → API keys.", "Copy the key."]
        );
        let fields = e.credential_fields();
        assert_eq!(fields.len(), 1);
        assert_eq!(fields[0].name, "key");
        assert!(fields[0].secret);
        assert_eq!(fields[0].label, "API key");
        assert_eq!(e.spec().key.as_ref(), Some(&key("example")));
    }

    #[test]
    fn errors_name_every_field_and_rule() {
        let mut v = minimal();
        v["name"] = json!("  ");
        v["help_url"] = json!("http://example.com/keys");
        v["key"] = json!("other");
        v["credential_fields"] = json!([
            {"name": "Account SID", "label": "Account SID", "secret": false},
            {"name": "token", "label": "", "secret": false, "pattern": "("}
        ]);
        let err = entry(v).expect_err("invalid");
        let got = rules(&err);
        for want in [
            ("key".to_owned(), Rule::MatchesPath),
            ("name".to_owned(), Rule::Required),
            ("help_url".to_owned(), Rule::HttpsUrl),
            ("credential_fields[0].name".to_owned(), Rule::Format),
            ("credential_fields[1].label".to_owned(), Rule::Required),
            (
                "credential_fields[1].pattern".to_owned(),
                Rule::ValidPattern,
            ),
            ("credential_fields".to_owned(), Rule::NeedsSecretField),
        ] {
            assert!(got.contains(&want), "missing {want:?} in {got:?}");
        }
        assert_eq!(got.len(), 7, "{got:?}");
        assert!(err
            .to_string()
            .contains("help_url: must be an absolute https:// URL"));
    }

    #[test]
    fn the_main_key_cannot_be_optional() {
        let mut v = minimal();
        v["credential_fields"] = json!([
            {"name": "account_sid", "label": "Account SID", "secret": false, "required": false},
            {"name": "token", "label": "Token", "secret": true, "required": false}
        ]);
        let err = entry(v).expect_err("invalid");
        assert_eq!(
            rules(&err),
            [(
                "credential_fields[1].required".to_owned(),
                Rule::NeedsSecretField
            )]
        );
    }

    #[test]
    fn unknown_fields_are_refused() {
        let mut v = minimal();
        v["colour"] = json!("red");
        let err = serde_json::from_value::<ProviderSpec>(v).expect_err("unknown field");
        assert!(err.to_string().contains("unknown field `colour`"), "{err}");
    }

    #[test]
    fn http_egress_only_to_loopback() {
        let mut v = minimal();
        v["egress"] = json!([
            {"scheme": "https", "host": "api.example.com"},
            {"scheme": "http", "host": "127.0.0.1", "port": 9001},
            {"scheme": "http", "host": "api.example.com"},
            {"scheme": "https", "host": "*.example.com"},
            {"scheme": "https", "host": "example.com/path"}
        ]);
        let err = entry(v).expect_err("invalid");
        assert_eq!(
            rules(&err),
            [
                ("egress[2].scheme".to_owned(), Rule::LoopbackOnlyHttp),
                ("egress[3].host".to_owned(), Rule::Format),
                ("egress[4].host".to_owned(), Rule::Format),
            ]
        );
    }

    #[test]
    fn egress_matches_scheme_host_and_port_exactly() {
        let mut v = minimal();
        v["egress"] = json!([{"scheme": "https", "host": "api.example.com"}]);
        let e = entry(v).expect("valid");
        assert!(e.egress_allows("https", "api.example.com", 443));
        assert!(e.egress_allows("https", "API.Example.com.", 443));
        assert!(!e.egress_allows("http", "api.example.com", 443));
        assert!(!e.egress_allows("https", "api.example.com", 8443));
        assert!(!e.egress_allows("https", "evil.example.com", 443));
        assert!(!e.egress_allows("https", "api.example.com.evil.net", 443));
    }

    #[test]
    fn egress_rules_can_narrow_paths_and_methods() {
        let rule: EgressRule = serde_json::from_value(json!({
            "scheme": "https", "host": "api.example.com",
            "path_prefix": "/v1/", "methods": ["GET", "HEAD"]
        }))
        .expect("rule");
        assert!(rule.allows_request("GET", "/v1/models"));
        assert!(rule.allows_request("get", "/v1"));
        assert!(!rule.allows_request("DELETE", "/v1/models/x"));
        assert!(!rule.allows_request("GET", "/v10/models"));
        assert!(!rule.allows_request("GET", "/v2/admin"));
        let no_slash: EgressRule = serde_json::from_value(json!({
            "scheme": "https", "host": "api.example.com", "path_prefix": "/v1"
        }))
        .expect("rule");
        assert!(no_slash.allows_request("POST", "/v1/x"));
        assert!(!no_slash.allows_request("POST", "/v1x"));
        let open: EgressRule =
            serde_json::from_value(json!({"scheme": "https", "host": "h.example"})).expect("rule");
        assert!(open.allows_request("DELETE", "/anything"));
    }

    #[test]
    fn private_addresses_are_named_for_refusal_outside_development() {
        let mut v = minimal();
        v["test_plugin"] = json!({"digest": "a".repeat(64), "config": {}});
        v["egress"] = json!([
            {"scheme": "https", "host": "api.example.com"},
            {"scheme": "http", "host": "127.0.0.1", "port": 8999},
            {"scheme": "https", "host": "10.1.2.3"},
            {"scheme": "https", "host": "169.254.169.254"},
            {"scheme": "https", "host": "[fd00::1]"},
            {"scheme": "https", "host": "[::ffff:192.168.1.1]"},
            {"scheme": "https", "host": "100.64.0.1"},
            {"scheme": "https", "host": "8.8.8.8"}
        ]);
        let e = entry(v).expect("structurally valid");
        let fields: Vec<_> = e
            .private_egress()
            .map(|errs| errs.0.into_iter().map(|f| f.field).collect())
            .unwrap_or_default();
        assert_eq!(
            fields,
            [
                "egress[1].host",
                "egress[2].host",
                "egress[3].host",
                "egress[4].host",
                "egress[5].host",
                "egress[6].host"
            ]
        );
    }

    #[test]
    fn plugin_config_that_looks_like_a_credential_is_refused_by_path() {
        let mut v = minimal();
        v["test_plugin"] = json!({
            "digest": "a".repeat(64),
            "config": {
                "base_url": "https://api.example.com",
                "anthropic_version": "2023-06-01",
                "required_scopes": ["mail.send"],
                "auth": {"type": "bearer", "header": "authorization"},
                "headers": {"x-api-key": "sk-ant-FAKE-0000000000000000"},
                "token": "anything",
                "statuses": [{"status": 401, "fallback": "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZg"}],
                "label_pointer": "/account/name"
            }
        });
        v["egress"] = json!([{"scheme": "https", "host": "api.example.com"}]);
        let Err(errors) = entry(v) else {
            panic!("a config with a key in it was accepted")
        };
        let mut refused: Vec<_> = errors
            .0
            .iter()
            .filter(|e| e.rule == Rule::LooksLikeCredential)
            .map(|e| e.field.clone())
            .collect();
        refused.sort();
        assert_eq!(
            refused,
            [
                "test_plugin.config.headers.x-api-key",
                "test_plugin.config.statuses[0].fallback",
                "test_plugin.config.token",
            ]
        );
        assert!(!errors.to_string().contains("sk-ant"), "{errors}");
    }

    #[test]
    fn every_seed_config_is_plain() {
        for seed in [
            "anthropic",
            "openai",
            "stripe",
            "twilio",
            "sendgrid",
            "google-calendar",
            "meta-ads",
        ] {
            let path = format!("{}/../seeds/{seed}/entry.json", env!("CARGO_MANIFEST_DIR"));
            let entry: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(path).expect("seed")).expect("json");
            let mut found = Vec::new();
            credential_like(&entry["test_plugin"]["config"], "config", &mut found);
            assert!(found.is_empty(), "{seed}: {found:?}");
        }
    }

    #[test]
    fn a_test_plugin_needs_a_digest_an_object_config_and_egress() {
        let mut v = minimal();
        v["test_plugin"] = json!({"digest": "ABC", "config": [1, 2]});
        let err = entry(v).expect_err("invalid");
        assert_eq!(
            rules(&err),
            [
                ("test_plugin.digest".to_owned(), Rule::Format),
                ("test_plugin.config".to_owned(), Rule::Format),
                ("egress".to_owned(), Rule::NeedsEgress),
            ]
        );
    }

    #[test]
    fn text_limits_are_enforced() {
        let mut v = minimal();
        v["description"] = json!("x".repeat(limits::DESCRIPTION + 1));
        v["help_instructions"] = json!(vec!["step"; limits::STEPS + 1]);
        v["logo"] = json!("javascript:alert(1)");
        let err = entry(v).expect_err("invalid");
        assert_eq!(
            rules(&err),
            [
                ("description".to_owned(), Rule::Length),
                ("logo".to_owned(), Rule::HttpsUrl),
                ("help_instructions".to_owned(), Rule::Count),
            ]
        );
    }

    #[test]
    fn service_account_default_field_is_multiline() {
        let mut v = minimal();
        v["auth_type"] = json!("service-account");
        let e = entry(v).expect("valid");
        assert!(e.credential_fields()[0].multiline);
    }

    #[test]
    fn serialises_back_to_the_spec_with_its_key() {
        let e = entry(minimal()).expect("valid");
        let out = serde_json::to_value(&e).expect("serialises");
        assert_eq!(out["key"], "example");
        assert_eq!(out["help_instructions"][1], "Open Settings → API keys.");
        let back: ProviderSpec = serde_json::from_value(out).expect("round trip");
        assert_eq!(&back, e.spec());
    }
}

/// Instructions as the document shows them (steps, or one text of lines), and the rejection
/// statuses' range.
#[cfg(feature = "openapi")]
mod instructions_schema {
    use std::borrow::Cow;

    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, Type};
    use utoipa::openapi::RefOr;

    impl utoipa::PartialSchema for super::Instructions {
        fn schema() -> RefOr<Schema> {
            let text = || ObjectBuilder::new().schema_type(Type::String);
            OneOfBuilder::new()
                .item(ArrayBuilder::new().items(text()))
                .item(text().description(Some("One step per line")))
                .description(Some(
                    "Step-by-step help: a list of steps, or one text with a step per line",
                ))
                .into()
        }
    }

    /// Up to 8 statuses, each 4xx other than 429 (429 is refused with 422, as a rule).
    pub(super) fn rejection_statuses() -> utoipa::openapi::schema::Array {
        ArrayBuilder::new()
            .items(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(400))
                    .maximum(Some(499)),
            )
            .max_items(Some(8))
            .build()
    }

    impl utoipa::ToSchema for super::Instructions {
        fn name() -> Cow<'static, str> {
            Cow::Borrowed("Instructions")
        }
    }
}

/// The document's length rules are the validator's.
#[cfg(all(test, feature = "openapi"))]
mod schema_tests {
    use super::limits;
    use utoipa::PartialSchema;

    #[test]
    fn the_documented_lengths_are_the_enforced_ones() {
        let schema = serde_json::to_value(super::ProviderSpec::schema()).expect("serialises");
        for (field, max) in [
            ("name", limits::NAME),
            ("description", limits::DESCRIPTION),
            ("category", limits::CATEGORY),
            ("credential_label", limits::LABEL),
            ("credential_hint", limits::HINT),
            ("help_url", limits::URL),
        ] {
            let property = &schema["properties"][field];
            assert_eq!(property["maxLength"], max, "{field}: {property}");
        }
    }
}
