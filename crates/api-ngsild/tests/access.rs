//! Authentication and the consent gate over HTTP, on a real socket and WITHOUT the
//! development setting (`Setup { open: false, .. }`): what a bad credential answers
//! (401 ProblemDetails `urn:kizuna:errors:Unauthorized` with `WWW-Authenticate`, never
//! echoing the token), API keys and their revocation, what anonymous callers may read
//! and write, who may write what, the consent gate on every read path (retrieve, query,
//! batch query, temporal retrieve, temporal query) — consent, purpose, attribute-limited
//! consents (`q` on a withheld attribute matches nothing, `count` counts only what is
//! visible), withdrawal, expiry, usage stop, information-bank delegation — notifications
//! decided at delivery, subscriptions private to their owner, tenant isolation, and the
//! audit chain.
//!
//! The tenant's policy (classification, parties, consents, ...) is written directly to
//! the live store (`TestServer::store_write`); entities are created over HTTP by the
//! tenant admin.

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use common::{enc, Call, Resp, Setup, TestServer};
use kizuna_auth::{BuiltinIssuer, TokenRequest};
use kizuna_consent::{
    Category, Classification, ConsentMethod, ConsentRecord, Delegation, LegalBasis, Party, Purpose, RecipientKind,
    Role, UsageStop,
};
use serde_json::{json, Value};

/// Where short names expand to under the core context.
const V: &str = "https://uri.etsi.org/ngsi-ld/default-context/";
const T: &str = "access";

const CITY: &str = "urn:ngsi-ld:Party:city";
const CLINIC: &str = "urn:ngsi-ld:Party:clinic";
const APP: &str = "urn:ngsi-ld:Party:app";
const INSURER: &str = "urn:ngsi-ld:Party:insurer";
const ALICE: &str = "urn:ngsi-ld:Person:alice";
const BOB: &str = "urn:ngsi-ld:Person:bob";

const BP_ALICE: &str = "urn:ngsi-ld:BloodPressure:alice-1";
const BP_BOB: &str = "urn:ngsi-ld:BloodPressure:bob-1";
const SHELTER: &str = "urn:ngsi-ld:Shelter:s1";
const SENSOR: &str = "urn:ngsi-ld:Sensor:x1";

/// Every attribute instance carries this `observedAt`, so that the temporal query's
/// window (`timerel=after&timeAt=2000-01-01T00:00:00Z`) holds all of them.
const OBSERVED: &str = "2024-01-01T00:00:00Z";

const ALL: &[&str] = &["dataSubject", "diastolic", "systolic"];

fn iri(name: &str) -> String {
    format!("{V}{name}")
}

// ---------------------------------------------------------------------------------
// Set-up: the policy and the entities.
// ---------------------------------------------------------------------------------

async fn start() -> TestServer {
    TestServer::start_with(Setup { open: false, ..Default::default() }).await
}

fn party(id: &str, role: Role, purposes: &[&str], kind: Option<&str>) -> Party {
    Party {
        id: id.into(),
        name: format!("name of {id}"),
        roles: vec![role],
        registered_purposes: purposes.iter().map(|p| Purpose::new(*p)).collect(),
        recipient_kind: kind.map(RecipientKind::new),
    }
}

/// BloodPressure is personal (health), Position personal (location), Shelter public,
/// Sensor non-personal; the city admin, a clinic (data holder), an app vendor registered
/// for `p1` and an insurer registered for `p1` and `p2`.
async fn setup_policy(srv: &TestServer, tenant: &str) {
    srv.store_write(tenant, |tx| {
        tx.set_classification(
            &Classification::new()
                .with_personal(&iri("BloodPressure"), Category::Health, None)
                .with_personal(&iri("Position"), Category::Location, None)
                .with_public(&iri("Shelter")),
        )?;
        tx.put_party(&party(CITY, Role::TenantAdmin, &[], None))?;
        tx.put_party(&party(CLINIC, Role::DataHolder, &[], None))?;
        tx.put_party(&party(APP, Role::ServiceProvider, &["p1"], Some("app-vendor")))?;
        tx.put_party(&party(INSURER, Role::ServiceProvider, &["p1", "p2"], Some("insurer")))?;
        Ok(())
    })
    .await;
}

fn consent(id: &str, tenant: &str, subject: &str, recipient: &str, purposes: &[&str]) -> ConsentRecord {
    ConsentRecord {
        id: id.into(),
        subject: subject.into(),
        controller: tenant.into(),
        recipient: recipient.into(),
        purposes: purposes.iter().map(|p| Purpose::new(*p)).collect(),
        categories: vec![Category::Health],
        types: vec![],
        attributes: vec![],
        legal_basis: LegalBasis::Consent,
        notice_version: "1".into(),
        method: ConsentMethod::App,
        granted_at: Utc::now() - chrono::Duration::days(1),
        expires_at: None,
        withdrawn_at: None,
        given_by: None,
        withdrawn_by: None,
    }
}

async fn put_consent(srv: &TestServer, tenant: &str, c: ConsentRecord) {
    srv.store_write(tenant, move |tx| tx.put_consent(&c)).await;
}

fn bp(id: &str, subject: &str, systolic: i64, diastolic: i64) -> Value {
    json!({
        "id": id,
        "type": "BloodPressure",
        "systolic": {"type": "Property", "value": systolic, "observedAt": OBSERVED},
        "diastolic": {"type": "Property", "value": diastolic, "observedAt": OBSERVED},
        "dataSubject": {"type": "Relationship", "object": subject, "observedAt": OBSERVED},
    })
}

fn plain(id: &str, ty: &str) -> Value {
    json!({"id": id, "type": ty, "capacity": {"type": "Property", "value": 10, "observedAt": OBSERVED}})
}

/// A caller: credentials, purpose and tenant, applied to every request.
#[derive(Clone)]
struct Who {
    tenant: String,
    token: Option<String>,
    purpose: Option<String>,
}

impl Who {
    fn anonymous(tenant: &str) -> Who {
        Who { tenant: tenant.into(), token: None, purpose: None }
    }

    fn on(&self, c: Call) -> Call {
        let mut c = c.tenant(&self.tenant);
        if let Some(t) = &self.token {
            c = c.bearer(t);
        }
        if let Some(p) = &self.purpose {
            c = c.purpose(p);
        }
        c
    }

    fn purpose(&self, p: Option<&str>) -> Who {
        Who { purpose: p.map(str::to_string), ..self.clone() }
    }
}

fn who(srv: &TestServer, tenant: &str, role: Role, id: &str, purpose: Option<&str>) -> Who {
    let (party, subject) = if role == Role::Citizen { (None, Some(id)) } else { (Some(id), None) };
    Who {
        tenant: tenant.into(),
        token: Some(srv.token(tenant, role, party, subject)),
        purpose: purpose.map(str::to_string),
    }
}

fn admin(srv: &TestServer, tenant: &str) -> Who {
    who(srv, tenant, Role::TenantAdmin, CITY, None)
}

async fn create_as(srv: &TestServer, w: &Who, e: &Value) {
    let r = w.on(srv.post("/entities")).json(e).send().await;
    assert_eq!(r.status, 201, "creating {e}: {}", r.text);
}

// ---------------------------------------------------------------------------------
// Reading: what one caller sees of one entity on each read path.
// ---------------------------------------------------------------------------------

