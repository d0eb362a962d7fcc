//! Submissions of checkpoints named by Hub repository, against the fake Hub: refused from the
//! file list (pickles, unsupported architecture, too many bytes) before any download, a token in
//! the body refused, and one submission run by a worker (which fetches the commit into its
//! cache) to a leaderboard row.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use omnireward::http::HubSubmissions;
use omnireward::hub::{HubClient, HubSettings, HubToken};
use omnireward::queue::worker::{WorkerContext, run_worker};
use serde_json::{Value, json};

use crate::support::fake_hub::{FakeHub, FakeRepo};
use crate::support::test_app::{Reply, TestApp, get, send, worker_context};

fn bert_tiny() -> FakeRepo {
    FakeRepo::new("models", "org/bert-tiny").with_folder(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("local-judge/tests/fixtures/bert-tiny"),
        "",
    )
}

fn settings(hub: &FakeHub) -> HubSettings {
    HubSettings {
        endpoint: hub.base.clone(),
        token: None,
        hf_home: None,
    }
}

async fn app_over(hub: &FakeHub, max_bytes: u64) -> TestApp {
    let client = HubClient::new(settings(hub)).expect("a client");
    TestApp::start(true, move |state, home| {
        state.with_hub(HubSubmissions {
            client,
            max_bytes,
            cache_dir: home.join("cache"),
        })
    })
    .await
}

async fn submit(app: &TestApp, body: &Value) -> Reply {
    send(
        &app.router,
        Request::post("/api/v1/submissions")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .expect("a request"),
    )
    .await
}

#[tokio::test]
async fn repositories_are_refused_from_their_file_list_before_any_download() {
    let mut unsupported = bert_tiny();
    unsupported.id = "org/unsupported".to_owned();
    unsupported.files.insert(
        "config.json".to_owned(),
        br#"{"architectures": ["LlamaForCausalLM"]}"#.to_vec(),
    );
    // Small enough to pass the size check, so that the architecture is what refuses it.
    unsupported
        .files
        .insert("model.safetensors".to_owned(), vec![0; 2048]);
    let mut pickled = bert_tiny().with_file("pytorch_model.bin", vec![0x80; 4096]);
    pickled.id = "org/pickled".to_owned();
    let hub = FakeHub::start(vec![pickled, unsupported, bert_tiny()], None).await;
    let app = app_over(&hub, 50_000).await;

    let reply = submit(
        &app,
        &json!({"kind": "hub_checkpoint", "repository": "org/pickled"}),
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.text()
    );
    assert!(
        reply.text().contains("pytorch_model.bin"),
        "{}",
        reply.text()
    );

    // bert-tiny's weights alone are over 100 KB.
    let reply = submit(
        &app,
        &json!({"kind": "hub_checkpoint", "repository": "org/bert-tiny"}),
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.text()
    );
    assert!(reply.text().contains("limit of 50000"), "{}", reply.text());
    assert!(hub.downloads().is_empty(), "{:?}", hub.downloads());

    let reply = submit(
        &app,
        &json!({"kind": "hub_checkpoint", "repository": "org/unsupported"}),
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.text()
    );
    assert!(
        reply.text().contains("LlamaForCausalLM"),
        "{}",
        reply.text()
    );
    let downloads: Vec<String> = hub.downloads().into_iter().map(|seen| seen.path).collect();
    assert_eq!(
        downloads.len(),
        1,
        "only config.json is read: {downloads:?}"
    );
    assert!(downloads[0].ends_with("/config.json"));

    let reply = submit(
        &app,
        &json!({"kind": "hub_checkpoint", "repository": "org/missing"}),
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.text()
    );
    assert!(reply.text().contains("org/missing"), "{}", reply.text());

    let reply = submit(
        &app,
        &json!({"kind": "hub_checkpoint", "repository": "org/bert-tiny", "hf_token": "hf_leak"}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text());
    assert!(!reply.text().contains("hf_leak"), "{}", reply.text());
    let reply = submit(
        &app,
        &json!({"kind": "hub_checkpoint", "repository": "../etc"}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text());
    assert!(app.storage.jobs().await.expect("lists").is_empty());
}

#[tokio::test]
async fn a_submission_by_repository_goes_through_the_queue_to_a_leaderboard_row() {
    let hub = FakeHub::start(vec![bert_tiny()], None).await;
    let app = app_over(&hub, 10_000_000).await;
    let body = json!({
        "kind": "hub_checkpoint",
        "repository": "org/bert-tiny",
        "revision": "main",
        "name": "bert-tiny from the Hub",
        "tasks": ["T2T"],
    });
    let created = submit(&app, &body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let (submission, run) = created.ids();
    assert!(
        hub.downloads()
            .iter()
            .all(|seen| seen.path.ends_with("/config.json")),
        "the submission downloads nothing but config.json: {:?}",
        hub.downloads()
    );
    let context = WorkerContext {
        hub: settings(&hub),
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
    let job = get(&app.router, &format!("/api/v1/submissions/{submission}")).await;
    assert_eq!(job.json()["status"], "finished", "{}", job.text());
    let record = get(&app.router, &format!("/api/v1/runs/{run}"))
        .await
        .json();
    let identity = &record["configuration"]["identity"];
    assert_eq!(identity["judge"], "hub_checkpoint", "{record}");
    assert_eq!(identity["repository"], "org/bert-tiny");
    assert_eq!(identity["commit"], bert_tiny().commit.as_str());
    assert!(
        app.home
            .path()
            .join("cache/hub/models/org--bert-tiny")
            .join(&bert_tiny().commit)
            .join("model.safetensors")
            .is_file(),
        "the worker fetched the commit into the shared cache"
    );
    let board = get(
        &app.router,
        "/api/v1/leaderboard?setting=with_ties&type=scalar_reward_model",
    )
    .await;
    assert_eq!(board.status, StatusCode::OK, "{}", board.text());
    let rows = board.json()["rows"].clone();
    assert!(
        rows.as_array()
            .expect("rows")
            .iter()
            .any(|row| row["model"] == "bert-tiny from the Hub" && row["run"] == run),
        "{rows}"
    );

    // The same repository and revision again: the same commit, the same finished run.
    let again = submit(&app, &body).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text());
    assert_eq!(again.ids(), (submission, run));
}

#[tokio::test]
async fn the_submit_page_takes_a_repository_and_shows_the_hub_s_refusal() {
    let hub = FakeHub::start(vec![bert_tiny()], None).await;
    let app = app_over(&hub, 10_000_000).await;
    let page = get(&app.router, "/submit").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("id=\"hub-form\""), "{}", page.text());
    let post = |form: &'static str| {
        Request::post("/submit/hub")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form))
            .expect("a request")
    };
    let refused = send(
        &app.router,
        post("repository=org%2Fmissing&revision=&name="),
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.text().contains("id=\"hub-error\""),
        "{}",
        refused.text()
    );
    assert!(refused.text().contains("org/missing"), "{}", refused.text());

    let accepted = send(
        &app.router,
        post("repository=org%2Fbert-tiny&revision=main&name=tiny+from+the+form"),
    )
    .await;
    assert_eq!(
        accepted.status,
        StatusCode::SEE_OTHER,
        "{}",
        accepted.text()
    );
    assert!(accepted.header("location").starts_with("/submissions/"));
    let jobs = app.storage.jobs().await.expect("lists");
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].specification["model"], "tiny from the form");
    assert_eq!(jobs[0].specification["hub"]["repository"], "org/bert-tiny");
}

