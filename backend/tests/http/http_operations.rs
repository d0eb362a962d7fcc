//! The operations side of the HTTP API, in process through `app(state)` with `oneshot` on a real
//! SQLite file: the OpenAPI document (every routed path documented, responses matching their
//! schemas) and its HTML page, the metrics, run event streams, the admin routes and the
//! per-submitter submission limit.

use crate::support::test_app::{Reply, TestApp, read};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode, header};
use omnireward::evaluation::runs::record_benchmark;
use omnireward::http::{AdminToken, SubmissionLimit, app};
use omnireward::storage::{JobKind, ModelKind, NewModel, NewRun, Provenance, RunId, RunStatus};
use omnireward_shared::{Judgement, Order, Rewards, Setting, Verdict};
use serde_json::{Value, json};
use tower::ServiceExt as _;

const TOKEN: &str = "correct horse battery staple";
const PUBLIC_ENDPOINT: &str = "https://api.example.com/v1";

/// A database with the paper's results and the embedded sample benchmark served.
async fn test_app() -> TestApp {
    TestApp::start(true, |state, _| state).await
}

/// One request: `headers` are added as given; a body is sent as JSON.
async fn send(
    router: &Router,
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Reply {
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if body.is_some() {
        request = request.header(header::CONTENT_TYPE, "application/json");
    }
    let request = request
        .body(body.map_or_else(Body::empty, |body| Body::from(body.to_string())))
        .expect("request");
    crate::support::test_app::send(router, request).await
}

async fn get(router: &Router, uri: &str) -> Reply {
    send(router, Method::GET, uri, &[], None).await
}

async fn admin(router: &Router, method: Method, uri: &str, body: Option<Value>) -> Reply {
    let authorization = format!("Bearer {TOKEN}");
    send(
        router,
        method,
        uri,
        &[("authorization", authorization.as_str())],
        body,
    )
    .await
}

fn submission(model: &str) -> Value {
    json!({
        "kind": "api_judge",
        "endpoint": PUBLIC_ENDPOINT,
        "model": model,
        "settings": "both",
        "swap": false,
    })
}

/// A submission sent from `address`, as the server's connection info would give it.
async fn submit_from(router: &Router, address: [u8; 4], headers: &[(&str, &str)]) -> Reply {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/submissions")
        .header(header::CONTENT_TYPE, "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut request = request
        .body(Body::from(submission("judge").to_string()))
        .expect("request");
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((address, 40_000))));
    crate::support::test_app::send(router, request).await
}

fn judgement(sample: &omnireward_shared::Sample, setting: Setting, rewards: [f64; 2]) -> Judgement {
    Judgement {
        task: sample.task,
        sample_id: sample.id.clone(),
        setting,
        order: Order::Original,
        raw_output: None,
        rewards: Some(Rewards {
            response1: rewards[0],
            response2: rewards[1],
        }),
        verdict: Some(if rewards[0] >= rewards[1] {
            Verdict::Response1
        } else {
            Verdict::Response2
        }),
        label: sample.label,
        attempts: None,
        input_tokens: None,
        output_tokens: None,
        latency_ms: None,
    }
}

/// An evaluated run of a scalar reward model on the served benchmark, with `status`.
async fn evaluated_run(test: &TestApp, name: &str, status: RunStatus) -> RunId {
    let benchmark = record_benchmark(&test.storage, &test.benchmark)
        .await
        .expect("records the benchmark");
    let model = test
        .storage
        .upsert_model(&NewModel::named(name, ModelKind::ScalarRewardModel))
        .await
        .expect("stores the model");
    test.storage
        .create_run(&NewRun {
            model,
            benchmark: Some(benchmark),
            status,
            provenance: Provenance::Evaluated,
            configuration: json!({ "identity": { "judge": name } }),
        })
        .await
        .expect("creates the run")
}

