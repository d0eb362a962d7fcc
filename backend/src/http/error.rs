//! The one error type of the HTTP layer and its mapping to status codes and the stable JSON body
//! `{"error": {"code": "...", "message": "..."}}`.
//!
//! Client errors say what was wrong; server errors are logged here, once, with their cause, and
//! the client gets a generic message.

use axum::Json;
use axum::extract::{OriginalUri, Request};
use axum::http::header::{
    ACCEPT_RANGES, ALLOW, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, RETRY_AFTER,
    WWW_AUTHENTICATE,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::data::media::MediaReadError;
use crate::storage::StorageError;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A query or path parameter has a value outside the accepted ones.
    #[error("invalid value `{value}` for parameter `{parameter}`: expected {expected}")]
    InvalidParameter {
        /// The parameter name.
        parameter: &'static str,
        /// The value given.
        value: String,
        /// What is accepted, e.g. `one of with_ties, without_ties`.
        expected: String,
    },
    /// The query string or a path segment could not be decoded at all.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// The addressed resource does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the resource's state (e.g. cancelling a finished job).
    #[error("{0}")]
    Conflict(String),
    /// The request body is well-formed JSON but a field's value is refused (too long, empty,
    /// not an image).
    #[error("{0}")]
    InvalidInput(String),
    /// A bounded service (the scoring demo) is at capacity; the client should retry later.
    #[error("{0}")]
    Saturated(String),
    /// A client sent too many requests of a rate-limited kind (submissions); it may retry after
    /// `retry_after_seconds` (sent as `Retry-After`).
    #[error("{message}")]
    RateLimited {
        /// What was limited, and the limit.
        message: String,
        /// Seconds until the next request of this kind is admitted.
        retry_after_seconds: u64,
    },
    /// A route that needs a bearer token called without one: an administrator route (also
    /// with a wrong token), or a cancel without the submission's token.
    #[error("{0}")]
    Unauthorized(String),
    /// A token was presented, but not one that allows this (another submission's cancel
    /// token).
    #[error("{0}")]
    Forbidden(String),
    /// The request body is larger than the route accepts (a checkpoint upload over the limit).
    #[error("{0}")]
    TooLarge(String),
    /// The client stopped sending its request (a body stalled past the server's timeout).
    #[error("{0}")]
    RequestTimeout(String),
    /// The route exists, but not for this method (the response keeps axum's `Allow`).
    #[error("{0}")]
    MethodNotAllowed(String),
    /// A feature this server was started without (the scoring demo without a model).
    #[error("{0}")]
    Unavailable(String),
    /// A byte range that lies outside the resource.
    #[error("the requested range is outside the {length} bytes of the resource")]
    RangeNotSatisfiable {
        /// The resource's length in bytes.
        length: u64,
    },
    /// The database failed (a missing run is mapped to 404).
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Media bytes that the benchmark references could not be read.
    #[error(transparent)]
    Media(#[from] MediaReadError),
    /// Any other failure on our side (a blocking task that panicked, an encoder error).
    #[error("{0}")]
    Internal(String),
}

/// The body of every error response.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

/// What went wrong.
#[derive(Serialize, utoipa::ToSchema)]
struct ErrorDetail<'a> {
    /// Stable machine-readable code: `invalid_parameter`, `malformed_request`, `not_found`,
    /// `conflict`, `invalid_input`, `too_many_requests`, `rate_limited`, `unauthorized`,
    /// `forbidden`, `payload_too_large`, `request_timeout`, `method_not_allowed`,
    /// `unsupported_media_type`, `unavailable`, `range_not_satisfiable` or `internal`.
    code: &'a str,
    /// What a person should know; generic for server errors.
    message: String,
}

impl ApiError {
    /// The status code and the stable machine-readable code.
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::InvalidParameter { .. } => (StatusCode::BAD_REQUEST, "invalid_parameter"),
            ApiError::Malformed(_) => (StatusCode::BAD_REQUEST, "malformed_request"),
            ApiError::NotFound(_)
            | ApiError::Storage(StorageError::RunNotFound(_) | StorageError::JobNotFound(_)) => {
                (StatusCode::NOT_FOUND, "not_found")
            }
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::InvalidInput(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_input"),
            ApiError::Saturated(_) => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
            ApiError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::RequestTimeout(_) => (StatusCode::REQUEST_TIMEOUT, "request_timeout"),
            ApiError::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::RangeNotSatisfiable { .. } => {
                (StatusCode::RANGE_NOT_SATISFIABLE, "range_not_satisfiable")
            }
            ApiError::Storage(_) | ApiError::Media(_) | ApiError::Internal(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        }
    }
}

impl From<crate::queue::hub_checkpoints::HubSubmissionError> for ApiError {
    fn from(error: crate::queue::hub_checkpoints::HubSubmissionError) -> Self {
        use crate::queue::hub_checkpoints::HubSubmissionError;
        match error {
            HubSubmissionError::Submission(error) => error.into(),
            // The repository is missing, unreadable with the server's token, or refused from
            // its files: the submission names something this server cannot evaluate.
            HubSubmissionError::Refused(error) => ApiError::InvalidInput(error.to_string()),
            HubSubmissionError::Unavailable(error) => {
                tracing::warn!(%error, "the Hub could not be asked about a submission");
                ApiError::Unavailable(
                    "the Hugging Face Hub could not be reached; try again later".to_owned(),
                )
            }
            HubSubmissionError::Storage(error) => error.into(),
            HubSubmissionError::Encode(error) => ApiError::Internal(error.to_string()),
        }
    }
}

