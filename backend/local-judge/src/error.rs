//! The one error type of local judges: loading a checkpoint and scoring with it.

use std::path::PathBuf;

use crate::checkpoint::CheckpointError;

/// Why a local checkpoint could not be loaded or could not score.
#[derive(Debug, thiserror::Error)]
pub enum LocalJudgeError {
    /// The folder failed the safety and consistency checks.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// `config.json` lacks a field the architecture needs, or a field has a wrong value.
    #[error("{file}: field `{field}`: {message}")]
    Config {
        /// The config file (or preprocessor config).
        file: PathBuf,
        /// The field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The tokenizer file could not be read or used.
    #[error("{file}: tokenizer: {message}")]
    Tokenizer {
        /// The tokenizer file.
        file: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The chat template failed to parse or render.
    #[error("chat template: {message}")]
    ChatTemplate {
        /// What went wrong, from minijinja.
        message: String,
    },
    /// The weights do not fit the architecture (a missing tensor, a wrong shape), or candle failed.
    #[error("{context}: {source}")]
    Model {
        /// What was being done: "loading weights from …", "scoring a batch of 8".
        context: String,
        /// The cause.
        source: candle_core::Error,
    },
    /// The device string is not `cpu`, `cuda`, `cuda:N` or `auto`, or the device is unavailable.
    #[error("device {given:?}: {message}")]
    Device {
        /// The device as given.
        given: String,
        /// What is wrong.
        message: String,
    },
    /// An input cannot be scored by this model (an image given to a text model, an empty text).
    #[error("input: {message}")]
    Input {
        /// What is wrong.
        message: String,
    },
    /// An image could not be decoded.
    #[error("image {name}: {message}")]
    Image {
        /// Which image (a file name or "response 1").
        name: String,
        /// What went wrong.
        message: String,
    },
}

impl LocalJudgeError {
    /// Wraps a candle error with what was being done.
    pub fn model(context: impl Into<String>) -> impl FnOnce(candle_core::Error) -> LocalJudgeError {
        let context = context.into();
        move |source| LocalJudgeError::Model { context, source }
    }
}
