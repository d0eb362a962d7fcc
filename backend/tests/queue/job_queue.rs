//! The job queue end to end: a job for the embedded sample, claimed and run by a worker against
//! the scripted OpenAI-compatible server on 127.0.0.1, and a job whose first worker died; and
//! checkpoint jobs (a tiny local reward model) handed back on stop and resumed, and cancelled
//! while running; jobs whose endpoint fails every request or redirects, which end `failed` with
//! the reason as the job's error.

use crate::support;
use crate::support::test_app::worker_context;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use omnireward::data::{Benchmark, LoadOptions, embedded};
use omnireward::evaluation::api_run::plan_items;
use omnireward::evaluation::checkpoint_run::{plan, weights_sha256};
use omnireward::evaluation::identity::{
    ApiJudgeIdentity, CheckpointIdentity, CheckpointInputOptions, DeviceClass, PromptsIdentity,
    RunIdentity,
};
use omnireward::evaluation::runs::open_run;
use omnireward::evaluation::sink::JudgementSink;
use omnireward::judges::api::prompts::PromptSet;
use omnireward::queue::worker::{
    ApiJudgeSpecification, BenchmarkSpecification, CheckpointSpecification, PromptsSpecification,
    WorkerContext, WorkerSummary, run_worker,
};
use omnireward::storage::{
    Cancellation, JobId, JobKind, ModelKind, NewModel, RunId, RunStatus, Storage,
};
use omnireward_shared::{Judgement, Setting, Task};
use support::identities;
use support::openai_server::{self, Shared};
use support::stub_servers::{start_counting, start_failing, start_redirecting};
use tempfile::TempDir;

const MODEL: &str = "judge-under-test";

/// The scripted server's script for the embedded sample.
fn script(home: &Path, benchmark: &Benchmark) -> Shared {
    Arc::new(Mutex::new(identities::script_for(
        home,
        MODEL,
        &benchmark.samples,
    )))
}

/// A database, the embedded sample and the scripted server, all under one temporary home.
struct Fixture {
    home: TempDir,
    storage: Storage,
    benchmark: Benchmark,
    server: Shared,
    endpoint: String,
}

async fn fixture() -> Fixture {
    let home = TempDir::new().expect("temporary home");
    let benchmark = embedded::load(&home.path().join("cache"), &LoadOptions::default())
        .expect("embedded sample loads");
    let storage = Storage::open(&home.path().join("omnireward.sqlite"))
        .await
        .expect("opens the database");
    let server = script(home.path(), &benchmark);
    let endpoint = openai_server::start(Arc::clone(&server)).await;
    Fixture {
        home,
        storage,
        benchmark,
        server,
        endpoint,
    }
}

fn specification(endpoint: &str) -> ApiJudgeSpecification {
    ApiJudgeSpecification {
        endpoint: endpoint.to_owned(),
        model: MODEL.to_owned(),
        api_key_env: None,
        public_addresses_only: false,
        temperature: None,
        max_tokens: None,
        extra_body: serde_json::Map::new(),
        prompt_video_frames: 10,
        response_video_frames: 5,
        audio_parts: "joined".to_owned(),
        prompts: PromptsSpecification {
            folder: None,
            hash: PromptSet::builtin().hash,
        },
        benchmark: BenchmarkSpecification::default(),
        settings: Setting::ALL.to_vec(),
        swap: true,
        concurrency: 4,
        requests_per_minute: None,
        verdict_attempts: 1,
        timeout_seconds: 30,
        http_attempts: 2,
        backoff_ms: 10,
        prices_per_million_tokens: None,
        max_cost: None,
        judgements_file: None,
    }
}

