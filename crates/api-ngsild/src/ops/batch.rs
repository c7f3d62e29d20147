//! Batch entity operations (ETSI GS CIM 009 §5.6.7–§5.6.10): create, upsert, update,
//! delete. Each entity succeeds or fails on its own (not atomic), all within one
//! durable commit; any failure makes the answer a 207 BatchOperationResult.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use kizuna_ngsild::entity::{now_timestamp, parse_entity};
use kizuna_ngsild::{Context, Entity, ErrorKind, NgsiError};
use serde_json::{json, Value};

use super::body_bytes;
use crate::error::{bad_data, ApiError};
use crate::request::{allow_params, query_pairs, Ngsi, Options};
use crate::ApiState;

/// One entity's failure in a batch.
struct Failure {
    id: String,
    error: ApiError,
}

/// The body as a JSON array, checking media type and size.
fn parse_array(req: &Ngsi, st: &ApiState, bytes: &[u8]) -> Result<(Vec<Value>, bool), ApiError> {
    let ld = match req.content_type.as_deref() {
        Some("application/json") => false,
        Some("application/ld+json") => true,
        Some(other) => {
            return Err(ApiError::UnsupportedMediaType(format!(
                "Content-Type '{other}' is not supported: use application/json or application/ld+json"
            )))
        }
        None => return Err(ApiError::UnsupportedMediaType("the request has a body but no Content-Type".into())),
    };
    let json: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::Ngsi(NgsiError::invalid(format!("the request body is not valid JSON: {e}"))))?;
    let Value::Array(items) = json else {
        return Err(bad_data("a batch operation's body must be a JSON array"));
    };
    if items.is_empty() {
        return Err(bad_data("a batch operation's body must not be an empty array"));
    }
    if items.len() > st.config.max_batch {
        return Err(bad_data(format!(
            "a batch may hold at most {} entities, not {}",
            st.config.max_batch,
            items.len()
        )));
    }
    Ok((items, ld))
}

/// Parses each element into an entity with its own context; failures are collected.
async fn parse_entities(req: &Ngsi, st: &ApiState, bytes: &[u8]) -> Result<(Vec<Entity>, Vec<Failure>), ApiError> {
    let (items, ld) = parse_array(req, st, bytes)?;
    if ld && req.link_context.is_some() {
        return Err(bad_data("a JSON-LD Link header cannot be used with Content-Type application/ld+json"));
    }
    let link_ctx = if ld { None } else { Some(req.context(st).await?) };
    let mut ok = Vec::with_capacity(items.len());
    let mut failed = Vec::new();
    for item in items {
        let id = item.get("id").and_then(Value::as_str).unwrap_or("").to_string();
        let ctx: Result<Context, ApiError> = match (&link_ctx, item.get("@context")) {
            (Some(c), None) => Ok(c.clone()),
            (Some(_), Some(_)) => Err(bad_data("an application/json body cannot contain @context")),
            (None, Some(user)) => st.contexts.resolve(Some(user)).await,
            (None, None) => Err(bad_data("each entity of an application/ld+json batch needs an @context")),
        };
        match ctx.and_then(|c| parse_entity(&item, &c).map_err(ApiError::from)) {
            Ok(e) => ok.push(e),
            Err(error) => failed.push(Failure { id, error }),
        }
    }
    Ok((ok, failed))
}

