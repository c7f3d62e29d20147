//! A guardian acting for a ward under `/me` with the `Kizuna-On-Behalf-Of` header: the
//! ward's consents, delegations and usage stops (recorded with `given_by` = the
//! guardian, and used by the decision point), the ward's access log, data, export and
//! erasure (decided and audited with the guardian as actor, basis `guardian:<id>`), and
//! every refusal (no guardianship, ended, not yet in force, expired, reverse direction,
//! bad header, other roles) leaving nothing changed.

mod common;

use std::io::Read as _;

use common::*;
use serde_json::{json, Value};

/// The header a guardian names the ward with.
const OBO: &str = "Kizuna-On-Behalf-Of";
/// Alice's child, her ward.
const KID: &str = "urn:ngsi-ld:Person:kid";
/// The child's blood pressure.
const KID_BP: &str = "urn:ngsi-ld:BloodPressure:kid-1";
/// Alice's own blood pressure.
const ALICE_BP: &str = "urn:ngsi-ld:BloodPressure:alice-1";
/// Bob's blood pressure.
const BOB_BP: &str = "urn:ngsi-ld:BloodPressure:bob-1";

fn forbidden() -> String {
    format!("{KIZUNA_ERRORS}Forbidden")
}

/// Records a guardianship (`extra` members added to the body); its id.
async fn record_guardianship(s: &Server, guardian: &str, ward: &str, extra: Value) -> String {
    let mut body = json!({"guardian": guardian, "ward": ward, "relationship": "mother", "evidence": "出生届"});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let g = s.post("/kizuna/v1/guardianships").bearer(&s.admin()).json(&body).send().await.expect(201);
    g["id"].as_str().expect("guardianship id").to_string()
}

/// The policy, three people's blood pressure, and Alice as the kid's guardian (its id).
async fn family(s: &Server) -> String {
    s.setup_policy().await;
    s.create_bp(KID_BP, KID, 101).await;
    s.create_bp(ALICE_BP, ALICE, 121).await;
    s.create_bp(BOB_BP, BOB, 131).await;
    record_guardianship(s, ALICE, KID, json!({"validFrom": "2020-04-01T00:00:00Z"})).await
}

fn consent_body() -> Value {
    json!({"recipient": APP, "purposes": ["healthcare"], "categories": ["health"], "noticeVersion": "v1"})
}

/// The ids of an array of records.
fn ids(v: &Value) -> Vec<String> {
    v.as_array().expect("array").iter().filter_map(|r| r["id"].as_str().map(str::to_string)).collect()
}

/// Every audit record of the tenant (admin view).
async fn audit(s: &Server) -> Vec<Value> {
    let a = s.get("/kizuna/v1/audit").bearer(&s.admin()).query(&[("limit", "1000")]).send().await.expect(200);
    a["records"].as_array().expect("records").clone()
}

