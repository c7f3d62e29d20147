//! The public alert map (`GET /alerts/v1/map`): one HTML page, usable on a phone and without
//! any internet access, that shows the tenant's active alert areas coloured by warning level
//! (警戒レベル) and the tenant's shelters with their status, updating live from `/stream`.
//!
//! # Routes (all public, `?tenant=` optional as for the other public endpoints)
//!
//! | route | what |
//! |---|---|
//! | `GET /map` | the page (`static/map.html`); it passes its own `?tenant=` on to the requests below |
//! | `GET /map.js`, `GET /map.css` | its script and style (`static/map.js`, `static/map.css`) |
//! | `GET /municipalities.geojson` | the bundled municipalities with **approximate** areas (below) |
//! | `GET /shelters.geojson` | every shelter of the tenant, open or closed, with capacity and occupancy (`active.geojson` has the open ones only) |
//!
//! Everything is compiled into the binary (`include_str!`); the page loads nothing from
//! another origin: no map library, no tiles, no CDN, no web fonts. The map is drawn by
//! `static/map.js` in plain JavaScript as SVG, in an equirectangular projection (longitude
//! scaled by the cosine of the middle latitude) fitted to the data's bounding box, with pan
//! (drag), zoom (wheel, pinch, the ＋/− buttons) and "fit" buttons.
//!
//! # Warning-level colours
//!
//! The colours of the five 警戒レベル fixed by the Cabinet Office (内閣府（防災担当）, 29 May
//! 2020, "警戒レベルの一覧表の配色", since used by the 避難情報に関するガイドライン), in the
//! screen (RGB) values as used by the Japan Meteorological Agency:
//!
//! | level | meaning | colour | RGB |
//! |---|---|---|---|
//! | 5 | 緊急安全確保 | 黒 black | `#0C000C` |
//! | 4 | 避難指示 | 紫 purple | `#AA00AA` |
//! | 3 | 高齢者等避難 | 赤 red | `#FF2800` |
//! | 2 | (気象庁の注意報等) | 黄 yellow | `#F2E700` |
//! | 1 | (早期注意情報) | 白 white | `#FFFFFF` (drawn with a grey outline) |
//! | none | e.g. 避難所開設, other CAP events | blue (Kizuna's choice) | `#1E63D6` |
//!
//! The same table is [`LEVEL_COLOURS`] (the script receives it in the page) and the legend of
//! the page. An alert area whose CAP `area` has only a `geocode` (a GeoJSON `Point`) is drawn
//! as a 3 km circle around the municipality's point, the same rule as `/here` uses.
//!
//! # Municipal boundaries are approximate
//!
//! Kizuna ships one representative point per municipality (`kizuna_cap::geocode`, for 群馬県
//! the municipal offices), not boundaries. [`municipalities_geojson`] therefore *derives* an area per
//! municipality: the Voronoi cell of its point among all the points (every place is given to
//! the nearest municipal office), clipped to the convex hull of all the points expanded by
//! [`HULL_MARGIN_KM`]. Computed once, in a local plane (kilometres east and north of the
//! points' centre), then written back as WGS 84 longitude/latitude. These cells are **not**
//! the legal boundaries — a town can be off by kilometres — and the page says so; the
//! GeoJSON says so in its `approximate` and `source` members.
//!
//! To ship real boundaries later: put a GeoJSON FeatureCollection of municipal polygons
//! (for example converted from 国土数値情報 行政区域データ N03, simplified to a few hundred
//! kilobytes) as `crates/api-alerts/static/municipalities.geojson`, each feature with the
//! 6-digit `code` and `name` properties, serve it with `include_str!` from
//! [`municipalities_geojson`] instead of the derived cells, and keep `label` points (the
//! script labels a feature at its `label` `[lon, lat]`, else at its first vertex); the script
//! needs no change.

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use kizuna_cap::geocode::{self, Municipality};
use serde_json::{json, Value};

use kizuna_api_ngsild::ApiError;

use crate::entity::{attr, LOCATION};
use crate::{
    all_of_type, AlertsState, PublicTenant, CAPACITY, IS_OPEN, MOUNT, NAME, OCCUPANCY, POI_CATEGORY, POI_TYPE,
};

/// How far the clipping hull reaches beyond the outermost municipal offices.
pub const HULL_MARGIN_KM: f64 = 5.0;

/// Warning level → fill colour (see the module documentation); `"none"` for alerts without one.
pub const LEVEL_COLOURS: [(&str, &str); 6] =
    [("5", "#0C000C"), ("4", "#AA00AA"), ("3", "#FF2800"), ("2", "#F2E700"), ("1", "#FFFFFF"), ("none", "#1E63D6")];

const HTML: &str = include_str!("../static/map.html");
const JS: &str = include_str!("../static/map.js");
const CSS: &str = include_str!("../static/map.css");

