//! Tests of the NGSI-LD Subscription model (ETSI GS CIM 009 V1.8 §5.2.12, §5.2.14,
//! §5.2.15): parsing (valid forms and a table of invalid ones with their exact error
//! kinds and messages), rendering round trips (client context and storage form), PATCH
//! merging, entity selection, the trigger decision for creations, updates and deletions,
//! and the notification projection and rendering.

use kizuna_ngsild::entity::{parse_entity, Format};
use kizuna_ngsild::subscription::{parse_type_selection, Accept, Subscription, Trigger, TypeSelection};
use kizuna_ngsild::{Context, Entity, ErrorKind};
use serde_json::{json, Value};

const DEF: &str = "https://uri.etsi.org/ngsi-ld/default-context/";
const SCHEMA: &str = "https://schema.org/";

/// A user context mapping `temperature` and `Car` to schema.org.
fn user_ctx() -> Context {
    Context::build(
        Some(&json!({"temperature": "https://schema.org/temperature", "Car": "https://schema.org/Car"})),
        &|_| None,
    )
    .expect("valid context")
}

fn core() -> Context {
    Context::core()
}

fn base() -> Value {
    json!({
        "id": "urn:ngsi-ld:Subscription:1",
        "type": "Subscription",
        "entities": [{"type": "Car"}],
        "notification": {"endpoint": {"uri": "http://localhost:1234/notify"}}
    })
}

fn full() -> Value {
    json!({
        "id": "urn:ngsi-ld:Subscription:full",
        "type": "Subscription",
        "subscriptionName": "cars",
        "description": "hot cars near Maebashi",
        "entities": [
            {"type": "Car", "idPattern": "^urn:car:"},
            {"id": "urn:bus:1", "type": "(Bus;Vehicle)|Tram"}
        ],
        "watchedAttributes": ["temperature", "speed"],
        "notificationTrigger": ["attributeUpdated", "entityCreated"],
        "q": "temperature>20;speed<100",
        "geoQ": {"georel": "near;maxDistance==2000", "geometry": "Point", "coordinates": [139.06, 36.39]},
        "isActive": false,
        "expiresAt": "2999-01-01T00:00:00Z",
        "throttling": 5,
        "lang": "ja",
        "notification": {
            "attributes": ["temperature"],
            "format": "keyValues",
            "sysAttrs": true,
            "showChanges": true,
            "endpoint": {
                "uri": "https://example.org/notify",
                "accept": "application/ld+json",
                "receiverInfo": [{"key": "Authorization", "value": "Bearer x"}],
                "notifierInfo": [{"key": "MQTT-QoS", "value": "1"}]
            }
        },
        "jsonldContext": "https://example.org/ctx.jsonld"
    })
}

/// `v` with each dotted path set to the value, or removed when the value is `null`.
fn with(mut v: Value, changes: &[(&str, Value)]) -> Value {
    for (path, new) in changes {
        let parts: Vec<&str> = path.split('.').collect();
        let mut cur = &mut v;
        for p in &parts[..parts.len() - 1] {
            cur = cur.get_mut(*p).expect("path exists");
        }
        let obj = cur.as_object_mut().expect("object");
        let last = parts[parts.len() - 1];
        if new.is_null() {
            obj.remove(last);
        } else {
            obj.insert(last.to_string(), new.clone());
        }
    }
    v
}

fn parse(v: &Value) -> Subscription {
    Subscription::parse(v, &user_ctx(), "urn:generated:1").unwrap_or_else(|e| panic!("{v} should parse: {e}"))
}

fn entity(v: Value) -> Entity {
    parse_entity(&v, &user_ctx()).expect("valid entity")
}

#[test]
fn parse_minimal_applies_defaults() {
    let s = parse(&with(base(), &[("id", Value::Null)]));
    assert_eq!(s.id, "urn:generated:1");
    assert_eq!(s.entities.len(), 1);
    assert_eq!(s.entities[0].types, TypeSelection::single(format!("{SCHEMA}Car")));
    assert!(s.watched_attributes.is_empty());
    assert_eq!(s.notification_trigger, vec![Trigger::AttributeCreated, Trigger::AttributeUpdated]);
    assert!(s.is_active);
    assert_eq!(s.time_interval, None);
    assert_eq!(s.notification.format, Format::Normalized);
    assert_eq!(s.notification.endpoint.accept, Accept::Json);
    assert!(!s.notification.sys_attrs && !s.notification.show_changes);
    assert!(s.notification.attributes.is_empty());
    assert_eq!((s.created_at.as_deref(), s.jsonld_context.as_deref()), (None, None));
}

