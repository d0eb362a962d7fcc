//! `omnireward submit-predictions FILE --server URL` against a real server on 127.0.0.1 (the
//! application over a fresh home serving the embedded sample): a valid file becomes a
//! `submitted_predictions` run, a file with an unknown sample is refused with the item named.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use omnireward::data::{LoadOptions, embedded};
use omnireward::http::{AppState, app};
use omnireward::storage::{Provenance, RunStatus, Storage};
use omnireward_shared::{Setting, Task};
use serde_json::{Value, json};

/// A server over a fresh database in `home`, serving the embedded sample; its address.
async fn start_server(home: &Path) -> (SocketAddr, Storage, Arc<omnireward::data::Benchmark>) {
    let storage = Storage::open(&home.join("server.sqlite"))
        .await
        .expect("opens the database");
    let benchmark = Arc::new(
        embedded::load(&home.join("cache"), &LoadOptions::default()).expect("the sample loads"),
    );
    let router = app(AppState::new(storage.clone(), Arc::clone(&benchmark)));
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("binds");
    let address = listener.local_addr().expect("an address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (address, storage, benchmark)
}

/// Every text-to-text sample judged right in each setting it belongs to.
fn judgements_file(benchmark: &omnireward::data::Benchmark) -> String {
    let mut text = String::new();
    for sample in benchmark
        .samples
        .iter()
        .filter(|sample| sample.task == Task::TextToText)
    {
        for setting in Setting::ALL {
            if setting.includes(sample.label) {
                let record = json!({
                    "task": sample.task.key(), "sample_id": sample.id, "setting": setting.key(),
                    "verdict": sample.label.key(), "label": sample.label.key(),
                });
                text.push_str(&format!("{record}\n"));
            }
        }
    }
    text
}

async fn submit(home: &Path, arguments: Vec<String>) -> Output {
    let home = home.to_path_buf();
    // The binary is a blocking child process; the server keeps running on the runtime.
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_omnireward"))
            .arg("--home")
            .arg(home.join("client"))
            .arg("submit-predictions")
            .args(arguments)
            .output()
            .expect("the binary runs")
    })
    .await
    .expect("the command finishes")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_predictions_sends_a_file_that_becomes_a_submitted_predictions_run() {
    let home = tempfile::tempdir().expect("temp dir");
    let (address, storage, benchmark) = start_server(home.path()).await;
    let server = format!("http://{address}");
    let file = home.path().join("my-judge.jsonl");
    std::fs::write(&file, judgements_file(&benchmark)).expect("writes the file");

    let output = submit(
        home.path(),
        vec![
            file.to_string_lossy().into_owned(),
            "--server".to_owned(),
            server.clone(),
            "--parameters".to_owned(),
            "7B".to_owned(),
            "--json".to_owned(),
        ],
    )
    .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let accepted: Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    assert_eq!(accepted["status"], "finished");
    assert_eq!(accepted["overall"]["with_ties"], 1.0);
    let run = accepted["run"].as_i64().expect("a run");
    let stored = storage
        .runs()
        .await
        .expect("reads runs")
        .into_iter()
        .find(|record| record.id.0 == run)
        .expect("the run is stored");
    assert_eq!(stored.provenance, Provenance::SubmittedPredictions);
    assert_eq!(stored.status, RunStatus::Finished);
    // The name defaults to the file's stem.
    assert_eq!(stored.model_name, "my-judge");

    // The table form says what was checked; the same file joins the same run.
    let output = submit(
        home.path(),
        vec![
            file.to_string_lossy().into_owned(),
            "--server".to_owned(),
            server.clone(),
        ],
    )
    .await;
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.contains(&format!("run {run} ")), "{text}");
    assert!(text.contains("w/ Ties"), "{text}");

    // An unknown sample is refused, with the item named on stderr.
    let bad = home.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"task\":\"text_to_text\",\"sample_id\":\"ghost\",\"setting\":\"with_ties\",\
         \"verdict\":\"tie\",\"label\":\"tie\"}\n",
    )
    .expect("writes the file");
    let output = submit(
        home.path(),
        vec![
            bad.to_string_lossy().into_owned(),
            "--server".to_owned(),
            server,
        ],
    )
    .await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    for part in ["422", "text_to_text", "`ghost`", "with_ties"] {
        assert!(stderr.contains(part), "`{part}` in: {stderr}");
    }
}

/// The authors' result files of a model that judged every text-to-text sample right: a folder
/// `text_to_text/<model>_preferences.json` (w/o Ties) and `…_preferences_with_tie.json`.
fn authors_results(benchmark: &omnireward::data::Benchmark, folder: &Path, model: &str) {
    let task_folder = folder.join(Task::TextToText.key());
    std::fs::create_dir_all(&task_folder).expect("creates the folder");
    for (setting, suffix) in [
        (Setting::WithoutTies, "_preferences.json"),
        (Setting::WithTies, "_preferences_with_tie.json"),
    ] {
        let rows: Vec<Value> = benchmark
            .samples
            .iter()
            .filter(|sample| sample.task == Task::TextToText && setting.includes(sample.label))
            .map(|sample| {
                json!({
                    "id": sample.id, "criteria_preference": sample.label.key(),
                    "predicted": sample.label.key(), format!("{model}_raw_response"): "[[A]]",
                })
            })
            .collect();
        std::fs::write(
            task_folder.join(format!("{model}{suffix}")),
            Value::Array(rows).to_string(),
        )
        .expect("writes the results");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authors_result_files_are_submitted_as_predictions() {
    let home = tempfile::tempdir().expect("temp dir");
    let (address, storage, benchmark) = start_server(home.path()).await;
    let results = home.path().join("results");
    authors_results(&benchmark, &results, "authors-judge");

    let output = submit(
        home.path(),
        vec![
            results.to_string_lossy().into_owned(),
            "--server".to_owned(),
            format!("http://{address}"),
            "--json".to_owned(),
        ],
    )
    .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let accepted: Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    assert_eq!(accepted["overall"]["with_ties"], 1.0);
    let run = accepted["run"].as_i64().expect("a run");
    let stored = storage
        .runs()
        .await
        .expect("reads runs")
        .into_iter()
        .find(|record| record.id.0 == run)
        .expect("the run is stored");
    assert_eq!(stored.provenance, Provenance::SubmittedPredictions);
    // The name defaults to the model of the result files.
    assert_eq!(stored.model_name, "authors-judge");

    // A folder with two models' results needs --model, and names them.
    authors_results(&benchmark, &results, "other-judge");
    let output = submit(
        home.path(),
        vec![
            results.to_string_lossy().into_owned(),
            "--server".to_owned(),
            format!("http://{address}"),
        ],
    )
    .await;
    assert!(!output.status.success());
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(
        error.contains("--model") && error.contains("other-judge"),
        "{error}"
    );
}
