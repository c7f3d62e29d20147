//! Where `@context` documents come from: the built-in core context, contexts shipped
//! with Kizuna or placed in a local directory (mapped to their URLs, for sites without
//! internet access), and remote ones fetched once over HTTP(S) and cached.
//!
//! The cache is bounded ([`MAX_CACHED`] documents) and a fetch has a timeout and a size
//! limit; a context that cannot be had is the spec's `LdContextNotAvailable` (503).
//! Active contexts built from a `Link` URL are memoised too, so a request with a known
//! context costs a map lookup.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use kizuna_ngsild::context::ContextError;
use kizuna_ngsild::{Context, ErrorKind, NgsiError};
use serde_json::Value;

use crate::error::ApiError;

/// Most remote context documents (and built contexts) kept.
pub const MAX_CACHED: usize = 256;
/// Largest remote context document accepted.
const MAX_CONTEXT_BYTES: usize = 2 * 1024 * 1024;
/// How many remote documents one request's context may pull in.
const MAX_FETCHES: usize = 16;

/// The context documents known to this server and the fetcher for the rest.
#[derive(Clone)]
pub struct ContextStore {
    inner: Arc<Inner>,
}

struct Inner {
    /// URL → the `@context` member of the document (local files and fetched ones).
    docs: RwLock<HashMap<String, Value>>,
    /// Memoised active contexts for `Link` URLs.
    built: RwLock<HashMap<String, Context>>,
    client: reqwest::Client,
    fetch_remote: bool,
}

impl ContextStore {
    /// A store preloaded with `local` (URL → whole JSON-LD document). With
    /// `fetch_remote` false, unknown URLs are `LdContextNotAvailable` without a fetch.
    pub fn new(local: Vec<(String, Value)>, fetch_remote: bool, timeout: Duration) -> ContextStore {
        let docs = local
            .into_iter()
            .map(|(url, doc)| {
                let ctx = doc.get("@context").cloned().unwrap_or(doc);
                (url, ctx)
            })
            .collect();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("kizuna/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        ContextStore {
            inner: Arc::new(Inner {
                docs: RwLock::new(docs),
                built: RwLock::new(HashMap::new()),
                client,
                fetch_remote,
            }),
        }
    }

    /// The active context for a user context (`None`: core only), fetching what is missing.
    pub async fn resolve(&self, user: Option<&Value>) -> Result<Context, ApiError> {
        let Some(user) = user else {
            return Ok(Context::core());
        };
        let memo_key = user.as_str().map(str::to_string);
        if let Some(key) = &memo_key {
            if let Some(c) = self.inner.built.read().ok().and_then(|b| b.get(key).cloned()) {
                return Ok(c);
            }
        }
        for _ in 0..=MAX_FETCHES {
            let attempt = {
                let docs = self.inner.docs.read().map_err(|_| internal("context cache poisoned"))?;
                Context::build(Some(user), &|url| docs.get(url).cloned())
            };
            match attempt {
                Ok(ctx) => {
                    if let Some(key) = memo_key {
                        if let Ok(mut b) = self.inner.built.write() {
                            if b.len() >= MAX_CACHED {
                                b.clear();
                            }
                            b.insert(key, ctx.clone());
                        }
                    }
                    return Ok(ctx);
                }
                Err(ContextError::Missing(url)) => {
                    let doc = self.fetch(&url).await?;
                    if let Ok(mut d) = self.inner.docs.write() {
                        if d.len() >= MAX_CACHED {
                            // Evict an arbitrary fetched document; local ones are re-added rarely.
                            if let Some(k) = d.keys().next().cloned() {
                                d.remove(&k);
                            }
                        }
                        d.insert(url, doc);
                    }
                }
                Err(ContextError::Invalid(msg)) => return Err(ApiError::Ngsi(NgsiError::bad_data(msg))),
            }
        }
        Err(unavailable(format!("the @context pulls in more than {MAX_FETCHES} remote documents")))
    }

    async fn fetch(&self, url: &str) -> Result<Value, ApiError> {
        if !self.inner.fetch_remote {
            return Err(unavailable(format!("@context {url} is not known locally and remote fetching is disabled")));
        }
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(unavailable(format!("@context {url} is not an http(s) URL")));
        }
        tracing::info!(%url, "fetching remote @context");
        let resp = self
            .inner
            .client
            .get(url)
            .header("Accept", "application/ld+json, application/json")
            .send()
            .await
            .map_err(|e| unavailable(format!("@context {url} could not be fetched: {e}")))?;
        if !resp.status().is_success() {
            return Err(unavailable(format!("@context {url} could not be fetched: HTTP {}", resp.status())));
        }
        let bytes = resp.bytes().await.map_err(|e| unavailable(format!("@context {url}: {e}")))?;
        if bytes.len() > MAX_CONTEXT_BYTES {
            return Err(unavailable(format!("@context {url} is larger than {MAX_CONTEXT_BYTES} bytes")));
        }
        let doc: Value =
            serde_json::from_slice(&bytes).map_err(|e| unavailable(format!("@context {url} is not JSON: {e}")))?;
        doc.get("@context").cloned().ok_or_else(|| unavailable(format!("@context {url} has no @context member")))
    }
}

fn unavailable(detail: String) -> ApiError {
    ApiError::Ngsi(NgsiError::new(ErrorKind::LdContextNotAvailable, detail))
}

fn internal(detail: &str) -> ApiError {
    ApiError::Ngsi(NgsiError::new(ErrorKind::InternalError, detail))
}
