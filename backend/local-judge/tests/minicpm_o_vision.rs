//! Parity of MiniCPM-o's vision path (NaViT SigLIP and the resampler) with the reference code,
//! on the tiny random checkpoint `tests/fixtures/make_minicpm_o_vision.py` wrote: every picture
//! of the processor fixture (sources and slices of five images), which the reference ran as one
//! padded batch and ours encodes one at a time: the encoder's last hidden states and the 4
//! resampled embeddings within 1e-4. And the bucketed position ids equal torch's for every patch
//! count from 1 to 100 over the released 70-wide table, exact bounds included.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use omnireward_local_judge::models::minicpm_o_vision::{
    MiniCpmOVision, VisionEncoderConfig, position_ids,
};
use omnireward_local_judge::weights::load_var_builder;
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(path)
            .unwrap_or_else(|error| panic!("{}: {error}", path.display())),
    )
    .expect("JSON")
}

fn read_f32(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    bytes
        .chunks_exact(4)
        .map(|chunk| f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
        .collect()
}

fn values(tensor: &Tensor) -> Vec<f32> {
    tensor
        .flatten_all()
        .and_then(|flat| flat.to_vec1())
        .expect("values")
}

fn largest_difference(ours: &[f32], theirs: &[f32]) -> f32 {
    assert_eq!(ours.len(), theirs.len(), "value counts");
    ours.iter()
        .zip(theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}

#[test]
fn pictures_encode_and_resample_as_the_reference_batch_does() {
    let folder = fixtures().join("minicpm_o_vision");
    let config = read_json(&folder.join("config.json"));
    let vision_config: VisionEncoderConfig =
        serde_json::from_value(config["vision_config"].clone()).expect("vision_config");
    let weights = load_var_builder(
        &[folder.join("model.safetensors")],
        DType::F32,
        &Device::Cpu,
    )
    .expect("weights");
    let vision = MiniCpmOVision::load(
        &vision_config,
        config["hidden_size"].as_u64().expect("hidden_size") as usize,
        config["query_num"].as_u64().expect("query_num") as usize,
        false,
        weights,
    )
    .expect("vision path");
    let cases = read_json(&fixtures().join("minicpm_v_processor/cases.json"));
    let mut checked = 0;
    for case in cases["images"].as_array().expect("images") {
        let image = case["name"].as_str().expect("name");
        let all = read_f32(&fixtures().join(format!("minicpm_v_processor/{image}.pixels.f32")));
        let mut offset = 0;
        let counts = case["values"].as_array().expect("values");
        let sizes = case["target_sizes"].as_array().expect("sizes");
        for (index, (count, size)) in counts.iter().zip(sizes).enumerate() {
            let count = count.as_u64().expect("count") as usize;
            let size = [
                size[0].as_u64().expect("rows") as usize,
                size[1].as_u64().expect("columns") as usize,
            ];
            let pixels = &all[offset..offset + count];
            offset += count;
            let name = format!("{image}.{index}");
            let encoded = vision.encode(pixels, size).expect("encoded");
            let worst = largest_difference(
                &values(&encoded),
                &read_f32(&folder.join(format!("{name}.encoded.f32"))),
            );
            assert!(worst < 1e-4, "{name}: encoder, largest difference {worst}");
            let embedded = vision.embed(pixels, size).expect("embedded");
            let worst = largest_difference(
                &values(&embedded),
                &read_f32(&folder.join(format!("{name}.embedded.f32"))),
            );
            assert!(
                worst < 1e-4,
                "{name}: resampler, largest difference {worst}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 17, "every picture of the processor fixture");
}

#[test]
fn position_buckets_equal_torch_for_every_count_up_to_100() {
    let positions = read_json(&fixtures().join("minicpm_o_vision/positions.json"));
    let side = positions["side"].as_u64().expect("side") as usize;
    for count in 1..=100_usize {
        let theirs: Vec<u32> = positions["buckets"][count.to_string()]
            .as_array()
            .expect("buckets")
            .iter()
            .map(|bucket| bucket.as_u64().expect("a bucket") as u32)
            .collect();
        // One row of `count` columns: its position ids are the column buckets.
        assert_eq!(position_ids(1, count, side), theirs, "{count} patches");
    }
}

#[test]
fn pictures_of_the_wrong_size_are_refused() {
    let folder = fixtures().join("minicpm_o_vision");
    let config = read_json(&folder.join("config.json"));
    let vision_config: VisionEncoderConfig =
        serde_json::from_value(config["vision_config"].clone()).expect("vision_config");
    let weights = load_var_builder(
        &[folder.join("model.safetensors")],
        DType::F32,
        &Device::Cpu,
    )
    .expect("weights");
    let vision = MiniCpmOVision::load(&vision_config, 128, 4, false, weights).expect("vision");
    assert!(vision.encode(&[0.0; 10], [1, 1]).is_err());
    assert!(vision.encode(&[], [0, 3]).is_err());
}
