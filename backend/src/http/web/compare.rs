//! `/compare?models=A,B[,C,D]&benchmark=`: the compare view. The picked models' rows come from
//! the same leaderboard documents as `/` (one benchmark at a time, so a paper row and a row of
//! the embedded sample are never compared), their paired statistics from the same functions as
//! `GET /compare` (over the items both judged; Holm-corrected over the table's tests of each
//! setting), and the charts are drawn here. `models` may be one comma-separated value or repeat
//! (the form's checkboxes), so the page works from a plain GET.

use axum::extract::{RawQuery, State};
use axum::response::Response;
use omnireward_frontend::charts::ChartScores;
use omnireward_frontend::charts::compare::{
    BoardPoint, ChartedModel, ScatterAxes, board_scatter, overlaid_radar, overlaid_task_bars,
};
use omnireward_frontend::data::{
    Chart, CompareChoice, ComparePage, ComparedModel, LeaderboardRow, Page, PairDifference,
};
use omnireward_frontend::leaderboard::{decode_component, parameters_in_billions};
use omnireward_frontend::pages::compare::MOST_MODELS;
use omnireward_shared::comparison::paired_outcomes;
use omnireward_shared::paired::{compare_paired_overall, holm_adjusted};
use omnireward_shared::wire::{LeaderboardDocument, Provenance};
use omnireward_shared::{BootstrapConfig, Judgement, Setting};
use std::collections::HashMap;

use super::super::leaderboard::{LeaderboardQuery, leaderboard_document};
use super::{PageError, Site};
use crate::storage::RunId;

/// Why a pair has no paired statistics, when a row has no per-item outputs.
const PAPER_ONLY: &str = "no per-item outputs: paper-reported numbers only";

pub(super) async fn page(State(site): State<Site>, RawQuery(query): RawQuery) -> Response {
    site.page(compare_page(&site, query.as_deref().unwrap_or("")).await)
}

/// The model ids a query asks for, in order and without repeats, and the values that are no id.
fn requested_models(query: &str) -> (Vec<i64>, Vec<String>) {
    let mut ids = Vec::new();
    let mut invalid = Vec::new();
    let values = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(name, _)| *name == "models")
        .map(|(_, value)| decode_component(value));
    for value in values {
        for part in value
            .split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
        {
            match part.parse::<i64>() {
                Ok(id) if !ids.contains(&id) => ids.push(id),
                Ok(_) => {}
                Err(_) => invalid.push(part.to_owned()),
            }
        }
    }
    (ids, invalid)
}

async fn compare_page(site: &Site, query: &str) -> Result<Page, PageError> {
    let state = &site.state;
    let benchmark = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| *name == "benchmark")
        .map(|(_, value)| decode_component(value))
        .filter(|value| !value.is_empty());
    let document = |setting: Setting, benchmark: Option<String>| {
        let query = LeaderboardQuery {
            setting: Some(setting.key().to_owned()),
            benchmark,
            ..LeaderboardQuery::default()
        };
        async move { leaderboard_document(state, &query).await }
    };
    let with_ties = document(Setting::WithTies, benchmark).await?;
    let without_ties = document(Setting::WithoutTies, Some(with_ties.benchmark.clone())).await?;

    let (requested, invalid) = requested_models(query);
    let mut notices: Vec<String> = invalid
        .iter()
        .map(|value| format!("{value:?} is not a model id"))
        .collect();
    if requested.len() > MOST_MODELS {
        notices.push(format!(
            "At most {MOST_MODELS} models are compared at once; showing the first {MOST_MODELS}."
        ));
    }
    let mut picked = Vec::new();
    for id in requested.into_iter().take(MOST_MODELS) {
        let best = |document: &LeaderboardDocument| {
            document.rows.iter().find(|row| row.model_id == id).cloned()
        };
        let (with, without) = (best(&with_ties), best(&without_ties));
        let Some(model) = with
            .as_ref()
            .or(without.as_ref())
            .map(|row| row.model.clone())
        else {
            notices.push(format!(
                "Model {id} has no row on {}; pick it on its own benchmark.",
                with_ties.benchmark
            ));
            continue;
        };
        picked.push(ComparedModel {
            model_id: id,
            model,
            with_ties: with,
            without_ties: without,
        });
    }
    let differences = if picked.len() >= 2 {
        differences(state, &picked).await?
    } else {
        Vec::new()
    };
    let charts = charts(&picked, &with_ties.rows, &without_ties.rows)
        .map_err(|error| PageError::internal(error.to_string()))?;
    let mut choices: Vec<CompareChoice> = Vec::new();
    for row in with_ties.rows.iter().chain(&without_ties.rows) {
        if choices.iter().any(|choice| choice.model_id == row.model_id) {
            continue;
        }
        choices.push(CompareChoice {
            model_id: row.model_id,
            model: row.model.clone(),
            paper: row.provenance == Provenance::PaperReported,
            picked: picked.iter().any(|model| model.model_id == row.model_id),
        });
    }
    let mut benchmarks = with_ties.benchmarks;
    for other in without_ties.benchmarks {
        if !benchmarks.iter().any(|known| known.name == other.name) {
            benchmarks.push(other);
        }
    }
    Ok(Page::Compare(ComparePage {
        benchmark: with_ties.benchmark,
        benchmarks,
        choices,
        picked,
        charts,
        differences,
        notice: (!notices.is_empty()).then(|| notices.join(" ")),
    }))
}

fn row(model: &ComparedModel, setting: Setting) -> Option<&LeaderboardRow> {
    match setting {
        Setting::WithTies => model.with_ties.as_ref(),
        Setting::WithoutTies => model.without_ties.as_ref(),
    }
}

