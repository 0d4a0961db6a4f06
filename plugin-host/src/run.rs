//! The step loop: start the plugin, perform each request it asks for (through the caller's
//! [`Egress`], within the entry's allowlist), resume it with the answer, until it is done or a
//! limit ends the run. Nothing a plugin does can panic the host; every failure is a
//! [`RunError`] and the next run starts from a fresh instance.

use byok_core::catalog::EgressRule;
use byok_core::status::Verdict;
use wasmtime::{ResourceLimiter, Store, Trap};

use crate::bindings::exports::byok::plugin::check as wit;
use crate::engine::PluginEngine;
use crate::limits::{MAX_HEADERS, MAX_WARNINGS};
use crate::load::LoadedPlugin;
use crate::scrub::Scrubber;

/// A request as the host sends it. Its `Debug` shows the method, the URL without its query,
/// the header names and the body's size: headers and bodies carry credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// `GET`, `POST`...
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

/// A provider's answer. Its `Debug` shows the status, the header names and the body's size:
/// a provider may echo the credential.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

fn header_names(headers: &[(String, String)]) -> Vec<&str> {
    headers.iter().map(|(n, _)| n.as_str()).collect()
}

impl std::fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = self.url.split(['?', '#']).next().unwrap_or_default();
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field(
                "url",
                &format_args!(
                    "{url}{}",
                    if url.len() < self.url.len() {
                        "?[redacted]"
                    } else {
                        ""
                    }
                ),
            )
            .field("headers", &header_names(&self.headers))
            .field("body_bytes", &self.body.as_ref().map(Vec::len))
            .finish()
    }
}

impl std::fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("headers", &header_names(&self.headers))
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

/// Why an [`Egress`] got no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EgressError {
    Timeout,
    /// DNS, TCP or TLS failure, in words for the user.
    Connection(String),
    /// The body grew past the limit the host passed; reading stopped there.
    ResponseTooLarge,
}

/// The I/O a run needs: sending one request (never following redirects), and a clock.
/// Natively this is reqwest; inside the Worker, its `fetch`.
#[allow(async_fn_in_trait)]
pub trait Egress {
    async fn send(
        &self,
        request: HttpRequest,
        timeout_ms: u64,
        max_response_bytes: usize,
    ) -> Result<HttpResponse, EgressError>;

    /// Milliseconds on a monotonic (or at least non-decreasing) clock.
    fn now_millis(&self) -> u64;
}

/// What a run is given.
#[derive(Clone, Copy)]
pub struct RunInput<'a> {
    pub secret: &'a str,
    pub fields: &'a [(String, String)],
    /// The entry's `test_plugin.config` as JSON text.
    pub config_json: &'a str,
    pub now_unix_seconds: u64,
    /// The entry's egress allowlist.
    pub egress: &'a [EgressRule],
}

impl std::fmt::Debug for RunInput<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunInput")
            .field("secret", &"[redacted]")
            .field(
                "fields",
                &self.fields.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field("egress", &self.egress)
            .finish()
    }
}

/// A plugin's verdict, with its text already scrubbed of the credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginOutcome {
    pub verdict: Verdict,
    pub message: String,
    pub account_label: Option<String>,
    pub warnings: Vec<String>,
    /// What a v2 plugin said beyond the verdict (scrubbed); empty for a v1 plugin.
    pub details: crate::details::Details,
    /// Whether the plugin's text held the main secret in some encoding before it was
    /// scrubbed: a plugin fault the conformance suite refuses.
    pub echoed_secret: bool,
}

/// Why a run ended without a verdict. The host keeps serving in every case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    #[error("the plugin used all its fuel ({limit} units): it computes too much or never stops")]
    OutOfFuel { limit: u64 },
    #[error("the plugin tried to use more than {limit} bytes of memory")]
    MemoryLimit { limit: usize },
    #[error("the plugin asked for more than {limit} requests")]
    TooManySteps { limit: u32 },
    #[error("the plugin's request body is {size} bytes; the limit is {limit}")]
    RequestTooLarge { size: usize, limit: usize },
    #[error("the provider's response is larger than {limit} bytes")]
    ResponseTooLarge { limit: usize },
    #[error("the test took longer than {limit_ms} ms")]
    TimeLimit { limit_ms: u64 },
    #[error("the plugin asked to reach {origin}, which this provider's allowlist does not allow")]
    EgressDenied { origin: String },
    #[error("the plugin asked for an invalid request: {0}")]
    BadRequest(String),
    #[error("the plugin returned {size} bytes of text in one step; the limit is {limit}")]
    OutputTooLarge { size: usize, limit: usize },
    /// Refused while being read: the host never held a copy.
    #[error("the plugin returned more than {limit} bytes in one step (with its headers, warnings and body)")]
    StepTooLarge { limit: usize },
    #[error("the plugin crashed: {0}")]
    Trap(String),
    #[error("the plugin could not be started: {0}")]
    Instantiate(String),
}

