//! The dedicated inference thread of a local judge.
//!
//! Candle inference is long, CPU-bound (or GPU-bound) and blocking; on a tokio worker it would
//! stall every request the server handles. The model lives on its own OS thread and takes jobs,
//! closures over `&LocalJudge`, from a channel; async callers await the reply. Jobs run one at a
//! time, in arrival order, which is also what a single model on a single device wants.

use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::JoinHandle;

use omnireward_local_judge::LocalJudgeError;
use omnireward_local_judge::judge::{JudgeDescription, LocalJudge, LocalJudgeOptions};
use omnireward_shared::Task;
use tokio::sync::oneshot;

use crate::media::MediaError;

/// Why scoring with a local judge failed.
#[derive(Debug, thiserror::Error)]
pub enum LocalScoringError {
    /// Loading the checkpoint or running the model failed.
    #[error(transparent)]
    Judge(#[from] LocalJudgeError),
    /// A sample cannot be given to this model.
    #[error("{task} sample `{sample_id}`: {message}")]
    Input {
        /// Task of the sample.
        task: Task,
        /// Its id.
        sample_id: String,
        /// What is wrong.
        message: String,
    },
    /// A sample's media could not be decoded.
    #[error("{task} sample `{sample_id}`: {source}")]
    Media {
        /// Task of the sample.
        task: Task,
        /// Its id.
        sample_id: String,
        /// The cause (boxed: media errors are large and this one is rare).
        source: Box<MediaError>,
    },
    /// The inference thread is gone (it panicked or was shut down).
    #[error("the inference thread stopped")]
    ThreadStopped,
}

/// A job: a closure over the thread's model.
type Job<M> = Box<dyn FnOnce(&M) + Send>;

/// A model of type `M` owned by its own OS thread, which runs jobs in arrival order. Both kinds
/// of local judge live on one: reward models ([`InferenceThread`]) and chat models
/// ([`super::generative::GenerativeThread`]).
pub struct ModelThread<M: 'static> {
    jobs: Option<mpsc::Sender<Job<M>>>,
    handle: Option<JoinHandle<()>>,
}

impl<M: 'static> ModelThread<M> {
    /// Starts the thread, builds the model on it with `load` (models need not be `Send`: they
    /// never leave their thread) and returns what `load` reports about it once loaded.
    /// Blocking: call it from a blocking context.
    pub fn start<R: Send + 'static>(
        name: &str,
        load: impl FnOnce() -> Result<(M, R), LocalJudgeError> + Send + 'static,
    ) -> Result<(ModelThread<M>, R), LocalJudgeError> {
        let (loaded_sender, loaded) = mpsc::channel();
        let (jobs, receiver) = mpsc::channel::<Job<M>>();
        let handle = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let model = match load() {
                    Ok((model, report)) => {
                        let _ = loaded_sender.send(Ok(report));
                        model
                    }
                    Err(error) => {
                        let _ = loaded_sender.send(Err(error));
                        return;
                    }
                };
                // Runs until every sender is dropped.
                for job in receiver {
                    job(&model);
                }
            })
            .map_err(|error| LocalJudgeError::Input {
                message: format!("cannot start the inference thread: {error}"),
            })?;
        let report = loaded.recv().map_err(|_| LocalJudgeError::Input {
            message: "the inference thread stopped while loading".to_owned(),
        })??;
        Ok((
            ModelThread {
                jobs: Some(jobs),
                handle: Some(handle),
            },
            report,
        ))
    }

    /// Runs `work` on the thread and awaits its result.
    pub async fn run<T, F>(&self, work: F) -> Result<T, LocalScoringError>
    where
        T: Send + 'static,
        F: FnOnce(&M) -> Result<T, LocalScoringError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.submit(Box::new(move |model| {
            let _ = reply.send(work(model));
        }))?;
        answer.await.map_err(|_| LocalScoringError::ThreadStopped)?
    }

    /// Runs `work` on the thread and blocks until it is done (for callers outside an async
    /// runtime).
    pub fn run_blocking<T, F>(&self, work: F) -> Result<T, LocalScoringError>
    where
        T: Send + 'static,
        F: FnOnce(&M) -> Result<T, LocalScoringError> + Send + 'static,
    {
        let (reply, answer) = mpsc::channel();
        self.submit(Box::new(move |model| {
            let _ = reply.send(work(model));
        }))?;
        answer
            .recv()
            .map_err(|_| LocalScoringError::ThreadStopped)?
    }

    fn submit(&self, job: Job<M>) -> Result<(), LocalScoringError> {
        self.jobs
            .as_ref()
            .ok_or(LocalScoringError::ThreadStopped)?
            .send(job)
            .map_err(|_| LocalScoringError::ThreadStopped)
    }
}

impl<M: 'static> Drop for ModelThread<M> {
    fn drop(&mut self) {
        // Closing the channel ends the thread's loop once the job in hand is done.
        self.jobs.take();
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// A loaded reward model on its own thread.
pub struct InferenceThread {
    thread: ModelThread<LocalJudge>,
    description: JudgeDescription,
    folder: PathBuf,
}

impl InferenceThread {
    /// Starts the thread and loads the checkpoint on it; returns once the model is loaded (or
    /// failed to load). Blocking: call it from a blocking context (`spawn_blocking`, or before
    /// a runtime starts).
    pub fn start(
        folder: PathBuf,
        options: LocalJudgeOptions,
    ) -> Result<InferenceThread, LocalJudgeError> {
        let (thread, (description, folder)) = ModelThread::start("local-judge", move || {
            let judge = LocalJudge::load(&folder, &options)?;
            let report = (judge.description().clone(), judge.folder().to_path_buf());
            Ok((judge, report))
        })?;
        Ok(InferenceThread {
            thread,
            description,
            folder,
        })
    }

    /// What the loaded judge is.
    pub fn description(&self) -> &JudgeDescription {
        &self.description
    }

    /// The checkpoint folder, canonicalized.
    pub fn folder(&self) -> &std::path::Path {
        &self.folder
    }

    /// Runs `work` on the inference thread and awaits its result.
    pub async fn run<T, F>(&self, work: F) -> Result<T, LocalScoringError>
    where
        T: Send + 'static,
        F: FnOnce(&LocalJudge) -> Result<T, LocalScoringError> + Send + 'static,
    {
        self.thread.run(work).await
    }

    /// Runs `work` on the inference thread and blocks until it is done (for callers outside an
    /// async runtime).
    pub fn run_blocking<T, F>(&self, work: F) -> Result<T, LocalScoringError>
    where
        T: Send + 'static,
        F: FnOnce(&LocalJudge) -> Result<T, LocalScoringError> + Send + 'static,
    {
        self.thread.run_blocking(work)
    }
}
