//! The consent engine's records, the per-tenant policy cache and the audit chain in SQLite.
//!
//! Every record is stored as its serde JSON (`doc`) beside the columns its lookups need
//! (schema migration 6). Write helpers run on the writer's transaction; read helpers on
//! a pooled read connection.
//!
//! # Layout
//! - the policy cache: [`PolicyCache`], [`invalidate`] (called by the writer after a
//!   commit, before answering), [`cached`] and, on a miss, [`load`] (a [`TenantPolicy`]
//!   read in one snapshot);
//! - writes: parties, API keys, the classification, consents, delegations, usage stops,
//!   provisions, [`append_audit`] (links entries after the head in `audit_heads` and
//!   moves it) and [`erase_subject`];
//! - reads of each record kind, audit pages, tenants and heads;
//! - [`verify`]: every chain, chunk by chunk, against its head.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use chrono::{DateTime, Utc};
use kizuna_consent::{
    chain, ApiKeyRecord, AuditEntry, AuditRecord, ChainError, ChainFault, ChainHead, Classification, ConsentRecord,
    Delegation, Guardianship, Party, ProvisionRecord, TenantPolicy, UsageStop, GENESIS_HASH,
};
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, Connection, OptionalExtension};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{AuditReport, StoreError};

/// Audit records read per query by [`verify`].
const VERIFY_CHUNK: i64 = 2_000;

/// The cached policy of each tenant.
pub(crate) type PolicyCache = Arc<RwLock<Policies>>;

/// Cached policies, and a generation that tells a load whether a write committed while
/// it was reading.
#[derive(Default)]
pub(crate) struct Policies {
    /// Bumped, under the write lock, each time entries are dropped after a commit. A load
    /// that read the generation before the bump may have read the records as they were
    /// before that commit, so it does not store its result.
    generation: u64,
    by_tenant: HashMap<String, Arc<TenantPolicy>>,
}

/// Drops the cached policies of `tenants` (after their records changed, or may have).
/// Always succeeds: a poisoned lock is recovered, since dropping entries is safe.
pub(crate) fn invalidate(cache: &PolicyCache, tenants: &[String]) {
    if tenants.is_empty() {
        return;
    }
    let mut c = cache.write().unwrap_or_else(PoisonError::into_inner);
    c.generation = c.generation.wrapping_add(1);
    for t in tenants {
        c.by_tenant.remove(t);
    }
}

/// The cached policy of `tenant` if there is one, and the cache's generation (to pass
/// to [`load`] on a miss).
pub(crate) fn cached(cache: &PolicyCache, tenant: &str) -> (Option<Arc<TenantPolicy>>, u64) {
    let c = cache.read().unwrap_or_else(PoisonError::into_inner);
    (c.by_tenant.get(tenant).cloned(), c.generation)
}

/// Loads the policy of `tenant` from `conn` and caches it unless a commit invalidated
/// policies since [`cached`] returned `generation`. The generation is read before the
/// read snapshot starts: if a commit's invalidation comes after that point, this load
/// may predate the commit and is not cached; if it came before, the snapshot holds it.
pub(crate) fn load(
    conn: &Connection,
    cache: &PolicyCache,
    tenant: &str,
    generation: u64,
) -> Result<Arc<TenantPolicy>, StoreError> {
    let loaded = Arc::new(load_policy(conn, tenant)?);
    let mut c = cache.write().unwrap_or_else(PoisonError::into_inner);
    if c.generation == generation {
        c.by_tenant.insert(tenant.to_string(), Arc::clone(&loaded));
    }
    Ok(loaded)
}

