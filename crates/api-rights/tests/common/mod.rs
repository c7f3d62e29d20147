//! The test harness: the NGSI-LD API, the policy API, the citizen API and the FHIR API
//! served together on a real socket (`127.0.0.1:0`), as the server assembles them
//! (NGSI-LD at `/ngsi-ld/v1`, retention + policy merged at `/kizuna/v1`, the citizen API
//! at `/me`, FHIR at `/fhir`, trailing slashes trimmed), with the built-in issuer minting
//! tokens for every role.
//!
//! # Layout
//! - [`Server`]: start, tokens ([`Server::admin`], [`Server::citizen`], ...), requests;
//! - [`Call`] / [`Resp`]: a request being built and a received answer, with
//!   [`Resp::problem`] checking ProblemDetails;
//! - [`enc`], [`bp`]: a path segment and a BloodPressure entity;
//! - FHIR: [`Server::fhir_patient`], [`Server::fhir_bp`] (created through `/fhir` by the
//!   clinic), [`Server::fhir_of`] (what the store holds about a person).

#![allow(dead_code)]

use axum::Router;
use kizuna_consent::Role;
use kizuna_testkit::TestApp;
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};

/// The tenant the tests work in.
pub const T1: &str = "t1";
/// The clinic (data holder).
pub const CLINIC: &str = "urn:party:clinic";
/// The health app (service provider, purposes [healthcare], recipient kind app-vendor).
pub const APP: &str = "urn:party:app";
/// Citizen A and citizen B.
pub const ALICE: &str = "urn:ngsi-ld:Person:alice";
pub const BOB: &str = "urn:ngsi-ld:Person:bob";
/// The tenant admin's party.
pub const CITY: &str = "urn:party:city";
/// The ProblemDetails `type` prefix of Kizuna's own errors.
pub const KIZUNA_ERRORS: &str = "urn:kizuna:errors:";
/// The ProblemDetails `type` prefix of NGSI-LD errors.
pub const NGSI_ERRORS: &str = "https://uri.etsi.org/ngsi-ld/errors/";
/// Where undefined terms expand to under the core context.
pub const VOCAB: &str = "https://uri.etsi.org/ngsi-ld/default-context/";

/// The application on a socket: the fields of [`TestApp`] (`origin`, `client`, `store`,
/// `issuer`, `dir`).
pub struct Server {
    app: TestApp,
}

impl std::ops::Deref for Server {
    type Target = TestApp;

    fn deref(&self) -> &TestApp {
        &self.app
    }
}

impl Server {
    pub async fn start() -> Server {
        let app = TestApp::builder()
            .trim_trailing_slash()
            .start(|state| {
                Router::new()
                    .nest("/ngsi-ld/v1", kizuna_api_ngsild::router(state.clone()))
                    .nest(
                        "/kizuna/v1",
                        kizuna_api_ngsild::admin_router(state.clone())
                            .merge(kizuna_api_rights::policy_router(state.clone())),
                    )
                    .nest("/me", kizuna_api_rights::me_router(state.clone()))
                    .nest("/fhir", kizuna_api_fhir::fhir_router(state))
            })
            .await;
        Server { app }
    }

    /// Stops serving and closes the store.
    pub async fn stop(self) {
        self.app.stop().await;
    }

    /// A token of the built-in issuer.
    pub fn token(&self, tenant: &str, role: Role, party: Option<&str>, subject: Option<&str>) -> String {
        self.app.token(tenant, role, party, subject, None)
    }

    /// The tenant admin of [`T1`].
    pub fn admin(&self) -> String {
        self.token(T1, Role::TenantAdmin, Some(CITY), None)
    }

    /// A citizen of [`T1`].
    pub fn citizen(&self, subject: &str) -> String {
        self.token(T1, Role::Citizen, None, Some(subject))
    }

    /// The clinic (data holder) of [`T1`].
    pub fn clinic(&self) -> String {
        self.token(T1, Role::DataHolder, Some(CLINIC), None)
    }

