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
//! - this file: [`Store`], [`Txn`], [`StoreError`], [`AuditReport`];
//! - `query.rs`: [`EntityQuery`] and its results, discovery rows;
//! - `backend.rs`: the backend trait;
//! - `sqlite/`: the embedded SQLite backend (schema and migrations, writer thread,
//!   query planning with `q` pushdown into the attribute index; `sqlite/consent.rs`:
//!   the consent engine's records, the per-tenant policy cache and the audit chain).
//!
//! # Consent records and the access log
//! The records of [`kizuna_consent`] (parties, API keys, the classification, consents,
//! delegations, usage stops, provisions) are written through [`Txn`] and read through
//! [`Store`]. [`Store::policy`] serves a tenant's [`TenantPolicy`] from a cache that
//! every write of a record it is built from drops after its commit and before that
//! write is answered, so a withdrawal acknowledged to its caller is seen by the next
//! decision. [`Txn::append_audit`] links entries into the tenant's hash chain and moves
//! the chain's head (kept in its own table) in the same transaction;
//! [`Store::verify_audit`] checks every chain against its head.

mod backend;
pub mod fhir;
mod notify;
mod query;
mod sqlite;
mod temporal;

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use kizuna_consent::{
    ApiKeyRecord, AuditEntry, AuditRecord, ChainError, ChainHead, Classification, ConsentRecord, Delegation,
    Guardianship, Party, ProvisionRecord, TenantPolicy, UsageStop,
};

pub use fhir::{FhirClause, FhirHit, FhirIndexRow, FhirMatch, FhirPage, FhirRecord, FhirSearch, FhirSort, RangeCond};
pub use kizuna_ngsild::subscription::Subscription;
pub use kizuna_ngsild::{Attribute, Entity};
pub use notify::{Delivery, DeliveryStatus, OutboxItem, Receipt, ReceiptOutcome, StoredSubscription};
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
    /// A write was asked to store something it must not: a record of another tenant
    /// (controller, key tenant or audit entry tenant different from the transaction's).
    #[error("invalid write: {0}")]
    Invalid(String),
    /// A write closure (or a [`Txn`] wrapper checking access) refused an operation; the
    /// message says why. The store never produces it itself: it rolls the job back like
    /// any other error.
    #[error("refused: {0}")]
    Refused(String),
}

/// The outcome of [`Store::verify_audit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditReport {
    /// Each tenant whose chain verified, in name order: (tenant, number of records,
    /// hash of the last record — [`kizuna_consent::GENESIS_HASH`] for an empty chain).
    /// Verification stops at the first fault: tenants after it are not listed.
    pub tenants: Vec<(String, u64, String)>,
    /// The first fault found, naming the tenant and the first bad `seq`; `None` if every
    /// chain verified. `index` is the record's position in its tenant's chain as read in
    /// `seq` order (from 0). See [`Store::verify_audit`] for how each fault is reported.
    pub fault: Option<ChainError>,
}

impl AuditReport {
    /// Whether every chain verified.
    pub fn is_ok(&self) -> bool {
        self.fault.is_none()
    }
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
    /// Records the outcome of delivering outbox item `seq` of subscription `sub_id`, and
    /// appends it to the delivery log (one row per entity of the item), in this
    /// transaction.
    fn record_delivery(&mut self, sub_id: &str, seq: i64, outcome: &Delivery, now: &str) -> Result<(), StoreError>;

    // The consent engine's records. Every write of a record a [`TenantPolicy`] is built
    // from (party, classification, consent, delegation, usage stop) drops the tenant's
    // cached policy once the transaction has committed, before the write is answered.
    // None of these writes makes the tenant exist for [`Store::tenant_exists`] (that
    // stays about entity data).

