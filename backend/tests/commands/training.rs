//! `omnireward train` end to end: a head trained on a sentence-encoder backbone (the tiny
//! `BertModel` fixture, shaped like the default all-MiniLM-L6-v2) with the benchmark probe, the
//! trained folder evaluated by `eval checkpoint`, and its training record served by
//! `GET /api/v1/models/{id}` and visible on the leaderboard.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use omnireward::data::{LoadOptions, embedded};
use omnireward::http::{AppState, app};
use omnireward::storage::Storage;
use serde_json::Value;
use tempfile::TempDir;
use tower::ServiceExt as _;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("local-judge/tests/fixtures")
        .join(name)
}

fn omnireward(home: &TempDir, arguments: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_omnireward"))
        .arg("--home")
        .arg(home.path())
        .args(arguments)
        .output()
        .expect("runs omnireward");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

async fn get_json(router: &axum::Router, uri: &str) -> Value {
    let response = router
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).expect("request"))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK, "{uri}");
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    serde_json::from_slice(&bytes).expect("json")
}

#[tokio::test]
async fn a_trained_checkpoint_is_evaluated_and_its_training_record_is_served() {
    let home = TempDir::new().expect("home");
    let output = home.path().join("trained");
    let output_text = output.to_str().expect("utf-8 path");
    let backbone = fixture("bert-embedding-tiny");
    let (code, stdout, stderr) = omnireward(
        &home,
        &[
            "train",
            "--model",
            backbone.to_str().expect("utf-8 path"),
            "--output",
            output_text,
            "--synthetic-pairs",
            "96",
            "--batch-pairs",
            "8",
            "--epochs",
            "2",
            "--learning-rate",
            "1e-2",
            "--validate-every",
            "5",
            "--tasks",
            "T2T",
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("BertModel → BertForSequenceClassification"),
        "{stdout}"
    );
    for file in [
        "model.safetensors",
        "config.json",
        "tokenizer.json",
        "training_record.json",
        "training_curve.svg",
    ] {
        assert!(output.join(file).is_file(), "{file} missing");
    }
    let record: Value = serde_json::from_str(
        &std::fs::read_to_string(output.join("training_record.json")).expect("record"),
    )
    .expect("record json");
    assert_eq!(record["architecture"], "BertForSequenceClassification");
    assert_eq!(record["data"][0]["name"], "synthetic");
    // 96 pairs, 5 % (5) held out: 91 to train, 12 steps per epoch of 8.
    assert_eq!(record["training_pairs"], 91);
    assert_eq!(record["steps"], 24);
    let benchmark = record["final_validation"]["benchmark"]
        .as_array()
        .expect("the probe ran");
    assert_eq!(benchmark.len(), 2, "both settings: {benchmark:?}");

    // Running again finds the finished schedule in the last checkpoint and only rewrites the model.
    let (code, stdout, stderr) = omnireward(
        &home,
        &[
            "train",
            "--model",
            backbone.to_str().expect("utf-8 path"),
            "--output",
            output_text,
            "--synthetic-pairs",
            "96",
            "--batch-pairs",
            "8",
            "--epochs",
            "2",
            "--learning-rate",
            "1e-2",
            "--validate-every",
            "5",
            "--tasks",
            "T2T",
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");

    let (code, stdout, stderr) = omnireward(
        &home,
        &[
            "eval",
            "checkpoint",
            output_text,
            "--name",
            "trained-tiny",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let report: Value = serde_json::from_str(&stdout).expect("report");
    assert_eq!(report["status"], "finished");
    let run = report["run"].as_i64().expect("run id");

    let storage = Storage::open(&home.path().join("omnireward.sqlite"))
        .await
        .expect("database");
    let benchmark = Arc::new(
        embedded::load(&home.path().join("cache"), &LoadOptions::default()).expect("sample"),
    );
    let router = app(AppState::new(storage, benchmark));
    let run_view = get_json(&router, &format!("/api/v1/runs/{run}")).await;
    let model = run_view["model"]["id"].as_i64().expect("model id");
    let model_view = get_json(&router, &format!("/api/v1/models/{model}")).await;
    assert_eq!(model_view["name"], "trained-tiny");
    assert_eq!(model_view["training"]["steps"], 24);
    assert_eq!(
        model_view["training"]["hyperparameters"]["learning_rate"],
        1e-2
    );
    assert_eq!(model_view["training"]["data"][0]["pairs_read"], 96);
    let leaderboard = get_json(&router, "/api/v1/leaderboard?setting=without_ties").await;
    let rows = leaderboard["rows"].as_array().expect("rows");
    assert!(
        rows.iter()
            .any(|row| row["model"] == "trained-tiny" && row["model_id"] == model),
        "the trained model is a leaderboard row"
    );
    // The model's web page shows the record.
    let response = router
        .clone()
        .oneshot(
            Request::get(format!("/models/{model}"))
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    let html = String::from_utf8(bytes.to_vec()).expect("utf-8");
    assert!(
        html.contains(r#"id="training""#) && html.contains("<dt>steps</dt><dd>24</dd>"),
        "{html}"
    );
}

/// `train --train all` on the synthetic pairs: stopped by `--max-steps` and started again, it
/// ends with the same weights, byte for byte, as a run that was never stopped.
#[test]
fn training_every_weight_resumes_to_the_same_model_as_an_uninterrupted_run() {
    let home = TempDir::new().expect("home");
    let backbone = fixture("bert-embedding-tiny");
    // Exit code 0 when the schedule is done, 3 when `--max-steps` stopped it.
    let train = |output: &std::path::Path, extra: &[&str], expected_code: i32| {
        let mut arguments = vec![
            "train",
            "--model",
            backbone.to_str().expect("utf-8 path"),
            "--output",
            output.to_str().expect("utf-8 path"),
            "--train",
            "all",
            "--synthetic-pairs",
            "64",
            "--batch-pairs",
            "8",
            "--epochs",
            "2",
            "--learning-rate",
            "1e-3",
            "--no-eval",
        ];
        arguments.extend_from_slice(extra);
        let (code, stdout, stderr) = omnireward(&home, &arguments);
        assert_eq!(code, expected_code, "{stdout}\n{stderr}");
    };
    let uninterrupted = home.path().join("uninterrupted");
    train(&uninterrupted, &[], 0);
    let resumed = home.path().join("resumed");
    train(&resumed, &["--max-steps", "5"], 3);
    assert!(
        !resumed.join("model.safetensors").exists(),
        "a stopped run writes checkpoints, not the final model"
    );
    train(&resumed, &[], 0);

    let record: Value = serde_json::from_str(
        &std::fs::read_to_string(resumed.join("training_record.json")).expect("record"),
    )
    .expect("record json");
    assert_eq!(record["hyperparameters"]["trainable"], "all");
    assert_eq!(record["resumed_from_step"], 5);
    assert_eq!(
        record["trainable_parameters"], record["parameters"],
        "every weight trains"
    );
    let weights = |folder: &std::path::Path| {
        std::fs::read(folder.join("model.safetensors")).expect("weights")
    };
    assert!(
        weights(&uninterrupted) == weights(&resumed),
        "the resumed run's weights differ from the uninterrupted run's"
    );
}

/// Writes `count` generation pairs (a colour word in the prompt, the chosen image of that colour)
/// and one text pair into `folder/pairs.json`, with the images beside it.
fn write_image_pairs(folder: &std::path::Path, count: usize) -> PathBuf {
    let colours = [("red", [220u8, 30, 30]), ("blue", [30, 40, 220])];
    std::fs::create_dir_all(folder).expect("folder");
    let mut records = Vec::new();
    for index in 0..count {
        let (wanted, other) = (colours[index % 2], colours[(index + 1) % 2]);
        let write = |colour: [u8; 3], side: &str| {
            let name = format!("{index}-{side}.png");
            let shade = (index * 3) as u8;
            image::RgbImage::from_pixel(
                36,
                32,
                image::Rgb(colour.map(|c| c.saturating_sub(shade))),
            )
            .save(folder.join(&name))
            .expect("png");
            name
        };
        let images = [write(wanted.1, "chosen"), write(other.1, "rejected")];
        records.push(serde_json::json!({
            "conversations": [{"from": "human", "value": format!("a {} square<image><image>", wanted.0)}],
            "chosen": {"from": "gpt", "value": "<image>"},
            "rejected": {"from": "gpt", "value": "<image>"},
            "images": images
        }));
    }
    // A text pair, which an image-text model leaves out (counted in the record).
    records.push(serde_json::json!({
        "conversations": [{"from": "human", "value": "Say hi"}],
        "chosen": "Hi!",
        "rejected": "No."
    }));
    let file = folder.join("pairs.json");
    std::fs::write(&file, serde_json::to_string(&records).expect("json")).expect("pairs");
    file
}

/// `train` on a CLIP checkpoint and image pairs: text pairs are counted as left out, the folder
/// is written in the Hugging Face layout, and `eval checkpoint` scores it on image tasks.
#[test]
fn a_clip_model_trains_on_image_pairs_and_is_evaluated_as_a_checkpoint() {
    let home = TempDir::new().expect("home");
    let data = write_image_pairs(&home.path().join("data"), 24);
    let output = home.path().join("trained-clip");
    let output_text = output.to_str().expect("utf-8 path");
    let (code, stdout, stderr) = omnireward(
        &home,
        &[
            "train",
            "--model",
            fixture("clip").to_str().expect("utf-8 path"),
            "--data",
            data.to_str().expect("utf-8 path"),
            "--output",
            output_text,
            "--batch-pairs",
            "4",
            "--validation-fraction",
            "0.25",
            "--learning-rate",
            "1e-2",
            "--no-eval",
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    for file in [
        "model.safetensors",
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "preprocessor_config.json",
        "training_record.json",
    ] {
        assert!(output.join(file).is_file(), "{file} missing");
    }
    let record: Value = serde_json::from_str(
        &std::fs::read_to_string(output.join("training_record.json")).expect("record"),
    )
    .expect("record json");
    assert_eq!(record["architecture"], "CLIPModel");
    assert_eq!(record["data"][0]["pairs_read"], 25);
    assert_eq!(record["data"][0]["pairs_kept"], 24);
    assert_eq!(record["data"][0]["text_answers_skipped"], 1);
    assert_eq!(record["training_pairs"], 18);

    let (code, stdout, stderr) = omnireward(
        &home,
        &[
            "eval",
            "checkpoint",
            output_text,
            "--name",
            "trained-clip",
            "--tasks",
            "T2I",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let report: Value = serde_json::from_str(&stdout).expect("report");
    assert_eq!(report["status"], "finished", "{report}");
    assert!(
        report["summary"]["scored"]
            .as_u64()
            .is_some_and(|scored| scored > 0),
        "no image sample was scored: {report}"
    );
}
