//! `omnireward worker`: runs queued evaluation jobs until Ctrl-C. Jobs left running by a dead
//! worker are requeued; on Ctrl-C the job in hand goes back to the queue once the requests in
//! flight are saved.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::Args;

use super::{BootstrapArgs, Environment};
use crate::evaluation::worker::{KEY_VARIABLE_PREFIX, WorkerContext, run_worker};
use crate::judges::api::client::ApiKey;

#[derive(Debug, Args)]
pub(super) struct WorkerArgs {
    /// Name recorded on the jobs this worker claims [default: worker-<process id>].
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    bootstrap: BootstrapArgs,
}

pub(super) fn run(environment: &Environment, args: &WorkerArgs) -> anyhow::Result<ExitCode> {
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("worker-{}", std::process::id()));
    let context = WorkerContext {
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
        bootstrap: args.bootstrap.config(),
        heartbeat_interval: Duration::from_secs(5),
        stale_after: Duration::from_secs(60),
        poll_interval: Duration::from_secs(2),
        until_idle: false,
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
                if tokio::signal::ctrl_c().await.is_ok() {
                    stop.store(true, Ordering::SeqCst);
                    eprintln!("\nstopping: the job in hand goes back to the queue");
                }
            })
        };
        eprintln!("worker {name} waiting for jobs (Ctrl-C to stop)");
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
