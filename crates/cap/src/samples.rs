//! Example messages: a 警戒レベル4 避難指示 for part of 前橋市 with a polygon, its Update and
//! its Cancel. Used by the documentation, the tests (`tests/data/` holds their XML) and the
//! `emit` example; the place names and codes are real, the polygon, the household and head
//! counts and the times are made up.

use crate::japan::{self, EvacuationDetail, EvacuationKind, JapaneseAlertOptions, TargetArea};
use crate::model::*;

fn at(s: &str) -> CapDateTime {
    // The literals below are valid CAP date-times; a typo would show in every test.
    CapDateTime::parse(s).unwrap_or_else(|e| panic!("sample date-time {s}: {e}"))
}

fn options(identifier: &str, expires: &str) -> JapaneseAlertOptions {
    JapaneseAlertOptions {
        identifier: identifier.to_string(),
        sender: "bousai@city.maebashi.kizuna.example".to_string(),
        sender_name_ja: "前橋市".to_string(),
        sender_name_en: "Maebashi City".to_string(),
        status: Status::Actual,
        expires: Some(at(expires)),
        hazard: Some(Category::Met),
        description_ja: Some("利根川の水位が氾濫危険水位に到達する見込みです。".to_string()),
        description_en: Some("The Tone River is expected to reach the flood danger level.".to_string()),
        contact: Some("前橋市 防災担当（例）".to_string()),
        web: Some("https://www.city.maebashi.gunma.jp/".to_string()),
    }
}

fn riverside(households: u32, persons: u32) -> TargetArea {
    TargetArea {
        detail: EvacuationDetail {
            area_name: "前橋市 総社町・元総社町・石倉町（利根川沿い）".to_string(),
            area_name_kana: "まえばしし そうじゃまち・もとそうじゃまち・いしくらまち（とねがわぞい）".to_string(),
            lg_code: "102016".to_string(),
            households: Some(households),
            persons: Some(persons),
        },
        name_en: Some("Maebashi: Sojamachi, Motosojamachi, Ishikuramachi (along the Tone River)".to_string()),
        polygon: vec![Polygon::closed(vec![
            Point::new(36.4105, 139.0402),
            Point::new(36.4112, 139.0571),
            Point::new(36.3868, 139.0649),
            Point::new(36.3797, 139.0508),
            Point::new(36.3921, 139.0389),
        ])],
        circle: Vec::new(),
    }
}

/// The initial 警戒レベル4 避難指示 (msgType Alert).
pub fn maebashi_evacuation_order() -> Alert {
    japan::japanese_alert(
        EvacuationKind::EvacuationOrder,
        &[riverside(1_240, 2_870)],
        at("2026-07-14T09:30:00+09:00"),
        &options("maebashi-2026-0714-001", "2026-07-15T09:30:00+09:00"),
    )
}

/// Its Update: the area grows by 新前橋町 and the counts change.
pub fn maebashi_evacuation_order_update() -> Alert {
    let extra = TargetArea {
        detail: EvacuationDetail {
            area_name: "前橋市 新前橋町".to_string(),
            area_name_kana: "まえばしし しんまえばしまち".to_string(),
            lg_code: "102016".to_string(),
            households: Some(410),
            persons: Some(905),
        },
        name_en: Some("Maebashi: Shinmaebashimachi".to_string()),
        polygon: Vec::new(),
        circle: vec![Circle { center: Point::new(36.3932, 139.0562), radius: 0.8 }],
    };
    let next = japan::japanese_alert(
        EvacuationKind::EvacuationOrder,
        &[riverside(1_251, 2_889), extra],
        at("2026-07-14T11:00:00+09:00"),
        &options("maebashi-2026-0714-002", "2026-07-15T11:00:00+09:00"),
    );
    japan::update_of(&maebashi_evacuation_order(), next)
}

/// Its Cancel (the order is lifted).
pub fn maebashi_evacuation_order_cancel() -> Alert {
    japan::cancel_of(
        &maebashi_evacuation_order_update(),
        "maebashi-2026-0714-003",
        at("2026-07-14T18:00:00+09:00"),
        "避難指示を解除しました。 / The evacuation order has been lifted.",
    )
}

/// The three, with the file names used in `tests/data/`.
pub fn maebashi_chain() -> Vec<(&'static str, Alert)> {
    vec![
        ("maebashi-level4-alert.xml", maebashi_evacuation_order()),
        ("maebashi-level4-update.xml", maebashi_evacuation_order_update()),
        ("maebashi-level4-cancel.xml", maebashi_evacuation_order_cancel()),
    ]
}
