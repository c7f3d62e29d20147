//! Reading the credentials a request presents: [`credentials`] → [`Credentials`].
//!
//! Accepted: `Authorization: Bearer <jwt>` (the scheme case-insensitive, RFC 7235) or
//! `X-Api-Key: <key>`, at most one of them, each at most once.

use std::fmt;

use http::header::AUTHORIZATION;
use http::HeaderMap;

use crate::error::{clip, AuthError};

/// The name of the API-key header.
pub const API_KEY_HEADER: &str = "x-api-key";

/// The credentials a request presents. `Debug` never prints the secret.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// No credentials: the caller is anonymous.
    None,
    /// A bearer token (`Authorization: Bearer <token>`).
    Bearer(String),
    /// An API key (`X-Api-Key: <key>`).
    ApiKey(String),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::None => f.write_str("None"),
            Credentials::Bearer(t) => write!(f, "Bearer(<{} bytes redacted>)", t.len()),
            Credentials::ApiKey(k) => write!(f, "ApiKey(<{} bytes redacted>)", k.len()),
        }
    }
}

/// The credentials in `headers`. Refused with [`AuthError::MalformedHeader`], naming the
/// problem: both headers present, a header repeated, a value that is not visible ASCII,
/// an `Authorization` scheme other than `Bearer` (e.g. `Basic`), an empty token or key,
/// whitespace inside one.
pub fn credentials(headers: &HeaderMap) -> Result<Credentials, AuthError> {
    let auth = single(headers, AUTHORIZATION.as_str(), "Authorization")?;
    let key = single(headers, API_KEY_HEADER, "X-Api-Key")?;
    match (auth, key) {
        (Some(_), Some(_)) => Err(malformed("both Authorization and X-Api-Key are present: send one credential")),
        (None, None) => Ok(Credentials::None),
        (Some(auth), None) => bearer(auth).map(Credentials::Bearer),
        (None, Some(key)) => {
            let key = key.trim();
            if key.is_empty() {
                Err(malformed("X-Api-Key is empty"))
            } else if key.chars().any(|c| c.is_ascii_whitespace()) {
                Err(malformed("X-Api-Key contains whitespace"))
            } else {
                Ok(Credentials::ApiKey(key.to_string()))
            }
        }
    }
}

fn malformed(msg: &str) -> AuthError {
    AuthError::MalformedHeader(msg.to_string())
}

/// The value of header `name` if present once, as visible ASCII.
fn single<'a>(headers: &'a HeaderMap, name: &str, shown: &str) -> Result<Option<&'a str>, AuthError> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(AuthError::MalformedHeader(format!("more than one {shown} header")));
    }
    value.to_str().map(Some).map_err(|_| AuthError::MalformedHeader(format!("{shown} is not visible ASCII")))
}

fn bearer(value: &str) -> Result<String, AuthError> {
    let value = value.trim();
    let (scheme, rest) = match value.split_once([' ', '\t']) {
        Some((scheme, rest)) => (scheme, rest.trim()),
        None => (value, ""),
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        // Echo the scheme only when it looks like one: a bare token must not be shown.
        let looks_like_scheme =
            !scheme.is_empty() && scheme.len() <= 20 && scheme.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        return Err(if looks_like_scheme && !rest.is_empty() {
            AuthError::MalformedHeader(format!(
                "the Authorization scheme \"{}\" is not supported: use Bearer",
                clip(scheme)
            ))
        } else {
            malformed("Authorization is not of the form \"Bearer <token>\"")
        });
    }
    if rest.is_empty() {
        return Err(malformed("the bearer token is empty"));
    }
    if rest.chars().any(|c| c.is_ascii_whitespace()) {
        return Err(malformed("the bearer token contains whitespace"));
    }
    Ok(rest.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &[u8])]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            if let Ok(v) = HeaderValue::from_bytes(value) {
                h.append(*name, v);
            }
        }
        h
    }

    fn err(pairs: &[(&'static str, &[u8])]) -> String {
        match credentials(&headers(pairs)) {
            Err(AuthError::MalformedHeader(m)) => m,
            other => panic!("expected MalformedHeader, got {other:?}"),
        }
    }

    #[test]
    fn none_bearer_and_api_key() {
        assert_eq!(credentials(&HeaderMap::new()), Ok(Credentials::None));
        for v in ["Bearer abc.def.ghi", "bearer abc.def.ghi", "BEARER   abc.def.ghi  "] {
            assert_eq!(
                credentials(&headers(&[("authorization", v.as_bytes())])),
                Ok(Credentials::Bearer("abc.def.ghi".into()))
            );
        }
        assert_eq!(
            credentials(&headers(&[("x-api-key", b"kzn_0123456789ab_secret")])),
            Ok(Credentials::ApiKey("kzn_0123456789ab_secret".into()))
        );
    }

    #[test]
    fn malformed_headers_name_the_problem_without_the_secret() {
        assert!(err(&[("authorization", b"Bearer a.b.c"), ("x-api-key", b"k")]).contains("both"));
        let m = err(&[("authorization", b"Basic dXNlcjpwYXNzd29yZA==")]);
        assert!(m.contains("\"Basic\" is not supported") && !m.contains("dXNlcjpw"), "{m}");
        let m = err(&[("authorization", b"eyJhbGciOiJFUzI1NiJ9.e30.sig")]);
        assert!(m.contains("not of the form") && !m.contains("eyJ"), "{m}");
        assert!(err(&[("authorization", b"Bearer")]).contains("empty"));
        assert!(err(&[("authorization", b"Bearer   ")]).contains("empty"));
        assert!(err(&[("authorization", b"Bearer a.b.c d")]).contains("whitespace"));
        assert!(err(&[("authorization", "Bearer tök".as_bytes())]).contains("not visible ASCII"));
        assert!(
            err(&[("authorization", b"Bearer a.b.c"), ("authorization", b"Bearer d.e.f")]).contains("more than one")
        );
        assert!(err(&[("x-api-key", b"  ")]).contains("empty"));
        assert!(err(&[("x-api-key", "kzn_ü".as_bytes())]).contains("X-Api-Key is not visible ASCII"));
    }

    #[test]
    fn debug_redacts() {
        let c = Credentials::Bearer("secret-token".into());
        assert!(!format!("{c:?}").contains("secret"));
        let c = Credentials::ApiKey("kzn_x_secret".into());
        assert!(!format!("{c:?}").contains("secret"));
    }
}
