//! Code systems Kizuna relies on, with their canonical URIs and format checks.
//!
//! Sources:
//! - LOINC vital-sign codes: FHIR R4 Vital Signs profile
//!   (<https://hl7.org/fhir/R4/observation-vitalsigns.html>), which JP Core's
//!   `JP_Observation_VitalSigns` (<https://jpfhir.jp/fhir/core/>) derives from.
//! - UCUM: <https://hl7.org/fhir/R4/terminologies-systems.html> (`http://unitsofmeasure.org`).
//! - JLAC10: 17-character codes (分析物 5 + 識別 4 + 材料 3 + 測定法 3 + 結果識別 2) of the
//!   日本臨床検査医学会; 特定健診 uses JLAC10 or 17-character codes "準じた" to it for every
//!   item (標準的な健診・保健指導プログラム 令和6年度版, 第3編 健診データの電子的標準様式,
//!   <https://www.mhlw.go.jp/stf/newpage_31652.html>).
//! - System URIs: JP Core's "OIDマッピング表" (ガイダンス 2.6, <https://jpfhir.jp/fhir/core/>),
//!   which pairs each legacy OID with the URL that JP Core is migrating to and says both are
//!   currently accepted: JLAC10 17桁 `urn:oid:1.2.392.200119.4.504` ↔
//!   `http://medis.or.jp/CodeSystem/master-JLAC10-17digits`; HOT13 `urn:oid:1.2.392.200119.4.402.1`
//!   ↔ `.../master-HOT13`; HOT9 `urn:oid:1.2.392.200119.4.403.1` (also
//!   `urn:oid:1.2.392.100495.20.2.74`) ↔ `.../master-HOT9`; HOT7 `urn:oid:1.2.392.200119.4.403.2`
//!   ↔ `.../master-HOT7`; YJ `urn:oid:1.2.392.100495.20.2.73` ↔
//!   `http://capstandard.jp/iyaku.info/CodeSystem/YJ-code`. The 特定健診項目コード system
//!   `urn:oid:1.2.392.200119.6.1005` (JP eCheckup profiles) uses the same 17-character format.
//! - HOT (HOT基準番号, MEDIS-DC): 13 digits = 処方用 7 + 会社用 2 + 調剤用 2 + 物流用 2, used
//!   truncated as HOT7/HOT9/HOT11/HOT13 (HELICS指針,
//!   <https://square.umin.ac.jp/helics/html/guidelines.html>).
//! - YJ code (個別医薬品コード): 12 alphanumeric characters.

/// LOINC.
pub const LOINC: &str = "http://loinc.org";
/// UCUM units.
pub const UCUM: &str = "http://unitsofmeasure.org";
/// FHIR observation-category code system (`vital-signs`, `laboratory`...).
pub const OBSERVATION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
/// JLAC10 17桁 as an OID (JP Core OIDマッピング表).
pub const JLAC10_OID: &str = "urn:oid:1.2.392.200119.4.504";
/// JLAC10 17桁 in the URL form (JP Core OIDマッピング表).
pub const JLAC10_URL: &str = "http://medis.or.jp/CodeSystem/master-JLAC10-17digits";
/// 厚労省特定健診項目コード (JLAC10-format 17-character codes, e.g. `9A751000000000001`).
pub const TOKUTEI_KENSHIN_OID: &str = "urn:oid:1.2.392.200119.6.1005";
pub const HOT7_OID: &str = "urn:oid:1.2.392.200119.4.403.2";
pub const HOT7_URL: &str = "http://medis.or.jp/CodeSystem/master-HOT7";
pub const HOT9_OID: &str = "urn:oid:1.2.392.200119.4.403.1";
/// The 処方箋CDA記述仕様 OID for HOT9, also listed by JP Core.
pub const HOT9_OID_CDA: &str = "urn:oid:1.2.392.100495.20.2.74";
pub const HOT9_URL: &str = "http://medis.or.jp/CodeSystem/master-HOT9";
pub const HOT13_OID: &str = "urn:oid:1.2.392.200119.4.402.1";
pub const HOT13_URL: &str = "http://medis.or.jp/CodeSystem/master-HOT13";
pub const YJ_OID: &str = "urn:oid:1.2.392.100495.20.2.73";
pub const YJ_URL: &str = "http://capstandard.jp/iyaku.info/CodeSystem/YJ-code";
/// Kizuna's local code system for Japan's vaccines (see [`RoutineVaccine`]).
pub const JP_VACCINE: &str = "urn:kizuna:fhir:CodeSystem:jp-routine-vaccine";

