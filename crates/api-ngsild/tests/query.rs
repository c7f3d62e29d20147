//! Querying entities over HTTP: `GET /entities` (type selection, ids, idPattern, attrs,
//! the `q` language, paging and counting, errors) and `POST /entityOperations/query`.

mod common;

use std::collections::BTreeSet;

use common::{ids, TestServer};
use serde_json::{json, Value};

fn dataset() -> Vec<Value> {
    vec![
        json!({
            "id": "urn:ngsi-ld:Shelter:001", "type": "Shelter",
            "capacity": 100, "isOpen": true, "category": "school",
            "name": {"type": "LanguageProperty", "languageMap": {"ja": "中央避難所", "en": "Central"}},
            "address": {"type": "Property", "value": {"city": "Maebashi", "zip": "371-0026"}},
            "lastInspection": "2024-05-01T09:00:00Z",
            "refBuilding": {"type": "Relationship", "object": "urn:ngsi-ld:Building:A"}
        }),
        json!({
            "id": "urn:ngsi-ld:Shelter:002", "type": "Shelter",
            "capacity": 250, "isOpen": false, "category": "gym",
            "name": {"type": "LanguageProperty", "languageMap": {"ja": "北避難所", "en": "North"}},
            "address": {"type": "Property", "value": {"city": "Takasaki"}},
            "lastInspection": "2025-01-15T09:00:00Z",
            "refBuilding": {"type": "Relationship", "object": "urn:ngsi-ld:Building:B"}
        }),
        json!({
            "id": "urn:ngsi-ld:Shelter:003", "type": ["Shelter", "Building"],
            "capacity": 40, "isOpen": true, "category": "community",
            "address": {"type": "Property", "value": {"city": "Maebashi"}},
            "floors": 2
        }),
        json!({
            "id": "urn:ngsi-ld:Sensor:001", "type": "Sensor",
            "temperature": {"type": "Property", "value": 21.5, "unitCode": "CEL", "observedAt": "2025-06-01T10:00:00Z",
                            "accuracy": {"type": "Property", "value": 0.5}}
        }),
        json!({
            "id": "urn:ngsi-ld:Sensor:002", "type": "Sensor",
            "temperature": {"type": "Property", "value": 30.1, "observedAt": "2025-06-02T10:00:00Z",
                            "accuracy": {"type": "Property", "value": 1.5}}
        }),
        json!({"id": "urn:ngsi-ld:Building:A", "type": "Building", "floors": 3}),
        json!({"id": "urn:ngsi-ld:Building:B", "type": "Building", "floors": 10}),
    ]
}

async fn seeded() -> TestServer {
    let srv = TestServer::start().await;
    srv.create_all(&dataset()).await;
    srv
}

fn urns(short: &[&str]) -> Vec<String> {
    short.iter().map(|s| format!("urn:ngsi-ld:{s}")).collect()
}

#[tokio::test]
async fn type_selection() {
    let srv = seeded().await;
    let cases: &[(&str, &[&str])] = &[
        ("Shelter", &["Shelter:001", "Shelter:002", "Shelter:003"]),
        ("Building", &["Building:A", "Building:B", "Shelter:003"]),
        ("Sensor,Building", &["Building:A", "Building:B", "Sensor:001", "Sensor:002", "Shelter:003"]),
        ("Sensor|Building", &["Building:A", "Building:B", "Sensor:001", "Sensor:002", "Shelter:003"]),
        ("Shelter;Building", &["Shelter:003"]),
        ("(Shelter;Building)|Sensor", &["Sensor:001", "Sensor:002", "Shelter:003"]),
        ("Sensor|(Building;Shelter)", &["Sensor:001", "Sensor:002", "Shelter:003"]),
        ("(Shelter,Sensor);Building", &["Shelter:003"]),
        ("Nothing", &[]),
    ];
    for (sel, want) in cases {
        assert_eq!(srv.query_ids(&[("type", sel)]).await, urns(want), "type={sel}");
    }
    // The full IRI is the same type.
    let iri = format!("{}Sensor", common::VOCAB);
    assert_eq!(srv.query_ids(&[("type", &iri)]).await, urns(&["Sensor:001", "Sensor:002"]));

    for (bad, want) in [("(Shelter", "')'"), ("Shelter;", "position 8"), ("A B", "'A B'"), ("Shelter)", "')'")] {
        let r = srv.get("/entities").query(&[("type", bad)]).send().await;
        r.problem(400, "BadRequestData", &[want]);
    }
}

