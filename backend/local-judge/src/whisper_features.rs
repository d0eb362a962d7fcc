//! Whisper's log-mel input features, equal to `transformers`' `WhisperFeatureExtractor` (the
//! audio encoders of MiniCPM-o and Qwen2-Audio read them).
//!
//! The extractor's arithmetic, step by step: 16 kHz mono samples padded with zeros (or cut) to
//! 30 s; a short-time Fourier transform with a 400-sample periodic Hann window every 160
//! samples, centred (200 samples of reflection at each end); the power spectrum of the 201
//! non-negative frequencies; 80 triangular mel filters on the Slaney scale from 0 to 8 kHz, each
//! scaled to constant energy (Slaney's norm); `log10` of the mel energies floored at 1e-10; the
//! last frame dropped (3,000 frames for 30 s); every value raised to at least the clip's maximum
//! less 8; then `(x + 4) / 4`.
//!
//! The transform is a direct DFT over precomputed sine and cosine tables in f64 (400 is no power
//! of two, and the frames are few); frames that see only padding have an all-zero spectrum and are
//! not computed. `transformers` computes in f32 (`torch.stft`), so values agree to about 1e-6, and
//! `tests/whisper_features.rs` checks them within 1e-4 against features it wrote.

use crate::error::LocalJudgeError;

/// Samples per second the extractor expects.
pub const SAMPLING_RATE: usize = 16_000;
/// Samples between frames (10 ms).
pub const HOP_LENGTH: usize = 160;
/// The Fourier transform's length and the window's (25 ms).
const FFT_LENGTH: usize = 400;
/// Non-negative frequencies of the transform.
const FREQUENCY_BINS: usize = FFT_LENGTH / 2 + 1;
/// Seconds every clip is padded or cut to.
pub const CHUNK_SECONDS: usize = 30;
/// The floor of the mel energies before the logarithm.
const MEL_FLOOR: f64 = 1e-10;
/// The dynamic range kept below the clip's loudest value, in log10 units.
const DYNAMIC_RANGE: f64 = 8.0;

/// The log-mel features of one clip.
#[derive(Clone, Debug, PartialEq)]
pub struct LogMelFeatures {
    /// `[mel_bins][frames]`, row-major (the extractor's `input_features[0]`).
    pub values: Vec<f32>,
    /// Mel bins (rows).
    pub mel_bins: usize,
    /// Frames (columns): the padded length's, 3,000 for 30 s.
    pub frames: usize,
    /// Frames that hold the clip rather than padding: `samples / 160` rounded up, as the
    /// extractor's attention mask counts them.
    pub valid_frames: usize,
}

impl LogMelFeatures {
    /// The value of mel bin `bin` at `frame`.
    pub fn get(&self, bin: usize, frame: usize) -> f32 {
        self.values[bin * self.frames + frame]
    }
}

/// The extractor for a number of mel bins (80 for Whisper up to large-v2 and MiniCPM-o's
/// Whisper-medium; 128 for large-v3).
#[derive(Clone, Debug)]
pub struct WhisperFeatureExtractor {
    mel_bins: usize,
    /// `[frequency bin][mel bin]`.
    filters: Vec<f64>,
    window: Vec<f64>,
    /// `cos(2π k n / N)` and `sin(2π k n / N)`, `[k][n]`.
    cosines: Vec<f64>,
    sines: Vec<f64>,
}

impl WhisperFeatureExtractor {
    /// An extractor with `mel_bins` filters.
    pub fn new(mel_bins: usize) -> Result<WhisperFeatureExtractor, LocalJudgeError> {
        if !(2..=FREQUENCY_BINS).contains(&mel_bins) {
            return Err(LocalJudgeError::Input {
                message: format!(
                    "Whisper features: {mel_bins} mel bins is outside 2..={FREQUENCY_BINS}"
                ),
            });
        }
        let window = (0..FFT_LENGTH)
            .map(|n| 0.5 - 0.5 * (std::f64::consts::TAU * n as f64 / FFT_LENGTH as f64).cos())
            .collect();
        let mut cosines = Vec::with_capacity(FREQUENCY_BINS * FFT_LENGTH);
        let mut sines = Vec::with_capacity(FREQUENCY_BINS * FFT_LENGTH);
        for bin in 0..FREQUENCY_BINS {
            for n in 0..FFT_LENGTH {
                // The product reduced modulo N first keeps the angle small and exact.
                let angle =
                    std::f64::consts::TAU * ((bin * n) % FFT_LENGTH) as f64 / FFT_LENGTH as f64;
                cosines.push(angle.cos());
                sines.push(angle.sin());
            }
        }
        Ok(WhisperFeatureExtractor {
            mel_bins,
            filters: slaney_mel_filters(mel_bins),
            window,
            cosines,
            sines,
        })
    }

