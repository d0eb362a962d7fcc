//! `POST /submissions` (queue an API judge for evaluation on the served benchmark),
//! `GET /submissions`, `GET /submissions/{id}` and `POST /submissions/{id}/cancel`.
//!
//! A submission is a job on the durable queue; a worker runs it. The judge's key reaches the
//! workers one of two ways, and is stored by neither: the submission names an environment
//! variable of the workers (`api_key_env`), or it carries the key (`api_key`), which this server
//! holds in memory only ([`crate::queue::key_vault`]) for its own workers.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use omnireward_shared::wire::{CancelAnswer, Paged, SubmissionView, Submitted};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::credentials::{TokenDigest, bearer_token, new_cancel_token};
use super::{ApiError, ApiPath, ApiQuery, AppState, Pagination};
use crate::queue::enqueue::{self, Joins};
use crate::queue::hub_checkpoints::{self, HubPolicy, is_hub_checkpoint};
use crate::queue::predictions::is_predictions;
use crate::queue::submissions::{SubmissionPolicy, api_judge};
use crate::storage::{
    Approval, Cancellation, Enqueued, Job, JobId, JobKind, RunStatus, Storage, StorageError,
};

/// A body's JSON object; other bodies are 400s with the stable error body.
fn json_object(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    // serde_json's syntax errors give a position, never the input.
    match serde_json::from_slice(bytes) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(ApiError::Malformed(
            "the body must be a JSON object".to_owned(),
        )),
        Err(error) => Err(ApiError::Malformed(format!(
            "the body is not valid JSON: {error}"
        ))),
    }
}

/// A submission as clients see it.
fn submission_view(job: Job, position: Option<u64>, approval: Approval) -> SubmissionView {
    let text = |field: &str| {
        job.specification
            .get(field)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    SubmissionView {
        id: job.id.0,
        run: job.run.0,
        kind: job.kind.as_str().to_owned(),
        model: text("model"),
        endpoint: text("endpoint"),
        status: job.status,
        approval,
        cancel_requested: job.cancel_requested,
        attempts: job.attempts,
        error: job.error,
        created_at_ms: job.created_at_ms,
        started_at_ms: job.started_at_ms,
        finished_at_ms: job.finished_at_ms,
        position,
    }
}

/// The raw query of `GET /submissions`.
#[derive(Debug, Deserialize)]
pub(super) struct SubmissionsQuery {
    page: Option<String>,
    per_page: Option<String>,
}

/// `POST /submissions`: 201 with a new job, or 200 with the queued or running job of the same
/// run (same judge, request options, prompts and benchmark).
#[utoipa::path(
    post,
    path = "/submissions",
    tag = "submissions",
    request_body(content((super::submission_bodies::JsonSubmission = "application/json"),
                         (super::submission_bodies::UploadForm = "multipart/form-data")),
                 description = "An API judge or a reward model named by Hugging Face repository \
                                (JSON), or a reward-model checkpoint uploaded file by file \
                                (multipart), to evaluate on the served benchmark."),
    responses(
        (status = 201, description = "Queued (awaiting approval when the server requires it); \
                                      an upload's answer also describes the `checkpoint`; \
                                      predictions are checked, scored and stored as a \
                                      finished run at once (body `PredictionsAccepted`).",
         body = Submitted),
        (status = 200, description = "The same run's queued or running submission (for an \
                                      upload, also a finished one).",
         body = Submitted),
        (status = 400, description = "Malformed or refused body.", body = super::error::ErrorBody),
        (status = 413, description = "An upload over the server's limit, predictions over \
                                      32 MiB, or another JSON body over 1 MiB.",
         body = super::error::ErrorBody),
        (status = 422, description = "A refused checkpoint (pickle files, invalid safetensors \
                                      headers, missing files, unsupported architecture, over \
                                      the size limit), a Hub repository the server cannot \
                                      read, or predictions refused item by item (unknown \
                                      sample, wrong label, missing setting, duplicate: the \
                                      message names task, sample id and setting).",
         body = super::error::ErrorBody),
        (status = 503, description = "Uploads or Hub repositories sent to a server that does \
                                      not accept them, or the Hub could not be reached.",
         body = super::error::ErrorBody),
        (status = 429, description = "Too many submissions from this address; see `Retry-After`.",
         body = super::error::ErrorBody,
         headers(("Retry-After" = u64, description = "Seconds until one is admitted."))),
    )
)]
pub(super) async fn create(
    State(state): State<AppState>,
    _admitted: super::rate_limit::SubmissionAdmitted,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    // The route reads up to the predictions limit; every other body, JSON or not, keeps the
    // API's.
    let body = match json_object(&bytes) {
        Ok(body) if is_predictions(&body) => {
            let (status, accepted) = super::predictions::submit(&state, body).await?;
            return Ok((status, Json(accepted)).into_response());
        }
        _ if bytes.len() > super::REQUEST_BODY_LIMIT => {
            return Err(ApiError::TooLarge(format!(
                "the body is larger than this server's limit of {} bytes for submissions \
                 other than predictions",
                super::REQUEST_BODY_LIMIT
            )));
        }
        body => body?,
    };
    let (status, submitted) = submit_json(&state, body).await?;
    Ok((status, Json(submitted)).into_response())
}

