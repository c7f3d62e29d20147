//! The tenant admin's policy API, under `/kizuna/v1` beside the retention routes: what
//! is personal ([`Classification`]), who the parties are, their API keys, consents
//! recorded by staff, and the tenant's access log with its verification.
//!
//! Every handler takes the [`Access`] extractor and requires role `tenant-admin`
//! ([`require_admin`]): anonymous → 401, other roles → 403. Writes go through
//! [`ApiState::write_unguarded`] (the caller has been checked here); each policy
//! write drops the tenant's cached policy before it is answered (see `kizuna-store`),
//! so the next decision sees it.
//!
//! # Layout
//! - classification: [`get_classification`], [`put_classification`];
//! - parties: [`list_parties`], [`put_party`], [`delete_party`];
//! - API keys: [`create_api_key`], [`list_api_keys`], [`revoke_api_key`];
//! - consents recorded by staff: [`create_consent`], [`list_consents`],
//!   [`withdraw_consent`] (shared with the citizen API: [`withdraw`]);
//! - the access log: [`audit_page`], [`audit_verify`].

use std::collections::{BTreeMap, BTreeSet};

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use kizuna_api_ngsild::access::Access;
use kizuna_api_ngsild::{ApiError, ApiState};
use kizuna_consent::{
    ApiKeyRecord, Category, Classification, ConsentMethod, ConsentRecord, LegalBasis, Party, PersonalType, Purpose,
    RecipientKind, Role, DATA_SUBJECT, GENESIS_HASH,
};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::common::{
    bad_field, conflict, context, expand_names, generated_id, is_uri, json, not_found, parse_body, record_error,
    require_admin, to_value, Params,
};

// ---------------------------------------------------------------------------------
// Classification

/// `GET /kizuna/v1/classification` — the tenant's classification, with expanded IRIs
/// (the serde JSON of [`Classification`]).
pub(crate) async fn get_classification(State(st): State<ApiState>, access: Access) -> Result<Response, ApiError> {
    require_admin(&access)?;
    let tenant = access.tenant().to_string();
    let c = st.read(move |s| s.classification(&tenant)).await?;
    Ok(json(StatusCode::OK, to_value(&c)?))
}

/// The body of `PUT /classification`: short names, expanded with the request's context.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClassificationBody {
    #[serde(default)]
    personal: BTreeMap<String, PersonalBody>,
    #[serde(default)]
    public: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PersonalBody {
    category: Category,
    #[serde(default, alias = "subject_relationship")]
    subject_relationship: Option<String>,
}

/// `PUT /kizuna/v1/classification` — replaces the tenant's classification:
/// `{"personal": {"BloodPressure": {"category": "health", "subjectRelationship":
/// "dataSubject"}}, "public": ["Shelter"]}`. Names are expanded with the core context or
/// the `Link` header's; `subjectRelationship` defaults to `dataSubject`. A type cannot be
/// both personal and public. Answers 200 with the stored classification.
pub(crate) async fn put_classification(
    State(st): State<ApiState>,
    access: Access,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    require_admin(&access)?;
    let b: ClassificationBody = parse_body(&headers, &body)?;
    let ctx = context(&st, &headers).await?;
    let mut c = Classification::new();
    for (name, p) in &b.personal {
        let field = format!("personal.{name}");
        kizuna_ngsild::entity::validate_attr_name(name).map_err(|e| bad_field(&field, e.detail))?;
        if p.category.as_str().trim().is_empty() {
            return Err(bad_field(&format!("{field}.category"), "must not be empty"));
        }
        let rel = match &p.subject_relationship {
            None => DATA_SUBJECT.to_string(),
            Some(r) => {
                let field = format!("{field}.subjectRelationship");
                kizuna_ngsild::entity::validate_attr_name(r).map_err(|e| bad_field(&field, e.detail))?;
                ctx.expand(r)
            }
        };
        c.personal.insert(ctx.expand(name), PersonalType { category: p.category.clone(), subject_relationship: rel });
    }
    let public: BTreeSet<String> = expand_names(&ctx, "public", &b.public)?.into_iter().collect();
    if let Some(both) = public.iter().find(|t| c.personal.contains_key(*t)) {
        return Err(bad_field("public", format!("'{}' is classified personal as well", ctx.compact(both))));
    }
    c.public = public;
    let tenant = access.tenant().to_string();
    st.write_unguarded(&tenant, move |tx| Ok(tx.set_classification(&c)?)).await?;
    let tenant = access.tenant().to_string();
    let stored = st.read(move |s| s.classification(&tenant)).await?;
    Ok(json(StatusCode::OK, to_value(&stored)?))
}

