//! `GET /metrics`: Prometheus text exposition (format 0.0.4) of the server's request counts and
//! latencies by route template, the scoring demo's requests and refusals, jobs and runs by
//! status (read from the database at scrape time) and the process start time.
//!
//! A small registry written here rather than a metrics crate: a handful of series, and each
//! request only takes one short lock (no I/O while it is held).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{API_PREFIX, ApiError, AppState};
use crate::storage::RunStatus;

/// The content type of the text exposition format.
const CONTENT_TYPE_0_0_4: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds of the latency histogram's buckets, in seconds.
const LATENCY_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The route label of requests that match no route (kept apart so unknown paths cannot create
/// new series).
const UNMATCHED: &str = "unmatched";

/// Every status a job or run can have, so each series is present even at zero.
const STATUSES: [RunStatus; 5] = [
    RunStatus::Queued,
    RunStatus::Running,
    RunStatus::Finished,
    RunStatus::Failed,
    RunStatus::Cancelled,
];

/// Counts and latencies recorded per request.
#[derive(Debug)]
pub(super) struct Metrics {
    /// Unix seconds when the server started.
    started_at_seconds: f64,
    series: Mutex<Series>,
}

#[derive(Debug, Default)]
struct Series {
    /// Requests by (route template, method, status class).
    requests: BTreeMap<(String, &'static str, &'static str), u64>,
    /// Latency histogram by route template.
    latency: BTreeMap<String, Histogram>,
    /// Requests to the scoring demo.
    score_requests: u64,
    /// Refused demo requests by reason.
    score_refusals: BTreeMap<&'static str, u64>,
}

#[derive(Debug, Default)]
struct Histogram {
    /// Cumulative counts per bucket of [`LATENCY_BUCKETS`].
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Metrics {
    pub(super) fn new() -> Metrics {
        let started_at_seconds = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |elapsed| elapsed.as_secs_f64());
        Metrics {
            started_at_seconds,
            series: Mutex::new(Series::default()),
        }
    }

    fn series(&self) -> MutexGuard<'_, Series> {
        // A panic while the lock was held can only have left a count unincremented.
        self.series
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn record(&self, route: &str, method: &'static str, status: u16, seconds: f64) {
        let class = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        let mut series = self.series();
        *series
            .requests
            .entry((route.to_owned(), method, class))
            .or_default() += 1;
        let histogram = series.latency.entry(route.to_owned()).or_default();
        for (bucket, bound) in histogram.buckets.iter_mut().zip(LATENCY_BUCKETS) {
            *bucket += u64::from(seconds <= bound);
        }
        histogram.count += 1;
        histogram.sum += seconds;
        if route == SCORE_ROUTE.as_str() {
            series.score_requests += 1;
            let refusal = match status {
                429 => Some("saturated"),
                503 => Some("unavailable"),
                400..=499 => Some("invalid_input"),
                _ => None,
            };
            if let Some(reason) = refusal {
                *series.score_refusals.entry(reason).or_default() += 1;
            }
        }
    }
}

/// The template of the scoring demo's route.
static SCORE_ROUTE: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("{API_PREFIX}/score"));

/// Route-level middleware: carries the matched route template to [`record`] on the response
/// (the outer middleware runs before routing and cannot see it). The innermost template wins.
pub(super) async fn remember_route(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().cloned();
    let mut response = next.run(request).await;
    if let Some(route) = route
        && response.extensions().get::<MatchedPath>().is_none()
    {
        response.extensions_mut().insert(route);
    }
    response
}

/// Outer middleware: counts every request and times it until its response head is ready.
pub(super) async fn record(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    // Extension methods are folded into one label, so clients cannot create series at will.
    let method = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
    ]
    .into_iter()
    .zip(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
    .find_map(|(known, label)| (known == request.method()).then_some(label))
    .unwrap_or("OTHER");
    let response = next.run(request).await;
    let route = response
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, MatchedPath::as_str);
    metrics.record(
        route,
        method,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// `GET /metrics`.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "meta",
    responses((status = 200, description = "Prometheus text exposition format 0.0.4: \
        `omnireward_http_requests_total{route,method,status}`, \
        `omnireward_http_request_duration_seconds{route}` (histogram), \
        `omnireward_score_requests_total`, `omnireward_score_refusals_total{reason}`, \
        `omnireward_jobs{status}`, `omnireward_jobs_awaiting_approval`, \
        `omnireward_runs{status}`, `omnireward_runs_finished`, `process_start_time_seconds`.",
        content_type = "text/plain; version=0.0.4"))
)]
pub(super) async fn render(State(state): State<AppState>) -> Result<Response, ApiError> {
    let (jobs, awaiting_approval) = state.storage.job_counts().await?;
    let runs = state.storage.run_counts().await?;
    let mut text = String::new();
    write_exposition(&mut text, &state.metrics, &jobs, awaiting_approval, &runs)
        .map_err(|error| ApiError::Internal(format!("cannot write the metrics: {error}")))?;
    Ok(([(CONTENT_TYPE, CONTENT_TYPE_0_0_4)], text).into_response())
}

