//! `GET /runs/{id}` (the run record with its scorecard, or the paper's reported scores),
//! `GET /runs/{id}/judgements` (the per-item outputs, filtered and paginated) and
//! `GET /runs/{id}/judgements.jsonl` (the same outputs, all of them, as a JSON Lines download).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use omnireward_shared::scorecard::{ScalarTiePolicy, TieRule, decided_verdict, tie_rules};
use omnireward_shared::wire::{
    JudgementItem, Paged, ReportedSetting, RunBenchmark, RunDocument, RunModel,
};
use omnireward_shared::{BootstrapConfig, Judgement, Order, Setting, Task, Verdict};
use serde::Deserialize;

use super::{
    ApiError, ApiPath, ApiQuery, AppState, Pagination, parse_choice, parse_flag, parse_task,
};
use crate::evaluation::comparison::ablation_audit;
use crate::storage::{ModelKind, Provenance, RunId, RunRecord, Storage, StorageError};

/// `GET /runs/{id}`.
#[utoipa::path(
    get,
    path = "/runs/{id}",
    tag = "runs",
    params(("id" = i64, Path, description = "The run.")),
    responses(
        (status = 200, description = "The run with its scorecard or reported scores.",
         body = RunDocument),
        (status = 404, description = "No such run.", body = super::error::ErrorBody),
    )
)]
pub(super) async fn one(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<RunDocument>, ApiError> {
    run(&state, &id).await.map(Json)
}

/// Run `id` (a path segment): the service behind `GET /runs/{id}` and the run page's redirect
/// to its model.
pub(super) async fn run(state: &AppState, id: &str) -> Result<RunDocument, ApiError> {
    let run = parse_run_id(id)?;
    Ok(run_document(&state.storage, state.storage.run(run).await?).await?)
}

/// The run id of a path segment; an id that is not a number names no run.
fn parse_run_id(id: &str) -> Result<RunId, ApiError> {
    id.parse::<i64>()
        .map(RunId)
        .map_err(|_| ApiError::NotFound(format!("run {id} does not exist")))
}

/// A run with its numbers: the scorecard for runs scored here, reported scores for paper runs.
pub(super) async fn run_document(
    storage: &Storage,
    run: RunRecord,
) -> Result<RunDocument, StorageError> {
    let benchmark = match run.benchmark {
        Some(id) => storage.benchmark(id).await?.map(|record| RunBenchmark {
            id: record.id.0,
            identity: record.identity,
        }),
        None => None,
    };
    let (scorecard, reported_scores) = if run.provenance == Provenance::PaperReported {
        let mut settings: BTreeMap<Setting, ReportedSetting> = BTreeMap::new();
        for score in storage.reported_scores(run.id).await? {
            let setting = settings.entry(score.setting).or_default();
            match score.task {
                Some(task) => {
                    setting.tasks.insert(task, score.accuracy);
                }
                None => setting.overall = Some(score.accuracy),
            }
        }
        for (setting, numbers) in &mut settings {
            numbers.source = crate::paper_models::source(&run.model_name, *setting);
        }
        (None, Some(settings))
    } else {
        (storage.scorecard(run.id).await?, None)
    };
    let ablation = ablation_audit(storage, &run, BootstrapConfig::default()).await?;
    // A paper model's kind is the model's real kind; its provenance says "paper".
    let kind = crate::paper_models::facts(&run.model_name)
        .filter(|_| run.model_kind == ModelKind::PaperReported)
        .map_or(run.model_kind, |facts| facts.kind);
    Ok(RunDocument {
        id: run.id.0,
        model: RunModel {
            id: run.model.0,
            name: run.model_name,
            kind,
            group: run.model_group,
        },
        provenance: run.provenance,
        status: run.status,
        benchmark,
        configuration: run.configuration,
        created_at_ms: run.created_at_ms,
        finished_at_ms: run.finished_at_ms,
        scorecard,
        reported_scores,
        ablation,
    })
}

/// The raw query of `GET /runs/{id}/judgements`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct JudgementsQuery {
    pub(super) task: Option<String>,
    pub(super) setting: Option<String>,
    pub(super) order: Option<String>,
    pub(super) correct: Option<String>,
    pub(super) verdict: Option<String>,
    pub(super) page: Option<String>,
    pub(super) per_page: Option<String>,
}

