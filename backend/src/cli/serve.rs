//! `omnireward serve`: the HTTP API over the database and the served benchmark, until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;

use super::{BenchmarkArgs, Environment};
use crate::http::{self, AppState};

/// Arguments of `serve`.
#[derive(Debug, Args)]
pub(super) struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "OMNIREWARD_BIND", default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    /// Benchmark served by the sample browser and media routes [default: the embedded sample].
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    #[command(flatten)]
    benchmark: BenchmarkArgs,
}

pub(super) fn run(environment: &Environment, args: &ServeArgs) -> anyhow::Result<ExitCode> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let benchmark =
        Arc::new(environment.load_benchmark(args.data.as_ref(), &args.benchmark, false)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let storage = environment.open_storage().await?;
        // Record the served benchmark so runs and the browser agree on its identity.
        crate::evaluation::runs::record_benchmark(&storage, &benchmark).await?;
        let listener = tokio::net::TcpListener::bind(args.bind)
            .await
            .map_err(|error| anyhow::anyhow!("cannot listen on {}: {error}", args.bind))?;
        let address = listener.local_addr()?;
        eprintln!(
            "omnireward: serving {} {} ({} samples) and {} on http://{address}/api/v1 (Ctrl-C stops)",
            benchmark.identity.name,
            benchmark.identity.version,
            benchmark.samples.len(),
            environment.database.display()
        );
        let app = http::app(AppState::new(storage.clone(), Arc::clone(&benchmark)));
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        storage.close().await;
        anyhow::Ok(ExitCode::SUCCESS)
    })
}
