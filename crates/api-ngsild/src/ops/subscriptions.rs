//! Subscriptions (ETSI GS CIM 009 §5.8): create, retrieve, list, update, delete.
//! Delivery is the notifier's job (`notifier.rs`); here the stored subscription is
//! shown with its delivery status.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use kizuna_ngsild::entity::now_timestamp;
use kizuna_ngsild::subscription::Subscription;
use kizuna_ngsild::{Context, ErrorKind, NgsiError};
use kizuna_store::StoredSubscription;
use serde_json::{Map, Value};

use super::query::RESULTS_COUNT;
use super::{body_bytes, path_id};
use crate::error::{bad_data, ApiError};
use crate::notifier::HMAC_SECRET_KEY;
use crate::request::{allow_params, bool_param, query_pairs, usize_param, Ngsi};
use crate::ApiState;

fn not_found(id: &str) -> ApiError {
    ApiError::Ngsi(NgsiError::not_found(format!("subscription '{id}' not found")))
}

/// The subscription as the API shows it: its members, the status and the delivery
/// statistics; a signing secret is never shown.
fn render(s: &StoredSubscription, ctx: &Context, max_failures: u64) -> Value {
    let mut out: Map<String, Value> = s.sub.to_json(ctx);
    let expired = s.sub.is_expired();
    let status = if expired {
        "expired"
    } else if s.sub.is_active {
        "active"
    } else {
        "paused"
    };
    out.insert("status".into(), Value::String(status.into()));
    if let Some(Value::Object(n)) = out.get_mut("notification") {
        let st = &s.status;
        n.insert("timesSent".into(), st.times_sent.into());
        n.insert("timesFailed".into(), st.times_failed.into());
        let ok = st.consecutive_failures < max_failures;
        n.insert("status".into(), Value::String(if ok { "ok" } else { "failed" }.into()));
        for (k, v) in [
            ("lastNotification", &st.last_notification),
            ("lastSuccess", &st.last_success),
            ("lastFailure", &st.last_failure),
            ("lastFailureReason", &st.last_failure_reason),
        ] {
            if let Some(v) = v {
                n.insert(k.into(), Value::String(v.clone()));
            }
        }
        n.insert("pendingNotifications".into(), s.pending.into());
        if let Some(Value::Object(ep)) = n.get_mut("endpoint") {
            if let Some(Value::Array(info)) = ep.get_mut("notifierInfo") {
                for item in info.iter_mut() {
                    if item.get("key").and_then(Value::as_str) == Some(HMAC_SECRET_KEY) {
                        item["value"] = Value::String(MASK.into());
                    }
                }
            }
        }
    }
    Value::Object(out)
}

/// Whether a body carries the masked `hmacSecret` that GET shows.
fn masked_secret(json: &Value) -> bool {
    secret_entries(json).any(|v| v.get("value").and_then(Value::as_str) == Some(MASK))
}

fn secret_entries(json: &Value) -> impl Iterator<Item = &Value> {
    json.pointer("/notification/endpoint/notifierInfo")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|i| i.get("key").and_then(Value::as_str) == Some(HMAC_SECRET_KEY))
}

fn unmask_secret(json: &mut Value, secret: &str) {
    if let Some(Value::Array(info)) = json.pointer_mut("/notification/endpoint/notifierInfo") {
        for item in info.iter_mut() {
            if item.get("key").and_then(Value::as_str) == Some(HMAC_SECRET_KEY) {
                item["value"] = Value::String(secret.to_string());
            }
        }
    }
}

/// What GET shows instead of a signing secret.
const MASK: &str = "********";

