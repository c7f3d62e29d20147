//! User `@context`s over HTTP: the shipped demo context through `Link` and in JSON-LD
//! bodies (names expanded on input, compacted on output), inline contexts, and remote
//! contexts fetched from a second HTTP server (cached; unavailable ones are 503).

mod common;

use common::{enc, ContextServer, Setup, TestServer, CORE, DEMO_URL, NGSI_LD_LOCATION, VOCAB};
use serde_json::{json, Value};

const POI: &str = "urn:ngsi-ld:PointOfInterest:1";
const POI_TYPE: &str = "https://smartdatamodels.org/dataModel.PointOfInterest/PointOfInterest";
const NAME: &str = "https://smartdatamodels.org/name";
const CAPACITY: &str = "https://kizuna.example/ns/capacity";
const OCCUPANCY: &str = "https://kizuna.example/ns/occupancy";
const REF_BUILDING: &str = "https://smartdatamodels.org/dataModel.Building/refBuilding";

fn poi() -> Value {
    json!({
        "id": POI,
        "type": "PointOfInterest",
        "name": {"type": "Property", "value": "中央公民館"},
        "capacity": {"type": "Property", "value": 300, "occupancy": {"type": "Property", "value": 12}},
        "refBuilding": {"type": "Relationship", "object": "urn:ngsi-ld:Building:1"},
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [139.06, 36.39]}},
        "localNote": {"type": "Property", "value": "not in the demo context"}
    })
}

/// The same entity as read with the core context only.
fn poi_expanded() -> Value {
    json!({
        "id": POI,
        "type": POI_TYPE,
        NAME: {"type": "Property", "value": "中央公民館"},
        CAPACITY: {"type": "Property", "value": 300, OCCUPANCY: {"type": "Property", "value": 12}},
        REF_BUILDING: {"type": "Relationship", "object": "urn:ngsi-ld:Building:1"},
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [139.06, 36.39]}},
        "localNote": {"type": "Property", "value": "not in the demo context"}
    })
}

#[tokio::test]
async fn link_context_expands_input_and_compacts_output() {
    let srv = TestServer::start().await;
    srv.post("/entities").link(DEMO_URL).json(&poi()).send().await.expect(201);

    let r = srv.get(&format!("/entities/{POI}")).link(DEMO_URL).send().await;
    r.expect(200);
    assert_eq!(r.json(), poi(), "compacted with the same context");
    let link = r.header("link").expect("Link");
    assert!(link.contains(&format!("<{DEMO_URL}>")), "the answer names the user context: {link}");

    let r = srv.get(&format!("/entities/{POI}")).link(DEMO_URL).accept("application/ld+json").send().await;
    let mut body = r.expect(200).json();
    assert_eq!(body["@context"], json!(DEMO_URL));
    body.as_object_mut().expect("object").remove("@context");
    assert_eq!(body, poi());

    // With the core context only, the expanded IRIs show.
    assert_eq!(srv.entity(POI, "").await, poi_expanded());
    let kv = srv.entity(POI, "?options=keyValues").await;
    assert_eq!(kv[CAPACITY], json!(300));

    // A Link header without the JSON-LD context relation is not a context.
    let r = srv.get(&format!("/entities/{POI}")).header("Link", &format!("<{DEMO_URL}>; rel=\"next\"")).send().await;
    assert_eq!(r.expect(200).json(), poi_expanded());
}

