//! Operations and views beyond the plain RESTful interactions:
//!
//! - `GET Patient/{id}/$everything`: the person's record — the Patient and every
//!   resource that belongs to the same data subject — each decided and audited;
//! - `GET Patient/{id}/$immunization-schedule[?date=]`: the routine immunisation
//!   schedule (定期接種) from the child's birth date and recorded Immunizations, as an
//!   `ImmunizationRecommendation` (not stored);
//! - `POST $send-reminders[?date=]` (tenant admin): for every child with a due or overdue
//!   dose not yet reminded at that status, a Communication (category `reminder`) to the
//!   guardians and an NGSI-LD `ImmunizationReminder` entity (the child as data subject:
//!   guardians are notified through their subscriptions, decided by guardianship);
//! - `GET|PUT $thresholds` (read: tenant admin and data holders; replace: tenant admin):
//!   the tenant's threshold table;
//! - `POST $research-extract[?k=5]`: a de-identified extract for a research party
//!   (purpose `research`) from the people whose consent or delegation allows it, with
//!   its k-anonymity report;
//! - the `Consent` view: Kizuna's consent records as FHIR Consent resources, readable by
//!   the person, their guardians, the recipient named in the consent and the tenant admin.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use chrono::{NaiveDate, Utc};
use kizuna_consent::{ConsentRecord, Role};
use kizuna_fhir::schedule::{schedule, DoseStatus, ScheduleOptions, Sex};
use kizuna_fhir::thresholds::Thresholds;
use kizuna_ngsild::{AttrKind, Attribute, Entity};
use kizuna_store::{FhirRecord, FhirSearch};
use serde_json::{json, Value};

use crate::access::{record, Caller, Ledger};
use crate::error::{bad, FhirError};
use crate::rest::{known_type, query_pairs, read_store, write_txn};
use crate::write::{instant, new_id, put_system, DATA_SUBJECT_SYSTEM};
use crate::{base_url, check_accept, fhir_response, parse_body, FhirState};

/// The source of resources the reminder job writes.
pub const REMINDER_SOURCE: &str = "urn:kizuna:fhir:immunization-reminders";
/// The NGSI-LD type of reminder entities.
pub const REMINDER_TYPE: &str = "https://uri.etsi.org/ngsi-ld/default-context/ImmunizationReminder";

