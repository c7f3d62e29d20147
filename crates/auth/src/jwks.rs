//! Trusted issuers' public keys: converting a JWK Set (RFC 7517) into the keys tokens
//! are verified with, and loading one from a file or a URL.
//!
//! Only signature keys of the accepted algorithms are kept: RSA (≥ 2048 bits) for
//! RS256/RS384/RS512/PS256, EC P-256 for ES256, EC P-384 for ES384, OKP Ed25519 for
//! EdDSA. Symmetric (`oct`) keys, encryption keys (`use: enc`), keys whose `key_ops`
//! exclude `verify`, keys of other curves or algorithms, and keys that do not parse are
//! skipped; a set with no usable key is an error.

use std::path::Path;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, KeyOperations, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

use crate::error::AuthError;

/// The largest JWK Set read from a file or a URL.
pub const MAX_JWKS_BYTES: usize = 1 << 20;

/// How long fetching a JWK Set URL may take, connection to last byte.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// The family of a verification key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyType {
    Rsa,
    P256,
    P384,
    Ed25519,
}

impl KeyType {
    pub(crate) fn name(self) -> &'static str {
        match self {
            KeyType::Rsa => "RSA",
            KeyType::P256 => "EC P-256",
            KeyType::P384 => "EC P-384",
            KeyType::Ed25519 => "OKP Ed25519",
        }
    }

    /// Whether a token signed with `alg` can be verified with a key of this type.
    pub(crate) fn fits(self, alg: Algorithm) -> bool {
        match self {
            KeyType::Rsa => matches!(alg, Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512 | Algorithm::PS256),
            KeyType::P256 => alg == Algorithm::ES256,
            KeyType::P384 => alg == Algorithm::ES384,
            KeyType::Ed25519 => alg == Algorithm::EdDSA,
        }
    }
}

/// One usable public key of an issuer.
#[derive(Clone)]
pub(crate) struct VerifyKey {
    /// The JWK's `kid`.
    pub(crate) kid: Option<String>,
    pub(crate) ty: KeyType,
    /// The JWK's `alg`, if it pins one.
    pub(crate) alg: Option<Algorithm>,
    pub(crate) key: DecodingKey,
}

impl VerifyKey {
    /// Whether a token signed with `alg` may be verified with this key.
    pub(crate) fn fits(&self, alg: Algorithm) -> bool {
        self.ty.fits(alg) && self.alg.is_none_or(|a| a == alg)
    }
}

/// The usable keys of `set`; an error if there is none.
pub(crate) fn keys_from_set(set: &JwkSet) -> Result<Vec<VerifyKey>, AuthError> {
    let keys: Vec<VerifyKey> = set.keys.iter().filter_map(usable).collect();
    if keys.is_empty() {
        return Err(AuthError::Jwks(format!("none of its {} keys is a usable signature key", set.keys.len())));
    }
    Ok(keys)
}

/// The usable keys of a JWK Set document. Keys that do not even parse as JWKs (an
/// unknown `kty` or curve) are skipped like unusable ones.
pub(crate) fn keys_from_json(bytes: &[u8]) -> Result<Vec<VerifyKey>, AuthError> {
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| AuthError::Jwks(format!("not a JSON document: {e}")))?;
    let Some(list) = doc.get("keys").and_then(Value::as_array) else {
        return Err(AuthError::Jwks("not a JWK Set: no \"keys\" array".into()));
    };
    let keys: Vec<Jwk> = list.iter().filter_map(|k| serde_json::from_value(k.clone()).ok()).collect();
    let keys: Vec<VerifyKey> = keys.iter().filter_map(usable).collect();
    if keys.is_empty() {
        return Err(AuthError::Jwks(format!("none of its {} keys is a usable signature key", list.len())));
    }
    Ok(keys)
}

/// `jwk` as a verification key, or `None` if it is not a usable signature key.
fn usable(jwk: &Jwk) -> Option<VerifyKey> {
    let common = &jwk.common;
    if matches!(common.public_key_use, Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))) {
        return None;
    }
    if let Some(ops) = &common.key_operations {
        if !ops.iter().any(|op| matches!(op, KeyOperations::Verify)) {
            return None;
        }
    }
    let alg = match common.key_algorithm {
        None => None,
        Some(a) => Some(accepted_key_alg(a)?),
    };
    let (ty, key) = match &jwk.algorithm {
        AlgorithmParameters::RSA(p) => {
            let n = URL_SAFE_NO_PAD.decode(&p.n).ok()?;
            let significant = n.iter().skip_while(|b| **b == 0).count();
            if significant < 256 {
                return None; // under 2048 bits
            }
            (KeyType::Rsa, DecodingKey::from_rsa_components(&p.n, &p.e).ok()?)
        }
        AlgorithmParameters::EllipticCurve(p) => {
            let (ty, len) = match p.curve {
                EllipticCurve::P256 => (KeyType::P256, 32),
                EllipticCurve::P384 => (KeyType::P384, 48),
                _ => return None,
            };
            let x = URL_SAFE_NO_PAD.decode(&p.x).ok()?;
            let y = URL_SAFE_NO_PAD.decode(&p.y).ok()?;
            if x.len() != len || y.len() != len {
                return None;
            }
            (ty, DecodingKey::from_ec_components(&p.x, &p.y).ok()?)
        }
        AlgorithmParameters::OctetKeyPair(p) => {
            if p.curve != EllipticCurve::Ed25519 {
                return None;
            }
            let x = URL_SAFE_NO_PAD.decode(&p.x).ok()?;
            if x.len() != 32 {
                return None;
            }
            (KeyType::Ed25519, DecodingKey::from_ed_der(&x))
        }
        // Symmetric keys are never accepted: no algorithm confusion.
        AlgorithmParameters::OctetKey(_) => return None,
    };
    if alg.is_some_and(|a| !ty.fits(a)) {
        return None;
    }
    Some(VerifyKey { kid: common.key_id.clone(), ty, alg, key })
}

