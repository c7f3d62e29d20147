//! The `kizuna` server: configuration, opening the store, assembling the HTTP
//! application from the API crates, the demo dataset, and graceful shutdown.
//!
//! # Layout
//! - this file: [`Config`], [`build_app`], [`run`] (the testable entry point: give it a
//!   bound listener and a shutdown future);
//! - `demo.rs`: the demo city and the JSON-LD contexts shipped in the binary;
//! - `classification.rs`: the `--classification` file;
//! - `retention.rs`: the `--retention` file and the background purge.

pub mod classification;
pub mod demo;
pub mod retention;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use kizuna_api_ngsild::{ApiConfig, ApiState, ContextStore};
use kizuna_store::Store;
use tokio::net::TcpListener;
use tower::Layer;
use tower_http::normalize_path::NormalizePathLayer;

/// Server settings (from the command line and environment).
#[derive(Debug, Clone)]
pub struct Config {
    /// Data directory (the SQLite file lives here).
    pub data_dir: PathBuf,
    /// Load the demo dataset into an empty store.
    pub demo: bool,
    /// A directory of local `@context` files with a `map.json` (URL → file name).
    pub contexts_dir: Option<PathBuf>,
    /// Fetch unknown remote `@context` URLs over the network.
    pub fetch_remote_contexts: bool,
    /// API limits.
    pub api: ApiConfig,
    /// A JSON file of retention settings applied at start-up (see [`retention`]).
    pub retention_file: Option<PathBuf>,
    /// A JSON file of the tenants' data classification applied at start-up (see
    /// [`classification`]).
    pub classification_file: Option<PathBuf>,
    /// How often history older than the retention settings is purged.
    pub purge_interval: Duration,
    /// Notification delivery settings.
    pub notifier: kizuna_api_ngsild::NotifierConfig,
    /// Trust the built-in token issuer (key in `data_dir/keys`), for development and
    /// the demo. A production site trusts its own identity provider instead.
    pub builtin_issuer: bool,
    /// External identity providers whose tokens are accepted.
    pub trusted_issuers: Vec<kizuna_auth::TrustedIssuer>,
    /// The public alert map's base layer (`--basemap`, see `kizuna_api_alerts::basemap`);
    /// without it, the demo city's when `demo` is set, else none.
    pub basemap_file: Option<PathBuf>,
}

impl Config {
    /// Defaults for `data_dir`.
    pub fn new(data_dir: PathBuf) -> Config {
        Config {
            data_dir,
            demo: false,
            contexts_dir: None,
            fetch_remote_contexts: true,
            api: ApiConfig::default(),
            retention_file: None,
            classification_file: None,
            purge_interval: Duration::from_secs(60),
            notifier: kizuna_api_ngsild::NotifierConfig::default(),
            builtin_issuer: true,
            trusted_issuers: Vec::new(),
            basemap_file: None,
        }
    }
}

/// Errors at start-up.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store could not be opened.
    #[error("opening the store: {0}")]
    Store(#[from] kizuna_store::StoreError),
    /// The contexts directory or another configuration file could not be read.
    #[error("configuration: {0}")]
    Contexts(String),
    /// The demo dataset could not be loaded.
    #[error("loading the demo dataset: {0}")]
    Demo(String),
    /// Serving failed.
    #[error("serving: {0}")]
    Io(#[from] std::io::Error),
    /// The token issuers could not be set up.
    #[error("authentication: {0}")]
    Auth(String),
    /// The base-map file could not be read or is not valid.
    #[error("base map {0}")]
    Basemap(String),
}

/// The base map the configuration asks for (checked before anything else starts).
fn basemap(config: &Config) -> Result<Option<kizuna_api_alerts::basemap::Basemap>, StartError> {
    use kizuna_api_alerts::basemap::Basemap;
    match &config.basemap_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| StartError::Basemap(format!("{}: cannot be read: {e}", path.display())))?;
            Basemap::parse(&text).map(Some).map_err(|e| StartError::Basemap(format!("{}: {e}", path.display())))
        }
        None if config.demo => {
            Basemap::parse(demo::BASEMAP).map(Some).map_err(|e| StartError::Basemap(format!("of the demo: {e}")))
        }
        None => Ok(None),
    }
}

