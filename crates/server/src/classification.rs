//! `--classification FILE`: the tenants' data classification, applied at start-up (the
//! admin API `PUT /kizuna/v1/classification` changes it at run time).
//!
//! The file maps each tenant (`""` is the default tenant) to a classification written
//! with short names, expanded with the core context or the `@context` given:
//!
//! ```json
//! {"": {"@context": "https://kizuna.example/contexts/demo-city.jsonld",
//!       "personal": {"BloodPressureObservation": {"category": "health"},
//!                    "ChildPosition": {"category": "location", "subjectRelationship": "dataSubject"}},
//!       "public": ["PointOfInterest", "WaterObserved"]}}
//! ```
//!
//! Categories: `health`, `location`, `payment`, `benefit`, `education`, `identity`,
//! `family`, or a tenant's own name. A type both personal and public is refused.

use std::path::Path;

use kizuna_api_ngsild::ApiState;
use kizuna_consent::{Category, Classification};
use serde_json::Value;

/// Reads one tenant's classification document (see the module docs).
pub async fn from_json(state: &ApiState, doc: &Value) -> Result<Classification, String> {
    let obj = doc.as_object().ok_or("a classification must be a JSON object")?;
    for key in obj.keys() {
        if !["@context", "personal", "public"].contains(&key.as_str()) {
            return Err(format!("unknown member '{key}' (expected @context, personal, public)"));
        }
    }
    let ctx = state.contexts.resolve(obj.get("@context")).await.map_err(|e| e.to_string())?;
    let mut c = Classification::new();
    let personal = match obj.get("personal") {
        None => serde_json::Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err("'personal' must be an object of type name → {category, subjectRelationship}".into()),
    };
    for (name, p) in &personal {
        let category = p
            .get("category")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or(format!("personal type '{name}' needs a non-empty 'category'"))?;
        let rel = match p.get("subjectRelationship") {
            None => None,
            Some(Value::String(r)) if !r.is_empty() => Some(ctx.expand(r)),
            Some(_) => return Err(format!("personal type '{name}': 'subjectRelationship' must be a name")),
        };
        c = c.with_personal(&ctx.expand(name), Category::parse(category), rel.as_deref());
    }
    let public = match obj.get("public") {
        None => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return Err("'public' must be an array of type names".into()),
    };
    for name in &public {
        let name = name.as_str().filter(|s| !s.is_empty()).ok_or("'public' must be an array of type names")?;
        let iri = ctx.expand(name);
        if c.personal.contains_key(&iri) {
            return Err(format!("type '{name}' cannot be both personal and public"));
        }
        c = c.with_public(&iri);
    }
    Ok(c)
}

/// Applies a classification file to every tenant it names; returns how many.
pub async fn apply_file(state: &ApiState, path: &Path) -> Result<usize, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let tenants = doc.as_object().ok_or(format!("{}: must map tenants to classifications", path.display()))?;
    let mut n = 0;
    for (tenant, c) in tenants {
        let c = from_json(state, c).await.map_err(|e| format!("{} (tenant '{tenant}'): {e}", path.display()))?;
        let (store, t) = (state.store.clone(), tenant.clone());
        tokio::task::spawn_blocking(move || store.write(&t, move |tx| tx.set_classification(&c)))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        tracing::info!(tenant = %tenant, "applied the classification file");
        n += 1;
    }
    Ok(n)
}
