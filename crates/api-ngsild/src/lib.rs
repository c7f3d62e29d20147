//! The NGSI-LD HTTP API (ETSI GS CIM 009 V1.8) under `/ngsi-ld/v1`.
//!
//! # Layout
//! - `router.rs`: every route and the operation that serves it, in one table;
//! - `request.rs`: the shared pipeline — tenant, content negotiation, `@context`,
//!   body and query-string parsing, building responses;
//! - `access.rs`: authentication of each request and the consent gate on every read
//!   and write path (see its docs for what a withheld entity answers);
//! - `contexts.rs`: where `@context` documents come from (built-in, local, fetched);
//! - `error.rs`: [`ApiError`] → status code and ProblemDetails, one exhaustive `match`;
//! - `ops/`: one module per group of standard operations, each handler documented with
//!   the clause of the specification it implements.
//!
//! Handlers never touch SQL: they parse and validate with `kizuna-ngsild`, then call
//! [`kizuna_store::Store`] inside `spawn_blocking`.

pub mod access;
mod contexts;
mod error;
pub mod media;
mod mqtt;
mod notifier;
pub(crate) mod ops;
mod request;
mod router;

use std::sync::Arc;

use kizuna_store::{Store, StoreError, Txn};

pub use access::PURPOSE_HEADER;
pub use contexts::ContextStore;
pub use error::ApiError;
pub use notifier::{signature, spawn_notifier, NotifierConfig, SIGNATURE_HEADER};
pub use ops::temporal::parse_duration_ms;
pub use request::{header_tenant, link_context, validate_tenant, Ngsi, TENANT_HEADER};
pub use router::{admin_router, router};

/// Limits and switches of the API.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Largest page (`limit`) a query may ask for.
    pub max_limit: usize,
    /// Page size when `limit` is not given.
    pub default_limit: usize,
    /// Most entities one batch operation may carry.
    pub max_batch: usize,
    /// Consecutive delivery failures after which a subscription shows `failed`.
    pub max_failures: u64,
    /// Development and conformance testing only (`--dev-open-access`): anonymous
    /// callers may read and write non-personal data, subscribe, and set retention.
    /// Personal data stays behind credentials and consent. Off by default.
    pub dev_open_access: bool,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            max_body_bytes: 8 * 1024 * 1024,
            max_limit: 1000,
            default_limit: 20,
            max_batch: 10_000,
            max_failures: 3,
            dev_open_access: false,
        }
    }
}

/// What every handler gets: the store, the context documents and the limits.
#[derive(Clone)]
pub struct ApiState {
    /// The storage handle.
    pub store: Store,
    /// `@context` documents.
    pub contexts: ContextStore,
    /// Limits.
    pub config: ApiConfig,
    /// Verifies bearer tokens against the trusted issuers.
    pub auth: Arc<kizuna_auth::Verifier>,
}

impl ApiState {
    /// Runs a write transaction for the caller of `req` on a blocking thread and waits
    /// for its durable commit. Every entity, history and subscription change is
    /// checked against the caller's rights ([`access::Guarded`]); a refused change
    /// rolls the transaction back and answers 401/403.
    pub(crate) async fn write<T, F>(&self, req: &request::Ngsi, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Txn) -> Result<T, ApiError> + Send + 'static,
    {
        let access = req.access.clone();
        self.write_unguarded(&req.tenant, move |tx| {
            let mut guarded = access::Guarded::new(tx, &access);
            let result = f(&mut guarded);
            match (result, guarded.refusal.take()) {
                (Err(_), Some(refusal)) => Err(refusal),
                (result, _) => result,
            }
        })
        .await
    }

    /// Runs a write transaction with no caller checks (the server's own bookkeeping:
    /// audit records, delivery outcomes, periodic notifications) on a blocking thread and
    /// waits for its durable commit. Public for the other API crates (`kizuna-api-rights`:
    /// the citizen and admin APIs), which check their callers themselves before writing.
    pub async fn write_unguarded<T, F>(&self, tenant: &str, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Txn) -> Result<T, ApiError> + Send + 'static,
    {
        let store = self.store.clone();
        let tenant = tenant.to_string();
        tokio::task::spawn_blocking(move || store.write(&tenant, f))
            .await
            .map_err(|_| ApiError::Store(StoreError::Closed))?
    }

    /// Runs a read on a blocking thread (store errors become [`ApiError::Store`]).
    /// Public for the other API crates (`kizuna-api-rights`).
    pub async fn read<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|_| ApiError::Store(StoreError::Closed))?
            .map_err(ApiError::from)
    }
}
