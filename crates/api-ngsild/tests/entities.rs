//! Single-entity operations over HTTP: create, retrieve (representations, content
//! negotiation), replace, merge, delete, and round-trips of every attribute kind.

mod common;

use common::{assert_rfc3339, enc, TestServer, CONTEXT_REL, CORE, VOCAB};
use serde_json::{json, Value};

const SHELTER: &str = "urn:ngsi-ld:Shelter:1";

fn shelter() -> Value {
    json!({
        "id": SHELTER,
        "type": "Shelter",
        "capacity": {
            "type": "Property", "value": 120, "unitCode": "C62", "observedAt": "2026-11-23T06:00:00Z",
            "reliability": {"type": "Property", "value": 0.9}
        },
        "near": {"type": "Relationship", "object": "urn:ngsi-ld:Road:1", "objectType": "Road"},
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [139.7, 35.6]}},
        "name": {"type": "LanguageProperty", "languageMap": {"ja": "第一避難所", "en": "Shelter 1"}}
    })
}

#[tokio::test]
async fn create_returns_201_with_location_and_round_trips() {
    let srv = TestServer::start().await;
    let r = srv.post("/entities").json(&shelter()).send().await;
    r.expect(201);
    assert_eq!(r.text, "", "a 201 to create has no body");
    let location = r.header("location").expect("Location header");
    assert_eq!(location, format!("/ngsi-ld/v1/entities/{SHELTER}"));

    let r = srv.call_abs(reqwest::Method::GET, &location).send().await;
    r.expect(200);
    assert_eq!(r.content_type().as_deref(), Some("application/json"));
    let link = r.header("link").expect("Link header on an application/json answer");
    assert!(link.contains(&format!("<{CORE}>")) && link.contains(CONTEXT_REL), "Link: {link}");
    assert_eq!(r.json(), shelter(), "normalized output equals normalized input");
}

#[tokio::test]
async fn create_conflict_is_409_already_exists() {
    let srv = TestServer::start().await;
    srv.create(&shelter()).await;
    let mut other = shelter();
    other["capacity"] = json!(1);
    let r = srv.post("/entities").json(&other).send().await;
    r.problem(409, "AlreadyExists", &[SHELTER]);
    // The first version is untouched.
    assert_eq!(srv.entity(SHELTER, "").await["capacity"]["value"], json!(120));
}

