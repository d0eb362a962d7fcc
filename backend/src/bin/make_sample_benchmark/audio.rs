//! Synthetic sounds (tones, hums, noise, chirps, beep trains) written as
//! 16 kHz mono 16-bit WAV (with the library's header writer), and speech made
//! with espeak-ng, either resampled to the same WAV format or encoded as MP3.

use crate::external::{self, ScratchDirectory};
use anyhow::{Context, Result};
use omnireward::media::{AUDIO_SAMPLE_RATE, wav_from_samples};
use std::process::Command;

/// Length of the fade at both ends of a tone; it avoids clicks that would add
/// broadband noise to an otherwise pure beep.
const FADE_SECONDS: f32 = 0.01;

/// Peak level of the synthetic sounds, leaving headroom below full scale.
const AMPLITUDE: f32 = 0.5;

/// What a sound file contains.
#[derive(Clone, Debug, PartialEq)]
pub enum Sound {
    /// A pure sine tone.
    Tone { frequency_hz: f32, seconds: f32 },
    /// A low buzzing hum: a fundamental with a few decaying harmonics.
    Hum { frequency_hz: f32, seconds: f32 },
    /// White noise from a fixed-seed generator.
    Noise { seconds: f32, seed: u32 },
    /// A sine whose pitch glides linearly from one frequency to another.
    Chirp {
        start_hz: f32,
        end_hz: f32,
        seconds: f32,
    },
    /// Short beeps separated by silence.
    Beeps {
        count: u32,
        frequency_hz: f32,
        beep_seconds: f32,
        gap_seconds: f32,
    },
    /// Words spoken by espeak-ng.
    Speech { text: String },
}

impl Sound {
    pub fn speech(text: &str) -> Sound {
        Sound::Speech {
            text: text.to_owned(),
        }
    }
}

/// Renders a sound as a 16 kHz mono 16-bit WAV file.
pub fn sound_wav(sound: &Sound, scratch: &mut ScratchDirectory) -> Result<Vec<u8>> {
    let samples = match sound {
        Sound::Tone {
            frequency_hz,
            seconds,
        } => tone(*frequency_hz, *seconds),
        Sound::Hum {
            frequency_hz,
            seconds,
        } => hum(*frequency_hz, *seconds),
        Sound::Noise { seconds, seed } => noise(*seconds, *seed),
        Sound::Chirp {
            start_hz,
            end_hz,
            seconds,
        } => chirp(*start_hz, *end_hz, *seconds),
        Sound::Beeps {
            count,
            frequency_hz,
            beep_seconds,
            gap_seconds,
        } => beeps(*count, *frequency_hz, *beep_seconds, *gap_seconds),
        Sound::Speech { text } => return speech(text, SpeechFormat::Wav, scratch),
    };
    wav_from_samples(&samples).context("synthesised audio is too long for one WAV file")
}

/// Speaks `text` with espeak-ng and encodes it as a small mono MP3.
pub fn speech_mp3(text: &str, scratch: &mut ScratchDirectory) -> Result<Vec<u8>> {
    speech(text, SpeechFormat::Mp3, scratch)
}

enum SpeechFormat {
    Wav,
    Mp3,
}

fn speech(text: &str, format: SpeechFormat, scratch: &mut ScratchDirectory) -> Result<Vec<u8>> {
    let spoken_path = scratch.file("wav");
    // A fixed voice and speed; espeak-ng itself is deterministic.
    external::run(
        Command::new("espeak-ng")
            .args(["-v", "en-us", "-s", "150", "-w"])
            .arg(&spoken_path)
            .arg(text),
    )
    .with_context(|| format!("speaking {text:?} with espeak-ng"))?;

    let (extension, codec_arguments): (&str, &[&str]) = match format {
        SpeechFormat::Wav => ("wav", &["-c:a", "pcm_s16le"]),
        // No ID3 tag: it would only carry encoder metadata.
        SpeechFormat::Mp3 => (
            "mp3",
            &["-c:a", "libmp3lame", "-b:a", "32k", "-id3v2_version", "0"],
        ),
    };
    let converted_path = scratch.file(extension);
    let sample_rate = AUDIO_SAMPLE_RATE.to_string();
    let mut command = external::ffmpeg_reading(&spoken_path);
    command
        .args(["-ac", "1", "-ar", &sample_rate])
        .args(codec_arguments);
    external::finish_ffmpeg(&mut command, &converted_path);
    external::run(&mut command).with_context(|| format!("converting speech {text:?}"))?;
    external::read_output(&converted_path)
}

