//! `omnireward eval api` and `omnireward eval baseline`: evaluate a judge on a benchmark,
//! saving every judgement to the database and the judgements file as it completes, and print
//! the scorecard. Re-running the same command resumes the run.

mod checkpoint;
mod checkpoint_args;
mod generative;
mod local_run;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use omnireward_shared::{Sample, Setting};
use serde_json::{Map, Value, json};

use super::{BenchmarkArgs, BootstrapArgs, Environment, scorecard_table};
use crate::data::Benchmark;
use crate::evaluation::api_run::{
    self, ApiJudge, ApiRunConfig, Prices, RunProgress, RunSummary, StopReason,
};
use crate::evaluation::baseline::{self, BaselineKind};
use crate::evaluation::identity::{ApiJudgeIdentity, BaselineIdentity, RunIdentity};
use crate::evaluation::runs::OpenedRun;
use crate::evaluation::session::{Session, SessionStart};
use crate::judges::ablation::{self, Ablation};
use crate::judges::api::client::{ApiKey, ChatClient, ClientConfig};
use crate::judges::api::prompts::PromptSet;
use crate::judges::api::request::{AudioParts, RequestOptions};
use crate::media::MediaEncoder;
use crate::storage::{ModelKind, NewModel, RunStatus, Storage};

#[derive(Debug, Subcommand)]
pub(super) enum EvalCommand {
    /// A generative judge behind an OpenAI-compatible chat-completions API (vLLM, hosted).
    Api(Box<ApiArgs>),
    /// A content-blind shortcut baseline.
    Baseline(BaselineArgs),
    /// A local checkpoint run with candle: a reward model (Hugging Face folder, safetensors), or
    /// a chat model (`*ForCausalLM` folder or GGUF file) as a generative judge.
    Checkpoint(Box<checkpoint::CheckpointArgs>),
}

/// Which settings to evaluate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum SettingChoice {
    WithTies,
    WithoutTies,
    Both,
}

impl SettingChoice {
    fn settings(self) -> Vec<Setting> {
        match self {
            SettingChoice::WithTies => vec![Setting::WithTies],
            SettingChoice::WithoutTies => vec![Setting::WithoutTies],
            SettingChoice::Both => Setting::ALL.to_vec(),
        }
    }
}

/// Options every evaluation shares.
#[derive(Debug, Args)]
struct RunArgs {
    /// Benchmark folder [default: the embedded sample benchmark].
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    #[command(flatten)]
    benchmark: BenchmarkArgs,
    /// Settings to evaluate.
    #[arg(long, value_enum, default_value = "both")]
    setting: SettingChoice,
    /// Judgements file (JSON Lines, appended) [default: <home>/runs/run-<id>.jsonl].
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    #[command(flatten)]
    bootstrap: BootstrapArgs,
    /// Print the scorecard (and run summary) as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub(super) struct ApiArgs {
    /// Chat-completions endpoint: a base URL such as http://localhost:8000/v1, or the full
    /// .../chat/completions URL.
    #[arg(long)]
    endpoint: String,
    /// The `model` the endpoint serves.
    #[arg(long)]
    model: String,
    /// Name shown on the leaderboard [default: the model].
    #[arg(long)]
    name: Option<String>,
    /// Environment variable holding the API key (the key itself is never stored or printed).
    #[arg(long, value_name = "VAR")]
    api_key_env: Option<String>,
    #[command(flatten)]
    run: RunArgs,
    /// Also judge every item with A and B exchanged, and report swap consistency and
    /// position bias.
    #[arg(long)]
    swap: bool,
    /// Requests in flight at most.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Request starts per minute at most.
    #[arg(long, value_name = "N")]
    requests_per_minute: Option<u32>,
    /// Sampling temperature [default: the endpoint's].
    #[arg(long)]
    temperature: Option<f64>,
    /// Completion token limit [default: the endpoint's].
    #[arg(long)]
    max_tokens: Option<u32>,
    /// Extra JSON object merged into every request body, e.g. '{"top_p": 0.9}'.
    #[arg(long, value_name = "JSON")]
    extra_body: Option<String>,
    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
    /// HTTP attempts per query on 429, 5xx, timeouts and malformed responses.
    #[arg(long, default_value_t = 5)]
    http_attempts: u32,
    /// First retry delay in milliseconds (doubles per retry, with jitter; `Retry-After` wins).
    #[arg(long, default_value_t = 1000, hide = true)]
    backoff_ms: u64,
    /// Queries per item while the verdict cannot be parsed.
    #[arg(long, default_value_t = 5)]
    verdict_attempts: u32,
    /// Frames per video for every task [default: 10 for a TV2T prompt, 5 per T2V response].
    #[arg(long, value_name = "N")]
    frames: Option<usize>,
    /// T2A: one joined clip (A, 1 s silence, B) or two separate audio parts.
    #[arg(long, value_enum, default_value = "joined")]
    audio_parts: AudioParts,
    /// An ablation audit: take a part of the input away (`media`: no image, video or audio
    /// part in any request; `criterion`: the criterion left out of the prompt). Stored as its
    /// own run, compared with the same command's run without it.
    #[arg(long, value_enum, value_delimiter = ',', value_name = "PART")]
    ablate: Vec<Ablation>,
    /// Prompt template folder (ours, or the authors' utils/prompts/*.py) [default: built in].
    #[arg(long, value_name = "DIR")]
    prompts: Option<PathBuf>,
    /// Price per million prompt tokens, for cost accounting.
    #[arg(long, value_name = "PRICE", requires = "price_out")]
    price_in: Option<f64>,
    /// Price per million completion tokens.
    #[arg(long, value_name = "PRICE", requires = "price_in")]
    price_out: Option<f64>,
    /// Stop scheduling once the spend reaches this (needs the prices).
    #[arg(long, value_name = "AMOUNT", requires = "price_in")]
    max_cost: Option<f64>,
}

