//! Image-pair training of the tiny random CLIP and SigLIP parity checkpoints of the local judge:
//! a separable set of colour pairs (written as PNGs with a sharegpt file, read by the data
//! reader), learning, exact resumption, finite-difference gradients, and the trained folder
//! scored by the local judge exactly as the trainer scores it.

use std::fs;
use std::path::{Path, PathBuf};

use image::{DynamicImage, Rgb, RgbImage};
use omnireward_local_judge::judge::{ImagePair, LocalJudge, LocalJudgeOptions, request_text};
use omnireward_shared::random::SplitMix64;
use serde_json::json;

use crate::data::sharegpt::DatasetSpec;
use crate::data::split::train_validation_split;
use crate::data::{PreferencePair, image_pairs};
use crate::inputs::decode_image;
use crate::model::{Initialisation, ModelSpec, Trainable, TrainableModel};
use crate::testing::tiny_spec;
use crate::trainer::tests::{
    Fixture, assert_gradients_of_pairs_match_finite_differences, run, settings, weights_bits,
};
use crate::trainer::{EncodedPair, data_sha256, encode_pairs, evaluate, pair_rewards};

/// Colour words and their pixels: the prompt names one, the chosen image has it.
const COLOURS: [(&str, [u8; 3]); 4] = [
    ("red", [220, 30, 30]),
    ("green", [30, 200, 40]),
    ("blue", [30, 40, 220]),
    ("yellow", [230, 220, 30]),
];

/// Writes `count` pairs into `folder`: `pairs.json` (sharegpt ranking, generation layout: equal
/// answer texts, the images are the answers) and one PNG per answer, 40×48 pixels so that the
/// preprocessor resizes and crops, with a per-image brightness jitter and a darker stripe so
/// that no two images are the same.
fn write_colour_pairs(folder: &Path, count: usize, seed: u64) -> PathBuf {
    let images = folder.join("images");
    fs::create_dir_all(&images).expect("images folder");
    let mut random = SplitMix64::new(seed);
    let mut records = Vec::with_capacity(count);
    for index in 0..count {
        let wanted = random.next_index(COLOURS.len());
        let other = (wanted + 1 + random.next_index(COLOURS.len() - 1)) % COLOURS.len();
        let mut write = |colour: [u8; 3], side: &str| {
            let jitter = random.next_index(30) as u8;
            let stripe = random.next_index(40) as u32;
            let picture = RgbImage::from_fn(40, 48, |x, _| {
                let darken = if (stripe..stripe + 4).contains(&x) {
                    40
                } else {
                    0
                };
                Rgb(colour.map(|channel| channel.saturating_sub(jitter + darken)))
            });
            let name = format!("{index:04}-{side}.png");
            picture.save(images.join(&name)).expect("png");
            format!("images/{name}")
        };
        let chosen = write(COLOURS[wanted].1, "chosen");
        let rejected = write(COLOURS[other].1, "rejected");
        records.push(json!({
            "conversations": [
                {"from": "system", "value": "Match the colour."},
                {"from": "human", "value": format!("a {} square<image><image>", COLOURS[wanted].0)}
            ],
            "chosen": {"from": "gpt", "value": "<image>"},
            "rejected": {"from": "gpt", "value": "<image>"},
            "images": [chosen, rejected]
        }));
    }
    let file = folder.join("pairs.json");
    fs::write(&file, serde_json::to_string(&records).expect("json")).expect("pairs file");
    file
}

fn fixture_folder(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../local-judge/tests/fixtures")
        .join(name)
}

fn image_spec(name: &str, trainable: Trainable) -> ModelSpec {
    ModelSpec {
        initialisation: Initialisation::Pretrained,
        ..tiny_spec(&fixture_folder(name), trainable)
    }
}

/// The pairs of a written data set, read as `omnireward train --data` reads them.
fn read_pairs(data: &Path, count: usize, seed: u64) -> Vec<PreferencePair> {
    let file = write_colour_pairs(data, count, seed);
    let read = DatasetSpec::file(&file).read(None).expect("read pairs");
    let (kept, usage) = image_pairs(read);
    assert_eq!(usage.kept, count, "{usage:?}");
    kept
}

