//! The Qwen2-VL and Qwen2.5-VL generative judges against `transformers` 4.57.3's greedy
//! `generate` (`make_qwen2_vl_generation.py`): a left-padded batch of three prompts (an image,
//! text only, a 4-frame video) on the tiny checkpoints gives the same tokens through the engine,
//! batched together, one by one, and with a row joining the batch mid-answer; decoding with the
//! cache gives the logits of recomputing the whole sequence.

use std::path::{Path, PathBuf};

use candle_core::Device;
use candle_core::Tensor;
use image::DynamicImage;
use omnireward_local_judge::device::DeviceChoice;
use omnireward_local_judge::generation::CausalLanguageModel;
use omnireward_local_judge::generation::decoder::{argmax, logits_rows};
use omnireward_local_judge::generation::engine::Batching;
use omnireward_local_judge::generation::sampling::DecodingOptions;
use omnireward_local_judge::generation::vision_language::{
    PromptPart, VisionChatModel, VisualGenerationRequest,
};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn read_json(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    serde_json::from_str(&text).expect("JSON")
}

fn picture(name: &str) -> DynamicImage {
    image::open(
        fixtures()
            .join("qwen2_vl_processor")
            .join(format!("{name}.png")),
    )
    .expect("image")
}

fn ids(value: &Value) -> Vec<u32> {
    value
        .as_array()
        .expect("ids")
        .iter()
        .map(|id| u32::try_from(id.as_u64().expect("an id")).expect("fits"))
        .collect()
}

/// The fixture's prompts as requests, checked against transformers' token ids, and the tokens
/// transformers generated for each.
fn requests(
    model: &VisionChatModel,
    expected: &Value,
) -> (Vec<VisualGenerationRequest>, Vec<Vec<u32>>) {
    let frames: Vec<DynamicImage> =
        read_json(&fixtures().join("qwen2_vl_processor/video.json"))["frames"]
            .as_array()
            .expect("frames")
            .iter()
            .map(|name| picture(name.as_str().expect("a name")))
            .collect();
    let fps = expected["fps"].as_f64().expect("fps");
    let mut requests = Vec::new();
    let mut generated = Vec::new();
    for case in expected["prompts"].as_array().expect("prompts") {
        let images: Vec<DynamicImage> = case["parts"]
            .as_array()
            .expect("parts")
            .iter()
            .filter(|part| part["type"] == "image")
            .map(|part| picture(part["value"].as_str().expect("a name")))
            .collect();
        let mut images = images.iter();
        let parts: Vec<PromptPart<'_>> = case["parts"]
            .as_array()
            .expect("parts")
            .iter()
            .map(|part| match part["type"].as_str().expect("a type") {
                "text" => PromptPart::Text(part["value"].as_str().expect("text")),
                "image" => PromptPart::Image(images.next().expect("an image")),
                _ => PromptPart::Video {
                    frames: &frames,
                    frames_per_second: fps,
                },
            })
            .collect();
        let request = model
            .request(case["system"].as_str(), &parts, 0)
            .expect("request");
        assert_eq!(request.prompt, ids(&case["input_ids"]));
        requests.push(request);
        generated.push(ids(&case["generated"]));
    }
    (requests, generated)
}

fn check_generation(variant: &str) {
    let folder = fixtures().join(variant);
    let expected = read_json(&folder.join("generation.json"));
    let model = VisionChatModel::load(&folder, DeviceChoice::Cpu).expect("model");
    let (requests, theirs) = requests(&model, &expected);
    let decoding = DecodingOptions {
        max_new_tokens: usize::try_from(expected["max_new_tokens"].as_u64().expect("count"))
            .expect("fits"),
        ..DecodingOptions::default()
    };
    for batching in [
        Batching::default(),
        Batching {
            batch_tokens: 1,
            max_rows: 1,
        },
    ] {
        let mut finished = 0;
        let answers = model
            .generate(&requests, &decoding, batching, &mut |_, _| {
                finished += 1;
                Ok(())
            })
            .expect("generated");
        assert_eq!(finished, requests.len());
        let ours: Vec<Vec<u32>> = answers.into_iter().map(|answer| answer.tokens).collect();
        assert_eq!(ours, theirs, "{variant} with {batching:?}");
    }
}

