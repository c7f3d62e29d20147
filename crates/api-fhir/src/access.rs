//! Who is calling the FHIR API, what they may read (the same decision point as every
//! NGSI-LD read) and what they may write.
//!
//! A FHIR resource is decided as an entity of type `http://hl7.org/fhir/<Type>` whose
//! [`DATA_SUBJECT`] is the person the resource belongs to (a Patient's data-subject
//! identifier; for other resources, that of the Patient they reference). The built-in
//! classification ([`kizuna_consent::fhir_builtin`]) makes Patient `identity` data and
//! the clinical resources `health` data, so consents and information-bank delegations
//! for `health` govern them exactly as they govern NGSI-LD health data. Consents limited
//! to a list of NGSI-LD attributes do not release FHIR resources (a resource is released
//! whole or not at all); such reads are audited as denied with reason
//! `attribute-limited-consent`.
//!
//! A data holder or service provider may always read back the resources it supplied
//! itself (`meta.source` is its party; audited with basis `source`): it holds that record
//! already. Research extracts do not use this rule — they need the person's consent.
//!
//! Writes: the tenant admin and data holders (hospitals, insurers, the municipality,
//! pharmacies) write anything; a citizen writes only Observations and
//! MedicationStatements about themself or a ward they are the guardian of; service
//! providers and anonymous callers do not write.

use std::collections::HashSet;

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use kizuna_api_ngsild::access::Access;
use kizuna_api_ngsild::{header_tenant, ApiError};
use kizuna_consent::{AuditEntry, ProvisionRecord, Role, DATA_SUBJECT, FHIR_TYPE_BASE};
use kizuna_ngsild::{AttrKind, Attribute, Entity};
use serde_json::json;

use crate::error::FhirError;
use crate::FhirState;

/// The caller of one FHIR request.
#[derive(Clone, Debug)]
pub struct Caller {
    /// Identity, purpose and the tenant's policy as of this request.
    pub access: Access,
    /// The tenant the request acts in.
    pub tenant: String,
}

/// One decision about one resource.
pub struct Verdict {
    /// Whether the resource may be returned.
    pub allowed: bool,
    /// The audit entry (personal data only).
    pub audit: Option<AuditEntry>,
    /// The provision record (information-bank provision only).
    pub provision: Option<ProvisionRecord>,
}

/// The entity the decision point sees for resource `rtype/id` of `subject`.
pub fn shadow(rtype: &str, id: &str, subject: Option<&str>) -> Entity {
    let mut e = Entity {
        id: format!("{rtype}/{id}"),
        types: vec![format!("{FHIR_TYPE_BASE}{rtype}")],
        scope: vec![],
        attrs: Default::default(),
        created_at: None,
        modified_at: None,
    };
    if let Some(s) = subject {
        let mut a = Attribute::property(json!(s));
        a.kind = AttrKind::Relationship;
        e.attrs.insert(DATA_SUBJECT.to_string(), vec![a]);
    }
    e
}

impl Caller {
    /// Authenticates the request (bearer token or API key; `NGSILD-Tenant` optional)
    /// and loads the tenant's policy.
    pub async fn establish(st: &FhirState, headers: &HeaderMap) -> Result<Caller, FhirError> {
        let header = header_tenant(headers)?;
        let (access, tenant) = Access::establish(&st.api, headers, header.as_deref()).await?;
        Ok(Caller { access, tenant })
    }

    /// The caller's role.
    pub fn role(&self) -> Role {
        self.access.request.caller.role
    }

    /// The caller's own data-subject URI (citizens).
    pub fn subject(&self) -> Option<&str> {
        self.access.request.caller.subject.as_deref()
    }

    /// Who supplied what this caller writes: its party, or (a citizen) its subject.
    pub fn source(&self) -> Option<String> {
        let c = &self.access.request.caller;
        c.party.clone().or_else(|| c.subject.clone())
    }

    /// Decides whether the caller may read resource `rtype/id` of `subject` now.
    /// `source` is the party that supplied the resource: a data holder or service
    /// provider may always read back what it supplied itself (basis `source`) — it
    /// holds that record already; everything else needs the person's consent.
    pub fn decide(
        &self,
        rtype: &str,
        id: &str,
        subject: Option<&str>,
        source: Option<&str>,
        now: DateTime<Utc>,
    ) -> Verdict {
        let e = shadow(rtype, id, subject);
        let d = self.access.policy.decide(&self.access.request, &e, now);
        let mut audit = d.must_audit().then(|| AuditEntry::from_decision(&self.access.request, &e.id, &d, now));
        let limited = d.grant().is_some_and(|g| g.attributes.is_some());
        let mut allowed = d.is_allowed() && !limited;
        if limited {
            if let Some(a) = audit.as_mut() {
                a.decision.allowed = false;
                a.decision.basis = None;
                a.decision.reason = Some("attribute-limited-consent".into());
            }
        }
        let c = &self.access.request.caller;
        let own = matches!(c.role, Role::DataHolder | Role::ServiceProvider)
            && source.is_some()
            && c.party.as_deref() == source;
        if !allowed && own {
            allowed = true;
            if let Some(a) = audit.as_mut() {
                a.decision.allowed = true;
                a.decision.basis = Some("source".into());
                a.decision.reason = None;
            }
        }
        let provision = if allowed && !own { d.provision().cloned() } else { None };
        Verdict { allowed, audit, provision }
    }