    /// Stores a party of the tenant's registry, replacing one with the same id.
    fn put_party(&mut self, p: &Party) -> Result<(), StoreError>;
    /// Removes a party from the registry; `Ok(false)` if there was none.
    fn delete_party(&mut self, id: &str) -> Result<bool, StoreError>;
    /// Stores a new API key record (its secret's SHA-256 only); `Ok(false)` if the id is
    /// taken (in any tenant: key ids are global). Fails with [`StoreError::Invalid`] if
    /// `k.tenant` is not the transaction's tenant.
    fn put_api_key(&mut self, k: &ApiKeyRecord) -> Result<bool, StoreError>;
    /// Marks the key `id` revoked at `at`; `Ok(false)` if the tenant has no such key or
    /// it is revoked already.
    fn revoke_api_key(&mut self, id: &str, at: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Replaces the tenant's classification of entity types.
    fn set_classification(&mut self, c: &Classification) -> Result<(), StoreError>;
    /// Stores a consent record, replacing one with the same id (a withdrawal is a put
    /// with `withdrawn_at` set). Fails with [`StoreError::Invalid`] if its controller is
    /// not the transaction's tenant.
    fn put_consent(&mut self, c: &ConsentRecord) -> Result<(), StoreError>;
    /// Stores a delegation, replacing one with the same id. Fails with
    /// [`StoreError::Invalid`] if its controller is not the transaction's tenant.
    fn put_delegation(&mut self, d: &Delegation) -> Result<(), StoreError>;
    /// Stores a usage stop, replacing the one of the same subject and recipient. Fails
    /// with [`StoreError::Invalid`] if its controller is not the transaction's tenant.
    fn put_usage_stop(&mut self, s: &UsageStop) -> Result<(), StoreError>;
    /// Lifts the usage stop of `subject` against `recipient`; `Ok(false)` if there was none.
    fn delete_usage_stop(&mut self, subject: &str, recipient: &str) -> Result<bool, StoreError>;
    /// Records provisions made by the information bank. Fails with
    /// [`StoreError::Invalid`] if one's controller is not the transaction's tenant.
    fn add_provisions(&mut self, p: &[ProvisionRecord]) -> Result<(), StoreError>;
    /// Appends `entries`, in order, to the tenant's audit chain: each is linked after the
    /// chain's head with [`ChainHead::append`], stored, and the head moves to the last
    /// one, all in this transaction. Returns the records as stored. Fails with
    /// [`StoreError::Invalid`] if an entry's tenant is not the transaction's tenant.
    fn append_audit(&mut self, entries: Vec<AuditEntry>) -> Result<Vec<AuditRecord>, StoreError>;
    /// Erases the data subject's provision records (their consents, delegations, usage
    /// stops and audit records stay: they are the legal record); returns how many rows
    /// were removed. Entities and their history are erased with [`Txn::delete`] and
    /// [`Txn::delete_history`].
    fn erase_subject_records(&mut self, subject: &str) -> Result<u64, StoreError>;

    /// Stores a guardianship, replacing one with the same id (ending one is a put with
    /// `ended_at` set). Fails with [`StoreError::Invalid`] if its controller is not the
    /// transaction's tenant.
    fn put_guardianship(&mut self, g: &Guardianship) -> Result<(), StoreError>;

    // FHIR resources (see [`fhir`]).

    /// The current version of FHIR resource `rtype/id` (a delete included).
    fn fhir_current(&mut self, rtype: &str, id: &str) -> Result<Option<FhirRecord>, StoreError>;
    /// Stores `rec` as the new current version of its resource (the caller numbers the
    /// versions: one more than [`Txn::fhir_current`]'s), replacing its search-index rows
    /// with `index` (ignored for a delete). Every version is kept.
    fn fhir_put(&mut self, rec: &FhirRecord, index: &[FhirIndexRow]) -> Result<(), StoreError>;
    /// Searches current FHIR resources inside the transaction (conditional create and
    /// conditional references, which must see what the transaction sees): as
    /// [`Store::fhir_search`].
    fn fhir_search(
        &mut self,
        q: &FhirSearch,
        offset: usize,
        limit: usize,
        gate: &mut dyn FnMut(&FhirHit) -> bool,
    ) -> Result<FhirPage, StoreError>;
    /// Erases `subject`'s FHIR data: every resource whose current version is theirs,
    /// with all its versions, and their versions of resources that now belong to someone
    /// else. Returns the `Type/id` of every resource touched.
    fn fhir_erase_subject(&mut self, subject: &str) -> Result<Vec<String>, StoreError>;
    /// A state document of the FHIR layer (threshold table, last assessments).
    fn fhir_state(&mut self, key: &str) -> Result<Option<serde_json::Value>, StoreError>;
    /// Replaces a state document of the FHIR layer.
    fn set_fhir_state(&mut self, key: &str, doc: &serde_json::Value) -> Result<(), StoreError>;
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

    /// The delivery state of entity `entity_id` for every subscription of `tenant` that
    /// was notified of it or has a notification of it queued, in subscription id order:
    /// the latest logged outcome (a later notification of the same entity replaces an
    /// earlier one) and whether one is still pending.
    pub fn receipts(&self, tenant: &str, entity_id: &str) -> Result<Vec<Receipt>, StoreError> {
        self.backend.receipts(tenant, entity_id)
    }

    /// Calls `f` after every commit that queued notifications (to wake the deliverer).
    pub fn set_outbox_listener(&self, f: std::sync::Arc<dyn Fn() + Send + Sync>) {
        self.backend.set_outbox_listener(f);
    }

    /// The policy of `tenant` for the decision point: its classification (empty if none
    /// was set), parties, consents, delegations and usage stops, indexed by subject.
    /// Served from a per-tenant cache that every write of those records drops before it
    /// is acknowledged, so the next call after an acknowledged write sees it.
    pub fn policy(&self, tenant: &str) -> Result<Arc<TenantPolicy>, StoreError> {
        self.backend.policy(tenant)
    }

    /// The party `id` of `tenant`'s registry.
    pub fn party(&self, tenant: &str, id: &str) -> Result<Option<Party>, StoreError> {
        self.backend.party(tenant, id)
    }

    /// Every party of `tenant`, in id order.
    pub fn parties(&self, tenant: &str) -> Result<Vec<Party>, StoreError> {
        self.backend.parties(tenant)
    }

    /// The API key record `id` (of any tenant: the record says which). Read from the
    /// database on every call, so a revocation takes effect on the next request.
    pub fn api_key(&self, id: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.backend.api_key(id)
    }

    /// Every API key record of `tenant` (revoked ones included), in id order.
    pub fn api_keys(&self, tenant: &str) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.backend.api_keys(tenant)
    }

