//! The delivery log: what became of each entity's notification to each subscription.
//!
//! [`log`] runs inside the transaction that records a delivery outcome (so the log and
//! the outbox never disagree) and appends one row per entity of the outbox item, with
//! the attempt number; [`read`] answers, for one entity, the latest state per
//! subscription and whether a notification of it is still queued.

use std::collections::BTreeMap;

use rusqlite::{params, Connection};

use crate::{Receipt, ReceiptOutcome, StoreError};

/// Appends the outcome of outbox item `seq` for each of its entities (call before the
/// item is removed or its attempt counter moves).
pub(crate) fn log(
    conn: &Connection,
    tenant: &str,
    sub_id: &str,
    seq: i64,
    outcome: &str,
    reason: Option<&str>,
    now: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO delivery_log(tenant, sub_id, entity_id, seq, outcome, reason, at, attempt)
         SELECT ?1, ?2, json_extract(j.value, '$.id'), o.seq, ?4, ?5, ?6, o.attempts + 1
         FROM outbox o, json_each(o.entity) j
         WHERE o.seq = ?3 AND o.tenant = ?1 AND o.sub_id = ?2 AND json_extract(j.value, '$.id') IS NOT NULL",
    )?
    .execute(params![tenant, sub_id, seq, outcome, reason, now])?;
    Ok(())
}

/// The receipts of entity `entity_id` in `tenant`, in subscription id order.
pub(crate) fn read(conn: &Connection, tenant: &str, entity_id: &str) -> Result<Vec<Receipt>, StoreError> {
    let mut out: BTreeMap<String, Receipt> = BTreeMap::new();
    // The latest row per subscription, and the latest failure reason.
    let mut st = conn.prepare_cached(
        "SELECT l.sub_id, l.outcome, l.reason, l.at, l.attempt,
                (SELECT f.reason FROM delivery_log f
                 WHERE f.tenant = l.tenant AND f.entity_id = l.entity_id AND f.sub_id = l.sub_id
                   AND f.outcome = 'failed' ORDER BY f.id DESC LIMIT 1)
         FROM delivery_log l
         WHERE l.tenant = ?1 AND l.entity_id = ?2
           AND l.id = (SELECT MAX(m.id) FROM delivery_log m
                       WHERE m.tenant = l.tenant AND m.entity_id = l.entity_id AND m.sub_id = l.sub_id)",
    )?;
    let rows = st.query_map(params![tenant, entity_id], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<String>>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, i64>(4)?,
            r.get::<_, Option<String>>(5)?,
        ))
    })?;
    for row in rows {
        let (sub_id, outcome, reason, at, attempt, last_failure) = row?;
        let outcome = ReceiptOutcome::from_name(&outcome).ok_or_else(|| StoreError::Corrupt {
            id: entity_id.to_string(),
            reason: format!("delivery log outcome '{outcome}'"),
        })?;
        out.insert(
            sub_id.clone(),
            Receipt {
                sub_id,
                outcome: Some(outcome),
                reason,
                at: Some(at),
                attempts: attempt.max(0) as u32,
                pending: false,
                last_failure,
            },
        );
    }
    // Notifications of the entity still queued (the outbox holds whole entities).
    let mut st = conn.prepare_cached(
        "SELECT o.sub_id FROM outbox o, json_each(o.entity) j
         WHERE o.tenant = ?1 AND json_extract(j.value, '$.id') = ?2 ORDER BY o.seq",
    )?;
    let rows = st.query_map(params![tenant, entity_id], |r| r.get::<_, String>(0))?;
    for row in rows {
        let sub_id = row?;
        let r = out.entry(sub_id.clone()).or_insert_with(|| Receipt {
            sub_id,
            outcome: None,
            reason: None,
            at: None,
            attempts: 0,
            pending: false,
            last_failure: None,
        });
        r.pending = true;
    }
    Ok(out.into_values().collect())
}
