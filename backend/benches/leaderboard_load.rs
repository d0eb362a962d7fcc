//! Load test of `GET /api/v1/leaderboard` with many stored models and many concurrent clients.
//!
//! `cargo bench -p omnireward --bench leaderboard_load -- [--models 1000] [--clients 200]
//! [--seconds 10] [--warmup-seconds 2] [--baseline-seconds 10] [--query 'setting=with_ties']
//! [--no-baseline]`
//!
//! Builds a temporary SQLite database with `--models` evaluated models (finished runs with
//! scorecards of plausible accuracies and intervals, a mix of kinds, coverage and metadata,
//! plus a few unfinished runs that must not show) and the paper's 37 rows, then starts the real
//! server (this binary with `--serve`, a child process, so the two share the machine but not a
//! runtime) on 127.0.0.1 and drives `--clients` concurrent keep-alive HTTP clients (one reqwest
//! client and connection each) for a fixed time, measuring each request's latency on the client
//! side, from sending to the last body byte. Each server is warmed up first (connections opened,
//! cache filled); only the measured window counts. The baseline is the same server without the
//! leaderboard cache (`AppState::without_leaderboard_cache`): every request reads the database
//! and renders the body. It also times the two reads of the rows in process: the former one
//! (a few queries per run) and the single read.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use omnireward::data::{LoadOptions, embedded};
use omnireward::http::{AppState, app};
use omnireward::leaderboard;
use omnireward::paper_results;
use omnireward::storage::{ModelKind, NewModel, NewRun, Provenance, RunStatus, Storage};
use omnireward_shared::scorecard::{AggregateScore, SettingScorecard, TaskScore, TieRule};
use omnireward_shared::{BenchmarkIdentity, Modality, Scorecard, Setting, Task};

/// (task, pairs, ties) of the release (benchmark.md section 1).
const TASK_MIX: [(Task, usize, usize); 9] = [
    (Task::TextToText, 417, 51),
    (Task::TextImageToText, 528, 98),
    (Task::TextVideoToText, 443, 63),
    (Task::TextAudioToText, 357, 23),
    (Task::TextToImage, 509, 68),
    (Task::TextToVideo, 529, 63),
    (Task::TextToAudio, 411, 15),
    (Task::TextTo3d, 302, 38),
    (Task::TextImageToImage, 229, 22),
];

fn argument(name: &str) -> Option<String> {
    let arguments: Vec<String> = std::env::args().collect();
    arguments
        .iter()
        .position(|argument| argument == name)
        .and_then(|index| arguments.get(index + 1).cloned())
}

