//! `GET /leaderboard` (JSON) and `GET /leaderboard.csv`: the stored rows of one setting,
//! optionally narrowed to one modality (ranked by the modality score) or one model kind.
//!
//! The rows are cached in memory: [`LeaderboardCache`] holds the rows of both settings read at
//! one leaderboard generation (a counter the database's triggers bump on every write that can
//! change a row, from any process), and the response bodies made from them per filter and format.
//! Each request needs the current generation and is served from the cache only when the cache is
//! at least that new, so a request that starts after a run finished always sees it. Concurrent
//! requests share generation reads ([`GenerationReader`]): a request waits for a read that
//! started after it arrived, so under load one single-row query answers many requests. One
//! request re-reads the rows when the generation moved; the others wait for it.
//!
//! Responses carry an `ETag` (a hash of the body) and `Cache-Control: no-cache`: a client
//! revalidates every time and, with `If-None-Match`, gets `304 Not Modified` without the body
//! while the rows have not changed.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use omnireward_shared::{Modality, Setting, Task};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use super::{ApiError, ApiQuery, AppState, parse_choice};
use omnireward_shared::wire::{LeaderboardDocument, LeaderboardRow};

use crate::data::Benchmark;
use crate::difficulty::Difficulty;
use crate::leaderboard::{self, Leaderboard};
use crate::storage::{LeaderboardGeneration, ModelKind, Storage};

/// The raw query; every value is validated by [`LeaderboardFilter::parse`].
#[derive(Debug, Default, Deserialize)]
pub(super) struct LeaderboardQuery {
    pub(super) setting: Option<String>,
    pub(super) modality: Option<String>,
    #[serde(rename = "type")]
    pub(super) kind: Option<String>,
    pub(super) benchmark: Option<String>,
}

/// Which rows to show.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct LeaderboardFilter {
    setting: Setting,
    modality: Option<Modality>,
    kind: Option<ModelKind>,
    /// The benchmark whose rows are ranked; `None`: the default ([`leaderboard::default_benchmark`]).
    benchmark: Option<String>,
}

impl LeaderboardFilter {
    fn parse(query: &LeaderboardQuery) -> Result<LeaderboardFilter, ApiError> {
        let settings = Setting::ALL.map(|setting| (setting.key(), setting));
        let modalities = Modality::ALL.map(|modality| (modality.key(), modality));
        let kinds = ModelKind::ALL.iter().map(|kind| (kind.as_str(), *kind));
        Ok(LeaderboardFilter {
            setting: parse_choice("setting", query.setting.as_deref(), settings)?
                .unwrap_or(Setting::WithTies),
            modality: parse_choice("modality", query.modality.as_deref(), modalities)?,
            kind: parse_choice("type", query.kind.as_deref(), kinds)?,
            benchmark: query
                .benchmark
                .as_deref()
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .map(str::to_owned),
        })
    }
}

/// The two documents served.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Format {
    Json,
    Csv,
}

/// The leaderboard rows of the newest generation read, and the bodies served from them.
pub(crate) struct LeaderboardCache {
    /// Whether to cache at all; without, every request reads the database.
    enabled: bool,
    /// The newest rows read, if any.
    current: RwLock<Option<Arc<CachedLeaderboard>>>,
    /// Held by the one request that re-reads the rows.
    refresh: tokio::sync::Mutex<()>,
    /// Reads of the generation, shared by concurrent requests.
    generation: Arc<GenerationReader>,
}

/// Reads the leaderboard generation on behalf of many requests: each request is answered by a
/// read that started after the request arrived (so it sees every commit made before), and at
/// most one read is in flight: requests arriving meanwhile share the next one.
struct GenerationReader {
    state: Mutex<ReaderState>,
    published: tokio::sync::watch::Sender<PublishedRead>,
}

/// Reads started so far, and whether one is in flight.
#[derive(Debug, Default)]
struct ReaderState {
    started: u64,
    running: bool,
}

/// The latest finished read: its number, and its generation (`None` when it failed; the
/// requests it answers then read the generation themselves, to get the error).
#[derive(Clone, Copy, Debug, Default)]
struct PublishedRead {
    read: u64,
    generation: Option<LeaderboardGeneration>,
}

