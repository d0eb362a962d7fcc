//! Submissions over HTTP, in process through `app(state)` with `oneshot`: validation (SSRF and
//! secrets), duplicates, positions, listing and cancelling, and one submission run to its
//! scorecard by a worker against the scripted OpenAI-compatible server on 127.0.0.1.

use crate::support;
use crate::support::test_app::{Reply, TestApp, worker_context};

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use omnireward::data::{LoadOptions, embedded};
use omnireward::http::{AdminToken, AppState, app};
use omnireward::judges::api::client::ApiKey;
use omnireward::queue::key_bindings::KeyBindings;
use omnireward::queue::key_vault::KeyVault;
use omnireward::queue::worker::{WorkerContext, run_worker};
use omnireward::storage::{JobKind, ModelKind, NewModel, NewRun, Provenance, RunStatus, Storage};
use serde_json::{Value, json};
use tempfile::TempDir;

const PUBLIC_ENDPOINT: &str = "https://api.example.com/v1";

/// A home serving the embedded sample, whose operator lets the workers' OpenAI key go to the
/// public test endpoint's host only.
async fn test_app(allow_private_endpoints: bool) -> TestApp {
    TestApp::start(false, |state, _| {
        state
            .with_private_endpoints(allow_private_endpoints)
            .with_key_bindings(
                KeyBindings::parse(&["OMNIREWARD_KEY_OPENAI=api.example.com"])
                    .expect("a valid binding"),
            )
    })
    .await
}

async fn send(router: &Router, method: Method, uri: &str, body: Option<String>) -> Reply {
    send_with_token(router, method, uri, body, None).await
}

async fn send_with_token(
    router: &Router,
    method: Method,
    uri: &str,
    body: Option<String>,
    token: Option<&str>,
) -> Reply {
    let mut request = Request::builder().method(method).uri(uri);
    if body.is_some() {
        request = request.header(header::CONTENT_TYPE, "application/json");
    }
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = request
        .body(body.map_or_else(Body::empty, Body::from))
        .expect("request");
    crate::support::test_app::send(router, request).await
}

async fn submit(router: &Router, body: &Value) -> Reply {
    send(
        router,
        Method::POST,
        "/api/v1/submissions",
        Some(body.to_string()),
    )
    .await
}

async fn get(router: &Router, uri: &str) -> Reply {
    send(router, Method::GET, uri, None).await
}

async fn cancel(router: &Router, id: i64, token: Option<&str>) -> Reply {
    send_with_token(
        router,
        Method::POST,
        &format!("/api/v1/submissions/{id}/cancel"),
        None,
        token,
    )
    .await
}

/// The cancel token of a new submission's answer.
fn cancel_token(reply: &Reply) -> String {
    reply.json()["cancel_token"]
        .as_str()
        .unwrap_or_else(|| panic!("a cancel token: {}", reply.text()))
        .to_owned()
}

fn submission(endpoint: &str, model: &str) -> Value {
    json!({
        "kind": "api_judge",
        "endpoint": endpoint,
        "model": model,
        "settings": "both",
        "swap": false,
    })
}

fn ids(reply: &Reply) -> (i64, i64) {
    let body = reply.json();
    (
        body["submission"].as_i64().expect("a submission id"),
        body["run"].as_i64().expect("a run id"),
    )
}

fn error_code(reply: &Reply) -> String {
    reply.json()["error"]["code"]
        .as_str()
        .expect("an error code")
        .to_owned()
}

