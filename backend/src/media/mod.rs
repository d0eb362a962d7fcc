//! Encodes benchmark media for judge requests (benchmark.md section 4, "Media"): images as JPEG
//! data URLs with alpha composited onto white, videos as uniformly sampled JPEG frames, audio as
//! 16 kHz mono WAV. Results are cached on disk by content hash and in memory by location.
//!
//! Every method blocks (image codecs and `ffmpeg` subprocesses): async callers wrap calls in
//! `spawn_blocking`. One [`MediaEncoder`] is meant to be shared by all of them.

mod audio;
mod cache;
mod ffmpeg;
mod image;
mod video;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use omnireward_shared::MediaRef;
use sha2::{Digest, Sha256};

use crate::data::media::{MediaReadError, read_media};

pub use audio::wav_from_samples;
pub use cache::{CacheStatistics, ENCODER_VERSION};
pub use ffmpeg::ffmpeg_available;
pub use image::{ImageDecodeError, MAX_IMAGE_PIXELS, decode_image};
pub use video::frame_indices;

/// JPEG quality of every encoded image and video frame. 75 is what the authors' harness gets
/// from Pillow's `image.save(buffer, format="jpeg")` without a quality argument, and also the
/// `image` crate's default.
pub const JPEG_QUALITY: u8 = 75;

/// Sample rate of every encoded audio clip, in Hz (mono, 16-bit PCM).
pub const AUDIO_SAMPLE_RATE: u32 = 16_000;

/// Silence between the two clips of a joined T2A pair, in samples (exactly one second).
pub const JOINED_AUDIO_SILENCE_SAMPLES: usize = AUDIO_SAMPLE_RATE as usize;

/// Default bound of the in-memory cache: the total length of the cached strings, in bytes.
/// 256 MiB holds roughly a thousand full-resolution images; older entries are evicted first.
pub const DEFAULT_MEMORY_LIMIT_BYTES: usize = 256 * 1024 * 1024;

/// Why a media item could not be encoded. Every variant names the media item.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The bytes could not be read from the file or parquet cell.
    #[error("media `{name}`: cannot read it: {source}")]
    Read {
        /// The media item.
        name: String,
        /// The cause.
        source: MediaReadError,
    },
    /// The bytes are not a decodable image, video or audio clip.
    #[error("media `{name}`: cannot decode it: {message}")]
    Decode {
        /// The media item.
        name: String,
        /// What was wrong.
        message: String,
    },
    /// `ffmpeg` or `ffprobe` is not on `PATH`.
    #[error(
        "media `{name}`: `{program}` was not found on PATH; install ffmpeg (it provides ffmpeg \
         and ffprobe; Debian/Ubuntu: `apt-get install ffmpeg`)"
    )]
    FfmpegMissing {
        /// The media item.
        name: String,
        /// `ffmpeg` or `ffprobe`.
        program: &'static str,
    },
    /// `ffmpeg` or `ffprobe` is on `PATH` but could not be started.
    #[error("media `{name}`: cannot start `{program}`: {source}")]
    FfmpegStart {
        /// The media item.
        name: String,
        /// `ffmpeg` or `ffprobe`.
        program: &'static str,
        /// The cause.
        source: std::io::Error,
    },
    /// `ffmpeg` or `ffprobe` exited unsuccessfully.
    #[error("media `{name}`: `{program}` failed ({status}): {stderr}")]
    FfmpegFailed {
        /// The media item.
        name: String,
        /// `ffmpeg` or `ffprobe`.
        program: &'static str,
        /// The exit status, as the operating system describes it.
        status: String,
        /// The last lines of the program's standard error.
        stderr: String,
    },
    /// The on-disk cache (or the scratch folder beside it) could not be written.
    #[error("media `{name}`: media cache {path}: {source}")]
    Cache {
        /// The media item (both names, for a joined pair).
        name: String,
        /// The file or folder that failed.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

impl MediaError {
    /// The media item the error is about.
    pub fn name(&self) -> &str {
        match self {
            MediaError::Read { name, .. }
            | MediaError::Decode { name, .. }
            | MediaError::FfmpegMissing { name, .. }
            | MediaError::FfmpegStart { name, .. }
            | MediaError::FfmpegFailed { name, .. }
            | MediaError::Cache { name, .. } => name,
        }
    }
}

/// Turns media into the strings a judge request carries, with a shared two-level cache.
///
/// Cheap to clone (one `Arc`); `Send + Sync`, so one encoder serves every blocking task of a run.
/// Concurrent calls for the same item may both encode it: the output is a pure function of the
/// source bytes, so whichever result is stored first is the one the other call would have made.
#[derive(Clone)]
pub struct MediaEncoder {
    inner: Arc<Inner>,
}

struct Inner {
    memory: cache::MemoryCache,
    disk: cache::DiskCache,
    counters: cache::Counters,
}

impl fmt::Debug for MediaEncoder {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("MediaEncoder")
            .field("cache_root", &self.inner.disk.root())
            .field("statistics", &self.statistics())
            .finish()
    }
}

