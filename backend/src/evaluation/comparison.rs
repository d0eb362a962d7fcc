//! Paired comparisons of two stored runs (`omnireward compare`, `GET /compare`): both runs'
//! per-item judgements read and compared on the items they share; and the ablation audit of an
//! ablated run, compared with its base run (`GET /runs/{id}`, the model page).

use omnireward_shared::BootstrapConfig;
use omnireward_shared::comparison::{ComparedRun, RunComparison, compare_judgements};
use omnireward_shared::wire::AblationAudit;

use crate::judges::ablation;
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

/// The ablation audit of `run`: `None` unless its identity records ablations; else its base run
/// (found by identity, one indexed lookup) and the paired comparison of this run with it, when
/// both have judged shared samples.
pub async fn ablation_audit(
    storage: &Storage,
    run: &RunRecord,
    bootstrap: BootstrapConfig,
) -> Result<Option<AblationAudit>, StorageError> {
    let Some(identity) = run.configuration.get("identity") else {
        return Ok(None);
    };
    let Some(base_identity) = ablation::base_identity(identity) else {
        return Ok(None);
    };
    let ablations = ablation::recorded(identity);
    let base_run = match run.benchmark {
        Some(benchmark) => {
            storage
                .evaluated_run(run.model, benchmark, &base_identity)
                .await?
        }
        None => None,
    };
    let comparison = match base_run {
        Some(base) => match compare_runs(storage, run.id, base, bootstrap).await {
            Ok(comparison) => Some(comparison),
            // A base run not yet judged, or judged on other tasks, has nothing to pair with.
            Err(ComparisonError::NoJudgements(_) | ComparisonError::NothingShared { .. }) => None,
            Err(ComparisonError::Storage(error)) => return Err(error),
            Err(ComparisonError::Internal(message)) => {
                tracing::error!(run = %run.id, %message, "ablation comparison failed");
                None
            }
        },
        None => None,
    };
    Ok(Some(AblationAudit {
        ablations,
        base_run: base_run.map(|run| run.0),
        comparison,
    }))
}
