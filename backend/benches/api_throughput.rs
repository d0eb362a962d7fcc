//! Throughput of `eval api` against a local OpenAI-compatible server with simulated latency.
//!
//! `cargo bench -p omnireward --bench api_throughput -- [--samples N] [--latency-ms MS]
//! [--levels 1,16,64] [--no-reference]`
//!
//! The server runs in a child process (this binary with `--serve`), so the CPU time measured
//! here is the evaluator's alone. The synthetic benchmark has the real task mix (3,725 samples,
//! 441 ties) and re-uses the embedded sample's media, so after a warm-up pass media comes from
//! the cache. "Reference way" = the authors' harness schedule: one request at a time per
//! setting, the two settings in parallel.

#[path = "../tests/support/openai_server.rs"]
mod openai_server;

use omnireward::evaluation::identity::{ApiJudgeIdentity, PromptsIdentity, RunIdentity};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use omnireward::data::{Benchmark, LoadOptions, embedded};
use omnireward::evaluation::api_run::{self, ApiJudge, ApiRunConfig, RunProgress};
use omnireward::evaluation::runs;
use omnireward::evaluation::sink::JudgementSink;
use omnireward::judges::api::client::{ChatClient, ClientConfig};
use omnireward::judges::api::prompts::PromptSet;
use omnireward::judges::api::request::{AudioParts, RequestOptions};
use omnireward::media::MediaEncoder;
use omnireward::storage::{ModelKind, NewModel, Storage};
use omnireward_shared::{BenchmarkIdentity, Label, Sample, Setting, Task};

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

fn flag(name: &str) -> bool {
    std::env::args().any(|argument| argument == name)
}

/// User plus system CPU seconds of this process, all threads (from /proc/self/stat).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |index: usize| {
        fields
            .get(index)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields 14 and 15 of stat (utime, stime) are at 11 and 12 after the name; 100 ticks/s.
    (ticks(11) + ticks(12)) / 100.0
}

fn synthetic(template: &Benchmark, scale: f64) -> Vec<Sample> {
    let mut samples = Vec::new();
    for (task, pairs, ties) in TASK_MIX {
        let pairs = ((pairs as f64 * scale).round() as usize).max(1);
        let ties = (ties as f64 * scale).round() as usize;
        let templates: Vec<&Sample> = template.task_samples(task).collect();
        for index in 0..pairs {
            let mut sample = templates[index % templates.len()].clone();
            sample.id = format!("synthetic-{}-{index}", task.short_name());
            sample.prompt = format!("{} (variant {index})", sample.prompt);
            sample.label = if index < ties {
                Label::Tie
            } else if index % 2 == 0 {
                Label::Response1
            } else {
                Label::Response2
            };
            samples.push(sample);
        }
    }
    samples
}

fn serve() {
    let latency = argument("--latency-ms")
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async move {
        let mut script = openai_server::Script::new("bench-judge", Vec::new());
        script.fast = true;
        script.latency = Duration::from_millis(latency);
        let url = openai_server::start(Arc::new(Mutex::new(script))).await;
        println!("{url}");
        std::future::pending::<()>().await;
    });
}

struct Measurement {
    label: String,
    requests: usize,
    seconds: f64,
    cpu_seconds: f64,
}

