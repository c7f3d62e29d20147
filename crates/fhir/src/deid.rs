//! Research extracts (データ二次利用) of consenting people's records: one row per person with
//! a keyed pseudonym, generalised quasi-identifiers that satisfy k-anonymity, and the latest
//! clinical values, plus a [`DeidReport`] of everything that was done.
//!
//! **What a row holds** (and nothing else):
//!
//! | column | content |
//! |---|---|
//! | `pseudonym` | keyed hash of the data subject (see below), 32 hex digits |
//! | `age_band` | age on [`DeidOptions::reference_date`] in 5-year bands (`40-44`, top-coded `90+`), generalisable to 10-year (`40-49`, `90+`), 20-year (`40-59`, `80+`) and `*` |
//! | `sex` | `male`, `female`, `other` or `unknown` (never generalised) |
//! | `area` | the 6-digit municipality code (全国地方公共団体コード, from the address extension [`crate::people::MUNICIPALITY_CODE_EXTENSION`]), generalisable to the prefecture (`10`) and `*`; `unknown` when absent |
//! | `<item>`, `<item>_month` | latest value of each item and the year-month it was measured (no exact dates); the month is left out for measurements within 31 days of birth, which would reveal the birth month |
//! | `birth_weight_g` | birth weight (LOINC 8339-4), without a date |
//! | `immunization_doses` | number of completed Immunizations |
//! | `medication_classes` | sorted 薬効分類 (first 4 characters of YJ codes) of dispensed or stated drugs |
//! | `pregnant` | an active pregnancy Condition (SNOMED CT 77386006) |
//!
//! Items: `bp_systolic` / `bp_diastolic` (LOINC BP panel or standalone, `mm[Hg]`),
//! `checkup_bp_systolic` / `checkup_bp_diastolic` (特定健診 9A75x / 9A76x), `fasting_glucose`,
//! `hba1c`, `ldl_c`, `hdl_c`, `triglycerides`, `egfr` (all matched and unit-checked by
//! [`crate::thresholds`]), `creatinine` (JLAC10 3C015, mg/dL), `body_weight` (kg; g converted),
//! `body_height` (cm), `bmi` (kg/m2), `waist` (LOINC 8280-0 or 特定健診 9N016, cm),
//! `head_circumference` (LOINC 9843-4, cm), `gestational_age_weeks` (LOINC 49051-6, wk).
//! Observations that are `entered-in-error`, `cancelled`, `preliminary` or `registered`, or
//! have no effective time, are ignored; values in another unit are ignored (no silent
//! conversion except g → kg for weight).
//!
//! Direct identifiers never reach a row: names, addresses, telecom, identifiers, birth
//! dates, resource ids, references and free text are not copied; only the columns above
//! are built. Rows are sorted by pseudonym so their order does not reveal the input order.
//!
//! **Pseudonyms** are SipHash-2-4 (Aumasson & Bernstein) of the data-subject URI (the
//! Patient's `identifier` with system [`crate::people::DATA_SUBJECT_SYSTEM`], else
//! `Patient/<id>`) under a 128-bit key derived from [`DeidOptions::salt`], twice with
//! different keys for 128 bits. SipHash is a keyed pseudo-random function, so without the salt
//! pseudonyms cannot be recomputed from guessed subjects, and different salts give unlinkable
//! extracts; but this is a pseudonym, not a cryptographic MAC with a security proof of the
//! HMAC kind, and its strength is bounded by the salt's entropy: use a long random salt per
//! project and keep it secret. The same person gets the same pseudonym for the same salt.
//!
//! **k-anonymity**: the quasi-identifiers ([`QUASI_IDENTIFIERS`]) are generalised over the
//! lattice of (area level 0–2) × (age level 0–3). Nodes are tried by increasing total
//! generalisation, and at equal total the one generalising the area rather than age first
//! (age matters more for clinical research). The first node where the people in
//! equivalence classes smaller than k are at most [`MAX_SUPPRESSION_FRACTION`] of the input
//! is used, and those people are suppressed (left out). If no node qualifies, the most
//! general node is used and every class smaller than k is suppressed whatever the count (so
//! k always holds for what is released; with fewer than k people nothing is released), and
//! the report says so. k covers the quasi-identifiers only: the clinical values are the
//! sensitive attributes and are not protected against homogeneity (no l-diversity).

use crate::codes::{self, loinc};
use crate::people::{DATA_SUBJECT_SYSTEM, MUNICIPALITY_CODE_EXTENSION, SNOMED, SNOMED_PREGNANCY};
use crate::thresholds::{self, Thresholds};
use chrono::{Datelike, NaiveDate};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The quasi-identifier columns of a row.
pub const QUASI_IDENTIFIERS: &[&str] = &["age_band", "sex", "area"];
/// At most this share of the input is suppressed before generalising further.
pub const MAX_SUPPRESSION_FRACTION: f64 = 0.10;
/// The smallest k accepted (a smaller one is raised to it).
pub const MIN_K: usize = 2;
/// The default k.
pub const DEFAULT_K: usize = 5;

