//! The test harness: the real NGSI-LD application served on a real socket
//! (`127.0.0.1:0`), assembled exactly as `kizuna::run` does (router nested at
//! `/ngsi-ld/v1`, the admin router at `/kizuna/v1`, trailing slashes trimmed), with
//! helpers to call it through reqwest and to check ProblemDetails answers.

#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use kizuna_api_ngsild::{ApiConfig, ApiState, ContextStore};
use kizuna_auth::Verifier;
use kizuna_consent::Role;
use kizuna_testkit::TestApp;
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::Value;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The core context URL the server names in its answers.
pub const CORE: &str = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld";
/// Where undefined terms expand to under the core context.
pub const VOCAB: &str = "https://uri.etsi.org/ngsi-ld/default-context/";
/// The expanded name of the core `location` GeoProperty.
pub const NGSI_LD_LOCATION: &str = "https://uri.etsi.org/ngsi-ld/location";
/// The prefix of every NGSI-LD error type.
pub const ERRORS: &str = "https://uri.etsi.org/ngsi-ld/errors/";
/// The `rel` of a JSON-LD context `Link`.
pub const CONTEXT_REL: &str = "http://www.w3.org/ns/json-ld#context";
/// The demo city context shipped with the server, and the URL it is known under.
pub const DEMO_URL: &str = "https://kizuna.example/contexts/demo-city.jsonld";
pub const DEMO_DOC: &str = include_str!("../../../server/contexts/demo-city.jsonld");

/// How to start a [`TestServer`].
pub struct Setup {
    /// Reuse this data directory (to reopen a store); a fresh one otherwise.
    pub dir: Option<Arc<TempDir>>,
    /// Local context documents (URL → document). Defaults to the demo context.
    pub local_contexts: Vec<(String, Value)>,
    /// Fetch unknown remote contexts over HTTP.
    pub fetch_remote: bool,
    /// API limits.
    pub config: ApiConfig,
    /// Run with the development setting (anonymous callers may read and write
    /// non-personal data): the broker-conformance tests use it; the access tests do not.
    pub open: bool,
}

impl Default for Setup {
    fn default() -> Setup {
        Setup {
            dir: None,
            local_contexts: demo_contexts(),
            fetch_remote: false,
            config: ApiConfig::default(),
            open: true,
        }
    }
}

/// The demo context as a local context list.
pub fn demo_contexts() -> Vec<(String, Value)> {
    vec![(DEMO_URL.to_string(), serde_json::from_str(DEMO_DOC).expect("the demo context is JSON"))]
}

/// The application on a socket, with its store and data directory: the fields of
/// [`TestApp`] (`origin`, `client`, `store`, `dir`, `issuer`).
pub struct TestServer {
    app: TestApp,
}

impl std::ops::Deref for TestServer {
    type Target = TestApp;

    fn deref(&self) -> &TestApp {
        &self.app
    }
}

impl TestServer {
    /// A fresh server: empty store, demo context known locally, no remote fetching.
    pub async fn start() -> TestServer {
        TestServer::start_with(Setup::default()).await
    }

    pub async fn start_with(setup: Setup) -> TestServer {
        let mut builder = TestApp::builder()
            .contexts(ContextStore::new(setup.local_contexts, setup.fetch_remote, Duration::from_secs(2)))
            .config(ApiConfig { dev_open_access: setup.open, ..setup.config })
            .trim_trailing_slash()
            .token_ttl(Duration::from_secs(600));
        if let Some(dir) = setup.dir {
            builder = builder.dir(dir);
        }
        let app = builder
            .start(|state| {
                Router::new()
                    .nest("/ngsi-ld/v1", kizuna_api_ngsild::router(state.clone()))
                    .nest("/kizuna/v1", kizuna_api_ngsild::admin_router(state))
            })
            .await;
        TestServer { app }
    }

    /// Stops serving, closes the store cleanly and hands back the data directory.
    pub async fn stop(self) -> Arc<TempDir> {
        self.app.stop().await
    }

    /// A token from the built-in issuer for `role` in `tenant` (party and subject as given).
    pub fn token(&self, tenant: &str, role: Role, party: Option<&str>, subject: Option<&str>) -> String {
        self.app.token(tenant, role, party, subject, None)
    }

    /// The absolute URL of an API path (`/entities` → `http://.../ngsi-ld/v1/entities`).
    pub fn url(&self, path: &str) -> String {
        format!("{}/ngsi-ld/v1{path}", self.origin)
    }

