//! 3a–3c: geo-queries over many located entities.
//!
//! Entity `i` is `urn:ngsi-ld:Spot:{i:07}` of type `Spot` with one attribute, a
//! `location` Point drawn uniformly (in longitude and latitude) over a square of
//! 40 km × 40 km centred on 36.39 N 139.06 E, on a grid of 1e-7° (about a centimetre),
//! so the JSON carries the very `f64` used here for the true counts. Query points are
//! drawn the same way on a 1e-6° grid.
//!
//! True distances use the WGS84 ellipsoid's radii of curvature at the mid-latitude (a
//! local flat frame): over 1 km its error is below a millimetre, far under the spacing
//! of the points, so the true count of `near;maxDistance==1000` is exact for all
//! practical purposes. `within` a lon/lat rectangle is exact (strict inequalities: a
//! point on the boundary is not within).

use std::f64::consts::PI;
use std::time::Duration;

use anyhow::Context as _;
use axum::body::Bytes;
use reqwest::header::CONTENT_TYPE;
use serde_json::json;

use crate::data::{splitmix64, Rng};
use crate::report::{int, judge, ms, Row};
use crate::{client, dir_mb, load, servers, Ctx};

/// The entity type of the located entities.
const TYPE: &str = "Spot";
const CENTER_LON: f64 = 139.06;
pub(crate) const CENTER_LAT: f64 = 36.39;
/// Half the side of the square, in metres.
const HALF_SIDE_M: f64 = 20_000.0;
/// The radius of the near queries, in metres.
const NEAR_M: f64 = 1000.0;
/// Half the side of the within polygon, in metres (a 1 km × 1 km square).
const WITHIN_HALF_M: f64 = 500.0;
/// The query parameters of one request.
type Params = Vec<(&'static str, String)>;

/// Queries whose match count is asked from the server and checked.
const COUNTED: usize = 30;

/// Metres per degree of latitude and of longitude at `lat` (WGS84 radii of curvature).
pub(crate) fn metres_per_degree(lat: f64) -> (f64, f64) {
    const A: f64 = 6_378_137.0;
    const E2: f64 = 6.694_379_990_14e-3;
    let phi = lat.to_radians();
    let w = (1.0 - E2 * phi.sin().powi(2)).sqrt();
    let n = A / w;
    let m = A * (1.0 - E2) / (w * w * w);
    (m * PI / 180.0, n * phi.cos() * PI / 180.0)
}

/// The square's (min_lon, min_lat, width_lon, height_lat) in degrees.
pub(crate) fn area() -> (f64, f64, f64, f64) {
    let (m_lat, m_lon) = metres_per_degree(CENTER_LAT);
    let (half_lon, half_lat) = (HALF_SIDE_M / m_lon, HALF_SIDE_M / m_lat);
    (CENTER_LON - half_lon, CENTER_LAT - half_lat, 2.0 * half_lon, 2.0 * half_lat)
}

/// A point of the square on a grid of `1/scale` degrees, from two random numbers.
fn grid_point(a: u64, b: u64, scale: f64) -> (f64, f64) {
    let (lon0, lat0, w, h) = area();
    let (lon0, lat0) = ((lon0 * scale).ceil() as i64, (lat0 * scale).ceil() as i64);
    let (w, h) = ((w * scale) as u64, (h * scale) as u64);
    let lon = (lon0 + (a % w) as i64) as f64 / scale;
    let lat = (lat0 + (b % h) as i64) as f64 / scale;
    (lon, lat)
}

/// The location of entity `i`.
fn spot(i: u64) -> (f64, f64) {
    grid_point(splitmix64(i ^ 0x6E0_0001), splitmix64(i ^ 0x6E0_0002), 1e7)
}

fn spot_id(i: u64) -> String {
    format!("urn:ngsi-ld:Spot:{i:07}")
}

/// The distance in metres between two nearby points (local ellipsoidal frame).
fn distance_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (m_lat, m_lon) = metres_per_degree((a.1 + b.1) / 2.0);
    ((a.0 - b.0) * m_lon).hypot((a.1 - b.1) * m_lat)
}

/// The 1 km × 1 km square around `c`: (min_lon, min_lat, max_lon, max_lat).
fn square(c: (f64, f64)) -> (f64, f64, f64, f64) {
    let (m_lat, m_lon) = metres_per_degree(c.1);
    let (dl, dp) = (WITHIN_HALF_M / m_lon, WITHIN_HALF_M / m_lat);
    // Rounded to 1e-6°, as sent.
    let r = |x: f64| (x * 1e6).round() / 1e6;
    (r(c.0 - dl), r(c.1 - dp), r(c.0 + dl), r(c.1 + dp))
}

