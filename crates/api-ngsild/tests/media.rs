//! Alert media over real sockets: media registered as subscriptions receive the alert
//! entities of their areas and levels, as CAP XML (signed) or JSON, through the durable
//! notifier; delivery receipts per medium; a medium down then back gets everything in
//! order; registration is validated.

mod common;

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use axum::routing::post;
use axum::Router;
use common::{Setup, TestServer};
use kizuna_api_ngsild::media::{self, DeliveryState, Medium, MediumAreas, MediumFormat};
use kizuna_api_ngsild::{ApiConfig, ApiState, ContextStore, NotifierConfig};
use kizuna_auth::Verifier;
use kizuna_consent::Role;
use serde_json::{json, Value};
use tokio::net::TcpListener;

const TENANT: &str = "city";

/// One request a receiver got.
#[derive(Clone, Debug)]
struct Got {
    status: u16,
    headers: HeaderMap,
    body: String,
}

/// A real HTTP receiver: records every POST and answers `status` (settable).
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Got>>>,
    status: Arc<AtomicU16>,
}

impl Receiver {
    async fn start() -> Receiver {
        Receiver::start_on(TcpListener::bind("127.0.0.1:0").await.expect("bind")).await
    }

    async fn start_on(listener: TcpListener) -> Receiver {
        let got: Arc<Mutex<Vec<Got>>> = Arc::new(Mutex::new(Vec::new()));
        let status = Arc::new(AtomicU16::new(200));
        let (g, s) = (got.clone(), status.clone());
        let app = Router::new().route(
            "/notify",
            post(move |headers: HeaderMap, body: String| {
                let (g, s) = (g.clone(), s.clone());
                async move {
                    let code = s.load(Ordering::SeqCst);
                    g.lock().expect("lock").push(Got { status: code, headers, body });
                    axum::http::StatusCode::from_u16(code).expect("status")
                }
            }),
        );
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve receiver");
        });
        Receiver { url: format!("http://{addr}/notify"), got, status }
    }

    /// The requests it accepted (2xx), in arrival order.
    fn accepted(&self) -> Vec<Got> {
        self.got.lock().expect("lock").iter().filter(|g| g.status < 300).cloned().collect()
    }

    fn all(&self) -> Vec<Got> {
        self.got.lock().expect("lock").clone()
    }
}

/// The server, an admin token, and an `ApiState` on its store for the media functions,
/// with a notifier whose backoff is short (so the down/up test takes seconds).
async fn setup() -> (TestServer, String, ApiState) {
    let srv = TestServer::start_with(Setup { open: false, ..Setup::default() }).await;
    let token = srv.token(TENANT, Role::TenantAdmin, Some("urn:kizuna:party:city-hall"), None);
    let auth = Arc::new(Verifier::new(vec![srv.issuer.trusted()]).expect("verifier"));
    let contexts = ContextStore::new(common::demo_contexts(), false, Duration::from_secs(2));
    let config = ApiConfig { dev_open_access: false, ..ApiConfig::default() };
    let state = ApiState { store: srv.store.clone(), contexts, config, auth };
    let notifier = NotifierConfig {
        base_backoff: Duration::from_millis(200),
        max_backoff: Duration::from_millis(800),
        ..NotifierConfig::default()
    };
    kizuna_api_ngsild::spawn_notifier(state.clone(), notifier);
    (srv, token, state)
}

/// The riverside polygon of the sample alert (GeoJSON: lon, lat).
fn riverside() -> Value {
    json!([[
        [139.0402, 36.4105],
        [139.0571, 36.4112],
        [139.0649, 36.3868],
        [139.0508, 36.3797],
        [139.0389, 36.3921],
        [139.0402, 36.4105]
    ]])
}