/// The run of one paper-reported leaderboard row (the paper's rows are on the release).
async fn paper_run(router: &Router) -> i64 {
    get(router, "/api/v1/leaderboard?benchmark=omni-rewardbench")
        .await
        .json()["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|row| row["provenance"] == "paper_reported")
        .and_then(|row| row["run"].as_i64())
        .expect("a paper-reported row")
}

/// Every path literal given to `.route(` in the API sources of the HTTP layer.
fn routed_paths() -> BTreeSet<String> {
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
    let mut paths = BTreeSet::new();
    for entry in std::fs::read_dir(&folder).expect("lists src/http") {
        let path = entry.expect("entry").path();
        // The web app's pages (`web.rs`) are HTML for people, not part of the API document.
        if path.extension().is_none_or(|extension| extension != "rs")
            || path.file_name().is_some_and(|name| name == "web.rs")
        {
            continue;
        }
        let source = std::fs::read_to_string(&path).expect("reads a source file");
        for (position, _) in source.match_indices(".route(") {
            let rest = &source[position + ".route(".len()..];
            let Some(start) = rest.find('"') else {
                continue;
            };
            // Only a literal as the first argument.
            if !rest[..start].trim().is_empty() {
                continue;
            }
            let literal = &rest[start + 1..];
            let end = literal.find('"').expect("a closed literal");
            paths.insert(literal[..end].to_owned());
        }
    }
    paths
}

#[tokio::test]
async fn every_routed_path_is_documented_and_every_documented_route_is_served() {
    let test = test_app().await;
    let router = app(test.state().with_admin_token(AdminToken::new(TOKEN)));
    let reply = get(&router, "/api/v1/openapi.json").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.headers[header::CONTENT_TYPE], "application/json");
    let document = reply.json();
    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|version| version.starts_with("3."))
    );
    let documented: BTreeSet<String> = document["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .cloned()
        .collect();
    let routed = routed_paths();
    assert!(routed.len() >= 20, "found only {routed:?}");
    for path in &routed {
        assert!(
            documented.contains(&format!("/api/v1{path}")) || documented.contains(path),
            "`{path}` is routed but not in the OpenAPI document"
        );
    }
    // The other way: each documented operation reaches a handler (no fallback 404, no 405).
    for (path, item) in document["paths"].as_object().expect("paths") {
        let concrete = path
            .replace("{task}", "T2T")
            .replace("{field}", "response1")
            .replace("{id}", "1");
        for method in item.as_object().expect("path item").keys() {
            let method: Method = method.to_uppercase().parse().expect("a method");
            let reply = admin(&router, method.clone(), &concrete, None).await;
            assert_ne!(
                reply.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {concrete}"
            );
            assert!(
                !reply.text().contains("no API route matches"),
                "{method} {concrete} is documented but not routed"
            );
        }
    }
}

/// Checks `value` against `schema`, resolving references in `document`; returns the problems.
fn check(document: &Value, schema: &Value, value: &Value, at: &str, problems: &mut Vec<String>) {
    check_part(document, schema, value, at, true, problems);
}

/// Like [`check`]; `strict` refuses properties the schema does not name (off inside `allOf`,
/// where the parts together name them).
fn check_part(
    document: &Value,
    schema: &Value,
    value: &Value,
    at: &str,
    strict: bool,
    problems: &mut Vec<String>,
) {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().expect("a name");
        let target = &document["components"]["schemas"][name];
        assert!(!target.is_null(), "dangling reference {reference}");
        return check_part(document, target, value, at, strict, problems);
    }
    if let Some(parts) = schema["allOf"].as_array() {
        for part in parts {
            check_part(document, part, value, at, false, problems);
        }
        if let Some(object) = value.as_object()
            && strict
        {
            let named = property_names(document, schema);
            for name in object.keys().filter(|name| !named.contains(*name)) {
                problems.push(format!("{at}: `{name}` is not documented"));
            }
        }
    }
    for alternatives in ["oneOf", "anyOf"] {
        if let Some(parts) = schema[alternatives].as_array() {
            let fits = parts.iter().any(|part| {
                let mut inner = Vec::new();
                check_part(document, part, value, at, strict, &mut inner);
                inner.is_empty()
            });
            if !fits {
                problems.push(format!("{at}: {value} fits none of {alternatives}"));
            }
        }
    }
    if let Some(values) = schema["enum"].as_array()
        && !values.contains(value)
    {
        problems.push(format!("{at}: {value} is not one of {values:?}"));
    }
    let kinds: Vec<&str> = match &schema["type"] {
        Value::String(kind) => vec![kind.as_str()],
        Value::Array(kinds) => kinds.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !kinds.is_empty() {
        let actual = match value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(number) if number.is_i64() || number.is_u64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        let fits = kinds.contains(&actual) || (actual == "integer" && kinds.contains(&"number"));
        if !fits {
            problems.push(format!("{at}: {actual} where {kinds:?} is documented"));
            return;
        }
    }
    if let (Some(items), Some(elements)) = (schema.get("items"), value.as_array()) {
        for (index, element) in elements.iter().enumerate() {
            check(
                document,
                items,
                element,
                &format!("{at}[{index}]"),
                problems,
            );
        }
    }
    if let Some(object) = value.as_object() {
        let properties = schema["properties"].as_object();
        for required in schema["required"].as_array().into_iter().flatten() {
            let name = required.as_str().expect("a name");
            if !object.contains_key(name) {
                problems.push(format!("{at}: required `{name}` is missing"));
            }
        }
        for (name, field) in object {
            match properties.and_then(|properties| properties.get(name)) {
                Some(property) => {
                    check(document, property, field, &format!("{at}.{name}"), problems);
                }
                None => {
                    if let Some(values) = schema.get("additionalProperties")
                        && values.is_object()
                    {
                        check(document, values, field, &format!("{at}.{name}"), problems);
                    } else if strict && properties.is_some() {
                        problems.push(format!("{at}: `{name}` is not documented"));
                    }
                }
            }
        }
    }
}