#[tokio::test]
async fn invalid_entities_are_rejected_naming_the_problem_and_change_nothing() {
    let srv = TestServer::start().await;
    let id = "urn:ngsi-ld:Bad:1";
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!({"id": id}), vec!["no 'type'", id]),
        (json!({"type": "T"}), vec!["no 'id'"]),
        (json!({"id": 5, "type": "T"}), vec!["id must be a string"]),
        (json!({"id": id, "type": "A B"}), vec!["'A B'", "entity type"]),
        (json!({"id": id, "type": "T", "bad(name)": 1}), vec!["bad(name)", "forbidden character"]),
        (json!({"id": id, "type": "T", "p": {"type": "Property"}}), vec!["'p'", "non-null 'value'"]),
        (json!({"id": id, "type": "T", "p": null}), vec!["'p'", "null"]),
        (json!({"id": id, "type": "T", "p": {"type": "Foo", "value": 1}}), vec!["'p'", "'Foo'"]),
        (json!({"id": id, "type": "T", "r": {"type": "Relationship", "object": "not a uri"}}), vec!["'r'", "URI"]),
        (
            json!({"id": id, "type": "T", "p": {"type": "Property", "value": 1, "observedAt": "yesterday"}}),
            vec!["'p'", "yesterday", "RFC 3339"],
        ),
        (
            json!({"id": id, "type": "T", "location": {"type": "GeoProperty", "value":
                {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}}}),
            vec!["'location'", "closed"],
        ),
        (
            json!({"id": id, "type": "T", "location": {"type": "GeoProperty", "value":
                {"type": "Point", "coordinates": [139.7, 95.0]}}}),
            vec!["'location'", "latitude 95"],
        ),
        (
            json!({"id": id, "type": "T", "location": {"type": "GeoProperty", "value":
                {"type": "Point", "coordinates": [200.0, 35.0]}}}),
            vec!["'location'", "longitude 200"],
        ),
        (
            json!({"id": id, "type": "T", "location": {"type": "GeoProperty", "value": {"type": "Circle", "coordinates": [0, 0]}}}),
            vec!["'location'", "Circle"],
        ),
        (json!({"id": id, "type": "T", "location": 5}), vec!["'location'", "GeoProperty"]),
        (
            json!({"id": id, "type": "T", "p": [{"type": "Property", "value": 1}, {"type": "Property", "value": 2}]}),
            vec!["'p'", "two instances without a datasetId"],
        ),
        (
            json!({"id": id, "type": "T", "p": {"type": "Property", "value": 1, "datasetId": "not a uri"}}),
            vec!["'p'", "datasetId"],
        ),
        (
            json!({"id": id, "type": "T", "n": {"type": "LanguageProperty", "languageMap": {"ja": 5}}}),
            vec!["'n'", "'ja'"],
        ),
        (json!({"id": id, "type": "T", "p": {"type": "Property", "value": 1, "object": "urn:x:1"}}), vec!["'object'"]),
    ];
    for (body, want) in cases {
        let r = srv.post("/entities").json(&body).send().await;
        assert_eq!(r.status, 400, "{body} should be rejected: {}", r.text);
        r.problem(400, "BadRequestData", &want);
    }
    let r = srv.get(&format!("/entities/{}", enc(id))).send().await;
    r.problem(404, "ResourceNotFound", &[id]);
    let r = srv.get("/entities").query(&[("type", "T")]).send().await;
    assert_eq!(r.expect(200).json(), json!([]), "no entity of type T was created");
}

#[tokio::test]
async fn create_rejects_an_id_that_is_not_a_uri() {
    let srv = TestServer::start().await;
    let r = srv.post("/entities").json(&json!({"id": "not-a-uri", "type": "T"})).send().await;
    r.problem(400, "BadRequestData", &["'not-a-uri'", "not a URI"]);
    let r = srv.get("/entities/not-a-uri").send().await;
    r.problem(400, "BadRequestData", &["not-a-uri"]);
    assert_eq!(srv.query_ids(&[("type", "T")]).await, Vec::<String>::new());
}

#[tokio::test]
async fn retrieve_projections_and_representations() {
    let srv = TestServer::start().await;
    srv.create(&shelter()).await;

    // attrs: only the named attributes (plus id and type).
    let e = srv.entity(SHELTER, "?attrs=capacity,name").await;
    let keys: Vec<&String> = e.as_object().expect("object").keys().collect();
    assert_eq!(keys.len(), 4, "{e}");
    assert_eq!(e["capacity"], shelter()["capacity"]);
    assert_eq!(e["name"], shelter()["name"]);
    assert!(e.get("near").is_none() && e.get("location").is_none());

    // keyValues (and its alias format=simplified).
    let kv = json!({
        "id": SHELTER, "type": "Shelter", "capacity": 120, "near": "urn:ngsi-ld:Road:1",
        "location": {"type": "Point", "coordinates": [139.7, 35.6]},
        "name": {"languageMap": {"ja": "第一避難所", "en": "Shelter 1"}}
    });
    assert_eq!(srv.entity(SHELTER, "?options=keyValues").await, kv);
    assert_eq!(srv.entity(SHELTER, "?format=simplified").await, kv);

    // concise: redundant types left out, bare values where unambiguous.
    let concise = json!({
        "id": SHELTER, "type": "Shelter",
        "capacity": {"value": 120, "unitCode": "C62", "observedAt": "2026-11-23T06:00:00Z", "reliability": 0.9},
        "near": {"object": "urn:ngsi-ld:Road:1", "objectType": "Road"},
        "location": {"type": "Point", "coordinates": [139.7, 35.6]},
        "name": {"languageMap": {"ja": "第一避難所", "en": "Shelter 1"}}
    });
    assert_eq!(srv.entity(SHELTER, "?options=concise").await, concise);

    // Concise input is accepted too and means the same entity.
    let r = srv.put(&format!("/entities/{SHELTER}")).json(&concise).send().await;
    r.expect(204);
    assert_eq!(srv.entity(SHELTER, "").await, shelter());

    // Normalized is the default and can be named.
    assert_eq!(srv.entity(SHELTER, "?options=normalized").await, shelter());

    // keyValues and concise together are contradictory.
    let r = srv.get(&format!("/entities/{SHELTER}?options=keyValues,concise")).send().await;
    r.problem(400, "BadRequestData", &["keyValues", "concise"]);
    let r = srv.get(&format!("/entities/{SHELTER}?options=bogus")).send().await;
    r.problem(400, "BadRequestData", &["'bogus'"]);
}

