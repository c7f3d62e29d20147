//! Japanese evacuation information (避難情報) on CAP 1.2.
//!
//! # Source
//!
//! 内閣府（防災担当）「避難情報に関するガイドライン」, May 2021 (令和3年5月), issued with the
//! amendment of the Disaster Countermeasures Basic Act in force from 20 May 2021
//! (<https://www.bousai.go.jp/oukyu/hinanjouhou/r3_hinanjouhou_guideline/>). It sets the five
//! warning levels (警戒レベル) and the three pieces of evacuation information a municipality
//! issues:
//!
//! - 警戒レベル3 **高齢者等避難** — harm is possible: people who need time to evacuate (the
//!   elderly, people with disabilities, ...) leave dangerous places; everyone else gets ready.
//! - 警戒レベル4 **避難指示** — harm is highly likely: everyone leaves dangerous places. (It
//!   replaced both 避難勧告 and 避難指示（緊急）; "evacuate by level 4".)
//! - 警戒レベル5 **緊急安全確保** — a disaster is occurring or imminent: moving to a shelter may
//!   itself be dangerous; secure your life where you are (upper floor, sturdy building). Not
//!   always issued.
//!
//! Levels 1 and 2 (早期注意情報, 注意報) are the Japan Meteorological Agency's, not a
//! municipality's, and are not issued through Kizuna. Opening and closing a shelter
//! (避難所開設 / 避難所閉鎖) and lifting evacuation information (避難情報の解除; the guideline
//! speaks of 避難指示等の解除) are what a municipality also sends to L-Alert, so they are here too.
//! English names follow the Cabinet Office's multilingual material ("Evacuation of the elderly,
//! etc.", "Evacuation order", "Emergency safety measures").
//!
//! # The mapping ([`EVACUATION_TABLE`])
//!
//! Every kind is `category` **Safety** (general emergency and public safety: the information is
//! about evacuating, whatever the hazard); the hazard's own category (Met for rain and floods,
//! Geo for landslides, ...) can be added with [`JapaneseAlertOptions::hazard`].
//!
//! | kind | event (ja / en) | responseType | urgency | severity | certainty | JP-WarningLevel |
//! |---|---|---|---|---|---|---|
//! | level 3 | 高齢者等避難 / Evacuation of the elderly, etc. | Evacuate, Prepare | Expected | Severe | Likely | 3 |
//! | level 4 | 避難指示 / Evacuation order | Evacuate | Immediate | Severe | Likely | 4 |
//! | level 5 | 緊急安全確保 / Emergency safety measures | Shelter | Immediate | Extreme | Observed | 5 |
//! | shelter opened | 避難所開設 / Shelter opened | Shelter | Expected | Minor | Observed | — |
//! | shelter closed | 避難所閉鎖 / Shelter closed | Monitor | Past | Minor | Observed | — |
//! | lifted | 避難情報の解除 / Evacuation information lifted | AllClear | Past | Minor | Observed | — |
//!
//! Why: CAP's urgency, severity and certainty describe the subject event. Level 3 asks the
//! slowest to move now and the rest to prepare (Evacuate + Prepare, Expected); level 4 asks
//! everyone to move now (Immediate) because harm is likely (Likely) and would be a significant
//! threat to life (Severe); level 5 says the disaster is happening (Observed, Extreme) and to
//! shelter where one is rather than travel (Shelter). A shelter opening or closing, and a
//! lifting, are facts (Observed) of no threat in themselves (Minor); AllClear is CAP's value
//! for "no longer poses a threat".
//!
//! # The values Kizuna defines
//!
//! | where | valueName | value |
//! |---|---|---|
//! | `info/eventCode` | `JP-EvacuationKind` | `ElderlyEvacuation`, `EvacuationOrder`, `EmergencySafety`, `ShelterOpened`, `ShelterClosed`, `Lifted` |
//! | `info/parameter` | `JP-WarningLevel` | `3`, `4`, `5` (levels 3–5 only) |
//! | `area/geocode` | `JP-LGCode` | the 6-digit 全国地方公共団体コード ([`crate::geocode`]) |
//! | `info/parameter` | `JP-AreaName[i]` | the name of `info/area[i]` in kanji ([`EvacuationDetail`]) |
//! | `info/parameter` | `JP-AreaNameKana[i]` | its reading in kana |
//! | `info/parameter` | `JP-LGCode[i]` | the code of the municipality `area[i]` is in |
//! | `info/parameter` | `JP-Households[i]` | 対象世帯数, the households concerned |
//! | `info/parameter` | `JP-Persons[i]` | 対象人数, the people concerned |
//!
//! `[i]` is the index of the `area` in the same `info`. These carry what L-Alert's 公共情報
//! コモンズ XML (an EDXL-DE envelope around 避難勧告・指示情報 / 避難所情報) needs beyond CAP: area
//! names with kana, JIS X 0402 codes, households and head counts; [`EvacuationDetail::from_info`]
//! reads them back to produce that envelope later.

