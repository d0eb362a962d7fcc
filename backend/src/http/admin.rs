//! Administrator routes under `/admin`, behind the server's bearer token: approving or
//! rejecting submissions, deleting a run and rescoring a run from its stored judgements.
//!
//! Without a configured token every admin route answers 404, exactly like a path that names no
//! route (nothing tells a client they exist); with one, a missing or wrong token is a 401.

use std::fmt;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, OriginalUri, Request, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use omnireward_shared::BootstrapConfig;
use omnireward_shared::scorecard::ScalarTiePolicy;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::credentials::{TokenDigest, bearer_token};
use super::{ApiError, ApiPath, AppState};
use crate::evaluation;
use crate::storage::{Approval, ApprovalDecision, JobId, RunDeletion, RunId, StorageError};

/// Longest rejection reason kept.
const MAX_REASON_CHARACTERS: usize = 1000;

/// The administrator's bearer token, kept as its digest. Never printed: `Debug` is redacted.
#[derive(Clone)]
pub struct AdminToken {
    digest: TokenDigest,
}

impl AdminToken {
    /// The token a request must present as `Authorization: Bearer <token>`.
    pub fn new(token: &str) -> AdminToken {
        AdminToken {
            digest: TokenDigest::of(token),
        }
    }

    /// Whether the request's headers carry the token.
    pub(super) fn presented_in(&self, headers: &HeaderMap) -> bool {
        bearer_token(headers).is_some_and(|presented| self.digest.matches(presented))
    }
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("AdminToken(<redacted>)")
    }
}

impl AppState {
    /// Opens the admin routes to requests bearing `token` (without one they answer 404).
    pub fn with_admin_token(mut self, token: AdminToken) -> AppState {
        self.admin_token = Some(Arc::new(token));
        self
    }

    /// Makes new submissions wait for an administrator's approval before workers may claim
    /// them (default no).
    pub fn with_approval_required(mut self, required: bool) -> AppState {
        self.require_approval = required;
        self
    }
}

/// Proof that the request carries the administrator's token.
pub(super) struct Administrator;

impl FromRequestParts<AppState> for Administrator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(token) = &state.admin_token else {
            // The same answer as a path that names no route (the nested router sees the path
            // without its prefix; the original one is what the client sent).
            let path = parts
                .extensions
                .get::<OriginalUri>()
                .map_or_else(|| parts.uri.path(), |OriginalUri(uri)| uri.path());
            return Err(ApiError::NotFound(format!("no API route matches `{path}`")));
        };
        if token.presented_in(&parts.headers) {
            Ok(Administrator)
        } else {
            Err(ApiError::Unauthorized(
                "this route needs the administrator's token as `Authorization: Bearer <token>`"
                    .to_owned(),
            ))
        }
    }
}

/// The answer to an approval decision.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct DecisionView {
    /// The submission.
    submission: i64,
    /// Its approval state now.
    #[schema(value_type = omnireward_shared::wire::Approval)]
    approval: &'static str,
    /// Its status now.
    #[schema(value_type = omnireward_shared::wire::RunStatus)]
    status: &'static str,
}

/// The optional body of a rejection.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RejectRequest {
    /// Why, kept as the submission's error (at most 1,000 characters).
    reason: Option<String>,
}

/// The optional body of a rescore.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RescoreRequest {
    /// A tie threshold fixed in advance for scalar rewards, instead of the Ties-Matter sweep.
    tie_threshold: Option<f64>,
}

/// The answer to a run deletion.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct DeletedView {
    /// The deleted run.
    run: i64,
    /// Judgements removed with it.
    judgements: u64,
    /// Whether its scorecard was removed.
    scorecard: bool,
    /// Stopped jobs removed with it.
    jobs: u64,
}

/// A missing job is the client's 404.
fn submission_not_found(error: StorageError) -> ApiError {
    match error {
        StorageError::JobNotFound(job) => {
            ApiError::NotFound(format!("submission {job} does not exist"))
        }
        other => ApiError::Storage(other),
    }
}

/// An optional JSON object body read into `T`: an empty body is `T::default()`.
pub(super) struct OptionalBody<T>(T);