impl GenerationReader {
    fn new() -> GenerationReader {
        GenerationReader {
            state: Mutex::new(ReaderState::default()),
            published: tokio::sync::watch::Sender::new(PublishedRead::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ReaderState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The generation as of a moment after this call started.
    async fn current(
        self: &Arc<Self>,
        storage: &Storage,
    ) -> Result<LeaderboardGeneration, ApiError> {
        let mut published = self.published.subscribe();
        let needed = self.state().started + 1;
        loop {
            let latest = *published.borrow_and_update();
            if latest.read >= needed {
                return match latest.generation {
                    Some(generation) => Ok(generation),
                    None => Ok(storage.leaderboard_generation().await?),
                };
            }
            let start = {
                let mut state = self.state();
                (!state.running).then(|| {
                    state.running = true;
                    state.started += 1;
                    state.started
                })
            };
            if let Some(read) = start {
                // A task of its own, so a request that goes away cannot abandon the read that
                // others wait for.
                let reader = Arc::clone(self);
                let storage = storage.clone();
                tokio::spawn(async move {
                    let generation = storage.leaderboard_generation().await.ok();
                    reader.state().running = false;
                    reader
                        .published
                        .send_replace(PublishedRead { read, generation });
                });
            }
            if published.changed().await.is_err() {
                // Unreachable while `self` holds the sender; read directly all the same.
                return Ok(storage.leaderboard_generation().await?);
            }
        }
    }
}

/// Rows of one generation and the response bodies made from them so far.
struct CachedLeaderboard {
    leaderboard: Leaderboard,
    bodies: Mutex<Bodies>,
    /// The served samples' difficulty, computed by the first request that needs it: finished
    /// runs, which are all it counts, only change with the generation.
    difficulty: OnceCell<Arc<Difficulty>>,
}

/// At most one body per filter and format (2 settings x 6 modality choices x 6 kind choices x
/// 2 formats), each made once by the first request that needs it.
type Bodies = HashMap<(LeaderboardFilter, Format), Arc<OnceCell<Rendered>>>;

/// A response body and its entity tag.
#[derive(Clone, Debug)]
struct Rendered {
    body: Bytes,
    /// `"` + the first 16 bytes of the body's SHA-256 in hex + `"`.
    etag: HeaderValue,
}

impl Rendered {
    fn new(body: Bytes) -> Rendered {
        let digest = Sha256::digest(&body);
        let tag = format!("\"{}\"", hex::encode(&digest[..16]));
        Rendered {
            body,
            etag: HeaderValue::from_str(&tag).unwrap_or(HeaderValue::from_static("\"\"")),
        }
    }

    /// The response: the body with `headers`, or `304 Not Modified` when the request's
    /// `If-None-Match` names this body's tag.
    fn respond<const N: usize>(
        self,
        request: &HeaderMap,
        headers: [(axum::http::HeaderName, HeaderValue); N],
    ) -> Response {
        let validators = [
            (ETAG, self.etag.clone()),
            (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ];
        if matches(request, &self.etag) {
            return (StatusCode::NOT_MODIFIED, validators).into_response();
        }
        (validators, headers, self.body).into_response()
    }
}

/// Whether an `If-None-Match` header of the request matches `etag` (weak comparison, `*`).
fn matches(request: &HeaderMap, etag: &HeaderValue) -> bool {
    let etag = etag.as_bytes();
    request.get_all(IF_NONE_MATCH).iter().any(|value| {
        value
            .as_bytes()
            .split(|byte| *byte == b',')
            .any(|candidate| {
                let candidate = candidate.trim_ascii();
                let candidate = candidate.strip_prefix(b"W/").unwrap_or(candidate);
                candidate == b"*" || candidate == etag
            })
    })
}

impl LeaderboardCache {
    /// An empty cache.
    pub(crate) fn new() -> LeaderboardCache {
        LeaderboardCache {
            enabled: true,
            current: RwLock::new(None),
            refresh: tokio::sync::Mutex::new(()),
            generation: Arc::new(GenerationReader::new()),
        }
    }

    /// No cache: every request reads and renders the rows (the baseline of the benchmark).
    pub(crate) fn disabled() -> LeaderboardCache {
        LeaderboardCache {
            enabled: false,
            ..LeaderboardCache::new()
        }
    }

    /// The body of `filter` in `format`, at least as new as the data when the call started.
    async fn body(
        &self,
        storage: &Storage,
        filter: LeaderboardFilter,
        served: &str,
        format: Format,
    ) -> Result<Rendered, ApiError> {
        if !self.enabled {
            let rows = leaderboard::rows(storage, filter.setting).await?;
            return render(&document(&rows, &filter, served)?, format).map(Rendered::new);
        }
        let cached = self.current(storage).await?;
        let cell = Arc::clone(
            cached
                .bodies
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry((filter.clone(), format))
                .or_default(),
        );
        let rendered = cell
            .get_or_try_init(|| async {
                let rows = cached.leaderboard.rows(filter.setting);
                render(&document(rows, &filter, served)?, format).map(Rendered::new)
            })
            .await?;
        Ok(rendered.clone())
    }

    /// The document of `filter`, from the same rows as the bodies (the web app's leaderboard
    /// page reads it without a round trip through JSON).
    async fn document(
        &self,
        storage: &Storage,
        filter: &LeaderboardFilter,
        served: &str,
    ) -> Result<LeaderboardDocument, ApiError> {
        if !self.enabled {
            let rows = leaderboard::rows(storage, filter.setting).await?;
            return document(&rows, filter, served);
        }
        let cached = self.current(storage).await?;
        document(cached.leaderboard.rows(filter.setting), filter, served)
    }

    /// The difficulty of the served samples (`served`), counting the runs finished when the
    /// call started (and perhaps later ones).
    pub(super) async fn difficulty(
        &self,
        storage: &Storage,
        served: &Arc<Benchmark>,
    ) -> Result<Arc<Difficulty>, ApiError> {
        if !self.enabled {
            return read_difficulty(storage, served).await.map(Arc::new);
        }
        let cached = self.current(storage).await?;
        let difficulty = cached
            .difficulty
            .get_or_try_init(|| async { read_difficulty(storage, served).await.map(Arc::new) })
            .await?;
        Ok(Arc::clone(difficulty))
    }

    /// The rows at least as new as the data when the call started.
    async fn current(&self, storage: &Storage) -> Result<Arc<CachedLeaderboard>, ApiError> {
        let generation = self.generation.current(storage).await?;
        match self.fresh(generation) {
            Some(cached) => Ok(cached),
            None => self.refresh(storage, generation).await,
        }
    }

    /// The cached rows if they were read at `generation` or later (generations only grow).
    fn fresh(&self, generation: LeaderboardGeneration) -> Option<Arc<CachedLeaderboard>> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .filter(|cached| cached.leaderboard.generation >= generation)
            .map(Arc::clone)
    }

    /// Re-reads the rows, once for all the requests that found the cache older than
    /// `generation`.
    async fn refresh(
        &self,
        storage: &Storage,
        generation: LeaderboardGeneration,
    ) -> Result<Arc<CachedLeaderboard>, ApiError> {
        let _only_one = self.refresh.lock().await;
        if let Some(cached) = self.fresh(generation) {
            return Ok(cached);
        }
        // Reading 1,000 scorecards is tens of milliseconds of JSON parsing: off the async
        // workers, so other routes keep being served meanwhile.
        let runtime = tokio::runtime::Handle::current();
        let storage = storage.clone();
        let leaderboard =
            tokio::task::spawn_blocking(move || runtime.block_on(leaderboard::load(&storage)))
                .await
                .map_err(|error| {
                    ApiError::Internal(format!("reading the leaderboard: {error}"))
                })??;
        let cached = Arc::new(CachedLeaderboard {
            leaderboard,
            bodies: Mutex::new(HashMap::new()),
            difficulty: OnceCell::new(),
        });
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        // A newer read cannot have landed meanwhile (we hold the refresh lock), but keep the
        // newest anyway.
        if current
            .as_ref()
            .is_none_or(|old| old.leaderboard.generation <= cached.leaderboard.generation)
        {
            *current = Some(Arc::clone(&cached));
        }
        Ok(cached)
    }
}

/// Reads every finished run's judgements (one query) and counts, off the async workers, how
/// many judged each served sample right.
async fn read_difficulty(
    storage: &Storage,
    served: &Arc<Benchmark>,
) -> Result<Difficulty, ApiError> {
    let runs = storage.finished_run_judgements().await?;
    let served = Arc::clone(served);
    tokio::task::spawn_blocking(move || Difficulty::of(&served, &runs))
        .await
        .map_err(|error| ApiError::Internal(format!("counting the samples' difficulty: {error}")))
}

/// `GET /leaderboard?setting=&modality=&type=`.
#[utoipa::path(
    get,
    path = "/leaderboard",
    tag = "leaderboard",
    params(
        ("setting" = Option<omnireward_shared::Setting>, Query,
         description = "Setting ranked (default `with_ties`)."),
        ("modality" = Option<omnireward_shared::Modality>, Query,
         description = "Keep rows covering this modality, ranked by their mean over it."),
        ("type" = Option<omnireward_shared::wire::ModelKind>, Query, description = "Keep this kind."),
        ("benchmark" = Option<String>, Query,
         description = "Rank the rows of this benchmark (a name from `benchmarks`); default: \
                        the served benchmark once it has evaluated rows, else the release \
                        (`omni-rewardbench`, where the paper's rows are). Rows of different \
                        benchmarks are never ranked together."),
    ),
    responses(
        (status = 200, description = "The ranked rows, with an `ETag` and \
                                      `Cache-Control: no-cache`.",
         body = LeaderboardDocument),
        (status = 304, description = "Not modified: `If-None-Match` names the current tag."),
        (status = 400, description = "Invalid parameter.", body = super::error::ErrorBody),
    )
)]
pub(super) async fn json(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<LeaderboardQuery>,
) -> Result<Response, ApiError> {
    let filter = LeaderboardFilter::parse(&query)?;
    let rendered = state
        .leaderboard_cache
        .body(
            &state.storage,
            filter,
            &state.benchmark.identity.name,
            Format::Json,
        )
        .await?;
    Ok(rendered.respond(
        &headers,
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
    ))
}

/// `GET /leaderboard.csv?setting=&modality=&type=`: the same rows as CSV.
#[utoipa::path(
    get,
    path = "/leaderboard.csv",
    tag = "leaderboard",
    params(
        ("setting" = Option<omnireward_shared::Setting>, Query,
         description = "Setting ranked (default `with_ties`)."),
        ("modality" = Option<omnireward_shared::Modality>, Query,
         description = "Keep rows covering this modality, ranked by their mean over it."),
        ("type" = Option<omnireward_shared::wire::ModelKind>, Query, description = "Keep this kind."),
        ("benchmark" = Option<String>, Query,
         description = "Rank the rows of this benchmark (a name from `benchmarks`); default: \
                        the served benchmark once it has evaluated rows, else the release \
                        (`omni-rewardbench`, where the paper's rows are). Rows of different \
                        benchmarks are never ranked together."),
    ),
    responses(
        (status = 200, description = "The same rows as CSV: rank, model, kind, provenance, \
                                      benchmark, one column per task, overall, tasks covered, \
                                      one column per modality, the overall's 95 % interval, \
                                      verified, parameters, licence, open weights; with an \
                                      `ETag` and `Cache-Control: no-cache`.",
         content_type = "text/csv"),
        (status = 304, description = "Not modified: `If-None-Match` names the current tag."),
        (status = 400, description = "Invalid parameter.", body = super::error::ErrorBody),
    )
)]
pub(super) async fn csv(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<LeaderboardQuery>,
) -> Result<Response, ApiError> {
    let filter = LeaderboardFilter::parse(&query)?;
    let setting = filter.setting;
    let rendered = state
        .leaderboard_cache
        .body(
            &state.storage,
            filter,
            &state.benchmark.identity.name,
            Format::Csv,
        )
        .await?;
    let disposition = match setting {
        Setting::WithTies => "attachment; filename=\"omnireward-leaderboard-with_ties.csv\"",
        Setting::WithoutTies => "attachment; filename=\"omnireward-leaderboard-without_ties.csv\"",
    };
    Ok(rendered.respond(
        &headers,
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (CONTENT_DISPOSITION, HeaderValue::from_static(disposition)),
        ],
    ))
}

