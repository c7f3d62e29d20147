//! Finding a person's resources by who they are rather than by Kizuna's ids, over HTTP:
//! conditional create (`If-None-Exist`, search parameters in the URL, `ifNoneExist` in
//! Bundles), conditional update, conditional references in transactions, and chained
//! search parameters (`patient.identifier=…`) — what matches, what is written, who may
//! ask, and what a match reveals.

mod common;

use common::*;
use kizuna_consent::{Category, Role};
use reqwest::Method;
use serde_json::{json, Value};

const DS: &str = "urn:kizuna:data-subject";

impl Server {
    async fn post_if(&self, path: &str, token: &str, condition: &str, body: Value) -> Reply {
        let r = self
            .client
            .post(format!("{}/fhir{path}", self.origin))
            .bearer_auth(token)
            .header("Content-Type", "application/fhir+json")
            .header("If-None-Exist", condition)
            .body(body.to_string())
            .send()
            .await
            .expect("send");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.expect("body");
        Reply { status, headers, body: serde_json::from_str(&text).unwrap_or(Value::Null) }
    }

    async fn total(&self, query: &str) -> u64 {
        let r = self.get(&format!("{query}&_summary=count"), Some(&self.admin())).await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["total"].as_u64().expect("total")
    }
}

fn by_subject(subject: &str) -> String {
    format!("identifier={DS}|{subject}")
}

fn location_id(r: &Reply) -> String {
    let loc = r.headers["location"].to_str().expect("location");
    loc.split("/fhir/").nth(1).and_then(|p| p.split('/').nth(1)).expect("Type/id in Location").to_string()
}

