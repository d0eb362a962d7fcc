//! Where a run's judgements go: the database (the source of truth) and the judgements file,
//! kept in agreement across crashes and resumes.
//!
//! Order of writes: a batch is committed to the database first, then appended to the file. A
//! crash between the two leaves the file short; [`JudgementSink::open`] appends what the
//! database has and the file lacks, and cuts a half-written last line, so after a resume both
//! hold every judgement exactly once.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use omnireward_shared::{Judgement, JudgementKey};

use crate::judgements_file::{self, JudgementsFileError, JudgementsWriter};
use crate::storage::{RunId, Storage, StorageError};

/// Why judgements could not be saved.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The database refused them.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The judgements file could not be written.
    #[error(transparent)]
    File(#[from] JudgementsFileError),
}

/// The database run plus its judgements file.
pub struct JudgementSink {
    storage: Storage,
    run: RunId,
    file: JudgementsWriter,
    path: PathBuf,
    done: BTreeSet<JudgementKey>,
}

impl JudgementSink {
    /// Opens the sink of `run`, bringing `path` up to date with the database.
    pub async fn open(storage: Storage, run: RunId, path: &Path) -> Result<Self, SinkError> {
        let in_file: HashSet<JudgementKey> = judgements_file::prepare_for_append(path)?
            .into_iter()
            .collect();
        let stored = storage.judgements(run).await?;
        let mut file = JudgementsWriter::append(path)?;
        for judgement in &stored {
            if !in_file.contains(&judgement.key()) {
                file.write(judgement)?;
            }
        }
        let done = stored.iter().map(Judgement::key).collect();
        Ok(Self {
            storage,
            run,
            file,
            path: path.to_path_buf(),
            done,
        })
    }

    /// Items already judged in this run (by earlier sessions or this one).
    pub fn done(&self) -> &BTreeSet<JudgementKey> {
        &self.done
    }

    /// The judgements file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Saves a batch: one database transaction, then one flushed line per new judgement.
    /// Returns how many were new.
    pub async fn save(&mut self, batch: &[Judgement]) -> Result<usize, SinkError> {
        let mut seen = HashSet::new();
        let owned: Vec<Judgement> = batch
            .iter()
            .filter(|judgement| {
                let key = judgement.key();
                !self.done.contains(&key) && seen.insert(key)
            })
            .cloned()
            .collect();
        if owned.is_empty() {
            return Ok(0);
        }
        self.storage.record_judgements(self.run, &owned).await?;
        for judgement in &owned {
            self.file.write(judgement)?;
            self.done.insert(judgement.key());
        }
        Ok(owned.len())
    }
}
