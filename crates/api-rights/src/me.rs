//! The citizen's own API under `/me`: who am I, my data, my consents, my delegations to
//! the information bank, my usage stops, what the bank provided, and who saw my data.
//!
//! Every handler takes the [`Access`] extractor and requires role `citizen` with a data
//! subject ([`require_citizen`]): anonymous → 401, other roles → 403. Everything
//! answered or changed is scoped to the effective subject: the caller's own, or — with
//! the `Kizuna-On-Behalf-Of` header — a ward the caller is the guardian of by a
//! guardianship in force now (a parent managing a child's consents, as the legal
//! representative, 法定代理人, under APPI). Another person's consent or delegation answers
//! 404, as if it did not exist.
//!
//! A guardian acting for a ward: the records they create name them in `given_by`, the
//! consents and delegations they withdraw in `withdrawn_by`; their reads of the ward's
//! personal data (`/me/data`) are decided with the guardian as caller, so the access log
//! names the guardian as actor with basis `guardian:<id>`; a stop they lift (its record
//! is deleted) is logged with the guardianship id.
//!
//! # Layout
//! - [`profile`] (`GET /me`) and [`data`] (`GET /me/data`, decided and audited);
//! - consents: [`list_consents`], [`grant_consent`], [`withdraw_consent`];
//! - delegations: [`list_delegations`], [`create_delegation`], [`withdraw_delegation`];
//! - usage stops: [`list_usage_stops`], [`put_usage_stop`], [`delete_usage_stop`];
//! - logs: [`provisions`], [`access_log`] (with [`provision_view`], [`access_view`],
//!   also used by the export).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use kizuna_api_ngsild::access::{self, Access};
use kizuna_api_ngsild::{ApiError, ApiState};
use kizuna_consent::{
    AuditRecord, Category, Classified, ConsentMethod, ConsentRecord, Delegation, LegalBasis, ProvisionRecord, Purpose,
    RecipientKind, TenantPolicy, UsageStop,
};
use kizuna_ngsild::Context;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::admin::{check_consent_parts, withdraw};
use crate::common::{
    bad_field, context, expand_names, generated_id, is_uri, json, not_found, parse_body, record_error, require_citizen,
    to_value, Params, Principal,
};
use crate::mine;

/// `GET /me` — `{"subject", "tenant"}`: whom the credentials name; acting for a ward,
/// the ward, with `actor` (the guardian) and `guardianship` (its id).
pub(crate) async fn profile(access: Access, headers: HeaderMap) -> Result<Response, ApiError> {
    let me = require_citizen(&access, &headers)?;
    let mut body = json!({"subject": me.subject, "tenant": access.tenant()});
    if let (Some(o), Some(Value::Object(acting))) = (body.as_object_mut(), me.acting()) {
        o.extend(acting);
    }
    Ok(json(StatusCode::OK, body))
}

/// The caller's current personal entities (see [`mine::current`]).
pub(crate) async fn my_current(
    st: &ApiState,
    access: &Access,
    me: &str,
) -> Result<Vec<kizuna_ngsild::Entity>, ApiError> {
    let classification = Arc::new(access.policy.classification.clone());
    let tenant = access.tenant().to_string();
    let me = me.to_string();
    st.read(move |s| mine::current(s, &tenant, &classification, &me)).await
}

/// `GET /me/data` — my personal entities, grouped by category (`{"health": [...],
/// "location": [...]}`; an entity in several categories is listed under each), in
/// normalized NGSI-LD with the core context. Each read goes through the decision point
/// (basis `subject`, or `guardian:<id>` for a guardian acting for a ward, the guardian
/// as actor) and is appended to the access log like any other read.
pub(crate) async fn data(State(st): State<ApiState>, access: Access, headers: HeaderMap) -> Result<Response, ApiError> {
    let me = require_citizen(&access, &headers)?;
    let entities = my_current(&st, &access, &me.subject).await?;
    let ctx = Context::core();
    let now = Utc::now();
    let mut audits = Vec::new();
    let mut provisions = Vec::new();
    let mut groups: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for e in entities {
        let categories = match access.policy.classification.classify(&e) {
            Classified::Personal { categories, .. } => categories,
            _ => continue,
        };
        let v = access.decide(e, now);
        audits.extend(v.audit);
        provisions.extend(v.provision);
        if let Some(e) = v.released {
            let rendered = mine::render(&e, &ctx);
            for c in categories {
                groups.entry(c.as_str().to_string()).or_default().push(rendered.clone());
            }
        }
    }
    access::record(&st, access.tenant(), audits, provisions).await?;
    Ok(json(StatusCode::OK, to_value(&groups)?))
}