    /// The classification of `tenant` (empty if none was set).
    pub fn classification(&self, tenant: &str) -> Result<Classification, StoreError> {
        self.backend.classification(tenant)
    }

    /// The consent records of data subject `subject` in `tenant`, in id order.
    pub fn consents_of(&self, tenant: &str, subject: &str) -> Result<Vec<ConsentRecord>, StoreError> {
        self.backend.consents_of(tenant, subject)
    }

    /// The consent record `id` of `tenant`.
    pub fn consent(&self, tenant: &str, id: &str) -> Result<Option<ConsentRecord>, StoreError> {
        self.backend.consent(tenant, id)
    }

    /// The consent records naming `recipient` in `tenant`, in id order (the admin and
    /// provider view).
    pub fn consents_by_recipient(&self, tenant: &str, recipient: &str) -> Result<Vec<ConsentRecord>, StoreError> {
        self.backend.consents_by_recipient(tenant, recipient)
    }

    /// The delegations of data subject `subject` in `tenant`, in id order.
    pub fn delegations_of(&self, tenant: &str, subject: &str) -> Result<Vec<Delegation>, StoreError> {
        self.backend.delegations_of(tenant, subject)
    }

    /// The delegation `id` of `tenant`.
    pub fn delegation(&self, tenant: &str, id: &str) -> Result<Option<Delegation>, StoreError> {
        self.backend.delegation(tenant, id)
    }

    /// The usage stops of data subject `subject` in `tenant`, in recipient order.
    pub fn usage_stops_of(&self, tenant: &str, subject: &str) -> Result<Vec<UsageStop>, StoreError> {
        self.backend.usage_stops_of(tenant, subject)
    }