#[tokio::test]
async fn conditional_create_over_rest() {
    let s = Server::start().await;
    let clinic = s.clinic();
    let hanako = "urn:ngsi-ld:Person:hanako";
    let cond = by_subject(hanako);

    // No match: created (201).
    let r = s.post_if("/Patient", &clinic, &cond, patient_json(hanako, "1970-04-01", "female")).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let pid = r.body["id"].as_str().unwrap().to_string();
    // One match: 200, nothing written, Location at the match, the clinic (its supplier)
    // gets the resource back.
    let r = s.post_if("/Patient", &clinic, &cond, patient_json(hanako, "1970-04-01", "female")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(location_id(&r), pid);
    assert_eq!(r.headers["etag"], "W/\"1\"");
    assert_eq!(r.body["id"], pid.as_str());
    assert_eq!(s.total(&format!("/Patient?{cond}")).await, 1);

    // The fhirpy form: the condition as search parameters of the POST URL.
    let r = s
        .post(&format!("/Patient?identifier={DS}%7C{hanako}"), &clinic, patient_json(hanako, "1970-04-01", "female"))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(location_id(&r), pid);
    assert_eq!(s.total(&format!("/Patient?{cond}")).await, 1);

    // Another data holder without consent learns that the Patient exists (and its id),
    // not its content; the withheld read is audited.
    s.put_party("urn:kizuna:party:hospital", &[Role::DataHolder], &[]).await;
    let hospital = s.token(Role::DataHolder, Some("urn:kizuna:party:hospital"), None, None);
    let before = s.audit_of(hanako).await.len();
    let r = s.post_if("/Patient", &hospital, &cond, patient_json(hanako, "1970-04-01", "female")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(location_id(&r), pid);
    assert_eq!(r.body["resourceType"], "OperationOutcome", "{}", r.body);
    assert!(r.body["issue"][0]["diagnostics"].as_str().unwrap().contains(&format!("Patient/{pid}")));
    assert!(!r.body.to_string().contains("山田"), "the match's content must not be released: {}", r.body);
    assert!(s.audit_of(hanako).await.len() > before, "the decision on the match is audited");

    // Several matches: 412, nothing written.
    let r = s.post("/Patient", &clinic, patient_json(hanako, "1970-04-01", "female")).await;
    assert_eq!(r.status, 201);
    let r = s.post_if("/Patient", &clinic, &cond, patient_json(hanako, "1970-04-01", "female")).await;
    assert_eq!(r.status, 412, "{}", r.body);
    assert_eq!(r.body["resourceType"], "OperationOutcome");
    assert!(r.body["issue"][0]["diagnostics"].as_str().unwrap().contains("matches 2 resources"), "{}", r.body);
    assert_eq!(s.total(&format!("/Patient?{cond}")).await, 2);

    // Bad conditions: 400 naming what is wrong, nothing written.
    let taro = "urn:ngsi-ld:Person:taro";
    let body = patient_json(taro, "1960-01-01", "male");
    for (cond, says) in [
        (format!("{}&_count=1", by_subject(taro)), "'_count'"),
        ("".to_string(), "names no search parameter"),
        ("nickname=taro".to_string(), "nickname"),
    ] {
        let r = s.post_if("/Patient", &clinic, &cond, body.clone()).await;
        assert_eq!(r.status, 400, "{cond}: {}", r.body);
        assert!(r.body.to_string().contains(says), "{cond}: {}", r.body);
    }
    let r = s
        .client
        .post(format!("{}/fhir/Patient?identifier=a%7Cb", s.origin))
        .bearer_auth(&clinic)
        .header("Content-Type", "application/fhir+json")
        .header("If-None-Exist", by_subject(taro))
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(s.total(&format!("/Patient?{}", by_subject(taro))).await, 0);

    // Callers who may not write are refused before any search: a status code must not
    // tell them whether a resource exists.
    let insurer = s.insurer();
    let r = s.post_if("/Patient", &insurer, &cond, patient_json(hanako, "1970-04-01", "female")).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = s
        .client
        .post(format!("{}/fhir/Patient", s.origin))
        .header("Content-Type", "application/fhir+json")
        .header("If-None-Exist", cond.as_str())
        .body(patient_json(hanako, "1970-04-01", "female").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn citizens_match_only_their_own_records() {
    let s = Server::start().await;
    let (hanako, taro) = ("urn:ngsi-ld:Person:hanako", "urn:ngsi-ld:Person:taro");
    let ph = s.patient(hanako, "1970-04-01", "female").await;
    let pt = s.patient(taro, "1960-01-01", "male").await;
    let when = "2026-11-20T07:00:00+09:00";
    s.bp(&ph, 150.0, 95.0, when).await;
    s.bp(&pt, 150.0, 95.0, when).await;

    // Hanako's app re-sends a reading it may already have sent: the same person, code and
    // time match hers, so nothing is recorded twice.
    let cond = |p: &str| format!("patient=Patient/{p}&code=http://loinc.org|85354-9&date={when}");
    let cond_h = cond(&ph).replace('+', "%2B");
    let r = s.post_if("/Observation", &s.citizen(hanako), &cond_h, bp_json(&ph, 150.0, 95.0, when)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["subject"]["reference"], format!("Patient/{ph}"));
    assert_eq!(s.total(&format!("/Observation?patient={ph}")).await, 1);

    // Criteria that select Taro's reading find nothing among what Hanako may write about:
    // her create goes ahead as an ordinary create, and Taro's record is not revealed. (Her
    // Observation about herself is what is created.)
    let cond_t = format!("code=http://loinc.org|85354-9&date={}", when.replace('+', "%2B"));
    let r = s.post_if("/Observation", &s.citizen(hanako), &cond_t, bp_json(&ph, 120.0, 80.0, when)).await;
    assert_eq!(r.status, 200, "her own reading matches: {}", r.body);
    assert_eq!(r.body["subject"]["reference"], format!("Patient/{ph}"));
    let r = s
        .post_if(
            "/Observation",
            &s.citizen(hanako),
            &format!("patient=Patient/{pt}&code=http://loinc.org|85354-9"),
            bp_json(&ph, 121.0, 81.0, "2026-11-21T07:00:00+09:00"),
        )
        .await;
    assert_eq!(r.status, 201, "Taro's reading is not hers to match: {}", r.body);
    assert_eq!(s.total(&format!("/Observation?patient={pt}")).await, 1);
    assert_eq!(s.total(&format!("/Observation?patient={ph}")).await, 2);
}

#[tokio::test]
async fn bundles_with_conditional_creates_and_references() {
    let s = Server::start().await;
    let clinic = s.clinic();
    let hanako = "urn:ngsi-ld:Person:hanako";
    let pid = s.patient(hanako, "1970-04-01", "female").await;
    let when = "2026-11-20T07:00:00+09:00";

    // A hospital's checkup Bundle: the Patient conditionally, the reading pointing at it.
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:0d3a7c44-1c4e-4f0a-9d43-5a8b0e0b7f01",
         "resource": patient_json(hanako, "1970-04-01", "female"),
         "request": {"method": "POST", "url": "Patient", "ifNoneExist": by_subject(hanako)}},
        {"resource": bp_json("x", 142.0, 88.0, when),
         "request": {"method": "POST", "url": "Observation"}}
    ]});
    let mut tx = tx;
    tx["entry"][1]["resource"]["subject"] = json!({"reference": "urn:uuid:0d3a7c44-1c4e-4f0a-9d43-5a8b0e0b7f01"});
    let r = s.post("", &clinic, tx).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["type"], "transaction-response");
    assert_eq!(r.body["entry"][0]["response"]["status"], "200 OK");
    assert_eq!(r.body["entry"][0]["response"]["location"], format!("Patient/{pid}/_history/1"));
    assert!(r.body["entry"][0].get("resource").is_none(), "a match's content is not in the response");
    assert_eq!(r.body["entry"][1]["response"]["status"], "201 Created");
    assert_eq!(r.body["entry"][1]["resource"]["subject"]["reference"], format!("Patient/{pid}"));
    assert_eq!(s.total(&format!("/Patient?{}", by_subject(hanako))).await, 1);

    // The same with a conditional reference instead of a Patient entry.
    let mut o = bp_json("x", 131.0, 84.0, "2026-11-21T07:00:00+09:00");
    o["subject"] = json!({"reference": format!("Patient?identifier={DS}|{hanako}")});
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": o, "request": {"method": "POST", "url": "Observation"}}
    ]});
    let r = s.post("", &clinic, tx).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["entry"][0]["resource"]["subject"]["reference"], format!("Patient/{pid}"));
    assert_eq!(s.total(&format!("/Observation?patient={pid}")).await, 2);

    // A conditional reference that matches nothing: 422 naming the entry; nothing of the
    // transaction is stored.
    let mut o = bp_json("x", 131.0, 84.0, when);
    o["subject"] = json!({"reference": format!("Patient?identifier={DS}|urn:ngsi-ld:Person:nobody")});
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": bp_json(&pid, 120.0, 80.0, when), "request": {"method": "POST", "url": "Observation"}},
        {"resource": o, "request": {"method": "POST", "url": "Observation"}}
    ]});
    let r = s.post("", &clinic, tx).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.body["issue"][0]["expression"][0], "Bundle.entry[1].resource");
    assert_eq!(s.total(&format!("/Observation?patient={pid}")).await, 2);

    // Several matches: 412 for a conditional reference and for ifNoneExist alike.
    s.post("/Patient", &clinic, patient_json(hanako, "1970-04-01", "female")).await;
    let mut o = bp_json("x", 131.0, 84.0, when);
    o["subject"] = json!({"reference": format!("Patient?identifier={DS}|{hanako}")});
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": o, "request": {"method": "POST", "url": "Observation"}}
    ]});
    let r = s.post("", &clinic, tx).await;
    assert_eq!(r.status, 412, "{}", r.body);
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": patient_json(hanako, "1970-04-01", "female"),
         "request": {"method": "POST", "url": "Patient", "ifNoneExist": by_subject(hanako)}}
    ]});
    let r = s.post("", &clinic, tx).await;
    assert_eq!(r.status, 412, "{}", r.body);
    assert!(r.body.to_string().contains("Bundle.entry[0].request.ifNoneExist"), "{}", r.body);

    // A batch: each entry on its own — one matches, one is created, one fails.
    let taro = "urn:ngsi-ld:Person:taro";
    let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": patient_json(taro, "1960-01-01", "male"),
         "request": {"method": "POST", "url": "Patient", "ifNoneExist": by_subject(taro)}},
        {"resource": patient_json(taro, "1960-01-01", "male"),
         "request": {"method": "POST", "url": "Patient", "ifNoneExist": by_subject(hanako)}},
    ]});
    let r = s.post("", &clinic, batch.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["entry"][0]["response"]["status"], "201 Created");
    assert!(r.body["entry"][1]["response"]["status"].as_str().unwrap().starts_with("412"), "{}", r.body);
    let r = s.post("", &clinic, batch).await;
    assert_eq!(r.body["entry"][0]["response"]["status"], "200 OK", "{}", r.body);
    assert_eq!(s.total(&format!("/Patient?{}", by_subject(taro))).await, 1);

    // ifNoneExist belongs to a POST; conditional update URLs are still refused by name.
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Patient", "id": pid}, "request": {"method": "PUT", "url": format!("Patient/{pid}"), "ifNoneExist": "identifier=a|b"}}
    ]});
    let r = s.req(Method::POST, "", Some(&clinic), Some(tx)).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.to_string().contains("ifNoneExist belongs to a POST"), "{}", r.body);
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "DELETE", "url": "Patient?identifier=a|b"}}
    ]});
    let r = s.post("", &clinic, tx).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.to_string().contains("conditional delete"), "{}", r.body);

    // The CapabilityStatement says so.
    let r = s.get("/metadata", None).await;
    let patient = r.body["rest"][0]["resource"].as_array().unwrap().iter().find(|x| x["type"] == "Patient").unwrap();
    assert_eq!(patient["conditionalCreate"], true);
    assert_eq!(patient["conditionalUpdate"], true);
}