/// One operation's identity in cache keys: its name and every parameter that changes the output.
struct Operation {
    name: &'static str,
    parameters: String,
}

/// The bytes of one media item, read once per cache miss, with their SHA-256.
struct Source<'media> {
    media: &'media MediaRef,
    bytes: Vec<u8>,
    digest: [u8; 32],
}

impl<'media> Source<'media> {
    fn read(media: &'media MediaRef) -> Result<Self, MediaError> {
        let bytes = read_media(media).map_err(|source| MediaError::Read {
            name: media.name.clone(),
            source,
        })?;
        let digest = Sha256::digest(&bytes).into();
        Ok(Source {
            media,
            bytes,
            digest,
        })
    }

    fn name(&self) -> &str {
        &self.media.name
    }
}

impl MediaEncoder {
    /// An encoder that caches under `cache_dir/media/`, with the default memory bound.
    pub fn new(cache_dir: PathBuf) -> MediaEncoder {
        MediaEncoder::with_memory_limit(cache_dir, DEFAULT_MEMORY_LIMIT_BYTES)
    }

    /// An encoder whose in-memory cache holds at most `limit_bytes` of encoded strings
    /// (0 disables it; the disk cache is always used).
    pub fn with_memory_limit(cache_dir: PathBuf, limit_bytes: usize) -> MediaEncoder {
        MediaEncoder {
            inner: Arc::new(Inner {
                memory: cache::MemoryCache::new(limit_bytes),
                disk: cache::DiskCache::new(&cache_dir),
                counters: cache::Counters::default(),
            }),
        }
    }

    /// The folder that holds the on-disk cache (`<cache_dir>/media`).
    pub fn cache_root(&self) -> &Path {
        self.inner.disk.root()
    }

    /// How often calls were answered from memory, from disk, or by encoding.
    pub fn statistics(&self) -> CacheStatistics {
        self.inner.counters.snapshot()
    }

    /// The image as `data:image/jpeg;base64,…`: PNG and JPEG are decoded in process, other
    /// formats (WebP, GIF, …) through ffmpeg; alpha is composited onto white.
    ///
    /// Once cached, a call is a map lookup and an `Arc` clone (well under a millisecond).
    pub fn image_data_url(&self, media: &MediaRef) -> Result<Arc<str>, MediaError> {
        let operation = Operation {
            name: "image-jpeg-data-url",
            parameters: format!("quality={JPEG_QUALITY}"),
        };
        let parts = self.cached(&[media], &operation, 1, |sources| {
            let source = &sources[0];
            Ok(vec![image::encode_image(
                source,
                self.inner.disk.scratch_dir(),
            )?])
        })?;
        single(parts, media)
    }

    /// `frames` frames of the video, sampled at `frame_indices(n, frames)` of its `n` decoded
    /// frames, each as a JPEG data URL. Indices repeat when `frames > n`, so the result always
    /// has exactly `frames` entries.
    pub fn video_frame_data_urls(
        &self,
        media: &MediaRef,
        frames: usize,
    ) -> Result<Vec<Arc<str>>, MediaError> {
        if frames == 0 {
            return Ok(Vec::new());
        }
        let operation = Operation {
            name: "video-jpeg-frames",
            parameters: format!("frames={frames};quality={JPEG_QUALITY};sampling=linspace-floor"),
        };
        let parts = self.cached(&[media], &operation, frames, |sources| {
            video::encode_frames(&sources[0], frames, self.inner.disk.scratch_dir())
        })?;
        Ok(parts.to_vec())
    }

    /// The video's duration in seconds, from its container (cached like the encodings): with
    /// the number of frames sampled from it, the rate a vision-language model's time positions
    /// take.
    pub fn video_duration_seconds(&self, media: &MediaRef) -> Result<f64, MediaError> {
        let operation = Operation {
            name: "video-duration",
            parameters: "format=duration".to_owned(),
        };
        let parts = self.cached(&[media], &operation, 1, |sources| {
            video::duration(&sources[0], self.inner.disk.scratch_dir())
        })?;
        let text = single(parts, media)?;
        text.parse().map_err(|_| MediaError::Decode {
            name: media.name.clone(),
            message: format!("a cached duration `{text}` is not a number"),
        })
    }

