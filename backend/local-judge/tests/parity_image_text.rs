//! Parity of the image-text scorers (`CLIPModel`, `SiglipModel`) with `transformers`: token ids,
//! preprocessed pixels, text and image embeddings, rewards (`logit_scale.exp() * cosine`, plus
//! `logit_bias` for SigLIP) and outcomes of the committed tiny checkpoints written by
//! `tests/fixtures/make_image_text.py`; videos scored as the mean over their frames; CLIP's legacy
//! `eos_token_id == 2` pooling; and the errors of wrong inputs and incomplete preprocessor
//! settings.

mod support;

use std::fs;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use image::DynamicImage;
use omnireward_local_judge::LocalJudgeError;
use omnireward_local_judge::architecture::Architecture;
use omnireward_local_judge::image_input::ImagePreprocessor;
use omnireward_local_judge::input::ScoringText;
use omnireward_local_judge::judge::{ImagePair, LocalJudge, LocalJudgeOptions};
use omnireward_local_judge::models::{ModelSource, RewardLabel, load_image_text_model};
use omnireward_local_judge::weights::load_var_builder;
use serde_json::Value;

fn open_image(folder: &Path, name: &str) -> DynamicImage {
    image::open(folder.join(name)).unwrap_or_else(|error| panic!("{name}: {error}"))
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .expect("a list")
        .iter()
        .map(|entry| entry.as_str().expect("a string").to_owned())
        .collect()
}

fn floats(value: &Value) -> Vec<f32> {
    value
        .as_array()
        .expect("a list")
        .iter()
        .map(|entry| entry.as_f64().expect("a number") as f32)
        .collect()
}

fn assert_close(name: &str, what: &str, ours: &[f32], theirs: &[f32]) {
    assert_eq!(ours.len(), theirs.len(), "{name}: {what}: lengths");
    for (index, (ours, theirs)) in ours.iter().zip(theirs).enumerate() {
        assert!(
            (ours - theirs).abs() <= support::TOLERANCE,
            "{name}: {what} [{index}]: ours {ours}, transformers {theirs}"
        );
    }
}

/// The fixture's pairs: input `2k` and `2k + 1` share their text and have one image each.
fn image_pairs(folder: &Path, reference: &support::Reference) -> Vec<ImagePair> {
    let images = strings(&reference.extra["images"]);
    reference
        .formatted
        .chunks_exact(2)
        .zip(images.chunks_exact(2))
        .map(|(texts, images)| {
            assert_eq!(texts[0], texts[1], "both responses share the request");
            ImagePair {
                text: texts[0].clone(),
                first: vec![open_image(folder, &images[0])],
                second: vec![open_image(folder, &images[1])],
            }
        })
        .collect()
}

fn video_pair(folder: &Path, video: &Value) -> ImagePair {
    let frames = |side: &str| -> Vec<DynamicImage> {
        strings(&video[side])
            .iter()
            .map(|name| open_image(folder, name))
            .collect()
    };
    ImagePair {
        text: video["text"].as_str().expect("text").to_owned(),
        first: frames("first"),
        second: frames("second"),
    }
}

fn flat_rewards(judge: &LocalJudge, pairs: &[ImagePair]) -> Vec<f32> {
    let mut finished = 0;
    let rewards: Vec<f32> = judge
        .score_image_pairs(pairs, &mut |count| finished += count)
        .expect("scores")
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(finished, 2 * pairs.len(), "progress counts responses");
    rewards
}

fn embedding_texts(reference: &support::Reference) -> Vec<String> {
    strings(&reference.extra["embedding_texts"])
}

fn assert_text_embeddings(
    name: &str,
    judge: &LocalJudge,
    reference: &support::Reference,
    expected: &Value,
) {
    let texts = embedding_texts(reference);
    let borrowed: Vec<&str> = texts.iter().map(String::as_str).collect();
    let ours = judge.embed_texts(&borrowed).expect("embeds");
    let theirs = expected.as_array().expect("embeddings");
    assert_eq!(ours.len(), theirs.len(), "{name}: number of embeddings");
    for (index, (ours, theirs)) in ours.iter().zip(theirs).enumerate() {
        assert_close(
            name,
            &format!("text embedding {index}"),
            ours,
            &floats(theirs),
        );
    }
}

