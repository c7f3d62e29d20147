//! The example messages in tests/data: the 前橋市 level-4 evacuation order, its Update and its
//! Cancel. The files are exactly what Kizuna emits for them, and they read back to the same
//! model.

use std::collections::HashSet;
use std::path::Path;

use kizuna_cap::japan::{EvacuationDetail, EvacuationKind};
use kizuna_cap::samples::maebashi_chain;
use kizuna_cap::*;

fn data(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn files_are_the_canonical_output_and_read_back() {
    for (name, alert) in maebashi_chain() {
        validate(&alert).unwrap_or_else(|p| panic!("{name}: {p}"));
        let file = data(name);
        assert_eq!(to_xml(&alert), file, "{name} differs from what Kizuna emits (regenerate with the emit example)");
        assert_eq!(parse(&file).unwrap_or_else(|p| panic!("{name}: {p}")), alert, "{name}");
    }
}

#[test]
fn the_chain_references_existing_messages() {
    let mut known: HashSet<String> = HashSet::new();
    for (name, alert) in maebashi_chain() {
        let xml = to_xml(&alert);
        let parsed = parse_with(&xml, |r| known.contains(&r.to_string())).unwrap_or_else(|p| panic!("{name}: {p}"));
        known.insert(parsed.reference().to_string());
    }
    // Out of order, the Cancel refers to messages nobody has seen.
    let (_, cancel) = &maebashi_chain()[2];
    let p = parse_with(&to_xml(cancel), |_| false).expect_err("unknown references");
    assert_eq!(p.len(), 2, "{p}");
    assert!(p.iter().all(|x| x.path == "alert/references" && x.message.ends_with("no such message")));
}

#[test]
fn the_alert_is_a_bilingual_level_4_evacuation_order_with_a_polygon() {
    let (_, a) = &maebashi_chain()[0];
    assert_eq!(a.msg_type, MsgType::Alert);
    assert_eq!(a.scope, Scope::Public);
    let langs: Vec<&str> = a.info.iter().map(Info::language_or_default).collect();
    assert_eq!(langs, ["ja-JP", "en-US"]);
    assert_eq!(a.info[0].event, "避難指示");
    assert_eq!(a.info[1].event, "Evacuation order");
    for info in &a.info {
        assert_eq!(info.parameter("JP-WarningLevel"), Some("4"));
        assert_eq!(info.category, [Category::Safety, Category::Met]);
        assert_eq!(info.response_type, [ResponseType::Evacuate]);
        assert_eq!(
            (info.urgency, info.severity, info.certainty),
            (Urgency::Immediate, Severity::Severe, Certainty::Likely)
        );
        assert_eq!(info.event_code, [ValueName::new("JP-EvacuationKind", "EvacuationOrder")]);
        let area = &info.area[0];
        assert_eq!(area.geocode, [ValueName::new("JP-LGCode", "102016")]);
        let ring = area.polygon[0].points();
        assert!(ring.len() >= 4 && ring.first() == ring.last());
    }
    let details = EvacuationDetail::from_info(&a.info[0]);
    assert_eq!(details.len(), 1);
    assert_eq!(details[0].1.lg_code, "102016");
    assert_eq!(details[0].1.households, Some(1240));
    assert_eq!(details[0].1.persons, Some(2870));
    assert!(details[0].1.area_name_kana.starts_with("まえばしし"));
}

#[test]
fn update_and_cancel_follow_the_alert() {
    let chain = maebashi_chain();
    let (alert, update, cancel) = (&chain[0].1, &chain[1].1, &chain[2].1);
    assert_eq!(update.msg_type, MsgType::Update);
    assert_eq!(update.referenced().expect("refs"), [alert.reference()]);
    assert_eq!(update.info[0].area.len(), 2);
    assert_eq!(cancel.msg_type, MsgType::Cancel);
    assert_eq!(cancel.referenced().expect("refs"), [alert.reference(), update.reference()]);
    assert!(cancel.info.iter().all(|i| i.response_type == [ResponseType::AllClear] && i.urgency == Urgency::Past));
    assert!(cancel.sent.datetime() > update.sent.datetime() && update.sent.datetime() > alert.sent.datetime());
    assert_eq!(EvacuationKind::from_code(&update.info[1].event_code[0].value), Some(EvacuationKind::EvacuationOrder));
}

#[test]
fn json_uses_cap_names_and_round_trips() {
    for (name, alert) in maebashi_chain() {
        let json = serde_json::to_value(&alert).expect("json");
        for key in ["identifier", "sender", "sent", "status", "msgType", "scope", "info"] {
            assert!(json.get(key).is_some(), "{name}: {key}");
        }
        let info = &json["info"][0];
        assert_eq!(info["language"], "ja-JP");
        assert!(
            info.get("responseType").is_some() && info.get("senderName").is_some() && info.get("eventCode").is_some()
        );
        assert!(info["area"][0]["areaDesc"].is_string());
        assert_eq!(info["area"][0]["geocode"][0]["valueName"], "JP-LGCode");
        assert_eq!(json["sent"], alert.sent.to_string());
        let back: Alert = serde_json::from_value(json).expect("back");
        assert_eq!(back, alert, "{name}");
    }
    let (_, a) = &maebashi_chain()[0];
    let polygon = serde_json::to_value(&a.info[0].area[0].polygon[0]).expect("json");
    assert_eq!(polygon, a.info[0].area[0].polygon[0].to_string());
}

#[test]
fn json_refuses_what_cap_refuses() {
    let (_, a) = &maebashi_chain()[0];
    let good = serde_json::to_value(a).expect("json");
    for (pointer, bad) in [
        ("/sent", serde_json::json!("2026-07-14T00:30:00Z")),
        ("/status", serde_json::json!("Real")),
        ("/info/0/area/0/polygon/0", serde_json::json!("36,139 x")),
    ] {
        let mut v = good.clone();
        *v.pointer_mut(pointer).expect("pointer") = bad;
        assert!(serde_json::from_value::<Alert>(v).is_err(), "{pointer}");
    }
    let mut v = good.clone();
    v["colour"] = serde_json::json!("red");
    assert!(serde_json::from_value::<Alert>(v).is_err(), "unknown field");
}
