//! Opening and closing a shelter (避難所開設 / 閉鎖) is an alert too:
//! `POST /alerts/v1/shelters/{id}/open` and `.../close` (tenant admin) issue the
//! `shelter-opened` / `shelter-closed` message for the shelter's location (a 300 m circle
//! around it, named after it) through the same path as every alert — validation, the
//! Alert entity, media, feeds — and then set the shelter entity's `isOpen`.
//!
//! Body (optional JSON): `{"status": "Actual"|"Exercise"|"Test", "identifier": "..."}`.
//! The two steps are two transactions: the alert first (if it is refused, the shelter
//! is unchanged); should the shelter update then fail, the alert stands and the error
//! says so.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use kizuna_api_ngsild::ApiError;
use kizuna_ngsild::entity::now_timestamp;
use kizuna_ngsild::{AttrKind, Attribute, NgsiError};
use serde_json::{json, Value};

use crate::{AlertsState, Caller, IS_OPEN, NAME, POI_CATEGORY, POI_TYPE};

/// Radius of the alert area around a shelter, in km.
const AREA_KM: f64 = 0.3;

/// `POST /alerts/v1/shelters/{id}/open`.
pub(crate) async fn open(
    st: State<AlertsState>,
    caller: Caller,
    id: Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    change(st, caller, id, body, true).await
}

/// `POST /alerts/v1/shelters/{id}/close`.
pub(crate) async fn close(
    st: State<AlertsState>,
    caller: Caller,
    id: Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    change(st, caller, id, body, false).await
}

fn bad(detail: impl Into<String>) -> ApiError {
    ApiError::Ngsi(NgsiError::bad_data(detail))
}

async fn change(
    State(st): State<AlertsState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
    opening: bool,
) -> Result<Response, ApiError> {
    caller.access.require_tenant_admin("opening or closing a shelter")?;
    let options: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(&body).map_err(|e| bad(format!("the body is not JSON: {e}")))?
    };
    let tenant = caller.tenant.clone();
    let (t, lookup) = (tenant.clone(), id.clone());
    let shelter = st
        .api()
        .read(move |s| s.get(&t, &lookup))
        .await?
        .filter(|e| {
            e.types.iter().any(|t| t == POI_TYPE)
                && e.attrs.get(POI_CATEGORY).and_then(|v| v.first()).is_some_and(|a| {
                    a.value.as_array().is_some_and(|c| c.iter().any(|x| x == "shelter")) || a.value == "shelter"
                })
        })
        .ok_or_else(|| ApiError::Ngsi(NgsiError::not_found(format!("shelter '{id}' not found"))))?;
    let point = shelter
        .attrs
        .get(crate::entity::LOCATION)
        .and_then(|v| v.first())
        .and_then(|a| a.value.get("coordinates"))
        .and_then(Value::as_array)
        .and_then(|c| Some((c.first()?.as_f64()?, c.get(1)?.as_f64()?)))
        .ok_or_else(|| bad(format!("shelter '{id}' has no Point location")))?;
    let name = shelter
        .attrs
        .get(NAME)
        .and_then(|v| v.first())
        .and_then(|a| match &a.value {
            Value::String(s) => Some(s.clone()),
            Value::Object(m) => m.get("ja").or_else(|| m.values().next()).and_then(Value::as_str).map(str::to_string),
            _ => None,
        })
        .unwrap_or_else(|| id.clone());
    let mut request = json!({
        "kind": if opening { "shelter-opened" } else { "shelter-closed" },
        "areas": [{"name": name, "circle": [point.1, point.0, AREA_KM]}],
        "status": options.get("status").cloned().unwrap_or(json!("Actual")),
    });
    if let Some(ident) = options.get("identifier") {
        request["identifier"] = ident.clone();
    }
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let issued = crate::issue_alert(State(st.clone()), caller, headers, Bytes::from(request.to_string())).await?;
    let stamp = now_timestamp();
    st.api()
        .write_unguarded(&tenant, move |tx| {
            let mut e =
                tx.get(&id)?.ok_or_else(|| ApiError::Ngsi(NgsiError::not_found(format!("shelter '{id}' vanished"))))?;
            let mut a = Attribute::property(json!(opening));
            a.kind = AttrKind::Property;
            a.stamp(&stamp);
            e.attrs.insert(IS_OPEN.to_string(), vec![a]);
            e.modified_at = Some(stamp.clone());
            tx.update(&e)?;
            Ok(())
        })
        .await?;
    Ok(issued)
}
