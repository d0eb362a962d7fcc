//! The web app's pages: server-rendered Leptos pages (crate `omnireward-frontend`) with the
//! browser bundle that hydrates them, the stylesheet, and the two forms (submissions, demo) that
//! post here.
//!
//! Every page is built from the REST API's own JSON documents, fetched in-process from the API
//! router (no network hop), so the site can never show something the API would not: the same
//! validation, the same caching, the same errors. Form posts are turned into API requests the
//! same way and their errors are shown beside the form.

use std::net::SocketAddr;
use std::path::Path as FilePath;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{
    ConnectInfo, DefaultBodyLimit, Extension, Form, Path, RawQuery, Request, State,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use omnireward_frontend::data::{
    self, Answer, ApiJudgeForm, BenchmarkPage, HubCheckpointForm, JudgementFilter, JudgementItem,
    LeaderboardPage, LeaderboardRow, ModelPage, Page, Paged, ProblemPage, Progress, QueuePage,
    RunRecord, SamplePage, SampleView, SubmissionPage, SubmissionView, SubmitPage, TaskSummary,
};
use omnireward_frontend::document;
use omnireward_frontend::leaderboard::{View, decode_component, encode_component};
use omnireward_shared::Task;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tower::ServiceExt;

use super::{API_PREFIX, AppState};
use crate::storage::RunId;

mod demo;

/// Judgements listed per page on a model page.
const JUDGEMENTS_PER_PAGE: usize = 25;

/// Samples listed per page in the benchmark browser.
const SAMPLES_PER_PAGE: usize = 20;

/// Submissions the queue page shows (the newest).
const QUEUE_LENGTH: usize = 100;

/// The browser bundle built by `scripts/build-web.sh`: the wasm-bindgen loader and the module.
#[derive(Debug)]
pub struct Bundle {
    javascript: Bytes,
    wasm: Bytes,
}

impl Bundle {
    /// Reads `omnireward_frontend.js` and `omnireward_frontend_bg.wasm` from `folder`; `Ok(None)`
    /// when the folder has no bundle (pages are then served without hydration).
    pub fn load(folder: &FilePath) -> std::io::Result<Option<Bundle>> {
        let javascript = folder.join("omnireward_frontend.js");
        let wasm = folder.join("omnireward_frontend_bg.wasm");
        if !javascript.is_file() || !wasm.is_file() {
            return Ok(None);
        }
        Ok(Some(Bundle {
            javascript: Bytes::from(std::fs::read(javascript)?),
            wasm: Bytes::from(std::fs::read(wasm)?),
        }))
    }
}

/// What the page handlers share: the API router to read from, and the application state.
#[derive(Clone)]
struct Site {
    api: Router,
    state: AppState,
}

/// The body of an in-process API request with its content headers, and the credentials sent
/// along (a submission's cancel token, from this browser's cookie).
struct Content {
    body: Body,
    content_type: Option<HeaderValue>,
    content_length: Option<HeaderValue>,
    authorization: Option<HeaderValue>,
}

impl Content {
    fn empty() -> Content {
        Content {
            body: Body::empty(),
            content_type: None,
            content_length: None,
            authorization: None,
        }
    }

    fn json(value: &serde_json::Value) -> Content {
        Content {
            body: Body::from(value.to_string()),
            content_type: Some(HeaderValue::from_static("application/json")),
            ..Content::empty()
        }
    }
}

/// A page that cannot be shown, as the problem page and status it becomes.
#[derive(Debug)]
struct PageError {
    status: StatusCode,
    message: String,
}

impl PageError {
    fn internal(message: impl Into<String>) -> PageError {
        PageError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
        }
    }
}

/// The site's routes, beside the API's. `api` is the API router without its prefix.
pub(super) fn routes(api: Router, state: AppState) -> Router {
    let site = Site { api, state };
    Router::new()
        .route("/", get(leaderboard))
        .route("/models/{id}", get(model))
        .route("/runs/{id}", get(run))
        .route("/benchmark", get(benchmark))
        .route("/benchmark/{task}/{id}", get(sample))
        .route("/submit", get(submit_form).post(submit_api_judge))
        .route("/submit/checkpoint", post(submit_checkpoint))
        .route("/submit/hub", post(submit_hub_checkpoint))
        .route("/submissions/{id}", get(submission))
        .route("/submissions/{id}/cancel", post(cancel))
        .route("/queue", get(queue))
        .route(
            "/demo",
            get(demo::form)
                .post(demo::score)
                .layer(DefaultBodyLimit::max(demo::DEMO_BODY_LIMIT)),
        )
        .route(document::STYLESHEET_PATH, get(stylesheet))
        .route("/pkg/omnireward_frontend.js", get(bundle_javascript))
        .route("/pkg/omnireward_frontend_bg.wasm", get(bundle_wasm))
        .fallback(not_found)
        .with_state(site)
}

