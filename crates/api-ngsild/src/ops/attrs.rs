//! Attribute operations on one entity: append, update, partial update, replace, delete.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kizuna_ngsild::entity::{
    now_timestamp, parse_attribute_fragment, parse_attributes, validate_attr_name, AttrSelector, UpdateOutcome,
};
use kizuna_ngsild::{Attribute, Context, NgsiError};
use serde_json::{json, Value};

use super::entity::{check_body_id, not_found};
use super::{body_bytes, path_id};
use crate::error::{bad_data, ApiError};
use crate::request::{allow_params, bool_param, param, query_pairs, Ngsi, Options};
use crate::ApiState;

/// 204 if every attribute was updated, else 207 with an UpdateResult (§5.2.18).
fn outcome_response(out: &UpdateOutcome, ctx: &Context) -> Response {
    if out.not_updated.is_empty() {
        return StatusCode::NO_CONTENT.into_response();
    }
    let body = json!({
        "updated": out.updated.iter().map(|n| ctx.compact(n)).collect::<Vec<_>>(),
        "notUpdated": out.not_updated.iter().map(|(n, r)| json!({"attributeName": ctx.compact(n), "reason": r})).collect::<Vec<_>>(),
    });
    (StatusCode::MULTI_STATUS, [(axum::http::header::CONTENT_TYPE, "application/json")], body.to_string())
        .into_response()
}

/// `POST /ngsi-ld/v1/entities/{id}/attrs` — §5.6.3 (append attributes); with
/// `options=noOverwrite` existing attributes are kept and reported in a 207.
pub(crate) async fn append(
    State(st): State<ApiState>,
    req: Ngsi,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let pairs = query_pairs(raw.as_deref())?;
    allow_params(&pairs, &["options"])?;
    let overwrite = !Options::from_pairs(&pairs)?.no_overwrite;
    path_id(&id)?;
    let body = body_bytes(body)?;
    let (json, ctx) = req.body(&st, &body, false).await?;
    check_body_id(&json, &id)?;
    let attrs = parse_attributes(&json, &ctx)?;
    let new_types = match json.get("type") {
        Some(t) => Some(super::entity::types_of(t, &ctx)?),
        None => None,
    };
    let now = now_timestamp();
    let out = st
        .write(&req, move |tx| {
            let mut e = tx.get(&id)?.ok_or_else(|| not_found(&id))?;
            for t in new_types.into_iter().flatten() {
                if !e.types.contains(&t) {
                    e.types.push(t);
                }
            }
            let out = e.append_attrs(attrs, overwrite, &now);
            tx.update(&e)?;
            Ok(out)
        })
        .await?;
    Ok(outcome_response(&out, &ctx))
}

/// `PATCH /ngsi-ld/v1/entities/{id}/attrs` — §5.6.2 (update attributes): only existing
/// attributes change; the others are reported in a 207.
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
    let (json, ctx) = req.body(&st, &body, false).await?;
    check_body_id(&json, &id)?;
    let attrs = parse_attributes(&json, &ctx)?;
    let now = now_timestamp();
    let out = st
        .write(&req, move |tx| {
            let mut e = tx.get(&id)?.ok_or_else(|| not_found(&id))?;
            let out = e.update_attrs(attrs, &now);
            if !out.updated.is_empty() {
                tx.update(&e)?;
            }
            Ok(out)
        })
        .await?;
    Ok(outcome_response(&out, &ctx))
}

/// `PATCH /ngsi-ld/v1/entities/{id}/attrs/{attrId}` — §5.6.4 (partial attribute update).
pub(crate) async fn patch_attr(
    State(st): State<ApiState>,
    req: Ngsi,
    Path((id, attr)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    allow_params(&query_pairs(raw.as_deref())?, &[])?;
    path_id(&id)?;
    validate_attr_name(&attr)?;
    let body = body_bytes(body)?;
    let (json, ctx) = req.body(&st, &body, true).await?;
    let name = ctx.expand(&attr);
    let now = now_timestamp();
    st.write(&req, move |tx| {
        let mut e = tx.get(&id)?.ok_or_else(|| not_found(&id))?;
        let dataset = json.get("datasetId").and_then(Value::as_str);
        let kind = e
            .attrs
            .get(&name)
            .and_then(|is| is.iter().find(|i| i.dataset_id.as_deref() == dataset))
            .map(|i| i.kind)
            .ok_or_else(|| ApiError::Ngsi(NgsiError::not_found(format!("entity '{id}' has no attribute '{attr}'"))))?;
        let fragment = parse_attribute_fragment(&attr, &json, kind, &ctx)?;
        e.patch_attr(&name, fragment, &now)?;
        tx.update(&e)?;
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `PUT /ngsi-ld/v1/entities/{id}/attrs/{attrId}` — §5.6.19 (replace attribute).
pub(crate) async fn replace_attr(
    State(st): State<ApiState>,
    req: Ngsi,
    Path((id, attr)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    allow_params(&query_pairs(raw.as_deref())?, &[])?;
    path_id(&id)?;
    validate_attr_name(&attr)?;
    let body = body_bytes(body)?;
    let (json, ctx) = req.body(&st, &body, false).await?;
    let mut wrapped = serde_json::Map::new();
    let mut value = json.clone();
    if let Some(o) = value.as_object_mut() {
        o.remove("@context");
    }
    wrapped.insert(attr.clone(), value);
    let attrs: BTreeMap<String, Vec<Attribute>> = parse_attributes(&Value::Object(wrapped), &ctx)?;
    let name = ctx.expand(&attr);
    let now = now_timestamp();
    st.write(&req, move |tx| {
        let mut e = tx.get(&id)?.ok_or_else(|| not_found(&id))?;
        if !e.attrs.contains_key(&name) {
            return Err(ApiError::Ngsi(NgsiError::not_found(format!("entity '{id}' has no attribute '{attr}'"))));
        }
        let out = e.update_attrs(attrs, &now);
        if !out.not_updated.is_empty() {
            return Err(ApiError::Ngsi(NgsiError::not_found(format!(
                "entity '{id}' has no instance of attribute '{attr}' with that datasetId"
            ))));
        }
        tx.update(&e)?;
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /ngsi-ld/v1/entities/{id}/attrs/{attrId}` — §5.6.5, with `datasetId` and
/// `deleteAll`.
pub(crate) async fn delete_attr(
    State(st): State<ApiState>,
    req: Ngsi,
    Path((id, attr)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = query_pairs(raw.as_deref())?;
    allow_params(&pairs, &["datasetId", "deleteAll"])?;
    path_id(&id)?;
    validate_attr_name(&attr)?;
    req.require_tenant(&st)?;
    let delete_all = bool_param(&pairs, "deleteAll")?;
    let dataset = param(&pairs, "datasetId").map(str::to_string);
    if delete_all && dataset.is_some() {
        return Err(bad_data("datasetId and deleteAll=true cannot be combined"));
    }
    let ctx = req.context(&st).await?;
    let name = ctx.expand(&attr);
    let now = now_timestamp();
    st.write(&req, move |tx| {
        let mut e = tx.get(&id)?.ok_or_else(|| not_found(&id))?;
        e.delete_attr(&name, AttrSelector { dataset_id: dataset.as_deref(), delete_all }, &now)
            .map_err(|err| ApiError::Ngsi(NgsiError::not_found(err.detail.replace(&name, &attr))))?;
        tx.update(&e)?;
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
