//! Per-submitter limits on `POST /submissions`: at most N submissions in any sliding window (an
//! hour by default) per client address (per /64 prefix for IPv6), refused with 429 and
//! `Retry-After` beyond that.
//!
//! The submitter is the connection's peer address, or the address a trusted reverse proxy puts
//! in a configured header (the last entry of `X-Forwarded-For`, which the proxy appends; entries
//! before it come from the client and are not trusted).

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderName;
use axum::http::request::Parts;

use super::{ApiError, AppState};

/// How submissions are limited; part of the server's configuration.
#[derive(Clone, Debug)]
pub struct SubmissionLimit {
    /// Submissions admitted per submitter in one window.
    pub submissions: u32,
    /// The sliding window.
    pub window: Duration,
    /// Header naming the client's address, set by a trusted reverse proxy in front of the
    /// server; `None` uses the connection's peer address.
    pub trusted_proxy_header: Option<HeaderName>,
}

/// The sliding-window log of each submitter's recent submissions.
#[derive(Debug)]
pub(super) struct SubmissionLimiter {
    limit: SubmissionLimit,
    recent: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl SubmissionLimiter {
    fn new(limit: SubmissionLimit) -> SubmissionLimiter {
        SubmissionLimiter {
            limit,
            recent: Mutex::new(HashMap::new()),
        }
    }

    /// Admits one submission of `submitter` at `now`, or says how long until one would be.
    fn admit(&self, submitter: &str, now: Instant) -> Result<(), Duration> {
        // A poisoned lock only means another request panicked mid-update; the log is still
        // a valid (if slightly stale) record.
        let mut recent = self
            .recent
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let window = self.limit.window;
        let expired = |at: &Instant| now.saturating_duration_since(*at) >= window;
        // Forget submitters with nothing left in the window, so the map stays bounded by the
        // submitters of the last window.
        recent.retain(|_, times| {
            while times.front().is_some_and(expired) {
                times.pop_front();
            }
            !times.is_empty()
        });
        let times = recent.entry(submitter.to_owned()).or_default();
        if times.len() < self.limit.submissions as usize {
            times.push_back(now);
            return Ok(());
        }
        let oldest = times.front().copied().unwrap_or(now);
        Err(window.saturating_sub(now.saturating_duration_since(oldest)))
    }
}

impl AppState {
    /// Limits `POST /submissions` per submitter (default: no limit).
    pub fn with_submission_limit(mut self, limit: SubmissionLimit) -> AppState {
        self.submission_limit = Some(Arc::new(SubmissionLimiter::new(limit)));
        self
    }
}

/// Who sent a request, for rate limiting: the trusted header's address, else the peer's, as
/// [`submitter_key`] names it.
fn submitter(parts: &Parts, header: Option<&HeaderName>) -> String {
    let forwarded = header
        .and_then(|header| parts.headers.get(header))
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.rsplit(',').next())
        .map(str::trim)
        .and_then(|address| address.parse::<IpAddr>().ok());
    if let Some(address) = forwarded {
        return submitter_key(address);
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(
            || "unknown".to_owned(),
            |ConnectInfo(peer)| submitter_key(peer.ip()),
        )
}

/// The key a client address is limited under: an IPv4 address itself; an IPv6 address by its
/// /64 prefix, since one subscriber usually holds a whole /64 and could otherwise submit from
/// 2^64 addresses. IPv4 addresses written as IPv6 (`::ffff:a.b.c.d`) count as IPv4.
fn submitter_key(address: IpAddr) -> String {
    match address {
        IpAddr::V4(address) => address.to_string(),
        IpAddr::V6(address) => match address.to_ipv4_mapped() {
            Some(address) => address.to_string(),
            None => {
                let [a, b, c, d, ..] = address.segments();
                format!("{}/64", std::net::Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
            }
        },
    }
}

/// Proof that a submission was admitted by the server's limit (always, without one).
pub(super) struct SubmissionAdmitted;

impl FromRequestParts<AppState> for SubmissionAdmitted {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(limiter) = &state.submission_limit else {
            return Ok(SubmissionAdmitted);
        };
        let submitter = submitter(parts, limiter.limit.trusted_proxy_header.as_ref());
        limiter
            .admit(&submitter, Instant::now())
            .map(|()| SubmissionAdmitted)
            .map_err(|wait| {
                // Rounded up: a client that waits exactly this long is admitted.
                let retry_after_seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                ApiError::RateLimited {
                    message: format!(
                        "at most {} submissions per {} seconds from one address; retry in {} \
                         seconds",
                        limiter.limit.submissions,
                        limiter.limit.window.as_secs(),
                        retry_after_seconds.max(1)
                    ),
                    retry_after_seconds: retry_after_seconds.max(1),
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use axum::http::Request;

    use super::*;

    fn limiter(submissions: u32) -> SubmissionLimiter {
        SubmissionLimiter::new(SubmissionLimit {
            submissions,
            window: Duration::from_secs(3600),
            trusted_proxy_header: None,
        })
    }

    #[test]
    fn each_submitter_has_its_own_sliding_window() {
        let limiter = limiter(2);
        let start = Instant::now();
        assert_eq!(limiter.admit("a", start), Ok(()));
        assert_eq!(limiter.admit("a", start + Duration::from_secs(60)), Ok(()));
        assert_eq!(
            limiter.admit("a", start + Duration::from_secs(600)),
            Err(Duration::from_secs(3000))
        );
        assert_eq!(limiter.admit("b", start + Duration::from_secs(600)), Ok(()));
        // The first submission leaves the window after an hour.
        assert_eq!(
            limiter.admit("a", start + Duration::from_secs(3600)),
            Ok(())
        );
        assert!(
            limiter
                .admit("a", start + Duration::from_secs(3601))
                .is_err()
        );
    }

    #[test]
    fn the_trusted_header_names_the_last_proxy_hop() {
        let header = HeaderName::from_static("x-forwarded-for");
        let (mut parts, ()) = Request::builder()
            .header("x-forwarded-for", "203.0.113.9, 198.51.100.7")
            .body(())
            .expect("request")
            .into_parts();
        assert_eq!(submitter(&parts, Some(&header)), "198.51.100.7");
        // Without the trusted header configured, a client's header is ignored.
        parts
            .extensions
            .insert(ConnectInfo(SocketAddr::from(([192, 0, 2, 1], 4000))));
        assert_eq!(submitter(&parts, None), "192.0.2.1");
        let (parts, ()) = Request::builder().body(()).expect("request").into_parts();
        assert_eq!(submitter(&parts, Some(&header)), "unknown");
    }

    #[test]
    fn ipv6_clients_are_limited_per_64_prefix() {
        let peer = |address: &str| {
            let (mut parts, ()) = Request::builder().body(()).expect("request").into_parts();
            let address: IpAddr = address.parse().expect("an address");
            parts
                .extensions
                .insert(ConnectInfo(SocketAddr::new(address, 4000)));
            submitter(&parts, None)
        };
        // Two addresses of one /64 are one submitter; the next /64 is another.
        assert_eq!(peer("2001:db8:1:2::1"), "2001:db8:1:2::/64");
        assert_eq!(peer("2001:db8:1:2:ffff:1:2:3"), "2001:db8:1:2::/64");
        assert_eq!(peer("2001:db8:1:3::1"), "2001:db8:1:3::/64");
        assert_eq!(peer("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(peer("192.0.2.7"), "192.0.2.7");
        // The trusted header's address is keyed the same way.
        let header = HeaderName::from_static("x-forwarded-for");
        let (parts, ()) = Request::builder()
            .header("x-forwarded-for", "2001:db8:1:2::99")
            .body(())
            .expect("request")
            .into_parts();
        assert_eq!(submitter(&parts, Some(&header)), "2001:db8:1:2::/64");
        // And the limit holds across the prefix.
        let limiter = limiter(1);
        let now = Instant::now();
        assert_eq!(limiter.admit(&peer("2001:db8:1:2::1"), now), Ok(()));
        assert!(limiter.admit(&peer("2001:db8:1:2::2"), now).is_err());
    }
}
