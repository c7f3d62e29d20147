//! Subscriptions and the outbox in SQLite.
//!
//! Subscriptions are stored as their JSON rendered with the core context alone (so their
//! expanded names survive a restart without any remote context) and kept parsed in an
//! in-memory cache per tenant, which the writer thread uses to decide notifications
//! inside each write transaction.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use kizuna_ngsild::subscription::Subscription;
use kizuna_ngsild::{Context, Entity};
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use crate::{Delivery, DeliveryStatus, OutboxItem, StoreError, StoredSubscription};

/// Parsed subscriptions per tenant.
pub(crate) type SubCache = Arc<RwLock<HashMap<String, TenantSubs>>>;

/// One tenant's subscriptions, indexed by the entity types they can select, so that a
/// write only looks at subscriptions that could fire for its entity.
#[derive(Default)]
pub(crate) struct TenantSubs {
    pub(crate) all: Vec<Arc<Subscription>>,
    /// Entity type → positions in `all` of subscriptions one of whose type conjunctions
    /// starts with it (an entity can only be selected if it has that type).
    by_type: HashMap<String, Vec<usize>>,
    /// Subscriptions without `entities` (watchedAttributes only): any type.
    any_type: Vec<usize>,
}

impl TenantSubs {
    fn new(all: Vec<Arc<Subscription>>) -> TenantSubs {
        let mut t = TenantSubs { all, ..Default::default() };
        for (i, sub) in t.all.iter().enumerate() {
            if sub.entities.is_empty() {
                t.any_type.push(i);
                continue;
            }
            for sel in &sub.entities {
                for conj in &sel.types.0 {
                    match conj.first() {
                        Some(first) => {
                            let v = t.by_type.entry(first.clone()).or_default();
                            if v.last() != Some(&i) {
                                v.push(i);
                            }
                        }
                        None => t.any_type.push(i),
                    }
                }
            }
        }
        t
    }

    /// The subscriptions that could select an entity with one of `types`.
    fn candidates(&self, types: &[&String]) -> Vec<Arc<Subscription>> {
        let mut idx: Vec<usize> = self.any_type.clone();
        for t in types {
            if let Some(v) = self.by_type.get(*t) {
                idx.extend_from_slice(v);
            }
        }
        idx.sort_unstable();
        idx.dedup();
        idx.into_iter().filter_map(|i| self.all.get(i).cloned()).collect()
    }
}

fn corrupt(id: &str, e: impl ToString) -> StoreError {
    StoreError::Corrupt { id: id.to_string(), reason: e.to_string() }
}

pub(crate) fn encode_sub(sub: &Subscription) -> Result<String, StoreError> {
    serde_json::to_string(&Value::Object(sub.to_storage_json())).map_err(|e| corrupt(&sub.id, e))
}

pub(crate) fn decode_sub(id: &str, doc: &str) -> Result<Subscription, StoreError> {
    let v: Value = serde_json::from_str(doc).map_err(|e| corrupt(id, e))?;
    Subscription::restore(&v, &Context::core(), id).map_err(|e| corrupt(id, e))
}

/// Loads every tenant's subscriptions.
pub(crate) fn load_all(conn: &Connection) -> Result<HashMap<String, TenantSubs>, StoreError> {
    let mut st = conn.prepare("SELECT tenant, id, doc FROM subscriptions ORDER BY tenant, id")?;
    let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))?;
    let mut out: HashMap<String, Vec<Arc<Subscription>>> = HashMap::new();
    for row in rows {
        let (tenant, id, doc) = row?;
        match decode_sub(&id, &doc) {
            Ok(s) => out.entry(tenant).or_default().push(Arc::new(s)),
            // One unreadable subscription must not stop the server; it is reported.
            Err(e) => tracing::error!(tenant = %tenant, subscription = %id, error = %e, "cannot load subscription"),
        }
    }
    Ok(out.into_iter().map(|(t, subs)| (t, TenantSubs::new(subs))).collect())
}

