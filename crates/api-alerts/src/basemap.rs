//! The base layer of the public alert map: roads, railways, rivers, water, coastline and place
//! names of the tenant's area, from a GeoJSON file the site generates from open data
//! (`scripts/data/build-basemap.py`) and passes as `kizuna serve --basemap FILE`. Served as it
//! is at `GET /alerts/v1/basemap.geojson` and drawn by the map page under the alert areas — no
//! tile server, no other origin.
//!
//! # The file
//!
//! A GeoJSON FeatureCollection (RFC 7946, WGS 84 longitude/latitude) with:
//!
//! - `attribution` (string, required): the data's credit line, shown on the map;
//! - `features`: each with `properties.layer`, one of
//!
//!   | layer | geometry | drawn as |
//!   |---|---|---|
//!   | `water` | Polygon, MultiPolygon | blue area (sea, lake, wide river) |
//!   | `coastline` | LineString, MultiLineString | dark blue line |
//!   | `river` | LineString, MultiLineString | blue line |
//!   | `road` | LineString, MultiLineString | white line with a grey casing; `class` `major` wider |
//!   | `railway` | LineString, MultiLineString | dark grey line |
//!   | `boundary` | LineString, MultiLineString | dashed line (e.g. a district's edge) |
//!   | `place` | Point | its `name` as a label |
//!
//!   and optionally `name` (string; required for `place`) and `class` (`major` or `minor`).
//!
//! Every problem is reported with the feature's index and member; a file with any problem is
//! refused at start-up, before the server listens.

use serde_json::{Map, Value};

/// The layers a base map may have, in drawing order (first drawn first).
pub const LAYERS: [&str; 7] = ["water", "coastline", "river", "railway", "road", "boundary", "place"];

/// A checked base map, ready to serve.
#[derive(Debug, Clone)]
pub struct Basemap {
    json: String,
    bbox: [f64; 4],
    features: usize,
}

impl Basemap {
    /// Reads and checks a base-map file (see the module documentation).
    pub fn parse(text: &str) -> Result<Basemap, String> {
        let doc: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let obj = doc.as_object().ok_or("not a JSON object")?;
        if obj.get("type").and_then(Value::as_str) != Some("FeatureCollection") {
            return Err("the base map must be a GeoJSON FeatureCollection".to_string());
        }
        let attribution = match obj.get("attribution") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
            _ => return Err("'attribution' (the data's credit line, a string) is required".to_string()),
        };
        let features = obj.get("features").and_then(Value::as_array).ok_or("no 'features' array")?;
        let mut bbox = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
        let mut errors = Vec::new();
        let mut out = Vec::with_capacity(features.len());
        for (i, f) in features.iter().enumerate() {
            match feature(f, &mut bbox) {
                Ok(f) => out.push(f),
                Err(e) => errors.push(format!("features[{i}]: {e}")),
            }
            if errors.len() >= 20 {
                errors.push("(stopped after 20 problems)".to_string());
                break;
            }
        }
        if !errors.is_empty() {
            return Err(errors.join("; "));
        }
        if out.is_empty() {
            return Err("no features".to_string());
        }
        let body = serde_json::json!({
            "type": "FeatureCollection",
            "bbox": bbox,
            "attribution": attribution,
            "features": out,
        });
        Ok(Basemap { json: body.to_string(), bbox, features: out.len() })
    }

    /// The GeoJSON served (the file's features with only the members the map uses, and its
    /// `bbox`).
    pub fn json(&self) -> &str {
        &self.json
    }

    /// `[west, south, east, north]` of every coordinate.
    pub fn bbox(&self) -> [f64; 4] {
        self.bbox
    }

    /// How many features.
    pub fn len(&self) -> usize {
        self.features
    }

    /// Whether there are no features (never, for a parsed base map).
    pub fn is_empty(&self) -> bool {
        self.features == 0
    }
}

