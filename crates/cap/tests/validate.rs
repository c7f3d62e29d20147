//! The rules beyond the schema.

use kizuna_cap::*;

fn t(s: &str) -> CapDateTime {
    CapDateTime::parse(s).expect("test date-time")
}

fn base() -> Alert {
    let mut info = Info::new(Category::Met, "Flood", Urgency::Immediate, Severity::Severe, Certainty::Likely);
    info.language = Some("ja-JP".into());
    let mut area = Area::new("前橋市");
    area.polygon.push(Polygon::closed(vec![Point::new(36.0, 139.0), Point::new(36.1, 139.0), Point::new(36.1, 139.1)]));
    area.circle.push(Circle { center: Point::new(36.39, 139.06), radius: 2.0 });
    area.geocode.push(ValueName::new("JP-LGCode", "102016"));
    info.area.push(area);
    Alert {
        identifier: "a-1".into(),
        sender: "city@example".into(),
        sent: t("2026-07-14T09:30:00+09:00"),
        status: Status::Actual,
        msg_type: MsgType::Alert,
        source: None,
        scope: Scope::Public,
        restriction: None,
        addresses: None,
        code: vec![],
        note: None,
        references: None,
        incidents: None,
        info: vec![info],
    }
}

fn problems_of(a: &Alert) -> Problems {
    validate(a).expect_err("expected problems")
}

fn has(p: &Problems, path: &str, needle: &str) {
    assert!(
        p.iter().any(|x| x.path == path && x.message.contains(needle)),
        "no problem at {path} containing {needle:?} in: {p}"
    );
}

#[test]
fn the_base_message_is_valid() {
    validate(&base()).expect("valid");
}

#[test]
fn identifiers_exclude_spaces_commas_and_restricted_characters() {
    for bad in ["", "a b", "a,b", "a<b", "a&b", "a\tb"] {
        let mut a = base();
        a.identifier = bad.into();
        a.sender = bad.into();
        let p = problems_of(&a);
        has(&p, "alert/identifier", "must not be empty or contain");
        has(&p, "alert/sender", "must not be empty or contain");
    }
}

#[test]
fn scope_restricted_and_private_need_their_element() {
    let mut a = base();
    a.scope = Scope::Restricted;
    has(&problems_of(&a), "alert/restriction", "required when <scope> is Restricted");
    a.restriction = Some("staff only".into());
    validate(&a).expect("valid");
    a.scope = Scope::Private;
    has(&problems_of(&a), "alert/addresses", "required when <scope> is Private");
    a.addresses = Some("medium-1 medium-2".into());
    validate(&a).expect("valid");
}

#[test]
fn update_and_cancel_need_references_that_exist() {
    for mt in [MsgType::Update, MsgType::Cancel, MsgType::Ack, MsgType::Error] {
        let mut a = base();
        a.msg_type = mt;
        has(&problems_of(&a), "alert/references", "required when <msgType>");
    }
    let earlier = base();
    let mut up = base();
    up.identifier = "a-2".into();
    up.sent = t("2026-07-14T10:00:00+09:00");
    up.msg_type = MsgType::Update;
    up.references = Some(earlier.reference().to_string());
    validate(&up).expect("valid without a lookup");
    validate_with(&up, |r| *r == earlier.reference()).expect("the referenced message exists");
    let p = validate_with(&up, |_| false).expect_err("unknown reference");
    has(&p, "alert/references", "city@example,a-1,2026-07-14T09:30:00+09:00: no such message");
}