/// The attribute names of a rendered (normalized or temporal) entity.
fn attr_names(e: &Value) -> BTreeSet<String> {
    e.as_object()
        .unwrap_or_else(|| panic!("not an entity: {e}"))
        .keys()
        .filter(|k| !["id", "type", "@context", "scope", "createdAt", "modifiedAt"].contains(&k.as_str()))
        .cloned()
        .collect()
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// The entity `id` in a 200 answer holding an array, if present.
#[track_caller]
fn find_in(r: &Resp, id: &str, what: &str) -> Option<BTreeSet<String>> {
    assert_eq!(r.status, 200, "{what}: {}", r.text);
    let list = r.json();
    let list = list.as_array().unwrap_or_else(|| panic!("{what}: not an array: {list}"));
    let found: Vec<&Value> = list.iter().filter(|e| e["id"] == json!(id)).collect();
    assert!(found.len() <= 1, "{what}: {id} returned twice");
    found.first().map(|e| attr_names(e))
}

/// 200 → `Some(attribute names)`, 404 → `None`, anything else fails.
#[track_caller]
fn one(r: &Resp, what: &str) -> Option<BTreeSet<String>> {
    match r.status {
        200 => Some(attr_names(&r.json())),
        404 => {
            let body = r.json();
            assert_eq!(body["type"], json!("https://uri.etsi.org/ngsi-ld/errors/ResourceNotFound"), "{what}: {body}");
            None
        }
        s => panic!("{what}: unexpected status {s}: {}", r.text),
    }
}

const WINDOW: [(&str, &str); 2] = [("timerel", "after"), ("timeAt", "2000-01-01T00:00:00Z")];

/// What `w` sees of `id` (of type `ty`) on every read path, by path name.
async fn seen(srv: &TestServer, w: &Who, id: &str, ty: &str) -> Vec<(&'static str, Option<BTreeSet<String>>)> {
    let path = format!("/entities/{}", enc(id));
    let tpath = format!("/temporal/entities/{}", enc(id));
    let retrieve = one(&w.on(srv.get(&path)).send().await, "retrieve");
    let r = w.on(srv.get("/entities")).query(&[("type", ty), ("limit", "100")]).send().await;
    let query = find_in(&r, id, "query");
    let body = json!({"type": "Query", "entities": [{"type": ty}]});
    let r = w.on(srv.post("/entityOperations/query")).query(&[("limit", "100")]).json(&body).send().await;
    let batch = find_in(&r, id, "batch query");
    let temporal = one(&w.on(srv.get(&tpath)).send().await, "temporal retrieve");
    let r = w.on(srv.get("/temporal/entities")).query(&[("type", ty), WINDOW[0], WINDOW[1]]).send().await;
    let temporal_query = find_in(&r, id, "temporal query");
    vec![
        ("GET /entities/{id}", retrieve),
        ("GET /entities?type=", query),
        ("POST /entityOperations/query", batch),
        ("GET /temporal/entities/{id}", temporal),
        ("GET /temporal/entities?type=", temporal_query),
    ]
}

/// Asserts that `w` sees exactly `expected` of `id` (`None`: nothing) on every read path.
async fn assert_seen(srv: &TestServer, w: &Who, id: &str, ty: &str, expected: Option<&[&str]>, why: &str) {
    let expected = expected.map(names);
    for (path, got) in seen(srv, w, id, ty).await {
        assert_eq!(got, expected, "{why}: {path} for {id} (purpose {:?})", w.purpose);
    }
}

/// The `id`s of a 200 answer holding an array.
#[track_caller]
fn ids_of(r: &Resp) -> Vec<String> {
    assert_eq!(r.status, 200, "{}", r.text);
    common::ids(&r.json())
}

/// Asserts a Kizuna ProblemDetails (`urn:kizuna:errors:<name>`); for 401 also the
/// `WWW-Authenticate: Bearer ...` header.
#[track_caller]
fn kizuna_problem(r: &Resp, status: u16, name: &str) -> Value {
    assert_eq!(r.status, status, "unexpected status; body: {}", r.text);
    assert_eq!(r.content_type().as_deref(), Some("application/json"), "ProblemDetails content type");
    let body = r.json();
    assert_eq!(body["type"], json!(format!("urn:kizuna:errors:{name}")), "problem type: {body}");
    assert_eq!(body["status"], json!(status), "problem status: {body}");
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()), "problem detail: {body}");
    if status == 401 {
        let h = r.header("www-authenticate").unwrap_or_else(|| panic!("401 without WWW-Authenticate: {body}"));
        assert!(h.starts_with("Bearer"), "WWW-Authenticate: {h}");
    }
    body
}

// ---------------------------------------------------------------------------------
// Tokens and API keys.
// ---------------------------------------------------------------------------------

fn b64url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn token_request(tenant: &str, ttl: Duration) -> TokenRequest {
    TokenRequest {
        tenant: tenant.into(),
        party: Some(CITY.into()),
        role: Role::TenantAdmin,
        subject: None,
        purpose: None,
        ttl,
    }
}

