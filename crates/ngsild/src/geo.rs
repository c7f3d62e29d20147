//! GeoJSON geometry validation (RFC 7946) for GeoProperty values.

use serde_json::Value;

/// Checks that `v` is a GeoJSON geometry NGSI-LD accepts; the error names what is wrong.
pub fn validate_geometry(v: &Value) -> Result<(), String> {
    let obj = v.as_object().ok_or("a GeoJSON geometry must be an object")?;
    let ty = obj.get("type").and_then(Value::as_str).ok_or("a GeoJSON geometry needs a string 'type'")?;
    let coords = obj.get("coordinates");
    match ty {
        "Point" => position(need(coords, ty)?),
        "MultiPoint" => list(need(coords, ty)?, 1, position),
        "LineString" => line(need(coords, ty)?),
        "MultiLineString" => list(need(coords, ty)?, 1, line),
        "Polygon" => polygon(need(coords, ty)?),
        "MultiPolygon" => list(need(coords, ty)?, 1, polygon),
        "GeometryCollection" => {
            let geoms = obj
                .get("geometries")
                .and_then(Value::as_array)
                .ok_or("GeometryCollection needs a 'geometries' array")?;
            geoms.iter().try_for_each(validate_geometry)
        }
        other => Err(format!("'{other}' is not a GeoJSON geometry type")),
    }
}

fn need<'a>(c: Option<&'a Value>, ty: &str) -> Result<&'a Value, String> {
    c.ok_or_else(|| format!("{ty} needs 'coordinates'"))
}

fn list(v: &Value, min: usize, each: fn(&Value) -> Result<(), String>) -> Result<(), String> {
    let a = v.as_array().ok_or("coordinates must be arrays")?;
    if a.len() < min {
        return Err(format!("expected at least {min} element(s) in coordinates"));
    }
    a.iter().try_for_each(each)
}

fn position(v: &Value) -> Result<(), String> {
    let a = v.as_array().ok_or("a position must be an array of numbers")?;
    if a.len() < 2 || a.len() > 3 {
        return Err(format!("a position has 2 or 3 numbers, not {}", a.len()));
    }
    let nums: Vec<f64> = a
        .iter()
        .map(|n| n.as_f64().ok_or_else(|| format!("position member {n} is not a number")))
        .collect::<Result<_, _>>()?;
    if !(-180.0..=180.0).contains(&nums[0]) {
        return Err(format!("longitude {} is out of range [-180, 180]", nums[0]));
    }
    if !(-90.0..=90.0).contains(&nums[1]) {
        return Err(format!("latitude {} is out of range [-90, 90]", nums[1]));
    }
    Ok(())
}

fn line(v: &Value) -> Result<(), String> {
    list(v, 2, position)
}

fn ring(v: &Value) -> Result<(), String> {
    list(v, 4, position)?;
    let a = v.as_array().ok_or("a linear ring must be an array")?;
    if a.first() != a.last() {
        return Err("a polygon ring must be closed (first and last positions equal)".into());
    }
    Ok(())
}

fn polygon(v: &Value) -> Result<(), String> {
    list(v, 1, ring)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accepts_and_rejects() {
        assert!(validate_geometry(&json!({"type":"Point","coordinates":[139.7,35.6]})).is_ok());
        let open = json!({"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1]]]});
        assert!(validate_geometry(&open).unwrap_err().contains("closed"));
        let lat = json!({"type":"Point","coordinates":[139.7,95.0]});
        assert!(validate_geometry(&lat).unwrap_err().contains("latitude"));
        assert!(validate_geometry(&json!({"type":"Circle","coordinates":[0,0]})).is_err());
    }
}