/// Everything the judge computes for one fixture, against `transformers`.
fn assert_image_text_parity(name: &str) {
    let (judge, reference) = support::load(name);
    let folder = support::fixture(name);
    assert!(judge.reads_images(), "{name} reads images");

    for (index, text) in reference.formatted.iter().enumerate() {
        let encoded = judge.encoder().encode_formatted(text).expect("encodes");
        assert_eq!(
            encoded.ids, reference.token_ids[index],
            "{name}: token ids of input {index}"
        );
    }
    let embedding_ids: Vec<Vec<u32>> =
        serde_json::from_value(reference.extra["embedding_token_ids"].clone()).expect("ids");
    for (index, text) in embedding_texts(&reference).iter().enumerate() {
        let encoded = judge.encoder().encode_formatted(text).expect("encodes");
        assert_eq!(
            encoded.ids, embedding_ids[index],
            "{name}: token ids of embedding text {index}"
        );
    }
    assert!(
        embedding_ids
            .iter()
            .any(|ids| ids.len() == judge.description().max_length),
        "{name}: one embedding text is truncated to the limit"
    );

    let rewards = flat_rewards(&judge, &image_pairs(&folder, &reference));
    support::assert_rewards_match(name, &rewards, &reference.rewards);

    assert_text_embeddings(
        name,
        &judge,
        &reference,
        &reference.extra["text_embeddings"],
    );

    let video = &reference.extra["video"];
    let video_rewards = flat_rewards(&judge, &[video_pair(&folder, video)]);
    assert_close(
        name,
        "video rewards",
        &video_rewards,
        &floats(&video["rewards"]),
    );
}

#[test]
fn clip_matches_transformers() {
    assert_image_text_parity("clip");
}

#[test]
fn siglip_matches_transformers() {
    assert_image_text_parity("siglip");
}

/// Pixels and image embeddings, through the model directly (the judge only reports rewards).
fn assert_image_embeddings(name: &str, architecture: Architecture) {
    let folder = support::fixture(name);
    let reference = support::reference(name);
    let config: Value =
        serde_json::from_str(&fs::read_to_string(folder.join("config.json")).expect("config"))
            .expect("config json");
    let weights = load_var_builder(
        &[folder.join("model.safetensors")],
        DType::F32,
        &Device::Cpu,
    )
    .expect("weights");
    let model = load_image_text_model(
        architecture,
        ModelSource {
            config_file: Path::new("config.json"),
            config: &config,
            weights,
            reward_label: &RewardLabel::Single,
            kernels: omnireward_local_judge::models::kernels::Kernels::Fused,
        },
    )
    .unwrap_or_else(|error| panic!("{name}: {error}"));
    let preprocessor = ImagePreprocessor::from_folder(&folder, architecture).expect("preprocessor");

    let (logit_scale, bias) = model.logit_scale_and_bias().expect("scale");
    let scale = logit_scale
        .exp()
        .and_then(|scale| scale.to_scalar::<f32>())
        .expect("scale");
    let bias = bias.to_scalar::<f32>().expect("bias");
    let logit_scale = reference.extra["logit_scale"]
        .as_f64()
        .expect("logit_scale") as f32;
    let logit_bias = reference.extra["logit_bias"].as_f64().expect("logit_bias") as f32;
    assert!(
        (scale - logit_scale.exp()).abs() <= 1e-5,
        "{name}: scale {scale}"
    );
    assert!((bias - logit_bias).abs() <= 1e-6, "{name}: bias {bias}");

    let expected = reference.extra["image_embeddings"]
        .as_object()
        .expect("embeddings");
    let stats = reference.extra["pixel_stats"]
        .as_object()
        .expect("pixel stats");
    let names: Vec<&String> = expected.keys().collect();
    let images: Vec<DynamicImage> = names.iter().map(|file| open_image(&folder, file)).collect();
    let pixels = preprocessor.pixels(&images, &Device::Cpu).expect("pixels");
    assert_eq!(pixels.dims()[0], images.len());
    let embeddings = model
        .image_embeddings(&pixels)
        .and_then(|embeddings| embeddings.to_vec2::<f32>())
        .expect("image embeddings");
    for (index, file) in names.iter().enumerate() {
        let ours = pixels
            .get(index)
            .and_then(|image| image.flatten_all())
            .and_then(|image| image.to_vec1::<f32>())
            .expect("pixels of one image");
        let sum: f64 = ours.iter().map(|&value| f64::from(value)).sum();
        let their_sum = stats[*file]["sum"].as_f64().expect("sum");
        assert!(
            (sum - their_sum).abs() <= 1e-3,
            "{name}: {file}: pixel sum {sum} vs {their_sum}"
        );
        let first = floats(&stats[*file]["first"]);
        for (position, (ours, theirs)) in ours.iter().zip(&first).enumerate() {
            assert!(
                (ours - theirs).abs() <= 1e-6,
                "{name}: {file}: pixel {position}: {ours} vs {theirs}"
            );
        }
        assert_close(
            name,
            &format!("embedding of {file}"),
            &embeddings[index],
            &floats(&expected[*file]),
        );
    }
}

