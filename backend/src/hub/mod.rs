//! The Hugging Face Hub: the benchmark release and reward-model checkpoints named by repository
//! id (`org/name`) and revision instead of a local folder.
//!
//! `client` speaks the part of the Hub's HTTP API used here (revision info with the file list,
//! file downloads); `download` fetches one file resumably and checks it against the hash the API
//! gave; `cache` finds files a `huggingface-cli` cache already holds; `snapshot` puts a set of
//! files of one commit into a folder; `archive` unpacks `media_data.zip` safely; `dataset` and
//! `model` are the two uses (the benchmark, checkpoints). Everything is pinned to a commit once
//! the revision is resolved, so a download never mixes two versions of a repository.

pub mod archive;
pub mod cache;
pub mod client;
pub mod dataset;
pub mod download;
pub mod model;
pub mod snapshot;

use std::fmt;
use std::path::PathBuf;

pub use client::{HubClient, RepoFile, RevisionInfo};

/// The Hub's public address, used when `HF_ENDPOINT` is not set.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// The benchmark's repository (a dataset).
pub const BENCHMARK_REPOSITORY: &str = "HongbangYuan/OmniRewardBench";

/// The revision asked for when none is given.
pub const DEFAULT_REVISION: &str = "main";

/// What `--data` and `eval checkpoint` take to name a repository instead of a folder.
pub const REFERENCE_PREFIX: &str = "hf:";

/// The two kinds of repository used here; they live under different URL prefixes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RepoKind {
    /// A dataset (`/datasets/…`, `/api/datasets/…`).
    Dataset,
    /// A model (no prefix in file URLs, `/api/models/…`).
    Model,
}

impl RepoKind {
    /// The API's collection name.
    pub fn plural(self) -> &'static str {
        match self {
            RepoKind::Dataset => "datasets",
            RepoKind::Model => "models",
        }
    }
}

/// The Hub settings every command and the server share: where the Hub is, the token sent to it
/// (the server's own; never a submitter's) and where a `huggingface-cli` cache may be.
#[derive(Clone, Debug)]
pub struct HubSettings {
    /// The Hub's base URL, without a trailing slash.
    pub endpoint: String,
    /// Sent as `Authorization: Bearer …` to the endpoint's host only.
    pub token: Option<HubToken>,
    /// `$HF_HOME`: the `huggingface-cli` cache is its `hub/` folder.
    pub hf_home: Option<PathBuf>,
}

impl Default for HubSettings {
    fn default() -> Self {
        HubSettings {
            endpoint: DEFAULT_ENDPOINT.to_owned(),
            token: None,
            hf_home: None,
        }
    }
}

/// A Hub access token; `Debug` never shows it.
#[derive(Clone)]
pub struct HubToken(String);

impl HubToken {
    /// Wraps a token; blank values are no token.
    pub fn new(token: &str) -> Option<HubToken> {
        let token = token.trim();
        (!token.is_empty()).then(|| HubToken(token.to_owned()))
    }

    pub(crate) fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for HubToken {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("HubToken(<redacted>)")
    }
}

/// A repository id, `org/name`, checked so that it can go into URLs and folder names as is.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepoId(String);

impl RepoId {
    /// Checks `value`: two parts of letters, digits, `-`, `_` and `.` (not starting with `.`
    /// nor holding `..`), 96 characters at most each, as the Hub allows.
    pub fn parse(value: &str) -> Result<RepoId, HubError> {
        let invalid = |reason: &str| HubError::InvalidReference {
            value: value.to_owned(),
            reason: reason.to_owned(),
        };
        let parts: Vec<&str> = value.split('/').collect();
        if parts.len() != 2 {
            return Err(invalid("expected `org/name`"));
        }
        for part in parts {
            if part.is_empty() || part.len() > 96 {
                return Err(invalid("each part must hold 1 to 96 characters"));
            }
            if part.starts_with(['.', '-']) || part.contains("..") {
                return Err(invalid(
                    "a part may not start with `.` or `-` nor hold `..`",
                ));
            }
            if !part
                .chars()
                .all(|character| character.is_ascii_alphanumeric() || "-_.".contains(character))
            {
                return Err(invalid(
                    "only letters, digits, `-`, `_` and `.` are allowed",
                ));
            }
        }
        Ok(RepoId(value.to_owned()))
    }

    /// `org/name`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `org--name`: the repository as one folder name (the `huggingface-cli` cache's spelling).
    pub fn folder_name(&self) -> String {
        self.0.replace('/', "--")
    }
}

impl fmt::Display for RepoId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// `hf:org/name[@revision]`: a repository at a revision (branch, tag or commit).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HubReference {
    /// The repository.
    pub repository: RepoId,
    /// The revision asked for [default: `main`].
    pub revision: String,
}

impl HubReference {
    /// Parses `hf:org/name[@revision]`; `None` when `value` does not start with `hf:` (a path).
    pub fn parse_prefixed(value: &str) -> Option<Result<HubReference, HubError>> {
        value
            .strip_prefix(REFERENCE_PREFIX)
            .map(HubReference::parse)
    }

    /// Parses `org/name[@revision]`.
    pub fn parse(value: &str) -> Result<HubReference, HubError> {
        let (repository, revision) = match value.split_once('@') {
            Some((repository, revision)) => (repository, revision),
            None => (value, DEFAULT_REVISION),
        };
        Ok(HubReference {
            repository: RepoId::parse(repository)?,
            revision: check_revision(revision)?,
        })
    }
}

