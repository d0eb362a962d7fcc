//! `omnireward leaderboard`: the stored rows of one setting, paper-reported and evaluated.

use std::fmt::Write as _;
use std::process::ExitCode;

use clap::Args;
use omnireward_shared::{Setting, Task};

use super::Environment;
use crate::leaderboard;

/// Arguments of `leaderboard`.
#[derive(Debug, Args)]
pub(super) struct LeaderboardArgs {
    /// Setting: with-ties or without-ties.
    #[arg(long, default_value = "with-ties")]
    setting: Setting,
    /// Print the rows as JSON.
    #[arg(long)]
    json: bool,
}

pub(super) fn run(environment: &Environment, args: &LeaderboardArgs) -> anyhow::Result<ExitCode> {
    let rows = super::runtime()?.block_on(async {
        let storage = environment.open_storage().await?;
        let rows = leaderboard::rows(&storage, args.setting).await?;
        storage.close().await;
        anyhow::Ok(rows)
    })?;
    if args.json {
        super::emit_json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = format!(
        "Omni-RewardBench (Jin et al., 2025), {}: accuracy % ('-' = task not supported, \
         '*' = scored on the prompt's text only)\n",
        args.setting.label()
    );
    let _ = write!(out, "{:<4} {:<34} {:<11}", "#", "model", "source");
    for task in Task::ALL {
        let _ = write!(out, " {:>6}", task.short_name());
    }
    let _ = writeln!(out, " {:>7}  benchmark", "overall");
    for (rank, row) in rows.iter().enumerate() {
        let source = match row.provenance {
            "paper_reported" => "paper",
            "reference_import" => "reference",
            _ => "evaluated",
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
