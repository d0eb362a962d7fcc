//! The default model: the Bradley-Terry head shipped in `backend/assets/models/minilm-bt-head/`,
//! assembled onto the installed all-MiniLM-L6-v2 by `scripts/assemble_model.py` (what
//! `scripts/setup.sh` runs), scores like the full trained folder it came from, and is what
//! `score` and `serve`'s demo use when no model is named.
//!
//! The rewards below were recorded with `omnireward score --model` on the full trained folder
//! (`docs/benchmarks.md`, "The trained MiniLM head against the zero-training baseline") before
//! its head was extracted. The tests that need the backbone skip, saying so, when it is not
//! installed, unless `OMNIREWARD_REQUIRE_DEFAULT_MODEL=1` (set by `scripts/test.sh`, which runs
//! `scripts/setup.sh` first), where they fail.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use tempfile::TempDir;

/// The default model's leaderboard and demo name (`cli::local_model::DEFAULT_MODEL_NAME`).
const DEFAULT_MODEL_NAME: &str = "MiniLM + Bradley-Terry head (omnireward synthetic v1)";

/// The same absolute tolerance as the trained folder's own numerics allow: both are f32 on the
/// CPU over identical tensors, so anything larger is a different model.
const TOLERANCE: f32 = 1e-5;

/// A criterion, a prompt, two responses and the full trained folder's rewards for them.
struct RecordedPair {
    criterion: &'static str,
    prompt: &'static str,
    responses: [&'static str; 2],
    rewards: [f32; 2],
}

const RECORDED: [RecordedPair; 3] = [
    RecordedPair {
        criterion: "Prefer the factually correct answer.",
        prompt: "What is the capital of France?",
        responses: [
            "The capital of France is Paris.",
            "The capital of France is Berlin.",
        ],
        rewards: [-4.631_302_4, -10.247_712],
    },
    RecordedPair {
        criterion: "Prefer the more helpful and complete answer.",
        prompt: "How do I boil an egg?",
        responses: [
            "Place the egg in boiling water for about nine minutes, then cool it in cold water.",
            "Eggs are food.",
        ],
        rewards: [0.339_198_86, 3.663_922_8],
    },
    RecordedPair {
        criterion: "Prefer the answer that follows the requested format: a single number.",
        prompt: "How many legs does a spider have?",
        responses: [
            "8",
            "Spiders are arachnids and they have quite a few legs, usually eight of them, though \
             it varies by how you count.",
        ],
        rewards: [-10.679_271, -3.111_968_5],
    },
];

fn checkout() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn head_folder() -> PathBuf {
    checkout().join("backend/assets/models/minilm-bt-head")
}

/// The installed backbone, or `None` (with the reason printed) when setup has not run here.
fn installed_backbone() -> Option<PathBuf> {
    let folder = checkout().join(".cache/models/all-MiniLM-L6-v2");
    if folder.join("model.safetensors").is_file() {
        Some(folder)
    } else {
        // scripts/test.sh sets this after running setup: there a missing model is a failure.
        assert!(
            std::env::var("OMNIREWARD_REQUIRE_DEFAULT_MODEL").as_deref() != Ok("1"),
            "OMNIREWARD_REQUIRE_DEFAULT_MODEL=1 but all-MiniLM-L6-v2 is not installed at {}",
            folder.display()
        );
        eprintln!(
            "skipped: all-MiniLM-L6-v2 is not installed at {} (scripts/setup.sh installs it)",
            folder.display()
        );
        None
    }
}

/// Runs `scripts/assemble_model.py assemble`, returning its exit status and stderr.
fn assemble(backbone: &Path, target: &Path) -> (bool, String) {
    let output = Command::new("python3")
        .arg(checkout().join("scripts/assemble_model.py"))
        .arg("assemble")
        .arg(backbone)
        .arg(head_folder())
        .arg(target)
        .output()
        .expect("runs python3");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A home folder with the default model assembled where `omnireward` looks for it.
fn home_with_default_model(backbone: &Path) -> TempDir {
    let home = TempDir::new().expect("home");
    let (assembled, stderr) = assemble(backbone, &home.path().join("models/omnireward-minilm-bt"));
    assert!(assembled, "assembly failed: {stderr}");
    home
}

fn omnireward(home: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_omnireward"));
    command
        .arg("--home")
        .arg(home)
        .env_remove("OMNIREWARD_DEFAULT_MODEL");
    command
}

fn assert_rewards(label: &str, found: [f32; 2], expected: [f32; 2]) {
    for (found, expected) in found.into_iter().zip(expected) {
        assert!(
            (found - expected).abs() <= TOLERANCE,
            "{label}: reward {found}, recorded {expected} (tolerance {TOLERANCE})"
        );
    }
}

fn rewards_of(document: &Value) -> [f32; 2] {
    ["reward1", "reward2"].map(|field| {
        document[field]
            .as_f64()
            .unwrap_or_else(|| panic!("no `{field}` in {document}")) as f32
    })
}

#[test]
fn the_assembled_default_model_scores_like_the_full_trained_folder() {
    let Some(backbone) = installed_backbone() else {
        return;
    };
    let home = home_with_default_model(&backbone);
    // Assembling again over a complete folder changes nothing (setup.sh runs it every time).
    let weights = home
        .path()
        .join("models/omnireward-minilm-bt/model.safetensors");
    let written = std::fs::metadata(&weights).expect("weights").modified();
    let (again, stderr) = assemble(&backbone, &home.path().join("models/omnireward-minilm-bt"));
    assert!(again, "second assembly failed: {stderr}");
    assert_eq!(
        std::fs::metadata(&weights)
            .expect("weights")
            .modified()
            .ok(),
        written.ok()
    );

    for (index, pair) in RECORDED.iter().enumerate() {
        // No --model: `score` falls back to the default model in the home folder.
        let output = omnireward(home.path())
            .args(["score", "--json", "--criterion", pair.criterion])
            .args(["--prompt", pair.prompt])
            .args(["--response1", pair.responses[0]])
            .args(["--response2", pair.responses[1]])
            .output()
            .expect("runs omnireward");
        assert!(
            output.status.success(),
            "score failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let document: Value = serde_json::from_slice(&output.stdout).expect("JSON");
        assert_rewards(
            &format!("pair {index}"),
            rewards_of(&document),
            pair.rewards,
        );
    }
}

#[test]
fn assembly_refuses_a_backbone_other_than_the_pinned_one() {
    let folder = TempDir::new().expect("folder");
    let backbone = folder.path().join("backbone");
    std::fs::create_dir(&backbone).expect("backbone folder");
    // A well-formed safetensors file with one tensor: not all-MiniLM-L6-v2.
    let header = br#"{"pooler.dense.bias":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#;
    let mut weights = (header.len() as u64).to_le_bytes().to_vec();
    weights.extend_from_slice(header);
    weights.extend_from_slice(&1.0_f32.to_le_bytes());
    std::fs::write(backbone.join("model.safetensors"), weights).expect("weights");

    let target = folder.path().join("assembled");
    let (assembled, stderr) = assemble(&backbone, &target);
    assert!(!assembled, "a foreign backbone was assembled");
    assert!(
        stderr.contains("model.safetensors: SHA-256") && stderr.contains("assembly.json"),
        "the refusal names the file and the pin: {stderr}"
    );
    assert!(!target.exists(), "nothing is left behind");
}

#[test]
fn a_missing_default_model_is_explained() {
    let home = TempDir::new().expect("home");
    let missing = home.path().join("not-installed");
    let output = omnireward(home.path())
        .env("OMNIREWARD_DEFAULT_MODEL", &missing)
        .args(["score", "--criterion", "c", "--prompt", "p"])
        .args(["--response1", "a", "--response2", "b"])
        .output()
        .expect("runs omnireward");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(DEFAULT_MODEL_NAME)
            && stderr.contains(&missing.display().to_string())
            && stderr.contains("scripts/setup.sh"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_serves_the_default_model_under_its_name() {
    let Some(backbone) = installed_backbone() else {
        return;
    };
    let home = home_with_default_model(&backbone);
    let mut server = omnireward(home.path())
        .args(["serve", "--bind", "127.0.0.1:0", "--workers", "0"])
        .arg("--web-bundle")
        .arg(home.path().join("no-bundle"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts the server");
    let stderr = server.stderr.take().expect("stderr");
    let (address_sender, address) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sender = Some(address_sender);
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            eprintln!("server: {line}");
            if let Some(rest) = line.split("on http://").nth(1)
                && let Some(sender) = sender.take()
            {
                let _ = sender.send(rest.split('/').next().unwrap_or_default().to_owned());
            }
        }
    });
    let address = address
        .recv_timeout(Duration::from_secs(120))
        .expect("the server says where it listens");

    let pair = &RECORDED[0];
    let response = reqwest::Client::new()
        .post(format!("http://{address}/api/v1/score"))
        .json(&json!({
            "criterion": pair.criterion,
            "prompt": pair.prompt,
            "response1": pair.responses[0],
            "response2": pair.responses[1],
        }))
        .send()
        .await
        .expect("scores");
    let status = response.status();
    let document: Value = response.json().await.expect("JSON");
    server.kill().expect("stops the server");
    let _ = server.wait();
    assert_eq!(status.as_u16(), 200, "{document}");
    assert_eq!(document["model"], DEFAULT_MODEL_NAME);
    assert_rewards("demo", rewards_of(&document), pair.rewards);
}
