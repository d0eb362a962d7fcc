//! Paper-reported scores: accuracies copied from the paper's tables, kept apart from everything
//! evaluated here.
//!
//! Each paper model gets a `paper_reported` model row and one finished `paper_reported` run with no
//! benchmark; its numbers go to `reported_scores` only, never to judgements or scorecards. The
//! overall column is stored under the task value `overall` (see the migration for why not NULL).

use omnireward_shared::{Setting, Task};

use super::runs::{ModelKind, NewModel, Provenance, RunId, RunStatus, upsert_model};
use super::{Storage, StorageError, StorageRow, database, now_unix_ms, parse_column};
use crate::paper_results::{OVERALL_COLUMN, PAPER_RESULTS_SOURCE, PaperResult};

/// One stored paper-reported accuracy.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportedScore {
    /// The setting.
    pub setting: Setting,
    /// The task; `None` for the overall column.
    pub task: Option<Task>,
    /// The accuracy, as a fraction.
    pub accuracy: f64,
}

/// What an import of paper results did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Models imported (created or already present).
    pub models: usize,
    /// Runs created by this import; zero when re-importing.
    pub runs_created: usize,
    /// Reported scores now stored for the imported runs.
    pub reported_scores: usize,
}

/// The rows of one model, in the order they were given.
struct ModelResults<'results> {
    name: &'results str,
    group: &'results str,
    results: Vec<&'results PaperResult>,
}

impl Storage {
    /// Imports paper results in one transaction: one model and one run per model name, with the
    /// reported scores of every setting given. Importing again leaves the same rows: runs are
    /// reused and each run's scores are replaced by the ones given.
    pub async fn import_paper_results(
        &self,
        results: &[PaperResult],
    ) -> Result<ImportSummary, StorageError> {
        with_pool!(self, |pool| {
            let models = group_by_model(results)?;
            let configuration = serde_json::json!({
                "source": PAPER_RESULTS_SOURCE,
                "benchmark": "Omni-RewardBench (Jin et al., 2025)",
                "note": "computed by the paper's authors on the full release; not evaluated here",
            })
            .to_string();
            let mut transaction = pool
                .begin()
                .await
                .map_err(database("start importing paper results"))?;
            let mut summary = ImportSummary::default();
            for model in &models {
                let model_id = upsert_model!(
                    &mut *transaction,
                    &NewModel {
                        group: Some(model.group.to_owned()),
                        ..NewModel::named(model.name, ModelKind::PaperReported)
                    }
                )?;
                summary.models += 1;

                let existing: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM runs WHERE model_id = $1 AND provenance = $2 ORDER BY id LIMIT 1",
            )
            .bind(model_id.0)
            .bind(Provenance::PaperReported.as_str())
            .fetch_optional(&mut *transaction)
            .await
            .map_err(database("find a paper-reported run"))?;
                let run = match existing {
                    Some(id) => id,
                    None => {
                        let now = now_unix_ms();
                        summary.runs_created += 1;
                        sqlx::query_scalar(
                            "INSERT INTO runs (model_id, benchmark_id, status, provenance, \
                         configuration_json, created_at, finished_at) \
                         VALUES ($1, NULL, $2, $3, $4, $5, $6) RETURNING id",
                        )
                        .bind(model_id.0)
                        .bind(RunStatus::Finished.as_str())
                        .bind(Provenance::PaperReported.as_str())
                        .bind(&configuration)
                        .bind(now)
                        .bind(now)
                        .fetch_one(&mut *transaction)
                        .await
                        .map_err(database("create a paper-reported run"))?
                    }
                };

                sqlx::query("DELETE FROM reported_scores WHERE run_id = $1")
                    .bind(run)
                    .execute(&mut *transaction)
                    .await
                    .map_err(database("replace reported scores"))?;
                for result in &model.results {
                    let scores = result
                        .tasks
                        .iter()
                        .map(|(task, accuracy)| (task.key(), *accuracy))
                        .chain([(OVERALL_COLUMN, result.overall)]);
                    for (task, accuracy) in scores {
                        sqlx::query(
                            "INSERT INTO reported_scores (run_id, setting, task, accuracy) \
                         VALUES ($1, $2, $3, $4)",
                        )
                        .bind(run)
                        .bind(result.setting.key())
                        .bind(task)
                        .bind(accuracy)
                        .execute(&mut *transaction)
                        .await
                        .map_err(database("store a reported score"))?;
                        summary.reported_scores += 1;
                    }
                }
            }
            transaction
                .commit()
                .await
                .map_err(database("commit paper results"))?;
            Ok(summary)
        })
    }

    /// The reported scores of a run, by setting, with tasks in the paper's column order and the
    /// overall last. Empty for runs that are not paper-reported.
    pub async fn reported_scores(&self, run: RunId) -> Result<Vec<ReportedScore>, StorageError> {
        with_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT setting, task, accuracy FROM reported_scores WHERE run_id = $1",
            )
            .bind(run.0)
            .fetch_all(pool)
            .await
            .map_err(database("read reported scores"))?;
            let mut scores = rows
                .iter()
                .map(reported_score)
                .collect::<Result<Vec<_>, StorageError>>()?;
            sort_reported_scores(&mut scores);
            Ok(scores)
        })
    }
}