fn write_exposition(
    text: &mut String,
    metrics: &Metrics,
    jobs: &BTreeMap<RunStatus, u64>,
    awaiting_approval: u64,
    runs: &BTreeMap<RunStatus, u64>,
) -> std::fmt::Result {
    let series = metrics.series();
    writeln!(
        text,
        "# HELP omnireward_http_requests_total HTTP requests by route template, method and \
         status class."
    )?;
    writeln!(text, "# TYPE omnireward_http_requests_total counter")?;
    for ((route, method, class), count) in &series.requests {
        writeln!(
            text,
            "omnireward_http_requests_total{{route=\"{}\",method=\"{}\",status=\"{class}\"}} {count}",
            label(route),
            label(method)
        )?;
    }
    writeln!(
        text,
        "# HELP omnireward_http_request_duration_seconds Time until the response head, by route \
         template."
    )?;
    writeln!(
        text,
        "# TYPE omnireward_http_request_duration_seconds histogram"
    )?;
    for (route, histogram) in &series.latency {
        let route = label(route);
        for (bound, count) in LATENCY_BUCKETS.iter().zip(histogram.buckets) {
            writeln!(
                text,
                "omnireward_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {count}"
            )?;
        }
        writeln!(
            text,
            "omnireward_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
            histogram.count
        )?;
        writeln!(
            text,
            "omnireward_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
            histogram.sum
        )?;
        writeln!(
            text,
            "omnireward_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
            histogram.count
        )?;
    }
    writeln!(
        text,
        "# HELP omnireward_score_requests_total Requests to the scoring demo."
    )?;
    writeln!(text, "# TYPE omnireward_score_requests_total counter")?;
    writeln!(
        text,
        "omnireward_score_requests_total {}",
        series.score_requests
    )?;
    writeln!(
        text,
        "# HELP omnireward_score_refusals_total Scoring demo requests refused, by reason."
    )?;
    writeln!(text, "# TYPE omnireward_score_refusals_total counter")?;
    for reason in ["saturated", "unavailable", "invalid_input"] {
        let count = series.score_refusals.get(reason).copied().unwrap_or(0);
        writeln!(
            text,
            "omnireward_score_refusals_total{{reason=\"{reason}\"}} {count}"
        )?;
    }
    drop(series);
    writeln!(text, "# HELP omnireward_jobs Jobs in the queue by status.")?;
    writeln!(text, "# TYPE omnireward_jobs gauge")?;
    for status in STATUSES {
        let count = jobs.get(&status).copied().unwrap_or(0);
        writeln!(
            text,
            "omnireward_jobs{{status=\"{}\"}} {count}",
            status.as_str()
        )?;
    }
    writeln!(
        text,
        "# HELP omnireward_jobs_awaiting_approval Queued jobs that wait for an administrator."
    )?;
    writeln!(text, "# TYPE omnireward_jobs_awaiting_approval gauge")?;
    writeln!(
        text,
        "omnireward_jobs_awaiting_approval {awaiting_approval}"
    )?;
    writeln!(text, "# HELP omnireward_runs Runs by status.")?;
    writeln!(text, "# TYPE omnireward_runs gauge")?;
    for status in STATUSES {
        let count = runs.get(&status).copied().unwrap_or(0);
        writeln!(
            text,
            "omnireward_runs{{status=\"{}\"}} {count}",
            status.as_str()
        )?;
    }
    writeln!(
        text,
        "# HELP omnireward_runs_finished Runs that finished (every item judged)."
    )?;
    writeln!(text, "# TYPE omnireward_runs_finished gauge")?;
    writeln!(
        text,
        "omnireward_runs_finished {}",
        runs.get(&RunStatus::Finished).copied().unwrap_or(0)
    )?;
    writeln!(
        text,
        "# HELP process_start_time_seconds Start time of the process since the Unix epoch."
    )?;
    writeln!(text, "# TYPE process_start_time_seconds gauge")?;
    writeln!(
        text,
        "process_start_time_seconds {}",
        metrics.started_at_seconds
    )?;
    Ok(())
}

/// A label value escaped as the exposition format requires.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_class_and_bucketed() {
        let metrics = Metrics::new();
        metrics.record("/api/v1/tasks", "GET", 200, 0.003);
        metrics.record("/api/v1/tasks", "GET", 404, 0.2);
        metrics.record(&SCORE_ROUTE, "POST", 429, 0.001);
        let mut text = String::new();
        write_exposition(&mut text, &metrics, &BTreeMap::new(), 2, &BTreeMap::new())
            .expect("writes");
        for line in [
            "omnireward_http_requests_total{route=\"/api/v1/tasks\",method=\"GET\",status=\"2xx\"} 1",
            "omnireward_http_requests_total{route=\"/api/v1/tasks\",method=\"GET\",status=\"4xx\"} 1",
            "omnireward_http_request_duration_seconds_bucket{route=\"/api/v1/tasks\",le=\"0.005\"} 1",
            "omnireward_http_request_duration_seconds_bucket{route=\"/api/v1/tasks\",le=\"0.25\"} 2",
            "omnireward_http_request_duration_seconds_bucket{route=\"/api/v1/tasks\",le=\"+Inf\"} 2",
            "omnireward_http_request_duration_seconds_count{route=\"/api/v1/tasks\"} 2",
            "omnireward_score_requests_total 1",
            "omnireward_score_refusals_total{reason=\"saturated\"} 1",
            "omnireward_jobs{status=\"queued\"} 0",
            "omnireward_jobs_awaiting_approval 2",
        ] {
            assert!(
                text.lines().any(|candidate| candidate == line),
                "{line}\n{text}"
            );
        }
        assert_eq!(label("a\"b\\c\n"), "a\\\"b\\\\c\\n");
    }
}