/// Reloads one tenant's subscriptions into the cache.
pub(crate) fn reload_tenant(conn: &Connection, cache: &SubCache, tenant: &str) -> Result<(), StoreError> {
    let mut st = conn.prepare_cached("SELECT id, doc FROM subscriptions WHERE tenant = ?1 ORDER BY id")?;
    let rows = st.query_map([tenant], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let mut subs = Vec::new();
    for row in rows {
        let (id, doc) = row?;
        subs.push(Arc::new(decode_sub(&id, &doc)?));
    }
    if let Ok(mut c) = cache.write() {
        c.insert(tenant.to_string(), TenantSubs::new(subs));
    }
    Ok(())
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Decides, inside the write transaction, which subscriptions of `tenant` the change
/// from `old` to `new` fires, and queues one notification for each. Returns how many.
pub(crate) fn fire(
    conn: &Connection,
    cache: &SubCache,
    tenant: &str,
    old: Option<&Entity>,
    new: Option<&Entity>,
) -> Result<usize, StoreError> {
    let subs: Vec<Arc<Subscription>> = match cache.read() {
        Ok(c) => match c.get(tenant) {
            Some(s) if !s.all.is_empty() => {
                let types: Vec<&String> = old.iter().chain(new.iter()).flat_map(|e| e.types.iter()).collect();
                s.candidates(&types)
            }
            _ => return Ok(0),
        },
        Err(_) => return Ok(0),
    };
    let now = now_ms();
    let mut n = 0;
    for sub in subs.iter() {
        if !sub.is_active || sub.time_interval.is_some() || sub.is_expired_at(now) {
            continue;
        }
        let Some(trigger) = sub.trigger(old, new) else { continue };
        let Some(subject) = new.or(old) else { continue };
        enqueue(conn, tenant, &sub.id, trigger.as_str(), std::slice::from_ref(subject), now)?;
        n += 1;
    }
    Ok(n)
}

pub(crate) fn enqueue(
    conn: &Connection,
    tenant: &str,
    sub_id: &str,
    trigger: &str,
    entities: &[Entity],
    now: i64,
) -> Result<(), StoreError> {
    let doc = serde_json::to_string(entities).map_err(|e| corrupt(sub_id, e))?;
    conn.prepare_cached("INSERT INTO outbox(tenant, sub_id, trigger, entity, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)")?
        .execute(params![tenant, sub_id, trigger, doc, now])?;
    Ok(())
}

pub(crate) fn insert(conn: &Connection, tenant: &str, sub: &Subscription) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached("INSERT OR IGNORE INTO subscriptions(tenant, id, doc) VALUES (?1, ?2, ?3)")?
        .execute(params![tenant, sub.id, encode_sub(sub)?])?;
    Ok(n > 0)
}

pub(crate) fn replace(conn: &Connection, tenant: &str, sub: &Subscription) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached("UPDATE subscriptions SET doc = ?3 WHERE tenant = ?1 AND id = ?2")?
        .execute(params![tenant, sub.id, encode_sub(sub)?])?;
    Ok(n > 0)
}

pub(crate) fn delete(conn: &Connection, tenant: &str, id: &str) -> Result<bool, StoreError> {
    let n =
        conn.prepare_cached("DELETE FROM subscriptions WHERE tenant = ?1 AND id = ?2")?.execute(params![tenant, id])?;
    conn.prepare_cached("DELETE FROM outbox WHERE tenant = ?1 AND sub_id = ?2")?.execute(params![tenant, id])?;
    Ok(n > 0)
}

pub(crate) fn get(conn: &Connection, tenant: &str, id: &str) -> Result<Option<Subscription>, StoreError> {
    let doc: Option<String> = conn
        .prepare_cached("SELECT doc FROM subscriptions WHERE tenant = ?1 AND id = ?2")?
        .query_row(params![tenant, id], |r| r.get(0))
        .optional()?;
    doc.map(|d| decode_sub(id, &d)).transpose()
}

const STATUS_COLUMNS: &str = "s.id, s.doc, s.times_sent, s.times_failed, s.consecutive_failures, s.last_notification,
     s.last_success, s.last_failure, s.last_failure_reason,
     (SELECT COUNT(*) FROM outbox o WHERE o.tenant = s.tenant AND o.sub_id = s.id)";

fn stored_from_row(r: &rusqlite::Row<'_>) -> Result<(String, String, DeliveryStatus, u64), rusqlite::Error> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        DeliveryStatus {
            times_sent: r.get::<_, i64>(2)? as u64,
            times_failed: r.get::<_, i64>(3)? as u64,
            consecutive_failures: r.get::<_, i64>(4)? as u64,
            last_notification: r.get(5)?,
            last_success: r.get(6)?,
            last_failure: r.get(7)?,
            last_failure_reason: r.get(8)?,
        },
        r.get::<_, i64>(9)? as u64,
    ))
}