#[tokio::test]
async fn conditional_update_over_rest_and_in_transactions() {
    let s = Server::start().await;
    let clinic = s.clinic();
    let hanako = "urn:ngsi-ld:Person:hanako";
    let put = |path: String, token: String, body: Value| {
        let s = &s;
        async move { s.req(Method::PUT, &path, Some(&token), Some(body)).await }
    };

    // No match, no id: created with a new id (201).
    let path = format!("/Patient?identifier={DS}%7C{hanako}");
    let r = put(path.clone(), clinic.clone(), patient_json(hanako, "1970-04-01", "female")).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let pid = r.body["id"].as_str().unwrap().to_string();
    // One match: that Patient is updated (version 2), whatever id the body leaves out.
    let mut moved = patient_json(hanako, "1970-04-01", "female");
    moved["address"] = json!([{"city": "前橋市"}]);
    let r = put(path.clone(), clinic.clone(), moved.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["id"], pid.as_str());
    assert_eq!(r.body["meta"]["versionId"], "2");
    assert_eq!(s.get(&format!("/Patient/{pid}"), Some(&clinic)).await.body["address"][0]["city"], "前橋市");
    // A body id that is not the match's: 400, nothing written.
    let mut other = moved.clone();
    other["id"] = json!("someone-else");
    let r = put(path.clone(), clinic.clone(), other).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.to_string().contains("differs from Patient/"), "{}", r.body);
    assert_eq!(s.get(&format!("/Patient/{pid}"), Some(&clinic)).await.body["meta"]["versionId"], "2");
    // If-Match still applies to the matched resource.
    let r = s
        .client
        .put(format!("{}/fhir{path}", s.origin))
        .bearer_auth(&clinic)
        .header("Content-Type", "application/fhir+json")
        .header("If-Match", "W/\"1\"")
        .body(moved.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 412);
    // No search parameters: 400; a service provider: 403 before any search.
    let r = put("/Patient".into(), clinic.clone(), moved.clone()).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.to_string().contains("conditional update"), "{}", r.body);
    let r = put(path.clone(), s.insurer(), moved.clone()).await;
    assert_eq!(r.status, 403, "{}", r.body);

    // In a transaction: upsert the Patient by identifier, and point a reading at it
    // through the entry's fullUrl.
    let taro = "urn:ngsi-ld:Person:taro";
    let bundle = |family: &str| {
        let mut p = patient_json(taro, "1960-01-01", "male");
        p["name"][0]["family"] = json!(family);
        let mut o = bp_json("x", 128.0, 82.0, "2026-11-20T07:00:00+09:00");
        o["subject"] = json!({"reference": "urn:uuid:7c1d2f0e-52a4-4c55-8f7e-3f0f3c3b9d10"});
        json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"fullUrl": "urn:uuid:7c1d2f0e-52a4-4c55-8f7e-3f0f3c3b9d10", "resource": p,
             "request": {"method": "PUT", "url": format!("Patient?identifier={DS}|{taro}")}},
            {"resource": o, "request": {"method": "POST", "url": "Observation"}}
        ]})
    };
    let r = s.post("", &clinic, bundle("山田")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["entry"][0]["response"]["status"], "201 Created");
    let tid = r.body["entry"][0]["resource"]["id"].as_str().unwrap().to_string();
    assert_eq!(r.body["entry"][1]["resource"]["subject"]["reference"], format!("Patient/{tid}"));
    let r = s.post("", &clinic, bundle("佐藤")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["entry"][0]["response"]["status"], "200 OK");
    assert_eq!(r.body["entry"][0]["resource"]["id"], tid.as_str());
    assert_eq!(r.body["entry"][0]["resource"]["name"][0]["family"], "佐藤");
    assert_eq!(r.body["entry"][1]["resource"]["subject"]["reference"], format!("Patient/{tid}"));
    assert_eq!(s.total(&format!("/Patient?{}", by_subject(taro))).await, 1);
    assert_eq!(s.total(&format!("/Observation?patient={tid}")).await, 2);
}

