//! What the submissions API needs beyond the plain queue: finding the evaluated run a
//! submission resumes, enqueueing at most one active job per run, and queue positions.

use serde_json::Value;

use super::jobs::{JobId, JobKind};
use super::runs::{RunId, RunStatus};
use super::{Approval, Backend, Storage, StorageError, database, now_unix_ms};

/// The outcome of [`Storage::enqueue_job_unless_active`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enqueued {
    /// A new job was queued.
    Created(JobId),
    /// The run already had this queued or running job; nothing was added.
    Existing(JobId),
}

impl Enqueued {
    /// The job either way.
    pub fn job(self) -> JobId {
        match self {
            Enqueued::Created(job) | Enqueued::Existing(job) => job,
        }
    }
}

/// Taken on PostgreSQL before a conditional enqueue (`INSERT … WHERE NOT EXISTS` an active job
/// of the run): that check reads a snapshot, so two concurrent submissions of one run could
/// both insert; locking the run's row makes them take turns, and the second one's check, a new
/// statement, sees the first one's job. SQLite runs one writer at a time, so needs no lock.
/// NO KEY UPDATE does not block the foreign-key checks of other inserts into `jobs`.
pub(super) const LOCK_RUN_FOR_ENQUEUE: &str = "SELECT id FROM runs WHERE id = $1 FOR NO KEY UPDATE";