#[tokio::test]
async fn queries_and_updates_use_the_link_context() {
    let srv = TestServer::start().await;
    srv.post("/entities").link(DEMO_URL).json(&poi()).send().await.expect(201);
    let with = |pairs: &'static [(&'static str, &'static str)]| {
        let srv = &srv;
        async move { common::ids(&srv.get("/entities").query(pairs).link(DEMO_URL).send().await.expect(200).json()) }
    };
    let want = vec![POI.to_string()];
    assert_eq!(with(&[("type", "PointOfInterest")]).await, want);
    assert_eq!(with(&[("q", "capacity>200")]).await, want);
    assert_eq!(with(&[("q", "capacity.occupancy<20")]).await, want);
    assert_eq!(with(&[("attrs", "name")]).await, want);
    assert_eq!(with(&[("type", "PointOfInterest"), ("q", "name==\"中央公民館\"")]).await, want);
    // Without the context the short names mean something else.
    assert_eq!(srv.query_ids(&[("type", "PointOfInterest")]).await, Vec::<String>::new());
    assert_eq!(srv.query_ids(&[("q", "capacity>200")]).await, Vec::<String>::new());
    assert_eq!(srv.query_ids(&[("type", POI_TYPE)]).await, want);
    assert_eq!(srv.query_ids(&[("q", "localNote")]).await, want, "undefined terms use the default vocabulary");

    let r =
        srv.get("/entities").query(&[("type", "PointOfInterest"), ("attrs", "capacity")]).link(DEMO_URL).send().await;
    let body = r.expect(200).json();
    assert_eq!(body[0]["capacity"]["value"], json!(300));
    assert!(body[0].get(CAPACITY).is_none());

    // Updates through the context touch the same attribute.
    let path = format!("/entities/{POI}/attrs");
    srv.patch(&path).link(DEMO_URL).json(&json!({"capacity": 310})).send().await.expect(204);
    assert_eq!(srv.entity(POI, "?options=keyValues").await[CAPACITY], json!(310));
    let r = srv.patch(&path).json(&json!({"capacity": 5})).send().await;
    r.expect(207);
    assert_eq!(r.json()["notUpdated"][0]["attributeName"], json!("capacity"));
    srv.patch(&format!("{path}/capacity")).link(DEMO_URL).json(&json!({"value": 320})).send().await.expect(204);
    srv.patch(&format!("{path}/capacity")).json(&json!({"value": 1})).send().await.problem(
        404,
        "ResourceNotFound",
        &["'capacity'"],
    );
    srv.delete(&format!("{path}/name")).send().await.problem(404, "ResourceNotFound", &["'name'"]);
    srv.delete(&format!("{path}/name")).link(DEMO_URL).send().await.expect(204);
    let e = srv.entity(POI, "?options=keyValues").await;
    assert_eq!(e[CAPACITY], json!(320));
    assert!(e.get(NAME).is_none(), "{e}");
}

#[tokio::test]
async fn discovery_uses_the_link_context() {
    let srv = TestServer::start().await;
    srv.post("/entities").link(DEMO_URL).json(&poi()).send().await.expect(201);
    let body = srv.get("/types").link(DEMO_URL).send().await.expect(200).json();
    assert_eq!(body["typeList"], json!(["PointOfInterest"]));
    let body = srv.get("/types").send().await.expect(200).json();
    assert_eq!(body["typeList"], json!([POI_TYPE]));

    let body = srv.get("/types/PointOfInterest").link(DEMO_URL).send().await.expect(200).json();
    assert_eq!(body["id"], json!(POI_TYPE));
    assert_eq!(body["typeName"], json!("PointOfInterest"));
    assert_eq!(body["entityCount"], json!(1));
    let mut names: Vec<String> = body["attributeDetails"]
        .as_array()
        .expect("details")
        .iter()
        .map(|d| d["attributeName"].as_str().expect("name").to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["capacity", "localNote", "location", "name", "refBuilding"]);
    srv.get("/types/PointOfInterest").send().await.problem(404, "ResourceNotFound", &["PointOfInterest"]);
    srv.get(&format!("/types/{}", enc(POI_TYPE))).send().await.expect(200);

    let body = srv.get("/attributes/capacity").link(DEMO_URL).send().await.expect(200).json();
    assert_eq!(body["id"], json!(CAPACITY));
    assert_eq!(body["typeNames"], json!(["PointOfInterest"]));
    srv.get("/attributes/capacity").send().await.problem(404, "ResourceNotFound", &["'capacity'"]);
    let body = srv.get("/attributes").send().await.expect(200).json();
    let list = body["attributeList"].as_array().expect("list");
    assert!(list.contains(&json!(CAPACITY)) && list.contains(&json!("location")), "{body}");
}

