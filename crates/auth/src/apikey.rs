//! API keys: machine credentials (detectors, the city's systems) of the form
//! `kzn_<id>_<secret>`, where `<id>` is 12 lowercase hex digits (6 random bytes) that
//! find the stored [`ApiKeyRecord`] and `<secret>` is 32 random bytes in base64url.
//! Only the SHA-256 of the secret is stored; the plaintext is shown once, when the key
//! is generated.

use chrono::{DateTime, Utc};
use kizuna_consent::{ApiKeyRecord, Role};
use ring::rand::{SecureRandom as _, SystemRandom};
use sha2::{Digest, Sha256};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use crate::error::{AuthError, IssueError};
use crate::identity::{Identity, Via};

/// The prefix of every API key.
pub const API_KEY_PREFIX: &str = "kzn_";

const ID_BYTES: usize = 6;
const SECRET_BYTES: usize = 32;

/// A new API key for `party` acting as `role` in `tenant`: the plaintext key (to show
/// once, never stored) and the record to store.
pub fn generate_api_key(
    tenant: &str,
    party: &str,
    role: Role,
    label: &str,
    now: DateTime<Utc>,
) -> Result<(String, ApiKeyRecord), IssueError> {
    if role == Role::Anonymous {
        return Err(IssueError::Invalid("an API key cannot act as anonymous".into()));
    }
    if party.is_empty() {
        return Err(IssueError::Invalid("an API key needs a party".into()));
    }
    let rng = SystemRandom::new();
    let mut id = [0u8; ID_BYTES];
    let mut secret = [0u8; SECRET_BYTES];
    rng.fill(&mut id).map_err(|_| IssueError::Random)?;
    rng.fill(&mut secret).map_err(|_| IssueError::Random)?;
    let id = hex(&id);
    let secret = URL_SAFE_NO_PAD.encode(secret);
    let record = ApiKeyRecord {
        id: id.clone(),
        tenant: tenant.to_string(),
        party: party.to_string(),
        role,
        secret_sha256: hex(&Sha256::digest(secret.as_bytes())),
        label: label.to_string(),
        created_at: now,
        revoked_at: None,
    };
    Ok((format!("{API_KEY_PREFIX}{id}_{secret}"), record))
}

/// The id and secret parts of an API key; [`AuthError::MalformedHeader`] if it is not of
/// the form `kzn_<12 hex digits>_<base64url>` (the message never contains the key).
pub fn parse_api_key(key: &str) -> Result<(&str, &str), AuthError> {
    let malformed = || AuthError::MalformedHeader("X-Api-Key is not a Kizuna API key (kzn_<id>_<secret>)".to_string());
    let rest = key.strip_prefix(API_KEY_PREFIX).ok_or_else(malformed)?;
    let (id, secret) = rest.split_once('_').ok_or_else(malformed)?;
    let id_ok = id.len() == 2 * ID_BYTES && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let secret_ok = !secret.is_empty()
        && secret.len() <= 256
        && secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !id_ok || !secret_ok {
        return Err(malformed());
    }
    Ok((id, secret))
}

/// The identity `record` authenticates if `secret` is its secret: the hashes are compared
/// in constant time. A wrong secret is [`AuthError::UnknownApiKey`] (whoever does not
/// hold the secret learns nothing about the key); the right secret of a revoked key is
/// [`AuthError::RevokedApiKey`].
pub fn check_api_key(secret: &str, record: &ApiKeyRecord) -> Result<Identity, AuthError> {
    let given = Sha256::digest(secret.as_bytes());
    let stored = unhex32(&record.secret_sha256).ok_or(AuthError::UnknownApiKey)?;
    let diff = given.iter().zip(stored.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b));
    if std::hint::black_box(diff) != 0 {
        return Err(AuthError::UnknownApiKey);
    }
    if record.revoked_at.is_some() {
        return Err(AuthError::RevokedApiKey);
    }
    if record.role == Role::Anonymous {
        return Err(AuthError::BadClaim { claim: "role", reason: "an API key cannot act as anonymous".into() });
    }
    Ok(Identity {
        tenant: record.tenant.clone(),
        party: Some(record.party.clone()),
        role: record.role,
        subject: (record.role == Role::Citizen).then(|| record.party.clone()),
        purpose: None,
        via: Via::ApiKey { id: record.id.clone() },
    })
}

