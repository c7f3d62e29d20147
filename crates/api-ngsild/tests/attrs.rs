//! Attribute operations over HTTP: append (with noOverwrite), update, partial update,
//! replace and delete of single attributes, including multi-attribute instances
//! (`datasetId`, `deleteAll`).

mod common;

use common::{enc, TestServer, VOCAB};
use serde_json::{json, Value};

const ID: &str = "urn:ngsi-ld:Sensor:attrs";

fn attrs_path() -> String {
    format!("/entities/{ID}/attrs")
}

fn attr_path(attr: &str) -> String {
    format!("/entities/{ID}/attrs/{attr}")
}

async fn server_with_sensor() -> TestServer {
    let srv = TestServer::start().await;
    srv.create(&json!({
        "id": ID, "type": "Sensor",
        "a": {"type": "Property", "value": 1, "unitCode": "CEL", "observedAt": "2025-01-01T00:00:00Z",
              "accuracy": {"type": "Property", "value": 0.5}},
        "owner": {"type": "Relationship", "object": "urn:ngsi-ld:Person:1"}
    }))
    .await;
    srv
}

async fn kv(srv: &TestServer) -> Value {
    srv.entity(ID, "?options=keyValues").await
}

#[tokio::test]
async fn append_adds_and_overwrites() {
    let srv = server_with_sensor().await;
    let before = srv.entity(ID, "?options=sysAttrs").await;
    let r = srv.post(&attrs_path()).json(&json!({"a": 5, "b": {"type": "Property", "value": 2}})).send().await;
    r.expect(204);
    assert_eq!(r.text, "");
    let after = srv.entity(ID, "?options=sysAttrs").await;
    assert_eq!(after["a"]["value"], json!(5));
    assert!(after["a"].get("unitCode").is_none(), "an overwritten attribute is replaced whole: {}", after["a"]);
    assert_eq!(after["a"]["createdAt"], before["a"]["createdAt"], "overwrite keeps the attribute's createdAt");
    assert_eq!(after["b"]["value"], json!(2));

    // A type in the fragment is added to the entity's types.
    let r = srv.post(&attrs_path()).json(&json!({"type": "Thermometer", "c": 3})).send().await;
    r.expect(204);
    assert_eq!(kv(&srv).await["type"], json!(["Sensor", "Thermometer"]));
}

#[tokio::test]
async fn append_no_overwrite_reports_207() {
    let srv = server_with_sensor().await;
    let r = srv.post(&format!("{}?options=noOverwrite", attrs_path())).json(&json!({"a": 9, "c": 3})).send().await;
    r.expect(207);
    assert_eq!(r.content_type().as_deref(), Some("application/json"));
    let body = r.json();
    assert_eq!(body["updated"], json!(["c"]));
    let not = body["notUpdated"].as_array().expect("notUpdated array");
    assert_eq!(not.len(), 1, "{body}");
    assert_eq!(not[0]["attributeName"], json!("a"), "names are compacted: {body}");
    assert!(not[0]["reason"].as_str().is_some_and(|r| !r.is_empty()));
    let e = kv(&srv).await;
    assert_eq!(e["a"], json!(1), "noOverwrite kept the old value");
    assert_eq!(e["c"], json!(3));

    // Every attribute new: 204 even with noOverwrite.
    let r = srv.post(&format!("{}?options=noOverwrite", attrs_path())).json(&json!({"d": 4})).send().await;
    r.expect(204);
}

#[tokio::test]
async fn append_errors() {
    let srv = server_with_sensor().await;
    let r = srv.post("/entities/urn:ngsi-ld:Sensor:404/attrs").json(&json!({"a": 1})).send().await;
    r.problem(404, "ResourceNotFound", &["urn:ngsi-ld:Sensor:404"]);
    let r = srv.post(&attrs_path()).json(&json!({"a": {"type": "Property"}})).send().await;
    r.problem(400, "BadRequestData", &["'a'"]);
    let r = srv.post(&attrs_path()).json(&json!({"id": "urn:x:other", "a": 2})).send().await;
    r.problem(400, "BadRequestData", &["urn:x:other"]);
    let r = srv.post(&format!("{}?options=bogus", attrs_path())).json(&json!({"a": 2})).send().await;
    r.problem(400, "BadRequestData", &["'bogus'"]);
    let r = srv.post(&attrs_path()).json(&json!([1])).send().await;
    r.problem(400, "BadRequestData", &["JSON object"]);
    assert_eq!(kv(&srv).await["a"], json!(1), "nothing changed");
}

