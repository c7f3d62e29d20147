//! Who is calling: Kizuna's authentication layer. It turns a request's credentials into
//! an [`Identity`] — tenant, party, role, data subject, default purpose — which
//! [`Identity::to_caller`] hands to the consent decision point (`kizuna-consent`).
//!
//! Three ways in:
//! - **Bearer tokens** (`Authorization: Bearer <jwt>`) signed by a trusted identity
//!   provider (a municipality's IdP, an information bank's, ...), checked by a
//!   [`Verifier`] against each [`TrustedIssuer`]'s JWK Set;
//! - the **built-in issuer** ([`BuiltinIssuer`]), for development and the README demo:
//!   an Ed25519 key in the data directory that signs tokens the verifier trusts via
//!   [`BuiltinIssuer::trusted`];
//! - **API keys** (`X-Api-Key: kzn_<id>_<secret>`) for machines, stored as
//!   [`kizuna_consent::ApiKeyRecord`]s holding only the secret's SHA-256.
//!
//! No credentials at all is [`Identity::anonymous`]. [`credentials`] reads the headers.
//!
//! ```
//! use std::time::Duration;
//! use kizuna_auth::{BuiltinIssuer, TokenRequest, Verifier};
//! use kizuna_consent::Role;
//!
//! let issuer = BuiltinIssuer::ephemeral()?;
//! let verifier = Verifier::new(vec![issuer.trusted()])?;
//! let token = issuer.issue(&TokenRequest {
//!     tenant: "maebashi".into(),
//!     party: None,
//!     role: Role::Citizen,
//!     subject: Some("urn:ngsi-ld:Person:hanako".into()),
//!     purpose: None,
//!     ttl: Duration::from_secs(3600),
//! })?;
//! let id = verifier.verify(&token)?;
//! assert_eq!(id.subject.as_deref(), Some("urn:ngsi-ld:Person:hanako"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Token claims: the contract with identity providers
//! A token is a JWS-signed JWT (RS256, RS384, RS512, PS256, ES256, ES384 or EdDSA; never
//! `none` or HS*) whose header's `kid` names a key of the issuer's JWK Set (it may be
//! omitted if the set has one key). Its claims:
//!
//! | claim | | meaning |
//! |---|---|---|
//! | `iss` | required | the issuer, exactly as configured in [`TrustedIssuer::issuer`] |
//! | `aud` | required | must be (or contain) the issuer's configured [`TrustedIssuer::audience`] |
//! | `exp` | required | expiry, seconds since the epoch; 30 s leeway ([`LEEWAY_SECS`]) |
//! | `nbf` | optional | not before, enforced with the same leeway |
//! | `iat` | optional | issued at (a number if present; not otherwise checked) |
//! | `sub` | required | the party's URN, or for citizens the person's URN |
//! | `tenant` | required | the tenant (a string; `""` is the default tenant) |
//! | `role` | required | `tenant-admin`, `data-holder`, `service-provider` or `citizen` (`anonymous` is refused: send no token) |
//! | `party` | optional | the party's URN; default `sub` |
//! | `subject` | optional | citizens only: the person's URN as data subject; default `sub` (ignored for other roles) |
//! | `purpose` | optional | the default purpose of use (e.g. `healthcare`) |
//!
//! Optional string claims, if present, must be non-empty strings. Any failure is an
//! [`AuthError`] naming the claim; no message contains the token. Other claims are
//! ignored. Registered purposes and the recipient kind are **not** token claims: they
//! come from the tenant's party registry.
//!
//! # Layout
//! - `identity.rs`: [`Identity`], [`Via`];
//! - `headers.rs`: [`credentials`] → [`Credentials`] (`Authorization: Bearer`,
//!   `X-Api-Key`);
//! - `jwt.rs`: [`Verifier`], [`TrustedIssuer`], [`KeySource`] — the verification rules,
//!   key selection, rotation (its module docs);
//! - `jwks.rs`: JWK Set → verification keys (which keys are usable), file and URL loading;
//! - `builtin.rs`: [`BuiltinIssuer`], [`TokenRequest`];
//! - `apikey.rs`: [`generate_api_key`], [`parse_api_key`], [`check_api_key`],
//!   [`authenticate_api_key`];
//! - `error.rs`: [`AuthError`] (with its HTTP status), [`IssueError`].
//!
//! **Invariant:** no secret (token, API key, private key) ever appears in an error
//! message or a `Debug` output.

#![warn(missing_docs)]

pub mod apikey;
pub mod builtin;
pub mod error;
pub mod headers;
pub mod identity;
pub mod jwks;
pub mod jwt;

pub use apikey::{authenticate_api_key, check_api_key, generate_api_key, parse_api_key, API_KEY_PREFIX};
pub use builtin::{BuiltinIssuer, TokenRequest, BUILTIN_AUDIENCE, BUILTIN_ISSUER, KEY_FILE};
pub use error::{clip, AuthError, IssueError};
pub use headers::{credentials, Credentials, API_KEY_HEADER};
pub use identity::{Identity, Via};
pub use jsonwebtoken::jwk::JwkSet;
pub use jwks::{FETCH_TIMEOUT, MAX_JWKS_BYTES};
pub use jwt::{
    KeySource, TrustedIssuer, Verifier, ACCEPTED_ALGORITHMS, DEFAULT_REFRESH_INTERVAL, LEEWAY_SECS, MAX_TOKEN_BYTES,
};