impl Fixture {
    /// Opens the run of the test judge and queues its job.
    async fn enqueue(&self) -> (RunId, JobId) {
        let specification = specification(&self.endpoint);
        let opened = open_run(
            &self.storage,
            &NewModel::named("queued judge", ModelKind::ApiJudge),
            &self.benchmark,
            &RunIdentity::Api(ApiJudgeIdentity {
                endpoint: self.endpoint.clone(),
                request: serde_json::json!({ "model": MODEL }),
                prompts: PromptsIdentity {
                    name: "test".to_owned(),
                    hash: String::new(),
                    fallback_tasks: Vec::new(),
                },
                verdict_attempts: 5,
            }),
            serde_json::json!({}),
        )
        .await
        .expect("opens the run");
        self.storage
            .set_run_status(opened.id, RunStatus::Queued)
            .await
            .expect("queues the run");
        let job = self
            .storage
            .enqueue_job(
                opened.id,
                JobKind::ApiJudge,
                &serde_json::to_value(&specification).expect("encodes"),
            )
            .await
            .expect("enqueues");
        (opened.id, job)
    }

    fn context(&self) -> WorkerContext {
        WorkerContext {
            stale_after: Duration::from_millis(300),
            ..worker_context(self.home.path())
        }
    }

    fn planned(&self) -> usize {
        plan_items(&self.benchmark.samples, &Setting::ALL, true).len()
    }

