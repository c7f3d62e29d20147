//! The one decision point: may this caller, for this purpose, read this entity?
//!
//! # Layout
//! - [`AccessRequest`] (caller, purpose, [`Action`]) and [`PolicySnapshot`] (the
//!   tenant's classification, consents, delegations and usage stops, loaded fresh for
//!   each request);
//! - [`decide`], whose doc comment is the product's access policy, rule by rule;
//! - its answer: [`Decision`] = [`Classified`] + [`Outcome`] ([`Grant`] with a
//!   [`Basis`], or a [`DenyReason`]);
//! - [`filter_attributes`] and [`Decision::apply`]: the entity as the caller may see it.
//!
//! Nothing here caches: every call decides from the snapshot it is given, so a
//! withdrawal, expiry or usage stop takes effect on the next request that loads a
//! snapshot after it was recorded.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use kizuna_ngsild::Entity;
use serde::{Deserialize, Serialize};

use crate::model::{
    Caller, Category, Classification, Classified, ConsentRecord, Delegation, Guardianship, ProvisionRecord, Purpose,
    Role, UsageStop,
};

/// What the caller wants to do with the entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Read it (retrieve, query, temporal, notification, FHIR search).
    Read,
    /// Include it in the data subject's portability export.
    Export,
    /// Erase it at the data subject's request (the audit record is the tombstone).
    Erase,
    /// Record it (a FHIR create, update or delete of personal data): audited with the
    /// writer's role as basis; not decided by [`decide`], whose rules are about reads.
    Write,
}

impl Action {
    /// The action's serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Export => "export",
            Action::Erase => "erase",
            Action::Write => "write",
        }
    }
}

/// One request for one entity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRequest {
    /// Who asks.
    pub caller: Caller,
    /// The purpose stated with the request (required for personal data of others).
    #[serde(default)]
    pub purpose: Option<Purpose>,
    /// What they want to do.
    pub action: Action,
}

/// The tenant's policy as of this request. The caller loads it fresh for each request
/// (or each notification delivery, export, ...): nothing in this crate keeps it, so no
/// cache can outlive a withdrawal, an expiry or a usage stop. Records whose controller
/// is not the caller's tenant are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicySnapshot {
    /// What is personal and what is public.
    pub classification: Classification,
    /// Consent records (a store may pass only those of the entity's subject).
    #[serde(default)]
    pub consents: Vec<ConsentRecord>,
    /// Information-bank provision conditions.
    #[serde(default)]
    pub delegations: Vec<Delegation>,
    /// Usage stops.
    #[serde(default)]
    pub usage_stops: Vec<UsageStop>,
    /// Guardianships of the subject (as ward).
    #[serde(default)]
    pub guardianships: Vec<Guardianship>,
}

impl PolicySnapshot {
    /// The guardianship of `tenant` in force at `now` under which `guardian` acts for
    /// `ward` (rule 4b), if there is one.
    pub fn guardianship(&self, tenant: &str, guardian: &str, ward: &str, now: DateTime<Utc>) -> Option<&Guardianship> {
        self.guardianships
            .iter()
            .find(|g| g.controller == tenant && g.ward == ward && g.guardian == guardian && g.is_valid_at(now))
    }
}

/// Why a read was allowed: recorded in the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "basis", content = "ids", rename_all = "kebab-case")]
pub enum Basis {
    /// The tenant admin, as controller.
    Controller,
    /// Public data.
    Public,
    /// Non-personal data.
    NonPersonal,
    /// The caller is the data subject.
    Subject,
    /// These consent records (sorted by id).
    Consent(Vec<String>),
    /// This delegation (information-bank provision).
    Delegation(String),
    /// This guardianship: the caller is the subject's guardian.
    Guardian(String),
}

impl Basis {
    /// The basis as the audit log writes it: `controller`, `public`, `non-personal`,
    /// `subject`, `consent:<id>[,<id>...]` or `delegation:<id>`.
    pub fn label(&self) -> String {
        match self {
            Basis::Controller => "controller".into(),
            Basis::Public => "public".into(),
            Basis::NonPersonal => "non-personal".into(),
            Basis::Subject => "subject".into(),
            Basis::Consent(ids) => format!("consent:{}", ids.join(",")),
            Basis::Delegation(id) => format!("delegation:{id}"),
            Basis::Guardian(id) => format!("guardian:{id}"),
        }
    }
}

