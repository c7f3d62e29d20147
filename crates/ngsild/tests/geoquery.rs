//! Tests of the NGSI-LD geo-query language (clause 4.10): parsing (GET parameters and
//! `geoQ` objects, every error named), each georel on hand-made geometries around
//! Maebashi (139.06 E, 36.39 N) including boundary cases, geodesic distance accuracy
//! against independently computed references, and properties: the R-tree search box
//! never loses a match, and `near` agrees with `distance_m`.

use std::collections::BTreeMap;

use kizuna_ngsild::entity::{AttrKind, Attribute, Entity};
use kizuna_ngsild::geoquery::{bbox_of, BBox, GeoQuery, GeoRel};
use kizuna_ngsild::ErrorKind;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_json::{json, Value};

/// Maebashi city hall.
const MAEBASHI: [f64; 2] = [139.06, 36.39];
/// Takasaki station.
const TAKASAKI: [f64; 2] = [139.0036, 36.3219];
/// Kiryu city hall, east of the reference square.
const KIRYU: [f64; 2] = [139.33, 36.405];
/// Maebashi → Takasaki on WGS84 (independent Vincenty inverse, converged to 1e-14 rad).
const MAEBASHI_TAKASAKI_M: f64 = 9_095.673_774;

/// The reference square around Maebashi: 139.0–139.1 E, 36.3–36.5 N.
fn square() -> Value {
    json!([[[139.0, 36.3], [139.1, 36.3], [139.1, 36.5], [139.0, 36.5], [139.0, 36.3]]])
}

fn q(georel: &str, geometry: &str, coordinates: Value) -> GeoQuery {
    GeoQuery::from_params(georel, geometry, &coordinates.to_string(), None).expect("valid query")
}

fn point(c: [f64; 2]) -> Value {
    json!({"type": "Point", "coordinates": c})
}

fn poly(c: Value) -> Value {
    json!({"type": "Polygon", "coordinates": c})
}

fn line(c: Value) -> Value {
    json!({"type": "LineString", "coordinates": c})
}

// ---------------------------------------------------------------------------------
// Parsing

#[test]
fn parses_valid_params() {
    let near_max = GeoRel::Near { max_distance: Some(2000.0), min_distance: None };
    let cases: Vec<(&str, &str, String, Option<&str>, GeoRel)> = vec![
        ("near;maxDistance==2000", "Point", "[139.06,36.39]".into(), None, near_max),
        ("near;maxDistance==2000", "Point", "%5B139.06%2C36.39%5D".into(), None, near_max),
        ("near;maxDistance==2000", "Point", " [ 139.06 , 36.39 ] ".into(), None, near_max),
        ("near;maxDistance==2e3", "Point", "[139.06,36.39,120.5]".into(), None, near_max),
        (
            "near;minDistance==0",
            "Point",
            "[139.06,36.39]".into(),
            None,
            GeoRel::Near { max_distance: None, min_distance: Some(0.0) },
        ),
        ("within", "Polygon", square().to_string(), Some("observationSpace"), GeoRel::Within),
        ("contains", "Point", "[139.06,36.39]".into(), None, GeoRel::Contains),
        ("intersects", "LineString", "[[139,36],[140,37]]".into(), None, GeoRel::Intersects),
        ("overlaps", "MultiPolygon", format!("[{}]", square()), None, GeoRel::Overlaps),
        ("disjoint", "MultiPoint", "[[139,36],[140,37]]".into(), None, GeoRel::Disjoint),
        ("equals", "MultiLineString", "[[[139,36],[140,37]]]".into(), None, GeoRel::Equals),
    ];
    for (georel, geometry, coords, prop, rel) in cases {
        let got = GeoQuery::from_params(georel, geometry, &coords, prop)
            .unwrap_or_else(|e| panic!("{georel} {geometry} {coords}: {e}"));
        assert_eq!(got.rel, rel, "{georel}");
        assert_eq!(got.property, prop.unwrap_or("location"));
        assert_eq!(got.geometry["type"], json!(geometry));
        assert!(got.geometry["coordinates"].is_array());
    }
    let g = GeoQuery::from_params("near;maxDistance==10", "Point", "%5B139.06%2C36.39%5D", None).expect("valid");
    assert_eq!(g.geometry, point(MAEBASHI));
}

