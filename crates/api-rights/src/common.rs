//! What every handler of this crate shares: role checks, request bodies (JSON, with
//! errors naming the member at fault), the `@context` of short names, paging
//! parameters, record validation messages and JSON responses.
//!
//! # Layout
//! - callers: [`require_admin`], [`require_recorder`], [`require_citizen`] (the
//!   [`Principal`] of a `/me` request: the effective subject, possibly a ward named by
//!   [`ON_BEHALF_OF`]);
//! - errors: [`bad_field`], [`bad_data`], [`not_found`], [`conflict`], [`record_error`];
//! - bodies: [`parse_body`] (content type, JSON, `serde_path_to_error`), [`context`]
//!   (the `Link` header's user context, else the core context), [`expand_names`];
//! - queries: [`Params`] (unknown parameters rejected), [`Page`];
//! - answers: [`json`], [`to_value`], [`generated_id`], [`is_uri`].

use std::collections::BTreeMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::Query;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use kizuna_api_ngsild::access::Access;
use kizuna_api_ngsild::{ApiError, ApiState};
use kizuna_consent::{RecordError, Role};
use kizuna_ngsild::{Context, ErrorKind, NgsiError};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Checks that the caller is the tenant admin: anonymous → 401, any other role → 403.
pub(crate) fn require_admin(access: &Access) -> Result<(), ApiError> {
    match access.request.caller.role {
        Role::TenantAdmin => Ok(()),
        Role::Anonymous => Err(ApiError::Unauthorized("the policy API requires tenant-admin credentials".into())),
        other => Err(ApiError::Forbidden(format!("the policy API is for role tenant-admin, not {other}"))),
    }
}

/// Checks that the caller may keep records of standing (guardianships): the tenant admin
/// or a data holder (the municipality's maternal and child health section, recording
/// from 出生届 or 母子健康手帳): anonymous → 401, any other role → 403.
pub(crate) fn require_recorder(access: &Access, what: &str) -> Result<(), ApiError> {
    match access.request.caller.role {
        Role::TenantAdmin | Role::DataHolder => Ok(()),
        Role::Anonymous => {
            Err(ApiError::Unauthorized(format!("{what} requires tenant-admin or data-holder credentials")))
        }
        other => Err(ApiError::Forbidden(format!("{what} is for roles tenant-admin and data-holder, not {other}"))),
    }
}

/// The request header naming the ward a guardian acts for under `/me`.
pub(crate) const ON_BEHALF_OF: &str = "Kizuna-On-Behalf-Of";

/// Whose data a `/me` request is about, and who makes it ([`require_citizen`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Principal {
    /// The effective data subject: the caller's own, or the ward named by
    /// [`ON_BEHALF_OF`]. Everything read or changed is scoped to it.
    pub subject: String,
    /// The caller's own data subject (the guardian when acting for a ward).
    pub actor: String,
    /// The guardianship in force the caller acts under; `None` when acting for oneself.
    pub guardianship: Option<String>,
}

impl Principal {
    /// Who gave a record on the subject's behalf: the guardian, `None` for the subject.
    pub(crate) fn given_by(&self) -> Option<String> {
        self.guardianship.as_ref().map(|_| self.actor.clone())
    }

    /// The members a JSON answer adds when a guardian acts: `actor` and `guardianship`.
    pub(crate) fn acting(&self) -> Option<Value> {
        self.guardianship.as_ref().map(|g| serde_json::json!({"actor": self.actor, "guardianship": g}))
    }
}

/// Checks that the caller is a citizen with a data subject and resolves whose data the
/// request is about: anonymous → 401, any other role (or a citizen without subject) →
/// 403, whatever the headers say.
///
/// Without a [`ON_BEHALF_OF`] header (or with the caller's own subject in it) the
/// caller acts for themself. With a ward's data-subject URI in it, the caller acts for
/// that ward if a guardianship of this tenant with the caller as guardian and that
/// ward is in force now (the tenant's policy, as the decision point's rule 4b reads
/// it); otherwise 403 naming the header and the ward. A value that is not one URI →
/// 400 naming the header.
pub(crate) fn require_citizen(access: &Access, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let caller = &access.request.caller;
    let me = match caller.role {
        Role::Citizen => caller
            .subject
            .clone()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ApiError::Forbidden("the credentials name no data subject".into()))?,
        Role::Anonymous => return Err(ApiError::Unauthorized("the citizen API requires citizen credentials".into())),
        other => return Err(ApiError::Forbidden(format!("the citizen API is for role citizen, not {other}"))),
    };
    let Some(ward) = on_behalf_of(headers)? else {
        return Ok(Principal { subject: me.clone(), actor: me, guardianship: None });
    };
    if ward == me {
        return Ok(Principal { subject: me.clone(), actor: me, guardianship: None });
    }
    let now = chrono::Utc::now();
    let tenant = access.tenant();
    // The guardianship the decision point's rule 4b finds, so the one named here is the
    // basis its audit records give.
    let guardianship = access
        .policy
        .snapshot_for(Some(&ward))
        .guardianship(tenant, &me, &ward, now)
        .map(|g| g.id.clone())
        .ok_or_else(|| ApiError::Forbidden(format!("{ON_BEHALF_OF}: no guardianship in force over {ward}")))?;
    Ok(Principal { subject: ward, actor: me, guardianship: Some(guardianship) })
}

