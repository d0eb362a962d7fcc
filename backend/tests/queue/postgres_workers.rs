//! Scale-out on PostgreSQL: two real `omnireward worker --database postgres://…` processes, each
//! with a home of its own (as on two hosts), drain one queue of checkpoint jobs. Every job must be
//! claimed once and finished, and every run must hold exactly one judgement per sample and
//! setting.
//!
//! Needs the server named by `OMNIREWARD_TEST_POSTGRES_URL` (scripts/test.sh starts one); without
//! it the test says so and returns, unless `OMNIREWARD_REQUIRE_POSTGRES=1`, where it fails.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use omnireward::data::{Benchmark, LoadOptions, embedded};
use omnireward::evaluation::checkpoint_run::{plan, weights_sha256};
use omnireward::evaluation::identity::{
    CheckpointIdentity, CheckpointInputOptions, DeviceClass, RunIdentity,
};
use omnireward::evaluation::runs::open_run;
use omnireward::queue::worker::{BenchmarkSpecification, CheckpointSpecification};
use omnireward::storage::{JobKind, ModelKind, NewModel, RunStatus, Storage};
use omnireward_shared::{Judgement, Setting};
use sqlx::Connection as _;
use tempfile::TempDir;

/// Queued runs, one checkpoint job each: more than workers, so both have work to take.
const RUNS: usize = 4;

/// The URL of a new, empty database on the test server, or `None` when none is configured and
/// none is required.
async fn fresh_postgres_url() -> Option<String> {
    let Ok(server) = std::env::var("OMNIREWARD_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("OMNIREWARD_REQUIRE_POSTGRES").as_deref() != Ok("1"),
            "OMNIREWARD_REQUIRE_POSTGRES=1 but OMNIREWARD_TEST_POSTGRES_URL is unset"
        );
        eprintln!(
            "skipping: OMNIREWARD_TEST_POSTGRES_URL is unset (scripts/test.sh starts a server)"
        );
        return None;
    };
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .subsec_nanos();
    let name = format!("omnireward_workers_{}_{nanos}", std::process::id());
    let mut connection = sqlx::PgConnection::connect(&server)
        .await
        .expect("connects to the test server");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut connection)
        .await
        .expect("creates a database");
    let (base, query) = match server.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (server.as_str(), String::new()),
    };
    let authority_end = base.find("://").expect("a URL") + 3;
    let path_start = base[authority_end..]
        .find('/')
        .map_or(base.len(), |start| authority_end + start);
    Some(format!("{}/{name}{query}", &base[..path_start]))
}

fn specification(model: &str, weights: &str) -> CheckpointSpecification {
    CheckpointSpecification {
        model: model.to_owned(),
        folder: PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("local-judge/tests/fixtures/bert-tiny"),
        checkpoint_sha256: "fixture".to_owned(),
        weights_sha256: weights.to_owned(),
        max_length: None,
        truncation: Default::default(),
        batch_tokens: 4096,
        reward_label: None,
        device: "cpu".to_owned(),
        frames: 5,
        settings: Setting::ALL.to_vec(),
        benchmark: BenchmarkSpecification::default(),
        chunk_samples: 4,
        judgements_file: None,
        hub: None,
        generation: None,
    }
}

fn start_worker(home: &Path, database: &str, name: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_omnireward"))
        .arg("--home")
        .arg(home)
        .args([
            "--database",
            database,
            "worker",
            "--name",
            name,
            "--exit-when-idle",
            "--resamples",
            "100",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts the worker")
}

/// Waits for a worker that should end by itself, and checks it did so cleanly.
fn wait_for_exit(child: Child) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut child = child;
    loop {
        if child.try_wait().expect("polls the worker").is_some() {
            let output = child.wait_with_output().expect("collects the worker");
            assert!(
                output.status.success(),
                "the worker failed: {}\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
            return;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the worker did not finish within two minutes");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn two_worker_processes_share_one_postgres_queue() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let Some(url) = runtime.block_on(fresh_postgres_url()) else {
        return;
    };
    let setup_home = TempDir::new().expect("temporary home");
    let benchmark: Benchmark =
        embedded::load(&setup_home.path().join("cache"), &LoadOptions::default())
            .expect("embedded sample loads");
    let covered = plan(
        &benchmark.samples,
        omnireward_local_judge::architecture::ModelKind::DecoderClassifier,
    )
    .covered;
    let expected: usize = covered
        .iter()
        .map(|sample| {
            Setting::ALL
                .iter()
                .filter(|setting| setting.includes(sample.label))
                .count()
        })
        .sum();
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

    let (storage, queued) = runtime.block_on(async {
        let storage = Storage::open_postgres(&url)
            .await
            .expect("opens the database");
        let mut queued = Vec::new();
        for index in 0..RUNS {
            let model = format!("bert-tiny-{index}");
            let opened = open_run(
                &storage,
                &NewModel::named(model.clone(), ModelKind::ScalarRewardModel),
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
                    &serde_json::to_value(specification(&model, &weights)).expect("encodes"),
                )
                .await
                .expect("enqueues");
            queued.push((opened.id, job));
        }
        (storage, queued)
    });

    // Two hosts: separate homes (caches, judgements files), one database.
    let homes = [TempDir::new().expect("home"), TempDir::new().expect("home")];
    let workers: Vec<Child> = homes
        .iter()
        .enumerate()
        .map(|(index, home)| start_worker(home.path(), &url, &format!("host-{index}")))
        .collect();
    for worker in workers {
        wait_for_exit(worker);
    }

    runtime.block_on(async {
        for (run, job) in &queued {
            let job = storage.job(*job).await.expect("reads the job");
            assert_eq!(job.status, RunStatus::Finished, "{:?}", job.error);
            assert_eq!(job.attempts, 1, "job {} was claimed twice", job.id);
            assert_eq!(
                storage.run(*run).await.expect("reads the run").status,
                RunStatus::Finished
            );
            let judgements = storage.judgements(*run).await.expect("reads");
            let keys: BTreeSet<_> = judgements.iter().map(Judgement::key).collect();
            assert_eq!(keys.len(), judgements.len(), "a judgement is stored twice");
            assert_eq!(judgements.len(), expected, "run {run}");
            assert!(
                storage.scorecard(*run).await.expect("reads").is_some(),
                "run {run} has no scorecard"
            );
        }
        let workers: BTreeSet<String> = storage
            .jobs()
            .await
            .expect("lists")
            .into_iter()
            .filter_map(|job| job.worker)
            .collect();
        println!("jobs were run by {workers:?}");
        storage.close().await;
    });
}
