//! Bearer tokens end to end: keys generated at test time (Ed25519 and ECDSA P-256 with
//! ring; no private key is committed), tokens signed with `jsonwebtoken`, verified by
//! [`Verifier`]; the built-in issuer; JWK Sets from files and URLs; API keys and
//! headers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::Utc;
use http::{HeaderMap, HeaderValue};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use kizuna_auth::{
    authenticate_api_key, credentials, generate_api_key, AuthError, BuiltinIssuer, Credentials, Identity, JwkSet,
    KeySource, TokenRequest, TrustedIssuer, Verifier, Via, KEY_FILE,
};
use kizuna_consent::{Purpose, Role};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};

const ISS: &str = "https://idp.example.jp/realms/maebashi";
const AUD: &str = "kizuna";

/// A signing key made for this test run and its public JWK.
struct TestKey {
    alg: Algorithm,
    kid: String,
    signing: EncodingKey,
    jwk: Value,
    /// The raw public key bytes (what an attacker could try as an HMAC secret).
    public: Vec<u8>,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn ed25519(kid: &str) -> TestKey {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let public = pair.public_key().as_ref().to_vec();
    TestKey {
        alg: Algorithm::EdDSA,
        kid: kid.into(),
        signing: EncodingKey::from_ed_der(pkcs8.as_ref()),
        jwk: json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&public), "kid": kid, "alg": "EdDSA", "use": "sig"}),
        public,
    }
}

fn p256(kid: &str) -> TestKey {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let public = pair.public_key().as_ref().to_vec(); // 0x04 || x || y
    assert_eq!(public.len(), 65);
    TestKey {
        alg: Algorithm::ES256,
        kid: kid.into(),
        signing: EncodingKey::from_ec_der(pkcs8.as_ref()),
        jwk: json!({"kty": "EC", "crv": "P-256", "x": b64(&public[1..33]), "y": b64(&public[33..]), "kid": kid}),
        public,
    }
}

fn jwks(keys: &[&TestKey]) -> Value {
    json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()})
}

fn jwk_set(keys: &[&TestKey]) -> JwkSet {
    serde_json::from_value(jwks(keys)).unwrap()
}

fn trusted(keys: &[&TestKey]) -> TrustedIssuer {
    TrustedIssuer { issuer: ISS.into(), audience: AUD.into(), keys: KeySource::Jwks(jwk_set(keys)) }
}

fn verifier(keys: &[&TestKey]) -> Verifier {
    Verifier::new(vec![trusted(keys)]).unwrap()
}

fn now() -> i64 {
    Utc::now().timestamp()
}

fn claims(role: &str, sub: &str) -> Value {
    json!({"iss": ISS, "aud": AUD, "sub": sub, "tenant": "maebashi", "role": role, "iat": now(), "exp": now() + 300})
}

fn sign(key: &TestKey, claims: &Value) -> String {
    let mut header = Header::new(key.alg);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &key.signing).unwrap()
}

fn without(mut v: Value, claim: &str) -> Value {
    v.as_object_mut().unwrap().remove(claim);
    v
}

fn with(mut v: Value, claim: &str, value: Value) -> Value {
    v.as_object_mut().unwrap().insert(claim.into(), value);
    v
}

/// The error verifying `token` gives; its message must contain neither the token nor
/// any of its parts.
fn refused(v: &Verifier, token: &str) -> AuthError {
    let e = v.verify(token).expect_err("the token must be refused");
    let msg = e.to_string();
    assert!(!msg.contains(token), "{msg}");
    for part in token.split('.').filter(|p| p.len() > 8) {
        assert!(!msg.contains(part), "message {msg:?} contains a part of the token");
    }
    assert_eq!(e.status_code(), 401, "{e}");
    e
}

