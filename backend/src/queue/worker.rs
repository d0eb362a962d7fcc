//! The evaluation worker: claims queued jobs, rebuilds their judge from the stored
//! specification, runs it on the job's run (resuming whatever the run already holds), keeps the
//! job alive with heartbeats, and honours cancel requests.
//!
//! Secrets never enter the queue. An `api_judge` specification names the environment variable
//! that holds its API key (`api_key_env`), a reference to a key held in the submitting server's
//! memory (`key_vault`), or none; the worker checks the variable's host binding
//! (`key_bindings`), then asks its [`ApiKeyLookup`] (built by the CLI, the only place that reads
//! the environment) for the value.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::ValueEnum as _;
use omnireward_shared::{BootstrapConfig, Setting, Task};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::data::{self, Benchmark, LoadError, LoadOptions};
use crate::evaluation::api_run::{
    self, ApiJudge, ApiRunConfig, Prices, RunError, RunProgress, StopReason,
};
use crate::evaluation::session::Session;
use crate::evaluation::sink::{JudgementSink, SinkError};
use crate::judges::api::client::{ApiError, ChatClient, ClientConfig};
use crate::judges::api::prompts::{PromptError, PromptSet};
use crate::judges::api::request::{AudioParts, RequestOptions};
use crate::media::MediaEncoder;
use crate::storage::{Heartbeat, Job, JobKind, RunRecord, RunStatus, Storage, StorageError};

mod checkpoint;
mod generative;

pub use checkpoint::CheckpointSpecification;
pub use generative::GenerationSpecification;

pub use super::key_vault::{ApiKeyLookup, KEY_VARIABLE_PREFIX};

/// Everything needed to rebuild an API judge and its run schedule, except the API key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiJudgeSpecification {
    /// Chat-completions endpoint as given to `eval api`; it must not carry credentials (user
    /// info or query keys), since it is stored in clear.
    pub endpoint: String,
    /// The `model` the endpoint serves.
    pub model: String,
    /// Environment variable holding the API key, if the endpoint needs one.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Connect only to public addresses, checked at every connection (the submitting server
    /// refused private endpoints); absent in older jobs, which were checked when submitted.
    #[serde(default)]
    pub public_addresses_only: bool,
    /// Sampling temperature [default: the endpoint's].
    #[serde(default)]
    pub temperature: Option<f64>,
    /// Completion token limit [default: the endpoint's].
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// Extra fields merged into every request body.
    #[serde(default)]
    pub extra_body: Map<String, Value>,
    /// Frames of a TV2T prompt video.
    pub prompt_video_frames: usize,
    /// Frames per T2V response video.
    pub response_video_frames: usize,
    /// T2A clips: `joined` or `separate`.
    pub audio_parts: String,
    /// The prompt templates: a folder, or the built-in set when absent; the hash must match.
    pub prompts: PromptsSpecification,
    /// The benchmark to judge; it must be the one the job's run was opened on.
    pub benchmark: BenchmarkSpecification,
    /// Settings to judge.
    pub settings: Vec<Setting>,
    /// Also judge every item with A and B exchanged.
    pub swap: bool,
    /// Requests in flight at most.
    pub concurrency: usize,
    /// Request starts per minute at most.
    #[serde(default)]
    pub requests_per_minute: Option<u32>,
    /// Queries per item while the verdict cannot be parsed.
    pub verdict_attempts: u32,
    /// Per-request timeout in seconds.
    pub timeout_seconds: u64,
    /// HTTP attempts per query.
    pub http_attempts: u32,
    /// First retry delay in milliseconds.
    pub backoff_ms: u64,
    /// Prices per million prompt and completion tokens, for cost accounting.
    #[serde(default)]
    pub prices_per_million_tokens: Option<(f64, f64)>,
    /// Stop scheduling once the spend reaches this.
    #[serde(default)]
    pub max_cost: Option<f64>,
    /// Judgements file [default: `<runs dir>/run-<id>.jsonl`].
    #[serde(default)]
    pub judgements_file: Option<PathBuf>,
}

