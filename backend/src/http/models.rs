//! `GET /models/{id}`: a model's metadata and its runs, each with its scorecard (or the paper's
//! reported scores).

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use super::runs::{RunView, run_view};
use super::{ApiError, ApiPath, AppState};
use crate::storage::{ModelId, Storage};

/// A model as clients see it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct ModelView {
    id: i64,
    name: String,
    #[schema(value_type = super::schemas::ModelKind)]
    kind: &'static str,
    group: Option<String>,
    parameters: Option<String>,
    licence: Option<String>,
    open_weights: Option<bool>,
    /// How the model was trained (`training_record.json` of a checkpoint trained by `omnireward
    /// train`: data, steps, hyper-parameters, final validation), from its latest run that has one.
    #[schema(value_type = Option<Object>)]
    training: Option<serde_json::Value>,
    /// Oldest first.
    runs: Vec<RunView>,
}

/// `GET /models/{id}`.
#[utoipa::path(
    get,
    path = "/models/{id}",
    tag = "models",
    params(("id" = i64, Path, description = "The model (`model_id` of a leaderboard row).")),
    responses(
        (status = 200, description = "The model with its runs.", body = ModelView),
        (status = 404, description = "No such model.", body = super::error::ErrorBody),
    )
)]
pub(super) async fn one(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ModelView>, ApiError> {
    let not_found = || ApiError::NotFound(format!("model {id} does not exist"));
    let model = id.parse::<i64>().map(ModelId).map_err(|_| not_found())?;
    model_view(&state.storage, model)
        .await?
        .map(Json)
        .ok_or_else(not_found)
}

/// The model with its runs, or `None` when no model has this id.
async fn model_view(storage: &Storage, id: ModelId) -> Result<Option<ModelView>, ApiError> {
    let Some(model) = storage.model(id).await? else {
        return Ok(None);
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
        runs.push(run_view(storage, run).await?);
    }
    Ok(Some(ModelView {
        id: model.id.0,
        name: model.name,
        kind: model.kind.as_str(),
        group: model.group,
        parameters: model.parameters,
        licence: model.licence,
        open_weights: model.open_weights,
        training,
        runs,
    }))
}
