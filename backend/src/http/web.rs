//! The web app's pages: server-rendered Leptos pages (crate `omnireward-frontend`) with the
//! browser bundle that hydrates them, the stylesheet, and the two forms (submissions, demo) that
//! post here.
//!
//! Every page is built by the same service functions the API's handlers call, returning the
//! same documents (`omnireward_shared::wire`), so the site can never show something the API
//! would not: the same validation, the same caching, the same errors (with the status and
//! message the API would give). Form posts call the same submission, upload, cancel and scoring
//! services, and their errors are shown beside the form.

use std::path::Path as FilePath;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Form, FromRequestParts, Path, RawQuery, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use omnireward_frontend::data::{
    ApiJudgeForm, BenchmarkPage, HubCheckpointForm, JudgementFilter, LeaderboardPage, ModelPage,
    ModelRank, Page, ProblemPage, Progress, QueuePage, SamplePage, SubmissionPage, SubmitPage,
    TaskSummary,
};
use omnireward_frontend::document;
use omnireward_frontend::leaderboard::{View, decode_component, encode_component};
use omnireward_frontend::sample_list::SampleList;
use omnireward_shared::wire::Submitted;
use omnireward_shared::{Setting, Task};

use super::leaderboard::{LeaderboardQuery, leaderboard_document};
use super::rate_limit::SubmissionAdmitted;
use super::runs::JudgementsQuery;
use super::{API_PREFIX, ApiError, AppState, Pagination};
use crate::storage::RunId;

mod compare;
mod demo;
mod sample_list;
mod served;

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

/// What the page handlers share: the application state.
#[derive(Clone)]
struct Site {
    state: AppState,
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

/// A service's error shows the status and message the API would answer with.
impl From<ApiError> for PageError {
    fn from(error: ApiError) -> PageError {
        let (status, message) = error.status_and_public_message();
        PageError { status, message }
    }
}

/// The site's routes, beside the API's.
pub(super) fn routes(state: AppState) -> Router {
    let upload_limit = super::uploads::body_limit(&state);
    let site = Site { state };
    Router::new()
        .route("/", get(leaderboard))
        .route("/compare", get(compare::page))
        .route("/models/{id}", get(model))
        .route("/runs/{id}", get(run))
        .route("/benchmark", get(benchmark))
        .route("/benchmark/{task}/{id}", get(sample))
        .route("/submit", get(submit_form).post(submit_api_judge))
        .route(
            "/submit/checkpoint",
            post(submit_checkpoint).layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route("/submit/hub", post(submit_hub_checkpoint))
        .route("/submissions/{id}", get(submission))
        .route("/submissions/{id}/cancel", post(cancel))
        .route("/queue", get(queue))
        .route("/methods", get(methods))
        .route(
            omnireward_frontend::pages::methods::BIBTEX_PATH,
            get(methods_bibtex),
        )
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

async fn leaderboard(State(site): State<Site>, RawQuery(query): RawQuery) -> Response {
    let page = async {
        let view = View::from_query(query.as_deref().unwrap_or(""));
        let document = |setting: Setting, benchmark: Option<String>| {
            let query = LeaderboardQuery {
                setting: Some(setting.key().to_owned()),
                benchmark,
                ..LeaderboardQuery::default()
            };
            let state = site.state.clone();
            async move { leaderboard_document(&state, &query).await }
        };
        let with_ties = document(Setting::WithTies, view.benchmark.clone()).await?;
        // Both settings show the benchmark the first read chose, even if its default would
        // differ between them.
        let without_ties =
            document(Setting::WithoutTies, Some(with_ties.benchmark.clone())).await?;
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
            served: served::served_benchmark(&site.state.benchmark),
        }))
    };
    site.page(page.await)
}

async fn model(
    State(site): State<Site>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let page = async {
        let document = super::models::model_document(&site.state.storage, &id).await?;
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
        // A model known only from the paper gets the same task bars and radar, drawn from the
        // paper's numbers.
        let reported = document
            .runs
            .iter()
            .find_map(|run| run.reported_scores.as_ref());
        let charts = match (charted.and_then(|run| run.scorecard.as_ref()), reported) {
            (Some(scorecard), _) => omnireward_frontend::charts::scorecard_charts(scorecard),
            (None, Some(reported)) => omnireward_frontend::charts::score_charts(
                &omnireward_frontend::charts::ChartScores::of_reported(reported),
            ),
            (None, None) => Ok(Vec::new()),
        }
        .map_err(|error| PageError::internal(error.to_string()))?;
        let ranks = if reported.is_some() {
            paper_ranks(&site.state, document.model.id).await?
        } else {
            Vec::new()
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
                let query = JudgementsQuery {
                    task: filter.task.map(|task| task.key().to_owned()),
                    setting: filter.setting.map(|setting| setting.key().to_owned()),
                    order: None,
                    correct: filter.correct.map(|correct| correct.to_string()),
                    verdict: filter.verdict.clone(),
                    page: Some(filter.page.to_string()),
                    per_page: Some(JUDGEMENTS_PER_PAGE.to_string()),
                };
                Some(super::runs::judgements_page(&site.state, &run.to_string(), &query).await?)
            }
            None => None,
        };
        Ok(Page::Model(ModelPage {
            model: document.model,
            training: document.training,
            runs: document.runs,
            charts,
            filter,
            ranks,
            judgements,
        }))
    };
    site.page(page.await)
}

