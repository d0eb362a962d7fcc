//! Image preprocessing for image-text models, as the checkpoint's `preprocessor_config.json`
//! says: the steps and order of `transformers`' slow (PIL) `CLIPImageProcessor` and
//! `SiglipImageProcessor` (4.57.3): convert to RGB, resize, center crop (CLIP only), rescale,
//! normalize, channels first.
//!
//! - CLIP: `size` is `{"shortest_edge": n}` (or a bare number, the legacy form): the short side
//!   becomes `n` and the long side `floor(n * long / short)`; `{"height", "width"}` resizes to
//!   exactly that. Then `crop_size` is cut from the center (top and left offsets rounded down;
//!   an image smaller than the crop is padded with zeros first, like `transformers`).
//! - SigLIP: `size` is `{"height", "width"}` (a bare number means a square); no crop.
//! - Missing fields take the family's `transformers` defaults (224 pixels, bicubic, `1/255`,
//!   OpenAI's CLIP mean and std or 0.5 for SigLIP). A size that then disagrees with the model's
//!   `vision_config.image_size` is an error naming the field, as are fields of the wrong type.
//!
//! Deviations, with reasons:
//! - resampling is Pillow's own arithmetic for Lanczos (1), bilinear (2) and bicubic (3)
//!   ([`crate::pil_resample`], checked pixel for pixel against Pillow in the Qwen2-VL processor's
//!   parity test), so resized images equal `transformers`'; nearest (0) uses the `image` crate's
//!   nearest filter, which may pick a neighbouring pixel where Pillow rounds the other way; box
//!   (4) and Hamming (5) are refused (no CLIP or SigLIP checkpoint uses them). An image already
//!   at the target size is not resampled at all (PIL returns a copy there too);
//! - the brief asked for bilinear SigLIP resizing; `SiglipImageProcessor` defaults to bicubic and
//!   checkpoints state `resample`, so the field decides and bicubic is the default;
//! - images are always converted to RGB (`do_convert_rgb` is not consulted): the towers take three
//!   channels, and alpha is dropped as PIL's `convert("RGB")` does.

use std::path::Path;

use candle_core::{Device, Tensor};
use image::imageops::FilterType;
use image::{DynamicImage, RgbImage};
use serde_json::Value;

use crate::architecture::Architecture;
use crate::checkpoint::CONFIG_FILE;
use crate::error::LocalJudgeError;
use crate::models::layers::{config_error, read_json_file};
use crate::pil_resample::{self, Filter};

/// The image processor settings file of a checkpoint.
pub const PREPROCESSOR_CONFIG_FILE: &str = "preprocessor_config.json";

/// OpenAI CLIP's channel means (`transformers`' `OPENAI_CLIP_MEAN`). Kept in f64 and rounded to
/// f32 where used, as numpy does with the Python floats.
pub const CLIP_MEAN: [f64; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
/// OpenAI CLIP's channel standard deviations (`OPENAI_CLIP_STD`).
pub const CLIP_STD: [f64; 3] = [0.268_629_54, 0.261_302_58, 0.275_777_11];
/// `IMAGENET_STANDARD_MEAN` and `_STD`, SigLIP's normalization.
pub const HALF: [f64; 3] = [0.5, 0.5, 0.5];
/// Both processors' default size.
pub const DEFAULT_SIZE: u32 = 224;

/// How images are resized.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resize {
    /// The short side becomes this; the long side keeps the aspect ratio (rounded down).
    ShortestEdge(u32),
    /// Exactly this size.
    Exact {
        /// Rows.
        height: u32,
        /// Columns.
        width: u32,
    },
}

impl Resize {
    /// The size `(width, height)` an image of `(width, height)` is resized to.
    pub fn target(self, width: u32, height: u32) -> (u32, u32) {
        match self {
            Resize::Exact { height, width } => (width, height),
            Resize::ShortestEdge(short) => {
                let scale = |long: u32, side: u32| {
                    ((u64::from(short) * u64::from(long)) / u64::from(side.max(1))) as u32
                };
                if width <= height {
                    (short, scale(height, width))
                } else {
                    (scale(width, height), short)
                }
            }
        }
    }
}

