//! Per-item judge outputs of a run.
//!
//! Writes are idempotent on (run, task, sample, setting, order), ARCHITECTURE.md invariant 6: a
//! batch is one transaction, an item already stored is skipped and its first row never changes, so
//! a resumed or retried run can re-send a batch without losing or duplicating a judgement.

use std::collections::BTreeSet;

use omnireward_shared::{Judgement, JudgementKey, Order, Rewards, Task};

use super::runs::{ModelId, Provenance, RunId};
use super::{
    Storage, StorageError, StorageRow, database, non_negative, now_unix_ms, parse_column, to_signed,
};

/// A judgement of one sample with the run and model it belongs to.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleJudgement {
    pub run: RunId,
    pub model: ModelId,
    pub model_name: String,
    pub judgement: Judgement,
    /// The sample as the run's benchmark stored it (`None` for runs without a stored
    /// benchmark): what tells whether the run judged the same sample as another benchmark's.
    pub judged_sample: Option<omnireward_shared::Sample>,
}

/// The original-order judgements of one finished run, with the benchmark it judged.
#[derive(Clone, Debug, PartialEq)]
pub struct FinishedRunJudgements {
    /// The run.
    pub run: RunId,
    /// Name, version and content hash of its stored benchmark (`None` for runs without one).
    pub benchmark: Option<omnireward_shared::BenchmarkIdentity>,
    /// Its original-order judgements, without their raw outputs (no reader of these needs
    /// them, and they are most of a judgement's bytes).
    pub judgements: Vec<Judgement>,
}