impl Site {
    /// Sends a request to the API router in-process and returns its status and body. The
    /// client's address travels along, so per-client limits apply to form posts too.
    async fn call(
        &self,
        method: Method,
        path: &str,
        content: Content,
        client: Option<Extension<ConnectInfo<SocketAddr>>>,
        forwarded: &HeaderMap,
    ) -> Result<(StatusCode, Bytes), PageError> {
        let Content {
            body,
            content_type,
            content_length,
            authorization,
        } = content;
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .body(body)
            .map_err(|error| {
                PageError::internal(format!("cannot build a request for {path}: {error}"))
            })?;
        if let Some(content_type) = content_type {
            request
                .headers_mut()
                .insert(header::CONTENT_TYPE, content_type);
        }
        if let Some(content_length) = content_length {
            request
                .headers_mut()
                .insert(header::CONTENT_LENGTH, content_length);
        }
        if let Some(authorization) = authorization {
            request
                .headers_mut()
                .insert(header::AUTHORIZATION, authorization);
        }
        for (name, value) in forwarded {
            // Proxy headers are read by the rate limiter only when the server trusts them.
            if name.as_str().starts_with("x-forwarded") {
                request.headers_mut().insert(name.clone(), value.clone());
            }
        }
        if let Some(Extension(client)) = client {
            request.extensions_mut().insert(client);
        }
        let response = self
            .api
            .clone()
            .oneshot(request)
            .await
            .map_err(|error| PageError::internal(format!("{path}: {error}")))?;
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .map_err(|error| {
                PageError::internal(format!("cannot read the answer of {path}: {error}"))
            })?;
        Ok((status, body))
    }

    /// `GET` an API document and read it as `T`; API errors keep their status and message.
    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, PageError> {
        let (status, body) = self
            .call(Method::GET, path, Content::empty(), None, &HeaderMap::new())
            .await?;
        if !status.is_success() {
            return Err(PageError {
                status,
                message: api_error_message(&body),
            });
        }
        serde_json::from_slice(&body).map_err(|error| {
            PageError::internal(format!(
                "the API's answer to {path} does not read as expected: {error}"
            ))
        })
    }

    /// Renders a page, with the bundle when one is loaded.
    fn render(&self, status: StatusCode, page: Page) -> Response {
        let html = document::render(page, self.state.bundle.is_some());
        (
            status,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            html,
        )
            .into_response()
    }

    fn page(&self, page: Result<Page, PageError>) -> Response {
        match page {
            Ok(page) => self.render(StatusCode::OK, page),
            Err(error) => self.problem(error),
        }
    }

    fn problem(&self, error: PageError) -> Response {
        if error.status.is_server_error() {
            tracing::error!(status = %error.status, message = %error.message, "page failed");
        }
        let heading = match error.status {
            StatusCode::NOT_FOUND => "Not found",
            status if status.is_client_error() => "That request cannot be answered",
            _ => "Something went wrong on the server",
        };
        self.render(
            error.status,
            Page::Problem(ProblemPage {
                status: error.status.as_u16(),
                heading: heading.to_owned(),
                message: error.message,
            }),
        )
    }
}

/// The message of an API error body (`{"error": {"code", "message"}}`), or the body itself.
fn api_error_message(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Body {
        error: Detail,
    }
    #[derive(Deserialize)]
    struct Detail {
        message: String,
    }
    serde_json::from_slice::<Body>(body)
        .map(|body| body.error.message)
        .unwrap_or_else(|_| String::from_utf8_lossy(body).into_owned())
}

/// The value of `name` in a query string.
fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| decode_component(value))
        .filter(|value| !value.is_empty())
}