#[tokio::test]
async fn a_worker_refuses_weights_that_do_not_match_the_hub_s_hash_and_keeps_none() {
    let hub = FakeHub::start(vec![bert_tiny()], None).await;
    let app = app_over(&hub, 10_000_000).await;
    let body = json!({"kind": "hub_checkpoint", "repository": "org/bert-tiny", "tasks": ["T2T"]});
    let created = submit(&app, &body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let (submission, _) = created.ids();
    hub.corrupt("model.safetensors");
    let context = WorkerContext {
        hub: settings(&hub),
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
    let job = get(&app.router, &format!("/api/v1/submissions/{submission}"))
        .await
        .json();
    assert_eq!(job["status"], "failed", "{job}");
    let error = job["error"].as_str().expect("an error");
    assert!(
        error.contains("model.safetensors") && error.contains("SHA-256"),
        "{error}"
    );
    let folder = app
        .home
        .path()
        .join("cache/hub/models/org--bert-tiny")
        .join(&bert_tiny().commit);
    assert!(!folder.join("model.safetensors").exists());
    assert!(!folder.join("model.safetensors.partial").exists());
    assert!(!folder.join(".omnireward-hub.json").exists());
}

#[tokio::test]
async fn private_repositories_are_read_with_the_server_s_own_token() {
    let mut private = bert_tiny();
    private.private = true;
    let hub = FakeHub::start(vec![private], Some("hf_server_token")).await;
    let body = json!({"kind": "hub_checkpoint", "repository": "org/bert-tiny", "tasks": ["T2T"]});

    let without_token = app_over(&hub, 10_000_000).await;
    let refused = submit(&without_token, &body).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.text()
    );
    assert!(refused.text().contains("HF_TOKEN"), "{}", refused.text());

    let client = HubClient::new(HubSettings {
        token: HubToken::new("hf_server_token"),
        ..settings(&hub)
    })
    .expect("a client");
    let with_token = TestApp::start(false, move |state, home| {
        state.with_hub(HubSubmissions {
            client,
            max_bytes: 10_000_000,
            cache_dir: home.join("cache"),
        })
    })
    .await;
    let created = submit(&with_token, &body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let jobs = with_token.storage.jobs().await.expect("lists");
    assert!(
        !jobs[0]
            .specification
            .to_string()
            .contains("hf_server_token"),
        "the token is not stored with the job"
    );
    assert!(!created.text().contains("hf_server_token"));
}