    pub fn call(&self, method: Method, path: &str) -> Call {
        Call { rb: self.client.request(method, self.url(path)) }
    }

    /// A request to an absolute path on the server (e.g. a `Location` header).
    pub fn call_abs(&self, method: Method, abs_path: &str) -> Call {
        Call { rb: self.client.request(method, format!("{}{abs_path}", self.origin)) }
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

    pub fn patch(&self, path: &str) -> Call {
        self.call(Method::PATCH, path)
    }

    pub fn delete(&self, path: &str) -> Call {
        self.call(Method::DELETE, path)
    }

    /// `POST /entities` with a JSON body, asserting 201.
    pub async fn create(&self, entity: &Value) {
        let r = self.post("/entities").json(entity).send().await;
        assert_eq!(r.status, 201, "creating {entity}: {}", r.text);
    }

    /// `POST /entityOperations/create`, asserting 201.
    pub async fn create_all(&self, entities: &[Value]) {
        let r = self.post("/entityOperations/create").json(&Value::Array(entities.to_vec())).send().await;
        assert_eq!(r.status, 201, "batch create: {}", r.text);
    }

    /// `GET /entities/{id}` (with a query string, e.g. `?options=sysAttrs`), asserting 200.
    pub async fn entity(&self, id: &str, query: &str) -> Value {
        let r = self.get(&format!("/entities/{}{query}", enc(id))).send().await;
        assert_eq!(r.status, 200, "GET {id}{query}: {}", r.text);
        r.json()
    }

    /// `GET /entities?...` with query pairs, asserting 200; the ids in order.
    pub async fn query_ids(&self, pairs: &[(&str, &str)]) -> Vec<String> {
        let r = self.get("/entities").query(pairs).send().await;
        assert_eq!(r.status, 200, "query {pairs:?}: {}", r.text);
        ids(&r.json())
    }
}

/// Percent-encodes an entity id (or any name) for a URL path segment.
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

/// The `id`s of an array of entities.
pub fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("expected an array, got {v}"))
        .iter()
        .map(|e| e["id"].as_str().unwrap_or_else(|| panic!("no id in {e}")).to_string())
        .collect()
}

/// A request being built.
pub struct Call {
    rb: reqwest::RequestBuilder,
}

impl Call {
    pub fn header(self, name: &str, value: &str) -> Call {
        Call { rb: self.rb.header(name, value) }
    }

    pub fn tenant(self, tenant: &str) -> Call {
        self.header("NGSILD-Tenant", tenant)
    }

    pub fn accept(self, accept: &str) -> Call {
        self.header("Accept", accept)
    }

    /// A JSON-LD context `Link` header.
    pub fn link(self, url: &str) -> Call {
        let v = format!("<{url}>; rel=\"{CONTEXT_REL}\"; type=\"application/ld+json\"");
        self.header("Link", &v)
    }

    pub fn query(self, pairs: &[(&str, &str)]) -> Call {
        Call { rb: self.rb.query(pairs) }
    }

    /// An `application/json` body.
    pub fn json(self, body: &Value) -> Call {
        self.raw("application/json", body.to_string())
    }

    /// An `application/ld+json` body.
    pub fn ld(self, body: &Value) -> Call {
        self.raw("application/ld+json", body.to_string())
    }

    /// A body with the given `Content-Type`.
    pub fn raw(self, content_type: &str, body: impl Into<reqwest::Body>) -> Call {
        Call { rb: self.rb.header("Content-Type", content_type).body(body) }
    }

    /// A body without a `Content-Type`.
    pub fn body(self, body: impl Into<reqwest::Body>) -> Call {
        Call { rb: self.rb.body(body) }
    }

    pub async fn send(self) -> Resp {
        let r = self.rb.send().await.expect("request sent");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.expect("response body");
        Resp { status, headers, text }
    }
}

