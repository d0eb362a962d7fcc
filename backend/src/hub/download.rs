//! One file of a commit downloaded to a path: written to `<path>.partial`, resumed from where a
//! cut connection (or an earlier, interrupted command) left it with an HTTP range, checked
//! against the size and, for LFS files, the SHA-256 the Hub listed, and renamed into place only
//! when it matches. A file that does not match is deleted, so nothing unverified is kept.

use std::path::{Path, PathBuf};

use indicatif::ProgressBar;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt as _;

use super::client::HubClient;
use super::{HubError, RepoFile, RepoId, RepoKind};

/// Where a file of a commit comes from.
#[derive(Clone, Copy, Debug)]
pub struct Source<'a> {
    /// The repository's kind.
    pub kind: RepoKind,
    /// The repository.
    pub repository: &'a RepoId,
    /// The commit.
    pub commit: &'a str,
}

/// `<path>.partial`: where a download in progress is kept.
pub fn partial_path(destination: &Path) -> PathBuf {
    let mut name = destination.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

/// Downloads `file` to `destination` (resuming `<destination>.partial`), checks it, and renames
/// it into place. `progress` counts bytes.
pub async fn download_file(
    client: &HubClient,
    source: Source<'_>,
    file: &RepoFile,
    destination: &Path,
    progress: &ProgressBar,
) -> Result<(), HubError> {
    if let Some(parent) = destination.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(HubError::io(parent))?;
    }
    let partial = partial_path(destination);
    progress.set_length(file.size);
    let mut cuts = 0;
    loop {
        let mut offset = match tokio::fs::metadata(&partial).await {
            Ok(metadata) => metadata.len(),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => 0,
            Err(error) => return Err(HubError::io(&partial)(error)),
        };
        if offset > file.size {
            // Longer than the file can be: not a prefix of it.
            offset = 0;
        }
        progress.set_position(offset);
        if offset == file.size && file.size > 0 {
            break;
        }
        let opened = client
            .open_file(
                source.kind,
                source.repository,
                source.commit,
                &file.path,
                offset,
            )
            .await?;
        let mut writer = tokio::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(opened.start == 0)
            .append(opened.start > 0)
            .open(&partial)
            .await
            .map_err(HubError::io(&partial))?;
        let mut written = opened.start;
        let mut response = opened.response;
        let cut = loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    written += chunk.len() as u64;
                    if written > file.size {
                        drop(writer);
                        remove_quietly(&partial).await;
                        return Err(mismatch(source, file, "size", file.size, written));
                    }
                    writer
                        .write_all(&chunk)
                        .await
                        .map_err(HubError::io(&partial))?;
                    progress.set_position(written);
                }
                Ok(None) => break None,
                Err(error) => break Some(error),
            }
        };
        writer.flush().await.map_err(HubError::io(&partial))?;
        drop(writer);
        match cut {
            None if written == file.size => break,
            None => {
                // The server ended the body early without an error: resume like a cut.
                cuts += 1;
            }
            Some(error) => {
                cuts += 1;
                tracing::warn!(file = %file.path, %error, written, "download cut; resuming");
            }
        }
        if cuts >= client.attempts() {
            return Err(HubError::Unavailable {
                url: client
                    .file_url(source.kind, source.repository, source.commit, &file.path)?
                    .to_string(),
                reason: format!("the body was cut at byte {written} of {}", file.size),
                attempts: cuts,
            });
        }
        tokio::time::sleep(client.backoff(cuts)).await;
    }
    if let Err(error) = verify(source, file, &partial).await {
        remove_quietly(&partial).await;
        return Err(error);
    }
    tokio::fs::rename(&partial, destination)
        .await
        .map_err(HubError::io(destination))?;
    Ok(())
}

/// Checks the bytes at `path` against `file`'s size and SHA-256 (when the Hub lists one).
pub async fn verify(source: Source<'_>, file: &RepoFile, path: &Path) -> Result<(), HubError> {
    let size = tokio::fs::metadata(path)
        .await
        .map_err(HubError::io(path))?
        .len();
    if size != file.size {
        return Err(mismatch(source, file, "size", file.size, size));
    }
    if let Some(expected) = &file.sha256 {
        let found = sha256_of(path.to_owned()).await?;
        if &found != expected {
            return Err(HubError::Mismatch {
                repository: source.repository.to_string(),
                path: file.path.clone(),
                what: "SHA-256",
                expected: expected.clone(),
                found,
            });
        }
    }
    Ok(())
}

/// The SHA-256 of a file, read on a blocking thread.
pub async fn sha256_of(path: PathBuf) -> Result<String, HubError> {
    tokio::task::spawn_blocking(move || {
        let mut reader = std::fs::File::open(&path).map_err(HubError::io(&path))?;
        let mut hasher = Sha256::new();
        std::io::copy(&mut reader, &mut hasher).map_err(HubError::io(&path))?;
        Ok(hex::encode(hasher.finalize()))
    })
    .await
    .map_err(|error| HubError::Io {
        path: PathBuf::new(),
        source: std::io::Error::other(error),
    })?
}

fn mismatch(
    source: Source<'_>,
    file: &RepoFile,
    what: &'static str,
    expected: u64,
    found: u64,
) -> HubError {
    HubError::Mismatch {
        repository: source.repository.to_string(),
        path: file.path.clone(),
        what,
        expected: expected.to_string(),
        found: found.to_string(),
    }
}

async fn remove_quietly(path: &Path) {
    if let Err(error) = tokio::fs::remove_file(path).await
        && error.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), %error, "cannot delete a refused download");
    }
}
