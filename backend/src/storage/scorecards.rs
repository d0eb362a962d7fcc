//! The latest scorecard of each evaluated run, stored as the scorecard's stable JSON.
//!
//! A scorecard is derived data (it can be recomputed from the judgements), so storing one replaces
//! the previous one.

use omnireward_shared::Scorecard;

use super::runs::RunId;
use super::{Storage, StorageError, database, now_unix_ms};

impl Storage {
    /// Stores (or replaces) the scorecard of an evaluated run.
    pub async fn store_scorecard(
        &self,
        run: RunId,
        scorecard: &Scorecard,
    ) -> Result<(), StorageError> {
        with_pool!(self, |pool| {
            self.ensure_evaluated_here(run).await?;
            let json = serde_json::to_string(scorecard).map_err(|source| StorageError::Encode {
                what: "a scorecard",
                source,
            })?;
            sqlx::query(
                "INSERT INTO scorecards (run_id, scorecard_json, computed_at) VALUES ($1, $2, $3) \
             ON CONFLICT (run_id) DO UPDATE SET \
             scorecard_json = excluded.scorecard_json, computed_at = excluded.computed_at",
            )
            .bind(run.0)
            .bind(json)
            .bind(now_unix_ms())
            .execute(pool)
            .await
            .map_err(database("store a scorecard"))?;
            Ok(())
        })
    }

    /// The stored scorecard of a run, if one was computed.
    ///
    /// Floats come back through `serde_json`, whose default parser may differ from the written
    /// value in the last bit for some 17-digit numbers (its `float_roundtrip` feature fixes that).
    pub async fn scorecard(&self, run: RunId) -> Result<Option<Scorecard>, StorageError> {
        with_pool!(self, |pool| {
            let json: Option<String> =
                sqlx::query_scalar("SELECT scorecard_json FROM scorecards WHERE run_id = $1")
                    .bind(run.0)
                    .fetch_optional(pool)
                    .await
                    .map_err(database("read a scorecard"))?;
            json.map(parse_scorecard).transpose()
        })
    }
}

/// A stored scorecard's JSON, read back.
pub(super) fn parse_scorecard(json: String) -> Result<Scorecard, StorageError> {
    serde_json::from_str(&json).map_err(|_| StorageError::Corrupt {
        table: "scorecards",
        column: "scorecard_json",
        value: json,
    })
}

#[cfg(test)]
mod tests {
    use omnireward_shared::scorecard::{ScalarTiePolicy, score_judgements};
    use omnireward_shared::{BenchmarkIdentity, BootstrapConfig};

    use super::*;
    use crate::storage::judgements::tests::{batch, new_run};
    use crate::storage::runs::Provenance;
    use crate::storage::test_support::fresh_databases;

    /// Relative tolerance for floats read back from JSON: one or two units in the last place.
    const JSON_FLOAT_TOLERANCE: f64 = 1e-15;

    fn scorecard() -> Scorecard {
        Scorecard {
            model: "judge".to_owned(),
            benchmark: BenchmarkIdentity {
                name: "omni-rewardbench".to_owned(),
                version: "sample-1".to_owned(),
                hash: "ab12".to_owned(),
            },
            settings: score_judgements(
                &batch(),
                ScalarTiePolicy::Sweep,
                BootstrapConfig::default(),
            ),
        }
    }

    /// Compares two JSON documents: same shape and strings, numbers within the tolerance.
    fn assert_json_close(left: &serde_json::Value, right: &serde_json::Value, path: &str) {
        use serde_json::Value;
        match (left, right) {
            (Value::Number(left), Value::Number(right)) => {
                let (left, right) = (
                    left.as_f64().expect("finite"),
                    right.as_f64().expect("finite"),
                );
                let scale = left.abs().max(right.abs()).max(1.0);
                assert!(
                    (left - right).abs() <= JSON_FLOAT_TOLERANCE * scale,
                    "{path}: {left} != {right}"
                );
            }
            (Value::Array(left), Value::Array(right)) => {
                assert_eq!(left.len(), right.len(), "{path}");
                for (index, (left, right)) in left.iter().zip(right).enumerate() {
                    assert_json_close(left, right, &format!("{path}[{index}]"));
                }
            }
            (Value::Object(left), Value::Object(right)) => {
                assert_eq!(
                    left.keys().collect::<Vec<_>>(),
                    right.keys().collect::<Vec<_>>(),
                    "{path}"
                );
                for (key, value) in left {
                    assert_json_close(value, &right[key], &format!("{path}.{key}"));
                }
            }
            (left, right) => assert_eq!(left, right, "{path}"),
        }
    }

    #[tokio::test]
    async fn scorecards_round_trip_and_are_replaced() {
        for database in fresh_databases().await {
            let storage = database.storage();
            let run = new_run(storage, Provenance::Evaluated).await;
            assert_eq!(storage.scorecard(run).await.expect("reads"), None);

            let mut first = scorecard();
            first.model = "first".to_owned();
            storage.store_scorecard(run, &first).await.expect("stores");
            let latest = scorecard();
            storage
                .store_scorecard(run, &latest)
                .await
                .expect("replaces");

            let stored = storage
                .scorecard(run)
                .await
                .expect("reads")
                .expect("exists");
            assert_eq!(stored.model, latest.model);
            assert_eq!(stored.benchmark, latest.benchmark);
            assert_eq!(
                stored.settings.keys().collect::<Vec<_>>(),
                latest.settings.keys().collect::<Vec<_>>()
            );
            let to_value =
                |scorecard: &Scorecard| serde_json::to_value(scorecard).expect("encodes");
            assert_json_close(&to_value(&stored), &to_value(&latest), "scorecard");
            let stored_rows: i64 = with_pool!(storage, |pool| sqlx::query_scalar(
                "SELECT COUNT(*) FROM scorecards"
            )
            .fetch_one(pool)
            .await)
            .expect("counts");
            assert_eq!(stored_rows, 1);
        }
    }

    #[tokio::test]
    async fn paper_reported_runs_take_no_scorecard() {
        for database in fresh_databases().await {
            let storage = database.storage();
            let run = new_run(storage, Provenance::PaperReported).await;
            let error = storage
                .store_scorecard(run, &scorecard())
                .await
                .expect_err("refused");
            assert!(
                matches!(error, StorageError::NotEvaluatedHere { .. }),
                "{error}"
            );
        }
    }
}