/// `GET /fhir/{type}/{id}/{op}`.
pub async fn instance_op(
    State(st): State<FhirState>,
    Path((rtype, id, op)): Path<(String, String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, FhirError> {
    known_type(&rtype)?;
    let caller = Caller::establish(&st, &headers).await?;
    let pairs = query_pairs(&uri);
    check_accept(&headers, pairs.iter().find(|(k, _)| k == "_format").map(|(_, v)| v.as_str()))?;
    match (rtype.as_str(), op.as_str()) {
        ("Patient", "$everything") => everything(&st, &caller, &headers, &id).await,
        ("Patient", "$immunization-schedule") => {
            let date = pairs.iter().find(|(k, _)| k == "date").map(|(_, v)| v.clone());
            immunization_schedule(&st, &caller, &id, date.as_deref()).await
        }
        _ => Err(FhirError::NotFound(format!("{rtype}/{id}/{op}: no such operation (see /fhir/metadata)"))),
    }
}

/// `POST /fhir/{type}/{id}/{op}`: the same operations (FHIR allows POST for them).
pub async fn instance_op_post(
    st: State<FhirState>,
    p: Path<(String, String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, FhirError> {
    instance_op(st, p, headers, uri).await
}

/// A person's Patient resource, decided (404 if missing or withheld).
async fn patient(st: &FhirState, caller: &Caller, id: &str, ledger: &Ledger) -> Result<FhirRecord, FhirError> {
    let (t, i) = (caller.tenant.clone(), id.to_string());
    let rec = read_store(st, move |s| Ok(s.fhir_read(&t, "Patient", &i)?)).await?;
    let missing = || FhirError::NotFound(format!("Patient/{id} not found"));
    let rec = rec.filter(|r| !r.deleted).ok_or_else(missing)?;
    let v = caller.decide_record(&rec, Utc::now());
    if !v.allowed {
        crate::rest::record_one(st, caller, format!("Patient/{id}"), v).await?;
        return Err(missing());
    }
    v.note(ledger, format!("Patient/{id}"));
    Ok(rec)
}

async fn everything(st: &FhirState, caller: &Caller, headers: &HeaderMap, id: &str) -> Result<Response, FhirError> {
    let ledger = Ledger::default();
    let p = patient(st, caller, id, &ledger).await?;
    let Some(subject) = p.subject.clone() else {
        return Err(FhirError::NotFound(format!("Patient/{id} not found")));
    };
    let t = caller.tenant.clone();
    let records = read_store(st, move |s| Ok(s.fhir_of_subject(&t, &subject)?)).await?;
    let now = Utc::now();
    let mut out = Release::new(base_url(headers), ledger);
    out.push(format!("Patient/{id}"), p.resource.clone().unwrap_or(Value::Null));
    for r in records {
        if r.rtype == "Patient" && r.id == id {
            continue;
        }
        let v = caller.decide_record(&r, now);
        out.offer(format!("{}/{}", r.rtype, r.id), v, r.resource.unwrap_or(Value::Null));
    }
    let bundle = out.finish(st, caller, format!("Patient/{id}/$everything")).await?;
    Ok(fhir_response(StatusCode::OK, &bundle))
}

/// The resources one request releases, as searchset entries, with the decisions to
/// record: every offered resource is noted; only allowed ones become entries.
pub struct Release {
    base: String,
    ledger: Ledger,
    entries: Vec<Value>,
    returned: Vec<String>,
}

impl Release {
    /// An empty release on top of decisions already noted in `ledger`.
    pub fn new(base: String, ledger: Ledger) -> Release {
        Release { base, ledger, entries: Vec::new(), returned: Vec::new() }
    }

    /// Adds a resource already decided and noted.
    pub fn push(&mut self, key: String, resource: Value) {
        self.entries.push(
            json!({"fullUrl": format!("{}/{key}", self.base), "resource": resource, "search": {"mode": "match"}}),
        );
        self.returned.push(key);
    }

    /// Notes the verdict about `key`; adds the resource if allowed.
    pub fn offer(&mut self, key: String, v: crate::access::Verdict, resource: Value) {
        let allowed = v.note(&self.ledger, key.clone());
        if allowed {
            self.push(key, resource);
        }
    }

    /// Records the decisions (durably, before the answer leaves) and returns the
    /// searchset Bundle; `path` is the request's path under the base.
    pub async fn finish(self, st: &FhirState, caller: &Caller, path: String) -> Result<Value, FhirError> {
        let (audits, provisions) = self.ledger.settle(self.returned.iter().map(String::as_str));
        record(st, &caller.tenant, audits, provisions).await?;
        Ok(json!({
            "resourceType": "Bundle",
            "id": new_id(),
            "meta": {"lastUpdated": instant(Utc::now())},
            "type": "searchset",
            "total": self.entries.len(),
            "link": [{"relation": "self", "url": format!("{}/{path}", self.base)}],
            "entry": self.entries,
        }))
    }
}

fn parse_date(d: Option<&str>) -> Result<NaiveDate, FhirError> {
    match d {
        None => Ok(Utc::now().date_naive()),
        Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| bad(format!("date '{s}' is not YYYY-MM-DD"))),
    }
}

fn birth_and_sex(p: &Value) -> Option<(NaiveDate, Option<Sex>)> {
    let birth = NaiveDate::parse_from_str(p.get("birthDate")?.as_str()?.get(..10)?, "%Y-%m-%d").ok()?;
    let sex = match p.get("gender").and_then(Value::as_str) {
        Some("female") => Some(Sex::Female),
        Some("male") => Some(Sex::Male),
        _ => None,
    };
    Some((birth, sex))
}

fn forecast(status: DoseStatus) -> (&'static str, &'static str) {
    match status {
        DoseStatus::Done => ("complete", "Complete"),
        DoseStatus::Upcoming | DoseStatus::Due => ("due", "Due"),
        DoseStatus::Overdue | DoseStatus::Expired => ("overdue", "Overdue"),
    }
}

fn status_code(status: DoseStatus) -> &'static str {
    match status {
        DoseStatus::Done => "done",
        DoseStatus::Upcoming => "upcoming",
        DoseStatus::Due => "due",
        DoseStatus::Overdue => "overdue",
        DoseStatus::Expired => "expired",
    }
}

async fn immunization_schedule(
    st: &FhirState,
    caller: &Caller,
    id: &str,
    date: Option<&str>,
) -> Result<Response, FhirError> {
    let today = parse_date(date)?;
    let ledger = Ledger::default();
    let p = patient(st, caller, id, &ledger).await?;
    let resource = p.resource.clone().unwrap_or(Value::Null);
    let (birth, sex) = birth_and_sex(&resource).ok_or_else(|| {
        FhirError::Unprocessable("Patient.birthDate".into(), format!("Patient/{id} has no birthDate"))
    })?;
    let subject = p.subject.clone().unwrap_or_default();
    let t = caller.tenant.clone();
    let records = read_store(st, move |s| Ok(s.fhir_of_subject(&t, &subject)?)).await?;
    let now = Utc::now();
    let mut immunizations = Vec::new();
    let mut returned = vec![format!("Patient/{id}")];
    for r in records.into_iter().filter(|r| r.rtype == "Immunization") {
        let key = format!("Immunization/{}", r.id);
        let v = caller.decide_record(&r, now);
        let allowed = v.note(&ledger, key.clone());
        if allowed {
            immunizations.extend(r.resource);
            returned.push(key);
        }
    }
    let (audits, provisions) = ledger.settle(returned.iter().map(String::as_str));
    record(st, &caller.tenant, audits, provisions).await?;
    let opts = ScheduleOptions { sex, ..ScheduleOptions::default() };
    let doses = schedule(birth, today, &immunizations, &opts);
    let recs: Vec<Value> = doses
        .iter()
        .map(|d| {
            let (code, display) = forecast(d.status);
            let mut criteria = vec![
                json!({"code": {"coding": [{"system": "http://loinc.org", "code": "30981-5", "display": "Earliest date to give"}]}, "value": d.eligible_from.to_string()}),
                json!({"code": {"coding": [{"system": "http://loinc.org", "code": "30980-7", "display": "Date vaccine due"}]}, "value": d.standard_from.to_string()}),
                json!({"code": {"coding": [{"system": "http://loinc.org", "code": "59777-3", "display": "Latest date to give immunization"}]}, "value": (d.funded_until - chrono::Days::new(1)).to_string()}),
            ];
            criteria.push(json!({"code": {"coding": [{"system": "http://loinc.org", "code": "59778-1", "display": "Date when overdue for immunization"}]}, "value": d.standard_until.to_string()}));
            let mut r = json!({
                "extension": [{"url": "urn:kizuna:fhir:dose-status", "valueCode": status_code(d.status)}],
                "vaccineCode": [{"coding": [{"system": kizuna_fhir::codes::JP_VACCINE, "code": d.code, "display": d.label}]}],
                "forecastStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/immunization-recommendation-status", "code": code, "display": display}]},
                "dateCriterion": criteria,
                "description": d.label,
                "doseNumberPositiveInt": d.dose_number,
            });
            if let Some(g) = d.given_on {
                r["supportingImmunization"] = json!([{"display": format!("given on {g}")}]);
            }
            r
        })
        .collect();
    let body = json!({
        "resourceType": "ImmunizationRecommendation",
        "id": new_id(),
        "patient": {"reference": format!("Patient/{id}")},
        "date": today.to_string(),
        "authority": {"display": "予防接種法 定期接種 (Kizuna schedule tables, crates/fhir/src/schedule.rs)"},
        "recommendation": recs,
    });
    Ok(fhir_response(StatusCode::OK, &body))
}