impl Storage {
    /// The oldest queued or running job of `run`, if any.
    pub async fn active_job(&self, run: RunId) -> Result<Option<JobId>, StorageError> {
        with_pool!(self, |pool| {
            let id: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM jobs WHERE run_id = $1 AND status IN ('queued', 'running') \
             ORDER BY id LIMIT 1",
            )
            .bind(run.0)
            .fetch_optional(pool)
            .await
            .map_err(database("find a run's active job"))?;
            Ok(id.map(JobId))
        })
    }

    /// Queues a job for `run` unless it already has a queued or running one. The check and the
    /// insert are one statement, so two concurrent submissions of one run queue one job.
    pub async fn enqueue_job_unless_active(
        &self,
        run: RunId,
        kind: JobKind,
        specification: &Value,
    ) -> Result<Enqueued, StorageError> {
        self.enqueue_unless_active(run, kind, specification, Approval::NotRequired)
            .await
    }

    /// Queues a job of `run` with this approval state (`not_required`: claimable at once;
    /// `pending`: waits for an administrator) unless the run already has a queued or running job,
    /// which is returned instead. One statement checks and inserts, so concurrent submissions of
    /// one run queue one job; on PostgreSQL the run's row is locked first (see
    /// [`LOCK_RUN_FOR_ENQUEUE`]). An active job that ends between the insert and the look-up
    /// lets the next try in.
    pub(super) async fn enqueue_unless_active(
        &self,
        run: RunId,
        kind: JobKind,
        specification: &Value,
        approval: Approval,
    ) -> Result<Enqueued, StorageError> {
        with_pool!(self, |pool| {
            // Checks the run exists (a clearer error than the foreign key's).
            self.run_provenance(run).await?;
            let text =
                serde_json::to_string(specification).map_err(|source| StorageError::Encode {
                    what: "a job specification",
                    source,
                })?;
            for _ in 0..3 {
                let mut transaction = pool
                    .begin()
                    .await
                    .map_err(database("begin enqueueing a job"))?;
                if self.backend() == Backend::Postgres {
                    sqlx::query(LOCK_RUN_FOR_ENQUEUE)
                        .bind(run.0)
                        .execute(&mut *transaction)
                        .await
                        .map_err(database("lock a run to enqueue its job"))?;
                }
                let created: Option<i64> = sqlx::query_scalar(
                    "INSERT INTO jobs (run_id, kind, specification_json, status, created_at, \
                     approval) \
                     SELECT $1, $2, $3, $4, $5, $6 WHERE NOT EXISTS \
                     (SELECT 1 FROM jobs WHERE run_id = $7 AND status IN ('queued', 'running')) \
                     RETURNING id",
                )
                .bind(run.0)
                .bind(kind.as_str())
                .bind(&text)
                .bind(RunStatus::Queued.as_str())
                .bind(now_unix_ms())
                .bind(approval.as_str())
                .bind(run.0)
                .fetch_optional(&mut *transaction)
                .await
                .map_err(database("enqueue a job"))?;
                transaction
                    .commit()
                    .await
                    .map_err(database("commit a job"))?;
                if let Some(id) = created {
                    return Ok(Enqueued::Created(JobId(id)));
                }
                if let Some(job) = self.active_job(run).await? {
                    return Ok(Enqueued::Existing(job));
                }
            }
            Err(StorageError::Database {
                action: "enqueue a job",
                source: sqlx::Error::RowNotFound,
            })
        })
    }

    /// Where a queued job stands in the queue: 1 for the next to be claimed. `None` when the
    /// job is not queued or awaits approval (such jobs are not counted).
    pub async fn queue_position(&self, job: JobId) -> Result<Option<u64>, StorageError> {
        with_pool!(self, |pool| {
            let position: Option<i64> = sqlx::query_scalar(
                "SELECT (SELECT COUNT(*) FROM jobs AS earlier \
             WHERE earlier.status = 'queued' AND earlier.approval <> 'pending' \
             AND earlier.id < jobs.id) + 1 \
             FROM jobs WHERE id = $1 AND status = 'queued' AND approval <> 'pending'",
            )
            .bind(job.0)
            .fetch_optional(pool)
            .await
            .map_err(database("read a job's queue position"))?;
            Ok(position.and_then(|position| u64::try_from(position).ok()))
        })
    }

    /// Records the SHA-256 (hexadecimal) of the token that lets `job`'s submitter cancel it.
    /// Set once: a job that already has one keeps it, and the answer is `false`.
    pub async fn set_job_cancel_digest(
        &self,
        job: JobId,
        token_sha256: &str,
    ) -> Result<bool, StorageError> {
        with_pool!(self, |pool| {
            let result = sqlx::query(
                "UPDATE jobs SET cancel_token_sha256 = $1 \
             WHERE id = $2 AND cancel_token_sha256 IS NULL",
            )
            .bind(token_sha256)
            .bind(job.0)
            .execute(pool)
            .await
            .map_err(database("record a job's cancel token"))?;
            if result.rows_affected() == 0 {
                // Either the job does not exist (the caller's error) or it has a digest.
                self.job(job).await?;
                return Ok(false);
            }
            Ok(true)
        })
    }

    /// The SHA-256 (hexadecimal) of `job`'s cancel token; `None` for jobs queued without one
    /// (from the command line, or before migration 0005).
    pub async fn job_cancel_digest(&self, job: JobId) -> Result<Option<String>, StorageError> {
        with_pool!(self, |pool| {
            let digest: Option<Option<String>> =
                sqlx::query_scalar("SELECT cancel_token_sha256 FROM jobs WHERE id = $1")
                    .bind(job.0)
                    .fetch_optional(pool)
                    .await
                    .map_err(database("read a job's cancel token"))?;
            digest.ok_or(StorageError::JobNotFound(job))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::test_support::fresh_databases;
    use crate::storage::{ModelId, ModelKind, NewModel, NewRun, Provenance};

    async fn run(storage: &Storage, identity: Value) -> (ModelId, RunId) {
        let model = storage
            .upsert_model(&NewModel::named("judge", ModelKind::ApiJudge))
            .await
            .expect("stores");
        let run = storage
            .create_run(&NewRun {
                model,
                benchmark: None,
                status: RunStatus::Queued,
                provenance: Provenance::Evaluated,
                configuration: serde_json::json!({ "identity": identity }),
            })
            .await
            .expect("creates");
        (model, run)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_submissions_of_one_run_queue_one_job() {
        const SUBMITTERS: usize = 8;
        for database in fresh_databases().await {
            let storage = database.storage();
            for round in 0..10 {
                let (_, run) = run(storage, serde_json::json!({ "judge": round })).await;
                let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(SUBMITTERS));
                let mut submitters = tokio::task::JoinSet::new();
                for submitter in 0..SUBMITTERS {
                    let storage = storage.clone();
                    let barrier = std::sync::Arc::clone(&barrier);
                    submitters.spawn(async move {
                        barrier.wait().await;
                        let specification = serde_json::json!({ "n": submitter });
                        if submitter % 2 == 0 {
                            storage
                                .enqueue_job_unless_active(run, JobKind::ApiJudge, &specification)
                                .await
                        } else {
                            storage
                                .enqueue_job_for_approval(run, JobKind::ApiJudge, &specification)
                                .await
                        }
                        .expect("enqueues")
                    });
                }
                let mut created = Vec::new();
                let mut existing = Vec::new();
                while let Some(outcome) = submitters.join_next().await {
                    match outcome.expect("submitter ends") {
                        Enqueued::Created(job) => created.push(job),
                        Enqueued::Existing(job) => existing.push(job),
                    }
                }
                assert_eq!(created.len(), 1, "round {round}: {created:?} created");
                assert!(existing.iter().all(|job| *job == created[0]));
                let active = storage
                    .jobs()
                    .await
                    .expect("lists")
                    .into_iter()
                    .filter(|job| job.run == run)
                    .count();
                assert_eq!(active, 1);
            }
        }
    }

    #[tokio::test]
    async fn one_active_job_per_run_and_positions_count_queued_jobs() {
        for database in fresh_databases().await {
            let storage = database.storage();
            let (_, first_run) = run(storage, serde_json::json!({"judge": "a"})).await;
            let (_, second_run) = run(storage, serde_json::json!({"judge": "b"})).await;
            let specification = serde_json::json!({"n": 1});

            let first = storage
                .enqueue_job_unless_active(first_run, JobKind::ApiJudge, &specification)
                .await
                .expect("enqueues");
            let Enqueued::Created(first_job) = first else {
                panic!("a new job: {first:?}");
            };
            assert_eq!(
                storage
                    .enqueue_job_unless_active(first_run, JobKind::ApiJudge, &specification)
                    .await
                    .expect("reads"),
                Enqueued::Existing(first_job)
            );
            let second_job = storage
                .enqueue_job_unless_active(second_run, JobKind::ApiJudge, &specification)
                .await
                .expect("enqueues")
                .job();
            assert_eq!(
                storage.active_job(first_run).await.expect("reads"),
                Some(first_job)
            );
            assert_eq!(
                storage.queue_position(first_job).await.expect("reads"),
                Some(1)
            );
            assert_eq!(
                storage.queue_position(second_job).await.expect("reads"),
                Some(2)
            );

            // A claimed job leaves the queue but stays active; the next one moves up.
            let claimed = storage
                .claim_job("w")
                .await
                .expect("claims")
                .expect("a job");
            assert_eq!(claimed.id, first_job);
            assert_eq!(
                storage.queue_position(first_job).await.expect("reads"),
                None
            );
            assert_eq!(
                storage.queue_position(second_job).await.expect("reads"),
                Some(1)
            );
            assert!(matches!(
                storage
                    .enqueue_job_unless_active(first_run, JobKind::ApiJudge, &specification)
                    .await
                    .expect("reads"),
                Enqueued::Existing(job) if job == first_job
            ));

            // Once it ends, the run takes a new job.
            assert!(
                storage
                    .finish_job(first_job, "w", RunStatus::Finished, None)
                    .await
                    .expect("finishes")
            );
            assert_eq!(storage.active_job(first_run).await.expect("reads"), None);
            let again = storage
                .enqueue_job_unless_active(first_run, JobKind::ApiJudge, &specification)
                .await
                .expect("enqueues");
            assert!(matches!(again, Enqueued::Created(job) if job != first_job));
            assert_eq!(
                storage.queue_position(again.job()).await.expect("reads"),
                Some(2)
            );
        }
    }

    #[tokio::test]
    async fn evaluated_run_matches_model_benchmark_and_identity() {
        for database in fresh_databases().await {
            let storage = database.storage();
            let identity = serde_json::json!({"judge": "api", "endpoint": "https://x/v1"});
            let (model, run_id) = run(storage, identity.clone()).await;
            // The test run has no benchmark, so no benchmark id matches it.
            let benchmark = storage
                .upsert_benchmark(
                    &omnireward_shared::BenchmarkIdentity {
                        name: "b".to_owned(),
                        version: "1".to_owned(),
                        hash: "h".to_owned(),
                    },
                    "/nowhere",
                    0,
                )
                .await
                .expect("stores");
            assert_eq!(
                storage
                    .evaluated_run(model, benchmark, &identity)
                    .await
                    .expect("reads"),
                None
            );
            let matching = storage
                .create_run(&NewRun {
                    model,
                    benchmark: Some(benchmark),
                    status: RunStatus::Queued,
                    provenance: Provenance::Evaluated,
                    configuration: serde_json::json!({ "identity": identity, "details": {} }),
                })
                .await
                .expect("creates");
            assert_ne!(matching, run_id);
            assert_eq!(
                storage
                    .evaluated_run(model, benchmark, &identity)
                    .await
                    .expect("reads"),
                Some(matching)
            );
            assert_eq!(
                storage
                    .evaluated_run(model, benchmark, &serde_json::json!({"judge": "other"}))
                    .await
                    .expect("reads"),
                None
            );
        }
    }

    #[tokio::test]
    async fn a_cancel_digest_is_set_once_and_read_back() {
        for database in fresh_databases().await {
            let storage = database.storage();
            let (_, run) = run(storage, serde_json::json!({"judge": "a"})).await;
            let job = storage
                .enqueue_job_unless_active(run, JobKind::ApiJudge, &serde_json::json!({}))
                .await
                .expect("enqueues")
                .job();
            assert_eq!(storage.job_cancel_digest(job).await.expect("reads"), None);
            assert!(
                storage
                    .set_job_cancel_digest(job, "aa")
                    .await
                    .expect("records")
            );
            // A second digest never replaces the first.
            assert!(
                !storage
                    .set_job_cancel_digest(job, "bb")
                    .await
                    .expect("answers")
            );
            assert_eq!(
                storage.job_cancel_digest(job).await.expect("reads"),
                Some("aa".to_owned())
            );
            let missing = JobId(job.0 + 100);
            assert!(matches!(
                storage.job_cancel_digest(missing).await,
                Err(StorageError::JobNotFound(_))
            ));
            assert!(matches!(
                storage.set_job_cancel_digest(missing, "cc").await,
                Err(StorageError::JobNotFound(_))
            ));
        }
    }
}
