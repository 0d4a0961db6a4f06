//! The integration status state machine and the verdicts a connection test can reach.
//!
//! ```text
//!                 key saved                       test: passed
//!  Disconnected ─────────────► Unverified ─────────────────────► Connected
//!       ▲                        │   ▲  ▲                           │
//!       │ key removed            │   │  └──── key saved ────────────┤
//!       └──── (from any) ────────┘   │                               │
//!                                    └──── key saved ─── Invalid ◄───┘ test: rejected
//! ```
//!
//! A test that cannot conclude (rate limit, provider down, timeout, unexpected answer, plugin
//! fault, no plugin) changes nothing: it adds no knowledge about the key, so a transient failure
//! never turns a saved key `invalid`, and never turns an invalid key `connected` either.

use serde::{Deserialize, Serialize};

/// What the user sees on the Settings page.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Installed, no key.
    Disconnected,
    /// A key is saved and its last conclusive test passed.
    Connected,
    /// A key is saved and the provider rejected it (or it lacks a permission the platform needs).
    Invalid,
    /// A key is saved and no test has concluded since it was saved.
    Unverified,
}

impl Status {
    pub const ALL: [Status; 4] = [
        Status::Disconnected,
        Status::Connected,
        Status::Invalid,
        Status::Unverified,
    ];

    /// The stored and wire name (`connected`...), as serde writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Disconnected => "disconnected",
            Status::Connected => "connected",
            Status::Invalid => "invalid",
            Status::Unverified => "unverified",
        }
    }

    /// From the stored name; anything else is `None`.
    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// The state of a freshly installed integration.
    pub fn installed(with_key: bool) -> Self {
        if with_key {
            Status::Unverified
        } else {
            Status::Disconnected
        }
    }

    pub fn has_key(self) -> bool {
        self != Status::Disconnected
    }

    /// Applies one event. The only refused move is testing an integration that has no key.
    pub fn apply(self, event: Event) -> Result<Status, TransitionError> {
        match (self, event) {
            (_, Event::KeySaved) => Ok(Status::Unverified),
            (_, Event::KeyRemoved) => Ok(Status::Disconnected),
            (Status::Disconnected, Event::Tested(_)) => Err(TransitionError::NoKeyToTest),
            (current, Event::Tested(finding)) => Ok(match finding {
                Finding::Passed => Status::Connected,
                Finding::Rejected => Status::Invalid,
                Finding::Inconclusive => current,
            }),
        }
    }
}

/// What happened to an integration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A new key was stored (install with a key, or Save in settings).
    KeySaved,
    /// The key was removed.
    KeyRemoved,
    /// A connection test finished.
    Tested(Finding),
}

/// What a finished test says about the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finding {
    Passed,
    Rejected,
    Inconclusive,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("this integration has no key to test: add one first")]
    NoKeyToTest,
}

/// A connection test's verdict, as a plugin reports it (the WIT contract's `verdict`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Connected,
    InvalidCredential,
    /// The key is valid but lacks a scope the platform needs.
    InsufficientPermission,
    RateLimited,
    /// 5xx or timeout: transient.
    ProviderUnavailable,
    UnexpectedResponse,
}

impl Verdict {
    pub fn finding(self) -> Finding {
        match self {
            Verdict::Connected => Finding::Passed,
            Verdict::InvalidCredential | Verdict::InsufficientPermission => Finding::Rejected,
            Verdict::RateLimited | Verdict::ProviderUnavailable | Verdict::UnexpectedResponse => {
                Finding::Inconclusive
            }
        }
    }
}

/// Any status, for property tests across the crate.
#[cfg(test)]
pub(crate) fn any_status() -> impl proptest::strategy::Strategy<Value = Status> {
    use proptest::prelude::*;
    prop_oneof![
        Just(Status::Disconnected),
        Just(Status::Connected),
        Just(Status::Unverified),
        Just(Status::Invalid),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for st in Status::ALL {
            assert_eq!(Status::parse(st.as_str()), Some(st));
            assert_eq!(serde_json::to_value(st).expect("json"), st.as_str());
        }
        assert_eq!(Status::parse("broken"), None);
    }

    #[test]
    fn install_paths() {
        assert_eq!(Status::installed(false), Status::Disconnected);
        assert_eq!(Status::installed(true), Status::Unverified);
    }

    #[test]
    fn a_transient_failure_keeps_a_connected_key_connected() {
        let s = Status::installed(true)
            .apply(Event::Tested(Verdict::Connected.finding()))
            .and_then(|s| s.apply(Event::Tested(Verdict::ProviderUnavailable.finding())))
            .and_then(|s| s.apply(Event::Tested(Verdict::RateLimited.finding())));
        assert_eq!(s, Ok(Status::Connected));
    }

    #[test]
    fn insufficient_permission_is_a_rejection() {
        let s = Status::Unverified.apply(Event::Tested(Verdict::InsufficientPermission.finding()));
        assert_eq!(s, Ok(Status::Invalid));
    }

    #[test]
    fn testing_without_a_key_is_refused() {
        assert_eq!(
            Status::Disconnected.apply(Event::Tested(Finding::Passed)),
            Err(TransitionError::NoKeyToTest)
        );
    }

    fn event() -> impl Strategy<Value = Event> {
        prop_oneof![
            Just(Event::KeySaved),
            Just(Event::KeyRemoved),
            Just(Event::Tested(Finding::Passed)),
            Just(Event::Tested(Finding::Rejected)),
            Just(Event::Tested(Finding::Inconclusive)),
        ]
    }

    proptest! {
        /// The machine agrees with a model written from the product's rules:
        /// no key → disconnected; otherwise the latest conclusive test since the last save
        /// decides, and with none the key is unverified.
        #[test]
        fn status_follows_the_latest_conclusive_test_since_the_last_save(
            start_with_key in any::<bool>(),
            events in proptest::collection::vec(event(), 0..64),
        ) {
            let mut status = Status::installed(start_with_key);
            let mut has_key = start_with_key;
            let mut latest: Option<Finding> = None;
            for e in events {
                let before = status;
                match status.apply(e) {
                    Ok(next) => status = next,
                    Err(TransitionError::NoKeyToTest) => {
                        prop_assert!(!has_key, "only a keyless integration refuses a test");
                        prop_assert_eq!(before, Status::Disconnected);
                        continue;
                    }
                }
                match e {
                    Event::KeySaved => { has_key = true; latest = None; }
                    Event::KeyRemoved => { has_key = false; latest = None; }
                    Event::Tested(Finding::Inconclusive) => {
                        prop_assert_eq!(status, before, "an inconclusive test changes nothing");
                    }
                    Event::Tested(f) => latest = Some(f),
                }
                let expected = match (has_key, latest) {
                    (false, _) => Status::Disconnected,
                    (true, None) => Status::Unverified,
                    (true, Some(Finding::Passed)) => Status::Connected,
                    (true, Some(_)) => Status::Invalid,
                };
                prop_assert_eq!(status, expected);
            }
        }

        /// A transient verdict never makes a key invalid that was not invalid already.
        #[test]
        fn transient_verdicts_never_invalidate(
            start in prop_oneof![Just(Status::Connected), Just(Status::Unverified), Just(Status::Invalid)],
            transient in prop_oneof![
                Just(Verdict::RateLimited),
                Just(Verdict::ProviderUnavailable),
                Just(Verdict::UnexpectedResponse),
            ],
        ) {
            let next = start.apply(Event::Tested(transient.finding()));
            prop_assert_eq!(next, Ok(start));
        }
    }
}