#[test]
fn rejects_invalid_params_with_precise_errors() {
    let sq = square().to_string();
    let open_ring = "[[[139.0,36.3],[139.1,36.3],[139.1,36.5],[139.0,36.5]]]";
    let cases: Vec<(&str, &str, &str, Option<&str>, &str)> = vec![
        ("nearby", "Point", "[139,36]", None, "unknown georel 'nearby'"),
        ("", "Point", "[139,36]", None, "unknown georel ''"),
        ("Within", "Point", "[139,36]", None, "unknown georel 'Within'"),
        ("near", "Point", "[139,36]", None, "georel near needs a distance"),
        ("near;", "Point", "[139,36]", None, "georel near needs a distance"),
        ("near;maxDistance==-5", "Point", "[139,36]", None, "must not be negative (got -5)"),
        ("near;minDistance==-0.1", "Point", "[139,36]", None, "must not be negative"),
        ("near;maxDistance==abc", "Point", "[139,36]", None, "near distance 'abc' is not a number"),
        ("near;maxDistance==NaN", "Point", "[139,36]", None, "is not a number"),
        ("near;maxDistance==inf", "Point", "[139,36]", None, "is not a number"),
        ("near;maxDistance==", "Point", "[139,36]", None, "is not a number"),
        ("near;maxDistance=100", "Point", "[139,36]", None, "expects maxDistance==N or minDistance==N"),
        ("near;maxDistance==1;minDistance==2", "Point", "[139,36]", None, "exactly one of maxDistance and minDistance"),
        ("near;radius==5", "Point", "[139,36]", None, "unknown near modifier 'radius'"),
        ("within;maxDistance==5", "Polygon", &sq, None, "georel 'within' takes no modifier"),
        ("within", "Circle", "[139,36]", None, "geometry 'Circle' is not supported"),
        ("within", "point", "[139,36]", None, "geometry 'point' is not supported"),
        ("within", "GeometryCollection", "[]", None, "geometry 'GeometryCollection' is not supported"),
        ("intersects", "Point", "139.06,36.39", None, "coordinates are not JSON"),
        ("intersects", "Point", "[139.06,36.39", None, "coordinates are not JSON"),
        ("intersects", "Point", "%5B139.06", None, "coordinates are not JSON"),
        ("intersects", "Point", "{\"lon\":139}", None, "coordinates must be a JSON array"),
        ("intersects", "Point", "[[139.06,36.39]]", None, "not a valid Point: a position has 2 or 3 numbers"),
        ("intersects", "Point", "[139.06]", None, "not a valid Point"),
        ("intersects", "Point", "[\"139\",36]", None, "not a valid Point"),
        ("intersects", "LineString", "[[139,36]]", None, "not a valid LineString"),
        ("intersects", "LineString", "[139,36]", None, "not a valid LineString"),
        ("intersects", "Polygon", "[[139,36],[140,36],[140,37],[139,36]]", None, "not a valid Polygon"),
        ("intersects", "Polygon", "[[[139,36],[140,36],[139,36]]]", None, "not a valid Polygon"),
        ("intersects", "Polygon", open_ring, None, "polygon ring must be closed"),
        ("intersects", "MultiPolygon", &sq, None, "not a valid MultiPolygon"),
        ("intersects", "MultiPoint", "[]", None, "not a valid MultiPoint"),
        ("intersects", "Point", "[200,36]", None, "longitude 200 is out of range"),
        ("intersects", "Point", "[139,95]", None, "latitude 95 is out of range"),
        ("near;maxDistance==100", "Polygon", &sq, None, "georel near needs a Point reference geometry (got Polygon)"),
        ("near;maxDistance==100", "MultiPoint", "[[139,36]]", None, "needs a Point reference geometry"),
        ("within", "Polygon", &sq, Some(""), "geoproperty: an attribute name is empty"),
        ("within", "Polygon", &sq, Some("my location"), "forbidden character"),
    ];
    for (georel, geometry, coords, prop, want) in cases {
        let err = GeoQuery::from_params(georel, geometry, coords, prop)
            .expect_err(&format!("{georel} {geometry} {coords} should fail"));
        assert_eq!(err.kind, ErrorKind::BadRequestData, "{georel} {geometry} {coords}");
        assert!(err.detail.contains(want), "{georel} {geometry} {coords}: '{}' lacks '{want}'", err.detail);
    }
}

