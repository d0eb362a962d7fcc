//! Reward-model checkpoints from the Hub: the file list of a commit checked before anything
//! large is downloaded (pickle files refused, safetensors weights and `config.json` present, the
//! bytes to fetch under a limit, the architecture in `config.json` one a local judge runs), then
//! the files a checkpoint folder uses fetched into a cache shared by every job and command,
//! addressed by repository and commit (a commit names every file's content).

use std::path::{Path, PathBuf};

use omnireward_local_judge::checkpoint::{CONFIG_FILE, PICKLE_EXTENSIONS, SUPPORTED_ARCHITECTURES};
use serde::{Deserialize, Serialize};

use super::download::Source;
use super::snapshot::{self, Progress, SnapshotRecord};
use super::{HubClient, HubError, HubReference, RepoFile, RepoId, RepoKind};

/// Largest `config.json` read (real ones are a few kilobytes).
const MAX_CONFIG_BYTES: usize = 1024 * 1024;

/// The default limit on a checkpoint's bytes: a 7B model in bf16 is about 15 GB.
pub const DEFAULT_MAX_CHECKPOINT_BYTES: u64 = 40 * 1024 * 1024 * 1024;

/// Extensions of the top-level files a checkpoint folder is read from: weights, configuration,
/// tokenizer (JSON, vocabularies, SentencePiece models) and chat templates. Anything else
/// (ONNX or GGUF exports, images, other frameworks' weights) is neither fetched nor counted.
const CHECKPOINT_EXTENSIONS: [&str; 6] =
    ["safetensors", "json", "txt", "model", "jinja", "tiktoken"];

/// A checkpoint whose file list and configuration passed the checks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckedCheckpoint {
    /// `org/name`.
    pub repository: String,
    /// The revision asked for.
    pub revision: String,
    /// The commit it named.
    pub commit: String,
    /// The supported architecture `config.json` lists.
    pub architecture: String,
    /// The files to fetch.
    pub files: Vec<RepoFile>,
    /// Their total size.
    pub bytes: u64,
}

impl CheckedCheckpoint {
    /// Where the checkpoint's files go in a cache folder.
    pub fn folder(&self, cache_dir: &Path) -> PathBuf {
        snapshot_folder(cache_dir, &self.repository, &self.commit)
    }
}

/// `<cache>/hub/models/org--name/<commit>`.
pub fn snapshot_folder(cache_dir: &Path, repository: &str, commit: &str) -> PathBuf {
    cache_dir
        .join("hub")
        .join("models")
        .join(repository.replace('/', "--"))
        .join(commit)
}

/// Resolves `reference` to a commit and checks its files and `config.json`, downloading nothing
/// else. `max_bytes` caps the bytes the checkpoint's files hold together.
pub async fn check(
    client: &HubClient,
    reference: &HubReference,
    max_bytes: u64,
) -> Result<CheckedCheckpoint, HubError> {
    let info = client
        .revision(RepoKind::Model, &reference.repository, &reference.revision)
        .await?;
    let refused = |reason: String| HubError::RefusedCheckpoint {
        repository: info.repository.to_string(),
        commit: info.commit.clone(),
        reason,
    };
    let mut pickles: Vec<&str> = info
        .files
        .iter()
        .map(|file| file.path.as_str())
        .filter(|path| has_extension(path, &PICKLE_EXTENSIONS))
        .collect();
    if !pickles.is_empty() {
        pickles.sort_unstable();
        return Err(refused(format!(
            "pickle files can run code when loaded and are refused (publish safetensors \
             weights only): {}",
            pickles.join(", ")
        )));
    }
    let files: Vec<RepoFile> = info
        .files
        .iter()
        .filter(|file| {
            !file.path.contains('/') && has_extension(&file.path, &CHECKPOINT_EXTENSIONS)
        })
        .cloned()
        .collect();
    if !files.iter().any(|file| file.path == CONFIG_FILE) {
        return Err(refused(format!("no `{CONFIG_FILE}`")));
    }
    if !files
        .iter()
        .any(|file| has_extension(&file.path, &["safetensors"]))
    {
        return Err(refused("no safetensors weights".to_owned()));
    }
    let bytes: u64 = files.iter().map(|file| file.size).sum();
    if bytes > max_bytes {
        return Err(refused(format!(
            "the checkpoint's files hold {bytes} bytes, more than this server's limit of \
             {max_bytes}"
        )));
    }
    let config = client
        .read_small_file(
            RepoKind::Model,
            &info.repository,
            &info.commit,
            CONFIG_FILE,
            MAX_CONFIG_BYTES,
        )
        .await?;
    let config: serde_json::Value = serde_json::from_slice(&config)
        .map_err(|error| refused(format!("`{CONFIG_FILE}` is not JSON: {error}")))?;
    let listed = listed_architectures(&config);
    let Some(architecture) = listed
        .iter()
        .find(|name| SUPPORTED_ARCHITECTURES.contains(name))
    else {
        return Err(refused(format!(
            "`architectures` in `{CONFIG_FILE}` is {listed:?}; supported: {}",
            SUPPORTED_ARCHITECTURES.join(", ")
        )));
    };
    Ok(CheckedCheckpoint {
        repository: info.repository.to_string(),
        revision: reference.revision.clone(),
        commit: info.commit.clone(),
        architecture: (*architecture).to_owned(),
        files,
        bytes,
    })
}