#[derive(Debug, Args)]
pub(super) struct BaselineArgs {
    /// Which baseline.
    #[arg(long, value_enum)]
    kind: BaselineKind,
    /// Seed of the random baseline.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[command(flatten)]
    run: RunArgs,
}

pub(super) fn run(environment: &Environment, command: &EvalCommand) -> anyhow::Result<ExitCode> {
    match command {
        EvalCommand::Api(args) => run_api(environment, args),
        EvalCommand::Baseline(args) => run_baseline(environment, args),
        EvalCommand::Checkpoint(args) => checkpoint::run(environment, args),
    }
}

/// The endpoint as recorded: user info and query string dropped, since they can hold secrets.
fn recorded_endpoint(endpoint: &str) -> String {
    let without_query = endpoint.split(['?', '#']).next().unwrap_or_default();
    match without_query.split_once("://") {
        Some((scheme, rest)) => {
            let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
            format!("{scheme}://{rest}")
        }
        None => without_query.to_owned(),
    }
}

fn run_api(environment: &Environment, args: &ApiArgs) -> anyhow::Result<ExitCode> {
    let benchmark =
        environment.load_benchmark(args.run.data.as_ref(), &args.run.benchmark, false)?;
    let prompts = match &args.prompts {
        Some(folder) => PromptSet::load(folder)?,
        None => PromptSet::builtin(),
    };
    let api_key = match &args.api_key_env {
        Some(variable) => Some(ApiKey::new(std::env::var(variable).map_err(|_| {
            anyhow::anyhow!("--api-key-env {variable}: the environment variable is not set")
        })?)),
        None => None,
    };
    let extra_body: Map<String, Value> = match &args.extra_body {
        Some(text) => match serde_json::from_str(text) {
            Ok(Value::Object(object)) => object,
            Ok(_) => anyhow::bail!("--extra-body must be a JSON object"),
            Err(error) => anyhow::bail!("--extra-body is not valid JSON: {error}"),
        },
        None => Map::new(),
    };
    if args.concurrency == 0 {
        anyhow::bail!("--concurrency must be at least 1");
    }
    let request = RequestOptions {
        model: args.model.clone(),
        temperature: args.temperature,
        max_tokens: args.max_tokens,
        extra_body,
        prompt_video_frames: args.frames.unwrap_or(10),
        response_video_frames: args.frames.unwrap_or(5),
        audio_parts: args.audio_parts,
        ablations: ablation::normalized(args.ablate.clone()),
    };
    let prices = match (args.price_in, args.price_out) {
        (Some(input), Some(output)) => Some(Prices {
            input_per_million: input,
            output_per_million: output,
        }),
        _ => None,
    };
    let endpoint = recorded_endpoint(&args.endpoint);
    let identity = RunIdentity::Api(ApiJudgeIdentity::new(
        endpoint,
        &request,
        &prompts,
        args.verdict_attempts,
    ));
    let details = json!({
        "omnireward_version": env!("CARGO_PKG_VERSION"),
        "concurrency": args.concurrency,
        "requests_per_minute": args.requests_per_minute,
        "timeout_seconds": args.timeout,
        "http_attempts": args.http_attempts,
        "prices_per_million_tokens": prices,
        "max_cost": args.max_cost,
    });
    let client = ChatClient::new(ClientConfig {
        endpoint: args.endpoint.clone(),
        api_key,
        timeout: Duration::from_secs(args.timeout.max(1)),
        http_attempts: args.http_attempts.max(1),
        backoff_initial: Duration::from_millis(args.backoff_ms),
        backoff_max: Duration::from_secs(60),
        // The user chose this endpoint on their own machine: vLLM on localhost is the usual case.
        public_addresses_only: false,
    })?;
    let judge = Arc::new(ApiJudge {
        client,
        prompts,
        encoder: MediaEncoder::new(environment.cache_dir.clone()),
        request,
    });
    let config = ApiRunConfig {
        settings: args.run.setting.settings(),
        swap: args.swap,
        concurrency: args.concurrency,
        requests_per_minute: args.requests_per_minute,
        verdict_attempts: args.verdict_attempts,
        prices,
        max_cost: args.max_cost,
    };
    let display_name = args.name.clone().unwrap_or_else(|| args.model.clone());
    let model = NewModel::named(display_name.clone(), ModelKind::ApiJudge);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let (storage, mut session) = open_session(
            environment,
            &args.run,
            &model,
            &benchmark,
            &identity,
            details,
        )
        .await?;
        let opened = session.opened();
        let stop = Arc::new(AtomicBool::new(false));
        let progress = Arc::new(RunProgress::default());
        let interrupt = tokio::spawn(watch_interrupts(Arc::clone(&stop)));
        let total = api_run::plan_items(&benchmark.samples, &config.settings, config.swap).len();
        let bar = progress_bar(
            total,
            session.sink().done().len(),
            Arc::clone(&progress),
            prices,
        );
        let summary = api_run::run(
            Arc::clone(&judge),
            benchmark.samples.clone(),
            &config,
            session.sink(),
            stop,
            Arc::clone(&progress),
        )
        .await;
        interrupt.abort();
        bar.abort();
        let summary = summary?;
        let status = if summary.stopped.is_some() {
            RunStatus::Cancelled
        } else if summary.failures.is_empty() {
            RunStatus::Finished
        } else {
            RunStatus::Failed
        };
        let stored = storage.judgements(opened.id).await?;
        let input_tokens: u64 = stored.iter().filter_map(|j| j.input_tokens).sum();
        let output_tokens: u64 = stored.iter().filter_map(|j| j.output_tokens).sum();
        let run_usage = json!({
            "judgements": stored.len(),
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cost": prices.map(|prices| prices.cost(input_tokens, output_tokens)),
        });
        let scorecard = session
            .finish(
                &display_name,
                &benchmark,
                status,
                args.run.bootstrap.config(),
            )
            .await?;
        storage.close().await;
        report(
            &args.run,
            opened,
            session.judgements_file(),
            &scorecard,
            Some((&summary, &run_usage)),
            status,
        )
    })
}

