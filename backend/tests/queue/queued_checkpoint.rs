//! One queued checkpoint job of the bert-tiny fixture on a fresh home: what the tests that stop
//! workers (SIGKILL at random points, SIGTERM mid-run) start from.

use std::path::PathBuf;

use omnireward::data::{Benchmark, LoadOptions, embedded};
use omnireward::evaluation::checkpoint_run::{plan, weights_sha256};
use omnireward::evaluation::identity::{
    CheckpointIdentity, CheckpointInputOptions, DeviceClass, RunIdentity,
};
use omnireward::evaluation::runs::open_run;
use omnireward::queue::worker::{BenchmarkSpecification, CheckpointSpecification};
use omnireward::storage::{JobId, JobKind, ModelKind, NewModel, RunId, RunStatus, Storage};
use omnireward_shared::Setting;
use tempfile::TempDir;

/// A runtime for the test's own database reads.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

/// A home with a database holding one queued checkpoint job of the bert-tiny fixture, scored
/// one sample per chunk so that a run has many points to be killed at.
pub struct Queued {
    pub home: TempDir,
    pub storage: Storage,
    pub run: RunId,
    pub job: JobId,
    pub expected: usize,
}

/// Queues the job on a fresh home, its run opened as `eval checkpoint` would open it.
pub fn queue_job(runtime: &tokio::runtime::Runtime) -> Queued {
    let home = TempDir::new().expect("temporary home");
    let benchmark: Benchmark = embedded::load(&home.path().join("cache"), &LoadOptions::default())
        .expect("embedded sample loads");
    let folder =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("local-judge/tests/fixtures/bert-tiny");
    let weights = weights_sha256(&[folder.join("model.safetensors")]).expect("hashes");
    let identity = RunIdentity::Checkpoint(
        CheckpointIdentity::new(
            weights.clone(),
            &folder,
            "BertForSequenceClassification",
            DeviceClass::Cpu,
            CheckpointInputOptions::default(),
        )
        .expect("hashes the input files"),
    );
    let specification = CheckpointSpecification {
        model: "bert-tiny".to_owned(),
        folder,
        checkpoint_sha256: "fixture".to_owned(),
        weights_sha256: weights.clone(),
        max_length: None,
        truncation: Default::default(),
        batch_tokens: 4096,
        reward_label: None,
        device: "cpu".to_owned(),
        frames: 5,
        settings: Setting::ALL.to_vec(),
        benchmark: BenchmarkSpecification::default(),
        chunk_samples: 1,
        judgements_file: None,
        hub: None,
        generation: None,
    };
    let covered = plan(
        &benchmark.samples,
        omnireward_local_judge::architecture::ModelKind::DecoderClassifier,
    )
    .covered;
    let expected = covered
        .iter()
        .map(|sample| {
            Setting::ALL
                .iter()
                .filter(|setting| setting.includes(sample.label))
                .count()
        })
        .sum();
    let (storage, run, job) = runtime.block_on(async {
        let storage = Storage::open(&home.path().join("omnireward.sqlite"))
            .await
            .expect("opens the database");
        let opened = open_run(
            &storage,
            &NewModel::named("bert-tiny", ModelKind::ScalarRewardModel),
            &benchmark,
            &identity,
            serde_json::json!({}),
        )
        .await
        .expect("opens the run");
        storage
            .set_run_status(opened.id, RunStatus::Queued)
            .await
            .expect("queues the run");
        let job = storage
            .enqueue_job(
                opened.id,
                JobKind::Checkpoint,
                &serde_json::to_value(&specification).expect("encodes"),
            )
            .await
            .expect("enqueues");
        (storage, opened.id, job)
    });
    Queued {
        home,
        storage,
        run,
        job,
        expected,
    }
}

/// Judgements stored so far for the queued run.
pub fn judged(runtime: &tokio::runtime::Runtime, queued: &Queued) -> usize {
    runtime
        .block_on(queued.storage.judgement_keys(queued.run))
        .expect("reads")
        .len()
}