impl Storage {
    /// The original-order judgements of every finished run that has per-item judgements (paper
    /// rows have none), in one query: what the leaderboard's paired tests between neighbours and
    /// the samples' difficulty are computed from. Runs in id order; each run's judgements in no
    /// particular order (their readers pair or count them by key).
    pub async fn finished_run_judgements(
        &self,
    ) -> Result<Vec<FinishedRunJudgements>, StorageError> {
        with_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT judgements.run_id, benchmarks.name AS benchmark_name, \
                 benchmarks.version AS benchmark_version, benchmarks.content_hash, \
                 judgements.task, judgements.sample_id, judgements.setting, \
                 judgements.presentation_order, CAST(NULL AS TEXT) AS raw_output, \
                 judgements.reward_response1, judgements.reward_response2, judgements.verdict, \
                 judgements.label, judgements.attempts, judgements.input_tokens, \
                 judgements.output_tokens, judgements.latency_ms \
                 FROM judgements \
                 JOIN runs ON runs.id = judgements.run_id \
                 LEFT JOIN benchmarks ON benchmarks.id = runs.benchmark_id \
                 WHERE runs.status = $1 AND runs.provenance <> $2 \
                 AND judgements.presentation_order = $3 \
                 ORDER BY judgements.run_id",
            )
            .bind(super::RunStatus::Finished.as_str())
            .bind(Provenance::PaperReported.as_str())
            .bind(Order::Original.key())
            .fetch_all(pool)
            .await
            .map_err(database("read the finished runs' judgements"))?;
            let read = database("read a finished run's judgement");
            let mut runs: Vec<FinishedRunJudgements> = Vec::new();
            for row in &rows {
                let run = RunId(row.read("run_id").map_err(&read)?);
                if runs.last().is_none_or(|last| last.run != run) {
                    let name: Option<String> = row.read("benchmark_name").map_err(&read)?;
                    let version: Option<String> = row.read("benchmark_version").map_err(&read)?;
                    let hash: Option<String> = row.read("content_hash").map_err(&read)?;
                    let benchmark = match (name, version, hash) {
                        (Some(name), Some(version), Some(hash)) => {
                            Some(omnireward_shared::BenchmarkIdentity {
                                name,
                                version,
                                hash,
                            })
                        }
                        _ => None,
                    };
                    runs.push(FinishedRunJudgements {
                        run,
                        benchmark,
                        judgements: Vec::new(),
                    });
                }
                if let Some(last) = runs.last_mut() {
                    last.judgements.push(judgement_from_row(row)?);
                }
            }
            Ok(runs)
        })
    }

    /// Stores a batch of judgements in one transaction and returns how many were new. Items whose
    /// key is already stored (in an earlier batch or earlier in this one) are skipped, keeping the
    /// first stored row. If any item cannot be stored, nothing of the batch is.
    pub async fn record_judgements(
        &self,
        run: RunId,
        judgements: &[Judgement],
    ) -> Result<usize, StorageError> {
        with_pool!(self, |pool| {
            self.ensure_evaluated_here(run).await?;
            // The first statement of the transaction is a write, so SQLite takes the write lock at
            // once and waits out the busy timeout, instead of failing when a read lock must upgrade.
            let mut transaction = pool
                .begin()
                .await
                .map_err(database("start recording judgements"))?;
            let created_at = now_unix_ms();
            let mut inserted = 0;
            for judgement in judgements {
                let row = JudgementRow::new(judgement)?;
                let result = sqlx::query(
                    "INSERT INTO judgements (run_id, task, sample_id, setting, presentation_order, \
                 raw_output, reward_response1, reward_response2, verdict, label, attempts, \
                 input_tokens, output_tokens, latency_ms, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
                 ON CONFLICT (run_id, task, sample_id, setting, presentation_order) DO NOTHING",
                )
                .bind(run.0)
                .bind(judgement.task.key())
                .bind(&judgement.sample_id)
                .bind(judgement.setting.key())
                .bind(judgement.order.key())
                .bind(&judgement.raw_output)
                .bind(judgement.rewards.map(|rewards| rewards.response1))
                .bind(judgement.rewards.map(|rewards| rewards.response2))
                .bind(judgement.verdict.map(|verdict| verdict.key()))
                .bind(judgement.label.key())
                .bind(judgement.attempts.map(i64::from))
                .bind(row.input_tokens)
                .bind(row.output_tokens)
                .bind(row.latency_ms)
                .bind(created_at)
                .execute(&mut *transaction)
                .await
                .map_err(database("record judgements"))?;
                inserted += usize::try_from(result.rows_affected()).unwrap_or(usize::MAX);
            }
            transaction
                .commit()
                .await
                .map_err(database("commit judgements"))?;
            Ok(inserted)
        })
    }

    /// Every judgement of a run, ordered by task (paper column order), sample id, setting and
    /// order, so the result does not depend on the database's collation or insertion order.
    pub async fn judgements(&self, run: RunId) -> Result<Vec<Judgement>, StorageError> {
        with_pool!(self, |pool| {
            let rows = sqlx::query(
            "SELECT task, sample_id, setting, presentation_order, raw_output, reward_response1, \
             reward_response2, verdict, label, attempts, input_tokens, output_tokens, latency_ms \
             FROM judgements WHERE run_id = $1",
        )
        .bind(run.0)
        .fetch_all(pool)
        .await
        .map_err(database("read judgements"))?;
            let mut judgements = rows
                .iter()
                .map(judgement_from_row)
                .collect::<Result<Vec<_>, _>>()?;
            judgements.sort_by(|left, right| {
                (left.task, &left.sample_id, left.setting, left.order).cmp(&(
                    right.task,
                    &right.sample_id,
                    right.setting,
                    right.order,
                ))
            });
            Ok(judgements)
        })
    }

    /// Every stored judgement of a sample with this task and id, across the runs of every model
    /// and every benchmark (a run over some of the tasks is stored under a benchmark of its own),
    /// with the run's model and the sample as the run's benchmark holds it, so the caller keeps
    /// the runs that judged the same content. Ordered by model name, run, setting and order.
    pub async fn sample_judgements(
        &self,
        task: Task,
        sample_id: &str,
    ) -> Result<Vec<SampleJudgement>, StorageError> {
        with_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT judgements.run_id, models.id AS model_id, models.name AS model_name, \
                 judgements.task, judgements.sample_id, judgements.setting, \
                 judgements.presentation_order, judgements.raw_output, \
                 judgements.reward_response1, judgements.reward_response2, judgements.verdict, \
                 judgements.label, judgements.attempts, judgements.input_tokens, \
                 judgements.output_tokens, judgements.latency_ms, samples.sample_json \
                 FROM judgements \
                 JOIN runs ON runs.id = judgements.run_id \
                 JOIN models ON models.id = runs.model_id \
                 LEFT JOIN samples ON samples.benchmark_id = runs.benchmark_id \
                 AND samples.task = judgements.task AND samples.sample_id = judgements.sample_id \
                 WHERE judgements.task = $1 AND judgements.sample_id = $2",
            )
            .bind(task.key())
            .bind(sample_id)
            .fetch_all(pool)
            .await
            .map_err(database("read a sample's judgements"))?;
            let read = database("read a sample's judgement");
            let mut judgements = rows
                .iter()
                .map(|row| {
                    Ok(SampleJudgement {
                        run: RunId(row.read("run_id").map_err(&read)?),
                        model: ModelId(row.read("model_id").map_err(&read)?),
                        model_name: row.read("model_name").map_err(&read)?,
                        judgement: judgement_from_row(row)?,
                        judged_sample: row
                            .read::<Option<String>>("sample_json")
                            .map_err(&read)?
                            .map(|json| {
                                serde_json::from_str(&json).map_err(|_| StorageError::Corrupt {
                                    table: "samples",
                                    column: "sample_json",
                                    value: json,
                                })
                            })
                            .transpose()?,
                    })
                })
                .collect::<Result<Vec<_>, StorageError>>()?;
            judgements.sort_by(|left, right| {
                (
                    &left.model_name,
                    left.run,
                    left.judgement.setting,
                    left.judgement.order,
                )
                    .cmp(&(
                        &right.model_name,
                        right.run,
                        right.judgement.setting,
                        right.judgement.order,
                    ))
            });
            Ok(judgements)
        })
    }

    /// The keys of the judgements already stored for a run, for resuming it.
    pub async fn judgement_keys(&self, run: RunId) -> Result<BTreeSet<JudgementKey>, StorageError> {
        with_pool!(self, |pool| {
            let rows = sqlx::query(
            "SELECT task, sample_id, setting, presentation_order FROM judgements WHERE run_id = $1",
        )
        .bind(run.0)
        .fetch_all(pool)
        .await
        .map_err(database("read judgement keys"))?;
            rows.iter().map(key_from_row).collect()
        })
    }

    /// Refuses per-item results for runs whose numbers come from the paper.
    pub(super) async fn ensure_evaluated_here(&self, run: RunId) -> Result<(), StorageError> {
        match self.run_provenance(run).await? {
            Provenance::PaperReported => Err(StorageError::NotEvaluatedHere {
                run,
                provenance: Provenance::PaperReported,
            }),
            Provenance::Evaluated
            | Provenance::ReferenceImport
            | Provenance::SubmittedPredictions => Ok(()),
        }
    }
}

