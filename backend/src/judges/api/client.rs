//! The HTTP client for OpenAI-compatible chat-completions endpoints (vLLM, hosted APIs):
//! timeouts, retries with exponential backoff and jitter on 429/5xx/timeouts (honouring
//! `Retry-After`), token usage, and an API key that is never logged or printed.
//!
//! Redirects are never followed: an endpoint submitted over HTTP passes the address checks of
//! [`super::address_policy`], but a redirect to an address literal (`http://127.0.0.1/…`, a cloud
//! metadata address) would reach the private network without a name to resolve, so the
//! resolver would never see it. A 3xx answer fails the query at once, naming the target's host.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use omnireward_shared::random::SplitMix64;
use serde_json::Value;

/// An API key. `Debug` and `Display` never show it.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key read from the environment variable the user named.
    pub fn new(key: String) -> Self {
        Self(key)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("ApiKey(<redacted>)")
    }
}

/// How the client talks to the endpoint.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// The chat-completions URL (a base URL ending in `/v1` gets `/chat/completions` appended).
    pub endpoint: String,
    /// Bearer token, if the endpoint needs one.
    pub api_key: Option<ApiKey>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// HTTP attempts per query (the first plus retries).
    pub http_attempts: u32,
    /// First backoff delay; doubles per retry, with jitter.
    pub backoff_initial: Duration,
    /// Longest backoff delay (also caps `Retry-After`).
    pub backoff_max: Duration,
    /// Refuse to connect to loopback, link-local or private addresses, whatever the name
    /// resolves to at connection time (endpoints submitted over HTTP).
    pub public_addresses_only: bool,
}

impl ClientConfig {
    /// The full chat-completions URL for `endpoint`.
    pub fn completions_url(endpoint: &str) -> String {
        let trimmed = endpoint.trim_end_matches('/');
        if trimmed.ends_with("/chat/completions") {
            trimmed.to_owned()
        } else {
            format!("{trimmed}/chat/completions")
        }
    }
}

/// One completion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completion {
    /// The assistant message text.
    pub text: String,
    /// `usage.prompt_tokens`, if reported.
    pub input_tokens: Option<u64>,
    /// `usage.completion_tokens`, if reported.
    pub output_tokens: Option<u64>,
    /// HTTP attempts this completion took.
    pub http_attempts: u32,
}

/// Why a query failed after its retries.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The endpoint answered with an error status that retrying cannot fix (4xx but 429).
    #[error("the endpoint refused the request: HTTP {status}: {body}")]
    Refused {
        /// The status code.
        status: u16,
        /// The start of the response body.
        body: String,
    },
    /// The endpoint answered with a redirect, which judge requests do not follow.
    #[error(
        "the endpoint answered {status} (redirect to {target}); judge endpoints must answer \
         directly: redirects are not followed"
    )]
    Redirected {
        /// The status code.
        status: u16,
        /// The host the `Location` header names (or why there is none to show).
        target: String,
    },
    /// Every attempt failed with a retryable error.
    #[error("{attempts} attempts failed; last error: {last}")]
    Exhausted {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot set up the HTTP client: {0}")]
    Setup(String),
}

/// A chat-completions client shared by all concurrent requests of a run.
pub struct ChatClient {
    http: reqwest::Client,
    url: String,
    config: ClientConfig,
    jitter_seed: AtomicU64,
}

impl fmt::Debug for ChatClient {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("ChatClient")
            .field("url", &self.url)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The outcome of one HTTP attempt.
enum Attempt {
    Done(Completion),
    Retry {
        reason: String,
        wait: Option<Duration>,
    },
    Fatal(ApiError),
}

impl ChatClient {
    /// Builds a client for `config`.
    pub fn new(config: ClientConfig) -> Result<Self, ApiError> {
        let mut builder = reqwest::Client::builder()
            .timeout(config.timeout)
            .pool_max_idle_per_host(256)
            // See the module header: a followed redirect would bypass the address checks.
            .redirect(reqwest::redirect::Policy::none());
        if config.public_addresses_only {
            builder = builder.dns_resolver(std::sync::Arc::new(
                super::address_policy::PublicOnlyResolver,
            ));
        }
        let http = builder
            .build()
            .map_err(|error| ApiError::Setup(error.to_string()))?;
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos() as u64);
        Ok(Self {
            http,
            url: ClientConfig::completions_url(&config.endpoint),
            config,
            jitter_seed: AtomicU64::new(seed),
        })
    }

