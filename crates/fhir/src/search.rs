//! FHIR R4 search parameters Kizuna supports, and what each indexes.
//!
//! [`params_of`] lists the parameters of each resource type with their FHIR type and
//! the element paths they read (from the R4 search parameter registry, restricted to
//! what the PHR needs); [`index`] extracts a resource's values for all of them, the
//! rows the store keeps for search. Dates become inclusive millisecond ranges at their
//! precision (`2026-11` covers the whole month; a date, or a time without zone, is read
//! in Japan Standard Time, UTC+09:00, the zone of the municipalities Kizuna serves);
//! strings are indexed lower-cased (FHIR string search is case-insensitive and
//! matches from the start); a reference is kept as `Type/id`.

use chrono::{DateTime, Datelike, Months, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde_json::Value;

/// The FHIR type of a search parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// `system|code`.
    Token,
    /// `Type/id`.
    Reference,
    /// Date with prefixes.
    Date,
    /// Case-insensitive prefix.
    String,
    /// A URI, exact.
    Uri,
}

impl ParamKind {
    /// The name used in a CapabilityStatement.
    pub fn as_str(self) -> &'static str {
        match self {
            ParamKind::Token => "token",
            ParamKind::Reference => "reference",
            ParamKind::Date => "date",
            ParamKind::String => "string",
            ParamKind::Uri => "uri",
        }
    }
}

/// One search parameter of a resource type.
#[derive(Debug, Clone, Copy)]
pub struct ParamDef {
    /// The parameter name.
    pub name: &'static str,
    /// Its type.
    pub kind: ParamKind,
    /// Element paths (dotted, arrays traversed; alternatives for choice types).
    pub paths: &'static [&'static str],
    /// For references: the only target type indexed (`patient` → `Patient`).
    pub target: Option<&'static str>,
    /// What it searches (for the CapabilityStatement).
    pub doc: &'static str,
}

const fn p(name: &'static str, kind: ParamKind, paths: &'static [&'static str], doc: &'static str) -> ParamDef {
    ParamDef { name, kind, paths, target: None, doc }
}

const fn patient(paths: &'static [&'static str]) -> ParamDef {
    ParamDef { name: "patient", kind: ParamKind::Reference, paths, target: Some("Patient"), doc: "The patient" }
}

use ParamKind::{Date, Reference, String as Str, Token, Uri};

const COMMON: &[ParamDef] = &[
    p("_id", Token, &["id"], "Logical id"),
    p("_lastUpdated", Date, &["meta.lastUpdated"], "When the resource version last changed"),
    p("_source", Uri, &["meta.source"], "The party that supplied the resource (provenance)"),
];

const PATIENT: &[ParamDef] = &[
    p("identifier", Token, &["identifier"], "A patient identifier (system|value)"),
    p("name", Str, &["name.family", "name.given", "name.text"], "Any part of a name"),
    p("family", Str, &["name.family"], "Family name"),
    p("given", Str, &["name.given"], "Given name"),
    p("birthdate", Date, &["birthDate"], "Date of birth"),
    p("gender", Token, &["gender"], "Gender"),
    p("address-city", Str, &["address.city"], "City of an address"),
];

const OBSERVATION: &[ParamDef] = &[
    patient(&["subject"]),
    p("subject", Reference, &["subject"], "The subject"),
    p("code", Token, &["code"], "The code of the observation"),
    p("component-code", Token, &["component.code"], "The code of a component"),
    p("category", Token, &["category"], "Category (vital-signs, laboratory...)"),
    p("date", Date, &["effectiveDateTime", "effectivePeriod", "effectiveInstant"], "Clinically relevant time"),
    p("status", Token, &["status"], "Status"),
    p("encounter", Reference, &["encounter"], "The encounter"),
];

const IMMUNIZATION: &[ParamDef] = &[
    patient(&["patient"]),
    p("vaccine-code", Token, &["vaccineCode"], "Vaccine product"),
    p("date", Date, &["occurrenceDateTime"], "Vaccination date"),
    p("status", Token, &["status"], "Status"),
];

const MEDICATION_DISPENSE: &[ParamDef] = &[
    patient(&["subject"]),
    p("subject", Reference, &["subject"], "The subject"),
    p("code", Token, &["medicationCodeableConcept"], "Medication code (YJ, HOT)"),
    p("whenhandedover", Date, &["whenHandedOver"], "When dispensed"),
    p("status", Token, &["status"], "Status"),
];

