//! Encoder tests on the sample benchmark's real media and on hand-made edge cases; every test
//! caches into its own temporary folder.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ::image::{DynamicImage, Rgba, RgbaImage};
use anyhow::{Context, Result, ensure};
use omnireward_shared::{MediaKind, MediaLocation, MediaRef, Task};

use super::audio::decode_wav_base64;
use super::image::decode_data_url;
use super::*;
use crate::data::LoadOptions;

fn sample_media(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets/sample-benchmark/media_data")
        .join(relative)
}

fn file_ref(kind: MediaKind, path: &Path) -> MediaRef {
    MediaRef {
        kind,
        name: path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default(),
        location: MediaLocation::File {
            path: path.to_string_lossy().into_owned(),
        },
    }
}

fn sample_ref(kind: MediaKind, relative: &str) -> MediaRef {
    MediaRef {
        name: relative.to_owned(),
        ..file_ref(kind, &sample_media(relative))
    }
}

/// Mean absolute difference of two equally sized RGB images, per channel value.
fn mean_difference(first: &DynamicImage, second: &DynamicImage) -> f64 {
    let (first, second) = (first.to_rgb8(), second.to_rgb8());
    let total: u64 = first
        .as_raw()
        .iter()
        .zip(second.as_raw())
        .map(|(a, b)| u64::from(a.abs_diff(*b)))
        .sum();
    total as f64 / first.as_raw().len() as f64
}

fn close(actual: [u8; 3], expected: [u8; 3], tolerance: u8) -> bool {
    actual
        .iter()
        .zip(expected)
        .all(|(a, e)| a.abs_diff(e) <= tolerance)
}

/// The first media item of `task` in the embedded sample benchmark whose name ends with `suffix`.
fn embedded_media(cache_dir: &Path, task: Task, suffix: &str) -> Result<MediaRef> {
    let options = LoadOptions {
        tasks: vec![task],
        ..LoadOptions::default()
    };
    let benchmark = crate::data::embedded::load(cache_dir, &options)?;
    benchmark
        .samples
        .iter()
        .flat_map(|sample| sample.media())
        .find(|media| media.name.ends_with(suffix))
        .cloned()
        .with_context(|| format!("no {suffix} media in {task:?}"))
}

#[test]
fn encoder_is_send_and_sync() {
    fn shareable<T: Send + Sync + Clone + 'static>() {}
    shareable::<MediaEncoder>();
}

#[test]
fn transparent_areas_become_white() -> Result<()> {
    let folder = tempfile::tempdir()?;
    // Left half opaque red, right half fully transparent black.
    let rgba = RgbaImage::from_fn(32, 32, |x, _| {
        if x < 16 {
            Rgba([255, 0, 0, 255])
        } else {
            Rgba([0, 0, 0, 0])
        }
    });
    let path = folder.path().join("transparent.png");
    rgba.save(&path)?;
    let encoder = MediaEncoder::new(folder.path().join("cache"));
    let url = encoder.image_data_url(&file_ref(MediaKind::Image, &path))?;
    let jpeg = decode_data_url(&url)?.to_rgb8();
    assert_eq!(jpeg.dimensions(), (32, 32));
    let red = jpeg.get_pixel(4, 16).0;
    let white = jpeg.get_pixel(27, 16).0;
    assert!(
        close(red, [255, 0, 0], 24),
        "opaque half stays red: {red:?}"
    );
    assert!(
        close(white, [255, 255, 255], 8),
        "transparent half is white: {white:?}"
    );
    Ok(())
}

#[test]
fn sample_png_becomes_a_jpeg_data_url() -> Result<()> {
    let folder = tempfile::tempdir()?;
    let media = sample_ref(MediaKind::Image, "text_to_3D/t23d-red-cube.png");
    let original = ::image::open(sample_media(&media.name))?;
    let url = MediaEncoder::new(folder.path().to_path_buf()).image_data_url(&media)?;
    assert!(url.starts_with("data:image/jpeg;base64,/9j/"));
    let jpeg = decode_data_url(&url)?;
    assert_eq!(
        (jpeg.width(), jpeg.height()),
        (original.width(), original.height())
    );
    let flattened = DynamicImage::ImageRgb8(super::image::flatten_onto_white(&original));
    let difference = mean_difference(&jpeg, &flattened);
    assert!(difference < 4.0, "JPEG close to the source: {difference}");
    Ok(())
}