    /// The features of a clip of 16 kHz mono samples in [-1, 1]; longer clips are cut to 30 s,
    /// as the extractor truncates them (callers split long audio into 30 s chunks first).
    pub fn extract(&self, samples: &[f32]) -> Result<LogMelFeatures, LocalJudgeError> {
        if let Some(bad) = samples.iter().find(|sample| !sample.is_finite()) {
            return Err(LocalJudgeError::Input {
                message: format!("Whisper features: the audio holds a non-finite sample ({bad})"),
            });
        }
        let length = SAMPLING_RATE * CHUNK_SECONDS;
        let clip = &samples[..samples.len().min(length)];
        let sample = |index: isize| -> f64 {
            // Centring: the padded signal reflected at both ends (the edge itself not repeated).
            let last = length as isize - 1;
            let reflected = if index < 0 {
                -index
            } else if index > last {
                2 * last - index
            } else {
                index
            };
            clip.get(reflected as usize)
                .map_or(0.0, |value| f64::from(*value))
        };
        // The transform gives length / hop + 1 frames; the extractor drops the last one.
        let frames = length / HOP_LENGTH;
        let half = (FFT_LENGTH / 2) as isize;
        let mut log_mel = vec![(MEL_FLOOR).log10(); self.mel_bins * frames];
        let mut frame_samples = vec![0.0_f64; FFT_LENGTH];
        let mut power = vec![0.0_f64; FREQUENCY_BINS];
        for frame in 0..frames {
            let start = (frame * HOP_LENGTH) as isize - half;
            let mut silent = true;
            for (n, value) in frame_samples.iter_mut().enumerate() {
                *value = sample(start + n as isize) * self.window[n];
                silent &= *value == 0.0;
            }
            if silent {
                continue;
            }
            for (bin, energy) in power.iter_mut().enumerate() {
                let cosines = &self.cosines[bin * FFT_LENGTH..(bin + 1) * FFT_LENGTH];
                let sines = &self.sines[bin * FFT_LENGTH..(bin + 1) * FFT_LENGTH];
                let (mut real, mut imaginary) = (0.0, 0.0);
                for ((value, cosine), sine) in frame_samples.iter().zip(cosines).zip(sines) {
                    real += value * cosine;
                    imaginary -= value * sine;
                }
                *energy = real * real + imaginary * imaginary;
            }
            for mel in 0..self.mel_bins {
                let energy: f64 = power
                    .iter()
                    .enumerate()
                    .map(|(bin, energy)| energy * self.filters[bin * self.mel_bins + mel])
                    .sum();
                log_mel[mel * frames + frame] = energy.max(MEL_FLOOR).log10();
            }
        }
        let maximum = log_mel.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let values = log_mel
            .into_iter()
            .map(|value| ((value.max(maximum - DYNAMIC_RANGE) + 4.0) / 4.0) as f32)
            .collect();
        Ok(LogMelFeatures {
            values,
            mel_bins: self.mel_bins,
            frames,
            valid_frames: clip.len().div_ceil(HOP_LENGTH),
        })
    }
}

/// Hertz on the Slaney mel scale: linear below 1 kHz, logarithmic above.
fn hertz_to_mel(hertz: f64) -> f64 {
    if hertz >= 1000.0 {
        15.0 + (hertz / 1000.0).ln() * 27.0 / 6.4_f64.ln()
    } else {
        3.0 * hertz / 200.0
    }
}

/// The inverse of [`hertz_to_mel`].
fn mel_to_hertz(mel: f64) -> f64 {
    if mel >= 15.0 {
        1000.0 * (6.4_f64.ln() / 27.0 * (mel - 15.0)).exp()
    } else {
        200.0 * mel / 3.0
    }
}