/// Reads everything a tenant's policy is built from, in one read snapshot.
fn load_policy(conn: &Connection, tenant: &str) -> Result<TenantPolicy, StoreError> {
    let tx = conn.unchecked_transaction()?;
    let classification = classification(&tx, tenant)?;
    let parties = parties(&tx, tenant)?;
    let consents = docs(&tx, "consent", "SELECT doc FROM consents WHERE tenant = ?1 ORDER BY id", params![tenant])?;
    let delegations =
        docs(&tx, "delegation", "SELECT doc FROM delegations WHERE tenant = ?1 ORDER BY id", params![tenant])?;
    let stops = docs(
        &tx,
        "usage stop",
        "SELECT doc FROM usage_stops WHERE tenant = ?1 ORDER BY subject, recipient",
        params![tenant],
    )?;
    let guardianships =
        docs(&tx, "guardianship", "SELECT doc FROM guardianships WHERE tenant = ?1 ORDER BY id", params![tenant])?;
    tx.finish()?;
    Ok(TenantPolicy::new(tenant, classification, parties, consents, delegations, stops)
        .with_guardianships(guardianships))
}

fn corrupt(what: &str, e: impl ToString) -> StoreError {
    StoreError::Corrupt { id: what.to_string(), reason: e.to_string() }
}

fn encode<T: Serialize>(what: &str, v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| corrupt(what, e))
}

fn decode<T: DeserializeOwned>(what: &str, doc: &str) -> Result<T, StoreError> {
    serde_json::from_str(doc).map_err(|e| corrupt(what, e))
}

