//! Geometry of alerts: CAP areas as GeoJSON, and whether a point lies in an alert's area.
//!
//! - a CAP `polygon` (lat,lon pairs) becomes a GeoJSON Polygon (lon,lat positions);
//! - a CAP `circle` (centre, radius in km) becomes a 32-gon inscribed in it (great-circle
//!   destination points every 11.25°, closed);
//! - an area with neither but with `JP-LGCode` geocodes becomes the Points of the
//!   municipalities' representative points ([`kizuna_cap::geocode::lookup`]).
//!
//! The union of the areas of all info blocks (identical geometries once): one geometry as
//! itself, several Polygons as a MultiPolygon, anything else as a GeometryCollection.
//!
//! "Which alerts apply here" ([`area_contains`]): inside a polygon (ray casting on lat/lon,
//! fine at municipal scale), within a circle (haversine distance ≤ radius), or — for an area
//! given only by municipality codes, whose boundary Kizuna does not ship — within
//! [`GEOCODE_RADIUS_M`] of the municipality's representative point (an approximation: large
//! municipalities extend further, and a point near a border may match the neighbour).

use kizuna_cap::{Alert, Area, Circle, Point, Polygon};
use serde_json::{json, Value};

/// Mean Earth radius, metres.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;
/// How close to a municipality's representative point counts as "in" a geocode-only area.
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

/// The municipality points of an area's `JP-LGCode` geocodes (known codes only).
pub fn geocode_points(area: &Area) -> Vec<Point> {
    area.geocode
        .iter()
        .filter(|g| g.value_name == kizuna_cap::geocode::VALUE_NAME_LG_CODE)
        .filter_map(|g| kizuna_cap::geocode::lookup(&g.value))
        .map(|m| m.point)
        .collect()
}

fn area_geometries(area: &Area) -> Vec<Value> {
    let mut out: Vec<Value> = area.polygon.iter().filter(|p| p.points().len() >= 3).map(polygon).collect();
    out.extend(area.circle.iter().map(circle));
    if area.polygon.is_empty() && area.circle.is_empty() {
        out.extend(geocode_points(area).into_iter().map(|p| json!({"type": "Point", "coordinates": [p.lon, p.lat]})));
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
        _ if all.iter().all(|g| g["type"] == "Polygon") => {
            let polys: Vec<Value> = all.into_iter().map(|g| g["coordinates"].clone()).collect();
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
        return geocode_points(area).into_iter().any(|m| haversine_m(m, p) <= GEOCODE_RADIUS_M);
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
