//! `omnireward compare RUN_A RUN_B`: two stored runs compared on the samples they share, per
//! setting and task (accuracy difference, paired bootstrap interval, exact McNemar test).

use std::fmt::Write as _;
use std::process::ExitCode;

use clap::Args;
use omnireward_shared::BootstrapConfig;
use omnireward_shared::comparison::RunComparison;
use omnireward_shared::paired::PairedComparison;

use super::Environment;
use crate::evaluation::comparison::compare_runs;
use crate::storage::RunId;

/// Arguments of `compare`.
#[derive(Debug, Args)]
pub(super) struct CompareArgs {
    /// The first run's id: differences are its accuracy minus the second's.
    first: i64,
    /// The second run's id.
    second: i64,
    /// Bootstrap resamples of the paired intervals.
    #[arg(long, default_value_t = BootstrapConfig::default().resamples)]
    resamples: usize,
    /// Seed of the paired bootstrap.
    #[arg(long, default_value_t = BootstrapConfig::default().seed)]
    bootstrap_seed: u64,
    /// Print the comparison as JSON (the document of `GET /api/v1/compare`).
    #[arg(long)]
    json: bool,
}

pub(super) fn run(environment: &Environment, args: &CompareArgs) -> anyhow::Result<ExitCode> {
    let bootstrap = BootstrapConfig {
        resamples: args.resamples,
        seed: args.bootstrap_seed,
    };
    let comparison = super::runtime()?.block_on(async {
        let storage = environment.open_storage().await?;
        let comparison =
            compare_runs(&storage, RunId(args.first), RunId(args.second), bootstrap).await;
        storage.close().await;
        anyhow::Ok(comparison?)
    })?;
    if args.json {
        super::emit_json(&comparison)?;
    } else {
        super::emit(&table(&comparison))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The comparison as a text table: one row per task, then the overall, per setting.
fn table(comparison: &RunComparison) -> String {
    let mut out = format!(
        "run {} ({}) minus run {} ({}), on shared samples; paired bootstrap 95 % interval \
         ({} resamples, seed {}), exact McNemar p\n",
        comparison.first.run,
        comparison.first.model,
        comparison.second.run,
        comparison.second.model,
        comparison.bootstrap.resamples,
        comparison.bootstrap.seed
    );
    for (setting, scores) in &comparison.settings {
        let _ = writeln!(out, "\n{}", setting.label());
        let _ = writeln!(
            out,
            "{:<8} {:>6} {:>8} {:>8} {:>8} {:>18} {:>10}",
            "task", "items", "first %", "second %", "diff pp", "95 % interval pp", "McNemar p"
        );
        let rows = scores
            .tasks
            .iter()
            .map(|(task, score)| (task.short_name(), score))
            .chain([("overall", &scores.overall)]);
        for (name, score) in rows {
            let _ = writeln!(out, "{}", row(name, score));
        }
    }
    out
}

fn row(name: &str, score: &PairedComparison) -> String {
    let points = |fraction: f64| fraction * 100.0;
    format!(
        "{:<8} {:>6} {:>8.2} {:>8.2} {:>+8.2} {:>18} {:>10.4}",
        name,
        score.items,
        points(score.first_accuracy),
        points(score.second_accuracy),
        points(score.difference),
        format!(
            "[{:+.2}, {:+.2}]",
            points(score.ci95[0]),
            points(score.ci95[1])
        ),
        score.mcnemar_p
    )
}
