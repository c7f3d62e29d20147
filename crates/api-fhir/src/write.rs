//! Storing one resource inside a write transaction: validation, the data subject,
//! the caller's right to write it, version checks, `meta`, the search index, and the
//! threshold alerts an Observation raises — all in the caller's transaction, so a
//! transaction Bundle is atomic and an alert exists exactly when its Observation does.

use chrono::{DateTime, SecondsFormat, Utc};
use kizuna_fhir::search::{index, IndexValue};
use kizuna_fhir::validate::validate_resource_as;
use kizuna_store::{FhirIndexRow, FhirRecord, Txn};
use serde_json::{json, Value};

use crate::access::Caller;
use crate::error::{bad, FhirError};

/// The identifier system that links a Patient to its data subject (a URI the consent
/// records use, e.g. `urn:ngsi-ld:Person:hanako`). Every Patient must carry exactly one.
pub const DATA_SUBJECT_SYSTEM: &str = "urn:kizuna:data-subject";

/// The resource types clients may write (Flag and Communication are written by
/// Kizuna's threshold rules and reminders; Consent is a view of the consent records).
pub use kizuna_fhir::validate::SUPPORTED_TYPES as WRITABLE;

/// What a write did.
#[derive(Debug, Clone)]
pub struct Written {
    /// The stored version.
    pub record: FhirRecord,
    /// Whether the resource was new (201) or an update (200).
    pub created: bool,
    /// Alerts raised by it (Flags and Communications).
    pub alerts: Vec<FhirRecord>,
}

/// A new logical id.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// RFC 3339 with milliseconds, UTC.
pub fn instant(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The element that names the patient a resource of `rtype` belongs to.
pub fn patient_element(rtype: &str) -> Option<&'static str> {
    match rtype {
        "Patient" | "Organization" => None,
        "Immunization" => Some("patient"),
        _ => Some("subject"),
    }
}

/// The data subject of a Patient resource (its `urn:kizuna:data-subject` identifier).
pub fn patient_subject(patient: &Value) -> Result<String, FhirError> {
    let ids: Vec<&str> = patient
        .get("identifier")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|i| i.get("system").and_then(Value::as_str) == Some(DATA_SUBJECT_SYSTEM))
        .filter_map(|i| i.get("value").and_then(Value::as_str))
        .collect();
    match ids.as_slice() {
        [one] if one.contains(':') => Ok(one.to_string()),
        [one] => Err(FhirError::Unprocessable(
            "Patient.identifier".into(),
            format!("the {DATA_SUBJECT_SYSTEM} identifier '{one}' is not a URI"),
        )),
        [] => Err(FhirError::Unprocessable(
            "Patient.identifier".into(),
            format!(
                "a Patient needs an identifier with system {DATA_SUBJECT_SYSTEM} naming the person's data subject \
                 (the URI their consents use)"
            ),
        )),
        _ => Err(FhirError::Unprocessable(
            "Patient.identifier".into(),
            format!("a Patient has exactly one {DATA_SUBJECT_SYSTEM} identifier; this one has {}", ids.len()),
        )),
    }
}

/// The data subject a resource belongs to: a Patient's own; for other resources that of
/// the Patient its subject/patient element references (which must exist); `None` for
/// Organization.
pub fn resolve_subject(tx: &mut dyn Txn, rtype: &str, resource: &Value) -> Result<Option<String>, FhirError> {
    if rtype == "Patient" {
        return patient_subject(resource).map(Some);
    }
    let Some(elem) = patient_element(rtype) else {
        return Ok(None);
    };
    let expr = format!("{rtype}.{elem}");
    let reference = resource.get(elem).and_then(|r| r.get("reference")).and_then(Value::as_str).ok_or_else(|| {
        FhirError::Unprocessable(expr.clone(), format!("{expr} must reference the Patient the {rtype} belongs to"))
    })?;
    let id = reference.strip_prefix("Patient/").filter(|id| !id.contains('/')).ok_or_else(|| {
        FhirError::Unprocessable(expr.clone(), format!("{expr} must be a reference 'Patient/<id>', not '{reference}'"))
    })?;
    match tx.fhir_current("Patient", id)? {
        Some(p) if !p.deleted => Ok(p.subject),
        _ => Err(FhirError::Unprocessable(expr, format!("{reference} does not exist on this server"))),
    }
}

/// The store's index rows for a resource.
pub fn index_rows(resource: &Value) -> Vec<FhirIndexRow> {
    index(resource)
        .into_iter()
        .map(|IndexValue { param, system, text, lo, hi }| FhirIndexRow {
            param: param.to_string(),
            system,
            text,
            lo,
            hi,
        })
        .collect()
}

