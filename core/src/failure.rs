//! Why a key failed, from a closed set, with the words and the next step a user can act on
//! (issue #21, part 2). Settings, the history, the webhooks and the API all carry these same
//! words, so no consumer has to write them again.
//!
//! [`classify`] decides the reason from what a test reported and what is known about the key
//! (whether it ever worked since it was stored); [`Failure::words`] says it. No I/O.

use serde::{Deserialize, Serialize};

use crate::api::{HostVerdict, ReportedVerdict};
use crate::status::Verdict;

/// Why a test did not say "connected". Closed: a consumer may match on every value.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Failure {
    /// Refused, and it never worked since it was stored: mistyped, or from another account.
    WrongKey,
    /// Refused after it had worked: revoked or rolled at the provider.
    Revoked,
    /// Accepted, but it lacks a permission or scope the platform needs.
    MissingPermission,
    /// A key of the wrong mode or account (a test-mode key where live is expected).
    WrongMode,
    /// The provider's account is out of credit or quota.
    Billing,
    /// The key (or token) has expired.
    Expired,
    /// The provider is down or did not answer in time.
    ProviderDown,
    /// The provider is limiting requests.
    RateLimited,
    /// This service refused to let the test reach an address the provider's entry does not
    /// allow.
    NetworkRefused,
    /// The provider answered in a way the test does not recognise.
    UnexpectedAnswer,
    /// The test itself failed on this service's side.
    TestFault,
}

/// What a v2 plugin says about a failing credential beyond its verdict (`wit/v2`'s `hint`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Hint {
    Billing,
    WrongMode,
    Expired,
}

/// What to tell the user: what happened, and what to do.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Words {
    pub summary: String,
    pub next_step: String,
}

/// A failure with its words, as the API carries it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureView {
    pub reason: Failure,
    pub summary: String,
    pub next_step: String,
}

impl Failure {
    pub const ALL: [Failure; 11] = [
        Failure::WrongKey,
        Failure::Revoked,
        Failure::MissingPermission,
        Failure::WrongMode,
        Failure::Billing,
        Failure::Expired,
        Failure::ProviderDown,
        Failure::RateLimited,
        Failure::NetworkRefused,
        Failure::UnexpectedAnswer,
        Failure::TestFault,
    ];

    /// The wire name (`wrong-key`...), as serde writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Failure::WrongKey => "wrong-key",
            Failure::Revoked => "revoked",
            Failure::MissingPermission => "missing-permission",
            Failure::WrongMode => "wrong-mode",
            Failure::Billing => "billing",
            Failure::Expired => "expired",
            Failure::ProviderDown => "provider-down",
            Failure::RateLimited => "rate-limited",
            Failure::NetworkRefused => "network-refused",
            Failure::UnexpectedAnswer => "unexpected-answer",
            Failure::TestFault => "test-fault",
        }
    }

    /// Whether the key itself is at fault (the user must change something), as opposed to a
    /// passing condition (the provider, this service) that says nothing about the key.
    pub fn is_the_key(self) -> bool {
        matches!(
            self,
            Failure::WrongKey
                | Failure::Revoked
                | Failure::MissingPermission
                | Failure::WrongMode
                | Failure::Billing
                | Failure::Expired
        )
    }

    pub fn words(self) -> Words {
        let (summary, next_step) = match self {
            Failure::WrongKey => (
                "The provider does not accept this key.",
                "Check that you copied the whole key, from the right account, and paste it again.",
            ),
            Failure::Revoked => (
                "The provider no longer accepts this key, which worked before: it was revoked or rolled.",
                "If you did not revoke it, it may have leaked: roll it at the provider now, then paste the new key here.",
            ),
            Failure::MissingPermission => (
                "The key works but lacks a permission this platform needs.",
                "Give the key the permissions named in the instructions at the provider (or create one that has them), then test again.",
            ),
            Failure::WrongMode => (
                "The key is for the wrong mode or account (for example a test-mode key where a live one is needed).",
                "Create a key in the mode and account the instructions name, and paste it here.",
            ),
            Failure::Billing => (
                "The provider refuses requests because the account is out of credit or quota.",
                "Add credit or raise the quota in the provider's billing settings, then test again.",
            ),
            Failure::Expired => (
                "The key has expired.",
                "Create a new key at the provider and paste it here.",
            ),
            Failure::ProviderDown => (
                "The provider did not answer properly (it may be down or slow). This says nothing about the key.",
                "Nothing to change: try the test again in a few minutes.",
            ),
            Failure::RateLimited => (
                "The provider is limiting requests right now. This says nothing about the key.",
                "Nothing to change: try the test again in a few minutes.",
            ),
            Failure::NetworkRefused => (
                "This service refused to let the test reach an address the provider's entry does not allow.",
                "Nothing to change on your side: tell the platform's support, who must fix the provider's entry.",
            ),
            Failure::UnexpectedAnswer => (
                "The provider answered in a way the test does not recognise.",
                "Try the test again later; if it persists, tell the platform's support.",
            ),
            Failure::TestFault => (
                "The connection test failed on our side. This says nothing about the key.",
                "Try again later; if it persists, tell the platform's support.",
            ),
        };
        Words {
            summary: summary.to_owned(),
            next_step: next_step.to_owned(),
        }
    }

    pub fn view(self) -> FailureView {
        let Words { summary, next_step } = self.words();
        FailureView {
            reason: self,
            summary,
            next_step,
        }
    }

    /// The view, naming the scopes a v2 plugin said are missing (for `missing-permission`).
    pub fn view_with(self, missing_scopes: &[String]) -> FailureView {
        let mut v = self.view();
        if self == Failure::MissingPermission && !missing_scopes.is_empty() {
            v.summary = format!(
                "The key works but lacks a permission this platform needs: {}.",
                missing_scopes.join(", ")
            );
        }
        v
    }
}