#[tokio::test]
async fn ids_and_id_pattern() {
    let srv = seeded().await;
    let list = "urn:ngsi-ld:Sensor:002,urn:ngsi-ld:Shelter:001,urn:ngsi-ld:Nope:1";
    assert_eq!(srv.query_ids(&[("id", list)]).await, urns(&["Sensor:002", "Shelter:001"]));
    assert_eq!(srv.query_ids(&[("id", list), ("type", "Sensor")]).await, urns(&["Sensor:002"]));
    assert_eq!(srv.query_ids(&[("idPattern", "^urn:ngsi-ld:Sensor:")]).await, urns(&["Sensor:001", "Sensor:002"]));
    assert_eq!(
        srv.query_ids(&[("idPattern", ":00[13]$"), ("type", "Shelter")]).await,
        urns(&["Shelter:001", "Shelter:003"])
    );
    let r = srv.get("/entities").query(&[("idPattern", "([")]).send().await;
    r.problem(400, "BadRequestData", &["idPattern"]);
    let r = srv.get("/entities").query(&[("id", "urn:ngsi-ld:Sensor:001,not a uri")]).send().await;
    r.problem(400, "BadRequestData", &["'not a uri'"]);
}

#[tokio::test]
async fn attrs_selects_and_projects() {
    let srv = seeded().await;
    let r = srv.get("/entities").query(&[("attrs", "floors")]).send().await;
    let body = r.expect(200).json();
    assert_eq!(ids(&body), urns(&["Building:A", "Building:B", "Shelter:003"]));
    for e in body.as_array().expect("array") {
        let keys: BTreeSet<&str> = e.as_object().expect("object").keys().map(String::as_str).collect();
        assert_eq!(keys, BTreeSet::from(["id", "type", "floors"]), "{e}");
    }
    assert_eq!(
        srv.query_ids(&[("attrs", "temperature,floors")]).await,
        urns(&["Building:A", "Building:B", "Sensor:001", "Sensor:002", "Shelter:003"])
    );
    // With a type: projection only.
    let r = srv
        .get("/entities")
        .query(&[("type", "Shelter"), ("attrs", "capacity"), ("options", "keyValues")])
        .send()
        .await;
    assert_eq!(
        r.expect(200).json(),
        json!([
            {"id": "urn:ngsi-ld:Shelter:001", "type": "Shelter", "capacity": 100},
            {"id": "urn:ngsi-ld:Shelter:002", "type": "Shelter", "capacity": 250},
            {"id": "urn:ngsi-ld:Shelter:003", "type": ["Shelter", "Building"], "capacity": 40}
        ])
    );
}

