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
    /// No valid credentials for what the request does (401, with `WWW-Authenticate`).
    #[error("{0}")]
    Unauthorized(String),
    /// Valid credentials, but the caller may not do this (403).
    #[error("{0}")]
    Forbidden(String),
    /// Credentials could not be checked now (a key set could not be loaded; 503).
    #[error("{0}")]
    AuthUnavailable(String),
}

/// The ProblemDetails `type` of the errors NGSI-LD does not name (authentication and
/// authorisation): `urn:kizuna:errors:Unauthorized`, `...:Forbidden`, `...:AuthUnavailable`.
pub const KIZUNA_ERRORS: &str = "urn:kizuna:errors:";

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
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::AuthUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The ProblemDetails body (`type`, `title`, `status`, `detail`).
    pub fn problem(&self) -> serde_json::Value {
        let own = match self {
            ApiError::Unauthorized(d) => Some(("Unauthorized", d)),
            ApiError::Forbidden(d) => Some(("Forbidden", d)),
            ApiError::AuthUnavailable(d) => Some(("AuthUnavailable", d)),
            _ => None,
        };
        if let Some((name, detail)) = own {
            let status = self.status();
            return json!({
                "type": format!("{KIZUNA_ERRORS}{name}"),
                "title": status.canonical_reason().unwrap_or(name),
                "status": status.as_u16(),
                "detail": detail,
            });
        }
        let (kind, detail) = match self {
            ApiError::Ngsi(e) => (e.kind, e.detail.clone()),
            ApiError::Store(e) => (ErrorKind::InternalError, e.to_string()),
            ApiError::NotAcceptable(d) | ApiError::UnsupportedMediaType(d) => (ErrorKind::InvalidRequest, d.clone()),
            ApiError::PayloadTooLarge(d) => (ErrorKind::BadRequestData, d.clone()),
            ApiError::Unauthorized(d) | ApiError::Forbidden(d) | ApiError::AuthUnavailable(d) => {
                (ErrorKind::InternalError, d.clone())
            }
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
        let mut resp =
            (status, [(header::CONTENT_TYPE, "application/json")], self.problem().to_string()).into_response();
        if let ApiError::Unauthorized(detail) = &self {
            // RFC 6750 §3: the scheme, and why the token (if any) was refused.
            let value = format!(
                "Bearer realm=\"kizuna\", error=\"invalid_token\", error_description=\"{}\"",
                detail.replace('"', "'")
            );
            if let Ok(v) = header::HeaderValue::from_str(&value) {
                resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
        }
        resp
    }
}

/// Shorthand for `BadRequestData`.
pub(crate) fn bad_data(detail: impl Into<String>) -> ApiError {
    ApiError::Ngsi(NgsiError::bad_data(detail))
}