fn number(name: &str, default: u64) -> u64 {
    argument(name)
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn flag(name: &str) -> bool {
    std::env::args().any(|argument| argument == name)
}

/// A deterministic pseudo-random number in [0, 1) (SplitMix64).
fn uniform(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut mixed = *state;
    mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    mixed ^= mixed >> 31;
    (mixed >> 11) as f64 / (1u64 << 53) as f64
}

/// A normal-approximation 95 % interval of an accuracy over `total` items.
fn interval(accuracy: f64, total: usize) -> [f64; 2] {
    let half = 1.96 * (accuracy * (1.0 - accuracy) / total.max(1) as f64).sqrt();
    [(accuracy - half).max(0.0), (accuracy + half).min(1.0)]
}

/// A scorecard over `tasks` with accuracies around `skill`, as `eval` would store it.
fn scorecard(model: &str, tasks: &[Task], skill: f64, scalar: bool, state: &mut u64) -> Scorecard {
    let mut settings = std::collections::BTreeMap::new();
    for setting in Setting::ALL {
        let mut scores = std::collections::BTreeMap::new();
        for (task, pairs, ties) in TASK_MIX {
            if !tasks.contains(&task) {
                continue;
            }
            let total = match setting {
                Setting::WithTies => pairs,
                Setting::WithoutTies => pairs - ties,
            };
            let bonus = if setting == Setting::WithoutTies {
                0.08
            } else {
                0.0
            };
            let accuracy = (skill + bonus + 0.2 * (uniform(state) - 0.5)).clamp(0.05, 0.98);
            let correct = (accuracy * total as f64).round() as usize;
            let accuracy = correct as f64 / total as f64;
            scores.insert(
                task,
                TaskScore {
                    accuracy,
                    correct,
                    total,
                    ci95: interval(accuracy, total),
                    unparseable: if scalar {
                        0
                    } else {
                        (uniform(state) * 4.0) as usize
                    },
                    tie_rule: (scalar && setting == Setting::WithTies).then(|| TieRule::Sweep {
                        epsilon: Some((uniform(state) * 0.3 * 1e4).round() / 1e4),
                    }),
                    reliability: None,
                },
            );
        }
        let mean = |values: &[f64]| values.iter().sum::<f64>() / values.len() as f64;
        let modalities = Modality::ALL
            .into_iter()
            .filter_map(|modality| {
                let covered: Vec<(f64, usize)> = modality
                    .tasks()
                    .filter_map(|task| scores.get(&task).map(|score| (score.accuracy, score.total)))
                    .collect();
                if covered.is_empty() {
                    return None;
                }
                let accuracy = mean(&covered.iter().map(|(a, _)| *a).collect::<Vec<_>>());
                let total = covered.iter().map(|(_, n)| n).sum();
                Some((
                    modality,
                    AggregateScore {
                        accuracy,
                        tasks_covered: covered.len(),
                        ci95: interval(accuracy, total),
                    },
                ))
            })
            .collect();
        let accuracies: Vec<f64> = scores.values().map(|score| score.accuracy).collect();
        let accuracy = mean(&accuracies);
        let total = scores.values().map(|score| score.total).sum();
        settings.insert(
            setting,
            SettingScorecard {
                tasks: scores,
                modalities,
                overall: AggregateScore {
                    accuracy,
                    tasks_covered: accuracies.len(),
                    ci95: interval(accuracy, total),
                },
                metric_card: None,
            },
        );
    }
    Scorecard {
        model: model.to_owned(),
        benchmark: BenchmarkIdentity {
            name: "omni-rewardbench".to_owned(),
            version: "hf-parquet".to_owned(),
            hash: "0f3c9a".to_owned(),
        },
        settings,
    }
}

/// Stores the paper's rows, `models` finished evaluated runs and a few unfinished ones.
async fn populate(storage: &Storage, models: u64) {
    storage
        .import_paper_results(&paper_results::parse_embedded().expect("paper results"))
        .await
        .expect("imports the paper results");
    let text_tasks = [
        Task::TextToText,
        Task::TextImageToText,
        Task::TextVideoToText,
        Task::TextAudioToText,
    ];
    let image_tasks = [
        Task::TextToText,
        Task::TextImageToText,
        Task::TextToImage,
        Task::TextTo3d,
        Task::TextImageToImage,
    ];
    let mut state = 7_u64;
    for index in 0..models {
        let (kind, name) = match index % 10 {
            0..=3 => (ModelKind::ApiJudge, format!("api-judge-{index:04}")),
            4..=7 => (
                ModelKind::ScalarRewardModel,
                format!("reward-model-{index:04}"),
            ),
            8 => (
                ModelKind::LocalGenerative,
                format!("local-judge-{index:04}"),
            ),
            _ => (ModelKind::Baseline, format!("baseline-{index:04}")),
        };
        let scalar = kind == ModelKind::ScalarRewardModel;
        let (tasks, configuration): (Vec<Task>, serde_json::Value) = match index % 5 {
            // Text models: the prompt's media unseen on TI2T, TV2T, TA2T.
            1 if scalar => (
                text_tasks.to_vec(),
                serde_json::json!({"details": {"coverage": {"text_only_prompt": [
                    "text_image_to_text", "text_video_to_text", "text_audio_to_text"]}}}),
            ),
            3 if scalar => (image_tasks.to_vec(), serde_json::json!({"dtype": "f32"})),
            _ => (
                Task::ALL.to_vec(),
                serde_json::json!({"prompt_set": "omnireward-v1", "temperature": 0.0}),
            ),
        };
        let billions = [0.5, 1.5, 3.0, 7.0, 8.0, 14.0, 32.0, 72.0][(index % 8) as usize];
        let model = storage
            .upsert_model(&NewModel {
                group: None,
                parameters: Some(format!("{billions}B")),
                licence: Some(
                    if index.is_multiple_of(3) {
                        "proprietary"
                    } else {
                        "apache-2.0"
                    }
                    .to_owned(),
                ),
                open_weights: Some(!index.is_multiple_of(3)),
                ..NewModel::named(name.clone(), kind)
            })
            .await
            .expect("stores a model");
        let status = if index % 50 == 49 {
            RunStatus::Running
        } else {
            RunStatus::Finished
        };
        let run = storage
            .create_run(&NewRun {
                model,
                benchmark: None,
                status,
                provenance: Provenance::Evaluated,
                configuration,
            })
            .await
            .expect("creates a run");
        let skill = 0.35 + 0.4 * uniform(&mut state);
        storage
            .store_scorecard(run, &scorecard(&name, &tasks, skill, scalar, &mut state))
            .await
            .expect("stores a scorecard");
    }
}

/// The server child: serves the database until killed, after printing its URL.
fn serve(database: &Path) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let storage = Storage::open(database).await.expect("opens the database");
        let cache = tempfile::tempdir().expect("temp dir");
        let benchmark = Arc::new(
            embedded::load(&cache.path().join("cache"), &LoadOptions::default())
                .expect("embedded sample"),
        );
        let mut state = AppState::new(storage, benchmark);
        if flag("--no-cache") {
            state = state.without_leaderboard_cache();
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let address = listener.local_addr().expect("address");
        println!("http://{address}");
        axum::serve(listener, app(state)).await.expect("serves");
    });
}

