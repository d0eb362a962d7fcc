//! Errors and row-level problems of the benchmark loaders.
//!
//! Every message names the file, and for row problems the row index, row id and field, so a
//! user can find the bad value in a 3,725-row release.

use std::fmt;
use std::path::PathBuf;

/// One problem with one row of a data file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// The data file.
    pub file: PathBuf,
    /// Zero-based row index in the file.
    pub row: usize,
    /// The row's `id`, when it could be read.
    pub row_id: Option<String>,
    /// The column or JSON field at fault.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}: row {}", self.file.display(), self.row)?;
        if let Some(id) = &self.row_id {
            write!(formatter, " (id {id})")?;
        }
        write!(formatter, ", field `{}`: {}", self.field, self.message)
    }
}

/// Why a benchmark could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A file or folder could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The folder holds neither layout.
    #[error(
        "{root}: no Omni-RewardBench data found: expected Hugging Face parquet files \
         (<config>/test*.parquet or data/<config>/test-*.parquet) or the authors' \
         <task>_preferences.json files"
    )]
    NoBenchmark {
        /// The folder.
        root: PathBuf,
    },
    /// A parquet file could not be opened or decoded (truncated, corrupt, not parquet).
    #[error("{file}: cannot read parquet: {message}")]
    Parquet {
        /// The file.
        file: PathBuf,
        /// The decoder's message.
        message: String,
    },
    /// A required column is absent.
    #[error("{file}: missing column `{column}` (required for task {task})")]
    MissingColumn {
        /// The file.
        file: PathBuf,
        /// The column.
        column: String,
        /// The task whose schema needs it.
        task: String,
    },
    /// A column has a type the loader cannot read.
    #[error("{file}: column `{column}` has type {found}, expected {expected}")]
    ColumnType {
        /// The file.
        file: PathBuf,
        /// The column.
        column: String,
        /// What the loader accepts.
        expected: String,
        /// What the file holds.
        found: String,
    },
    /// A JSON file is not valid JSON or not of the expected shape.
    #[error("{file}: {message}")]
    Json {
        /// The file.
        file: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A row is invalid (and `--skip-invalid` was not given).
    #[error("{0} (use --skip-invalid to skip such rows and report them)")]
    InvalidRow(Problem),
    /// Two rows of one task share an id.
    #[error("{file}: duplicate id `{id}` in task {task}")]
    DuplicateId {
        /// The file of the second occurrence.
        file: PathBuf,
        /// The task.
        task: String,
        /// The id.
        id: String,
    },
}