#[test]
fn parquet_cell_image_is_encoded() -> Result<()> {
    let folder = tempfile::tempdir()?;
    let media = embedded_media(folder.path(), Task::TextImageToText, ".png")?;
    ensure!(matches!(media.location, MediaLocation::ParquetCell { .. }));
    let url = MediaEncoder::new(folder.path().to_path_buf()).image_data_url(&media)?;
    decode_data_url(&url)?;
    Ok(())
}

#[test]
fn other_image_formats_go_through_ffmpeg() -> Result<()> {
    let folder = tempfile::tempdir()?;
    let path = folder.path().join("green.gif");
    let status = std::process::Command::new("ffmpeg")
        .args([
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "color=c=0x00ff00:s=16x16",
        ])
        .args(["-frames:v", "1"])
        .arg(&path)
        .status()?;
    ensure!(status.success(), "ffmpeg could not make a GIF");
    let encoder = MediaEncoder::new(folder.path().join("cache"));
    let jpeg = decode_data_url(&encoder.image_data_url(&file_ref(MediaKind::Image, &path))?)?;
    let pixel = jpeg.to_rgb8().get_pixel(8, 8).0;
    assert!(close(pixel, [0, 255, 0], 24), "green: {pixel:?}");
    Ok(())
}

#[test]
fn sample_video_gives_exactly_k_frames_that_change_over_time() -> Result<()> {
    let folder = tempfile::tempdir()?;
    let encoder = MediaEncoder::new(folder.path().to_path_buf());
    let moving = sample_ref(
        MediaKind::Video,
        "text_to_video/t2v-red-ball-left-to-right.mp4",
    );
    for frames in [5, 10] {
        let urls = encoder.video_frame_data_urls(&moving, frames)?;
        assert_eq!(urls.len(), frames);
        let images = urls
            .iter()
            .map(|url| decode_data_url(url))
            .collect::<Result<Vec<_>>>()?;
        for image in &images {
            assert_eq!((image.width(), image.height()), (128, 128));
        }
        for pair in images.windows(2) {
            let difference = mean_difference(&pair[0], &pair[1]);
            assert!(
                difference > 0.5,
                "k = {frames}: consecutive frames differ ({difference})"
            );
        }
    }
    let still = sample_ref(
        MediaKind::Video,
        "text_to_video/t2v-purple-square-still.mp4",
    );
    let urls = encoder.video_frame_data_urls(&still, 5)?;
    let first = decode_data_url(&urls[0])?;
    let last = decode_data_url(&urls[4])?;
    let difference = mean_difference(&first, &last);
    assert!(
        difference < 0.5,
        "a still video's frames agree ({difference})"
    );
    Ok(())
}

#[test]
fn more_frames_than_the_video_has_repeat_frames() -> Result<()> {
    let folder = tempfile::tempdir()?;
    let encoder = MediaEncoder::new(folder.path().to_path_buf());
    let media = sample_ref(
        MediaKind::Video,
        "text_video_to_text/tv2t-red-ball-left-to-right.mp4",
    );
    // The sample videos have 20 frames (2 s at 10 fps).
    let urls = encoder.video_frame_data_urls(&media, 25)?;
    assert_eq!(urls.len(), 25);
    let indices = frame_indices(20, 25);
    for position in 1..indices.len() {
        let same_frame = indices[position] == indices[position - 1];
        assert_eq!(
            urls[position] == urls[position - 1],
            same_frame,
            "position {position}"
        );
    }
    assert!(encoder.video_frame_data_urls(&media, 0)?.is_empty());
    Ok(())
}

