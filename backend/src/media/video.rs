//! Videos as uniformly sampled JPEG frames: `ffprobe` counts the decoded frames, one `ffmpeg`
//! call extracts exactly the sampled ones as PNG, and each becomes a JPEG data URL like an image.
//!
//! Sampling follows the authors' harness (`encode_video` in HongbangYuan/OmniReward
//! `utils/video_utils.py`): `np.linspace(0, n - 1, k, dtype=int)` over decord's frame count.

use std::ffi::OsString;
use std::path::Path;
use std::sync::Arc;

use super::ffmpeg::{InputFile, Program, run};
use super::image::{decode_image, flatten_onto_white, jpeg_data_url};
use super::{MediaError, Source};

const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

/// The frame indices `np.linspace(0, frame_count - 1, frames, dtype=int)` gives: evenly spaced
/// from the first to the last frame, truncated toward zero, repeating when `frames >
/// frame_count`. Computed in `f64` exactly as numpy does, so the rare index where floating point
/// falls just below an integer matches numpy too.
pub fn frame_indices(frame_count: usize, frames: usize) -> Vec<usize> {
    if frame_count == 0 || frames == 0 {
        return Vec::new();
    }
    let last = frame_count - 1;
    if frames == 1 {
        return vec![0];
    }
    // numpy: step = (stop - start) / (num - 1); y = arange(num) * step; y[-1] = stop.
    let step = last as f64 / (frames - 1) as f64;
    let mut indices: Vec<usize> = (0..frames)
        .map(|position| ((position as f64 * step) as usize).min(last))
        .collect();
    if let Some(final_index) = indices.last_mut() {
        *final_index = last;
    }
    indices
}

/// Samples `frames` frames of the source video as JPEG data URLs, in time order.
pub(super) fn encode_frames(
    source: &Source<'_>,
    frames: usize,
    scratch_dir: &Path,
) -> Result<Vec<Arc<str>>, MediaError> {
    let name = source.name();
    let decode_error = |message: String| MediaError::Decode {
        name: name.to_owned(),
        message,
    };
    let input = InputFile::for_source(source, scratch_dir)?;
    let frame_count = count_frames(&input, name)?;
    let indices = frame_indices(frame_count, frames);
    let mut distinct = indices.clone();
    distinct.dedup();

    let pngs = extract_frames(&input, &distinct, name)?;
    let pngs = split_png_stream(&pngs).map_err(decode_error)?;
    if pngs.len() != distinct.len() {
        return Err(decode_error(format!(
            "ffprobe counted {frame_count} frames, but ffmpeg returned {} of the {} requested \
             (indices {distinct:?})",
            pngs.len(),
            distinct.len()
        )));
    }
    let mut encoded = Vec::with_capacity(distinct.len());
    for (index, png) in distinct.iter().zip(pngs) {
        let image =
            decode_image(png).map_err(|error| decode_error(format!("frame {index}: {error}")))?;
        let url = jpeg_data_url(&flatten_onto_white(&image))
            .map_err(|error| decode_error(format!("frame {index}: {error}")))?;
        encoded.push((*index, url));
    }
    // Repeated indices share one string.
    indices
        .iter()
        .map(|index| {
            encoded
                .binary_search_by_key(index, |(found, _)| *found)
                .map(|position| Arc::clone(&encoded[position].1))
                .map_err(|_| decode_error(format!("frame {index} missing from ffmpeg output")))
        })
        .collect()
}

/// The exact number of decoded frames of the first video stream (`-count_frames` decodes the
/// whole stream: container metadata is often wrong or missing).
fn count_frames(input: &InputFile, name: &str) -> Result<usize, MediaError> {
    let arguments: [OsString; 9] = [
        "-count_frames".into(),
        "-select_streams".into(),
        "v:0".into(),
        "-show_entries".into(),
        "stream=nb_read_frames".into(),
        "-of".into(),
        "default=noprint_wrappers=1:nokey=1".into(),
        "-i".into(),
        input.argument(),
    ];
    let output = run(Program::Ffprobe, &arguments, name)?;
    let text = String::from_utf8_lossy(&output);
    let text = text.trim();
    let decode_error = |message: String| MediaError::Decode {
        name: name.to_owned(),
        message,
    };
    if text.is_empty() {
        return Err(decode_error("no video stream".to_owned()));
    }
    let count: usize = text
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .parse()
        .map_err(|_| decode_error(format!("ffprobe reported frame count `{text}`")))?;
    if count == 0 {
        return Err(decode_error("the video has no frames".to_owned()));
    }
    Ok(count)
}

