//! `GET /leaderboard` (JSON) and `GET /leaderboard.csv`: the stored rows of one setting,
//! optionally narrowed to one modality (ranked by the modality score) or one model kind.

use std::fmt::Write as _;

use axum::Json;
use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use omnireward_shared::{Modality, Setting, Task};
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiQuery, AppState, parse_choice};
use crate::leaderboard::{self, LeaderboardRow};
use crate::storage::{ModelKind, Storage, StorageError};

/// The raw query; every value is validated by [`LeaderboardFilter::parse`].
#[derive(Debug, Default, Deserialize)]
pub(super) struct LeaderboardQuery {
    setting: Option<String>,
    modality: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// Which rows to show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct LeaderboardFilter {
    setting: Setting,
    modality: Option<Modality>,
    kind: Option<ModelKind>,
}

impl LeaderboardFilter {
    fn parse(query: &LeaderboardQuery) -> Result<LeaderboardFilter, ApiError> {
        let settings = Setting::ALL.map(|setting| (setting.key(), setting));
        let modalities = Modality::ALL.map(|modality| (modality.key(), modality));
        let kinds = ModelKind::ALL.iter().map(|kind| (kind.as_str(), *kind));
        Ok(LeaderboardFilter {
            setting: parse_choice("setting", query.setting.as_deref(), settings)?
                .unwrap_or(Setting::WithTies),
            modality: parse_choice("modality", query.modality.as_deref(), modalities)?,
            kind: parse_choice("type", query.kind.as_deref(), kinds)?,
        })
    }
}

/// One ranked row.
#[derive(Debug, Serialize)]
struct LeaderboardEntry {
    /// Position in this view, from 1.
    rank: usize,
    #[serde(flatten)]
    row: LeaderboardRow,
    /// Mean accuracy over the row's tasks of the chosen modality.
    #[serde(skip_serializing_if = "Option::is_none")]
    modality_score: Option<f64>,
    /// How many tasks of the chosen modality the row covers.
    #[serde(skip_serializing_if = "Option::is_none")]
    modality_tasks_covered: Option<usize>,
}

/// The JSON document of `GET /leaderboard`.
#[derive(Debug, Serialize)]
pub(super) struct LeaderboardView {
    setting: Setting,
    modality: Option<Modality>,
    #[serde(rename = "type")]
    kind: Option<&'static str>,
    rows: Vec<LeaderboardEntry>,
}

/// `GET /leaderboard?setting=&modality=&type=`.
pub(super) async fn json(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<LeaderboardQuery>,
) -> Result<Json<LeaderboardView>, ApiError> {
    let filter = LeaderboardFilter::parse(&query)?;
    let rows = entries(&state.storage, filter).await?;
    Ok(Json(LeaderboardView {
        setting: filter.setting,
        modality: filter.modality,
        kind: filter.kind.map(ModelKind::as_str),
        rows,
    }))
}