#[tokio::test]
async fn a_public_endpoint_is_queued_and_a_duplicate_returns_the_same_job() {
    let app = test_app(false).await;
    let body = submission(PUBLIC_ENDPOINT, "judge-a");
    let created = submit(&app.router, &body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let reply = created.json();
    assert_eq!(reply["status"], "queued");
    assert_eq!(reply["position"], 1);
    let (job, run) = ids(&created);

    let duplicate = submit(&app.router, &body).await;
    assert_eq!(duplicate.status, StatusCode::OK, "{}", duplicate.text());
    assert_eq!(ids(&duplicate), (job, run));
    assert_eq!(duplicate.json()["position"], 1);

    // The run is recorded on the served benchmark, queued, with the CLI's identity.
    let run_view = get(&app.router, &format!("/api/v1/runs/{run}")).await;
    assert_eq!(run_view.status, StatusCode::OK, "{}", run_view.text());
    let run_view = run_view.json();
    assert_eq!(run_view["status"], "queued");
    assert_eq!(run_view["model"]["name"], "judge-a");
    assert_eq!(
        run_view["benchmark"]["hash"],
        app.benchmark.identity.hash.as_str()
    );
    let identity = &run_view["configuration"]["identity"];
    assert_eq!(identity["judge"], "api");
    assert_eq!(identity["endpoint"], PUBLIC_ENDPOINT);
    assert_eq!(identity["request"]["model"], "judge-a");

    // Another option is another run, queued behind the first.
    let mut other = body.clone();
    other["temperature"] = json!(0.0);
    let second = submit(&app.router, &other).await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.text());
    assert_eq!(second.json()["position"], 2);
    let (second_job, second_run) = ids(&second);
    assert_ne!((second_job, second_run), (job, run));

    // Only the job is in the queue: nothing was contacted.
    let jobs = app.storage.jobs().await.expect("lists jobs");
    assert_eq!(jobs.len(), 2);
    assert_eq!(jobs[0].specification["endpoint"], PUBLIC_ENDPOINT);
    assert_eq!(jobs[0].specification["concurrency"], 16);
    assert!(jobs[0].specification["benchmark"]["data"].is_null());
}

#[tokio::test]
async fn private_endpoints_are_refused_unless_allowed() {
    let app = test_app(false).await;
    for endpoint in [
        "http://localhost:8000/v1",
        "http://127.0.0.1:8000/v1",
        "http://[::1]:8000/v1",
        "http://10.0.0.5/v1",
        "http://172.20.1.1/v1",
        "http://192.168.1.10/v1",
        "http://169.254.169.254/latest",
        "http://[fd00::1]/v1",
        "http://[fe80::1]/v1",
    ] {
        let reply = submit(&app.router, &submission(endpoint, "judge")).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{endpoint}");
        assert!(
            reply.text().contains("private"),
            "{endpoint}: {}",
            reply.text()
        );
    }
    for endpoint in ["ftp://api.example.com/v1", "not a url"] {
        let reply = submit(&app.router, &submission(endpoint, "judge")).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{endpoint}");
    }
    assert!(app.storage.jobs().await.expect("lists").is_empty());

    let allowed = test_app(true).await;
    let reply = submit(
        &allowed.router,
        &submission("http://127.0.0.1:8000/v1", "judge"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
}

#[tokio::test]
async fn secrets_are_refused_and_never_echoed() {
    let app = test_app(false).await;
    let secret = "sk-very-secret-value-123";
    let mut body = submission(PUBLIC_ENDPOINT, "judge");
    body["api_key"] = json!(secret);
    let reply = submit(&app.router, &body).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.text().contains("environment"), "{}", reply.text());
    assert!(reply.text().contains("api_key_env"), "{}", reply.text());
    assert!(!reply.text().contains(secret), "{}", reply.text());

    let mut pasted = submission(PUBLIC_ENDPOINT, "judge");
    pasted["api_key_env"] = json!(secret);
    let reply = submit(&app.router, &pasted).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(!reply.text().contains(secret), "{}", reply.text());

    for endpoint in [
        format!("https://user:{secret}@api.example.com/v1"),
        format!("https://api.example.com/v1?key={secret}"),
    ] {
        let reply = submit(&app.router, &submission(&endpoint, "judge")).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert!(!reply.text().contains(secret), "{}", reply.text());
    }

    // Only the variables reserved for judge keys may be named: a submission must not be able to
    // have a worker send, say, a cloud secret to the endpoint it chose.
    let mut foreign = submission(PUBLIC_ENDPOINT, "judge");
    foreign["api_key_env"] = json!("AWS_SECRET_ACCESS_KEY");
    let reply = submit(&app.router, &foreign).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text());
    assert!(reply.text().contains("OMNIREWARD_KEY_"), "{}", reply.text());

    let mut named = submission(PUBLIC_ENDPOINT, "judge");
    named["api_key_env"] = json!("OMNIREWARD_KEY_OPENAI");
    let reply = submit(&app.router, &named).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    let jobs = app.storage.jobs().await.expect("lists");
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        jobs[0].specification["api_key_env"],
        "OMNIREWARD_KEY_OPENAI"
    );
    let listed = get(&app.router, "/api/v1/submissions").await;
    assert!(!listed.text().contains(secret));
}