#[test]
fn parses_geoq_objects() {
    let a = GeoQuery::from_json(&json!({
        "georel": "near;maxDistance==2000", "geometry": "Point", "coordinates": [139.06, 36.39]
    }))
    .expect("array coordinates");
    let b = GeoQuery::from_json(&json!({
        "type": "GeoQuery", "georel": "near;maxDistance==2000", "geometry": "Point",
        "coordinates": "[139.06,36.39]", "geoproperty": "location"
    }))
    .expect("string coordinates");
    assert_eq!(a, b);
    assert_eq!(GeoQuery::from_json(&a.to_json()).expect("round trip"), a);
    let c = GeoQuery::from_json(&json!({
        "georel": "within", "geometry": "Polygon", "coordinates": square(), "geoproperty": "observationSpace"
    }))
    .expect("polygon");
    assert_eq!(c.property, "observationSpace");
    assert_eq!(GeoQuery::from_json(&c.to_json()).expect("round trip"), c);

    let cases: Vec<(Value, &str)> = vec![
        (json!("near"), "geoQ must be a JSON object"),
        (json!({"geometry": "Point", "coordinates": [139, 36]}), "geoQ needs 'georel'"),
        (json!({"georel": "within", "coordinates": [139, 36]}), "geoQ needs 'geometry'"),
        (json!({"georel": "within", "geometry": "Point"}), "geoQ needs 'coordinates'"),
        (json!({"georel": 5, "geometry": "Point", "coordinates": [139, 36]}), "geoQ 'georel' must be a string"),
        (json!({"georel": "within", "geometry": "Point", "coordinates": 139}), "'coordinates' must be an array"),
        (json!({"georel": "within", "geometry": "Point", "coordinates": "x"}), "coordinates are not JSON"),
        (
            json!({"georel": "within", "geometry": "Point", "coordinates": [139, 36], "geoproperty": 1}),
            "'geoproperty' must be a string",
        ),
        (json!({"georel": "near", "geometry": "Point", "coordinates": [139, 36]}), "near needs a distance"),
        (json!({"georel": "within", "geometry": "Point", "coordinates": [139, -91]}), "latitude -91"),
    ];
    for (v, want) in cases {
        let err = GeoQuery::from_json(&v).expect_err(&v.to_string());
        assert_eq!(err.kind, ErrorKind::BadRequestData);
        assert!(err.detail.contains(want), "{v}: '{}' lacks '{want}'", err.detail);
    }
}

// ---------------------------------------------------------------------------------
// Relations

/// Runs `(entity geometry, expected)` cases against one query.
fn check(query: &GeoQuery, cases: &[(&str, Value, bool)]) {
    for (name, g, want) in cases {
        assert_eq!(query.matches_geometry(g), *want, "{} / {name}: {g}", query.rel.to_georel());
        if *want && query.rel != GeoRel::Disjoint {
            let (b, s) = (bbox_of(g).expect("bbox"), query.search_bbox().expect("search box"));
            assert!(b.intersects(&s), "{name}: search box {s:?} misses {b:?}");
        }
    }
}

#[test]
fn within() {
    let query = q("within", "Polygon", square());
    check(
        &query,
        &[
            ("city hall", point(MAEBASHI), true),
            ("on the west edge", point([139.0, 36.39]), false),
            ("a corner", point([139.0, 36.3]), false),
            ("outside", point(KIRYU), false),
            ("the square itself", poly(square()), true),
            ("inner square", poly(json!([[[139.02, 36.35], [139.08, 36.35], [139.08, 36.45], [139.02, 36.35]]])), true),
            (
                "inside, sharing the west edge",
                poly(json!([[[139.0, 36.3], [139.05, 36.3], [139.0, 36.5], [139.0, 36.3]]])),
                true,
            ),
            ("sticking out", poly(json!([[[139.05, 36.35], [139.2, 36.35], [139.2, 36.45], [139.05, 36.35]]])), false),
            ("line inside", line(json!([[139.01, 36.31], [139.09, 36.49]])), true),
            ("line from the edge inwards", line(json!([[139.0, 36.39], [139.05, 36.39]])), true),
            ("line along the edge", line(json!([[139.0, 36.31], [139.0, 36.49]])), false),
            ("line crossing out", line(json!([[139.05, 36.39], [139.2, 36.39]])), false),
            ("multipoint inside", json!({"type": "MultiPoint", "coordinates": [MAEBASHI, [139.01, 36.31]]}), true),
            ("multipoint half out", json!({"type": "MultiPoint", "coordinates": [MAEBASHI, KIRYU]}), false),
            ("3D point inside", json!({"type": "Point", "coordinates": [139.06, 36.39, 120.0]}), true),
            ("not a geometry", json!("139.06,36.39"), false),
            ("collection inside", json!({"type": "GeometryCollection", "geometries": [point(MAEBASHI)]}), true),
        ],
    );
    // Holes: a point in the hole is not within the polygon.
    let holed = q(
        "within",
        "Polygon",
        json!([
            [[139.0, 36.3], [139.1, 36.3], [139.1, 36.5], [139.0, 36.5], [139.0, 36.3]],
            [[139.05, 36.38], [139.07, 36.38], [139.07, 36.40], [139.05, 36.40], [139.05, 36.38]]
        ]),
    );
    check(&holed, &[("in the hole", point(MAEBASHI), false), ("in the ring", point([139.02, 36.32]), true)]);
}

