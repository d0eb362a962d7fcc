//! The image inputs of MiniCPM-V 2.6 and MiniCPM-o 2.6 (Omni-RewardModel-BT's backbone), equal
//! to the reference `MiniCPMVImageProcessor` (`image_processing_minicpmv.py`, Apache-2.0, shipped
//! with the checkpoints as remote code that we never run).
//!
//! An image becomes a *source* picture (the whole image resized near the scale resolution, 448
//! pixels a side for the released models) and, when it is larger than one such square, a grid
//! of *slices*: the grid has m − 1, m or m + 1 tiles (m = the image's area in squares, at most
//! `max_slice_nums`), shaped to the image's aspect ratio (least error in log ratio, first found
//! wins); the image is resized so that each tile is near a square, then cut. Every picture is
//! resized with Pillow's bicubic filter (through [`crate::pil_resample`], pixel for pixel),
//! scaled to [0, 1] and normalised in f32, and laid out as the reference's `reshape_by_patch`
//! does: `[3, patch, patches × patch]`, patches in row-major order. The prompt gets one
//! placeholder per image: `<image>` + `image_feature_size` `<unk>` + `</image>` (after
//! `<image_id>N</image_id>` when image ids are on), then the slices' rows, each
//! `<slice>` + `<unk>`… + `</slice>` per tile, rows joined by newlines.
//!
//! With `slice_mode` off the image is neither resized nor sliced (as the reference does).
//!
//! Python's arithmetic is kept where it decides sizes: `round` rounds halves to even, `int`
//! truncates, and the refine step divides in floating point.

use image::{DynamicImage, RgbImage};
use serde_json::Value;

use crate::error::LocalJudgeError;
use crate::pil_resample::{self, Filter};

/// The processor's settings (`preprocessor_config.json`; defaults are the reference's).
#[derive(Clone, Debug, PartialEq)]
pub struct MiniCpmVImageProcessor {
    /// Most tiles an image is cut into.
    pub max_slice_nums: usize,
    /// Side, in pixels, of the square a picture is sized near.
    pub scale_resolution: u32,
    /// Side of a square patch, in pixels.
    pub patch_size: u32,
    /// Query tokens the resampler gives each picture (placeholders per picture).
    pub image_feature_size: usize,
    /// Whether large images are sliced at all.
    pub slice_mode: bool,
    /// Whether each image's placeholder starts with `<image_id>N</image_id>`.
    pub use_image_id: bool,
    /// Channel means (on [0, 1] values).
    pub mean: [f32; 3],
    /// Channel standard deviations.
    pub std: [f32; 3],
}

impl Default for MiniCpmVImageProcessor {
    fn default() -> MiniCpmVImageProcessor {
        MiniCpmVImageProcessor {
            max_slice_nums: 9,
            scale_resolution: 448,
            patch_size: 14,
            image_feature_size: 64,
            slice_mode: true,
            use_image_id: true,
            mean: [0.5; 3],
            std: [0.5; 3],
        }
    }
}

/// One picture of an image (its source or a slice), ready for the vision encoder.
#[derive(Clone, Debug, PartialEq)]
pub struct ProcessedPicture {
    /// `[3, patch, patches × patch]`, row-major.
    pub pixel_values: Vec<f32>,
    /// Patch rows and columns (the reference's `tgt_sizes` row).
    pub target_size: [usize; 2],
}

/// An image's pictures: the source first, then the slices row by row.
#[derive(Clone, Debug, PartialEq)]
pub struct ProcessedImage {
    /// Source, then slices.
    pub pictures: Vec<ProcessedPicture>,
    /// The slice grid (columns, rows), when the image was sliced.
    pub grid: Option<[usize; 2]>,
}

/// Python's `round` of a non-negative value: halves go to the even neighbour.
fn round_half_even(value: f64) -> f64 {
    let floor = value.floor();
    let fraction = value - floor;
    if fraction > 0.5 || (fraction == 0.5 && floor % 2.0 != 0.0) {
        floor + 1.0
    } else {
        floor
    }
}

