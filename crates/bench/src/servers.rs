//! The servers under test, each served in-process on `127.0.0.1:0` by the runtime the
//! load generator also runs on: the hello-world baseline and Kizuna itself (with the
//! development setting `--dev-open-access` for the groups that send anonymous
//! requests, without it for the consent group, which sends real tokens).

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use axum::routing::get;
use axum::Router;
use kizuna_store::Store;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A server running in the background until [`Running::stop`].
pub struct Running {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Asks for a graceful shutdown and waits for it (at most a minute).
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        tokio::time::timeout(Duration::from_secs(60), self.task)
            .await
            .context("the server did not shut down within 60 s")?
            .context("the server task panicked")?
    }
}

async fn bind() -> anyhow::Result<(TcpListener, String)> {
    let listener = TcpListener::bind("127.0.0.1:0").await.context("binding 127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    Ok((listener, format!("http://{addr}")))
}

/// `GET /hello` → `ok`, on plain `axum::serve` — the same stack `kizuna::run` uses.
pub async fn hello() -> anyhow::Result<Running> {
    let (listener, base) = bind().await?;
    let app = Router::new().route("/hello", get(|| async { "ok" }));
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await
            .context("serving hello-world")
    });
    Ok(Running { base, shutdown: Some(tx), task })
}

/// Kizuna as the binary runs it (`build_app` + `run`), with its store in `dir`, under
/// the development setting `--dev-open-access` (`config.api.dev_open_access`):
/// anonymous clients may read and write non-personal data, which is what the groups
/// 2–5 do, so that their figures stay comparable with runs made before writes needed
/// credentials. Remote `@context` fetching is off so that nothing leaves 127.0.0.1
/// (the benchmark uses only the core context, which is built in).
pub async fn kizuna(dir: &Path) -> anyhow::Result<Running> {
    Ok(start_kizuna(dir, true).await?.0)
}

/// Kizuna with the production access setting (no `--dev-open-access`: every write,
/// and every read of personal data, needs credentials), with its store in `dir`, and
/// a clone of the very [`Store`] the server runs on, taken before `run`: the caller
/// writes records the HTTP API has no endpoint for (classification, parties,
/// consents) through the same single writer as the server. The store is closed when
/// the server stops. Tokens for it come from
/// `kizuna_auth::BuiltinIssuer::load_or_create(dir)`, the issuer the server trusts.
pub async fn kizuna_with_store(dir: &Path) -> anyhow::Result<(Running, Store)> {
    start_kizuna(dir, false).await
}

async fn start_kizuna(dir: &Path, dev_open_access: bool) -> anyhow::Result<(Running, Store)> {
    let mut config = kizuna::Config::new(dir.to_path_buf());
    config.fetch_remote_contexts = false;
    config.api.dev_open_access = dev_open_access;
    let (app, store) = kizuna::build_app(&config).await.context("building the Kizuna app")?;
    let kept = store.clone();
    let (listener, base) = bind().await?;
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        kizuna::run(listener, app, store, async {
            let _ = rx.await;
        })
        .await
        .context("serving Kizuna")
    });
    Ok((Running { base, shutdown: Some(tx), task }, kept))
}

/// Serves `app` on `127.0.0.1:0` in the background (`what` names it in errors).
pub async fn serve(app: Router, what: &'static str) -> anyhow::Result<Running> {
    let (listener, base) = bind().await?;
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await
            .with_context(|| format!("serving {what}"))
    });
    Ok(Running { base, shutdown: Some(tx), task })
}

/// One notification received by [`receiver`].
#[derive(Debug, Clone, Copy)]
pub struct Arrival {
    /// When its whole body had arrived.
    pub at: std::time::Instant,
    /// The number in its path, `/notify/{sub}` (the benchmark gives each subscription its own).
    pub sub: u32,
    /// The value of `seq` in its first entity (`data[0].seq.value`, normalized), if any.
    pub seq: Option<u64>,
}

/// A notification receiver: `POST /notify/{sub}` records the arrival time, the
/// subscription number and the entity's `seq`, sends it down the returned channel and
/// answers 204 at once.
pub async fn receiver() -> anyhow::Result<(Running, tokio::sync::mpsc::UnboundedReceiver<Arrival>)> {
    use axum::extract::{Path as UrlPath, State};
    use axum::http::StatusCode;
    use axum::routing::post;
    use tokio::sync::mpsc;

    async fn notified(
        State(tx): State<mpsc::UnboundedSender<Arrival>>,
        UrlPath(sub): UrlPath<u32>,
        body: axum::body::Bytes,
    ) -> StatusCode {
        let at = std::time::Instant::now();
        let seq = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.pointer("/data/0/seq/value").and_then(serde_json::Value::as_u64));
        let _ = tx.send(Arrival { at, sub, seq });
        StatusCode::NO_CONTENT
    }

    let (listener, base) = bind().await?;
    let (arrivals_tx, arrivals) = mpsc::unbounded_channel();
    let app = Router::new().route("/notify/{sub}", post(notified)).with_state(arrivals_tx);
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await
            .context("serving the notification receiver")
    });
    Ok((Running { base, shutdown: Some(tx), task }, arrivals))
}