/// The leaderboard document of `query`: the service behind `GET /leaderboard` and the web app's
/// leaderboard page.
pub(super) async fn leaderboard_document(
    state: &AppState,
    query: &LeaderboardQuery,
) -> Result<LeaderboardDocument, ApiError> {
    let filter = LeaderboardFilter::parse(query)?;
    state
        .leaderboard_cache
        .document(&state.storage, &filter, &state.benchmark.identity.name)
        .await
}

/// The served samples' difficulty (the share of finished runs that judged each right): the
/// service behind the benchmark browser's "Runs right" and the sample pages.
pub(super) async fn served_difficulty(state: &AppState) -> Result<Arc<Difficulty>, ApiError> {
    state
        .leaderboard_cache
        .difficulty(&state.storage, &state.benchmark)
        .await
}

/// The document of `rows` (ranked rows of the filter's setting) filtered by `filter`: the rows of
/// one benchmark only, the one asked for or else the default for a server serving `served`.
fn document(
    rows: &[LeaderboardRow],
    filter: &LeaderboardFilter,
    served: &str,
) -> Result<LeaderboardDocument, ApiError> {
    let benchmarks = leaderboard::benchmarks(rows);
    let default = leaderboard::default_benchmark(rows, Some(served));
    let benchmark = match &filter.benchmark {
        None => default,
        // The default answers even before it has rows (an empty database): an empty view.
        Some(asked) if *asked == default || benchmarks.iter().any(|known| &known.name == asked) => {
            asked.clone()
        }
        Some(asked) => {
            return Err(ApiError::InvalidParameter {
                parameter: "benchmark",
                value: asked.clone(),
                expected: format!(
                    "one of {}",
                    benchmarks
                        .iter()
                        .map(|known| known.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
    };
    let rows = select(rows, filter, &benchmark);
    Ok(LeaderboardDocument {
        benchmark,
        benchmarks,
        setting: filter.setting,
        modality: filter.modality,
        kind: filter.kind,
        rows,
    })
}

/// The served body of a document.
fn render(document: &LeaderboardDocument, format: Format) -> Result<Bytes, ApiError> {
    match format {
        Format::Json => serde_json::to_vec(document)
            .map(Bytes::from)
            .map_err(|error| ApiError::Internal(error.to_string())),
        Format::Csv => to_csv(&document.rows)
            .map(Bytes::from)
            .map_err(|error| ApiError::Internal(error.to_string())),
    }
}

/// Keeps the rows of the filter's kind and, with a modality, the rows covering at least one of
/// its tasks, ranked by their mean over those tasks (as the scorecard's per-modality score).
fn select(
    rows: &[LeaderboardRow],
    filter: &LeaderboardFilter,
    benchmark: &str,
) -> Vec<LeaderboardRow> {
    let mut selected: Vec<LeaderboardRow> = rows
        .iter()
        .filter(|row| row.benchmark_name == benchmark)
        .filter(|row| filter.kind.is_none_or(|kind| row.kind == kind))
        .filter_map(|row| {
            let mut row = row.clone();
            if let Some(modality) = filter.modality {
                row.modality_score = Some(row.modalities.get(&modality).copied()?);
                row.modality_tasks_covered = Some(
                    modality
                        .tasks()
                        .filter(|task| row.tasks.contains_key(task))
                        .count(),
                );
            }
            Some(row)
        })
        .collect();
    if filter.modality.is_some() {
        // `rows` is ordered by overall already; a stable sort keeps that order among equals.
        selected.sort_by(|left, right| {
            right
                .modality_score
                .unwrap_or(f64::NEG_INFINITY)
                .total_cmp(&left.modality_score.unwrap_or(f64::NEG_INFINITY))
        });
    }
    for (position, row) in selected.iter_mut().enumerate() {
        row.rank = position + 1;
    }
    selected
}

/// The CSV document: rank, model, kind, provenance, benchmark, one column per task (short
/// names, column order), overall and tasks covered, then one column per modality, the overall's
/// 95 % interval, whether the row is verified here, and the model's parameters, licence and open
/// weights; accuracies in percent with two decimals, an empty cell where a task is not covered
/// or a value is unknown.
fn to_csv(rows: &[LeaderboardRow]) -> Result<String, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["rank", "model", "kind", "provenance", "benchmark"];
    header.extend(Task::ALL.map(Task::short_name));
    header.extend(["overall", "tasks_covered"]);
    header.extend(Modality::ALL.map(Modality::key));
    header.extend([
        "overall_ci95_low",
        "overall_ci95_high",
        "verified",
        "parameters",
        "licence",
        "open_weights",
    ]);
    writer.write_record(&header)?;
    let percent = |accuracy: Option<f64>| {
        let mut cell = String::new();
        if let Some(accuracy) = accuracy {
            let _ = write!(cell, "{:.2}", accuracy * 100.0);
        }
        cell
    };
    for row in rows {
        let mut record = vec![
            row.rank.to_string(),
            spreadsheet_text(&row.model),
            row.kind.as_str().to_owned(),
            row.provenance.as_str().to_owned(),
            spreadsheet_text(&row.benchmark),
        ];
        record.extend(Task::ALL.map(|task| percent(row.tasks.get(&task).copied())));
        record.extend([percent(row.overall), row.tasks_covered.to_string()]);
        record
            .extend(Modality::ALL.map(|modality| percent(row.modalities.get(&modality).copied())));
        let interval = row.intervals.as_ref().map(|intervals| intervals.overall);
        record.extend([
            percent(interval.map(|[low, _]| low)),
            percent(interval.map(|[_, high]| high)),
            row.verified.to_string(),
            spreadsheet_text(row.parameters.as_deref().unwrap_or_default()),
            spreadsheet_text(row.licence.as_deref().unwrap_or_default()),
            row.open_weights
                .map(|open| open.to_string())
                .unwrap_or_default(),
        ]);
        writer.write_record(&record)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|error| csv::Error::from(error.into_error()))?;
    String::from_utf8(bytes).map_err(|error| {
        csv::Error::from(std::io::Error::new(std::io::ErrorKind::InvalidData, error))
    })
}

/// A text cell a spreadsheet opens as text: one that starts with `=`, `+`, `-`, `@`, a tab or
/// a carriage return would be read as a formula (model names come from submitters), so it gets
/// a leading `'`, which spreadsheets hide and read as "text follows" (OWASP's CSV injection
/// advice).
fn spreadsheet_text(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use omnireward_shared::wire::Provenance;

    use super::*;

    fn row(model: &str, kind: ModelKind, tasks: &[(Task, f64)]) -> LeaderboardRow {
        let tasks: BTreeMap<Task, f64> = tasks.iter().copied().collect();
        LeaderboardRow {
            rank: 0,
            run: 1,
            model_id: 1,
            model: model.to_owned(),
            kind,
            group: None,
            parameters: None,
            licence: None,
            open_weights: None,
            link: None,
            source: None,
            provenance: Provenance::Evaluated,
            verified: true,
            benchmark: "omni-rewardbench-sample 1".to_owned(),
            benchmark_name: SAMPLE.to_owned(),
            overall: Some(tasks.values().sum::<f64>() / tasks.len() as f64),
            tasks_covered: tasks.len(),
            modalities: leaderboard::modality_means(&tasks),
            intervals: None,
            tasks,
            items: None,
            text_only_prompt: Vec::new(),
            modality_score: None,
            modality_tasks_covered: None,
            paired_with_next: None,
        }
    }

    const SAMPLE: &str = "omni-rewardbench-sample";

    fn filter(modality: Option<Modality>, kind: Option<ModelKind>) -> LeaderboardFilter {
        LeaderboardFilter {
            setting: Setting::WithTies,
            modality,
            kind,
            benchmark: None,
        }
    }

    #[test]
    fn a_modality_keeps_covering_rows_ranked_by_their_modality_mean() {
        let rows = vec![
            row(
                "strong overall",
                ModelKind::ApiJudge,
                &[(Task::TextToText, 0.9), (Task::TextToAudio, 0.3)],
            ),
            row("text only", ModelKind::ApiJudge, &[(Task::TextToText, 0.8)]),
            row(
                "audio",
                ModelKind::Baseline,
                &[
                    (Task::TextAudioToText, 0.6),
                    (Task::TextToAudio, 0.5),
                    (Task::TextToText, 0.1),
                ],
            ),
        ];
        let entries = select(&rows, &filter(Some(Modality::Audio), None), SAMPLE);
        let ranked: Vec<(usize, &str, Option<f64>, Option<usize>)> = entries
            .iter()
            .map(|entry| {
                (
                    entry.rank,
                    entry.model.as_str(),
                    entry.modality_score,
                    entry.modality_tasks_covered,
                )
            })
            .collect();
        assert_eq!(
            ranked,
            [
                (1, "audio", Some(0.55), Some(2)),
                (2, "strong overall", Some(0.3), Some(1)),
            ]
        );
        let baselines = select(&rows, &filter(None, Some(ModelKind::Baseline)), SAMPLE);
        assert_eq!(baselines.len(), 1);
        assert_eq!(baselines[0].modality_score, None);
    }

    #[test]
    fn csv_cells_are_percentages_with_empty_uncovered_tasks() {
        let mut judge = row(
            "judge, \"quoted\"",
            ModelKind::ApiJudge,
            &[(Task::TextToText, 0.5), (Task::TextImageToImage, 0.1234)],
        );
        judge.intervals = Some(leaderboard::Intervals {
            tasks: BTreeMap::new(),
            modalities: BTreeMap::new(),
            overall: [0.25, 0.375],
        });
        judge.parameters = Some("7B".to_owned());
        judge.open_weights = Some(false);
        let rows = vec![judge];
        let entries = select(&rows, &filter(None, None), SAMPLE);
        let csv = to_csv(&entries).expect("writes");
        assert_eq!(
            csv,
            "rank,model,kind,provenance,benchmark,T2T,TI2T,TV2T,TA2T,T2I,T2V,T2A,T23D,TI2I,overall,tasks_covered,\
             text,image,video,audio,3d,overall_ci95_low,overall_ci95_high,verified,parameters,licence,open_weights\n\
             1,\"judge, \"\"quoted\"\"\",api_judge,evaluated,omni-rewardbench-sample 1,50.00,,,,,,,,12.34,31.17,2,\
             50.00,12.34,,,,25.00,37.50,true,7B,,false\n"
        );
    }

    #[test]
    fn csv_text_cells_never_start_a_formula() {
        let mut rows = Vec::new();
        for name in [
            "=HYPERLINK(\"http://evil.example\",\"x\")",
            "+1+1",
            "-2+3",
            "@SUM(A1)",
            "\t=1",
            "\r=1",
            "plain = fine",
        ] {
            let mut judge = row(name, ModelKind::ApiJudge, &[(Task::TextToText, 0.5)]);
            judge.licence = Some("=cmd|' /C calc'!A0".to_owned());
            rows.push(judge);
        }
        let entries = select(&rows, &filter(None, None), SAMPLE);
        let csv = to_csv(&entries).expect("writes");
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        let mut names = Vec::new();
        for record in reader.records() {
            let record = record.expect("a record");
            names.push(record[1].to_owned());
            assert_eq!(&record[25], "'=cmd|' /C calc'!A0");
        }
        names.sort();
        assert_eq!(
            names,
            [
                "'\t=1",
                "'\r=1",
                "'+1+1",
                "'-2+3",
                "'=HYPERLINK(\"http://evil.example\",\"x\")",
                "'@SUM(A1)",
                "plain = fine",
            ]
        );
    }

    #[test]
    fn rows_of_different_benchmarks_are_never_ranked_together() {
        let mut paper = row(
            "paper model",
            ModelKind::PaperReported,
            &[(Task::TextToText, 0.7)],
        );
        paper.benchmark_name = crate::data::RELEASE_NAME.to_owned();
        paper.verified = false;
        paper.provenance = Provenance::PaperReported;
        let sample = row(
            "sample model",
            ModelKind::ApiJudge,
            &[(Task::TextToText, 0.9)],
        );
        let view = |rows: &[LeaderboardRow], benchmark: Option<&str>, served: &str| {
            let filter = LeaderboardFilter {
                benchmark: benchmark.map(str::to_owned),
                ..filter(None, None)
            };
            document(rows, &filter, served)
                .and_then(|document| render(&document, Format::Json))
                .map(|body| serde_json::from_slice::<serde_json::Value>(&body).expect("JSON"))
        };
        let models = |view: &serde_json::Value| -> Vec<String> {
            view["rows"]
                .as_array()
                .expect("rows")
                .iter()
                .map(|row| {
                    format!(
                        "{} #{}",
                        row["model"].as_str().expect("a name"),
                        row["rank"]
                    )
                })
                .collect()
        };
        let rows = vec![sample.clone(), paper.clone()];
        // The served sample has an evaluated row: it is the default, ranked alone.
        let shown = view(&rows, None, SAMPLE).expect("renders");
        assert_eq!(shown["benchmark"], SAMPLE);
        assert_eq!(models(&shown), ["sample model #1"]);
        assert_eq!(shown["benchmarks"].as_array().map(Vec::len), Some(2));
        assert_eq!(shown["benchmarks"][0]["name"], crate::data::RELEASE_NAME);
        assert_eq!(shown["benchmarks"][0]["paper_reported"], 1);
        // The release when asked for, and by default when the served benchmark has no rows.
        let release = view(&rows, Some(crate::data::RELEASE_NAME), SAMPLE).expect("renders");
        assert_eq!(models(&release), ["paper model #1"]);
        let other = view(&rows, None, "another-benchmark").expect("renders");
        assert_eq!(other["benchmark"], crate::data::RELEASE_NAME);
        assert_eq!(models(&other), ["paper model #1"]);
        let empty = view(&[paper], None, SAMPLE).expect("renders");
        assert_eq!(empty["benchmark"], crate::data::RELEASE_NAME);
        // An unknown name is refused with the known ones listed.
        let error = view(&rows, Some("nope"), SAMPLE).expect_err("unknown benchmark");
        assert!(
            error.to_string().contains("omni-rewardbench-sample"),
            "{error}"
        );
        // An empty database still answers the default.
        assert!(view(&[], Some(crate::data::RELEASE_NAME), SAMPLE).is_ok());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shared_generation_reads_never_answer_with_an_older_generation() {
        use crate::storage::NewModel;

        let folder = tempfile::TempDir::new().expect("temporary folder");
        let storage = Storage::open(&folder.path().join("omnireward.sqlite"))
            .await
            .expect("opens");
        let reader = Arc::new(GenerationReader::new());
        for round in 0..20 {
            // A write (a new model bumps the generation), then requests that all start after it.
            storage
                .upsert_model(&NewModel::named(
                    format!("model {round}"),
                    ModelKind::Baseline,
                ))
                .await
                .expect("stores");
            let written = storage.leaderboard_generation().await.expect("reads");
            let requests: Vec<_> = (0..20)
                .map(|_| {
                    let reader = Arc::clone(&reader);
                    let storage = storage.clone();
                    tokio::spawn(async move { reader.current(&storage).await.expect("reads") })
                })
                .collect();
            for request in requests {
                assert_eq!(request.await.expect("joins"), written, "round {round}");
            }
        }
        // At least one read per round; concurrent requests may share one.
        let reads = reader.state().started;
        assert!((20..=400).contains(&reads), "{reads} reads");
    }

    #[test]
    fn unknown_values_are_refused_with_the_parameter_named() {
        let query = LeaderboardQuery {
            kind: Some("oracle".to_owned()),
            ..LeaderboardQuery::default()
        };
        let error = LeaderboardFilter::parse(&query).expect_err("unknown kind");
        assert_eq!(
            error.to_string(),
            "invalid value `oracle` for parameter `type`: expected one of api_judge, \
             scalar_reward_model, local_generative, paper_reported, baseline"
        );
        let query = LeaderboardQuery {
            modality: Some("3d".to_owned()),
            ..LeaderboardQuery::default()
        };
        assert_eq!(
            LeaderboardFilter::parse(&query).expect("valid"),
            filter(Some(Modality::ThreeD), None)
        );
    }
}
