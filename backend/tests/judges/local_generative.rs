//! A local generative judge end to end: `eval checkpoint` on SmolLM2-135M-Instruct (the GGUF
//! file `scripts/setup.sh` installs in `.cache/models/smollm2-135m-instruct/`) judges the
//! embedded sample's T2T in both settings with A/B swapped too; every stored verdict follows
//! from its stored raw output; a run killed with SIGKILL mid-way and run again ends with
//! exactly one judgement per item. Generation is limited (`--max-new-tokens`, the first samples
//! of the task) so the test stays short on two cores.
//!
//! When the model is missing the test skips, saying so, unless `OMNIREWARD_REQUIRE_LLAMA_CPP=1`
//! (set by `scripts/test.sh` after setup), where it fails.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use omnireward_shared::{Judgement, Order, Setting, parse_verdict};
use serde_json::Value;
use tempfile::TempDir;

use crate::support::home_runs::{kill_once_saved, saved};

/// Samples of T2T judged (of the sample's 16).
const SAMPLES: &str = "3";

fn model_file() -> Option<PathBuf> {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../.cache/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf");
    if file.is_file() {
        return Some(file);
    }
    assert!(
        std::env::var("OMNIREWARD_REQUIRE_LLAMA_CPP").as_deref() != Ok("1"),
        "OMNIREWARD_REQUIRE_LLAMA_CPP=1 but {} is missing (scripts/setup.sh installs it)",
        file.display()
    );
    eprintln!(
        "skipped: {} is missing (scripts/setup.sh installs it)",
        file.display()
    );
    None
}

fn command(home: &Path, model: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_omnireward"));
    command
        .arg("--home")
        .arg(home)
        .args(["eval", "checkpoint"])
        .arg(model)
        .args([
            "--tasks",
            "t2t",
            "--max-samples-per-task",
            SAMPLES,
            "--max-new-tokens",
            "24",
            "--verdict-attempts",
            "2",
            "--swap",
            "--chunk-items",
            "2",
            "--resamples",
            "50",
            "--json",
        ]);
    command
}

#[test]
fn smollm2_judges_t2t_with_verdicts_from_its_outputs_and_survives_sigkill() {
    let Some(model) = model_file() else {
        return;
    };
    let home = TempDir::new().expect("home");

    // Killed once a first chunk is saved, before the run can finish.
    kill_once_saved(command(home.path(), &model), home.path());
    let before = saved(home.path()).len();

    let output = command(home.path(), &model)
        .output()
        .expect("runs omnireward");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON report");
    assert_eq!(report["status"], "finished");
    assert_eq!(report["judge"]["format"], "gguf");
    let summary = &report["summary"];
    let items = summary["items"].as_u64().expect("items") as usize;
    assert_eq!(summary["already_done"].as_u64(), Some(before as u64));
    assert_eq!(
        summary["judged"].as_u64().expect("judged") as usize + before,
        items
    );

    let judgements = saved(home.path());
    assert_eq!(
        judgements.len(),
        items,
        "one judgement per item, none twice"
    );
    let keys: BTreeSet<_> = judgements.iter().map(Judgement::key).collect();
    assert_eq!(keys.len(), items);
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
        assert!(judgement.input_tokens.unwrap_or(0) > 0);
        assert!(judgement.output_tokens.unwrap_or(0) > 0);
        assert!(judgement.latency_ms.is_some());
    }
}

#[test]
fn score_prints_the_verdict_its_text_holds() {
    let Some(model) = model_file() else {
        return;
    };
    let home = TempDir::new().expect("home");
    let output = Command::new(env!("CARGO_BIN_EXE_omnireward"))
        .arg("--home")
        .arg(home.path())
        .arg("score")
        .arg("--model")
        .arg(&model)
        .args([
            "--criterion",
            "Which answer is correct?",
            "--prompt",
            "What is 2 + 2?",
            "--response1",
            "4",
            "--response2",
            "5",
            "--max-new-tokens",
            "24",
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
    assert!(generated > 0 && generated <= 24, "{generated} tokens");
    let expected = parse_verdict(text).map(|verdict| verdict.key());
    assert_eq!(outcome["verdict"].as_str(), expected, "verdict of {text:?}");
}

#[test]
fn reward_model_options_are_refused_for_a_chat_model() {
    let home = TempDir::new().expect("home");
    let folder =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("local-judge/tests/fixtures/qwen2_causal");
    let output = Command::new(env!("CARGO_BIN_EXE_omnireward"))
        .arg("--home")
        .arg(home.path())
        .args(["eval", "checkpoint"])
        .arg(&folder)
        .args(["--reward-label", "1"])
        .output()
        .expect("runs omnireward");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--reward-label") && stderr.contains("chat model"),
        "{stderr}"
    );
}
