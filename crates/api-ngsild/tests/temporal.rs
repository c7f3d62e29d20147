//! The temporal API over HTTP (ETSI GS CIM 009 §5.6.11–§5.6.16, §5.7.3, §5.7.4):
//! history recorded from the entity API, `POST /temporal/entities` and `.../attrs`,
//! retrieval with timerel/timeproperty/lastN, temporalValues and aggregatedValues,
//! `206 Partial Content` paging of long histories, queries across entities (type, q,
//! geo over the window), deletes, instance PATCH/DELETE, and the retention admin API.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use common::{enc, ids, TestServer};
use reqwest::Method;
use serde_json::{json, Value};

/// 2025-01-01T00:00:00Z plus `secs` seconds, as sent (`...Z`, whole seconds).
fn at(secs: i64) -> String {
    (Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).single().expect("base time") + chrono::Duration::seconds(secs))
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The same instant as the server writes it (milliseconds).
fn out(secs: i64) -> String {
    (Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).single().expect("base time") + chrono::Duration::seconds(secs))
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn hour(h: i64) -> String {
    at(h * 3600)
}

fn hout(h: i64) -> String {
    out(h * 3600)
}

fn prop(value: Value, observed: &str) -> Value {
    json!({"type": "Property", "value": value, "observedAt": observed})
}

/// `POST /temporal/entities`, asserting `status` (201 new, 204 added).
async fn temporal_post(srv: &TestServer, body: &Value, status: u16) {
    let r = srv.post("/temporal/entities").json(body).send().await;
    assert_eq!(r.status, status, "POST /temporal/entities: {}", r.text);
}

/// `GET /temporal/entities/{id}` with query pairs, asserting 200.
async fn history(srv: &TestServer, id: &str, pairs: &[(&str, &str)]) -> Value {
    let r = srv.get(&format!("/temporal/entities/{}", enc(id))).query(pairs).send().await;
    assert_eq!(r.status, 200, "GET temporal {id} {pairs:?}: {}", r.text);
    r.json()
}

/// The `value`s of a normalized temporal attribute (array of instances).
fn values(instances: &Value) -> Vec<Value> {
    instances
        .as_array()
        .unwrap_or_else(|| panic!("expected an array of instances, got {instances}"))
        .iter()
        .map(|i| i["value"].clone())
        .collect()
}

fn ints(v: impl IntoIterator<Item = i64>) -> Vec<Value> {
    v.into_iter().map(Value::from).collect()
}

const HOURLY: &str = "urn:ngsi-ld:Sensor:hourly";

/// 24 hourly readings on 2025-01-01: temperature = h at hour h, status "ok" for
/// h mod 6 < 4 and "warn" otherwise.
async fn hourly() -> TestServer {
    let srv = TestServer::start().await;
    let temps: Vec<Value> = (0..24).map(|h| prop(json!(h), &hour(h))).collect();
    let status: Vec<Value> = (0..24).map(|h| prop(json!(if h % 6 < 4 { "ok" } else { "warn" }), &hour(h))).collect();
    temporal_post(&srv, &json!({"id": HOURLY, "type": "Sensor", "temperature": temps, "status": status}), 201).await;
    srv
}

#[tokio::test]
async fn history_is_recorded_from_the_entity_api() {
    let srv = TestServer::start().await;
    let id = "urn:ngsi-ld:Sensor:1";
    srv.create(&json!({"id": id, "type": "Sensor", "temperature": prop(json!(20), &hour(0)), "name": "first"})).await;
    let r = srv.patch(&format!("/entities/{id}")).json(&json!({"temperature": prop(json!(21), &hour(1))})).send().await;
    r.expect(204);
    let r = srv
        .patch(&format!("/entities/{id}/attrs/temperature"))
        .json(&json!({"value": 22, "observedAt": hour(2)}))
        .send()
        .await;
    r.expect(204);
    let r = srv
        .put(&format!("/entities/{id}"))
        .json(&json!({"type": "Sensor", "temperature": prop(json!(23), &hour(3)), "name": "second"}))
        .send()
        .await;
    r.expect(204);
    let r =
        srv.post(&format!("/entities/{id}/attrs")).json(&json!({"humidity": prop(json!(50), &hour(3))})).send().await;
    r.expect(204);

    let h = history(&srv, id, &[]).await;
    assert_eq!(h["id"], id);
    assert_eq!(h["type"], "Sensor");
    assert_eq!(values(&h["temperature"]), ints([20, 21, 22, 23]));
    assert_eq!(values(&h["name"]), vec![json!("first"), json!("second")], "unchanged attributes are not re-recorded");
    assert_eq!(values(&h["humidity"]), ints([50]));
    let instances = h["temperature"].as_array().expect("instances");
    let mut seen = BTreeSet::new();
    for (i, inst) in instances.iter().enumerate() {
        assert_eq!(inst["type"], "Property");
        let iid = inst["instanceId"].as_str().unwrap_or_else(|| panic!("no instanceId: {inst}"));
        assert!(iid.starts_with("urn:ngsi-ld:attribute:instance:"), "{iid}");
        assert!(seen.insert(iid.to_string()), "instanceIds are unique");
        let observed = inst["observedAt"].as_str().expect("observedAt");
        assert_eq!(DateTime::parse_from_rfc3339(observed).ok(), DateTime::parse_from_rfc3339(&hour(i as i64)).ok());
    }

    // temporalValues: [value, time] pairs, oldest first.
    let h = history(&srv, id, &[("options", "temporalValues"), ("attrs", "temperature")]).await;
    assert_eq!(
        h,
        json!({"id": id, "type": "Sensor", "temperature": {"type": "Property", "values": [
            [20, hout(0)], [21, hout(1)], [22, hout(2)], [23, hout(3)]
        ]}})
    );
    // The other attributes are left out by attrs; several attrs may be named.
    let h = history(&srv, id, &[("attrs", "humidity,name")]).await;
    let keys: BTreeSet<&str> = h.as_object().expect("object").keys().map(String::as_str).collect();
    assert_eq!(keys, BTreeSet::from(["id", "type", "humidity", "name"]));

    // Relationships and LanguageProperties in temporalValues.
    srv.create(&json!({"id": "urn:ngsi-ld:Car:1", "type": "Car",
        "parkedIn": {"type": "Relationship", "object": "urn:ngsi-ld:Park:A", "observedAt": hour(0)},
        "label": {"type": "LanguageProperty", "languageMap": {"en": "one"}, "observedAt": hour(0)}}))
        .await;
    let r = srv
        .patch("/entities/urn:ngsi-ld:Car:1")
        .json(&json!({"parkedIn": {"type": "Relationship", "object": "urn:ngsi-ld:Park:B", "observedAt": hour(1)}}))
        .send()
        .await;
    r.expect(204);
    let h = history(&srv, "urn:ngsi-ld:Car:1", &[("options", "temporalValues")]).await;
    assert_eq!(
        h["parkedIn"],
        json!({"type": "Relationship", "objects": [["urn:ngsi-ld:Park:A", hout(0)], ["urn:ngsi-ld:Park:B", hout(1)]]})
    );
    assert_eq!(h["label"], json!({"type": "LanguageProperty", "languageMaps": [[{"en": "one"}, hout(0)]]}));
}