#[test]
fn contains() {
    let query = q("contains", "Polygon", square());
    let big = poly(json!([[[138.9, 36.2], [139.2, 36.2], [139.2, 36.6], [138.9, 36.6], [138.9, 36.2]]]));
    check(
        &query,
        &[
            ("bigger square", big.clone(), true),
            ("the square itself", poly(square()), true),
            (
                "inner square",
                poly(json!([[[139.02, 36.35], [139.08, 36.35], [139.08, 36.45], [139.02, 36.35]]])),
                false,
            ),
            ("a point", point(MAEBASHI), false),
            (
                "overlapping",
                poly(json!([[[139.05, 36.2], [139.2, 36.2], [139.2, 36.6], [139.05, 36.6], [139.05, 36.2]]])),
                false,
            ),
        ],
    );
    let at_point = q("contains", "Point", json!(MAEBASHI));
    check(
        &at_point,
        &[
            ("square around it", poly(square()), true),
            (
                "square with it on the edge",
                poly(json!([[[139.06, 36.3], [139.1, 36.3], [139.1, 36.5], [139.06, 36.5], [139.06, 36.3]]])),
                false,
            ),
            ("line through it", line(json!([[139.0, 36.39], [139.1, 36.39]])), true),
            ("line ending at it", line(json!([[139.0, 36.39], [139.06, 36.39]])), false),
            ("the same point", point(MAEBASHI), true),
            ("another point", point(KIRYU), false),
        ],
    );
}

#[test]
fn intersects_and_disjoint() {
    let cases = [
        ("inside", point(MAEBASHI), true),
        ("on the edge", point([139.1, 36.4]), true),
        ("a corner", point([139.1, 36.5]), true),
        ("outside", point(KIRYU), false),
        (
            "touching square",
            poly(json!([[[139.1, 36.3], [139.2, 36.3], [139.2, 36.5], [139.1, 36.5], [139.1, 36.3]]])),
            true,
        ),
        (
            "corner-touching square",
            poly(json!([[[139.1, 36.5], [139.2, 36.5], [139.2, 36.6], [139.1, 36.6], [139.1, 36.5]]])),
            true,
        ),
        (
            "separate square",
            poly(json!([[[139.2, 36.3], [139.3, 36.3], [139.3, 36.5], [139.2, 36.5], [139.2, 36.3]]])),
            false,
        ),
        ("crossing line", line(json!([[138.9, 36.4], [139.2, 36.4]])), true),
        ("line passing by", line(json!([[138.9, 36.6], [139.2, 36.6]])), false),
        (
            "enclosing square",
            poly(json!([[[138.0, 35.0], [140.0, 35.0], [140.0, 37.0], [138.0, 37.0], [138.0, 35.0]]])),
            true,
        ),
    ];
    check(&q("intersects", "Polygon", square()), &cases);
    let negated: Vec<(&str, Value, bool)> = cases.iter().map(|(n, g, w)| (*n, g.clone(), !w)).collect();
    let disjoint = q("disjoint", "Polygon", square());
    check(&disjoint, &negated);
    assert_eq!(disjoint.search_bbox(), None);
    assert!(!disjoint.matches_geometry(&json!({"type": "Point"})), "a non-geometry is not disjoint either");
}

#[test]
fn overlaps() {
    let query = q("overlaps", "Polygon", square());
    check(
        &query,
        &[
            (
                "half over the east edge",
                poly(json!([[[139.05, 36.35], [139.2, 36.35], [139.2, 36.45], [139.05, 36.45], [139.05, 36.35]]])),
                true,
            ),
            ("inside", poly(json!([[[139.02, 36.35], [139.08, 36.35], [139.08, 36.45], [139.02, 36.35]]])), false),
            ("the square itself", poly(square()), false),
            (
                "enclosing",
                poly(json!([[[138.0, 35.0], [140.0, 35.0], [140.0, 37.0], [138.0, 37.0], [138.0, 35.0]]])),
                false,
            ),
            (
                "touching",
                poly(json!([[[139.1, 36.3], [139.2, 36.3], [139.2, 36.5], [139.1, 36.5], [139.1, 36.3]]])),
                false,
            ),
            ("crossing line (other dimension)", line(json!([[138.9, 36.4], [139.2, 36.4]])), false),
            ("point inside (other dimension)", point(MAEBASHI), false),
        ],
    );
    let lines = q("overlaps", "LineString", json!([[139.0, 36.4], [139.1, 36.4]]));
    check(
        &lines,
        &[
            ("collinear, half over", line(json!([[139.05, 36.4], [139.2, 36.4]])), true),
            ("crossing", line(json!([[139.05, 36.3], [139.05, 36.5]])), false),
        ],
    );
}