/// PIL's resampling filters (the `resample` field).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resample {
    /// 0.
    Nearest,
    /// 1.
    Lanczos,
    /// 2.
    Bilinear,
    /// 3.
    Bicubic,
}

impl Resample {
    /// Pillow's convolution filter for this resampling; `None` for nearest, which Pillow does
    /// not resample by convolution.
    fn pil_filter(self) -> Option<Filter> {
        match self {
            Resample::Nearest => None,
            Resample::Lanczos => Some(Filter::Lanczos),
            Resample::Bilinear => Some(Filter::Bilinear),
            Resample::Bicubic => Some(Filter::Bicubic),
        }
    }
}

/// Resizes, crops and normalises images as the checkpoint's `preprocessor_config.json` says.
#[derive(Clone, Debug, PartialEq)]
pub struct ImagePreprocessor {
    resize: Option<Resize>,
    resample: Resample,
    /// `(height, width)`.
    center_crop: Option<(u32, u32)>,
    rescale_factor: Option<f64>,
    normalize: Option<([f32; 3], [f32; 3])>,
    /// Fields that took their default, for error messages.
    defaulted: Vec<&'static str>,
}

/// A field's value, `None` when missing or `null` (`transformers` writes `null` for unset).
pub(crate) fn field<'a>(json: &'a Value, name: &str) -> Option<&'a Value> {
    json.get(name).filter(|value| !value.is_null())
}

pub(crate) fn bool_field(
    json: &Value,
    name: &'static str,
    default: bool,
) -> Result<bool, LocalJudgeError> {
    match field(json, name) {
        None => Ok(default),
        Some(value) => value.as_bool().ok_or_else(|| {
            config_error(
                Path::new(PREPROCESSOR_CONFIG_FILE),
                name,
                format!("expected true or false, found {value}"),
            )
        }),
    }
}

fn positive_size(value: &Value, field_name: &str) -> Result<u32, LocalJudgeError> {
    value
        .as_u64()
        .filter(|size| (1..=u64::from(u32::MAX)).contains(size))
        .map(|size| size as u32)
        .ok_or_else(|| {
            config_error(
                Path::new(PREPROCESSOR_CONFIG_FILE),
                field_name,
                format!("expected a positive number of pixels, found {value}"),
            )
        })
}

/// `{"height": h, "width": w}` as `(height, width)`, if the object has both keys.
fn height_width(value: &Value, name: &str) -> Result<Option<(u32, u32)>, LocalJudgeError> {
    match (value.get("height"), value.get("width")) {
        (Some(height), Some(width)) => Ok(Some((
            positive_size(height, &format!("{name}.height"))?,
            positive_size(width, &format!("{name}.width"))?,
        ))),
        _ => Ok(None),
    }
}

pub(crate) fn channel_values(
    json: &Value,
    name: &'static str,
    default: [f64; 3],
) -> Result<[f32; 3], LocalJudgeError> {
    let Some(value) = field(json, name) else {
        return Ok(default.map(|value| value as f32));
    };
    let wrong = || {
        config_error(
            Path::new(PREPROCESSOR_CONFIG_FILE),
            name,
            format!("expected a number or a list of 3 numbers, found {value}"),
        )
    };
    if let Some(number) = value.as_f64() {
        return Ok([number as f32; 3]);
    }
    let list = value.as_array().ok_or_else(wrong)?;
    if list.len() != 3 {
        return Err(wrong());
    }
    let mut values = [0.0f32; 3];
    for (slot, entry) in values.iter_mut().zip(list) {
        *slot = entry.as_f64().ok_or_else(wrong)? as f32;
    }
    Ok(values)
}

