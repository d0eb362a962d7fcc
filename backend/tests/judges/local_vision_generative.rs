//! A vision-language generative judge end to end, on a copy of the tiny Qwen2.5-VL fixture of
//! the local-judge crate without its value head (so it is a `*ForConditionalGeneration` chat
//! model, not a reward model): `eval checkpoint` over the embedded sample judges T2T, TI2T,
//! TV2T, T2I, T2V, T23D and TI2I with the samples' images and video frames in the prompts (audio
//! reported as not covered), in both settings with A/B swapped too; every stored verdict follows
//! from its stored raw output; the run records its decoding options and media rule under an
//! identity of its own; killed with SIGKILL mid-run and run again, it ends with exactly one
//! judgement per item. `score --image1/--image2` gives the verdict its text holds. Generation is
//! limited (`--max-new-tokens`, two samples per task) so the test stays short on two cores; the
//! random model's answers are mostly unparseable, which exercises the re-queries.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use omnireward::storage::{Provenance, Storage};
use omnireward_shared::{Judgement, Order, Setting, Task, parse_verdict};
use serde_json::Value;
use tempfile::TempDir;

use crate::support::home_runs::{kill_once_saved, saved};

/// The tasks a vision-language generative judge reads (every task but audio).
const COVERED: [Task; 7] = [
    Task::TextToText,
    Task::TextImageToText,
    Task::TextVideoToText,
    Task::TextToImage,
    Task::TextToVideo,
    Task::TextTo3d,
    Task::TextImageToImage,
];

/// The checkpoint's files: weights, tokenizer, chat template, processor; no value head and no
/// parity data.
const CHECKPOINT_FILES: [&str; 8] = [
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "preprocessor_config.json",
];

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("local-judge/tests/fixtures")
        .join(name)
}

/// A copy of the tiny Qwen2.5-VL fixture without its value head.
fn headless_checkpoint() -> TempDir {
    let folder = TempDir::new().expect("folder");
    for name in CHECKPOINT_FILES {
        std::fs::copy(
            fixture("qwen2_5_vl_tiny").join(name),
            folder.path().join(name),
        )
        .unwrap_or_else(|error| panic!("{name}: {error}"));
    }
    folder
}

fn command(home: &Path, model: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_omnireward"));
    command
        .arg("--home")
        .arg(home)
        .args(["eval", "checkpoint"])
        .arg(model)
        .args([
            "--max-samples-per-task",
            "2",
            "--max-new-tokens",
            "6",
            "--verdict-attempts",
            "2",
            "--swap",
            "--chunk-items",
            "4",
            "--resamples",
            "50",
            "--json",
        ]);
    command
}