#[test]
fn eddsa_and_es256_tokens_map_every_role() {
    let (ed, ec) = (ed25519("ed-1"), p256("ec-1"));
    let v = verifier(&[&ed, &ec]);
    for key in [&ed, &ec] {
        for (role, want) in [
            ("tenant-admin", Role::TenantAdmin),
            ("data-holder", Role::DataHolder),
            ("service-provider", Role::ServiceProvider),
        ] {
            let c = with(claims(role, "urn:ngsi-ld:Organization:clinic"), "purpose", json!("healthcare"));
            let id = v.verify(&sign(key, &c)).unwrap();
            assert_eq!(
                id,
                Identity {
                    tenant: "maebashi".into(),
                    party: Some("urn:ngsi-ld:Organization:clinic".into()),
                    role: want,
                    subject: None,
                    purpose: Some(Purpose::new("healthcare")),
                    via: Via::Token { issuer: ISS.into() },
                },
                "{role} with {:?}",
                key.alg
            );
            let caller = id.to_caller();
            assert_eq!((caller.role, caller.party.as_deref()), (want, Some("urn:ngsi-ld:Organization:clinic")));
        }
        let id = v.verify(&sign(key, &claims("citizen", "urn:ngsi-ld:Person:hanako"))).unwrap();
        assert_eq!(id.role, Role::Citizen);
        assert_eq!(id.subject.as_deref(), Some("urn:ngsi-ld:Person:hanako"));
        assert_eq!(id.party.as_deref(), Some("urn:ngsi-ld:Person:hanako"));
        assert_eq!(id.purpose, None);
    }
}

#[test]
fn citizen_subject_defaults_to_sub_and_party_may_differ() {
    let ed = ed25519("k");
    let v = verifier(&[&ed]);
    let id = v.verify(&sign(&ed, &claims("citizen", "urn:person:1"))).unwrap();
    assert_eq!(id.subject.as_deref(), Some("urn:person:1"));
    let c = with(claims("citizen", "urn:person:1"), "subject", json!("urn:ngsi-ld:Person:1"));
    let id = v.verify(&sign(&ed, &c)).unwrap();
    assert_eq!(id.subject.as_deref(), Some("urn:ngsi-ld:Person:1"));
    // party defaults to sub, and may be given; subject is dropped for other roles.
    let c = with(with(claims("data-holder", "client-42"), "party", json!("urn:party:hospital")), "subject", json!("x"));
    let id = v.verify(&sign(&ed, &c)).unwrap();
    assert_eq!((id.party.as_deref(), id.subject), (Some("urn:party:hospital"), None));
    // The default tenant is "".
    let id = v.verify(&sign(&ed, &with(claims("tenant-admin", "urn:city"), "tenant", json!("")))).unwrap();
    assert_eq!(id.tenant, "");
}

#[test]
fn a_tampered_payload_or_a_foreign_key_is_a_bad_signature() {
    let ed = ed25519("k");
    let ec = p256("e");
    let v = verifier(&[&ed, &ec]);
    for key in [&ed, &ec] {
        let token = sign(key, &claims("citizen", "urn:person:1"));
        let parts: Vec<&str> = token.split('.').collect();
        let forged = claims("tenant-admin", "urn:person:1");
        let tampered = format!("{}.{}.{}", parts[0], b64(forged.to_string().as_bytes()), parts[2]);
        assert_eq!(refused(&v, &tampered), AuthError::BadSignature);
    }
    // Signed by another key under a trusted kid.
    let impostor = ed25519("k");
    assert_eq!(refused(&v, &sign(&impostor, &claims("tenant-admin", "urn:x"))), AuthError::BadSignature);
}

