//! Image inputs of the Qwen2-VL and Qwen2.5-VL family, exactly as `transformers`' slow
//! `Qwen2VLImageProcessor` (4.57.3) makes them, so the vision tower sees the same numbers.
//!
//! Per image (a clip of one frame) or video (a clip of the caller's sampled frames): convert to
//! RGB; resize to [`smart_resize`]'s size (both sides multiples of
//! `patch_size × merge_size`, the area kept between `min_pixels` and `max_pixels`, the aspect
//! ratio nearly kept) with Pillow's own resampling ([`crate::pil_resample`]); rescale (in f64,
//! then f32) and normalise (in f32) as numpy does; pad the frames to a multiple of the temporal
//! patch by repeating the last (a still image becomes two equal frames); cut into `patch_size`
//! squares ordered temporal patch by temporal patch, merge-window by merge-window, each
//! flattened channel, then frame, then row, then column. The patches are stacked, and each
//! item's grid `[t, h, w]` (in patches) and kind are returned beside them.
//!
//! Videos follow the slow processor's video path (`Qwen2VLImageProcessor.preprocess(videos=…)`,
//! deprecated but present in 4.57.3): every frame resized with Pillow to the size of the first.
//! `Qwen2VLProcessor` in 4.57.3 hands videos to `Qwen2VLVideoProcessor` instead, which resizes
//! with torchvision (the video counterpart of the fast image processor) and is not what the
//! parity fixture pins. Which frames to sample is the caller's rule; a video's
//! `second_per_grid_ts` is `temporal_patch_size / fps`, as `Qwen2_5_VLProcessor` computes it.
//!
//! The fast processor that `transformers` now picks by default differs from this one by about
//! 0.3 % (it resizes with torchvision); checkpoints were trained with the slow one, which the
//! parity fixture pins.

use std::path::Path;

use image::DynamicImage;
use serde_json::Value;

use crate::error::LocalJudgeError;
use crate::image_input::{
    CLIP_MEAN, CLIP_STD, PREPROCESSOR_CONFIG_FILE, bool_field, channel_values, field,
};
use crate::models::layers::{config_error, read_json_file};
use crate::pil_resample::{self, Filter};

/// `transformers`' defaults: 56 × 56 pixels at least, 28 × 28 × 1280 at most.
const DEFAULT_MIN_PIXELS: u64 = 56 * 56;
const DEFAULT_MAX_PIXELS: u64 = 28 * 28 * 1280;
/// `Qwen2VLVideoProcessor`'s defaults per frame: 128 × 28 × 28 pixels at least, 768 × 28 × 28
/// at most.
const DEFAULT_VIDEO_MIN_PIXELS: u64 = 128 * 28 * 28;
const DEFAULT_VIDEO_MAX_PIXELS: u64 = 768 * 28 * 28;
/// The video processor's own settings file; without it `transformers` reads the image
/// processor's.
pub const VIDEO_PREPROCESSOR_CONFIG_FILE: &str = "video_preprocessor_config.json";
/// The most extreme aspect ratio `smart_resize` accepts.
const MAX_ASPECT_RATIO: f64 = 200.0;

/// The processor's settings, from `preprocessor_config.json`.
#[derive(Clone, Debug, PartialEq)]
pub struct Qwen2VlImageProcessor {
    /// Fewest pixels of a resized image.
    pub min_pixels: u64,
    /// Most pixels of a resized image.
    pub max_pixels: u64,
    /// Side of a square patch, in pixels.
    pub patch_size: u32,
    /// Patches merged into one token along each side.
    pub merge_size: u32,
    /// Frames in one patch (a still image is repeated to fill it).
    pub temporal_patch_size: u32,
    /// Whether to resize (without, the image must already be on the grid).
    pub do_resize: bool,
    /// The resampling filter.
    pub filter: Filter,
    /// Whether to multiply by `rescale_factor`.
    pub do_rescale: bool,
    /// Usually 1/255.
    pub rescale_factor: f64,
    /// Whether to normalise with `mean` and `std`.
    pub do_normalize: bool,
    /// Channel means.
    pub mean: [f32; 3],
    /// Channel standard deviations.
    pub std: [f32; 3],
}

/// The patches of some images and videos: one row per patch, `features` values per row.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VisualPatches {
    /// Row-major, `rows × features`.
    pub pixel_values: Vec<f32>,
    /// Values per patch: channels × frames × patch side².
    pub features: usize,
    /// Per image or video, its grid in patches: temporal patches, rows, columns.
    pub grids: Vec<[usize; 3]>,
    /// Per image or video, what it is (beside `grids`).
    pub kinds: Vec<MediaKind>,
}