impl ImagePreprocessor {
    /// Reads `preprocessor_config.json`, with the family's defaults for missing fields, and
    /// checks that the images it produces have the size `config.json`'s vision tower expects.
    pub fn from_folder(
        folder: &Path,
        architecture: Architecture,
    ) -> Result<ImagePreprocessor, LocalJudgeError> {
        let json = read_json_file(folder, PREPROCESSOR_CONFIG_FILE)?.ok_or_else(|| {
            config_error(
                Path::new(PREPROCESSOR_CONFIG_FILE),
                "(file)",
                "missing: CLIP and SigLIP checkpoints need their image processor settings",
            )
        })?;
        let preprocessor = ImagePreprocessor::from_json(&json, architecture)?;
        let image_size = read_json_file(folder, CONFIG_FILE)?
            .as_ref()
            .and_then(|config| config.get("vision_config"))
            .and_then(|vision| vision.get("image_size"))
            .and_then(Value::as_u64)
            .unwrap_or(u64::from(DEFAULT_SIZE));
        preprocessor.check_output_size(image_size)?;
        Ok(preprocessor)
    }

    /// Reads the settings from a parsed `preprocessor_config.json`.
    pub fn from_json(
        json: &Value,
        architecture: Architecture,
    ) -> Result<ImagePreprocessor, LocalJudgeError> {
        let clip = match architecture {
            Architecture::Clip => true,
            Architecture::Siglip => false,
            other => {
                return Err(LocalJudgeError::Input {
                    message: format!("{} does not read images", other.hugging_face_name()),
                });
            }
        };
        if !json.is_object() {
            return Err(config_error(
                Path::new(PREPROCESSOR_CONFIG_FILE),
                "(file)",
                "expected a JSON object",
            ));
        }
        let mut defaulted = Vec::new();

        let resize = if bool_field(json, "do_resize", true)? {
            Some(match field(json, "size") {
                None => {
                    defaulted.push("size");
                    if clip {
                        Resize::ShortestEdge(DEFAULT_SIZE)
                    } else {
                        Resize::Exact {
                            height: DEFAULT_SIZE,
                            width: DEFAULT_SIZE,
                        }
                    }
                }
                Some(value) if value.is_number() => {
                    let size = positive_size(value, "size")?;
                    if clip {
                        Resize::ShortestEdge(size)
                    } else {
                        Resize::Exact {
                            height: size,
                            width: size,
                        }
                    }
                }
                Some(value) => {
                    if let Some((height, width)) = height_width(value, "size")? {
                        Resize::Exact { height, width }
                    } else if let (true, Some(short)) = (clip, value.get("shortest_edge")) {
                        Resize::ShortestEdge(positive_size(short, "size.shortest_edge")?)
                    } else {
                        let expected = if clip {
                            "{\"shortest_edge\": n} or {\"height\": h, \"width\": w}"
                        } else {
                            "{\"height\": h, \"width\": w}"
                        };
                        return Err(config_error(
                            Path::new(PREPROCESSOR_CONFIG_FILE),
                            "size",
                            format!("expected {expected}, found {value}"),
                        ));
                    }
                }
            })
        } else {
            None
        };

        let resample = match field(json, "resample") {
            None => {
                defaulted.push("resample");
                Resample::Bicubic
            }
            Some(value) => match value.as_u64() {
                Some(0) => Resample::Nearest,
                Some(1) => Resample::Lanczos,
                Some(2) => Resample::Bilinear,
                Some(3) => Resample::Bicubic,
                _ => {
                    return Err(config_error(
                        Path::new(PREPROCESSOR_CONFIG_FILE),
                        "resample",
                        format!(
                            "{value} is not supported: use 0 (nearest), 1 (Lanczos), 2 (bilinear) \
                             or 3 (bicubic)"
                        ),
                    ));
                }
            },
        };

        let center_crop = if clip && bool_field(json, "do_center_crop", true)? {
            Some(match field(json, "crop_size") {
                None => {
                    defaulted.push("crop_size");
                    (DEFAULT_SIZE, DEFAULT_SIZE)
                }
                Some(value) if value.is_number() => {
                    let size = positive_size(value, "crop_size")?;
                    (size, size)
                }
                Some(value) => height_width(value, "crop_size")?.ok_or_else(|| {
                    config_error(
                        Path::new(PREPROCESSOR_CONFIG_FILE),
                        "crop_size",
                        format!("expected {{\"height\": h, \"width\": w}}, found {value}"),
                    )
                })?,
            })
        } else {
            None
        };

        let rescale_factor = if bool_field(json, "do_rescale", true)? {
            Some(match field(json, "rescale_factor") {
                None => 1.0 / 255.0,
                Some(value) => value.as_f64().ok_or_else(|| {
                    config_error(
                        Path::new(PREPROCESSOR_CONFIG_FILE),
                        "rescale_factor",
                        format!("expected a number, found {value}"),
                    )
                })?,
            })
        } else {
            None
        };

        let normalize = if bool_field(json, "do_normalize", true)? {
            let (mean, std) = if clip {
                (CLIP_MEAN, CLIP_STD)
            } else {
                (HALF, HALF)
            };
            let mean = channel_values(json, "image_mean", mean)?;
            let std = channel_values(json, "image_std", std)?;
            if std.contains(&0.0) {
                return Err(config_error(
                    Path::new(PREPROCESSOR_CONFIG_FILE),
                    "image_std",
                    "a standard deviation is 0",
                ));
            }
            Some((mean, std))
        } else {
            None
        };

        Ok(ImagePreprocessor {
            resize,
            resample,
            center_crop,
            rescale_factor,
            normalize,
            defaulted,
        })
    }

