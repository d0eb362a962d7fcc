//! Submissions of checkpoints named by Hugging Face repository and revision
//! (`{"kind": "hub_checkpoint", "repository": "org/name", "revision": "main"}`): the revision is
//! resolved to a commit and the file list and `config.json` checked when submitted, before
//! anything large is downloaded; the run identity holds the commit; the worker fetches the files
//! into its shared cache. The Hub is asked with the server's own token: a submission carrying a
//! token is refused, and none is ever stored.

use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::enqueue::{self, Joins};
use super::submissions::{SettingsChoice, SubmissionError, chosen_tasks, parse_tasks};
use super::worker::{BenchmarkSpecification, CheckpointSpecification};
use crate::data::{self, Benchmark};
use crate::evaluation::checkpoint_run::DEFAULT_CHUNK_SAMPLES;
use crate::evaluation::identity::{
    CheckpointInputOptions, DeviceClass, HubCheckpointIdentity, RunIdentity,
};
use crate::hub::model::{self, CheckedCheckpoint};
use crate::hub::{self, HubClient, HubError, HubReference, RepoId};
use crate::judges::local::TruncationSide;
use crate::judges::local::inputs::DEFAULT_RESPONSE_FRAMES;
use crate::storage::{Enqueued, JobKind, ModelKind, NewModel, RunId, Storage, StorageError};

/// Padded tokens per batch: the local judge's default, as for uploads.
const BATCH_TOKENS: usize = omnireward_local_judge::batch::DEFAULT_BATCH_TOKENS;

/// Body fields that would carry a Hub token; refused with an explanation.
const TOKEN_FIELDS: [&str; 4] = ["token", "hf_token", "hub_token", "authorization"];

/// The body of `POST /submissions` for a Hub checkpoint.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HubCheckpointRequest {
    /// `hub_checkpoint`.
    #[expect(
        dead_code,
        reason = "checked by the caller; kept so the schema lists it"
    )]
    kind: String,
    /// `org/name` of a model repository.
    repository: String,
    /// Branch, tag or commit [default: `main`]; resolved to a commit when submitted.
    revision: Option<String>,
    /// Leaderboard name [default: the repository].
    name: Option<String>,
    /// Which settings to judge [default: both].
    #[serde(default)]
    settings: SettingsChoice,
    /// Task keys or short names [default: all].
    tasks: Option<Vec<String>>,
    /// Token limit per input [default: the model's].
    max_length: Option<usize>,
    /// Which head output is the reward: an index or an `id2label` name [default: the only one].
    reward_label: Option<String>,
}

/// What a server lets Hub submissions do.
pub struct HubPolicy<'a> {
    /// The benchmark the server serves and evaluates on.
    pub served: &'a Benchmark,
    /// The Hub, with the server's own token.
    pub client: &'a HubClient,
    /// Most bytes a checkpoint's files may hold.
    pub max_bytes: u64,
    /// Where the shared checkpoint cache is (recorded in the specification for reference;
    /// each worker fetches into its own).
    pub cache_dir: &'a Path,
}

