//! (being written) sentence-embedding relevance baseline.

use super::{ModelSource, TextEmbeddingModel};
use crate::error::LocalJudgeError;

/// Builds the model.
pub fn load(_source: ModelSource<'_>) -> Result<Box<dyn TextEmbeddingModel>, LocalJudgeError> {
    Err(LocalJudgeError::Input {
        message: "minilm is not available yet".to_owned(),
    })
}
