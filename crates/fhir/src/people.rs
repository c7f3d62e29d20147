//! A seeded generator of realistic **synthetic** Japanese test people as FHIR R4 / JP Core
//! JSON, for demos, load tests and the research-extract tests in [`crate::deid`].
//!
//! Everything here is made up: names are drawn from lists of common family and given names,
//! addresses use real 群馬県 municipalities with invented town names and street numbers,
//! postal codes keep the municipality's real leading digits and invent the rest, e-mail
//! addresses are under `example.com` (RFC 2606), and every clinical value is drawn from a
//! distribution. No record describes a real person. The output is deterministic for a seed
//! ([`GenOptions::seed`]), independent of the platform.
//!
//! What [`generate`] produces (every resource passes [`crate::validate::validate_resource`];
//! the few LOINC codes Kizuna does not evaluate, head and chest circumference, give a
//! warning, not an error):
//!
//! - **Patient** (JP_Patient): `identifier` with system [`DATA_SUBJECT_SYSTEM`]
//!   (`urn:kizuna:data-subject`) and the data-subject URI as value, which is how Kizuna links a
//!   Patient to its data subject; two names, kanji (`use: official`, extension
//!   `iso21090-EN-representation` = `IDE`) and katakana (same use, `SYL`), each with `family`,
//!   `given` and `text`; `gender`, `birthDate`; a home `address` with `text`, `line`, `city`,
//!   `state` (群馬県), `postalCode`, `country` (JP), `district` (the 郡 of a town or village,
//!   as written in Japanese addresses) and the municipality code in the extension
//!   [`MUNICIPALITY_CODE_EXTENSION`] (`valueCode`: the 6-digit 全国地方公共団体コード, the
//!   JIS X 0402 code followed by its check digit, e.g. `102016` for 前橋市); for most adults an
//!   e-mail `telecom`.
//! - **Adults (20–89)**, population-weighted towards older ages as in 群馬県:
//!   - home blood pressure (LOINC panel 85354-9, components 8480-6 / 8462-4 in `mm[Hg]`,
//!     category `vital-signs`) for about 70% of adults, on 40–95% (a personal rate) of the
//!     mornings of the last 60 days, around a personal baseline chosen across the JSH2019
//!     home-BP tiers, so readings cross tier boundaries; weekly home body weight (29463-7,
//!     `kg`);
//!   - 特定健診 (one or two yearly checkups, for most people ≥ 35 and some younger): an
//!     Encounter, body height / weight / BMI (LOINC vital signs with the 特定健診項目コード
//!     as a second coding), 腹囲 (LOINC 8280-0 + `9N016160100000001`, category `exam`),
//!     blood pressure (`9A751000000000001` / `9A761000000000001`, category `exam`), and lab
//!     results coded in JLAC10 (`urn:oid:1.2.392.200119.4.504`, category `laboratory`): 空腹時血糖
//!     `3D010000001926101`, HbA1c `3D046000001906202`, LDL-C `3F077000002327101`, HDL-C
//!     `3F070000002327101`, 中性脂肪 `3F015000002327101`, クレアチニン `3C015000002327101` and
//!     eGFR `8A065000002391901` (computed from creatinine with the JSN equation
//!     194 × Cr^−1.094 × age^−0.287 × 0.739 for women). Each value is drawn inside a tier of
//!     [`crate::thresholds`] (基準範囲 / 保健指導 / 受診勧奨, weighted by a personal risk) and
//!     near its boundaries; a DiagnosticReport (LOINC 11502-2) groups the lab results;
//!   - MedicationDispense (JP_MedicationDispense) every 28 days for people with high values
//!     (and a few others), coded with YJ codes (`urn:oid:1.2.392.100495.20.2.73`). The first
//!     seven characters name the ingredient and form (薬価基準収載医薬品コード); the product
//!     digits are illustrative, only the format is guaranteed;
//!   - influenza Immunization in the last autumn for about half of those ≥ 65 (B類).
//! - **Pregnant women** (some women 20–44, at least one when there is one eligible): a
//!   Condition (SNOMED CT 77386006 pregnancy) and 妊婦健康診査 visits on the usual schedule
//!   (every 4 weeks to 23 weeks, every 2 weeks to 35, weekly from 36), each an Encounter with
//!   gestational age (LOINC 49051-6, `wk`, category `exam`), body weight, blood pressure
//!   (panel 85354-9), urine protein and glucose by test strip (LOINC 20454-5 / 25428-4,
//!   category `laboratory`, value a CodeableConcept with text −, ±, +) and, from 16 weeks,
//!   fundal height (LOINC 11881-0, `cm`, category `exam`). A few develop high blood pressure
//!   and proteinuria after 20 weeks.
//! - **Children (0–12)**, about a fifth of the people, each with a guardian among the
//!   generated adults aged 20 or more at the birth (the child's subject is in the guardian's
//!   [`Person::guardian_of`]; the child shares the guardian's family name and address):
//!   - the birth record: birth weight (codings 29463-7 + 8339-4, in `g`), birth length
//!     (8302-2 + 89269-5), head circumference (9843-4) and chest circumference
//!     (LOINC 8279-2 "Chest Circumference at nipple line"), category `vital-signs`;
//!   - 乳幼児健診 at 3–4 months, 1 year 6 months and 3 years (those already past): an
//!     Encounter with height (8302-2), weight (29463-7), head (9843-4) and chest (8279-2)
//!     circumference around Japanese growth medians, keeping the child's own percentile;
//!   - Immunization resources in [`codes::JP_VACCINE`] for the routine doses already due by
//!     [`schedule::schedule`], given in the standard window after a personal delay; some
//!     children stop a series, so some doses are overdue or expired.
//!
//! Resource ids are `<patient id>-<kind><n>` (e.g. `gen-p12-bp3`); [`GenOptions::id_prefix`]
//! must be short and made of FHIR id characters (`[A-Za-z0-9-.]`).

use crate::codes::{self, loinc, RoutineVaccine};
use crate::schedule::{self, ScheduleOptions, Sex};
use chrono::{Datelike, Days, Months, NaiveDate};
use serde_json::{json, Value};

/// The identifier system linking a FHIR Patient to its Kizuna data subject.
pub const DATA_SUBJECT_SYSTEM: &str = "urn:kizuna:data-subject";
/// Extension on `Patient.address` carrying the 6-digit 全国地方公共団体コード (`valueCode`).
pub const MUNICIPALITY_CODE_EXTENSION: &str = "urn:kizuna:fhir:StructureDefinition:municipality-code";
/// JP Core's name representation extension (`IDE` kanji, `SYL` kana).
pub const EN_REPRESENTATION: &str = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation";
/// SNOMED CT.
pub const SNOMED: &str = "http://snomed.info/sct";
/// SNOMED CT concept for pregnancy, used on the pregnancy Condition.
pub const SNOMED_PREGNANCY: &str = "77386006";

const JP_CORE: &str = "http://jpfhir.jp/fhir/core/StructureDefinition/";
const ACT_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenOptions {
    pub seed: u64,
    /// Number of people (adults and children together).
    pub people: usize,
    /// The generation date: every record is dated before it, ages are computed on it.
    pub today: NaiveDate,
    /// Prefix of subjects and ids, e.g. `gen` (FHIR id characters only, keep it short).
    pub id_prefix: String,
}

impl GenOptions {
    /// Options with the `gen` id prefix.
    pub fn new(seed: u64, people: usize, today: NaiveDate) -> Self {
        Self { seed, people, today, id_prefix: "gen".into() }
    }
}

/// One generated person.
#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    /// Data-subject URI, `urn:ngsi-ld:Person:<id_prefix>-<n>`.
    pub subject: String,
    /// The Patient resource, `id` `<id_prefix>-p<n>`.
    pub patient: Value,
    /// This person's other resources, each with an `id`, referring to `Patient/<patient id>`.
    pub resources: Vec<Value>,
    /// Data-subject URIs of the children this person is the guardian of.
    pub guardian_of: Vec<String>,
    pub birth_date: NaiveDate,
}

impl Person {
    /// The Patient's `id`.
    pub fn patient_id(&self) -> &str {
        self.patient.get("id").and_then(Value::as_str).unwrap_or_default()
    }
}

