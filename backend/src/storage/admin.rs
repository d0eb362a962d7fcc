//! What the administrator endpoints and the operations views need: submission approval, run
//! deletion, counts of jobs and runs by status for the metrics, and a run's judging progress.

use std::collections::BTreeMap;

use omnireward_shared::{Label, Setting};
use sqlx::Row;

use super::jobs::JobId;
use super::runs::{Provenance, RunId, RunStatus};
use super::submissions::Enqueued;
use super::{Storage, StorageError, database, non_negative, now_unix_ms, parse_column};

pub use omnireward_shared::wire::Approval;

/// What an approval decision did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApprovalDecision {
    /// The job was pending and now carries the decision.
    Decided,
    /// The job was not awaiting approval: its approval and status are unchanged.
    NotPending {
        /// Its approval state.
        approval: Approval,
        /// Its status.
        status: RunStatus,
    },
}

/// What deleting a run did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunDeletion {
    /// The run is gone, with what was stored for it.
    Deleted {
        /// Judgements removed.
        judgements: u64,
        /// Whether a scorecard was removed.
        scorecard: bool,
        /// Stopped jobs removed.
        jobs: u64,
    },
    /// Paper-reported runs are reference data and are never deleted over the API.
    PaperReported,
    /// The run has a queued or running job; cancel it first.
    Active(JobId),
}

/// How far a run's judging has come.
#[derive(Clone, Debug, PartialEq)]
pub struct RunProgress {
    /// Where it stands.
    pub status: RunStatus,
    /// Judgements stored per setting (both orders counted).
    pub judged: BTreeMap<Setting, u64>,
}

impl Storage {
    /// Queues a job awaiting approval for `run` unless the run already has a queued or running
    /// job, which is returned instead. One statement checks and inserts, as for
    /// [`Storage::enqueue_job_unless_active`].
    pub async fn enqueue_job_for_approval(
        &self,
        run: RunId,
        kind: super::JobKind,
        specification: &serde_json::Value,
    ) -> Result<Enqueued, StorageError> {
        self.enqueue_unless_active(run, kind, specification, Approval::Pending)
            .await
    }

    /// The approval state of a job.
    pub async fn job_approval(&self, job: JobId) -> Result<Approval, StorageError> {
        with_pool!(self, |pool| {
            let approval: Option<String> =
                sqlx::query_scalar("SELECT approval FROM jobs WHERE id = $1")
                    .bind(job.0)
                    .fetch_optional(pool)
                    .await
                    .map_err(database("read a job's approval"))?;
            parse_column(
                "jobs",
                "approval",
                approval.ok_or(StorageError::JobNotFound(job))?,
            )
        })
    }

    /// The approval state of every job that has one other than `not_required`.
    pub async fn job_approvals(&self) -> Result<BTreeMap<JobId, Approval>, StorageError> {
        with_pool!(self, |pool| {
            let rows =
                sqlx::query("SELECT id, approval FROM jobs WHERE approval <> 'not_required'")
                    .fetch_all(pool)
                    .await
                    .map_err(database("list job approvals"))?;
            rows.iter()
                .map(|row| {
                    let id: i64 = row.get("id");
                    let approval = parse_column("jobs", "approval", row.get("approval"))?;
                    Ok((JobId(id), approval))
                })
                .collect()
        })
    }

    /// Approves a pending queued job, so workers may claim it.
    pub async fn approve_job(&self, job: JobId) -> Result<ApprovalDecision, StorageError> {
        with_pool!(self, |pool| {
            let result = sqlx::query(
                "UPDATE jobs SET approval = 'approved' \
             WHERE id = $1 AND approval = 'pending' AND status = 'queued'",
            )
            .bind(job.0)
            .execute(pool)
            .await
            .map_err(database("approve a job"))?;
            self.decision(job, result.rows_affected()).await
        })
    }

