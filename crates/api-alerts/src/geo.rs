//! Geometry of alerts: CAP areas as GeoJSON, and whether a point lies in an alert's area.
//!
//! - a CAP `polygon` (lat,lon pairs) becomes a GeoJSON Polygon (lon,lat positions);
//! - a CAP `circle` (centre, radius in km) becomes a 32-gon inscribed in it (great-circle
//!   destination points every 11.25°, closed);
//! - an area with neither but with `JP-LGCode` geocodes becomes the boundary of each coded
//!   prefecture, municipality or ward ([`kizuna_cap::geocode::boundary`]: the national table's
//!   or the site's own); a code whose entry has no boundary (most 行政区) becomes its point.
//!
//! The union of the areas of all info blocks (identical geometries once): one geometry as
//! itself, Polygons and MultiPolygons together as one MultiPolygon, anything with a Point as a
//! GeometryCollection.
//!
//! "Which alerts apply here" ([`area_contains`]): inside a polygon (ray casting on lat/lon,
//! fine at municipal scale), within a circle (haversine distance ≤ radius), inside the boundary
//! of a coded area (holes and every part counted), or — only for a code without a boundary —
//! within [`GEOCODE_RADIUS_M`] of its point (an approximation: a ward extends further, and a
//! point near its edge may match the neighbour).

use kizuna_cap::{Alert, Area, Circle, Point, Polygon};
use serde_json::{json, Value};

/// Mean Earth radius, metres.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;
/// How close to the point of a coded area without a boundary counts as "in" it.
pub const GEOCODE_RADIUS_M: f64 = 3_000.0;
/// Vertices of the polygon approximating a circle.
pub const CIRCLE_VERTICES: usize = 32;