#[tokio::test]
async fn create_and_append_through_the_temporal_api() {
    let srv = TestServer::start().await;
    let id = "urn:ngsi-ld:Sensor:t";
    let r = srv
        .post("/temporal/entities")
        .json(&json!({"id": id, "type": "Sensor", "temperature": [prop(json!(1), &hour(1)), prop(json!(2), &hour(2))]}))
        .send()
        .await;
    r.expect(201);
    assert_eq!(r.header("location").as_deref(), Some("/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:Sensor:t"));
    // The same id again adds instances: 204. A single instance need not be in an array.
    temporal_post(&srv, &json!({"id": id, "type": "Sensor", "temperature": prop(json!(3), &hour(3))}), 204).await;
    let r = srv
        .post(&format!("/temporal/entities/{id}/attrs"))
        .json(&json!({"temperature": [prop(json!(0), &hour(0))], "humidity": prop(json!(40), &hour(2))}))
        .send()
        .await;
    r.expect(204);
    let h = history(&srv, id, &[]).await;
    assert_eq!(values(&h["temperature"]), ints([0, 1, 2, 3]), "ordered by observedAt, not by arrival");
    assert_eq!(values(&h["humidity"]), ints([40]));
    assert_eq!(h["type"], "Sensor");
    // A temporal-only entity is not a current entity.
    let r = srv.get(&format!("/entities/{id}")).send().await;
    r.problem(404, "ResourceNotFound", &[id]);

    let r = srv.post("/temporal/entities/urn:ngsi-ld:Sensor:none/attrs").json(&json!({"x": prop(json!(1), &hour(0))}));
    r.send().await.problem(404, "ResourceNotFound", &["urn:ngsi-ld:Sensor:none"]);
    let r = srv.post(&format!("/temporal/entities/{id}/attrs")).json(&json!({})).send().await;
    r.problem(400, "BadRequestData", &["no attribute instances"]);
    let r = srv.post(&format!("/temporal/entities/{id}/attrs")).json(&json!({"temperature": []})).send().await;
    r.problem(400, "BadRequestData", &["empty list of instances"]);
    let r = srv.post("/temporal/entities").json(&json!({"type": "Sensor", "t": prop(json!(1), &hour(0))})).send().await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = srv.get("/temporal/entities/urn:ngsi-ld:Sensor:none").send().await;
    r.problem(404, "ResourceNotFound", &["urn:ngsi-ld:Sensor:none"]);
    let r = srv.get("/temporal/entities/not%20a%20uri").send().await;
    r.problem(400, "BadRequestData", &[]);
}

#[tokio::test]
async fn timerel_windows() {
    let srv = hourly().await;
    let temps = |pairs: Vec<(&'static str, String)>| {
        let srv = &srv;
        async move {
            let mut q: Vec<(&str, &str)> = vec![("attrs", "temperature")];
            q.extend(pairs.iter().map(|(k, v)| (*k, v.as_str())));
            let h = history(srv, HOURLY, &q).await;
            match h.get("temperature") {
                Some(t) => values(t),
                None => Vec::new(),
            }
        }
    };
    // before: strictly before.
    assert_eq!(temps(vec![("timerel", "before".into()), ("timeAt", hour(5))]).await, ints(0..5));
    // after: strictly after.
    assert_eq!(temps(vec![("timerel", "after".into()), ("timeAt", hour(20))]).await, ints(21..24));
    // between: start inclusive, end exclusive.
    let between = |a: String, b: String| vec![("timerel", "between".to_string()), ("timeAt", a), ("endTimeAt", b)];
    assert_eq!(temps(between(hour(5), hour(8))).await, ints(5..8));
    assert_eq!(temps(between(at(5 * 3600 + 1), at(8 * 3600 + 1))).await, ints(6..9));
    assert_eq!(temps(between(hour(23), hour(30))).await, ints([23]));
    assert_eq!(temps(between(hour(0), at(1))).await, ints([0]));
    // Time zones and milliseconds are honoured: 14:00+09:00 is 05:00Z.
    assert_eq!(
        temps(vec![("timerel", "before".into()), ("timeAt", "2025-01-01T14:00:00+09:00".into())]).await,
        ints(0..5)
    );
    assert_eq!(
        temps(vec![("timerel", "after".into()), ("timeAt", "2025-01-01T22:59:59.999Z".into())]).await,
        ints([23])
    );
    // An empty window leaves the attribute out but still answers the entity.
    assert!(temps(vec![("timerel", "before".into()), ("timeAt", hour(0))]).await.is_empty());
    let h = history(&srv, HOURLY, &[("timerel", "after"), ("timeAt", &hour(23))]).await;
    assert_eq!(h, json!({"id": HOURLY, "type": "Sensor"}));
    // The window applies to every attribute.
    let h = history(&srv, HOURLY, &[("timerel", "between"), ("timeAt", &hour(4)), ("endTimeAt", &hour(6))]).await;
    assert_eq!(values(&h["status"]), vec![json!("warn"), json!("warn")]);
    assert_eq!(values(&h["temperature"]), ints([4, 5]));
}

#[tokio::test]
async fn last_n() {
    let srv = hourly().await;
    let h = history(&srv, HOURLY, &[("lastN", "3")]).await;
    assert_eq!(values(&h["temperature"]), ints([21, 22, 23]));
    assert_eq!(values(&h["status"]), vec![json!("ok"), json!("warn"), json!("warn")]);
    let h = history(&srv, HOURLY, &[("lastN", "100"), ("attrs", "temperature")]).await;
    assert_eq!(values(&h["temperature"]), ints(0..24));
    let h = history(&srv, HOURLY, &[("lastN", "1"), ("attrs", "temperature")]).await;
    assert_eq!(values(&h["temperature"]), ints([23]));
    // lastN within a window: the last of the window.
    let h = history(
        &srv,
        HOURLY,
        &[
            ("lastN", "2"),
            ("attrs", "temperature"),
            ("timerel", "between"),
            ("timeAt", &hour(5)),
            ("endTimeAt", &hour(8)),
        ],
    )
    .await;
    assert_eq!(values(&h["temperature"]), ints([6, 7]));
    let h =
        history(&srv, HOURLY, &[("lastN", "2"), ("attrs", "temperature"), ("timerel", "before"), ("timeAt", &hour(3))])
            .await;
    assert_eq!(values(&h["temperature"]), ints([1, 2]));
    let h = history(&srv, HOURLY, &[("lastN", "2"), ("attrs", "temperature"), ("options", "temporalValues")]).await;
    assert_eq!(h["temperature"], json!({"type": "Property", "values": [[22, hout(22)], [23, hout(23)]]}));
}

/// An aggregated series as (value, start, end) triples.
fn series(v: &Value) -> Vec<(Value, String, String)> {
    v.as_array()
        .unwrap_or_else(|| panic!("expected a series, got {v}"))
        .iter()
        .map(|t| {
            let t = t.as_array().unwrap_or_else(|| panic!("expected [value, start, end], got {t}"));
            assert_eq!(t.len(), 3, "{t:?}");
            (t[0].clone(), t[1].as_str().expect("start").to_string(), t[2].as_str().expect("end").to_string())
        })
        .collect()
}

