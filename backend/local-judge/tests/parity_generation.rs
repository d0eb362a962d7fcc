//! Parity of the generation engine with `transformers` on the tiny random `*ForCausalLM`
//! checkpoints written by `tests/fixtures/make_generation.py`: chat prompts rendered and
//! tokenized as transformers does, next-token logits within 1e-4, greedy token ids identical to
//! `generate` on a left-padded batch, outputs that do not depend on batching, and decoding with
//! the key/value cache equal to recomputing the whole sequence.

use std::path::PathBuf;

use candle_core::Tensor;
use omnireward_local_judge::device::DeviceChoice;
use omnireward_local_judge::generation::chat_model::ChatModel;
use omnireward_local_judge::generation::engine::{Batching, FinishReason, GenerationRequest};
use omnireward_local_judge::generation::sampling::DecodingOptions;
use serde::Deserialize;

const TOLERANCE: f32 = 1e-4;
const FAMILIES: [&str; 3] = ["qwen2_causal", "qwen3_causal", "llama_causal"];

#[derive(Deserialize)]
struct Prompt {
    text: String,
    ids: Vec<u32>,
    last_logits: Vec<f32>,
}

#[derive(Deserialize)]
struct Continuation {
    ids: Vec<u32>,
    last_logits: Vec<f32>,
}

