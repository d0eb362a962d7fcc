//! The leaderboard's reads: every finished run with its model and its numbers (the stored
//! scorecard, or the paper-reported scores) in a fixed number of queries, whatever the number of
//! runs, inside one read transaction together with the generation counter that migration 0003's
//! triggers bump on every write that can change a leaderboard row.

use std::collections::HashMap;

use omnireward_shared::Scorecard;
use sqlx::Row;

use super::queries::{ModelRecord, model_record};
use super::reported_scores::{ReportedScore, reported_score, sort_reported_scores};
use super::runs::{Provenance, RunId, RunStatus, parse_configuration};
use super::scorecards::parse_scorecard;
use super::{Backend, Storage, StorageError, database, parse_column};

/// A value of the leaderboard generation counter: it only grows, and it changes whenever a
/// leaderboard row may have changed (in any process writing the database).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LeaderboardGeneration(pub i64);

/// A finished run with everything a leaderboard row shows.
#[derive(Clone, Debug, PartialEq)]
pub struct LeaderboardRun {
    /// The run.
    pub run: RunId,
    /// Its model with the model's metadata.
    pub model: ModelRecord,
    /// Where its numbers come from.
    pub provenance: Provenance,
    /// The recorded configuration.
    pub configuration: serde_json::Value,
    /// The stored scorecard (evaluated and reference-import runs), if one was computed.
    pub scorecard: Option<Scorecard>,
    /// The reported scores (paper-reported runs), by setting, tasks in column order, overall last.
    pub reported_scores: Vec<ReportedScore>,
}

/// Every finished run, oldest first, read at one generation.
#[derive(Clone, Debug, PartialEq)]
pub struct LeaderboardData {
    /// The generation the runs were read at.
    pub generation: LeaderboardGeneration,
    /// The finished runs.
    pub runs: Vec<LeaderboardRun>,
}

impl Storage {
    /// The current leaderboard generation: one single-row read.
    pub async fn leaderboard_generation(&self) -> Result<LeaderboardGeneration, StorageError> {
        with_pool!(self, |pool| {
            let generation: i64 =
                sqlx::query_scalar("SELECT generation FROM leaderboard_generation WHERE id = 1")
                    .fetch_one(pool)
                    .await
                    .map_err(database("read the leaderboard generation"))?;
            Ok(LeaderboardGeneration(generation))
        })
    }