#[test]
fn issuer_audience_and_time_are_checked() {
    let ed = ed25519("k");
    let v = verifier(&[&ed]);
    let c = with(claims("citizen", "urn:p"), "iss", json!("https://evil.example"));
    assert_eq!(refused(&v, &sign(&ed, &c)), AuthError::UnknownIssuer("https://evil.example".into()));
    let c = with(claims("citizen", "urn:p"), "aud", json!("another-service"));
    assert_eq!(refused(&v, &sign(&ed, &c)), AuthError::WrongAudience);
    let c = with(claims("citizen", "urn:p"), "aud", json!(["another-service", AUD]));
    assert!(v.verify(&sign(&ed, &c)).is_ok(), "an aud array containing ours is accepted");

    // exp: 30 s leeway.
    let c = with(claims("citizen", "urn:p"), "exp", json!(now() - 120));
    assert_eq!(refused(&v, &sign(&ed, &c)), AuthError::Expired);
    let c = with(claims("citizen", "urn:p"), "exp", json!(now() - 10));
    assert!(v.verify(&sign(&ed, &c)).is_ok(), "expired within the leeway");
    // nbf: enforced, same leeway.
    let c = with(claims("citizen", "urn:p"), "nbf", json!(now() + 120));
    assert_eq!(refused(&v, &sign(&ed, &c)), AuthError::NotYetValid);
    let c = with(claims("citizen", "urn:p"), "nbf", json!(now() + 10));
    assert!(v.verify(&sign(&ed, &c)).is_ok(), "nbf within the leeway");
    let c = with(claims("citizen", "urn:p"), "nbf", json!("tomorrow"));
    assert!(matches!(refused(&v, &sign(&ed, &c)), AuthError::BadClaim { claim: "nbf", .. }));
}

#[test]
fn required_claims_are_named() {
    let ed = ed25519("k");
    let v = verifier(&[&ed]);
    for claim in ["sub", "tenant", "role", "exp", "aud", "iss"] {
        let c = without(claims("data-holder", "urn:party:x"), claim);
        assert_eq!(refused(&v, &sign(&ed, &c)), AuthError::MissingClaim(claim), "{claim}");
    }
    let c = with(claims("data-holder", "urn:x"), "exp", json!("soon"));
    assert!(matches!(refused(&v, &sign(&ed, &c)), AuthError::BadClaim { claim: "exp", .. }));
    let c = with(claims("data-holder", "urn:x"), "sub", json!(42));
    assert!(matches!(refused(&v, &sign(&ed, &c)), AuthError::BadClaim { claim: "sub", .. }));
    let c = with(claims("data-holder", "urn:x"), "tenant", json!(["a"]));
    assert!(matches!(refused(&v, &sign(&ed, &c)), AuthError::BadClaim { claim: "tenant", .. }));
}

#[test]
fn unknown_and_anonymous_roles_are_refused() {
    let ed = ed25519("k");
    let v = verifier(&[&ed]);
    let e = refused(&v, &sign(&ed, &claims("superuser", "urn:x")));
    assert!(matches!(&e, AuthError::BadClaim { claim: "role", reason } if reason.contains("unknown role")), "{e}");
    let e = refused(&v, &sign(&ed, &claims("anonymous", "urn:x")));
    assert!(matches!(&e, AuthError::BadClaim { claim: "role", reason } if reason.contains("anonymous")), "{e}");
    assert!(e.to_string().contains("role"));
}

#[test]
fn unsigned_tokens_are_refused() {
    let ed = ed25519("k");
    let v = verifier(&[&ed]);
    let payload = b64(claims("tenant-admin", "urn:x").to_string().as_bytes());
    for header in [json!({"alg": "none"}), json!({"alg": "none", "typ": "JWT", "kid": "k"}), json!({"alg": "None"})] {
        let token = format!("{}.{payload}.", b64(header.to_string().as_bytes()));
        assert_eq!(refused(&v, &token), AuthError::AlgorithmNotAllowed("none".into()));
    }
}

#[test]
fn hmac_with_the_public_key_as_secret_is_refused() {
    // Algorithm confusion: an attacker signs HS256 with the (public) key bytes as secret.
    let (ed, ec) = (ed25519("k"), p256("e"));
    let v = verifier(&[&ed, &ec]);
    for key in [&ed, &ec] {
        for secret in [key.public.clone(), key.jwk.to_string().into_bytes()] {
            for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
                let mut header = Header::new(alg);
                header.kid = Some(key.kid.clone());
                let token =
                    jsonwebtoken::encode(&header, &claims("tenant-admin", "urn:x"), &EncodingKey::from_secret(&secret))
                        .unwrap();
                assert_eq!(refused(&v, &token), AuthError::AlgorithmNotAllowed(format!("{alg:?}")));
            }
        }
    }
}