/// `transformers`' `mel_filter_bank(201, mel_bins, 0, 8000, 16000, norm="slaney",
/// mel_scale="slaney")`: `[frequency bin][mel bin]`.
fn slaney_mel_filters(mel_bins: usize) -> Vec<f64> {
    let maximum_hertz = (SAMPLING_RATE / 2) as f64;
    let (mel_minimum, mel_maximum) = (hertz_to_mel(0.0), hertz_to_mel(maximum_hertz));
    // numpy's linspace: start + step × index, the last point exactly the end.
    let points = mel_bins + 2;
    let step = (mel_maximum - mel_minimum) / (points - 1) as f64;
    let centres: Vec<f64> = (0..points)
        .map(|index| {
            if index == points - 1 {
                mel_to_hertz(mel_maximum)
            } else {
                mel_to_hertz(mel_minimum + step * index as f64)
            }
        })
        .collect();
    let bin_step = maximum_hertz / (FREQUENCY_BINS - 1) as f64;
    let mut filters = vec![0.0; FREQUENCY_BINS * mel_bins];
    for bin in 0..FREQUENCY_BINS {
        let frequency = if bin == FREQUENCY_BINS - 1 {
            maximum_hertz
        } else {
            bin_step * bin as f64
        };
        for mel in 0..mel_bins {
            let down = (frequency - centres[mel]) / (centres[mel + 1] - centres[mel]);
            let up = (centres[mel + 2] - frequency) / (centres[mel + 2] - centres[mel + 1]);
            let area = 2.0 / (centres[mel + 2] - centres[mel]);
            filters[bin * mel_bins + mel] = down.min(up).max(0.0) * area;
        }
    }
    filters
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_is_the_floor_everywhere() {
        let extractor = WhisperFeatureExtractor::new(80).expect("extractor");
        let features = extractor.extract(&[0.0; 1600]).expect("features");
        assert_eq!((features.mel_bins, features.frames), (80, 3000));
        assert_eq!(features.valid_frames, 10);
        // log10(1e-10) = -10 everywhere, so the clamp changes nothing: (-10 + 4) / 4.
        assert!(features.values.iter().all(|value| *value == -1.5));
    }

    #[test]
    fn a_tone_lights_the_mel_bin_of_its_frequency() {
        let extractor = WhisperFeatureExtractor::new(80).expect("extractor");
        let tone: Vec<f32> = (0..SAMPLING_RATE)
            .map(|n| (std::f64::consts::TAU * 440.0 * n as f64 / SAMPLING_RATE as f64).sin() as f32)
            .collect();
        let features = extractor.extract(&tone).expect("features");
        let frame = 50;
        let loudest = (0..80)
            .max_by(|a, b| features.get(*a, frame).total_cmp(&features.get(*b, frame)))
            .expect("bins");
        // 440 Hz is 6.6 on the Slaney scale; the 80 centres are 45.245 / 81 apart.
        let expected = (hertz_to_mel(440.0) / (hertz_to_mel(8000.0) / 81.0)).round() as usize - 1;
        assert!(loudest.abs_diff(expected) <= 1, "{loudest} vs {expected}");
        // Far after the clip the mel energies are zero, floored, then raised to the clip's
        // maximum less 8: (max - 8 + 4) / 4, which is the largest value less 2.
        let largest = features.values.iter().copied().fold(f32::MIN, f32::max);
        assert!((features.get(loudest, 2999) - (largest - 2.0)).abs() < 1e-6);
    }

    #[test]
    fn every_filter_sees_some_frequency_and_bad_sizes_are_refused() {
        // (The values themselves are checked against transformers in tests/whisper_features.rs.)
        let filters = slaney_mel_filters(80);
        for mel in 0..80 {
            assert!(
                (0..FREQUENCY_BINS).any(|bin| filters[bin * 80 + mel] > 0.0),
                "{mel}"
            );
        }
        assert!(
            WhisperFeatureExtractor::new(1).is_err() && WhisperFeatureExtractor::new(300).is_err()
        );
    }

    #[test]
    fn non_finite_samples_are_refused() {
        let extractor = WhisperFeatureExtractor::new(80).expect("extractor");
        assert!(extractor.extract(&[0.0, f32::NAN]).is_err());
    }
}
