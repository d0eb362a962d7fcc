//! Parity of MiniCPM-o's audio path (Whisper encoder in 1 s block-causal chunks, projection,
//! pooling) with the tiny random checkpoint and outputs `tests/fixtures/make_minicpm_o_audio.py`
//! wrote with transformers' Whisper modules: the encoder's last hidden states and the audio
//! embeddings within 1e-4, for a 2 s clip (two chunks) and a 0.77 s clip, fed the features
//! transformers extracted (`whisper_features/`); and the same embeddings from our own features.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use omnireward_local_judge::models::minicpm_o_audio::{
    AudioEncoderConfig, MiniCpmOAudio, audio_tokens,
};
use omnireward_local_judge::weights::load_var_builder;
use omnireward_local_judge::whisper_features::WhisperFeatureExtractor;
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

fn largest_difference(ours: &[f32], theirs: &[f32]) -> f32 {
    assert_eq!(ours.len(), theirs.len(), "value counts");
    ours.iter()
        .zip(theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}

fn load() -> MiniCpmOAudio {
    let folder = fixtures().join("minicpm_o_audio");
    let config = read_json(&folder.join("config.json"));
    let audio: AudioEncoderConfig =
        serde_json::from_value(config["audio_config"].clone()).expect("audio_config");
    let weights = load_var_builder(
        &[folder.join("model.safetensors")],
        DType::F32,
        &Device::Cpu,
    )
    .expect("weights");
    MiniCpmOAudio::load(
        &audio,
        config["hidden_size"].as_u64().expect("hidden_size") as usize,
        config["audio_chunk_length"]
            .as_f64()
            .expect("audio_chunk_length"),
        weights,
    )
    .expect("audio path")
}

/// The features transformers extracted for a clip, cut to its valid frames, `[80][valid]`.
fn reference_features(name: &str) -> (Vec<f32>, usize) {
    let summary = read_json(&fixtures().join("whisper_features/features.json"));
    let kept = summary[name]["kept"].as_u64().expect("kept") as usize;
    let valid = summary[name]["valid_frames"].as_u64().expect("valid") as usize;
    let all = read_f32(&fixtures().join(format!("whisper_features/{name}.features.f32")));
    let features = (0..80)
        .flat_map(|bin| all[bin * kept..bin * kept + valid].to_vec())
        .collect();
    (features, valid)
}

#[test]
fn encoder_and_embeddings_equal_the_reference() {
    let audio = load();
    let outputs = read_json(&fixtures().join("minicpm_o_audio/outputs.json"));
    for name in ["chirp_2s", "tone_12345"] {
        let (features, frames) = reference_features(name);
        let expected = &outputs[name];
        let encoded = audio.encode(&features, frames).expect("encoded");
        assert_eq!(
            encoded.dim(0).expect("frames") as u64,
            expected["encoder_frames"].as_u64().expect("frames")
        );
        let ours: Vec<f32> = encoded
            .flatten_all()
            .and_then(|t| t.to_vec1())
            .expect("values");
        let theirs = read_f32(&fixtures().join(format!("minicpm_o_audio/{name}.encoded.f32")));
        let worst = largest_difference(&ours, &theirs);
        assert!(worst < 1e-4, "{name}: encoder, largest difference {worst}");
        let embeddings = audio.embed(&features, frames).expect("embeddings");
        let tokens = expected["tokens"].as_u64().expect("tokens") as usize;
        assert_eq!(
            (embeddings.dim(0).expect("tokens"), audio_tokens(frames)),
            (tokens, tokens)
        );
        let ours: Vec<f32> = embeddings
            .flatten_all()
            .and_then(|t| t.to_vec1())
            .expect("values");
        let theirs = read_f32(&fixtures().join(format!("minicpm_o_audio/{name}.embeddings.f32")));
        let worst = largest_difference(&ours, &theirs);
        assert!(
            worst < 1e-4,
            "{name}: embeddings, largest difference {worst}"
        );
    }
}

#[test]
fn our_features_give_the_same_embeddings() {
    let audio = load();
    let extractor = WhisperFeatureExtractor::new(80).expect("extractor");
    for name in ["chirp_2s", "tone_12345"] {
        let samples = read_f32(&fixtures().join(format!("whisper_features/{name}.samples.f32")));
        let features = extractor.extract(&samples).expect("features");
        let valid = features.valid_frames;
        let cut: Vec<f32> = (0..80)
            .flat_map(|bin| (0..valid).map(move |frame| (bin, frame)))
            .map(|(bin, frame)| features.get(bin, frame))
            .collect();
        let ours: Vec<f32> = audio
            .embed(&cut, valid)
            .and_then(|tensor| {
                tensor.flatten_all().and_then(|t| t.to_vec1()).map_err(
                    omnireward_local_judge::error::LocalJudgeError::model("reading"),
                )
            })
            .expect("embeddings");
        let theirs = read_f32(&fixtures().join(format!("minicpm_o_audio/{name}.embeddings.f32")));
        let worst = largest_difference(&ours, &theirs);
        assert!(
            worst < 1e-3,
            "{name}: embeddings from our features, largest difference {worst}"
        );
    }
}

#[test]
fn features_of_the_wrong_shape_are_refused() {
    let audio = load();
    assert!(audio.encode(&[0.0; 80 * 3], 4).is_err());
    assert!(audio.encode(&[], 0).is_err());
    // More than the learned positions cover (200 encoder frames = 400 mel frames here).
    assert!(audio.encode(&vec![0.0; 80 * 402], 402).is_err());
}