#[tokio::test]
async fn retrieve_with_sys_attrs() {
    let srv = TestServer::start().await;
    srv.create(&shelter()).await;
    let plain = srv.entity(SHELTER, "").await;
    assert!(plain.get("createdAt").is_none() && plain["capacity"].get("createdAt").is_none());

    let e = srv.entity(SHELTER, "?options=sysAttrs").await;
    for ts in [
        &e["createdAt"],
        &e["modifiedAt"],
        &e["capacity"]["createdAt"],
        &e["capacity"]["modifiedAt"],
        &e["capacity"]["reliability"]["createdAt"],
        &e["near"]["modifiedAt"],
        &e["name"]["createdAt"],
    ] {
        assert_rfc3339(ts);
    }
    assert_eq!(e["createdAt"], e["modifiedAt"], "a new entity was created and modified at once");

    // An update moves modifiedAt, never createdAt.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let r = srv.patch(&format!("/entities/{SHELTER}/attrs")).json(&json!({"capacity": 130})).send().await;
    r.expect(204);
    let after = srv.entity(SHELTER, "?options=sysAttrs").await;
    assert_eq!(after["createdAt"], e["createdAt"]);
    assert_eq!(after["capacity"]["createdAt"], e["capacity"]["createdAt"]);
    let t = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().expect("string")).expect("rfc3339");
    assert!(t(&after["modifiedAt"]) > t(&e["modifiedAt"]), "entity modifiedAt moved: {after}");
    assert!(t(&after["capacity"]["modifiedAt"]) > t(&e["capacity"]["modifiedAt"]));
    assert_eq!(after["near"]["modifiedAt"], e["near"]["modifiedAt"], "untouched attribute keeps modifiedAt");
}

#[tokio::test]
async fn retrieve_language_property_with_lang() {
    let srv = TestServer::start().await;
    srv.create(&shelter()).await;
    let e = srv.entity(SHELTER, "?lang=ja").await;
    assert_eq!(e["name"], json!({"type": "Property", "value": "第一避難所", "lang": "ja"}));
    let e = srv.entity(SHELTER, "?lang=en&options=keyValues").await;
    assert_eq!(e["name"], json!("Shelter 1"));
    let e = srv.entity(SHELTER, "?lang=*").await;
    assert_eq!(e["name"], shelter()["name"], "lang=* keeps every language");
    let e = srv.entity(SHELTER, "?lang=en&options=concise").await;
    assert_eq!(e["name"], json!({"value": "Shelter 1", "lang": "en"}));
}