pub(crate) fn read_one(conn: &Connection, tenant: &str, id: &str) -> Result<Option<StoredSubscription>, StoreError> {
    let sql = format!("SELECT {STATUS_COLUMNS} FROM subscriptions s WHERE s.tenant = ?1 AND s.id = ?2");
    let row = conn.prepare_cached(&sql)?.query_row(params![tenant, id], stored_from_row).optional()?;
    row.map(|(id, doc, status, pending)| {
        Ok(StoredSubscription { sub: Arc::new(decode_sub(&id, &doc)?), status, pending })
    })
    .transpose()
}

pub(crate) fn read_all(conn: &Connection, tenant: &str) -> Result<Vec<StoredSubscription>, StoreError> {
    let sql = format!("SELECT {STATUS_COLUMNS} FROM subscriptions s WHERE s.tenant = ?1 ORDER BY s.id");
    let mut st = conn.prepare_cached(&sql)?;
    let rows = st.query_map([tenant], stored_from_row)?;
    let mut out = Vec::new();
    for row in rows {
        let (id, doc, status, pending) = row?;
        out.push(StoredSubscription { sub: Arc::new(decode_sub(&id, &doc)?), status, pending });
    }
    Ok(out)
}

pub(crate) fn due(conn: &Connection, now: i64, limit: usize) -> Result<Vec<(String, String)>, StoreError> {
    // The head of each subscription's queue, if it is due.
    let mut st = conn.prepare_cached(
        "SELECT o.tenant, o.sub_id FROM outbox o
         WHERE o.seq = (SELECT MIN(seq) FROM outbox i WHERE i.tenant = o.tenant AND i.sub_id = o.sub_id)
           AND o.next_attempt_ms <= ?1
         ORDER BY o.seq LIMIT ?2",
    )?;
    let rows = st.query_map(params![now, limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn head(conn: &Connection, tenant: &str, sub_id: &str) -> Result<Option<OutboxItem>, StoreError> {
    let row: Option<(i64, String, String, i64, i64)> = conn
        .prepare_cached(
            "SELECT seq, trigger, entity, created_ms, attempts FROM outbox WHERE tenant = ?1 AND sub_id = ?2
             ORDER BY seq LIMIT 1",
        )?
        .query_row(params![tenant, sub_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .optional()?;
    row.map(|(seq, trigger, doc, created_ms, attempts)| {
        Ok(OutboxItem {
            seq,
            tenant: tenant.to_string(),
            sub_id: sub_id.to_string(),
            trigger,
            entities: serde_json::from_str(&doc).map_err(|e| corrupt(sub_id, e))?,
            created_ms,
            attempts: attempts as u32,
        })
    })
    .transpose()
}

pub(crate) fn record_delivery(
    conn: &Connection,
    tenant: &str,
    sub_id: &str,
    seq: i64,
    outcome: &Delivery,
    now: &str,
) -> Result<(), StoreError> {
    let (logged, reason) = match outcome {
        Delivery::Delivered => ("delivered", None),
        Delivery::Failed { reason, .. } => ("failed", Some(reason.as_str())),
        Delivery::Discard => ("discarded", Some("the subscription no longer exists")),
        Delivery::Dropped { reason } => ("discarded", Some(reason.as_str())),
    };
    super::receipts::log(conn, tenant, sub_id, seq, logged, reason, now)?;
    match outcome {
        Delivery::Delivered => {
            conn.prepare_cached("DELETE FROM outbox WHERE seq = ?1")?.execute([seq])?;
            conn.prepare_cached(
                "UPDATE subscriptions SET times_sent = times_sent + 1, consecutive_failures = 0,
                 last_notification = ?3, last_success = ?3 WHERE tenant = ?1 AND id = ?2",
            )?
            .execute(params![tenant, sub_id, now])?;
        }
        Delivery::Failed { reason, retry_at_ms } => {
            conn.prepare_cached("UPDATE outbox SET attempts = attempts + 1, next_attempt_ms = ?2 WHERE seq = ?1")?
                .execute(params![seq, retry_at_ms])?;
            conn.prepare_cached(
                "UPDATE subscriptions SET times_failed = times_failed + 1, consecutive_failures = consecutive_failures + 1,
                 last_notification = ?3, last_failure = ?3, last_failure_reason = ?4 WHERE tenant = ?1 AND id = ?2",
            )?
            .execute(params![tenant, sub_id, now, reason])?;
        }
        Delivery::Discard | Delivery::Dropped { .. } => {
            conn.prepare_cached("DELETE FROM outbox WHERE seq = ?1")?.execute([seq])?;
        }
    }
    Ok(())
}