/// Queues what a JSON submission describes, an API judge or a checkpoint named by Hub
/// repository (or joins its run's active job): the service behind `POST /submissions` and the
/// submit page's forms. The caller has admitted the submission under the server's rate limit.
pub(super) async fn submit_json(
    state: &AppState,
    body: Map<String, Value>,
) -> Result<(StatusCode, Submitted), ApiError> {
    if is_hub_checkpoint(&body) {
        let Some(hub) = &state.hub else {
            return Err(ApiError::Unavailable(
                "this server does not take checkpoints named by Hub repository".to_owned(),
            ));
        };
        let policy = HubPolicy {
            served: &state.benchmark,
            client: &hub.client,
            max_bytes: hub.max_bytes,
            cache_dir: &hub.cache_dir,
        };
        let (enqueued, run) =
            hub_checkpoints::submit(&state.storage, &policy, body, state.require_approval).await?;
        return submitted(state, enqueued, run).await;
    }
    let submission = api_judge(
        &SubmissionPolicy {
            served: &state.benchmark,
            allow_private_endpoints: state.allow_private_endpoints,
            key_bindings: &state.key_bindings,
            key_vault: state.key_vault.as_ref(),
        },
        body,
    )?;
    let benchmark = submission.benchmark.as_ref().unwrap_or(&state.benchmark);
    let (enqueued, run) = enqueue::submit(
        &state.storage,
        &enqueue::Submission {
            model: &submission.model,
            benchmark,
            identity: &submission.identity,
            details: submission.details.clone(),
            kind: JobKind::ApiJudge,
            specification: &submission.specification,
            settings: &submission.settings,
        },
        Joins::Active,
        state.require_approval,
    )
    .await?;
    submitted(state, enqueued, run).await
}

/// The answer to a queued (201) or joined (200) submission, with a new one's cancel token.
async fn submitted(
    state: &AppState,
    enqueued: Enqueued,
    run: crate::storage::RunId,
) -> Result<(StatusCode, Submitted), ApiError> {
    let cancel_token = issue_cancel_token(&state.storage, enqueued).await?;
    let job = state.storage.job(enqueued.job()).await?;
    let position = state.storage.queue_position(job.id).await?;
    let status = match enqueued {
        Enqueued::Created(_) => StatusCode::CREATED,
        Enqueued::Existing(_) => StatusCode::OK,
    };
    let submitted = Submitted {
        submission: job.id.0,
        run: run.0,
        status: job.status,
        approval: state.storage.job_approval(job.id).await?,
        position,
        cancel_token,
    };
    Ok((status, submitted))
}

/// `GET /submissions`: every submission, oldest first, paginated.
#[utoipa::path(
    get,
    path = "/submissions",
    tag = "submissions",
    params(
        ("page" = Option<u64>, Query, description = "Page from 1 (default 1)."),
        ("per_page" = Option<u64>, Query, description = "Page size, 1 to 100 (default 20)."),
    ),
    responses(
        (status = 200, description = "One page of submissions, oldest first.",
         body = Paged<SubmissionView>),
        (status = 400, description = "Invalid parameter.", body = super::error::ErrorBody),
    )
)]
pub(super) async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<SubmissionsQuery>,
) -> Result<Json<Paged<SubmissionView>>, ApiError> {
    let pagination = Pagination::parse(query.page.as_deref(), query.per_page.as_deref())?;
    submissions_page(&state, pagination).await.map(Json)
}

/// Every submission, oldest first, paginated: the service behind `GET /submissions` and the
/// queue page.
pub(super) async fn submissions_page(
    state: &AppState,
    pagination: Pagination,
) -> Result<Paged<SubmissionView>, ApiError> {
    let jobs = state.storage.jobs().await?;
    let approvals = state.storage.job_approvals().await?;
    let mut queued_before = 0;
    let views = jobs.into_iter().map(|job| {
        let approval = approvals
            .get(&job.id)
            .copied()
            .unwrap_or(Approval::NotRequired);
        // Jobs awaiting approval are not in line for a worker.
        let position =
            (job.status == RunStatus::Queued && approval != Approval::Pending).then(|| {
                queued_before += 1;
                queued_before
            });
        submission_view(job, position, approval)
    });
    // Positions are counted over the whole queue before the page is cut.
    let views: Vec<_> = views.collect();
    Ok(pagination.page(views))
}