/// The property names a schema's object may have, through references and `allOf`.
fn property_names(document: &Value, schema: &Value) -> BTreeSet<String> {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().expect("a name");
        return property_names(document, &document["components"]["schemas"][name]);
    }
    let mut names: BTreeSet<String> = schema["properties"]
        .as_object()
        .map(|properties| properties.keys().cloned().collect())
        .unwrap_or_default();
    for part in schema["allOf"].as_array().into_iter().flatten() {
        names.extend(property_names(document, part));
    }
    names
}

/// Asserts the reply's body fits the documented schema of `path`'s `method` for its status.
fn assert_documented(document: &Value, method: &str, path: &str, reply: &Reply) {
    let status = reply.status.as_str();
    let schema = &document["paths"][path][method]["responses"][status]["content"]["application/json"]
        ["schema"];
    assert!(
        !schema.is_null(),
        "no JSON schema documented for {method} {path} {status}"
    );
    let mut problems = Vec::new();
    check(document, schema, &reply.json(), "$", &mut problems);
    assert!(
        problems.is_empty(),
        "{method} {path} {status}:\n{}",
        problems.join("\n")
    );
}

#[tokio::test]
async fn responses_match_their_documented_schemas() {
    let test = test_app().await;
    let finished = evaluated_run(&test, "scored", RunStatus::Running).await;
    let samples: Vec<_> = test.benchmark.samples.iter().take(6).collect();
    let judgements: Vec<Judgement> = samples
        .iter()
        .enumerate()
        .map(|(index, sample)| judgement(sample, Setting::WithTies, [index as f64, 2.5]))
        .collect();
    test.storage
        .record_judgements(finished, &judgements)
        .await
        .expect("records");
    test.storage
        .set_run_status(finished, RunStatus::Finished)
        .await
        .expect("finishes");
    let router = app(test
        .state()
        .with_admin_token(AdminToken::new(TOKEN))
        .with_approval_required(true));
    let document = get(&router, "/api/v1/openapi.json").await.json();
    let rescored = admin(
        &router,
        Method::POST,
        &format!("/api/v1/admin/runs/{}/rescore", finished.0),
        Some(json!({ "tie_threshold": 0.5 })),
    )
    .await;
    assert_eq!(rescored.status, StatusCode::OK, "{}", rescored.text());
    assert_documented(
        &document,
        "post",
        "/api/v1/admin/runs/{id}/rescore",
        &rescored,
    );
    let submitted = send(
        &router,
        Method::POST,
        "/api/v1/submissions",
        &[],
        Some(submission("documented")),
    )
    .await;
    assert_documented(&document, "post", "/api/v1/submissions", &submitted);
    let model = get(&router, &format!("/api/v1/runs/{}", finished.0))
        .await
        .json()["model"]["id"]
        .clone();
    let paper_run = paper_run(&router).await;
    for (path, uri) in [
        ("/api/v1/leaderboard", "/api/v1/leaderboard".to_owned()),
        (
            "/api/v1/leaderboard",
            "/api/v1/leaderboard?modality=image&setting=without_ties".to_owned(),
        ),
        ("/api/v1/tasks", "/api/v1/tasks".to_owned()),
        ("/api/v1/samples", "/api/v1/samples?per_page=100".to_owned()),
        (
            "/api/v1/samples/{task}/{id}",
            format!(
                "/api/v1/samples/{}/{}",
                test.benchmark.samples[0].task.key(),
                test.benchmark.samples[0].id
            ),
        ),
        ("/api/v1/runs/{id}", format!("/api/v1/runs/{}", finished.0)),
        ("/api/v1/runs/{id}", format!("/api/v1/runs/{paper_run}")),
        (
            "/api/v1/runs/{id}/judgements",
            format!("/api/v1/runs/{}/judgements", finished.0),
        ),
        ("/api/v1/models/{id}", format!("/api/v1/models/{model}")),
        ("/api/v1/submissions", "/api/v1/submissions".to_owned()),
        (
            "/api/v1/submissions/{id}",
            "/api/v1/submissions/1".to_owned(),
        ),
        ("/api/v1/runs/{id}", "/api/v1/runs/999999".to_owned()),
        ("/api/v1/samples", "/api/v1/samples?task=nope".to_owned()),
    ] {
        let reply = get(&router, &uri).await;
        assert_documented(&document, "get", path, &reply);
    }
    let approved = admin(
        &router,
        Method::POST,
        "/api/v1/admin/submissions/1/approve",
        None,
    )
    .await;
    assert_documented(
        &document,
        "post",
        "/api/v1/admin/submissions/{id}/approve",
        &approved,
    );
    let cancelled = send(
        &router,
        Method::POST,
        "/api/v1/submissions/1/cancel",
        &[],
        None,
    )
    .await;
    assert_documented(
        &document,
        "post",
        "/api/v1/submissions/{id}/cancel",
        &cancelled,
    );
    let deleted = admin(
        &router,
        Method::DELETE,
        &format!("/api/v1/admin/runs/{}", finished.0),
        None,
    )
    .await;
    assert_documented(&document, "delete", "/api/v1/admin/runs/{id}", &deleted);
}