#[test]
fn parse_full_subscription() {
    let s = parse(&full());
    assert_eq!(s.name.as_deref(), Some("cars"));
    assert_eq!(s.entities[0].id_pattern.as_ref().map(|p| p.as_str()), Some("^urn:car:"));
    assert_eq!(
        s.entities[1].types.0,
        vec![vec![format!("{DEF}Bus"), format!("{DEF}Vehicle")], vec![format!("{DEF}Tram")]]
    );
    assert_eq!(s.watched_attributes, vec![format!("{SCHEMA}temperature"), format!("{DEF}speed")]);
    assert_eq!(s.notification_trigger, vec![Trigger::AttributeUpdated, Trigger::EntityCreated]);
    let q = s.q.as_ref().expect("q");
    assert_eq!(q.text, "temperature>20;speed<100");
    assert_eq!(q.query.attribute_names(), vec![format!("{SCHEMA}temperature").as_str(), &format!("{DEF}speed")]);
    assert_eq!(s.geo_q.as_ref().expect("geoQ").property, "https://uri.etsi.org/ngsi-ld/location");
    assert!(!s.is_active);
    assert_eq!(s.throttling, Some(5));
    assert_eq!(s.lang.as_deref(), Some("ja"));
    assert_eq!(s.notification.attributes, vec![format!("{SCHEMA}temperature")]);
    assert_eq!(s.notification.format, Format::KeyValues);
    assert!(s.notification.sys_attrs && s.notification.show_changes);
    assert_eq!(s.notification.endpoint.accept, Accept::JsonLd);
    assert_eq!(s.notification.endpoint.receiver_info, vec![("Authorization".into(), "Bearer x".into())]);
    assert_eq!(s.notification.endpoint.notifier_info, vec![("MQTT-QoS".into(), "1".into())]);
    assert_eq!(s.jsonld_context.as_deref(), Some("https://example.org/ctx.jsonld"));
}

#[test]
fn parse_accepts_other_valid_forms() {
    let cases: Vec<Value> = vec![
        // watchedAttributes alone, without entities.
        with(base(), &[("entities", Value::Null), ("watchedAttributes", json!(["temperature"]))]),
        // Periodic.
        with(base(), &[("timeInterval", json!(60))]),
        with(base(), &[("timeInterval", json!(60.0))]),
        // Type selection forms.
        with(base(), &[("entities", json!([{"type": "Car,Bus"}]))]),
        with(base(), &[("entities", json!([{"type": "(Car;Bus)|Tram"}]))]),
        // Status members are system-generated: ignored.
        with(
            base(),
            &[
                ("status", json!("active")),
                ("createdAt", json!("2020-01-01T00:00:00Z")),
                ("@context", json!("https://example.org/ctx.jsonld")),
                ("notification.timesSent", json!(3)),
                ("notification.status", json!("ok")),
                ("notification.lastNotification", json!("2020-01-01T00:00:00Z")),
            ],
        ),
        // Legacy `name`.
        with(base(), &[("name", json!("legacy"))]),
        // MQTT endpoints.
        with(base(), &[("notification.endpoint.uri", json!("mqtts://broker:8883/topic"))]),
        with(base(), &[("notification.endpoint.uri", json!("MQTT://broker/topic"))]),
        with(base(), &[("notification.format", json!("concise")), ("throttling", json!(0))]),
        with(base(), &[("notificationTrigger", json!(["entityDeleted", "entityDeleted"]))]),
    ];
    for c in &cases {
        parse(c);
    }
    let s = parse(&with(base(), &[("timeInterval", json!(60))]));
    assert!(s.is_periodic() && s.notification_trigger.is_empty());
    let s = parse(&with(base(), &[("notificationTrigger", json!(["entityDeleted", "entityDeleted"]))]));
    assert_eq!(s.notification_trigger, vec![Trigger::EntityDeleted]);
    let s = parse(&with(base(), &[("createdAt", json!("2020-01-01T00:00:00Z"))]));
    assert_eq!(s.created_at, None);
    assert_eq!(parse(&with(base(), &[("throttling", json!(0))])).throttling, None);
}

