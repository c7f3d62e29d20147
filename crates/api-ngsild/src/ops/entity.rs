//! Single-entity operations: create, retrieve, replace, merge, delete.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use kizuna_ngsild::entity::{now_timestamp, parse_attributes, parse_entity, render_entity, RenderOptions};
use kizuna_ngsild::NgsiError;
use serde_json::Value;

use super::{body_bytes, path_id};
use crate::error::{bad_data, ApiError};
use crate::request::{allow_params, param, query_pairs, Ngsi, Options};
use crate::ApiState;

/// `POST /ngsi-ld/v1/entities` — ETSI GS CIM 009 §5.6.1: creates an entity; 201 with
/// `Location`, 409 `AlreadyExists` if the id is taken.
pub(crate) async fn create(
    State(st): State<ApiState>,
    req: Ngsi,
    RawQuery(raw): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    allow_params(&query_pairs(raw.as_deref())?, &[])?;
    let body = body_bytes(body)?;
    let (json, ctx) = req.body(&st, &body, false).await?;
    let mut e = parse_entity(&json, &ctx)?;
    e.stamp_new(&now_timestamp());
    let id = e.id.clone();
    st.write(&req, move |tx| {
        if tx.insert(&e)? {
            Ok(())
        } else {
            Err(ApiError::Ngsi(NgsiError::new(
                kizuna_ngsild::ErrorKind::AlreadyExists,
                format!("an entity with id '{}' already exists", e.id),
            )))
        }
    })
    .await?;
    let mut resp = StatusCode::CREATED.into_response();
    if let Some(v) = super::location("/ngsi-ld/v1/entities/", &id) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// `GET /ngsi-ld/v1/entities/{id}` — §5.7.1: retrieves an entity, optionally only some
/// attributes (`attrs`), in normalized, concise or keyValues form, with `lang`.
pub(crate) async fn retrieve(
    State(st): State<ApiState>,
    req: Ngsi,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = query_pairs(raw.as_deref())?;
    allow_params(&pairs, &["attrs", "options", "format", "lang", "type", "geometryProperty"])?;
    path_id(&id)?;
    req.require_tenant(&st)?;
    let opts = Options::from_pairs(&pairs)?;
    let ctx = req.context(&st).await?;
    let attrs: Option<Vec<String>> = param(&pairs, "attrs").map(|a| split_names(a, &ctx)).transpose()?;
    let types: Option<Vec<String>> = param(&pairs, "type").map(|t| split_names(t, &ctx)).transpose()?;
    let tenant = req.tenant.clone();
    let lookup = id.clone();
    let stored = st
        .read(move |s| s.get(&tenant, &lookup))
        .await?
        .filter(|e| types.as_ref().is_none_or(|ts| ts.iter().any(|t| e.types.contains(t))));
    // A withheld entity answers exactly like a missing one (see `access`).
    let verdict = stored.map(|e| req.access.decide(e, chrono::Utc::now()));
    let e = match verdict {
        Some(v) => {
            crate::access::record(&st, &req.tenant, v.audit.into_iter().collect(), v.provision.into_iter().collect())
                .await?;
            v.released
        }
        None => None,
    }
    .ok_or_else(|| ApiError::Ngsi(NgsiError::not_found(format!("entity '{id}' not found"))))?;
    let ro = RenderOptions {
        format: opts.format(),
        sys_attrs: opts.sys_attrs,
        attrs: attrs.as_deref(),
        lang: param(&pairs, "lang"),
    };
    if req.accept == crate::request::MediaType::GeoJson {
        let geometry_property = ctx.expand(param(&pairs, "geometryProperty").unwrap_or("location"));
        return Ok(req.respond(StatusCode::OK, super::query::feature(&e, &ro, &ctx, &geometry_property)));
    }
    Ok(req.respond(StatusCode::OK, Value::Object(render_entity(&e, &ro, &ctx))))
}

/// Splits a comma-separated list of names and expands each.
pub(crate) fn split_names(list: &str, ctx: &kizuna_ngsild::Context) -> Result<Vec<String>, ApiError> {
    list.split(',')
        .map(str::trim)
        .map(|n| {
            kizuna_ngsild::entity::validate_attr_name(n)?;
            Ok(ctx.expand(n))
        })
        .collect::<Result<Vec<_>, NgsiError>>()
        .map_err(ApiError::from)
}

/// `PUT /ngsi-ld/v1/entities/{id}` — §5.6.18 (replace entity): all attributes and the
/// type are replaced; 204, or 404 if there is no such entity.
pub(crate) async fn replace(
    State(st): State<ApiState>,
    req: Ngsi,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    allow_params(&query_pairs(raw.as_deref())?, &[])?;
    path_id(&id)?;
    let body = body_bytes(body)?;
    let (mut json, ctx) = req.body(&st, &body, false).await?;
    if let Some(obj) = json.as_object_mut() {
        match obj.get("id") {
            Some(Value::String(b)) if b != &id => {
                return Err(bad_data(format!("the body's id '{b}' differs from the URL's '{id}'")))
            }
            _ => {}
        }
        obj.insert("id".into(), Value::String(id.clone()));
    }
    let new = parse_entity(&json, &ctx)?;
    let now = now_timestamp();
    st.write(&req, move |tx| {
        let mut e = tx.get(&id)?.ok_or_else(|| not_found(&id))?;
        e.replace_with(new, &now);
        tx.update(&e)?;
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `PATCH /ngsi-ld/v1/entities/{id}` — §5.6.17 (merge entity): attributes are merged,
/// `urn:ngsi-ld:null` deletes; 204, or 404.
pub(crate) async fn merge(
    State(st): State<ApiState>,
    req: Ngsi,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    allow_params(&query_pairs(raw.as_deref())?, &["options"])?;
    path_id(&id)?;
    let body = body_bytes(body)?;
    let (json, ctx) = req.body(&st, &body, true).await?;
    check_body_id(&json, &id)?;
    let attrs = parse_attributes(&json, &ctx)?;
    let new_types = match json.get("type") {
        Some(t) => Some(types_of(t, &ctx)?),
        None => None,
    };
    let new_scope = match json.get("scope") {
        Some(s) => Some(scope_of(s, &ctx)?),
        None => None,
    };
    let now = now_timestamp();
    st.write(&req, move |tx| {
        let mut e = tx.get(&id)?.ok_or_else(|| not_found(&id))?;
        if let Some(ts) = new_types {
            for t in ts {
                if !e.types.contains(&t) {
                    e.types.push(t);
                }
            }
        }
        if let Some(scope) = new_scope {
            e.scope = scope;
        }
        e.merge(attrs, &now);
        e.modified_at = Some(now.clone());
        tx.update(&e)?;
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Entity types given in a fragment body, expanded.
pub(crate) fn types_of(t: &Value, ctx: &kizuna_ngsild::Context) -> Result<Vec<String>, ApiError> {
    let probe = serde_json::json!({"id": "urn:kizuna:probe", "type": t});
    Ok(parse_entity(&probe, ctx)?.types)
}

/// Scopes given in a fragment body, validated.
pub(crate) fn scope_of(s: &Value, ctx: &kizuna_ngsild::Context) -> Result<Vec<String>, ApiError> {
    let probe = serde_json::json!({"id": "urn:kizuna:probe", "type": "Probe", "scope": s});
    Ok(parse_entity(&probe, ctx)?.scope)
}

/// Rejects a fragment body whose `id` names another entity than the URL.
pub(crate) fn check_body_id(json: &Value, id: &str) -> Result<(), ApiError> {
    match json.get("id") {
        Some(Value::String(b)) if b != id => {
            Err(bad_data(format!("the body's id '{b}' differs from the URL's '{id}'")))
        }
        Some(Value::String(_)) | None => Ok(()),
        Some(_) => Err(bad_data("the body's id must be a string")),
    }
}

/// `DELETE /ngsi-ld/v1/entities/{id}` — §5.6.6: 204, or 404.
pub(crate) async fn delete(
    State(st): State<ApiState>,
    req: Ngsi,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = query_pairs(raw.as_deref())?;
    allow_params(&pairs, &["type"])?;
    path_id(&id)?;
    req.require_tenant(&st)?;
    let ctx = req.context(&st).await?;
    let types: Option<Vec<String>> = param(&pairs, "type").map(|t| split_names(t, &ctx)).transpose()?;
    st.write(&req, move |tx| {
        // With `type`, only an entity of that type is deleted (as GET with `type` finds it).
        let found = tx.get(&id)?.filter(|e| types.as_ref().is_none_or(|ts| ts.iter().any(|t| e.types.contains(t))));
        if found.is_some() && tx.delete(&id)? {
            Ok(())
        } else {
            Err(not_found(&id))
        }
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `ResourceNotFound` for entity `id`.
pub(crate) fn not_found(id: &str) -> ApiError {
    ApiError::Ngsi(NgsiError::not_found(format!("entity '{id}' not found")))
}
