//! The lifestyle-disease settings table (生活習慣病重症化予防): items with normal ranges and
//! risk tiers, and [`assess`] to place an Observation in a tier.
//!
//! The table is plain serde data so each tenant can edit it as JSON; [`Thresholds::default`]
//! ships these documented defaults:
//!
//! | item | tiers (lower bound inclusive) | source |
//! |---|---|---|
//! | 家庭血圧 (self-measured, LOINC 85354-9 / 8480-6 / 8462-4) | 正常血圧 <115/<75; 正常高値血圧 115–124/<75; 高値血圧 125–134/75–84; I度高血圧 135–144/85–89; II度 145–159/90–99; III度 ≥160/≥100 | 日本高血圧学会 高血圧治療ガイドライン2019 (JSH2019) 表2-5「成人における血圧値の分類」, 家庭血圧の欄 |
//! | 健診血圧 (特定健診 9A75x/9A76x, LOINC) | 基準範囲 <130/<85; 保健指導判定値 ≥130/≥85; 受診勧奨判定値 ≥140/≥90; ≥160/≥100 すぐに受診 | 厚生労働省 標準的な健診・保健指導プログラム(令和6年度版) 第2編 別紙5「保健指導判定値及び受診勧奨判定値」 |
//! | 空腹時血糖 (JLAC10 3D010 0000, LOINC 1558-6) | <100 正常; 100–109 正常高値 (保健指導); 110–125 境界型 (保健指導); ≥126 糖尿病型 (受診勧奨) | 同プログラム (100/126); 日本糖尿病学会 糖尿病診療ガイドライン2024 (空腹時血糖の判定区分 110/126, 正常高値 100) |
//! | HbA1c (NGSP, JLAC10 3D046, LOINC 4548-4) | <5.6 正常; 5.6–5.9 保健指導; 6.0–6.4 境界域 (保健指導); ≥6.5 糖尿病型 (受診勧奨) | 同プログラム (5.6/6.5); 日本糖尿病学会 (6.0–6.4「糖尿病の可能性を否定できない」, ≥6.5 糖尿病型) |
//! | LDL-C (JLAC10 3F077, LOINC 13457-7 / 18262-6) | <120 正常; 120–139 境界域 (保健指導); ≥140 高LDL-C血症 (受診勧奨) | 同プログラム (120/140); 日本動脈硬化学会 動脈硬化性疾患予防ガイドライン2022年版 脂質異常症診断基準 |
//! | HDL-C (JLAC10 3F070, LOINC 2085-9) | ≥40 正常; <40 低HDL-C血症 (保健指導); <35 (≤34) 受診勧奨 | 同プログラム (39以下/34以下); JAS 2022 (<40) |
//! | 中性脂肪 (空腹時, JLAC10 3F015, LOINC 2571-8) | <150 正常; 150–299 保健指導; ≥300 受診勧奨 | 同プログラム (150/300); JAS 2022 (空腹時 ≥150; 随時は ≥175) |
//! | eGFR (JLAC10 8A065, LOINC 33914-3 / 62238-1 / 98979-8) | G1 ≥90; G2 60–89; G3a 45–59 (保健指導); G3b 30–44, G4 15–29 (受診勧奨); G5 <15 (すぐに受診) | KDIGO 2012 / 日本腎臓学会 エビデンスに基づくCKD診療ガイドライン (GFR区分); 同プログラム (60未満 保健指導, 45未満 受診勧奨) |
//!
//! The 特定健診 values were checked against the 令和6年度版 プログラムの判定値 as reproduced by
//! insurers (e.g. HDL 保健指導 39以下 / 受診勧奨 34以下, eGFR 60未満 / 45未満); the program
//! itself is at <https://www.mhlw.go.jp/stf/newpage_31652.html>. The guideline tiers were
//! checked (2026-11) against published reproductions of the tables — JSH2019's
//! classification of home blood pressure (5 mmHg below the office values: I度 135–144/85–89,
//! II度 145–159/90–99, III度 ≥160/≥100), JAS 2022's screening criteria (LDL-C ≥140 and
//! 120–139 境界域, HDL-C <40, TG ≥150 fasting / ≥175 non-fasting) — not against the
//! societies' own PDFs, which could not be read from here; JDS's 判定区分 (fasting glucose
//! 110/126, 正常高値 100–109; HbA1c ≥6.5) are as the 特定健診 program cites them.
//!
//! Matching: an item matches an Observation whose `code` has one of the item's codings; a
//! coding rule with a `prefix` matches JLAC10 codes by their leading characters (analyte 5 +
//! identification 4), and a JLAC10 rule matches every spelling of the JLAC10 system
//! ([`codes::is_jlac10_system`]). Items with a `component` read their value from the matching
//! component (the BP panel). The value's UCUM code must equal the item's `unit`, otherwise
//! the observation is not assessed (no silent unit conversion).

