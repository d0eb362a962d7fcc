//! `POST /submissions` (queue an API judge for evaluation on the served benchmark),
//! `GET /submissions`, `GET /submissions/{id}` and `POST /submissions/{id}/cancel`.
//!
//! A submission is a job on the durable queue; a worker runs it. The judge's key reaches the
//! workers one of two ways, and is stored by neither: the submission names an environment
//! variable of the workers (`api_key_env`), or it carries the key (`api_key`), which this server
//! holds in memory only ([`crate::queue::key_vault`]) for its own workers.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use omnireward_shared::{Setting, Task};
use reqwest::Url;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::credentials::{TokenDigest, bearer_token, new_cancel_token};
use super::{ApiError, ApiPath, ApiQuery, AppState, Page, Pagination};
use crate::data::{self, Benchmark};
use crate::evaluation::identity::{ApiJudgeIdentity, RunIdentity};
use crate::judges::api::address_policy::is_private;
use crate::judges::api::client::ApiKey;
use crate::judges::api::prompts::PromptSet;
use crate::judges::api::request::{AudioParts, RequestOptions};
use crate::queue::enqueue::{self, Joins};
use crate::queue::key_vault::is_held_reference;
use crate::queue::worker::{
    ApiJudgeSpecification, BenchmarkSpecification, KEY_VARIABLE_PREFIX, PromptsSpecification,
};
use crate::storage::{
    Approval, Cancellation, Enqueued, Job, JobId, JobKind, ModelKind, NewModel, RunStatus, Storage,
    StorageError,
};

/// Requests in flight when the submission gives no `concurrency`.
const DEFAULT_CONCURRENCY: usize = 16;

/// Most requests in flight a submission may ask for.
const MAX_CONCURRENCY: usize = 64;

/// Defaults of `eval api`, so a submission and the CLI open the same run.
const PROMPT_VIDEO_FRAMES: usize = 10;
const RESPONSE_VIDEO_FRAMES: usize = 5;
const VERDICT_ATTEMPTS: u32 = 5;
const TIMEOUT_SECONDS: u64 = 120;
const HTTP_ATTEMPTS: u32 = 5;
const BACKOFF_MS: u64 = 1000;

/// Body fields that would carry a secret under another name than `api_key`; refused with an
/// explanation rather than as unknown.
const SECRET_FIELDS: [&str; 3] = ["apikey", "key", "authorization"];

/// The body of `POST /submissions`, as sent.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SubmissionRequest {
    kind: SubmissionKind,
    /// Leaderboard name [default: the model].
    name: Option<String>,
    /// OpenAI-compatible base URL (`…/v1`) or full `…/chat/completions` URL.
    endpoint: String,
    /// The `model` field sent.
    model: String,
    /// The workers' environment variable holding the key (`OMNIREWARD_KEY_…`); never the key.
    api_key_env: Option<String>,
    /// Which settings to judge [default: both].
    #[serde(default)]
    settings: SettingsChoice,
    /// Judge every item again with A and B exchanged [default: no].
    #[serde(default)]
    swap: bool,
    /// Task keys or short names [default: all].
    tasks: Option<Vec<String>>,
    temperature: Option<f64>,
    max_tokens: Option<u32>,
    /// Requests in flight, 1 to 64 [default 16].
    concurrency: Option<usize>,
}

/// What a submission evaluates; API judges only for now.
#[derive(Clone, Copy, Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
enum SubmissionKind {
    ApiJudge,
}

/// Which settings to judge.
#[derive(Clone, Copy, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
enum SettingsChoice {
    #[default]
    Both,
    WithTies,
    WithoutTies,
}

impl SettingsChoice {
    fn settings(self) -> Vec<Setting> {
        match self {
            SettingsChoice::Both => Setting::ALL.to_vec(),
            SettingsChoice::WithTies => vec![Setting::WithTies],
            SettingsChoice::WithoutTies => vec![Setting::WithoutTies],
        }
    }
}