    /// The clip decoded and resampled to 16 kHz mono 16-bit PCM, as base64 of a WAV file (no
    /// `data:` prefix: the request builder puts it in an `input_audio` part).
    pub fn audio_wav_base64(&self, media: &MediaRef) -> Result<Arc<str>, MediaError> {
        let operation = Operation {
            name: "audio-wav-base64",
            parameters: format!("rate={AUDIO_SAMPLE_RATE};channels=1;format=s16le"),
        };
        let parts = self.cached(&[media], &operation, 1, |sources| {
            let source = &sources[0];
            let pcm = audio::decode_pcm(source, self.inner.disk.scratch_dir())?;
            Ok(vec![audio::wav_base64(&pcm, source.name())?])
        })?;
        single(parts, media)
    }

    /// The clip at 16 kHz mono as samples in [-1, 1] (`i16 / 32768`): what a local audio model
    /// (MiniCPM-o's Whisper features) reads. Decoded once through the cached WAV.
    pub fn audio_samples(&self, media: &MediaRef) -> Result<Vec<f32>, MediaError> {
        let wav = self.audio_wav_base64(media)?;
        let samples = audio::decode_wav_base64(&wav).map_err(|error| MediaError::Decode {
            name: media.name.clone(),
            message: format!("reading the decoded audio back: {error}"),
        })?;
        Ok(samples
            .into_iter()
            .map(|sample| f32::from(sample) / 32768.0)
            .collect())
    }

    /// Both clips at 16 kHz mono joined as `first`, one second of silence, `second`, as base64
    /// of one WAV file: common audio APIs take a single clip per part.
    pub fn joined_audio_wav_base64(
        &self,
        first: &MediaRef,
        second: &MediaRef,
    ) -> Result<Arc<str>, MediaError> {
        let operation = Operation {
            name: "joined-audio-wav-base64",
            parameters: format!(
                "rate={AUDIO_SAMPLE_RATE};channels=1;format=s16le;\
                 silence={JOINED_AUDIO_SILENCE_SAMPLES}"
            ),
        };
        let parts = self.cached(&[first, second], &operation, 1, |sources| {
            let scratch = self.inner.disk.scratch_dir();
            let mut pcm = audio::decode_pcm(&sources[0], scratch)?;
            let second_pcm = audio::decode_pcm(&sources[1], scratch)?;
            pcm.resize(pcm.len() + JOINED_AUDIO_SILENCE_SAMPLES * 2, 0);
            pcm.extend_from_slice(&second_pcm);
            Ok(vec![audio::wav_base64(&pcm, &joined_name(first, second))?])
        })?;
        single(parts, first)
    }

    /// Answers from memory, else from disk, else by running `encode` and storing its result in
    /// both. `parts` is the number of strings the operation yields (frames, or 1).
    fn cached<Encode>(
        &self,
        media: &[&MediaRef],
        operation: &Operation,
        parts: usize,
        encode: Encode,
    ) -> Result<cache::Parts, MediaError>
    where
        Encode: FnOnce(&[Source<'_>]) -> Result<Vec<Arc<str>>, MediaError>,
    {
        let inner = &self.inner;
        let locations: Vec<_> = media.iter().map(|item| &item.location).collect();
        let memory_key = cache::memory_key(operation.name, &operation.parameters, &locations);
        if let Some(hit) = inner.memory.get(&memory_key) {
            inner.counters.memory_hit();
            return Ok(hit);
        }

        let sources = media
            .iter()
            .map(|item| Source::read(item))
            .collect::<Result<Vec<_>, _>>()?;
        let digests: Vec<_> = sources.iter().map(|source| source.digest).collect();
        let content_key = cache::content_key(operation.name, &operation.parameters, &digests);
        if let Some(hit) = inner.disk.read(&content_key, parts) {
            inner.counters.disk_hit();
            return Ok(inner.memory.insert(memory_key, hit.into()));
        }

        let encoded = encode(&sources)?;
        inner.counters.encode();
        if encoded.len() != parts {
            // The encoders guarantee the count; a mismatch must not poison the caches.
            return Err(MediaError::Decode {
                name: names(media),
                message: format!("expected {parts} encoded parts, produced {}", encoded.len()),
            });
        }
        inner
            .disk
            .write(&content_key, &encoded)
            .map_err(|(path, source)| MediaError::Cache {
                name: names(media),
                path,
                source,
            })?;
        Ok(inner.memory.insert(memory_key, encoded.into()))
    }
}

/// The one string of a single-part operation.
fn single(parts: cache::Parts, media: &MediaRef) -> Result<Arc<str>, MediaError> {
    parts.first().cloned().ok_or_else(|| MediaError::Decode {
        name: media.name.clone(),
        message: "the encoder produced no output".to_owned(),
    })
}

fn joined_name(first: &MediaRef, second: &MediaRef) -> String {
    format!("{} + {}", first.name, second.name)
}

fn names(media: &[&MediaRef]) -> String {
    media
        .iter()
        .map(|item| item.name.as_str())
        .collect::<Vec<_>>()
        .join(" + ")
}

#[cfg(test)]
mod tests;
