//! MiniCPM-o with a value head (Omni-RewardModel-BT's architecture) end to end, on the tiny
//! random fixture of the local-judge crate (`minicpm_o_tiny`, parity-checked against the
//! reference code there): `eval checkpoint` over the embedded sample covers all nine tasks
//! (images, videos as frames, audio clips), and, killed with SIGKILL mid-run and run again, ends
//! with exactly one judgement per item and setting, each with two finite rewards.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use omnireward::data::{LoadOptions, embedded};
use omnireward_shared::{Judgement, Label, Setting, Task};
use serde_json::Value;
use tempfile::TempDir;

use crate::support::home_runs::{kill_once_saved, saved};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("local-judge/tests/fixtures/minicpm_o_tiny")
}

fn eval_command(home: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_omnireward"));
    command
        .arg("--home")
        .arg(home)
        .args(["eval", "checkpoint"])
        .arg(fixture())
        .args(["--chunk-samples", "4", "--resamples", "50", "--json"]);
    command
}

#[test]
fn omni_reward_model_covers_all_nine_tasks_and_survives_sigkill() {
    let home = TempDir::new().expect("home");
    kill_once_saved(eval_command(home.path()), home.path());

    let output = eval_command(home.path()).output().expect("runs omnireward");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON report");
    assert_eq!(report["status"], "finished");
    assert_eq!(report["judge"]["architecture"], "MiniCPMO");
    assert_eq!(report["judge"]["kind"], "omni-conversation");
    let summary = &report["summary"];
    assert!(
        summary["already_done"].as_u64().expect("count") > 0,
        "{summary}"
    );
    assert_eq!(summary["not_covered"], serde_json::json!({}), "{summary}");
    let with_ties = &report["scorecard"]["settings"]["with_ties"];
    assert_eq!(with_ties["overall"]["tasks_covered"], 9, "{with_ties}");

    let benchmark = embedded::load(&home.path().join("sample-cache"), &LoadOptions::default())
        .expect("the embedded sample");
    let items: usize = benchmark
        .samples
        .iter()
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
    assert_eq!(tasks, Task::ALL.into_iter().collect());
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
fn score_reads_two_audio_responses_with_an_omni_model_only() {
    let home = TempDir::new().expect("home");
    let clips = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("assets/sample-benchmark/media_data/text_to_audio");
    let score = |model: &Path| {
        Command::new(env!("CARGO_BIN_EXE_omnireward"))
            .arg("--home")
            .arg(home.path())
            .args(["score", "--model"])
            .arg(model)
            .args([
                "--criterion",
                "Prefer a clear tone.",
                "--prompt",
                "A falling tone.",
            ])
            .arg("--audio1")
            .arg(clips.join("t2a-falling-tone.wav"))
            .arg("--audio2")
            .arg(clips.join("t2a-white-noise-burst.wav"))
            .arg("--json")
            .output()
            .expect("runs omnireward")
    };
    let output = score(&fixture());
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let outcome: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let (first, second) = (
        outcome["reward1"].as_f64().expect("reward1"),
        outcome["reward2"].as_f64().expect("reward2"),
    );
    assert!(
        first.is_finite() && second.is_finite() && first != second,
        "{outcome}"
    );
    let vision_language = fixture().with_file_name("qwen2_vl_tiny");
    let refused = score(&vision_language);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("reads no audio"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

/// The demo with MiniCPM-o: an image pair is laid out as a T2I sample's (the image in the user
/// turn, the prompt as the assistant turn), so the reward of the fixture's "generated image"
/// conversation is the reference's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_scores_image_pairs_in_the_authors_layout() {
    use std::sync::Arc;

    use axum::http::StatusCode;
    use base64::Engine;
    use omnireward::http::score::ScoringService;
    use omnireward::http::{AppState, app};
    use omnireward::judges::local::{InferenceThread, LocalJudgeOptions};
    use omnireward::storage::Storage;

    let folder = TempDir::new().expect("folder");
    let storage = Storage::open(&folder.path().join("omnireward.sqlite"))
        .await
        .expect("database");
    let benchmark = Arc::new(
        embedded::load(&folder.path().join("cache"), &LoadOptions::default()).expect("sample"),
    );
    let thread = tokio::task::spawn_blocking(|| {
        InferenceThread::start(fixture(), LocalJudgeOptions::default())
    })
    .await
    .expect("joins")
    .expect("loads the fixture");
    let service = Arc::new(ScoringService::new(thread, "omni".to_owned(), 2));
    assert!(service.reads_images());
    let router = app(AppState::new(storage, benchmark).with_scoring(service));
    let cases: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture().join("cases.json")).expect("cases"),
    )
    .expect("JSON");
    let generated = cases["conversations"]
        .as_array()
        .expect("conversations")
        .iter()
        .find(|case| case["name"] == "generated_image")
        .expect("the generated-image case");
    let encoded = |name: &str| {
        base64::engine::general_purpose::STANDARD
            .encode(std::fs::read(fixture().join(format!("{name}.png"))).expect("image"))
    };
    let (status, body) = crate::local_vision_language::post_score(
        &router,
        serde_json::json!({
            "criterion": generated["criterion"],
            "prompt": generated["assistant"],
            "image1": encoded("square"),
            "image2": encoded("small"),
        }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["architecture"], "MiniCPMO");
    let ours = body["reward1"].as_f64().expect("reward1");
    let theirs = generated["reward"].as_f64().expect("reward");
    assert!((ours - theirs).abs() < 1e-4, "{ours} against {theirs}");
    assert!(body["reward2"].as_f64().expect("reward2").is_finite());
}
