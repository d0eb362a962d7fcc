//! Plain-text rendering of a scorecard: one row per task, modality and overall, one column
//! pair per setting, accuracies in percent as in the paper's tables.

use std::fmt::Write as _;

use omnireward_shared::scorecard::TieRule;
use omnireward_shared::{Modality, Scorecard, Setting, Task};

fn cell(accuracy: f64, ci95: [f64; 2]) -> String {
    format!(
        "{:>6.2} [{:>5.1},{:>5.1}]",
        accuracy * 100.0,
        ci95[0] * 100.0,
        ci95[1] * 100.0
    )
}

/// Renders `scorecard` for a terminal.
pub(super) fn render(scorecard: &Scorecard) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} on {} {} (hash {})",
        scorecard.model,
        scorecard.benchmark.name,
        scorecard.benchmark.version,
        &scorecard.benchmark.hash[..scorecard.benchmark.hash.len().min(16)]
    );
    let settings: Vec<Setting> = Setting::ALL
        .into_iter()
        .filter(|setting| scorecard.settings.contains_key(setting))
        .collect();
    let _ = write!(out, "{:<10}", "");
    for setting in &settings {
        let _ = write!(
            out,
            " {:>28}",
            format!("{} acc % [95% CI]   n", setting.label())
        );
    }
    out.push('\n');
    for task in Task::ALL {
        let _ = write!(out, "{:<10}", task.short_name());
        for setting in &settings {
            match scorecard.settings[setting].tasks.get(&task) {
                Some(score) => {
                    let _ = write!(
                        out,
                        " {} {:>5}",
                        cell(score.accuracy, score.ci95),
                        score.total
                    );
                }
                None => {
                    let _ = write!(out, " {:>28}", "-");
                }
            }
        }
        out.push('\n');
    }
    for modality in Modality::ALL {
        let _ = write!(out, "{:<10}", modality.label());
        for setting in &settings {
            match scorecard.settings[setting].modalities.get(&modality) {
                Some(score) => {
                    let _ = write!(
                        out,
                        " {} {:>4}t",
                        cell(score.accuracy, score.ci95),
                        score.tasks_covered
                    );
                }
                None => {
                    let _ = write!(out, " {:>28}", "-");
                }
            }
        }
        out.push('\n');
    }
    let _ = write!(out, "{:<10}", "Overall");
    for setting in &settings {
        let overall = &scorecard.settings[setting].overall;
        let _ = write!(
            out,
            " {} {:>4}t",
            cell(overall.accuracy, overall.ci95),
            overall.tasks_covered
        );
    }
    out.push('\n');
    // Say how scalar rewards were turned into ties: the sweep is tuned on the test set.
    if let Some(with_ties) = scorecard.settings.get(&Setting::WithTies) {
        for (task, score) in &with_ties.tasks {
            match score.tie_rule {
                Some(TieRule::Sweep { epsilon }) => {
                    let _ = writeln!(
                        out,
                        "{}: tie threshold {} (Ties-Matter sweep on the test set: optimistic)",
                        task.short_name(),
                        epsilon.map_or("none".to_owned(), |value| format!("{value:.4}"))
                    );
                }
                Some(TieRule::Fixed { epsilon }) => {
                    let _ = writeln!(
                        out,
                        "{}: fixed tie threshold {epsilon:.4}",
                        task.short_name()
                    );
                }
                None => {}
            }
        }
    }
    // Judge reliability, for generative judges: how verdicts behave beyond being right.
    for setting in &settings {
        let rows: Vec<_> = scorecard.settings[setting]
            .tasks
            .iter()
            .filter_map(|(task, score)| score.reliability.as_ref().map(|r| (task, r)))
            .collect();
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "{} reliability: {:>8} {:>8} {:>8} {:>6} {:>8}",
            setting.label(),
            "swap acc",
            "consist.",
            "pos.bias",
            "ties",
            "unparsed"
        );
        let percent =
            |value: Option<f64>| value.map_or("-".to_owned(), |v| format!("{:.1}", v * 100.0));
        for (task, reliability) in rows {
            let _ = writeln!(
                out,
                "  {:<18} {:>8} {:>8} {:>+8.1} {:>6} {:>8}",
                task.short_name(),
                percent(reliability.swapped_accuracy),
                percent(reliability.swap_consistency),
                reliability.position_bias * 100.0,
                percent(Some(reliability.tie_rate)),
                percent(Some(reliability.parse_failure_rate)),
            );
        }
    }
    let unparseable: usize = scorecard
        .settings
        .values()
        .flat_map(|setting| setting.tasks.values())
        .map(|score| score.unparseable)
        .sum();
    if unparseable > 0 {
        let _ = writeln!(out, "{unparseable} unparseable verdicts counted as wrong");
    }
    out
}