#[tokio::test]
async fn content_negotiation() {
    let srv = TestServer::start().await;
    srv.create(&shelter()).await;
    let path = format!("/entities/{SHELTER}");

    let r = srv.get(&path).accept("application/ld+json").send().await;
    r.expect(200);
    assert_eq!(r.content_type().as_deref(), Some("application/ld+json"));
    assert!(r.header("link").is_none(), "no Link header with JSON-LD");
    let body = r.json();
    assert_eq!(body["@context"], json!(CORE));
    assert_eq!(body["capacity"], shelter()["capacity"]);

    for accept in ["application/json", "*/*", "application/*", "text/html;q=0.9, application/json"] {
        let r = srv.get(&path).accept(accept).send().await;
        r.expect(200);
        assert_eq!(r.content_type().as_deref(), Some("application/json"), "Accept: {accept}");
        assert!(r.header("link").is_some_and(|l| l.contains(CORE)), "Accept: {accept}");
        assert!(r.json().get("@context").is_none(), "Accept: {accept}");
    }

    // The preferred (highest q) acceptable type wins.
    let r = srv.get(&path).accept("application/json;q=0.5, application/ld+json").send().await;
    assert_eq!(r.expect(200).content_type().as_deref(), Some("application/ld+json"));

    for accept in ["text/html", "application/xml, text/plain", "application/json;q=0"] {
        let r = srv.get(&path).accept(accept).send().await;
        r.problem(406, "InvalidRequest", &[accept]);
    }
}

#[tokio::test]
async fn geojson_accept_returns_a_feature() {
    let srv = TestServer::start().await;
    srv.create(&shelter()).await;
    let r = srv.get(&format!("/entities/{SHELTER}")).accept("application/geo+json").send().await;
    r.expect(200);
    assert_eq!(r.content_type().as_deref(), Some("application/geo+json"));
    let f = r.json();
    assert_eq!(f["type"], json!("Feature"), "GeoJSON answer must be a Feature: {f}");
    assert_eq!(f["id"], json!(SHELTER));
    assert_eq!(f["geometry"], json!({"type": "Point", "coordinates": [139.7, 35.6]}));
    assert_eq!(f["properties"]["capacity"]["value"], json!(120));
}

#[tokio::test]
async fn retrieve_with_type_filter_and_bad_parameters() {
    let srv = TestServer::start().await;
    srv.create(&shelter()).await;
    let path = format!("/entities/{SHELTER}");
    srv.get(&format!("{path}?type=Shelter")).send().await.expect(200);
    srv.get(&format!("{path}?type=Road")).send().await.problem(404, "ResourceNotFound", &[SHELTER]);
    srv.get(&format!("{path}?foo=1")).send().await.problem(400, "BadRequestData", &["'foo'"]);
    srv.get(&format!("{path}?attrs=a&attrs=b")).send().await.problem(
        400,
        "BadRequestData",
        &["'attrs'", "more than once"],
    );
    srv.get(&format!("{path}?attrs=bad(name)")).send().await.problem(400, "BadRequestData", &["bad(name)"]);
    srv.get("/entities/urn:ngsi-ld:Shelter:404").send().await.problem(
        404,
        "ResourceNotFound",
        &["urn:ngsi-ld:Shelter:404"],
    );
}

#[tokio::test]
async fn replace_entity() {
    let srv = TestServer::start().await;
    srv.create(&shelter()).await;
    let before = srv.entity(SHELTER, "?options=sysAttrs").await;
    let path = format!("/entities/{SHELTER}");

    let r = srv.put(&path).json(&json!({"type": "Hall", "floors": 3})).send().await;
    r.expect(204);
    assert_eq!(r.text, "");
    let after = srv.entity(SHELTER, "?options=sysAttrs").await;
    assert_eq!(after["type"], json!("Hall"), "the type is replaced");
    assert_eq!(after["floors"]["value"], json!(3));
    assert!(after.get("capacity").is_none() && after.get("name").is_none(), "old attributes are gone: {after}");
    assert_eq!(after["createdAt"], before["createdAt"], "createdAt survives a replace");

    // An id in the body must be the URL's.
    let r = srv.put(&path).json(&json!({"id": "urn:ngsi-ld:Other:1", "type": "Hall"})).send().await;
    r.problem(400, "BadRequestData", &["urn:ngsi-ld:Other:1", SHELTER]);
    let r = srv.put(&path).json(&json!({"id": SHELTER, "type": "Hall", "floors": 4})).send().await;
    r.expect(204);

    // Invalid bodies change nothing.
    let r = srv.put(&path).json(&json!({"type": "Hall", "p": {"type": "Property"}})).send().await;
    r.problem(400, "BadRequestData", &["'p'"]);
    let r = srv.put(&path).json(&json!({"floors": 4})).send().await;
    r.problem(400, "BadRequestData", &["no 'type'"]);
    assert_eq!(srv.entity(SHELTER, "?options=keyValues").await, json!({"id": SHELTER, "type": "Hall", "floors": 4}));

    let r = srv.put("/entities/urn:ngsi-ld:Hall:404").json(&json!({"type": "Hall"})).send().await;
    r.problem(404, "ResourceNotFound", &["urn:ngsi-ld:Hall:404"]);
    let r = srv.get("/entities").query(&[("type", "Hall")]).send().await;
    assert_eq!(common::ids(&r.json()), vec![SHELTER.to_string()], "the failed PUT created nothing");
}

