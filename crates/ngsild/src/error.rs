//! The NGSI-LD error kinds (ETSI GS CIM 009 §5.5.2, table 5.5.2-1) as a domain error.
//!
//! The HTTP layer maps each [`ErrorKind`] to a status code and a ProblemDetails body
//! with an exhaustive `match`; nothing here knows about HTTP.

use std::fmt;

/// One of the error types the specification defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is malformed (syntax, unknown parameter combination).
    InvalidRequest,
    /// The request is well-formed but its data is not acceptable.
    BadRequestData,
    /// The entity (or subscription, ...) to create exists already.
    AlreadyExists,
    /// The operation is not supported (e.g. a feature not implemented).
    OperationNotSupported,
    /// The resource named by the request does not exist.
    ResourceNotFound,
    /// Something went wrong inside the broker.
    InternalError,
    /// The query is too complex to answer.
    TooComplexQuery,
    /// The query would return too many results.
    TooManyResults,
    /// A JSON-LD `@context` could not be retrieved.
    LdContextNotAvailable,
    /// The tenant named in `NGSILD-Tenant` does not exist.
    NonexistentTenant,
}

impl ErrorKind {
    /// The error type URI that goes in the ProblemDetails `type` member.
    pub fn type_uri(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest => "https://uri.etsi.org/ngsi-ld/errors/InvalidRequest",
            ErrorKind::BadRequestData => "https://uri.etsi.org/ngsi-ld/errors/BadRequestData",
            ErrorKind::AlreadyExists => "https://uri.etsi.org/ngsi-ld/errors/AlreadyExists",
            ErrorKind::OperationNotSupported => "https://uri.etsi.org/ngsi-ld/errors/OperationNotSupported",
            ErrorKind::ResourceNotFound => "https://uri.etsi.org/ngsi-ld/errors/ResourceNotFound",
            ErrorKind::InternalError => "https://uri.etsi.org/ngsi-ld/errors/InternalError",
            ErrorKind::TooComplexQuery => "https://uri.etsi.org/ngsi-ld/errors/TooComplexQuery",
            ErrorKind::TooManyResults => "https://uri.etsi.org/ngsi-ld/errors/TooManyResults",
            ErrorKind::LdContextNotAvailable => "https://uri.etsi.org/ngsi-ld/errors/LdContextNotAvailable",
            ErrorKind::NonexistentTenant => "https://uri.etsi.org/ngsi-ld/errors/NonexistentTenant",
        }
    }

    /// A short human title for the kind.
    pub fn title(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest => "Invalid request",
            ErrorKind::BadRequestData => "Bad request data",
            ErrorKind::AlreadyExists => "Already exists",
            ErrorKind::OperationNotSupported => "Operation not supported",
            ErrorKind::ResourceNotFound => "Resource not found",
            ErrorKind::InternalError => "Internal error",
            ErrorKind::TooComplexQuery => "Too complex query",
            ErrorKind::TooManyResults => "Too many results",
            ErrorKind::LdContextNotAvailable => "JSON-LD @context not available",
            ErrorKind::NonexistentTenant => "Nonexistent tenant",
        }
    }
}

/// An NGSI-LD error: its kind and a precise detail naming what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NgsiError {
    /// Which error type.
    pub kind: ErrorKind,
    /// What exactly was wrong, for the ProblemDetails `detail` member.
    pub detail: String,
}

impl NgsiError {
    /// An error of `kind` with `detail`.
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        NgsiError { kind, detail: detail.into() }
    }
    /// `BadRequestData` with `detail`.
    pub fn bad_data(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequestData, detail)
    }
    /// `InvalidRequest` with `detail`.
    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidRequest, detail)
    }
    /// `ResourceNotFound` with `detail`.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::ResourceNotFound, detail)
    }
}

impl fmt::Display for NgsiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.title(), self.detail)
    }
}

impl std::error::Error for NgsiError {}