/// The server child for `database`, and its URL.
fn start_server(database: &Path, cache: bool) -> (Child, String) {
    let mut command = Command::new(std::env::current_exe().expect("own path"));
    command.arg("--serve").arg(database);
    if !cache {
        command.arg("--no-cache");
    }
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .expect("server starts");
    let mut url = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut url)
        .expect("server prints its URL");
    (child, url.trim().to_owned())
}

/// What the clients saw in one window.
#[derive(Default)]
struct Window {
    latencies_us: Vec<u64>,
    errors: usize,
    bytes: usize,
    seconds: f64,
}

/// `clients` keep-alive clients requesting `url` in a loop for `duration`, revalidating with
/// `If-None-Match: etag` when one is given (a `304 Not Modified` then counts as success).
async fn drive(
    clients: &[reqwest::Client],
    url: &str,
    duration: Duration,
    etag: Option<&str>,
) -> Window {
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for client in clients {
        let client = client.clone();
        let url = url.to_owned();
        let etag = etag.map(str::to_owned);
        tasks.push(tokio::spawn(async move {
            let mut window = Window::default();
            while Instant::now() < deadline {
                let sent = Instant::now();
                let mut request = client.get(&url);
                if let Some(etag) = &etag {
                    request = request.header(reqwest::header::IF_NONE_MATCH, etag);
                }
                let outcome = match request.send().await {
                    Ok(response)
                        if response.status().is_success()
                            || response.status() == reqwest::StatusCode::NOT_MODIFIED =>
                    {
                        response.bytes().await.map(|body| body.len()).ok()
                    }
                    Ok(_) | Err(_) => None,
                };
                let elapsed = sent.elapsed();
                match outcome {
                    Some(bytes) => {
                        window.bytes = bytes;
                        window
                            .latencies_us
                            .push(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX));
                    }
                    None => window.errors += 1,
                }
            }
            window
        }));
    }
    let mut total = Window::default();
    for task in tasks {
        let window = task.await.expect("client task");
        total.latencies_us.extend(window.latencies_us);
        total.errors += window.errors;
        total.bytes = total.bytes.max(window.bytes);
    }
    total.seconds = started.elapsed().as_secs_f64();
    total.latencies_us.sort_unstable();
    total
}

fn percentile(sorted: &[u64], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 * fraction).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index] as f64 / 1000.0
}

/// What every measured server gets.
struct Load {
    /// The leaderboard query string, with its `?` (or empty).
    query: String,
    /// Concurrent clients.
    clients: usize,
    /// Unmeasured time first.
    warmup: Duration,
    /// The rows the first response must have, when the query does not filter them.
    expected_rows: Option<usize>,
}

/// How the measured server answers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Without the leaderboard cache: every request reads the database.
    Uncached,
    /// With the cache, every request asking for the whole body.
    Cached,
    /// With the cache, every request revalidating with `If-None-Match` (as a browser does
    /// after its first visit); the answer is `304 Not Modified` without a body.
    Revalidating,
    /// `GET /api/v1/tasks` on the same server: a small body and no database access, the floor
    /// that the HTTP stack, the client and the shared machine set.
    Floor,
}

