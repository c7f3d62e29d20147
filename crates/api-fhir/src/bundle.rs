//! `transaction` and `batch` Bundles (`POST /fhir`).
//!
//! A **transaction** runs in one store transaction: entries are processed in the order
//! FHIR prescribes (DELETE, POST, PUT) except that Patients come before the other
//! resources once the deletes are done (the others are checked against them as they are
//! stored), `urn:uuid:` fullUrls of created resources are
//! replaced by their new `Type/id` in every reference of the Bundle, and if any entry
//! fails nothing is stored and the answer is that entry's error, its element paths
//! prefixed with `Bundle.entry[n]`. A **batch** processes each entry on its own (each
//! in its own transaction) and reports each entry's status in the response Bundle.
//! Entries may create (POST), update (PUT `Type/id`) and delete (DELETE `Type/id`). A
//! POST may carry `request.ifNoneExist` (conditional create: an existing match is used,
//! not duplicated), and a transaction's references may be conditional
//! (`Patient?identifier=…`), resolved before any entry is processed (see
//! [`crate::conditional`]). GET entries, conditional update and delete URLs, `ifNoneMatch`
//! and `ifModifiedSince` are not supported and are refused by name.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use chrono::{DateTime, Utc};
use kizuna_fhir::OperationOutcome;
use kizuna_store::{FhirRecord, Txn};
use serde_json::{json, Value};

use crate::access::Caller;
use crate::conditional::{self, Condition};
use crate::error::{bad, FhirError};
use crate::rest::{delete_audited, known_type, put_audited, query_pairs, write_txn};
use crate::write::{self, new_id};
use crate::{base_url, check_accept, fhir_response, parse_body, FhirState};

/// One parsed entry.
#[derive(Debug, Clone)]
struct Entry {
    index: usize,
    method: String,
    rtype: String,
    id: Option<String>,
    full_url: Option<String>,
    resource: Option<Value>,
    if_match: Option<u64>,
    /// `request.ifNoneExist` of a POST.
    if_none_exist: Option<String>,
    /// The criteria of a conditional update (`PUT Type?criteria`); the entry's `id` is
    /// set when it is resolved.
    condition: Option<String>,
}

/// `POST /fhir`: a transaction or batch Bundle.
pub async fn system(
    State(st): State<FhirState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, FhirError> {
    let caller = Caller::establish(&st, &headers).await?;
    let pairs = query_pairs(&uri);
    check_accept(&headers, pairs.iter().find(|(k, _)| k == "_format").map(|(_, v)| v.as_str()))?;
    let bundle = parse_body(&headers, &body)?;
    if bundle.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        return Err(bad("POST /fhir takes a Bundle of type transaction or batch"));
    }
    let kind = bundle.get("type").and_then(Value::as_str).unwrap_or("");
    let entries = parse_entries(&bundle, kind)?;
    let base = base_url(&headers);
    let now = Utc::now();
    match kind {
        "transaction" => {
            let c = caller.clone();
            let b = base.clone();
            let out = write_txn(&st, &caller, move |tx| transaction(tx, &c, entries, &b, now)).await?;
            Ok(fhir_response(StatusCode::OK, &out))
        }
        "batch" => {
            let mut results: Vec<(usize, Value)> = Vec::new();
            for e in entries {
                let index = e.index;
                let c = caller.clone();
                let b = base.clone();
                let r = write_txn(&st, &caller, move |tx| {
                    let mut e = e;
                    resolve_update(tx, &c, &mut e, now)?;
                    let existing = match_create(tx, &c, &e, now)?;
                    let mut refs = HashMap::new();
                    apply(tx, &c, e, &mut refs, &b, now, existing)
                })
                .await;
                let v = match r {
                    Ok(v) => v,
                    Err(err) => json!({"response": {
                        "status": status_line(err.status()),
                        "outcome": err.outcome().to_json(),
                    }}),
                };
                results.push((index, v));
            }
            results.sort_by_key(|(i, _)| *i);
            let out = json!({
                "resourceType": "Bundle",
                "id": new_id(),
                "type": "batch-response",
                "entry": results.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
            });
            Ok(fhir_response(StatusCode::OK, &out))
        }
        other => Err(bad(format!("Bundle.type '{other}' cannot be posted to /fhir; use transaction or batch"))),
    }
}

fn status_line(s: StatusCode) -> String {
    format!("{} {}", s.as_u16(), s.canonical_reason().unwrap_or(""))
}

