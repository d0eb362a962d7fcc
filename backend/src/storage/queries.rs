//! Read queries of the web API that the other storage files do not answer: a model by id with
//! its metadata, and a model's runs.

use super::runs::{ModelId, ModelKind};
use super::{Storage, StorageError, StorageRow, database, parse_column};

/// A stored model with its metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelRecord {
    /// Its id.
    pub id: ModelId,
    /// Display name.
    pub name: String,
    /// What kind of model it is.
    pub kind: ModelKind,
    /// The paper's grouping, if any.
    pub group: Option<String>,
    /// Parameter count as text, if known.
    pub parameters: Option<String>,
    /// Licence, if known.
    pub licence: Option<String>,
    /// Whether the weights are public, if known.
    pub open_weights: Option<bool>,
}

impl Storage {
    /// The model with this id, if any.
    pub async fn model(&self, id: ModelId) -> Result<Option<ModelRecord>, StorageError> {
        with_pool!(self, |pool| {
            let row = sqlx::query(
                "SELECT id, name, kind, model_group, parameters, licence, open_weights \
             FROM models WHERE id = $1",
            )
            .bind(id.0)
            .fetch_optional(pool)
            .await
            .map_err(database("read a model"))?;
            row.map(|row| model_record(&row, "id")).transpose()
        })
    }
}

/// A model from a row with the model's id in `id_column` and the columns `name`, `kind`,
/// `model_group`, `parameters`, `licence` and `open_weights`.
pub(super) fn model_record(
    row: &impl StorageRow,
    id_column: &str,
) -> Result<ModelRecord, StorageError> {
    let read = database("read a model");
    let open_weights: Option<i64> = row.read("open_weights").map_err(&read)?;
    let open_weights = open_weights
        .map(|value| match value {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(StorageError::Corrupt {
                table: "models",
                column: "open_weights",
                value: other.to_string(),
            }),
        })
        .transpose()?;
    Ok(ModelRecord {
        id: ModelId(row.read(id_column).map_err(&read)?),
        name: row.read("name").map_err(&read)?,
        kind: parse_column("models", "kind", row.read("kind").map_err(&read)?)?,
        group: row.read("model_group").map_err(&read)?,
        parameters: row.read("parameters").map_err(&read)?,
        licence: row.read("licence").map_err(&read)?,
        open_weights,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::RunId;
    use crate::storage::runs::{NewModel, NewRun, Provenance, RunStatus};
    use crate::storage::test_support::fresh_databases;

    #[tokio::test]
    async fn models_are_read_by_id_with_their_runs() {
        for database in fresh_databases().await {
            let storage = database.storage();
            let model = storage
                .upsert_model(&NewModel {
                    group: Some("specialized".to_owned()),
                    parameters: Some("7B".to_owned()),
                    licence: Some("apache-2.0".to_owned()),
                    open_weights: Some(true),
                    ..NewModel::named("Omni-RewardModel-BT", ModelKind::ScalarRewardModel)
                })
                .await
                .expect("stores");
            let other = storage
                .upsert_model(&NewModel::named("random", ModelKind::Baseline))
                .await
                .expect("stores");
            let new_run = |model, status| NewRun {
                model,
                benchmark: None,
                status,
                provenance: Provenance::Evaluated,
                configuration: serde_json::json!({}),
            };
            let first = storage
                .create_run(&new_run(model, RunStatus::Finished))
                .await
                .expect("creates");
            storage
                .create_run(&new_run(other, RunStatus::Queued))
                .await
                .expect("creates");
            let second = storage
                .create_run(&new_run(model, RunStatus::Queued))
                .await
                .expect("creates");

            let record = storage.model(model).await.expect("reads").expect("exists");
            assert_eq!(
                record,
                ModelRecord {
                    id: model,
                    name: "Omni-RewardModel-BT".to_owned(),
                    kind: ModelKind::ScalarRewardModel,
                    group: Some("specialized".to_owned()),
                    parameters: Some("7B".to_owned()),
                    licence: Some("apache-2.0".to_owned()),
                    open_weights: Some(true),
                }
            );
            let bare = storage.model(other).await.expect("reads").expect("exists");
            assert_eq!((bare.group, bare.open_weights), (None, None));
            assert_eq!(storage.model(ModelId(999)).await.expect("reads"), None);

            let runs = storage.model_runs(model).await.expect("lists");
            let ids: Vec<RunId> = runs.iter().map(|run| run.id).collect();
            assert_eq!(ids, [first, second]);
            assert!(runs.iter().all(|run| run.model == model));
            assert!(
                storage
                    .model_runs(ModelId(999))
                    .await
                    .expect("lists")
                    .is_empty()
            );
        }
    }
}
