//! The synthetic data set: sensor entities whose attribute values follow explicit,
//! deterministic distributions, so that the selectivity of every benchmark query is
//! known in advance and can be checked against the server's own count.
//!
//! Entity `i` (for `i` in `0..entities`) has id `urn:ngsi-ld:Sensor:{i:07}`, type
//! `Sensor`, and five attributes, each drawn from its own hash of `i`
//! ([`splitmix64`] with a per-attribute salt), so they are independent of each other:
//!
//! | attribute     | distribution                                                        |
//! |---------------|---------------------------------------------------------------------|
//! | `temperature` | uniform over the 5,000 values −10.00, −9.99, …, 39.99 (°C, `CEL`)   |
//! | `humidity`    | uniform integer 20..=90 (%)                                         |
//! | `district`    | uniform over the 10 names of [`DISTRICTS`] (10 % each)              |
//! | `status`      | `"error"` 1 %, `"maintenance"` 4 %, `"ok"` 95 %                      |
//! | `location`    | a Point, longitude 135.40..135.60, latitude 34.60..34.75            |
//!
//! Hence, for large data sets: `temperature>39.5` matches 49/5000 ≈ 0.98 %,
//! `temperature==20..21` (inclusive) 101/5000 ≈ 2.02 %, `district=="Kita"` 10 %,
//! `status=="error"|temperature>39.5` ≈ 1.97 %, `temperature>39.5;district=="Kita"`
//! ≈ 0.098 %. The exact counts for the generated set are computed by [`QueryShape::expected`].

use serde_json::json;

/// The entity type of the data set.
pub const TYPE: &str = "Sensor";

/// The districts (wards), drawn uniformly.
pub const DISTRICTS: [&str; 10] =
    ["Kita", "Chuo", "Nishi", "Naniwa", "Tennoji", "Yodogawa", "Sumiyoshi", "Abeno", "Miyakojima", "Fukushima"];

/// A small, fast, well-mixed 64-bit hash (the SplitMix64 finaliser).
pub fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A deterministic pseudo-random generator for the load generator (random ids).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(splitmix64(seed))
    }

    /// A number in `0..n` (`n > 0`; the modulo bias is negligible for our `n`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(1);
        splitmix64(self.0) % n.max(1)
    }
}

/// The values of one sensor.
#[derive(Debug, Clone)]
pub struct Sensor {
    /// °C, a multiple of 0.01 in −10.00..=39.99.
    pub temperature: f64,
    /// %, 20..=90.
    pub humidity: i64,
    /// One of [`DISTRICTS`].
    pub district: &'static str,
    /// `ok`, `maintenance` or `error`.
    pub status: &'static str,
    /// Longitude.
    pub lon: f64,
    /// Latitude.
    pub lat: f64,
}

fn draw(i: u64, salt: u64) -> u64 {
    splitmix64(i ^ salt.wrapping_mul(0xA076_1D64_78BD_642F))
}

/// The values of sensor `i`.
pub fn sensor(i: u64) -> Sensor {
    // An integer divided by 100: the f64 is the correctly rounded decimal, which
    // serde_json prints and the server parses back to the very same f64.
    let temperature = ((draw(i, 1) % 5000) as f64 - 1000.0) / 100.0;
    let humidity = 20 + (draw(i, 2) % 71) as i64;
    let district = DISTRICTS[(draw(i, 3) % DISTRICTS.len() as u64) as usize];
    let status = match draw(i, 4) % 100 {
        0 => "error",
        1..=4 => "maintenance",
        _ => "ok",
    };
    let lon = (13_540_000 + draw(i, 5) % 20_000) as f64 / 100_000.0;
    let lat = (3_460_000 + draw(i, 6) % 15_000) as f64 / 100_000.0;
    Sensor { temperature, humidity, district, status, lon, lat }
}

/// The id of data-set entity `i`.
pub fn entity_id(i: u64) -> String {
    format!("urn:ngsi-ld:Sensor:{i:07}")
}