/// One request of a run, for display: the URL is scrubbed of credential values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    pub method: &'static str,
    pub url: String,
    /// The status, or why there was none.
    pub result: Result<u16, String>,
}

#[derive(Debug, Clone)]
pub struct RunReport {
    pub result: Result<PluginOutcome, RunError>,
    pub exchanges: Vec<Exchange>,
    pub fuel_used: u64,
}

/// Per-store state: the resource limiter and whether it refused a memory growth.
///
/// The memory limit holds for all the store's linear memories together (a component made of
/// several core instances has several), and the store may create only a few instances,
/// memories and tables, so no plugin multiplies the budget by declaring more of them.
pub(crate) struct HostState {
    memory_limit: usize,
    /// Bytes of linear memory across the store's memories.
    memory_total: usize,
    memory_exceeded: bool,
}

/// Per-store counts: the seeded plugins use 3 instances, 1 memory and 1 table; the margin is
/// for other toolchains' adapters.
pub(crate) const MAX_INSTANCES: usize = 16;
pub(crate) const MAX_MEMORIES: usize = 2;
pub(crate) const MAX_TABLES: usize = 4;
pub(crate) const MAX_TABLE_ELEMENTS: usize = 100_000;

impl HostState {
    pub(crate) fn new(memory_limit: usize) -> Self {
        Self {
            memory_limit,
            memory_total: 0,
            memory_exceeded: false,
        }
    }
}

impl ResourceLimiter for HostState {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self
            .memory_total
            .saturating_sub(current)
            .saturating_add(desired);
        if total > self.memory_limit {
            self.memory_exceeded = true;
            return Ok(false);
        }
        self.memory_total = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }
}

impl PluginEngine {
    fn store(&self) -> Store<HostState> {
        let mut store = Store::new(&self.engine, HostState::new(self.limits.memory_bytes));
        store.limiter(|s| s);
        // Caps what the host copies out of the plugin per call, counts included: a step with a
        // million empty headers is refused before a million `String`s are allocated.
        store.set_hostcall_fuel(self.limits.step_bytes());
        // Fuel is enabled in every engine configuration, so this cannot fail.
        let _ = store.set_fuel(self.limits.fuel);
        store
    }

    fn classify(&self, store: &Store<HostState>, e: &wasmtime::Error) -> RunError {
        if store.data().memory_exceeded {
            return RunError::MemoryLimit {
                limit: self.limits.memory_bytes,
            };
        }
        if is_step_too_large(e) {
            return RunError::StepTooLarge {
                limit: self.limits.step_bytes(),
            };
        }
        if e.downcast_ref::<Trap>() == Some(&Trap::OutOfFuel) {
            return RunError::OutOfFuel {
                limit: self.limits.fuel,
            };
        }
        let text = format!("{e}");
        RunError::Trap(text.lines().next().unwrap_or("trap").to_owned())
    }

    /// Runs the plugin's offline format check. Warnings only; a fault yields none.
    pub fn format_check(
        &self,
        plugin: &LoadedPlugin,
        input: &RunInput<'_>,
    ) -> Result<Vec<String>, RunError> {
        let mut store = self.store();
        let instance = plugin
            .pre
            .instance_pre()
            .instantiate(&mut store)
            .map_err(|e| RunError::Instantiate(format!("{e}")))?;
        let warnings = crate::wit_credential::format_check(
            &mut store,
            &instance,
            &credential(input),
            input.config_json,
        )
        .map_err(|e| scrub_error(self.classify(&store, &e), &scrubber(input)))?;
        let scrub = scrubber(input);
        let size: usize = warnings.iter().map(String::len).sum();
        if size > self.limits.output_bytes || warnings.len() > MAX_WARNINGS {
            return Err(RunError::OutputTooLarge {
                size,
                limit: self.limits.output_bytes,
            });
        }
        Ok(warnings.iter().map(|w| scrub.apply(w)).collect())
    }

