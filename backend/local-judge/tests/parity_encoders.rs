//! Parity of the encoder families with `transformers` and sentence-transformers: tiny
//! random-weight checkpoints written by `tests/fixtures/make_encoders.py` (rewards, formatted
//! inputs and token ids), a tiny `BertModel` for the embedding path, the real all-MiniLM-L6-v2
//! (the default judge) against committed sentence-transformers embeddings, and rewards that do
//! not depend on padding.

mod support;

use std::path::PathBuf;

use omnireward_local_judge::input::ScoringText;
use omnireward_local_judge::judge::{LocalJudge, LocalJudgeOptions};
use omnireward_local_judge::models::RewardLabel;
use serde::Deserialize;

/// The classifier fixtures, one per family variant.
const CLASSIFIERS: [&str; 10] = [
    "bert-tiny",
    "bert-tiny-two-labels",
    "xlm-roberta-tiny",
    "deberta-v2-tiny",
    "deberta-v2-tiny-unshared",
    "deberta-v2-tiny-absolute",
    "deberta-v2-tiny-c2p",
    "deberta-v2-tiny-p2c",
    "modernbert-tiny-cls",
    "modernbert-tiny-mean",
];

#[test]
fn bert_matches_transformers() {
    support::assert_text_parity("bert-tiny");
}

#[test]
fn bert_with_two_labels_reads_the_named_label() {
    support::assert_text_parity("bert-tiny-two-labels");
}

#[test]
fn xlm_roberta_matches_transformers() {
    support::assert_text_parity("xlm-roberta-tiny");
}

#[test]
fn deberta_v2_with_shared_keys_and_buckets_matches_transformers() {
    support::assert_text_parity("deberta-v2-tiny");
}

#[test]
fn deberta_v2_with_separate_position_projections_matches_transformers() {
    support::assert_text_parity("deberta-v2-tiny-unshared");
}

#[test]
fn deberta_v2_without_relative_attention_matches_transformers() {
    support::assert_text_parity("deberta-v2-tiny-absolute");
}

#[test]
fn deberta_v2_with_content_to_position_only_matches_transformers() {
    support::assert_text_parity("deberta-v2-tiny-c2p");
}

#[test]
fn deberta_v2_with_position_to_content_only_matches_transformers() {
    support::assert_text_parity("deberta-v2-tiny-p2c");
}

#[test]
fn modernbert_with_cls_pooling_matches_transformers() {
    support::assert_text_parity("modernbert-tiny-cls");
}

#[test]
fn modernbert_with_mean_pooling_matches_transformers() {
    support::assert_text_parity("modernbert-tiny-mean");
}

#[test]
fn a_head_with_two_outputs_needs_a_reward_label() {
    for (label, expected) in [
        (RewardLabel::Single, "--reward-label"),
        (RewardLabel::Index(2), "out of range"),
    ] {
        let options = LocalJudgeOptions {
            reward_label: label,
            ..LocalJudgeOptions::default()
        };
        let error = LocalJudge::load(&support::fixture("xlm-roberta-tiny"), &options)
            .err()
            .expect("refused");
        assert!(error.to_string().contains(expected), "{error}");
    }
}

/// The reward of a short input scored in a batch of its own length, and scored next to the
/// longest input (so padded to its length), must be the same.
#[test]
fn rewards_do_not_depend_on_padding() {
    for name in CLASSIFIERS {
        let (judge, reference) = support::load(name);
        let text = |index: usize| ScoringText {
            criterion: &reference.inputs[index].criterion,
            prompt: &reference.inputs[index].prompt,
            response: &reference.inputs[index].response,
        };
        let lengths: Vec<usize> = reference.token_ids.iter().map(Vec::len).collect();
        let shortest = (0..lengths.len())
            .min_by_key(|&index| lengths[index])
            .expect("inputs");
        let longest = (0..lengths.len())
            .max_by_key(|&index| lengths[index])
            .expect("inputs");
        assert!(
            lengths[longest] > lengths[shortest] + 8,
            "{name}: {lengths:?}"
        );

        let alone = judge
            .score_text_pairs(&[[text(shortest), text(shortest)]], &mut |_| {})
            .expect("scores alone");
        let padded = judge
            .score_text_pairs(&[[text(shortest), text(longest)]], &mut |_| {})
            .expect("scores padded");
        let difference = (alone[0][0] - padded[0][0]).abs();
        assert!(
            difference <= 1e-5,
            "{name}: reward alone {} but {} when padded from {} to {} tokens",
            alone[0][0],
            padded[0][0],
            lengths[shortest],
            lengths[longest]
        );
        assert_eq!(alone[0][0], alone[0][1], "{name}: same input, same batch");
    }
}

fn assert_embeddings_match(name: &str, ours: &[Vec<f32>], theirs: &[Vec<f32>]) {
    assert_eq!(ours.len(), theirs.len(), "{name}: number of embeddings");
    for (row, (ours, theirs)) in ours.iter().zip(theirs).enumerate() {
        assert_eq!(
            ours.len(),
            theirs.len(),
            "{name}: dimension of embedding {row}"
        );
        let worst = ours
            .iter()
            .zip(theirs)
            .map(|(ours, theirs)| (ours - theirs).abs())
            .fold(0.0f32, f32::max);
        assert!(
            worst <= support::TOLERANCE,
            "{name}: embedding {row} differs by {worst}"
        );
        let norm = ours.iter().map(|value| value * value).sum::<f32>().sqrt();
        assert!(
            (norm - 1.0).abs() < 1e-5,
            "{name}: embedding {row} has norm {norm}"
        );
    }
}

