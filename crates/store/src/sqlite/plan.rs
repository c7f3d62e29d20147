//! Planning an [`EntityQuery`] as SQL.
//!
//! The SQL is a *pre-filter*: types, ids and the parts of `q` the attribute index can
//! answer are pushed down; every candidate row is then checked in Rust with
//! [`EntityQuery::matches`], the reference semantics, so the result is exact whatever
//! the pushdown covers. Candidates come in id order and reading stops as soon as the
//! page is full, unless a total count was asked for.

use kizuna_ngsild::geoquery::{BBox, GeoQuery, GeoRel};
use kizuna_ngsild::query::{Op, QValue, Query};
use kizuna_ngsild::Entity;
use rusqlite::types::Value as Sql;
use rusqlite::{Connection, OptionalExtension};

use super::decode;
use crate::{EntityQuery, QueryResult, StoreError, TypeSelector};

/// A SQL condition over the candidate's rowid column `e.rowid`, with its parameters.
struct Cond {
    sql: String,
    params: Vec<Sql>,
}

pub(super) fn run(c: &Connection, tenant: &str, q: &EntityQuery) -> Result<QueryResult, StoreError> {
    if let Some(geo) = &q.geo {
        if let Some(b) = geo.search_bbox() {
            return run_geo(c, tenant, q, geo, b);
        }
    }
    let mut params: Vec<Sql> = vec![Sql::Text(tenant.to_string())];
    // Drive from the type index when exactly one type is selected: it yields ids in
    // order, so a page costs O(limit) rows. Only (rowid, id) pairs are selected and
    // ordered; documents are read one by one afterwards, so SQLite never sorts them.
    let single_type = q.types.as_ref().and_then(|t| match t.0.as_slice() {
        [one] if one.len() == 1 => Some(one[0].clone()),
        _ => None,
    });
    let mut sql = match &single_type {
        Some(t) => {
            params.push(Sql::Text(t.clone()));
            String::from("SELECT t.entity, t.id FROM entity_types t WHERE t.tenant = ?1 AND t.type = ?2")
        }
        None => String::from("SELECT e.rowid, e.id FROM entities e WHERE e.tenant = ?1"),
    };
    let mut conds: Vec<Cond> = Vec::new();
    if single_type.is_none() {
        if let Some(sel) = &q.types {
            // Any conjunction: the entity has every type of it.
            let mut alts = Vec::new();
            let mut ps = Vec::new();
            for all in &sel.0 {
                let parts: Vec<String> = all
                    .iter()
                    .map(|t| {
                        ps.push(Sql::Text(t.clone()));
                        "e.rowid IN (SELECT entity FROM entity_types WHERE tenant = ?1 AND type = ?)".to_string()
                    })
                    .collect();
                alts.push(format!("({})", parts.join(" AND ")));
            }
            conds.push(Cond { sql: format!("({})", alts.join(" OR ")), params: ps });
        }
    }
    if !q.ids.is_empty() {
        let marks = vec!["?"; q.ids.len()].join(",");
        conds.push(Cond { sql: format!("e.id IN ({marks})"), params: q.ids.iter().cloned().map(Sql::Text).collect() });
    }
    if !q.attrs.is_empty() {
        let marks = vec!["?"; q.attrs.len()].join(",");
        conds.push(Cond {
            sql: format!("e.rowid IN (SELECT entity FROM attr_index WHERE tenant = ?1 AND attr IN ({marks}))"),
            params: q.attrs.iter().cloned().map(Sql::Text).collect(),
        });
    }
    if let Some(cond) = q.q.as_ref().and_then(pushdown) {
        conds.push(cond);
    }
    for cond in conds {
        sql.push_str(" AND ");
        // Conditions are written against `e`; with the type index driving, the same
        // columns are `t.entity` and `t.id`.
        let cond_sql = if single_type.is_some() {
            cond.sql.replace("e.rowid", "t.entity").replace("e.id", "t.id")
        } else {
            cond.sql
        };
        sql.push_str(&cond_sql);
        params.extend(cond.params);
    }
    sql.push_str(if single_type.is_some() { " ORDER BY t.id" } else { " ORDER BY e.id" });
    // Numbered and anonymous parameters mix: rewrite `?` to explicit numbers.
    let sql = number_params(&sql);

    let mut st = c.prepare(&sql)?;
    let mut rows = st.query(rusqlite::params_from_iter(params.iter()))?;
    let mut doc_stmt = c.prepare_cached("SELECT doc FROM entities WHERE rowid = ?1")?;
    let mut load = |rowid: i64, id: &str| -> Result<Option<Entity>, StoreError> {
        let doc: Option<String> = doc_stmt.query_row([rowid], |r| r.get(0)).optional()?;
        doc.map(|d| decode(id, &d)).transpose()
    };
    if let Some(geo) = &q.geo {
        // A geo-query no box bounds (disjoint, near;minDistance): every candidate is
        // checked; order (near: by distance, then id; otherwise by id), then page.
        let mut all = Vec::new();
        while let Some(row) = rows.next()? {
            let rowid: i64 = row.get(0)?;
            let id: String = row.get(1)?;
            let Some(e) = load(rowid, &id)? else { continue };
            if let Some(e) = q.admit(e) {
                let d = if matches!(geo.rel, GeoRel::Near { .. }) {
                    geo.entity_distance_m(&e).unwrap_or(f64::INFINITY)
                } else {
                    0.0
                };
                all.push((d, e));
            }
        }
        all.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)));
        let total = all.len() as u64;
        let entities = all.into_iter().skip(q.offset).take(q.limit).map(|(_, e)| e).collect();
        return Ok(QueryResult { entities, total: q.count.then_some(total) });
    }
    let mut out = QueryResult::default();
    let mut matched: u64 = 0;
    let want = q.offset.saturating_add(q.limit);
    while let Some(row) = rows.next()? {
        let rowid: i64 = row.get(0)?;
        let id: String = row.get(1)?;
        let Some(e) = load(rowid, &id)? else { continue };
        let Some(e) = q.admit(e) else { continue };
        matched += 1;
        let idx = (matched - 1) as usize;
        if idx >= q.offset && idx < want {
            out.entities.push(e);
        }
        if !q.count && matched as usize >= want {
            break;
        }
    }
    if q.count {
        out.total = Some(matched);
    }
    Ok(out)
}

