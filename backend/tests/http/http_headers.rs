//! What a public deployment needs of every response, in process through `app(state)`: the JSON
//! error body on errors axum and tower-http make themselves (405, 413) and on disabled admin
//! routes; the browser-protection headers (CSP admitting the page's own loader, nosniff, no
//! framing); `Secure` cancel cookies over HTTPS; `Retry-After` on the busy demo.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use base64::Engine as _;
use omnireward::http::score::ScoringService;
use omnireward::http::{AdminToken, AppState, Bundle, TransportSecurity, app};
use omnireward::judges::local::{InferenceThread, LocalJudgeOptions};
use sha2::{Digest, Sha256};
use tempfile::TempDir;

use crate::support;
use crate::support::test_app::{Reply, send};

async fn call(router: &Router, method: Method, uri: &str) -> Reply {
    send(
        router,
        Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
            .expect("request"),
    )
    .await
}

/// The paper's database served, with `configure` applied to the state.
async fn site(configure: impl FnOnce(AppState) -> AppState) -> (TempDir, Router) {
    let folder = TempDir::new().expect("temporary folder");
    let (storage, benchmark) = support::paper_site::paper_database(folder.path()).await;
    let router = app(configure(AppState::new(storage, benchmark)));
    (folder, router)
}

#[tokio::test]
async fn errors_made_by_axum_and_tower_http_have_the_json_body() {
    let (_folder, router) = site(|state| state).await;
    // A route without this method: 405, its `Allow`, and the JSON body.
    let reply = call(&router, Method::DELETE, "/api/v1/tasks").await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.error_code(), "method_not_allowed");
    assert!(reply.header("allow").contains("GET"), "{:?}", reply.headers);
    // The global body limit: 413 with the JSON body, not tower-http's text.
    let body = vec![b'x'; 2 * 1024 * 1024];
    let reply = send(
        &router,
        Request::builder()
            .method(Method::GET)
            .uri("/api/v1/tasks")
            .header(header::CONTENT_LENGTH, body.len())
            .body(Body::from(body))
            .expect("request"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply.error_code(), "payload_too_large");
    // Errors the handlers make are unchanged.
    let reply = call(&router, Method::GET, "/api/v1/no-such-thing").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.error_code(), "not_found");
}

#[tokio::test]
async fn admin_routes_are_json_404s_unless_enabled() {
    let (_folder, router) = site(|state| state).await;
    for (method, uri) in [
        (Method::GET, "/api/v1/admin/runs/1"),
        (Method::DELETE, "/api/v1/admin/runs/1"),
        (Method::POST, "/api/v1/admin/submissions/1/approve"),
    ] {
        let reply = call(&router, method.clone(), uri).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{method} {uri}");
        assert_eq!(reply.error_code(), "not_found");
        assert_eq!(
            reply.header("allow"),
            "",
            "{method} {uri} reveals the route"
        );
    }
    // Enabled, a wrong method is a JSON 405 naming the right one.
    let (_folder, router) =
        site(|state| state.with_admin_token(AdminToken::new("an administrator's token"))).await;
    let reply = call(&router, Method::GET, "/api/v1/admin/runs/1").await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.error_code(), "method_not_allowed");
    assert_eq!(reply.header("allow"), "DELETE");
}

/// A stand-in bundle: the pages only need its two files to exist to load it.
fn fake_bundle(folder: &std::path::Path) -> Bundle {
    std::fs::write(folder.join("omnireward_frontend.js"), "export default 1;").expect("writes");
    std::fs::write(folder.join("omnireward_frontend_bg.wasm"), b"\0asm").expect("writes");
    Bundle::load(folder).expect("reads").expect("a bundle")
}

#[tokio::test]
async fn pages_forbid_framing_sniffing_and_foreign_scripts_but_admit_their_loader() {
    let bundle_folder = TempDir::new().expect("folder");
    let bundle = fake_bundle(bundle_folder.path());
    let (_folder, router) = site(|state| state.with_bundle(bundle)).await;
    // The queue page is interactive: it carries the loader.
    let reply = call(&router, Method::GET, "/queue").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("x-content-type-options"), "nosniff");
    assert_eq!(reply.header("x-frame-options"), "DENY");
    let policy = reply.header("content-security-policy").to_owned();
    for directive in [
        "default-src 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
        "'wasm-unsafe-eval'",
    ] {
        assert!(policy.contains(directive), "{policy}");
    }
    assert!(
        !policy.contains("'unsafe-eval'") && !policy.contains("script-src 'self' 'unsafe-inline'")
    );
    // Every executable inline script of the page is admitted by its hash.
    let mut executable = 0;
    for script in reply.text().split("<script").skip(1) {
        let (attributes, rest) = script.split_once('>').expect("tag end");
        if attributes.contains("application/json") {
            continue;
        }
        let code = &rest[..rest.find("</script>").expect("script end")];
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(code));
        assert!(policy.contains(&format!("'sha256-{hash}'")), "{policy}");
        executable += 1;
    }
    assert_eq!(executable, 1, "{}", reply.text());
    // Other pages and the API documents are covered too.
    let reply = call(&router, Method::GET, "/").await;
    assert!(!reply.header("content-security-policy").is_empty());
    let reply = call(&router, Method::GET, "/api/v1/tasks").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("x-content-type-options"), "nosniff");
    let reply = call(&router, Method::GET, "/api/v1/no-such-thing").await;
    assert_eq!(reply.header("x-content-type-options"), "nosniff");
}