/// Creates an alert entity with the admin token, its CAP XML from the sample 避難指示
/// with `identifier`; `level` `None`: a shelter-style alert without a level.
async fn issue(srv: &TestServer, token: &str, identifier: &str, level: Option<u8>, geocode: &str) -> String {
    let mut alert = kizuna_cap::samples::maebashi_evacuation_order();
    alert.identifier = identifier.to_string();
    let xml = kizuna_cap::xml::to_xml(&alert);
    let id = format!("urn:ngsi-ld:Alert:{identifier}");
    let mut e = json!({
        "id": id,
        "type": "Alert",
        "identifier": {"type": "Property", "value": identifier},
        "msgType": {"type": "Property", "value": "Alert"},
        "status": {"type": "Property", "value": "Actual"},
        "severity": {"type": "Property", "value": if level.is_some() { "Severe" } else { "Minor" }},
        "active": {"type": "Property", "value": true},
        "geocodes": {"type": "Property", "value": [geocode]},
        "capXml": {"type": "Property", "value": xml},
        "location": {"type": "GeoProperty", "value": {"type": "Polygon", "coordinates": riverside()}},
    });
    if let Some(l) = level {
        e["warningLevel"] = json!({"type": "Property", "value": l});
    }
    srv.post("/entities").tenant(TENANT).bearer(token).json(&e).send().await.expect(201);
    id
}

fn medium(name: &str, url: &str, geocodes: &[&str], min_level: Option<u8>, format: MediumFormat) -> Medium {
    Medium {
        name: name.to_string(),
        endpoint: url.to_string(),
        areas: MediumAreas { geocodes: geocodes.iter().map(|s| s.to_string()).collect(), polygon: None },
        min_level,
        format,
    }
}

