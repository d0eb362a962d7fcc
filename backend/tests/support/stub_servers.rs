//! Tiny HTTP servers on 127.0.0.1 that answer every request the same way: with a redirect, with
//! a server error, or (a target that must not be reached: a private service, a metadata address)
//! with a completion, counting what they receive; or with a completion, recording every body
//! (what a judge was sent, for the ablation audits).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

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

/// A server that counts every request, whatever its method or path, and answers a valid
/// completion (so a client that followed a redirect to it would succeed, not fail).
pub struct CountingServer {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    hits: Arc<AtomicUsize>,
}

impl CountingServer {
    /// Requests received so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn count(State(hits): State<Arc<AtomicUsize>>) -> Response {
    hits.fetch_add(1, Ordering::SeqCst);
    axum::Json(serde_json::json!({
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "secret [[A]]"}}],
    }))
    .into_response()
}

/// Starts a [`CountingServer`].
pub async fn start_counting() -> CountingServer {
    let hits = Arc::new(AtomicUsize::new(0));
    let app = Router::new().fallback(count).with_state(Arc::clone(&hits));
    let address = serve(app).await;
    CountingServer {
        base: format!("http://{address}"),
        hits,
    }
}

/// A server that answers every request with a redirect, counting them.
pub struct RedirectingServer {
    /// Its base URL, `http://127.0.0.1:PORT/v1`.
    pub endpoint: String,
    hits: Arc<AtomicUsize>,
}

impl RedirectingServer {
    /// Requests received so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// Starts a server answering every request with `status` and `Location: location`.
pub async fn start_redirecting(status: StatusCode, location: String) -> RedirectingServer {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    let app = Router::new().fallback(move || {
        let location = location.clone();
        counter.fetch_add(1, Ordering::SeqCst);
        async move { (status, [(header::LOCATION, location)]).into_response() }
    });
    let address = serve(app).await;
    RedirectingServer {
        endpoint: format!("http://{address}/v1"),
        hits,
    }
}

/// A server that answers every request with an error status and a body that starts with
/// `message` and echoes the request's `Authorization` header (as a debugging proxy might),
/// counting requests.
pub struct FailingServer {
    /// Its base URL, `http://127.0.0.1:PORT/v1`.
    pub endpoint: String,
    hits: Arc<AtomicUsize>,
}

impl FailingServer {
    /// Requests received so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// Starts a [`FailingServer`] answering 500 (retried by the client).
pub async fn start_failing(message: &'static str) -> FailingServer {
    start_failing_with(StatusCode::INTERNAL_SERVER_ERROR, message).await
}

/// Starts a [`FailingServer`] answering `status`.
pub async fn start_failing_with(status: StatusCode, message: &'static str) -> FailingServer {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    let app = Router::new().fallback(move |headers: axum::http::HeaderMap| {
        counter.fetch_add(1, Ordering::SeqCst);
        let authorization = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("none")
            .to_owned();
        async move {
            (
                status,
                format!("{message} (request had Authorization: {authorization})"),
            )
                .into_response()
        }
    });
    let address = serve(app).await;
    FailingServer {
        endpoint: format!("http://{address}/v1"),
        hits,
    }
}

/// A server that answers every request with the completion `[[A]]` and records each JSON body.
pub struct RecordingServer {
    /// `http://127.0.0.1:PORT/v1`
    pub endpoint: String,
    bodies: Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
}

impl RecordingServer {
    /// The bodies received since the last call, oldest first.
    pub fn take(&self) -> Vec<serde_json::Value> {
        std::mem::take(&mut *self.bodies.lock().expect("the record is not poisoned"))
    }
}

async fn record(
    State(bodies): State<Arc<std::sync::Mutex<Vec<serde_json::Value>>>>,
    axum::Json(body): axum::Json<serde_json::Value>,
) -> Response {
    bodies
        .lock()
        .expect("the record is not poisoned")
        .push(body);
    axum::Json(serde_json::json!({
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "[[A]]"}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 1},
    }))
    .into_response()
}

/// Starts a [`RecordingServer`].
pub async fn start_recording() -> RecordingServer {
    let bodies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let app = Router::new()
        .route("/v1/chat/completions", axum::routing::post(record))
        .with_state(Arc::clone(&bodies));
    let address = serve(app).await;
    RecordingServer {
        endpoint: format!("http://{address}/v1"),
        bodies,
    }
}