#[tokio::test]
async fn operator_keys_go_only_to_the_hosts_they_are_bound_to() {
    let app = test_app(true).await;
    // A variable the operator bound to no host is never sent anywhere.
    let mut unbound = submission(PUBLIC_ENDPOINT, "judge");
    unbound["api_key_env"] = json!("OMNIREWARD_KEY_ANTHROPIC");
    let reply = submit(&app.router, &unbound).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text());
    assert!(
        reply
            .text()
            .contains("--api-key-host OMNIREWARD_KEY_ANTHROPIC=HOST"),
        "{}",
        reply.text()
    );
    // A bound variable with an endpoint of the submitter's choosing is refused, look-alike hosts
    // included.
    for endpoint in [
        "https://attacker.example/v1",
        "https://api.example.com.attacker.example/v1",
        "http://127.0.0.1:9/v1",
    ] {
        let mut elsewhere = submission(endpoint, "judge");
        elsewhere["api_key_env"] = json!("OMNIREWARD_KEY_OPENAI");
        let reply = submit(&app.router, &elsewhere).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{endpoint}: {}",
            reply.text()
        );
        assert!(
            reply
                .text()
                .contains("may only be sent to `api.example.com`"),
            "{}",
            reply.text()
        );
    }
    assert!(app.storage.jobs().await.expect("lists").is_empty());

    // A job queued under a binding the worker does not have (another server's configuration,
    // or the database edited by hand) fails before the key is read, and the endpoint sees no
    // request at all.
    let script = Arc::new(Mutex::new(support::identities::script_for(
        app.home.path(),
        "judge",
        &app.benchmark.samples,
    )));
    let endpoint = support::openai_server::start(Arc::clone(&script)).await;
    let bound_here = app_with_binding(
        &app,
        &format!("OMNIREWARD_KEY_OPENAI={}", host_of(&endpoint)),
    );
    let mut body = submission(&endpoint, "judge");
    body["api_key_env"] = json!("OMNIREWARD_KEY_OPENAI");
    body["tasks"] = json!(["T2T"]);
    let created = submit(&bound_here, &body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let (job, _) = ids(&created);
    let context = WorkerContext {
        api_keys: Arc::new(|_| Some(ApiKey::new("sk-operator-secret".to_owned()))),
        ..worker_context(app.home.path())
    };
    run_worker(
        app.storage.clone(),
        &context,
        "worker-1",
        Arc::new(AtomicBool::new(false)),
    )
    .await
    .expect("the worker runs");
    let view = get(&app.router, &format!("/api/v1/submissions/{job}"))
        .await
        .json();
    assert_eq!(view["status"], "failed", "{view}");
    assert!(
        view["error"]
            .as_str()
            .is_some_and(|error| error.contains("not bound to any endpoint host")),
        "{view}"
    );
    let seen = script.lock().expect("script lock");
    assert!(seen.authorizations.is_empty(), "the key was sent");
    assert!(
        seen.seen.is_empty() && seen.violations.is_empty(),
        "the endpoint was contacted"
    );
}

/// A router over the same database and benchmark with one key binding.
fn app_with_binding(app: &TestApp, binding: &str) -> Router {
    omnireward::http::app(
        AppState::new(app.storage.clone(), Arc::clone(&app.benchmark))
            .with_private_endpoints(true)
            .with_key_bindings(KeyBindings::parse(&[binding]).expect("a valid binding")),
    )
}

/// `127.0.0.1:PORT` of an endpoint URL.
fn host_of(endpoint: &str) -> String {
    endpoint
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("an endpoint URL")
        .to_owned()
}

#[tokio::test]
async fn settings_and_swap_are_optional_with_the_documented_defaults() {
    let app = test_app(false).await;
    let minimal = json!({"kind": "api_judge", "endpoint": PUBLIC_ENDPOINT, "model": "judge"});
    let reply = submit(&app.router, &minimal).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    let jobs = app.storage.jobs().await.expect("lists");
    assert_eq!(
        jobs[0].specification["settings"],
        json!(["with_ties", "without_ties"])
    );
    assert_eq!(jobs[0].specification["swap"], json!(false));
    // The same judge with the defaults spelled out is the same submission.
    let spelled = submit(&app.router, &submission(PUBLIC_ENDPOINT, "judge")).await;
    assert_eq!(spelled.status, StatusCode::OK, "{}", spelled.text());
}