/// `GET /submissions/{id}`.
#[utoipa::path(
    get,
    path = "/submissions/{id}",
    tag = "submissions",
    params(("id" = i64, Path, description = "The submission.")),
    responses(
        (status = 200, description = "The submission.", body = SubmissionView),
        (status = 400, description = "The id is not a number.", body = super::error::ErrorBody),
        (status = 404, description = "No such submission.", body = super::error::ErrorBody),
    )
)]
pub(super) async fn one(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<SubmissionView>, ApiError> {
    submission(&state, id).await.map(Json)
}

/// Submission `id`: the service behind `GET /submissions/{id}` and its status page.
pub(super) async fn submission(state: &AppState, id: i64) -> Result<SubmissionView, ApiError> {
    let job = state.storage.job(JobId(id)).await.map_err(not_found)?;
    let position = state.storage.queue_position(job.id).await?;
    let approval = state.storage.job_approval(job.id).await?;
    Ok(submission_view(job, position, approval))
}

/// A new submission's cancel token, its digest recorded on the job; `None` when the request
/// joined an existing job (whose token went to its creator alone).
pub(super) async fn issue_cancel_token(
    storage: &Storage,
    enqueued: Enqueued,
) -> Result<Option<String>, StorageError> {
    let Enqueued::Created(job) = enqueued else {
        return Ok(None);
    };
    let token = new_cancel_token();
    let recorded = storage
        .set_job_cancel_digest(job, &TokenDigest::of(&token).to_hex())
        .await?;
    Ok(recorded.then_some(token))
}

/// Whether the request may cancel `job`: it carries the job's cancel token or the
/// administrator's token. 401 without a token, 403 with one that is neither.
async fn check_canceller(
    state: &AppState,
    job: JobId,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    if state
        .admin_token
        .as_ref()
        .is_some_and(|token| token.presented_in(headers))
    {
        return Ok(());
    }
    let Some(presented) = bearer_token(headers) else {
        return Err(ApiError::Unauthorized(format!(
            "cancelling submission {} needs its cancel token (returned once, as `cancel_token`, \
             when it was created) as `Authorization: Bearer <token>`",
            job.0
        )));
    };
    let digest = state.storage.job_cancel_digest(job).await?;
    match digest.as_deref().and_then(TokenDigest::from_hex) {
        Some(digest) if digest.matches(presented) => Ok(()),
        Some(_) => Err(ApiError::Forbidden(format!(
            "this token does not cancel submission {}",
            job.0
        ))),
        None => Err(ApiError::Forbidden(format!(
            "submission {} was queued without a cancel token; only an administrator can cancel it",
            job.0
        ))),
    }
}

/// `POST /submissions/{id}/cancel`: a queued job is cancelled at once, a running one is asked
/// to stop at its worker's next heartbeat; a stopped one is a 409. Only the submitter (with the
/// cancel token the submission returned) or the administrator may cancel.
#[utoipa::path(
    post,
    path = "/submissions/{id}/cancel",
    tag = "submissions",
    params(("id" = i64, Path, description = "The submission.")),
    security(("cancel_token" = []), ("admin_token" = [])),
    responses(
        (status = 200, description = "Cancelled, or cancellation requested of its worker.",
         body = CancelAnswer),
        (status = 401, description = "No token: send the submission's cancel token.",
         body = super::error::ErrorBody),
        (status = 403, description = "A token that does not cancel this submission.",
         body = super::error::ErrorBody),
        (status = 404, description = "No such submission.", body = super::error::ErrorBody),
        (status = 409, description = "Already stopped.", body = super::error::ErrorBody),
    )
)]
pub(super) async fn cancel(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    headers: HeaderMap,
) -> Result<Json<CancelAnswer>, ApiError> {
    cancel_submission(&state, id, &headers).await.map(Json)
}

/// Cancels submission `id` for a request with these headers (its cancel token or the
/// administrator's, as a bearer token): the service behind `POST /submissions/{id}/cancel` and
/// the status page's cancel button.
pub(super) async fn cancel_submission(
    state: &AppState,
    id: i64,
    headers: &HeaderMap,
) -> Result<CancelAnswer, ApiError> {
    let job = state.storage.job(JobId(id)).await.map_err(not_found)?;
    check_canceller(state, job.id, headers).await?;
    let status = match state.storage.cancel_job(job.id).await? {
        Cancellation::Cancelled => {
            if state.storage.active_job(job.run).await?.is_none() {
                state
                    .storage
                    .set_run_status(job.run, RunStatus::Cancelled)
                    .await?;
            }
            "cancelled"
        }
        Cancellation::Requested => "cancel_requested",
        Cancellation::AlreadyStopped(status) => {
            return Err(ApiError::Conflict(format!(
                "submission {id} has already stopped ({}) and cannot be cancelled",
                status.as_str()
            )));
        }
    };
    Ok(CancelAnswer {
        submission: id,
        status: status.to_owned(),
    })
}

/// A missing job is the client's 404.
fn not_found(error: StorageError) -> ApiError {
    match error {
        StorageError::JobNotFound(job) => {
            ApiError::NotFound(format!("submission {job} does not exist"))
        }
        other => ApiError::Storage(other),
    }
}
