//! Attribute history: recording instances (from entity changes and the temporal API),
//! reading an entity's temporal evolution, retention purges.
//!
//! Instance ids are `urn:ngsi-ld:attribute:instance:<seq>`, where `seq` is the row's key,
//! so they are unique per store and increase with recording order.

use std::collections::BTreeMap;

use kizuna_ngsild::{Attribute, Entity};
use rusqlite::{params, Connection, OptionalExtension};

use super::decode;
use crate::{StoreError, TemporalEntity, TemporalFilter, TimeRel, Truncation};

const INSTANCE_PREFIX: &str = "urn:ngsi-ld:attribute:instance:";

/// Unix milliseconds of an RFC 3339 timestamp.
pub(crate) fn to_ms(ts: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(ts).ok().map(|d| d.timestamp_millis())
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The instance id for history row `seq`.
pub(crate) fn instance_id(seq: i64) -> String {
    format!("{INSTANCE_PREFIX}{seq}")
}

fn parse_instance_id(s: &str) -> Option<i64> {
    s.strip_prefix(INSTANCE_PREFIX)?.parse().ok()
}

/// Makes sure entity `id` is known to the temporal API with (at least) `types`.
pub(crate) fn touch_entity(conn: &Connection, tenant: &str, id: &str, types: &[String]) -> Result<(), StoreError> {
    let now = now_ms();
    let existing: Option<String> = conn
        .prepare_cached("SELECT types FROM temporal_entities WHERE tenant = ?1 AND id = ?2")?
        .query_row(params![tenant, id], |r| r.get(0))
        .optional()?;
    let mut all: Vec<String> = existing.as_deref().and_then(|t| serde_json::from_str(t).ok()).unwrap_or_default();
    let before = all.len();
    for t in types {
        if !all.contains(t) {
            all.push(t.clone());
        }
    }
    let json = serde_json::to_string(&all).map_err(|e| StoreError::Corrupt { id: id.into(), reason: e.to_string() })?;
    if existing.is_none() {
        conn.prepare_cached(
            "INSERT INTO temporal_entities(tenant, id, types, created_ms, modified_ms) VALUES (?1, ?2, ?3, ?4, ?4)",
        )?
        .execute(params![tenant, id, json, now])?;
    } else if all.len() != before {
        // Only a change of types is worth a write; the history rows carry the times.
        conn.prepare_cached("UPDATE temporal_entities SET types = ?3, modified_ms = ?4 WHERE tenant = ?1 AND id = ?2")?
            .execute(params![tenant, id, json, now])?;
    }
    if all.len() != before || existing.is_none() {
        let mut st =
            conn.prepare_cached("INSERT OR IGNORE INTO temporal_types(tenant, type, id) VALUES (?1, ?2, ?3)")?;
        for t in &all {
            st.execute(params![tenant, t, id])?;
        }
    }
    Ok(())
}

/// Appends one instance to the history.
pub(crate) fn record(conn: &Connection, tenant: &str, id: &str, attr: &str, a: &Attribute) -> Result<(), StoreError> {
    let recorded = a.modified_at.as_deref().and_then(to_ms).unwrap_or_else(now_ms);
    let mut stored = a.clone();
    stored.instance_id = None;
    let doc =
        serde_json::to_string(&stored).map_err(|e| StoreError::Corrupt { id: id.into(), reason: e.to_string() })?;
    conn.prepare_cached(
        "INSERT INTO attr_history(tenant, entity_id, attr, dataset_id, observed_ms, created_ms, modified_ms, doc)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7)",
    )?
    .execute(params![tenant, id, attr, a.dataset_id, a.observed_at.as_deref().and_then(to_ms), recorded, doc])?;
    Ok(())
}

/// Records what changed between `old` and `new` (every instance of `new` that is new or
/// whose modification time moved), in the transaction of the change itself.
pub(crate) fn record_change(
    conn: &Connection,
    tenant: &str,
    old: Option<&Entity>,
    new: &Entity,
) -> Result<(), StoreError> {
    touch_entity(conn, tenant, &new.id, &new.types)?;
    for (name, instances) in &new.attrs {
        for inst in instances {
            let previous =
                old.and_then(|o| o.attrs.get(name)).and_then(|is| is.iter().find(|i| i.dataset_id == inst.dataset_id));
            let changed = match previous {
                None => true,
                Some(p) => p.modified_at != inst.modified_at || p.value != inst.value,
            };
            if changed {
                record(conn, tenant, &new.id, name, inst)?;
            }
        }
    }
    Ok(())
}

/// The types of temporal entity `id`, if it has any history.
pub(crate) fn types_of(conn: &Connection, tenant: &str, id: &str) -> Result<Option<Vec<String>>, StoreError> {
    let t: Option<String> = conn
        .prepare_cached("SELECT types FROM temporal_entities WHERE tenant = ?1 AND id = ?2")?
        .query_row(params![tenant, id], |r| r.get(0))
        .optional()?;
    t.map(|t| serde_json::from_str(&t).map_err(|e| StoreError::Corrupt { id: id.into(), reason: e.to_string() }))
        .transpose()
}

/// Reads entity `id`'s instances selected by `f`.
pub(crate) fn read_entity(
    conn: &Connection,
    tenant: &str,
    id: &str,
    f: &TemporalFilter,
) -> Result<Option<TemporalEntity>, StoreError> {
    let Some(types) = types_of(conn, tenant, id)? else {
        return Ok(None);
    };
    let col = f.timeproperty.column();
    let mut sql = format!("SELECT seq, attr, {col}, doc FROM attr_history WHERE tenant = ?1 AND entity_id = ?2");
    let mut args: Vec<rusqlite::types::Value> = vec![tenant.to_string().into(), id.to_string().into()];
    match f.timerel {
        Some(TimeRel::Before(t)) => {
            sql.push_str(&format!(" AND {col} < ?3"));
            args.push(t.into());
        }
        Some(TimeRel::After(t)) => {
            sql.push_str(&format!(" AND {col} > ?3"));
            args.push(t.into());
        }
        Some(TimeRel::Between(a, b)) => {
            sql.push_str(&format!(" AND {col} >= ?3 AND {col} < ?4"));
            args.push(a.into());
            args.push(b.into());
        }
        None => {}
    }
    if !f.attrs.is_empty() {
        let first = args.len() + 1;
        let marks: Vec<String> = (0..f.attrs.len()).map(|i| format!("?{}", first + i)).collect();
        sql.push_str(&format!(" AND attr IN ({})", marks.join(",")));
        args.extend(f.attrs.iter().map(|a| rusqlite::types::Value::from(a.clone())));
    }
    // Oldest first by the chosen timestamp (instances without one last), then by recording order.
    sql.push_str(&format!(" ORDER BY attr, {col} IS NULL, {col}, seq"));
    let mut st = conn.prepare_cached(&sql)?;
    let mut rows = st.query(rusqlite::params_from_iter(args.iter()))?;
    let mut by_attr: BTreeMap<String, Vec<(i64, Attribute)>> = BTreeMap::new();
    while let Some(row) = rows.next()? {
        let seq: i64 = row.get(0)?;
        let attr: String = row.get(1)?;
        let ts: Option<i64> = row.get(2)?;
        let doc: String = row.get(3)?;
        let mut a: Attribute =
            serde_json::from_str(&doc).map_err(|e| StoreError::Corrupt { id: id.into(), reason: e.to_string() })?;
        a.instance_id = Some(instance_id(seq));
        by_attr.entry(attr).or_default().push((ts.unwrap_or(i64::MAX), a));
    }
    let mut entity = Entity {
        id: id.to_string(),
        types,
        scope: Vec::new(),
        attrs: BTreeMap::new(),
        created_at: None,
        modified_at: None,
    };
    if let Some(n) = f.last_n {
        for instances in by_attr.values_mut() {
            let skip = instances.len().saturating_sub(n);
            instances.drain(..skip);
        }
    }
    // One cut time for every attribute, so that the next page (`timerel=after` the cut)
    // neither repeats nor skips anything: the earliest time at which some attribute
    // reaches the limit. Instances *at* the cut time are all kept (ties never straddle
    // the cut), so a page may hold a few more than the limit.
    let cut = (f.instance_limit > 0)
        .then(|| by_attr.values().filter(|is| is.len() > f.instance_limit).map(|is| is[f.instance_limit - 1].0).min())
        .flatten();
    let mut truncated = Vec::new();
    for (attr, mut instances) in by_attr {
        if let Some(t) = cut {
            let keep = instances.partition_point(|(ts, _)| *ts <= t);
            if keep < instances.len() {
                instances.truncate(keep);
                truncated.push(Truncation { attr: attr.clone(), last_returned_ms: t });
            }
        }
        entity.attrs.insert(attr, instances.into_iter().map(|(_, a)| a).collect());
    }
    let decision_attrs = latest_instances(conn, tenant, id, &f.decision_attrs)?;
    Ok(Some(TemporalEntity { entity, truncated, decision_attrs }))
}

/// The latest recorded instance of each of `attrs`, per `datasetId`.
fn latest_instances(
    conn: &Connection,
    tenant: &str,
    id: &str,
    attrs: &[String],
) -> Result<BTreeMap<String, Vec<Attribute>>, StoreError> {
    let mut out: BTreeMap<String, Vec<Attribute>> = BTreeMap::new();
    let mut st = conn.prepare_cached(
        "SELECT doc FROM attr_history WHERE tenant = ?1 AND entity_id = ?2 AND attr = ?3 ORDER BY seq DESC",
    )?;
    for attr in attrs {
        let mut rows = st.query(rusqlite::params![tenant, id, attr])?;
        let mut latest: Vec<Attribute> = Vec::new();
        while let Some(row) = rows.next()? {
            let doc: String = row.get(0)?;
            let a: Attribute =
                serde_json::from_str(&doc).map_err(|e| StoreError::Corrupt { id: id.into(), reason: e.to_string() })?;
            if !latest.iter().any(|l| l.dataset_id == a.dataset_id) {
                latest.push(a);
            }
        }
        if !latest.is_empty() {
            out.insert(attr.clone(), latest);
        }
    }
    Ok(out)
}

/// Ids of temporal entities of `tenant` whose types satisfy the selector, in id order.
pub(crate) fn candidate_ids(
    conn: &Connection,
    tenant: &str,
    q: &crate::EntityQuery,
) -> Result<Vec<(String, Vec<String>)>, StoreError> {
    let mut st = conn.prepare_cached("SELECT id, types FROM temporal_entities WHERE tenant = ?1 ORDER BY id")?;
    let rows = st.query_map([tenant], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (id, types) = row?;
        let types: Vec<String> =
            serde_json::from_str(&types).map_err(|e| StoreError::Corrupt { id: id.clone(), reason: e.to_string() })?;
        let selected = q.types.as_ref().is_none_or(|t| t.matches(&types))
            && (q.ids.is_empty() || q.ids.contains(&id))
            && q.id_pattern.as_ref().is_none_or(|p| p.is_match(&id));
        if selected {
            out.push((id, types));
        }
    }
    Ok(out)
}

pub(crate) fn delete_entity(conn: &Connection, tenant: &str, id: &str) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached("DELETE FROM temporal_entities WHERE tenant = ?1 AND id = ?2")?
        .execute(params![tenant, id])?;
    conn.prepare_cached("DELETE FROM temporal_types WHERE tenant = ?1 AND id = ?2")?.execute(params![tenant, id])?;
    conn.prepare_cached("DELETE FROM attr_history WHERE tenant = ?1 AND entity_id = ?2")?
        .execute(params![tenant, id])?;
    Ok(n > 0)
}