fn reference_embeddings(reference: &support::Reference) -> Vec<Vec<f32>> {
    serde_json::from_value(reference.extra["embeddings"].clone()).expect("embeddings")
}

fn scoring_pairs(inputs: &[support::Input]) -> Vec<[ScoringText<'_>; 2]> {
    inputs
        .chunks_exact(2)
        .map(|pair| {
            [0, 1].map(|side| ScoringText {
                criterion: &pair[side].criterion,
                prompt: &pair[side].prompt,
                response: &pair[side].response,
            })
        })
        .collect()
}

#[test]
fn bert_embeddings_match_mean_pooled_transformers() {
    let name = "bert-embedding-tiny";
    let (judge, reference) = support::load(name);
    assert!(!judge.reads_images());
    let texts: Vec<&str> = reference.formatted.iter().map(String::as_str).collect();
    for (index, text) in texts.iter().enumerate() {
        let encoded = judge.encoder().encode_formatted(text).expect("encodes");
        assert_eq!(
            encoded.ids, reference.token_ids[index],
            "{name}: token ids of text {index}"
        );
    }
    let embeddings = judge.embed_texts(&texts).expect("embeds");
    assert_embeddings_match(name, &embeddings, &reference_embeddings(&reference));
}

#[test]
fn bert_embedding_relevance_rewards_match() {
    let name = "bert-embedding-tiny";
    let (judge, reference) = support::load(name);
    let rewards: Vec<f32> = judge
        .score_text_pairs(&scoring_pairs(&reference.inputs), &mut |_| {})
        .expect("scores")
        .into_iter()
        .flatten()
        .collect();
    support::assert_rewards_match(name, &rewards, &reference.rewards);
}

#[test]
fn embeddings_do_not_depend_on_padding() {
    let (judge, reference) = support::load("bert-embedding-tiny");
    let texts: Vec<&str> = reference.formatted.iter().map(String::as_str).collect();
    let longest = texts
        .iter()
        .copied()
        .max_by_key(|text| text.len())
        .expect("texts");
    for text in &texts {
        let alone = judge.embed_texts(&[text]).expect("embeds alone");
        let padded = judge.embed_texts(&[text, longest]).expect("embeds padded");
        assert_embeddings_match("bert-embedding-tiny (padding)", &alone, &padded[..1]);
    }
}

#[derive(Debug, Deserialize)]
struct MiniLmReference {
    sentences: Vec<String>,
    embeddings: Vec<Vec<f32>>,
    inputs: Vec<support::Input>,
    rewards: Vec<f32>,
}

/// The real all-MiniLM-L6-v2: `OMNIREWARD_MINILM_DIR`, else `<repo>/.cache/models/all-MiniLM-L6-v2`
/// (written by scripts/setup.sh). Its absence is a failure, not a skip: the default judge must be
/// checked against sentence-transformers.
fn minilm_folder() -> PathBuf {
    let folder = match std::env::var_os("OMNIREWARD_MINILM_DIR") {
        Some(folder) => PathBuf::from(folder),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(".cache/models/all-MiniLM-L6-v2"),
    };
    assert!(
        folder.join("model.safetensors").is_file(),
        "all-MiniLM-L6-v2 not found at {}: run scripts/setup.sh (it installs the model there) or \
         set OMNIREWARD_MINILM_DIR to a folder with the checkpoint",
        folder.display()
    );
    folder
}

fn minilm_reference() -> MiniLmReference {
    let file = support::fixture("minilm-reference.json");
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|error| panic!("{}: {error}", file.display()));
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("{}: {error}", file.display()))
}

#[test]
fn minilm_embeddings_match_sentence_transformers() {
    let reference = minilm_reference();
    let judge = LocalJudge::load(&minilm_folder(), &LocalJudgeOptions::default())
        .unwrap_or_else(|error| panic!("loading all-MiniLM-L6-v2: {error}"));
    assert_eq!(judge.description().architecture, "BertModel");
    let sentences: Vec<&str> = reference.sentences.iter().map(String::as_str).collect();
    let embeddings = judge.embed_texts(&sentences).expect("embeds");
    assert_embeddings_match("all-MiniLM-L6-v2", &embeddings, &reference.embeddings);
}

#[test]
fn minilm_relevance_rewards_match_sentence_transformers() {
    let reference = minilm_reference();
    let judge = LocalJudge::load(&minilm_folder(), &LocalJudgeOptions::default())
        .unwrap_or_else(|error| panic!("loading all-MiniLM-L6-v2: {error}"));
    let rewards: Vec<f32> = judge
        .score_text_pairs(&scoring_pairs(&reference.inputs), &mut |_| {})
        .expect("scores")
        .into_iter()
        .flatten()
        .collect();
    support::assert_rewards_match("all-MiniLM-L6-v2 relevance", &rewards, &reference.rewards);
}
