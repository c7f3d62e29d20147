//! Guardianships over HTTP (recorded by the tenant admin and data holders, read by the
//! people in them, taking effect on the next decision), and the person's FHIR resources
//! in the portability package and the erasure.

mod common;

use std::collections::BTreeSet;
use std::io::Read as _;

use common::*;
use serde_json::{json, Value};

/// Hanako's child.
const TARO: &str = "urn:ngsi-ld:Person:taro";
/// Taro's blood pressure (an NGSI-LD entity about the ward).
const T1_BP: &str = "urn:ngsi-ld:BloodPressure:taro-1";

fn bad_data() -> String {
    format!("{NGSI_ERRORS}BadRequestData")
}

fn guardianship(guardian: &str, ward: &str) -> Value {
    json!({"guardian": guardian, "ward": ward, "relationship": "mother", "evidence": "出生届"})
}

/// Whether citizen `token` reads entity `id` through NGSI-LD (status).
async fn citizen_reads(s: &Server, token: &str, id: &str) -> u16 {
    s.get(&format!("/ngsi-ld/v1/entities/{}", enc(id))).bearer(token).tenant(T1).send().await.status
}

#[tokio::test]
async fn guardianships_are_recorded_listed_and_ended() {
    let s = Server::start().await;
    s.setup_policy().await;
    s.create_bp(T1_BP, TARO, 101).await;
    let admin = s.admin();
    let hanako = s.citizen(ALICE);
    let taro = s.citizen(TARO);
    // Not yet her ward.
    assert_eq!(citizen_reads(&s, &hanako, T1_BP).await, 404);

    // The maternal and child health section (a data holder) records the mother from the
    // birth registration, until the child's 18th birthday.
    let mut body = guardianship(ALICE, TARO);
    body["validFrom"] = json!("2025-04-01T00:00:00Z");
    body["validUntil"] = json!("2043-04-01T00:00:00Z");
    let g = s.post("/kizuna/v1/guardianships").bearer(&s.clinic()).json(&body).send().await.expect(201);
    let id = g["id"].as_str().expect("id").to_string();
    assert!(id.starts_with("urn:kizuna:guardianship:"), "{id}");
    assert_eq!(g["controller"], T1);
    assert_eq!((g["guardian"].as_str(), g["ward"].as_str()), (Some(ALICE), Some(TARO)));
    assert_eq!((g["relationship"].as_str(), g["evidence"].as_str()), (Some("mother"), Some("出生届")));
    assert_eq!(g["valid_from"], "2025-04-01T00:00:00Z");
    assert_eq!(g["valid_until"], "2043-04-01T00:00:00Z");
    assert!(g.get("ended_at").is_none(), "{g}");
    // The admin records the father; validFrom defaults to now.
    let before = chrono::Utc::now();
    let f = s
        .post("/kizuna/v1/guardianships")
        .bearer(&admin)
        .json(&json!({"guardian": BOB, "ward": TARO, "relationship": "father", "evidence": "母子健康手帳"}))
        .send()
        .await
        .expect(201);
    let from: chrono::DateTime<chrono::Utc> = f["valid_from"].as_str().expect("valid_from").parse().expect("time");
    assert!(from >= before - chrono::Duration::seconds(1) && from <= chrono::Utc::now(), "{f}");
    assert!(f.get("valid_until").is_none(), "{f}");

    // Listed by person, as ward or as guardian, in id order.
    let list = |subject: &'static str, token: String| {
        let s = &s;
        async move {
            s.get("/kizuna/v1/guardianships").bearer(&token).query(&[("subject", subject)]).send().await.expect(200)
        }
    };
    let of_taro = list(TARO, admin.clone()).await;
    let mut want = vec![id.clone(), f["id"].as_str().expect("id").to_string()];
    want.sort();
    let got: Vec<String> =
        of_taro.as_array().expect("array").iter().filter_map(|g| g["id"].as_str().map(str::to_string)).collect();
    assert_eq!(got, want);
    assert_eq!(list(ALICE, s.clinic()).await.as_array().map(Vec::len), Some(1));
    assert_eq!(list("urn:ngsi-ld:Person:nobody", admin.clone()).await, json!([]));

    // The people in it see it; others do not.
    let mine = s.get("/me/guardianships").bearer(&hanako).send().await.expect(200);
    assert_eq!(mine.as_array().map(Vec::len), Some(1));
    assert_eq!(mine[0]["id"], id.as_str());
    let ward_view = s.get("/me/guardianships").bearer(&taro).send().await.expect(200);
    assert_eq!(ward_view.as_array().map(Vec::len), Some(2));
    let other = s.get("/me/guardianships").bearer(&s.citizen("urn:ngsi-ld:Person:carol")).send().await.expect(200);
    assert_eq!(other, json!([]));

    // In force at once: the mother reads her child's data (rule 4b), audited as such.
    assert_eq!(citizen_reads(&s, &hanako, T1_BP).await, 200);
    let audit = s.get("/kizuna/v1/audit").bearer(&admin).query(&[("limit", "1000")]).send().await.expect(200);
    let basis = format!("guardian:{id}");
    assert!(
        audit["records"].as_array().expect("records").iter().any(|r| r["resource"] == T1_BP
            && r["actor"] == ALICE
            && r["decision"]["allowed"] == true
            && r["decision"]["basis"].as_str().is_some_and(|b| b.contains(&basis))),
        "{audit}"
    );

    // Ended early (e.g. a change of custody): ended_at now, and the next read is refused.
    let end = format!("/kizuna/v1/guardianships/{}/end", enc(&id));
    let ended = s.post(&end).bearer(&s.clinic()).query(&[("subject", ALICE)]).send().await.expect(200);
    assert_eq!(ended["id"], id.as_str());
    let at = ended["ended_at"].as_str().expect("ended_at").to_string();
    assert_eq!(citizen_reads(&s, &hanako, T1_BP).await, 404);
    // Ending again answers the record unchanged; the ward's own view shows it ended.
    let again = s.post(&end).bearer(&admin).query(&[("subject", TARO)]).send().await.expect(200);
    assert_eq!(again["ended_at"], at.as_str());
    let ward_view = s.get("/me/guardianships").bearer(&taro).send().await.expect(200);
    let g = ward_view.as_array().and_then(|a| a.iter().find(|g| g["id"] == id.as_str())).expect("still listed");
    assert_eq!(g["ended_at"], at.as_str());
    // The father's guardianship is untouched.
    assert_eq!(citizen_reads(&s, &s.citizen(BOB), T1_BP).await, 200);

    // Unknown id, or a person not in it: 404.
    s.post("/kizuna/v1/guardianships/urn:kizuna:guardianship:none/end")
        .bearer(&admin)
        .query(&[("subject", TARO)])
        .send()
        .await
        .problem(404, &format!("{NGSI_ERRORS}ResourceNotFound"), &["urn:kizuna:guardianship:none"]);
    s.post(&end).bearer(&admin).query(&[("subject", BOB)]).send().await.problem(
        404,
        &format!("{NGSI_ERRORS}ResourceNotFound"),
        &[&id],
    );
    s.stop().await;
}