/// Why a Hub checkpoint submission was refused or could not be queued.
#[derive(Debug, thiserror::Error)]
pub enum HubSubmissionError {
    /// The body is not a submission this server accepts.
    #[error(transparent)]
    Submission(#[from] SubmissionError),
    /// The repository cannot be used: missing, not readable with the server's token, or
    /// refused from its files (pickles, architecture, size).
    #[error(transparent)]
    Refused(HubError),
    /// The Hub could not be asked.
    #[error(transparent)]
    Unavailable(HubError),
    /// The database refused.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The job's specification could not be written (a bug).
    #[error("cannot encode a job specification: {0}")]
    Encode(#[from] serde_json::Error),
}

impl From<HubError> for HubSubmissionError {
    fn from(error: HubError) -> Self {
        match error {
            HubError::InvalidReference { .. }
            | HubError::Unauthorized { .. }
            | HubError::NotFound { .. }
            | HubError::RefusedCheckpoint { .. } => HubSubmissionError::Refused(error),
            other => HubSubmissionError::Unavailable(other),
        }
    }
}

/// Whether a submission body names a Hub checkpoint.
pub fn is_hub_checkpoint(body: &Map<String, Value>) -> bool {
    body.get("kind").and_then(Value::as_str) == Some("hub_checkpoint")
}

/// Checks the body and the repository (resolving the revision, checking files and
/// `config.json`), then finds or creates the run of that commit and queues its job.
pub async fn submit(
    storage: &Storage,
    policy: &HubPolicy<'_>,
    mut body: Map<String, Value>,
    require_approval: bool,
) -> Result<(Enqueued, RunId), HubSubmissionError> {
    if let Some(field) = body
        .keys()
        .find(|field| TOKEN_FIELDS.contains(&field.to_ascii_lowercase().as_str()))
    {
        // The value is dropped unread and never echoed.
        return Err(SubmissionError::Malformed(format!(
            "`{field}` is not accepted: the server reads repositories with its own Hub token and \
             never stores a submitter's; make the repository public, or ask the operator for \
             access"
        ))
        .into());
    }
    body.retain(|_, value| !value.is_null());
    let request: HubCheckpointRequest = serde_json::from_value(Value::Object(body))
        .map_err(|error| SubmissionError::Malformed(format!("invalid submission: {error}")))?;
    let reference = HubReference {
        repository: RepoId::parse(request.repository.trim()).map_err(invalid("repository"))?,
        revision: hub::check_revision(request.revision.as_deref().unwrap_or(hub::DEFAULT_REVISION))
            .map_err(invalid("revision"))?,
    };
    let name = match request.name.as_deref().map(str::trim) {
        Some("") => {
            return Err(SubmissionError::Malformed("`name` must not be empty".to_owned()).into());
        }
        Some(name) => name.to_owned(),
        None => reference.repository.to_string(),
    };
    let tasks = parse_tasks(request.tasks.as_deref().unwrap_or_default())?;
    let benchmark = chosen_tasks(policy.served, &tasks)?;
    let checked = model::check(policy.client, &reference, policy.max_bytes).await?;
    let settings = request.settings.settings();
    let specification = specification(policy, &checked, &request, &name, &tasks, &settings);
    let identity = RunIdentity::HubCheckpoint(HubCheckpointIdentity::new(
        checked.repository.clone(),
        checked.commit.clone(),
        &checked.architecture,
        DeviceClass::of_device(&specification.device),
        CheckpointInputOptions {
            max_length: request.max_length,
            truncation: specification.truncation,
            separator: None,
            reward_label: request.reward_label.clone(),
            frames: DEFAULT_RESPONSE_FRAMES,
            ablations: Vec::new(),
        },
    ));
    let details = json!({
        "omnireward_version": env!("CARGO_PKG_VERSION"),
        "device": specification.device,
        "batch_tokens": specification.batch_tokens,
        "submitted_over_http": true,
        "hub": {
            "repository": checked.repository,
            "revision": checked.revision,
            "commit": checked.commit,
            "files": checked.files.len(),
            "bytes": checked.bytes,
        },
    });
    let model = NewModel::named(name, ModelKind::ScalarRewardModel);
    let specification = serde_json::to_value(&specification)?;
    Ok(enqueue::submit(
        storage,
        &enqueue::Submission {
            model: &model,
            benchmark: benchmark.as_ref().unwrap_or(policy.served),
            identity: &identity,
            details,
            kind: JobKind::Checkpoint,
            specification: &specification,
            settings: &settings,
        },
        Joins::ActiveOrFinished,
        require_approval,
    )
    .await?)
}

fn specification(
    policy: &HubPolicy<'_>,
    checked: &CheckedCheckpoint,
    request: &HubCheckpointRequest,
    name: &str,
    tasks: &[omnireward_shared::Task],
    settings: &[omnireward_shared::Setting],
) -> CheckpointSpecification {
    let served = policy.served;
    let embedded = served.identity.name == data::embedded::NAME
        && served.identity.version == data::embedded::VERSION;
    CheckpointSpecification {
        model: name.to_owned(),
        folder: checked.folder(policy.cache_dir),
        // The commit addresses the files, as the content hash addresses an upload's.
        checkpoint_sha256: checked.commit.clone(),
        weights_sha256: String::new(),
        max_length: request.max_length,
        truncation: TruncationSide::default(),
        batch_tokens: BATCH_TOKENS,
        reward_label: request.reward_label.clone(),
        device: "cpu".to_owned(),
        frames: DEFAULT_RESPONSE_FRAMES,
        settings: settings.to_vec(),
        benchmark: BenchmarkSpecification {
            data: (!embedded).then(|| served.root.clone()),
            tasks: tasks.to_vec(),
            media_dir: None,
            skip_invalid: !served.skipped.is_empty(),
        },
        chunk_samples: DEFAULT_CHUNK_SAMPLES,
        judgements_file: None,
        hub: Some(checked.clone()),
        generation: None,
    }
}

fn invalid(parameter: &'static str) -> impl Fn(HubError) -> SubmissionError {
    move |error| match error {
        HubError::InvalidReference { value, reason } => SubmissionError::InvalidParameter {
            parameter,
            value,
            expected: reason,
        },
        other => SubmissionError::Malformed(other.to_string()),
    }
}
