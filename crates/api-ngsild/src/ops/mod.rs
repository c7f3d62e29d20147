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

/// Characters escaped in a URI path segment (RFC 3986 `pchar` keeps `:` and `@`);
/// non-ASCII characters are always escaped.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b']')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// A `Location` header for resource `id` under `prefix` (e.g. `/ngsi-ld/v1/entities/`),
/// with the id percent-encoded as one path segment.
pub(crate) fn location(prefix: &str, id: &str) -> Option<axum::http::HeaderValue> {
    let encoded = percent_encoding::utf8_percent_encode(id, SEGMENT);
    axum::http::HeaderValue::from_str(&format!("{prefix}{encoded}")).ok()
}

/// Checks an entity id taken from the URL path.
pub(crate) fn path_id(id: &str) -> Result<(), ApiError> {
    validate_entity_id(id).map_err(|e| ApiError::Ngsi(kizuna_ngsild::NgsiError::bad_data(e.detail)))
}