#[test]
fn the_algorithm_must_fit_the_key() {
    let (ed, ec) = (ed25519("ed"), p256("ec"));
    let v = verifier(&[&ed, &ec]);
    // An ES256 signature presented under the Ed25519 key's kid.
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("ed".into());
    let token = jsonwebtoken::encode(&header, &claims("tenant-admin", "urn:x"), &ec.signing).unwrap();
    let e = refused(&v, &token);
    assert!(matches!(&e, AuthError::AlgorithmNotAllowed(m) if m.contains("Ed25519")), "{e}");
}

#[test]
fn keys_are_chosen_by_kid() {
    let (a, b) = (ed25519("a"), p256("b"));
    let v = verifier(&[&a, &b]);
    let stranger = ed25519("nope");
    assert_eq!(
        refused(&v, &sign(&stranger, &claims("citizen", "urn:p"))),
        AuthError::UnknownKey { kid: Some("nope".into()) }
    );
    // Without kid: ambiguous with two keys, fine with one.
    let no_kid =
        |k: &TestKey| jsonwebtoken::encode(&Header::new(k.alg), &claims("citizen", "urn:p"), &k.signing).unwrap();
    assert_eq!(refused(&v, &no_kid(&a)), AuthError::UnknownKey { kid: None });
    assert!(verifier(&[&a]).verify(&no_kid(&a)).is_ok());
    let e = AuthError::UnknownKey { kid: Some("x\n\u{1b}[31m".into()) };
    assert!(!e.to_string().contains('\n') && !e.to_string().contains('\u{1b}'), "{e}");
}

#[test]
fn garbage_is_a_malformed_token() {
    let ed = ed25519("k");
    let v = verifier(&[&ed]);
    let good = sign(&ed, &claims("citizen", "urn:p"));
    let parts: Vec<&str> = good.split('.').collect();
    for token in [
        "garbage".to_string(),
        "a.b.c".to_string(),
        "!!!.???.***".to_string(),
        format!("{}.{}", parts[0], parts[1]),
        format!("{}.{}.{}", parts[0], b64(b"[1,2,3]"), parts[2]),
        format!("{}.{}.", parts[0], parts[1]),
        format!("{}.{}.{}.x.y", parts[0], parts[1], parts[2]),
        format!("{}.{}.{}", b64(b"not json"), parts[1], parts[2]),
        "x".repeat(20_000),
    ] {
        assert!(matches!(refused(&v, &token), AuthError::MalformedToken(_)), "{}", &token[..token.len().min(40)]);
    }
}

#[tokio::test]
async fn jwks_files_are_loaded_and_reloaded_on_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("idp-jwks.json");
    let (old, new) = (ed25519("2024"), p256("2025"));
    std::fs::write(&path, jwks(&[&old]).to_string()).unwrap();
    let issuer = TrustedIssuer { issuer: ISS.into(), audience: AUD.into(), keys: KeySource::JwksFile(path.clone()) };
    let v = Verifier::new(vec![issuer.clone()]).unwrap();
    let old_token = sign(&old, &claims("citizen", "urn:p"));
    assert_eq!(refused(&v, &old_token), AuthError::UnknownKey { kid: Some("2024".into()) }, "not loaded yet");
    v.load().await.unwrap();
    assert!(v.verify(&old_token).is_ok());

    // The issuer rotates: a token with the new kid is unknown until its keys are reloaded,
    // which verify_refreshing does at most once per refresh interval.
    std::fs::write(&path, jwks(&[&old, &new]).to_string()).unwrap();
    let new_token = sign(&new, &claims("citizen", "urn:p"));
    assert_eq!(refused(&v, &new_token), AuthError::UnknownKey { kid: Some("2025".into()) });
    assert!(
        matches!(v.verify_refreshing(&new_token).await, Err(AuthError::UnknownKey { .. })),
        "just loaded: no refresh"
    );
    let v = Verifier::new(vec![issuer]).unwrap().with_refresh_interval(Duration::ZERO);
    assert!(v.verify_refreshing(&new_token).await.is_ok(), "loads on first use");
    assert!(v.verify(&old_token).is_ok());

    // A missing or empty file: the keys cannot be loaded (503), the old ones are kept.
    std::fs::write(&path, r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}"#).unwrap();
    let e = v.load().await.unwrap_err();
    assert!(matches!(&e, AuthError::Jwks(m) if m.contains("usable")), "{e}");
    assert_eq!(e.status_code(), 503);
    assert!(v.verify(&new_token).is_ok());
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(v.load().await, Err(AuthError::Jwks(m)) if m.contains("idp-jwks.json")));
}

