//! A set of files of one commit put into a folder: each one already there and intact, reused
//! from a `huggingface-cli` cache, or downloaded; then the record of what the folder holds
//! (`.omnireward-hub.json`: repository, revision asked for, commit, files), written last, so a
//! folder with a record is complete. A lock file keeps two processes (workers sharing a cache)
//! from writing one folder at once.

use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use super::client::{HubClient, check_file_path};
use super::download::{Source, download_file, verify};
use super::{HubError, RepoFile, cache};

/// The record a complete folder holds.
pub const RECORD_FILE: &str = ".omnireward-hub.json";

/// What a folder holds, written once every file is in place.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotRecord {
    /// `org/name`.
    pub repository: String,
    /// The revision asked for.
    pub revision: String,
    /// The commit it named.
    pub commit: String,
    /// The files fetched.
    pub files: Vec<RepoFile>,
    /// Archives that were extracted into the folder and deleted.
    #[serde(default)]
    pub extracted: Vec<String>,
}

impl SnapshotRecord {
    /// The record in `folder`, if the folder is complete.
    pub fn read(folder: &Path) -> Option<SnapshotRecord> {
        let text = std::fs::read_to_string(folder.join(RECORD_FILE)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Writes the record (to a temporary name, then renamed, so a reader sees all or nothing).
    pub fn write(&self, folder: &Path) -> Result<(), HubError> {
        let path = folder.join(RECORD_FILE);
        let temporary = folder.join(format!("{RECORD_FILE}.partial"));
        let text = serde_json::to_string_pretty(self).map_err(|error| HubError::Io {
            path: path.clone(),
            source: std::io::Error::other(error),
        })?;
        std::fs::write(&temporary, text + "\n").map_err(HubError::io(&temporary))?;
        std::fs::rename(&temporary, &path).map_err(HubError::io(&path))
    }
}

/// Holds a folder's lock file until dropped.
#[derive(Debug)]
pub struct FolderLock {
    _file: std::fs::File,
}

/// Waits for the exclusive lock of `<folder>.lock`.
pub async fn lock(folder: &Path) -> Result<FolderLock, HubError> {
    let mut name = folder.as_os_str().to_owned();
    name.push(".lock");
    let path = PathBuf::from(name);
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(HubError::io(parent))?;
    }
    tokio::task::spawn_blocking(move || {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(HubError::io(&path))?;
        file.lock().map_err(HubError::io(&path))?;
        Ok(FolderLock { _file: file })
    })
    .await
    .map_err(|error| HubError::Io {
        path: folder.to_owned(),
        source: std::io::Error::other(error),
    })?
}

/// How downloads show their progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// One bar per file on standard error (the CLI).
    Bars,
    /// Nothing (the worker, tests).
    Hidden,
}

/// Puts `files` of `source` into `folder` (at their repository paths).
pub async fn fetch(
    client: &HubClient,
    source: Source<'_>,
    files: &[RepoFile],
    folder: &Path,
    progress: Progress,
) -> Result<(), HubError> {
    for file in files {
        check_file_path(&file.path).map_err(|reason| HubError::Malformed {
            url: file.path.clone(),
            reason: reason.to_owned(),
        })?;
        let destination = folder.join(&file.path);
        if tokio::fs::try_exists(&destination).await.unwrap_or(false) {
            match verify(source, file, &destination).await {
                Ok(()) => continue,
                Err(error) => {
                    tracing::warn!(%error, "a file in the folder does not match; fetching it again");
                    tokio::fs::remove_file(&destination)
                        .await
                        .map_err(HubError::io(&destination))?;
                }
            }
        }
        if let Some(hf_home) = &client.settings().hf_home
            && cache::reuse(hf_home, source, file, &destination).await?
        {
            continue;
        }
        let bar = match progress {
            Progress::Bars => {
                let bar = ProgressBar::new(file.size);
                bar.set_style(
                    ProgressStyle::with_template(
                        "{msg} {bar:30} {bytes}/{total_bytes} · {bytes_per_sec} · eta {eta}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                bar.set_message(file.path.clone());
                bar
            }
            Progress::Hidden => ProgressBar::hidden(),
        };
        download_file(client, source, file, &destination, &bar).await?;
        bar.finish();
    }
    Ok(())
}
