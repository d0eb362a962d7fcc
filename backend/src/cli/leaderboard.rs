//! `omnireward leaderboard`: the stored rows of one setting and one benchmark, paper-reported and
//! evaluated (rows of different benchmarks are never ranked together).

use std::fmt::Write as _;
use std::process::ExitCode;

use clap::Args;
use omnireward_shared::wire::Provenance;
use omnireward_shared::{Setting, Task};

use super::Environment;
use crate::leaderboard;

/// Arguments of `leaderboard`.
#[derive(Debug, Args)]
pub(super) struct LeaderboardArgs {
    /// Setting: with-ties or without-ties.
    #[arg(long, default_value = "with-ties")]
    setting: Setting,
    /// Benchmark whose rows are ranked, by name (`omni-rewardbench` is the release, where the
    /// paper's rows are) [default: the benchmark of the newest evaluated run, else the release].
    #[arg(long, value_name = "NAME")]
    benchmark: Option<String>,
    /// Print the rows as JSON.
    #[arg(long)]
    json: bool,
}

pub(super) fn run(environment: &Environment, args: &LeaderboardArgs) -> anyhow::Result<ExitCode> {
    let all_rows = super::runtime()?.block_on(async {
        let storage = environment.open_storage().await?;
        let rows = leaderboard::rows(&storage, args.setting).await?;
        storage.close().await;
        anyhow::Ok(rows)
    })?;
    let benchmarks = leaderboard::benchmarks(&all_rows);
    let benchmark = match &args.benchmark {
        Some(name) if benchmarks.iter().any(|known| &known.name == name) => name.clone(),
        Some(name) => anyhow::bail!(
            "--benchmark {name}: no rows; benchmarks with rows: {}",
            benchmarks
                .iter()
                .map(|known| known.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => {
            let newest = all_rows
                .iter()
                .filter(|row| row.verified)
                .max_by_key(|row| row.run)
                .map(|row| row.benchmark_name.as_str());
            leaderboard::default_benchmark(&all_rows, newest)
        }
    };
    let rows: Vec<_> = all_rows
        .into_iter()
        .filter(|row| row.benchmark_name == benchmark)
        .collect();
    if args.json {
        super::emit_json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = format!(
        "Omni-RewardBench (Jin et al., 2025), {}, rows on {benchmark}: accuracy % ('-' = task \
         not supported, '*' = scored on the prompt's text only)\n",
        args.setting.label()
    );
    let _ = write!(out, "{:<4} {:<34} {:<11}", "#", "model", "source");
    for task in Task::ALL {
        let _ = write!(out, " {:>6}", task.short_name());
    }
    let _ = writeln!(out, " {:>7}  benchmark", "overall");
    for (rank, row) in rows.iter().enumerate() {
        let source = match row.provenance {
            Provenance::PaperReported => "paper",
            Provenance::ReferenceImport => "reference",
            Provenance::SubmittedPredictions => "submitted",
            Provenance::Evaluated => "evaluated",
        };
        let _ = write!(
            out,
            "{:<4} {:<34} {:<11}",
            rank + 1,
            truncate(&row.model, 34),
            source
        );
        for task in Task::ALL {
            let _ = match row.tasks.get(&task) {
                Some(accuracy) if row.text_only_prompt.contains(&task) => {
                    write!(out, " {:>6}", format!("{:.2}*", accuracy * 100.0))
                }
                Some(accuracy) => write!(out, " {:>6.2}", accuracy * 100.0),
                None => write!(out, " {:>6}", "-"),
            };
        }
        let overall = row
            .overall
            .map_or("-".to_owned(), |value| format!("{:.2}", value * 100.0));
        let _ = writeln!(
            out,
            " {overall:>7}  {} ({} tasks)",
            row.benchmark, row.tasks_covered
        );
    }
    let others: Vec<String> = benchmarks
        .iter()
        .filter(|known| known.name != benchmark)
        .map(|known| {
            format!(
                "{} ({} rows: --benchmark {})",
                known.name,
                known.evaluated + known.paper_reported,
                known.name
            )
        })
        .collect();
    if !others.is_empty() {
        let _ = writeln!(
            out,
            "rows of other benchmarks, ranked apart: {}",
            others.join("; ")
        );
    }
    super::emit(&out)?;
    Ok(ExitCode::SUCCESS)
}

fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_owned()
    } else {
        let mut short: String = text.chars().take(width - 1).collect();
        short.push('…');
        short
    }
}
