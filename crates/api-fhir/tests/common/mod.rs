//! The FHIR API over a real socket (`/fhir` and `/ngsi-ld/v1`), tokens from the built-in
//! issuer, consent records written straight into the store.
#![allow(dead_code)]

use std::time::Duration;

use axum::Router;
use chrono::{DateTime, Utc};
use kizuna_consent::{Category, ConsentMethod, ConsentRecord, Guardianship, LegalBasis, Party, Purpose, Role};
use kizuna_testkit::TestApp;
use reqwest::Method;
use serde_json::{json, Value};

pub const T: &str = "t1";
pub const ADMIN: &str = "urn:kizuna:party:city";
pub const CLINIC: &str = "urn:kizuna:party:clinic";
pub const INSURER: &str = "urn:kizuna:party:insurer";

/// The application on a socket (its `origin`, `client`, `store`, `issuer`, `dir`: the
/// fields of [`TestApp`]).
pub struct Server {
    app: TestApp,
}

impl std::ops::Deref for Server {
    type Target = TestApp;

    fn deref(&self) -> &TestApp {
        &self.app
    }
}

pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Server {
    pub async fn start() -> Server {
        let app = TestApp::builder()
            .client_timeout(Duration::from_secs(60))
            .start(|state| {
                kizuna_api_ngsild::spawn_notifier(state.clone(), kizuna_api_ngsild::NotifierConfig::default());
                Router::new()
                    .nest("/ngsi-ld/v1", kizuna_api_ngsild::router(state.clone()))
                    .nest("/fhir", kizuna_api_fhir::fhir_router(state))
            })
            .await;
        let s = Server { app };
        s.put_party(ADMIN, &[Role::TenantAdmin], &[]).await;
        s.put_party(CLINIC, &[Role::DataHolder], &["healthcare"]).await;
        s.put_party(INSURER, &[Role::ServiceProvider], &["disease-management", "research"]).await;
        s
    }

    pub async fn put_party(&self, id: &str, roles: &[Role], purposes: &[&str]) {
        let p = Party {
            id: id.into(),
            name: id.into(),
            roles: roles.to_vec(),
            registered_purposes: purposes.iter().map(|p| Purpose::new(*p)).collect(),
            recipient_kind: None,
        };
        self.write(move |tx| tx.put_party(&p)).await;
    }

    pub async fn write<F>(&self, f: F)
    where
        F: FnOnce(&mut dyn kizuna_store::Txn) -> Result<(), kizuna_store::StoreError> + Send + 'static,
    {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.write(T, f)).await.expect("join").expect("write");
    }

    pub fn token(&self, role: Role, party: Option<&str>, subject: Option<&str>, purpose: Option<&str>) -> String {
        self.app.token(T, role, party, subject, purpose)
    }

    pub fn admin(&self) -> String {
        self.token(Role::TenantAdmin, Some(ADMIN), None, None)
    }

    pub fn clinic(&self) -> String {
        self.token(Role::DataHolder, Some(CLINIC), None, None)
    }

    pub fn insurer(&self) -> String {
        self.token(Role::ServiceProvider, Some(INSURER), None, Some("disease-management"))
    }

    pub fn citizen(&self, subject: &str) -> String {
        self.token(Role::Citizen, None, Some(subject), None)
    }

    pub async fn req(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
        let mut rb = self.client.request(method, format!("{}/fhir{path}", self.origin));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = body {
            rb = rb.header("Content-Type", "application/fhir+json").body(b.to_string());
        }
        let r = rb.send().await.expect("send");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.expect("body");
        let body =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        Reply { status, headers, body }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.req(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.req(Method::POST, path, Some(token), Some(body)).await
    }

    /// Creates a Patient for `subject`; returns its id.
    pub async fn patient(&self, subject: &str, birth: &str, gender: &str) -> String {
        let r = self.post("/Patient", &self.clinic(), patient_json(subject, birth, gender)).await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["id"].as_str().expect("id").to_string()
    }

    /// Creates a home BP Observation; returns its id.
    pub async fn bp(&self, patient: &str, sys: f64, dia: f64, when: &str) -> String {
        let r = self.post("/Observation", &self.clinic(), bp_json(patient, sys, dia, when)).await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["id"].as_str().expect("id").to_string()
    }

    pub async fn consent(
        &self,
        id: &str,
        subject: &str,
        recipient: &str,
        purpose: &str,
        category: Category,
    ) -> ConsentRecord {
        let c = consent_record(id, subject, recipient, purpose, category);
        let c2 = c.clone();
        self.write(move |tx| tx.put_consent(&c2)).await;
        c
    }

    pub async fn guardian(&self, id: &str, guardian: &str, ward: &str) {
        let g = Guardianship {
            id: id.into(),
            controller: T.into(),
            guardian: guardian.into(),
            ward: ward.into(),
            relationship: "mother".into(),
            evidence: "母子健康手帳".into(),
            valid_from: ago(3600),
            valid_until: None,
            ended_at: None,
        };
        self.write(move |tx| tx.put_guardianship(&g)).await;
    }

    /// The audit records of `subject`.
    pub async fn audit_of(&self, subject: &str) -> Vec<kizuna_consent::AuditRecord> {
        let store = self.store.clone();
        let s = subject.to_string();
        tokio::task::spawn_blocking(move || store.audit_of_subject(T, &s, 0, 100_000))
            .await
            .expect("join")
            .expect("audit")
    }
}

