//! Discovery over HTTP: `/types`, `/types/{type}`, `/attributes`, `/attributes/{attr}`.

mod common;

use std::collections::BTreeSet;

use common::{enc, TestServer, CORE, NGSI_LD_LOCATION, VOCAB};
use serde_json::{json, Value};

async fn seeded() -> TestServer {
    let srv = TestServer::start().await;
    srv.create_all(&[
        json!({"id": "urn:ngsi-ld:Shelter:1", "type": "Shelter", "capacity": 10,
               "near": {"type": "Relationship", "object": "urn:ngsi-ld:Road:1"},
               "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [139.0, 36.0]}}}),
        json!({"id": "urn:ngsi-ld:Shelter:2", "type": ["Shelter", "School"], "capacity": 20}),
        json!({"id": "urn:ngsi-ld:Sensor:1", "type": "Sensor", "temperature": 20,
               "capacity": {"type": "Relationship", "object": "urn:ngsi-ld:Spec:1"}}),
    ])
    .await;
    srv
}

fn set(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("expected an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap_or_else(|| panic!("expected strings: {v}")).to_string())
        .collect()
}

fn strs(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn entity_type_list() {
    let srv = seeded().await;
    let r = srv.get("/types").send().await;
    r.expect(200);
    assert!(r.header("link").is_some_and(|l| l.contains(CORE)));
    let body = r.json();
    assert_eq!(body["type"], json!("EntityTypeList"));
    assert!(body["id"].as_str().is_some_and(|id| id.starts_with("urn:ngsi-ld:EntityTypeList:")), "{body}");
    assert_eq!(set(&body["typeList"]), strs(&["School", "Sensor", "Shelter"]));

    let r = srv.get("/types/").accept("application/ld+json").send().await;
    let body = r.expect(200).json();
    assert_eq!(body["@context"], json!(CORE));
    assert_eq!(body["typeList"].as_array().map(Vec::len), Some(3));
}

#[tokio::test]
async fn entity_type_details() {
    let srv = seeded().await;
    let body = srv.get("/types?details=true").send().await.expect(200).json();
    let list = body.as_array().expect("array of EntityType");
    assert_eq!(list.len(), 3);
    let shelter = list.iter().find(|t| t["typeName"] == json!("Shelter")).expect("Shelter");
    assert_eq!(shelter["id"], json!(format!("{VOCAB}Shelter")));
    assert_eq!(shelter["type"], json!("EntityType"));
    assert_eq!(set(&shelter["attributeNames"]), strs(&["capacity", "location", "near"]));
    let school = list.iter().find(|t| t["typeName"] == json!("School")).expect("School");
    assert_eq!(set(&school["attributeNames"]), strs(&["capacity"]));

    srv.get("/types?details=false").send().await.expect(200).json()["typeList"].as_array().expect("list");
    srv.get("/types?details=maybe").send().await.problem(400, "BadRequestData", &["'maybe'"]);
    srv.get("/types?foo=1").send().await.problem(400, "BadRequestData", &["'foo'"]);
}

#[tokio::test]
async fn entity_type_info() {
    let srv = seeded().await;
    let r = srv.get("/types/Shelter").send().await;
    let body = r.expect(200).json();
    assert_eq!(body["id"], json!(format!("{VOCAB}Shelter")));
    assert_eq!(body["type"], json!("EntityTypeInfo"));
    assert_eq!(body["typeName"], json!("Shelter"));
    assert_eq!(body["entityCount"], json!(2));
    let details = body["attributeDetails"].as_array().expect("attributeDetails");
    let by_name = |n: &str| details.iter().find(|d| d["attributeName"] == json!(n)).cloned();
    assert_eq!(
        by_name("capacity"),
        Some(json!({"id": format!("{VOCAB}capacity"), "type": "Attribute", "attributeName": "capacity",
                    "attributeTypes": ["Property"]}))
    );
    assert_eq!(by_name("near").expect("near")["attributeTypes"], json!(["Relationship"]));
    assert_eq!(by_name("location").expect("location")["id"], json!(NGSI_LD_LOCATION));
    assert_eq!(by_name("location").expect("location")["attributeTypes"], json!(["GeoProperty"]));
    assert_eq!(details.len(), 3);

    // The full IRI names the same type.
    let r = srv.get(&format!("/types/{}", enc(&format!("{VOCAB}Sensor")))).send().await;
    assert_eq!(r.expect(200).json()["entityCount"], json!(1));

    srv.get("/types/Nothing").send().await.problem(404, "ResourceNotFound", &["'Nothing'"]);
    srv.get(&format!("/types/{}", enc("bad(type)"))).send().await.problem(400, "BadRequestData", &["bad(type)"]);

    // Deleting the last entity of a type removes the type.
    srv.delete("/entities/urn:ngsi-ld:Sensor:1").send().await.expect(204);
    srv.get("/types/Sensor").send().await.problem(404, "ResourceNotFound", &["'Sensor'"]);
    assert!(!set(&srv.get("/types").send().await.json()["typeList"]).contains("Sensor"));
}

#[tokio::test]
async fn attribute_list_and_details() {
    let srv = seeded().await;
    let body = srv.get("/attributes").send().await.expect(200).json();
    assert_eq!(body["type"], json!("AttributeList"));
    assert!(body["id"].as_str().is_some_and(|id| id.starts_with("urn:ngsi-ld:AttributeList:")), "{body}");
    assert_eq!(set(&body["attributeList"]), strs(&["capacity", "location", "near", "temperature"]));

    let body = srv.get("/attributes?details=true").send().await.expect(200).json();
    let list = body.as_array().expect("array of Attribute");
    assert_eq!(list.len(), 4);
    let cap = list.iter().find(|a| a["attributeName"] == json!("capacity")).expect("capacity");
    assert_eq!(cap["id"], json!(format!("{VOCAB}capacity")));
    assert_eq!(cap["type"], json!("Attribute"));
    assert_eq!(cap["attributeCount"], json!(3));
    assert_eq!(set(&cap["attributeTypes"]), strs(&["Property", "Relationship"]));
    assert_eq!(set(&cap["typeNames"]), strs(&["School", "Sensor", "Shelter"]));
    srv.get("/attributes?details=1").send().await.problem(400, "BadRequestData", &["'1'"]);
}

#[tokio::test]
async fn attribute_info() {
    let srv = seeded().await;
    let body = srv.get("/attributes/temperature").send().await.expect(200).json();
    assert_eq!(
        body,
        json!({"id": format!("{VOCAB}temperature"), "type": "Attribute", "attributeName": "temperature",
               "attributeCount": 1, "attributeTypes": ["Property"], "typeNames": ["Sensor"]})
    );
    let body = srv.get("/attributes/location").send().await.expect(200).json();
    assert_eq!(body["id"], json!(NGSI_LD_LOCATION));
    assert_eq!(body["attributeTypes"], json!(["GeoProperty"]));
    let r = srv.get(&format!("/attributes/{}", enc(NGSI_LD_LOCATION))).send().await;
    assert_eq!(r.expect(200).json()["attributeName"], json!("location"));

    let r = srv.get("/attributes/temperature").accept("application/ld+json").send().await;
    assert_eq!(r.expect(200).json()["@context"], json!(CORE));

    srv.get("/attributes/nothing").send().await.problem(404, "ResourceNotFound", &["'nothing'"]);
    srv.get(&format!("/attributes/{}", enc("a b"))).send().await.problem(400, "BadRequestData", &["'a b'"]);

    // An attribute deleted everywhere disappears.
    srv.delete("/entities/urn:ngsi-ld:Sensor:1/attrs/temperature").send().await.expect(204);
    srv.get("/attributes/temperature").send().await.problem(404, "ResourceNotFound", &["'temperature'"]);
}

#[tokio::test]
async fn discovery_of_an_empty_store() {
    let srv = TestServer::start().await;
    let body = srv.get("/types").send().await.expect(200).json();
    assert_eq!(body["typeList"], json!([]));
    assert_eq!(srv.get("/types?details=true").send().await.expect(200).json(), json!([]));
    assert_eq!(srv.get("/attributes").send().await.expect(200).json()["attributeList"], json!([]));
    assert_eq!(srv.get("/attributes?details=true").send().await.expect(200).json(), json!([]));
    srv.get("/types/Shelter").send().await.problem(404, "ResourceNotFound", &["Shelter"]);
    srv.get("/attributes/capacity").send().await.problem(404, "ResourceNotFound", &["capacity"]);
}