fn parse_entries(bundle: &Value, kind: &str) -> Result<Vec<Entry>, FhirError> {
    let list = match bundle.get("entry") {
        None => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(bad("Bundle.entry must be an array")),
    };
    let mut out = Vec::new();
    for (i, e) in list.iter().enumerate() {
        let at = |m: String| bad(format!("Bundle.entry[{i}]: {m}"));
        let req = e.get("request").ok_or_else(|| at(format!("request is required in a {kind}")))?;
        let method =
            req.get("method").and_then(Value::as_str).ok_or_else(|| at("request.method is required".into()))?;
        let url = req.get("url").and_then(Value::as_str).ok_or_else(|| at("request.url is required".into()))?;
        if req.get("ifNoneMatch").is_some() || req.get("ifModifiedSince").is_some() {
            return Err(at("ifNoneMatch and ifModifiedSince (conditional reads) are not supported".into()));
        }
        let if_none_exist = match req.get("ifNoneExist") {
            None => None,
            Some(Value::String(c)) if method == "POST" => Some(c.clone()),
            Some(Value::String(_)) => {
                return Err(at("request.ifNoneExist belongs to a POST (conditional create)".into()))
            }
            Some(_) => return Err(at("request.ifNoneExist must be a string of search parameters".into())),
        };
        // `PUT Type?criteria`: a conditional update, resolved when the entry is processed.
        let (url, condition) = match url.split_once('?') {
            Some((path, criteria)) if method == "PUT" && !path.contains('/') => (path, Some(criteria.to_string())),
            Some(_) => {
                return Err(at(format!(
                    "conditional URL '{url}' is not supported for {method} (conditional delete); \
                     conditional create uses request.ifNoneExist, conditional update PUT Type?criteria"
                )));
            }
            None => (url, None),
        };
        let if_match =
            write::parse_if_match(req.get("ifMatch").and_then(Value::as_str)).map_err(|e| at(e.to_string()))?;
        let parts: Vec<&str> = url.trim_start_matches('/').split('/').collect();
        let (rtype, id) = match (method, parts.as_slice()) {
            ("POST", [t]) => (t.to_string(), None),
            ("PUT", [t]) if condition.is_some() => (t.to_string(), None),
            ("PUT" | "DELETE", [t, id]) => (t.to_string(), Some(id.to_string())),
            ("GET" | "HEAD" | "PATCH", _) => {
                return Err(at(format!("{method} entries are not supported in a {kind} on this server")));
            }
            _ => {
                return Err(at(format!(
                "request {method} {url} is not a create (POST Type), update (PUT Type/id) or delete (DELETE Type/id)"
            )))
            }
        };
        known_type(&rtype).map_err(|e| at(e.to_string()))?;
        let resource = e.get("resource").cloned();
        if method != "DELETE" && resource.is_none() {
            return Err(at(format!("a {method} entry needs a resource")));
        }
        if let (Some(r), "PUT", None) = (&resource, method, &condition) {
            if r.get("id").and_then(Value::as_str) != id.as_deref() {
                return Err(at("resource.id must equal the id in request.url".into()));
            }
        }
        out.push(Entry {
            index: i,
            method: method.to_string(),
            rtype,
            id,
            full_url: e.get("fullUrl").and_then(Value::as_str).map(str::to_string),
            resource,
            if_match,
            if_none_exist,
            condition,
        });
    }
    Ok(out)
}