/// The JWK `alg` as an accepted signature algorithm, `None` for any other.
fn accepted_key_alg(a: KeyAlgorithm) -> Option<Algorithm> {
    Some(match a {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}

/// The bytes of a JWK Set file (at most [`MAX_JWKS_BYTES`]).
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, AuthError> {
    let err = |e: std::io::Error| AuthError::Jwks(format!("{}: {e}", path.display()));
    let len = std::fs::metadata(path).map_err(err)?.len();
    if len > MAX_JWKS_BYTES as u64 {
        return Err(AuthError::Jwks(format!("{}: larger than {MAX_JWKS_BYTES} bytes", path.display())));
    }
    std::fs::read(path).map_err(err)
}

/// The bytes of a JWK Set URL: `GET` with [`FETCH_TIMEOUT`], a 2xx status and at most
/// [`MAX_JWKS_BYTES`].
pub(crate) async fn fetch(url: &str) -> Result<Vec<u8>, AuthError> {
    let err = |what: &str, e: &dyn std::fmt::Display| AuthError::Jwks(format!("GET {url}: {what}{e}"));
    let client = reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .redirect(reqwest::redirect::Policy::limited(3))
        .build()
        .map_err(|e| err("", &e))?;
    let mut resp = client
        .get(url)
        .header(reqwest::header::ACCEPT, "application/jwk-set+json, application/json")
        .send()
        .await
        .map_err(|e| err("", &e))?;
    if !resp.status().is_success() {
        return Err(err("status ", &resp.status()));
    }
    if resp.content_length().is_some_and(|n| n > MAX_JWKS_BYTES as u64) {
        return Err(err("", &format!("larger than {MAX_JWKS_BYTES} bytes")));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| err("", &e))? {
        if body.len() + chunk.len() > MAX_JWKS_BYTES {
            return Err(err("", &format!("larger than {MAX_JWKS_BYTES} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    #[test]
    fn keeps_signature_keys_and_skips_the_rest() {
        let mut n = vec![0u8; 257];
        n[1] = 0xc1;
        let doc = json!({"keys": [
            {"kty": "oct", "k": b64(b"hmac secret"), "kid": "sym"},
            {"kty": "OKP", "crv": "Ed25519", "x": b64(&[7; 32]), "kid": "ed", "use": "sig"},
            {"kty": "OKP", "crv": "Ed25519", "x": b64(&[7; 32]), "kid": "enc", "use": "enc"},
            {"kty": "EC", "crv": "P-256", "x": b64(&[1; 32]), "y": b64(&[2; 32]), "kid": "p256", "alg": "ES256"},
            {"kty": "EC", "crv": "P-256", "x": b64(&[1; 32]), "y": b64(&[2; 32]), "kid": "mismatch", "alg": "ES384"},
            {"kty": "EC", "crv": "P-256", "x": b64(&[1; 31]), "y": b64(&[2; 32]), "kid": "short"},
            {"kty": "EC", "crv": "secp256k1", "x": b64(&[1; 32]), "y": b64(&[2; 32]), "kid": "k1"},
            {"kty": "RSA", "n": b64(&n), "e": "AQAB", "kid": "rsa", "key_ops": ["verify"]},
            {"kty": "RSA", "n": b64(&n[..200]), "e": "AQAB", "kid": "rsa-small"},
            {"kty": "RSA", "n": b64(&n), "e": "AQAB", "kid": "rsa-hs", "alg": "HS256"},
        ]});
        let keys = keys_from_json(doc.to_string().as_bytes()).unwrap();
        let kids: Vec<_> = keys.iter().map(|k| k.kid.as_deref().unwrap_or("")).collect();
        assert_eq!(kids, ["ed", "p256", "rsa"]);
        assert!(keys[0].fits(Algorithm::EdDSA) && !keys[0].fits(Algorithm::ES256));
        assert!(keys[1].fits(Algorithm::ES256) && !keys[1].fits(Algorithm::ES384));
        assert!(keys[2].fits(Algorithm::PS256) && !keys[2].fits(Algorithm::HS256));
    }

    #[test]
    fn a_set_without_usable_keys_is_an_error() {
        let doc = json!({"keys": [{"kty": "oct", "k": b64(b"secret")}]});
        let e = keys_from_json(doc.to_string().as_bytes()).err().unwrap();
        assert!(matches!(&e, AuthError::Jwks(m) if m.contains("none of its 1 keys")), "{e}");
        assert!(matches!(keys_from_json(b"{}"), Err(AuthError::Jwks(m)) if m.contains("no \"keys\"")));
        assert!(matches!(keys_from_json(b"nope"), Err(AuthError::Jwks(m)) if m.contains("not a JSON")));
        let set = JwkSet { keys: vec![] };
        assert!(keys_from_set(&set).is_err());
    }
}
