//! Verifying bearer tokens: [`Verifier`] over a list of [`TrustedIssuer`]s.
//!
//! # How a token is checked
//! 1. The token must be a JWS compact serialization (three base64url parts, at most
//!    [`MAX_TOKEN_BYTES`]); its header is read first. `alg: none` and every `HS*`
//!    algorithm are refused ([`AuthError::AlgorithmNotAllowed`]): symmetric keys are never
//!    accepted, so a public key can never be misused as an HMAC secret (algorithm
//!    confusion). Accepted: [`ACCEPTED_ALGORITHMS`]. A `crit` header is refused.
//! 2. The **unverified** `iss` only selects the issuer's key set
//!    ([`AuthError::UnknownIssuer`] if it is not trusted).
//! 3. The key is chosen by `kid`; a token without `kid` uses the issuer's key if it has
//!    exactly one. The algorithm must fit the key's type (RSA: RS*/PS256, P-256: ES256,
//!    P-384: ES384, Ed25519: EdDSA) and the JWK's `alg` if it pins one.
//! 4. `jsonwebtoken` verifies the signature, then `iss`, `aud` (the issuer's configured
//!    audience), `exp` (required) and `nbf` (if present), with a clock-skew leeway of
//!    [`LEEWAY_SECS`] seconds each way.
//! 5. The claims are mapped to an [`Identity`] (the contract is in the crate docs).
//!
//! # Key loading and rotation
//! Inline key sets ([`KeySource::Jwks`]) are usable at once. Files and URLs are read by
//! [`Verifier::load`] (call it at start-up; an issuer whose keys are not loaded yet
//! answers [`AuthError::UnknownKey`]). When an issuer rotates its keys, tokens with a new
//! `kid` fail with `UnknownKey`; [`Verifier::verify_refreshing`] then reloads that
//! issuer's keys and tries again — at most once per refresh interval per issuer
//! ([`DEFAULT_REFRESH_INTERVAL`], 60 s), so random `kid`s cannot make the server hammer
//! the identity provider. Keys are held behind an `RwLock`: verifying takes a read
//! lock, no lock is held while loading.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{PoisonError, RwLock};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, Validation};
use kizuna_consent::{Purpose, Role};
use serde_json::{Map, Value};

use crate::error::{clip, AuthError};
use crate::identity::{Identity, Via};
use crate::jwks::{self, VerifyKey};

/// Clock-skew leeway for `exp` and `nbf`, in seconds: a token is accepted until 30 s
/// after its `exp` and from 30 s before its `nbf`.
pub const LEEWAY_SECS: u64 = 30;

/// The longest token accepted, in bytes.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// The least time between two reloads of one issuer's keys by
/// [`Verifier::verify_refreshing`].
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(60);

/// The signature algorithms accepted in a token's `alg`.
pub const ACCEPTED_ALGORITHMS: &[&str] = &["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"];

/// An identity provider whose tokens are accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedIssuer {
    /// The exact `iss` of its tokens.
    pub issuer: String,
    /// The `aud` its tokens must carry to be accepted here.
    pub audience: String,
    /// Where its public keys are.
    pub keys: KeySource,
}

/// Where an issuer's public keys (a JWK Set) come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A key set given inline (e.g. read from configuration, or the built-in issuer's).
    Jwks(JwkSet),
    /// A JWK Set file, read by [`Verifier::load`].
    JwksFile(PathBuf),
    /// A JWK Set URL (the issuer's `jwks_uri`), fetched by [`Verifier::load`] with a 5 s
    /// timeout and a 1 MiB limit. Use `https` outside development.
    JwksUrl(String),
}

struct IssuerState {
    audience: String,
    source: KeySource,
    keys: Vec<VerifyKey>,
    /// When a load of a file or URL source last started.
    last_attempt: Option<Instant>,
}

/// Checks bearer tokens of trusted issuers (see the module docs for the rules).
pub struct Verifier {
    issuers: RwLock<HashMap<String, IssuerState>>,
    refresh_interval: Duration,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let issuers = self.issuers.read().unwrap_or_else(PoisonError::into_inner);
        let mut m = f.debug_map();
        for (iss, st) in issuers.iter() {
            m.entry(iss, &format_args!("aud {:?}, {} keys", st.audience, st.keys.len()));
        }
        m.finish()
    }
}

