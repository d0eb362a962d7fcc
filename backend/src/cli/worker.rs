//! `omnireward worker`: runs queued evaluation jobs until Ctrl-C or SIGTERM. Jobs left running
//! by a dead worker are requeued; on either signal the job in hand goes back to the queue once
//! the requests in flight (or the checkpoint chunk in hand) are saved. `serve --workers N` runs
//! the same workers inside the server.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::Args;
use omnireward_shared::BootstrapConfig;
use tokio::task::JoinSet;

use super::{BootstrapArgs, Environment};
use crate::judges::api::client::ApiKey;
use crate::queue::key_bindings::KeyBindings;
use crate::queue::worker::{
    KEY_VARIABLE_PREFIX, WorkerContext, WorkerError, WorkerSummary, run_worker,
};
use crate::storage::Storage;

#[derive(Debug, Args)]
pub(super) struct WorkerArgs {
    /// Name recorded on the jobs this worker claims [default: worker-<process id>].
    #[arg(long)]
    name: Option<String>,
    /// Stop once the queue is empty instead of waiting for more jobs.
    #[arg(long)]
    exit_when_idle: bool,
    /// Seconds without a heartbeat after which a running job is taken to belong to a dead
    /// worker and goes back to the queue.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    stale_after: u64,
    #[command(flatten)]
    bootstrap: BootstrapArgs,
    #[command(flatten)]
    key_bindings: KeyBindingArgs,
}

/// The operator's bindings of key variables to the endpoint hosts they may be sent to; `serve`
/// and `worker` take the same flag.
#[derive(Debug, Args)]
pub(super) struct KeyBindingArgs {
    /// Let jobs send the key in the environment variable VAR (`OMNIREWARD_KEY_…`) to these
    /// endpoint hosts only (`host`, `host:port` or an IP address; repeat the flag for more
    /// variables). A submission naming an unbound variable, or another host, is refused.
    #[arg(
        long = "api-key-host",
        env = "OMNIREWARD_API_KEY_HOSTS",
        value_delimiter = ';',
        value_name = "VAR=HOST[,HOST…]"
    )]
    bindings: Vec<String>,
}

impl KeyBindingArgs {
    /// The checked bindings.
    pub(super) fn bindings(&self) -> anyhow::Result<KeyBindings> {
        Ok(KeyBindings::parse(&self.bindings)?)
    }
}

/// The context of the workers of this process: keys from the `OMNIREWARD_KEY_*` variables.
pub(super) fn context(
    environment: &Environment,
    bootstrap: BootstrapConfig,
    key_bindings: KeyBindings,
) -> WorkerContext {
    WorkerContext {
        cache_dir: environment.cache_dir.clone(),
        runs_dir: environment.runs_dir(),
        // Jobs name the variable holding their key; the key itself is read here, never stored,
        // and only from the variables reserved for judge keys.
        api_keys: Arc::new(|variable| {
            variable
                .starts_with(KEY_VARIABLE_PREFIX)
                .then(|| std::env::var(variable).ok().map(ApiKey::new))
                .flatten()
        }),
        key_bindings: Arc::new(key_bindings),
        bootstrap,
        heartbeat_interval: Duration::from_secs(5),
        stale_after: Duration::from_secs(60),
        poll_interval: Duration::from_secs(2),
        until_idle: false,
        hub: environment.hub.clone(),
    }
}

/// Starts `count` workers on the current runtime, named `<prefix>-1` … `<prefix>-<count>`; they
/// stop claiming when `stop` is raised and give the job in hand back to the queue.
pub(super) fn spawn_workers(
    storage: &Storage,
    context: &WorkerContext,
    prefix: &str,
    count: usize,
    stop: &Arc<AtomicBool>,
) -> JoinSet<(String, Result<WorkerSummary, WorkerError>)> {
    let mut workers = JoinSet::new();
    for index in 1..=count {
        let name = format!("{prefix}-{index}");
        let storage = storage.clone();
        let context = context.clone();
        let stop = Arc::clone(stop);
        workers.spawn(async move {
            let summary = run_worker(storage, &context, &name, stop).await;
            (name, summary)
        });
    }
    workers
}

pub(super) fn run(environment: &Environment, args: &WorkerArgs) -> anyhow::Result<ExitCode> {
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("worker-{}", std::process::id()));
    let context = WorkerContext {
        stale_after: Duration::from_secs(args.stale_after.max(1)),
        until_idle: args.exit_when_idle,
        ..context(
            environment,
            args.bootstrap.config(),
            args.key_bindings.bindings()?,
        )
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let storage = environment.open_storage().await?;
        let stop = Arc::new(AtomicBool::new(false));
        let interrupt = {
            let stop = Arc::clone(&stop);
            tokio::spawn(async move {
                let signal = super::stop_signal().await;
                stop.store(true, Ordering::SeqCst);
                eprintln!("\n{signal}: stopping; the job in hand goes back to the queue");
            })
        };
        eprintln!("worker {name} waiting for jobs (Ctrl-C or SIGTERM stops)");
        let summary = run_worker(storage.clone(), &context, &name, stop).await;
        interrupt.abort();
        storage.close().await;
        let summary = summary?;
        super::emit(&format!(
            "worker {name}: {} jobs claimed, {} ended\n",
            summary.claimed, summary.ended
        ))?;
        Ok(ExitCode::SUCCESS)
    })
}