use std::fmt;

use crate::geocode;
use crate::model::*;

/// The CAP `geocode` valueName for a 6-digit 全国地方公共団体コード.
pub const VALUE_NAME_LG_CODE: &str = "JP-LGCode";
/// The `parameter` valueName for the warning level (3, 4, 5).
pub const PARAM_WARNING_LEVEL: &str = "JP-WarningLevel";
/// The `eventCode` valueName for the kind of evacuation information.
pub const EVENT_CODE_KIND: &str = "JP-EvacuationKind";
/// `parameter` valueName prefixes of [`EvacuationDetail`] (followed by `[i]`).
pub const PARAM_AREA_NAME: &str = "JP-AreaName";
pub const PARAM_AREA_NAME_KANA: &str = "JP-AreaNameKana";
pub const PARAM_LG_CODE: &str = "JP-LGCode";
pub const PARAM_HOUSEHOLDS: &str = "JP-Households";
pub const PARAM_PERSONS: &str = "JP-Persons";

/// The kinds of evacuation information a municipality issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum EvacuationKind {
    /// 警戒レベル3 高齢者等避難.
    ElderlyEvacuation,
    /// 警戒レベル4 避難指示.
    EvacuationOrder,
    /// 警戒レベル5 緊急安全確保.
    EmergencySafety,
    /// 避難所開設.
    ShelterOpened,
    /// 避難所閉鎖.
    ShelterClosed,
    /// 避難情報の解除.
    Lifted,
}

impl EvacuationKind {
    pub const ALL: [EvacuationKind; 6] = [
        EvacuationKind::ElderlyEvacuation,
        EvacuationKind::EvacuationOrder,
        EvacuationKind::EmergencySafety,
        EvacuationKind::ShelterOpened,
        EvacuationKind::ShelterClosed,
        EvacuationKind::Lifted,
    ];

    /// The `JP-EvacuationKind` eventCode value.
    pub fn code(self) -> &'static str {
        match self {
            EvacuationKind::ElderlyEvacuation => "ElderlyEvacuation",
            EvacuationKind::EvacuationOrder => "EvacuationOrder",
            EvacuationKind::EmergencySafety => "EmergencySafety",
            EvacuationKind::ShelterOpened => "ShelterOpened",
            EvacuationKind::ShelterClosed => "ShelterClosed",
            EvacuationKind::Lifted => "Lifted",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }

    /// The warning level, for levels 3 to 5.
    pub fn level(self) -> Option<u8> {
        self.mapping().level
    }

    /// The kind issued at a warning level (3, 4 or 5).
    pub fn from_level(level: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.level() == Some(level))
    }

    /// This kind's row of [`EVACUATION_TABLE`].
    pub fn mapping(self) -> &'static EvacuationMapping {
        match self {
            EvacuationKind::ElderlyEvacuation => &EVACUATION_TABLE[0],
            EvacuationKind::EvacuationOrder => &EVACUATION_TABLE[1],
            EvacuationKind::EmergencySafety => &EVACUATION_TABLE[2],
            EvacuationKind::ShelterOpened => &EVACUATION_TABLE[3],
            EvacuationKind::ShelterClosed => &EVACUATION_TABLE[4],
            EvacuationKind::Lifted => &EVACUATION_TABLE[5],
        }
    }
}