#[tokio::test]
async fn merge_entity() {
    let srv = TestServer::start().await;
    let id = "urn:ngsi-ld:T:merge";
    srv.create(&json!({
        "id": id, "type": "T",
        "a": 1,
        "b": {"type": "Property", "value": 2, "unitCode": "MTR", "sub": {"type": "Property", "value": 1}, "keep": 7},
        "c": 3,
        "r": {"type": "Relationship", "object": "urn:x:1"}
    }))
    .await;
    let path = format!("/entities/{id}");
    let r = srv
        .patch(&path)
        .json(&json!({
            "type": "Extra",
            "a": 10,
            "b": {"type": "Property", "value": 20, "sub": "urn:ngsi-ld:null"},
            "c": "urn:ngsi-ld:null",
            "d": {"type": "Property", "value": 4, "observedAt": "2025-01-01T00:00:00Z"},
            "r": {"type": "Relationship", "object": "urn:x:2"}
        }))
        .send()
        .await;
    r.expect(204);
    let e = srv.entity(id, "").await;
    assert_eq!(e["type"], json!(["T", "Extra"]), "merge adds types");
    assert_eq!(e["a"], json!({"type": "Property", "value": 10}));
    assert_eq!(
        e["b"],
        json!({"type": "Property", "value": 20, "unitCode": "MTR", "keep": {"type": "Property", "value": 7}}),
        "merged member by member: unitCode and other sub-properties kept, 'sub' deleted by urn:ngsi-ld:null"
    );
    assert!(e.get("c").is_none(), "urn:ngsi-ld:null deletes the attribute: {e}");
    assert_eq!(e["d"], json!({"type": "Property", "value": 4, "observedAt": "2025-01-01T00:00:00Z"}));
    assert_eq!(e["r"]["object"], json!("urn:x:2"));

    // application/merge-patch+json is accepted by merge.
    let r = srv.patch(&path).raw("application/merge-patch+json", json!({"a": 11}).to_string()).send().await;
    r.expect(204);
    assert_eq!(srv.entity(id, "?options=keyValues").await["a"], json!(11));

    let r = srv.patch(&path).json(&json!({"id": "urn:x:other", "a": 1})).send().await;
    r.problem(400, "BadRequestData", &["urn:x:other"]);
    let r = srv.patch(&path).json(&json!({"a": {"type": "Property"}})).send().await;
    r.problem(400, "BadRequestData", &["'a'"]);
    let r = srv.patch("/entities/urn:x:nope").json(&json!({"a": 1})).send().await;
    r.problem(404, "ResourceNotFound", &["urn:x:nope"]);
    assert_eq!(srv.entity(id, "?options=keyValues").await["a"], json!(11), "failed merges changed nothing");
}

#[tokio::test]
async fn delete_entity() {
    let srv = TestServer::start().await;
    srv.create(&shelter()).await;
    let path = format!("/entities/{SHELTER}");
    let r = srv.delete(&path).send().await;
    r.expect(204);
    assert_eq!(r.text, "");
    srv.get(&path).send().await.problem(404, "ResourceNotFound", &[SHELTER]);
    srv.delete(&path).send().await.problem(404, "ResourceNotFound", &[SHELTER]);
    srv.delete("/entities/not-a-uri").send().await.problem(400, "BadRequestData", &["not-a-uri"]);
    // The id is free again.
    srv.create(&shelter()).await;
}

