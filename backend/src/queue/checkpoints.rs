//! Submissions of uploaded checkpoints: once the HTTP layer has received and checked the files
//! (`http/uploads.rs`), the job specification, the run identity (the same `eval checkpoint` builds
//! for the same files and options: a reward model's [`CheckpointIdentity`], or a chat model's
//! [`GenerativeIdentity`] with the built-in prompt set) and the model, queued through
//! [`super::enqueue::submit`].

use std::path::PathBuf;

use omnireward_shared::{Setting, Task};
use serde_json::json;

use omnireward_local_judge::generation::engine::Batching;

use super::enqueue::{self, Joins};
use super::worker::{BenchmarkSpecification, CheckpointSpecification, GenerationSpecification};
use crate::data::{self, Benchmark};
use crate::evaluation::checkpoint_run::{DEFAULT_CHUNK_SAMPLES, format_parameters};
use crate::evaluation::generative_run::{DEFAULT_CHUNK_ITEMS, GenerativeDecoding};
use crate::evaluation::identity::{
    CheckpointIdentity, CheckpointInputOptions, DeviceClass, GenerativeIdentity, RunIdentity,
};
use crate::judges::api::prompts::PromptSet;
use crate::judges::local::TruncationSide;
use crate::judges::local::inputs::DEFAULT_RESPONSE_FRAMES;
use crate::storage::{Enqueued, JobKind, ModelKind, NewModel, RunId, Storage, StorageError};

/// A checkpoint whose files were received, checked and stored, with the options it was
/// submitted under.
#[derive(Clone, Debug)]
pub struct UploadedCheckpoint {
    /// The leaderboard name.
    pub name: String,
    /// Where its files are kept (`<uploads>/<checkpoint_sha256>`); for a GGUF chat model, the
    /// file in that folder.
    pub folder: PathBuf,
    /// SHA-256 over the files' names, sizes and contents: the folder's address.
    pub checkpoint_sha256: String,
    /// SHA-256 over the weight files in name order.
    pub weights_sha256: String,
    /// The `transformers` architecture (a GGUF file's `general.architecture`).
    pub architecture: String,
    /// Number of weight elements.
    pub parameter_count: u64,
    /// The names of its files.
    pub files: Vec<String>,
    /// Their total size.
    pub bytes: u64,
    /// Settings asked for.
    pub settings: Vec<Setting>,
    /// Tasks asked for; all when empty.
    pub tasks: Vec<Task>,
    /// The served benchmark restricted to `tasks`, when they restrict it.
    pub benchmark: Option<Benchmark>,
    /// Token limit per input [default: the model's].
    pub max_length: Option<usize>,
    /// Which end of a too-long input is cut.
    pub truncation: TruncationSide,
    /// Padded tokens per batch.
    pub batch_tokens: usize,
    /// Which head output is the reward.
    pub reward_label: Option<String>,
    /// For a chat model, judged as a generative judge: its options. `None` for reward models.
    pub generation: Option<GenerativeChoices>,
}

/// What a chat model's submitter chose, as `eval checkpoint`'s generation flags give it.
#[derive(Clone, Debug, PartialEq)]
pub struct GenerativeChoices {
    /// Token limit, re-query sampling and seed.
    pub decoding: GenerativeDecoding,
    /// Queries per item while the verdict cannot be parsed.
    pub verdict_attempts: u32,
    /// Also judge every item with A and B exchanged.
    pub swap: bool,
}

