//! Predictions submissions (`POST /submissions` with `"kind": "predictions"`), in process:
//! refused item by item with the item named (unknown id, missing setting, duplicate, wrong
//! label), and a valid file (over the API's 1 MiB) becoming a leaderboard row whose provenance
//! is `submitted_predictions`, joined again by the same file.

use crate::support::test_app::{Reply, TestApp, get, send};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use omnireward_shared::{Label, Setting, Task};
use serde_json::{Value, json};

/// One JSON Lines record of `sample_id` of `task`.
fn line(task: Task, sample_id: &str, setting: Setting, verdict: &str, label: Label) -> Value {
    json!({
        "task": task.key(),
        "sample_id": sample_id,
        "setting": setting.key(),
        "order": "original",
        "verdict": verdict,
        "label": label.key(),
    })
}

/// A complete judgements file for two tasks of the served sample: every sample judged in each
/// setting it belongs to, right except on every third sample. `padding` bytes of raw output
/// per record make the file large.
fn valid_lines(test: &TestApp, padding: usize) -> Vec<Value> {
    let raw_output = "x".repeat(padding);
    let mut lines = Vec::new();
    for (index, sample) in test
        .benchmark
        .samples
        .iter()
        .filter(|sample| matches!(sample.task, Task::TextToText | Task::TextImageToText))
        .enumerate()
    {
        for setting in Setting::ALL {
            if !setting.includes(sample.label) {
                continue;
            }
            let verdict = match (index % 3, sample.label) {
                (0, Label::Response1) => "response2",
                (0, _) => "response1",
                (_, label) => label.key(),
            };
            let mut record = line(sample.task, &sample.id, setting, verdict, sample.label);
            if padding > 0 {
                record["raw_output"] = Value::String(raw_output.clone());
            }
            lines.push(record);
        }
    }
    lines
}

fn file_text(lines: &[Value]) -> String {
    lines.iter().map(|line| format!("{line}\n")).collect()
}

async fn submit(test: &TestApp, judgements: &str, name: &str) -> Reply {
    let body = json!({
        "kind": "predictions",
        "model": { "name": name, "parameters": "7B", "licence": "apache-2.0",
                   "open_weights": true, "link": "https://example.org/model" },
        "judgements": judgements,
    });
    send(
        &test.router,
        Request::post("/api/v1/submissions")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .expect("a request"),
    )
    .await
}

/// Asserts `reply` is a 422 whose message names every part of `expected`.
fn assert_refused(reply: &Reply, expected: &[&str]) {
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.text()
    );
    let (code, message) = reply.error();
    assert_eq!(code, "invalid_input");
    for part in expected {
        assert!(message.contains(part), "`{part}` in: {message}");
    }
}

#[tokio::test]
async fn a_valid_file_becomes_a_submitted_predictions_row_and_joins_its_run_again() {
    let test = TestApp::start(false, |state, _| state).await;
    // Over the API's 1 MiB: predictions have their own limit.
    let lines = valid_lines(&test, 40_000);
    let text = file_text(&lines);
    assert!(text.len() > 1024 * 1024, "{} bytes", text.len());

    let reply = submit(&test, &text, "Submitted Judge").await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    let accepted = reply.json();
    assert_eq!(accepted["status"], "finished");
    assert_eq!(accepted["judgements"], lines.len());
    let digest = accepted["file_sha256"]
        .as_str()
        .expect("a digest")
        .to_owned();
    assert_eq!(digest.len(), 64);
    let run = accepted["run"].as_i64().expect("a run");
    // Two thirds right on each task: the overall is well away from both 0 and 1.
    for setting in ["with_ties", "without_ties"] {
        let overall = accepted["overall"][setting].as_f64().expect("an overall");
        assert!((0.5..0.8).contains(&overall), "{setting}: {overall}");
    }

    let leaderboard = get(&test.router, "/api/v1/leaderboard?setting=with_ties").await;
    assert_eq!(leaderboard.status, StatusCode::OK);
    let body = leaderboard.json();
    let row = body["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|row| row["model"] == "Submitted Judge")
        .unwrap_or_else(|| panic!("a row for the submitted model: {body}"))
        .clone();
    assert_eq!(row["provenance"], "submitted_predictions");
    assert_eq!(row["run"], run);
    assert_eq!(row["verified"], true);
    assert_eq!(row["tasks_covered"], 2);
    assert_eq!(row["parameters"], "7B");
    assert_eq!(row["open_weights"], true);
    assert_eq!(row["kind"], "api_judge");

    let run_document = get(&test.router, &format!("/api/v1/runs/{run}"))
        .await
        .json();
    assert_eq!(run_document["provenance"], "submitted_predictions");

    // The same file again is the same run; a different file is another run.
    let again = submit(&test, &text, "Submitted Judge").await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text());
    assert_eq!(again.json()["run"], run);
    assert_eq!(again.json()["file_sha256"], digest.as_str());
    let smaller = file_text(&valid_lines(&test, 0));
    let other = submit(&test, &smaller, "Submitted Judge").await;
    assert_eq!(other.status, StatusCode::CREATED, "{}", other.text());
    assert_ne!(other.json()["run"], run);
}

