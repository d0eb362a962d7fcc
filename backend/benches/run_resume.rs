//! Finding the run to resume among many stored runs: the indexed identity digest against the
//! former lookup (every run read, its configuration parsed and compared).
//!
//! `cargo bench -p omnireward --bench run_resume -- [--runs 10000] [--lookups 50]`
//!
//! Builds a temporary SQLite database with `--runs` evaluated runs of distinct identities
//! (100 models, the embedded sample benchmark), then times, for identities spread over the
//! table: the former lookup (`Storage::runs` and a scan, as `open_run` did before the digest
//! column), the indexed `Storage::evaluated_run`, and a whole `evaluation::runs::open_run` that
//! resumes (benchmark and model recorded again, the run found, its status set). Medians of
//! `--lookups` lookups each.

use std::time::Instant;

use omnireward::data::{LoadOptions, embedded};
use omnireward::evaluation::identity::{BaselineIdentity, RunIdentity};
use omnireward::evaluation::{baseline::BaselineKind, runs};
use omnireward::storage::{ModelKind, NewModel, NewRun, Provenance, RunStatus, Storage};

/// Models the runs are spread over.
const MODELS: usize = 100;

fn number(name: &str, default: usize) -> usize {
    let arguments: Vec<String> = std::env::args().collect();
    arguments
        .iter()
        .position(|argument| argument == name)
        .and_then(|position| arguments.get(position + 1))
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn identity(index: usize) -> RunIdentity {
    RunIdentity::Baseline(BaselineIdentity {
        kind: BaselineKind::Random,
        seed: index as u64,
    })
}

fn model(index: usize) -> NewModel {
    NewModel::named(format!("model {}", index % MODELS), ModelKind::Baseline)
}

fn median(mut milliseconds: Vec<f64>) -> f64 {
    milliseconds.sort_by(f64::total_cmp);
    milliseconds[milliseconds.len() / 2]
}

fn main() {
    let total = number("--runs", 10_000);
    let lookups = number("--lookups", 50).max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let folder = tempfile::tempdir().expect("temp dir");
        let storage = Storage::open(&folder.path().join("runs.sqlite"))
            .await
            .expect("database");
        let benchmark = embedded::load(&folder.path().join("cache"), &LoadOptions::default())
            .expect("embedded sample");
        let benchmark_id = runs::record_benchmark(&storage, &benchmark)
            .await
            .expect("records the benchmark");
        let started = Instant::now();
        let mut models = Vec::new();
        for index in 0..MODELS {
            models.push(storage.upsert_model(&model(index)).await.expect("model"));
        }
        for index in 0..total {
            storage
                .create_run(&NewRun {
                    model: models[index % MODELS],
                    benchmark: Some(benchmark_id),
                    status: RunStatus::Finished,
                    provenance: Provenance::Evaluated,
                    configuration: serde_json::json!({
                        "identity": identity(index).to_value(),
                        "details": {},
                    }),
                })
                .await
                .expect("run");
        }
        println!(
            "database: {total} runs of {MODELS} models, built in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let targets: Vec<usize> = (0..lookups).map(|step| step * total / lookups).collect();

        let mut scans = Vec::new();
        for &index in &targets {
            let wanted = identity(index).to_value();
            let model_id = models[index % MODELS];
            let started = Instant::now();
            let found = storage.runs().await.expect("runs").into_iter().find(|run| {
                run.model == model_id
                    && run.benchmark == Some(benchmark_id)
                    && run.provenance == Provenance::Evaluated
                    && run.configuration.get("identity") == Some(&wanted)
            });
            scans.push(started.elapsed().as_secs_f64() * 1e3);
            assert!(found.is_some(), "the scan finds run {index}");
        }
        let mut indexed = Vec::new();
        for &index in &targets {
            let wanted = identity(index).to_value();
            let started = Instant::now();
            let found = storage
                .evaluated_run(models[index % MODELS], benchmark_id, &wanted)
                .await
                .expect("lookup");
            indexed.push(started.elapsed().as_secs_f64() * 1e3);
            assert!(found.is_some(), "the index finds run {index}");
        }
        let mut opens = Vec::new();
        for &index in &targets {
            let started = Instant::now();
            let opened = runs::open_run(
                &storage,
                &model(index),
                &benchmark,
                &identity(index),
                serde_json::json!({}),
            )
            .await
            .expect("opens");
            opens.push(started.elapsed().as_secs_f64() * 1e3);
            assert!(opened.resumed, "run {index} is resumed, not created");
        }
        let (scan, index, open) = (median(scans), median(indexed), median(opens));
        println!("| lookup among {total} runs | median ms |");
        println!("|---|---:|");
        println!("| before: read every run, compare identities | {scan:.2} |");
        println!("| after: indexed identity digest | {index:.3} |");
        println!("| after: whole `open_run` (resume) | {open:.2} |");
        println!("speed-up of the lookup: {:.0}x", scan / index.max(1e-9));
        storage.close().await;
    });
}
