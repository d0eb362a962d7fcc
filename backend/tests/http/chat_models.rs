//! Chat models (generative judges) wherever a checkpoint goes over HTTP. Uploads: a
//! `Qwen2ForCausalLM` folder through the API's multipart route and a GGUF file through the
//! submit page's form, each run by a worker to its scorecard and leaderboard row, with
//! judgements that carry the judge's raw output (shown on the model page); the command line
//! opens the run the upload opened; GGUF files that are not chat models this server runs are
//! refused, leaving nothing. The demo: a chat model as the demo model answers with its verdict
//! and text, through the API and on the page.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use omnireward::queue::worker::{WorkerSummary, run_worker};
use omnireward::storage::RunId;
use omnireward_shared::{Judgement, Order, Setting, parse_verdict};
use serde_json::Value;
use tempfile::TempDir;

use super::uploads::{BOUNDARY, multipart_body, test_app};
use crate::support::chat_models::{
    qwen2_causal_files, qwen2_causal_gguf, write_qwen2_causal_folder,
};
use crate::support::test_app::{Reply, TestApp, send};

/// A checkpoint's files: names and contents.
type Files = Vec<(String, Vec<u8>)>;

/// T2T samples of the embedded sample benchmark.
const T2T_SAMPLES: usize = 16;

async fn run_worker_until_idle(app: &TestApp) {
    let summary = run_worker(
        app.storage.clone(),
        &app.worker_context(),
        "worker-1",
        Arc::new(AtomicBool::new(false)),
    )
    .await
    .expect("the worker runs");
    assert_eq!(
        summary,
        WorkerSummary {
            claimed: 1,
            ended: 1
        }
    );
}

/// Checks every judgement of `run`: its verdict is the one its raw output holds, and it records
/// its attempts (at most `attempts`) and tokens. Returns them.
async fn judgements_follow_their_outputs(app: &TestApp, run: i64, attempts: u32) -> Vec<Judgement> {
    let judgements = app.storage.judgements(RunId(run)).await.expect("reads");
    assert!(!judgements.is_empty());
    for judgement in &judgements {
        let raw = judgement
            .raw_output
            .as_deref()
            .expect("the raw output is kept");
        let expected = parse_verdict(raw).map(|shown| judgement.order.to_reference(shown));
        assert_eq!(judgement.verdict, expected, "verdict of {raw:?}");
        let used = judgement.attempts.expect("attempts");
        assert!((1..=attempts).contains(&used), "{used} attempts");
        if judgement.verdict.is_none() {
            assert_eq!(used, attempts, "an unparseable item is asked again");
        }
        assert!(judgement.input_tokens.unwrap_or(0) > 0);
        assert!(judgement.output_tokens.unwrap_or(0) > 0);
    }
    judgements
}

