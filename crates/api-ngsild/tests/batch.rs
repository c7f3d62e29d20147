//! Batch entity operations over HTTP: create, upsert (replace and update), update,
//! delete, with their 201/204/207 answers and BatchOperationResult bodies.

mod common;

use common::{Setup, TestServer, CORE, ERRORS};
use kizuna_api_ngsild::ApiConfig;
use serde_json::{json, Value};

fn e(n: u32, extra: Value) -> Value {
    let mut v = json!({"id": format!("urn:ngsi-ld:Thing:{n}"), "type": "Thing"});
    if let (Some(o), Value::Object(x)) = (v.as_object_mut(), extra) {
        o.extend(x);
    }
    v
}

fn id(n: u32) -> String {
    format!("urn:ngsi-ld:Thing:{n}")
}

/// The error of `entity_id` in a BatchOperationResult, asserting its shape.
#[track_caller]
fn batch_error<'a>(result: &'a Value, entity_id: &str) -> &'a Value {
    let errors = result["errors"].as_array().unwrap_or_else(|| panic!("no errors array: {result}"));
    let err = errors
        .iter()
        .find(|x| x["entityId"] == json!(entity_id))
        .unwrap_or_else(|| panic!("no error for {entity_id}: {result}"));
    let p = &err["error"];
    assert!(p["type"].as_str().is_some_and(|t| t.starts_with(ERRORS)), "{p}");
    assert!(p["title"].is_string() && p["detail"].is_string() && p["status"].is_u64(), "{p}");
    p
}

#[track_caller]
fn assert_error(result: &Value, entity_id: &str, kind: &str, status: u64, detail: &str) {
    let p = batch_error(result, entity_id);
    assert_eq!(p["type"], json!(format!("{ERRORS}{kind}")), "{entity_id}: {p}");
    assert_eq!(p["status"], json!(status), "{entity_id}: {p}");
    assert!(p["detail"].as_str().unwrap_or("").contains(detail), "{entity_id}: {p} should mention {detail:?}");
}

#[tokio::test]
async fn create_all_new_is_201_with_the_ids() {
    let srv = TestServer::start().await;
    let r = srv
        .post("/entityOperations/create")
        .json(&json!([e(3, json!({"a": 1})), e(1, json!({})), e(2, json!({}))]))
        .send()
        .await;
    r.expect(201);
    assert_eq!(r.content_type().as_deref(), Some("application/json"));
    assert_eq!(r.json(), json!([id(3), id(1), id(2)]), "the created ids, in request order");
    assert_eq!(srv.entity(&id(3), "?options=keyValues").await, json!({"id": id(3), "type": "Thing", "a": 1}));
    assert_eq!(srv.query_ids(&[("type", "Thing")]).await, vec![id(1), id(2), id(3)]);
}

#[tokio::test]
async fn create_with_failures_is_207() {
    let srv = TestServer::start().await;
    srv.create_all(&[e(1, json!({"a": 1}))]).await;
    let r = srv
        .post("/entityOperations/create")
        .json(&json!([
            e(1, json!({"a": 2})),                       // exists
            e(2, json!({})),                             // new
            e(3, json!({"p": {"type": "Property"}})),    // invalid
            e(4, json!({})),                             // new
            e(4, json!({"dup": true})),                  // twice in the batch
            {"id": "not a uri", "type": "Thing"},        // bad id
            {"type": "Thing"}                            // no id
        ]))
        .send()
        .await;
    r.expect(207);
    let body = r.json();
    assert_eq!(body["success"], json!([id(2), id(4)]), "{body}");
    assert_eq!(body["errors"].as_array().map(Vec::len), Some(5), "{body}");
    assert_error(&body, &id(1), "AlreadyExists", 409, &id(1));
    assert_error(&body, &id(3), "BadRequestData", 400, "'p'");
    assert_error(&body, &id(4), "BadRequestData", 400, "twice");
    assert_error(&body, "not a uri", "BadRequestData", 400, "not a URI");
    assert_error(&body, "", "BadRequestData", 400, "no 'id'");

    assert_eq!(srv.entity(&id(1), "?options=keyValues").await["a"], json!(1), "the existing entity is untouched");
    assert!(srv.entity(&id(4), "?options=keyValues").await.get("dup").is_none(), "the first of the duplicates won");
    assert_eq!(srv.query_ids(&[("type", "Thing")]).await, vec![id(1), id(2), id(4)]);
}