/// Warms a server up, then measures one window of `measured`, and prints its table line.
async fn measure(label: &str, database: &Path, mode: Mode, load: &Load, measured: Duration) {
    let cache = mode != Mode::Uncached;
    let (mut child, base) = start_server(database, cache);
    let url = if mode == Mode::Floor {
        format!("{base}/api/v1/tasks")
    } else {
        format!("{base}/api/v1/leaderboard{}", load.query)
    };
    let pool: Vec<reqwest::Client> = (0..load.clients)
        .map(|_| {
            reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .timeout(Duration::from_secs(120))
                .build()
                .expect("client")
        })
        .collect();
    let first = pool[0].get(&url).send().await.expect("first request");
    let etag = first
        .headers()
        .get(reqwest::header::ETAG)
        .and_then(|etag| etag.to_str().ok())
        .map(str::to_owned);
    let first: serde_json::Value = first.json().await.expect("JSON");
    if mode != Mode::Floor {
        let rows = first["rows"].as_array().map_or(0, Vec::len);
        assert!(rows > 0, "rows served");
        if let Some(expected) = load.expected_rows {
            assert_eq!(rows, expected, "rows served");
        }
    }
    let etag = if mode == Mode::Revalidating {
        Some(etag.expect("an entity tag"))
    } else {
        None
    };
    let _ = drive(&pool, &url, load.warmup, etag.as_deref()).await;
    let window = drive(&pool, &url, measured, etag.as_deref()).await;
    let _ = child.kill();
    let _ = child.wait();
    let requests = window.latencies_us.len();
    println!(
        "| {label} | {} | {requests} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.0} |",
        load.clients,
        window.errors,
        requests as f64 / window.seconds,
        percentile(&window.latencies_us, 0.50),
        percentile(&window.latencies_us, 0.90),
        percentile(&window.latencies_us, 0.99),
        window
            .latencies_us
            .last()
            .map_or(f64::NAN, |max| *max as f64 / 1000.0),
        window.bytes as f64 / 1024.0,
    );
}

/// Median wall-clock milliseconds of `runs` calls.
async fn time_reads<F, Fut>(runs: usize, mut read: F) -> f64
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = usize>,
{
    let mut times = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        std::hint::black_box(read().await);
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn main() {
    if flag("--serve") {
        let database = std::env::args().nth(2).expect("database path");
        serve(Path::new(&database));
        return;
    }
    let models = number("--models", 1000);
    let seconds = Duration::from_secs(number("--seconds", 10));
    let baseline_seconds = Duration::from_secs(number("--baseline-seconds", 10));
    let query = argument("--query").unwrap_or_default();
    let mut load = Load {
        query: if query.is_empty() {
            query.clone()
        } else {
            format!("?{query}")
        },
        clients: usize::try_from(number("--clients", 200)).unwrap_or(200),
        warmup: Duration::from_secs(number("--warmup-seconds", 2)),
        expected_rows: None,
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let folder = tempfile::tempdir().expect("temp dir");
        let database = folder.path().join("leaderboard.sqlite");
        let storage = Storage::open(&database).await.expect("database");
        let started = Instant::now();
        populate(&storage, models).await;
        let built = started.elapsed().as_secs_f64();
        let with_ties = leaderboard::rows(&storage, Setting::WithTies)
            .await
            .expect("rows")
            .len();
        // Only a setting (or nothing) given: every row of that setting is served.
        let setting = match query.as_str() {
            "" | "setting=with_ties" => Some(Setting::WithTies),
            "setting=without_ties" => Some(Setting::WithoutTies),
            _ => None,
        };
        if let Some(setting) = setting {
            let rows = leaderboard::rows(&storage, setting).await.expect("rows");
            load.expected_rows = Some(rows.len());
        }
        println!(
            "database: {models} models + the paper's 37, {with_ties} rows w/ Ties, built in {built:.1} s"
        );
        let per_run = time_reads(5, || async {
            leaderboard::rows_per_run(&storage, Setting::WithTies)
                .await
                .expect("rows")
                .len()
        })
        .await;
        let single = time_reads(5, || async {
            leaderboard::rows(&storage, Setting::WithTies)
                .await
                .expect("rows")
                .len()
        })
        .await;
        let generation = time_reads(200, || async {
            let generation = storage.leaderboard_generation().await.expect("generation");
            usize::try_from(generation.0).unwrap_or(0)
        })
        .await;
        println!(
            "rows in process (median): one query per run {per_run:.1} ms, single read \
             {single:.1} ms; generation check {generation:.3} ms"
        );
        storage.close().await;

        println!(
            "| server | clients | requests | errors | requests/s | p50 ms | p90 ms | p99 ms | max ms | body KiB |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        if !flag("--no-baseline") {
            measure(
                "no cache (baseline)",
                &database,
                Mode::Uncached,
                &load,
                baseline_seconds,
            )
            .await;
        }
        measure("cache, whole body", &database, Mode::Cached, &load, seconds).await;
        measure(
            "cache, revalidating (304)",
            &database,
            Mode::Revalidating,
            &load,
            seconds,
        )
        .await;
        measure(
            "floor: GET /tasks, no database",
            &database,
            Mode::Floor,
            &load,
            seconds,
        )
        .await;
    });
}
