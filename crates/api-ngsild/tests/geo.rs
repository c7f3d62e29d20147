//! Geo-queries over HTTP (ETSI GS CIM 009 §4.10): `near` with maxDistance/minDistance
//! (distance order, cut-offs, paging), the DE-9IM relations on polygons, `geoproperty`,
//! geo combined with type/q/count, `POST /entityOperations/query` with `geoQ`, GeoJSON
//! answers (`Accept: application/geo+json`) and every invalid geo parameter.

mod common;

use common::{ids, TestServer};
use serde_json::{json, Value};

/// The reference point of the `near` tests (Maebashi area).
const LON: f64 = 139.06;
const LAT: f64 = 36.39;
const CENTRE: &str = "[139.06,36.39]";

/// Metres per degree of latitude at latitude `phi` (WGS84 series, cm accuracy).
fn m_per_deg_lat(phi: f64) -> f64 {
    let p = phi.to_radians();
    111_132.954 - 559.822 * (2.0 * p).cos() + 1.175 * (4.0 * p).cos() - 0.0023 * (6.0 * p).cos()
}

/// Metres per degree of longitude at latitude `phi` (WGS84 series, cm accuracy).
fn m_per_deg_lon(phi: f64) -> f64 {
    let p = phi.to_radians();
    111_412.84 * p.cos() - 93.5 * (3.0 * p).cos() + 0.118 * (5.0 * p).cos()
}

/// The point `m` metres due north (negative: south) of the centre.
fn north(m: f64) -> Value {
    let dlat = m / m_per_deg_lat(LAT + m / 2.0 / 111_000.0);
    json!({"type": "Point", "coordinates": [LON, LAT + dlat]})
}

/// The point `m` metres due east (negative: west) of the centre.
fn east(m: f64) -> Value {
    json!({"type": "Point", "coordinates": [LON + m / m_per_deg_lon(LAT), LAT]})
}

fn place(id: &str, location: Value) -> Value {
    let location = json!({"type": "GeoProperty", "value": location});
    json!({"id": format!("urn:ngsi-ld:Place:{id}"), "type": "Place", "location": location})
}

/// Places at known distances from the centre; ids deliberately not in distance order:
/// e 100 m N, c 400 m E, a 900 m S, d 1500 m W, b 3000 m N, g Tokyo (~100 km), f none.
async fn places() -> TestServer {
    let srv = TestServer::start().await;
    srv.create_all(&[
        place("a", north(-900.0)),
        place("b", north(3000.0)),
        place("c", east(400.0)),
        place("d", east(-1500.0)),
        place("e", north(100.0)),
        json!({"id": "urn:ngsi-ld:Place:f", "type": "Place", "name": "nowhere"}),
        place("g", json!({"type": "Point", "coordinates": [139.6917, 35.6895]})),
    ])
    .await;
    srv
}

fn places_of(short: &[&str]) -> Vec<String> {
    short.iter().map(|s| format!("urn:ngsi-ld:Place:{s}")).collect()
}

async fn near(srv: &TestServer, georel: &str) -> Vec<String> {
    srv.query_ids(&[("type", "Place"), ("georel", georel), ("geometry", "Point"), ("coordinates", CENTRE)]).await
}

#[tokio::test]
async fn near_orders_by_distance() {
    let srv = places().await;
    assert_eq!(near(&srv, "near;maxDistance==5000").await, places_of(&["e", "c", "a", "d", "b"]));
    assert_eq!(near(&srv, "near;maxDistance==1000").await, places_of(&["e", "c", "a"]));
    assert_eq!(near(&srv, "near;maxDistance==200000").await, places_of(&["e", "c", "a", "d", "b", "g"]));
    assert_eq!(near(&srv, "near;minDistance==1000").await, places_of(&["d", "b", "g"]));
    assert_eq!(near(&srv, "near;minDistance==0").await, places_of(&["e", "c", "a", "d", "b", "g"]));
    // Without a type, too (the geo-query alone is a valid query); f has no location.
    let r = srv.get("/entities").query(&[
        ("georel", "near;maxDistance==450"),
        ("geometry", "Point"),
        ("coordinates", CENTRE),
    ]);
    assert_eq!(ids(&r.send().await.expect(200).json()), places_of(&["e", "c"]));
    // Another reference point, another order: from b, e is 2900 m, c 3027 m, d 3354 m, a 3900 m away.
    let from_b = north(3000.0)["coordinates"].to_string();
    let got =
        srv.query_ids(&[("georel", "near;maxDistance==4000"), ("geometry", "Point"), ("coordinates", &from_b)]).await;
    assert_eq!(got, places_of(&["b", "e", "c", "d", "a"]));
}

