//! A fake Hugging Face Hub on 127.0.0.1: the revision API (commit and file list with sizes and
//! LFS SHA-256s), file downloads with `ETag`, `X-Repo-Commit` and ranges, LFS files redirected to
//! a second server (the "CDN", another origin), private repositories behind a token, and faults
//! a test asks for: answers with a status (401, 404, 429 with `Retry-After`, 5xx), a body cut in
//! the middle, wrong bytes. Every request is recorded with its range and `Authorization`.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sha2::{Digest, Sha256};

/// Files at or under this size are plain git files (no LFS pointer), like a card or a config.
const LFS_THRESHOLD: usize = 1024;

/// A repository the fake Hub serves at one commit.
#[derive(Clone, Debug)]
pub struct FakeRepo {
    /// `datasets` or `models`.
    pub kind: &'static str,
    /// `org/name`.
    pub id: String,
    /// Its commit.
    pub commit: String,
    /// Path → bytes.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Whether the token is required.
    pub private: bool,
}

impl FakeRepo {
    /// A repository with a commit derived from its id.
    pub fn new(kind: &'static str, id: &str) -> FakeRepo {
        let commit = hex(&Sha256::digest(id.as_bytes()))[..40].to_owned();
        FakeRepo {
            kind,
            id: id.to_owned(),
            commit,
            files: BTreeMap::new(),
            private: false,
        }
    }

    /// Adds every file under `folder` at its relative path (prefixed by `prefix`).
    pub fn with_folder(mut self, folder: &Path, prefix: &str) -> FakeRepo {
        for entry in walk(folder) {
            let relative = entry
                .strip_prefix(folder)
                .expect("inside")
                .to_string_lossy()
                .replace('\\', "/");
            self.files.insert(
                format!("{prefix}{relative}"),
                std::fs::read(&entry).expect("reads a fixture"),
            );
        }
        self
    }

    /// Adds one file.
    pub fn with_file(mut self, path: &str, bytes: Vec<u8>) -> FakeRepo {
        self.files.insert(path.to_owned(), bytes);
        self
    }
}

fn walk(folder: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(folder).expect("lists a fixture folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found.sort();
    found
}

/// Which server a request reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Host {
    /// The Hub itself.
    Hub,
    /// The second origin LFS downloads are redirected to.
    Cdn,
}

/// One request as received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub host: Host,
    pub path: String,
    pub range: Option<String>,
    pub authorization: Option<String>,
}

#[derive(Default)]
struct HubState {
    repos: Vec<FakeRepo>,
    token: Option<String>,
    seen: Vec<Seen>,
    statuses: VecDeque<(StatusCode, Option<u64>)>,
    cut_once: HashSet<String>,
    corrupt: HashSet<String>,
    cdn: String,
}

type Shared = Arc<Mutex<HubState>>;

/// A running fake Hub.
pub struct FakeHub {
    /// `http://127.0.0.1:PORT`: what `HF_ENDPOINT` points at.
    pub base: String,
    /// The CDN's address.
    pub cdn: String,
    state: Shared,
}

impl FakeHub {
    /// Starts the Hub and its CDN serving `repos`; private ones take `token`.
    pub async fn start(repos: Vec<FakeRepo>, token: Option<&str>) -> FakeHub {
        let state: Shared = Arc::new(Mutex::new(HubState {
            repos,
            token: token.map(str::to_owned),
            ..HubState::default()
        }));
        let cdn = serve(Router::new().fallback(cdn).with_state(Arc::clone(&state))).await;
        let hub = serve(Router::new().fallback(hub).with_state(Arc::clone(&state))).await;
        let cdn = format!("http://{cdn}");
        lock(&state).cdn = cdn.clone();
        FakeHub {
            base: format!("http://{hub}"),
            cdn,
            state,
        }
    }

    /// The next Hub requests are answered with these statuses (and `Retry-After` seconds).
    pub fn answer_next(&self, statuses: &[(u16, Option<u64>)]) {
        let mut state = lock(&self.state);
        for (status, retry_after) in statuses {
            state.statuses.push_back((
                StatusCode::from_u16(*status).expect("a status"),
                *retry_after,
            ));
        }
    }

    /// Serves `repo` in place of the repository of the same kind and id (a new commit).
    pub fn replace(&self, repo: FakeRepo) {
        let mut state = lock(&self.state);
        state
            .repos
            .retain(|held| (held.kind, held.id.as_str()) != (repo.kind, repo.id.as_str()));
        state.repos.push(repo);
    }

    /// The next download of `path` stops after half its body.
    pub fn cut_once(&self, path: &str) {
        lock(&self.state).cut_once.insert(path.to_owned());
    }

    /// Downloads of `path` serve other bytes than the listing's hash.
    pub fn corrupt(&self, path: &str) {
        lock(&self.state).corrupt.insert(path.to_owned());
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        lock(&self.state).seen.clone()
    }

