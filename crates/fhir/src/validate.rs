//! Validation of incoming FHIR R4 resources (JSON, `serde_json::Value`).
//!
//! Not a full StructureDefinition engine: it checks what Kizuna relies on, and reports
//! every problem at once as an [`OperationOutcome`] whose issues name the element with a
//! FHIRPath-like `expression` (`Observation.component[1].valueQuantity.value`).
//!
//! What is checked, with its source:
//! - JSON representation rules (<https://hl7.org/fhir/R4/json.html>): `resourceType`
//!   present; no `null`; no empty strings, arrays or objects; elements with max
//!   cardinality `*` are arrays and the others are not.
//! - Primitive formats (<https://hl7.org/fhir/R4/datatypes.html>): `id`, `code`, `date`
//!   (`YYYY`, `YYYY-MM`, `YYYY-MM-DD`), `dateTime` (a date, or a full time with seconds and
//!   a time zone), `instant`, `decimal` (a JSON number), `boolean`, `positiveInt`.
//! - References (<https://hl7.org/fhir/R4/references.html>): `Type/id` (optionally
//!   `/_history/vid`), absolute URLs, `urn:uuid:` (transaction bundles) or `#contained`;
//!   the target type where Kizuna needs it (the person a record belongs to must be a Patient
//!   so consent can be decided).
//! - Required elements and bound codes of each resource in R4, and of the JP Core profiles
//!   (<https://jpfhir.jp/fhir/core/>) JP_Patient, JP_Observation_VitalSigns (which derives from
//!   the R4 Vital Signs profile, <https://hl7.org/fhir/R4/observation-vitalsigns.html>),
//!   JP_Observation_LabResult, JP_Immunization, JP_MedicationDispense.
//! - Code systems Kizuna reads (see [`crate::codes`]): LOINC for self-measured vitals with
//!   their UCUM units, the blood-pressure panel's systolic/diastolic components, JLAC10 format
//!   for lab results, YJ/HOT formats for drugs, Kizuna's vaccine code system.

use crate::codes::{self, loinc, DrugCodeSystem, RoutineVaccine};
use crate::outcome::{IssueCode, OperationOutcome, OutcomeIssue, ValidationErrors};
use chrono::{DateTime, NaiveDate};
use serde_json::{Map, Value};

/// Profile names (the last segment of the canonical URL under
/// `http://jpfhir.jp/fhir/core/StructureDefinition/`) with extra rules.
pub const JP_VITAL_SIGNS: &str = "/JP_Observation_VitalSigns";
pub const JP_LAB_RESULT: &str = "/JP_Observation_LabResult";

/// Resource types [`validate_resource`] knows.
pub const SUPPORTED_TYPES: &[&str] = &[
    "Patient",
    "Observation",
    "Immunization",
    "MedicationDispense",
    "MedicationStatement",
    "Encounter",
    "DiagnosticReport",
    "Condition",
    "Organization",
];

/// Validates a resource. `Ok` carries the warnings (possibly none); `Err` an
/// `OperationOutcome` with every error and warning found.
pub fn validate_resource(resource: &Value) -> Result<Vec<OutcomeIssue>, OperationOutcome> {
    check(resource, None).into_result()
}

/// As [`validate_resource`], also requiring `resourceType` to be `expected` (the type in
/// the URL of a create or update).
pub fn validate_resource_as(resource: &Value, expected: &str) -> Result<Vec<OutcomeIssue>, OperationOutcome> {
    check(resource, Some(expected)).into_result()
}

/// Runs every check and returns the collected issues.
pub fn check(resource: &Value, expected: Option<&str>) -> ValidationErrors {
    let mut v = V { e: ValidationErrors::new() };
    let Some(obj) = resource.as_object() else {
        v.e.error(IssueCode::Structure, "$this", "a resource must be a JSON object");
        return v.e;
    };
    let Some(rt) = obj.get("resourceType").and_then(Value::as_str) else {
        v.e.error(IssueCode::Required, "resourceType", "resourceType is missing or not a string");
        return v.e;
    };
    if let Some(exp) = expected {
        if rt != exp {
            v.e.error(
                IssueCode::Invalid,
                "resourceType",
                format!("resourceType is {rt} but this endpoint takes {exp}"),
            );
            return v.e;
        }
    }
    if !SUPPORTED_TYPES.contains(&rt) {
        v.e.error(IssueCode::NotSupported, "resourceType", format!("resource type {rt} is not supported"));
        return v.e;
    }
    v.json_rules(resource, rt);
    v.common(obj, rt);
    match rt {
        "Patient" => v.patient(obj),
        "Observation" => v.observation(obj),
        "Immunization" => v.immunization(obj),
        "MedicationDispense" => v.medication_dispense(obj),
        "MedicationStatement" => v.medication_statement(obj),
        "Encounter" => v.encounter(obj),
        "DiagnosticReport" => v.diagnostic_report(obj),
        "Condition" => v.condition(obj),
        "Organization" => v.organization(obj),
        _ => {}
    }
    v.e
}

// ---------------------------------------------------------------- primitives

/// FHIR `id`: `[A-Za-z0-9\-\.]{1,64}`.
pub fn is_id(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// FHIR `code`: no leading/trailing whitespace, single spaces only, not empty.
pub fn is_code(s: &str) -> bool {
    !s.is_empty() && s.trim() == s && !s.contains("  ") && !s.contains(['\t', '\n', '\r'])
}

/// FHIR `date`: `YYYY`, `YYYY-MM` or `YYYY-MM-DD`, each a real calendar value.
pub fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    match b.len() {
        4 => digits(0..4),
        7 => digits(0..4) && b[4] == b'-' && digits(5..7) && matches!(s[5..7].parse::<u32>(), Ok(1..=12)),
        10 => b[4] == b'-' && b[7] == b'-' && NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok(),
        _ => false,
    }
}

/// FHIR `dateTime`: a [`is_date`] or `YYYY-MM-DDThh:mm:ss(.s+)?(Z|±hh:mm)` (if hours and
/// minutes are given, seconds and a time zone SHALL be too).
pub fn is_date_time(s: &str) -> bool {
    if s.contains('T') {
        is_instant(s)
    } else {
        is_date(s)
    }
}

/// FHIR `instant`: a full timestamp with seconds and time zone.
pub fn is_instant(s: &str) -> bool {
    s.len() >= 20 && s.as_bytes().get(10) == Some(&b'T') && DateTime::parse_from_rfc3339(s).is_ok()
}