use crate::codes::{self, loinc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What the person (and, with consent, the insurer) is advised to do. Ordered from least to
/// most urgent; serialised with the terms of the 特定健診 program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Recommendation {
    /// Within the normal range.
    #[serde(rename = "なし")]
    None,
    /// 情報提供: information on lifestyle only.
    #[serde(rename = "情報提供")]
    Information,
    /// 保健指導: at or above the 保健指導判定値.
    #[serde(rename = "保健指導")]
    HealthGuidance,
    /// 受診勧奨: at or above the 受診勧奨判定値, a doctor visit is recommended.
    #[serde(rename = "受診勧奨")]
    RecommendVisit,
    /// すぐに受診: a doctor visit without delay.
    #[serde(rename = "すぐに受診")]
    UrgentVisit,
}

impl Recommendation {
    /// The Japanese term.
    pub fn ja(self) -> &'static str {
        match self {
            Self::None => "なし",
            Self::Information => "情報提供",
            Self::HealthGuidance => "保健指導",
            Self::RecommendVisit => "受診勧奨",
            Self::UrgentVisit => "すぐに受診",
        }
    }
}

/// A coding rule: `system` and either an exact `code` or a code `prefix`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodeRule {
    pub system: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

impl CodeRule {
    fn exact(system: &str, code: &str) -> Self {
        Self { system: system.into(), code: Some(code.into()), prefix: None }
    }

    fn jlac10(prefix: &str) -> Self {
        Self { system: codes::JLAC10_OID.into(), code: None, prefix: Some(prefix.into()) }
    }

    /// Whether a `(system, code)` coding matches.
    pub fn matches(&self, system: &str, code: &str) -> bool {
        let system_ok =
            system == self.system || (codes::is_jlac10_system(&self.system) && codes::is_jlac10_system(system));
        system_ok
            && self.code.as_deref().is_none_or(|c| c == code)
            && self.prefix.as_deref().is_none_or(|p| code.starts_with(p))
    }
}

/// One tier: applies when `at_least <= value < below` (a missing bound is open).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tier {
    /// Name of the tier (e.g. `正常高値血圧`, `G3a`).
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_least: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub below: Option<f64>,
    pub recommendation: Recommendation,
    /// Whether reaching this tier alerts the person (and feeds the insurer's worklist when
    /// the recommendation is 受診勧奨 or more and the person consented).
    pub alert: bool,
}

impl Tier {
    fn contains(&self, v: f64) -> bool {
        self.at_least.is_none_or(|a| v >= a) && self.below.is_none_or(|b| v < b)
    }
}

/// One item of the table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// Stable id (`home-bp-systolic`, `hba1c`...).
    pub id: String,
    /// Display name in Japanese.
    pub name: String,
    /// Observation codes the item applies to.
    pub codes: Vec<CodeRule>,
    /// When set, the value is read from the component with this code (or from the
    /// observation itself if its own code matches this rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<CodeRule>,
    /// The UCUM code the thresholds are expressed in.
    pub unit: String,
    /// Tiers from the most favourable to the least; the first containing the value wins.
    pub tiers: Vec<Tier>,
    /// Where the numbers come from.
    pub source: String,
}

/// The settings table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Free-form version label of the table (shown with every assessment).
    pub version: String,
    pub items: Vec<Item>,
}

