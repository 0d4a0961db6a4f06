//! Webhooks as the Standard Webhooks specification signs them (standardwebhooks.com): the
//! headers `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature`
//! (`v1,<base64 HMAC-SHA256>`, several separated by spaces), over the content
//! `{id}.{timestamp}.{body}`, keyed by the secret `whsec_<base64>` decoded; and when a failed
//! delivery is tried again.
//!
//! The service signs ([`sign`]); receivers, and `byok webhook verify`, check ([`verify`]):
//! the signature in constant time, and the timestamp within [`TOLERANCE_S`] of their clock so
//! a captured delivery cannot be replayed later.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

pub const ID_HEADER: &str = "webhook-id";
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "webhook-signature";
/// How far a delivery's timestamp may be from the receiver's clock, either way.
pub const TOLERANCE_S: u64 = 5 * 60;
const PREFIX: &str = "whsec_";
/// The specification's bounds on the decoded secret.
const MIN_SECRET_BYTES: usize = 24;
const MAX_SECRET_BYTES: usize = 64;

/// A signing secret (`whsec_` and 24 to 64 bytes in base64). `Debug` shows no byte of it.
#[derive(Clone)]
pub struct WebhookSecret(Zeroizing<Vec<u8>>);

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

/// Why a secret is refused. Never quotes it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("the webhook secret must start with 'whsec_'")]
    Prefix,
    #[error("the webhook secret after 'whsec_' must be base64")]
    Base64,
    #[error("the webhook secret must hold 24 to 64 bytes (it holds {0})")]
    Length(usize),
}

impl WebhookSecret {
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let b64 = text
            .trim()
            .strip_prefix(PREFIX)
            .ok_or(SecretError::Prefix)?;
        let bytes = Zeroizing::new(STANDARD.decode(b64).map_err(|_| SecretError::Base64)?);
        if !(MIN_SECRET_BYTES..=MAX_SECRET_BYTES).contains(&bytes.len()) {
            return Err(SecretError::Length(bytes.len()));
        }
        Ok(Self(bytes))
    }

    /// A secret from raw bytes, for tests and for generating one (`whsec_` + base64).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SecretError> {
        Self::parse(&format!("{PREFIX}{}", STANDARD.encode(bytes)))
    }

    /// The secret as an operator sets it (`whsec_...`).
    pub fn to_text(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("{PREFIX}{}", STANDARD.encode(&*self.0)))
    }

    fn mac(&self, id: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
        // HMAC takes keys of any length: this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }
}

/// The three headers of one delivery, as (name, value).
pub fn sign(
    secret: &WebhookSecret,
    id: &str,
    timestamp_s: u64,
    body: &[u8],
) -> [(&'static str, String); 3] {
    let ts = timestamp_s.to_string();
    let sig = STANDARD.encode(secret.mac(id, &ts, body).finalize().into_bytes());
    [
        (ID_HEADER, id.to_owned()),
        (TIMESTAMP_HEADER, ts),
        (SIGNATURE_HEADER, format!("v1,{sig}")),
    ]
}

/// Why a delivery does not verify, in words for the receiver's developer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the '{0}' header is missing")]
    Missing(&'static str),
    #[error("'webhook-timestamp' must be whole Unix seconds")]
    BadTimestamp,
    #[error("the delivery is {0} s older than allowed (5 minutes): a replay, or a slow clock")]
    TooOld(u64),
    #[error("the delivery is {0} s in the future beyond the 5 minutes allowed: check the clock")]
    TooNew(u64),
    #[error("no 'v1' signature in 'webhook-signature' matches this body under this secret")]
    NoMatch,
}

/// Checks a delivery's headers and exact body bytes against `secret` at `now_s`.
pub fn verify(
    secret: &WebhookSecret,
    id: Option<&str>,
    timestamp: Option<&str>,
    signatures: Option<&str>,
    body: &[u8],
    now_s: u64,
) -> Result<(), VerifyError> {
    let id = id.ok_or(VerifyError::Missing(ID_HEADER))?;
    let ts_text = timestamp.ok_or(VerifyError::Missing(TIMESTAMP_HEADER))?;
    let signatures = signatures.ok_or(VerifyError::Missing(SIGNATURE_HEADER))?;
    let ts: u64 = ts_text
        .trim()
        .parse()
        .map_err(|_| VerifyError::BadTimestamp)?;
    // Differences, never sums: a hostile timestamp near u64::MAX must not overflow.
    let (late, early) = (now_s.saturating_sub(ts), ts.saturating_sub(now_s));
    if late > TOLERANCE_S {
        return Err(VerifyError::TooOld(late - TOLERANCE_S));
    }
    if early > TOLERANCE_S {
        return Err(VerifyError::TooNew(early - TOLERANCE_S));
    }
    let matches = signatures
        .split_whitespace()
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|b64| STANDARD.decode(b64).ok())
        .any(|sig| {
            secret
                .mac(id, ts_text.trim(), body)
                .verify_slice(&sig)
                .is_ok()
        });
    if matches {
        Ok(())
    } else {
        Err(VerifyError::NoMatch)
    }
}