/// A reported score from a row with the columns `setting`, `task` and `accuracy`.
pub(super) fn reported_score(row: &impl StorageRow) -> Result<ReportedScore, StorageError> {
    let read = database("read reported scores");
    let task: String = row.read("task").map_err(&read)?;
    Ok(ReportedScore {
        setting: parse_column(
            "reported_scores",
            "setting",
            row.read("setting").map_err(&read)?,
        )?,
        task: if task == OVERALL_COLUMN {
            None
        } else {
            Some(parse_column("reported_scores", "task", task)?)
        },
        accuracy: row.read("accuracy").map_err(&read)?,
    })
}

/// By setting, tasks in the paper's column order, the overall last.
pub(super) fn sort_reported_scores(scores: &mut [ReportedScore]) {
    scores.sort_by_key(|score| (score.setting, score.task.is_none(), score.task));
}

/// Groups rows by model name, refusing two rows for one setting or two groups for one model.
fn group_by_model(results: &[PaperResult]) -> Result<Vec<ModelResults<'_>>, StorageError> {
    let mut models: Vec<ModelResults<'_>> = Vec::new();
    for result in results {
        let conflict = |reason: String| StorageError::ConflictingPaperResults {
            model: result.model.clone(),
            reason,
        };
        match models.iter_mut().find(|model| model.name == result.model) {
            None => models.push(ModelResults {
                name: &result.model,
                group: &result.group,
                results: vec![result],
            }),
            Some(model) => {
                if model.group != result.group {
                    return Err(conflict(format!(
                        "listed in groups `{}` and `{}`",
                        model.group, result.group
                    )));
                }
                if model
                    .results
                    .iter()
                    .any(|earlier| earlier.setting == result.setting)
                {
                    return Err(conflict(format!("two rows for {}", result.setting)));
                }
                model.results.push(result);
            }
        }
    }
    Ok(models)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::paper_results::parse_embedded;
    use crate::storage::RunRecord;
    use crate::storage::test_support::fresh_databases;

    /// Fractions come from two-decimal percentages; compare well inside that.
    const TOLERANCE: f64 = 1e-12;

    async fn count(storage: &Storage, table: &str) -> i64 {
        let sql = match table {
            "models" => "SELECT COUNT(*) FROM models",
            "runs" => "SELECT COUNT(*) FROM runs",
            "reported_scores" => "SELECT COUNT(*) FROM reported_scores",
            "judgements" => "SELECT COUNT(*) FROM judgements",
            "scorecards" => "SELECT COUNT(*) FROM scorecards",
            other => panic!("no count query for {other}"),
        };
        with_pool!(storage, |pool| sqlx::query_scalar(sql)
            .fetch_one(pool)
            .await)
        .expect("counts")
    }

    fn run_of<'runs>(runs: &'runs [RunRecord], model: &str) -> &'runs RunRecord {
        runs.iter()
            .find(|run| run.model_name == model)
            .unwrap_or_else(|| panic!("{model} was imported"))
    }

    fn score(scores: &[ReportedScore], setting: Setting, task: Option<Task>) -> Option<f64> {
        scores
            .iter()
            .find(|score| score.setting == setting && score.task == task)
            .map(|score| score.accuracy)
    }

    #[tokio::test]
    async fn paper_import_is_complete_and_idempotent() {
        for database in fresh_databases().await {
            let storage = database.storage();
            let results = parse_embedded().expect("parses");
            // Every row stores its supported tasks plus the overall.
            let expected_scores: usize = results.iter().map(|result| result.tasks.len() + 1).sum();

            let first = storage
                .import_paper_results(&results)
                .await
                .expect("imports");
            assert_eq!(
                first,
                ImportSummary {
                    models: 37,
                    runs_created: 37,
                    reported_scores: expected_scores,
                }
            );
            let runs_before = storage.runs().await.expect("lists");
            let scores_before = storage
                .reported_scores(run_of(&runs_before, "GPT-4o").id)
                .await
                .expect("reads");

            let second = storage
                .import_paper_results(&results)
                .await
                .expect("re-imports");
            assert_eq!(second.runs_created, 0);
            assert_eq!(count(storage, "models").await, 37);
            assert_eq!(count(storage, "runs").await, 37);
            assert_eq!(
                count(storage, "reported_scores").await,
                i64::try_from(expected_scores).expect("small")
            );
            assert_eq!(storage.runs().await.expect("lists"), runs_before);
            assert_eq!(
                storage
                    .reported_scores(run_of(&runs_before, "GPT-4o").id)
                    .await
                    .expect("reads"),
                scores_before
            );
            // Paper numbers never become evaluated results.
            assert_eq!(count(storage, "judgements").await, 0);
            assert_eq!(count(storage, "scorecards").await, 0);

            for run in &runs_before {
                assert_eq!(run.model_kind, ModelKind::PaperReported);
                assert_eq!(run.provenance, Provenance::PaperReported);
                assert_eq!(run.status, RunStatus::Finished);
                assert_eq!(run.benchmark, None);
                assert!(run.finished_at_ms.is_some());
                assert_eq!(run.configuration["source"], PAPER_RESULTS_SOURCE);
            }
            assert_eq!(
                run_of(&runs_before, "Omni-RewardModel-BT")
                    .model_group
                    .as_deref(),
                Some("specialized")
            );
        }
    }

    #[tokio::test]
    async fn imported_scores_match_the_paper() {
        for database in fresh_databases().await {
            let storage = database.storage();
            storage
                .import_paper_results(&parse_embedded().expect("parses"))
                .await
                .expect("imports");
            let runs = storage.runs().await.expect("lists");
            let cases = [
                ("Omni-RewardModel-BT", 0.6536, 0.7368),
                ("Claude-3-5-Sonnet-20241022", 0.6654, 0.7666),
                ("GPT-4o", 0.6462, 0.7313),
                ("MiniCPM-o-2.6", 0.4667, 0.6218),
            ];
            for (model, with_ties, without_ties) in cases {
                let scores = storage
                    .reported_scores(run_of(&runs, model).id)
                    .await
                    .expect("reads");
                for (setting, expected) in [
                    (Setting::WithTies, with_ties),
                    (Setting::WithoutTies, without_ties),
                ] {
                    let overall = score(&scores, setting, None).expect("has an overall");
                    assert!((overall - expected).abs() < TOLERANCE, "{model} {setting}");
                }
                // Tasks in column order, overall last, w/ Ties first.
                assert_eq!(
                    scores.first().map(|score| score.task),
                    Some(Some(Task::TextToText))
                );
                assert_eq!(scores.last().map(|score| score.task), Some(None));
            }

            let without_audio = storage
                .reported_scores(run_of(&runs, "MiniCPM-V-2.6").id)
                .await
                .expect("reads");
            let mut per_setting: BTreeMap<Setting, usize> = BTreeMap::new();
            for score in &without_audio {
                assert_ne!(score.task, Some(Task::TextAudioToText));
                assert_ne!(score.task, Some(Task::TextToAudio));
                *per_setting.entry(score.setting).or_default() += 1;
            }
            assert_eq!(
                per_setting,
                BTreeMap::from([(Setting::WithTies, 8), (Setting::WithoutTies, 8)])
            );
        }
    }

    #[tokio::test]
    async fn conflicting_paper_rows_are_refused_and_nothing_is_stored() {
        for database in fresh_databases().await {
            let storage = database.storage();
            let mut results = parse_embedded().expect("parses");
            let mut regrouped = results[0].clone();
            regrouped.setting = Setting::WithoutTies;
            regrouped.group = "specialized".to_owned();
            results.retain(|result| {
                !(result.model == regrouped.model && result.setting == Setting::WithoutTies)
            });
            results.push(regrouped);
            let error = storage
                .import_paper_results(&results)
                .await
                .expect_err("conflict");
            assert!(
                matches!(error, StorageError::ConflictingPaperResults { .. }),
                "{error}"
            );
            assert_eq!(count(storage, "models").await, 0);
        }
    }
}