/// Submits the API-judge form with these extra headers; returns the cancel cookie set.
async fn submit_form(router: &Router, headers: &[(&str, &str)]) -> String {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri("/submit")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let reply = send(
        router,
        request
            .body(Body::from(
                "endpoint=https%3A%2F%2Fexample.com%2Fv1&model=good-judge",
            ))
            .expect("request"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text());
    reply.header("set-cookie").to_owned()
}

#[tokio::test]
async fn the_cancel_cookie_is_secure_when_the_site_is_served_over_https() {
    let forwarded = [("x-forwarded-proto", "https")];
    // Plain HTTP, and a client's own `X-Forwarded-Proto` while no proxy is trusted: a browser
    // would refuse a `Secure` cookie over HTTP.
    let (_folder, router) = site(|state| state).await;
    let cookie = submit_form(&router, &forwarded).await;
    assert!(cookie.starts_with("omnireward_cancel_"), "{cookie}");
    assert!(!cookie.contains("Secure"), "{cookie}");
    // A trusted proxy's `X-Forwarded-Proto: https`.
    let (_folder, router) = site(|state| {
        state.with_transport_security(TransportSecurity {
            public_https: false,
            trust_forwarded_proto: true,
        })
    })
    .await;
    assert!(submit_form(&router, &forwarded).await.contains("; Secure"));
    assert!(!submit_form(&router, &[]).await.contains("Secure"));
    // An `https` public URL.
    let (_folder, router) = site(|state| {
        state.with_transport_security(TransportSecurity {
            public_https: true,
            trust_forwarded_proto: false,
        })
    })
    .await;
    assert!(submit_form(&router, &[]).await.contains("; Secure"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_demo_says_when_to_retry() {
    let model = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("local-judge/tests/fixtures/bert-tiny");
    let thread = InferenceThread::start(model, LocalJudgeOptions::default()).expect("loads");
    // A queue of one, taken by a request that waits while the inference thread is busy.
    let scoring = Arc::new(ScoringService::new(thread, "bert-tiny".to_owned(), 1));
    let (_folder, router) = site(|state| state.with_scoring(Arc::clone(&scoring))).await;
    let (started, blocking) = tokio::sync::oneshot::channel::<()>();
    let busy = {
        let scoring = Arc::clone(&scoring);
        tokio::spawn(async move {
            scoring
                .thread()
                .expect("a reward model")
                .run(|_judge| {
                    let _ = started.send(());
                    std::thread::sleep(std::time::Duration::from_secs(4));
                    Ok(())
                })
                .await
        })
    };
    // The model is busy before the first request arrives, so that request waits holding its
    // place instead of being scored at once.
    blocking.await.expect("the busy job starts");
    let waiting = tokio::spawn({
        let router = router.clone();
        async move { send(&router, score_request()).await }
    });
    // The waiting request holds the one place once admitted; a fixed pause raced it.
    let admitted = std::time::Instant::now();
    while scoring.free_places() > 0 {
        assert!(
            admitted.elapsed() < std::time::Duration::from_secs(3),
            "the first request was never admitted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let reply = send(&router, score_request()).await;
    assert_eq!(
        reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        reply.text()
    );
    assert_eq!(reply.error_code(), "too_many_requests");
    let seconds: u64 = reply.header("retry-after").parse().expect("seconds");
    assert!(seconds >= 1);
    let reply = send(
        &router,
        Request::builder()
            .method(Method::POST)
            .uri("/demo")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(
                "task=text_to_text&criterion=c&prompt=p&response1=a&response2=b",
            ))
            .expect("request"),
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        reply.text()
    );
    assert_eq!(reply.header("retry-after"), seconds.to_string());
    // The request that held the queue is answered once the thread is free.
    busy.await.expect("joins").expect("the busy work ends");
    assert_eq!(waiting.await.expect("joins").status, StatusCode::OK);
}

fn score_request() -> Request<Body> {
    Request::builder()
        .method(Method::POST)
        .uri("/api/v1/score")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            r#"{"criterion": "c", "prompt": "p", "response1": "a", "response2": "b"}"#,
        ))
        .expect("request")
}