#[test]
fn parse_rejects_invalid_subscriptions() {
    use ErrorKind::{BadRequestData as Bad, OperationNotSupported as NotSup};
    let cases: Vec<(Value, ErrorKind, &str)> = vec![
        (json!([1]), Bad, "a subscription must be a JSON object"),
        (with(base(), &[("type", Value::Null)]), Bad, "has no 'type'"),
        (with(base(), &[("type", json!("Subscriptions"))]), Bad, "'type' must be \"Subscription\""),
        (with(base(), &[("id", json!("not a uri"))]), Bad, "the subscription id 'not a uri' is not a URI"),
        (with(base(), &[("id", json!(5))]), Bad, "the subscription 'id' must be a string"),
        (with(base(), &[("foo", json!(1))]), Bad, "unknown member 'foo' in the subscription"),
        (with(base(), &[("qNames", json!({}))]), Bad, "unknown member 'qNames'"),
        (with(base(), &[("scopeQ", json!("/a"))]), NotSup, "'scopeQ' is not supported"),
        (with(base(), &[("entities", Value::Null)]), Bad, "needs 'entities' or 'watchedAttributes'"),
        (with(base(), &[("entities", json!([]))]), Bad, "'entities' must not be empty"),
        (with(base(), &[("entities", json!({"type": "Car"}))]), Bad, "'entities' must be an array"),
        (with(base(), &[("entities", json!([{"id": "urn:a:1"}]))]), Bad, "'entities[0]' has no 'type'"),
        (with(base(), &[("entities", json!(["Car"]))]), Bad, "'entities[0]' must be an object"),
        (with(base(), &[("entities", json!([{"type": "Car", "x": 1}]))]), Bad, "unknown member 'x' in 'entities[0]'"),
        (with(base(), &[("entities", json!([{"type": "Car", "id": "nope"}]))]), Bad, "'entities[0].id': 'nope'"),
        (
            with(base(), &[("entities", json!([{"type": "Car"}, {"type": "Car", "idPattern": "(["}]))]),
            Bad,
            "'entities[1].idPattern' is not a valid regular expression",
        ),
        (with(base(), &[("entities", json!([{"type": "(Car"}]))]), Bad, "'entities[0].type': type selection: missing ')'"),
        (with(base(), &[("entities", json!([{"type": "Car,"}]))]), Bad, "expected a type name at position 4"),
        (with(base(), &[("entities", json!([{"type": 3}]))]), Bad, "'entities[0].type' must be a string"),
        (with(base(), &[("watchedAttributes", json!([]))]), Bad, "'watchedAttributes' must not be empty"),
        (with(base(), &[("watchedAttributes", json!(["a b"]))]), Bad, "'watchedAttributes': the attribute name 'a b'"),
        (with(base(), &[("watchedAttributes", json!("a"))]), Bad, "'watchedAttributes' must be an array"),
        (
            with(base(), &[("notificationTrigger", json!(["attributeChanged"]))]),
            Bad,
            "unknown notificationTrigger 'attributeChanged'; expected one of entityCreated",
        ),
        (with(base(), &[("notificationTrigger", json!([]))]), Bad, "'notificationTrigger' must not be empty"),
        (with(base(), &[("timeInterval", json!(0))]), Bad, "'timeInterval' must be greater than 0"),
        (with(base(), &[("timeInterval", json!(-5))]), Bad, "'timeInterval' must not be negative"),
        (with(base(), &[("timeInterval", json!(1.5))]), Bad, "'timeInterval' must be a whole number of seconds"),
        (with(base(), &[("timeInterval", json!("10"))]), Bad, "'timeInterval' must be a number"),
        (
            with(base(), &[("timeInterval", json!(10)), ("watchedAttributes", json!(["speed"]))]),
            Bad,
            "'timeInterval' and 'watchedAttributes' are mutually exclusive",
        ),
        (
            with(base(), &[("timeInterval", json!(10)), ("notificationTrigger", json!(["entityCreated"]))]),
            Bad,
            "'timeInterval' and 'notificationTrigger' are mutually exclusive",
        ),
        (
            with(base(), &[("timeInterval", json!(10)), ("throttling", json!(30))]),
            Bad,
            "'timeInterval' and 'throttling' are mutually exclusive",
        ),
        (
            with(base(), &[("timeInterval", json!(10)), ("entities", Value::Null)]),
            Bad,
            "a periodic subscription ('timeInterval') needs 'entities'",
        ),
        (with(base(), &[("throttling", json!(-1))]), Bad, "'throttling' must not be negative"),
        (with(base(), &[("q", json!("speed>"))]), Bad, "q: "),
        (with(base(), &[("q", json!(5))]), Bad, "'q' must be a string"),
        (with(base(), &[("geoQ", json!({"georel": "within", "geometry": "Point"}))]), Bad, "geoQ needs 'coordinates'"),
        (
            with(base(), &[("geoQ", json!({"georel": "nearby", "geometry": "Point", "coordinates": [1, 2]}))]),
            Bad,
            "geoQ: ",
        ),
        (
            with(base(), &[("geoQ", json!({"georel": "within", "geometry": "Point", "coordinates": [1, 2], "x": 1}))]),
            Bad,
            "unknown member 'x' in 'geoQ'",
        ),
        (with(base(), &[("isActive", json!("yes"))]), Bad, "'isActive' must be true or false"),
        (with(base(), &[("expiresAt", json!("tomorrow"))]), Bad, "'expiresAt' is not an RFC 3339 date-time"),
        (with(base(), &[("expiresAt", json!("2000-01-01T00:00:00Z"))]), Bad, "'expiresAt' (2000-01-01T00:00:00Z) is not in the future"),
        (with(base(), &[("lang", json!(""))]), Bad, "'lang' must be a language tag"),
        (with(base(), &[("jsonldContext", json!("ctx.jsonld"))]), Bad, "'jsonldContext' must be a URI"),
        (with(base(), &[("subscriptionName", json!(1))]), Bad, "'subscriptionName' must be a string"),
        (with(base(), &[("notification", Value::Null)]), Bad, "the subscription has no 'notification'"),
        (with(base(), &[("notification", json!("x"))]), Bad, "'notification' must be an object"),
        (with(base(), &[("notification.foo", json!(1))]), Bad, "unknown member 'foo' in 'notification'"),
        (with(base(), &[("notification.endpoint", Value::Null)]), Bad, "'notification' has no 'endpoint'"),
        (with(base(), &[("notification.endpoint.uri", Value::Null)]), Bad, "'notification.endpoint' has no 'uri'"),
        (
            with(base(), &[("notification.endpoint.uri", json!("ftp://host/x"))]),
            Bad,
            "'notification.endpoint.uri' must be an absolute URI with scheme http, https, mqtt, mqtts (got 'ftp://host/x')",
        ),
        (with(base(), &[("notification.endpoint.uri", json!("/notify"))]), Bad, "'notification.endpoint.uri' must be"),
        (with(base(), &[("notification.endpoint.uri", json!("http:///x"))]), Bad, "'notification.endpoint.uri' must be"),
        (with(base(), &[("notification.endpoint.uri", json!("http://a b/"))]), Bad, "'notification.endpoint.uri' must be"),
        (
            with(base(), &[("notification.endpoint.accept", json!("text/plain"))]),
            Bad,
            "'notification.endpoint.accept' must be \"application/json\" or \"application/ld+json\"",
        ),
        (with(base(), &[("notification.endpoint.timeout", json!(5))]), NotSup, "'notification.endpoint.timeout' is not supported"),
        (with(base(), &[("notification.endpoint.x", json!(5))]), Bad, "unknown member 'x' in 'notification.endpoint'"),
        (
            with(base(), &[("notification.endpoint.receiverInfo", json!([{"key": "A"}]))]),
            Bad,
            "'notification.endpoint.receiverInfo[0]' must be an object with string members 'key' and 'value'",
        ),
        (
            with(base(), &[("notification.endpoint.receiverInfo", json!({"key": "A", "value": "b"}))]),
            Bad,
            "'notification.endpoint.receiverInfo' must be an array",
        ),
        (
            with(base(), &[("notification.endpoint.receiverInfo", json!([{"key": "A B", "value": "b"}]))]),
            Bad,
            "'notification.endpoint.receiverInfo[0].key' ('A B') is not a valid key",
        ),
        (
            with(base(), &[("notification.endpoint.notifierInfo", json!([{"key": "A", "value": "b\r\nX: y"}]))]),
            Bad,
            "'notification.endpoint.notifierInfo[0].value' contains a control character",
        ),
        (
            with(base(), &[("notification.format", json!("simplified"))]),
            Bad,
            "'notification.format' must be normalized, keyValues or concise (got 'simplified')",
        ),
        (with(base(), &[("notification.sysAttrs", json!("true"))]), Bad, "'notification.sysAttrs' must be true or false"),
        (with(base(), &[("notification.attributes", json!([1]))]), Bad, "'notification.attributes' must be an array"),
    ];
    for (body, kind, msg) in &cases {
        match Subscription::parse(body, &user_ctx(), "urn:generated:1") {
            Ok(_) => panic!("{body} should be rejected ({msg})"),
            Err(e) => {
                assert_eq!(e.kind, *kind, "{body}: {}", e.detail);
                assert!(e.detail.contains(msg), "{body}:\n  got      {}\n  expected {msg}", e.detail);
            }
        }
    }
}

