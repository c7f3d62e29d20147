//! Kizuna's consent engine: the one decision point every read path asks before it
//! releases an entity, and the tamper-evident access log of those decisions.
//!
//! A read path (entity retrieve and query, temporal, notification delivery, export,
//! FHIR) has the caller, the purpose the request states and the entity (expanded IRIs);
//! it loads a fresh [`PolicySnapshot`] of the tenant, calls [`decide`], releases
//! [`Decision::apply`] of the entity, stores [`Decision::provision`] if any, and, when
//! [`Decision::must_audit`], appends [`AuditEntry::from_decision`] to the tenant's chain
//! with [`ChainHead::append`].
//!
//! ```
//! use chrono::Utc;
//! use kizuna_consent::{decide, AccessRequest, Action, Caller, Category, Classification, PolicySnapshot, Role};
//! # use kizuna_ngsild::Entity;
//! # let entity = Entity { id: "urn:ngsi-ld:BloodPressure:1".into(),
//! #     types: vec!["https://uri.etsi.org/ngsi-ld/default-context/BloodPressure".into()],
//! #     scope: vec![], attrs: Default::default(), created_at: None, modified_at: None };
//! let policy = PolicySnapshot {
//!     classification: Classification::new().with_personal(
//!         "https://uri.etsi.org/ngsi-ld/default-context/BloodPressure", Category::Health, None),
//!     ..PolicySnapshot::default()
//! };
//! let req = AccessRequest { caller: Caller::anonymous("maebashi"), purpose: None, action: Action::Read };
//! let d = decide(&req, &entity, &policy, Utc::now());
//! assert!(!d.is_allowed() && d.must_audit());
//! ```
//!
//! # Layout
//! - `model.rs`: roles, callers, purposes, categories, the tenant's [`Classification`],
//!   consent records, delegations, usage stops, provision records;
//! - `decision.rs`: [`decide`] (its doc comment is the access policy) and
//!   [`filter_attributes`];
//! - `policy.rs`: [`Party`] (the registry), [`ApiKeyRecord`], and [`TenantPolicy`], a
//!   tenant's whole policy indexed by subject for deciding many entities per request;
//! - `audit.rs`: audit records, the per-tenant hash chain ([`chain`],
//!   [`canonical_form`]) and [`verify`].
//!
//! **Invariant:** pure — no I/O, no clock (the caller passes `now`), no cache.

#![warn(missing_docs)]

pub mod audit;
pub mod decision;
pub mod model;
pub mod policy;

pub use audit::{
    canonical_form, chain, verify, verify_to_heads, AuditDecision, AuditEntry, AuditRecord, ChainError, ChainFault,
    ChainHead, TenantMismatch, GENESIS_HASH,
};
pub use decision::{
    decide, filter_attributes, AccessRequest, Action, Basis, Decision, DenyReason, Grant, Outcome, PolicySnapshot,
};
pub use model::{
    fhir_builtin, Caller, Category, Classification, Classified, ConsentMethod, ConsentRecord, Delegation, Guardianship,
    LegalBasis, PersonalType, ProvisionRecord, Purpose, RecipientKind, RecordError, Role, UsageStop, DATA_SUBJECT,
    FHIR_TYPE_BASE,
};
pub use policy::{ApiKeyRecord, Party, TenantPolicy};