    /// Runs one connection test from a fresh instance.
    pub async fn run<E: Egress + ?Sized>(
        &self,
        plugin: &LoadedPlugin,
        input: &RunInput<'_>,
        egress: &E,
    ) -> RunReport {
        let mut store = self.store();
        let mut exchanges = Vec::new();
        let result = self
            .drive(plugin, input, egress, &mut store, &mut exchanges)
            .await
            .map_err(|e| scrub_error(e, &scrubber(input)));
        let fuel_used = self.limits.fuel - store.get_fuel().unwrap_or(0);
        RunReport {
            result,
            exchanges,
            fuel_used,
        }
    }

    async fn drive<E: Egress + ?Sized>(
        &self,
        plugin: &LoadedPlugin,
        input: &RunInput<'_>,
        egress: &E,
        store: &mut Store<HostState>,
        exchanges: &mut Vec<Exchange>,
    ) -> Result<PluginOutcome, RunError> {
        let limits = self.limits;
        let deadline = egress.now_millis().saturating_add(limits.total_time_ms);
        let scrub = scrubber(input);
        let raw = plugin
            .pre
            .instance_pre()
            .instantiate(&mut *store)
            .map_err(|e| RunError::Instantiate(format!("{e}")))?;
        let instance = crate::bindings::Plugin::new(&mut *store, &raw)
            .map_err(|e| RunError::Instantiate(format!("{e}")))?;
        let check = instance.byok_plugin_check();
        let context = wit::Context {
            config: input.config_json.to_owned(),
            now_unix_seconds: input.now_unix_seconds,
        };
        let mut step =
            crate::wit_credential::start(&mut *store, &raw, &credential(input), &context)
                .map_err(|e| self.classify(store, &e))?;
        let mut sent = 0u32;
        loop {
            let request = match step {
                wit::Step::Done(outcome) => {
                    let echoed = echoes(&outcome, input.secret);
                    let mut outcome = self.outcome(outcome, &scrub)?;
                    outcome.echoed_secret = echoed;
                    if plugin.version == crate::load::ContractVersion::V2 {
                        let details = crate::details::call(&mut *store, &raw)
                            .map_err(|e| self.classify(store, &e))?;
                        let main = Scrubber::new([input.secret]);
                        outcome.echoed_secret |=
                            details.missing_scopes.iter().any(|s| main.finds(s));
                        outcome.details = self.details(details, &scrub)?;
                    }
                    return Ok(outcome);
                }
                wit::Step::Send(request) => request,
            };
            sent += 1;
            if sent > limits.steps {
                return Err(RunError::TooManySteps {
                    limit: limits.steps,
                });
            }
            let request = self.check_request(request, input.egress)?;
            let now = egress.now_millis();
            if now >= deadline {
                return Err(RunError::TimeLimit {
                    limit_ms: limits.total_time_ms,
                });
            }
            let method = request.method;
            let shown_url = scrub.apply(&request.url);
            let answer = egress
                .send(request, deadline - now, limits.response_body_bytes)
                .await;
            let answer = match answer {
                Ok(r) => {
                    exchanges.push(Exchange {
                        method,
                        url: shown_url,
                        result: Ok(r.status),
                    });
                    Ok(wit::Response {
                        status: r.status,
                        headers: r
                            .headers
                            .into_iter()
                            .map(|(name, value)| wit::Header { name, value })
                            .collect(),
                        body: r.body,
                    })
                }
                Err(e) => {
                    let shown = match &e {
                        EgressError::Timeout => "timeout".to_owned(),
                        EgressError::Connection(why) => scrub.apply(why),
                        EgressError::ResponseTooLarge => "response too large".to_owned(),
                    };
                    exchanges.push(Exchange {
                        method,
                        url: shown_url,
                        result: Err(shown.clone()),
                    });
                    match e {
                        EgressError::ResponseTooLarge => {
                            return Err(RunError::ResponseTooLarge {
                                limit: limits.response_body_bytes,
                            })
                        }
                        EgressError::Timeout => Err(wit::TransportError::Timeout),
                        EgressError::Connection(_) => Err(wit::TransportError::Connection(shown)),
                    }
                }
            };
            // A request that ran out of time reaches the plugin as a timeout (a transient
            // verdict); the deadline stops the run only before another request.
            step = check
                .call_resume(&mut *store, answer.as_ref())
                .map_err(|e| self.classify(store, &e))?;
        }
    }