/// Why a read was denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "kebab-case")]
pub enum DenyReason {
    /// An anonymous caller asked for data the tenant does not mark public.
    #[error("only public data may be read without credentials")]
    NotPublic,
    /// Personal data of someone else, asked for without an identified party.
    #[error("personal data may only be released to an identified party")]
    IdentityRequired,
    /// Personal data whose subject is unknown or ambiguous: tenant admin only.
    #[error("the data subject of this personal data is unknown")]
    UnknownSubject,
    /// Personal data of someone else, asked for without a purpose.
    #[error("a purpose is required to read personal data")]
    PurposeRequired,
    /// A service provider stated a purpose it is not registered for.
    #[error("the purpose is not among the service provider's registered purposes")]
    PurposeNotRegistered,
    /// The subject stopped all use of their data by this recipient.
    #[error("the data subject has stopped use of their data by this recipient")]
    UsageStopped,
    /// No consent or delegation in force permits this read.
    #[error("no consent or delegation permits this read")]
    NoConsent,
}

impl DenyReason {
    /// The reason as the audit log writes it (`not-public`, `purpose-required`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            DenyReason::NotPublic => "not-public",
            DenyReason::IdentityRequired => "identity-required",
            DenyReason::UnknownSubject => "unknown-subject",
            DenyReason::PurposeRequired => "purpose-required",
            DenyReason::PurposeNotRegistered => "purpose-not-registered",
            DenyReason::UsageStopped => "usage-stopped",
            DenyReason::NoConsent => "no-consent",
        }
    }
}

/// What an allowed read may see, and on what basis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// Why it is allowed.
    pub basis: Basis,
    /// `None`: the whole entity; `Some`: only these attributes (expanded IRIs) — the
    /// union of the attribute lists of the consents that allow the read.
    pub attributes: Option<BTreeSet<String>>,
    /// Set when a delegation allowed the read: the caller must store it for the citizen.
    pub provision: Option<Box<ProvisionRecord>>,
}

/// Allowed or denied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The read may proceed, within the grant.
    Allowed(Grant),
    /// The read must not return the entity.
    Denied(DenyReason),
}

/// The answer of [`decide`]: the entity's classification and the outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// What the entity is (its subject and categories if personal).
    pub classified: Classified,
    /// Allowed (with basis) or denied (with reason).
    pub outcome: Outcome,
}

impl Decision {
    /// Whether the read is allowed.
    pub fn is_allowed(&self) -> bool {
        matches!(self.outcome, Outcome::Allowed(_))
    }

    /// The grant, if allowed.
    pub fn grant(&self) -> Option<&Grant> {
        match &self.outcome {
            Outcome::Allowed(g) => Some(g),
            Outcome::Denied(_) => None,
        }
    }

    /// The reason, if denied.
    pub fn reason(&self) -> Option<DenyReason> {
        match self.outcome {
            Outcome::Allowed(_) => None,
            Outcome::Denied(r) => Some(r),
        }
    }

    /// Whether the decision concerns personal data, and so must be appended to the
    /// audit log (allowed or denied, whoever the caller — the tenant admin included).
    pub fn must_audit(&self) -> bool {
        matches!(self.classified, Classified::Personal { .. })
    }

    /// Whose data it is, if personal with a known subject.
    pub fn subject(&self) -> Option<&str> {
        match &self.classified {
            Classified::Personal { subject, .. } => subject.as_deref(),
            _ => None,
        }
    }

    /// The provision record to store, if a delegation allowed the read.
    pub fn provision(&self) -> Option<&ProvisionRecord> {
        self.grant().and_then(|g| g.provision.as_deref())
    }

    /// The entity as the caller may see it: `None` if denied, the entity itself if the
    /// whole of it is allowed, else the entity restricted to the allowed attributes.
    pub fn apply(&self, e: Entity) -> Option<Entity> {
        match self.grant()?.attributes.as_ref() {
            None => Some(e),
            Some(allowed) => Some(filter_attributes(&e, allowed)),
        }
    }
}

