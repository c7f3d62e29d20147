//! Every NGSI-LD route and the operation serving it. Trailing slashes are trimmed
//! before routing by the server (`/entities/` is `/entities`).

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, patch, post, put};
use axum::Router;

use crate::ops::{attrs, batch, discovery, entity, query, subscriptions, temporal};
use crate::ApiState;

/// The NGSI-LD router, to be nested at `/ngsi-ld/v1`.
pub fn router(state: ApiState) -> Router {
    let limit = state.config.max_body_bytes;
    Router::new()
        .route("/entities", post(entity::create).get(query::query_entities))
        .route("/entities/{id}", get(entity::retrieve).put(entity::replace).patch(entity::merge).delete(entity::delete))
        .route("/entities/{id}/attrs", post(attrs::append).patch(attrs::update))
        .route(
            "/entities/{id}/attrs/{attr}",
            patch(attrs::patch_attr).delete(attrs::delete_attr).put(attrs::replace_attr),
        )
        .route("/entityOperations/create", post(batch::create))
        .route("/entityOperations/upsert", post(batch::upsert))
        .route("/entityOperations/update", post(batch::update))
        .route("/entityOperations/delete", post(batch::delete))
        .route("/entityOperations/query", post(query::batch_query))
        .route("/types", get(discovery::types))
        .route("/types/{type}", get(discovery::type_info))
        .route("/attributes", get(discovery::attributes))
        .route("/attributes/{attr}", get(discovery::attribute_info))
        .route("/subscriptions", post(subscriptions::create).get(subscriptions::list))
        .route(
            "/subscriptions/{id}",
            get(subscriptions::retrieve).patch(subscriptions::update).delete(subscriptions::delete),
        )
        .route("/temporal/entities", post(temporal::create).get(temporal::query))
        .route("/temporal/entities/{id}", get(temporal::retrieve).delete(temporal::delete))
        .route("/temporal/entities/{id}/attrs", post(temporal::append))
        .route("/temporal/entities/{id}/attrs/{attr}", delete(temporal::delete_attr))
        .route(
            "/temporal/entities/{id}/attrs/{attr}/{instance}",
            patch(temporal::patch_instance).delete(temporal::delete_instance),
        )
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// Kizuna's own administration API, to be nested at `/kizuna/v1`: retention of history.
pub fn admin_router(state: ApiState) -> Router {
    Router::new()
        .route("/retention", get(temporal::list_retention))
        .route("/retention/{type}", put(temporal::set_retention).delete(temporal::delete_retention))
        .with_state(state)
}