#[tokio::test]
async fn q_language() {
    let srv = seeded().await;
    let cases: &[(&str, &[&str])] = &[
        // comparisons
        ("capacity>100", &["Shelter:002"]),
        ("capacity>=100", &["Shelter:001", "Shelter:002"]),
        ("capacity<100", &["Shelter:003"]),
        ("capacity<=100", &["Shelter:001", "Shelter:003"]),
        ("capacity==250", &["Shelter:002"]),
        ("capacity!=100", &["Shelter:002", "Shelter:003"]),
        ("capacity > 99.5", &["Shelter:001", "Shelter:002"]),
        // ranges and lists
        ("capacity==40..100", &["Shelter:001", "Shelter:003"]),
        ("capacity==41..99", &[]),
        ("capacity==40,250", &["Shelter:002", "Shelter:003"]),
        ("capacity!=40,250", &["Shelter:001"]),
        ("category==\"school\",\"gym\"", &["Shelter:001", "Shelter:002"]),
        ("category==\"gym\"..\"school\"", &["Shelter:001", "Shelter:002"]),
        // strings and patterns
        ("category==\"school\"", &["Shelter:001"]),
        ("category~=\"^com\"", &["Shelter:003"]),
        ("category~=\"(?i)^SCH\"", &["Shelter:001"]),
        ("category!~=\"o\"", &["Shelter:002"]),
        // booleans
        ("isOpen==true", &["Shelter:001", "Shelter:003"]),
        ("isOpen==false", &["Shelter:002"]),
        // existence
        ("floors", &["Building:A", "Building:B", "Shelter:003"]),
        ("temperature", &["Sensor:001", "Sensor:002"]),
        // ; and | with parentheses
        ("capacity>50;isOpen==true", &["Shelter:001"]),
        ("capacity<50|category==\"gym\"", &["Shelter:002", "Shelter:003"]),
        ("(capacity<50|category==\"gym\");isOpen==false", &["Shelter:002"]),
        ("capacity<50|category==\"gym\";isOpen==false", &["Shelter:002", "Shelter:003"]),
        ("((floors>2);(floors<5))|temperature>30", &["Building:A", "Sensor:002"]),
        // sub-properties and metadata
        ("temperature.accuracy<1", &["Sensor:001"]),
        ("temperature.accuracy", &["Sensor:001", "Sensor:002"]),
        ("temperature.observedAt>=2025-06-02T00:00:00Z", &["Sensor:002"]),
        ("temperature.observedAt<2025-06-02T00:00:00+09:00", &["Sensor:001"]),
        ("temperature.unitCode==\"CEL\"", &["Sensor:001"]),
        // compound values and language maps
        ("address[city]==\"Maebashi\"", &["Shelter:001", "Shelter:003"]),
        ("address[zip]", &["Shelter:001"]),
        ("name[en]==\"North\"", &["Shelter:002"]),
        ("name==\"中央避難所\"", &["Shelter:001"]),
        ("name[ja]~=\"北\"", &["Shelter:002"]),
        // date-times in string values
        ("lastInspection<2025-01-01T00:00:00Z", &["Shelter:001"]),
        ("lastInspection>=2024-05-01T09:00:00Z", &["Shelter:001", "Shelter:002"]),
        ("lastInspection==2024-01-01T00:00:00Z..2024-12-31T23:59:59Z", &["Shelter:001"]),
        // relationships
        ("refBuilding==urn:ngsi-ld:Building:B", &["Shelter:002"]),
        ("refBuilding==\"urn:ngsi-ld:Building:A\"", &["Shelter:001"]),
        ("refBuilding==urn:ngsi-ld:Building:A,urn:ngsi-ld:Building:B", &["Shelter:001", "Shelter:002"]),
        ("refBuilding!=urn:ngsi-ld:Building:A", &["Shelter:002"]),
        ("refBuilding", &["Shelter:001", "Shelter:002"]),
    ];
    for (q, want) in cases {
        assert_eq!(srv.query_ids(&[("q", q)]).await, urns(want), "q={q}");
    }
    // q combined with type and attrs.
    assert_eq!(srv.query_ids(&[("type", "Building"), ("q", "floors>=3")]).await, urns(&["Building:A", "Building:B"]));
    assert_eq!(srv.query_ids(&[("type", "Shelter"), ("q", "floors")]).await, urns(&["Shelter:003"]));
    assert_eq!(srv.query_ids(&[("attrs", "capacity"), ("q", "isOpen==false")]).await, urns(&["Shelter:002"]));
}

#[tokio::test]
async fn invalid_q_is_400_naming_the_position() {
    let srv = seeded().await;
    let cases: &[(&str, &[&str])] = &[
        ("capacity=5", &["position 8", "'=='"]),
        ("(capacity>1", &["position 11", "')'"]),
        ("capacity>1)", &["position 10", "')'"]),
        ("capacity>", &["position 9", "value"]),
        ("capacity~=abc", &["position 10", "quoted regular expression"]),
        ("capacity~=\"(\"", &["position 10", "regular expression"]),
        ("capacity>1..5", &["range"]),
        (";capacity", &["position 0"]),
        ("capacity==\"open", &["position 10", "unterminated"]),
        ("sensor{humidity}>1", &["position 6", "linked-entity"]),
        ("   ", &["empty"]),
    ];
    for (q, want) in cases {
        let r = srv.get("/entities").query(&[("q", q)]).send().await;
        let mut all = vec!["invalid q"];
        all.extend_from_slice(want);
        r.problem(400, "BadRequestData", &all);
    }
}

