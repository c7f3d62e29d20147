//! Tenants over HTTP: the `NGSILD-Tenant` header isolates data completely, and a named
//! tenant that holds no data is `NonexistentTenant`.

mod common;

use common::TestServer;
use serde_json::json;

const ID: &str = "urn:ngsi-ld:Shelter:t";

#[tokio::test]
async fn tenants_are_isolated() {
    let srv = TestServer::start().await;
    // Create in tenant a.
    let r = srv.post("/entities").tenant("a").json(&json!({"id": ID, "type": "Shelter", "owner": "a"})).send().await;
    r.expect(201);
    let r = srv.get(&format!("/entities/{ID}")).tenant("a").send().await;
    assert_eq!(r.expect(200).json()["owner"]["value"], json!("a"));
    assert_eq!(r.header("ngsild-tenant").as_deref(), Some("a"), "the tenant is echoed");

    // Invisible in the default tenant.
    srv.get(&format!("/entities/{ID}")).send().await.problem(404, "ResourceNotFound", &[ID]);
    assert_eq!(srv.query_ids(&[("type", "Shelter")]).await, Vec::<String>::new());
    assert_eq!(srv.get("/types").send().await.expect(200).json()["typeList"], json!([]));

    // Tenant b does not exist yet.
    for path in [
        format!("/entities/{ID}"),
        "/entities?type=Shelter".to_string(),
        "/types".to_string(),
        "/attributes".to_string(),
        "/types/Shelter".to_string(),
        "/attributes/owner".to_string(),
    ] {
        srv.get(&path).tenant("b").send().await.problem(404, "NonexistentTenant", &["'b'"]);
    }

    // The same id in the default tenant and in b, with other contents.
    srv.create(&json!({"id": ID, "type": "Shelter", "owner": "default"})).await;
    let r = srv.post("/entities").tenant("b").json(&json!({"id": ID, "type": "Hall", "owner": "b"})).send().await;
    r.expect(201);
    let owner = |tenant: Option<&'static str>| {
        let srv = &srv;
        async move {
            let mut c = srv.get(&format!("/entities/{ID}")).query(&[("options", "keyValues")]);
            if let Some(t) = tenant {
                c = c.tenant(t);
            }
            c.send().await.expect(200).json()["owner"].clone()
        }
    };
    assert_eq!(owner(None).await, json!("default"));
    assert_eq!(owner(Some("a")).await, json!("a"));
    assert_eq!(owner(Some("b")).await, json!("b"));

    // Queries and discovery see only their tenant.
    let r = srv.get("/entities").query(&[("type", "Hall")]).tenant("b").send().await;
    assert_eq!(common::ids(&r.expect(200).json()), vec![ID.to_string()]);
    let r = srv.get("/entities").query(&[("type", "Hall")]).tenant("a").send().await;
    assert_eq!(r.expect(200).json(), json!([]));
    assert_eq!(srv.get("/types").tenant("b").send().await.json()["typeList"], json!(["Hall"]));
    assert_eq!(srv.get("/types").tenant("a").send().await.json()["typeList"], json!(["Shelter"]));
    srv.get("/types/Hall").tenant("a").send().await.problem(404, "ResourceNotFound", &["Hall"]);

    // Writes in one tenant leave the others alone.
    srv.patch(&format!("/entities/{ID}/attrs")).tenant("b").json(&json!({"owner": "B"})).send().await.expect(204);
    assert_eq!(owner(Some("a")).await, json!("a"));
    srv.delete(&format!("/entities/{ID}")).tenant("a").send().await.expect(204);
    assert_eq!(owner(None).await, json!("default"));
    assert_eq!(owner(Some("b")).await, json!("B"));
    srv.get(&format!("/entities/{ID}")).tenant("a").send().await.problem(404, "ResourceNotFound", &[ID]);
    // A tenant whose entities are all deleted still exists.
    assert_eq!(srv.get("/types").tenant("a").send().await.expect(200).json()["typeList"], json!([]));
}

#[tokio::test]
async fn batch_and_attribute_operations_respect_tenants() {
    let srv = TestServer::start().await;
    let r = srv
        .post("/entityOperations/create")
        .tenant("city")
        .json(&json!([{"id": ID, "type": "Shelter", "n": 1}]))
        .send()
        .await;
    r.expect(201);
    // Writes through other tenants do not find it.
    let r = srv
        .post("/entityOperations/update")
        .tenant("other")
        .json(&json!([{"id": ID, "type": "Shelter", "n": 2}]))
        .send()
        .await;
    r.expect(207);
    assert_eq!(r.json()["errors"][0]["error"]["type"], json!(format!("{}ResourceNotFound", common::ERRORS)));
    srv.patch(&format!("/entities/{ID}/attrs/n")).json(&json!({"value": 3})).send().await.problem(
        404,
        "ResourceNotFound",
        &[ID],
    );
    srv.post(&format!("/entities/{ID}/attrs")).tenant("other").json(&json!({"m": 1})).send().await.problem(
        404,
        "ResourceNotFound",
        &[ID],
    );
    srv.delete(&format!("/entities/{ID}/attrs/n")).tenant("nobody").send().await.problem(
        404,
        "NonexistentTenant",
        &["'nobody'"],
    );
    let r = srv.post("/entityOperations/delete").json(&json!([ID])).send().await;
    r.expect(207);
    // Still intact in its tenant.
    let r = srv.get(&format!("/entities/{ID}?options=keyValues")).tenant("city").send().await;
    assert_eq!(r.expect(200).json()["n"], json!(1));
    let r =
        srv.post("/entityOperations/query").tenant("city").json(&json!({"type": "Query", "q": "n==1"})).send().await;
    assert_eq!(common::ids(&r.expect(200).json()), vec![ID.to_string()]);
    let r =
        srv.post("/entityOperations/query").tenant("nobody").json(&json!({"type": "Query", "q": "n==1"})).send().await;
    r.problem(404, "NonexistentTenant", &["'nobody'"]);
    srv.post("/entityOperations/delete").tenant("city").json(&json!([ID])).send().await.expect(204);
}

#[tokio::test]
async fn invalid_tenant_names_are_rejected() {
    let srv = TestServer::start().await;
    let long = "x".repeat(65);
    for bad in ["a b", "a/b", "", "a;b", long.as_str()] {
        let r = srv.post("/entities").tenant(bad).json(&json!({"id": ID, "type": "T"})).send().await;
        assert_eq!(r.status, 400, "tenant {bad:?}: {}", r.text);
        r.problem(400, "BadRequestData", &["tenant"]);
    }
    assert_eq!(srv.query_ids(&[("type", "T")]).await, Vec::<String>::new());
    srv.post("/entities").tenant("ok_tenant-1.x:y").json(&json!({"id": ID, "type": "T"})).send().await.expect(201);
}
