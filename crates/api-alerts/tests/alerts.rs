//! The alerts API over a real socket: the NGSI-LD API at `/ngsi-ld/v1` and the alerts API
//! at `/alerts/v1`, tokens from the built-in issuer (the harness of `kizuna-api-rights`).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use chrono::{FixedOffset, Utc};
use kizuna_consent::Role;
use kizuna_testkit::TestApp;
use quick_xml::events::Event;
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};

const T1: &str = "t1";
const VOCAB: &str = "https://uri.etsi.org/ngsi-ld/default-context/";
const NGSI_ERRORS: &str = "https://uri.etsi.org/ngsi-ld/errors/";
/// Part of 前橋市 along the Tone River (the polygon of `kizuna_cap::samples`), `[lat, lon]`.
const RIVERSIDE: [[f64; 2]; 5] =
    [[36.4105, 139.0402], [36.4112, 139.0571], [36.3868, 139.0649], [36.3797, 139.0508], [36.3921, 139.0389]];
/// Inside RIVERSIDE.
const INSIDE: (f64, f64) = (36.395, 139.05);
/// Far outside every area of the tests (吾妻 area).
const OUTSIDE: (f64, f64) = (36.55, 138.70);

/// The application on a socket: the fields of [`TestApp`] (`origin`, `client`, `store`, ...).
struct Server {
    app: TestApp,
}

impl std::ops::Deref for Server {
    type Target = TestApp;

    fn deref(&self) -> &TestApp {
        &self.app
    }
}

impl Server {
    async fn start() -> Server {
        let app = TestApp::builder()
            .trim_trailing_slash()
            .start(|state| {
                // Delivery to media runs as in the server (quick retries for the tests).
                let notifier = kizuna_api_ngsild::NotifierConfig {
                    base_backoff: Duration::from_millis(200),
                    ..kizuna_api_ngsild::NotifierConfig::default()
                };
                kizuna_api_ngsild::spawn_notifier(state.clone(), notifier);
                Router::new()
                    .nest("/ngsi-ld/v1", kizuna_api_ngsild::router(state.clone()))
                    .nest("/alerts/v1", kizuna_api_alerts::alerts_router(state))
            })
            .await;
        Server { app }
    }

    /// Stops at once (the server task is aborted, not drained), then closes the store.
    async fn stop(self) {
        self.app.stop_now().await;
    }

    fn token(&self, role: Role, party: Option<&str>, subject: Option<&str>) -> String {
        self.app.token(T1, role, party, subject, None)
    }

    fn admin(&self) -> String {
        self.token(Role::TenantAdmin, Some("urn:party:city"), None)
    }

    fn call(&self, method: Method, path: &str) -> Call {
        Call { rb: self.client.request(method, format!("{}{path}", self.origin)).header("NGSILD-Tenant", T1) }
    }

    fn get(&self, path: &str) -> Call {
        self.call(Method::GET, path)
    }

    fn post(&self, path: &str) -> Call {
        self.call(Method::POST, path)
    }

    /// Issues `body` (JSON) as the admin; the summary.
    async fn issue(&self, body: &Value) -> Value {
        self.post("/alerts/v1/alerts").bearer(&self.admin()).json(body).send().await.expect(201)
    }

    /// Issues CAP XML as the admin; the summary.
    async fn issue_xml(&self, xml: &str) -> Value {
        self.post("/alerts/v1/alerts").bearer(&self.admin()).raw("application/cap+xml", xml).send().await.expect(201)
    }

    async fn summary(&self, identifier: &str) -> Value {
        self.get(&format!("/alerts/v1/alerts/{}", enc(identifier))).send().await.expect(200)
    }

    async fn active(&self, identifier: &str) -> bool {
        self.summary(identifier).await["active"].as_bool().expect("active is a boolean")
    }

    async fn count_alerts(&self) -> usize {
        self.get("/alerts/v1/alerts").send().await.expect(200).as_array().map_or(0, Vec::len)
    }

