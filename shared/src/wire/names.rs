//! The API's enumerations that are also stored names: a model's kind, a run's status and
//! provenance, a submission's approval. Each value is spelt once, here, for the database, the
//! JSON documents and the pages alike.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A name that is not a value of the enumeration it should be.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{value}`: expected one of {expected}")]
pub struct UnknownName {
    /// The enumeration, e.g. `model kind`.
    pub kind: &'static str,
    /// The value given.
    pub value: String,
    /// The accepted values, space-separated.
    pub expected: &'static str,
}

/// Defines `ALL`, `as_str`, `Display` and `FromStr` for an enumeration whose serde names are
/// the same snake_case spellings, so each value is spelt in exactly one place.
macro_rules! names {
    ($type:ident, $kind:literal, { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $type {
            /// Every value, in declaration order.
            pub const ALL: &'static [$type] = &[$($type::$variant),+];

            /// The name stored in the database and shown in JSON.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($type::$variant => $name),+
                }
            }
        }

        impl fmt::Display for $type {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str(self.as_str())
            }
        }

        impl FromStr for $type {
            type Err = UnknownName;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                match text {
                    $($name => Ok($type::$variant),)+
                    _ => Err(UnknownName {
                        kind: $kind,
                        value: text.to_owned(),
                        expected: concat!($($name, " "),+),
                    }),
                }
            }
        }
    };
}

/// What kind of model a row describes.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// A generative judge behind an OpenAI-compatible API.
    ApiJudge,
    /// A discriminative model that gives each response a scalar reward.
    ScalarRewardModel,
    /// A generative judge run locally from a checkpoint.
    LocalGenerative,
    /// A model known only from the paper's tables.
    PaperReported,
    /// A reference strategy such as random choice.
    Baseline,
}

names!(ModelKind, "model kind", {
    ApiJudge => "api_judge",
    ScalarRewardModel => "scalar_reward_model",
    LocalGenerative => "local_generative",
    PaperReported => "paper_reported",
    Baseline => "baseline",
});

/// Where a run (and its submission) stands.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Waiting for a worker.
    Queued,
    /// Being evaluated.
    Running,
    /// Every item judged.
    Finished,
    /// Stopped by an error; may be resumed.
    Failed,
    /// Stopped on request.
    Cancelled,
}

names!(RunStatus, "run status", {
    Queued => "queued",
    Running => "running",
    Finished => "finished",
    Failed => "failed",
    Cancelled => "cancelled",
});

impl RunStatus {
    /// Whether the run has stopped (finished, failed or cancelled).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RunStatus::Finished | RunStatus::Failed | RunStatus::Cancelled
        )
    }
}

/// Where a run's numbers come from.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provenance {
    /// Judged here; judgements and scorecards are stored.
    Evaluated,
    /// Copied from the paper's tables; only reported scores are stored.
    PaperReported,
    /// Per-item outputs of the reference implementation, imported and scored here.
    ReferenceImport,
    /// A judgements file judged elsewhere and submitted with a model card: every item checked
    /// against the served benchmark and rescored here (the scoring is verified, the judging
    /// is not).
    SubmittedPredictions,
}

names!(Provenance, "provenance", {
    Evaluated => "evaluated",
    PaperReported => "paper_reported",
    ReferenceImport => "reference_import",
    SubmittedPredictions => "submitted_predictions",
});

/// Whether a submission waits for an administrator before a worker may claim it
/// (`serve --require-approval`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Approval {
    /// Claimable as soon as it is queued (every job of a server that does not ask for approval).
    NotRequired,
    /// Queued but not claimable until approved.
    Pending,
    /// Approved by an administrator; claimable.
    Approved,
    /// Rejected by an administrator; the job is cancelled.
    Rejected,
}

names!(Approval, "approval", {
    NotRequired => "not_required",
    Pending => "pending",
    Approved => "approved",
    Rejected => "rejected",
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_names_and_serde_names_agree() {
        for kind in ModelKind::ALL {
            let json = serde_json::to_value(kind).expect("serialises");
            assert_eq!(json, kind.as_str());
            assert_eq!(kind.as_str().parse::<ModelKind>().ok(), Some(*kind));
        }
        for status in RunStatus::ALL {
            assert_eq!(serde_json::to_value(status).expect("json"), status.as_str());
        }
        for provenance in Provenance::ALL {
            assert_eq!(
                serde_json::to_value(provenance).expect("json"),
                provenance.as_str()
            );
        }
        for approval in Approval::ALL {
            assert_eq!(
                serde_json::to_value(approval).expect("json"),
                approval.as_str()
            );
        }
        let error = "judge".parse::<ModelKind>().expect_err("unknown");
        assert!(error.to_string().contains("api_judge"), "{error}");
    }
}