#[tokio::test]
async fn bad_tokens_are_401_without_echoing_the_token() {
    let srv = start().await;
    setup_policy(&srv, T).await;
    let adm = admin(&srv, T);
    create_as(&srv, &adm, &plain(SHELTER, "Shelter")).await;
    let valid = adm.token.clone().expect("token");
    // The valid token works (as tenant admin it would see everything).
    let r = adm.on(srv.get("/entities")).query(&[("type", "Sensor")]).send().await;
    r.expect(200);

    // A flipped character in the payload.
    let parts: Vec<&str> = valid.split('.').collect();
    assert_eq!(parts.len(), 3);
    let mut payload: Vec<char> = parts[1].chars().collect();
    let mid = payload.len() / 2;
    payload[mid] = if payload[mid] == 'A' { 'B' } else { 'A' };
    let payload: String = payload.into_iter().collect();
    let tampered = format!("{}.{}.{}", parts[0], payload, parts[2]);
    // A token of an issuer the server does not trust (same iss, another key).
    let other =
        BuiltinIssuer::ephemeral().expect("issuer").issue(&token_request(T, Duration::from_secs(600))).expect("token");
    // Expired: issued 2 hours ago for 60 s.
    let expired = srv
        .issuer
        .issue_at(&token_request(T, Duration::from_secs(60)), Utc::now() - chrono::Duration::hours(2))
        .expect("token");
    // alg none: the claims of a valid token, unsigned.
    let now = Utc::now().timestamp();
    let claims = json!({
        "iss": kizuna_auth::BUILTIN_ISSUER, "aud": kizuna_auth::BUILTIN_AUDIENCE, "sub": CITY, "tenant": T,
        "role": "tenant-admin", "iat": now, "nbf": now, "exp": now + 600,
    });
    let none = format!(
        "{}.{}.",
        b64url(json!({"alg": "none", "typ": "JWT"}).to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let cases: Vec<(&str, String, String)> = vec![
        ("tampered payload", format!("Bearer {tampered}"), tampered.clone()),
        ("untrusted issuer", format!("Bearer {other}"), other.clone()),
        ("expired", format!("Bearer {expired}"), expired.clone()),
        ("alg none", format!("Bearer {none}"), none.clone()),
        ("garbage", "Bearer garbage-token-value".to_string(), "garbage-token-value".to_string()),
        ("three garbage segments", "Bearer aaaa.bbbb.cccc".to_string(), "aaaa.bbbb.cccc".to_string()),
        ("basic", "Basic dXNlcjpzZWNyZXRwYXNzd29yZA==".to_string(), "dXNlcjpzZWNyZXRwYXNzd29yZA".to_string()),
        ("empty bearer", "Bearer ".to_string(), "\u{0}".to_string()),
    ];
    for (what, header, secret) in cases {
        let r =
            srv.get("/entities").query(&[("type", "Shelter")]).tenant(T).header("Authorization", &header).send().await;
        let body = kizuna_problem(&r, 401, "Unauthorized");
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(!detail.contains(&secret), "{what}: the detail echoes the credential: {detail}");
        assert!(!r.text.contains(&secret), "{what}: the body echoes the credential");
        let h = r.header("www-authenticate").unwrap_or_default();
        assert!(!h.contains(&secret), "{what}: WWW-Authenticate echoes the credential: {h}");
        // Also refused on a retrieve of a public entity: bad credentials are never
        // treated as anonymous.
        let r = srv.get(&format!("/entities/{}", enc(SHELTER))).tenant(T).header("Authorization", &header).send().await;
        kizuna_problem(&r, 401, "Unauthorized");
    }
}

#[tokio::test]
async fn api_keys_authenticate_until_revoked() {
    let srv = start().await;
    setup_policy(&srv, T).await;
    let adm = admin(&srv, T);
    create_as(&srv, &adm, &plain(SENSOR, "Sensor")).await;
    let (key, record) =
        kizuna_auth::generate_api_key(T, CLINIC, Role::DataHolder, "detector", Utc::now()).expect("API key");
    let id = record.id.clone();
    srv.store_write(T, move |tx| {
        assert!(tx.put_api_key(&record)?, "key id taken");
        Ok(())
    })
    .await;
    let with_key = |k: &str| srv.get("/entities").query(&[("type", "Sensor")]).tenant(T).header("X-Api-Key", k);
    // The key works (a data holder reads non-personal data), with or without the tenant
    // header (the key's tenant is used).
    assert_eq!(ids_of(&with_key(&key).send().await), vec![SENSOR.to_string()]);
    let r = srv.get("/entities").query(&[("type", "Sensor")]).header("X-Api-Key", &key).send().await;
    assert_eq!(ids_of(&r), vec![SENSOR.to_string()]);
    // And writes as a data holder.
    let r = srv
        .post("/entities")
        .tenant(T)
        .header("X-Api-Key", &key)
        .json(&plain("urn:ngsi-ld:Sensor:x2", "Sensor"))
        .send()
        .await;
    r.expect(201);

    // A wrong secret (same id).
    let mut wrong: Vec<char> = key.chars().collect();
    let last = wrong.len() - 1;
    wrong[last] = if wrong[last] == 'A' { 'B' } else { 'A' };
    let wrong: String = wrong.into_iter().collect();
    let r = with_key(&wrong).send().await;
    let body = kizuna_problem(&r, 401, "Unauthorized");
    assert!(!r.text.contains(&wrong) && !body.to_string().contains(&key), "the key is echoed: {body}");
    // Not a key at all.
    kizuna_problem(&with_key("kzn_nothex_abc").send().await, 401, "Unauthorized");

    // Revoked: the next request is refused.
    srv.store_write(T, move |tx| {
        assert!(tx.revoke_api_key(&id, Utc::now())?, "key not revoked");
        Ok(())
    })
    .await;
    let r = with_key(&key).send().await;
    let body = kizuna_problem(&r, 401, "Unauthorized");
    assert!(!r.text.contains(&key), "the key is echoed: {body}");
}

// ---------------------------------------------------------------------------------
// Anonymous callers and writes.
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn anonymous_reads_only_public_data_and_cannot_write() {
    let srv = start().await;
    setup_policy(&srv, T).await;
    let adm = admin(&srv, T);
    for e in [plain(SHELTER, "Shelter"), plain(SENSOR, "Sensor"), bp(BP_ALICE, ALICE, 120, 80)] {
        create_as(&srv, &adm, &e).await;
    }
    let anon = Who::anonymous(T);
    let capacity = Some(&["capacity"][..]);
    // Public: visible everywhere.
    assert_seen(&srv, &anon, SHELTER, "Shelter", capacity, "public data").await;
    // Non-personal but not public, and personal: nowhere.
    assert_seen(&srv, &anon, SENSOR, "Sensor", None, "non-public data").await;
    assert_seen(&srv, &anon, BP_ALICE, "BloodPressure", None, "personal data").await;
    // Even with a purpose.
    assert_seen(&srv, &anon.purpose(Some("p1")), BP_ALICE, "BloodPressure", None, "personal data").await;
    // A query of several types returns only the public ones; the count agrees.
    let r = anon
        .on(srv.get("/entities"))
        .query(&[("type", "Shelter,Sensor,BloodPressure"), ("count", "true")])
        .send()
        .await;
    assert_eq!(ids_of(&r), vec![SHELTER.to_string()]);
    assert_eq!(r.header("ngsild-results-count").as_deref(), Some("1"));
    // Any authenticated caller reads non-personal data.
    let clinic = who(&srv, T, Role::DataHolder, CLINIC, None);
    assert_seen(&srv, &clinic, SENSOR, "Sensor", capacity, "non-personal data").await;

    // Every write is 401.
    let shelter = format!("/entities/{}", enc(SHELTER));
    let attr = json!({"capacity": {"type": "Property", "value": 11}});
    let writes: Vec<(&str, Call)> = vec![
        ("create", srv.post("/entities").json(&plain("urn:ngsi-ld:Sensor:new", "Sensor"))),
        ("create personal", srv.post("/entities").json(&bp("urn:ngsi-ld:BloodPressure:new", ALICE, 1, 1))),
        ("update attrs", srv.patch(&format!("{shelter}/attrs")).json(&attr)),
        ("append attrs", srv.post(&format!("{shelter}/attrs")).json(&attr)),
        ("merge", srv.patch(&shelter).json(&attr)),
        ("replace", srv.put(&shelter).json(&json!({"type": "Shelter", "capacity": 1}))),
        ("delete", srv.delete(&shelter)),
        ("batch create", srv.post("/entityOperations/create").json(&json!([plain("urn:ngsi-ld:Sensor:b", "Sensor")]))),
        ("batch upsert", srv.post("/entityOperations/upsert").json(&json!([plain(SHELTER, "Shelter")]))),
        ("batch delete", srv.post("/entityOperations/delete").json(&json!([SHELTER]))),
        ("temporal create", srv.post("/temporal/entities").json(&plain("urn:ngsi-ld:Sensor:t", "Sensor"))),
        (
            "subscribe",
            srv.post("/subscriptions").json(&json!({
                "type": "Subscription", "entities": [{"type": "Shelter"}],
                "notification": {"endpoint": {"uri": "http://127.0.0.1:9/x"}},
            })),
        ),
    ];
    for (what, call) in writes {
        let r = call.tenant(T).send().await;
        assert_eq!(r.status, 401, "anonymous {what}: {}", r.text);
        kizuna_problem(&r, 401, "Unauthorized");
    }
    // Nothing changed.
    assert_seen(&srv, &anon, SHELTER, "Shelter", capacity, "after refused writes").await;
    let r = adm.on(srv.get("/entities")).query(&[("type", "Sensor")]).send().await;
    assert_eq!(ids_of(&r), vec![SENSOR.to_string()]);
}

#[tokio::test]
async fn writes_depend_on_the_role() {
    let srv = start().await;
    setup_policy(&srv, T).await;
    let app = who(&srv, T, Role::ServiceProvider, APP, Some("p1"));
    let alice = who(&srv, T, Role::Citizen, ALICE, None);
    let clinic = who(&srv, T, Role::DataHolder, CLINIC, None);
    // The tenant must exist for some reads: the clinic creates something first.
    create_as(&srv, &clinic, &plain(SENSOR, "Sensor")).await;

    // A service provider writes nothing, personal or not.
    for e in [plain("urn:ngsi-ld:Sensor:sp", "Sensor"), bp("urn:ngsi-ld:BloodPressure:sp", ALICE, 1, 1)] {
        kizuna_problem(&app.on(srv.post("/entities")).json(&e).send().await, 403, "Forbidden");
    }
    let r = app.on(srv.patch(&format!("/entities/{}/attrs", enc(SENSOR)))).json(&json!({"capacity": 3})).send().await;
    kizuna_problem(&r, 403, "Forbidden");
    // A citizen writes nothing about another person, nor non-personal data...
    let other = bp("urn:ngsi-ld:BloodPressure:by-alice-about-bob", BOB, 1, 1);
    kizuna_problem(&alice.on(srv.post("/entities")).json(&other).send().await, 403, "Forbidden");
    let r = alice.on(srv.post("/entities")).json(&plain("urn:ngsi-ld:Sensor:alice", "Sensor")).send().await;
    kizuna_problem(&r, 403, "Forbidden");
    // ...but writes about themself.
    let own = "urn:ngsi-ld:BloodPressure:by-alice";
    alice.on(srv.post("/entities")).json(&bp(own, ALICE, 121, 81)).send().await.expect(201);
    // And may not hand it over to someone else by changing the subject.
    let r = alice
        .on(srv.patch(&format!("/entities/{}/attrs", enc(own))))
        .json(&json!({"dataSubject": {"type": "Relationship", "object": BOB}}))
        .send()
        .await;
    kizuna_problem(&r, 403, "Forbidden");
    // They read it back in full, without a purpose.
    assert_seen(&srv, &alice, own, "BloodPressure", Some(ALL), "own data").await;
    // The data holder writes personal data.
    create_as(&srv, &clinic, &bp(BP_BOB, BOB, 130, 85)).await;
    // Nobody else got it by these writes.
    assert_seen(&srv, &app, own, "BloodPressure", None, "no consent").await;
    assert_seen(&srv, &alice, BP_BOB, "BloodPressure", None, "another person's data").await;
}

// ---------------------------------------------------------------------------------
// The consent gate on every read path.
// ---------------------------------------------------------------------------------

/// Alice's and Bob's blood pressure, with more history for Alice's.
async fn two_patients(srv: &TestServer, tenant: &str) {
    setup_policy(srv, tenant).await;
    let adm = admin(srv, tenant);
    create_as(srv, &adm, &bp(BP_ALICE, ALICE, 120, 80)).await;
    create_as(srv, &adm, &bp(BP_BOB, BOB, 140, 90)).await;
    create_as(srv, &adm, &plain(SENSOR, "Sensor")).await;
    let history = json!({
        "id": BP_ALICE,
        "type": "BloodPressure",
        "systolic": [
            {"type": "Property", "value": 118, "observedAt": "2024-01-02T00:00:00Z"},
            {"type": "Property", "value": 119, "observedAt": "2024-01-03T00:00:00Z"},
        ],
    });
    let r = adm.on(srv.post("/temporal/entities")).json(&history).send().await;
    assert!(r.status == 201 || r.status == 204, "temporal create: {} {}", r.status, r.text);
}

#[tokio::test]
async fn consent_gates_every_read_path() {
    let srv = start().await;
    two_patients(&srv, T).await;
    let app = who(&srv, T, Role::ServiceProvider, APP, Some("p1"));
    let bpt = "BloodPressure";

    // No consent: withheld everywhere (404 / absent), but non-personal data is readable.
    assert_seen(&srv, &app, BP_ALICE, bpt, None, "no consent").await;
    assert_seen(&srv, &app, SENSOR, "Sensor", Some(&["capacity"]), "non-personal").await;

    // A consent of Alice to the app for p1 (health): visible everywhere, Bob's is not.
    put_consent(&srv, T, consent("c1", T, ALICE, APP, &["p1"])).await;
    assert_seen(&srv, &app, BP_ALICE, bpt, Some(ALL), "consent c1").await;
    assert_seen(&srv, &app, BP_BOB, bpt, None, "Bob gave no consent").await;

    // Purpose missing, not registered, unknown: withheld.
    for p in [None, Some("p2"), Some("marketing")] {
        assert_seen(&srv, &app.purpose(p), BP_ALICE, bpt, None, "purpose").await;
    }
    // A purpose in the token is used when no header is given.
    let token = srv
        .issuer
        .issue(&TokenRequest {
            tenant: T.into(),
            party: Some(APP.into()),
            role: Role::ServiceProvider,
            subject: None,
            purpose: Some("p1".into()),
            ttl: Duration::from_secs(600),
        })
        .expect("token");
    let app_token_purpose = Who { tenant: T.into(), token: Some(token), purpose: None };
    assert_seen(&srv, &app_token_purpose, BP_ALICE, bpt, Some(ALL), "purpose from the token").await;
    // The header overrides the token's purpose.
    assert_seen(&srv, &app_token_purpose.purpose(Some("p2")), BP_ALICE, bpt, None, "header overrides").await;
    // Another service provider with the same purpose has no consent.
    let insurer = who(&srv, T, Role::ServiceProvider, INSURER, Some("p1"));
    assert_seen(&srv, &insurer, BP_ALICE, bpt, None, "consent names the app only").await;

    // Attribute-limited consent: only systolic.
    let mut limited = consent("c1", T, ALICE, APP, &["p1"]);
    limited.attributes = vec![iri("systolic")];
    put_consent(&srv, T, limited).await;
    assert_seen(&srv, &app, BP_ALICE, bpt, Some(&["systolic"]), "attribute-limited consent").await;
    // A condition on the withheld attribute matches nothing; on the released one it does.
    for (q, want) in [("diastolic>0", vec![]), ("systolic>0", vec![BP_ALICE.to_string()]), ("diastolic==80", vec![])] {
        let r = app.on(srv.get("/entities")).query(&[("type", bpt), ("q", q)]).send().await;
        assert_eq!(ids_of(&r), want, "GET /entities q={q}");
        let body = json!({"type": "Query", "entities": [{"type": bpt}], "q": q});
        let r = app.on(srv.post("/entityOperations/query")).json(&body).send().await;
        assert_eq!(ids_of(&r), want, "POST query q={q}");
        let r =
            app.on(srv.get("/temporal/entities")).query(&[("type", bpt), ("q", q), WINDOW[0], WINDOW[1]]).send().await;
        assert_eq!(ids_of(&r), want, "temporal query q={q}");
        let r = app.on(srv.get("/entities")).query(&[("q", q)]).send().await;
        assert_eq!(ids_of(&r), want, "GET /entities q={q} without type");
    }
    // attrs=diastolic: the entity has none of it as far as the app is concerned.
    let r = app.on(srv.get("/entities")).query(&[("type", bpt), ("attrs", "diastolic")]).send().await;
    let list = r.expect(200).json();
    for e in list.as_array().expect("array") {
        assert!(e.get("diastolic").is_none(), "attrs=diastolic leaks it: {e}");
    }
    // A retrieve released under an attribute-limited consent answers 200 (the entity is
    // released, §5.7.1), and `attrs` naming only the withheld attribute gets what an
    // entity without that attribute gets: id and type, no attribute.
    let r = app.on(srv.get(&format!("/entities/{}", enc(BP_ALICE)))).query(&[("attrs", "diastolic")]).send().await;
    assert_eq!(one(&r, "retrieve attrs=diastolic"), Some(BTreeSet::new()), "retrieve attrs=diastolic leaks it");
    let r = app.on(srv.get(&format!("/entities/{}", enc(BP_ALICE)))).query(&[("attrs", "pulse")]).send().await;
    assert_eq!(one(&r, "retrieve attrs=pulse (absent)"), Some(BTreeSet::new()), "an absent attribute");
    // count=true counts only what the app may see (Alice's, not Bob's).
    for limit in ["100", "0"] {
        let r = app.on(srv.get("/entities")).query(&[("type", bpt), ("count", "true"), ("limit", limit)]).send().await;
        r.expect(200);
        assert_eq!(r.header("ngsild-results-count").as_deref(), Some("1"), "count with limit={limit}");
        let r = app
            .on(srv.get("/temporal/entities"))
            .query(&[("type", bpt), ("count", "true"), WINDOW[0], WINDOW[1]])
            .send()
            .await;
        assert_eq!(r.header("ngsild-results-count").as_deref(), Some("1"), "temporal count");
        let adm = admin(&srv, T);
        let r = adm.on(srv.get("/entities")).query(&[("type", bpt), ("count", "true"), ("limit", limit)]).send().await;
        assert_eq!(r.header("ngsild-results-count").as_deref(), Some("2"), "admin count");
    }

    // Back to a whole-entity consent, then withdrawn: hidden on the very next request.
    put_consent(&srv, T, consent("c1", T, ALICE, APP, &["p1"])).await;
    assert_seen(&srv, &app, BP_ALICE, bpt, Some(ALL), "consent again").await;
    let mut withdrawn = consent("c1", T, ALICE, APP, &["p1"]);
    withdrawn.withdrawn_at = Some(Utc::now());
    put_consent(&srv, T, withdrawn).await;
    assert_seen(&srv, &app, BP_ALICE, bpt, None, "withdrawn").await;

    // Expiry: in force until it lapses, with no write in between.
    let mut expiring = consent("c2", T, ALICE, APP, &["p1"]);
    let expires = Utc::now() + chrono::Duration::seconds(3);
    expiring.expires_at = Some(expires);
    put_consent(&srv, T, expiring).await;
    assert_seen(&srv, &app, BP_ALICE, bpt, Some(ALL), "before expiry").await;
    let wait = (expires - Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(200);
    tokio::time::sleep(wait).await;
    assert_seen(&srv, &app, BP_ALICE, bpt, None, "after expiry").await;
    // An already expired consent never shows anything.
    let mut expired = consent("c3", T, ALICE, APP, &["p1"]);
    expired.granted_at = Utc::now() - chrono::Duration::days(10);
    expired.expires_at = Some(Utc::now() - chrono::Duration::days(1));
    put_consent(&srv, T, expired).await;
    assert_seen(&srv, &app, BP_ALICE, bpt, None, "expired").await;

    // Usage stop: overrides a consent in force.
    put_consent(&srv, T, consent("c4", T, ALICE, APP, &["p1"])).await;
    assert_seen(&srv, &app, BP_ALICE, bpt, Some(ALL), "consent c4").await;
    srv.store_write(T, |tx| {
        tx.put_usage_stop(&UsageStop {
            subject: ALICE.into(),
            controller: T.into(),
            recipient: APP.into(),
            stopped_at: Utc::now(),
            given_by: None,
        })
    })
    .await;
    assert_seen(&srv, &app, BP_ALICE, bpt, None, "usage stop").await;
    // Lifting the stop releases it again.
    srv.store_write(T, |tx| tx.delete_usage_stop(ALICE, APP).map(|_| ())).await;
    assert_seen(&srv, &app, BP_ALICE, bpt, Some(ALL), "stop lifted").await;

    // The tenant admin sees everything, Alice sees her own, Bob does not see Alice's.
    assert_seen(&srv, &admin(&srv, T), BP_ALICE, bpt, Some(ALL), "admin").await;
    assert_seen(&srv, &who(&srv, T, Role::Citizen, ALICE, None), BP_ALICE, bpt, Some(ALL), "own").await;
    assert_seen(&srv, &who(&srv, T, Role::Citizen, BOB, Some("p1")), BP_ALICE, bpt, None, "other citizen").await;
}

#[tokio::test]
async fn delegation_provides_to_a_registered_insurer_and_records_it() {
    let srv = start().await;
    two_patients(&srv, T).await;
    let bpt = "BloodPressure";
    let insurer = who(&srv, T, Role::ServiceProvider, INSURER, Some("p1"));
    let app = who(&srv, T, Role::ServiceProvider, APP, Some("p1"));
    assert_seen(&srv, &insurer, BP_ALICE, bpt, None, "no delegation").await;

    let delegation = |id: &str, purposes: &[&str], excluded: &[&str]| Delegation {
        id: id.into(),
        subject: ALICE.into(),
        controller: T.into(),
        categories: vec![Category::Health],
        recipient_kinds: vec![RecipientKind::new("insurer")],
        purposes: purposes.iter().map(|p| Purpose::new(*p)).collect(),
        excluded_recipients: excluded.iter().map(|x| x.to_string()).collect(),
        notice_version: "1".into(),
        method: ConsentMethod::App,
        granted_at: Utc::now() - chrono::Duration::days(1),
        expires_at: None,
        withdrawn_at: None,
        given_by: None,
        withdrawn_by: None,
    };
    // Only p1: the insurer is also registered for p2, so it is not a recipient within it.
    let d = delegation("d1", &["p1"], &[]);
    srv.store_write(T, move |tx| tx.put_delegation(&d)).await;
    assert_seen(&srv, &insurer, BP_ALICE, bpt, None, "registered purposes beyond the delegation").await;
    // p1 and p2 but the insurer excluded.
    let d = delegation("d1", &["p1", "p2"], &[INSURER]);
    srv.store_write(T, move |tx| tx.put_delegation(&d)).await;
    assert_seen(&srv, &insurer, BP_ALICE, bpt, None, "excluded recipient").await;
    // p1 and p2: provided.
    let d = delegation("d1", &["p1", "p2"], &[]);
    srv.store_write(T, move |tx| tx.put_delegation(&d)).await;
    assert_seen(&srv, &insurer, BP_ALICE, bpt, Some(ALL), "delegation").await;
    assert_seen(&srv, &insurer.purpose(Some("p2")), BP_ALICE, bpt, Some(ALL), "delegation, p2").await;
    assert_seen(&srv, &insurer.purpose(None), BP_ALICE, bpt, None, "no purpose").await;

    // Every provision is recorded for Alice, naming the delegation.
    let store = srv.store.clone();
    let provisions =
        tokio::task::spawn_blocking(move || store.provisions_of(T, ALICE, 0, 1000)).await.expect("task").expect("read");
    assert!(!provisions.is_empty(), "no provision recorded");
    for (_, p) in &provisions {
        assert_eq!((p.delegation_id.as_str(), p.recipient.as_str()), ("d1", INSURER));
        assert_eq!((p.subject.as_str(), p.resource.as_str()), (ALICE, BP_ALICE));
        assert_eq!(p.recipient_kind, RecipientKind::new("insurer"));
        assert_eq!(p.categories, vec![Category::Health]);
    }
    // One per read path that returned it (5 paths, p1 and p2).
    assert_eq!(provisions.len(), 10, "provisions: {provisions:?}");
    // Only Alice delegated; the app is not of a listed kind.
    assert_seen(&srv, &insurer, BP_BOB, bpt, None, "Bob delegated nothing").await;
    assert_seen(&srv, &app, BP_ALICE, bpt, None, "app-vendor not listed").await;
    let store = srv.store.clone();
    let bob =
        tokio::task::spawn_blocking(move || store.provisions_of(T, BOB, 0, 1000)).await.expect("task").expect("read");
    assert!(bob.is_empty(), "provisions of Bob's data: {bob:?}");

    // Withdrawn: hidden again.
    let mut d = delegation("d1", &["p1", "p2"], &[]);
    d.withdrawn_at = Some(Utc::now());
    srv.store_write(T, move |tx| tx.put_delegation(&d)).await;
    assert_seen(&srv, &insurer, BP_ALICE, bpt, None, "delegation withdrawn").await;
}

/// A Note (personal only by `dataSubject`) and a BloodPressure of Alice whose subject
/// relationship has no `observedAt` (the usual case: a relationship is not an
/// observation), while `systolic` has one. A temporal read with a window on
/// `observedAt` holds no instance of the relationship.
async fn windowless_subjects(srv: &TestServer) -> (&'static str, &'static str) {
    setup_policy(srv, T).await;
    let adm = admin(srv, T);
    let note = "urn:ngsi-ld:Note:alice";
    let bp_alice = "urn:ngsi-ld:BloodPressure:alice-2";
    for (id, ty) in [(note, "Note"), (bp_alice, "BloodPressure")] {
        let e = json!({
            "id": id, "type": ty,
            "systolic": {"type": "Property", "value": 120, "observedAt": OBSERVED},
            "dataSubject": {"type": "Relationship", "object": ALICE},
        });
        create_as(srv, &adm, &e).await;
    }
    (note, bp_alice)
}

/// The decision must be about the entity's data subject whatever the window: a window
/// that leaves out the `dataSubject` instances must not make personal data non-personal.
#[tokio::test]
async fn a_temporal_window_does_not_make_personal_data_non_personal() {
    let srv = start().await;
    let (note, bp_alice) = windowless_subjects(&srv).await;
    let app = who(&srv, T, Role::ServiceProvider, APP, Some("p1"));
    // Without the window the Note is withheld (the dataSubject instance is read).
    let r = app.on(srv.get(&format!("/temporal/entities/{}", enc(note)))).send().await;
    assert_eq!(r.status, 404, "temporal retrieve leaks a personal Note: {}", r.text);
    // With the window: no consent, so nothing either.
    let r = app.on(srv.get(&format!("/temporal/entities/{}", enc(note)))).query(&WINDOW).send().await;
    assert_eq!(r.status, 404, "temporal retrieve in a window leaks a personal Note: {}", r.text);
    for ty in ["Note", "BloodPressure"] {
        let r = app.on(srv.get("/temporal/entities")).query(&[("type", ty), WINDOW[0], WINDOW[1]]).send().await;
        assert_eq!(ids_of(&r), Vec::<String>::new(), "temporal query leaks personal data: {}", r.text);
    }
    let _ = bp_alice;
}

/// ... nor hide it from a caller with consent.
#[tokio::test]
async fn a_temporal_window_does_not_hide_consented_data() {
    let srv = start().await;
    let (note, bp_alice) = windowless_subjects(&srv).await;
    let app = who(&srv, T, Role::ServiceProvider, APP, Some("p1"));
    let mut c = consent("c1", T, ALICE, APP, &["p1"]);
    c.categories = vec![Category::Health, Category::Unclassified];
    put_consent(&srv, T, c).await;
    for (id, ty) in [(bp_alice, "BloodPressure"), (note, "Note")] {
        let r = app.on(srv.get("/temporal/entities")).query(&[("type", ty), WINDOW[0], WINDOW[1]]).send().await;
        assert_eq!(ids_of(&r), vec![id.to_string()], "consented {ty} hidden by the window");
        let r = app.on(srv.get(&format!("/temporal/entities/{}", enc(id)))).query(&WINDOW).send().await;
        assert_eq!(r.status, 200, "consented {ty} hidden by the window: {}", r.text);
    }
}

// ---------------------------------------------------------------------------------
// Notifications and subscriptions.
// ---------------------------------------------------------------------------------

type Received = Arc<Mutex<Vec<(String, Value)>>>;

/// A receiver on 127.0.0.1:0 collecting `(path, body)` of every POST.
async fn receiver() -> (String, Received) {
    use axum::extract::{Path, State};
    let got: Received = Arc::new(Mutex::new(Vec::new()));
    let app = axum::Router::new()
        .route(
            "/{who}",
            axum::routing::post(|State(got): State<Received>, Path(who): Path<String>, body: String| async move {
                let v: Value = serde_json::from_str(&body).unwrap_or(Value::String(body));
                got.lock().expect("lock").push((who, v));
                axum::http::StatusCode::NO_CONTENT
            }),
        )
        .with_state(got.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve receiver");
    });
    (format!("http://{addr}"), got)
}

/// The systolic values of `id` in the notifications received at `/path`.
fn notified(got: &Received, path: &str, id: &str) -> Vec<Value> {
    let got = got.lock().expect("lock");
    got.iter()
        .filter(|(p, _)| p == path)
        .flat_map(|(_, body)| body["data"].as_array().cloned().unwrap_or_default())
        .filter(|e| e["id"] == json!(id))
        .map(|e| e["systolic"]["value"].clone())
        .collect()
}

async fn wait_for(got: &Received, path: &str, id: &str, value: i64, within: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < within {
        if notified(got, path, id).contains(&json!(value)) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

fn subscription(endpoint: &str) -> Value {
    json!({
        "type": "Subscription",
        "entities": [{"type": "BloodPressure"}],
        "notification": {"endpoint": {"uri": endpoint, "accept": "application/json"}},
    })
}

async fn subscribe(srv: &TestServer, w: &Who, endpoint: &str) -> String {
    let r = w.on(srv.post("/subscriptions")).json(&subscription(endpoint)).send().await;
    assert_eq!(r.status, 201, "subscribe: {}", r.text);
    let loc = r.header("location").expect("Location");
    loc.rsplit('/').next().expect("id").to_string()
}

#[tokio::test]
async fn notifications_follow_the_consent_at_delivery() {
    let srv = start().await;
    srv.spawn_notifier(false);
    two_patients(&srv, T).await;
    put_consent(&srv, T, consent("c1", T, ALICE, APP, &["p1"])).await;
    let (origin, got) = receiver().await;
    let app = who(&srv, T, Role::ServiceProvider, APP, Some("p1"));
    let adm = admin(&srv, T);
    subscribe(&srv, &app, &format!("{origin}/app")).await;
    subscribe(&srv, &adm, &format!("{origin}/admin")).await;
    let update = |id: &'static str, v: i64| {
        let srv = &srv;
        let adm = adm.clone();
        async move {
            let r = adm
                .on(srv.patch(&format!("/entities/{}/attrs", enc(id))))
                .json(&json!({"systolic": {"type": "Property", "value": v, "observedAt": OBSERVED}}))
                .send()
                .await;
            assert_eq!(r.status, 204, "update: {}", r.text);
        }
    };

    // With the consent: both receive Alice's update; Bob's goes to the admin only.
    update(BP_ALICE, 131).await;
    update(BP_BOB, 151).await;
    assert!(wait_for(&got, "admin", BP_ALICE, 131, Duration::from_secs(10)).await, "admin got no notification");
    assert!(wait_for(&got, "admin", BP_BOB, 151, Duration::from_secs(10)).await, "admin got no notification of Bob");
    assert!(wait_for(&got, "app", BP_ALICE, 131, Duration::from_secs(10)).await, "app got no notification");
    // The whole entity (the consent has no attribute list).
    let full = {
        let g = got.lock().expect("lock");
        g.iter()
            .filter(|(p, _)| p == "app")
            .flat_map(|(_, b)| b["data"].as_array().cloned().unwrap_or_default())
            .find(|e| e["id"] == json!(BP_ALICE))
            .expect("app notification")
    };
    assert_eq!(attr_names(&full), names(ALL), "notification content: {full}");

    // Withdrawn: the next update reaches the admin but not the app.
    let mut withdrawn = consent("c1", T, ALICE, APP, &["p1"]);
    withdrawn.withdrawn_at = Some(Utc::now());
    put_consent(&srv, T, withdrawn).await;
    let sent = Instant::now();
    update(BP_ALICE, 142).await;
    assert!(wait_for(&got, "admin", BP_ALICE, 142, Duration::from_secs(10)).await, "control: admin got nothing");
    let rest = Duration::from_secs(3).saturating_sub(sent.elapsed());
    assert!(
        !wait_for(&got, "app", BP_ALICE, 142, rest).await,
        "the app was notified after the consent was withdrawn: {:?}",
        notified(&got, "app", BP_ALICE)
    );
    // Bob's data never reached the app at any time.
    assert!(notified(&got, "app", BP_BOB).is_empty(), "the app was notified of Bob's data");
}

/// The entities of `id` received at `/path`, as sent.
fn received(got: &Received, path: &str, id: &str) -> Vec<Value> {
    let got = got.lock().expect("lock");
    got.iter()
        .filter(|(p, _)| p == path)
        .flat_map(|(_, body)| body["data"].as_array().cloned().unwrap_or_default())
        .filter(|e| e["id"] == json!(id))
        .collect()
}

/// Under a consent limited to `systolic`, a subscription's condition on `diastolic`
/// (`q`, or `watchedAttributes`) must not fire: its notification would tell the service
/// provider something about the withheld attribute, exactly as a query's `q` on it would.
#[tokio::test]
async fn subscription_conditions_on_a_withheld_attribute_reveal_nothing() {
    let srv = start().await;
    srv.spawn_notifier(false);
    two_patients(&srv, T).await;
    let mut limited = consent("c1", T, ALICE, APP, &["p1"]);
    limited.attributes = vec![iri("systolic")];
    put_consent(&srv, T, limited).await;
    let (origin, got) = receiver().await;
    let app = who(&srv, T, Role::ServiceProvider, APP, Some("p1"));
    let adm = admin(&srv, T);
    let with = |endpoint: String, extra: Value| {
        let mut s = subscription(&endpoint);
        for (k, v) in extra.as_object().expect("object") {
            s[k] = v.clone();
        }
        s
    };
    let subs = [
        (&app, with(format!("{origin}/app-q"), json!({"q": "diastolic>100"}))),
        (&app, with(format!("{origin}/app-watch"), json!({"watchedAttributes": ["diastolic"]}))),
        (&adm, with(format!("{origin}/admin-q"), json!({"q": "diastolic>100"}))),
    ];
    for (w, body) in &subs {
        let r = w.on(srv.post("/subscriptions")).json(body).send().await;
        assert_eq!(r.status, 201, "subscribe: {}", r.text);
    }
    let sent = Instant::now();
    let r = adm
        .on(srv.patch(&format!("/entities/{}/attrs", enc(BP_ALICE))))
        .json(&json!({"diastolic": {"type": "Property", "value": 120, "observedAt": OBSERVED}}))
        .send()
        .await;
    assert_eq!(r.status, 204, "update: {}", r.text);
    // Control: the admin's subscription fires.
    let start = Instant::now();
    while received(&got, "admin-q", BP_ALICE).is_empty() && start.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!received(&got, "admin-q", BP_ALICE).is_empty(), "control: the admin was not notified");
    while sent.elapsed() < Duration::from_secs(3) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let fired: Vec<(&str, Vec<Value>)> = ["app-q", "app-watch"]
        .into_iter()
        .map(|path| (path, received(&got, path, BP_ALICE)))
        .filter(|(_, r)| !r.is_empty())
        .collect();
    assert!(fired.is_empty(), "a condition on the withheld diastolic fired: {fired:?}");
}

#[tokio::test]
async fn subscriptions_are_private_to_their_owner() {
    let srv = start().await;
    two_patients(&srv, T).await;
    let app = who(&srv, T, Role::ServiceProvider, APP, Some("p1"));
    let insurer = who(&srv, T, Role::ServiceProvider, INSURER, Some("p1"));
    let alice = who(&srv, T, Role::Citizen, ALICE, None);
    let adm = admin(&srv, T);
    let id = subscribe(&srv, &app, "http://127.0.0.1:9/app").await;
    let own = subscribe(&srv, &insurer, "http://127.0.0.1:9/insurer").await;
    let path = format!("/subscriptions/{}", enc(&id));
    let listed = |r: &Resp| -> Vec<String> { ids_of(r) };

    for other in [&insurer, &alice, &app.purpose(Some("p2"))] {
        // (The app with another purpose is the same owner: it still sees it.)
        let same_owner = other.token == app.token;
        let r = other.on(srv.get(&path)).send().await;
        let r2 = other.on(srv.get("/subscriptions")).send().await;
        if same_owner {
            r.expect(200);
            assert!(listed(&r2).contains(&id));
            continue;
        }
        r.problem(404, "ResourceNotFound", &[]);
        assert!(!listed(&r2).contains(&id), "another caller lists it");
        let r = other.on(srv.patch(&path)).json(&json!({"throttling": 5})).send().await;
        r.problem(404, "ResourceNotFound", &[]);
        let r = other.on(srv.delete(&path)).send().await;
        r.problem(404, "ResourceNotFound", &[]);
    }
    // The insurer lists its own only.
    assert_eq!(listed(&insurer.on(srv.get("/subscriptions")).send().await), vec![own.clone()]);
    // Still there, unchanged, for its owner.
    let r = app.on(srv.get(&path)).send().await;
    assert!(r.expect(200).json().get("throttling").is_none(), "changed by another caller: {}", r.text);
    assert_eq!(listed(&app.on(srv.get("/subscriptions")).send().await), vec![id.clone()]);
    // The tenant admin sees and manages every one.
    adm.on(srv.get(&path)).send().await.expect(200);
    let all = listed(&adm.on(srv.get("/subscriptions")).send().await);
    assert!(all.contains(&id) && all.contains(&own), "admin list: {all:?}");
    adm.on(srv.patch(&path)).json(&json!({"throttling": 5})).send().await.expect(204);
    // Anonymous callers see none.
    let r = Who::anonymous(T).on(srv.get("/subscriptions")).send().await;
    // (A list is a read filtered by ownership: 200 with nothing in it.)
    assert_eq!(listed(&r), Vec::<String>::new(), "anonymous: {}", r.text);
    // The owner deletes it.
    app.on(srv.delete(&path)).send().await.expect(204);
    app.on(srv.get(&path)).send().await.problem(404, "ResourceNotFound", &[]);
}

// ---------------------------------------------------------------------------------
// Tenants.
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn credentials_of_one_tenant_see_nothing_of_another() {
    let srv = start().await;
    let shared = "urn:ngsi-ld:Shelter:shared";
    for (tenant, own) in [("t1", "urn:ngsi-ld:Shelter:one"), ("t2", "urn:ngsi-ld:Shelter:two")] {
        setup_policy(&srv, tenant).await;
        let adm = admin(&srv, tenant);
        create_as(&srv, &adm, &plain(own, "Shelter")).await;
        let mut s = plain(shared, "Shelter");
        s["owner"] = json!(tenant);
        create_as(&srv, &adm, &s).await;
        create_as(&srv, &adm, &bp(&format!("urn:ngsi-ld:BloodPressure:{tenant}"), ALICE, 120, 80)).await;
        put_consent(&srv, tenant, consent("c1", tenant, ALICE, APP, &["p1"])).await;
        subscribe(&srv, &adm, &format!("http://127.0.0.1:9/{tenant}")).await;
    }
    let t2_sub = {
        let adm2 = admin(&srv, "t2");
        ids_of(&adm2.on(srv.get("/subscriptions")).send().await).pop().expect("t2 subscription")
    };
    let callers = [
        admin(&srv, "t1"),
        who(&srv, "t1", Role::ServiceProvider, APP, Some("p1")),
        who(&srv, "t1", Role::Citizen, ALICE, None),
        who(&srv, "t1", Role::DataHolder, CLINIC, Some("p1")),
    ];
    for c in &callers {
        // The t1 credentials with `NGSILD-Tenant: t2`: 403 on every path.
        let into_t2 = Who { tenant: "t2".into(), ..c.clone() };
        let paths = [
            "/entities?type=Shelter".to_string(),
            format!("/entities/{}", enc("urn:ngsi-ld:Shelter:two")),
            "/subscriptions".to_string(),
            format!("/subscriptions/{}", enc(&t2_sub)),
            format!("/temporal/entities/{}", enc("urn:ngsi-ld:Shelter:two")),
            "/temporal/entities?type=Shelter&timerel=after&timeAt=2000-01-01T00:00:00Z".to_string(),
            "/types".to_string(),
        ];
        for p in &paths {
            kizuna_problem(&into_t2.on(srv.get(p)).send().await, 403, "Forbidden");
        }
        let body = json!({"type": "Query", "entities": [{"type": "Shelter"}]});
        kizuna_problem(&into_t2.on(srv.post("/entityOperations/query")).json(&body).send().await, 403, "Forbidden");
        let r = into_t2.on(srv.post("/entities")).json(&plain("urn:ngsi-ld:Shelter:x", "Shelter")).send().await;
        kizuna_problem(&r, 403, "Forbidden");

        // Without the header: t1 only.
        let t1 = Who { tenant: String::new(), ..c.clone() };
        let on = |call: Call| {
            let mut call = call;
            if let Some(t) = &t1.token {
                call = call.bearer(t);
            }
            if let Some(p) = &t1.purpose {
                call = call.purpose(p);
            }
            call
        };
        let r = on(srv.get("/entities").query(&[("type", "Shelter,BloodPressure")])).send().await;
        let got = ids_of(&r);
        assert!(got.iter().all(|i| !i.contains("two") && !i.ends_with(":t2")), "t2 data via query: {got:?}");
        assert!(got.contains(&"urn:ngsi-ld:Shelter:one".to_string()), "t1 data missing: {got:?}");
        let shared_seen = r.json().as_array().expect("array").iter().find(|e| e["id"] == json!(shared)).cloned();
        assert_eq!(shared_seen.expect("shared")["owner"]["value"], json!("t1"), "the shared id read from t2");
        for id in ["urn:ngsi-ld:Shelter:two", "urn:ngsi-ld:BloodPressure:t2"] {
            on(srv.get(&format!("/entities/{}", enc(id)))).send().await.problem(404, "ResourceNotFound", &[]);
            on(srv.get(&format!("/temporal/entities/{}", enc(id)))).send().await.problem(404, "ResourceNotFound", &[]);
        }
        let r = on(srv.get(&format!("/entities/{}", enc(shared)))).send().await;
        assert_eq!(r.expect(200).json()["owner"]["value"], json!("t1"));
        let body = json!({"type": "Query", "entities": [{"type": "Shelter,BloodPressure"}]});
        let got = ids_of(&on(srv.post("/entityOperations/query")).json(&body).send().await);
        assert!(got.iter().all(|i| !i.contains("two") && !i.ends_with(":t2")), "t2 data via batch query: {got:?}");
        let r = on(srv.get("/temporal/entities"))
            .query(&[("type", "Shelter,BloodPressure"), WINDOW[0], WINDOW[1]])
            .send()
            .await;
        let got = ids_of(&r);
        assert!(got.iter().all(|i| !i.contains("two") && !i.ends_with(":t2")), "t2 data via temporal query: {got:?}");
        let r = on(srv.get("/subscriptions")).send().await;
        assert!(!ids_of(&r).contains(&t2_sub), "t2's subscription listed");
        on(srv.get(&format!("/subscriptions/{}", enc(&t2_sub)))).send().await.problem(404, "ResourceNotFound", &[]);
    }
}

// ---------------------------------------------------------------------------------
// The audit chain.
// ---------------------------------------------------------------------------------

/// An audit record as compared: actor, resource, purpose, allowed, basis, reason, subject.
type Logged = (String, String, Option<String>, bool, Option<String>, Option<String>, Option<String>);

#[tokio::test]
async fn every_personal_decision_is_audited() {
    let srv = start().await;
    let t = "audited";
    setup_policy(&srv, t).await;
    let adm = admin(&srv, t);
    for e in
        [plain(SHELTER, "Shelter"), plain(SENSOR, "Sensor"), bp(BP_ALICE, ALICE, 120, 80), bp(BP_BOB, BOB, 140, 90)]
    {
        create_as(&srv, &adm, &e).await;
    }
    put_consent(&srv, t, consent("c1", t, ALICE, APP, &["p1"])).await;
    let app = who(&srv, t, Role::ServiceProvider, APP, Some("p1"));
    let anon = Who::anonymous(t);
    let get = |w: &Who, id: &str| w.on(srv.get(&format!("/entities/{}", enc(id)))).send();
    // Before the reads: the creations and policy writes audit nothing.
    let store = srv.store.clone();
    let before = tokio::task::spawn_blocking(move || store.audit_page(t, 0, 1000)).await.expect("task").expect("audit");

    get(&app, BP_ALICE).await.expect(200);
    get(&app, BP_BOB).await.expect(404);
    get(&app, SHELTER).await.expect(200);
    get(&app, SENSOR).await.expect(200);
    get(&anon, SHELTER).await.expect(200);
    get(&anon, SENSOR).await.expect(404);
    get(&anon, BP_ALICE).await.expect(404);
    get(&adm, BP_BOB).await.expect(200);
    get(&app.purpose(None), BP_ALICE).await.expect(404);
    get(&app.purpose(Some("p2")), BP_ALICE).await.expect(404);
    let r = app.on(srv.get("/entities")).query(&[("type", "BloodPressure,Shelter,Sensor")]).send().await;
    assert_eq!(ids_of(&r), vec![BP_ALICE.to_string(), SENSOR.to_string(), SHELTER.to_string()]);

    let store = srv.store.clone();
    let log = tokio::task::spawn_blocking(move || store.audit_page(t, 0, 1000)).await.expect("task").expect("audit");
    let log = &log[before.len()..];
    let summary: Vec<Logged> = log
        .iter()
        .map(|r| {
            (
                r.actor.clone(),
                r.resource.clone(),
                r.purpose.as_ref().map(|p| p.as_str().to_string()),
                r.decision.allowed,
                r.decision.basis.clone(),
                r.decision.reason.clone(),
                r.subject.clone(),
            )
        })
        .collect();
    let s = |x: &str| Some(x.to_string());
    let expected = vec![
        (APP.to_string(), BP_ALICE.to_string(), s("p1"), true, s("consent:c1"), None, s(ALICE)),
        (APP.to_string(), BP_BOB.to_string(), s("p1"), false, None, s("no-consent"), s(BOB)),
        ("anonymous".to_string(), BP_ALICE.to_string(), None, false, None, s("identity-required"), s(ALICE)),
        (CITY.to_string(), BP_BOB.to_string(), None, true, s("controller"), None, s(BOB)),
        (APP.to_string(), BP_ALICE.to_string(), None, false, None, s("purpose-required"), s(ALICE)),
        (APP.to_string(), BP_ALICE.to_string(), s("p2"), false, None, s("purpose-not-registered"), s(ALICE)),
        // The query: the returned one and the withheld one that matched.
        (APP.to_string(), BP_ALICE.to_string(), s("p1"), true, s("consent:c1"), None, s(ALICE)),
        (APP.to_string(), BP_BOB.to_string(), s("p1"), false, None, s("no-consent"), s(BOB)),
    ];
    assert_eq!(summary, expected, "audit records");
    let roles: Vec<Role> = log.iter().map(|r| r.role).collect();
    assert_eq!(
        roles,
        [
            Role::ServiceProvider,
            Role::ServiceProvider,
            Role::Anonymous,
            Role::TenantAdmin,
            Role::ServiceProvider,
            Role::ServiceProvider,
            Role::ServiceProvider,
            Role::ServiceProvider
        ]
    );
    for r in log {
        assert_eq!(r.tenant, t);
        assert_eq!(r.action, kizuna_consent::Action::Read);
        assert!(r.resource != SHELTER && r.resource != SENSOR, "non-personal data audited: {r:?}");
    }
    let store = srv.store.clone();
    let report = tokio::task::spawn_blocking(move || store.verify_audit()).await.expect("task").expect("verify");
    assert!(report.is_ok(), "audit chain: {:?}", report.fault);
    let (_, n, _) = report.tenants.iter().find(|(name, _, _)| name == t).expect("tenant's chain verified");
    assert_eq!(*n as usize, before.len() + log.len());
}

/// A receiver on 127.0.0.1:0 answering 500 while `failing` is set (the notification
/// stays queued and is retried), 204 afterwards; it records what it accepted.
async fn flaky_receiver(failing: Arc<std::sync::atomic::AtomicBool>) -> (String, Received) {
    use axum::extract::{Path, State};
    use std::sync::atomic::Ordering;
    let got: Received = Arc::new(Mutex::new(Vec::new()));
    let state = (got.clone(), failing);
    let app = axum::Router::new()
        .route(
            "/{who}",
            axum::routing::post(
                |State((got, failing)): State<(Received, Arc<std::sync::atomic::AtomicBool>)>,
                 Path(who): Path<String>,
                 body: String| async move {
                    if failing.load(Ordering::SeqCst) {
                        return axum::http::StatusCode::INTERNAL_SERVER_ERROR;
                    }
                    let v: Value = serde_json::from_str(&body).unwrap_or(Value::String(body));
                    got.lock().expect("lock").push((who, v));
                    axum::http::StatusCode::NO_CONTENT
                },
            ),
        )
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve receiver");
    });
    (format!("http://{addr}"), got)
}

