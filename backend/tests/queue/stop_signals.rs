//! SIGTERM stops `omnireward worker` and `omnireward serve --workers 1` like Ctrl-C: the process
//! exits 0 within seconds, the job in hand is back in the queue (not left `running` for the
//! stale-heartbeat sweep), and a restarted worker finishes the run with every judgement exactly
//! once, in the database and in the judgements file.

use std::collections::BTreeSet;
use std::io::BufRead as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use omnireward::storage::RunStatus;
use omnireward_shared::Judgement;

use crate::queued_checkpoint::{Queued, judged, queue_job, runtime};

/// The worker's name in the `worker` test.
const WORKER: &str = "sigterm-test";

/// A child process whose stderr is drained (into the returned lines) so it never blocks.
fn spawn(home: &Path, arguments: &[&str]) -> (Child, std::sync::mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_omnireward"))
        .arg("--home")
        .arg(home)
        .args(arguments)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts omnireward");
    let stderr = child.stderr.take().expect("stderr");
    let (sender, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let _ = sender.send(line);
        }
    });
    (child, lines)
}

/// Waits until the job's judgements are being written, holds the database's write lock (so the
/// run cannot finish before the signal is noticed: a bert-tiny run takes a fraction of a second,
/// and a worker sees its stop flag within a quarter of one), sends SIGTERM, lets the write in
/// flight complete, and checks the process stops cleanly within seconds with the job handed back.
fn terminate_mid_run(runtime: &tokio::runtime::Runtime, queued: &Queued, mut child: Child) {
    use sqlx::Connection as _;

    let started = Instant::now();
    while judged(runtime, queued) < 1 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no judgements were written"
        );
        assert!(
            child.try_wait().expect("polls").is_none(),
            "the process ended before the signal"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let database = queued.home.path().join("omnireward.sqlite");
    let mut lock = runtime.block_on(async {
        let mut connection =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}", database.display()))
                .await
                .expect("connects");
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut connection)
            .await
            .expect("takes the write lock");
        connection
    });
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("runs kill");
    assert!(status.success());
    // Past the worker's stop-flag check; well within the storage's busy timeout.
    std::thread::sleep(Duration::from_millis(800));
    runtime.block_on(async {
        sqlx::query("ROLLBACK")
            .execute(&mut lock)
            .await
            .expect("releases the write lock");
        lock.close().await.expect("closes");
    });
    let signalled = Instant::now();
    let exit = loop {
        if let Some(exit) = child.try_wait().expect("polls") {
            break exit;
        }
        if signalled.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("the process did not stop within 10 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(exit.success(), "{exit}");
    let job = runtime
        .block_on(queued.storage.job(queued.job))
        .expect("reads");
    assert_eq!(job.status, RunStatus::Queued, "{:?}", job.error);
    let saved = judged(runtime, queued);
    assert!(
        saved < queued.expected,
        "the run finished before the signal ({saved} judgements): give it more chunks"
    );
}

/// Finishes the run with a fresh worker and checks every judgement is there exactly once.
fn finish_and_check(runtime: &tokio::runtime::Runtime, queued: &Queued) {
    let (mut child, _lines) = spawn(
        queued.home.path(),
        &["worker", "--exit-when-idle", "--resamples", "100"],
    );
    let started = Instant::now();
    let exit = loop {
        if let Some(exit) = child.try_wait().expect("polls") {
            break exit;
        }
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("the restarted worker did not finish");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "{exit}");
    let (job, judgements) = runtime.block_on(async {
        (
            queued.storage.job(queued.job).await.expect("reads"),
            queued.storage.judgements(queued.run).await.expect("reads"),
        )
    });
    assert_eq!(job.status, RunStatus::Finished, "{:?}", job.error);
    let keys: BTreeSet<_> = judgements.iter().map(Judgement::key).collect();
    assert_eq!(keys.len(), judgements.len(), "a judgement is stored twice");
    assert_eq!(judgements.len(), queued.expected, "judgements were lost");
    let file = queued
        .home
        .path()
        .join("runs")
        .join(format!("run-{}.jsonl", queued.run.0));
    let lines: Vec<Judgement> = std::fs::read_to_string(&file)
        .expect("judgements file")
        .lines()
        .map(|line| serde_json::from_str(line).expect("a whole judgement per line"))
        .collect();
    let file_keys: BTreeSet<_> = lines.iter().map(Judgement::key).collect();
    assert_eq!(
        file_keys.len(),
        lines.len(),
        "a judgement is in the file twice"
    );
    assert_eq!(file_keys, keys);
}

#[test]
fn sigterm_stops_a_worker_and_hands_its_job_back() {
    let runtime = runtime();
    let queued = queue_job(&runtime);
    let (child, _lines) = spawn(
        queued.home.path(),
        &["worker", "--name", WORKER, "--resamples", "100"],
    );
    terminate_mid_run(&runtime, &queued, child);
    finish_and_check(&runtime, &queued);
}

#[test]
fn sigterm_stops_serve_and_hands_its_workers_job_back() {
    let runtime = runtime();
    let queued = queue_job(&runtime);
    let (child, _lines) = spawn(
        queued.home.path(),
        &[
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--no-demo",
            "--workers",
            "1",
        ],
    );
    terminate_mid_run(&runtime, &queued, child);
    finish_and_check(&runtime, &queued);
}