/// Why a table is unusable.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TableError {
    #[error("duplicate item id {0}")]
    DuplicateId(String),
    #[error("item {0} has no codes")]
    NoCodes(String),
    #[error("item {0} has no tiers")]
    NoTiers(String),
    #[error("item {0}, tier {1}: at_least must be below `below`")]
    EmptyTier(String, String),
    #[error("item {0}: tiers {1} and {2} overlap")]
    Overlap(String, String, String),
    #[error("item {0}: value {1} falls in no tier")]
    Gap(String, f64),
}

/// The result of assessing an Observation against one item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assessment {
    /// The item id.
    pub item: String,
    pub item_name: String,
    pub value: f64,
    pub unit: String,
    /// The tier name.
    pub tier: String,
    /// The tier's position (0 = most favourable).
    pub tier_index: usize,
    /// True when the tier is an alerting tier.
    pub crossed: bool,
    pub recommendation: Recommendation,
    pub source: String,
}

impl Thresholds {
    /// Checks the table: unique ids, codes and tiers present, tiers non-empty, not
    /// overlapping and without gaps (probed at every bound).
    pub fn check(&self) -> Result<(), TableError> {
        let mut ids = std::collections::HashSet::new();
        for item in &self.items {
            if !ids.insert(item.id.as_str()) {
                return Err(TableError::DuplicateId(item.id.clone()));
            }
            if item.codes.is_empty() {
                return Err(TableError::NoCodes(item.id.clone()));
            }
            if item.tiers.is_empty() {
                return Err(TableError::NoTiers(item.id.clone()));
            }
            let mut probes = Vec::new();
            for t in &item.tiers {
                if let (Some(a), Some(b)) = (t.at_least, t.below) {
                    if a >= b {
                        return Err(TableError::EmptyTier(item.id.clone(), t.name.clone()));
                    }
                }
                probes.extend(t.at_least);
                probes.extend(t.below);
            }
            let extra: Vec<f64> = probes.iter().map(|p| p - 1e-6).collect();
            probes.extend(extra);
            for v in probes {
                let hits: Vec<&Tier> = item.tiers.iter().filter(|t| t.contains(v)).collect();
                match hits.as_slice() {
                    [] => return Err(TableError::Gap(item.id.clone(), v)),
                    [_] => {}
                    [a, b, ..] => return Err(TableError::Overlap(item.id.clone(), a.name.clone(), b.name.clone())),
                }
            }
        }
        Ok(())
    }

    /// Parses a table from JSON and checks it.
    pub fn from_json(v: &Value) -> Result<Self, String> {
        let t: Self = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
        t.check().map_err(|e| e.to_string())?;
        Ok(t)
    }

    pub fn item(&self, id: &str) -> Option<&Item> {
        self.items.iter().find(|i| i.id == id)
    }
}

fn tier(name: &str, at_least: Option<f64>, below: Option<f64>, recommendation: Recommendation) -> Tier {
    Tier { name: name.into(), at_least, below, recommendation, alert: recommendation >= Recommendation::HealthGuidance }
}

/// Tiers for "higher is worse" from consecutive lower bounds.
fn rising(steps: &[(&str, Recommendation)], bounds: &[f64]) -> Vec<Tier> {
    steps
        .iter()
        .enumerate()
        .map(|(i, (name, r))| {
            let lo = if i == 0 { None } else { Some(bounds[i - 1]) };
            let hi = bounds.get(i).copied();
            tier(name, lo, hi, *r)
        })
        .collect()
}

/// Tiers for "lower is worse" from consecutive upper bounds (given best first).
fn falling(steps: &[(&str, Recommendation)], bounds: &[f64]) -> Vec<Tier> {
    steps
        .iter()
        .enumerate()
        .map(|(i, (name, r))| {
            let lo = bounds.get(i).copied();
            let hi = if i == 0 { None } else { Some(bounds[i - 1]) };
            tier(name, lo, hi, *r)
        })
        .collect()
}

const JSH2019: &str = "日本高血圧学会 高血圧治療ガイドライン2019 表2-5 成人における血圧値の分類 (家庭血圧)";
const PROGRAM: &str = "厚生労働省 標準的な健診・保健指導プログラム(令和6年度版) 保健指導判定値・受診勧奨判定値 https://www.mhlw.go.jp/stf/newpage_31652.html";

