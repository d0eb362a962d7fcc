//! `GET /leaderboard`: ranked rows of one benchmark and setting.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::names::{ModelKind, Provenance};
use crate::comparison::NeighbourTest;
use crate::{Modality, Setting, Task};

/// The document of `GET /leaderboard`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeaderboardDocument {
    /// The benchmark whose rows are ranked (rows of different benchmarks never share a view).
    pub benchmark: String,
    /// Every benchmark with rows in this setting (`benchmark=` selects one).
    pub benchmarks: Vec<BenchmarkRows>,
    /// The setting ranked.
    pub setting: Setting,
    /// The modality filter, if any.
    pub modality: Option<Modality>,
    /// The model-kind filter, if any.
    #[serde(rename = "type")]
    pub kind: Option<ModelKind>,
    /// Ranked rows.
    pub rows: Vec<LeaderboardRow>,
}

/// A benchmark the leaderboard has rows of.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BenchmarkRows {
    /// Its name: the value of `benchmark=` that selects it.
    pub name: String,
    /// Rows of evaluated runs (scored here, or the authors' outputs scored here).
    pub evaluated: usize,
    /// Rows copied from the paper.
    pub paper_reported: usize,
}

/// One leaderboard row: one finished run with a score in the setting.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeaderboardRow {
    /// Position in this view, from 1 (by overall, or by the modality score with a modality
    /// filter).
    pub rank: usize,
    /// The run the numbers come from (`GET /runs/{id}`).
    pub run: i64,
    /// The model's id (`GET /models/{id}`).
    pub model_id: i64,
    /// Model name.
    pub model: String,
    /// What kind of model (for the paper's rows too: their provenance is a separate field).
    pub kind: ModelKind,
    /// The paper's group, for paper-reported rows.
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
    /// Where a paper-reported row's numbers stand in the paper ("Table 2, row 25").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Where the numbers come from.
    pub provenance: Provenance,
    /// Whether the numbers were computed here from stored per-item judgements (`evaluated`;
    /// `reference_import`: the authors' per-item outputs scored here; `submitted_predictions`:
    /// a submitted judgements file checked item by item and rescored here, so the scoring is
    /// verified but not the judging); `false` for numbers copied from the paper, which are
    /// reported, not verified.
    pub verified: bool,
    /// The benchmark scored on, with its version ("paper: full release" for paper rows).
    pub benchmark: String,
    /// The name of that benchmark (the release's for paper-reported rows): rows are ranked only
    /// among rows of the same name.
    pub benchmark_name: String,
    /// Accuracy per covered task, as fractions.
    pub tasks: BTreeMap<Task, f64>,
    /// Accuracy per covered modality: the mean of its covered tasks.
    pub modalities: BTreeMap<Modality, f64>,
    /// Mean over the covered tasks (for paper rows, the paper's overall column).
    pub overall: Option<f64>,
    /// Tasks covered.
    pub tasks_covered: usize,
    /// Items the row's numbers count, all covered tasks together: for an evaluated row the
    /// items its scorecard scored in this setting; for a paper row the release's pairs of the
    /// tasks the paper scored (3,725 for all nine with ties; without ties the 3,284 non-tie
    /// pairs, a count inferred from the paper's denominators). `None` when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<usize>,
    /// Bootstrap 95 % intervals; `null` for paper-reported rows (the paper gives none).
    pub intervals: Option<Intervals>,
    /// Tasks scored on the prompt's text only: a local text model cannot see their prompt's
    /// image, video or audio (absent when none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub text_only_prompt: Vec<Task>,
    /// With a modality filter: mean accuracy over the row's tasks of that modality.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modality_score: Option<f64>,
    /// With a modality filter: how many of its tasks the row covers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modality_tasks_covered: Option<usize>,
    /// For a row with per-item judgements: its paired test (McNemar, Holm-corrected over the
    /// ranking) against the next row below it on the same benchmark that has judgements too.
    /// Rank groups follow it where present, and the intervals elsewhere (the paper's rows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paired_with_next: Option<NeighbourTest>,
}

/// The 95 % intervals of a row, as `[low, high]` fractions.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Intervals {
    /// Per covered task.
    pub tasks: BTreeMap<Task, [f64; 2]>,
    /// Per covered modality.
    pub modalities: BTreeMap<Modality, [f64; 2]>,
    /// Of the overall mean.
    pub overall: [f64; 2],
}
