//! OpenAPI schemas of values the API sends whose types live outside the HTTP layer: the shared
//! crate's domain types (which depend on serde only, so utoipa stays out of them) and the stored
//! names of storage enumerations.
//!
//! Enumerations take their values from the real types. Structures mirror the shared ones field
//! by field; the HTTP tests check real responses against the document, so a drift fails them.

#![expect(
    dead_code,
    reason = "mirror types only describe JSON; they are never built"
)]

use std::collections::BTreeMap;

use omnireward_shared::{
    Modality as SharedModality, Order as SharedOrder, Preference as SharedPreference,
    Setting as SharedSetting, Task as SharedTask,
};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

use crate::storage::{
    Approval as StoredApproval, ModelKind as StoredModelKind, Provenance as StoredProvenance,
    RunStatus as StoredRunStatus,
};

/// A string schema with a fixed set of values.
fn string_enum(description: &str, values: impl IntoIterator<Item = &'static str>) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .enum_values(Some(values))
        .into()
}

/// Declares a named string-enumeration schema whose values come from an expression.
macro_rules! string_enum_schema {
    ($(#[$doc:meta])* $name:ident, $description:literal, $values:expr) => {
        $(#[$doc])*
        pub(super) struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                string_enum($description, $values)
            }
        }

        impl ToSchema for $name {}
    };
}

string_enum_schema!(
    /// A task key.
    Task,
    "One of the nine task keys, in the paper's column order.",
    SharedTask::ALL.map(SharedTask::key)
);
string_enum_schema!(
    /// A modality.
    Modality,
    "A modality: the response or input medium of a task.",
    SharedModality::ALL.map(SharedModality::key)
);
string_enum_schema!(
    /// A setting.
    Setting,
    "`with_ties` keeps every sample (3-way); `without_ties` drops those labelled tie.",
    SharedSetting::ALL.map(SharedSetting::key)
);
string_enum_schema!(
    /// A label or verdict.
    Preference,
    "The preferred response, or `tie`.",
    SharedPreference::ALL.map(SharedPreference::key)
);
string_enum_schema!(
    /// A presentation order.
    Order,
    "`original` shows response1 as A; `swapped` exchanges them.",
    [SharedOrder::Original, SharedOrder::Swapped].map(SharedOrder::key)
);
string_enum_schema!(
    /// A media kind.
    MediaKind,
    "The kind of a media item (3D objects are rendered images).",
    ["image", "video", "audio"]
);
string_enum_schema!(
    /// A run's or submission's status.
    RunStatus,
    "Where a run or submission stands.",
    [
        StoredRunStatus::Queued,
        StoredRunStatus::Running,
        StoredRunStatus::Finished,
        StoredRunStatus::Failed,
        StoredRunStatus::Cancelled,
    ]
    .map(StoredRunStatus::as_str)
);
string_enum_schema!(
    /// A model kind.
    ModelKind,
    "What kind of model a leaderboard row or run is of.",
    StoredModelKind::ALL.iter().map(|kind| kind.as_str())
);
string_enum_schema!(
    /// A run's provenance.
    Provenance,
    "Where a run's numbers come from.",
    [
        StoredProvenance::Evaluated,
        StoredProvenance::PaperReported,
        StoredProvenance::ReferenceImport,
    ]
    .map(StoredProvenance::as_str)
);
string_enum_schema!(
    /// A submission's approval state.
    Approval,
    "Whether a submission waits for an administrator (`serve --require-approval`).",
    [
        StoredApproval::NotRequired,
        StoredApproval::Pending,
        StoredApproval::Approved,
        StoredApproval::Rejected,
    ]
    .map(StoredApproval::as_str)
);

/// Name, version and content hash of a benchmark.
#[derive(ToSchema)]
pub(super) struct BenchmarkIdentity {
    /// Benchmark name, e.g. `omni-rewardbench`.
    name: String,
    /// Release or sample version.
    version: String,
    /// SHA-256 over the benchmark's samples (hex).
    hash: String,
}

/// The scorecard of one model on one benchmark.
#[derive(ToSchema)]
pub(super) struct Scorecard {
    /// The judge's display name.
    model: String,
    /// The benchmark it was evaluated on.
    benchmark: BenchmarkIdentity,
    /// One entry per evaluated setting, keyed `with_ties` / `without_ties`.
    settings: BTreeMap<String, SettingScorecard>,
}