/// The fields of a judgement that need checking before they can be bound.
struct JudgementRow {
    input_tokens: Option<i64>,
    output_tokens: Option<i64>,
    latency_ms: Option<i64>,
}

impl JudgementRow {
    fn new(judgement: &Judgement) -> Result<JudgementRow, StorageError> {
        // SQLite stores NaN as NULL, which would read back as a different judgement.
        if let Some(Rewards {
            response1,
            response2,
        }) = judgement.rewards
            && !(response1.is_finite() && response2.is_finite())
        {
            return Err(StorageError::InvalidJudgement {
                task: judgement.task.key().to_owned(),
                sample_id: judgement.sample_id.clone(),
                reason: "rewards must be finite numbers",
            });
        }
        let signed = |field, value: Option<u64>| value.map(|value| to_signed(field, value));
        Ok(JudgementRow {
            input_tokens: signed("input_tokens", judgement.input_tokens).transpose()?,
            output_tokens: signed("output_tokens", judgement.output_tokens).transpose()?,
            latency_ms: signed("latency_ms", judgement.latency_ms).transpose()?,
        })
    }
}

fn parse_order(value: String) -> Result<Order, StorageError> {
    match value.as_str() {
        "original" => Ok(Order::Original),
        "swapped" => Ok(Order::Swapped),
        _ => Err(StorageError::Corrupt {
            table: "judgements",
            column: "presentation_order",
            value,
        }),
    }
}

