//! `/me/erasure`: the right to erasure. `POST` erases everything held about the
//! citizen that is personal data with them as its one subject; `GET` previews it.
//!
//! What is erased, in **one** write transaction:
//! - each of the citizen's current entities ([`Txn::delete`]) and its recorded history
//!   ([`Txn::delete_history`]);
//! - the history of the citizen's entities deleted earlier (history-only entities);
//! - the citizen's FHIR resources, every version ([`Txn::fhir_erase_subject`]);
//! - the citizen's provision records ([`Txn::erase_subject_records`]).
//!
//! What is kept, because it is the legal record of what was permitted and done:
//! consents, delegations, usage stops, guardianships and the audit log. Each erased
//! entity and each erased FHIR resource (resource `Type/id`) leaves one audit record
//! with action `erase` (the tombstone: who, what, when), built with
//! [`AuditEntry::from_decision`] and appended in the same transaction as the deletions,
//! so the log can never disagree with what was erased.
//!
//! Inside the transaction each entity is read again and re-classified: one that changed
//! meanwhile (no longer the citizen's alone) is left alone. FHIR resources are erased
//! by subject in one step; each one found before the transaction is read again inside
//! it and decided (as the FHIR API decides, action `erase`); if any were refused, no
//! FHIR resource is erased.
//!
//! A guardian acting for a ward (`Kizuna-On-Behalf-Of`) previews and erases the ward's
//! data: every decision is made with the guardian as caller (rule 4b), so each tombstone
//! names the guardian as actor and `guardian:<id>` as basis.
//!
//! # Layout
//! - [`preview`] (`GET`), [`erase`] (`POST`), [`KEPT`].
//!
//! [`Txn::delete`]: kizuna_store::Txn::delete
//! [`Txn::delete_history`]: kizuna_store::Txn::delete_history
//! [`Txn::erase_subject_records`]: kizuna_store::Txn::erase_subject_records
//! [`Txn::fhir_erase_subject`]: kizuna_store::Txn::fhir_erase_subject

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::Utc;
use kizuna_api_ngsild::access::Access;
use kizuna_api_ngsild::{ApiError, ApiState};
use kizuna_consent::{Action, AuditEntry};
use serde_json::json;

use crate::common::{json, require_citizen};
use crate::mine;

/// What an erasure keeps (the legal record).
pub(crate) const KEPT: &[&str] = &["consents", "delegations", "usage stops", "guardianships", "audit log"];

const KEPT_NOTE: &str = "consents, delegations, usage stops, guardianships and the audit log are kept: they are the \
                         legal record of what you permitted, who could act for you and who accessed your data; the \
                         erasure itself is recorded there";

/// Number of provision records about `subject` (all pages). Blocking.
fn count_provisions(store: &kizuna_store::Store, tenant: &str, subject: &str) -> Result<u64, kizuna_store::StoreError> {
    let mut n = 0u64;
    let mut after = 0i64;
    loop {
        let page = store.provisions_of(tenant, subject, after, 1000)?;
        n += page.len() as u64;
        match page.last() {
            Some((seq, _)) if page.len() >= 1000 => after = *seq,
            _ => return Ok(n),
        }
    }
}

/// `GET /me/erasure` — what `POST` would erase now: `{"wouldErase": [ids],
/// "historyOnly": [ids], "fhirResources": n, "provisions": n, "kept": [...]}`.
pub(crate) async fn preview(
    State(st): State<ApiState>,
    access: Access,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let me = require_citizen(&access, &headers)?.subject;
    let tenant = access.tenant().to_string();
    let classification = Arc::new(access.policy.classification.clone());
    let (h, fhir, provisions) = st
        .read(move |s| {
            let h = mine::holdings(s, &tenant, &classification, &me)?;
            let fhir = s.fhir_of_subject(&tenant, &me)?.len();
            let n = count_provisions(s, &tenant, &me)?;
            Ok((h, fhir, n))
        })
        .await?;
    let current: Vec<&str> = h.current.iter().map(|e| e.id.as_str()).collect();
    let history_only: Vec<&str> = h.history_only.iter().map(|e| e.id.as_str()).collect();
    Ok(json(
        StatusCode::OK,
        json!({
            "wouldErase": current,
            "historyOnly": history_only,
            "fhirResources": fhir,
            "provisions": provisions,
            "kept": KEPT,
            "note": KEPT_NOTE,
        }),
    ))
}