impl<State, T> FromRequest<State> for OptionalBody<T>
where
    State: Send + Sync,
    T: Default + DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &State) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| ApiError::Malformed(rejection.body_text()))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalBody(T::default()));
        }
        let object: Map<String, Value> = serde_json::from_slice(&bytes).map_err(|error| {
            ApiError::Malformed(format!("the body is not a JSON object: {error}"))
        })?;
        serde_json::from_value(Value::Object(object))
            .map(OptionalBody)
            .map_err(|error| ApiError::Malformed(format!("invalid body: {error}")))
    }
}

/// `POST /admin/submissions/{id}/approve`.
#[utoipa::path(
    post,
    path = "/admin/submissions/{id}/approve",
    tag = "admin",
    security(("admin_token" = [])),
    params(("id" = i64, Path, description = "The submission.")),
    responses(
        (status = 200, description = "Approved: workers may claim it.", body = DecisionView),
        (status = 401, description = "Missing or wrong token.", body = super::error::ErrorBody),
        (status = 404, description = "No such submission, or the server has no admin token.",
         body = super::error::ErrorBody),
        (status = 409, description = "The submission is not awaiting approval.",
         body = super::error::ErrorBody),
    )
)]
pub(super) async fn approve(
    _administrator: Administrator,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<DecisionView>, ApiError> {
    let job = JobId(id);
    let decision = state
        .storage
        .approve_job(job)
        .await
        .map_err(submission_not_found)?;
    decision_view(job, decision, Approval::Approved, "queued")
}

/// `POST /admin/submissions/{id}/reject` with an optional `{"reason": "..."}`.
#[utoipa::path(
    post,
    path = "/admin/submissions/{id}/reject",
    tag = "admin",
    security(("admin_token" = [])),
    params(("id" = i64, Path, description = "The submission.")),
    request_body(content = Option<RejectRequest>, description = "Optional; may be empty."),
    responses(
        (status = 200, description = "Rejected: the submission is cancelled.", body = DecisionView),
        (status = 400, description = "Malformed body.", body = super::error::ErrorBody),
        (status = 401, description = "Missing or wrong token.", body = super::error::ErrorBody),
        (status = 404, description = "No such submission, or the server has no admin token.",
         body = super::error::ErrorBody),
        (status = 409, description = "The submission is not awaiting approval.",
         body = super::error::ErrorBody),
    )
)]
pub(super) async fn reject(
    _administrator: Administrator,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    OptionalBody(request): OptionalBody<RejectRequest>,
) -> Result<Json<DecisionView>, ApiError> {
    let reason = match request.reason.as_deref().map(str::trim) {
        Some(reason) if !reason.is_empty() => {
            let reason: String = reason.chars().take(MAX_REASON_CHARACTERS).collect();
            format!("rejected by an administrator: {reason}")
        }
        _ => "rejected by an administrator".to_owned(),
    };
    let job = JobId(id);
    let decision = state
        .storage
        .reject_job(job, &reason)
        .await
        .map_err(submission_not_found)?;
    decision_view(job, decision, Approval::Rejected, "cancelled")
}

fn decision_view(
    job: JobId,
    decision: ApprovalDecision,
    approval: Approval,
    status: &'static str,
) -> Result<Json<DecisionView>, ApiError> {
    match decision {
        ApprovalDecision::Decided => Ok(Json(DecisionView {
            submission: job.0,
            approval: approval.as_str(),
            status,
        })),
        ApprovalDecision::NotPending { approval, status } => Err(ApiError::Conflict(format!(
            "submission {job} is not awaiting approval (approval {approval}, status {})",
            status.as_str()
        ))),
    }
}

/// The run id of a path segment; an id that is not a number names no run.
fn run_id(id: &str) -> Result<RunId, ApiError> {
    id.parse::<i64>()
        .map(RunId)
        .map_err(|_| ApiError::NotFound(format!("run {id} does not exist")))
}

