//! The durable job queue: evaluation work enqueued for a run, claimed atomically by one worker,
//! kept alive by heartbeats, and requeued when its worker dies.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::runs::{RunId, RunStatus, UnknownName};
use super::{Backend, Storage, StorageError, StorageRow, database, now_unix_ms, parse_column};

/// The database id of a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobId(pub i64);

impl fmt::Display for JobId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.0)
    }
}

/// What a job runs; decides how its specification is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JobKind {
    /// A generative judge behind an OpenAI-compatible API.
    ApiJudge,
    /// A local reward-model checkpoint (an upload), run on the worker's inference thread.
    Checkpoint,
}

impl JobKind {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::ApiJudge => "api_judge",
            JobKind::Checkpoint => "checkpoint",
        }
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl FromStr for JobKind {
    type Err = UnknownName;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "api_judge" => Ok(JobKind::ApiJudge),
            "checkpoint" => Ok(JobKind::Checkpoint),
            _ => Err(UnknownName {
                kind: "job kind",
                value: text.to_owned(),
                expected: "api_judge, checkpoint",
            }),
        }
    }
}

/// A stored job. Its status takes the same five values as a run's.
#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    /// The job.
    pub id: JobId,
    /// The run whose judgements it produces.
    pub run: RunId,
    /// What it runs.
    pub kind: JobKind,
    /// Everything needed to rebuild the judge, except secrets.
    pub specification: serde_json::Value,
    /// Where it stands.
    pub status: RunStatus,
    /// Whether a cancel was requested while it was running.
    pub cancel_requested: bool,
    /// The worker holding it (set while running).
    pub worker: Option<String>,
    /// Its worker's last heartbeat, Unix milliseconds.
    pub heartbeat_at_ms: Option<i64>,
    /// How many times it was claimed.
    pub attempts: u64,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// Creation time, Unix milliseconds.
    pub created_at_ms: i64,
    /// When its latest claim started, Unix milliseconds.
    pub started_at_ms: Option<i64>,
    /// When it reached a terminal status, Unix milliseconds.
    pub finished_at_ms: Option<i64>,
}

/// What a heartbeat learned about the job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Heartbeat {
    /// The worker still holds the job; carry on.
    Held,
    /// The worker still holds the job, and a cancel was requested: stop.
    CancelRequested,
    /// The job is no longer this worker's (requeued as stale, or finished elsewhere): stop
    /// without finishing it.
    Lost,
}

/// What a cancel did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cancellation {
    /// The job was queued and is now cancelled.
    Cancelled,
    /// The job is running; its worker will stop at its next heartbeat.
    Requested,
    /// The job had already stopped with this status.
    AlreadyStopped(RunStatus),
}

/// A job query completed by a literal tail (kept static so the SQL is a `&'static str`).
macro_rules! select_jobs {
    ($tail:literal) => {
        concat!(
            "SELECT id, run_id, kind, specification_json, status, cancel_requested, worker, ",
            "heartbeat_at, attempts, error, created_at, started_at, finished_at FROM jobs ",
            $tail
        )
    };
}

/// The claim on SQLite: the subquery and the update run under the one write lock.
const CLAIM_JOB_SQLITE: &str = concat!(
    "UPDATE jobs SET status = 'running', worker = $1, heartbeat_at = $2, started_at = $2, ",
    "attempts = attempts + 1 ",
    "WHERE id = (SELECT id FROM jobs WHERE status = 'queued' AND approval <> 'pending' ",
    "ORDER BY id LIMIT 1) AND status = 'queued' ",
    "RETURNING id, run_id, kind, specification_json, status, cancel_requested, worker, ",
    "heartbeat_at, attempts, error, created_at, started_at, finished_at"
);