const MEDICATION_STATEMENT: &[ParamDef] = &[
    patient(&["subject"]),
    p("subject", Reference, &["subject"], "The subject"),
    p("code", Token, &["medicationCodeableConcept"], "Medication code"),
    p("effective", Date, &["effectiveDateTime", "effectivePeriod"], "When taken"),
    p("status", Token, &["status"], "Status"),
];

const ENCOUNTER: &[ParamDef] = &[
    patient(&["subject"]),
    p("subject", Reference, &["subject"], "The subject"),
    p("date", Date, &["period"], "When the encounter took place"),
    p("class", Token, &["class"], "Class of encounter"),
    p("type", Token, &["type"], "Type of encounter (checkup kind)"),
    p("status", Token, &["status"], "Status"),
];

const DIAGNOSTIC_REPORT: &[ParamDef] = &[
    patient(&["subject"]),
    p("subject", Reference, &["subject"], "The subject"),
    p("code", Token, &["code"], "Report code"),
    p("category", Token, &["category"], "Category"),
    p("date", Date, &["effectiveDateTime", "effectivePeriod"], "Clinically relevant time"),
    p("result", Reference, &["result"], "An included Observation"),
    p("encounter", Reference, &["encounter"], "The encounter"),
    p("status", Token, &["status"], "Status"),
];

const CONDITION: &[ParamDef] = &[
    patient(&["subject"]),
    p("subject", Reference, &["subject"], "The subject"),
    p("code", Token, &["code"], "Condition code"),
    p("category", Token, &["category"], "Category"),
    p("onset-date", Date, &["onsetDateTime", "onsetPeriod"], "Onset"),
    p("clinical-status", Token, &["clinicalStatus"], "Clinical status"),
];

const ORGANIZATION: &[ParamDef] = &[
    p("identifier", Token, &["identifier"], "An identifier"),
    p("name", Str, &["name", "alias"], "Name or alias"),
    p("type", Token, &["type"], "Kind of organization"),
];

const FLAG: &[ParamDef] = &[
    patient(&["subject"]),
    p("subject", Reference, &["subject"], "The subject"),
    p("code", Token, &["code"], "What the flag is about (the recommendation)"),
    p("category", Token, &["category"], "Category"),
    p("status", Token, &["status"], "active | inactive | entered-in-error"),
    p("date", Date, &["period"], "Period the flag is active"),
];

const COMMUNICATION: &[ParamDef] = &[
    patient(&["subject"]),
    p("subject", Reference, &["subject"], "The subject"),
    p("recipient", Reference, &["recipient"], "Who the message is for"),
    p("category", Token, &["category"], "Message category"),
    p("status", Token, &["status"], "Status"),
    p("sent", Date, &["sent"], "When sent"),
];

/// The resource types Kizuna itself writes (threshold alerts, reminders); with the
/// client-written [`crate::validate::SUPPORTED_TYPES`] they are the types stored and
/// searched (Consent is a view of the consent records, served separately).
pub const SYSTEM_TYPES: &[&str] = &["Flag", "Communication"];

/// Every stored and searchable type, client-written first.
pub fn stored_types() -> impl Iterator<Item = &'static str> {
    crate::validate::SUPPORTED_TYPES.iter().chain(SYSTEM_TYPES).copied()
}

/// Whether `rtype` is stored and searchable.
pub fn is_stored(rtype: &str) -> bool {
    stored_types().any(|t| t == rtype)
}

/// The type-specific search parameters of `rtype` (without the common `_id`,
/// `_lastUpdated`, `_source`; see [`common_params`]).
pub fn params_of(rtype: &str) -> &'static [ParamDef] {
    match rtype {
        "Patient" => PATIENT,
        "Observation" => OBSERVATION,
        "Immunization" => IMMUNIZATION,
        "MedicationDispense" => MEDICATION_DISPENSE,
        "MedicationStatement" => MEDICATION_STATEMENT,
        "Encounter" => ENCOUNTER,
        "DiagnosticReport" => DIAGNOSTIC_REPORT,
        "Condition" => CONDITION,
        "Organization" => ORGANIZATION,
        "Flag" => FLAG,
        "Communication" => COMMUNICATION,
        _ => &[],
    }
}

/// The parameters every type has.
pub fn common_params() -> &'static [ParamDef] {
    COMMON
}

