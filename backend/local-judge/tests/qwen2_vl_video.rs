//! Video parity of the Qwen2-VL family with `transformers` 4.57.3 (`make_qwen2_vl_video.py`): a
//! 4-frame video's pixel values from the slow processor's video path, the vision towers'
//! features for it, and a scored conversation whose user turn holds the video, an image and
//! text (rendered text, token ids, 3-D positions with Qwen2.5-VL's time scaling, last hidden
//! state and reward), for both variants.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use image::DynamicImage;
use omnireward_local_judge::models::qwen2_vl::{ConversationEncoder, Qwen2VlRewardModel};
use omnireward_local_judge::qwen2_vl_processor::{
    MediaKind, Qwen2VlImageProcessor, VisualInput, VisualPatches,
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

fn numbers(value: &Value) -> Vec<f64> {
    value
        .as_array()
        .expect("a list")
        .iter()
        .map(|number| number.as_f64().expect("a number"))
        .collect()
}

fn picture(name: &str) -> DynamicImage {
    image::open(
        fixtures()
            .join("qwen2_vl_processor")
            .join(format!("{name}.png")),
    )
    .expect("image")
}

fn frames() -> Vec<DynamicImage> {
    let video = read_json(&fixtures().join("qwen2_vl_processor/video.json"));
    video["frames"]
        .as_array()
        .expect("frames")
        .iter()
        .map(|name| picture(name.as_str().expect("a name")))
        .collect()
}

fn tensor(patches: &VisualPatches) -> Tensor {
    Tensor::from_vec(
        patches.pixel_values.clone(),
        (patches.rows(), patches.features),
        &Device::Cpu,
    )
    .expect("tensor")
}

fn largest_difference(ours: &[f32], theirs: &[f64]) -> f64 {
    assert_eq!(ours.len(), theirs.len());
    ours.iter()
        .zip(theirs)
        .map(|(ours, theirs)| (f64::from(*ours) - theirs).abs())
        .fold(0.0, f64::max)
}

#[test]
fn a_four_frame_videos_pixel_values_equal_the_slow_processors() {
    let folder = fixtures().join("qwen2_vl_processor");
    let expected = read_json(&folder.join("video.json"));
    // No video_preprocessor_config.json: the image settings, as transformers falls back.
    let processor = Qwen2VlImageProcessor::load_for_video(&folder).expect("settings");
    let frames = frames();
    let patches = processor
        .preprocess_media(&[VisualInput::Video {
            frames: &frames,
            frames_per_second: 2.0,
        }])
        .expect("patches");
    let grid: Vec<usize> = numbers(&expected["video_grid_thw"])
        .into_iter()
        .map(|n| n as usize)
        .collect();
    assert_eq!(patches.grids, vec![[grid[0], grid[1], grid[2]]]);
    assert_eq!(
        patches.kinds,
        vec![MediaKind::Video {
            seconds_per_grid: 1.0
        }]
    );
    let reference: Vec<f64> = std::fs::read(folder.join("video.f32"))
        .expect("values")
        .chunks_exact(4)
        .map(|chunk| f64::from(f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]])))
        .collect();
    let worst = largest_difference(&patches.pixel_values, &reference);
    assert!(worst <= 1e-6, "largest difference {worst}");
}

#[test]
fn an_odd_frame_count_repeats_the_last_frame_and_a_still_image_is_one_clip() {
    let folder = fixtures().join("qwen2_vl_processor");
    let processor = Qwen2VlImageProcessor::load_for_video(&folder).expect("settings");
    let frames = frames();
    let video = |frames: &[DynamicImage]| {
        processor
            .preprocess_media(&[VisualInput::Video {
                frames,
                frames_per_second: 2.0,
            }])
            .expect("patches")
    };
    let three = video(&frames[..3]);
    let padded = video(&[
        frames[0].clone(),
        frames[1].clone(),
        frames[2].clone(),
        frames[2].clone(),
    ]);
    assert_eq!(three.grids, vec![[2, 4, 6]]);
    assert_eq!(three.pixel_values, padded.pixel_values);
    // A one-frame video is an image's patches.
    let still = video(&frames[..1]);
    let image = processor
        .preprocess(std::slice::from_ref(&frames[0]))
        .expect("image");
    assert_eq!(still.pixel_values, image.pixel_values);
    let error = processor
        .preprocess_media(&[VisualInput::Video {
            frames: &frames,
            frames_per_second: 0.0,
        }])
        .expect_err("no rate");
    assert!(error.to_string().contains("frames per second"), "{error}");
}