/// Opens the store and builds the whole HTTP application.
pub async fn build_app(config: &Config) -> Result<(Router, Store), StartError> {
    let basemap = basemap(config)?;
    let store = Store::open_sqlite(&config.data_dir)?;
    let mut local = demo::shipped_contexts().map_err(StartError::Contexts)?;
    if let Some(dir) = &config.contexts_dir {
        local.extend(demo::contexts_from_dir(dir).map_err(StartError::Contexts)?);
    }
    let contexts = ContextStore::new(local, config.fetch_remote_contexts, Duration::from_secs(5));
    let mut issuers = config.trusted_issuers.clone();
    let builtin = if config.builtin_issuer {
        let b = kizuna_auth::BuiltinIssuer::load_or_create(&config.data_dir)
            .map_err(|e| StartError::Auth(e.to_string()))?;
        issuers.push(b.trusted());
        Some(b.jwks_json())
    } else {
        None
    };
    let verifier = kizuna_auth::Verifier::new(issuers).map_err(|e| StartError::Auth(e.to_string()))?;
    if let Err(e) = verifier.load().await {
        // A provider that is down now is retried on its first token.
        tracing::warn!(error = %e, "loading the identity providers' keys failed");
    }
    let state = ApiState { store: store.clone(), contexts, config: config.api.clone(), auth: Arc::new(verifier) };
    if config.demo {
        demo::load(&state).await.map_err(StartError::Demo)?;
    }
    if let Some(file) = &config.classification_file {
        classification::apply_file(&state, file).await.map_err(StartError::Contexts)?;
    }
    if let Some(file) = &config.retention_file {
        retention::apply_file(&state, file).await.map_err(StartError::Contexts)?;
    }
    retention::spawn_purger(store.clone(), config.purge_interval);
    kizuna_api_ngsild::spawn_notifier(state.clone(), config.notifier.clone());
    let admin = kizuna_api_ngsild::admin_router(state.clone())
        .merge(kizuna_api_rights::policy_router(state.clone()))
        .route("/jwks.json", get(move || jwks(builtin.clone())));
    let app = Router::new()
        .route("/health", get(health))
        .nest("/ngsi-ld/v1", kizuna_api_ngsild::router(state.clone()))
        .nest("/kizuna/v1", admin)
        .nest("/me", kizuna_api_rights::me_router(state.clone()))
        .nest("/fhir", kizuna_api_fhir::fhir_router(state.clone()))
        .nest("/alerts/v1", kizuna_api_alerts::alerts_router_with(state, basemap));
    Ok((app, store))
}

/// `GET /kizuna/v1/jwks.json` — the built-in issuer's public key (404 when it is off),
/// for relying services that check Kizuna's development tokens themselves.
async fn jwks(keys: Option<serde_json::Value>) -> axum::response::Response {
    use axum::response::IntoResponse;
    match keys {
        Some(k) => axum::Json(k).into_response(),
        None => axum::http::StatusCode::NOT_FOUND.into_response(),
    }
}

/// `GET /health` — 200 once the store is open and the routes are in place.
async fn health() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
}

/// Serves `app` on `listener` until `shutdown` completes, then finishes in-flight
/// requests and closes `store` cleanly.
pub async fn run(
    listener: TcpListener,
    app: Router,
    store: Store,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    // Trailing slashes are trimmed before routing: many clients send `/entities/`.
    let service = NormalizePathLayer::trim_trailing_slash().layer(app);
    let service = axum::ServiceExt::<axum::extract::Request>::into_make_service(service);
    axum::serve(listener, service).with_graceful_shutdown(shutdown).await?;
    tokio::task::spawn_blocking(move || store.close()).await.map_err(|e| StartError::Io(std::io::Error::other(e)))?;
    Ok(())
}