/// True for the spellings of JLAC10 Kizuna accepts.
pub fn is_jlac10_system(system: &str) -> bool {
    matches!(system, JLAC10_OID | JLAC10_URL | TOKUTEI_KENSHIN_OID)
}

/// JLAC10 format: exactly 17 ASCII alphanumerics (upper case letters occur in the
/// analyte part, e.g. `3F015000002327101`).
pub fn is_jlac10_code(code: &str) -> bool {
    code.len() == 17 && code.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
}

/// Drug code systems Kizuna checks the format of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrugCodeSystem {
    Hot7,
    Hot9,
    Hot13,
    Yj,
}

impl DrugCodeSystem {
    /// The drug code system a `Coding.system` names, if any.
    pub fn from_system(system: &str) -> Option<Self> {
        match system {
            HOT7_URL | HOT7_OID => Some(Self::Hot7),
            HOT9_URL | HOT9_OID | HOT9_OID_CDA => Some(Self::Hot9),
            HOT13_URL | HOT13_OID => Some(Self::Hot13),
            YJ_URL | YJ_OID => Some(Self::Yj),
            _ => None,
        }
    }

    /// Whether `code` has this system's format: HOT7/9/13 are 7/9/13 digits, YJ is 12
    /// alphanumerics (digits and upper-case letters; the 8th–9th characters can be letters).
    pub fn is_valid_code(self, code: &str) -> bool {
        let digits = |n: usize| code.len() == n && code.bytes().all(|b| b.is_ascii_digit());
        match self {
            Self::Hot7 => digits(7),
            Self::Hot9 => digits(9),
            Self::Hot13 => digits(13),
            Self::Yj => code.len() == 12 && code.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Hot7 => "HOT7 (7 digits)",
            Self::Hot9 => "HOT9 (9 digits)",
            Self::Hot13 => "HOT13 (13 digits)",
            Self::Yj => "YJ code (12 alphanumerics)",
        }
    }
}

/// LOINC codes for the self-measured vital signs Kizuna understands, with the UCUM units
/// accepted for each (R4 Vital Signs profile table).
pub mod loinc {
    /// Blood pressure panel; systolic and diastolic go in `component`.
    pub const BP_PANEL: &str = "85354-9";
    pub const SYSTOLIC: &str = "8480-6";
    pub const DIASTOLIC: &str = "8462-4";
    pub const BODY_WEIGHT: &str = "29463-7";
    pub const BODY_HEIGHT: &str = "8302-2";
    pub const HEART_RATE: &str = "8867-4";
    pub const BODY_TEMPERATURE: &str = "8310-5";
    pub const BMI: &str = "39156-5";
    pub const OXYGEN_SATURATION: &str = "59408-5";
    /// Glucose [Mass/volume] in Blood.
    pub const GLUCOSE_BLOOD: &str = "2339-0";
    /// Glucose [Mass/volume] in Capillary blood by Glucometer (self-monitoring).
    pub const GLUCOSE_GLUCOMETER: &str = "41653-7";
    /// Glucose [Mass/volume] in Serum or Plasma.
    pub const GLUCOSE_SERUM: &str = "2345-7";
    /// Fasting glucose [Mass/volume] in Serum or Plasma.
    pub const GLUCOSE_FASTING: &str = "1558-6";
    /// Glucose [Moles/volume] in Blood.
    pub const GLUCOSE_BLOOD_MOLAR: &str = "15074-8";
    /// Hemoglobin A1c/Hemoglobin.total in Blood.
    pub const HBA1C: &str = "4548-4";