#[tokio::test]
async fn the_docs_page_is_self_contained_html_of_the_document() {
    let test = test_app().await;
    let router = app(test.state());
    let reply = get(&router, "/api/v1/docs").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        reply.headers[header::CONTENT_TYPE]
            .to_str()
            .expect("text")
            .starts_with("text/html")
    );
    for expected in [
        "<code>/api/v1/leaderboard</code>",
        "<code>/api/v1/runs/{id}/events</code>",
        "<code>/api/v1/admin/runs/{id}/rescore</code>",
        "<code>/metrics</code>",
        "id=\"schema-SubmissionView\"",
        "<code>per_page</code>",
    ] {
        assert!(reply.text().contains(expected), "missing {expected}");
    }
    for external in ["<script", "<link", "src=\"http", "@import"] {
        assert!(!reply.text().contains(external), "found {external}");
    }
}

/// The value of the exposition line that starts with `series` (name and labels).
fn sample_value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.parse().ok())
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_read_the_queue() {
    let test = test_app().await;
    let router = app(test.state());
    for _ in 0..3 {
        assert_eq!(get(&router, "/api/v1/tasks").await.status, StatusCode::OK);
    }
    get(&router, "/api/v1/runs/999999").await;
    get(&router, "/api/v1/no-such-thing").await;
    let purge = Method::from_bytes(b"PURGE").expect("an extension method");
    send(&router, purge, "/api/v1/no-such-thing", &[], None).await;
    let demo = send(
        &router,
        Method::POST,
        "/api/v1/score",
        &[],
        Some(json!({"criterion": "c", "prompt": "p", "response1": "a", "response2": "b"})),
    )
    .await;
    assert_eq!(demo.status, StatusCode::SERVICE_UNAVAILABLE);
    send(
        &router,
        Method::POST,
        "/api/v1/submissions",
        &[],
        Some(submission("metered")),
    )
    .await;

    let reply = get(&router, "/metrics").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.headers[header::CONTENT_TYPE],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = &reply.text();
    let requests = |route: &str, method: &str, class: &str| {
        sample_value(
            text,
            &format!(
                "omnireward_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{class}\"}}"
            ),
        )
    };
    assert_eq!(requests("/api/v1/tasks", "GET", "2xx"), Some(3.0), "{text}");
    assert_eq!(requests("/api/v1/runs/{id}", "GET", "4xx"), Some(1.0));
    assert_eq!(requests("unmatched", "GET", "4xx"), Some(1.0));
    // Extension methods share one label.
    assert_eq!(requests("unmatched", "OTHER", "4xx"), Some(1.0));
    assert_eq!(requests("/api/v1/submissions", "POST", "2xx"), Some(1.0));
    assert_eq!(
        sample_value(
            text,
            "omnireward_http_request_duration_seconds_count{route=\"/api/v1/tasks\"}"
        ),
        Some(3.0)
    );
    assert_eq!(
        sample_value(
            text,
            "omnireward_http_request_duration_seconds_bucket{route=\"/api/v1/tasks\",le=\"+Inf\"}"
        ),
        Some(3.0)
    );
    assert_eq!(
        sample_value(text, "omnireward_score_requests_total"),
        Some(1.0)
    );
    assert_eq!(
        sample_value(
            text,
            "omnireward_score_refusals_total{reason=\"unavailable\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample_value(text, "omnireward_jobs{status=\"queued\"}"),
        Some(1.0)
    );
    // The paper's 37 reference runs are stored finished.
    let finished = sample_value(text, "omnireward_runs{status=\"finished\"}").expect("runs");
    assert_eq!(
        sample_value(text, "omnireward_runs_finished"),
        Some(finished)
    );
    let started = sample_value(text, "process_start_time_seconds").expect("start time");
    assert!(started > 1.7e9, "{started}");

    // Counters move: the scrape itself is counted by the next one.
    let again = get(&router, "/metrics").await.text();
    assert_eq!(
        sample_value(
            &again,
            "omnireward_http_requests_total{route=\"/metrics\",method=\"GET\",status=\"2xx\"}"
        ),
        Some(1.0)
    );
}

/// The (event, data) pairs of a server-sent events body, comments left out.
fn events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter_map(|block| {
            let mut name = None;
            let mut data = None;
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("event:") {
                    name = Some(value.trim().to_owned());
                } else if let Some(value) = line.strip_prefix("data:") {
                    data = Some(value.trim().to_owned());
                }
            }
            Some((name?, serde_json::from_str(&data?).ok()?))
        })
        .collect()
}