/// `GET /leaderboard.csv?setting=&modality=&type=`: the same rows as CSV.
pub(super) async fn csv(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<LeaderboardQuery>,
) -> Result<Response, ApiError> {
    let filter = LeaderboardFilter::parse(&query)?;
    let rows = entries(&state.storage, filter).await?;
    let body = to_csv(&rows).map_err(|error| ApiError::Internal(error.to_string()))?;
    let disposition = format!(
        "attachment; filename=\"omnireward-leaderboard-{}.csv\"",
        filter.setting.key()
    );
    Ok((
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

/// The stored rows of the filter's setting, filtered and ranked.
async fn entries(
    storage: &Storage,
    filter: LeaderboardFilter,
) -> Result<Vec<LeaderboardEntry>, StorageError> {
    Ok(select(
        leaderboard::rows(storage, filter.setting).await?,
        filter,
    ))
}

/// Keeps the rows of the filter's kind and, with a modality, the rows covering at least one of
/// its tasks, ranked by their mean over those tasks (as the scorecard's per-modality score).
fn select(rows: Vec<LeaderboardRow>, filter: LeaderboardFilter) -> Vec<LeaderboardEntry> {
    let mut entries: Vec<LeaderboardEntry> = rows
        .into_iter()
        .filter(|row| filter.kind.is_none_or(|kind| row.kind == kind.as_str()))
        .filter_map(|row| {
            let Some(modality) = filter.modality else {
                return Some((row, None));
            };
            let scores: Vec<f64> = modality
                .tasks()
                .filter_map(|task| row.tasks.get(&task).copied())
                .collect();
            if scores.is_empty() {
                return None;
            }
            let mean = scores.iter().sum::<f64>() / scores.len() as f64;
            Some((row, Some((mean, scores.len()))))
        })
        .map(|(row, modality)| LeaderboardEntry {
            rank: 0,
            row,
            modality_score: modality.map(|(score, _)| score),
            modality_tasks_covered: modality.map(|(_, covered)| covered),
        })
        .collect();
    if filter.modality.is_some() {
        // `rows` is ordered by overall already; a stable sort keeps that order among equals.
        entries.sort_by(|left, right| {
            right
                .modality_score
                .unwrap_or(f64::NEG_INFINITY)
                .total_cmp(&left.modality_score.unwrap_or(f64::NEG_INFINITY))
        });
    }
    for (position, entry) in entries.iter_mut().enumerate() {
        entry.rank = position + 1;
    }
    entries
}

/// The CSV document: rank, model, kind, provenance, benchmark, one column per task (short
/// names, column order), overall and tasks covered; accuracies in percent with two decimals,
/// an empty cell where a task is not covered.
fn to_csv(entries: &[LeaderboardEntry]) -> Result<String, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["rank", "model", "kind", "provenance", "benchmark"];
    header.extend(Task::ALL.map(Task::short_name));
    header.extend(["overall", "tasks_covered"]);
    writer.write_record(&header)?;
    let percent = |accuracy: Option<f64>| {
        let mut cell = String::new();
        if let Some(accuracy) = accuracy {
            let _ = write!(cell, "{:.2}", accuracy * 100.0);
        }
        cell
    };
    for entry in entries {
        let row = &entry.row;
        let mut record = vec![
            entry.rank.to_string(),
            row.model.clone(),
            row.kind.to_owned(),
            row.provenance.to_owned(),
            row.benchmark.clone(),
        ];
        record.extend(Task::ALL.map(|task| percent(row.tasks.get(&task).copied())));
        record.extend([percent(row.overall), row.tasks_covered.to_string()]);
        writer.write_record(&record)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|error| csv::Error::from(error.into_error()))?;
    String::from_utf8(bytes).map_err(|error| {
        csv::Error::from(std::io::Error::new(std::io::ErrorKind::InvalidData, error))
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn row(model: &str, kind: ModelKind, tasks: &[(Task, f64)]) -> LeaderboardRow {
        let tasks: BTreeMap<Task, f64> = tasks.iter().copied().collect();
        LeaderboardRow {
            run: 1,
            model: model.to_owned(),
            kind: kind.as_str(),
            group: None,
            provenance: "evaluated",
            benchmark: "omni-rewardbench-sample 1".to_owned(),
            overall: Some(tasks.values().sum::<f64>() / tasks.len() as f64),
            tasks_covered: tasks.len(),
            tasks,
        }
    }

    fn filter(modality: Option<Modality>, kind: Option<ModelKind>) -> LeaderboardFilter {
        LeaderboardFilter {
            setting: Setting::WithTies,
            modality,
            kind,
        }
    }

    #[test]
    fn a_modality_keeps_covering_rows_ranked_by_their_modality_mean() {
        let rows = vec![
            row(
                "strong overall",
                ModelKind::ApiJudge,
                &[(Task::TextToText, 0.9), (Task::TextToAudio, 0.3)],
            ),
            row("text only", ModelKind::ApiJudge, &[(Task::TextToText, 0.8)]),
            row(
                "audio",
                ModelKind::Baseline,
                &[
                    (Task::TextAudioToText, 0.6),
                    (Task::TextToAudio, 0.5),
                    (Task::TextToText, 0.1),
                ],
            ),
        ];
        let entries = select(rows.clone(), filter(Some(Modality::Audio), None));
        let ranked: Vec<(usize, &str, Option<f64>, Option<usize>)> = entries
            .iter()
            .map(|entry| {
                (
                    entry.rank,
                    entry.row.model.as_str(),
                    entry.modality_score,
                    entry.modality_tasks_covered,
                )
            })
            .collect();
        assert_eq!(
            ranked,
            [
                (1, "audio", Some(0.55), Some(2)),
                (2, "strong overall", Some(0.3), Some(1)),
            ]
        );
        let baselines = select(rows, filter(None, Some(ModelKind::Baseline)));
        assert_eq!(baselines.len(), 1);
        assert_eq!(baselines[0].modality_score, None);
    }

    #[test]
    fn csv_cells_are_percentages_with_empty_uncovered_tasks() {
        let entries = select(
            vec![row(
                "judge, \"quoted\"",
                ModelKind::ApiJudge,
                &[(Task::TextToText, 0.5), (Task::TextImageToImage, 0.1234)],
            )],
            filter(None, None),
        );
        let csv = to_csv(&entries).expect("writes");
        assert_eq!(
            csv,
            "rank,model,kind,provenance,benchmark,T2T,TI2T,TV2T,TA2T,T2I,T2V,T2A,T23D,TI2I,overall,tasks_covered\n\
             1,\"judge, \"\"quoted\"\"\",api_judge,evaluated,omni-rewardbench-sample 1,50.00,,,,,,,,12.34,31.17,2\n"
        );
    }

    #[test]
    fn unknown_values_are_refused_with_the_parameter_named() {
        let query = LeaderboardQuery {
            kind: Some("oracle".to_owned()),
            ..LeaderboardQuery::default()
        };
        let error = LeaderboardFilter::parse(&query).expect_err("unknown kind");
        assert_eq!(
            error.to_string(),
            "invalid value `oracle` for parameter `type`: expected one of api_judge, \
             scalar_reward_model, local_generative, paper_reported, baseline"
        );
        let query = LeaderboardQuery {
            modality: Some("3d".to_owned()),
            ..LeaderboardQuery::default()
        };
        assert_eq!(
            LeaderboardFilter::parse(&query).expect("valid"),
            filter(Some(Modality::ThreeD), None)
        );
    }
}
