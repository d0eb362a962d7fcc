//! `GET /models/{id}`, `GET /runs/{id}` and `GET /runs/{id}/judgements`: a model, its runs with
//! their scorecards or reported scores, and a run's per-item judgements.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::names::{ModelKind, Provenance, RunStatus};
use crate::comparison::RunComparison;
use crate::scorecard::TieRule;
use crate::{BenchmarkIdentity, Judgement, Scorecard, Setting, Task};

/// A model's facts, as a model document and its page show them.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// The model's id.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// What kind of model.
    pub kind: ModelKind,
    /// The paper's group, for paper-reported models.
    pub group: Option<String>,
    /// Parameter count as text (e.g. `7B`), if known.
    pub parameters: Option<String>,
    /// Licence, if known.
    pub licence: Option<String>,
    /// Whether the weights are public, if known.
    pub open_weights: Option<bool>,
    /// The model card, repository or API documentation, if known (the paper's models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

/// The document of `GET /models/{id}`: the model and its runs.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelDocument {
    #[serde(flatten)]
    pub model: ModelInfo,
    /// How the model was trained (`training_record.json` of a checkpoint trained by `omnireward
    /// train`: data, steps, hyper-parameters, final validation), from its latest run that has one.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub training: Option<serde_json::Value>,
    /// Oldest first.
    pub runs: Vec<RunDocument>,
}

/// The document of `GET /runs/{id}`: a run with its scorecard or the paper's reported scores.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunDocument {
    /// The run's id.
    pub id: i64,
    /// The model evaluated.
    pub model: RunModel,
    /// Where the numbers come from.
    pub provenance: Provenance,
    /// Where the run stands.
    pub status: RunStatus,
    /// The benchmark evaluated on; `null` for paper-reported runs.
    pub benchmark: Option<RunBenchmark>,
    /// The recorded judge configuration: `identity` (what decides resumption) and `details`.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub configuration: serde_json::Value,
    /// Unix milliseconds.
    pub created_at_ms: i64,
    /// Unix milliseconds; `null` until the run stops.
    pub finished_at_ms: Option<i64>,
    /// The stored scorecard of a run evaluated here, if computed.
    pub scorecard: Option<Scorecard>,
    /// Per setting, the paper's numbers of a paper-reported run.
    pub reported_scores: Option<BTreeMap<Setting, ReportedSetting>>,
    /// For an ablation audit (a run with part of its input taken away), the comparison with
    /// its base run; `null` for every other run.
    #[serde(default)]
    pub ablation: Option<AblationAudit>,
}

/// An ablation audit: an ablated run beside its base run, the run with the same identity on
/// full inputs. A judge whose accuracy does not drop without the media is not using them.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AblationAudit {
    /// What was taken away: `media`, `criterion`.
    pub ablations: Vec<String>,
    /// The base run (same model, benchmark and identity without the ablations), when stored.
    pub base_run: Option<i64>,
    /// This run (`first`, without the part) against the base run (`second`, with it): per
    /// setting and task both accuracies and the paired difference (without minus with) with
    /// its bootstrap interval and McNemar p; `null` until both have judged shared samples.
    pub comparison: Option<RunComparison>,
}

/// The model of a run.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunModel {
    /// The model's id (`GET /models/{id}`).
    pub id: i64,
    /// Display name.
    pub name: String,
    /// What kind of model.
    pub kind: ModelKind,
    /// The paper's group, for paper-reported models.
    pub group: Option<String>,
}

/// The benchmark a run was evaluated on.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunBenchmark {
    /// The stored benchmark's id.
    pub id: i64,
    #[serde(flatten)]
    pub identity: BenchmarkIdentity,
}

/// The paper's numbers of one setting.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReportedSetting {
    /// Accuracy per task, as fractions.
    pub tasks: BTreeMap<Task, f64>,
    /// The paper's overall column.
    pub overall: Option<f64>,
    /// Where the paper gives these numbers ("Table 2, row 25").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// One judgement with whether its verdict matches the label. A scalar reward model's verdict is
/// the one its scorecard counts: decided from the rewards, in w/ Ties under the task's tie rule,
/// which is given beside it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JudgementItem {
    #[serde(flatten)]
    pub judgement: Judgement,
    /// Whether the verdict matches the human label.
    pub correct: bool,
    /// The rule that turned the margin into a w/ Ties verdict (scalar reward models only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tie_rule: Option<TieRule>,
}