#[test]
fn round_trip_with_the_client_context() {
    for body in [full(), base(), with(base(), &[("timeInterval", json!(30))])] {
        let s = parse(&body);
        let rendered = Value::Object(s.to_json(&user_ctx()));
        let again = parse(&rendered);
        assert_eq!(s, again, "{rendered}");
    }
    let s = parse(&full());
    let out = s.to_json(&user_ctx());
    assert_eq!(
        out["entities"],
        json!([{"idPattern": "^urn:car:", "type": "Car"}, {"id": "urn:bus:1", "type": "(Bus;Vehicle)|Tram"}])
    );
    assert_eq!(out["watchedAttributes"], json!(["temperature", "speed"]));
    assert_eq!(out["q"], json!("temperature>20;speed<100"));
    assert_eq!(out["geoQ"]["geoproperty"], json!("location"));
    assert_eq!(out["notificationTrigger"], json!(["attributeUpdated", "entityCreated"]));
    assert_eq!(out["subscriptionName"], json!("cars"));
    assert_eq!(
        out["notification"],
        json!({
            "attributes": ["temperature"], "format": "keyValues",
            "endpoint": {"uri": "https://example.org/notify", "accept": "application/ld+json",
                         "receiverInfo": [{"key": "Authorization", "value": "Bearer x"}],
                         "notifierInfo": [{"key": "MQTT-QoS", "value": "1"}]},
            "sysAttrs": true, "showChanges": true
        })
    );
    let keys: Vec<&str> = out.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "id",
            "type",
            "subscriptionName",
            "description",
            "entities",
            "watchedAttributes",
            "notificationTrigger",
            "q",
            "geoQ",
            "isActive",
            "expiresAt",
            "throttling",
            "lang",
            "notification",
            "jsonldContext"
        ]
    );
    // With the core context the user's terms come out as IRIs.
    let out = s.to_json(&core());
    assert_eq!(out["watchedAttributes"], json!(["https://schema.org/temperature", "speed"]));
    assert_eq!(out["entities"][0]["type"], json!("https://schema.org/Car"));
}

