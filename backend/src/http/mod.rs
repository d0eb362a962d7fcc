//! The JSON HTTP API under `/api/v1` (reads, submissions and uploads, cancellation, the scoring
//! demo and the administrator's routes) and the web app's pages beside it: shared state, routing,
//! middleware and the parameter parsing every resource uses. One file per resource; handlers
//! extract, validate, call one function and map its result. Only this module knows status codes:
//! `error.rs` maps the API's errors, and the pages (`web.rs`, `web/demo.rs`) choose the status of
//! the HTML page they render from the API's answer.

mod admin;
mod compare;
mod credentials;
mod docs;
mod error;
mod events;
mod leaderboard;
mod media;
mod metrics;
mod models;
mod openapi;
mod predictions;
mod rate_limit;
mod runs;
mod samples;
pub mod score;
mod security_headers;
mod server;
mod submission_bodies;
mod submissions;
mod tasks;
mod uploads;
mod web;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::Request;
use axum::http::request::Parts;
use axum::routing::{delete, get, post};
use omnireward_shared::wire::Paged;
use omnireward_shared::{Sample, Task};

use serde::de::DeserializeOwned;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::data::Benchmark;
use crate::storage::Storage;

pub use admin::AdminToken;
pub use error::ApiError;
pub use rate_limit::SubmissionLimit;
pub use security_headers::TransportSecurity;
pub use server::{
    ConnectionLimits, DEFAULT_BODY_IDLE_TIMEOUT, DEFAULT_HEADER_TIMEOUT,
    DEFAULT_KEEP_ALIVE_TIMEOUT, DEFAULT_MAX_CONNECTIONS, serve,
};
pub use uploads::{DEFAULT_MAX_UPLOAD_BYTES, UploadSettings, remove_abandoned_staging};
pub use web::Bundle;

/// Where the API is mounted.
pub const API_PREFIX: &str = "/api/v1";

/// Largest request body accepted. The API only reads for now; uploads will need their own route
/// limit rather than a larger global one.
const REQUEST_BODY_LIMIT: usize = 1024 * 1024;

/// Largest page a client may ask for.
const MAX_PER_PAGE: usize = 100;

/// Page size when the client gives none.
const DEFAULT_PER_PAGE: usize = 20;

/// What every handler can reach: the database and the benchmark being served. Cheap to clone.
// No `Debug`: it would print every sample of the benchmark.
#[derive(Clone)]
pub struct AppState {
    storage: Storage,
    benchmark: Arc<Benchmark>,
    sample_positions: Arc<HashMap<(Task, String), usize>>,
    /// Whether submissions may name endpoints on this machine or a private network.
    allow_private_endpoints: bool,
    /// The local model behind `POST /score`, if the server was started with one.
    scoring: Option<Arc<score::ScoringService>>,
    /// Request counts and latencies for `GET /metrics`.
    metrics: Arc<metrics::Metrics>,
    /// The administrator's token; without one the admin routes answer 404.
    admin_token: Option<Arc<AdminToken>>,
    /// Whether new submissions wait for an administrator's approval.
    require_approval: bool,
    /// Per-submitter limit on `POST /submissions`, if any.
    submission_limit: Option<Arc<rate_limit::SubmissionLimiter>>,
    /// How often run event streams read the database.
    event_interval: std::time::Duration,
    /// The leaderboard rows and bodies of the newest generation read.
    leaderboard_cache: Arc<leaderboard::LeaderboardCache>,
    /// Where checkpoint uploads go, if the server accepts them.
    uploads: Option<Arc<uploads::UploadSettings>>,
    /// The web app's browser bundle; without one, pages are served without hydration.
    bundle: Option<Arc<web::Bundle>>,
    /// Keys sent with submissions, held for this server's own workers; without a vault,
    /// `api_key` is refused.
    key_vault: Option<crate::queue::key_vault::KeyVault>,
    /// The endpoint hosts each workers' key variable may be sent to.
    key_bindings: Arc<crate::queue::key_bindings::KeyBindings>,
    /// Whether this server is reached over HTTPS (cookies are then `Secure`).
    transport_security: TransportSecurity,
    /// The Hub that checkpoints submitted by repository are checked against, if accepted.
    hub: Option<Arc<HubSubmissions>>,
}

