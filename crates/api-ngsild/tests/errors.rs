//! Request-level errors over HTTP: body size, media types, malformed JSON, `@context`
//! placement, query-string problems, and the ProblemDetails shape of every answer.

mod common;

use common::{Setup, TestServer, CORE};
use kizuna_api_ngsild::ApiConfig;
use serde_json::json;

const ID: &str = "urn:ngsi-ld:T:1";

#[tokio::test]
async fn oversized_body_is_413_problem_details() {
    let srv = TestServer::start().await;
    // A syntactically valid entity just over the 8 MiB default limit.
    let filler = "x".repeat(8 * 1024 * 1024 + 1024);
    let body = json!({"id": ID, "type": "T", "blob": filler}).to_string();
    assert!(body.len() > 8 * 1024 * 1024);
    let r = srv.post("/entities").raw("application/json", body).send().await;
    let p = r.problem(413, "BadRequestData", &["too large"]);
    assert_eq!(p["title"], json!("Payload too large"));
    srv.get(&format!("/entities/{ID}")).send().await.problem(404, "ResourceNotFound", &[ID]);

    // A body under the limit is fine.
    let body = json!({"id": ID, "type": "T", "blob": "x".repeat(1024 * 1024)}).to_string();
    srv.post("/entities").raw("application/json", body).send().await.expect(201);
}

#[tokio::test]
async fn body_limit_applies_to_every_operation_with_a_body() {
    let srv = TestServer::start_with(Setup {
        config: ApiConfig { max_body_bytes: 1024, ..ApiConfig::default() },
        ..Setup::default()
    })
    .await;
    srv.create(&json!({"id": ID, "type": "T", "a": 1})).await;
    let big = json!({"a": "y".repeat(2048)});
    let big_entity = json!({"id": ID, "type": "T", "a": "y".repeat(2048)});
    let big_batch = json!([big_entity.clone()]);
    let calls = [
        srv.post("/entities").json(&big_entity),
        srv.put(&format!("/entities/{ID}")).json(&big_entity),
        srv.patch(&format!("/entities/{ID}")).json(&big),
        srv.post(&format!("/entities/{ID}/attrs")).json(&big),
        srv.patch(&format!("/entities/{ID}/attrs")).json(&big),
        srv.patch(&format!("/entities/{ID}/attrs/a")).json(&json!({"value": "y".repeat(2048)})),
        srv.put(&format!("/entities/{ID}/attrs/a")).json(&json!({"type": "Property", "value": "y".repeat(2048)})),
        srv.post("/entityOperations/create").json(&big_batch),
        srv.post("/entityOperations/upsert").json(&big_batch),
        srv.post("/entityOperations/update").json(&big_batch),
        srv.post("/entityOperations/delete").json(&json!(vec![ID; 100])),
        srv.post("/entityOperations/query")
            .json(&json!({"type": "Query", "q": format!("a==\"{}\"", "y".repeat(2048))})),
    ];
    for call in calls {
        call.send().await.problem(413, "BadRequestData", &["too large"]);
    }
    assert_eq!(srv.entity(ID, "?options=keyValues").await, json!({"id": ID, "type": "T", "a": 1}));
}

#[tokio::test]
async fn media_types() {
    let srv = TestServer::start().await;
    let entity = json!({"id": ID, "type": "T"});
    let r = srv.post("/entities").raw("text/plain", entity.to_string()).send().await;
    r.problem(415, "InvalidRequest", &["'text/plain'"]);
    let r = srv.post("/entities").raw("application/xml", "<entity/>").send().await;
    r.problem(415, "InvalidRequest", &["'application/xml'"]);
    let r = srv.post("/entities").body(entity.to_string()).send().await;
    r.problem(415, "InvalidRequest", &["Content-Type"]);
    // merge-patch is only for merge operations.
    let r = srv.post("/entities").raw("application/merge-patch+json", entity.to_string()).send().await;
    r.problem(415, "InvalidRequest", &["application/merge-patch+json"]);
    // Parameters of the media type are fine.
    srv.post("/entities").raw("application/json; charset=utf-8", entity.to_string()).send().await.expect(201);
    srv.create(&json!({"id": "urn:ngsi-ld:T:2", "type": "T"})).await;
    let r = srv.patch(&format!("/entities/{ID}/attrs")).raw("text/plain", "{}").send().await;
    r.problem(415, "InvalidRequest", &["text/plain"]);
    let r = srv.patch(&format!("/entities/{ID}")).raw("text/plain", "{}").send().await;
    r.problem(415, "InvalidRequest", &["text/plain"]);
    let r = srv.post("/entityOperations/query").raw("text/plain", "{}").send().await;
    r.problem(415, "InvalidRequest", &["text/plain"]);
    // Accept is checked on every operation.
    let r = srv.post("/entities").accept("text/html").json(&json!({"id": "urn:ngsi-ld:T:3", "type": "T"})).send().await;
    r.problem(406, "InvalidRequest", &["text/html"]);
    srv.get("/types").accept("image/png").send().await.problem(406, "InvalidRequest", &["image/png"]);
}

