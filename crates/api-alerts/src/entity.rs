//! The contract between a CAP message and its NGSI-LD entity, and the JSON summary.
//!
//! # The entity (a contract other components rely on: keep it exactly)
//!
//! - id `urn:ngsi-ld:Alert:<identifier>`, the identifier's characters outside
//!   `[A-Za-z0-9._-]` percent-encoded (UTF-8 bytes, upper-case hex): [`entity_id`];
//! - type `https://uri.etsi.org/ngsi-ld/default-context/Alert` ([`ALERT_TYPE`]);
//! - attributes, expanded with the core context (`https://uri.etsi.org/ngsi-ld/default-context/<name>`,
//!   `location` being the core `https://uri.etsi.org/ngsi-ld/location`):
//!   - `identifier`, `sender`, `sent`: Property, string (CAP lexical form);
//!   - `msgType`, `status`, `scope`: Property, string (`scope` is inserted expanded,
//!     since `scope` is a reserved member of entity JSON);
//!   - `severity`, `urgency`, `certainty`: Property, string, from the first `info` block
//!     (absent when the message has no `info`, e.g. a bare Cancel);
//!   - `event`: LanguageProperty, `{ "ja": ..., "en": ... }` keyed by the primary subtag of
//!     each info block's `language` (`en` when none is given); absent without `info`;
//!   - `warningLevel`: Property, number, from the parameter `JP-WarningLevel` (if any);
//!   - `expires`: Property, string, the first `info/expires` (if any);
//!   - `active`: Property, boolean — not cancelled, not superseded by an Update, not
//!     expired when written; the API recomputes expiry on every read;
//!   - `references`: Property, array of the referenced identifiers (possibly empty);
//!   - `geocodes`: Property, array of the `JP-LGCode` geocode values (possibly empty);
//!   - `capXml`: Property, string, the canonical CAP XML ([`kizuna_cap::xml::to_xml`]);
//!   - `location`: GeoProperty, the union of the areas ([`crate::geo::alert_geometry`]);
//!     absent when no area has a polygon, circle or known municipality code.

use chrono::{DateTime, Utc};
use kizuna_cap::japan::PARAM_WARNING_LEVEL;
use kizuna_cap::{Alert, MsgType, Severity};
use kizuna_ngsild::{Attribute, Context, Entity};
use serde_json::{json, Map, Value};

use crate::geo;

/// The expanded type of alert entities.
pub const ALERT_TYPE: &str = "https://uri.etsi.org/ngsi-ld/default-context/Alert";
/// Where short names expand to under the core context.
pub const VOCAB: &str = "https://uri.etsi.org/ngsi-ld/default-context/";
/// The expanded `location` (core term).
pub const LOCATION: &str = "https://uri.etsi.org/ngsi-ld/location";

/// The expanded IRI of the attribute `name` (a default-context term).
pub fn iri(name: &str) -> String {
    format!("{VOCAB}{name}")
}

/// Percent-encodes every character outside `[A-Za-z0-9._-]` (UTF-8 bytes).
pub fn encode(identifier: &str) -> String {
    let mut out = String::with_capacity(identifier.len());
    for b in identifier.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The entity id of the alert `identifier`.
pub fn entity_id(identifier: &str) -> String {
    format!("urn:ngsi-ld:Alert:{}", encode(identifier))
}

/// What the entity and the summary derive from a CAP message.
#[derive(Debug, Clone)]
pub struct Derived {
    pub severity: Option<Severity>,
    pub event: Map<String, Value>,
    pub headline: Map<String, Value>,
    pub warning_level: Option<f64>,
    pub expires: Option<kizuna_cap::CapDateTime>,
    pub references: Vec<String>,
    pub geocodes: Vec<String>,
    pub area_desc: Vec<String>,
    pub location: Option<Value>,
}

fn primary_language(tag: &str) -> String {
    tag.split('-').next().unwrap_or(tag).to_ascii_lowercase()
}

impl Derived {
    /// Derives the entity's values from `a`.
    pub fn of(a: &Alert) -> Derived {
        let mut event = Map::new();
        let mut headline = Map::new();
        for info in &a.info {
            let lang = primary_language(info.language_or_default());
            event.entry(lang.clone()).or_insert_with(|| Value::String(info.event.clone()));
            if let Some(h) = &info.headline {
                headline.entry(lang).or_insert_with(|| Value::String(h.clone()));
            }
        }
        let warning_level = a
            .info
            .iter()
            .find_map(|i| i.parameter(PARAM_WARNING_LEVEL))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite());
        let expires = a.info.iter().find_map(|i| i.expires);
        let references = a.referenced().unwrap_or_default().into_iter().map(|r| r.identifier).collect();
        let mut geocodes: Vec<String> = Vec::new();
        let mut area_desc: Vec<String> = Vec::new();
        for area in a.info.iter().flat_map(|i| &i.area) {
            for g in &area.geocode {
                if g.value_name == kizuna_cap::geocode::VALUE_NAME_LG_CODE && !geocodes.contains(&g.value) {
                    geocodes.push(g.value.clone());
                }
            }
            if !area_desc.contains(&area.area_desc) {
                area_desc.push(area.area_desc.clone());
            }
        }
        Derived {
            severity: a.info.first().map(|i| i.severity),
            event,
            headline,
            warning_level,
            expires,
            references,
            geocodes,
            area_desc,
            location: geo::alert_geometry(a),
        }
    }
}

