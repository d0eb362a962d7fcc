//! The one harness of the HTTP tests: a fresh home with a real SQLite database and the embedded
//! sample benchmark served, a router built over them with the options a test asks for, requests
//! sent to it in process, and replies read whole.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode};
use omnireward::data::{Benchmark, LoadOptions, embedded};
use omnireward::http::{AppState, app};
use omnireward::paper_results;
use omnireward::storage::Storage;
use serde_json::Value;
use tempfile::TempDir;
use tower::ServiceExt as _;

/// A home (database, cache, uploads), its storage, the served benchmark and the router.
pub struct TestApp {
    /// The home folder, removed when the app is dropped.
    pub home: TempDir,
    /// The database in the home.
    pub storage: Storage,
    /// The served benchmark (the embedded sample).
    pub benchmark: Arc<Benchmark>,
    /// The router under test.
    pub router: Router,
}

impl TestApp {
    /// A fresh home serving the embedded sample, with the paper's results imported when
    /// `paper_results`; `configure` adds options to the state the router is built over (it gets
    /// the home folder, for uploads and the like).
    pub async fn start(
        paper_results: bool,
        configure: impl FnOnce(AppState, &Path) -> AppState,
    ) -> TestApp {
        let home = TempDir::new().expect("temporary home");
        let storage = Storage::open(&home.path().join("omnireward.sqlite"))
            .await
            .expect("opens the database");
        if paper_results {
            storage
                .import_paper_results(
                    &paper_results::parse_embedded().expect("paper results parse"),
                )
                .await
                .expect("imports the paper results");
        }
        let benchmark = Arc::new(
            embedded::load(&home.path().join("cache"), &LoadOptions::default())
                .expect("embedded sample loads"),
        );
        let router = app(configure(
            AppState::new(storage.clone(), Arc::clone(&benchmark)),
            home.path(),
        ));
        TestApp {
            home,
            storage,
            benchmark,
            router,
        }
    }

    /// A state over the app's database and benchmark, for a test that builds routers of its
    /// own options.
    pub fn state(&self) -> AppState {
        AppState::new(self.storage.clone(), Arc::clone(&self.benchmark))
    }
}

/// A response read whole.
pub struct Reply {
    /// Its status.
    pub status: StatusCode,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body.
    pub body: Bytes,
}

impl Reply {
    /// The body as UTF-8 text.
    pub fn text(&self) -> String {
        String::from_utf8(self.body.to_vec()).expect("a UTF-8 body")
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {}", self.text()))
    }

    /// A header's value; empty when absent.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map_or("", |value| value.to_str().expect("an ASCII header"))
    }

    /// The `code` of a JSON error body, checking it is one (JSON, with a message).
    pub fn error_code(&self) -> String {
        assert!(
            self.header("content-type").starts_with("application/json"),
            "{} {:?}: {}",
            self.status,
            self.headers,
            self.text()
        );
        let body = self.json();
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|message| !message.is_empty()),
            "{body}"
        );
        body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The `(code, message)` of a JSON error body.
    pub fn error(&self) -> (String, String) {
        let body = self.json();
        (
            body["error"]["code"].as_str().expect("a code").to_owned(),
            body["error"]["message"]
                .as_str()
                .expect("a message")
                .to_owned(),
        )
    }

    /// The `(submission, run)` ids of a submission's answer.
    pub fn ids(&self) -> (i64, i64) {
        let body = self.json();
        (
            body["submission"].as_i64().expect("a submission id"),
            body["run"].as_i64().expect("a run id"),
        )
    }
}

/// Sends `request` to `router` in process and reads the whole answer (within 20 s: event
/// streams that never end fail the test instead of hanging it).
pub async fn send(router: &Router, request: Request<Body>) -> Reply {
    read(
        router
            .clone()
            .oneshot(request)
            .await
            .expect("the router is infallible"),
    )
    .await
}

/// Reads a response whole (within 20 s).
pub async fn read(response: axum::response::Response) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let body = tokio::time::timeout(
        Duration::from_secs(20),
        axum::body::to_bytes(response.into_body(), usize::MAX),
    )
    .await
    .expect("the body ends in time")
    .expect("reads the body");
    Reply {
        status,
        headers,
        body,
    }
}

/// `GET uri` on `router`.
pub async fn get(router: &Router, uri: &str) -> Reply {
    send(
        router,
        Request::get(uri).body(Body::empty()).expect("a request"),
    )
    .await
}

/// A worker context for tests over `home`: no keys and no key bindings, a small bootstrap, fast
/// heartbeats and polling, and a worker that stops once the queue is empty. Tests change the
/// fields they are about with struct update syntax.
pub fn worker_context(home: &Path) -> omnireward::queue::worker::WorkerContext {
    omnireward::queue::worker::WorkerContext {
        key_bindings: Default::default(),
        cache_dir: home.join("cache"),
        runs_dir: home.join("runs"),
        api_keys: Arc::new(|_| None),
        bootstrap: omnireward_shared::BootstrapConfig {
            resamples: 10,
            seed: 1,
        },
        heartbeat_interval: Duration::from_millis(100),
        stale_after: Duration::from_secs(30),
        poll_interval: Duration::from_millis(50),
        until_idle: true,
        hub: Default::default(),
    }
}
