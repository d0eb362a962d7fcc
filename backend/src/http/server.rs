//! The accept loop of `omnireward serve`: HTTP/1.1 connections served with hyper under the
//! limits a public server needs (a header-read timeout, a request-body stall timeout, an idle
//! keep-alive timeout and a cap on open connections), with graceful shutdown.
//!
//! `axum::serve` sets none of these, so a client that sends half a request holds its connection
//! (and an upload's staging folder) for as long as it likes.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, Response, header};
use axum::response::IntoResponse;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt as _;

use super::ApiError;

/// Default seconds a client has to send a request's headers.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default seconds a request body may go without a byte arriving.
pub const DEFAULT_BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default seconds an idle keep-alive connection stays open.
pub const DEFAULT_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default cap on connections open at once.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 1024;

/// How long a stop waits for requests in flight (event streams never end by themselves).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The limits every connection is served under; part of the server's configuration.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// Time from a new connection, or from the first byte of a following request, until the
    /// request's headers are complete; the connection is closed past it. It counts from the
    /// first byte, not the last, so headers sent a byte at a time do not keep it open.
    pub header_timeout: Duration,
    /// Longest wait for the next bytes of a request body; past it the request fails with 408
    /// and the connection is closed. A stall, not the total: large uploads may take long.
    pub body_idle_timeout: Duration,
    /// Longest wait for the next request on a kept-alive connection.
    pub keep_alive_timeout: Duration,
    /// Connections served at once. Further clients are not accepted until one closes: they
    /// wait in the listening socket's backlog (their connect succeeds, the answer waits).
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> ConnectionLimits {
        ConnectionLimits {
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            body_idle_timeout: DEFAULT_BODY_IDLE_TIMEOUT,
            keep_alive_timeout: DEFAULT_KEEP_ALIVE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS as usize,
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then stops accepting, lets the
/// requests in flight finish (for up to [`SHUTDOWN_GRACE`]) and returns. Handlers see the
/// peer's address as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (stopping, stop_signal) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        // The permit is taken before accepting: over the cap, clients wait in the backlog
        // instead of being accepted and left unanswered.
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                // The semaphore is never closed.
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let app = app.clone();
        let stop_signal = stop_signal.clone();
        connections.spawn(async move {
            serve_connection(stream, peer, app, limits, stop_signal).await;
            drop(permit);
        });
        // Finished connections leave the set here, so it holds only open ones.
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = stopping.send(true);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "closing connections still open after the shutdown grace period"
        );
        connections.shutdown().await;
    }
}

