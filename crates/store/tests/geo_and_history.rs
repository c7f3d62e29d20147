//! Geo-queries answered through the R*Tree pre-filter equal a brute-force evaluation
//! over all entities (property test over random geometries, valid by construction:
//! `near` only from a Point; refusals are counted, at most 10% — `common::Tally`), `near`
//! answers come in distance order, and retention removes exactly the history older than
//! its limit.

mod common;

use std::sync::OnceLock;

use kizuna_ngsild::entity::{now_timestamp, parse_entity};
use kizuna_ngsild::geoquery::{GeoQuery, GeoRel};
use kizuna_ngsild::{Attribute, Context, Entity};
use kizuna_store::{EntityQuery, Store, StoreError, TemporalFilter, TimeProperty, TimeRel, TypeSelector};
use proptest::prelude::*;
use serde_json::{json, Value};

const LOC: &str = "https://uri.etsi.org/ngsi-ld/location";

/// Random points, lines and small polygons around Maebashi (36.39N, 139.06E).
fn geometries() -> Vec<Value> {
    let mut seed: u64 = 7;
    let mut rnd = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((seed >> 11) as f64) / ((1u64 << 53) as f64)
    };
    (0..400)
        .map(|i| {
            let lon = 139.0 + rnd() * 0.12;
            let lat = 36.34 + rnd() * 0.10;
            match i % 4 {
                0 | 1 => json!({"type": "Point", "coordinates": [lon, lat]}),
                2 => json!({"type": "LineString", "coordinates": [[lon, lat], [lon + rnd() * 0.01, lat + rnd() * 0.01]]}),
                _ => {
                    let d = 0.001 + rnd() * 0.006;
                    json!({"type": "Polygon", "coordinates": [[[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d], [lon, lat]]]})
                }
            }
        })
        .collect()
}

struct Fixture {
    store: Store,
    all: Vec<Entity>,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_sqlite(dir.path()).expect("open");
        let now = now_timestamp();
        let all: Vec<Entity> = geometries()
            .into_iter()
            .enumerate()
            .map(|(i, g)| {
                let mut e = parse_entity(
                    &json!({"id": format!("urn:ngsi-ld:Place:{i:04}"), "type": "Place",
                            "location": {"type": "GeoProperty", "value": g}}),
                    &Context::core(),
                )
                .expect("valid");
                e.stamp_new(&now);
                e
            })
            .collect();
        let batch = all.clone();
        store
            .write("t", move |tx| {
                for e in &batch {
                    tx.insert(e)?;
                }
                Ok::<(), StoreError>(())
            })
            .expect("load");
        Fixture { store, all, _dir: dir }
    })
}

fn point() -> impl Strategy<Value = (String, String)> {
    (139.0f64..139.12, 36.34f64..36.44).prop_map(|(x, y)| ("Point".to_string(), format!("[{x},{y}]")))
}

fn polygon() -> impl Strategy<Value = (String, String)> {
    (139.0f64..139.12, 36.34f64..36.44, 0.002f64..0.05).prop_map(|(x, y, d)| {
        (
            "Polygon".to_string(),
            format!("[[[{x},{y}],[{},{y}],[{},{}],[{x},{}],[{x},{y}]]]", x + d, x + d, y + d, y + d),
        )
    })
}

/// A georel (`near` with its distance) and a reference geometry it accepts: `near` from a
/// Point only, the other relations from a Point or a Polygon.
fn relation_and_geometry() -> impl Strategy<Value = (String, (String, String))> {
    let near = (prop::sample::select(vec!["near;maxDistance==", "near;minDistance=="]), 10u32..5000)
        .prop_map(|(rel, dist)| format!("{rel}{dist}"));
    let other = prop::sample::select(vec!["within", "contains", "intersects", "overlaps", "disjoint", "equals"])
        .prop_map(str::to_string);
    prop_oneof![(near, point()), (other, prop_oneof![point(), polygon()])]
}

#[test]
fn indexed_geo_queries_equal_brute_force() {
    let strategy = (relation_and_geometry(), 1usize..50, 0usize..30, any::<bool>(), 0u8..3);
    common::run("indexed_geo_queries_equal_brute_force", 400, strategy, |input, tally| {
        let ((georel, (geometry, coords)), limit, offset, count, typed) = input;
        let geo = match GeoQuery::from_params(&georel, &geometry, &coords, None) {
            Ok(mut g) => {
                g.property = LOC.to_string();
                g
            }
            Err(e) => {
                tally.discarded(format!("refused: {}", e.detail));
                return Ok(());
            }
        };
        let f = fixture();
        let types = match typed {
            0 => None,
            1 => Some(TypeSelector(vec![vec![Context::core().expand("Place")]])),
            _ => Some(TypeSelector(vec![vec![Context::core().expand("Road")]])),
        };
        let query = EntityQuery { geo: Some(geo.clone()), types, limit, offset, count, ..Default::default() };
        let got = f.store.query("t", &query).expect("query");
        let mut expected: Vec<&Entity> = f.all.iter().filter(|e| query.matches(e)).collect();
        if matches!(geo.rel, GeoRel::Near { .. }) {
            expected.sort_by(|a, b| {
                let da = geo.entity_distance_m(a).unwrap_or(f64::INFINITY);
                let db = geo.entity_distance_m(b).unwrap_or(f64::INFINITY);
                da.total_cmp(&db).then_with(|| a.id.cmp(&b.id))
            });
        } else {
            expected.sort_by(|a, b| a.id.cmp(&b.id));
        }
        let want: Vec<&str> = expected.iter().skip(offset).take(limit).map(|e| e.id.as_str()).collect();
        let got_ids: Vec<&str> = got.entities.iter().map(|e| e.id.as_str()).collect();
        prop_assert_eq!(got_ids, want, "georel={} {} {}", georel, geometry, coords);
        prop_assert_eq!(got.total, count.then_some(expected.len() as u64));
        tally.checked();
        Ok(())
    });
}