// ---------------------------------------------------------------------------------
// Parties

/// `GET /kizuna/v1/parties` — the tenant's party registry, in id order.
pub(crate) async fn list_parties(State(st): State<ApiState>, access: Access) -> Result<Response, ApiError> {
    require_admin(&access)?;
    let tenant = access.tenant().to_string();
    let parties = st.read(move |s| s.parties(&tenant)).await?;
    Ok(json(StatusCode::OK, to_value(&parties)?))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PartyBody {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    roles: Vec<Role>,
    #[serde(default, alias = "registered_purposes")]
    registered_purposes: Vec<Purpose>,
    #[serde(default, alias = "recipient_kind")]
    recipient_kind: Option<RecipientKind>,
}

/// `PUT /kizuna/v1/parties/{id}` — registers (201) or replaces (200) a party:
/// `{"name", "roles", "registeredPurposes", "recipientKind"}`. The id must be a URI;
/// `name` and at least one role (not `anonymous`) are required.
pub(crate) async fn put_party(
    State(st): State<ApiState>,
    access: Access,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    require_admin(&access)?;
    if !is_uri(&id) {
        return Err(bad_field("id", format!("the party id '{id}' is not a URI")));
    }
    let b: PartyBody = parse_body(&headers, &body)?;
    if b.id.as_ref().is_some_and(|bid| bid != &id) {
        return Err(bad_field("id", "differs from the id in the URL"));
    }
    if b.name.trim().is_empty() {
        return Err(bad_field("name", "must not be empty"));
    }
    if b.roles.is_empty() {
        return Err(bad_field("roles", "must name at least one role"));
    }
    if b.roles.contains(&Role::Anonymous) {
        return Err(bad_field("roles", "a party cannot act as anonymous"));
    }
    if let Some(i) = b.registered_purposes.iter().position(|p| p.as_str().trim().is_empty()) {
        return Err(bad_field(&format!("registeredPurposes[{i}]"), "must not be empty"));
    }
    if b.recipient_kind.as_ref().is_some_and(|k| k.as_str().trim().is_empty()) {
        return Err(bad_field("recipientKind", "must not be empty"));
    }
    let mut roles = b.roles;
    roles.sort();
    roles.dedup();
    let party = Party {
        id: id.clone(),
        name: b.name.trim().to_string(),
        roles,
        registered_purposes: b.registered_purposes,
        recipient_kind: b.recipient_kind,
    };
    let tenant = access.tenant().to_string();
    let lookup = id.clone();
    let existed = st.read(move |s| s.party(&tenant, &lookup)).await?.is_some();
    let stored = party.clone();
    st.write_unguarded(access.tenant(), move |tx| Ok(tx.put_party(&stored)?)).await?;
    let status = if existed { StatusCode::OK } else { StatusCode::CREATED };
    Ok(json(status, to_value(&party)?))
}

/// `DELETE /kizuna/v1/parties/{id}` — removes a party from the registry (204, or 404).
/// Its consents and API keys stay (revoke keys with `DELETE /api-keys/{id}`).
pub(crate) async fn delete_party(
    State(st): State<ApiState>,
    access: Access,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    require_admin(&access)?;
    let lookup = id.clone();
    let removed = st.write_unguarded(access.tenant(), move |tx| Ok(tx.delete_party(&lookup)?)).await?;
    if removed {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(not_found(format!("party '{id}' not found")))
    }
}

// ---------------------------------------------------------------------------------
// API keys

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiKeyBody {
    #[serde(default)]
    party: String,
    role: Role,
    #[serde(default)]
    label: String,
}

/// An API key record as shown: never the secret or its hash.
fn key_view(k: &ApiKeyRecord) -> Value {
    json!({
        "id": k.id,
        "party": k.party,
        "role": k.role,
        "label": k.label,
        "createdAt": k.created_at,
        "revokedAt": k.revoked_at,
    })
}

/// `POST /kizuna/v1/api-keys` `{"party", "role", "label"}` — a new API key for a
/// registered party in one of its roles: 201 `{"id", "key", "party", "role", "label",
/// "createdAt"}`; the plaintext `key` is shown only in this answer.
pub(crate) async fn create_api_key(
    State(st): State<ApiState>,
    access: Access,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    require_admin(&access)?;
    let b: ApiKeyBody = parse_body(&headers, &body)?;
    if b.party.is_empty() {
        return Err(bad_field("party", "must not be empty"));
    }
    if b.role == Role::Anonymous {
        return Err(bad_field("role", "an API key cannot act as anonymous"));
    }
    let party = access
        .policy
        .parties
        .get(&b.party)
        .ok_or_else(|| bad_field("party", format!("'{}' is not a registered party of this tenant", b.party)))?;
    if !party.roles.contains(&b.role) {
        return Err(bad_field("role", format!("party '{}' is not registered for role {}", b.party, b.role)));
    }
    let (key, record) = kizuna_auth::generate_api_key(access.tenant(), &b.party, b.role, &b.label, Utc::now())
        .map_err(|e| {
            ApiError::Ngsi(kizuna_ngsild::NgsiError::new(
                kizuna_ngsild::ErrorKind::InternalError,
                format!("the API key could not be generated: {e}"),
            ))
        })?;
    let stored = record.clone();
    let fresh = st.write_unguarded(access.tenant(), move |tx| Ok(tx.put_api_key(&stored)?)).await?;
    if !fresh {
        return Err(conflict("a key with this id exists already: try again"));
    }
    let mut view = key_view(&record);
    if let Some(o) = view.as_object_mut() {
        o.insert("key".into(), Value::String(key));
        o.remove("revokedAt");
    }
    Ok(json(StatusCode::CREATED, view))
}

/// `GET /kizuna/v1/api-keys` — the tenant's API keys (revoked ones included), without
/// secrets.
pub(crate) async fn list_api_keys(State(st): State<ApiState>, access: Access) -> Result<Response, ApiError> {
    require_admin(&access)?;
    let tenant = access.tenant().to_string();
    let keys = st.read(move |s| s.api_keys(&tenant)).await?;
    Ok(json(StatusCode::OK, Value::Array(keys.iter().map(key_view).collect())))
}

/// `DELETE /kizuna/v1/api-keys/{id}` — revokes a key: 204 (also if it was revoked
/// already), 404 if the tenant has no such key.
pub(crate) async fn revoke_api_key(
    State(st): State<ApiState>,
    access: Access,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    require_admin(&access)?;
    let lookup = id.clone();
    let existing = st.read(move |s| s.api_key(&lookup)).await?.filter(|k| k.tenant == access.tenant());
    let Some(existing) = existing else {
        return Err(not_found(format!("API key '{id}' not found")));
    };
    if existing.revoked_at.is_none() {
        st.write_unguarded(access.tenant(), move |tx| Ok(tx.revoke_api_key(&id, Utc::now())?)).await?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------------------------
// Consents recorded by staff

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StaffConsentBody {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    recipient: String,
    #[serde(default)]
    purposes: Vec<Purpose>,
    #[serde(default)]
    categories: Vec<Category>,
    #[serde(default)]
    types: Vec<String>,
    #[serde(default)]
    attributes: Vec<String>,
    #[serde(default, alias = "legal_basis")]
    legal_basis: Option<LegalBasis>,
    #[serde(default, alias = "notice_version")]
    notice_version: String,
    #[serde(default)]
    method: Option<ConsentMethod>,
    #[serde(default, alias = "granted_at")]
    granted_at: Option<DateTime<Utc>>,
    #[serde(default, alias = "expires_at")]
    expires_at: Option<DateTime<Utc>>,
    #[serde(default, alias = "withdrawn_at")]
    withdrawn_at: Option<DateTime<Utc>>,
}

/// Checks the parts of a consent both APIs share: the recipient is a registered party,
/// purposes and categories are not blank.
pub(crate) fn check_consent_parts(access: &Access, c: &ConsentRecord) -> Result<(), ApiError> {
    if !c.recipient.is_empty() && !access.policy.parties.contains_key(&c.recipient) {
        return Err(bad_field("recipient", format!("'{}' is not a registered party of this tenant", c.recipient)));
    }
    if let Some(i) = c.purposes.iter().position(|p| p.as_str().trim().is_empty()) {
        return Err(bad_field(&format!("purposes[{i}]"), "must not be empty"));
    }
    if let Some(i) = c.categories.iter().position(|p| p.as_str().trim().is_empty()) {
        return Err(bad_field(&format!("categories[{i}]"), "must not be empty"));
    }
    c.validate().map_err(record_error)
}

/// `POST /kizuna/v1/consents` — staff record a consent given at the counter or on
/// paper: every [`ConsentRecord`] field but `controller` (the tenant); `id` defaults to
/// `urn:kizuna:consent:<uuid>`, `grantedAt` to now, `legalBasis` to `consent`; `method`
/// is `counter` or `paper`; `types` and `attributes` are short names. 201 with the
/// record; 409 if the id is taken.
pub(crate) async fn create_consent(
    State(st): State<ApiState>,
    access: Access,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    require_admin(&access)?;
    let b: StaffConsentBody = parse_body(&headers, &body)?;
    let ctx = context(&st, &headers).await?;
    let method = match b.method {
        Some(m @ (ConsentMethod::Counter | ConsentMethod::Paper)) => m,
        Some(ConsentMethod::App) => {
            return Err(bad_field("method", "staff record consents given at the counter or on paper (counter|paper)"))
        }
        None => return Err(bad_field("method", "is required: counter or paper")),
    };
    if !b.subject.is_empty() && !is_uri(&b.subject) {
        return Err(bad_field("subject", "must be a URI (the person's URN)"));
    }
    let id = b.id.unwrap_or_else(|| generated_id("consent"));
    if !is_uri(&id) {
        return Err(bad_field("id", "must be a URI"));
    }
    let record = ConsentRecord {
        id: id.clone(),
        subject: b.subject,
        controller: access.tenant().to_string(),
        recipient: b.recipient,
        purposes: b.purposes,
        categories: b.categories,
        types: expand_names(&ctx, "types", &b.types)?,
        attributes: expand_names(&ctx, "attributes", &b.attributes)?,
        legal_basis: b.legal_basis.unwrap_or(LegalBasis::Consent),
        notice_version: b.notice_version,
        method,
        granted_at: b.granted_at.unwrap_or_else(Utc::now),
        expires_at: b.expires_at,
        withdrawn_at: b.withdrawn_at,
        given_by: None,
        withdrawn_by: None,
    };
    check_consent_parts(&access, &record)?;
    let tenant = access.tenant().to_string();
    let lookup = id.clone();
    if st.read(move |s| s.consent(&tenant, &lookup)).await?.is_some() {
        return Err(conflict(format!("a consent with id '{id}' exists already")));
    }
    let stored = record.clone();
    st.write_unguarded(access.tenant(), move |tx| Ok(tx.put_consent(&stored)?)).await?;
    Ok(json(StatusCode::CREATED, to_value(&record)?))
}

/// `GET /kizuna/v1/consents?subject=...` or `?recipient=...` — the consents of one
/// person or naming one recipient (exactly one of the two), in id order.
pub(crate) async fn list_consents(
    State(st): State<ApiState>,
    access: Access,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    require_admin(&access)?;
    let params = Params::new(q, &["subject", "recipient"])?;
    let tenant = access.tenant().to_string();
    let records = match (params.get("subject"), params.get("recipient")) {
        (Some(s), None) => {
            let s = s.to_string();
            st.read(move |st| st.consents_of(&tenant, &s)).await?
        }
        (None, Some(r)) => {
            let r = r.to_string();
            st.read(move |st| st.consents_by_recipient(&tenant, &r)).await?
        }
        _ => return Err(bad_field("subject", "give exactly one of the query parameters 'subject' and 'recipient'")),
    };
    Ok(json(StatusCode::OK, to_value(&records)?))
}

/// `POST /kizuna/v1/consents/{id}/withdraw` — records the withdrawal of any consent of
/// the tenant (a person withdrawing at the counter): 200 with the record, 404 if unknown.
pub(crate) async fn withdraw_consent(
    State(st): State<ApiState>,
    access: Access,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    require_admin(&access)?;
    let record = withdraw(&st, &access, &id, None, None).await?;
    Ok(json(StatusCode::OK, to_value(&record)?))
}

/// Withdraws consent `id` of the caller's tenant (only if its subject is `subject`, when
/// given; otherwise it answers as missing). Already withdrawn: returned as it is.
pub(crate) async fn withdraw(
    st: &ApiState,
    access: &Access,
    id: &str,
    subject: Option<&str>,
    by: Option<String>,
) -> Result<ConsentRecord, ApiError> {
    let tenant = access.tenant().to_string();
    let lookup = id.to_string();
    let found = st
        .read(move |s| s.consent(&tenant, &lookup))
        .await?
        .filter(|c| subject.is_none_or(|s| c.subject == s))
        .ok_or_else(|| not_found(format!("consent '{id}' not found")))?;
    if found.withdrawn_at.is_some() {
        return Ok(found);
    }
    let mut record = found;
    record.withdrawn_at = Some(Utc::now());
    record.withdrawn_by = by;
    let stored = record.clone();
    st.write_unguarded(access.tenant(), move |tx| Ok(tx.put_consent(&stored)?)).await?;
    Ok(record)
}

// ---------------------------------------------------------------------------------
// The access log

/// `GET /kizuna/v1/audit?after=SEQ&limit=N` — one page of the tenant's audit chain in
/// `seq` order: `{"records": [...], "next": SEQ|null}`.
pub(crate) async fn audit_page(
    State(st): State<ApiState>,
    access: Access,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    require_admin(&access)?;
    let page = Params::new(q, &["after", "limit"])?.page(100, st.config.max_limit.max(1))?;
    let tenant = access.tenant().to_string();
    let records = st.read(move |s| s.audit_page(&tenant, page.after, page.limit)).await?;
    let next = page.next(records.len(), records.last().map(|r| r.seq));
    Ok(json(StatusCode::OK, json!({"records": to_value(&records)?, "next": next})))
}

/// `GET /kizuna/v1/audit/verify` — verifies every tenant's chain against its stored
/// head; reports whether the whole log verifies, the caller's tenant line (records,
/// head hash), and the fault in detail only if it is in the caller's tenant.
pub(crate) async fn audit_verify(State(st): State<ApiState>, access: Access) -> Result<Response, ApiError> {
    require_admin(&access)?;
    let report = st.read(|s| s.verify_audit()).await?;
    let tenant = access.tenant();
    let line = report.tenants.iter().find(|(t, _, _)| t == tenant);
    let tenants = match line {
        Some((t, n, head)) => vec![json!({"tenant": t, "records": n, "head": head})],
        // Every chain verified and this tenant has none yet.
        None if report.is_ok() => vec![json!({"tenant": tenant, "records": 0, "head": GENESIS_HASH})],
        None => Vec::new(),
    };
    let fault = match &report.fault {
        None => Value::Null,
        Some(f) if f.tenant == tenant => json!({
            "tenant": f.tenant,
            "seq": f.seq,
            "index": f.index,
            "reason": to_value(&f.reason)?,
            "detail": f.to_string(),
        }),
        Some(_) => json!({"tenant": null, "detail": "the audit chain of another tenant does not verify"}),
    };
    Ok(json(StatusCode::OK, json!({"ok": report.is_ok(), "tenants": tenants, "fault": fault})))
}