impl fmt::Display for EvacuationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// One row of the mapping (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvacuationMapping {
    pub kind: EvacuationKind,
    pub level: Option<u8>,
    pub event_ja: &'static str,
    pub event_en: &'static str,
    pub category: Category,
    pub response_type: &'static [ResponseType],
    pub urgency: Urgency,
    pub severity: Severity,
    pub certainty: Certainty,
    /// The standard instruction (Kizuna's wording of the guideline's "action to take").
    pub instruction_ja: &'static str,
    pub instruction_en: &'static str,
}

/// The Japanese evacuation information mapped onto CAP, in [`EvacuationKind::ALL`] order.
pub const EVACUATION_TABLE: [EvacuationMapping; 6] = [
    EvacuationMapping {
        kind: EvacuationKind::ElderlyEvacuation,
        level: Some(3),
        event_ja: "高齢者等避難",
        event_en: "Evacuation of the elderly, etc.",
        category: Category::Safety,
        response_type: &[ResponseType::Evacuate, ResponseType::Prepare],
        urgency: Urgency::Expected,
        severity: Severity::Severe,
        certainty: Certainty::Likely,
        instruction_ja: "危険な場所から高齢者等は避難してください。それ以外の人も避難の準備をし、危険を感じたら自主的に避難してください。",
        instruction_en: "Elderly people and others who need time to evacuate: leave dangerous places now. Everyone else: get ready to evacuate, and leave if you feel in danger.",
    },
    EvacuationMapping {
        kind: EvacuationKind::EvacuationOrder,
        level: Some(4),
        event_ja: "避難指示",
        event_en: "Evacuation order",
        category: Category::Safety,
        response_type: &[ResponseType::Evacuate],
        urgency: Urgency::Immediate,
        severity: Severity::Severe,
        certainty: Certainty::Likely,
        instruction_ja: "危険な場所から全員避難してください。",
        instruction_en: "Everyone must leave dangerous places now.",
    },
    EvacuationMapping {
        kind: EvacuationKind::EmergencySafety,
        level: Some(5),
        event_ja: "緊急安全確保",
        event_en: "Emergency safety measures",
        category: Category::Safety,
        response_type: &[ResponseType::Shelter],
        urgency: Urgency::Immediate,
        severity: Severity::Extreme,
        certainty: Certainty::Observed,
        instruction_ja: "命の危険があります。直ちに身の安全を確保してください。",
        instruction_en: "Your life is in danger. Secure your safety immediately where you are (an upper floor, a sturdy building nearby).",
    },
    EvacuationMapping {
        kind: EvacuationKind::ShelterOpened,
        level: None,
        event_ja: "避難所開設",
        event_en: "Shelter opened",
        category: Category::Safety,
        response_type: &[ResponseType::Shelter],
        urgency: Urgency::Expected,
        severity: Severity::Minor,
        certainty: Certainty::Observed,
        instruction_ja: "避難所を開設しました。",
        instruction_en: "A shelter has opened.",
    },
    EvacuationMapping {
        kind: EvacuationKind::ShelterClosed,
        level: None,
        event_ja: "避難所閉鎖",
        event_en: "Shelter closed",
        category: Category::Safety,
        response_type: &[ResponseType::Monitor],
        urgency: Urgency::Past,
        severity: Severity::Minor,
        certainty: Certainty::Observed,
        instruction_ja: "避難所を閉鎖しました。",
        instruction_en: "The shelter has closed.",
    },
    EvacuationMapping {
        kind: EvacuationKind::Lifted,
        level: None,
        event_ja: "避難情報の解除",
        event_en: "Evacuation information lifted",
        category: Category::Safety,
        response_type: &[ResponseType::AllClear],
        urgency: Urgency::Past,
        severity: Severity::Minor,
        certainty: Certainty::Observed,
        instruction_ja: "避難情報を解除しました。",
        instruction_en: "The evacuation information has been lifted.",
    },
];

/// What L-Alert (公共情報コモンズ) needs about one target area beyond CAP: its name with kana,
/// the municipality code, and how many households and people it concerns. Carried as
/// `parameter`s (valueNames in the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EvacuationDetail {
    /// 地区名, in kanji (also the area's `areaDesc` in the Japanese `info`).
    pub area_name: String,
    /// Its reading (ふりがな).
    pub area_name_kana: String,
    /// The 6-digit 全国地方公共団体コード of the municipality the area is in.
    pub lg_code: String,
    /// 対象世帯数.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub households: Option<u32>,
    /// 対象人数.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persons: Option<u32>,
}