/// Whether a grid of patches is an image or a video, and how much time a video's temporal
/// patch spans (its rotary time positions in Qwen2.5-VL depend on it).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MediaKind {
    /// A still image (one temporal patch of equal frames).
    Image,
    /// A video.
    Video {
        /// Seconds one temporal patch spans: `temporal_patch_size / fps`
        /// (`Qwen2_5_VLProcessor`'s `second_per_grid_ts`).
        seconds_per_grid: f64,
    },
}

/// One image or video to process. A video is its frames, already decoded and sampled by the
/// caller (all of one size), and the rate they were sampled at.
#[derive(Clone, Copy, Debug)]
pub enum VisualInput<'a> {
    /// A still image.
    Image(&'a DynamicImage),
    /// A video's sampled frames.
    Video {
        /// The frames in time order; an odd count is padded with the last frame.
        frames: &'a [DynamicImage],
        /// Sampled frames per second.
        frames_per_second: f64,
    },
}

impl VisualPatches {
    /// Patches over all images and videos.
    pub fn rows(&self) -> usize {
        self.pixel_values.len() / self.features.max(1)
    }

    /// Adds `other`'s items after these (items processed with different settings, such as a
    /// checkpoint's image and video processors, share one batch).
    pub fn append(&mut self, other: VisualPatches) -> Result<(), LocalJudgeError> {
        if !self.grids.is_empty() && other.features != self.features {
            return Err(LocalJudgeError::Input {
                message: format!(
                    "patches of {} values cannot join patches of {}",
                    other.features, self.features
                ),
            });
        }
        self.features = other.features;
        self.pixel_values.extend(other.pixel_values);
        self.grids.extend(other.grids);
        self.kinds.extend(other.kinds);
        Ok(())
    }

    /// Each item's grid with its kind, what the model places in a prompt.
    pub fn media(&self) -> Vec<MediaGrid> {
        self.grids
            .iter()
            .zip(&self.kinds)
            .map(|(grid, kind)| MediaGrid {
                grid: *grid,
                kind: *kind,
            })
            .collect()
    }
}

/// One processed image or video: its grid in patches `[t, h, w]` and its kind.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MediaGrid {
    /// Temporal patches, rows and columns of patches.
    pub grid: [usize; 3],
    /// Image or video.
    pub kind: MediaKind,
}

/// The size `transformers`' `smart_resize` gives an image of `height` × `width`: both sides
/// multiples of `factor`, the area within `min_pixels..=max_pixels` where possible, the aspect
/// ratio nearly kept. Python's `round` rounds halves to even, and so does this.
pub fn smart_resize(
    height: u32,
    width: u32,
    factor: u32,
    min_pixels: u64,
    max_pixels: u64,
) -> Result<(u32, u32), String> {
    if height == 0 || width == 0 {
        return Err(format!("an image of {width} × {height} pixels has no area"));
    }
    let (height_f, width_f, factor_f) = (f64::from(height), f64::from(width), f64::from(factor));
    let ratio = height_f.max(width_f) / height_f.min(width_f);
    if ratio > MAX_ASPECT_RATIO {
        return Err(format!(
            "the aspect ratio of {width} × {height} pixels is {ratio:.1}; at most \
             {MAX_ASPECT_RATIO} is accepted"
        ));
    }
    let mut resized_height = (height_f / factor_f).round_ties_even() * factor_f;
    let mut resized_width = (width_f / factor_f).round_ties_even() * factor_f;
    if resized_height * resized_width > max_pixels as f64 {
        let beta = (height_f * width_f / max_pixels as f64).sqrt();
        resized_height = factor_f.max((height_f / beta / factor_f).floor() * factor_f);
        resized_width = factor_f.max((width_f / beta / factor_f).floor() * factor_f);
    } else if resized_height * resized_width < min_pixels as f64 {
        let beta = (min_pixels as f64 / (height_f * width_f)).sqrt();
        resized_height = (height_f * beta / factor_f).ceil() * factor_f;
        resized_width = (width_f * beta / factor_f).ceil() * factor_f;
    }
    // Whole multiples of `factor`, within u32 since the area is bounded.
    Ok((resized_height as u32, resized_width as u32))
}

/// A positive whole number field, or its default.
fn count_field(json: &Value, name: &'static str, default: u64) -> Result<u64, LocalJudgeError> {
    match field(json, name) {
        None => Ok(default),
        Some(value) => value.as_u64().filter(|number| *number > 0).ok_or_else(|| {
            config_error(
                Path::new(PREPROCESSOR_CONFIG_FILE),
                name,
                format!("expected a positive whole number, found {value}"),
            )
        }),
    }
}

