//! Local checkpoints end to end: `eval checkpoint` on the embedded sample (runs, coverage,
//! resume, judgements with rewards), `score`, and the `POST /score` demo on the in-process
//! router. The checkpoints are the tiny random-weight parity fixtures of the local-judge crate.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use omnireward::data::{LoadOptions, embedded};
use omnireward::http::score::ScoringService;
use omnireward::http::{AppState, app};
use omnireward::judges::local::{InferenceThread, LocalJudgeOptions};
use omnireward::storage::Storage;
use serde_json::{Value, json};
use tempfile::TempDir;
use tower::ServiceExt as _;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("local-judge/tests/fixtures")
        .join(name)
}

fn omnireward(home: &TempDir, arguments: &[&str]) -> (i32, Value, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_omnireward"))
        .arg("--home")
        .arg(home.path())
        .args(arguments)
        .output()
        .expect("runs omnireward");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let json = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (output.status.code().unwrap_or(-1), json, stderr)
}

#[test]
fn a_decoder_checkpoint_is_evaluated_on_the_text_tasks_and_resumes() {
    let home = TempDir::new().expect("home");
    let model = fixture("qwen2_seqcls");
    let model = model.to_str().expect("utf-8 path");
    let (code, report, stderr) = omnireward(
        &home,
        &[
            "eval",
            "checkpoint",
            model,
            "--json",
            "--batch-tokens",
            "512",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report["status"], "finished");
    assert_eq!(
        report["judge"]["architecture"],
        "Qwen2ForSequenceClassification"
    );
    assert_eq!(report["judge"]["device"], "cpu");
    let summary = &report["summary"];
    assert!(summary["covered_samples"].as_u64().expect("count") > 0);
    assert_eq!(summary["scored"], summary["covered_samples"]);
    // Image, video, audio and 3D responses are not guessed.
    for task in ["t2i", "t2v", "t2a", "t23d", "ti2i"] {
        let key = omnireward_shared::Task::ALL
            .into_iter()
            .find(|candidate| candidate.short_name().eq_ignore_ascii_case(task))
            .map(|task| task.key())
            .expect("task");
        assert!(
            summary["not_covered"].get(key).is_some(),
            "{task} should be reported as not covered: {summary}"
        );
    }
    assert_eq!(
        summary["text_only_prompt"].as_array().map(Vec::len),
        Some(3)
    );
    let with_ties = &report["scorecard"]["settings"]["with_ties"];
    assert_eq!(with_ties["overall"]["tasks_covered"], 4, "{with_ties}");

    // The judgements file holds both rewards of every judged sample.
    let file = report["judgements_file"].as_str().expect("file");
    let lines: Vec<Value> = std::fs::read_to_string(file)
        .expect("judgements file")
        .lines()
        .map(|line| serde_json::from_str(line).expect("json line"))
        .collect();
    assert!(!lines.is_empty());
    assert!(
        lines
            .iter()
            .all(|line| line["rewards"]["response1"].is_number()
                && line["rewards"]["response2"].is_number())
    );

    // The same command again resumes the finished run and scores nothing.
    let (code, again, stderr) = omnireward(
        &home,
        &[
            "eval",
            "checkpoint",
            model,
            "--json",
            "--batch-tokens",
            "512",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(again["run"], report["run"]);
    assert_eq!(again["summary"]["scored"], 0);
    assert_eq!(again["summary"]["already_done"], summary["covered_samples"]);
    assert_eq!(
        again["scorecard"]["settings"],
        report["scorecard"]["settings"]
    );

    // The leaderboard marks the tasks whose prompt media the model did not see.
    let (code, rows, stderr) = omnireward(&home, &["leaderboard", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let row = rows
        .as_array()
        .and_then(|rows| rows.iter().find(|row| row["model"] == "qwen2_seqcls"))
        .expect("the checkpoint's row");
    assert_eq!(row["text_only_prompt"].as_array().map(Vec::len), Some(3));
}

#[test]
fn score_prints_both_rewards_and_the_verdict() {
    let home = TempDir::new().expect("home");
    let model = fixture("bert-tiny");
    let (code, outcome, stderr) = omnireward(
        &home,
        &[
            "score",
            "--model",
            model.to_str().expect("utf-8"),
            "--criterion",
            "Prefer the correct answer.",
            "--prompt",
            "What is the capital of France?",
            "--response1",
            "Paris.",
            "--response2",
            "Lyon.",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let first = outcome["reward1"].as_f64().expect("reward1");
    let second = outcome["reward2"].as_f64().expect("reward2");
    let expected = if first > second {
        "response1"
    } else if first < second {
        "response2"
    } else {
        "tie"
    };
    assert_eq!(outcome["verdict"], expected);

    let (code, _, stderr) = omnireward(
        &home,
        &[
            "score",
            "--model",
            "/nonexistent/model",
            "--criterion",
            "c",
            "--prompt",
            "p",
            "--response1",
            "a",
            "--response2",
            "b",
        ],
    );
    assert_ne!(code, 0);
    assert!(stderr.contains("/nonexistent/model"), "{stderr}");
}

#[test]
fn unsupported_and_unsafe_checkpoints_are_refused_by_name() {
    let home = TempDir::new().expect("home");
    let folder = TempDir::new().expect("folder");
    for file in [
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "model.safetensors",
    ] {
        std::fs::copy(fixture("bert-tiny").join(file), folder.path().join(file)).expect("copy");
    }
    let config = json!({"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"});
    std::fs::write(folder.path().join("config.json"), config.to_string()).expect("config");
    let path = folder.path().to_str().expect("utf-8").to_owned();
    let (code, _, stderr) = omnireward(&home, &["eval", "checkpoint", &path]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("GPT2LMHeadModel") && stderr.contains("BertForSequenceClassification"),
        "{stderr}"
    );

    std::fs::write(
        folder.path().join("pytorch_model.bin"),
        b"not really a pickle",
    )
    .expect("pickle");
    let (code, _, stderr) = omnireward(&home, &["eval", "checkpoint", &path]);
    assert_ne!(code, 0);
    assert!(stderr.contains("pytorch_model.bin"), "{stderr}");
}

async fn demo_app(service: Option<Arc<ScoringService>>) -> (TempDir, axum::Router) {
    let folder = TempDir::new().expect("folder");
    let storage = Storage::open(&folder.path().join("omnireward.sqlite"))
        .await
        .expect("database");
    let benchmark = Arc::new(
        embedded::load(&folder.path().join("cache"), &LoadOptions::default()).expect("sample"),
    );
    let mut state = AppState::new(storage, benchmark);
    if let Some(service) = service {
        state = state.with_scoring(service);
    }
    (folder, app(state))
}

fn service(name: &str, queue: usize) -> Arc<ScoringService> {
    let thread = InferenceThread::start(fixture(name), LocalJudgeOptions::default())
        .expect("loads the fixture");
    Arc::new(ScoringService::new(thread, name.to_owned(), queue))
}

async fn post_score(router: &axum::Router, body: Value) -> (StatusCode, Value) {
    let request = Request::post("/api/v1/score")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("request");
    let response = router.clone().oneshot(request).await.expect("response");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn text_request() -> Value {
    json!({
        "criterion": "Prefer the correct answer.",
        "prompt": "What is the capital of France?",
        "response1": "The capital of France is Paris.",
        "response2": "It is Lyon.",
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_scores_text_pairs_and_refuses_bad_or_excess_requests() {
    let scoring = service("bert-tiny", 1);
    let (_folder, router) = demo_app(Some(Arc::clone(&scoring))).await;

    let (status, body) = post_score(&router, text_request()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["model"], "bert-tiny");
    assert_eq!(body["architecture"], "BertForSequenceClassification");
    assert!(
        body["reward1"].is_number()
            && body["reward2"].is_number()
            && body["latency_ms"].is_number()
    );
    assert!(
        ["response1", "response2", "tie"].contains(&body["verdict"].as_str().expect("verdict"))
    );

    // Images sent to a text model, missing responses, oversize texts and unknown fields.
    let mut images = text_request();
    images["response1"] = Value::Null;
    let (status, body) = post_score(
        &router,
        json!({"criterion": "c", "prompt": "p", "image1": "AAAA", "image2": "AAAA"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("text only")
    );
    let (status, _) = post_score(
        &router,
        json!({"criterion": "c", "prompt": "p", "response1": "a"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let mut long = text_request();
    long["prompt"] = json!("x".repeat(omnireward::http::score::MAX_TEXT_BYTES + 1));
    let (status, body) = post_score(&router, long).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("`prompt`")
    );
    let mut unknown = text_request();
    unknown["temperature"] = json!(0.5);
    let (status, _) = post_score(&router, unknown).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Saturation: the model is busy with a job that waits for a signal, the one admitted
    // request waits behind it, and the next is refused at once with 429.
    let (release, wait) = std::sync::mpsc::channel::<()>();
    let (started, blocking) = tokio::sync::oneshot::channel::<()>();
    let blocker = {
        let scoring = Arc::clone(&scoring);
        tokio::spawn(async move {
            scoring
                .thread()
                .expect("a reward model")
                .run(move |_| {
                    let _ = started.send(());
                    let _ = wait.recv();
                    Ok(())
                })
                .await
        })
    };
    // The blocker holds the model before the next request arrives; otherwise that request could
    // be scored and gone before the blocker, and never be seen holding its place.
    blocking.await.expect("the blocker starts");
    let admitted = tokio::spawn({
        let router = router.clone();
        async move { post_score(&router, text_request()).await }
    });
    // Wait until that request holds the one place (a fixed sleep raced on a loaded machine:
    // the next request could take the place itself and then wait forever behind the blocker).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while scoring.free_places() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the first request was never admitted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let (status, body) = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        post_score(&router, text_request()),
    )
    .await
    .expect("a saturated demo answers at once");
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    release.send(()).expect("release the model");
    blocker.await.expect("joins").expect("blocker ran");
    let (status, body) = admitted.await.expect("joins");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["queue_ms"].as_f64().expect("queue") >= 100.0, "{body}");

    // Without a model the demo says so.
    let (_other, bare) = demo_app(None).await;
    let (status, body) = post_score(&bare, text_request()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("without a local model")
    );
}