/// Serves `responses` (status line, body) to successive connections on 127.0.0.1.
async fn serve(responses: Vec<(&'static str, String)>) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        for (status, body) in responses {
            let Ok((mut conn, _)) = listener.accept().await else { return };
            let mut buf = vec![0u8; 4096];
            let mut seen = Vec::new();
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
            }
            let head = format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = conn.write_all(head.as_bytes()).await;
            let _ = conn.write_all(body.as_bytes()).await;
            let _ = conn.shutdown().await;
        }
    });
    format!("http://{addr}/jwks.json")
}

#[tokio::test]
async fn jwks_urls_are_fetched_with_limits() {
    let ec = p256("url-key");
    let url = serve(vec![
        ("200 OK", jwks(&[&ec]).to_string()),
        ("404 Not Found", "{}".into()),
        ("200 OK", format!("{{\"keys\": [], \"pad\": \"{}\"}}", "x".repeat(1 << 20))),
    ])
    .await;
    let v =
        Verifier::new(vec![TrustedIssuer { issuer: ISS.into(), audience: AUD.into(), keys: KeySource::JwksUrl(url) }])
            .unwrap();
    v.load().await.unwrap();
    let token = sign(&ec, &claims("service-provider", "urn:party:app"));
    assert_eq!(v.verify(&token).unwrap().role, Role::ServiceProvider);
    let e = v.load().await.unwrap_err();
    assert!(matches!(&e, AuthError::Jwks(m) if m.contains("404")), "{e}");
    let e = v.load().await.unwrap_err();
    assert!(matches!(&e, AuthError::Jwks(m) if m.contains("larger than")), "{e}");
    assert!(v.verify(&token).is_ok(), "failed reloads keep the keys");
}

#[test]
fn the_builtin_issuer_persists_its_key_and_is_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let issuer = BuiltinIssuer::load_or_create(dir.path()).unwrap();
    let again = BuiltinIssuer::load_or_create(dir.path()).unwrap();
    assert_eq!(issuer.kid(), again.kid(), "the key is reused");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join(KEY_FILE)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let other = BuiltinIssuer::load_or_create(tempfile::tempdir().unwrap().path()).unwrap();
    assert_ne!(issuer.kid(), other.kid());

    let v = Verifier::new(vec![issuer.trusted()]).unwrap();
    let req = TokenRequest {
        tenant: "maebashi".into(),
        party: Some("urn:ngsi-ld:Organization:insurer".into()),
        role: Role::ServiceProvider,
        subject: None,
        purpose: Some("disease-management".into()),
        ttl: Duration::from_secs(600),
    };
    // A token of the first instance verifies with the key as reloaded.
    let token = issuer.issue(&req).unwrap();
    let id = Verifier::new(vec![again.trusted()]).unwrap().verify(&token).unwrap();
    assert_eq!(id.party.as_deref(), Some("urn:ngsi-ld:Organization:insurer"));
    assert_eq!(id.purpose, Some(Purpose::new("disease-management")));
    assert_eq!(id.via, Via::Token { issuer: "kizuna-builtin".into() });
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!((header.alg, header.kid.as_deref()), (Algorithm::EdDSA, Some(issuer.kid())));

    let citizen = TokenRequest {
        role: Role::Citizen,
        party: None,
        subject: Some("urn:ngsi-ld:Person:taro".into()),
        purpose: None,
        ..req.clone()
    };
    let id = v.verify(&issuer.issue(&citizen).unwrap()).unwrap();
    assert_eq!((id.role, id.subject.as_deref()), (Role::Citizen, Some("urn:ngsi-ld:Person:taro")));

    let old = issuer.issue_at(&req, Utc::now() - chrono::Duration::hours(2)).unwrap();
    assert_eq!(refused(&v, &old), AuthError::Expired);
    assert_eq!(refused(&v, &other.issue(&req).unwrap()), AuthError::UnknownKey { kid: Some(other.kid().into()) });
    // The published JWK Set, read back as a file, is trusted too.
    let path = dir.path().join("builtin-jwks.json");
    std::fs::write(&path, issuer.jwks_json().to_string()).unwrap();
    let from_file: JwkSet = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(from_file, issuer.jwks());
}

