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
mod notify;
mod query;
mod sqlite;
mod temporal;

use std::path::Path;
use std::sync::Arc;

pub use kizuna_ngsild::subscription::Subscription;
pub use kizuna_ngsild::{Attribute, Entity};
pub use notify::{Delivery, DeliveryStatus, OutboxItem, StoredSubscription};
pub use query::{AttributeInfo, EntityQuery, Gate, QueryResult, TypeInfo, TypeSelector};
pub use temporal::{TemporalEntity, TemporalFilter, TimeProperty, TimeRel, Truncation};

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
    /// Deletes an entity; `Ok(false)` if there was none. Its history stays.
    fn delete(&mut self, id: &str) -> Result<bool, StoreError>;
    /// Records attribute instances in the history of entity `id` of `types` (temporal
    /// API), creating the temporal entity if needed; each instance's `modified_at` is
    /// its recording time.
    fn append_history(&mut self, id: &str, types: &[String], attrs: &[(String, Attribute)]) -> Result<(), StoreError>;
    /// Types of a temporal entity, `None` if it has no history.
    fn temporal_types(&mut self, id: &str) -> Result<Option<Vec<String>>, StoreError>;
    /// Deletes a temporal entity and all its history; `Ok(false)` if there was none.
    fn delete_history(&mut self, id: &str) -> Result<bool, StoreError>;
    /// Deletes recorded instances of one attribute (one datasetId, or all); returns how many.
    fn delete_attr_history(
        &mut self,
        id: &str,
        attr: &str,
        dataset_id: Option<&str>,
        all: bool,
    ) -> Result<u64, StoreError>;
    /// Deletes one recorded instance; `Ok(false)` if there is none.
    fn delete_instance(&mut self, id: &str, attr: &str, instance_id: &str) -> Result<bool, StoreError>;
    /// Replaces one recorded instance's content; `Ok(false)` if there is none.
    fn replace_instance(&mut self, id: &str, attr: &str, instance_id: &str, a: &Attribute) -> Result<bool, StoreError>;
    /// Sets (or, with `None`, removes) the retention of history for entities of `type_iri`.
    fn set_retention(&mut self, type_iri: &str, seconds: Option<u64>) -> Result<(), StoreError>;
    /// Deletes history older than every tenant's retention settings (a maintenance
    /// operation across tenants); returns (tenant, type, instances removed).
    fn purge(&mut self, now_ms: i64) -> Result<Vec<(String, String, u64)>, StoreError>;
    /// Stores a new subscription; `Ok(false)` if the id is taken.
    fn insert_subscription(&mut self, sub: &Subscription) -> Result<bool, StoreError>;
    /// Replaces a stored subscription (keeping its delivery status); `Ok(false)` if none.
    fn replace_subscription(&mut self, sub: &Subscription) -> Result<bool, StoreError>;
    /// Deletes a subscription and its pending notifications; `Ok(false)` if none.
    fn delete_subscription(&mut self, id: &str) -> Result<bool, StoreError>;
    /// The stored subscription `id`.
    fn get_subscription(&mut self, id: &str) -> Result<Option<Subscription>, StoreError>;
    /// Queues a notification of `entities` for subscription `sub_id` (periodic notifications).
    fn enqueue_notification(&mut self, sub_id: &str, trigger: &str, entities: &[Entity]) -> Result<(), StoreError>;
    /// Records the outcome of delivering outbox item `seq` of subscription `sub_id`.
    fn record_delivery(&mut self, sub_id: &str, seq: i64, outcome: &Delivery, now: &str) -> Result<(), StoreError>;
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

    /// Entity `id`'s temporal evolution, if it has any history.
    pub fn temporal_entity(
        &self,
        tenant: &str,
        id: &str,
        f: &TemporalFilter,
    ) -> Result<Option<TemporalEntity>, StoreError> {
        self.backend.temporal_entity(tenant, id, f)
    }

    /// The temporal evolution of the entities matching `q` (its `q` and `geo` are
    /// evaluated over the instances in the time window: an entity matches if some
    /// recorded instances satisfy them), one page in id order.
    pub fn temporal_query(
        &self,
        tenant: &str,
        q: &EntityQuery,
        f: &TemporalFilter,
    ) -> Result<(Vec<TemporalEntity>, Option<u64>), StoreError> {
        self.backend.temporal_query(tenant, q, f)
    }

    /// The retention settings of `tenant`: (entity type IRI, seconds).
    pub fn retention(&self, tenant: &str) -> Result<Vec<(String, u64)>, StoreError> {
        self.backend.retention(tenant)
    }

    /// Deletes history older than each retention setting (all tenants); returns
    /// (tenant, type, instances removed) for every setting that removed something.
    /// `now_ms` is the current time in Unix milliseconds.
    pub fn purge_history(&self, now_ms: i64) -> Result<Vec<(String, String, u64)>, StoreError> {
        self.write("", move |tx| tx.purge(now_ms))
    }

    /// The subscription `id` of `tenant` with its delivery status.
    pub fn subscription(&self, tenant: &str, id: &str) -> Result<Option<StoredSubscription>, StoreError> {
        self.backend.subscription(tenant, id)
    }

    /// All subscriptions of `tenant`, in id order.
    pub fn subscriptions(&self, tenant: &str) -> Result<Vec<StoredSubscription>, StoreError> {
        self.backend.subscriptions(tenant)
    }

    /// Every active periodic subscription (`timeInterval`), of all tenants: (tenant, subscription).
    pub fn periodic_subscriptions(&self) -> Result<Vec<(String, std::sync::Arc<Subscription>)>, StoreError> {
        self.backend.periodic_subscriptions()
    }

    /// The subscriptions with a notification due at `now_ms`: (tenant, id), oldest first.
    pub fn outbox_due(&self, now_ms: i64, limit: usize) -> Result<Vec<(String, String)>, StoreError> {
        self.backend.outbox_due(now_ms, limit)
    }

    /// The oldest pending notification of a subscription (what must go first).
    pub fn outbox_head(&self, tenant: &str, sub_id: &str) -> Result<Option<OutboxItem>, StoreError> {
        self.backend.outbox_head(tenant, sub_id)
    }

    /// Calls `f` after every commit that queued notifications (to wake the deliverer).
    pub fn set_outbox_listener(&self, f: std::sync::Arc<dyn Fn() + Send + Sync>) {
        self.backend.set_outbox_listener(f);
    }

    /// Finishes queued writes and closes the store; later calls fail with `Closed`.
    pub fn close(&self) {
        self.backend.close();
    }
}