// ------------------------------------------------------------------ PRNG

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, fast, seedable PRNG. Not cryptographic.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `[0, n)` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            // Lemire's multiply-shift: unbiased enough for test data.
            ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
        }
    }

    /// Uniform integer in `[lo, hi]`.
    pub fn int(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        lo + self.below((hi - lo) as u64 + 1) as i64
    }

    /// Uniform in `[lo, hi)`.
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Approximately normal (Irwin–Hall, 12 uniforms), so within ±6 sd.
    pub fn normal(&mut self, mean: f64, sd: f64) -> f64 {
        let s: f64 = (0..12).map(|_| self.unit()).sum();
        mean + sd * (s - 6.0)
    }

    /// An index drawn with the given weights (the last index if they are all zero).
    pub fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = self.unit() * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len().saturating_sub(1)
    }

    /// An index in `[0, len)`.
    pub fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }
}

/// Mixes a seed and a stream number into an independent seed.
fn sub_seed(seed: u64, stream: u64) -> u64 {
    SplitMix64::new(seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03)).next_u64()
}

// ------------------------------------------------------------------ tables

/// A municipality: 6-digit code (check digit included), name, 郡 (towns and villages),
/// leading postal-code digits, population weight (thousands, rounded).
struct Municipality {
    code: &'static str,
    name: &'static str,
    district: Option<&'static str>,
    postal: &'static str,
    weight: f64,
}

const fn m(code: &'static str, name: &'static str, postal: &'static str, weight: f64) -> Municipality {
    Municipality { code, name, district: None, postal, weight }
}

const fn t(
    code: &'static str,
    name: &'static str,
    district: &'static str,
    postal: &'static str,
    w: f64,
) -> Municipality {
    Municipality { code, name, district: Some(district), postal, weight: w }
}

/// From `crates/cap/data/jp-municipalities.csv` (codes checked in the tests with the
/// check-digit rule of `crates/cap/src/geocode.rs`). Small towns are included so that
/// k-anonymity has to generalise the area.
const MUNICIPALITIES: &[Municipality] = &[
    m("102016", "前橋市", "371", 330.0),
    m("102024", "高崎市", "370", 370.0),
    m("102032", "桐生市", "376", 100.0),
    m("102041", "伊勢崎市", "372", 210.0),
    m("102059", "太田市", "373", 220.0),
    m("102067", "沼田市", "378", 45.0),
    m("102075", "館林市", "374", 75.0),
    m("102083", "渋川市", "377", 75.0),
    m("102091", "藤岡市", "375", 63.0),
    m("102105", "富岡市", "3702", 47.0),
    m("102113", "安中市", "3790", 56.0),
    m("102121", "みどり市", "3760", 49.0),
    t("103454", "吉岡町", "北群馬郡", "37036", 22.0),
    t("104647", "玉村町", "佐波郡", "37011", 36.0),
    t("105244", "大泉町", "邑楽郡", "37005", 42.0),
    t("104493", "みなかみ町", "利根郡", "37913", 17.0),
    t("104264", "草津町", "吾妻郡", "37717", 6.0),
];

/// Invented town names (common ones, not tied to a municipality).
const TOWNS: &[&str] = &[
    "本町",
    "中央町",
    "栄町",
    "緑町",
    "旭町",
    "昭和町",
    "東町",
    "西町",
    "南町",
    "北町",
    "元町",
    "若葉町",
    "桜町",
    "新町",
];

/// Common family names (several typical of 群馬県) with katakana readings.
const FAMILY_NAMES: &[(&str, &str)] = &[
    ("佐藤", "サトウ"),
    ("鈴木", "スズキ"),
    ("高橋", "タカハシ"),
    ("田中", "タナカ"),
    ("伊藤", "イトウ"),
    ("渡辺", "ワタナベ"),
    ("山本", "ヤマモト"),
    ("中村", "ナカムラ"),
    ("小林", "コバヤシ"),
    ("加藤", "カトウ"),
    ("吉田", "ヨシダ"),
    ("山田", "ヤマダ"),
    ("斎藤", "サイトウ"),
    ("清水", "シミズ"),
    ("新井", "アライ"),
    ("金井", "カナイ"),
    ("星野", "ホシノ"),
    ("茂木", "モテギ"),
    ("関口", "セキグチ"),
    ("須藤", "スドウ"),
    ("阿部", "アベ"),
    ("松本", "マツモト"),
];

/// Given names: the first ten are typical of people born before about 1975, the others
/// of younger people.
const MALE_NAMES: &[(&str, &str)] = &[
    ("清", "キヨシ"),
    ("茂", "シゲル"),
    ("博", "ヒロシ"),
    ("勝", "マサル"),
    ("実", "ミノル"),
    ("和夫", "カズオ"),
    ("正男", "マサオ"),
    ("隆", "タカシ"),
    ("健一", "ケンイチ"),
    ("誠", "マコト"),
    ("大輔", "ダイスケ"),
    ("拓也", "タクヤ"),
    ("翔太", "ショウタ"),
    ("健太", "ケンタ"),
    ("蓮", "レン"),
    ("陽翔", "ハルト"),
    ("湊", "ミナト"),
    ("悠真", "ユウマ"),
    ("大和", "ヤマト"),
    ("颯太", "ソウタ"),
];

const FEMALE_NAMES: &[(&str, &str)] = &[
    ("幸子", "サチコ"),
    ("和子", "カズコ"),
    ("節子", "セツコ"),
    ("洋子", "ヨウコ"),
    ("恵子", "ケイコ"),
    ("京子", "キョウコ"),
    ("久美子", "クミコ"),
    ("裕子", "ユウコ"),
    ("真由美", "マユミ"),
    ("明美", "アケミ"),
    ("美咲", "ミサキ"),
    ("愛", "アイ"),
    ("陽菜", "ヒナ"),
    ("さくら", "サクラ"),
    ("結衣", "ユイ"),
    ("葵", "アオイ"),
    ("凛", "リン"),
    ("芽依", "メイ"),
    ("結菜", "ユイナ"),
    ("紬", "ツムギ"),
];

/// Adult age decades (20s … 80s) with weights close to 群馬県's population pyramid.
const DECADE_WEIGHTS: &[f64] = &[11.0, 12.0, 16.0, 16.0, 16.0, 18.0, 11.0];

/// YJ codes (ingredient/form from the 薬価基準収載医薬品コード, product digits illustrative).
struct Drug {
    yj: &'static str,
    name: &'static str,
    dosage: &'static str,
    per_day: u32,
}

const ANTIHYPERTENSIVES: &[Drug] = &[
    Drug { yj: "2171022F1020", name: "アムロジピン錠5mg", dosage: "1日1回朝食後 1錠", per_day: 1 },
    Drug { yj: "2149042F1020", name: "テルミサルタン錠40mg", dosage: "1日1回朝食後 1錠", per_day: 1 },
    Drug { yj: "2149039F1020", name: "カンデサルタン錠8mg", dosage: "1日1回朝食後 1錠", per_day: 1 },
];
const ANTIDIABETICS: &[Drug] = &[
    Drug {
        yj: "3962002F1080", name: "メトホルミン塩酸塩錠250mg", dosage: "1日2回朝夕食後 1回1錠", per_day: 2
    },
    Drug { yj: "3969010F1020", name: "シタグリプチン錠50mg", dosage: "1日1回朝食後 1錠", per_day: 1 },
];
const STATINS: &[Drug] = &[
    Drug { yj: "2189017F1020", name: "ロスバスタチン錠2.5mg", dosage: "1日1回夕食後 1錠", per_day: 1 },
    Drug { yj: "2189015F1020", name: "アトルバスタチン錠10mg", dosage: "1日1回夕食後 1錠", per_day: 1 },
];

// ------------------------------------------------------------------ dates

fn age_on(birth: NaiveDate, day: NaiveDate) -> i32 {
    let mut a = day.year() - birth.year();
    if (day.month(), day.day()) < (birth.month(), birth.day()) {
        a -= 1;
    }
    a
}

fn plus_days(d: NaiveDate, n: i64) -> NaiveDate {
    if n >= 0 {
        d.checked_add_days(Days::new(n as u64)).unwrap_or(d)
    } else {
        d.checked_sub_days(Days::new(n.unsigned_abs())).unwrap_or(d)
    }
}