#[test]
fn qwen2_vl_generates_the_tokens_of_transformers() {
    check_generation("qwen2_vl_tiny");
}

#[test]
fn qwen2_5_vl_generates_the_tokens_of_transformers() {
    check_generation("qwen2_5_vl_tiny");
}

/// Greedy steps over `cache` for every row, feeding `pending`; returns the new tokens per row.
fn step(
    model: &dyn CausalLanguageModel,
    cache: &mut omnireward_local_judge::generation::cache::BatchCache,
    pending: &[u32],
) -> Vec<u32> {
    let input = Tensor::from_slice(pending, (pending.len(), 1), &Device::Cpu).expect("ids");
    let logits = model
        .forward(&input, &vec![0; pending.len()], cache)
        .expect("step");
    logits_rows(&logits)
        .expect("rows")
        .iter()
        .map(|row| argmax(row))
        .collect()
}

/// The video prompt joins while the image prompt is mid-answer: each row keeps its own
/// position offset, and both answers are transformers'.
#[test]
fn a_row_joining_mid_answer_keeps_its_positions() {
    for variant in ["qwen2_vl_tiny", "qwen2_5_vl_tiny"] {
        let folder = fixtures().join(variant);
        let expected = read_json(&folder.join("generation.json"));
        let model = VisionChatModel::load(&folder, DeviceChoice::Cpu).expect("model");
        let (requests, theirs) = requests(&model, &expected);
        let generator = model.generator();
        let (image, video) = (&requests[0], &requests[2]);
        let (mut cache, logits) = generator
            .prefill_with_media(&[&image.prompt], &[&image.media])
            .expect("prefill");
        let mut first = vec![argmax(&logits_rows(&logits).expect("rows")[0])];
        for _ in 0..3 {
            let next = step(generator, &mut cache, &[*first.last().expect("a token")]);
            first.push(next[0]);
        }
        let (joining, logits) = generator
            .prefill_with_media(&[&video.prompt], &[&video.media])
            .expect("prefill");
        cache.append_rows(joining).expect("join");
        let mut second = vec![argmax(&logits_rows(&logits).expect("rows")[0])];
        while second.len() < theirs[2].len() || first.len() < theirs[0].len() {
            let pending = [
                *first.last().expect("a token"),
                *second.last().expect("a token"),
            ];
            let next = step(generator, &mut cache, &pending);
            first.push(next[0]);
            second.push(next[1]);
        }
        assert_eq!(
            first[..theirs[0].len()],
            theirs[0],
            "{variant}: image prompt"
        );
        assert_eq!(
            second[..theirs[2].len()],
            theirs[2],
            "{variant}: video prompt"
        );
    }
}

#[test]
fn decoding_with_the_cache_equals_recomputing() {
    for variant in ["qwen2_vl_tiny", "qwen2_5_vl_tiny"] {
        let folder = fixtures().join(variant);
        let expected = read_json(&folder.join("generation.json"));
        let model = VisionChatModel::load(&folder, DeviceChoice::Cpu).expect("model");
        let (requests, _) = requests(&model, &expected);
        let generator = model.generator();
        for request in [&requests[0], &requests[2]] {
            let (mut cache, logits) = generator
                .prefill_with_media(&[&request.prompt], &[&request.media])
                .expect("prefill");
            let mut sequence = request.prompt.clone();
            let mut token = argmax(&logits_rows(&logits).expect("rows")[0]);
            for _ in 0..4 {
                sequence.push(token);
                let input = Tensor::from_slice(&[token], (1, 1), &Device::Cpu).expect("ids");
                let cached =
                    logits_rows(&generator.forward(&input, &[0], &mut cache).expect("step"))
                        .expect("rows")
                        .remove(0);
                let (_, recomputed) = generator
                    .prefill_with_media(&[&sequence], &[&request.media])
                    .expect("recomputed");
                let recomputed = logits_rows(&recomputed).expect("rows").remove(0);
                let worst = cached
                    .iter()
                    .zip(&recomputed)
                    .map(|(first, second)| (first - second).abs())
                    .fold(0.0_f32, f32::max);
                assert!(worst <= 1e-4, "{variant}: cached logits off by {worst}");
                token = argmax(&cached);
            }
        }
    }
}