/// Which prompt templates a job uses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptsSpecification {
    /// Template folder; the built-in set when absent.
    #[serde(default)]
    pub folder: Option<PathBuf>,
    /// The set's hash when the job was submitted; a changed folder fails the job.
    pub hash: String,
}

/// Which benchmark a job judges.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BenchmarkSpecification {
    /// Benchmark folder; the embedded sample when absent.
    #[serde(default)]
    pub data: Option<PathBuf>,
    /// Only these tasks; all when empty.
    #[serde(default)]
    pub tasks: Vec<Task>,
    /// Folder media paths are relative to.
    #[serde(default)]
    pub media_dir: Option<PathBuf>,
    /// Skip invalid rows.
    #[serde(default)]
    pub skip_invalid: bool,
}

/// What a worker needs besides the database.
#[derive(Clone)]
pub struct WorkerContext {
    /// Media cache and embedded-sample folder.
    pub cache_dir: PathBuf,
    /// Where judgements files go by default.
    pub runs_dir: PathBuf,
    /// Where API keys come from.
    pub api_keys: ApiKeyLookup,
    /// The hosts each key variable may be sent to; checked again before a key is read.
    pub key_bindings: Arc<super::key_bindings::KeyBindings>,
    /// Bootstrap of the scorecard stored when a run finishes.
    pub bootstrap: BootstrapConfig,
    /// How often a running job's heartbeat is written.
    pub heartbeat_interval: Duration,
    /// A running job whose heartbeat is older than this belongs to a dead worker.
    pub stale_after: Duration,
    /// How long an idle worker waits before looking for work again.
    pub poll_interval: Duration,
    /// Return once the queue is empty instead of waiting for more work (tests, batch use).
    pub until_idle: bool,
    /// The Hub that checkpoints named by repository are fetched from, with the server's own
    /// token (never a submitter's).
    pub hub: crate::hub::HubSettings,
}

/// Why the worker itself stopped (a job's own failure is recorded on the job instead).
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The queue could not be read or written.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Why one job failed; recorded in the job's `error`.
#[derive(Debug, thiserror::Error)]
enum JobError {
    #[error("invalid {kind} specification: {source}")]
    Specification {
        kind: JobKind,
        source: serde_json::Error,
    },
    #[error("invalid specification: {0}")]
    Invalid(String),
    #[error("the API key variable `{0}` is not set in the worker's environment")]
    MissingKey(String),
    #[error(transparent)]
    KeyBinding(#[from] super::key_bindings::KeyUseError),
    #[error(
        "the API key sent with this submission was held in the memory of the server that \
         received it, and this worker cannot see it (a worker of another process, or the server \
         restarted): submit again with the key"
    )]
    HeldKeyUnavailable,
    #[error(
        "prompt templates changed since the job was submitted: hash {found}, expected {expected}"
    )]
    PromptsChanged { expected: String, found: String },
    #[error("the benchmark {found} is not the one the run was opened on ({expected})")]
    BenchmarkChanged { expected: String, found: String },
    /// The judge ran, but some items could not be judged; the last failure (the endpoint's
    /// status and the start of its answer, for upstream errors) says why.
    #[error("{failed} of {items} items could not be judged; the last failure: {last}")]
    ItemsFailed {
        failed: usize,
        items: usize,
        last: String,
    },
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Prompts(#[from] PromptError),
    #[error(transparent)]
    Client(#[from] ApiError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Session(#[from] crate::evaluation::session::SessionError),
    #[error("loading stopped: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error("the checkpoint was refused: {0}")]
    Checkpoint(#[from] crate::checkpoint::CheckpointError),
    #[error(transparent)]
    Hub(#[from] crate::hub::HubError),
    #[error(
        "the weights in the checkpoint folder changed since submission: SHA-256 {found}, expected \
         {expected}"
    )]
    WeightsChanged { expected: String, found: String },
    #[error("cannot read the weights: {0}")]
    Weights(std::io::Error),
    // Boxed: these are large, and every job step returns a `JobError`.
    #[error(transparent)]
    LocalJudge(Box<crate::judges::local::LocalJudgeError>),
    #[error(transparent)]
    CheckpointRun(Box<crate::evaluation::checkpoint_run::CheckpointRunError>),
    #[error(transparent)]
    GenerativeRun(Box<crate::evaluation::generative_run::GenerativeRunError>),
}

impl From<crate::evaluation::generative_run::GenerativeRunError> for JobError {
    fn from(error: crate::evaluation::generative_run::GenerativeRunError) -> Self {
        JobError::GenerativeRun(Box::new(error))
    }
}

impl From<crate::judges::local::LocalJudgeError> for JobError {
    fn from(error: crate::judges::local::LocalJudgeError) -> Self {
        JobError::LocalJudge(Box::new(error))
    }
}

impl From<crate::evaluation::checkpoint_run::CheckpointRunError> for JobError {
    fn from(error: crate::evaluation::checkpoint_run::CheckpointRunError) -> Self {
        JobError::CheckpointRun(Box::new(error))
    }
}

/// What a worker did before it returned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkerSummary {
    /// Jobs it claimed.
    pub claimed: usize,
    /// Jobs it finished, failed or cancelled (the others were given back or lost).
    pub ended: usize,
}

