//! Conditional create and conditional references: finding "the" resource a search names,
//! inside the write transaction, so that the check and the write see the same store.
//!
//! - **Conditional create** (FHIR R4 http.html#ccreate): `POST /fhir/{type}` with an
//!   `If-None-Exist: <search>` header — or, as `fhirpy`'s `get_or_create` sends it, the
//!   search in the URL — and `Bundle.entry.request.ifNoneExist`. No match: the resource is
//!   created. One match: nothing is written and the answer is `200 OK` pointing at it.
//!   Several: `412 Precondition Failed`.
//! - **Conditional update** (http.html#cond-update): `PUT /fhir/{type}?<search>` and
//!   `PUT Type?<search>` entries. One match: that resource is updated (an id in the body
//!   must be its id, else 400). No match: created (with the body's id, if it has one).
//!   Several: 412.
//! - **Conditional references** (http.html#trules) in a `transaction`: a reference
//!   `Patient?identifier=urn:kizuna:data-subject|urn:ngsi-ld:Person:…` is replaced by the
//!   `Patient/<id>` it matches before any entry is processed. A hospital can thus push a
//!   checkup for a person without knowing Kizuna's Patient id. No match: 422; several: 412.
//!
//! Whom a match is looked for among: only a caller who may write at all (the tenant admin
//! and data holders among every resource of the tenant, a citizen among their own and their
//! wards'); service providers and anonymous callers are refused before any search, so a
//! status code cannot tell them whether a resource exists. The criteria must name at least
//! one search parameter and may not use result controls (`_count`, `_sort`, `_include`,
//! `_summary`, ...); unknown parameters are refused (strict handling): ignoring one would
//! widen the match.

use axum::http::{HeaderMap, Uri};
use chrono::{DateTime, Utc};
use kizuna_api_ngsild::ApiError;
use kizuna_consent::Role;
use kizuna_store::{FhirRecord, Txn};
use serde_json::Value;

use crate::access::Caller;
use crate::error::{bad, FhirError};
use crate::query;

/// Parameters that shape a result rather than select resources: not allowed in criteria.
const CONTROLS: [&str; 9] =
    ["_count", "_offset", "_sort", "_include", "_revinclude", "_summary", "_elements", "_total", "_contained"];

/// Parameters that only choose the response format: skipped.
const FORMAT: [&str; 2] = ["_format", "_pretty"];

/// The search pairs of criteria `criteria` (`identifier=a|b&birthdate=2020-01-01`, with
/// or without a leading `?` or `Type?`). `what` names the criteria in errors.
pub fn criteria_pairs(criteria: &str, what: &str) -> Result<Vec<(String, String)>, FhirError> {
    let q = criteria.split_once('?').map_or(criteria, |(_, q)| q);
    let pairs: Vec<(String, String)> =
        form_urlencoded::parse(q.as_bytes()).into_owned().filter(|(k, _)| !FORMAT.contains(&k.as_str())).collect();
    if let Some((k, _)) = pairs.iter().find(|(k, _)| CONTROLS.contains(&k.as_str())) {
        return Err(bad(format!("{what}: '{k}' shapes a result and cannot be part of a condition")));
    }
    if pairs.iter().all(|(k, v)| k.is_empty() || v.is_empty()) {
        return Err(bad(format!("{what} '{criteria}' names no search parameter")));
    }
    Ok(pairs)
}

/// The condition of a conditional create, parsed.
#[derive(Debug, Clone)]
pub struct Condition {
    /// What errors call it (`If-None-Exist`, `Bundle.entry[2].request.ifNoneExist`).
    pub what: String,
    /// The criteria as given.
    pub criteria: String,
    /// Their search pairs.
    pub pairs: Vec<(String, String)>,
}

impl Condition {
    /// Parses `criteria`, called `what` in errors.
    pub fn new(what: impl Into<String>, criteria: impl Into<String>) -> Result<Condition, FhirError> {
        let (what, criteria) = (what.into(), criteria.into());
        let pairs = criteria_pairs(&criteria, &what)?;
        Ok(Condition { what, criteria, pairs })
    }

    /// The condition of `POST /fhir/{type}`: the `If-None-Exist` header, or search
    /// parameters in the URL (as `fhirpy`'s `get_or_create` sends them); both at once is
    /// ambiguous (400).
    pub fn of_request(headers: &HeaderMap, uri: &Uri) -> Result<Option<Condition>, FhirError> {
        let header = match headers.get("if-none-exist") {
            Some(v) => Some(v.to_str().map_err(|_| bad("If-None-Exist is not visible ASCII"))?),
            None => None,
        };
        let url =
            uri.query().filter(|q| form_urlencoded::parse(q.as_bytes()).any(|(k, _)| !FORMAT.contains(&k.as_ref())));
        match (header, url) {
            (Some(_), Some(_)) => {
                Err(bad("give the condition of a conditional create once: in If-None-Exist or in the URL"))
            }
            (Some(h), None) => Condition::new("If-None-Exist", h).map(Some),
            (None, Some(q)) => Condition::new("the create's search parameters", q).map(Some),
            (None, None) => Ok(None),
        }
    }