impl Verifier {
    /// A verifier trusting `issuers`. Inline key sets are converted at once (an error if
    /// one has no usable signature key); files and URLs wait for [`Verifier::load`]. Of
    /// two entries with the same `issuer`, the later wins.
    pub fn new(issuers: Vec<TrustedIssuer>) -> Result<Verifier, AuthError> {
        let v = Verifier { issuers: RwLock::new(HashMap::new()), refresh_interval: DEFAULT_REFRESH_INTERVAL };
        for i in issuers {
            v.add_issuer(i)?;
        }
        Ok(v)
    }

    /// The same verifier with another least time between two key reloads of an issuer
    /// by [`Verifier::verify_refreshing`] (default [`DEFAULT_REFRESH_INTERVAL`]).
    pub fn with_refresh_interval(mut self, interval: Duration) -> Verifier {
        self.refresh_interval = interval;
        self
    }

    /// Trusts one more issuer, replacing any with the same `issuer`. An inline key set is
    /// usable at once; a file or URL after the next [`Verifier::load`] (or the first
    /// [`Verifier::verify_refreshing`] of one of its tokens).
    pub fn add_issuer(&self, issuer: TrustedIssuer) -> Result<(), AuthError> {
        let keys = match &issuer.keys {
            KeySource::Jwks(set) => {
                jwks::keys_from_set(set).map_err(|e| AuthError::Jwks(format!("issuer {}: {e}", issuer.issuer)))?
            }
            KeySource::JwksFile(_) | KeySource::JwksUrl(_) => Vec::new(),
        };
        let state = IssuerState { audience: issuer.audience, source: issuer.keys, keys, last_attempt: None };
        self.write().insert(issuer.issuer, state);
        Ok(())
    }

    /// The trusted issuers' names.
    pub fn issuers(&self) -> Vec<String> {
        let mut v: Vec<String> = self.read().keys().cloned().collect();
        v.sort();
        v
    }

