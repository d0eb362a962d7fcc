//! The `omnireward` command line: argument definitions, the one typed configuration, and
//! dispatch to one module per command.

mod compare;
mod data_download;
mod data_inspect;
mod eval;
mod import_reference;
mod leaderboard;
mod local_model;
mod rescore;
mod score;
mod scorecard_table;
mod serve;
mod submit_predictions;
mod train;
mod worker;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use omnireward_shared::{BootstrapConfig, Task};

use crate::data::{self, Benchmark, LoadOptions};
use crate::hub::snapshot::Progress;
use crate::hub::{HubClient, HubReference, HubSettings, HubToken};
use crate::storage::DatabaseLocation;

/// Evaluate reward models on Omni-RewardBench (Jin et al., 2025).
#[derive(Debug, Parser)]
#[command(name = "omnireward", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    global: GlobalOptions,
    #[command(subcommand)]
    command: Command,
}

/// Options every command shares. This is the only place configuration enters the program.
#[derive(Debug, Args)]
struct GlobalOptions {
    /// Folder for the database and caches [default: ~/.omnireward].
    #[arg(long, env = "OMNIREWARD_HOME", global = true, value_name = "DIR")]
    home: Option<PathBuf>,
    /// The database: an SQLite file (created if missing), an `sqlite://…` URL, or a
    /// `postgres://…` URL of an existing PostgreSQL database, which several workers on several
    /// hosts can share [default: <home>/omnireward.sqlite].
    #[arg(
        long,
        env = "OMNIREWARD_DATABASE",
        global = true,
        value_name = "FILE|URL"
    )]
    database: Option<String>,
    /// The Hugging Face Hub's address [default: https://huggingface.co].
    #[arg(long, env = "HF_ENDPOINT", global = true, value_name = "URL")]
    hf_endpoint: Option<String>,
    /// The environment variable holding the Hub token sent for private or gated repositories
    /// (this program's own token: a token is never taken as an argument, stored or logged).
    #[arg(
        long,
        global = true,
        value_name = "VARIABLE",
        default_value = "HF_TOKEN"
    )]
    hub_token_env: String,
    /// The `huggingface-cli` home whose cache (`hub/`) files are reused from
    /// [default: ~/.cache/huggingface].
    #[arg(long, env = "HF_HOME", global = true, value_name = "DIR")]
    hf_home: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Inspect benchmark data.
    #[command(subcommand)]
    Data(DataCommand),
    /// Evaluate a judge on a benchmark (resumable).
    #[command(subcommand)]
    Eval(eval::EvalCommand),
    /// Recompute a scorecard from a judgements file, without calling any judge.
    Rescore(rescore::RescoreArgs),
    /// Import result files of the authors' harness as a run and print its scorecard.
    ImportReference(import_reference::ImportReferenceArgs),
    /// Serve the REST API (leaderboard, samples, media, runs) over the database.
    Serve(Box<serve::ServeArgs>),
    /// Show the stored leaderboard of one setting (paper-reported and evaluated rows).
    Leaderboard(leaderboard::LeaderboardArgs),
    /// Compare two stored runs on the samples they share (paired interval, McNemar test).
    Compare(compare::CompareArgs),
    /// Run queued evaluation jobs until Ctrl-C or SIGTERM.
    Worker(worker::WorkerArgs),
    /// Send a judgements file judged elsewhere to a server, which checks every item, scores
    /// it and lists it as submitted predictions.
    SubmitPredictions(submit_predictions::SubmitPredictionsArgs),
    /// Both rewards and the verdict for one pair of responses, from a local checkpoint.
    Score(Box<score::ScoreArgs>),
    /// Train a Bradley-Terry reward model on preference pairs (resumable).
    Train(Box<train::TrainArgs>),
}