/// Why an accepted checkpoint could not be queued.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointSubmissionError {
    /// The database refused.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The input-format files could not be read for the run identity.
    #[error("hashing the checkpoint: {0}")]
    Hashing(#[from] std::io::Error),
    /// The hashing thread stopped.
    #[error("hashing the checkpoint: {0}")]
    Join(#[from] tokio::task::JoinError),
    /// The job's specification could not be written (a bug).
    #[error("cannot encode a job specification: {0}")]
    Encode(#[from] serde_json::Error),
}

/// Finds the run of this checkpoint under these options (or creates it, queued) and queues a
/// job, unless the run's latest job is queued, running, or finished with every asked setting:
/// then that job is the answer.
pub async fn submit(
    storage: &Storage,
    served: &Benchmark,
    checkpoint: &UploadedCheckpoint,
    require_approval: bool,
) -> Result<(Enqueued, RunId), CheckpointSubmissionError> {
    let request = checkpoint;
    let benchmark = request.benchmark.as_ref().unwrap_or(served);
    let embedded = served.identity.name == data::embedded::NAME
        && served.identity.version == data::embedded::VERSION;
    let device = "cpu";
    let specification = CheckpointSpecification {
        model: request.name.clone(),
        folder: checkpoint.folder.clone(),
        checkpoint_sha256: checkpoint.checkpoint_sha256.clone(),
        weights_sha256: checkpoint.weights_sha256.clone(),
        max_length: request.max_length,
        truncation: request.truncation,
        batch_tokens: request.batch_tokens,
        reward_label: request.reward_label.clone(),
        device: device.to_owned(),
        frames: DEFAULT_RESPONSE_FRAMES,
        settings: request.settings.clone(),
        benchmark: BenchmarkSpecification {
            data: (!embedded).then(|| served.root.clone()),
            tasks: request.tasks.clone(),
            media_dir: None,
            skip_invalid: !served.skipped.is_empty(),
        },
        chunk_samples: DEFAULT_CHUNK_SAMPLES,
        judgements_file: None,
        hub: None,
        generation: None,
    };
    if let Some(choices) = &request.generation {
        return submit_generative(
            storage,
            benchmark,
            checkpoint,
            choices,
            specification,
            require_approval,
        )
        .await;
    }
    // The same files under the same options are the same run, whether uploaded or evaluated
    // with `eval checkpoint`; batching is a session detail.
    let identity = {
        let folder = specification.folder.clone();
        let weights_sha256 = checkpoint.weights_sha256.clone();
        let architecture = checkpoint.architecture.clone();
        let options = CheckpointInputOptions {
            max_length: request.max_length,
            truncation: request.truncation,
            separator: None,
            reward_label: request.reward_label.clone(),
            frames: DEFAULT_RESPONSE_FRAMES,
            ablations: Vec::new(),
        };
        tokio::task::spawn_blocking(move || {
            CheckpointIdentity::new(
                weights_sha256,
                &folder,
                &architecture,
                DeviceClass::of_device(device),
                options,
            )
        })
        .await??
    };
    let identity = RunIdentity::Checkpoint(identity);
    let details = json!({
        "omnireward_version": env!("CARGO_PKG_VERSION"),
        "checkpoint_sha256": checkpoint.checkpoint_sha256,
        "device": device,
        "batch_tokens": request.batch_tokens,
        "parameter_count": checkpoint.parameter_count,
        "submitted_over_http": true,
        "upload": {
            "files": checkpoint.files,
            "bytes": checkpoint.bytes,
        },
    });
    let mut model = NewModel::named(request.name.clone(), ModelKind::ScalarRewardModel);
    model.parameters = Some(format_parameters(checkpoint.parameter_count));
    let specification = serde_json::to_value(&specification)?;
    Ok(enqueue::submit(
        storage,
        &enqueue::Submission {
            model: &model,
            benchmark,
            identity: &identity,
            details,
            kind: JobKind::Checkpoint,
            specification: &specification,
            settings: &request.settings,
        },
        Joins::ActiveOrFinished,
        require_approval,
    )
    .await?)
}

/// Queues a chat model: the identity `eval checkpoint` builds for the same file or folder with
/// the built-in prompts and the same generation options, one run for both.
async fn submit_generative(
    storage: &Storage,
    benchmark: &Benchmark,
    checkpoint: &UploadedCheckpoint,
    choices: &GenerativeChoices,
    mut specification: CheckpointSpecification,
    require_approval: bool,
) -> Result<(Enqueued, RunId), CheckpointSubmissionError> {
    let prompts = PromptSet::builtin();
    let device = specification.device.clone();
    let identity = {
        let path = checkpoint.folder.clone();
        let weights_sha256 = checkpoint.weights_sha256.clone();
        let architecture = checkpoint.architecture.clone();
        let prompts = prompts.clone();
        let choices = choices.clone();
        let device_class = DeviceClass::of_device(&device);
        tokio::task::spawn_blocking(move || {
            GenerativeIdentity::new(
                weights_sha256,
                &path,
                &architecture,
                device_class,
                &prompts,
                choices.verdict_attempts,
                choices.decoding,
            )
        })
        .await??
    };
    let identity = RunIdentity::Generative(identity);
    let batching = Batching {
        batch_tokens: checkpoint.batch_tokens,
        ..Batching::default()
    };
    specification.generation = Some(GenerationSpecification {
        decoding: choices.decoding.clone(),
        verdict_attempts: choices.verdict_attempts,
        swap: choices.swap,
        max_batch_rows: batching.max_rows,
        chunk_items: DEFAULT_CHUNK_ITEMS,
        prompts_sha256: prompts.hash.clone(),
    });
    let details = json!({
        "omnireward_version": env!("CARGO_PKG_VERSION"),
        "checkpoint_sha256": checkpoint.checkpoint_sha256,
        "device": device,
        "decoding": choices.decoding,
        "verdict_attempts": choices.verdict_attempts,
        "swap": choices.swap,
        "batching": batching,
        "parameter_count": checkpoint.parameter_count,
        "submitted_over_http": true,
        "upload": {
            "files": checkpoint.files,
            "bytes": checkpoint.bytes,
        },
    });
    let mut model = NewModel::named(checkpoint.name.clone(), ModelKind::LocalGenerative);
    model.parameters = Some(format_parameters(checkpoint.parameter_count));
    let specification = serde_json::to_value(&specification)?;
    Ok(enqueue::submit(
        storage,
        &enqueue::Submission {
            model: &model,
            benchmark,
            identity: &identity,
            details,
            kind: JobKind::Checkpoint,
            specification: &specification,
            settings: &checkpoint.settings,
        },
        Joins::ActiveOrFinished,
        require_approval,
    )
    .await?)
}