/// Polls `f` every 50 ms until it holds (panics after 15 s with `what`).
async fn until<F: FnMut() -> bool>(what: &str, mut f: F) {
    for _ in 0..300 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn receipts_until(
    state: &ApiState,
    alert: &str,
    what: &str,
    ok: impl Fn(&[media::MediumReceipt]) -> bool,
) -> Vec<media::MediumReceipt> {
    for _ in 0..300 {
        let r = media::receipts(state, TENANT, alert).await.expect("receipts");
        if ok(&r) {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for receipts: {what}; last: {:?}", media::receipts(state, TENANT, alert).await);
}

fn is_delivered(r: &[media::MediumReceipt], id: &str) -> bool {
    r.iter().any(|m| m.id == id && matches!(m.state, DeliveryState::Delivered { .. }))
}

/// Checks the `Kizuna-Signature` of `got` with `secret`.
fn signature_verifies(got: &Got, secret: &str) -> bool {
    let sig = got.headers.get("kizuna-signature").and_then(|v| v.to_str().ok()).unwrap_or("");
    let t: i64 = sig.strip_prefix("t=").and_then(|s| s.split(',').next()).and_then(|s| s.parse().ok()).unwrap_or(0);
    !sig.is_empty() && kizuna_api_ngsild::signature(secret, &got.body, t) == sig
}

#[tokio::test]
async fn alerts_reach_the_media_of_their_area_and_level() {
    let (srv, token, state) = setup().await;
    let (ra, rb, rc, rd) =
        (Receiver::start().await, Receiver::start().await, Receiver::start().await, Receiver::start().await);
    let a = media::register(&state, TENANT, medium("上毛テレビ", &ra.url, &["102016"], Some(4), MediumFormat::CapXml))
        .await
        .expect("register a");
    let b = media::register(&state, TENANT, medium("高崎FM", &rb.url, &["102024"], None, MediumFormat::Json))
        .await
        .expect("register b");
    let c = media::register(&state, TENANT, medium("防災アプリ", &rc.url, &[], None, MediumFormat::Json))
        .await
        .expect("register c");
    // A polygon medium whose area intersects the alert's.
    let mut md = medium("Riverside web", &rd.url, &[], None, MediumFormat::Json);
    md.areas.polygon = Some(
        json!({"type": "Polygon", "coordinates": [[[139.05, 36.38], [139.07, 36.38], [139.07, 36.40], [139.05, 36.40], [139.05, 36.38]]]}),
    );
    let d = media::register(&state, TENANT, md).await.expect("register d");
    assert_eq!(a.hmac_secret.len(), 64, "32 bytes, hex");
    assert!(a.hmac_secret.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_ne!(a.hmac_secret, b.hmac_secret);

    // list / get show the registrations, without the secret.
    let all = media::list(&state, TENANT).await.expect("list");
    assert_eq!(all.len(), 4);
    let got_a = media::get(&state, TENANT, &a.id).await.expect("get a");
    assert_eq!(got_a.medium.areas.geocodes, vec!["102016".to_string()]);
    assert_eq!(got_a.medium.min_level, Some(4));
    assert_eq!(got_a.medium.format, MediumFormat::CapXml);
    assert!(!serde_json::to_string(&all).expect("json").contains(&a.hmac_secret), "the secret is never listed");
    // An ordinary subscription is not a medium.
    srv.post("/subscriptions")
        .tenant(TENANT)
        .bearer(&token)
        .json(&json!({"type": "Subscription", "entities": [{"type": "Other"}],
                      "notification": {"endpoint": {"uri": "http://127.0.0.1:9/x"}}}))
        .send()
        .await
        .expect(201);
    assert_eq!(media::list(&state, TENANT).await.expect("list").len(), 4);

    let alert = issue(&srv, &token, "maebashi-2026-0714-101", Some(4), "102016").await;
    until("a, c and d receive the alert", || {
        ra.accepted().len() == 1 && rc.accepted().len() == 1 && rd.accepted().len() == 1
    })
    .await;

    // a: CAP XML, signed with its secret, a valid CAP 1.2 message.
    let got = &ra.accepted()[0];
    assert_eq!(got.headers["content-type"], "application/cap+xml; charset=utf-8");
    assert_eq!(got.headers["kizuna-subscription-id"], a.id.as_str());
    assert!(got.headers.get("kizuna-notification-id").is_some());
    assert_eq!(got.headers["ngsild-tenant"], TENANT);
    assert!(signature_verifies(got, &a.hmac_secret), "the signature verifies: {:?}", got.headers);
    assert!(!signature_verifies(got, &b.hmac_secret), "and not with another medium's secret");
    let cap = kizuna_cap::parse(&got.body).expect("a valid CAP 1.2 message");
    assert_eq!(cap.identifier, "maebashi-2026-0714-101");

    // c: an NGSI-LD notification with the entity.
    let n: Value = serde_json::from_str(&rc.accepted()[0].body).expect("JSON");
    assert_eq!(n["type"], "Notification");
    assert_eq!(n["subscriptionId"], c.id.as_str());
    assert_eq!(n["data"][0]["id"], alert.as_str());
    assert!(signature_verifies(&rc.accepted()[0], &c.hmac_secret));

    // Receipts: delivered to a, c and d; nothing for b.
    let r = receipts_until(&state, &alert, "a, c, d delivered", |r| {
        is_delivered(r, &a.id) && is_delivered(r, &c.id) && is_delivered(r, &d.id)
    })
    .await;
    assert_eq!(r.len(), 3, "{r:?}");
    assert!(!r.iter().any(|m| m.id == b.id));
    let ra_receipt = r.iter().find(|m| m.id == a.id).expect("a");
    assert_eq!(ra_receipt.name, "上毛テレビ");
    assert!(matches!(&ra_receipt.state, DeliveryState::Delivered { attempts: 1, at } if !at.is_empty()));

    // A level-3 alert for 102016: below a's minimum; c and d get it, and a's receipts
    // leave it out.
    let low = issue(&srv, &token, "maebashi-2026-0714-102", Some(3), "102016").await;
    // A shelter-style alert without a level: a gets it (no level passes every minimum).
    let shelter = issue(&srv, &token, "maebashi-2026-0714-103", None, "102016").await;
    until("c receives both", || rc.accepted().len() == 3).await;
    until("a receives the shelter alert", || ra.accepted().len() == 2).await;
    let cap = kizuna_cap::parse(&ra.accepted()[1].body).expect("CAP");
    assert_eq!(cap.identifier, "maebashi-2026-0714-103", "a never got the level-3 alert");
    let r = receipts_until(&state, &low, "c delivered", |r| is_delivered(r, &c.id) && is_delivered(r, &d.id)).await;
    assert!(!r.iter().any(|m| m.id == a.id || m.id == b.id), "{r:?}");
    receipts_until(&state, &shelter, "a delivered", |r| is_delivered(r, &a.id)).await;

    // b's own city.
    issue(&srv, &token, "takasaki-2026-0714-001", Some(5), "102024").await;
    until("b receives its city's alert", || rb.accepted().len() == 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(ra.all().len(), 2, "a got nothing for another city");
    assert_eq!(rd.accepted().len(), 4, "d's polygon intersects every alert here (same location)");
    assert!(rb.all().len() == 1, "b got only its city's alert");

    // delete: gone from list and get; its queue is dropped.
    media::delete(&state, TENANT, &b.id).await.expect("delete");
    assert_eq!(media::get(&state, TENANT, &b.id).await.expect_err("gone").status(), 404);
    assert_eq!(media::delete(&state, TENANT, &b.id).await.expect_err("gone").status(), 404);
    assert_eq!(media::list(&state, TENANT).await.expect("list").len(), 3);
}

#[tokio::test]
async fn a_medium_down_then_back_gets_everything_in_order() {
    let (srv, token, state) = setup().await;
    let rx = Receiver::start().await;
    let m = media::register(&state, TENANT, medium("NHK前橋", &rx.url, &["102016"], None, MediumFormat::CapXml))
        .await
        .expect("register");
    rx.status.store(500, Ordering::SeqCst);
    let mut ids = Vec::new();
    for i in 1..=3 {
        ids.push(issue(&srv, &token, &format!("maebashi-2026-0714-2{i:02}"), Some(4), "102016").await);
    }
    // The head is retried; the two behind it wait in the outbox.
    let r = receipts_until(&state, &ids[0], "retrying twice", |r| {
        r.iter().any(|x| matches!(x.state, DeliveryState::Retrying { attempts, .. } if attempts >= 2))
    })
    .await;
    match &r[0].state {
        DeliveryState::Retrying { last_failure, .. } => {
            assert!(last_failure.as_deref().is_some_and(|f| f.contains("500")), "{last_failure:?}")
        }
        other => panic!("{other:?}"),
    }
    for later in &ids[1..] {
        let r = media::receipts(&state, TENANT, later).await.expect("receipts");
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].state, DeliveryState::Pending, "queued behind the head");
    }
    let info = media::get(&state, TENANT, &m.id).await.expect("get");
    assert_eq!(info.pending, 3);
    assert!(info.times_failed >= 2);
    assert!(rx.all().iter().all(|g| g.body.contains("maebashi-2026-0714-201")), "only the head was tried");

    rx.status.store(200, Ordering::SeqCst);
    until("all three delivered", || rx.accepted().len() == 3).await;
    let order: Vec<String> =
        rx.accepted().iter().map(|g| kizuna_cap::parse(&g.body).expect("CAP").identifier).collect();
    assert_eq!(order, vec!["maebashi-2026-0714-201", "maebashi-2026-0714-202", "maebashi-2026-0714-203"]);
    assert!(rx.accepted().iter().all(|g| signature_verifies(g, &m.hmac_secret)));
    let r = receipts_until(&state, &ids[0], "delivered after retries", |r| is_delivered(r, &m.id)).await;
    match &r[0].state {
        DeliveryState::Delivered { attempts, .. } => assert!(*attempts >= 3, "attempts {attempts}"),
        other => panic!("{other:?}"),
    }
    for later in &ids[1..] {
        receipts_until(&state, later, "delivered", |r| is_delivered(r, &m.id)).await;
    }
    // The store's view: the last failure is remembered beside the success.
    let raw = srv.store.receipts(TENANT, &ids[0]).expect("store receipts");
    assert_eq!(raw.len(), 1);
    assert!(!raw[0].pending);
    assert!(raw[0].last_failure.as_deref().is_some_and(|f| f.contains("500")));
}

#[tokio::test]
async fn registration_is_validated() {
    let (_srv, _token, state) = setup().await;
    let ok = medium("ok", "https://media.example/alerts", &["102016"], Some(3), MediumFormat::Json);
    let cases: Vec<(Medium, &str)> = vec![
        (Medium { name: " ".into(), ..ok.clone() }, "name"),
        (Medium { endpoint: "ftp://media.example/x".into(), ..ok.clone() }, "endpoint"),
        (Medium { endpoint: "not a url".into(), ..ok.clone() }, "endpoint"),
        (Medium { endpoint: "mqtt://broker/x".into(), ..ok.clone() }, "endpoint"),
        (
            Medium { areas: MediumAreas { geocodes: vec!["10201".into()], polygon: None }, ..ok.clone() },
            "areas.geocodes[0]",
        ),
        (
            Medium {
                areas: MediumAreas { geocodes: vec!["102016".into(), "1020x6".into()], polygon: None },
                ..ok.clone()
            },
            "areas.geocodes[1]",
        ),
        (
            Medium {
                areas: MediumAreas {
                    geocodes: vec![],
                    polygon: Some(json!({"type": "Point", "coordinates": [139.0, 36.4]})),
                },
                ..ok.clone()
            },
            "areas.polygon",
        ),
        (
            Medium {
                areas: MediumAreas {
                    geocodes: vec![],
                    polygon: Some(json!({"type": "Polygon", "coordinates": [[[139.0, 36.4], [139.1, 36.4]]]})),
                },
                ..ok.clone()
            },
            "areas.polygon",
        ),
        (Medium { min_level: Some(7), ..ok.clone() }, "minLevel"),
        (Medium { min_level: Some(0), ..ok.clone() }, "minLevel"),
    ];
    for (m, field) in cases {
        let e = media::register(&state, TENANT, m.clone()).await.expect_err(&format!("{m:?} must be refused"));
        assert_eq!(e.status(), 400, "{m:?}: {e}");
        let problem = e.problem();
        assert_eq!(problem["type"], "https://uri.etsi.org/ngsi-ld/errors/BadRequestData");
        let detail = problem["detail"].as_str().unwrap_or_default();
        assert!(detail.starts_with(&format!("{field}:")), "{detail} should name {field}");
    }
    assert!(media::list(&state, TENANT).await.expect("list").is_empty(), "nothing was stored");
    media::register(&state, TENANT, ok).await.expect("the valid one registers");
    // The JSON form of a registration, as an API would take it.
    let m: Medium = serde_json::from_value(json!({
        "name": "x", "endpoint": "http://127.0.0.1:1/x", "areas": {"geocodes": ["102016"]}, "minLevel": 4, "format": "cap+xml"
    }))
    .expect("JSON");
    assert_eq!(m.format, MediumFormat::CapXml);
    assert!(serde_json::from_value::<Medium>(json!({"name": "x", "endpoint": "http://h/x", "colour": 1})).is_err());
}

#[tokio::test]
async fn a_closed_receiver_then_listening_gets_its_alerts() {
    let (srv, token, state) = setup().await;
    // A port that was bound and released: nothing listens there yet.
    let probe = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = probe.local_addr().expect("addr");
    drop(probe);
    let m = media::register(
        &state,
        TENANT,
        medium("closed", &format!("http://{addr}/notify"), &[], None, MediumFormat::Json),
    )
    .await
    .expect("register");
    let first = issue(&srv, &token, "maebashi-2026-0714-301", Some(4), "102016").await;
    let second = issue(&srv, &token, "maebashi-2026-0714-302", None, "102016").await;
    let r = receipts_until(&state, &first, "retrying", |r| {
        r.iter().any(|x| matches!(x.state, DeliveryState::Retrying { attempts, .. } if attempts >= 1))
    })
    .await;
    assert_eq!(r[0].id, m.id);
    assert_eq!(media::receipts(&state, TENANT, &second).await.expect("receipts")[0].state, DeliveryState::Pending);
    let rx = Receiver::start_on(TcpListener::bind(addr).await.expect("rebind the same port")).await;
    until("both delivered", || rx.accepted().len() == 2).await;
    let ids: Vec<Value> = rx
        .accepted()
        .iter()
        .map(|g| serde_json::from_str::<Value>(&g.body).expect("JSON")["data"][0]["id"].clone())
        .collect();
    assert_eq!(ids, vec![json!(first), json!(second)], "in order");
    receipts_until(&state, &second, "delivered", |r| is_delivered(r, &m.id)).await;
}