/// All scores of one setting.
#[derive(ToSchema)]
pub(super) struct SettingScorecard {
    /// Per covered task, keyed by task key.
    tasks: BTreeMap<String, TaskScore>,
    /// Per modality with a covered task, keyed by modality.
    modalities: BTreeMap<String, AggregateScore>,
    /// Mean over the covered tasks.
    overall: AggregateScore,
}

/// Score of one task in one setting.
#[derive(ToSchema)]
pub(super) struct TaskScore {
    /// `correct / total`.
    accuracy: f64,
    /// Items judged correctly.
    correct: u64,
    /// Items evaluated.
    total: u64,
    /// Bootstrap 95 % percentile interval of the accuracy.
    ci95: [f64; 2],
    /// Items whose verdict could not be parsed (counted wrong).
    unparseable: u64,
    /// The tie rule, for scalar reward models in the w/ Ties setting.
    tie_rule: Option<TieRule>,
    /// Judge-reliability measures, for generative judges.
    reliability: Option<Reliability>,
}

/// A mean of task accuracies.
#[derive(ToSchema)]
pub(super) struct AggregateScore {
    /// Unweighted mean of the covered tasks' accuracies.
    accuracy: f64,
    /// How many tasks the mean covers.
    tasks_covered: u64,
    /// Bootstrap 95 % percentile interval of the mean.
    ci95: [f64; 2],
}

/// How a scalar reward model's w/ Ties verdicts were decided for a task.
#[derive(ToSchema)]
pub(super) struct TieRule {
    /// `sweep` (Ties-Matter oracle on this test set) or `fixed` (chosen in advance).
    kind: String,
    /// The threshold; `null` for a sweep that never predicts a tie.
    epsilon: Option<f64>,
}

/// Reliability of a generative judge on one task in one setting.
#[derive(ToSchema)]
pub(super) struct Reliability {
    /// Accuracy on the swapped order, when the swap pass ran.
    swapped_accuracy: Option<f64>,
    /// Share of items judged in both orders whose two verdicts agree.
    swap_consistency: Option<f64>,
    /// Share of first-shown picks minus share of second-shown picks.
    position_bias: f64,
    /// Share of original-order verdicts that are tie.
    tie_rate: f64,
    /// Share of original-order outputs that could not be parsed.
    parse_failure_rate: f64,
    /// Items judged in both orders.
    swapped_pairs: u64,
}

/// Scalar rewards of a discriminative judge, in reference order.
#[derive(ToSchema)]
pub(super) struct Rewards {
    /// Reward of `response1`.
    response1: f64,
    /// Reward of `response2`.
    response2: f64,
}

/// One judged item.
#[derive(ToSchema)]
pub(super) struct Judgement {
    /// Task of the sample.
    #[schema(value_type = Task)]
    task: (),
    /// The sample's row id.
    sample_id: String,
    /// The setting whose prompt was used.
    #[schema(value_type = Setting)]
    setting: (),
    /// The presentation order.
    #[schema(value_type = Order)]
    order: (),
    /// The generative judge's final raw output, if any.
    raw_output: Option<String>,
    /// The scalar rewards of a discriminative judge, if any.
    rewards: Option<Rewards>,
    /// The parsed verdict in reference order; `null` when unparseable.
    #[schema(value_type = Option<Preference>)]
    verdict: (),
    /// The human label.
    #[schema(value_type = Preference)]
    label: (),
    /// Requests made for this item.
    attempts: Option<u32>,
    /// Prompt tokens used, summed over attempts.
    input_tokens: Option<u64>,
    /// Completion tokens used, summed over attempts.
    output_tokens: Option<u64>,
    /// Wall-clock latency in milliseconds, summed over attempts.
    latency_ms: Option<u64>,
}

/// The answer to `POST /submissions/{id}/cancel`.
#[derive(ToSchema)]
pub(super) struct CancelView {
    /// The submission.
    submission: i64,
    /// `cancelled` (it was queued) or `cancel_requested` (its worker stops at the next
    /// heartbeat).
    status: String,
}

/// The JSON document of `GET /leaderboard` (the rows are rendered by the leaderboard cache,
/// so their schema is written here; the HTTP tests check served documents against it).
#[derive(ToSchema)]
pub(super) struct LeaderboardDocument {
    /// The benchmark whose rows are ranked (rows of different benchmarks never share a view).
    benchmark: String,
    /// Every benchmark with rows in this setting.
    benchmarks: Vec<LeaderboardBenchmark>,
    /// The setting ranked.
    setting: Setting,
    /// The modality filter, if any.
    modality: Option<Modality>,
    /// The model-kind filter, if any.
    #[schema(rename = "type")]
    kind: Option<ModelKind>,
    /// Ranked rows.
    rows: Vec<LeaderboardEntry>,
}