#[tokio::test]
async fn too_complex_q_is_403_too_complex_query() {
    let srv = seeded().await;
    let q = format!("{}capacity>1{}", "(".repeat(40), ")".repeat(40));
    let r = srv.get("/entities").query(&[("q", &q)]).send().await;
    r.problem(403, "TooComplexQuery", &["nested"]);
}

#[tokio::test]
async fn q_on_typed_literal_values() {
    let srv = TestServer::start().await;
    srv.create(&json!({
        "id": "urn:ngsi-ld:Obs:1", "type": "Obs",
        "dateObserved": {"type": "Property", "value": {"@type": "DateTime", "@value": "2018-08-07T12:00:00Z"}},
        "level": {"type": "Property", "value": {"@type": "xsd:integer", "@value": 5}}
    }))
    .await;
    let want = vec!["urn:ngsi-ld:Obs:1".to_string()];
    // These are not pushed down and pass.
    assert_eq!(srv.query_ids(&[("q", "dateObserved>=2018-01-01T00:00:00Z")]).await, want);
    // The pushed-down equality finds nothing, the evaluator would accept.
    assert_eq!(srv.query_ids(&[("q", "dateObserved==\"2018-08-07T12:00:00Z\"")]).await, want);
    assert_eq!(srv.query_ids(&[("q", "level==5")]).await, want);
    assert_eq!(srv.query_ids(&[("q", "level>4")]).await, want);
}

#[tokio::test]
async fn q_on_vocab_property_terms() {
    let srv = TestServer::start().await;
    srv.create(
        &json!({"id": "urn:ngsi-ld:Person:1", "type": "Person", "gender": {"type": "VocabProperty", "vocab": "Male"}}),
    )
    .await;
    srv.create(&json!({"id": "urn:ngsi-ld:Person:2", "type": "Person", "gender": {"type": "VocabProperty", "vocab": "Female"}}))
        .await;
    assert_eq!(srv.query_ids(&[("q", "gender==Male")]).await, vec!["urn:ngsi-ld:Person:1".to_string()]);
}

/// 45 entities with ids in a known order.
async fn forty_five() -> TestServer {
    let srv = TestServer::start().await;
    let items: Vec<Value> =
        (0..45).map(|i| json!({"id": format!("urn:ngsi-ld:Item:{i:03}"), "type": "Item", "n": i})).collect();
    srv.create_all(&items).await;
    srv
}

#[tokio::test]
async fn paging_with_limit_and_offset() {
    let srv = forty_five().await;
    let mut seen = Vec::new();
    for offset in (0..50).step_by(10) {
        let off = offset.to_string();
        let r = srv
            .get("/entities")
            .query(&[("type", "Item"), ("limit", "10"), ("offset", &off), ("count", "true")])
            .send()
            .await;
        r.expect(200);
        assert_eq!(r.header("ngsild-results-count").as_deref(), Some("45"), "offset {offset}");
        let page = ids(&r.json());
        assert_eq!(page.len(), if offset < 40 { 10 } else { 5 }, "offset {offset}");
        seen.extend(page);
    }
    let want: Vec<String> = (0..45).map(|i| format!("urn:ngsi-ld:Item:{i:03}")).collect();
    assert_eq!(seen, want, "every entity exactly once, in id order");

    // Paging through a q that is not pushed down, with count.
    let r =
        srv.get("/entities").query(&[("q", "n!=3"), ("limit", "7"), ("offset", "40"), ("count", "true")]).send().await;
    assert_eq!(r.header("ngsild-results-count").as_deref(), Some("44"));
    assert_eq!(ids(&r.expect(200).json()), urns(&["Item:041", "Item:042", "Item:043", "Item:044"]));

    // The default page is 20; no count header unless asked for.
    let r = srv.get("/entities").query(&[("type", "Item")]).send().await;
    assert_eq!(ids(&r.expect(200).json()).len(), 20);
    assert!(r.header("ngsild-results-count").is_none());
    assert_eq!(srv.query_ids(&[("type", "Item"), ("offset", "100")]).await, Vec::<String>::new());
    let r = srv.get("/entities").query(&[("type", "Item"), ("count", "false")]).send().await;
    assert!(r.expect(200).header("ngsild-results-count").is_none());
}

