//! `GET /samples` (paginated, optionally one task) and `GET /samples/{task}/{id}`: the served
//! benchmark's samples, with media given as API URLs rather than server paths.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use omnireward_shared::{Label, MediaKind, MediaRef, Response as SampleResponse, Sample, Task};
use serde::{Deserialize, Serialize};

use super::media::{MediaField, media_url};
use super::{ApiError, ApiPath, ApiQuery, AppState, Pagination, parse_task};

/// The raw query of `GET /samples`.
#[derive(Debug, Deserialize)]
pub(super) struct SamplesQuery {
    task: Option<String>,
    page: Option<String>,
    per_page: Option<String>,
}

/// A sample as clients see it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct SampleView<'sample> {
    id: &'sample str,
    #[schema(value_type = super::schemas::Task)]
    task: Task,
    prompt: &'sample str,
    prompt_media: Option<MediaView>,
    criterion: &'sample str,
    #[schema(value_type = super::schemas::Preference)]
    label: Label,
    response1: ResponseView<'sample>,
    response2: ResponseView<'sample>,
    model1: Option<&'sample str>,
    model2: Option<&'sample str>,
}

/// A media item: its kind and where the API serves it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct MediaView {
    #[schema(value_type = super::schemas::MediaKind)]
    kind: MediaKind,
    url: String,
}

/// A response: its text, or its media.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ResponseView<'sample> {
    Text {
        text: &'sample str,
    },
    Media {
        #[schema(value_type = super::schemas::MediaKind)]
        kind: MediaKind,
        url: String,
    },
}

impl<'sample> SampleView<'sample> {
    fn new(sample: &'sample Sample) -> SampleView<'sample> {
        let media = |media: &MediaRef, field| MediaView {
            kind: media.kind,
            url: media_url(sample.task, &sample.id, field),
        };
        let response = |response: &'sample SampleResponse, field| match response {
            SampleResponse::Text { text } => ResponseView::Text { text },
            SampleResponse::Media { media: item } => {
                let MediaView { kind, url } = media(item, field);
                ResponseView::Media { kind, url }
            }
        };
        SampleView {
            id: &sample.id,
            task: sample.task,
            prompt: &sample.prompt,
            prompt_media: sample
                .prompt_media
                .as_ref()
                .map(|item| media(item, MediaField::PromptMedia)),
            criterion: &sample.criterion,
            label: sample.label,
            response1: response(&sample.response1, MediaField::Response1),
            response2: response(&sample.response2, MediaField::Response2),
            model1: sample.model1.as_deref(),
            model2: sample.model2.as_deref(),
        }
    }
}

/// `GET /samples?task=&page=&per_page=`: samples in benchmark order (tasks in column order).
#[utoipa::path(
    get,
    path = "/samples",
    tag = "benchmark",
    params(
        ("task" = Option<super::schemas::Task>, Query,
         description = "Only this task (a key or short name such as `T2I`)."),
        ("page" = Option<u64>, Query, description = "Page from 1 (default 1)."),
        ("per_page" = Option<u64>, Query, description = "Page size, 1 to 100 (default 20)."),
    ),
    responses(
        (status = 200, description = "One page of samples.", body = super::Page<SampleView>),
        (status = 400, description = "Invalid parameter.", body = super::error::ErrorBody),
    )
)]
pub(super) async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<SamplesQuery>,
) -> Result<Response, ApiError> {
    let task = parse_task("task", query.task.as_deref())?;
    let pagination = Pagination::parse(query.page.as_deref(), query.per_page.as_deref())?;
    let samples = state
        .benchmark
        .samples
        .iter()
        .filter(|sample| task.is_none_or(|task| sample.task == task));
    Ok(Json(pagination.page(samples).map(SampleView::new)).into_response())
}

/// `GET /samples/{task}/{id}`.
#[utoipa::path(
    get,
    path = "/samples/{task}/{id}",
    tag = "benchmark",
    params(
        ("task" = super::schemas::Task, Path, description = "Task key or short name."),
        ("id" = String, Path, description = "Sample id."),
    ),
    responses(
        (status = 200, description = "The sample; media as API URLs.", body = SampleView),
        (status = 404, description = "No such sample.", body = super::error::ErrorBody),
    )
)]
pub(super) async fn one(
    State(state): State<AppState>,
    ApiPath((task, id)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    let parsed: Task = task
        .parse()
        .map_err(|_| ApiError::NotFound(format!("sample {task}/{id} does not exist")))?;
    Ok(Json(SampleView::new(state.sample(parsed, &id)?)).into_response())
}

/// What one model answered on a sample.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct SampleJudgementView {
    run: i64,
    model_id: i64,
    model: String,
    #[schema(value_type = super::schemas::Judgement)]
    judgement: omnireward_shared::Judgement,
    /// Whether the verdict matches the human label.
    correct: bool,
}

/// `GET /samples/{task}/{id}/judgements`: every stored judgement of this sample of the served
/// benchmark, across all runs and models.
#[utoipa::path(
    get,
    path = "/samples/{task}/{id}/judgements",
    tag = "benchmark",
    params(
        ("task" = super::schemas::Task, Path, description = "Task key or short name."),
        ("id" = String, Path, description = "Sample id."),
    ),
    responses(
        (status = 200, description = "The sample's judgements, by model.",
         body = Vec<SampleJudgementView>),
        (status = 404, description = "No such sample.", body = super::error::ErrorBody),
    )
)]
pub(super) async fn judgements(
    State(state): State<AppState>,
    ApiPath((task, id)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    let parsed: Task = task
        .parse()
        .map_err(|_| ApiError::NotFound(format!("sample {task}/{id} does not exist")))?;
    let sample = state.sample(parsed, &id)?;
    let judgements = state
        .storage
        .sample_judgements(sample.task, &sample.id)
        .await?;
    // Runs over the whole served benchmark, or over some of its tasks (stored under a benchmark
    // of their own), judged this very content; a sample of another benchmark that shares the
    // id did not.
    let served = crate::data::content_hash(std::slice::from_ref(sample));
    let views: Vec<SampleJudgementView> = judgements
        .into_iter()
        .filter(|stored| {
            stored.judged_sample.as_ref().is_some_and(|judged| {
                crate::data::content_hash(std::slice::from_ref(judged)) == served
            })
        })
        .map(|stored| SampleJudgementView {
            run: stored.run.0,
            model_id: stored.model.0,
            model: stored.model_name,
            correct: stored.judgement.is_correct(),
            judgement: stored.judgement,
        })
        .collect();
    Ok(Json(views).into_response())
}
