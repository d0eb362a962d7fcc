//! Parity of the Qwen2-VL and Qwen2.5-VL reward models with `transformers` 4.57.3: the tiny
//! checkpoints of `tests/fixtures/qwen2_vl_tiny` and `qwen2_5_vl_tiny`, a trl-layout value head,
//! and a right-padded batch of three prompts (one image of 140 × 196 pixels, text only, two
//! images), written by `make_qwen2_vl_decoder.py`: the 3-D rotary positions, the last hidden
//! states and the rewards.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use omnireward_local_judge::models::qwen2_vl::{Qwen2VlRewardModel, VisualPrompt};
use omnireward_local_judge::qwen2_vl_processor::Qwen2VlImageProcessor;
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn read_json(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    serde_json::from_str(&text).expect("JSON")
}

fn numbers(value: &Value) -> Vec<f64> {
    value
        .as_array()
        .expect("a list")
        .iter()
        .map(|number| number.as_f64().expect("a number"))
        .collect()
}

fn check(variant: &str) {
    let folder = fixtures().join(variant);
    let expected = read_json(&folder.join("decoder.json"));
    let model = Qwen2VlRewardModel::load(&folder, DType::F32, &Device::Cpu).expect("model");
    let processor = Qwen2VlImageProcessor::load(&folder).expect("processor");
    let cases = expected["prompts"].as_array().expect("prompts");
    let mut images = Vec::new();
    let mut prompts = Vec::new();
    for case in cases {
        let names = case["images"].as_array().expect("images");
        for name in names {
            let name = name.as_str().expect("a name");
            images.push(
                image::open(
                    fixtures()
                        .join("qwen2_vl_processor")
                        .join(format!("{name}.png")),
                )
                .expect("image"),
            );
        }
        prompts.push(VisualPrompt {
            input_ids: case["input_ids"]
                .as_array()
                .expect("ids")
                .iter()
                .map(|id| u32::try_from(id.as_u64().expect("an id")).expect("fits"))
                .collect(),
            images: names.len(),
        });
    }
    let patches = processor.preprocess(&images).expect("patches");
    let pixel_values = Tensor::from_vec(
        patches.pixel_values.clone(),
        (patches.rows(), patches.features),
        &Device::Cpu,
    )
    .expect("tensor");
    // Positions, prompt by prompt, against transformers' `get_rope_index`.
    let mut grids = patches.grids.iter();
    for (prompt, case) in prompts.iter().zip(cases) {
        let own: Vec<[usize; 3]> = grids.by_ref().take(prompt.images).copied().collect();
        let ours = model.rope_positions(&prompt.input_ids, &own);
        let axes = case["positions"].as_array().expect("positions");
        for (axis, theirs) in axes.iter().enumerate() {
            let theirs: Vec<u32> = numbers(theirs).into_iter().map(|n| n as u32).collect();
            let ours: Vec<u32> = ours.iter().map(|position| position[axis]).collect();
            assert_eq!(ours, theirs, "{variant}: axis {axis}");
        }
    }
    let (hidden, rewards) = model
        .forward(&prompts, Some(&pixel_values), &patches.grids)
        .expect("forward");
    let hidden = hidden.to_vec2::<f32>().expect("hidden");
    let rewards = rewards.to_vec1::<f32>().expect("rewards");
    for (index, case) in cases.iter().enumerate() {
        let theirs = numbers(&case["last_hidden_state"]);
        let worst = hidden[index]
            .iter()
            .zip(&theirs)
            .map(|(ours, theirs)| (f64::from(*ours) - theirs).abs())
            .fold(0.0, f64::max);
        assert!(
            worst <= 1e-4,
            "{variant} prompt {index}: hidden state off by {worst}"
        );
        let reward = case["reward"].as_f64().expect("reward");
        assert!(
            (f64::from(rewards[index]) - reward).abs() <= 1e-4,
            "{variant} prompt {index}: reward {} against {reward}",
            rewards[index]
        );
    }
}

#[test]
fn a_qwen2_vl_value_head_model_scores_like_transformers() {
    check("qwen2_vl_tiny");
}

#[test]
fn a_qwen2_5_vl_value_head_model_scores_like_transformers() {
    check("qwen2_5_vl_tiny");
}