/// Rewrites each bare `?` as `?N`, numbering after the highest explicit one used (`?1`, `?2`).
fn number_params(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let explicit = if sql.contains("?2") { 2 } else { 1 };
    let mut next = explicit + 1;
    let mut chars = sql.chars().peekable();
    while let Some(ch) = chars.next() {
        out.push(ch);
        if ch == '?' && !chars.peek().is_some_and(|c| c.is_ascii_digit()) {
            out.push_str(&next.to_string());
            next += 1;
        }
    }
    out
}

/// A necessary condition for `q` that the attribute index can check, if any.
fn pushdown(q: &Query) -> Option<Cond> {
    match q {
        Query::And(items) => {
            let parts: Vec<Cond> = items.iter().filter_map(pushdown).collect();
            if parts.is_empty() {
                return None;
            }
            Some(join(parts, " AND "))
        }
        Query::Or(items) => {
            let parts: Option<Vec<Cond>> = items.iter().map(pushdown).collect();
            Some(join(parts?, " OR "))
        }
        Query::Term(term) => {
            if !term.path.sub.is_empty() || !term.path.compound.is_empty() {
                return None;
            }
            let attr = Sql::Text(term.path.attr.clone());
            let (value_sql, mut ps) = match &term.op {
                None => (String::new(), Vec::new()),
                Some((op, v)) => value_condition(*op, v)?,
            };
            let mut params = vec![attr];
            params.append(&mut ps);
            Some(Cond {
                sql: format!("e.rowid IN (SELECT entity FROM attr_index WHERE tenant = ?1 AND attr = ?{value_sql})"),
                params,
            })
        }
    }
}