    /// Loads (again) the keys of every issuer whose keys are in a file or at a URL. Every
    /// issuer is tried; the first failure is returned, and an issuer that failed keeps
    /// the keys it had.
    pub async fn load(&self) -> Result<(), AuthError> {
        let now = Instant::now();
        let sources: Vec<(String, KeySource)> = {
            let mut issuers = self.write();
            issuers
                .iter_mut()
                .filter(|(_, st)| !matches!(st.source, KeySource::Jwks(_)))
                .map(|(iss, st)| {
                    st.last_attempt = Some(now);
                    (iss.clone(), st.source.clone())
                })
                .collect()
        };
        let mut first_error = None;
        for (iss, source) in sources {
            if let Err(e) = self.reload(&iss, &source).await {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    async fn reload(&self, iss: &str, source: &KeySource) -> Result<(), AuthError> {
        let keys = match source {
            KeySource::Jwks(set) => jwks::keys_from_set(set),
            KeySource::JwksFile(path) => jwks::read_file(path).and_then(|b| jwks::keys_from_json(&b)),
            KeySource::JwksUrl(url) => match jwks::fetch(url).await {
                Ok(b) => jwks::keys_from_json(&b),
                Err(e) => Err(e),
            },
        }
        .map_err(|e| match e {
            AuthError::Jwks(m) => AuthError::Jwks(format!("issuer {iss}: {m}")),
            other => other,
        })?;
        let mut issuers = self.write();
        // Install only if the issuer was not replaced meanwhile.
        if let Some(st) = issuers.get_mut(iss).filter(|st| st.source == *source) {
            st.keys = keys;
        }
        Ok(())
    }

    /// The identity a token establishes, with the keys loaded now. Errors name what is
    /// wrong and never contain the token.
    pub fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        let unverified = parse_unverified(token)?;
        let claims = {
            let issuers = self.read();
            let st = issuers.get(&unverified.iss).ok_or_else(|| AuthError::UnknownIssuer(clip(&unverified.iss)))?;
            let key = select_key(&st.keys, unverified.kid.as_deref(), unverified.alg)?;
            let mut validation = Validation::new(unverified.alg);
            validation.leeway = LEEWAY_SECS;
            validation.validate_nbf = true;
            validation.validate_aud = true;
            validation.set_audience(&[&st.audience]);
            validation.set_issuer(&[&unverified.iss]);
            validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
            jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation)
                .map_err(|e| map_error(&e, &unverified))?
                .claims
        };
        identity_from_claims(&claims, unverified.iss)
    }

    /// [`Verifier::verify`], and if the token's key is unknown (a rotated key, or keys
    /// not loaded yet), reload its issuer's keys — unless they were (re)loaded less than
    /// the refresh interval ago — and verify again. A failed reload is
    /// [`AuthError::Jwks`].
    pub async fn verify_refreshing(&self, token: &str) -> Result<Identity, AuthError> {
        let unknown = match self.verify(token) {
            Err(e @ AuthError::UnknownKey { .. }) => e,
            other => return other,
        };
        let Ok(unverified) = parse_unverified(token) else { return Err(unknown) };
        let Some(source) = self.claim_refresh(&unverified.iss) else { return Err(unknown) };
        self.reload(&unverified.iss, &source).await?;
        self.verify(token)
    }

    /// The issuer's key source if a refresh is due now (recording the attempt).
    fn claim_refresh(&self, iss: &str) -> Option<KeySource> {
        let mut issuers = self.write();
        let st = issuers.get_mut(iss)?;
        if matches!(st.source, KeySource::Jwks(_)) {
            return None;
        }
        let now = Instant::now();
        if st.last_attempt.is_some_and(|t| now.duration_since(t) < self.refresh_interval) {
            return None;
        }
        st.last_attempt = Some(now);
        Some(st.source.clone())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, IssuerState>> {
        self.issuers.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, IssuerState>> {
        self.issuers.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What is read from a token before its signature is checked.
struct Unverified {
    alg: Algorithm,
    kid: Option<String>,
    iss: String,
    claims: Map<String, Value>,
}

fn malformed(msg: impl Into<String>) -> AuthError {
    AuthError::MalformedToken(msg.into())
}

fn parse_unverified(token: &str) -> Result<Unverified, AuthError> {
    if token.is_empty() {
        return Err(malformed("the token is empty"));
    }
    if token.len() > MAX_TOKEN_BYTES {
        return Err(malformed(format!("the token is longer than {MAX_TOKEN_BYTES} bytes")));
    }
    let parts: Vec<&str> = token.split('.').collect();
    match parts.len() {
        3 => {}
        5 => return Err(malformed("an encrypted token (JWE) is not accepted; send a signed JWT")),
        n => return Err(malformed(format!("{n} dot-separated parts; a signed JWT has 3"))),
    }
    if !token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.') {
        return Err(malformed("the token has characters outside base64url"));
    }
    let header = json_part(parts[0], "header")?;
    let alg = match header.get("alg") {
        None | Some(Value::Null) => return Err(malformed("the header has no alg")),
        Some(Value::String(s)) => accepted_alg(s)?,
        Some(_) => return Err(malformed("the header's alg is not a string")),
    };
    let kid = match header.get("kid") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(malformed("the header's kid is not a string")),
    };
    if header.contains_key("crit") {
        return Err(malformed("the header has crit extensions; none are supported"));
    }
    let claims = json_part(parts[1], "payload")?;
    if parts[2].is_empty() {
        return Err(malformed("the token has no signature"));
    }
    if URL_SAFE_NO_PAD.decode(parts[2]).is_err() {
        return Err(malformed("the signature is not base64url"));
    }
    let iss = match claims.get("iss") {
        None | Some(Value::Null) => return Err(AuthError::MissingClaim("iss")),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(AuthError::BadClaim { claim: "iss", reason: "must be a string".into() }),
    };
    Ok(Unverified { alg, kid, iss, claims })
}

fn json_part(part: &str, name: &str) -> Result<Map<String, Value>, AuthError> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| malformed(format!("the {name} is not base64url")))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(malformed(format!("the {name} is not a JSON object"))),
    }
}

fn accepted_alg(name: &str) -> Result<Algorithm, AuthError> {
    Ok(match name {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        _ if name.eq_ignore_ascii_case("none") => return Err(AuthError::AlgorithmNotAllowed("none".into())),
        _ => return Err(AuthError::AlgorithmNotAllowed(clip(name))),
    })
}

fn select_key<'a>(keys: &'a [VerifyKey], kid: Option<&str>, alg: Algorithm) -> Result<&'a VerifyKey, AuthError> {
    let candidates: Vec<&VerifyKey> = match kid {
        Some(kid) => keys.iter().filter(|k| k.kid.as_deref() == Some(kid)).collect(),
        None if keys.len() == 1 => keys.iter().collect(),
        None => Vec::new(),
    };
    let Some(first) = candidates.first() else {
        return Err(AuthError::UnknownKey { kid: kid.map(str::to_string) });
    };
    match candidates.iter().find(|k| k.fits(alg)) {
        Some(k) => Ok(k),
        None => Err(AuthError::AlgorithmNotAllowed(format!("{alg:?} with the issuer's {} key", first.ty.name()))),
    }
}

