//! What can go wrong: [`AuthError`] when a request's credentials are refused (or cannot
//! be checked), [`IssueError`] when the built-in issuer or API-key generation fails.
//!
//! No message ever contains a token, an API key or a secret. Values taken from an
//! unverified token (an issuer, a key id, an algorithm name) are shown shortened and
//! escaped with [`clip`], so a caller cannot inject text into logs or responses.

use std::path::PathBuf;

use thiserror::Error;

/// Why a request's credentials were refused, or could not be checked.
///
/// Every variant is the caller's problem (HTTP 401) except [`AuthError::Jwks`], the
/// server's (HTTP 503): see [`AuthError::status_code`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuthError {
    /// The `Authorization` or `X-Api-Key` header cannot be read (what is wrong is named).
    #[error("malformed credentials header: {0}")]
    MalformedHeader(String),
    /// The bearer token is not a well-formed JWS compact serialization (what is wrong is named).
    #[error("malformed token: {0}")]
    MalformedToken(String),
    /// The token's `alg` is not accepted (`none`, every `HS*`, anything unknown), or does
    /// not fit the type of the key it names.
    #[error("token algorithm not accepted: {0}")]
    AlgorithmNotAllowed(String),
    /// No key of the issuer matches the token's `kid` (or the token has no `kid` and the
    /// issuer has several keys).
    #[error("{}", match kid {
        Some(kid) => format!("no key of the token's issuer has kid \"{}\"", clip(kid)),
        None => "the token has no kid and its issuer has more than one key (or none loaded)".to_string(),
    })]
    UnknownKey {
        /// The token's `kid`, if it had one (the message shows it shortened and escaped).
        kid: Option<String>,
    },
    /// The signature does not verify with the issuer's key.
    #[error("the token's signature is invalid")]
    BadSignature,
    /// The token's `iss` is not a trusted issuer (the value shortened and escaped with
    /// [`clip`]).
    #[error("the token's issuer \"{0}\" is not trusted")]
    UnknownIssuer(String),
    /// The token's `aud` does not name this service's audience for the issuer.
    #[error("the token is not meant for this service (wrong aud)")]
    WrongAudience,
    /// The token's `exp` is past (beyond the clock-skew leeway).
    #[error("the token has expired")]
    Expired,
    /// The token's `nbf` is in the future (beyond the clock-skew leeway).
    #[error("the token is not valid yet (nbf in the future)")]
    NotYetValid,
    /// A required claim is absent.
    #[error("the token has no {0} claim")]
    MissingClaim(&'static str),
    /// A claim is present but unusable.
    #[error("the token's {claim} claim is invalid: {reason}")]
    BadClaim {
        /// The claim's name.
        claim: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The API key is not known (no such id, or the secret does not match).
    #[error("unknown API key")]
    UnknownApiKey,
    /// The API key was revoked.
    #[error("the API key has been revoked")]
    RevokedApiKey,
    /// A trusted issuer's key set could not be loaded: the server cannot check tokens of
    /// that issuer now.
    #[error("the issuer's key set could not be loaded: {0}")]
    Jwks(String),
}

impl AuthError {
    /// The HTTP status to answer with: 401 for every refused credential, 503 for
    /// [`AuthError::Jwks`] (the keys could not be loaded; the client may retry).
    pub fn status_code(&self) -> u16 {
        match self {
            AuthError::Jwks(_) => 503,
            _ => 401,
        }
    }

    /// A short stable name of the variant (`malformed-header`, `expired`, ...), for
    /// problem-details `type`s, metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            AuthError::MalformedHeader(_) => "malformed-header",
            AuthError::MalformedToken(_) => "malformed-token",
            AuthError::AlgorithmNotAllowed(_) => "algorithm-not-allowed",
            AuthError::UnknownKey { .. } => "unknown-key",
            AuthError::BadSignature => "bad-signature",
            AuthError::UnknownIssuer(_) => "unknown-issuer",
            AuthError::WrongAudience => "wrong-audience",
            AuthError::Expired => "expired",
            AuthError::NotYetValid => "not-yet-valid",
            AuthError::MissingClaim(_) => "missing-claim",
            AuthError::BadClaim { .. } => "bad-claim",
            AuthError::UnknownApiKey => "unknown-api-key",
            AuthError::RevokedApiKey => "revoked-api-key",
            AuthError::Jwks(_) => "jwks-unavailable",
        }
    }
}

/// Why the built-in issuer could not be loaded or could not issue, or an API key could
/// not be generated. Messages name files, never key material.
#[derive(Debug, Error)]
pub enum IssueError {
    /// Reading or writing the key file (or its directory) failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The key file exists but does not hold a PKCS#8 Ed25519 private key.
    #[error("{}: not a PKCS#8 Ed25519 private key ({reason})", path.display())]
    BadKeyFile {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The system's random number generator failed.
    #[error("the system random number generator failed")]
    Random,
    /// The request cannot be turned into a credential (what is wrong is named).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// Signing the token failed.
    #[error("signing failed: {0}")]
    Sign(String),
}

/// `s` as it may appear in an error message: at most 64 characters (then `…`), control
/// and non-ASCII characters escaped, so a value from an unverified token cannot inject
/// text into logs or responses.
pub fn clip(s: &str) -> String {
    const MAX: usize = 64;
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == MAX {
            out.push('…');
            break;
        }
        if c.is_ascii_graphic() || c == ' ' {
            out.push(c);
        } else {
            out.extend(c.escape_default());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_escapes_and_shortens() {
        assert_eq!(clip("abc"), "abc");
        assert_eq!(clip("a\nb"), "a\\nb");
        let long = "x".repeat(200);
        let s = clip(&long);
        assert!(s.len() < 80 && s.contains('…'));
    }

    #[test]
    fn statuses() {
        assert_eq!(AuthError::Expired.status_code(), 401);
        assert_eq!(AuthError::UnknownApiKey.status_code(), 401);
        assert_eq!(AuthError::Jwks("down".into()).status_code(), 503);
        assert_eq!(AuthError::UnknownKey { kid: None }.kind(), "unknown-key");
    }
}