#[tokio::test]
async fn an_unknown_sample_id_is_refused_with_the_item_named() {
    let test = TestApp::start(false, |state, _| state).await;
    let mut lines = valid_lines(&test, 0);
    lines.push(line(
        Task::TextToText,
        "no-such-sample",
        Setting::WithTies,
        "response1",
        Label::Response1,
    ));
    let reply = submit(&test, &file_text(&lines), "Judge").await;
    assert_refused(&reply, &["text_to_text", "`no-such-sample`", "with_ties"]);
}

#[tokio::test]
async fn a_missing_setting_is_refused_with_the_item_named() {
    let test = TestApp::start(false, |state, _| state).await;
    let mut lines = valid_lines(&test, 0);
    let position = lines
        .iter()
        .position(|line| line["setting"] == "without_ties")
        .expect("a without_ties record");
    let removed = lines.remove(position);
    let sample_id = removed["sample_id"].as_str().expect("an id").to_owned();
    let task = removed["task"].as_str().expect("a task").to_owned();
    let reply = submit(&test, &file_text(&lines), "Judge").await;
    assert_refused(
        &reply,
        &[
            &task,
            &format!("`{sample_id}`"),
            "without_ties",
            "1 missing",
        ],
    );
    assert!(
        get(&test.router, "/api/v1/leaderboard").await.json()["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .all(|row| row["provenance"] != "submitted_predictions"),
        "nothing stored"
    );
}

#[tokio::test]
async fn a_duplicate_is_refused_with_the_item_named() {
    let test = TestApp::start(false, |state, _| state).await;
    let mut lines = valid_lines(&test, 0);
    let repeated = lines[3].clone();
    lines.push(repeated.clone());
    let reply = submit(&test, &file_text(&lines), "Judge").await;
    let sample_id = format!("`{}`", repeated["sample_id"].as_str().expect("an id"));
    let setting = repeated["setting"].as_str().expect("a setting");
    let task = repeated["task"].as_str().expect("a task");
    assert_refused(
        &reply,
        &["duplicate", task, &sample_id, setting, "first on line 4"],
    );
}

#[tokio::test]
async fn a_wrong_label_and_a_bad_model_card_are_refused() {
    let test = TestApp::start(false, |state, _| state).await;
    let mut lines = valid_lines(&test, 0);
    let label = if lines[0]["label"] == "response1" {
        "response2"
    } else {
        "response1"
    };
    lines[0]["label"] = json!(label);
    let sample_id = format!("`{}`", lines[0]["sample_id"].as_str().expect("an id"));
    let reply = submit(&test, &file_text(&lines), "Judge").await;
    assert_refused(&reply, &[&sample_id, "the benchmark says"]);

    let valid = file_text(&valid_lines(&test, 0));
    let reply = submit(&test, &valid, "  ").await;
    assert_refused(&reply, &["`name`"]);
    let body = json!({ "kind": "predictions", "model": { "name": "x", "colour": "red" },
                       "judgements": valid });
    let reply = send(
        &test.router,
        Request::post("/api/v1/submissions")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .expect("a request"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text());
    assert!(reply.error().1.contains("colour"), "{}", reply.text());
}

#[tokio::test]
async fn other_json_submissions_keep_the_one_mebibyte_limit() {
    let test = TestApp::start(false, |state, _| state).await;
    let body = json!({
        "kind": "api_judge",
        "endpoint": "https://api.example.com/v1",
        "model": "x".repeat(1024 * 1024 + 10),
    });
    let reply = send(
        &test.router,
        Request::post("/api/v1/submissions")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .expect("a request"),
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        reply.text()
    );
    assert_eq!(reply.error_code(), "payload_too_large");
}
