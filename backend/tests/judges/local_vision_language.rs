//! Vision-language reward models end to end, on the tiny Qwen2-VL fixtures of the local-judge
//! crate: `eval checkpoint` over the embedded sample covers T2T, TI2T, TV2T, T2I, T2V, T23D and
//! TI2I (audio reported as not covered) and, killed with SIGKILL mid-run and run again, ends with
//! exactly one judgement per item and setting; `score --image` and `score --response` give the
//! rewards transformers gives (`qwen2_vl_score_head/reference.json`, 1e-4), and a T2I sample's
//! stored rewards equal `score --image` on its two images, so the run's layout is the one
//! checked against transformers; the `POST /score` demo takes images and texts.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine;
use omnireward::data::{LoadOptions, embedded};
use omnireward::http::score::ScoringService;
use omnireward::http::{AppState, app};
use omnireward::judges::local::{InferenceThread, LocalJudgeOptions};
use omnireward::storage::Storage;
use omnireward_shared::{Judgement, Label, Setting, Task};
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::support::home_runs::{kill_once_saved, saved};
use tower::ServiceExt as _;

const TOLERANCE: f64 = 1e-4;

/// The tasks a vision-language reward model reads (images and videos; no audio tower).
const COVERED: [Task; 7] = [
    Task::TextToText,
    Task::TextImageToText,
    Task::TextVideoToText,
    Task::TextToImage,
    Task::TextToVideo,
    Task::TextTo3d,
    Task::TextImageToImage,
];

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("local-judge/tests/fixtures")
        .join(name)
}

fn processor_image(name: &str) -> PathBuf {
    fixture("qwen2_vl_processor").join(format!("{name}.png"))
}