fn result_207(success: Vec<String>, failed: Vec<Failure>) -> Response {
    let errors: Vec<Value> = failed.iter().map(|f| json!({"entityId": f.id, "error": f.error.problem()})).collect();
    let body = json!({"success": success, "errors": errors});
    (StatusCode::MULTI_STATUS, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn ids_201(ids: Vec<String>) -> Response {
    (StatusCode::CREATED, [(header::CONTENT_TYPE, "application/json")], Value::from(ids).to_string()).into_response()
}

fn exists(id: &str) -> ApiError {
    ApiError::Ngsi(NgsiError::new(ErrorKind::AlreadyExists, format!("an entity with id '{id}' already exists")))
}

fn missing(id: &str) -> ApiError {
    ApiError::Ngsi(NgsiError::not_found(format!("entity '{id}' not found")))
}

/// Rejects two entities with the same id in one batch (the second is reported).
fn dedupe(entities: Vec<Entity>, failed: &mut Vec<Failure>) -> Vec<Entity> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(entities.len());
    for e in entities {
        if seen.insert(e.id.clone()) {
            out.push(e);
        } else {
            failed.push(Failure {
                id: e.id.clone(),
                error: bad_data(format!("entity '{}' appears twice in the batch", e.id)),
            });
        }
    }
    out
}

/// `POST /ngsi-ld/v1/entityOperations/create` — §5.6.7: 201 with the created ids, or
/// 207 with a BatchOperationResult.
pub(crate) async fn create(
    State(st): State<ApiState>,
    req: Ngsi,
    RawQuery(raw): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    allow_params(&query_pairs(raw.as_deref())?, &[])?;
    let body = body_bytes(body)?;
    let (entities, mut failed) = parse_entities(&req, &st, &body).await?;
    let entities = dedupe(entities, &mut failed);
    let now = now_timestamp();
    let (created, conflicts) = st
        .write(&req, move |tx| {
            let mut created = Vec::new();
            let mut conflicts = Vec::new();
            for mut e in entities {
                e.stamp_new(&now);
                if tx.insert(&e)? {
                    created.push(e.id);
                } else {
                    conflicts.push(Failure { error: exists(&e.id), id: e.id });
                }
            }
            Ok((created, conflicts))
        })
        .await?;
    failed.extend(conflicts);
    Ok(if failed.is_empty() { ids_201(created) } else { result_207(created, failed) })
}

/// `POST /ngsi-ld/v1/entityOperations/upsert` — §5.6.8: creates missing entities and
/// replaces (default, `options=replace`) or updates (`options=update`) existing ones;
/// 201 with the created ids, 204 if none was created, 207 on any failure.
pub(crate) async fn upsert(
    State(st): State<ApiState>,
    req: Ngsi,
    RawQuery(raw): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let pairs = query_pairs(raw.as_deref())?;
    allow_params(&pairs, &["options"])?;
    let opts = Options::from_pairs(&pairs)?;
    if opts.update && opts.replace {
        return Err(bad_data("options=update and options=replace cannot be combined"));
    }
    let body = body_bytes(body)?;
    let (entities, mut failed) = parse_entities(&req, &st, &body).await?;
    let entities = dedupe(entities, &mut failed);
    let now = now_timestamp();
    let update = opts.update;
    let (created, updated) = st
        .write(&req, move |tx| {
            let mut created = Vec::new();
            let mut updated = Vec::new();
            for mut e in entities {
                match tx.get(&e.id)? {
                    None => {
                        e.stamp_new(&now);
                        tx.insert(&e)?;
                        created.push(e.id);
                    }
                    Some(mut old) => {
                        if update {
                            for t in &e.types {
                                if !old.types.contains(t) {
                                    old.types.push(t.clone());
                                }
                            }
                            old.append_attrs(e.attrs, true, &now);
                            old.modified_at = Some(now.clone());
                        } else {
                            old.replace_with(e, &now);
                        }
                        tx.update(&old)?;
                        updated.push(old.id);
                    }
                }
            }
            Ok((created, updated))
        })
        .await?;
    if !failed.is_empty() {
        let mut success = created;
        success.extend(updated);
        return Ok(result_207(success, failed));
    }
    Ok(if created.is_empty() { StatusCode::NO_CONTENT.into_response() } else { ids_201(created) })
}

/// `POST /ngsi-ld/v1/entityOperations/update` — §5.6.9: appends attributes to existing
/// entities (overwriting unless `options=noOverwrite`); 204, or 207.
pub(crate) async fn update(
    State(st): State<ApiState>,
    req: Ngsi,
    RawQuery(raw): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let pairs = query_pairs(raw.as_deref())?;
    allow_params(&pairs, &["options"])?;
    let overwrite = !Options::from_pairs(&pairs)?.no_overwrite;
    let body = body_bytes(body)?;
    let (entities, mut failed) = parse_entities(&req, &st, &body).await?;
    let entities = dedupe(entities, &mut failed);
    let now = now_timestamp();
    let (updated, not_found) = st
        .write(&req, move |tx| {
            let mut updated = Vec::new();
            let mut not_found = Vec::new();
            for e in entities {
                match tx.get(&e.id)? {
                    None => not_found.push(Failure { error: missing(&e.id), id: e.id }),
                    Some(mut old) => {
                        old.append_attrs(e.attrs, overwrite, &now);
                        tx.update(&old)?;
                        updated.push(old.id);
                    }
                }
            }
            Ok((updated, not_found))
        })
        .await?;
    failed.extend(not_found);
    Ok(if failed.is_empty() { StatusCode::NO_CONTENT.into_response() } else { result_207(updated, failed) })
}

/// `POST /ngsi-ld/v1/entityOperations/delete` — §5.6.10: the body is an array of ids;
/// 204, or 207 naming the ids that were not found.
pub(crate) async fn delete(
    State(st): State<ApiState>,
    req: Ngsi,
    RawQuery(raw): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    allow_params(&query_pairs(raw.as_deref())?, &[])?;
    let body = body_bytes(body)?;
    let (items, _) = parse_array(&req, &st, &body)?;
    let mut failed = Vec::new();
    let mut ids = Vec::new();
    for item in items {
        match item.as_str() {
            Some(id) => match super::path_id(id) {
                Ok(()) => ids.push(id.to_string()),
                Err(error) => failed.push(Failure { id: id.to_string(), error }),
            },
            None => failed
                .push(Failure { id: item.to_string(), error: bad_data("batch delete takes an array of entity ids") }),
        }
    }
    let (deleted, not_found) = st
        .write(&req, move |tx| {
            let mut deleted = Vec::new();
            let mut not_found = Vec::new();
            for id in ids {
                if tx.delete(&id)? {
                    deleted.push(id);
                } else {
                    not_found.push(Failure { error: missing(&id), id });
                }
            }
            Ok((deleted, not_found))
        })
        .await?;
    failed.extend(not_found);
    Ok(if failed.is_empty() { StatusCode::NO_CONTENT.into_response() } else { result_207(deleted, failed) })
}