#[test]
fn joined_audio_is_first_clip_one_second_of_silence_second_clip() -> Result<()> {
    let folder = tempfile::tempdir()?;
    let encoder = MediaEncoder::new(folder.path().to_path_buf());
    let first = sample_ref(MediaKind::Audio, "text_to_audio/t2a-rising-tone.wav");
    let second = sample_ref(MediaKind::Audio, "text_to_audio/t2a-voice-hello.wav");
    let first_samples = decode_wav_base64(&encoder.audio_wav_base64(&first)?)?;
    let second_samples = decode_wav_base64(&encoder.audio_wav_base64(&second)?)?;
    let joined = decode_wav_base64(&encoder.joined_audio_wav_base64(&first, &second)?)?;

    let (a, b) = (first_samples.len(), second_samples.len());
    assert!(a > 0 && b > 0);
    assert_eq!(joined.len(), a + 16_000 + b);
    assert_eq!(joined[..a], first_samples[..]);
    assert!(joined[a..a + 16_000].iter().all(|sample| *sample == 0));
    assert_eq!(joined[a + 16_000..], second_samples[..]);

    let swapped = decode_wav_base64(&encoder.joined_audio_wav_base64(&second, &first)?)?;
    assert_eq!(
        swapped[..b],
        second_samples[..],
        "order follows the arguments"
    );
    Ok(())
}

#[test]
fn sample_mp3_decodes_to_16_khz_mono_wav() -> Result<()> {
    let folder = tempfile::tempdir()?;
    let media = embedded_media(folder.path(), Task::TextAudioToText, ".mp3")?;
    let encoder = MediaEncoder::new(folder.path().to_path_buf());
    // The header checks inside `decode_wav_base64` assert 16 kHz, mono, 16-bit PCM.
    let samples = decode_wav_base64(&encoder.audio_wav_base64(&media)?)?;
    let seconds = samples.len() as f64 / 16_000.0;
    assert!((0.3..60.0).contains(&seconds), "{seconds} s of speech");
    assert!(
        samples.iter().any(|sample| sample.unsigned_abs() > 1000),
        "not silent"
    );
    // The parquet cell was copied to a scratch file for ffmpeg, and removed afterwards.
    let scratch = encoder.cache_root().join("scratch");
    assert_eq!(std::fs::read_dir(scratch)?.count(), 0);
    Ok(())
}

#[test]
fn repeated_calls_hit_memory_and_a_fresh_encoder_hits_disk() -> Result<()> {
    let folder = tempfile::tempdir()?;
    let cache_dir = folder.path().join("cache");
    let image = sample_ref(MediaKind::Image, "text_to_3D/t23d-blue-cube.png");
    let video = sample_ref(
        MediaKind::Video,
        "text_to_video/t2v-blue-circle-growing.mp4",
    );

    let encoder = MediaEncoder::new(cache_dir.clone());
    let first_image = encoder.image_data_url(&image)?;
    let first_frames = encoder.video_frame_data_urls(&video, 5)?;
    assert_eq!(encoder.statistics().encodes, 2);
    let again = encoder.image_data_url(&image)?;
    assert!(
        Arc::ptr_eq(&first_image, &again),
        "a memory hit returns the same string"
    );
    encoder.clone().video_frame_data_urls(&video, 5)?;
    assert_eq!(
        encoder.statistics(),
        CacheStatistics {
            memory_hits: 2,
            disk_hits: 0,
            encodes: 2
        }
    );
    // A different frame count is a different result.
    encoder.video_frame_data_urls(&video, 3)?;
    assert_eq!(encoder.statistics().encodes, 3);

    let fresh = MediaEncoder::new(cache_dir.clone());
    assert_eq!(fresh.image_data_url(&image)?, first_image);
    assert_eq!(fresh.video_frame_data_urls(&video, 5)?, first_frames);
    assert_eq!(
        fresh.statistics(),
        CacheStatistics {
            memory_hits: 0,
            disk_hits: 2,
            encodes: 0
        }
    );
    let entries = std::fs::read_dir(cache_dir.join("media"))?
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_name().len() == 2)
        .count();
    assert!(entries >= 1, "entries live in two-hex-digit shards");
    Ok(())
}