fn image_fixture(spec: &ModelSpec, data: &Path, count: usize) -> Fixture {
    let model = TrainableModel::build(spec)
        .unwrap_or_else(|error| panic!("{}: {error}", spec.folder.display()));
    let (training, validation) = train_validation_split(read_pairs(data, count, 11), count / 5, 3);
    Fixture {
        training: encode_pairs(&model, &training).expect("encode"),
        validation: encode_pairs(&model, &validation).expect("encode"),
        data_sha256: data_sha256(&training, &validation),
        model,
    }
}

fn assert_learns_colour_words(name: &str, trainable: Trainable, learning_rate: f64, epochs: usize) {
    let folder = tempfile::tempdir().expect("tempdir");
    let fixture = image_fixture(&image_spec(name, trainable), folder.path(), 160);
    let (_, before) = evaluate(&fixture.model, &fixture.validation, 16).expect("evaluate");
    let mut settings = settings();
    settings.learning_rate = learning_rate;
    settings.batch_pairs = 8;
    settings.epochs = epochs;
    let outcome = run(&fixture, &settings, &folder.path().join("out"));
    assert!(outcome.finished);
    let last = outcome.state.log.validations.last().expect("validated");
    assert!(
        last.accuracy >= 0.9 && last.accuracy > before,
        "{name} {trainable:?}: validation accuracy {} (before training {before}); log {:?}",
        last.accuracy,
        outcome.state.log.validations
    );
}

#[test]
fn clip_heads_learn_which_image_has_the_prompts_colour() {
    assert_learns_colour_words("clip", Trainable::Head, 2e-2, 4);
}

#[test]
fn every_clip_weight_learns_which_image_has_the_prompts_colour() {
    assert_learns_colour_words("clip", Trainable::All, 2e-2, 4);
}

#[test]
fn every_siglip_weight_learns_which_image_has_the_prompts_colour() {
    // SigLIP needs every weight and more epochs here: with the tiny random towers frozen,
    // its heads stayed at chance within 4 epochs (the text tower pools a padding position
    // of a 64-token row, where the random layers leave little of the colour word).

    assert_learns_colour_words("siglip", Trainable::All, 5e-3, 12);
}

fn assert_resumes_to_bit_identical_weights(name: &str, trainable: Trainable) {
    let folder = tempfile::tempdir().expect("tempdir");
    let data = folder.path().join("data");
    let spec = image_spec(name, trainable);
    let mut settings = settings();
    settings.epochs = 2;
    settings.batch_pairs = 4;
    settings.accumulation_steps = 2;
    let uninterrupted = image_fixture(&spec, &data, 40);
    let full = run(&uninterrupted, &settings, &folder.path().join("full"));
    assert!(full.finished);

    let output = folder.path().join("resumed");
    let first = image_fixture(&spec, &data, 40);
    let mut interrupted = settings.clone();
    interrupted.stop_after_steps = Some(3);
    let stopped = run(&first, &interrupted, &output);
    assert_eq!(stopped.state.step, 3);
    let second = image_fixture(&spec, &data, 40);
    let resumed = run(&second, &settings, &output);
    assert_eq!(resumed.resumed_from_step, Some(3));
    assert!(resumed.finished);

    assert_eq!(
        weights_bits(&uninterrupted.model),
        weights_bits(&second.model)
    );
    assert_eq!(full.state.log, resumed.state.log);
    assert_ne!(
        weights_bits(&uninterrupted.model),
        weights_bits(&image_fixture(&spec, &data, 40).model),
        "training moved no weight"
    );
}

#[test]
fn interrupted_clip_training_resumes_to_bit_identical_weights() {
    assert_resumes_to_bit_identical_weights("clip", Trainable::All);
}

#[test]
fn interrupted_siglip_training_resumes_to_bit_identical_weights() {
    assert_resumes_to_bit_identical_weights("siglip", Trainable::Head);
}

fn assert_gradients_match(name: &str, trainable: Trainable, minimum: usize) {
    let folder = tempfile::tempdir().expect("tempdir");
    let fixture = image_fixture(&image_spec(name, trainable), folder.path(), 10);
    let pairs: Vec<&EncodedPair> = fixture.training.iter().take(4).collect();
    // The same tolerance as the text families' random-weight fixtures: f32 rounding of the loss
    // over the step h is about 1e-4.
    let checked =
        assert_gradients_of_pairs_match_finite_differences(&fixture.model, &pairs, 2, 5e-4);
    assert!(checked >= minimum, "{name}: only {checked} entries checked");
}