/// A small positive whole number field (sizes in pixels or patches), or its default.
fn size_field(json: &Value, name: &'static str, default: u32) -> Result<u32, LocalJudgeError> {
    let value = count_field(json, name, u64::from(default))?;
    u32::try_from(value)
        .ok()
        .filter(|value| *value <= 4096)
        .ok_or_else(|| {
            config_error(
                Path::new(PREPROCESSOR_CONFIG_FILE),
                name,
                format!("{value} is not a plausible size"),
            )
        })
}

impl Qwen2VlImageProcessor {
    /// Reads the checkpoint folder's `preprocessor_config.json`, which a Qwen2-VL checkpoint
    /// must have.
    pub fn load(folder: &Path) -> Result<Qwen2VlImageProcessor, LocalJudgeError> {
        let json = read_json_file(folder, PREPROCESSOR_CONFIG_FILE)?.ok_or_else(|| {
            config_error(
                &folder.join(PREPROCESSOR_CONFIG_FILE),
                "(file)",
                "a Qwen2-VL checkpoint needs its image processor's settings",
            )
        })?;
        Qwen2VlImageProcessor::from_json(&json)
    }

    /// The settings videos are processed with: `video_preprocessor_config.json` when the
    /// checkpoint has one, else `preprocessor_config.json` (as `transformers` falls back), with
    /// the video processor's own defaults for missing `min_pixels` and `max_pixels`.
    pub fn load_for_video(folder: &Path) -> Result<Qwen2VlImageProcessor, LocalJudgeError> {
        let json = match read_json_file(folder, VIDEO_PREPROCESSOR_CONFIG_FILE)? {
            Some(json) => json,
            None => read_json_file(folder, PREPROCESSOR_CONFIG_FILE)?.ok_or_else(|| {
                config_error(
                    &folder.join(PREPROCESSOR_CONFIG_FILE),
                    "(file)",
                    "a Qwen2-VL checkpoint needs its video processor's settings \
                     (video_preprocessor_config.json or preprocessor_config.json)",
                )
            })?,
        };
        Qwen2VlImageProcessor::from_json_with_defaults(
            &json,
            DEFAULT_VIDEO_MIN_PIXELS,
            DEFAULT_VIDEO_MAX_PIXELS,
        )
    }

    /// The settings in `json`, with `transformers`' defaults for missing fields: `min_pixels`
    /// and `max_pixels` at the top level win over `size.shortest_edge` and `size.longest_edge`,
    /// as in `transformers`.
    pub fn from_json(json: &Value) -> Result<Qwen2VlImageProcessor, LocalJudgeError> {
        Qwen2VlImageProcessor::from_json_with_defaults(json, DEFAULT_MIN_PIXELS, DEFAULT_MAX_PIXELS)
    }

    /// [`Qwen2VlImageProcessor::from_json`] with other defaults for the pixel bounds.
    fn from_json_with_defaults(
        json: &Value,
        default_min_pixels: u64,
        default_max_pixels: u64,
    ) -> Result<Qwen2VlImageProcessor, LocalJudgeError> {
        let size = field(json, "size").cloned().unwrap_or(Value::Null);
        let min_pixels = count_field(
            json,
            "min_pixels",
            count_field(&size, "shortest_edge", default_min_pixels)?,
        )?;
        let max_pixels = count_field(
            json,
            "max_pixels",
            count_field(&size, "longest_edge", default_max_pixels)?,
        )?;
        if min_pixels > max_pixels {
            return Err(config_error(
                Path::new(PREPROCESSOR_CONFIG_FILE),
                "min_pixels",
                format!("{min_pixels} is more than max_pixels ({max_pixels})"),
            ));
        }
        let resample = count_field(json, "resample", 3)?;
        let filter = Filter::from_pil_code(resample).ok_or_else(|| {
            config_error(
                Path::new(PREPROCESSOR_CONFIG_FILE),
                "resample",
                format!("PIL filter {resample} is not supported (1 to 5 are)"),
            )
        })?;
        let rescale_factor = match field(json, "rescale_factor") {
            None => 1.0 / 255.0,
            Some(value) => value
                .as_f64()
                .filter(|factor| *factor > 0.0)
                .ok_or_else(|| {
                    config_error(
                        Path::new(PREPROCESSOR_CONFIG_FILE),
                        "rescale_factor",
                        format!("expected a positive number, found {value}"),
                    )
                })?,
        };
        let std = channel_values(json, "image_std", CLIP_STD)?;
        if std.contains(&0.0) {
            return Err(config_error(
                Path::new(PREPROCESSOR_CONFIG_FILE),
                "image_std",
                "a standard deviation of 0 divides by zero",
            ));
        }
        Ok(Qwen2VlImageProcessor {
            min_pixels,
            max_pixels,
            patch_size: size_field(json, "patch_size", 14)?,
            merge_size: size_field(json, "merge_size", 2)?,
            temporal_patch_size: size_field(json, "temporal_patch_size", 2)?,
            do_resize: bool_field(json, "do_resize", true)?,
            filter,
            do_rescale: bool_field(json, "do_rescale", true)?,
            rescale_factor,
            do_normalize: bool_field(json, "do_normalize", true)?,
            mean: channel_values(json, "image_mean", CLIP_MEAN)?,
            std,
        })
    }

