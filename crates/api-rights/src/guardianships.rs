//! Guardianships: a guardian's standing to act for a ward (a parent for a child, a legal
//! guardian for an adult), recorded by the municipality from a document (出生届,
//! 母子健康手帳の交付, 後見登記). While one is in force, the guardian, signed in as a
//! citizen, reads the ward's personal data as the ward would (decision rule 4b, basis
//! `guardian:<id>`).
//!
//! The records are kept by the tenant admin and by data holders (the maternal and child
//! health section records them as it registers a birth or issues a 母子健康手帳):
//! [`require_recorder`]. A citizen reads the guardianships they are part of, as guardian
//! or as ward.
//!
//! **Acting for a ward under `/me`.** A guardian signed in as a citizen manages the
//! ward's rights — consents, delegations, usage stops, the access log, the data, the
//! portability export and the erasure — by sending `Kizuna-On-Behalf-Of: <ward URI>`
//! with any `/me` request ([`require_citizen`] resolves it, once, for every route). It
//! is honoured only while a guardianship of the tenant with the caller as guardian and
//! that ward is in force (`valid_from` ≤ now < `valid_until`, not ended): otherwise 403,
//! as for anyone else's data; a ward cannot act for their guardian. What the guardian
//! grants names them in `given_by`; what they read, export or erase for the ward is
//! decided with them as caller (rule 4b) and audited with them as actor and basis
//! `guardian:<id>`. Writes go through [`ApiState::write_unguarded`] (the caller has been
//! checked here); each drops the tenant's cached policy before it is answered (see
//! `kizuna-store`), so the next decision sees it.
//!
//! Guardianships are never deleted: one that ends early gets `ended_at` (the record of
//! who could read the ward's data, and when, stays).
//!
//! # Layout
//! - under `/kizuna/v1`: [`create`], [`list`], [`end`];
//! - under `/me`: [`mine`].

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use kizuna_api_ngsild::access::Access;
use kizuna_api_ngsild::{ApiError, ApiState};
use kizuna_consent::Guardianship;
use serde::Deserialize;

use crate::common::{
    bad_field, generated_id, is_uri, json, not_found, parse_body, require_citizen, require_recorder, to_value, Params,
};

/// What the role checks call these records.
const WHAT: &str = "recording guardianships";

/// The body of `POST /kizuna/v1/guardianships`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct GuardianshipBody {
    #[serde(default)]
    guardian: String,
    #[serde(default)]
    ward: String,
    #[serde(default)]
    relationship: String,
    #[serde(default)]
    evidence: String,
    #[serde(default, alias = "valid_from")]
    valid_from: Option<DateTime<Utc>>,
    #[serde(default, alias = "valid_until")]
    valid_until: Option<DateTime<Utc>>,
}

/// Checks that body member `field` is a data-subject URI.
fn subject_uri(field: &str, value: &str) -> Result<(), ApiError> {
    if value.is_empty() {
        Err(bad_field(field, "is required: the person's data-subject URI"))
    } else if !is_uri(value) {
        Err(bad_field(field, format!("'{value}' is not a URI (the person's data-subject URN)")))
    } else {
        Ok(())
    }
}

/// The record a valid body describes, with a new id, the tenant as controller and
/// `validFrom` defaulting to `now`.
fn record(b: GuardianshipBody, controller: &str, now: DateTime<Utc>) -> Result<Guardianship, ApiError> {
    subject_uri("guardian", &b.guardian)?;
    subject_uri("ward", &b.ward)?;
    if b.guardian == b.ward {
        return Err(bad_field("ward", "must differ from guardian: nobody is their own guardian"));
    }
    let relationship = b.relationship.trim();
    if relationship.is_empty() {
        return Err(bad_field("relationship", "must not be empty (mother, father, parent, legal-guardian, ...)"));
    }
    let evidence = b.evidence.trim();
    if evidence.is_empty() {
        return Err(bad_field("evidence", "must not be empty: the document the relationship is recorded from"));
    }
    let valid_from = b.valid_from.unwrap_or(now);
    if b.valid_until.is_some_and(|u| u <= valid_from) {
        return Err(bad_field("validUntil", "must be after validFrom"));
    }
    Ok(Guardianship {
        id: generated_id("guardianship"),
        controller: controller.to_string(),
        guardian: b.guardian,
        ward: b.ward,
        relationship: relationship.to_string(),
        evidence: evidence.to_string(),
        valid_from,
        valid_until: b.valid_until,
        ended_at: None,
    })
}

/// `POST /kizuna/v1/guardianships` — records a guardianship: `{"guardian", "ward",
/// "relationship", "evidence", "validFrom" (default now), "validUntil" (optional, e.g.
/// the ward's 18th birthday)}`. The id (`urn:kizuna:guardianship:<uuid>`) and the
/// controller (the tenant) are set here. 201 with the record.
pub(crate) async fn create(
    State(st): State<ApiState>,
    access: Access,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    require_recorder(&access, WHAT)?;
    let b: GuardianshipBody = parse_body(&headers, &body)?;
    let g = record(b, access.tenant(), Utc::now())?;
    let stored = g.clone();
    st.write_unguarded(access.tenant(), move |tx| Ok(tx.put_guardianship(&stored)?)).await?;
    tracing::info!(tenant = %access.tenant(), id = %g.id, "guardianship recorded");
    Ok(json(StatusCode::CREATED, to_value(&g)?))
}