fn run_baseline(environment: &Environment, args: &BaselineArgs) -> anyhow::Result<ExitCode> {
    let benchmark =
        environment.load_benchmark(args.run.data.as_ref(), &args.run.benchmark, false)?;
    let name = args.kind.model_name(args.seed);
    let model = NewModel::named(name.clone(), ModelKind::Baseline);
    let identity = RunIdentity::Baseline(BaselineIdentity {
        kind: args.kind,
        seed: args.seed,
    });
    let details = json!({ "omnireward_version": env!("CARGO_PKG_VERSION") });
    let settings = args.run.setting.settings();
    super::runtime()?.block_on(async {
        let (storage, mut session) = open_session(
            environment,
            &args.run,
            &model,
            &benchmark,
            &identity,
            details,
        )
        .await?;
        let judgements: Vec<_> = covered(&benchmark, args.kind)
            .flat_map(|sample| {
                settings
                    .iter()
                    .filter(|setting| setting.includes(sample.label))
                    .map(|setting| baseline::judge(args.kind, args.seed, sample, *setting))
            })
            .collect();
        session.sink().save(&judgements).await?;
        let scorecard = session
            .finish(
                &name,
                &benchmark,
                RunStatus::Finished,
                args.run.bootstrap.config(),
            )
            .await?;
        storage.close().await;
        report(
            &args.run,
            session.opened(),
            session.judgements_file(),
            &scorecard,
            None,
            RunStatus::Finished,
        )
    })
}

fn covered(benchmark: &Benchmark, kind: BaselineKind) -> impl Iterator<Item = &Sample> {
    benchmark
        .samples
        .iter()
        .filter(move |sample| kind.covers(sample))
}

/// Opens the database and the session of a run started from the command line (its judgements
/// file is `--out`, or the default under the home's runs folder).
async fn open_session(
    environment: &Environment,
    args: &RunArgs,
    model: &NewModel,
    benchmark: &Benchmark,
    identity: &RunIdentity,
    details: Value,
) -> anyhow::Result<(Storage, Session)> {
    let storage = environment.open_storage().await?;
    let session = Session::open(
        &storage,
        SessionStart {
            model,
            benchmark,
            identity,
            details,
            judgements_file: args.out.as_deref(),
            runs_dir: environment.runs_dir(),
        },
    )
    .await?;
    Ok((storage, session))
}