/// A positive page number from a query, 1 when absent or malformed.
fn page_number(query: Option<&str>) -> usize {
    query_value(query, "page")
        .and_then(|page| page.parse().ok())
        .filter(|page| *page >= 1)
        .unwrap_or(1)
}

#[derive(Deserialize)]
struct LeaderboardDocument {
    benchmark: String,
    benchmarks: Vec<data::LeaderboardBenchmark>,
    rows: Vec<LeaderboardRow>,
}

async fn leaderboard(State(site): State<Site>, RawQuery(query): RawQuery) -> Response {
    let page = async {
        let view = View::from_query(query.as_deref().unwrap_or(""));
        let asked = view.benchmark.as_deref().map_or(String::new(), |name| {
            format!("&benchmark={}", encode_component(name))
        });
        let with_ties: LeaderboardDocument = site
            .get(&format!("/leaderboard?setting=with_ties{asked}"))
            .await?;
        // Both settings show the benchmark the first read chose, even if its default would
        // differ between them.
        let without_ties: LeaderboardDocument = site
            .get(&format!(
                "/leaderboard?setting=without_ties&benchmark={}",
                encode_component(&with_ties.benchmark)
            ))
            .await?;
        let mut benchmarks = with_ties.benchmarks;
        for other in without_ties.benchmarks {
            if !benchmarks.iter().any(|known| known.name == other.name) {
                benchmarks.push(other);
            }
        }
        Ok(Page::Leaderboard(LeaderboardPage {
            with_ties: with_ties.rows,
            without_ties: without_ties.rows,
            view,
            benchmark: with_ties.benchmark,
            benchmarks,
        }))
    };
    site.page(page.await)
}

#[derive(Deserialize)]
struct ModelDocument {
    #[serde(flatten)]
    model: data::ModelInfo,
    #[serde(default)]
    training: Option<serde_json::Value>,
    runs: Vec<RunRecord>,
}

async fn model(
    State(site): State<Site>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let page = async {
        let document: ModelDocument = site
            .get(&format!("/models/{}", encode_component(&id)))
            .await?;
        let query = query.as_deref();
        // The charts and judgements follow one run: the one asked for, else the newest evaluated
        // run with a scorecard.
        let asked = query_value(query, "run").and_then(|run| run.parse::<i64>().ok());
        let charted = document
            .runs
            .iter()
            .filter(|run| run.scorecard.is_some())
            .filter(|run| asked.is_none_or(|asked| run.id == asked))
            .max_by_key(|run| run.id);
        let charts = match charted.and_then(|run| run.scorecard.as_ref()) {
            Some(scorecard) => omnireward_frontend::charts::scorecard_charts(scorecard)
                .map_err(|error| PageError::internal(error.to_string()))?,
            None => Vec::new(),
        };
        let filter = JudgementFilter {
            run: charted.map(|run| run.id),
            task: query_value(query, "task").and_then(|task| task.parse().ok()),
            setting: query_value(query, "setting").and_then(|setting| setting.parse().ok()),
            correct: query_value(query, "correct").and_then(|correct| correct.parse().ok()),
            verdict: query_value(query, "verdict").filter(|verdict| {
                ["response1", "response2", "tie", "unparseable"].contains(&verdict.as_str())
            }),
            page: page_number(query),
        };
        let judgements = match filter.run {
            Some(run) => {
                let mut path = format!(
                    "/runs/{run}/judgements?page={}&per_page={JUDGEMENTS_PER_PAGE}",
                    filter.page
                );
                if let Some(task) = filter.task {
                    path.push_str(&format!("&task={}", task.key()));
                }
                if let Some(setting) = filter.setting {
                    path.push_str(&format!("&setting={}", setting.key()));
                }
                if let Some(correct) = filter.correct {
                    path.push_str(&format!("&correct={correct}"));
                }
                if let Some(verdict) = &filter.verdict {
                    path.push_str(&format!("&verdict={verdict}"));
                }
                Some(site.get::<Paged<JudgementItem>>(&path).await?)
            }
            None => None,
        };
        Ok(Page::Model(ModelPage {
            model: document.model,
            training: document.training,
            runs: document.runs,
            charts,
            filter,
            judgements,
        }))
    };
    site.page(page.await)
}