#[tokio::test]
async fn run_events_follow_a_run_until_it_finishes() {
    let test = test_app().await;
    let run = evaluated_run(&test, "streamed", RunStatus::Queued).await;
    test.storage
        .enqueue_job(
            run,
            JobKind::ApiJudge,
            &json!({ "settings": ["with_ties"], "swap": true }),
        )
        .await
        .expect("enqueues");
    let router = app(test.state().with_event_interval(Duration::from_millis(20)));
    assert_eq!(
        get(&router, "/api/v1/runs/999999/events").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&router, "/api/v1/runs/abc/events").await.status,
        StatusCode::NOT_FOUND
    );

    let request = Request::builder()
        .uri(format!("/api/v1/runs/{}/events", run.0))
        .body(Body::empty())
        .expect("request");
    let response = router.clone().oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/event-stream"
    );
    let storage = test.storage.clone();
    let samples: Vec<_> = test.benchmark.samples.iter().take(3).cloned().collect();
    let judge = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        storage
            .set_run_status(run, RunStatus::Running)
            .await
            .expect("runs");
        for sample in &samples {
            tokio::time::sleep(Duration::from_millis(60)).await;
            storage
                .record_judgements(run, &[judgement(sample, Setting::WithTies, [1.0, 0.0])])
                .await
                .expect("records");
        }
        tokio::time::sleep(Duration::from_millis(60)).await;
        storage
            .set_run_status(run, RunStatus::Finished)
            .await
            .expect("finishes");
    });
    // The body ends by itself once the run is finished.
    let body = read(response).await.text();
    judge.await.expect("the judging task ends");
    let events = events(&body);
    let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names.first(), Some(&"progress"), "{body}");
    assert_eq!(names.last(), Some(&"end"), "{body}");
    let (_, first) = &events[0];
    let planned = 2 * test.benchmark.samples.len() as u64;
    assert_eq!(first["status"], "queued");
    assert_eq!(first["judged"], 0);
    assert_eq!(first["total"], planned);
    assert_eq!(first["settings"]["with_ties"]["total"], planned);
    assert_eq!(first["settings"]["without_ties"]["total"], 0);
    let statuses: Vec<(&str, &str)> = events
        .iter()
        .filter(|(name, _)| name == "status")
        .map(|(_, data)| {
            (
                data["previous"].as_str().expect("previous"),
                data["status"].as_str().expect("status"),
            )
        })
        .collect();
    assert_eq!(statuses, [("queued", "running"), ("running", "finished")]);
    let judged: Vec<u64> = events
        .iter()
        .filter(|(name, _)| name == "progress")
        .filter_map(|(_, data)| data["judged"].as_u64())
        .collect();
    assert!(
        judged.windows(2).all(|pair| pair[0] <= pair[1]),
        "{judged:?}"
    );
    assert_eq!(judged.last(), Some(&3));
    let (_, end) = events.last().expect("an end");
    assert_eq!(end["status"], "finished");
    assert_eq!(end["settings"], Value::Null);
}