/// The video's duration in seconds (the container's `format=duration`), as text.
pub(super) fn duration(
    source: &Source<'_>,
    scratch_dir: &Path,
) -> Result<Vec<Arc<str>>, MediaError> {
    let name = source.name();
    let input = InputFile::for_source(source, scratch_dir)?;
    let arguments: [OsString; 7] = [
        "-show_entries".into(),
        "format=duration".into(),
        "-of".into(),
        "default=noprint_wrappers=1:nokey=1".into(),
        "-select_streams".into(),
        "v:0".into(),
        input.argument(),
    ];
    let output = run(Program::Ffprobe, &arguments, name)?;
    let text = String::from_utf8_lossy(&output);
    let seconds: f64 = text
        .trim()
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .parse()
        .map_err(|_| MediaError::Decode {
            name: name.to_owned(),
            message: format!("ffprobe reported duration `{}`", text.trim()),
        })?;
    if !(seconds.is_finite() && seconds > 0.0) {
        return Err(MediaError::Decode {
            name: name.to_owned(),
            message: format!("a video of {seconds} seconds"),
        });
    }
    Ok(vec![Arc::from(seconds.to_string())])
}

/// The frames at `indices` (ascending, distinct) as concatenated RGB PNGs, from one ffmpeg run.
fn extract_frames(input: &InputFile, indices: &[usize], name: &str) -> Result<Vec<u8>, MediaError> {
    // Commas separate filters in a filter graph, so the ones inside `eq(n,i)` are escaped.
    let selection = indices
        .iter()
        .map(|index| format!("eq(n\\,{index})"))
        .collect::<Vec<_>>()
        .join("+");
    let arguments: Vec<OsString> = vec![
        "-i".into(),
        input.argument(),
        "-map".into(),
        "0:v:0".into(),
        "-vf".into(),
        format!("select={selection}").into(),
        // Pass selected frames through unchanged: no duplication or dropping to fit a frame rate.
        "-vsync".into(),
        "passthrough".into(),
        "-pix_fmt".into(),
        "rgb24".into(),
        "-f".into(),
        "image2pipe".into(),
        "-c:v".into(),
        "png".into(),
        "-".into(),
    ];
    run(Program::Ffmpeg, &arguments, name)
}

/// Splits concatenated PNG files at each `IEND` chunk.
fn split_png_stream(stream: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut images = Vec::new();
    let mut start = 0;
    while start < stream.len() {
        let rest = &stream[start..];
        if !rest.starts_with(&PNG_SIGNATURE) {
            return Err(format!(
                "ffmpeg output byte {start} does not start a PNG image"
            ));
        }
        let mut position = PNG_SIGNATURE.len();
        loop {
            let Some([a, b, c, d, kind @ ..]) = rest.get(position..position + 8) else {
                return Err(format!("PNG image at byte {start} is truncated"));
            };
            let length = u32::from_be_bytes([*a, *b, *c, *d]) as usize;
            // Chunk: length, type, data, CRC.
            position = position
                .checked_add(12 + length)
                .filter(|end| *end <= rest.len())
                .ok_or_else(|| format!("PNG image at byte {start} is truncated"))?;
            if kind == b"IEND" {
                break;
            }
        }
        images.push(&rest[..position]);
        start += position;
    }
    Ok(images)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_match_numpy_linspace() {
        // Each expected list is `np.linspace(0, n - 1, k, dtype=int).tolist()` from numpy 2.
        let cases: [(usize, usize, &[usize]); 10] = [
            (20, 10, &[0, 2, 4, 6, 8, 10, 12, 14, 16, 19]),
            (3, 5, &[0, 0, 1, 1, 2]),
            (20, 5, &[0, 4, 9, 14, 19]),
            (7, 1, &[0]),
            (1, 3, &[0, 0, 0]),
            (100, 7, &[0, 16, 33, 49, 66, 82, 99]),
            (241, 10, &[0, 26, 53, 80, 106, 133, 160, 186, 213, 240]),
            (48, 10, &[0, 5, 10, 15, 20, 26, 31, 36, 41, 47]),
            (49, 10, &[0, 5, 10, 16, 21, 26, 32, 37, 42, 48]),
            // Index 11 is 11 * 30/22 = 15 exactly in rationals, 14.999… in floating point.
            (
                31,
                23,
                &[
                    0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, 16, 17, 19, 20, 21, 23, 24, 25, 27, 28,
                    30,
                ],
            ),
        ];
        for (frame_count, frames, expected) in cases {
            assert_eq!(
                frame_indices(frame_count, frames),
                expected,
                "n = {frame_count}, k = {frames}"
            );
        }
    }

    #[test]
    fn indices_of_empty_requests_are_empty() {
        assert!(frame_indices(0, 5).is_empty());
        assert!(frame_indices(5, 0).is_empty());
    }

    #[test]
    fn png_streams_split_at_each_image() -> anyhow::Result<()> {
        let mut stream = Vec::new();
        for shade in [10u8, 200] {
            let image = ::image::RgbImage::from_pixel(3, 2, ::image::Rgb([shade, shade, shade]));
            let mut png = std::io::Cursor::new(Vec::new());
            image.write_to(&mut png, ::image::ImageFormat::Png)?;
            stream.extend_from_slice(png.get_ref());
        }
        let images = split_png_stream(&stream).map_err(anyhow::Error::msg)?;
        assert_eq!(images.len(), 2);
        assert_eq!(
            decode_image(images[1])?.to_rgb8().get_pixel(0, 0).0,
            [200, 200, 200]
        );
        assert!(split_png_stream(&stream[..stream.len() - 3]).is_err());
        assert!(split_png_stream(b"garbage").is_err());
        Ok(())
    }
}