fn every_kind() -> Value {
    json!({
        "id": "urn:ngsi-ld:Thing:kinds",
        "type": ["Thing", "Device"],
        "scope": ["/Gunma/Maebashi", "/Japan"],
        "prop": {"type": "Property", "value": {"nested": {"deep": [1, 2, {"x": null}]}}, "observedAt": "2025-03-01T12:00:00.000Z"},
        "text": {"type": "Property", "value": "日本語のテキスト"},
        "flag": {"type": "Property", "value": false},
        "num": {"type": "Property", "value": -12.5, "unitCode": "CEL",
                "accuracy": {"type": "Property", "value": 0.1, "unitCode": "CEL",
                             "method": {"type": "Property", "value": "calibrated"}}},
        "rel": {"type": "Relationship", "object": "urn:ngsi-ld:Thing:other",
                "since": {"type": "Property", "value": "2020-01-01"}},
        "rels": {"type": "Relationship", "object": ["urn:ngsi-ld:Thing:a", "urn:ngsi-ld:Thing:b"]},
        "location": {"type": "GeoProperty", "value": {"type": "Polygon",
            "coordinates": [[[139.0, 36.0], [139.1, 36.0], [139.1, 36.1], [139.0, 36.0]]]}},
        "area": {"type": "GeoProperty", "value": {"type": "LineString", "coordinates": [[139.0, 36.0], [139.5, 36.5, 12.0]]}},
        "label": {"type": "LanguageProperty", "languageMap": {"ja": "ラベル", "en": "label", "@none": "lbl"}},
        "list": {"type": "ListProperty", "valueList": [3, "two", {"one": 1}]},
        "members": {"type": "ListRelationship", "objectList": ["urn:ngsi-ld:Thing:a", "urn:ngsi-ld:Thing:b"]},
        "raw": {"type": "JsonProperty", "json": {"type": "Property", "value": "not interpreted", "@id": "x"}},
        "gender": {"type": "VocabProperty", "vocab": "Male"},
        "tags": {"type": "VocabProperty", "vocab": ["Red", "https://example.org/vocab/Blue"]},
        "temp": [
            {"type": "Property", "value": 20},
            {"type": "Property", "value": 21, "datasetId": "urn:ngsi-ld:Dataset:b"}
        ]
    })
}

#[tokio::test]
async fn every_attribute_kind_round_trips() {
    let srv = TestServer::start().await;
    let e = every_kind();
    srv.create(&e).await;
    let got = srv.entity("urn:ngsi-ld:Thing:kinds", "").await;
    assert_eq!(got, e, "every kind comes back as sent");
    let ld = srv.get("/entities/urn:ngsi-ld:Thing:kinds").accept("application/ld+json").send().await;
    let mut ld = ld.json();
    ld.as_object_mut().expect("object").remove("@context");
    assert_eq!(ld, e);
}

#[tokio::test]
async fn concise_input_is_understood() {
    let srv = TestServer::start().await;
    let id = "urn:ngsi-ld:Thing:concise";
    srv.create(&json!({
        "id": id, "type": "Thing",
        "n": 5,
        "s": "text",
        "addr": {"street": "Ote-machi", "city": "Maebashi"},
        "location": {"type": "Point", "coordinates": [139.06, 36.39]},
        "rel": {"object": "urn:ngsi-ld:Thing:2"},
        "label": {"languageMap": {"en": "x"}},
        "withMeta": {"value": 1, "unitCode": "MTR", "sub": 2}
    }))
    .await;
    let e = srv.entity(id, "").await;
    assert_eq!(e["n"], json!({"type": "Property", "value": 5}));
    assert_eq!(e["s"], json!({"type": "Property", "value": "text"}));
    assert_eq!(e["addr"], json!({"type": "Property", "value": {"street": "Ote-machi", "city": "Maebashi"}}));
    assert_eq!(
        e["location"],
        json!({"type": "GeoProperty", "value": {"type": "Point", "coordinates": [139.06, 36.39]}})
    );
    assert_eq!(e["rel"], json!({"type": "Relationship", "object": "urn:ngsi-ld:Thing:2"}));
    assert_eq!(e["label"], json!({"type": "LanguageProperty", "languageMap": {"en": "x"}}));
    assert_eq!(
        e["withMeta"],
        json!({"type": "Property", "value": 1, "unitCode": "MTR", "sub": {"type": "Property", "value": 2}})
    );
    // A concise compound value stays an object in concise output (not mistaken for metadata).
    let c = srv.entity(id, "?options=concise").await;
    assert_eq!(c["addr"], json!({"value": {"street": "Ote-machi", "city": "Maebashi"}}));
    assert_eq!(c["n"], json!(5));
}