pub fn ago(secs: i64) -> DateTime<Utc> {
    Utc::now() - chrono::Duration::seconds(secs)
}

pub fn consent_record(id: &str, subject: &str, recipient: &str, purpose: &str, category: Category) -> ConsentRecord {
    ConsentRecord {
        id: id.into(),
        subject: subject.into(),
        controller: T.into(),
        recipient: recipient.into(),
        purposes: vec![Purpose::new(purpose)],
        categories: vec![category],
        types: vec![],
        attributes: vec![],
        legal_basis: LegalBasis::Consent,
        notice_version: "v1".into(),
        method: ConsentMethod::App,
        granted_at: ago(60),
        expires_at: None,
        withdrawn_at: None,
        given_by: None,
        withdrawn_by: None,
    }
}

pub fn patient_json(subject: &str, birth: &str, gender: &str) -> Value {
    json!({
        "resourceType": "Patient",
        "identifier": [{"system": "urn:kizuna:data-subject", "value": subject}],
        "name": [{"family": "山田", "given": ["花子"], "text": "山田 花子"}],
        "gender": gender,
        "birthDate": birth,
    })
}

pub fn bp_json(patient: &str, sys: f64, dia: f64, when: &str) -> Value {
    let q = |v: f64| json!({"value": v, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"});
    json!({
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9", "display": "Blood pressure panel"}]},
        "subject": {"reference": format!("Patient/{patient}")},
        "effectiveDateTime": when,
        "component": [
            {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]}, "valueQuantity": q(sys)},
            {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]}, "valueQuantity": q(dia)}
        ]
    })
}

/// The ids of a searchset Bundle's `match` entries.
pub fn ids(bundle: &Value) -> Vec<String> {
    bundle["entry"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|e| e["search"]["mode"] == "match")
                .filter_map(|e| e["resource"]["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// A notification receiver on a real socket: every POST body arrives on the channel.
pub async fn receiver() -> (String, tokio::sync::mpsc::UnboundedReceiver<Value>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let app = Router::new().route(
        "/notify",
        axum::routing::post(move |body: axum::body::Bytes| {
            let tx = tx.clone();
            async move {
                if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                    let _ = tx.send(v);
                }
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let (origin, _task) = kizuna_testkit::serve(app).await;
    (format!("{origin}/notify"), rx)
}