/// Serves one connection until it closes, times out or the server stops.
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    limits: ConnectionLimits,
    mut stop_signal: watch::Receiver<bool>,
) {
    let clock = Arc::new(ConnectionClock::new());
    let io = TokioIo::new(WatchedStream {
        inner: stream,
        clock: Arc::clone(&clock),
    });
    let service = {
        let clock = Arc::clone(&clock);
        hyper::service::service_fn(move |request: Request<Incoming>| {
            handle(
                request,
                peer,
                app.clone(),
                limits.body_idle_timeout,
                Arc::clone(&clock),
            )
        })
    };
    // Our own clock does the header timeout (hyper's would also cut idle keep-alive
    // connections at the header timeout): no timer is set, so hyper's stays off.
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.header_read_timeout(None);
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    let mut stopping = *stop_signal.borrow();
    if stopping {
        connection.as_mut().graceful_shutdown();
    }
    loop {
        let deadline = clock.deadline(&limits);
        let phase_changed = clock.changed.notified();
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%peer, %error, "connection ended with an error");
                }
                return;
            }
            // The phase changed: compute the deadline again.
            () = phase_changed => {}
            () = sleep_until(deadline) => {
                if clock.deadline(&limits).is_some_and(|deadline| deadline <= Instant::now()) {
                    tracing::debug!(%peer, "closing a connection that sent no request in time");
                    return;
                }
            }
            changed = stop_signal.changed(), if !stopping => {
                stopping = true;
                if changed.is_ok() {
                    // Ends the connection after the request in flight, if any.
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// One request: the peer's address added, the body watched for stalls, and the connection's
/// clock told when the response is done.
async fn handle(
    mut request: Request<Incoming>,
    peer: SocketAddr,
    app: Router,
    body_idle_timeout: Duration,
    clock: Arc<ConnectionClock>,
) -> Result<Response<Body>, std::convert::Infallible> {
    clock.serving();
    request.extensions_mut().insert(ConnectInfo(peer));
    let stalled = Arc::new(AtomicBool::new(false));
    let request = request.map(|body| {
        Body::new(StallTimeout {
            inner: Body::new(body),
            idle: body_idle_timeout,
            sleep: Box::pin(tokio::time::sleep(body_idle_timeout)),
            stalled: Arc::clone(&stalled),
        })
    });
    let mut response = match app.oneshot(request).await {
        Ok(response) => response,
        Err(infallible) => match infallible {},
    };
    if stalled.load(Ordering::SeqCst) {
        // Whatever the handler made of the failed read, the cause is the client's stall.
        response = ApiError::RequestTimeout(format!(
            "no bytes of the request body arrived for {} seconds",
            body_idle_timeout.as_secs_f64()
        ))
        .into_response();
        // The rest of the body may still come: the connection cannot be reused.
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    Ok(response.map(|body| {
        Body::new(ResponseEnd {
            inner: body,
            clock: Some(clock),
        })
    }))
}

/// Where a connection stands, for its timeouts.
#[derive(Clone, Copy, Debug)]
enum Phase {
    /// Waiting for a request: since `since`, and receiving its head since `head_from`.
    Waiting {
        since: Instant,
        head_from: Option<Instant>,
    },
    /// A request is being served (its body has its own stall timeout).
    Serving,
}

/// The phase of one connection, shared by its stream, its service and its watchdog.
#[derive(Debug)]
struct ConnectionClock {
    phase: Mutex<Phase>,
    /// Woken when the phase changes, so the watchdog's deadline follows.
    changed: Notify,
}

impl ConnectionClock {
    fn new() -> ConnectionClock {
        let now = Instant::now();
        ConnectionClock {
            // A new connection owes its first request's head from the start.
            phase: Mutex::new(Phase::Waiting {
                since: now,
                head_from: Some(now),
            }),
            changed: Notify::new(),
        }
    }

    fn set(&self, update: impl FnOnce(&mut Phase)) {
        // A poisoned lock only means a panic elsewhere mid-update; the phase is still usable.
        let mut phase = self
            .phase
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        update(&mut phase);
        drop(phase);
        self.changed.notify_one();
    }

    /// Bytes arrived: the first ones after a response start the next request's head.
    fn received(&self) {
        let mut phase = self
            .phase
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Phase::Waiting { head_from, .. } = &mut *phase
            && head_from.is_none()
        {
            *head_from = Some(Instant::now());
            drop(phase);
            self.changed.notify_one();
        }
    }

    fn serving(&self) {
        self.set(|phase| *phase = Phase::Serving);
    }

    fn response_done(&self) {
        self.set(|phase| {
            *phase = Phase::Waiting {
                since: Instant::now(),
                head_from: None,
            }
        });
    }

    /// When the connection is to be closed if the phase does not change.
    fn deadline(&self, limits: &ConnectionLimits) -> Option<Instant> {
        let phase = *self
            .phase
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match phase {
            Phase::Waiting {
                head_from: Some(head_from),
                ..
            } => Some(head_from + limits.header_timeout),
            Phase::Waiting {
                since,
                head_from: None,
            } => Some(since + limits.keep_alive_timeout),
            Phase::Serving => None,
        }
    }
}

/// The connection's socket, telling the clock when bytes arrive.
struct WatchedStream {
    inner: TcpStream,
    clock: Arc<ConnectionClock>,
}

impl AsyncRead for WatchedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buffer.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(context, buffer);
        if matches!(polled, Poll::Ready(Ok(()))) && buffer.filled().len() > before {
            self.clock.received();
        }
        polled
    }
}

impl AsyncWrite for WatchedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(context, bytes)
    }

    fn poll_flush(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(context)
    }

    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(context)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffers: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(context, buffers)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// A request body that fails once no bytes arrived for `idle`, and says so in `stalled`.
struct StallTimeout {
    inner: Body,
    idle: Duration,
    sleep: Pin<Box<Sleep>>,
    stalled: Arc<AtomicBool>,
}

/// The error a stalled request body ends with.
#[derive(Debug, thiserror::Error)]
#[error("no bytes of the request body arrived for {0:?}")]
struct BodyStalled(Duration);

impl HttpBody for StallTimeout {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        if self.stalled.load(Ordering::SeqCst) {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_frame(context) {
            Poll::Ready(frame) => {
                let next = Instant::now() + self.idle;
                self.sleep.as_mut().reset(next);
                Poll::Ready(frame)
            }
            Poll::Pending => {
                if self.sleep.as_mut().poll(context).is_ready() {
                    self.stalled.store(true, Ordering::SeqCst);
                    let idle = self.idle;
                    return Poll::Ready(Some(Err(axum::Error::new(BodyStalled(idle)))));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that tells the connection's clock when it is done (written or dropped),
/// which starts the keep-alive wait.
struct ResponseEnd {
    inner: Body,
    clock: Option<Arc<ConnectionClock>>,
}

impl ResponseEnd {
    fn finish(&mut self) {
        if let Some(clock) = self.clock.take() {
            clock.response_done();
        }
    }
}

impl Drop for ResponseEnd {
    fn drop(&mut self) {
        self.finish();
    }
}

impl HttpBody for ResponseEnd {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(context);
        if matches!(polled, Poll::Ready(None)) {
            self.finish();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
