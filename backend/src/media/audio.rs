//! Audio as 16 kHz mono 16-bit PCM WAV: ffmpeg decodes and resamples any format to raw samples,
//! and the WAV header is written here, because ffmpeg cannot fill in the sizes of a WAV it
//! writes to a pipe.

use std::ffi::OsString;
use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::ffmpeg::{InputFile, Program, run};
use super::{AUDIO_SAMPLE_RATE, MediaError, Source};

const BITS_PER_SAMPLE: u16 = 16;
const CHANNELS: u16 = 1;
const WAV_HEADER_BYTES: usize = 44;

/// The first audio stream of the source as 16 kHz mono signed 16-bit little-endian samples.
pub(super) fn decode_pcm(source: &Source<'_>, scratch_dir: &Path) -> Result<Vec<u8>, MediaError> {
    let input = InputFile::for_source(source, scratch_dir)?;
    let arguments: [OsString; 13] = [
        "-i".into(),
        input.argument(),
        "-map".into(),
        "0:a:0".into(),
        "-ac".into(),
        CHANNELS.to_string().into(),
        "-ar".into(),
        AUDIO_SAMPLE_RATE.to_string().into(),
        "-c:a".into(),
        "pcm_s16le".into(),
        "-f".into(),
        "s16le".into(),
        "-".into(),
    ];
    let mut pcm = run(Program::Ffmpeg, &arguments, source.name())?;
    // Whole samples only; ffmpeg never emits half a sample, but the WAV must stay well-formed.
    pcm.truncate(pcm.len() - pcm.len() % 2);
    Ok(pcm)
}

/// Base64 of a WAV file holding `pcm` (16 kHz mono s16le samples).
pub(super) fn wav_base64(pcm: &[u8], name: &str) -> Result<Arc<str>, MediaError> {
    let wav = wav_file(pcm).ok_or_else(|| MediaError::Decode {
        name: name.to_owned(),
        message: format!("{} bytes of audio do not fit in one WAV file", pcm.len()),
    })?;
    Ok(Arc::from(BASE64.encode(wav)))
}

/// A canonical 44-byte-header PCM WAV (16 kHz mono 16-bit, [`AUDIO_SAMPLE_RATE`]) holding
/// `samples`, for callers that synthesise audio rather than decode it; `None` past the
/// format's 4 GiB limit (over about two billion samples).
pub fn wav_from_samples(samples: &[i16]) -> Option<Vec<u8>> {
    let mut wav = wav_header(samples.len().checked_mul(2)?)?;
    for sample in samples {
        wav.extend_from_slice(&sample.to_le_bytes());
    }
    Some(wav)
}

/// A canonical 44-byte-header PCM WAV around `pcm`; `None` past the format's 4 GiB limit.
fn wav_file(pcm: &[u8]) -> Option<Vec<u8>> {
    let mut wav = wav_header(pcm.len())?;
    wav.extend_from_slice(pcm);
    Some(wav)
}

/// The 44-byte header of a PCM WAV with `data_bytes` bytes of samples, in a buffer with room for
/// them; `None` past the format's 4 GiB limit.
fn wav_header(data_bytes: usize) -> Option<Vec<u8>> {
    let data_size = u32::try_from(data_bytes).ok()?;
    let riff_bytes = data_size.checked_add(WAV_HEADER_BYTES as u32 - 8)?;
    let block_align = CHANNELS * BITS_PER_SAMPLE / 8;
    let byte_rate = AUDIO_SAMPLE_RATE * u32::from(block_align);
    let mut wav = Vec::with_capacity(WAV_HEADER_BYTES + data_bytes);
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&riff_bytes.to_le_bytes());
    wav.extend_from_slice(b"WAVE");
    wav.extend_from_slice(b"fmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&CHANNELS.to_le_bytes());
    wav.extend_from_slice(&AUDIO_SAMPLE_RATE.to_le_bytes());
    wav.extend_from_slice(&byte_rate.to_le_bytes());
    wav.extend_from_slice(&block_align.to_le_bytes());
    wav.extend_from_slice(&BITS_PER_SAMPLE.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_size.to_le_bytes());
    Some(wav)
}

/// The samples of a base64 WAV made by [`wav_base64`], after checking its header.
pub(super) fn decode_wav_base64(wav_base64: &str) -> anyhow::Result<Vec<i16>> {
    use anyhow::ensure;
    let wav = BASE64.decode(wav_base64)?;
    ensure!(wav.len() >= WAV_HEADER_BYTES, "shorter than a WAV header");
    let u16_at = |offset: usize| u16::from_le_bytes([wav[offset], wav[offset + 1]]);
    let u32_at = |offset: usize| {
        u32::from_le_bytes([
            wav[offset],
            wav[offset + 1],
            wav[offset + 2],
            wav[offset + 3],
        ])
    };
    ensure!(
        &wav[0..4] == b"RIFF" && &wav[8..12] == b"WAVE",
        "not RIFF/WAVE"
    );
    ensure!(
        &wav[12..16] == b"fmt " && u32_at(16) == 16,
        "no 16-byte fmt chunk"
    );
    ensure!(u16_at(20) == 1, "not PCM");
    ensure!(u16_at(22) == 1, "not mono");
    ensure!(u32_at(24) == 16_000, "not 16 kHz");
    ensure!(
        u32_at(28) == 32_000 && u16_at(32) == 2,
        "wrong byte rate or block align"
    );
    ensure!(u16_at(34) == 16, "not 16-bit");
    ensure!(&wav[36..40] == b"data", "no data chunk");
    let data_bytes = u32_at(40) as usize;
    ensure!(u32_at(4) as usize == wav.len() - 8, "RIFF size is wrong");
    ensure!(
        data_bytes == wav.len() - WAV_HEADER_BYTES,
        "data size is wrong"
    );
    Ok(wav[WAV_HEADER_BYTES..]
        .chunks_exact(2)
        .map(|pair| i16::from_le_bytes([pair[0], pair[1]]))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wav_header_describes_the_samples() -> anyhow::Result<()> {
        let samples: [i16; 3] = [0, -2, 300];
        let pcm: Vec<u8> = samples
            .iter()
            .flat_map(|sample| sample.to_le_bytes())
            .collect();
        let encoded = wav_base64(&pcm, "clip.wav")?;
        assert_eq!(decode_wav_base64(&encoded)?, samples);
        let empty = wav_base64(&[], "empty.wav")?;
        assert!(decode_wav_base64(&empty)?.is_empty());
        Ok(())
    }

    #[test]
    fn wavs_from_samples_match_wavs_from_pcm() -> anyhow::Result<()> {
        let samples: [i16; 4] = [i16::MIN, -1, 0, i16::MAX];
        let pcm: Vec<u8> = samples
            .iter()
            .flat_map(|sample| sample.to_le_bytes())
            .collect();
        let wav = wav_from_samples(&samples).expect("a short clip fits");
        assert_eq!(wav.len(), WAV_HEADER_BYTES + pcm.len());
        assert_eq!(Some(wav.clone()), wav_file(&pcm));
        assert_eq!(decode_wav_base64(&BASE64.encode(&wav))?, samples);
        Ok(())
    }
}
