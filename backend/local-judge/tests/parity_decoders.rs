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

/// On a CUDA device: the same model in f32 (the matmul attention path) matches transformers
/// within the CPU tolerance, and the judge's own bf16 run stays close to it.
#[cfg(feature = "cuda")]
#[test]
fn decoders_run_on_cuda_in_f32_and_bf16() {
    use candle_core::{DType, Device};
    use omnireward_local_judge::architecture::Architecture;
    use omnireward_local_judge::batch::PaddedBatch;
    use omnireward_local_judge::checkpoint::CheckpointFolder;
    use omnireward_local_judge::device::DeviceChoice;
    use omnireward_local_judge::input::EncodedText;
    use omnireward_local_judge::models::{ModelSource, load_sequence_model};
    use omnireward_local_judge::weights::load_var_builder;

    let device = Device::new_cuda(0).expect("a CUDA device");
    for (name, architecture) in [
        ("qwen2_seqcls", Architecture::Qwen2),
        ("qwen3_seqcls", Architecture::Qwen3),
        ("llama_seqcls", Architecture::Llama),
    ] {
        let reference = support::reference(name);
        let options = support::options(&reference);
        let folder = support::fixture(name);
        let config_file = folder.join("config.json");
        let config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&config_file).expect("config"))
                .expect("json");
        let pad_id = config["pad_token_id"].as_u64().expect("pad id") as u32;
        let inputs: Vec<EncodedText> = reference
            .token_ids
            .iter()
            .map(|ids| EncodedText {
                ids: ids.clone(),
                type_ids: vec![0; ids.len()],
            })
            .collect();
        let references: Vec<&EncodedText> = inputs.iter().collect();
        let batch = PaddedBatch::new(&references, pad_id, &device).expect("batch");
        let checkpoint = CheckpointFolder::inspect(&folder).expect("checkpoint");
        let weights =
            load_var_builder(&checkpoint.weight_files(), DType::F32, &device).expect("weights");
        let model = load_sequence_model(
            architecture,
            ModelSource {
                config_file: &config_file,
                config: &config,
                weights,
                reward_label: &options.reward_label,
                kernels: omnireward_local_judge::models::kernels::Kernels::Fused,
            },
        )
        .expect("model");
        let f32_rewards = model
            .rewards(&batch)
            .and_then(|rewards| rewards.to_vec1::<f32>())
            .expect("rewards");
        support::assert_rewards_match(name, &f32_rewards, &reference.rewards);

        let judge = LocalJudge::load(
            &folder,
            &LocalJudgeOptions {
                device: DeviceChoice::Cuda(0),
                ..options
            },
        )
        .expect("loads on cuda");
        assert_eq!(judge.description().dtype, "bf16");
        let bf16_rewards = rewards(&judge, &reference);
        let largest = bf16_rewards
            .iter()
            .zip(&reference.rewards)
            .map(|(ours, theirs)| (ours - theirs).abs() / theirs.abs().max(1.0))
            .fold(0.0f32, f32::max);
        let largest_f32 = f32_rewards
            .iter()
            .zip(&reference.rewards)
            .map(|(ours, theirs)| (ours - theirs).abs())
            .fold(0.0f32, f32::max);
        eprintln!(
            "{name}: cuda f32 largest difference {largest_f32:e}, bf16 largest relative difference {largest:e}"
        );
        assert!(largest < 0.1, "{name}: bf16 rewards {bf16_rewards:?}");
    }
}
