//! `GET /openapi.json`: the OpenAPI document of the whole API, derived by utoipa from the
//! handlers' `#[utoipa::path]` attributes and the view types, and built once per process.
//!
//! Paths are declared relative to [`API_PREFIX`] beside their handlers and prefixed here, so
//! the document's paths are the ones a client sends (`/api/v1/tasks`, and `/metrics`).

use std::sync::LazyLock;

use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as Document, Paths};
use utoipa::{Modify, OpenApi};

use super::API_PREFIX;

/// Routes served outside [`API_PREFIX`], whose declared path is already absolute.
const UNPREFIXED: [&str; 1] = ["/metrics"];

#[derive(OpenApi)]
#[openapi(
    info(
        title = "omnireward REST API",
        description = "The Omni-RewardBench leaderboard, benchmark browser, run results, \
                       submissions queue, scoring demo and administration. Errors share one \
                       body: `{\"error\": {\"code\": \"...\", \"message\": \"...\"}}`."
    ),
    paths(
        super::leaderboard::json,
        super::leaderboard::csv,
        super::tasks::list,
        super::samples::list,
        super::samples::one,
        super::samples::judgements,
        super::media::bytes,
        super::runs::one,
        super::runs::judgements,
        super::runs::judgements_jsonl,
        super::compare::compare,
        super::events::stream,
        super::models::one,
        super::submissions::list,
        super::submissions::create,
        super::submissions::one,
        super::submissions::cancel,
        super::score::score,
        super::admin::approve,
        super::admin::reject,
        super::admin::delete_run,
        super::admin::rescore,
        json,
        docs_page,
        super::metrics::render,
    ),
    components(schemas(
        super::events::StatusEvent,
        omnireward_shared::wire::PredictionsAccepted
    )),
    modifiers(&PrefixAndSecurity),
    tags(
        (name = "leaderboard", description = "Ranked models per setting."),
        (name = "benchmark", description = "The served benchmark: tasks, samples and media."),
        (name = "runs", description = "Evaluation runs, their judgements and live progress."),
        (name = "models", description = "Models and their runs."),
        (name = "submissions", description = "Models submitted for evaluation (the job queue)."),
        (name = "demo", description = "The scoring demo."),
        (name = "admin", description = "Administration, behind the server's bearer token: \
                                        404 when the server has none, 401 without the right \
                                        token."),
        (name = "meta", description = "This document, its rendering and the metrics."),
    )
)]
struct ApiDocument;

/// Prefixes the paths and declares the two bearer tokens (administrator's, cancel).
struct PrefixAndSecurity;

impl Modify for PrefixAndSecurity {
    fn modify(&self, document: &mut Document) {
        let declared = std::mem::replace(&mut document.paths, Paths::new());
        for (path, item) in declared.paths {
            let path = if UNPREFIXED.contains(&path.as_str()) {
                path
            } else {
                format!("{API_PREFIX}{path}")
            };
            document.paths.paths.insert(path, item);
        }
        if let Some(components) = document.components.as_mut() {
            components.add_security_scheme(
                "admin_token",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .description(Some("The token named by `serve --admin-token-env VAR`."))
                        .build(),
                ),
            );
            components.add_security_scheme(
                "cancel_token",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .description(Some(
                            "The `cancel_token` a new submission's answer carries (once).",
                        ))
                        .build(),
                ),
            );
        }
    }
}

/// The document, built on first use.
pub(super) fn document() -> &'static Document {
    static DOCUMENT: LazyLock<Document> = LazyLock::new(ApiDocument::openapi);
    &DOCUMENT
}

// The document as an HTML page for people, rendered on first use.
/// `GET /docs`.
#[utoipa::path(
    get,
    path = "/docs",
    tag = "meta",
    operation_id = "page",
    responses((status = 200, description = "This document as an HTML page.",
               content_type = "text/html"))
)]
pub(super) async fn docs_page() -> axum::response::Html<&'static str> {
    static PAGE: LazyLock<String> = LazyLock::new(|| super::docs::html(document()));
    axum::response::Html(PAGE.as_str())
}

/// The document as pretty JSON, rendered on first use.
fn document_json() -> &'static str {
    static JSON: LazyLock<String> = LazyLock::new(|| {
        // Serialising plain maps and strings cannot fail; an empty body would show it if it did.
        document().to_pretty_json().unwrap_or_default()
    });
    &JSON
}

/// `GET /openapi.json`.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    responses((status = 200, description = "This document (OpenAPI 3.1).",
               content_type = "application/json"))
)]
pub(super) async fn json() -> Response {
    ([(CONTENT_TYPE, "application/json")], document_json()).into_response()
}