#[test]
fn storage_form_restores_exactly() {
    let mut s = parse(&full());
    s.created_at = Some("2024-01-01T00:00:00.000Z".into());
    s.modified_at = Some("2024-01-02T00:00:00.000Z".into());
    let stored = Value::Object(s.to_storage_json());
    // `temperature` means schema.org here, which the core context cannot say in `q`.
    assert_eq!(stored["qNames"], json!({"temperature": "https://schema.org/temperature"}));
    let back = Subscription::restore(&stored, &core(), "urn:other").expect("restores");
    assert_eq!(back, s);
    // Without user terms in q there is no qNames.
    let plain = parse(&with(base(), &[("q", json!("speed>1"))]));
    assert!(!plain.to_storage_json().contains_key("qNames"));
}

#[test]
fn restore_accepts_expired_and_keeps_timestamps() {
    let mut s = parse(&base());
    s.expires_at = Some("2001-01-01T00:00:00Z".into());
    s.created_at = Some("2000-01-01T00:00:00Z".into());
    let v = Value::Object(s.to_json(&user_ctx()));
    assert!(Subscription::parse(&v, &user_ctx(), "x:y").is_err());
    let back = Subscription::restore(&v, &user_ctx(), "x:y").expect("restores");
    assert_eq!(back, s);
}

#[test]
fn merge_patch_replaces_merges_and_validates() {
    let ctx = user_ctx();
    let mut s = parse(&full());
    s.created_at = Some("2024-01-01T00:00:00Z".into());
    let original = s.clone();

    // Plain members replace; notification merges member by member.
    s.merge_patch(
        &json!({"description": "changed", "q": "speed>1", "notification": {"format": "concise", "attributes": null}}),
        &ctx,
    )
    .expect("valid patch");
    assert_eq!(s.description.as_deref(), Some("changed"));
    assert_eq!(s.q.as_ref().map(|q| q.text.as_str()), Some("speed>1"));
    assert_eq!(s.notification.format, Format::Concise);
    assert!(s.notification.attributes.is_empty());
    assert_eq!(s.notification.endpoint, original.notification.endpoint);
    assert_eq!(s.entities, original.entities);
    assert_eq!(
        (s.id.as_str(), s.created_at.as_deref()),
        ("urn:ngsi-ld:Subscription:full", Some("2024-01-01T00:00:00Z"))
    );

    // The endpoint is replaced whole: receiverInfo does not follow a new uri.
    s.merge_patch(&json!({"notification": {"endpoint": {"uri": "http://other/x"}}}), &ctx).expect("valid");
    assert!(s.notification.endpoint.receiver_info.is_empty());
    assert_eq!(s.notification.endpoint.accept, Accept::Json);

    // null removes.
    s.merge_patch(&json!({"q": null, "throttling": "urn:ngsi-ld:null", "geoQ": null}), &ctx).expect("valid");
    assert_eq!((s.q.is_none(), s.throttling, s.geo_q.is_none()), (true, None, true));

    // An invalid result leaves the subscription unchanged.
    let before = s.clone();
    for (patch, msg) in [
        (json!({"timeInterval": 10}), "'timeInterval' and 'watchedAttributes' are mutually exclusive"),
        (json!({"notification": {"endpoint": {"uri": "gopher://x"}}}), "'notification.endpoint.uri' must be"),
        (json!({"entities": null, "watchedAttributes": null}), "needs 'entities' or 'watchedAttributes'"),
        (json!({"id": "urn:other:1"}), "the subscription id cannot be changed"),
        (json!({"expiresAt": "2000-01-01T00:00:00Z"}), "is not in the future"),
        (json!({"bogus": 1}), "unknown member 'bogus'"),
        (json!([1]), "a subscription fragment must be a JSON object"),
    ] {
        let e = s.merge_patch(&patch, &ctx).expect_err("invalid patch");
        assert!(e.detail.contains(msg), "{patch}: {}", e.detail);
        assert_eq!(s, before);
    }
}

