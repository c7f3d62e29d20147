//! The embedded SQLite backend.
//!
//! - One file, `kizuna.db`, in the data directory, in WAL mode with
//!   `synchronous=FULL`: a commit is on disk (fsync'd WAL) before any caller is told it
//!   succeeded. `NORMAL` would be faster per commit but may lose the last commits on
//!   power loss, which breaks "an acknowledged write is durable"; the cost of `FULL` is
//!   paid once per *group* of writes (see the writer below), not once per request.
//! - A single writer thread owns the write connection. It takes every job queued at
//!   the moment (up to [`MAX_GROUP`]), runs each inside its own savepoint of one
//!   transaction, commits once, and only then answers each caller.
//! - Readers use a small pool of read-only connections; WAL lets them run beside the
//!   writer.
//!
//! # Layout
//! - this file: opening, the writer thread, reads;
//! - `schema.rs`: versioned migrations;
//! - `plan.rs`: turning an [`EntityQuery`] into SQL (with `q` pushdown);
//! - `consent.rs`: the consent engine's records, the policy cache (dropped for a tenant
//!   after each commit that changed its policy records, before the writers are
//!   answered) and the audit chain with its verification.

mod consent;
mod fhir;
mod plan;
mod receipts;
mod schema;
mod subs;
mod temporal;

use std::path::Path;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;

use kizuna_ngsild::entity::AttrKind;
use kizuna_ngsild::Entity;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use serde_json::Value;

use crate::backend::{Backend, Completion, Job};
use crate::{
    AttributeInfo, AuditReport, Delivery, EntityQuery, OutboxItem, QueryResult, StoreError, StoredSubscription,
    TemporalEntity, TemporalFilter, Txn, TypeInfo,
};
use chrono::{DateTime, Utc};
use kizuna_consent::{
    ApiKeyRecord, AuditEntry, AuditRecord, ChainHead, Classification, ConsentRecord, Delegation, Party,
    ProvisionRecord, TenantPolicy, UsageStop,
};
use kizuna_ngsild::subscription::Subscription;
use kizuna_ngsild::Attribute;

/// Most write jobs grouped into one commit.
const MAX_GROUP: usize = 512;
/// Read connections kept open.
const READERS: usize = 4;

enum Msg {
    Write(String, Job),
    Close,
}

pub(crate) struct SqliteBackend {
    sender: Mutex<Option<SyncSender<Msg>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    readers: Mutex<Vec<Connection>>,
    path: std::path::PathBuf,
    tenants: Arc<RwLock<std::collections::HashSet<String>>>,
    subs: subs::SubCache,
    policies: consent::PolicyCache,
    listener: Listener,
}

/// Called after a commit that queued notifications.
type Listener = Arc<RwLock<Option<Arc<dyn Fn() + Send + Sync>>>>;

fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    conn.pragma_update(None, "cache_size", -32_000)?; // 32 MB page cache
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // The write path uses ~50 distinct statements (entities, history, subscriptions,
    // consent records, the audit chain); the default cache of 16 would re-prepare them
    // over and over.
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 96;

impl SqliteBackend {
    pub(crate) fn open(dir: &Path) -> Result<SqliteBackend, StoreError> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("kizuna.db");
        let mut conn = Connection::open(&path)?;
        configure(&conn)?;
        schema::migrate(&mut conn)?;
        let tenants: std::collections::HashSet<String> = {
            let mut st = conn.prepare("SELECT name FROM tenants")?;
            let rows = st.query_map([], |r| r.get::<_, String>(0))?;
            rows.collect::<Result<_, _>>()?
        };
        let tenants = Arc::new(RwLock::new(tenants));
        let cache: subs::SubCache = Arc::new(RwLock::new(subs::load_all(&conn)?));
        let listener: Listener = Arc::new(RwLock::new(None));
        let policies: consent::PolicyCache = Arc::default();
        let (tx, rx) = mpsc::sync_channel::<Msg>(4096);
        let shared = Shared {
            tenants: Arc::clone(&tenants),
            subs: Arc::clone(&cache),
            policies: Arc::clone(&policies),
            listener: Arc::clone(&listener),
        };
        let handle = std::thread::Builder::new()
            .name("kizuna-sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx, shared))?;
        Ok(SqliteBackend {
            sender: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(handle)),
            readers: Mutex::new(Vec::new()),
            path,
            tenants,
            subs: cache,
            policies,
            listener,
        })
    }

    /// Runs `f` with a pooled read connection.
    fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let pooled = self.readers.lock().map_err(|_| StoreError::Closed)?.pop();
        let conn = match pooled {
            Some(c) => c,
            None => {
                let c = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
                )?;
                c.busy_timeout(std::time::Duration::from_secs(10))?;
                c.pragma_update(None, "cache_size", -16_000)?;
                c.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
                c
            }
        };
        let out = f(&conn);
        if let Ok(mut pool) = self.readers.lock() {
            if pool.len() < READERS {
                pool.push(conn);
            }
        }
        out
    }
}

