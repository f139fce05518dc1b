//! The `switchyard` binary: the gateway server, and `check-config`.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use switchyard_config::Loaded;
use switchyard_router::Router;
use switchyard_server::AppState;
use tracing_subscriber::EnvFilter;

// mimalloc: fewer cycles per allocation than glibc malloc on the many small, short-lived
// allocations of request handling (bodies, header values, JSON values).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// An LLM gateway: one OpenAI-compatible API in front of every provider.
#[derive(Debug, Parser)]
#[command(name = "switchyard", version, about)]
struct Cli {
    /// LiteLLM-format config file (also CONFIG_FILE_PATH).
    #[arg(long, short = 'c', env = "CONFIG_FILE_PATH", global = true)]
    config: Option<PathBuf>,
    /// Port to listen on.
    #[arg(long, short = 'p', env = "PORT", default_value_t = 4000)]
    port: u16,
    /// Address to listen on.
    #[arg(long, env = "HOST", default_value = "0.0.0.0")]
    host: String,
    /// Worker threads (LiteLLM's worker processes; default: one per core).
    #[arg(long = "num_workers", alias = "num-workers", env = "NUM_WORKERS")]
    num_workers: Option<usize>,
    /// Debug logging.
    #[arg(long = "detailed_debug", alias = "detailed-debug")]
    detailed_debug: bool,
    /// Debug logging (LiteLLM's --debug).
    #[arg(long)]
    debug: bool,
    /// Log filter (e.g. `info`, `switchyard=debug`); LITELLM_LOG=DEBUG|INFO|ERROR also works.
    #[arg(long = "log-level", env = "SWITCHYARD_LOG")]
    log_level: Option<String>,
    /// Log JSON lines (also litellm_settings.json_logs, JSON_LOGS=true).
    #[arg(long = "json-logs", alias = "json_logs")]
    json_logs: bool,
    /// A price file in LiteLLM's model_prices_and_context_window.json format, extending or
    /// overriding the shipped prices (also litellm_settings.model_cost_map,
    /// SWITCHYARD_MODEL_COST_MAP).
    #[arg(long = "model-cost-map", global = true)]
    model_cost_map: Option<PathBuf>,
    /// Seconds to wait for in-flight requests and streams on shutdown.
    #[arg(long = "drain-timeout", default_value_t = 30.0)]
    drain_timeout: f64,
    /// Store for keys, teams and spend: a SQLite path or sqlite:// URL, or a postgres:// URL.
    /// Default: general_settings.database_url, else DATABASE_URL, else sqlite://switchyard.db.
    #[arg(long = "database-url", global = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate a config file without starting the gateway.
    CheckConfig {
        /// The config file.
        file: PathBuf,
    },
}

