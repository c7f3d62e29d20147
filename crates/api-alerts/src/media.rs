//! Alert media (TV stations, radio, app vendors) over HTTP, on top of
//! [`kizuna_api_ngsild::media`] (media are subscriptions on the alert entities, so each
//! alert reaches them through the durable, ordered, retried outbox, signed per medium):
//!
//! | route | who | what |
//! |---|---|---|
//! | `POST /media` | tenant admin | register `{name, endpoint, areas: {geocodes, polygon}, minLevel, format: "cap+xml"\|"json"}`; 201 with the id and the HMAC secret (shown only here) |
//! | `GET /media`, `GET /media/{id}` | tenant admin | the media with their delivery counts (never the secret) |
//! | `DELETE /media/{id}` | tenant admin | unregister |
//! | `GET /alerts/{identifier}/receipts` | tenant admin | per medium: delivered (when, attempts), retrying (attempts, last failure), pending |

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use kizuna_api_ngsild::access::Access;

use crate::{AlertsState, Caller};
use kizuna_api_ngsild::media::{self, Medium};
use kizuna_api_ngsild::ApiError;
use kizuna_ngsild::NgsiError;
use serde_json::json;

use crate::entity::entity_id;

fn require_admin(access: &Access) -> Result<(), ApiError> {
    access.require_tenant_admin("managing media")
}

/// `POST /alerts/v1/media`.
pub(crate) async fn register(State(st): State<AlertsState>, caller: Caller, body: Bytes) -> Result<Response, ApiError> {
    let access = &caller.access;
    require_admin(access)?;
    let st = st.api();
    let m: Medium = serde_json::from_slice(&body)
        .map_err(|e| ApiError::Ngsi(NgsiError::bad_data(format!("the medium is not valid: {e}"))))?;
    let registered = media::register(st, access.tenant(), m).await?;
    let mut resp =
        (StatusCode::CREATED, Json(json!({"id": registered.id, "hmacSecret": registered.hmac_secret}))).into_response();
    if let Ok(v) = header::HeaderValue::from_str(&format!("{}/media/{}", crate::MOUNT, registered.id)) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// `GET /alerts/v1/media`.
pub(crate) async fn list(State(st): State<AlertsState>, caller: Caller) -> Result<Response, ApiError> {
    let access = &caller.access;
    require_admin(access)?;
    let st = st.api();
    Ok(Json(media::list(st, access.tenant()).await?).into_response())
}

/// `GET /alerts/v1/media/{id}`.
pub(crate) async fn one(
    State(st): State<AlertsState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let access = &caller.access;
    require_admin(access)?;
    let st = st.api();
    Ok(Json(media::get(st, access.tenant(), &id).await?).into_response())
}

/// `DELETE /alerts/v1/media/{id}`.
pub(crate) async fn remove(
    State(st): State<AlertsState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let access = &caller.access;
    require_admin(access)?;
    let st = st.api();
    media::delete(st, access.tenant(), &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /alerts/v1/alerts/{identifier}/receipts`.
pub(crate) async fn receipts(
    State(st): State<AlertsState>,
    caller: Caller,
    Path(identifier): Path<String>,
) -> Result<Response, ApiError> {
    let access = &caller.access;
    require_admin(access)?;
    let st = st.api();
    let id = entity_id(&identifier);
    let tenant = access.tenant().to_string();
    let (t, lookup) = (tenant.clone(), id.clone());
    if st.read(move |s| s.get(&t, &lookup)).await?.is_none() {
        return Err(ApiError::Ngsi(NgsiError::not_found(format!("alert '{identifier}' not found"))));
    }
    Ok(Json(json!({"alert": identifier, "media": media::receipts(st, &tenant, &id).await?})).into_response())
}