/// Whether `a` is active when first stored at `now` (an Alert or Update not yet expired).
pub fn initially_active(a: &Alert, d: &Derived, now: DateTime<Utc>) -> bool {
    matches!(a.msg_type, MsgType::Alert | MsgType::Update) && not_expired(d, now)
}

/// Whether the alert has not expired at `now`.
pub fn not_expired(d: &Derived, now: DateTime<Utc>) -> bool {
    d.expires.is_none_or(|e| e.datetime() > now)
}

/// The NGSI-LD entity of `a` (see the module documentation), not yet stamped.
pub fn to_entity(a: &Alert, d: &Derived, active: bool) -> Result<Entity, kizuna_ngsild::NgsiError> {
    let p = |v: Value| json!({"type": "Property", "value": v});
    let mut body = Map::new();
    body.insert("id".into(), json!(entity_id(&a.identifier)));
    body.insert("type".into(), json!("Alert"));
    body.insert("identifier".into(), p(json!(a.identifier)));
    body.insert("sender".into(), p(json!(a.sender)));
    body.insert("sent".into(), p(json!(a.sent.to_string())));
    body.insert("msgType".into(), p(json!(a.msg_type.as_str())));
    body.insert("status".into(), p(json!(a.status.as_str())));
    if let Some(info) = a.info.first() {
        body.insert("severity".into(), p(json!(info.severity.as_str())));
        body.insert("urgency".into(), p(json!(info.urgency.as_str())));
        body.insert("certainty".into(), p(json!(info.certainty.as_str())));
    }
    if !d.event.is_empty() {
        body.insert("event".into(), json!({"type": "LanguageProperty", "languageMap": d.event}));
    }
    if let Some(l) = d.warning_level {
        body.insert("warningLevel".into(), p(json!(l)));
    }
    if let Some(e) = d.expires {
        body.insert("expires".into(), p(json!(e.to_string())));
    }
    body.insert("active".into(), p(json!(active)));
    body.insert("references".into(), p(json!(d.references)));
    body.insert("geocodes".into(), p(json!(d.geocodes)));
    body.insert("capXml".into(), p(json!(kizuna_cap::xml::to_xml(a))));
    if let Some(loc) = &d.location {
        body.insert("location".into(), json!({"type": "GeoProperty", "value": loc}));
    }
    let mut e = kizuna_ngsild::entity::parse_entity(&Value::Object(body), &Context::core())?;
    // `scope` is a reserved member of an entity in JSON (the entity's NGSI-LD scopes), so the
    // CAP scope cannot go through `parse_entity`: the attribute is added expanded.
    e.attrs.insert(iri("scope"), vec![Attribute::property(json!(a.scope.as_str()))]);
    Ok(e)
}

/// The value of the first instance of the attribute `expanded` (an IRI) of `e`.
pub fn attr<'a>(e: &'a Entity, expanded: &str) -> Option<&'a Value> {
    e.attrs.get(expanded).and_then(|v| v.first()).map(|a| &a.value)
}

/// One stored alert: the entity and its CAP message.
#[derive(Debug, Clone)]
pub struct Stored {
    pub entity: Entity,
    pub alert: Alert,
    pub derived: Derived,
}

impl Stored {
    /// Reads the CAP message back from `capXml`; `None` if the entity is not an alert of ours.
    pub fn from_entity(entity: Entity) -> Option<Stored> {
        let xml = attr(&entity, &iri("capXml"))?.as_str()?;
        let alert = kizuna_cap::xml::from_xml(xml).ok()?;
        let derived = Derived::of(&alert);
        Some(Stored { entity, alert, derived })
    }

    /// The stored `active` flag (set false by a Cancel or an Update).
    pub fn stored_active(&self) -> bool {
        attr(&self.entity, &iri("active")).and_then(Value::as_bool).unwrap_or(false)
    }

    /// Active now: the stored flag and not expired.
    pub fn active_at(&self, now: DateTime<Utc>) -> bool {
        self.stored_active() && not_expired(&self.derived, now)
    }

    /// The JSON summary; `superseded_by`: the identifiers of later messages referencing this one.
    pub fn summary(&self, now: DateTime<Utc>, superseded_by: &[String]) -> Value {
        let a = &self.alert;
        let d = &self.derived;
        let info = a.info.first();
        json!({
            "id": self.entity.id,
            "identifier": a.identifier,
            "sender": a.sender,
            "sent": a.sent.to_string(),
            "msgType": a.msg_type.as_str(),
            "status": a.status.as_str(),
            "scope": a.scope.as_str(),
            "severity": info.map(|i| i.severity.as_str()),
            "urgency": info.map(|i| i.urgency.as_str()),
            "certainty": info.map(|i| i.certainty.as_str()),
            "event": d.event,
            "headline": d.headline,
            "warningLevel": d.warning_level,
            "expires": d.expires.map(|e| e.to_string()),
            "active": self.active_at(now),
            "references": d.references,
            "supersededBy": superseded_by,
            "geocodes": d.geocodes,
            "areas": d.area_desc,
            "location": d.location,
            "cap": format!("/alerts/v1/alerts/{}", encode(&a.identifier)),
        })
    }
}

/// Rank of a severity for ordering (higher: more severe).
pub fn severity_rank(s: Option<Severity>) -> u8 {
    match s {
        Some(Severity::Extreme) => 4,
        Some(Severity::Severe) => 3,
        Some(Severity::Moderate) => 2,
        Some(Severity::Minor) => 1,
        Some(Severity::Unknown) | None => 0,
    }
}