/// A verdict to filter by: one of the three, or none (the output could not be parsed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum VerdictFilter {
    Given(Verdict),
    Unparseable,
}

/// Which judgements to list; `None` keeps all.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct JudgementFilter {
    task: Option<Task>,
    setting: Option<Setting>,
    order: Option<Order>,
    correct: Option<bool>,
    verdict: Option<VerdictFilter>,
}

impl JudgementFilter {
    fn parse(query: &JudgementsQuery) -> Result<JudgementFilter, ApiError> {
        let settings = Setting::ALL.map(|setting| (setting.key(), setting));
        let orders = [Order::Original, Order::Swapped].map(|order| (order.key(), order));
        Ok(JudgementFilter {
            task: parse_task("task", query.task.as_deref())?,
            setting: parse_choice("setting", query.setting.as_deref(), settings)?,
            order: parse_choice("order", query.order.as_deref(), orders)?,
            correct: parse_flag("correct", query.correct.as_deref())?,
            verdict: parse_choice(
                "verdict",
                query.verdict.as_deref(),
                Verdict::ALL
                    .map(|verdict| (verdict.key(), VerdictFilter::Given(verdict)))
                    .into_iter()
                    .chain([("unparseable", VerdictFilter::Unparseable)]),
            )?,
        })
    }

    fn keeps(&self, judgement: &Judgement) -> bool {
        self.task.is_none_or(|task| judgement.task == task)
            && self
                .setting
                .is_none_or(|setting| judgement.setting == setting)
            && self.order.is_none_or(|order| judgement.order == order)
            && self
                .correct
                .is_none_or(|correct| judgement.is_correct() == correct)
            && self.verdict.is_none_or(|verdict| match verdict {
                VerdictFilter::Given(given) => judgement.verdict == Some(given),
                VerdictFilter::Unparseable => judgement.verdict.is_none(),
            })
    }
}

/// `GET /runs/{id}/judgements?task=&setting=&order=&correct=&verdict=&page=&per_page=`, ordered by task
/// (column order), sample id, setting and order.
#[utoipa::path(
    get,
    path = "/runs/{id}/judgements",
    tag = "runs",
    params(
        ("id" = i64, Path, description = "The run."),
        ("task" = Option<omnireward_shared::Task>, Query, description = "Only this task."),
        ("setting" = Option<omnireward_shared::Setting>, Query, description = "Only this setting."),
        ("order" = Option<omnireward_shared::Order>, Query, description = "Only this order."),
        ("correct" = Option<bool>, Query, description = "Only right (`true`) or wrong ones."),
        ("verdict" = Option<String>, Query,
         description = "Only this verdict: `response1`, `response2`, `tie`, or `unparseable` (no verdict could be read)."),
        ("page" = Option<u64>, Query, description = "Page from 1 (default 1)."),
        ("per_page" = Option<u64>, Query, description = "Page size, 1 to 100 (default 20)."),
    ),
    responses(
        (status = 200, description = "One page of judgements.",
         body = Paged<JudgementItem>),
        (status = 400, description = "Invalid parameter.", body = super::error::ErrorBody),
        (status = 404, description = "No such run.", body = super::error::ErrorBody),
    )
)]
pub(super) async fn judgements(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<JudgementsQuery>,
) -> Result<Json<Paged<JudgementItem>>, ApiError> {
    judgements_page(&state, &id, &query).await.map(Json)
}

/// The page of run `id`'s judgements that `query` asks for: the service behind
/// `GET /runs/{id}/judgements` and the model page's judgement list.
pub(super) async fn judgements_page(
    state: &AppState,
    id: &str,
    query: &JudgementsQuery,
) -> Result<Paged<JudgementItem>, ApiError> {
    let run = parse_run_id(id)?;
    let filter = JudgementFilter::parse(query)?;
    let pagination = Pagination::parse(query.page.as_deref(), query.per_page.as_deref())?;
    Ok(judgement_page(&state.storage, run, filter, pagination).await?)
}

