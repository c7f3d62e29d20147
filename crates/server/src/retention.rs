//! History retention: settings from a file at start-up (the API at `/kizuna/v1/retention`
//! changes them at run time) and the background task that purges old history.
//!
//! The file is a JSON array; each item names a tenant (omit for the default tenant), an
//! entity type (a full IRI, or a short name expanded with the item's `@context`, by
//! default the core context) and how long to keep its history as an ISO 8601 duration:
//!
//! ```json
//! [{"tenant": "kakogawa", "type": "https://kizuna.example/ns/WatchedPersonLocation", "keep": "P30D"}]
//! ```

use std::path::Path;
use std::time::Duration;

use kizuna_api_ngsild::ApiState;
use kizuna_store::{Store, StoreError};
use serde_json::Value;

/// Applies the retention settings in `file`.
pub async fn apply_file(state: &ApiState, file: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let items: Vec<Value> = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    for (i, item) in items.iter().enumerate() {
        let at = |what: &str| format!("{} item {i}: {what}", file.display());
        let tenant = item.get("tenant").and_then(Value::as_str).unwrap_or("").to_string();
        let ty = item.get("type").and_then(Value::as_str).ok_or_else(|| at("needs a \"type\""))?;
        let keep = item.get("keep").and_then(Value::as_str).ok_or_else(|| at("needs \"keep\" (e.g. \"P30D\")"))?;
        let ms = kizuna_api_ngsild::parse_duration_ms(keep).map_err(|e| at(&e.to_string()))?;
        let ctx = state.contexts.resolve(item.get("@context")).await.map_err(|e| at(&e.to_string()))?;
        let iri = ctx.expand(ty);
        let store = state.store.clone();
        let seconds = (ms / 1000).max(1) as u64;
        tokio::task::spawn_blocking(move || store.write(&tenant, move |tx| tx.set_retention(&iri, Some(seconds))))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e: StoreError| at(&e.to_string()))?;
    }
    tracing::info!(settings = items.len(), file = %file.display(), "applied retention settings");
    Ok(())
}

/// Purges once; logs a line per (tenant, type) that lost history.
pub async fn purge_once(store: &Store) -> Result<u64, StoreError> {
    let s = store.clone();
    let now = chrono::Utc::now().timestamp_millis();
    let removed = tokio::task::spawn_blocking(move || s.purge_history(now)).await.map_err(|_| StoreError::Closed)??;
    let mut total = 0;
    for (tenant, ty, n) in removed {
        tracing::info!(tenant = %tenant, entity_type = %ty, instances = n, "retention purge removed history");
        total += n;
    }
    Ok(total)
}

/// Runs [`purge_once`] every `interval` in the background until the store closes.
pub fn spawn_purger(store: Store, interval: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.tick().await;
        loop {
            tick.tick().await;
            match purge_once(&store).await {
                Ok(_) => {}
                Err(StoreError::Closed) => break,
                Err(e) => tracing::error!(error = %e, "retention purge failed"),
            }
        }
    });
}
