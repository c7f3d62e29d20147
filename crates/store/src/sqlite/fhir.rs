//! FHIR resources in SQLite (migration 8): current versions, every version, the search
//! index and the FHIR layer's small state documents.
//!
//! A search drives from the first clause that names exact values (a patient, a code:
//! `rid IN (index lookup)`) and checks the other clauses per candidate through
//! `fhir_index_rid`; the caller's gate decides every hit in order, so the total and the
//! page cover only what the caller may see, and only the page's documents are read.

use rusqlite::types::Value as Sql;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};
use serde_json::Value;

use crate::fhir::{
    FhirClause, FhirHit, FhirIndexRow, FhirMatch, FhirPage, FhirRecord, FhirSearch, FhirSort, RangeCond,
};
use crate::StoreError;

/// The current version of each resource: its row in `fhir_resources` with its document
/// from `fhir_versions` (stored once).
const CURRENT: &str = "SELECT r.rtype, r.id, r.version, r.last_updated, r.deleted, r.subject, r.source, v.doc \
     FROM fhir_resources r JOIN fhir_versions v ON v.rid = r.rid AND v.version = r.version";

/// A row of [`CURRENT`], undecoded.
type Raw = (String, String, i64, String, bool, Option<String>, Option<String>, Option<String>);

fn record(r: &Row<'_>) -> rusqlite::Result<Raw> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?))
}

fn decode((rtype, id, version, last_updated, deleted, subject, source, doc): Raw) -> Result<FhirRecord, StoreError> {
    let resource = match doc {
        Some(d) => Some(
            serde_json::from_str::<Value>(&d)
                .map_err(|e| StoreError::Corrupt { id: format!("{rtype}/{id}"), reason: e.to_string() })?,
        ),
        None => None,
    };
    Ok(FhirRecord { rtype, id, version: version.max(0) as u64, last_updated, deleted, subject, source, resource })
}

fn encode(v: &Option<Value>) -> Result<Option<String>, StoreError> {
    v.as_ref().map(|d| serde_json::to_string(d).map_err(|e| StoreError::Invalid(e.to_string()))).transpose()
}

/// The current version of `rtype/id` (a delete included).
pub(crate) fn current(
    conn: &Connection,
    tenant: &str,
    rtype: &str,
    id: &str,
) -> Result<Option<FhirRecord>, StoreError> {
    let raw = conn
        .prepare_cached(&format!("{CURRENT} WHERE r.tenant = ?1 AND r.rtype = ?2 AND r.id = ?3"))?
        .query_row(params![tenant, rtype, id], record)
        .optional()?;
    raw.map(decode).transpose()
}

/// Version `version` of `rtype/id`.
pub(crate) fn version(
    conn: &Connection,
    tenant: &str,
    rtype: &str,
    id: &str,
    version: u64,
) -> Result<Option<FhirRecord>, StoreError> {
    let raw = conn
        .prepare_cached(
            "SELECT r.rtype, r.id, v.version, v.last_updated, v.deleted, v.subject, v.source, v.doc
             FROM fhir_resources r JOIN fhir_versions v ON v.rid = r.rid
             WHERE r.tenant = ?1 AND r.rtype = ?2 AND r.id = ?3 AND v.version = ?4",
        )?
        .query_row(params![tenant, rtype, id, version as i64], record)
        .optional()?;
    raw.map(decode).transpose()
}

/// Every version of `rtype/id`, newest first.
pub(crate) fn history(conn: &Connection, tenant: &str, rtype: &str, id: &str) -> Result<Vec<FhirRecord>, StoreError> {
    let mut st = conn.prepare_cached(
        "SELECT r.rtype, r.id, v.version, v.last_updated, v.deleted, v.subject, v.source, v.doc
         FROM fhir_resources r JOIN fhir_versions v ON v.rid = r.rid
         WHERE r.tenant = ?1 AND r.rtype = ?2 AND r.id = ?3 ORDER BY v.version DESC",
    )?;
    let rows = st.query_map(params![tenant, rtype, id], record)?;
    rows.map(|r| decode(r?)).collect()
}