/// First Ctrl-C: stop scheduling and let requests in flight finish. Second: leave at once
/// (everything saved so far stays saved).
async fn watch_interrupts(stop: Arc<AtomicBool>) {
    if tokio::signal::ctrl_c().await.is_err() {
        return;
    }
    stop.store(true, Ordering::SeqCst);
    eprintln!("\nstopping: waiting for requests in flight (Ctrl-C again to quit now)");
    if tokio::signal::ctrl_c().await.is_ok() {
        std::process::exit(130);
    }
}

/// A progress bar on stderr (hidden when stderr is not a terminal), refreshed from the run's
/// counters.
fn progress_bar(
    total: usize,
    already_done: usize,
    progress: Arc<RunProgress>,
    prices: Option<Prices>,
) -> tokio::task::JoinHandle<()> {
    let bar = indicatif::ProgressBar::new(total as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:30} {pos}/{len} judged · {per_sec} · eta {eta} · {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_position(already_done as u64);
    tokio::spawn(async move {
        loop {
            let completed = progress.completed.load(Ordering::Relaxed);
            let failed = progress.failed.load(Ordering::Relaxed);
            let input = progress.input_tokens.load(Ordering::Relaxed);
            let output = progress.output_tokens.load(Ordering::Relaxed);
            bar.set_position(already_done as u64 + completed);
            let cost = prices.map_or(String::new(), |prices| {
                format!(
                    " · cost {:.4}",
                    (input as f64 * prices.input_per_million
                        + output as f64 * prices.output_per_million)
                        / 1e6
                )
            });
            bar.set_message(format!("{failed} errors · {input}+{output} tokens{cost}"));
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
}

fn report(
    args: &RunArgs,
    opened: OpenedRun,
    file: &std::path::Path,
    scorecard: &omnireward_shared::Scorecard,
    summary: Option<(&RunSummary, &Value)>,
    status: RunStatus,
) -> anyhow::Result<ExitCode> {
    let (summary, run_usage) = match summary {
        Some((summary, usage)) => (Some(summary), Some(usage)),
        None => (None, None),
    };
    if args.json {
        super::emit_json(&json!({
            "run": opened.id.0,
            "status": status.as_str(),
            "judgements_file": file,
            "summary": summary,
            "run_usage": run_usage,
            "scorecard": scorecard,
        }))?;
    } else {
        let mut text = String::new();
        if !scorecard.settings.is_empty() {
            text.push_str(&scorecard_table::render(scorecard));
        }
        if let Some(summary) = summary {
            text.push_str(&format!(
                "{} items: {} done before, {} judged now, {} failed · {} prompt + {} completion tokens{} · {:.1} s\n",
                summary.items,
                summary.already_done,
                summary.completed,
                summary.failures.len(),
                summary.input_tokens,
                summary.output_tokens,
                summary.cost.map_or(String::new(), |cost| format!(" · cost {cost:.4}")),
                summary.seconds,
            ));
            if let Some(usage) = run_usage {
                text.push_str(&format!(
                    "whole run: {} judgements · {} prompt + {} completion tokens{}\n",
                    usage["judgements"],
                    usage["input_tokens"],
                    usage["output_tokens"],
                    usage["cost"]
                        .as_f64()
                        .map_or(String::new(), |cost| format!(" · cost {cost:.4}")),
                ));
            }
            for failure in summary.failures.iter().take(5) {
                text.push_str(&format!(
                    "  failed: {} {} ({}, {}): {}\n",
                    failure.task,
                    failure.sample_id,
                    failure.setting,
                    failure.order.key(),
                    failure.message
                ));
            }
            match summary.stopped {
                Some(StopReason::SpendCap) => text.push_str("stopped: the spend cap was reached; re-run with a higher --max-cost to continue\n"),
                Some(StopReason::Interrupted) => text.push_str("stopped: interrupted; re-run the same command to continue\n"),
                None => {}
            }
        }
        text.push_str(&format!(
            "run {} {} ({}) · judgements in {}\n",
            opened.id.0,
            status.as_str(),
            if opened.resumed { "resumed" } else { "new" },
            file.display()
        ));
        super::emit(&text)?;
    }
    Ok(match status {
        RunStatus::Finished => ExitCode::SUCCESS,
        RunStatus::Cancelled => ExitCode::from(3),
        _ => ExitCode::FAILURE,
    })
}