#[tokio::test]
async fn a_guardian_manages_the_wards_consents_delegations_and_usage_stops() {
    let s = Server::start().await;
    let gid = family(&s).await;
    let alice = s.citizen(ALICE);
    let kid = s.citizen(KID);

    // Who am I acting as.
    let me = s.get("/me").bearer(&alice).header(OBO, KID).send().await.expect(200);
    assert_eq!(me, json!({"subject": KID, "tenant": T1, "actor": ALICE, "guardianship": gid}));
    let own = s.get("/me").bearer(&alice).send().await.expect(200);
    assert_eq!(own, json!({"subject": ALICE, "tenant": T1}));
    // Her own subject in the header is the same as no header.
    assert_eq!(s.get("/me").bearer(&alice).header(OBO, ALICE).send().await.expect(200), own);

    // The app cannot read the child's data yet.
    assert_eq!(s.app_reads(KID_BP).await, 404);
    assert_eq!(s.get("/me/consents").bearer(&alice).header(OBO, KID).send().await.expect(200), json!([]));

    // The mother consents for her child: the ward's record, given by her.
    let c = s.post("/me/consents").bearer(&alice).header(OBO, KID).json(&consent_body()).send().await.expect(201);
    let cid = c["id"].as_str().expect("consent id").to_string();
    assert_eq!((c["subject"].as_str(), c["given_by"].as_str()), (Some(KID), Some(ALICE)), "{c}");
    assert_eq!(c["method"], "app");
    // Listed for the ward (by the guardian and by the ward), not for the guardian.
    let listed = s.get("/me/consents").bearer(&alice).header(OBO, KID).send().await.expect(200);
    assert_eq!(ids(&listed), vec![cid.clone()]);
    assert_eq!(listed[0]["given_by"], ALICE);
    let by_kid = s.get("/me/consents").bearer(&kid).send().await.expect(200);
    assert_eq!(ids(&by_kid), vec![cid.clone()]);
    assert_eq!(s.get("/me/consents").bearer(&alice).send().await.expect(200), json!([]));
    // A consent the subject gives themself names nobody else.
    let own_c = s.post("/me/consents").bearer(&alice).json(&consent_body()).send().await.expect(201);
    assert!(own_c.get("given_by").is_none(), "{own_c}");

    // The decision point uses it: the app now reads the child's data (Bob's stays out).
    assert_eq!(s.app_reads(KID_BP).await, 200);
    assert_eq!(s.app_reads(BOB_BP).await, 404);

    // Withdrawing: without the header the ward's consent is not hers (404); with it, done.
    let withdraw = format!("/me/consents/{}/withdraw", enc(&cid));
    s.post(&withdraw).bearer(&alice).send().await.problem(404, &format!("{NGSI_ERRORS}ResourceNotFound"), &[&cid]);
    // Nor can she withdraw her own consent while acting for the child.
    let own_withdraw = format!("/me/consents/{}/withdraw", enc(own_c["id"].as_str().expect("id")));
    s.post(&own_withdraw).bearer(&alice).header(OBO, KID).send().await.expect_status(404);
    assert_eq!(s.app_reads(KID_BP).await, 200);
    let w = s.post(&withdraw).bearer(&alice).header(OBO, KID).send().await.expect(200);
    assert!(w["withdrawn_at"].is_string(), "{w}");
    assert_eq!(w["withdrawn_by"], ALICE, "the record names the guardian who withdrew it: {w}");
    assert_eq!(w["given_by"], ALICE);
    assert_eq!(s.app_reads(KID_BP).await, 404);

    // Usage stops for the ward.
    let stop_path = format!("/me/usage-stops/{}", enc(APP));
    let stop = s.put(&stop_path).bearer(&alice).header(OBO, KID).send().await.expect(201);
    assert_eq!((stop["subject"].as_str(), stop["given_by"].as_str()), (Some(KID), Some(ALICE)), "{stop}");
    let stops = s.get("/me/usage-stops").bearer(&alice).header(OBO, KID).send().await.expect(200);
    assert_eq!(stops.as_array().map(Vec::len), Some(1));
    assert_eq!(s.get("/me/usage-stops").bearer(&kid).send().await.expect(200), stops);
    assert_eq!(s.get("/me/usage-stops").bearer(&alice).send().await.expect(200), json!([]));
    // A new consent for the ward does not get past the stop.
    s.post("/me/consents").bearer(&alice).header(OBO, KID).json(&consent_body()).send().await.expect(201);
    assert_eq!(s.app_reads(KID_BP).await, 404);
    // Lifting it: not hers without the header (404), the ward's with it (204).
    s.delete(&stop_path).bearer(&alice).send().await.expect_status(404);
    s.delete(&stop_path).bearer(&alice).header(OBO, KID).send().await.expect_status(204);
    assert_eq!(s.app_reads(KID_BP).await, 200);

    // Delegations for the ward.
    let d = s
        .post("/me/delegations")
        .bearer(&alice)
        .header(OBO, KID)
        .json(&json!({
            "categories": ["health"], "recipientKinds": ["app-vendor"], "purposes": ["healthcare"],
            "noticeVersion": "bank-1"
        }))
        .send()
        .await
        .expect(201);
    let did = d["id"].as_str().expect("delegation id").to_string();
    assert_eq!((d["subject"].as_str(), d["given_by"].as_str()), (Some(KID), Some(ALICE)), "{d}");
    assert_eq!(ids(&s.get("/me/delegations").bearer(&kid).send().await.expect(200)), vec![did.clone()]);
    let dw = format!("/me/delegations/{}/withdraw", enc(&did));
    s.post(&dw).bearer(&alice).send().await.expect_status(404);
    let withdrawn = s.post(&dw).bearer(&alice).header(OBO, KID).send().await.expect(200);
    assert!(withdrawn["withdrawn_at"].is_string(), "{withdrawn}");
    assert_eq!(withdrawn["withdrawn_by"], ALICE, "{withdrawn}");

    // The ward's guardianships.
    let gs = s.get("/me/guardianships").bearer(&alice).header(OBO, KID).send().await.expect(200);
    assert_eq!(ids(&gs), vec![gid.clone()]);
    s.stop().await;
}