#[test]
fn equals() {
    let query = q("equals", "Polygon", square());
    check(
        &query,
        &[
            ("the square itself", poly(square()), true),
            (
                "other start vertex",
                poly(json!([[[139.1, 36.5], [139.0, 36.5], [139.0, 36.3], [139.1, 36.3], [139.1, 36.5]]])),
                true,
            ),
            (
                "clockwise",
                poly(json!([[[139.0, 36.3], [139.0, 36.5], [139.1, 36.5], [139.1, 36.3], [139.0, 36.3]]])),
                true,
            ),
            (
                "extra vertex mid-edge",
                poly(json!([[
                    [139.0, 36.3],
                    [139.05, 36.3],
                    [139.1, 36.3],
                    [139.1, 36.5],
                    [139.0, 36.5],
                    [139.0, 36.3]
                ]])),
                true,
            ),
            ("as a MultiPolygon", json!({"type": "MultiPolygon", "coordinates": [square()]}), true),
            (
                "slightly larger",
                poly(json!([[[139.0, 36.3], [139.1, 36.3], [139.1, 36.5001], [139.0, 36.5], [139.0, 36.3]]])),
                false,
            ),
            ("a point", point(MAEBASHI), false),
        ],
    );
    check(
        &q("equals", "Point", json!(MAEBASHI)),
        &[
            ("same", point(MAEBASHI), true),
            ("with altitude", json!({"type": "Point", "coordinates": [139.06, 36.39, 50]}), true),
            ("other", point(KIRYU), false),
        ],
    );
}

#[test]
fn near_points_and_boundaries() {
    let max = |n: f64| q(&format!("near;maxDistance=={n}"), "Point", json!(MAEBASHI));
    let min = |n: f64| q(&format!("near;minDistance=={n}"), "Point", json!(MAEBASHI));
    let takasaki = point(TAKASAKI);
    let d = max(0.0).distance_m(&takasaki).expect("distance");
    assert!((d - MAEBASHI_TAKASAKI_M).abs() < 1e-3, "{d}");
    assert!(max(10_000.0).matches_geometry(&takasaki));
    assert!(!max(9_000.0).matches_geometry(&takasaki));
    assert!(min(9_000.0).matches_geometry(&takasaki));
    assert!(!min(10_000.0).matches_geometry(&takasaki));
    // Exactly at the distance: both bounds are inclusive.
    assert!(max(d).matches_geometry(&takasaki));
    assert!(min(d).matches_geometry(&takasaki));
    assert!(max(0.0).matches_geometry(&point(MAEBASHI)));
    assert!(min(0.0).matches_geometry(&point(MAEBASHI)));
    assert!(!min(0.001).matches_geometry(&point(MAEBASHI)));
    assert_eq!(min(10.0).search_bbox(), None);
    // A polygon around the point is at distance 0; on its edge too.
    assert_eq!(max(0.0).distance_m(&poly(square())), Some(0.0));
    let edge = poly(json!([[[139.06, 36.3], [139.1, 36.3], [139.1, 36.5], [139.06, 36.5], [139.06, 36.3]]]));
    assert_eq!(max(0.0).distance_m(&edge), Some(0.0));
    assert!(max(0.0).matches_geometry(&edge));
    // A polygon 0.1° east: its west edge is the closest.
    let east = poly(json!([[[139.16, 36.3], [139.3, 36.3], [139.3, 36.5], [139.16, 36.5], [139.16, 36.3]]]));
    let de = max(0.0).distance_m(&east).expect("distance");
    let to_edge_point = max(0.0).distance_m(&point([139.16, 36.39])).expect("distance");
    assert!(de <= to_edge_point && de > to_edge_point * 0.999, "{de} vs {to_edge_point}");
    assert!(max(de).matches_geometry(&east) && !max(de - 1.0).matches_geometry(&east));
    assert_eq!(max(0.0).distance_m(&json!({"type": "Circle"})), None);
    assert!(!min(0.0).matches_geometry(&json!(42)));
}