/// `POST /me/erasure` — erases my personal data (see the module docs): 200
/// `{"erased": [ids], "historyErased": n, "fhirErased": n, "provisionsErased": n,
/// "kept": [...]}` (`fhirErased`: FHIR resources removed with all their versions).
pub(crate) async fn erase(
    State(st): State<ApiState>,
    access: Access,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let principal = require_citizen(&access, &headers)?;
    let me = principal.subject.clone();
    let tenant = access.tenant().to_string();
    let classification = Arc::new(access.policy.classification.clone());
    let (t, c, s) = (tenant.clone(), classification.clone(), me.clone());
    let (h, fhir_held) = st
        .read(move |store| {
            let h = mine::holdings(store, &t, &c, &s)?;
            let fhir = store.fhir_of_subject(&t, &s)?;
            Ok((h, fhir))
        })
        .await?;

    let policy = access.policy.clone();
    let mut req = access.request.clone();
    req.action = Action::Erase;
    let (erased, history_erased, fhir_erased, provisions_erased) = st
        .write_unguarded(&tenant, move |tx| {
            let now = Utc::now();
            let mut erased = Vec::new();
            let mut history_erased = 0u64;
            let mut audits = Vec::new();
            for candidate in h.current {
                let id = candidate.id;
                // Read again inside the transaction: it may have changed or gone.
                let Some(e) = tx.get(&id)? else { continue };
                if !mine::is_of(&classification, &e, &me) {
                    continue;
                }
                let d = policy.decide(&req, &e, now);
                audits.push(AuditEntry::from_decision(&req, &id, &d, now));
                if !d.is_allowed() {
                    continue;
                }
                tx.delete(&id)?;
                if tx.delete_history(&id)? {
                    history_erased += 1;
                }
                erased.push(id);
            }
            for probe in h.history_only {
                // Recreated meanwhile: no longer history only, leave it to the next request.
                if tx.get(&probe.id)?.is_some() {
                    continue;
                }
                let d = policy.decide(&req, &probe, now);
                audits.push(AuditEntry::from_decision(&req, &probe.id, &d, now));
                if d.is_allowed() && tx.delete_history(&probe.id)? {
                    history_erased += 1;
                    erased.push(probe.id);
                }
            }
            // FHIR: each resource read again and decided; erased together, by subject,
            // with one `erase` record per resource the store reports touched.
            let mut fhir_refused = false;
            let mut decided = std::collections::HashSet::new();
            for held in fhir_held {
                let Some(r) = tx.fhir_current(&held.rtype, &held.id)? else { continue };
                if r.deleted || r.subject.as_deref() != Some(me.as_str()) {
                    continue;
                }
                let e = kizuna_api_fhir::access::shadow(&r.rtype, &r.id, Some(&me));
                let d = policy.decide(&req, &e, now);
                audits.push(AuditEntry::from_decision(&req, &e.id, &d, now));
                decided.insert(e.id);
                fhir_refused |= !d.is_allowed();
            }
            let fhir_keys = if fhir_refused { Vec::new() } else { tx.fhir_erase_subject(&me)? };
            for key in &fhir_keys {
                if decided.contains(key) {
                    continue;
                }
                let (rtype, id) = key.split_once('/').unwrap_or((key.as_str(), ""));
                let e = kizuna_api_fhir::access::shadow(rtype, id, Some(&me));
                let d = policy.decide(&req, &e, now);
                audits.push(AuditEntry::from_decision(&req, &e.id, &d, now));
            }
            let fhir_erased = fhir_keys.len() as u64;
            let provisions_erased = tx.erase_subject_records(&me)?;
            tx.append_audit(audits)?;
            Ok((erased, history_erased, fhir_erased, provisions_erased))
        })
        .await?;
    // `guardianship`: set when a guardian asked for the ward's erasure.
    tracing::info!(tenant = %tenant, guardianship = ?principal.guardianship, entities = erased.len(), history = history_erased, fhir = fhir_erased, "erasure requested by the data subject or, with a guardianship, their guardian");
    Ok(json(
        StatusCode::OK,
        json!({
            "erased": erased,
            "historyErased": history_erased,
            "fhirErased": fhir_erased,
            "provisionsErased": provisions_erased,
            "kept": KEPT,
            "note": KEPT_NOTE,
        }),
    ))
}
