//! Kizuna's storage: entities per tenant, in NGSI-LD terms.
//!
//! Callers see one concrete handle, [`Store`]; the backend behind it is a
//! `pub(crate)` trait ([`backend::Backend`]) so that a PostgreSQL backend can be added
//! without touching the HTTP layer. Storage errors never carry HTTP statuses.
//!
//! Writes go through [`Store::write`]: the caller's closure runs inside a transaction
//! on the backend's single writer, which groups concurrent writes into one commit
//! (group commit) and answers each caller only once its commit is durable.
//!
//! # Layout
//! - this file: [`Store`], [`Txn`], [`StoreError`];
//! - `query.rs`: [`EntityQuery`] and its results, discovery rows;
//! - `backend.rs`: the backend trait;
//! - `sqlite/`: the embedded SQLite backend (schema and migrations, writer thread,
//!   query planning with `q` pushdown into the attribute index).

mod backend;
mod query;
mod sqlite;

use std::path::Path;
use std::sync::Arc;

pub use kizuna_ngsild::Entity;
pub use query::{AttributeInfo, EntityQuery, QueryResult, TypeInfo, TypeSelector};

/// What can go wrong in storage.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The SQLite engine reported an error.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored document could not be read back.
    #[error("stored entity {id} is unreadable: {reason}")]
    Corrupt {
        /// Which entity.
        id: String,
        /// Why.
        reason: String,
    },
    /// The data directory could not be prepared.
    #[error("data directory: {0}")]
    Io(#[from] std::io::Error),
    /// The schema on disk is newer than this program.
    #[error("the database schema version {found} is newer than this program's {supported}")]
    SchemaTooNew {
        /// Version found on disk.
        found: i64,
        /// Newest version this build knows.
        supported: i64,
    },
    /// The store has been closed (shutdown in progress).
    #[error("the store is closed")]
    Closed,
}

/// Operations available to a write closure, inside one transaction.
pub trait Txn {
    /// The entity `id` as stored now (including this transaction's changes).
    fn get(&mut self, id: &str) -> Result<Option<Entity>, StoreError>;
    /// Inserts a new entity; `Ok(false)` if one with that id exists already.
    fn insert(&mut self, e: &Entity) -> Result<bool, StoreError>;
    /// Replaces the stored entity with the same id; `Ok(false)` if there is none.
    fn update(&mut self, e: &Entity) -> Result<bool, StoreError>;
    /// Deletes an entity; `Ok(false)` if there was none.
    fn delete(&mut self, id: &str) -> Result<bool, StoreError>;
}

/// The storage handle the rest of Kizuna uses. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    backend: Arc<dyn backend::Backend>,
}

impl Store {
    /// Opens (creating if needed) the embedded SQLite store in `dir`.
    pub fn open_sqlite(dir: &Path) -> Result<Store, StoreError> {
        let backend = sqlite::SqliteBackend::open(dir)?;
        Ok(Store { backend: Arc::new(backend) })
    }

    /// Runs `f` in a write transaction for `tenant` and returns its result once the
    /// transaction is durably committed. If `f` returns an error, its changes are
    /// rolled back and the error is returned. Blocking: call from a blocking context.
    pub fn write<T, E, F>(&self, tenant: &str, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&mut dyn Txn) -> Result<T, E> + Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<T, E>>(1);
        let job: backend::Job = Box::new(move |txn: &mut dyn Txn| {
            let result = f(txn);
            let ok = result.is_ok();
            let complete: backend::Completion = Box::new(move |commit: Result<(), StoreError>| {
                let outcome = match commit {
                    Ok(()) => result,
                    Err(e) => Err(E::from(e)),
                };
                // The caller may have gone away (client disconnected); nothing to do then.
                let _ = tx.send(outcome);
            });
            (ok, complete)
        });
        self.backend.submit(tenant.to_string(), job)?;
        rx.recv().map_err(|_| E::from(StoreError::Closed))?
    }

    /// The entity `id` of `tenant`, if it exists.
    pub fn get(&self, tenant: &str, id: &str) -> Result<Option<Entity>, StoreError> {
        self.backend.get(tenant, id)
    }

    /// The entities of `tenant` matching `q`, in id order, one page.
    pub fn query(&self, tenant: &str, q: &EntityQuery) -> Result<QueryResult, StoreError> {
        self.backend.query(tenant, q)
    }

    /// Entity types in use, with entity counts.
    pub fn types(&self, tenant: &str) -> Result<Vec<TypeInfo>, StoreError> {
        self.backend.types(tenant)
    }

    /// Attribute names in use, with the kinds and entity types they occur with.
    pub fn attributes(&self, tenant: &str) -> Result<Vec<AttributeInfo>, StoreError> {
        self.backend.attributes(tenant)
    }

    /// Whether `tenant` holds (or has ever held) data.
    pub fn tenant_exists(&self, tenant: &str) -> Result<bool, StoreError> {
        self.backend.tenant_exists(tenant)
    }

    /// Number of entities `tenant` holds.
    pub fn count(&self, tenant: &str) -> Result<u64, StoreError> {
        self.backend.count(tenant)
    }

    /// Finishes queued writes and closes the store; later calls fail with `Closed`.
    pub fn close(&self) {
        self.backend.close();
    }
}