/// The map's routes, merged into the alerts router.
pub(crate) fn routes() -> Router<AlertsState> {
    Router::new()
        .route("/map", get(page))
        .route("/map.js", get(|| async { text("text/javascript; charset=utf-8", JS.to_string()) }))
        .route("/map.css", get(|| async { text("text/css; charset=utf-8", CSS.to_string()) }))
        .route("/municipalities.geojson", get(|| async { municipalities_response() }))
        .route("/shelters.geojson", get(shelters))
}

fn text(content_type: &'static str, body: String) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}

/// The page, with the mount point and the colour table filled in.
fn page_html() -> String {
    let colours: serde_json::Map<String, Value> =
        LEVEL_COLOURS.iter().map(|(k, v)| (k.to_string(), Value::String(v.to_string()))).collect();
    HTML.replace("{{BASE}}", MOUNT).replace("{{COLOURS}}", &Value::Object(colours).to_string())
}

async fn page() -> Response {
    text("text/html; charset=utf-8", page_html())
}

fn municipalities_response() -> Response {
    text("application/geo+json", municipalities_geojson().to_string())
}

/// `GET /shelters.geojson`: every shelter of the tenant (open or closed).
async fn shelters(State(st): State<AlertsState>, PublicTenant(tenant): PublicTenant) -> Result<Response, ApiError> {
    let features: Vec<Value> = all_of_type(st.api(), &tenant, POI_TYPE)
        .await?
        .into_iter()
        .filter(|e| match attr(e, POI_CATEGORY) {
            Some(Value::Array(a)) => a.iter().any(|c| c == "shelter"),
            Some(Value::String(s)) => s == "shelter",
            _ => false,
        })
        .filter_map(|e| {
            let geometry = attr(&e, LOCATION).filter(|g| g["type"] == "Point")?.clone();
            Some(json!({
                "type": "Feature",
                "id": e.id,
                "geometry": geometry,
                "properties": {
                    "kind": "shelter",
                    "id": e.id,
                    "name": attr(&e, NAME),
                    "isOpen": attr(&e, IS_OPEN).and_then(Value::as_bool) == Some(true),
                    "capacity": attr(&e, CAPACITY).and_then(Value::as_f64),
                    "occupancy": attr(&e, OCCUPANCY).and_then(Value::as_f64),
                }
            }))
        })
        .collect();
    Ok(text("application/geo+json", json!({"type": "FeatureCollection", "features": features}).to_string()))
}

/// The bundled municipalities as a FeatureCollection of their approximate areas (computed
/// once; see the module documentation).
pub fn municipalities_geojson() -> &'static Value {
    static CELLS: OnceLock<Value> = OnceLock::new();
    CELLS.get_or_init(|| {
        let all: Vec<&Municipality> = geocode::all().collect();
        let cells = voronoi_cells(&all.iter().map(|m| (m.point.lon, m.point.lat)).collect::<Vec<_>>(), HULL_MARGIN_KM);
        let features: Vec<Value> = all
            .iter()
            .zip(cells)
            .map(|(m, cell)| {
                let mut ring: Vec<Value> = cell.iter().map(|&(lon, lat)| json!([round(lon), round(lat)])).collect();
                if let Some(first) = ring.first().cloned() {
                    ring.push(first);
                }
                json!({
                    "type": "Feature",
                    "id": m.code,
                    "geometry": {"type": "Polygon", "coordinates": [ring]},
                    "properties": {
                        "code": m.code,
                        "name": m.name,
                        "kana": m.kana,
                        "kind": m.kind,
                        "district": m.district,
                        "label": [m.point.lon, m.point.lat],
                    }
                })
            })
            .collect();
        json!({
            "type": "FeatureCollection",
            "approximate": true,
            "source": format!(
                "Voronoi cells of the municipal offices (kizuna_cap::geocode), clipped to their convex hull \
                 expanded by {HULL_MARGIN_KM} km: approximate areas, not legal boundaries"
            ),
            "features": features,
        })
    })
}

fn round(x: f64) -> f64 {
    (x * 1e5).round() / 1e5
}

type Xy = (f64, f64);

/// Kilometres per degree of latitude (mean).
const KM_PER_DEG: f64 = 111.2;