#[tokio::test]
async fn malformed_and_empty_bodies() {
    let srv = TestServer::start().await;
    let r = srv.post("/entities").raw("application/json", r#"{"id": "urn:ngsi-ld:T:1", "type": "T","#).send().await;
    r.problem(400, "InvalidRequest", &["not valid JSON"]);
    let r = srv.post("/entities").raw("application/json", "{'id': 1}").send().await;
    r.problem(400, "InvalidRequest", &["not valid JSON"]);
    let r = srv.post("/entities").raw("application/json", "").send().await;
    r.problem(400, "BadRequestData", &["empty"]);
    let r = srv.post("/entities").json(&json!([{"id": ID, "type": "T"}])).send().await;
    r.problem(400, "BadRequestData", &["JSON object"]);
    let r = srv.post("/entities").json(&json!("urn:ngsi-ld:T:1")).send().await;
    r.problem(400, "BadRequestData", &["JSON object"]);
    srv.create(&json!({"id": ID, "type": "T"})).await;
    let r = srv.patch(&format!("/entities/{ID}/attrs")).raw("application/json", "{").send().await;
    r.problem(400, "InvalidRequest", &["not valid JSON"]);
    let r = srv.post("/entityOperations/query").raw("application/json", "nope").send().await;
    r.problem(400, "InvalidRequest", &["not valid JSON"]);
}

#[tokio::test]
async fn context_placement_rules() {
    let srv = TestServer::start().await;
    // application/json must not carry @context in the body.
    let r = srv.post("/entities").json(&json!({"@context": CORE, "id": ID, "type": "T"})).send().await;
    r.problem(400, "BadRequestData", &["@context", "Link"]);
    // application/ld+json must carry it.
    let r = srv.post("/entities").ld(&json!({"id": ID, "type": "T"})).send().await;
    r.problem(400, "BadRequestData", &["@context"]);
    // ... and must not come with a Link header as well.
    let r = srv.post("/entities").link(CORE).ld(&json!({"@context": CORE, "id": ID, "type": "T"})).send().await;
    r.problem(400, "BadRequestData", &["Link", "application/ld+json"]);
    srv.get(&format!("/entities/{ID}")).send().await.problem(404, "ResourceNotFound", &[ID]);

    // The right combinations work.
    srv.post("/entities").ld(&json!({"@context": CORE, "id": ID, "type": "T"})).send().await.expect(201);
    srv.post("/entities").link(CORE).json(&json!({"id": "urn:ngsi-ld:T:2", "type": "T"})).send().await.expect(201);
    let r = srv.patch(&format!("/entities/{ID}/attrs")).json(&json!({"@context": CORE, "a": 1})).send().await;
    r.problem(400, "BadRequestData", &["@context"]);
}

#[tokio::test]
async fn query_string_and_path_errors() {
    let srv = TestServer::start().await;
    let r = srv.post("/entities?foo=1").json(&json!({"id": ID, "type": "T"})).send().await;
    r.problem(400, "BadRequestData", &["'foo'"]);
    srv.get(&format!("/entities/{ID}")).send().await.problem(404, "ResourceNotFound", &[ID]);
    srv.create(&json!({"id": ID, "type": "T", "a": 1})).await;
    let r = srv.get(&format!("/entities/{ID}?options=keyValues&options=concise")).send().await;
    r.problem(400, "BadRequestData", &["'options'", "more than once"]);
    let r = srv.put(&format!("/entities/{ID}?options=keyValues")).json(&json!({"type": "T"})).send().await;
    r.problem(400, "BadRequestData", &["'options'"]);
    let r = srv.delete(&format!("/entities/{ID}?attrs=a")).send().await;
    r.problem(400, "BadRequestData", &["'attrs'"]);
    srv.get("/entities/no-scheme").send().await.problem(400, "BadRequestData", &["'no-scheme'"]);
    srv.patch("/entities/no-scheme/attrs").json(&json!({"a": 1})).send().await.problem(
        400,
        "BadRequestData",
        &["'no-scheme'"],
    );
    srv.delete("/entities/no-scheme/attrs/a").send().await.problem(400, "BadRequestData", &["'no-scheme'"]);

    // Paths and methods the API does not have.
    assert_eq!(srv.get("/nothing").send().await.status, 404);
    assert_eq!(srv.delete("/entities").send().await.status, 405);
    assert_eq!(srv.post(&format!("/entities/{ID}")).json(&json!({})).send().await.status, 405);
    assert_eq!(srv.get("/entityOperations/create").send().await.status, 405);
}

#[tokio::test]
async fn trailing_slashes_are_trimmed_everywhere() {
    let srv = TestServer::start().await;
    srv.post("/entities/").json(&json!({"id": ID, "type": "T", "a": 1})).send().await.expect(201);
    srv.get(&format!("/entities/{ID}/")).send().await.expect(200);
    srv.patch(&format!("/entities/{ID}/attrs/")).json(&json!({"a": 2})).send().await.expect(204);
    srv.get("/types/T/").send().await.expect(200);
    srv.get("/attributes/").send().await.expect(200);
    srv.post("/entityOperations/delete/").json(&json!([ID])).send().await.expect(204);
}
