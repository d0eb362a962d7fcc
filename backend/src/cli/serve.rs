//! `omnireward serve`: the HTTP API over the database and the served benchmark, until Ctrl-C or
//! SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Args;
use omnireward_shared::BootstrapConfig;

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
    /// Local model behind the scoring demo (`POST /api/v1/score`): a reward model's folder, or a
    /// chat model (a `*ForCausalLM` folder or a GGUF file) that answers with its verdict and
    /// text [default: the default model, MiniLM with the Bradley-Terry head trained here, when
    /// installed].
    #[arg(long, value_name = "DIR|FILE.gguf")]
    demo_model: Option<PathBuf>,
    /// Name of the demo model in responses [default: the folder's name, or the default model's
    /// leaderboard name].
    #[arg(long, value_name = "NAME")]
    demo_model_name: Option<String>,
    /// Serve without the scoring demo.
    #[arg(long, conflicts_with = "demo_model")]
    no_demo: bool,
    /// Device of the demo model: cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "cpu")]
    demo_device: String,
    /// Chat-model demo: generated tokens per answer at most.
    #[arg(long, default_value_t = 512, value_name = "N")]
    demo_max_new_tokens: usize,
    /// Demo requests admitted at once; more are refused with 429.
    #[arg(long, default_value_t = http::score::DEFAULT_QUEUE_DEPTH, value_name = "N")]
    demo_queue: usize,
    /// Workers run inside the server, claiming queued jobs from the same database; 0 leaves
    /// the jobs to `omnireward worker` processes. Ctrl-C or SIGTERM stops them with the
    /// server, handing their jobs back to the queue.
    #[arg(long, default_value_t = 1, value_name = "N")]
    workers: usize,
    /// Folder of uploaded checkpoints [default: <home>/uploads].
    #[arg(long, value_name = "DIR")]
    uploads: Option<PathBuf>,
    /// Largest checkpoint upload in bytes (its files and fields together).
    #[arg(long, default_value_t = http::DEFAULT_MAX_UPLOAD_BYTES, value_name = "BYTES")]
    max_upload_bytes: u64,
    /// Largest checkpoint submitted by Hub repository, in bytes (its files together), checked
    /// from the Hub's file list before anything is downloaded.
    #[arg(long, default_value_t = crate::hub::model::DEFAULT_MAX_CHECKPOINT_BYTES, value_name = "BYTES")]
    hub_max_bytes: u64,
    /// Environment variable holding the administrator's bearer token; without it the
    /// `/api/v1/admin` routes answer 404. The token is read once at start and never logged.
    #[arg(long, value_name = "VAR")]
    admin_token_env: Option<String>,
    /// New submissions wait for an administrator's approval before workers may claim them.
    #[arg(long)]
    require_approval: bool,
    /// Submissions admitted per client address per hour (`POST /api/v1/submissions`); 0
    /// turns the limit off.
    #[arg(long, default_value_t = 20, value_name = "N")]
    submissions_per_hour: u32,
    /// Header in which a trusted reverse proxy gives the client's address (e.g.
    /// `X-Forwarded-For`, whose last entry is used) [default: the connection's address].
    #[arg(long, value_name = "HEADER")]
    trusted_proxy_header: Option<axum::http::HeaderName>,
    #[command(flatten)]
    key_bindings: super::worker::KeyBindingArgs,
    /// Let submissions name endpoints on this machine, link-local or private networks (off by
    /// default: workers send requests to a submitted endpoint, so it could reach internal hosts).
    #[arg(long)]
    allow_private_endpoints: bool,
    /// Folder of the web app's browser bundle (`scripts/build-web.sh` writes it); without a
    /// bundle there, pages are served complete but without interactivity.
    #[arg(
        long,
        env = "OMNIREWARD_WEB_BUNDLE",
        default_value = "target/web/pkg",
        value_name = "DIR"
    )]
    web_bundle: PathBuf,
    /// The address browsers reach this server at (e.g. `https://rewards.example.org/`); an
    /// `https` URL makes the site's cookies `Secure`. Behind a TLS-terminating proxy that sets
    /// `X-Forwarded-Proto`, `--trusted-proxy-header` does the same per request.
    #[arg(long, env = "OMNIREWARD_PUBLIC_URL", value_name = "URL")]
    public_url: Option<axum::http::Uri>,
    #[command(flatten)]
    connections: ConnectionArgs,
}