    /// `(code, display, accepted UCUM units)`; an empty unit list means "no value expected"
    /// (the BP panel carries its values in components).
    pub const VITALS: &[(&str, &str, &[&str])] = &[
        (BP_PANEL, "Blood pressure panel", &[]),
        (SYSTOLIC, "Systolic blood pressure", &["mm[Hg]"]),
        (DIASTOLIC, "Diastolic blood pressure", &["mm[Hg]"]),
        (BODY_WEIGHT, "Body weight", &["kg", "g", "[lb_av]"]),
        (BODY_HEIGHT, "Body height", &["cm", "m", "[in_i]"]),
        (HEART_RATE, "Heart rate", &["/min"]),
        (BODY_TEMPERATURE, "Body temperature", &["Cel", "[degF]"]),
        (BMI, "Body mass index", &["kg/m2"]),
        (OXYGEN_SATURATION, "Oxygen saturation", &["%"]),
        (GLUCOSE_BLOOD, "Glucose [Mass/volume] in Blood", &["mg/dL"]),
        (GLUCOSE_GLUCOMETER, "Glucose in Capillary blood by Glucometer", &["mg/dL"]),
        (GLUCOSE_SERUM, "Glucose [Mass/volume] in Serum or Plasma", &["mg/dL"]),
        (GLUCOSE_FASTING, "Fasting glucose [Mass/volume] in Serum or Plasma", &["mg/dL"]),
        (GLUCOSE_BLOOD_MOLAR, "Glucose [Moles/volume] in Blood", &["mmol/L"]),
        (HBA1C, "Hemoglobin A1c/Hemoglobin.total in Blood", &["%"]),
    ];

    /// The accepted units of a known vital-sign code.
    pub fn units(code: &str) -> Option<&'static [&'static str]> {
        VITALS.iter().find(|(c, _, _)| *c == code).map(|(_, _, u)| *u)
    }
}

/// Kizuna's local code system for Japan's vaccines
/// (`urn:kizuna:fhir:CodeSystem:jp-routine-vaccine`).
///
/// The routine (定期接種) A類 vaccines are those of 予防接種法 as scheduled by 厚生労働省
/// (「定期接種実施要領」, <https://www.mhlw.go.jp/stf/seisakunitsuite/bunya/kenkou_iryou/kenkou/kekkaku-kansenshou/yobou-sesshu/>)
/// and the 国立感染症研究所 / JIHS 予防接種スケジュール
/// (<https://www.niid.go.jp/niid/ja/schedule.html>). From April 2024 the 5種混合
/// (DPT-IPV-Hib) joined the schedule and is given instead of 4種混合 + Hib to children
/// starting now; both remain valid codes. B類 (elderly influenza, 高齢者肺炎球菌, COVID-19)
/// and common voluntary (任意接種) vaccines are listed so records can be coded, but only the
/// A類 childhood ones have a schedule in [`crate::schedule`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum RoutineVaccine {
    /// ヒブ (Haemophilus influenzae type b).
    Hib,
    /// 小児用肺炎球菌 (PCV).
    Pcv,
    /// B型肝炎.
    HepB,
    /// ロタウイルス (1価 Rotarix: 2 doses, 5価 RotaTeq: 3 doses).
    Rota,
    /// 5種混合 (DPT-IPV-Hib).
    DptIpvHib,
    /// 4種混合 (DPT-IPV).
    DptIpv,
    /// 3種混合 (DPT).
    Dpt,
    /// 不活化ポリオ (IPV).
    Ipv,
    /// BCG (結核).
    Bcg,
    /// 麻しん風しん混合 (MR).
    Mr,
    /// 麻しん (single).
    Measles,
    /// 風しん (single).
    Rubella,
    /// 水痘.
    Varicella,
    /// 日本脳炎.
    JapaneseEncephalitis,
    /// 二種混合 (DT).
    Dt,
    /// ヒトパピローマウイルス (HPV).
    Hpv,
    /// インフルエンザ (B類 for the elderly; voluntary for children).
    Influenza,
    /// 高齢者の肺炎球菌 (PPSV23, B類).
    Ppsv23,
    /// 新型コロナウイルス (B類 from 2024).
    Covid19,
    /// おたふくかぜ (voluntary).
    Mumps,
}

