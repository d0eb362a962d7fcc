//! Checkpoint jobs of chat models (an uploaded `*ForCausalLM` folder, GGUF file, or Qwen2-VL /
//! Qwen2.5-VL folder without a reward head): the model
//! loads on its own inference thread and judges the benchmark through the runner `eval
//! checkpoint` uses ([`generative_run::run`]), inside the worker's one supervised session
//! (heartbeats, cancellation, resumption of what the run already holds).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};

use omnireward_local_judge::generation::chat_model::inspect_generative_checkpoint;
use omnireward_local_judge::generation::engine::Batching;
use serde::{Deserialize, Serialize};

use super::{
    CheckpointSpecification, JobError, JobOutcome, WorkerContext, finish_local_run, supervised,
};
use crate::data::Benchmark;
use crate::evaluation::checkpoint_run::weights_sha256;
use crate::evaluation::generative_run::{self, GenerativeDecoding, GenerativeRunConfig};
use crate::judges::api::prompts::PromptSet;
use crate::judges::local::GenerativeThread;
use crate::media::MediaEncoder;
use crate::storage::{Job, RunRecord, Storage};

/// What a chat model's job adds to its checkpoint specification: the options of `eval
/// checkpoint`'s generation flags, with the built-in prompt set's hash as submitted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GenerationSpecification {
    /// Token limit, re-query sampling and seed (part of the run's identity).
    pub decoding: GenerativeDecoding,
    /// Queries per item while the verdict cannot be parsed (part of the identity).
    pub verdict_attempts: u32,
    /// Also judge every item with A and B exchanged.
    pub swap: bool,
    /// Rows generated together at most.
    pub max_batch_rows: usize,
    /// Items per job on the inference thread (saved together).
    pub chunk_items: usize,
    /// The hash of the built-in prompt set when the job was submitted; the worker refuses to
    /// judge with other prompts, which would be another run.
    pub prompts_sha256: String,
}

/// Checks the chat model's files and weights, loads it on an inference thread, and judges the
/// benchmark on the job's run.
#[expect(
    clippy::too_many_arguments,
    reason = "the worker's job context, passed through from run_checkpoint"
)]
pub(super) async fn run_generative(
    storage: &Storage,
    context: &WorkerContext,
    worker: &str,
    job: &Job,
    stop: &Arc<AtomicBool>,
    specification: &CheckpointSpecification,
    generation: &GenerationSpecification,
    run: &RunRecord,
    benchmark: &Benchmark,
) -> Result<JobOutcome, JobError> {
    let prompts = Arc::new(PromptSet::builtin());
    if prompts.hash != generation.prompts_sha256 {
        return Err(JobError::PromptsChanged {
            expected: generation.prompts_sha256.clone(),
            found: prompts.hash.clone(),
        });
    }
    let device = specification
        .device
        .parse()
        .map_err(|error| JobError::Invalid(format!("device: {error}")))?;
    let path: PathBuf = specification.folder.clone();
    let expected = specification.weights_sha256.clone();
    // Reading headers, hashing the weights and loading block: never on an async worker.
    let thread = tokio::task::spawn_blocking(move || {
        let checked = inspect_generative_checkpoint(&path)?;
        let found = weights_sha256(&checked.weight_files).map_err(JobError::Weights)?;
        if found != expected {
            return Err(JobError::WeightsChanged { expected, found });
        }
        Ok(GenerativeThread::start(checked.path, device)?)
    })
    .await??;
    let outcome = judge_loaded(
        storage,
        context,
        worker,
        job,
        stop,
        specification,
        generation,
        run,
        benchmark,
        &thread,
        prompts,
    )
    .await;
    // Dropping the thread joins it once the chunk in hand is done: a blocking wait.
    let _ = tokio::task::spawn_blocking(move || drop(thread)).await;
    outcome
}

#[expect(
    clippy::too_many_arguments,
    reason = "the worker's job context and the loaded model"
)]
async fn judge_loaded(
    storage: &Storage,
    context: &WorkerContext,
    worker: &str,
    job: &Job,
    stop: &Arc<AtomicBool>,
    specification: &CheckpointSpecification,
    generation: &GenerationSpecification,
    run: &RunRecord,
    benchmark: &Benchmark,
    thread: &GenerativeThread,
    prompts: Arc<PromptSet>,
) -> Result<JobOutcome, JobError> {
    let config = GenerativeRunConfig {
        settings: specification.settings.clone(),
        swap: generation.swap,
        verdict_attempts: generation.verdict_attempts.max(1),
        decoding: generation.decoding.clone(),
        batching: Batching {
            batch_tokens: specification.batch_tokens.max(1),
            max_rows: generation.max_batch_rows.max(1),
        },
        chunk_items: generation.chunk_items.max(1),
    };
    // What the model covers, as `eval checkpoint` plans it: a text decoder's tasks, or a
    // vision-language model's image and video tasks.
    let plan = generative_run::plan(&benchmark.samples, thread.reads_media());
    let media = Arc::new(MediaEncoder::new(context.cache_dir.clone()));
    let (session, summary, ending) = supervised(
        storage,
        context,
        worker,
        job,
        stop,
        specification.judgements_file.as_deref(),
        async |sink, job_stop| {
            generative_run::run(
                thread,
                prompts,
                media,
                &plan,
                &config,
                sink,
                job_stop,
                Arc::new(AtomicU64::new(0)),
            )
            .await
        },
    )
    .await?;
    let summary = summary?;
    finish_local_run(&session, run, benchmark, summary.stopped, ending, context).await
}