#[test]
fn merge_patch_switches_to_periodic_and_back() {
    let ctx = user_ctx();
    let mut s = parse(&base());
    // Default triggers give way to timeInterval.
    s.merge_patch(&json!({"timeInterval": 30}), &ctx).expect("valid");
    assert!(s.is_periodic() && s.notification_trigger.is_empty());
    s.merge_patch(&json!({"timeInterval": null, "notificationTrigger": ["entityDeleted"]}), &ctx).expect("valid");
    assert_eq!((s.time_interval, s.notification_trigger.clone()), (None, vec![Trigger::EntityDeleted]));
    // Chosen triggers do not.
    let e = s.merge_patch(&json!({"timeInterval": 30}), &ctx).expect_err("triggers chosen");
    assert!(e.detail.contains("'timeInterval' and 'notificationTrigger' are mutually exclusive"));
}

#[test]
fn merge_patch_keeps_q_expansion_under_another_context() {
    let mut s = parse(&with(base(), &[("q", json!("temperature>20"))]));
    let expanded = s.q.clone();
    s.merge_patch(&json!({"description": "d"}), &core()).expect("valid");
    assert_eq!(s.q, expanded);
    assert_eq!(s.entities[0].types, TypeSelection::single(format!("{SCHEMA}Car")));
    // A past expiresAt already there does not block other changes.
    s.expires_at = Some("2000-01-01T00:00:00Z".into());
    s.merge_patch(&json!({"isActive": false}), &user_ctx()).expect("valid");
    assert!(!s.is_active);
}

#[test]
fn type_selection_parses_and_renders() {
    let ctx = core();
    let d = |n: &str| format!("{DEF}{n}");
    let cases: [(&str, Vec<Vec<String>>, &str); 6] = [
        ("A", vec![vec![d("A")]], "A"),
        ("A,B", vec![vec![d("A")], vec![d("B")]], "A,B"),
        ("A|B", vec![vec![d("A")], vec![d("B")]], "A,B"),
        ("A;B", vec![vec![d("A"), d("B")]], "(A;B)"),
        ("(A;B)|C", vec![vec![d("A"), d("B")], vec![d("C")]], "(A;B)|C"),
        ("(A|B);C", vec![vec![d("A"), d("C")], vec![d("B"), d("C")]], "(A;C)|(B;C)"),
    ];
    for (src, expect, printed) in cases {
        let t = parse_type_selection(src, &ctx).expect("valid");
        assert_eq!(t.0, expect, "{src}");
        assert_eq!(t.render(&ctx), printed, "{src}");
        assert_eq!(parse_type_selection(printed, &ctx).expect("reparses"), t);
    }
    let t = parse_type_selection("(A;B)|C", &ctx).expect("valid");
    assert!(t.matches(&[d("A"), d("B")]));
    assert!(t.matches(&[d("C")]));
    assert!(!t.matches(&[d("A")]));
    for bad in ["", "A,", "(A", "A)", "A;;B", "a b"] {
        assert!(parse_type_selection(bad, &ctx).is_err(), "{bad}");
    }
}

#[test]
fn selects_by_type_id_pattern_q_and_geo_q() {
    let car = |id: &str, t: f64, loc: [f64; 2]| {
        entity(json!({"id": id, "type": "Car", "temperature": t,
                      "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": loc}}}))
    };
    let near = [139.061, 36.391];
    let far = [140.0, 36.0];
    let sub = |extra: &[(&str, Value)]| parse(&with(base(), extra));
    let cases: Vec<(Subscription, Entity, bool)> = vec![
        (sub(&[]), car("urn:car:1", 0.0, far), true),
        (sub(&[("entities", json!([{"type": "Bus"}]))]), car("urn:car:1", 0.0, far), false),
        (sub(&[("entities", json!([{"type": "Bus,Car"}]))]), car("urn:car:1", 0.0, far), true),
        (sub(&[("entities", json!([{"type": "Bus;Car"}]))]), car("urn:car:1", 0.0, far), false),
        (sub(&[("entities", json!([{"type": "Bus"}, {"type": "Car"}]))]), car("urn:car:1", 0.0, far), true),
        (sub(&[("entities", json!([{"type": "Car", "id": "urn:car:1"}]))]), car("urn:car:1", 0.0, far), true),
        (sub(&[("entities", json!([{"type": "Car", "id": "urn:car:2"}]))]), car("urn:car:1", 0.0, far), false),
        (sub(&[("entities", json!([{"type": "Car", "idPattern": "car:[12]$"}]))]), car("urn:car:2", 0.0, far), true),
        (sub(&[("entities", json!([{"type": "Car", "idPattern": "car:[12]$"}]))]), car("urn:car:3", 0.0, far), false),
        // watchedAttributes only: any entity.
        (sub(&[("entities", Value::Null), ("watchedAttributes", json!(["speed"]))]), car("urn:car:1", 0.0, far), true),
        (sub(&[("q", json!("temperature>20"))]), car("urn:car:1", 25.0, far), true),
        (sub(&[("q", json!("temperature>20"))]), car("urn:car:1", 15.0, far), false),
        (
            sub(&[(
                "geoQ",
                json!({"georel": "near;maxDistance==1000", "geometry": "Point", "coordinates": [139.06, 36.39]}),
            )]),
            car("urn:car:1", 0.0, near),
            true,
        ),
        (
            sub(&[(
                "geoQ",
                json!({"georel": "near;maxDistance==1000", "geometry": "Point", "coordinates": [139.06, 36.39]}),
            )]),
            car("urn:car:1", 0.0, far),
            false,
        ),
    ];
    for (i, (s, e, expect)) in cases.iter().enumerate() {
        assert_eq!(s.selects(e), *expect, "case {i}");
    }
    // The q names were expanded with the subscription's context: a `temperature` from
    // another vocabulary does not match.
    let other = parse_entity(&json!({"id": "urn:car:1", "type": "https://schema.org/Car", "temperature": 30}), &core())
        .expect("valid");
    assert!(!sub(&[("q", json!("temperature>20"))]).selects(&other));
}