    /// The one resource of `rtype` the condition matches, if one does; `None` if none
    /// does; several: 412. Looked for among the resources `caller` may write about (see
    /// the module docs), only far enough to tell one from several.
    pub fn find_one(
        &self,
        tx: &mut dyn Txn,
        caller: &Caller,
        rtype: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<FhirRecord>, FhirError> {
        let what = &self.what;
        let subjects = match caller.role() {
            Role::TenantAdmin | Role::DataHolder => None,
            Role::Citizen => Some(caller.search_scope(now).unwrap_or_default()),
            Role::Anonymous => {
                return Err(FhirError::Access(ApiError::Unauthorized(format!("{what} needs credentials"))));
            }
            Role::ServiceProvider => {
                return Err(FhirError::Access(ApiError::Forbidden(format!(
                    "{what}: service providers read health records under consent; they do not write them"
                ))));
            }
        };
        let mut req = query::parse(rtype, &self.pairs, true).map_err(|e| bad(format!("{what}: {e}")))?;
        if let Some(c) = req.chains.first() {
            return Err(bad(format!(
                "{what}: chained parameters ({}.{}) cannot be part of a condition",
                c.param, c.inner.param
            )));
        }
        req.search.subjects = subjects;
        let page = tx.fhir_search(&req.search, 0, 2, &mut |_| true)?;
        match (page.total, page.records.into_iter().next()) {
            (0, _) => Ok(None),
            (1, Some(rec)) => Ok(Some(rec)),
            (n, _) => Err(FhirError::Conflict(
                axum::http::StatusCode::PRECONDITION_FAILED,
                format!("{what} '{}' matches {n} resources; the criteria are not selective enough", self.criteria),
            )),
        }
    }

    /// The id a conditional update of `resource` writes, set as the resource's id: the
    /// one match's (an id already in the resource must be the same: 400), or with no
    /// match the resource's own id or a new one (an update as create); several: 412.
    pub fn update_id(
        &self,
        tx: &mut dyn Txn,
        caller: &Caller,
        rtype: &str,
        resource: &mut Value,
        now: DateTime<Utc>,
    ) -> Result<String, FhirError> {
        let given = resource.get("id").and_then(Value::as_str).map(str::to_string);
        let id = match (self.find_one(tx, caller, rtype, now)?, given) {
            (Some(r), Some(g)) if g != r.id => {
                return Err(bad(format!(
                    "{}: the resource's id '{g}' differs from {}/{}, the resource the condition matches",
                    self.what, r.rtype, r.id
                )))
            }
            (Some(r), _) => r.id,
            (None, Some(g)) => g,
            (None, None) => crate::write::new_id(),
        };
        if let Some(o) = resource.as_object_mut() {
            o.insert("id".into(), Value::String(id.clone()));
        }
        Ok(id)
    }
}

/// `Type?criteria` as a conditional reference: `(Type, criteria)` if `reference` is one
/// (a known type, then `?`).
pub fn as_reference(reference: &str) -> Option<(&str, &str)> {
    let (t, q) = reference.split_once('?')?;
    (kizuna_fhir::search::is_stored(t) && !t.contains('/')).then_some((t, q))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn criteria_are_checked() {
        let p = criteria_pairs("identifier=urn:kizuna:data-subject%7Curn:x&_format=json", "If-None-Exist").unwrap();
        assert_eq!(p, vec![("identifier".to_string(), "urn:kizuna:data-subject|urn:x".to_string())]);
        let p = criteria_pairs("Patient?identifier=a|b", "ifNoneExist").unwrap();
        assert_eq!(p[0].1, "a|b");
        let e = criteria_pairs("identifier=a&_count=1", "If-None-Exist").unwrap_err().to_string();
        assert!(e.contains("'_count'"), "{e}");
        assert!(criteria_pairs("", "If-None-Exist").unwrap_err().to_string().contains("names no search parameter"));
        assert!(criteria_pairs("identifier=", "If-None-Exist").is_err());
    }

    #[test]
    fn conditional_references_are_recognised() {
        assert_eq!(as_reference("Patient?identifier=a|b"), Some(("Patient", "identifier=a|b")));
        assert_eq!(as_reference("Patient/1"), None);
        assert_eq!(as_reference("Nope?x=1"), None);
        assert_eq!(as_reference("urn:uuid:1"), None);
    }
}
