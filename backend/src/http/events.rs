//! `GET /runs/{id}/events`: server-sent events with a run's progress, read from the database at
//! a modest interval (any process may be judging the run: a worker, `eval`).
//!
//! Events: `progress` (first, and whenever the counts or the status change), `status` (when the
//! status changes) and `end` (once the run reaches a terminal status; the stream then closes).
//! Keep-alive comments flow while nothing changes.

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use futures_util::stream;
use omnireward_shared::Setting;
use serde::Serialize;

use super::{ApiError, ApiPath, AppState};
use crate::storage::{RunId, RunProgress, RunRecord, Storage, StorageError};

/// How often the database is read when the server is not told otherwise.
pub(super) const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// How often a comment keeps an idle connection open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The data of a `progress` event.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub(super) struct ProgressEvent {
    /// The run.
    run: i64,
    /// Its status.
    #[schema(value_type = omnireward_shared::wire::RunStatus)]
    status: &'static str,
    /// Judgements stored so far (both orders, both settings).
    judged: u64,
    /// Items the run's job plans to judge; `null` when the run has no job (started from the
    /// command line) and the plan is unknown.
    total: Option<u64>,
    /// Per setting judged, with the setting's planned items.
    #[schema(value_type = BTreeMap<String, SettingProgress>)]
    settings: BTreeMap<Setting, SettingProgress>,
}

/// One setting's progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub(super) struct SettingProgress {
    /// Judgements stored.
    judged: u64,
    /// Items planned; `null` when unknown.
    total: Option<u64>,
}

/// The data of a `status` and of the final `end` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub(super) struct StatusEvent {
    /// The run.
    run: i64,
    /// The new status.
    #[schema(value_type = omnireward_shared::wire::RunStatus)]
    status: &'static str,
    /// The status before; `null` in `end`.
    #[schema(value_type = Option<omnireward_shared::wire::RunStatus>)]
    previous: Option<&'static str>,
}

impl AppState {
    /// How often event streams read the database (default one second).
    pub fn with_event_interval(mut self, interval: Duration) -> AppState {
        self.event_interval = interval;
        self
    }
}

/// What a run plans to judge, per setting.
type Plan = BTreeMap<Setting, Option<u64>>;