/// How a claimed job ended for this worker.
#[derive(Debug, PartialEq, Eq)]
enum JobOutcome {
    /// It reached this terminal status.
    Ended(RunStatus),
    /// The worker is stopping: the job goes back to the queue.
    Released,
    /// Another worker took it over (this one was presumed dead).
    Lost,
}

/// Runs jobs until `stop` is raised (or, with `until_idle`, the queue is empty). Jobs left
/// running by dead workers are requeued first.
pub async fn run_worker(
    storage: Storage,
    context: &WorkerContext,
    worker: &str,
    stop: Arc<AtomicBool>,
) -> Result<WorkerSummary, WorkerError> {
    let mut summary = WorkerSummary::default();
    // A worker of this name still holding jobs is an earlier process that died.
    storage.requeue_jobs_of_worker(worker).await?;
    storage.requeue_stale_jobs(context.stale_after).await?;
    while !stop.load(Ordering::SeqCst) {
        let Some(job) = storage.claim_job(worker).await? else {
            if context.until_idle {
                break;
            }
            tokio::time::sleep(context.poll_interval).await;
            storage.requeue_stale_jobs(context.stale_after).await?;
            continue;
        };
        summary.claimed += 1;
        match run_job(&storage, context, worker, &job, &stop).await? {
            JobOutcome::Ended(_) => summary.ended += 1,
            JobOutcome::Released => {
                if let Some(status) = storage.release_job(job.id, worker).await? {
                    storage.set_run_status(job.run, status).await?;
                }
            }
            JobOutcome::Lost => {}
        }
    }
    Ok(summary)
}

/// Runs one claimed job and records how it ended. Only storage errors of the queue itself
/// escape; everything else fails the job.
async fn run_job(
    storage: &Storage,
    context: &WorkerContext,
    worker: &str,
    job: &Job,
    stop: &Arc<AtomicBool>,
) -> Result<JobOutcome, StorageError> {
    let result = match job.kind {
        JobKind::ApiJudge => run_api_judge(storage, context, worker, job, stop).await,
        JobKind::Checkpoint => {
            checkpoint::run_checkpoint(storage, context, worker, job, stop).await
        }
    };
    let (status, error) = match result {
        Ok(JobOutcome::Ended(status)) => (status, None),
        Ok(other) => return Ok(other),
        Err(error) => {
            // The run may be left running by a failure before the judge started.
            storage.set_run_status(job.run, RunStatus::Failed).await?;
            (RunStatus::Failed, Some(error.to_string()))
        }
    };
    if storage
        .finish_job(job.id, worker, status, error.as_deref())
        .await?
    {
        Ok(JobOutcome::Ended(status))
    } else {
        Ok(JobOutcome::Lost)
    }
}

