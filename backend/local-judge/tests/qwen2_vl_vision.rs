//! Parity of the Qwen2-VL and Qwen2.5-VL vision towers with `transformers` 4.57.3: tiny random
//! checkpoints (`tests/fixtures/qwen2_vl_tiny`, `qwen2_5_vl_tiny`, written by
//! `make_qwen2_vl_vision.py`) and their towers' outputs for the image-processor fixture's
//! images: a 140 × 196 image (a merged grid no multiple of Qwen2.5-VL's window), a small
//! upscaled one, and two images in one call.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use omnireward_local_judge::models::RewardLabel;
use omnireward_local_judge::models::kernels::Kernels;
use omnireward_local_judge::models::layers::ModelSource;
use omnireward_local_judge::models::qwen2_vl_vision::{VisionTower, VisionVariant};
use omnireward_local_judge::qwen2_vl_processor::Qwen2VlImageProcessor;
use omnireward_local_judge::weights::load_var_builder;
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn read_json(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    serde_json::from_str(&text).expect("JSON")
}

fn read_f32(path: &Path) -> Vec<f32> {
    std::fs::read(path)
        .expect("values")
        .chunks_exact(4)
        .map(|chunk| f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
        .collect()
}

fn check(variant_folder: &str, variant: VisionVariant) {
    let folder = fixtures().join(variant_folder);
    let config_file = folder.join("config.json");
    let config = read_json(&config_file);
    let weights = load_var_builder(
        &[folder.join("model.safetensors")],
        DType::F32,
        &Device::Cpu,
    )
    .expect("weights");
    let source = ModelSource {
        config_file: &config_file,
        config: &config,
        weights,
        reward_label: &RewardLabel::default(),
        kernels: Kernels::Fused,
    };
    let tower = VisionTower::load_from_checkpoint(&source, variant).expect("tower");
    let processor = Qwen2VlImageProcessor::load(&folder).expect("processor");
    for case in ["grid_140x196", "small_20x20", "two_images"] {
        let expected = read_json(&folder.join(format!("{case}.json")));
        let images: Vec<image::DynamicImage> = expected["images"]
            .as_array()
            .expect("images")
            .iter()
            .map(|name| {
                let name = name.as_str().expect("a name");
                image::open(
                    fixtures()
                        .join("qwen2_vl_processor")
                        .join(format!("{name}.png")),
                )
                .expect("image")
            })
            .collect();
        let patches = processor.preprocess(&images).expect("patches");
        let pixel_values = Tensor::from_vec(
            patches.pixel_values.clone(),
            (patches.rows(), patches.features),
            &Device::Cpu,
        )
        .expect("tensor");
        let output = tower
            .forward(&pixel_values, &patches.grids)
            .expect("forward")
            .flatten_all()
            .and_then(|values| values.to_vec1::<f32>())
            .expect("values");
        let reference = read_f32(&folder.join(format!("{case}.f32")));
        assert_eq!(output.len(), reference.len(), "{variant_folder} {case}");
        let worst = output
            .iter()
            .zip(&reference)
            .map(|(ours, theirs)| (ours - theirs).abs() / theirs.abs().max(1.0))
            .fold(0.0_f32, f32::max);
        assert!(
            worst <= 1e-4,
            "{variant_folder} {case}: largest difference {worst}"
        );
    }
}

#[test]
fn the_qwen2_vl_tower_equals_transformers() {
    check("qwen2_vl_tiny", VisionVariant::Qwen2Vl);
}

#[test]
fn the_qwen2_5_vl_tower_with_windows_equals_transformers() {
    check("qwen2_5_vl_tiny", VisionVariant::Qwen25Vl);
}
