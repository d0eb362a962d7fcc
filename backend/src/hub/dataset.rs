//! The benchmark release from the Hub: every file of a commit of a dataset repository (parquet
//! files, `media_data.zip`, the card) into a folder, the archive extracted safely and deleted,
//! and the commit recorded; `hf:org/name[@revision]` as a data folder, downloaded on first use
//! into the cache and found there afterwards without asking the Hub again.

use std::path::{Path, PathBuf};

use super::archive::{self, ArchiveLimits};
use super::download::Source;
use super::snapshot::{self, Progress, SnapshotRecord};
use super::{HubClient, HubError, HubReference, RepoFile, RepoKind, RevisionInfo, is_commit};

/// Files never fetched: they describe the repository, not the data.
const SKIPPED_FILES: [&str; 1] = [".gitattributes"];

/// Downloads `revision` of the dataset `repository` into `folder`. A folder that already holds
/// that commit is left as it is; one holding another commit is brought up to this one.
pub async fn download(
    client: &HubClient,
    reference: &HubReference,
    folder: &Path,
    progress: Progress,
    limits: ArchiveLimits,
) -> Result<SnapshotRecord, HubError> {
    let info = client
        .revision(
            RepoKind::Dataset,
            &reference.repository,
            &reference.revision,
        )
        .await?;
    download_commit(client, &info, &reference.revision, folder, progress, limits).await
}

/// Downloads the files `info` lists into `folder`, extracts its zip archives, and records it.
pub async fn download_commit(
    client: &HubClient,
    info: &RevisionInfo,
    revision: &str,
    folder: &Path,
    progress: Progress,
    limits: ArchiveLimits,
) -> Result<SnapshotRecord, HubError> {
    tokio::fs::create_dir_all(folder)
        .await
        .map_err(HubError::io(folder))?;
    let _lock = snapshot::lock(folder).await?;
    if let Some(record) = SnapshotRecord::read(folder)
        && record.commit == info.commit
    {
        return Ok(record);
    }
    let files: Vec<RepoFile> = info
        .files
        .iter()
        .filter(|file| !SKIPPED_FILES.contains(&file.path.as_str()))
        .cloned()
        .collect();
    // An archive this folder already holds extracted from the same bytes is not fetched again:
    // a new commit that changes only the parquet files costs no 3.5 GB download.
    let previous = SnapshotRecord::read(folder);
    let (kept, to_fetch): (Vec<RepoFile>, Vec<RepoFile>) =
        files.iter().cloned().partition(|file| {
            previous
                .as_ref()
                .is_some_and(|previous| still_extracted(previous, file, folder))
        });
    let source = Source {
        kind: RepoKind::Dataset,
        repository: &info.repository,
        commit: &info.commit,
    };
    snapshot::fetch(client, source, &to_fetch, folder, progress).await?;
    let mut extracted: Vec<String> = kept.iter().map(|file| file.path.clone()).collect();
    for file in to_fetch.iter().filter(|file| is_archive(&file.path)) {
        let archive_path = folder.join(&file.path);
        let destination = archive_path
            .parent()
            .map_or_else(|| folder.to_owned(), Path::to_owned);
        if progress == Progress::Bars {
            eprintln!("extracting {}", file.path);
        }
        let archive_for_thread = archive_path.clone();
        tokio::task::spawn_blocking(move || {
            archive::extract(&archive_for_thread, &destination, limits)
        })
        .await
        .map_err(|error| HubError::Io {
            path: archive_path.clone(),
            source: std::io::Error::other(error),
        })??;
        // The extracted folder is what loaders read; the archive would double the space.
        tokio::fs::remove_file(&archive_path)
            .await
            .map_err(HubError::io(&archive_path))?;
        extracted.push(file.path.clone());
    }
    let record = SnapshotRecord {
        repository: info.repository.to_string(),
        revision: revision.to_owned(),
        commit: info.commit.clone(),
        files,
        extracted,
    };
    record.write(folder)?;
    Ok(record)
}

/// Zip archives are extracted where they lie (`media_data.zip` → `media_data/`).
fn is_archive(path: &str) -> bool {
    path.to_ascii_lowercase().ends_with(".zip")
}

/// Whether `file` is an LFS archive `previous` extracted from the same bytes, and the folder
/// named after it (`media_data/` for `media_data.zip`) is still there.
fn still_extracted(previous: &SnapshotRecord, file: &RepoFile, folder: &Path) -> bool {
    let Some(stem) = file.path.get(..file.path.len().saturating_sub(4)) else {
        return false;
    };
    is_archive(&file.path)
        && file.sha256.is_some()
        && previous.extracted.contains(&file.path)
        && previous.files.contains(file)
        && folder.join(stem).is_dir()
}

/// The folder of `reference` under `cache_dir`, downloading it on first use: a commit, or a
/// branch or tag already resolved once (`refs/<revision>`), is found without the network.
pub async fn cached(
    client: &HubClient,
    reference: &HubReference,
    cache_dir: &Path,
    progress: Progress,
) -> Result<(PathBuf, SnapshotRecord), HubError> {
    let base = cache_dir
        .join("hub")
        .join("datasets")
        .join(reference.repository.folder_name());
    let reference_file = base.join("refs").join(encode_revision(&reference.revision));
    let known_commit = if is_commit(&reference.revision) {
        Some(reference.revision.clone())
    } else {
        std::fs::read_to_string(&reference_file)
            .ok()
            .map(|text| text.trim().to_owned())
            .filter(|commit| is_commit(commit))
    };
    if let Some(commit) = known_commit {
        let folder = base.join(&commit);
        if let Some(record) = SnapshotRecord::read(&folder)
            && record.commit == commit
        {
            return Ok((folder, record));
        }
    }
    let info = client
        .revision(
            RepoKind::Dataset,
            &reference.repository,
            &reference.revision,
        )
        .await?;
    let folder = base.join(&info.commit);
    let record = download_commit(
        client,
        &info,
        &reference.revision,
        &folder,
        progress,
        ArchiveLimits::default(),
    )
    .await?;
    if let Some(parent) = reference_file.parent() {
        std::fs::create_dir_all(parent).map_err(HubError::io(parent))?;
    }
    std::fs::write(&reference_file, &info.commit).map_err(HubError::io(&reference_file))?;
    Ok((folder, record))
}

/// A revision as one file name (`refs/pr/1` → `refs%2Fpr%2F1`).
fn encode_revision(revision: &str) -> String {
    revision.replace('%', "%25").replace('/', "%2F")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revisions_become_one_file_name() {
        assert_eq!(encode_revision("refs/pr/1"), "refs%2Fpr%2F1");
        assert_eq!(encode_revision("v1%"), "v1%25");
        assert!(is_archive("media_data.zip"));
        assert!(!is_archive("data/test.parquet"));
    }
}