/// `/fhir/$op` (system level).
pub async fn system_op(
    st: &FhirState,
    op: &str,
    headers: &HeaderMap,
    uri: &Uri,
    body: Option<Bytes>,
) -> Result<Response, FhirError> {
    let caller = Caller::establish(st, headers).await?;
    let pairs = query_pairs(uri);
    check_accept(headers, pairs.iter().find(|(k, _)| k == "_format").map(|(_, v)| v.as_str()))?;
    let arg = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    match (op, body) {
        ("thresholds", None) => {
            if !matches!(caller.role(), Role::TenantAdmin | Role::DataHolder) {
                caller.require_admin("reading the threshold table")?;
            }
            let t = caller.tenant.clone();
            let table = read_store(st, move |s| Ok(s.fhir_state(&t, crate::alerts::TABLE_KEY)?)).await?;
            let table = match table {
                Some(v) => v,
                None => serde_json::to_value(Thresholds::default()).map_err(|e| bad(e.to_string()))?,
            };
            Ok(fhir_response(StatusCode::OK, &table))
        }
        ("thresholds", Some(b)) => {
            caller.require_admin("changing the threshold table")?;
            let v = parse_body(headers, &b)?;
            let table = Thresholds::from_json(&v).map_err(|e| bad(format!("threshold table: {e}")))?;
            table.check().map_err(|e| bad(format!("threshold table: {e}")))?;
            let doc = serde_json::to_value(&table).map_err(|e| bad(e.to_string()))?;
            let d = doc.clone();
            write_txn(st, &caller, move |tx| Ok(tx.set_fhir_state(crate::alerts::TABLE_KEY, &d)?)).await?;
            Ok(fhir_response(StatusCode::OK, &doc))
        }
        ("send-reminders", Some(_)) => send_reminders(st, &caller, arg("date").as_deref()).await,
        ("research-extract", _) => research_extract(st, &caller, arg("k").as_deref()).await,
        _ => Err(FhirError::NotFound(format!("${op}: no such operation for this method (see /fhir/metadata)"))),
    }
}