fn join(parts: Vec<Cond>, sep: &str) -> Cond {
    let mut sql = Vec::new();
    let mut params = Vec::new();
    for p in parts {
        sql.push(p.sql);
        params.extend(p.params);
    }
    Cond { sql: format!("({})", sql.join(sep)), params }
}

/// The index condition for a comparison, for the operators where the evaluator
/// compares numbers with numbers and strings with strings only.
fn value_condition(op: Op, v: &QValue) -> Option<(String, Vec<Sql>)> {
    match (op, v) {
        (Op::Eq, QValue::Number(n)) => Some((" AND num = ?".into(), vec![Sql::Real(*n)])),
        (Op::Gt, QValue::Number(n)) => Some((" AND num > ?".into(), vec![Sql::Real(*n)])),
        (Op::Ge, QValue::Number(n)) => Some((" AND num >= ?".into(), vec![Sql::Real(*n)])),
        (Op::Lt, QValue::Number(n)) => Some((" AND num < ?".into(), vec![Sql::Real(*n)])),
        (Op::Le, QValue::Number(n)) => Some((" AND num <= ?".into(), vec![Sql::Real(*n)])),
        (Op::Eq, QValue::Str(s)) => Some((" AND txt = ?".into(), vec![Sql::Text(s.clone())])),
        (Op::Eq, QValue::Range(lo, hi)) => match (lo.as_ref(), hi.as_ref()) {
            (QValue::Number(a), QValue::Number(b)) => {
                Some((" AND num BETWEEN ? AND ?".into(), vec![Sql::Real(*a), Sql::Real(*b)]))
            }
            _ => None,
        },
        (Op::Eq, QValue::List(items)) => {
            if items.iter().all(|i| matches!(i, QValue::Number(_))) {
                let ps: Vec<Sql> = items
                    .iter()
                    .filter_map(|i| if let QValue::Number(n) = i { Some(Sql::Real(*n)) } else { None })
                    .collect();
                Some((format!(" AND num IN ({})", vec!["?"; ps.len()].join(",")), ps))
            } else if items.iter().all(|i| matches!(i, QValue::Str(_))) {
                let ps: Vec<Sql> = items
                    .iter()
                    .filter_map(|i| if let QValue::Str(s) = i { Some(Sql::Text(s.clone())) } else { None })
                    .collect();
                Some((format!(" AND txt IN ({})", vec!["?"; ps.len()].join(",")), ps))
            } else {
                None
            }
        }
        _ => None,
    }
}

