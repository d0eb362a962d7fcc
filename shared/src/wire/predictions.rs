//! `POST /submissions` with `"kind": "predictions"`: a judgements file judged elsewhere, the
//! model card that goes with it, and the server's answer once every item is checked and scored.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::names::{ModelKind, RunStatus};
use crate::preference::Setting;

/// The body of a predictions submission. `omnireward submit-predictions` sends it; the server
/// refuses unknown fields, so a misspelt one is an error rather than silently ignored.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredictionsSubmission {
    /// Always `predictions`.
    pub kind: PredictionsKind,
    /// Who made the judgements.
    pub model: ModelCard,
    /// The judgements file's text, as is: JSON Lines, one judgement record per line (the
    /// format `omnireward eval` writes). Its SHA-256 names the run, so sending the same file
    /// again joins the same run.
    pub judgements: String,
}

/// The `kind` of a predictions submission.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PredictionsKind {
    /// A judgements file with its model card.
    Predictions,
}

/// What the submitter says about the model. Only `name` is required. On a model new to this
/// server the card fills its metadata; an existing model's metadata is never changed by a
/// submission.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelCard {
    /// Leaderboard name (1 to 200 characters).
    pub name: String,
    /// `api_judge`, `scalar_reward_model` or `local_generative` [default: a scalar reward
    /// model when the judgements carry rewards, else an API judge].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ModelKind>,
    /// Parameter count as text (e.g. `7B`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<String>,
    /// Licence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licence: Option<String>,
    /// Whether the weights are public.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_weights: Option<bool>,
    /// Where to read about the model (an `http` or `https` URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

/// The answer to a predictions submission: the run its judgements are stored in, scored.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PredictionsAccepted {
    /// The run (new, or the one the same file made before).
    pub run: i64,
    /// The model it belongs to.
    pub model: i64,
    /// Always `finished`: the run is scored when the request is answered.
    pub status: RunStatus,
    /// SHA-256 (hex) of the judgements text as received; `sha256sum FILE` gives the same.
    pub file_sha256: String,
    /// Judgements stored.
    pub judgements: usize,
    /// Per setting, the overall accuracy (the paper's macro mean over tasks).
    pub overall: BTreeMap<Setting, f64>,
}