#[tokio::test]
async fn chained_parameters_find_a_persons_records_without_revealing_identity() {
    let s = Server::start().await;
    let clinic = s.clinic();
    let (hanako, taro) = ("urn:ngsi-ld:Person:hanako", "urn:ngsi-ld:Person:taro");
    let ph = s.patient(hanako, "1970-04-01", "female").await;
    let mut t = patient_json(taro, "1960-01-01", "male");
    t["name"] = json!([{"family": "佐藤", "given": ["太郎"], "text": "佐藤 太郎"}]);
    let r = s.post("/Patient", &clinic, t).await;
    assert_eq!(r.status, 201);
    let pt = r.body["id"].as_str().unwrap().to_string();
    s.bp(&ph, 120.0, 80.0, "2026-11-20T07:00:00+09:00").await;
    s.bp(&ph, 121.0, 80.0, "2026-11-21T07:00:00+09:00").await;
    s.bp(&pt, 122.0, 80.0, "2026-11-20T07:00:00+09:00").await;

    // By the person's data-subject URI, the one their consents use, instead of the
    // Patient id: patient.identifier and subject:Patient.identifier.
    let admin = s.admin();
    let by_uri = format!("/Observation?patient.identifier={DS}%7C{hanako}");
    let r = s.get(&by_uri, Some(&admin)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["total"], 2);
    assert!(r.body["entry"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["resource"]["subject"]["reference"] == format!("Patient/{ph}")));
    assert!(r.body["link"][0]["url"].as_str().unwrap().contains("patient.identifier="), "{}", r.body["link"]);
    let r = s.get("/Observation?subject:Patient.name=佐藤&_summary=count", Some(&admin)).await;
    assert_eq!(r.body["total"], 1, "{}", r.body);
    let r = s.get(&format!("/Observation?patient.identifier={DS}%7Curn:x:nobody"), Some(&admin)).await;
    assert_eq!(r.body["total"], 0, "{}", r.body);

    // An insurer with Hanako's consent to her health data but not her identity data may
    // read her Observations, but cannot find them by who she is: the chain's Patient is
    // decided like a read (withheld, and audited as such).
    s.consent("c-health", hanako, INSURER, "disease-management", Category::Health).await;
    let insurer = s.insurer();
    let r = s.get(&format!("/Observation?patient={ph}&_summary=count"), Some(&insurer)).await;
    assert_eq!(r.body["total"], 2, "{}", r.body);
    let before = s.audit_of(hanako).await.len();
    let r = s.get(&by_uri, Some(&insurer)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["total"], 0, "{}", r.body);
    let audit = s.audit_of(hanako).await;
    assert!(audit.len() > before, "the chained Patient's decision is audited");
    // With her consent to identity data as well, the chain finds them, and the Patient
    // used to answer is in her access log as read.
    s.consent("c-id", hanako, INSURER, "disease-management", Category::Identity).await;
    let r = s.get(&by_uri, Some(&insurer)).await;
    assert_eq!(r.body["total"], 2, "{}", r.body);
    let audit = s.audit_of(hanako).await;
    let last = serde_json::to_string(&audit).unwrap();
    assert!(last.contains(&format!("Patient/{ph}")), "the Patient read through the chain is logged");
    // Taro gave nothing: his records stay out of reach by any route.
    let r = s.get(&format!("/Observation?patient.identifier={DS}%7C{taro}"), Some(&insurer)).await;
    assert_eq!(r.body["total"], 0, "{}", r.body);

    // Names the server does not know: ignored and reported (lenient), 400 under strict
    // handling; a bad value: 400 either way; chains in a condition: 400.
    let r = s.get("/Observation?patient.nickname=x", Some(&admin)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.to_string().contains("ignored search parameters: patient.nickname"), "{}", r.body);
    for (q, says) in [
        ("/Observation?patient.nickname=x", "no search parameter 'nickname'"),
        ("/Observation?code.identifier=x", "not a reference parameter"),
        ("/Observation?subject:Nope.name=x", "'Nope'"),
        ("/Flag?patient.organization.name=x", "more than one level"),
    ] {
        let r = s
            .client
            .get(format!("{}/fhir{q}", s.origin))
            .bearer_auth(&admin)
            .header("Prefer", "handling=strict")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{q}");
        let body: Value = r.json().await.unwrap();
        assert!(body.to_string().contains(says), "{q}: {body}");
    }
    let r = s.get("/Observation?patient.birthdate=yesterday", Some(&admin)).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = s
        .post_if(
            "/Observation",
            &clinic,
            &format!("patient.identifier={DS}|{hanako}"),
            bp_json(&ph, 1.0, 1.0, "2026-11-22"),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.to_string().contains("chained parameters"), "{}", r.body);
}