#[derive(Debug, Subcommand)]
enum DataCommand {
    /// Download the benchmark release from the Hugging Face Hub (resumable, checked, media
    /// extracted).
    Download(data_download::DownloadArgs),
    /// Per task: samples, ties, media present or missing, and problems.
    Inspect(data_inspect::InspectArgs),
}

/// Options that select a benchmark.
#[derive(Debug, Clone, Default, Args)]
struct BenchmarkArgs {
    /// Only these tasks: config keys or short names, comma-separated, or `all` [default: all].
    #[arg(long, value_delimiter = ',', value_name = "TASKS")]
    tasks: Vec<String>,
    /// Folder that media paths are relative to [default: <DIR>/media_data].
    #[arg(long, value_name = "DIR")]
    media_dir: Option<PathBuf>,
    /// Skip invalid rows and report them instead of stopping at the first.
    #[arg(long)]
    skip_invalid: bool,
}

/// Options of the bootstrap intervals.
#[derive(Debug, Clone, Args)]
struct BootstrapArgs {
    /// Bootstrap resamples for the 95 % intervals.
    #[arg(long, default_value_t = BootstrapConfig::default().resamples)]
    resamples: usize,
    /// Seed of the bootstrap resampling.
    #[arg(long, default_value_t = BootstrapConfig::default().seed)]
    bootstrap_seed: u64,
}

impl BootstrapArgs {
    fn config(&self) -> BootstrapConfig {
        BootstrapConfig {
            resamples: self.resamples,
            seed: self.bootstrap_seed,
        }
    }
}

/// Paths derived from the global options.
struct Environment {
    home: PathBuf,
    cache_dir: PathBuf,
    database: DatabaseLocation,
    hub: HubSettings,
}

impl Environment {
    fn resolve(options: &GlobalOptions) -> anyhow::Result<Self> {
        let home = match &options.home {
            Some(home) => home.clone(),
            None => std::env::home_dir()
                .ok_or_else(|| anyhow::anyhow!("cannot find the home folder: pass --home DIR"))?
                .join(".omnireward"),
        };
        let hub = HubSettings {
            endpoint: options
                .hf_endpoint
                .clone()
                .unwrap_or_else(|| crate::hub::DEFAULT_ENDPOINT.to_owned()),
            token: std::env::var(&options.hub_token_env)
                .ok()
                .and_then(|token| HubToken::new(&token)),
            hf_home: options.hf_home.clone().or_else(|| {
                std::env::home_dir().map(|home| home.join(".cache").join("huggingface"))
            }),
        };
        Ok(Self {
            hub,
            home: home.clone(),
            cache_dir: home.join("cache"),
            database: match &options.database {
                Some(database) => DatabaseLocation::parse(database),
                None => DatabaseLocation::SqliteFile(home.join("omnireward.sqlite")),
            },
        })
    }

    /// Where judgements files of runs go by default.
    fn runs_dir(&self) -> PathBuf {
        self.home.join("runs")
    }

    /// Loads the benchmark in `folder`, or the embedded sample when `folder` is `None`.
    fn load_benchmark(
        &self,
        folder: Option<&PathBuf>,
        options: &BenchmarkArgs,
        force_skip_invalid: bool,
    ) -> anyhow::Result<Benchmark> {
        let mut tasks = Vec::new();
        for name in &options.tasks {
            if !name.eq_ignore_ascii_case("all") {
                tasks.push(
                    name.parse::<Task>()
                        .map_err(|error| anyhow::anyhow!("--tasks: {error}"))?,
                );
            }
        }
        let load_options = LoadOptions {
            tasks,
            skip_invalid: options.skip_invalid || force_skip_invalid,
            media_root: options.media_dir.clone(),
            name: None,
            version: None,
        };
        let benchmark = match folder {
            Some(folder) => data::load(&self.benchmark_folder(folder)?, &load_options)?,
            None => data::embedded::load(&self.cache_dir, &load_options)?,
        };
        Ok(benchmark)
    }
}

