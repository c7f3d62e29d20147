//! Lifestyle-disease threshold alerts (生活習慣病重症化予防).
//!
//! When an Observation is stored, it is assessed against the tenant's threshold table
//! (`$thresholds`; the documented defaults of [`kizuna_fhir::thresholds`] until a tenant
//! sets its own). The last assessment per person and item is kept; an alert is raised
//! once per crossing into a worse alerting tier ([`crossed_since`]), not for every
//! reading in the same tier, and not while an earlier alert of the same item at the same
//! or a worse tier is still open (its Flag `active`). Whoever may see a Flag may close it
//! (`PUT Flag/{id}` changing only `status` and `period.end`), e.g. the insurer once the
//! visit is arranged. An alert, in the Observation's own transaction, is:
//!
//! - a **Flag** (status `active`, code from [`RECOMMENDATION_SYSTEM`]: `health-guidance`,
//!   `recommend-visit` (受診勧奨), `urgent-visit`; the Observation in the `flag-detail`
//!   extension) — the insurer's worklist is the search
//!   `Flag?code=urn:kizuna:fhir:recommendation|recommend-visit,...&status=active`, which
//!   the decision point answers only for people whose consent (or delegation) covers
//!   `health` for the insurer and purpose, and audits;
//! - a **Communication** to the person (category `alert`, the message in Japanese);
//! - an NGSI-LD entity `urn:ngsi-ld:HealthAlert:<flag id>` of type `HealthAlert` with the
//!   person as `dataSubject`, so the person's app is notified through an ordinary
//!   subscription (decided at delivery like every notification).

use chrono::{DateTime, Utc};
use kizuna_consent::DATA_SUBJECT;
use kizuna_fhir::thresholds::{assess_all, crossed_since, Assessment, Recommendation, Thresholds};
use kizuna_ngsild::{AttrKind, Attribute, Entity};
use kizuna_store::{FhirRecord, Txn};
use serde_json::{json, Value};

use crate::error::FhirError;
use crate::write::{instant, new_id, put_system};

/// The code system of Flag codes: what the person is advised to do.
pub const RECOMMENDATION_SYSTEM: &str = "urn:kizuna:fhir:recommendation";
/// The source (`meta.source`) of resources the threshold rules write.
pub const RULES_SOURCE: &str = "urn:kizuna:fhir:threshold-rules";
/// The NGSI-LD type of the alert entity (expanded with the core context's default vocabulary).
pub const HEALTH_ALERT_TYPE: &str = "https://uri.etsi.org/ngsi-ld/default-context/HealthAlert";
/// The `fhir_state` key of the tenant's threshold table.
pub const TABLE_KEY: &str = "thresholds";

/// The code of a recommendation in [`RECOMMENDATION_SYSTEM`].
pub fn recommendation_code(r: Recommendation) -> &'static str {
    match r {
        Recommendation::None => "none",
        Recommendation::Information => "information",
        Recommendation::HealthGuidance => "health-guidance",
        Recommendation::RecommendVisit => "recommend-visit",
        Recommendation::UrgentVisit => "urgent-visit",
    }
}

/// The tenant's table inside a transaction (the defaults if none was set).
pub fn table(tx: &mut dyn Txn) -> Result<Thresholds, FhirError> {
    match tx.fhir_state(TABLE_KEY)? {
        Some(v) => Thresholds::from_json(&v).map_err(|e| FhirError::BadRequest(format!("stored threshold table: {e}"))),
        None => Ok(Thresholds::default()),
    }
}

