//! JSON snapshots of the API's documents: each endpoint's answer on a fresh database with the
//! paper's rows and the embedded sample, compared with the file committed under
//! `tests/snapshots/`. A change to any document (a field renamed, a value computed differently,
//! the OpenAPI description) shows up as a diff to review. Timestamps are the only values that
//! differ between runs; they are replaced by a placeholder before comparing.
//!
//! After an intended change: `OMNIREWARD_UPDATE_SNAPSHOTS=1 cargo test -p omnireward --test
//! http http_snapshots`, then review and commit the files.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use omnireward::http::{AppState, app};
use serde_json::Value;
use tempfile::TempDir;
use tower::ServiceExt as _;

use crate::support;

/// Replaces every `*_at_ms` value (wall-clock times) with a placeholder.
fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                if key.ends_with("_at_ms") && !item.is_null() {
                    *item = Value::String("<timestamp>".to_owned());
                } else {
                    redact(item);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

#[tokio::test]
async fn documents_match_their_snapshots() {
    let folder = TempDir::new().expect("temporary folder");
    let (storage, benchmark) = support::paper_site::paper_database(folder.path()).await;
    let router = app(AppState::new(storage, Arc::clone(&benchmark)));
    let first_t2t = benchmark
        .samples
        .iter()
        .find(|sample| sample.task == omnireward_shared::Task::TextToText)
        .expect("a T2T sample");
    let documents = [
        ("tasks", "/api/v1/tasks".to_owned(), StatusCode::OK),
        (
            "samples_t2t_page",
            "/api/v1/samples?task=T2T&per_page=2".to_owned(),
            StatusCode::OK,
        ),
        (
            "sample",
            format!("/api/v1/samples/text_to_text/{}", first_t2t.id),
            StatusCode::OK,
        ),
        (
            "sample_judgements",
            format!("/api/v1/samples/text_to_text/{}/judgements", first_t2t.id),
            StatusCode::OK,
        ),
        (
            "leaderboard_without_ties",
            "/api/v1/leaderboard?setting=without_ties".to_owned(),
            StatusCode::OK,
        ),
        (
            "leaderboard_video",
            "/api/v1/leaderboard?modality=video".to_owned(),
            StatusCode::OK,
        ),
        ("model_1", "/api/v1/models/1".to_owned(), StatusCode::OK),
        ("run_1", "/api/v1/runs/1".to_owned(), StatusCode::OK),
        (
            "submissions_empty",
            "/api/v1/submissions".to_owned(),
            StatusCode::OK,
        ),
        (
            "error_unknown_model",
            "/api/v1/models/424242".to_owned(),
            StatusCode::NOT_FOUND,
        ),
        (
            "error_bad_setting",
            "/api/v1/leaderboard?setting=sometimes".to_owned(),
            StatusCode::BAD_REQUEST,
        ),
        ("openapi", "/api/v1/openapi.json".to_owned(), StatusCode::OK),
    ];
    let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots");
    let update = std::env::var("OMNIREWARD_UPDATE_SNAPSHOTS").as_deref() == Ok("1");
    let mut differing = Vec::new();
    for (name, uri, status) in documents {
        let response = router
            .clone()
            .oneshot(Request::get(&uri).body(Body::empty()).expect("request"))
            .await
            .expect("answers");
        assert_eq!(response.status(), status, "{uri}");
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        let mut document: Value = serde_json::from_slice(&bytes).expect("JSON");
        redact(&mut document);
        let rendered = serde_json::to_string_pretty(&document).expect("renders") + "\n";
        let path = folder.join(format!("{name}.json"));
        if update {
            std::fs::create_dir_all(&folder).expect("snapshot folder");
            std::fs::write(&path, &rendered).expect("writes the snapshot");
            continue;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != rendered {
            differing.push(format!("{name} ({uri})"));
        }
    }
    assert!(
        differing.is_empty(),
        "documents differ from their snapshots in tests/snapshots/: {}; if intended, rerun with \
         OMNIREWARD_UPDATE_SNAPSHOTS=1 and review the diff",
        differing.join(", ")
    );
}