/// `DELETE /admin/runs/{id}`.
#[utoipa::path(
    delete,
    path = "/admin/runs/{id}",
    tag = "admin",
    security(("admin_token" = [])),
    params(("id" = i64, Path, description = "The run.")),
    responses(
        (status = 200, description = "Deleted with its judgements, scorecard and stopped jobs.",
         body = DeletedView),
        (status = 401, description = "Missing or wrong token.", body = super::error::ErrorBody),
        (status = 404, description = "No such run, or the server has no admin token.",
         body = super::error::ErrorBody),
        (status = 409, description = "A paper-reported run, or a run with a queued or running \
                                      submission (cancel it first).",
         body = super::error::ErrorBody),
    )
)]
pub(super) async fn delete_run(
    _administrator: Administrator,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<DeletedView>, ApiError> {
    let run = run_id(&id)?;
    match state.storage.delete_run(run).await? {
        RunDeletion::Deleted {
            judgements,
            scorecard,
            jobs,
        } => {
            tracing::info!(%run, judgements, "run deleted by an administrator");
            Ok(Json(DeletedView {
                run: run.0,
                judgements,
                scorecard,
                jobs,
            }))
        }
        RunDeletion::PaperReported => Err(ApiError::Conflict(format!(
            "run {run} holds the paper's reported numbers, which are never deleted"
        ))),
        RunDeletion::Active(job) => Err(ApiError::Conflict(format!(
            "run {run} has an active submission ({job}); cancel it before deleting the run"
        ))),
    }
}

/// `POST /admin/runs/{id}/rescore` with an optional `{"tie_threshold": EPSILON}`: the
/// scorecard recomputed from the stored judgements, stored and returned.
#[utoipa::path(
    post,
    path = "/admin/runs/{id}/rescore",
    tag = "admin",
    security(("admin_token" = [])),
    params(("id" = i64, Path, description = "The run.")),
    request_body(content = Option<RescoreRequest>, description = "Optional; may be empty."),
    responses(
        (status = 200, description = "The new scorecard, now stored.",
         body = omnireward_shared::Scorecard),
        (status = 400, description = "Malformed body or threshold.",
         body = super::error::ErrorBody),
        (status = 401, description = "Missing or wrong token.", body = super::error::ErrorBody),
        (status = 404, description = "No such run, or the server has no admin token.",
         body = super::error::ErrorBody),
        (status = 409, description = "A paper-reported run, or a run without judgements.",
         body = super::error::ErrorBody),
    )
)]
pub(super) async fn rescore(
    _administrator: Administrator,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    OptionalBody(request): OptionalBody<RescoreRequest>,
) -> Result<Json<omnireward_shared::Scorecard>, ApiError> {
    let run = run_id(&id)?;
    let tie_policy = match request.tie_threshold {
        None => ScalarTiePolicy::Sweep,
        Some(epsilon) if epsilon.is_finite() && epsilon >= 0.0 => ScalarTiePolicy::Fixed(epsilon),
        Some(epsilon) => {
            return Err(ApiError::InvalidParameter {
                parameter: "tie_threshold",
                value: epsilon.to_string(),
                expected: "a finite number from 0".to_owned(),
            });
        }
    };
    let record = state.storage.run(run).await?;
    if record.provenance == crate::storage::Provenance::PaperReported {
        return Err(ApiError::Conflict(format!(
            "run {run} holds the paper's reported numbers: there are no judgements to rescore"
        )));
    }
    let judgements = state.storage.judgements(run).await?;
    if judgements.is_empty() {
        return Err(ApiError::Conflict(format!(
            "run {run} has no judgements to score"
        )));
    }
    let identity = match record.benchmark {
        Some(benchmark) => state
            .storage
            .benchmark(benchmark)
            .await?
            .map(|stored| stored.identity),
        None => None,
    }
    .unwrap_or_else(|| evaluation::unverified_identity(&judgements));
    // Bootstrap resampling over a full release takes a moment: off the async workers.
    let model = record.model_name.clone();
    let scorecard = tokio::task::spawn_blocking(move || {
        evaluation::scorecard(
            &model,
            identity,
            &judgements,
            tie_policy,
            BootstrapConfig::default(),
        )
    })
    .await
    .map_err(|error| ApiError::Internal(format!("rescoring stopped: {error}")))?;
    state.storage.store_scorecard(run, &scorecard).await?;
    tracing::info!(%run, "run rescored by an administrator");
    Ok(Json(scorecard))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearing(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            axum::http::header::AUTHORIZATION,
            axum::http::HeaderValue::from_static(value),
        );
        headers
    }

    #[test]
    fn tokens_match_exactly_and_never_print() {
        let token = AdminToken::new("s3cret");
        assert!(token.presented_in(&bearing("Bearer s3cret")));
        assert!(token.presented_in(&bearing("bearer s3cret")));
        assert!(!token.presented_in(&bearing("Bearer s3cret2")));
        assert!(!token.presented_in(&bearing("Basic s3cret")));
        assert!(!token.presented_in(&HeaderMap::new()));
        assert_eq!(format!("{token:?}"), "AdminToken(<redacted>)");
    }
}