impl MiniCpmVImageProcessor {
    /// Settings from `preprocessor_config.json`'s JSON (missing fields take the defaults).
    pub fn from_json(json: &Value) -> Result<MiniCpmVImageProcessor, LocalJudgeError> {
        let defaults = MiniCpmVImageProcessor::default();
        let bad = |field: &str, value: &Value| LocalJudgeError::Input {
            message: format!("preprocessor_config.json: {field} = {value} is not usable"),
        };
        let whole = |field: &str, default: usize| -> Result<usize, LocalJudgeError> {
            match json.get(field) {
                None | Some(Value::Null) => Ok(default),
                Some(value) => value
                    .as_u64()
                    .filter(|number| *number > 0 && *number <= 1 << 16)
                    .map(|number| number as usize)
                    .ok_or_else(|| bad(field, value)),
            }
        };
        let flag = |field: &str, default: bool| -> Result<bool, LocalJudgeError> {
            match json.get(field) {
                None | Some(Value::Null) => Ok(default),
                Some(value) => value.as_bool().ok_or_else(|| bad(field, value)),
            }
        };
        let triple = |field: &str, default: [f32; 3]| -> Result<[f32; 3], LocalJudgeError> {
            match json.get(field) {
                None | Some(Value::Null) => Ok(default),
                Some(value) => {
                    let numbers: Option<Vec<f32>> = value
                        .as_array()
                        .map(|items| {
                            items
                                .iter()
                                .map(|item| item.as_f64().map(|n| n as f32))
                                .collect()
                        })
                        .unwrap_or(None);
                    match numbers.as_deref() {
                        Some([a, b, c]) => Ok([*a, *b, *c]),
                        _ => Err(bad(field, value)),
                    }
                }
            }
        };
        let processor = MiniCpmVImageProcessor {
            max_slice_nums: whole("max_slice_nums", defaults.max_slice_nums)?,
            scale_resolution: whole("scale_resolution", defaults.scale_resolution as usize)? as u32,
            patch_size: whole("patch_size", defaults.patch_size as usize)? as u32,
            image_feature_size: whole("image_feature_size", defaults.image_feature_size)?,
            slice_mode: flag("slice_mode", defaults.slice_mode)?,
            use_image_id: flag("use_image_id", defaults.use_image_id)?,
            mean: triple("norm_mean", defaults.mean)?,
            std: triple("norm_std", defaults.std)?,
        };
        if processor.std.contains(&0.0) {
            return Err(bad("norm_std", &json["norm_std"]));
        }
        Ok(processor)
    }

    /// The reference's `ensure_divide`: the nearest multiple of `patch`, at least `patch`.
    fn ensure_divide(length: f64, patch: f64) -> f64 {
        (round_half_even(length / patch) * patch).max(patch)
    }

    /// The reference's `find_best_resize`: near the scale resolution's area (when larger, or
    /// always with `allow_upscale`), keeping the aspect ratio, on the patch grid.
    fn best_resize(&self, width: f64, height: f64, allow_upscale: bool) -> (u32, u32) {
        let scale = f64::from(self.scale_resolution);
        let (mut width, mut height) = (width, height);
        if width * height > scale * scale || allow_upscale {
            let ratio = width / height;
            height = (scale / ratio.sqrt()).trunc();
            width = (height * ratio).trunc();
        }
        let patch = f64::from(self.patch_size);
        (
            Self::ensure_divide(width, patch) as u32,
            Self::ensure_divide(height, patch) as u32,
        )
    }

    /// The slice grid (columns, rows) of an image of this size, or `None` when it is not
    /// sliced.
    pub fn sliced_grid(&self, width: u32, height: u32) -> Option<[usize; 2]> {
        if !self.slice_mode {
            return None;
        }
        let (width, height) = (f64::from(width), f64::from(height));
        let scale = f64::from(self.scale_resolution);
        let log_ratio = (width / height).ln();
        let area_ratio = width * height / (scale * scale);
        let multiple = (area_ratio.ceil() as usize).min(self.max_slice_nums);
        if multiple <= 1 {
            return None;
        }
        let mut best = [1, 1];
        let mut least_error = f64::INFINITY;
        for tiles in [multiple - 1, multiple, multiple + 1] {
            if tiles == 1 || tiles > self.max_slice_nums {
                continue;
            }
            for columns in (1..=tiles).filter(|columns| tiles % columns == 0) {
                let rows = tiles / columns;
                let error = (log_ratio - (columns as f64 / rows as f64).ln()).abs();
                if error < least_error {
                    best = [columns, rows];
                    least_error = error;
                }
            }
        }
        Some(best)
    }

    /// The pictures of one image.
    pub fn process(&self, image: &DynamicImage) -> Result<ProcessedImage, LocalJudgeError> {
        let rgb = image.to_rgb8();
        let (width, height) = rgb.dimensions();
        if width == 0 || height == 0 {
            return Err(LocalJudgeError::Input {
                message: "an image of zero width or height".to_owned(),
            });
        }
        if !self.slice_mode {
            // The reference passes the image through as it is (its patch layout drops the
            // pixels past the last whole patch).
            return Ok(ProcessedImage {
                pictures: vec![self.picture(&rgb)],
                grid: None,
            });
        }
        let grid = self.sliced_grid(width, height);
        let mut pictures = Vec::new();
        match grid {
            None => {
                let (target_width, target_height) =
                    self.best_resize(f64::from(width), f64::from(height), true);
                let source =
                    pil_resample::resize(&rgb, target_width, target_height, Filter::Bicubic);
                pictures.push(self.picture(&source));
            }
            Some([columns, rows]) => {
                let (source_width, source_height) =
                    self.best_resize(f64::from(width), f64::from(height), false);
                let source =
                    pil_resample::resize(&rgb, source_width, source_height, Filter::Bicubic);
                pictures.push(self.picture(&source));
                // The reference's `get_refine_size`: the image rounded to the grid, each tile
                // sized near a square, the tiles put back together.
                let refine_width = Self::ensure_divide(f64::from(width), columns as f64);
                let refine_height = Self::ensure_divide(f64::from(height), rows as f64);
                let (tile_width, tile_height) = self.best_resize(
                    refine_width / columns as f64,
                    refine_height / rows as f64,
                    true,
                );
                let refined = pil_resample::resize(
                    &rgb,
                    tile_width * columns as u32,
                    tile_height * rows as u32,
                    Filter::Bicubic,
                );
                for row in 0..rows as u32 {
                    for column in 0..columns as u32 {
                        let tile = image::imageops::crop_imm(
                            &refined,
                            column * tile_width,
                            row * tile_height,
                            tile_width,
                            tile_height,
                        )
                        .to_image();
                        pictures.push(self.picture(&tile));
                    }
                }
            }
        }
        Ok(ProcessedImage { pictures, grid })
    }

