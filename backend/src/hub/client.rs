//! The Hub's HTTP API, the part used here: `GET /api/{datasets|models}/{repo}/revision/{rev}
//! ?blobs=true` (the commit a revision names and its files with sizes and LFS SHA-256s) and
//! `GET /{datasets/}{repo}/resolve/{commit}/{path}` (a file, with ranges).
//!
//! Errors are retried with backoff: 429 (honouring `Retry-After`), 5xx and failed connections.
//! Redirects are followed by hand, because file downloads are redirected to a CDN on another
//! host: the token goes to the endpoint's own origin only, never to the host a redirect names,
//! and the `X-Repo-Commit` header of the Hub's own answer is kept to check the commit served.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderMap, LOCATION, RANGE, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use serde::Deserialize;

use super::{HubError, HubSettings, RepoId, RepoKind, is_commit};

/// Redirects followed for one request (the Hub uses one, to its CDN).
const MAX_REDIRECTS: usize = 5;

/// Longest answer accepted from the revision API (a repository lists its files there).
const MAX_REVISION_BYTES: usize = 64 * 1024 * 1024;

/// A client of one Hub endpoint.
#[derive(Clone, Debug)]
pub struct HubClient {
    http: reqwest::Client,
    settings: HubSettings,
    endpoint: Url,
    attempts: u32,
    backoff: Duration,
    backoff_max: Duration,
}

/// What a revision of a repository holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevisionInfo {
    /// The repository.
    pub repository: RepoId,
    /// Its kind.
    pub kind: RepoKind,
    /// The commit the revision named when asked.
    pub commit: String,
    /// Every file, in the order the Hub lists them.
    pub files: Vec<RepoFile>,
}

impl RevisionInfo {
    /// The file at `path`, if listed.
    pub fn file(&self, path: &str) -> Option<&RepoFile> {
        self.files.iter().find(|file| file.path == path)
    }
}

/// One file of a revision.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RepoFile {
    /// Its path in the repository (relative, `/`-separated, checked to stay inside it).
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// The SHA-256 of its bytes, for files stored with Git LFS (all large files).
    pub sha256: Option<String>,
}

/// A file's answer: its body from `start` on.
pub(crate) struct FileResponse {
    pub(crate) response: reqwest::Response,
    /// The first byte the body holds: the offset asked for (206), or 0 (200: the whole file).
    pub(crate) start: u64,
}

#[derive(Deserialize)]
struct RevisionBody {
    sha: String,
    #[serde(default)]
    siblings: Vec<Sibling>,
}

#[derive(Deserialize)]
struct Sibling {
    rfilename: String,
    size: Option<u64>,
    lfs: Option<LfsPointer>,
}

#[derive(Deserialize)]
struct LfsPointer {
    sha256: String,
    size: u64,
}

/// One attempt's result.
enum Attempt {
    Done(reqwest::Response, Option<String>),
    Retry {
        reason: String,
        wait: Option<Duration>,
    },
    Fatal(HubError),
}