#[test]
fn matches_entities() {
    let loc = "https://uri.etsi.org/ngsi-ld/location";
    let geo_attr = |g: Value, ds: Option<&str>| Attribute {
        kind: AttrKind::GeoProperty,
        dataset_id: ds.map(String::from),
        ..Attribute::property(g)
    };
    let entity = |attrs: Vec<(&str, Vec<Attribute>)>| Entity {
        id: "urn:ngsi-ld:Station:1".into(),
        types: vec!["https://example.org/Station".into()],
        scope: vec![],
        attrs: attrs.into_iter().map(|(k, v)| (k.to_string(), v)).collect::<BTreeMap<_, _>>(),
        created_at: None,
        modified_at: None,
    };
    let mut query = q("within", "Polygon", square());
    assert_eq!(query.property, "location");
    query.property = loc.to_string();

    assert!(query.matches(&entity(vec![(loc, vec![geo_attr(point(MAEBASHI), None)])])));
    assert!(!query.matches(&entity(vec![(loc, vec![geo_attr(point(KIRYU), None)])])));
    // One of several instances suffices.
    let two = entity(vec![(loc, vec![geo_attr(point(KIRYU), None), geo_attr(point(MAEBASHI), Some("urn:gps"))])]);
    assert!(query.matches(&two));
    // A plain Property holding GeoJSON is not a GeoProperty.
    assert!(!query.matches(&entity(vec![(loc, vec![Attribute::property(point(MAEBASHI))])])));
    // Another GeoProperty does not count; no GeoProperty never matches, even disjoint.
    let other = entity(vec![("https://example.org/observationSpace", vec![geo_attr(point(MAEBASHI), None)])]);
    assert!(!query.matches(&other));
    let mut disjoint = q("disjoint", "Polygon", square());
    disjoint.property = loc.to_string();
    assert!(!disjoint.matches(&other));
    assert!(disjoint.matches(&entity(vec![(loc, vec![geo_attr(point(KIRYU), None)])])));

    let mut near = q("near;maxDistance==10000", "Point", json!(MAEBASHI));
    near.property = loc.to_string();
    let d = near.entity_distance_m(&two).expect("distance");
    assert_eq!(d, 0.0);
    assert_eq!(near.entity_distance_m(&other), None);
}

// ---------------------------------------------------------------------------------
// Distance accuracy

/// Reference distances on WGS84 from an independent Vincenty inverse (iterated to
/// 1e-14 rad, sub-millimetre), which also reproduces GeographicLib's Sofia–Plovdiv
/// value 132 675.501 859 m to 1e-6 m.
#[test]
fn geodesic_distances_match_references() {
    let cases = [
        ("Tokyo Station → Osaka Station", [139.7671, 35.6812], [135.4959, 34.7025], 403_827.494_146),
        ("Maebashi → Tokyo Station", MAEBASHI, [139.7671, 35.6812], 101_224.512_615),
        ("Sapporo → Naha", [141.3508, 43.0687], [127.6792, 26.2125], 2_244_523.486_903),
        ("Sofia → Plovdiv", [23.319941, 42.698334], [24.742168, 42.136097], 132_675.501_859),
    ];
    for (name, a, b, want) in cases {
        let got = q("near;maxDistance==1", "Point", json!(a)).distance_m(&point(b)).expect("distance");
        assert!((got - want).abs() <= want * 1e-3, "{name}: {got} vs {want} (0.1 %)");
        assert!((got - want).abs() < 0.01, "{name}: {got} vs {want} (1 cm)");
    }
}

/// Brute force: the least geodesic distance from `p` to points sampled every
/// 1/`steps` along each segment of `coords` (a line), and the sample spacing.
fn sampled_distance(p: [f64; 2], coords: &[[f64; 2]], steps: usize) -> f64 {
    let query = q("near;maxDistance==1", "Point", json!(p));
    let mut best = f64::INFINITY;
    for w in coords.windows(2) {
        for i in 0..=steps {
            let t = i as f64 / steps as f64;
            let s = [w[0][0] + t * (w[1][0] - w[0][0]), w[0][1] + t * (w[1][1] - w[0][1])];
            best = best.min(query.distance_m(&point(s)).expect("distance"));
        }
    }
    best
}