    /// The `(height, width)` every image ends up with, when the settings fix it (a crop, or an
    /// exact resize); a shortest-edge resize without crop keeps the aspect ratio.
    pub fn output_size(&self) -> Option<(u32, u32)> {
        match (self.center_crop, self.resize) {
            (Some(crop), _) => Some(crop),
            (None, Some(Resize::Exact { height, width })) => Some((height, width)),
            _ => None,
        }
    }

    /// Fails when the images would not be `image_size` square, naming the field responsible.
    fn check_output_size(&self, image_size: u64) -> Result<(), LocalJudgeError> {
        let (field_name, height, width) = match (self.center_crop, self.resize) {
            (Some((height, width)), _) => ("crop_size", height, width),
            (None, Some(Resize::Exact { height, width })) => ("size", height, width),
            (None, Some(Resize::ShortestEdge(short))) => ("size", short, short),
            (None, None) => return Ok(()),
        };
        if u64::from(height) == image_size && u64::from(width) == image_size {
            return Ok(());
        }
        let origin = if self.defaulted.contains(&field_name) {
            format!("missing, and the default gives {height}x{width} images")
        } else {
            format!("gives {height}x{width} images")
        };
        Err(config_error(
            Path::new(PREPROCESSOR_CONFIG_FILE),
            field_name,
            format!("{origin}, but {CONFIG_FILE}'s vision_config.image_size is {image_size}"),
        ))
    }

