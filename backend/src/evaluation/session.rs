//! One execution of a run, whoever drives it: open or resume the run, open its judgement sink,
//! let a runner (API judge, checkpoint, baseline) feed the sink, and finish the run with its
//! scorecard. The command line and the workers are adapters around it: the CLI passes a progress
//! observer and Ctrl-C, a worker heartbeats and cancellation.

use std::path::{Path, PathBuf};

use omnireward_shared::{BootstrapConfig, Scorecard};
use serde_json::Value;

use super::identity::RunIdentity;
use super::runs::{self, OpenedRun};
use super::sink::{JudgementSink, SinkError};
use crate::data::Benchmark;
use crate::storage::{NewModel, RunId, RunStatus, Storage, StorageError};

/// Why a session could not start or end.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The database refused.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The judgements file could not be opened or repaired.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// The judgements file's folder could not be created.
    #[error("cannot create {path}: {source}")]
    Folder {
        /// The folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// What a new or resumed run is, for [`Session::open`].
pub struct SessionStart<'a> {
    /// The model judged (found or registered by name and kind).
    pub model: &'a NewModel,
    /// The benchmark judged (recorded, idempotently, with its samples).
    pub benchmark: &'a Benchmark,
    /// What makes the run the same run.
    pub identity: &'a RunIdentity,
    /// What may change between sessions (concurrency, prices, versions).
    pub details: Value,
    /// Where the judgements file goes; `None`: `<runs_dir>/run-<id>.jsonl`.
    pub judgements_file: Option<&'a Path>,
    /// The default folder of judgements files.
    pub runs_dir: PathBuf,
}

/// A run taking judgements: its id, whether this session resumed it, and its sink.
pub struct Session {
    storage: Storage,
    opened: OpenedRun,
    sink: JudgementSink,
}

impl Session {
    /// Opens the run of `start.identity` (resuming it when it exists) and its judgements file.
    pub async fn open(storage: &Storage, start: SessionStart<'_>) -> Result<Session, SessionError> {
        let opened = runs::open_run(
            storage,
            start.model,
            start.benchmark,
            start.identity,
            start.details,
        )
        .await?;
        let path = judgements_path(&start.runs_dir, opened.id, start.judgements_file)?;
        let sink = JudgementSink::open(storage.clone(), opened.id, &path).await?;
        Ok(Session {
            storage: storage.clone(),
            opened,
            sink,
        })
    }

    /// Takes up an existing run (a queued job's, opened when it was submitted): marks it
    /// running and opens its judgements file.
    pub async fn resume(
        storage: &Storage,
        run: RunId,
        judgements_file: Option<&Path>,
        runs_dir: &Path,
    ) -> Result<Session, SessionError> {
        let path = judgements_path(runs_dir, run, judgements_file)?;
        storage.set_run_status(run, RunStatus::Running).await?;
        let sink = JudgementSink::open(storage.clone(), run, &path).await?;
        Ok(Session {
            storage: storage.clone(),
            opened: OpenedRun {
                id: run,
                resumed: true,
            },
            sink,
        })
    }

    /// The run and whether it existed before this session.
    pub fn opened(&self) -> OpenedRun {
        self.opened
    }

    /// Where the judgements go.
    pub fn sink(&mut self) -> &mut JudgementSink {
        &mut self.sink
    }

    /// The judgements file.
    pub fn judgements_file(&self) -> &Path {
        self.sink.path()
    }

    /// Scores every judgement the run holds, stores the scorecard and sets `status`.
    pub async fn finish(
        &self,
        model_name: &str,
        benchmark: &Benchmark,
        status: RunStatus,
        bootstrap: BootstrapConfig,
    ) -> Result<Scorecard, StorageError> {
        runs::finish_run(
            &self.storage,
            self.opened.id,
            model_name,
            benchmark,
            status,
            bootstrap,
        )
        .await
    }
}

/// The judgements file of `run`: `named`, else `<runs_dir>/run-<id>.jsonl`; its folder is
/// created.
fn judgements_path(
    runs_dir: &Path,
    run: RunId,
    named: Option<&Path>,
) -> Result<PathBuf, SessionError> {
    let path = named.map_or_else(
        || runs_dir.join(format!("run-{}.jsonl", run.0)),
        Path::to_path_buf,
    );
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent).map_err(|source| SessionError::Folder {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    Ok(path)
}
