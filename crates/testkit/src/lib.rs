//! Test-only support for the API crates' integration tests: starts an application
//! in-process on a real socket (`127.0.0.1:0`) over a fresh SQLite store, with the
//! built-in token issuer the application trusts and a `reqwest` client.
//!
//! [`TestApp`] does the part every harness shares — the data directory, the store, the
//! issuer, the [`ApiState`], the socket, `axum::serve` (optionally behind the server's
//! trailing-slash trim) with a graceful [`TestApp::stop`], and tokens ([`TestApp::token`]).
//! [`serve`] puts a helper router (a notification receiver, a context server) on a socket.
//! Each harness passes the routers it serves (and starts a notifier if it needs one) in
//! the closure given to [`TestAppBuilder::start`], and keeps its own domain helpers.
//!
//! This crate is a dev-dependency only: it panics (`expect`) on any setup failure and is
//! never part of the `kizuna` binary.
//!
//! ```no_run
//! # async fn example() {
//! use kizuna_testkit::TestApp;
//! let app = TestApp::builder()
//!     .trim_trailing_slash()
//!     .start(|state| axum::Router::new().nest("/ngsi-ld/v1", kizuna_api_ngsild::router(state)))
//!     .await;
//! let token = app.token("t1", kizuna_consent::Role::TenantAdmin, Some("urn:party:city"), None, None);
//! # let _ = token;
//! app.stop().await;
//! # }
//! ```

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use kizuna_api_ngsild::{ApiConfig, ApiState, ContextStore};
use kizuna_auth::{BuiltinIssuer, TokenRequest, Verifier};
use kizuna_consent::Role;
use kizuna_store::Store;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower::Layer;
use tower_http::normalize_path::NormalizePathLayer;

/// The context store of a harness that needs no local or remote contexts: none known,
/// no fetching, a 5 s timeout.
pub fn no_contexts() -> ContextStore {
    ContextStore::new(vec![], false, Duration::from_secs(5))
}

/// Opens the store in `dir`, loads (or creates) the built-in issuer there and builds the
/// [`ApiState`] trusting it: for tests that call a router without a socket.
pub fn open_state(dir: &Path, contexts: ContextStore, config: ApiConfig) -> (ApiState, Arc<BuiltinIssuer>) {
    let store = Store::open_sqlite(dir).expect("open store");
    let issuer = Arc::new(BuiltinIssuer::load_or_create(dir).expect("built-in issuer"));
    let auth = Arc::new(Verifier::new(vec![issuer.trusted()]).expect("verifier"));
    (ApiState { store, contexts, config, auth }, issuer)
}

/// Serves a helper router (a notification receiver, a context server, ...) on
/// `127.0.0.1:0` until the test's runtime ends; its origin (`http://127.0.0.1:PORT`) and
/// task.
pub async fn serve(app: Router) -> (String, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    (format!("http://{addr}"), task)
}

/// How to start a [`TestApp`]; see [`TestApp::builder`].
pub struct TestAppBuilder {
    dir: Option<Arc<TempDir>>,
    contexts: Option<ContextStore>,
    config: ApiConfig,
    trim_trailing_slash: bool,
    client_timeout: Duration,
    token_ttl: Duration,
}

impl Default for TestAppBuilder {
    fn default() -> TestAppBuilder {
        TestAppBuilder {
            dir: None,
            contexts: None,
            config: ApiConfig::default(),
            trim_trailing_slash: false,
            client_timeout: Duration::from_secs(30),
            token_ttl: Duration::from_secs(3600),
        }
    }
}

impl TestAppBuilder {
    /// Reuse this data directory (to reopen a store); a fresh one otherwise.
    pub fn dir(mut self, dir: Arc<TempDir>) -> TestAppBuilder {
        self.dir = Some(dir);
        self
    }

    /// The contexts the API knows; [`no_contexts`] otherwise.
    pub fn contexts(mut self, contexts: ContextStore) -> TestAppBuilder {
        self.contexts = Some(contexts);
        self
    }

