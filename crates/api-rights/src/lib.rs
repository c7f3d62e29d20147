//! The person's rights and the tenant admin's policy, over HTTP.
//!
//! Two routers, both authenticated by `kizuna-api-ngsild`'s
//! [`Access`](kizuna_api_ngsild::access::Access) extractor
//! (tenant from the `NGSILD-Tenant` header or the credentials; credentials bound to
//! another tenant → 403), both answering errors as ProblemDetails
//! ([`ApiError`](kizuna_api_ngsild::ApiError)):
//!
//! - [`me_router`], to be nested at `/me`: the citizen (role `citizen` with a data
//!   subject) sees their data, grants and withdraws consents, sets information-bank
//!   provision conditions (delegations), stops a recipient's use of their data, sees the
//!   guardianships they are part of, reads who accessed their data and what the bank
//!   provided, downloads a portability package (NGSI-LD entities and FHIR resources) and
//!   erases their data — and a guardian does all of it for a ward by naming the ward in
//!   the `Kizuna-On-Behalf-Of` header (honoured only under a guardianship in force; see
//!   `guardianships.rs`);
//! - [`policy_router`], to be nested at `/kizuna/v1` (merged with
//!   [`kizuna_api_ngsild::admin_router`]: two routers cannot be nested at one path):
//!   the tenant admin classifies entity types, registers parties, issues and revokes API
//!   keys, records consents given at the counter or on paper, and reads and verifies the
//!   access log; the tenant admin and data holders record guardianships.
//!
//! ```no_run
//! # fn app(state: kizuna_api_ngsild::ApiState) -> axum::Router {
//! axum::Router::new()
//!     .nest("/ngsi-ld/v1", kizuna_api_ngsild::router(state.clone()))
//!     .nest("/kizuna/v1", kizuna_api_ngsild::admin_router(state.clone()).merge(kizuna_api_rights::policy_router(state.clone())))
//!     .nest("/me", kizuna_api_rights::me_router(state))
//! # }
//! ```
//!
//! Each router serves its OpenAPI 3.0 description (`GET /me/openapi.yaml`, `GET
//! /kizuna/v1/openapi.yaml`) without credentials: [`ME_OPENAPI`], [`ADMIN_OPENAPI`].
//!
//! Request bodies use short names (entity types, attributes) expanded with the core
//! context or the user context of a JSON-LD `Link` header, and camelCase members; the
//! records answered are the serde JSON of `kizuna-consent`'s types (expanded IRIs,
//! snake_case members).
//!
//! # Layout
//! - `common.rs`: role checks and whose data a `/me` request is about (`require_citizen`
//!   → `Principal`: the effective subject — the caller's own or a ward's under
//!   `Kizuna-On-Behalf-Of` — the acting citizen and the guardianship), bodies (errors name
//!   the member), `@context`, paging;
//! - `admin.rs`: the policy API (classification, parties, API keys, staff consents,
//!   audit page and verification);
//! - `me.rs`: the citizen API (profile, data, consents, delegations, usage stops,
//!   provisions, access log);
//! - `mine.rs`: finding the citizen's entities (current and history-only) and rendering;
//! - `guardianships.rs`: guardianships (recorded under `/kizuna/v1`, read under `/me`)
//!   and the rules of acting for a ward under `/me`;
//! - `export.rs`: the portability package (ZIP), FHIR resources included;
//! - `erasure.rs`: erasure and its preview, FHIR resources included;
//! - `openapi/me.yaml`, `openapi/admin.yaml`: the API descriptions.
//!
//! Handlers never touch SQL: blocking store calls run through [`ApiState::read`] and
//! [`ApiState::write_unguarded`] (the callers are checked here, before any write).

#![warn(missing_docs)]

mod admin;
mod common;
mod erasure;
mod export;
mod guardianships;
mod me;
mod mine;

use axum::extract::DefaultBodyLimit;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use axum::Router;
use kizuna_api_ngsild::ApiState;

/// The OpenAPI 3.0 description of the citizen API (`/me`).
pub const ME_OPENAPI: &str = include_str!("../openapi/me.yaml");
/// The OpenAPI 3.0 description of the policy API (`/kizuna/v1`).
pub const ADMIN_OPENAPI: &str = include_str!("../openapi/admin.yaml");

/// Largest request body of these APIs (policy records are small).
const MAX_BODY: usize = 1024 * 1024;

fn yaml(doc: &'static str) -> axum::response::Response {
    ([(header::CONTENT_TYPE, "application/yaml")], doc).into_response()
}

/// The citizen API, to be nested at `/me`. Every route but `/openapi.yaml` needs a
/// citizen token naming a data subject; each accepts `Kizuna-On-Behalf-Of: <ward URI>`
/// from a guardian acting for a ward.
pub fn me_router(state: ApiState) -> Router {
    Router::new()
        .route("/", get(me::profile))
        .route("/data", get(me::data))
        .route("/consents", get(me::list_consents).post(me::grant_consent))
        .route("/consents/{id}/withdraw", post(me::withdraw_consent))
        .route("/delegations", get(me::list_delegations).post(me::create_delegation))
        .route("/delegations/{id}/withdraw", post(me::withdraw_delegation))
        .route("/provisions", get(me::provisions))
        .route("/usage-stops", get(me::list_usage_stops))
        .route("/usage-stops/{recipient}", put(me::put_usage_stop).delete(me::delete_usage_stop))
        .route("/guardianships", get(guardianships::mine))
        .route("/access-log", get(me::access_log))
        .route("/export", get(export::export))
        .route("/erasure", get(erasure::preview).post(erasure::erase))
        .route("/openapi.yaml", get(|| async { yaml(ME_OPENAPI) }))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// The tenant admin's policy API, to be nested at `/kizuna/v1` (merged with the
/// retention routes of [`kizuna_api_ngsild::admin_router`]). Every route but
/// `/openapi.yaml` needs a tenant-admin token; `/guardianships` also accepts data
/// holders.
pub fn policy_router(state: ApiState) -> Router {
    Router::new()
        .route("/classification", get(admin::get_classification).put(admin::put_classification))
        .route("/parties", get(admin::list_parties))
        .route("/parties/{id}", put(admin::put_party).delete(admin::delete_party))
        .route("/api-keys", get(admin::list_api_keys).post(admin::create_api_key))
        .route("/api-keys/{id}", axum::routing::delete(admin::revoke_api_key))
        .route("/consents", get(admin::list_consents).post(admin::create_consent))
        .route("/consents/{id}/withdraw", post(admin::withdraw_consent))
        .route("/guardianships", get(guardianships::list).post(guardianships::create))
        .route("/guardianships/{id}/end", post(guardianships::end))
        .route("/audit", get(admin::audit_page))
        .route("/audit/verify", get(admin::audit_verify))
        .route("/openapi.yaml", get(|| async { yaml(ADMIN_OPENAPI) }))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}
