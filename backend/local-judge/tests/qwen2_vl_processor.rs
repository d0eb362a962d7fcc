//! Parity of the Qwen2-VL image processor with `transformers`' slow `Qwen2VLImageProcessor`
//! (4.57.3, Pillow 12.0.0): the fixture (`tests/fixtures/qwen2_vl_processor/`, written by
//! `make_qwen2_vl_processor.py`) holds seeded random images, the images Pillow resized them to,
//! and the processor's `pixel_values` and grids.

use std::path::{Path, PathBuf};

use image::RgbImage;
use omnireward_local_judge::pil_resample::{self, Filter};
use omnireward_local_judge::qwen2_vl_processor::Qwen2VlImageProcessor;
use serde_json::Value;

const IMAGES: [&str; 5] = [
    "grid_140x196",
    "strip_50x300",
    "small_20x20",
    "large_240x320",
    "exact_56x84",
];

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/qwen2_vl_processor")
}

fn rgb(path: &Path) -> RgbImage {
    image::open(path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
        .to_rgb8()
}

fn expected(name: &str) -> Value {
    let path = fixture().join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).expect("fixture JSON");
    serde_json::from_str(&text).expect("JSON")
}

fn number(value: &Value) -> usize {
    usize::try_from(value.as_u64().expect("a whole number")).expect("fits")
}

#[test]
fn images_are_resized_to_the_same_size_and_pixels_as_pillow() {
    let processor = Qwen2VlImageProcessor::load(&fixture()).expect("processor settings");
    for name in IMAGES {
        let expected = expected(name);
        let source = rgb(&fixture().join(format!("{name}.png")));
        let (height, width) = processor
            .target_size(source.height(), source.width())
            .expect("a size");
        assert_eq!(
            (height as usize, width as usize),
            (
                number(&expected["resized_height"]),
                number(&expected["resized_width"])
            ),
            "{name}"
        );
        let resized = pil_resample::resize(&source, width, height, Filter::Bicubic);
        let pillow = rgb(&fixture().join(format!("{name}.resized.png")));
        let differing = resized
            .pixels()
            .zip(pillow.pixels())
            .filter(|(ours, theirs)| ours != theirs)
            .count();
        assert_eq!(differing, 0, "{name}: pixels that differ from Pillow's");
    }
}

#[test]
fn pixel_values_and_grids_equal_the_processors() {
    let processor = Qwen2VlImageProcessor::load(&fixture()).expect("processor settings");
    for name in IMAGES {
        let expected = expected(name);
        let image = image::open(fixture().join(format!("{name}.png"))).expect("image");
        let patches = processor
            .preprocess(std::slice::from_ref(&image))
            .expect("preprocessed");
        let grid: Vec<usize> = expected["image_grid_thw"]
            .as_array()
            .expect("grid")
            .iter()
            .map(number)
            .collect();
        assert_eq!(patches.grids, vec![[grid[0], grid[1], grid[2]]], "{name}");
        let shape: Vec<usize> = expected["pixel_values_shape"]
            .as_array()
            .expect("shape")
            .iter()
            .map(number)
            .collect();
        assert_eq!(
            (patches.rows(), patches.features),
            (shape[0], shape[1]),
            "{name}"
        );
        let values_file = fixture().join(format!("{name}.f32"));
        if !values_file.exists() {
            // The large image's values are not committed (1 MB); its resize is checked above.
            continue;
        }
        let bytes = std::fs::read(&values_file).expect("values");
        let reference: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|chunk| f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
            .collect();
        assert_eq!(reference.len(), patches.pixel_values.len(), "{name}");
        let worst = reference
            .iter()
            .zip(&patches.pixel_values)
            .map(|(theirs, ours)| (theirs - ours).abs())
            .fold(0.0_f32, f32::max);
        assert!(worst <= 1e-6, "{name}: largest difference {worst}");
    }
}

#[test]
fn two_images_stack_their_patches_in_order() {
    let processor = Qwen2VlImageProcessor::load(&fixture()).expect("processor settings");
    let first = image::open(fixture().join("exact_56x84.png")).expect("image");
    let second = image::open(fixture().join("small_20x20.png")).expect("image");
    let both = processor
        .preprocess(&[first.clone(), second.clone()])
        .expect("both");
    let one = processor.preprocess(&[first]).expect("first");
    let other = processor.preprocess(&[second]).expect("second");
    assert_eq!(both.grids, [one.grids[0], other.grids[0]]);
    let mut stacked = one.pixel_values.clone();
    stacked.extend_from_slice(&other.pixel_values);
    assert_eq!(both.pixel_values, stacked);
}