#[tokio::test]
async fn update_attrs_only_touches_existing_ones() {
    let srv = server_with_sensor().await;
    let r = srv.patch(&attrs_path()).json(&json!({"a": 7, "zz": 1})).send().await;
    r.expect(207);
    let body = r.json();
    assert_eq!(body["updated"], json!(["a"]));
    assert_eq!(body["notUpdated"], json!([{"attributeName": "zz", "reason": "attribute does not exist"}]));
    let e = kv(&srv).await;
    assert_eq!(e["a"], json!(7));
    assert!(e.get("zz").is_none(), "update never creates attributes: {e}");

    let r = srv
        .patch(&attrs_path())
        .json(&json!({"a": 8, "owner": {"type": "Relationship", "object": "urn:x:2"}}))
        .send()
        .await;
    r.expect(204);
    let e = kv(&srv).await;
    assert_eq!((e["a"].clone(), e["owner"].clone()), (json!(8), json!("urn:x:2")));

    // Only unknown attributes: 207 with nothing updated.
    let r = srv.patch(&attrs_path()).json(&json!({"nope": 1})).send().await;
    r.expect(207);
    assert_eq!(r.json()["updated"], json!([]));

    let r = srv.patch("/entities/urn:ngsi-ld:Sensor:404/attrs").json(&json!({"a": 1})).send().await;
    r.problem(404, "ResourceNotFound", &["urn:ngsi-ld:Sensor:404"]);
}

#[tokio::test]
async fn partial_attribute_update() {
    let srv = server_with_sensor().await;
    // Only the value: metadata and sub-properties are kept.
    let r = srv.patch(&attr_path("a")).json(&json!({"value": 11})).send().await;
    r.expect(204);
    let e = srv.entity(ID, "").await;
    assert_eq!(
        e["a"],
        json!({"type": "Property", "value": 11, "unitCode": "CEL", "observedAt": "2025-01-01T00:00:00Z",
               "accuracy": {"type": "Property", "value": 0.5}})
    );
    // Only metadata: the value is kept.
    let r =
        srv.patch(&attr_path("a")).json(&json!({"unitCode": "FAH", "observedAt": "2025-02-02T00:00:00Z"})).send().await;
    r.expect(204);
    let a = &srv.entity(ID, "").await["a"];
    assert_eq!((a["value"].clone(), a["unitCode"].clone()), (json!(11), json!("FAH")));
    assert_eq!(a["observedAt"], json!("2025-02-02T00:00:00Z"));
    // A sub-property added, one removed with urn:ngsi-ld:null.
    let r = srv.patch(&attr_path("a")).json(&json!({"method": "laser", "accuracy": "urn:ngsi-ld:null"})).send().await;
    r.expect(204);
    let a = &srv.entity(ID, "").await["a"];
    assert!(a.get("accuracy").is_none(), "{a}");
    assert_eq!(a["method"], json!({"type": "Property", "value": "laser"}));
    // A Relationship's object.
    let r = srv.patch(&attr_path("owner")).json(&json!({"object": "urn:ngsi-ld:Person:2"})).send().await;
    r.expect(204);
    assert_eq!(kv(&srv).await["owner"], json!("urn:ngsi-ld:Person:2"));
    // merge-patch+json is accepted here too.
    let r =
        srv.patch(&attr_path("a")).raw("application/merge-patch+json", json!({"value": 12}).to_string()).send().await;
    r.expect(204);
    assert_eq!(kv(&srv).await["a"], json!(12));

    let r = srv.patch(&attr_path("nope")).json(&json!({"value": 1})).send().await;
    r.problem(404, "ResourceNotFound", &["'nope'", ID]);
    let r = srv.patch("/entities/urn:x:404/attrs/a").json(&json!({"value": 1})).send().await;
    r.problem(404, "ResourceNotFound", &["urn:x:404"]);
    let r = srv.patch(&attr_path("a")).json(&json!({"value": null})).send().await;
    r.problem(400, "BadRequestData", &["'a'"]);
    let r = srv.patch(&attr_path("a")).json(&json!({"observedAt": "noon"})).send().await;
    r.problem(400, "BadRequestData", &["noon"]);
    let r = srv.patch(&attr_path(&enc("bad(name)"))).json(&json!({"value": 1})).send().await;
    r.problem(400, "BadRequestData", &["bad(name)"]);
    assert_eq!(kv(&srv).await["a"], json!(12), "failed partial updates changed nothing");
}

