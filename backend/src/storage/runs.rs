//! Models (judges, reward models, baselines, paper-only entries) and their runs.
//!
//! A run is one model on one benchmark under a recorded configuration; paper-reported runs have no
//! benchmark here because the authors computed them on the full release.

use std::fmt;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::benchmarks::BenchmarkId;
use super::{Storage, StorageError, StorageRow, database, now_unix_ms, parse_column};

/// The database id of a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ModelId(pub i64);

/// The database id of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunId(pub i64);

impl fmt::Display for ModelId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.0)
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.0)
    }
}

// The stored names of models' kinds and runs' statuses and provenances are the API's: one
// spelling per value, in the shared crate's wire contract.
pub use omnireward_shared::wire::{ModelKind, Provenance, RunStatus, UnknownName};

/// A model to register.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewModel {
    /// Display name, unique together with the kind.
    pub name: String,
    /// What kind of model it is.
    pub kind: ModelKind,
    /// The paper's grouping (`open_generative`, `proprietary_generative`, `specialized`), if any.
    pub group: Option<String>,
    /// Parameter count as text (e.g. `7B`), if known.
    pub parameters: Option<String>,
    /// Licence, if known.
    pub licence: Option<String>,
    /// Whether the weights are public, if known.
    pub open_weights: Option<bool>,
}

impl NewModel {
    /// A model with only a name and a kind; the other fields unknown.
    pub fn named(name: impl Into<String>, kind: ModelKind) -> NewModel {
        NewModel {
            name: name.into(),
            kind,
            group: None,
            parameters: None,
            licence: None,
            open_weights: None,
        }
    }
}

/// A run to create.
#[derive(Clone, Debug, PartialEq)]
pub struct NewRun {
    /// The model evaluated.
    pub model: ModelId,
    /// The benchmark it runs on; `None` for paper-reported runs.
    pub benchmark: Option<BenchmarkId>,
    /// The initial status (usually queued).
    pub status: RunStatus,
    /// Where its numbers come from.
    pub provenance: Provenance,
    /// The judge configuration (prompt-set hash, sampling parameters, ...), stored as JSON.
    pub configuration: serde_json::Value,
}

/// A stored run with its model's name and kind.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRecord {
    /// The run.
    pub id: RunId,
    /// The model.
    pub model: ModelId,
    /// The model's name.
    pub model_name: String,
    /// The model's kind.
    pub model_kind: ModelKind,
    /// The model's paper group, if any.
    pub model_group: Option<String>,
    /// The benchmark, if the run was evaluated on one stored here.
    pub benchmark: Option<BenchmarkId>,
    /// Where it stands.
    pub status: RunStatus,
    /// Where its numbers come from.
    pub provenance: Provenance,
    /// The recorded configuration.
    pub configuration: serde_json::Value,
    /// Creation time, Unix milliseconds.
    pub created_at_ms: i64,
    /// When it reached a terminal status, Unix milliseconds.
    pub finished_at_ms: Option<i64>,
}