    /// Checks a plugin's request against the allowlist and the limits.
    fn check_request(
        &self,
        request: wit::Request,
        allow: &[EgressRule],
    ) -> Result<HttpRequest, RunError> {
        let limits = &self.limits;
        let text: usize = request.url.len()
            + request
                .headers
                .iter()
                .map(|h| h.name.len() + h.value.len())
                .sum::<usize>();
        if text > limits.output_bytes || request.headers.len() > MAX_HEADERS {
            return Err(RunError::OutputTooLarge {
                size: text,
                limit: limits.output_bytes,
            });
        }
        if let Some(body) = &request.body {
            if body.len() > limits.request_body_bytes {
                return Err(RunError::RequestTooLarge {
                    size: body.len(),
                    limit: limits.request_body_bytes,
                });
            }
        }
        let url = url::Url::parse(&request.url)
            .map_err(|e| RunError::BadRequest(format!("the URL does not parse ({e})")))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(RunError::BadRequest(
                "credentials in the URL are not allowed; use a header".to_owned(),
            ));
        }
        let host = url
            .host_str()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let port = url.port_or_known_default().unwrap_or(0);
        let method = match request.method {
            wit::Method::Get => "GET",
            wit::Method::Head => "HEAD",
            wit::Method::Post => "POST",
            wit::Method::Put => "PUT",
            wit::Method::Patch => "PATCH",
            wit::Method::Delete => "DELETE",
        };
        // The host and path are the plugin's choice and may carry the credential in an encoding
        // no scrubber knows, so a refusal names only what the entry's allowlist already holds:
        // a host of its own (asked for on another scheme or port), never the path.
        let origin = format!("{}://{}:{}", url.scheme(), host, port);
        let mut rules = allow
            .iter()
            .filter(|rule| rule.allows(url.scheme(), host, port))
            .peekable();
        if rules.peek().is_none() {
            let listed = allow.iter().any(|r| r.host.eq_ignore_ascii_case(host));
            return Err(RunError::EgressDenied {
                origin: if listed {
                    origin
                } else {
                    format!("a host not on the list ({}, port {port})", url.scheme())
                },
            });
        }
        // `url` has resolved dot segments, so a prefix cannot be escaped with `..`.
        if !rules.any(|rule| rule.allows_request(method, url.path())) {
            return Err(RunError::EgressDenied {
                origin: format!("{method} {origin} at a path outside the allowed ones"),
            });
        }
        for h in &request.headers {
            let name_ok = !h.name.is_empty()
                && h.name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if !name_ok || h.value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
                // Not the name: the plugin chose it.
                return Err(RunError::BadRequest(
                    "a header has an invalid name or a control character in its value".to_owned(),
                ));
            }
            if h.name.eq_ignore_ascii_case("host") {
                return Err(RunError::BadRequest(
                    "the Host header is set by the host".to_owned(),
                ));
            }
        }
        Ok(HttpRequest {
            method,
            url: url.to_string(),
            headers: request
                .headers
                .into_iter()
                .map(|h| (h.name, h.value))
                .collect(),
            body: request.body,
        })
    }

    fn outcome(&self, o: wit::Outcome, scrub: &Scrubber) -> Result<PluginOutcome, RunError> {
        let size = o.message.len()
            + o.account_label.as_ref().map_or(0, String::len)
            + o.warnings.iter().map(String::len).sum::<usize>();
        if size > self.limits.output_bytes || o.warnings.len() > MAX_WARNINGS {
            return Err(RunError::OutputTooLarge {
                size,
                limit: self.limits.output_bytes,
            });
        }
        Ok(PluginOutcome {
            verdict: match o.verdict {
                wit::Verdict::Connected => Verdict::Connected,
                wit::Verdict::InvalidCredential => Verdict::InvalidCredential,
                wit::Verdict::InsufficientPermission => Verdict::InsufficientPermission,
                wit::Verdict::RateLimited => Verdict::RateLimited,
                wit::Verdict::ProviderUnavailable => Verdict::ProviderUnavailable,
                wit::Verdict::UnexpectedResponse => Verdict::UnexpectedResponse,
            },
            message: scrub.apply(&o.message),
            account_label: o.account_label.map(|l| scrub.apply(&l)),
            warnings: o.warnings.iter().map(|w| scrub.apply(w)).collect(),
            details: crate::details::Details::default(),
            echoed_secret: false,
        })
    }

    /// A v2 plugin's details, held to the contract's counts and scrubbed like every text.
    fn details(
        &self,
        d: crate::details::Details,
        scrub: &Scrubber,
    ) -> Result<crate::details::Details, RunError> {
        use crate::details::{MAX_SCOPES, MAX_SCOPE_BYTES};
        let size: usize = d.missing_scopes.iter().map(String::len).sum();
        if d.missing_scopes.len() > MAX_SCOPES
            || d.missing_scopes.iter().any(|s| s.len() > MAX_SCOPE_BYTES)
            || size > self.limits.output_bytes
        {
            return Err(RunError::OutputTooLarge {
                size,
                limit: self.limits.output_bytes.min(MAX_SCOPES * MAX_SCOPE_BYTES),
            });
        }
        Ok(crate::details::Details {
            missing_scopes: d.missing_scopes.iter().map(|s| scrub.apply(s)).collect(),
            ..d
        })
    }
}