#[tokio::test]
async fn admin_routes_are_hidden_without_a_token_and_need_it_with_one() {
    let test = test_app().await;
    let hidden = app(test.state());
    let unknown = get(&hidden, "/api/v1/no-such-route").await;
    let reply = admin(&hidden, Method::DELETE, "/api/v1/admin/runs/1", None).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.error_code(), unknown.error_code());
    assert!(
        reply
            .text()
            .contains("no API route matches `/api/v1/admin/runs/1`")
    );

    let router = app(test.state().with_admin_token(AdminToken::new(TOKEN)));
    for headers in [
        vec![],
        vec![("authorization", "Bearer wrong")],
        vec![("authorization", TOKEN)],
    ] {
        let reply = send(
            &router,
            Method::POST,
            "/api/v1/admin/runs/1/rescore",
            &headers,
            None,
        )
        .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{headers:?}");
        assert_eq!(reply.error_code(), "unauthorized");
        assert_eq!(reply.headers[header::WWW_AUTHENTICATE], "Bearer");
        assert!(!reply.text().contains(TOKEN));
    }
    let lower_case = format!("bearer {TOKEN}");
    let reply = send(
        &router,
        Method::DELETE,
        "/api/v1/admin/runs/999999",
        &[("authorization", lower_case.as_str())],
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.text());
    assert!(reply.text().contains("run 999999 does not exist"));
}