/// One consenting person: the Patient and their other resources.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtractInput {
    pub patient: Value,
    pub resources: Vec<Value>,
}

/// Options of an extract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeidOptions {
    /// Minimum equivalence-class size (≥ [`MIN_K`], default [`DEFAULT_K`]).
    pub k: usize,
    /// Secret for the pseudonyms (per project; long and random).
    pub salt: String,
    /// Ages are computed on this date.
    pub reference_date: NaiveDate,
}

impl DeidOptions {
    /// Options with k = [`DEFAULT_K`].
    pub fn new(salt: impl Into<String>, reference_date: NaiveDate) -> Self {
        Self { k: DEFAULT_K, salt: salt.into(), reference_date }
    }
}

/// The released rows and the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Extract {
    pub rows: Vec<Value>,
    pub report: DeidReport,
}

/// What [`extract`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeidReport {
    /// The k applied (after raising to [`MIN_K`]).
    pub k_required: usize,
    /// The smallest equivalence class among the released rows; 0 when nothing is released.
    pub k_achieved: usize,
    pub quasi_identifiers: Vec<String>,
    pub input_people: usize,
    pub released_people: usize,
    pub suppressed_people: usize,
    /// The steps applied, human readable.
    pub generalisation: Vec<String>,
    /// Distinct quasi-identifier combinations among the released rows.
    pub equivalence_classes: usize,
}

// ------------------------------------------------------------------ pseudonyms

fn sip_round(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13);
    v[1] ^= v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16);
    v[3] ^= v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21);
    v[3] ^= v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17);
    v[1] ^= v[2];
    v[2] = v[2].rotate_left(32);
}

/// SipHash-2-4 of `msg` under the key `(k0, k1)`.
pub fn siphash24(k0: u64, k1: u64, msg: &[u8]) -> u64 {
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    let mut chunks = msg.chunks_exact(8);
    for c in &mut chunks {
        let mut b = [0u8; 8];
        b.copy_from_slice(c);
        let m = u64::from_le_bytes(b);
        v[3] ^= m;
        sip_round(&mut v);
        sip_round(&mut v);
        v[0] ^= m;
    }
    let mut last = [0u8; 8];
    let rest = chunks.remainder();
    last[..rest.len()].copy_from_slice(rest);
    last[7] = msg.len() as u8;
    let m = u64::from_le_bytes(last);
    v[3] ^= m;
    sip_round(&mut v);
    sip_round(&mut v);
    v[0] ^= m;
    v[2] ^= 0xff;
    for _ in 0..4 {
        sip_round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

/// The pseudonym of a data subject under a salt: 32 lower-case hex digits.
pub fn pseudonym(salt: &str, subject: &str) -> String {
    // Key derivation: SipHash of the salt under fixed public keys.
    let k0 = siphash24(0x6b69_7a75_6e61_2d64, 0x6569_642d_6b65_7930, salt.as_bytes());
    let k1 = siphash24(0x6b69_7a75_6e61_2d64, 0x6569_642d_6b65_7931, salt.as_bytes());
    let a = siphash24(k0, k1, subject.as_bytes());
    let b = siphash24(k1, k0 ^ 0xa5a5_a5a5_a5a5_a5a5, subject.as_bytes());
    format!("{a:016x}{b:016x}")
}

/// The data subject of a Patient: its `urn:kizuna:data-subject` identifier, else
/// `Patient/<id>`, else the Patient's JSON text.
pub fn subject_of(patient: &Value) -> String {
    let from_identifier = patient.get("identifier").and_then(Value::as_array).and_then(|ids| {
        ids.iter()
            .find(|i| i.get("system").and_then(Value::as_str) == Some(DATA_SUBJECT_SYSTEM))
            .and_then(|i| i.get("value").and_then(Value::as_str))
    });
    match (from_identifier, patient.get("id").and_then(Value::as_str)) {
        (Some(s), _) => s.to_owned(),
        (None, Some(id)) => format!("Patient/{id}"),
        (None, None) => patient.to_string(),
    }
}

// ------------------------------------------------------------------ generalisation

/// Age levels: 0 = 5-year, 1 = 10-year, 2 = 20-year, 3 = suppressed (`*`).
const AGE_LEVELS: usize = 4;
/// Area levels: 0 = municipality, 1 = prefecture, 2 = suppressed (`*`).
const AREA_LEVELS: usize = 3;

fn age_band(age: Option<i32>, level: usize) -> String {
    if level >= 3 {
        return "*".into();
    }
    let Some(age) = age else { return "unknown".into() };
    let (width, top) = match level {
        0 => (5, 90),
        1 => (10, 90),
        _ => (20, 80),
    };
    if age >= top {
        return format!("{top}+");
    }
    let lo = age / width * width;
    format!("{lo}-{}", lo + width - 1)
}

fn area(code: Option<&str>, level: usize) -> String {
    match (code, level) {
        (_, l) if l >= 2 => "*".into(),
        (None, _) => "unknown".into(),
        (Some(c), 0) => c.to_owned(),
        (Some(c), _) => c.get(..2).unwrap_or(c).to_owned(),
    }
}

fn describe_age(level: usize) -> &'static str {
    match level {
        0 => "age_band: 5-year bands (90+ top-coded)",
        1 => "age_band: generalised to 10-year bands (90+ top-coded)",
        2 => "age_band: generalised to 20-year bands (80+ top-coded)",
        _ => "age_band: suppressed (*)",
    }
}

fn describe_area(level: usize) -> &'static str {
    match level {
        0 => "area: municipality code (全国地方公共団体コード, 6 digits)",
        1 => "area: generalised to the prefecture code (first two digits)",
        _ => "area: suppressed (*)",
    }
}

