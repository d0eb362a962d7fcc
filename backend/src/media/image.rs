//! Still images as JPEG data URLs, the way the authors' harness prepares them: RGBA and LA are
//! pasted onto a white background, everything else converted to RGB, then saved as JPEG
//! (`encode_image` in `utils/video_utils.py` of HongbangYuan/OmniReward).

use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;

use ::image::codecs::jpeg::JpegEncoder;
use ::image::{DynamicImage, ImageError, ImageReader, Limits, RgbImage};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::ffmpeg::{InputFile, Program, run};
use super::{JPEG_QUALITY, MediaError, Source};

const DATA_URL_PREFIX: &str = "data:image/jpeg;base64,";

/// Decodes the source image (PNG and JPEG in process, anything else through ffmpeg) and returns
/// it as a JPEG data URL.
pub(super) fn encode_image(
    source: &Source<'_>,
    scratch_dir: &Path,
) -> Result<Arc<str>, MediaError> {
    let decode_error = |error: ImageDecodeError| MediaError::Decode {
        name: source.name().to_owned(),
        message: error.to_string(),
    };
    let image = match decode_image(&source.bytes) {
        Ok(image) => image,
        // WebP, GIF and unrecognised bytes: let ffmpeg, which reads far more formats than the
        // codecs compiled in here, turn the first frame into a PNG.
        Err(ImageDecodeError::Image(ImageError::Unsupported(_))) => {
            let input = InputFile::for_source(source, scratch_dir)?;
            let arguments = [
                "-i".into(),
                input.argument(),
                "-frames:v".into(),
                "1".into(),
                "-f".into(),
                "image2pipe".into(),
                "-c:v".into(),
                "png".into(),
                "-".into(),
            ];
            let png = run(Program::Ffmpeg, &arguments, source.name())?;
            decode_image(&png).map_err(decode_error)?
        }
        Err(error) => return Err(decode_error(error)),
    };
    jpeg_data_url(&flatten_onto_white(&image)).map_err(|error| decode_error(error.into()))
}

/// The most pixels an image may have to be decoded: 40 megapixels (8K video frames are 33).
/// A PNG of 20000 × 20000 pixels compresses to a few hundred kilobytes and decodes into more
/// than a gigabyte, so the size is read from the header first and larger images are refused
/// before any pixel is decoded; the decoder's own allocation limit stays on as a second guard.
pub const MAX_IMAGE_PIXELS: u64 = 40_000_000;

/// Decodes encoded image bytes, guessing the format from their content (never the file name),
/// refusing images of more than [`MAX_IMAGE_PIXELS`] pixels from their header. Every image the
/// server decodes (demo requests, benchmark media, judges' inputs) goes through here.
pub fn decode_image(bytes: &[u8]) -> Result<DynamicImage, ImageDecodeError> {
    let reader = || {
        ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(ImageError::IoError)
    };
    let (width, height) = reader()?.into_dimensions()?;
    if u64::from(width) * u64::from(height) > MAX_IMAGE_PIXELS {
        return Err(ImageDecodeError::TooLarge { width, height });
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(width);
    limits.max_image_height = Some(height);
    let mut reader = reader()?;
    reader.limits(limits);
    Ok(reader.decode()?)
}

/// Why image bytes were not decoded.
#[derive(Debug, thiserror::Error)]
pub enum ImageDecodeError {
    /// The header announces more than [`MAX_IMAGE_PIXELS`] pixels.
    #[error(
        "the image is {width}×{height} pixels ({:.1} megapixels); images of more than {} \
         megapixels are refused",
        f64::from(*width) * f64::from(*height) / 1e6,
        MAX_IMAGE_PIXELS / 1_000_000
    )]
    TooLarge {
        /// Width from the header.
        width: u32,
        /// Height from the header.
        height: u32,
    },
    /// The bytes are not an image the codecs read.
    #[error(transparent)]
    Image(#[from] ImageError),
}