#[tokio::test]
async fn names_expand_under_the_default_vocab() {
    // Without a user context, names expand to the default context: the same entity read
    // with a Link to a context defining nothing for them compacts them back.
    let srv = TestServer::start().await;
    srv.create(&json!({"id": "urn:x:vocab", "type": "Widget", "size": 3})).await;
    let r = srv.get("/types/Widget").send().await;
    assert_eq!(r.expect(200).json()["id"], json!(format!("{VOCAB}Widget")));
    let full = srv.get(&format!("/types/{}", enc(&format!("{VOCAB}Widget")))).send().await;
    assert_eq!(full.expect(200).json()["entityCount"], json!(1), "the full IRI names the same type");
}

#[tokio::test]
async fn location_of_an_http_id_resolves() {
    let srv = TestServer::start().await;
    let id = "https://example.org/things/1";
    let r = srv.post("/entities").json(&json!({"id": id, "type": "T", "p": 1})).send().await;
    r.expect(201);
    let location = r.header("location").expect("Location");
    let r = srv.call_abs(reqwest::Method::GET, &location).send().await;
    assert_eq!(r.status, 200, "GET {location} → {} {}", r.status, r.text);
    assert_eq!(r.json()["id"], json!(id));
}

#[tokio::test]
async fn http_ids_work_when_percent_encoded() {
    let srv = TestServer::start().await;
    let id = "https://example.org/things/1?x=1#frag";
    srv.create(&json!({"id": id, "type": "T", "p": 1})).await;
    assert_eq!(srv.entity(id, "").await["id"], json!(id));
    srv.delete(&format!("/entities/{}", enc(id))).send().await.expect(204);
}

/// `every_kind()` without the cases the concise round-trip bugs below are about.
fn every_kind_concise_safe() -> Value {
    let mut e = every_kind();
    e.as_object_mut().expect("object").remove("temp");
    e
}

/// Reads `id` in concise form, writes that back with PUT and returns the normalized entity.
async fn concise_round_trip(srv: &TestServer, id: &str) -> Value {
    let mut concise = srv.entity(id, "?options=concise").await;
    concise.as_object_mut().expect("object").remove("id");
    srv.put(&format!("/entities/{}", enc(id))).json(&concise).send().await.expect(204);
    srv.entity(id, "").await
}

#[tokio::test]
async fn concise_output_reads_back_as_the_same_entity() {
    let srv = TestServer::start().await;
    srv.create(&every_kind_concise_safe()).await;
    assert_eq!(concise_round_trip(&srv, "urn:ngsi-ld:Thing:kinds").await, every_kind_concise_safe());
}

#[tokio::test]
async fn concise_multi_attribute_reads_back() {
    let srv = TestServer::start().await;
    let e = json!({"id": "urn:x:multi", "type": "T", "temp": [
        {"type": "Property", "value": 20},
        {"type": "Property", "value": 21, "datasetId": "urn:ngsi-ld:Dataset:b"}
    ]});
    srv.create(&e).await;
    assert_eq!(concise_round_trip(&srv, "urn:x:multi").await, e);
}

#[tokio::test]
async fn concise_geo_property_with_metadata_reads_back() {
    let srv = TestServer::start().await;
    let e = json!({"id": "urn:x:geo", "type": "T", "area": {"type": "GeoProperty",
        "value": {"type": "Point", "coordinates": [139.0, 36.0]}, "observedAt": "2025-01-01T00:00:00Z"}});
    srv.create(&e).await;
    assert_eq!(concise_round_trip(&srv, "urn:x:geo").await, e);
}

