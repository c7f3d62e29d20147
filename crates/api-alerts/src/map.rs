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
//! | `GET /municipalities.geojson?bbox=w,s,e,n` | the 市区町村 and 都道府県 whose boundary meets the box, at most [`MAX_BBOX_DEGREES`] each way (without `bbox`: the base map's extent; no base map: 400) |
//! | `GET /basemap.geojson` | the base layer (below); an empty FeatureCollection when the site has none |
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
//! the page. An alert area given by a municipality code is drawn with the municipality's
//! boundary (`geo`); a code without a boundary (most 行政区) as a 3 km circle around its point,
//! the same rule as `/here` uses.
//!
//! # What is under the alerts
//!
//! - the base layer ([`crate::basemap`]): roads, railways, rivers, water and place names of the
//!   area, from `--basemap FILE` (or the demo city's, with `--demo`), at `/basemap.geojson`;
//! - the boundaries of the 市区町村 in view ([`municipalities_geojson`], from
//!   `kizuna_cap::geocode`: the JMA's areas drawn from 国土数値情報（行政区域）, or the site's own
//!   `--municipalities` file) with their names;
//! - the shelters, each with its name, open or closed, occupancy and capacity.
//!
//! The page asks for the municipalities in the base map's extent (else around its alerts and
//! shelters) with `?bbox=west,south,east,north`.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use kizuna_api_ngsild::ApiError;

use crate::entity::{attr, LOCATION};
use crate::{
    all_of_type, bad, AlertsState, PublicTenant, CAPACITY, IS_OPEN, MOUNT, NAME, OCCUPANCY, POI_CATEGORY, POI_TYPE,
};

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
        .route("/municipalities.geojson", get(municipalities))
        .route("/basemap.geojson", get(basemap))
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

/// The largest box `/municipalities.geojson` answers for, in degrees each way: a region of
/// several prefectures (the whole table is 4 MB of GeoJSON, and this is a public endpoint).
pub const MAX_BBOX_DEGREES: f64 = 4.0;

/// `GET /municipalities.geojson?bbox=`.
async fn municipalities(
    State(st): State<AlertsState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let bbox = match (q.get("bbox"), st.basemap()) {
        (Some(raw), _) => parse_bbox(raw)?,
        (None, Some(b)) => b.bbox(),
        (None, None) => return Err(bad("bbox: required (west,south,east,north), as this site has no base map")),
    };
    Ok(text("application/geo+json", municipalities_geojson(Some(bbox)).to_string()))
}

/// `w,s,e,n` in degrees.
fn parse_bbox(raw: &str) -> Result<[f64; 4], ApiError> {
    let v: Vec<f64> = raw
        .split(',')
        .map(|x| x.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad(format!("bbox: '{raw}' is not four numbers west,south,east,north")))?;
    let [w, s, e, n] = v[..] else {
        return Err(bad(format!("bbox: '{raw}' is not four numbers west,south,east,north")));
    };
    if !(v.iter().all(|x| x.is_finite())
        && (-180.0..=180.0).contains(&w)
        && (-180.0..=180.0).contains(&e)
        && (-90.0..=90.0).contains(&s)
        && (-90.0..=90.0).contains(&n)
        && w <= e
        && s <= n)
    {
        return Err(bad(format!(
            "bbox: '{raw}' is not west,south,east,north in degrees with west ≤ east and south ≤ north"
        )));
    }
    if e - w > MAX_BBOX_DEGREES || n - s > MAX_BBOX_DEGREES {
        return Err(bad(format!("bbox: '{raw}' is larger than {MAX_BBOX_DEGREES}° by {MAX_BBOX_DEGREES}°")));
    }
    Ok([w, s, e, n])
}

/// `GET /basemap.geojson`.
async fn basemap(State(st): State<AlertsState>) -> Response {
    match st.basemap() {
        Some(b) => text("application/geo+json", b.json().to_string()),
        None => text("application/geo+json", json!({"type": "FeatureCollection", "features": []}).to_string()),
    }
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

/// The 市区町村 and 都道府県 of the table in use whose boundary meets `bbox` (all when `None`),
/// each with its code, name, reading, kind and a `label` point `[lon, lat]` inside it.
pub fn municipalities_geojson(bbox: Option<[f64; 4]>) -> Value {
    let table = kizuna_cap::geocode::table();
    let features: Vec<Value> = table
        .iter()
        .filter(|m| m.kind.is_municipality() || m.kind == kizuna_cap::geocode::Kind::Prefecture)
        .filter_map(|m| {
            let b = table.boundary(&m.code)?;
            bbox.is_none_or(|bb| b.meets_bbox(bb)).then(|| {
                json!({
                    "type": "Feature",
                    "id": m.code,
                    "geometry": b.to_geojson(),
                    "properties": {
                        "code": m.code,
                        "name": m.name,
                        "kana": m.kana,
                        "kind": m.kind,
                        "label": [m.point.lon, m.point.lat],
                    }
                })
            })
        })
        .collect();
    json!({
        "type": "FeatureCollection",
        "attribution": BOUNDARY_ATTRIBUTION,
        "features": features,
    })
}

/// The credit line of the national boundaries (see DATA-SOURCES.md).
pub const BOUNDARY_ATTRIBUTION: &str =
    "市区町村界: 気象庁の区域データ（国土数値情報（行政区域）を加工） / boundaries: JMA, from MLIT National Land Numerical Information";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn municipalities_in_a_box_are_the_real_ones() {
        // Around 前橋市役所: 前橋市 and its neighbours, not 千代田区.
        let doc = municipalities_geojson(Some([139.0, 36.35, 139.1, 36.42]));
        let codes: Vec<&str> =
            doc["features"].as_array().into_iter().flatten().filter_map(|f| f["id"].as_str()).collect();
        assert!(codes.contains(&"102016") && codes.contains(&"102024"), "{codes:?}");
        assert!(!codes.contains(&"131016"));
        assert!(codes.len() < 20, "{codes:?}");
        let maebashi =
            doc["features"].as_array().into_iter().flatten().find(|f| f["id"] == "102016").cloned().unwrap_or_default();
        assert_eq!(maebashi["geometry"]["type"], "MultiPolygon");
        assert_eq!(maebashi["properties"]["name"], "前橋市");
    }

    #[test]
    fn a_bbox_must_be_four_ordered_numbers() {
        assert!(parse_bbox("139,36,140,37").is_ok());
        assert!(parse_bbox("139,36,140").is_err());
        assert!(parse_bbox("140,36,139,37").is_err());
        assert!(parse_bbox("139,36,140,x").is_err());
        assert!(parse_bbox("139,36,140,NaN").is_err());
        assert!(parse_bbox("130,30,146,46").is_err(), "all of Japan at once");
    }

    #[test]
    fn the_page_gets_the_mount_and_the_colours() {
        let html = page_html();
        assert!(html.contains("/alerts/v1/map.js"));
        assert!(html.contains("\"4\":\"#AA00AA\""));
        assert!(!html.contains("{{"));
    }
}