impl HubClient {
    /// A client of `settings.endpoint`, retrying 5 times with a 1 s backoff doubling up to 60 s.
    pub fn new(settings: HubSettings) -> Result<HubClient, HubError> {
        let endpoint = Url::parse(settings.endpoint.trim_end_matches('/'))
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some())
            .ok_or_else(|| HubError::InvalidReference {
                value: settings.endpoint.clone(),
                reason: "HF_ENDPOINT must be an http(s) URL".to_owned(),
            })?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(30))
            // A stalled body fails and is resumed, rather than hanging a download forever.
            .read_timeout(Duration::from_secs(60))
            .user_agent(concat!("omnireward/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| HubError::Malformed {
                url: endpoint.to_string(),
                reason: format!("cannot build an HTTP client: {error}"),
            })?;
        Ok(HubClient {
            http,
            settings,
            endpoint,
            attempts: 5,
            backoff: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
        })
    }

    /// The same client with other retry timing (tests use milliseconds).
    pub fn with_retries(mut self, attempts: u32, backoff: Duration, backoff_max: Duration) -> Self {
        self.attempts = attempts.max(1);
        self.backoff = backoff;
        self.backoff_max = backoff_max;
        self
    }

    /// The settings it was built from.
    pub fn settings(&self) -> &HubSettings {
        &self.settings
    }

    /// Attempts per request.
    pub(crate) fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The delay before attempt `attempt + 1`.
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        self.backoff
            .saturating_mul(1 << attempt.saturating_sub(1).min(16))
            .min(self.backoff_max)
    }

    /// The commit `revision` names and the files it holds.
    pub async fn revision(
        &self,
        kind: RepoKind,
        repository: &RepoId,
        revision: &str,
    ) -> Result<RevisionInfo, HubError> {
        let mut url = self.endpoint.clone();
        url.path_segments_mut()
            .map_err(|()| self.not_a_base())?
            .pop_if_empty()
            .extend(["api", kind.plural()])
            .extend(repository.as_str().split('/'))
            // One segment: `refs/pr/1` is encoded as `refs%2Fpr%2F1`, as the Hub expects.
            .extend(["revision", revision]);
        url.set_query(Some("blobs=true"));
        let what = format!("revision `{revision}`");
        let (response, _) = self.get(repository, &what, url.clone(), None).await?;
        let bytes = read_limited(response, MAX_REVISION_BYTES, &url).await?;
        let body: RevisionBody =
            serde_json::from_slice(&bytes).map_err(|error| HubError::Malformed {
                url: url.to_string(),
                reason: error.to_string(),
            })?;
        if !is_commit(&body.sha) {
            return Err(HubError::Malformed {
                url: url.to_string(),
                reason: format!("`sha` is not a commit hash: `{}`", body.sha),
            });
        }
        let mut files = Vec::with_capacity(body.siblings.len());
        for sibling in body.siblings {
            check_file_path(&sibling.rfilename).map_err(|reason| HubError::Malformed {
                url: url.to_string(),
                reason: format!("file `{}`: {reason}", sibling.rfilename),
            })?;
            let (size, sha256) = match sibling.lfs {
                Some(lfs) => {
                    let sha256 = lfs.sha256.to_ascii_lowercase();
                    if sha256.len() != 64 || !sha256.bytes().all(|byte| byte.is_ascii_hexdigit()) {
                        return Err(HubError::Malformed {
                            url: url.to_string(),
                            reason: format!("file `{}`: LFS sha256 `{sha256}`", sibling.rfilename),
                        });
                    }
                    (lfs.size, Some(sha256))
                }
                None => (
                    sibling.size.ok_or_else(|| HubError::Malformed {
                        url: url.to_string(),
                        reason: format!(
                            "file `{}` has no size (is `blobs=true` supported?)",
                            sibling.rfilename
                        ),
                    })?,
                    None,
                ),
            };
            files.push(RepoFile {
                path: sibling.rfilename,
                size,
                sha256,
            });
        }
        Ok(RevisionInfo {
            repository: repository.clone(),
            kind,
            commit: body.sha,
            files,
        })
    }

    /// The URL of `path` at `commit`.
    pub(crate) fn file_url(
        &self,
        kind: RepoKind,
        repository: &RepoId,
        commit: &str,
        path: &str,
    ) -> Result<Url, HubError> {
        let mut url = self.endpoint.clone();
        {
            let mut segments = url.path_segments_mut().map_err(|()| self.not_a_base())?;
            segments.pop_if_empty();
            if kind == RepoKind::Dataset {
                segments.push("datasets");
            }
            segments
                .extend(repository.as_str().split('/'))
                .extend(["resolve", commit])
                .extend(path.split('/'));
        }
        Ok(url)
    }

    /// The body of `path` at `commit` from byte `offset` on. The commit the Hub says it served
    /// (`X-Repo-Commit`) must be `commit`.
    pub(crate) async fn open_file(
        &self,
        kind: RepoKind,
        repository: &RepoId,
        commit: &str,
        path: &str,
        offset: u64,
    ) -> Result<FileResponse, HubError> {
        let url = self.file_url(kind, repository, commit, path)?;
        let what = format!("file `{path}` at {commit}");
        let (response, served_commit) = self
            .get(
                repository,
                &what,
                url.clone(),
                (offset > 0).then_some(offset),
            )
            .await?;
        if let Some(served) = served_commit
            && served != commit
        {
            return Err(HubError::Malformed {
                url: url.to_string(),
                reason: format!("served commit {served}, asked for {commit}"),
            });
        }
        let start = if response.status() == StatusCode::PARTIAL_CONTENT {
            let range_start = response
                .headers()
                .get(reqwest::header::CONTENT_RANGE)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.strip_prefix("bytes "))
                .and_then(|value| value.split('-').next())
                .and_then(|value| value.parse::<u64>().ok());
            if range_start != Some(offset) {
                return Err(HubError::Malformed {
                    url: url.to_string(),
                    reason: format!("a partial answer that does not start at byte {offset}"),
                });
            }
            offset
        } else {
            0
        };
        Ok(FileResponse { response, start })
    }

    /// A small file (`config.json`) read whole, refused past `limit` bytes.
    pub async fn read_small_file(
        &self,
        kind: RepoKind,
        repository: &RepoId,
        commit: &str,
        path: &str,
        limit: usize,
    ) -> Result<Vec<u8>, HubError> {
        let opened = self.open_file(kind, repository, commit, path, 0).await?;
        let url = self.file_url(kind, repository, commit, path)?;
        read_limited(opened.response, limit, &url).await
    }

    /// GET with retries; returns the final answer and the `X-Repo-Commit` any hop carried.
    async fn get(
        &self,
        repository: &RepoId,
        what: &str,
        url: Url,
        offset: Option<u64>,
    ) -> Result<(reqwest::Response, Option<String>), HubError> {
        let mut last_reason = String::new();
        for attempt in 1..=self.attempts {
            match self.attempt(repository, what, url.clone(), offset).await {
                Attempt::Done(response, commit) => return Ok((response, commit)),
                Attempt::Fatal(error) => return Err(error),
                Attempt::Retry { reason, wait } => {
                    tracing::warn!(%url, attempt, %reason, "Hub request failed; retrying");
                    last_reason = reason;
                    if attempt < self.attempts {
                        tokio::time::sleep(wait.unwrap_or_else(|| self.backoff(attempt))).await;
                    }
                }
            }
        }
        Err(HubError::Unavailable {
            url: url.to_string(),
            reason: last_reason,
            attempts: self.attempts,
        })
    }

    async fn attempt(
        &self,
        repository: &RepoId,
        what: &str,
        url: Url,
        offset: Option<u64>,
    ) -> Attempt {
        let mut current = url;
        let mut repo_commit = None;
        for _ in 0..=MAX_REDIRECTS {
            let mut request = self.http.get(current.clone());
            if let Some(offset) = offset {
                request = request.header(RANGE, format!("bytes={offset}-"));
            }
            // The token goes to the Hub itself, never to a CDN or any other origin.
            if let Some(token) = &self.settings.token
                && current.origin() == self.endpoint.origin()
            {
                request = request.header(AUTHORIZATION, format!("Bearer {}", token.secret()));
            }
            let response = match request.send().await {
                Ok(response) => response,
                Err(error) => {
                    return Attempt::Retry {
                        reason: format!("request failed: {error}"),
                        wait: None,
                    };
                }
            };
            if let Some(commit) = header_text(response.headers(), "x-repo-commit") {
                repo_commit = Some(commit);
            }
            let status = response.status();
            if status.is_redirection() {
                let Some(location) = header_text(response.headers(), LOCATION.as_str()) else {
                    return Attempt::Fatal(HubError::Malformed {
                        url: current.to_string(),
                        reason: format!("HTTP {} without a Location", status.as_u16()),
                    });
                };
                match current.join(&location) {
                    Ok(next) if matches!(next.scheme(), "http" | "https") => current = next,
                    _ => {
                        return Attempt::Fatal(HubError::Malformed {
                            url: current.to_string(),
                            reason: "a redirect to an invalid location".to_owned(),
                        });
                    }
                }
                continue;
            }
            if status.is_success() {
                return Attempt::Done(response, repo_commit);
            }
            let wait = self.retry_after(response.headers());
            return match status.as_u16() {
                401 | 403 => Attempt::Fatal(HubError::Unauthorized {
                    repository: repository.to_string(),
                    status: status.as_u16(),
                }),
                404 => Attempt::Fatal(HubError::NotFound {
                    repository: repository.to_string(),
                    what: what.to_owned(),
                }),
                429 => Attempt::Retry {
                    reason: "HTTP 429 (rate limited)".to_owned(),
                    wait,
                },
                code if status.is_server_error() => Attempt::Retry {
                    reason: format!("HTTP {code}"),
                    wait,
                },
                code => Attempt::Fatal(HubError::Refused {
                    url: current.to_string(),
                    status: code,
                }),
            };
        }
        Attempt::Fatal(HubError::Malformed {
            url: current.to_string(),
            reason: format!("more than {MAX_REDIRECTS} redirects"),
        })
    }

    /// `Retry-After` in seconds, capped by the longest backoff.
    fn retry_after(&self, headers: &HeaderMap) -> Option<Duration> {
        header_text(headers, RETRY_AFTER.as_str())
            .and_then(|value| value.trim().parse::<f64>().ok())
            .filter(|seconds| seconds.is_finite() && *seconds >= 0.0)
            .map(|seconds| Duration::from_secs_f64(seconds).min(self.backoff_max))
    }

    fn not_a_base(&self) -> HubError {
        HubError::InvalidReference {
            value: self.endpoint.to_string(),
            reason: "HF_ENDPOINT cannot hold paths".to_owned(),
        }
    }
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// Reads a whole body, refusing more than `limit` bytes.
async fn read_limited(
    mut response: reqwest::Response,
    limit: usize,
    url: &Url,
) -> Result<Vec<u8>, HubError> {
    let mut bytes = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if bytes.len() + chunk.len() > limit {
                    return Err(HubError::Malformed {
                        url: url.to_string(),
                        reason: format!("more than {limit} bytes"),
                    });
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(bytes),
            Err(error) => {
                return Err(HubError::Unavailable {
                    url: url.to_string(),
                    reason: format!("reading the answer failed: {error}"),
                    attempts: 1,
                });
            }
        }
    }
}

