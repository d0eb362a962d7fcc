//! End-to-end tests of `omnireward eval api` against a scripted OpenAI-compatible server on
//! 127.0.0.1 (tests/support/openai_server.rs): the protocol of every request, scripted
//! failures, resume after a kill, and the spend cap.

use crate::support;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use omnireward::data::{LoadOptions, embedded};
use omnireward_shared::{Label, Sample, Setting, Task};
use serde_json::Value;
use support::identities;
use support::openai_server::{self, Answer, Failure, Shared};

const MODEL: &str = "judge-under-test";
const SECRET: &str = "sk-test-secret-do-not-leak-4821";

fn samples(home: &Path) -> Vec<Sample> {
    embedded::load(&home.join("cache"), &LoadOptions::default())
        .expect("embedded sample loads")
        .samples
}

/// Tasks judged by an always-A judge (to exercise position bias); the rest by an oracle.
fn always_a(task: Task) -> bool {
    matches!(task, Task::TextToVideo | Task::TextToAudio | Task::TextTo3d)
}

/// A script whose server recognises every (sample, setting, order) request, with always-A
/// answers for the tasks of [`always_a`] and oracle answers elsewhere.
fn script(home: &Path, samples: Vec<Sample>) -> Shared {
    let mut script = identities::script_for(home, MODEL, &samples);
    for task in Task::ALL {
        if always_a(task) {
            script.answers.insert(task, Answer::AlwaysA);
        }
    }
    Arc::new(Mutex::new(script))
}

fn command(home: &Path, endpoint: &str, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_omnireward"));
    command
        .arg("--home")
        .arg(home)
        .args(["eval", "api", "--endpoint", endpoint, "--model", MODEL])
        .args([
            "--api-key-env",
            "OMNIREWARD_TEST_KEY",
            "--backoff-ms",
            "10",
            "--json",
        ])
        .args(extra)
        .env("OMNIREWARD_TEST_KEY", SECRET);
    command
}

async fn run(home: &Path, endpoint: &str, extra: &[&str]) -> Output {
    let mut command = command(home, endpoint, extra);
    tokio::task::spawn_blocking(move || command.output().expect("binary runs"))
        .await
        .expect("join")
}

