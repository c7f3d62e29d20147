//! Every FHIR interaction over HTTP, its errors, consent on every read path, alerts,
//! guardians, reminders and research extracts.

mod common;

use common::*;
use kizuna_consent::{Category, Role};
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn create_read_update_vread_history_delete() {
    let s = Server::start().await;
    let clinic = s.clinic();
    // A Patient without the data-subject identifier is refused, naming the element.
    let mut bad = patient_json("urn:ngsi-ld:Person:x", "1970-01-01", "female");
    bad["identifier"] = json!([]);
    let r = s.post("/Patient", &clinic, bad).await;
    // (An empty array breaks FHIR's JSON rules — arrays are never empty — so it fails
    // basic validation: 400, not 422.)
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["resourceType"], "OperationOutcome");
    assert!(r.body.to_string().contains("Patient.identifier"), "{}", r.body);

    let pid = s.patient("urn:ngsi-ld:Person:hanako", "1970-04-01", "female").await;
    let r = s.get(&format!("/Patient/{pid}"), Some(&clinic)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["etag"], "W/\"1\"");
    assert_eq!(r.headers["content-type"], "application/fhir+json; charset=utf-8");
    assert_eq!(r.body["meta"]["versionId"], "1");
    assert_eq!(r.body["meta"]["source"], CLINIC);

    // An Observation about a Patient that does not exist: 422 naming Observation.subject.
    let r = s.post("/Observation", &clinic, bp_json("nope", 120.0, 80.0, "2026-11-20T07:00:00+09:00")).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.body["issue"][0]["expression"][0], "Observation.subject");
    // An invalid Observation (unit not UCUM mm[Hg]): 400 naming the element.
    let mut o = bp_json(&pid, 120.0, 80.0, "2026-11-20T07:00:00+09:00");
    o["component"][0]["valueQuantity"]["code"] = json!("mmHg");
    let r = s.post("/Observation", &clinic, o).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body["issue"].as_array().unwrap().iter().any(|i| i["expression"].to_string().contains("component")));

    let oid = s.bp(&pid, 118.0, 76.0, "2026-11-20T07:00:00+09:00").await;
    // Update with a stale If-Match: 412; with the right one: 200, version 2.
    let mut upd = bp_json(&pid, 119.0, 77.0, "2026-11-20T07:00:00+09:00");
    upd["id"] = json!(oid);
    let stale = s
        .client
        .put(format!("{}/fhir/Observation/{oid}", s.origin))
        .bearer_auth(&clinic)
        .header("Content-Type", "application/fhir+json")
        .header("If-Match", "W/\"7\"")
        .body(upd.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 412);
    let ok = s
        .client
        .put(format!("{}/fhir/Observation/{oid}", s.origin))
        .bearer_auth(&clinic)
        .header("Content-Type", "application/fhir+json")
        .header("If-Match", "W/\"1\"")
        .body(upd.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["etag"], "W/\"2\"");
    // An update without id in the body: 400; with another id: 400.
    let r = s
        .req(Method::PUT, &format!("/Observation/{oid}"), Some(&clinic), Some(bp_json(&pid, 1.0, 1.0, "2026-11-20")))
        .await;
    assert_eq!(r.status, 400);
    let v1 = s.get(&format!("/Observation/{oid}/_history/1"), Some(&clinic)).await;
    assert_eq!(v1.body["component"][0]["valueQuantity"]["value"], 118.0);
    let r = s.req(Method::DELETE, &format!("/Observation/{oid}"), Some(&clinic), None).await;
    assert_eq!(r.status, 200);
    assert_eq!(s.get(&format!("/Observation/{oid}"), Some(&clinic)).await.status, 410);
    let h = s.get(&format!("/Observation/{oid}/_history"), Some(&clinic)).await;
    assert_eq!(h.body["type"], "history");
    assert_eq!(h.body["total"], 3);
    let methods: Vec<&str> =
        h.body["entry"].as_array().unwrap().iter().map(|e| e["request"]["method"].as_str().unwrap()).collect();
    assert_eq!(methods, ["DELETE", "PUT", "POST"]);
    assert_eq!(s.get(&format!("/Observation/{oid}/_history/3"), Some(&clinic)).await.status, 410);
    // Unknown resource type, unknown id, wrong media types.
    assert_eq!(s.get("/Basic/1", Some(&clinic)).await.status, 404);
    assert_eq!(s.get("/Observation/nope", Some(&clinic)).await.status, 404);
    let r = s
        .client
        .get(format!("{}/fhir/Patient/{pid}", s.origin))
        .bearer_auth(&clinic)
        .header("Accept", "application/fhir+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 406);
    let r = s
        .client
        .post(format!("{}/fhir/Patient", s.origin))
        .bearer_auth(&clinic)
        .header("Content-Type", "application/xml")
        .body("<Patient/>")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let r = s
        .client
        .post(format!("{}/fhir/Patient", s.origin))
        .bearer_auth(&clinic)
        .header("Content-Type", "application/fhir+json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Anonymous writes: 401 with WWW-Authenticate; service providers: 403.
    let r = s.req(Method::POST, "/Patient", None, Some(patient_json("urn:x:1", "1970-01-01", "male"))).await;
    assert_eq!(r.status, 401);
    assert!(r.headers.contains_key("www-authenticate"));
    let r = s.post("/Patient", &s.insurer(), patient_json("urn:x:1", "1970-01-01", "male")).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body["issue"][0]["code"], "forbidden");
    // Flags are written by Kizuna, not clients.
    let r = s.post("/Flag", &clinic, json!({"resourceType": "Flag"})).await;
    assert_eq!(r.status, 405);
    // metadata
    let m = s.get("/metadata", None).await;
    assert_eq!(m.body["resourceType"], "CapabilityStatement");
    assert_eq!(m.body["fhirVersion"], "4.0.1");
}