fn all(rtype: &str) -> FhirSearch {
    FhirSearch { rtype: rtype.to_string(), clauses: vec![], sort: vec![], subjects: None }
}

async fn send_reminders(st: &FhirState, caller: &Caller, date: Option<&str>) -> Result<Response, FhirError> {
    caller.require_admin("sending immunisation reminders")?;
    let today = parse_date(date)?;
    let t = caller.tenant.clone();
    let patients =
        read_store(st, move |s| Ok(s.fhir_search(&t, &all("Patient"), 0, usize::MAX, &mut |_| true)?.records)).await?;
    let now = Utc::now();
    let mut sent = 0usize;
    let mut children = 0usize;
    let mut without_guardian = 0usize;
    for p in patients {
        let (Some(res), Some(subject)) = (p.resource.clone(), p.subject.clone()) else { continue };
        let Some((birth, sex)) = birth_and_sex(&res) else { continue };
        if kizuna_fhir::search::age_on(birth, today) >= 13 {
            continue;
        }
        children += 1;
        let guardians: Vec<String> = caller
            .access
            .policy
            .snapshot_for(Some(&subject))
            .guardianships
            .iter()
            .filter(|g| g.is_valid_at(now))
            .map(|g| g.guardian.clone())
            .collect();
        if guardians.is_empty() {
            without_guardian += 1;
            continue;
        }
        let (t, s) = (caller.tenant.clone(), subject.clone());
        let imms: Vec<Value> = read_store(st, move |store| {
            Ok(store
                .fhir_of_subject(&t, &s)?
                .into_iter()
                .filter(|r| r.rtype == "Immunization")
                .filter_map(|r| r.resource)
                .collect())
        })
        .await?;
        let due: Vec<_> = schedule(birth, today, &imms, &ScheduleOptions { sex, ..ScheduleOptions::default() })
            .into_iter()
            .filter(|d| matches!(d.status, DoseStatus::Due | DoseStatus::Overdue))
            .collect();
        if due.is_empty() {
            continue;
        }
        let pid = p.id.clone();
        let n = write_txn(st, caller, move |tx| {
            let mut n = 0;
            for d in due {
                let key = format!("reminded:{subject}:{}:{}:{}", d.code, d.dose_number, status_code(d.status));
                if tx.fhir_state(&key)?.is_some() {
                    continue;
                }
                let message = format!(
                    "{}の時期です (標準的な接種期間 {} 〜 {}、公費で受けられるのは {} まで)。",
                    d.label,
                    d.standard_from,
                    d.standard_until - chrono::Days::new(1),
                    d.funded_until - chrono::Days::new(1)
                );
                let comm = json!({
                    "resourceType": "Communication",
                    "status": "completed",
                    "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/communication-category", "code": "reminder", "display": "Reminder"}]}],
                    "subject": {"reference": format!("Patient/{pid}")},
                    "recipient": guardians.iter().map(|g| json!({"identifier": {"system": DATA_SUBJECT_SYSTEM, "value": g}})).collect::<Vec<_>>(),
                    "sent": instant(now),
                    "payload": [{"contentString": message}],
                });
                let rec = put_system(tx, comm, Some(subject.clone()), REMINDER_SOURCE, now)?;
                tx.insert(&reminder_entity(&rec.id, &subject, &guardians, &d, &message))?;
                tx.set_fhir_state(&key, &json!({"sent": instant(now), "communication": rec.id}))?;
                n += 1;
            }
            Ok(n)
        })
        .await?;
        sent += n;
    }
    let out = json!({
        "resourceType": "Parameters",
        "parameter": [
            {"name": "date", "valueDate": today.to_string()},
            {"name": "children", "valueInteger": children},
            {"name": "childrenWithoutGuardian", "valueInteger": without_guardian},
            {"name": "remindersSent", "valueInteger": sent}
        ]
    });
    Ok(fhir_response(StatusCode::OK, &out))
}