/// RGB pixels with any alpha composited onto white, rounding like Pillow's `paste` with a mask
/// (`(foreground * alpha + 255 * (255 - alpha)) / 255`, rounded to nearest).
pub(super) fn flatten_onto_white(image: &DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.to_rgb8();
    }
    let rgba = image.to_rgba8();
    RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [red, green, blue, alpha] = rgba.get_pixel(x, y).0;
        let alpha = u32::from(alpha);
        let blend = |channel: u8| {
            let value = u32::from(channel) * alpha + 255 * (255 - alpha) + 128;
            // Pillow's DIV255: exact rounding of value / 255 for value < 65536.
            let rounded = ((value >> 8) + value) >> 8;
            u8::try_from(rounded).unwrap_or(u8::MAX)
        };
        ::image::Rgb([blend(red), blend(green), blend(blue)])
    })
}

/// The pixels as `data:image/jpeg;base64,…` at [`JPEG_QUALITY`].
pub(super) fn jpeg_data_url(pixels: &RgbImage) -> Result<Arc<str>, ImageError> {
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, JPEG_QUALITY).encode_image(pixels)?;
    let mut url = String::with_capacity(DATA_URL_PREFIX.len() + jpeg.len().div_ceil(3) * 4);
    url.push_str(DATA_URL_PREFIX);
    BASE64.encode_string(&jpeg, &mut url);
    Ok(Arc::from(url))
}

/// Decodes a JPEG data URL made by [`jpeg_data_url`] (for tests).
#[cfg(test)]
pub(super) fn decode_data_url(url: &str) -> anyhow::Result<DynamicImage> {
    let payload = url.strip_prefix(DATA_URL_PREFIX).ok_or_else(|| {
        let start: String = url.chars().take(40).collect();
        anyhow::anyhow!("not a JPEG data URL: {start}")
    })?;
    let jpeg = BASE64.decode(payload)?;
    Ok(::image::load_from_memory_with_format(
        &jpeg,
        ::image::ImageFormat::Jpeg,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::image::{Rgba, RgbaImage};

    #[test]
    fn alpha_is_composited_onto_white_like_pillow() {
        let mut rgba = RgbaImage::new(3, 1);
        rgba.put_pixel(0, 0, Rgba([200, 10, 30, 255]));
        rgba.put_pixel(1, 0, Rgba([0, 0, 0, 0]));
        rgba.put_pixel(2, 0, Rgba([0, 0, 255, 128]));
        let flat = flatten_onto_white(&DynamicImage::ImageRgba8(rgba));
        assert_eq!(flat.get_pixel(0, 0).0, [200, 10, 30], "opaque is unchanged");
        assert_eq!(
            flat.get_pixel(1, 0).0,
            [255, 255, 255],
            "transparent is white"
        );
        // Pillow: DIV255(0 * 128 + 255 * 127) = 127, DIV255(255 * 128 + 255 * 127) = 255.
        assert_eq!(flat.get_pixel(2, 0).0, [127, 127, 255]);
    }

    #[test]
    fn grey_images_become_rgb() {
        let grey =
            DynamicImage::ImageLuma8(::image::GrayImage::from_pixel(2, 2, ::image::Luma([90])));
        assert_eq!(flatten_onto_white(&grey).get_pixel(1, 1).0, [90, 90, 90]);
    }

    #[test]
    fn data_urls_round_trip() -> anyhow::Result<()> {
        let pixels = RgbImage::from_pixel(16, 16, ::image::Rgb([40, 120, 200]));
        let url = jpeg_data_url(&pixels)?;
        assert!(
            url.starts_with("data:image/jpeg;base64,/9j/"),
            "JPEG magic after the prefix"
        );
        let decoded = decode_data_url(&url)?.to_rgb8();
        assert_eq!(decoded.dimensions(), (16, 16));
        let [red, green, blue] = decoded.get_pixel(8, 8).0;
        assert!(red.abs_diff(40) <= 4 && green.abs_diff(120) <= 4 && blue.abs_diff(200) <= 4);
        Ok(())
    }
}