/// How this server takes checkpoints named by Hub repository.
#[derive(Debug)]
pub struct HubSubmissions {
    /// The Hub, with the server's own token.
    pub client: crate::hub::HubClient,
    /// Most bytes a checkpoint's files may hold.
    pub max_bytes: u64,
    /// The shared checkpoint cache (the workers' `<cache>`).
    pub cache_dir: std::path::PathBuf,
}

impl AppState {
    /// State over an opened database and the benchmark whose samples and media are served.
    pub fn new(storage: Storage, benchmark: Arc<Benchmark>) -> AppState {
        let sample_positions = benchmark
            .samples
            .iter()
            .enumerate()
            .map(|(position, sample)| ((sample.task, sample.id.clone()), position))
            .collect();
        AppState {
            storage,
            benchmark,
            sample_positions: Arc::new(sample_positions),
            allow_private_endpoints: false,
            scoring: None,
            metrics: Arc::new(metrics::Metrics::new()),
            admin_token: None,
            require_approval: false,
            submission_limit: None,
            event_interval: events::DEFAULT_INTERVAL,
            leaderboard_cache: Arc::new(leaderboard::LeaderboardCache::new()),
            uploads: None,
            bundle: None,
            key_vault: None,
            key_bindings: Arc::default(),
            transport_security: TransportSecurity::default(),
            hub: None,
        }
    }

    /// Accepts submissions of checkpoints named by Hub repository, checked against this Hub.
    pub fn with_hub(mut self, hub: HubSubmissions) -> AppState {
        self.hub = Some(Arc::new(hub));
        self
    }

    /// Accepts `api_key` in submissions and holds the keys in `vault`, which this server's
    /// workers read.
    pub fn with_key_vault(mut self, vault: crate::queue::key_vault::KeyVault) -> AppState {
        self.key_vault = Some(vault);
        self
    }

    /// How this server tells whether a client reached it over HTTPS.
    pub fn with_transport_security(mut self, security: TransportSecurity) -> AppState {
        self.transport_security = security;
        self
    }

    /// Serves this browser bundle with the web pages, which then hydrate.
    pub fn with_bundle(mut self, bundle: web::Bundle) -> AppState {
        self.bundle = Some(Arc::new(bundle));
        self
    }

    /// Reads and renders the leaderboard on every request instead of caching it per data
    /// generation: the baseline of the leaderboard load benchmark.
    pub fn without_leaderboard_cache(mut self) -> AppState {
        self.leaderboard_cache = Arc::new(leaderboard::LeaderboardCache::disabled());
        self
    }

    /// Serves `POST /score` with this model.
    pub fn with_scoring(mut self, service: Arc<score::ScoringService>) -> AppState {
        self.scoring = Some(service);
        self
    }

    /// Binds key variables to the endpoint hosts submissions naming them may use; without a
    /// binding, a submission naming a key variable is refused.
    pub fn with_key_bindings(
        mut self,
        bindings: crate::queue::key_bindings::KeyBindings,
    ) -> AppState {
        self.key_bindings = Arc::new(bindings);
        self
    }

    /// Whether submissions may name loopback, link-local or private-network endpoints
    /// (default no: a submission makes the workers send requests there).
    pub fn with_private_endpoints(mut self, allow: bool) -> AppState {
        self.allow_private_endpoints = allow;
        self
    }

    /// The served sample of `task` with this id, or a 404.
    fn sample(&self, task: Task, id: &str) -> Result<&Sample, ApiError> {
        self.sample_positions
            .get(&(task, id.to_owned()))
            .and_then(|position| self.benchmark.samples.get(*position))
            .ok_or_else(|| ApiError::NotFound(format!("sample {task}/{id} does not exist")))
    }
}

