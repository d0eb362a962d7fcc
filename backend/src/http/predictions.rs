//! `POST /submissions` with `"kind": "predictions"`: a judgements file judged elsewhere and its
//! model card, checked against the served benchmark, scored and stored as a finished run whose
//! provenance is `submitted_predictions` (see [`crate::queue::predictions`]).

use axum::http::StatusCode;
use omnireward_shared::BootstrapConfig;
use omnireward_shared::wire::{PredictionsAccepted, RunStatus};
use serde_json::{Map, Value};

use super::{ApiError, AppState};
use crate::queue::predictions;

/// Checks, scores and stores a predictions submission: 201 with a new run, 200 when the same
/// file made its run before. The caller has admitted the submission under the rate limit.
pub(super) async fn submit(
    state: &AppState,
    body: Map<String, Value>,
) -> Result<(StatusCode, PredictionsAccepted), ApiError> {
    // A server that asks for approval has no way yet to hold a run that needs no worker until
    // an administrator looks at it, so it takes no predictions rather than publish them unseen.
    if state.require_approval {
        return Err(ApiError::Unavailable(
            "this server requires approval of submissions and does not take predictions".to_owned(),
        ));
    }
    let served = std::sync::Arc::clone(&state.benchmark);
    // Reading, checking and scoring a full release's file is CPU work: off the async workers.
    let (checked, scorecard) = tokio::task::spawn_blocking(move || {
        let checked = predictions::check(&served, body)?;
        let scorecard = predictions::scorecard(&served, &checked, BootstrapConfig::default());
        Ok::<_, predictions::PredictionsError>((checked, scorecard))
    })
    .await
    .map_err(|error| ApiError::Internal(format!("checking predictions stopped: {error}")))??;
    let stored = predictions::store(&state.storage, &state.benchmark, &checked, scorecard).await?;
    tracing::info!(
        run = %stored.run,
        file_sha256 = %checked.file_sha256,
        created = stored.created,
        "predictions submitted"
    );
    let status = if stored.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let overall = stored
        .scorecard
        .settings
        .iter()
        .map(|(setting, scores)| (*setting, scores.overall.accuracy))
        .collect();
    Ok((
        status,
        PredictionsAccepted {
            run: stored.run.0,
            model: stored.model.0,
            status: RunStatus::Finished,
            file_sha256: checked.file_sha256,
            judgements: checked.judgements.len(),
            overall,
        },
    ))
}