/// The `Type` of a relative reference `Type/id` or `Type/id/_history/vid`, if it is one.
pub fn relative_reference_type(r: &str) -> Option<&str> {
    let parts: Vec<&str> = r.split('/').collect();
    let ok_type = |t: &str| {
        t.chars().next().is_some_and(|c| c.is_ascii_uppercase()) && t.chars().all(|c| c.is_ascii_alphabetic())
    };
    match parts.as_slice() {
        [t, id] if ok_type(t) && is_id(id) => Some(t),
        [t, id, "_history", vid] if ok_type(t) && is_id(id) && is_id(vid) => Some(t),
        _ => None,
    }
}

/// Checker state.
struct V {
    e: ValidationErrors,
}

fn p(path: &str, name: &str) -> String {
    format!("{path}.{name}")
}

fn ix(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

impl V {
    // ------------------------------------------------------------ JSON rules

    fn json_rules(&mut self, v: &Value, path: &str) {
        match v {
            Value::Null => self.e.error(IssueCode::Structure, path, "null is not allowed in FHIR JSON"),
            Value::String(s) if s.is_empty() => {
                self.e.error(IssueCode::Structure, path, "empty strings are not allowed in FHIR JSON")
            }
            Value::Array(a) => {
                if a.is_empty() {
                    self.e.error(IssueCode::Structure, path, "empty arrays are not allowed in FHIR JSON");
                }
                for (i, x) in a.iter().enumerate() {
                    self.json_rules(x, &ix(path, i));
                }
            }
            Value::Object(o) => {
                if o.is_empty() {
                    self.e.error(IssueCode::Structure, path, "empty objects are not allowed in FHIR JSON");
                }
                for (k, x) in o {
                    // `div` of a Narrative is XHTML text; `contained` resources are checked
                    // by the same JSON rules.
                    self.json_rules(x, &p(path, k));
                }
            }
            _ => {}
        }
    }

    // ------------------------------------------------------------ element access

    /// A max-1 element: must not be an array; `required` reports it when missing.
    fn one<'a>(&mut self, o: &'a Map<String, Value>, path: &str, name: &str, required: bool) -> Option<&'a Value> {
        match o.get(name) {
            None | Some(Value::Null) => {
                if required {
                    self.e.required(p(path, name));
                }
                None
            }
            Some(Value::Array(_)) => {
                self.e.error(
                    IssueCode::Structure,
                    p(path, name),
                    format!("{}: has max cardinality 1 and must not be an array", p(path, name)),
                );
                None
            }
            Some(v) => Some(v),
        }
    }

    /// A max-* element: must be an array with at least `min` items.
    fn many<'a>(&mut self, o: &'a Map<String, Value>, path: &str, name: &str, min: usize) -> &'a [Value] {
        match o.get(name) {
            None | Some(Value::Null) => {
                if min > 0 {
                    self.e.required(p(path, name));
                }
                &[]
            }
            Some(Value::Array(a)) => {
                if a.len() < min {
                    self.e.error(
                        IssueCode::Required,
                        p(path, name),
                        format!("{}: needs at least {min} item(s)", p(path, name)),
                    );
                }
                a
            }
            Some(_) => {
                self.e.error(
                    IssueCode::Structure,
                    p(path, name),
                    format!("{}: has max cardinality * and must be an array", p(path, name)),
                );
                &[]
            }
        }
    }

    fn object<'a>(&mut self, v: &'a Value, path: &str) -> Option<&'a Map<String, Value>> {
        let o = v.as_object();
        if o.is_none() {
            self.e.error(IssueCode::Structure, path, format!("{path}: must be a JSON object"));
        }
        o
    }

    fn string<'a>(&mut self, v: &'a Value, path: &str) -> Option<&'a str> {
        let s = v.as_str();
        if s.is_none() {
            self.e.error(IssueCode::Structure, path, format!("{path}: must be a JSON string"));
        }
        s
    }

    /// A `choice[x]` element: returns `(suffix, value)` of the single present variant.
    fn choice<'a>(
        &mut self,
        o: &'a Map<String, Value>,
        path: &str,
        base: &str,
        allowed: &[&str],
        required: bool,
    ) -> Option<(&'static str, &'a Value)> {
        let present: Vec<(&String, &Value)> = o
            .iter()
            .filter(|(k, _)| {
                k.strip_prefix(base).is_some_and(|rest| rest.chars().next().is_some_and(|c| c.is_ascii_uppercase()))
            })
            .collect();
        if present.is_empty() {
            if required {
                self.e.required(format!("{path}.{base}[x]"));
            }
            return None;
        }
        if present.len() > 1 {
            self.e.error(
                IssueCode::Structure,
                format!("{path}.{base}[x]"),
                format!(
                    "{path}.{base}[x]: only one of {} may be present",
                    present.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(", ")
                ),
            );
            return None;
        }
        let (k, v) = present[0];
        let suffix = &k[base.len()..];
        match ALL_SUFFIXES.iter().find(|s| **s == suffix && allowed.contains(s)) {
            Some(s) => {
                if v.is_array() {
                    self.e.error(IssueCode::Structure, p(path, k), format!("{}: must not be an array", p(path, k)));
                    return None;
                }
                Some((s, v))
            }
            None => {
                self.e.error(
                    IssueCode::Structure,
                    p(path, k),
                    format!("{}: {base}[x] takes one of {}", p(path, k), allowed.join(", ")),
                );
                None
            }
        }
    }

    // ------------------------------------------------------------ primitive checks

    fn code(
        &mut self,
        o: &Map<String, Value>,
        path: &str,
        name: &str,
        required: bool,
        allowed: &[&str],
    ) -> Option<String> {
        let v = self.one(o, path, name, required)?;
        let path = p(path, name);
        let s = self.string(v, &path)?;
        if !is_code(s) {
            self.e.error(IssueCode::Value, &path, format!("{path}: '{s}' is not a valid code"));
            return None;
        }
        if !allowed.is_empty() && !allowed.contains(&s) {
            self.e.error(IssueCode::CodeInvalid, &path, format!("{path}: '{s}' is not one of {}", allowed.join(", ")));
            return None;
        }
        Some(s.to_owned())
    }

    fn date_value(&mut self, v: &Value, path: &str) {
        if let Some(s) = self.string(v, path) {
            if !is_date(s) {
                self.e.error(
                    IssueCode::Value,
                    path,
                    format!("{path}: '{s}' is not a FHIR date (YYYY, YYYY-MM or YYYY-MM-DD)"),
                );
            }
        }
    }

    fn date_time_value(&mut self, v: &Value, path: &str) {
        if let Some(s) = self.string(v, path) {
            if !is_date_time(s) {
                self.e.error(
                    IssueCode::Value,
                    path,
                    format!("{path}: '{s}' is not a FHIR dateTime (a date, or YYYY-MM-DDThh:mm:ss with a time zone)"),
                );
            }
        }
    }

    fn date_time(&mut self, o: &Map<String, Value>, path: &str, name: &str, required: bool) {
        if let Some(v) = self.one(o, path, name, required) {
            self.date_time_value(v, &p(path, name));
        }
    }

    fn boolean(&mut self, o: &Map<String, Value>, path: &str, name: &str) {
        if let Some(v) = self.one(o, path, name, false) {
            if !v.is_boolean() {
                self.e.error(IssueCode::Structure, p(path, name), format!("{}: must be true or false", p(path, name)));
            }
        }
    }

    fn decimal_value(&mut self, v: &Value, path: &str) -> Option<f64> {
        match v.as_f64() {
            Some(x) if v.is_number() => Some(x),
            _ => {
                self.e.error(IssueCode::Structure, path, format!("{path}: a decimal must be a JSON number"));
                None
            }
        }
    }

    fn period(&mut self, v: &Value, path: &str) {
        let Some(o) = self.object(v, path) else { return };
        self.date_time(o, path, "start", false);
        self.date_time(o, path, "end", false);
        if let (Some(s), Some(e)) = (o.get("start").and_then(Value::as_str), o.get("end").and_then(Value::as_str)) {
            // per-1: start <= end when both are full dates/times of the same precision.
            if s.len() == e.len() && is_date_time(s) && is_date_time(e) && s > e {
                self.e.error(IssueCode::Invariant, path, format!("{path}: start is after end (per-1)"));
            }
        }
    }

    // ------------------------------------------------------------ data types

    /// `Coding`: returns `(system, code)`.
    fn coding(&mut self, v: &Value, path: &str) -> (Option<String>, Option<String>) {
        let Some(o) = self.object(v, path) else { return (None, None) };
        let system = self.one(o, path, "system", false).and_then(|s| {
            let sp = p(path, "system");
            let s = self.string(s, &sp)?;
            if s.contains(char::is_whitespace) {
                self.e.error(IssueCode::Value, &sp, format!("{sp}: a uri must not contain whitespace"));
            }
            Some(s.to_owned())
        });
        let code = self.code(o, path, "code", false, &[]);
        if let Some(d) = self.one(o, path, "display", false) {
            self.string(d, &p(path, "display"));
        }
        if code.is_some() && system.is_none() {
            self.e.warning(
                IssueCode::Required,
                p(path, "system"),
                format!("{}: a code without a system cannot be interpreted", p(path, "system")),
            );
        }
        (system, code)
    }

    /// `CodeableConcept`: returns its `(index, system, code)` codings. With `need_coding`,
    /// a concept with only `text` is an error (Kizuna relies on the code).
    fn codeable_concept(
        &mut self,
        v: &Value,
        path: &str,
        need_coding: bool,
    ) -> Vec<(usize, Option<String>, Option<String>)> {
        let Some(o) = self.object(v, path) else { return Vec::new() };
        let codings = self.many(o, path, "coding", usize::from(need_coding));
        let out: Vec<_> = codings
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let (s, k) = self.coding(c, &ix(&p(path, "coding"), i));
                (i, s, k)
            })
            .collect();
        if let Some(t) = self.one(o, path, "text", false) {
            self.string(t, &p(path, "text"));
        }
        if !need_coding && out.is_empty() && !o.contains_key("text") {
            self.e.error(IssueCode::Required, path, format!("{path}: needs a coding or text"));
        }
        out
    }

    fn reference_value(&mut self, v: &Value, path: &str, types: &[&str]) {
        let Some(o) = self.object(v, path) else { return };
        let r = self.one(o, path, "reference", false);
        let has_other = o.contains_key("identifier") || o.contains_key("display");
        let Some(r) = r else {
            if !has_other {
                self.e.error(
                    IssueCode::Required,
                    p(path, "reference"),
                    format!("{}: a Reference needs reference, identifier or display", p(path, "reference")),
                );
            }
            return;
        };
        let rp = p(path, "reference");
        let Some(s) = self.string(r, &rp) else { return };
        if s.starts_with('#') || s.starts_with("urn:uuid:") || s.starts_with("urn:oid:") {
            return;
        }
        let rel = if s.starts_with("http://") || s.starts_with("https://") {
            // absolute: check the tail as Type/id
            let tail: Vec<&str> = s.rsplitn(3, '/').collect();
            if tail.len() == 3 {
                relative_reference_type(&s[s.len() - tail[0].len() - tail[1].len() - 1..]).map(str::to_owned)
            } else {
                None
            }
        } else {
            match relative_reference_type(s) {
                Some(t) => Some(t.to_owned()),
                None => {
                    self.e.error(IssueCode::Value, &rp, format!("{rp}: '{s}' is not a reference of the form Type/id"));
                    return;
                }
            }
        };
        if let (Some(t), false) = (rel, types.is_empty()) {
            if !types.contains(&t.as_str()) {
                self.e.error(IssueCode::Value, &rp, format!("{rp}: must refer to {}, not {t}", types.join(" or ")));
            }
        }
    }

    fn reference(&mut self, o: &Map<String, Value>, path: &str, name: &str, required: bool, types: &[&str]) {
        if let Some(v) = self.one(o, path, name, required) {
            self.reference_value(v, &p(path, name), types);
        }
    }

    fn references(&mut self, o: &Map<String, Value>, path: &str, name: &str, min: usize, types: &[&str]) {
        let items = self.many(o, path, name, min);
        for (i, r) in items.iter().enumerate() {
            self.reference_value(r, &ix(&p(path, name), i), types);
        }
    }

    /// `Quantity`: returns `(value, ucum code)`. A UCUM system requires a code (qty-3).
    fn quantity(&mut self, v: &Value, path: &str, value_required: bool) -> (Option<f64>, Option<String>) {
        let Some(o) = self.object(v, path) else { return (None, None) };
        let value = self.one(o, path, "value", value_required).and_then(|x| self.decimal_value(x, &p(path, "value")));
        if let Some(u) = self.one(o, path, "unit", false) {
            self.string(u, &p(path, "unit"));
        }
        let system = self.one(o, path, "system", false).and_then(Value::as_str).map(str::to_owned);
        let code = self.code(o, path, "code", false, &[]);
        self.code(o, path, "comparator", false, &["<", "<=", ">=", ">"]);
        if code.is_some() && system.is_none() {
            self.e.error(
                IssueCode::Invariant,
                p(path, "system"),
                format!("{}: a code requires a system (qty-3)", p(path, "system")),
            );
        }
        let ucum = if system.as_deref() == Some(codes::UCUM) { code } else { None };
        (value, ucum)
    }

    fn identifiers(&mut self, o: &Map<String, Value>, path: &str, min: usize) {
        let items = self.many(o, path, "identifier", min);
        for (i, id) in items.iter().enumerate() {
            let ip = ix(&p(path, "identifier"), i);
            let Some(io) = self.object(id, &ip) else { continue };
            if let Some(s) = self.one(io, &ip, "system", false) {
                self.string(s, &p(&ip, "system"));
            }
            if let Some(s) = self.one(io, &ip, "value", false) {
                self.string(s, &p(&ip, "value"));
            }
            self.code(io, &ip, "use", false, &["usual", "official", "temp", "secondary", "old"]);
        }
    }

    // ------------------------------------------------------------ shared

    fn common(&mut self, o: &Map<String, Value>, rt: &str) {
        if let Some(id) = self.one(o, rt, "id", false) {
            if let Some(s) = self.string(id, &p(rt, "id")) {
                if !is_id(s) {
                    self.e.error(
                        IssueCode::Value,
                        p(rt, "id"),
                        format!("{rt}.id: '{s}' is not a FHIR id ([A-Za-z0-9-.]{{1,64}})"),
                    );
                }
            }
        }
        if let Some(m) = self.one(o, rt, "meta", false) {
            let mp = p(rt, "meta");
            if let Some(mo) = self.object(m, &mp) {
                if let Some(lu) = self.one(mo, &mp, "lastUpdated", false) {
                    let lp = p(&mp, "lastUpdated");
                    if let Some(s) = self.string(lu, &lp) {
                        if !is_instant(s) {
                            self.e.error(IssueCode::Value, &lp, format!("{lp}: '{s}' is not a FHIR instant"));
                        }
                    }
                }
                let _ = self.many(mo, &mp, "profile", 0);
            }
        }
        // Contained resources are not supported: Kizuna stores every resource on its own so
        // consent and provenance apply to each.
        if o.contains_key("contained") {
            self.e.error(IssueCode::NotSupported, p(rt, "contained"), format!("{rt}.contained: contained resources are not accepted; send them as separate resources (e.g. in a transaction Bundle)"));
        }
    }

    /// `subject`/`patient`: required, a Patient (Kizuna decides consent per person).
    /// A display or identifier alone is not enough: the record must be attributable.
    fn patient_ref(&mut self, o: &Map<String, Value>, rt: &str, name: &str) {
        self.reference(o, rt, name, true, &["Patient"]);
        if let Some(r) = o.get(name).and_then(Value::as_object) {
            if !r.contains_key("reference") && (r.contains_key("identifier") || r.contains_key("display")) {
                self.e.error(
                    IssueCode::Required,
                    format!("{rt}.{name}.reference"),
                    format!("{rt}.{name}.reference: Kizuna needs a reference to the Patient the record belongs to"),
                );
            }
        }
    }

    // ------------------------------------------------------------ resources

    /// R4 Patient has no required element; JP_Patient constrains the shape of names
    /// (kanji/kana representations via the `iso21090-EN-representation` extension).
    fn patient(&mut self, o: &Map<String, Value>) {
        let rt = "Patient";
        self.identifiers(o, rt, 0);
        self.boolean(o, rt, "active");
        self.code(o, rt, "gender", false, &["male", "female", "other", "unknown"]);
        if let Some(b) = self.one(o, rt, "birthDate", false) {
            self.date_value(b, "Patient.birthDate");
        }
        if let Some((suffix, v)) = self.choice(o, rt, "deceased", &["Boolean", "DateTime"], false) {
            match suffix {
                "Boolean" if !v.is_boolean() => self.e.error(
                    IssueCode::Structure,
                    "Patient.deceasedBoolean",
                    "Patient.deceasedBoolean: must be true or false",
                ),
                "DateTime" => self.date_time_value(v, "Patient.deceasedDateTime"),
                _ => {}
            }
        }
        let names = self.many(o, rt, "name", 0);
        for (i, n) in names.iter().enumerate() {
            let np = ix("Patient.name", i);
            let Some(no) = self.object(n, &np) else { continue };
            self.code(no, &np, "use", false, &["usual", "official", "temp", "nickname", "anonymous", "old", "maiden"]);
            if let Some(f) = self.one(no, &np, "family", false) {
                self.string(f, &p(&np, "family"));
            }
            for (j, g) in self.many(no, &np, "given", 0).iter().enumerate() {
                self.string(g, &ix(&p(&np, "given"), j));
            }
            if let Some(t) = self.one(no, &np, "text", false) {
                self.string(t, &p(&np, "text"));
            }
            for (j, ext) in self.many(no, &np, "extension", 0).iter().enumerate() {
                let ep = ix(&p(&np, "extension"), j);
                let Some(eo) = self.object(ext, &ep) else { continue };
                let url = eo.get("url").and_then(Value::as_str);
                if url.is_none() {
                    self.e.required(p(&ep, "url"));
                }
                if url == Some("http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation") {
                    // IDE = 漢字, SYL = カナ, ABC = alphabetic.
                    self.code(eo, &ep, "valueCode", true, &["ABC", "IDE", "SYL"]);
                }
            }
        }
        for (i, t) in self.many(o, rt, "telecom", 0).iter().enumerate() {
            let tp = ix("Patient.telecom", i);
            let Some(to) = self.object(t, &tp) else { continue };
            self.code(to, &tp, "system", false, &["phone", "fax", "email", "pager", "url", "sms", "other"]);
            self.code(to, &tp, "use", false, &["home", "work", "temp", "old", "mobile"]);
        }
        for (i, a) in self.many(o, rt, "address", 0).iter().enumerate() {
            let ap = ix("Patient.address", i);
            let Some(ao) = self.object(a, &ap) else { continue };
            self.code(ao, &ap, "use", false, &["home", "work", "temp", "old", "billing"]);
            self.code(ao, &ap, "type", false, &["postal", "physical", "both"]);
            let _ = self.many(ao, &ap, "line", 0);
        }
        self.references(o, rt, "generalPractitioner", 0, &["Organization", "Practitioner", "PractitionerRole"]);
        self.reference(o, rt, "managingOrganization", false, &["Organization"]);
    }

    /// R4 Observation: `status` 1..1 and `code` 1..1. JP_Observation_VitalSigns (R4 vital
    /// signs profile): `category` includes `vital-signs`, `subject` 1..1, `effective[x]` 1..1,
    /// LOINC code, UCUM units, value or component or `dataAbsentReason` (vs-2), BP panel
    /// components (vs-3). JP_Observation_LabResult: `category` `laboratory`, code with a
    /// JLAC10 coding of 17 characters.
    fn observation(&mut self, o: &Map<String, Value>) {
        let rt = "Observation";
        self.identifiers(o, rt, 0);
        self.code(
            o,
            rt,
            "status",
            true,
            &["registered", "preliminary", "final", "amended", "corrected", "cancelled", "entered-in-error", "unknown"],
        );
        let mut categories: Vec<String> = Vec::new();
        for (i, c) in self.many(o, rt, "category", 0).iter().enumerate() {
            for (_, s, k) in self.codeable_concept(c, &ix("Observation.category", i), false) {
                if s.as_deref() == Some(codes::OBSERVATION_CATEGORY) {
                    if let Some(k) = k {
                        categories.push(k);
                    }
                }
            }
        }
        let codings = match self.one(o, rt, "code", true) {
            Some(c) => self.codeable_concept(c, "Observation.code", true),
            None => Vec::new(),
        };
        self.patient_ref(o, rt, "subject");
        self.reference(o, rt, "encounter", false, &["Encounter"]);
        self.references(
            o,
            rt,
            "performer",
            0,
            &["Practitioner", "PractitionerRole", "Organization", "CareTeam", "Patient", "RelatedPerson"],
        );
        self.references(o, rt, "hasMember", 0, &["Observation", "QuestionnaireResponse", "MolecularSequence"]);
        self.references(o, rt, "derivedFrom", 0, &[]);
        if let Some(i) = self.one(o, rt, "issued", false) {
            if let Some(s) = self.string(i, "Observation.issued") {
                if !is_instant(s) {
                    self.e.error(
                        IssueCode::Value,
                        "Observation.issued",
                        format!("Observation.issued: '{s}' is not a FHIR instant"),
                    );
                }
            }
        }

        // A declared JP Core profile (meta.profile) commits the sender to its category slice.
        let profiles: Vec<&str> = o
            .get("meta")
            .and_then(|m| m.get("profile"))
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let claims = |name: &str| profiles.iter().any(|p| p.ends_with(name));
        let mut is_vital = categories.iter().any(|c| c == "vital-signs");
        let mut is_lab = categories.iter().any(|c| c == "laboratory");
        for (profile, category, flag) in
            [(JP_VITAL_SIGNS, "vital-signs", &mut is_vital), (JP_LAB_RESULT, "laboratory", &mut is_lab)]
        {
            if claims(profile) && !*flag {
                self.e.error(
                    IssueCode::Required,
                    "Observation.category",
                    format!(
                        "Observation.category: {profile} requires a category coding {}#{category}",
                        codes::OBSERVATION_CATEGORY
                    ),
                );
                *flag = true;
            }
        }
        let effective =
            self.choice(o, rt, "effective", &["DateTime", "Period", "Timing", "Instant"], is_vital || is_lab);
        match effective {
            Some(("DateTime", v)) => self.date_time_value(v, "Observation.effectiveDateTime"),
            Some(("Period", v)) => self.period(v, "Observation.effectivePeriod"),
            Some(("Instant", v)) => {
                if let Some(s) = self.string(v, "Observation.effectiveInstant") {
                    if !is_instant(s) {
                        self.e.error(
                            IssueCode::Value,
                            "Observation.effectiveInstant",
                            "Observation.effectiveInstant: not a FHIR instant",
                        );
                    }
                }
            }
            Some(("Timing", _)) if is_vital => {
                self.e.error(
                    IssueCode::Structure,
                    "Observation.effectiveTiming",
                    "Observation.effectiveTiming: vital signs take effectiveDateTime or effectivePeriod",
                );
            }
            _ => {}
        }

        let value = self.observation_value(o, "Observation");
        let components = self.many(o, rt, "component", 0);
        let mut component_codes: Vec<(usize, Option<String>)> = Vec::new();
        for (i, c) in components.iter().enumerate() {
            let cp = ix("Observation.component", i);
            let Some(co) = self.object(c, &cp) else { continue };
            let cc = match self.one(co, &cp, "code", true) {
                Some(code) => self.codeable_concept(code, &p(&cp, "code"), true),
                None => Vec::new(),
            };
            let loinc_code =
                cc.iter().find(|(_, s, _)| s.as_deref() == Some(codes::LOINC)).and_then(|(_, _, k)| k.clone());
            let (cv, cunit) = self.observation_value(co, &cp);
            if is_vital && cv.is_none() && cunit.is_none() && !co.contains_key("dataAbsentReason") {
                self.e.error(
                    IssueCode::Invariant,
                    format!("{cp}.value[x]"),
                    format!("{cp}: a vital-sign component needs a value or a dataAbsentReason (vs-3)"),
                );
            }
            if let (Some(code), Some(unit)) = (&loinc_code, &cunit) {
                self.check_vital_unit(code, unit, &format!("{cp}.valueQuantity.code"));
            }
            component_codes.push((i, loinc_code));
        }
        let has_value = value.0.is_some() || value.1.is_some() || o.keys().any(|k| k.starts_with("value"));
        if is_vital
            && !has_value
            && components.is_empty()
            && !o.contains_key("hasMember")
            && !o.contains_key("dataAbsentReason")
        {
            self.e.error(
                IssueCode::Invariant,
                "Observation.value[x]",
                "Observation: a vital sign needs a value, a component, hasMember or dataAbsentReason (vs-2)",
            );
        }
        if has_value && o.contains_key("dataAbsentReason") {
            self.e.error(
                IssueCode::Invariant,
                "Observation.dataAbsentReason",
                "Observation.dataAbsentReason: only allowed when there is no value (obs-6)",
            );
        }

        // Code systems Kizuna relies on.
        let loinc_code = codings.iter().find(|(_, s, _)| s.as_deref() == Some(codes::LOINC));
        if is_vital {
            match loinc_code {
                None => self.e.error(
                    IssueCode::CodeInvalid,
                    "Observation.code.coding",
                    "Observation.code: a vital sign needs a LOINC coding (system http://loinc.org)",
                ),
                Some((i, _, Some(code))) => {
                    let cp = format!("Observation.code.coding[{i}].code");
                    if loinc::units(code).is_none() {
                        self.e.warning(
                            IssueCode::CodeInvalid,
                            &cp,
                            format!("{cp}: LOINC {code} is not a vital sign Kizuna evaluates"),
                        );
                    }
                    if code == loinc::BP_PANEL {
                        for (want, name) in [(loinc::SYSTOLIC, "systolic"), (loinc::DIASTOLIC, "diastolic")] {
                            if !component_codes.iter().any(|(_, c)| c.as_deref() == Some(want)) {
                                self.e.error(
                                    IssueCode::Required,
                                    "Observation.component",
                                    format!("Observation.component: the blood pressure panel ({}) needs a {name} component (LOINC {want})", loinc::BP_PANEL),
                                );
                            }
                        }
                    } else if let Some(unit) = &value.1 {
                        self.check_vital_unit(code, unit, "Observation.valueQuantity.code");
                    } else if o.contains_key("valueQuantity") && loinc::units(code).is_some() {
                        self.e.error(IssueCode::Required, "Observation.valueQuantity.code", "Observation.valueQuantity: a vital sign needs a UCUM unit (system http://unitsofmeasure.org and code)");
                    }
                }
                Some(_) => {}
            }
        }
        for (i, s, k) in &codings {
            if s.as_deref().is_some_and(codes::is_jlac10_system) {
                if let Some(k) = k {
                    if !codes::is_jlac10_code(k) {
                        let cp = format!("Observation.code.coding[{i}].code");
                        self.e.error(
                            IssueCode::CodeInvalid,
                            &cp,
                            format!("{cp}: '{k}' is not a 17-character JLAC10 code"),
                        );
                    }
                }
            }
        }
        if is_lab
            && !codings
                .iter()
                .any(|(_, s, _)| s.as_deref().is_some_and(|s| codes::is_jlac10_system(s) || s == codes::LOINC))
        {
            self.e.warning(
                IssueCode::CodeInvalid,
                "Observation.code.coding",
                "Observation.code: a laboratory result without a JLAC10 (urn:oid:1.2.392.200119.4.504) or LOINC coding cannot be evaluated against thresholds",
            );
        }
    }

    /// `value[x]` of an Observation or component: returns (decimal value, UCUM unit code).
    fn observation_value(&mut self, o: &Map<String, Value>, path: &str) -> (Option<f64>, Option<String>) {
        let allowed = [
            "Quantity",
            "CodeableConcept",
            "String",
            "Boolean",
            "Integer",
            "Range",
            "Ratio",
            "SampledData",
            "Time",
            "DateTime",
            "Period",
        ];
        match self.choice(o, path, "value", &allowed, false) {
            Some(("Quantity", v)) => self.quantity(v, &format!("{path}.valueQuantity"), true),
            Some(("CodeableConcept", v)) => {
                self.codeable_concept(v, &format!("{path}.valueCodeableConcept"), false);
                (None, None)
            }
            Some(("String", v)) => {
                self.string(v, &format!("{path}.valueString"));
                (None, None)
            }
            Some(("Boolean", v)) => {
                if !v.is_boolean() {
                    self.e.error(
                        IssueCode::Structure,
                        format!("{path}.valueBoolean"),
                        "valueBoolean must be true or false",
                    );
                }
                (None, None)
            }
            Some(("Integer", v)) => {
                if !v.is_i64() {
                    self.e.error(
                        IssueCode::Structure,
                        format!("{path}.valueInteger"),
                        "valueInteger must be a JSON integer",
                    );
                }
                (None, None)
            }
            Some(("DateTime", v)) => {
                self.date_time_value(v, &format!("{path}.valueDateTime"));
                (None, None)
            }
            Some(("Period", v)) => {
                self.period(v, &format!("{path}.valuePeriod"));
                (None, None)
            }
            _ => (None, None),
        }
    }

    fn check_vital_unit(&mut self, loinc_code: &str, unit: &str, path: &str) {
        if let Some(units) = loinc::units(loinc_code) {
            if !units.is_empty() && !units.contains(&unit) {
                self.e.error(
                    IssueCode::CodeInvalid,
                    path,
                    format!(
                        "{path}: UCUM unit '{unit}' is not valid for LOINC {loinc_code} (expected {})",
                        units.join(" or ")
                    ),
                );
            }
        }
    }

    /// R4 Immunization: `status` 1..1 (completed | entered-in-error | not-done),
    /// `vaccineCode` 1..1, `patient` 1..1, `occurrence[x]` 1..1 (dateTime | string);
    /// `protocolApplied.doseNumber[x]` 1..1 (positiveInt | string). JP_Immunization keeps
    /// these. Kizuna needs a coding from its vaccine code system to compute the schedule:
    /// codes in that system must be known; a record coded only with YJ/HOT is accepted with a
    /// warning.
    fn immunization(&mut self, o: &Map<String, Value>) {
        let rt = "Immunization";
        self.identifiers(o, rt, 0);
        self.code(o, rt, "status", true, &["completed", "entered-in-error", "not-done"]);
        if let Some(vc) = self.one(o, rt, "vaccineCode", true) {
            let codings = self.codeable_concept(vc, "Immunization.vaccineCode", true);
            let mut has_local = false;
            for (i, s, k) in &codings {
                let cp = format!("Immunization.vaccineCode.coding[{i}].code");
                match (s.as_deref(), k) {
                    (Some(codes::JP_VACCINE), Some(k)) => {
                        has_local = true;
                        if RoutineVaccine::from_code(k).is_none() {
                            self.e.error(
                                IssueCode::CodeInvalid,
                                &cp,
                                format!("{cp}: '{k}' is not a code of {}", codes::JP_VACCINE),
                            );
                        }
                    }
                    (Some(sys), Some(k)) => self.drug_code(sys, k, &cp),
                    _ => {}
                }
            }
            if !has_local && !codings.is_empty() {
                self.e.warning(
                    IssueCode::CodeInvalid,
                    "Immunization.vaccineCode.coding",
                    format!("Immunization.vaccineCode: no coding from {}; the record will not count towards the routine schedule", codes::JP_VACCINE),
                );
            }
        }
        self.patient_ref(o, rt, "patient");
        self.reference(o, rt, "encounter", false, &["Encounter"]);
        match self.choice(o, rt, "occurrence", &["DateTime", "String"], true) {
            Some(("DateTime", v)) => self.date_time_value(v, "Immunization.occurrenceDateTime"),
            Some((_, v)) => {
                self.string(v, "Immunization.occurrenceString");
            }
            None => {}
        }
        self.date_time(o, rt, "recorded", false);
        self.boolean(o, rt, "primarySource");
        self.reference(o, rt, "location", false, &["Location"]);
        self.reference(o, rt, "manufacturer", false, &["Organization"]);
        if let Some(e) = self.one(o, rt, "expirationDate", false) {
            self.date_value(e, "Immunization.expirationDate");
        }
        if let Some(d) = self.one(o, rt, "doseQuantity", false) {
            self.quantity(d, "Immunization.doseQuantity", false);
        }
        for (i, pa) in self.many(o, rt, "protocolApplied", 0).iter().enumerate() {
            let pp = ix("Immunization.protocolApplied", i);
            let Some(po) = self.object(pa, &pp) else { continue };
            match self.choice(po, &pp, "doseNumber", &["PositiveInt", "String"], true) {
                Some(("PositiveInt", v)) if v.as_u64().is_none_or(|n| n < 1) => {
                    self.e.error(
                        IssueCode::Value,
                        format!("{pp}.doseNumberPositiveInt"),
                        format!("{pp}.doseNumberPositiveInt: must be an integer ≥ 1"),
                    );
                }
                Some(("PositiveInt", _)) => {}
                Some((_, v)) => {
                    self.string(v, &format!("{pp}.doseNumberString"));
                }
                None => {}
            }
            self.reference(po, &pp, "authority", false, &["Organization"]);
        }
        if o.get("status").and_then(Value::as_str) == Some("not-done") && !o.contains_key("statusReason") {
            self.e.warning(
                IssueCode::Required,
                "Immunization.statusReason",
                "Immunization.statusReason: should say why a vaccination was not done",
            );
        }
    }

    fn drug_code(&mut self, system: &str, code: &str, path: &str) {
        if let Some(ds) = DrugCodeSystem::from_system(system) {
            if !ds.is_valid_code(code) {
                self.e.error(IssueCode::CodeInvalid, path, format!("{path}: '{code}' is not a valid {}", ds.name()));
            }
        }
    }

    fn medication(&mut self, o: &Map<String, Value>, rt: &str) {
        match self.choice(o, rt, "medication", &["CodeableConcept", "Reference"], true) {
            Some(("CodeableConcept", v)) => {
                let path = format!("{rt}.medicationCodeableConcept");
                for (i, s, k) in self.codeable_concept(v, &path, false) {
                    if let (Some(s), Some(k)) = (s, k) {
                        self.drug_code(&s, &k, &format!("{path}.coding[{i}].code"));
                    }
                }
            }
            Some((_, v)) => self.reference_value(v, &format!("{rt}.medicationReference"), &["Medication"]),
            None => {}
        }
    }

    fn dosage(&mut self, o: &Map<String, Value>, rt: &str, name: &str) {
        for (i, d) in self.many(o, rt, name, 0).iter().enumerate() {
            let dp = ix(&p(rt, name), i);
            let Some(d) = self.object(d, &dp) else { continue };
            if let Some(t) = self.one(d, &dp, "text", false) {
                self.string(t, &p(&dp, "text"));
            }
            let _ = self.many(d, &dp, "doseAndRate", 0);
        }
    }

    /// R4 MedicationDispense: `status` 1..1, `medication[x]` 1..1. JP_MedicationDispense
    /// codes the drug with HOT/YJ (format-checked here); Kizuna requires `subject` (the
    /// person the お薬手帳 record belongs to).
    fn medication_dispense(&mut self, o: &Map<String, Value>) {
        let rt = "MedicationDispense";
        self.identifiers(o, rt, 0);
        self.code(
            o,
            rt,
            "status",
            true,
            &[
                "preparation",
                "in-progress",
                "cancelled",
                "on-hold",
                "completed",
                "entered-in-error",
                "stopped",
                "declined",
                "unknown",
            ],
        );
        self.medication(o, rt);
        self.patient_ref(o, rt, "subject");
        self.references(o, rt, "authorizingPrescription", 0, &["MedicationRequest"]);
        if let Some(q) = self.one(o, rt, "quantity", false) {
            self.quantity(q, "MedicationDispense.quantity", false);
        }
        if let Some(q) = self.one(o, rt, "daysSupply", false) {
            self.quantity(q, "MedicationDispense.daysSupply", false);
        }
        self.date_time(o, rt, "whenPrepared", false);
        self.date_time(o, rt, "whenHandedOver", false);
        if o.get("status").and_then(Value::as_str) == Some("completed") && !o.contains_key("whenHandedOver") {
            self.e.warning(
                IssueCode::Required,
                "MedicationDispense.whenHandedOver",
                "MedicationDispense.whenHandedOver: a completed dispense should say when it was handed over",
            );
        }
        self.dosage(o, rt, "dosageInstruction");
    }

    /// R4 MedicationStatement: `status` 1..1, `medication[x]` 1..1, `subject` 1..1.
    fn medication_statement(&mut self, o: &Map<String, Value>) {
        let rt = "MedicationStatement";
        self.identifiers(o, rt, 0);
        self.code(
            o,
            rt,
            "status",
            true,
            &["active", "completed", "entered-in-error", "intended", "stopped", "on-hold", "unknown", "not-taken"],
        );
        self.medication(o, rt);
        self.patient_ref(o, rt, "subject");
        match self.choice(o, rt, "effective", &["DateTime", "Period"], false) {
            Some(("DateTime", v)) => self.date_time_value(v, "MedicationStatement.effectiveDateTime"),
            Some((_, v)) => self.period(v, "MedicationStatement.effectivePeriod"),
            None => {}
        }
        self.date_time(o, rt, "dateAsserted", false);
        self.reference(
            o,
            rt,
            "informationSource",
            false,
            &["Patient", "Practitioner", "PractitionerRole", "RelatedPerson", "Organization"],
        );
        self.dosage(o, rt, "dosage");
    }

    /// R4 Encounter: `status` 1..1, `class` 1..1 (a Coding). Kizuna requires `subject`.
    fn encounter(&mut self, o: &Map<String, Value>) {
        let rt = "Encounter";
        self.identifiers(o, rt, 0);
        self.code(
            o,
            rt,
            "status",
            true,
            &[
                "planned",
                "arrived",
                "triaged",
                "in-progress",
                "onleave",
                "finished",
                "cancelled",
                "entered-in-error",
                "unknown",
            ],
        );
        if let Some(c) = self.one(o, rt, "class", true) {
            let (s, k) = self.coding(c, "Encounter.class");
            if s.is_none() || k.is_none() {
                self.e.error(IssueCode::Required, "Encounter.class", "Encounter.class: needs system and code (e.g. http://terminology.hl7.org/CodeSystem/v3-ActCode AMB)");
            }
        }
        for (i, t) in self.many(o, rt, "type", 0).iter().enumerate() {
            self.codeable_concept(t, &ix("Encounter.type", i), false);
        }
        self.patient_ref(o, rt, "subject");
        if let Some(pd) = self.one(o, rt, "period", false) {
            self.period(pd, "Encounter.period");
        }
        self.reference(o, rt, "serviceProvider", false, &["Organization"]);
    }

    /// R4 DiagnosticReport: `status` 1..1, `code` 1..1. Kizuna requires `subject`; `result`
    /// refers to Observations.
    fn diagnostic_report(&mut self, o: &Map<String, Value>) {
        let rt = "DiagnosticReport";
        self.identifiers(o, rt, 0);
        self.code(
            o,
            rt,
            "status",
            true,
            &[
                "registered",
                "partial",
                "preliminary",
                "final",
                "amended",
                "corrected",
                "appended",
                "cancelled",
                "entered-in-error",
                "unknown",
            ],
        );
        for (i, c) in self.many(o, rt, "category", 0).iter().enumerate() {
            self.codeable_concept(c, &ix("DiagnosticReport.category", i), false);
        }
        if let Some(c) = self.one(o, rt, "code", true) {
            self.codeable_concept(c, "DiagnosticReport.code", false);
        }
        self.patient_ref(o, rt, "subject");
        self.reference(o, rt, "encounter", false, &["Encounter"]);
        match self.choice(o, rt, "effective", &["DateTime", "Period"], false) {
            Some(("DateTime", v)) => self.date_time_value(v, "DiagnosticReport.effectiveDateTime"),
            Some((_, v)) => self.period(v, "DiagnosticReport.effectivePeriod"),
            None => {}
        }
        if let Some(i) = self.one(o, rt, "issued", false) {
            if let Some(s) = self.string(i, "DiagnosticReport.issued") {
                if !is_instant(s) {
                    self.e.error(
                        IssueCode::Value,
                        "DiagnosticReport.issued",
                        format!("DiagnosticReport.issued: '{s}' is not a FHIR instant"),
                    );
                }
            }
        }
        self.references(o, rt, "performer", 0, &["Practitioner", "PractitionerRole", "Organization", "CareTeam"]);
        self.references(o, rt, "result", 0, &["Observation"]);
    }

    /// R4 Condition: `subject` 1..1; clinicalStatus / verificationStatus from their code
    /// systems; con-3 (clinicalStatus required unless verificationStatus is
    /// entered-in-error and category is problem-list-item), con-4 (abatement ⇒ clinicalStatus
    /// inactive, resolved or remission), con-5 (no clinicalStatus when entered-in-error).
    fn condition(&mut self, o: &Map<String, Value>) {
        let rt = "Condition";
        self.identifiers(o, rt, 0);
        let clinical = self.status_concept(
            o,
            "clinicalStatus",
            "http://terminology.hl7.org/CodeSystem/condition-clinical",
            &["active", "recurrence", "relapse", "inactive", "remission", "resolved"],
        );
        let verification = self.status_concept(
            o,
            "verificationStatus",
            "http://terminology.hl7.org/CodeSystem/condition-ver-status",
            &["unconfirmed", "provisional", "differential", "confirmed", "refuted", "entered-in-error"],
        );
        if verification.as_deref() == Some("entered-in-error") && o.contains_key("clinicalStatus") {
            self.e.error(
                IssueCode::Invariant,
                "Condition.clinicalStatus",
                "Condition.clinicalStatus: SHALL NOT be present if verificationStatus is entered-in-error (con-5)",
            );
        }
        if o.keys().any(|k| k.starts_with("abatement"))
            && !matches!(clinical.as_deref(), Some("inactive" | "resolved" | "remission") | None)
        {
            self.e.error(
                IssueCode::Invariant,
                "Condition.clinicalStatus",
                "Condition.clinicalStatus: with an abatement it must be inactive, resolved or remission (con-4)",
            );
        }
        for (i, c) in self.many(o, rt, "category", 0).iter().enumerate() {
            self.codeable_concept(c, &ix("Condition.category", i), false);
        }
        if let Some(c) = self.one(o, rt, "code", false) {
            self.codeable_concept(c, "Condition.code", false);
        }
        self.patient_ref(o, rt, "subject");
        self.reference(o, rt, "encounter", false, &["Encounter"]);
        for base in ["onset", "abatement"] {
            match self.choice(o, rt, base, &["DateTime", "Age", "Period", "Range", "String"], false) {
                Some(("DateTime", v)) => self.date_time_value(v, &format!("Condition.{base}DateTime")),
                Some(("Period", v)) => self.period(v, &format!("Condition.{base}Period")),
                _ => {}
            }
        }
        self.date_time(o, rt, "recordedDate", false);
    }

    fn status_concept(&mut self, o: &Map<String, Value>, name: &str, system: &str, allowed: &[&str]) -> Option<String> {
        let path = format!("Condition.{name}");
        let v = self.one(o, "Condition", name, false)?;
        let mut found = None;
        for (i, s, k) in self.codeable_concept(v, &path, true) {
            if s.as_deref() == Some(system) {
                if let Some(k) = k {
                    if allowed.contains(&k.as_str()) {
                        found = Some(k);
                    } else {
                        let cp = format!("{path}.coding[{i}].code");
                        self.e.error(
                            IssueCode::CodeInvalid,
                            &cp,
                            format!("{cp}: '{k}' is not one of {}", allowed.join(", ")),
                        );
                    }
                }
            }
        }
        found
    }

    /// R4 Organization: org-1, "SHALL at least have a name or an identifier".
    fn organization(&mut self, o: &Map<String, Value>) {
        let rt = "Organization";
        self.identifiers(o, rt, 0);
        self.boolean(o, rt, "active");
        if let Some(n) = self.one(o, rt, "name", false) {
            self.string(n, "Organization.name");
        }
        if !o.contains_key("name") && !o.contains_key("identifier") {
            self.e.error(
                IssueCode::Invariant,
                "Organization",
                "Organization: SHALL at least have a name or an identifier (org-1)",
            );
        }
        for (i, t) in self.many(o, rt, "type", 0).iter().enumerate() {
            self.codeable_concept(t, &ix("Organization.type", i), false);
        }
        let _ = self.many(o, rt, "alias", 0);
        let _ = self.many(o, rt, "telecom", 0);
        let _ = self.many(o, rt, "address", 0);
        self.reference(o, rt, "partOf", false, &["Organization"]);
    }
}

/// Every `[x]` suffix used above (to map a JSON key back to a `'static` suffix).
const ALL_SUFFIXES: &[&str] = &[
    "Quantity",
    "CodeableConcept",
    "String",
    "Boolean",
    "Integer",
    "Range",
    "Ratio",
    "SampledData",
    "Time",
    "DateTime",
    "Period",
    "Timing",
    "Instant",
    "Reference",
    "PositiveInt",
    "Age",
];

#[cfg(test)]
mod tests;
