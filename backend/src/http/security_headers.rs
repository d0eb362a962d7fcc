//! Response headers that keep browsers safe with this server: `X-Content-Type-Options: nosniff`
//! on every response, and on HTML pages a Content-Security-Policy and frame protection; and
//! whether a client reached the server over HTTPS (for `Secure` cookies).

use std::sync::LazyLock;

use axum::extract::Request;
use axum::http::header::{
    CONTENT_SECURITY_POLICY, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest, Sha256};

/// How the server learns whether a client reached it over HTTPS; part of its configuration.
#[derive(Clone, Copy, Debug, Default)]
pub struct TransportSecurity {
    /// The server's public URL is `https://…`: every browser reaches it over HTTPS (through a
    /// proxy that terminates TLS), whatever the connection to this process is.
    pub public_https: bool,
    /// A trusted reverse proxy is in front, so its `X-Forwarded-Proto` is believed (a client's
    /// own header would be, too, without a proxy: hence off unless the operator says so).
    pub trust_forwarded_proto: bool,
}

impl TransportSecurity {
    /// Whether the request with these headers came over HTTPS.
    pub(super) fn is_https(self, headers: &HeaderMap) -> bool {
        self.public_https
            || (self.trust_forwarded_proto
                && headers
                    .get("x-forwarded-proto")
                    .and_then(|value| value.to_str().ok())
                    // A proxy chain may list several; the last is the one next to us.
                    .and_then(|value| value.rsplit(',').next())
                    .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https")))
    }
}

/// The policy of the HTML pages. Scripts: the bundle (same origin), its WebAssembly module, and
/// the one inline module that starts it, by hash (the page data is an inline JSON block, which
/// is never executed and needs no permission). Styles allow inline `style` attributes: the
/// leaderboard's interval whiskers and the docs page's `<style>` use them, and styles cannot run
/// code. No framing, no plugins, no `<base>` rewriting, forms post only here.
static CONTENT_SECURITY_POLICY_VALUE: LazyLock<HeaderValue> = LazyLock::new(|| {
    let digest = Sha256::digest(omnireward_frontend::document::loader_script().as_bytes());
    let policy = format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval' 'sha256-{}'; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; media-src 'self' blob:; \
         connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'",
        BASE64.encode(digest)
    );
    // Built from fixed text and base64: always a valid header value.
    HeaderValue::from_str(&policy)
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'"))
});

/// Middleware of the whole application: adds the headers to every response.
pub(super) async fn add(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    let html = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/html"));
    if html {
        headers.insert(
            CONTENT_SECURITY_POLICY,
            CONTENT_SECURITY_POLICY_VALUE.clone(),
        );
        // For browsers older than `frame-ancestors`.
        headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_proto_counts_only_when_trusted() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-proto", HeaderValue::from_static("http, https"));
        assert!(!TransportSecurity::default().is_https(&headers));
        let trusted = TransportSecurity {
            trust_forwarded_proto: true,
            ..TransportSecurity::default()
        };
        assert!(trusted.is_https(&headers));
        assert!(!trusted.is_https(&HeaderMap::new()));
        let public = TransportSecurity {
            public_https: true,
            ..TransportSecurity::default()
        };
        assert!(public.is_https(&HeaderMap::new()));
    }
}