#[test]
fn references_syntax_is_checked() {
    let mut a = base();
    a.msg_type = MsgType::Cancel;
    for (bad, why) in [
        ("city@example,a-0", "is not sender,identifier,sent"),
        ("city@example,a-0,2026-07-14T09:00:00Z", "not a CAP date-time"),
        ("city@example,a-0,2026-07-14T09:00:00+09:00,x", "is not sender,identifier,sent"),
        ("city@example,,2026-07-14T09:00:00+09:00", "identifier is empty"),
        ("   ", "no sender,identifier,sent"),
        ("city@example,a-1,2026-07-14T09:00:00+09:00", "is this message itself"),
        ("city@example,a-0,2026-07-14T10:00:00+09:00", "was sent after this message"),
    ] {
        a.references = Some(bad.into());
        has(&problems_of(&a), "alert/references", why);
    }
    // Several triples, any whitespace between them.
    a.references =
        Some("city@example,a-0,2026-07-14T09:00:00+09:00\n  other@example,x,2026-07-13T09:00:00-00:00".into());
    validate(&a).expect("valid");
    assert_eq!(a.referenced().expect("parsed").len(), 2);
}

#[test]
fn alert_and_update_need_info_cancel_does_not() {
    let mut a = base();
    a.info.clear();
    has(&problems_of(&a), "alert/info[0]", "needs at least one <info>");
    a.msg_type = MsgType::Cancel;
    a.references = Some("city@example,a-0,2026-07-14T09:00:00+09:00".into());
    validate(&a).expect("a Cancel may have no info");
}

#[test]
fn expires_must_follow_sent_and_effective() {
    let mut a = base();
    a.info[0].expires = Some(t("2026-07-14T09:30:00+09:00"));
    has(&problems_of(&a), "alert/info[0]/expires", "is not after <sent>");
    a.info[0].expires = Some(t("2026-07-14T10:00:00+09:00"));
    a.info[0].effective = Some(t("2026-07-14T11:00:00+09:00"));
    has(&problems_of(&a), "alert/info[0]/expires", "is not after <effective>");
    // The same instant in another offset compares as the same instant.
    a.info[0].effective = None;
    a.info[0].expires = Some(t("2026-07-14T00:30:01-00:00"));
    validate(&a).expect("one second after sent");
}

#[test]
fn language_category_event_web() {
    let mut a = base();
    a.info[0].language = Some("日本語".into());
    a.info[0].category.clear();
    a.info[0].event = "  ".into();
    a.info[0].web = Some("www.example.org/page".into());
    let p = problems_of(&a);
    has(&p, "alert/info[0]/language", "not an RFC 3066 language tag");
    has(&p, "alert/info[0]/category[0]", "at least one <category>");
    has(&p, "alert/info[0]/event", "must not be empty");
    has(&p, "alert/info[0]/web", "not a full absolute URI");
    assert_eq!(p.len(), 4, "{p}");
    for ok in ["ja", "ja-JP", "en-US", "zh-Hant-TW", "x-kizuna"] {
        let mut a = base();
        a.info[0].language = Some(ok.into());
        validate(&a).unwrap_or_else(|p| panic!("{ok}: {p}"));
    }
}

#[test]
fn polygons_need_four_closed_points_in_range() {
    let mut a = base();
    a.info[0].area[0].polygon = vec![
        Polygon(vec![Point::new(36.0, 139.0), Point::new(36.1, 139.0), Point::new(36.0, 139.0)]),
        Polygon(vec![
            Point::new(36.0, 139.0),
            Point::new(36.1, 139.0),
            Point::new(36.1, 139.1),
            Point::new(36.2, 139.1),
        ]),
        Polygon::closed(vec![Point::new(91.0, 139.0), Point::new(36.1, 181.0), Point::new(36.1, 139.1)]),
    ];
    let p = problems_of(&a);
    has(&p, "alert/info[0]/area[0]/polygon[0]", "needs at least 4 coordinate pairs, has 3");
    has(&p, "alert/info[0]/area[0]/polygon[1]", "first and last points differ");
    has(&p, "alert/info[0]/area[0]/polygon[2]", "latitude 91 is not within -90..90");
    has(&p, "alert/info[0]/area[0]/polygon[2]", "longitude 181 is not within -180..180");
}