/// Segments and polygons at 24°–46°N up to ~150 km away: the closest-point distance is
/// never below the true distance (it is a real point) and at most 0.5 % above it.
#[test]
fn closest_point_distance_is_within_half_a_percent() {
    let mut runner = TestRunner::deterministic();
    let strategy = (24.0..46.0f64, 128.0..146.0f64, prop::collection::vec((-1.2..1.2f64, -1.2..1.2f64), 2..5));
    let mut worst: f64 = 0.0;
    for _ in 0..60 {
        let (lat, lon, offs) = strategy.new_tree(&mut runner).expect("tree").current();
        let p = [lon, lat];
        let coords: Vec<[f64; 2]> = offs.iter().map(|(dx, dy)| [lon + dx, lat + dy]).collect();
        let query = q("near;maxDistance==1", "Point", json!(p));
        let got = query.distance_m(&line(json!(coords))).expect("distance");
        let steps = 4000;
        let brute = sampled_distance(p, &coords, steps);
        // Sampling overestimates the true minimum by at most half a step (~0.5 m here).
        let step_m = 2.0 * 1.7 * 111_000.0 / steps as f64;
        assert!(got >= brute - step_m, "{p:?} {coords:?}: {got} < {brute}");
        let rel = (got - brute) / brute.max(1.0);
        worst = worst.max(rel);
        assert!(got <= brute * 1.005 + 1e-6, "{p:?} {coords:?}: {got} vs {brute}");
    }
    eprintln!("worst relative overestimate of the closest-point distance: {worst:.2e}");
}

// ---------------------------------------------------------------------------------
// Properties

/// A coordinate pair near 36N 139E.
fn near_japan() -> impl Strategy<Value = [f64; 2]> {
    (137.5..140.5f64, 34.5..37.5f64).prop_map(|(x, y)| [x, y])
}

/// A simple (star-shaped) polygon ring around `c`, closed.
fn ring(c: [f64; 2]) -> impl Strategy<Value = Vec<[f64; 2]>> {
    (0.002..0.4f64, prop::collection::vec((0.0..0.8f64, 0.2..1.0f64), 3..9)).prop_map(move |(size, pts)| {
        let k = pts.len() as f64;
        let mut ring: Vec<[f64; 2]> = pts
            .iter()
            .enumerate()
            .map(|(i, (jitter, r))| {
                let a = (i as f64 + jitter) / k * std::f64::consts::TAU;
                [c[0] + size * r * a.cos(), c[1] + size * r * a.sin()]
            })
            .collect();
        ring.push(ring[0]);
        ring
    })
}

/// Any entity geometry: point, multipoint, line, polygon, multipolygon.
fn geometry() -> impl Strategy<Value = Value> {
    prop_oneof![
        near_japan().prop_map(point),
        prop::collection::vec(near_japan(), 1..4).prop_map(|c| json!({"type": "MultiPoint", "coordinates": c})),
        prop::collection::vec(near_japan(), 2..4).prop_map(|c| line(json!(c))),
        near_japan().prop_flat_map(ring).prop_map(|r| poly(json!([r]))),
        prop::collection::vec(near_japan().prop_flat_map(ring), 1..3).prop_map(
            |rs| json!({"type": "MultiPolygon", "coordinates": rs.into_iter().map(|r| vec![r]).collect::<Vec<_>>()})
        ),
    ]
}

/// A query and an entity geometry, often related to each other so that every georel
/// matches now and then.
fn query_and_geometry() -> impl Strategy<Value = (GeoQuery, Value)> {
    let near = (near_japan(), 0.0..60_000.0f64, any::<bool>(), geometry()).prop_map(|(p, n, is_max, g)| {
        let kind = if is_max { "maxDistance" } else { "minDistance" };
        (q(&format!("near;{kind}=={n}"), "Point", json!(p)), g)
    });
    let areal = (
        prop::sample::select(vec!["within", "contains", "intersects", "overlaps", "equals", "disjoint"]),
        near_japan().prop_flat_map(ring),
        0..4u8,
        geometry(),
        0.3..1.7f64,
    )
        .prop_map(|(rel, r, how, other, scale)| {
            let query = q(rel, "Polygon", json!([r.clone()]));
            let c = r[0];
            let scaled: Vec<[f64; 2]> =
                r.iter().map(|p| [c[0] + (p[0] - c[0]) * scale, c[1] + (p[1] - c[1]) * scale]).collect();
            let g = match how {
                0 => poly(json!([r])),
                1 => poly(json!([scaled])),
                2 => point([(r[0][0] + r[1][0]) / 2.0, (r[0][1] + r[1][1]) / 2.0]),
                _ => other,
            };
            (query, g)
        });
    prop_oneof![near, areal]
}

fn distance_bound(rel: GeoRel) -> Option<(f64, bool)> {
    match rel {
        GeoRel::Near { max_distance: Some(n), .. } => Some((n, true)),
        GeoRel::Near { min_distance: Some(n), .. } => Some((n, false)),
        _ => None,
    }
}