/// What the writer thread shares with readers.
struct Shared {
    tenants: Arc<RwLock<std::collections::HashSet<String>>>,
    subs: subs::SubCache,
    /// Cached tenant policies, dropped after commits that changed their records.
    policies: consent::PolicyCache,
    listener: Listener,
}

fn writer_loop(mut conn: Connection, rx: Receiver<Msg>, shared: Shared) {
    let mut closing = false;
    while !closing {
        let first = match rx.recv() {
            Ok(Msg::Write(t, j)) => (t, j),
            Ok(Msg::Close) | Err(_) => break,
        };
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(Msg::Write(t, j)) => group.push((t, j)),
                Ok(Msg::Close) => {
                    closing = true;
                    break;
                }
                Err(_) => break,
            }
        }
        run_group(&mut conn, group, &shared);
    }
    // Optimize statistics for the query planner on a clean shutdown.
    let _ = conn.execute_batch("PRAGMA optimize;");
    tracing::info!("sqlite store closed");
}

fn run_group(conn: &mut Connection, group: Vec<(String, Job)>, shared: &Shared) {
    let tenants = &shared.tenants;
    let mut completions: Vec<Completion> = Vec::with_capacity(group.len());
    let mut new_tenants: Vec<String> = Vec::new();
    let mut subs_changed: Vec<String> = Vec::new();
    // Tenants whose policy records a job wrote (kept even if the job rolled back:
    // dropping a cached policy is always safe).
    let mut policy_changed: Vec<String> = Vec::new();
    let mut enqueued = 0usize;
    let outcome = (|| -> Result<(), StoreError> {
        let tx = conn.transaction()?;
        for (tenant, job) in group {
            tx.execute_batch("SAVEPOINT job")?;
            let mut txn = SqliteTxn {
                conn: &tx,
                tenant: &tenant,
                wrote: false,
                subs: &shared.subs,
                enqueued: 0,
                subs_changed: false,
                policy_changed: false,
            };
            let (ok, complete) = job(&mut txn);
            let wrote = txn.wrote;
            if txn.policy_changed && !policy_changed.contains(&tenant) {
                policy_changed.push(tenant.clone());
            }
            if ok {
                enqueued += txn.enqueued;
                if txn.subs_changed {
                    subs_changed.push(tenant.clone());
                }
                tx.execute_batch("RELEASE job")?;
                if wrote && !tenants.read().map(|t| t.contains(&tenant)).unwrap_or(false) {
                    tx.execute("INSERT OR IGNORE INTO tenants(name) VALUES (?1)", [&tenant])?;
                    new_tenants.push(tenant);
                }
            } else {
                tx.execute_batch("ROLLBACK TO job; RELEASE job")?;
            }
            completions.push(complete);
        }
        tx.commit()?;
        Ok(())
    })();
    // Committed or not, the cached policies of the tenants whose records were written
    // are dropped before any writer is answered: the next read loads them afresh.
    consent::invalidate(&shared.policies, &policy_changed);
    match outcome {
        Ok(()) => {
            for t in subs_changed {
                if let Err(e) = subs::reload_tenant(conn, &shared.subs, &t) {
                    tracing::error!(tenant = %t, error = %e, "cannot reload subscriptions");
                }
            }
            if enqueued > 0 {
                if let Some(f) = shared.listener.read().ok().and_then(|l| l.clone()) {
                    f();
                }
            }
            if !new_tenants.is_empty() {
                if let Ok(mut t) = tenants.write() {
                    t.extend(new_tenants);
                }
            }
            for c in completions {
                c(Ok(()));
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "write transaction failed; every write in the group is reported failed");
            let msg = e.to_string();
            for c in completions {
                c(Err(StoreError::Sqlite(rusqlite::Error::InvalidParameterName(msg.clone()))));
            }
        }
    }
}

struct SqliteTxn<'a> {
    conn: &'a rusqlite::Transaction<'a>,
    tenant: &'a str,
    wrote: bool,
    subs: &'a subs::SubCache,
    /// Notifications queued by this job.
    enqueued: usize,
    /// Whether this job changed the tenant's subscriptions.
    subs_changed: bool,
    /// Whether this job wrote a record the tenant's policy is built from.
    policy_changed: bool,
}