async fn measure(
    label: &str,
    judge: &Arc<ApiJudge>,
    benchmark: &Benchmark,
    samples: &[Sample],
    runs_config: &[(Vec<Setting>, usize)],
) -> Measurement {
    let folder = tempfile::tempdir().expect("temp dir");
    let storage = Storage::open(&folder.path().join("bench.sqlite"))
        .await
        .expect("database");
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (index, (settings, concurrency)) in runs_config.iter().enumerate() {
        let model = NewModel::named(format!("bench-{label}-{index}"), ModelKind::ApiJudge);
        let opened = runs::open_run(
            &storage,
            &model,
            benchmark,
            &RunIdentity::Api(ApiJudgeIdentity {
                endpoint: format!("bench-{label}-{index}"),
                request: serde_json::json!({}),
                prompts: PromptsIdentity {
                    name: "bench".to_owned(),
                    hash: String::new(),
                    fallback_tasks: Vec::new(),
                },
                verdict_attempts: 1,
            }),
            serde_json::json!({}),
        )
        .await
        .expect("run");
        let mut sink = JudgementSink::open(
            storage.clone(),
            opened.id,
            &folder.path().join(format!("run-{index}.jsonl")),
        )
        .await
        .expect("sink");
        let config = ApiRunConfig {
            settings: settings.clone(),
            swap: false,
            concurrency: *concurrency,
            requests_per_minute: None,
            verdict_attempts: 5,
            prices: None,
            max_cost: None,
        };
        let judge = Arc::clone(judge);
        let samples = samples.to_vec();
        tasks.push(tokio::spawn(async move {
            api_run::run(
                judge,
                samples,
                &config,
                &mut sink,
                Arc::new(AtomicBool::new(false)),
                Arc::new(RunProgress::default()),
            )
            .await
            .expect("run completes")
        }));
    }
    let mut requests = 0;
    for task in tasks {
        let summary = task.await.expect("join");
        assert!(
            summary.failures.is_empty(),
            "failures: {:?}",
            &summary.failures[..summary.failures.len().min(3)]
        );
        requests += summary.completed;
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu_seconds = cpu_seconds() - cpu_before;
    storage.close().await;
    Measurement {
        label: label.to_owned(),
        requests,
        seconds,
        cpu_seconds,
    }
}

fn main() {
    if flag("--serve") {
        serve();
        return;
    }
    let latency = argument("--latency-ms").unwrap_or_else(|| "200".to_owned());
    let total: f64 = argument("--samples")
        .and_then(|v| v.parse().ok())
        .unwrap_or(3725.0);
    let levels: Vec<usize> = argument("--levels")
        .unwrap_or_else(|| "1,16,64".to_owned())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    let mut server = Command::new(std::env::current_exe().expect("own path"))
        .args(["--serve", "--latency-ms", &latency])
        .stdout(Stdio::piped())
        .spawn()
        .expect("server starts");
    let mut url = String::new();
    BufReader::new(server.stdout.take().expect("stdout"))
        .read_line(&mut url)
        .expect("server prints its URL");
    let url = url.trim().to_owned();

    let home = tempfile::tempdir().expect("temp dir");
    let template =
        embedded::load(&home.path().join("cache"), &LoadOptions::default()).expect("sample");
    let samples = synthetic(&template, total / 3725.0);
    let mut benchmark = template.clone();
    benchmark.samples = samples.clone();
    benchmark.identity = BenchmarkIdentity {
        name: "synthetic".to_owned(),
        version: "bench".to_owned(),
        hash: omnireward::data::content_hash(&samples),
    };
    let judge = Arc::new(ApiJudge {
        client: ChatClient::new(ClientConfig {
            endpoint: url,
            api_key: None,
            timeout: Duration::from_secs(120),
            http_attempts: 5,
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            public_addresses_only: false,
        })
        .expect("client"),
        prompts: PromptSet::builtin(),
        encoder: MediaEncoder::new(home.path().join("cache")),
        request: RequestOptions {
            model: "bench-judge".to_owned(),
            temperature: None,
            max_tokens: None,
            extra_body: serde_json::Map::new(),
            prompt_video_frames: 10,
            response_video_frames: 5,
            audio_parts: AudioParts::Joined,
            ablations: Vec::new(),
        },
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let both = Setting::ALL.to_vec();
    let results = runtime.block_on(async {
        // Warm-up: fills the media cache so the measured passes see cached media.
        let warm = measure(
            "warm-up (media encoding, c=64)",
            &judge,
            &benchmark,
            &samples,
            &[(both.clone(), 64)],
        )
        .await;
        let mut results = vec![warm];
        for level in &levels {
            results.push(
                measure(
                    &format!("omnireward, concurrency {level}"),
                    &judge,
                    &benchmark,
                    &samples,
                    &[(both.clone(), *level)],
                )
                .await,
            );
        }
        if !flag("--no-reference") {
            results.push(
                measure(
                    "reference way (1 request at a time per setting, settings in parallel)",
                    &judge,
                    &benchmark,
                    &samples,
                    &[
                        (vec![Setting::WithTies], 1),
                        (vec![Setting::WithoutTies], 1),
                    ],
                )
                .await,
            );
        }
        results
    });
    let _ = server.kill();
    let _ = server.wait();
    println!("| run | requests | wall-clock s | requests/s | CPU ms per request |");
    println!("|---|---:|---:|---:|---:|");
    for result in &results {
        println!(
            "| {} | {} | {:.1} | {:.1} | {:.3} |",
            result.label,
            result.requests,
            result.seconds,
            result.requests as f64 / result.seconds,
            result.cpu_seconds * 1000.0 / result.requests as f64
        );
    }
}