/// Asserts a numeric series: values within 1e-9 and the exact bucket bounds.
#[track_caller]
fn assert_series(got: &Value, want: &[(f64, i64, i64)]) {
    let got = series(got);
    assert_eq!(got.len(), want.len(), "buckets: {got:?}");
    for ((v, s, e), (wv, ws, we)) in got.iter().zip(want) {
        let v = v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"));
        assert!((v - wv).abs() < 1e-9, "value {v} != {wv} in {got:?}");
        assert_eq!((s.as_str(), e.as_str()), (hout(*ws).as_str(), hout(*we).as_str()), "bounds in {got:?}");
    }
}

#[tokio::test]
async fn aggregated_values_per_period() {
    let srv = hourly().await;
    let methods = "totalCount,distinctCount,sum,avg,min,max,stddev,sumsq";
    let h = history(
        &srv,
        HOURLY,
        &[("options", "aggregatedValues"), ("aggrMethods", methods), ("aggrPeriodDuration", "PT6H")],
    )
    .await;
    let t = &h["temperature"];
    assert_eq!(t["type"], "Property");
    let bucket = |k: i64, f: &dyn Fn(i64) -> f64| (f(k), 6 * k, 6 * k + 6);
    let each = |f: &dyn Fn(i64) -> f64| (0..4).map(|k| bucket(k, f)).collect::<Vec<_>>();
    // Bucket k holds 6k..6k+5.
    assert_series(&t["totalCount"], &each(&|_| 6.0));
    assert_series(&t["distinctCount"], &each(&|_| 6.0));
    assert_series(&t["sum"], &each(&|k| (36 * k + 15) as f64));
    assert_series(&t["avg"], &each(&|k| 6.0 * k as f64 + 2.5));
    assert_series(&t["min"], &each(&|k| 6.0 * k as f64));
    assert_series(&t["max"], &each(&|k| 6.0 * k as f64 + 5.0));
    assert_series(&t["stddev"], &each(&|_| (17.5f64 / 6.0).sqrt()));
    assert_series(&t["sumsq"], &each(&|k| (0..6).map(|i| ((6 * k + i) * (6 * k + i)) as f64).sum()));
    // Counts are integers.
    assert_eq!(series(&t["totalCount"])[0].0, json!(6));
    // Strings: counted, not summed.
    let s = &h["status"];
    assert_series(&s["totalCount"], &each(&|_| 6.0));
    assert_series(&s["distinctCount"], &each(&|_| 2.0));
    assert!(series(&s["sum"]).iter().all(|(v, _, _)| v.is_null()), "{}", s["sum"]);
    assert!(series(&s["avg"]).iter().all(|(v, _, _)| v.is_null()), "{}", s["avg"]);

    let agg = |extra: Vec<(&'static str, String)>| {
        let srv = &srv;
        async move {
            let mut q: Vec<(&str, &str)> =
                vec![("options", "aggregatedValues"), ("aggrMethods", "sum,avg,totalCount"), ("attrs", "temperature")];
            q.extend(extra.iter().map(|(k, v)| (*k, v.as_str())));
            history(srv, HOURLY, &q).await["temperature"].clone()
        }
    };
    // No period: one bucket from the first to the last instance.
    let t = agg(vec![]).await;
    assert_series(&t["sum"], &[(276.0, 0, 23)]);
    assert_series(&t["avg"], &[(11.5, 0, 23)]);
    assert_series(&t["totalCount"], &[(24.0, 0, 23)]);
    let keys: BTreeSet<&str> = t.as_object().expect("object").keys().map(String::as_str).collect();
    assert_eq!(keys, BTreeSet::from(["type", "sum", "avg", "totalCount"]), "only the methods asked for");
    // P0D is "no period" too; P1D one day-long bucket.
    assert_series(&agg(vec![("aggrPeriodDuration", "P0D".into())]).await["sum"], &[(276.0, 0, 23)]);
    assert_series(&agg(vec![("aggrPeriodDuration", "P1D".into())]).await["sum"], &[(276.0, 0, 24)]);
    // Buckets start at the window start: between 03:00 and 09:00 holds 3..8.
    let t = agg(vec![
        ("aggrPeriodDuration", "PT6H".into()),
        ("timerel", "between".into()),
        ("timeAt", hour(3)),
        ("endTimeAt", hour(9)),
    ])
    .await;
    assert_series(&t["sum"], &[(33.0, 3, 9)]);
    assert_series(&t["avg"], &[(5.5, 3, 9)]);
    // after 03:00 (strict): 4..23 in buckets from 03:00.
    let t = agg(vec![("aggrPeriodDuration", "PT6H".into()), ("timerel", "after".into()), ("timeAt", hour(3))]).await;
    assert_series(&t["totalCount"], &[(5.0, 3, 9), (6.0, 9, 15), (6.0, 15, 21), (3.0, 21, 27)]);
    assert_series(&t["sum"], &[(30.0, 3, 9), (69.0, 9, 15), (105.0, 15, 21), (66.0, 21, 27)]);
    assert_series(&t["avg"], &[(6.0, 3, 9), (11.5, 9, 15), (17.5, 15, 21), (22.0, 21, 27)]);
    // PT90M: 16 buckets of 1 or 2 readings; P1DT... combinations parse.
    let t = agg(vec![("aggrPeriodDuration", "PT90M".into())]).await;
    let sums = series(&t["totalCount"]);
    assert_eq!(sums.len(), 16);
    assert_eq!(sums.iter().map(|(v, _, _)| v.as_i64().unwrap_or(0)).sum::<i64>(), 24);
    // An empty window: empty series.
    let t = agg(vec![("timerel", "before".into()), ("timeAt", hour(0))]).await;
    assert!(t.is_null(), "no instances, no attribute: {t}");
    // aggregatedValues in the query across entities too.
    let r = srv
        .get("/temporal/entities")
        .query(&[("type", "Sensor"), ("options", "aggregatedValues"), ("aggrMethods", "max"), ("attrs", "temperature")])
        .send()
        .await;
    let body = r.expect(200).json();
    assert_series(&body[0]["temperature"]["max"], &[(23.0, 0, 23)]);
}