/// Lattice nodes `(area level, age level)` in the order they are tried.
fn lattice() -> Vec<(usize, usize)> {
    let mut nodes: Vec<(usize, usize)> = (0..AREA_LEVELS).flat_map(|a| (0..AGE_LEVELS).map(move |g| (a, g))).collect();
    nodes.sort_by_key(|&(a, g)| (a + g, g));
    nodes
}

// ------------------------------------------------------------------ records

/// One person before generalisation.
struct Record {
    pseudonym: String,
    age: Option<i32>,
    sex: String,
    area: Option<String>,
    values: Map<String, Value>,
}

impl Record {
    fn quasi(&self, area_level: usize, age_level: usize) -> [String; 3] {
        [age_band(self.age, age_level), self.sex.clone(), area(self.area.as_deref(), area_level)]
    }
}

/// A birth date in FHIR `date` form (`YYYY`, `YYYY-MM`, `YYYY-MM-DD`); partial dates are
/// taken at mid-year / mid-month.
fn parse_birth(s: &str) -> Option<NaiveDate> {
    match s.len() {
        10 => NaiveDate::parse_from_str(s, "%Y-%m-%d").ok(),
        7 => NaiveDate::parse_from_str(&format!("{s}-15"), "%Y-%m-%d").ok(),
        4 => NaiveDate::parse_from_str(&format!("{s}-07-01"), "%Y-%m-%d").ok(),
        _ => None,
    }
}

fn age_on(birth: NaiveDate, day: NaiveDate) -> i32 {
    let mut a = day.year() - birth.year();
    if (day.month(), day.day()) < (birth.month(), birth.day()) {
        a -= 1;
    }
    a
}

fn codings(cc: Option<&Value>) -> Vec<(&str, &str)> {
    cc.and_then(|c| c.get("coding"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|c| Some((c.get("system")?.as_str()?, c.get("code")?.as_str()?))).collect())
        .unwrap_or_default()
}

/// The effective time of an Observation: `(date, sortable text)`.
fn effective(o: &Value) -> Option<(NaiveDate, String)> {
    let s = o
        .get("effectiveDateTime")
        .or_else(|| o.get("effectiveInstant"))
        .or_else(|| o.get("effectivePeriod").and_then(|p| p.get("start")))
        .and_then(Value::as_str)?;
    let date = match s.len() {
        4 => NaiveDate::parse_from_str(&format!("{s}-01-01"), "%Y-%m-%d").ok()?,
        7 => NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d").ok()?,
        _ => NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok()?,
    };
    Some((date, s.to_owned()))
}

fn usable(o: &Value) -> bool {
    !matches!(
        o.get("status").and_then(Value::as_str),
        Some("entered-in-error" | "cancelled" | "preliminary" | "registered")
    )
}

/// Thresholds item ids → row columns.
const THRESHOLD_COLUMNS: &[(&str, &str)] = &[
    ("home-bp-systolic", "bp_systolic"),
    ("home-bp-diastolic", "bp_diastolic"),
    ("kenshin-bp-systolic", "checkup_bp_systolic"),
    ("kenshin-bp-diastolic", "checkup_bp_diastolic"),
    ("fasting-glucose", "fasting_glucose"),
    ("hba1c", "hba1c"),
    ("ldl-c", "ldl_c"),
    ("hdl-c", "hdl_c"),
    ("triglycerides", "triglycerides"),
    ("egfr", "egfr"),
];

/// Items read directly: column, matcher on `(system, code)`, accepted UCUM units with a
/// factor to the column's unit.
struct Direct {
    column: &'static str,
    matches: fn(&str, &str) -> bool,
    units: &'static [(&'static str, f64)],
}

fn is_loinc(s: &str, c: &str, want: &str) -> bool {
    s == codes::LOINC && c == want
}

const DIRECT: &[Direct] = &[
    Direct {
        column: "body_weight",
        matches: |s, c| is_loinc(s, c, loinc::BODY_WEIGHT),
        units: &[("kg", 1.0), ("g", 0.001)],
    },
    Direct { column: "body_height", matches: |s, c| is_loinc(s, c, loinc::BODY_HEIGHT), units: &[("cm", 1.0)] },
    Direct { column: "bmi", matches: |s, c| is_loinc(s, c, loinc::BMI), units: &[("kg/m2", 1.0)] },
    Direct {
        column: "waist",
        matches: |s, c| is_loinc(s, c, "8280-0") || (codes::is_jlac10_system(s) && c.starts_with("9N016")),
        units: &[("cm", 1.0)],
    },
    Direct {
        column: "creatinine",
        matches: |s, c| codes::is_jlac10_system(s) && c.starts_with("3C015"),
        units: &[("mg/dL", 1.0)],
    },
    Direct { column: "head_circumference", matches: |s, c| is_loinc(s, c, "9843-4"), units: &[("cm", 1.0)] },
    Direct { column: "gestational_age_weeks", matches: |s, c| is_loinc(s, c, "49051-6"), units: &[("wk", 1.0)] },
];