/// A validated submission: what the run is, and what the job needs.
struct Submission {
    model: NewModel,
    /// The served benchmark, or the part of it holding the chosen tasks.
    benchmark: Option<Benchmark>,
    identity: RunIdentity,
    details: Value,
    specification: Value,
    settings: Vec<Setting>,
}

/// The JSON object body of a request; other bodies are 400s with the stable error body.
pub(super) struct JsonObject(Map<String, Value>);

impl<State: Send + Sync> FromRequest<State> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &State) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| ApiError::Malformed(rejection.body_text()))?;
        // serde_json's syntax errors give a position, never the input.
        match serde_json::from_slice(&bytes) {
            Ok(Value::Object(object)) => Ok(JsonObject(object)),
            Ok(_) => Err(ApiError::Malformed(
                "the body must be a JSON object".to_owned(),
            )),
            Err(error) => Err(ApiError::Malformed(format!(
                "the body is not valid JSON: {error}"
            ))),
        }
    }
}

/// A submission as clients see it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct SubmissionView {
    id: i64,
    run: i64,
    kind: &'static str,
    model: Option<String>,
    endpoint: Option<String>,
    #[schema(value_type = super::schemas::RunStatus)]
    status: &'static str,
    /// Whether it waits for an administrator (`serve --require-approval`).
    #[schema(value_type = super::schemas::Approval)]
    approval: &'static str,
    cancel_requested: bool,
    attempts: u64,
    error: Option<String>,
    /// Unix milliseconds.
    created_at_ms: i64,
    /// Unix milliseconds of the latest claim.
    started_at_ms: Option<i64>,
    /// Unix milliseconds; `null` until it stops.
    finished_at_ms: Option<i64>,
    /// 1 for the next job a worker claims; `null` unless queued.
    position: Option<u64>,
}

