//! `/submissions`: a queued evaluation as clients see it, the answer to a new submission, and the
//! answer to a cancel request.

use serde::{Deserialize, Serialize};

use super::names::{Approval, RunStatus};

/// A submission (`GET /submissions/{id}`, and the items of `GET /submissions`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubmissionView {
    /// The submission's id.
    pub id: i64,
    /// The run it evaluates.
    pub run: i64,
    /// What is evaluated: `api_judge` or `checkpoint`.
    pub kind: String,
    /// The judge's model name, for API judges.
    pub model: Option<String>,
    /// The judge's endpoint, for API judges.
    pub endpoint: Option<String>,
    /// Where it stands.
    pub status: RunStatus,
    /// Whether it waits for an administrator (`serve --require-approval`).
    pub approval: Approval,
    /// Whether a cancel was asked of its worker.
    pub cancel_requested: bool,
    /// Times a worker claimed it.
    pub attempts: u64,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// Unix milliseconds.
    pub created_at_ms: i64,
    /// Unix milliseconds of the latest claim.
    pub started_at_ms: Option<i64>,
    /// Unix milliseconds; `null` until it stops.
    pub finished_at_ms: Option<i64>,
    /// 1 for the next job a worker claims; `null` unless queued.
    pub position: Option<u64>,
}

/// The answer to `POST /submissions`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Submitted {
    /// The submission (new, or the one joined).
    pub submission: i64,
    /// Its run.
    pub run: i64,
    /// Where it stands.
    pub status: RunStatus,
    /// `pending` when the server requires approval before workers may claim it.
    pub approval: Approval,
    /// 1 for the next job a worker claims; `null` unless queued and claimable.
    pub position: Option<u64>,
    /// Sent once, with a new submission (201) only: the token that cancels it, as
    /// `Authorization: Bearer <token>` on `POST /submissions/{id}/cancel`. The server keeps
    /// only its SHA-256; `null` when this request joined an existing submission.
    pub cancel_token: Option<String>,
}

/// The answer to `POST /submissions/{id}/cancel`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CancelAnswer {
    /// The submission.
    pub submission: i64,
    /// `cancelled` (it was queued) or `cancel_requested` (its worker stops at the next
    /// heartbeat).
    pub status: String,
}

/// The answer to a checkpoint upload (`POST /submissions` with a multipart body).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Uploaded {
    #[serde(flatten)]
    pub submitted: Submitted,
    /// What was accepted.
    pub checkpoint: AcceptedCheckpoint,
}

/// An accepted checkpoint.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AcceptedCheckpoint {
    /// The folder's content address.
    pub sha256: String,
    /// SHA-256 over the weight files in name order.
    pub weights_sha256: String,
    /// Its `transformers` architecture.
    pub architecture: String,
    /// Parameters, from the safetensors headers.
    pub parameter_count: u64,
    /// The files received, by name.
    pub files: Vec<String>,
    /// Bytes received.
    pub bytes: u64,
}
