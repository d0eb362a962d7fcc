//! Parity of the Qwen2-VL and Qwen2.5-VL reward models with `transformers` 4.57.3: the tiny
//! checkpoints of `tests/fixtures/qwen2_vl_tiny` and `qwen2_5_vl_tiny`, a trl-layout value head,
//! and a right-padded batch of three prompts (one image of 140 × 196 pixels, text only, two
//! images), written by `make_qwen2_vl_decoder.py`: the 3-D rotary positions, the last hidden
//! states and the rewards.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use omnireward_local_judge::models::qwen2_vl::{Qwen2VlRewardModel, VisualPrompt};
use omnireward_local_judge::qwen2_vl_processor::{MediaGrid, MediaKind, Qwen2VlImageProcessor};
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
            media: names.len(),
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
    let media = patches.media();
    let mut items = media.iter();
    for (prompt, case) in prompts.iter().zip(cases) {
        let own: Vec<MediaGrid> = items.by_ref().take(prompt.media).copied().collect();
        let ours = model
            .rope_positions(&prompt.input_ids, &own)
            .expect("positions");
        let axes = case["positions"].as_array().expect("positions");
        for (axis, theirs) in axes.iter().enumerate() {
            let theirs: Vec<u32> = numbers(theirs).into_iter().map(|n| n as u32).collect();
            let ours: Vec<u32> = ours.iter().map(|position| position[axis]).collect();
            assert_eq!(ours, theirs, "{variant}: axis {axis}");
        }
    }
    let (hidden, rewards) = model
        .forward(&prompts, Some(&pixel_values), &media)
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

/// A scored conversation (system = criterion; user = the image, then the prompt; assistant =
/// the response) rendered by the checkpoint's chat template (Qwen2-VL's own), expanded and
/// tokenized, then scored: the text, the token ids and the reward of `transformers`
/// (`make_qwen2_vl_chat.py`).
fn check_conversations(variant: &str) {
    use omnireward_local_judge::models::qwen2_vl::ConversationEncoder;

    let folder = fixtures().join(variant);
    let expected = read_json(&folder.join("chat.json"));
    let model = Qwen2VlRewardModel::load(&folder, DType::F32, &Device::Cpu).expect("model");
    let processor = Qwen2VlImageProcessor::load(&folder).expect("processor");
    let encoder = ConversationEncoder::load(&folder).expect("template and tokenizer");
    for case in expected["conversations"].as_array().expect("conversations") {
        let text = |name: &str| case[name].as_str().expect("text").to_owned();
        let image = image::open(
            fixtures()
                .join("qwen2_vl_processor")
                .join(format!("{}.png", text("image"))),
        )
        .expect("image");
        let patches = processor.preprocess(&[image]).expect("patches");
        let rendered = encoder
            .render(
                &text("criterion"),
                &text("prompt"),
                &[MediaKind::Image],
                &text("response"),
            )
            .expect("rendered");
        assert_eq!(rendered, text("text"), "{variant}");
        let prompt = encoder
            .encode(
                &text("criterion"),
                &text("prompt"),
                &patches.media(),
                model.merge_size(),
                &text("response"),
            )
            .expect("encoded");
        let theirs: Vec<u32> = numbers(&case["input_ids"])
            .into_iter()
            .map(|id| id as u32)
            .collect();
        assert_eq!(prompt.input_ids, theirs, "{variant}");
        let pixel_values = Tensor::from_vec(
            patches.pixel_values.clone(),
            (patches.rows(), patches.features),
            &Device::Cpu,
        )
        .expect("tensor");
        let (_, rewards) = model
            .forward(&[prompt], Some(&pixel_values), &patches.media())
            .expect("forward");
        let reward = rewards.to_vec1::<f32>().expect("reward")[0];
        let theirs = case["reward"].as_f64().expect("reward");
        assert!(
            (f64::from(reward) - theirs).abs() <= 1e-4,
            "{variant}: reward {reward} against {theirs}"
        );
    }
}

#[test]
fn conversations_render_tokenize_and_score_like_transformers() {
    check_conversations("qwen2_vl_tiny");
    check_conversations("qwen2_5_vl_tiny");
}