#[tokio::test]
async fn replace_attribute() {
    let srv = server_with_sensor().await;
    let r = srv.put(&attr_path("a")).json(&json!({"type": "Property", "value": 5})).send().await;
    r.expect(204);
    assert_eq!(srv.entity(ID, "").await["a"], json!({"type": "Property", "value": 5}), "replaced whole");
    // The kind may change on replace.
    let r = srv.put(&attr_path("a")).json(&json!({"type": "Relationship", "object": "urn:x:9"})).send().await;
    r.expect(204);
    assert_eq!(srv.entity(ID, "").await["a"], json!({"type": "Relationship", "object": "urn:x:9"}));

    let r = srv.put(&attr_path("nope")).json(&json!({"type": "Property", "value": 5})).send().await;
    r.problem(404, "ResourceNotFound", &["'nope'"]);
    assert!(srv.entity(ID, "").await.get("nope").is_none(), "replace never creates");
    let r = srv.put("/entities/urn:x:404/attrs/a").json(&json!({"type": "Property", "value": 5})).send().await;
    r.problem(404, "ResourceNotFound", &["urn:x:404"]);
    let r = srv.put(&attr_path("a")).json(&json!({"type": "Property"})).send().await;
    r.problem(400, "BadRequestData", &["'a'"]);
}

#[tokio::test]
async fn delete_attribute() {
    let srv = server_with_sensor().await;
    let r = srv.delete(&attr_path("a")).send().await;
    r.expect(204);
    assert_eq!(r.text, "");
    assert!(kv(&srv).await.get("a").is_none());
    let r = srv.delete(&attr_path("a")).send().await;
    let body = r.problem(404, "ResourceNotFound", &["'a'"]);
    assert!(!body["detail"].as_str().unwrap_or("").contains(VOCAB), "the detail uses the short name: {body}");
    srv.delete("/entities/urn:x:404/attrs/a").send().await.problem(404, "ResourceNotFound", &["urn:x:404"]);
    srv.delete(&format!("{}?foo=1", attr_path("owner"))).send().await.problem(400, "BadRequestData", &["'foo'"]);
}

fn temp_instances() -> Value {
    json!([
        {"type": "Property", "value": 20},
        {"type": "Property", "value": 21, "datasetId": "urn:ngsi-ld:Dataset:1"},
        {"type": "Property", "value": 22, "datasetId": "urn:ngsi-ld:Dataset:2", "unitCode": "CEL"}
    ])
}

async fn server_with_multi_attribute() -> TestServer {
    let srv = TestServer::start().await;
    srv.create(&json!({"id": ID, "type": "Sensor", "temp": temp_instances()})).await;
    srv
}

/// The `temp` instances as (datasetId, value) pairs, in order.
async fn temps(srv: &TestServer) -> Vec<(Option<String>, Value)> {
    let e = srv.entity(ID, "").await;
    let t = match &e["temp"] {
        Value::Array(a) => a.clone(),
        Value::Null => Vec::new(),
        one => vec![one.clone()],
    };
    t.iter().map(|i| (i["datasetId"].as_str().map(str::to_string), i["value"].clone())).collect()
}

fn ds(n: u8) -> Option<String> {
    Some(format!("urn:ngsi-ld:Dataset:{n}"))
}

