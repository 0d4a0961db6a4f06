//! The Worker's clock and randomness, handed to the core as values and traits.

use rand_core::{CryptoRng, RngCore};

/// Milliseconds since the Unix epoch (the isolate's clock).
pub fn now_millis() -> u64 {
    worker::Date::now().as_millis()
}

/// RFC 3339 in UTC with three fractional digits, so that stored text sorts in time order
/// (`core::timestamp`).
pub fn rfc3339(millis: u64) -> String {
    byok_core::timestamp::rfc3339_millis(millis)
}

thread_local! {
    /// Subrequests (D1, KV, Queues, fetch) made by this isolate since the last [`take_subrequests`].
    static SUBREQUESTS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Counts one subrequest when awaited on: `.await.counted()`. The queue consumer reports how
/// many one invocation made, which the Workers limits bound (1,000 on paid plans, 50 on free).
pub trait Counted: Sized {
    fn counted(self) -> Self {
        SUBREQUESTS.with(|c| c.set(c.get().saturating_add(1)));
        self
    }
}
impl<T> Counted for T {}

/// The subrequests counted so far (since the last [`take_subrequests`]).
pub fn subrequests() -> u32 {
    SUBREQUESTS.with(|c| c.get())
}

/// The subrequests counted since the last call, and a fresh count.
pub fn take_subrequests() -> u32 {
    SUBREQUESTS.with(|c| c.replace(0))
}

thread_local! {
    /// Time spent per span name since the last [`take_server_timing`] (`Server-Timing`).
    static SPANS: std::cell::RefCell<Vec<(&'static str, f64)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

pub fn clock_ms() -> f64 {
    js_sys::Date::now()
}

/// Adds the time `f` took to the span `name`. On Cloudflare the clock advances only across
/// I/O, so spans of pure computation read as 0 there; I/O spans (D1, KV, fetch) are real.
pub async fn timed<F: std::future::Future>(name: &'static str, f: F) -> F::Output {
    let start = clock_ms();
    let out = f.await;
    add_span(name, clock_ms() - start);
    out
}

/// The same for synchronous work.
pub fn timed_sync<T>(name: &'static str, f: impl FnOnce() -> T) -> T {
    let start = clock_ms();
    let out = f();
    add_span(name, clock_ms() - start);
    out
}

fn add_span(name: &'static str, ms: f64) {
    SPANS.with(|s| {
        let mut spans = s.borrow_mut();
        match spans.iter_mut().find(|(n, _)| *n == name) {
            Some((_, total)) => *total += ms,
            None => spans.push((name, ms)),
        }
    });
}

/// The spans since the last call as a `Server-Timing` value (`d1;dur=1.0, fetch;dur=0.4`),
/// and a fresh start.
pub fn take_server_timing() -> String {
    SPANS.with(|s| {
        s.borrow_mut()
            .drain(..)
            .map(|(name, ms)| format!("{name};dur={ms:.1}"))
            .collect::<Vec<_>>()
            .join(", ")
    })
}

/// The platform CSPRNG (`crypto.getRandomValues`) as a `rand_core` RNG for the keyring.
pub struct JsRng;

impl RngCore for JsRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        // crypto.getRandomValues does not fail for buffers of this size; a failure here
        // would mean the runtime has no CSPRNG, and sealing must not go on without one.
        if getrandom::fill(dest).is_err() {
            panic!("no CSPRNG available");
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        getrandom::fill(dest).map_err(|_| rand_core::Error::from(core::num::NonZeroU32::MIN))
    }
}

impl CryptoRng for JsRng {}

/// Lowercase hex SHA-256 of `bytes` (how plugins are named).
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