    /// One picture scaled, normalised and laid out patch by patch.
    fn picture(&self, image: &RgbImage) -> ProcessedPicture {
        let (width, height) = image.dimensions();
        let (width, height) = (width as usize, height as usize);
        let patch = self.patch_size as usize;
        let (patch_rows, patch_columns) = (height / patch, width / patch);
        let patches = patch_rows * patch_columns;
        let mut pixel_values = vec![0.0_f32; 3 * patch * patches * patch];
        for (x, y, pixel) in image.enumerate_pixels() {
            let (x, y) = (x as usize, y as usize);
            if y >= patch_rows * patch || x >= patch_columns * patch {
                continue; // not on the patch grid: the reference's unfold drops it too
            }
            let index = (y / patch) * patch_columns + x / patch;
            let (row, column) = (y % patch, x % patch);
            for channel in 0..3 {
                // numpy: uint8 → f32, divided by 255 in f32, then (x − mean) / std in f32.
                let value =
                    (f32::from(pixel.0[channel]) / 255.0 - self.mean[channel]) / self.std[channel];
                pixel_values[((channel * patch + row) * patches + index) * patch + column] = value;
            }
        }
        ProcessedPicture {
            pixel_values,
            target_size: [patch_rows, patch_columns],
        }
    }

    /// The prompt's placeholder for an image of this size, the `index`-th of its prompt.
    pub fn placeholder(&self, width: u32, height: u32, index: usize) -> String {
        let queries = "<unk>".repeat(self.image_feature_size);
        let mut text = String::new();
        if self.use_image_id {
            text.push_str(&format!("<image_id>{index}</image_id>"));
        }
        text.push_str(&format!("<image>{queries}</image>"));
        if let Some([columns, rows]) = self.sliced_grid(width, height) {
            let tile = format!("<slice>{queries}</slice>");
            let lines: Vec<String> = (0..rows).map(|_| tile.repeat(columns)).collect();
            text.push_str(&lines.join("\n"));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_rounding_sends_halves_to_even() {
        assert_eq!(round_half_even(2.5), 2.0);
        assert_eq!(round_half_even(3.5), 4.0);
        assert_eq!(round_half_even(3.49), 3.0);
        assert_eq!(round_half_even(0.5), 0.0);
    }

    #[test]
    fn small_images_are_not_sliced_and_large_ones_follow_their_shape() {
        let processor = MiniCpmVImageProcessor::default();
        assert_eq!(processor.sliced_grid(448, 448), None);
        // Twice the area, twice as wide as tall: two columns.
        assert_eq!(processor.sliced_grid(896, 448), Some([2, 1]));
        // Tall and four squares' worth: one column of four would be too thin; 1 × 4 or 2 × 2,
        // whichever is closer in log ratio to 448 / 1792.
        assert_eq!(processor.sliced_grid(448, 1792), Some([1, 4]));
        let no_slicing = MiniCpmVImageProcessor {
            slice_mode: false,
            ..MiniCpmVImageProcessor::default()
        };
        assert_eq!(no_slicing.sliced_grid(4000, 4000), None);
    }

    #[test]
    fn placeholders_hold_one_query_block_per_picture() {
        let processor = MiniCpmVImageProcessor {
            image_feature_size: 2,
            ..MiniCpmVImageProcessor::default()
        };
        assert_eq!(
            processor.placeholder(896, 448, 0),
            "<image_id>0</image_id><image><unk><unk></image><slice><unk><unk></slice><slice><unk><unk></slice>"
        );
        assert_eq!(
            processor.placeholder(100, 100, 3),
            "<image_id>3</image_id><image><unk><unk></image>"
        );
    }

    #[test]
    fn bad_settings_name_their_field() {
        let error =
            MiniCpmVImageProcessor::from_json(&serde_json::json!({"norm_std": [0.5, 0.0, 0.5]}))
                .expect_err("a zero std");
        assert!(error.to_string().contains("norm_std"), "{error}");
        let error = MiniCpmVImageProcessor::from_json(&serde_json::json!({"patch_size": "14"}))
            .expect_err("a string");
        assert!(error.to_string().contains("patch_size"), "{error}");
    }
}