/// Codings that mark a measurement at birth (kept apart from later measurements).
const AT_BIRTH: &[&str] = &["8339-4", "89269-5"];

/// Latest `(date, sort text, value)` per column.
type Latest = BTreeMap<&'static str, (NaiveDate, String, f64)>;

fn offer(latest: &mut Latest, column: &'static str, when: &(NaiveDate, String), value: f64) {
    let newer = latest.get(column).is_none_or(|(d, s, _)| (when.0, &when.1) > (*d, s));
    if newer {
        latest.insert(column, (when.0, when.1.clone(), value));
    }
}

fn ucum_value(q: Option<&Value>) -> Option<(f64, &str)> {
    let q = q?;
    if q.get("system").and_then(Value::as_str) != Some(codes::UCUM) {
        return None;
    }
    Some((q.get("value")?.as_f64()?, q.get("code")?.as_str()?))
}

fn record(input: &ExtractInput, opts: &DeidOptions, table: &Thresholds) -> Record {
    let p = &input.patient;
    let birth = p.get("birthDate").and_then(Value::as_str).and_then(parse_birth);
    let age = birth.map(|b| age_on(b, opts.reference_date)).filter(|a| *a >= 0);
    let sex = match p.get("gender").and_then(Value::as_str) {
        Some(g @ ("male" | "female" | "other")) => g.to_owned(),
        _ => "unknown".to_owned(),
    };
    let area_code = p
        .get("address")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|a| a.get("extension").and_then(Value::as_array).into_iter().flatten())
        .find(|e| e.get("url").and_then(Value::as_str) == Some(MUNICIPALITY_CODE_EXTENSION))
        .and_then(|e| e.get("valueCode").or_else(|| e.get("valueString")).and_then(Value::as_str))
        .filter(|c| c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_owned);

    let mut latest: Latest = BTreeMap::new();
    let mut birth_weight: Option<(String, f64)> = None;
    let mut doses = 0usize;
    let mut drug_classes: BTreeSet<String> = BTreeSet::new();
    let mut pregnant = false;
    for r in &input.resources {
        if !usable(r) {
            continue;
        }
        match r.get("resourceType").and_then(Value::as_str) {
            Some("Observation") => {
                let Some(when) = effective(r) else { continue };
                let own = codings(r.get("code"));
                let at_birth = own.iter().any(|(s, c)| *s == codes::LOINC && AT_BIRTH.contains(c));
                if own.iter().any(|(s, c)| *s == codes::LOINC && *c == "8339-4") {
                    if let Some((v, u)) = ucum_value(r.get("valueQuantity")) {
                        let g = match u {
                            "g" => Some(v),
                            "kg" => Some(v * 1000.0),
                            _ => None,
                        };
                        if let Some(g) = g {
                            if birth_weight.as_ref().is_none_or(|(s, _)| when.1 > *s) {
                                birth_weight = Some((when.1.clone(), g));
                            }
                        }
                    }
                }
                if at_birth {
                    continue;
                }
                for a in thresholds::assess_all(r, table) {
                    if let Some((_, col)) = THRESHOLD_COLUMNS.iter().find(|(id, _)| *id == a.item) {
                        offer(&mut latest, col, &when, a.value);
                    }
                }
                if let Some(d) = DIRECT.iter().find(|d| own.iter().any(|(s, c)| (d.matches)(s, c))) {
                    if let Some((v, u)) = ucum_value(r.get("valueQuantity")) {
                        if let Some((_, f)) = d.units.iter().find(|(unit, _)| *unit == u) {
                            offer(&mut latest, d.column, &when, v * f);
                        }
                    }
                }
            }
            Some("Immunization") if r.get("status").and_then(Value::as_str) == Some("completed") => doses += 1,
            Some("MedicationDispense" | "MedicationStatement") => {
                for (s, c) in codings(r.get("medicationCodeableConcept")) {
                    if codes::DrugCodeSystem::from_system(s) == Some(codes::DrugCodeSystem::Yj) {
                        if let Some(class) = c.get(..4) {
                            drug_classes.insert(class.to_owned());
                        }
                    }
                }
            }
            Some("Condition") => {
                let active = codings(r.get("clinicalStatus")).iter().any(|(_, c)| *c == "active");
                let is_pregnancy = codings(r.get("code")).iter().any(|(s, c)| *s == SNOMED && *c == SNOMED_PREGNANCY);
                pregnant |= active && is_pregnancy;
            }
            _ => {}
        }
    }

    let mut values = Map::new();
    for (col, (date, _, v)) in latest {
        values.insert(col.to_owned(), json!(round(v, 2)));
        let near_birth = birth.is_some_and(|b| (date - b).num_days().abs() <= 31);
        if !near_birth {
            values.insert(format!("{col}_month"), json!(date.format("%Y-%m").to_string()));
        }
    }
    if let Some((_, g)) = birth_weight {
        values.insert("birth_weight_g".into(), json!(g.round() as i64));
    }
    values.insert("immunization_doses".into(), json!(doses));
    values.insert("medication_classes".into(), json!(drug_classes.into_iter().collect::<Vec<_>>()));
    values.insert("pregnant".into(), json!(pregnant));

    Record { pseudonym: pseudonym(&opts.salt, &subject_of(p)), age, sex, area: area_code, values }
}