fn decode(id: &str, doc: &str) -> Result<Entity, StoreError> {
    serde_json::from_str(doc).map_err(|e| StoreError::Corrupt { id: id.to_string(), reason: e.to_string() })
}

fn encode(e: &Entity) -> Result<String, StoreError> {
    serde_json::to_string(e).map_err(|err| StoreError::Corrupt { id: e.id.clone(), reason: err.to_string() })
}

fn kind_code(k: AttrKind) -> i64 {
    match k {
        AttrKind::Property => 0,
        AttrKind::Relationship => 1,
        AttrKind::GeoProperty => 2,
        AttrKind::LanguageProperty => 3,
        AttrKind::ListProperty => 4,
        AttrKind::ListRelationship => 5,
        AttrKind::JsonProperty => 6,
        AttrKind::VocabProperty => 7,
    }
}

fn kind_name(code: i64) -> &'static str {
    match code {
        0 => "Property",
        1 => "Relationship",
        2 => "GeoProperty",
        3 => "LanguageProperty",
        4 => "ListProperty",
        5 => "ListRelationship",
        6 => "JsonProperty",
        _ => "VocabProperty",
    }
}

/// The scalar values of an attribute instance the index holds, as (number, text).
/// The `q` evaluator compares against exactly these for the operators the planner
/// pushes down (see `plan.rs`).
fn index_values(kind: AttrKind, v: &Value, out: &mut Vec<(Option<f64>, Option<String>)>) {
    fn scalar(v: &Value, out: &mut Vec<(Option<f64>, Option<String>)>) {
        match v {
            Value::Number(n) => out.push((n.as_f64(), None)),
            Value::String(s) => out.push((None, Some(s.clone()))),
            // A JSON-LD typed literal ({"@type": "DateTime", "@value": ...}) compares by its value.
            Value::Object(o) => {
                if let Some(inner) = o.get("@value") {
                    scalar(inner, out);
                }
            }
            _ => {}
        }
    }
    match kind {
        AttrKind::GeoProperty => {}
        AttrKind::LanguageProperty => {
            if let Some(m) = v.as_object() {
                for s in m.values() {
                    match s {
                        Value::Array(a) => a.iter().for_each(|i| scalar(i, out)),
                        other => scalar(other, out),
                    }
                }
            }
        }
        _ => match v {
            Value::Array(items) => items.iter().for_each(|i| scalar(i, out)),
            other => scalar(other, out),
        },
    }
}

impl SqliteTxn<'_> {
    fn write_index(&mut self, rowid: i64, e: &Entity) -> Result<(), StoreError> {
        let mut st =
            self.conn.prepare_cached("INSERT INTO entity_types(tenant, type, id, entity) VALUES (?1, ?2, ?3, ?4)")?;
        for t in &e.types {
            st.execute(params![self.tenant, t, e.id, rowid])?;
        }
        let mut st = self.conn.prepare_cached(
            "INSERT INTO attr_index(entity, tenant, attr, kind, num, txt) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        let mut geo = self.conn.prepare_cached("INSERT INTO geo_index(entity, tenant, attr) VALUES (?1, ?2, ?3)")?;
        let mut rtree = self.conn.prepare_cached(
            "INSERT INTO geo_rtree(id, min_lon, max_lon, min_lat, max_lat) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for (name, instances) in &e.attrs {
            for inst in instances.iter().filter(|i| i.kind == AttrKind::GeoProperty) {
                if let Some(b) = kizuna_ngsild::geoquery::bbox_of(&inst.value) {
                    geo.execute(params![rowid, self.tenant, name])?;
                    let id = self.conn.last_insert_rowid();
                    rtree.execute(params![id, b.min_lon, b.max_lon, b.min_lat, b.max_lat])?;
                }
            }
        }
        let mut vals = Vec::new();
        for (name, instances) in &e.attrs {
            for inst in instances {
                vals.clear();
                index_values(inst.kind, &inst.value, &mut vals);
                let code = kind_code(inst.kind);
                if vals.is_empty() {
                    st.execute(params![rowid, self.tenant, name, code, None::<f64>, None::<String>])?;
                }
                for (n, t) in &vals {
                    st.execute(params![rowid, self.tenant, name, code, n, t])?;
                }
            }
        }
        Ok(())
    }

    fn clear_index(&mut self, rowid: i64) -> Result<(), StoreError> {
        self.conn.prepare_cached("DELETE FROM entity_types WHERE entity = ?1")?.execute([rowid])?;
        self.conn.prepare_cached("DELETE FROM attr_index WHERE entity = ?1")?.execute([rowid])?;
        self.conn
            .prepare_cached("DELETE FROM geo_rtree WHERE id IN (SELECT id FROM geo_index WHERE entity = ?1)")?
            .execute([rowid])?;
        self.conn.prepare_cached("DELETE FROM geo_index WHERE entity = ?1")?.execute([rowid])?;
        Ok(())
    }
}