    /// Requests for a file (the Hub's `resolve` and the CDN's blobs), not the API.
    pub fn downloads(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|seen| !seen.path.starts_with("/api/"))
            .collect()
    }
}

fn lock(state: &Shared) -> std::sync::MutexGuard<'_, HubState> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind 127.0.0.1");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    address
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn record(state: &Shared, host: Host, uri: &Uri, headers: &HeaderMap) {
    let text = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    lock(state).seen.push(Seen {
        host,
        path: uri.path().to_owned(),
        range: text(header::RANGE),
        authorization: text(header::AUTHORIZATION),
    });
}

fn status(code: StatusCode, retry_after: Option<u64>) -> Response {
    let mut response = (code, axum::Json(json!({"error": code.as_str()}))).into_response();
    if let Some(seconds) = retry_after {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            seconds.to_string().parse().expect("a header"),
        );
    }
    response
}

fn decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut decoded = Vec::new();
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%'
            && index + 2 < bytes.len()
            && let Ok(byte) = u8::from_str_radix(&segment[index + 1..index + 3], 16)
        {
            decoded.push(byte);
            index += 3;
        } else {
            decoded.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(decoded).expect("UTF-8")
}

async fn hub(State(state): State<Shared>, uri: Uri, headers: HeaderMap) -> Response {
    record(&state, Host::Hub, &uri, &headers);
    if let Some((code, retry_after)) = lock(&state).statuses.pop_front() {
        return status(code, retry_after);
    }
    let segments: Vec<String> = uri
        .path()
        .trim_start_matches('/')
        .split('/')
        .map(decode)
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let authorized = |repo: &FakeRepo, state: &HubState| {
        !repo.private
            || headers
                .get(header::AUTHORIZATION)
                .and_then(|value| value.to_str().ok())
                == state
                    .token
                    .as_ref()
                    .map(|token| format!("Bearer {token}"))
                    .as_deref()
    };
    let guard = lock(&state);
    match segments.as_slice() {
        ["api", kind, org, name, "revision", revision] => {
            let id = format!("{org}/{name}");
            let Some(repo) = guard
                .repos
                .iter()
                .find(|repo| repo.kind == *kind && repo.id == id)
            else {
                return status(StatusCode::NOT_FOUND, None);
            };
            if !authorized(repo, &guard) {
                return status(StatusCode::UNAUTHORIZED, None);
            }
            if *revision != "main" && *revision != repo.commit {
                return status(StatusCode::NOT_FOUND, None);
            }
            let siblings: Vec<_> = repo
                .files
                .iter()
                .map(|(path, bytes)| {
                    if bytes.len() > LFS_THRESHOLD {
                        json!({"rfilename": path, "size": bytes.len(),
                               "lfs": {"sha256": sha256(bytes), "size": bytes.len(),
                                       "pointerSize": 134}})
                    } else {
                        json!({"rfilename": path, "size": bytes.len()})
                    }
                })
                .collect();
            axum::Json(json!({"id": repo.id, "sha": repo.commit, "siblings": siblings}))
                .into_response()
        }
        rest => {
            let (kind, rest) = match rest {
                ["datasets", rest @ ..] => ("datasets", rest),
                rest => ("models", rest),
            };
            let [org, name, "resolve", commit, path @ ..] = rest else {
                return status(StatusCode::NOT_FOUND, None);
            };
            let id = format!("{org}/{name}");
            let path = path.join("/");
            let Some(repo) = guard
                .repos
                .iter()
                .find(|repo| repo.kind == kind && repo.id == id)
            else {
                return status(StatusCode::NOT_FOUND, None);
            };
            if !authorized(repo, &guard) {
                return status(StatusCode::UNAUTHORIZED, None);
            }
            let Some(bytes) = repo.files.get(&path).filter(|_| *commit == repo.commit) else {
                return status(StatusCode::NOT_FOUND, None);
            };
            let commit_header = repo.commit.clone();
            if bytes.len() > LFS_THRESHOLD {
                // LFS files live on the CDN, as on the real Hub.
                let location = format!("{}/blobs/{}/{}", guard.cdn, sha256(bytes), path);
                let mut response = StatusCode::FOUND.into_response();
                let headers = response.headers_mut();
                headers.insert(header::LOCATION, location.parse().expect("a header"));
                headers.insert("x-repo-commit", commit_header.parse().expect("a header"));
                headers.insert(
                    "x-linked-etag",
                    format!("\"{}\"", sha256(bytes)).parse().expect("a header"),
                );
                return response;
            }
            let bytes = bytes.clone();
            drop(guard);
            let mut response = file_response(&state, &path, bytes, &headers);
            response
                .headers_mut()
                .insert("x-repo-commit", commit_header.parse().expect("a header"));
            response
        }
    }
}

