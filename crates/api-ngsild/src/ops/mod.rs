//! The standard operations, grouped by resource. Each handler's doc names the clause
//! of ETSI GS CIM 009 V1.8 it implements.

pub(crate) mod attrs;
pub(crate) mod batch;
pub(crate) mod discovery;
pub(crate) mod entity;
pub(crate) mod query;
pub(crate) mod subscriptions;
pub mod temporal;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use kizuna_ngsild::entity::validate_entity_id;

use crate::error::ApiError;

/// The request body, with an over-long body reported as ProblemDetails.
pub(crate) fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|e| match e {
        BytesRejection::FailedToBufferBody(_) => {
            ApiError::PayloadTooLarge(format!("the request body could not be read or is too large: {e}"))
        }
        other => ApiError::PayloadTooLarge(other.to_string()),
    })
}

/// Checks an entity id taken from the URL path.
pub(crate) fn path_id(id: &str) -> Result<(), ApiError> {
    validate_entity_id(id).map_err(|e| ApiError::Ngsi(kizuna_ngsild::NgsiError::bad_data(e.detail)))
}