#[tokio::test]
async fn submissions_wait_for_approval_when_the_server_requires_it() {
    let test = test_app().await;
    let router = app(test
        .state()
        .with_admin_token(AdminToken::new(TOKEN))
        .with_approval_required(true));
    let first = send(
        &router,
        Method::POST,
        "/api/v1/submissions",
        &[],
        Some(submission("a")),
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text());
    let first = first.json();
    assert_eq!(first["approval"], "pending");
    assert_eq!(first["status"], "queued");
    assert_eq!(first["position"], Value::Null);
    let first = first["submission"].as_i64().expect("id");
    // Workers see nothing to claim until it is approved.
    assert_eq!(
        test.storage.claim_job("worker").await.expect("claims"),
        None
    );
    let shown = get(&router, &format!("/api/v1/submissions/{first}"))
        .await
        .json();
    assert_eq!(
        (shown["approval"].as_str(), shown["position"].as_u64()),
        (Some("pending"), None)
    );

    let approve = format!("/api/v1/admin/submissions/{first}/approve");
    let approved = admin(&router, Method::POST, &approve, None).await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.text());
    assert_eq!(
        approved.json(),
        json!({"submission": first, "approval": "approved", "status": "queued"})
    );
    let again = admin(&router, Method::POST, &approve, None).await;
    assert_eq!(
        (again.status, again.error_code()),
        (StatusCode::CONFLICT, "conflict".to_owned())
    );
    let listed = get(&router, "/api/v1/submissions").await.json();
    assert_eq!(listed["items"][0]["approval"], "approved");
    assert_eq!(listed["items"][0]["position"], 1);

    let second = send(
        &router,
        Method::POST,
        "/api/v1/submissions",
        &[],
        Some(submission("b")),
    )
    .await;
    let second = second.json()["submission"].as_i64().expect("id");
    let rejected = admin(
        &router,
        Method::POST,
        &format!("/api/v1/admin/submissions/{second}/reject"),
        Some(json!({"reason": "endpoint not reachable"})),
    )
    .await;
    assert_eq!(rejected.status, StatusCode::OK, "{}", rejected.text());
    assert_eq!(rejected.json()["status"], "cancelled");
    let shown = get(&router, &format!("/api/v1/submissions/{second}"))
        .await
        .json();
    assert_eq!(shown["approval"], "rejected");
    assert_eq!(
        shown["error"],
        "rejected by an administrator: endpoint not reachable"
    );
    let run = shown["run"].as_i64().expect("run");
    assert_eq!(
        get(&router, &format!("/api/v1/runs/{run}")).await.json()["status"],
        "cancelled"
    );

    let missing = admin(
        &router,
        Method::POST,
        "/api/v1/admin/submissions/999/reject",
        None,
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let malformed = admin(
        &router,
        Method::POST,
        &format!("/api/v1/admin/submissions/{first}/reject"),
        Some(json!({"why": "unknown field"})),
    )
    .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn without_required_approval_submissions_are_claimable_at_once() {
    let test = test_app().await;
    let router = app(test.state());
    let reply = send(
        &router,
        Method::POST,
        "/api/v1/submissions",
        &[],
        Some(submission("a")),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.json()["approval"], "not_required");
    assert_eq!(reply.json()["position"], 1);
    assert!(
        test.storage
            .claim_job("worker")
            .await
            .expect("claims")
            .is_some()
    );
}

#[tokio::test]
async fn admins_delete_and_rescore_runs() {
    let test = test_app().await;
    let run = evaluated_run(&test, "to delete", RunStatus::Running).await;
    let samples: Vec<_> = test
        .benchmark
        .samples
        .iter()
        .filter(|sample| sample.label != omnireward_shared::Label::Tie)
        .take(4)
        .collect();
    let judgements: Vec<Judgement> = samples
        .iter()
        .map(|sample| {
            let rewards = match sample.label {
                omnireward_shared::Label::Response1 => [1.0, 0.0],
                _ => [0.0, 1.0],
            };
            judgement(sample, Setting::WithTies, rewards)
        })
        .collect();
    test.storage
        .record_judgements(run, &judgements)
        .await
        .expect("records");
    let router = app(test.state().with_admin_token(AdminToken::new(TOKEN)));
    let rescore = format!("/api/v1/admin/runs/{}/rescore", run.0);

    // A fixed threshold larger than every margin makes every verdict a tie: all wrong.
    let tied = admin(
        &router,
        Method::POST,
        &rescore,
        Some(json!({"tie_threshold": 2.0})),
    )
    .await;
    assert_eq!(tied.status, StatusCode::OK, "{}", tied.text());
    let tied = tied.json();
    assert_eq!(tied["model"], "to delete");
    assert_eq!(tied["settings"]["with_ties"]["overall"]["accuracy"], 0.0);
    let rule = tied["settings"]["with_ties"]["tasks"]
        .as_object()
        .and_then(|tasks| tasks.values().next())
        .map(|task| task["tie_rule"].clone());
    assert_eq!(rule, Some(json!({"kind": "fixed", "epsilon": 2.0})));
    // The sweep (no body) never predicts a tie here: all right, and stored.
    let swept = admin(&router, Method::POST, &rescore, None).await;
    assert_eq!(swept.status, StatusCode::OK, "{}", swept.text());
    assert_eq!(
        swept.json()["settings"]["with_ties"]["overall"]["accuracy"],
        1.0
    );
    let stored = get(&router, &format!("/api/v1/runs/{}", run.0))
        .await
        .json();
    assert_eq!(stored["scorecard"], swept.json());

    let negative = admin(
        &router,
        Method::POST,
        &rescore,
        Some(json!({"tie_threshold": -1})),
    )
    .await;
    assert_eq!(
        (negative.status, negative.error_code()),
        (StatusCode::BAD_REQUEST, "invalid_parameter".to_owned())
    );
    let paper_run = paper_run(&router).await;
    let paper_rescore = admin(
        &router,
        Method::POST,
        &format!("/api/v1/admin/runs/{paper_run}/rescore"),
        None,
    )
    .await;
    assert_eq!(paper_rescore.status, StatusCode::CONFLICT);
    let paper_delete = admin(
        &router,
        Method::DELETE,
        &format!("/api/v1/admin/runs/{paper_run}"),
        None,
    )
    .await;
    assert_eq!(
        paper_delete.status,
        StatusCode::CONFLICT,
        "{}",
        paper_delete.text()
    );
    assert!(
        paper_delete.json()["error"]["message"]
            .as_str()
            .expect("message")
            .contains("paper")
    );

    let empty = evaluated_run(&test, "nothing judged", RunStatus::Queued).await;
    let job = test
        .storage
        .enqueue_job(empty, JobKind::ApiJudge, &json!({}))
        .await
        .expect("enqueues");
    let nothing = admin(
        &router,
        Method::POST,
        &format!("/api/v1/admin/runs/{}/rescore", empty.0),
        None,
    )
    .await;
    assert_eq!(nothing.status, StatusCode::CONFLICT);
    let active = admin(
        &router,
        Method::DELETE,
        &format!("/api/v1/admin/runs/{}", empty.0),
        None,
    )
    .await;
    assert_eq!(active.status, StatusCode::CONFLICT);
    assert!(
        active.text().contains(&format!("({job})")),
        "{}",
        active.text()
    );

    let deleted = admin(
        &router,
        Method::DELETE,
        &format!("/api/v1/admin/runs/{}", run.0),
        None,
    )
    .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.text());
    assert_eq!(
        deleted.json(),
        json!({"run": run.0, "judgements": 4, "scorecard": true, "jobs": 0})
    );
    assert_eq!(
        get(&router, &format!("/api/v1/runs/{}", run.0))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let twice = admin(
        &router,
        Method::DELETE,
        &format!("/api/v1/admin/runs/{}", run.0),
        None,
    )
    .await;
    assert_eq!(twice.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn submissions_are_limited_per_address_with_retry_after() {
    let test = test_app().await;
    let router = app(test.state().with_submission_limit(SubmissionLimit {
        submissions: 2,
        window: Duration::from_secs(3600),
        trusted_proxy_header: None,
    }));
    for expected in [StatusCode::CREATED, StatusCode::OK] {
        // The second is the same run's queued job: admitted, and counted.
        assert_eq!(
            submit_from(&router, [192, 0, 2, 1], &[]).await.status,
            expected
        );
    }
    let refused = submit_from(&router, [192, 0, 2, 1], &[]).await;
    assert_eq!(
        refused.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        refused.text()
    );
    assert_eq!(refused.error_code(), "rate_limited");
    let retry_after: u64 = refused.headers[header::RETRY_AFTER]
        .to_str()
        .expect("text")
        .parse()
        .expect("seconds");
    assert!((3590..=3600).contains(&retry_after), "{retry_after}");
    // Another address has its own allowance; a forged header is not trusted.
    assert_eq!(
        submit_from(
            &router,
            [192, 0, 2, 2],
            &[("x-forwarded-for", "192.0.2.77")]
        )
        .await
        .status,
        StatusCode::OK
    );
    // Reading is never limited.
    assert_eq!(
        get(&router, "/api/v1/submissions").await.status,
        StatusCode::OK
    );

    let behind_proxy = app(test.state().with_submission_limit(SubmissionLimit {
        submissions: 1,
        window: Duration::from_secs(60),
        trusted_proxy_header: Some(header::HeaderName::from_static("x-forwarded-for")),
    }));
    let proxy = [10, 0, 0, 1];
    let client = |address: &'static str| [("x-forwarded-for", address)];
    assert_eq!(
        submit_from(&behind_proxy, proxy, &client("203.0.113.5"))
            .await
            .status,
        StatusCode::OK
    );
    let limited = submit_from(&behind_proxy, proxy, &client("203.0.113.5")).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        submit_from(&behind_proxy, proxy, &client("203.0.113.6"))
            .await
            .status,
        StatusCode::OK
    );
}