async fn cdn(State(state): State<Shared>, uri: Uri, headers: HeaderMap) -> Response {
    record(&state, Host::Cdn, &uri, &headers);
    let segments: Vec<&str> = uri.path().trim_start_matches('/').splitn(3, '/').collect();
    let ["blobs", hash, path] = segments.as_slice() else {
        return status(StatusCode::NOT_FOUND, None);
    };
    let path = decode(path);
    let bytes = {
        let guard = lock(&state);
        guard
            .repos
            .iter()
            .flat_map(|repo| repo.files.values())
            .find(|bytes| sha256(bytes) == *hash)
            .cloned()
    };
    match bytes {
        Some(bytes) => file_response(&state, &path, bytes, &headers),
        None => status(StatusCode::NOT_FOUND, None),
    }
}

/// The file's bytes from the requested range on, with its ETag; cut or corrupted when asked.
fn file_response(state: &Shared, path: &str, mut bytes: Vec<u8>, headers: &HeaderMap) -> Response {
    let etag = format!("\"{}\"", sha256(&bytes));
    let (cut, corrupt) = {
        let mut guard = lock(state);
        (guard.cut_once.remove(path), guard.corrupt.contains(path))
    };
    if corrupt && let Some(first) = bytes.first_mut() {
        *first ^= 0xff;
    }
    let total = bytes.len();
    let start = headers
        .get(header::RANGE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("bytes="))
        .and_then(|value| value.strip_suffix('-'))
        .and_then(|value| value.parse::<usize>().ok());
    let (code, body) = match start {
        Some(start) if start < total => (StatusCode::PARTIAL_CONTENT, bytes[start..].to_vec()),
        Some(_) => return status(StatusCode::RANGE_NOT_SATISFIABLE, None),
        None => (StatusCode::OK, bytes),
    };
    let length = body.len();
    let body = if cut {
        // Half the body, then the connection fails: the Content-Length is never reached.
        // The pause lets the first half reach the client before the connection fails.
        use futures_util::StreamExt as _;
        let half = Bytes::from(body[..length / 2].to_vec());
        let first = futures_util::stream::iter([Ok::<_, std::io::Error>(half)]);
        let failure = futures_util::stream::once(async {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            Err(std::io::Error::other("cut by the test"))
        });
        Body::from_stream(first.chain(failure))
    } else {
        Body::from(body)
    };
    let mut response = (code, body).into_response();
    let response_headers = response.headers_mut();
    response_headers.insert(header::ETAG, etag.parse().expect("a header"));
    response_headers.insert(header::ACCEPT_RANGES, "bytes".parse().expect("a header"));
    response_headers.insert(header::CONTENT_LENGTH, length.into());
    if code == StatusCode::PARTIAL_CONTENT {
        let start = total - length;
        response_headers.insert(
            header::CONTENT_RANGE,
            format!("bytes {start}-{}/{total}", total - 1)
                .parse()
                .expect("a header"),
        );
    }
    response
}

/// The files under `folder` as a zip archive, each named `<prefix><relative path>`.
pub fn zip_folder(folder: &Path, prefix: &str) -> Vec<u8> {
    use std::io::Write as _;
    let mut archive = std::io::Cursor::new(Vec::new());
    {
        let mut writer = zip::ZipWriter::new(&mut archive);
        let options = zip::write::SimpleFileOptions::default();
        for path in walk(folder) {
            let relative = path
                .strip_prefix(folder)
                .expect("inside")
                .to_string_lossy()
                .replace('\\', "/");
            writer
                .start_file(format!("{prefix}{relative}"), options)
                .expect("starts an entry");
            writer
                .write_all(&std::fs::read(&path).expect("reads"))
                .expect("writes an entry");
        }
        writer.finish().expect("finishes the archive");
    }
    archive.into_inner()
}

/// The embedded sample benchmark as the release lays it out on the Hub: the parquet files and
/// card as they are, the media as `media_data.zip`.
pub fn sample_benchmark_repo(id: &str) -> FakeRepo {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/sample-benchmark");
    let mut repo = FakeRepo::new("datasets", id);
    for path in walk(&sample) {
        let relative = path
            .strip_prefix(&sample)
            .expect("inside")
            .to_string_lossy()
            .replace('\\', "/");
        if !relative.starts_with("media_data/") {
            repo.files
                .insert(relative, std::fs::read(&path).expect("reads the sample"));
        }
    }
    repo.files.insert(
        "media_data.zip".to_owned(),
        zip_folder(&sample.join("media_data"), "media_data/"),
    );
    repo.files.insert(
        ".gitattributes".to_owned(),
        b"*.parquet filter=lfs\n".to_vec(),
    );
    repo
}
