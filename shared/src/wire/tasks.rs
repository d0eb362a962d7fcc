//! `GET /tasks`: the nine tasks with their modalities and the served benchmark's sample counts.

use serde::{Deserialize, Serialize};

use crate::{BenchmarkIdentity, Modality, Task};

/// The document of `GET /tasks`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TasksDocument {
    /// The benchmark the counts are of.
    pub benchmark: BenchmarkIdentity,
    /// All nine tasks in the paper's column order.
    pub tasks: Vec<TaskDocument>,
}

/// One task.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskDocument {
    /// The task's key.
    pub key: Task,
    /// The paper's short name (`T2T`, …).
    pub short_name: String,
    /// The modality it is averaged under.
    pub modality: Modality,
    /// What the prompt holds.
    pub input_modalities: Vec<Modality>,
    /// What the responses are.
    pub response_modality: Modality,
    /// Samples evaluated per setting (w/o Ties leaves out the samples labelled tie).
    pub samples: SampleCounts,
}

/// Samples of a task per setting.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SampleCounts {
    /// Every sample.
    pub with_ties: usize,
    /// The samples not labelled tie.
    pub without_ties: usize,
}