/// The search box never loses a match; it is absent exactly for disjoint and
/// near;minDistance.
fn check_box_sound(query: &GeoQuery, g: &Value) -> Result<(), TestCaseError> {
    let boxed = query.search_bbox();
    let unbounded = matches!(query.rel, GeoRel::Disjoint | GeoRel::Near { min_distance: Some(_), .. });
    prop_assert_eq!(boxed.is_none(), unbounded);
    if let (true, Some(s)) = (query.matches_geometry(g), boxed) {
        let b = bbox_of(g).expect("bbox");
        prop_assert!(b.intersects(&s), "{:?}: {} matches but {:?} misses {:?}", query.rel, g, s, b);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn search_box_never_loses_a_match((query, g) in query_and_geometry()) {
        check_box_sound(&query, &g)?;
    }

    #[test]
    fn near_agrees_with_distance((query, g) in query_and_geometry()) {
        if let Some((n, is_max)) = distance_bound(query.rel) {
            let d = query.distance_m(&g).expect("distance");
            prop_assert!(d >= 0.0);
            prop_assert_eq!(query.matches_geometry(&g), if is_max { d <= n } else { d >= n });
        }
    }

    /// The hardest case for the near box: the geometry exactly at maxDistance, in any
    /// direction, up to 2000 km away, 20°–55°N.
    #[test]
    fn near_box_holds_at_the_exact_distance(
        p in (120.0..150.0f64, 20.0..55.0f64), g in (100.0..170.0f64, 10.0..65.0f64)
    ) {
        let probe = q("near;maxDistance==0", "Point", json!([p.0, p.1]));
        let d = probe.distance_m(&point([g.0, g.1])).expect("distance");
        let query = q(&format!("near;maxDistance=={d}"), "Point", json!([p.0, p.1]));
        prop_assert!(query.matches_geometry(&point([g.0, g.1])));
        check_box_sound(&query, &point([g.0, g.1]))?;
    }
}

/// The property tests are not vacuous: over the same strategy, every georel matches
/// sometimes and misses sometimes.
#[test]
fn property_strategy_exercises_every_georel() {
    let mut runner = TestRunner::deterministic();
    let strategy = query_and_geometry();
    let mut seen: BTreeMap<String, (u32, u32)> = BTreeMap::new();
    for _ in 0..3000 {
        let (query, g) = strategy.new_tree(&mut runner).expect("tree").current();
        let name = match query.rel {
            GeoRel::Near { max_distance: Some(_), .. } => "near;maxDistance".to_string(),
            GeoRel::Near { .. } => "near;minDistance".to_string(),
            r => r.to_georel(),
        };
        let hit = query.matches_geometry(&g);
        check_box_sound(&query, &g).expect("box sound");
        let e = seen.entry(name).or_default();
        if hit {
            e.0 += 1
        } else {
            e.1 += 1
        }
    }
    assert_eq!(seen.len(), 8, "{seen:?}");
    for (name, (hits, misses)) in &seen {
        assert!(*hits >= 5 && *misses >= 5, "{name}: {hits} hits, {misses} misses");
    }
}

#[test]
fn bbox_of_geometries() {
    assert_eq!(bbox_of(&poly(square())), Some(BBox { min_lon: 139.0, min_lat: 36.3, max_lon: 139.1, max_lat: 36.5 }));
    assert_eq!(
        bbox_of(&point(MAEBASHI)),
        Some(BBox { min_lon: 139.06, min_lat: 36.39, max_lon: 139.06, max_lat: 36.39 })
    );
    assert_eq!(bbox_of(&json!({"type": "Point", "coordinates": "x"})), None);
    assert_eq!(bbox_of(&json!([139.06, 36.39])), None);
    // The near box: ±N metres, wider in longitude than in latitude at 36°N.
    let s = q("near;maxDistance==10000", "Point", json!(MAEBASHI)).search_bbox().expect("box");
    let (dlon, dlat) = (s.max_lon - MAEBASHI[0], s.max_lat - MAEBASHI[1]);
    assert!(dlat > 10_000.0 / 111_000.0 && dlat < 10_000.0 / 111_000.0 * 1.02, "{dlat}");
    assert!(dlon > dlat * 1.2 && dlon < 10_000.0 / (111_320.0 * 36.5f64.to_radians().cos()) * 1.02, "{dlon}");
    // Near a pole or the antimeridian the box takes every longitude.
    let polar = q("near;maxDistance==50000", "Point", json!([10.0, 89.9])).search_bbox().expect("box");
    assert_eq!((polar.min_lon, polar.max_lon, polar.max_lat), (-180.0, 180.0, 90.0));
    let dateline = q("near;maxDistance==50000", "Point", json!([179.9, 50.0])).search_bbox().expect("box");
    assert_eq!((dateline.min_lon, dateline.max_lon), (-180.0, 180.0));
    assert_eq!(q("within", "Polygon", square()).search_bbox(), bbox_of(&poly(square())));
}