#[derive(Deserialize)]
struct RunDocument {
    model: RunModel,
}

#[derive(Deserialize)]
struct RunModel {
    id: i64,
}

/// `/runs/{id}`: the run's section of its model's page.
async fn run(State(site): State<Site>, Path(id): Path<String>) -> Response {
    match site
        .get::<RunDocument>(&format!("/runs/{}", encode_component(&id)))
        .await
    {
        Ok(run) => Redirect::to(&format!(
            "/models/{}?run={}#run-{}",
            run.model.id,
            encode_component(&id),
            encode_component(&id)
        ))
        .into_response(),
        Err(error) => site.problem(error),
    }
}

#[derive(Deserialize)]
struct TasksDocument {
    benchmark: omnireward_shared::scorecard::BenchmarkIdentity,
    tasks: Vec<TaskDocument>,
}

#[derive(Deserialize)]
struct TaskDocument {
    key: Task,
    samples: SampleCounts,
}

#[derive(Deserialize)]
struct SampleCounts {
    with_ties: usize,
}

async fn benchmark(State(site): State<Site>, RawQuery(query): RawQuery) -> Response {
    let page = async {
        let query = query.as_deref();
        let tasks: TasksDocument = site.get("/tasks").await?;
        let task = match query_value(query, "task") {
            Some(task) => task.parse::<Task>().map_err(|_| PageError {
                status: StatusCode::NOT_FOUND,
                message: format!("there is no task {task:?}"),
            })?,
            None => tasks
                .tasks
                .iter()
                .find(|summary| summary.samples.with_ties > 0)
                .map_or(Task::TextToText, |summary| summary.key),
        };
        let samples: Paged<SampleView> = site
            .get(&format!(
                "/samples?task={}&page={}&per_page={SAMPLES_PER_PAGE}",
                task.key(),
                page_number(query)
            ))
            .await?;
        Ok(Page::Benchmark(BenchmarkPage {
            benchmark: format!("{} {}", tasks.benchmark.name, tasks.benchmark.version),
            tasks: tasks
                .tasks
                .into_iter()
                .map(|summary| TaskSummary {
                    task: summary.key,
                    samples: summary.samples.with_ties,
                })
                .collect(),
            task,
            samples,
        }))
    };
    site.page(page.await)
}

async fn sample(State(site): State<Site>, Path((task, id)): Path<(String, String)>) -> Response {
    let page = async {
        let path = format!(
            "/samples/{}/{}",
            encode_component(&task),
            encode_component(&id)
        );
        let sample: SampleView = site.get(&path).await?;
        let answers: Vec<Answer> = site.get(&format!("{path}/judgements")).await?;
        Ok(Page::Sample(SamplePage { sample, answers }))
    };
    site.page(page.await)
}

fn submit_page(site: &Site) -> SubmitPage {
    SubmitPage {
        max_upload_bytes: site.state.uploads.as_ref().map(|uploads| uploads.max_bytes),
        max_hub_bytes: site.state.hub.as_ref().map(|hub| hub.max_bytes),
        ..SubmitPage::default()
    }
}

async fn submit_form(State(site): State<Site>) -> Response {
    site.render(StatusCode::OK, Page::Submit(submit_page(&site)))
}

/// The answer to an accepted submission.
#[derive(Deserialize)]
struct Submitted {
    submission: i64,
    cancel_token: Option<String>,
}