#[tokio::test]
async fn timeproperty_created_and_modified() {
    let srv = TestServer::start().await;
    let id = "urn:ngsi-ld:Sensor:tp";
    let temps: Vec<Value> = (0..3).map(|h| prop(json!(h), &hour(h))).collect();
    temporal_post(&srv, &json!({"id": id, "type": "Sensor", "temperature": temps}), 201).await;
    let h = history(&srv, id, &[]).await;
    let iids: Vec<String> = h["temperature"]
        .as_array()
        .expect("instances")
        .iter()
        .map(|i| i["instanceId"].as_str().expect("instanceId").to_string())
        .collect();
    tokio::time::sleep(Duration::from_millis(30)).await;
    let t0 = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
    tokio::time::sleep(Duration::from_millis(30)).await;
    let r = srv.patch(&format!("/temporal/entities/{id}/attrs/temperature/{}", iids[1])).json(&json!({"value": 99}));
    r.send().await.expect(204);
    let r = srv.post(&format!("/temporal/entities/{id}/attrs")).json(&json!({"temperature": prop(json!(3), &hour(3))}));
    r.send().await.expect(204);

    let temps = |tp: &'static str, rel: &'static str| {
        let (srv, t0) = (&srv, t0.clone());
        async move {
            let h = history(srv, id, &[("timeproperty", tp), ("timerel", rel), ("timeAt", &t0)]).await;
            h.get("temperature").map(values).unwrap_or_default()
        }
    };
    assert_eq!(temps("modifiedAt", "after").await, ints([99, 3]));
    assert_eq!(temps("modifiedAt", "before").await, ints([0, 2]));
    assert_eq!(temps("createdAt", "after").await, ints([3]));
    assert_eq!(temps("createdAt", "before").await, ints([0, 99, 2]));
    assert_eq!(temps("observedAt", "before").await, ints([0, 99, 2, 3]), "all observed on 2025-01-01");
    assert_eq!(temps("observedAt", "after").await, Vec::<Value>::new());
    // The default is observedAt.
    let h = history(&srv, id, &[("timerel", "after"), ("timeAt", &hour(0))]).await;
    assert_eq!(values(&h["temperature"]), ints([99, 2, 3]));
    // temporalValues pair each value with the chosen time property.
    let h = history(&srv, id, &[("timeproperty", "modifiedAt"), ("options", "temporalValues")]).await;
    let pairs = h["temperature"]["values"].as_array().expect("values").clone();
    assert_eq!(pairs.len(), 4);
    let observations_end = DateTime::parse_from_rfc3339(&at(86_400)).expect("RFC 3339");
    for p in &pairs {
        let ts = p[1].as_str().unwrap_or_else(|| panic!("no time in {p}"));
        let ts = DateTime::parse_from_rfc3339(ts).expect("RFC 3339");
        assert!(ts > observations_end, "a recording time, not an observation time: {p}");
    }
    let modified_after: Vec<Value> =
        pairs.iter().filter(|p| p[1].as_str().unwrap_or("") > t0.as_str()).map(|p| p[0].clone()).collect();
    assert_eq!(modified_after, ints([99, 3]));
}

#[tokio::test]
async fn invalid_temporal_parameters() {
    let srv = hourly().await;
    let h1 = hour(1);
    let h2 = hour(2);
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("timerel", "before")], "timerel needs timeAt"),
        (vec![("timerel", "between"), ("endTimeAt", &h2)], "timerel needs timeAt"),
        (vec![("timeAt", &h1)], "need timerel"),
        (vec![("endTimeAt", &h1)], "need timerel"),
        (vec![("timerel", "between"), ("timeAt", &h1)], "needs endTimeAt"),
        (vec![("timerel", "between"), ("timeAt", &h1), ("endTimeAt", &h1)], "later than timeAt"),
        (vec![("timerel", "between"), ("timeAt", &h2), ("endTimeAt", &h1)], "later than timeAt"),
        (vec![("timerel", "during"), ("timeAt", &h1)], "timerel must be before, after or between"),
        (vec![("timerel", "before"), ("timeAt", "yesterday")], "timeAt 'yesterday' is not an RFC 3339"),
        (vec![("timerel", "before"), ("timeAt", "2025-01-01")], "not an RFC 3339"),
        (vec![("timerel", "between"), ("timeAt", &h1), ("endTimeAt", "soon")], "endTimeAt 'soon'"),
        (vec![("timeproperty", "observed")], "timeproperty must be observedAt, createdAt or modifiedAt"),
        (vec![("timeproperty", "deletedAt")], "not 'deletedAt'"),
        (vec![("lastN", "0")], "lastN must be a positive integer"),
        (vec![("lastN", "-1")], "lastN must be a positive integer"),
        (vec![("lastN", "three")], "'three'"),
        (vec![("options", "aggregatedValues")], "needs aggrMethods"),
        (vec![("options", "aggregatedValues"), ("aggrPeriodDuration", "PT1H")], "needs aggrMethods"),
        (vec![("options", "aggregatedValues"), ("aggrMethods", "median")], "unknown aggregation method 'median'"),
        (vec![("options", "aggregatedValues"), ("aggrMethods", "sum,AVG")], "'AVG'"),
        (vec![("options", "aggregatedValues"), ("aggrMethods", "sum,,avg")], "unknown aggregation method ''"),
        (vec![("options", "aggregatedValues"), ("aggrMethods", "sum"), ("aggrPeriodDuration", "6H")], "'6H'"),
        (vec![("options", "aggregatedValues"), ("aggrMethods", "sum"), ("aggrPeriodDuration", "PT")], "ISO 8601"),
        (vec![("options", "aggregatedValues"), ("aggrMethods", "sum"), ("aggrPeriodDuration", "P1X")], "ISO 8601"),
        (vec![("options", "aggregatedValues"), ("aggrMethods", "sum"), ("aggrPeriodDuration", "PT6")], "ISO 8601"),
        (vec![("options", "aggregatedValues"), ("aggrMethods", "sum"), ("aggrPeriodDuration", "P")], "ISO 8601"),
        (vec![("options", "bogus")], "unknown value 'bogus' in options"),
        (vec![("bogus", "1")], "'bogus'"),
    ];
    for (pairs, want) in &cases {
        let r = srv.get(&format!("/temporal/entities/{HOURLY}")).query(pairs).send().await;
        r.problem(400, "BadRequestData", &[want]);
        // The query across entities validates the same way.
        let mut q = pairs.clone();
        q.push(("type", "Sensor"));
        let r = srv.get("/temporal/entities").query(&q).send().await;
        r.problem(400, "BadRequestData", &[want]);
    }
    // Parameters are checked before the entity is looked up; a valid read of an unknown
    // entity is 404.
    let r = srv.get("/temporal/entities/urn:ngsi-ld:Sensor:none").query(&[("lastN", "0")]).send().await;
    r.problem(400, "BadRequestData", &["lastN"]);
    let r = srv.get("/temporal/entities/urn:ngsi-ld:Sensor:none").query(&[("lastN", "1")]).send().await;
    r.problem(404, "ResourceNotFound", &["urn:ngsi-ld:Sensor:none"]);
}

const LONG: &str = "urn:ngsi-ld:Meter:long";

/// 1500 readings of `power`, one per second from 00:00:00: value = second.
async fn long_history() -> TestServer {
    let srv = TestServer::start().await;
    let power: Vec<Value> = (0..1500).map(|s| prop(json!(s), &at(s))).collect();
    temporal_post(&srv, &json!({"id": LONG, "type": "Meter", "power": power}), 201).await;
    srv
}