/// The claim on PostgreSQL: as on SQLite, with the picked row locked and rows locked by other
/// claimers skipped. Without SKIP LOCKED, concurrent claimers would all pick the same oldest
/// job, wait for the first one's lock, re-check `status = 'queued'` and come back empty-handed
/// although younger jobs are queued.
const CLAIM_JOB_POSTGRES: &str = concat!(
    "UPDATE jobs SET status = 'running', worker = $1, heartbeat_at = $2, started_at = $2, ",
    "attempts = attempts + 1 ",
    "WHERE id = (SELECT id FROM jobs WHERE status = 'queued' AND approval <> 'pending' ",
    "ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) AND status = 'queued' ",
    "RETURNING id, run_id, kind, specification_json, status, cancel_requested, worker, ",
    "heartbeat_at, attempts, error, created_at, started_at, finished_at"
);

impl Storage {
    /// Queues a job for `run`.
    pub async fn enqueue_job(
        &self,
        run: RunId,
        kind: JobKind,
        specification: &serde_json::Value,
    ) -> Result<JobId, StorageError> {
        with_pool!(self, |pool| {
            // Checks the run exists (a clearer error than the foreign key's).
            self.run_provenance(run).await?;
            let specification =
                serde_json::to_string(specification).map_err(|source| StorageError::Encode {
                    what: "a job specification",
                    source,
                })?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO jobs (run_id, kind, specification_json, status, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(run.0)
            .bind(kind.as_str())
            .bind(specification)
            .bind(RunStatus::Queued.as_str())
            .bind(now_unix_ms())
            .fetch_one(pool)
            .await
            .map_err(database("enqueue a job"))?;
            Ok(JobId(id))
        })
    }

    /// Claims the oldest queued job for `worker` (skipping jobs that await approval), or `None`
    /// when none is queued. One statement picks and takes the job, so two workers never claim
    /// the same one: SQLite runs it under the database's single write lock; PostgreSQL locks
    /// the picked row with `FOR UPDATE SKIP LOCKED`, so a concurrent claimer passes over it to
    /// the next queued job instead of waiting for it (and then finding it taken).
    pub async fn claim_job(&self, worker: &str) -> Result<Option<Job>, StorageError> {
        let now = now_unix_ms();
        let statement = match self.backend() {
            Backend::Sqlite => CLAIM_JOB_SQLITE,
            Backend::Postgres => CLAIM_JOB_POSTGRES,
        };
        with_pool!(self, |pool| {
            let row = sqlx::query(statement)
                .bind(worker)
                .bind(now)
                .fetch_optional(pool)
                .await
                .map_err(database("claim a job"))?;
            row.as_ref().map(job_record).transpose()
        })
    }

    /// Records that `worker` is alive and still working on `job`, and tells it whether to go on.
    pub async fn heartbeat(&self, job: JobId, worker: &str) -> Result<Heartbeat, StorageError> {
        with_pool!(self, |pool| {
            let cancel_requested: Option<i64> = sqlx::query_scalar(
                "UPDATE jobs SET heartbeat_at = $1 \
             WHERE id = $2 AND worker = $3 AND status = 'running' RETURNING cancel_requested",
            )
            .bind(now_unix_ms())
            .bind(job.0)
            .bind(worker)
            .fetch_optional(pool)
            .await
            .map_err(database("record a heartbeat"))?;
            Ok(match cancel_requested {
                None => Heartbeat::Lost,
                Some(0) => Heartbeat::Held,
                Some(_) => Heartbeat::CancelRequested,
            })
        })
    }

    /// Ends `job` with a terminal `status` if `worker` still holds it; returns whether it did.
    pub async fn finish_job(
        &self,
        job: JobId,
        worker: &str,
        status: RunStatus,
        error: Option<&str>,
    ) -> Result<bool, StorageError> {
        with_pool!(self, |pool| {
            debug_assert!(status.is_terminal(), "a job finishes in a terminal status");
            let result = sqlx::query(
                "UPDATE jobs SET status = $1, error = $2, finished_at = $3 \
             WHERE id = $4 AND worker = $5 AND status = 'running'",
            )
            .bind(status.as_str())
            .bind(error)
            .bind(now_unix_ms())
            .bind(job.0)
            .bind(worker)
            .execute(pool)
            .await
            .map_err(database("finish a job"))?;
            Ok(result.rows_affected() == 1)
        })
    }

    /// Gives a running job back to the queue because its worker is stopping (or cancels it, if
    /// that was requested). Returns the job's new status, or `None` when `worker` no longer
    /// held it.
    pub async fn release_job(
        &self,
        job: JobId,
        worker: &str,
    ) -> Result<Option<RunStatus>, StorageError> {
        with_pool!(self, |pool| {
            let status: Option<String> = sqlx::query_scalar(
                "UPDATE jobs SET \
             status = CASE WHEN cancel_requested = 1 THEN 'cancelled' ELSE 'queued' END, \
             finished_at = CASE WHEN cancel_requested = 1 THEN $1 ELSE NULL END, \
             worker = NULL, heartbeat_at = NULL \
             WHERE id = $2 AND worker = $3 AND status = 'running' RETURNING status",
            )
            .bind(now_unix_ms())
            .bind(job.0)
            .bind(worker)
            .fetch_optional(pool)
            .await
            .map_err(database("release a job"))?;
            status
                .map(|status| parse_column("jobs", "status", status))
                .transpose()
        })
    }

    /// Cancels a queued job at once, or asks the worker of a running one to stop.
    pub async fn cancel_job(&self, job: JobId) -> Result<Cancellation, StorageError> {
        with_pool!(self, |pool| {
            let cancelled = sqlx::query(
                "UPDATE jobs SET status = 'cancelled', finished_at = $1 \
             WHERE id = $2 AND status = 'queued'",
            )
            .bind(now_unix_ms())
            .bind(job.0)
            .execute(pool)
            .await
            .map_err(database("cancel a job"))?;
            if cancelled.rows_affected() == 1 {
                return Ok(Cancellation::Cancelled);
            }
            let requested = sqlx::query(
                "UPDATE jobs SET cancel_requested = 1 WHERE id = $1 AND status = 'running'",
            )
            .bind(job.0)
            .execute(pool)
            .await
            .map_err(database("request a job's cancellation"))?;
            if requested.rows_affected() == 1 {
                return Ok(Cancellation::Requested);
            }
            Ok(Cancellation::AlreadyStopped(self.job(job).await?.status))
        })
    }

    /// Puts running jobs whose heartbeat is older than `older_than` back in the queue (their
    /// worker died); those whose cancel was requested are cancelled instead. Returns how many
    /// were requeued.
    pub async fn requeue_stale_jobs(&self, older_than: Duration) -> Result<u64, StorageError> {
        with_pool!(self, |pool| {
            let now = now_unix_ms();
            let limit =
                now.saturating_sub(i64::try_from(older_than.as_millis()).unwrap_or(i64::MAX));
            sqlx::query(
                "UPDATE jobs SET status = 'cancelled', finished_at = $1 \
             WHERE status = 'running' AND cancel_requested = 1 AND heartbeat_at < $2",
            )
            .bind(now)
            .bind(limit)
            .execute(pool)
            .await
            .map_err(database("cancel stale jobs"))?;
            let requeued = sqlx::query(
                "UPDATE jobs SET status = 'queued', worker = NULL, heartbeat_at = NULL \
             WHERE status = 'running' AND heartbeat_at < $1",
            )
            .bind(limit)
            .execute(pool)
            .await
            .map_err(database("requeue stale jobs"))?;
            Ok(requeued.rows_affected())
        })
    }

    /// The job with this id.
    pub async fn job(&self, job: JobId) -> Result<Job, StorageError> {
        with_pool!(self, |pool| {
            let row = sqlx::query(select_jobs!("WHERE id = $1"))
                .bind(job.0)
                .fetch_optional(pool)
                .await
                .map_err(database("read a job"))?
                .ok_or(StorageError::JobNotFound(job))?;
            job_record(&row)
        })
    }

    /// Every job, oldest first.
    pub async fn jobs(&self) -> Result<Vec<Job>, StorageError> {
        with_pool!(self, |pool| {
            let rows = sqlx::query(select_jobs!("ORDER BY id"))
                .fetch_all(pool)
                .await
                .map_err(database("list jobs"))?;
            rows.iter().map(job_record).collect()
        })
    }
}

fn job_record(row: &impl StorageRow) -> Result<Job, StorageError> {
    let read = database("read a job");
    let specification: String = row.read("specification_json").map_err(&read)?;
    let specification =
        serde_json::from_str(&specification).map_err(|_| StorageError::Corrupt {
            table: "jobs",
            column: "specification_json",
            value: specification.clone(),
        })?;
    let attempts: i64 = row.read("attempts").map_err(&read)?;
    Ok(Job {
        id: JobId(row.read("id").map_err(&read)?),
        run: RunId(row.read("run_id").map_err(&read)?),
        kind: parse_column("jobs", "kind", row.read("kind").map_err(&read)?)?,
        specification,
        status: parse_column("jobs", "status", row.read("status").map_err(&read)?)?,
        cancel_requested: row.read::<i64>("cancel_requested").map_err(&read)? != 0,
        worker: row.read("worker").map_err(&read)?,
        heartbeat_at_ms: row.read("heartbeat_at").map_err(&read)?,
        attempts: u64::try_from(attempts).map_err(|_| StorageError::Corrupt {
            table: "jobs",
            column: "attempts",
            value: attempts.to_string(),
        })?,
        error: row.read("error").map_err(&read)?,
        created_at_ms: row.read("created_at").map_err(&read)?,
        started_at_ms: row.read("started_at").map_err(&read)?,
        finished_at_ms: row.read("finished_at").map_err(&read)?,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::storage::Pool;
    use crate::storage::test_support::{fresh_databases, fresh_postgres_database};
    use crate::storage::{ModelKind, NewModel, NewRun, Provenance};

    async fn queued_run(storage: &Storage) -> RunId {
        let model = storage
            .upsert_model(&NewModel::named("judge", ModelKind::ApiJudge))
            .await
            .expect("stores");
        storage
            .create_run(&NewRun {
                model,
                benchmark: None,
                status: RunStatus::Queued,
                provenance: Provenance::Evaluated,
                configuration: serde_json::json!({}),
            })
            .await
            .expect("creates")
    }

    async fn enqueue(storage: &Storage, run: RunId, count: usize) -> Vec<JobId> {
        let mut jobs = Vec::new();
        for index in 0..count {
            jobs.push(
                storage
                    .enqueue_job(run, JobKind::ApiJudge, &serde_json::json!({"n": index}))
                    .await
                    .expect("enqueues"),
            );
        }
        jobs
    }

    #[tokio::test]
    async fn jobs_are_claimed_oldest_first_and_finished_by_their_worker() {
        for database in fresh_databases().await {
            let storage = database.storage();
            let run = queued_run(storage).await;
            let ids = enqueue(storage, run, 2).await;
            let queued = storage.job(ids[0]).await.expect("reads");
            assert_eq!(queued.status, RunStatus::Queued);
            assert_eq!(queued.attempts, 0);
            assert_eq!(queued.specification, serde_json::json!({"n": 0}));

            let first = storage
                .claim_job("w1")
                .await
                .expect("claims")
                .expect("a job");
            assert_eq!(first.id, ids[0]);
            assert_eq!(first.status, RunStatus::Running);
            assert_eq!(first.worker.as_deref(), Some("w1"));
            assert_eq!(first.attempts, 1);
            assert!(first.heartbeat_at_ms.is_some() && first.started_at_ms.is_some());
            let second = storage
                .claim_job("w2")
                .await
                .expect("claims")
                .expect("a job");
            assert_eq!(second.id, ids[1]);
            assert_eq!(storage.claim_job("w3").await.expect("claims"), None);

            assert_eq!(
                storage.heartbeat(first.id, "w1").await.expect("beats"),
                Heartbeat::Held
            );
            assert_eq!(
                storage.heartbeat(first.id, "w2").await.expect("beats"),
                Heartbeat::Lost
            );
            assert!(
                !storage
                    .finish_job(first.id, "w2", RunStatus::Finished, None)
                    .await
                    .expect("finishes")
            );
            assert!(
                storage
                    .finish_job(first.id, "w1", RunStatus::Failed, Some("boom"))
                    .await
                    .expect("finishes")
            );
            let failed = storage.job(first.id).await.expect("reads");
            assert_eq!(failed.status, RunStatus::Failed);
            assert_eq!(failed.error.as_deref(), Some("boom"));
            assert!(failed.finished_at_ms.is_some());
            assert_eq!(
                storage.heartbeat(first.id, "w1").await.expect("beats"),
                Heartbeat::Lost
            );
            assert_eq!(storage.jobs().await.expect("lists").len(), 2);
            assert!(matches!(
                storage.job(JobId(99)).await,
                Err(StorageError::JobNotFound(JobId(99)))
            ));
            assert!(matches!(
                storage
                    .enqueue_job(RunId(99), JobKind::ApiJudge, &serde_json::json!({}))
                    .await,
                Err(StorageError::RunNotFound(RunId(99)))
            ));
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_claimers_never_share_a_job() {
        for database in fresh_databases().await {
            let storage = database.storage();
            let run = queued_run(storage).await;
            let ids = enqueue(storage, run, 20).await;
            let mut claimers = tokio::task::JoinSet::new();
            for claimer in 0..8 {
                let storage = storage.clone();
                claimers.spawn(async move {
                    let name = format!("worker-{claimer}");
                    let mut claimed = Vec::new();
                    while let Some(job) = storage.claim_job(&name).await.expect("claims") {
                        assert_eq!(job.worker.as_deref(), Some(name.as_str()));
                        claimed.push(job.id);
                        tokio::task::yield_now().await;
                    }
                    claimed
                });
            }
            let mut times_claimed: BTreeMap<JobId, usize> = BTreeMap::new();
            while let Some(claimed) = claimers.join_next().await {
                for job in claimed.expect("claimer ends") {
                    *times_claimed.entry(job).or_default() += 1;
                }
            }
            assert_eq!(times_claimed.keys().copied().collect::<Vec<_>>(), ids);
            assert!(times_claimed.values().all(|times| *times == 1));
            for job in storage.jobs().await.expect("lists") {
                assert_eq!(job.status, RunStatus::Running);
                assert_eq!(job.attempts, 1);
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_postgres_claim_skips_a_job_another_claimer_has_locked() {
        let Some(database) = fresh_postgres_database().await else {
            return;
        };
        let storage = database.storage();
        let run = queued_run(storage).await;
        let ids = enqueue(storage, run, 2).await;
        let Pool::Postgres(pool) = &storage.pool else {
            panic!("expected a PostgreSQL storage");
        };
        // Another host's claim of the oldest job, caught between its lock and its commit.
        let mut other_claim = pool.begin().await.expect("begins");
        sqlx::query("SELECT id FROM jobs WHERE id = $1 FOR UPDATE")
            .bind(ids[0].0)
            .execute(&mut *other_claim)
            .await
            .expect("locks the oldest job");
        // This claim must take the next job at once: waiting for the lock (plain FOR UPDATE)
        // would stall every worker behind the slowest claim, and a claim that does not lock
        // what it picks would wait and then find nothing.
        let claim = tokio::time::timeout(Duration::from_secs(5), storage.claim_job("second"))
            .await
            .expect("the claim does not wait for the other claimer's lock")
            .expect("claims")
            .expect("a job");
        assert_eq!(claim.id, ids[1]);
        other_claim.rollback().await.expect("ends");
        let first = storage
            .claim_job("third")
            .await
            .expect("claims")
            .expect("the unlocked job");
        assert_eq!(first.id, ids[0]);
    }

    #[tokio::test]
    async fn stale_jobs_go_back_to_the_queue() {
        for database in fresh_databases().await {
            let storage = database.storage();
            let run = queued_run(storage).await;
            let ids = enqueue(storage, run, 2).await;
            let dead = storage
                .claim_job("dead")
                .await
                .expect("claims")
                .expect("a job");
            let alive = storage
                .claim_job("alive")
                .await
                .expect("claims")
                .expect("a job");
            with_pool!(storage, |pool| sqlx::query(
                "UPDATE jobs SET heartbeat_at = heartbeat_at - 60000 WHERE id = $1"
            )
            .bind(dead.id.0)
            .execute(pool)
            .await
            .map(|_| ()))
            .expect("ages the heartbeat");
            assert_eq!(
                storage
                    .requeue_stale_jobs(Duration::from_secs(30))
                    .await
                    .expect("requeues"),
                1
            );
            let requeued = storage.job(ids[0]).await.expect("reads");
            assert_eq!(requeued.status, RunStatus::Queued);
            assert_eq!(requeued.worker, None);
            assert_eq!(
                storage.job(alive.id).await.expect("reads").status,
                RunStatus::Running
            );
            assert_eq!(
                storage.heartbeat(dead.id, "dead").await.expect("beats"),
                Heartbeat::Lost
            );
            let again = storage
                .claim_job("new")
                .await
                .expect("claims")
                .expect("a job");
            assert_eq!(again.id, dead.id);
            assert_eq!(again.attempts, 2);
            assert_eq!(again.worker.as_deref(), Some("new"));
        }
    }

    #[tokio::test]
    async fn cancelling_stops_queued_jobs_at_once_and_asks_running_ones() {
        for database in fresh_databases().await {
            let storage = database.storage();
            let run = queued_run(storage).await;
            let ids = enqueue(storage, run, 3).await;
            let running = storage
                .claim_job("w")
                .await
                .expect("claims")
                .expect("a job");
            assert_eq!(running.id, ids[0]);

            assert_eq!(
                storage.cancel_job(ids[1]).await.expect("cancels"),
                Cancellation::Cancelled
            );
            let cancelled = storage.job(ids[1]).await.expect("reads");
            assert_eq!(cancelled.status, RunStatus::Cancelled);
            assert!(cancelled.finished_at_ms.is_some());
            assert_eq!(
                storage.cancel_job(ids[1]).await.expect("cancels"),
                Cancellation::AlreadyStopped(RunStatus::Cancelled)
            );
            // The cancelled job is skipped by the next claim.
            let next = storage
                .claim_job("w2")
                .await
                .expect("claims")
                .expect("a job");
            assert_eq!(next.id, ids[2]);

            assert_eq!(
                storage.cancel_job(ids[0]).await.expect("requests"),
                Cancellation::Requested
            );
            assert_eq!(
                storage.job(ids[0]).await.expect("reads").status,
                RunStatus::Running
            );
            assert_eq!(
                storage.heartbeat(ids[0], "w").await.expect("beats"),
                Heartbeat::CancelRequested
            );
            assert!(
                storage
                    .finish_job(ids[0], "w", RunStatus::Cancelled, None)
                    .await
                    .expect("finishes")
            );
            assert_eq!(
                storage.job(ids[0]).await.expect("reads").status,
                RunStatus::Cancelled
            );
            assert!(matches!(
                storage.cancel_job(JobId(99)).await,
                Err(StorageError::JobNotFound(JobId(99)))
            ));

            // A running job whose cancel was requested and whose worker died is cancelled, not
            // requeued.
            storage.cancel_job(ids[2]).await.expect("requests");
            with_pool!(storage, |pool| sqlx::query(
                "UPDATE jobs SET heartbeat_at = heartbeat_at - 60000 WHERE id = $1"
            )
            .bind(ids[2].0)
            .execute(pool)
            .await
            .map(|_| ()))
            .expect("ages the heartbeat");
            assert_eq!(
                storage
                    .requeue_stale_jobs(Duration::from_secs(30))
                    .await
                    .expect("requeues"),
                0
            );
            assert_eq!(
                storage.job(ids[2]).await.expect("reads").status,
                RunStatus::Cancelled
            );
        }
    }
}