/// Stores `resource` as `rtype/id` (create when there is no current version or it was
/// deleted; otherwise update). `if_match`: the version the client expects to replace.
/// Client writes are checked with [`Caller::may_write`]; `system` writes (alerts) are not.
pub fn put(
    tx: &mut dyn Txn,
    caller: &Caller,
    rtype: &str,
    id: &str,
    resource: Value,
    if_match: Option<u64>,
    now: DateTime<Utc>,
) -> Result<Written, FhirError> {
    if !WRITABLE.contains(&rtype) {
        return Err(FhirError::NotAllowed(format!(
            "{rtype} resources are not written by clients on this server (see the CapabilityStatement)"
        )));
    }
    if let Err(outcome) = validate_resource_as(&resource, rtype) {
        return Err(FhirError::Invalid(outcome));
    }
    match resource.get("id").and_then(Value::as_str) {
        Some(given) if given != id => {
            return Err(bad(format!("the resource's id '{given}' differs from the id in the URL '{id}'")));
        }
        _ => {}
    }
    let subject = resolve_subject(tx, rtype, &resource)?;
    let current = tx.fhir_current(rtype, id)?;
    let before = current.as_ref().filter(|c| !c.deleted).map(|c| c.subject.as_deref());
    // A Patient's data subject is the key every other resource of the person hangs on:
    // changing it would leave their records with the wrong person.
    if let (Some(Some(old)), "Patient") = (before, rtype) {
        if subject.as_deref() != Some(old) {
            return Err(FhirError::Unprocessable(
                "Patient.identifier".into(),
                format!(
                    "Patient/{id} belongs to data subject {old}; its {DATA_SUBJECT_SYSTEM} identifier cannot \
                     change (create a new Patient for another person)"
                ),
            ));
        }
    }
    caller.may_write(rtype, before, Some(subject.as_deref()), now)?;
    check_version(current.as_ref(), if_match, rtype, id)?;
    let version = current.as_ref().map_or(1, |c| c.version + 1);
    let created = current.as_ref().is_none_or(|c| c.deleted);
    let record = store_version(tx, rtype, id, version, Some(resource), subject, caller.source(), now)?;
    let alerts = if rtype == "Observation" { crate::alerts::on_observation(tx, &record, now)? } else { Vec::new() };
    Ok(Written { record, created, alerts })
}

/// Stores `resource` as version `version` of `rtype/id` (`None`: a delete): `meta`
/// stamped, search-index rows from the resource.
#[allow(clippy::too_many_arguments)]
fn store_version(
    tx: &mut dyn Txn,
    rtype: &str,
    id: &str,
    version: u64,
    resource: Option<Value>,
    subject: Option<String>,
    source: Option<String>,
    now: DateTime<Utc>,
) -> Result<FhirRecord, FhirError> {
    let resource = resource.map(|mut r| {
        stamp(&mut r, id, version, now, source.as_deref());
        r
    });
    let index = resource.as_ref().map(index_rows).unwrap_or_default();
    let record = FhirRecord {
        rtype: rtype.to_string(),
        id: id.to_string(),
        version,
        last_updated: instant(now),
        deleted: resource.is_none(),
        subject,
        source,
        resource,
    };
    tx.fhir_put(&record, &index)?;
    Ok(record)
}

/// Stores a resource Kizuna itself produced (alerts, reminders), unchecked.
pub fn put_system(
    tx: &mut dyn Txn,
    resource: Value,
    subject: Option<String>,
    source: &str,
    now: DateTime<Utc>,
) -> Result<FhirRecord, FhirError> {
    let rtype = resource.get("resourceType").and_then(Value::as_str).unwrap_or("").to_string();
    let id = resource.get("id").and_then(Value::as_str).map(str::to_string).unwrap_or_else(new_id);
    let version = tx.fhir_current(&rtype, &id)?.map_or(1, |c| c.version + 1);
    store_version(tx, &rtype, &id, version, Some(resource), subject, Some(source.to_string()), now)
}

/// Deletes `rtype/id`: a new version without content. `Ok(None)` if there was nothing
/// to delete (FHIR: a delete of a missing resource succeeds).
pub fn delete(
    tx: &mut dyn Txn,
    caller: &Caller,
    rtype: &str,
    id: &str,
    if_match: Option<u64>,
    now: DateTime<Utc>,
) -> Result<Option<FhirRecord>, FhirError> {
    if !WRITABLE.contains(&rtype) {
        return Err(FhirError::NotAllowed(format!("{rtype} resources are not deleted by clients on this server")));
    }
    let Some(current) = tx.fhir_current(rtype, id)?.filter(|c| !c.deleted) else {
        return Ok(None);
    };
    caller.may_write(rtype, Some(current.subject.as_deref()), None, now)?;
    check_version(Some(&current), if_match, rtype, id)?;
    store_version(tx, rtype, id, current.version + 1, None, current.subject, caller.source(), now).map(Some)
}

fn check_version(current: Option<&FhirRecord>, if_match: Option<u64>, rtype: &str, id: &str) -> Result<(), FhirError> {
    let Some(expected) = if_match else {
        return Ok(());
    };
    let have = current.filter(|c| !c.deleted).map(|c| c.version);
    if have != Some(expected) {
        let now = have.map_or("none".to_string(), |v| v.to_string());
        return Err(FhirError::Conflict(
            axum::http::StatusCode::PRECONDITION_FAILED,
            format!("If-Match expects version {expected} of {rtype}/{id}, the current version is {now}"),
        ));
    }
    Ok(())
}

