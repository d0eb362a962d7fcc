//! `GET /runs/{id}` (the run record with its scorecard, or the paper's reported scores) and
//! `GET /runs/{id}/judgements` (the per-item outputs, filtered and paginated).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use omnireward_shared::scorecard::{ScalarTiePolicy, TieRule, decided_verdict, tie_rules};
use omnireward_shared::{BenchmarkIdentity, Judgement, Order, Scorecard, Setting, Task, Verdict};
use serde::{Deserialize, Serialize};

use super::{
    ApiError, ApiPath, ApiQuery, AppState, Page, Pagination, parse_choice, parse_flag, parse_task,
};
use crate::storage::{Provenance, RunId, RunRecord, Storage, StorageError};

/// A run as clients see it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct RunView {
    id: i64,
    model: RunModel,
    #[schema(value_type = super::schemas::Provenance)]
    provenance: &'static str,
    #[schema(value_type = super::schemas::RunStatus)]
    status: &'static str,
    /// The benchmark evaluated on; `null` for paper-reported runs.
    benchmark: Option<BenchmarkView>,
    /// The recorded judge configuration: `identity` (what decides resumption) and `details`.
    #[schema(value_type = Object)]
    configuration: serde_json::Value,
    /// Unix milliseconds.
    created_at_ms: i64,
    /// Unix milliseconds; `null` until the run stops.
    finished_at_ms: Option<i64>,
    /// The stored scorecard of a run evaluated here, if computed.
    #[schema(value_type = Option<super::schemas::Scorecard>)]
    scorecard: Option<Scorecard>,
    /// Per setting, the paper's numbers of a paper-reported run.
    #[schema(value_type = Option<BTreeMap<String, ReportedSetting>>)]
    reported_scores: Option<BTreeMap<Setting, ReportedSetting>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct RunModel {
    id: i64,
    name: String,
    #[schema(value_type = super::schemas::ModelKind)]
    kind: &'static str,
    group: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct BenchmarkView {
    id: i64,
    #[serde(flatten)]
    #[schema(value_type = super::schemas::BenchmarkIdentity)]
    identity: BenchmarkIdentity,
}

#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
struct ReportedSetting {
    /// Accuracy per task key, as fractions.
    #[schema(value_type = BTreeMap<String, f64>)]
    tasks: BTreeMap<Task, f64>,
    overall: Option<f64>,
}

/// `GET /runs/{id}`.
#[utoipa::path(
    get,
    path = "/runs/{id}",
    tag = "runs",
    params(("id" = i64, Path, description = "The run.")),
    responses(
        (status = 200, description = "The run with its scorecard or reported scores.",
         body = RunView),
        (status = 404, description = "No such run.", body = super::error::ErrorBody),
    )
)]
pub(super) async fn one(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<RunView>, ApiError> {
    let run = parse_run_id(&id)?;
    Ok(Json(
        run_view(&state.storage, state.storage.run(run).await?).await?,
    ))
}

/// The run id of a path segment; an id that is not a number names no run.
fn parse_run_id(id: &str) -> Result<RunId, ApiError> {
    id.parse::<i64>()
        .map(RunId)
        .map_err(|_| ApiError::NotFound(format!("run {id} does not exist")))
}

/// A run with its numbers: the scorecard for runs scored here, reported scores for paper runs.
pub(super) async fn run_view(storage: &Storage, run: RunRecord) -> Result<RunView, StorageError> {
    let benchmark = match run.benchmark {
        Some(id) => storage.benchmark(id).await?.map(|record| BenchmarkView {
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
        (None, Some(settings))
    } else {
        (storage.scorecard(run.id).await?, None)
    };
    Ok(RunView {
        id: run.id.0,
        model: RunModel {
            id: run.model.0,
            name: run.model_name,
            kind: run.model_kind.as_str(),
            group: run.model_group,
        },
        provenance: run.provenance.as_str(),
        status: run.status.as_str(),
        benchmark,
        configuration: run.configuration,
        created_at_ms: run.created_at_ms,
        finished_at_ms: run.finished_at_ms,
        scorecard,
        reported_scores,
    })
}

/// The raw query of `GET /runs/{id}/judgements`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct JudgementsQuery {
    task: Option<String>,
    setting: Option<String>,
    order: Option<String>,
    correct: Option<String>,
    verdict: Option<String>,
    page: Option<String>,
    per_page: Option<String>,
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

/// One judgement with whether its verdict matches the label. A scalar reward model's verdict is
/// the one its scorecard counts: decided from the rewards, in w/ Ties under the task's tie rule,
/// which is given beside it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct JudgementView {
    #[serde(flatten)]
    #[schema(value_type = super::schemas::Judgement)]
    judgement: Judgement,
    correct: bool,
    /// The rule that turned the margin into a w/ Ties verdict (scalar reward models only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    tie_rule: Option<TieRule>,
}

/// `GET /runs/{id}/judgements?task=&setting=&order=&correct=&verdict=&page=&per_page=`, ordered by task
/// (column order), sample id, setting and order.
#[utoipa::path(
    get,
    path = "/runs/{id}/judgements",
    tag = "runs",
    params(
        ("id" = i64, Path, description = "The run."),
        ("task" = Option<super::schemas::Task>, Query, description = "Only this task."),
        ("setting" = Option<super::schemas::Setting>, Query, description = "Only this setting."),
        ("order" = Option<super::schemas::Order>, Query, description = "Only this order."),
        ("correct" = Option<bool>, Query, description = "Only right (`true`) or wrong ones."),
        ("verdict" = Option<String>, Query,
         description = "Only this verdict: `response1`, `response2`, `tie`, or `unparseable` (no verdict could be read)."),
        ("page" = Option<u64>, Query, description = "Page from 1 (default 1)."),
        ("per_page" = Option<u64>, Query, description = "Page size, 1 to 100 (default 20)."),
    ),
    responses(
        (status = 200, description = "One page of judgements.",
         body = super::Page<JudgementView>),
        (status = 400, description = "Invalid parameter.", body = super::error::ErrorBody),
        (status = 404, description = "No such run.", body = super::error::ErrorBody),
    )
)]
pub(super) async fn judgements(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<JudgementsQuery>,
) -> Result<Json<Page<JudgementView>>, ApiError> {
    let run = parse_run_id(&id)?;
    let filter = JudgementFilter::parse(&query)?;
    let pagination = Pagination::parse(query.page.as_deref(), query.per_page.as_deref())?;
    Ok(Json(
        judgement_page(&state.storage, run, filter, pagination).await?,
    ))
}

/// The page of a run's judgements that pass the filter. A full-release run holds about 15,000
/// judgements, read whole and filtered here; a paginated query can replace this when it matters.
async fn judgement_page(
    storage: &Storage,
    run: RunId,
    filter: JudgementFilter,
    pagination: Pagination,
) -> Result<Page<JudgementView>, StorageError> {
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
    let kept = judgements
        .into_iter()
        .filter(|judgement| filter.keeps(judgement));
    Ok(pagination.page(kept).map(|judgement| JudgementView {
        correct: judgement.is_correct(),
        tie_rule: (judgement.rewards.is_some() && judgement.setting == Setting::WithTies)
            .then(|| rules.get(&judgement.task).copied())
            .flatten(),
        judgement,
    }))
}