/// The `architectures` a `config.json` lists: at the top, else in `text_config`, where
/// transformers 4.57 writes a vision-language model's only (as the folder checks read it).
fn listed_architectures(config: &serde_json::Value) -> Vec<&str> {
    config
        .get("architectures")
        .filter(|names| names.as_array().is_some_and(|names| !names.is_empty()))
        .or_else(|| config.get("text_config")?.get("architectures"))
        .and_then(serde_json::Value::as_array)
        .map(|names| names.iter().filter_map(serde_json::Value::as_str).collect())
        .unwrap_or_default()
}

/// Fetches the checked files into the shared cache under `cache_dir` (once: a complete folder is
/// reused, and concurrent jobs wait for each other) and returns the folder.
pub async fn fetch(
    client: &HubClient,
    checkpoint: &CheckedCheckpoint,
    cache_dir: &Path,
    progress: Progress,
) -> Result<PathBuf, HubError> {
    let folder = checkpoint.folder(cache_dir);
    tokio::fs::create_dir_all(&folder)
        .await
        .map_err(HubError::io(&folder))?;
    let _lock = snapshot::lock(&folder).await?;
    if let Some(record) = SnapshotRecord::read(&folder)
        && record.commit == checkpoint.commit
        && record.files == checkpoint.files
    {
        return Ok(folder);
    }
    let repository = RepoId::parse(&checkpoint.repository)?;
    let source = Source {
        kind: RepoKind::Model,
        repository: &repository,
        commit: &checkpoint.commit,
    };
    snapshot::fetch(client, source, &checkpoint.files, &folder, progress).await?;
    SnapshotRecord {
        repository: checkpoint.repository.clone(),
        revision: checkpoint.revision.clone(),
        commit: checkpoint.commit.clone(),
        files: checkpoint.files.clone(),
        extracted: Vec::new(),
    }
    .write(&folder)?;
    Ok(folder)
}

fn has_extension(path: &str, extensions: &[&str]) -> bool {
    path.rsplit_once('.').is_some_and(|(_, extension)| {
        extensions
            .iter()
            .any(|known| extension.eq_ignore_ascii_case(known))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn architectures_are_read_from_text_config_when_the_top_lists_none() {
        let nested = serde_json::json!({
            "model_type": "qwen2_5_vl",
            "text_config": {"architectures": ["Qwen2_5_VLForConditionalGeneration"]}
        });
        assert_eq!(
            listed_architectures(&nested),
            ["Qwen2_5_VLForConditionalGeneration"]
        );
        let top = serde_json::json!({
            "architectures": ["Qwen2VLForSequenceClassification"],
            "text_config": {"architectures": ["Qwen2VLForConditionalGeneration"]}
        });
        assert_eq!(
            listed_architectures(&top),
            ["Qwen2VLForSequenceClassification"]
        );
    }

    #[test]
    fn extensions_are_compared_without_case() {
        assert!(has_extension("pytorch_model.BIN", &PICKLE_EXTENSIONS));
        assert!(!has_extension("model.safetensors", &PICKLE_EXTENSIONS));
        assert!(has_extension("vocab.txt", &CHECKPOINT_EXTENSIONS));
        assert!(!has_extension("README", &CHECKPOINT_EXTENSIONS));
    }
}
