//! (being written) deberta_v2 sequence classification.

use super::{ModelSource, SequenceRewardModel};
use crate::error::LocalJudgeError;

/// Builds the model.
pub fn load(_source: ModelSource<'_>) -> Result<Box<dyn SequenceRewardModel>, LocalJudgeError> {
    Err(LocalJudgeError::Input {
        message: "deberta_v2 is not available yet".to_owned(),
    })
}