impl From<crate::queue::submissions::SubmissionError> for ApiError {
    fn from(error: crate::queue::submissions::SubmissionError) -> Self {
        use crate::queue::submissions::SubmissionError;
        match error {
            SubmissionError::Malformed(message) => ApiError::Malformed(message),
            SubmissionError::InvalidParameter {
                parameter,
                value,
                expected,
            } => ApiError::InvalidParameter {
                parameter,
                value,
                expected,
            },
            SubmissionError::Internal(message) => ApiError::Internal(message),
        }
    }
}

impl From<crate::queue::predictions::PredictionsError> for ApiError {
    fn from(error: crate::queue::predictions::PredictionsError) -> Self {
        use crate::queue::predictions::PredictionsError;
        match error {
            PredictionsError::Body(_) => ApiError::Malformed(error.to_string()),
            PredictionsError::Storage(error) => ApiError::Storage(error),
            // A file read from a string fails only on its contents.
            PredictionsError::ModelCard { .. }
            | PredictionsError::File(_)
            | PredictionsError::UnknownSample { .. }
            | PredictionsError::LabelMismatch { .. }
            | PredictionsError::OutsideSetting { .. }
            | PredictionsError::Missing { .. } => ApiError::InvalidInput(error.to_string()),
        }
    }
}

impl From<crate::evaluation::comparison::ComparisonError> for ApiError {
    fn from(error: crate::evaluation::comparison::ComparisonError) -> Self {
        use crate::evaluation::comparison::ComparisonError;
        match error {
            ComparisonError::NoJudgements(_) | ComparisonError::NothingShared { .. } => {
                ApiError::InvalidInput(error.to_string())
            }
            ComparisonError::Storage(error) => ApiError::Storage(error),
            ComparisonError::Internal(message) => ApiError::Internal(message),
        }
    }
}

impl ApiError {
    /// The status code, and the message a client may see: the error itself, or a generic one
    /// for a fault on our side (logged here, inside the request's trace span, so the log line
    /// carries the request id). The web app's pages show the same status and message.
    pub(super) fn status_and_public_message(&self) -> (StatusCode, String) {
        let (status, _) = self.status_and_code();
        // A missing feature is the server's state, not a fault: say what it is.
        let message = if status.is_server_error() && !matches!(self, ApiError::Unavailable(_)) {
            tracing::error!(error = %self, "request failed");
            "internal server error".to_owned()
        } else {
            self.to_string()
        };
        (status, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = self.status_and_public_message();
        let (_, code) = self.status_and_code();
        let mut response = error_response(status, code, message);
        match &self {
            ApiError::RateLimited {
                retry_after_seconds,
                ..
            } => {
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from(*retry_after_seconds));
            }
            ApiError::Saturated(_) => {
                response.headers_mut().insert(
                    RETRY_AFTER,
                    HeaderValue::from(SATURATED_RETRY_AFTER_SECONDS),
                );
            }
            ApiError::Unauthorized(_) => {
                response
                    .headers_mut()
                    .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        if let ApiError::RangeNotSatisfiable { length } = self {
            let headers = response.headers_mut();
            headers.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
            if let Ok(value) = HeaderValue::from_str(&format!("bytes */{length}")) {
                headers.insert(CONTENT_RANGE, value);
            }
        }
        response
    }
}

/// The fallback of the API router: a JSON 404 for paths that name no route.
pub(super) async fn no_route(OriginalUri(uri): OriginalUri) -> ApiError {
    ApiError::NotFound(format!("no API route matches `{}`", uri.path()))
}

/// The JSON error response itself.
fn error_response(status: StatusCode, code: &str, message: String) -> Response {
    let body = ErrorBody {
        error: ErrorDetail { code, message },
    };
    (status, Json(body)).into_response()
}

/// Seconds a client is asked to wait when a bounded service (the demo) is busy: a scoring
/// request takes well under a second, so a few seconds clears a full queue.
pub(crate) const SATURATED_RETRY_AFTER_SECONDS: u64 = 5;

/// Longest rejection text kept as an error message (axum's and tower-http's are one line).
const REJECTION_TEXT_LIMIT: usize = 4096;

/// Middleware of the API router: error responses that axum or tower-http made themselves (an
/// empty 405, a `text/plain` 413 or 400 rejection) get the JSON error body too, keeping their
/// status and headers (`Allow` on a 405).
pub(super) async fn json_errors(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.extensions().get::<OriginalUri>().map_or_else(
        || request.uri().path().to_owned(),
        |uri| uri.path().to_owned(),
    );
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(response.headers()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, REJECTION_TEXT_LIMIT)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_owned())
        .unwrap_or_default();
    let code = status_code_name(status);
    let message = match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            let allowed = parts
                .headers
                .get(ALLOW)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default();
            format!("`{method}` is not allowed on `{path}`; allowed: {allowed}")
        }
        StatusCode::PAYLOAD_TOO_LARGE => {
            format!("the request body is larger than `{path}` accepts")
        }
        // Server errors from a layer: their text is not the client's business.
        status if status.is_server_error() => {
            if !text.is_empty() {
                tracing::error!(%status, error = %text, "request failed");
            }
            "internal server error".to_owned()
        }
        _ if !text.is_empty() => text,
        status => status
            .canonical_reason()
            .unwrap_or("request refused")
            .to_lowercase(),
    };
    parts.headers.remove(CONTENT_TYPE);
    parts.headers.remove(CONTENT_LENGTH);
    let mut json = error_response(status, code, message);
    json.headers_mut().extend(parts.headers);
    json
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"))
}

/// The stable code of an error status that no [`ApiError`] produced.
fn status_code_name(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "malformed_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::REQUEST_TIMEOUT => "request_timeout",
        StatusCode::CONFLICT => "conflict",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid_input",
        StatusCode::TOO_MANY_REQUESTS => "too_many_requests",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        status if status.is_server_error() => "internal",
        _ => "malformed_request",
    }
}