impl Txn for SqliteTxn<'_> {
    fn get(&mut self, id: &str) -> Result<Option<Entity>, StoreError> {
        let doc: Option<String> = self
            .conn
            .prepare_cached("SELECT doc FROM entities WHERE tenant = ?1 AND id = ?2")?
            .query_row(params![self.tenant, id], |r| r.get(0))
            .optional()?;
        doc.map(|d| decode(id, &d)).transpose()
    }

    fn insert(&mut self, e: &Entity) -> Result<bool, StoreError> {
        let doc = encode(e)?;
        let n = self
            .conn
            .prepare_cached("INSERT OR IGNORE INTO entities(tenant, id, doc) VALUES (?1, ?2, ?3)")?
            .execute(params![self.tenant, e.id, doc])?;
        if n == 0 {
            return Ok(false);
        }
        let rowid = self.conn.last_insert_rowid();
        self.write_index(rowid, e)?;
        temporal::record_change(self.conn, self.tenant, None, e)?;
        self.enqueued += subs::fire(self.conn, self.subs, self.tenant, None, Some(e))?;
        self.wrote = true;
        Ok(true)
    }

    fn update(&mut self, e: &Entity) -> Result<bool, StoreError> {
        let Some((rowid, old)) = temporal::current(self.conn, self.tenant, &e.id)? else {
            return Ok(false);
        };
        let doc = encode(e)?;
        self.conn.prepare_cached("UPDATE entities SET doc = ?1 WHERE rowid = ?2")?.execute(params![doc, rowid])?;
        self.clear_index(rowid)?;
        self.write_index(rowid, e)?;
        temporal::record_change(self.conn, self.tenant, Some(&old), e)?;
        self.enqueued += subs::fire(self.conn, self.subs, self.tenant, Some(&old), Some(e))?;
        self.wrote = true;
        Ok(true)
    }

    fn delete(&mut self, id: &str) -> Result<bool, StoreError> {
        let Some((rowid, old)) = temporal::current(self.conn, self.tenant, id)? else {
            return Ok(false);
        };
        self.conn.prepare_cached("DELETE FROM entities WHERE rowid = ?1")?.execute([rowid])?;
        self.clear_index(rowid)?;
        self.enqueued += subs::fire(self.conn, self.subs, self.tenant, Some(&old), None)?;
        self.wrote = true;
        Ok(true)
    }

    fn append_history(&mut self, id: &str, types: &[String], attrs: &[(String, Attribute)]) -> Result<(), StoreError> {
        temporal::touch_entity(self.conn, self.tenant, id, types)?;
        for (name, a) in attrs {
            temporal::record(self.conn, self.tenant, id, name, a)?;
        }
        self.wrote = true;
        Ok(())
    }

    fn temporal_types(&mut self, id: &str) -> Result<Option<Vec<String>>, StoreError> {
        temporal::types_of(self.conn, self.tenant, id)
    }

    fn delete_history(&mut self, id: &str) -> Result<bool, StoreError> {
        temporal::delete_entity(self.conn, self.tenant, id)
    }

    fn delete_attr_history(
        &mut self,
        id: &str,
        attr: &str,
        dataset_id: Option<&str>,
        all: bool,
    ) -> Result<u64, StoreError> {
        temporal::delete_attr(self.conn, self.tenant, id, attr, dataset_id, all)
    }

    fn delete_instance(&mut self, id: &str, attr: &str, instance_id: &str) -> Result<bool, StoreError> {
        temporal::delete_instance(self.conn, self.tenant, id, attr, instance_id)
    }

    fn replace_instance(&mut self, id: &str, attr: &str, instance_id: &str, a: &Attribute) -> Result<bool, StoreError> {
        temporal::replace_instance(self.conn, self.tenant, id, attr, instance_id, a)
    }

    fn set_retention(&mut self, type_iri: &str, seconds: Option<u64>) -> Result<(), StoreError> {
        self.wrote = true;
        temporal::set_retention(self.conn, self.tenant, type_iri, seconds)
    }

    fn purge(&mut self, now_ms: i64) -> Result<Vec<(String, String, u64)>, StoreError> {
        temporal::purge(self.conn, now_ms)
    }

    fn insert_subscription(&mut self, sub: &Subscription) -> Result<bool, StoreError> {
        let ok = subs::insert(self.conn, self.tenant, sub)?;
        self.subs_changed |= ok;
        self.wrote |= ok;
        Ok(ok)
    }

    fn replace_subscription(&mut self, sub: &Subscription) -> Result<bool, StoreError> {
        let ok = subs::replace(self.conn, self.tenant, sub)?;
        self.subs_changed |= ok;
        Ok(ok)
    }

    fn delete_subscription(&mut self, id: &str) -> Result<bool, StoreError> {
        let ok = subs::delete(self.conn, self.tenant, id)?;
        self.subs_changed |= ok;
        Ok(ok)
    }

    fn get_subscription(&mut self, id: &str) -> Result<Option<Subscription>, StoreError> {
        subs::get(self.conn, self.tenant, id)
    }

    fn enqueue_notification(&mut self, sub_id: &str, trigger: &str, entities: &[Entity]) -> Result<(), StoreError> {
        subs::enqueue(self.conn, self.tenant, sub_id, trigger, entities, chrono::Utc::now().timestamp_millis())?;
        self.enqueued += 1;
        Ok(())
    }

    fn record_delivery(&mut self, sub_id: &str, seq: i64, outcome: &Delivery, now: &str) -> Result<(), StoreError> {
        subs::record_delivery(self.conn, self.tenant, sub_id, seq, outcome, now)
    }

    fn put_party(&mut self, p: &Party) -> Result<(), StoreError> {
        self.policy_changed = true;
        consent::put_party(self.conn, self.tenant, p)
    }

    fn delete_party(&mut self, id: &str) -> Result<bool, StoreError> {
        self.policy_changed = true;
        consent::delete_party(self.conn, self.tenant, id)
    }

    fn put_api_key(&mut self, k: &ApiKeyRecord) -> Result<bool, StoreError> {
        consent::put_api_key(self.conn, self.tenant, k)
    }

    fn revoke_api_key(&mut self, id: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        consent::revoke_api_key(self.conn, self.tenant, id, at)
    }

    fn set_classification(&mut self, c: &Classification) -> Result<(), StoreError> {
        self.policy_changed = true;
        consent::set_classification(self.conn, self.tenant, c)
    }

    fn put_consent(&mut self, c: &ConsentRecord) -> Result<(), StoreError> {
        self.policy_changed = true;
        consent::put_consent(self.conn, self.tenant, c)
    }

    fn put_delegation(&mut self, d: &Delegation) -> Result<(), StoreError> {
        self.policy_changed = true;
        consent::put_delegation(self.conn, self.tenant, d)
    }

    fn put_usage_stop(&mut self, s: &UsageStop) -> Result<(), StoreError> {
        self.policy_changed = true;
        consent::put_usage_stop(self.conn, self.tenant, s)
    }

    fn delete_usage_stop(&mut self, subject: &str, recipient: &str) -> Result<bool, StoreError> {
        self.policy_changed = true;
        consent::delete_usage_stop(self.conn, self.tenant, subject, recipient)
    }

    fn add_provisions(&mut self, p: &[ProvisionRecord]) -> Result<(), StoreError> {
        consent::add_provisions(self.conn, self.tenant, p)
    }

    fn append_audit(&mut self, entries: Vec<AuditEntry>) -> Result<Vec<AuditRecord>, StoreError> {
        consent::append_audit(self.conn, self.tenant, entries)
    }

    fn erase_subject_records(&mut self, subject: &str) -> Result<u64, StoreError> {
        consent::erase_subject(self.conn, self.tenant, subject)
    }

    fn put_guardianship(&mut self, g: &kizuna_consent::Guardianship) -> Result<(), StoreError> {
        self.policy_changed = true;
        consent::put_guardianship(self.conn, self.tenant, g)
    }

    fn fhir_current(&mut self, rtype: &str, id: &str) -> Result<Option<crate::FhirRecord>, StoreError> {
        fhir::current(self.conn, self.tenant, rtype, id)
    }

    fn fhir_put(&mut self, rec: &crate::FhirRecord, index: &[crate::FhirIndexRow]) -> Result<(), StoreError> {
        fhir::put(self.conn, self.tenant, rec, index)
    }

    fn fhir_search(
        &mut self,
        q: &crate::FhirSearch,
        offset: usize,
        limit: usize,
        gate: &mut dyn FnMut(&crate::FhirHit) -> bool,
    ) -> Result<crate::FhirPage, StoreError> {
        fhir::search(self.conn, self.tenant, q, offset, limit, gate)
    }

    fn fhir_erase_subject(&mut self, subject: &str) -> Result<Vec<String>, StoreError> {
        fhir::erase_subject(self.conn, self.tenant, subject)
    }

    fn fhir_state(&mut self, key: &str) -> Result<Option<Value>, StoreError> {
        fhir::state(self.conn, self.tenant, key)
    }

    fn set_fhir_state(&mut self, key: &str, doc: &Value) -> Result<(), StoreError> {
        fhir::set_state(self.conn, self.tenant, key, doc)
    }
}