#[test]
fn a_vision_language_chat_model_judges_image_and_video_tasks_and_survives_sigkill() {
    let home = TempDir::new().expect("home");
    let model = headless_checkpoint();

    // Killed once a first chunk is saved, before the run can finish.
    kill_once_saved(command(home.path(), model.path()), home.path());
    let before = saved(home.path()).len();

    let output = command(home.path(), model.path())
        .output()
        .expect("runs omnireward");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON report");
    assert_eq!(report["status"], "finished");
    assert_eq!(
        report["judge"]["architecture"],
        "Qwen2_5_VLForConditionalGeneration"
    );
    let summary = &report["summary"];
    let items = summary["items"].as_u64().expect("items") as usize;
    assert_eq!(summary["already_done"].as_u64(), Some(before as u64));
    assert_eq!(
        summary["judged"].as_u64().expect("judged") as usize + before,
        items
    );
    assert_eq!(summary["reads_media"], true);
    assert_eq!(summary["text_only_prompt"], serde_json::json!([]));
    for task in [Task::TextAudioToText, Task::TextToAudio] {
        assert!(
            summary["not_covered"].get(task.key()).is_some(),
            "{task} should be reported as not covered: {summary}"
        );
    }

    // Exactly one judgement per item, every covered task judged in both settings and orders.
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
    assert_eq!(settings.len(), 2, "both settings judged");
    assert!(
        judgements
            .iter()
            .any(|judgement| judgement.order == Order::Swapped)
    );
    for judgement in &judgements {
        let raw = judgement.raw_output.as_deref().expect("raw output stored");
        let expected = parse_verdict(raw).map(|shown| judgement.order.to_reference(shown));
        assert_eq!(judgement.verdict, expected, "verdict of {raw:?}");
        let attempts = judgement.attempts.expect("attempts");
        assert!((1..=2).contains(&attempts), "{attempts} attempts");
        if judgement.verdict.is_none() {
            assert_eq!(attempts, 2, "an unparseable item is asked again");
        }
        assert!(judgement.output_tokens.unwrap_or(0) > 0);
        assert!(judgement.latency_ms.is_some());
    }
    // The media are in the prompts: a T2V or TV2T prompt (frames) and a TI2I prompt (three
    // images) hold far more tokens than a T2T prompt of the same template.
    let mean_prompt_tokens = |task: Task| {
        let (total, count) = judgements
            .iter()
            .filter(|judgement| judgement.task == task)
            .fold((0u64, 0u64), |(total, count), judgement| {
                let per_attempt = judgement.input_tokens.unwrap_or(0)
                    / u64::from(judgement.attempts.unwrap_or(1).max(1));
                (total + per_attempt, count + 1)
            });
        total / count.max(1)
    };
    for task in [
        Task::TextVideoToText,
        Task::TextToVideo,
        Task::TextImageToImage,
    ] {
        assert!(
            mean_prompt_tokens(task) > mean_prompt_tokens(Task::TextToText) + 20,
            "{task}: {} prompt tokens against T2T's {}",
            mean_prompt_tokens(task),
            mean_prompt_tokens(Task::TextToText)
        );
    }

    // The run: a generative judge's identity with the media rule and decoding options.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let runs = runtime.block_on(async {
        let storage = Storage::open(&home.path().join("omnireward.sqlite"))
            .await
            .expect("opens the database");
        storage.runs().await.expect("reads runs")
    });
    let runs: Vec<_> = runs
        .into_iter()
        .filter(|run| run.provenance == Provenance::Evaluated)
        .collect();
    assert_eq!(runs.len(), 1, "the re-run resumed the run");
    let identity = &runs[0].configuration["identity"];
    assert_eq!(identity["judge"], "generative", "{identity}");
    assert_eq!(
        identity["architecture"],
        "Qwen2_5_VLForConditionalGeneration"
    );
    assert_eq!(identity["decoding"]["max_new_tokens"], 6);
    assert!(
        identity["media_rule"]
            .as_str()
            .is_some_and(|rule| rule.contains("response-video-5-frames")),
        "{identity}"
    );
    let details = &runs[0].configuration["details"];
    assert_eq!(details["media_rule"], identity["media_rule"]);
    assert_eq!(details["decoding"]["max_new_tokens"], 6);
}

#[test]
fn score_with_images_prints_the_verdict_its_text_holds() {
    let home = TempDir::new().expect("home");
    let model = headless_checkpoint();
    let image = |name: &str| {
        fixture("qwen2_vl_processor")
            .join(format!("{name}.png"))
            .to_string_lossy()
            .into_owned()
    };
    let output = Command::new(env!("CARGO_BIN_EXE_omnireward"))
        .arg("--home")
        .arg(home.path())
        .arg("score")
        .arg("--model")
        .arg(model.path())
        .args([
            "--criterion",
            "Which image shows a red square?",
            "--prompt",
            "A red square.",
            "--image1",
            &image("small_20x20"),
            "--image2",
            &image("exact_56x84"),
            "--max-new-tokens",
            "6",
            "--json",
        ])
        .output()
        .expect("runs omnireward");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let outcome: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let text = outcome["text"].as_str().expect("text");
    let generated = outcome["generated_tokens"].as_u64().expect("count");
    assert!(generated > 0 && generated <= 6, "{generated} tokens");
    let expected = parse_verdict(text).map(|verdict| verdict.key());
    assert_eq!(outcome["verdict"].as_str(), expected, "verdict of {text:?}");
    // Both images are in the prompt: far more tokens than the text alone.
    let with_images = outcome["prompt_tokens"].as_u64().expect("count");
    let output = Command::new(env!("CARGO_BIN_EXE_omnireward"))
        .arg("--home")
        .arg(home.path())
        .arg("score")
        .arg("--model")
        .arg(model.path())
        .args([
            "--criterion",
            "Which image shows a red square?",
            "--prompt",
            "A red square.",
            "--response1",
            "red",
            "--response2",
            "blue",
            "--max-new-tokens",
            "6",
            "--json",
        ])
        .output()
        .expect("runs omnireward");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let texts: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert!(texts["text"].is_string());
    assert!(
        with_images > texts["prompt_tokens"].as_u64().expect("count"),
        "{with_images} prompt tokens with images"
    );
}