#[tokio::test]
async fn a_guardian_reads_exports_and_erases_the_wards_data_audited_as_the_guardian() {
    let s = Server::start().await;
    let gid = family(&s).await;
    let basis = format!("guardian:{gid}");
    let alice = s.citizen(ALICE);
    let kid_patient = s.fhir_patient(KID).await;
    let alice_patient = s.fhir_patient(ALICE).await;

    // The child's data, read by the mother: only the child's, audited with her as actor.
    let data = s.get("/me/data").bearer(&alice).header(OBO, KID).send().await.expect(200);
    assert_eq!(ids(&data["health"]), vec![KID_BP.to_string()]);
    let read = audit(&s).await;
    assert!(
        read.iter().any(|r| r["resource"] == KID_BP
            && r["actor"] == ALICE
            && r["action"] == "read"
            && r["decision"]["basis"] == basis.as_str()),
        "{read:?}"
    );

    // The child's access log, as the mother sees it: the read above, by her.
    let log = s.get("/me/access-log").bearer(&alice).header(OBO, KID).send().await.expect(200);
    let records = log["records"].as_array().expect("records");
    assert!(!records.is_empty());
    assert!(records.iter().all(|r| r["resource"] != ALICE_BP && r["resource"] != BOB_BP), "{log}");
    assert!(records.iter().any(|r| r["actor"] == ALICE && r["basis"] == basis.as_str()), "{log}");
    // Her own log does not list the child's data.
    let own_log = s.get("/me/access-log").bearer(&alice).send().await.expect(200);
    assert!(own_log["records"].as_array().expect("records").iter().all(|r| r["resource"] != KID_BP), "{own_log}");

    // The child's portability package.
    s.post("/me/consents").bearer(&alice).header(OBO, KID).json(&consent_body()).send().await.expect(201);
    s.post("/me/consents").bearer(&alice).json(&consent_body()).send().await.expect(201);
    let r = s.get("/me/export").bearer(&alice).header(OBO, KID).send().await;
    r.expect_status(200);
    assert_eq!(r.header("content-type").as_deref(), Some("application/zip"));
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(r.body.clone())).expect("a zip archive");
    let mut file = |name: &str| -> Value {
        let mut text = String::new();
        zip.by_name(name).expect(name).read_to_string(&mut text).expect("utf-8");
        serde_json::from_str(&text).expect("JSON")
    };
    let manifest = file("manifest.json");
    assert_eq!(manifest["subject"], KID);
    assert_eq!(manifest["requestedBy"], json!({"actor": ALICE, "guardianship": gid}));
    let entities = file("entities.jsonld");
    assert_eq!(ids(&entities["entities"]), vec![KID_BP.to_string()]);
    let consents = file("consents.json");
    assert_eq!(consents.as_array().map(Vec::len), Some(1));
    assert_eq!((consents[0]["subject"].as_str(), consents[0]["given_by"].as_str()), (Some(KID), Some(ALICE)));
    let fhir = file("fhir.json");
    let fhir_ids: Vec<&str> =
        fhir["entry"].as_array().expect("entries").iter().filter_map(|e| e["resource"]["id"].as_str()).collect();
    assert_eq!(fhir_ids, vec![kid_patient.as_str()]);
    let text = serde_json::to_string(&file("access-log.json")).expect("text");
    assert!(!text.contains(ALICE_BP) && !text.contains(&alice_patient), "{text}");
    let exported = audit(&s).await;
    for resource in [KID_BP.to_string(), format!("Patient/{kid_patient}")] {
        assert!(
            exported.iter().any(|r| r["resource"] == resource.as_str()
                && r["actor"] == ALICE
                && r["action"] == "export"
                && r["decision"]["basis"] == basis.as_str()),
            "{resource}: {exported:?}"
        );
    }

    // Erasure: the preview and the erasure concern the child only.
    let preview = s.get("/me/erasure").bearer(&alice).header(OBO, KID).send().await.expect(200);
    assert_eq!(preview["wouldErase"], json!([KID_BP]));
    assert_eq!(preview["fhirResources"], 1);
    let erased = s.post("/me/erasure").bearer(&alice).header(OBO, KID).send().await.expect(200);
    assert_eq!(erased["erased"], json!([KID_BP]));
    assert_eq!(erased["fhirErased"], 1);
    assert!(s.fhir_of(KID).await.is_empty());
    assert_eq!(s.fhir_of(ALICE).await, vec![format!("Patient/{alice_patient}")]);
    let admin = s.admin();
    for (id, status) in [(KID_BP, 404), (ALICE_BP, 200), (BOB_BP, 200)] {
        let got = s.get(&format!("/ngsi-ld/v1/entities/{}", enc(id))).bearer(&admin).tenant(T1).send().await;
        assert_eq!(got.status, status, "{id}");
    }
    // The tombstones name the mother and her standing.
    let tombstones = audit(&s).await;
    for resource in [KID_BP.to_string(), format!("Patient/{kid_patient}")] {
        assert!(
            tombstones.iter().any(|r| r["resource"] == resource.as_str()
                && r["actor"] == ALICE
                && r["action"] == "erase"
                && r["subject"] == KID
                && r["decision"]["basis"] == basis.as_str()),
            "{resource}: {tombstones:?}"
        );
    }
    // The consents are kept (the legal record).
    let kept = s.get("/me/consents").bearer(&alice).header(OBO, KID).send().await.expect(200);
    assert_eq!(kept.as_array().map(Vec::len), Some(1));
    s.stop().await;
}

