//! [`ApiError`] → HTTP status and ProblemDetails body (ETSI GS CIM 009 §5.5.2, IETF RFC 7807).
//! The status mapping is one exhaustive `match`.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use kizuna_ngsild::{ErrorKind, NgsiError};
use kizuna_store::StoreError;
use serde_json::json;

/// Everything an NGSI-LD operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// An error the specification names.
    #[error("{0}")]
    Ngsi(#[from] NgsiError),
    /// Storage failed.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// No representation the client accepts (`Accept`).
    #[error("not acceptable: {0}")]
    NotAcceptable(String),
    /// The request body's media type is not supported (`Content-Type`).
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    /// The request body is larger than allowed.
    #[error("payload too large: {0}")]
    PayloadTooLarge(String),
}

impl ApiError {
    /// The HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Ngsi(e) => match e.kind {
                ErrorKind::InvalidRequest | ErrorKind::BadRequestData => StatusCode::BAD_REQUEST,
                ErrorKind::AlreadyExists => StatusCode::CONFLICT,
                ErrorKind::OperationNotSupported => StatusCode::UNPROCESSABLE_ENTITY,
                ErrorKind::ResourceNotFound | ErrorKind::NonexistentTenant => StatusCode::NOT_FOUND,
                ErrorKind::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
                ErrorKind::TooComplexQuery | ErrorKind::TooManyResults => StatusCode::FORBIDDEN,
                ErrorKind::LdContextNotAvailable => StatusCode::SERVICE_UNAVAILABLE,
            },
            ApiError::Store(StoreError::Closed) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }

    /// The ProblemDetails body (`type`, `title`, `status`, `detail`).
    pub fn problem(&self) -> serde_json::Value {
        let (kind, detail) = match self {
            ApiError::Ngsi(e) => (e.kind, e.detail.clone()),
            ApiError::Store(e) => (ErrorKind::InternalError, e.to_string()),
            ApiError::NotAcceptable(d) | ApiError::UnsupportedMediaType(d) => (ErrorKind::InvalidRequest, d.clone()),
            ApiError::PayloadTooLarge(d) => (ErrorKind::BadRequestData, d.clone()),
        };
        let status = self.status();
        let title = match self {
            ApiError::NotAcceptable(_) => "Not acceptable",
            ApiError::UnsupportedMediaType(_) => "Unsupported media type",
            ApiError::PayloadTooLarge(_) => "Payload too large",
            _ => kind.title(),
        };
        json!({ "type": kind.type_uri(), "title": title, "status": status.as_u16(), "detail": detail })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Store(e) = &self {
            tracing::error!(error = %e, "storage error");
        }
        let status = self.status();
        (status, [(header::CONTENT_TYPE, "application/json")], self.problem().to_string()).into_response()
    }
}

/// Shorthand for `BadRequestData`.
pub(crate) fn bad_data(detail: impl Into<String>) -> ApiError {
    ApiError::Ngsi(NgsiError::bad_data(detail))
}