impl Default for Thresholds {
    fn default() -> Self {
        use Recommendation::*;
        let l = |c: &str| CodeRule::exact(codes::LOINC, c);
        let home_bp = [
            ("正常血圧", None),
            ("正常高値血圧", Information),
            ("高値血圧", HealthGuidance),
            ("I度高血圧", RecommendVisit),
            ("II度高血圧", RecommendVisit),
            ("III度高血圧", UrgentVisit),
        ];
        let kenshin_bp = [
            ("基準範囲", None),
            ("保健指導判定値", HealthGuidance),
            ("受診勧奨判定値", RecommendVisit),
            ("受診勧奨判定値(すぐに受診)", UrgentVisit),
        ];
        let items = vec![
            Item {
                id: "home-bp-systolic".into(),
                name: "家庭血圧(収縮期)".into(),
                codes: vec![l(loinc::BP_PANEL), l(loinc::SYSTOLIC)],
                component: Some(l(loinc::SYSTOLIC)),
                unit: "mm[Hg]".into(),
                // JSH2019 home: 正常 <115, 正常高値 115-124, 高値 125-134, I度 135-144, II度 145-159, III度 ≥160
                tiers: rising(&home_bp, &[115.0, 125.0, 135.0, 145.0, 160.0]),
                source: JSH2019.into(),
            },
            Item {
                id: "home-bp-diastolic".into(),
                name: "家庭血圧(拡張期)".into(),
                codes: vec![l(loinc::BP_PANEL), l(loinc::DIASTOLIC)],
                component: Some(l(loinc::DIASTOLIC)),
                unit: "mm[Hg]".into(),
                // 正常 and 正常高値 share <75; so 正常高値 is empty on the diastolic side.
                tiers: vec![
                    tier("正常血圧", Option::None, Some(75.0), None),
                    tier("高値血圧", Some(75.0), Some(85.0), HealthGuidance),
                    tier("I度高血圧", Some(85.0), Some(90.0), RecommendVisit),
                    tier("II度高血圧", Some(90.0), Some(100.0), RecommendVisit),
                    tier("III度高血圧", Some(100.0), Option::None, UrgentVisit),
                ],
                source: JSH2019.into(),
            },
            Item {
                id: "kenshin-bp-systolic".into(),
                name: "健診 収縮期血圧".into(),
                codes: vec![CodeRule::jlac10("9A75")],
                component: Option::None,
                unit: "mm[Hg]".into(),
                tiers: rising(&kenshin_bp, &[130.0, 140.0, 160.0]),
                source: PROGRAM.into(),
            },
            Item {
                id: "kenshin-bp-diastolic".into(),
                name: "健診 拡張期血圧".into(),
                codes: vec![CodeRule::jlac10("9A76")],
                component: Option::None,
                unit: "mm[Hg]".into(),
                tiers: rising(&kenshin_bp, &[85.0, 90.0, 100.0]),
                source: PROGRAM.into(),
            },
            Item {
                id: "fasting-glucose".into(),
                name: "空腹時血糖".into(),
                codes: vec![CodeRule::jlac10("3D0100000"), l(loinc::GLUCOSE_FASTING)],
                component: Option::None,
                unit: "mg/dL".into(),
                tiers: rising(
                    &[
                        ("正常域", None),
                        ("正常高値", HealthGuidance),
                        ("境界型", HealthGuidance),
                        ("糖尿病型", RecommendVisit),
                    ],
                    &[100.0, 110.0, 126.0],
                ),
                source: format!("{PROGRAM}; 日本糖尿病学会 糖尿病診療ガイドライン2024 空腹時血糖の判定区分"),
            },
            Item {
                id: "hba1c".into(),
                name: "HbA1c(NGSP)".into(),
                codes: vec![CodeRule::jlac10("3D046"), l(loinc::HBA1C)],
                component: Option::None,
                unit: "%".into(),
                tiers: rising(
                    &[
                        ("正常域", None),
                        ("正常高値", HealthGuidance),
                        ("境界域", HealthGuidance),
                        ("糖尿病型", RecommendVisit),
                    ],
                    &[5.6, 6.0, 6.5],
                ),
                source: format!("{PROGRAM}; 日本糖尿病学会 (HbA1c 6.0-6.4% 境界域, 6.5%以上 糖尿病型)"),
            },
            Item {
                id: "ldl-c".into(),
                name: "LDLコレステロール".into(),
                codes: vec![CodeRule::jlac10("3F077"), l("13457-7"), l("18262-6")],
                component: Option::None,
                unit: "mg/dL".into(),
                tiers: rising(
                    &[("基準範囲", None), ("境界域高LDL-C血症", HealthGuidance), ("高LDL-C血症", RecommendVisit)],
                    &[120.0, 140.0],
                ),
                source: format!(
                    "{PROGRAM}; 日本動脈硬化学会 動脈硬化性疾患予防ガイドライン2022年版 脂質異常症診断基準"
                ),
            },
            Item {
                id: "hdl-c".into(),
                name: "HDLコレステロール".into(),
                codes: vec![CodeRule::jlac10("3F070"), l("2085-9")],
                component: Option::None,
                unit: "mg/dL".into(),
                tiers: falling(
                    &[("基準範囲", None), ("低HDL-C血症", HealthGuidance), ("受診勧奨判定値", RecommendVisit)],
                    &[40.0, 35.0],
                ),
                source: format!("{PROGRAM}; 日本動脈硬化学会 動脈硬化性疾患予防ガイドライン2022年版"),
            },
            Item {
                id: "triglycerides".into(),
                name: "中性脂肪(空腹時)".into(),
                codes: vec![CodeRule::jlac10("3F015"), l("2571-8")],
                component: Option::None,
                unit: "mg/dL".into(),
                tiers: rising(
                    &[
                        ("基準範囲", None),
                        ("高トリグリセライド血症", HealthGuidance),
                        ("受診勧奨判定値", RecommendVisit),
                    ],
                    &[150.0, 300.0],
                ),
                source: format!(
                    "{PROGRAM}; 日本動脈硬化学会 動脈硬化性疾患予防ガイドライン2022年版 (空腹時 150, 随時 175)"
                ),
            },
            Item {
                id: "egfr".into(),
                name: "eGFR".into(),
                codes: vec![CodeRule::jlac10("8A065"), l("33914-3"), l("62238-1"), l("98979-8")],
                component: Option::None,
                unit: "mL/min/{1.73_m2}".into(),
                tiers: falling(
                    &[
                        ("G1", None),
                        ("G2", None),
                        ("G3a", HealthGuidance),
                        ("G3b", RecommendVisit),
                        ("G4", RecommendVisit),
                        ("G5", UrgentVisit),
                    ],
                    &[90.0, 60.0, 45.0, 30.0, 15.0],
                ),
                source: format!("KDIGO 2012 / 日本腎臓学会 エビデンスに基づくCKD診療ガイドライン GFR区分; {PROGRAM}"),
            },
        ];
        Self { version: "kizuna-default-2026".into(), items }
    }
}