    /// Pixels `[images, 3, height, width]` (f32, on `device`) ready for the vision tower.
    pub fn pixels(
        &self,
        images: &[DynamicImage],
        device: &Device,
    ) -> Result<Tensor, LocalJudgeError> {
        if images.is_empty() {
            return Err(LocalJudgeError::Input {
                message: "no images to preprocess".to_owned(),
            });
        }
        let mut data = Vec::new();
        let mut size: Option<(u32, u32)> = None;
        for (index, image) in images.iter().enumerate() {
            let name = || format!("number {}", index + 1);
            if image.width() == 0 || image.height() == 0 {
                return Err(LocalJudgeError::Image {
                    name: name(),
                    message: "the image is empty".to_owned(),
                });
            }
            let (planes, height, width) = self.channels_first(image);
            match size {
                None => size = Some((height, width)),
                Some(first) if first != (height, width) => {
                    return Err(LocalJudgeError::Image {
                        name: name(),
                        message: format!(
                            "preprocessed to {height}x{width} while the first image is {}x{}; \
                             images of different sizes need resizing (do_resize) or cropping",
                            first.0, first.1
                        ),
                    });
                }
                Some(_) => {}
            }
            data.extend(planes);
        }
        let (height, width) = size.unwrap_or_default();
        Tensor::from_vec(
            data,
            (images.len(), 3, height as usize, width as usize),
            device,
        )
        .map_err(LocalJudgeError::model("building the pixel tensor"))
    }

    /// One image resized, cropped, rescaled and normalised, channels first, with its size.
    fn channels_first(&self, image: &DynamicImage) -> (Vec<f32>, u32, u32) {
        let rgb = self.resized(image.to_rgb8());
        let (height, width, raw) = self.cropped(&rgb);
        let planes = raw
            .iter()
            .enumerate()
            .map(|(position, &value)| {
                let channel = position / (height as usize * width as usize);
                self.rescaled_and_normalized(value, channel)
            })
            .collect();
        (planes, height, width)
    }

    fn resized(&self, rgb: RgbImage) -> RgbImage {
        let Some(resize) = self.resize else {
            return rgb;
        };
        let (width, height) = resize.target(rgb.width(), rgb.height());
        if (width, height) == rgb.dimensions() {
            // PIL returns a copy for a same-size resize; any filter here would blur.
            rgb
        } else {
            match self.resample.pil_filter() {
                Some(filter) => pil_resample::resize(&rgb, width, height, filter),
                None => image::imageops::resize(&rgb, width, height, FilterType::Nearest),
            }
        }
    }

    /// The center crop of the image, channels first, as raw `0..=255` values; regions outside
    /// the image (a crop larger than it) are 0. Returns `(height, width, values)`.
    fn cropped(&self, rgb: &RgbImage) -> (u32, u32, Vec<f32>) {
        let (width, height) = rgb.dimensions();
        let (crop_height, crop_width) = self.center_crop.unwrap_or((height, width));
        let mut values = vec![0.0f32; 3 * crop_height as usize * crop_width as usize];
        let (source_top, target_top) = crop_offsets(height, crop_height);
        let (source_left, target_left) = crop_offsets(width, crop_width);
        let rows = height.min(crop_height);
        let columns = width.min(crop_width);
        let plane = crop_height as usize * crop_width as usize;
        for row in 0..rows {
            for column in 0..columns {
                let pixel = rgb.get_pixel(source_left + column, source_top + row);
                let target = (target_top + row) as usize * crop_width as usize
                    + (target_left + column) as usize;
                for (channel, &value) in pixel.0.iter().enumerate() {
                    values[channel * plane + target] = f32::from(value);
                }
            }
        }
        (crop_height, crop_width, values)
    }

    /// `transformers`' arithmetic: rescale in f64 then cast to f32, normalise in f32.
    fn rescaled_and_normalized(&self, value: f32, channel: usize) -> f32 {
        let value = match self.rescale_factor {
            Some(factor) => (f64::from(value) * factor) as f32,
            None => value,
        };
        match self.normalize {
            Some((mean, std)) => (value - mean[channel]) / std[channel],
            None => value,
        }
    }
}

/// Offsets of a center crop along one axis: `(in the source, in the crop)`. A crop shorter than
/// the image starts `(size - crop) / 2` into it; a longer one is padded, the image starting
/// `ceil((crop - size) / 2)` into the crop.
fn crop_offsets(size: u32, crop: u32) -> (u32, u32) {
    if size >= crop {
        ((size - crop) / 2, 0)
    } else {
        (0, (crop - size).div_ceil(2))
    }
}