/// Sets `id` and `meta` (versionId, lastUpdated, source), keeping the client's other
/// `meta` elements (profile, tag, security).
fn stamp(resource: &mut Value, id: &str, version: u64, now: DateTime<Utc>, source: Option<&str>) {
    let Some(obj) = resource.as_object_mut() else {
        return;
    };
    obj.insert("id".into(), json!(id));
    let meta = obj.entry("meta").or_insert_with(|| json!({}));
    if let Some(m) = meta.as_object_mut() {
        m.insert("versionId".into(), json!(version.to_string()));
        m.insert("lastUpdated".into(), json!(instant(now)));
        match source {
            Some(s) => m.insert("source".into(), json!(s)),
            None => m.remove("source"),
        };
    }
    // resourceType, id, meta first, as FHIR's own examples write them.
    let mut rest = std::mem::take(obj);
    for k in ["resourceType", "id", "meta"] {
        if let Some(v) = rest.remove(k) {
            obj.insert(k.into(), v);
        }
    }
    obj.extend(rest);
}

/// Parses an `If-Match` header (`W/"3"` or `"3"`).
pub fn parse_if_match(v: Option<&str>) -> Result<Option<u64>, FhirError> {
    let Some(v) = v else {
        return Ok(None);
    };
    let t = v.trim().trim_start_matches("W/").trim_matches('"');
    t.parse::<u64>().map(Some).map_err(|_| bad(format!("If-Match '{v}' is not a version ETag like W/\"3\"")))
}

/// Loads resources supplied by `source` (the demo, imports): each is validated, linked to
/// its data subject, stored and — Observations — assessed for alerts, exactly as a
/// client's write, in the caller's transaction. Resources keep their ids; Patients should
/// come before the resources that reference them. Returns how many were stored; the
/// first invalid resource fails the whole load.
pub fn seed(tx: &mut dyn Txn, resources: &[Value], source: &str, now: DateTime<Utc>) -> Result<usize, FhirError> {
    let mut n = 0;
    for r in resources {
        let rtype = r.get("resourceType").and_then(Value::as_str).unwrap_or("").to_string();
        if let Err(outcome) = validate_resource_as(r, &rtype) {
            return Err(FhirError::Invalid(outcome));
        }
        let subject = resolve_subject(tx, &rtype, r)?;
        let rec = put_system(tx, r.clone(), subject, source, now)?;
        if rtype == "Observation" {
            crate::alerts::on_observation(tx, &rec, now)?;
        }
        n += 1;
    }
    Ok(n)
}

/// Updates a Flag raised by the threshold rules: only `status` (`active`, `inactive`,
/// `entered-in-error`) and `period.end` may change, by a caller who may read the Flag
/// (the person, their guardian, the insurer under consent, a data holder that may see
/// it, the tenant admin).
pub fn update_flag(
    tx: &mut dyn Txn,
    caller: &Caller,
    id: &str,
    resource: Value,
    if_match: Option<u64>,
    now: DateTime<Utc>,
) -> Result<Written, FhirError> {
    let current = tx.fhir_current("Flag", id)?.filter(|c| !c.deleted);
    let Some(current) = current else {
        return Err(FhirError::NotFound(format!("Flag/{id} not found")));
    };
    if !caller.decide_record(&current, now).allowed || caller.role() == kizuna_consent::Role::Anonymous {
        return Err(FhirError::NotFound(format!("Flag/{id} not found")));
    }
    check_version(Some(&current), if_match, "Flag", id)?;
    let status = resource.get("status").and_then(Value::as_str).unwrap_or("");
    if !matches!(status, "active" | "inactive" | "entered-in-error") {
        return Err(FhirError::Invalid(kizuna_fhir::OperationOutcome {
            issue: vec![kizuna_fhir::OutcomeIssue::error(
                kizuna_fhir::IssueCode::CodeInvalid,
                "Flag.status",
                format!("Flag.status must be active, inactive or entered-in-error, not '{status}'"),
            )],
        }));
    }
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove("meta");
            o.remove("status");
            if let Some(p) = o.get_mut("period").and_then(Value::as_object_mut) {
                p.remove("end");
            }
        }
        v
    };
    let stored = current.resource.clone().unwrap_or(Value::Null);
    if strip(&stored) != strip(&resource) {
        return Err(FhirError::Unprocessable(
            "Flag".into(),
            "a Flag raised by Kizuna's threshold rules may only change its status and period.end".into(),
        ));
    }
    let source = caller.source().or(current.source);
    let record = store_version(tx, "Flag", id, current.version + 1, Some(resource), current.subject, source, now)?;
    Ok(Written { record, created: false, alerts: Vec::new() })
}