#[tokio::test]
async fn search_parameters_paging_include_and_errors() {
    let s = Server::start().await;
    let clinic = s.clinic();
    let p1 = s.patient("urn:ngsi-ld:Person:a", "1960-01-01", "male").await;
    let p2 = s.patient("urn:ngsi-ld:Person:b", "1990-05-05", "female").await;
    for d in 1..=12 {
        s.bp(&p1, 110.0 + d as f64, 70.0, &format!("2026-11-{d:02}T07:00:00+09:00")).await;
    }
    s.bp(&p2, 112.0, 72.0, "2026-10-15").await;
    let q = |p: &str| format!("/Observation?{p}");
    let total = |b: &Value| b["total"].as_u64().unwrap();
    assert_eq!(total(&s.get(&q(&format!("patient={p1}")), Some(&clinic)).await.body), 12);
    assert_eq!(total(&s.get(&q(&format!("subject=Patient/{p1}")), Some(&clinic)).await.body), 12);
    assert_eq!(total(&s.get(&q("code=http://loinc.org|85354-9"), Some(&clinic)).await.body), 13);
    assert_eq!(total(&s.get(&q("code=85354-9"), Some(&clinic)).await.body), 13);
    assert_eq!(total(&s.get(&q("code=|85354-9"), Some(&clinic)).await.body), 0);
    assert_eq!(total(&s.get(&q("code=http://snomed.info/sct|85354-9"), Some(&clinic)).await.body), 0);
    assert_eq!(total(&s.get(&q("category=vital-signs"), Some(&clinic)).await.body), 13);
    // Dates: 2026-11-05 07:00 JST is 2026-11-04T22:00Z.
    assert_eq!(total(&s.get(&q(&format!("patient={p1}&date=ge2026-11-05")), Some(&clinic)).await.body), 8);
    assert_eq!(total(&s.get(&q(&format!("patient={p1}&date=lt2026-11-05")), Some(&clinic)).await.body), 4);
    assert_eq!(total(&s.get(&q(&format!("patient={p1}&date=2026-11")), Some(&clinic)).await.body), 12);
    assert_eq!(total(&s.get(&q("date=2026-10"), Some(&clinic)).await.body), 1);
    assert_eq!(
        total(&s.get(&q(&format!("patient={p1}&date=ge2026-11-03&date=le2026-11-06")), Some(&clinic)).await.body),
        4
    );
    assert_eq!(total(&s.get(&q(&format!("patient={p1},{p2}")), Some(&clinic)).await.body), 13);
    assert_eq!(total(&s.get("/Patient?birthdate=1990-05-05", Some(&clinic)).await.body), 1);
    assert_eq!(total(&s.get("/Patient?family=山", Some(&clinic)).await.body), 2);
    assert_eq!(total(&s.get("/Patient?gender=female", Some(&clinic)).await.body), 1);
    assert_eq!(
        total(&s.get("/Patient?identifier=urn:kizuna:data-subject|urn:ngsi-ld:Person:b", Some(&clinic)).await.body),
        1
    );
    assert_eq!(total(&s.get(&format!("/Observation?_source={CLINIC}"), Some(&clinic)).await.body), 13);
    assert_eq!(total(&s.get("/Observation?_lastUpdated=ge2020-01-01", Some(&clinic)).await.body), 13);
    // Paging: 12 in pages of 5, following next links, sorted by date descending.
    let mut url = format!("{}/fhir/Observation?patient={p1}&_count=5&_sort=-date", s.origin);
    let mut seen = Vec::new();
    loop {
        let b: Value = s.client.get(&url).bearer_auth(&clinic).send().await.unwrap().json().await.unwrap();
        for e in b["entry"].as_array().unwrap() {
            seen.push(e["resource"]["effectiveDateTime"].as_str().unwrap().to_string());
        }
        match b["link"].as_array().unwrap().iter().find(|l| l["relation"] == "next") {
            Some(l) => url = l["url"].as_str().unwrap().to_string(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 12);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(seen, sorted);
    // _include, _summary=count
    let b = s.get(&q(&format!("patient={p2}&_include=Observation:patient")), Some(&clinic)).await.body;
    let modes: Vec<&str> =
        b["entry"].as_array().unwrap().iter().map(|e| e["search"]["mode"].as_str().unwrap()).collect();
    assert_eq!(modes, ["match", "include"]);
    assert_eq!(b["entry"][1]["resource"]["id"], json!(p2));
    let b = s.get(&q(&format!("patient={p1}&_summary=count")), Some(&clinic)).await.body;
    assert_eq!(b["total"], 12);
    assert!(b.get("entry").is_none());
    // Errors and lenient handling.
    assert_eq!(s.get(&q("date=xx2026"), Some(&clinic)).await.status, 400);
    assert_eq!(s.get(&q("date=2026-02-30"), Some(&clinic)).await.status, 400);
    assert_eq!(s.get(&q("_count=many"), Some(&clinic)).await.status, 400);
    assert_eq!(s.get(&q("_sort=colour"), Some(&clinic)).await.status, 400);
    assert_eq!(s.get(&q("_include=Patient:link"), Some(&clinic)).await.status, 400);
    let b = s.get(&q("colour=red"), Some(&clinic)).await.body;
    assert_eq!(b["total"], 13);
    assert_eq!(b["entry"].as_array().unwrap().last().unwrap()["search"]["mode"], "outcome");
    let r = s
        .client
        .get(format!("{}/fhir/Observation?colour=red", s.origin))
        .bearer_auth(&clinic)
        .header("Prefer", "handling=strict")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // POST _search with a form body gives the same answer.
    let r: Value = s
        .client
        .post(format!("{}/fhir/Observation/_search", s.origin))
        .bearer_auth(&clinic)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("patient={p1}&date=ge2026-11-05"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["total"], 8);
}

#[tokio::test]
async fn revinclude_adds_each_decided_resource_and_says_when_it_stops() {
    let s = Server::start().await;
    let admin = s.admin();
    let (hanako, taro) = ("urn:ngsi-ld:Person:hanako", "urn:ngsi-ld:Person:taro");
    let ph = s.patient(hanako, "1970-04-01", "female").await;
    let pt = s.patient(taro, "1960-01-01", "male").await;
    let o1 = s.bp(&ph, 120.0, 80.0, "2026-11-20T07:00:00+09:00").await;
    let o2 = s.bp(&ph, 121.0, 80.0, "2026-11-21T07:00:00+09:00").await;
    let o3 = s.bp(&pt, 122.0, 80.0, "2026-11-20T07:00:00+09:00").await;
    let modes = |b: &Value| -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = b["entry"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|e| e["resource"]["resourceType"] != "OperationOutcome")
                    .map(|e| {
                        (
                            e["search"]["mode"].as_str().unwrap_or("").to_string(),
                            format!(
                                "{}/{}",
                                e["resource"]["resourceType"].as_str().unwrap(),
                                e["resource"]["id"].as_str().unwrap()
                            ),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    let inc = |k: &str| ("include".to_string(), k.to_string());
    let mat = |k: &str| ("match".to_string(), k.to_string());

    let r = s.get(&format!("/Patient?_id={ph}&_revinclude=Observation:subject"), Some(&admin)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["total"], 1, "total counts matches only");
    let mut want =
        vec![inc(&format!("Observation/{o1}")), inc(&format!("Observation/{o2}")), mat(&format!("Patient/{ph}"))];
    want.sort();
    assert_eq!(modes(&r.body), want);
    let r = s.get("/Patient?_revinclude=Observation:patient", Some(&admin)).await;
    assert_eq!(modes(&r.body).len(), 5, "{}", r.body);
    assert!(modes(&r.body).contains(&inc(&format!("Observation/{o3}"))));

    // An insurer with Hanako's consent to her identity data only: her Patient matches, her
    // Observations are decided one by one and withheld (and audited as withheld).
    s.consent("c-id", hanako, INSURER, "disease-management", Category::Identity).await;
    let before = s.audit_of(hanako).await.len();
    let r = s.get(&format!("/Patient?_id={ph}&_revinclude=Observation:subject"), Some(&s.insurer())).await;
    assert_eq!(modes(&r.body), vec![mat(&format!("Patient/{ph}"))], "{}", r.body);
    let audit = s.audit_of(hanako).await;
    assert!(audit.len() >= before + 3, "the Patient read and two withheld Observations are logged");

    // Errors name the parameter.
    for (q, says) in [
        ("/Patient?_revinclude=Observation:code", "not a reference parameter of Observation"),
        ("/Patient?_revinclude=Nope:subject", "expected <type>:<reference parameter>"),
        ("/Patient?_revinclude=Observation", "expected <type>:<reference parameter>"),
        ("/Patient?_revinclude=Observation:subject:Organization", "does not point at Patient"),
    ] {
        let r = s.get(q, Some(&admin)).await;
        assert_eq!(r.status, 400, "{q}: {}", r.body);
        assert!(r.body.to_string().contains(says), "{q}: {}", r.body);
    }
    let cap = s.get("/metadata", None).await.body;
    let patient =
        cap["rest"][0]["resource"].as_array().unwrap().iter().find(|x| x["type"] == "Patient").unwrap().clone();
    assert!(patient["searchRevInclude"].as_array().unwrap().contains(&json!("Observation:subject")), "{patient}");

    // More than 1,000 to add: the first 1,000 and a warning, never a silent cut.
    let entries: Vec<Value> = (0..1001)
        .map(|i| {
            let when = format!("2026-10-{:02}T{:02}:{:02}:00+09:00", 1 + i / 60 % 28, i / 60 % 24, i % 60);
            json!({"resource": bp_json(&pt, 110.0, 70.0, &when), "request": {"method": "POST", "url": "Observation"}})
        })
        .collect();
    let r = s.post("", &s.clinic(), json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.get(&format!("/Patient?_id={pt}&_revinclude=Observation:subject"), Some(&admin)).await;
    assert_eq!(modes(&r.body).len(), 1 + 1000);
    let warning =
        r.body["entry"].as_array().unwrap().iter().find(|e| e["search"]["mode"] == "outcome").expect("warning");
    assert_eq!(warning["resource"]["issue"][0]["code"], "too-costly");
    assert!(warning.to_string().contains("1000 of 1002"), "{warning}");
}

#[tokio::test]
async fn transaction_is_atomic_and_batch_is_not() {
    let s = Server::start().await;
    let clinic = s.clinic();
    let obs = |p: &str, sys: f64| bp_json(p, sys, 70.0, "2026-11-20T07:00:00+09:00");
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:0b0b0b0b-0000-4000-8000-000000000001", "resource": obs("urn:uuid:0b0b0b0b-0000-4000-8000-000000000002", 120.0), "request": {"method": "POST", "url": "Observation"}},
        {"fullUrl": "urn:uuid:0b0b0b0b-0000-4000-8000-000000000002", "resource": patient_json("urn:ngsi-ld:Person:tx", "1980-01-01", "male"), "request": {"method": "POST", "url": "Patient"}},
        {"resource": obs("urn:uuid:0b0b0b0b-0000-4000-8000-000000000002", 121.0), "request": {"method": "POST", "url": "Observation"}}
    ]});
    // References to urn:uuid fullUrls are written `Patient/urn:uuid...` by bp_json; fix them.
    let tx: Value = serde_json::from_str(&tx.to_string().replace("Patient/urn:uuid", "urn:uuid")).unwrap();
    let r = s.post("", &clinic, tx).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["type"], "transaction-response");
    let entries = r.body["entry"].as_array().unwrap();
    assert!(entries.iter().all(|e| e["response"]["status"] == "201 Created"));
    let pid = entries[1]["resource"]["id"].as_str().unwrap();
    assert_eq!(entries[0]["resource"]["subject"]["reference"], json!(format!("Patient/{pid}")));
    assert_eq!(s.get(&format!("/Observation?patient={pid}"), Some(&clinic)).await.body["total"], 2);

    // One bad entry: nothing of the Bundle is stored, the error names the entry.
    let mut bad = obs(pid, 130.0);
    bad["status"] = json!("invented");
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": obs(pid, 125.0), "request": {"method": "POST", "url": "Observation"}},
        {"resource": bad, "request": {"method": "POST", "url": "Observation"}}
    ]});
    let r = s.post("", &clinic, tx.clone()).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.to_string().contains("Bundle.entry[1].resource"), "{}", r.body);
    assert_eq!(s.get(&format!("/Observation?patient={pid}"), Some(&clinic)).await.body["total"], 2);

    // The same as a batch: the good entry is stored, the bad one reported.
    let mut batch = tx;
    batch["type"] = json!("batch");
    let r = s.post("", &clinic, batch).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["type"], "batch-response");
    assert_eq!(r.body["entry"][0]["response"]["status"], "201 Created");
    assert!(r.body["entry"][1]["response"]["status"].as_str().unwrap().starts_with("400"));
    assert_eq!(r.body["entry"][1]["response"]["outcome"]["resourceType"], "OperationOutcome");
    assert_eq!(s.get(&format!("/Observation?patient={pid}"), Some(&clinic)).await.body["total"], 3);
    // Unsupported entries are refused by name.
    let r = s.post("", &clinic, json!({"resourceType": "Bundle", "type": "transaction", "entry": [{"request": {"method": "GET", "url": "Patient"}}]})).await;
    assert_eq!(r.status, 400);
    assert!(r.body.to_string().contains("entry[0]"));
    let r = s.post("", &clinic, json!({"resourceType": "Bundle", "type": "collection"})).await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn consent_governs_every_read_path_and_is_audited() {
    let s = Server::start().await;
    let hanako = "urn:ngsi-ld:Person:hanako";
    let pid = s.patient(hanako, "1970-04-01", "female").await;
    let oid = s.bp(&pid, 150.0, 95.0, "2026-11-20T07:00:00+09:00").await;
    let insurer = s.insurer();
    let paths = [
        format!("/Observation/{oid}"),
        format!("/Observation?patient={pid}"),
        format!("/Observation?patient={pid}&_include=Observation:patient"),
        format!("/Patient/{pid}/$everything"),
        format!("/Observation/{oid}/_history"),
        format!("/Observation/{oid}/_history/1"),
        format!("/Flag?patient={pid}"),
    ];
    // The status the rules give a path when the Observation is withheld: an instance read
    // 404 (like a missing resource), a search 200 without it, `$everything` 200 only for a
    // caller who may read the Patient.
    let withheld_status = |p: &str, patient_readable: bool| -> u16 {
        if p.contains('?') || (p.ends_with("$everything") && patient_readable) {
            200
        } else {
            404
        }
    };
    // Every path's answer names the Observation (the Flag through its flag-detail) exactly
    // when the Observation's data is released; a 404 is the `not-found` of a missing one.
    let visible = |b: &Value| b.to_string().contains(&oid);
    let withheld = |p: &str, r: &Reply| {
        if r.status == 404 {
            assert_eq!(r.body["issue"][0]["code"], "not-found", "{p}: {}", r.body);
        } else {
            assert!(!visible(&r.body), "{p}: {}", r.body);
        }
    };
    for p in &paths {
        let r = s.get(p, Some(&insurer)).await;
        assert_eq!(r.status, withheld_status(p, false), "{p}: {}", r.body);
        withheld(p, &r);
    }
    // Anonymous and another citizen: nothing either.
    for tok in [None, Some(s.citizen("urn:ngsi-ld:Person:other"))] {
        for p in &paths {
            let r = s.get(p, tok.as_deref()).await;
            assert_eq!(r.status, withheld_status(p, false), "{p}: {}", r.body);
            withheld(p, &r);
        }
    }
    // A consent for location does not cover health; one for the wrong purpose neither.
    s.consent("c-loc", hanako, INSURER, "disease-management", Category::Location).await;
    s.consent("c-purpose", hanako, INSURER, "research", Category::Health).await;
    assert_eq!(s.get(&format!("/Observation/{oid}"), Some(&insurer)).await.status, 404);
    // The consent: every path shows the data.
    let c = s.consent("c-ok", hanako, INSURER, "disease-management", Category::Health).await;
    s.consent("c-id", hanako, INSURER, "disease-management", Category::Identity).await;
    for p in &paths {
        let r = s.get(p, Some(&insurer)).await;
        assert!(r.status == 200 && visible(&r.body), "{p}: {} {}", r.status, r.body);
    }
    // The person and the tenant admin always see it; the person's access log has the reads.
    assert_eq!(s.get(&format!("/Observation/{oid}"), Some(&s.citizen(hanako))).await.status, 200);
    let log = s.audit_of(hanako).await;
    assert!(log.iter().any(|a| a.actor == INSURER && a.resource == format!("Observation/{oid}") && a.decision.allowed));
    assert!(log
        .iter()
        .any(|a| a.actor == INSURER && a.resource == format!("Observation/{oid}") && !a.decision.allowed));
    assert!(log.iter().any(|a| a.actor == CLINIC && a.action == kizuna_consent::Action::Write));
    // Withdrawal: gone on the very next request.
    let mut w = c.clone();
    w.withdrawn_at = Some(chrono::Utc::now());
    s.write(move |tx| tx.put_consent(&w)).await;
    // (The identity consent c-id still lets the insurer read the Patient.)
    for p in &paths {
        let r = s.get(p, Some(&insurer)).await;
        assert_eq!(r.status, withheld_status(p, true), "{p} after withdrawal: {}", r.body);
        withheld(p, &r);
    }
    // An attribute-limited consent does not release FHIR resources.
    let mut lim = consent_record("c-lim", hanako, INSURER, "disease-management", Category::Health);
    lim.attributes = vec!["https://uri.etsi.org/ngsi-ld/default-context/systolic".into()];
    s.write(move |tx| tx.put_consent(&lim)).await;
    assert_eq!(s.get(&format!("/Observation/{oid}"), Some(&insurer)).await.status, 404);
    let log = s.audit_of(hanako).await;
    assert!(log.iter().any(|a| a.decision.reason.as_deref() == Some("attribute-limited-consent")));
    // Consent view: the person and the recipient see the consents; another party does not.
    let r = s.get(&format!("/Consent?patient={pid}"), Some(&s.citizen(hanako))).await;
    assert_eq!(r.body["total"], 5, "{}", r.body);
    let r = s.get("/Consent/c-ok", Some(&insurer)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["status"], "inactive");
    assert_eq!(r.body["provision"]["actor"][0]["reference"]["identifier"]["value"], INSURER);
    let other = s.token(Role::ServiceProvider, Some("urn:kizuna:party:other"), None, Some("disease-management"));
    assert_eq!(s.get("/Consent/c-ok", Some(&other)).await.status, 404);
}