pub(crate) fn delete_attr(
    conn: &Connection,
    tenant: &str,
    id: &str,
    attr: &str,
    dataset_id: Option<&str>,
    all: bool,
) -> Result<u64, StoreError> {
    let n = if all {
        conn.prepare_cached("DELETE FROM attr_history WHERE tenant = ?1 AND entity_id = ?2 AND attr = ?3")?
            .execute(params![tenant, id, attr])?
    } else {
        conn.prepare_cached(
            "DELETE FROM attr_history WHERE tenant = ?1 AND entity_id = ?2 AND attr = ?3 AND dataset_id IS ?4",
        )?
        .execute(params![tenant, id, attr, dataset_id])?
    };
    Ok(n as u64)
}

pub(crate) fn delete_instance(
    conn: &Connection,
    tenant: &str,
    id: &str,
    attr: &str,
    inst: &str,
) -> Result<bool, StoreError> {
    let Some(seq) = parse_instance_id(inst) else { return Ok(false) };
    let n = conn
        .prepare_cached("DELETE FROM attr_history WHERE seq = ?1 AND tenant = ?2 AND entity_id = ?3 AND attr = ?4")?
        .execute(params![seq, tenant, id, attr])?;
    Ok(n > 0)
}

pub(crate) fn replace_instance(
    conn: &Connection,
    tenant: &str,
    id: &str,
    attr: &str,
    inst: &str,
    a: &Attribute,
) -> Result<bool, StoreError> {
    let Some(seq) = parse_instance_id(inst) else { return Ok(false) };
    let mut stored = a.clone();
    stored.instance_id = None;
    let doc =
        serde_json::to_string(&stored).map_err(|e| StoreError::Corrupt { id: id.into(), reason: e.to_string() })?;
    let n = conn
        .prepare_cached(
            "UPDATE attr_history SET doc = ?5, observed_ms = ?6, dataset_id = ?7, modified_ms = ?8
             WHERE seq = ?1 AND tenant = ?2 AND entity_id = ?3 AND attr = ?4",
        )?
        .execute(params![
            seq,
            tenant,
            id,
            attr,
            doc,
            a.observed_at.as_deref().and_then(to_ms),
            a.dataset_id,
            now_ms()
        ])?;
    Ok(n > 0)
}