    /// The health app (service provider) of [`T1`].
    pub fn app(&self) -> String {
        self.token(T1, Role::ServiceProvider, Some(APP), None)
    }

    pub fn call(&self, method: Method, path: &str) -> Call {
        Call { rb: self.client.request(method, format!("{}{path}", self.origin)) }
    }

    pub fn get(&self, path: &str) -> Call {
        self.call(Method::GET, path)
    }

    pub fn post(&self, path: &str) -> Call {
        self.call(Method::POST, path)
    }

    pub fn put(&self, path: &str) -> Call {
        self.call(Method::PUT, path)
    }

    pub fn delete(&self, path: &str) -> Call {
        self.call(Method::DELETE, path)
    }

    /// The admin sets the classification (BloodPressure: personal, health; Shelter:
    /// public) and registers the clinic and the app.
    pub async fn setup_policy(&self) {
        let admin = self.admin();
        self.put("/kizuna/v1/classification")
            .bearer(&admin)
            .json(&json!({
                "personal": {"BloodPressure": {"category": "health", "subjectRelationship": "dataSubject"}},
                "public": ["Shelter"]
            }))
            .send()
            .await
            .expect(200);
        self.put(&format!("/kizuna/v1/parties/{}", enc(CLINIC)))
            .bearer(&admin)
            .json(&json!({"name": "Maebashi Clinic", "roles": ["data-holder"]}))
            .send()
            .await
            .expect(201);
        self.put(&format!("/kizuna/v1/parties/{}", enc(APP)))
            .bearer(&admin)
            .json(&json!({
                "name": "Health App",
                "roles": ["service-provider"],
                "registeredPurposes": ["healthcare"],
                "recipientKind": "app-vendor"
            }))
            .send()
            .await
            .expect(201);
    }

    /// The admin creates a BloodPressure entity about `subject` through NGSI-LD.
    pub async fn create_bp(&self, id: &str, subject: &str, systolic: i64) {
        self.post("/ngsi-ld/v1/entities")
            .bearer(&self.admin())
            .tenant(T1)
            .json(&bp(id, subject, systolic))
            .send()
            .await
            .expect(201);
    }

    /// `GET /ngsi-ld/v1/entities/{id}` as the app, for purpose healthcare; the status.
    pub async fn app_reads(&self, id: &str) -> u16 {
        self.get(&format!("/ngsi-ld/v1/entities/{}", enc(id)))
            .bearer(&self.app())
            .tenant(T1)
            .header("Kizuna-Purpose", "healthcare")
            .send()
            .await
            .status
    }
}

impl Server {
    /// The clinic creates a FHIR Patient for data subject `subject`; its id.
    pub async fn fhir_patient(&self, subject: &str) -> String {
        let body = json!({
            "resourceType": "Patient",
            "identifier": [{"system": "urn:kizuna:data-subject", "value": subject}],
            "name": [{"family": "山田", "given": ["花子"], "text": "山田 花子"}],
            "gender": "female",
            "birthDate": "1980-04-01",
        });
        let r = self.post("/fhir/Patient").bearer(&self.clinic()).json(&body).send().await.expect(201);
        r["id"].as_str().expect("Patient id").to_string()
    }