impl Environment {
    /// `folder`, or for `hf:org/name[@revision]` the cache's copy of that dataset, downloaded on
    /// first use.
    fn benchmark_folder(&self, folder: &Path) -> anyhow::Result<PathBuf> {
        let Some(reference) = folder.to_str().and_then(HubReference::parse_prefixed) else {
            return Ok(folder.to_owned());
        };
        let reference = reference?;
        let client = HubClient::new(self.hub.clone())?;
        // On a thread of its own with its own runtime: some callers are inside one already.
        let (folder, record) = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    runtime()?
                        .block_on(crate::hub::dataset::cached(
                            &client,
                            &reference,
                            &self.cache_dir,
                            Progress::Bars,
                        ))
                        .map_err(anyhow::Error::from)
                })
                .join()
                .map_err(|_| anyhow::anyhow!("the download thread panicked"))?
        })?;
        tracing::info!(repository = %record.repository, commit = %record.commit, "benchmark from the Hub");
        Ok(folder)
    }
}

/// Parses the arguments and runs the command.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    match execute(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn execute(cli: Cli) -> anyhow::Result<ExitCode> {
    let environment = Environment::resolve(&cli.global)?;
    match cli.command {
        Command::Data(DataCommand::Download(args)) => data_download::run(&environment, &args),
        Command::Data(DataCommand::Inspect(args)) => data_inspect::run(&environment, &args),
        Command::Eval(command) => eval::run(&environment, &command),
        Command::Rescore(args) => rescore::run(&environment, &args),
        Command::ImportReference(args) => import_reference::run(&environment, &args),
        Command::Leaderboard(args) => leaderboard::run(&environment, &args),
        Command::Compare(args) => compare::run(&environment, &args),
        Command::Serve(args) => serve::run(&environment, &args),
        Command::Worker(args) => worker::run(&environment, &args),
        Command::SubmitPredictions(args) => submit_predictions::run(&environment, &args),
        Command::Score(args) => score::run(&environment, &args),
        Command::Train(args) => train::run(&environment, &args),
    }
}

/// Writes command output to stdout. A closed pipe (`omnireward ... | head`) is not an error.
/// Completes on the first stop request: Ctrl-C (SIGINT) or SIGTERM, which service managers and
/// container runtimes send; both stop `serve` and `worker` the same gentle way. Returns the
/// signal's name for the log.
#[cfg(unix)]
async fn stop_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => tokio::select! {
            _ = tokio::signal::ctrl_c() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        },
        Err(error) => {
            // Without a SIGTERM handler the process still stops on Ctrl-C.
            tracing::warn!(%error, "cannot listen for SIGTERM");
            let _ = tokio::signal::ctrl_c().await;
            "SIGINT"
        }
    }
}

/// Completes on Ctrl-C (there is no SIGTERM here).
#[cfg(not(unix))]
async fn stop_signal() -> &'static str {
    let _ = tokio::signal::ctrl_c().await;
    "Ctrl-C"
}

fn emit(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => Err(error.into()),
        _ => Ok(()),
    }
}

/// Emits `value` as pretty JSON followed by a newline.
fn emit_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    emit(&(serde_json::to_string_pretty(value)? + "\n"))
}

/// A single-threaded runtime for the commands that use the database.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

impl Environment {
    /// Opens (creating and migrating if needed) the database, with the paper-reported results
    /// imported so every database has the reference rows from the start.
    async fn open_storage(&self) -> anyhow::Result<crate::storage::Storage> {
        if let DatabaseLocation::SqliteFile(path) = &self.database
            && let Some(parent) = path.parent()
        {
            std::fs::create_dir_all(parent)
                .map_err(|error| anyhow::anyhow!("{}: {error}", parent.display()))?;
        }
        let storage = crate::storage::Storage::connect(&self.database).await?;
        let results = crate::paper_results::parse_embedded()?;
        storage.import_paper_results(&results).await?;
        Ok(storage)
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