/// Stores `rec` as the new current version of its resource, with its index rows
/// (none for a delete).
pub(crate) fn put(conn: &Connection, tenant: &str, rec: &FhirRecord, index: &[FhirIndexRow]) -> Result<(), StoreError> {
    let doc = encode(&rec.resource)?;
    let existing: Option<i64> = conn
        .prepare_cached("SELECT rid FROM fhir_resources WHERE tenant = ?1 AND rtype = ?2 AND id = ?3")?
        .query_row(params![tenant, rec.rtype, rec.id], |r| r.get(0))
        .optional()?;
    let v = rec.version as i64;
    let rid = match existing {
        Some(rid) => {
            conn.prepare_cached(
                "UPDATE fhir_resources SET version = ?2, last_updated = ?3, deleted = ?4, subject = ?5, source = ?6
                 WHERE rid = ?1",
            )?
            .execute(params![rid, v, rec.last_updated, rec.deleted, rec.subject, rec.source])?;
            conn.prepare_cached("DELETE FROM fhir_index WHERE rid = ?1")?.execute(params![rid])?;
            rid
        }
        None => {
            conn.prepare_cached(
                "INSERT INTO fhir_resources(tenant, rtype, id, version, last_updated, deleted, subject, source)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                tenant,
                rec.rtype,
                rec.id,
                v,
                rec.last_updated,
                rec.deleted,
                rec.subject,
                rec.source
            ])?;
            conn.last_insert_rowid()
        }
    };
    conn.prepare_cached(
        "INSERT INTO fhir_versions(rid, version, last_updated, deleted, subject, source, doc)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![rid, v, rec.last_updated, rec.deleted, rec.subject, rec.source, doc])?;
    if !rec.deleted {
        let mut st = conn.prepare_cached(
            "INSERT INTO fhir_index(tenant, rtype, param, rid, system, txt, lo, hi) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        for row in index {
            st.execute(params![tenant, rec.rtype, row.param, rid, row.system, row.text, row.lo, row.hi])?;
        }
    }
    Ok(())
}