/// Every way of naming a ward without standing is refused before anything is read or
/// changed.
#[tokio::test]
async fn acting_without_a_guardianship_in_force_is_refused_and_changes_nothing() {
    let s = Server::start().await;
    family(&s).await;
    let alice = s.citizen(ALICE);
    let bob = s.citizen(BOB);
    let kid = s.citizen(KID);
    let stop_path = format!("/me/usage-stops/{}", enc(APP));

    // A stranger: 403 on every route, naming the header and the ward.
    let detail = [OBO, "no guardianship in force over", KID];
    let gets = ["/me", "/me/data", "/me/consents", "/me/delegations", "/me/provisions", "/me/usage-stops"];
    let gets2 = ["/me/guardianships", "/me/access-log", "/me/export", "/me/erasure"];
    for path in gets.iter().chain(gets2.iter()) {
        s.get(path).bearer(&bob).header(OBO, KID).send().await.problem(403, &forbidden(), &detail);
    }
    s.post("/me/consents").bearer(&bob).header(OBO, KID).json(&consent_body()).send().await.problem(
        403,
        &forbidden(),
        &detail,
    );
    s.put(&stop_path).bearer(&bob).header(OBO, KID).send().await.problem(403, &forbidden(), &detail);
    s.post("/me/erasure").bearer(&bob).header(OBO, KID).send().await.problem(403, &forbidden(), &detail);
    // Nothing changed, nothing read.
    assert_eq!(s.get("/me/consents").bearer(&kid).send().await.expect(200), json!([]));
    assert_eq!(s.get("/me/usage-stops").bearer(&kid).send().await.expect(200), json!([]));
    assert!(audit(&s).await.iter().all(|r| r["actor"] != BOB), "the refusals read nothing");
    let got = s.get(&format!("/ngsi-ld/v1/entities/{}", enc(KID_BP))).bearer(&s.admin()).tenant(T1).send().await;
    assert_eq!(got.status, 200);

    // A withdrawal of the ward's consent by a stranger.
    let c = s.post("/me/consents").bearer(&kid).json(&consent_body()).send().await.expect(201);
    let withdraw = format!("/me/consents/{}/withdraw", enc(c["id"].as_str().expect("id")));
    s.post(&withdraw).bearer(&bob).header(OBO, KID).send().await.problem(403, &forbidden(), &detail);
    s.post(&withdraw).bearer(&bob).send().await.expect_status(404);
    let still = s.get("/me/consents").bearer(&kid).send().await.expect(200);
    assert!(still[0]["withdrawn_at"].is_null(), "{still}");

    // The reverse direction: the ward does not act for the guardian.
    s.get("/me/consents").bearer(&kid).header(OBO, ALICE).send().await.problem(403, &forbidden(), &[OBO, ALICE]);

    // A header that is not a URI, empty, or given twice: 400 naming it.
    let bad = format!("{NGSI_ERRORS}BadRequestData");
    for value in ["kid", " ", "urn:ngsi-ld:Person:kid urn:ngsi-ld:Person:other"] {
        s.get("/me/consents").bearer(&alice).header(OBO, value).send().await.problem(400, &bad, &[OBO]);
    }
    s.get("/me/consents").bearer(&alice).header(OBO, KID).header(OBO, KID).send().await.problem(
        400,
        &bad,
        &[OBO, "more than once"],
    );

    // Other roles: as before, whatever the header says.
    s.get("/me/consents").header(OBO, KID).send().await.problem(401, &format!("{KIZUNA_ERRORS}Unauthorized"), &[]);
    s.get("/me/consents").bearer(&s.app()).header(OBO, KID).send().await.problem(403, &forbidden(), &["citizen"]);
    s.get("/me/consents").bearer(&s.admin()).header(OBO, KID).send().await.problem(403, &forbidden(), &["citizen"]);
    s.stop().await;
}