/// The entity restricted to the `allowed` attributes (expanded IRIs): id, types, scope
/// and system timestamps are kept, every other attribute (with all its instances and
/// sub-attributes) is dropped.
pub fn filter_attributes(e: &Entity, allowed: &BTreeSet<String>) -> Entity {
    Entity {
        id: e.id.clone(),
        types: e.types.clone(),
        scope: e.scope.clone(),
        attrs: e.attrs.iter().filter(|(k, _)| allowed.contains(*k)).map(|(k, v)| (k.clone(), v.clone())).collect(),
        created_at: e.created_at.clone(),
        modified_at: e.modified_at.clone(),
    }
}

/// Decides whether `req` may read `e` at `now` under `policy`. The rules, in order —
/// this is the product's access policy:
///
/// 1. **Tenant admin**: allowed, basis `controller` (personal data included, even with
///    an unknown subject; still audited).
/// 2. **Non-personal** entity ([`Classification::classify`]): an anonymous caller may
///    read it only if it is public (basis `public`), else [`DenyReason::NotPublic`];
///    any other caller may read it (basis `public` or `non-personal`). No purpose is
///    needed.
/// 3. **Personal, unknown subject** (no subject relationship, unreadable, or several
///    subjects): [`DenyReason::UnknownSubject`].
/// 4. **The data subject themself** (role citizen, [`Caller::subject`] equal to the
///    entity's subject): allowed, basis `subject`, no purpose needed.
///    4b. **A guardian** of the subject (role citizen, [`Caller::subject`] the guardian
///    of a [`Guardianship`] of the tenant with the entity's subject as ward, in force at
///    `now`): allowed, basis `guardian:<id>`, no purpose needed.
/// 5. An anonymous caller, or one without a party: [`DenyReason::IdentityRequired`].
/// 6. No purpose stated: [`DenyReason::PurposeRequired`].
/// 7. A service provider whose registered purposes do not include the stated purpose:
///    [`DenyReason::PurposeNotRegistered`].
/// 8. A [`UsageStop`] of (subject, caller's party) in the tenant:
///    [`DenyReason::UsageStopped`] — it overrides every consent and delegation.
/// 9. Allowed if a **consent** of the tenant has subject = the entity's subject,
///    recipient = the caller's party, the stated purpose among its purposes, covers
///    the entity (every category of the entity in its categories, or every type of the
///    entity in its types) and is in force at `now` (granted ≤ now < expires, never
///    withdrawn). If one such consent has no attribute list, the whole entity is
///    released (basis: every such consent); otherwise see rule 10 first.
/// 10. Allowed if a **delegation** of the tenant by the entity's subject is in force at
///     `now`, lists every category of the entity, lists the caller's
///     [`Caller::recipient_kind`], does not exclude the caller's party, lists the stated
///     purpose, and the caller is a registered recipient within it: the stated purpose
///     is among the caller's registered purposes and **all** of the caller's registered
///     purposes are among the delegation's purposes. The whole entity is released,
///     basis `delegation:<id>` (the smallest such id), and a [`ProvisionRecord`] is
///     produced.
/// 11. Otherwise, if consents with attribute lists matched rule 9: allowed, restricted
///     to the union of their attribute lists (basis: those consents).
/// 12. Otherwise [`DenyReason::NoConsent`].
pub fn decide(req: &AccessRequest, e: &Entity, policy: &PolicySnapshot, now: DateTime<Utc>) -> Decision {
    let classified = policy.classification.classify(e);
    let outcome = outcome(req, e, &classified, policy, now);
    Decision { classified, outcome }
}

fn allow(basis: Basis) -> Outcome {
    Outcome::Allowed(Grant { basis, attributes: None, provision: None })
}