/// `GET /runs/{id}/events`: 404 for an unknown run, else the event stream.
#[utoipa::path(
    get,
    path = "/runs/{id}/events",
    tag = "runs",
    params(("id" = i64, Path, description = "The run.")),
    responses(
        (status = 200, content_type = "text/event-stream",
         description = "Server-sent events: `progress` (data: ProgressEvent) first and on every \
                        change, `status` (data: StatusEvent) when the status changes, `end` \
                        (data: StatusEvent) when the run stops, after which the stream closes; \
                        `:` keep-alive comments every 15 s.",
         body = ProgressEvent),
        (status = 404, description = "No such run.", body = super::error::ErrorBody),
    )
)]
pub(super) async fn stream(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let run = id
        .parse::<i64>()
        .map(RunId)
        .map_err(|_| ApiError::NotFound(format!("run {id} does not exist")))?;
    let record = state.storage.run(run).await?;
    let plan = plan(&state.storage, &record).await?;
    let watch = Watch {
        storage: state.storage.clone(),
        run,
        plan,
        interval: state.event_interval,
        previous: None,
        queued: VecDeque::new(),
        polled: false,
        done: false,
    };
    let events = stream::unfold(watch, |mut watch| async move {
        watch.next().await.map(|event| (Ok(event), watch))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

/// A run's judgements stored and planned right now, as the first `progress` event would give
/// them; `None` when the plan is unknown (a run started from the command line).
pub(super) async fn current_progress(
    storage: &Storage,
    run: RunId,
) -> Result<Option<(u64, u64)>, StorageError> {
    let record = storage.run(run).await?;
    let plan = plan(storage, &record).await?;
    let progress = storage.run_progress(run).await?;
    let judged = progress.judged.values().sum();
    Ok(plan
        .values()
        .copied()
        .sum::<Option<u64>>()
        .map(|planned| (judged, planned)))
}

/// The planned items per setting of the run's latest job (its settings and swap option over
/// the run's stored benchmark); unknown without a job.
async fn plan(storage: &Storage, run: &RunRecord) -> Result<Plan, StorageError> {
    let specification = storage.latest_job_specification(run.id).await?;
    let (Some(specification), Some(benchmark)) = (specification, run.benchmark) else {
        return Ok(Setting::ALL
            .into_iter()
            .map(|setting| (setting, None))
            .collect());
    };
    let (samples, ties) = storage.sample_label_counts(benchmark).await?;
    let orders = if specification
        .get("swap")
        .and_then(serde_json::Value::as_bool)
        == Some(true)
    {
        2
    } else {
        1
    };
    let planned: Vec<Setting> = specification
        .get("settings")
        .and_then(|settings| serde_json::from_value(settings.clone()).ok())
        .unwrap_or_else(|| Setting::ALL.to_vec());
    Ok(Setting::ALL
        .into_iter()
        .map(|setting| {
            let items = match setting {
                Setting::WithTies => samples,
                Setting::WithoutTies => samples.saturating_sub(ties),
            };
            // A setting the job leaves out plans no items.
            let total = if planned.contains(&setting) {
                items * orders
            } else {
                0
            };
            (setting, Some(total))
        })
        .collect())
}

/// The state of one event stream.
struct Watch {
    storage: Storage,
    run: RunId,
    plan: Plan,
    interval: Duration,
    /// The last snapshot sent.
    previous: Option<RunProgress>,
    /// Events made by the last poll, not yet sent.
    queued: VecDeque<Event>,
    polled: bool,
    done: bool,
}

impl Watch {
    /// The next event, waiting for a change as long as needed; `None` once the stream ended.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.queued.pop_front() {
                return Some(event);
            }
            if self.done {
                return None;
            }
            if self.polled {
                tokio::time::sleep(self.interval).await;
            }
            self.polled = true;
            self.poll().await;
        }
    }

    /// Reads the run once and queues the events its change calls for.
    async fn poll(&mut self) {
        let progress = match self.storage.run_progress(self.run).await {
            Ok(progress) => progress,
            Err(StorageError::RunNotFound(_)) => {
                self.queued.push_back(
                    Event::default()
                        .event("error")
                        .data(format!("run {} was deleted", self.run)),
                );
                self.done = true;
                return;
            }
            Err(error) => {
                // Logged here; the stream carries on and retries at the next interval.
                tracing::warn!(run = %self.run, %error, "cannot read a run's progress");
                return;
            }
        };
        let status = progress.status;
        let previous_status = self.previous.as_ref().map(|previous| previous.status);
        if let Some(previous) = previous_status
            && previous != status
        {
            self.push(
                "status",
                &StatusEvent {
                    run: self.run.0,
                    status: status.as_str(),
                    previous: Some(previous.as_str()),
                },
            );
        }
        if self.previous.as_ref() != Some(&progress) {
            let event = self.progress_event(&progress);
            self.push("progress", &event);
        }
        if status.is_terminal() {
            self.push(
                "end",
                &StatusEvent {
                    run: self.run.0,
                    status: status.as_str(),
                    previous: None,
                },
            );
            self.done = true;
        }
        self.previous = Some(progress);
    }

    fn progress_event(&self, progress: &RunProgress) -> ProgressEvent {
        let settings: BTreeMap<Setting, SettingProgress> = Setting::ALL
            .into_iter()
            .map(|setting| {
                let progress = SettingProgress {
                    judged: progress.judged.get(&setting).copied().unwrap_or(0),
                    total: self.plan.get(&setting).copied().flatten(),
                };
                (setting, progress)
            })
            .collect();
        let total = settings
            .values()
            .map(|setting| setting.total)
            .sum::<Option<u64>>();
        ProgressEvent {
            run: self.run.0,
            status: progress.status.as_str(),
            judged: progress.judged.values().sum(),
            total,
            settings,
        }
    }

    fn push(&mut self, name: &'static str, data: &impl Serialize) {
        match Event::default().event(name).json_data(data) {
            Ok(event) => self.queued.push_back(event),
            Err(error) => tracing::error!(%error, "cannot encode a run event"),
        }
    }
}