/// After an accepted submission: on to its status page, leaving the submission's cancel token
/// in this browser (see [`cancel_cookie`]). `request` holds the form post's headers, which say
/// whether it came over HTTPS.
fn to_status_page(site: &Site, answer: &[u8], request: &HeaderMap) -> Response {
    let submitted = match serde_json::from_slice::<Submitted>(answer) {
        Ok(submitted) => submitted,
        Err(error) => {
            return site.problem(PageError::internal(format!(
                "unexpected submission answer: {error}"
            )));
        }
    };
    let mut response = Redirect::to(&format!(
        "/submissions/{}?submitted=1",
        submitted.submission
    ))
    .into_response();
    if let Some(cookie) = submitted.cancel_token.and_then(|token| {
        let secure = site.state.transport_security.is_https(request);
        cancel_cookie(submitted.submission, &token, secure)
    }) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// The prefix of the cookies holding cancel tokens, one per submission:
/// `omnireward_cancel_<id>=<token>`.
const CANCEL_COOKIE_PREFIX: &str = "omnireward_cancel_";

/// How long a browser keeps a cancel token: 30 days, longer than any evaluation.
const CANCEL_COOKIE_MAX_AGE_SECONDS: u64 = 30 * 24 * 60 * 60;

/// The cookie that lets this browser cancel submission `id`. HttpOnly (no script reads it) and
/// SameSite=Strict (no other site's form can post a cancel with it). `None` if the token is
/// not a plain header value (the API's tokens always are). `Secure` when the site is served
/// over HTTPS, so the token never travels in clear afterwards; not over plain HTTP, where a
/// browser would refuse to store it.
fn cancel_cookie(id: i64, token: &str, secure: bool) -> Option<HeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{CANCEL_COOKIE_PREFIX}{id}={token}; Path=/; Max-Age={CANCEL_COOKIE_MAX_AGE_SECONDS}; \
         HttpOnly; SameSite=Strict{secure}"
    ))
    .ok()
}

/// The cancel tokens this browser holds, by submission.
fn cancel_tokens(headers: &HeaderMap) -> std::collections::BTreeMap<i64, String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter_map(|(name, token)| {
            let id = name.strip_prefix(CANCEL_COOKIE_PREFIX)?.parse().ok()?;
            Some((id, token.to_owned()))
        })
        .collect()
}

/// The API-judge form as posted (`tasks` may repeat).
fn api_judge_form(fields: &[(String, String)]) -> ApiJudgeForm {
    let value = |name: &str| {
        fields
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.trim().to_owned())
            .unwrap_or_default()
    };
    ApiJudgeForm {
        name: value("name"),
        endpoint: value("endpoint"),
        model: value("model"),
        api_key_env: value("api_key_env"),
        settings: value("settings"),
        swap: value("swap") == "true",
        tasks: fields
            .iter()
            .filter(|(key, _)| key == "tasks")
            .filter_map(|(_, value)| value.parse().ok())
            .collect(),
        temperature: value("temperature"),
        max_tokens: value("max_tokens"),
        concurrency: value("concurrency"),
    }
}

/// The JSON body of `POST /submissions` for the form and the key typed into it (which is
/// never put back into the form); malformed numbers are the form's error.
fn api_judge_request(
    form: &ApiJudgeForm,
    api_key: Option<&str>,
) -> Result<serde_json::Value, String> {
    let mut body = serde_json::json!({
        "kind": "api_judge",
        "endpoint": form.endpoint,
        "model": form.model,
        "settings": if form.settings.is_empty() { "both" } else { form.settings.as_str() },
        "swap": form.swap,
    });
    let object = body
        .as_object_mut()
        .ok_or_else(|| "the request body is not an object".to_owned())?;
    let optional_text = [("name", &form.name), ("api_key_env", &form.api_key_env)];
    for (field, value) in optional_text {
        if !value.is_empty() {
            object.insert(field.to_owned(), value.clone().into());
        }
    }
    if let Some(key) = api_key.map(str::trim).filter(|key| !key.is_empty()) {
        object.insert("api_key".to_owned(), key.into());
    }
    if !form.tasks.is_empty() {
        let tasks: Vec<&str> = form.tasks.iter().map(|task| task.key()).collect();
        object.insert("tasks".to_owned(), tasks.into());
    }
    let numbers = [
        (
            "temperature",
            &form.temperature,
            "a number such as 0 or 0.7",
        ),
        ("max_tokens", &form.max_tokens, "a whole number of tokens"),
        (
            "concurrency",
            &form.concurrency,
            "a whole number from 1 to 64",
        ),
    ];
    for (field, text, expected) in numbers {
        if text.is_empty() {
            continue;
        }
        let number: serde_json::Number = text
            .parse::<serde_json::Number>()
            .map_err(|_| format!("{field} must be {expected}, not {text:?}"))?;
        object.insert(field.to_owned(), number.into());
    }
    Ok(body)
}