/// The `subject` query parameter: required, a URI.
fn subject_param(params: &Params) -> Result<String, ApiError> {
    let s =
        params.get("subject").ok_or_else(|| bad_field("subject", "is required: the guardian's or the ward's URI"))?;
    if !is_uri(s) {
        return Err(bad_field("subject", format!("'{s}' is not a URI")));
    }
    Ok(s.to_string())
}

/// `GET /kizuna/v1/guardianships?subject=URI` — the guardianships in which `subject` is
/// the guardian or the ward (ended and expired ones included), in id order.
pub(crate) async fn list(
    State(st): State<ApiState>,
    access: Access,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    require_recorder(&access, WHAT)?;
    let subject = subject_param(&Params::new(q, &["subject"])?)?;
    let tenant = access.tenant().to_string();
    let records = st.read(move |s| s.guardianships_of(&tenant, &subject)).await?;
    Ok(json(StatusCode::OK, to_value(&records)?))
}

/// `POST /kizuna/v1/guardianships/{id}/end?subject=URI` — ends a guardianship now
/// (`ended_at`): 200 with the record (one ended already is answered unchanged), 404 if
/// the tenant has no such guardianship with `subject` as guardian or ward.
///
/// `subject` (the guardian or the ward) is how the record is found: the store looks
/// guardianships up by person, not by id.
pub(crate) async fn end(
    State(st): State<ApiState>,
    access: Access,
    Path(id): Path<String>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    require_recorder(&access, WHAT)?;
    let subject = subject_param(&Params::new(q, &["subject"])?)?;
    let tenant = access.tenant().to_string();
    let lookup = id.clone();
    let found = st
        .read(move |s| Ok(s.guardianships_of(&tenant, &subject)?.into_iter().find(|g| g.id == lookup)))
        .await?
        .ok_or_else(|| not_found(format!("guardianship '{id}' not found")))?;
    if found.ended_at.is_some() {
        return Ok(json(StatusCode::OK, to_value(&found)?));
    }
    let mut g = found;
    g.ended_at = Some(Utc::now());
    let stored = g.clone();
    st.write_unguarded(access.tenant(), move |tx| Ok(tx.put_guardianship(&stored)?)).await?;
    tracing::info!(tenant = %access.tenant(), id = %g.id, "guardianship ended");
    Ok(json(StatusCode::OK, to_value(&g)?))
}

/// `GET /me/guardianships` — the guardianships I am part of, as guardian (the people I
/// act for) or as ward (who acts for me), ended and expired ones included, in id order.
/// A guardian acting for a ward (`Kizuna-On-Behalf-Of`) sees the ward's.
pub(crate) async fn mine(State(st): State<ApiState>, access: Access, headers: HeaderMap) -> Result<Response, ApiError> {
    let me = require_citizen(&access, &headers)?.subject;
    let tenant = access.tenant().to_string();
    let records = st.read(move |s| s.guardianships_of(&tenant, &me)).await?;
    Ok(json(StatusCode::OK, to_value(&records)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: serde_json::Value) -> GuardianshipBody {
        serde_json::from_value(v).expect("body")
    }

    fn detail(e: ApiError) -> String {
        e.to_string()
    }

    #[test]
    fn a_valid_body_becomes_a_record_of_the_tenant() {
        let now = Utc::now();
        let g = record(
            body(serde_json::json!({
                "guardian": "urn:ngsi-ld:Person:hanako", "ward": "urn:ngsi-ld:Person:taro",
                "relationship": " mother ", "evidence": "出生届"
            })),
            "t1",
            now,
        )
        .expect("valid");
        assert!(g.id.starts_with("urn:kizuna:guardianship:"));
        assert_eq!((g.controller.as_str(), g.relationship.as_str()), ("t1", "mother"));
        assert_eq!((g.valid_from, g.valid_until, g.ended_at), (now, None, None));
        assert!(g.is_valid_at(now));
    }

    #[test]
    fn invalid_bodies_name_the_member() {
        let now = Utc::now();
        let base = serde_json::json!({
            "guardian": "urn:ngsi-ld:Person:hanako", "ward": "urn:ngsi-ld:Person:taro",
            "relationship": "mother", "evidence": "出生届",
            "validFrom": "2025-04-01T00:00:00Z", "validUntil": "2043-04-01T00:00:00Z"
        });
        let with = |k: &str, v: serde_json::Value| {
            let mut b = base.clone();
            b[k] = v;
            record(body(b), "t1", now).map(|_| ()).map_err(detail)
        };
        assert!(with("evidence", "出生届".into()).is_ok());
        assert!(with("guardian", "".into()).unwrap_err().contains("'guardian'"));
        assert!(with("guardian", "hanako".into()).unwrap_err().contains("'guardian'"));
        assert!(with("ward", "taro".into()).unwrap_err().contains("'ward'"));
        assert!(with("ward", "urn:ngsi-ld:Person:hanako".into()).unwrap_err().contains("'ward'"));
        assert!(with("relationship", " ".into()).unwrap_err().contains("'relationship'"));
        assert!(with("evidence", "".into()).unwrap_err().contains("'evidence'"));
        assert!(with("validUntil", "2025-04-01T00:00:00Z".into()).unwrap_err().contains("'validUntil'"));
        assert!(with("validUntil", "2024-04-01T00:00:00Z".into()).unwrap_err().contains("'validUntil'"));
    }
}
