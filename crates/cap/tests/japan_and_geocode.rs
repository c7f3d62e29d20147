//! The evacuation-level table, the bilingual builder, and the check digit of the municipality
//! code (the table itself: `municipalities.rs`).

use kizuna_cap::geocode::{check_code, check_digit};
use kizuna_cap::japan::*;
use kizuna_cap::*;

#[test]
fn check_digit_algorithm() {
    // Worked example from the module documentation, and the two edge cases: remainder 0 gives
    // 1 (10428 高山村: 6·1+5·0+4·4+3·2+2·8 = 44, 44 mod 11 = 0) and remainder 1 gives 0
    // (10521 板倉町: 34 mod 11 = 1).
    assert_eq!(check_digit("10201"), Some(6));
    assert_eq!(check_digit("10428"), Some(1));
    assert_eq!(check_digit("10521"), Some(0));
    // Outside Gunma: 東京都千代田区 131016, 北海道札幌市 011002.
    assert_eq!(check_digit("13101"), Some(6));
    assert_eq!(check_digit("01100"), Some(2));
    assert_eq!(check_digit("1020"), None);
    assert_eq!(check_digit("1020a"), None);
    check_code("102016").expect("valid");
    assert!(check_code("102015").unwrap_err().contains("should be 6"));
    assert!(check_code("10201").is_err());
}

#[test]
fn the_table_maps_levels_three_to_five() {
    assert_eq!(EvacuationKind::from_level(3), Some(EvacuationKind::ElderlyEvacuation));
    assert_eq!(EvacuationKind::from_level(4), Some(EvacuationKind::EvacuationOrder));
    assert_eq!(EvacuationKind::from_level(5), Some(EvacuationKind::EmergencySafety));
    assert_eq!(EvacuationKind::from_level(2), None);
    for (i, k) in EvacuationKind::ALL.into_iter().enumerate() {
        assert_eq!(EVACUATION_TABLE[i].kind, k);
        assert_eq!(k.mapping().kind, k);
        assert_eq!(EvacuationKind::from_code(k.code()), Some(k));
    }
    let l4 = EvacuationKind::EvacuationOrder.mapping();
    assert_eq!((l4.event_ja, l4.event_en), ("避難指示", "Evacuation order"));
    let l5 = EvacuationKind::EmergencySafety.mapping();
    assert_eq!(
        (l5.severity, l5.certainty, l5.response_type),
        (Severity::Extreme, Certainty::Observed, &[ResponseType::Shelter][..])
    );
    assert_eq!(EvacuationKind::Lifted.mapping().response_type, [ResponseType::AllClear]);
    // Severity never decreases with the level.
    let sev = |k: EvacuationKind| Severity::ALL.iter().position(|s| *s == k.mapping().severity);
    assert!(sev(EvacuationKind::EmergencySafety) <= sev(EvacuationKind::EvacuationOrder));
    assert!(sev(EvacuationKind::EvacuationOrder) <= sev(EvacuationKind::ElderlyEvacuation));
}

fn opts() -> JapaneseAlertOptions {
    JapaneseAlertOptions {
        identifier: "kiryu-1".into(),
        sender: "bousai@kiryu.example".into(),
        sender_name_ja: "桐生市".into(),
        sender_name_en: "Kiryu City".into(),
        status: Status::Exercise,
        expires: None,
        hazard: Some(Category::Geo),
        description_ja: None,
        description_en: None,
        contact: None,
        web: None,
    }
}

#[test]
fn every_kind_builds_a_valid_bilingual_alert() {
    let sent = CapDateTime::parse("2026-09-01T06:00:00+09:00").expect("t");
    let area = TargetArea::municipality("10203", Some("Kiryu")).expect("桐生市");
    for kind in EvacuationKind::ALL {
        let a = japanese_alert(kind, std::slice::from_ref(&area), sent, &opts());
        validate(&a).unwrap_or_else(|p| panic!("{kind}: {p}"));
        assert_eq!(parse(&to_xml(&a)).expect("xml"), a);
        let m = kind.mapping();
        let [ja, en] = &a.info[..] else { panic!("two info blocks") };
        assert_eq!((ja.event.as_str(), en.event.as_str()), (m.event_ja, m.event_en));
        assert_eq!(ja.category, [Category::Safety, Category::Geo]);
        assert_eq!(ja.area[0].area_desc, "桐生市");
        assert_eq!(en.area[0].area_desc, "Kiryu");
        assert_eq!(ja.parameter(PARAM_WARNING_LEVEL).map(str::to_string), m.level.map(|l| l.to_string()));
        match m.level {
            Some(l) => assert!(ja.headline.as_deref().is_some_and(|h| h.starts_with(&format!("【警戒レベル{l}】")))),
            None => assert!(!ja.headline.as_deref().unwrap_or_default().contains("警戒レベル")),
        }
        assert_eq!(EvacuationDetail::from_info(en)[0].1.area_name, "桐生市");
    }
}

#[test]
fn evacuation_details_round_trip_through_parameters() {
    let d = EvacuationDetail {
        area_name: "草津町 草津".into(),
        area_name_kana: "くさつまち くさつ".into(),
        lg_code: "104264".into(),
        households: Some(12),
        persons: None,
    };
    let mut info = Info::new(Category::Safety, "x", Urgency::Past, Severity::Minor, Certainty::Observed);
    info.area = vec![Area::new("a"), Area::new("b")];
    info.parameter = d.to_parameters(1);
    assert_eq!(EvacuationDetail::from_info(&info), [(1, d)]);
}