impl RoutineVaccine {
    /// Every code, in schedule order.
    pub const ALL: &'static [RoutineVaccine] = &[
        Self::Hib,
        Self::Pcv,
        Self::HepB,
        Self::Rota,
        Self::DptIpvHib,
        Self::DptIpv,
        Self::Dpt,
        Self::Ipv,
        Self::Bcg,
        Self::Mr,
        Self::Measles,
        Self::Rubella,
        Self::Varicella,
        Self::JapaneseEncephalitis,
        Self::Dt,
        Self::Hpv,
        Self::Influenza,
        Self::Ppsv23,
        Self::Covid19,
        Self::Mumps,
    ];

    /// The code in [`JP_VACCINE`].
    pub fn code(self) -> &'static str {
        match self {
            Self::Hib => "hib",
            Self::Pcv => "pcv",
            Self::HepB => "hepb",
            Self::Rota => "rota",
            Self::DptIpvHib => "dpt-ipv-hib",
            Self::DptIpv => "dpt-ipv",
            Self::Dpt => "dpt",
            Self::Ipv => "ipv",
            Self::Bcg => "bcg",
            Self::Mr => "mr",
            Self::Measles => "measles",
            Self::Rubella => "rubella",
            Self::Varicella => "varicella",
            Self::JapaneseEncephalitis => "je",
            Self::Dt => "dt",
            Self::Hpv => "hpv",
            Self::Influenza => "influenza",
            Self::Ppsv23 => "ppsv23",
            Self::Covid19 => "covid-19",
            Self::Mumps => "mumps",
        }
    }

    /// The Japanese display.
    pub fn display(self) -> &'static str {
        match self {
            Self::Hib => "ヒブ(Hib)",
            Self::Pcv => "小児用肺炎球菌",
            Self::HepB => "B型肝炎",
            Self::Rota => "ロタウイルス",
            Self::DptIpvHib => "5種混合(DPT-IPV-Hib)",
            Self::DptIpv => "4種混合(DPT-IPV)",
            Self::Dpt => "3種混合(DPT)",
            Self::Ipv => "不活化ポリオ(IPV)",
            Self::Bcg => "BCG",
            Self::Mr => "麻しん風しん混合(MR)",
            Self::Measles => "麻しん",
            Self::Rubella => "風しん",
            Self::Varicella => "水痘",
            Self::JapaneseEncephalitis => "日本脳炎",
            Self::Dt => "二種混合(DT)",
            Self::Hpv => "ヒトパピローマウイルス(HPV)",
            Self::Influenza => "インフルエンザ",
            Self::Ppsv23 => "高齢者の肺炎球菌",
            Self::Covid19 => "新型コロナウイルス",
            Self::Mumps => "おたふくかぜ",
        }
    }

    /// 予防接種法 category: `true` for A類 childhood routine vaccines.
    pub fn is_childhood_routine(self) -> bool {
        !matches!(self, Self::Influenza | Self::Ppsv23 | Self::Covid19 | Self::Mumps)
    }

    /// Parses a code of [`JP_VACCINE`].
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.code() == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vaccine_codes_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for v in RoutineVaccine::ALL {
            assert!(seen.insert(v.code()));
            assert_eq!(RoutineVaccine::from_code(v.code()), Some(*v));
        }
        assert_eq!(RoutineVaccine::from_code("nope"), None);
    }

    #[test]
    fn drug_code_formats() {
        assert!(DrugCodeSystem::Hot9.is_valid_code("103835401"));
        assert!(!DrugCodeSystem::Hot9.is_valid_code("10383540"));
        assert!(DrugCodeSystem::Hot13.is_valid_code("1038354010101"));
        assert!(DrugCodeSystem::Yj.is_valid_code("2233002F1027"));
        assert!(!DrugCodeSystem::Yj.is_valid_code("2233002F102"));
        assert!(!DrugCodeSystem::Yj.is_valid_code("2233002f1027"));
        assert_eq!(DrugCodeSystem::from_system(HOT9_OID), Some(DrugCodeSystem::Hot9));
        assert_eq!(DrugCodeSystem::from_system(LOINC), None);
    }

    #[test]
    fn jlac10_format() {
        assert!(is_jlac10_code("3F015000002327101"));
        assert!(is_jlac10_code("3D046000001906202"));
        assert!(!is_jlac10_code("3F01500000232710"));
        assert!(!is_jlac10_code("3f015000002327101"));
        assert!(is_jlac10_system(JLAC10_OID));
    }
}