impl Backend for SqliteBackend {
    fn submit(&self, tenant: String, job: Job) -> Result<(), StoreError> {
        let sender = self.sender.lock().map_err(|_| StoreError::Closed)?.clone().ok_or(StoreError::Closed)?;
        sender.send(Msg::Write(tenant, job)).map_err(|_| StoreError::Closed)
    }

    fn get(&self, tenant: &str, id: &str) -> Result<Option<Entity>, StoreError> {
        self.with_reader(|c| {
            let doc: Option<String> = c
                .prepare_cached("SELECT doc FROM entities WHERE tenant = ?1 AND id = ?2")?
                .query_row(params![tenant, id], |r| r.get(0))
                .optional()?;
            doc.map(|d| decode(id, &d)).transpose()
        })
    }

    fn query(&self, tenant: &str, q: &EntityQuery) -> Result<QueryResult, StoreError> {
        self.with_reader(|c| plan::run(c, tenant, q))
    }

    fn types(&self, tenant: &str) -> Result<Vec<TypeInfo>, StoreError> {
        self.with_reader(|c| {
            let mut out: Vec<TypeInfo> = Vec::new();
            let mut st = c.prepare_cached("SELECT type, COUNT(*) FROM entity_types WHERE tenant = ?1 GROUP BY type ORDER BY type")?;
            let rows = st.query_map([tenant], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
            for row in rows {
                let (type_iri, n) = row?;
                out.push(TypeInfo { type_iri, entity_count: n as u64, attributes: Vec::new() });
            }
            let mut st = c.prepare_cached(
                "SELECT a.attr, a.kind, COUNT(DISTINCT a.entity) FROM entity_types t JOIN attr_index a ON a.entity = t.entity
                 WHERE t.tenant = ?1 AND t.type = ?2 GROUP BY a.attr, a.kind ORDER BY a.attr",
            )?;
            for info in &mut out {
                let rows = st.query_map(params![tenant, info.type_iri], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
                })?;
                for row in rows {
                    let (attr, kind, n) = row?;
                    match info.attributes.last_mut() {
                        Some(last) if last.0 == attr => {
                            last.1.push(kind_name(kind).to_string());
                            last.2 = last.2.max(n as u64);
                        }
                        _ => info.attributes.push((attr, vec![kind_name(kind).to_string()], n as u64)),
                    }
                }
            }
            Ok(out)
        })
    }