async fn submit_api_judge(
    State(site): State<Site>,
    client: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let form = api_judge_form(&fields);
    let refused = |site: &Site, form: ApiJudgeForm, status: StatusCode, error: String| {
        site.render(
            status,
            Page::Submit(SubmitPage {
                api_judge: form,
                api_judge_error: Some(error),
                ..submit_page(site)
            }),
        )
    };
    let api_key = fields
        .iter()
        .find(|(name, _)| name == "api_key")
        .map(|(_, value)| value.as_str());
    let body = match api_judge_request(&form, api_key) {
        Ok(body) => body,
        Err(error) => return refused(&site, form, StatusCode::BAD_REQUEST, error),
    };
    let answer = site
        .call(
            Method::POST,
            "/submissions",
            Content::json(&body),
            client,
            &headers,
        )
        .await;
    match answer {
        Ok((status, body)) if status.is_success() => to_status_page(&site, &body, &headers),
        Ok((status, body)) => refused(&site, form, status, api_error_message(&body)),
        Err(error) => site.problem(error),
    }
}

/// The Hub form as the API's JSON body: repository, and the optional fields given.
fn hub_checkpoint_request(form: &HubCheckpointForm) -> serde_json::Value {
    let mut body = serde_json::json!({
        "kind": "hub_checkpoint",
        "repository": form.repository.trim(),
    });
    for (field, value) in [("revision", &form.revision), ("name", &form.name)] {
        if !value.trim().is_empty() {
            body[field] = value.trim().into();
        }
    }
    body
}

/// Posts the Hub form to the API; back to the form with the API's error when refused.
async fn submit_hub_checkpoint(
    State(site): State<Site>,
    client: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let field = |name: &str| {
        fields
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| value.clone())
            .unwrap_or_default()
    };
    let form = HubCheckpointForm {
        name: field("name"),
        repository: field("repository"),
        revision: field("revision"),
    };
    let answer = site
        .call(
            Method::POST,
            "/submissions",
            Content::json(&hub_checkpoint_request(&form)),
            client,
            &headers,
        )
        .await;
    match answer {
        Ok((status, body)) if status.is_success() => to_status_page(&site, &body, &headers),
        Ok((status, body)) => site.render(
            status,
            Page::Submit(SubmitPage {
                hub_checkpoint: form,
                hub_checkpoint_error: Some(api_error_message(&body)),
                ..submit_page(&site)
            }),
        ),
        Err(error) => site.problem(error),
    }
}

/// Forwards the multipart upload to the API as it streams in.
async fn submit_checkpoint(
    State(site): State<Site>,
    client: Option<Extension<ConnectInfo<SocketAddr>>>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let content_type = parts.headers.get(header::CONTENT_TYPE).cloned();
    let answer = site
        .call(
            Method::POST,
            "/submissions",
            Content {
                body,
                content_type,
                // The body goes on unchanged: its declared length lets the API refuse an
                // oversize upload before reading it.
                content_length: parts.headers.get(header::CONTENT_LENGTH).cloned(),
                authorization: None,
            },
            client,
            &parts.headers,
        )
        .await;
    match answer {
        Ok((status, body)) if status.is_success() => to_status_page(&site, &body, &parts.headers),
        Ok((status, body)) => site.render(
            status,
            Page::Submit(SubmitPage {
                checkpoint_error: Some(api_error_message(&body)),
                ..submit_page(&site)
            }),
        ),
        Err(error) => site.problem(error),
    }
}

/// A run's progress now: judgements stored against judgements planned.
async fn progress(site: &Site, run: i64) -> Result<Option<Progress>, PageError> {
    let progress = super::events::current_progress(&site.state.storage, RunId(run))
        .await
        .map_err(|error| PageError::internal(error.to_string()))?;
    Ok(progress.map(|(done, planned)| Progress { done, planned }))
}

async fn submission(
    State(site): State<Site>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let page = async {
        let submission: SubmissionView = site
            .get(&format!("/submissions/{}", encode_component(&id)))
            .await?;
        let progress = progress(&site, submission.run).await?;
        Ok(Page::Submission(SubmissionPage {
            yours: cancel_tokens(&headers).contains_key(&submission.id),
            submission,
            progress,
            just_submitted: query_value(query.as_deref(), "submitted").is_some(),
        }))
    };
    site.page(page.await)
}