fn plus_months(d: NaiveDate, n: u32) -> NaiveDate {
    d.checked_add_months(Months::new(n)).unwrap_or(d)
}

fn minus_years(d: NaiveDate, years: u32) -> NaiveDate {
    d.checked_sub_months(Months::new(12 * years)).unwrap_or(d)
}

/// A FHIR dateTime in Japan Standard Time.
fn dt(d: NaiveDate, hour: i64, minute: i64) -> String {
    format!("{}T{:02}:{:02}:00+09:00", d.format("%Y-%m-%d"), hour.clamp(0, 23), minute.clamp(0, 59))
}

fn ymd(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

fn round(v: f64, decimals: u32) -> f64 {
    let f = 10f64.powi(decimals as i32);
    (v * f).round() / f
}

/// A JSON number with `decimals` places (an integer when 0).
fn num(v: f64, decimals: u32) -> Value {
    if decimals == 0 {
        json!(v.round() as i64)
    } else {
        json!(round(v, decimals))
    }
}

// ------------------------------------------------------------------ demographics

#[derive(Debug, Clone, Copy, PartialEq)]
enum Role {
    Adult,
    /// Pregnant, with the last menstrual period.
    Pregnant(NaiveDate),
    /// A child (the guardian lists it in `guardian_of`).
    Child,
}

#[derive(Debug, Clone)]
struct Demo {
    sex: Sex,
    birth: NaiveDate,
    family: usize,
    given: (&'static str, &'static str),
    muni: usize,
    line: String,
    postal: String,
    email: bool,
    role: Role,
    guardian_of: Vec<usize>,
}

fn pick_given(rng: &mut SplitMix64, sex: Sex, birth: NaiveDate) -> (&'static str, &'static str) {
    let list = if sex == Sex::Male { MALE_NAMES } else { FEMALE_NAMES };
    let half = list.len() / 2;
    // Mostly era-typical names, sometimes the other half.
    let older = (birth.year() < 1975) != rng.chance(0.15);
    let i = if older { rng.index(half) } else { half + rng.index(list.len() - half) };
    list[i]
}

fn birth_for_age(rng: &mut SplitMix64, today: NaiveDate, age: u32) -> NaiveDate {
    let latest = minus_years(today, age);
    plus_days(latest, -rng.int(1, 364))
}

fn address(rng: &mut SplitMix64) -> (usize, String, String) {
    let weights: Vec<f64> = MUNICIPALITIES.iter().map(|m| m.weight).collect();
    let muni = rng.weighted(&weights);
    let town = TOWNS[rng.index(TOWNS.len())];
    let line = format!("{town}{}丁目{}-{}", rng.int(1, 5), rng.int(1, 30), rng.int(1, 20));
    let prefix = MUNICIPALITIES[muni].postal;
    let mut digits = prefix.to_owned();
    while digits.len() < 7 {
        digits.push(char::from(b'0' + rng.below(10) as u8));
    }
    let postal = format!("{}-{}", &digits[..3], &digits[3..]);
    (muni, line, postal)
}

fn demographics(opts: &GenOptions) -> Vec<Demo> {
    let mut rng = SplitMix64::new(sub_seed(opts.seed, 0));
    let today = opts.today;
    let n = opts.people;
    let children = if n >= 3 { (n as f64 * 0.2).round() as usize } else { 0 };
    let adults = n - children;
    let mut out: Vec<Demo> = Vec::with_capacity(n);
    for _ in 0..adults {
        let sex = if rng.chance(0.5) { Sex::Female } else { Sex::Male };
        let decade = rng.weighted(DECADE_WEIGHTS) as u32;
        let age = 20 + 10 * decade + rng.below(10) as u32;
        let birth = birth_for_age(&mut rng, today, age);
        let given = pick_given(&mut rng, sex, birth);
        let family = rng.index(FAMILY_NAMES.len());
        let (muni, line, postal) = address(&mut rng);
        let mut role = Role::Adult;
        if sex == Sex::Female && (20..=44).contains(&age) && rng.chance(0.2) {
            role = Role::Pregnant(lmp(&mut rng, today));
        }
        let email = rng.chance(0.7);
        out.push(Demo { sex, birth, family, given, muni, line, postal, email, role, guardian_of: Vec::new() });
    }
    // At least one pregnant woman when one is eligible.
    if !out.iter().any(|d| matches!(d.role, Role::Pregnant(_))) {
        if let Some(d) = out.iter_mut().find(|d| d.sex == Sex::Female && (20..=44).contains(&age_on(d.birth, today))) {
            d.role = Role::Pregnant(lmp(&mut rng, today));
        }
    }
    let candidates: Vec<usize> = (0..out.len()).filter(|&i| (22..=55).contains(&age_on(out[i].birth, today))).collect();
    for _ in 0..children {
        let g = if candidates.is_empty() { rng.index(adults) } else { candidates[rng.index(candidates.len())] };
        let g_age = age_on(out[g].birth, today).max(20);
        let max_age = (g_age - 20).clamp(0, 12);
        let age = rng.int(0, i64::from(max_age)) as u32;
        // The guardian was at least 20 at the birth.
        let earliest = plus_months(out[g].birth, 240);
        let birth = birth_for_age(&mut rng, today, age).max(earliest).min(plus_days(today, -1));
        let sex = if rng.chance(0.5) { Sex::Female } else { Sex::Male };
        let given = pick_given(&mut rng, sex, birth);
        let idx = out.len();
        let (family, muni, line, postal) = (out[g].family, out[g].muni, out[g].line.clone(), out[g].postal.clone());
        out[g].guardian_of.push(idx);
        out.push(Demo {
            sex,
            birth,
            family,
            given,
            muni,
            line,
            postal,
            email: false,
            role: Role::Child,
            guardian_of: Vec::new(),
        });
    }
    out
}

/// A last menstrual period 10–39 weeks ago.
fn lmp(rng: &mut SplitMix64, today: NaiveDate) -> NaiveDate {
    plus_days(today, -(rng.int(10, 39) * 7 + rng.int(0, 6)))
}

// ------------------------------------------------------------------ resource builders

/// Builds one person's resources.
struct Ctx {
    pid: String,
    seq: usize,
    rng: SplitMix64,
    today: NaiveDate,
    out: Vec<Value>,
}

fn category(code: &str) -> Value {
    let display = match code {
        "vital-signs" => "Vital Signs",
        "laboratory" => "Laboratory",
        _ => "Exam",
    };
    json!([{"coding": [{"system": codes::OBSERVATION_CATEGORY, "code": code, "display": display}]}])
}

fn coding(system: &str, code: &str, display: &str) -> Value {
    json!({"system": system, "code": code, "display": display})
}

fn quantity(value: f64, decimals: u32, ucum: &str, unit: &str) -> Value {
    json!({"value": num(value, decimals), "unit": unit, "system": codes::UCUM, "code": ucum})
}

impl Ctx {
    fn id(&mut self, kind: &str) -> String {
        self.seq += 1;
        format!("{}-{kind}{}", self.pid, self.seq)
    }

    fn subject(&self) -> Value {
        json!({"reference": format!("Patient/{}", self.pid)})
    }

    /// An Observation; returns its id.
    #[allow(clippy::too_many_arguments)]
    fn observation(
        &mut self,
        kind: &str,
        cat: &str,
        codings: Vec<Value>,
        text: &str,
        when: &str,
        value: (&str, Value),
        encounter: Option<&str>,
    ) -> String {
        let id = self.id(kind);
        let profile = match cat {
            "vital-signs" => Some("JP_Observation_VitalSigns"),
            "laboratory" => Some("JP_Observation_LabResult"),
            _ => None,
        };
        let mut o = json!({
            "resourceType": "Observation",
            "id": id,
            "status": "final",
            "category": category(cat),
            "code": {"coding": codings, "text": text},
            "subject": self.subject(),
            "effectiveDateTime": when,
        });
        if let Some(p) = profile {
            o["meta"] = json!({"profile": [format!("{JP_CORE}{p}")]});
        }
        if let Some(e) = encounter {
            o["encounter"] = json!({"reference": format!("Encounter/{e}")});
        }
        o[value.0] = value.1;
        self.out.push(o);
        id
    }

    fn vital(&mut self, kind: &str, codings: Vec<Value>, text: &str, when: &str, q: Value, enc: Option<&str>) {
        self.observation(kind, "vital-signs", codings, text, when, ("valueQuantity", q), enc);
    }

    fn bp(&mut self, when: &str, sys: f64, dia: f64, enc: Option<&str>) {
        let id = self.id("bp");
        let comp = |code: &str, display: &str, v: f64| {
            json!({
                "code": {"coding": [coding(codes::LOINC, code, display)]},
                "valueQuantity": quantity(v, 0, "mm[Hg]", "mmHg"),
            })
        };
        let mut o = json!({
            "resourceType": "Observation",
            "id": id,
            "meta": {"profile": [format!("{JP_CORE}JP_Observation_VitalSigns")]},
            "status": "final",
            "category": category("vital-signs"),
            "code": {"coding": [coding(codes::LOINC, loinc::BP_PANEL, "Blood pressure panel with all children optional")], "text": "血圧"},
            "subject": self.subject(),
            "effectiveDateTime": when,
            "component": [
                comp(loinc::SYSTOLIC, "Systolic blood pressure", sys),
                comp(loinc::DIASTOLIC, "Diastolic blood pressure", dia),
            ],
        });
        if let Some(e) = enc {
            o["encounter"] = json!({"reference": format!("Encounter/{e}")});
        }
        self.out.push(o);
    }

    fn encounter(&mut self, kind: &str, text: &str, day: NaiveDate, hour: i64) -> String {
        let id = self.id(kind);
        let start = dt(day, hour, 0);
        let end = dt(day, hour + 1, 30);
        self.out.push(json!({
            "resourceType": "Encounter",
            "id": id,
            "status": "finished",
            "class": {"system": ACT_CODE, "code": "AMB", "display": "ambulatory"},
            "type": [{"text": text}],
            "subject": self.subject(),
            "period": {"start": start, "end": end},
        }));
        id
    }

    fn immunization(&mut self, vaccine: RoutineVaccine, day: NaiveDate, dose: u32) {
        let id = self.id("imm");
        self.out.push(json!({
            "resourceType": "Immunization",
            "id": id,
            "meta": {"profile": [format!("{JP_CORE}JP_Immunization")]},
            "status": "completed",
            "vaccineCode": {
                "coding": [coding(codes::JP_VACCINE, vaccine.code(), vaccine.display())],
                "text": vaccine.display(),
            },
            "patient": self.subject(),
            "occurrenceDateTime": dt(day, 10, 0),
            "primarySource": true,
            "protocolApplied": [{"doseNumberPositiveInt": dose}],
        }));
    }
}

// ------------------------------------------------------------------ adults

/// `(lower bound, upper bound)` of a value range for each tier (best first).
type Tiers = [(f64, f64); 3];

/// Tier weights (基準範囲, 保健指導, 受診勧奨) for a personal risk in `[0, 1]`: about 60/22/18%
/// over the population, more of the worse tiers for higher risks.
fn risk_weights(risk: f64) -> [f64; 3] {
    [0.72 - 0.35 * risk, 0.2 + 0.05 * risk, 0.08 + 0.3 * risk]
}

/// Draws a value in one of three tiers (基準範囲 / 保健指導 / 受診勧奨) with the given weights.
/// Each range is `(boundary with the better tier, far end)` and values are concentrated
/// towards the boundary, so many people sit just above or below a threshold. For "lower is
/// worse" items (HDL, eGFR) the ranges simply run downwards.
fn tiered(rng: &mut SplitMix64, weights: [f64; 3], tiers: &Tiers) -> f64 {
    let (near, far) = tiers[rng.weighted(&weights)];
    let u = rng.unit() * rng.unit().sqrt();
    near + (far - near) * u
}

struct AdultProfile {
    risk: f64,
    sys: f64,
    dia: f64,
    height: f64,
    bmi: f64,
}

fn adult_profile(rng: &mut SplitMix64, sex: Sex, age: i32) -> AdultProfile {
    let risk = (rng.unit() * 0.8 + f64::from((age - 20).max(0)) / 70.0 * 0.4).min(1.0) * rng.uniform(0.6, 1.0);
    // Home systolic baseline across the JSH2019 tiers (older → higher).
    let tier_w = [3.0 - 2.0 * risk, 2.0, 2.0, 1.0 + 1.5 * risk, 0.6 + 1.2 * risk, 0.2 + 0.5 * risk];
    let ranges = [(100.0, 115.0), (115.0, 125.0), (125.0, 135.0), (135.0, 145.0), (145.0, 160.0), (160.0, 175.0)];
    let (lo, hi) = ranges[rng.weighted(&tier_w)];
    let sys = rng.uniform(lo, hi);
    let dia = sys * 0.6 + rng.normal(0.0, 5.0);
    let (h_mean, bmi_mean) = if sex == Sex::Male { (171.0, 23.8) } else { (158.0, 22.0) };
    let height = rng.normal(h_mean - f64::from((age - 30).max(0)) * 0.12, 5.5);
    let bmi = (rng.normal(bmi_mean, 2.5) + 3.0 * (risk - 0.5)).clamp(16.5, 38.0);
    AdultProfile { risk, sys, dia, height, bmi }
}

/// `pregnant`: no medication (several of the drugs are contraindicated in pregnancy).
fn adult(ctx: &mut Ctx, d: &Demo, pregnant: bool) {
    let today = ctx.today;
    let age = age_on(d.birth, today);
    let p = adult_profile(&mut ctx.rng, d.sex, age);
    let weight = p.bmi * (p.height / 100.0).powi(2);

    // Home blood pressure and weight over the last 60 days.
    if ctx.rng.chance(0.7) {
        let freq = ctx.rng.uniform(0.4, 0.95);
        let trend = ctx.rng.normal(0.0, 4.0);
        for back in (1..=60).rev() {
            if !ctx.rng.chance(freq) {
                continue;
            }
            let day = plus_days(today, -back);
            let when = dt(day, ctx.rng.int(6, 7), ctx.rng.int(0, 59));
            let drift = trend * (60.0 - back as f64) / 60.0;
            let sys = (p.sys + drift + ctx.rng.normal(0.0, 7.0)).clamp(85.0, 210.0);
            let dia = (p.dia + drift * 0.5 + ctx.rng.normal(0.0, 5.0)).clamp(45.0, 130.0).min(sys - 20.0);
            ctx.bp(&when, sys.round(), dia.round(), None);
        }
        for week in 1..=8 {
            let back = week * 7 + ctx.rng.int(0, 3);
            let when = dt(plus_days(today, -back), 7, ctx.rng.int(0, 59));
            let q = quantity(weight + ctx.rng.normal(0.0, 0.6), 1, "kg", "kg");
            ctx.vital("bw", vec![coding(codes::LOINC, loinc::BODY_WEIGHT, "Body weight")], "体重", &when, q, None);
        }
    }

    // 特定健診.
    let mut last_labs: Option<Labs> = None;
    if ctx.rng.chance(if age >= 35 { 0.85 } else { 0.3 }) {
        let day = plus_days(today, -ctx.rng.int(14, 200));
        if ctx.rng.chance(0.6) {
            let previous = plus_days(day, -ctx.rng.int(350, 380));
            let mut earlier = AdultProfile { risk: (p.risk - 0.1).max(0.0), ..p };
            earlier.sys -= 3.0;
            let labs = draw_labs(&mut ctx.rng, &earlier, d.sex, age_on(d.birth, previous));
            checkup(ctx, previous, &earlier, weight - 0.8, &labs, d.sex);
        }
        let labs = draw_labs(&mut ctx.rng, &p, d.sex, age);
        checkup(ctx, day, &p, weight, &labs, d.sex);
        last_labs = Some(labs);
    }

    // Medication for people with high values, and a few others.
    let high_bp = p.sys >= 140.0;
    let (high_glucose, high_ldl) =
        last_labs.as_ref().map(|l| (l.hba1c >= 6.5 || l.glucose >= 126.0, l.ldl >= 160.0)).unwrap_or((false, false));
    let mut drugs: Vec<&'static Drug> = Vec::new();
    if !pregnant && ((high_bp && ctx.rng.chance(0.6)) || ctx.rng.chance(0.05)) {
        drugs.push(&ANTIHYPERTENSIVES[ctx.rng.index(ANTIHYPERTENSIVES.len())]);
    }
    if !pregnant && high_glucose && ctx.rng.chance(0.5) {
        drugs.push(&ANTIDIABETICS[ctx.rng.index(ANTIDIABETICS.len())]);
    }
    if !pregnant && ((high_ldl && ctx.rng.chance(0.5)) || ctx.rng.chance(0.03)) {
        drugs.push(&STATINS[ctx.rng.index(STATINS.len())]);
    }
    for drug in drugs {
        let first = ctx.rng.int(60, 110);
        let mut back = first;
        while back > 0 {
            dispense(ctx, drug, plus_days(today, -back));
            back -= 28;
        }
    }

    // B類 influenza for the elderly, last autumn.
    if age >= 65 && ctx.rng.chance(0.5) {
        let season = if today.month() >= 12 { today.year() } else { today.year() - 1 };
        if let Some(start) = NaiveDate::from_ymd_opt(season, 10, 15) {
            let day = plus_days(start, ctx.rng.int(0, 50));
            if day < today {
                ctx.immunization(RoutineVaccine::Influenza, day, 1);
            }
        }
    }
}

fn dispense(ctx: &mut Ctx, drug: &Drug, day: NaiveDate) {
    let id = ctx.id("md");
    let when = dt(day, ctx.rng.int(10, 17), ctx.rng.int(0, 59));
    ctx.out.push(json!({
        "resourceType": "MedicationDispense",
        "id": id,
        "meta": {"profile": [format!("{JP_CORE}JP_MedicationDispense")]},
        "status": "completed",
        "medicationCodeableConcept": {
            "coding": [coding(codes::YJ_OID, drug.yj, drug.name)],
            "text": drug.name,
        },
        "subject": ctx.subject(),
        "quantity": {"value": 28 * drug.per_day, "unit": "錠"},
        "daysSupply": {"value": 28, "unit": "日", "system": codes::UCUM, "code": "d"},
        "whenHandedOver": when,
        "dosageInstruction": [{"text": drug.dosage}],
    }));
}

struct Labs {
    glucose: f64,
    hba1c: f64,
    ldl: f64,
    hdl: f64,
    tg: f64,
    creatinine: f64,
    egfr: f64,
}

/// The JSN eGFR equation (日本腎臓学会, creatinine-based).
fn egfr(cr: f64, age: i32, sex: Sex) -> f64 {
    let f = if sex == Sex::Female { 0.739 } else { 1.0 };
    194.0 * cr.powf(-1.094) * f64::from(age.max(18)).powf(-0.287) * f
}

fn draw_labs(rng: &mut SplitMix64, p: &AdultProfile, sex: Sex, age: i32) -> Labs {
    let w = risk_weights(p.risk);
    let glucose = tiered(rng, w, &[(82.0, 100.0), (100.0, 126.0), (126.0, 170.0)]).round();
    let hba1c = round(tiered(rng, w, &[(4.9, 5.6), (5.6, 6.5), (6.5, 8.4)]), 1);
    let ldl = tiered(rng, w, &[(75.0, 120.0), (120.0, 140.0), (140.0, 210.0)]).round();
    let hdl = tiered(rng, w, &[(40.0, 85.0), (39.4, 35.0), (34.4, 26.0)]).round();
    let tg = tiered(rng, w, &[(45.0, 150.0), (150.0, 300.0), (300.0, 480.0)]).round();
    // eGFR declines with age; draw a target, then a creatinine giving it.
    let age_risk = (p.risk * 0.5 + f64::from((age - 40).max(0)) / 50.0 * 0.5).min(1.0);
    let egfr_w = [0.8 - 0.3 * age_risk, 0.15 + 0.2 * age_risk, 0.05 + 0.1 * age_risk];
    let target = tiered(rng, egfr_w, &[(60.0, 105.0), (59.9, 45.0), (44.4, 27.0)]);
    let f = if sex == Sex::Female { 0.739 } else { 1.0 };
    let cr = (target / (194.0 * f64::from(age.max(18)).powf(-0.287) * f)).powf(-1.0 / 1.094);
    let creatinine = round(cr.clamp(0.3, 4.0), 2);
    let egfr = round(egfr(creatinine, age, sex), 1);
    Labs { glucose, hba1c, ldl, hdl, tg, creatinine, egfr }
}

fn checkup(ctx: &mut Ctx, day: NaiveDate, p: &AdultProfile, weight: f64, labs: &Labs, sex: Sex) {
    let enc = ctx.encounter("enc", "特定健康診査", day, 9);
    let when = dt(day, 9, ctx.rng.int(10, 50));
    let tk = codes::TOKUTEI_KENSHIN_OID;
    let height = round(p.height, 1);
    let weight = round(weight + ctx.rng.normal(0.0, 0.4), 1);
    let bmi = weight / (height / 100.0).powi(2);
    ctx.vital(
        "ht",
        vec![coding(codes::LOINC, loinc::BODY_HEIGHT, "Body height"), coding(tk, "9N001000000000001", "身長")],
        "身長",
        &when,
        quantity(height, 1, "cm", "cm"),
        Some(&enc),
    );
    ctx.vital(
        "bw",
        vec![coding(codes::LOINC, loinc::BODY_WEIGHT, "Body weight"), coding(tk, "9N006000000000001", "体重")],
        "体重",
        &when,
        quantity(weight, 1, "kg", "kg"),
        Some(&enc),
    );
    ctx.vital(
        "bmi",
        vec![coding(codes::LOINC, loinc::BMI, "Body mass index (BMI) [Ratio]"), coding(tk, "9N011000000000001", "BMI")],
        "BMI",
        &when,
        quantity(bmi, 1, "kg/m2", "kg/m2"),
        Some(&enc),
    );
    let waist = if sex == Sex::Male { 2.9 * bmi + 15.0 } else { 2.8 * bmi + 20.0 } + ctx.rng.normal(0.0, 2.5);
    ctx.observation(
        "wc",
        "exam",
        vec![
            coding(codes::LOINC, "8280-0", "Waist Circumference at umbilicus by Tape measure"),
            coding(tk, "9N016160100000001", "腹囲(実測)"),
        ],
        "腹囲",
        &when,
        ("valueQuantity", quantity(waist, 1, "cm", "cm")),
        Some(&enc),
    );
    // Clinic blood pressure is a little higher than at home (白衣効果).
    let sys = (p.sys + 5.0 + ctx.rng.normal(0.0, 8.0)).round();
    let dia = (p.dia + 3.0 + ctx.rng.normal(0.0, 5.0)).round().min(sys - 20.0);
    for (kind, code, text, v) in
        [("sbp", "9A751000000000001", "収縮期血圧", sys), ("dbp", "9A761000000000001", "拡張期血圧", dia)]
    {
        ctx.observation(
            kind,
            "exam",
            vec![coding(tk, code, text)],
            text,
            &when,
            ("valueQuantity", quantity(v, 0, "mm[Hg]", "mmHg")),
            Some(&enc),
        );
    }
    let lab_items: [(&str, &str, &str, f64, u32, &str); 7] = [
        ("3D010000001926101", "空腹時血糖", "glu", labs.glucose, 0, "mg/dL"),
        ("3D046000001906202", "HbA1c(NGSP)", "a1c", labs.hba1c, 1, "%"),
        ("3F077000002327101", "LDLコレステロール", "ldl", labs.ldl, 0, "mg/dL"),
        ("3F070000002327101", "HDLコレステロール", "hdl", labs.hdl, 0, "mg/dL"),
        ("3F015000002327101", "中性脂肪", "tg", labs.tg, 0, "mg/dL"),
        ("3C015000002327101", "血清クレアチニン", "cre", labs.creatinine, 2, "mg/dL"),
        ("8A065000002391901", "eGFR", "egfr", labs.egfr, 1, "mL/min/{1.73_m2}"),
    ];
    let mut results = Vec::new();
    for (code, text, kind, v, decimals, unit) in lab_items {
        let display_unit = if unit == "mL/min/{1.73_m2}" { "mL/min/1.73m2" } else { unit };
        let id = ctx.observation(
            kind,
            "laboratory",
            vec![coding(codes::JLAC10_OID, code, text)],
            text,
            &when,
            ("valueQuantity", quantity(v, decimals, unit, display_unit)),
            Some(&enc),
        );
        results.push(json!({"reference": format!("Observation/{id}")}));
    }
    let id = ctx.id("dr");
    ctx.out.push(json!({
        "resourceType": "DiagnosticReport",
        "id": id,
        "status": "final",
        "category": [{"coding": [coding("http://terminology.hl7.org/CodeSystem/v2-0074", "LAB", "Laboratory")]}],
        "code": {"coding": [coding(codes::LOINC, "11502-2", "Laboratory report")], "text": "特定健康診査 血液検査結果"},
        "subject": ctx.subject(),
        "encounter": {"reference": format!("Encounter/{enc}")},
        "effectiveDateTime": when,
        "issued": dt(plus_days(day, 7), 12, 0),
        "result": results,
    }));
}

// ------------------------------------------------------------------ pregnancy

/// 妊婦健康診査 weeks (standard schedule).
const PRENATAL_WEEKS: &[i64] = &[8, 12, 16, 20, 24, 26, 28, 30, 32, 34, 36, 37, 38, 39];

fn pregnancy(ctx: &mut Ctx, lmp: NaiveDate) {
    let today = ctx.today;
    let id = ctx.id("cond");
    ctx.out.push(json!({
        "resourceType": "Condition",
        "id": id,
        "clinicalStatus": {"coding": [coding("http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active")]},
        "verificationStatus": {"coding": [coding("http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed", "Confirmed")]},
        "category": [{"coding": [coding("http://terminology.hl7.org/CodeSystem/condition-category", "problem-list-item", "Problem List Item")]}],
        "code": {"coding": [coding(SNOMED, SNOMED_PREGNANCY, "Pregnancy")], "text": "妊娠"},
        "subject": ctx.subject(),
        "onsetDateTime": ymd(lmp),
    }));
    let pre_weight = ctx.rng.normal(53.0, 6.0).clamp(40.0, 85.0);
    let base_sys = ctx.rng.normal(110.0, 8.0);
    let hypertensive = ctx.rng.chance(0.1);
    for &week in PRENATAL_WEEKS {
        let day = plus_days(lmp, week * 7 + ctx.rng.int(0, 3));
        if day >= today {
            break;
        }
        let ga = (day - lmp).num_days() as f64 / 7.0;
        let enc = ctx.encounter("enc", "妊婦健康診査", day, 10);
        let when = dt(day, 10, ctx.rng.int(5, 55));
        ctx.observation(
            "ga",
            "exam",
            vec![coding(codes::LOINC, "49051-6", "Gestational age in weeks")],
            "妊娠週数",
            &when,
            ("valueQuantity", quantity(ga.floor(), 0, "wk", "週")),
            Some(&enc),
        );
        let gain = if ga < 12.0 { 0.0 } else { (ga - 12.0) * 0.38 };
        let q = quantity(pre_weight + gain + ctx.rng.normal(0.0, 0.5), 1, "kg", "kg");
        ctx.vital("bw", vec![coding(codes::LOINC, loinc::BODY_WEIGHT, "Body weight")], "体重", &when, q, Some(&enc));
        let extra = if hypertensive && ga >= 20.0 { (ga - 18.0) * 1.8 } else { 0.0 };
        let sys = (base_sys + extra + ctx.rng.normal(0.0, 6.0)).round();
        let dia = (sys * 0.62 + ctx.rng.normal(0.0, 4.0)).round();
        ctx.bp(&when, sys, dia, Some(&enc));
        let protein = if hypertensive && ga >= 24.0 {
            ["±", "+", "2+"][ctx.rng.index(3)]
        } else if ctx.rng.chance(0.08) {
            "±"
        } else {
            "−"
        };
        let glucose = if ctx.rng.chance(0.05) { "+" } else { "−" };
        for (kind, code, display, text, v) in [
            ("up", "20454-5", "Protein [Presence] in Urine by Test strip", "尿蛋白", protein),
            ("ug", "25428-4", "Glucose [Presence] in Urine by Test strip", "尿糖", glucose),
        ] {
            ctx.observation(
                kind,
                "laboratory",
                vec![coding(codes::LOINC, code, display)],
                text,
                &when,
                ("valueCodeableConcept", json!({"text": v})),
                Some(&enc),
            );
        }
        if ga >= 16.0 {
            let fh = ga - 2.0 + ctx.rng.normal(0.0, 1.2);
            ctx.observation(
                "fh",
                "exam",
                vec![coding(codes::LOINC, "11881-0", "Uterus Fundal height by Tape measure")],
                "子宮底長",
                &when,
                ("valueQuantity", quantity(fh, 1, "cm", "cm")),
                Some(&enc),
            );
        }
    }
}

// ------------------------------------------------------------------ children

/// Japanese growth medians `(weight kg, height cm, head cm, chest cm)` for boys and girls.
struct Growth {
    label: &'static str,
    months: u32,
    window_days: i64,
    boy: (f64, f64, f64, f64),
    girl: (f64, f64, f64, f64),
}

const BIRTH: Growth = Growth {
    label: "出生時",
    months: 0,
    window_days: 0,
    boy: (3.05, 49.0, 33.5, 32.0),
    girl: (2.96, 48.5, 33.0, 31.6),
};

const CHECKUPS: &[Growth] = &[
    Growth {
        label: "3-4か月児健康診査",
        months: 3,
        window_days: 30,
        boy: (6.6, 62.0, 41.0, 41.5),
        girl: (6.1, 60.5, 40.0, 40.5),
    },
    Growth {
        label: "1歳6か月児健康診査",
        months: 18,
        window_days: 60,
        boy: (10.6, 81.0, 47.0, 48.0),
        girl: (10.0, 80.0, 46.0, 47.0),
    },
    Growth {
        label: "3歳児健康診査",
        months: 36,
        window_days: 150,
        boy: (14.1, 94.5, 49.5, 50.5),
        girl: (13.6, 93.5, 48.5, 49.5),
    },
];

fn child(ctx: &mut Ctx, d: &Demo) {
    let today = ctx.today;
    let z = ctx.rng.normal(0.0, 1.0).clamp(-2.5, 2.5);
    let size = |g: &Growth, rng: &mut SplitMix64| {
        let m = if d.sex == Sex::Male { g.boy } else { g.girl };
        let zz = z + rng.normal(0.0, 0.3);
        (m.0 * (1.0 + 0.11 * zz), m.1 * (1.0 + 0.035 * zz), m.2 * (1.0 + 0.03 * zz), m.3 * (1.0 + 0.035 * zz))
    };

    // Birth record.
    let (w, h, head, chest) = size(&BIRTH, &mut ctx.rng);
    let when = dt(d.birth, ctx.rng.int(0, 23), ctx.rng.int(0, 59));
    ctx.vital(
        "bw",
        vec![
            coding(codes::LOINC, loinc::BODY_WEIGHT, "Body weight"),
            coding(codes::LOINC, "8339-4", "Birth weight Measured"),
        ],
        "出生体重",
        &when,
        quantity(w * 1000.0, 0, "g", "g"),
        None,
    );
    ctx.vital(
        "ht",
        vec![
            coding(codes::LOINC, loinc::BODY_HEIGHT, "Body height"),
            coding(codes::LOINC, "89269-5", "Body height Measured --at birth"),
        ],
        "出生時身長",
        &when,
        quantity(h, 1, "cm", "cm"),
        None,
    );
    circumferences(ctx, &when, head, chest, None, BIRTH.label);

    for g in CHECKUPS {
        let day = plus_days(plus_months(d.birth, g.months), ctx.rng.int(0, g.window_days));
        if day >= today {
            continue;
        }
        let (w, h, head, chest) = size(g, &mut ctx.rng);
        let enc = ctx.encounter("enc", g.label, day, 13);
        let when = dt(day, 13, ctx.rng.int(10, 50));
        ctx.vital(
            "ht",
            vec![coding(codes::LOINC, loinc::BODY_HEIGHT, "Body height")],
            "身長",
            &when,
            quantity(h, 1, "cm", "cm"),
            Some(&enc),
        );
        ctx.vital(
            "bw",
            vec![coding(codes::LOINC, loinc::BODY_WEIGHT, "Body weight")],
            "体重",
            &when,
            quantity(w, 2, "kg", "kg"),
            Some(&enc),
        );
        circumferences(ctx, &when, head, chest, Some(&enc), g.label);
    }

    immunizations(ctx, d);
}

fn circumferences(ctx: &mut Ctx, when: &str, head: f64, chest: f64, enc: Option<&str>, label: &str) {
    ctx.vital(
        "hc",
        vec![coding(codes::LOINC, "9843-4", "Head Occipital-frontal circumference")],
        &format!("頭囲({label})"),
        when,
        quantity(head, 1, "cm", "cm"),
        enc,
    );
    ctx.vital(
        "cc",
        vec![coding(codes::LOINC, "8279-2", "Chest Circumference at nipple line")],
        &format!("胸囲({label})"),
        when,
        quantity(chest, 1, "cm", "cm"),
        enc,
    );
}

/// Records the doses due so far, in the standard window after a personal delay; with a
/// personal probability a series stops (so later doses become overdue or expire).
fn immunizations(ctx: &mut Ctx, d: &Demo) {
    let today = ctx.today;
    let opts = ScheduleOptions { sex: Some(d.sex), ..Default::default() };
    let (p_stop, max_delay) = match ctx.rng.weighted(&[0.35, 0.35, 0.2, 0.1]) {
        0 => (0.0, 14),
        1 => (0.04, 30),
        2 => (0.12, 60),
        _ => (0.35, 120),
    };
    let mut given: Vec<Value> = Vec::new();
    let mut stopped: Vec<RoutineVaccine> = Vec::new();
    // Each round records one dose or stops one series, so this ends.
    loop {
        let plan = schedule::schedule(d.birth, today, &given, &opts);
        let Some(next) = plan.iter().find(|s| s.given_on.is_none() && !stopped.contains(&s.vaccine)) else {
            break;
        };
        let mut day = plus_days(next.standard_from, ctx.rng.int(0, max_delay));
        if day >= next.funded_until {
            day = next.eligible_from;
        }
        if day >= today || day >= next.funded_until || ctx.rng.chance(p_stop) {
            stopped.push(next.vaccine);
            continue;
        }
        given.push(json!({
            "resourceType": "Immunization",
            "status": "completed",
            "vaccineCode": {"coding": [{"system": codes::JP_VACCINE, "code": next.vaccine.code()}]},
            "occurrenceDateTime": ymd(day),
        }));
        ctx.immunization(next.vaccine, day, next.dose_number);
    }
}

// ------------------------------------------------------------------ generate

fn patient(opts: &GenOptions, n: usize, d: &Demo) -> Value {
    let (family, family_kana) = FAMILY_NAMES[d.family % FAMILY_NAMES.len()];
    let (given, given_kana) = d.given;
    let muni = &MUNICIPALITIES[d.muni % MUNICIPALITIES.len()];
    let subject = subject_uri(opts, n);
    let mut address = json!({
        "extension": [{"url": MUNICIPALITY_CODE_EXTENSION, "valueCode": muni.code}],
        "use": "home",
        "type": "both",
        "text": format!("群馬県{}{}", muni.name, d.line),
        "line": [d.line],
        "city": muni.name,
        "state": "群馬県",
        "postalCode": d.postal,
        "country": "JP",
    });
    if let Some(district) = muni.district {
        address["district"] = json!(district);
        address["text"] = json!(format!("群馬県{district}{}{}", muni.name, d.line));
    }
    let mut p = json!({
        "resourceType": "Patient",
        "id": format!("{}-p{n}", opts.id_prefix),
        "meta": {"profile": [format!("{JP_CORE}JP_Patient")]},
        "identifier": [{"system": DATA_SUBJECT_SYSTEM, "value": subject}],
        "active": true,
        "name": [
            {
                "extension": [{"url": EN_REPRESENTATION, "valueCode": "IDE"}],
                "use": "official",
                "text": format!("{family} {given}"),
                "family": family,
                "given": [given],
            },
            {
                "extension": [{"url": EN_REPRESENTATION, "valueCode": "SYL"}],
                "use": "official",
                "text": format!("{family_kana} {given_kana}"),
                "family": family_kana,
                "given": [given_kana],
            },
        ],
        "gender": if d.sex == Sex::Male { "male" } else { "female" },
        "birthDate": ymd(d.birth),
        "address": [address],
    });
    if d.email {
        p["telecom"] =
            json!([{"system": "email", "value": format!("{}-p{n}@example.com", opts.id_prefix), "use": "home"}]);
    }
    p
}

fn subject_uri(opts: &GenOptions, n: usize) -> String {
    format!("urn:ngsi-ld:Person:{}-{n}", opts.id_prefix)
}

/// Generates `opts.people` people (adults first, then children), deterministically for
/// `opts.seed`. Person `n` (1-based) has subject `urn:ngsi-ld:Person:<prefix>-<n>` and
/// Patient id `<prefix>-p<n>`.
pub fn generate(opts: &GenOptions) -> Vec<Person> {
    let demos = demographics(opts);
    demos
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let n = i + 1;
            let pid = format!("{}-p{n}", opts.id_prefix);
            let mut ctx = Ctx {
                pid,
                seq: 0,
                rng: SplitMix64::new(sub_seed(opts.seed, n as u64)),
                today: opts.today,
                out: Vec::new(),
            };
            match d.role {
                Role::Adult => adult(&mut ctx, d, false),
                Role::Pregnant(lmp) => {
                    adult(&mut ctx, d, true);
                    pregnancy(&mut ctx, lmp);
                }
                Role::Child => child(&mut ctx, d),
            }
            Person {
                subject: subject_uri(opts, n),
                patient: patient(opts, n, d),
                resources: ctx.out,
                guardian_of: d.guardian_of.iter().map(|c| subject_uri(opts, c + 1)).collect(),
                birth_date: d.birth,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::DoseStatus;
    use crate::thresholds::{self, Recommendation, Thresholds};
    use crate::validate::validate_resource;
    use std::collections::{BTreeMap, BTreeSet};

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 5, 1).expect("date")
    }

    fn gen(seed: u64, people: usize) -> Vec<Person> {
        generate(&GenOptions::new(seed, people, today()))
    }

    fn all(people: &[Person]) -> impl Iterator<Item = &Value> {
        people.iter().flat_map(|p| std::iter::once(&p.patient).chain(p.resources.iter()))
    }

    fn code_of(r: &Value) -> Option<&str> {
        r["code"]["coding"][0]["code"].as_str()
    }

    #[test]
    fn every_resource_validates() {
        for seed in [1, 2, 42, 2026] {
            let people = gen(seed, 200);
            assert_eq!(people.len(), 200);
            let mut warned = BTreeSet::new();
            let mut count = 0;
            for r in all(&people) {
                count += 1;
                match validate_resource(r) {
                    Ok(warnings) => {
                        for w in warnings {
                            warned.insert(format!("{} {}", code_of(r).unwrap_or("-"), w.expression.join(",")));
                        }
                    }
                    Err(e) => panic!("seed {seed}: {r}\n{}", e.to_json()),
                }
            }
            assert!(count > 5_000, "{count}");
            // Only the circumferences Kizuna does not evaluate warn.
            for w in &warned {
                assert!(w.starts_with("9843-4 ") || w.starts_with("8279-2 "), "{w}");
            }
        }
    }

    #[test]
    fn deterministic_per_seed() {
        assert_eq!(gen(7, 60), gen(7, 60));
        assert_ne!(gen(7, 60), gen(8, 60));
        assert!(gen(7, 0).is_empty());
        let one = gen(7, 1);
        assert_eq!(one.len(), 1);
        assert!(age_on(one[0].birth_date, today()) >= 20);
    }

    #[test]
    fn ids_subjects_and_references() {
        let opts = GenOptions { id_prefix: "t".into(), ..GenOptions::new(3, 150, today()) };
        let people = generate(&opts);
        let mut ids = BTreeSet::new();
        for (i, p) in people.iter().enumerate() {
            let n = i + 1;
            assert_eq!(p.subject, format!("urn:ngsi-ld:Person:t-{n}"));
            assert_eq!(p.patient_id(), format!("t-p{n}"));
            assert_eq!(p.patient["identifier"][0]["system"], DATA_SUBJECT_SYSTEM);
            assert_eq!(p.patient["identifier"][0]["value"], p.subject.as_str());
            assert_eq!(p.patient["birthDate"], ymd(p.birth_date));
            assert_eq!(p.patient["name"][0]["extension"][0]["valueCode"], "IDE");
            assert_eq!(p.patient["name"][1]["extension"][0]["valueCode"], "SYL");
            assert_eq!(p.patient["address"][0]["state"], "群馬県");
            let want = json!({"reference": format!("Patient/t-p{n}")});
            for r in all(std::slice::from_ref(p)) {
                let id = r["id"].as_str().expect("id");
                assert!(ids.insert((r["resourceType"].as_str().unwrap_or("").to_owned(), id.to_owned())), "{id}");
                if r["resourceType"] != "Patient" {
                    let link = if r["resourceType"] == "Immunization" { &r["patient"] } else { &r["subject"] };
                    assert_eq!(link, &want);
                }
                // no record after the generation date
                for key in ["effectiveDateTime", "occurrenceDateTime", "whenHandedOver"] {
                    if let Some(s) = r[key].as_str() {
                        assert!(s < "2026-05-01", "{s}");
                    }
                }
            }
            // Encounter and DiagnosticReport references resolve within the person.
            let own: BTreeSet<String> = p
                .resources
                .iter()
                .map(|r| format!("{}/{}", r["resourceType"].as_str().unwrap_or(""), r["id"].as_str().unwrap_or("")))
                .collect();
            for r in &p.resources {
                if let Some(e) = r["encounter"]["reference"].as_str() {
                    assert!(own.contains(e), "{e}");
                }
                for x in r["result"].as_array().into_iter().flatten() {
                    assert!(own.contains(x["reference"].as_str().unwrap_or("")));
                }
            }
        }
    }

    #[test]
    fn ages_guardians_and_children() {
        for seed in [11, 12, 13, 14, 15] {
            guardians_for(seed);
        }
    }

    fn guardians_for(seed: u64) {
        let people = gen(seed, 200);
        let by_subject: BTreeMap<&str, &Person> = people.iter().map(|p| (p.subject.as_str(), p)).collect();
        let mut guarded = BTreeMap::new();
        for g in &people {
            for c in &g.guardian_of {
                *guarded.entry(c.as_str()).or_insert(0) += 1;
                let child = by_subject[c.as_str()];
                assert!(age_on(g.birth_date, child.birth_date) >= 20, "guardian too young");
                assert_eq!(child.patient["name"][0]["family"], g.patient["name"][0]["family"]);
                assert_eq!(child.patient["address"], g.patient["address"]);
                assert!(g.guardian_of.iter().all(|x| x != &g.subject));
            }
        }
        let mut children = 0;
        for p in &people {
            let age = age_on(p.birth_date, today());
            if guarded.contains_key(p.subject.as_str()) {
                children += 1;
                assert!((0..=12).contains(&age), "{age}");
                assert!(p.guardian_of.is_empty());
            } else {
                assert!((20..=89).contains(&age), "{age}");
            }
        }
        assert_eq!(children, 40);
        assert!(guarded.values().all(|n| *n == 1));
    }

    #[test]
    fn municipality_codes_have_valid_check_digits() {
        let check = |code5: &str| {
            let sum: u32 = code5.bytes().zip([6u32, 5, 4, 3, 2]).map(|(d, w)| u32::from(d - b'0') * w).sum();
            (11 - sum % 11) % 10
        };
        for m in MUNICIPALITIES {
            assert_eq!(m.code.len(), 6);
            assert_eq!(u32::from(m.code.as_bytes()[5] - b'0'), check(&m.code[..5]), "{}", m.name);
            assert!(m.code.starts_with("10"));
            assert!(m.postal.len() >= 3 && m.postal.len() < 7);
        }
        assert_eq!(check("10201"), 6);
        for p in gen(5, 100) {
            let a = &p.patient["address"][0];
            let code = a["extension"][0]["valueCode"].as_str().expect("code");
            let m = MUNICIPALITIES.iter().find(|m| m.code == code).expect("known");
            assert_eq!(a["city"], m.name);
            let postal = a["postalCode"].as_str().expect("postal");
            assert_eq!(postal.len(), 8);
            assert!(postal.replace('-', "").starts_with(m.postal), "{postal}");
            assert!(a["text"].as_str().expect("text").starts_with("群馬県"));
        }
    }

    #[test]
    fn values_cross_the_threshold_tiers() {
        let table = Thresholds::default();
        let mut recs: BTreeMap<String, Vec<Recommendation>> = BTreeMap::new();
        for p in gen(21, 200) {
            for r in &p.resources {
                for a in thresholds::assess_all(r, &table) {
                    recs.entry(a.item).or_default().push(a.recommendation);
                }
            }
        }
        for item in [
            "home-bp-systolic",
            "kenshin-bp-systolic",
            "fasting-glucose",
            "hba1c",
            "ldl-c",
            "hdl-c",
            "triglycerides",
            "egfr",
        ] {
            let v = recs.get(item).unwrap_or_else(|| panic!("no {item}"));
            let share = |f: &dyn Fn(&Recommendation) -> bool| v.iter().filter(|r| f(r)).count() as f64 / v.len() as f64;
            let normal = share(&|r| *r <= Recommendation::Information);
            let guidance = share(&|r| *r == Recommendation::HealthGuidance);
            let visit = share(&|r| *r >= Recommendation::RecommendVisit);
            assert!(v.len() >= 50, "{item}: {}", v.len());
            assert!(normal >= 0.15 && guidance >= 0.1 && visit >= 0.08, "{item}: {normal} {guidance} {visit}");
        }
    }

    #[test]
    fn pregnancies_and_infant_records() {
        let people = gen(13, 200);
        let pregnant: Vec<&Person> = people
            .iter()
            .filter(|p| p.resources.iter().any(|r| r["code"]["coding"][0]["code"] == SNOMED_PREGNANCY))
            .collect();
        assert!(!pregnant.is_empty());
        for p in &pregnant {
            assert_eq!(p.patient["gender"], "female");
            assert!((20..=44).contains(&age_on(p.birth_date, today())));
            let codes: BTreeSet<&str> = p.resources.iter().filter_map(code_of).collect();
            for c in ["49051-6", "20454-5", "25428-4", "85354-9"] {
                assert!(codes.contains(c), "{c}");
            }
            assert!(!p.resources.iter().any(|r| r["resourceType"] == "MedicationDispense"));
        }
        let children: Vec<&Person> = people.iter().filter(|p| age_on(p.birth_date, today()) <= 12).collect();
        let (mut overdue, mut up_to_date, mut three_year) = (0, 0, 0);
        for c in &children {
            let codes: Vec<&str> = c.resources.iter().filter_map(code_of).collect();
            assert!(codes.contains(&"8339-4") || codes.contains(&loinc::BODY_WEIGHT));
            assert!(c.resources.iter().any(|r| r["code"]["coding"][1]["code"] == "8339-4"));
            if c.resources.iter().any(|r| r["code"]["text"] == "頭囲(3歳児健康診査)") {
                three_year += 1;
            }
            let imms: Vec<Value> =
                c.resources.iter().filter(|r| r["resourceType"] == "Immunization").cloned().collect();
            let sex = if c.patient["gender"] == "male" { Sex::Male } else { Sex::Female };
            let plan = schedule::schedule(
                c.birth_date,
                today(),
                &imms,
                &ScheduleOptions { sex: Some(sex), ..Default::default() },
            );
            // every recorded dose fills a scheduled slot
            assert_eq!(plan.iter().filter(|d| d.status == DoseStatus::Done).count(), imms.len());
            if plan.iter().any(|d| matches!(d.status, DoseStatus::Overdue | DoseStatus::Expired)) {
                overdue += 1;
            } else {
                up_to_date += 1;
            }
        }
        assert!(overdue > 0 && up_to_date > 0, "{overdue} {up_to_date}");
        assert!(three_year > 0);
    }

    #[test]
    fn prng_is_stable() {
        // SplitMix64 reference outputs for seed 0.
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        let mut r = SplitMix64::new(9);
        for _ in 0..1000 {
            let x = r.int(3, 5);
            assert!((3..=5).contains(&x));
            let u = r.unit();
            assert!((0.0..1.0).contains(&u));
        }
        assert_eq!(r.weighted(&[0.0, 1.0, 0.0]), 1);
    }
}