#[tokio::test]
async fn malformed_bodies_are_400s_with_the_error_body() {
    let app = test_app(false).await;
    let mut unknown = submission(PUBLIC_ENDPOINT, "judge");
    unknown["top_p"] = json!(0.9);
    let reply = submit(&app.router, &unknown).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text());
    assert!(reply.text().contains("top_p"), "{}", reply.text());
    assert_eq!(error_code(&reply), "malformed_request");

    let mut wrong_kind = submission(PUBLIC_ENDPOINT, "judge");
    wrong_kind["kind"] = json!("checkpoint");
    let mut missing = submission(PUBLIC_ENDPOINT, "judge");
    missing
        .as_object_mut()
        .expect("an object")
        // `settings` and `swap` have defaults; `model` does not.
        .remove("model");
    let mut bad_setting = submission(PUBLIC_ENDPOINT, "judge");
    bad_setting["settings"] = json!("sometimes");
    let mut bad_task = submission(PUBLIC_ENDPOINT, "judge");
    bad_task["tasks"] = json!(["T2Smell"]);
    let mut too_many = submission(PUBLIC_ENDPOINT, "judge");
    too_many["concurrency"] = json!(65);
    let mut none = submission(PUBLIC_ENDPOINT, "judge");
    none["concurrency"] = json!(0);
    let mut empty_model = submission(PUBLIC_ENDPOINT, "judge");
    empty_model["model"] = json!(" ");
    for body in [
        wrong_kind,
        missing,
        bad_setting,
        bad_task,
        too_many,
        none,
        empty_model,
        json!([1, 2]),
    ] {
        let reply = submit(&app.router, &body).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            reply.text()
        );
        assert!(reply.json()["error"]["message"].is_string());
    }
    let reply = send(
        &app.router,
        Method::POST,
        "/api/v1/submissions",
        Some("{not json".to_owned()),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&reply), "malformed_request");
    assert!(app.storage.jobs().await.expect("lists").is_empty());
}