    /// Creates a shelter (PointOfInterest) through NGSI-LD.
    async fn shelter(&self, id: &str, lat: f64, lon: f64, open: bool, capacity: i64, occupancy: i64) {
        let body = json!({
            "id": id,
            "type": "https://smartdatamodels.org/dataModel.PointOfInterest/PointOfInterest",
            "https://smartdatamodels.org/name": {"type": "Property", "value": id},
            "https://smartdatamodels.org/dataModel.PointOfInterest/category": {"type": "Property", "value": ["shelter"]},
            "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}},
            "https://kizuna.example/ns/isOpen": {"type": "Property", "value": open},
            "https://kizuna.example/ns/capacity": {"type": "Property", "value": capacity},
            "https://kizuna.example/ns/occupancy": {"type": "Property", "value": occupancy},
        });
        self.post("/ngsi-ld/v1/entities").bearer(&self.admin()).json(&body).send().await.expect_status(201);
    }
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A CAP date-time `secs` from now, in Japan time.
fn cap_time(secs: i64) -> String {
    let jst = FixedOffset::east_opt(9 * 3600).expect("offset");
    (Utc::now() + chrono::Duration::seconds(secs)).with_timezone(&jst).format("%Y-%m-%dT%H:%M:%S%:z").to_string()
}

/// The shorthand of a 警戒レベル4 避難指示 for the riverside of 前橋市.
fn level4(identifier: &str) -> Value {
    json!({
        "kind": "evacuation-order",
        "identifier": identifier,
        "areas": [{"code": "102016", "name": "前橋市 総社町（利根川沿い）", "polygon": RIVERSIDE}],
        "status": "Actual",
        "expires": cap_time(86_400),
    })
}

struct Call {
    rb: reqwest::RequestBuilder,
}

impl Call {
    fn query(self, pairs: &[(&str, &str)]) -> Call {
        Call { rb: self.rb.query(pairs) }
    }
    fn header(self, name: &str, value: &str) -> Call {
        Call { rb: self.rb.header(name, value) }
    }
    fn bearer(self, token: &str) -> Call {
        self.header("Authorization", &format!("Bearer {token}"))
    }
    fn json(self, body: &Value) -> Call {
        self.raw("application/json", &body.to_string())
    }
    fn raw(self, content_type: &str, body: &str) -> Call {
        Call { rb: self.rb.header("Content-Type", content_type).body(body.to_string()) }
    }
    async fn send(self) -> Resp {
        let r = self.rb.send().await.expect("request sent");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.bytes().await.expect("body").to_vec();
        Resp { status, headers, body }
    }
}

struct Resp {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Resp {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
    }
    #[track_caller]
    fn expect(&self, status: u16) -> Value {
        self.expect_status(status);
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    #[track_caller]
    fn expect_status(&self, status: u16) {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text());
    }
    /// A ProblemDetails answer whose detail contains every string of `detail`.
    #[track_caller]
    fn problem(&self, status: u16, detail: &[&str]) -> Value {
        let body = self.expect(status);
        assert!(body["type"].as_str().is_some_and(|t| !t.is_empty()), "problem type: {body}");
        assert_eq!(body["status"], json!(status));
        let d = body["detail"].as_str().unwrap_or_default();
        for want in detail {
            assert!(d.contains(want), "detail {d:?} should contain {want:?}");
        }
        body
    }
}

#[tokio::test]
async fn shorthand_alert_is_an_ngsi_ld_entity() {
    let s = Server::start().await;
    let r = s.post("/alerts/v1/alerts").bearer(&s.admin()).json(&level4("maebashi/test#1")).send().await;
    let sum = r.expect(201);
    assert_eq!(r.header("location").as_deref(), Some("/alerts/v1/alerts/maebashi%2Ftest%231"));
    assert_eq!(sum["identifier"], "maebashi/test#1");
    assert_eq!(sum["id"], "urn:ngsi-ld:Alert:maebashi%2Ftest%231");
    assert_eq!(sum["msgType"], "Alert");
    assert_eq!(sum["active"], true);
    assert_eq!(sum["warningLevel"], 4.0);
    assert_eq!(sum["event"]["ja"], "避難指示");
    assert_eq!(sum["event"]["en"], "Evacuation order");
    assert_eq!(sum["geocodes"], json!(["102016"]));
    assert_eq!(sum["location"]["type"], "Polygon");
    assert_eq!(sum["sender"], "urn:party:city");

    // The JSON summary and the CAP XML.
    let one = s.summary("maebashi/test#1").await;
    assert_eq!(one["severity"], "Severe");
    let xml = s.get("/alerts/v1/alerts/maebashi%2Ftest%231").header("Accept", "application/cap+xml").send().await;
    xml.expect_status(200);
    assert!(xml.header("content-type").unwrap_or_default().starts_with("application/cap+xml"));
    let parsed = kizuna_cap::parse(&xml.text()).expect("the CAP XML answered is valid");
    assert_eq!(parsed.identifier, "maebashi/test#1");

    // The entity, through NGSI-LD, with the admin's token.
    let e = s
        .get(&format!("/ngsi-ld/v1/entities/{}", enc("urn:ngsi-ld:Alert:maebashi%2Ftest%231")))
        .bearer(&s.admin())
        .send()
        .await
        .expect(200);
    assert_eq!(e["type"], "Alert");
    for (name, value) in [
        ("identifier", json!("maebashi/test#1")),
        ("sender", json!("urn:party:city")),
        ("msgType", json!("Alert")),
        ("status", json!("Actual")),
        ("severity", json!("Severe")),
        ("urgency", json!("Immediate")),
        ("certainty", json!("Likely")),
        ("warningLevel", json!(4.0)),
        ("active", json!(true)),
        ("references", json!([])),
        ("geocodes", json!(["102016"])),
    ] {
        assert_eq!(e[name]["type"], "Property", "{name}: {e}");
        assert_eq!(e[name]["value"], value, "{name}");
    }
    // `scope` is a reserved member of entity JSON: the attribute renders with its full name.
    assert_eq!(e[format!("{VOCAB}scope")]["value"], "Public");
    assert!(e["sent"]["value"].as_str().is_some_and(|v| v.ends_with("+09:00")));
    assert!(e["expires"]["value"].is_string());
    assert_eq!(e["event"]["type"], "LanguageProperty");
    assert_eq!(e["event"]["languageMap"]["ja"], "避難指示");
    assert_eq!(e["location"]["type"], "GeoProperty");
    assert_eq!(e["location"]["value"]["type"], "Polygon");
    assert!(e["capXml"]["value"].as_str().is_some_and(|x| x.contains("<identifier>maebashi/test#1</identifier>")));

    // As stored: the type and attribute names expanded with the core context.
    let stored = s.store.get(T1, "urn:ngsi-ld:Alert:maebashi%2Ftest%231").expect("get").expect("stored");
    assert_eq!(stored.types, vec![format!("{VOCAB}Alert")]);
    assert!(stored.attrs.contains_key(&format!("{VOCAB}capXml")));
    assert!(stored.attrs.contains_key("https://uri.etsi.org/ngsi-ld/location"));

    // A geo-query finds it inside the polygon, not outside.
    let geo = |lat: f64, lon: f64| {
        s.get("/ngsi-ld/v1/entities").bearer(&s.admin()).header("Accept", "application/json").query(&[
            ("type", "Alert"),
            ("georel", "intersects"),
            ("geometry", "Point"),
            ("coordinates", &format!("[{lon},{lat}]")),
        ])
    };
    let inside = geo(INSIDE.0, INSIDE.1).send().await.expect(200);
    assert_eq!(inside.as_array().map(Vec::len), Some(1), "{inside}");
    let outside = geo(OUTSIDE.0, OUTSIDE.1).send().await.expect(200);
    assert_eq!(outside.as_array().map(Vec::len), Some(0));

    // A duplicate identifier.
    s.post("/alerts/v1/alerts")
        .bearer(&s.admin())
        .json(&level4("maebashi/test#1"))
        .send()
        .await
        .problem(409, &["maebashi/test#1"]);
    s.stop().await;
}

#[tokio::test]
async fn raw_xml_samples_update_and_cancel_chain() {
    let s = Server::start().await;
    let chain = kizuna_cap::samples::maebashi_chain();
    for (_, a) in &chain {
        let sum = s.issue_xml(&kizuna_cap::to_xml(a)).await;
        assert_eq!(sum["identifier"], a.identifier);
    }
    let [first, update, cancel] = [&chain[0].1, &chain[1].1, &chain[2].1];
    // The XML read back is the canonical form of what was posted.
    let xml = s
        .get(&format!("/alerts/v1/alerts/{}", first.identifier))
        .header("Accept", "application/xml")
        .send()
        .await
        .text();
    assert_eq!(xml, kizuna_cap::to_xml(first));
    // The chain and the active flags: all three are inactive (superseded, cancelled, a cancel).
    let a = s.summary(&first.identifier).await;
    assert_eq!(a["active"], false);
    // The Cancel references the whole chain (CAP: every earlier message of the incident).
    assert_eq!(a["supersededBy"], json!([update.identifier, cancel.identifier]));
    let u = s.summary(&update.identifier).await;
    assert_eq!(u["msgType"], "Update");
    assert_eq!(u["references"], json!([first.identifier]));
    assert_eq!(u["supersededBy"], json!([cancel.identifier]));
    assert_eq!(u["active"], false);
    let c = s.summary(&cancel.identifier).await;
    assert_eq!(c["msgType"], "Cancel");
    assert_eq!(c["active"], false);
    assert_eq!(c["references"], json!([first.identifier, update.identifier]));
    assert_eq!(s.count_alerts().await, 3);
    s.stop().await;
}

#[tokio::test]
async fn update_and_cancel_flip_active_flags() {
    let s = Server::start().await;
    s.issue(&level4("chain-1")).await;
    assert!(s.active("chain-1").await);
    // An Update through the shorthand.
    let mut up = level4("chain-2");
    up["kind"] = json!("emergency-safety");
    up["updates"] = json!("chain-1");
    let u = s.issue(&up).await;
    assert_eq!(u["msgType"], "Update");
    assert_eq!(u["references"], json!(["chain-1"]));
    assert_eq!(u["warningLevel"], 5.0);
    assert!(!s.active("chain-1").await);
    assert!(s.active("chain-2").await);
    assert_eq!(s.summary("chain-1").await["supersededBy"], json!(["chain-2"]));
    // The NGSI-LD entity of the superseded alert shows active false.
    let e = s.get("/ngsi-ld/v1/entities/urn:ngsi-ld:Alert:chain-1").bearer(&s.admin()).send().await.expect(200);
    assert_eq!(e["active"]["value"], false);

    // A Cancel in the CAP JSON form.
    let xml = s.get("/alerts/v1/alerts/chain-2").header("Accept", "application/cap+xml").send().await.text();
    let previous = kizuna_cap::parse(&xml).expect("stored XML");
    let sent = kizuna_cap::CapDateTime::parse(&cap_time(0)).expect("now");
    let cancel = kizuna_cap::japan::cancel_of(&previous, "chain-3", sent, "解除 / lifted");
    let c = s.issue(&serde_json::to_value(&cancel).expect("json")).await;
    assert_eq!(c["msgType"], "Cancel");
    assert_eq!(c["active"], false);
    assert!(!s.active("chain-2").await);
    let active = s.get("/alerts/v1/alerts").query(&[("active", "true")]).send().await.expect(200);
    assert_eq!(active, json!([]));
    let inactive = s.get("/alerts/v1/alerts").query(&[("active", "false")]).send().await.expect(200);
    assert_eq!(inactive.as_array().map(Vec::len), Some(3));
    s.get("/alerts/v1/alerts").query(&[("active", "maybe")]).send().await.problem(400, &["active"]);
    s.stop().await;
}

#[tokio::test]
async fn expiry_makes_an_alert_inactive() {
    let s = Server::start().await;
    let mut body = level4("short-lived");
    body["expires"] = json!(cap_time(2));
    assert_eq!(s.issue(&body).await["active"], true);
    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert!(!s.active("short-lived").await);
    let active = s.get("/alerts/v1/alerts").query(&[("active", "true")]).send().await.expect(200);
    assert_eq!(active, json!([]));
    s.stop().await;
}

#[tokio::test]
async fn invalid_alerts_are_rejected_with_the_element_and_nothing_is_stored() {
    let s = Server::start().await;
    let admin = s.admin();
    // XML: an open polygon and a bad urgency.
    let good = kizuna_cap::to_xml(&kizuna_cap::samples::maebashi_evacuation_order());
    let bad = good.replacen("<urgency>Immediate</urgency>", "<urgency>Now</urgency>", 1);
    let r = s.post("/alerts/v1/alerts").bearer(&admin).raw("application/cap+xml", &bad).send().await;
    let p = r.problem(400, &["urgency"]);
    assert_eq!(p["type"], format!("{NGSI_ERRORS}BadRequestData"));
    let start = good.find("<polygon>").expect("polygon") + "<polygon>".len();
    let end = good[start..].find("</polygon>").expect("end") + start;
    let open = format!("{}36.41,139.04 36.42,139.05 36.40,139.06 36.39,139.05{}", &good[..start], &good[end..]);
    s.post("/alerts/v1/alerts").bearer(&admin).raw("application/xml", &open).send().await.problem(400, &["polygon"]);
    s.post("/alerts/v1/alerts").bearer(&admin).raw("application/xml", "<alert>").send().await.problem(400, &[]);
    // References to an unknown message.
    let update = kizuna_cap::to_xml(&kizuna_cap::samples::maebashi_evacuation_order_update());
    s.post("/alerts/v1/alerts")
        .bearer(&admin)
        .raw("application/cap+xml", &update)
        .send()
        .await
        .problem(400, &["references"]);
    // JSON shorthand: a bad code and an unknown kind, both reported.
    let mut body = level4("bad-1");
    body["kind"] = json!("panic");
    body["areas"][0]["code"] = json!("102017");
    s.post("/alerts/v1/alerts").bearer(&admin).json(&body).send().await.problem(400, &["kind", "areas[0]/code"]);
    // JSON shorthand: expires before sent (a CAP rule).
    let mut body = level4("bad-2");
    body["expires"] = json!("2001-01-01T00:00:00+09:00");
    s.post("/alerts/v1/alerts").bearer(&admin).json(&body).send().await.problem(400, &["expires"]);
    // CAP JSON form: a wrong enumeration value.
    let mut cap = serde_json::to_value(kizuna_cap::samples::maebashi_evacuation_order()).expect("json");
    cap["info"][0]["severity"] = json!("Terrible");
    s.post("/alerts/v1/alerts").bearer(&admin).json(&cap).send().await.problem(400, &["alert/info[0]/severity"]);
    // Unsupported media type.
    s.post("/alerts/v1/alerts").bearer(&admin).raw("text/plain", "hello").send().await.expect_status(415);
    assert_eq!(s.count_alerts().await, 0);
    s.stop().await;
}

#[tokio::test]
async fn only_the_tenant_admin_issues() {
    let s = Server::start().await;
    let body = level4("nobody");
    s.post("/alerts/v1/alerts").json(&body).send().await.problem(401, &["tenant administrator"]);
    let citizen = s.token(Role::Citizen, None, Some("urn:ngsi-ld:Person:alice"));
    s.post("/alerts/v1/alerts")
        .bearer(&citizen)
        .json(&body)
        .send()
        .await
        .problem(403, &["issuing alerts needs the tenant administrator's role"]);
    let holder = s.token(Role::DataHolder, Some("urn:party:clinic"), None);
    s.post("/alerts/v1/alerts").bearer(&holder).json(&body).send().await.expect_status(403);
    assert_eq!(s.count_alerts().await, 0);
    s.stop().await;
}

#[tokio::test]
async fn atom_feed_lists_cap_messages_newest_first() {
    let s = Server::start().await;
    for (_, a) in kizuna_cap::samples::maebashi_chain() {
        s.issue_xml(&kizuna_cap::to_xml(&a)).await;
    }
    // No credentials, tenant as a query parameter (feed readers cannot set headers).
    let r = s.client.get(format!("{}/alerts/v1/feed.atom?tenant={T1}", s.origin)).send().await.expect("feed");
    assert_eq!(r.status().as_u16(), 200);
    let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    assert!(ct.starts_with("application/atom+xml"), "{ct}");
    let text = r.text().await.expect("text");

    #[derive(Default, Debug)]
    struct Entry {
        id: String,
        title: String,
        updated: String,
        summary: String,
        cap: String,
    }
    let mut reader = quick_xml::Reader::from_str(&text);
    let mut entries: Vec<Entry> = Vec::new();
    let mut path: Vec<String> = Vec::new();
    let mut root_ns = String::new();
    loop {
        match reader.read_event().expect("well-formed Atom") {
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                if name == "feed" {
                    for a in e.attributes().flatten() {
                        if a.key.as_ref() == b"xmlns" {
                            root_ns = String::from_utf8_lossy(&a.value).into_owned();
                        }
                    }
                }
                if name == "entry" {
                    entries.push(Entry::default());
                }
                path.push(name);
            }
            Event::Empty(e) if e.name().as_ref() == b"link" && path.last().map(String::as_str) == Some("entry") => {
                let get = |k: &[u8]| {
                    e.attributes()
                        .flatten()
                        .find(|a| a.key.as_ref() == k)
                        .map(|a| String::from_utf8_lossy(&a.value).into_owned())
                };
                if get(b"rel").as_deref() == Some("alternate") && get(b"type").as_deref() == Some("application/cap+xml")
                {
                    if let Some(e) = entries.last_mut() {
                        e.cap = get(b"href").unwrap_or_default();
                    }
                }
            }
            Event::Text(t) => {
                let v = t.decode().expect("text").into_owned();
                if path.len() == 3 && path[1] == "entry" {
                    if let Some(e) = entries.last_mut() {
                        match path[2].as_str() {
                            "id" => e.id.push_str(&v),
                            "title" => e.title.push_str(&v),
                            "updated" => e.updated.push_str(&v),
                            "summary" => e.summary.push_str(&v),
                            _ => {}
                        }
                    }
                }
            }
            Event::End(_) => {
                path.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(root_ns, "http://www.w3.org/2005/Atom");
    assert_eq!(entries.len(), 3, "{text}");
    let ids: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "urn:ngsi-ld:Alert:maebashi-2026-0714-003",
            "urn:ngsi-ld:Alert:maebashi-2026-0714-002",
            "urn:ngsi-ld:Alert:maebashi-2026-0714-001"
        ]
    );
    assert_eq!(entries[2].updated, "2026-07-14T09:30:00+09:00");
    assert!(entries[2].title.contains("避難指示"), "{}", entries[2].title);
    assert!(!entries[2].summary.is_empty());
    for e in &entries {
        assert!(e.cap.starts_with(&s.origin) && e.cap.contains("/alerts/v1/alerts/"), "{}", e.cap);
        let cap = s.client.get(format!("{}?tenant={T1}", e.cap)).header("Accept", "application/cap+xml").send().await;
        let xml = cap.expect("cap").text().await.expect("text");
        kizuna_cap::parse(&xml).expect("the linked CAP XML is valid");
    }
    s.stop().await;
}

#[tokio::test]
async fn geojson_and_which_alerts_apply_here() {
    let s = Server::start().await;
    // Shelters: near and open, open but full, closed, open and farther, open and far.
    s.shelter("urn:ngsi-ld:PointOfInterest:near", 36.396, 139.051, true, 100, 10).await;
    s.shelter("urn:ngsi-ld:PointOfInterest:full", 36.395, 139.0505, true, 50, 50).await;
    s.shelter("urn:ngsi-ld:PointOfInterest:closed", 36.395, 139.0501, false, 50, 0).await;
    s.shelter("urn:ngsi-ld:PointOfInterest:farther", 36.40, 139.07, true, 300, 0).await;
    s.shelter("urn:ngsi-ld:PointOfInterest:far", 36.32, 139.00, true, 300, 0).await;
    // Level 3 (circle around the point), level 4 (polygon), level 5 elsewhere (a circle far away).
    s.issue(&json!({
        "kind": "elderly-evacuation", "identifier": "l3",
        "areas": [{"name": "新前橋町", "circle": [INSIDE.0, INSIDE.1, 1.0]}],
        "expires": cap_time(3600)
    }))
    .await;
    s.issue(&level4("l4")).await;
    s.issue(&json!({
        "kind": "emergency-safety", "identifier": "l5",
        "areas": [{"code": "104213", "name": "elsewhere", "circle": [36.60, 138.60, 1.0]}],
        "expires": cap_time(3600)
    }))
    .await;
    // A geocode-only alert for 前橋市: its area is the city's boundary.
    s.issue(&json!({"kind": "shelter-opened", "identifier": "city", "areas": [{"code": "102016"}], "expires": cap_time(3600)}))
        .await;

    let here = |lat: f64, lon: f64| {
        s.get("/alerts/v1/here").query(&[("lat", &lat.to_string()), ("lon", &lon.to_string())]).send()
    };
    let h = here(INSIDE.0, INSIDE.1).await.expect(200);
    let ids: Vec<&str> =
        h["alerts"].as_array().expect("alerts").iter().filter_map(|a| a["identifier"].as_str()).collect();
    // The geocode-only alert of 前橋市 applies too (inside the city), last: no level, Minor.
    assert_eq!(ids, ["l4", "l3", "city"], "{h}");
    let shelters: Vec<&str> =
        h["shelters"].as_array().expect("shelters").iter().filter_map(|a| a["id"].as_str()).collect();
    assert_eq!(
        shelters,
        ["urn:ngsi-ld:PointOfInterest:near", "urn:ngsi-ld:PointOfInterest:farther", "urn:ngsi-ld:PointOfInterest:far"]
    );
    let d0 = h["shelters"][0]["distance"].as_f64().expect("distance");
    assert!((80.0..200.0).contains(&d0), "{d0}");
    let h = here(OUTSIDE.0, OUTSIDE.1).await.expect(200);
    assert_eq!(h["alerts"], json!([]));
    // The municipality point of 前橋市 itself: the geocode-only alert applies.
    let m = kizuna_cap::geocode::lookup("102016").expect("前橋市");
    let h = here(m.point.lat, m.point.lon).await.expect(200);
    let ids: Vec<&str> =
        h["alerts"].as_array().expect("alerts").iter().filter_map(|a| a["identifier"].as_str()).collect();
    assert!(ids.contains(&"city"), "{h}");
    // 前橋市 reaches the slopes of 赤城山, 14 km from its office: the alert applies there (a 3 km
    // circle around the office did not); 高崎駅, 9 km away in 高崎市, it does not.
    for (lat, lon, applies) in [(36.50, 139.20, true), (36.3227, 139.0126, false)] {
        let h = here(lat, lon).await.expect(200);
        let ids: Vec<&str> =
            h["alerts"].as_array().expect("alerts").iter().filter_map(|a| a["identifier"].as_str()).collect();
        assert_eq!(ids.contains(&"city"), applies, "({lat}, {lon}): {h}");
    }
    // Bad coordinates.
    s.get("/alerts/v1/here").query(&[("lat", "95"), ("lon", "139")]).send().await.problem(400, &["lat"]);
    s.get("/alerts/v1/here").query(&[("lat", "x"), ("lon", "139")]).send().await.problem(400, &["lat"]);
    s.get("/alerts/v1/here").query(&[("lat", "36")]).send().await.problem(400, &["lon"]);

    // The GeoJSON: 4 active alerts and the 4 open shelters.
    let r = s.get("/alerts/v1/active.geojson").send().await;
    assert!(r.header("content-type").unwrap_or_default().starts_with("application/geo+json"));
    let g = r.expect(200);
    assert_eq!(g["type"], "FeatureCollection");
    let features = g["features"].as_array().expect("features");
    let alerts: Vec<&Value> = features.iter().filter(|f| f["properties"]["kind"] == "alert").collect();
    let shelters: Vec<&Value> = features.iter().filter(|f| f["properties"]["kind"] == "shelter").collect();
    assert_eq!(alerts.len(), 4);
    assert_eq!(shelters.len(), 4);
    let l4 = alerts.iter().find(|f| f["properties"]["identifier"] == "l4").expect("l4");
    assert_eq!(l4["geometry"]["type"], "Polygon");
    assert_eq!(l4["properties"]["warningLevel"], 4.0);
    assert_eq!(l4["properties"]["severity"], "Severe");
    assert_eq!(l4["properties"]["event"]["en"], "Evacuation order");
    let l3 = alerts.iter().find(|f| f["properties"]["identifier"] == "l3").expect("l3");
    assert_eq!(l3["geometry"]["coordinates"][0].as_array().map(Vec::len), Some(33));
    let city = alerts.iter().find(|f| f["properties"]["identifier"] == "city").expect("city");
    assert_eq!(city["geometry"]["type"], "MultiPolygon", "the boundary of 前橋市");
    assert_eq!(city["geometry"], kizuna_cap::geocode::boundary("102016").map(|b| b.to_geojson()).expect("boundary"),);
    assert!(shelters.iter().all(|f| f["id"] != "urn:ngsi-ld:PointOfInterest:closed"));
    s.stop().await;
}

#[tokio::test]
async fn sse_stream_announces_issued_alerts() {
    let s = Server::start().await;
    let mut resp = s
        .client
        .get(format!("{}/alerts/v1/stream", s.origin))
        .header("NGSILD-Tenant", T1)
        .header("Accept", "text/event-stream")
        .send()
        .await
        .expect("stream");
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("text/event-stream")));
    s.issue(&level4("streamed")).await;
    let mut buf = String::new();
    let frame = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let chunk = resp.chunk().await.expect("chunk").expect("stream open");
            buf.push_str(&String::from_utf8_lossy(&chunk));
            if let Some(i) = buf.find("event: alert\n") {
                if let Some(end) = buf[i..].find("\n\n") {
                    return buf[i..i + end].to_string();
                }
            }
        }
    })
    .await
    .expect("an alert event within 10 s");
    let data: String = frame.lines().filter_map(|l| l.strip_prefix("data: ")).collect::<Vec<_>>().join("\n");
    let v: Value = serde_json::from_str(&data).expect("summary JSON");
    assert_eq!(v["identifier"], "streamed");
    assert_eq!(v["active"], true);
    drop(resp);
    s.stop().await;
}