    /// Rejects a pending queued job: it is cancelled with `reason` as its error, and its run is
    /// cancelled too unless another job of the run is active.
    pub async fn reject_job(
        &self,
        job: JobId,
        reason: &str,
    ) -> Result<ApprovalDecision, StorageError> {
        with_pool!(self, |pool| {
            let mut transaction = pool
                .begin()
                .await
                .map_err(database("begin rejecting a job"))?;
            let run: Option<i64> = sqlx::query_scalar(
                "UPDATE jobs SET approval = 'rejected', status = 'cancelled', error = $1, \
             finished_at = $2 WHERE id = $3 AND approval = 'pending' AND status = 'queued' \
             RETURNING run_id",
            )
            .bind(reason)
            .bind(now_unix_ms())
            .bind(job.0)
            .fetch_optional(&mut *transaction)
            .await
            .map_err(database("reject a job"))?;
            if let Some(run) = run {
                sqlx::query(
                "UPDATE runs SET status = 'cancelled', finished_at = $1 WHERE id = $2 AND NOT EXISTS \
                 (SELECT 1 FROM jobs WHERE run_id = $3 AND status IN ('queued', 'running'))",
            )
            .bind(now_unix_ms())
            .bind(run)
            .bind(run)
            .execute(&mut *transaction)
            .await
            .map_err(database("cancel a rejected job's run"))?;
            }
            transaction
                .commit()
                .await
                .map_err(database("commit a job's rejection"))?;
            self.decision(job, u64::from(run.is_some())).await
        })
    }

    async fn decision(&self, job: JobId, changed: u64) -> Result<ApprovalDecision, StorageError> {
        // Reading the job also turns an unknown id into `JobNotFound`.
        let status = self.job(job).await?.status;
        if changed == 1 {
            return Ok(ApprovalDecision::Decided);
        }
        Ok(ApprovalDecision::NotPending {
            approval: self.job_approval(job).await?,
            status,
        })
    }