/// Limits on client connections (`http::ConnectionLimits`): without them a client that sends
/// half a request holds a connection, and an upload's staging folder, indefinitely.
#[derive(Debug, Args)]
struct ConnectionArgs {
    /// Seconds a client has to send a request's headers, from the connection's start or the
    /// first byte of a request; the connection is closed past it.
    #[arg(long, default_value_t = http::DEFAULT_HEADER_TIMEOUT.as_secs_f64(), value_name = "SECONDS", value_parser = seconds)]
    header_timeout: f64,
    /// Seconds a request body may go without a byte arriving before the request fails with
    /// 408 (a stall, not the total: large uploads may take as long as they keep sending).
    #[arg(long, default_value_t = http::DEFAULT_BODY_IDLE_TIMEOUT.as_secs_f64(), value_name = "SECONDS", value_parser = seconds)]
    body_idle_timeout: f64,
    /// Seconds an idle keep-alive connection stays open waiting for the next request.
    #[arg(long, default_value_t = http::DEFAULT_KEEP_ALIVE_TIMEOUT.as_secs_f64(), value_name = "SECONDS", value_parser = seconds)]
    keep_alive_timeout: f64,
    /// Connections served at once; further clients wait in the listening socket's backlog
    /// until one closes.
    #[arg(long, default_value_t = http::DEFAULT_MAX_CONNECTIONS, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
}

/// A positive, finite number of seconds (fractions allowed, for tests).
fn seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && seconds > 0.0 && seconds <= 86_400.0 => Ok(seconds),
        _ => Err(format!(
            "`{text}` is not a number of seconds from 0 to 86400"
        )),
    }
}

impl ConnectionArgs {
    fn limits(&self) -> http::ConnectionLimits {
        http::ConnectionLimits {
            header_timeout: std::time::Duration::from_secs_f64(self.header_timeout),
            body_idle_timeout: std::time::Duration::from_secs_f64(self.body_idle_timeout),
            keep_alive_timeout: std::time::Duration::from_secs_f64(self.keep_alive_timeout),
            max_connections: usize::try_from(self.max_connections).unwrap_or(usize::MAX),
        }
    }
}

/// The administrator's token from the environment variable `serve --admin-token-env` names.
fn admin_token(args: &ServeArgs) -> anyhow::Result<Option<http::AdminToken>> {
    let Some(variable) = &args.admin_token_env else {
        return Ok(None);
    };
    match std::env::var(variable) {
        Ok(token) if !token.trim().is_empty() => Ok(Some(http::AdminToken::new(token.trim()))),
        _ => anyhow::bail!(
            "--admin-token-env names `{variable}`, which is not set or empty in this environment"
        ),
    }
}

/// Loads the demo model, or explains why the demo is off. A missing default model is not an
/// error (the API serves everything else); a model asked for by name that fails to load is.
fn demo_service(
    environment: &Environment,
    args: &ServeArgs,
) -> anyhow::Result<Option<http::score::ScoringService>> {
    if args.no_demo {
        return Ok(None);
    }
    let default = args.demo_model.is_none();
    let folder = args
        .demo_model
        .clone()
        .unwrap_or_else(|| super::local_model::default_model_folder(&environment.home));
    if default && !folder.is_dir() {
        tracing::warn!(
            folder = %folder.display(),
            model = super::local_model::DEFAULT_MODEL_NAME,
            "the scoring demo is off: the default model is not installed (run scripts/setup.sh, which assembles it)"
        );
        return Ok(None);
    }
    let options = crate::judges::local::LocalJudgeOptions {
        device: args.demo_device.parse()?,
        ..Default::default()
    };
    if omnireward_local_judge::generation::chat_model::is_generative_checkpoint(&folder) {
        return generative_demo_service(args, folder, options.device).map(Some);
    }
    let thread = crate::judges::local::InferenceThread::start(folder.clone(), options)
        .map_err(|error| anyhow::anyhow!("demo model {}: {error}", folder.display()))?;
    let name = match (&args.demo_model_name, default) {
        (Some(name), _) => name.clone(),
        (None, true) => super::local_model::DEFAULT_MODEL_NAME.to_owned(),
        (None, false) => thread.folder().file_name().map_or_else(
            || "local model".to_owned(),
            |name| name.to_string_lossy().into_owned(),
        ),
    };
    tracing::info!(model = %name, device = %thread.description().device, "scoring demo ready");
    Ok(Some(
        http::score::ScoringService::new(thread, name, args.demo_queue)
            .with_media_cache(environment.cache_dir.clone()),
    ))
}

