//! What checkpoint uploads and restarted workers need beyond the plain queue: the latest job of
//! a run (an identical re-upload answers with it), and taking back the jobs a worker of the same
//! name held when its process died.

use super::jobs::{Job, JobId};
use super::runs::RunId;
use super::{Storage, StorageError, database, now_unix_ms};

impl Storage {
    /// The most recent job of `run`, whatever its status, if it has any.
    pub async fn latest_job(&self, run: RunId) -> Result<Option<Job>, StorageError> {
        with_pool!(self, |pool| {
            let id: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM jobs WHERE run_id = $1 ORDER BY id DESC LIMIT 1",
            )
            .bind(run.0)
            .fetch_optional(pool)
            .await
            .map_err(database("find a run's latest job"))?;
            match id {
                Some(id) => Ok(Some(self.job(JobId(id)).await?)),
                None => Ok(None),
            }
        })
    }

    /// Gives back to the queue the running jobs held by `worker`: called when a worker starts,
    /// since a worker of that name still holding jobs is a previous process that died (killed,
    /// or the machine restarted), and its jobs need not wait for their heartbeat to go stale.
    /// Jobs whose cancel was requested are cancelled instead. Returns how many were requeued.
    pub async fn requeue_jobs_of_worker(&self, worker: &str) -> Result<u64, StorageError> {
        with_pool!(self, |pool| {
            let now = now_unix_ms();
            sqlx::query(
                "UPDATE jobs SET status = 'cancelled', finished_at = $1 \
             WHERE status = 'running' AND cancel_requested = 1 AND worker = $2",
            )
            .bind(now)
            .bind(worker)
            .execute(pool)
            .await
            .map_err(database("cancel a dead worker's jobs"))?;
            let requeued = sqlx::query(
                "UPDATE jobs SET status = 'queued', worker = NULL, heartbeat_at = NULL \
             WHERE status = 'running' AND worker = $1",
            )
            .bind(worker)
            .execute(pool)
            .await
            .map_err(database("requeue a dead worker's jobs"))?;
            Ok(requeued.rows_affected())
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::storage::test_support::fresh_databases;
    use crate::storage::{JobKind, ModelKind, NewModel, NewRun, Provenance, RunStatus};

    #[tokio::test]
    async fn a_restarted_worker_takes_back_its_jobs_and_the_latest_job_is_found() {
        for database in fresh_databases().await {
            let storage = database.storage();
            let model = storage
                .upsert_model(&NewModel::named("m", ModelKind::ScalarRewardModel))
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
            assert_eq!(storage.latest_job(run).await.expect("reads"), None);
            let first = storage
                .enqueue_job(run, JobKind::Checkpoint, &serde_json::json!({"n": 1}))
                .await
                .expect("enqueues");
            let second = storage
                .enqueue_job(run, JobKind::Checkpoint, &serde_json::json!({"n": 2}))
                .await
                .expect("enqueues");
            let claimed = storage
                .claim_job("w")
                .await
                .expect("claims")
                .expect("a job");
            assert_eq!((claimed.id, claimed.kind), (first, JobKind::Checkpoint));
            assert_eq!(
                storage
                    .latest_job(run)
                    .await
                    .expect("reads")
                    .map(|job| job.id),
                Some(second)
            );
            assert_eq!(
                storage.requeue_jobs_of_worker("other").await.expect("ok"),
                0
            );
            assert_eq!(storage.requeue_jobs_of_worker("w").await.expect("ok"), 1);
            let requeued = storage.job(first).await.expect("reads");
            assert_eq!(requeued.status, RunStatus::Queued);
            assert_eq!(requeued.worker, None);

            // A job whose cancel was requested is cancelled, not requeued.
            let again = storage
                .claim_job("w")
                .await
                .expect("claims")
                .expect("a job");
            storage.cancel_job(again.id).await.expect("requests");
            assert_eq!(storage.requeue_jobs_of_worker("w").await.expect("ok"), 0);
            assert_eq!(
                storage.job(again.id).await.expect("reads").status,
                RunStatus::Cancelled
            );
        }
    }
}
