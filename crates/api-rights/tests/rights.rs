//! The citizen's rights end to end, over real HTTP: the admin classifies and registers,
//! the city records blood pressure for two people through NGSI-LD, and citizen A
//! consents, withdraws, stops, delegates, reads the access log, exports and erases —
//! while the app's reads through the NGSI-LD API follow each change.

mod common;

use std::collections::BTreeSet;
use std::io::Read as _;

use common::*;
use serde_json::{json, Value};

const A1: &str = "urn:ngsi-ld:BloodPressure:a1";
const B1: &str = "urn:ngsi-ld:BloodPressure:b1";
const A_STEPS: &str = "urn:ngsi-ld:StepCount:a-steps";
const SHELTER: &str = "urn:ngsi-ld:Shelter:1";
/// A's earlier record, deleted since: only its history is held.
const A0: &str = "urn:ngsi-ld:BloodPressure:a0";

/// The policy, A's and B's blood pressure, A's step count (personal only by
/// `dataSubject`) and a public shelter.
async fn city() -> Server {
    let s = Server::start().await;
    s.setup_policy().await;
    s.create_bp(A0, ALICE, 150).await;
    s.delete(&format!("/ngsi-ld/v1/entities/{}", enc(A0)))
        .bearer(&s.admin())
        .tenant(T1)
        .send()
        .await
        .expect_status(204);
    s.create_bp(A1, ALICE, 121).await;
    s.create_bp(B1, BOB, 140).await;
    let admin = s.admin();
    s.post("/ngsi-ld/v1/entities")
        .bearer(&admin)
        .tenant(T1)
        .json(&json!({
            "id": A_STEPS, "type": "StepCount",
            "steps": {"type": "Property", "value": 8000},
            "dataSubject": {"type": "Relationship", "object": ALICE}
        }))
        .send()
        .await
        .expect(201);
    s.post("/ngsi-ld/v1/entities")
        .bearer(&admin)
        .tenant(T1)
        .json(&json!({"id": SHELTER, "type": "Shelter", "capacity": {"type": "Property", "value": 200}}))
        .send()
        .await
        .expect(201);
    // A second measurement: history for the export.
    s.call(reqwest::Method::PATCH, &format!("/ngsi-ld/v1/entities/{}/attrs", enc(A1)))
        .bearer(&admin)
        .tenant(T1)
        .json(&json!({"systolic": {"type": "Property", "value": 118, "observedAt": "2025-04-02T09:00:00Z"}}))
        .send()
        .await
        .expect(204);
    s
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("expected an array: {v}"))
        .iter()
        .map(|e| e["id"].as_str().unwrap_or_else(|| panic!("no id in {e}")).to_string())
        .collect()
}

async fn access_log(s: &Server, token: &str) -> Vec<Value> {
    let r = s.get("/me/access-log").bearer(token).query(&[("limit", "1000")]).send().await.expect(200);
    r["records"].as_array().expect("records").clone()
}

async fn grant(s: &Server, token: &str) -> String {
    let c = s
        .post("/me/consents")
        .bearer(token)
        .json(&json!({"recipient": APP, "purposes": ["healthcare"], "categories": ["health"], "noticeVersion": "v1"}))
        .send()
        .await
        .expect(201);
    c["id"].as_str().expect("consent id").to_string()
}

