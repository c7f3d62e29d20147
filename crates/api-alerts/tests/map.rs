//! The alert map: the page and its script and style load nothing from another origin; the
//! municipalities in view are served with their real boundaries; the base layer is served.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use kizuna_api_alerts::basemap::Basemap;
use kizuna_api_ngsild::ApiConfig;
use kizuna_store::Store;
use serde_json::Value;
use tower::ServiceExt;

/// XML namespace names: identifiers that are never fetched.
const ALLOWED_URLS: [&str; 2] = ["http://www.w3.org/2000/svg", "http://www.w3.org/1999/xhtml"];

/// The demo city's base map, as `kizuna serve --demo` serves it.
const DEMO_BASEMAP: &str = include_str!("../../server/demo/basemap.geojson");

fn app(dir: &std::path::Path, basemap: Option<Basemap>) -> (Router, Store) {
    let (state, _issuer) = kizuna_testkit::open_state(dir, kizuna_testkit::no_contexts(), ApiConfig::default());
    let store = state.store.clone();
    (Router::new().nest("/alerts/v1", kizuna_api_alerts::alerts_router_with(state, basemap)), store)
}

async fn get(app: &Router, path: &str) -> (StatusCode, String, String) {
    let resp = app.clone().oneshot(Request::get(path).body(Body::empty()).expect("request")).await.expect("response");
    let status = resp.status();
    let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let bytes = axum::body::to_bytes(resp.into_body(), 10 * 1024 * 1024).await.expect("body");
    (status, ct, String::from_utf8(bytes.to_vec()).expect("utf-8"))
}

/// Every `http://` or `https://` URL in `text` that is not an allowed namespace name.
fn external_urls(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for scheme in ["http://", "https://"] {
        for (at, _) in text.match_indices(scheme) {
            let url: String =
                text[at..].chars().take_while(|c| !c.is_whitespace() && !"'\"()<>`".contains(*c)).collect();
            if !ALLOWED_URLS.contains(&url.as_str()) {
                out.push(url);
            }
        }
    }
    out
}

#[tokio::test]
async fn the_map_is_self_contained_html_with_real_boundaries_and_a_base_layer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let basemap = Basemap::parse(DEMO_BASEMAP).expect("the demo base map is valid");
    let (app, store) = app(dir.path(), Some(basemap.clone()));

    let (status, ct, html) = get(&app, "/alerts/v1/map").await;
    assert_eq!(status, StatusCode::OK);
    assert!(ct.starts_with("text/html"), "{ct}");
    assert!(html.contains("name=\"viewport\""), "usable on a phone");
    assert!(html.contains("<svg"), "drawn as SVG");
    assert!(html.contains("/alerts/v1/map.js") && html.contains("/alerts/v1/map.css"));
    assert!(html.contains("id=\"base\""), "a layer for the base map");
    assert!(!html.contains("概略") && !html.contains("Voronoi"), "no more approximate cells");
    assert_eq!(external_urls(&html), Vec::<String>::new());
    assert!(!html.contains("src=\"//") && !html.contains("href=\"//"), "no protocol-relative URLs");

    for (path, want) in [("/alerts/v1/map.js", "javascript"), ("/alerts/v1/map.css", "text/css")] {
        let (status, ct, body) = get(&app, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(ct.contains(want), "{path}: {ct}");
        assert_eq!(external_urls(&body), Vec::<String>::new(), "{path}");
        assert!(!body.contains("@import") && !body.contains("importScripts"), "{path}");
    }

    // The base layer, as checked, with its extent and credit line.
    let (status, ct, body) = get(&app, "/alerts/v1/basemap.geojson").await;
    assert_eq!(status, StatusCode::OK);
    assert!(ct.starts_with("application/geo+json"), "{ct}");
    let doc: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(doc["type"], "FeatureCollection");
    assert_eq!(doc["bbox"], serde_json::json!(basemap.bbox()));
    assert!(doc["attribution"].as_str().is_some_and(|a| a.contains("GSHHG")), "{}", doc["attribution"]);
    let features = doc["features"].as_array().expect("features");
    assert!(features.iter().any(|f| f["properties"]["layer"] == "river"), "the Tone");

    // The municipalities in view: without a bbox, those of the base map's extent — the real
    // boundaries of 前橋市 and its neighbours, not all of Japan.
    let (status, ct, body) = get(&app, "/alerts/v1/municipalities.geojson").await;
    assert_eq!(status, StatusCode::OK);
    assert!(ct.starts_with("application/geo+json"), "{ct}");
    let doc: Value = serde_json::from_str(&body).expect("json");
    assert!(doc["attribution"].as_str().is_some_and(|a| a.contains("国土数値情報")));
    let features = doc["features"].as_array().expect("features");
    let codes: Vec<&str> = features.iter().filter_map(|f| f["properties"]["code"].as_str()).collect();
    for code in ["102016", "102041", "102032", "100005"] {
        assert!(codes.contains(&code), "{code} in {codes:?}");
    }
    assert!(!codes.contains(&"131016") && codes.len() < 40, "{codes:?}");
    let maebashi = features.iter().find(|f| f["properties"]["code"] == "102016").expect("前橋市");
    assert_eq!(maebashi["properties"]["name"], "前橋市");
    assert_eq!(maebashi["properties"]["kind"], "city");
    assert_eq!(maebashi["geometry"], kizuna_cap::geocode::boundary("102016").expect("boundary").to_geojson());
    // With a bbox: 千代田区.
    let (_, _, body) = get(&app, "/alerts/v1/municipalities.geojson?bbox=139.74,35.67,139.76,35.69").await;
    let doc: Value = serde_json::from_str(&body).expect("json");
    let codes: Vec<&str> = doc["features"].as_array().into_iter().flatten().filter_map(|f| f["id"].as_str()).collect();
    assert!(codes.contains(&"131016") && codes.contains(&"130001"), "{codes:?}");
    // A bad bbox: 400 with a ProblemDetails naming it.
    let (status, ct, body) = get(&app, "/alerts/v1/municipalities.geojson?bbox=140,35,139,36").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(ct.starts_with("application/json") || ct.starts_with("application/problem+json"), "{ct}");
    assert!(body.contains("bbox"), "{body}");

    // Shelters of an empty tenant: an empty collection, publicly.
    let (status, _, body) = get(&app, "/alerts/v1/shelters.geojson?tenant=t1").await;
    assert_eq!(status, StatusCode::OK);
    let doc: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(doc["features"], serde_json::json!([]));

    drop(app);
    tokio::task::spawn_blocking(move || store.close()).await.expect("close");
}

#[tokio::test]
async fn without_a_base_map_the_layer_is_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, store) = app(dir.path(), None);
    let (status, _, body) = get(&app, "/alerts/v1/basemap.geojson").await;
    assert_eq!(status, StatusCode::OK);
    let doc: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(doc, serde_json::json!({"type": "FeatureCollection", "features": []}));
    // The municipalities need a box then; a box of all Japan is refused (4 MB, public).
    let (status, _, body) = get(&app, "/alerts/v1/municipalities.geojson").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("bbox: required"), "{body}");
    let (status, _, body) = get(&app, "/alerts/v1/municipalities.geojson?bbox=122,20,154,46").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("larger than 4°"), "{body}");
    drop(app);
    tokio::task::spawn_blocking(move || store.close()).await.expect("close");
}