/// A repository path that stays inside the folder it is written to: relative, `/`-separated,
/// no empty, `.` or `..` parts, no backslashes or control characters.
pub fn check_file_path(path: &str) -> Result<(), &'static str> {
    if path.is_empty() || path.len() > 4096 {
        return Err("an empty or too long path");
    }
    if path.starts_with('/') || path.contains('\\') || path.contains(':') {
        return Err("an absolute path or one with `\\` or `:`");
    }
    if path.chars().any(char::is_control) {
        return Err("a path with control characters");
    }
    if path
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return Err("a path with an empty, `.` or `..` part");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_paths_stay_inside_the_folder() {
        assert!(check_file_path("data/text_to_text/test-00000.parquet").is_ok());
        for bad in [
            "../x",
            "a/../b",
            "/etc/passwd",
            "a//b",
            "a\\b",
            "C:x",
            "./a",
            "",
        ] {
            assert!(check_file_path(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn urls_encode_revisions_as_one_segment() {
        let client = HubClient::new(HubSettings {
            endpoint: "http://127.0.0.1:9/".to_owned(),
            ..HubSettings::default()
        })
        .expect("a client");
        let repository = RepoId::parse("org/name").expect("valid");
        let url = client
            .file_url(RepoKind::Dataset, &repository, "abc", "data/a b.parquet")
            .expect("a url");
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:9/datasets/org/name/resolve/abc/data/a%20b.parquet"
        );
        let url = client
            .file_url(RepoKind::Model, &repository, "abc", "config.json")
            .expect("a url");
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:9/org/name/resolve/abc/config.json"
        );
        assert!(
            HubClient::new(HubSettings {
                endpoint: "ftp://example.org".to_owned(),
                ..HubSettings::default()
            })
            .is_err()
        );
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let client = HubClient::new(HubSettings::default())
            .expect("a client")
            .with_retries(5, Duration::from_secs(1), Duration::from_secs(3));
        assert_eq!(client.backoff(1), Duration::from_secs(1));
        assert_eq!(client.backoff(2), Duration::from_secs(2));
        assert_eq!(client.backoff(3), Duration::from_secs(3));
    }
}