#[tokio::test]
async fn count_limits_and_selectors() {
    let srv = forty_five().await;
    let r = srv.get("/entities").query(&[("type", "Item"), ("limit", "0"), ("count", "true")]).send().await;
    assert_eq!(r.expect(200).json(), json!([]));
    assert_eq!(r.header("ngsild-results-count").as_deref(), Some("45"));
    let r = srv.get("/entities").query(&[("q", "n>=40"), ("limit", "0"), ("count", "true")]).send().await;
    assert_eq!(r.header("ngsild-results-count").as_deref(), Some("5"));

    let r = srv.get("/entities").query(&[("type", "Item"), ("limit", "0")]).send().await;
    r.problem(400, "BadRequestData", &["limit=0"]);
    let r = srv.get("/entities").query(&[("type", "Item"), ("limit", "1001")]).send().await;
    r.problem(403, "TooManyResults", &["1001", "1000"]);
    let r = srv.get("/entities").query(&[("type", "Item"), ("limit", "1000")]).send().await;
    assert_eq!(ids(&r.expect(200).json()).len(), 45);
    for (k, v) in [("limit", "-1"), ("limit", "ten"), ("offset", "x"), ("count", "yes")] {
        let r = srv.get("/entities").query(&[("type", "Item"), (k, v)]).send().await;
        r.problem(400, "BadRequestData", &[k, v]);
    }

    let r = srv.get("/entities").send().await;
    r.problem(400, "BadRequestData", &["at least one of type"]);
    let r = srv.get("/entities").query(&[("limit", "5")]).send().await;
    r.problem(400, "BadRequestData", &["at least one of type"]);
    let r = srv.get("/entities").query(&[("type", "Item"), ("bogus", "1")]).send().await;
    r.problem(400, "BadRequestData", &["'bogus'"]);
    let r = srv.get("/entities").query(&[("type", "Item"), ("scopeQ", "/A")]).send().await;
    r.problem(422, "OperationNotSupported", &["scopeQ"]);
}

#[tokio::test]
async fn trailing_slash_and_representations() {
    let srv = seeded().await;
    let r = srv.get("/entities/").query(&[("type", "Sensor")]).send().await;
    assert_eq!(ids(&r.expect(200).json()), urns(&["Sensor:001", "Sensor:002"]));

    let r = srv.get("/entities").query(&[("type", "Sensor"), ("options", "keyValues")]).send().await;
    assert_eq!(
        r.expect(200).json(),
        json!([
            {"id": "urn:ngsi-ld:Sensor:001", "type": "Sensor", "temperature": 21.5},
            {"id": "urn:ngsi-ld:Sensor:002", "type": "Sensor", "temperature": 30.1}
        ])
    );
    let r = srv.get("/entities").query(&[("type", "Sensor"), ("options", "sysAttrs")]).send().await;
    for e in r.expect(200).json().as_array().expect("array") {
        common::assert_rfc3339(&e["createdAt"]);
        common::assert_rfc3339(&e["temperature"]["modifiedAt"]);
    }
    let r = srv.get("/entities").query(&[("type", "Shelter"), ("lang", "en"), ("attrs", "name")]).send().await;
    let body = r.expect(200).json();
    assert_eq!(body[1]["name"], json!({"type": "Property", "value": "North", "lang": "en"}));

    let r = srv.get("/entities").query(&[("type", "Sensor")]).accept("application/ld+json").send().await;
    assert_eq!(r.expect(200).content_type().as_deref(), Some("application/ld+json"));
    for e in r.json().as_array().expect("array") {
        assert_eq!(e["@context"], json!(common::CORE), "each entity carries its @context");
    }
    let r = srv.get("/entities").query(&[("type", "Sensor")]).send().await;
    assert!(r.header("link").is_some_and(|l| l.contains(common::CORE)));
}