#[cfg(test)]
mod tests {
    use image::Rgb;
    use serde_json::json;

    use super::*;

    fn clip(json: Value) -> Result<ImagePreprocessor, LocalJudgeError> {
        ImagePreprocessor::from_json(&json, Architecture::Clip)
    }

    fn field_of(error: LocalJudgeError) -> String {
        match error {
            LocalJudgeError::Config { field, .. } => field,
            other => panic!("expected a config error, got {other}"),
        }
    }

    /// An image whose pixel (x, y) is (x, y, 7).
    fn coordinates(width: u32, height: u32) -> DynamicImage {
        DynamicImage::ImageRgb8(RgbImage::from_fn(width, height, |x, y| {
            Rgb([x as u8, y as u8, 7])
        }))
    }

    fn raw() -> Value {
        json!({
            "do_resize": false,
            "do_center_crop": false,
            "do_rescale": false,
            "do_normalize": false,
        })
    }

    #[test]
    fn shortest_edge_keeps_the_aspect_ratio_rounding_down() {
        let resize = Resize::ShortestEdge(224);
        assert_eq!(resize.target(640, 480), (298, 224));
        assert_eq!(resize.target(480, 640), (224, 298));
        assert_eq!(resize.target(100, 100), (224, 224));
        assert_eq!(
            Resize::Exact {
                height: 3,
                width: 5
            }
            .target(100, 7),
            (5, 3)
        );
    }

    #[test]
    fn resize_then_center_crop_gives_the_crop_size() {
        let preprocessor = clip(json!({
            "size": {"shortest_edge": 16},
            "crop_size": {"height": 16, "width": 16},
        }))
        .expect("settings");
        let pixels = preprocessor
            .pixels(&[coordinates(40, 20), coordinates(20, 50)], &Device::Cpu)
            .expect("pixels");
        assert_eq!(pixels.dims(), &[2, 3, 16, 16]);
    }

    fn flat(preprocessor: &ImagePreprocessor, images: &[DynamicImage]) -> Vec<f32> {
        preprocessor
            .pixels(images, &Device::Cpu)
            .and_then(|tensor| {
                tensor
                    .flatten_all()
                    .and_then(|tensor| tensor.to_vec1::<f32>())
                    .map_err(LocalJudgeError::model("reading"))
            })
            .expect("pixels")
    }

    #[test]
    fn center_crop_takes_the_middle_rounding_down() {
        let mut settings = raw();
        settings["do_center_crop"] = json!(true);
        settings["crop_size"] = json!({"height": 2, "width": 2});
        let preprocessor = clip(settings).expect("settings");
        let flat = flat(&preprocessor, &[coordinates(7, 4)]);
        // left = (7 - 2) / 2 = 2, top = (4 - 2) / 2 = 1: x in 2..4, y in 1..3; channels first.
        assert_eq!(&flat[0..4], &[2.0, 3.0, 2.0, 3.0]);
        assert_eq!(&flat[4..8], &[1.0, 1.0, 2.0, 2.0]);
        assert_eq!(&flat[8..12], &[7.0; 4]);
    }

    #[test]
    fn a_crop_larger_than_the_image_pads_with_zeros() {
        let mut settings = raw();
        settings["do_center_crop"] = json!(true);
        settings["crop_size"] = json!(3);
        let preprocessor = clip(settings).expect("settings");
        let flat = flat(&preprocessor, &[coordinates(2, 2)]);
        // The 2x2 image starts ceil((3 - 2) / 2) = 1 into the crop.
        assert_eq!(
            &flat[18..27],
            &[0.0, 0.0, 0.0, 0.0, 7.0, 7.0, 0.0, 7.0, 7.0]
        );
    }

