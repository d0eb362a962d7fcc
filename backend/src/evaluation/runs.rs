//! A run's life around its judge: finding the run to resume (same judge and configuration on
//! the same benchmark) or creating it, and finishing it with its scorecard.

use omnireward_shared::scorecard::ScalarTiePolicy;
use omnireward_shared::{BootstrapConfig, Scorecard};
use serde_json::{Value, json};

use super::identity::RunIdentity;
use crate::data::Benchmark;
use crate::storage::{
    BenchmarkId, NewModel, NewRun, Provenance, RunId, RunStatus, Storage, StorageError,
};

/// A run ready to take judgements.
#[derive(Clone, Copy, Debug)]
pub struct OpenedRun {
    /// Its id.
    pub id: RunId,
    /// Whether it existed before (this session resumes it).
    pub resumed: bool,
}

/// Records `benchmark` and its samples (idempotent on the content hash) and returns its id.
pub async fn record_benchmark(
    storage: &Storage,
    benchmark: &Benchmark,
) -> Result<BenchmarkId, StorageError> {
    let id = storage
        .upsert_benchmark(
            &benchmark.identity,
            &benchmark.root.to_string_lossy(),
            benchmark.samples.len() as u64,
        )
        .await?;
    storage.store_samples(id, &benchmark.samples).await?;
    Ok(id)
}

/// Finds the evaluated run of `model` on `benchmark` whose recorded identity equals `identity`
/// (one indexed lookup), or creates one. The run's configuration is
/// `{"identity": …, "details": …}`: the identity decides what counts as the same run, the
/// details record what may change between sessions (concurrency, prices, code version).
pub async fn open_run(
    storage: &Storage,
    model: &NewModel,
    benchmark: &Benchmark,
    identity: &RunIdentity,
    details: Value,
) -> Result<OpenedRun, StorageError> {
    let benchmark_id = record_benchmark(storage, benchmark).await?;
    let model_id = storage.upsert_model(model).await?;
    let identity = identity.to_value();
    if let Some(run) = storage
        .evaluated_run(model_id, benchmark_id, &identity)
        .await?
    {
        storage.set_run_status(run, RunStatus::Running).await?;
        return Ok(OpenedRun {
            id: run,
            resumed: true,
        });
    }
    let id = storage
        .create_run(&NewRun {
            model: model_id,
            benchmark: Some(benchmark_id),
            status: RunStatus::Running,
            provenance: Provenance::Evaluated,
            configuration: json!({ "identity": identity, "details": details }),
        })
        .await?;
    Ok(OpenedRun { id, resumed: false })
}

/// Scores every judgement the run has, stores the scorecard and sets the final status.
pub async fn finish_run(
    storage: &Storage,
    run: RunId,
    model: &str,
    benchmark: &Benchmark,
    status: RunStatus,
    bootstrap: BootstrapConfig,
) -> Result<Scorecard, StorageError> {
    let judgements = storage.judgements(run).await?;
    let scorecard = super::scorecard(
        model,
        benchmark.identity.clone(),
        &judgements,
        ScalarTiePolicy::Sweep,
        bootstrap,
    );
    if !scorecard.settings.is_empty() {
        storage.store_scorecard(run, &scorecard).await?;
    }
    storage.set_run_status(run, status).await?;
    Ok(scorecard)
}