/// `(system, code)` of each coding of a CodeableConcept.
fn codings(cc: Option<&Value>) -> Vec<(&str, &str)> {
    cc.and_then(|c| c.get("coding"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|c| Some((c.get("system")?.as_str()?, c.get("code")?.as_str()?))).collect())
        .unwrap_or_default()
}

/// `(value, UCUM code)` of a `valueQuantity` (the code must be in UCUM).
fn quantity(o: &Value) -> Option<(f64, &str)> {
    let q = o.get("valueQuantity")?;
    if q.get("system").and_then(Value::as_str) != Some(codes::UCUM) {
        return None;
    }
    Some((q.get("value")?.as_f64()?, q.get("code")?.as_str()?))
}

fn assess_item(obs: &Value, item: &Item) -> Option<Assessment> {
    let own = codings(obs.get("code"));
    if !own.iter().any(|(s, c)| item.codes.iter().any(|r| r.matches(s, c))) {
        return None;
    }
    let (value, unit) = match &item.component {
        Some(rule) if !own.iter().any(|(s, c)| rule.matches(s, c)) => {
            let comp = obs
                .get("component")
                .and_then(Value::as_array)?
                .iter()
                .find(|c| codings(c.get("code")).iter().any(|(s, k)| rule.matches(s, k)))?;
            quantity(comp)?
        }
        _ => quantity(obs)?,
    };
    if unit != item.unit {
        return None;
    }
    let (i, t) = item.tiers.iter().enumerate().find(|(_, t)| t.contains(value))?;
    Some(Assessment {
        item: item.id.clone(),
        item_name: item.name.clone(),
        value,
        unit: unit.to_owned(),
        tier: t.name.clone(),
        tier_index: i,
        crossed: t.alert,
        recommendation: t.recommendation,
        source: item.source.clone(),
    })
}

