//! `GET /models/{id}`: a model's metadata and its runs, each with its scorecard (or the paper's
//! reported scores).

use axum::Json;
use axum::extract::State;
use omnireward_shared::wire::{ModelDocument, ModelInfo, ModelKind};

use super::runs::run_document;
use super::{ApiError, ApiPath, AppState};
use crate::storage::{ModelId, Storage};

/// `GET /models/{id}`.
#[utoipa::path(
    get,
    path = "/models/{id}",
    tag = "models",
    params(("id" = i64, Path, description = "The model (`model_id` of a leaderboard row).")),
    responses(
        (status = 200, description = "The model with its runs.", body = ModelDocument),
        (status = 404, description = "No such model.", body = super::error::ErrorBody),
    )
)]
pub(super) async fn one(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ModelDocument>, ApiError> {
    model_document(&state.storage, &id).await.map(Json)
}

/// The model `id` (a path segment) with its runs: the service behind `GET /models/{id}` and the
/// model page.
pub(super) async fn model_document(storage: &Storage, id: &str) -> Result<ModelDocument, ApiError> {
    let not_found = || ApiError::NotFound(format!("model {id} does not exist"));
    let id = id.parse::<i64>().map(ModelId).map_err(|_| not_found())?;
    let Some(model) = storage.model(id).await? else {
        return Err(not_found());
    };
    let mut runs = Vec::new();
    let mut training = None;
    for run in storage.model_runs(id).await? {
        // Oldest first: the latest run's record wins.
        if let Some(record) = run
            .configuration
            .pointer("/details/training")
            .filter(|record| !record.is_null())
        {
            training = Some(record.clone());
        }
        runs.push(run_document(storage, run).await?);
    }
    let mut info = ModelInfo {
        id: model.id.0,
        name: model.name,
        kind: model.kind,
        group: model.group,
        parameters: model.parameters,
        licence: model.licence,
        open_weights: model.open_weights,
        link: None,
    };
    if info.kind == ModelKind::PaperReported {
        with_paper_facts(&mut info);
    }
    Ok(ModelDocument {
        model: info,
        training,
        runs,
    })
}

/// Gives a model of the paper's tables its facts (kind, size, weights, licence, link); facts
/// stored with the model win over the embedded ones.
fn with_paper_facts(info: &mut ModelInfo) {
    let Some(facts) = crate::paper_models::facts(&info.name) else {
        return;
    };
    info.kind = facts.kind;
    info.parameters = info.parameters.take().or_else(|| facts.parameters.clone());
    info.licence = info.licence.take().or_else(|| facts.licence.clone());
    info.open_weights = info.open_weights.or(facts.open_weights);
    info.link = facts.link.clone();
}
