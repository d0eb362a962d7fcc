//! Finished evaluated runs on the served benchmark, judged by a closure: what the tests of
//! scorecards, comparisons and leaderboard rows need without running a judge.

use omnireward::data::Benchmark;
use omnireward::storage::{
    ModelId, ModelKind, NewModel, NewRun, Provenance, RunId, RunStatus, Storage,
};
use omnireward_shared::{BootstrapConfig, Judgement, Sample, Setting};

/// Stores a model named `name`, a run of it on `benchmark` with one judgement per sample and
/// setting from `judge`, and finishes the run with its scorecard.
pub async fn finished_run(
    storage: &Storage,
    benchmark: &Benchmark,
    name: &str,
    judge: impl Fn(&Sample, Setting) -> Judgement,
) -> (ModelId, RunId) {
    let model = storage
        .upsert_model(&NewModel::named(name, ModelKind::Baseline))
        .await
        .expect("stores the model");
    let benchmark_id = omnireward::evaluation::runs::record_benchmark(storage, benchmark)
        .await
        .expect("records the benchmark");
    let run = storage
        .create_run(&NewRun {
            model,
            benchmark: Some(benchmark_id),
            status: RunStatus::Running,
            provenance: Provenance::Evaluated,
            configuration: serde_json::json!({ "identity": { "test": name } }),
        })
        .await
        .expect("creates the run");
    let judgements: Vec<Judgement> = benchmark
        .samples
        .iter()
        .flat_map(|sample| {
            Setting::ALL
                .into_iter()
                .filter(|setting| setting.includes(sample.label))
                .map(|setting| judge(sample, setting))
        })
        .collect();
    storage
        .record_judgements(run, &judgements)
        .await
        .expect("stores the judgements");
    omnireward::evaluation::runs::finish_run(
        storage,
        run,
        name,
        benchmark,
        RunStatus::Finished,
        BootstrapConfig::default(),
    )
    .await
    .expect("finishes the run");
    (model, run)
}