fn map_error(e: &jsonwebtoken::errors::Error, token: &Unverified) -> AuthError {
    match e.kind() {
        ErrorKind::InvalidSignature => AuthError::BadSignature,
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        ErrorKind::InvalidAudience => AuthError::WrongAudience,
        ErrorKind::InvalidIssuer => AuthError::UnknownIssuer(clip(&token.iss)),
        ErrorKind::MissingRequiredClaim(name) => {
            // The signature was verified before the claims were looked at: reading the
            // payload now is safe.
            let (claim, expected): (&'static str, &str) = match name.as_str() {
                "exp" => ("exp", "must be a number (seconds since the epoch)"),
                "aud" => ("aud", "must be a string or an array of strings"),
                "iss" => ("iss", "must be a string"),
                "nbf" => ("nbf", "must be a number (seconds since the epoch)"),
                _ => ("sub", "must be a string"),
            };
            match token.claims.get(claim) {
                None | Some(Value::Null) => AuthError::MissingClaim(claim),
                Some(_) => AuthError::BadClaim { claim, reason: expected.into() },
            }
        }
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm | ErrorKind::InvalidAlgorithmName => {
            AuthError::AlgorithmNotAllowed(format!("{:?}", token.alg))
        }
        ErrorKind::InvalidEcdsaKey | ErrorKind::InvalidRsaKey(_) | ErrorKind::InvalidKeyFormat => {
            AuthError::Jwks("the issuer's key is unusable".into())
        }
        ErrorKind::Crypto(_) => AuthError::BadSignature,
        ErrorKind::Json(_) | ErrorKind::Utf8(_) | ErrorKind::Base64(_) | ErrorKind::InvalidToken => {
            malformed("the token could not be decoded")
        }
        _ => malformed("the token could not be verified"),
    }
}

fn identity_from_claims(claims: &Map<String, Value>, issuer: String) -> Result<Identity, AuthError> {
    let sub = required_str(claims, "sub")?;
    if sub.is_empty() {
        return Err(AuthError::BadClaim { claim: "sub", reason: "must not be empty".into() });
    }
    let tenant = required_str(claims, "tenant")?;
    let role = match required_str(claims, "role")? {
        "tenant-admin" => Role::TenantAdmin,
        "data-holder" => Role::DataHolder,
        "service-provider" => Role::ServiceProvider,
        "citizen" => Role::Citizen,
        "anonymous" => {
            return Err(AuthError::BadClaim {
                claim: "role",
                reason: "anonymous is not a token role (send no credentials instead)".into(),
            })
        }
        other => {
            return Err(AuthError::BadClaim {
                claim: "role",
                reason: format!(
                    "unknown role \"{}\" (expected tenant-admin, data-holder, service-provider or citizen)",
                    clip(other)
                ),
            })
        }
    };
    for claim in ["nbf", "iat"] {
        if claims.get(claim).is_some_and(|v| !v.is_null() && !v.is_number()) {
            return Err(AuthError::BadClaim { claim, reason: "must be a number (seconds since the epoch)".into() });
        }
    }
    let party = optional_str(claims, "party")?.unwrap_or(sub);
    let subject = match role {
        Role::Citizen => Some(optional_str(claims, "subject")?.unwrap_or(sub).to_string()),
        _ => None,
    };
    let purpose = optional_str(claims, "purpose")?.map(Purpose::new);
    Ok(Identity {
        tenant: tenant.to_string(),
        party: Some(party.to_string()),
        role,
        subject,
        purpose,
        via: Via::Token { issuer },
    })
}

fn required_str<'a>(claims: &'a Map<String, Value>, claim: &'static str) -> Result<&'a str, AuthError> {
    match claims.get(claim) {
        None | Some(Value::Null) => Err(AuthError::MissingClaim(claim)),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(AuthError::BadClaim { claim, reason: "must be a string".into() }),
    }
}