impl EvacuationDetail {
    /// The `parameter`s for the area at `index` in its `info`.
    pub fn to_parameters(&self, index: usize) -> Vec<ValueName> {
        let mut p = vec![
            ValueName::new(format!("{PARAM_AREA_NAME}[{index}]"), self.area_name.clone()),
            ValueName::new(format!("{PARAM_AREA_NAME_KANA}[{index}]"), self.area_name_kana.clone()),
            ValueName::new(format!("{PARAM_LG_CODE}[{index}]"), self.lg_code.clone()),
        ];
        if let Some(h) = self.households {
            p.push(ValueName::new(format!("{PARAM_HOUSEHOLDS}[{index}]"), h.to_string()));
        }
        if let Some(n) = self.persons {
            p.push(ValueName::new(format!("{PARAM_PERSONS}[{index}]"), n.to_string()));
        }
        p
    }

    /// Reads the details of every area of an `info` back from its parameters (areas without
    /// `JP-AreaName[i]` and `JP-LGCode[i]` are skipped).
    pub fn from_info(info: &Info) -> Vec<(usize, EvacuationDetail)> {
        let get = |prefix: &str, i: usize| info.parameter(&format!("{prefix}[{i}]")).map(str::to_string);
        (0..info.area.len())
            .filter_map(|i| {
                Some((
                    i,
                    EvacuationDetail {
                        area_name: get(PARAM_AREA_NAME, i)?,
                        area_name_kana: get(PARAM_AREA_NAME_KANA, i).unwrap_or_default(),
                        lg_code: get(PARAM_LG_CODE, i)?,
                        households: get(PARAM_HOUSEHOLDS, i).and_then(|v| v.parse().ok()),
                        persons: get(PARAM_PERSONS, i).and_then(|v| v.parse().ok()),
                    },
                ))
            })
            .collect()
    }
}

/// An area an evacuation message is about: the L-Alert detail plus its geometry.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetArea {
    pub detail: EvacuationDetail,
    /// The `areaDesc` of the English `info` (romanised); the kanji name when absent.
    pub name_en: Option<String>,
    pub polygon: Vec<Polygon>,
    pub circle: Vec<Circle>,
}

impl TargetArea {
    /// A whole municipality from the shipped code table, named and coded, without geometry.
    pub fn municipality(code: &str, name_en: Option<&str>) -> Option<TargetArea> {
        let m = geocode::lookup_ref(code)?;
        Some(TargetArea {
            detail: EvacuationDetail {
                area_name: m.name.clone(),
                area_name_kana: m.kana.clone(),
                lg_code: m.code.clone(),
                households: None,
                persons: None,
            },
            name_en: name_en.map(str::to_string),
            polygon: Vec::new(),
            circle: Vec::new(),
        })
    }
}

/// Who issues, and the message's envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct JapaneseAlertOptions {
    pub identifier: String,
    pub sender: String,
    /// The issuing body, in Japanese (前橋市) and English (Maebashi City).
    pub sender_name_ja: String,
    pub sender_name_en: String,
    pub status: Status,
    pub expires: Option<CapDateTime>,
    /// The hazard's category (Met, Geo, ...), added after Safety.
    pub hazard: Option<Category>,
    /// Free text about the situation, per language.
    pub description_ja: Option<String>,
    pub description_en: Option<String>,
    pub contact: Option<String>,
    pub web: Option<String>,
}