fn reminder_entity(
    comm_id: &str,
    subject: &str,
    guardians: &[String],
    d: &kizuna_fhir::schedule::ScheduledDose,
    message: &str,
) -> Entity {
    let dc = "https://uri.etsi.org/ngsi-ld/default-context/";
    let mut e = Entity {
        id: format!("urn:ngsi-ld:ImmunizationReminder:{comm_id}"),
        types: vec![REMINDER_TYPE.to_string()],
        scope: vec![],
        attrs: Default::default(),
        created_at: None,
        modified_at: None,
    };
    let mut subj = Attribute::property(json!(subject));
    subj.kind = AttrKind::Relationship;
    e.attrs.insert(kizuna_consent::DATA_SUBJECT.to_string(), vec![subj]);
    let mut put = |k: &str, v: Value| {
        e.attrs.insert(format!("{dc}{k}"), vec![Attribute::property(v)]);
    };
    put("vaccine", json!(d.code));
    put("label", json!(d.label));
    put("doseNumber", json!(d.dose_number));
    put("status", json!(status_code(d.status)));
    put("standardUntil", json!(d.standard_until.to_string()));
    put("fundedUntil", json!(d.funded_until.to_string()));
    put("guardians", json!(guardians));
    put("message", json!(message));
    put("communication", json!(format!("Communication/{comm_id}")));
    e.stamp_new(&kizuna_ngsild::entity::now_timestamp());
    e
}