/// A normalized NGSI-LD entity (application/json, core context) for sensor `s`.
pub fn entity_json(id: &str, s: &Sensor) -> String {
    json!({
        "id": id,
        "type": TYPE,
        "temperature": {"type": "Property", "value": s.temperature, "unitCode": "CEL",
                        "observedAt": "2025-04-01T09:00:00Z"},
        "humidity": {"type": "Property", "value": s.humidity, "unitCode": "P1"},
        "district": {"type": "Property", "value": s.district},
        "status": {"type": "Property", "value": s.status},
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [s.lon, s.lat]}}
    })
    .to_string()
}

/// One query of the query benchmark.
pub struct QueryShape {
    /// A short label for the table.
    pub label: &'static str,
    /// The query parameters (unencoded; the client encodes them).
    pub params: Vec<(&'static str, &'static str)>,
    /// Which sensors match (the ground truth, mirroring `q`).
    pub pred: fn(&Sensor) -> bool,
    /// Whether it is the full-count query (no latency target: it reads every entity).
    pub is_count: bool,
}

impl QueryShape {
    /// How many of the first `n` sensors match.
    pub fn expected(&self, n: u64) -> u64 {
        (0..n).filter(|&i| (self.pred)(&sensor(i))).count() as u64
    }
}

/// The query shapes measured, over the entities of type [`TYPE`].
pub fn query_shapes() -> Vec<QueryShape> {
    vec![
        QueryShape {
            label: "q=temperature>39.5 (numeric, ~1%)",
            params: vec![("type", TYPE), ("q", "temperature>39.5")],
            pred: |s| s.temperature > 39.5,
            is_count: false,
        },
        QueryShape {
            label: "q=district==\"Kita\" (string eq, 10%)",
            params: vec![("type", TYPE), ("q", "district==\"Kita\"")],
            pred: |s| s.district == "Kita",
            is_count: false,
        },
        QueryShape {
            label: "q=temperature==20..21 (range, ~2%)",
            params: vec![("type", TYPE), ("q", "temperature==20..21")],
            pred: |s| (20.0..=21.0).contains(&s.temperature),
            is_count: false,
        },
        QueryShape {
            label: "type only, limit=20 (first page)",
            params: vec![("type", TYPE), ("limit", "20")],
            pred: |_| true,
            is_count: false,
        },
        QueryShape {
            label: "q=status==\"error\"|temperature>39.5 (OR, ~2%)",
            params: vec![("type", TYPE), ("q", "status==\"error\"|temperature>39.5")],
            pred: |s| s.status == "error" || s.temperature > 39.5,
            is_count: false,
        },
        QueryShape {
            label: "q=temperature>39.5;district==\"Kita\" (AND, ~0.1%)",
            params: vec![("type", TYPE), ("q", "temperature>39.5;district==\"Kita\"")],
            pred: |s| s.temperature > 39.5 && s.district == "Kita",
            is_count: false,
        },
        QueryShape {
            label: "type, count=true&limit=0 (full count)",
            params: vec![("type", TYPE), ("count", "true"), ("limit", "0")],
            pred: |_| true,
            is_count: true,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distributions_have_the_documented_selectivity() {
        let n = 100_000u64;
        let shapes = query_shapes();
        let frac = |k: usize| shapes[k].expected(n) as f64 / n as f64;
        assert!((frac(0) - 0.0098).abs() < 0.002, "{}", frac(0));
        assert!((frac(1) - 0.10).abs() < 0.01, "{}", frac(1));
        assert!((frac(2) - 0.0202).abs() < 0.003, "{}", frac(2));
        assert!((frac(4) - 0.0197).abs() < 0.003, "{}", frac(4));
    }

    #[test]
    fn temperatures_round_trip_through_json() {
        for i in 0..10_000 {
            let s = sensor(i);
            let v: serde_json::Value = serde_json::from_str(&entity_json(&entity_id(i), &s)).unwrap_or_default();
            assert_eq!(v["temperature"]["value"].as_f64(), Some(s.temperature));
        }
    }
}
