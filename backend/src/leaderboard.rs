//! The leaderboard read model: one row per finished run with a score in a setting, paper-
//! reported and evaluated rows side by side but always labelled with their provenance and
//! benchmark, since a score on the sample benchmark is not comparable to one on the release.

use std::collections::BTreeMap;

use omnireward_shared::{Setting, Task};
use serde::Serialize;

use crate::storage::{Provenance, RunStatus, Storage, StorageError};

/// One leaderboard row.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LeaderboardRow {
    /// The run the numbers come from.
    pub run: i64,
    /// Model name.
    pub model: String,
    /// What kind of model.
    pub kind: &'static str,
    /// The paper's group, for paper-reported rows.
    pub group: Option<String>,
    /// Where the numbers come from: `paper_reported`, `evaluated` or `reference_import`.
    pub provenance: &'static str,
    /// The benchmark scored on ("paper: full release" for paper-reported rows).
    pub benchmark: String,
    /// Accuracy per covered task, as fractions.
    pub tasks: BTreeMap<Task, f64>,
    /// Mean over the covered tasks.
    pub overall: Option<f64>,
    /// Tasks covered.
    pub tasks_covered: usize,
    /// Tasks scored on the prompt's text only: a local text model cannot see their prompt's
    /// image, video or audio, and the row says so.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub text_only_prompt: Vec<Task>,
}

/// The tasks a run recorded as scored on prompt text only (local checkpoint runs).
fn text_only_prompt(configuration: &serde_json::Value) -> Vec<Task> {
    configuration
        .pointer("/details/coverage/text_only_prompt")
        .cloned()
        .and_then(|tasks| serde_json::from_value(tasks).ok())
        .unwrap_or_default()
}

/// The rows of `setting`, best overall first.
pub async fn rows(
    storage: &Storage,
    setting: Setting,
) -> Result<Vec<LeaderboardRow>, StorageError> {
    let mut rows = Vec::new();
    for run in storage.runs().await? {
        if run.status != RunStatus::Finished {
            continue;
        }
        let base = |benchmark: String| LeaderboardRow {
            run: run.id.0,
            model: run.model_name.clone(),
            kind: run.model_kind.as_str(),
            group: run.model_group.clone(),
            provenance: run.provenance.as_str(),
            benchmark,
            tasks: BTreeMap::new(),
            overall: None,
            tasks_covered: 0,
            text_only_prompt: text_only_prompt(&run.configuration),
        };
        let row = if run.provenance == Provenance::PaperReported {
            let mut row = base("paper: full release (Jin et al., 2025)".to_owned());
            for score in storage.reported_scores(run.id).await? {
                if score.setting != setting {
                    continue;
                }
                match score.task {
                    Some(task) => {
                        row.tasks.insert(task, score.accuracy);
                    }
                    None => row.overall = Some(score.accuracy),
                }
            }
            row.tasks_covered = row.tasks.len();
            row
        } else {
            let Some(scorecard) = storage.scorecard(run.id).await? else {
                continue;
            };
            let Some(scores) = scorecard.settings.get(&setting) else {
                continue;
            };
            let mut row = base(format!(
                "{} {}",
                scorecard.benchmark.name, scorecard.benchmark.version
            ));
            row.tasks = scores
                .tasks
                .iter()
                .map(|(task, score)| (*task, score.accuracy))
                .collect();
            row.overall = Some(scores.overall.accuracy);
            row.tasks_covered = scores.overall.tasks_covered;
            row
        };
        if row.overall.is_some() {
            rows.push(row);
        }
    }
    rows.sort_by(|left, right| {
        right
            .overall
            .unwrap_or(f64::NEG_INFINITY)
            .total_cmp(&left.overall.unwrap_or(f64::NEG_INFINITY))
            .then_with(|| left.model.cmp(&right.model))
    });
    Ok(rows)
}