/// Checks a revision: a branch, tag or commit, never something that could leave a URL path
/// segment or a folder name once encoded.
pub fn check_revision(revision: &str) -> Result<String, HubError> {
    let revision = revision.trim();
    let invalid = |reason: &str| HubError::InvalidReference {
        value: revision.to_owned(),
        reason: reason.to_owned(),
    };
    if revision.is_empty() || revision.len() > 256 {
        return Err(invalid("a revision holds 1 to 256 characters"));
    }
    if revision
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
        || revision
            .chars()
            .any(|character| character.is_control() || character == '\\')
    {
        return Err(invalid("not a branch, tag or commit name"));
    }
    Ok(revision.to_owned())
}

/// Whether `value` is a full commit hash (40 lowercase hex digits).
pub fn is_commit(value: &str) -> bool {
    value.len() == 40
        && value
            .bytes()
            .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
}

/// Why something involving the Hub failed. Messages name the repository, file and value at
/// fault, and never a token.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// A repository id or revision that is not one.
    #[error("invalid Hugging Face reference `{value}`: {reason}")]
    InvalidReference {
        /// What was given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// 401 or 403: private or gated, and the token is missing or not allowed.
    #[error(
        "{repository}: the Hub refused access (HTTP {status}); the repository may be private or \
         gated: set HF_TOKEN to a token that may read it"
    )]
    Unauthorized {
        /// The repository.
        repository: String,
        /// 401 or 403.
        status: u16,
    },
    /// 404.
    #[error("{repository}: {what} not found on the Hub")]
    NotFound {
        /// The repository.
        repository: String,
        /// The revision or file.
        what: String,
    },
    /// 429 or 5xx after every attempt, or the connection kept failing.
    #[error("{url}: {reason} (gave up after {attempts} attempts)")]
    Unavailable {
        /// What was asked.
        url: String,
        /// The last failure.
        reason: String,
        /// Attempts made.
        attempts: u32,
    },
    /// Any other refusal.
    #[error("{url}: HTTP {status}")]
    Refused {
        /// What was asked.
        url: String,
        /// Its status.
        status: u16,
    },
    /// An answer that is not what the API documents.
    #[error("{url}: unexpected answer from the Hub: {reason}")]
    Malformed {
        /// What was asked.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// A downloaded file whose bytes are not the ones the Hub listed; nothing is kept.
    #[error(
        "{repository}/{path}: downloaded bytes do not match the Hub's {what} (expected {expected}, \
         got {found}); the download was deleted"
    )]
    Mismatch {
        /// The repository.
        repository: String,
        /// The file.
        path: String,
        /// `SHA-256` or `size`.
        what: &'static str,
        /// The listed value.
        expected: String,
        /// The value of the bytes received.
        found: String,
    },
    /// A file the repository must hold and does not.
    #[error("{repository}@{commit}: no file `{path}`")]
    MissingFile {
        /// The repository.
        repository: String,
        /// The commit.
        commit: String,
        /// The file.
        path: String,
    },
    /// A checkpoint repository refused from its file list or `config.json`, before its
    /// weights are downloaded.
    #[error("{repository}@{commit}: {reason}")]
    RefusedCheckpoint {
        /// The repository.
        repository: String,
        /// The commit.
        commit: String,
        /// Why.
        reason: String,
    },
    /// An archive entry that may not be extracted, or an archive over the limits.
    #[error("{archive}: entry `{entry}`: {reason}")]
    Archive {
        /// The archive.
        archive: PathBuf,
        /// The entry.
        entry: String,
        /// Why.
        reason: String,
    },
    /// A file or folder could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

impl HubError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> HubError {
        let path = path.into();
        move |source| HubError::Io { path, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_name_a_repository_and_a_revision() {
        let reference = HubReference::parse_prefixed("hf:org/name@v1.0")
            .expect("prefixed")
            .expect("valid");
        assert_eq!(reference.repository.as_str(), "org/name");
        assert_eq!(reference.revision, "v1.0");
        let default = HubReference::parse("org/name").expect("valid");
        assert_eq!(default.revision, "main");
        assert!(HubReference::parse_prefixed("./folder").is_none());
        for bad in [
            "org",
            "org/name/x",
            "../name",
            "org/..",
            "org/na me",
            "org/name@..",
            "org/name@",
        ] {
            assert!(HubReference::parse(bad).is_err(), "{bad} should be refused");
        }
        assert_eq!(
            RepoId::parse("HongbangYuan/OmniRewardBench")
                .expect("valid")
                .folder_name(),
            "HongbangYuan--OmniRewardBench"
        );
    }

    #[test]
    fn tokens_never_show_in_debug_output() {
        let token = HubToken::new(" hf_secret ").expect("a token");
        assert!(!format!("{token:?}").contains("hf_secret"));
        assert_eq!(token.secret(), "hf_secret");
        assert!(HubToken::new("  ").is_none());
    }

    #[test]
    fn commits_are_forty_hex_digits() {
        assert!(is_commit(&"a1".repeat(20)));
        assert!(!is_commit("main"));
        assert!(!is_commit(&"A1".repeat(20)));
    }
}
