//! FHIR errors: every failure answers an `OperationOutcome` (`application/fhir+json`)
//! with the HTTP status the FHIR RESTful API names for it.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use kizuna_api_ngsild::ApiError;
use kizuna_fhir::{IssueCode, IssueSeverity, OperationOutcome};
use kizuna_store::StoreError;

/// The media type of every FHIR response.
pub const FHIR_JSON: &str = "application/fhir+json; charset=utf-8";

/// A failed FHIR interaction.
#[derive(Debug, thiserror::Error)]
pub enum FhirError {
    /// 400: the request is malformed (bad search parameter, bad JSON, bad Bundle).
    #[error("{0}")]
    BadRequest(String),
    /// 400/422 with the validator's issues (the resource is invalid).
    #[error("the resource is invalid")]
    Invalid(OperationOutcome),
    /// 422: the resource is well formed but breaks a rule of this server (an unknown
    /// patient reference, a Patient without a data-subject identifier).
    #[error("{1}")]
    Unprocessable(String, String),
    /// 401 (no valid credentials), 403 (not allowed), 503 (credentials cannot be checked).
    #[error("{0}")]
    Access(ApiError),
    /// 404: no such resource (or one the caller may not see).
    #[error("{0}")]
    NotFound(String),
    /// 410: the resource was deleted.
    #[error("{0}")]
    Gone(String),
    /// 405: the interaction is not supported on this type.
    #[error("{0}")]
    NotAllowed(String),
    /// 406 / 415: a media type this server does not speak.
    #[error("{1}")]
    Media(StatusCode, String),
    /// 409 / 412: a version conflict (`If-Match`).
    #[error("{1}")]
    Conflict(StatusCode, String),
    /// 500 / 503: storage failed.
    #[error("{0}")]
    Store(#[from] StoreError),
}

impl From<ApiError> for FhirError {
    fn from(e: ApiError) -> FhirError {
        match e {
            ApiError::Store(s) => FhirError::Store(s),
            ApiError::Ngsi(n) => FhirError::BadRequest(n.detail),
            ApiError::PayloadTooLarge(d) => FhirError::Media(StatusCode::PAYLOAD_TOO_LARGE, d),
            other => FhirError::Access(other),
        }
    }
}

impl FhirError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            FhirError::BadRequest(_) => StatusCode::BAD_REQUEST,
            FhirError::Invalid(_) => StatusCode::BAD_REQUEST,
            FhirError::Unprocessable(..) => StatusCode::UNPROCESSABLE_ENTITY,
            FhirError::Access(e) => e.status(),
            FhirError::NotFound(_) => StatusCode::NOT_FOUND,
            FhirError::Gone(_) => StatusCode::GONE,
            FhirError::NotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            FhirError::Media(s, _) | FhirError::Conflict(s, _) => *s,
            FhirError::Store(StoreError::Closed) => StatusCode::SERVICE_UNAVAILABLE,
            FhirError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The OperationOutcome.
    pub fn outcome(&self) -> OperationOutcome {
        let one = |code: IssueCode, d: String| OperationOutcome::single(IssueSeverity::Error, code, d);
        match self {
            FhirError::Invalid(o) => o.clone(),
            FhirError::Unprocessable(expr, d) => {
                let mut o = one(IssueCode::BusinessRule, d.clone());
                if let Some(i) = o.issue.first_mut() {
                    i.expression = vec![expr.clone()];
                }
                o
            }
            FhirError::BadRequest(d) => one(IssueCode::Invalid, d.clone()),
            FhirError::Access(e) => {
                let code = match e.status() {
                    StatusCode::UNAUTHORIZED => IssueCode::Login,
                    StatusCode::FORBIDDEN => IssueCode::Forbidden,
                    _ => IssueCode::Transient,
                };
                one(code, e.to_string())
            }
            FhirError::NotFound(d) => one(IssueCode::NotFound, d.clone()),
            FhirError::Gone(d) => one(IssueCode::Deleted, d.clone()),
            FhirError::NotAllowed(d) => one(IssueCode::NotSupported, d.clone()),
            FhirError::Media(_, d) => one(IssueCode::NotSupported, d.clone()),
            FhirError::Conflict(_, d) => one(IssueCode::Conflict, d.clone()),
            FhirError::Store(e) => {
                tracing::error!(error = %e, "storage error");
                one(IssueCode::Exception, "the store failed; nothing was changed".into())
            }
        }
    }
}

impl IntoResponse for FhirError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut resp =
            (status, [(header::CONTENT_TYPE, FHIR_JSON)], self.outcome().to_json().to_string()).into_response();
        if let FhirError::Access(ApiError::Unauthorized(detail)) = &self {
            let value = format!(
                "Bearer realm=\"kizuna\", error=\"invalid_token\", error_description=\"{}\"",
                detail.replace('"', "'")
            );
            if let Ok(v) = HeaderValue::from_str(&value) {
                resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
        }
        resp
    }
}

/// Shorthand for a 400.
pub fn bad(d: impl Into<String>) -> FhirError {
    FhirError::BadRequest(d.into())
}