/// The definition of parameter `name` of `rtype`.
pub fn param(rtype: &str, name: &str) -> Option<&'static ParamDef> {
    COMMON.iter().chain(params_of(rtype)).find(|d| d.name == name)
}

/// One indexed value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IndexValue {
    /// The parameter.
    pub param: &'static str,
    /// A token's system.
    pub system: Option<String>,
    /// Code, reference or lower-cased string.
    pub text: Option<String>,
    /// Range start (epoch ms), dates.
    pub lo: Option<f64>,
    /// Range end, inclusive (epoch ms), dates.
    pub hi: Option<f64>,
}

/// The values at a dotted path (arrays traversed at every step).
pub fn values_at<'a>(v: &'a Value, path: &str) -> Vec<&'a Value> {
    let mut cur: Vec<&Value> = vec![v];
    for seg in path.split('.') {
        let mut next = Vec::new();
        for c in cur {
            match c.get(seg) {
                Some(Value::Array(a)) => next.extend(a.iter()),
                Some(x) => next.push(x),
                None => {}
            }
        }
        cur = next;
    }
    cur
}

/// Every index value of `resource` (its type from `resourceType`).
pub fn index(resource: &Value) -> Vec<IndexValue> {
    let rtype = resource.get("resourceType").and_then(Value::as_str).unwrap_or("");
    let mut out = Vec::new();
    for def in COMMON.iter().chain(params_of(rtype)) {
        for path in def.paths {
            for v in values_at(resource, path) {
                extract(def, v, &mut out);
            }
        }
    }
    out
}

fn extract(def: &ParamDef, v: &Value, out: &mut Vec<IndexValue>) {
    let base = || IndexValue { param: def.name, ..IndexValue::default() };
    match def.kind {
        ParamKind::Token => {
            for (system, code) in tokens(v) {
                out.push(IndexValue { system, text: Some(code), ..base() });
            }
        }
        ParamKind::Reference => {
            if let Some(r) = v.get("reference").and_then(Value::as_str) {
                if def.target.is_none_or(|t| r.strip_prefix(t).is_some_and(|rest| rest.starts_with('/'))) {
                    out.push(IndexValue { text: Some(r.to_string()), ..base() });
                }
            }
        }
        ParamKind::Date => {
            if let Some((lo, hi)) = date_value_range(v) {
                out.push(IndexValue { lo: Some(lo), hi: Some(hi), ..base() });
            }
        }
        ParamKind::String => {
            if let Some(s) = v.as_str() {
                out.push(IndexValue { text: Some(normalize(s)), ..base() });
            }
        }
        ParamKind::Uri => {
            if let Some(s) = v.as_str() {
                out.push(IndexValue { text: Some(s.to_string()), ..base() });
            }
        }
    }
}

/// How strings are compared: lower-cased, surrounding white space removed.
pub fn normalize(s: &str) -> String {
    s.trim().to_lowercase()
}

/// `(system, code)` pairs of a CodeableConcept, Coding, Identifier or code.
fn tokens(v: &Value) -> Vec<(Option<String>, String)> {
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    match v {
        Value::String(code) => vec![(None, code.clone())],
        Value::Bool(b) => vec![(None, b.to_string())],
        Value::Object(o) if o.contains_key("coding") => values_at(v, "coding").into_iter().flat_map(tokens).collect(),
        Value::Object(o) if o.contains_key("code") => s("code").map(|c| vec![(s("system"), c)]).unwrap_or_default(),
        Value::Object(o) if o.contains_key("value") => s("value").map(|c| vec![(s("system"), c)]).unwrap_or_default(),
        _ => vec![],
    }
}

/// The range of a date/dateTime/instant string or a Period.
fn date_value_range(v: &Value) -> Option<(f64, f64)> {
    match v {
        Value::String(s) => date_range(s).ok(),
        Value::Object(_) => {
            let start = v.get("start").and_then(Value::as_str).and_then(|s| date_range(s).ok());
            let end = v.get("end").and_then(Value::as_str).and_then(|s| date_range(s).ok());
            match (start, end) {
                (None, None) => None,
                (s, e) => Some((s.map_or(f64::MIN, |r| r.0), e.map_or(f64::MAX, |r| r.1))),
            }
        }
        _ => None,
    }
}

