//! Judge requests follow no redirects: an endpoint that answers 307 or 302 to another address
//! (here a second server on 127.0.0.1, standing in for a private service or a cloud metadata
//! address) fails the query at once with a message naming the status and the target's host,
//! and the target receives nothing, whether or not the client checks addresses.

use crate::support;

use std::time::Duration;

use axum::http::StatusCode;
use omnireward::judges::api::client::{ApiError, ChatClient, ClientConfig};
use support::stub_servers::{start_counting, start_redirecting};

fn config(endpoint: &str, public_addresses_only: bool) -> ClientConfig {
    ClientConfig {
        endpoint: endpoint.to_owned(),
        api_key: None,
        timeout: Duration::from_secs(10),
        http_attempts: 3,
        backoff_initial: Duration::from_millis(1),
        backoff_max: Duration::from_millis(5),
        public_addresses_only,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_not_followed_and_fail_with_their_target() {
    let target = start_counting().await;
    let target_host = target.base.trim_start_matches("http://").to_owned();
    for status in [StatusCode::TEMPORARY_REDIRECT, StatusCode::FOUND] {
        let location = format!("{}/v1/chat/completions?token=hidden", target.base);
        let redirecting = start_redirecting(status, location).await;
        let client = ChatClient::new(config(&redirecting.endpoint, false)).expect("client");
        let body = serde_json::json!({"model": "m", "messages": []});
        let error = client
            .complete(&body)
            .await
            .expect_err("a redirect is not followed");
        assert!(
            matches!(error, ApiError::Redirected { status: code, .. } if code == status.as_u16()),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(
            message.contains(&format!(
                "the endpoint answered {} (redirect to {target_host})",
                status.as_u16()
            )) && message.contains("redirects are not followed"),
            "{message}"
        );
        // Only the host is named: a Location's query may carry tokens.
        assert!(!message.contains("hidden"), "{message}");
        // A redirect is an answer, not a transient failure: it is not retried.
        assert_eq!(redirecting.hits(), 1);
    }
    assert_eq!(target.hits(), 0, "the redirect target was reached");
}