#[tokio::test]
async fn json_ld_bodies_carry_their_context() {
    let srv = TestServer::start().await;
    let mut body = poi();
    body["@context"] = json!(DEMO_URL);
    srv.post("/entities").ld(&body).send().await.expect(201);
    assert_eq!(srv.entity(POI, "").await, poi_expanded());

    let mut body = poi();
    body["id"] = json!("urn:ngsi-ld:PointOfInterest:2");
    body["@context"] = json!([DEMO_URL, CORE]);
    srv.post("/entities").ld(&body).send().await.expect(201);
    let r = srv.get("/entities/urn:ngsi-ld:PointOfInterest:2").link(DEMO_URL).send().await;
    assert_eq!(r.expect(200).json()["capacity"]["value"], json!(300));

    // Inline contexts: terms, @vocab, and the core terms cannot be redefined.
    let r = srv
        .post("/entities")
        .ld(&json!({
            "@context": [{"Robot": "https://robots.example/Robot", "speed": "https://robots.example/speed",
                          "location": "https://evil.example/location", "@vocab": "https://vocab.example/"}, CORE],
            "id": "urn:ngsi-ld:Robot:1", "type": "Robot", "speed": 3, "battery": 0.5,
            "location": {"type": "Point", "coordinates": [1, 2]}
        }))
        .send()
        .await;
    r.expect(201);
    let e = srv.entity("urn:ngsi-ld:Robot:1", "?options=keyValues").await;
    assert_eq!(e["type"], json!("https://robots.example/Robot"));
    assert_eq!(e["https://robots.example/speed"], json!(3));
    assert_eq!(e["https://vocab.example/battery"], json!(0.5));
    assert_eq!(e["location"], json!({"type": "Point", "coordinates": [1, 2]}), "core 'location' kept");
    let r = srv.get("/attributes").send().await.expect(200).json();
    assert!(r["attributeList"].as_array().expect("list").contains(&json!("location")));
    assert!(!r["attributeList"].as_array().expect("list").contains(&json!(format!("{VOCAB}location"))));
    srv.get(&format!("/attributes/{}", enc(NGSI_LD_LOCATION))).send().await.expect(200);

    // PUT/PATCH with JSON-LD bodies.
    let r =
        srv.patch(&format!("/entities/{POI}/attrs")).ld(&json!({"@context": DEMO_URL, "capacity": 301})).send().await;
    r.expect(204);
    assert_eq!(srv.entity(POI, "?options=keyValues").await[CAPACITY], json!(301));
    let r = srv
        .put(&format!("/entities/{POI}/attrs/capacity"))
        .ld(&json!({"@context": DEMO_URL, "type": "Property", "value": 302}))
        .send()
        .await;
    r.expect(204);
    assert_eq!(srv.entity(POI, "?options=keyValues").await[CAPACITY], json!(302));
}

#[tokio::test]
async fn bad_and_unknown_contexts() {
    let srv = TestServer::start().await;
    let unknown = "https://unknown.example/context.jsonld";
    let r = srv.post("/entities").link(unknown).json(&poi()).send().await;
    r.problem(503, "LdContextNotAvailable", &[unknown]);
    let mut body = poi();
    body["@context"] = json!(unknown);
    srv.post("/entities").ld(&body).send().await.problem(503, "LdContextNotAvailable", &[unknown]);
    srv.get(&format!("/entities/{POI}")).link(unknown).send().await.problem(503, "LdContextNotAvailable", &[unknown]);
    srv.get("/types").link(unknown).send().await.problem(503, "LdContextNotAvailable", &[unknown]);
    srv.get("/entities?type=A").link(unknown).send().await.problem(503, "LdContextNotAvailable", &[unknown]);
    srv.get(&format!("/entities/{POI}")).send().await.problem(404, "ResourceNotFound", &[POI]);

    body["@context"] = json!(5);
    srv.post("/entities").ld(&body).send().await.problem(400, "BadRequestData", &["@context"]);
    body["@context"] = json!({"term": 5});
    srv.post("/entities").ld(&body).send().await.problem(400, "BadRequestData", &["'term'"]);
    let r = srv
        .get(&format!("/entities/{POI}"))
        .header("Link", "no-brackets; rel=\"http://www.w3.org/ns/json-ld#context\"")
        .send()
        .await;
    r.problem(400, "BadRequestData", &["Link"]);
    srv.get(&format!("/entities/{POI}")).send().await.problem(404, "ResourceNotFound", &[POI]);
}

