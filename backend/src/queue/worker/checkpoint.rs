//! Checkpoint jobs: a local reward model (an uploaded checkpoint folder) run over the benchmark
//! on its own inference thread, with the same heartbeats, cancellation and resumption as the
//! API-judge jobs; a chat model's job (its specification has `generation`) goes to
//! [`super::generative`].

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};

use omnireward_local_judge::models::RewardLabel;
use omnireward_shared::Setting;
use serde::{Deserialize, Serialize};

use super::generative::GenerationSpecification;
use super::{
    BenchmarkSpecification, JobError, JobOutcome, WorkerContext, check_benchmark, finish_local_run,
    load_benchmark, supervised,
};
use crate::checkpoint::CheckpointFolder;
use crate::data::Benchmark;
use crate::evaluation::checkpoint_run::{self, CheckpointRunConfig, weights_sha256};
use crate::hub::model::CheckedCheckpoint;
use crate::hub::snapshot::Progress;
use crate::hub::{HubClient, model};
use crate::judges::local::{InferenceThread, LocalJudgeOptions, TruncationSide};
use crate::media::MediaEncoder;
use crate::storage::{Job, RunRecord, Storage};

/// Everything needed to load a checkpoint and run it over the benchmark.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointSpecification {
    /// The leaderboard name (shown in the queue).
    pub model: String,
    /// The checkpoint folder: for uploads, `<uploads>/<checkpoint_sha256>`; for an uploaded GGUF
    /// chat model, the file in that folder.
    pub folder: PathBuf,
    /// SHA-256 over the uploaded files (names, sizes and contents): the folder's address.
    pub checkpoint_sha256: String,
    /// SHA-256 over the weight files in name order; checked before the model loads.
    pub weights_sha256: String,
    /// Token limit per input [default: the model's].
    #[serde(default)]
    pub max_length: Option<usize>,
    /// Which end of a too-long input is cut.
    #[serde(default)]
    pub truncation: TruncationSide,
    /// Padded tokens per batch.
    pub batch_tokens: usize,
    /// Which head output is the reward: an index or an `id2label` name [default: the only one].
    #[serde(default)]
    pub reward_label: Option<String>,
    /// Device: cpu, cuda, cuda:N or auto.
    pub device: String,
    /// Frames sampled per video response (image-text models).
    pub frames: usize,
    /// Settings to record judgements for.
    pub settings: Vec<Setting>,
    /// The benchmark to judge; it must be the one the job's run was opened on.
    pub benchmark: BenchmarkSpecification,
    /// Samples scored per job on the inference thread (how often progress is saved).
    pub chunk_samples: usize,
    /// Judgements file [default: `<runs dir>/run-<id>.jsonl`].
    #[serde(default)]
    pub judgements_file: Option<PathBuf>,
    /// For a checkpoint named by Hub repository: the checked commit and files, which the
    /// worker fetches into its own cache (checked file by file against the Hub's SHA-256s, in
    /// place of `weights_sha256`, which is then empty) before loading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hub: Option<CheckedCheckpoint>,
    /// For a chat model (a `*ForCausalLM` folder or a GGUF file), judged as a generative judge:
    /// its generation options. Absent for reward models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<GenerationSpecification>,
}

impl CheckpointSpecification {
    /// The options the inference thread loads the checkpoint with.
    pub fn options(&self) -> Result<LocalJudgeOptions, String> {
        if self.batch_tokens == 0 {
            return Err("batch_tokens must be at least 1".to_owned());
        }
        Ok(LocalJudgeOptions {
            device: self
                .device
                .parse()
                .map_err(|error| format!("device: {error}"))?,
            max_length: self.max_length,
            truncation: self.truncation,
            batch_tokens: self.batch_tokens,
            separator: None,
            reward_label: match &self.reward_label {
                None => RewardLabel::Single,
                Some(label) => match label.parse::<usize>() {
                    Ok(index) => RewardLabel::Index(index),
                    Err(_) => RewardLabel::Name(label.clone()),
                },
            },
        })
    }
}

