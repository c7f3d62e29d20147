//! The RESTful interactions: read, vread, create, update, delete, history, search.
//!
//! Every read decides each resource with [`Caller::decide`]; a resource the caller may
//! not see answers 404 exactly like a missing one (a 403 would reveal that the person
//! has, say, a record at a clinic). Every decision about personal data, and every write
//! of it, is appended to the tenant's audit chain before the response leaves.

use std::collections::HashSet;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::Response;
use chrono::{DateTime, Utc};
use kizuna_consent::{Action, AuditDecision, AuditEntry};
use kizuna_fhir::search::{is_stored, param, values_at};
use kizuna_fhir::OperationOutcome;
use kizuna_store::{FhirRecord, Txn};
use serde_json::{json, Value};

use crate::access::{record, Caller, Ledger, Verdict};
use crate::conditional::Condition;
use crate::error::{bad, FhirError};
use crate::query::{parse, SearchRequest};
use crate::write::{self, instant, new_id, parse_if_match, Written};
use crate::{base_url, check_accept, fhir_response, parse_body, FhirState};

/// The query pairs of a URI.
pub fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    uri.query().map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default()
}

fn format_of(pairs: &[(String, String)]) -> Option<&str> {
    pairs.iter().find(|(k, _)| k == "_format").map(|(_, v)| v.as_str())
}

/// Checks the type is one this server serves.
pub fn known_type(rtype: &str) -> Result<(), FhirError> {
    if is_stored(rtype) || rtype == "Consent" {
        Ok(())
    } else {
        Err(FhirError::NotFound(format!(
            "resource type '{rtype}' is not supported by this server (see /fhir/metadata)"
        )))
    }
}

fn prefer(headers: &HeaderMap, key: &str) -> Option<String> {
    headers.get("prefer").and_then(|v| v.to_str().ok()).and_then(|p| {
        p.split([',', ';']).map(str::trim).find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=').map(str::to_string))
    })
}

/// The headers of a resource version: ETag, Last-Modified, Location (if asked).
fn version_headers(resp: &mut Response, rec: &FhirRecord, base: &str, location: bool) {
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("W/\"{}\"", rec.version)) {
        h.insert(header::ETAG, v);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(&rec.last_updated) {
        if let Ok(v) = HeaderValue::from_str(&t.with_timezone(&Utc).format("%a, %d %b %Y %H:%M:%S GMT").to_string()) {
            h.insert(header::LAST_MODIFIED, v);
        }
    }
    if location {
        if let Ok(v) = HeaderValue::from_str(&format!("{base}/{}/{}/_history/{}", rec.rtype, rec.id, rec.version)) {
            h.insert(header::LOCATION, v);
        }
    }
}

/// The audit entry of a write of personal data (allowed: the writer's role is the basis).
pub fn write_audit(caller: &Caller, rec: &FhirRecord, now: DateTime<Utc>) -> Option<AuditEntry> {
    let subject = rec.subject.clone()?;
    let c = &caller.access.request.caller;
    Some(AuditEntry {
        tenant: caller.tenant.clone(),
        at: instant(now),
        actor: c.actor().to_string(),
        role: c.role,
        subject: Some(subject),
        resource: format!("{}/{}", rec.rtype, rec.id),
        action: Action::Write,
        purpose: caller.access.request.purpose.clone(),
        decision: AuditDecision { allowed: true, basis: Some(format!("writer:{}", c.role.as_str())), reason: None },
    })
}

/// Decides one stored resource (version) for `caller` and records the decision before
/// the answer leaves; `Ok(true)` if it may be returned.
pub async fn decide_one(st: &FhirState, caller: &Caller, rec: &FhirRecord, key: String) -> Result<bool, FhirError> {
    record_one(st, caller, key, caller.decide_record(rec, Utc::now())).await
}

/// Records one verdict about `key` before the answer leaves; `Ok(true)` if the
/// resource may be returned.
pub async fn record_one(st: &FhirState, caller: &Caller, key: String, v: Verdict) -> Result<bool, FhirError> {
    let ledger = Ledger::default();
    let allowed = v.note(&ledger, key.clone());
    let (audits, provisions) = ledger.settle([key.as_str()]);
    record(st, &caller.tenant, audits, provisions).await?;
    Ok(allowed)
}