#[test]
fn near_is_ordered_and_selective() {
    let f = fixture();
    let mut geo = GeoQuery::from_params("near;maxDistance==2000", "Point", "[139.06,36.39]", None).expect("valid");
    geo.property = LOC.into();
    let got =
        f.store.query("t", &EntityQuery { geo: Some(geo.clone()), limit: 1000, count: true, ..Default::default() });
    let got = got.expect("query");
    let n = got.total.expect("count");
    assert!(n > 0 && n < 400, "{n} of 400 within 2 km");
    let d: Vec<f64> = got.entities.iter().map(|e| geo.entity_distance_m(e).expect("distance")).collect();
    assert!(d.windows(2).all(|w| w[0] <= w[1]), "not in distance order: {d:?}");
    assert!(d.iter().all(|x| *x <= 2000.0));
}

fn reading(value: f64, observed: &str) -> Attribute {
    let mut a = Attribute::property(json!(value));
    a.observed_at = Some(observed.to_string());
    a.modified_at = Some(now_timestamp());
    a
}

#[test]
fn retention_removes_exactly_what_is_older_than_the_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_sqlite(dir.path()).expect("open");
    let ctx = Context::core();
    let loc_type = vec![ctx.expand("ChildLocation")];
    let other_type = vec![ctx.expand("RiverLevel")];
    let attr = ctx.expand("position");
    // Readings one per hour from 00:00 to 23:00 on 2026-11-01, for two entity types.
    let hours: Vec<String> = (0..24).map(|h| format!("2026-11-01T{h:02}:00:00Z")).collect();
    let readings: Vec<(String, Attribute)> =
        hours.iter().enumerate().map(|(i, t)| (attr.clone(), reading(i as f64, t))).collect();
    let (r1, r2) = (readings.clone(), readings);
    let (lt, ot) = (loc_type.clone(), other_type.clone());
    store
        .write("city", move |tx| {
            tx.append_history("urn:ngsi-ld:ChildLocation:1", &lt, &r1)?;
            tx.append_history("urn:ngsi-ld:RiverLevel:1", &ot, &r2)?;
            tx.set_retention(&lt[0], Some(6 * 3600))
        })
        .expect("write");
    // "Now" is 2026-11-01T20:30Z: keep 6 h → drop everything observed before 14:30.
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-01T20:30:00Z").expect("time").timestamp_millis();
    let removed = store.purge_history(now).expect("purge");
    assert_eq!(removed, vec![("city".to_string(), loc_type[0].clone(), 15)]); // 00:00 .. 14:00
    let f = TemporalFilter { instance_limit: 1000, ..Default::default() };
    let kept = store.temporal_entity("city", "urn:ngsi-ld:ChildLocation:1", &f).expect("read").expect("exists");
    let times: Vec<&str> = kept.entity.attrs[&attr].iter().filter_map(|a| a.observed_at.as_deref()).collect();
    assert_eq!(times, hours[15..].iter().map(String::as_str).collect::<Vec<_>>());
    // Other types and other tenants are untouched.
    let river = store.temporal_entity("city", "urn:ngsi-ld:RiverLevel:1", &f).expect("read").expect("exists");
    assert_eq!(river.entity.attrs[&attr].len(), 24);
    // A second purge at the same time removes nothing more.
    assert!(store.purge_history(now).expect("purge").is_empty());
}

#[test]
fn history_window_and_last_n() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_sqlite(dir.path()).expect("open");
    let ctx = Context::core();
    let attr = ctx.expand("level");
    let ty = vec![ctx.expand("River")];
    let rs: Vec<(String, Attribute)> =
        (0..10).map(|m| (attr.clone(), reading(m as f64, &format!("2026-11-01T10:{m:02}:00Z")))).collect();
    store.write("", move |tx| tx.append_history("urn:ngsi-ld:River:1", &ty, &rs)).expect("write");
    let ms = |s: &str| chrono::DateTime::parse_from_rfc3339(s).expect("t").timestamp_millis();
    let window = TemporalFilter {
        timerel: Some(TimeRel::Between(ms("2026-11-01T10:03:00Z"), ms("2026-11-01T10:07:00Z"))),
        timeproperty: TimeProperty::ObservedAt,
        instance_limit: 1000,
        ..Default::default()
    };
    let te = store.temporal_entity("", "urn:ngsi-ld:River:1", &window).expect("read").expect("exists");
    let vals: Vec<f64> = te.entity.attrs[&attr].iter().filter_map(|a| a.value.as_f64()).collect();
    assert_eq!(vals, vec![3.0, 4.0, 5.0, 6.0]); // between: start inclusive, end exclusive
    let last = TemporalFilter { last_n: Some(3), instance_limit: 1000, ..Default::default() };
    let te = store.temporal_entity("", "urn:ngsi-ld:River:1", &last).expect("read").expect("exists");
    let vals: Vec<f64> = te.entity.attrs[&attr].iter().filter_map(|a| a.value.as_f64()).collect();
    assert_eq!(vals, vec![7.0, 8.0, 9.0]);
    let limited = TemporalFilter { instance_limit: 4, ..Default::default() };
    let te = store.temporal_entity("", "urn:ngsi-ld:River:1", &limited).expect("read").expect("exists");
    assert_eq!(te.entity.attrs[&attr].len(), 4);
    assert_eq!(te.truncated.len(), 1);
}