fn polygon_json(s: (f64, f64, f64, f64)) -> String {
    let (a, b, c, d) = s;
    json!([[[a, b], [c, b], [c, d], [a, d], [a, b]]]).to_string()
}

/// Runs 3a–3c.
pub async fn run(cx: &mut Ctx) -> anyhow::Result<()> {
    let p = cx.p.clone();
    let n = p.geo_entities;
    let points: Vec<(f64, f64)> = (0..n).map(spot).collect();
    let batches: Vec<(Bytes, u64)> = (0..n)
        .collect::<Vec<u64>>()
        .chunks(p.batch_size)
        .map(|part| {
            let items: Vec<String> = part
                .iter()
                .map(|&i| {
                    let (lon, lat) = points[i as usize];
                    json!({"id": spot_id(i), "type": TYPE,
                           "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}}})
                    .to_string()
                })
                .collect();
            (Bytes::from(format!("[{}]", items.join(","))), part.len() as u64)
        })
        .collect();

    // ---- 3a: load ----
    eprintln!("[3a] Kizuna batch upsert of {} located entities …", int(n as f64));
    let dir = cx.root.join("kizuna-geo");
    let k = servers::kizuna(&dir).await?;
    let http = client(p.clients)?;
    let u = {
        let (http, url) = (http.clone(), format!("{}/ngsi-ld/v1/entityOperations/upsert", k.base));
        load::drain_batches(p.batch_clients, batches, move |b| {
            http.post(&url).header(CONTENT_TYPE, "application/json").body(b)
        })
        .await?
    };
    cx.errors.note("3a geo batch upsert", &u);
    if u.stored != n {
        cx.mismatches.push(format!("3a: {} of {n} located entities stored", u.stored));
    }
    let rate = u.stored as f64 / u.elapsed.as_secs_f64();
    let mut row = Row::new(
        format!(
            "3a batch upsert {} Points (40×40 km), {} per req, {} clients",
            int(n as f64),
            p.batch_size,
            p.batch_clients
        ),
        format!("{} entities/s ({:.1} s; store {:.0} MB)", int(rate), u.elapsed.as_secs_f64(), dir_mb(&dir)),
    );
    if let Some(sq) = cx.sqlite {
        row = row.against(
            format!("{} rows/s (1b, {} per txn)", int(sq.chunked), int(p.batch_size as f64)),
            crate::report::pct(rate / sq.chunked),
        );
    }
    cx.rows.push(row);

    // The query points, the same for every run of the benchmark.
    let mut rng = Rng::new(0x6E0_5EED);
    let centres: Vec<(f64, f64)> =
        (0..p.queries).map(|_| grid_point(rng.below(u64::MAX), rng.below(u64::MAX), 1e6)).collect();
    let url = format!("{}/ngsi-ld/v1/entities", k.base);
    let (hs_p50, hs_p99) = (cx.hello.seq_p50, cx.hello.seq_p99);

    // ---- 3b: near ----
    eprintln!("[3b] Kizuna near;maxDistance==1000 queries, {} sequential …", p.queries);
    let near_params = |c: (f64, f64)| -> Params {
        vec![
            ("type", TYPE.to_string()),
            ("georel", format!("near;maxDistance=={NEAR_M}")),
            ("geometry", "Point".to_string()),
            ("coordinates", json!([c.0, c.1]).to_string()),
            ("limit", "20".to_string()),
        ]
    };
    let near_truth = |c: (f64, f64)| -> u64 {
        let (m_lat, m_lon) = metres_per_degree(c.1);
        let (dl, dp) = (1.01 * NEAR_M / m_lon, 1.01 * NEAR_M / m_lat);
        points
            .iter()
            .filter(|q| (q.0 - c.0).abs() <= dl && (q.1 - c.1).abs() <= dp && distance_m(**q, c) <= NEAR_M)
            .count() as u64
    };
    let shapes: [(&str, &str, Vec<Params>, Vec<u64>); 2] = [
        (
            "3b",
            "near;maxDistance==1000 Point, limit 20",
            centres.iter().map(|&c| near_params(c)).collect(),
            centres.iter().take(COUNTED).map(|&c| near_truth(c)).collect(),
        ),
        (
            "3c",
            "within 1 km² Polygon, limit 20",
            centres
                .iter()
                .map(|&c| {
                    vec![
                        ("type", TYPE.to_string()),
                        ("georel", "within".to_string()),
                        ("geometry", "Polygon".to_string()),
                        ("coordinates", polygon_json(square(c))),
                        ("limit", "20".to_string()),
                    ]
                })
                .collect(),
            centres
                .iter()
                .take(COUNTED)
                .map(|&c| {
                    let (a, b, cc, d) = square(c);
                    points.iter().filter(|q| q.0 > a && q.0 < cc && q.1 > b && q.1 < d).count() as u64
                })
                .collect(),
        ),
    ];
    for (tag, label, queries, truth) in shapes {
        if tag == "3c" {
            eprintln!("[3c] Kizuna within-polygon queries, {} sequential …", p.queries);
        }
        // Warm-up (unrecorded), then the timed run; every answer must hold 20 entities
        // at most (a page) and parse as a JSON array.
        let mut i = 0usize;
        let mk = |i: &mut usize| {
            let q = &queries[*i % queries.len()];
            *i += 1;
            http.get(&url).query(q)
        };
        let mut w = queries.len() / 2;
        load::sequential(5, Duration::from_secs(30), || mk(&mut w)).await;
        let o = load::sequential_checked(
            queries.len(),
            Duration::from_secs(60),
            || mk(&mut i),
            |_, body| match serde_json::from_slice::<serde_json::Value>(body) {
                Ok(serde_json::Value::Array(a)) if a.len() <= 20 => Ok(()),
                _ => Err(format!(
                    "not a page of at most 20 entities: {}",
                    String::from_utf8_lossy(&body[..body.len().min(200)])
                )),
            },
        )
        .await;
        cx.errors.note(&format!("{tag} {label}"), &o);
        // The server's counts for the first queries, against the truth.
        let mut counted = Vec::new();
        let mut counted_right = true;
        let count_start = std::time::Instant::now();
        for (q, &expected) in queries.iter().zip(&truth) {
            if counted.len() >= 3 && count_start.elapsed() > Duration::from_secs(30) {
                break;
            }
            let mut q = q.clone();
            q.retain(|(k, _)| *k != "limit");
            q.extend([("count", "true".to_string()), ("limit", "0".to_string())]);
            let got = load::fetch(http.get(&url).query(&q)).await.ok().and_then(|(h, _)| {
                h.get("NGSILD-Results-Count").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok())
            });
            if got != Some(expected) {
                counted_right = false;
                cx.mismatches.push(format!("{tag} {label} {q:?}: server counted {got:?}, true count {expected}"));
            }
            counted.push(got.unwrap_or(0));
        }
        let avg = counted.iter().sum::<u64>() as f64 / counted.len().max(1) as f64;
        let avg_true = truth[..counted.len()].iter().sum::<u64>() as f64 / counted.len().max(1) as f64;
        let (p50, p99) = (o.latencies.percentile_ms(50.0), o.latencies.percentile_ms(99.0));
        cx.rows.push(
            Row::new(
                format!("{tag} {label} [avg {avg:.0} matches, true {avg_true:.0}, {} counted]", counted.len()),
                format!("p50 {} / p99 {} ms ({} runs)", ms(p50), ms(p99), o.latencies.len()),
            )
            .against(format!("p50 {} / p99 {} ms (1a seq.)", ms(hs_p50), ms(hs_p99)), "")
            .judged("p99 < 10 ms", judge(p99 < 10.0, &[&o]).requiring(counted_right)),
        );
    }
    drop(http);
    k.stop().await.context("stopping the geo server")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_square_is_40_km_wide_and_points_fall_inside() {
        let (lon0, lat0, w, h) = area();
        let across = distance_m((lon0, CENTER_LAT), (lon0 + w, CENTER_LAT));
        let up = distance_m((CENTER_LON, lat0), (CENTER_LON, lat0 + h));
        assert!((across - 40_000.0).abs() < 100.0, "{across}");
        assert!((up - 40_000.0).abs() < 100.0, "{up}");
        for i in 0..1000 {
            let (lon, lat) = spot(i);
            assert!(lon >= lon0 && lon <= lon0 + w && lat >= lat0 && lat <= lat0 + h);
        }
    }

    #[test]
    fn local_distance_is_close_to_a_known_geodesic() {
        // One minute of latitude at 36.39 N is about 1,849.6 m on WGS84.
        let d = distance_m((139.0, 36.39), (139.0, 36.39 + 1.0 / 60.0));
        assert!((d - 1849.6).abs() < 1.0, "{d}");
    }
}