fn sample_count(seconds: f32) -> usize {
    (seconds * AUDIO_SAMPLE_RATE as f32).round() as usize
}

/// Gain envelope that ramps up and down over [`FADE_SECONDS`] at the ends.
fn fade(index: usize, total: usize) -> f32 {
    let fade_samples = sample_count(FADE_SECONDS).max(1) as f32;
    let from_start = index as f32 / fade_samples;
    let from_end = (total - index) as f32 / fade_samples;
    from_start.min(from_end).min(1.0)
}

fn to_pcm(value: f32) -> i16 {
    (value.clamp(-1.0, 1.0) * f32::from(i16::MAX)).round() as i16
}

fn tone(frequency_hz: f32, seconds: f32) -> Vec<i16> {
    let total = sample_count(seconds);
    (0..total)
        .map(|index| {
            let time = index as f32 / AUDIO_SAMPLE_RATE as f32;
            let value = (std::f32::consts::TAU * frequency_hz * time).sin();
            to_pcm(AMPLITUDE * fade(index, total) * value)
        })
        .collect()
}

fn hum(frequency_hz: f32, seconds: f32) -> Vec<i16> {
    let total = sample_count(seconds);
    (0..total)
        .map(|index| {
            let time = index as f32 / AUDIO_SAMPLE_RATE as f32;
            // Harmonics at 1/n amplitude give the buzzy timbre of mains hum.
            let value: f32 = (1..=4)
                .map(|harmonic| {
                    let harmonic = harmonic as f32;
                    (std::f32::consts::TAU * frequency_hz * harmonic * time).sin() / harmonic
                })
                .sum();
            to_pcm(AMPLITUDE * 0.6 * fade(index, total) * value)
        })
        .collect()
}

fn noise(seconds: f32, seed: u32) -> Vec<i16> {
    let total = sample_count(seconds);
    // xorshift32: tiny, seedable and identical on every platform, unlike an
    // external random number crate whose stream may change between versions.
    let mut state = seed.max(1);
    (0..total)
        .map(|index| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let uniform = state as f32 / u32::MAX as f32 * 2.0 - 1.0;
            to_pcm(AMPLITUDE * 0.8 * fade(index, total) * uniform)
        })
        .collect()
}

fn chirp(start_hz: f32, end_hz: f32, seconds: f32) -> Vec<i16> {
    let total = sample_count(seconds);
    let mut phase = 0.0f32;
    (0..total)
        .map(|index| {
            let progress = index as f32 / total as f32;
            let frequency = start_hz + (end_hz - start_hz) * progress;
            // Integrating the instantaneous frequency keeps the waveform
            // continuous while the pitch changes.
            phase = (phase + std::f32::consts::TAU * frequency / AUDIO_SAMPLE_RATE as f32)
                % std::f32::consts::TAU;
            to_pcm(AMPLITUDE * fade(index, total) * phase.sin())
        })
        .collect()
}

fn beeps(count: u32, frequency_hz: f32, beep_seconds: f32, gap_seconds: f32) -> Vec<i16> {
    let gap = vec![0i16; sample_count(gap_seconds)];
    let beep = tone(frequency_hz, beep_seconds);
    let mut samples = Vec::new();
    for beep_index in 0..count {
        if beep_index > 0 {
            samples.extend_from_slice(&gap);
        }
        samples.extend_from_slice(&beep);
    }
    samples
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wav_header_describes_the_samples() {
        let samples = tone(1000.0, 0.5);
        assert_eq!(samples.len(), 8000);
        let bytes = wav_from_samples(&samples).expect("short clip fits");
        assert_eq!(&bytes[0..4], b"RIFF");
        assert_eq!(&bytes[8..12], b"WAVE");
        assert_eq!(bytes.len(), 44 + 16_000);
        assert_eq!(
            u32::from_le_bytes([bytes[24], bytes[25], bytes[26], bytes[27]]),
            AUDIO_SAMPLE_RATE
        );
    }

    #[test]
    fn beeps_are_separated_by_silence() {
        let samples = beeps(2, 1000.0, 0.1, 0.1);
        assert_eq!(samples.len(), 4800);
        assert!(samples[1600..3200].iter().all(|&sample| sample == 0));
        assert!(samples[0..1600].iter().any(|&sample| sample.abs() > 10_000));
    }
}