fn key_from_row(row: &impl StorageRow) -> Result<JudgementKey, StorageError> {
    let read = database("read a judgement");
    Ok(JudgementKey {
        task: parse_column("judgements", "task", row.read("task").map_err(&read)?)?,
        sample_id: row.read("sample_id").map_err(&read)?,
        setting: parse_column("judgements", "setting", row.read("setting").map_err(&read)?)?,
        order: parse_order(row.read("presentation_order").map_err(&read)?)?,
    })
}

fn judgement_from_row(row: &impl StorageRow) -> Result<Judgement, StorageError> {
    let read = database("read a judgement");
    let key = key_from_row(row)?;
    let reward_response1: Option<f64> = row.read("reward_response1").map_err(&read)?;
    let reward_response2: Option<f64> = row.read("reward_response2").map_err(&read)?;
    let rewards = match (reward_response1, reward_response2) {
        (Some(response1), Some(response2)) => Some(Rewards {
            response1,
            response2,
        }),
        (None, None) => None,
        (one, other) => {
            return Err(StorageError::Corrupt {
                table: "judgements",
                column: "reward_response1",
                value: format!("{one:?} beside reward_response2 {other:?}"),
            });
        }
    };
    let verdict: Option<String> = row.read("verdict").map_err(&read)?;
    let attempts = non_negative(
        "judgements",
        "attempts",
        row.read("attempts").map_err(&read)?,
    )?
    .map(|attempts| {
        u32::try_from(attempts).map_err(|_| StorageError::Corrupt {
            table: "judgements",
            column: "attempts",
            value: attempts.to_string(),
        })
    })
    .transpose()?;
    Ok(Judgement {
        task: key.task,
        sample_id: key.sample_id,
        setting: key.setting,
        order: key.order,
        raw_output: row.read("raw_output").map_err(&read)?,
        rewards,
        verdict: verdict
            .map(|verdict| parse_column("judgements", "verdict", verdict))
            .transpose()?,
        label: parse_column("judgements", "label", row.read("label").map_err(&read)?)?,
        attempts,
        input_tokens: non_negative(
            "judgements",
            "input_tokens",
            row.read("input_tokens").map_err(&read)?,
        )?,
        output_tokens: non_negative(
            "judgements",
            "output_tokens",
            row.read("output_tokens").map_err(&read)?,
        )?,
        latency_ms: non_negative(
            "judgements",
            "latency_ms",
            row.read("latency_ms").map_err(&read)?,
        )?,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use omnireward_shared::{Label, Setting, Task, Verdict};

    use super::*;
    use crate::storage::runs::{ModelKind, NewModel, NewRun, RunStatus};
    use crate::storage::test_support::fresh_databases;

    /// Creates a model and a queued run of the given provenance.
    pub(crate) async fn new_run(storage: &Storage, provenance: Provenance) -> RunId {
        let model = storage
            .upsert_model(&NewModel::named("judge", ModelKind::ApiJudge))
            .await
            .expect("stores a model");
        storage
            .create_run(&NewRun {
                model,
                benchmark: None,
                status: RunStatus::Running,
                provenance,
                configuration: serde_json::json!({"prompt_set_hash": "0123"}),
            })
            .await
            .expect("creates a run")
    }

    /// A varied batch: a generative verdict with tokens, an unparseable one, a swapped one and a
    /// scalar reward pair.
    pub(crate) fn batch() -> Vec<Judgement> {
        vec![
            Judgement {
                task: Task::TextToText,
                sample_id: "t2t-1".to_owned(),
                setting: Setting::WithTies,
                order: Order::Original,
                raw_output: Some("Response A follows the criterion. [[A]]".to_owned()),
                rewards: None,
                verdict: Some(Verdict::Response1),
                label: Label::Response1,
                attempts: Some(1),
                input_tokens: Some(812),
                output_tokens: Some(143),
                latency_ms: Some(2_301),
            },
            Judgement {
                task: Task::TextToText,
                sample_id: "t2t-2".to_owned(),
                setting: Setting::WithTies,
                order: Order::Original,
                raw_output: Some("I cannot decide between [[A]] and [[B]].".to_owned()),
                rewards: None,
                verdict: None,
                label: Label::Tie,
                attempts: Some(5),
                input_tokens: Some(4_000),
                output_tokens: Some(900),
                latency_ms: Some(11_000),
            },
            Judgement {
                task: Task::TextToText,
                sample_id: "t2t-1".to_owned(),
                setting: Setting::WithTies,
                order: Order::Swapped,
                raw_output: Some("[[B]]".to_owned()),
                rewards: None,
                verdict: Some(Verdict::Response1),
                label: Label::Response1,
                attempts: Some(1),
                input_tokens: Some(812),
                output_tokens: Some(20),
                latency_ms: Some(900),
            },
            Judgement {
                task: Task::TextTo3d,
                sample_id: "t23d-7".to_owned(),
                setting: Setting::WithoutTies,
                order: Order::Original,
                raw_output: None,
                rewards: Some(Rewards {
                    response1: -0.123_456_789_012_345_67,
                    response2: 3.0e-9,
                }),
                verdict: Some(Verdict::Response2),
                label: Label::Response1,
                attempts: None,
                input_tokens: None,
                output_tokens: None,
                latency_ms: Some(37),
            },
        ]
    }

    fn sorted(mut judgements: Vec<Judgement>) -> Vec<Judgement> {
        judgements.sort_by(|left, right| Judgement::key(left).cmp(&Judgement::key(right)));
        judgements
    }

    #[tokio::test]
    async fn finished_runs_judgements_come_in_one_read_in_original_order_only() {
        for database in fresh_databases().await {
            let storage = database.storage();
            let finished = new_run(storage, Provenance::Evaluated).await;
            storage
                .record_judgements(finished, &batch())
                .await
                .expect("records");
            storage
                .set_run_status(finished, RunStatus::Finished)
                .await
                .expect("finishes");
            // A running run's judgements are not counted yet.
            let running = new_run(storage, Provenance::Evaluated).await;
            storage
                .record_judgements(running, &batch())
                .await
                .expect("records");

            let runs = storage.finished_run_judgements().await.expect("reads");
            assert_eq!(runs.len(), 1);
            let run = &runs[0];
            assert_eq!(run.run, finished);
            assert_eq!(run.benchmark, None, "no stored benchmark");
            let mut expected: Vec<Judgement> = batch()
                .into_iter()
                .filter(|judgement| judgement.order == Order::Original)
                .map(|judgement| Judgement {
                    raw_output: None,
                    ..judgement
                })
                .collect();
            let mut read = run.judgements.clone();
            let key = |judgement: &Judgement| (judgement.task, judgement.sample_id.clone());
            expected.sort_by_key(key);
            read.sort_by_key(key);
            assert_eq!(read, expected);
        }
    }

    #[tokio::test]
    async fn judgements_round_trip_exactly() {
        for database in fresh_databases().await {
            let storage = database.storage();
            let run = new_run(storage, Provenance::Evaluated).await;
            assert_eq!(
                storage
                    .record_judgements(run, &batch())
                    .await
                    .expect("records"),
                4
            );
            let stored = storage.judgements(run).await.expect("reads");
            assert_eq!(stored, sorted(batch()));
            // Rewards are REAL columns, so they come back bit for bit.
            let rewards = stored
                .iter()
                .find_map(|judgement| judgement.rewards)
                .expect("has rewards");
            assert_eq!(
                rewards.response1.to_bits(),
                (-0.123_456_789_012_345_67f64).to_bits()
            );
            let keys = storage.judgement_keys(run).await.expect("reads keys");
            let expected: BTreeSet<JudgementKey> = batch().iter().map(Judgement::key).collect();
            assert_eq!(keys, expected);
        }
    }

    #[tokio::test]
    async fn recording_the_same_batch_twice_stores_each_once() {
        for database in fresh_databases().await {
            let storage = database.storage();
            let run = new_run(storage, Provenance::Evaluated).await;
            assert_eq!(
                storage
                    .record_judgements(run, &batch())
                    .await
                    .expect("records"),
                4
            );
            let mut changed = batch();
            for judgement in &mut changed {
                judgement.raw_output = Some("a later, different answer [[B]]".to_owned());
                judgement.verdict = Some(Verdict::Response2);
            }
            assert_eq!(
                storage
                    .record_judgements(run, &batch())
                    .await
                    .expect("records"),
                0
            );
            assert_eq!(
                storage
                    .record_judgements(run, &changed)
                    .await
                    .expect("records"),
                0
            );
            assert_eq!(
                storage.judgements(run).await.expect("reads"),
                sorted(batch())
            );

            // Duplicates inside one batch are stored once too; the first one wins.
            let other_run = new_run(storage, Provenance::Evaluated).await;
            let mut doubled = batch();
            doubled.extend(changed);
            assert_eq!(
                storage
                    .record_judgements(other_run, &doubled)
                    .await
                    .expect("records"),
                4
            );
            assert_eq!(
                storage.judgements(other_run).await.expect("reads"),
                sorted(batch())
            );
        }
    }

    #[tokio::test]
    async fn a_batch_with_one_bad_row_rolls_back_as_a_whole() {
        for database in fresh_databases().await {
            let storage = database.storage();
            let run = new_run(storage, Provenance::Evaluated).await;

            let mut too_many_tokens = batch();
            too_many_tokens[2].input_tokens = Some(u64::MAX);
            let error = storage
                .record_judgements(run, &too_many_tokens)
                .await
                .expect_err("tokens overflow");
            assert!(
                matches!(
                    error,
                    StorageError::OutOfRange {
                        field: "input_tokens",
                        ..
                    }
                ),
                "{error}"
            );

            let mut not_a_number = batch();
            not_a_number[3].rewards = Some(Rewards {
                response1: f64::NAN,
                response2: 1.0,
            });
            let error = storage
                .record_judgements(run, &not_a_number)
                .await
                .expect_err("NaN reward");
            assert!(
                matches!(error, StorageError::InvalidJudgement { .. }),
                "{error}"
            );

            assert!(storage.judgements(run).await.expect("reads").is_empty());
            assert!(storage.judgement_keys(run).await.expect("reads").is_empty());
            assert_eq!(
                storage
                    .record_judgements(run, &batch())
                    .await
                    .expect("records"),
                4
            );
        }
    }

    #[tokio::test]
    async fn paper_reported_runs_take_no_judgements() {
        for database in fresh_databases().await {
            let storage = database.storage();
            let run = new_run(storage, Provenance::PaperReported).await;
            let error = storage
                .record_judgements(run, &batch())
                .await
                .expect_err("refused");
            assert!(
                matches!(error, StorageError::NotEvaluatedHere { .. }),
                "{error}"
            );
            assert!(matches!(
                storage.record_judgements(RunId(404), &batch()).await,
                Err(StorageError::RunNotFound(RunId(404)))
            ));
        }
    }

    #[tokio::test]
    async fn corrupt_judgement_values_are_errors() {
        for database in fresh_databases().await {
            let storage = database.storage();
            let run = new_run(storage, Provenance::Evaluated).await;
            storage
                .record_judgements(run, &batch())
                .await
                .expect("records");
            with_pool!(storage, |pool| sqlx::query(
                "UPDATE judgements SET verdict = 'response3' WHERE sample_id = 't2t-1'"
            )
            .execute(pool)
            .await
            .map(|_| ()))
            .expect("edits");
            match storage.judgements(run).await {
                Err(StorageError::Corrupt {
                    table,
                    column,
                    value,
                }) => {
                    assert_eq!(
                        (table, column, value.as_str()),
                        ("judgements", "verdict", "response3")
                    );
                }
                other => panic!("expected a corrupt value, got {other:?}"),
            }
        }
    }
}