/// The leaderboard's generative rows of `setting` name `run`.
async fn ranked(app: &TestApp, setting: Setting, model: &str, run: i64) {
    let board = app
        .get(&format!(
            "/api/v1/leaderboard?setting={}&type=local_generative",
            setting.key()
        ))
        .await;
    assert_eq!(board.status, StatusCode::OK, "{}", board.text());
    let rows = board.json()["rows"].clone();
    assert!(
        rows.as_array()
            .expect("rows")
            .iter()
            .any(|row| row["model"] == model && row["run"] == run),
        "{rows}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_model_folder_is_judged_by_a_worker_ranked_and_its_outputs_shown() {
    let app = test_app(64 * 1024 * 1024).await;
    let fields = [
        ("name", "qwen2 chat upload"),
        ("tasks", "T2T"),
        ("max_new_tokens", "6"),
        ("verdict_attempts", "2"),
        ("seed", "3"),
    ];
    let created = app.upload(&fields, &qwen2_causal_files()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let body = created.json();
    assert_eq!(body["checkpoint"]["architecture"], "Qwen2ForCausalLM");
    let (submission, run) = created.ids();

    run_worker_until_idle(&app).await;
    let job = app.get(&format!("/api/v1/submissions/{submission}")).await;
    assert_eq!(job.json()["status"], "finished", "{}", job.text());
    let record = app.get(&format!("/api/v1/runs/{run}")).await.json();
    assert_eq!(record["status"], "finished", "{record}");
    assert_eq!(record["model"]["kind"], "local_generative");
    let identity = &record["configuration"]["identity"];
    assert_eq!(identity["judge"], "generative");
    assert_eq!(identity["format"], "safetensors");
    assert_eq!(identity["decoding"]["max_new_tokens"], 6);
    assert_eq!(identity["verdict_attempts"], 2);
    assert_eq!(
        identity["prompts"]["name"], "omnireward-v1",
        "the built-in set: {identity}"
    );

    let judgements = judgements_follow_their_outputs(&app, run, 2).await;
    let in_setting = |setting: Setting| {
        judgements
            .iter()
            .filter(|judgement| judgement.setting == setting)
            .count()
    };
    let untied = judgements
        .iter()
        .filter(|judgement| {
            judgement.setting == Setting::WithTies
                && judgement.label != omnireward_shared::Label::Tie
        })
        .count();
    assert_eq!(in_setting(Setting::WithTies), T2T_SAMPLES, "T2T with ties");
    assert_eq!(
        in_setting(Setting::WithoutTies),
        untied,
        "T2T without ties: the samples not labelled tie"
    );
    for setting in Setting::ALL {
        ranked(&app, setting, "qwen2 chat upload", run).await;
    }

    // The model page shows the judge's text, escaped, beside each verdict.
    let model = record["model"]["id"].clone();
    let page = app.get(&format!("/models/{model}?run={run}")).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    let shown = judgements
        .iter()
        .filter_map(|judgement| judgement.raw_output.as_deref())
        .filter_map(longest_word)
        .filter(|word| word.len() >= 3)
        .any(|word| html.contains(&word));
    assert!(shown, "no raw output on the model page");
    assert!(html.contains("tokens"), "token counts are shown");

    // The same files from a folder, under the same options: `eval checkpoint` finds the
    // uploaded run, already complete.
    let folder = TempDir::new().expect("folder");
    let folder = write_qwen2_causal_folder(&folder.path().join("qwen2-chat"));
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_omnireward"))
        .arg("--home")
        .arg(app.home.path())
        .args(["eval", "checkpoint"])
        .arg(&folder)
        .args([
            "--name",
            "qwen2 chat upload",
            "--tasks",
            "t2t",
            "--max-new-tokens",
            "6",
            "--verdict-attempts",
            "2",
            "--seed",
            "3",
            "--json",
        ])
        .output()
        .await
        .expect("runs omnireward");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(
        report["run"], run,
        "one identity for the upload and the command line"
    );
    assert_eq!(report["summary"]["judged"], 0, "{report}");
}

/// The longest run of ASCII letters in `text`, which the page shows unescaped.
fn longest_word(text: &str) -> Option<String> {
    text.split(|character: char| !character.is_ascii_alphabetic())
        .max_by_key(|word| word.len())
        .map(str::to_owned)
}

/// Posts the submit page's upload form.
async fn post_form(app: &TestApp, fields: &[(&str, &str)], files: &[(String, Vec<u8>)]) -> Reply {
    let body = multipart_body(fields, files);
    let request = Request::post("/submit/checkpoint")
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .header(header::CONTENT_LENGTH, body.len())
        .body(Body::from(body))
        .expect("request");
    send(&app.router, request).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gguf_chat_model_sent_with_the_web_form_is_judged_and_ranked() {
    let app = test_app(64 * 1024 * 1024).await;
    let files = vec![("qwen2-tiny.gguf".to_owned(), qwen2_causal_gguf(|_| {}))];
    let fields = [
        ("kind", "checkpoint"),
        ("name", "qwen2 gguf upload"),
        ("tasks", "T2T"),
        ("settings", "with_ties"),
        ("max_new_tokens", "4"),
        ("verdict_attempts", "1"),
        ("swap", "true"),
    ];
    let posted = post_form(&app, &fields, &files).await;
    assert_eq!(posted.status, StatusCode::SEE_OTHER, "{}", posted.text());
    let location = posted.header("location").to_owned();
    let submission: i64 = location
        .trim_start_matches("/submissions/")
        .split('?')
        .next()
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("a submission page: {location}"));
    let job = app
        .get(&format!("/api/v1/submissions/{submission}"))
        .await
        .json();
    let run = job["run"].as_i64().expect("run");
    // Stored whole in its content-addressed folder.
    let stored = app.uploaded();
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert!(
        app.uploads()
            .join(&stored[0])
            .join("qwen2-tiny.gguf")
            .is_file()
    );

    run_worker_until_idle(&app).await;
    let record = app.get(&format!("/api/v1/runs/{run}")).await.json();
    assert_eq!(record["status"], "finished", "{record}");
    let identity = &record["configuration"]["identity"];
    assert_eq!(identity["format"], "gguf");
    assert_eq!(identity["architecture"], "qwen2");
    assert_eq!(identity["inputs_sha256"], Value::Null);
    let judgements = judgements_follow_their_outputs(&app, run, 1).await;
    assert_eq!(
        judgements.len(),
        T2T_SAMPLES * 2,
        "both orders, one setting"
    );
    assert!(
        judgements
            .iter()
            .all(|judgement| judgement.setting == Setting::WithTies)
    );
    assert!(
        judgements
            .iter()
            .any(|judgement| judgement.order == Order::Swapped)
    );
    ranked(&app, Setting::WithTies, "qwen2 gguf upload", run).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gguf_files_this_server_cannot_judge_with_are_refused_leaving_nothing() {
    let app = test_app(64 * 1024 * 1024).await;
    let gguf = |name: &str, bytes: Vec<u8>| vec![(name.to_owned(), bytes)];
    let without = |key: &'static str| {
        qwen2_causal_gguf(move |metadata| metadata.retain(|(name, _)| name != key))
    };
    let gemma = qwen2_causal_gguf(|metadata| {
        for (name, value) in metadata.iter_mut() {
            if name == "general.architecture" {
                *value = candle_core::quantized::gguf_file::Value::String("gemma".into());
            }
        }
    });
    // What is wrong, the upload's files, and what the refusal names.
    let cases: Vec<(&str, Files, &str)> = vec![
        (
            "not GGUF",
            gguf("model.gguf", b"GGUF but not really".to_vec()),
            "(header)",
        ),
        ("another architecture", gguf("gemma.gguf", gemma), "gemma"),
        (
            "no chat template",
            gguf("plain.gguf", without("tokenizer.chat_template")),
            "tokenizer.chat_template",
        ),
        (
            "no tokenizer",
            gguf("bare.gguf", without("tokenizer.ggml.tokens")),
            "tokenizer.ggml.tokens",
        ),
    ];
    for (what, files, named) in cases {
        let reply = app.upload(&[("name", "refused")], &files).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{what}: {}",
            reply.text()
        );
        let (_, message) = reply.error();
        assert!(message.contains(named), "{what}: {message}");
        assert!(
            !message.contains(".incoming-"),
            "{what}: the server's folder leaked: {message}"
        );
    }
    // A GGUF file must come alone, and reward-model fields do not apply to chat models.
    let mut mixed = gguf("model.gguf", qwen2_causal_gguf(|_| {}));
    mixed.push(("config.json".to_owned(), b"{}".to_vec()));
    let reply = app.upload(&[("name", "refused")], &mixed).await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.text()
    );
    assert!(reply.error().1.contains("alone"), "{}", reply.text());
    let reply = app
        .upload(
            &[("name", "refused"), ("max_length", "64")],
            &qwen2_causal_files(),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.text()
    );
    assert!(reply.error().1.contains("max_length"), "{}", reply.text());

    assert!(app.uploaded().is_empty(), "{:?}", app.uploaded());
    assert!(app.storage.jobs().await.expect("lists").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_model_behind_the_demo_answers_with_its_verdict_and_text() {
    use omnireward::http::score::ScoringService;
    use omnireward::judges::local::{DeviceChoice, GenerativeThread};

    let folder = TempDir::new().expect("folder");
    let model = write_qwen2_causal_folder(&folder.path().join("qwen2-chat"));
    let thread = GenerativeThread::start(model, DeviceChoice::Cpu).expect("loads");
    let scoring = Arc::new(ScoringService::generative(
        thread,
        "qwen2 chat".to_owned(),
        2,
        8,
    ));
    let app = TestApp::start(false, move |state, _| state.with_scoring(scoring)).await;
    let pair = [
        ("criterion", "Which answer is correct?"),
        ("prompt", "What is 2 + 2?"),
        ("response1", "4"),
        ("response2", "5"),
    ];

    let body: serde_json::Map<String, Value> = pair
        .iter()
        .map(|(key, value)| ((*key).to_owned(), Value::from(*value)))
        .collect();
    let body = Value::Object(body).to_string();
    let request = Request::post("/api/v1/score")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .expect("request");
    let answer = send(&app.router, request).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let answer = answer.json();
    assert_eq!(answer["model"], "qwen2 chat");
    assert_eq!(answer["architecture"], "Qwen2ForCausalLM");
    assert!(answer.get("reward1").is_none(), "no rewards: {answer}");
    let text = answer["judge"]["text"].as_str().expect("the judge's text");
    let generated = answer["judge"]["generated_tokens"].as_u64().expect("count");
    assert!((1..=8).contains(&generated), "{generated} tokens");
    assert!(answer["judge"]["prompt_tokens"].as_u64().unwrap_or(0) > 0);
    let expected = parse_verdict(text).map(|verdict| Value::from(verdict.key()));
    assert_eq!(
        answer["verdict"],
        expected.unwrap_or(Value::Null),
        "verdict of {text:?}"
    );

    // The page shows the same answer: greedy decoding gives the same text again.
    let form: String = pair
        .iter()
        .map(|(key, value)| format!("{key}={}", form_encoded(value)))
        .collect::<Vec<_>>()
        .join("&");
    let request = Request::post("/demo")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("task=text_to_text&{form}")))
        .expect("request");
    let page = send(&app.router, request).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let html = page.text();
    assert!(
        html.contains("demo-judge-text"),
        "the judge's text has its place"
    );
    if let Some(word) = longest_word(text).filter(|word| word.len() >= 3) {
        assert!(
            html.contains(&word),
            "{word:?} of {text:?} is not on the page"
        );
    }
    assert!(
        html.contains("a generative judge"),
        "the page says what the model is"
    );

    // Images are for image-text reward models.
    let request = Request::post("/api/v1/score")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            serde_json::json!({"criterion": "c", "prompt": "p", "image1": "AA==", "image2": "AA=="})
                .to_string(),
        ))
        .expect("request");
    let refused = send(&app.router, request).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.text()
    );
    assert!(
        refused.error().1.contains("text only"),
        "{}",
        refused.text()
    );
}