    fn requests_seen(&self) -> usize {
        self.server.lock().expect("script lock").seen.len()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_runs_a_queued_job_to_completion() {
    let fixture = fixture().await;
    let (run, job) = fixture.enqueue().await;
    let summary = run_worker(
        fixture.storage.clone(),
        &fixture.context(),
        "worker-1",
        Arc::new(AtomicBool::new(false)),
    )
    .await
    .expect("the worker runs");
    assert_eq!(
        summary,
        WorkerSummary {
            claimed: 1,
            ended: 1
        }
    );

    let job = fixture.storage.job(job).await.expect("reads the job");
    assert_eq!(job.status, RunStatus::Finished, "error: {:?}", job.error);
    assert_eq!(job.error, None);
    assert_eq!(job.attempts, 1);
    let record = fixture.storage.run(run).await.expect("reads the run");
    assert_eq!(record.status, RunStatus::Finished);
    let judgements = fixture.storage.judgements(run).await.expect("reads");
    assert_eq!(judgements.len(), fixture.planned());
    assert_eq!(fixture.requests_seen(), fixture.planned());
    let violations = fixture
        .server
        .lock()
        .expect("script lock")
        .violations
        .clone();
    assert!(violations.is_empty(), "{violations:?}");
    // The oracle server answers correctly, so every parsed verdict matches its label.
    assert!(
        judgements
            .iter()
            .all(|judgement| judgement.verdict == Some(judgement.label))
    );
    let file = fixture
        .home
        .path()
        .join("runs")
        .join(format!("run-{}.jsonl", run.0));
    let lines = std::fs::read_to_string(&file).expect("judgements file");
    assert_eq!(lines.lines().count(), fixture.planned());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_worker_died_is_requeued_and_finished_without_duplicates() {
    let fixture = fixture().await;
    let (run, job) = fixture.enqueue().await;
    let context = fixture.context();

    // The dead worker claimed the job, saved a few judgements, and never beat again.
    let dead = fixture
        .storage
        .claim_job("dead-worker")
        .await
        .expect("claims")
        .expect("a job");
    assert_eq!(dead.id, job);
    let already: Vec<Judgement> = plan_items(&fixture.benchmark.samples, &Setting::ALL, true)
        .into_iter()
        .take(3)
        .map(|(index, setting, order)| {
            let sample = &fixture.benchmark.samples[index];
            Judgement {
                task: sample.task,
                sample_id: sample.id.clone(),
                setting,
                order,
                raw_output: Some("[[A]]".to_owned()),
                rewards: None,
                verdict: Some(sample.label),
                label: sample.label,
                attempts: Some(1),
                input_tokens: Some(1),
                output_tokens: Some(1),
                latency_ms: Some(1),
            }
        })
        .collect();
    let path = context.runs_dir.join(format!("run-{}.jsonl", run.0));
    std::fs::create_dir_all(&context.runs_dir).expect("runs folder");
    let mut sink = JudgementSink::open(fixture.storage.clone(), run, &path)
        .await
        .expect("opens the sink");
    assert_eq!(sink.save(&already).await.expect("saves"), 3);
    drop(sink);

    // While its heartbeat is fresh, nobody else takes the job.
    assert_eq!(
        fixture
            .storage
            .requeue_stale_jobs(Duration::from_secs(60))
            .await
            .expect("requeues"),
        0
    );
    tokio::time::sleep(context.stale_after * 2).await;

    // A new worker requeues the stale job on start and finishes it.
    let summary = run_worker(
        fixture.storage.clone(),
        &context,
        "worker-2",
        Arc::new(AtomicBool::new(false)),
    )
    .await
    .expect("the worker runs");
    assert_eq!(
        summary,
        WorkerSummary {
            claimed: 1,
            ended: 1
        }
    );
    let job = fixture.storage.job(job).await.expect("reads the job");
    assert_eq!(job.status, RunStatus::Finished, "error: {:?}", job.error);
    assert_eq!(job.worker.as_deref(), Some("worker-2"));
    assert_eq!(job.attempts, 2);
    assert_eq!(
        fixture.storage.run(run).await.expect("reads").status,
        RunStatus::Finished
    );
    let judgements = fixture.storage.judgements(run).await.expect("reads");
    assert_eq!(judgements.len(), fixture.planned());
    assert_eq!(fixture.requests_seen(), fixture.planned() - already.len());
    let lines = std::fs::read_to_string(&path).expect("judgements file");
    assert_eq!(lines.lines().count(), fixture.planned());

    // The dead worker cannot finish the job it lost.
    assert!(
        !fixture
            .storage
            .finish_job(job.id, "dead-worker", RunStatus::Failed, Some("late"))
            .await
            .expect("finishes")
    );
}

/// Runs a job for the T2T items of the embedded sample (no media to encode) against
/// `endpoint`, with the API key `key`, until the queue is empty; returns the finished job.
async fn run_text_job(endpoint: &str, key: &'static str) -> omnireward::storage::Job {
    let home = TempDir::new().expect("temporary home");
    let options = LoadOptions {
        tasks: vec![Task::TextToText],
        ..LoadOptions::default()
    };
    let benchmark =
        embedded::load(&home.path().join("cache"), &options).expect("embedded sample loads");
    let storage = Storage::open(&home.path().join("omnireward.sqlite"))
        .await
        .expect("opens the database");
    let mut specification = specification(endpoint);
    specification.benchmark.tasks = vec![Task::TextToText];
    specification.api_key_env = Some("OMNIREWARD_KEY_JUDGE".to_owned());
    let opened = open_run(
        &storage,
        &NewModel::named("failing judge", ModelKind::ApiJudge),
        &benchmark,
        &RunIdentity::Api(ApiJudgeIdentity {
            endpoint: endpoint.to_owned(),
            request: serde_json::json!({ "model": MODEL }),
            prompts: PromptsIdentity {
                name: "test".to_owned(),
                hash: String::new(),
                fallback_tasks: Vec::new(),
            },
            verdict_attempts: 5,
        }),
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
            JobKind::ApiJudge,
            &serde_json::to_value(&specification).expect("encodes"),
        )
        .await
        .expect("enqueues");
    let context = WorkerContext {
        // The operator lets this key go to the test endpoint's host.
        key_bindings: Arc::new(
            omnireward::queue::key_bindings::KeyBindings::parse(&[
                "OMNIREWARD_KEY_JUDGE=127.0.0.1",
            ])
            .expect("a valid binding"),
        ),
        api_keys: Arc::new(move |_| {
            Some(omnireward::judges::api::client::ApiKey::new(key.to_owned()))
        }),
        stale_after: Duration::from_secs(60),
        ..worker_context(home.path())
    };
    let summary = run_worker(
        storage.clone(),
        &context,
        "worker-1",
        Arc::new(AtomicBool::new(false)),
    )
    .await
    .expect("the worker runs");
    assert_eq!(summary.ended, 1);
    let record = storage.run(opened.id).await.expect("reads the run");
    assert_eq!(record.status, RunStatus::Failed);
    storage.job(job).await.expect("reads the job")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_every_request_failed_records_the_last_upstream_error() {
    const KEY: &str = "sk-worker-key-never-stored-3301";
    let server = start_failing("model overloaded: try again later").await;
    let job = run_text_job(&server.endpoint, KEY).await;
    assert_eq!(job.status, RunStatus::Failed);
    let error = job.error.expect("the job records why it failed");
    assert!(server.hits() > 0);
    assert!(
        error.contains("items could not be judged")
            && error.contains("HTTP 500: model overloaded: try again later"),
        "{error}"
    );
    // The server echoed the request's Authorization header into its answer: the key is not kept.
    assert!(!error.contains(KEY), "{error}");
    assert!(error.contains("Bearer <redacted>"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_endpoint_redirects_fails_without_reaching_the_target() {
    let target = start_counting().await;
    let target_host = target.base.trim_start_matches("http://").to_owned();
    let redirecting = start_redirecting(
        axum::http::StatusCode::TEMPORARY_REDIRECT,
        format!("{}/v1/chat/completions", target.base),
    )
    .await;
    let job = run_text_job(&redirecting.endpoint, "sk-unused").await;
    assert_eq!(job.status, RunStatus::Failed);
    let error = job.error.expect("the job records why it failed");
    assert!(
        error.contains(&format!(
            "the endpoint answered 307 (redirect to {target_host})"
        )),
        "{error}"
    );
    assert_eq!(target.hits(), 0, "the redirect target was reached");
}

fn bert_tiny() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("local-judge/tests/fixtures/bert-tiny")
}

/// A database and the embedded sample under one temporary home, for checkpoint jobs (no
/// scripted server: its script encodes every sample's media).
struct CheckpointFixture {
    home: TempDir,
    storage: Storage,
    benchmark: Benchmark,
}

async fn checkpoint_fixture() -> CheckpointFixture {
    let home = TempDir::new().expect("temporary home");
    let benchmark = embedded::load(&home.path().join("cache"), &LoadOptions::default())
        .expect("embedded sample loads");
    let storage = Storage::open(&home.path().join("omnireward.sqlite"))
        .await
        .expect("opens the database");
    CheckpointFixture {
        home,
        storage,
        benchmark,
    }
}

impl CheckpointFixture {
    fn context(&self) -> WorkerContext {
        WorkerContext {
            heartbeat_interval: Duration::from_millis(20),
            stale_after: Duration::from_millis(300),
            ..worker_context(self.home.path())
        }
    }

    /// Opens a run of the bert-tiny fixture and queues its checkpoint job, one sample per chunk
    /// so that the run has many points to stop at. Returns the run, the job and the number of
    /// judgements a finished run holds.
    async fn enqueue_checkpoint(&self) -> (RunId, JobId, usize) {
        let folder = bert_tiny();
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
        let opened = open_run(
            &self.storage,
            &NewModel::named("bert-tiny", ModelKind::ScalarRewardModel),
            &self.benchmark,
            &identity,
            serde_json::json!({}),
        )
        .await
        .expect("opens the run");
        self.storage
            .set_run_status(opened.id, RunStatus::Queued)
            .await
            .expect("queues the run");
        let job = self
            .storage
            .enqueue_job(
                opened.id,
                JobKind::Checkpoint,
                &serde_json::to_value(&specification).expect("encodes"),
            )
            .await
            .expect("enqueues");
        let covered = plan(
            &self.benchmark.samples,
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
        (opened.id, job, expected)
    }

    /// Waits until the run holds at least `count` judgements.
    async fn wait_for_judgements(&self, run: RunId, count: usize) {
        for _ in 0..2000 {
            if self.storage.judgement_keys(run).await.expect("reads").len() >= count {
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        panic!("the run never reached {count} judgements");
    }

    /// The judgements file of `run` holds each stored judgement exactly once.
    async fn assert_file_matches_database(&self, run: RunId) {
        let path = self
            .home
            .path()
            .join("runs")
            .join(format!("run-{}.jsonl", run.0));
        let lines: Vec<Judgement> = std::fs::read_to_string(&path)
            .expect("judgements file")
            .lines()
            .map(|line| serde_json::from_str(line).expect("a judgement"))
            .collect();
        let keys: BTreeSet<_> = lines.iter().map(Judgement::key).collect();
        assert_eq!(keys.len(), lines.len(), "a judgement is in the file twice");
        assert_eq!(
            keys,
            self.storage.judgement_keys(run).await.expect("reads"),
            "the file and the database disagree"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_job_handed_back_on_stop_is_resumed_by_another_worker() {
    let fixture = checkpoint_fixture().await;
    let (run, job, expected) = fixture.enqueue_checkpoint().await;
    let context = fixture.context();
    let stop = Arc::new(AtomicBool::new(false));
    let first = tokio::spawn({
        let storage = fixture.storage.clone();
        let context = context.clone();
        let stop = Arc::clone(&stop);
        async move { run_worker(storage, &context, "worker-1", stop).await }
    });
    fixture.wait_for_judgements(run, 6).await;
    stop.store(true, Ordering::SeqCst);
    let summary = first.await.expect("joins").expect("the worker runs");
    assert_eq!(
        summary,
        WorkerSummary {
            claimed: 1,
            ended: 0
        }
    );
    // Handed back: queued again, with what it saved kept.
    let handed_back = fixture.storage.job(job).await.expect("reads");
    assert_eq!(handed_back.status, RunStatus::Queued);
    assert_eq!(handed_back.worker, None);
    assert_eq!(
        fixture.storage.run(run).await.expect("reads").status,
        RunStatus::Queued
    );
    let saved = fixture
        .storage
        .judgement_keys(run)
        .await
        .expect("reads")
        .len();
    assert!((6..expected).contains(&saved), "{saved} of {expected}");

    let summary = run_worker(
        fixture.storage.clone(),
        &context,
        "worker-2",
        Arc::new(AtomicBool::new(false)),
    )
    .await
    .expect("the worker runs");
    assert_eq!(
        summary,
        WorkerSummary {
            claimed: 1,
            ended: 1
        }
    );
    let finished = fixture.storage.job(job).await.expect("reads");
    assert_eq!(finished.status, RunStatus::Finished, "{:?}", finished.error);
    assert_eq!(finished.attempts, 2);
    assert_eq!(
        fixture.storage.run(run).await.expect("reads").status,
        RunStatus::Finished
    );
    let judgements = fixture.storage.judgements(run).await.expect("reads");
    assert_eq!(judgements.len(), expected);
    assert!(
        judgements
            .iter()
            .all(|judgement| judgement.rewards.is_some())
    );
    fixture.assert_file_matches_database(run).await;
    let scorecard = fixture.storage.scorecard(run).await.expect("reads");
    assert!(scorecard.is_some_and(|scorecard| scorecard.settings.len() == 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_checkpoint_job_stops_when_cancelled() {
    let fixture = checkpoint_fixture().await;
    let (run, job, expected) = fixture.enqueue_checkpoint().await;
    let context = fixture.context();
    let worker = tokio::spawn({
        let storage = fixture.storage.clone();
        let context = context.clone();
        async move {
            run_worker(
                storage,
                &context,
                "worker-1",
                Arc::new(AtomicBool::new(false)),
            )
            .await
        }
    });
    fixture.wait_for_judgements(run, 2).await;
    assert_eq!(
        fixture.storage.cancel_job(job).await.expect("cancels"),
        Cancellation::Requested
    );
    let summary = worker.await.expect("joins").expect("the worker runs");
    assert_eq!(
        summary,
        WorkerSummary {
            claimed: 1,
            ended: 1
        }
    );
    assert_eq!(
        fixture.storage.job(job).await.expect("reads").status,
        RunStatus::Cancelled
    );
    assert_eq!(
        fixture.storage.run(run).await.expect("reads").status,
        RunStatus::Cancelled
    );
    let saved = fixture
        .storage
        .judgement_keys(run)
        .await
        .expect("reads")
        .len();
    assert!(
        saved < expected,
        "{saved} of {expected}: the job ran to its end"
    );
    fixture.assert_file_matches_database(run).await;
}