#[test]
fn clip_pixels_and_image_embeddings_match_transformers() {
    assert_image_embeddings("clip", Architecture::Clip);
}

#[test]
fn siglip_pixels_and_image_embeddings_match_transformers() {
    assert_image_embeddings("siglip", Architecture::Siglip);
}

#[test]
fn a_video_scores_the_mean_over_its_frames() {
    let (judge, reference) = support::load("clip");
    let folder = support::fixture("clip");
    let pair = video_pair(&folder, &reference.extra["video"]);
    let single = |images: &[DynamicImage]| -> Vec<f32> {
        images
            .iter()
            .map(|frame| {
                let pair = ImagePair {
                    text: pair.text.clone(),
                    first: vec![frame.clone()],
                    second: vec![frame.clone()],
                };
                flat_rewards(&judge, &[pair])[0]
            })
            .collect()
    };
    let mean = |values: Vec<f32>| values.iter().sum::<f32>() / values.len() as f32;
    let video = flat_rewards(&judge, std::slice::from_ref(&pair));
    assert!((video[0] - mean(single(&pair.first))).abs() <= 1e-5);
    assert!((video[1] - mean(single(&pair.second))).abs() <= 1e-5);
}

/// Copies a fixture into a temporary folder to change its files.
fn copy_fixture(name: &str) -> tempfile::TempDir {
    let copy = tempfile::tempdir().expect("temp dir");
    for entry in fs::read_dir(support::fixture(name)).expect("fixture") {
        let path = entry.expect("entry").path();
        fs::copy(&path, copy.path().join(path.file_name().expect("name"))).expect("copy");
    }
    copy
}

fn edit_json(file: PathBuf, edit: impl FnOnce(&mut Value)) {
    let mut json: Value =
        serde_json::from_str(&fs::read_to_string(&file).expect("read")).expect("json");
    edit(&mut json);
    fs::write(&file, serde_json::to_string_pretty(&json).expect("write")).expect("write");
}

#[test]
fn clip_with_the_legacy_eos_id_pools_at_the_largest_token_id_like_transformers() {
    let copy = copy_fixture("clip");
    edit_json(copy.path().join("config.json"), |config| {
        config["text_config"]["eos_token_id"] = Value::from(2);
    });
    let reference = support::reference("clip");
    let judge = LocalJudge::load(copy.path(), &LocalJudgeOptions::default()).expect("loads");
    let legacy = &reference.extra["legacy_eos"];
    let rewards = flat_rewards(&judge, &image_pairs(copy.path(), &reference));
    support::assert_rewards_match("clip (legacy eos)", &rewards, &floats(&legacy["rewards"]));
    assert_text_embeddings(
        "clip (legacy eos)",
        &judge,
        &reference,
        &legacy["text_embeddings"],
    );
    // The fixture makes the two rules disagree, so this checks the rule and not just the weights.
    assert!(
        rewards
            .iter()
            .zip(&reference.rewards)
            .any(|(legacy, current)| (legacy - current).abs() > 1e-2),
        "the legacy and current pooling give different rewards on this fixture"
    );
}

#[test]
fn image_text_judges_refuse_text_pairs() {
    for name in ["clip", "siglip"] {
        let (judge, reference) = support::load(name);
        let input = &reference.inputs[0];
        let text = ScoringText {
            criterion: &input.criterion,
            prompt: &input.prompt,
            response: &input.response,
        };
        let error = judge
            .score_text_pairs(&[[text, text]], &mut |_| {})
            .expect_err("refused");
        assert!(
            matches!(error, LocalJudgeError::Input { .. }),
            "{name}: {error}"
        );
        assert!(
            error.to_string().contains("scores images"),
            "{name}: {error}"
        );
    }
}

#[test]
fn a_response_without_images_is_refused() {
    let (judge, reference) = support::load("siglip");
    let folder = support::fixture("siglip");
    let mut pair = image_pairs(&folder, &reference).remove(0);
    pair.second.clear();
    let error = judge
        .score_image_pairs(&[pair], &mut |_| {})
        .expect_err("refused");
    assert!(error.to_string().contains("at least one image"), "{error}");
}