/// When failed deliveries are tried again: after `base_s`, doubling each attempt up to
/// `cap_s`; after `max_attempts` attempts the event is dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub base_s: u32,
    pub cap_s: u32,
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    /// 30 s, 1 min, 2 min, ... capped at 6 h, eight attempts: about 2 hours of retries.
    fn default() -> Self {
        Self {
            base_s: 30,
            cap_s: 6 * 3600,
            max_attempts: 8,
        }
    }
}

/// What to do after attempt number `attempt` (1 for the first) of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Delivered,
    RetryAfter { seconds: u32 },
    DeadLetter,
}

impl RetryPolicy {
    /// A delivery answered with `status` (`None`: no answer) on attempt `attempt`. Any 2xx is
    /// delivered; anything else is tried again (the receiver's own errors included: it may be
    /// deploying), until the attempts run out.
    pub fn after(&self, status: Option<u16>, attempt: u32) -> Next {
        if status.is_some_and(|s| (200..300).contains(&s)) {
            return Next::Delivered;
        }
        if attempt >= self.max_attempts {
            return Next::DeadLetter;
        }
        let doubling = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        Next::RetryAfter {
            seconds: self.base_s.saturating_mul(doubling).min(self.cap_s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The specification's own example (standard-webhooks, spec/standard-webhooks.md).
    #[test]
    fn signs_the_specification_example() {
        let secret =
            WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("secret");
        let body = br#"{"test": 2432232314}"#;
        let headers = sign(&secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(
            headers[2].1,
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert_eq!(
            verify(
                &secret,
                Some("msg_p5jXN8AQM9LWM0D4loKWxJek"),
                Some("1614265330"),
                Some(&format!("v1,bogus= {}", headers[2].1)),
                body,
                1614265330 + 10,
            ),
            Ok(())
        );
    }

    #[test]
    fn refuses_replays_tampering_and_other_secrets() {
        let secret = WebhookSecret::from_bytes(&[7u8; 32]).expect("secret");
        let other = WebhookSecret::from_bytes(&[8u8; 32]).expect("secret");
        let body = b"{\"a\":1}";
        let [(_, id), (_, ts), (_, sig)] = sign(&secret, "msg_1", 1_000_000, body);
        let check = |s: &WebhookSecret, body: &[u8], now| {
            verify(s, Some(&id), Some(&ts), Some(&sig), body, now)
        };
        assert_eq!(check(&secret, body, 1_000_000), Ok(()));
        assert_eq!(check(&other, body, 1_000_000), Err(VerifyError::NoMatch));
        assert_eq!(
            check(&secret, b"{\"a\":2}", 1_000_000),
            Err(VerifyError::NoMatch)
        );
        assert_eq!(
            check(&secret, body, 1_000_000 + TOLERANCE_S + 7),
            Err(VerifyError::TooOld(7))
        );
        assert!(matches!(
            check(&secret, body, 1_000_000 - TOLERANCE_S - 1),
            Err(VerifyError::TooNew(1))
        ));
        assert_eq!(
            verify(&secret, Some(&id), None, Some(&sig), body, 1_000_000),
            Err(VerifyError::Missing(TIMESTAMP_HEADER))
        );
    }

    #[test]
    fn secrets_are_checked_and_never_shown() {
        assert_eq!(WebhookSecret::parse("abc").err(), Some(SecretError::Prefix));
        assert_eq!(
            WebhookSecret::parse("whsec_!!").err(),
            Some(SecretError::Base64)
        );
        assert_eq!(
            WebhookSecret::from_bytes(&[1; 8]).err(),
            Some(SecretError::Length(8))
        );
        let s = WebhookSecret::from_bytes(&[1; 32]).expect("secret");
        assert_eq!(format!("{s:?}"), "WebhookSecret(..)");
        assert!(WebhookSecret::parse(&s.to_text()).is_ok());
    }

    #[test]
    fn retries_double_up_to_the_cap_then_dead_letter() {
        let p = RetryPolicy {
            base_s: 30,
            cap_s: 200,
            max_attempts: 5,
        };
        let seen: Vec<Next> = (1..=5).map(|a| p.after(Some(500), a)).collect();
        assert_eq!(
            seen,
            vec![
                Next::RetryAfter { seconds: 30 },
                Next::RetryAfter { seconds: 60 },
                Next::RetryAfter { seconds: 120 },
                Next::RetryAfter { seconds: 200 },
                Next::DeadLetter
            ]
        );
        assert_eq!(p.after(Some(204), 5), Next::Delivered);
        assert_eq!(p.after(None, 1), Next::RetryAfter { seconds: 30 });
    }

    proptest! {
        /// What was signed verifies; any change to the id, the timestamp or the body does not.
        #[test]
        fn signatures_bind_id_timestamp_and_body(
            key in proptest::collection::vec(any::<u8>(), 24..=64),
            id in "msg_[A-Za-z0-9]{1,30}",
            ts in 1_000_000u64..4_000_000_000,
            body in proptest::collection::vec(any::<u8>(), 0..200),
            flip in any::<prop::sample::Index>(),
        ) {
            let secret = WebhookSecret::from_bytes(&key).expect("secret");
            let [(_, _), (_, t), (_, sig)] = sign(&secret, &id, ts, &body);
            prop_assert_eq!(verify(&secret, Some(&id), Some(&t), Some(&sig), &body, ts), Ok(()));
            let other_id = format!("{id}x");
            prop_assert_eq!(verify(&secret, Some(&other_id), Some(&t), Some(&sig), &body, ts), Err(VerifyError::NoMatch));
            let later = (ts + 1).to_string();
            prop_assert_eq!(verify(&secret, Some(&id), Some(&later), Some(&sig), &body, ts), Err(VerifyError::NoMatch));
            if !body.is_empty() {
                let mut changed = body.clone();
                let i = flip.index(changed.len());
                changed[i] ^= 1;
                prop_assert_eq!(verify(&secret, Some(&id), Some(&t), Some(&sig), &changed, ts), Err(VerifyError::NoMatch));
            }
        }

        /// Any timestamp and any clock, extremes included, get an answer and never a panic
        /// or a wrapped difference: within the tolerance a signed delivery verifies, outside
        /// it the error says by how much (review L8).
        #[test]
        fn extreme_timestamps_and_clocks_are_answered_not_overflowed(
            ts in prop_oneof![Just(0u64), Just(u64::MAX), Just(u64::MAX - TOLERANCE_S), any::<u64>()],
            now in prop_oneof![Just(0u64), Just(u64::MAX), any::<u64>()],
        ) {
            let secret = WebhookSecret::from_bytes(&[7u8; 32]).expect("secret");
            let [(_, id), (_, t), (_, sig)] = sign(&secret, "msg_1", ts, b"{}");
            let got = verify(&secret, Some(&id), Some(&t), Some(&sig), b"{}", now);
            let distance = ts.abs_diff(now);
            if distance <= TOLERANCE_S {
                prop_assert_eq!(got, Ok(()));
            } else if now > ts {
                prop_assert_eq!(got, Err(VerifyError::TooOld(distance - TOLERANCE_S)));
            } else {
                prop_assert_eq!(got, Err(VerifyError::TooNew(distance - TOLERANCE_S)));
            }
        }

        /// Any 2xx ends the deliveries; nothing else does before the last attempt, and every
        /// wait is within the base and the cap.
        #[test]
        fn only_a_2xx_delivers(status in proptest::option::of(100u16..600), attempt in 1u32..40) {
            let p = RetryPolicy::default();
            match p.after(status, attempt) {
                Next::Delivered => prop_assert!(status.is_some_and(|s| (200..300).contains(&s))),
                Next::DeadLetter => prop_assert!(attempt >= p.max_attempts),
                Next::RetryAfter { seconds } => {
                    prop_assert!(seconds >= p.base_s && seconds <= p.cap_s);
                    prop_assert!(attempt < p.max_attempts);
                }
            }
        }
    }
}