#[tokio::test]
async fn consent_withdrawal_usage_stop_and_delegation_govern_the_apps_reads() {
    let s = city().await;
    let alice = s.citizen(ALICE);
    let bob = s.citizen(BOB);

    let me = s.get("/me").bearer(&alice).send().await.expect(200);
    assert_eq!(me, json!({"subject": ALICE, "tenant": T1}));

    // My data: only mine, grouped by category, normalized NGSI-LD.
    let data = s.get("/me/data").bearer(&alice).send().await.expect(200);
    assert_eq!(ids(&data["health"]), vec![A1]);
    assert_eq!(ids(&data["unclassified"]), vec![A_STEPS]);
    assert_eq!(data.as_object().map(|o| o.len()), Some(2), "{data}");
    assert_eq!(data["health"][0]["type"], "BloodPressure");
    assert_eq!(data["health"][0]["systolic"]["value"], 118);
    assert_eq!(data["health"][0]["dataSubject"]["object"], ALICE);
    assert!(!data.to_string().contains(B1));

    // No consent: the app sees nothing personal.
    assert_eq!(s.app_reads(A1).await, 404);

    // Consent → the app reads A's record, not B's.
    let consent = grant(&s, &alice).await;
    assert!(consent.starts_with("urn:kizuna:consent:"), "{consent}");
    let listed = s.get("/me/consents").bearer(&alice).send().await.expect(200);
    assert_eq!(listed[0]["id"], consent.as_str());
    assert_eq!(listed[0]["method"], "app");
    assert_eq!(listed[0]["controller"], T1);
    assert_eq!(listed[0]["subject"], ALICE);
    assert_eq!(s.app_reads(A1).await, 200);
    assert_eq!(s.app_reads(B1).await, 404);

    // B cannot withdraw A's consent: it is not theirs.
    s.post(&format!("/me/consents/{}/withdraw", enc(&consent))).bearer(&bob).send().await.problem(
        404,
        &format!("{NGSI_ERRORS}ResourceNotFound"),
        &[&consent],
    );
    // A withdraws → the app's next read is refused.
    let w = s.post(&format!("/me/consents/{}/withdraw", enc(&consent))).bearer(&alice).send().await.expect(200);
    assert!(w["withdrawn_at"].is_string(), "{w}");
    assert_eq!(s.app_reads(A1).await, 404);

    // A's access log: the app's allowed and denied reads, with purpose and display name.
    let log = access_log(&s, &alice).await;
    let app_reads: Vec<&Value> = log.iter().filter(|r| r["actor"] == APP && r["resource"] == A1).collect();
    assert!(app_reads.iter().all(|r| r["purpose"] == "healthcare" && r["actor_name"] == "Health App"));
    assert!(app_reads.iter().all(|r| r["role"] == "service-provider" && r["action"] == "read"));
    assert!(app_reads.iter().any(|r| r["allowed"] == true && r["basis"] == format!("consent:{consent}")));
    assert!(app_reads.iter().any(|r| r["allowed"] == false && r["reason"] == "no-consent"));
    assert!(log.iter().any(|r| r["actor"] == ALICE && r["basis"] == "subject"), "my own reads are logged too");
    assert!(log.iter().all(|r| r["resource"] != B1), "B's record is not in A's log");
    assert!(log.iter().all(|r| r["at"].is_string() && r["seq"].is_u64()));
    // Paging.
    let page = s.get("/me/access-log").bearer(&alice).query(&[("limit", "2")]).send().await.expect(200);
    assert_eq!(page["records"].as_array().map(Vec::len), Some(2));
    let next = page["next"].as_u64().expect("a next cursor for a full page");
    let rest = s
        .get("/me/access-log")
        .bearer(&alice)
        .query(&[("after", &next.to_string()), ("limit", "1000")])
        .send()
        .await
        .expect(200);
    assert_eq!(rest["records"].as_array().map(Vec::len), Some(log.len() - 2));
    assert_eq!(rest["next"], Value::Null);
    // B's log has the app's refused read of B's record.
    let blog = access_log(&s, &bob).await;
    assert!(blog.iter().any(|r| r["actor"] == APP && r["resource"] == B1 && r["allowed"] == false));
    assert!(blog.iter().all(|r| r["resource"] != A1));

    // Usage stop (利用停止) overrides a consent in force.
    let consent2 = grant(&s, &alice).await;
    assert_eq!(s.app_reads(A1).await, 200);
    let path = format!("/me/usage-stops/{}", enc(APP));
    let stop = s.put(&path).bearer(&alice).send().await.expect(201);
    assert_eq!(stop["recipient"], APP);
    assert_eq!(stop["subject"], ALICE);
    s.put(&path).bearer(&alice).send().await.expect(200);
    let stops = s.get("/me/usage-stops").bearer(&alice).send().await.expect(200);
    assert_eq!(stops.as_array().map(Vec::len), Some(1));
    assert_eq!(s.app_reads(A1).await, 404);
    let log = access_log(&s, &alice).await;
    assert!(log.iter().any(|r| r["actor"] == APP && r["reason"] == "usage-stopped"));
    s.delete(&path).bearer(&alice).send().await.expect(204);
    assert_eq!(s.app_reads(A1).await, 200);
    s.delete(&path).bearer(&alice).send().await.problem(404, &format!("{NGSI_ERRORS}ResourceNotFound"), &[APP]);
    s.post(&format!("/me/consents/{}/withdraw", enc(&consent2))).bearer(&alice).send().await.expect(200);
    assert_eq!(s.app_reads(A1).await, 404);

    // Delegation to the information bank → provision, visible to A.
    let d = s
        .post("/me/delegations")
        .bearer(&alice)
        .json(&json!({
            "categories": ["health"], "recipientKinds": ["app-vendor"], "purposes": ["healthcare"],
            "excludedRecipients": ["urn:party:tabloid"], "noticeVersion": "bank-v1"
        }))
        .send()
        .await
        .expect(201);
    let delegation = d["id"].as_str().expect("delegation id").to_string();
    assert!(delegation.starts_with("urn:kizuna:delegation:"));
    assert_eq!(s.app_reads(A1).await, 200);
    let prov = s.get("/me/provisions").bearer(&alice).send().await.expect(200);
    let records = prov["records"].as_array().expect("records");
    assert_eq!(records.len(), 1, "{prov}");
    assert_eq!(records[0]["recipient"], APP);
    assert_eq!(records[0]["recipient_name"], "Health App");
    assert_eq!(records[0]["resource"], A1);
    assert_eq!(records[0]["delegation_id"], delegation.as_str());
    assert_eq!(records[0]["purpose"], "healthcare");
    assert!(records[0]["seq"].is_i64());
    let log = access_log(&s, &alice).await;
    assert!(log.iter().any(|r| r["actor"] == APP && r["basis"] == format!("delegation:{delegation}")));
    // B sees no provisions.
    let bprov = s.get("/me/provisions").bearer(&bob).send().await.expect(200);
    assert_eq!(bprov["records"], json!([]));
    // Withdrawn → no more provision.
    s.post(&format!("/me/delegations/{}/withdraw", enc(&delegation))).bearer(&bob).send().await.expect_status(404);
    s.post(&format!("/me/delegations/{}/withdraw", enc(&delegation))).bearer(&alice).send().await.expect(200);
    assert_eq!(s.app_reads(A1).await, 404);
    let ds = s.get("/me/delegations").bearer(&alice).send().await.expect(200);
    assert!(ds[0]["withdrawn_at"].is_string(), "{ds}");

    s.stop().await;
}

