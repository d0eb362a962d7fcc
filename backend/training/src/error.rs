//! [`TrainingError`]: the one error type of the training crate's boundary.

use std::path::PathBuf;

use omnireward_local_judge::LocalJudgeError;

/// Everything that can stop data loading, training, checkpointing or plotting.
#[derive(Debug, thiserror::Error)]
pub enum TrainingError {
    /// A preference record is malformed: which file, which record, which field, and why.
    #[error("{}: {location}: field {field:?}: {message}", file.display())]
    Data {
        /// The data file.
        file: PathBuf,
        /// `line N` (JSON Lines) or `record N` (JSON arrays), counted from 1.
        location: String,
        /// The field (or mapped column) at fault.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", file.display())]
    Io {
        /// The file or folder.
        file: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// An invalid setting (hyper-parameters, dataset description, model choice).
    #[error("{message}")]
    Config {
        /// What is wrong and how to fix it.
        message: String,
    },
    /// Building, loading or running the model failed (boxed: the judge's errors are large, and
    /// this type travels through every `Result` of the crate).
    #[error(transparent)]
    Model(Box<LocalJudgeError>),
    /// A tensor operation failed.
    #[error("{context}: {source}")]
    Tensor {
        /// What was being done.
        context: String,
        /// The cause.
        source: Box<candle_core::Error>,
    },
    /// A checkpoint to resume from is unusable.
    #[error("cannot resume from {}: {message}", folder.display())]
    Resume {
        /// The checkpoint folder.
        folder: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The loss became NaN or infinite.
    #[error("the loss is {value} at step {step}; lower the learning rate or check the data")]
    NonFiniteLoss {
        /// The optimizer step (from 1).
        step: usize,
        /// The loss.
        value: f32,
    },
    /// Drawing the training curve failed.
    #[error("drawing the training curve: {message}")]
    Curve {
        /// The cause.
        message: String,
    },
}

impl From<LocalJudgeError> for TrainingError {
    fn from(error: LocalJudgeError) -> Self {
        TrainingError::Model(Box::new(error))
    }
}

impl TrainingError {
    /// Wraps a candle error with what was being done, for `map_err`.
    pub fn tensor(context: impl Into<String>) -> impl FnOnce(candle_core::Error) -> TrainingError {
        let context = context.into();
        move |source| TrainingError::Tensor {
            context,
            source: Box::new(source),
        }
    }

    /// Wraps an I/O error with its file, for `map_err`.
    pub fn io(file: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> TrainingError {
        let file = file.into();
        move |source| TrainingError::Io { file, source }
    }
}
