//! `omnireward import-reference DIR`: stores the results of the authors' harness as a run and
//! prints its scorecard, so their numbers can be compared with ours item by item.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use omnireward_shared::scorecard::ScalarTiePolicy;

use super::{BenchmarkArgs, BootstrapArgs, Environment, scorecard_table};
use crate::data::reference_results;
use crate::evaluation;
use crate::storage::{ModelKind, NewModel, NewRun, Provenance, RunStatus};

/// Arguments of `import-reference`.
#[derive(Debug, Args)]
pub(super) struct ImportReferenceArgs {
    /// Results folder of the authors' harness, holding `<task>/<model>_preferences.json` and
    /// `<task>/<model>_preferences_with_tie.json`.
    dir: PathBuf,
    /// Which model's files to import [default: the only model found].
    #[arg(long)]
    model: Option<String>,
    /// Benchmark the results were computed on: checks ids and labels and links the run to it.
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    #[command(flatten)]
    benchmark: BenchmarkArgs,
    #[command(flatten)]
    bootstrap: BootstrapArgs,
    /// Print the scorecard as JSON.
    #[arg(long)]
    json: bool,
}

pub(super) fn run(
    environment: &Environment,
    args: &ImportReferenceArgs,
) -> anyhow::Result<ExitCode> {
    let model = reference_model(&args.dir, args.model.as_deref())?;
    let results = reference_results::read(&args.dir, &model)?;
    let benchmark = match &args.data {
        Some(folder) => {
            let benchmark = environment.load_benchmark(Some(folder), &args.benchmark, false)?;
            evaluation::verify(&benchmark, &results.judgements)?;
            Some(benchmark)
        }
        None => None,
    };
    let identity = benchmark.as_ref().map_or_else(
        || evaluation::unverified_identity(&results.judgements),
        |benchmark| benchmark.identity.clone(),
    );
    let scorecard = evaluation::scorecard(
        &model,
        identity,
        &results.judgements,
        ScalarTiePolicy::Sweep,
        args.bootstrap.config(),
    );

    let runtime = super::runtime()?;
    let run_id = runtime.block_on(async {
        let storage = environment.open_storage().await?;
        let benchmark_id = match &benchmark {
            Some(benchmark) => {
                Some(crate::evaluation::runs::record_benchmark(&storage, benchmark).await?)
            }
            None => None,
        };
        let model_id = storage
            .upsert_model(&NewModel::named(&model, ModelKind::ApiJudge))
            .await?;
        let configuration = serde_json::json!({
            "source": "authors' harness (github.com/HongbangYuan/OmniReward)",
            "results_folder": args.dir.to_string_lossy(),
            "files": results.files.iter().map(|file| file.to_string_lossy()).collect::<Vec<_>>(),
            "judged_items_hash": evaluation::unverified_identity(&results.judgements).hash,
        });
        // Importing the same files again reuses the run: judgements are idempotent on their
        // key, so nothing is duplicated.
        let existing = storage.runs().await?.into_iter().find(|run| {
            run.model == model_id
                && run.provenance == Provenance::ReferenceImport
                && run.configuration == configuration
        });
        let run_id = match existing {
            Some(run) => run.id,
            None => {
                storage
                    .create_run(&NewRun {
                        model: model_id,
                        benchmark: benchmark_id,
                        status: RunStatus::Running,
                        provenance: Provenance::ReferenceImport,
                        configuration,
                    })
                    .await?
            }
        };
        storage
            .record_judgements(run_id, &results.judgements)
            .await?;
        storage.store_scorecard(run_id, &scorecard).await?;
        storage.set_run_status(run_id, RunStatus::Finished).await?;
        storage.close().await;
        anyhow::Ok(run_id)
    })?;

    if args.json {
        super::emit_json(&scorecard)?;
    } else {
        super::emit(&format!(
            "{}stored as run {} in {}\n",
            scorecard_table::render(&scorecard),
            run_id.0,
            environment.database
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The model whose result files to read from the authors' results folder `dir`: the one asked
/// for, else the only one there (several need `--model`).
pub(super) fn reference_model(
    dir: &std::path::Path,
    asked: Option<&str>,
) -> anyhow::Result<String> {
    if let Some(model) = asked {
        return Ok(model.to_owned());
    }
    let models = reference_results::find_models(dir)?;
    let mut names = models.iter();
    match (names.next(), names.next()) {
        (Some(only), None) => Ok(only.clone()),
        (None, _) => anyhow::bail!(
            "{}: no <task>/<model>_preferences*.json result files found",
            dir.display()
        ),
        _ => anyhow::bail!(
            "{}: results of several models found ({}); choose one with --model",
            dir.display(),
            models.iter().cloned().collect::<Vec<_>>().join(", ")
        ),
    }
}