/// The ward named by the [`ON_BEHALF_OF`] header, if given: one value, an absolute URI.
fn on_behalf_of(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let mut values = headers.get_all(ON_BEHALF_OF).iter();
    let Some(v) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(bad_field(ON_BEHALF_OF, "the header is given more than once: name one ward"));
    }
    let ward = v
        .to_str()
        .map_err(|_| bad_field(ON_BEHALF_OF, "the header is not ASCII: it must be the ward's data-subject URI"))?
        .trim();
    if ward.is_empty() {
        return Err(bad_field(ON_BEHALF_OF, "the header is empty: it must be the ward's data-subject URI"));
    }
    if !is_uri(ward) {
        return Err(bad_field(ON_BEHALF_OF, format!("'{ward}' is not a URI (the ward's data-subject URN)")));
    }
    Ok(Some(ward.to_string()))
}

/// `BadRequestData` naming `field`.
pub(crate) fn bad_field(field: &str, detail: impl std::fmt::Display) -> ApiError {
    bad_data(format!("'{field}': {detail}"))
}

/// `BadRequestData`.
pub(crate) fn bad_data(detail: impl Into<String>) -> ApiError {
    ApiError::Ngsi(NgsiError::bad_data(detail))
}

/// `ResourceNotFound` (404).
pub(crate) fn not_found(detail: impl Into<String>) -> ApiError {
    ApiError::Ngsi(NgsiError::not_found(detail))
}

/// `AlreadyExists` (409).
pub(crate) fn conflict(detail: impl Into<String>) -> ApiError {
    ApiError::Ngsi(NgsiError::new(ErrorKind::AlreadyExists, detail))
}

/// A record that cannot be valid, as a 400 naming the field as the request body spells it.
pub(crate) fn record_error(e: RecordError) -> ApiError {
    match e {
        RecordError::Empty { field, .. } => bad_field(&camel(field), "must not be empty"),
        RecordError::ExpiresBeforeGranted { .. } => bad_field("expiresAt", "must be after grantedAt"),
    }
}

/// `notice_version` → `noticeVersion` (names with spaces are left as they are).
pub(crate) fn camel(snake: &str) -> String {
    if snake.contains(' ') {
        return snake.to_string();
    }
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Parses a JSON request body into `T`: the content type must be JSON (absent is
/// accepted), the body valid JSON, and the members those of `T`; errors name the member
/// at fault (`'purposes[0]': invalid type ...`, `unknown field 'foo'`).
pub(crate) fn parse_body<T: DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Result<T, ApiError> {
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("").split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if ct != "application/json" && ct != "application/ld+json" {
            return Err(ApiError::UnsupportedMediaType(format!(
                "Content-Type '{ct}' is not supported: use application/json"
            )));
        }
    }
    if body.is_empty() {
        return Err(bad_data("the request body is empty: a JSON object is expected"));
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let msg = inner.to_string().replace('`', "'");
        if inner.is_syntax() || inner.is_eof() {
            ApiError::Ngsi(NgsiError::invalid(format!("the request body is not valid JSON: {msg}")))
        } else if path == "." || path.is_empty() {
            bad_data(msg)
        } else {
            bad_field(&path, msg)
        }
    })
}

/// The active context of a request: the user context named by a JSON-LD `Link`
/// header, resolved by the server's context store, or the core context.
pub(crate) async fn context(st: &ApiState, headers: &HeaderMap) -> Result<Context, ApiError> {
    let url = kizuna_api_ngsild::link_context(headers)?;
    let user = url.map(Value::String);
    st.contexts.resolve(user.as_ref()).await
}