#[tokio::test]
async fn guardianship_bodies_and_roles_are_checked() {
    let s = Server::start().await;
    s.setup_policy().await;
    let admin = s.admin();
    let post = |body: Value| {
        let s = &s;
        let admin = admin.clone();
        async move { s.post("/kizuna/v1/guardianships").bearer(&admin).json(&body).send().await }
    };
    let with = |k: &str, v: Value| {
        let mut b = guardianship(ALICE, TARO);
        b[k] = v;
        b
    };
    // Each invalid member is named.
    let cases: Vec<(Value, &str)> = vec![
        (guardianship(ALICE, ALICE), "'ward'"),
        (with("guardian", json!("hanako")), "'guardian'"),
        (with("ward", json!("")), "'ward'"),
        (with("relationship", json!(" ")), "'relationship'"),
        (with("evidence", json!("")), "'evidence'"),
        (with("validUntil", json!("2020-01-01T00:00:00Z")), "'validUntil'"),
        (
            {
                let mut b = with("validFrom", json!("2025-04-01T00:00:00Z"));
                b["validUntil"] = json!("2025-04-01T00:00:00Z");
                b
            },
            "'validUntil'",
        ),
        (with("validFrom", json!("yesterday")), "'validFrom'"),
        (with("guardian", json!(7)), "'guardian'"),
        (with("id", json!("urn:kizuna:guardianship:mine")), "'id'"),
        (with("controller", json!("t2")), "'controller'"),
    ];
    for (body, field) in cases {
        post(body.clone()).await.problem(400, &bad_data(), &[field]);
    }
    // Wrong media type, and malformed JSON.
    s.post("/kizuna/v1/guardianships")
        .bearer(&admin)
        .raw("text/plain", &guardianship(ALICE, TARO).to_string())
        .send()
        .await
        .expect_status(415);
    s.post("/kizuna/v1/guardianships").bearer(&admin).raw("application/json", "{").send().await.expect_status(400);
    // Query parameters.
    s.get("/kizuna/v1/guardianships").bearer(&admin).send().await.problem(400, &bad_data(), &["'subject'"]);
    s.get("/kizuna/v1/guardianships").bearer(&admin).query(&[("subject", "taro")]).send().await.problem(
        400,
        &bad_data(),
        &["'subject'"],
    );
    s.get("/kizuna/v1/guardianships").bearer(&admin).query(&[("subject", TARO), ("ward", TARO)]).send().await.problem(
        400,
        &bad_data(),
        &["'ward'"],
    );
    s.post("/kizuna/v1/guardianships/urn:kizuna:guardianship:x/end").bearer(&admin).send().await.problem(
        400,
        &bad_data(),
        &["'subject'"],
    );
    // Roles: citizens and service providers may not record or list; anonymous: 401.
    let g = guardianship(ALICE, TARO);
    for token in [s.citizen(ALICE), s.app()] {
        s.post("/kizuna/v1/guardianships").bearer(&token).json(&g).send().await.problem(
            403,
            &format!("{KIZUNA_ERRORS}Forbidden"),
            &["tenant-admin and data-holder"],
        );
        s.get("/kizuna/v1/guardianships").bearer(&token).query(&[("subject", ALICE)]).send().await.expect_status(403);
        s.post("/kizuna/v1/guardianships/urn:kizuna:guardianship:x/end")
            .bearer(&token)
            .query(&[("subject", ALICE)])
            .send()
            .await
            .expect_status(403);
    }
    s.post("/kizuna/v1/guardianships").json(&g).send().await.problem(401, &format!("{KIZUNA_ERRORS}Unauthorized"), &[]);
    s.get("/me/guardianships").send().await.expect_status(401);
    s.get("/me/guardianships").bearer(&admin).send().await.expect_status(403);
    // Another tenant's credentials: 403; nothing was stored by any refused request.
    let other = s.token("t2", kizuna_consent::Role::TenantAdmin, Some(CITY), None);
    s.post("/kizuna/v1/guardianships").bearer(&other).tenant(T1).json(&g).send().await.expect_status(403);
    let none = s.get("/kizuna/v1/guardianships").bearer(&admin).query(&[("subject", TARO)]).send().await.expect(200);
    assert_eq!(none, json!([]));
    s.stop().await;
}