/// Runs a write closure for `caller` and waits for its durable commit.
pub async fn write_txn<T, F>(st: &FhirState, caller: &Caller, f: F) -> Result<T, FhirError>
where
    T: Send + 'static,
    F: FnOnce(&mut dyn Txn) -> Result<T, FhirError> + Send + 'static,
{
    let store = st.api.store.clone();
    let tenant = caller.tenant.clone();
    tokio::task::spawn_blocking(move || store.write(&tenant, f))
        .await
        .map_err(|_| FhirError::Store(kizuna_store::StoreError::Closed))?
}

/// Runs a read on a blocking thread.
pub async fn read_store<T, F>(st: &FhirState, f: F) -> Result<T, FhirError>
where
    T: Send + 'static,
    F: FnOnce(&kizuna_store::Store) -> Result<T, FhirError> + Send + 'static,
{
    let store = st.api.store.clone();
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|_| FhirError::Store(kizuna_store::StoreError::Closed))?
}

/// Stores one resource for `caller` in `tx`, with its write audit.
pub fn put_audited(
    tx: &mut dyn Txn,
    caller: &Caller,
    rtype: &str,
    id: &str,
    resource: Value,
    if_match: Option<u64>,
    now: DateTime<Utc>,
) -> Result<Written, FhirError> {
    let w = write::put(tx, caller, rtype, id, resource, if_match, now)?;
    if let Some(a) = write_audit(caller, &w.record, now) {
        tx.append_audit(vec![a])?;
    }
    Ok(w)
}

/// Deletes one resource for `caller` in `tx`, with its write audit.
pub fn delete_audited(
    tx: &mut dyn Txn,
    caller: &Caller,
    rtype: &str,
    id: &str,
    if_match: Option<u64>,
    now: DateTime<Utc>,
) -> Result<Option<FhirRecord>, FhirError> {
    let rec = write::delete(tx, caller, rtype, id, if_match, now)?;
    if let Some(a) = rec.as_ref().and_then(|r| write_audit(caller, r, now)) {
        tx.append_audit(vec![a])?;
    }
    Ok(rec)
}

/// The response to a create or update, honouring `Prefer: return=`.
fn written_response(headers: &HeaderMap, base: &str, w: &Written) -> Response {
    let status = if w.created { StatusCode::CREATED } else { StatusCode::OK };
    let body = match prefer(headers, "return").as_deref() {
        Some("minimal") => None,
        Some("OperationOutcome") => Some(
            OperationOutcome::ok(format!(
                "{}/{} version {} stored{}",
                w.record.rtype,
                w.record.id,
                w.record.version,
                if w.alerts.is_empty() {
                    String::new()
                } else {
                    format!("; {} alert resource(s) raised", w.alerts.len())
                }
            ))
            .to_json(),
        ),
        _ => w.record.resource.clone(),
    };
    let mut resp = match body {
        Some(b) => fhir_response(status, &b),
        None => {
            let mut r = Response::new(axum::body::Body::empty());
            *r.status_mut() = status;
            r
        }
    };
    version_headers(&mut resp, &w.record, base, true);
    resp
}

/// The start of every instance interaction: a type this server serves, the caller,
/// an acceptable response format.
pub async fn begin(st: &FhirState, rtype: &str, headers: &HeaderMap, uri: &Uri) -> Result<Caller, FhirError> {
    known_type(rtype)?;
    let caller = Caller::establish(st, headers).await?;
    check_accept(headers, format_of(&query_pairs(uri)))?;
    Ok(caller)
}

/// `GET /fhir/{type}`: search; `GET /fhir/$op`: a system operation.
pub async fn type_get(
    State(st): State<FhirState>,
    Path(rtype): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, FhirError> {
    if let Some(op) = rtype.strip_prefix('$') {
        return crate::ops::system_op(&st, op, &headers, &uri, None).await;
    }
    let pairs = query_pairs(&uri);
    search(&st, &rtype, &headers, pairs).await
}

/// `POST /fhir/{type}/_search` (form body).
pub async fn search_post(
    State(st): State<FhirState>,
    Path(rtype): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, FhirError> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|h| h.to_str().ok()).unwrap_or("");
    let mut pairs = query_pairs(&uri);
    if !body.is_empty() {
        if !ct.starts_with("application/x-www-form-urlencoded") {
            return Err(FhirError::Media(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "POST _search takes application/x-www-form-urlencoded".into(),
            ));
        }
        pairs.extend(form_urlencoded::parse(&body).into_owned());
    }
    search(&st, &rtype, &headers, pairs).await
}