    #[test]
    fn same_size_images_are_not_resampled_and_are_normalised_like_transformers() {
        let preprocessor = ImagePreprocessor::from_json(
            &json!({"size": {"height": 4, "width": 4}, "resample": 2}),
            Architecture::Siglip,
        )
        .expect("settings");
        let flat = flat(&preprocessor, &[coordinates(4, 4)]);
        let expected = |value: f64| (((value / 255.0) as f32) - 0.5) / 0.5;
        assert_eq!(flat[3], expected(3.0));
        assert_eq!(flat[16 + 4], expected(1.0));
        assert_eq!(flat[32], expected(7.0));
    }

    #[test]
    fn family_defaults_fill_missing_fields() {
        let preprocessor = clip(json!({})).expect("defaults");
        assert_eq!(preprocessor.resize, Some(Resize::ShortestEdge(224)));
        assert_eq!(preprocessor.center_crop, Some((224, 224)));
        assert_eq!(preprocessor.resample, Resample::Bicubic);
        let single = |values: [f64; 3]| values.map(|value| value as f32);
        assert_eq!(
            preprocessor.normalize,
            Some((single(CLIP_MEAN), single(CLIP_STD)))
        );
        let siglip = ImagePreprocessor::from_json(&json!({"size": 384}), Architecture::Siglip)
            .expect("siglip");
        assert_eq!(
            siglip.resize,
            Some(Resize::Exact {
                height: 384,
                width: 384
            })
        );
        assert_eq!(siglip.center_crop, None);
        assert_eq!(siglip.normalize, Some(([0.5f32; 3], [0.5f32; 3])));
        // Legacy CLIP configs give bare numbers.
        let legacy = clip(json!({"size": 224, "crop_size": 224})).expect("legacy");
        assert_eq!(legacy.resize, Some(Resize::ShortestEdge(224)));
        assert_eq!(legacy.output_size(), Some((224, 224)));
    }

    #[test]
    fn wrong_fields_are_named() {
        assert_eq!(
            field_of(clip(json!({"size": {"longest_edge": 3}})).expect_err("size")),
            "size"
        );
        assert_eq!(
            field_of(clip(json!({"size": {"shortest_edge": 0}})).expect_err("zero")),
            "size.shortest_edge"
        );
        assert_eq!(
            field_of(clip(json!({"resample": 4})).expect_err("box")),
            "resample"
        );
        assert_eq!(
            field_of(clip(json!({"image_mean": [0.5, 0.5]})).expect_err("mean")),
            "image_mean"
        );
        assert_eq!(
            field_of(clip(json!({"do_resize": "yes"})).expect_err("bool")),
            "do_resize"
        );
        assert_eq!(
            field_of(
                ImagePreprocessor::from_json(
                    &json!({"size": {"shortest_edge": 3}}),
                    Architecture::Siglip
                )
                .expect_err("siglip shortest edge")
            ),
            "size"
        );
        assert!(ImagePreprocessor::from_json(&json!({}), Architecture::Bert).is_err());
    }

    #[test]
    fn sizes_must_match_the_vision_tower() {
        let defaulted = clip(json!({"crop_size": 32, "size": 32}))
            .and_then(|preprocessor| preprocessor.check_output_size(32));
        assert!(defaulted.is_ok());
        let error = clip(json!({"size": 32}))
            .and_then(|preprocessor| preprocessor.check_output_size(32))
            .expect_err("crop defaults to 224");
        let message = error.to_string();
        assert!(message.contains("crop_size"), "{message}");
        assert!(message.contains("missing"), "{message}");
    }

    #[test]
    fn images_of_different_final_sizes_are_refused() {
        let preprocessor = clip(raw()).expect("settings");
        let error = preprocessor
            .pixels(&[coordinates(3, 3), coordinates(4, 3)], &Device::Cpu)
            .expect_err("sizes differ");
        assert!(matches!(error, LocalJudgeError::Image { .. }), "{error}");
        assert!(preprocessor.pixels(&[], &Device::Cpu).is_err());
    }
}