/// The inclusive range in epoch milliseconds a FHIR date, dateTime or instant covers at
/// its precision: `2026`, `2026-11`, `2026-11-23`, `2026-11-23T09:30(:00(.000))(Z|+09:00)`.
/// A date, or a time without zone, is read in Japan Standard Time ([`DEFAULT_OFFSET_MS`]).
pub fn date_range(s: &str) -> Result<(f64, f64), String> {
    let bad = || format!("'{s}' is not a FHIR date or dateTime");
    let ms = |d: DateTime<Utc>| d.timestamp_millis() as f64;
    let day = |y: i32, m: u32, d: u32| NaiveDate::from_ymd_opt(y, m, d).ok_or_else(bad);
    let midnight = |d: NaiveDate| {
        Utc.from_utc_datetime(&d.and_time(chrono::NaiveTime::MIN))
            - chrono::Duration::milliseconds(DEFAULT_OFFSET_MS as i64)
    };
    let num = |t: &str| t.parse::<u32>().map_err(|_| bad());
    // Every form is ASCII; checking first keeps the byte slicing below on char boundaries.
    if !s.is_ascii() {
        return Err(bad());
    }
    match s.len() {
        4 => {
            let y: i32 = s.parse().map_err(|_| bad())?;
            let a = midnight(day(y, 1, 1)?);
            let b = midnight(day(y + 1, 1, 1)?);
            Ok((ms(a), ms(b) - 1.0))
        }
        7 if s.as_bytes()[4] == b'-' => {
            let y: i32 = s[..4].parse().map_err(|_| bad())?;
            let first = day(y, num(&s[5..7])?, 1)?;
            let next = first.checked_add_months(Months::new(1)).ok_or_else(bad)?;
            Ok((ms(midnight(first)), ms(midnight(next)) - 1.0))
        }
        10 => {
            let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| bad())?;
            let a = midnight(d);
            Ok((ms(a), ms(a) + 86_400_000.0 - 1.0))
        }
        _ => {
            if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
                let t = dt.with_timezone(&Utc);
                // Precision: seconds unless fractions are given.
                let frac = s.get(19..).is_some_and(|r| r.starts_with('.'));
                let width = if frac { 0.0 } else { 999.0 };
                return Ok((ms(t), ms(t) + width));
            }
            // Minutes precision, or no zone.
            let (body, zone) = split_zone(s);
            let naive = NaiveDateTime::parse_from_str(body, "%Y-%m-%dT%H:%M:%S%.f")
                .map(|n| (n, if body.len() > 19 { 0.0 } else { 999.0 }))
                .or_else(|_| NaiveDateTime::parse_from_str(body, "%Y-%m-%dT%H:%M").map(|n| (n, 59_999.0)))
                .map_err(|_| bad())?;
            let offset_ms = zone_offset_ms(zone).ok_or_else(bad)?;
            let t = Utc.from_utc_datetime(&naive.0).timestamp_millis() as f64 - offset_ms;
            Ok((t, t + naive.1))
        }
    }
}

fn split_zone(s: &str) -> (&str, &str) {
    if let Some(b) = s.strip_suffix('Z') {
        return (b, "Z");
    }
    if s.len() > 16 {
        let tail = &s[s.len() - 6..];
        if (tail.starts_with('+') || tail.starts_with('-')) && tail.as_bytes()[3] == b':' {
            return (&s[..s.len() - 6], tail);
        }
    }
    (s, "")
}

/// The offset of dates and zone-less times: Japan Standard Time, +09:00.
pub const DEFAULT_OFFSET_MS: f64 = 9.0 * 3_600_000.0;

fn zone_offset_ms(z: &str) -> Option<f64> {
    if z.is_empty() {
        return Some(DEFAULT_OFFSET_MS);
    }
    if z == "Z" {
        return Some(0.0);
    }
    let sign = if z.starts_with('-') { -1.0 } else { 1.0 };
    let h: f64 = z.get(1..3)?.parse().ok()?;
    let m: f64 = z.get(4..6)?.parse().ok()?;
    Some(sign * (h * 3_600_000.0 + m * 60_000.0))
}