/// Logs a change a guardian made for a ward that leaves no record to name them (a lifted
/// usage stop is deleted): the guardianship id (which names both) and the record, no
/// personal data.
fn log_act(access: &Access, me: &Principal, what: &str, record: &str) {
    if let Some(g) = &me.guardianship {
        tracing::info!(tenant = %access.tenant(), guardianship = %g, record = %record, "{what} by a guardian for a ward");
    }
}

// ---------------------------------------------------------------------------------
// Consents

/// `GET /me/consents` — my consent records (withdrawn and expired ones included), in
/// id order.
pub(crate) async fn list_consents(
    State(st): State<ApiState>,
    access: Access,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let me = require_citizen(&access, &headers)?.subject;
    let tenant = access.tenant().to_string();
    let records = st.read(move |s| s.consents_of(&tenant, &me)).await?;
    Ok(json(StatusCode::OK, to_value(&records)?))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConsentBody {
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
    #[serde(default, alias = "notice_version")]
    notice_version: String,
    #[serde(default, alias = "expires_at")]
    expires_at: Option<DateTime<Utc>>,
}

/// `POST /me/consents` — I grant a consent in the app: `recipient` (a registered
/// party), `purposes`, `categories` and/or `types` (short names), optional `attributes`
/// (short names), `noticeVersion`, optional `expiresAt`. Method `app`, legal basis
/// `consent`, controller the tenant, subject me, granted now. 201 with the record.
/// A guardian granting for a ward: subject the ward, `given_by` the guardian.
pub(crate) async fn grant_consent(
    State(st): State<ApiState>,
    access: Access,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let me = require_citizen(&access, &headers)?;
    let b: ConsentBody = parse_body(&headers, &body)?;
    let ctx = context(&st, &headers).await?;
    let record = ConsentRecord {
        id: generated_id("consent"),
        subject: me.subject.clone(),
        controller: access.tenant().to_string(),
        recipient: b.recipient,
        purposes: b.purposes,
        categories: b.categories,
        types: expand_names(&ctx, "types", &b.types)?,
        attributes: expand_names(&ctx, "attributes", &b.attributes)?,
        legal_basis: LegalBasis::Consent,
        notice_version: b.notice_version,
        method: ConsentMethod::App,
        granted_at: Utc::now(),
        expires_at: b.expires_at,
        withdrawn_at: None,
        given_by: me.given_by(),
        withdrawn_by: None,
    };
    check_consent_parts(&access, &record)?;
    let stored = record.clone();
    st.write_unguarded(access.tenant(), move |tx| Ok(tx.put_consent(&stored)?)).await?;
    Ok(json(StatusCode::CREATED, to_value(&record)?))
}

/// `POST /me/consents/{id}/withdraw` — withdraws one of my consents (effective for the
/// next request of the recipient): 200 with the record; 404 if it is not mine.
pub(crate) async fn withdraw_consent(
    State(st): State<ApiState>,
    access: Access,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let me = require_citizen(&access, &headers)?;
    let record = withdraw(&st, &access, &id, Some(&me.subject), me.given_by()).await?;
    Ok(json(StatusCode::OK, to_value(&record)?))
}

// ---------------------------------------------------------------------------------
// Delegations (information-bank provision conditions)

/// `GET /me/delegations` — my provision conditions, in id order.
pub(crate) async fn list_delegations(
    State(st): State<ApiState>,
    access: Access,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let me = require_citizen(&access, &headers)?.subject;
    let tenant = access.tenant().to_string();
    let records = st.read(move |s| s.delegations_of(&tenant, &me)).await?;
    Ok(json(StatusCode::OK, to_value(&records)?))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DelegationBody {
    #[serde(default)]
    categories: Vec<Category>,
    #[serde(default, alias = "recipient_kinds")]
    recipient_kinds: Vec<RecipientKind>,
    #[serde(default)]
    purposes: Vec<Purpose>,
    #[serde(default, alias = "excluded_recipients")]
    excluded_recipients: Vec<String>,
    #[serde(default, alias = "notice_version")]
    notice_version: String,
    #[serde(default, alias = "expires_at")]
    expires_at: Option<DateTime<Utc>>,
}

/// `POST /me/delegations` — I let the information bank provide my data in
/// `categories` to recipients of `recipientKinds` for `purposes`, never to
/// `excludedRecipients`; `noticeVersion`, optional `expiresAt`. 201 with the record
/// (`given_by` the guardian when a guardian sets them for a ward).
pub(crate) async fn create_delegation(
    State(st): State<ApiState>,
    access: Access,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let me = require_citizen(&access, &headers)?;
    let b: DelegationBody = parse_body(&headers, &body)?;
    let blank = |name: &str, items: Vec<&str>| -> Result<(), ApiError> {
        match items.iter().position(|s| s.trim().is_empty()) {
            Some(i) => Err(bad_field(&format!("{name}[{i}]"), "must not be empty")),
            None => Ok(()),
        }
    };
    blank("categories", b.categories.iter().map(Category::as_str).collect())?;
    blank("recipientKinds", b.recipient_kinds.iter().map(RecipientKind::as_str).collect())?;
    blank("purposes", b.purposes.iter().map(Purpose::as_str).collect())?;
    if let Some(i) = b.excluded_recipients.iter().position(|r| !is_uri(r)) {
        return Err(bad_field(&format!("excludedRecipients[{i}]"), "must be a party URI"));
    }
    let record = Delegation {
        id: generated_id("delegation"),
        subject: me.subject.clone(),
        controller: access.tenant().to_string(),
        categories: b.categories,
        recipient_kinds: b.recipient_kinds,
        purposes: b.purposes,
        excluded_recipients: b.excluded_recipients,
        notice_version: b.notice_version,
        method: ConsentMethod::App,
        granted_at: Utc::now(),
        expires_at: b.expires_at,
        withdrawn_at: None,
        given_by: me.given_by(),
        withdrawn_by: None,
    };
    record.validate().map_err(record_error)?;
    let stored = record.clone();
    st.write_unguarded(access.tenant(), move |tx| Ok(tx.put_delegation(&stored)?)).await?;
    Ok(json(StatusCode::CREATED, to_value(&record)?))
}

/// `POST /me/delegations/{id}/withdraw` — withdraws one of my delegations: 200 with
/// the record; 404 if it is not mine.
pub(crate) async fn withdraw_delegation(
    State(st): State<ApiState>,
    access: Access,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let principal = require_citizen(&access, &headers)?;
    let me = principal.subject.clone();
    let tenant = access.tenant().to_string();
    let lookup = id.clone();
    let found = st
        .read(move |s| s.delegation(&tenant, &lookup))
        .await?
        .filter(|d| d.subject == me)
        .ok_or_else(|| not_found(format!("delegation '{id}' not found")))?;
    if found.withdrawn_at.is_some() {
        return Ok(json(StatusCode::OK, to_value(&found)?));
    }
    let mut record = found;
    record.withdrawn_at = Some(Utc::now());
    record.withdrawn_by = principal.given_by();
    let stored = record.clone();
    st.write_unguarded(access.tenant(), move |tx| Ok(tx.put_delegation(&stored)?)).await?;
    Ok(json(StatusCode::OK, to_value(&record)?))
}

// ---------------------------------------------------------------------------------
// Usage stops (利用停止)

/// `GET /me/usage-stops` — the recipients I have stopped, in recipient order.
pub(crate) async fn list_usage_stops(
    State(st): State<ApiState>,
    access: Access,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let me = require_citizen(&access, &headers)?.subject;
    let tenant = access.tenant().to_string();
    let records = st.read(move |s| s.usage_stops_of(&tenant, &me)).await?;
    Ok(json(StatusCode::OK, to_value(&records)?))
}

/// `PUT /me/usage-stops/{recipient}` — stops all use of my data by `recipient` (a party
/// URI, percent-encoded in the path), whatever consents or delegations say: 201 with the
/// record (`given_by` the guardian when a guardian stops it for a ward), or 200 with the
/// existing one if it was stopped already.
pub(crate) async fn put_usage_stop(
    State(st): State<ApiState>,
    access: Access,
    headers: HeaderMap,
    Path(recipient): Path<String>,
) -> Result<Response, ApiError> {
    let me = require_citizen(&access, &headers)?;
    if !is_uri(&recipient) {
        return Err(bad_field("recipient", format!("'{recipient}' is not a party URI")));
    }
    let tenant = access.tenant().to_string();
    let subject = me.subject.clone();
    let existing = st.read(move |s| s.usage_stops_of(&tenant, &subject)).await?;
    if let Some(s) = existing.into_iter().find(|s| s.recipient == recipient) {
        return Ok(json(StatusCode::OK, to_value(&s)?));
    }
    let stop = UsageStop {
        subject: me.subject.clone(),
        controller: access.tenant().to_string(),
        recipient,
        stopped_at: Utc::now(),
        given_by: me.given_by(),
    };
    let stored = stop.clone();
    st.write_unguarded(access.tenant(), move |tx| Ok(tx.put_usage_stop(&stored)?)).await?;
    Ok(json(StatusCode::CREATED, to_value(&stop)?))
}

/// `DELETE /me/usage-stops/{recipient}` — lifts my stop against `recipient`: 204, or
/// 404 if there was none.
pub(crate) async fn delete_usage_stop(
    State(st): State<ApiState>,
    access: Access,
    headers: HeaderMap,
    Path(recipient): Path<String>,
) -> Result<Response, ApiError> {
    let me = require_citizen(&access, &headers)?;
    let (subject, r) = (me.subject.clone(), recipient.clone());
    let lifted = st.write_unguarded(access.tenant(), move |tx| Ok(tx.delete_usage_stop(&subject, &r)?)).await?;
    if lifted {
        log_act(&access, &me, "usage stop lifted", &recipient);
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(not_found(format!("no usage stop against '{recipient}'")))
    }
}

// ---------------------------------------------------------------------------------
// Logs

/// The display name of a party of the registry, if it is registered.
fn party_name(policy: &TenantPolicy, id: &str) -> Value {
    policy.parties.get(id).map(|p| Value::String(p.name.clone())).unwrap_or(Value::Null)
}

/// A provision record as the citizen sees it: the record (its serde JSON) with its
/// `seq` and the recipient's display name (`recipient_name`).
pub(crate) fn provision_view(policy: &TenantPolicy, seq: i64, p: &ProvisionRecord) -> Result<Value, ApiError> {
    let mut v = to_value(p)?;
    if let Some(o) = v.as_object_mut() {
        o.insert("seq".into(), Value::from(seq));
        o.insert("recipient_name".into(), party_name(policy, &p.recipient));
    }
    Ok(v)
}

/// An audit record as the citizen sees it: who (`actor`, `actor_name`, `role`), why
/// (`purpose`), what (`resource`, `action`), the decision (`allowed`, `basis`, `reason`),
/// when (`at`) and its place in the log (`seq`).
pub(crate) fn access_view(policy: &TenantPolicy, r: &AuditRecord) -> Value {
    json!({
        "seq": r.seq,
        "at": r.at,
        "actor": r.actor,
        "actor_name": party_name(policy, &r.actor),
        "role": r.role,
        "purpose": r.purpose,
        "resource": r.resource,
        "action": r.action,
        "allowed": r.decision.allowed,
        "basis": r.decision.basis,
        "reason": r.decision.reason,
    })
}

/// `GET /me/provisions?after=&limit=` — what the information bank provided to whom
/// under my delegations, oldest first: `{"records": [...], "next": SEQ|null}`.
pub(crate) async fn provisions(
    State(st): State<ApiState>,
    access: Access,
    headers: HeaderMap,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let me = require_citizen(&access, &headers)?.subject;
    let page = Params::new(q, &["after", "limit"])?.page(100, st.config.max_limit.max(1))?;
    let tenant = access.tenant().to_string();
    let after = i64::try_from(page.after).map_err(|_| bad_field("after", "is too large"))?;
    let rows = st.read(move |s| s.provisions_of(&tenant, &me, after, page.limit)).await?;
    let records = rows.iter().map(|(seq, p)| provision_view(&access.policy, *seq, p)).collect::<Result<Vec<_>, _>>()?;
    let next = page.next(rows.len(), rows.last().and_then(|(s, _)| u64::try_from(*s).ok()));
    Ok(json(StatusCode::OK, json!({"records": records, "next": next})))
}

/// `GET /me/access-log?after=&limit=` — who saw (or was refused) my data, when and why,
/// oldest first: `{"records": [...], "next": SEQ|null}` (see [`access_view`]).
pub(crate) async fn access_log(
    State(st): State<ApiState>,
    access: Access,
    headers: HeaderMap,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let me = require_citizen(&access, &headers)?.subject;
    let page = Params::new(q, &["after", "limit"])?.page(100, st.config.max_limit.max(1))?;
    let tenant = access.tenant().to_string();
    let rows = st.read(move |s| s.audit_of_subject(&tenant, &me, page.after, page.limit)).await?;
    let records: Vec<Value> = rows.iter().map(|r| access_view(&access.policy, r)).collect();
    let next = page.next(rows.len(), rows.last().map(|r| r.seq));
    Ok(json(StatusCode::OK, json!({"records": records, "next": next})))
}
