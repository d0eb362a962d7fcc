//! (being written) qwen2 sequence classification.

use super::{ModelSource, SequenceRewardModel};
use crate::error::LocalJudgeError;

/// Builds the model.
pub fn load(_source: ModelSource<'_>) -> Result<Box<dyn SequenceRewardModel>, LocalJudgeError> {
    Err(LocalJudgeError::Input {
        message: "qwen2 is not available yet".to_owned(),
    })
}