/// Builds the API judge of `job` and runs it over the benchmark on the job's run.
async fn run_api_judge(
    storage: &Storage,
    context: &WorkerContext,
    worker: &str,
    job: &Job,
    stop: &Arc<AtomicBool>,
) -> Result<JobOutcome, JobError> {
    let specification: ApiJudgeSpecification = serde_json::from_value(job.specification.clone())
        .map_err(|source| JobError::Specification {
            kind: job.kind,
            source,
        })?;
    let run = storage.run(job.run).await?;
    let (benchmark, prompts) = load_inputs(context, &specification).await?;
    check_benchmark(storage, &run, &benchmark).await?;
    let judge = Arc::new(build_judge(context, &specification, prompts)?);
    let config = ApiRunConfig {
        settings: specification.settings.clone(),
        swap: specification.swap,
        concurrency: specification.concurrency.max(1),
        requests_per_minute: specification.requests_per_minute,
        verdict_attempts: specification.verdict_attempts,
        prices: specification
            .prices_per_million_tokens
            .map(|(input, output)| Prices {
                input_per_million: input,
                output_per_million: output,
            }),
        max_cost: specification.max_cost,
    };
    let samples = benchmark.samples.clone();
    let (session, summary, ending) = supervised(
        storage,
        context,
        worker,
        job,
        stop,
        specification.judgements_file.as_deref(),
        async |sink, job_stop| {
            api_run::run(
                judge,
                samples,
                &config,
                sink,
                job_stop,
                Arc::new(RunProgress::default()),
            )
            .await
        },
    )
    .await?;
    let summary = summary?;
    let stopped = match summary.stopped {
        None => Stopped::No,
        Some(StopReason::Interrupted) => Stopped::Interrupted,
        Some(StopReason::SpendCap) => Stopped::SpendCap,
    };
    let completed = if summary.failures.is_empty() {
        RunStatus::Finished
    } else {
        RunStatus::Failed
    };
    let status = match ended(stopped, ending, completed) {
        Ok(status) => status,
        Err(outcome) => return Ok(outcome),
    };
    session
        .finish(&run.model_name, &benchmark, status, context.bootstrap)
        .await?;
    // A job failed by its items carries the last item's reason, so the submitter sees why
    // (an endpoint answering 500 to everything would otherwise end with no error at all).
    if status == RunStatus::Failed
        && let Some(last) = summary.failures.last()
    {
        return Err(JobError::ItemsFailed {
            failed: summary.failures.len(),
            items: summary.items.saturating_sub(summary.already_done),
            last: format!(
                "{} sample `{}` ({}, {}): {}",
                last.task,
                last.sample_id,
                last.setting.key(),
                last.order.key(),
                last.message
            ),
        });
    }
    Ok(JobOutcome::Ended(status))
}

/// How a runner stopped before it judged everything, if it did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stopped {
    /// It went through every item.
    No,
    /// Its stop flag was raised (the worker stops, a cancel was requested, or the job was lost).
    Interrupted,
    /// The spend cap was reached.
    SpendCap,
}