/// Every `doc` a query returns, decoded (`what` names the records in errors).
fn docs<T: DeserializeOwned>(
    conn: &Connection,
    what: &str,
    sql: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<T>, StoreError> {
    let mut st = conn.prepare_cached(sql)?;
    let rows = st.query_map(args, |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for row in rows {
        out.push(decode(what, &row?)?);
    }
    Ok(out)
}

/// The `doc` of the one row a query returns, decoded (`what` names the record in errors).
fn doc<T: DeserializeOwned>(
    conn: &Connection,
    what: &str,
    sql: &str,
    args: impl rusqlite::Params,
) -> Result<Option<T>, StoreError> {
    let d: Option<String> = conn.prepare_cached(sql)?.query_row(args, |r| r.get(0)).optional()?;
    d.map(|d| decode(what, &d)).transpose()
}

/// Fails unless a record's tenant (controller) is the transaction's.
fn same_tenant(what: &str, record_tenant: &str, tenant: &str) -> Result<(), StoreError> {
    if record_tenant == tenant {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!("{what} of tenant '{record_tenant}' written in tenant '{tenant}'")))
    }
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn limit_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

// ---------------------------------------------------------------- writes

pub(crate) fn put_party(conn: &Connection, tenant: &str, p: &Party) -> Result<(), StoreError> {
    conn.prepare_cached("INSERT OR REPLACE INTO parties(tenant, id, doc) VALUES (?1, ?2, ?3)")?.execute(params![
        tenant,
        p.id,
        encode(&p.id, p)?
    ])?;
    Ok(())
}

pub(crate) fn delete_party(conn: &Connection, tenant: &str, id: &str) -> Result<bool, StoreError> {
    let n = conn.prepare_cached("DELETE FROM parties WHERE tenant = ?1 AND id = ?2")?.execute(params![tenant, id])?;
    Ok(n > 0)
}

pub(crate) fn put_api_key(conn: &Connection, tenant: &str, k: &ApiKeyRecord) -> Result<bool, StoreError> {
    same_tenant("API key", &k.tenant, tenant)?;
    let n = conn
        .prepare_cached("INSERT OR IGNORE INTO api_keys(id, tenant, party, doc) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![k.id, tenant, k.party, encode(&k.id, k)?])?;
    Ok(n > 0)
}

pub(crate) fn revoke_api_key(conn: &Connection, tenant: &str, id: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
    let Some(mut k) =
        doc::<ApiKeyRecord>(conn, id, "SELECT doc FROM api_keys WHERE id = ?1 AND tenant = ?2", params![id, tenant])?
    else {
        return Ok(false);
    };
    if k.revoked_at.is_some() {
        return Ok(false);
    }
    k.revoked_at = Some(at);
    conn.prepare_cached("UPDATE api_keys SET doc = ?2 WHERE id = ?1")?.execute(params![id, encode(id, &k)?])?;
    Ok(true)
}

pub(crate) fn set_classification(conn: &Connection, tenant: &str, c: &Classification) -> Result<(), StoreError> {
    conn.prepare_cached("INSERT OR REPLACE INTO classifications(tenant, doc) VALUES (?1, ?2)")?
        .execute(params![tenant, encode(tenant, c)?])?;
    Ok(())
}

pub(crate) fn put_consent(conn: &Connection, tenant: &str, c: &ConsentRecord) -> Result<(), StoreError> {
    same_tenant("consent", &c.controller, tenant)?;
    conn.prepare_cached(
        "INSERT OR REPLACE INTO consents(tenant, id, subject, recipient, doc) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![tenant, c.id, c.subject, c.recipient, encode(&c.id, c)?])?;
    Ok(())
}

pub(crate) fn put_delegation(conn: &Connection, tenant: &str, d: &Delegation) -> Result<(), StoreError> {
    same_tenant("delegation", &d.controller, tenant)?;
    conn.prepare_cached("INSERT OR REPLACE INTO delegations(tenant, id, subject, doc) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![tenant, d.id, d.subject, encode(&d.id, d)?])?;
    Ok(())
}

pub(crate) fn put_usage_stop(conn: &Connection, tenant: &str, s: &UsageStop) -> Result<(), StoreError> {
    same_tenant("usage stop", &s.controller, tenant)?;
    conn.prepare_cached("INSERT OR REPLACE INTO usage_stops(tenant, subject, recipient, doc) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![tenant, s.subject, s.recipient, encode(&s.subject, s)?])?;
    Ok(())
}

pub(crate) fn put_guardianship(conn: &Connection, tenant: &str, g: &Guardianship) -> Result<(), StoreError> {
    same_tenant("guardianship", &g.controller, tenant)?;
    conn.prepare_cached(
        "INSERT OR REPLACE INTO guardianships(tenant, id, guardian, ward, doc) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![tenant, g.id, g.guardian, g.ward, encode(&g.id, g)?])?;
    Ok(())
}

/// The guardianships where `subject` is the guardian or the ward, by id.
pub(crate) fn guardianships_of(
    conn: &Connection,
    tenant: &str,
    subject: &str,
) -> Result<Vec<Guardianship>, StoreError> {
    docs(
        conn,
        "guardianship",
        "SELECT doc FROM guardianships WHERE tenant = ?1 AND (guardian = ?2 OR ward = ?2) ORDER BY id",
        params![tenant, subject],
    )
}

pub(crate) fn delete_usage_stop(
    conn: &Connection,
    tenant: &str,
    subject: &str,
    recipient: &str,
) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached("DELETE FROM usage_stops WHERE tenant = ?1 AND subject = ?2 AND recipient = ?3")?
        .execute(params![tenant, subject, recipient])?;
    Ok(n > 0)
}

pub(crate) fn add_provisions(conn: &Connection, tenant: &str, p: &[ProvisionRecord]) -> Result<(), StoreError> {
    for r in p {
        same_tenant("provision record", &r.controller, tenant)?;
    }
    let mut st =
        conn.prepare_cached("INSERT INTO provisions(tenant, subject, recipient, doc) VALUES (?1, ?2, ?3, ?4)")?;
    for r in p {
        st.execute(params![tenant, r.subject, r.recipient, encode(&r.resource, r)?])?;
    }
    Ok(())
}

/// The head of `tenant`'s chain as stored (genesis if it has none).
fn stored_head(conn: &Connection, tenant: &str) -> Result<ChainHead, StoreError> {
    let row: Option<(i64, String)> = conn
        .prepare_cached("SELECT seq, hash FROM audit_heads WHERE tenant = ?1")?
        .query_row([tenant], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(match row {
        Some((seq, hash)) => ChainHead {
            tenant: tenant.to_string(),
            seq: u64::try_from(seq).map_err(|_| corrupt("audit_heads", format!("negative seq {seq}")))?,
            hash,
        },
        None => ChainHead::genesis(tenant),
    })
}

pub(crate) fn append_audit(
    conn: &Connection,
    tenant: &str,
    entries: Vec<AuditEntry>,
) -> Result<Vec<AuditRecord>, StoreError> {
    // Checked before anything is written, so a refused batch leaves no record behind.
    for e in &entries {
        same_tenant("audit entry", &e.tenant, tenant)?;
    }
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let mut head = stored_head(conn, tenant)?;
    let mut st = conn.prepare_cached(
        "INSERT INTO audit_log(tenant, seq, at, actor, subject, resource, doc, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        let rec = head.append(e).map_err(|m| StoreError::Invalid(m.to_string()))?;
        let d = encode("audit record", &rec)?;
        st.execute(params![tenant, to_i64(rec.seq), rec.at, rec.actor, rec.subject, rec.resource, d, rec.hash])?;
        out.push(rec);
    }
    conn.prepare_cached(
        "INSERT INTO audit_heads(tenant, seq, hash) VALUES (?1, ?2, ?3)
         ON CONFLICT(tenant) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
    )?
    .execute(params![tenant, to_i64(head.seq), head.hash])?;
    Ok(out)
}

pub(crate) fn erase_subject(conn: &Connection, tenant: &str, subject: &str) -> Result<u64, StoreError> {
    let n = conn
        .prepare_cached("DELETE FROM provisions WHERE tenant = ?1 AND subject = ?2")?
        .execute(params![tenant, subject])?;
    Ok(n as u64)
}

// ---------------------------------------------------------------- reads

pub(crate) fn party(conn: &Connection, tenant: &str, id: &str) -> Result<Option<Party>, StoreError> {
    doc(conn, id, "SELECT doc FROM parties WHERE tenant = ?1 AND id = ?2", params![tenant, id])
}

pub(crate) fn parties(conn: &Connection, tenant: &str) -> Result<Vec<Party>, StoreError> {
    docs(conn, "party", "SELECT doc FROM parties WHERE tenant = ?1 ORDER BY id", params![tenant])
}

pub(crate) fn api_key(conn: &Connection, id: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
    doc(conn, id, "SELECT doc FROM api_keys WHERE id = ?1", params![id])
}

pub(crate) fn api_keys(conn: &Connection, tenant: &str) -> Result<Vec<ApiKeyRecord>, StoreError> {
    docs(conn, "API key", "SELECT doc FROM api_keys WHERE tenant = ?1 ORDER BY id", params![tenant])
}

pub(crate) fn classification(conn: &Connection, tenant: &str) -> Result<Classification, StoreError> {
    Ok(doc(conn, tenant, "SELECT doc FROM classifications WHERE tenant = ?1", params![tenant])?.unwrap_or_default())
}

pub(crate) fn consents_of(conn: &Connection, tenant: &str, subject: &str) -> Result<Vec<ConsentRecord>, StoreError> {
    docs(
        conn,
        "consent",
        "SELECT doc FROM consents WHERE tenant = ?1 AND subject = ?2 ORDER BY id",
        params![tenant, subject],
    )
}

pub(crate) fn consent(conn: &Connection, tenant: &str, id: &str) -> Result<Option<ConsentRecord>, StoreError> {
    doc(conn, id, "SELECT doc FROM consents WHERE tenant = ?1 AND id = ?2", params![tenant, id])
}

pub(crate) fn consents_by_recipient(
    conn: &Connection,
    tenant: &str,
    recipient: &str,
) -> Result<Vec<ConsentRecord>, StoreError> {
    docs(
        conn,
        "consent",
        "SELECT doc FROM consents WHERE tenant = ?1 AND recipient = ?2 ORDER BY id",
        params![tenant, recipient],
    )
}

pub(crate) fn delegations_of(conn: &Connection, tenant: &str, subject: &str) -> Result<Vec<Delegation>, StoreError> {
    docs(
        conn,
        "delegation",
        "SELECT doc FROM delegations WHERE tenant = ?1 AND subject = ?2 ORDER BY id",
        params![tenant, subject],
    )
}

pub(crate) fn delegation(conn: &Connection, tenant: &str, id: &str) -> Result<Option<Delegation>, StoreError> {
    doc(conn, id, "SELECT doc FROM delegations WHERE tenant = ?1 AND id = ?2", params![tenant, id])
}

pub(crate) fn usage_stops_of(conn: &Connection, tenant: &str, subject: &str) -> Result<Vec<UsageStop>, StoreError> {
    docs(
        conn,
        "usage stop",
        "SELECT doc FROM usage_stops WHERE tenant = ?1 AND subject = ?2 ORDER BY recipient",
        params![tenant, subject],
    )
}

pub(crate) fn provisions_of(
    conn: &Connection,
    tenant: &str,
    subject: &str,
    after_seq: i64,
    limit: usize,
) -> Result<Vec<(i64, ProvisionRecord)>, StoreError> {
    let mut st = conn.prepare_cached(
        "SELECT seq, doc FROM provisions WHERE tenant = ?1 AND subject = ?2 AND seq > ?3 ORDER BY seq LIMIT ?4",
    )?;
    let rows = st.query_map(params![tenant, subject, after_seq, limit_i64(limit)], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (seq, d) = row?;
        out.push((seq, decode("provision record", &d)?));
    }
    Ok(out)
}

pub(crate) fn audit_of_subject(
    conn: &Connection,
    tenant: &str,
    subject: &str,
    after_seq: u64,
    limit: usize,
) -> Result<Vec<AuditRecord>, StoreError> {
    docs(
        conn,
        "audit record",
        "SELECT doc FROM audit_log WHERE tenant = ?1 AND subject = ?2 AND seq > ?3 ORDER BY seq LIMIT ?4",
        params![tenant, subject, to_i64(after_seq), limit_i64(limit)],
    )
}

pub(crate) fn audit_page(
    conn: &Connection,
    tenant: &str,
    after_seq: u64,
    limit: usize,
) -> Result<Vec<AuditRecord>, StoreError> {
    docs(
        conn,
        "audit record",
        "SELECT doc FROM audit_log WHERE tenant = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
        params![tenant, to_i64(after_seq), limit_i64(limit)],
    )
}

pub(crate) fn audit_tenants(conn: &Connection) -> Result<Vec<String>, StoreError> {
    // Distinct tenants of the log by skipping along its primary key (one seek per
    // tenant, not a scan of every record), with those that only have a head.
    let mut st = conn.prepare_cached(
        "WITH RECURSIVE t(name) AS (
             SELECT MIN(tenant) FROM audit_log
             UNION ALL
             SELECT (SELECT MIN(tenant) FROM audit_log WHERE tenant > t.name) FROM t WHERE t.name IS NOT NULL
         )
         SELECT name FROM t WHERE name IS NOT NULL
         UNION SELECT tenant FROM audit_heads
         ORDER BY 1",
    )?;
    let rows = st.query_map([], |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn audit_heads(conn: &Connection) -> Result<Vec<ChainHead>, StoreError> {
    let mut st = conn.prepare_cached("SELECT tenant, seq, hash FROM audit_heads ORDER BY tenant")?;
    let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (tenant, seq, hash) = row?;
        let seq = u64::try_from(seq).map_err(|_| corrupt("audit_heads", format!("negative seq {seq}")))?;
        out.push(ChainHead { tenant, seq, hash });
    }
    Ok(out)
}

// ---------------------------------------------------------------- verification

/// Verifies every tenant's chain against its head, in one read snapshot (see
/// [`crate::Store::verify_audit`] for the checks and how faults are reported).
pub(crate) fn verify(conn: &Connection) -> Result<AuditReport, StoreError> {
    let tx = conn.unchecked_transaction()?;
    let heads: HashMap<String, (i64, String)> = {
        let mut st = tx.prepare_cached("SELECT tenant, seq, hash FROM audit_heads")?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, (r.get::<_, i64>(1)?, r.get::<_, String>(2)?))))?;
        rows.collect::<Result<_, _>>()?
    };
    let mut report = AuditReport { tenants: Vec::new(), fault: None };
    for tenant in audit_tenants(&tx)? {
        match verify_tenant(&tx, &tenant, heads.get(&tenant))? {
            Ok((records, hash)) => report.tenants.push((tenant, records, hash)),
            Err(fault) => {
                report.fault = Some(fault);
                break;
            }
        }
    }
    tx.finish()?;
    Ok(report)
}

/// Walks one tenant's chain in `seq` order, [`VERIFY_CHUNK`] rows per query, carrying
/// the previous record's `seq` and `hash`; then compares its end with `head`. Returns the
/// number of records and the last hash, or the first fault.
fn verify_tenant(
    conn: &Connection,
    tenant: &str,
    head: Option<&(i64, String)>,
) -> Result<Result<(u64, String), ChainError>, StoreError> {
    let fault =
        |seq: u64, index: usize, reason: ChainFault| ChainError { tenant: tenant.to_string(), seq, index, reason };
    let mut st = conn
        .prepare_cached("SELECT seq, doc, hash FROM audit_log WHERE tenant = ?1 AND seq >= ?2 ORDER BY seq LIMIT ?3")?;
    let mut last_seq: u64 = 0;
    let mut last_hash = GENESIS_HASH.to_string();
    let mut index: usize = 0;
    // The lower bound of the next chunk, by the `seq` column (the first one takes all).
    let mut from = Some(i64::MIN);
    while let Some(lower) = from {
        let rows: Vec<(SqlValue, SqlValue, SqlValue)> = st
            .query_map(params![tenant, lower, VERIFY_CHUNK], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        from = None;
        let full = rows.len() as i64 == VERIFY_CHUNK;
        for (seq_col, doc_col, hash_col) in rows {
            let expected = last_seq + 1;
            // The `seq` column must hold the next seq: otherwise a record before it was
            // removed (or the column was rewritten).
            let col = match seq_col {
                SqlValue::Integer(i) => i,
                _ => return Ok(Err(fault(expected, index, ChainFault::Sequence { expected }))),
            };
            let Ok(col_u) = u64::try_from(col) else {
                return Ok(Err(fault(expected, index, ChainFault::Sequence { expected })));
            };
            if col_u != expected {
                return Ok(Err(fault(col_u, index, ChainFault::Sequence { expected })));
            }
            let rec = match &doc_col {
                SqlValue::Text(d) => serde_json::from_str::<AuditRecord>(d).ok(),
                _ => None,
            };
            let Some(rec) = rec else {
                return Ok(Err(fault(col_u, index, ChainFault::Hash)));
            };
            // The JSON is the record: its seq, tenant, links and hash are checked as
            // `kizuna_consent::verify` does, and the columns must agree with it.
            if rec.seq != expected {
                return Ok(Err(fault(rec.seq, index, ChainFault::Sequence { expected })));
            }
            if rec.tenant != tenant {
                return Ok(Err(fault(col_u, index, ChainFault::Hash)));
            }
            if rec.prev_hash != last_hash {
                return Ok(Err(fault(col_u, index, ChainFault::PrevHash { expected: last_hash })));
            }
            let stored_hash_agrees = matches!(&hash_col, SqlValue::Text(h) if *h == rec.hash);
            if chain(&last_hash, &rec) != rec.hash || !stored_hash_agrees {
                return Ok(Err(fault(col_u, index, ChainFault::Hash)));
            }
            last_seq = col_u;
            last_hash = rec.hash;
            index += 1;
            if full {
                from = col.checked_add(1);
            }
        }
    }
    // The end of the chain must be the head kept apart from the log.
    let Some((head_seq, head_hash)) = head else {
        // Records without a head (a chain with neither is never listed).
        return Ok(Err(fault(last_seq, index.saturating_sub(1), ChainFault::HeadMismatch)));
    };
    let head_seq = u64::try_from(*head_seq).unwrap_or(u64::MAX);
    if head_seq > last_seq {
        return Ok(Err(fault(last_seq + 1, index, ChainFault::Truncated { head_seq })));
    }
    if head_seq < last_seq {
        // Records beyond the head: appended without moving it, or the head was rewound.
        return Ok(Err(fault(head_seq + 1, usize::try_from(head_seq).unwrap_or(usize::MAX), ChainFault::HeadMismatch)));
    }
    if *head_hash != last_hash {
        return Ok(Err(fault(last_seq, index.saturating_sub(1), ChainFault::HeadMismatch)));
    }
    Ok(Ok((last_seq, last_hash)))
}