/// (name, subscription, old, new, expected trigger).
type TriggerCase<'a> = (&'a str, &'a Subscription, Option<&'a Entity>, Option<&'a Entity>, Option<Trigger>);

#[test]
fn trigger_decisions() {
    let e = |attrs: Value| {
        let mut v = json!({"id": "urn:car:1", "type": "Car"});
        v.as_object_mut().expect("object").extend(attrs.as_object().expect("object").clone());
        entity(v)
    };
    let a = e(json!({"speed": 10, "temperature": 20}));
    let speed_changed = e(json!({"speed": 11, "temperature": 20}));
    let temp_changed = e(json!({"speed": 10, "temperature": 21}));
    let added = e(json!({"speed": 10, "temperature": 20, "fuel": 3}));
    let removed = e(json!({"speed": 10}));
    let sub = |extra: &[(&str, Value)]| parse(&with(base(), extra));
    let default = sub(&[]);
    let all = sub(&[(
        "notificationTrigger",
        json!(["entityCreated", "entityDeleted", "attributeCreated", "attributeUpdated", "attributeDeleted"]),
    )]);
    let watched = sub(&[("watchedAttributes", json!(["temperature"]))]);
    let entity_updated = sub(&[("notificationTrigger", json!(["entityUpdated"]))]);
    let deleted_only = sub(&[("notificationTrigger", json!(["attributeDeleted"]))]);
    let periodic = sub(&[("timeInterval", json!(10))]);
    let hot = sub(&[("q", json!("temperature>20"))]);
    use Trigger::*;
    let cases: Vec<TriggerCase<'_>> = vec![
        ("default: creation", &default, None, Some(&a), Some(AttributeCreated)),
        ("default: update", &default, Some(&a), Some(&speed_changed), Some(AttributeUpdated)),
        ("default: added attribute", &default, Some(&a), Some(&added), Some(AttributeCreated)),
        ("default: removed attribute", &default, Some(&a), Some(&removed), None),
        ("default: deletion", &default, Some(&a), None, None),
        ("default: no change", &default, Some(&a), Some(&a), None),
        ("all: creation", &all, None, Some(&a), Some(EntityCreated)),
        ("all: deletion", &all, Some(&a), None, Some(EntityDeleted)),
        ("all: removed attribute", &all, Some(&a), Some(&removed), Some(AttributeDeleted)),
        ("watched: other attribute", &watched, Some(&a), Some(&speed_changed), None),
        ("watched: watched attribute", &watched, Some(&a), Some(&temp_changed), Some(AttributeUpdated)),
        ("watched: other added", &watched, Some(&a), Some(&added), None),
        ("entityUpdated: update", &entity_updated, Some(&a), Some(&speed_changed), Some(EntityUpdated)),
        ("entityUpdated: removal", &entity_updated, Some(&a), Some(&removed), Some(EntityUpdated)),
        ("entityUpdated: creation", &entity_updated, None, Some(&a), None),
        ("entityUpdated: deletion", &entity_updated, Some(&a), None, None),
        ("attributeDeleted: removal", &deleted_only, Some(&a), Some(&removed), Some(AttributeDeleted)),
        ("attributeDeleted: deletion", &deleted_only, Some(&a), None, Some(AttributeDeleted)),
        ("attributeDeleted: update", &deleted_only, Some(&a), Some(&speed_changed), None),
        ("periodic never fires", &periodic, None, Some(&a), None),
        ("q on new: now matching", &hot, Some(&a), Some(&temp_changed), Some(AttributeUpdated)),
        ("q on new: no longer matching", &hot, Some(&temp_changed), Some(&a), None),
        ("q on old for deletion", &all, Some(&a), None, Some(EntityDeleted)),
        ("nothing", &all, None, None, None),
    ];
    for (name, s, old, new, expect) in cases {
        assert_eq!(s.trigger(old, new), expect, "{name}");
    }
    // List order decides between applicable triggers.
    let order = sub(&[("notificationTrigger", json!(["entityUpdated", "attributeUpdated"]))]);
    assert_eq!(order.trigger(Some(&a), Some(&speed_changed)), Some(EntityUpdated));
    let order = sub(&[("notificationTrigger", json!(["attributeUpdated", "entityUpdated"]))]);
    assert_eq!(order.trigger(Some(&a), Some(&speed_changed)), Some(AttributeUpdated));
    // A deletion of a non-selected entity does not fire.
    let bus = sub(&[("entities", json!([{"type": "Bus"}])), ("notificationTrigger", json!(["entityDeleted"]))]);
    assert_eq!(bus.trigger(Some(&a), None), None);
}