#[tokio::test]
async fn near_cut_offs_within_a_few_metres() {
    let srv = places().await;
    let cases: &[(&str, &[&str])] = &[
        ("near;maxDistance==97", &[]),
        ("near;maxDistance==103", &["e"]),
        ("near;maxDistance==397", &["e"]),
        ("near;maxDistance==403", &["e", "c"]),
        ("near;maxDistance==897", &["e", "c"]),
        ("near;maxDistance==903", &["e", "c", "a"]),
        ("near;maxDistance==1497", &["e", "c", "a"]),
        ("near;maxDistance==1503", &["e", "c", "a", "d"]),
        ("near;maxDistance==2997", &["e", "c", "a", "d"]),
        ("near;maxDistance==3003", &["e", "c", "a", "d", "b"]),
        ("near;minDistance==97", &["e", "c", "a", "d", "b", "g"]),
        ("near;minDistance==103", &["c", "a", "d", "b", "g"]),
        ("near;minDistance==897", &["a", "d", "b", "g"]),
        ("near;minDistance==903", &["d", "b", "g"]),
        ("near;minDistance==2997", &["b", "g"]),
        ("near;minDistance==3003", &["g"]),
        ("near;minDistance==500000", &[]),
        ("near;maxDistance==1e3", &["e", "c", "a"]),
        ("near;maxDistance==902.5", &["e", "c", "a"]),
    ];
    for (georel, want) in cases {
        assert_eq!(near(&srv, georel).await, places_of(want), "{georel}");
    }
    // Distance 0: exactly at e.
    let at_e = north(100.0)["coordinates"].to_string();
    let got = srv.query_ids(&[("georel", "near;maxDistance==0"), ("geometry", "Point"), ("coordinates", &at_e)]).await;
    assert_eq!(got, places_of(&["e"]));
    // g (Tokyo) is ~96.4 km away.
    assert_eq!(near(&srv, "near;maxDistance==94000").await, places_of(&["e", "c", "a", "d", "b"]));
    assert_eq!(near(&srv, "near;maxDistance==99000").await, places_of(&["e", "c", "a", "d", "b", "g"]));
}

#[tokio::test]
async fn near_paging_keeps_distance_order() {
    let srv = places().await;
    let mut seen = Vec::new();
    for offset in ["0", "2", "4", "6"] {
        let r = srv
            .get("/entities")
            .query(&[
                ("type", "Place"),
                ("georel", "near;maxDistance==200000"),
                ("geometry", "Point"),
                ("coordinates", CENTRE),
                ("limit", "2"),
                ("offset", offset),
                ("count", "true"),
            ])
            .send()
            .await;
        r.expect(200);
        assert_eq!(r.header("ngsild-results-count").as_deref(), Some("6"), "offset {offset}");
        let page = ids(&r.json());
        assert_eq!(page.len(), if offset == "6" { 0 } else { 2 }, "offset {offset}");
        seen.extend(page);
    }
    assert_eq!(seen, places_of(&["e", "c", "a", "d", "b", "g"]));
    // Count only.
    let r = srv
        .get("/entities")
        .query(&[
            ("georel", "near;maxDistance==1000"),
            ("geometry", "Point"),
            ("coordinates", CENTRE),
            ("limit", "0"),
            ("count", "true"),
        ])
        .send()
        .await;
    assert_eq!(r.expect(200).json(), json!([]));
    assert_eq!(r.header("ngsild-results-count").as_deref(), Some("3"));
    // minDistance pages in order too.
    let r = srv
        .get("/entities")
        .query(&[
            ("georel", "near;minDistance==200"),
            ("geometry", "Point"),
            ("coordinates", CENTRE),
            ("limit", "2"),
            ("offset", "1"),
        ])
        .send()
        .await;
    assert_eq!(ids(&r.expect(200).json()), places_of(&["a", "d"]));
}

