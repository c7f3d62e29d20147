//! The built-in token issuer, for development and the README demo: an Ed25519 key kept
//! in the data directory, tokens signed with it, and its JWK Set so that a [`Verifier`]
//! can trust it.
//!
//! The key is stored as PKCS#8 DER in `<data_dir>/keys/issuer-ed25519.pk8`, created
//! with mode 0600 (its directory 0700) on unix and reused on every start. It is never
//! logged or shown: `Debug` prints only the key id and path.
//!
//! [`Verifier`]: crate::Verifier

use std::fmt;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, OctetKeyPairParameters,
    OctetKeyPairType, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use kizuna_consent::Role;
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair as _};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::error::IssueError;
use crate::jwt::{KeySource, TrustedIssuer};

/// The built-in issuer's `iss`.
pub const BUILTIN_ISSUER: &str = "kizuna-builtin";

/// The `aud` of the built-in issuer's tokens.
pub const BUILTIN_AUDIENCE: &str = "kizuna";

/// The key file's path relative to the data directory.
pub const KEY_FILE: &str = "keys/issuer-ed25519.pk8";

/// What a token issued by [`BuiltinIssuer::issue`] says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// The tenant (`""` is the default tenant).
    pub tenant: String,
    /// The party (a URN). Required for every role but citizen; becomes `sub`.
    pub party: Option<String>,
    /// The role; not [`Role::Anonymous`].
    pub role: Role,
    /// For citizens: the person's URN (required); becomes `sub`. Ignored for other roles.
    pub subject: Option<String>,
    /// The default purpose of use, if any.
    pub purpose: Option<String>,
    /// How long the token is valid (more than zero).
    pub ttl: Duration,
}

/// The built-in issuer: signs tokens with its Ed25519 key.
pub struct BuiltinIssuer {
    key: EncodingKey,
    public: Vec<u8>,
    kid: String,
    path: Option<PathBuf>,
}

impl fmt::Debug for BuiltinIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BuiltinIssuer").field("kid", &self.kid).field("path", &self.path).finish_non_exhaustive()
    }
}

impl BuiltinIssuer {
    /// The issuer whose key is in `<data_dir>/keys/issuer-ed25519.pk8`, creating the key
    /// (and the directories) if there is none. Safe against a concurrent start: the file
    /// appears complete or not at all, and the first writer's key wins.
    pub fn load_or_create(data_dir: &Path) -> Result<BuiltinIssuer, IssueError> {
        let path = data_dir.join(KEY_FILE);
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_else(|| data_dir.to_path_buf());
        match read_key(&path) {
            Ok(issuer) => return Ok(issuer),
            Err(IssueError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        create_dir(&dir)?;
        let pkcs8 = generate()?;
        let tmp = dir.join(format!(".issuer-ed25519.pk8.{}.tmp", std::process::id()));
        write_private(&tmp, &pkcs8)?;
        let linked = fs::hard_link(&tmp, &path);
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => {}
            // Another process created it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(_) => {
                // A filesystem without hard links: write in place (exclusive create).
                write_private(&path, &pkcs8)?;
            }
        }
        read_key(&path)
    }

    /// An issuer with a fresh key kept only in memory (tests, throw-away servers).
    pub fn ephemeral() -> Result<BuiltinIssuer, IssueError> {
        let pkcs8 = generate()?;
        from_pkcs8(&pkcs8, None).map_err(IssueError::Invalid)
    }

    /// The key id: the RFC 7638 JWK thumbprint (SHA-256, base64url) of the public key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The key file, `None` for an [`BuiltinIssuer::ephemeral`] issuer.
    pub fn key_path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// A token for `req`, issued now.
    pub fn issue(&self, req: &TokenRequest) -> Result<String, IssueError> {
        self.issue_at(req, Utc::now())
    }