/// The application: the web app's pages, every API route under [`API_PREFIX`] and
/// `GET /metrics`, with request
/// metrics, request tracing, an `x-request-id` (kept from the client or generated, and echoed)
/// and a request body limit.
/// CORS stays closed: the web app is served from the same origin.
pub fn app(state: AppState) -> Router {
    let mut api = Router::new()
        .route("/leaderboard", get(leaderboard::json))
        .route("/leaderboard.csv", get(leaderboard::csv))
        .route("/tasks", get(tasks::list))
        .route("/samples", get(samples::list))
        .route("/samples/{task}/{id}", get(samples::one))
        .route("/samples/{task}/{id}/judgements", get(samples::judgements))
        .route("/media/{task}/{id}/{field}", get(media::bytes))
        .route("/runs/{id}", get(runs::one))
        .route("/runs/{id}/judgements", get(runs::judgements))
        .route("/runs/{id}/judgements.jsonl", get(runs::judgements_jsonl))
        .route("/compare", get(compare::compare))
        .route("/models/{id}", get(models::one))
        // POST is in `uploads::routes`: checkpoint uploads have their own body limit.
        .route("/submissions", get(submissions::list))
        .route("/submissions/{id}", get(submissions::one))
        .route("/submissions/{id}/cancel", post(submissions::cancel))
        .route("/runs/{id}/events", get(events::stream))
        .route("/openapi.json", get(openapi::json))
        .route("/docs", get(openapi::docs_page));
    // Without a token the admin routes do not exist: any method on them is the fallback's 404,
    // not a 405 that would reveal them.
    if state.admin_token.is_some() {
        api = api
            .route("/admin/submissions/{id}/approve", post(admin::approve))
            .route("/admin/submissions/{id}/reject", post(admin::reject))
            .route("/admin/runs/{id}", delete(admin::delete_run))
            .route("/admin/runs/{id}/rescore", post(admin::rescore));
    }
    let api = api
        .layer(RequestBodyLimitLayer::new(REQUEST_BODY_LIMIT))
        // The demo takes two images: its own, larger limit (checked before the global one
        // would refuse it, since this router is merged beside, not under, the limited routes).
        .merge(
            Router::new()
                .route("/score", post(score::score))
                .layer(RequestBodyLimitLayer::new(score::SCORE_BODY_LIMIT)),
        )
        .merge(uploads::routes(&state))
        // After every route: it only wraps the routes added before it.
        .route_layer(axum::middleware::from_fn(metrics::remember_route))
        .fallback(error::no_route)
        // Outside every route and the fallback: rejections made by axum and tower-http
        // (405, 413, 400) get the JSON error body too.
        .layer(axum::middleware::from_fn(error::json_errors))
        .with_state(state.clone());
    // The last layer added runs first: the id is set before the trace span is made.
    web::routes(state.clone())
        .nest(API_PREFIX, api)
        .route(
            "/metrics",
            get(metrics::render)
                .with_state(state.clone())
                .route_layer(axum::middleware::from_fn(metrics::remember_route)),
        )
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state.metrics),
            metrics::record,
        ))
        .layer(axum::middleware::from_fn(security_headers::add))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// The trace span of one request, carrying its id so every log line of the request has it.
fn request_span<Body>(request: &Request<Body>) -> tracing::Span {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        method = %request.method(),
        uri = %request.uri(),
        request_id,
    )
}

/// `Query` whose rejection is an [`ApiError`], so malformed query strings get the JSON body.
pub(crate) struct ApiQuery<T>(pub(crate) T);

impl<State, T> FromRequestParts<State> for ApiQuery<T>
where
    State: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| ApiQuery(value))
            .map_err(|rejection| ApiError::Malformed(rejection.body_text()))
    }
}

/// `Path` whose rejection is an [`ApiError`] (path segments that are not UTF-8).
pub(crate) struct ApiPath<T>(pub(crate) T);

impl<State, T> FromRequestParts<State> for ApiPath<T>
where
    State: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| ApiPath(value))
            .map_err(|rejection| ApiError::Malformed(rejection.body_text()))
    }
}

/// A query parameter's value, with an empty value (`?modality=`) meaning absent.
fn given(value: Option<&str>) -> Option<&str> {
    value.filter(|value| !value.is_empty())
}