/// Where a paper model's rows rank among the release's rows, per setting (the leaderboard's
/// default view of the paper's benchmark).
async fn paper_ranks(state: &AppState, model: i64) -> Result<Vec<ModelRank>, ApiError> {
    let mut ranks = Vec::new();
    for setting in Setting::ALL {
        let query = LeaderboardQuery {
            setting: Some(setting.key().to_owned()),
            benchmark: Some(crate::data::RELEASE_NAME.to_owned()),
            ..LeaderboardQuery::default()
        };
        let document = leaderboard_document(state, &query).await?;
        if let Some(row) = document.rows.iter().find(|row| row.model_id == model) {
            ranks.push(ModelRank {
                setting,
                rank: row.rank,
                of: document.rows.len(),
                benchmark: row.benchmark.clone(),
            });
        }
    }
    Ok(ranks)
}

/// `/runs/{id}`: the run's section of its model's page.
async fn run(State(site): State<Site>, Path(id): Path<String>) -> Response {
    match super::runs::run(&site.state, &id).await {
        Ok(run) => Redirect::to(&format!(
            "/models/{}?run={}#run-{}",
            run.model.id,
            encode_component(&id),
            encode_component(&id)
        ))
        .into_response(),
        Err(error) => site.problem(error.into()),
    }
}

async fn methods(State(site): State<Site>) -> Response {
    site.render(StatusCode::OK, Page::Methods)
}

/// The benchmark's BibTeX as a file, for reference managers.
async fn methods_bibtex() -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/x-bibtex; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"omni-reward.bib\"",
            ),
        ],
        omnireward_frontend::pages::methods::BIBTEX,
    )
        .into_response()
}

async fn benchmark(State(site): State<Site>, RawQuery(query): RawQuery) -> Response {
    let page = async {
        let query = query.as_deref();
        let tasks = super::tasks::tasks_document(&site.state.benchmark);
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
        let list = SampleList::from_query(query.unwrap_or(""), task);
        let difficulty = super::leaderboard::served_difficulty(&site.state).await?;
        let listed = sample_list::listed(&site.state.benchmark, &list, &difficulty);
        let pagination = Pagination::parse(
            Some(&page_number(query).to_string()),
            Some(&SAMPLES_PER_PAGE.to_string()),
        )?;
        let samples = pagination.page(listed).map(super::samples::sample_view);
        let shown_difficulty = samples
            .items
            .iter()
            .filter_map(|sample| Some((sample.id.clone(), difficulty.sample(task, &sample.id)?)))
            .collect();
        Ok(Page::Benchmark(BenchmarkPage {
            benchmark: format!("{} {}", tasks.benchmark.name, tasks.benchmark.version),
            served: served::served_benchmark(&site.state.benchmark),
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
            list,
            difficulty: shown_difficulty,
            runs_counted: difficulty.runs(),
        }))
    };
    site.page(page.await)
}