fn feature(f: &Value, bbox: &mut [f64; 4]) -> Result<Value, String> {
    let props = f.get("properties").and_then(Value::as_object).ok_or("no 'properties' object")?;
    let layer = props.get("layer").and_then(Value::as_str).ok_or("properties.layer (a string) is required")?;
    if !LAYERS.contains(&layer) {
        return Err(format!("properties.layer '{layer}' is not one of {}", LAYERS.join(", ")));
    }
    let name = match props.get("name") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => return Err(format!("properties.name must be a string, not {other}")),
    };
    let class = match props.get("class") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s == "major" || s == "minor" => Some(s.clone()),
        Some(other) => return Err(format!("properties.class {other} is not \"major\" or \"minor\"")),
    };
    let geometry = f.get("geometry").filter(|g| !g.is_null()).ok_or("a geometry is required")?;
    let kind = geometry.get("type").and_then(Value::as_str).ok_or("geometry.type is required")?;
    let allowed: &[&str] = match layer {
        "water" => &["Polygon", "MultiPolygon"],
        "place" => &["Point"],
        _ => &["LineString", "MultiLineString"],
    };
    if !allowed.contains(&kind) {
        return Err(format!("geometry.type '{kind}': a '{layer}' feature is a {}", allowed.join(" or ")));
    }
    if layer == "place" && name.as_deref().is_none_or(|n| n.trim().is_empty()) {
        return Err("a 'place' needs properties.name".to_string());
    }
    let coords = geometry.get("coordinates").ok_or("geometry.coordinates is required")?;
    let mut add = |p: &Value| -> Result<(), String> {
        match p.as_array().map(Vec::as_slice) {
            Some([lon, lat, ..]) => match (lon.as_f64(), lat.as_f64()) {
                (Some(lon), Some(lat)) if (-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat) => {
                    *bbox = [bbox[0].min(lon), bbox[1].min(lat), bbox[2].max(lon), bbox[3].max(lat)];
                    Ok(())
                }
                _ => Err(format!("position {p} is not a longitude/latitude")),
            },
            _ => Err(format!("position {p} is not [lon, lat]")),
        }
    };
    let list = |v: &Value, what: &str| -> Result<Vec<Value>, String> {
        v.as_array().cloned().ok_or_else(|| format!("geometry.coordinates: {what} must be an array"))
    };
    let line = |v: &Value, add: &mut dyn FnMut(&Value) -> Result<(), String>| -> Result<(), String> {
        let pts = list(v, "a line")?;
        if pts.len() < 2 {
            return Err("a line needs at least 2 positions".to_string());
        }
        pts.iter().try_for_each(&mut *add)
    };
    let polygon = |v: &Value, add: &mut dyn FnMut(&Value) -> Result<(), String>| -> Result<(), String> {
        let rings = list(v, "a polygon")?;
        if rings.is_empty() {
            return Err("a polygon needs a ring".to_string());
        }
        for ring in &rings {
            let pts = list(ring, "a ring")?;
            if pts.len() < 4 || pts.first() != pts.last() {
                return Err("a ring needs at least 4 positions, the last repeating the first".to_string());
            }
            pts.iter().try_for_each(&mut *add)?;
        }
        Ok(())
    };
    match kind {
        "Point" => add(coords)?,
        "LineString" => line(coords, &mut add)?,
        "MultiLineString" => list(coords, "a MultiLineString")?.iter().try_for_each(|l| line(l, &mut add))?,
        "Polygon" => polygon(coords, &mut add)?,
        _ => list(coords, "a MultiPolygon")?.iter().try_for_each(|p| polygon(p, &mut add))?,
    }
    let mut out = Map::new();
    out.insert("layer".into(), Value::String(layer.to_string()));
    if let Some(n) = name {
        out.insert("name".into(), Value::String(n));
    }
    if let Some(c) = class {
        out.insert("class".into(), Value::String(c));
    }
    Ok(serde_json::json!({"type": "Feature", "properties": out, "geometry": geometry}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_good_file_is_served_with_its_bbox() {
        let text = r#"{"type": "FeatureCollection", "attribution": "test",
            "features": [
              {"type": "Feature", "properties": {"layer": "river", "name": "川", "extra": 1},
               "geometry": {"type": "LineString", "coordinates": [[139.0, 36.0], [139.2, 36.3]]}},
              {"type": "Feature", "properties": {"layer": "place", "name": "駅"},
               "geometry": {"type": "Point", "coordinates": [139.1, 36.1]}}
            ]}"#;
        let b = Basemap::parse(text).expect("valid");
        assert_eq!(b.bbox(), [139.0, 36.0, 139.2, 36.3]);
        assert_eq!(b.len(), 2);
        let v: Value = serde_json::from_str(b.json()).expect("json");
        assert_eq!(v["features"][0]["properties"], serde_json::json!({"layer": "river", "name": "川"}));
        assert_eq!(v["attribution"], "test");
    }

    #[test]
    fn every_problem_is_named() {
        let text = r#"{"type": "FeatureCollection", "attribution": "x", "features": [
              {"type": "Feature", "properties": {"layer": "roads"}, "geometry": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}},
              {"type": "Feature", "properties": {"layer": "water"}, "geometry": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}},
              {"type": "Feature", "properties": {"layer": "place"}, "geometry": {"type": "Point", "coordinates": [0, 0]}},
              {"type": "Feature", "properties": {"layer": "road"}, "geometry": {"type": "LineString", "coordinates": [[0, 0]]}},
              {"type": "Feature", "properties": {"layer": "road", "class": "big"}, "geometry": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}},
              {"type": "Feature", "properties": {"layer": "river"}, "geometry": {"type": "LineString", "coordinates": [[0, 0], [200, 1]]}},
              {"type": "Feature", "properties": {"layer": "water"}, "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1]]]}},
              {"type": "Feature", "properties": {"layer": "river"}, "geometry": null}
            ]}"#;
        let e = Basemap::parse(text).unwrap_err();
        for want in [
            "features[0]: properties.layer 'roads' is not one of",
            "features[1]: geometry.type 'LineString': a 'water' feature is a Polygon or MultiPolygon",
            "features[2]: a 'place' needs properties.name",
            "features[3]: a line needs at least 2 positions",
            "features[4]: properties.class \"big\"",
            "features[5]: position [200,1] is not a longitude/latitude",
            "features[6]: a ring needs at least 4 positions",
            "features[7]: a geometry is required",
        ] {
            assert!(e.contains(want), "missing «{want}» in {e}");
        }
        assert!(Basemap::parse("[]").unwrap_err().contains("not a JSON object"));
        assert!(Basemap::parse(r#"{"type": "FeatureCollection", "features": []}"#)
            .unwrap_err()
            .contains("attribution"));
        assert!(Basemap::parse(r#"{"type": "FeatureCollection", "attribution": "x", "features": []}"#)
            .unwrap_err()
            .contains("no features"));
        assert!(Basemap::parse("{").unwrap_err().starts_with("not JSON"));
    }
}