fn stdout_json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "stdout is not JSON ({error}); stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn accuracy(scorecard: &Value, setting: &str, task: Task) -> f64 {
    scorecard["settings"][setting]["tasks"][task.key()]["accuracy"]
        .as_f64()
        .unwrap_or_else(|| panic!("no accuracy for {setting} {task}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_run_with_swap_and_failures_gives_the_expected_scorecard() {
    let home = tempfile::tempdir().expect("temp dir");
    let samples = samples(home.path());
    let script = script(home.path(), samples.clone());
    let t2t: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.task == Task::TextToText)
        .collect();
    let never_parses = t2t
        .iter()
        .find(|s| s.label == Label::Response1)
        .expect("a T2T sample");
    {
        let mut script = script.lock().expect("lock");
        let mut plan = vec![
            (Failure::RateLimited, 2),
            (Failure::ServerError, 1),
            (Failure::MalformedJson, 1),
            (Failure::Unparseable, 2),
            (Failure::Stall(Duration::from_secs(3)), 1),
        ]
        .into_iter();
        for sample in samples
            .iter()
            .filter(|s| s.task == Task::TextImageToText)
            .take(5)
        {
            let (failure, times) = plan.next().expect("five failures");
            script.failures.insert(sample.id.clone(), (failure, times));
        }
        script
            .failures
            .insert(never_parses.id.clone(), (Failure::Unparseable, 1000));
    }
    let endpoint = openai_server::start(Arc::clone(&script)).await;
    let output = run(
        home.path(),
        &endpoint,
        &["--swap", "--timeout", "1", "--concurrency", "8"],
    )
    .await;
    let report = stdout_json(&output);
    let (violations, requests_seen) = {
        let script = script.lock().expect("lock");
        (script.violations.clone(), script.seen.len())
    };
    assert!(
        output.status.success(),
        "failures: {:#}\nviolations: {violations:#?}",
        report["summary"]["failures"],
    );
    assert_eq!(report["status"], "finished");
    assert!(
        violations.is_empty(),
        "protocol violations: {violations:#?}"
    );

    let summary = &report["summary"];
    let planned: usize = samples
        .iter()
        .map(|s| if s.label == Label::Tie { 2 } else { 4 })
        .sum();
    assert_eq!(summary["items"].as_u64(), Some(planned as u64));
    assert_eq!(summary["completed"].as_u64(), Some(planned as u64));
    assert_eq!(summary["failures"].as_array().map(Vec::len), Some(0));

    let scorecard = &report["scorecard"];
    for task in Task::ALL {
        let of_task: Vec<&Sample> = samples.iter().filter(|s| s.task == task).collect();
        let count = |label: Label| of_task.iter().filter(|s| s.label == label).count() as f64;
        let (first, second, ties) = (
            count(Label::Response1),
            count(Label::Response2),
            count(Label::Tie),
        );
        let (with_ties, without_ties) = if !always_a(task) {
            // Oracle judge; the one never-parsing T2T sample is wrong in both settings.
            if task == Task::TextToText {
                let total = first + second + ties;
                (
                    (total - 1.0) / total,
                    (first + second - 1.0) / (first + second),
                )
            } else {
                (1.0, 1.0)
            }
        } else {
            (first / (first + second + ties), first / (first + second))
        };
        assert!(
            (accuracy(scorecard, "with_ties", task) - with_ties).abs() < 1e-12,
            "{task} w/ ties"
        );
        assert!(
            (accuracy(scorecard, "without_ties", task) - without_ties).abs() < 1e-12,
            "{task} w/o ties"
        );
        let reliability = &scorecard["settings"]["with_ties"]["tasks"][task.key()]["reliability"];
        if !always_a(task) && task != Task::TextToText {
            assert_eq!(
                reliability["swap_consistency"].as_f64(),
                Some(1.0),
                "{task}"
            );
        } else if always_a(task) {
            // Always A: every swapped verdict flips, and every verdict picks the first shown.
            assert_eq!(
                reliability["swap_consistency"].as_f64(),
                Some(0.0),
                "{task}"
            );
            assert_eq!(reliability["position_bias"].as_f64(), Some(1.0), "{task}");
        }
    }
    let t2t_score = &scorecard["settings"]["with_ties"]["tasks"]["text_to_text"];
    assert_eq!(t2t_score["unparseable"].as_u64(), Some(1));

    // Usage: 100 prompt + 10 completion tokens per answer, summed over re-queries.
    let judgements = omnireward::judgements_file::read(Path::new(
        report["judgements_file"].as_str().expect("file path"),
    ))
    .expect("judgements file reads");
    assert_eq!(judgements.len(), planned);
    for judgement in &judgements {
        let attempts = u64::from(judgement.attempts.expect("attempts"));
        assert_eq!(judgement.input_tokens, Some(100 * attempts));
        assert_eq!(judgement.output_tokens, Some(10 * attempts));
    }
    let stubborn = judgements
        .iter()
        .find(|j| j.sample_id == never_parses.id && j.setting == Setting::WithTies)
        .expect("judged");
    assert_eq!((stubborn.attempts, stubborn.verdict), (Some(5), None));
    let total_input: u64 = judgements.iter().filter_map(|j| j.input_tokens).sum();
    assert_eq!(summary["input_tokens"].as_u64(), Some(total_input));
    // Every answered request counted, retried failures included.
    assert!(requests_seen > planned);

    // The key never reaches output, files or the database.
    let leaked = |bytes: &[u8]| {
        bytes
            .windows(SECRET.len())
            .any(|window| window == SECRET.as_bytes())
    };
    assert!(!leaked(&output.stdout) && !leaked(&output.stderr));
    for entry in walk(home.path()) {
        let bytes = std::fs::read(&entry).expect("read");
        assert!(!leaked(&bytes), "key found in {}", entry.display());
    }

    // Re-running the finished command asks nothing and gives the same scorecard.
    let again = run(
        home.path(),
        &endpoint,
        &["--swap", "--timeout", "1", "--concurrency", "8"],
    )
    .await;
    let again_report = stdout_json(&again);
    assert_eq!(again_report["summary"]["completed"].as_u64(), Some(0));
    assert_eq!(
        again_report["summary"]["already_done"].as_u64(),
        Some(planned as u64)
    );
    assert_eq!(again_report["scorecard"], report["scorecard"]);
}