/// Assesses a stored Observation; raises the alert if a tier was crossed. Returns the
/// Flag and Communication written (none if nothing crossed).
pub fn on_observation(tx: &mut dyn Txn, obs: &FhirRecord, now: DateTime<Utc>) -> Result<Vec<FhirRecord>, FhirError> {
    let (Some(resource), Some(subject)) = (obs.resource.as_ref(), obs.subject.as_deref()) else {
        return Ok(Vec::new());
    };
    let table = table(tx)?;
    let mut crossed: Vec<Assessment> = Vec::new();
    for a in assess_all(resource, &table) {
        let key = format!("last:{subject}:{}", a.item);
        let previous: Option<Assessment> = tx.fhir_state(&key)?.and_then(|v| serde_json::from_value(v).ok());
        if crossed_since(previous.as_ref(), &a) {
            crossed.push(a.clone());
        }
        let doc = serde_json::to_value(&a).map_err(|e| FhirError::BadRequest(e.to_string()))?;
        tx.set_fhir_state(&key, &doc)?;
    }
    let Some(worst) = crossed.into_iter().max_by_key(|a| (a.recommendation, a.tier_index)) else {
        return Ok(Vec::new());
    };
    // An alert still open (its Flag active) for this item at the same or a worse tier
    // already says this: a reading that dips below the tier and comes back does not put
    // the person on the worklist twice. Closing the Flag (status inactive) re-arms it.
    let open_key = format!("flag:{subject}:{}", worst.item);
    if let Some(open) = tx.fhir_state(&open_key)? {
        let tier = open.get("tier_index").and_then(Value::as_u64).unwrap_or(0) as usize;
        let id = open.get("id").and_then(Value::as_str).unwrap_or("");
        let active = tx
            .fhir_current("Flag", id)?
            .and_then(|f| f.resource)
            .is_some_and(|f| f.get("status").and_then(Value::as_str) == Some("active"));
        if active && tier >= worst.tier_index {
            return Ok(Vec::new());
        }
    }
    let patient = resource.get("subject").cloned().unwrap_or(Value::Null);
    let when = resource
        .get("effectiveDateTime")
        .or_else(|| resource.get("effectiveInstant"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| instant(now));
    let obs_ref = format!("Observation/{}", obs.id);
    let code = recommendation_code(worst.recommendation);
    let text = format!(
        "{} {} {}: {} — {}",
        worst.item_name,
        trim_number(worst.value),
        worst.unit,
        worst.tier,
        worst.recommendation.ja()
    );
    let flag_id = new_id();
    let flag = json!({
        "resourceType": "Flag",
        "id": flag_id,
        "extension": [
            {"url": "http://hl7.org/fhir/StructureDefinition/flag-detail", "valueReference": {"reference": obs_ref}},
            {"url": "urn:kizuna:fhir:threshold-item", "valueString": worst.item},
            {"url": "urn:kizuna:fhir:threshold-source", "valueString": worst.source}
        ],
        "status": "active",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/flag-category", "code": "clinical", "display": "Clinical"}]}],
        "code": {"coding": [{"system": RECOMMENDATION_SYSTEM, "code": code, "display": worst.recommendation.ja()}], "text": text},
        "subject": patient,
        "period": {"start": when},
    });
    let flag = put_system(tx, flag, Some(subject.to_string()), RULES_SOURCE, now)?;
    tx.set_fhir_state(&open_key, &json!({"id": flag.id, "tier_index": worst.tier_index}))?;
    let message = format!(
        "{}の測定値 {} {} は「{}」の範囲です。{}。(基準: {})",
        worst.item_name,
        trim_number(worst.value),
        worst.unit,
        worst.tier,
        advice(worst.recommendation),
        worst.source
    );
    let communication = json!({
        "resourceType": "Communication",
        "status": "completed",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/communication-category", "code": "alert", "display": "Alert"}]}],
        "subject": patient,
        "recipient": [patient],
        "about": [{"reference": obs_ref}, {"reference": format!("Flag/{}", flag.id)}],
        "sent": instant(now),
        "payload": [{"contentString": message}],
    });
    let communication = put_system(tx, communication, Some(subject.to_string()), RULES_SOURCE, now)?;
    let entity = alert_entity(&flag.id, subject, &worst, &obs_ref, &when, &message);
    tx.insert(&entity)?;
    Ok(vec![flag, communication])
}

fn advice(r: Recommendation) -> &'static str {
    match r {
        Recommendation::None | Recommendation::Information => "生活習慣の参考にしてください",
        Recommendation::HealthGuidance => "保健指導の対象です。生活習慣の見直しをおすすめします",
        Recommendation::RecommendVisit => "医療機関の受診をおすすめします",
        Recommendation::UrgentVisit => "すぐに医療機関を受診してください",
    }
}

fn trim_number(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

fn property(v: Value) -> Attribute {
    Attribute::property(v)
}

/// The NGSI-LD entity of an alert (for subscriptions).
fn alert_entity(flag_id: &str, subject: &str, a: &Assessment, obs_ref: &str, when: &str, message: &str) -> Entity {
    let dc = "https://uri.etsi.org/ngsi-ld/default-context/";
    let mut e = Entity {
        id: format!("urn:ngsi-ld:HealthAlert:{flag_id}"),
        types: vec![HEALTH_ALERT_TYPE.to_string()],
        scope: vec![],
        attrs: Default::default(),
        created_at: None,
        modified_at: None,
    };
    let mut subj = property(json!(subject));
    subj.kind = AttrKind::Relationship;
    e.attrs.insert(DATA_SUBJECT.to_string(), vec![subj]);
    let mut value = property(json!(a.value));
    value.observed_at = Some(when.to_string());
    let mut put = |k: &str, v: Attribute| {
        e.attrs.insert(format!("{dc}{k}"), vec![v]);
    };
    put("item", property(json!(a.item)));
    put("itemName", property(json!(a.item_name)));
    put("tier", property(json!(a.tier)));
    put("recommendation", property(json!(recommendation_code(a.recommendation))));
    put("value", value);
    put("unit", property(json!(a.unit)));
    put("observation", property(json!(obs_ref)));
    put("flag", property(json!(format!("Flag/{flag_id}"))));
    put("message", property(json!(message)));
    e.stamp_new(&kizuna_ngsild::entity::now_timestamp());
    e
}
