//! (being written) clip image-text scorer.

use super::{ImageTextModel, ModelSource};
use crate::error::LocalJudgeError;

/// Builds the model.
pub fn load(_source: ModelSource<'_>) -> Result<Box<dyn ImageTextModel>, LocalJudgeError> {
    Err(LocalJudgeError::Input {
        message: "clip is not available yet".to_owned(),
    })
}