fn walk(root: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

fn line_count(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |text| text.matches('\n').count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_process_midway_loses_and_duplicates_nothing() {
    let home = tempfile::tempdir().expect("temp dir");
    let samples = samples(home.path());
    let script = script(home.path(), samples.clone());
    script.lock().expect("lock").latency = Duration::from_millis(25);
    let endpoint = openai_server::start(Arc::clone(&script)).await;
    let file = home.path().join("judgements.jsonl");
    let file_argument = file.to_str().expect("utf-8").to_owned();
    let arguments = ["--concurrency", "4", "--out", file_argument.as_str()];
    let planned: usize = samples
        .iter()
        .map(|s| if s.label == Label::Tie { 1 } else { 2 })
        .sum();

    // Kill the process three times at different points, then let it finish.
    for kill_after in [15, 60, 120] {
        let mut child = command(home.path(), &endpoint, &arguments)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let deadline = Instant::now() + Duration::from_secs(120);
        while line_count(&file) < kill_after && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        child.kill().expect("kill");
        let _ = child.wait();
        script.lock().expect("lock").session += 1;
    }
    let runtime_storage =
        omnireward::storage::Storage::open(&home.path().join("omnireward.sqlite"))
            .await
            .expect("database opens");
    let evaluated = runtime_storage
        .runs()
        .await
        .expect("runs")
        .into_iter()
        .find(|run| run.provenance == omnireward::storage::Provenance::Evaluated)
        .expect("the run");
    let saved_before: HashSet<(String, Setting)> = runtime_storage
        .judgements(evaluated.id)
        .await
        .expect("judgements")
        .into_iter()
        .map(|j| (j.sample_id, j.setting))
        .collect();
    runtime_storage.close().await;
    assert!(
        saved_before.len() >= 120 && saved_before.len() < planned,
        "{}",
        saved_before.len()
    );

    let final_session = script.lock().expect("lock").session;
    let output = run(home.path(), &endpoint, &arguments).await;
    let report = stdout_json(&output);
    assert_eq!(
        report["status"],
        "finished",
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );

    // Exactly one judgement per item, in the file and in the database.
    let judgements =
        omnireward::judgements_file::read(&file).expect("no duplicate, no broken line");
    assert_eq!(judgements.len(), planned);
    let keys: HashSet<_> = judgements.iter().map(|j| j.key()).collect();
    assert_eq!(keys.len(), planned);
    // Nothing saved before the last session was asked again.
    let (seen, violations) = {
        let script = script.lock().expect("lock");
        (script.seen.clone(), script.violations.clone())
    };
    let asked_again: Vec<_> = seen
        .iter()
        .filter(|seen| seen.session == final_session)
        .filter(|seen| {
            let setting = if seen.with_ties {
                Setting::WithTies
            } else {
                Setting::WithoutTies
            };
            saved_before.contains(&(seen.sample_id.clone(), setting))
        })
        .collect();
    assert!(
        asked_again.is_empty(),
        "re-asked finished items: {asked_again:?}"
    );
    assert!(violations.is_empty(), "{violations:?}");

    // Same scorecard as an uninterrupted run.
    let clean_home = tempfile::tempdir().expect("temp dir");
    let clean = stdout_json(&run(clean_home.path(), &endpoint, &["--concurrency", "8"]).await);
    assert_eq!(
        clean["scorecard"]["settings"],
        report["scorecard"]["settings"]
    );
    let per_task: BTreeMap<String, Value> = report["scorecard"]["settings"]["with_ties"]["tasks"]
        .as_object()
        .expect("tasks")
        .iter()
        .map(|(task, score)| (task.clone(), score["total"].clone()))
        .collect();
    assert_eq!(per_task.len(), 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spend_cap_stops_the_run_and_a_higher_cap_finishes_it() {
    let home = tempfile::tempdir().expect("temp dir");
    let samples = samples(home.path());
    let script = script(home.path(), samples.clone());
    let endpoint = openai_server::start(Arc::clone(&script)).await;
    // 100 prompt tokens at 1,000 per million = 0.1 per request; cap 1.0 → about 10 requests.
    let capped = [
        "--tasks",
        "T2T,T2I",
        "--concurrency",
        "2",
        "--price-in",
        "1000",
        "--price-out",
        "0",
        "--max-cost",
        "1",
    ];
    let output = run(home.path(), &endpoint, &capped).await;
    assert_eq!(
        output.status.code(),
        Some(3),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = stdout_json(&output);
    assert_eq!(report["status"], "cancelled");
    assert_eq!(report["summary"]["stopped"], "spend_cap");
    let completed = report["summary"]["completed"].as_u64().expect("completed");
    assert!(
        (10..=12).contains(&completed),
        "{completed} judged under the cap"
    );
    let cost = report["summary"]["cost"].as_f64().expect("cost");
    assert!((cost - completed as f64 * 0.1).abs() < 1e-9, "cost {cost}");

    let raised = [
        "--tasks",
        "T2T,T2I",
        "--concurrency",
        "2",
        "--price-in",
        "1000",
        "--price-out",
        "0",
        "--max-cost",
        "1000",
    ];
    let output = run(home.path(), &endpoint, &raised).await;
    let report = stdout_json(&output);
    assert_eq!(report["status"], "finished");
    let planned: u64 = samples
        .iter()
        .filter(|s| matches!(s.task, Task::TextToText | Task::TextToImage))
        .map(|s| if s.label == Label::Tie { 1 } else { 2 })
        .sum();
    assert_eq!(report["summary"]["already_done"].as_u64(), Some(completed));
    assert_eq!(
        report["summary"]["completed"].as_u64(),
        Some(planned - completed)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupt_stops_cleanly_and_the_same_command_finishes_the_run() {
    let home = tempfile::tempdir().expect("temp dir");
    let samples = samples(home.path());
    let script = script(home.path(), samples.clone());
    script.lock().expect("lock").latency = Duration::from_millis(40);
    let endpoint = openai_server::start(Arc::clone(&script)).await;
    let file = home.path().join("judgements.jsonl");
    let file_argument = file.to_str().expect("utf-8").to_owned();
    let arguments = ["--concurrency", "4", "--out", file_argument.as_str()];
    let child = command(home.path(), &endpoint, &arguments)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(120);
    while line_count(&file) < 30 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // SIGINT, as Ctrl-C sends it.
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let output = tokio::task::spawn_blocking(move || child.wait_with_output().expect("waits"))
        .await
        .expect("join");
    assert_eq!(
        output.status.code(),
        Some(3),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = stdout_json(&output);
    assert_eq!(report["status"], "cancelled");
    assert_eq!(report["summary"]["stopped"], "interrupted");
    // Requests in flight were finished and saved: the file holds whole lines only.
    let saved = omnireward::judgements_file::read(&file).expect("whole lines");
    assert_eq!(
        saved.len() as u64,
        report["summary"]["completed"].as_u64().expect("completed")
    );

    let output = run(home.path(), &endpoint, &arguments).await;
    let report = stdout_json(&output);
    assert_eq!(report["status"], "finished");
    let planned = samples
        .iter()
        .map(|s| if s.label == Label::Tie { 1 } else { 2 })
        .sum::<usize>();
    assert_eq!(
        omnireward::judgements_file::read(&file)
            .expect("reads")
            .len(),
        planned
    );
}
