//! Replacing a key without breaking the one that works (issue #21, part 1): the decision, with
//! no I/O. The Worker builds a [`Slot`] from the stored row, applies the user's input or a
//! test's result, and runs the write the [`Outcome`] names, guarded by the versions read.
//!
//! An integration serves one key (the one resolve hands out) and may hold one candidate: a
//! new key saved over a key that works, tested while the working key keeps serving. Keys are
//! told apart by a version that only grows, so a result that arrives late names the key it
//! tested and can never land on another.
//!
//! - A save over a key that has passed a test since it was stored becomes the candidate; a
//!   save where no key works (none stored, or the stored one was rejected or never concluded)
//!   serves at once, as before.
//! - The candidate is promoted only when its own test says it works. Rejected, it is dropped
//!   and the serving key is untouched. Inconclusive (provider down, rate limited), it waits
//!   for the user, who may switch to it anyway or discard it.
//! - A later save replaces the candidate: the latest save wins, and results for the earlier
//!   one are ignored.

/// A stored key's version within its integration: 1 for the first, one more per save.
pub type Version = u64;

/// How long a pending key may stay `testing`: a test that has not finished by then never will
/// (the request that ran it is gone), and the key reads as [`PendingState::Inconclusive`].
pub const TEST_DEADLINE_MS: u64 = 2 * 60 * 1000;

/// Where a pending key stands, as stored and shown.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PendingState {
    /// Its test is running; the serving key stays in use.
    Testing,
    /// Its test could not conclude: the user may switch to it anyway, or discard it.
    Inconclusive,
}

impl PendingState {
    pub fn as_str(self) -> &'static str {
        match self {
            PendingState::Testing => "testing",
            PendingState::Inconclusive => "inconclusive",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [PendingState::Testing, PendingState::Inconclusive]
            .into_iter()
            .find(|p| p.as_str() == s)
    }

    /// The state to show and act on at `now_ms` for a key stored in `self` at `saved_at_ms`:
    /// a test past [`TEST_DEADLINE_MS`] never finished, so the key waits for the user.
    pub fn at(self, saved_at_ms: u64, now_ms: u64) -> Self {
        if self == PendingState::Testing && now_ms.saturating_sub(saved_at_ms) > TEST_DEADLINE_MS {
            PendingState::Inconclusive
        } else {
            self
        }
    }
}

/// What a test of one key concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Connected, or connected with a warning.
    Works,
    /// The provider refused the key.
    Rejected,
    /// Nothing concluded (provider down, rate limited, a plugin fault).
    Inconclusive,
}

impl From<crate::status::Finding> for Verdict {
    fn from(f: crate::status::Finding) -> Self {
        match f {
            crate::status::Finding::Passed => Verdict::Works,
            crate::status::Finding::Rejected => Verdict::Rejected,
            crate::status::Finding::Inconclusive => Verdict::Inconclusive,
        }
    }
}

/// The key resolve hands out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Serving {
    pub version: Version,
    /// It has passed a test since it was stored.
    pub proven: bool,
    /// It was rejected by a test since it was stored (and has not passed one after).
    pub rejected: bool,
    /// The user chose it over a working key without a conclusive test.
    pub chosen_untested: bool,
}

impl Serving {
    /// The serving key as stored: `connected` means it passed a test since it was stored,
    /// `invalid` that one rejected it.
    pub fn from_status(version: Version, status: crate::status::Status) -> Self {
        use crate::status::Status;
        Serving {
            version,
            proven: status == Status::Connected,
            rejected: status == Status::Invalid,
            chosen_untested: false,
        }
    }

    /// A key just stored, not yet tested.
    fn stored(version: Version) -> Self {
        Serving {
            version,
            proven: false,
            rejected: false,
            chosen_untested: false,
        }
    }
}

/// A new key waiting to replace the serving one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    pub version: Version,
    /// Its test ran and could not conclude: the user may switch to it anyway, or discard it.
    pub inconclusive: bool,
}

/// One integration's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Slot {
    pub serving: Option<Serving>,
    pub candidate: Option<Candidate>,
    /// The last version given out.
    pub last_version: Version,
}