fn robot_context() -> Value {
    json!({"@context": {"Robot": "https://robots.example/Robot", "speed": "https://robots.example/speed"}})
}

async fn remote_server() -> (TestServer, ContextServer) {
    let ctx = ContextServer::start(robot_context()).await;
    let srv = TestServer::start_with(Setup { fetch_remote: true, ..Setup::default() }).await;
    (srv, ctx)
}

#[tokio::test]
async fn remote_context_is_fetched_once_and_used() {
    let (srv, ctx) = remote_server().await;
    let url = format!("{}/ctx.jsonld", ctx.origin);
    let robot = json!({"id": "urn:ngsi-ld:Robot:1", "type": "Robot", "speed": 3});
    srv.post("/entities").link(&url).json(&robot).send().await.expect(201);
    assert_eq!(ctx.hits(), 1, "fetched on first use");

    let r = srv.get("/entities/urn:ngsi-ld:Robot:1").link(&url).query(&[("options", "keyValues")]).send().await;
    assert_eq!(r.expect(200).json(), robot, "compacted with the fetched context");
    let e = srv.entity("urn:ngsi-ld:Robot:1", "?options=keyValues").await;
    assert_eq!(
        e,
        json!({"id": "urn:ngsi-ld:Robot:1", "type": "https://robots.example/Robot", "https://robots.example/speed": 3})
    );
    assert_eq!(
        srv.query_ids(&[("type", "https://robots.example/Robot")]).await,
        vec!["urn:ngsi-ld:Robot:1".to_string()]
    );

    // In a JSON-LD body too, with the cached document.
    let r = srv
        .post("/entities")
        .ld(&json!({"@context": [url.clone(), CORE], "id": "urn:ngsi-ld:Robot:2", "type": "Robot", "speed": 5}))
        .send()
        .await;
    r.expect(201);
    let r = srv.get("/entities").link(&url).query(&[("type", "Robot"), ("q", "speed>4")]).send().await;
    assert_eq!(common::ids(&r.expect(200).json()), vec!["urn:ngsi-ld:Robot:2".to_string()]);
    assert_eq!(ctx.hits(), 1, "the remote document is cached");

    // The locally known demo context needs no fetch at all.
    srv.get("/types").link(DEMO_URL).send().await.expect(200);
    assert_eq!(ctx.hits(), 1);
}

#[tokio::test]
async fn unavailable_remote_contexts_are_503() {
    let (srv, ctx) = remote_server().await;
    let robot = json!({"id": "urn:ngsi-ld:Robot:1", "type": "Robot", "speed": 3});
    let unreachable = common::unreachable_url().await;
    let cases = [
        (unreachable.clone(), "could not be fetched"),
        (format!("{}/missing.jsonld", ctx.origin), "404"),
        (format!("{}/not-json", ctx.origin), "not JSON"),
        (format!("{}/no-context.jsonld", ctx.origin), "no @context"),
        ("ftp://contexts.example/ctx.jsonld".to_string(), "http(s)"),
    ];
    for (url, why) in &cases {
        let r = srv.post("/entities").link(url).json(&robot).send().await;
        r.problem(503, "LdContextNotAvailable", &[url, why]);
        let mut body = robot.clone();
        body["@context"] = json!(url);
        srv.post("/entities").ld(&body).send().await.problem(503, "LdContextNotAvailable", &[url]);
        srv.get("/entities/urn:ngsi-ld:Robot:1").link(url).send().await.problem(503, "LdContextNotAvailable", &[url]);
    }
    srv.get("/entities/urn:ngsi-ld:Robot:1").send().await.problem(404, "ResourceNotFound", &["urn:ngsi-ld:Robot:1"]);
    // A failure is not cached: once the document can be had, it is used.
    let good = format!("{}/ctx.jsonld", ctx.origin);
    srv.post("/entities").link(&good).json(&robot).send().await.expect(201);
}