/// Whether wasmtime stopped reading a step because it was over [`Limits::step_bytes`]. Its
/// error type is private, so this reads its message; a test pins the message to this
/// wasmtime version (`copy_budget::steps_over_the_budget_are_refused_before_copying`).
fn is_step_too_large(e: &wasmtime::Error) -> bool {
    e.chain()
        .any(|cause| cause.to_string().contains("fuel allocated for hostcalls"))
}

fn credential(input: &RunInput<'_>) -> crate::wit_credential::Credential {
    crate::wit_credential::Credential {
        secret: input.secret.to_owned(),
        fields: input.fields.to_vec(),
    }
}

/// The scrubber for a run's credential values.
/// Whether an outcome's text holds the main secret in any form the scrubber knows.
fn echoes(o: &wit::Outcome, secret: &str) -> bool {
    let main = Scrubber::new([secret]);
    main.finds(&o.message)
        || o.account_label.as_deref().is_some_and(|l| main.finds(l))
        || o.warnings.iter().any(|w| main.finds(w))
}

fn scrubber(input: &RunInput<'_>) -> Scrubber {
    Scrubber::new(std::iter::once(input.secret).chain(input.fields.iter().map(|(_, v)| v.as_str())))
}

/// A run's error with every string a plugin could have chosen scrubbed; an origin built from
/// a credential is not shown at all.
fn scrub_error(e: RunError, scrub: &Scrubber) -> RunError {
    match e {
        RunError::EgressDenied { origin } if scrub.finds(&origin) => RunError::EgressDenied {
            origin: "an origin built from the credential".to_owned(),
        },
        RunError::BadRequest(why) => RunError::BadRequest(scrub.apply(&why)),
        RunError::Trap(why) if scrub.finds(&why) => {
            RunError::Trap("its message held a credential value and is not shown".to_owned())
        }
        RunError::Trap(why) => RunError::Trap(why),
        RunError::Instantiate(why) => RunError::Instantiate(scrub.apply(&why)),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "sk-FAKE-debug-0123456789";

    #[test]
    fn debug_never_shows_a_credential() {
        let request = HttpRequest {
            method: "POST",
            url: format!("https://api.example.com/v1/me?key={KEY}"),
            headers: vec![("authorization".into(), format!("Bearer {KEY}"))],
            body: Some(format!("token={KEY}").into_bytes()),
        };
        let response = HttpResponse {
            status: 401,
            headers: vec![("x-echo".into(), KEY.into())],
            body: format!("{{\"error\": \"bad key {KEY}\"}}").into_bytes(),
        };
        let fields = vec![("account_sid".to_owned(), KEY.to_owned())];
        let input = RunInput {
            secret: KEY,
            fields: &fields,
            config_json: "{}",
            now_unix_seconds: 0,
            egress: &[],
        };
        let shown = [
            format!("{request:?}"),
            format!("{response:?}"),
            format!("{input:?}"),
            format!("{:?}", crate::scrub::Scrubber::new([KEY]).apply(KEY)),
        ];
        for text in &shown {
            assert!(!text.contains(KEY), "{text}");
        }
        assert!(
            shown[0].contains("api.example.com/v1/me?[redacted]"),
            "{}",
            shown[0]
        );
        assert!(shown[0].contains("authorization"), "{}", shown[0]);
    }

    #[test]
    fn the_memory_limit_holds_across_all_of_a_stores_memories() {
        const MIB: usize = 1 << 20;
        let mut state = HostState::new(32 * MIB);
        assert!(state.memory_growing(0, 20 * MIB, None).expect("ok"));
        // A second memory may not take the whole budget again.
        assert!(!state.memory_growing(0, 20 * MIB, None).expect("ok"));
        assert!(state.memory_exceeded);
        assert!(state.memory_growing(0, 12 * MIB, None).expect("ok"));
        // Growing the first memory counts only the difference.
        assert!(!state.memory_growing(20 * MIB, 21 * MIB, None).expect("ok"));
        assert_eq!(state.memories(), MAX_MEMORIES);
        assert_eq!(state.instances(), MAX_INSTANCES);
    }
}