    /// One page of the provisions made from `subject`'s data in `tenant`, oldest first:
    /// at most `limit` records with a sequence number above `after_seq`, each with its
    /// sequence number (pass the last one as `after_seq` for the next page).
    pub fn provisions_of(
        &self,
        tenant: &str,
        subject: &str,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<(i64, ProvisionRecord)>, StoreError> {
        self.backend.provisions_of(tenant, subject, after_seq, limit)
    }

    /// One page of the audit records about data subject `subject` in `tenant` (the
    /// citizen's access log), oldest first: at most `limit` records with `seq` above
    /// `after_seq`.
    pub fn audit_of_subject(
        &self,
        tenant: &str,
        subject: &str,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        self.backend.audit_of_subject(tenant, subject, after_seq, limit)
    }

    /// One page of `tenant`'s audit chain in `seq` order: at most `limit` records with
    /// `seq` above `after_seq`.
    pub fn audit_page(&self, tenant: &str, after_seq: u64, limit: usize) -> Result<Vec<AuditRecord>, StoreError> {
        self.backend.audit_page(tenant, after_seq, limit)
    }

    /// The tenants with an audit chain (records or a head), in name order.
    pub fn audit_tenants(&self) -> Result<Vec<String>, StoreError> {
        self.backend.audit_tenants()
    }

    /// The head of every tenant's audit chain, as stored apart from the log, in tenant order.
    pub fn audit_heads(&self) -> Result<Vec<ChainHead>, StoreError> {
        self.backend.audit_heads()
    }

    /// Verifies every tenant's audit chain (tenants in name order) against its stored
    /// head, reading the records from their stored JSON in `seq` order, chunk by chunk,
    /// in one read snapshot. For each record it checks, as [`kizuna_consent::verify`]
    /// does, that its `seq` follows the previous one ([`ChainFault::Sequence`]), that
    /// its `prev_hash` links to the previous `hash` ([`ChainFault::PrevHash`]) and that
    /// its `hash` is [`kizuna_consent::chain`] of its contents ([`ChainFault::Hash`]).
    /// A row whose `seq` column disagrees with its JSON is a `Sequence` fault; one whose
    /// JSON is unreadable or whose tenant or hash column disagrees with its JSON is a
    /// `Hash` fault (the stored record was edited). Then the chain's end is compared with
    /// the head: records missing at the end (or a head without records) give
    /// [`ChainFault::Truncated`] naming the first missing `seq`; a last record that is
    /// not the head, or records without a head, give [`ChainFault::HeadMismatch`] at the
    /// last record; records beyond the head give it at the first of them.
    ///
    /// An unreadable database is an error; a chain that does not verify is a report
    /// with [`AuditReport::fault`] set.
    ///
    /// [`ChainFault::Sequence`]: kizuna_consent::ChainFault::Sequence
    /// [`ChainFault::PrevHash`]: kizuna_consent::ChainFault::PrevHash
    /// [`ChainFault::Hash`]: kizuna_consent::ChainFault::Hash
    /// [`ChainFault::Truncated`]: kizuna_consent::ChainFault::Truncated
    /// [`ChainFault::HeadMismatch`]: kizuna_consent::ChainFault::HeadMismatch
    pub fn verify_audit(&self) -> Result<AuditReport, StoreError> {
        self.backend.verify_audit()
    }

    /// The guardianships of `tenant` in which `subject` is the guardian or the ward.
    pub fn guardianships_of(&self, tenant: &str, subject: &str) -> Result<Vec<Guardianship>, StoreError> {
        self.backend.guardianships_of(tenant, subject)
    }

    /// The current version of FHIR resource `rtype/id` of `tenant` (a delete included).
    pub fn fhir_read(&self, tenant: &str, rtype: &str, id: &str) -> Result<Option<FhirRecord>, StoreError> {
        self.backend.fhir_read(tenant, rtype, id)
    }

    /// Version `version` of FHIR resource `rtype/id`.
    pub fn fhir_vread(
        &self,
        tenant: &str,
        rtype: &str,
        id: &str,
        version: u64,
    ) -> Result<Option<FhirRecord>, StoreError> {
        self.backend.fhir_vread(tenant, rtype, id, version)
    }

    /// Every version of FHIR resource `rtype/id`, newest first.
    pub fn fhir_history(&self, tenant: &str, rtype: &str, id: &str) -> Result<Vec<FhirRecord>, StoreError> {
        self.backend.fhir_history(tenant, rtype, id)
    }

    /// Searches current FHIR resources: every hit, in the search's order, is offered to
    /// `gate` (the caller's decision); of those admitted, `limit` from `offset` are read.
    pub fn fhir_search(
        &self,
        tenant: &str,
        q: &FhirSearch,
        offset: usize,
        limit: usize,
        gate: &mut dyn FnMut(&FhirHit) -> bool,
    ) -> Result<FhirPage, StoreError> {
        self.backend.fhir_search(tenant, q, offset, limit, gate)
    }

    /// The current, not deleted FHIR resources of data subject `subject`.
    pub fn fhir_of_subject(&self, tenant: &str, subject: &str) -> Result<Vec<FhirRecord>, StoreError> {
        self.backend.fhir_of_subject(tenant, subject)
    }

    /// A state document of the FHIR layer.
    pub fn fhir_state(&self, tenant: &str, key: &str) -> Result<Option<serde_json::Value>, StoreError> {
        self.backend.fhir_state(tenant, key)
    }

    /// Finishes queued writes and closes the store; later calls fail with `Closed`.
    pub fn close(&self) {
        self.backend.close();
    }
}