/// Hanako (ALICE) and Bob each have a Patient and an Observation through `/fhir`.
struct Fhir {
    alice: Vec<String>,
    bob: Vec<String>,
    alice_obs: String,
    bob_obs: String,
}

async fn with_fhir(s: &Server) -> Fhir {
    s.setup_policy().await;
    let pa = s.fhir_patient(ALICE).await;
    let alice_obs = s.fhir_bp(&pa, 118.0, "2025-04-01T07:00:00+09:00").await;
    let pb = s.fhir_patient(BOB).await;
    let bob_obs = s.fhir_bp(&pb, 121.0, "2025-04-01T07:10:00+09:00").await;
    let alice = s.fhir_of(ALICE).await;
    let bob = s.fhir_of(BOB).await;
    assert!(alice.contains(&format!("Patient/{pa}")) && alice.contains(&format!("Observation/{alice_obs}")));
    assert!(bob.contains(&format!("Patient/{pb}")) && bob.contains(&format!("Observation/{bob_obs}")));
    Fhir { alice, bob, alice_obs, bob_obs }
}

#[tokio::test]
async fn export_holds_my_fhir_resources_only() {
    let s = Server::start().await;
    let f = with_fhir(&s).await;
    let alice = s.citizen(ALICE);
    let r = s.get("/me/export").bearer(&alice).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(r.body.clone())).expect("a zip archive");
    let mut read = |name: &str| {
        let mut file = zip.by_name(name).expect(name);
        let mut out = String::new();
        file.read_to_string(&mut out).expect("utf-8");
        out
    };
    let bundle: Value = serde_json::from_str(&read("fhir.json")).expect("fhir.json is JSON");
    assert_eq!(bundle["resourceType"], "Bundle");
    assert_eq!(bundle["type"], "collection");
    assert!(bundle["timestamp"].is_string() && bundle.get("total").is_none(), "{bundle}");
    let entries = bundle["entry"].as_array().expect("entries");
    let got: BTreeSet<String> = entries
        .iter()
        .map(|e| {
            format!(
                "{}/{}",
                e["resource"]["resourceType"].as_str().unwrap_or(""),
                e["resource"]["id"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(got, f.alice.iter().cloned().collect::<BTreeSet<_>>(), "exactly my resources");
    for e in entries {
        let key = format!(
            "{}/{}",
            e["resource"]["resourceType"].as_str().unwrap_or(""),
            e["resource"]["id"].as_str().unwrap_or("")
        );
        let full = e["fullUrl"].as_str().expect("fullUrl");
        assert!(full.starts_with("http://") && full.ends_with(&format!("/fhir/{key}")), "{full}");
        assert!(e["resource"]["meta"]["versionId"].is_string(), "{e}");
    }
    let obs = entries.iter().find(|e| e["resource"]["id"] == f.alice_obs.as_str()).expect("my Observation");
    assert_eq!(obs["resource"]["component"][0]["valueQuantity"]["value"], 118.0);
    let text = bundle.to_string();
    assert!(!text.contains(BOB) && !text.contains(&f.bob_obs), "nothing of Bob's");
    // The manifest counts them; the other files are as before.
    let manifest: Value = serde_json::from_str(&read("manifest.json")).expect("manifest");
    let line = manifest["files"].as_array().and_then(|a| a.iter().find(|x| x["name"] == "fhir.json")).expect("listed");
    assert_eq!(line["records"], f.alice.len());
    assert_eq!(line["mediaType"], "application/fhir+json");
    let entities: Value = serde_json::from_str(&read("entities.jsonld")).expect("entities");
    assert_eq!(entities["entities"], json!([]));

    // Each resource was decided with action export and is in my access log.
    let log = s.get("/me/access-log").bearer(&alice).query(&[("limit", "1000")]).send().await.expect(200);
    let exported: BTreeSet<String> = log["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter(|r| r["action"] == "export" && r["allowed"] == true)
        .filter_map(|r| r["resource"].as_str().map(str::to_string))
        .collect();
    assert_eq!(exported, f.alice.iter().cloned().collect::<BTreeSet<_>>());
    let audit_log: Value = serde_json::from_str(&read("access-log.json")).expect("access log");
    assert!(audit_log
        .as_array()
        .expect("array")
        .iter()
        .any(|r| r["action"] == "export" && r["resource"] == format!("Observation/{}", f.alice_obs)));
    // Bob's export holds Bob's.
    let r = s.get("/me/export").bearer(&s.citizen(BOB)).send().await;
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(r.body.clone())).expect("zip");
    let mut text = String::new();
    zip.by_name("fhir.json").expect("fhir.json").read_to_string(&mut text).expect("utf-8");
    assert!(text.contains(&f.bob_obs) && !text.contains(&f.alice_obs));
    s.stop().await;
}

#[tokio::test]
async fn erasure_removes_my_fhir_resources_and_leaves_others() {
    let s = Server::start().await;
    let f = with_fhir(&s).await;
    let alice = s.citizen(ALICE);
    let admin = s.admin();
    // An update: a second version of my Observation, erased with the first.
    let current = s.get(&format!("/fhir/Observation/{}", f.alice_obs)).bearer(&admin).send().await.expect(200);
    let mut next = current.clone();
    next["status"] = json!("amended");
    s.put(&format!("/fhir/Observation/{}", f.alice_obs)).bearer(&s.clinic()).json(&next).send().await.expect(200);

    let preview = s.get("/me/erasure").bearer(&alice).send().await.expect(200);
    assert_eq!(preview["fhirResources"], f.alice.len());
    assert_eq!(s.fhir_of(ALICE).await, f.alice, "a preview changes nothing");

    let r = s.post("/me/erasure").bearer(&alice).send().await.expect(200);
    assert_eq!(r["fhirErased"], f.alice.len());
    assert_eq!(s.fhir_of(ALICE).await, Vec::<String>::new());
    for key in &f.alice {
        let (rtype, id) = key.split_once('/').expect("Type/id");
        assert!(!s.fhir_exists(rtype, id).await, "{key} is gone");
        s.get(&format!("/fhir/{key}/_history/1")).bearer(&admin).send().await.expect_status(404);
    }
    // Bob's are untouched.
    assert_eq!(s.fhir_of(BOB).await, f.bob);
    assert!(s.fhir_exists("Observation", &f.bob_obs).await);
    s.get(&format!("/fhir/Observation/{}", f.bob_obs)).bearer(&admin).send().await.expect(200);

    // One tombstone per erased resource, in a chain that verifies.
    let audit = s.get("/kizuna/v1/audit").bearer(&admin).query(&[("limit", "1000")]).send().await.expect(200);
    let tombstones: BTreeSet<String> = audit["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter(|t| t["action"] == "erase")
        .inspect(|t| {
            assert_eq!(t["actor"], ALICE);
            assert_eq!(t["subject"], ALICE);
            assert_eq!(t["decision"]["allowed"], true);
        })
        .filter_map(|t| t["resource"].as_str().map(str::to_string))
        .collect();
    assert_eq!(tombstones, f.alice.iter().cloned().collect::<BTreeSet<_>>());
    let v = s.get("/kizuna/v1/audit/verify").bearer(&admin).send().await.expect(200);
    assert_eq!(v["ok"], true, "{v}");
    // Nothing left.
    let again = s.post("/me/erasure").bearer(&alice).send().await.expect(200);
    assert_eq!(again["fhirErased"], 0);
    assert_eq!(s.get("/me/erasure").bearer(&alice).send().await.expect(200)["fhirResources"], 0);
    s.stop().await;
}