/// Erases `subject`'s FHIR data: every resource whose current version is theirs (with
/// all its versions and index rows), and their versions of resources that now belong to
/// someone else. Returns the `Type/id` of every resource touched, in order.
pub(crate) fn erase_subject(conn: &Connection, tenant: &str, subject: &str) -> Result<Vec<String>, StoreError> {
    let rows = |sql: &str| -> Result<Vec<(i64, String)>, StoreError> {
        let mut st = conn.prepare_cached(sql)?;
        let rows = st.query_map(params![tenant, subject], |r| {
            Ok((r.get::<_, i64>(0)?, format!("{}/{}", r.get::<_, String>(1)?, r.get::<_, String>(2)?)))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    };
    let whole =
        rows("SELECT rid, rtype, id FROM fhir_resources WHERE tenant = ?1 AND subject = ?2 ORDER BY rtype, id")?;
    let partly = rows(
        "SELECT DISTINCT r.rid, r.rtype, r.id FROM fhir_versions v JOIN fhir_resources r ON r.rid = v.rid
         WHERE r.tenant = ?1 AND v.subject = ?2 AND (r.subject IS NULL OR r.subject <> ?2) ORDER BY r.rtype, r.id",
    )?;
    for (rid, _) in &whole {
        conn.prepare_cached("DELETE FROM fhir_index WHERE rid = ?1")?.execute(params![rid])?;
        conn.prepare_cached("DELETE FROM fhir_versions WHERE rid = ?1")?.execute(params![rid])?;
        conn.prepare_cached("DELETE FROM fhir_resources WHERE rid = ?1")?.execute(params![rid])?;
    }
    for (rid, _) in &partly {
        conn.prepare_cached("DELETE FROM fhir_versions WHERE rid = ?1 AND subject = ?2")?
            .execute(params![rid, subject])?;
    }
    Ok(whole.into_iter().chain(partly).map(|(_, k)| k).collect())
}

/// The current, not deleted resources of `subject`, by type and id.
pub(crate) fn of_subject(conn: &Connection, tenant: &str, subject: &str) -> Result<Vec<FhirRecord>, StoreError> {
    let mut st = conn.prepare_cached(&format!(
        "{CURRENT} WHERE r.tenant = ?1 AND r.subject = ?2 AND r.deleted = 0 ORDER BY r.rtype, r.id"
    ))?;
    let rows = st.query_map(params![tenant, subject], record)?;
    rows.map(|r| decode(r?)).collect()
}

/// A state document of the FHIR layer.
pub(crate) fn state(conn: &Connection, tenant: &str, key: &str) -> Result<Option<Value>, StoreError> {
    let doc: Option<String> = conn
        .prepare_cached("SELECT doc FROM fhir_state WHERE tenant = ?1 AND key = ?2")?
        .query_row(params![tenant, key], |r| r.get(0))
        .optional()?;
    doc.map(|d| {
        serde_json::from_str(&d)
            .map_err(|e| StoreError::Corrupt { id: format!("fhir_state {key}"), reason: e.to_string() })
    })
    .transpose()
}

/// Replaces a state document.
pub(crate) fn set_state(conn: &Connection, tenant: &str, key: &str, doc: &Value) -> Result<(), StoreError> {
    conn.prepare_cached("INSERT OR REPLACE INTO fhir_state(tenant, key, doc) VALUES (?1, ?2, ?3)")?
        .execute(params![tenant, key, doc.to_string()])?;
    Ok(())
}

/// The SQL condition of one match on index row alias `i`, with its parameters.
fn match_sql(m: &FhirMatch, args: &mut Vec<Sql>) -> String {
    let real = |x: f64| Sql::Real(x);
    match m {
        FhirMatch::Token { system: Some(s), code: Some(c), .. } => {
            args.push(Sql::Text(s.clone()));
            args.push(Sql::Text(c.clone()));
            "(i.system = ? AND i.txt = ?)".into()
        }
        FhirMatch::Token { system: Some(s), code: None, .. } => {
            args.push(Sql::Text(s.clone()));
            "i.system = ?".into()
        }
        FhirMatch::Token { system: None, code: Some(c), no_system } => {
            args.push(Sql::Text(c.clone()));
            if *no_system {
                "(i.system IS NULL AND i.txt = ?)".into()
            } else {
                "i.txt = ?".into()
            }
        }
        FhirMatch::Token { system: None, code: None, .. } => "0".into(),
        FhirMatch::Exact(t) => {
            args.push(Sql::Text(t.clone()));
            "i.txt = ?".into()
        }
        FhirMatch::Prefix(p) => {
            args.push(Sql::Text(p.clone()));
            args.push(Sql::Text(format!("{p}\u{10FFFF}")));
            "(i.txt >= ? AND i.txt < ?)".into()
        }
        FhirMatch::Range(c) => match *c {
            RangeCond::Within(lo, hi) => {
                args.extend([real(lo), real(hi)]);
                "(i.lo >= ? AND i.hi <= ?)".into()
            }
            RangeCond::NotWithin(lo, hi) => {
                args.extend([real(lo), real(hi)]);
                "NOT (i.lo >= ? AND i.hi <= ?)".into()
            }
            RangeCond::HiAtLeast(x) => {
                args.push(real(x));
                "i.hi >= ?".into()
            }
            RangeCond::HiAbove(x) => {
                args.push(real(x));
                "i.hi > ?".into()
            }
            RangeCond::LoAtMost(x) => {
                args.push(real(x));
                "i.lo <= ?".into()
            }
            RangeCond::LoBelow(x) => {
                args.push(real(x));
                "i.lo < ?".into()
            }
        },
    }
}

fn any_sql(c: &FhirClause, args: &mut Vec<Sql>) -> String {
    if c.any.is_empty() {
        return "0".into();
    }
    let parts: Vec<String> = c.any.iter().map(|m| match_sql(m, args)).collect();
    format!("({})", parts.join(" OR "))
}

/// Whether a clause can drive the search from the index (exact values only).
fn drives(c: &FhirClause) -> bool {
    c.missing.is_none()
        && !c.any.is_empty()
        && c.any.iter().all(|m| matches!(m, FhirMatch::Exact(_) | FhirMatch::Token { code: Some(_), .. }))
}

/// How selective a driving clause is likely to be (lower: fewer rows).
fn selectivity(c: &FhirClause) -> u8 {
    c.any
        .iter()
        .map(|m| match m {
            FhirMatch::Exact(_) => 0,
            FhirMatch::Token { system: Some(_), code: Some(_), .. } => 1,
            _ => 2,
        })
        .max()
        .unwrap_or(2)
}

/// Runs a search: every hit (in the search's order) is offered to `gate`; of those it
/// admits, the ones from `offset` (at most `limit`) are read and returned.
pub(crate) fn search(
    conn: &Connection,
    tenant: &str,
    q: &FhirSearch,
    offset: usize,
    limit: usize,
    gate: &mut dyn FnMut(&FhirHit) -> bool,
) -> Result<FhirPage, StoreError> {
    let mut args: Vec<Sql> = vec![Sql::Text(tenant.to_string()), Sql::Text(q.rtype.clone())];
    // The driver: the most selective exact-value clause (a reference or id before a
    // code with system before a bare code). It is read from the index first and joined
    // to the resources (CROSS JOIN keeps that order: scanning the resources in id order
    // would read every resource of the type).
    let driver =
        q.clauses.iter().enumerate().filter(|(_, c)| drives(c)).min_by_key(|(_, c)| selectivity(c)).map(|(n, _)| n);
    let mut sql = String::from("SELECT r.rid, r.id, r.subject, r.source FROM ");
    if let Some(d) = driver {
        let c = &q.clauses[d];
        args.push(Sql::Text(c.param.clone()));
        let cond = any_sql(c, &mut args);
        sql.push_str(&format!(
            "(SELECT DISTINCT i.rid AS rid FROM fhir_index i WHERE i.tenant = ?1 AND i.rtype = ?2 AND i.param = ? AND {cond}) d \
             CROSS JOIN fhir_resources r ON r.rid = d.rid WHERE r.tenant = ?1 AND r.rtype = ?2 AND r.deleted = 0"
        ));
    } else {
        sql.push_str("fhir_resources r WHERE r.tenant = ?1 AND r.rtype = ?2 AND r.deleted = 0");
    }
    if let Some(subjects) = &q.subjects {
        let marks = vec!["?"; subjects.len()].join(", ");
        sql.push_str(&format!(" AND r.subject IN ({marks})"));
        args.extend(subjects.iter().map(|s| Sql::Text(s.clone())));
    }
    for (n, c) in q.clauses.iter().enumerate() {
        if Some(n) == driver {
            continue;
        }
        args.push(Sql::Text(c.param.clone()));
        match c.missing {
            Some(true) => {
                sql.push_str(" AND NOT EXISTS (SELECT 1 FROM fhir_index i WHERE i.rid = r.rid AND i.param = ?)")
            }
            Some(false) => sql.push_str(" AND EXISTS (SELECT 1 FROM fhir_index i WHERE i.rid = r.rid AND i.param = ?)"),
            None => {
                let cond = any_sql(c, &mut args);
                sql.push_str(&format!(
                    " AND EXISTS (SELECT 1 FROM fhir_index i WHERE i.rid = r.rid AND i.param = ? AND {cond})"
                ));
            }
        }
    }
    let mut order: Vec<String> = Vec::new();
    for (key, desc) in &q.sort {
        let dir = if *desc { "DESC" } else { "ASC" };
        match key {
            FhirSort::Id => order.push(format!("r.id {dir}")),
            FhirSort::LastUpdated => order.push(format!("r.last_updated {dir}")),
            FhirSort::Range(p) | FhirSort::Text(p) => {
                let (agg, col) = match (key, desc) {
                    (FhirSort::Range(_), false) => ("MIN", "lo"),
                    (FhirSort::Range(_), true) => ("MAX", "hi"),
                    (_, false) => ("MIN", "txt"),
                    (_, true) => ("MAX", "txt"),
                };
                // Parameters in ORDER BY come after every WHERE parameter: bind by position.
                args.push(Sql::Text(p.clone()));
                let sub = format!(
                    "(SELECT {agg}(i.{col}) FROM fhir_index i WHERE i.rid = r.rid AND i.param = ?{})",
                    args.len()
                );
                order.push(format!("{sub} IS NULL, {sub} {dir}"));
            }
        }
    }
    order.push("r.id ASC".into());
    sql.push_str(" ORDER BY ");
    sql.push_str(&order.join(", "));

    let mut st = conn.prepare_cached(&sql)?;
    let mut rows = st.query(params_from_iter(args.iter()))?;
    let mut total: u64 = 0;
    let mut page: Vec<i64> = Vec::new();
    while let Some(row) = rows.next()? {
        let hit = FhirHit { id: row.get(1)?, subject: row.get(2)?, source: row.get(3)? };
        if !gate(&hit) {
            continue;
        }
        if total as usize >= offset && page.len() < limit {
            page.push(row.get(0)?);
        }
        total += 1;
    }
    let mut records = Vec::with_capacity(page.len());
    let mut one = conn.prepare_cached(&format!("{CURRENT} WHERE r.rid = ?1"))?;
    for rid in page {
        if let Some(raw) = one.query_row(params![rid], record).optional()? {
            records.push(decode(raw)?);
        }
    }
    Ok(FhirPage { records, total })
}