    /// Every finished run with its model, scorecard and reported scores, in three queries (the
    /// generation, runs joined with models and scorecards, reported scores) inside one read
    /// transaction, so the runs are exactly those of the generation returned.
    pub async fn leaderboard_data(&self) -> Result<LeaderboardData, StorageError> {
        with_pool!(self, |pool| {
            let read = database("read the leaderboard");
            let mut transaction = pool.begin().await.map_err(read)?;
            // One snapshot for the three reads: SQLite's read transaction is one already;
            // PostgreSQL's default (READ COMMITTED) takes a new one per statement.
            if self.backend() == Backend::Postgres {
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .execute(&mut *transaction)
                    .await
                    .map_err(read)?;
            }
            let generation: i64 =
                sqlx::query_scalar("SELECT generation FROM leaderboard_generation WHERE id = 1")
                    .fetch_one(&mut *transaction)
                    .await
                    .map_err(read)?;
            let finished = RunStatus::Finished.as_str();
            let runs = sqlx::query(
                "SELECT runs.id AS run_id, runs.provenance, runs.configuration_json, \
             models.id AS model_id, models.name, models.kind, models.model_group, \
             models.parameters, models.licence, models.open_weights, scorecards.scorecard_json \
             FROM runs JOIN models ON models.id = runs.model_id \
             LEFT JOIN scorecards ON scorecards.run_id = runs.id \
             WHERE runs.status = $1 ORDER BY runs.id",
            )
            .bind(finished)
            .fetch_all(&mut *transaction)
            .await
            .map_err(read)?;
            let scores = sqlx::query(
                "SELECT reported_scores.run_id, reported_scores.setting, reported_scores.task, \
             reported_scores.accuracy \
             FROM reported_scores JOIN runs ON runs.id = reported_scores.run_id \
             WHERE runs.status = $1",
            )
            .bind(finished)
            .fetch_all(&mut *transaction)
            .await
            .map_err(read)?;
            transaction.commit().await.map_err(read)?;

            let mut reported: HashMap<i64, Vec<ReportedScore>> = HashMap::new();
            for row in &scores {
                let run: i64 = row.try_get("run_id").map_err(read)?;
                reported.entry(run).or_default().push(reported_score(row)?);
            }
            let runs = runs
                .iter()
                .map(|row| {
                    let run: i64 = row.try_get("run_id").map_err(read)?;
                    let mut reported_scores = reported.remove(&run).unwrap_or_default();
                    sort_reported_scores(&mut reported_scores);
                    Ok(LeaderboardRun {
                        run: RunId(run),
                        model: model_record(row, "model_id")?,
                        provenance: parse_column(
                            "runs",
                            "provenance",
                            row.try_get("provenance").map_err(read)?,
                        )?,
                        configuration: parse_configuration(
                            row.try_get("configuration_json").map_err(read)?,
                        )?,
                        scorecard: row
                            .try_get::<Option<String>, _>("scorecard_json")
                            .map_err(read)?
                            .map(parse_scorecard)
                            .transpose()?,
                        reported_scores,
                    })
                })
                .collect::<Result<Vec<_>, StorageError>>()?;
            Ok(LeaderboardData {
                generation: LeaderboardGeneration(generation),
                runs,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use omnireward_shared::scorecard::{ScalarTiePolicy, score_judgements};
    use omnireward_shared::{BenchmarkIdentity, BootstrapConfig};

    use super::*;
    use crate::paper_results::parse_embedded;
    use crate::storage::judgements::tests::batch;
    use crate::storage::runs::{ModelKind, NewModel, NewRun};
    use crate::storage::test_support::fresh_databases;

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

    async fn run(storage: &Storage, model: &str, status: RunStatus) -> RunId {
        let model = storage
            .upsert_model(&NewModel::named(model, ModelKind::ApiJudge))
            .await
            .expect("stores a model");
        storage
            .create_run(&NewRun {
                model,
                benchmark: None,
                status,
                provenance: Provenance::Evaluated,
                configuration: serde_json::json!({}),
            })
            .await
            .expect("creates a run")
    }

    #[tokio::test]
    async fn every_write_that_changes_a_row_bumps_the_generation() {
        for database in fresh_databases().await {
            let storage = database.storage();
            let mut last = storage.leaderboard_generation().await.expect("reads");
            let mut assert_bumped = async |what: &str| {
                let now = storage.leaderboard_generation().await.expect("reads");
                assert!(now > last, "{what}: {now:?} after {last:?}");
                last = now;
            };
            storage
                .import_paper_results(&parse_embedded().expect("parses"))
                .await
                .expect("imports");
            assert_bumped("paper import").await;
            let queued = run(storage, "judge", RunStatus::Queued).await;
            assert_bumped("new run").await;
            storage
                .store_scorecard(queued, &scorecard())
                .await
                .expect("stores");
            assert_bumped("scorecard").await;
            storage
                .set_run_status(queued, RunStatus::Finished)
                .await
                .expect("finishes");
            assert_bumped("finished run").await;
            storage
                .upsert_model(&NewModel {
                    licence: Some("apache-2.0".to_owned()),
                    ..NewModel::named("judge", ModelKind::ApiJudge)
                })
                .await
                .expect("updates");
            assert_bumped("model metadata").await;
            with_pool!(storage, |pool| sqlx::query(
                "DELETE FROM runs WHERE id = $1"
            )
            .bind(queued.0)
            .execute(pool)
            .await
            .map(|_| ()))
            .expect("deletes");
            assert_bumped("deleted run").await;

            // Judgements alone do not change rows, so they leave the generation alone.
            let other = run(storage, "other", RunStatus::Running).await;
            let before = storage.leaderboard_generation().await.expect("reads");
            storage
                .record_judgements(other, &batch())
                .await
                .expect("records");
            assert_eq!(
                storage.leaderboard_generation().await.expect("reads"),
                before
            );
        }
    }

    #[tokio::test]
    async fn finished_runs_come_with_their_numbers_in_one_read() {
        for database in fresh_databases().await {
            let storage = database.storage();
            storage
                .import_paper_results(&parse_embedded().expect("parses"))
                .await
                .expect("imports");
            let finished = run(storage, "finished", RunStatus::Finished).await;
            storage
                .store_scorecard(finished, &scorecard())
                .await
                .expect("stores");
            let running = run(storage, "running", RunStatus::Running).await;
            storage
                .store_scorecard(running, &scorecard())
                .await
                .expect("stores");

            let data = storage.leaderboard_data().await.expect("reads");
            assert_eq!(
                data.generation,
                storage.leaderboard_generation().await.expect("reads")
            );
            assert_eq!(data.runs.len(), 38, "37 paper runs and one finished run");
            assert!(data.runs.iter().all(|entry| entry.run != running));
            let paper = data
                .runs
                .iter()
                .find(|entry| entry.model.name == "GPT-4o")
                .expect("paper row");
            assert_eq!(paper.provenance, Provenance::PaperReported);
            assert_eq!(paper.scorecard, None);
            assert_eq!(
                paper.reported_scores,
                storage.reported_scores(paper.run).await.expect("reads")
            );
            let evaluated = data.runs.last().expect("the newest run");
            assert_eq!(evaluated.run, finished);
            assert_eq!(evaluated.model.name, "finished");
            assert!(evaluated.reported_scores.is_empty());
            assert_eq!(
                evaluated.scorecard,
                storage.scorecard(finished).await.expect("reads")
            );
        }
    }
}