fn info_for(
    m: &EvacuationMapping,
    ja: bool,
    areas: &[TargetArea],
    opts: &JapaneseAlertOptions,
    sent: CapDateTime,
) -> Info {
    let mut category = vec![m.category];
    if let Some(h) = opts.hazard.filter(|h| *h != m.category) {
        category.push(h);
    }
    let place = if ja { opts.sender_name_ja.as_str() } else { opts.sender_name_en.as_str() };
    let headline = match (m.level, ja) {
        (Some(l), true) => format!("【警戒レベル{l}】{}（{place}）", m.event_ja),
        (Some(l), false) => format!("[Alert level {l}] {} ({place})", m.event_en),
        (None, true) => format!("{}（{place}）", m.event_ja),
        (None, false) => format!("{} ({place})", m.event_en),
    };
    let mut parameter = Vec::new();
    if let Some(l) = m.level {
        parameter.push(ValueName::new(PARAM_WARNING_LEVEL, l.to_string()));
    }
    let mut area = Vec::new();
    for (i, t) in areas.iter().enumerate() {
        parameter.extend(t.detail.to_parameters(i));
        let desc = if ja {
            t.detail.area_name.clone()
        } else {
            t.name_en.clone().unwrap_or_else(|| t.detail.area_name.clone())
        };
        let mut a = Area::new(desc);
        a.polygon = t.polygon.clone();
        a.circle = t.circle.clone();
        a.geocode.push(ValueName::new(VALUE_NAME_LG_CODE, t.detail.lg_code.clone()));
        area.push(a);
    }
    let mut info = Info::new(m.category, if ja { m.event_ja } else { m.event_en }, m.urgency, m.severity, m.certainty);
    info.language = Some(if ja { "ja-JP" } else { "en-US" }.to_string());
    info.category = category;
    info.response_type = m.response_type.to_vec();
    info.event_code = vec![ValueName::new(EVENT_CODE_KIND, m.kind.code())];
    info.effective = Some(sent);
    info.expires = opts.expires;
    info.sender_name = Some(place.to_string());
    info.headline = Some(headline);
    info.description = if ja { opts.description_ja.clone() } else { opts.description_en.clone() };
    info.instruction = Some(if ja { m.instruction_ja } else { m.instruction_en }.to_string());
    info.web = opts.web.clone();
    info.contact = opts.contact.clone();
    info.parameter = parameter;
    info.area = area;
    info
}

/// Builds a bilingual CAP alert (`info` in ja-JP, then en-US) for a piece of evacuation
/// information, mapped as [`EVACUATION_TABLE`] says: `msgType` Alert, `scope` Public, each
/// target area with its `JP-LGCode` geocode, its geometry and its [`EvacuationDetail`]
/// parameters. Use [`update_of`] / [`cancel_of`] for the messages that follow it.
pub fn japanese_alert(
    kind: EvacuationKind,
    areas: &[TargetArea],
    sent: CapDateTime,
    opts: &JapaneseAlertOptions,
) -> Alert {
    let m = kind.mapping();
    Alert {
        identifier: opts.identifier.clone(),
        sender: opts.sender.clone(),
        sent,
        status: opts.status,
        msg_type: MsgType::Alert,
        source: None,
        scope: Scope::Public,
        restriction: None,
        addresses: None,
        code: Vec::new(),
        note: None,
        references: None,
        incidents: None,
        info: vec![info_for(m, true, areas, opts, sent), info_for(m, false, areas, opts, sent)],
    }
}

/// The Update of `previous` carrying `next`'s content: `next` with `msgType` Update and
/// `references` naming `previous` (and whatever `previous` referenced, so the chain stays
/// traceable).
pub fn update_of(previous: &Alert, mut next: Alert) -> Alert {
    let mut refs = previous.referenced().unwrap_or_default();
    refs.push(previous.reference());
    next.msg_type = MsgType::Update;
    next.references = Some(Reference::join(&refs));
    next
}

/// The Cancel of `previous`: same sender, a new identifier and time, `references` naming
/// `previous` (and its own references), `note` saying why, and `previous`'s `info` blocks
/// with `responseType` AllClear and `urgency` Past so that receivers know which areas to clear.
pub fn cancel_of(previous: &Alert, identifier: impl Into<String>, sent: CapDateTime, note: impl Into<String>) -> Alert {
    let mut refs = previous.referenced().unwrap_or_default();
    refs.push(previous.reference());
    let mut info = previous.info.clone();
    for i in &mut info {
        i.response_type = vec![ResponseType::AllClear];
        i.urgency = Urgency::Past;
        i.effective = Some(sent);
        if i.expires.is_some_and(|e| e.datetime() <= sent.datetime()) {
            i.expires = None;
        }
    }
    Alert {
        identifier: identifier.into(),
        sent,
        msg_type: MsgType::Cancel,
        note: Some(note.into()),
        references: Some(Reference::join(&refs)),
        info,
        ..previous.clone()
    }
}