/// A benchmark the leaderboard has rows of.
#[derive(ToSchema)]
pub(super) struct LeaderboardBenchmark {
    /// Its name: the value of `benchmark=` that selects it.
    name: String,
    /// Rows of runs scored here.
    evaluated: u64,
    /// Rows copied from the paper.
    paper_reported: u64,
}

/// One ranked leaderboard row.
#[derive(ToSchema)]
pub(super) struct LeaderboardEntry {
    /// Position in this view, from 1.
    rank: u64,
    /// The run the numbers come from (`GET /runs/{id}`).
    run: i64,
    /// The model's id (`GET /models/{id}`).
    model_id: i64,
    /// Model name.
    model: String,
    /// What kind of model.
    kind: ModelKind,
    /// The paper's group, for paper-reported rows.
    group: Option<String>,
    /// Parameter count as text (e.g. `7B`), if known.
    parameters: Option<String>,
    /// Licence, if known.
    licence: Option<String>,
    /// Whether the weights are public, if known.
    open_weights: Option<bool>,
    /// Where the numbers come from.
    provenance: Provenance,
    /// Whether the numbers were computed here from stored per-item judgements.
    verified: bool,
    /// The benchmark scored on.
    benchmark: String,
    /// The name of that benchmark (the release's for paper-reported rows).
    benchmark_name: String,
    /// Accuracy per covered task key, as fractions.
    tasks: BTreeMap<String, f64>,
    /// Accuracy per covered modality.
    modalities: BTreeMap<String, f64>,
    /// Mean over the covered tasks.
    overall: Option<f64>,
    /// Tasks covered.
    tasks_covered: u64,
    /// Bootstrap 95 % intervals; `null` for paper-reported rows.
    intervals: Option<LeaderboardIntervals>,
    /// Tasks scored on the prompt's text only (absent when none).
    text_only_prompt: Option<Vec<Task>>,
    /// With a modality filter: mean accuracy over the row's tasks of that modality.
    modality_score: Option<f64>,
    /// With a modality filter: how many of its tasks the row covers.
    modality_tasks_covered: Option<u64>,
}

/// The 95 % intervals of a leaderboard row, as `[low, high]` fractions.
#[derive(ToSchema)]
pub(super) struct LeaderboardIntervals {
    /// Per covered task key.
    tasks: BTreeMap<String, [f64; 2]>,
    /// Per covered modality.
    modalities: BTreeMap<String, [f64; 2]>,
    /// Of the overall mean.
    overall: [f64; 2],
}

/// The multipart form of a checkpoint upload, for the OpenAPI document (the handler reads the
/// parts as they stream in).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(super) struct UploadForm {
    /// Leaderboard name.
    name: String,
    /// `checkpoint` (optional).
    kind: Option<String>,
    /// `both` (default), `with_ties` or `without_ties`.
    settings: Option<String>,
    /// Task keys or short names, comma-separated or repeated [default: all].
    tasks: Option<String>,
    /// Token limit per input [default: the model's].
    max_length: Option<u64>,
    /// `right` (default) or `left`.
    truncation: Option<String>,
    /// Padded tokens per batch.
    batch_tokens: Option<u64>,
    /// Which head output is the reward: an index or an `id2label` name.
    reward_label: Option<String>,
    /// One part per file of the checkpoint folder, its filename the file's name
    /// (`config.json`, `tokenizer.json`, `model.safetensors`, ...).
    #[schema(value_type = Vec<String>, format = Binary)]
    files: Vec<Vec<u8>>,
}

/// The JSON body of `POST /submissions`: an API judge, or a checkpoint named by Hugging Face
/// repository (`"kind": "hub_checkpoint"`), for the OpenAPI document.
#[derive(utoipa::ToSchema, serde::Deserialize)]
#[serde(untagged)]
#[allow(dead_code)]
pub(super) enum JsonSubmission {
    ApiJudge(crate::queue::submissions::SubmissionRequest),
    HubCheckpoint(crate::queue::hub_checkpoints::HubCheckpointRequest),
}