async fn research_extract(st: &FhirState, caller: &Caller, k: Option<&str>) -> Result<Response, FhirError> {
    if !matches!(caller.role(), Role::ServiceProvider | Role::DataHolder) {
        return Err(FhirError::Access(kizuna_api_ngsild::ApiError::Forbidden(
            "research extracts are made for a registered research party (service provider or data holder) with purpose 'research'; \
             the tenant admin would see everyone regardless of consent"
                .into(),
        )));
    }
    if caller.access.request.purpose.as_ref().map(|p| p.as_str()) != Some("research") {
        return Err(bad(
            "a research extract needs the purpose 'research' (Kizuna-Purpose header or the token's purpose)",
        ));
    }
    // Kizuna never releases a research extract with k below 5.
    let k: usize = match k {
        None => 5,
        Some(s) => s
            .parse()
            .ok()
            .filter(|k| *k >= 5)
            .ok_or_else(|| bad(format!("k '{s}' must be a whole number of at least 5")))?,
    };
    let now = Utc::now();
    let t = caller.tenant.clone();
    let c = caller.clone();
    // Decide every person; gather the resources of those who allow it.
    let (inputs, ledger, returned) = read_store(st, move |s| {
        let ledger = Ledger::default();
        let mut returned = Vec::new();
        let patients = s.fhir_search(&t, &all("Patient"), 0, usize::MAX, &mut |_| true)?.records;
        let mut inputs = Vec::new();
        for p in patients {
            let key = format!("Patient/{}", p.id);
            let v = c.decide("Patient", &p.id, p.subject.as_deref(), None, now);
            let allowed = v.note(&ledger, key.clone());
            let (Some(subject), true, Some(patient)) = (p.subject.clone(), allowed, p.resource.clone()) else {
                continue;
            };
            returned.push(key);
            let mut resources = Vec::new();
            for r in s.fhir_of_subject(&t, &subject)? {
                if r.rtype == "Patient" {
                    continue;
                }
                let key = format!("{}/{}", r.rtype, r.id);
                let v = c.decide(&r.rtype, &r.id, r.subject.as_deref(), None, now);
                let allowed = v.note(&ledger, key.clone());
                if allowed {
                    returned.push(key);
                    resources.extend(r.resource);
                }
            }
            inputs.push(kizuna_fhir::deid::ExtractInput { patient, resources });
        }
        Ok((inputs, ledger, returned))
    })
    .await?;
    let (audits, provisions) = ledger.settle(returned.iter().map(String::as_str));
    record(st, &caller.tenant, audits, provisions).await?;
    let salt = research_salt(st, caller).await?;
    let opts = kizuna_fhir::deid::DeidOptions { k, salt, reference_date: now.date_naive() };
    let extract = kizuna_fhir::deid::extract(&inputs, &opts);
    let r = &extract.report;
    let body = json!({
        "report": {
            "kRequired": r.k_required,
            "kAchieved": r.k_achieved,
            "quasiIdentifiers": r.quasi_identifiers,
            "inputPeople": r.input_people,
            "releasedPeople": r.released_people,
            "suppressedPeople": r.suppressed_people,
            "equivalenceClasses": r.equivalence_classes,
            "generalisation": r.generalisation,
            "consentingPeople": inputs.len(),
        },
        "rows": extract.rows,
    });
    Ok(fhir_response(StatusCode::OK, &body))
}

/// The tenant's secret salt for research pseudonyms (created on first use, never served).
async fn research_salt(st: &FhirState, caller: &Caller) -> Result<String, FhirError> {
    write_txn(st, caller, move |tx| {
        if let Some(s) = tx.fhir_state("research-salt")?.and_then(|v| v.as_str().map(str::to_string)) {
            return Ok(s);
        }
        let s = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
        tx.set_fhir_state("research-salt", &json!(s))?;
        Ok(s)
    })
    .await
}

// ------------------------------------------------------------------ Consent view

/// The FHIR id of a consent record (`urn:kizuna:consent:<uuid>` → `<uuid>`).
pub fn consent_fhir_id(id: &str) -> String {
    let tail = id.rsplit(':').next().unwrap_or(id);
    if kizuna_fhir::validate::is_id(tail) {
        tail.to_string()
    } else {
        tail.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '.').take(64).collect()
    }
}

/// A consent record as FHIR R4 Consent.
pub fn consent_resource(c: &ConsentRecord, now: chrono::DateTime<Utc>) -> Value {
    let active = c.is_valid_at(now);
    let mut period = json!({"start": instant(c.granted_at)});
    if let Some(e) = c.expires_at {
        period["end"] = json!(instant(e));
    }
    let party = |p: &str| json!({"identifier": {"system": "urn:kizuna:party", "value": p}});
    json!({
        "resourceType": "Consent",
        "id": consent_fhir_id(&c.id),
        "identifier": [{"system": "urn:kizuna:consent", "value": c.id}],
        "status": if active { "active" } else { "inactive" },
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy", "display": "Privacy Consent"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0", "display": "Patient Consent"}]}],
        "patient": {"identifier": {"system": DATA_SUBJECT_SYSTEM, "value": c.subject}},
        "dateTime": instant(c.granted_at),
        "organization": [party(&c.controller)],
        "policyRule": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}]},
        "provision": {
            "type": "permit",
            "period": period,
            "actor": [{"role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP", "display": "information recipient"}]}, "reference": party(&c.recipient)}],
            "purpose": c.purposes.iter().map(|p| json!({"system": "urn:kizuna:purpose", "code": p.as_str()})).collect::<Vec<_>>(),
            "code": c.categories.iter().map(|k| json!({"coding": [{"system": "urn:kizuna:category", "code": k.as_str()}]})).collect::<Vec<_>>(),
        },
        "extension": [
            {"url": "urn:kizuna:consent:method", "valueString": serde_json::to_value(c.method).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()},
            {"url": "urn:kizuna:consent:notice-version", "valueString": c.notice_version}
        ],
    })
}