/// Every item an Observation falls under (a BP panel gives a systolic and a diastolic
/// assessment). Observations with status `entered-in-error`, `cancelled` or `preliminary`
/// are not assessed.
pub fn assess_all(observation: &Value, table: &Thresholds) -> Vec<Assessment> {
    if observation.get("resourceType").and_then(Value::as_str) != Some("Observation") {
        return Vec::new();
    }
    if matches!(
        observation.get("status").and_then(Value::as_str),
        Some("entered-in-error" | "cancelled" | "preliminary" | "registered")
    ) {
        return Vec::new();
    }
    table.items.iter().filter_map(|i| assess_item(observation, i)).collect()
}

/// The most severe assessment of an Observation (by recommendation, then tier position):
/// for blood pressure this is the JSH rule "the higher of the systolic and diastolic
/// categories".
pub fn assess(observation: &Value, table: &Thresholds) -> Option<Assessment> {
    assess_all(observation, table).into_iter().max_by_key(|a| (a.recommendation, a.tier_index))
}

/// True when `new` is in a worse alerting tier than `previous` of the same item (an alert
/// is due once per crossing, not for every reading in the same tier).
pub fn crossed_since(previous: Option<&Assessment>, new: &Assessment) -> bool {
    new.crossed
        && match previous {
            Some(p) if p.item == new.item => new.tier_index > p.tier_index,
            _ => true,
        }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bp(sys: f64, dia: f64) -> Value {
        json!({
            "resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
            "subject": {"reference": "Patient/p"},
            "component": [
                {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                 "valueQuantity": {"value": sys, "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}},
                {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
                 "valueQuantity": {"value": dia, "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}}
            ]
        })
    }

    fn lab(system: &str, code: &str, value: f64, unit: &str) -> Value {
        json!({
            "resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": system, "code": code}]},
            "valueQuantity": {"value": value, "system": "http://unitsofmeasure.org", "code": unit}
        })
    }

    fn jl(code: &str, value: f64, unit: &str) -> Value {
        lab(codes::JLAC10_OID, code, value, unit)
    }

    fn tier_of(obs: &Value) -> (String, Recommendation, bool) {
        let a = assess(obs, &Thresholds::default()).expect("assessed");
        (a.tier, a.recommendation, a.crossed)
    }

    #[test]
    fn default_table_is_consistent_and_round_trips() {
        let t = Thresholds::default();
        t.check().expect("default table is valid");
        let j = serde_json::to_value(&t).expect("serialise");
        assert_eq!(Thresholds::from_json(&j).expect("parse"), t);
        assert_eq!(j["items"][0]["tiers"][2]["recommendation"], "保健指導");
    }

    #[test]
    fn bad_tables_are_rejected() {
        let mut t = Thresholds::default();
        t.items[0].tiers[1].below = Some(130.0);
        assert!(matches!(t.check(), Err(TableError::Overlap(..))));
        let mut t = Thresholds::default();
        t.items[0].tiers.remove(1);
        assert!(matches!(t.check(), Err(TableError::Gap(..))));
        let mut t = Thresholds::default();
        t.items[1].id = t.items[0].id.clone();
        assert!(matches!(t.check(), Err(TableError::DuplicateId(_))));
        assert!(Thresholds::from_json(&json!({"version": "x"})).is_err());
    }

    #[test]
    fn home_bp_boundaries_jsh2019() {
        let cases = [
            (114.0, 74.0, "正常血圧", Recommendation::None, false),
            (115.0, 74.0, "正常高値血圧", Recommendation::Information, false),
            (124.0, 74.0, "正常高値血圧", Recommendation::Information, false),
            (114.0, 75.0, "高値血圧", Recommendation::HealthGuidance, true),
            (125.0, 60.0, "高値血圧", Recommendation::HealthGuidance, true),
            (134.0, 84.0, "高値血圧", Recommendation::HealthGuidance, true),
            (135.0, 70.0, "I度高血圧", Recommendation::RecommendVisit, true),
            (120.0, 85.0, "I度高血圧", Recommendation::RecommendVisit, true),
            (144.0, 89.0, "I度高血圧", Recommendation::RecommendVisit, true),
            (145.0, 80.0, "II度高血圧", Recommendation::RecommendVisit, true),
            (159.0, 99.0, "II度高血圧", Recommendation::RecommendVisit, true),
            (160.0, 80.0, "III度高血圧", Recommendation::UrgentVisit, true),
            (130.0, 100.0, "III度高血圧", Recommendation::UrgentVisit, true),
        ];
        for (s, d, tier, rec, crossed) in cases {
            assert_eq!(tier_of(&bp(s, d)), (tier.to_owned(), rec, crossed), "{s}/{d}");
        }
        assert_eq!(assess_all(&bp(142.0, 80.0), &Thresholds::default()).len(), 2);
    }

    #[test]
    fn kenshin_bp_boundaries() {
        let sys = |v| jl("9A751000000000001", v, "mm[Hg]");
        let dia = |v| jl("9A761000000000001", v, "mm[Hg]");
        assert_eq!(tier_of(&sys(129.0)).1, Recommendation::None);
        assert_eq!(tier_of(&sys(130.0)).1, Recommendation::HealthGuidance);
        assert_eq!(tier_of(&sys(139.0)).1, Recommendation::HealthGuidance);
        assert_eq!(tier_of(&sys(140.0)).1, Recommendation::RecommendVisit);
        assert_eq!(tier_of(&sys(160.0)).1, Recommendation::UrgentVisit);
        assert_eq!(tier_of(&dia(84.0)).1, Recommendation::None);
        assert_eq!(tier_of(&dia(85.0)).1, Recommendation::HealthGuidance);
        assert_eq!(tier_of(&dia(90.0)).1, Recommendation::RecommendVisit);
        assert_eq!(tier_of(&dia(100.0)).1, Recommendation::UrgentVisit);
    }

    #[test]
    fn glucose_and_hba1c_boundaries() {
        let fg = |v| jl("3D010000001926101", v, "mg/dL");
        assert_eq!(tier_of(&fg(99.0)).1, Recommendation::None);
        assert_eq!(tier_of(&fg(100.0)), ("正常高値".to_owned(), Recommendation::HealthGuidance, true));
        assert_eq!(tier_of(&fg(110.0)).0, "境界型");
        assert_eq!(tier_of(&fg(125.0)).0, "境界型");
        assert_eq!(tier_of(&fg(126.0)).1, Recommendation::RecommendVisit);
        // 随時血糖 (3D010129...) is not the fasting item
        assert!(assess(&jl("3D010129901926101", 130.0, "mg/dL"), &Thresholds::default()).is_none());
        let a1c = |v| jl("3D046000001906202", v, "%");
        assert_eq!(tier_of(&a1c(5.5)).1, Recommendation::None);
        assert_eq!(tier_of(&a1c(5.6)).1, Recommendation::HealthGuidance);
        assert_eq!(tier_of(&a1c(6.0)).0, "境界域");
        assert_eq!(tier_of(&a1c(6.4)).0, "境界域");
        assert_eq!(tier_of(&a1c(6.5)).1, Recommendation::RecommendVisit);
        // LOINC and the URL spelling of JLAC10 work too
        assert_eq!(tier_of(&lab(codes::LOINC, "4548-4", 6.5, "%")).1, Recommendation::RecommendVisit);
        assert_eq!(tier_of(&lab(codes::JLAC10_URL, "3D046000001906202", 6.5, "%")).1, Recommendation::RecommendVisit);
    }

    #[test]
    fn lipid_boundaries() {
        let ldl = |v| jl("3F077000002327101", v, "mg/dL");
        assert_eq!(tier_of(&ldl(119.0)).1, Recommendation::None);
        assert_eq!(tier_of(&ldl(120.0)).1, Recommendation::HealthGuidance);
        assert_eq!(tier_of(&ldl(139.0)).1, Recommendation::HealthGuidance);
        assert_eq!(tier_of(&ldl(140.0)).1, Recommendation::RecommendVisit);
        let hdl = |v| jl("3F070000002327101", v, "mg/dL");
        assert_eq!(tier_of(&hdl(40.0)).1, Recommendation::None);
        assert_eq!(tier_of(&hdl(39.0)).1, Recommendation::HealthGuidance);
        assert_eq!(tier_of(&hdl(35.0)).1, Recommendation::HealthGuidance);
        assert_eq!(tier_of(&hdl(34.0)).1, Recommendation::RecommendVisit);
        let tg = |v| jl("3F015000002327101", v, "mg/dL");
        assert_eq!(tier_of(&tg(149.0)).1, Recommendation::None);
        assert_eq!(tier_of(&tg(150.0)).1, Recommendation::HealthGuidance);
        assert_eq!(tier_of(&tg(299.0)).1, Recommendation::HealthGuidance);
        assert_eq!(tier_of(&tg(300.0)).1, Recommendation::RecommendVisit);
    }

    #[test]
    fn egfr_stages() {
        let e = |v| jl("8A065000002391901", v, "mL/min/{1.73_m2}");
        for (v, stage) in [
            (90.0, "G1"),
            (89.9, "G2"),
            (60.0, "G2"),
            (59.9, "G3a"),
            (45.0, "G3a"),
            (44.9, "G3b"),
            (30.0, "G3b"),
            (29.0, "G4"),
            (15.0, "G4"),
            (14.9, "G5"),
        ] {
            assert_eq!(tier_of(&e(v)).0, stage, "{v}");
        }
        assert_eq!(tier_of(&e(59.9)).1, Recommendation::HealthGuidance);
        assert_eq!(tier_of(&e(44.9)).1, Recommendation::RecommendVisit);
    }

    #[test]
    fn not_assessed() {
        let t = Thresholds::default();
        // wrong unit: no silent conversion
        assert!(assess(&jl("3D010000001926101", 7.0, "mmol/L"), &t).is_none());
        // unknown code
        assert!(assess(&lab(codes::LOINC, "29463-7", 60.0, "kg"), &t).is_none());
        // entered in error
        let mut o = bp(180.0, 110.0);
        o["status"] = json!("entered-in-error");
        assert!(assess(&o, &t).is_none());
        // panel without the diastolic component still assesses systolic
        let mut o = bp(150.0, 80.0);
        o["component"].as_array_mut().map(|a| a.remove(1));
        assert_eq!(assess(&o, &t).map(|a| a.item), Some("home-bp-systolic".to_owned()));
        // a standalone systolic observation
        assert_eq!(tier_of(&lab(codes::LOINC, "8480-6", 135.0, "mm[Hg]")).0, "I度高血圧");
    }

    #[test]
    fn crossing_once_per_tier() {
        let t = Thresholds::default();
        let a = assess(&bp(136.0, 80.0), &t).expect("a");
        let b = assess(&bp(138.0, 82.0), &t).expect("b");
        let c = assess(&bp(150.0, 82.0), &t).expect("c");
        assert!(crossed_since(None, &a));
        assert!(!crossed_since(Some(&a), &b));
        assert!(crossed_since(Some(&b), &c));
        let normal = assess(&bp(110.0, 70.0), &t).expect("n");
        assert!(!crossed_since(None, &normal));
    }

    #[test]
    fn tenant_can_edit_thresholds() {
        let mut j = serde_json::to_value(Thresholds::default()).expect("ser");
        // a tenant moves the home-systolic 高値 bound
        j["items"][0]["tiers"][1]["below"] = json!(120.0);
        j["items"][0]["tiers"][2]["at_least"] = json!(120.0);
        let t = Thresholds::from_json(&j).expect("valid");
        assert_eq!(assess(&bp(121.0, 60.0), &t).map(|a| a.tier), Some("高値血圧".to_owned()));
    }
}
