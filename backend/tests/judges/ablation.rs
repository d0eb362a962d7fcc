//! Ablation audits of `omnireward eval api` (`--ablate media`, `--ablate criterion`) against a
//! server on 127.0.0.1 that records every request: an ablation takes away only what it says,
//! its run has its own identity, and the run document pairs it with its base run.

use std::path::Path;
use std::process::Output;
use std::sync::Arc;

use axum::http::StatusCode;
use omnireward::data::{LoadOptions, embedded};
use omnireward::http::{AppState, app};
use omnireward::judges::ablation::base_identity;
use omnireward::storage::{Provenance, Storage};
use omnireward_shared::Task;
use serde_json::Value;

use crate::support::stub_servers::start_recording;
use crate::support::test_app::get;

/// `eval api` on the sample's TI2T task (a prompt image per sample) with `extra` arguments.
async fn eval(home: &Path, endpoint: &str, extra: &[&str]) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_omnireward"));
    command
        .arg("--home")
        .arg(home)
        .args(["eval", "api", "--endpoint", endpoint, "--model", "m"])
        .args([
            "--tasks",
            "text_image_to_text",
            "--api-key-env",
            "OMNIREWARD_TEST_KEY",
        ])
        .args(["--backoff-ms", "10", "--json"])
        .args(extra)
        .env("OMNIREWARD_TEST_KEY", "sk-test");
    let output = tokio::task::spawn_blocking(move || command.output().expect("the binary runs"))
        .await
        .expect("the command finishes");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Whether a request body carries any media part.
fn has_media(body: &Value) -> bool {
    body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|message| message["content"].as_array())
        .flatten()
        .any(|part| part["type"] != "text")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ablations_take_away_only_what_they_say_and_are_runs_of_their_own() {
    let home = tempfile::tempdir().expect("temp dir");
    let server = start_recording().await;
    let samples: Vec<_> = embedded::load(&home.path().join("cache"), &LoadOptions::default())
        .expect("the sample loads")
        .samples
        .into_iter()
        .filter(|sample| sample.task == Task::TextImageToText)
        .collect();
    let criteria: Vec<&str> = samples
        .iter()
        .map(|sample| sample.criterion.as_str())
        .collect();
    assert!(criteria.iter().all(|criterion| criterion.len() > 10));
    let mentions_a_criterion = |body: &Value| {
        criteria
            .iter()
            .any(|criterion| body.to_string().contains(criterion))
    };

    // The base run: every request has the image and its sample's criterion.
    eval(home.path(), &server.endpoint, &[]).await;
    let base = server.take();
    assert!(!base.is_empty());
    assert!(base.iter().all(has_media));
    assert!(base.iter().all(mentions_a_criterion));

    // Without media: no image part anywhere, the criterion still there.
    eval(home.path(), &server.endpoint, &["--ablate", "media"]).await;
    let without_media = server.take();
    assert_eq!(without_media.len(), base.len());
    assert!(without_media.iter().all(|body| !has_media(body)));
    assert!(
        without_media
            .iter()
            .all(|body| !body.to_string().contains("image_url"))
    );
    assert!(without_media.iter().all(mentions_a_criterion));

    // Without the criterion: no criterion text anywhere, the image still there.
    eval(home.path(), &server.endpoint, &["--ablate", "criterion"]).await;
    let without_criterion = server.take();
    assert_eq!(without_criterion.len(), base.len());
    assert!(without_criterion.iter().all(has_media));
    assert!(
        without_criterion
            .iter()
            .all(|body| !mentions_a_criterion(body))
    );

    // Three runs of one model, each with its own identity; an ablated run's identity without
    // its ablations is the base run's.
    let storage = Storage::open(&home.path().join("omnireward.sqlite"))
        .await
        .expect("opens the database");
    let runs: Vec<_> = storage
        .runs()
        .await
        .expect("reads runs")
        .into_iter()
        .filter(|run| run.provenance == Provenance::Evaluated)
        .collect();
    assert_eq!(runs.len(), 3, "{runs:?}");
    let identity = |index: usize| runs[index].configuration["identity"].clone();
    assert_ne!(identity(0), identity(1));
    assert_ne!(identity(1), identity(2));
    assert_ne!(identity(0), identity(2));
    assert_eq!(
        identity(1)["request"]["ablations"],
        serde_json::json!(["media"])
    );
    assert_eq!(base_identity(&identity(0)), None);
    assert_eq!(base_identity(&identity(1)), Some(identity(0)));
    assert_eq!(base_identity(&identity(2)), Some(identity(0)));

    // The run document pairs the ablated run with its base run, per task.
    let benchmark = Arc::new(
        embedded::load(&home.path().join("cache"), &LoadOptions::default()).expect("loads"),
    );
    let router = app(AppState::new(storage.clone(), benchmark));
    let reply = get(&router, &format!("/api/v1/runs/{}", runs[1].id.0)).await;
    assert_eq!(reply.status, StatusCode::OK);
    let audit = &reply.json()["ablation"];
    assert_eq!(audit["ablations"], serde_json::json!(["media"]));
    assert_eq!(audit["base_run"], runs[0].id.0);
    let task = &audit["comparison"]["settings"]["with_ties"]["tasks"]["text_image_to_text"];
    assert!(task.is_object(), "{audit}");
    // The judge always answers A, with or without the image: no difference.
    assert_eq!(audit["comparison"]["first"]["run"], runs[1].id.0);
    assert_eq!(audit["comparison"]["second"]["run"], runs[0].id.0);
    assert_eq!(task["items"], samples.len());
    assert_eq!(task["first_accuracy"], task["second_accuracy"]);
    assert_eq!(task["difference"], 0.0);
    assert_eq!(task["mcnemar_p"], 1.0);
    let base_document = get(&router, &format!("/api/v1/runs/{}", runs[0].id.0)).await;
    assert_eq!(base_document.json()["ablation"], Value::Null);

    // The model page shows both audits beside the base run.
    let page = get(&router, &format!("/models/{}", runs[0].model.0)).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(html.contains("Ablation audit: without the media"), "{html}");
    assert!(
        html.contains("Ablation audit: without the criterion"),
        "{html}"
    );
    assert!(
        html.contains(&format!("href=\"#run-{}\"", runs[0].id.0)),
        "{html}"
    );
}