async fn sample(
    State(site): State<Site>,
    Path((task, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    let page = async {
        let sample = super::samples::found_sample(&site.state, &task, &id)?;
        let answers = super::samples::sample_answers(&site.state, &task, &id).await?;
        let difficulty = super::leaderboard::served_difficulty(&site.state).await?;
        let list = SampleList::from_query(query.as_deref().unwrap_or(""), sample.task);
        // The sample's own task, whatever the query says: previous and next stay in it.
        let list = SampleList {
            task: sample.task,
            ..list
        };
        let listed = sample_list::listed(&site.state.benchmark, &list, &difficulty);
        Ok::<_, PageError>(Page::Sample(SamplePage {
            sample: super::samples::sample_view(sample),
            answers,
            served: served::served_benchmark(&site.state.benchmark),
            difficulty: difficulty.sample(sample.task, &sample.id),
            runs_counted: difficulty.runs(),
            list,
            neighbours: sample_list::neighbours(&listed, &sample.id),
        }))
    };
    site.page(page.await)
}

fn submit_page(site: &Site) -> SubmitPage {
    SubmitPage {
        served: served::served_benchmark(&site.state.benchmark),
        max_upload_bytes: site.state.uploads.as_ref().map(|uploads| uploads.max_bytes),
        max_hub_bytes: site.state.hub.as_ref().map(|hub| hub.max_bytes),
        ..SubmitPage::default()
    }
}

async fn submit_form(State(site): State<Site>) -> Response {
    site.render(StatusCode::OK, Page::Submit(submit_page(&site)))
}

/// After an accepted submission: on to its status page, leaving the submission's cancel token
/// in this browser (see [`cancel_cookie`]). `request` holds the form post's headers, which say
/// whether it came over HTTPS.
fn to_status_page(site: &Site, submitted: Submitted, request: &HeaderMap) -> Response {
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
) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let mut object = serde_json::Map::new();
    object.insert("kind".to_owned(), "api_judge".into());
    object.insert("endpoint".to_owned(), form.endpoint.clone().into());
    object.insert("model".to_owned(), form.model.clone().into());
    let settings = if form.settings.is_empty() {
        "both"
    } else {
        form.settings.as_str()
    };
    object.insert("settings".to_owned(), settings.into());
    object.insert("swap".to_owned(), form.swap.into());
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
    Ok(object)
}

async fn submit_api_judge(
    State(site): State<Site>,
    mut parts: Parts,
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
    let submitted = async {
        // The form counts against the same per-address limit as the API.
        SubmissionAdmitted::from_request_parts(&mut parts, &site.state).await?;
        super::submissions::submit_json(&site.state, body).await
    };
    match submitted.await {
        Ok((_, submitted)) => to_status_page(&site, submitted, &parts.headers),
        Err(error) => {
            let PageError { status, message } = error.into();
            refused(&site, form, status, message)
        }
    }
}

/// The Hub form as the API's JSON body: repository, and the optional fields given.
fn hub_checkpoint_request(form: &HubCheckpointForm) -> serde_json::Map<String, serde_json::Value> {
    let mut body = serde_json::Map::new();
    body.insert("kind".to_owned(), "hub_checkpoint".into());
    body.insert("repository".to_owned(), form.repository.trim().into());
    for (field, value) in [("revision", &form.revision), ("name", &form.name)] {
        if !value.trim().is_empty() {
            body.insert(field.to_owned(), value.trim().into());
        }
    }
    body
}

/// The Hub form: the same service as a JSON `POST /submissions`, under the same rate limit;
/// back to the form with the service's error when refused.
async fn submit_hub_checkpoint(
    State(site): State<Site>,
    mut parts: Parts,
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
    let submitted = async {
        SubmissionAdmitted::from_request_parts(&mut parts, &site.state).await?;
        super::submissions::submit_json(&site.state, hub_checkpoint_request(&form)).await
    };
    match submitted.await {
        Ok((_, submitted)) => to_status_page(&site, submitted, &parts.headers),
        Err(error) => {
            let PageError { status, message } = error.into();
            site.render(
                status,
                Page::Submit(SubmitPage {
                    hub_checkpoint: form,
                    hub_checkpoint_error: Some(message),
                    ..submit_page(&site)
                }),
            )
        }
    }
}

/// The upload form: the same upload service as a multipart `POST /submissions`, reading the
/// files as they stream in.
async fn submit_checkpoint(State(site): State<Site>, request: Request) -> Response {
    let headers = request.headers().clone();
    match super::uploads::upload(site.state.clone(), request).await {
        Ok((_, uploaded)) => to_status_page(&site, uploaded.submitted, &headers),
        Err(error) => {
            let PageError { status, message } = error.into();
            site.render(
                status,
                Page::Submit(SubmitPage {
                    checkpoint_error: Some(message),
                    ..submit_page(&site)
                }),
            )
        }
    }
}

/// A run's progress now: judgements stored against judgements planned.
async fn progress(site: &Site, run: i64) -> Result<Option<Progress>, PageError> {
    let progress = super::events::current_progress(&site.state.storage, RunId(run))
        .await
        .map_err(|error| PageError::internal(error.to_string()))?;
    Ok(progress.map(|(done, planned)| Progress { done, planned }))
}

/// The submission a path segment names; one that is not a number is a bad request, as the
/// API's `/submissions/{id}` answers.
fn submission_id(id: &str) -> Result<i64, PageError> {
    id.parse().map_err(|_| {
        ApiError::Malformed(format!("the submission id {id:?} is not a number")).into()
    })
}

async fn submission(
    State(site): State<Site>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let page = async {
        let submission = super::submissions::submission(&site.state, submission_id(&id)?).await?;
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
        let pagination = Pagination::parse(None, Some(&QUEUE_LENGTH.to_string()))?;
        let submissions = super::submissions::submissions_page(&site.state, pagination).await?;
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

async fn cancel(State(site): State<Site>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let cancelled = async {
        let id = submission_id(&id)?;
        // The service answers 401 without a token, 403 with another submission's.
        let mut credentials = HeaderMap::new();
        if let Some(authorization) = cancel_tokens(&headers)
            .remove(&id)
            .and_then(|token| HeaderValue::from_str(&format!("Bearer {token}")).ok())
        {
            credentials.insert(header::AUTHORIZATION, authorization);
        }
        super::submissions::cancel_submission(&site.state, id, &credentials).await?;
        Ok::<_, PageError>(id)
    };
    match cancelled.await {
        Ok(id) => Redirect::to(&format!("/submissions/{id}")).into_response(),
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
