//! Paired comparisons of two stored runs (`omnireward compare`, `GET /compare`): both runs'
//! per-item judgements read and compared on the items they share.

use omnireward_shared::BootstrapConfig;
use omnireward_shared::comparison::{ComparedRun, RunComparison, compare_judgements};

use crate::storage::{Provenance, RunId, RunRecord, Storage, StorageError};

/// Why two runs cannot be compared.
#[derive(Debug, thiserror::Error)]
pub enum ComparisonError {
    /// A run has no per-item judgements (the paper's rows are reported numbers only).
    #[error("run {0} has no per-item judgements to compare (paper-reported numbers are not)")]
    NoJudgements(i64),
    /// The two runs judged no sample in common (different benchmarks, or disjoint tasks).
    #[error("runs {first} and {second} share no judged sample")]
    NothingShared {
        /// The first run.
        first: i64,
        /// The second run.
        second: i64,
    },
    /// The database failed, or a run does not exist (`StorageError::RunNotFound`).
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The blocking task that computes the comparison failed (a bug).
    #[error("the comparison task failed: {0}")]
    Internal(String),
}

/// Compares `first` with `second` (differences are first minus second).
pub async fn compare_runs(
    storage: &Storage,
    first: RunId,
    second: RunId,
    bootstrap: BootstrapConfig,
) -> Result<RunComparison, ComparisonError> {
    let first_run = storage.run(first).await?;
    let second_run = storage.run(second).await?;
    let first_judgements = judgements(storage, &first_run).await?;
    let second_judgements = judgements(storage, &second_run).await?;
    // Both runs are compared on up to thousands of items with 1,000 resamples: a few tens of
    // milliseconds, kept off the async workers all the same.
    let settings = tokio::task::spawn_blocking(move || {
        compare_judgements(&first_judgements, &second_judgements, bootstrap)
    })
    .await
    .map_err(|error| ComparisonError::Internal(error.to_string()))?;
    if settings.is_empty() {
        return Err(ComparisonError::NothingShared {
            first: first.0,
            second: second.0,
        });
    }
    Ok(RunComparison {
        first: compared(&first_run),
        second: compared(&second_run),
        bootstrap,
        settings,
    })
}

async fn judgements(
    storage: &Storage,
    run: &RunRecord,
) -> Result<Vec<omnireward_shared::Judgement>, ComparisonError> {
    if run.provenance == Provenance::PaperReported {
        return Err(ComparisonError::NoJudgements(run.id.0));
    }
    let judgements = storage.judgements(run.id).await?;
    if judgements.is_empty() {
        return Err(ComparisonError::NoJudgements(run.id.0));
    }
    Ok(judgements)
}

fn compared(run: &RunRecord) -> ComparedRun {
    ComparedRun {
        run: run.id.0,
        model: run.model_name.clone(),
    }
}