pub(crate) fn set_retention(
    conn: &Connection,
    tenant: &str,
    type_iri: &str,
    seconds: Option<u64>,
) -> Result<(), StoreError> {
    match seconds {
        Some(s) => conn
            .prepare_cached("INSERT OR REPLACE INTO retention(tenant, type, seconds) VALUES (?1, ?2, ?3)")?
            .execute(params![tenant, type_iri, s as i64])?,
        None => conn
            .prepare_cached("DELETE FROM retention WHERE tenant = ?1 AND type = ?2")?
            .execute(params![tenant, type_iri])?,
    };
    Ok(())
}

pub(crate) fn retention(conn: &Connection, tenant: &str) -> Result<Vec<(String, u64)>, StoreError> {
    let mut st = conn.prepare_cached("SELECT type, seconds FROM retention WHERE tenant = ?1 ORDER BY type")?;
    let rows = st.query_map([tenant], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Deletes, for every retention setting, the instances of entities of that type whose
/// observation time (or, without one, recording time) is older than the limit.
pub(crate) fn purge(conn: &Connection, now_ms: i64) -> Result<Vec<(String, String, u64)>, StoreError> {
    let settings: Vec<(String, String, i64)> = {
        let mut st = conn.prepare_cached("SELECT tenant, type, seconds FROM retention")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    let mut out = Vec::new();
    for (tenant, ty, seconds) in settings {
        let cutoff = now_ms.saturating_sub(seconds.saturating_mul(1000));
        let n = conn
            .prepare_cached(
                "DELETE FROM attr_history WHERE tenant = ?1 AND coalesce(observed_ms, created_ms) < ?3
                 AND entity_id IN (SELECT id FROM temporal_types WHERE tenant = ?1 AND type = ?2)",
            )?
            .execute(params![tenant, ty, cutoff])?;
        if n > 0 {
            out.push((tenant, ty, n as u64));
        }
    }
    Ok(out)
}

/// Reads a stored current-state entity (used to diff before an update).
pub(crate) fn current(conn: &Connection, tenant: &str, id: &str) -> Result<Option<(i64, Entity)>, StoreError> {
    let row: Option<(i64, String)> = conn
        .prepare_cached("SELECT rowid, doc FROM entities WHERE tenant = ?1 AND id = ?2")?
        .query_row(params![tenant, id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    row.map(|(rowid, doc)| decode(id, &doc).map(|e| (rowid, e))).transpose()
}