async fn queue(State(site): State<Site>, headers: HeaderMap) -> Response {
    let page = async {
        let submissions: Paged<SubmissionView> = site
            .get(&format!("/submissions?per_page={QUEUE_LENGTH}"))
            .await?;
        let mut rows = Vec::with_capacity(submissions.items.len());
        for submission in submissions.items {
            let progress = progress(&site, submission.run).await?;
            rows.push((submission, progress));
        }
        Ok(Page::Queue(QueuePage {
            submissions: rows,
            now_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |elapsed| {
                    i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
                }),
            yours: cancel_tokens(&headers).into_keys().collect(),
        }))
    };
    site.page(page.await)
}

async fn cancel(
    State(site): State<Site>,
    Path(id): Path<String>,
    client: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
) -> Response {
    // The API answers 401 without a token, 403 with another submission's.
    let authorization = id
        .parse::<i64>()
        .ok()
        .and_then(|id| cancel_tokens(&headers).remove(&id))
        .and_then(|token| HeaderValue::from_str(&format!("Bearer {token}")).ok());
    let answer = site
        .call(
            Method::POST,
            &format!("/submissions/{}/cancel", encode_component(&id)),
            Content {
                authorization,
                ..Content::empty()
            },
            client,
            &headers,
        )
        .await;
    match answer {
        Ok((status, _)) if status.is_success() => {
            Redirect::to(&format!("/submissions/{}", encode_component(&id))).into_response()
        }
        Ok((status, body)) => site.problem(PageError {
            status,
            message: api_error_message(&body),
        }),
        Err(error) => site.problem(error),
    }
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        document::STYLESHEET,
    )
        .into_response()
}

fn bundle_file(site: &Site, content_type: &'static str, pick: fn(&Bundle) -> &Bytes) -> Response {
    match &site.state.bundle {
        Some(bundle) => (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            pick(bundle).clone(),
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            "no browser bundle was built (scripts/build-web.sh)",
        )
            .into_response(),
    }
}

async fn bundle_javascript(State(site): State<Site>) -> Response {
    bundle_file(&site, "text/javascript; charset=utf-8", |bundle| {
        &bundle.javascript
    })
}

async fn bundle_wasm(State(site): State<Site>) -> Response {
    bundle_file(&site, "application/wasm", |bundle| &bundle.wasm)
}

async fn not_found(State(site): State<Site>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    if path.starts_with(API_PREFIX) {
        return (StatusCode::NOT_FOUND, "no such API route").into_response();
    }
    site.problem(PageError {
        status: StatusCode::NOT_FOUND,
        message: format!("there is no page at {path}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_becomes_the_api_request() {
        let fields: Vec<(String, String)> = [
            ("endpoint", "https://example.com/v1"),
            ("model", "judge"),
            ("settings", "with_ties"),
            ("tasks", "text_to_text"),
            ("tasks", "T2I"),
            ("tasks", "bogus"),
            ("swap", "true"),
            ("temperature", "0.5"),
            ("api_key_env", ""),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect();
        let form = api_judge_form(&fields);
        assert_eq!(form.tasks, vec![Task::TextToText, Task::TextToImage]);
        let request = api_judge_request(&form, Some(" sk-typed ")).expect("valid");
        assert_eq!(request["api_key"], "sk-typed");
        assert!(
            api_judge_request(&form, Some(""))
                .expect("valid")
                .get("api_key")
                .is_none()
        );
        assert_eq!(request["kind"], "api_judge");
        assert_eq!(request["settings"], "with_ties");
        assert_eq!(
            request["tasks"],
            serde_json::json!(["text_to_text", "text_to_image"])
        );
        assert_eq!(request["temperature"], serde_json::json!(0.5));
        assert!(request.get("api_key_env").is_none() && request.get("max_tokens").is_none());
        let bad = ApiJudgeForm {
            max_tokens: "lots".to_owned(),
            ..form
        };
        assert!(
            api_judge_request(&bad, None)
                .expect_err("bad number")
                .contains("max_tokens")
        );
    }

    #[test]
    fn query_values_are_decoded() {
        assert_eq!(
            query_value(Some("a=1&task=text_to_text&q=x%20y"), "q").as_deref(),
            Some("x y")
        );
        assert_eq!(query_value(Some("page="), "page"), None);
        assert_eq!(page_number(Some("page=0")), 1);
        assert_eq!(page_number(Some("page=3")), 3);
        assert_eq!(page_number(None), 1);
    }
}