/// Replaces references to `urn:uuid:` fullUrls by the resources' new `Type/id`.
fn rewrite(v: &mut Value, refs: &HashMap<String, String>) {
    match v {
        Value::Object(o) => {
            for (k, child) in o.iter_mut() {
                if k == "reference" {
                    if let Some(new) = child.as_str().and_then(|s| refs.get(s)) {
                        *child = json!(new);
                        continue;
                    }
                }
                rewrite(child, refs);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|c| rewrite(c, refs)),
        _ => {}
    }
}

/// `Observation.subject` → `subject` (the resource type is not an element of `resource`).
fn inner(x: &str) -> &str {
    match x.split_once('.') {
        Some((head, rest)) if head.chars().next().is_some_and(|c| c.is_ascii_uppercase()) => rest,
        _ => x,
    }
}

fn prefix_error(i: usize, e: FhirError) -> FhirError {
    let at = format!("Bundle.entry[{i}].resource");
    match e {
        FhirError::Invalid(mut o) => {
            for issue in &mut o.issue {
                for x in &mut issue.expression {
                    *x = format!("{at}.{}", inner(x));
                }
                if issue.expression.is_empty() {
                    issue.expression.push(at.clone());
                }
            }
            FhirError::Invalid(o)
        }
        FhirError::Unprocessable(x, d) => {
            FhirError::Unprocessable(format!("{at}.{}", inner(&x)), format!("Bundle.entry[{i}]: {d}"))
        }
        FhirError::BadRequest(d) => FhirError::BadRequest(format!("Bundle.entry[{i}]: {d}")),
        FhirError::NotAllowed(d) => FhirError::NotAllowed(format!("Bundle.entry[{i}]: {d}")),
        FhirError::Conflict(s, d) => FhirError::Conflict(s, format!("Bundle.entry[{i}]: {d}")),
        other => other,
    }
}

/// One entry inside a transaction; its response entry.
fn apply(
    tx: &mut dyn Txn,
    caller: &Caller,
    e: Entry,
    refs: &mut HashMap<String, String>,
    base: &str,
    now: DateTime<Utc>,
    existing: Option<FhirRecord>,
) -> Result<Value, FhirError> {
    let i = e.index;
    if let Some(r) = existing {
        // A conditional create that matched: nothing written, the match named. Its
        // content is not returned here (reading it is a read, decided on its own).
        return Ok(json!({
            "fullUrl": format!("{base}/{}/{}", r.rtype, r.id),
            "response": {
                "status": "200 OK",
                "location": format!("{}/{}/_history/{}", r.rtype, r.id, r.version),
                "etag": format!("W/\"{}\"", r.version),
                "lastModified": r.last_updated,
                "outcome": OperationOutcome::ok(format!(
                    "{}/{} matches ifNoneExist; nothing was created", r.rtype, r.id
                )).to_json(),
            },
        }));
    }
    match e.method.as_str() {
        "DELETE" => {
            let id = e.id.unwrap_or_default();
            let rec = delete_audited(tx, caller, &e.rtype, &id, e.if_match, now).map_err(|x| prefix_error(i, x))?;
            Ok(json!({"response": {"status": if rec.is_some() { "200 OK" } else { "204 No Content" }}}))
        }
        method => {
            let id = match (method, e.id) {
                ("PUT", Some(id)) => id,
                _ => refs
                    .get(e.full_url.as_deref().unwrap_or(""))
                    .and_then(|r| r.split('/').nth(1))
                    .map(str::to_string)
                    .unwrap_or_else(new_id),
            };
            let mut resource = e.resource.unwrap_or(Value::Null);
            rewrite(&mut resource, refs);
            if method == "POST" {
                if let Some(o) = resource.as_object_mut() {
                    o.remove("id");
                }
            }
            let w =
                put_audited(tx, caller, &e.rtype, &id, resource, e.if_match, now).map_err(|x| prefix_error(i, x))?;
            let r = &w.record;
            Ok(json!({
                "fullUrl": format!("{base}/{}/{}", r.rtype, r.id),
                "resource": r.resource,
                "response": {
                    "status": if w.created { "201 Created" } else { "200 OK" },
                    "location": format!("{}/{}/_history/{}", r.rtype, r.id, r.version),
                    "etag": format!("W/\"{}\"", r.version),
                    "lastModified": r.last_updated,
                },
            }))
        }
    }
}

/// The match of an entry's `ifNoneExist`, if it has one and it matches one resource;
/// several matches fail the entry (412).
fn match_create(
    tx: &mut dyn Txn,
    caller: &Caller,
    e: &Entry,
    now: DateTime<Utc>,
) -> Result<Option<FhirRecord>, FhirError> {
    match &e.if_none_exist {
        None => Ok(None),
        Some(criteria) => Condition::new(format!("Bundle.entry[{}].request.ifNoneExist", e.index), criteria.as_str())?
            .find_one(tx, caller, &e.rtype, now),
    }
}

/// Resolves a conditional update entry (`PUT Type?criteria`) to the id it updates: the
/// one match (the resource's own id, if it has one, must be the same: 400), or — no
/// match — the resource's id or a new one (an update as create); several: 412.
fn resolve_update(tx: &mut dyn Txn, caller: &Caller, e: &mut Entry, now: DateTime<Utc>) -> Result<(), FhirError> {
    let Some(criteria) = &e.condition else {
        return Ok(());
    };
    let condition = Condition::new(format!("Bundle.entry[{}].request.url", e.index), criteria.as_str())?;
    // A PUT entry always has a resource (parse_entries).
    let Some(resource) = e.resource.as_mut() else {
        return Err(bad(format!("Bundle.entry[{}]: a PUT entry needs a resource", e.index)));
    };
    e.id = Some(condition.update_id(tx, caller, &e.rtype, resource, now)?);
    Ok(())
}

/// Every `reference` string below `v`.
fn references<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(o) => {
            for (k, child) in o {
                match (k.as_str(), child) {
                    ("reference", Value::String(r)) => out.push(r),
                    _ => references(child, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|c| references(c, out)),
        _ => {}
    }
}

/// Resolves the conditional references (`Type?criteria`) of a transaction's resources
/// into `refs`: each must match exactly one resource (none: 422 naming the entry;
/// several: 412).
fn resolve_conditional_references(
    tx: &mut dyn Txn,
    caller: &Caller,
    entries: &[Entry],
    refs: &mut HashMap<String, String>,
    now: DateTime<Utc>,
) -> Result<(), FhirError> {
    for e in entries {
        let Some(resource) = &e.resource else { continue };
        let mut found = Vec::new();
        references(resource, &mut found);
        for reference in found {
            if refs.contains_key(reference) {
                continue;
            }
            let Some((rtype, _)) = conditional::as_reference(reference) else { continue };
            let what = format!("Bundle.entry[{}]: conditional reference", e.index);
            // The criteria are read from after the `?` (errors quote the whole reference).
            let Some(r) = Condition::new(what.clone(), reference)?.find_one(tx, caller, rtype, now)? else {
                return Err(FhirError::Unprocessable(
                    format!("Bundle.entry[{}].resource", e.index),
                    format!("{what} '{reference}' matches no resource this caller may write about"),
                ));
            };
            refs.insert(reference.to_string(), format!("{}/{}", r.rtype, r.id));
        }
    }
    Ok(())
}

/// A whole transaction: all or nothing.
fn transaction(
    tx: &mut dyn Txn,
    caller: &Caller,
    mut entries: Vec<Entry>,
    base: &str,
    now: DateTime<Utc>,
) -> Result<Value, FhirError> {
    // Conditional creates are decided first, against the store as it was before the
    // Bundle: a match stands in for the entry.
    let mut matched: HashMap<usize, FhirRecord> = HashMap::new();
    for e in &mut entries {
        if let Some(r) = match_create(tx, caller, e, now)? {
            matched.insert(e.index, r);
        }
        resolve_update(tx, caller, e, now)?;
    }
    // New ids for every created resource, so references between entries resolve in
    // whatever order they appear; a matched entry's fullUrl stands for its match.
    let mut refs: HashMap<String, String> = HashMap::new();
    for e in &entries {
        if e.method == "POST" || e.condition.is_some() {
            if let Some(f) = &e.full_url {
                let target = match (matched.get(&e.index), &e.id) {
                    (Some(r), _) => format!("{}/{}", r.rtype, r.id),
                    (None, Some(id)) => format!("{}/{id}", e.rtype),
                    (None, None) => format!("{}/{}", e.rtype, new_id()),
                };
                if refs.insert(f.clone(), target).is_some() {
                    return Err(bad(format!("Bundle.entry[{}]: fullUrl '{f}' occurs twice", e.index)));
                }
            }
        }
    }
    resolve_conditional_references(tx, caller, &entries, &mut refs, now)?;
    let order = |m: &str| match m {
        "DELETE" => 0,
        "POST" => 1,
        _ => 2,
    };
    // After the deletes, Patients first (created or updated, conditionally or not): the
    // other resources reference them and are checked against them as they are stored.
    entries.sort_by_key(|e| (order(&e.method) > 0, e.rtype != "Patient", order(&e.method), e.index));
    let mut results: Vec<(usize, Value)> = Vec::new();
    for e in entries {
        let i = e.index;
        let existing = matched.remove(&i);
        results.push((i, apply(tx, caller, e, &mut refs, base, now, existing)?));
    }
    results.sort_by_key(|(i, _)| *i);
    Ok(json!({
        "resourceType": "Bundle",
        "id": new_id(),
        "type": "transaction-response",
        "entry": results.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_references() {
        let mut refs = HashMap::new();
        refs.insert("urn:uuid:1".to_string(), "Patient/abc".to_string());
        let mut v = json!({"subject": {"reference": "urn:uuid:1"}, "x": [{"reference": "urn:uuid:2"}]});
        rewrite(&mut v, &refs);
        assert_eq!(v["subject"]["reference"], "Patient/abc");
        assert_eq!(v["x"][0]["reference"], "urn:uuid:2");
    }

    #[test]
    fn entries_are_checked() {
        let b = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"request": {"method": "GET", "url": "Patient/1"}}]});
        assert!(parse_entries(&b, "transaction").unwrap_err().to_string().contains("entry[0]"));
        let b = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient?identifier=x"}}]});
        assert!(parse_entries(&b, "transaction").is_err());
        let b = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": {"resourceType": "Patient", "id": "2"}, "request": {"method": "PUT", "url": "Patient/1"}}]});
        assert!(parse_entries(&b, "transaction").is_err());
    }
}