/// Runs `runner` over the session of `job`'s run (marked running, its judgements file opened)
/// while the job's heartbeat is kept; `runner` gets the sink and the job's stop flag, raised when
/// the worker stops, a cancel is requested or another worker took the job. Returns the session,
/// the runner's output and what ended the heartbeats.
async fn supervised<T>(
    storage: &Storage,
    context: &WorkerContext,
    worker: &str,
    job: &Job,
    stop: &Arc<AtomicBool>,
    judgements_file: Option<&Path>,
    runner: impl AsyncFnOnce(&mut JudgementSink, Arc<AtomicBool>) -> T,
) -> Result<(Session, T, Option<Heartbeat>), JobError> {
    let mut session = Session::resume(storage, job.run, judgements_file, &context.runs_dir).await?;
    let job_stop = Arc::new(AtomicBool::new(false));
    let heartbeats = tokio::spawn(keep_alive(
        storage.clone(),
        context.heartbeat_interval,
        job.id,
        worker.to_owned(),
        Arc::clone(stop),
        Arc::clone(&job_stop),
    ));
    let output = runner(session.sink(), job_stop).await;
    heartbeats.abort();
    let ending = heartbeats.await.ok().flatten();
    Ok((session, output, ending))
}

/// The end of a local run (a checkpoint's or a generative judge's), whose runner only says
/// whether it was interrupted: the final status written with the scorecard, or the job's outcome
/// when the job is not over for this worker (see [`ended`]).
async fn finish_local_run(
    session: &Session,
    run: &RunRecord,
    benchmark: &Benchmark,
    interrupted: bool,
    ending: Option<Heartbeat>,
    context: &WorkerContext,
) -> Result<JobOutcome, JobError> {
    let stopped = if interrupted {
        Stopped::Interrupted
    } else {
        Stopped::No
    };
    let status = match ended(stopped, ending, RunStatus::Finished) {
        Ok(status) => status,
        Err(outcome) => return Ok(outcome),
    };
    session
        .finish(&run.model_name, benchmark, status, context.bootstrap)
        .await?;
    Ok(JobOutcome::Ended(status))
}

/// The run's final status from how the runner stopped and what ended the heartbeats (`completed`
/// when it went through everything), or, when the job is not over for this worker, its outcome:
/// handed back (the worker stops) or lost (another worker took it over).
fn ended(
    stopped: Stopped,
    ending: Option<Heartbeat>,
    completed: RunStatus,
) -> Result<RunStatus, JobOutcome> {
    match (stopped, ending) {
        (_, Some(Heartbeat::Lost)) => Err(JobOutcome::Lost),
        (Stopped::Interrupted, Some(Heartbeat::CancelRequested)) => Ok(RunStatus::Cancelled),
        (Stopped::Interrupted, _) => Err(JobOutcome::Released),
        (Stopped::SpendCap, _) => Ok(RunStatus::Cancelled),
        (Stopped::No, _) => Ok(completed),
    }
}

/// Checks that `benchmark` is the one `run` was opened on.
async fn check_benchmark(
    storage: &Storage,
    run: &RunRecord,
    benchmark: &Benchmark,
) -> Result<(), JobError> {
    let expected = match run.benchmark {
        Some(id) => storage.benchmark(id).await?.map(|record| record.identity),
        None => None,
    };
    if expected.as_ref().map(|identity| &identity.hash) != Some(&benchmark.identity.hash) {
        return Err(JobError::BenchmarkChanged {
            expected: expected.map_or_else(|| "none".to_owned(), |identity| identity.hash),
            found: benchmark.identity.hash.clone(),
        });
    }
    Ok(())
}

/// Loads the benchmark a job names (blocking: call it from a blocking thread).
fn load_benchmark(
    cache_dir: &std::path::Path,
    benchmark: BenchmarkSpecification,
) -> Result<Benchmark, LoadError> {
    let options = LoadOptions {
        tasks: benchmark.tasks,
        skip_invalid: benchmark.skip_invalid,
        media_root: benchmark.media_dir,
        name: None,
        version: None,
    };
    match &benchmark.data {
        Some(folder) => data::load(folder, &options),
        None => data::embedded::load(cache_dir, &options),
    }
}