    /// Deletes a run with its judgements, scorecard and stopped jobs, in one transaction.
    /// Paper-reported runs and runs with an active job are refused.
    pub async fn delete_run(&self, run: RunId) -> Result<RunDeletion, StorageError> {
        with_pool!(self, |pool| {
            let mut transaction = pool
                .begin()
                .await
                .map_err(database("begin deleting a run"))?;
            let provenance: Option<String> =
                sqlx::query_scalar("SELECT provenance FROM runs WHERE id = $1")
                    .bind(run.0)
                    .fetch_optional(&mut *transaction)
                    .await
                    .map_err(database("read a run's provenance"))?;
            let provenance: Provenance = parse_column(
                "runs",
                "provenance",
                provenance.ok_or(StorageError::RunNotFound(run))?,
            )?;
            if provenance == Provenance::PaperReported {
                return Ok(RunDeletion::PaperReported);
            }
            let active: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM jobs WHERE run_id = $1 AND status IN ('queued', 'running') \
             ORDER BY id LIMIT 1",
            )
            .bind(run.0)
            .fetch_optional(&mut *transaction)
            .await
            .map_err(database("find a run's active job"))?;
            if let Some(job) = active {
                return Ok(RunDeletion::Active(JobId(job)));
            }
            let mut removed = [0_u64; 4];
            for (count, (sql, action)) in removed.iter_mut().zip([
                (
                    "DELETE FROM judgements WHERE run_id = $1",
                    "delete a run's judgements",
                ),
                (
                    "DELETE FROM scorecards WHERE run_id = $1",
                    "delete a run's scorecard",
                ),
                ("DELETE FROM jobs WHERE run_id = $1", "delete a run's jobs"),
                ("DELETE FROM runs WHERE id = $1", "delete a run"),
            ]) {
                *count = sqlx::query(sql)
                    .bind(run.0)
                    .execute(&mut *transaction)
                    .await
                    .map_err(database(action))?
                    .rows_affected();
            }
            let [judgements, scorecards, jobs, _] = removed;
            transaction
                .commit()
                .await
                .map_err(database("commit a run's deletion"))?;
            Ok(RunDeletion::Deleted {
                judgements,
                scorecard: scorecards > 0,
                jobs,
            })
        })
    }

    /// How many jobs are in each status, and how many queued ones await approval.
    pub async fn job_counts(&self) -> Result<(BTreeMap<RunStatus, u64>, u64), StorageError> {
        with_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT status, COUNT(*) AS jobs, \
             SUM(CASE WHEN approval = 'pending' THEN 1 ELSE 0 END) AS pending \
             FROM jobs GROUP BY status",
            )
            .fetch_all(pool)
            .await
            .map_err(database("count jobs"))?;
            let mut counts = BTreeMap::new();
            let mut pending = 0;
            for row in &rows {
                let status: RunStatus = parse_column("jobs", "status", row.get("status"))?;
                counts.insert(
                    status,
                    non_negative("jobs", "status", Some(row.get("jobs")))?.unwrap_or(0),
                );
                pending += non_negative("jobs", "approval", row.get("pending"))?.unwrap_or(0);
            }
            Ok((counts, pending))
        })
    }

    /// How many runs are in each status.
    pub async fn run_counts(&self) -> Result<BTreeMap<RunStatus, u64>, StorageError> {
        with_pool!(self, |pool| {
            let rows = sqlx::query("SELECT status, COUNT(*) AS runs FROM runs GROUP BY status")
                .fetch_all(pool)
                .await
                .map_err(database("count runs"))?;
            rows.iter()
                .map(|row| {
                    let status: RunStatus = parse_column("runs", "status", row.get("status"))?;
                    let runs = non_negative("runs", "status", Some(row.get("runs")))?.unwrap_or(0);
                    Ok((status, runs))
                })
                .collect()
        })
    }

    /// A run's status and its judgements counted per setting, in one snapshot.
    pub async fn run_progress(&self, run: RunId) -> Result<RunProgress, StorageError> {
        with_pool!(self, |pool| {
            let mut transaction = pool
                .begin()
                .await
                .map_err(database("begin reading a run's progress"))?;
            let status: Option<String> =
                sqlx::query_scalar("SELECT status FROM runs WHERE id = $1")
                    .bind(run.0)
                    .fetch_optional(&mut *transaction)
                    .await
                    .map_err(database("read a run's status"))?;
            let status: RunStatus = parse_column(
                "runs",
                "status",
                status.ok_or(StorageError::RunNotFound(run))?,
            )?;
            let rows = sqlx::query(
            "SELECT setting, COUNT(*) AS judged FROM judgements WHERE run_id = $1 GROUP BY setting",
        )
        .bind(run.0)
        .fetch_all(&mut *transaction)
        .await
        .map_err(database("count a run's judgements"))?;
            transaction
                .commit()
                .await
                .map_err(database("end reading a run's progress"))?;
            let mut judged = BTreeMap::new();
            for row in &rows {
                let setting: String = row.get("setting");
                let setting = Setting::ALL
                    .into_iter()
                    .find(|known| known.key() == setting)
                    .ok_or(StorageError::Corrupt {
                        table: "judgements",
                        column: "setting",
                        value: setting,
                    })?;
                let count = non_negative("judgements", "setting", Some(row.get("judged")))?;
                judged.insert(setting, count.unwrap_or(0));
            }
            Ok(RunProgress { status, judged })
        })
    }

    /// How many samples a stored benchmark has, and how many of them are labelled tie.
    pub async fn sample_label_counts(
        &self,
        benchmark: super::BenchmarkId,
    ) -> Result<(u64, u64), StorageError> {
        with_pool!(self, |pool| {
            let row = sqlx::query(
                "SELECT COUNT(*) AS samples, \
             COALESCE(SUM(CASE WHEN label = $1 THEN 1 ELSE 0 END), 0) AS ties \
             FROM samples WHERE benchmark_id = $2",
            )
            .bind(Label::Tie.key())
            .bind(benchmark.0)
            .fetch_one(pool)
            .await
            .map_err(database("count a benchmark's samples"))?;
            let count = |column| non_negative("samples", "label", Some(row.get(column)));
            Ok((count("samples")?.unwrap_or(0), count("ties")?.unwrap_or(0)))
        })
    }

    /// The specification of the latest job of `run`, if it has one.
    pub async fn latest_job_specification(
        &self,
        run: RunId,
    ) -> Result<Option<serde_json::Value>, StorageError> {
        with_pool!(self, |pool| {
            let text: Option<String> = sqlx::query_scalar(
                "SELECT specification_json FROM jobs WHERE run_id = $1 ORDER BY id DESC LIMIT 1",
            )
            .bind(run.0)
            .fetch_optional(pool)
            .await
            .map_err(database("read a run's latest job"))?;
            text.map(|text| {
                serde_json::from_str(&text).map_err(|_| StorageError::Corrupt {
                    table: "jobs",
                    column: "specification_json",
                    value: text,
                })
            })
            .transpose()
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::storage::test_support::fresh_databases;
    use crate::storage::{JobKind, ModelKind, NewModel, NewRun};

    async fn run(storage: &Storage, provenance: Provenance) -> RunId {
        let model = storage
            .upsert_model(&NewModel::named("judge", ModelKind::ApiJudge))
            .await
            .expect("stores");
        storage
            .create_run(&NewRun {
                model,
                benchmark: None,
                status: RunStatus::Queued,
                provenance,
                configuration: json!({}),
            })
            .await
            .expect("creates")
    }

    #[tokio::test]
    async fn pending_jobs_are_not_claimed_until_approved() {
        for database in fresh_databases().await {
            let storage = database.storage();
            let run = run(storage, Provenance::Evaluated).await;
            let job = storage
                .enqueue_job_for_approval(run, JobKind::ApiJudge, &json!({}))
                .await
                .expect("enqueues")
                .job();
            assert_eq!(
                storage
                    .enqueue_job_for_approval(run, JobKind::ApiJudge, &json!({}))
                    .await
                    .expect("enqueues"),
                Enqueued::Existing(job)
            );
            assert_eq!(
                storage.job_approval(job).await.expect("reads"),
                Approval::Pending
            );
            assert_eq!(storage.claim_job("worker").await.expect("claims"), None);
            assert_eq!(storage.job_counts().await.expect("counts").1, 1);
            assert_eq!(
                storage.approve_job(job).await.expect("approves"),
                ApprovalDecision::Decided
            );
            assert_eq!(
                storage.approve_job(job).await.expect("answers"),
                ApprovalDecision::NotPending {
                    approval: Approval::Approved,
                    status: RunStatus::Queued
                }
            );
            let claimed = storage.claim_job("worker").await.expect("claims");
            assert_eq!(claimed.map(|claimed| claimed.id), Some(job));
            assert!(matches!(
                storage.approve_job(JobId(999)).await,
                Err(StorageError::JobNotFound(_))
            ));
        }
    }

    #[tokio::test]
    async fn rejecting_cancels_the_job_and_its_run() {
        for database in fresh_databases().await {
            let storage = database.storage();
            let run = run(storage, Provenance::Evaluated).await;
            let job = storage
                .enqueue_job_for_approval(run, JobKind::ApiJudge, &json!({}))
                .await
                .expect("enqueues")
                .job();
            assert_eq!(
                storage.reject_job(job, "not today").await.expect("rejects"),
                ApprovalDecision::Decided
            );
            let stored = storage.job(job).await.expect("reads");
            assert_eq!(stored.status, RunStatus::Cancelled);
            assert_eq!(stored.error.as_deref(), Some("not today"));
            assert_eq!(
                storage.run(run).await.expect("reads").status,
                RunStatus::Cancelled
            );
            assert_eq!(
                storage.job_approvals().await.expect("lists"),
                BTreeMap::from([(job, Approval::Rejected)])
            );
        }
    }

    #[tokio::test]
    async fn deleting_refuses_paper_and_active_runs() {
        for database in fresh_databases().await {
            let storage = database.storage();
            let paper = run(storage, Provenance::PaperReported).await;
            assert_eq!(
                storage.delete_run(paper).await.expect("answers"),
                RunDeletion::PaperReported
            );
            let evaluated = run(storage, Provenance::Evaluated).await;
            let job = storage
                .enqueue_job(evaluated, JobKind::ApiJudge, &json!({}))
                .await
                .expect("enqueues");
            assert_eq!(
                storage.delete_run(evaluated).await.expect("answers"),
                RunDeletion::Active(job)
            );
            storage.cancel_job(job).await.expect("cancels");
            assert_eq!(
                storage.delete_run(evaluated).await.expect("deletes"),
                RunDeletion::Deleted {
                    judgements: 0,
                    scorecard: false,
                    jobs: 1
                }
            );
            assert!(matches!(
                storage.delete_run(evaluated).await,
                Err(StorageError::RunNotFound(_))
            ));
            assert_eq!(
                storage.run_counts().await.expect("counts"),
                BTreeMap::from([(RunStatus::Queued, 1)])
            );
        }
    }
}
