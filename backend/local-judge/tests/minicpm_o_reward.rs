//! Parity of the whole MiniCPM-o reward model (Omni-RewardModel-BT's architecture) with the
//! reference code, on the tiny random checkpoint `tests/fixtures/make_minicpm_o.py` wrote with
//! the reference `MiniCPMO`, `MiniCPMOProcessor` and a trl value head: for six conversations
//! (text only; a small picture; a picture cut into slices; four video frames; a 3 s audio clip; a
//! generated picture in the user turn with the prompt as the assistant turn), the token ids our
//! encoder builds equal the reference processor's, and the last hidden state and the reward of
//! each, scored together in one right-padded batch, are within 1e-4 of the reference's, which
//! scored each alone.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, IndexOp};
use image::DynamicImage;
use omnireward_local_judge::models::minicpm_o::{MiniCpmOEncoder, MiniCpmORewardModel, UserMedia};
use serde_json::Value;

fn folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/minicpm_o_tiny")
}

fn read_f32(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    bytes
        .chunks_exact(4)
        .map(|chunk| f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
        .collect()
}

enum Loaded {
    Image(DynamicImage),
    Audio(Vec<f32>),
}

#[test]
fn prompts_hidden_states_and_rewards_equal_the_reference() {
    let cases: Value = serde_json::from_str(
        &std::fs::read_to_string(folder().join("cases.json")).expect("cases.json"),
    )
    .expect("JSON");
    let encoder = MiniCpmOEncoder::load(&folder()).expect("encoder");
    let model = MiniCpmORewardModel::load(&folder(), DType::F32, &Device::Cpu).expect("model");
    let conversations = cases["conversations"].as_array().expect("conversations");
    let mut prompts = Vec::new();
    for case in conversations {
        let name = case["name"].as_str().expect("name");
        let loaded: Vec<Loaded> = case["media"]
            .as_array()
            .expect("media")
            .iter()
            .map(|item| {
                let item = item.as_str().expect("a media name");
                let samples = folder().join(format!("{item}.samples.f32"));
                if samples.is_file() {
                    Loaded::Audio(read_f32(&samples))
                } else {
                    Loaded::Image(image::open(folder().join(format!("{item}.png"))).expect("image"))
                }
            })
            .collect();
        let media: Vec<UserMedia<'_>> = loaded
            .iter()
            .map(|item| match item {
                Loaded::Image(image) => UserMedia::Image(image),
                Loaded::Audio(samples) => UserMedia::Audio(samples),
            })
            .collect();
        let prompt = encoder
            .encode(
                case["criterion"].as_str().expect("criterion"),
                &media,
                case["text"].as_str().expect("text"),
                case["assistant"].as_str().expect("assistant"),
            )
            .expect("prompt");
        let theirs: Vec<u32> = case["input_ids"]
            .as_array()
            .expect("ids")
            .iter()
            .map(|id| id.as_u64().expect("an id") as u32)
            .collect();
        assert_eq!(prompt.input_ids, theirs, "{name}: token ids");
        prompts.push(prompt);
    }
    let (hidden, rewards) = model.forward(&prompts).expect("scored");
    let rewards: Vec<f32> = rewards.to_vec1().expect("rewards");
    for (index, case) in conversations.iter().enumerate() {
        let name = case["name"].as_str().expect("name");
        let ours: Vec<f32> = hidden
            .i(index)
            .and_then(|row| row.to_vec1())
            .expect("hidden");
        let worst = ours
            .iter()
            .zip(case["last_hidden"].as_array().expect("hidden"))
            .map(|(a, b)| (f64::from(*a) - b.as_f64().expect("a number")).abs())
            .fold(0.0, f64::max);
        assert!(
            worst < 1e-4,
            "{name}: last hidden state, largest difference {worst}"
        );
        let expected = case["reward"].as_f64().expect("reward");
        assert!(
            (f64::from(rewards[index]) - expected).abs() < 1e-4,
            "{name}: reward {} against {expected}",
            rewards[index]
        );
    }
}