    /// A token for `req` as if issued at `now` (`iat` = `nbf` = `now`, `exp` = `now` +
    /// `ttl`).
    pub fn issue_at(&self, req: &TokenRequest, now: DateTime<Utc>) -> Result<String, IssueError> {
        let non_empty = |v: &Option<String>| v.as_deref().filter(|s| !s.is_empty()).map(str::to_string);
        let sub = match req.role {
            Role::Anonymous => return Err(IssueError::Invalid("anonymous is not a token role".into())),
            Role::Citizen => non_empty(&req.subject)
                .ok_or_else(|| IssueError::Invalid("a citizen token needs the person's URN as subject".into()))?,
            _ => non_empty(&req.party)
                .ok_or_else(|| IssueError::Invalid(format!("a {} token needs a party", req.role)))?,
        };
        if req.ttl.is_zero() {
            return Err(IssueError::Invalid("the token's lifetime is zero".into()));
        }
        let exp = chrono::Duration::from_std(req.ttl)
            .ok()
            .and_then(|ttl| now.checked_add_signed(ttl))
            .ok_or_else(|| IssueError::Invalid("the token's lifetime is too long".into()))?;
        let mut claims = json!({
            "iss": BUILTIN_ISSUER,
            "aud": BUILTIN_AUDIENCE,
            "sub": sub,
            "tenant": req.tenant,
            "role": req.role.as_str(),
            "iat": now.timestamp(),
            "nbf": now.timestamp(),
            "exp": exp.timestamp(),
        });
        if let Value::Object(m) = &mut claims {
            if let Some(party) = non_empty(&req.party) {
                m.insert("party".into(), Value::String(party));
            }
            if req.role == Role::Citizen {
                m.insert("subject".into(), Value::String(sub.clone()));
            }
            if let Some(purpose) = non_empty(&req.purpose) {
                m.insert("purpose".into(), Value::String(purpose));
            }
        }
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.key).map_err(|e| IssueError::Sign(e.to_string()))
    }

    /// The public key as a JWK Set (one OKP Ed25519 key with `kid`, `alg: EdDSA`,
    /// `use: sig`).
    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: vec![Jwk {
                common: CommonParameters {
                    public_key_use: Some(PublicKeyUse::Signature),
                    key_algorithm: Some(KeyAlgorithm::EdDSA),
                    key_id: Some(self.kid.clone()),
                    ..CommonParameters::default()
                },
                algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                    key_type: OctetKeyPairType::OctetKeyPair,
                    curve: EllipticCurve::Ed25519,
                    x: URL_SAFE_NO_PAD.encode(&self.public),
                }),
            }],
        }
    }

    /// [`BuiltinIssuer::jwks`] as JSON, to publish (e.g. at `/.well-known/jwks.json`).
    pub fn jwks_json(&self) -> Value {
        json!({"keys": [{
            "kty": "OKP",
            "crv": "Ed25519",
            "x": URL_SAFE_NO_PAD.encode(&self.public),
            "kid": self.kid,
            "alg": "EdDSA",
            "use": "sig",
        }]})
    }

    /// The issuer as a [`Verifier`](crate::Verifier) trusts it: `iss` [`BUILTIN_ISSUER`],
    /// `aud` [`BUILTIN_AUDIENCE`], its key set inline.
    pub fn trusted(&self) -> TrustedIssuer {
        TrustedIssuer {
            issuer: BUILTIN_ISSUER.to_string(),
            audience: BUILTIN_AUDIENCE.to_string(),
            keys: KeySource::Jwks(self.jwks()),
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> IssueError + '_ {
    move |source| IssueError::Io { path: path.to_path_buf(), source }
}

fn generate() -> Result<Vec<u8>, IssueError> {
    Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map(|d| d.as_ref().to_vec()).map_err(|_| IssueError::Random)
}

fn read_key(path: &Path) -> Result<BuiltinIssuer, IssueError> {
    let len = fs::metadata(path).map_err(io(path))?.len();
    if len > 4096 {
        return Err(IssueError::BadKeyFile { path: path.to_path_buf(), reason: format!("{len} bytes") });
    }
    let bytes = fs::read(path).map_err(io(path))?;
    from_pkcs8(&bytes, Some(path.to_path_buf()))
        .map_err(|reason| IssueError::BadKeyFile { path: path.to_path_buf(), reason })
}

fn from_pkcs8(pkcs8: &[u8], path: Option<PathBuf>) -> Result<BuiltinIssuer, String> {
    let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8).map_err(|e| e.to_string())?;
    let public = pair.public_key().as_ref().to_vec();
    let kid = thumbprint(&public);
    Ok(BuiltinIssuer { key: EncodingKey::from_ed_der(pkcs8), public, kid, path })
}

