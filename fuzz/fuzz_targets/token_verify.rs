//! Fuzzes token verification and credential parsing, the first code any request from
//! the internet reaches: any bytes as a bearer token, an `Authorization` header or an
//! API key must be refused (or, for the one valid token seeded in the corpus, accepted)
//! without panicking, and no refusal message may contain the input.

#![no_main]

use std::sync::OnceLock;

use http::{HeaderMap, HeaderValue};
use kizuna_auth::{credentials, parse_api_key, BuiltinIssuer, Verifier};
use libfuzzer_sys::fuzz_target;

fn verifier() -> &'static Verifier {
    static V: OnceLock<Verifier> = OnceLock::new();
    V.get_or_init(|| {
        let issuer = BuiltinIssuer::ephemeral().expect("an ephemeral issuer");
        Verifier::new(vec![issuer.trusted()]).expect("a verifier")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Err(e) = verifier().verify(text) {
        let msg = e.to_string();
        // A token-shaped input (dotted, long) must never come back verbatim. (Short or
        // undotted inputs can be substrings of the fixed messages themselves.)
        let token_like = text.len() >= 24 && text.contains('.');
        assert!(!token_like || !msg.contains(text), "the refusal echoes the token");
    }
    let _ = parse_api_key(text);
    if let Ok(v) = HeaderValue::from_bytes(data) {
        let mut h = HeaderMap::new();
        h.insert(http::header::AUTHORIZATION, v.clone());
        let _ = credentials(&h);
        let mut h = HeaderMap::new();
        h.insert("x-api-key", v);
        let _ = credentials(&h);
    }
});