#[tokio::test]
async fn system_attributes_in_input_are_ignored() {
    let srv = TestServer::start().await;
    srv.create(&json!({"id": "urn:x:sys", "type": "T", "createdAt": "2000-01-01T00:00:00Z",
                       "modifiedAt": "2000-01-01T00:00:00Z",
                       "p": {"type": "Property", "value": 1, "createdAt": "2000-01-01T00:00:00Z"}}))
        .await;
    let e = srv.entity("urn:x:sys", "?options=sysAttrs").await;
    for ts in [&e["createdAt"], &e["modifiedAt"], &e["p"]["createdAt"]] {
        assert_rfc3339(ts);
        assert!(!ts.as_str().unwrap_or("").starts_with("2000"), "client-sent system attributes are ignored: {e}");
    }
    assert_eq!(
        srv.entity("urn:x:sys", "").await,
        json!({"id": "urn:x:sys", "type": "T", "p": {"type": "Property", "value": 1}})
    );
}

#[tokio::test]
async fn delete_with_a_non_matching_type_deletes_nothing() {
    let srv = TestServer::start().await;
    srv.create(&shelter()).await;
    let r = srv.get(&format!("/entities/{SHELTER}?type=Road")).send().await;
    r.problem(404, "ResourceNotFound", &[SHELTER]);
    let r = srv.delete(&format!("/entities/{SHELTER}?type=Road")).send().await;
    r.problem(404, "ResourceNotFound", &[SHELTER]);
    srv.entity(SHELTER, "").await;
}

#[tokio::test]
async fn location_of_a_non_ascii_id() {
    let srv = TestServer::start().await;
    let id = "urn:ngsi-ld:Shelter:前橋-1";
    let r = srv.post("/entities").json(&json!({"id": id, "type": "Shelter"})).send().await;
    r.expect(201);
    assert_eq!(srv.entity(id, "").await["id"], json!(id), "the entity exists and is reachable percent-encoded");
    let raw = r.headers.get("location").expect("a 201 carries a Location").as_bytes().to_vec();
    assert!(raw.is_ascii(), "Location must be an ASCII URI reference, got {:?}", String::from_utf8_lossy(&raw));
    let location = String::from_utf8(raw).expect("ASCII");
    let r = srv.call_abs(reqwest::Method::GET, &location).send().await;
    assert_eq!(r.expect(200).json()["id"], json!(id));
}

#[tokio::test]
async fn concurrent_creates() {
    let srv = TestServer::start().await;
    // The same id from many clients at once: exactly one wins.
    let same = (0..20).map(|i| srv.post("/entities").json(&json!({"id": "urn:x:race", "type": "T", "n": i})).send());
    let statuses: Vec<u16> = futures_join_all(same).await.iter().map(|r| r.status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 19, "{statuses:?}");
    // Distinct ids at once: all are created.
    let many =
        (0..40).map(|i| srv.post("/entities").json(&json!({"id": format!("urn:x:c{i:02}"), "type": "C"})).send());
    assert!(futures_join_all(many).await.iter().all(|r| r.status == 201));
    let r = srv.get("/entities").query(&[("type", "C"), ("limit", "0"), ("count", "true")]).send().await;
    assert_eq!(r.expect(200).header("ngsild-results-count").as_deref(), Some("40"));
}

/// Runs futures concurrently on the test's runtime and collects their outputs in order.
async fn futures_join_all<F>(futs: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("task"));
    }
    out
}

#[tokio::test]
async fn merge_updates_the_scope() {
    let srv = TestServer::start().await;
    srv.create(&json!({"id": "urn:x:scoped", "type": "T", "scope": "/Gunma", "a": 1})).await;
    srv.patch("/entities/urn:x:scoped").json(&json!({"scope": "/Gunma/Maebashi"})).send().await.expect(204);
    assert_eq!(srv.entity("urn:x:scoped", "").await["scope"], json!("/Gunma/Maebashi"));
}