#[tokio::test]
async fn threshold_alerts_and_the_insurer_worklist() {
    let s = Server::start().await;
    let taro = "urn:ngsi-ld:Person:taro";
    let pid = s.patient(taro, "1958-03-03", "male").await;
    let clinic = s.clinic();
    let admin = s.admin();
    let flags = |b: &Value| ids(b).len();
    s.bp(&pid, 118.0, 74.0, "2026-11-01T07:00:00+09:00").await; // 正常血圧: no alert
    assert_eq!(flags(&s.get(&format!("/Flag?patient={pid}"), Some(&admin)).await.body), 0);
    s.bp(&pid, 138.0, 80.0, "2026-11-02T07:00:00+09:00").await; // I度: 受診勧奨
    s.bp(&pid, 140.0, 80.0, "2026-11-03T07:00:00+09:00").await; // same tier: no second alert
    let b = s.get(&format!("/Flag?patient={pid}"), Some(&admin)).await.body;
    assert_eq!(flags(&b), 1, "{b}");
    assert_eq!(b["entry"][0]["resource"]["code"]["coding"][0]["code"], "recommend-visit");
    s.bp(&pid, 165.0, 100.0, "2026-11-04T07:00:00+09:00").await; // III度: すぐに受診
    let b = s.get(&format!("/Flag?patient={pid}&_sort=date"), Some(&admin)).await.body;
    assert_eq!(flags(&b), 2);
    assert_eq!(b["entry"][1]["resource"]["code"]["coding"][0]["code"], "urgent-visit");
    // The person got Communications, and an NGSI-LD HealthAlert entity per alert.
    let c = s.get(&format!("/Communication?patient={pid}&category=alert"), Some(&s.citizen(taro))).await.body;
    assert_eq!(ids(&c).len(), 2);
    assert!(c["entry"][0]["resource"]["payload"][0]["contentString"].as_str().unwrap().contains("家庭血圧"));
    let flag_id = b["entry"][0]["resource"]["id"].as_str().unwrap().to_string();
    let e = s.store.get(T, &format!("urn:ngsi-ld:HealthAlert:{flag_id}")).unwrap().expect("alert entity");
    assert!(e.attrs.contains_key(kizuna_consent::DATA_SUBJECT));
    // Worklist: empty without consent, the flags with it.
    let worklist = "/Flag?code=urn:kizuna:fhir:recommendation|recommend-visit,urn:kizuna:fhir:recommendation|urgent-visit&status=active";
    assert_eq!(flags(&s.get(worklist, Some(&s.insurer())).await.body), 0);
    s.consent("c1", taro, INSURER, "disease-management", Category::Health).await;
    assert_eq!(flags(&s.get(worklist, Some(&s.insurer())).await.body), 2);
    // Down to normal and up to II度: the III度 alert is still open, so no new Flag.
    s.bp(&pid, 118.0, 74.0, "2026-11-05T07:00:00+09:00").await;
    s.bp(&pid, 150.0, 90.0, "2026-11-06T07:00:00+09:00").await;
    assert_eq!(flags(&s.get(&format!("/Flag?patient={pid}"), Some(&admin)).await.body), 2);
    // The insurer closes the urgent one (only status and period.end may change); the
    // clinic, which may not see Flags, cannot.
    let urgent = b["entry"][1]["resource"].clone();
    let uid = urgent["id"].as_str().unwrap().to_string();
    let mut closed = urgent.clone();
    closed["status"] = json!("inactive");
    closed["period"]["end"] = json!("2026-11-07");
    assert_eq!(s.req(Method::PUT, &format!("/Flag/{uid}"), Some(&clinic), Some(closed.clone())).await.status, 404);
    let mut tampered = closed.clone();
    tampered["code"]["text"] = json!("nothing to see");
    assert_eq!(s.req(Method::PUT, &format!("/Flag/{uid}"), Some(&s.insurer()), Some(tampered)).await.status, 422);
    let r = s.req(Method::PUT, &format!("/Flag/{uid}"), Some(&s.insurer()), Some(closed)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["meta"]["versionId"], "2");
    assert_eq!(flags(&s.get(worklist, Some(&s.insurer())).await.body), 1);
    // Closed: the next crossing raises a new alert.
    s.bp(&pid, 118.0, 74.0, "2026-11-08T07:00:00+09:00").await;
    s.bp(&pid, 170.0, 100.0, "2026-11-09T07:00:00+09:00").await;
    assert_eq!(flags(&s.get(worklist, Some(&s.insurer())).await.body), 2);
    // The table is the tenant's: the admin can read and replace it; others cannot change it.
    let t = s.get("/$thresholds", Some(&s.admin())).await;
    assert_eq!(t.status, 200);
    assert!(t.body["items"].as_array().unwrap().len() >= 5);
    let r = s.req(Method::POST, "/$thresholds", Some(&clinic), Some(t.body.clone())).await;
    assert_eq!(r.status, 403);
    let r = s.req(Method::POST, "/$thresholds", Some(&s.admin()), Some(json!({"items": "no"}))).await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn guardians_schedules_and_reminders() {
    let s = Server::start().await;
    let mother = "urn:ngsi-ld:Person:mother";
    let child = "urn:ngsi-ld:Person:child";
    s.patient(mother, "1990-01-01", "female").await;
    let birth = (chrono::Utc::now() - chrono::Duration::days(200)).date_naive().to_string();
    let cid = s.patient(child, &birth, "female").await;
    // Before the guardianship: the mother sees nothing of the child.
    let m = s.citizen(mother);
    assert_eq!(s.get(&format!("/Patient/{cid}"), Some(&m)).await.status, 404);
    s.guardian("g1", mother, child).await;
    assert_eq!(s.get(&format!("/Patient/{cid}"), Some(&m)).await.status, 200);
    // The mother records the child's measurement; a stranger cannot.
    let mut w = bp_json(&cid, 90.0, 50.0, "2026-11-20");
    w["code"] = json!({"coding": [{"system": "http://loinc.org", "code": "29463-7"}]});
    w.as_object_mut().unwrap().remove("component");
    w["valueQuantity"] = json!({"value": 7.1, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"});
    let r = s.post("/Observation", &m, w.clone()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = s.post("/Observation", &s.citizen("urn:ngsi-ld:Person:stranger"), w).await;
    assert_eq!(r.status, 403);
    let log = s.audit_of(child).await;
    assert!(log.iter().any(|a| a.decision.basis.as_deref() == Some("guardian:g1")));
    // The schedule: at 200 days old with nothing given, the first doses are overdue or due.
    let sched = s.get(&format!("/Patient/{cid}/$immunization-schedule"), Some(&m)).await;
    assert_eq!(sched.status, 200, "{}", sched.body);
    assert_eq!(sched.body["resourceType"], "ImmunizationRecommendation");
    let recs = sched.body["recommendation"].as_array().unwrap();
    assert!(recs.iter().any(|r| r["forecastStatus"]["coding"][0]["code"] == "overdue"));
    // Reminders: the admin's job sends them once per dose and status.
    let r =
        s.req(Method::POST, "/$send-reminders", Some(&s.admin()), Some(json!({"resourceType": "Parameters"}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sent = r.body["parameter"][3]["valueInteger"].as_u64().unwrap();
    assert!(sent >= 2, "{}", r.body);
    let again =
        s.req(Method::POST, "/$send-reminders", Some(&s.admin()), Some(json!({"resourceType": "Parameters"}))).await;
    assert_eq!(again.body["parameter"][3]["valueInteger"], 0);
    let c = s.get(&format!("/Communication?patient={cid}&category=reminder"), Some(&m)).await.body;
    assert_eq!(ids(&c).len() as u64, sent);
    assert_eq!(c["entry"][0]["resource"]["recipient"][0]["identifier"]["value"], mother);
    let r = s.req(Method::POST, "/$send-reminders", Some(&s.clinic()), Some(json!({}))).await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn research_extract_only_from_consenting_people_with_k_anonymity() {
    let s = Server::start().await;
    let people =
        kizuna_fhir::people::generate(&kizuna_fhir::people::GenOptions::new(7, 40, chrono::Utc::now().date_naive()));
    let clinic = s.clinic();
    let mut consenting = 0;
    for (n, p) in people.iter().enumerate() {
        let mut entries = vec![
            json!({"fullUrl": format!("urn:uuid:{}", p.patient_id()), "resource": p.patient, "request": {"method": "PUT", "url": format!("Patient/{}", p.patient_id())}}),
        ];
        for r in &p.resources {
            let rt = r["resourceType"].as_str().unwrap();
            entries.push(json!({"resource": r, "request": {"method": "PUT", "url": format!("{rt}/{}", r["id"].as_str().unwrap())}}));
        }
        let r = s.post("", &clinic, json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})).await;
        assert_eq!(r.status, 200, "{}", r.body);
        if n % 4 != 0 {
            s.consent(&format!("r{n}"), &p.subject, INSURER, "research", Category::Health).await;
            s.consent(&format!("i{n}"), &p.subject, INSURER, "research", Category::Identity).await;
            consenting += 1;
        }
    }
    let researcher = s.token(Role::ServiceProvider, Some(INSURER), None, Some("research"));
    let r = s.req(Method::POST, "/$research-extract?k=5", Some(&researcher), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let rep = &r.body["report"];
    eprintln!("research extract report (k=5): {rep}");
    assert_eq!(rep["consentingPeople"], consenting);
    assert_eq!(rep["inputPeople"], consenting);
    let rows = r.body["rows"].as_array().unwrap().clone();
    assert_eq!(rows.len() as u64, rep["releasedPeople"].as_u64().unwrap());
    if !rows.is_empty() {
        assert!(kizuna_fhir::deid::k_of(&rows, kizuna_fhir::deid::QUASI_IDENTIFIERS) >= 5);
    }
    let text = r.body.to_string();
    for p in &people {
        assert!(!text.contains(&p.subject));
        assert!(!text.contains(p.patient_id()));
    }
    assert_eq!(s.req(Method::POST, "/$research-extract?k=3", Some(&researcher), None).await.status, 400);
    let r = s.req(Method::POST, "/$research-extract?k=8", Some(&researcher), None).await;
    assert_eq!(r.body["report"]["kRequired"], 8);
    let rows = r.body["rows"].as_array().unwrap().clone();
    if !rows.is_empty() {
        assert!(kizuna_fhir::deid::k_of(&rows, kizuna_fhir::deid::QUASI_IDENTIFIERS) >= 8);
    }
    // The wrong purpose, the admin: refused.
    assert_eq!(s.req(Method::POST, "/$research-extract", Some(&s.insurer()), None).await.status, 400);
    assert_eq!(s.req(Method::POST, "/$research-extract", Some(&s.admin()), None).await.status, 403);
}

#[tokio::test]
async fn the_persons_app_is_notified_of_an_alert_through_a_subscription() {
    let s = Server::start().await;
    let ken = "urn:ngsi-ld:Person:ken";
    let pid = s.patient(ken, "1965-02-02", "male").await;
    let other = s.patient("urn:ngsi-ld:Person:someone", "1965-02-02", "male").await;
    let (endpoint, mut inbox) = receiver().await;
    // Ken subscribes, as himself, to HealthAlert entities (NGSI-LD, default context).
    let sub = json!({
        "id": "urn:ngsi-ld:Subscription:ken-alerts",
        "type": "Subscription",
        "entities": [{"type": "HealthAlert"}],
        "notification": {"endpoint": {"uri": endpoint, "accept": "application/json"}, "format": "keyValues"}
    });
    let r = s
        .client
        .post(format!("{}/ngsi-ld/v1/subscriptions", s.origin))
        .header("NGSILD-Tenant", T)
        .bearer_auth(s.citizen(ken))
        .header("Content-Type", "application/json")
        .body(sub.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    // Someone else's alert is not delivered to Ken; his own is.
    s.bp(&other, 170.0, 100.0, "2026-11-20T07:00:00+09:00").await;
    s.bp(&pid, 150.0, 92.0, "2026-11-20T07:00:00+09:00").await;
    let n =
        tokio::time::timeout(std::time::Duration::from_secs(20), inbox.recv()).await.expect("a notification").unwrap();
    let data = n["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "{n}");
    assert!(data[0]["id"].as_str().unwrap().starts_with("urn:ngsi-ld:HealthAlert:"));
    assert_eq!(data[0]["dataSubject"], ken);
    assert_eq!(data[0]["recommendation"], "recommend-visit");
    assert!(tokio::time::timeout(std::time::Duration::from_secs(2), inbox.recv()).await.is_err(), "only Ken's alert");
}