    /// [`Caller::decide`] for a stored resource.
    pub fn decide_record(&self, rec: &kizuna_store::FhirRecord, now: DateTime<Utc>) -> Verdict {
        self.decide(&rec.rtype, &rec.id, rec.subject.as_deref(), rec.source.as_deref(), now)
    }

    /// The gate of a search over `rtype`: decides `hit`, notes the verdict in `ledger`
    /// under `rtype/id`, and says whether it is released.
    pub fn admit(&self, rtype: &str, hit: &kizuna_store::FhirHit, ledger: &Ledger, now: DateTime<Utc>) -> bool {
        let v = self.decide(rtype, &hit.id, hit.subject.as_deref(), hit.source.as_deref(), now);
        v.note(ledger, format!("{rtype}/{}", hit.id))
    }

    /// The subjects a citizen's searches are limited to (themself and their wards);
    /// `None` for other roles (their searches are decided resource by resource).
    pub fn search_scope(&self, now: DateTime<Utc>) -> Option<Vec<String>> {
        if self.role() != Role::Citizen {
            return None;
        }
        let me = self.subject()?.to_string();
        let mut out = self.access.policy.wards_of(&me, now);
        out.push(me);
        Some(out)
    }

    /// Whether the caller may write a resource of `rtype` that belonged to `before` and
    /// belongs to `after` (creates: `before` is `None`; deletes: `after` is `None`).
    pub fn may_write(
        &self,
        rtype: &str,
        before: Option<Option<&str>>,
        after: Option<Option<&str>>,
        now: DateTime<Utc>,
    ) -> Result<(), FhirError> {
        match self.role() {
            Role::TenantAdmin | Role::DataHolder => Ok(()),
            Role::Anonymous => Err(FhirError::Access(ApiError::Unauthorized(
                "writing health records needs credentials (a bearer token or an API key)".into(),
            ))),
            Role::ServiceProvider => Err(FhirError::Access(ApiError::Forbidden(
                "service providers read health records under consent; they do not write them".into(),
            ))),
            Role::Citizen => {
                if !matches!(rtype, "Observation" | "MedicationStatement") {
                    return Err(FhirError::Access(ApiError::Forbidden(format!(
                        "citizens record Observations and MedicationStatements; {rtype} is written by data holders"
                    ))));
                }
                let scope: HashSet<String> = self.search_scope(now).unwrap_or_default().into_iter().collect();
                let own = |s: Option<&str>| s.is_some_and(|s| scope.contains(s));
                if before.into_iter().chain(after).all(own) {
                    Ok(())
                } else {
                    Err(FhirError::Access(ApiError::Forbidden(
                        "a citizen may only record data about themself or a child they are the guardian of".into(),
                    )))
                }
            }
        }
    }

    /// Only the tenant admin (settings, research extracts for the municipality).
    pub fn require_admin(&self, what: &str) -> Result<(), FhirError> {
        match self.role() {
            Role::TenantAdmin => Ok(()),
            Role::Anonymous => Err(FhirError::Access(ApiError::Unauthorized(format!("{what} needs credentials")))),
            _ => Err(FhirError::Access(ApiError::Forbidden(format!("{what} is for the tenant admin")))),
        }
    }
}

/// The decisions of one request, settled once the page is known: the NGSI-LD API's
/// ledger (released resources are audited only if returned; every withheld one is).
pub use kizuna_api_ngsild::access::Ledger;

impl Verdict {
    /// Notes this verdict about `key` (`Type/id`) in `ledger`; returns whether the
    /// resource may be returned.
    pub fn note(self, ledger: &Ledger, key: String) -> bool {
        if let Some(a) = self.audit {
            ledger.push(key, self.allowed, a, self.provision);
        }
        self.allowed
    }
}

/// Appends the request's audit records and provisions durably before the response leaves.
pub async fn record(
    st: &FhirState,
    tenant: &str,
    audits: Vec<AuditEntry>,
    provisions: Vec<ProvisionRecord>,
) -> Result<(), FhirError> {
    Ok(kizuna_api_ngsild::access::record(&st.api, tenant, audits, provisions).await?)
}