/// Parses an optional parameter that takes one of a fixed set of names.
fn parse_choice<T: Copy>(
    parameter: &'static str,
    value: Option<&str>,
    choices: impl IntoIterator<Item = (&'static str, T)> + Clone,
) -> Result<Option<T>, ApiError> {
    let Some(value) = given(value) else {
        return Ok(None);
    };
    choices
        .clone()
        .into_iter()
        .find(|(name, _)| *name == value)
        .map(|(_, choice)| Some(choice))
        .ok_or_else(|| ApiError::InvalidParameter {
            parameter,
            value: value.to_owned(),
            expected: format!(
                "one of {}",
                choices
                    .into_iter()
                    .map(|(name, _)| name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
}

/// Parses an optional task parameter: a config key or a short name (`text_to_3D`, `T23D`).
fn parse_task(parameter: &'static str, value: Option<&str>) -> Result<Option<Task>, ApiError> {
    given(value)
        .map(|value| {
            value.parse().map_err(|_| ApiError::InvalidParameter {
                parameter,
                value: value.to_owned(),
                // Short names are accepted too; the keys are the documented spelling.
                expected: format!("one of {}", Task::ALL.map(Task::key).join(", ")),
            })
        })
        .transpose()
}

/// Parses an optional `true` / `false` parameter.
fn parse_flag(parameter: &'static str, value: Option<&str>) -> Result<Option<bool>, ApiError> {
    parse_choice(parameter, value, [("true", true), ("false", false)])
}

/// A validated `page` / `per_page` pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pagination {
    page: usize,
    per_page: usize,
}

impl Pagination {
    /// Validates the raw parameters: `page` from 1 (default 1), `per_page` from 1 to
    /// [`MAX_PER_PAGE`] (default [`DEFAULT_PER_PAGE`]).
    fn parse(page: Option<&str>, per_page: Option<&str>) -> Result<Pagination, ApiError> {
        let number = |parameter, value: Option<&str>, default, maximum: usize| {
            let Some(value) = given(value) else {
                return Ok(default);
            };
            value
                .parse::<usize>()
                .ok()
                .filter(|number| (1..=maximum).contains(number))
                .ok_or_else(|| ApiError::InvalidParameter {
                    parameter,
                    value: value.to_owned(),
                    expected: if maximum == usize::MAX {
                        "a whole number from 1".to_owned()
                    } else {
                        format!("a whole number from 1 to {maximum}")
                    },
                })
        };
        Ok(Pagination {
            page: number("page", page, 1, usize::MAX)?,
            per_page: number("per_page", per_page, DEFAULT_PER_PAGE, MAX_PER_PAGE)?,
        })
    }

    /// The requested page of `items`; a page past the end is empty.
    fn page<T>(self, items: impl IntoIterator<Item = T>) -> Paged<T> {
        let mut total = 0;
        let skip = (self.page - 1).saturating_mul(self.per_page);
        let mut selected = Vec::new();
        for item in items {
            if total >= skip && selected.len() < self.per_page {
                selected.push(item);
            }
            total += 1;
        }
        Paged {
            page: self.page,
            per_page: self.per_page,
            total,
            items: selected,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pagination_validates_and_slices() {
        let pagination = Pagination::parse(Some("2"), Some("3")).expect("valid");
        let page = pagination.page(1..=8);
        assert_eq!((page.total, page.items), (8, vec![4, 5, 6]));
        let past_the_end = Pagination::parse(Some("9"), None)
            .expect("valid")
            .page(1..=8);
        assert!(past_the_end.items.is_empty());
        assert_eq!(
            Pagination::parse(None, None).expect("defaults"),
            Pagination {
                page: 1,
                per_page: DEFAULT_PER_PAGE
            }
        );
        for (page, per_page) in [
            ("0", "1"),
            ("x", "1"),
            ("1", "0"),
            ("1", "101"),
            ("-1", "5"),
        ] {
            assert!(
                Pagination::parse(Some(page), Some(per_page)).is_err(),
                "{page} {per_page}"
            );
        }
        let error = Pagination::parse(None, Some("500")).expect_err("too large");
        assert_eq!(
            error.to_string(),
            "invalid value `500` for parameter `per_page`: expected a whole number from 1 to 100"
        );
    }

    #[test]
    fn choices_name_the_accepted_values() {
        let choices = [("with_ties", 1), ("without_ties", 2)];
        assert_eq!(
            parse_choice("setting", Some("without_ties"), choices).ok(),
            Some(Some(2))
        );
        assert_eq!(parse_choice("setting", Some(""), choices).ok(), Some(None));
        let error = parse_choice("setting", Some("both"), choices).expect_err("unknown");
        assert_eq!(
            error.to_string(),
            "invalid value `both` for parameter `setting`: expected one of with_ties, without_ties"
        );
        assert_eq!(
            parse_task("task", Some("T23D")).ok(),
            Some(Some(Task::TextTo3d))
        );
        assert!(parse_task("task", Some("text_to_smell")).is_err());
        assert_eq!(parse_flag("correct", Some("false")).ok(), Some(Some(false)));
    }
}