#[tokio::test]
async fn more_than_1000_instances_is_206_with_content_range() {
    let srv = long_history().await;
    let r = srv.get(&format!("/temporal/entities/{LONG}")).send().await;
    r.expect(206);
    assert_eq!(r.header("content-range").as_deref(), Some(format!("date-time {}-{}/*", out(0), out(999)).as_str()));
    let first = values(&r.json()["power"]);
    assert_eq!(first, ints(0..1000));
    // The rest: after the end of the range.
    let r = srv
        .get(&format!("/temporal/entities/{LONG}"))
        .query(&[("timerel", "after"), ("timeAt", &out(999))])
        .send()
        .await;
    r.expect(200);
    assert!(r.header("content-range").is_none());
    let rest = values(&r.json()["power"]);
    assert_eq!(rest, ints(1000..1500));
    let mut all = first;
    all.extend(rest);
    assert_eq!(all, ints(0..1500), "no loss, no duplicate");

    // Exactly 1000 in the window is a full answer; 1001 is partial.
    let r = srv
        .get(&format!("/temporal/entities/{LONG}"))
        .query(&[("timerel", "before"), ("timeAt", &at(1000))])
        .send()
        .await;
    r.expect(200);
    assert!(r.header("content-range").is_none());
    assert_eq!(values(&r.json()["power"]).len(), 1000);
    let r = srv
        .get(&format!("/temporal/entities/{LONG}"))
        .query(&[("timerel", "before"), ("timeAt", &at(1001))])
        .send()
        .await;
    r.expect(206);
    assert_eq!(r.header("content-range").as_deref(), Some(format!("date-time {}-{}/*", out(0), out(999)).as_str()));
    // A window starting later: the range starts at its first instance.
    let r = srv
        .get(&format!("/temporal/entities/{LONG}"))
        .query(&[("timerel", "after"), ("timeAt", &at(199))])
        .send()
        .await;
    r.expect(206);
    assert_eq!(r.header("content-range").as_deref(), Some(format!("date-time {}-{}/*", out(200), out(1199)).as_str()));
    assert_eq!(values(&r.json()["power"]), ints(200..1200));
    // lastN below the limit is complete.
    let r = srv.get(&format!("/temporal/entities/{LONG}")).query(&[("lastN", "10")]).send().await;
    assert_eq!(values(&r.expect(200).json()["power"]), ints(1490..1500));
    // temporalValues are paged alike.
    let r = srv.get(&format!("/temporal/entities/{LONG}")).query(&[("options", "temporalValues")]).send().await;
    r.expect(206);
    let pairs = r.json()["power"]["values"].as_array().expect("values").clone();
    assert_eq!(pairs.len(), 1000);
    assert_eq!(pairs[999], json!([999, out(999)]));
    // The query across entities too.
    let r = srv.get("/temporal/entities").query(&[("type", "Meter")]).send().await;
    r.expect(206);
    assert_eq!(r.header("content-range").as_deref(), Some(format!("date-time {}-{}/*", out(0), out(999)).as_str()));
    assert_eq!(ids(&r.json()), vec![LONG.to_string()]);
    let r = srv
        .get("/temporal/entities")
        .query(&[("type", "Meter"), ("timerel", "after"), ("timeAt", &out(999))])
        .send()
        .await;
    assert_eq!(values(&r.expect(200).json()[0]["power"]), ints(1000..1500));
}

/// Pages a temporal entity with `timerel=after&timeAt=<end of Content-Range>` until the
/// answer is complete; returns every page's body.
async fn all_pages(srv: &TestServer, id: &str) -> Vec<Value> {
    let mut pages = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..10 {
        let mut q: Vec<(&str, &str)> = Vec::new();
        if let Some(a) = &after {
            q = vec![("timerel", "after"), ("timeAt", a)];
        }
        let r = srv.get(&format!("/temporal/entities/{}", enc(id))).query(&q).send().await;
        pages.push(r.json());
        if r.status == 200 {
            return pages;
        }
        r.expect(206);
        let range = r.header("content-range").expect("Content-Range on 206");
        let range = range.strip_prefix("date-time ").expect("date-time unit").strip_suffix("/*").expect("/*");
        // <start>-<end>, both RFC 3339 with milliseconds and Z (24 characters).
        after = Some(range[range.len() - 24..].to_string());
    }
    panic!("more than 10 pages");
}

