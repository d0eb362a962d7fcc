//! Parity of the Whisper log-mel features with `transformers`' `WhisperFeatureExtractor` (80 mel
//! bins, torch path) on the two clips `tests/fixtures/make_whisper_features.py` wrote: every
//! value of the clip's frames and of the padding just after them within 1e-4, the frames the
//! attention mask counts, and the one value every later padding frame holds.

use std::path::{Path, PathBuf};

use omnireward_local_judge::whisper_features::WhisperFeatureExtractor;
use serde_json::Value;

fn folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/whisper_features")
}

fn read_f32(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    bytes
        .chunks_exact(4)
        .map(|chunk| f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
        .collect()
}

#[test]
fn features_equal_the_reference_extractor() {
    let summary: Value = serde_json::from_str(
        &std::fs::read_to_string(folder().join("features.json")).expect("features.json"),
    )
    .expect("JSON");
    let extractor = WhisperFeatureExtractor::new(80).expect("extractor");
    for name in ["chirp_2s", "tone_12345"] {
        let expected = &summary[name];
        let samples = read_f32(&folder().join(format!("{name}.samples.f32")));
        assert_eq!(
            samples.len() as u64,
            expected["samples"].as_u64().expect("samples")
        );
        let features = extractor.extract(&samples).expect("features");
        assert_eq!(
            features.frames as u64,
            expected["frames"].as_u64().expect("frames")
        );
        assert_eq!(
            features.valid_frames as u64,
            expected["valid_frames"].as_u64().expect("valid frames"),
            "{name}"
        );
        let kept = expected["kept"].as_u64().expect("kept") as usize;
        let theirs = read_f32(&folder().join(format!("{name}.features.f32")));
        assert_eq!(theirs.len(), 80 * kept);
        let mut worst = 0.0_f32;
        for bin in 0..80 {
            for frame in 0..kept {
                let difference = (features.get(bin, frame) - theirs[bin * kept + frame]).abs();
                worst = worst.max(difference);
            }
        }
        assert!(worst < 1e-4, "{name}: largest difference {worst}");
        let tail = expected["tail_value"].as_f64().expect("tail") as f32;
        for bin in 0..80 {
            for frame in kept..features.frames {
                assert!(
                    (features.get(bin, frame) - tail).abs() < 1e-4,
                    "{name}: bin {bin}, frame {frame}"
                );
            }
        }
    }
}