#[test]
fn credentials_from_headers_to_identities() {
    let issuer = BuiltinIssuer::ephemeral().unwrap();
    let v = Verifier::new(vec![issuer.trusted()]).unwrap();
    let token = issuer
        .issue(&TokenRequest {
            tenant: "t".into(),
            party: Some("urn:city".into()),
            role: Role::TenantAdmin,
            subject: None,
            purpose: None,
            ttl: Duration::from_secs(60),
        })
        .unwrap();
    let (key, record) = generate_api_key("t", "urn:party:sensor-1", Role::DataHolder, "sensor 1", Utc::now()).unwrap();

    let mut h = HeaderMap::new();
    h.insert("authorization", HeaderValue::from_str(&format!("bearer {token}")).unwrap());
    let Credentials::Bearer(t) = credentials(&h).unwrap() else { panic!("a bearer token") };
    assert_eq!(v.verify(&t).unwrap().role, Role::TenantAdmin);

    let mut h = HeaderMap::new();
    h.insert("x-api-key", HeaderValue::from_str(&key).unwrap());
    let Credentials::ApiKey(k) = credentials(&h).unwrap() else { panic!("an API key") };
    let id = authenticate_api_key(&k, |id| (id == record.id).then(|| record.clone())).unwrap();
    assert_eq!((id.party.as_deref(), id.role), (Some("urn:party:sensor-1"), Role::DataHolder));
    assert_eq!(id.via, Via::ApiKey { id: record.id.clone() });

    // A wrong secret and a revoked key; neither message contains the key.
    let forged = format!("{}x", &key[..key.len() - 1]);
    let forged = if forged == key { format!("{}y", &key[..key.len() - 1]) } else { forged };
    let e = authenticate_api_key(&forged, |_| Some(record.clone())).unwrap_err();
    assert_eq!(e, AuthError::UnknownApiKey);
    let revoked = kizuna_consent::ApiKeyRecord { revoked_at: Some(Utc::now()), ..record.clone() };
    let e = authenticate_api_key(&key, |_| Some(revoked)).unwrap_err();
    assert_eq!(e, AuthError::RevokedApiKey);
    assert!(!e.to_string().contains(&key));

    h.insert("authorization", HeaderValue::from_str(&format!("Bearer {token}")).unwrap());
    let e = credentials(&h).unwrap_err();
    assert!(matches!(&e, AuthError::MalformedHeader(m) if m.contains("both")), "{e}");
    assert!(!e.to_string().contains(&token) && !e.to_string().contains(&key));
    assert_eq!(credentials(&HeaderMap::new()).unwrap(), Credentials::None);
    assert_eq!(Identity::anonymous("t").to_caller(), kizuna_consent::Caller::anonymous("t"));
}