/// Loads a chat model (a `*ForCausalLM` folder or a GGUF file) behind the demo.
fn generative_demo_service(
    args: &ServeArgs,
    path: PathBuf,
    device: omnireward_local_judge::device::DeviceChoice,
) -> anyhow::Result<http::score::ScoringService> {
    if args.demo_max_new_tokens == 0 {
        anyhow::bail!("--demo-max-new-tokens must be at least 1");
    }
    let thread = crate::judges::local::GenerativeThread::start(path.clone(), device)
        .map_err(|error| anyhow::anyhow!("demo model {}: {error}", path.display()))?;
    let name = args.demo_model_name.clone().unwrap_or_else(|| {
        let file = thread.path();
        let stem = if file.is_file() {
            file.file_stem()
        } else {
            file.file_name()
        };
        stem.map_or_else(
            || "chat model".to_owned(),
            |name| name.to_string_lossy().into_owned(),
        )
    });
    tracing::info!(model = %name, device = %thread.description().device, "scoring demo ready (generative judge)");
    Ok(http::score::ScoringService::generative(
        thread,
        name,
        args.demo_queue,
        args.demo_max_new_tokens,
    ))
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
    let demo = demo_service(environment, args)?;
    let admin_token = admin_token(args)?;
    let key_bindings = args.key_bindings.bindings()?;
    let uploads = http::UploadSettings {
        folder: args
            .uploads
            .clone()
            .unwrap_or_else(|| environment.home.join("uploads")),
        max_bytes: args.max_upload_bytes,
    };
    // Uploads cut off by a previous stop; the folder is this server's alone.
    http::remove_abandoned_staging(&uploads.folder)
        .map_err(|error| anyhow::anyhow!("{}: {error}", uploads.folder.display()))?;
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
            "omnireward: serving {} {} ({} samples) and {} on http://{address}/ (API under /api/v1; Ctrl-C or SIGTERM stops)",
            benchmark.identity.name,
            benchmark.identity.version,
            benchmark.samples.len(),
            environment.database
        );
        let mut state = AppState::new(storage.clone(), Arc::clone(&benchmark));
        if let Some(demo) = demo {
            state = state.with_scoring(Arc::new(demo));
        }
        if let Some(token) = admin_token {
            state = state.with_admin_token(token);
        }
        state = state.with_approval_required(args.require_approval);
        if args.submissions_per_hour > 0 {
            state = state.with_submission_limit(http::SubmissionLimit {
                submissions: args.submissions_per_hour,
                window: std::time::Duration::from_secs(3600),
                trusted_proxy_header: args.trusted_proxy_header.clone(),
            });
        }
        state = state.with_uploads(uploads);
        state = state.with_hub(http::HubSubmissions {
            client: crate::hub::HubClient::new(environment.hub.clone())?,
            max_bytes: args.hub_max_bytes,
            cache_dir: environment.cache_dir.clone(),
        });
        state = state.with_private_endpoints(args.allow_private_endpoints);
        state = state.with_key_bindings(key_bindings.clone());
        state = state.with_transport_security(http::TransportSecurity {
            public_https: args
                .public_url
                .as_ref()
                .and_then(|url| url.scheme_str())
                .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https")),
            // The operator said a proxy's headers are trusted; its protocol header is, too.
            trust_forwarded_proto: args.trusted_proxy_header.is_some(),
        });
        // Keys sent with submissions are held here for this server's workers; with none, a key
        // could never be used, so `api_key` is refused.
        let key_vault = crate::queue::key_vault::KeyVault::new();
        if args.workers > 0 {
            state = state.with_key_vault(key_vault.clone());
        }
        match http::Bundle::load(&args.web_bundle) {
            Ok(Some(bundle)) => state = state.with_bundle(bundle),
            Ok(None) => eprintln!(
                "omnireward: no web bundle in {} (scripts/build-web.sh builds it): pages are served \
                 without interactivity",
                args.web_bundle.display()
            ),
            Err(error) => anyhow::bail!("cannot read the web bundle in {}: {error}", args.web_bundle.display()),
        }
        let app = http::app(state);
        let stop = Arc::new(AtomicBool::new(false));
        let mut context = super::worker::context(environment, BootstrapConfig::default(), key_bindings);
        if args.workers > 0 {
            context.api_keys = key_vault.lookup(Arc::clone(&context.api_keys));
        }
        let prefix = format!("serve-{}", std::process::id());
        let mut workers =
            super::worker::spawn_workers(&storage, &context, &prefix, args.workers, &stop);
        // The accept loop gives handlers the peer's address (`ConnectInfo`), which identifies
        // submitters for the submission limit.
        http::serve(listener, app, args.connections.limits(), {
            let stop = Arc::clone(&stop);
            async move {
                let signal = super::stop_signal().await;
                // The workers stop claiming and hand their jobs back to the queue.
                stop.store(true, Ordering::SeqCst);
                eprintln!("\n{signal}: stopping; jobs in hand go back to the queue");
            }
        })
        .await;
        stop.store(true, Ordering::SeqCst);
        while let Some(ended) = workers.join_next().await {
            match ended {
                Ok((name, Ok(summary))) => tracing::info!(
                    worker = %name,
                    claimed = summary.claimed,
                    ended = summary.ended,
                    "worker stopped"
                ),
                Ok((name, Err(error))) => tracing::error!(worker = %name, %error, "worker failed"),
                Err(error) => tracing::error!(%error, "a worker panicked"),
            }
        }
        storage.close().await;
        anyhow::Ok(ExitCode::SUCCESS)
    })
}