/// `POST /fhir/{type}`: create; `POST /fhir/$op`: a system operation.
pub async fn type_post(
    State(st): State<FhirState>,
    Path(rtype): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, FhirError> {
    if let Some(op) = rtype.strip_prefix('$') {
        return crate::ops::system_op(&st, op, &headers, &uri, Some(body)).await;
    }
    let caller = begin(&st, &rtype, &headers, &uri).await?;
    let condition = Condition::of_request(&headers, &uri)?;
    let resource = parse_body(&headers, &body)?;
    let base = base_url(&headers);
    let id = new_id();
    let now = Utc::now();
    let c = caller.clone();
    let outcome = write_txn(&st, &caller, move |tx| {
        if let Some(condition) = &condition {
            if let Some(existing) = condition.find_one(tx, &c, &rtype, now)? {
                return Ok(Err(existing));
            }
        }
        let mut resource = resource;
        // A create ignores any id the client sent (FHIR: the server assigns it).
        if let Some(o) = resource.as_object_mut() {
            o.remove("id");
        }
        put_audited(tx, &c, &rtype, &id, resource, None, now).map(Ok)
    })
    .await?;
    match outcome {
        Ok(w) => Ok(written_response(&headers, &base, &w)),
        Err(existing) => existing_response(&st, &caller, &headers, &base, &existing).await,
    }
}

/// The answer to a conditional create that matched `existing`: `200 OK`, nothing
/// written, `Location` and `ETag` of the match. The body is the resource only if the
/// caller's read decision releases it (decided and audited like a read); otherwise an
/// OperationOutcome saying that it exists.
async fn existing_response(
    st: &FhirState,
    caller: &Caller,
    headers: &HeaderMap,
    base: &str,
    existing: &FhirRecord,
) -> Result<Response, FhirError> {
    let key = format!("{}/{}", existing.rtype, existing.id);
    let said = OperationOutcome::ok(format!(
        "{key} matches the condition; nothing was created (version {} is current)",
        existing.version
    ))
    .to_json();
    let body = match prefer(headers, "return").as_deref() {
        Some("minimal") => None,
        Some("OperationOutcome") => Some(said),
        _ if decide_one(st, caller, existing, key).await? => existing.resource.clone().or(Some(said)),
        _ => Some(said),
    };
    let mut resp = match body {
        Some(b) => fhir_response(StatusCode::OK, &b),
        None => {
            let mut r = Response::new(axum::body::Body::empty());
            *r.status_mut() = StatusCode::OK;
            r
        }
    };
    version_headers(&mut resp, existing, base, true);
    Ok(resp)
}

/// `POST /fhir/{type}/{id}`: not an interaction.
pub async fn instance_post(Path((rtype, _id)): Path<(String, String)>) -> Result<Response, FhirError> {
    Err(FhirError::NotAllowed(format!("POST on a {rtype} instance is not a FHIR interaction; use PUT to update")))
}

/// `GET /fhir/{type}/{id}`: read.
pub async fn instance_get(
    State(st): State<FhirState>,
    Path((rtype, id)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, FhirError> {
    let caller = begin(&st, &rtype, &headers, &uri).await?;
    if rtype == "Consent" {
        return crate::ops::consent_read(&st, &caller, &id).await;
    }
    let (t, r, i) = (caller.tenant.clone(), rtype.clone(), id.clone());
    let rec = read_store(&st, move |s| Ok(s.fhir_read(&t, &r, &i)?)).await?;
    let missing = || FhirError::NotFound(format!("{rtype}/{id} not found"));
    let Some(rec) = rec else {
        return Err(missing());
    };
    if !decide_one(&st, &caller, &rec, format!("{rtype}/{id}")).await? {
        return Err(missing());
    }
    let Some(resource) = rec.resource.as_ref() else {
        return Err(FhirError::Gone(format!("{rtype}/{id} was deleted (version {})", rec.version)));
    };
    let mut resp = fhir_response(StatusCode::OK, resource);
    version_headers(&mut resp, &rec, &base_url(&headers), false);
    Ok(resp)
}

/// `PUT /fhir/{type}/{id}`: update (or create with this id).
pub async fn update(
    State(st): State<FhirState>,
    Path((rtype, id)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, FhirError> {
    let caller = begin(&st, &rtype, &headers, &uri).await?;
    if !kizuna_fhir::validate::is_id(&id) {
        return Err(bad(format!("'{id}' is not a valid FHIR id ([A-Za-z0-9-.], 1-64 characters)")));
    }
    let resource = parse_body(&headers, &body)?;
    if resource.get("id").is_none() {
        return Err(bad("an update must carry the resource's id in the body (FHIR R4 3.1.0.4)"));
    }
    let if_match = parse_if_match(headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()))?;
    let base = base_url(&headers);
    let now = Utc::now();
    let c = caller.clone();
    let w = write_txn(&st, &caller, move |tx| {
        if rtype != "Flag" {
            return put_audited(tx, &c, &rtype, &id, resource, if_match, now);
        }
        let w = write::update_flag(tx, &c, &id, resource, if_match, now)?;
        if let Some(a) = write_audit(&c, &w.record, now) {
            tx.append_audit(vec![a])?;
        }
        Ok(w)
    })
    .await?;
    Ok(written_response(&headers, &base, &w))
}

/// `PUT /fhir/{type}?<search>`: a conditional update (see [`crate::conditional`]).
pub async fn conditional_update(
    State(st): State<FhirState>,
    Path(rtype): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, FhirError> {
    let caller = begin(&st, &rtype, &headers, &uri).await?;
    let criteria = uri.query().unwrap_or("").to_string();
    let condition = Condition::new("the update's search parameters", criteria.as_str()).map_err(|e| match e {
        FhirError::BadRequest(d) if criteria.is_empty() => {
            FhirError::BadRequest(format!("PUT /fhir/{rtype} needs search parameters (conditional update): {d}"))
        }
        other => other,
    })?;
    let resource = parse_body(&headers, &body)?;
    let if_match = parse_if_match(headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()))?;
    let base = base_url(&headers);
    let now = Utc::now();
    let c = caller.clone();
    let w = write_txn(&st, &caller, move |tx| {
        let mut resource = resource;
        let id = condition.update_id(tx, &c, &rtype, &mut resource, now)?;
        put_audited(tx, &c, &rtype, &id, resource, if_match, now)
    })
    .await?;
    Ok(written_response(&headers, &base, &w))
}

/// `DELETE /fhir/{type}/{id}`.
pub async fn delete(
    State(st): State<FhirState>,
    Path((rtype, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, FhirError> {
    known_type(&rtype)?;
    let caller = Caller::establish(&st, &headers).await?;
    let if_match = parse_if_match(headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()))?;
    let now = Utc::now();
    let c = caller.clone();
    let (r, i) = (rtype.clone(), id.clone());
    let deleted = write_txn(&st, &caller, move |tx| delete_audited(tx, &c, &r, &i, if_match, now)).await?;
    let msg = match &deleted {
        Some(rec) => format!("{rtype}/{id} deleted (version {})", rec.version),
        None => format!("{rtype}/{id} did not exist; nothing to delete"),
    };
    let mut resp = fhir_response(StatusCode::OK, &OperationOutcome::ok(msg).to_json());
    if let Some(rec) = &deleted {
        version_headers(&mut resp, rec, &base_url(&headers), false);
    }
    Ok(resp)
}

/// `GET /fhir/{type}/{id}/_history`.
pub async fn history(
    State(st): State<FhirState>,
    Path((rtype, id)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, FhirError> {
    let caller = begin(&st, &rtype, &headers, &uri).await?;
    let (t, r, i) = (caller.tenant.clone(), rtype.clone(), id.clone());
    let versions = read_store(&st, move |s| Ok(s.fhir_history(&t, &r, &i)?)).await?;
    let now = Utc::now();
    let ledger = Ledger::default();
    let mut shown = Vec::new();
    for rec in versions {
        let key = format!("{rtype}/{id}/_history/{}", rec.version);
        let v = caller.decide_record(&rec, now);
        let allowed = v.note(&ledger, key.clone());
        if allowed {
            shown.push((key, rec));
        }
    }
    let keys: Vec<String> = shown.iter().map(|(k, _)| k.clone()).collect();
    let (audits, provisions) = ledger.settle(keys.iter().map(String::as_str));
    record(&st, &caller.tenant, audits, provisions).await?;
    if shown.is_empty() {
        return Err(FhirError::NotFound(format!("{rtype}/{id} not found")));
    }
    let base = base_url(&headers);
    let entries: Vec<Value> = shown.iter().map(|(_, rec)| history_entry(&base, rec)).collect();
    let bundle = json!({
        "resourceType": "Bundle",
        "id": new_id(),
        "type": "history",
        "total": entries.len(),
        "link": [{"relation": "self", "url": format!("{base}/{rtype}/{id}/_history")}],
        "entry": entries,
    });
    Ok(fhir_response(StatusCode::OK, &bundle))
}

fn history_entry(base: &str, rec: &FhirRecord) -> Value {
    let url = format!("{}/{}", rec.rtype, rec.id);
    let (method, status) = match (rec.deleted, rec.version) {
        (true, _) => ("DELETE", "200 OK"),
        (false, 1) => ("POST", "201 Created"),
        (false, _) => ("PUT", "200 OK"),
    };
    let mut e = json!({
        "fullUrl": format!("{base}/{url}"),
        "request": {"method": method, "url": if method == "POST" { rec.rtype.clone() } else { url.clone() }},
        "response": {"status": status, "etag": format!("W/\"{}\"", rec.version), "lastModified": rec.last_updated},
    });
    if let (Some(r), Some(o)) = (&rec.resource, e.as_object_mut()) {
        o.insert("resource".into(), r.clone());
    }
    e
}

/// `GET /fhir/{type}/{id}/_history/{vid}`.
pub async fn vread(
    State(st): State<FhirState>,
    Path((rtype, id, vid)): Path<(String, String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, FhirError> {
    let caller = begin(&st, &rtype, &headers, &uri).await?;
    let version: u64 = vid.parse().map_err(|_| bad(format!("version '{vid}' is not a number")))?;
    let (t, r, i) = (caller.tenant.clone(), rtype.clone(), id.clone());
    let rec = read_store(&st, move |s| Ok(s.fhir_vread(&t, &r, &i, version)?)).await?;
    let missing = || FhirError::NotFound(format!("{rtype}/{id}/_history/{vid} not found"));
    let Some(rec) = rec else {
        return Err(missing());
    };
    if !decide_one(&st, &caller, &rec, format!("{rtype}/{id}/_history/{vid}")).await? {
        return Err(missing());
    }
    let Some(resource) = rec.resource.as_ref() else {
        return Err(FhirError::Gone(format!("version {vid} of {rtype}/{id} is a delete")));
    };
    let mut resp = fhir_response(StatusCode::OK, resource);
    version_headers(&mut resp, &rec, &base_url(&headers), false);
    Ok(resp)
}

/// A search, decided resource by resource, as a searchset Bundle.
pub async fn search(
    st: &FhirState,
    rtype: &str,
    headers: &HeaderMap,
    pairs: Vec<(String, String)>,
) -> Result<Response, FhirError> {
    known_type(rtype)?;
    let caller = Caller::establish(st, headers).await?;
    check_accept(headers, format_of(&pairs))?;
    let strict = prefer(headers, "handling").as_deref() == Some("strict");
    if rtype == "Consent" {
        return crate::ops::consent_search(st, &caller, headers, &pairs).await;
    }
    let mut req = parse(rtype, &pairs, strict)?;
    let now = Utc::now();
    req.search.subjects = caller.search_scope(now);
    let bundle = run_search(st, &caller, headers, req, now).await?;
    Ok(fhir_response(StatusCode::OK, &bundle))
}

/// Most resources one `_revinclude` adds to a page.
const MAX_REVINCLUDE: usize = 1_000;

/// Most targets one chained parameter may match (the search's clause lists them all).
const MAX_CHAIN: usize = 10_000;

/// Resolves a chained parameter to the target resources (`Patient/<id>`) that match it
/// and that `caller` may read — each decided and noted in `ledger`, so a chain cannot
/// reveal what a read would not (a Patient's name or identifier behind an Observation
/// the caller may see).
fn resolve_chain(
    s: &kizuna_store::Store,
    caller: &Caller,
    tenant: &str,
    ch: &crate::query::Chain,
    subjects: Option<Vec<String>>,
    ledger: &Ledger,
    now: DateTime<Utc>,
) -> Result<Vec<String>, FhirError> {
    let inner =
        kizuna_store::FhirSearch { rtype: ch.target.clone(), clauses: vec![ch.inner.clone()], sort: vec![], subjects };
    let mut keys: Vec<String> = Vec::new();
    s.fhir_search(tenant, &inner, 0, 0, &mut |hit| {
        let allowed = caller.admit(&ch.target, hit, ledger, now);
        if allowed {
            keys.push(format!("{}/{}", ch.target, hit.id));
        }
        allowed
    })?;
    if keys.len() > MAX_CHAIN {
        return Err(bad(format!(
            "{}.{}: the chain matches {} {} resources, more than {MAX_CHAIN}; narrow it",
            ch.param,
            ch.inner.param,
            keys.len(),
            ch.target
        )));
    }
    Ok(keys)
}

/// The clause "`param` references one of `keys`".
fn references_one_of(param: &str, keys: &[String]) -> kizuna_store::FhirClause {
    let any = keys.iter().cloned().map(kizuna_store::FhirMatch::Exact).collect();
    kizuna_store::FhirClause { param: param.to_string(), any, missing: None }
}

/// Runs a parsed search for `caller`: the page, `_include`s, the audit, the Bundle.
pub async fn run_search(
    st: &FhirState,
    caller: &Caller,
    headers: &HeaderMap,
    req: SearchRequest,
    now: DateTime<Utc>,
) -> Result<Value, FhirError> {
    let rtype = req.search.rtype.clone();
    let (c, q, t) = (caller.clone(), req.search.clone(), caller.tenant.clone());
    let chains = req.chains.clone();
    let (offset, count) = (req.offset, if req.summary_count { 0 } else { req.count });
    let (page, mut ledger, chained) = read_store(st, move |s| {
        let ledger = Ledger::default();
        let mut q = q;
        let mut chained: Vec<String> = Vec::new();
        for ch in &chains {
            let keys = resolve_chain(s, &c, &t, ch, q.subjects.clone(), &ledger, now)?;
            if keys.is_empty() {
                return Ok((kizuna_store::FhirPage { records: Vec::new(), total: 0 }, ledger, chained));
            }
            q.clauses.push(references_one_of(&ch.param, &keys));
            chained.extend(keys);
        }
        let rt = q.rtype.clone();
        let page = s.fhir_search(&t, &q, offset, count, &mut |hit| c.admit(&rt, hit, &ledger, now))?;
        Ok((page, ledger, chained))
    })
    .await?;
    let base = base_url(headers);
    let mut warnings: Vec<String> = Vec::new();
    let mut returned: Vec<String> = page.records.iter().map(|r| format!("{}/{}", r.rtype, r.id)).collect();
    let mut entries: Vec<Value> = page
        .records
        .iter()
        .filter_map(|r| {
            let res = r.resource.clone()?;
            Some(json!({"fullUrl": format!("{base}/{}/{}", r.rtype, r.id), "resource": res, "search": {"mode": "match"}}))
        })
        .collect();
    // _include: referenced resources, each decided.
    if !req.includes.is_empty() {
        let mut wanted: Vec<String> = Vec::new();
        for r in &page.records {
            let Some(res) = &r.resource else { continue };
            for (p, target) in &req.includes {
                let Some(def) = param(&rtype, p) else { continue };
                for path in def.paths {
                    for v in values_at(res, path) {
                        if let Some(reference) = v.get("reference").and_then(Value::as_str) {
                            let ok_target = target
                                .as_deref()
                                .or(def.target)
                                .is_none_or(|t| reference.starts_with(&format!("{t}/")));
                            if ok_target && !wanted.iter().any(|w| w == reference) {
                                wanted.push(reference.to_string());
                            }
                        }
                    }
                }
            }
        }
        let t = caller.tenant.clone();
        let fetched = read_store(st, move |s| {
            let mut out = Vec::new();
            for w in wanted {
                if let Some((rt, id)) = w.split_once('/') {
                    if let Some(rec) = s.fhir_read(&t, rt, id)? {
                        out.push(rec);
                    }
                }
            }
            Ok(out)
        })
        .await?;
        let mut seen: HashSet<String> = returned.iter().cloned().collect();
        for rec in fetched {
            let key = format!("{}/{}", rec.rtype, rec.id);
            let v = caller.decide_record(&rec, now);
            let allowed = v.note(&ledger, key.clone());
            if allowed && seen.insert(key.clone()) {
                if let Some(res) = &rec.resource {
                    entries.push(
                        json!({"fullUrl": format!("{base}/{key}"), "resource": res, "search": {"mode": "include"}}),
                    );
                    returned.push(key);
                }
            }
        }
    }
    // _revinclude: resources of another type pointing at the page's resources, each
    // decided; at most MAX_REVINCLUDE per parameter, and a warning says when there are more.
    if !req.revincludes.is_empty() && !page.records.is_empty() {
        let targets: Vec<String> = page.records.iter().map(|r| format!("{}/{}", r.rtype, r.id)).collect();
        let (c, t) = (caller.clone(), caller.tenant.clone());
        let (revs, subjects) = (req.revincludes.clone(), req.search.subjects.clone());
        let (found, l) = read_store(st, move |s| {
            let mut out = Vec::new();
            for (src, p) in revs {
                let q = kizuna_store::FhirSearch {
                    rtype: src.clone(),
                    clauses: vec![references_one_of(&p, &targets)],
                    sort: vec![],
                    subjects: subjects.clone(),
                };
                let pg = s.fhir_search(&t, &q, 0, MAX_REVINCLUDE, &mut |hit| c.admit(&src, hit, &ledger, now))?;
                out.push((src, p, pg));
            }
            Ok((out, ledger))
        })
        .await?;
        ledger = l;
        let mut seen: HashSet<String> = returned.iter().cloned().collect();
        for (src, p, pg) in found {
            if pg.total as usize > pg.records.len() {
                warnings.push(format!(
                    "_revinclude={src}:{p}: {} of {} matching resources included (at most {MAX_REVINCLUDE}); search {src} \
                     directly to page through all",
                    pg.records.len(),
                    pg.total
                ));
            }
            for rec in pg.records {
                let key = format!("{}/{}", rec.rtype, rec.id);
                if let (true, Some(res)) = (seen.insert(key.clone()), &rec.resource) {
                    entries.push(
                        json!({"fullUrl": format!("{base}/{key}"), "resource": res, "search": {"mode": "include"}}),
                    );
                    returned.push(key);
                }
            }
        }
    }
    for w in warnings {
        let o = OperationOutcome::single(kizuna_fhir::IssueSeverity::Warning, kizuna_fhir::IssueCode::TooCostly, w);
        entries.push(json!({"resource": o.to_json(), "search": {"mode": "outcome"}}));
    }
    if !req.ignored.is_empty() {
        let o = OperationOutcome::single(
            kizuna_fhir::IssueSeverity::Warning,
            kizuna_fhir::IssueCode::NotSupported,
            format!("ignored search parameters: {}", req.ignored.join(", ")),
        );
        entries.push(json!({"resource": o.to_json(), "search": {"mode": "outcome"}}));
    }
    // The targets a chain matched were used to answer (whose Observations these are):
    // they count as released reads, like the resources returned.
    let (audits, provisions) = ledger.settle(returned.iter().chain(chained.iter()).map(String::as_str));
    record(st, &caller.tenant, audits, provisions).await?;
    let link = |offset: usize| {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &req.used {
            s.append_pair(k, v);
        }
        if offset > 0 {
            s.append_pair("_offset", &offset.to_string());
        }
        let q = s.finish();
        if q.is_empty() {
            format!("{base}/{rtype}")
        } else {
            format!("{base}/{rtype}?{q}")
        }
    };
    let mut links = vec![json!({"relation": "self", "url": link(req.offset)})];
    if !req.summary_count {
        let total = page.total as usize;
        if req.offset + req.count < total {
            links.push(json!({"relation": "next", "url": link(req.offset + req.count)}));
        }
        if req.offset > 0 {
            links.push(json!({"relation": "previous", "url": link(req.offset.saturating_sub(req.count))}));
        }
    }
    let mut bundle = json!({
        "resourceType": "Bundle",
        "id": new_id(),
        "meta": {"lastUpdated": instant(now)},
        "type": "searchset",
        "total": page.total,
        "link": links,
    });
    if !entries.is_empty() {
        bundle["entry"] = Value::Array(entries);
    }
    Ok(bundle)
}
