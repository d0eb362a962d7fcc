//! Parity of the decoder reward models (Qwen2, Qwen3, Llama) with `transformers`: chat-template
//! formatting, token ids, truncation (right and left) and rewards of the committed tiny
//! checkpoints written by `tests/fixtures/make_decoders.py`, and rewards that do not depend on
//! how inputs are batched and padded.

mod support;

use omnireward_local_judge::input::ScoringText;
use omnireward_local_judge::judge::{LocalJudge, LocalJudgeOptions};

#[test]
fn qwen2_matches_transformers() {
    support::assert_text_parity("qwen2_seqcls");
}

#[test]
fn qwen3_matches_transformers() {
    support::assert_text_parity("qwen3_seqcls");
}

#[test]
fn llama_matches_transformers() {
    support::assert_text_parity("llama_seqcls");
}

fn rewards(judge: &LocalJudge, reference: &support::Reference) -> Vec<f32> {
    let texts: Vec<ScoringText<'_>> = reference
        .inputs
        .iter()
        .map(|input| ScoringText {
            criterion: &input.criterion,
            prompt: &input.prompt,
            response: &input.response,
        })
        .collect();
    let pairs: Vec<[ScoringText<'_>; 2]> = texts
        .chunks_exact(2)
        .map(|pair| [pair[0], pair[1]])
        .collect();
    judge
        .score_text_pairs(&pairs, &mut |_| {})
        .expect("scores")
        .into_iter()
        .flatten()
        .collect()
}

/// One batch of everything (the longest input pads the others) against one input per batch.
#[test]
fn rewards_do_not_depend_on_padding_or_batch_composition() {
    for name in ["qwen2_seqcls", "qwen3_seqcls", "llama_seqcls"] {
        let reference = support::reference(name);
        let options = support::options(&reference);
        let together = LocalJudge::load(&support::fixture(name), &options).expect("loads");
        let alone = LocalJudge::load(
            &support::fixture(name),
            &LocalJudgeOptions {
                batch_tokens: 1,
                ..options
            },
        )
        .expect("loads");
        let batched = rewards(&together, &reference);
        let single = rewards(&alone, &reference);
        assert_eq!(batched.len(), single.len());
        for (index, (batched, single)) in batched.iter().zip(&single).enumerate() {
            assert!(
                (batched - single).abs() <= 1e-5,
                "{name}: reward {index}: batched {batched}, alone {single}"
            );
        }
        support::assert_rewards_match(name, &single, &reference.rewards);
        let largest = single
            .iter()
            .zip(&reference.rewards)
            .map(|(ours, theirs)| (ours - theirs).abs())
            .fold(0.0f32, f32::max);
        eprintln!("{name}: largest difference from transformers {largest:e}");
    }
}

#[test]
fn decoders_report_their_limits_and_format() {
    let (judge, reference) = support::load("llama_seqcls");
    let description = judge.description();
    assert_eq!(description.architecture, "LlamaForSequenceClassification");
    assert_eq!(description.dtype, "f32");
    assert_eq!(Some(description.max_length), reference.options.max_length);
    // A longer limit than the model's 256 positions is refused.
    let error = LocalJudge::load(
        &support::fixture("llama_seqcls"),
        &LocalJudgeOptions {
            max_length: Some(257),
            ..support::options(&reference)
        },
    )
    .err()
    .expect("too long");
    assert!(error.to_string().contains("256"), "{error}");
}
