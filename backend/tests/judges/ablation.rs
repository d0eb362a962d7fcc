//! Ablation audits of `omnireward eval api` (`--ablate media`, `--ablate criterion`) against a
//! server on 127.0.0.1 that records every request: an ablation takes away only what it says,
//! its run has its own identity, and the run document pairs it with its base run; and of
//! `eval checkpoint --ablate criterion` on a tiny random-weight checkpoint.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
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

/// `eval checkpoint` on the sample's text-to-text task with `extra` arguments.
fn eval_checkpoint(home: &Path, extra: &[&str]) -> Output {
    let model =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("local-judge/tests/fixtures/bert-tiny");
    std::process::Command::new(env!("CARGO_BIN_EXE_omnireward"))
        .arg("--home")
        .arg(home)
        .args(["eval", "checkpoint"])
        .arg(model)
        .args(["--tasks", "text_to_text", "--json"])
        .args(extra)
        .output()
        .expect("the binary runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_without_the_criterion_scores_other_inputs_in_a_run_of_its_own() {
    let home = tempfile::tempdir().expect("temp dir");
    for extra in [&[][..], &["--ablate", "criterion"][..]] {
        let output = eval_checkpoint(home.path(), extra);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    // Media do not apply to local checkpoints: refused, with the reason.
    let refused = eval_checkpoint(home.path(), &["--ablate", "media"]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("only --ablate criterion applies"),
        "{stderr}"
    );

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
    assert_eq!(runs.len(), 2, "{runs:?}");
    let base = runs[0].configuration["identity"].clone();
    let ablated = runs[1].configuration["identity"].clone();
    assert_ne!(base, ablated);
    assert_eq!(ablated["ablations"], serde_json::json!(["criterion"]));
    assert_eq!(base_identity(&ablated), Some(base));

    // The same samples, other inputs: the rewards change (random weights read every token).
    let rewards = |judgements: Vec<omnireward_shared::Judgement>| -> BTreeMap<String, [f64; 2]> {
        judgements
            .into_iter()
            .filter_map(|judgement| {
                let rewards = judgement.rewards?;
                Some((judgement.sample_id, [rewards.response1, rewards.response2]))
            })
            .collect()
    };
    let with = rewards(storage.judgements(runs[0].id).await.expect("judgements"));
    let without = rewards(storage.judgements(runs[1].id).await.expect("judgements"));
    assert_eq!(
        with.keys().collect::<Vec<_>>(),
        without.keys().collect::<Vec<_>>()
    );
    assert!(with.values().zip(without.values()).all(|(a, b)| a != b));
}