    /// API configuration; `ApiConfig::default()` otherwise.
    pub fn config(mut self, config: ApiConfig) -> TestAppBuilder {
        self.config = config;
        self
    }

    /// Trim trailing slashes before routing, as the server does.
    pub fn trim_trailing_slash(mut self) -> TestAppBuilder {
        self.trim_trailing_slash = true;
        self
    }

    /// The client's request timeout; 30 s otherwise.
    pub fn client_timeout(mut self, timeout: Duration) -> TestAppBuilder {
        self.client_timeout = timeout;
        self
    }

    /// The lifetime of the tokens of [`TestApp::token`]; one hour otherwise.
    pub fn token_ttl(mut self, ttl: Duration) -> TestAppBuilder {
        self.token_ttl = ttl;
        self
    }

    /// Opens the store, builds the state, serves the router `build` makes from it on
    /// `127.0.0.1:0`.
    pub async fn start(self, build: impl FnOnce(ApiState) -> Router) -> TestApp {
        let dir = self.dir.unwrap_or_else(|| Arc::new(tempfile::tempdir().expect("tempdir")));
        let contexts = self.contexts.unwrap_or_else(no_contexts);
        let (state, issuer) = open_state(dir.path(), contexts, self.config);
        let store = state.store.clone();
        let app = build(state);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let (tx, rx) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = rx.await;
        };
        let task = if self.trim_trailing_slash {
            let service = NormalizePathLayer::trim_trailing_slash().layer(app);
            let service = axum::ServiceExt::<axum::extract::Request>::into_make_service(service);
            tokio::spawn(async move {
                axum::serve(listener, service).with_graceful_shutdown(shutdown).await.expect("serve");
            })
        } else {
            tokio::spawn(async move {
                axum::serve(listener, app).with_graceful_shutdown(shutdown).await.expect("serve");
            })
        };
        TestApp {
            origin: format!("http://{addr}"),
            client: reqwest::Client::builder().timeout(self.client_timeout).build().expect("client"),
            store,
            issuer,
            dir,
            token_ttl: self.token_ttl,
            shutdown: Some(tx),
            task: Some(task),
        }
    }
}

/// An application on a socket, with its store, data directory and token issuer.
///
/// Dropping it starts a graceful shutdown of the server; [`TestApp::stop`] also waits for
/// it and closes the store.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub origin: String,
    pub client: reqwest::Client,
    pub store: Store,
    /// The built-in token issuer the application trusts.
    pub issuer: Arc<BuiltinIssuer>,
    pub dir: Arc<TempDir>,
    token_ttl: Duration,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl TestApp {
    /// Options: data directory, contexts, config, trailing-slash trim, timeouts.
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder::default()
    }

    /// A fresh store, no contexts, `config`, the router `build` makes, no path trimming.
    pub async fn start(config: ApiConfig, build: impl FnOnce(ApiState) -> Router) -> TestApp {
        TestApp::builder().config(config).start(build).await
    }

    /// A token from the built-in issuer for `role` in `tenant` (party, subject and purpose
    /// as given), valid for the builder's token lifetime.
    pub fn token(
        &self,
        tenant: &str,
        role: Role,
        party: Option<&str>,
        subject: Option<&str>,
        purpose: Option<&str>,
    ) -> String {
        self.issuer
            .issue(&TokenRequest {
                tenant: tenant.to_string(),
                party: party.map(str::to_string),
                role,
                subject: subject.map(str::to_string),
                purpose: purpose.map(str::to_string),
                ttl: self.token_ttl,
            })
            .expect("issue a token")
    }

    /// Stops serving (waiting for open connections to finish), closes the store cleanly
    /// and hands back the data directory.
    pub async fn stop(mut self) -> Arc<TempDir> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task");
        }
        self.close().await
    }

    /// Stops serving at once, cutting open connections (an event stream would hold up
    /// [`TestApp::stop`]), closes the store and hands back the data directory.
    pub async fn stop_now(mut self) -> Arc<TempDir> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
        self.close().await
    }

    async fn close(&self) -> Arc<TempDir> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.close()).await.expect("close store");
        self.dir.clone()
    }
}