/// Whether `caller` may see consent `c`: the decision point (subject, guardian, admin),
/// or the recipient named in it.
fn consent_verdict(caller: &Caller, c: &ConsentRecord, now: chrono::DateTime<Utc>) -> crate::access::Verdict {
    let id = consent_fhir_id(&c.id);
    let mut v = caller.decide("Consent", &id, Some(&c.subject), None, now);
    if !v.allowed && caller.access.request.caller.party.as_deref() == Some(c.recipient.as_str()) {
        v.allowed = true;
        if let Some(a) = v.audit.as_mut() {
            a.decision.allowed = true;
            a.decision.basis = Some("recipient".into());
            a.decision.reason = None;
        }
    }
    v
}

/// `GET /fhir/Consent/{id}`.
pub async fn consent_read(st: &FhirState, caller: &Caller, id: &str) -> Result<Response, FhirError> {
    let t = caller.tenant.clone();
    let full = format!("urn:kizuna:consent:{id}");
    let i = id.to_string();
    let c = read_store(st, move |s| {
        Ok(match s.consent(&t, &full)? {
            Some(c) => Some(c),
            None => s.consent(&t, &i)?,
        })
    })
    .await?;
    let missing = || FhirError::NotFound(format!("Consent/{id} not found"));
    let c = c.ok_or_else(missing)?;
    let now = Utc::now();
    let v = consent_verdict(caller, &c, now);
    if !crate::rest::record_one(st, caller, format!("Consent/{id}"), v).await? {
        return Err(missing());
    }
    Ok(fhir_response(StatusCode::OK, &consent_resource(&c, now)))
}

/// `GET /fhir/Consent?patient=...&status=...`.
pub async fn consent_search(
    st: &FhirState,
    caller: &Caller,
    headers: &HeaderMap,
    pairs: &[(String, String)],
) -> Result<Response, FhirError> {
    let mut patient = None;
    let mut status = None;
    for (k, v) in pairs {
        match k.as_str() {
            "patient" => patient = Some(crate::query::reference(v, Some("Patient"))?),
            "status" => status = Some(v.clone()),
            "_count" | "_format" => {}
            other => return Err(bad(format!("Consent has no search parameter '{other}' here (patient, status)"))),
        }
    }
    let t = caller.tenant.clone();
    let me = caller.subject().map(str::to_string);
    let party = caller.access.request.caller.party.clone();
    let role = caller.role();
    let records = read_store(st, move |s| {
        let subject = match &patient {
            Some(p) => {
                let id = p.trim_start_matches("Patient/");
                s.fhir_read(&t, "Patient", id)?.filter(|r| !r.deleted).and_then(|r| r.subject)
            }
            None => None,
        };
        Ok(match (subject, patient.is_some(), role) {
            (Some(subj), _, _) => s.consents_of(&t, &subj)?,
            (None, true, _) => Vec::new(),
            (None, false, Role::Citizen) => me.map(|m| s.consents_of(&t, &m)).transpose()?.unwrap_or_default(),
            (None, false, _) => party.map(|p| s.consents_by_recipient(&t, &p)).transpose()?.unwrap_or_default(),
        })
    })
    .await?;
    let now = Utc::now();
    let mut out = Release::new(base_url(headers), Ledger::default());
    for c in records {
        let res = consent_resource(&c, now);
        if status.as_deref().is_some_and(|s| res["status"] != s) {
            continue;
        }
        let v = consent_verdict(caller, &c, now);
        out.offer(format!("Consent/{}", consent_fhir_id(&c.id)), v, res);
    }
    let bundle = out.finish(st, caller, "Consent".into()).await?;
    Ok(fhir_response(StatusCode::OK, &bundle))
}