fn filter(cli: &Cli) -> EnvFilter {
    let level = if cli.detailed_debug || cli.debug {
        "debug".to_owned()
    } else if let Some(l) = &cli.log_level {
        l.clone()
    } else if let Ok(l) = std::env::var("LITELLM_LOG") {
        l.to_ascii_lowercase()
    } else {
        "info".to_owned()
    };
    EnvFilter::try_new(&level).unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Loads a config with plain stderr logging for what loading itself reports.
fn load(
    path: Option<&std::path::Path>,
    cost_map: Option<&std::path::Path>,
) -> Result<(Loaded, Router, Vec<String>), switchyard_config::ConfigError> {
    let sub = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .finish();
    tracing::subscriber::with_default(sub, || {
        let mut loaded = match path {
            Some(p) => switchyard_config::load(p)?,
            None => Loaded {
                config: switchyard_config::Config::from_model_list(Vec::new())?,
                warnings: vec!["no --config given: serving no models".to_owned()],
            },
        };
        if let Some(file) = cost_map {
            loaded.config.file.litellm_settings.model_cost_map = Some(file.display().to_string());
        }
        let (router, warnings) = Router::from_config(loaded.config.clone())?;
        // `otel` reads its collector from the environment: a mistake there stops start-up too.
        if switchyard_server::otel::wanted(&loaded.config) {
            switchyard_server::otel::Settings::from_env(|k| loaded.config.env_var(k)).map_err(
                |message| switchyard_config::ConfigError::Invalid {
                    file: path.map_or_else(String::new, |p| p.display().to_string()),
                    key: "litellm_settings.callbacks (otel)".into(),
                    line: None,
                    message,
                },
            )?;
        }
        Ok((loaded, router, warnings))
    })
}

fn check_config(
    file: &std::path::Path,
    cost_map: Option<&std::path::Path>,
) -> std::process::ExitCode {
    match load(Some(file), cost_map) {
        Ok((loaded, router, warnings)) => {
            for w in loaded.warnings.iter().chain(&warnings) {
                eprintln!("warning: {w}");
            }
            println!(
                "{}: OK, {} deployments in {} model names",
                file.display(),
                loaded.config.deployments.len(),
                router.model_names().len()
            );
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// SIGINT or SIGTERM. SIGTERM's listener is registered now, not when the future is first
/// polled (in a task spawned later): a SIGTERM sent right after "listening" is not missed.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    async move {
        let ctrl_c = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        #[cfg(unix)]
        let term = async move {
            match term {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            () = ctrl_c => tracing::info!("SIGINT received"),
            () = term => tracing::info!("SIGTERM received"),
        }
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if let Some(Command::CheckConfig { file }) = &cli.command {
        return check_config(file, cli.model_cost_map.as_deref());
    }
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let (loaded, router, warnings) = load(cli.config.as_deref(), cli.model_cost_map.as_deref())?;

    let json = cli.json_logs
        || std::env::var("JSON_LOGS").is_ok_and(|v| v == "true" || v == "1")
        || loaded
            .config
            .file
            .litellm_settings
            .json_logs
            .is_some_and(|v| v.0);
    // Log lines go to stdout from a thread of their own: a slow terminal or pipe never
    // holds up a request (past 128k waiting lines, new ones are dropped and counted). The
    // guard flushes what is queued when `run` returns. Colours only for a terminal: a file
    // or a log collector gets plain text (and the escape codes were a tenth of a request's
    // instructions).
    let (writer, _log_guard) = tracing_appender::non_blocking(std::io::stdout());
    let ansi = std::io::stdout().is_terminal();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter(&cli))
        .with_ansi(ansi)
        .with_writer(writer.clone());
    if json {
        builder.json().flatten_event(true).init();
    } else {
        builder.init();
        // The per-request line, the only one written at every request, is written in the
        // same layout without the formatter's per-field overhead.
        if !ansi {
            switchyard_server::request_log::write_plain_to(writer);
        }
    }
    for w in loaded.warnings.iter().chain(&warnings) {
        tracing::warn!("{w}");
    }

    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(n) = cli.num_workers.filter(|n| *n > 0) {
        rt.worker_threads(n);
    }
    let rt = rt.build().context("cannot start the async runtime")?;
    rt.block_on(async move {
        let addr: SocketAddr = format!("{}:{}", cli.host, cli.port)
            .parse()
            .or_else(|_| format!("[{}]:{}", cli.host, cli.port).parse())
            .with_context(|| format!("--host {} is not an IP address", cli.host))?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let governor = switchyard_server::governance::open(router.config(), cli.database_url.as_deref())
            .await
            .with_context(|| {
                format!(
                    "cannot open the store at {}",
                    switchyard_server::governance::redact_url(&switchyard_server::governance::database_url(
                        router.config(),
                        cli.database_url.as_deref()
                    ))
                )
            })?;
        let state = Arc::new(AppState::new(router, governor));
        if state.governor.auth_enabled() {
            tracing::info!("master key set: every route but /health/* needs a key");
        } else {
            tracing::warn!(
                "no general_settings.master_key (or LITELLM_MASTER_KEY): the gateway is open to anyone who can reach it"
            );
        }
        // Before "listening": a SIGTERM from then on is seen.
        let shutdown = shutdown_signal();
        tracing::info!(
            models = ?state.router.model_names(),
            "Switchyard {} listening on http://{}",
            switchyard_server::VERSION,
            listener.local_addr().unwrap_or(addr)
        );
        let grace = Duration::from_secs_f64(cli.drain_timeout.clamp(0.0, 3600.0));
        // On a worker, not in block_on's thread: accepting a connection and serving it then
        // happen on the same thread, with no wake-up of another in between.
        tokio::spawn(switchyard_server::serve(
            listener,
            state,
            shutdown,
            grace,
        ))
        .await
        .context("server task failed")?
        .context("server failed")?;
        switchyard_server::request_log::flush();
        tracing::info!("stopped");
        Ok(())
    })
}