fn check(variant: &str) {
    let folder = fixtures().join(variant);
    let expected = read_json(&folder.join("video.json"));
    let model = Qwen2VlRewardModel::load(&folder, DType::F32, &Device::Cpu).expect("model");
    let encoder = ConversationEncoder::load(&folder).expect("template and tokenizer");
    let images = Qwen2VlImageProcessor::load(&folder).expect("image settings");
    let videos = Qwen2VlImageProcessor::load_for_video(&folder).expect("video settings");
    let frames = frames();
    let fps = expected["fps"].as_f64().expect("fps");
    let mut patches = videos
        .preprocess_media(&[VisualInput::Video {
            frames: &frames,
            frames_per_second: fps,
        }])
        .expect("video patches");

    // The tower alone over the video (two temporal patches).
    let features = model
        .vision_features(&tensor(&patches), &patches.grids)
        .expect("features")
        .flatten_all()
        .and_then(|values| values.to_vec1::<f32>())
        .expect("values");
    let theirs: Vec<f64> = expected["video_features"]
        .as_array()
        .expect("rows")
        .iter()
        .flat_map(numbers)
        .collect();
    let worst = largest_difference(&features, &theirs);
    assert!(worst <= 1e-4, "{variant}: video features off by {worst}");

    let image = picture(expected["image"].as_str().expect("name"));
    patches
        .append(images.preprocess(&[image]).expect("image patches"))
        .expect("joined");
    let text = |name: &str| expected[name].as_str().expect("text").to_owned();
    let rendered = encoder
        .render(
            &text("criterion"),
            &text("prompt"),
            &patches.kinds,
            &text("response"),
        )
        .expect("rendered");
    assert_eq!(rendered, text("text"), "{variant}");
    let media = patches.media();
    let prompt = encoder
        .encode(
            &text("criterion"),
            &text("prompt"),
            &media,
            model.merge_size(),
            &text("response"),
        )
        .expect("encoded");
    let ids: Vec<u32> = numbers(&expected["input_ids"])
        .into_iter()
        .map(|id| id as u32)
        .collect();
    assert_eq!(prompt.input_ids, ids, "{variant}");
    let positions = model
        .rope_positions(&prompt.input_ids, &media)
        .expect("positions");
    for (axis, theirs) in expected["positions"]
        .as_array()
        .expect("axes")
        .iter()
        .enumerate()
    {
        let theirs: Vec<u32> = numbers(theirs).into_iter().map(|n| n as u32).collect();
        let ours: Vec<u32> = positions.iter().map(|position| position[axis]).collect();
        assert_eq!(ours, theirs, "{variant}: axis {axis}");
    }
    let (hidden, rewards) = model
        .forward(&[prompt], Some(&tensor(&patches)), &media)
        .expect("forward");
    let hidden = hidden.to_vec2::<f32>().expect("hidden");
    let worst = largest_difference(&hidden[0], &numbers(&expected["last_hidden_state"]));
    assert!(worst <= 1e-4, "{variant}: hidden state off by {worst}");
    let reward = rewards.to_vec1::<f32>().expect("reward")[0];
    let theirs = expected["reward"].as_f64().expect("reward");
    assert!(
        (f64::from(reward) - theirs).abs() <= 1e-4,
        "{variant}: reward {reward} against {theirs}"
    );
}

#[test]
fn a_qwen2_vl_conversation_with_a_video_scores_like_transformers() {
    check("qwen2_vl_tiny");
}

#[test]
fn a_qwen2_5_vl_conversation_with_a_video_scores_like_transformers() {
    check("qwen2_5_vl_tiny");
}