/// Today's age in whole years of someone born on `birth` (for generalisation and
/// schedules).
pub fn age_on(birth: NaiveDate, on: NaiveDate) -> i32 {
    let mut age = on.year() - birth.year();
    if (on.month(), on.day()) < (birth.month(), birth.day()) {
        age -= 1;
    }
    age
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn date_ranges_follow_precision() {
        let (a, b) = date_range("2026-11").unwrap();
        assert_eq!(b - a + 1.0, 30.0 * 86_400_000.0);
        let (a, b) = date_range("2026").unwrap();
        assert_eq!(b - a + 1.0, 365.0 * 86_400_000.0);
        let (a, b) = date_range("2026-11-23").unwrap();
        assert_eq!(b - a + 1.0, 86_400_000.0);
        let (a, _) = date_range("2026-11-23T09:00:00+09:00").unwrap();
        let (z, zb) = date_range("2026-11-23T00:00:00Z").unwrap();
        assert_eq!(a, z);
        assert_eq!(zb - z, 999.0);
        let (m, mb) = date_range("2026-11-23T09:00+09:00").unwrap();
        assert_eq!((m, mb - m), (z, 59_999.0));
        // A date starts at midnight in Japan.
        let (d, _) = date_range("2026-11-23").unwrap();
        assert_eq!(d, z - 9.0 * 3_600_000.0);
        let (n, _) = date_range("2026-11-23T09:00:00").unwrap();
        assert_eq!(n, z);
        assert!(date_range("2026-13").is_err());
        assert!(date_range("23/11/2026").is_err());
        assert!(date_range("2026-02-30").is_err());
        // Found by the search-parser property test: multi-byte text of a date's length.
        assert!(date_range("2026-11-23T09:00:00+09:0\u{745f7}").is_err());
        assert!(date_range("２０２６").is_err());
    }

    #[test]
    fn observation_index_rows() {
        let obs = json!({
            "resourceType": "Observation", "id": "o1", "status": "final",
            "meta": {"lastUpdated": "2026-11-23T00:00:00.000Z", "source": "urn:kizuna:party:clinic"},
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
            "subject": {"reference": "Patient/p1"},
            "effectiveDateTime": "2026-11-20T07:00:00+09:00",
            "component": [{"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]}}]
        });
        let rows = index(&obs);
        let of = |p: &str| rows.iter().filter(|r| r.param == p).cloned().collect::<Vec<_>>();
        assert_eq!(of("patient")[0].text.as_deref(), Some("Patient/p1"));
        assert_eq!(of("subject")[0].text.as_deref(), Some("Patient/p1"));
        assert_eq!(of("code")[0].system.as_deref(), Some("http://loinc.org"));
        assert_eq!(of("component-code")[0].text.as_deref(), Some("8480-6"));
        assert_eq!(of("category")[0].text.as_deref(), Some("vital-signs"));
        assert_eq!(of("_id")[0].text.as_deref(), Some("o1"));
        assert_eq!(of("_source")[0].text.as_deref(), Some("urn:kizuna:party:clinic"));
        assert_eq!(of("date").len(), 1);
        assert_eq!(of("status")[0].text.as_deref(), Some("final"));
    }

    #[test]
    fn patient_reference_param_only_indexes_patients() {
        let obs = json!({"resourceType": "Observation", "subject": {"reference": "Group/g1"}});
        let rows = index(&obs);
        assert!(rows.iter().all(|r| r.param != "patient"));
        assert!(rows.iter().any(|r| r.param == "subject"));
    }

    #[test]
    fn strings_and_identifiers() {
        let p = json!({"resourceType": "Patient", "name": [{"family": "Yamada", "given": ["Hanako"]}],
            "identifier": [{"system": "urn:kizuna:data-subject", "value": "urn:ngsi-ld:Person:hanako"}],
            "birthDate": "1980-04-01", "gender": "female"});
        let rows = index(&p);
        assert!(rows.iter().any(|r| r.param == "family" && r.text.as_deref() == Some("yamada")));
        assert!(rows.iter().any(|r| r.param == "name" && r.text.as_deref() == Some("hanako")));
        assert!(rows.iter().any(|r| r.param == "identifier"
            && r.system.as_deref() == Some("urn:kizuna:data-subject")
            && r.text.as_deref() == Some("urn:ngsi-ld:Person:hanako")));
    }

    #[test]
    fn period_open_end() {
        let f = json!({"resourceType": "Flag", "period": {"start": "2026-11-20"}});
        let rows = index(&f);
        let d = rows.iter().find(|r| r.param == "date").unwrap();
        assert_eq!(d.hi, Some(f64::MAX));
    }
}