/// A run query with its model's columns, completed by a literal tail (kept static so the SQL is a
/// `&'static str`).
/// SHA-256 (hex) of an identity's canonical JSON: object keys sorted at every level, no
/// whitespace. Two identities equal as JSON values have the same digest whatever order their
/// fields were written in.
pub fn identity_digest(identity: &Value) -> String {
    let mut canonical = String::new();
    write_canonical(identity, &mut canonical);
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(object) => {
            let mut keys: Vec<&String> = object.keys().collect();
            keys.sort();
            out.push('{');
            for (position, key) in keys.into_iter().enumerate() {
                if position > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&object[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (position, item) in items.iter().enumerate() {
                if position > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// The digest of a run configuration's identity, if it has one.
fn configuration_digest(configuration: &Value) -> Option<String> {
    configuration.get("identity").map(identity_digest)
}

macro_rules! select_runs {
    ($tail:literal) => {
        concat!(
            "SELECT runs.id, runs.model_id, models.name, models.kind, models.model_group, ",
            "runs.benchmark_id, runs.status, runs.provenance, runs.configuration_json, ",
            "runs.created_at, runs.finished_at FROM runs JOIN models ON models.id = runs.model_id ",
            $tail
        )
    };
}

impl Storage {
    /// Registers a model, or finds the one with the same name and kind. Known metadata given
    /// here replaces the stored value; `None` fields keep what is stored.
    pub async fn upsert_model(&self, model: &NewModel) -> Result<ModelId, StorageError> {
        with_pool!(self, |pool| { upsert_model!(pool, model) })
    }

    /// Creates a run and returns its id. A run created in a terminal status is finished at once.
    pub async fn create_run(&self, run: &NewRun) -> Result<RunId, StorageError> {
        with_pool!(self, |pool| {
            let configuration = serde_json::to_string(&run.configuration).map_err(|source| {
                StorageError::Encode {
                    what: "a run configuration",
                    source,
                }
            })?;
            let now = now_unix_ms();
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO runs \
             (model_id, benchmark_id, status, provenance, configuration_json, created_at, \
              finished_at, identity_sha256) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            )
            .bind(run.model.0)
            .bind(run.benchmark.map(|benchmark| benchmark.0))
            .bind(run.status.as_str())
            .bind(run.provenance.as_str())
            .bind(configuration)
            .bind(now)
            .bind(run.status.is_terminal().then_some(now))
            .bind(configuration_digest(&run.configuration))
            .fetch_one(pool)
            .await
            .map_err(database("create a run"))?;
            Ok(RunId(id))
        })
    }

    /// Moves a run to a status. Terminal statuses record the finishing time; going back to
    /// queued or running (a resume) clears it.
    pub async fn set_run_status(&self, run: RunId, status: RunStatus) -> Result<(), StorageError> {
        with_pool!(self, |pool| {
            let result = sqlx::query("UPDATE runs SET status = $1, finished_at = $2 WHERE id = $3")
                .bind(status.as_str())
                .bind(status.is_terminal().then(now_unix_ms))
                .bind(run.0)
                .execute(pool)
                .await
                .map_err(database("update a run's status"))?;
            if result.rows_affected() == 0 {
                return Err(StorageError::RunNotFound(run));
            }
            Ok(())
        })
    }

    /// The evaluated run of `model` on `benchmark` whose recorded identity is `identity` (the
    /// run to resume or join), found through the indexed identity digest; the identity itself is
    /// compared too, so a digest collision could never join two different runs.
    pub async fn evaluated_run(
        &self,
        model: ModelId,
        benchmark: BenchmarkId,
        identity: &Value,
    ) -> Result<Option<RunId>, StorageError> {
        self.run_by_identity(model, benchmark, Provenance::Evaluated, identity)
            .await
    }

    /// The run of `model` on `benchmark` with `provenance` whose recorded identity is
    /// `identity` (a resubmitted predictions file finds its run this way).
    pub async fn run_by_identity(
        &self,
        model: ModelId,
        benchmark: BenchmarkId,
        provenance: Provenance,
        identity: &Value,
    ) -> Result<Option<RunId>, StorageError> {
        let digest = identity_digest(identity);
        with_pool!(self, |pool| {
            let rows: Vec<(i64, String)> = sqlx::query_as(
                "SELECT id, configuration_json FROM runs \
                 WHERE identity_sha256 = $1 AND model_id = $2 AND benchmark_id = $3 \
                 AND provenance = $4 ORDER BY id",
            )
            .bind(&digest)
            .bind(model.0)
            .bind(benchmark.0)
            .bind(provenance.as_str())
            .fetch_all(pool)
            .await
            .map_err(database("find a run by its identity"))?;
            for (id, configuration) in rows {
                if parse_configuration(configuration)?.get("identity") == Some(identity) {
                    return Ok(Some(RunId(id)));
                }
            }
            Ok(None)
        })
    }

    /// Fills the identity digest of runs stored before it existed (migration 0007), in one
    /// transaction; returns how many were filled. A no-op once every run has its digest.
    pub async fn fill_identity_digests(&self) -> Result<u64, StorageError> {
        with_pool!(self, |pool| {
            let mut transaction = pool
                .begin()
                .await
                .map_err(database("start filling identity digests"))?;
            let rows: Vec<(i64, String)> = sqlx::query_as(
                "SELECT id, configuration_json FROM runs \
                 WHERE identity_sha256 IS NULL AND configuration_json LIKE '%\"identity\"%'",
            )
            .fetch_all(&mut *transaction)
            .await
            .map_err(database("read runs without an identity digest"))?;
            let mut filled = 0;
            for (id, configuration) in rows {
                let Some(digest) = configuration_digest(&parse_configuration(configuration)?)
                else {
                    continue;
                };
                sqlx::query("UPDATE runs SET identity_sha256 = $1 WHERE id = $2")
                    .bind(digest)
                    .bind(id)
                    .execute(&mut *transaction)
                    .await
                    .map_err(database("store an identity digest"))?;
                filled += 1;
            }
            transaction
                .commit()
                .await
                .map_err(database("store identity digests"))?;
            Ok(filled)
        })
    }

    /// The run with this id.
    pub async fn run(&self, run: RunId) -> Result<RunRecord, StorageError> {
        with_pool!(self, |pool| {
            let row = sqlx::query(select_runs!("WHERE runs.id = $1"))
                .bind(run.0)
                .fetch_optional(pool)
                .await
                .map_err(database("read a run"))?
                .ok_or(StorageError::RunNotFound(run))?;
            run_record(&row)
        })
    }

    /// Every run, oldest first.
    pub async fn runs(&self) -> Result<Vec<RunRecord>, StorageError> {
        with_pool!(self, |pool| {
            let rows = sqlx::query(select_runs!("ORDER BY runs.id"))
                .fetch_all(pool)
                .await
                .map_err(database("list runs"))?;
            rows.iter().map(run_record).collect()
        })
    }

    /// The runs of a model, oldest first (empty for an unknown model), in one query.
    pub async fn model_runs(&self, model: ModelId) -> Result<Vec<RunRecord>, StorageError> {
        with_pool!(self, |pool| {
            let rows = sqlx::query(select_runs!("WHERE runs.model_id = $1 ORDER BY runs.id"))
                .bind(model.0)
                .fetch_all(pool)
                .await
                .map_err(database("list a model's runs"))?;
            rows.iter().map(run_record).collect()
        })
    }

    /// The provenance of a run, checked before writing per-item results.
    pub(super) async fn run_provenance(&self, run: RunId) -> Result<Provenance, StorageError> {
        with_pool!(self, |pool| {
            let provenance: Option<String> =
                sqlx::query_scalar("SELECT provenance FROM runs WHERE id = $1")
                    .bind(run.0)
                    .fetch_optional(pool)
                    .await
                    .map_err(database("read a run's provenance"))?;
            let provenance = provenance.ok_or(StorageError::RunNotFound(run))?;
            parse_column("runs", "provenance", provenance)
        })
    }
}

/// Inserts or refreshes a model. DO UPDATE (not DO NOTHING) so that RETURNING yields the id of
/// an existing row as well.
pub(super) const UPSERT_MODEL: &str = "INSERT INTO models \
     (name, kind, model_group, parameters, licence, open_weights) \
     VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (name, kind) DO UPDATE SET \
     model_group = COALESCE(excluded.model_group, models.model_group), \
     parameters = COALESCE(excluded.parameters, models.parameters), \
     licence = COALESCE(excluded.licence, models.licence), \
     open_weights = COALESCE(excluded.open_weights, models.open_weights) \
     RETURNING id";

/// Inserts or refreshes a `&NewModel` through `$executor` (a pool or a transaction of either
/// backend, so the paper import can do it inside its transaction) and evaluates to
/// `Result<ModelId, StorageError>`. A macro rather than a function generic over the executor,
/// whose bounds would have to restate every bound and decoded type for both drivers.
macro_rules! upsert_model {
    ($executor:expr, $model:expr) => {{
        let model: &$crate::storage::NewModel = $model;
        sqlx::query_scalar::<_, i64>($crate::storage::runs::UPSERT_MODEL)
            .bind(&model.name)
            .bind(model.kind.as_str())
            .bind(&model.group)
            .bind(&model.parameters)
            .bind(&model.licence)
            .bind(model.open_weights.map(i64::from))
            .fetch_one($executor)
            .await
            .map($crate::storage::ModelId)
            .map_err($crate::storage::database("store a model"))
    }};
}
pub(super) use upsert_model;

/// A stored run configuration, read back.
pub(super) fn parse_configuration(json: String) -> Result<serde_json::Value, StorageError> {
    serde_json::from_str(&json).map_err(|_| StorageError::Corrupt {
        table: "runs",
        column: "configuration_json",
        value: json,
    })
}

fn run_record(row: &impl StorageRow) -> Result<RunRecord, StorageError> {
    let read = database("read a run");
    let configuration = parse_configuration(row.read("configuration_json").map_err(&read)?)?;
    Ok(RunRecord {
        id: RunId(row.read("id").map_err(&read)?),
        model: ModelId(row.read("model_id").map_err(&read)?),
        model_name: row.read("name").map_err(&read)?,
        model_kind: parse_column("models", "kind", row.read("kind").map_err(&read)?)?,
        model_group: row.read("model_group").map_err(&read)?,
        benchmark: row
            .read::<Option<i64>>("benchmark_id")
            .map_err(&read)?
            .map(BenchmarkId),
        status: parse_column("runs", "status", row.read("status").map_err(&read)?)?,
        provenance: parse_column("runs", "provenance", row.read("provenance").map_err(&read)?)?,
        configuration,
        created_at_ms: row.read("created_at").map_err(&read)?,
        finished_at_ms: row.read("finished_at").map_err(&read)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::test_support::fresh_databases;

    #[test]
    fn stored_names_round_trip() {
        for kind in ModelKind::ALL {
            assert_eq!(kind.as_str().parse::<ModelKind>(), Ok(*kind));
        }
        for status in RunStatus::ALL {
            assert_eq!(status.as_str().parse::<RunStatus>(), Ok(*status));
        }
        for provenance in Provenance::ALL {
            assert_eq!(provenance.as_str().parse::<Provenance>(), Ok(*provenance));
        }
        let error = "Finished".parse::<RunStatus>().expect_err("case matters");
        assert!(error.to_string().contains("finished"), "{error}");
    }

    #[tokio::test]
    async fn models_are_idempotent_on_name_and_kind() {
        for database in fresh_databases().await {
            let storage = database.storage();
            let mut judge = NewModel::named("gpt-4o", ModelKind::ApiJudge);
            judge.licence = Some("proprietary".to_owned());
            let first = storage.upsert_model(&judge).await.expect("stores");
            let bare = NewModel::named("gpt-4o", ModelKind::ApiJudge);
            assert_eq!(storage.upsert_model(&bare).await.expect("finds"), first);
            let paper = NewModel::named("gpt-4o", ModelKind::PaperReported);
            assert_ne!(storage.upsert_model(&paper).await.expect("stores"), first);
            let licence: Option<String> = with_pool!(storage, |pool| sqlx::query_scalar(
                "SELECT licence FROM models WHERE id = $1"
            )
            .bind(first.0)
            .fetch_one(pool)
            .await)
            .expect("reads");
            assert_eq!(licence.as_deref(), Some("proprietary"));
        }
    }

    #[tokio::test]
    async fn runs_record_their_status_and_finishing_time() {
        for database in fresh_databases().await {
            let storage = database.storage();
            let mut model = NewModel::named("Omni-RewardModel-BT", ModelKind::ScalarRewardModel);
            model.group = Some("specialized".to_owned());
            let model = storage.upsert_model(&model).await.expect("stores");
            let configuration =
                serde_json::json!({"prompt_set_hash": "abc123", "temperature": 0.0});
            let run = storage
                .create_run(&NewRun {
                    model,
                    benchmark: None,
                    status: RunStatus::Queued,
                    provenance: Provenance::Evaluated,
                    configuration: configuration.clone(),
                })
                .await
                .expect("creates");
            let record = storage.run(run).await.expect("reads");
            assert_eq!(record.status, RunStatus::Queued);
            assert_eq!(record.model_name, "Omni-RewardModel-BT");
            assert_eq!(record.model_kind, ModelKind::ScalarRewardModel);
            assert_eq!(record.model_group.as_deref(), Some("specialized"));
            assert_eq!(record.configuration, configuration);
            assert_eq!(record.finished_at_ms, None);

            storage
                .set_run_status(run, RunStatus::Failed)
                .await
                .expect("fails");
            assert!(
                storage
                    .run(run)
                    .await
                    .expect("reads")
                    .finished_at_ms
                    .is_some()
            );
            storage
                .set_run_status(run, RunStatus::Running)
                .await
                .expect("resumes");
            let record = storage.run(run).await.expect("reads");
            assert_eq!(record.status, RunStatus::Running);
            assert_eq!(record.finished_at_ms, None);

            assert_eq!(storage.runs().await.expect("lists"), [record]);
            assert!(matches!(
                storage.set_run_status(RunId(77), RunStatus::Finished).await,
                Err(StorageError::RunNotFound(RunId(77)))
            ));
            assert!(matches!(
                storage.run(RunId(77)).await,
                Err(StorageError::RunNotFound(RunId(77)))
            ));
        }
    }

    #[tokio::test]
    async fn unknown_stored_names_are_reported_as_corrupt() {
        for database in fresh_databases().await {
            let storage = database.storage();
            let model = storage
                .upsert_model(&NewModel::named("random", ModelKind::Baseline))
                .await
                .expect("stores");
            let run = storage
                .create_run(&NewRun {
                    model,
                    benchmark: None,
                    status: RunStatus::Queued,
                    provenance: Provenance::Evaluated,
                    configuration: serde_json::json!({}),
                })
                .await
                .expect("creates");
            with_pool!(storage, |pool| sqlx::query(
                "UPDATE runs SET status = 'paused' WHERE id = $1"
            )
            .bind(run.0)
            .execute(pool)
            .await
            .map(|_| ()))
            .expect("edits");
            match storage.run(run).await {
                Err(StorageError::Corrupt {
                    table,
                    column,
                    value,
                }) => assert_eq!(
                    (table, column, value.as_str()),
                    ("runs", "status", "paused")
                ),
                other => panic!("expected a corrupt value, got {other:?}"),
            }
        }
    }
}