/// The reference square S: 139.0–139.2 E, 36.0–36.2 N.
const SQUARE: &str = "[[[139.0,36.0],[139.2,36.0],[139.2,36.2],[139.0,36.2],[139.0,36.0]]]";

fn area(id: &str, geometry: Value) -> Value {
    let location = json!({"type": "GeoProperty", "value": geometry});
    json!({"id": format!("urn:ngsi-ld:Area:{id}"), "type": "Area", "location": location})
}

fn poly(ring: &[[f64; 2]]) -> Value {
    json!({"type": "Polygon", "coordinates": [ring]})
}

/// a: point inside S; b: point on S's west edge; c: point outside; d: small square inside
/// S; e: square overlapping S's north-east corner; f: square containing S; g: S itself
/// (other start vertex, other orientation); h: line crossing S at 36.1 N.
async fn areas() -> TestServer {
    let srv = TestServer::start().await;
    srv.create_all(&[
        area("a", json!({"type": "Point", "coordinates": [139.1, 36.1]})),
        area("b", json!({"type": "Point", "coordinates": [139.0, 36.1]})),
        area("c", json!({"type": "Point", "coordinates": [139.5, 36.5]})),
        area("d", poly(&[[139.05, 36.05], [139.1, 36.05], [139.1, 36.1], [139.05, 36.1], [139.05, 36.05]])),
        area("e", poly(&[[139.1, 36.1], [139.3, 36.1], [139.3, 36.3], [139.1, 36.3], [139.1, 36.1]])),
        area("f", poly(&[[138.9, 35.9], [139.3, 35.9], [139.3, 36.3], [138.9, 36.3], [138.9, 35.9]])),
        area("g", poly(&[[139.2, 36.2], [139.0, 36.2], [139.0, 36.0], [139.2, 36.0], [139.2, 36.2]])),
        area("h", json!({"type": "LineString", "coordinates": [[138.9, 36.1], [139.3, 36.1]]})),
    ])
    .await;
    srv
}

fn areas_of(short: &[&str]) -> Vec<String> {
    short.iter().map(|s| format!("urn:ngsi-ld:Area:{s}")).collect()
}

#[tokio::test]
async fn relations_on_polygons() {
    let srv = areas().await;
    let cases: &[(&str, &str, &str, &[&str])] = &[
        ("within", "Polygon", SQUARE, &["a", "d", "g"]),
        ("contains", "Polygon", SQUARE, &["f", "g"]),
        ("intersects", "Polygon", SQUARE, &["a", "b", "d", "e", "f", "g", "h"]),
        ("disjoint", "Polygon", SQUARE, &["c"]),
        ("overlaps", "Polygon", SQUARE, &["e"]),
        ("equals", "Polygon", SQUARE, &["g"]),
        // A point reference on the corner of d and e: a corner is boundary, not interior.
        ("contains", "Point", "[139.1,36.1]", &["a", "f", "g", "h"]),
        ("intersects", "Point", "[139.1,36.1]", &["a", "d", "e", "f", "g", "h"]),
        ("within", "Point", "[139.1,36.1]", &["a"]),
        ("equals", "Point", "[139.1,36.1]", &["a"]),
        ("disjoint", "Point", "[139.1,36.1]", &["b", "c"]),
        // A line reference along 36.05 N from inside S to the east.
        ("intersects", "LineString", "[[139.15,36.05],[139.25,36.05]]", &["f", "g"]),
        // Points on the line are within it; h is longer than the line.
        ("within", "LineString", "[[138.95,36.1],[139.25,36.1]]", &["a", "b"]),
        ("contains", "LineString", "[[139.0,36.1],[139.2,36.1]]", &["f", "g", "h"]),
        // A MultiPolygon reference: S's west half and a far square.
        (
            "within",
            "MultiPolygon",
            "[[[[139.0,36.0],[139.1,36.0],[139.1,36.2],[139.0,36.2],[139.0,36.0]]],\
             [[[139.4,36.4],[139.6,36.4],[139.6,36.6],[139.4,36.6],[139.4,36.4]]]]",
            &["c", "d"],
        ),
    ];
    for (georel, geometry, coords, want) in cases {
        let got = srv
            .query_ids(&[("type", "Area"), ("georel", georel), ("geometry", geometry), ("coordinates", coords)])
            .await;
        assert_eq!(got, areas_of(want), "{georel} {geometry} {coords}");
    }
}

