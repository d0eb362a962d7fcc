//! Files an existing `huggingface-cli` cache already holds (`$HF_HOME/hub/datasets--org--name/`
//! with `snapshots/<commit>/<path>` and `blobs/<sha256>` for LFS files), reused instead of
//! downloaded again: linked (or copied) to the destination and checked like a download.

use std::path::{Path, PathBuf};

use super::download::{Source, partial_path, verify};
use super::{HubError, RepoFile, RepoKind};

/// `$HF_HOME/hub/<kind>s--org--name`.
pub fn repository_folder(hf_home: &Path, source: Source<'_>) -> PathBuf {
    let prefix = match source.kind {
        RepoKind::Dataset => "datasets",
        RepoKind::Model => "models",
    };
    hf_home
        .join("hub")
        .join(format!("{prefix}--{}", source.repository.folder_name()))
}

/// Where the cache may hold `file` of `source`: the commit's snapshot, then for an LFS file the
/// blob its SHA-256 names (which another commit may have brought).
fn candidates(hf_home: &Path, source: Source<'_>, file: &RepoFile) -> Vec<PathBuf> {
    let folder = repository_folder(hf_home, source);
    let mut candidates = vec![
        folder
            .join("snapshots")
            .join(source.commit)
            .join(&file.path),
    ];
    if let Some(sha256) = &file.sha256 {
        candidates.push(folder.join("blobs").join(sha256));
    }
    candidates
}

/// Puts the cache's copy of `file` at `destination` when the cache holds one with the right
/// size and hash; `false` when it holds none (the caller downloads). A copy that does not
/// match is not used and not kept.
pub async fn reuse(
    hf_home: &Path,
    source: Source<'_>,
    file: &RepoFile,
    destination: &Path,
) -> Result<bool, HubError> {
    for candidate in candidates(hf_home, source, file) {
        // Snapshot entries are links into `blobs/`; metadata follows them.
        match tokio::fs::metadata(&candidate).await {
            Ok(metadata) if metadata.is_file() && metadata.len() == file.size => {}
            _ => continue,
        }
        if let Some(parent) = destination.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(HubError::io(parent))?;
        }
        let partial = partial_path(destination);
        let _ = tokio::fs::remove_file(&partial).await;
        let target = tokio::fs::canonicalize(&candidate)
            .await
            .map_err(HubError::io(&candidate))?;
        // A hard link costs no space; across file systems, copy.
        if tokio::fs::hard_link(&target, &partial).await.is_err() {
            tokio::fs::copy(&target, &partial)
                .await
                .map_err(HubError::io(&partial))?;
        }
        match verify(source, file, &partial).await {
            Ok(()) => {
                tokio::fs::rename(&partial, destination)
                    .await
                    .map_err(HubError::io(destination))?;
                tracing::info!(file = %file.path, cache = %candidate.display(), "reused from the Hugging Face cache");
                return Ok(true);
            }
            Err(error) => {
                tracing::warn!(%error, cache = %candidate.display(), "the Hugging Face cache's copy does not match; downloading");
                let _ = tokio::fs::remove_file(&partial).await;
            }
        }
    }
    Ok(false)
}