#[test]
fn circles_and_altitudes() {
    let mut a = base();
    a.info[0].area[0].circle = vec![Circle { center: Point::new(36.0, 200.0), radius: -1.0 }];
    a.info[0].area[0].ceiling = Some(100.0);
    let p = problems_of(&a);
    has(&p, "alert/info[0]/area[0]/circle[0]", "radius -1 km must be 0 or more");
    has(&p, "alert/info[0]/area[0]/circle[0]", "centre: longitude 200");
    has(&p, "alert/info[0]/area[0]/ceiling", "only be used with <altitude>");
    a.info[0].area[0].circle[0] = Circle { center: Point::new(36.0, 139.0), radius: 0.0 };
    a.info[0].area[0].altitude = Some(200.0);
    has(&problems_of(&a), "alert/info[0]/area[0]/ceiling", "below <altitude>");
    a.info[0].area[0].ceiling = Some(300.0);
    validate(&a).expect("valid");
}

#[test]
fn kizuna_value_names_are_checked() {
    let mut a = base();
    a.info[0].area[0].geocode =
        vec![ValueName::new("JP-LGCode", "102017"), ValueName::new("JP-LGCode", "10201"), ValueName::new("", "x")];
    a.info[0].parameter = vec![ValueName::new("JP-WarningLevel", "6")];
    let p = problems_of(&a);
    has(&p, "alert/info[0]/area[0]/geocode[0]/value", "the check digit should be 6");
    has(&p, "alert/info[0]/area[0]/geocode[1]/value", "not a 6-digit");
    has(&p, "alert/info[0]/area[0]/geocode[2]/valueName", "must not be empty");
    has(&p, "alert/info[0]/parameter[0]/value", "JP-WarningLevel must be 1 to 5");
}

#[test]
fn resources() {
    let mut a = base();
    a.info[0].resource.push(Resource {
        resource_desc: "".into(),
        mime_type: "png".into(),
        size: Some(1),
        uri: Some("map.png".into()),
        deref_uri: None,
        digest: Some("abc".into()),
    });
    let p = problems_of(&a);
    has(&p, "alert/info[0]/resource[0]/resourceDesc", "must not be empty");
    has(&p, "alert/info[0]/resource[0]/mimeType", "not a MIME type");
    has(&p, "alert/info[0]/resource[0]/uri", "not a full absolute URI");
    has(&p, "alert/info[0]/resource[0]/digest", "SHA-1");
    a.info[0].resource[0] = Resource {
        resource_desc: "map".into(),
        mime_type: "image/png".into(),
        size: None,
        uri: Some("map.png".into()),
        deref_uri: Some("iVBORw0KGgo=".into()),
        digest: Some("da39a3ee5e6b4b0d3255bfef95601890afd80709".into()),
    };
    validate(&a).expect("a relative uri naming derefUri content is fine");
}

#[test]
fn text_must_be_xml_characters() {
    let mut a = base();
    a.note = Some("bell\u{7}".into());
    a.info[0].headline = Some("nul\u{0}".into());
    let p = problems_of(&a);
    has(&p, "alert/note", "U+0007");
    has(&p, "alert/info[0]/headline", "U+0000");
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let mut a = base();
    a.identifier = "bad id".into();
    a.scope = Scope::Private;
    a.info[0].event = String::new();
    a.info[0].area[0].polygon[0].0.pop();
    let p = problems_of(&a);
    assert!(p.len() >= 4, "{p}");
    let text = p.to_string();
    assert!(text.contains("alert/identifier: ") && text.contains("; alert/addresses: "), "{text}");
}

#[test]
fn date_time_values_are_representable_by_construction() {
    use chrono::{FixedOffset, TimeZone};
    let tz = FixedOffset::east_opt(9 * 3600).expect("offset");
    let dt = tz.with_ymd_and_hms(2026, 7, 14, 9, 30, 0).single().expect("time") + chrono::Duration::milliseconds(750);
    let c = CapDateTime::from_datetime(dt).expect("truncated");
    assert_eq!(c.to_string(), "2026-07-14T09:30:00+09:00");
    let odd = FixedOffset::east_opt(9 * 3600 + 30).expect("offset");
    assert!(CapDateTime::from_datetime(odd.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().expect("t")).is_err());
    // Equal instants in different offsets are different CAP values.
    assert_ne!(t("2026-07-14T09:30:00+09:00"), t("2026-07-14T00:30:00-00:00"));
}
