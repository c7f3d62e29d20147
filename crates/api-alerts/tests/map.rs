//! The alert map: the page and its script and style load nothing from another origin, and
//! the bundled municipalities are served with their approximate areas.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use kizuna_api_ngsild::ApiConfig;
use kizuna_store::Store;
use serde_json::Value;
use tower::ServiceExt;

/// XML namespace names: identifiers that are never fetched.
const ALLOWED_URLS: [&str; 2] = ["http://www.w3.org/2000/svg", "http://www.w3.org/1999/xhtml"];

fn app(dir: &std::path::Path) -> (Router, Store) {
    let (state, _issuer) = kizuna_testkit::open_state(dir, kizuna_testkit::no_contexts(), ApiConfig::default());
    let store = state.store.clone();
    (Router::new().nest("/alerts/v1", kizuna_api_alerts::alerts_router(state)), store)
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
async fn the_map_is_self_contained_html_and_the_municipalities_are_all_there() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, store) = app(dir.path());

    let (status, ct, html) = get(&app, "/alerts/v1/map").await;
    assert_eq!(status, StatusCode::OK);
    assert!(ct.starts_with("text/html"), "{ct}");
    assert!(html.contains("name=\"viewport\""), "usable on a phone");
    assert!(html.contains("<svg"), "drawn as SVG");
    assert!(html.contains("/alerts/v1/map.js") && html.contains("/alerts/v1/map.css"));
    assert!(html.contains("概略") && html.contains("approximate"), "the boundaries are said to be approximate");
    assert_eq!(external_urls(&html), Vec::<String>::new());
    assert!(!html.contains("src=\"//") && !html.contains("href=\"//"), "no protocol-relative URLs");

    for (path, want) in [("/alerts/v1/map.js", "javascript"), ("/alerts/v1/map.css", "text/css")] {
        let (status, ct, body) = get(&app, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(ct.contains(want), "{path}: {ct}");
        assert_eq!(external_urls(&body), Vec::<String>::new(), "{path}");
        assert!(!body.contains("@import") && !body.contains("importScripts"), "{path}");
    }

    let (status, ct, body) = get(&app, "/alerts/v1/municipalities.geojson").await;
    assert_eq!(status, StatusCode::OK);
    assert!(ct.starts_with("application/geo+json"), "{ct}");
    let doc: Value = serde_json::from_str(&body).expect("json");
    let features = doc["features"].as_array().expect("features");
    assert_eq!(features.len(), 35, "every municipality of 群馬県");
    assert_eq!(doc["approximate"], true);
    let maebashi = features.iter().find(|f| f["properties"]["code"] == "102016").expect("前橋市");
    assert_eq!(maebashi["properties"]["name"], "前橋市");
    let ring = maebashi["geometry"]["coordinates"][0].as_array().expect("ring");
    assert!(ring.len() >= 4 && ring.first() == ring.last(), "a closed ring");

    // Shelters of an empty tenant: an empty collection, publicly.
    let (status, _, body) = get(&app, "/alerts/v1/shelters.geojson?tenant=t1").await;
    assert_eq!(status, StatusCode::OK);
    let doc: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(doc["features"], serde_json::json!([]));

    drop(app);
    tokio::task::spawn_blocking(move || store.close()).await.expect("close");
}