/// A received response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Resp {
    /// The body as JSON (panics with the body if it is not).
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("status {}: body is not JSON ({e}): {:?}", self.status, self.text))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).map(|v| v.to_str().expect("ASCII header").to_string())
    }

    /// The media type of the body, without parameters.
    pub fn content_type(&self) -> Option<String> {
        self.header("content-type").map(|v| v.split(';').next().unwrap_or("").trim().to_string())
    }

    /// Asserts the status, returning the response for chaining.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Resp {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text);
        self
    }

    /// Asserts an error answer: `status`, a JSON ProblemDetails whose `type` is
    /// `.../errors/{kind}`, whose `status` member agrees, whose `title` is set and whose
    /// `detail` contains every string of `detail`. Returns the body.
    #[track_caller]
    pub fn problem(&self, status: u16, kind: &str, detail: &[&str]) -> Value {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text);
        assert_eq!(self.content_type().as_deref(), Some("application/json"), "ProblemDetails content type");
        let body = self.json();
        assert_eq!(body["type"], Value::String(format!("{ERRORS}{kind}")), "problem type; body: {body}");
        assert_eq!(body["status"], Value::from(status), "problem status member; body: {body}");
        assert!(body["title"].as_str().is_some_and(|t| !t.is_empty()), "problem title; body: {body}");
        let d = body["detail"].as_str().unwrap_or_else(|| panic!("problem without detail: {body}"));
        for want in detail {
            assert!(d.contains(want), "detail {d:?} should contain {want:?}");
        }
        body
    }
}

/// Asserts that `ts` is an RFC 3339 date-time.
#[track_caller]
pub fn assert_rfc3339(ts: &Value) {
    let s = ts.as_str().unwrap_or_else(|| panic!("timestamp is not a string: {ts}"));
    assert!(chrono::DateTime::parse_from_rfc3339(s).is_ok(), "{s:?} is not RFC 3339");
}

/// A tiny HTTP server serving JSON-LD context documents, counting requests.
pub struct ContextServer {
    /// `http://127.0.0.1:PORT`.
    pub origin: String,
    pub hits: Arc<AtomicUsize>,
    _task: JoinHandle<()>,
}

impl ContextServer {
    /// Serves `GET /ctx.jsonld` → `doc` (as `application/ld+json`), `GET /not-json` → text,
    /// `GET /no-context.jsonld` → a JSON document without `@context`; anything else 404.
    pub async fn start(doc: Value) -> ContextServer {
        use axum::routing::get;
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let body = doc.to_string();
        let app = Router::new()
            .route(
                "/ctx.jsonld",
                get(move || {
                    let h = h.clone();
                    let body = body.clone();
                    async move {
                        h.fetch_add(1, Ordering::SeqCst);
                        ([("content-type", "application/ld+json")], body)
                    }
                }),
            )
            .route("/not-json", get(|| async { ([("content-type", "text/plain")], "this is not JSON") }))
            .route(
                "/no-context.jsonld",
                get(|| async { ([("content-type", "application/ld+json")], r#"{"hello": "world"}"#) }),
            );
        let (origin, task) = kizuna_testkit::serve(app).await;
        ContextServer { origin, hits, _task: task }
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// A URL nothing listens on (a port that was bound and released).
pub async fn unreachable_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    format!("http://{addr}/context.jsonld")
}

// Access-control helpers (tests/access.rs, tests/consent_leaks.rs).

impl Call {
    /// `Authorization: Bearer <token>`.
    pub fn bearer(self, token: &str) -> Call {
        self.header("Authorization", &format!("Bearer {token}"))
    }

    /// The purpose of use, in the `Kizuna-Purpose` header.
    pub fn purpose(self, purpose: &str) -> Call {
        self.header(kizuna_api_ngsild::PURPOSE_HEADER, purpose)
    }
}

impl TestServer {
    /// Starts notification delivery from this server's outbox, as `kizuna::run` does
    /// (`open`: the development setting, as in [`Setup::open`]). Call once per server.
    pub fn spawn_notifier(&self, open: bool) {
        let auth = Arc::new(Verifier::new(vec![self.issuer.trusted()]).expect("verifier"));
        let contexts = ContextStore::new(demo_contexts(), false, Duration::from_secs(2));
        let config = ApiConfig { dev_open_access: open, ..ApiConfig::default() };
        let state = ApiState { store: self.store.clone(), contexts, config, auth };
        kizuna_api_ngsild::spawn_notifier(state, kizuna_api_ngsild::NotifierConfig::default());
    }

    /// Runs a write transaction on the live store in `tenant` (on a blocking thread),
    /// panicking if it fails: for setting up policy records.
    pub async fn store_write<F>(&self, tenant: &str, f: F)
    where
        F: FnOnce(&mut dyn kizuna_store::Txn) -> Result<(), kizuna_store::StoreError> + Send + 'static,
    {
        let store = self.store.clone();
        let tenant = tenant.to_string();
        tokio::task::spawn_blocking(move || store.write(&tenant, f))
            .await
            .expect("store write task")
            .expect("store write");
    }
}