#[tokio::test]
async fn multi_attribute_instances() {
    let srv = server_with_multi_attribute().await;
    assert_eq!(srv.entity(ID, "").await["temp"], temp_instances(), "all instances round-trip");
    assert_eq!(srv.entity(ID, "?options=keyValues").await["temp"], json!([20, 21, 22]));

    // Partial update of one instance.
    let r =
        srv.patch(&attr_path("temp")).json(&json!({"value": 31, "datasetId": "urn:ngsi-ld:Dataset:1"})).send().await;
    r.expect(204);
    assert_eq!(temps(&srv).await, vec![(None, json!(20)), (ds(1), json!(31)), (ds(2), json!(22))]);
    let r = srv.patch(&attr_path("temp")).json(&json!({"value": 30})).send().await;
    r.expect(204);
    assert_eq!(temps(&srv).await, vec![(None, json!(30)), (ds(1), json!(31)), (ds(2), json!(22))]);
    let r = srv.patch(&attr_path("temp")).json(&json!({"value": 1, "datasetId": "urn:ngsi-ld:Dataset:9"})).send().await;
    r.problem(404, "ResourceNotFound", &["'temp'"]);

    // Replace of one instance.
    let r = srv
        .put(&attr_path("temp"))
        .json(&json!({"type": "Property", "value": 42, "datasetId": "urn:ngsi-ld:Dataset:2"}))
        .send()
        .await;
    r.expect(204);
    assert_eq!(temps(&srv).await, vec![(None, json!(30)), (ds(1), json!(31)), (ds(2), json!(42))]);
    let r = srv
        .put(&attr_path("temp"))
        .json(&json!({"type": "Property", "value": 1, "datasetId": "urn:ngsi-ld:Dataset:9"}))
        .send()
        .await;
    r.problem(404, "ResourceNotFound", &["'temp'", "datasetId"]);

    // Append a new instance; update one instance through PATCH /attrs.
    let r = srv
        .post(&attrs_path())
        .json(&json!({"temp": {"type": "Property", "value": 23, "datasetId": "urn:ngsi-ld:Dataset:3"}}))
        .send()
        .await;
    r.expect(204);
    let r = srv
        .patch(&attrs_path())
        .json(&json!({"temp": {"type": "Property", "value": 33, "datasetId": "urn:ngsi-ld:Dataset:3"}}))
        .send()
        .await;
    r.expect(204);
    let r = srv
        .patch(&attrs_path())
        .json(&json!({"temp": {"type": "Property", "value": 1, "datasetId": "urn:ngsi-ld:Dataset:8"}}))
        .send()
        .await;
    r.expect(207);
    assert_eq!(r.json()["notUpdated"][0]["attributeName"], json!("temp"));
    assert_eq!(temps(&srv).await, vec![(None, json!(30)), (ds(1), json!(31)), (ds(2), json!(42)), (ds(3), json!(33))]);

    // Delete one instance by datasetId, then the default instance.
    let r = srv.delete(&format!("{}?datasetId=urn:ngsi-ld:Dataset:1", attr_path("temp"))).send().await;
    r.expect(204);
    assert_eq!(temps(&srv).await, vec![(None, json!(30)), (ds(2), json!(42)), (ds(3), json!(33))]);
    let r = srv.delete(&format!("{}?datasetId=urn:ngsi-ld:Dataset:1", attr_path("temp"))).send().await;
    r.problem(404, "ResourceNotFound", &["'temp'", "urn:ngsi-ld:Dataset:1"]);
    srv.delete(&attr_path("temp")).send().await.expect(204);
    assert_eq!(temps(&srv).await, vec![(ds(2), json!(42)), (ds(3), json!(33))]);
    let r = srv.delete(&attr_path("temp")).send().await;
    r.problem(404, "ResourceNotFound", &["'temp'", "(default)"]);

    // deleteAll cannot name a datasetId; it must be a boolean.
    let r = srv.delete(&format!("{}?deleteAll=true&datasetId=urn:ngsi-ld:Dataset:2", attr_path("temp"))).send().await;
    r.problem(400, "BadRequestData", &["datasetId", "deleteAll"]);
    let r = srv.delete(&format!("{}?deleteAll=yes", attr_path("temp"))).send().await;
    r.problem(400, "BadRequestData", &["'yes'"]);
    assert_eq!(temps(&srv).await.len(), 2);

    let r = srv.delete(&format!("{}?deleteAll=true", attr_path("temp"))).send().await;
    r.expect(204);
    assert!(srv.entity(ID, "").await.get("temp").is_none());
}

#[tokio::test]
async fn delete_all_removes_every_instance_at_once() {
    let srv = server_with_multi_attribute().await;
    srv.delete(&format!("{}?deleteAll=true", attr_path("temp"))).send().await.expect(204);
    assert_eq!(srv.entity(ID, "").await, json!({"id": ID, "type": "Sensor"}));
    let r = srv.delete(&format!("{}?deleteAll=true", attr_path("temp"))).send().await;
    r.problem(404, "ResourceNotFound", &["'temp'"]);
}

#[tokio::test]
async fn merge_with_dataset_ids() {
    let srv = server_with_multi_attribute().await;
    let r = srv
        .patch(&format!("/entities/{ID}"))
        .json(&json!({"temp": [
            {"type": "Property", "value": "urn:ngsi-ld:null", "datasetId": "urn:ngsi-ld:Dataset:1"},
            {"type": "Property", "value": 52, "datasetId": "urn:ngsi-ld:Dataset:2"}
        ]}))
        .send()
        .await;
    r.expect(204);
    let e = srv.entity(ID, "").await;
    assert_eq!(
        e["temp"],
        json!([
            {"type": "Property", "value": 20},
            {"type": "Property", "value": 52, "datasetId": "urn:ngsi-ld:Dataset:2", "unitCode": "CEL"}
        ])
    );
}