/// Shelters with a second GeoProperty `entrance` (default vocabulary): 1 is located
/// inside S with its entrance outside, 2 the other way round, 3 has neither.
async fn shelters() -> TestServer {
    let srv = TestServer::start().await;
    let inside = json!({"type": "Point", "coordinates": [139.1, 36.1]});
    let outside = json!({"type": "Point", "coordinates": [139.5, 36.5]});
    srv.create_all(&[
        json!({"id": "urn:ngsi-ld:Shelter:1", "type": "Shelter", "capacity": 100,
               "location": {"type": "GeoProperty", "value": inside},
               "entrance": {"type": "GeoProperty", "value": outside}}),
        json!({"id": "urn:ngsi-ld:Shelter:2", "type": "Shelter", "capacity": 20,
               "location": {"type": "GeoProperty", "value": outside},
               "entrance": {"type": "GeoProperty", "value": inside}}),
        json!({"id": "urn:ngsi-ld:Shelter:3", "type": "Shelter", "capacity": 300}),
        json!({"id": "urn:ngsi-ld:Sensor:1", "type": "Sensor", "capacity": 500,
               "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [139.15, 36.15]}}}),
        json!({"id": "urn:ngsi-ld:Sensor:2", "type": "Sensor", "capacity": 5,
               "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [139.16, 36.16]}}}),
    ])
    .await;
    srv
}

fn urns(short: &[&str]) -> Vec<String> {
    short.iter().map(|s| format!("urn:ngsi-ld:{s}")).collect()
}

/// Shelters whose `geoproperty` (default: location) lies within the square S.
async fn within_square(srv: &TestServer, geoproperty: Option<&str>) -> Vec<String> {
    let mut pairs = vec![("type", "Shelter"), ("georel", "within"), ("geometry", "Polygon"), ("coordinates", SQUARE)];
    if let Some(gp) = geoproperty {
        pairs.push(("geoproperty", gp));
    }
    srv.query_ids(&pairs).await
}

#[tokio::test]
async fn geoproperty_selects_the_geoproperty() {
    let srv = shelters().await;
    assert_eq!(within_square(&srv, None).await, urns(&["Shelter:1"]));
    assert_eq!(within_square(&srv, Some("location")).await, urns(&["Shelter:1"]));
    assert_eq!(within_square(&srv, Some(common::NGSI_LD_LOCATION)).await, urns(&["Shelter:1"]));
    assert_eq!(within_square(&srv, Some("entrance")).await, urns(&["Shelter:2"]));
    // The full IRI of the default vocabulary is the same attribute.
    let iri = format!("{}entrance", common::VOCAB);
    assert_eq!(within_square(&srv, Some(&iri)).await, urns(&["Shelter:2"]));
    // A Property that is not a GeoProperty, or an absent one, matches nothing.
    assert_eq!(within_square(&srv, Some("capacity")).await, Vec::<String>::new());
    assert_eq!(within_square(&srv, Some("nothing")).await, Vec::<String>::new());
    // near on entrance: Shelter:2's entrance is at the reference point.
    let got = srv
        .query_ids(&[
            ("georel", "near;maxDistance==10"),
            ("geometry", "Point"),
            ("coordinates", "[139.1,36.1]"),
            ("geoproperty", "entrance"),
        ])
        .await;
    assert_eq!(got, urns(&["Shelter:2"]));
}

#[tokio::test]
async fn geo_with_type_q_and_count() {
    let srv = shelters().await;
    let geo = [("georel", "within"), ("geometry", "Polygon"), ("coordinates", SQUARE)];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut v = geo.to_vec();
        v.extend_from_slice(extra);
        v
    };
    assert_eq!(srv.query_ids(&geo).await, urns(&["Sensor:1", "Sensor:2", "Shelter:1"]));
    assert_eq!(srv.query_ids(&with(&[("type", "Sensor")])).await, urns(&["Sensor:1", "Sensor:2"]));
    assert_eq!(srv.query_ids(&with(&[("q", "capacity>50")])).await, urns(&["Sensor:1", "Shelter:1"]));
    assert_eq!(srv.query_ids(&with(&[("type", "Sensor"), ("q", "capacity>50")])).await, urns(&["Sensor:1"]));
    assert_eq!(srv.query_ids(&with(&[("type", "Shelter"), ("q", "capacity<50")])).await, Vec::<String>::new());
    assert_eq!(srv.query_ids(&with(&[("attrs", "entrance")])).await, urns(&["Shelter:1"]));

    let r = srv.get("/entities").query(&with(&[("q", "capacity>50"), ("count", "true")])).send().await;
    assert_eq!(r.expect(200).header("ngsild-results-count").as_deref(), Some("2"));
    let r = srv.get("/entities").query(&with(&[("count", "true"), ("limit", "1"), ("offset", "1")])).send().await;
    assert_eq!(ids(&r.expect(200).json()), urns(&["Sensor:2"]));
    assert_eq!(r.header("ngsild-results-count").as_deref(), Some("3"));
    let r = srv.get("/entities").query(&with(&[("type", "Sensor"), ("count", "true"), ("limit", "0")])).send().await;
    assert_eq!(r.expect(200).header("ngsild-results-count").as_deref(), Some("2"));
    // disjoint counts those with a location outside S only (Shelter:3 has none).
    let r = srv
        .get("/entities")
        .query(&[("georel", "disjoint"), ("geometry", "Polygon"), ("coordinates", SQUARE), ("count", "true")])
        .send()
        .await;
    assert_eq!(ids(&r.expect(200).json()), urns(&["Shelter:2"]));
    assert_eq!(r.header("ngsild-results-count").as_deref(), Some("1"));
}

#[tokio::test]
async fn post_query_with_geoq() {
    let srv = shelters().await;
    let post = |body: Value| {
        let srv = &srv;
        async move { srv.post("/entityOperations/query").json(&body).send().await }
    };
    let square: Value = serde_json::from_str(SQUARE).expect("square");
    let r = post(json!({"type": "Query", "geoQ": {"georel": "within", "geometry": "Polygon", "coordinates": square}}))
        .await;
    assert_eq!(ids(&r.expect(200).json()), urns(&["Sensor:1", "Sensor:2", "Shelter:1"]));
    // Coordinates as a string, with type, q and geoproperty.
    let r = post(json!({"type": "Query", "entities": [{"type": "Shelter"}], "q": "capacity<50",
        "geoQ": {"georel": "within", "geometry": "Polygon", "coordinates": SQUARE, "geoproperty": "entrance"}}))
    .await;
    assert_eq!(ids(&r.expect(200).json()), urns(&["Shelter:2"]));
    // near in distance order: Sensor:2 (139.16, 36.16) is closer to (139.17, 36.17).
    let r = post(json!({"type": "Query",
        "geoQ": {"georel": "near;maxDistance==20000", "geometry": "Point", "coordinates": [139.17, 36.17]}}))
    .await;
    assert_eq!(ids(&r.expect(200).json()), urns(&["Sensor:2", "Sensor:1", "Shelter:1"]));

    let bad: &[(Value, &str)] = &[
        (json!({"georel": "near", "geometry": "Point", "coordinates": [139.0, 36.0]}), "needs a distance"),
        (json!({"georel": "near;maxDistance==10", "geometry": "Polygon", "coordinates": square}), "needs a Point"),
        (json!({"georel": "within", "geometry": "Polygon"}), "'coordinates'"),
        (json!({"geometry": "Point", "coordinates": [139.0, 36.0]}), "'georel'"),
        (json!({"georel": "within", "geometry": "Point", "coordinates": {"x": 1}}), "coordinates"),
        (json!({"georel": "within", "geometry": "Point", "coordinates": "[139.0,95]"}), "latitude 95"),
        (
            json!({"georel": "within", "geometry": "Point", "coordinates": [139.0, 36.0], "geoproperty": 5}),
            "geoproperty",
        ),
        (json!("within"), "geoQ must be a JSON object"),
    ];
    for (geoq, want) in bad {
        let r = post(json!({"type": "Query", "geoQ": geoq})).await;
        r.problem(400, "BadRequestData", &[want]);
    }
}

#[tokio::test]
async fn geojson_feature_collection() {
    let srv = shelters().await;
    let r = srv.get("/entities").query(&[("type", "Shelter")]).accept("application/geo+json").send().await;
    assert_eq!(r.expect(200).content_type().as_deref(), Some("application/geo+json"));
    let body = r.json();
    assert_eq!(body["type"], "FeatureCollection");
    let features = body["features"].as_array().expect("features");
    assert_eq!(features.len(), 3);
    let inside = json!({"type": "Point", "coordinates": [139.1, 36.1]});
    let outside = json!({"type": "Point", "coordinates": [139.5, 36.5]});
    assert_eq!(
        features[0],
        json!({
            "id": "urn:ngsi-ld:Shelter:1",
            "type": "Feature",
            "geometry": inside,
            "properties": {
                "type": "Shelter",
                "capacity": {"type": "Property", "value": 100},
                "location": {"type": "GeoProperty", "value": inside},
                "entrance": {"type": "GeoProperty", "value": outside}
            }
        })
    );
    for f in features {
        assert!(f["properties"].get("id").is_none(), "properties carry no id: {f}");
        assert_eq!(f["type"], "Feature");
    }
    assert_eq!(features[1]["geometry"], outside);
    assert_eq!(features[2]["id"], "urn:ngsi-ld:Shelter:3");
    assert_eq!(features[2]["geometry"], Value::Null, "no location: null geometry");
    assert_eq!(features[2]["properties"], json!({"type": "Shelter", "capacity": {"type": "Property", "value": 300}}));

    // geometryProperty picks another GeoProperty; keyValues simplifies the properties.
    let r = srv
        .get("/entities")
        .query(&[("type", "Shelter"), ("geometryProperty", "entrance"), ("options", "keyValues")])
        .accept("application/geo+json")
        .send()
        .await;
    let body = r.expect(200).json();
    let features = body["features"].as_array().expect("features");
    assert_eq!(features[0]["geometry"], outside);
    assert_eq!(features[1]["geometry"], inside);
    assert_eq!(features[2]["geometry"], Value::Null);
    assert_eq!(
        features[0]["properties"],
        json!({"type": "Shelter", "capacity": 100, "location": inside, "entrance": outside})
    );
    // A geometryProperty that is not a GeoProperty gives null geometries.
    let r = srv
        .get("/entities")
        .query(&[("type", "Shelter"), ("geometryProperty", "capacity")])
        .accept("application/geo+json")
        .send()
        .await;
    let body = r.expect(200).json();
    assert!(body["features"].as_array().expect("features").iter().all(|f| f["geometry"].is_null()), "{body}");

    // A near query in GeoJSON keeps the distance order; an empty answer is an empty collection.
    let r = srv
        .get("/entities")
        .query(&[("georel", "near;maxDistance==50000"), ("geometry", "Point"), ("coordinates", "[139.17,36.17]")])
        .accept("application/geo+json")
        .send()
        .await;
    let body = r.expect(200).json();
    let got: Vec<&str> =
        body["features"].as_array().expect("features").iter().map(|f| f["id"].as_str().unwrap_or("")).collect();
    assert_eq!(got, ["urn:ngsi-ld:Sensor:2", "urn:ngsi-ld:Sensor:1", "urn:ngsi-ld:Shelter:1", "urn:ngsi-ld:Shelter:2"]);
    let r = srv.get("/entities").query(&[("type", "Nothing")]).accept("application/geo+json").send().await;
    assert_eq!(r.expect(200).json(), json!({"type": "FeatureCollection", "features": []}));

    // POST query answers GeoJSON too.
    let r = srv
        .post("/entityOperations/query")
        .query(&[("geometryProperty", "entrance")])
        .accept("application/geo+json")
        .json(&json!({"type": "Query", "entities": [{"type": "Shelter"}], "attrs": ["capacity"]}))
        .send()
        .await;
    let body = r.expect(200).json();
    assert_eq!(r.content_type().as_deref(), Some("application/geo+json"));
    assert_eq!(body["type"], "FeatureCollection");
    assert_eq!(body["features"][0]["geometry"], outside);
    assert_eq!(
        body["features"][0]["properties"],
        json!({"type": "Shelter", "capacity": {"type": "Property", "value": 100}})
    );
}

#[tokio::test]
async fn geojson_single_feature() {
    let srv = shelters().await;
    let inside = json!({"type": "Point", "coordinates": [139.1, 36.1]});
    let outside = json!({"type": "Point", "coordinates": [139.5, 36.5]});
    let r = srv.get("/entities/urn:ngsi-ld:Shelter:1").accept("application/geo+json").send().await;
    assert_eq!(r.expect(200).content_type().as_deref(), Some("application/geo+json"));
    assert_eq!(
        r.json(),
        json!({
            "id": "urn:ngsi-ld:Shelter:1",
            "type": "Feature",
            "geometry": inside,
            "properties": {
                "type": "Shelter",
                "capacity": {"type": "Property", "value": 100},
                "location": {"type": "GeoProperty", "value": inside},
                "entrance": {"type": "GeoProperty", "value": outside}
            }
        })
    );
    let r = srv
        .get("/entities/urn:ngsi-ld:Shelter:1")
        .query(&[("geometryProperty", "entrance"), ("options", "keyValues"), ("attrs", "capacity")])
        .accept("application/geo+json")
        .send()
        .await;
    assert_eq!(
        r.expect(200).json(),
        json!({"id": "urn:ngsi-ld:Shelter:1", "type": "Feature", "geometry": outside,
               "properties": {"type": "Shelter", "capacity": 100}})
    );
    let r = srv.get("/entities/urn:ngsi-ld:Shelter:3").accept("application/geo+json").send().await;
    assert_eq!(
        r.expect(200).json(),
        json!({"id": "urn:ngsi-ld:Shelter:3", "type": "Feature", "geometry": null,
               "properties": {"type": "Shelter", "capacity": {"type": "Property", "value": 300}}})
    );
    // Preference by q-value: GeoJSON wins over JSON when ranked higher.
    let r =
        srv.get("/entities/urn:ngsi-ld:Shelter:2").accept("application/json;q=0.5, application/geo+json").send().await;
    assert_eq!(r.expect(200).json()["type"], "Feature");
    let r = srv.get("/entities/urn:ngsi-ld:Shelter:9").accept("application/geo+json").send().await;
    r.problem(404, "ResourceNotFound", &["urn:ngsi-ld:Shelter:9"]);
}

#[tokio::test]
async fn invalid_geo_parameters_are_bad_request_data() {
    let srv = places().await;
    let unclosed = "[[[139.0,36.0],[139.2,36.0],[139.2,36.2],[139.0,36.2]]]";
    let cases: &[(&str, &str, &str, &str)] = &[
        ("nearby", "Point", CENTRE, "unknown georel 'nearby'"),
        ("near", "Point", CENTRE, "needs a distance"),
        ("near;", "Point", CENTRE, "needs a distance"),
        ("near;maxDistance==abc", "Point", CENTRE, "not a number"),
        ("near;maxDistance==-5", "Point", CENTRE, "must not be negative"),
        ("near;radius==5", "Point", CENTRE, "unknown near modifier 'radius'"),
        ("near;maxDistance=5", "Point", CENTRE, "maxDistance==N"),
        ("near;maxDistance==1;minDistance==2", "Point", CENTRE, "exactly one"),
        ("within;maxDistance==5", "Polygon", SQUARE, "takes no modifier"),
        ("near;maxDistance==1000", "Polygon", SQUARE, "needs a Point"),
        ("near;minDistance==1000", "LineString", "[[139.0,36.0],[139.1,36.1]]", "needs a Point"),
        ("within", "Polygon", unclosed, "must be closed"),
        ("within", "Polygon", "[[[139.0,36.0],[139.2,36.0],[139.0,36.0]]]", "at least 4"),
        ("within", "Point", "[139.06,95]", "latitude 95"),
        ("within", "Point", "[139.06,-90.5]", "latitude -90.5"),
        ("within", "Point", "[200,36.39]", "longitude 200"),
        ("within", "Point", "[139.06]", "2 or 3 numbers"),
        ("within", "Point", "[\"139\",36]", "not a number"),
        ("within", "Point", "not json", "coordinates are not JSON"),
        ("within", "Point", "[139.06,36.39", "coordinates are not JSON"),
        ("within", "Point", "{\"lon\":139}", "must be a JSON array"),
        ("within", "Point", "5", "must be a JSON array"),
        ("within", "Circle", CENTRE, "geometry 'Circle' is not supported"),
        ("within", "point", CENTRE, "geometry 'point' is not supported"),
        ("within", "GeometryCollection", "[]", "not supported"),
    ];
    for (georel, geometry, coords, want) in cases {
        let r = srv
            .get("/entities")
            .query(&[("type", "Place"), ("georel", georel), ("geometry", geometry), ("coordinates", coords)])
            .send()
            .await;
        r.problem(400, "BadRequestData", &[want]);
    }
    // Parts of a geo-query given alone.
    let partial: &[&[(&str, &str)]] = &[
        &[("georel", "within")],
        &[("geometry", "Point")],
        &[("coordinates", CENTRE)],
        &[("georel", "within"), ("geometry", "Point")],
        &[("georel", "within"), ("coordinates", CENTRE)],
        &[("geometry", "Point"), ("coordinates", CENTRE)],
    ];
    for pairs in partial {
        let mut q = vec![("type", "Place")];
        q.extend_from_slice(pairs);
        let r = srv.get("/entities").query(&q).send().await;
        r.problem(400, "BadRequestData", &["needs all of georel, geometry and coordinates"]);
    }
    let r = srv.get("/entities").query(&[("type", "Place"), ("geoproperty", "location")]).send().await;
    r.problem(400, "BadRequestData", &["geoproperty needs georel"]);
    let r = srv
        .get("/entities")
        .query(&[("georel", "within"), ("geometry", "Point"), ("coordinates", CENTRE), ("geoproperty", "bad name")])
        .send()
        .await;
    r.problem(400, "BadRequestData", &["geoproperty"]);
    // An unknown parameter is rejected, not ignored.
    let r = srv.get("/entities").query(&[("type", "Place"), ("georelation", "within")]).send().await;
    r.problem(400, "BadRequestData", &["'georelation'"]);
}

#[tokio::test]
async fn coordinates_may_arrive_percent_encoded() {
    let srv = places().await;
    // The query string carries `coordinates=%255B...`: after URL decoding the server sees
    // `%5B139.06%2C36.39%5D` and decodes it once more.
    let got = srv
        .query_ids(&[
            ("georel", "near;maxDistance==450"),
            ("geometry", "Point"),
            ("coordinates", "%5B139.06%2C36.39%5D"),
        ])
        .await;
    assert_eq!(got, places_of(&["e", "c"]));
    // Whitespace inside the JSON is fine.
    let got = srv
        .query_ids(&[
            ("georel", "near;maxDistance==450"),
            ("geometry", "Point"),
            ("coordinates", " [ 139.06 , 36.39 ] "),
        ])
        .await;
    assert_eq!(got, places_of(&["e", "c"]));
}