#[tokio::test]
async fn export_is_a_zip_of_my_data_only() {
    let s = city().await;
    let alice = s.citizen(ALICE);
    grant(&s, &alice).await;
    assert_eq!(s.app_reads(A1).await, 200);

    let r = s.get("/me/export").bearer(&alice).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type").as_deref(), Some("application/zip"));
    let cd = r.header("content-disposition").expect("Content-Disposition");
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    assert_eq!(cd, format!("attachment; filename=\"kizuna-export-{today}.zip\""));

    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(r.body.clone())).expect("a zip archive");
    let names: BTreeSet<String> = zip.file_names().map(str::to_string).collect();
    let want: BTreeSet<String> = [
        "manifest.json",
        "entities.jsonld",
        "entities.csv",
        "consents.json",
        "delegations.json",
        "usage-stops.json",
        "provisions.json",
        "access-log.json",
        "access-log.csv",
        "fhir.json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(names, want);
    let mut read = |name: &str| {
        let mut f = zip.by_name(name).expect(name);
        let mut s = String::new();
        f.read_to_string(&mut s).expect("utf-8");
        s
    };

    let manifest: Value = serde_json::from_str(&read("manifest.json")).expect("manifest JSON");
    assert_eq!(manifest["subject"], ALICE);
    assert_eq!(manifest["tenant"], T1);
    assert!(manifest["generatedAt"].is_string());
    assert_eq!(manifest["files"].as_array().map(Vec::len), Some(10));
    assert!(manifest["notes"].as_array().is_some_and(|n| !n.is_empty()));

    let entities: Value = serde_json::from_str(&read("entities.jsonld")).expect("entities JSON");
    assert_eq!(entities["@context"], "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld");
    let mut got = ids(&entities["entities"]);
    got.sort();
    assert_eq!(got, vec![A1.to_string(), A_STEPS.to_string()]);
    let text = entities.to_string();
    assert!(!text.contains(B1) && !text.contains(BOB) && !text.contains(SHELTER), "only my data");
    let a1 = entities["entities"].as_array().and_then(|a| a.iter().find(|e| e["id"] == A1)).expect("A1");
    assert_eq!(a1["systolic"]["type"], "Property");
    let hist =
        entities["temporalEntities"].as_array().and_then(|a| a.iter().find(|e| e["id"] == A1)).expect("A1 history");
    let systolic: Vec<i64> =
        hist["systolic"].as_array().expect("instances").iter().filter_map(|i| i["value"].as_i64()).collect();
    assert!(systolic.contains(&121) && systolic.contains(&118), "both measurements in the history: {hist}");
    let old = entities["temporalEntities"].as_array().and_then(|a| a.iter().find(|e| e["id"] == A0));
    assert!(old.is_some(), "the history of my deleted record is exported too: {entities}");

    // entities.csv: RFC 4180, one row per instance.
    let csv_text = read("entities.csv");
    let mut rdr = csv::Reader::from_reader(csv_text.as_bytes());
    let headers: Vec<String> = rdr.headers().expect("headers").iter().map(str::to_string).collect();
    assert_eq!(&headers[..6], ["entityId", "entityType", "attribute", "datasetId", "observedAt", "value"]);
    let rows: Vec<csv::StringRecord> = rdr.records().collect::<Result<_, _>>().expect("CSV parses");
    assert!(rows.iter().all(|r| r.len() == headers.len()));
    assert!(rows.iter().all(|r| [A0, A1, A_STEPS].contains(&&r[0])), "only my entities in the CSV");
    assert!(rows.iter().filter(|r| &r[0] == A0).all(|r| &r[7] == "history"), "A0 exists only as history");
    assert!(rows.iter().any(|r| &r[0] == A0 && &r[2] == "systolic" && &r[5] == "150"));
    let note = rows.iter().find(|r| &r[0] == A1 && &r[2] == "note" && &r[7] == "current").expect("note row");
    assert_eq!(&note[5], r#""after breakfast, \"calm\"""#, "the value as JSON, quoted per RFC 4180");
    let current = rows.iter().find(|r| &r[0] == A1 && &r[2] == "systolic" && &r[7] == "current").expect("systolic");
    assert_eq!(&current[1], "BloodPressure");
    assert_eq!(&current[4], "2025-04-02T09:00:00Z");
    assert_eq!(&current[5], "118");
    assert!(rows.iter().any(|r| &r[0] == A1 && &r[2] == "systolic" && &r[7] == "history" && &r[5] == "121"));

    let consents: Value = serde_json::from_str(&read("consents.json")).expect("consents JSON");
    assert_eq!(consents.as_array().map(Vec::len), Some(1));
    assert_eq!(consents[0]["recipient"], APP);
    for f in ["delegations.json", "usage-stops.json", "provisions.json"] {
        let v: Value = serde_json::from_str(&read(f)).expect(f);
        assert_eq!(v, json!([]), "{f}");
    }
    let log: Value = serde_json::from_str(&read("access-log.json")).expect("access log JSON");
    let log = log.as_array().expect("array");
    assert!(log.iter().any(|r| r["action"] == "export" && r["resource"] == A1 && r["allowed"] == true));
    assert!(log.iter().any(|r| r["action"] == "read" && r["actor"] == APP));
    let log_csv = read("access-log.csv");
    let mut rdr = csv::Reader::from_reader(log_csv.as_bytes());
    let n = rdr.records().collect::<Result<Vec<_>, _>>().expect("access-log.csv parses").len();
    assert_eq!(n, log.len());
    // No FHIR resources held: an empty collection (FHIR JSON has no empty arrays).
    let fhir: Value = serde_json::from_str(&read("fhir.json")).expect("fhir.json");
    assert_eq!((fhir["resourceType"].as_str(), fhir["type"].as_str()), (Some("Bundle"), Some("collection")));
    assert!(fhir.get("entry").is_none(), "{fhir}");

    // The export is in the access log the citizen reads.
    let now_log = access_log(&s, &alice).await;
    assert!(now_log.iter().any(|r| r["action"] == "export" && r["resource"] == A_STEPS));
    s.stop().await;
}

#[tokio::test]
async fn erasure_removes_my_data_and_keeps_the_legal_record() {
    let s = city().await;
    let alice = s.citizen(ALICE);
    let admin = s.admin();
    // A provision record to erase.
    let d = s
        .post("/me/delegations")
        .bearer(&alice)
        .json(&json!({"categories": ["health"], "recipientKinds": ["app-vendor"], "purposes": ["healthcare"], "noticeVersion": "1"}))
        .send()
        .await
        .expect(201);
    assert_eq!(s.app_reads(A1).await, 200);

    let preview = s.get("/me/erasure").bearer(&alice).send().await.expect(200);
    let mut would: Vec<String> =
        preview["wouldErase"].as_array().expect("ids").iter().filter_map(Value::as_str).map(str::to_string).collect();
    would.sort();
    assert_eq!(would, vec![A1.to_string(), A_STEPS.to_string()]);
    assert_eq!(preview["historyOnly"], json!([A0]));
    assert_eq!(preview["provisions"], 1);
    // A preview changes nothing.
    s.get(&format!("/ngsi-ld/v1/entities/{}", enc(A1))).bearer(&admin).tenant(T1).send().await.expect(200);

    let r = s.post("/me/erasure").bearer(&alice).send().await.expect(200);
    let mut erased: Vec<String> =
        r["erased"].as_array().expect("ids").iter().filter_map(Value::as_str).map(str::to_string).collect();
    erased.sort();
    assert_eq!(erased, vec![A0.to_string(), A1.to_string(), A_STEPS.to_string()]);
    assert_eq!(r["historyErased"], 3);
    assert_eq!(r["provisionsErased"], 1);
    assert_eq!(r["kept"], json!(["consents", "delegations", "usage stops", "guardianships", "audit log"]));
    assert_eq!(r["fhirErased"], 0);

    // Gone, history included; B's data remains.
    for id in [A0, A1, A_STEPS] {
        s.get(&format!("/ngsi-ld/v1/entities/{}", enc(id))).bearer(&admin).tenant(T1).send().await.expect_status(404);
        s.get(&format!("/ngsi-ld/v1/temporal/entities/{}", enc(id)))
            .bearer(&admin)
            .tenant(T1)
            .send()
            .await
            .expect_status(404);
    }
    s.get(&format!("/ngsi-ld/v1/entities/{}", enc(B1))).bearer(&admin).tenant(T1).send().await.expect(200);
    s.get(&format!("/ngsi-ld/v1/entities/{}", enc(SHELTER))).bearer(&admin).tenant(T1).send().await.expect(200);
    assert_eq!(s.get("/me/data").bearer(&alice).send().await.expect(200), json!({}));
    assert_eq!(s.get("/me/provisions").bearer(&alice).send().await.expect(200)["records"], json!([]));
    // The legal record stays.
    let ds = s.get("/me/delegations").bearer(&alice).send().await.expect(200);
    assert_eq!(ds[0]["id"], d["id"]);

    // The audit log verifies and holds the tombstones.
    let v = s.get("/kizuna/v1/audit/verify").bearer(&admin).send().await.expect(200);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["fault"], Value::Null);
    assert_eq!(v["tenants"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["tenants"][0]["tenant"], T1);
    assert!(v["tenants"][0]["records"].as_u64().is_some_and(|n| n > 0));
    let audit = s.get("/kizuna/v1/audit").bearer(&admin).query(&[("limit", "1000")]).send().await.expect(200);
    let records = audit["records"].as_array().expect("records");
    let tombstones: Vec<&Value> = records.iter().filter(|r| r["action"] == "erase").collect();
    assert_eq!(tombstones.len(), 3, "one tombstone per erased entity");
    for t in &tombstones {
        assert_eq!(t["actor"], ALICE);
        assert_eq!(t["subject"], ALICE);
        assert_eq!(t["decision"]["allowed"], true);
        assert!(t["hash"].is_string() && t["prev_hash"].is_string());
    }
    assert!(tombstones.iter().any(|t| t["resource"] == A1));
    let log = access_log(&s, &alice).await;
    assert!(log.iter().any(|r| r["action"] == "erase" && r["resource"] == A1));
    // Nothing left to erase.
    let again = s.post("/me/erasure").bearer(&alice).send().await.expect(200);
    assert_eq!(again["erased"], json!([]));
    s.stop().await;
}

#[tokio::test]
async fn roles_bodies_and_tenants_are_checked() {
    let s = city().await;
    let alice = s.citizen(ALICE);
    let unauthorized = format!("{KIZUNA_ERRORS}Unauthorized");
    let forbidden = format!("{KIZUNA_ERRORS}Forbidden");
    let bad = format!("{NGSI_ERRORS}BadRequestData");
    let missing = format!("{NGSI_ERRORS}ResourceNotFound");

    // Anonymous → 401 (with WWW-Authenticate), on both APIs.
    for path in ["/me", "/me/data", "/me/export", "/kizuna/v1/parties", "/kizuna/v1/audit/verify"] {
        let r = s.get(path).send().await;
        r.problem(401, &unauthorized, &[]);
        assert!(r.header("www-authenticate").is_some_and(|v| v.starts_with("Bearer")), "{path}");
    }
    s.get("/me/data").tenant(T1).send().await.problem(401, &unauthorized, &[]);
    // Other roles on /me → 403.
    s.get("/me/data").bearer(&s.app()).send().await.problem(403, &forbidden, &["citizen"]);
    s.get("/me").bearer(&s.admin()).send().await.problem(403, &forbidden, &["citizen"]);
    let clinic = s.token(T1, kizuna_consent::Role::DataHolder, Some(CLINIC), None);
    s.post("/me/erasure").bearer(&clinic).send().await.problem(403, &forbidden, &[]);
    // A citizen on the admin API → 403.
    s.get("/kizuna/v1/parties").bearer(&alice).send().await.problem(403, &forbidden, &["tenant-admin"]);
    s.put("/kizuna/v1/classification").bearer(&alice).json(&json!({})).send().await.problem(403, &forbidden, &[]);
    s.get("/kizuna/v1/audit").bearer(&alice).send().await.problem(403, &forbidden, &[]);
    // Tenant isolation: a t1 token in t2 → 403.
    s.get("/me").bearer(&alice).tenant("t2").send().await.problem(403, &forbidden, &["t1", "t2"]);
    s.get("/kizuna/v1/parties").bearer(&s.admin()).tenant("t2").send().await.problem(403, &forbidden, &[]);
    // An invalid token → 401.
    s.get("/me").bearer("not-a-token").send().await.problem(401, &unauthorized, &[]);

    // Bad bodies → 400 naming the field.
    let post = |body: Value| s.post("/me/consents").bearer(&alice).json(&body);
    post(json!({"purposes": ["healthcare"], "categories": ["health"], "noticeVersion": "1"})).send().await.problem(
        400,
        &bad,
        &["'recipient'"],
    );
    post(json!({"recipient": "urn:party:nobody", "purposes": ["healthcare"], "categories": ["health"], "noticeVersion": "1"}))
        .send()
        .await
        .problem(400, &bad, &["'recipient'", "not a registered party"]);
    post(json!({"recipient": APP, "purposes": "healthcare", "categories": ["health"], "noticeVersion": "1"}))
        .send()
        .await
        .problem(400, &bad, &["'purposes'"]);
    post(json!({"recipient": APP, "purposes": ["healthcare"], "noticeVersion": "1"})).send().await.problem(
        400,
        &bad,
        &["categories or types"],
    );
    post(json!({"recipient": APP, "purposes": ["healthcare"], "categories": ["health"]})).send().await.problem(
        400,
        &bad,
        &["'noticeVersion'"],
    );
    post(json!({"recipient": APP, "purposes": ["healthcare"], "categories": ["health"], "noticeVersion": "1", "subject": BOB}))
        .send()
        .await
        .problem(400, &bad, &["subject"]);
    post(json!({"recipient": APP, "purposes": ["healthcare"], "categories": ["health"], "noticeVersion": "1",
                "expiresAt": "2000-01-01T00:00:00Z"}))
    .send()
    .await
    .problem(400, &bad, &["'expiresAt'"]);
    post(json!({"recipient": APP, "purposes": ["healthcare"], "types": ["Bad Type"], "noticeVersion": "1"}))
        .send()
        .await
        .problem(400, &bad, &["'types[0]'"]);
    s.post("/me/consents").bearer(&alice).raw("application/json", "{not json").send().await.problem(
        400,
        &format!("{NGSI_ERRORS}InvalidRequest"),
        &[],
    );
    s.post("/me/consents").bearer(&alice).raw("text/plain", "{}").send().await.expect_status(415);
    s.post("/me/delegations")
        .bearer(&alice)
        .json(
            &json!({"categories": ["health"], "recipientKinds": [], "purposes": ["healthcare"], "noticeVersion": "1"}),
        )
        .send()
        .await
        .problem(400, &bad, &["'recipientKinds'"]);
    s.put(&format!("/me/usage-stops/{}", enc("not a uri"))).bearer(&alice).send().await.problem(
        400,
        &bad,
        &["'recipient'"],
    );
    let admin = s.admin();
    s.put("/kizuna/v1/classification")
        .bearer(&admin)
        .json(&json!({"personal": {"BloodPressure": {"category": 7}}}))
        .send()
        .await
        .problem(400, &bad, &["'personal.BloodPressure.category'"]);
    s.put("/kizuna/v1/classification")
        .bearer(&admin)
        .json(&json!({"personal": {"BloodPressure": {}}}))
        .send()
        .await
        .problem(400, &bad, &["category"]);
    s.put("/kizuna/v1/classification")
        .bearer(&admin)
        .json(&json!({"personal": {"Shelter": {"category": "location"}}, "public": ["Shelter"]}))
        .send()
        .await
        .problem(400, &bad, &["'public'"]);
    s.put(&format!("/kizuna/v1/parties/{}", enc("clinic")))
        .bearer(&admin)
        .json(&json!({"name": "x", "roles": ["data-holder"]}))
        .send()
        .await
        .problem(400, &bad, &["'id'"]);
    s.put(&format!("/kizuna/v1/parties/{}", enc(CLINIC)))
        .bearer(&admin)
        .json(&json!({"name": "x", "roles": ["doctor"]}))
        .send()
        .await
        .problem(400, &bad, &["'roles[0]'"]);
    s.put(&format!("/kizuna/v1/parties/{}", enc(CLINIC)))
        .bearer(&admin)
        .json(&json!({"roles": ["data-holder"]}))
        .send()
        .await
        .problem(400, &bad, &["'name'"]);
    // Query parameters.
    s.get("/me/access-log").bearer(&alice).query(&[("limit", "0")]).send().await.problem(400, &bad, &["'limit'"]);
    s.get("/me/access-log").bearer(&alice).query(&[("after", "x")]).send().await.problem(400, &bad, &["'after'"]);
    s.get("/me/access-log").bearer(&alice).query(&[("since", "1")]).send().await.problem(400, &bad, &["'since'"]);

    // Unknown ids → 404.
    s.post(&format!("/me/consents/{}/withdraw", enc("urn:kizuna:consent:none"))).bearer(&alice).send().await.problem(
        404,
        &missing,
        &[],
    );
    s.post(&format!("/me/delegations/{}/withdraw", enc("urn:kizuna:delegation:none")))
        .bearer(&alice)
        .send()
        .await
        .problem(404, &missing, &[]);
    s.delete(&format!("/kizuna/v1/parties/{}", enc("urn:party:none"))).bearer(&admin).send().await.problem(
        404,
        &missing,
        &[],
    );
    s.delete("/kizuna/v1/api-keys/0123456789ab").bearer(&admin).send().await.problem(404, &missing, &[]);
    s.post(&format!("/kizuna/v1/consents/{}/withdraw", enc("urn:x"))).bearer(&admin).send().await.problem(
        404,
        &missing,
        &[],
    );
    s.stop().await;
}

#[tokio::test]
async fn admin_manages_classification_parties_keys_and_counter_consents() {
    let s = city().await;
    let admin = s.admin();

    // Classification, expanded.
    let c = s.get("/kizuna/v1/classification").bearer(&admin).send().await.expect(200);
    let bp_iri = format!("{VOCAB}BloodPressure");
    assert_eq!(c["personal"][&bp_iri]["category"], "health");
    assert_eq!(c["personal"][&bp_iri]["subject_relationship"], format!("{VOCAB}dataSubject"));
    assert_eq!(c["public"], json!([format!("{VOCAB}Shelter")]));

    // Parties: replace → 200, list, delete.
    let parties = s.get("/kizuna/v1/parties").bearer(&admin).send().await.expect(200);
    assert_eq!(ids(&parties), vec![APP, CLINIC]);
    let app = parties.as_array().and_then(|a| a.iter().find(|p| p["id"] == APP)).expect("app");
    assert_eq!(app["registered_purposes"], json!(["healthcare"]));
    assert_eq!(app["recipient_kind"], "app-vendor");
    s.put(&format!("/kizuna/v1/parties/{}", enc(APP)))
        .bearer(&admin)
        .json(&json!({"name": "Health App 2", "roles": ["service-provider"], "registeredPurposes": ["healthcare"], "recipientKind": "app-vendor"}))
        .send()
        .await
        .expect(200);
    s.put(&format!("/kizuna/v1/parties/{}", enc("urn:party:tmp")))
        .bearer(&admin)
        .json(&json!({"name": "Temp", "roles": ["data-holder"]}))
        .send()
        .await
        .expect(201);
    s.delete(&format!("/kizuna/v1/parties/{}", enc("urn:party:tmp"))).bearer(&admin).send().await.expect_status(204);
    let parties = s.get("/kizuna/v1/parties").bearer(&admin).send().await.expect(200);
    assert_eq!(ids(&parties), vec![APP, CLINIC]);
    assert_eq!(parties[0]["name"], "Health App 2");

    // API keys: created once with the plaintext, listed without secrets, revoked.
    let bad = format!("{NGSI_ERRORS}BadRequestData");
    s.post("/kizuna/v1/api-keys")
        .bearer(&admin)
        .json(&json!({"party": CLINIC, "role": "service-provider"}))
        .send()
        .await
        .problem(400, &bad, &["'role'"]);
    s.post("/kizuna/v1/api-keys")
        .bearer(&admin)
        .json(&json!({"party": "urn:party:nobody", "role": "data-holder"}))
        .send()
        .await
        .problem(400, &bad, &["'party'"]);
    let k = s
        .post("/kizuna/v1/api-keys")
        .bearer(&admin)
        .json(&json!({"party": CLINIC, "role": "data-holder", "label": "lab system"}))
        .send()
        .await
        .expect(201);
    let key = k["key"].as_str().expect("plaintext key").to_string();
    let key_id = k["id"].as_str().expect("key id").to_string();
    assert!(key.starts_with(&format!("kzn_{key_id}_")));
    assert_eq!(k["party"], CLINIC);
    assert_eq!(k["role"], "data-holder");
    assert_eq!(k["label"], "lab system");
    assert!(k["createdAt"].is_string());
    s.post("/ngsi-ld/v1/entities")
        .header("X-Api-Key", &key)
        .tenant(T1)
        .json(&bp("urn:ngsi-ld:BloodPressure:b2", BOB, 135))
        .send()
        .await
        .expect_status(201);
    let keys = s.get("/kizuna/v1/api-keys").bearer(&admin).send().await.expect(200);
    assert_eq!(keys.as_array().map(Vec::len), Some(1));
    assert_eq!(keys[0]["id"], key_id.as_str());
    assert_eq!(keys[0]["revokedAt"], Value::Null);
    let text = keys.to_string();
    assert!(!text.contains(&key) && !text.contains("secret") && keys[0].get("key").is_none());
    s.delete(&format!("/kizuna/v1/api-keys/{key_id}")).bearer(&admin).send().await.expect_status(204);
    s.delete(&format!("/kizuna/v1/api-keys/{key_id}")).bearer(&admin).send().await.expect_status(204);
    let keys = s.get("/kizuna/v1/api-keys").bearer(&admin).send().await.expect(200);
    assert!(keys[0]["revokedAt"].is_string());
    s.get(&format!("/ngsi-ld/v1/entities/{}", enc(SHELTER))).header("X-Api-Key", &key).tenant(T1).send().await.problem(
        401,
        &format!("{KIZUNA_ERRORS}Unauthorized"),
        &[],
    );

    // A consent given on paper, recorded by staff.
    let clinic = s.token(T1, kizuna_consent::Role::DataHolder, Some(CLINIC), None);
    let clinic_reads = |id: &str| {
        s.get(&format!("/ngsi-ld/v1/entities/{}", enc(id)))
            .bearer(&clinic)
            .tenant(T1)
            .header("Kizuna-Purpose", "healthcare")
    };
    assert_eq!(clinic_reads(B1).send().await.status, 404);
    let consent = json!({
        "subject": BOB, "recipient": CLINIC, "purposes": ["healthcare"], "types": ["BloodPressure"],
        "attributes": ["systolic"], "noticeVersion": "paper-2025-04", "method": "app"
    });
    s.post("/kizuna/v1/consents").bearer(&admin).json(&consent).send().await.problem(400, &bad, &["'method'"]);
    let mut paper = consent.clone();
    paper["method"] = json!("paper");
    paper["id"] = json!("urn:kizuna:consent:paper-1");
    let rec = s.post("/kizuna/v1/consents").bearer(&admin).json(&paper).send().await.expect(201);
    assert_eq!(rec["id"], "urn:kizuna:consent:paper-1");
    assert_eq!(rec["controller"], T1);
    assert_eq!(rec["method"], "paper");
    assert_eq!(rec["legal_basis"], "consent");
    assert_eq!(rec["types"], json!([bp_iri]));
    assert_eq!(rec["attributes"], json!([format!("{VOCAB}systolic")]));
    assert!(rec["granted_at"].is_string());
    s.post("/kizuna/v1/consents").bearer(&admin).json(&paper).send().await.problem(
        409,
        &format!("{NGSI_ERRORS}AlreadyExists"),
        &[],
    );
    let mut no_subject = paper.clone();
    no_subject["id"] = json!("urn:kizuna:consent:paper-2");
    no_subject["subject"] = json!("");
    s.post("/kizuna/v1/consents").bearer(&admin).json(&no_subject).send().await.problem(400, &bad, &["'subject'"]);
    // The consent releases only the systolic attribute.
    let seen = clinic_reads(B1).send().await.expect(200);
    assert_eq!(seen["systolic"]["value"], 140);
    assert!(seen.get("note").is_none(), "{seen}");
    let by_subject = s.get("/kizuna/v1/consents").bearer(&admin).query(&[("subject", BOB)]).send().await.expect(200);
    assert_eq!(ids(&by_subject), vec!["urn:kizuna:consent:paper-1"]);
    let by_recipient =
        s.get("/kizuna/v1/consents").bearer(&admin).query(&[("recipient", CLINIC)]).send().await.expect(200);
    assert_eq!(ids(&by_recipient), vec!["urn:kizuna:consent:paper-1"]);
    s.get("/kizuna/v1/consents").bearer(&admin).send().await.problem(400, &bad, &["subject", "recipient"]);
    // Bob sees it in his own list; the admin withdraws it at the counter.
    let bobs = s.get("/me/consents").bearer(&s.citizen(BOB)).send().await.expect(200);
    assert_eq!(ids(&bobs), vec!["urn:kizuna:consent:paper-1"]);
    let w = s
        .post(&format!("/kizuna/v1/consents/{}/withdraw", enc("urn:kizuna:consent:paper-1")))
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert!(w["withdrawn_at"].is_string());
    assert_eq!(clinic_reads(B1).send().await.status, 404);

    // The audit page and cursor.
    let page = s.get("/kizuna/v1/audit").bearer(&admin).query(&[("limit", "1")]).send().await.expect(200);
    assert_eq!(page["records"][0]["seq"], 1);
    assert_eq!(page["records"][0]["prev_hash"], kizuna_consent::GENESIS_HASH);
    assert_eq!(page["next"], 1);
    let page2 =
        s.get("/kizuna/v1/audit").bearer(&admin).query(&[("after", "1"), ("limit", "1")]).send().await.expect(200);
    assert_eq!(page2["records"][0]["seq"], 2);
    // Retention routes still answer beside the policy routes.
    s.get("/kizuna/v1/retention").bearer(&admin).tenant(T1).send().await.expect(200);
    s.stop().await;
}

/// The OpenAPI documents: valid YAML, OpenAPI 3.0, every route described with its
/// responses, every `$ref` resolving, bearer security.
#[tokio::test]
async fn openapi_documents_describe_every_route() {
    let s = Server::start().await;
    let cases: [(&str, &[&str]); 2] = [
        (
            "/me/openapi.yaml",
            &[
                "/",
                "/data",
                "/consents",
                "/consents/{id}/withdraw",
                "/delegations",
                "/delegations/{id}/withdraw",
                "/provisions",
                "/usage-stops",
                "/usage-stops/{recipient}",
                "/guardianships",
                "/access-log",
                "/export",
                "/erasure",
                "/openapi.yaml",
            ],
        ),
        (
            "/kizuna/v1/openapi.yaml",
            &[
                "/classification",
                "/parties",
                "/parties/{id}",
                "/api-keys",
                "/api-keys/{id}",
                "/consents",
                "/consents/{id}/withdraw",
                "/guardianships",
                "/guardianships/{id}/end",
                "/audit",
                "/audit/verify",
                "/openapi.yaml",
            ],
        ),
    ];
    for (url, paths) in cases {
        let r = s.get(url).send().await;
        assert_eq!(r.status, 200, "{url}");
        assert_eq!(r.header("content-type").as_deref(), Some("application/yaml"));
        let doc: serde_yaml::Value = serde_yaml::from_slice(&r.body).expect("YAML");
        let doc: Value = serde_json::to_value(doc).expect("YAML as JSON");
        assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.0")), "{url}");
        assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
        let described: BTreeSet<&str> = doc["paths"].as_object().expect("paths").keys().map(String::as_str).collect();
        let wanted: BTreeSet<&str> = paths.iter().copied().collect();
        assert_eq!(described, wanted, "{url}");
        assert_eq!(doc["components"]["securitySchemes"]["bearerAuth"]["scheme"], "bearer");
        assert!(doc["components"]["schemas"]["ProblemDetails"].is_object());
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("path item") {
                if method == "parameters" {
                    continue;
                }
                let responses = op["responses"].as_object().unwrap_or_else(|| panic!("{path} {method}"));
                assert!(!responses.is_empty(), "{path} {method}");
                assert!(op["summary"].is_string(), "{path} {method} has a summary");
            }
            // Path parameters are declared.
            for name in path.split('/').filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}'))) {
                let declared = item.to_string().contains(&format!("\"name\":\"{name}\""));
                assert!(declared, "{url}: {path} declares {name}");
            }
        }
        // Every $ref resolves.
        let mut refs = Vec::new();
        collect_refs(&doc, &mut refs);
        assert!(!refs.is_empty());
        for r in refs {
            let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("external $ref {r}"));
            assert!(doc.pointer(pointer).is_some(), "{url}: $ref {r} does not resolve");
        }
    }
    s.stop().await;
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, v) in o {
                if k == "$ref" {
                    if let Some(s) = v.as_str() {
                        out.push(s.to_string());
                    }
                } else {
                    collect_refs(v, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}