/// Loads the benchmark and the prompt templates (file reading, so off the async threads) and
/// checks the templates are the ones submitted.
async fn load_inputs(
    context: &WorkerContext,
    specification: &ApiJudgeSpecification,
) -> Result<(Benchmark, PromptSet), JobError> {
    let cache_dir = context.cache_dir.clone();
    let benchmark = specification.benchmark.clone();
    let prompts_folder = specification.prompts.folder.clone();
    let (benchmark, prompts) = tokio::task::spawn_blocking(move || {
        let loaded = load_benchmark(&cache_dir, benchmark)?;
        let prompts = match &prompts_folder {
            Some(folder) => PromptSet::load(folder)?,
            None => PromptSet::builtin(),
        };
        Ok::<_, JobError>((loaded, prompts))
    })
    .await??;
    if prompts.hash != specification.prompts.hash {
        return Err(JobError::PromptsChanged {
            expected: specification.prompts.hash.clone(),
            found: prompts.hash,
        });
    }
    Ok((benchmark, prompts))
}

fn build_judge(
    context: &WorkerContext,
    specification: &ApiJudgeSpecification,
    prompts: PromptSet,
) -> Result<ApiJudge, JobError> {
    let audio_parts = AudioParts::from_str(&specification.audio_parts, false)
        .map_err(|error| JobError::Invalid(format!("audio_parts: {error}")))?;
    let api_key = match &specification.api_key_env {
        Some(variable) => Some({
            // Before the key is read: an operator key goes only to the hosts it is bound to.
            context
                .key_bindings
                .check(variable, &specification.endpoint)?;
            (context.api_keys)(variable).ok_or_else(|| {
                if super::key_vault::is_held_reference(variable) {
                    JobError::HeldKeyUnavailable
                } else {
                    JobError::MissingKey(variable.clone())
                }
            })?
        }),
        None => None,
    };
    let client = ChatClient::new(ClientConfig {
        endpoint: specification.endpoint.clone(),
        api_key,
        timeout: Duration::from_secs(specification.timeout_seconds.max(1)),
        http_attempts: specification.http_attempts.max(1),
        backoff_initial: Duration::from_millis(specification.backoff_ms),
        backoff_max: Duration::from_secs(60),
        public_addresses_only: specification.public_addresses_only,
    })?;
    Ok(ApiJudge {
        client,
        prompts,
        encoder: MediaEncoder::new(context.cache_dir.clone()),
        request: RequestOptions {
            model: specification.model.clone(),
            temperature: specification.temperature,
            max_tokens: specification.max_tokens,
            extra_body: specification.extra_body.clone(),
            prompt_video_frames: specification.prompt_video_frames,
            response_video_frames: specification.response_video_frames,
            audio_parts,
            // Submissions are never ablation audits (the command line runs those).
            ablations: Vec::new(),
        },
    })
}

/// Writes the job's heartbeat every `interval` and raises `job_stop` when the worker stops,
/// a cancel is requested or the job was taken over. Returns what ended it.
async fn keep_alive(
    storage: Storage,
    interval: Duration,
    job: crate::storage::JobId,
    worker: String,
    worker_stop: Arc<AtomicBool>,
    job_stop: Arc<AtomicBool>,
) -> Option<Heartbeat> {
    // The worker's stop flag is checked more often than the heartbeat is written.
    let tick = interval.min(Duration::from_millis(250));
    let mut since_heartbeat = Duration::ZERO;
    loop {
        tokio::time::sleep(tick).await;
        if worker_stop.load(Ordering::SeqCst) {
            job_stop.store(true, Ordering::SeqCst);
            return None;
        }
        since_heartbeat += tick;
        if since_heartbeat < interval {
            continue;
        }
        since_heartbeat = Duration::ZERO;
        // A failed write is retried at the next beat; the job only goes stale if they keep
        // failing for the whole stale limit.
        match storage.heartbeat(job, &worker).await {
            Ok(Heartbeat::Held) | Err(_) => {}
            Ok(ending) => {
                job_stop.store(true, Ordering::SeqCst);
                return Some(ending);
            }
        }
    }
}
