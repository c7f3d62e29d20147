//! Fuzzes the `q` parser: any input must be rejected or parsed without panicking;
//! whatever parses must print to text that parses back to the same query, and must
//! evaluate against an entity without panicking.

#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use kizuna_ngsild::entity::{AttrKind, Attribute, Entity};
use kizuna_ngsild::query::Query;
use libfuzzer_sys::fuzz_target;
use serde_json::json;

/// An entity with a bit of everything the evaluator reads.
fn entity() -> &'static Entity {
    static ENTITY: OnceLock<Entity> = OnceLock::new();
    ENTITY.get_or_init(|| {
        let mut a = Attribute::property(json!({"x": [1, "two", {"y": true}], "b": "2020-01-01"}));
        a.observed_at = Some("2020-01-01T00:00:00Z".into());
        a.unit_code = Some("CEL".into());
        a.sub.insert("b".into(), Attribute::property(json!("12:00:00Z")));
        let mut name = Attribute::property(json!({"en": "red", "fr": ["rouge", "noir"]}));
        name.kind = AttrKind::LanguageProperty;
        let mut rel = Attribute::property(json!(["urn:a:1", "urn:a:2"]));
        rel.kind = AttrKind::Relationship;
        let mut attrs = BTreeMap::new();
        attrs.insert("a".to_string(), vec![a, Attribute::property(json!(3.5))]);
        attrs.insert("b".to_string(), vec![Attribute::property(json!("2020-01-01T00:00:00Z"))]);
        attrs.insert("c".to_string(), vec![Attribute::property(json!([true, null, 1e300]))]);
        attrs.insert("name".to_string(), vec![name]);
        attrs.insert("rel".to_string(), vec![rel]);
        Entity {
            id: "urn:ngsi-ld:Fuzz:1".into(),
            types: vec!["https://example.org/Fuzz".into()],
            scope: Vec::new(),
            attrs,
            created_at: None,
            modified_at: None,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(query) = Query::parse(text) else {
        return;
    };
    let printed = query.to_string();
    match Query::parse(&printed) {
        Ok(again) => assert_eq!(again, query, "{text:?} printed as {printed:?} parses differently"),
        Err(e) => panic!("{text:?} printed as {printed:?}, which does not parse: {e}"),
    }
    let _ = query.matches(entity());
});
