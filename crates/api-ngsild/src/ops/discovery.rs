//! Discovery of types and attributes (ETSI GS CIM 009 §5.7.5–§5.7.10).

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use kizuna_ngsild::entity::validate_attr_name;
use kizuna_ngsild::NgsiError;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::request::{allow_params, bool_param, query_pairs, Ngsi};
use crate::ApiState;

/// A fresh URN for a list resource (the spec has them generated per response).
fn list_id(kind: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("urn:ngsi-ld:{kind}:{nanos:x}")
}

/// `GET /ngsi-ld/v1/types` — §5.7.5 / §5.7.6: an EntityTypeList, or with `details=true`
/// an array of EntityType with their attribute names.
pub(crate) async fn types(
    State(st): State<ApiState>,
    req: Ngsi,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = query_pairs(raw.as_deref())?;
    allow_params(&pairs, &["details", "local"])?;
    let details = bool_param(&pairs, "details")?;
    req.require_tenant(&st)?;
    let ctx = req.context(&st).await?;
    let tenant = req.tenant.clone();
    let mut types = st.read(move |s| s.types(&tenant)).await?;
    types.retain(|t| req.access.may_discover(&t.type_iri));
    let body = if details {
        Value::Array(
            types
                .iter()
                .map(|t| {
                    json!({
                        "id": t.type_iri, "type": "EntityType", "typeName": ctx.compact(&t.type_iri),
                        "attributeNames": t.attributes.iter().map(|a| ctx.compact(&a.0)).collect::<Vec<_>>(),
                    })
                })
                .collect(),
        )
    } else {
        json!({
            "id": list_id("EntityTypeList"), "type": "EntityTypeList",
            "typeList": types.iter().map(|t| ctx.compact(&t.type_iri)).collect::<Vec<_>>(),
        })
    };
    Ok(req.respond(StatusCode::OK, body))
}

/// `GET /ngsi-ld/v1/types/{type}` — §5.7.7: EntityTypeInfo (entity count, attribute
/// details); 404 if no entity has the type.
pub(crate) async fn type_info(
    State(st): State<ApiState>,
    req: Ngsi,
    Path(ty): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    allow_params(&query_pairs(raw.as_deref())?, &["local"])?;
    validate_attr_name(&ty)?;
    req.require_tenant(&st)?;
    let ctx = req.context(&st).await?;
    let iri = ctx.expand(&ty);
    let tenant = req.tenant.clone();
    let mut types = st.read(move |s| s.types(&tenant)).await?;
    types.retain(|t| req.access.may_discover(&t.type_iri));
    let t = types
        .into_iter()
        .find(|t| t.type_iri == iri)
        .ok_or_else(|| ApiError::Ngsi(NgsiError::not_found(format!("no entity has type '{ty}'"))))?;
    let body = json!({
        "id": t.type_iri, "type": "EntityTypeInfo", "typeName": ctx.compact(&t.type_iri), "entityCount": t.entity_count,
        "attributeDetails": t.attributes.iter().map(|(name, kinds, _)| json!({
            "id": name, "type": "Attribute", "attributeName": ctx.compact(name), "attributeTypes": kinds,
        })).collect::<Vec<_>>(),
    });
    Ok(req.respond(StatusCode::OK, body))
}

/// `GET /ngsi-ld/v1/attributes` — §5.7.8 / §5.7.9: an AttributeList, or with
/// `details=true` an array of Attribute.
pub(crate) async fn attributes(
    State(st): State<ApiState>,
    req: Ngsi,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = query_pairs(raw.as_deref())?;
    allow_params(&pairs, &["details", "local"])?;
    let details = bool_param(&pairs, "details")?;
    req.require_tenant(&st)?;
    let ctx = req.context(&st).await?;
    let tenant = req.tenant.clone();
    let mut attrs = st.read(move |s| s.attributes(&tenant)).await?;
    for a in &mut attrs {
        a.type_names.retain(|t| req.access.may_discover(t));
    }
    attrs.retain(|a| !a.type_names.is_empty());
    let body = if details {
        Value::Array(attrs.iter().map(|a| attribute_json(a, &ctx)).collect())
    } else {
        json!({
            "id": list_id("AttributeList"), "type": "AttributeList",
            "attributeList": attrs.iter().map(|a| ctx.compact(&a.name)).collect::<Vec<_>>(),
        })
    };
    Ok(req.respond(StatusCode::OK, body))
}

fn attribute_json(a: &kizuna_store::AttributeInfo, ctx: &kizuna_ngsild::Context) -> Value {
    json!({
        "id": a.name, "type": "Attribute", "attributeName": ctx.compact(&a.name), "attributeCount": a.entity_count,
        "attributeTypes": a.kinds, "typeNames": a.type_names.iter().map(|t| ctx.compact(t)).collect::<Vec<_>>(),
    })
}

/// `GET /ngsi-ld/v1/attributes/{attrId}` — §5.7.10: one Attribute; 404 if unused.
pub(crate) async fn attribute_info(
    State(st): State<ApiState>,
    req: Ngsi,
    Path(attr): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    allow_params(&query_pairs(raw.as_deref())?, &["local"])?;
    validate_attr_name(&attr)?;
    req.require_tenant(&st)?;
    let ctx = req.context(&st).await?;
    let iri = ctx.expand(&attr);
    let tenant = req.tenant.clone();
    let mut attrs = st.read(move |s| s.attributes(&tenant)).await?;
    for a in &mut attrs {
        a.type_names.retain(|t| req.access.may_discover(t));
    }
    attrs.retain(|a| !a.type_names.is_empty());
    let a = attrs
        .iter()
        .find(|a| a.name == iri)
        .ok_or_else(|| ApiError::Ngsi(NgsiError::not_found(format!("no entity has attribute '{attr}'"))))?;
    Ok(req.respond(StatusCode::OK, attribute_json(a, &ctx)))
}
