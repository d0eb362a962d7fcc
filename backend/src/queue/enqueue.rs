//! From a validated submission to its run and its queued job, the same way for API judges and
//! uploaded checkpoints: find the evaluated run of the same identity (one indexed lookup) or
//! create it, then join the job that already answers the submission or queue a new one (awaiting
//! an administrator when the server asks for approval).

use omnireward_shared::Setting;
use serde_json::{Value, json};

use crate::data::Benchmark;
use crate::evaluation::identity::RunIdentity;
use crate::evaluation::runs::record_benchmark;
use crate::storage::{
    Enqueued, JobKind, NewModel, NewRun, Provenance, RunId, RunStatus, Storage, StorageError,
};

/// A submission whose request was checked: the run it names and the job that runs it.
pub struct Submission<'a> {
    /// The model evaluated.
    pub model: &'a NewModel,
    /// The benchmark it is evaluated on (the served one, or the part of it holding the chosen
    /// tasks).
    pub benchmark: &'a Benchmark,
    /// What makes its run the same run as another submission's or a command line's.
    pub identity: &'a RunIdentity,
    /// What may change between sessions, recorded with a new run.
    pub details: Value,
    /// Which kind of job runs it.
    pub kind: JobKind,
    /// The job's specification (everything the worker needs but secrets).
    pub specification: &'a Value,
    /// The settings it asks for.
    pub settings: &'a [Setting],
}

/// Which existing job answers a submission of a run that already has jobs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Joins {
    /// A queued or running job (an API judge resubmitted after its run finished queues a resume,
    /// which costs nothing when every item is judged).
    Active,
    /// The latest job when it is queued or running, or finished with every setting asked for
    /// (an uploaded checkpoint is not evaluated twice).
    ActiveOrFinished,
}

/// Finds or creates the submission's run and queues its job unless an existing job answers it
/// (`joins`); a new job awaits an administrator's approval when `require_approval`.
pub async fn submit(
    storage: &Storage,
    submission: &Submission<'_>,
    joins: Joins,
    require_approval: bool,
) -> Result<(Enqueued, RunId), StorageError> {
    let benchmark_id = record_benchmark(storage, submission.benchmark).await?;
    let model_id = storage.upsert_model(submission.model).await?;
    let identity = submission.identity.to_value();
    let existing = storage
        .evaluated_run(model_id, benchmark_id, &identity)
        .await?;
    if let Some(run) = existing
        && let Some(job) = answering_job(storage, run, joins, submission.settings).await?
    {
        return Ok((job, run));
    }
    let run =
        match existing {
            Some(run) => run,
            // The configuration has the shape `evaluation::runs::open_run` matches on, so the
            // command line with the same arguments resumes this run.
            None => storage
                .create_run(&NewRun {
                    model: model_id,
                    benchmark: Some(benchmark_id),
                    status: RunStatus::Queued,
                    provenance: Provenance::Evaluated,
                    configuration: json!({ "identity": identity, "details": submission.details }),
                })
                .await?,
        };
    let enqueued = if require_approval {
        storage
            .enqueue_job_for_approval(run, submission.kind, submission.specification)
            .await?
    } else {
        storage
            .enqueue_job_unless_active(run, submission.kind, submission.specification)
            .await?
    };
    if let Enqueued::Created(_) = enqueued {
        storage.set_run_status(run, RunStatus::Queued).await?;
    }
    Ok((enqueued, run))
}

/// The job of `run` that answers a new submission, if any.
async fn answering_job(
    storage: &Storage,
    run: RunId,
    joins: Joins,
    settings: &[Setting],
) -> Result<Option<Enqueued>, StorageError> {
    match joins {
        Joins::Active => Ok(storage.active_job(run).await?.map(Enqueued::Existing)),
        Joins::ActiveOrFinished => {
            let Some(job) = storage.latest_job(run).await? else {
                return Ok(None);
            };
            let covered = job
                .specification
                .get("settings")
                .and_then(|given| serde_json::from_value::<Vec<Setting>>(given.clone()).ok())
                .is_some_and(|given| settings.iter().all(|setting| given.contains(setting)));
            let answers = match job.status {
                RunStatus::Queued | RunStatus::Running => true,
                RunStatus::Finished => covered,
                RunStatus::Failed | RunStatus::Cancelled => false,
            };
            Ok(answers.then_some(Enqueued::Existing(job.id)))
        }
    }
}