    /// Both sides of a resized image are multiples of this.
    pub fn factor(&self) -> u32 {
        self.patch_size * self.merge_size
    }

    /// The size (height, width) an image of `height` × `width` is resized to.
    pub fn target_size(&self, height: u32, width: u32) -> Result<(u32, u32), LocalJudgeError> {
        smart_resize(
            height,
            width,
            self.factor(),
            self.min_pixels,
            self.max_pixels,
        )
        .map_err(|message| LocalJudgeError::Input { message })
    }

    /// The patches of `images`, stacked, with each image's grid.
    pub fn preprocess(&self, images: &[DynamicImage]) -> Result<VisualPatches, LocalJudgeError> {
        let media: Vec<VisualInput<'_>> = images.iter().map(VisualInput::Image).collect();
        self.preprocess_media(&media)
    }

    /// The patches of `media` (images and videos in the order the prompts hold them), stacked,
    /// with each item's grid and kind.
    pub fn preprocess_media(
        &self,
        media: &[VisualInput<'_>],
    ) -> Result<VisualPatches, LocalJudgeError> {
        let patch = self.patch_size as usize;
        let features = 3 * self.temporal_patch_size as usize * patch * patch;
        let mut patches = VisualPatches {
            pixel_values: Vec::new(),
            features,
            grids: Vec::with_capacity(media.len()),
            kinds: Vec::with_capacity(media.len()),
        };
        for (index, item) in media.iter().enumerate() {
            let (frames, kind) = match item {
                VisualInput::Image(image) => (std::slice::from_ref(*image), MediaKind::Image),
                VisualInput::Video {
                    frames,
                    frames_per_second,
                } => {
                    if frames.is_empty() {
                        return Err(LocalJudgeError::Input {
                            message: format!("video {index} has no frames"),
                        });
                    }
                    if !(frames_per_second.is_finite() && *frames_per_second > 0.0) {
                        return Err(LocalJudgeError::Input {
                            message: format!(
                                "video {index}: {frames_per_second} frames per second is not a \
                                 positive number"
                            ),
                        });
                    }
                    let seconds_per_grid = f64::from(self.temporal_patch_size) / frames_per_second;
                    (*frames, MediaKind::Video { seconds_per_grid })
                }
            };
            let grid = self.clip_patches(frames, &mut patches.pixel_values)?;
            patches.grids.push(grid);
            patches.kinds.push(kind);
        }
        Ok(patches)
    }

    /// Appends the patches of one clip (a still image is a clip of one frame) to `output` and
    /// returns its grid, as the slow processor's `_preprocess` does: every frame resized to the
    /// size `smart_resize` gives the first one; the frames padded to a multiple of
    /// `temporal_patch_size` by repeating the last (so a still image fills every frame of its
    /// one temporal patch); patches ordered temporal patch by temporal patch, then merge window
    /// by merge window (row-major), then the window's patches (row-major), each patch's values
    /// channel, then frame, then row, then column.
    fn clip_patches(
        &self,
        frames: &[DynamicImage],
        output: &mut Vec<f32>,
    ) -> Result<[usize; 3], LocalJudgeError> {
        let patch = self.patch_size as usize;
        let merge = self.merge_size as usize;
        let temporal = self.temporal_patch_size as usize;
        let first = frames.first().ok_or_else(|| LocalJudgeError::Input {
            message: "a clip without frames".to_owned(),
        })?;
        let (width, height) = (first.width(), first.height());
        let (target_height, target_width) = if self.do_resize {
            self.target_size(height, width)?
        } else {
            (height, width)
        };
        let factor = self.factor();
        if target_height % factor != 0 || target_width % factor != 0 {
            return Err(LocalJudgeError::Input {
                message: format!(
                    "an image of {width} × {height} pixels is not on the {factor}-pixel grid \
                     and the processor does not resize"
                ),
            });
        }
        let planes: Vec<Vec<f32>> = frames
            .iter()
            .map(|frame| {
                let rgb = frame.to_rgb8();
                if !self.do_resize && rgb.dimensions() != (width, height) {
                    return Err(LocalJudgeError::Input {
                        message: format!(
                            "a video's frames differ in size ({} × {} after {width} × {height}) \
                             and the processor does not resize",
                            rgb.width(),
                            rgb.height()
                        ),
                    });
                }
                let resized = pil_resample::resize(&rgb, target_width, target_height, self.filter);
                Ok(self.normalised_planes(&resized))
            })
            .collect::<Result<_, _>>()?;
        let groups = planes.len().div_ceil(temporal);
        let (grid_height, grid_width) = (
            target_height as usize / patch,
            target_width as usize / patch,
        );
        let row_length = target_width as usize;
        let plane_size = row_length * target_height as usize;
        output.reserve(groups * grid_height * grid_width * 3 * temporal * patch * patch);
        for group in 0..groups {
            for block_row in 0..grid_height / merge {
                for block_column in 0..grid_width / merge {
                    for merged_row in 0..merge {
                        for merged_column in 0..merge {
                            let top = (block_row * merge + merged_row) * patch;
                            let left = (block_column * merge + merged_column) * patch;
                            for channel in 0..3 {
                                for frame in 0..temporal {
                                    // Past the last frame, the last frame again.
                                    let plane =
                                        &planes[(group * temporal + frame).min(planes.len() - 1)];
                                    for row in 0..patch {
                                        let start =
                                            channel * plane_size + (top + row) * row_length + left;
                                        output.extend_from_slice(&plane[start..start + patch]);
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        Ok([groups, grid_height, grid_width])
    }

    /// The image's values, channels first, rescaled and normalised with numpy's arithmetic:
    /// the rescale in f64 then rounded to f32, the normalisation in f32.
    fn normalised_planes(&self, image: &image::RgbImage) -> Vec<f32> {
        let (width, height) = image.dimensions();
        let plane_size = width as usize * height as usize;
        let mut planes = vec![0.0_f32; 3 * plane_size];
        for (index, pixel) in image.pixels().enumerate() {
            for channel in 0..3 {
                let mut value = f64::from(pixel.0[channel]);
                if self.do_rescale {
                    value *= self.rescale_factor;
                }
                let mut value = value as f32;
                if self.do_normalize {
                    value = (value - self.mean[channel]) / self.std[channel];
                }
                planes[channel * plane_size + index] = value;
            }
        }
        planes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smart_resize_matches_transformers_including_its_rounding_of_halves() {
        // Values from transformers 4.57.3's `smart_resize`.
        let default = |height, width| smart_resize(height, width, 28, 3136, 1_003_520);
        // 70 / 28 = 2.5 and 126 / 28 = 4.5 round to the even 2 and 4 (Python's `round`).
        assert_eq!(default(70, 126), Ok((56, 112)));
        assert_eq!(default(10, 10), Ok((56, 56)));
        assert_eq!(default(3000, 4000), Ok((840, 1148)));
        assert_eq!(smart_resize(98, 42, 28, 3136, 2000 * 28), Ok((112, 56)));
        let error = default(10, 2100).expect_err("too wide");
        assert!(error.contains("aspect ratio"), "{error}");
    }

    #[test]
    fn configuration_fields_are_read_and_checked() {
        let processor = Qwen2VlImageProcessor::from_json(&serde_json::json!({
            "size": {"shortest_edge": 100, "longest_edge": 5000},
            "max_pixels": 4000,
            "resample": 2
        }))
        .expect("valid");
        assert_eq!((processor.min_pixels, processor.max_pixels), (100, 4000));
        assert_eq!(processor.filter, Filter::Bilinear);
        assert_eq!(processor.factor(), 28);
        for (json, field_name) in [
            (serde_json::json!({"resample": 0}), "resample"),
            (serde_json::json!({"patch_size": -1}), "patch_size"),
            (
                serde_json::json!({"min_pixels": 10, "max_pixels": 5}),
                "min_pixels",
            ),
            (serde_json::json!({"image_std": [1, 0, 1]}), "image_std"),
        ] {
            let error = Qwen2VlImageProcessor::from_json(&json).expect_err("refused");
            assert!(error.to_string().contains(field_name), "{error}");
        }
    }
}