impl SubmissionView {
    fn new(job: Job, position: Option<u64>) -> SubmissionView {
        let text = |field: &str| {
            job.specification
                .get(field)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        SubmissionView {
            id: job.id.0,
            run: job.run.0,
            kind: job.kind.as_str(),
            model: text("model"),
            endpoint: text("endpoint"),
            status: job.status.as_str(),
            approval: Approval::NotRequired.as_str(),
            cancel_requested: job.cancel_requested,
            attempts: job.attempts,
            error: job.error,
            created_at_ms: job.created_at_ms,
            started_at_ms: job.started_at_ms,
            finished_at_ms: job.finished_at_ms,
            position,
        }
    }
}

impl SubmissionView {
    fn with_approval(mut self, approval: Approval) -> SubmissionView {
        self.approval = approval.as_str();
        self
    }
}

/// The answer to `POST /submissions`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct SubmittedView {
    submission: i64,
    run: i64,
    #[schema(value_type = super::schemas::RunStatus)]
    status: &'static str,
    /// `pending` when the server requires approval before workers may claim it.
    #[schema(value_type = super::schemas::Approval)]
    approval: &'static str,
    /// 1 for the next job a worker claims; `null` unless queued and claimable.
    position: Option<u64>,
    /// Sent once, with a new submission (201) only: the token that cancels it, as
    /// `Authorization: Bearer <token>` on `POST /submissions/{id}/cancel`. The server keeps
    /// only its SHA-256; `null` when this request joined an existing submission.
    cancel_token: Option<String>,
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
    request_body(content((SubmissionRequest = "application/json"),
                         (super::schemas::UploadForm = "multipart/form-data")),
                 description = "An API judge (JSON), or a reward-model checkpoint uploaded file \
                                by file (multipart), to evaluate on the served benchmark."),
    responses(
        (status = 201, description = "Queued (awaiting approval when the server requires it); \
                                      an upload's answer also describes the `checkpoint`.",
         body = SubmittedView),
        (status = 200, description = "The same run's queued or running submission (for an \
                                      upload, also a finished one).",
         body = SubmittedView),
        (status = 400, description = "Malformed or refused body.", body = super::error::ErrorBody),
        (status = 413, description = "An upload over the server's limit.",
         body = super::error::ErrorBody),
        (status = 422, description = "A refused checkpoint (pickle files, invalid safetensors \
                                      headers, missing files, unsupported architecture).",
         body = super::error::ErrorBody),
        (status = 503, description = "Uploads sent to a server that does not accept them.",
         body = super::error::ErrorBody),
        (status = 429, description = "Too many submissions from this address; see `Retry-After`.",
         body = super::error::ErrorBody,
         headers(("Retry-After" = u64, description = "Seconds until one is admitted."))),
    )
)]
pub(super) async fn create(
    State(state): State<AppState>,
    _admitted: super::rate_limit::SubmissionAdmitted,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let submission = validate(&state, body)?;
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
    let cancel_token = issue_cancel_token(&state.storage, enqueued).await?;
    let job = state.storage.job(enqueued.job()).await?;
    let position = state.storage.queue_position(job.id).await?;
    let status = match enqueued {
        Enqueued::Created(_) => StatusCode::CREATED,
        Enqueued::Existing(_) => StatusCode::OK,
    };
    let view = SubmittedView {
        submission: job.id.0,
        run: run.0,
        status: job.status.as_str(),
        approval: state.storage.job_approval(job.id).await?.as_str(),
        position,
        cancel_token,
    };
    Ok((status, Json(view)).into_response())
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
         body = super::Page<SubmissionView>),
        (status = 400, description = "Invalid parameter.", body = super::error::ErrorBody),
    )
)]
pub(super) async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<SubmissionsQuery>,
) -> Result<Json<Page<SubmissionView>>, ApiError> {
    let pagination = Pagination::parse(query.page.as_deref(), query.per_page.as_deref())?;
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
        SubmissionView::new(job, position).with_approval(approval)
    });
    // Positions are counted over the whole queue before the page is cut.
    let views: Vec<_> = views.collect();
    Ok(Json(pagination.page(views)))
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
    let job = state.storage.job(JobId(id)).await.map_err(not_found)?;
    let position = state.storage.queue_position(job.id).await?;
    let approval = state.storage.job_approval(job.id).await?;
    Ok(Json(
        SubmissionView::new(job, position).with_approval(approval),
    ))
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
         body = super::schemas::CancelView),
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
) -> Result<Response, ApiError> {
    let job = state.storage.job(JobId(id)).await.map_err(not_found)?;
    check_canceller(&state, job.id, &headers).await?;
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
    Ok(Json(json!({ "submission": id, "status": status })).into_response())
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

/// Checks the body and builds the run identity and job specification `eval api` would build
/// from the same arguments.
fn validate(state: &AppState, mut body: Map<String, Value>) -> Result<Submission, ApiError> {
    let submitted_key = take_api_key(state, &mut body)?;
    if let Some(field) = body
        .keys()
        .find(|field| SECRET_FIELDS.contains(&field.to_ascii_lowercase().as_str()))
    {
        // The value is dropped unread and never echoed.
        return Err(ApiError::Malformed(format!(
            "`{field}` is not accepted: send the key as `api_key` (held in this server's memory \
             only), or set it in the workers' environment and name the variable in `api_key_env`"
        )));
    }
    // Present but null means absent, as for every optional field.
    body.retain(|_, value| !value.is_null());
    let request: SubmissionRequest = serde_json::from_value(Value::Object(body))
        .map_err(|error| ApiError::Malformed(format!("invalid submission: {error}")))?;
    let SubmissionKind::ApiJudge = request.kind;
    let endpoint = checked_endpoint(&request.endpoint, state.allow_private_endpoints)?;
    let model = request.model.trim();
    if model.is_empty() {
        return Err(ApiError::Malformed("`model` must not be empty".to_owned()));
    }
    let name = match request.name.as_deref().map(str::trim) {
        Some("") => return Err(ApiError::Malformed("`name` must not be empty".to_owned())),
        Some(name) => name.to_owned(),
        None => model.to_owned(),
    };
    if submitted_key.is_some() && request.api_key_env.is_some() {
        return Err(ApiError::Malformed(
            "give the key either as `api_key` or through `api_key_env`, not both".to_owned(),
        ));
    }
    if let Some(variable) = &request.api_key_env
        && (!(is_variable_name(variable) && variable.starts_with(KEY_VARIABLE_PREFIX))
            || is_held_reference(variable))
    {
        // Not echoed: a key pasted here by mistake must not come back.
        return Err(ApiError::Malformed(format!(
            "`api_key_env` must name an environment variable of the workers that starts with \
             `{KEY_VARIABLE_PREFIX}` (for example `{KEY_VARIABLE_PREFIX}OPENAI`), not the key \
             itself: other variables are refused so a submission cannot send a worker's secrets \
             to its endpoint"
        )));
    }
    if let Some(variable) = &request.api_key_env {
        state
            .key_bindings
            .check(variable, &endpoint)
            .map_err(|error| ApiError::Malformed(error.to_string()))?;
    }
    let concurrency = request.concurrency.unwrap_or(DEFAULT_CONCURRENCY);
    if !(1..=MAX_CONCURRENCY).contains(&concurrency) {
        return Err(ApiError::InvalidParameter {
            parameter: "concurrency",
            value: concurrency.to_string(),
            expected: format!("a whole number from 1 to {MAX_CONCURRENCY}"),
        });
    }
    if let Some(temperature) = request.temperature
        && !(temperature.is_finite() && temperature >= 0.0)
    {
        return Err(ApiError::InvalidParameter {
            parameter: "temperature",
            value: temperature.to_string(),
            expected: "a number from 0".to_owned(),
        });
    }
    if request.max_tokens == Some(0) {
        return Err(ApiError::InvalidParameter {
            parameter: "max_tokens",
            value: "0".to_owned(),
            expected: "a whole number from 1".to_owned(),
        });
    }
    let tasks = parse_tasks(request.tasks.as_deref().unwrap_or_default())?;
    let benchmark = chosen_tasks(&state.benchmark, &tasks)?;

    let prompts = PromptSet::builtin();
    let request_options = RequestOptions {
        model: model.to_owned(),
        temperature: request.temperature,
        max_tokens: request.max_tokens,
        extra_body: Map::new(),
        prompt_video_frames: PROMPT_VIDEO_FRAMES,
        response_video_frames: RESPONSE_VIDEO_FRAMES,
        audio_parts: AudioParts::Joined,
    };
    // Built as `eval api` builds it from the same arguments: equal identities mean one run.
    let identity = RunIdentity::Api(ApiJudgeIdentity::new(
        endpoint.clone(),
        &request_options,
        &prompts,
        VERDICT_ATTEMPTS,
    ));
    let details = json!({
        "omnireward_version": env!("CARGO_PKG_VERSION"),
        "concurrency": concurrency,
        "requests_per_minute": null,
        "timeout_seconds": TIMEOUT_SECONDS,
        "http_attempts": HTTP_ATTEMPTS,
        "prices_per_million_tokens": null,
        "max_cost": null,
        "submitted_over_http": true,
    });
    let served = &state.benchmark;
    let embedded = served.identity.name == data::embedded::NAME
        && served.identity.version == data::embedded::VERSION;
    let specification = ApiJudgeSpecification {
        endpoint: endpoint.clone(),
        model: model.to_owned(),
        // Last, once everything else is valid: a refused submission holds no key.
        api_key_env: match (submitted_key, &state.key_vault) {
            (Some(key), Some(vault)) => Some(vault.hold(key)),
            _ => request.api_key_env.clone(),
        },
        public_addresses_only: !state.allow_private_endpoints,
        temperature: request.temperature,
        max_tokens: request.max_tokens,
        extra_body: Map::new(),
        prompt_video_frames: PROMPT_VIDEO_FRAMES,
        response_video_frames: RESPONSE_VIDEO_FRAMES,
        audio_parts: "joined".to_owned(),
        prompts: PromptsSpecification {
            folder: None,
            hash: prompts.hash.clone(),
        },
        benchmark: BenchmarkSpecification {
            data: (!embedded).then(|| served.root.clone()),
            tasks,
            media_dir: None,
            skip_invalid: !served.skipped.is_empty(),
        },
        settings: request.settings.settings(),
        swap: request.swap,
        concurrency,
        requests_per_minute: None,
        verdict_attempts: VERDICT_ATTEMPTS,
        timeout_seconds: TIMEOUT_SECONDS,
        http_attempts: HTTP_ATTEMPTS,
        backoff_ms: BACKOFF_MS,
        prices_per_million_tokens: None,
        max_cost: None,
        judgements_file: None,
    };
    let specification = serde_json::to_value(&specification).map_err(|error| {
        ApiError::Internal(format!("cannot encode a job specification: {error}"))
    })?;
    Ok(Submission {
        model: NewModel::named(name, ModelKind::ApiJudge),
        benchmark,
        identity,
        details,
        specification,
        settings: request.settings.settings(),
    })
}

/// Parses task keys or short names; `all` or an empty list means every task.
pub(super) fn parse_tasks(names: &[String]) -> Result<Vec<Task>, ApiError> {
    let mut tasks = Vec::new();
    for name in names {
        if name.eq_ignore_ascii_case("all") {
            continue;
        }
        let task: Task = name.parse().map_err(|_| ApiError::InvalidParameter {
            parameter: "tasks",
            value: name.clone(),
            expected: format!(
                "task keys or short names: {}",
                Task::ALL.map(Task::key).join(", ")
            ),
        })?;
        if !tasks.contains(&task) {
            tasks.push(task);
        }
    }
    Ok(tasks)
}

/// The served benchmark restricted to `tasks` (`None`: all of it), with the hash the loader
/// gives the same restriction, so the worker's reload matches the run.
pub(super) fn chosen_tasks(
    served: &Benchmark,
    tasks: &[Task],
) -> Result<Option<Benchmark>, ApiError> {
    if tasks.is_empty() {
        return Ok(None);
    }
    if let Some(missing) = tasks
        .iter()
        .find(|task| served.task_samples(**task).next().is_none())
    {
        return Err(ApiError::InvalidParameter {
            parameter: "tasks",
            value: missing.key().to_owned(),
            expected: "tasks the served benchmark has samples of".to_owned(),
        });
    }
    let mut chosen = served.clone();
    chosen.samples.retain(|sample| tasks.contains(&sample.task));
    chosen.files.retain(|task, _| tasks.contains(task));
    chosen.rows_read.retain(|task, _| tasks.contains(task));
    chosen.identity.hash = data::content_hash(&chosen.samples);
    Ok(Some(chosen))
}

/// An environment variable name: `[A-Za-z_][A-Za-z0-9_]*`, at most 128 characters.
/// Removes `api_key` from the body and returns it, when this server can hold keys.
fn take_api_key(
    state: &AppState,
    body: &mut Map<String, Value>,
) -> Result<Option<ApiKey>, ApiError> {
    let Some(value) = body.remove("api_key") else {
        return Ok(None);
    };
    // Every message below leaves the value out: it must never come back.
    match value {
        Value::Null => Ok(None),
        Value::String(key) if state.key_vault.is_none() => {
            drop(key);
            Err(ApiError::Malformed(
                "`api_key` is not accepted by this server: it runs no workers of its own to \
                 hold a key for (serve --workers 0). Set the key in the workers' environment and \
                 name the variable in `api_key_env`"
                    .to_owned(),
            ))
        }
        Value::String(key) if key.trim().is_empty() || key.len() > 4096 => {
            Err(ApiError::Malformed(
                "`api_key` must be a non-empty string of at most 4096 bytes".to_owned(),
            ))
        }
        Value::String(key) => Ok(Some(ApiKey::new(key.trim().to_owned()))),
        _ => Err(ApiError::Malformed("`api_key` must be a string".to_owned())),
    }
}

fn is_variable_name(name: &str) -> bool {
    let mut characters = name.chars();
    name.len() <= 128
        && characters
            .next()
            .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && characters.all(|character| character.is_ascii_alphanumeric() || character == '_')
}

/// Checks a submitted endpoint and returns it as recorded. Credentials in the URL are refused
/// (they would be stored), and so are hosts on this machine or a private network unless the
/// server allows them: a submission makes our workers send requests there.
fn checked_endpoint(endpoint: &str, allow_private: bool) -> Result<String, ApiError> {
    let invalid = |reason: &str| {
        // The endpoint is not echoed: it may carry credentials.
        ApiError::Malformed(format!("invalid `endpoint`: {reason}"))
    };
    let url = Url::parse(endpoint.trim()).map_err(|_| invalid("not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https"));
    }
    if !url.username().is_empty() || url.password().is_some() || url.query().is_some() {
        return Err(invalid(
            "credentials (user info or a query string) are not accepted; name the environment \
             variable holding the key in `api_key_env`",
        ));
    }
    let Some(host) = url.host_str() else {
        return Err(invalid("the URL has no host"));
    };
    // IPv4 hosts come normalised (`0x7f.1` is `127.0.0.1`); IPv6 ones in brackets.
    let private = match host.trim_start_matches('[').trim_end_matches(']').parse() {
        Ok(address) => is_private(address),
        Err(_) => {
            let domain = host.trim_end_matches('.').to_ascii_lowercase();
            domain == "localhost" || domain.ends_with(".localhost")
        }
    };
    if private && !allow_private {
        return Err(invalid(
            "loopback, link-local and private network hosts are not accepted by this server",
        ));
    }
    // As given, less any fragment: what `eval api` records for the same argument, so both
    // name the same run (no userinfo or query string can be left to drop).
    let given = endpoint.trim();
    Ok(given.split('#').next().unwrap_or(given).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses_are_recognised() {
        for address in [
            "127.0.0.1",
            "127.8.9.10",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(
                is_private(address.parse().expect("an address")),
                "{address}"
            );
        }
        for address in ["8.8.8.8", "172.32.0.1", "2001:4860::8888", "::ffff:8.8.8.8"] {
            assert!(
                !is_private(address.parse().expect("an address")),
                "{address}"
            );
        }
    }

    #[test]
    fn endpoints_are_checked_and_recorded() {
        assert_eq!(
            checked_endpoint("https://api.example.com/v1", false).ok(),
            Some("https://api.example.com/v1".to_owned())
        );
        for refused in [
            "http://localhost:8000/v1",
            "http://LOCALHOST./v1",
            "http://api.localhost/v1",
            "http://127.0.0.1:8000/v1",
            "http://0x7f.1/v1",
            "http://[::1]:8000/v1",
            "http://[fe80::1]/v1",
            "http://169.254.169.254/latest",
            "http://192.168.0.10/v1",
        ] {
            assert!(checked_endpoint(refused, false).is_err(), "{refused}");
        }
        assert!(checked_endpoint("http://127.0.0.1:8000/v1", true).is_ok());
        for invalid in [
            "ftp://api.example.com/v1",
            "api.example.com/v1",
            "https://user:secret@api.example.com/v1",
            "https://api.example.com/v1?key=secret",
        ] {
            let error = checked_endpoint(invalid, true).expect_err(invalid);
            assert!(!error.to_string().contains("secret"), "{error}");
        }
    }

    #[test]
    fn variable_names() {
        assert!(is_variable_name("OPENAI_API_KEY"));
        assert!(is_variable_name("_key1"));
        assert!(!is_variable_name("1KEY"));
        assert!(!is_variable_name("sk-abc123"));
        assert!(!is_variable_name(""));
    }
}