/// The identity an API key authenticates: [`parse_api_key`], `lookup` of the record by
/// id ([`AuthError::UnknownApiKey`] if there is none), [`check_api_key`].
pub fn authenticate_api_key(
    key: &str,
    lookup: impl FnOnce(&str) -> Option<ApiKeyRecord>,
) -> Result<Identity, AuthError> {
    let (id, secret) = parse_api_key(key)?;
    let record = lookup(id).ok_or(AuthError::UnknownApiKey)?;
    if record.id != id {
        return Err(AuthError::UnknownApiKey);
    }
    check_api_key(secret, &record)
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

fn unhex32(s: &str) -> Option<[u8; 32]> {
    let bytes = s.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        out[i] = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-04-01T09:00:00Z").unwrap().with_timezone(&Utc)
    }

    #[test]
    fn generate_parse_check() {
        let (key, record) =
            generate_api_key("maebashi", "urn:party:detector-7", Role::DataHolder, "gate 7", now()).unwrap();
        assert!(key.starts_with("kzn_"));
        let (id, secret) = parse_api_key(&key).unwrap();
        assert_eq!(id, record.id);
        assert_eq!(id.len(), 12);
        assert_eq!(secret.len(), 43);
        assert_eq!(record.secret_sha256.len(), 64);
        assert!(!record.secret_sha256.contains(secret));
        assert_eq!((record.label.as_str(), record.created_at, record.revoked_at), ("gate 7", now(), None));
        let id = check_api_key(secret, &record).unwrap();
        assert_eq!(id.party.as_deref(), Some("urn:party:detector-7"));
        assert_eq!((id.tenant.as_str(), id.role, id.subject), ("maebashi", Role::DataHolder, None));
        assert_eq!(id.via, Via::ApiKey { id: record.id.clone() });
        let via_lookup = authenticate_api_key(&key, |i| (i == record.id).then(|| record.clone())).unwrap();
        assert_eq!(via_lookup.party.as_deref(), Some("urn:party:detector-7"));
        // Two keys differ.
        let (key2, record2) =
            generate_api_key("maebashi", "urn:party:detector-7", Role::DataHolder, "", now()).unwrap();
        assert_ne!(key, key2);
        assert_ne!(record.id, record2.id);
    }

    #[test]
    fn wrong_secret_unknown_id_and_revoked() {
        let (key, mut record) = generate_api_key("t", "urn:p", Role::ServiceProvider, "", now()).unwrap();
        let (_, secret) = parse_api_key(&key).unwrap();
        let mut wrong = secret.to_string();
        wrong.replace_range(0..1, if wrong.starts_with('A') { "B" } else { "A" });
        assert_eq!(check_api_key(&wrong, &record), Err(AuthError::UnknownApiKey));
        assert_eq!(authenticate_api_key(&key, |_| None), Err(AuthError::UnknownApiKey));
        record.revoked_at = Some(now());
        assert_eq!(check_api_key(secret, &record), Err(AuthError::RevokedApiKey));
        // A wrong secret does not learn that the key was revoked.
        assert_eq!(check_api_key(&wrong, &record), Err(AuthError::UnknownApiKey));
        record.secret_sha256 = "zz".into();
        assert_eq!(check_api_key(secret, &record), Err(AuthError::UnknownApiKey));
    }

    #[test]
    fn citizen_keys_carry_their_subject_and_anonymous_is_refused() {
        let (key, record) = generate_api_key("t", "urn:person:1", Role::Citizen, "", now()).unwrap();
        let (_, secret) = parse_api_key(&key).unwrap();
        assert_eq!(check_api_key(secret, &record).unwrap().subject.as_deref(), Some("urn:person:1"));
        assert!(generate_api_key("t", "urn:p", Role::Anonymous, "", now()).is_err());
        assert!(generate_api_key("t", "", Role::DataHolder, "", now()).is_err());
    }

    #[test]
    fn malformed_keys() {
        for bad in [
            "",
            "kzn_",
            "kzn_0123456789ab",
            "kzn_0123456789ab_",
            "abc_0123456789ab_x",
            "kzn_0123456789AB_x",
            "kzn_0123_x",
            "kzn_0123456789ab_a+b",
            "kzn_0123456789ab_a=b",
        ] {
            match parse_api_key(bad) {
                Err(AuthError::MalformedHeader(m)) => {
                    assert_eq!(m, "X-Api-Key is not a Kizuna API key (kzn_<id>_<secret>)")
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
        // The secret may itself contain '_' (base64url).
        assert_eq!(parse_api_key("kzn_0123456789ab_a_b-c").unwrap(), ("0123456789ab", "a_b-c"));
    }
}