#[tokio::test]
async fn only_a_guardianship_in_force_now_gives_standing() {
    let s = Server::start().await;
    s.setup_policy().await;
    let (ended, future, expired, current) = (
        "urn:ngsi-ld:Person:ended",
        "urn:ngsi-ld:Person:future",
        "urn:ngsi-ld:Person:expired",
        "urn:ngsi-ld:Person:current",
    );
    let alice = s.citizen(ALICE);
    let consents = |ward: &'static str| {
        let (s, alice) = (&s, alice.clone());
        async move { s.get("/me/consents").bearer(&alice).header(OBO, ward).send().await }
    };

    // Ended early (a change of custody): in force until it ends, then refused.
    let gid = record_guardianship(&s, ALICE, ended, json!({})).await;
    consents(ended).await.expect_status(200);
    s.post(&format!("/kizuna/v1/guardianships/{}/end", enc(&gid)))
        .bearer(&s.admin())
        .query(&[("subject", ended)])
        .send()
        .await
        .expect(200);
    consents(ended).await.problem(403, &forbidden(), &[OBO, ended]);
    s.post("/me/consents").bearer(&alice).header(OBO, ended).json(&consent_body()).send().await.expect_status(403);
    assert_eq!(s.get("/me/consents").bearer(&s.citizen(ended)).send().await.expect(200), json!([]));

    // Not yet in force (recorded ahead of a court's decision taking effect).
    let next_year = (chrono::Utc::now() + chrono::Duration::days(365)).to_rfc3339();
    record_guardianship(&s, ALICE, future, json!({"validFrom": next_year})).await;
    consents(future).await.problem(403, &forbidden(), &[OBO, future]);

    // Lapsed (the ward came of age).
    record_guardianship(
        &s,
        ALICE,
        expired,
        json!({"validFrom": "2005-04-01T00:00:00Z", "validUntil": "2023-04-01T00:00:00Z"}),
    )
    .await;
    consents(expired).await.problem(403, &forbidden(), &[OBO, expired]);

    // A guardianship of another guardian over the same ward gives Alice nothing.
    record_guardianship(&s, BOB, current, json!({})).await;
    consents(current).await.problem(403, &forbidden(), &[OBO, current]);
    s.get("/me/consents").bearer(&s.citizen(BOB)).header(OBO, current).send().await.expect(200);
    s.stop().await;
}

/// Records stored before `given_by` existed still load, and records given by the subject
/// serialize without it.
#[test]
fn records_without_given_by_still_load() {
    let consent = json!({
        "id": "urn:kizuna:consent:old", "subject": KID, "controller": T1, "recipient": APP,
        "purposes": ["healthcare"], "categories": ["health"], "legal_basis": "consent",
        "notice_version": "v1", "method": "app", "granted_at": "2025-04-01T00:00:00Z"
    });
    let c: kizuna_consent::ConsentRecord = serde_json::from_value(consent).expect("an old consent loads");
    assert_eq!(c.given_by, None);
    assert!(serde_json::to_value(&c).expect("json").get("given_by").is_none());
    let stop = json!({"subject": KID, "controller": T1, "recipient": APP, "stopped_at": "2025-04-01T00:00:00Z"});
    let s: kizuna_consent::UsageStop = serde_json::from_value(stop).expect("an old stop loads");
    assert_eq!(s.given_by, None);
    let delegation = json!({
        "id": "urn:kizuna:delegation:old", "subject": KID, "controller": T1, "categories": ["health"],
        "recipient_kinds": ["insurer"], "purposes": ["disease-management"], "notice_version": "v1",
        "method": "app", "granted_at": "2025-04-01T00:00:00Z"
    });
    let d: kizuna_consent::Delegation = serde_json::from_value(delegation).expect("an old delegation loads");
    assert_eq!(d.given_by, None);
}