    fn attributes(&self, tenant: &str) -> Result<Vec<AttributeInfo>, StoreError> {
        self.with_reader(|c| {
            let mut st = c.prepare_cached(
                "SELECT attr, group_concat(DISTINCT kind), COUNT(DISTINCT entity) FROM attr_index WHERE tenant = ?1
                 GROUP BY attr ORDER BY attr",
            )?;
            let rows =
                st.query_map([tenant], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)))?;
            let mut out = Vec::new();
            for row in rows {
                let (name, kinds, n) = row?;
                let kinds =
                    kinds.split(',').filter_map(|k| k.parse::<i64>().ok()).map(|k| kind_name(k).to_string()).collect();
                out.push(AttributeInfo { name, kinds, type_names: Vec::new(), entity_count: n as u64 });
            }
            let mut st = c.prepare_cached(
                "SELECT DISTINCT t.type FROM attr_index a JOIN entity_types t ON t.entity = a.entity
                 WHERE a.tenant = ?1 AND a.attr = ?2 ORDER BY t.type",
            )?;
            for info in &mut out {
                let rows = st.query_map(params![tenant, info.name], |r| r.get::<_, String>(0))?;
                info.type_names = rows.collect::<Result<_, _>>()?;
            }
            Ok(out)
        })
    }

    fn tenant_exists(&self, tenant: &str) -> Result<bool, StoreError> {
        Ok(self.tenants.read().map_err(|_| StoreError::Closed)?.contains(tenant))
    }

    fn count(&self, tenant: &str) -> Result<u64, StoreError> {
        self.with_reader(|c| {
            let n: i64 = c.query_row("SELECT COUNT(*) FROM entities WHERE tenant = ?1", [tenant], |r| r.get(0))?;
            Ok(n as u64)
        })
    }

    fn temporal_entity(
        &self,
        tenant: &str,
        id: &str,
        f: &TemporalFilter,
    ) -> Result<Option<TemporalEntity>, StoreError> {
        self.with_reader(|c| temporal::read_entity(c, tenant, id, f))
    }

    fn temporal_query(
        &self,
        tenant: &str,
        q: &EntityQuery,
        f: &TemporalFilter,
    ) -> Result<(Vec<TemporalEntity>, Option<u64>), StoreError> {
        self.with_reader(|c| {
            let mut page = Vec::new();
            let mut matched = 0usize;
            let want = q.offset.saturating_add(q.limit);
            for (id, _) in temporal::candidate_ids(c, tenant, q)? {
                let Some(mut te) = temporal::read_entity(c, tenant, &id, f)? else { continue };
                // The gate sees the temporal entity; attrs, q and geo are then judged over
                // the released instances in the window.
                if let Some(g) = &q.gate {
                    let Some(released) = g.release(te.decision_view()) else { continue };
                    te.restrict_to(&released);
                }
                if !q.content_matches(&te.entity) {
                    continue;
                }
                matched += 1;
                if matched > q.offset && matched <= want {
                    page.push(te);
                }
                if !q.count && matched >= want {
                    break;
                }
            }
            Ok((page, q.count.then_some(matched as u64)))
        })
    }

    fn retention(&self, tenant: &str) -> Result<Vec<(String, u64)>, StoreError> {
        self.with_reader(|c| temporal::retention(c, tenant))
    }

    fn subscription(&self, tenant: &str, id: &str) -> Result<Option<StoredSubscription>, StoreError> {
        self.with_reader(|c| subs::read_one(c, tenant, id))
    }

    fn subscriptions(&self, tenant: &str) -> Result<Vec<StoredSubscription>, StoreError> {
        self.with_reader(|c| subs::read_all(c, tenant))
    }

    fn periodic_subscriptions(&self) -> Result<Vec<(String, Arc<Subscription>)>, StoreError> {
        let cache = self.subs.read().map_err(|_| StoreError::Closed)?;
        Ok(cache
            .iter()
            .flat_map(|(t, subs)| {
                subs.all.iter().filter(|s| s.time_interval.is_some()).map(move |s| (t.clone(), s.clone()))
            })
            .collect())
    }

    fn outbox_due(&self, now_ms: i64, limit: usize) -> Result<Vec<(String, String)>, StoreError> {
        self.with_reader(|c| subs::due(c, now_ms, limit))
    }

    fn receipts(&self, tenant: &str, entity_id: &str) -> Result<Vec<crate::Receipt>, StoreError> {
        self.with_reader(|c| receipts::read(c, tenant, entity_id))
    }

    fn outbox_head(&self, tenant: &str, sub_id: &str) -> Result<Option<OutboxItem>, StoreError> {
        self.with_reader(|c| subs::head(c, tenant, sub_id))
    }

    fn set_outbox_listener(&self, f: Arc<dyn Fn() + Send + Sync>) {
        if let Ok(mut l) = self.listener.write() {
            *l = Some(f);
        }
    }

    fn policy(&self, tenant: &str) -> Result<Arc<TenantPolicy>, StoreError> {
        match consent::cached(&self.policies, tenant) {
            (Some(p), _) => Ok(p),
            (None, generation) => self.with_reader(|c| consent::load(c, &self.policies, tenant, generation)),
        }
    }

    fn party(&self, tenant: &str, id: &str) -> Result<Option<Party>, StoreError> {
        self.with_reader(|c| consent::party(c, tenant, id))
    }

    fn parties(&self, tenant: &str) -> Result<Vec<Party>, StoreError> {
        self.with_reader(|c| consent::parties(c, tenant))
    }

    fn api_key(&self, id: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.with_reader(|c| consent::api_key(c, id))
    }

    fn api_keys(&self, tenant: &str) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.with_reader(|c| consent::api_keys(c, tenant))
    }

    fn classification(&self, tenant: &str) -> Result<Classification, StoreError> {
        self.with_reader(|c| consent::classification(c, tenant))
    }

    fn consents_of(&self, tenant: &str, subject: &str) -> Result<Vec<ConsentRecord>, StoreError> {
        self.with_reader(|c| consent::consents_of(c, tenant, subject))
    }

    fn consent(&self, tenant: &str, id: &str) -> Result<Option<ConsentRecord>, StoreError> {
        self.with_reader(|c| consent::consent(c, tenant, id))
    }

    fn consents_by_recipient(&self, tenant: &str, recipient: &str) -> Result<Vec<ConsentRecord>, StoreError> {
        self.with_reader(|c| consent::consents_by_recipient(c, tenant, recipient))
    }

    fn delegations_of(&self, tenant: &str, subject: &str) -> Result<Vec<Delegation>, StoreError> {
        self.with_reader(|c| consent::delegations_of(c, tenant, subject))
    }

    fn delegation(&self, tenant: &str, id: &str) -> Result<Option<Delegation>, StoreError> {
        self.with_reader(|c| consent::delegation(c, tenant, id))
    }

    fn usage_stops_of(&self, tenant: &str, subject: &str) -> Result<Vec<UsageStop>, StoreError> {
        self.with_reader(|c| consent::usage_stops_of(c, tenant, subject))
    }

    fn provisions_of(
        &self,
        tenant: &str,
        subject: &str,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<(i64, ProvisionRecord)>, StoreError> {
        self.with_reader(|c| consent::provisions_of(c, tenant, subject, after_seq, limit))
    }

    fn audit_of_subject(
        &self,
        tenant: &str,
        subject: &str,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        self.with_reader(|c| consent::audit_of_subject(c, tenant, subject, after_seq, limit))
    }

    fn audit_page(&self, tenant: &str, after_seq: u64, limit: usize) -> Result<Vec<AuditRecord>, StoreError> {
        self.with_reader(|c| consent::audit_page(c, tenant, after_seq, limit))
    }

    fn audit_tenants(&self) -> Result<Vec<String>, StoreError> {
        self.with_reader(consent::audit_tenants)
    }

    fn audit_heads(&self) -> Result<Vec<ChainHead>, StoreError> {
        self.with_reader(consent::audit_heads)
    }

    fn verify_audit(&self) -> Result<AuditReport, StoreError> {
        self.with_reader(consent::verify)
    }

    fn guardianships_of(&self, tenant: &str, subject: &str) -> Result<Vec<kizuna_consent::Guardianship>, StoreError> {
        self.with_reader(|c| consent::guardianships_of(c, tenant, subject))
    }

    fn fhir_read(&self, tenant: &str, rtype: &str, id: &str) -> Result<Option<crate::FhirRecord>, StoreError> {
        self.with_reader(|c| fhir::current(c, tenant, rtype, id))
    }

    fn fhir_vread(&self, tenant: &str, rtype: &str, id: &str, v: u64) -> Result<Option<crate::FhirRecord>, StoreError> {
        self.with_reader(|c| fhir::version(c, tenant, rtype, id, v))
    }

    fn fhir_history(&self, tenant: &str, rtype: &str, id: &str) -> Result<Vec<crate::FhirRecord>, StoreError> {
        self.with_reader(|c| fhir::history(c, tenant, rtype, id))
    }

    fn fhir_search(
        &self,
        tenant: &str,
        q: &crate::FhirSearch,
        offset: usize,
        limit: usize,
        gate: &mut dyn FnMut(&crate::FhirHit) -> bool,
    ) -> Result<crate::FhirPage, StoreError> {
        self.with_reader(|c| fhir::search(c, tenant, q, offset, limit, gate))
    }

    fn fhir_of_subject(&self, tenant: &str, subject: &str) -> Result<Vec<crate::FhirRecord>, StoreError> {
        self.with_reader(|c| fhir::of_subject(c, tenant, subject))
    }

    fn fhir_state(&self, tenant: &str, key: &str) -> Result<Option<Value>, StoreError> {
        self.with_reader(|c| fhir::state(c, tenant, key))
    }

    fn close(&self) {
        let sender = self.sender.lock().ok().and_then(|mut s| s.take());
        if let Some(s) = sender {
            let _ = s.send(Msg::Close);
        }
        let handle = self.writer.lock().ok().and_then(|mut h| h.take());
        if let Some(h) = handle {
            let _ = h.join();
        }
        if let Ok(mut pool) = self.readers.lock() {
            pool.clear();
        }
    }
}

impl Drop for SqliteBackend {
    fn drop(&mut self) {
        self.close();
    }
}
