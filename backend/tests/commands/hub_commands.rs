//! `omnireward data download` and `--data hf:…` against the fake Hub: the release downloaded,
//! its media extracted and its commit recorded, then inspected like any folder.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::support::fake_hub::{FakeHub, sample_benchmark_repo};

fn omnireward(home: &Path, hub: &FakeHub, arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_omnireward"))
        .arg("--home")
        .arg(home)
        .args(arguments)
        .env("HF_ENDPOINT", &hub.base)
        .env("HF_HOME", home.join("huggingface"))
        .env_remove("HF_TOKEN")
        .output()
        .expect("the binary runs")
}

fn json_of(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "command failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("stdout is JSON")
}

fn assert_complete_sample(report: &Value) {
    let tasks = report["tasks"].as_object().expect("tasks");
    assert_eq!(tasks.len(), 9, "{report}");
    for (task, counts) in tasks {
        assert_eq!(counts["problems"].as_u64(), Some(0), "{task}");
        assert_eq!(counts["media_missing"].as_u64(), Some(0), "{task}");
    }
    assert!(tasks["text_to_video"]["media_present"].as_u64() > Some(0));
}

#[test]
fn data_download_then_inspect_works_against_the_hub() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let hub = runtime.block_on(FakeHub::start(
        vec![sample_benchmark_repo("org/bench")],
        None,
    ));
    let home = tempfile::tempdir().expect("home");
    let folder = home.path().join("bench");
    let folder_text = folder.to_str().expect("UTF-8");
    let downloaded = json_of(&omnireward(
        home.path(),
        &hub,
        &[
            "data",
            "download",
            "org/bench",
            "--to",
            folder_text,
            "--json",
        ],
    ));
    let commit = downloaded["commit"].as_str().expect("commit").to_owned();
    assert_eq!(commit.len(), 40);
    assert_eq!(
        downloaded["extracted"],
        serde_json::json!(["media_data.zip"])
    );
    assert!(folder.join("media_data").is_dir());
    assert!(
        !folder.join("media_data.zip").exists(),
        "the archive is deleted once extracted"
    );
    let record: Value = serde_json::from_str(
        &std::fs::read_to_string(folder.join(".omnireward-hub.json")).expect("the record"),
    )
    .expect("JSON");
    assert_eq!(record["commit"], commit.as_str());
    assert_eq!(record["repository"], "org/bench");

    let report = json_of(&omnireward(
        home.path(),
        &hub,
        &["data", "inspect", folder_text, "--json"],
    ));
    assert_complete_sample(&report);

    // Again: the folder holds that commit already, so nothing is downloaded.
    let before = hub.downloads().len();
    json_of(&omnireward(
        home.path(),
        &hub,
        &[
            "data",
            "download",
            "org/bench",
            "--to",
            folder_text,
            "--json",
        ],
    ));
    assert_eq!(hub.downloads().len(), before);

    // A new commit that changes the card only: the card is fetched, the archive is not.
    let mut updated = sample_benchmark_repo("org/bench");
    updated.commit = "c".repeat(40);
    updated
        .files
        .insert("README.md".to_owned(), b"# a new card".to_vec());
    hub.replace(updated);
    let download = [
        "data",
        "download",
        "org/bench",
        "--to",
        folder_text,
        "--json",
    ];
    let newer = json_of(&omnireward(home.path(), &hub, &download));
    assert_eq!(newer["commit"], "c".repeat(40));
    assert_eq!(newer["extracted"], serde_json::json!(["media_data.zip"]));
    let fetched: Vec<String> = hub.downloads()[before..]
        .iter()
        .map(|seen| seen.path.clone())
        .collect();
    assert_eq!(fetched.len(), 1, "{fetched:?}");
    assert!(fetched[0].ends_with("/README.md"), "{fetched:?}");
    let inspect = ["data", "inspect", folder_text, "--json"];
    assert_complete_sample(&json_of(&omnireward(home.path(), &hub, &inspect)));
}

#[test]
fn data_named_by_repository_is_downloaded_on_first_use_only() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let hub = runtime.block_on(FakeHub::start(
        vec![sample_benchmark_repo("org/bench")],
        None,
    ));
    let home = tempfile::tempdir().expect("home");
    let report = json_of(&omnireward(
        home.path(),
        &hub,
        &["data", "inspect", "hf:org/bench", "--json"],
    ));
    assert_complete_sample(&report);
    let requests = hub.seen().len();
    assert!(requests > 0);
    let again = json_of(&omnireward(
        home.path(),
        &hub,
        &["data", "inspect", "hf:org/bench", "--json"],
    ));
    assert_eq!(again["tasks"], report["tasks"]);
    assert_eq!(
        hub.seen().len(),
        requests,
        "the second use asks the Hub nothing"
    );

    let missing = omnireward(home.path(), &hub, &["data", "inspect", "hf:org/missing"]);
    assert!(!missing.status.success());
    let message = String::from_utf8_lossy(&missing.stderr);
    assert!(message.contains("org/missing"), "{message}");
}

#[test]
fn eval_checkpoint_takes_a_hub_repository_and_resumes_the_same_run() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let bert_tiny = crate::support::fake_hub::FakeRepo::new("models", "org/bert-tiny").with_folder(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("local-judge/tests/fixtures/bert-tiny"),
        "",
    );
    let commit = bert_tiny.commit.clone();
    let hub = runtime.block_on(FakeHub::start(vec![bert_tiny], None));
    let home = tempfile::tempdir().expect("home");
    let arguments = [
        "eval",
        "checkpoint",
        "hf:org/bert-tiny",
        "--tasks",
        "T2T",
        "--json",
    ];
    let report = json_of(&omnireward(home.path(), &hub, &arguments));
    assert_eq!(report["status"], "finished", "{report}");
    assert!(
        home.path()
            .join("cache/hub/models/org--bert-tiny")
            .join(&commit)
            .join("model.safetensors")
            .is_file()
    );
    let downloads = hub.downloads().len();
    // The same commit again: the same run; only config.json is read again, for the check.
    let again = json_of(&omnireward(home.path(), &hub, &arguments));
    assert_eq!(again["run"], report["run"]);
    assert_eq!(again["summary"]["scored"], 0, "{again}");
    let fetched_again: Vec<String> = hub.downloads()[downloads..]
        .iter()
        .map(|seen| seen.path.clone())
        .collect();
    assert!(
        fetched_again
            .iter()
            .all(|path| path.ends_with("/config.json")),
        "{fetched_again:?}"
    );
}