/// Expands short names (types, attributes) of the body member `field` with `ctx`,
/// rejecting names NGSI-LD forbids.
pub(crate) fn expand_names(ctx: &Context, field: &str, names: &[String]) -> Result<Vec<String>, ApiError> {
    names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            kizuna_ngsild::entity::validate_attr_name(n).map_err(|e| bad_field(&format!("{field}[{i}]"), e.detail))?;
            Ok(ctx.expand(n))
        })
        .collect()
}

/// Whether `s` is an absolute URI (`urn:...`, `https://...`).
pub(crate) fn is_uri(s: &str) -> bool {
    kizuna_ngsild::context::is_absolute_iri(s) && s.len() <= 2048
}

/// A new record id: `urn:kizuna:<kind>:<uuid>`.
pub(crate) fn generated_id(kind: &str) -> String {
    format!("urn:kizuna:{kind}:{}", uuid::Uuid::new_v4())
}

/// A JSON answer.
pub(crate) fn json(status: StatusCode, body: Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

/// Serializes a record type (cannot fail for the consent crate's types; a failure is
/// reported as an internal error rather than a panic).
pub(crate) fn to_value<T: serde::Serialize>(v: &T) -> Result<Value, ApiError> {
    serde_json::to_value(v).map_err(|e| {
        ApiError::Ngsi(kizuna_ngsild::NgsiError::new(kizuna_ngsild::ErrorKind::InternalError, e.to_string()))
    })
}

/// The query string of a request, each parameter at most once, unknown ones rejected.
pub(crate) struct Params(BTreeMap<String, String>);

impl Params {
    /// The parameters of `q`, rejecting any not in `allowed`.
    pub(crate) fn new(
        q: Result<Query<Vec<(String, String)>>, QueryRejection>,
        allowed: &[&str],
    ) -> Result<Params, ApiError> {
        let Query(pairs) = q.map_err(|e| bad_data(format!("the query string is malformed: {e}")))?;
        let mut out = BTreeMap::new();
        for (k, v) in pairs {
            if !allowed.contains(&k.as_str()) {
                return Err(bad_field(&k, format!("unknown query parameter (known: {})", allowed.join(", "))));
            }
            if out.insert(k.clone(), v).is_some() {
                return Err(bad_field(&k, "the query parameter is given more than once"));
            }
        }
        Ok(Params(out))
    }

    /// The value of `name`, if given.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// The paging parameters `after` (default 0) and `limit` (default `default`, at most
    /// `max`, at least 1).
    pub(crate) fn page(&self, default: usize, max: usize) -> Result<Page, ApiError> {
        let after = match self.get("after") {
            None => 0,
            Some(v) => v.parse::<u64>().map_err(|_| bad_field("after", "must be a non-negative integer"))?,
        };
        let limit = match self.get("limit") {
            None => default,
            Some(v) => v.parse::<usize>().map_err(|_| bad_field("limit", "must be a positive integer"))?,
        };
        if limit == 0 || limit > max {
            return Err(bad_field("limit", format!("must be between 1 and {max}")));
        }
        Ok(Page { after, limit })
    }
}

/// One page of a log: records with a sequence number above `after`, at most `limit`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Page {
    /// The last sequence number already seen.
    pub after: u64,
    /// Most records returned.
    pub limit: usize,
}

impl Page {
    /// The cursor of the next page: the last sequence number of a full page, else `null`.
    pub(crate) fn next(&self, returned: usize, last_seq: Option<u64>) -> Value {
        match last_seq {
            Some(s) if returned >= self.limit => Value::from(s),
            _ => Value::Null,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_case_of_record_fields() {
        assert_eq!(camel("notice_version"), "noticeVersion");
        assert_eq!(camel("recipient_kinds"), "recipientKinds");
        assert_eq!(camel("purposes"), "purposes");
        assert_eq!(camel("categories or types"), "categories or types");
    }

    #[test]
    fn body_errors_name_the_member() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct B {
            purposes: Vec<String>,
        }
        let h = HeaderMap::new();
        let e = parse_body::<B>(&h, br#"{"purposes": [1]}"#).unwrap_err();
        assert!(e.to_string().contains("'purposes[0]'"), "{e}");
        let e = parse_body::<B>(&h, br#"{"purposes": [], "x": 1}"#).unwrap_err();
        assert!(e.to_string().contains("'x'"), "{e}");
        let e = parse_body::<B>(&h, br#"{}"#).unwrap_err();
        assert!(e.to_string().contains("'purposes'"), "{e}");
    }
}