#[tokio::test]
async fn batch_body_errors() {
    let srv = TestServer::start_with(Setup {
        config: ApiConfig { max_batch: 2, ..ApiConfig::default() },
        ..Setup::default()
    })
    .await;
    for op in ["create", "upsert", "update", "delete"] {
        let path = format!("/entityOperations/{op}");
        srv.post(&path).json(&json!({"id": id(1)})).send().await.problem(400, "BadRequestData", &["JSON array"]);
        srv.post(&path).json(&json!([])).send().await.problem(400, "BadRequestData", &["empty"]);
        let three = if op == "delete" {
            json!([id(1), id(2), id(3)])
        } else {
            json!([e(1, json!({})), e(2, json!({})), e(3, json!({}))])
        };
        srv.post(&path).json(&three).send().await.problem(400, "BadRequestData", &["at most 2", "3"]);
        srv.post(&path).raw("application/json", "[{").send().await.problem(400, "InvalidRequest", &["not valid JSON"]);
        srv.post(&path).raw("text/plain", "[]").send().await.problem(415, "InvalidRequest", &["text/plain"]);
        srv.post(&path).body("[]").send().await.problem(415, "InvalidRequest", &["Content-Type"]);
        srv.post(&format!("{path}?foo=bar")).json(&json!([id(1)])).send().await.problem(
            400,
            "BadRequestData",
            &["'foo'"],
        );
    }
    assert_eq!(srv.query_ids(&[("type", "Thing")]).await, Vec::<String>::new());
}

#[tokio::test]
async fn upsert_replace_and_update() {
    let srv = TestServer::start().await;
    // All new: 201 with the ids.
    let r = srv
        .post("/entityOperations/upsert")
        .json(&json!([e(1, json!({"a": 1, "b": 1})), e(2, json!({"a": 1}))]))
        .send()
        .await;
    r.expect(201);
    assert_eq!(r.json(), json!([id(1), id(2)]));

    // All existing, default (replace): 204, attributes not sent are gone.
    let r = srv.post("/entityOperations/upsert").json(&json!([e(1, json!({"c": 3}))])).send().await;
    r.expect(204);
    assert_eq!(r.text, "");
    assert_eq!(srv.entity(&id(1), "?options=keyValues").await, json!({"id": id(1), "type": "Thing", "c": 3}));

    // options=replace is the same.
    let r = srv.post("/entityOperations/upsert?options=replace").json(&json!([e(1, json!({"d": 4}))])).send().await;
    r.expect(204);
    assert_eq!(srv.entity(&id(1), "?options=keyValues").await, json!({"id": id(1), "type": "Thing", "d": 4}));

    // options=update: attributes merged in, types added; a mix creates → 201 with only the new ids.
    let before = srv.entity(&id(2), "?options=sysAttrs").await;
    let r = srv
        .post("/entityOperations/upsert?options=update")
        .json(&json!([
            {"id": id(2), "type": "Gadget", "b": 2, "a": 10},
            e(5, json!({"z": 0}))
        ]))
        .send()
        .await;
    r.expect(201);
    assert_eq!(r.json(), json!([id(5)]));
    let after = srv.entity(&id(2), "?options=sysAttrs").await;
    assert_eq!(after["type"], json!(["Thing", "Gadget"]));
    assert_eq!((after["a"]["value"].clone(), after["b"]["value"].clone()), (json!(10), json!(2)));
    assert_eq!(after["createdAt"], before["createdAt"]);
    assert_eq!(after["a"]["createdAt"], before["a"]["createdAt"], "an updated attribute keeps its createdAt");

    // Failures make a 207 listing created and updated ids as successes.
    let r = srv
        .post("/entityOperations/upsert")
        .json(&json!([
            e(1, json!({"x": 1})),
            e(6, json!({})),
            e(7, json!({"bad": {"type": "Relationship", "object": "x"}}))
        ]))
        .send()
        .await;
    r.expect(207);
    let body = r.json();
    let mut success: Vec<String> =
        body["success"].as_array().expect("success").iter().map(|v| v.as_str().expect("id").to_string()).collect();
    success.sort();
    assert_eq!(success, vec![id(1), id(6)]);
    assert_error(&body, &id(7), "BadRequestData", 400, "'bad'");
    assert!(srv.get(&format!("/entities/{}", id(7))).send().await.status == 404);

    let r = srv.post("/entityOperations/upsert?options=update,replace").json(&json!([e(1, json!({}))])).send().await;
    r.problem(400, "BadRequestData", &["update", "replace"]);
    let r = srv.post("/entityOperations/upsert?options=noSuch").json(&json!([e(1, json!({}))])).send().await;
    r.problem(400, "BadRequestData", &["'noSuch'"]);
}

