//! `kizuna` — the command line: `kizuna serve [--listen ADDR:PORT] [--data DIR] [--demo]`.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use kizuna::{build_app, run, Config};

/// Kizuna (絆): a regional data-linkage platform — an NGSI-LD context broker with an
/// information bank, for municipalities.
#[derive(Parser)]
#[command(name = "kizuna", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (NGSI-LD API under /ngsi-ld/v1, health at /health).
    Serve(ServeArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address and port to listen on.
    #[arg(long, env = "KIZUNA_LISTEN", default_value = "0.0.0.0:1026")]
    listen: SocketAddr,
    /// Data directory (created if missing); holds the SQLite database.
    #[arg(long, env = "KIZUNA_DATA", default_value = "./kizuna-data")]
    data: PathBuf,
    /// Load the demo city (絆川市) into an empty store; does nothing if it is already there.
    #[arg(long)]
    demo: bool,
    /// Directory of local JSON-LD @context files, with a map.json of URL -> file name.
    #[arg(long, env = "KIZUNA_CONTEXTS")]
    contexts: Option<PathBuf>,
    /// Never fetch @context documents over the network (offline sites).
    #[arg(long, env = "KIZUNA_OFFLINE")]
    offline: bool,
    /// JSON file of history retention settings (per tenant and entity type).
    #[arg(long, env = "KIZUNA_RETENTION")]
    retention: Option<PathBuf>,
    /// Seconds between purges of history older than the retention settings.
    #[arg(long, env = "KIZUNA_PURGE_INTERVAL", default_value_t = 60)]
    purge_interval: u64,
    /// Log format.
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(args),
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    match args.log_format {
        LogFormat::Text => tracing_subscriber::fmt().with_env_filter(filter).init(),
        LogFormat::Json => tracing_subscriber::fmt().json().with_env_filter(filter).init(),
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(async move {
        let mut config = Config::new(args.data.clone());
        config.demo = args.demo;
        config.contexts_dir = args.contexts;
        config.fetch_remote_contexts = !args.offline;
        config.retention_file = args.retention;
        config.purge_interval = std::time::Duration::from_secs(args.purge_interval.max(1));
        let (app, store) = build_app(&config).await?;
        let listener =
            tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("binding {}", args.listen))?;
        tracing::info!(listen = %args.listen, data = %args.data.display(), "kizuna is ready");
        run(listener, app, store, shutdown_signal()).await?;
        tracing::info!("kizuna stopped");
        Ok(())
    })
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