fn outcome(
    req: &AccessRequest,
    e: &Entity,
    classified: &Classified,
    policy: &PolicySnapshot,
    now: DateTime<Utc>,
) -> Outcome {
    let caller = &req.caller;
    let tenant = caller.tenant.as_str();
    // Rule 1.
    if caller.role == Role::TenantAdmin {
        return allow(Basis::Controller);
    }
    let (subject, categories) = match classified {
        // Rule 2.
        Classified::Public => return allow(Basis::Public),
        Classified::NonPersonal if caller.role == Role::Anonymous => return Outcome::Denied(DenyReason::NotPublic),
        Classified::NonPersonal => return allow(Basis::NonPersonal),
        // Rule 3.
        Classified::Personal { subject: None, .. } => return Outcome::Denied(DenyReason::UnknownSubject),
        Classified::Personal { subject: Some(s), categories } => (s.as_str(), categories.as_slice()),
    };
    // Rule 4.
    if caller.role == Role::Citizen && caller.subject.as_deref() == Some(subject) {
        return allow(Basis::Subject);
    }
    // Rule 4b.
    if let (Role::Citizen, Some(me)) = (caller.role, caller.subject.as_deref()) {
        if let Some(g) = policy.guardianship(tenant, me, subject, now) {
            return allow(Basis::Guardian(g.id.clone()));
        }
    }
    // Rule 5.
    let party = match (&caller.party, caller.role) {
        (Some(p), role) if role != Role::Anonymous => p.as_str(),
        _ => return Outcome::Denied(DenyReason::IdentityRequired),
    };
    // Rule 6.
    let Some(purpose) = &req.purpose else {
        return Outcome::Denied(DenyReason::PurposeRequired);
    };
    // Rule 7.
    if caller.role == Role::ServiceProvider && !caller.registered_purposes.contains(purpose) {
        return Outcome::Denied(DenyReason::PurposeNotRegistered);
    }
    // Rule 8.
    if policy.usage_stops.iter().any(|s| s.controller == tenant && s.subject == subject && s.recipient == party) {
        return Outcome::Denied(DenyReason::UsageStopped);
    }
    // Rule 9.
    let mut matching: Vec<&ConsentRecord> = policy
        .consents
        .iter()
        .filter(|c| {
            c.controller == tenant
                && c.subject == subject
                && c.recipient == party
                && c.purposes.contains(purpose)
                && covers(c, e, categories)
                && c.is_valid_at(now)
        })
        .collect();
    matching.sort_by(|a, b| a.id.cmp(&b.id));
    let whole: Vec<String> = matching.iter().filter(|c| c.attributes.is_empty()).map(|c| c.id.clone()).collect();
    if !whole.is_empty() {
        return allow(Basis::Consent(whole));
    }
    // Rule 10.
    let delegation = policy
        .delegations
        .iter()
        .filter(|d| delegation_permits(d, caller, party, purpose, tenant, subject, categories, now))
        .min_by(|a, b| a.id.cmp(&b.id));
    if let (Some(d), Some(kind)) = (delegation, &caller.recipient_kind) {
        let provision = ProvisionRecord {
            controller: tenant.to_string(),
            delegation_id: d.id.clone(),
            subject: subject.to_string(),
            recipient: party.to_string(),
            recipient_kind: kind.clone(),
            purpose: purpose.clone(),
            categories: categories.to_vec(),
            resource: e.id.clone(),
            at: now,
        };
        return Outcome::Allowed(Grant {
            basis: Basis::Delegation(d.id.clone()),
            attributes: None,
            provision: Some(Box::new(provision)),
        });
    }
    // Rule 11.
    if !matching.is_empty() {
        let attributes = matching.iter().flat_map(|c| c.attributes.iter().cloned()).collect();
        let ids = matching.iter().map(|c| c.id.clone()).collect();
        return Outcome::Allowed(Grant { basis: Basis::Consent(ids), attributes: Some(attributes), provision: None });
    }
    // Rule 12.
    Outcome::Denied(DenyReason::NoConsent)
}

/// Rule 9's coverage: every category of the entity among the consent's categories, or
/// every type of the entity among its types.
fn covers(c: &ConsentRecord, e: &Entity, categories: &[Category]) -> bool {
    let by_category = categories.iter().all(|cat| c.categories.contains(cat));
    let by_type = !e.types.is_empty() && e.types.iter().all(|t| c.types.contains(t));
    by_category || by_type
}

/// Rule 10 for one delegation.
#[allow(clippy::too_many_arguments)]
fn delegation_permits(
    d: &Delegation,
    caller: &Caller,
    party: &str,
    purpose: &Purpose,
    tenant: &str,
    subject: &str,
    categories: &[Category],
    now: DateTime<Utc>,
) -> bool {
    let Some(kind) = &caller.recipient_kind else {
        return false;
    };
    d.controller == tenant
        && d.subject == subject
        && d.is_valid_at(now)
        && categories.iter().all(|c| d.categories.contains(c))
        && d.recipient_kinds.contains(kind)
        && !d.excluded_recipients.iter().any(|x| x == party)
        && d.purposes.contains(purpose)
        && caller.registered_purposes.contains(purpose)
        && caller.registered_purposes.iter().all(|p| d.purposes.contains(p))
}