#[tokio::test]
async fn update_existing_entities() {
    let srv = TestServer::start().await;
    srv.create_all(&[e(1, json!({"a": 1})), e(2, json!({"a": 1}))]).await;
    let r = srv
        .post("/entityOperations/update")
        .json(&json!([e(1, json!({"a": 2, "b": 2})), e(2, json!({"c": 3}))]))
        .send()
        .await;
    r.expect(204);
    assert_eq!(srv.entity(&id(1), "?options=keyValues").await, json!({"id": id(1), "type": "Thing", "a": 2, "b": 2}));
    assert_eq!(srv.entity(&id(2), "?options=keyValues").await, json!({"id": id(2), "type": "Thing", "a": 1, "c": 3}));

    // noOverwrite keeps existing attributes and adds new ones.
    let r = srv
        .post("/entityOperations/update?options=noOverwrite")
        .json(&json!([e(1, json!({"a": 9, "d": 4}))]))
        .send()
        .await;
    r.expect(204);
    assert_eq!(
        srv.entity(&id(1), "?options=keyValues").await,
        json!({"id": id(1), "type": "Thing", "a": 2, "b": 2, "d": 4})
    );

    // Missing entities are errors; they are not created.
    let r =
        srv.post("/entityOperations/update").json(&json!([e(1, json!({"a": 3})), e(9, json!({"a": 1}))])).send().await;
    r.expect(207);
    let body = r.json();
    assert_eq!(body["success"], json!([id(1)]));
    assert_error(&body, &id(9), "ResourceNotFound", 404, &id(9));
    assert_eq!(srv.entity(&id(1), "?options=keyValues").await["a"], json!(3));
    srv.get(&format!("/entities/{}", id(9))).send().await.problem(404, "ResourceNotFound", &[&id(9)]);
}

#[tokio::test]
async fn delete_entities() {
    let srv = TestServer::start().await;
    srv.create_all(&[e(1, json!({})), e(2, json!({})), e(3, json!({}))]).await;
    let r = srv.post("/entityOperations/delete").json(&json!([id(1), id(2)])).send().await;
    r.expect(204);
    assert_eq!(r.text, "");
    assert_eq!(srv.query_ids(&[("type", "Thing")]).await, vec![id(3)]);

    let r = srv.post("/entityOperations/delete").json(&json!([id(3), id(1), "not a uri", 5])).send().await;
    r.expect(207);
    let body = r.json();
    assert_eq!(body["success"], json!([id(3)]));
    assert_error(&body, &id(1), "ResourceNotFound", 404, &id(1));
    assert_error(&body, "not a uri", "BadRequestData", 400, "not a URI");
    assert_error(&body, "5", "BadRequestData", 400, "entity ids");
    assert_eq!(srv.query_ids(&[("type", "Thing")]).await, Vec::<String>::new());
}

#[tokio::test]
async fn json_ld_batches_carry_a_context_per_entity() {
    let srv = TestServer::start().await;
    let mut a = e(1, json!({"a": 1}));
    a["@context"] = json!(CORE);
    let mut b = e(2, json!({"name": "Central"}));
    b["@context"] = json!(common::DEMO_URL);
    let r = srv.post("/entityOperations/create").ld(&json!([a, b])).send().await;
    r.expect(201);
    let got = srv.entity(&id(2), "").await;
    assert_eq!(got["https://smartdatamodels.org/name"]["value"], json!("Central"), "expanded with its own context");

    // An element without @context in an ld+json batch fails alone.
    let mut c = e(3, json!({}));
    c["@context"] = json!(CORE);
    let r = srv.post("/entityOperations/create").ld(&json!([c, e(4, json!({}))])).send().await;
    r.expect(207);
    let body = r.json();
    assert_eq!(body["success"], json!([id(3)]));
    assert_error(&body, &id(4), "BadRequestData", 400, "@context");

    // An application/json element may not carry @context.
    let mut d = e(5, json!({}));
    d["@context"] = json!(CORE);
    let r = srv.post("/entityOperations/create").json(&json!([e(6, json!({})), d])).send().await;
    r.expect(207);
    let body = r.json();
    assert_eq!(body["success"], json!([id(6)]));
    assert_error(&body, &id(5), "BadRequestData", 400, "@context");

    // Link header and ld+json together are contradictory.
    let mut f = e(7, json!({}));
    f["@context"] = json!(CORE);
    let r = srv.post("/entityOperations/upsert").link(common::DEMO_URL).ld(&json!([f])).send().await;
    r.problem(400, "BadRequestData", &["Link"]);
}

#[tokio::test]
async fn batch_with_link_context_and_unknown_context() {
    let srv = TestServer::start().await;
    let r = srv
        .post("/entityOperations/create")
        .link(common::DEMO_URL)
        .json(&json!([{"id": id(1), "type": "Device", "batteryLevel": 0.5}]))
        .send()
        .await;
    r.expect(201);
    let got = srv.get(&format!("/entities/{}", id(1))).link(common::DEMO_URL).send().await;
    assert_eq!(
        got.expect(200).json(),
        json!({"id": id(1), "type": "Device", "batteryLevel": {"type": "Property", "value": 0.5}})
    );

    let r = srv
        .post("/entityOperations/create")
        .link("https://unknown.example/ctx.jsonld")
        .json(&json!([e(2, json!({}))]))
        .send()
        .await;
    r.problem(503, "LdContextNotAvailable", &["https://unknown.example/ctx.jsonld"]);
    srv.get(&format!("/entities/{}", id(2))).send().await.problem(404, "ResourceNotFound", &[]);
}