/// Every pair of picked models in each setting: paired statistics where both rows have per-item
/// outputs (read once per run), Holm-corrected over the setting's tests.
async fn differences(
    state: &super::super::AppState,
    picked: &[ComparedModel],
) -> Result<Vec<PairDifference>, PageError> {
    let mut judgements: HashMap<i64, Vec<Judgement>> = HashMap::new();
    for model in picked {
        for row in [&model.with_ties, &model.without_ties]
            .into_iter()
            .flatten()
        {
            if row.verified && !judgements.contains_key(&row.run) {
                let read = state
                    .storage
                    .judgements(RunId(row.run))
                    .await
                    .map_err(|error| PageError::internal(error.to_string()))?;
                judgements.insert(row.run, read);
            }
        }
    }
    let picked = picked.to_vec();
    // A thousand paired resamples per pair and setting: kept off the async workers.
    tokio::task::spawn_blocking(move || pair_differences(&picked, &judgements))
        .await
        .map_err(|error| PageError::internal(format!("comparing the models: {error}")))
}

fn pair_differences(
    picked: &[ComparedModel],
    judgements: &HashMap<i64, Vec<Judgement>>,
) -> Vec<PairDifference> {
    let mut differences = Vec::new();
    for setting in Setting::ALL {
        let start = differences.len();
        for (index, first) in picked.iter().enumerate() {
            for second in &picked[index + 1..] {
                let (first_row, second_row) = (row(first, setting), row(second, setting));
                if first_row.is_none() && second_row.is_none() {
                    continue;
                }
                let outputs = |row: Option<&LeaderboardRow>| {
                    row.filter(|row| row.verified)
                        .and_then(|row| judgements.get(&row.run))
                        .filter(|judgements| !judgements.is_empty())
                };
                let (paired, unpaired) = match (outputs(first_row), outputs(second_row)) {
                    (Some(first_items), Some(second_items)) => {
                        let per_task = paired_outcomes(first_items, second_items, setting);
                        match compare_paired_overall(&per_task, BootstrapConfig::default()) {
                            Some(paired) => (Some(paired), None),
                            None => (None, Some("no item judged by both".to_owned())),
                        }
                    }
                    _ if first_row.is_none() || second_row.is_none() => (
                        None,
                        Some("one of the two has no row in this setting".to_owned()),
                    ),
                    _ => (None, Some(PAPER_ONLY.to_owned())),
                };
                differences.push(PairDifference {
                    setting,
                    first: first.model.clone(),
                    second: second.model.clone(),
                    first_overall: first_row.and_then(|row| row.overall),
                    second_overall: second_row.and_then(|row| row.overall),
                    paired,
                    holm_p: None,
                    unpaired,
                });
            }
        }
        let tested = &mut differences[start..];
        let raw: Vec<f64> = tested
            .iter()
            .filter_map(|difference| difference.paired.as_ref().map(|paired| paired.mcnemar_p))
            .collect();
        let mut adjusted = holm_adjusted(&raw).into_iter();
        for difference in tested
            .iter_mut()
            .filter(|difference| difference.paired.is_some())
        {
            difference.holm_p = adjusted.next();
        }
    }
    differences
}

/// The overlaid bars and radars of the picked models (two or more), then the board's scatter
/// plots with the picked models marked.
fn charts(
    picked: &[ComparedModel],
    with_ties: &[LeaderboardRow],
    without_ties: &[LeaderboardRow],
) -> Result<Vec<Chart>, omnireward_frontend::charts::ChartError> {
    let mut charts = Vec::new();
    if picked.len() >= 2 {
        let charted: Vec<ChartedModel> = picked
            .iter()
            .map(|model| ChartedModel {
                name: model.model.clone(),
                scores: ChartScores::of_rows(
                    Setting::ALL
                        .into_iter()
                        .filter_map(|setting| Some((setting, row(model, setting)?))),
                ),
            })
            .collect();
        for setting in Setting::ALL {
            charts.extend(overlaid_task_bars(&charted, setting)?);
            charts.extend(overlaid_radar(&charted, setting)?);
        }
    }
    let picked_index = |row: &LeaderboardRow| {
        picked
            .iter()
            .position(|model| model.model_id == row.model_id)
    };
    let by_size: Vec<BoardPoint> = with_ties
        .iter()
        .filter_map(|row| {
            Some(BoardPoint {
                name: row.model.clone(),
                x: parameters_in_billions(row.parameters.as_deref()?)?,
                y: row.overall?,
                picked: picked_index(row),
            })
        })
        .collect();
    charts.push(board_scatter(
        &by_size,
        ScatterAxes {
            title: "Overall with ties against size (the whole board)",
            x_description: "parameters (log scale)",
            y_description: "overall with ties (%)",
            x_parameters: true,
            diagonal: false,
        },
    )?);
    let by_setting: Vec<BoardPoint> = with_ties
        .iter()
        .filter_map(|row| {
            let without = without_ties.iter().find(|other| other.run == row.run)?;
            Some(BoardPoint {
                name: row.model.clone(),
                x: row.overall?,
                y: without.overall?,
                picked: picked_index(row),
            })
        })
        .collect();
    charts.push(board_scatter(
        &by_setting,
        ScatterAxes {
            title: "Without ties against with ties (the whole board)",
            x_description: "overall with ties (%)",
            y_description: "overall without ties (%)",
            x_parameters: false,
            diagonal: true,
        },
    )?);
    Ok(charts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_come_as_a_list_or_repeated_without_repeats() {
        assert_eq!(
            requested_models("benchmark=x&models=3%2C7&models=9&models=3&models=abc"),
            (vec![3, 7, 9], vec!["abc".to_owned()])
        );
        assert_eq!(requested_models(""), (Vec::new(), Vec::new()));
    }
}