fn round(v: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (v * f).round() / f
}

// ------------------------------------------------------------------ extract

/// Class sizes of the quasi-identifier tuples.
fn class_sizes(keys: &[[String; 3]]) -> BTreeMap<&[String; 3], usize> {
    let mut sizes = BTreeMap::new();
    for k in keys {
        *sizes.entry(k).or_insert(0) += 1;
    }
    sizes
}

/// Builds a research extract of consenting people (see the module documentation).
pub fn extract(input: &[ExtractInput], opts: &DeidOptions) -> Extract {
    let k = opts.k.max(MIN_K);
    let table = Thresholds::default();
    let records: Vec<Record> = input.iter().map(|i| record(i, opts, &table)).collect();
    let n = records.len();
    let budget = (n as f64 * MAX_SUPPRESSION_FRACTION).floor() as usize;
    let mut steps = Vec::new();
    if opts.k < MIN_K {
        steps.push(format!("k raised from {} to the minimum {MIN_K}", opts.k));
    }
    if opts.salt.is_empty() {
        steps.push("warning: the salt is empty, so anyone can recompute the pseudonyms".to_owned());
    }
    steps.push(
        "direct identifiers removed (names, addresses, telecom, identifiers, birth date, ids, references); \
         pseudonym = SipHash-2-4 of the data subject under the salt; dates reduced to year-month"
            .to_owned(),
    );

    let mut chosen: Option<(usize, usize, Vec<[String; 3]>)> = None;
    let mut tried = Vec::new();
    for (a, g) in lattice() {
        let keys: Vec<[String; 3]> = records.iter().map(|r| r.quasi(a, g)).collect();
        let sizes = class_sizes(&keys);
        let small = keys.iter().filter(|key| sizes.get(key).copied().unwrap_or(0) < k).count();
        tried.push(format!("(area {a}, age {g}): {small} in classes < k"));
        if small <= budget {
            chosen = Some((a, g, keys));
            break;
        }
    }
    let over_budget = chosen.is_none();
    let (a, g, keys) = chosen.unwrap_or_else(|| {
        let (a, g) = (AREA_LEVELS - 1, AGE_LEVELS - 1);
        (a, g, records.iter().map(|r| r.quasi(a, g)).collect())
    });
    steps.push(format!(
        "lattice nodes tried in order (area level 0-2, age level 0-3): {}; used (area {a}, age {g})",
        tried.join("; ")
    ));
    steps.push(describe_area(a).to_owned());
    steps.push(describe_age(g).to_owned());
    steps.push("sex: not generalised".to_owned());

    let sizes = class_sizes(&keys);
    let mut rows: Vec<Value> = Vec::new();
    let mut released_classes: BTreeSet<&[String; 3]> = BTreeSet::new();
    let mut k_achieved = usize::MAX;
    for (r, key) in records.iter().zip(&keys) {
        let size = sizes.get(key).copied().unwrap_or(0);
        if size < k {
            continue;
        }
        k_achieved = k_achieved.min(size);
        released_classes.insert(key);
        let mut row = Map::new();
        row.insert("pseudonym".into(), json!(r.pseudonym));
        row.insert("age_band".into(), json!(key[0]));
        row.insert("sex".into(), json!(key[1]));
        row.insert("area".into(), json!(key[2]));
        for (c, v) in &r.values {
            row.insert(c.clone(), v.clone());
        }
        rows.push(Value::Object(row));
    }
    rows.sort_by(|x, y| x["pseudonym"].as_str().cmp(&y["pseudonym"].as_str()));
    let released = rows.len();
    let suppressed = n - released;
    if over_budget {
        steps.push(format!(
            "no generalisation met k={k} within the suppression budget of {budget} ({}% of {n}); \
             the most general level was used and all {suppressed} people in classes smaller than k were suppressed",
            (MAX_SUPPRESSION_FRACTION * 100.0).round()
        ));
    } else {
        steps.push(format!(
            "suppressed {suppressed} people in equivalence classes smaller than k={k} (budget {budget}, {}% of {n})",
            (MAX_SUPPRESSION_FRACTION * 100.0).round()
        ));
    }
    if released == 0 && n > 0 {
        steps.push("nothing released: the population is too small or too diverse for k".to_owned());
    }
    steps.push("rows sorted by pseudonym".to_owned());

    Extract {
        rows,
        report: DeidReport {
            k_required: k,
            k_achieved: if released == 0 { 0 } else { k_achieved },
            quasi_identifiers: QUASI_IDENTIFIERS.iter().map(|q| (*q).to_owned()).collect(),
            input_people: n,
            released_people: released,
            suppressed_people: suppressed,
            generalisation: steps,
            equivalence_classes: released_classes.len(),
        },
    }
}