/// A notification already queued (its receiver was failing) when the consent is
/// withdrawn is not delivered when the receiver comes back: the decision is made at
/// delivery, and the queued item is discarded.
#[tokio::test]
async fn a_notification_queued_before_a_withdrawal_is_not_delivered() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let srv = start().await;
    srv.spawn_notifier(false);
    two_patients(&srv, T).await;
    put_consent(&srv, T, consent("c1", T, ALICE, APP, &["p1"])).await;
    let failing = Arc::new(AtomicBool::new(true));
    let (origin, got) = flaky_receiver(failing.clone()).await;
    let app = who(&srv, T, Role::ServiceProvider, APP, Some("p1"));
    let adm = admin(&srv, T);
    let sub = subscribe(&srv, &app, &format!("{origin}/app")).await;
    let r = adm
        .on(srv.patch(&format!("/entities/{}/attrs", enc(BP_ALICE))))
        .json(&json!({"systolic": {"type": "Property", "value": 177, "observedAt": OBSERVED}}))
        .send()
        .await;
    assert_eq!(r.status, 204, "update: {}", r.text);
    // Queued and failing: wait for the first failed attempt.
    let start = Instant::now();
    loop {
        let r = app.on(srv.get(&format!("/subscriptions/{}", enc(&sub)))).send().await;
        let s = r.json();
        if s["notification"]["timesFailed"].as_u64().unwrap_or(0) >= 1 {
            assert!(s["notification"]["pendingNotifications"].as_u64().unwrap_or(0) >= 1, "nothing queued: {s}");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "the notification was never attempted: {s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut withdrawn = consent("c1", T, ALICE, APP, &["p1"]);
    withdrawn.withdrawn_at = Some(Utc::now());
    put_consent(&srv, T, withdrawn).await;
    failing.store(false, Ordering::SeqCst);
    // The retry comes after the backoff; by then the item must be discarded, unsent.
    let start = Instant::now();
    loop {
        let r = app.on(srv.get(&format!("/subscriptions/{}", enc(&sub)))).send().await;
        let s = r.json();
        if s["notification"]["pendingNotifications"].as_u64() == Some(0) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "the queued notification was never processed: {s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        received(&got, "app", BP_ALICE).is_empty(),
        "delivered after the withdrawal: {:?}",
        got.lock().expect("lock")
    );
}