/// `POST /ngsi-ld/v1/subscriptions` — §5.8.1: 201 with `Location`; 409 if the id exists.
pub(crate) async fn create(
    State(st): State<ApiState>,
    req: Ngsi,
    RawQuery(raw): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    allow_params(&query_pairs(raw.as_deref())?, &[])?;
    let body = body_bytes(body)?;
    let (json, ctx) = req.body(&st, &body, false).await?;
    if masked_secret(&json) {
        return Err(bad_data(
            "notification.endpoint.notifierInfo: hmacSecret '********' is the masked value shown by GET, not a secret",
        ));
    }
    let generated = format!("urn:ngsi-ld:Subscription:{}", uuid::Uuid::new_v4());
    let mut sub = Subscription::parse(&json, &ctx, &generated)?;
    if sub.jsonld_context.is_none() {
        sub.jsonld_context =
            req.link_context.clone().or_else(|| json.get("@context").and_then(Value::as_str).map(str::to_string));
    }
    let now = now_timestamp();
    sub.created_at = Some(now.clone());
    sub.modified_at = Some(now);
    // Notifications carry only what the owner may read, decided at each delivery.
    sub.owner = Some(req.access.owner());
    let id = sub.id.clone();
    st.write(&req, move |tx| {
        if tx.insert_subscription(&sub)? {
            Ok(())
        } else {
            Err(ApiError::Ngsi(NgsiError::new(
                ErrorKind::AlreadyExists,
                format!("a subscription with id '{}' already exists", sub.id),
            )))
        }
    })
    .await?;
    let mut resp = StatusCode::CREATED.into_response();
    if let Some(v) = super::location("/ngsi-ld/v1/subscriptions/", &id) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// `GET /ngsi-ld/v1/subscriptions/{id}` — §5.8.2.
pub(crate) async fn retrieve(
    State(st): State<ApiState>,
    req: Ngsi,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    allow_params(&query_pairs(raw.as_deref())?, &[])?;
    path_id(&id)?;
    req.require_tenant(&st)?;
    let ctx = req.context(&st).await?;
    let tenant = req.tenant.clone();
    let lookup = id.clone();
    // Another caller's subscription answers like a missing one.
    let s = st
        .read(move |s| s.subscription(&tenant, &lookup))
        .await?
        .filter(|s| req.access.may_manage(&s.sub))
        .ok_or_else(|| not_found(&id))?;
    Ok(req.respond(StatusCode::OK, render(&s, &ctx, st.config.max_failures)))
}

/// `GET /ngsi-ld/v1/subscriptions` — §5.8.3: paged with `limit`/`offset`, `count=true`.
pub(crate) async fn list(State(st): State<ApiState>, req: Ngsi, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let pairs = query_pairs(raw.as_deref())?;
    allow_params(&pairs, &["limit", "offset", "count"])?;
    let limit = usize_param(&pairs, "limit", st.config.default_limit)?;
    let offset = usize_param(&pairs, "offset", 0)?;
    if limit > st.config.max_limit {
        return Err(ApiError::Ngsi(NgsiError::new(
            ErrorKind::TooManyResults,
            format!("limit {limit} is above the maximum page size {}", st.config.max_limit),
        )));
    }
    let count = bool_param(&pairs, "count")?;
    req.require_tenant(&st)?;
    let ctx = req.context(&st).await?;
    let tenant = req.tenant.clone();
    let mut all = st.read(move |s| s.subscriptions(&tenant)).await?;
    all.retain(|s| req.access.may_manage(&s.sub));
    let total = all.len();
    let page: Vec<Value> =
        all.iter().skip(offset).take(limit).map(|s| render(s, &ctx, st.config.max_failures)).collect();
    let mut resp = req.respond(StatusCode::OK, Value::Array(page));
    if count {
        if let Ok(v) = HeaderValue::from_str(&total.to_string()) {
            resp.headers_mut().insert(RESULTS_COUNT, v);
        }
    }
    Ok(resp)
}

/// `PATCH /ngsi-ld/v1/subscriptions/{id}` — §5.8.4: members given replace the stored ones.
pub(crate) async fn update(
    State(st): State<ApiState>,
    req: Ngsi,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    allow_params(&query_pairs(raw.as_deref())?, &[])?;
    path_id(&id)?;
    let body = body_bytes(body)?;
    let (json, ctx) = req.body(&st, &body, true).await?;
    if let Some(Value::String(b)) = json.get("id") {
        if b != &id {
            return Err(bad_data(format!("the body's id '{b}' differs from the URL's '{id}'")));
        }
    }
    st.write(&req, move |tx| {
        let mut sub = tx.get_subscription(&id)?.ok_or_else(|| not_found(&id))?;
        let mut json = json;
        if masked_secret(&json) {
            // What GET showed, sent back: keep the stored secret.
            let stored = sub.notification.endpoint.notifier_info.iter().find(|(k, _)| k == HMAC_SECRET_KEY);
            let Some((_, secret)) = stored else {
                return Err(bad_data("hmacSecret '********' is the masked value shown by GET, not a secret"));
            };
            unmask_secret(&mut json, secret);
        }
        sub.merge_patch(&json, &ctx)?;
        sub.modified_at = Some(now_timestamp());
        tx.replace_subscription(&sub)?;
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /ngsi-ld/v1/subscriptions/{id}` — §5.8.5: also drops its queued notifications.
pub(crate) async fn delete(
    State(st): State<ApiState>,
    req: Ngsi,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    allow_params(&query_pairs(raw.as_deref())?, &[])?;
    path_id(&id)?;
    req.require_tenant(&st)?;
    st.write(&req, move |tx| if tx.delete_subscription(&id)? { Ok(()) } else { Err(not_found(&id)) }).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