fn reference_case(name: &str) -> Value {
    let text = std::fs::read_to_string(fixture("qwen2_vl_score_head").join("reference.json"))
        .expect("reference");
    let reference: Value = serde_json::from_str(&text).expect("JSON");
    reference["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .find(|case| case["case"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("case {name}"))
}

fn assert_close(ours: &Value, theirs: &Value, what: &str) {
    let (ours, theirs) = (
        ours.as_f64().expect("a reward"),
        theirs.as_f64().expect("a reward"),
    );
    assert!(
        (ours - theirs).abs() <= TOLERANCE,
        "{what}: {ours} against {theirs}"
    );
}

fn omnireward(home: &Path, arguments: &[&str]) -> (i32, Value, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_omnireward"))
        .arg("--home")
        .arg(home)
        .args(arguments)
        .output()
        .expect("runs omnireward");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let json = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (output.status.code().unwrap_or(-1), json, stderr)
}

fn eval_command(home: &Path, model: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_omnireward"));
    command
        .arg("--home")
        .arg(home)
        .args(["eval", "checkpoint"])
        .arg(model)
        .args([
            "--chunk-samples",
            "4",
            "--batch-tokens",
            "4096",
            "--resamples",
            "50",
            "--json",
        ]);
    command
}

#[test]
fn a_vision_language_checkpoint_covers_the_image_and_video_tasks_and_survives_sigkill() {
    let home = TempDir::new().expect("home");
    let model = fixture("qwen2_vl_tiny");

    // Killed once a first chunk is saved, before the run can finish.
    kill_once_saved(eval_command(home.path(), &model), home.path());

    let output = eval_command(home.path(), &model)
        .output()
        .expect("runs omnireward");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON report");
    assert_eq!(report["status"], "finished");
    assert_eq!(
        report["judge"]["architecture"],
        "Qwen2VLForConditionalGeneration"
    );
    assert_eq!(report["judge"]["kind"], "multimodal-conversation");
    let summary = &report["summary"];
    assert!(
        summary["already_done"].as_u64().expect("count") > 0,
        "{summary}"
    );
    assert_eq!(
        summary["already_done"].as_u64().expect("count")
            + summary["scored"].as_u64().expect("count"),
        summary["covered_samples"].as_u64().expect("count")
    );
    assert_eq!(
        summary["text_only_prompt"],
        json!([]),
        "the prompt's image is read"
    );
    for task in [Task::TextAudioToText, Task::TextToAudio] {
        assert!(
            summary["not_covered"].get(task.key()).is_some(),
            "{task} should be reported as not covered: {summary}"
        );
    }
    let with_ties = &report["scorecard"]["settings"]["with_ties"];
    assert_eq!(with_ties["overall"]["tasks_covered"], 7, "{with_ties}");

    // Exactly one judgement per item and setting, each with both rewards.
    let benchmark = embedded::load(&home.path().join("sample-cache"), &LoadOptions::default())
        .expect("the embedded sample");
    let items: usize = benchmark
        .samples
        .iter()
        .filter(|sample| COVERED.contains(&sample.task))
        .map(|sample| if sample.label == Label::Tie { 1 } else { 2 })
        .sum();
    let judgements = saved(home.path());
    assert_eq!(
        judgements.len(),
        items,
        "one judgement per item, none twice"
    );
    let keys: BTreeSet<_> = judgements.iter().map(Judgement::key).collect();
    assert_eq!(keys.len(), items);
    let tasks: BTreeSet<Task> = judgements.iter().map(|judgement| judgement.task).collect();
    assert_eq!(tasks, COVERED.into_iter().collect());
    let settings: BTreeSet<Setting> = judgements
        .iter()
        .map(|judgement| judgement.setting)
        .collect();
    assert_eq!(settings.len(), 2);
    assert!(judgements.iter().all(|judgement| {
        judgement
            .rewards
            .is_some_and(|rewards| rewards.response1.is_finite() && rewards.response2.is_finite())
    }));
}

#[test]
fn score_and_eval_give_the_rewards_transformers_gives() {
    let home = TempDir::new().expect("home");
    let model = fixture("qwen2_vl_score_head");
    let model = model.to_str().expect("utf-8");
    let first = reference_case("t2i_first");
    let second = reference_case("t2i_second");
    let path = |case: &Value| {
        processor_image(case["images"][0].as_str().expect("name"))
            .to_string_lossy()
            .into_owned()
    };
    let (code, outcome, stderr) = omnireward(
        home.path(),
        &[
            "score",
            "--model",
            model,
            "--criterion",
            first["criterion"].as_str().expect("criterion"),
            "--prompt",
            first["prompt"].as_str().expect("prompt"),
            "--image1",
            &path(&first),
            "--image2",
            &path(&second),
            "--json",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_close(&outcome["reward1"], &first["reward"], "T2I response 1");
    assert_close(&outcome["reward2"], &second["reward"], "T2I response 2");

    let first = reference_case("t2t_first");
    let second = reference_case("t2t_second");
    let (code, outcome, stderr) = omnireward(
        home.path(),
        &[
            "score",
            "--model",
            model,
            "--criterion",
            first["criterion"].as_str().expect("criterion"),
            "--prompt",
            first["prompt"].as_str().expect("prompt"),
            "--response1",
            first["response"].as_str().expect("response"),
            "--response2",
            second["response"].as_str().expect("response"),
            "--json",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_close(&outcome["reward1"], &first["reward"], "T2T response 1");
    assert_close(&outcome["reward2"], &second["reward"], "T2T response 2");

    // A T2I sample's stored rewards are `score --image`'s on its two images: the run lays the
    // sample out as the layout checked against transformers above.
    let (code, report, stderr) = omnireward(
        home.path(),
        &[
            "eval",
            "checkpoint",
            model,
            "--tasks",
            "t2i",
            "--resamples",
            "50",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        report["judge"]["architecture"],
        "Qwen2VLForSequenceClassification"
    );
    let benchmark = embedded::load(&home.path().join("sample-cache"), &LoadOptions::default())
        .expect("the embedded sample");
    let sample = benchmark
        .samples
        .iter()
        .find(|sample| sample.task == Task::TextToImage)
        .expect("a T2I sample");
    let judgement = saved(home.path())
        .into_iter()
        .find(|judgement| judgement.task == Task::TextToImage && judgement.sample_id == sample.id)
        .expect("the sample's judgement");
    let rewards = judgement.rewards.expect("rewards");
    let images = TempDir::new().expect("images");
    let write = |name: &str, response: &omnireward_shared::Response| {
        let media = response.media().expect("an image response");
        let bytes = omnireward::data::media::read_media(media).expect("reads the image");
        let file = images.path().join(name);
        std::fs::write(&file, bytes).expect("writes");
        file.to_string_lossy().into_owned()
    };
    let (image1, image2) = (
        write("first", &sample.response1),
        write("second", &sample.response2),
    );
    let (code, outcome, stderr) = omnireward(
        home.path(),
        &[
            "score",
            "--model",
            model,
            "--criterion",
            &sample.criterion,
            "--prompt",
            &sample.prompt,
            "--image1",
            &image1,
            "--image2",
            &image2,
            "--json",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_close(
        &outcome["reward1"],
        &json!(rewards.response1),
        "stored reward 1",
    );
    assert_close(
        &outcome["reward2"],
        &json!(rewards.response2),
        "stored reward 2",
    );
}

pub(crate) async fn post_score(router: &axum::Router, body: Value) -> (StatusCode, Value) {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_scores_images_and_texts_with_a_vision_language_model() {
    let folder = TempDir::new().expect("folder");
    let storage = Storage::open(&folder.path().join("omnireward.sqlite"))
        .await
        .expect("database");
    let benchmark = Arc::new(
        embedded::load(&folder.path().join("cache"), &LoadOptions::default()).expect("sample"),
    );
    let thread = tokio::task::spawn_blocking(|| {
        InferenceThread::start(fixture("qwen2_vl_score_head"), LocalJudgeOptions::default())
    })
    .await
    .expect("joins")
    .expect("loads the fixture");
    let service = Arc::new(ScoringService::new(thread, "vl".to_owned(), 2));
    assert!(service.reads_images());
    let router = app(AppState::new(storage, benchmark).with_scoring(service));

    let first = reference_case("t2i_first");
    let second = reference_case("t2i_second");
    let encoded = |case: &Value| {
        let bytes = std::fs::read(processor_image(case["images"][0].as_str().expect("name")))
            .expect("image");
        base64::engine::general_purpose::STANDARD.encode(bytes)
    };
    let (status, body) = post_score(
        &router,
        json!({
            "criterion": first["criterion"],
            "prompt": first["prompt"],
            "image1": encoded(&first),
            "image2": encoded(&second),
        }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["architecture"], "Qwen2VLForSequenceClassification");
    assert_close(&body["reward1"], &first["reward"], "demo image 1");
    assert_close(&body["reward2"], &second["reward"], "demo image 2");

    let first = reference_case("t2t_first");
    let second = reference_case("t2t_second");
    let (status, body) = post_score(
        &router,
        json!({
            "criterion": first["criterion"],
            "prompt": first["prompt"],
            "response1": first["response"],
            "response2": second["response"],
        }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_close(&body["reward1"], &first["reward"], "demo text 1");
    assert_close(&body["reward2"], &second["reward"], "demo text 2");
}

/// The demo takes two short videos with a vision-language reward model, read as a T2V sample's
/// responses (frames at the rate they span), and its page offers the video inputs; half a pair is
/// refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_scores_a_pair_of_short_videos_with_a_vision_language_model() {
    let folder = TempDir::new().expect("folder");
    let storage = Storage::open(&folder.path().join("omnireward.sqlite"))
        .await
        .expect("database");
    let benchmark = Arc::new(
        embedded::load(&folder.path().join("cache"), &LoadOptions::default()).expect("sample"),
    );
    let thread = tokio::task::spawn_blocking(|| {
        InferenceThread::start(fixture("qwen2_vl_tiny"), LocalJudgeOptions::default())
    })
    .await
    .expect("joins")
    .expect("loads the fixture");
    let service = Arc::new(
        ScoringService::new(thread, "vl".to_owned(), 2)
            .with_media_cache(folder.path().join("media")),
    );
    let router = app(AppState::new(storage, benchmark).with_scoring(service));
    let videos = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("assets/sample-benchmark/media_data/text_to_video");
    let mut clips: Vec<PathBuf> = std::fs::read_dir(&videos)
        .expect("videos")
        .flatten()
        .map(|entry| entry.path())
        .collect();
    clips.sort();
    let encoded = |path: &Path| {
        base64::engine::general_purpose::STANDARD.encode(std::fs::read(path).expect("video"))
    };
    let (status, body) = post_score(
        &router,
        json!({
            "criterion": "Prefer the clip that shows the motion described.",
            "prompt": "A ball rolls to the right.",
            "video1": encoded(&clips[0]),
            "video2": encoded(&clips[1]),
        }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (first, second) = (
        body["reward1"].as_f64().expect("reward1"),
        body["reward2"].as_f64().expect("reward2"),
    );
    assert!(
        first.is_finite() && second.is_finite() && first != second,
        "{body}"
    );

    // Half a pair is refused, naming what to send.
    let (status, body) = post_score(
        &router,
        json!({"criterion": "c", "prompt": "p", "video1": encoded(&clips[0])}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    let page = router
        .clone()
        .oneshot(Request::get("/demo").body(Body::empty()).expect("request"))
        .await
        .expect("response");
    let html = String::from_utf8(
        axum::body::to_bytes(page.into_body(), usize::MAX)
            .await
            .expect("body")
            .to_vec(),
    )
    .expect("utf-8");
    assert!(
        html.contains(r#"name="video1""#),
        "the form offers video inputs"
    );
}