/// What happens to an integration's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// The user saves a new key.
    Save,
    /// A test of `version` concluded.
    Tested { version: Version, verdict: Verdict },
    /// The user switches to the inconclusive candidate `version` anyway.
    SwitchAnyway { version: Version },
    /// The user drops the candidate `version`.
    Discard { version: Version },
}

/// What an input did, for the caller to store, say and record in the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The new key serves at once (no key worked): test it now, as before.
    Stored(Version),
    /// The new key is the candidate: test it; the serving key stays in use meanwhile.
    Testing(Version),
    /// The candidate passed and now serves ("replaced").
    Promoted(Version),
    /// The candidate was rejected and dropped; the serving key is unchanged.
    Refused(Version),
    /// The candidate's test did not conclude; the serving key stays until the user decides.
    AwaitingChoice(Version),
    /// The serving key's own test was recorded.
    Checked(Version),
    /// The user's choice was applied (switched to, or discarded, the candidate).
    Chosen(Version),
    /// About a key that is neither serving nor the candidate (replaced meanwhile), or a choice
    /// the state does not allow: nothing changed.
    Ignored,
}

impl Slot {
    /// Applies `input`, returning the new state and what happened.
    pub fn apply(self, input: Input) -> (Slot, Outcome) {
        let mut next = self;
        let outcome = match input {
            Input::Save => {
                let version = self.last_version + 1;
                next.last_version = version;
                if self.serving.is_some_and(|s| s.proven) {
                    next.candidate = Some(Candidate {
                        version,
                        inconclusive: false,
                    });
                    Outcome::Testing(version)
                } else {
                    next.serving = Some(Serving::stored(version));
                    next.candidate = None;
                    Outcome::Stored(version)
                }
            }
            Input::Tested { version, verdict } => match (self.candidate, self.serving) {
                (Some(c), _) if c.version == version => match verdict {
                    Verdict::Works => {
                        next.serving = Some(Serving {
                            proven: true,
                            ..Serving::stored(version)
                        });
                        next.candidate = None;
                        Outcome::Promoted(version)
                    }
                    Verdict::Rejected => {
                        next.candidate = None;
                        Outcome::Refused(version)
                    }
                    Verdict::Inconclusive => {
                        next.candidate = Some(Candidate {
                            version,
                            inconclusive: true,
                        });
                        Outcome::AwaitingChoice(version)
                    }
                },
                (_, Some(s)) if s.version == version => {
                    let mut s = s;
                    match verdict {
                        Verdict::Works => {
                            s.proven = true;
                            s.rejected = false;
                        }
                        Verdict::Rejected => {
                            s.proven = false;
                            s.rejected = true;
                        }
                        Verdict::Inconclusive => {}
                    }
                    next.serving = Some(s);
                    Outcome::Checked(version)
                }
                _ => Outcome::Ignored,
            },
            Input::SwitchAnyway { version } => match self.candidate {
                Some(c) if c.version == version && c.inconclusive => {
                    next.serving = Some(Serving {
                        chosen_untested: true,
                        ..Serving::stored(version)
                    });
                    next.candidate = None;
                    Outcome::Chosen(version)
                }
                _ => Outcome::Ignored,
            },
            Input::Discard { version } => match self.candidate {
                Some(c) if c.version == version => {
                    next.candidate = None;
                    Outcome::Chosen(version)
                }
                _ => Outcome::Ignored,
            },
        };
        (next, outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn run(inputs: &[Input]) -> (Slot, Vec<Outcome>) {
        inputs
            .iter()
            .fold((Slot::default(), Vec::new()), |(s, mut out), i| {
                let (s, o) = s.apply(*i);
                out.push(o);
                (s, out)
            })
    }

    #[test]
    fn a_wrong_paste_over_a_working_key_changes_nothing() {
        let (s, out) = run(&[
            Input::Save,
            Input::Tested {
                version: 1,
                verdict: Verdict::Works,
            },
            Input::Save,
            Input::Tested {
                version: 2,
                verdict: Verdict::Rejected,
            },
        ]);
        assert_eq!(
            out,
            [
                Outcome::Stored(1),
                Outcome::Checked(1),
                Outcome::Testing(2),
                Outcome::Refused(2)
            ]
        );
        assert_eq!(s.serving.map(|s| (s.version, s.proven)), Some((1, true)));
        assert_eq!(s.candidate, None);
    }

    #[test]
    fn an_inconclusive_new_key_waits_for_the_user() {
        let works = |version| Input::Tested {
            version,
            verdict: Verdict::Works,
        };
        let (s, out) = run(&[
            Input::Save,
            works(1),
            Input::Save,
            Input::Tested {
                version: 2,
                verdict: Verdict::Inconclusive,
            },
        ]);
        assert_eq!(out[3], Outcome::AwaitingChoice(2));
        assert_eq!(s.serving.map(|s| s.version), Some(1), "the old key serves");
        let (after, o) = s.apply(Input::SwitchAnyway { version: 2 });
        assert_eq!(o, Outcome::Chosen(2));
        let serving = after.serving.expect("serving");
        assert_eq!((serving.version, serving.chosen_untested), (2, true));
        // Or the user discards it, and nothing else changes.
        let (after, o) = s.apply(Input::Discard { version: 2 });
        assert_eq!(
            (o, after.serving, after.candidate),
            (Outcome::Chosen(2), s.serving, None)
        );
    }

    #[test]
    fn a_key_saved_where_none_works_serves_at_once() {
        let (s, out) = run(&[
            Input::Save,
            Input::Tested {
                version: 1,
                verdict: Verdict::Rejected,
            },
            Input::Save,
        ]);
        assert_eq!(out[2], Outcome::Stored(2));
        assert_eq!(s.serving.map(|s| s.version), Some(2));
    }

    fn any_input() -> impl Strategy<Value = Input> {
        let verdict = prop_oneof![
            Just(Verdict::Works),
            Just(Verdict::Rejected),
            Just(Verdict::Inconclusive)
        ];
        prop_oneof![
            3 => Just(Input::Save),
            6 => (1u64..8, verdict).prop_map(|(version, verdict)| Input::Tested { version, verdict }),
            1 => (1u64..8).prop_map(|version| Input::SwitchAnyway { version }),
            1 => (1u64..8).prop_map(|version| Input::Discard { version }),
        ]
    }

    proptest! {
        /// Under any interleaving of saves, tests (late, repeated, for replaced keys), switches
        /// and discards: once a proven key serves, whatever serves next has passed its own test
        /// or was chosen by the user; a key whose test rejected it never starts serving after
        /// that; and a result never lands on a key other than the one tested.
        #[test]
        fn a_working_key_is_replaced_only_by_one_that_passed_or_that_the_user_chose(
            inputs in proptest::collection::vec(any_input(), 0..60),
        ) {
            let mut slot = Slot::default();
            let mut rejected_while_candidate: Vec<Version> = Vec::new();
            for input in inputs {
                let before = slot;
                let (after, outcome) = before.apply(input);
                if let (Some(old), Some(new)) = (before.serving, after.serving) {
                    if old.proven && new.version != old.version {
                        prop_assert!(new.proven || new.chosen_untested,
                            "{:?} replaced a working key with {:?} via {:?}", old, new, input);
                    }
                }
                if let Some(new) = after.serving {
                    if before.serving.map(|s| s.version) != Some(new.version) {
                        prop_assert!(!rejected_while_candidate.contains(&new.version),
                            "a rejected key started serving: {:?}", new);
                    }
                }
                if let Outcome::Refused(v) = outcome {
                    rejected_while_candidate.push(v);
                }
                if let Input::Tested { version, .. } = input {
                    let touched = before.serving.map(|s| s.version) == Some(version)
                        || before.candidate.map(|c| c.version) == Some(version);
                    prop_assert_eq!(outcome == Outcome::Ignored, !touched);
                    if !touched {
                        prop_assert_eq!(after, before);
                    }
                }
                prop_assert!(after.candidate.is_none_or(|c| Some(c.version) != after.serving.map(|s| s.version)));
                prop_assert!(after.last_version >= before.last_version);
                slot = after;
            }
        }
    }
}