#[derive(Deserialize)]
struct Reference {
    system: String,
    user_messages: Vec<String>,
    max_new_tokens: usize,
    prompts: Vec<Prompt>,
    greedy: Vec<Vec<u32>>,
    continuation: Continuation,
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn load(name: &str) -> (ChatModel, Reference) {
    let folder = fixture(name);
    let text = std::fs::read_to_string(folder.join("reference.json")).expect("reference.json");
    let reference: Reference = serde_json::from_str(&text).expect("reference parses");
    let model = ChatModel::load(&folder, DeviceChoice::Cpu)
        .unwrap_or_else(|error| panic!("{name}: {error}"));
    (model, reference)
}

fn largest_difference(ours: &[f32], theirs: &[f32]) -> f32 {
    assert_eq!(ours.len(), theirs.len(), "vocabulary sizes differ");
    ours.iter()
        .zip(theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}

/// Logits at the last position of `ids` computed in one forward pass over an empty cache.
fn last_logits(model: &ChatModel, ids: &[u32]) -> Vec<f32> {
    let inner = model.model();
    let input = Tensor::from_slice(ids, (1, ids.len()), inner.device()).expect("ids");
    let mut cache = inner.new_cache();
    let logits = inner.forward(&input, &[0], &mut cache).expect("forward");
    logits.to_vec2::<f32>().expect("f32").remove(0)
}

fn greedy(max_new_tokens: usize) -> DecodingOptions {
    DecodingOptions {
        max_new_tokens,
        ..DecodingOptions::default()
    }
}

fn requests(reference: &Reference) -> Vec<GenerationRequest> {
    reference
        .prompts
        .iter()
        .map(|prompt| GenerationRequest {
            prompt: prompt.ids.clone(),
            seed: 0,
        })
        .collect()
}

#[test]
fn prompts_render_and_tokenize_as_transformers_does() {
    for name in FAMILIES {
        let (model, reference) = load(name);
        for (message, prompt) in reference.user_messages.iter().zip(&reference.prompts) {
            let ids = model
                .prompt(Some(&reference.system), message)
                .expect("prompt renders");
            assert_eq!(ids, prompt.ids, "{name}: token ids of {:?}", prompt.text);
        }
    }
}

#[test]
fn next_token_logits_match_transformers() {
    for name in FAMILIES {
        let (model, reference) = load(name);
        for (index, prompt) in reference.prompts.iter().enumerate() {
            let gap = largest_difference(&last_logits(&model, &prompt.ids), &prompt.last_logits);
            assert!(
                gap < TOLERANCE,
                "{name}: prompt {index}: logits differ by {gap}"
            );
        }
    }
}

#[test]
fn greedy_ids_match_transformers_generate_on_a_padded_batch() {
    for name in FAMILIES {
        let (model, reference) = load(name);
        let decoding = greedy(reference.max_new_tokens);
        let batching = Batching {
            batch_tokens: 1 << 20,
            max_rows: 8,
        };
        let answers = model
            .generate(&requests(&reference), &decoding, batching, &mut |_, _| {
                Ok(())
            })
            .expect("generates");
        for (index, (answer, expected)) in answers.iter().zip(&reference.greedy).enumerate() {
            let mut ids = answer.tokens.clone();
            if answer.finish == FinishReason::EndOfTurn {
                ids.extend(model.end_of_turn().iter().next().copied());
            }
            assert_eq!(&ids, expected, "{name}: prompt {index}");
            assert_eq!(answer.prompt_tokens, reference.prompts[index].ids.len());
        }
    }
}

#[test]
fn batching_changes_no_output() {
    for name in FAMILIES {
        let (model, reference) = load(name);
        // Long enough that rows finish at different steps and waiting rows join mid-batch.
        let decoding = greedy(20);
        let many: Vec<GenerationRequest> =
            requests(&reference).into_iter().cycle().take(7).collect();
        let run = |batching: Batching| {
            let mut order = Vec::new();
            let answers = model
                .generate(&many, &decoding, batching, &mut |index, _| {
                    order.push(index);
                    Ok(())
                })
                .expect("generates");
            order.sort_unstable();
            assert_eq!(order, (0..many.len()).collect::<Vec<_>>());
            answers
                .into_iter()
                .map(|answer| answer.tokens)
                .collect::<Vec<_>>()
        };
        let alone = run(Batching {
            batch_tokens: 1,
            max_rows: 1,
        });
        let together = run(Batching {
            batch_tokens: 1 << 20,
            max_rows: 3,
        });
        assert_eq!(alone, together, "{name}");
    }
}

#[test]
fn decoding_with_the_cache_equals_recomputing_the_sequence() {
    for name in FAMILIES {
        let (model, reference) = load(name);
        let continuation = &reference.continuation;
        let inner = model.model();
        let prompt_len = reference.prompts[1].ids.len();
        let mut cache = inner.new_cache();
        let prompt = Tensor::from_slice(
            &continuation.ids[..prompt_len],
            (1, prompt_len),
            inner.device(),
        )
        .expect("prompt");
        let mut logits = inner.forward(&prompt, &[0], &mut cache).expect("prefill");
        for &token in &continuation.ids[prompt_len..] {
            let step = Tensor::from_slice(&[token], (1, 1), inner.device()).expect("token");
            logits = inner.forward(&step, &[0], &mut cache).expect("step");
        }
        let cached = logits.to_vec2::<f32>().expect("f32").remove(0);
        let recomputed = last_logits(&model, &continuation.ids);
        let gap = largest_difference(&cached, &recomputed);
        assert!(
            gap < TOLERANCE,
            "{name}: cached vs recomputed differ by {gap}"
        );
        let gap = largest_difference(&cached, &continuation.last_logits);
        assert!(
            gap < TOLERANCE,
            "{name}: cached vs transformers differ by {gap}"
        );
    }
}

#[test]
fn stop_strings_and_the_token_limit_end_answers() {
    let (model, reference) = load("qwen2_causal");
    let request = &requests(&reference)[..1];
    let full = model
        .generate(
            request,
            &greedy(12),
            Batching::default(),
            &mut |_, _| Ok(()),
        )
        .expect("generates")
        .remove(0);
    assert_eq!(full.finish, FinishReason::Length);
    assert_eq!(full.tokens.len(), 12);
    let short = model
        .generate(request, &greedy(3), Batching::default(), &mut |_, _| Ok(()))
        .expect("generates")
        .remove(0);
    assert_eq!(short.tokens, full.tokens[..3]);
    // A stop string taken from the middle of the full answer cuts it there.
    let middle: String = full
        .text
        .chars()
        .skip(full.text.chars().count() / 2)
        .take(3)
        .collect();
    assert!(!middle.is_empty(), "answer text {:?}", full.text);
    let decoding = DecodingOptions {
        stop_strings: vec![middle.clone()],
        ..greedy(12)
    };
    let stopped = model
        .generate(request, &decoding, Batching::default(), &mut |_, _| Ok(()))
        .expect("generates")
        .remove(0);
    assert_eq!(stopped.finish, FinishReason::StopString);
    let cut = full
        .text
        .find(&middle)
        .expect("stop string in the full text");
    assert_eq!(stopped.text, full.text[..cut]);
}

#[test]
fn seeded_sampling_repeats_and_does_not_depend_on_batching() {
    let (model, reference) = load("llama_causal");
    let decoding = DecodingOptions {
        temperature: 1.0,
        top_p: 0.95,
        ..greedy(10)
    };
    let seeded: Vec<GenerationRequest> = requests(&reference)
        .into_iter()
        .enumerate()
        .map(|(index, request)| GenerationRequest {
            seed: 1000 + index as u64,
            ..request
        })
        .collect();
    let run = |batching: Batching| -> Vec<Vec<u32>> {
        model
            .generate(&seeded, &decoding, batching, &mut |_, _| Ok(()))
            .expect("generates")
            .into_iter()
            .map(|answer| answer.tokens)
            .collect()
    };
    let together = run(Batching::default());
    let alone = run(Batching {
        batch_tokens: 1,
        max_rows: 1,
    });
    assert_eq!(together, alone);
    let greedy_answers: Vec<Vec<u32>> = model
        .generate(
            &seeded,
            &greedy(10),
            Batching::default(),
            &mut |_, _| Ok(()),
        )
        .expect("generates")
        .into_iter()
        .map(|answer| answer.tokens)
        .collect();
    assert_ne!(
        together, greedy_answers,
        "sampling at temperature 1 differs from greedy"
    );
}

#[test]
fn left_padding_changes_no_logits() {
    for name in FAMILIES {
        let (model, reference) = load(name);
        let inner = model.model();
        let ids = &reference.prompts[0].ids;
        let alone = last_logits(&model, ids);
        for padding in [1usize, 5] {
            let mut padded = vec![ids[0]; padding];
            padded.extend(ids);
            let input =
                Tensor::from_slice(&padded, (1, padded.len()), inner.device()).expect("ids");
            let logits = inner
                .forward(&input, &[padding], &mut inner.new_cache())
                .expect("forward")
                .to_vec2::<f32>()
                .expect("f32")
                .remove(0);
            let gap = largest_difference(&logits, &alone);
            assert!(
                gap < TOLERANCE,
                "{name}: {padding} padding tokens change logits by {gap}"
            );
        }
    }
}