/// The reason a test's verdict fails, or `None` when the key works (or there is no test to
/// run). `worked_before` says the key passed a test since it was stored: a refusal then means
/// it was revoked, not mistyped.
pub fn classify(
    verdict: ReportedVerdict,
    worked_before: bool,
    hint: Option<Hint>,
) -> Option<Failure> {
    Some(match verdict {
        ReportedVerdict::Plugin(Verdict::Connected) => return None,
        // A v2 plugin that says why the provider refused outranks the generic reading.
        ReportedVerdict::Plugin(v)
            if v.finding() == crate::status::Finding::Rejected && hint.is_some() =>
        {
            match hint {
                Some(Hint::Billing) => Failure::Billing,
                Some(Hint::WrongMode) => Failure::WrongMode,
                _ => Failure::Expired,
            }
        }
        ReportedVerdict::Plugin(v) => match v {
            Verdict::Connected => return None,
            Verdict::InvalidCredential if worked_before => Failure::Revoked,
            Verdict::InvalidCredential => Failure::WrongKey,
            Verdict::InsufficientPermission => Failure::MissingPermission,
            Verdict::RateLimited => Failure::RateLimited,
            Verdict::ProviderUnavailable => Failure::ProviderDown,
            Verdict::UnexpectedResponse => Failure::UnexpectedAnswer,
        },
        ReportedVerdict::Host(h) => match h {
            HostVerdict::NoTest => return None,
            HostVerdict::PluginFault => Failure::TestFault,
            HostVerdict::EgressRefused => Failure::NetworkRefused,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::Finding;

    fn every_verdict() -> Vec<ReportedVerdict> {
        let plugin = [
            Verdict::Connected,
            Verdict::InvalidCredential,
            Verdict::InsufficientPermission,
            Verdict::RateLimited,
            Verdict::ProviderUnavailable,
            Verdict::UnexpectedResponse,
        ]
        .map(ReportedVerdict::Plugin);
        let host = [
            HostVerdict::NoTest,
            HostVerdict::PluginFault,
            HostVerdict::EgressRefused,
        ]
        .map(ReportedVerdict::Host);
        plugin.into_iter().chain(host).collect()
    }

    #[test]
    fn every_verdict_that_does_not_pass_has_a_reason_and_only_those() {
        for v in every_verdict() {
            for worked in [false, true] {
                let reason = classify(v, worked, None);
                let passes = v.finding() == Finding::Passed;
                let untested = v == ReportedVerdict::Host(HostVerdict::NoTest);
                assert_eq!(reason.is_none(), passes || untested, "{v:?}");
            }
        }
    }

    #[test]
    fn a_refusal_after_the_key_worked_is_a_revocation_that_may_be_a_leak() {
        let refused = ReportedVerdict::Plugin(Verdict::InvalidCredential);
        assert_eq!(classify(refused, false, None), Some(Failure::WrongKey));
        assert_eq!(classify(refused, true, None), Some(Failure::Revoked));
        assert!(Failure::Revoked.words().next_step.contains("leaked"));
        assert!(Failure::Revoked.words().next_step.contains("roll it"));
    }

    #[test]
    fn the_key_is_blamed_only_for_what_rejects_it() {
        // A reason that blames the key comes only from a verdict that rejects it, and a
        // passing condition (provider, rate limit, this service) never blames the key.
        for v in every_verdict() {
            for worked in [false, true] {
                if let Some(r) = classify(v, worked, None) {
                    assert_eq!(r.is_the_key(), v.finding() == Finding::Rejected, "{v:?}");
                    if !r.is_the_key() {
                        assert!(
                            r.words().next_step.starts_with("Nothing to change")
                                || r.words().next_step.starts_with("Try"),
                            "{r:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_v2_plugins_hint_names_the_reason_of_a_refusal_only() {
        let refused = ReportedVerdict::Plugin(Verdict::InsufficientPermission);
        assert_eq!(
            classify(refused, true, Some(Hint::Billing)),
            Some(Failure::Billing)
        );
        assert_eq!(
            classify(refused, false, Some(Hint::WrongMode)),
            Some(Failure::WrongMode)
        );
        let invalid = ReportedVerdict::Plugin(Verdict::InvalidCredential);
        assert_eq!(
            classify(invalid, true, Some(Hint::Expired)),
            Some(Failure::Expired)
        );
        // A hint never turns a passing or transient verdict into a failure of the key.
        let ok = ReportedVerdict::Plugin(Verdict::Connected);
        assert_eq!(classify(ok, false, Some(Hint::Expired)), None);
        let down = ReportedVerdict::Plugin(Verdict::ProviderUnavailable);
        assert_eq!(
            classify(down, false, Some(Hint::Billing)),
            Some(Failure::ProviderDown)
        );
        let scopes = ["ads_read".to_owned(), "ads_management".to_owned()];
        assert!(Failure::MissingPermission
            .view_with(&scopes)
            .summary
            .ends_with("needs: ads_read, ads_management."));
    }

    #[test]
    fn every_reason_has_distinct_words_and_a_wire_name() {
        let mut seen = std::collections::HashSet::new();
        for r in Failure::ALL {
            let w = r.words();
            assert!(seen.insert(w.summary.clone()), "{r:?} repeats words");
            assert!(w.summary.ends_with('.') && w.next_step.ends_with('.'));
            let wire = serde_json::to_value(r).expect("json");
            assert_eq!(wire, serde_json::json!(r.as_str()));
            assert_eq!(serde_json::from_value::<Failure>(wire).expect("back"), r);
        }
    }
}