#[test]
fn a_zero_memory_bound_still_uses_the_disk_cache() -> Result<()> {
    let folder = tempfile::tempdir()?;
    let encoder = MediaEncoder::with_memory_limit(folder.path().to_path_buf(), 0);
    let audio = sample_ref(MediaKind::Audio, "text_to_audio/t2a-low-hum-100hz.wav");
    let first = encoder.audio_wav_base64(&audio)?;
    let second = encoder.audio_wav_base64(&audio)?;
    assert_eq!(first, second);
    assert_eq!(
        encoder.statistics(),
        CacheStatistics {
            memory_hits: 0,
            disk_hits: 1,
            encodes: 1
        }
    );
    Ok(())
}

#[test]
fn cached_image_data_url_takes_well_under_a_millisecond() -> Result<()> {
    let folder = tempfile::tempdir()?;
    let encoder = MediaEncoder::new(folder.path().to_path_buf());
    let media = sample_ref(MediaKind::Image, "text_to_3D/t23d-grey-sphere.png");
    encoder.image_data_url(&media)?;
    let calls = 1000;
    let start = Instant::now();
    for _ in 0..calls {
        encoder.image_data_url(&media)?;
    }
    let mean = start.elapsed() / calls;
    // A hit formats a key, locks a map and clones an `Arc`: microseconds even unoptimised.
    assert!(
        mean < Duration::from_millis(1),
        "mean {mean:?} per cached call"
    );
    assert_eq!(encoder.statistics().memory_hits, u64::from(calls));
    Ok(())
}

#[test]
fn concurrent_calls_agree() -> Result<()> {
    let folder = tempfile::tempdir()?;
    let encoder = MediaEncoder::new(folder.path().to_path_buf());
    let media = sample_ref(MediaKind::Image, "text_to_3D/t23d-orange-cone.png");
    let results = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| encoder.image_data_url(&media)))
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("encoder threads do not panic"))
            .collect::<Result<Vec<_>, _>>()
    })?;
    assert!(results.windows(2).all(|pair| pair[0] == pair[1]));
    Ok(())
}

#[test]
fn bad_media_gives_errors_that_name_the_item() -> Result<()> {
    let folder = tempfile::tempdir()?;
    let encoder = MediaEncoder::new(folder.path().join("cache"));
    let write = |name: &str, bytes: &[u8]| -> Result<PathBuf> {
        let path = folder.path().join(name);
        std::fs::write(&path, bytes)?;
        Ok(path)
    };
    // A PNG signature followed by garbage: the PNG decoder itself rejects it.
    let mut broken_png = b"\x89PNG\r\n\x1a\n".to_vec();
    broken_png.extend_from_slice(&[7; 64]);
    let png = file_ref(MediaKind::Image, &write("broken.png", &broken_png)?);
    let error = encoder
        .image_data_url(&png)
        .expect_err("a broken PNG fails");
    assert!(matches!(error, MediaError::Decode { .. }), "{error}");

    let garbage = b"this is not media at all".repeat(20);
    let image = file_ref(MediaKind::Image, &write("garbage.jpg", &garbage)?);
    let video = file_ref(MediaKind::Video, &write("garbage.mp4", &garbage)?);
    let audio = file_ref(MediaKind::Audio, &write("garbage.wav", &garbage)?);
    let missing = file_ref(MediaKind::Image, &folder.path().join("missing.png"));
    let errors = [
        (png.name.clone(), error),
        (
            image.name.clone(),
            encoder.image_data_url(&image).expect_err("garbage image"),
        ),
        (
            video.name.clone(),
            encoder
                .video_frame_data_urls(&video, 5)
                .expect_err("garbage video"),
        ),
        (
            audio.name.clone(),
            encoder.audio_wav_base64(&audio).expect_err("garbage audio"),
        ),
        (
            audio.name.clone(),
            encoder
                .joined_audio_wav_base64(&audio, &audio)
                .expect_err("garbage pair"),
        ),
        (
            missing.name.clone(),
            encoder.image_data_url(&missing).expect_err("missing file"),
        ),
    ];
    for (name, error) in &errors {
        assert_eq!(error.name(), name);
        assert!(error.to_string().contains(name.as_str()), "{error}");
    }
    assert!(matches!(errors[5].1, MediaError::Read { .. }));
    assert_eq!(encoder.statistics().encodes, 0, "failures are not cached");
    Ok(())
}
