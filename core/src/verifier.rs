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
use crate::idp::{read_header, Check, Idp, JwksError};

/// How many verified tokens a verifier remembers (claims are a few hundred bytes each).
pub const DEFAULT_CAPACITY: usize = 1024;

/// Verifies tokens under one set of [`AuthSettings`], remembering those that verified.
#[derive(Debug)]
pub struct Verifier {
    settings: AuthSettings,
    seen: HashMap<[u8; 32], (Claims, Signer)>,
    capacity: usize,
    /// The platform's identity provider, when `AUTH_JWKS_URL` is set.
    idp: Option<Idp>,
}

/// The outcome of [`Verifier::check`].
#[derive(Debug)]
pub enum Outcome {
    Verified(Box<Claims>, Signer),
    Refused(TokenError),
    /// The identity provider's key set is needed: fetch it from [`Verifier::jwks_url`], hand
    /// it to [`Verifier::keys_fetched`] (or [`Verifier::keys_unavailable`]) and check again.
    FetchKeys,
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
            idp: None,
        }
    }

    /// Also accepts tokens signed by the identity provider's keys.
    pub fn with_idp(mut self, idp: Option<Idp>) -> Self {
        self.idp = idp;
        self
    }

    /// Where the identity provider's key set is, if one is configured.
    pub fn jwks_url(&self) -> Option<&str> {
        self.idp.as_ref().map(|i| i.config.jwks_url.as_str())
    }

    /// Checks any token at `now`: one seen before from memory; one whose header names a `kid`
    /// (when an identity provider is configured) against its key set, with the key's
    /// algorithm; any other as [`verify_token`] does (HS256 under the two secrets).
    pub fn check(&mut self, token: &str, now: u64) -> Outcome {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(answer) = self.recall(&digest, now) {
            return match answer {
                Ok((claims, signer)) => Outcome::Verified(Box::new(claims), signer),
                Err(e) => Outcome::Refused(e),
            };
        }
        let header = match read_header(token) {
            Ok(h) => h,
            Err(e) => return Outcome::Refused(e),
        };
        let verified = match (&self.idp, header.kid.is_some()) {
            (Some(idp), true) => match idp.check(token, &header, now) {
                // Identity-provider tokens carry user roles only (`map_claims` never gives
                // `service`), which the user secret's signer stands for.
                Check::Verified(claims) => Ok((*claims, Signer::User)),
                Check::Refused(e) => Err(e),
                Check::FetchKeys => return Outcome::FetchKeys,
            },
            _ => verify_token(token, &self.settings, now),
        };
        match verified {
            Ok(v) => {
                self.remember(digest, v.clone(), now);
                Outcome::Verified(Box::new(v.0), v.1)
            }
            Err(e) => Outcome::Refused(e),
        }
    }

    /// The key set fetched at `now`. When its key ids changed, every remembered verification
    /// is forgotten, so a key taken out of the set stops working at once.
    pub fn keys_fetched(
        &mut self,
        body: &[u8],
        cache_control: Option<&str>,
        now: u64,
    ) -> Result<(), JwksError> {
        let Some(idp) = self.idp.as_mut() else {
            return Ok(());
        };
        if idp.fetched(body, cache_control, now)? {
            self.seen.clear();
        }
        Ok(())
    }

    /// The key set could not be fetched at `now`: cached keys stay in use.
    pub fn keys_unavailable(&mut self, now: u64) {
        if let Some(idp) = self.idp.as_mut() {
            idp.fetch_failed(now);
        }
    }

    fn recall(
        &mut self,
        digest: &[u8; 32],
        now: u64,
    ) -> Option<Result<(Claims, Signer), TokenError>> {
        let (claims, signer) = self.seen.get(digest)?;
        if expired(claims, now) {
            self.seen.remove(digest);
            return Some(Err(TokenError::Expired));
        }
        Some(Ok((claims.clone(), *signer)))
    }

    fn remember(&mut self, digest: [u8; 32], verified: (Claims, Signer), now: u64) {
        if self.seen.len() >= self.capacity {
            self.seen.retain(|_, (claims, _)| !expired(claims, now));
            if self.seen.len() >= self.capacity {
                self.seen.clear();
            }
        }
        self.seen.insert(digest, verified);
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
        if let Some(answer) = self.recall(&digest, now) {
            return answer;
        }
        let verified = verify_token(token, &self.settings, now)?;
        self.remember(digest, verified.clone(), now);
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

    #[test]
    fn identity_provider_tokens_and_hs256_tokens_share_one_check() {
        use crate::idp::tests as idp;
        use jsonwebtoken::Algorithm;
        let mut v = Verifier::new(settings()).with_idp(Some(Idp::new(idp::config())));
        let rs = idp::sign(Algorithm::RS256, "rsa-1", &idp::claims());
        assert!(matches!(v.check(&rs, idp::NOW), Outcome::FetchKeys));
        v.keys_fetched(&idp::jwks(), Some("max-age=60"), idp::NOW)
            .expect("jwks");
        assert!(matches!(
            v.check(&rs, idp::NOW),
            Outcome::Verified(_, Signer::User)
        ));
        let hs = token("owner", idp::NOW + 50, settings().secret(Signer::User));
        assert!(matches!(
            v.check(&hs, idp::NOW),
            Outcome::Verified(_, Signer::User)
        ));
        assert_eq!(v.remembered(), 2);
        // The identity provider drops the key: what was remembered under it is forgotten.
        let k = idp::keys();
        let rotated = serde_json::json!({"keys": [k.ec.1]}).to_string();
        v.keys_fetched(rotated.as_bytes(), None, idp::NOW + 60)
            .expect("jwks");
        assert_eq!(v.remembered(), 0);
        assert!(matches!(
            v.check(&rs, idp::NOW + 61),
            Outcome::Refused(TokenError::UnknownKey(_))
        ));
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