/// Recomputes k independently: the size of the smallest group of rows with equal values of
/// `quasi` (a missing column counts as `null`); 0 for no rows.
pub fn k_of(rows: &[Value], quasi: &[&str]) -> usize {
    let mut groups: BTreeMap<Vec<String>, usize> = BTreeMap::new();
    for r in rows {
        let key = quasi.iter().map(|q| r.get(*q).unwrap_or(&Value::Null).to_string()).collect();
        *groups.entry(key).or_insert(0) += 1;
    }
    groups.values().copied().min().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::people::{generate, GenOptions, Person};

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    const REF: &str = "2026-05-01";

    fn inputs(people: &[Person]) -> Vec<ExtractInput> {
        people.iter().map(|p| ExtractInput { patient: p.patient.clone(), resources: p.resources.clone() }).collect()
    }

    fn opts(k: usize) -> DeidOptions {
        DeidOptions { k, ..DeidOptions::new("project-salt-0123456789abcdef", day(REF)) }
    }

    /// A minimal Patient.
    fn patient(n: usize, gender: &str, birth: &str, muni: &str) -> Value {
        json!({
            "resourceType": "Patient", "id": format!("x{n}"),
            "identifier": [{"system": DATA_SUBJECT_SYSTEM, "value": format!("urn:ngsi-ld:Person:x-{n}")}],
            "name": [{"family": "山田", "given": ["花子"]}],
            "gender": gender, "birthDate": birth,
            "address": [{"extension": [{"url": MUNICIPALITY_CODE_EXTENSION, "valueCode": muni}], "city": "前橋市"}]
        })
    }

    fn person(n: usize, gender: &str, birth: &str, muni: &str) -> ExtractInput {
        ExtractInput { patient: patient(n, gender, birth, muni), resources: Vec::new() }
    }

    fn check_invariants(x: &Extract, k: usize) {
        let r = &x.report;
        assert_eq!(r.k_required, k.max(MIN_K));
        assert_eq!(r.released_people, x.rows.len());
        assert_eq!(r.released_people + r.suppressed_people, r.input_people);
        assert_eq!(r.k_achieved, k_of(&x.rows, QUASI_IDENTIFIERS));
        if x.rows.is_empty() {
            assert_eq!(r.k_achieved, 0);
            assert_eq!(r.equivalence_classes, 0);
        } else {
            assert!(r.k_achieved >= r.k_required, "{r:?}");
        }
        let classes: BTreeSet<String> =
            x.rows.iter().map(|row| QUASI_IDENTIFIERS.iter().map(|q| row[*q].to_string()).collect()).collect();
        assert_eq!(classes.len(), r.equivalence_classes);
        let over = r.generalisation.iter().any(|s| s.contains("suppression budget"));
        if !over {
            assert!(r.suppressed_people as f64 <= r.input_people as f64 * MAX_SUPPRESSION_FRACTION);
        }
        // sorted by pseudonym, pseudonyms unique
        let ps: Vec<&str> = x.rows.iter().map(|row| row["pseudonym"].as_str().expect("pseudonym")).collect();
        assert!(ps.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn siphash_reference_vectors() {
        // Aumasson & Bernstein, SipHash paper appendix: key 00..0f.
        let k0 = u64::from_le_bytes([0, 1, 2, 3, 4, 5, 6, 7]);
        let k1 = u64::from_le_bytes([8, 9, 10, 11, 12, 13, 14, 15]);
        let msg: Vec<u8> = (0u8..15).collect();
        assert_eq!(siphash24(k0, k1, &msg), 0xa129_ca61_49be_45e5);
        assert_eq!(siphash24(k0, k1, &[]), 0x726f_db47_dd0e_0e31);
        let p = pseudonym("salt", "urn:ngsi-ld:Person:a");
        assert_eq!(p.len(), 32);
        assert!(p.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_eq!(p, pseudonym("salt", "urn:ngsi-ld:Person:a"));
        assert_ne!(p, pseudonym("salt2", "urn:ngsi-ld:Person:a"));
        assert_ne!(p, pseudonym("salt", "urn:ngsi-ld:Person:b"));
    }

    #[test]
    fn bands_and_lattice() {
        assert_eq!(age_band(Some(42), 0), "40-44");
        assert_eq!(age_band(Some(42), 1), "40-49");
        assert_eq!(age_band(Some(42), 2), "40-59");
        assert_eq!(age_band(Some(42), 3), "*");
        assert_eq!(age_band(Some(0), 0), "0-4");
        assert_eq!(age_band(Some(93), 0), "90+");
        assert_eq!(age_band(Some(85), 2), "80+");
        assert_eq!(age_band(None, 1), "unknown");
        assert_eq!(area(Some("102016"), 0), "102016");
        assert_eq!(area(Some("102016"), 1), "10");
        assert_eq!(area(Some("102016"), 2), "*");
        let l = lattice();
        assert_eq!(l.len(), 12);
        assert_eq!(&l[..4], &[(0, 0), (1, 0), (0, 1), (2, 0)]);
        assert_eq!(l.last(), Some(&(2, 3)));
    }

    #[test]
    fn k_holds_on_generated_populations() {
        for seed in 1..=8u64 {
            let people = generate(&GenOptions::new(seed, [30, 80, 200][seed as usize % 3], day(REF)));
            let input = inputs(&people);
            for k in [2, 3, 5, 10] {
                let x = extract(&input, &opts(k));
                check_invariants(&x, k);
                if input.len() >= 80 && k <= 5 {
                    assert!(x.report.released_people * 10 >= input.len() * 9, "{:?}", x.report);
                }
            }
        }
    }

    #[test]
    fn no_direct_identifier_leaks() {
        let people = generate(&GenOptions::new(99, 120, day(REF)));
        let x = extract(&inputs(&people), &opts(3));
        let text = serde_json::to_string(&x).expect("json");
        let allowed: BTreeSet<&str> = [
            "pseudonym",
            "age_band",
            "sex",
            "area",
            "birth_weight_g",
            "immunization_doses",
            "medication_classes",
            "pregnant",
        ]
        .into_iter()
        .collect();
        let items: BTreeSet<&str> =
            THRESHOLD_COLUMNS.iter().map(|(_, c)| *c).chain(DIRECT.iter().map(|d| d.column)).collect();
        for row in &x.rows {
            for key in row.as_object().expect("object").keys() {
                let base = key.strip_suffix("_month").unwrap_or(key);
                assert!(allowed.contains(key.as_str()) || items.contains(base), "{key}");
            }
        }
        for p in &people {
            let mut secrets = vec![p.subject.clone(), p.patient_id().to_owned(), p.birth_date.to_string()];
            for name in p.patient["name"].as_array().expect("names") {
                secrets.push(name["text"].as_str().expect("text").to_owned());
                secrets.push(name["family"].as_str().expect("family").to_owned());
                secrets.push(name["given"][0].as_str().expect("given").to_owned());
            }
            let a = &p.patient["address"][0];
            for key in ["text", "postalCode"] {
                secrets.push(a[key].as_str().expect("address").to_owned());
            }
            secrets.push(a["line"][0].as_str().expect("line").to_owned());
            if let Some(mail) = p.patient["telecom"][0]["value"].as_str() {
                secrets.push(mail.to_owned());
            }
            if age_on(p.birth_date, day(REF)) <= 12 {
                // a child's measurements at birth must not reveal the birth month
                let me = pseudonym("project-salt-0123456789abcdef", &p.subject);
                if let Some(row) = x.rows.iter().find(|r| r["pseudonym"] == me.as_str()) {
                    let born = p.birth_date.format("%Y-%m").to_string();
                    let text = row.to_string();
                    assert!(!text.contains(&born), "{born} in {text}");
                }
            }
            for r in &p.resources {
                secrets.push(r["id"].as_str().expect("id").to_owned());
            }
            for s in secrets {
                assert!(!text.contains(&s), "{s} leaked");
            }
        }
        // No exact date of any kind.
        for i in 0..text.len().saturating_sub(10) {
            let w = &text.as_bytes()[i..i + 10];
            let looks_like_date = w[..4].iter().all(u8::is_ascii_digit)
                && w[4] == b'-'
                && w[5..7].iter().all(u8::is_ascii_digit)
                && w[7] == b'-'
                && w[8..10].iter().all(u8::is_ascii_digit);
            assert!(!looks_like_date, "{}", String::from_utf8_lossy(w));
        }
    }

    #[test]
    fn suppression_is_counted_exactly() {
        // 10 alike and one outlier: the outlier fits the 10% budget (1 of 11) at the finest level.
        let mut input: Vec<ExtractInput> = (0..10).map(|i| person(i, "female", "1984-01-10", "102016")).collect();
        input.push(person(10, "male", "1955-02-01", "104264"));
        let x = extract(&input, &opts(5));
        check_invariants(&x, 5);
        assert_eq!(x.report.suppressed_people, 1);
        assert_eq!(x.report.released_people, 10);
        assert_eq!(x.report.k_achieved, 10);
        assert_eq!(x.report.equivalence_classes, 1);
        assert_eq!(x.rows[0]["age_band"], "40-44");
        assert_eq!(x.rows[0]["area"], "102016");
        assert!(x.report.generalisation.iter().any(|s| s.contains("used (area 0, age 0)")));

        // Two outliers alike: over the budget at every level; the most general level is used
        // and both are suppressed, and the report says so.
        input.push(person(11, "male", "1955-03-01", "104264"));
        let x = extract(&input, &opts(5));
        check_invariants(&x, 5);
        assert_eq!(x.report.suppressed_people, 2);
        assert_eq!(x.report.released_people, 10);
        assert_eq!(x.rows[0]["age_band"], "*");
        assert_eq!(x.rows[0]["area"], "*");
        assert!(x.report.generalisation.iter().any(|s| s.contains("suppression budget")));
    }

    #[test]
    fn generalises_area_before_age() {
        let mut input: Vec<ExtractInput> = (0..3).map(|i| person(i, "female", "1984-01-10", "102016")).collect();
        input.extend((3..6).map(|i| person(i, "female", "1983-06-10", "102024")));
        let x = extract(&input, &opts(5));
        check_invariants(&x, 5);
        assert_eq!(x.report.suppressed_people, 0);
        assert!(x.rows.iter().all(|r| r["area"] == "10" && r["age_band"] == "40-44"));
        assert!(x.report.generalisation.iter().any(|s| s.contains("prefecture")));
        // Different ages too: age is generalised next.
        let mut input: Vec<ExtractInput> = (0..3).map(|i| person(i, "male", "1984-01-10", "102016")).collect();
        input.extend((3..6).map(|i| person(i, "male", "1978-06-10", "102024")));
        let x = extract(&input, &opts(5));
        check_invariants(&x, 5);
        assert!(x.rows.iter().all(|r| r["area"] == "10" && r["age_band"] == "40-49"), "{:?}", x.rows);
    }

    #[test]
    fn empty_input_and_k_above_population() {
        let x = extract(&[], &opts(5));
        check_invariants(&x, 5);
        assert_eq!(
            (x.report.input_people, x.report.released_people, x.report.suppressed_people, x.report.k_achieved),
            (0, 0, 0, 0)
        );
        assert_eq!(k_of(&[], QUASI_IDENTIFIERS), 0);

        let people = generate(&GenOptions::new(4, 12, day(REF)));
        let x = extract(&inputs(&people), &opts(50));
        check_invariants(&x, 50);
        assert!(x.rows.is_empty());
        assert_eq!(x.report.suppressed_people, 12);
        assert_eq!(x.report.k_achieved, 0);
        assert_eq!(x.report.k_required, 50);
        assert!(x.report.generalisation.iter().any(|s| s.contains("nothing released")));

        // k below the minimum is raised.
        let x = extract(&inputs(&people), &opts(1));
        assert_eq!(x.report.k_required, MIN_K);
        assert!(x.report.generalisation.iter().any(|s| s.contains("raised")));
    }

    #[test]
    fn latest_values_and_year_month() {
        let obs = |id: &str, when: &str, v: f64, status: &str| {
            json!({
                "resourceType": "Observation", "id": id, "status": status,
                "code": {"coding": [{"system": codes::JLAC10_OID, "code": "3D046000001906202"}]},
                "subject": {"reference": "Patient/x0"}, "effectiveDateTime": when,
                "valueQuantity": {"value": v, "system": codes::UCUM, "code": "%"}
            })
        };
        let mut people: Vec<ExtractInput> = (0..2).map(|i| person(i, "female", "1984-01-10", "102016")).collect();
        people[0].resources = vec![
            obs("a", "2025-11-02T09:00:00+09:00", 6.1, "final"),
            obs("b", "2026-03-15T09:00:00+09:00", 6.7, "final"),
            obs("c", "2026-04-01T09:00:00+09:00", 9.9, "entered-in-error"),
            obs("d", "2024-01-01", 5.0, "final"),
            json!({"resourceType": "MedicationDispense", "status": "completed",
                   "medicationCodeableConcept": {"coding": [{"system": codes::YJ_OID, "code": "3962002F1080"}]},
                   "subject": {"reference": "Patient/x0"}}),
            json!({"resourceType": "Immunization", "status": "completed", "patient": {"reference": "Patient/x0"}}),
        ];
        let x = extract(&people, &opts(2));
        let p0 = pseudonym("project-salt-0123456789abcdef", "urn:ngsi-ld:Person:x-0");
        let row = x.rows.iter().find(|r| r["pseudonym"] == p0.as_str()).expect("row");
        assert_eq!(row["hba1c"], 6.7);
        assert_eq!(row["hba1c_month"], "2026-03");
        assert_eq!(row["medication_classes"], json!(["3962"]));
        assert_eq!(row["immunization_doses"], 1);
        assert_eq!(row["pregnant"], false);
        assert_eq!(row["age_band"], "40-44");
        assert!(row.get("name").is_none() && row.get("birthDate").is_none());
    }

    #[test]
    fn generated_values_reach_the_rows() {
        let people = generate(&GenOptions::new(5, 200, day(REF)));
        let x = extract(&inputs(&people), &opts(5));
        let count = |col: &str| x.rows.iter().filter(|r| r.get(col).is_some()).count();
        for col in [
            "bp_systolic",
            "hba1c",
            "egfr",
            "creatinine",
            "bmi",
            "waist",
            "checkup_bp_systolic",
            "head_circumference",
            "birth_weight_g",
        ] {
            assert!(count(col) > 0, "{col}");
        }
        assert!(x.rows.iter().any(|r| r["pregnant"] == true));
        assert!(x.rows.iter().any(|r| r["medication_classes"].as_array().is_some_and(|a| !a.is_empty())));
    }
}