/// A geo-query driven by the R*Tree: candidates are the entities whose GeoProperty's box
/// meets the search box. For `near` they are ordered by a lower bound of their distance
/// computed from the box alone, and documents are read in that order only until no
/// further candidate can enter the page; otherwise in id order until the page is full.
/// With `count`, every candidate is read.
fn run_geo(c: &Connection, tenant: &str, q: &EntityQuery, geo: &GeoQuery, b: BBox) -> Result<QueryResult, StoreError> {
    if let (GeoRel::Near { .. }, Some(p), false) = (&geo.rel, reference_point(&geo.geometry), q.count) {
        return run_near(c, tenant, q, geo, b, p);
    }
    // CROSS JOIN fixes the join order (SQLite does not reorder it): the R*Tree, searched
    // with the box, must drive. Left to itself the planner preferred the (tenant, attr)
    // index of geo_index and probed the R*Tree once per located entity: 2.8 s at 1,000,000.
    // With one type selected, the id and the type check both come from the covering
    // entity_types(entity) index, so the wide entities rows are not touched per candidate.
    let single_type = match &q.types {
        Some(TypeSelector(alts)) => match alts.as_slice() {
            [one] => match one.as_slice() {
                [t] => Some(t.clone()),
                _ => None,
            },
            _ => None,
        },
        None => None,
    };
    let id_source = match &single_type {
        Some(_) => "CROSS JOIN entity_types t ON t.entity = g.entity AND t.tenant = ?5 AND t.type = ?7",
        None => "CROSS JOIN entities e ON e.rowid = g.entity",
    };
    let id_col = if single_type.is_some() { "t.id" } else { "e.id" };
    let sql = format!(
        "SELECT g.entity, {id_col}, r.min_lon, r.max_lon, r.min_lat, r.max_lat
         FROM geo_rtree r CROSS JOIN geo_index g ON g.id = r.id {id_source}
         WHERE r.max_lon >= ?1 AND r.min_lon <= ?2 AND r.max_lat >= ?3 AND r.min_lat <= ?4
           AND g.tenant = ?5 AND g.attr = ?6"
    );
    let mut params: Vec<Sql> = vec![
        Sql::Real(b.min_lon),
        Sql::Real(b.max_lon),
        Sql::Real(b.min_lat),
        Sql::Real(b.max_lat),
        Sql::Text(tenant.to_string()),
        Sql::Text(geo.property.clone()),
    ];
    if let Some(t) = single_type {
        params.push(Sql::Text(t));
    }
    let mut st = c.prepare_cached(&sql)?;
    let mut rows = st.query(rusqlite::params_from_iter(params.iter()))?;
    let near_point = match geo.rel {
        GeoRel::Near { .. } => reference_point(&geo.geometry),
        _ => None,
    };
    // (lower bound of the distance, id, rowid), one per entity.
    let mut candidates: Vec<(f64, String, i64)> = Vec::new();
    let mut seen = std::collections::HashMap::new();
    while let Some(row) = rows.next()? {
        let rowid: i64 = row.get(0)?;
        let id: String = row.get(1)?;
        let bbox = BBox { min_lon: row.get(2)?, max_lon: row.get(3)?, min_lat: row.get(4)?, max_lat: row.get(5)? };
        let lb = near_point.map(|p| distance_lower_bound(p, &bbox)).unwrap_or(0.0);
        match seen.get(&rowid) {
            Some(&k) => {
                let entry: &mut (f64, String, i64) = &mut candidates[k];
                entry.0 = entry.0.min(lb);
            }
            None => {
                seen.insert(rowid, candidates.len());
                candidates.push((lb, id, rowid));
            }
        }
    }
    candidates.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    let want = q.offset.saturating_add(q.limit);
    let mut doc_stmt = c.prepare_cached("SELECT doc FROM entities WHERE rowid = ?1")?;
    let mut found: Vec<(f64, Entity)> = Vec::new();
    // The exact distances of the matches so far, sorted, to know when to stop.
    let mut best: Vec<f64> = Vec::new();
    for (lb, id, rowid) in candidates {
        if !q.count && best.len() >= want {
            let kth = best[want - 1];
            if near_point.is_none() || lb > kth {
                break;
            }
        }
        let doc: Option<String> = doc_stmt.query_row([rowid], |r| r.get(0)).optional()?;
        let Some(doc) = doc else { continue };
        let e = decode(&id, &doc)?;
        let Some(e) = q.admit(e) else { continue };
        let d = if near_point.is_some() { geo.entity_distance_m(&e).unwrap_or(f64::INFINITY) } else { 0.0 };
        let pos = best.partition_point(|x| *x <= d);
        best.insert(pos, d);
        found.push((d, e));
    }
    found.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)));
    let total = found.len() as u64;
    let entities = found.into_iter().skip(q.offset).take(q.limit).map(|(_, e)| e).collect();
    Ok(QueryResult { entities, total: q.count.then_some(total) })
}