#[test]
fn gradients_of_every_clip_weight_match_finite_differences() {
    // 78 tensors: per tower 2 layers of 16 and the embeddings and norms (36 text, 39 vision),
    // the two projections and logit_scale; two entries each, one of the scalar.
    assert_gradients_match("clip", Trainable::All, 78 * 2 - 1);
}

#[test]
fn gradients_of_every_siglip_weight_match_finite_differences() {
    // 87 tensors: 38 text (head included), 48 vision (attention-pooling head included) and
    // logit_scale; logit_bias is not trained.
    assert_gradients_match("siglip", Trainable::All, 87 * 2 - 1);
}

#[test]
fn head_training_updates_the_projections_and_logit_scale_only() {
    let clip = TrainableModel::build(&image_spec("clip", Trainable::Head)).expect("clip");
    let names: Vec<String> = clip
        .weights
        .trainable_variables()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(
        names,
        [
            "logit_scale",
            "text_projection.weight",
            "visual_projection.weight"
        ]
    );
    let siglip = TrainableModel::build(&image_spec("siglip", Trainable::All)).expect("siglip");
    assert!(
        siglip
            .weights
            .trainable_variables()
            .iter()
            .all(|(name, _)| name != "logit_bias"),
        "the bias cancels in the Bradley-Terry loss and is never trained"
    );
}

/// The rewards of models built for head-only training and for training every weight (fused
/// and differentiable kernels for CLIP) agree: same weights, same inputs.
#[test]
fn clip_scores_alike_on_fused_and_differentiable_kernels() {
    let folder = tempfile::tempdir().expect("tempdir");
    let fused = image_fixture(&image_spec("clip", Trainable::Head), folder.path(), 10);
    let composed = image_fixture(&image_spec("clip", Trainable::All), folder.path(), 10);
    let pairs: Vec<&EncodedPair> = fused.training.iter().collect();
    let (first, _) = pair_rewards(&fused.model, &pairs).expect("fused");
    let (second, _) = pair_rewards(&composed.model, &pairs).expect("composed");
    let first = first.to_vec1::<f32>().expect("values");
    let second = second.to_vec1::<f32>().expect("values");
    for (first, second) in first.iter().zip(&second) {
        assert!((first - second).abs() <= 1e-5, "{first} vs {second}");
    }
}

fn assert_judge_scores_like_the_trainer(name: &str, trainable: Trainable) {
    let folder = tempfile::tempdir().expect("tempdir");
    let fixture = image_fixture(&image_spec(name, trainable), folder.path(), 30);
    let mut settings = settings();
    settings.stop_after_steps = Some(3);
    settings.batch_pairs = 4;
    run(&fixture, &settings, &folder.path().join("out"));
    let saved = folder.path().join("saved");
    fixture.model.save(&saved).expect("save");

    let judge = LocalJudge::load(&saved, &LocalJudgeOptions::default()).expect("judge loads it");
    let pairs = read_pairs(&folder.path().join("fresh"), 4, 99);
    let encoded = encode_pairs(&fixture.model, &pairs).expect("encode");
    for (pair, encoded) in pairs.iter().zip(&encoded) {
        let image = |media: &[crate::data::MediaItem]| -> DynamicImage {
            decode_image(&media[0].path, &pair.origin).expect("image")
        };
        let judged = judge
            .score_image_pairs(
                &[ImagePair {
                    text: request_text(&pair.criterion, &pair.prompt),
                    first: vec![image(&pair.chosen_media)],
                    second: vec![image(&pair.rejected_media)],
                }],
                &mut |_| {},
            )
            .expect("scores")[0];
        let (chosen, rejected) = pair_rewards(&fixture.model, &[encoded]).expect("rewards");
        let ours = [
            chosen.to_vec1::<f32>().expect("v")[0],
            rejected.to_vec1::<f32>().expect("v")[0],
        ];
        assert!(
            (ours[0] - judged[0]).abs() < 1e-5 && (ours[1] - judged[1]).abs() < 1e-5,
            "{name}: {ours:?} vs {judged:?}"
        );
    }
}

#[test]
fn a_trained_clip_folder_scores_the_same_in_the_local_judge() {
    assert_judge_scores_like_the_trainer("clip", Trainable::All);
}

#[test]
fn a_trained_siglip_folder_scores_the_same_in_the_local_judge() {
    assert_judge_scores_like_the_trainer("siglip", Trainable::Head);
}