/// Checks the checkpoint folder and its weights, loads it on an inference thread, and runs it
/// over the benchmark on the job's run.
pub(super) async fn run_checkpoint(
    storage: &Storage,
    context: &WorkerContext,
    worker: &str,
    job: &Job,
    stop: &Arc<AtomicBool>,
) -> Result<JobOutcome, JobError> {
    let specification: CheckpointSpecification = serde_json::from_value(job.specification.clone())
        .map_err(|source| JobError::Specification {
            kind: job.kind,
            source,
        })?;
    let options = specification.options().map_err(JobError::Invalid)?;
    let run = storage.run(job.run).await?;
    let cache_dir = context.cache_dir.clone();
    let benchmark_specification = specification.benchmark.clone();
    let benchmark =
        tokio::task::spawn_blocking(move || load_benchmark(&cache_dir, benchmark_specification))
            .await??;
    check_benchmark(storage, &run, &benchmark).await?;
    if let Some(generation) = &specification.generation {
        return super::generative::run_generative(
            storage,
            context,
            worker,
            job,
            stop,
            &specification,
            generation,
            &run,
            &benchmark,
        )
        .await;
    }

    // Hub checkpoints come into this worker's own cache; each file is checked as it arrives.
    let (folder, expected) = match &specification.hub {
        Some(checked) => {
            let client = HubClient::new(context.hub.clone())?;
            let folder =
                model::fetch(&client, checked, &context.cache_dir, Progress::Hidden).await?;
            (folder, None)
        }
        None => (
            specification.folder.clone(),
            Some(specification.weights_sha256.clone()),
        ),
    };
    // Reading headers and weights and loading the model block: never on an async worker.
    let thread = tokio::task::spawn_blocking(move || {
        let checkpoint = CheckpointFolder::inspect(&folder)?;
        checkpoint.require_supported_architecture()?;
        if let Some(expected) = expected {
            let found = weights_sha256(&checkpoint.weight_files()).map_err(JobError::Weights)?;
            if found != expected {
                return Err(JobError::WeightsChanged { expected, found });
            }
        }
        Ok(InferenceThread::start(checkpoint.path, options)?)
    })
    .await??;
    let outcome = run_loaded(
        storage,
        context,
        worker,
        job,
        stop,
        &specification,
        &run,
        &benchmark,
        &thread,
    )
    .await;
    // Dropping the thread joins it once the chunk in hand is done: a blocking wait.
    let _ = tokio::task::spawn_blocking(move || drop(thread)).await;
    outcome
}

#[allow(clippy::too_many_arguments)]
async fn run_loaded(
    storage: &Storage,
    context: &WorkerContext,
    worker: &str,
    job: &Job,
    stop: &Arc<AtomicBool>,
    specification: &CheckpointSpecification,
    run: &RunRecord,
    benchmark: &Benchmark,
    thread: &InferenceThread,
) -> Result<JobOutcome, JobError> {
    let config = CheckpointRunConfig {
        settings: specification.settings.clone(),
        chunk_samples: specification.chunk_samples.max(1),
        frames: specification.frames,
        // Submissions are never ablation audits (the command line runs those).
        ablations: Vec::new(),
    };
    let plan = checkpoint_run::plan(&benchmark.samples, thread.description().kind);
    let media = MediaEncoder::new(context.cache_dir.clone());
    let (session, summary, ending) = supervised(
        storage,
        context,
        worker,
        job,
        stop,
        specification.judgements_file.as_deref(),
        async |sink, job_stop| {
            checkpoint_run::run(
                thread,
                &plan,
                &media,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_come_from_the_specification() {
        let mut specification = CheckpointSpecification {
            model: "m".to_owned(),
            folder: PathBuf::from("/nowhere"),
            checkpoint_sha256: "a".repeat(64),
            weights_sha256: "b".repeat(64),
            max_length: Some(128),
            truncation: TruncationSide::Left,
            batch_tokens: 1024,
            reward_label: Some("1".to_owned()),
            device: "cpu".to_owned(),
            frames: 5,
            settings: Setting::ALL.to_vec(),
            benchmark: BenchmarkSpecification::default(),
            chunk_samples: 8,
            judgements_file: None,
            hub: None,
            generation: None,
        };
        let options = specification.options().expect("valid");
        assert_eq!(options.max_length, Some(128));
        assert_eq!(options.truncation, TruncationSide::Left);
        assert_eq!(options.reward_label, RewardLabel::Index(1));
        let encoded = serde_json::to_value(&specification).expect("encodes");
        assert_eq!(encoded["truncation"], "left");
        let decoded: CheckpointSpecification = serde_json::from_value(encoded).expect("decodes");
        assert_eq!(decoded, specification);
        specification.batch_tokens = 0;
        assert!(specification.options().is_err());
        specification.batch_tokens = 1;
        specification.device = "tpu".to_owned();
        assert!(specification.options().is_err());
    }
}