/// The (lon, lat) of a `near` query's Point.
fn reference_point(g: &serde_json::Value) -> Option<(f64, f64)> {
    let c = g.get("coordinates")?.as_array()?;
    Some((c.first()?.as_f64()?, c.get(1)?.as_f64()?))
}

/// A distance in metres that is never more than the true geodesic distance from `p` to
/// any point inside `b`: an equirectangular estimate to the nearest point of the box,
/// reduced by 2% and 5 m (for the R*Tree's 32-bit coordinates and the approximation,
/// good to well under 1% over the few kilometres a `near` box spans).
fn distance_lower_bound(p: (f64, f64), b: &BBox) -> f64 {
    let lon = p.0.clamp(b.min_lon, b.max_lon);
    let lat = p.1.clamp(b.min_lat, b.max_lat);
    let mean_lat = ((p.1 + lat) / 2.0).to_radians();
    let dx = (lon - p.0) * 111_320.0 * mean_lat.cos();
    let dy = (lat - p.1) * 110_574.0;
    ((dx * dx + dy * dy).sqrt() * 0.98 - 5.0).max(0.0)
}

/// `near` without a count: only the R*Tree's boxes are read up front (no joins); they are
/// ordered by the lower bound of their distance, and each is resolved to its entity
/// (tenant, GeoProperty, document) only when its turn comes — a page of 20 typically
/// reads a few dozen documents however dense the area.
fn run_near(
    c: &Connection,
    tenant: &str,
    q: &EntityQuery,
    geo: &GeoQuery,
    b: BBox,
    p: (f64, f64),
) -> Result<QueryResult, StoreError> {
    let mut st = c.prepare_cached(
        "SELECT id, min_lon, max_lon, min_lat, max_lat FROM geo_rtree
         WHERE max_lon >= ?1 AND min_lon <= ?2 AND max_lat >= ?3 AND min_lat <= ?4",
    )?;
    let mut boxes: Vec<(f64, i64)> = st
        .query_map(rusqlite::params![b.min_lon, b.max_lon, b.min_lat, b.max_lat], |r| {
            let bbox = BBox { min_lon: r.get(1)?, max_lon: r.get(2)?, min_lat: r.get(3)?, max_lat: r.get(4)? };
            Ok((distance_lower_bound(p, &bbox), r.get::<_, i64>(0)?))
        })?
        .collect::<Result<_, _>>()?;
    boxes.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut owner = c.prepare_cached("SELECT entity FROM geo_index WHERE id = ?1 AND tenant = ?2 AND attr = ?3")?;
    let mut doc_stmt = c.prepare_cached("SELECT id, doc FROM entities WHERE rowid = ?1")?;
    let want = q.offset.saturating_add(q.limit);
    let mut seen = std::collections::HashSet::new();
    let mut found: Vec<(f64, Entity)> = Vec::new();
    let mut best: Vec<f64> = Vec::new();
    for (lb, box_id) in boxes {
        if best.len() >= want && lb > best[want - 1] {
            break;
        }
        let entity: Option<i64> =
            owner.query_row(rusqlite::params![box_id, tenant, geo.property], |r| r.get(0)).optional()?;
        let Some(rowid) = entity else { continue };
        if !seen.insert(rowid) {
            continue;
        }
        let row: Option<(String, String)> = doc_stmt.query_row([rowid], |r| Ok((r.get(0)?, r.get(1)?))).optional()?;
        let Some((id, doc)) = row else { continue };
        let e = decode(&id, &doc)?;
        let Some(e) = q.admit(e) else { continue };
        let d = geo.entity_distance_m(&e).unwrap_or(f64::INFINITY);
        let pos = best.partition_point(|x| *x <= d);
        best.insert(pos, d);
        found.push((d, e));
    }
    found.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)));
    let entities = found.into_iter().skip(q.offset).take(q.limit).map(|(_, e)| e).collect();
    Ok(QueryResult { entities, total: None })
}