/// `text` as an `application/x-www-form-urlencoded` value.
fn form_encoded(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => char::from(byte).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vision_language_chat_model_behind_the_demo_judges_image_pairs() {
    use base64::Engine as _;
    use omnireward::http::score::ScoringService;
    use omnireward::judges::local::{DeviceChoice, GenerativeThread};

    // The tiny Qwen2-VL fixture without its value head: a generative judge.
    let fixtures =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("local-judge/tests/fixtures");
    let folder = TempDir::new().expect("folder");
    for name in [
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "chat_template.jinja",
        "preprocessor_config.json",
    ] {
        std::fs::copy(
            fixtures.join("qwen2_vl_tiny").join(name),
            folder.path().join(name),
        )
        .expect("copies");
    }
    let thread =
        GenerativeThread::start(folder.path().to_path_buf(), DeviceChoice::Cpu).expect("loads");
    assert!(thread.reads_media());
    let scoring = Arc::new(ScoringService::generative(
        thread,
        "qwen2-vl".to_owned(),
        2,
        6,
    ));
    assert!(scoring.reads_images());
    let app = TestApp::start(false, move |state, _| state.with_scoring(scoring)).await;
    let image = |name: &str| {
        let bytes = std::fs::read(
            fixtures
                .join("qwen2_vl_processor")
                .join(format!("{name}.png")),
        )
        .expect("reads");
        base64::engine::general_purpose::STANDARD.encode(bytes)
    };
    let request = Request::post("/api/v1/score")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            serde_json::json!({
                "criterion": "Which image is a red square?",
                "prompt": "A red square.",
                "image1": image("small_20x20"),
                "image2": image("exact_56x84"),
            })
            .to_string(),
        ))
        .expect("request");
    let answer = send(&app.router, request).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let answer = answer.json();
    assert_eq!(answer["architecture"], "Qwen2VLForConditionalGeneration");
    assert!(answer.get("reward1").is_none(), "no rewards: {answer}");
    let text = answer["judge"]["text"].as_str().expect("the judge's text");
    let generated = answer["judge"]["generated_tokens"].as_u64().expect("count");
    assert!((1..=6).contains(&generated), "{generated} tokens");
    let expected = parse_verdict(text).map(|verdict| Value::from(verdict.key()));
    assert_eq!(
        answer["verdict"],
        expected.unwrap_or(Value::Null),
        "verdict of {text:?}"
    );
}