/// The Voronoi cell of every site (`(lon, lat)`), clipped to the sites' convex hull expanded by
/// `margin_km`; each cell a counter-clockwise ring of `(lon, lat)`, not closed.
fn voronoi_cells(sites: &[Xy], margin_km: f64) -> Vec<Vec<Xy>> {
    if sites.is_empty() {
        return Vec::new();
    }
    let n = sites.len() as f64;
    let lon0 = sites.iter().map(|s| s.0).sum::<f64>() / n;
    let lat0 = sites.iter().map(|s| s.1).sum::<f64>() / n;
    let kx = KM_PER_DEG * lat0.to_radians().cos();
    let to_km = |(lon, lat): Xy| ((lon - lon0) * kx, (lat - lat0) * KM_PER_DEG);
    let to_deg = |(x, y): Xy| (lon0 + x / kx, lat0 + y / KM_PER_DEG);
    let pts: Vec<Xy> = sites.iter().copied().map(to_km).collect();
    // The hull expanded by the margin: the hull of circles (24-gons) around every hull vertex.
    let mut ring_pts = Vec::new();
    for &(x, y) in &convex_hull(&pts) {
        for i in 0..24 {
            let a = f64::from(i) * std::f64::consts::TAU / 24.0;
            ring_pts.push((x + margin_km * a.cos(), y + margin_km * a.sin()));
        }
    }
    let clip = convex_hull(&ring_pts);
    pts.iter()
        .enumerate()
        .map(|(i, &p)| {
            let mut cell = clip.clone();
            for (j, &q) in pts.iter().enumerate() {
                if i != j && p != q {
                    // Keep the half-plane nearer p than q: (x - m)·(q - p) <= 0.
                    let m = ((p.0 + q.0) / 2.0, (p.1 + q.1) / 2.0);
                    let d = (q.0 - p.0, q.1 - p.1);
                    cell = clip_half_plane(&cell, |v| (v.0 - m.0) * d.0 + (v.1 - m.1) * d.1);
                }
            }
            cell.into_iter().map(to_deg).collect()
        })
        .collect()
}

fn cross(o: Xy, a: Xy, b: Xy) -> f64 {
    (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0)
}

/// Andrew's monotone chain; counter-clockwise, not closed.
fn convex_hull(points: &[Xy]) -> Vec<Xy> {
    let mut p = points.to_vec();
    p.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    p.dedup();
    if p.len() < 3 {
        return p;
    }
    let mut hull: Vec<Xy> = Vec::with_capacity(2 * p.len());
    for pass in 0..2 {
        let start = hull.len();
        let iter: Box<dyn Iterator<Item = &Xy>> = if pass == 0 { Box::new(p.iter()) } else { Box::new(p.iter().rev()) };
        for &pt in iter {
            while hull.len() >= start + 2 && cross(hull[hull.len() - 2], hull[hull.len() - 1], pt) <= 0.0 {
                hull.pop();
            }
            hull.push(pt);
        }
        hull.pop();
    }
    hull
}

/// Sutherland–Hodgman against one half-plane: keeps the part where `f(v) <= 0`.
fn clip_half_plane(poly: &[Xy], f: impl Fn(Xy) -> f64) -> Vec<Xy> {
    let mut out = Vec::with_capacity(poly.len() + 1);
    for (k, &a) in poly.iter().enumerate() {
        let b = poly[(k + 1) % poly.len()];
        let (fa, fb) = (f(a), f(b));
        if fa <= 0.0 {
            out.push(a);
        }
        if (fa < 0.0 && fb > 0.0) || (fa > 0.0 && fb < 0.0) {
            let t = fa / (fa - fb);
            out.push((a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn area(poly: &[Xy]) -> f64 {
        (0..poly.len()).map(|i| cross((0.0, 0.0), poly[i], poly[(i + 1) % poly.len()])).sum::<f64>() / 2.0
    }

    fn inside(poly: &[Xy], p: Xy) -> bool {
        (0..poly.len()).all(|i| cross(poly[i], poly[(i + 1) % poly.len()], p) >= -1e-12)
    }

    #[test]
    fn cells_tile_the_expanded_hull_and_hold_their_own_office() {
        let sites: Vec<Xy> = geocode::all().map(|m| (m.point.lon, m.point.lat)).collect();
        assert_eq!(sites.len(), 35);
        let cells = voronoi_cells(&sites, HULL_MARGIN_KM);
        assert_eq!(cells.len(), 35);
        for (s, c) in sites.iter().zip(&cells) {
            assert!(c.len() >= 3, "a cell of {s:?} is degenerate");
            assert!(area(c) > 0.0, "cells are counter-clockwise");
            assert!(inside(c, *s), "the cell of {s:?} does not contain its office");
        }
        // The cells partition the clipping polygon: their areas add up to its area.
        let hull = convex_hull(&sites);
        let total: f64 = cells.iter().map(|c| area(c)).sum();
        assert!(total > area(&hull), "the margin adds area beyond the hull");
        let doc = municipalities_geojson();
        assert_eq!(doc["features"].as_array().map(Vec::len), Some(35));
        assert_eq!(doc["approximate"], true);
    }

    #[test]
    fn the_page_gets_the_mount_and_the_colours() {
        let html = page_html();
        assert!(html.contains("/alerts/v1/map.js"));
        assert!(html.contains("\"4\":\"#AA00AA\""));
        assert!(!html.contains("{{"));
    }
}
