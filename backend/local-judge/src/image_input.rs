//! (being written) image preprocessing for image-text models.

use std::path::Path;

use candle_core::{Device, Tensor};
use image::DynamicImage;

use crate::architecture::Architecture;
use crate::error::LocalJudgeError;

/// Resizes, crops and normalises images as the checkpoint's `preprocessor_config.json` says.
#[derive(Clone, Debug)]
pub struct ImagePreprocessor {}

impl ImagePreprocessor {
    /// Reads `preprocessor_config.json`, with the family's defaults for missing fields.
    pub fn from_folder(
        _folder: &Path,
        _architecture: Architecture,
    ) -> Result<ImagePreprocessor, LocalJudgeError> {
        Err(LocalJudgeError::Input {
            message: "image preprocessing is not available yet".to_owned(),
        })
    }

    /// Pixels `[images, 3, size, size]` ready for the vision tower.
    pub fn pixels(
        &self,
        _images: &[DynamicImage],
        _device: &Device,
    ) -> Result<Tensor, LocalJudgeError> {
        Err(LocalJudgeError::Input {
            message: "image preprocessing is not available yet".to_owned(),
        })
    }
}