/// The RFC 7638 thumbprint of an Ed25519 public key (RFC 8037 §2: members `crv`,
/// `kty`, `x` in lexicographic order, no whitespace).
fn thumbprint(public: &[u8]) -> String {
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, URL_SAFE_NO_PAD.encode(public));
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

fn create_dir(dir: &Path) -> Result<(), IssueError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(io(dir))
}

/// Writes `bytes` to a new file readable by the owner only, and syncs it.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), IssueError> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut file = opts.open(path).map_err(io(path))?;
    file.write_all(bytes).map_err(io(path))?;
    file.sync_all().map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprint_matches_rfc_8037_example() {
        // RFC 8037 Appendix A.3: the thumbprint of the example Ed25519 key.
        let x = URL_SAFE_NO_PAD.decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo").unwrap();
        assert_eq!(thumbprint(&x), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    }

    #[test]
    fn persists_the_key_with_private_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let a = BuiltinIssuer::load_or_create(dir.path()).unwrap();
        let b = BuiltinIssuer::load_or_create(dir.path()).unwrap();
        assert_eq!(a.kid(), b.kid());
        let path = dir.path().join(KEY_FILE);
        assert_eq!(a.key_path(), Some(path.as_path()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
            assert_eq!(fs::metadata(path.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);
        }
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, [std::ffi::OsString::from("issuer-ed25519.pk8")]);
        assert!(!format!("{a:?}").contains("key:"));
    }

    #[test]
    fn a_corrupt_key_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("keys")).unwrap();
        fs::write(dir.path().join(KEY_FILE), b"not a key").unwrap();
        let e = BuiltinIssuer::load_or_create(dir.path()).unwrap_err();
        assert!(matches!(e, IssueError::BadKeyFile { .. }), "{e}");
    }

    #[test]
    fn jwks_json_and_jwks_agree() {
        let i = BuiltinIssuer::ephemeral().unwrap();
        let typed = serde_json::to_value(i.jwks()).unwrap();
        let k = &i.jwks_json()["keys"][0];
        for m in ["kty", "crv", "x", "kid", "alg", "use"] {
            assert_eq!(typed["keys"][0][m], k[m], "{m}");
        }
        assert_eq!(k["kty"], "OKP");
        assert!(k.get("d").is_none());
    }

    #[test]
    fn refuses_requests_it_cannot_sign_for() {
        let i = BuiltinIssuer::ephemeral().unwrap();
        let req = TokenRequest {
            tenant: String::new(),
            party: None,
            role: Role::Citizen,
            subject: None,
            purpose: None,
            ttl: Duration::from_secs(60),
        };
        assert!(matches!(i.issue(&req), Err(IssueError::Invalid(m)) if m.contains("citizen")));
        let admin = TokenRequest { role: Role::TenantAdmin, ..req.clone() };
        assert!(matches!(i.issue(&admin), Err(IssueError::Invalid(m)) if m.contains("party")));
        let anon = TokenRequest { role: Role::Anonymous, party: Some("p".into()), ..req.clone() };
        assert!(matches!(i.issue(&anon), Err(IssueError::Invalid(_))));
        let zero = TokenRequest { subject: Some("urn:person:1".into()), ttl: Duration::ZERO, ..req };
        assert!(matches!(i.issue(&zero), Err(IssueError::Invalid(m)) if m.contains("zero")));
    }
}
