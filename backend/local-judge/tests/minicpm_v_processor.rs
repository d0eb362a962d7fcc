//! Parity of the MiniCPM-V / MiniCPM-o image inputs with the reference `MiniCPMVImageProcessor`
//! on the images `tests/fixtures/make_minicpm_v_processor.py` wrote (small settings, every code
//! path: upscaled without slices, a tie between grids, wide, tall and square slicing): the slice
//! grid, each picture's target size and pixel values (1e-6), and the placeholder text.

use std::path::{Path, PathBuf};

use omnireward_local_judge::minicpm_v_processor::MiniCpmVImageProcessor;
use serde_json::Value;

fn folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/minicpm_v_processor")
}

fn read_f32(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    bytes
        .chunks_exact(4)
        .map(|chunk| f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
        .collect()
}

#[test]
fn pictures_and_placeholders_equal_the_reference_processor() {
    let cases: Value =
        serde_json::from_str(&std::fs::read_to_string(folder().join("cases.json")).expect("cases"))
            .expect("JSON");
    let processor = MiniCpmVImageProcessor::from_json(&cases["settings"]).expect("settings");
    for (index, case) in cases["images"]
        .as_array()
        .expect("images")
        .iter()
        .enumerate()
    {
        let name = case["name"].as_str().expect("name");
        let image = image::open(folder().join(format!("{name}.png"))).expect("image");
        let processed = processor.process(&image).expect("processed");
        let grid = case["grid"].as_array().map(|grid| {
            [
                grid[0].as_u64().expect("columns") as usize,
                grid[1].as_u64().expect("rows") as usize,
            ]
        });
        assert_eq!(processed.grid, grid, "{name}: grid");
        let target_sizes: Vec<[usize; 2]> = case["target_sizes"]
            .as_array()
            .expect("target sizes")
            .iter()
            .map(|size| {
                [
                    size[0].as_u64().expect("rows") as usize,
                    size[1].as_u64().expect("columns") as usize,
                ]
            })
            .collect();
        let ours: Vec<[usize; 2]> = processed
            .pictures
            .iter()
            .map(|picture| picture.target_size)
            .collect();
        assert_eq!(ours, target_sizes, "{name}: target sizes");
        let theirs = read_f32(&folder().join(format!("{name}.pixels.f32")));
        let ours: Vec<f32> = processed
            .pictures
            .iter()
            .flat_map(|picture| picture.pixel_values.iter().copied())
            .collect();
        assert_eq!(ours.len(), theirs.len(), "{name}: value count");
        let worst = ours
            .iter()
            .zip(&theirs)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0_f32, f32::max);
        assert!(worst <= 1e-6, "{name}: largest difference {worst}");
        let [width, height] = [
            case["size"][0].as_u64().expect("width") as u32,
            case["size"][1].as_u64().expect("height") as u32,
        ];
        assert_eq!(
            processor.placeholder(width, height, index),
            case["placeholder"].as_str().expect("placeholder"),
            "{name}: placeholder"
        );
    }
}