/// `GET /runs/{id}/judgements.jsonl`.
#[utoipa::path(
    get,
    path = "/runs/{id}/judgements.jsonl",
    tag = "runs",
    params(
        ("id" = i64, Path, description = "The run."),
        ("task" = Option<omnireward_shared::Task>, Query, description = "Only this task."),
        ("setting" = Option<omnireward_shared::Setting>, Query, description = "Only this setting."),
        ("order" = Option<omnireward_shared::Order>, Query, description = "Only this order."),
        ("correct" = Option<bool>, Query, description = "Only right (`true`) or wrong ones."),
        ("verdict" = Option<String>, Query,
         description = "Only this verdict: `response1`, `response2`, `tie`, or `unparseable`."),
    ),
    responses(
        (status = 200, description = "Every judgement of the run that passes the filters, one \
                                      `JudgementItem` JSON object per line (the objects of \
                                      `GET /runs/{id}/judgements`), as a file download.",
         content_type = "application/x-ndjson", body = String),
        (status = 400, description = "Invalid parameter.", body = super::error::ErrorBody),
        (status = 404, description = "No such run.", body = super::error::ErrorBody),
    )
)]
pub(super) async fn judgements_jsonl(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<JudgementsQuery>,
) -> Result<Response, ApiError> {
    let run = parse_run_id(&id)?;
    let filter = JudgementFilter::parse(&query)?;
    let mut lines = String::new();
    for item in judgement_items(&state.storage, run, filter).await? {
        // Serialising a wire type of plain fields cannot fail; a line that did would be left
        // out rather than fail the whole download.
        if let Ok(line) = serde_json::to_string(&item) {
            lines.push_str(&line);
            lines.push('\n');
        }
    }
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-ndjson".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"run-{}-judgements.jsonl\"", run.0),
            ),
        ],
        lines,
    )
        .into_response())
}

/// The page of a run's judgements that pass the filter.
async fn judgement_page(
    storage: &Storage,
    run: RunId,
    filter: JudgementFilter,
    pagination: Pagination,
) -> Result<Paged<JudgementItem>, StorageError> {
    Ok(pagination.page(judgement_items(storage, run, filter).await?))
}

/// A run's judgements that pass the filter, each with the verdict its scorecard counts. A
/// full-release run holds about 15,000 judgements, read whole and filtered here; a paginated
/// query can replace this when it matters.
async fn judgement_items(
    storage: &Storage,
    run: RunId,
    filter: JudgementFilter,
) -> Result<Vec<JudgementItem>, StorageError> {
    // Fails with `RunNotFound` (404) for an unknown run, which has no judgements either.
    storage.run(run).await?;
    let mut judgements = storage.judgements(run).await?;
    // The rules of the stored scorecard (the sweep's thresholds, or the fixed one an
    // administrator rescored with); a run still going has none yet, and gets the sweep's.
    let stored_rules: BTreeMap<Task, TieRule> = storage
        .scorecard(run)
        .await?
        .and_then(|mut scorecard| scorecard.settings.remove(&Setting::WithTies))
        .map(|with_ties| {
            with_ties
                .tasks
                .into_iter()
                .filter_map(|(task, score)| score.tie_rule.map(|rule| (task, rule)))
                .collect()
        })
        .unwrap_or_default();
    let rules = if stored_rules.is_empty() {
        tie_rules(&judgements, ScalarTiePolicy::Sweep)
    } else {
        stored_rules
    };
    for judgement in &mut judgements {
        judgement.verdict = decided_verdict(judgement, &rules);
    }
    Ok(judgements
        .into_iter()
        .filter(|judgement| filter.keeps(judgement))
        .map(|judgement| JudgementItem {
            correct: judgement.is_correct(),
            tie_rule: (judgement.rewards.is_some() && judgement.setting == Setting::WithTies)
                .then(|| rules.get(&judgement.task).copied())
                .flatten(),
            judgement,
        })
        .collect())
}