#[tokio::test]
async fn submissions_are_listed_read_and_cancelled() {
    let app = test_app(false).await;
    let first_reply = submit(&app.router, &submission(PUBLIC_ENDPOINT, "judge-1")).await;
    let second_reply = submit(&app.router, &submission(PUBLIC_ENDPOINT, "judge-2")).await;
    let first = ids(&first_reply).0;
    let second = ids(&second_reply).0;
    let third = ids(&submit(&app.router, &submission(PUBLIC_ENDPOINT, "judge-3")).await).0;
    let (first_token, second_token) = (cancel_token(&first_reply), cancel_token(&second_reply));

    let listed = get(&app.router, "/api/v1/submissions").await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text());
    let listed = listed.json();
    assert_eq!(listed["total"], 3);
    let items = listed["items"].as_array().expect("items");
    let summary: Vec<_> = items
        .iter()
        .map(|item| {
            (
                item["id"].as_i64().expect("id"),
                item["model"].as_str().expect("model").to_owned(),
                item["status"].as_str().expect("status").to_owned(),
                item["position"].as_i64(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (first, "judge-1".to_owned(), "queued".to_owned(), Some(1)),
            (second, "judge-2".to_owned(), "queued".to_owned(), Some(2)),
            (third, "judge-3".to_owned(), "queued".to_owned(), Some(3)),
        ]
    );
    assert_eq!(items[0]["attempts"], 0);
    assert!(items[0]["error"].is_null());
    assert!(items[0]["created_at_ms"].is_i64());
    assert!(items[0]["started_at_ms"].is_null());
    let page = get(&app.router, "/api/v1/submissions?page=2&per_page=2").await;
    assert_eq!(page.json()["items"][0]["position"], 3);

    // A queued job is cancelled at once; those behind it move up.
    let cancelled = cancel(&app.router, first, Some(&first_token)).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.text());
    assert_eq!(cancelled.json()["status"], "cancelled");
    let one = get(&app.router, &format!("/api/v1/submissions/{first}"))
        .await
        .json();
    assert_eq!(one["status"], "cancelled");
    assert!(one["position"].is_null());
    assert!(one["finished_at_ms"].is_i64());
    let run = one["run"].as_i64().expect("run");
    let run_view = get(&app.router, &format!("/api/v1/runs/{run}"))
        .await
        .json();
    assert_eq!(run_view["status"], "cancelled");
    let second_view = get(&app.router, &format!("/api/v1/submissions/{second}"))
        .await
        .json();
    assert_eq!(second_view["position"], 1);

    // A running one is asked to stop.
    let claimed = app
        .storage
        .claim_job("worker-1")
        .await
        .expect("claims")
        .expect("a job");
    assert_eq!(claimed.id.0, second);
    let requested = cancel(&app.router, second, Some(&second_token)).await;
    assert_eq!(requested.status, StatusCode::OK);
    assert_eq!(requested.json()["status"], "cancel_requested");
    let running = get(&app.router, &format!("/api/v1/submissions/{second}"))
        .await
        .json();
    assert_eq!(running["status"], "running");
    assert_eq!(running["cancel_requested"], true);
    assert_eq!(running["attempts"], 1);

    // A stopped one is a conflict.
    let again = cancel(&app.router, first, Some(&first_token)).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text());
    assert_eq!(error_code(&again), "conflict");

    // Resubmitting a cancelled submission queues a new job on the same run.
    let resubmitted = submit(&app.router, &submission(PUBLIC_ENDPOINT, "judge-1")).await;
    assert_eq!(resubmitted.status, StatusCode::CREATED);
    let (new_job, same_run) = ids(&resubmitted);
    assert_ne!(new_job, first);
    assert_eq!(same_run, run);
    assert_eq!(resubmitted.json()["position"], 2);

    for (uri, status) in [
        ("/api/v1/submissions/999", StatusCode::NOT_FOUND),
        ("/api/v1/submissions/abc", StatusCode::BAD_REQUEST),
    ] {
        assert_eq!(get(&app.router, uri).await.status, status, "{uri}");
    }
    assert_eq!(
        cancel(&app.router, 999, Some(&first_token)).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn only_the_submitters_token_or_the_administrators_cancels() {
    let home = TempDir::new().expect("temporary home");
    let database = home.path().join("omnireward.sqlite");
    let storage = Storage::open(&database).await.expect("opens the database");
    let benchmark = Arc::new(
        embedded::load(&home.path().join("cache"), &LoadOptions::default())
            .expect("embedded sample loads"),
    );
    let router = app(AppState::new(storage.clone(), Arc::clone(&benchmark))
        .with_admin_token(AdminToken::new("administrator-secret")));

    let first_reply = submit(&router, &submission(PUBLIC_ENDPOINT, "judge-1")).await;
    let second_reply = submit(&router, &submission(PUBLIC_ENDPOINT, "judge-2")).await;
    let (first, second) = (ids(&first_reply).0, ids(&second_reply).0);
    let (first_token, second_token) = (cancel_token(&first_reply), cancel_token(&second_reply));
    assert_ne!(first_token, second_token);

    // Joining the queued submission of the same run hands out no token.
    let joined = submit(&router, &submission(PUBLIC_ENDPOINT, "judge-1")).await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.text());
    assert!(joined.json()["cancel_token"].is_null(), "{}", joined.text());

    let anonymous = cancel(&router, first, None).await;
    assert_eq!(
        anonymous.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        anonymous.text()
    );
    assert_eq!(error_code(&anonymous), "unauthorized");
    assert!(
        anonymous.text().contains("cancel_token"),
        "{}",
        anonymous.text()
    );
    let another = cancel(&router, first, Some(&second_token)).await;
    assert_eq!(another.status, StatusCode::FORBIDDEN, "{}", another.text());
    assert_eq!(error_code(&another), "forbidden");
    let queued = get(&router, &format!("/api/v1/submissions/{first}")).await;
    assert_eq!(queued.json()["status"], "queued", "refusals change nothing");

    let cancelled = cancel(&router, first, Some(&first_token)).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.text());
    let by_administrator = cancel(&router, second, Some("administrator-secret")).await;
    assert_eq!(
        by_administrator.status,
        StatusCode::OK,
        "{}",
        by_administrator.text()
    );

    // A job queued without a token (as the command line does) is the administrator's to cancel.
    let tokenless_run = storage
        .create_run(&NewRun {
            model: storage
                .upsert_model(&NewModel::named("cli judge", ModelKind::ApiJudge))
                .await
                .expect("stores"),
            benchmark: None,
            status: RunStatus::Queued,
            provenance: Provenance::Evaluated,
            configuration: json!({}),
        })
        .await
        .expect("creates");
    let tokenless = storage
        .enqueue_job(tokenless_run, JobKind::ApiJudge, &json!({}))
        .await
        .expect("enqueues");
    let refused = cancel(&router, tokenless.0, Some(&first_token)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text());
    assert!(
        refused.text().contains("administrator"),
        "{}",
        refused.text()
    );
    let allowed = cancel(&router, tokenless.0, Some("administrator-secret")).await;
    assert_eq!(allowed.status, StatusCode::OK, "{}", allowed.text());

    // Only digests are stored: no token is in the database or its journal.
    storage.close().await;
    for entry in std::fs::read_dir(home.path()).expect("lists the home") {
        let path = entry.expect("an entry").path();
        if path.is_file() {
            let bytes = std::fs::read(&path).expect("reads");
            for token in [&first_token, &second_token] {
                assert!(
                    !bytes
                        .windows(token.len())
                        .any(|window| window == token.as_bytes()),
                    "{} holds a cancel token",
                    path.display()
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submission_runs_to_its_scorecard() {
    let app = test_app(true).await;
    const MODEL: &str = "judge-under-test";
    let script = Arc::new(Mutex::new(support::identities::script_for(
        app.home.path(),
        MODEL,
        &app.benchmark.samples,
    )));
    let endpoint = support::openai_server::start(Arc::clone(&script)).await;
    let mut body = submission(&endpoint, MODEL);
    body["tasks"] = json!(["T2T", "TI2T"]);
    body["concurrency"] = json!(4);
    let created = submit(&app.router, &body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let (job, run) = ids(&created);

    let context = worker_context(app.home.path());
    let summary = run_worker(
        app.storage.clone(),
        &context,
        "worker-1",
        Arc::new(AtomicBool::new(false)),
    )
    .await
    .expect("the worker runs");
    assert_eq!((summary.claimed, summary.ended), (1, 1));

    let submission = get(&app.router, &format!("/api/v1/submissions/{job}"))
        .await
        .json();
    assert_eq!(submission["status"], "finished", "{submission}");
    assert!(submission["error"].is_null());
    let run_view = get(&app.router, &format!("/api/v1/runs/{run}"))
        .await
        .json();
    assert_eq!(run_view["status"], "finished");
    let scorecard = &run_view["scorecard"];
    assert!(scorecard.is_object(), "{run_view}");
    // Both settings, scored on the chosen tasks only.
    let settings = scorecard["settings"].as_object().expect("settings by name");
    assert_eq!(
        settings.keys().map(String::as_str).collect::<Vec<_>>(),
        ["with_ties", "without_ties"]
    );
    for (setting, scores) in settings {
        let mut tasks: Vec<&str> = scores["tasks"]
            .as_object()
            .expect("tasks by key")
            .keys()
            .map(String::as_str)
            .collect();
        tasks.sort_unstable();
        assert_eq!(tasks, ["text_image_to_text", "text_to_text"], "{setting}");
    }
    let served_t2t = app
        .benchmark
        .samples
        .iter()
        .filter(|sample| sample.task == omnireward_shared::Task::TextToText)
        .count();
    assert!(served_t2t > 0);
    assert!(script.lock().expect("script lock").seen.len() >= served_t2t);

    // The same submission now queues a resume of the same run, with nothing left to judge.
    let again = submit(&app.router, &body).await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.text());
    assert_eq!(ids(&again).1, run);
}

/// A submission whose endpoint refuses every request ends `failed` with the endpoint's status and
/// answer as its error, in the API and on the submission page (it used to end with no error).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_submission_shows_the_endpoints_error() {
    let app = test_app(true).await;
    // 400 is not retried, so the job fails at once.
    let server = support::stub_servers::start_failing_with(
        StatusCode::BAD_REQUEST,
        "quota exceeded for this project",
    )
    .await;
    let mut body = submission(&server.endpoint, "judge-under-test");
    body["tasks"] = json!(["T2T"]);
    let created = submit(&app.router, &body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let (job, _) = ids(&created);
    let context = worker_context(app.home.path());
    let summary = run_worker(
        app.storage.clone(),
        &context,
        "worker-1",
        Arc::new(AtomicBool::new(false)),
    )
    .await
    .expect("the worker runs");
    assert_eq!((summary.claimed, summary.ended), (1, 1));
    assert!(server.hits() > 0);

    let view = get(&app.router, &format!("/api/v1/submissions/{job}"))
        .await
        .json();
    assert_eq!(view["status"], "failed", "{view}");
    let error = view["error"].as_str().expect("the submission has an error");
    assert!(
        error.contains("HTTP 400: quota exceeded for this project"),
        "{error}"
    );
    let page = get(&app.router, &format!("/submissions/{job}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.text()
            .contains("HTTP 400: quota exceeded for this project"),
        "{}",
        page.text()
    );
}

/// A key sent with a submission reaches the judge's endpoint through the server's own worker,
/// and appears in no response, in no database file, and in no judgements file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_sent_with_a_submission_is_used_and_never_stored() {
    const KEY: &str = "sk-e2e-SECRET-7f3a9c";
    const MODEL: &str = "keyed-judge";
    let home = TempDir::new().expect("temporary home");
    let storage = Storage::open(&home.path().join("omnireward.sqlite"))
        .await
        .expect("opens the database");
    let benchmark = Arc::new(
        embedded::load(&home.path().join("cache"), &LoadOptions::default())
            .expect("embedded sample loads"),
    );
    let vault = KeyVault::new();
    let router = app(AppState::new(storage.clone(), Arc::clone(&benchmark))
        .with_private_endpoints(true)
        .with_key_vault(vault.clone()));
    let script = Arc::new(Mutex::new(support::identities::script_for(
        home.path(),
        MODEL,
        &benchmark.samples,
    )));
    let endpoint = support::openai_server::start(Arc::clone(&script)).await;
    let mut responses = Vec::new();

    // Refused shapes never echo the value.
    let mut both = submission(&endpoint, MODEL);
    both["api_key"] = json!(KEY);
    both["api_key_env"] = json!("OMNIREWARD_KEY_OTHER");
    let refused = submit(&router, &both).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    responses.push(refused.text());
    let mut forged = submission(&endpoint, MODEL);
    forged["api_key_env"] = json!("OMNIREWARD_KEY_HELD_0123456789abcdef0123456789abcdef");
    let refused = submit(&router, &forged).await;
    assert_eq!(
        refused.status,
        StatusCode::BAD_REQUEST,
        "a held reference cannot be named"
    );
    assert!(vault.is_empty(), "refused submissions hold no key");

    let mut body = submission(&endpoint, MODEL);
    body["api_key"] = json!(KEY);
    body["tasks"] = json!(["T2T"]);
    let created = submit(&router, &body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    assert_eq!(vault.len(), 1);
    let (job, run) = ids(&created);
    responses.push(created.text());

    let context = WorkerContext {
        api_keys: vault.lookup(Arc::new(|_| None)),
        ..worker_context(home.path())
    };
    let summary = run_worker(
        storage.clone(),
        &context,
        "worker-1",
        Arc::new(AtomicBool::new(false)),
    )
    .await
    .expect("the worker runs");
    assert_eq!((summary.claimed, summary.ended), (1, 1));
    let submission_view = get(&router, &format!("/api/v1/submissions/{job}")).await;
    assert_eq!(
        submission_view.json()["status"],
        "finished",
        "{}",
        submission_view.text()
    );
    assert_eq!(
        script.lock().expect("script lock").authorizations,
        std::collections::BTreeSet::from([format!("Bearer {KEY}")]),
        "the endpoint saw the key"
    );
    for uri in [
        format!("/api/v1/submissions/{job}"),
        "/api/v1/submissions".to_owned(),
        format!("/api/v1/runs/{run}"),
        format!("/api/v1/runs/{run}/judgements?per_page=100"),
        "/api/v1/leaderboard".to_owned(),
    ] {
        responses.push(get(&router, &uri).await.text());
    }
    for text in &responses {
        assert!(!text.contains(KEY), "a response carries the key: {text}");
    }
    storage.close().await;
    let mut files = vec![home.path().to_path_buf()];
    let mut searched = 0;
    while let Some(path) = files.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).expect("lists a folder") {
                files.push(entry.expect("an entry").path());
            }
        } else {
            let bytes = std::fs::read(&path).expect("reads a file");
            searched += 1;
            assert!(
                !bytes
                    .windows(KEY.len())
                    .any(|window| window == KEY.as_bytes()),
                "{} holds the key",
                path.display()
            );
        }
    }
    assert!(
        searched >= 2,
        "the database and the judgements file were searched"
    );
}