/// Text fixtures of the other families, in the order tried: the first that loads stands for "a
/// text model" (they are written and loaded by other test files).
const TEXT_FIXTURES: [&str; 6] = [
    "qwen2_seqcls",
    "bert-tiny",
    "bert-embedding-tiny",
    "llama_seqcls",
    "qwen3_seqcls",
    "xlm-roberta-tiny",
];

#[test]
fn text_judges_refuse_images() {
    let mut failures = Vec::new();
    let judge = TEXT_FIXTURES.iter().find_map(|name| {
        match LocalJudge::load(&support::fixture(name), &LocalJudgeOptions::default()) {
            Ok(judge) => Some(judge),
            Err(error) => {
                failures.push(format!("{name}: {error}"));
                None
            }
        }
    });
    let judge = judge.unwrap_or_else(|| panic!("no text fixture loads: {failures:#?}"));
    assert!(!judge.reads_images());
    let reference = support::reference("clip");
    let pairs = image_pairs(&support::fixture("clip"), &reference);
    let error = judge
        .score_image_pairs(&pairs, &mut |_| {})
        .expect_err("refused");
    assert!(matches!(error, LocalJudgeError::Input { .. }), "{error}");
    assert!(error.to_string().contains("reads text only"), "{error}");
}

fn load_error(folder: &Path) -> String {
    match LocalJudge::load(folder, &LocalJudgeOptions::default()) {
        Ok(_) => panic!("{} should not load", folder.display()),
        Err(error) => error.to_string(),
    }
}

#[test]
fn missing_preprocessor_settings_are_named() {
    // Without a crop size CLIP falls back to transformers' 224, which this 32-pixel model cannot
    // take: the error names the file and the field.
    let copy = copy_fixture("clip");
    edit_json(copy.path().join("preprocessor_config.json"), |config| {
        if let Some(fields) = config.as_object_mut() {
            fields.remove("crop_size");
        }
    });
    let message = load_error(copy.path());
    assert!(message.contains("preprocessor_config.json"), "{message}");
    assert!(message.contains("crop_size"), "{message}");
    assert!(message.contains("missing"), "{message}");

    let copy = copy_fixture("siglip");
    edit_json(copy.path().join("preprocessor_config.json"), |config| {
        if let Some(fields) = config.as_object_mut() {
            fields.remove("size");
        }
    });
    let message = load_error(copy.path());
    assert!(message.contains("preprocessor_config.json"), "{message}");
    assert!(message.contains("`size`"), "{message}");

    // A field of the wrong type.
    let copy = copy_fixture("siglip");
    edit_json(copy.path().join("preprocessor_config.json"), |config| {
        config["image_mean"] = Value::from("grey");
    });
    let message = load_error(copy.path());
    assert!(message.contains("image_mean"), "{message}");

    // No file at all.
    let copy = copy_fixture("clip");
    fs::remove_file(copy.path().join("preprocessor_config.json")).expect("remove");
    let message = load_error(copy.path());
    assert!(message.contains("preprocessor_config.json"), "{message}");
    assert!(message.contains("missing"), "{message}");

    // Fields with harmless defaults may be left out: mean and std take CLIP's own.
    let copy = copy_fixture("clip");
    edit_json(copy.path().join("preprocessor_config.json"), |config| {
        if let Some(fields) = config.as_object_mut() {
            fields.remove("image_mean");
            fields.remove("image_std");
            fields.remove("resample");
        }
    });
    let judge =
        LocalJudge::load(copy.path(), &LocalJudgeOptions::default()).expect("defaults load");
    let reference = support::reference("clip");
    let rewards = flat_rewards(&judge, &image_pairs(copy.path(), &reference));
    support::assert_rewards_match("clip (default mean and std)", &rewards, &reference.rewards);
}

#[test]
fn wrong_model_settings_are_named() {
    let copy = copy_fixture("siglip");
    edit_json(copy.path().join("config.json"), |config| {
        config["vision_config"]["hidden_act"] = Value::from("swishy");
    });
    let message = load_error(copy.path());
    assert!(message.contains("vision_config"), "{message}");
    assert!(message.contains("swishy"), "{message}");

    let copy = copy_fixture("clip");
    edit_json(copy.path().join("config.json"), |config| {
        config["vision_config"]["patch_size"] = Value::from(5);
    });
    let message = load_error(copy.path());
    assert!(message.contains("vision_config.patch_size"), "{message}");
}