#[tokio::test]
async fn post_query() {
    let srv = seeded().await;
    let r = srv
        .post("/entityOperations/query")
        .json(&json!({"type": "Query", "entities": [{"type": "Shelter"}], "q": "capacity>50", "attrs": ["capacity"]}))
        .send()
        .await;
    assert_eq!(
        r.expect(200).json(),
        json!([
            {"id": "urn:ngsi-ld:Shelter:001", "type": "Shelter", "capacity": {"type": "Property", "value": 100}},
            {"id": "urn:ngsi-ld:Shelter:002", "type": "Shelter", "capacity": {"type": "Property", "value": 250}}
        ])
    );
    let post = |body: Value, qs: &'static [(&'static str, &'static str)]| {
        let srv = &srv;
        async move { srv.post("/entityOperations/query").query(qs).json(&body).send().await }
    };
    let r = post(json!({"type": "Query", "entities": [{"type": "(Shelter;Building)|Sensor"}]}), &[]).await;
    assert_eq!(ids(&r.expect(200).json()), urns(&["Sensor:001", "Sensor:002", "Shelter:003"]));
    let r = post(json!({"type": "Query", "entities": [{"idPattern": "Building"}]}), &[]).await;
    assert_eq!(ids(&r.expect(200).json()), urns(&["Building:A", "Building:B"]));
    let r =
        post(json!({"type": "Query", "entities": [{"id": "urn:ngsi-ld:Building:B", "type": "Building"}]}), &[]).await;
    assert_eq!(ids(&r.expect(200).json()), urns(&["Building:B"]));
    let r = post(json!({"type": "Query", "q": "floors"}), &[("limit", "1"), ("offset", "1"), ("count", "true")]).await;
    assert_eq!(ids(&r.expect(200).json()), urns(&["Building:B"]));
    assert_eq!(r.header("ngsild-results-count").as_deref(), Some("3"));
    let r = post(json!({"type": "Query", "attrs": ["temperature"]}), &[("options", "keyValues")]).await;
    assert_eq!(r.expect(200).json()[0], json!({"id": "urn:ngsi-ld:Sensor:001", "type": "Sensor", "temperature": 21.5}));

    // Errors.
    let r = post(json!({"entities": [{"type": "Shelter"}]}), &[]).await;
    r.problem(400, "BadRequestData", &["\"type\": \"Query\""]);
    let r = post(json!({"type": "Query"}), &[]).await;
    r.problem(400, "BadRequestData", &["at least one of"]);
    let r = post(json!({"type": "Query", "entities": []}), &[]).await;
    r.problem(400, "BadRequestData", &["'entities'"]);
    let r = post(json!({"type": "Query", "entities": [{"type": "A"}, {"type": "B"}]}), &[]).await;
    r.problem(422, "OperationNotSupported", &["EntitySelector"]);
    let r = post(json!({"type": "Query", "q": "capacity=1"}), &[]).await;
    r.problem(400, "BadRequestData", &["invalid q", "position 8"]);
    let r = post(json!({"type": "Query", "q": 5}), &[]).await;
    r.problem(400, "BadRequestData", &["'q'"]);
    let r = post(json!({"type": "Query", "attrs": "capacity"}), &[]).await;
    r.problem(400, "BadRequestData", &["'attrs'"]);
    let r = post(json!({"type": "Query", "entities": [{"type": "Shelter"}]}), &[("limit", "5000")]).await;
    r.problem(403, "TooManyResults", &["5000"]);
    let r = post(json!([1]), &[]).await;
    r.problem(400, "BadRequestData", &["JSON object"]);
    let r = post(json!({"type": "Query", "q": "floors"}), &[("type", "Building")]).await;
    r.problem(400, "BadRequestData", &["'type'"]);
}