    /// The clinic records a (normal) home blood pressure Observation of `patient`; its id.
    pub async fn fhir_bp(&self, patient: &str, systolic: f64, when: &str) -> String {
        let q = |v: f64| json!({"value": v, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"});
        let body = json!({
            "resourceType": "Observation",
            "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9", "display": "Blood pressure panel"}]},
            "subject": {"reference": format!("Patient/{patient}")},
            "effectiveDateTime": when,
            "component": [
                {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]}, "valueQuantity": q(systolic)},
                {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]}, "valueQuantity": q(72.0)}
            ]
        });
        let r = self.post("/fhir/Observation").bearer(&self.clinic()).json(&body).send().await.expect(201);
        r["id"].as_str().expect("Observation id").to_string()
    }

    /// `Type/id` of every current FHIR resource the store holds about `subject`, sorted.
    pub async fn fhir_of(&self, subject: &str) -> Vec<String> {
        let store = self.store.clone();
        let subject = subject.to_string();
        let records = tokio::task::spawn_blocking(move || store.fhir_of_subject(T1, &subject))
            .await
            .expect("join")
            .expect("fhir_of_subject");
        let mut out: Vec<String> = records.iter().map(|r| format!("{}/{}", r.rtype, r.id)).collect();
        out.sort();
        out
    }

    /// Whether the store still has a current version of FHIR resource `rtype/id`.
    pub async fn fhir_exists(&self, rtype: &str, id: &str) -> bool {
        let store = self.store.clone();
        let (rtype, id) = (rtype.to_string(), id.to_string());
        tokio::task::spawn_blocking(move || store.fhir_read(T1, &rtype, &id))
            .await
            .expect("join")
            .expect("fhir_read")
            .is_some()
    }
}

/// A BloodPressure entity about `subject`.
pub fn bp(id: &str, subject: &str, systolic: i64) -> Value {
    json!({
        "id": id,
        "type": "BloodPressure",
        "systolic": {"type": "Property", "value": systolic, "observedAt": "2025-04-01T09:00:00Z", "unitCode": "MMHG"},
        "note": {"type": "Property", "value": "after breakfast, \"calm\""},
        "dataSubject": {"type": "Relationship", "object": subject}
    })
}

/// Percent-encodes a path segment.
pub fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A request being built.
pub struct Call {
    rb: reqwest::RequestBuilder,
}

impl Call {
    pub fn header(self, name: &str, value: &str) -> Call {
        Call { rb: self.rb.header(name, value) }
    }

    pub fn bearer(self, token: &str) -> Call {
        self.header("Authorization", &format!("Bearer {token}"))
    }

    pub fn tenant(self, tenant: &str) -> Call {
        self.header("NGSILD-Tenant", tenant)
    }

    pub fn query(self, pairs: &[(&str, &str)]) -> Call {
        Call { rb: self.rb.query(pairs) }
    }

    pub fn json(self, body: &Value) -> Call {
        Call { rb: self.rb.header("Content-Type", "application/json").body(body.to_string()) }
    }

    pub fn raw(self, content_type: &str, body: &str) -> Call {
        Call { rb: self.rb.header("Content-Type", content_type).body(body.to_string()) }
    }

    pub async fn send(self) -> Resp {
        let r = self.rb.send().await.expect("request sent");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.bytes().await.expect("body").to_vec();
        Resp { status, headers, body }
    }
}

/// A received answer.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("status {}: body is not JSON ({e}): {}", self.status, self.text()))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
    }

    /// Asserts the status; returns the JSON body (or `null` for an empty one).
    #[track_caller]
    pub fn expect(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text());
        if self.body.is_empty() {
            Value::Null
        } else {
            self.json()
        }
    }

    /// Asserts the status only.
    #[track_caller]
    pub fn expect_status(&self, status: u16) {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text());
    }

    /// Asserts a ProblemDetails answer: `status`, `application/json`, a `type` equal to
    /// `type_uri`, a `title`, the `status` member, and a `detail` containing every string
    /// of `detail`.
    #[track_caller]
    pub fn problem(&self, status: u16, type_uri: &str, detail: &[&str]) -> Value {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text());
        let ct = self.header("content-type").unwrap_or_default();
        assert!(ct.starts_with("application/json"), "ProblemDetails content type, got {ct}");
        let body = self.json();
        assert_eq!(body["type"], Value::String(type_uri.to_string()), "problem type; body: {body}");
        assert_eq!(body["status"], Value::from(status), "problem status; body: {body}");
        assert!(body["title"].as_str().is_some_and(|t| !t.is_empty()), "problem title; body: {body}");
        let d = body["detail"].as_str().unwrap_or_else(|| panic!("problem without detail: {body}"));
        for want in detail {
            assert!(d.contains(want), "detail {d:?} should contain {want:?}");
        }
        body
    }
}
