//! The bodies `POST /submissions` takes, described for the OpenAPI document: a JSON body (an
//! API judge or a checkpoint named by Hub repository) or a multipart checkpoint upload. The
//! handlers read them otherwise (the JSON as an object the submissions service checks field by
//! field, the upload part by part as it streams in), so these types are never built.

/// The JSON body of `POST /submissions`: an API judge, a checkpoint named by Hugging Face
/// repository (`"kind": "hub_checkpoint"`), or a judgements file with its model card
/// (`"kind": "predictions"`), for the OpenAPI document.
#[derive(utoipa::ToSchema, serde::Deserialize)]
#[serde(untagged)]
#[expect(
    dead_code,
    reason = "describes the body for the OpenAPI document; never built"
)]
pub(super) enum JsonSubmission {
    ApiJudge(crate::queue::submissions::SubmissionRequest),
    HubCheckpoint(crate::queue::hub_checkpoints::HubCheckpointRequest),
    Predictions(omnireward_shared::wire::PredictionsSubmission),
}

/// The multipart form of a checkpoint upload, for the OpenAPI document (the handler reads the
/// parts as they stream in).
#[derive(utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "describes the form for the OpenAPI document; never built"
)]
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