/// Asserts that the pages together hold the integer values `0..n` of `attr` exactly once,
/// naming the duplicates and the missing values otherwise.
#[track_caller]
fn assert_exactly_once(pages: &[Value], attr: &str, n: i64) {
    let got: Vec<i64> = pages
        .iter()
        .flat_map(|p| p.get(attr).map(values).unwrap_or_default())
        .map(|v| v.as_i64().unwrap_or_else(|| panic!("not an integer: {v}")))
        .collect();
    let mut seen = BTreeSet::new();
    let dups: Vec<i64> = got.iter().copied().filter(|v| !seen.insert(*v)).collect();
    let missing: Vec<i64> = (0..n).filter(|v| !seen.contains(v)).collect();
    assert!(
        dups.is_empty() && missing.is_empty() && got.len() as i64 == n,
        "{attr} over {} pages: {} values, {} duplicates (first {:?}), {} missing (first {:?})",
        pages.len(),
        got.len(),
        dups.len(),
        dups.iter().take(5).collect::<Vec<_>>(),
        missing.len(),
        missing.iter().take(5).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn paging_two_attributes_of_different_density() {
    let srv = TestServer::start().await;
    let id = "urn:ngsi-ld:Meter:two";
    // power: 1500 readings, one per second; voltage: 1200 readings, one every 2 seconds.
    let power: Vec<Value> = (0..1500).map(|s| prop(json!(s), &at(s))).collect();
    let voltage: Vec<Value> = (0..1200).map(|i| prop(json!(i), &at(2 * i))).collect();
    temporal_post(&srv, &json!({"id": id, "type": "Meter", "power": power, "voltage": voltage}), 201).await;
    let pages = all_pages(&srv, id).await;
    assert_exactly_once(&pages, "power", 1500);
    assert_exactly_once(&pages, "voltage", 1200);
}

#[tokio::test]
async fn paging_with_equal_timestamps_at_the_cut() {
    let srv = TestServer::start().await;
    let id = "urn:ngsi-ld:Meter:ties";
    // 1002 readings: the 1000th and 1001st (values 999 and 1000) share their observedAt.
    let power: Vec<Value> = (0..1002).map(|i| prop(json!(i), &at(if i >= 1000 { i - 1 } else { i }))).collect();
    temporal_post(&srv, &json!({"id": id, "type": "Meter", "power": power}), 201).await;
    let pages = all_pages(&srv, id).await;
    assert_exactly_once(&pages, "power", 1002);
}

#[tokio::test]
async fn aggregation_covers_the_whole_window_beyond_1000_instances() {
    let srv = long_history().await;
    let r = srv
        .get(&format!("/temporal/entities/{LONG}"))
        .query(&[("options", "aggregatedValues"), ("aggrMethods", "totalCount,max")])
        .send()
        .await;
    let body = r.json();
    let count = series(&body["power"]["totalCount"]);
    let max = series(&body["power"]["max"]);
    assert_eq!((r.status, count[0].0.clone(), max[0].0.as_f64()), (200, json!(1500), Some(1499.0)), "{}", r.text);
}

/// Sensors A (temperature 10 + h) and B (40 - h) over 24 hours, and Other:1 (type Other,
/// temperature 100 at 00:00).
async fn fleet() -> TestServer {
    let srv = TestServer::start().await;
    let a: Vec<Value> = (0..24).map(|h| prop(json!(10 + h), &hour(h))).collect();
    let b: Vec<Value> = (0..24).map(|h| prop(json!(40 - h), &hour(h))).collect();
    temporal_post(&srv, &json!({"id": "urn:ngsi-ld:Sensor:A", "type": "Sensor", "temperature": a}), 201).await;
    temporal_post(&srv, &json!({"id": "urn:ngsi-ld:Sensor:B", "type": "Sensor", "temperature": b}), 201).await;
    temporal_post(
        &srv,
        &json!({"id": "urn:ngsi-ld:Other:1", "type": "Other", "temperature": prop(json!(100), &hour(0))}),
        201,
    )
    .await;
    srv
}

async fn temporal_query(srv: &TestServer, pairs: &[(&str, &str)]) -> Value {
    let r = srv.get("/temporal/entities").query(pairs).send().await;
    assert_eq!(r.status, 200, "GET /temporal/entities {pairs:?}: {}", r.text);
    r.json()
}

fn urns(short: &[&str]) -> Vec<String> {
    short.iter().map(|s| format!("urn:ngsi-ld:{s}")).collect()
}

#[tokio::test]
async fn query_across_entities_with_q_over_the_window() {
    let srv = fleet().await;
    let (h5, h10, h12, h20) = (hour(5), hour(10), hour(12), hour(20));
    let body = temporal_query(&srv, &[("type", "Sensor")]).await;
    assert_eq!(ids(&body), urns(&["Sensor:A", "Sensor:B"]));
    assert_eq!(values(&body[0]["temperature"]), ints(10..34));
    assert_eq!(
        ids(&temporal_query(&srv, &[("type", "Sensor"), ("q", "temperature>30")]).await),
        urns(&["Sensor:A", "Sensor:B"])
    );
    // Only B exceeds 30 before 05:00; its whole window is answered (not just the matches).
    let body =
        temporal_query(&srv, &[("type", "Sensor"), ("q", "temperature>30"), ("timerel", "before"), ("timeAt", &h5)])
            .await;
    assert_eq!(ids(&body), urns(&["Sensor:B"]));
    assert_eq!(values(&body[0]["temperature"]), ints([40, 39, 38, 37, 36]));
    // Only A exceeds 30 after 20:00.
    let body =
        temporal_query(&srv, &[("type", "Sensor"), ("q", "temperature>30"), ("timerel", "after"), ("timeAt", &h20)])
            .await;
    assert_eq!(ids(&body), urns(&["Sensor:A"]));
    assert_eq!(values(&body[0]["temperature"]), ints([31, 32, 33]));
    // Neither between 10:00 and 12:00 (A 20, 21; B 30, 29).
    let body = temporal_query(
        &srv,
        &[("type", "Sensor"), ("q", "temperature>30"), ("timerel", "between"), ("timeAt", &h10), ("endTimeAt", &h12)],
    )
    .await;
    assert_eq!(body, json!([]));
    let body = temporal_query(
        &srv,
        &[("type", "Sensor"), ("q", "temperature==20"), ("timerel", "between"), ("timeAt", &h10), ("endTimeAt", &h12)],
    )
    .await;
    assert_eq!(ids(&body), urns(&["Sensor:A"]));
    // Without type: q alone; with type selecting another type.
    assert_eq!(ids(&temporal_query(&srv, &[("q", "temperature>50")]).await), urns(&["Other:1"]));
    assert_eq!(ids(&temporal_query(&srv, &[("type", "Other")]).await), urns(&["Other:1"]));
    assert_eq!(
        ids(&temporal_query(&srv, &[("type", "Sensor,Other")]).await),
        urns(&["Other:1", "Sensor:A", "Sensor:B"])
    );
    assert_eq!(ids(&temporal_query(&srv, &[("idPattern", ":B$")]).await), urns(&["Sensor:B"]));
    assert_eq!(
        ids(&temporal_query(&srv, &[("id", "urn:ngsi-ld:Sensor:A,urn:ngsi-ld:Other:1")]).await),
        urns(&["Other:1", "Sensor:A"])
    );
    // An entity with nothing in the window does not satisfy attrs.
    let body = temporal_query(&srv, &[("attrs", "temperature"), ("timerel", "after"), ("timeAt", &h5)]).await;
    assert_eq!(ids(&body), urns(&["Sensor:A", "Sensor:B"]));
    // Representations and lastN apply per entity.
    let body = temporal_query(&srv, &[("type", "Sensor"), ("lastN", "1"), ("options", "temporalValues")]).await;
    assert_eq!(body[0]["temperature"], json!({"type": "Property", "values": [[33, hout(23)]]}));
    assert_eq!(body[1]["temperature"], json!({"type": "Property", "values": [[17, hout(23)]]}));

    // Paging by entity, with count.
    let r = srv
        .get("/temporal/entities")
        .query(&[("type", "Sensor,Other"), ("limit", "2"), ("count", "true")])
        .send()
        .await;
    assert_eq!(ids(&r.expect(200).json()), urns(&["Other:1", "Sensor:A"]));
    assert_eq!(r.header("ngsild-results-count").as_deref(), Some("3"));
    let r = srv
        .get("/temporal/entities")
        .query(&[("type", "Sensor,Other"), ("limit", "2"), ("offset", "2"), ("count", "true")])
        .send()
        .await;
    assert_eq!(ids(&r.expect(200).json()), urns(&["Sensor:B"]));
    assert_eq!(r.header("ngsild-results-count").as_deref(), Some("3"));
    let r = srv
        .get("/temporal/entities")
        .query(&[("q", "temperature>30"), ("timerel", "after"), ("timeAt", &h20), ("count", "true")])
        .send()
        .await;
    // Other:1 has no instance after 20:00; B's are all below 30.
    assert_eq!(r.expect(200).header("ngsild-results-count").as_deref(), Some("1"));
    assert_eq!(ids(&r.json()), urns(&["Sensor:A"]));

    // Errors.
    let r = srv.get("/temporal/entities").send().await;
    r.problem(400, "BadRequestData", &["at least one of type"]);
    let r = srv.get("/temporal/entities").query(&[("timerel", "after"), ("timeAt", &h5)]).send().await;
    r.problem(400, "BadRequestData", &["at least one of type"]);
    let r = srv.get("/temporal/entities").query(&[("type", "Sensor"), ("q", "temperature=1")]).send().await;
    r.problem(400, "BadRequestData", &["invalid q"]);
    let r = srv.get("/temporal/entities").query(&[("type", "Sensor"), ("limit", "1001")]).send().await;
    r.problem(403, "TooManyResults", &["1001"]);
    let r = srv.get("/temporal/entities").query(&[("type", "Sensor"), ("georel", "within")]).send().await;
    r.problem(400, "BadRequestData", &["needs all of georel, geometry and coordinates"]);
}

#[tokio::test]
async fn query_across_entities_with_geo_over_the_window() {
    let srv = TestServer::start().await;
    let here = json!({"type": "Point", "coordinates": [139.06, 36.39]});
    let there = json!({"type": "Point", "coordinates": [139.5, 36.5]});
    let tokyo = json!({"type": "Point", "coordinates": [139.6917, 35.6895]});
    let geo = |v: &Value, h: i64| json!({"type": "GeoProperty", "value": v, "observedAt": hour(h)});
    // Vehicle 1 is here at 00:00 and there from 05:00; vehicle 2 stays in Tokyo.
    temporal_post(
        &srv,
        &json!({"id": "urn:ngsi-ld:Vehicle:1", "type": "Vehicle", "location": [geo(&here, 0), geo(&there, 5)],
                "speed": [prop(json!(0), &hour(0)), prop(json!(60), &hour(5))]}),
        201,
    )
    .await;
    temporal_post(
        &srv,
        &json!({"id": "urn:ngsi-ld:Vehicle:2", "type": "Vehicle", "location": [geo(&tokyo, 0), geo(&tokyo, 5)]}),
        201,
    )
    .await;
    let (h3, near) =
        (hour(3), [("georel", "near;maxDistance==1000"), ("geometry", "Point"), ("coordinates", "[139.06,36.39]")]);
    let with = |extra: &[(&'static str, &str)]| {
        let mut v: Vec<(&str, String)> = near.iter().map(|(k, v)| (*k, v.to_string())).collect();
        v.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        v
    };
    let q = |pairs: Vec<(&'static str, String)>| {
        let srv = &srv;
        async move {
            let p: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            temporal_query(srv, &p).await
        }
    };
    assert_eq!(ids(&q(with(&[])).await), urns(&["Vehicle:1"]));
    assert_eq!(
        ids(&q(with(&[("type", "Vehicle"), ("timerel", "before"), ("timeAt", &h3)])).await),
        urns(&["Vehicle:1"])
    );
    // After 03:00 vehicle 1 is only "there": it no longer matches.
    assert_eq!(q(with(&[("type", "Vehicle"), ("timerel", "after"), ("timeAt", &h3)])).await, json!([]));
    let body = q(vec![
        ("georel", "near;maxDistance==1000".into()),
        ("geometry", "Point".into()),
        ("coordinates", "[139.5,36.5]".into()),
        ("timerel", "after".into()),
        ("timeAt", h3.clone()),
    ])
    .await;
    assert_eq!(ids(&body), urns(&["Vehicle:1"]));
    assert_eq!(values(&body[0]["speed"]), ints([60]));
    // Geo with q.
    assert_eq!(q(with(&[("q", "speed>10"), ("timerel", "before"), ("timeAt", &h3)])).await, json!([]));
    assert_eq!(ids(&q(with(&[("q", "speed>10")])).await), urns(&["Vehicle:1"]));
    // within a polygon around Tokyo.
    let body = temporal_query(
        &srv,
        &[
            ("georel", "within"),
            ("geometry", "Polygon"),
            ("coordinates", "[[[139.5,35.5],[140.0,35.5],[140.0,36.0],[139.5,36.0],[139.5,35.5]]]"),
        ],
    )
    .await;
    assert_eq!(ids(&body), urns(&["Vehicle:2"]));
    // Invalid geo is rejected as in the entity query.
    let r = srv
        .get("/temporal/entities")
        .query(&[
            ("georel", "near;maxDistance==10"),
            ("geometry", "Polygon"),
            ("coordinates", "[[[139,36],[140,36],[140,37],[139,36]]]"),
        ])
        .send()
        .await;
    r.problem(400, "BadRequestData", &["needs a Point"]);
}

#[tokio::test]
async fn deleting_history() {
    let srv = TestServer::start().await;
    let id = "urn:ngsi-ld:Sensor:d";
    let ds = "urn:ngsi-ld:dataset:a";
    let with_ds = |v: i64, h: i64| json!({"type": "Property", "value": v, "observedAt": hour(h), "datasetId": ds});
    let body = json!({"id": id, "type": "Sensor",
        "temperature": [prop(json!(1), &hour(0)), prop(json!(2), &hour(1)), with_ds(10, 0), with_ds(20, 1)],
        "humidity": prop(json!(50), &hour(0))});
    temporal_post(&srv, &body, 201).await;
    let h = history(&srv, id, &[("attrs", "temperature")]).await;
    assert_eq!(values(&h["temperature"]), ints([1, 10, 2, 20]));

    let del_attr = |attr: &'static str, q: &'static [(&'static str, &'static str)]| {
        let srv = &srv;
        async move { srv.delete(&format!("/temporal/entities/{id}/attrs/{attr}")).query(q).send().await }
    };
    del_attr("temperature", &[("datasetId", "urn:ngsi-ld:dataset:a")]).await.expect(204);
    let h = history(&srv, id, &[]).await;
    assert_eq!(values(&h["temperature"]), ints([1, 2]));
    assert!(h["temperature"].as_array().expect("instances").iter().all(|i| i.get("datasetId").is_none()));
    assert_eq!(values(&h["humidity"]), ints([50]), "other attributes untouched");
    // Without datasetId: the default instances.
    del_attr("temperature", &[]).await.expect(204);
    let h = history(&srv, id, &[]).await;
    assert!(h.get("temperature").is_none(), "{h}");
    del_attr("temperature", &[]).await.problem(404, "ResourceNotFound", &["no history of attribute 'temperature'"]);
    del_attr("temperature", &[("datasetId", "urn:ngsi-ld:dataset:none")]).await.problem(404, "ResourceNotFound", &[]);
    // deleteAll removes every dataset.
    let r = srv
        .post(&format!("/temporal/entities/{id}/attrs"))
        .json(&json!({"temperature": [prop(json!(3), &hour(2)), with_ds(30, 2)]}))
        .send()
        .await;
    r.expect(204);
    del_attr("temperature", &[("deleteAll", "maybe")]).await.problem(400, "BadRequestData", &["deleteAll", "'maybe'"]);
    del_attr("temperature", &[("deleteAll", "true")]).await.expect(204);
    assert!(history(&srv, id, &[]).await.get("temperature").is_none());
    del_attr("temperature", &[("deleteAll", "true")]).await.problem(404, "ResourceNotFound", &[]);
    del_attr("humidity", &[("bogus", "1")]).await.problem(400, "BadRequestData", &["'bogus'"]);
    let r = srv.delete("/temporal/entities/urn:ngsi-ld:Sensor:none/attrs/humidity").send().await;
    r.problem(404, "ResourceNotFound", &["urn:ngsi-ld:Sensor:none"]);

    // The whole entity history.
    srv.delete(&format!("/temporal/entities/{id}")).send().await.expect(204);
    srv.get(&format!("/temporal/entities/{id}")).send().await.problem(404, "ResourceNotFound", &[id]);
    srv.delete(&format!("/temporal/entities/{id}")).send().await.problem(404, "ResourceNotFound", &[id]);
    let r = srv.get("/temporal/entities").query(&[("type", "Sensor")]).send().await;
    assert_eq!(r.expect(200).json(), json!([]));

    // Deleting the history of a current entity leaves the entity; new changes are recorded again.
    let cur = "urn:ngsi-ld:Sensor:cur";
    srv.create(&json!({"id": cur, "type": "Sensor", "temperature": prop(json!(1), &hour(0))})).await;
    srv.delete(&format!("/temporal/entities/{cur}")).send().await.expect(204);
    assert_eq!(srv.entity(cur, "").await["temperature"]["value"], 1);
    let r = srv.patch(&format!("/entities/{cur}")).json(&json!({"temperature": prop(json!(2), &hour(1))})).send().await;
    r.expect(204);
    assert_eq!(values(&history(&srv, cur, &[]).await["temperature"]), ints([2]));
}

#[tokio::test]
async fn patching_and_deleting_one_instance() {
    let srv = TestServer::start().await;
    let id = "urn:ngsi-ld:Sensor:i";
    let body = json!({"id": id, "type": "Sensor",
        "temperature": [prop(json!(1), &hour(0)), prop(json!(2), &hour(1)), prop(json!(3), &hour(2))],
        "humidity": prop(json!(50), &hour(0))});
    temporal_post(&srv, &body, 201).await;
    let iid = |h: &Value, attr: &str, i: usize| h[attr][i]["instanceId"].as_str().expect("instanceId").to_string();
    let h = history(&srv, id, &[]).await;
    let (i0, i1, i2, hum) =
        (iid(&h, "temperature", 0), iid(&h, "temperature", 1), iid(&h, "temperature", 2), iid(&h, "humidity", 0));

    let path = |attr: &str, inst: &str| format!("/temporal/entities/{id}/attrs/{attr}/{inst}");
    srv.patch(&path("temperature", &i1)).json(&json!({"value": 99})).send().await.expect(204);
    let h = history(&srv, id, &[]).await;
    assert_eq!(values(&h["temperature"]), ints([1, 99, 3]));
    assert_eq!(iid(&h, "temperature", 1), i1, "the instance keeps its id");
    let observed = h["temperature"][1]["observedAt"].as_str().expect("observedAt");
    assert_eq!(DateTime::parse_from_rfc3339(observed).ok(), DateTime::parse_from_rfc3339(&hour(1)).ok());
    // A new observedAt moves the instance in time order.
    let r = srv.patch(&path("temperature", &i1)).json(&json!({"value": 98, "observedAt": hour(10)})).send().await;
    r.expect(204);
    let h = history(&srv, id, &[]).await;
    assert_eq!(values(&h["temperature"]), ints([1, 3, 98]));
    let h = history(&srv, id, &[("timerel", "after"), ("timeAt", &hour(5))]).await;
    assert_eq!(values(&h["temperature"]), ints([98]));

    let missing = "urn:ngsi-ld:attribute:instance:999999";
    srv.patch(&path("temperature", missing)).json(&json!({"value": 1})).send().await.problem(
        404,
        "ResourceNotFound",
        &[missing],
    );
    // An instance of another attribute is not found under this one.
    srv.patch(&path("temperature", &hum)).json(&json!({"value": 1})).send().await.problem(404, "ResourceNotFound", &[]);
    let r = srv
        .patch(&format!("/temporal/entities/urn:ngsi-ld:Sensor:none/attrs/temperature/{i0}"))
        .json(&json!({"value": 1}));
    r.send().await.problem(404, "ResourceNotFound", &["urn:ngsi-ld:Sensor:none"]);

    srv.delete(&path("temperature", &i0)).send().await.expect(204);
    assert_eq!(values(&history(&srv, id, &[]).await["temperature"]), ints([3, 98]));
    srv.delete(&path("temperature", &i0)).send().await.problem(404, "ResourceNotFound", &[&i0]);
    srv.delete(&path("temperature", "garbage")).send().await.problem(404, "ResourceNotFound", &[]);
    srv.delete(&path("temperature", &hum)).send().await.problem(404, "ResourceNotFound", &[]);
    srv.delete(&path("humidity", &hum)).send().await.expect(204);
    srv.delete(&path("temperature", &i2)).send().await.expect(204);
    assert_eq!(values(&history(&srv, id, &[]).await["temperature"]), ints([98]));
    assert!(history(&srv, id, &[]).await.get("humidity").is_none());
}

#[tokio::test]
async fn retention_admin_api() {
    let srv = TestServer::start().await;
    let admin = |m: Method, path: &str| srv.call_abs(m, &format!("/kizuna/v1/retention{path}"));
    let list = || async { admin(Method::GET, "").send().await };

    let r = list().await;
    assert_eq!(r.expect(200).content_type().as_deref(), Some("application/json"));
    assert_eq!(r.json(), json!([]));
    admin(Method::PUT, "/Sensor").json(&json!({"keep": "P30D"})).send().await.expect(204);
    assert_eq!(list().await.json(), json!([{"entityType": "Sensor", "keepSeconds": 2_592_000, "keep": "PT2592000S"}]));
    // PUT replaces; durations with several units; sub-second keeps round up to a second.
    admin(Method::PUT, "/Sensor").json(&json!({"keep": "PT1H"})).send().await.expect(204);
    admin(Method::PUT, "/Vehicle").json(&json!({"keep": "P1DT12H"})).send().await.expect(204);
    admin(Method::PUT, "/Meter").json(&json!({"keep": "PT0.1S"})).send().await.expect(204);
    assert_eq!(
        list().await.json(),
        json!([
            {"entityType": "Meter", "keepSeconds": 1, "keep": "PT1S"},
            {"entityType": "Sensor", "keepSeconds": 3600, "keep": "PT3600S"},
            {"entityType": "Vehicle", "keepSeconds": 129_600, "keep": "PT129600S"}
        ])
    );
    // Validation of "keep".
    let bad: &[(Value, &str)] = &[
        (json!({"keep": "30 days"}), "'30 days' is not an ISO 8601 duration"),
        (json!({"keep": "P"}), "ISO 8601"),
        (json!({"keep": "PT"}), "ISO 8601"),
        (json!({"keep": "1D"}), "ISO 8601"),
        (json!({"keep": "P1X"}), "ISO 8601"),
        (json!({"keep": 30}), "\"keep\""),
        (json!({}), "\"keep\""),
        (json!({"retain": "P1D"}), "\"keep\""),
    ];
    for (body, want) in bad {
        admin(Method::PUT, "/Sensor").json(body).send().await.problem(400, "BadRequestData", &[want]);
    }
    admin(Method::PUT, "/bad%20type").json(&json!({"keep": "P1D"})).send().await.problem(400, "BadRequestData", &[]);
    assert_eq!(list().await.json().as_array().map(Vec::len), Some(3), "nothing changed by bad requests");
    // DELETE: keep forever again; idempotent.
    admin(Method::DELETE, "/Sensor").send().await.expect(204);
    admin(Method::DELETE, "/Sensor").send().await.expect(204);
    admin(Method::DELETE, "/Meter/").send().await.expect(204);
    assert_eq!(list().await.json(), json!([{"entityType": "Vehicle", "keepSeconds": 129_600, "keep": "PT129600S"}]));
    // Terms are expanded with the request's context: the full IRI names the same type.
    let iri = format!("{}Vehicle", common::VOCAB);
    admin(Method::DELETE, &format!("/{}", enc(&iri))).send().await.expect(204);
    assert_eq!(list().await.json(), json!([]));
}