#[test]
fn trigger_ignores_timestamps_but_not_metadata() {
    let s = parse(&base());
    let mut a = entity(json!({"id": "urn:car:1", "type": "Car", "speed": {"value": 10, "accuracy": 1}}));
    a.stamp_new("2024-01-01T00:00:00.000Z");
    let mut restamped = a.clone();
    restamped.stamp_new("2024-06-01T00:00:00.000Z");
    assert_eq!(s.trigger(Some(&a), Some(&restamped)), None);
    let mut observed = a.clone();
    observed.attrs.values_mut().flatten().for_each(|i| i.observed_at = Some("2024-06-01T00:00:00Z".into()));
    assert_eq!(s.trigger(Some(&a), Some(&observed)), Some(Trigger::AttributeUpdated));
    let sub_changed = entity(json!({"id": "urn:car:1", "type": "Car", "speed": {"value": 10, "accuracy": 2}}));
    assert_eq!(s.trigger(Some(&a), Some(&sub_changed)), Some(Trigger::AttributeUpdated));
    // A new datasetId instance is an update of the attribute.
    let multi = entity(json!({"id": "urn:car:1", "type": "Car", "speed": [
        {"type": "Property", "value": 10, "accuracy": 1},
        {"type": "Property", "value": 12, "datasetId": "urn:ds:gps"}]}));
    assert_eq!(s.trigger(Some(&a), Some(&multi)), Some(Trigger::AttributeUpdated));
}

#[test]
fn project_and_render_notification_data() {
    let e = entity(json!({
        "id": "urn:car:1", "type": "Car",
        "temperature": {"value": 20, "unitCode": "CEL"},
        "speed": 10,
        "name": {"type": "LanguageProperty", "languageMap": {"ja": "車", "en": "car"}}
    }));
    let mut stamped = e.clone();
    stamped.stamp_new("2024-01-01T00:00:00.000Z");
    let all = parse(&base());
    assert_eq!(all.project(&e), e);
    let ctx = user_ctx();
    assert_eq!(
        all.render_notification_data(&e, &ctx),
        json!({"id": "urn:car:1", "type": "Car",
               "name": {"type": "LanguageProperty", "languageMap": {"ja": "車", "en": "car"}},
               "speed": {"type": "Property", "value": 10},
               "temperature": {"type": "Property", "value": 20, "unitCode": "CEL"}})
    );
    let some = parse(&with(
        base(),
        &[
            ("notification.attributes", json!(["temperature", "name"])),
            ("notification.format", json!("keyValues")),
            ("lang", json!("ja")),
        ],
    ));
    let p = some.project(&e);
    assert_eq!(p.attrs.keys().cloned().collect::<Vec<_>>(), vec![format!("{SCHEMA}temperature"), format!("{DEF}name")]);
    assert_eq!(
        some.render_notification_data(&e, &ctx),
        json!({"id": "urn:car:1", "type": "Car", "name": "車", "temperature": 20})
    );
    // Compacted with the core context, the user's terms are IRIs.
    assert_eq!(
        some.render_notification_data(&e, &core()),
        json!({"id": "urn:car:1", "type": "https://schema.org/Car", "name": "車", "https://schema.org/temperature": 20})
    );
    let sys = parse(&with(
        base(),
        &[
            ("notification.sysAttrs", json!(true)),
            ("notification.format", json!("concise")),
            ("notification.attributes", json!(["speed"])),
        ],
    ));
    assert_eq!(
        sys.render_notification_data(&stamped, &ctx),
        json!({"id": "urn:car:1", "type": "Car", "createdAt": "2024-01-01T00:00:00.000Z",
               "modifiedAt": "2024-01-01T00:00:00.000Z",
               "speed": {"value": 10, "createdAt": "2024-01-01T00:00:00.000Z", "modifiedAt": "2024-01-01T00:00:00.000Z"}})
    );
}

#[test]
fn trigger_names_round_trip() {
    for t in Trigger::ALL {
        assert_eq!(Trigger::from_name(t.as_str()), Some(t));
    }
    assert_eq!(Trigger::from_name("entityChanged"), None);
}
