//! Reading the committed parity fixtures (`tests/fixtures/<name>/reference.json`, written by the
//! Python generators next to them) and comparing our rewards with transformers'.

#![allow(dead_code)]

use std::path::PathBuf;

use omnireward_local_judge::input::{ScoringText, TruncationSide};
use omnireward_local_judge::judge::{LocalJudge, LocalJudgeOptions};
use serde::Deserialize;

/// Absolute tolerance for f32 rewards on the CPU (the bar).
pub const TOLERANCE: f32 = 1e-4;

#[derive(Debug, Deserialize)]
pub struct Input {
    pub criterion: String,
    pub prompt: String,
    pub response: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct ReferenceOptions {
    pub max_length: Option<usize>,
    pub truncation: Option<String>,
    pub separator: Option<String>,
    pub reward_label: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Reference {
    pub generator: String,
    pub options: ReferenceOptions,
    pub inputs: Vec<Input>,
    pub formatted: Vec<String>,
    pub token_ids: Vec<Vec<u32>>,
    pub rewards: Vec<f32>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub fn reference(name: &str) -> Reference {
    let file = fixture(name).join("reference.json");
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|error| panic!("{}: {error}", file.display()));
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("{}: {error}", file.display()))
}

pub fn options(reference: &Reference) -> LocalJudgeOptions {
    LocalJudgeOptions {
        max_length: reference.options.max_length,
        truncation: match reference.options.truncation.as_deref() {
            Some("left") => TruncationSide::Left,
            _ => TruncationSide::Right,
        },
        separator: reference.options.separator.clone(),
        reward_label: match &reference.options.reward_label {
            None => Default::default(),
            Some(label) => match label.parse() {
                Ok(index) => omnireward_local_judge::models::RewardLabel::Index(index),
                Err(_) => omnireward_local_judge::models::RewardLabel::Name(label.clone()),
            },
        },
        ..LocalJudgeOptions::default()
    }
}

pub fn load(name: &str) -> (LocalJudge, Reference) {
    let reference = reference(name);
    let judge = LocalJudge::load(&fixture(name), &options(&reference))
        .unwrap_or_else(|error| panic!("loading fixture {name}: {error}"));
    (judge, reference)
}

/// Checks formatting, token ids, rewards (within [`TOLERANCE`]) and pairwise outcomes of a text
/// reward model against its reference, with a small batch budget so that padding is exercised.
pub fn assert_text_parity(name: &str) {
    let (judge, reference) = load(name);
    let texts: Vec<ScoringText<'_>> = reference
        .inputs
        .iter()
        .map(|input| ScoringText {
            criterion: &input.criterion,
            prompt: &input.prompt,
            response: &input.response,
        })
        .collect();
    for (index, text) in texts.iter().enumerate() {
        let formatted = judge.encoder().format(text).expect("formats");
        assert_eq!(
            formatted, reference.formatted[index],
            "{name}: formatted input {index}"
        );
        let encoded = judge.encoder().encode(text).expect("encodes");
        assert_eq!(
            encoded.ids, reference.token_ids[index],
            "{name}: token ids of input {index}"
        );
    }
    let pairs: Vec<[ScoringText<'_>; 2]> = texts
        .chunks_exact(2)
        .map(|pair| [pair[0], pair[1]])
        .collect();
    let rewards: Vec<f32> = judge
        .score_text_pairs(&pairs, &mut |_| {})
        .expect("scores")
        .into_iter()
        .flatten()
        .collect();
    assert_rewards_match(name, &rewards, &reference.rewards);
}

pub fn assert_rewards_match(name: &str, ours: &[f32], theirs: &[f32]) {
    assert_eq!(ours.len(), theirs.len(), "{name}: number of rewards");
    for (index, (ours, theirs)) in ours.iter().zip(theirs).enumerate() {
        assert!(
            (ours - theirs).abs() <= TOLERANCE,
            "{name}: reward {index}: ours {ours}, transformers {theirs}"
        );
    }
    for (pair, (ours, theirs)) in ours.chunks_exact(2).zip(theirs.chunks_exact(2)).enumerate() {
        assert_eq!(
            ours[0].partial_cmp(&ours[1]),
            theirs[0].partial_cmp(&theirs[1]),
            "{name}: outcome of pair {pair}"
        );
    }
}