    /// The URL requests go to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends `body` and returns the completion, retrying transient failures.
    pub async fn complete(&self, body: &Value) -> Result<Completion, ApiError> {
        let attempts = self.config.http_attempts.max(1);
        let mut last = String::new();
        for attempt in 1..=attempts {
            match self.attempt(body, attempt).await {
                Attempt::Done(completion) => return Ok(completion),
                Attempt::Fatal(error) => return Err(error),
                Attempt::Retry { reason, wait } => {
                    last = reason;
                    if attempt < attempts {
                        tokio::time::sleep(wait.unwrap_or_else(|| self.backoff(attempt))).await;
                    }
                }
            }
        }
        Err(ApiError::Exhausted { attempts, last })
    }

    async fn attempt(&self, body: &Value, attempt: u32) -> Attempt {
        let mut request = self.http.post(&self.url).json(body);
        if let Some(ApiKey(key)) = &self.config.api_key {
            request = request.bearer_auth(key);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => {
                let reason = if error.is_timeout() {
                    format!("timed out after {:?}", self.config.timeout)
                } else {
                    // reqwest errors name the URL but never the headers, so the key stays out.
                    format!("request failed: {error}")
                };
                return Attempt::Retry { reason, wait: None };
            }
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<f64>().ok())
            .filter(|seconds| seconds.is_finite() && *seconds >= 0.0)
            .map(|seconds| Duration::from_secs_f64(seconds).min(self.config.backoff_max));
        if status.is_redirection() {
            return Attempt::Fatal(ApiError::Redirected {
                status: status.as_u16(),
                target: redirect_target(&response),
            });
        }
        let text = match response.text().await {
            // An endpoint that echoes the request (a debugging proxy) would put the key into
            // error messages, which are logged and stored as a job's error.
            Ok(text) => self.redacted(text),
            Err(error) => {
                return Attempt::Retry {
                    reason: format!("reading the response failed: {error}"),
                    wait: None,
                };
            }
        };
        if status.as_u16() == 429 || status.is_server_error() {
            return Attempt::Retry {
                reason: format!("HTTP {}: {}", status.as_u16(), excerpt(&text)),
                wait: retry_after,
            };
        }
        if !status.is_success() {
            return Attempt::Fatal(ApiError::Refused {
                status: status.as_u16(),
                body: excerpt(&text),
            });
        }
        match parse_completion(&text) {
            Ok((message, input_tokens, output_tokens)) => Attempt::Done(Completion {
                text: message,
                input_tokens,
                output_tokens,
                http_attempts: attempt,
            }),
            // A truncated or malformed body is usually a transient proxy problem: retry it.
            Err(reason) => Attempt::Retry { reason, wait: None },
        }
    }

    /// `text` without the API key.
    fn redacted(&self, text: String) -> String {
        match &self.config.api_key {
            Some(ApiKey(key)) if !key.is_empty() && text.contains(key.as_str()) => {
                text.replace(key.as_str(), "<redacted>")
            }
            _ => text,
        }
    }

    /// Exponential backoff with "equal jitter": half the delay fixed, half random, so many
    /// concurrent requests that failed together do not retry together.
    fn backoff(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(16);
        let base = self
            .config
            .backoff_initial
            .saturating_mul(1u32 << exponent)
            .min(self.config.backoff_max);
        let seed = self.jitter_seed.fetch_add(1, Ordering::Relaxed);
        let random = SplitMix64::new(seed).next_u64() as f64 / u64::MAX as f64;
        base.mul_f64(0.5 + 0.5 * random)
    }
}

/// The host a redirect points to, for the error message: only the host (and port), since the
/// path or query of a `Location` may carry tokens.
fn redirect_target(response: &reqwest::Response) -> String {
    let Some(location) = response.headers().get(reqwest::header::LOCATION) else {
        return "no Location header".to_owned();
    };
    let Ok(location) = location.to_str() else {
        return "an unreadable Location header".to_owned();
    };
    match response.url().join(location) {
        Ok(url) => match (url.host_str(), url.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            (None, _) => format!("a {} URL without a host", url.scheme()),
        },
        Err(_) => "an invalid Location header".to_owned(),
    }
}

