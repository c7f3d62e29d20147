//! Personal health records on FHIR R4 (JP Core), at `/fhir`.
//!
//! # Layout
//! - [`access`]: the caller, the consent decision for each resource (the same decision
//!   point and audit log as NGSI-LD), and who may write what;
//! - [`write`]: storing a resource — validation, the data subject it belongs to,
//!   versions, `meta` (version, time, source = the supplying party), search index —
//!   and the threshold alerts an Observation may raise ([`alerts`]);
//! - [`rest`]: the RESTful interactions (read, vread, create, update, delete, history,
//!   search with paging and `_include`), `metadata`;
//! - [`bundle`]: `transaction` (atomic) and `batch` Bundles;
//! - [`query`]: search URLs → the store's [`kizuna_store::FhirSearch`];
//! - [`ops`]: `Patient/$everything`, `Patient/$immunization-schedule`,
//!   `$send-reminders`, `$research-extract`, `$thresholds`, and the Consent view;
//! - [`capability`]: the CapabilityStatement.

pub mod access;
pub mod alerts;
pub mod bundle;
pub mod capability;
pub mod conditional;
pub mod error;
pub mod ops;
pub mod query;
pub mod rest;
pub mod write;

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use kizuna_api_ngsild::ApiState;
use serde_json::Value;

pub use error::{FhirError, FHIR_JSON};

/// The state of the FHIR routes: the shared API state (store, verifier, limits).
#[derive(Clone)]
pub struct FhirState {
    /// The state every API crate shares.
    pub api: ApiState,
}

/// The `/fhir` routes (nest under `/fhir`).
pub fn fhir_router(api: ApiState) -> Router {
    let st = FhirState { api };
    Router::new()
        .route("/metadata", get(capability::metadata))
        .route("/", axum::routing::post(bundle::system))
        .route("/{rtype}", get(rest::type_get).post(rest::type_post).put(rest::conditional_update))
        .route("/{rtype}/_search", axum::routing::post(rest::search_post))
        .route(
            "/{rtype}/{id}",
            get(rest::instance_get).put(rest::update).delete(rest::delete).post(rest::instance_post),
        )
        .route("/{rtype}/{id}/_history", get(rest::history))
        .route("/{rtype}/{id}/_history/{vid}", get(rest::vread))
        .route("/{rtype}/{id}/{op}", get(ops::instance_op).post(ops::instance_op_post))
        .with_state(st)
}

/// The base URL clients address (`http://host/fhir`), from the `Host` header.
pub fn base_url(headers: &HeaderMap) -> String {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let proto = headers.get("x-forwarded-proto").and_then(|h| h.to_str().ok()).unwrap_or("http");
    format!("{proto}://{host}/fhir")
}

/// Checks `Accept` (and `_format`): FHIR JSON or plain JSON only.
pub fn check_accept(headers: &HeaderMap, format: Option<&str>) -> Result<(), FhirError> {
    if let Some(f) = format {
        if !matches!(f, "json" | "application/json" | "application/fhir+json") {
            return Err(FhirError::Media(
                StatusCode::NOT_ACCEPTABLE,
                format!("_format={f} is not supported; this server speaks application/fhir+json"),
            ));
        }
        return Ok(());
    }
    let Some(accept) = headers.get(header::ACCEPT).and_then(|h| h.to_str().ok()) else {
        return Ok(());
    };
    let ok = accept.split(',').any(|part| {
        let m = part.split(';').next().unwrap_or("").trim();
        matches!(
            m,
            "" | "*/*" | "application/*" | "application/json" | "application/fhir+json" | "application/json+fhir"
        )
    });
    if ok {
        Ok(())
    } else {
        Err(FhirError::Media(
            StatusCode::NOT_ACCEPTABLE,
            format!("Accept: {accept} is not supported; this server speaks application/fhir+json"),
        ))
    }
}

/// Parses a request body: `Content-Type` must be FHIR JSON or JSON.
pub fn parse_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, FhirError> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|h| h.to_str().ok()).unwrap_or("");
    let m = ct.split(';').next().unwrap_or("").trim();
    if !matches!(m, "application/fhir+json" | "application/json" | "application/json+fhir") {
        return Err(FhirError::Media(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Content-Type '{ct}' is not supported; send application/fhir+json"),
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        FhirError::Invalid(kizuna_fhir::OperationOutcome::single(
            kizuna_fhir::IssueSeverity::Error,
            kizuna_fhir::IssueCode::Structure,
            format!("the body is not JSON: {e}"),
        ))
    })
}

/// A FHIR JSON response.
pub fn fhir_response(status: StatusCode, body: &Value) -> Response {
    (status, [(header::CONTENT_TYPE, FHIR_JSON)], body.to_string()).into_response()
}
