//! Durability: what the API acknowledged is still there after the server stops, the
//! store is closed and the same data directory is opened again.

mod common;

use common::{Setup, TestServer};
use serde_json::json;

#[tokio::test]
async fn acknowledged_writes_survive_a_restart() {
    let srv = TestServer::start().await;
    srv.create(&json!({"id": "urn:ngsi-ld:T:single", "type": "T", "a": 1,
                       "name": {"type": "LanguageProperty", "languageMap": {"ja": "名前"}}}))
        .await;
    let batch: Vec<_> = (0..25).map(|i| json!({"id": format!("urn:ngsi-ld:T:b{i:02}"), "type": "T", "n": i})).collect();
    srv.create_all(&batch).await;
    srv.patch("/entities/urn:ngsi-ld:T:single/attrs").json(&json!({"a": 2})).send().await.expect(204);
    srv.delete("/entities/urn:ngsi-ld:T:b00").send().await.expect(204);
    srv.post("/entities")
        .tenant("city")
        .json(&json!({"id": "urn:ngsi-ld:T:tenant", "type": "T"}))
        .send()
        .await
        .expect(201);
    let before = srv.entity("urn:ngsi-ld:T:single", "?options=sysAttrs").await;

    let dir = srv.stop().await;
    let srv = TestServer::start_with(Setup { dir: Some(dir), ..Setup::default() }).await;

    assert_eq!(srv.entity("urn:ngsi-ld:T:single", "?options=sysAttrs").await, before, "identical after reopening");
    let r = srv.get("/entities").query(&[("type", "T"), ("limit", "100"), ("count", "true")]).send().await;
    assert_eq!(r.expect(200).header("ngsild-results-count").as_deref(), Some("25"));
    assert!(!common::ids(&r.json()).contains(&"urn:ngsi-ld:T:b00".to_string()), "the delete is durable too");
    assert_eq!(
        srv.query_ids(&[("q", "n>=23")]).await,
        vec!["urn:ngsi-ld:T:b23".to_string(), "urn:ngsi-ld:T:b24".to_string()]
    );
    assert_eq!(srv.entity("urn:ngsi-ld:T:b05", "?options=keyValues").await["n"], json!(5));
    // The tenant is remembered, and unknown tenants are still unknown.
    let r = srv.get("/entities/urn:ngsi-ld:T:tenant").tenant("city").send().await;
    r.expect(200);
    srv.get("/types").tenant("town").send().await.problem(404, "NonexistentTenant", &["'town'"]);
    assert_eq!(srv.get("/types/T").send().await.expect(200).json()["entityCount"], json!(25));

    // And the reopened store takes writes.
    srv.create(&json!({"id": "urn:ngsi-ld:T:after", "type": "T"})).await;
    let dir = srv.stop().await;
    let srv = TestServer::start_with(Setup { dir: Some(dir), ..Setup::default() }).await;
    srv.entity("urn:ngsi-ld:T:after", "").await;
}
