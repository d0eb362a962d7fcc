//! The kill test: the real `omnireward worker` binary runs a queued checkpoint job and is killed
//! with SIGKILL at seeded random points (during start-up, inference and saving), at least ten
//! times, and restarted each time until the run finishes. The run must then hold exactly one
//! judgement per sample and setting, in the database and in the judgements file, and its
//! scorecard must equal that of an uninterrupted run of the same job on a fresh database.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use omnireward::storage::RunStatus;
use omnireward_shared::Judgement;
use omnireward_shared::random::SplitMix64;

use crate::queued_checkpoint::{judged, queue_job, runtime};

/// Kills at least this many workers before letting one finish.
const KILLS: usize = 10;

/// The worker's name: a restarted worker of the same name takes its dead predecessor's job
/// back at once instead of waiting for the heartbeat to go stale.
const WORKER: &str = "kill-test";

fn start_worker(home: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_omnireward"))
        .arg("--home")
        .arg(home)
        .args([
            "worker",
            "--name",
            WORKER,
            "--exit-when-idle",
            "--resamples",
            "100",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts the worker")
}

/// Waits for a worker that should end by itself, and checks it did so cleanly.
fn wait_for_exit(mut child: Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().expect("polls the worker") {
            assert!(status.success(), "the worker failed: {status}");
            return;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the worker did not finish within a minute");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_worker_killed_at_random_points_finishes_the_run_exactly_once() {
    let runtime = runtime();

    // The reference: the same job, uninterrupted, on a fresh database.
    let reference = queue_job(&runtime);
    wait_for_exit(start_worker(reference.home.path()));
    let reference_card = runtime
        .block_on(reference.storage.scorecard(reference.run))
        .expect("reads")
        .expect("a scorecard");
    let reference_judgements = runtime
        .block_on(reference.storage.judgements(reference.run))
        .expect("reads");
    assert_eq!(reference_judgements.len(), reference.expected);

    let queued = queue_job(&runtime);
    let mut random = SplitMix64::new(0x6b69_6c6c);
    let mut kills = 0;
    let mut starts = 0;
    while kills < KILLS {
        starts += 1;
        assert!(starts <= 4 * KILLS, "{starts} starts for {kills} kills");
        let before = judged(&runtime, &queued);
        let mut child = start_worker(queued.home.path());
        // A quarter of the kills land at a random time from the start (loading the benchmark
        // or the model), or at the first save if that comes first; the others once the run has saved one to three more judgements, a
        // random moment later (while scoring the next sample or while saving it). A chunk
        // takes a few milliseconds, so each kill lets the run advance by a few samples.
        let started = Instant::now();
        if random.next_index(4) == 0 {
            let delay = Duration::from_micros(random.next_index(50_000) as u64);
            while started.elapsed() < delay && judged(&runtime, &queued) == before {
                std::thread::sleep(Duration::from_micros(200));
            }
        } else {
            let more = 1 + random.next_index(3);
            while judged(&runtime, &queued) < before + more
                && started.elapsed() < Duration::from_secs(30)
            {
                if child.try_wait().expect("polls").is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_micros(200));
            }
            std::thread::sleep(Duration::from_micros(random.next_index(3_000) as u64));
        }
        if let Some(status) = child.try_wait().expect("polls the worker") {
            // It finished before the kill: a run shorter than the kills planned.
            assert!(status.success(), "the worker failed: {status}");
            panic!("the run finished after {kills} kills; give the run more chunks");
        }
        child.kill().expect("kills the worker");
        child.wait().expect("reaps the worker");
        kills += 1;
    }
    let saved_before_the_last_start = judged(&runtime, &queued);
    assert!(saved_before_the_last_start < queued.expected);
    wait_for_exit(start_worker(queued.home.path()));

    let (job, run, judgements, card) = runtime.block_on(async {
        (
            queued.storage.job(queued.job).await.expect("reads"),
            queued.storage.run(queued.run).await.expect("reads"),
            queued.storage.judgements(queued.run).await.expect("reads"),
            queued
                .storage
                .scorecard(queued.run)
                .await
                .expect("reads")
                .expect("a scorecard"),
        )
    });
    assert_eq!(job.status, RunStatus::Finished, "{:?}", job.error);
    // Claimed by most of the killed workers (some died before claiming) and the last one.
    assert!(
        (2..=starts as u64 + 1).contains(&job.attempts),
        "{} attempts for {starts} killed workers",
        job.attempts
    );
    assert_eq!(run.status, RunStatus::Finished);

    // Exactly one judgement per (sample, setting), in the database and in the file.
    let keys: BTreeSet<_> = judgements.iter().map(Judgement::key).collect();
    assert_eq!(keys.len(), judgements.len());
    assert_eq!(judgements.len(), queued.expected);
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

    // The same rewards and the same scorecard as the uninterrupted run.
    let rewards = |judgements: &[Judgement]| {
        judgements
            .iter()
            .map(|judgement| {
                (
                    judgement.key(),
                    judgement.rewards.map(|r| (r.response1, r.response2)),
                )
            })
            .collect::<Vec<_>>()
    };
    let mut interrupted = rewards(&judgements);
    let mut uninterrupted = rewards(&reference_judgements);
    interrupted.sort_by(|a, b| a.0.cmp(&b.0));
    uninterrupted.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(interrupted, uninterrupted);
    assert_eq!(card, reference_card);
}