/// A receiver on 127.0.0.1:0 keeping (content type, body) of every POST.
async fn medium_receiver() -> (String, Arc<std::sync::Mutex<Vec<(String, String)>>>) {
    use axum::extract::State;
    type Got = Arc<std::sync::Mutex<Vec<(String, String)>>>;
    let got: Got = Arc::default();
    let app = Router::new()
        .route(
            "/cap",
            axum::routing::post(|State(got): State<Got>, headers: axum::http::HeaderMap, body: String| async move {
                let ct = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                got.lock().expect("lock").push((ct, body));
                axum::http::StatusCode::NO_CONTENT
            }),
        )
        .with_state(got.clone());
    let (origin, _task) = kizuna_testkit::serve(app).await;
    (format!("{origin}/cap"), got)
}

#[tokio::test]
async fn media_registered_over_http_receive_cap_xml_with_receipts() {
    let s = Server::start().await;
    let (endpoint, got) = medium_receiver().await;
    let medium = json!({"name": "上毛テレビ", "endpoint": endpoint, "areas": {"geocodes": ["102016"]},
                        "minLevel": 4, "format": "cap+xml"});
    s.post("/alerts/v1/media").json(&medium).send().await.expect_status(401);
    let citizen = s.token(Role::Citizen, None, Some("urn:ngsi-ld:Person:x"));
    s.post("/alerts/v1/media").bearer(&citizen).json(&medium).send().await.expect_status(403);
    let bad = json!({"name": "x", "endpoint": "ftp://nope", "areas": {}, "format": "cap+xml"});
    s.post("/alerts/v1/media").bearer(&s.admin()).json(&bad).send().await.expect_status(400);
    let reg = s.post("/alerts/v1/media").bearer(&s.admin()).json(&medium).send().await.expect(201);
    assert!(reg["hmacSecret"].as_str().is_some_and(|h| h.len() == 64), "{reg}");
    let listed = s.get("/alerts/v1/media").bearer(&s.admin()).send().await.expect(200);
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert!(!listed.to_string().contains(reg["hmacSecret"].as_str().unwrap_or("?")), "the secret is shown again");

    s.issue(&level4("kizuna-media-1")).await;
    let start = std::time::Instant::now();
    while got.lock().expect("lock").is_empty() {
        assert!(start.elapsed() < Duration::from_secs(10), "the medium received nothing");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (ct, body) = got.lock().expect("lock")[0].clone();
    assert!(ct.starts_with("application/cap+xml"), "{ct}");
    let alert = kizuna_cap::parse(&body).expect("the medium received valid CAP");
    assert_eq!(alert.identifier, "kizuna-media-1");
    let start = std::time::Instant::now();
    loop {
        let r = s.get("/alerts/v1/alerts/kizuna-media-1/receipts").bearer(&s.admin()).send().await.expect(200);
        if r.to_string().contains("delivered") {
            assert!(r.to_string().contains("上毛テレビ"), "{r}");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "no delivered receipt: {r}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    s.stop().await;
}

#[tokio::test]
async fn opening_a_shelter_issues_its_alert_and_opens_it() {
    let s = Server::start().await;
    s.shelter("urn:ngsi-ld:PointOfInterest:test:shelter-x", 36.395, 139.05, false, 100, 0).await;
    let path = format!("/alerts/v1/shelters/{}/open", enc("urn:ngsi-ld:PointOfInterest:test:shelter-x"));
    s.post(&path).send().await.expect_status(401);
    let missing = format!("/alerts/v1/shelters/{}/open", enc("urn:ngsi-ld:PointOfInterest:test:nowhere"));
    s.post(&missing).bearer(&s.admin()).send().await.expect_status(404);
    let summary = s.post(&path).bearer(&s.admin()).json(&json!({"status": "Exercise"})).send().await.expect(201);
    let text = summary.to_string();
    assert!(text.contains("避難所開設") || text.contains("Shelter"), "{summary}");
    // The shelter is open now: /here lists it among the nearest open shelters.
    let here = s.get("/alerts/v1/here").query(&[("lat", "36.395"), ("lon", "139.05")]).send().await.expect(200);
    assert!(here.to_string().contains("shelter-x"), "{here}");
    let path = format!("/alerts/v1/shelters/{}/close", enc("urn:ngsi-ld:PointOfInterest:test:shelter-x"));
    s.post(&path).bearer(&s.admin()).json(&json!({"status": "Exercise"})).send().await.expect(201);
    let here = s.get("/alerts/v1/here").query(&[("lat", "36.395"), ("lon", "139.05")]).send().await.expect(200);
    let shelters = here["shelters"].to_string();
    assert!(!shelters.contains("shelter-x"), "closed shelter still listed: {here}");
    s.stop().await;
}
