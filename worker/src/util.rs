//! The Worker's clock and randomness, handed to the core as values and traits.

use rand_core::{CryptoRng, RngCore};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Milliseconds since the Unix epoch (the isolate's clock).
pub fn now_millis() -> u64 {
    worker::Date::now().as_millis()
}

/// RFC 3339 in UTC, to the millisecond.
pub fn rfc3339(millis: u64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
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