/// An optional, non-empty string claim.
fn optional_str<'a>(claims: &'a Map<String, Value>, claim: &'static str) -> Result<Option<&'a str>, AuthError> {
    match claims.get(claim) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => {
            Err(AuthError::BadClaim { claim, reason: "must not be empty".into() })
        }
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(AuthError::BadClaim { claim, reason: "must be a string".into() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    fn part(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(v.to_string())
    }

    #[test]
    fn claims_map_to_identities() {
        let id = identity_from_claims(
            &claims(json!({"sub": "urn:party:clinic", "tenant": "maebashi", "role": "data-holder", "purpose": "healthcare"})),
            "idp".into(),
        )
        .unwrap();
        assert_eq!(id.party.as_deref(), Some("urn:party:clinic"));
        assert_eq!((id.role, id.subject, id.purpose), (Role::DataHolder, None, Some(Purpose::new("healthcare"))));
        assert_eq!(id.via, Via::Token { issuer: "idp".into() });

        let id = identity_from_claims(
            &claims(json!({"sub": "urn:person:1", "tenant": "", "role": "citizen"})),
            "idp".into(),
        )
        .unwrap();
        assert_eq!((id.tenant.as_str(), id.subject.as_deref()), ("", Some("urn:person:1")));

        // subject is ignored for other roles; party overrides sub.
        let id = identity_from_claims(
            &claims(json!({"sub": "u", "tenant": "t", "role": "tenant-admin", "party": "urn:city", "subject": "x"})),
            "idp".into(),
        )
        .unwrap();
        assert_eq!((id.party.as_deref(), id.subject), (Some("urn:city"), None));
    }

    #[test]
    fn bad_claims_are_named() {
        let e = |v: Value| identity_from_claims(&claims(v), "i".into()).unwrap_err();
        assert_eq!(e(json!({"tenant": "t", "role": "citizen"})), AuthError::MissingClaim("sub"));
        assert_eq!(e(json!({"sub": "s", "role": "citizen"})), AuthError::MissingClaim("tenant"));
        assert_eq!(e(json!({"sub": "s", "tenant": "t"})), AuthError::MissingClaim("role"));
        assert!(matches!(
            e(json!({"sub": "s", "tenant": 1, "role": "citizen"})),
            AuthError::BadClaim { claim: "tenant", .. }
        ));
        assert!(
            matches!(e(json!({"sub": "s", "tenant": "t", "role": "anonymous"})), AuthError::BadClaim { claim: "role", reason } if reason.contains("anonymous"))
        );
        assert!(
            matches!(e(json!({"sub": "s", "tenant": "t", "role": "root"})), AuthError::BadClaim { claim: "role", reason } if reason.contains("\"root\""))
        );
        assert!(matches!(
            e(json!({"sub": "s", "tenant": "t", "role": "citizen", "purpose": ""})),
            AuthError::BadClaim { claim: "purpose", .. }
        ));
        assert!(matches!(
            e(json!({"sub": "s", "tenant": "t", "role": "citizen", "iat": "now"})),
            AuthError::BadClaim { claim: "iat", .. }
        ));
        assert!(matches!(
            e(json!({"sub": "", "tenant": "t", "role": "citizen"})),
            AuthError::BadClaim { claim: "sub", .. }
        ));
    }

    #[test]
    fn header_rules() {
        let payload = part(&json!({"iss": "i"}));
        let tok = |h: Value| format!("{}.{payload}.c2ln", part(&h));
        let err = |t: &str| parse_unverified(t).err().unwrap();
        assert_eq!(err(&tok(json!({"alg": "none"}))), AuthError::AlgorithmNotAllowed("none".into()));
        assert_eq!(err(&tok(json!({"alg": "NONE"}))), AuthError::AlgorithmNotAllowed("none".into()));
        for hs in ["HS256", "HS384", "HS512"] {
            assert_eq!(err(&tok(json!({"alg": hs}))), AuthError::AlgorithmNotAllowed(hs.into()));
        }
        assert_eq!(err(&tok(json!({"alg": "PS512"}))), AuthError::AlgorithmNotAllowed("PS512".into()));
        assert!(matches!(err(&tok(json!({"typ": "JWT"}))), AuthError::MalformedToken(m) if m.contains("no alg")));
        assert!(
            matches!(err(&tok(json!({"alg": "ES256", "crit": ["b64"]}))), AuthError::MalformedToken(m) if m.contains("crit"))
        );
        assert!(
            matches!(err(&tok(json!({"alg": "ES256", "kid": 3}))), AuthError::MalformedToken(m) if m.contains("kid"))
        );
        assert!(matches!(err("a.b.c.d.e"), AuthError::MalformedToken(m) if m.contains("JWE")));
        assert!(matches!(err("abc"), AuthError::MalformedToken(m) if m.contains("1 dot-separated")));
        assert!(matches!(err(""), AuthError::MalformedToken(m) if m.contains("empty")));
        let ok = parse_unverified(&tok(json!({"alg": "EdDSA", "kid": "k"}))).unwrap();
        assert_eq!((ok.alg, ok.kid.as_deref(), ok.iss.as_str()), (Algorithm::EdDSA, Some("k"), "i"));
        let no_iss = format!("{}.{}.c2ln", part(&json!({"alg": "EdDSA"})), part(&json!({"sub": "s"})));
        assert_eq!(err(&no_iss), AuthError::MissingClaim("iss"));
    }
}