/// The start of a response body for error messages: enough to recognise the endpoint's
/// complaint, short enough to store as a job's error and show on a page.
fn excerpt(text: &str) -> String {
    const LIMIT: usize = 200;
    let mut short: String = text.chars().take(LIMIT).collect();
    if text.chars().count() > LIMIT {
        short.push('…');
    }
    short
}

/// Extracts the message text and usage from a chat-completions response body.
fn parse_completion(text: &str) -> Result<(String, Option<u64>, Option<u64>), String> {
    let value: Value =
        serde_json::from_str(text).map_err(|error| format!("malformed JSON response: {error}"))?;
    let message = value.pointer("/choices/0/message/content").ok_or_else(|| {
        format!(
            "response has no choices[0].message.content: {}",
            excerpt(text)
        )
    })?;
    let message = match message {
        Value::String(text) => text.trim().to_owned(),
        // Some servers return content as a list of text parts.
        Value::Array(parts) => parts
            .iter()
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("")
            .trim()
            .to_owned(),
        Value::Null => String::new(),
        other => return Err(format!("message content is not text: {other}")),
    };
    let usage = |field: &str| {
        value
            .pointer(&format!("/usage/{field}"))
            .and_then(Value::as_u64)
    };
    Ok((message, usage("prompt_tokens"), usage("completion_tokens")))
}

/// A requests-per-minute limiter: request starts are spaced at least `60 / rpm` seconds apart.
#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    next: tokio::sync::Mutex<Instant>,
}

impl RateLimiter {
    /// A limiter allowing `requests_per_minute` starts per minute.
    pub fn new(requests_per_minute: u32) -> Self {
        Self {
            interval: Duration::from_secs_f64(60.0 / f64::from(requests_per_minute.max(1))),
            next: tokio::sync::Mutex::new(Instant::now()),
        }
    }

    /// Waits for the next slot.
    pub async fn acquire(&self) {
        let slot = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let slot = (*next).max(now);
            *next = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot.into()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_get_the_completions_path_once() {
        assert_eq!(
            ClientConfig::completions_url("http://127.0.0.1:8000/v1/"),
            "http://127.0.0.1:8000/v1/chat/completions"
        );
        assert_eq!(
            ClientConfig::completions_url("https://api.example.com/v1/chat/completions"),
            "https://api.example.com/v1/chat/completions"
        );
    }

    #[test]
    fn completions_parse_text_and_usage() {
        let body = r#"{"choices":[{"message":{"role":"assistant","content":"  B is better. [[B]] "}}],
                      "usage":{"prompt_tokens":120,"completion_tokens":9}}"#;
        assert_eq!(
            parse_completion(body),
            Ok(("B is better. [[B]]".to_owned(), Some(120), Some(9)))
        );
        assert!(parse_completion("{\"choices\": []}").is_err());
        assert!(parse_completion("<html>").is_err());
    }

    #[test]
    fn keys_never_show_in_debug_output() {
        let config = ClientConfig {
            endpoint: "http://x".to_owned(),
            api_key: Some(ApiKey::new("sk-secret-123".to_owned())),
            timeout: Duration::from_secs(1),
            http_attempts: 1,
            backoff_initial: Duration::from_millis(1),
            backoff_max: Duration::from_millis(2),
            public_addresses_only: false,
        };
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("sk-secret-123") && shown.contains("redacted"),
            "{shown}"
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let client = ChatClient::new(ClientConfig {
            endpoint: "http://127.0.0.1:9".to_owned(),
            api_key: None,
            timeout: Duration::from_secs(1),
            http_attempts: 5,
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_millis(1000),
            public_addresses_only: false,
        })
        .expect("client");
        for _ in 0..50 {
            let first = client.backoff(1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let late = client.backoff(10);
            assert!(late >= Duration::from_millis(500) && late <= Duration::from_millis(1000));
        }
    }
}