/// Great-circle distance in metres.
pub fn haversine_m(a: Point, b: Point) -> f64 {
    let (la1, la2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = la2 - la1;
    let dlon = (b.lon - a.lon).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

/// The point `distance_m` from `p` in direction `bearing_deg`.
fn destination(p: Point, bearing_deg: f64, distance_m: f64) -> Point {
    let d = distance_m / EARTH_RADIUS_M;
    let (lat1, lon1, b) = (p.lat.to_radians(), p.lon.to_radians(), bearing_deg.to_radians());
    let lat2 = (lat1.sin() * d.cos() + lat1.cos() * d.sin() * b.cos()).asin();
    let lon2 = lon1 + (b.sin() * d.sin() * lat1.cos()).atan2(d.cos() - lat1.sin() * lat2.sin());
    Point::new(lat2.to_degrees(), ((lon2.to_degrees() + 540.0) % 360.0) - 180.0)
}

fn ring(points: &[Point]) -> Value {
    let mut v: Vec<Value> = points.iter().map(|p| json!([p.lon, p.lat])).collect();
    if points.first() != points.last() {
        if let Some(first) = points.first() {
            v.push(json!([first.lon, first.lat]));
        }
    }
    Value::Array(v)
}

fn polygon(p: &Polygon) -> Value {
    json!({"type": "Polygon", "coordinates": [ring(p.points())]})
}

fn circle(c: &Circle) -> Value {
    let mut pts: Vec<Point> = (0..CIRCLE_VERTICES)
        .map(|i| destination(c.center, i as f64 * 360.0 / CIRCLE_VERTICES as f64, c.radius * 1000.0))
        .collect();
    if let Some(first) = pts.first().copied() {
        pts.push(first);
    }
    json!({"type": "Polygon", "coordinates": [ring(&pts)]})
}

/// The shape of one coded area: its boundary, else its point.
pub enum CodedShape {
    Boundary(&'static kizuna_cap::geocode::Boundary),
    Point(Point),
}

/// The shapes of an area's `JP-LGCode` geocodes (known codes only).
pub fn geocode_shapes(area: &Area) -> Vec<CodedShape> {
    area.geocode
        .iter()
        .filter(|g| g.value_name == kizuna_cap::geocode::VALUE_NAME_LG_CODE)
        .filter_map(|g| match kizuna_cap::geocode::boundary(&g.value) {
            Some(b) => Some(CodedShape::Boundary(b)),
            None => kizuna_cap::geocode::lookup_ref(&g.value).map(|m| CodedShape::Point(m.point)),
        })
        .collect()
}

fn area_geometries(area: &Area) -> Vec<Value> {
    let mut out: Vec<Value> = area.polygon.iter().filter(|p| p.points().len() >= 3).map(polygon).collect();
    out.extend(area.circle.iter().map(circle));
    if area.polygon.is_empty() && area.circle.is_empty() {
        out.extend(geocode_shapes(area).into_iter().map(|s| match s {
            CodedShape::Boundary(b) => b.to_geojson(),
            CodedShape::Point(p) => json!({"type": "Point", "coordinates": [p.lon, p.lat]}),
        }));
    }
    out
}

/// The union of the alert's areas as GeoJSON (see the module documentation); `None` when no
/// area has a geometry.
pub fn alert_geometry(a: &Alert) -> Option<Value> {
    let mut all: Vec<Value> = Vec::new();
    for g in a.info.iter().flat_map(|i| &i.area).flat_map(area_geometries) {
        if !all.contains(&g) {
            all.push(g);
        }
    }
    match all.len() {
        0 => None,
        1 => all.pop(),
        _ if all.iter().all(|g| g["type"] == "Polygon" || g["type"] == "MultiPolygon") => {
            let mut polys: Vec<Value> = Vec::new();
            for g in all {
                match (g["type"].as_str(), g.get("coordinates")) {
                    (Some("Polygon"), Some(c)) => polys.push(c.clone()),
                    (_, Some(Value::Array(parts))) => polys.extend(parts.iter().cloned()),
                    _ => {}
                }
            }
            Some(json!({"type": "MultiPolygon", "coordinates": polys}))
        }
        _ => Some(json!({"type": "GeometryCollection", "geometries": all})),
    }
}

/// Ray casting on (lon, lat) as a plane.
pub fn in_polygon(p: Point, poly: &[Point]) -> bool {
    let mut inside = false;
    let n = poly.len();
    if n < 3 {
        return false;
    }
    let mut j = n - 1;
    for i in 0..n {
        let (a, b) = (poly[i], poly[j]);
        if (a.lat > p.lat) != (b.lat > p.lat) {
            let x = (b.lon - a.lon) * (p.lat - a.lat) / (b.lat - a.lat) + a.lon;
            if p.lon < x {
                inside = !inside;
            }
        }
        j = i;
    }
    inside
}

/// Whether `p` lies in `area` (see the module documentation for geocode-only areas).
pub fn area_contains(area: &Area, p: Point) -> bool {
    if area.polygon.is_empty() && area.circle.is_empty() {
        return geocode_shapes(area).into_iter().any(|s| match s {
            CodedShape::Boundary(b) => b.contains(p),
            CodedShape::Point(m) => haversine_m(m, p) <= GEOCODE_RADIUS_M,
        });
    }
    area.polygon.iter().any(|poly| in_polygon(p, poly.points()))
        || area.circle.iter().any(|c| haversine_m(c.center, p) <= c.radius * 1000.0)
}

/// Whether `p` lies in any area of any info block of `a`.
pub fn alert_contains(a: &Alert, p: Point) -> bool {
    a.info.iter().flat_map(|i| &i.area).any(|area| area_contains(area, p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn circle_is_a_closed_32_gon_of_the_right_radius() {
        let c = Circle { center: Point::new(36.39, 139.06), radius: 2.0 };
        let g = circle(&c);
        let ring = g["coordinates"][0].as_array().cloned().unwrap_or_default();
        assert_eq!(ring.len(), 33);
        assert_eq!(ring.first(), ring.last());
        for pos in &ring {
            let q = Point::new(pos[1].as_f64().unwrap_or(0.0), pos[0].as_f64().unwrap_or(0.0));
            assert!((haversine_m(c.center, q) - 2000.0).abs() < 1.0);
        }
    }

    fn coded(code: &str) -> Area {
        let mut a = Area::new("coded");
        a.geocode.push(kizuna_cap::ValueName::new(kizuna_cap::geocode::VALUE_NAME_LG_CODE, code));
        a
    }

    #[test]
    fn a_coded_municipality_is_its_boundary() {
        let maebashi = coded("102016");
        let g = area_geometries(&maebashi);
        assert_eq!(g.len(), 1);
        assert_eq!(g[0]["type"], "MultiPolygon");
        // 前橋市役所; 赤城山の北麓 (沼田市, 36.62, 139.19 — once within reach of no 3 km circle of
        // the office either); 高崎駅 (高崎市), 9 km from 前橋市役所.
        assert!(area_contains(&maebashi, Point::new(36.3895, 139.0634)));
        assert!(area_contains(&maebashi, Point::new(36.50, 139.20)), "前橋市 reaches far from its office");
        assert!(!area_contains(&maebashi, Point::new(36.3227, 139.0126)));
        assert!(!area_contains(&maebashi, Point::new(36.62, 139.19)));
    }

    #[test]
    fn a_coded_ward_without_boundary_is_its_point() {
        // 札幌市中央区: the JMA does not draw 札幌市's wards.
        let chuo = coded("011011");
        let g = area_geometries(&chuo);
        assert_eq!(g[0]["type"], "Point");
        let office =
            Point::new(g[0]["coordinates"][1].as_f64().unwrap_or(0.0), g[0]["coordinates"][0].as_f64().unwrap_or(0.0));
        assert!(area_contains(&chuo, office));
        assert!(!area_contains(&chuo, Point::new(office.lat + 0.1, office.lon)));
    }

    #[test]
    fn polygons_and_boundaries_unite_in_one_multipolygon() {
        let mut a = kizuna_cap::samples::maebashi_evacuation_order();
        a.info.truncate(1);
        let mut drawn = Area::new("drawn");
        drawn.polygon.push(Polygon::closed(vec![Point::new(0.0, 0.0), Point::new(0.0, 1.0), Point::new(1.0, 1.0)]));
        a.info[0].area = vec![coded("102016"), drawn];
        let g = alert_geometry(&a).expect("geometry");
        assert_eq!(g["type"], "MultiPolygon");
        let n = kizuna_cap::geocode::boundary("102016").map(|b| b.polygons().len()).unwrap_or(0);
        assert_eq!(g["coordinates"].as_array().map(Vec::len), Some(n + 1));
    }

    #[test]
    fn point_in_polygon() {
        let sq = [
            Point::new(0.0, 0.0),
            Point::new(0.0, 1.0),
            Point::new(1.0, 1.0),
            Point::new(1.0, 0.0),
            Point::new(0.0, 0.0),
        ];
        assert!(in_polygon(Point::new(0.5, 0.5), &sq));
        assert!(!in_polygon(Point::new(1.5, 0.5), &sq));
    }
}
