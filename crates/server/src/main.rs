//! `kizuna` — the command line: `kizuna serve [--listen ADDR:PORT] [--data DIR] [--demo]`,
//! `kizuna token --role ROLE ...` (a development token), `kizuna audit verify --data DIR`.

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
    /// Print a token signed by the built-in issuer (development and the demo).
    Token(TokenArgs),
    /// The access log: check its hash chains.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Verify every tenant's chain; exit 1 naming the first altered, removed or reordered record.
    Verify {
        /// Data directory of the server.
        #[arg(long, env = "KIZUNA_DATA", default_value = "./kizuna-data")]
        data: PathBuf,
    },
}

#[derive(clap::Args)]
struct TokenArgs {
    /// Data directory of the server (holds the built-in issuer's key).
    #[arg(long, env = "KIZUNA_DATA", default_value = "./kizuna-data")]
    data: PathBuf,
    /// Tenant (empty: the default tenant).
    #[arg(long, default_value = "")]
    tenant: String,
    /// Role: tenant-admin, data-holder, service-provider or citizen.
    #[arg(long)]
    role: String,
    /// The party's URN (default: the subject for citizens).
    #[arg(long)]
    party: Option<String>,
    /// For citizens: the person's URN as data subject.
    #[arg(long)]
    subject: Option<String>,
    /// Default purpose of use carried in the token.
    #[arg(long)]
    purpose: Option<String>,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    ttl: u64,
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
    /// JSON file of the tenants' data classification (which types are personal, public).
    #[arg(long, env = "KIZUNA_CLASSIFICATION")]
    classification: Option<PathBuf>,
    /// Seconds between purges of history older than the retention settings.
    #[arg(long, env = "KIZUNA_PURGE_INTERVAL", default_value_t = 60)]
    purge_interval: u64,
    /// Log format.
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// DEVELOPMENT ONLY: anonymous clients may read and write non-personal data, subscribe
    /// and set retention (personal data still needs credentials and consent).
    #[arg(long, env = "KIZUNA_DEV_OPEN_ACCESS")]
    dev_open_access: bool,
    /// Do not trust the built-in token issuer (production: trust your identity provider).
    #[arg(long, env = "KIZUNA_NO_BUILTIN_ISSUER")]
    no_builtin_issuer: bool,
    /// An external identity provider's issuer (`iss`) whose tokens are accepted.
    #[arg(long, env = "KIZUNA_OIDC_ISSUER", requires_all = ["oidc_audience", "oidc_jwks"])]
    oidc_issuer: Option<String>,
    /// The audience (`aud`) its tokens must carry for Kizuna.
    #[arg(long, env = "KIZUNA_OIDC_AUDIENCE")]
    oidc_audience: Option<String>,
    /// Its JWK Set: an https:// URL or a file path.
    #[arg(long, env = "KIZUNA_OIDC_JWKS")]
    oidc_jwks: Option<String>,
    /// The public alert map's base layer: a GeoJSON file of roads, rivers, water and place
    /// names for the area (scripts/data/build-basemap.py). With --demo, the demo city's.
    #[arg(long, env = "KIZUNA_BASEMAP")]
    basemap: Option<PathBuf>,
    /// A CSV or GeoJSON file of local governments (codes, names, readings, boundaries) that
    /// replaces or adds to the national table by code; see crates/cap/src/geocode.rs.
    #[arg(long, env = "KIZUNA_MUNICIPALITIES")]
    municipalities: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::Token(args) => token(args),
        Command::Audit { command: AuditCommand::Verify { data } } => audit_verify(&data),
    }
}

fn token(args: TokenArgs) -> anyhow::Result<()> {
    let role: kizuna_consent::Role =
        serde_json::from_value(serde_json::Value::String(args.role.clone())).map_err(|_| {
            anyhow::anyhow!("unknown role '{}': use tenant-admin, data-holder, service-provider or citizen", args.role)
        })?;
    let issuer = kizuna_auth::BuiltinIssuer::load_or_create(&args.data)?;
    let token = issuer.issue(&kizuna_auth::TokenRequest {
        tenant: args.tenant,
        party: args.party,
        role,
        subject: args.subject,
        purpose: args.purpose,
        ttl: std::time::Duration::from_secs(args.ttl),
    })?;
    println!("{token}");
    Ok(())
}

fn audit_verify(data: &std::path::Path) -> anyhow::Result<()> {
    let store = kizuna_store::Store::open_sqlite(data).with_context(|| format!("opening {}", data.display()))?;
    let report = store.verify_audit();
    store.close();
    let report = report?;
    for (tenant, records, head) in &report.tenants {
        let name = if tenant.is_empty() { "(default)" } else { tenant.as_str() };
        println!("tenant {name}: {records} records, head {head}");
    }
    match &report.fault {
        None => {
            println!("audit log OK");
            Ok(())
        }
        Some(fault) => {
            eprintln!("audit log FAILED: {fault}");
            std::process::exit(1);
        }
    }
}

/// Installs the local-government table: the national one, with `file`'s entries when given.
fn install_municipalities(file: Option<&std::path::Path>) -> anyhow::Result<()> {
    use kizuna_cap::geocode::{self, Gazetteer};
    let national = Gazetteer::national().map_err(|e| anyhow::anyhow!("the shipped municipality table: {e}"))?;
    let n = national.len();
    let table = match file {
        None => national,
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("--municipalities {}: cannot be read", path.display()))?;
            national.with_file(&text).map_err(|e| anyhow::anyhow!("--municipalities {}: {e}", path.display()))?
        }
    };
    let (entries, added) = (table.len(), table.len() - n);
    geocode::install(table).map_err(|_| anyhow::anyhow!("the municipality table was already in use"))?;
    match file {
        Some(path) => {
            tracing::info!(entries, added, file = %path.display(), "local governments: the national table and the site's file")
        }
        None => tracing::info!(entries, "local governments: the national table"),
    }
    Ok(())
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    match args.log_format {
        LogFormat::Text => tracing_subscriber::fmt().with_env_filter(filter).init(),
        LogFormat::Json => tracing_subscriber::fmt().json().with_env_filter(filter).init(),
    }
    install_municipalities(args.municipalities.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(async move {
        let mut config = Config::new(args.data.clone());
        config.demo = args.demo;
        config.contexts_dir = args.contexts;
        config.fetch_remote_contexts = !args.offline;
        config.retention_file = args.retention;
        config.classification_file = args.classification;
        config.basemap_file = args.basemap;
        config.purge_interval = std::time::Duration::from_secs(args.purge_interval.max(1));
        config.api.dev_open_access = args.dev_open_access;
        if args.dev_open_access {
            tracing::warn!("--dev-open-access: anonymous clients may read and write non-personal data");
        }
        config.builtin_issuer = !args.no_builtin_issuer;
        if let (Some(issuer), Some(audience), Some(jwks)) = (args.oidc_issuer, args.oidc_audience, args.oidc_jwks) {
            let keys = if jwks.starts_with("https://") || jwks.starts_with("http://") {
                kizuna_auth::KeySource::JwksUrl(jwks)
            } else {
                kizuna_auth::KeySource::JwksFile(jwks.into())
            };
            config.trusted_issuers.push(kizuna_auth::TrustedIssuer { issuer, audience, keys });
        }
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
