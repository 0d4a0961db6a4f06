//! Token verification with a memory: a token that verified once is recognised again by its
//! SHA-256 digest until it expires, instead of being decoded and MAC-checked (under up to two
//! secrets) on every request. Service tokens are long-lived and sent on every resolve, the
//! service's hot path, so most verifications are repeats.
//!
//! The answer is always [`verify_token`]'s: only successes are remembered, under the settings
//! this verifier owns (they cannot change under it), and a remembered token past its `exp` is
//! refused as expired and forgotten. The memory holds digests and claims, never tokens, and is
//! bounded: when full, expired entries go first, then everything.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::auth::{verify_token, AuthSettings, Claims, Signer, TokenError, LEEWAY_SECONDS};

/// How many verified tokens a verifier remembers (claims are a few hundred bytes each).
pub const DEFAULT_CAPACITY: usize = 1024;

/// Verifies tokens under one set of [`AuthSettings`], remembering those that verified.
#[derive(Debug)]
pub struct Verifier {
    settings: AuthSettings,
    seen: HashMap<[u8; 32], (Claims, Signer)>,
    capacity: usize,
}

impl Verifier {
    pub fn new(settings: AuthSettings) -> Self {
        Self::with_capacity(settings, DEFAULT_CAPACITY)
    }

    /// A verifier remembering at most `capacity` tokens (at least one).
    pub fn with_capacity(settings: AuthSettings, capacity: usize) -> Self {
        Self {
            settings,
            seen: HashMap::new(),
            capacity: capacity.max(1),
        }
    }

    /// The settings tokens are verified under (dev login signs with them).
    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }

    /// How many verified tokens are remembered.
    pub fn remembered(&self) -> usize {
        self.seen.len()
    }

    /// [`verify_token`]`(token, settings, now)`, without decoding a token seen before.
    pub fn verify(&mut self, token: &str, now: u64) -> Result<(Claims, Signer), TokenError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some((claims, signer)) = self.seen.get(&digest) {
            if expired(claims, now) {
                self.seen.remove(&digest);
                return Err(TokenError::Expired);
            }
            return Ok((claims.clone(), *signer));
        }
        let verified = verify_token(token, &self.settings, now)?;
        if self.seen.len() >= self.capacity {
            self.seen.retain(|_, (claims, _)| !expired(claims, now));
            if self.seen.len() >= self.capacity {
                self.seen.clear();
            }
        }
        self.seen.insert(digest, verified.clone());
        Ok(verified)
    }
}

fn expired(claims: &Claims, now: u64) -> bool {
    claims.exp.saturating_add(LEEWAY_SECONDS) <= now
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::token_tests::settings;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use proptest::prelude::*;

    const NOW: u64 = 1_764_000_000;

    fn token(role: &str, exp: u64, secret: &[u8]) -> String {
        let claims = serde_json::json!({"sub": "s", "tenant": "t1", "role": role, "exp": exp, "iss": "byok-test", "aud": "byok"});
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(secret),
        )
        .expect("token")
    }

    /// Tokens of every kind: valid under each secret with different lifetimes, signed by a
    /// stranger, for another audience, malformed.
    fn pool() -> Vec<String> {
        let s = settings();
        let mut tokens = vec![
            token("service", NOW + 10, s.secret(Signer::Service)),
            token("service", NOW + 100, s.secret(Signer::Service)),
            token("owner", NOW + 50, s.secret(Signer::User)),
            token("member", NOW + 1_000, s.secret(Signer::User)),
            token("owner", NOW - 100, s.secret(Signer::User)),
            token(
                "service",
                NOW + 100,
                b"a-stranger's-secret-0123456789abcdef",
            ),
            "not.a.token".to_owned(),
            String::new(),
        ];
        let sign = |claims: &serde_json::Value| {
            encode(
                &Header::default(),
                claims,
                &EncodingKey::from_secret(s.secret(Signer::User)),
            )
            .expect("token")
        };
        let mut other = serde_json::json!({"sub": "s", "tenant": "t1", "role": "owner", "exp": NOW + 100, "iss": "byok-test", "aud": "elsewhere"});
        tokens.push(sign(&other));
        other["aud"] = "byok".into();
        other["iss"] = "someone-else".into();
        tokens.push(sign(&other));
        tokens
    }

    #[test]
    fn a_repeat_is_answered_from_memory_until_it_expires() {
        let s = settings();
        let t = token("service", NOW + 10, s.secret(Signer::Service));
        let mut v = Verifier::new(settings());
        let first = v.verify(&t, NOW).expect("valid");
        assert_eq!(v.remembered(), 1);
        assert_eq!(v.verify(&t, NOW + 1), Ok(first));
        assert_eq!(
            v.verify(&t, NOW + 10 + LEEWAY_SECONDS),
            Err(TokenError::Expired)
        );
        assert_eq!(v.remembered(), 0, "an expired token is forgotten");
    }

    #[test]
    fn refusals_are_not_remembered_and_memory_is_bounded() {
        let mut v = Verifier::with_capacity(settings(), 2);
        for t in pool() {
            let _ = v.verify(&t, NOW);
            assert!(v.remembered() <= 2);
        }
        let mut v = Verifier::new(settings());
        assert!(v.verify("not.a.token", NOW).is_err());
        assert_eq!(v.remembered(), 0);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Whatever the order of tokens and however the clock moves forward, the verifier
        /// answers exactly as `verify_token` would, and never remembers more than its capacity.
        #[test]
        fn answers_as_verify_token_does(
            steps in proptest::collection::vec((0usize..10, 0u64..40), 1..60),
            capacity in 1usize..4,
        ) {
            let tokens = pool();
            let s = settings();
            let mut v = Verifier::with_capacity(settings(), capacity);
            let mut now = NOW;
            for (i, advance) in steps {
                now += advance;
                let t = &tokens[i % tokens.len()];
                prop_assert_eq!(v.verify(t, now), verify_token(t, &s, now));
                prop_assert!(v.remembered() <= capacity);
            }
        }
    }
}
