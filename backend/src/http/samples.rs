//! `GET /samples` (paginated, optionally one task) and `GET /samples/{task}/{id}`: the served
//! benchmark's samples, with media given as API URLs rather than server paths.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use omnireward_shared::wire::{MediaLink, Paged, ResponseView, SampleAnswer, SampleView};
use omnireward_shared::{MediaRef, Response as SampleResponse, Sample, Task};
use serde::Deserialize;

use super::media::{MediaField, media_url};
use super::{ApiError, ApiPath, ApiQuery, AppState, Pagination, parse_task};

/// The raw query of `GET /samples`.
#[derive(Debug, Deserialize)]
pub(super) struct SamplesQuery {
    pub(super) task: Option<String>,
    pub(super) page: Option<String>,
    pub(super) per_page: Option<String>,
}

/// A sample as clients see it: media as API URLs rather than server paths.
pub(super) fn sample_view(sample: &Sample) -> SampleView {
    let media = |media: &MediaRef, field| MediaLink {
        kind: media.kind,
        url: media_url(sample.task, &sample.id, field),
    };
    let response = |response: &SampleResponse, field| match response {
        SampleResponse::Text { text } => ResponseView::Text { text: text.clone() },
        SampleResponse::Media { media: item } => {
            let MediaLink { kind, url } = media(item, field);
            ResponseView::Media { kind, url }
        }
    };
    SampleView {
        id: sample.id.clone(),
        task: sample.task,
        prompt: sample.prompt.clone(),
        prompt_media: sample
            .prompt_media
            .as_ref()
            .map(|item| media(item, MediaField::PromptMedia)),
        criterion: sample.criterion.clone(),
        label: sample.label,
        response1: response(&sample.response1, MediaField::Response1),
        response2: response(&sample.response2, MediaField::Response2),
        model1: sample.model1.clone(),
        model2: sample.model2.clone(),
    }
}

/// `GET /samples?task=&page=&per_page=`: samples in benchmark order (tasks in column order).
#[utoipa::path(
    get,
    path = "/samples",
    tag = "benchmark",
    params(
        ("task" = Option<omnireward_shared::Task>, Query,
         description = "Only this task (a key or short name such as `T2I`)."),
        ("page" = Option<u64>, Query, description = "Page from 1 (default 1)."),
        ("per_page" = Option<u64>, Query, description = "Page size, 1 to 100 (default 20)."),
    ),
    responses(
        (status = 200, description = "One page of samples.", body = Paged<SampleView>),
        (status = 400, description = "Invalid parameter.", body = super::error::ErrorBody),
    )
)]
pub(super) async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<SamplesQuery>,
) -> Result<Response, ApiError> {
    Ok(Json(samples_page(&state, &query)?).into_response())
}

/// The page of samples `query` asks for: the service behind `GET /samples` and the benchmark
/// browser.
pub(super) fn samples_page(
    state: &AppState,
    query: &SamplesQuery,
) -> Result<Paged<SampleView>, ApiError> {
    let task = parse_task("task", query.task.as_deref())?;
    let pagination = Pagination::parse(query.page.as_deref(), query.per_page.as_deref())?;
    let samples = state
        .benchmark
        .samples
        .iter()
        .filter(|sample| task.is_none_or(|task| sample.task == task));
    Ok(pagination.page(samples).map(sample_view))
}

/// `GET /samples/{task}/{id}`.
#[utoipa::path(
    get,
    path = "/samples/{task}/{id}",
    tag = "benchmark",
    params(
        ("task" = omnireward_shared::Task, Path, description = "Task key or short name."),
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
    Ok(Json(sample_view(found_sample(&state, &task, &id)?)).into_response())
}

/// `GET /samples/{task}/{id}/judgements`: every stored judgement of this sample of the served
/// benchmark, across all runs and models.
#[utoipa::path(
    get,
    path = "/samples/{task}/{id}/judgements",
    tag = "benchmark",
    params(
        ("task" = omnireward_shared::Task, Path, description = "Task key or short name."),
        ("id" = String, Path, description = "Sample id."),
    ),
    responses(
        (status = 200, description = "The sample's judgements, by model.",
         body = Vec<SampleAnswer>),
        (status = 404, description = "No such sample.", body = super::error::ErrorBody),
    )
)]
pub(super) async fn judgements(
    State(state): State<AppState>,
    ApiPath((task, id)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    Ok(Json(sample_answers(&state, &task, &id).await?).into_response())
}

/// What the evaluated models answered on sample `task`/`id` (path segments): the service behind
/// `GET /samples/{task}/{id}/judgements` and the sample page.
pub(super) async fn sample_answers(
    state: &AppState,
    task: &str,
    id: &str,
) -> Result<Vec<SampleAnswer>, ApiError> {
    let sample = found_sample(state, task, id)?;
    let judgements = state
        .storage
        .sample_judgements(sample.task, &sample.id)
        .await?;
    // Runs over the whole served benchmark, or over some of its tasks (stored under a benchmark
    // of their own), judged this very content; a sample of another benchmark that shares the
    // id did not.
    let served = crate::data::content_hash(std::slice::from_ref(sample));
    Ok(judgements
        .into_iter()
        .filter(|stored| {
            stored.judged_sample.as_ref().is_some_and(|judged| {
                crate::data::content_hash(std::slice::from_ref(judged)) == served
            })
        })
        .map(|stored| SampleAnswer {
            run: stored.run.0,
            model_id: stored.model.0,
            model: stored.model_name,
            correct: stored.judgement.is_correct(),
            judgement: stored.judgement,
        })
        .collect())
}

/// The served sample `task`/`id` (path segments; the task as a key or short name).
pub(super) fn found_sample<'state>(
    state: &'state AppState,
    task: &str,
    id: &str,
) -> Result<&'state Sample, ApiError> {
    let parsed: Task = task
        .parse()
        .map_err(|_| ApiError::NotFound(format!("sample {task}/{id} does not exist")))?;
    state.sample(parsed, id)
}
