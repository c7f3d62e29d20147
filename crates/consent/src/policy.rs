//! A tenant's whole policy, indexed for deciding many entities per request:
//! [`TenantPolicy`] holds the classification, the registered [`Party`]s and the
//! consent records grouped by data subject, so [`TenantPolicy::decide`] costs the
//! records of one subject, not of the whole tenant.
//!
//! A `TenantPolicy` is a value: whoever caches one (the store does, per tenant) must
//! replace it when any record it was built from changes, before acknowledging that
//! change. Time-based rules (expiry) need no invalidation: [`decide`] compares with the
//! `now` it is given.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use kizuna_ngsild::Entity;
use serde::{Deserialize, Serialize};

use crate::decision::{decide, AccessRequest, Decision, PolicySnapshot};
use crate::model::{
    Caller, Classification, Classified, ConsentRecord, Delegation, Guardianship, Purpose, RecipientKind, Role,
    UsageStop,
};

/// A party registered in a tenant: a hospital, an insurer, an app vendor, the city's own
/// systems. Service providers may state only their registered purposes; a registered
/// recipient kind lets the information bank provide data to them under a delegation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Party {
    /// The party's URN (what tokens carry as `party`, what consents name as recipient).
    pub id: String,
    /// A display name (shown to citizens in their access log and consents).
    pub name: String,
    /// The roles the party may act in.
    pub roles: Vec<Role>,
    /// The purposes the party is registered for (service providers).
    #[serde(default)]
    pub registered_purposes: Vec<Purpose>,
    /// The kind of recipient it is registered as, if it may receive data from the bank.
    #[serde(default)]
    pub recipient_kind: Option<RecipientKind>,
}

/// A machine credential as stored: never the secret itself, only its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    /// The public part of the key (`kzn_<id>_...`): how the record is found.
    pub id: String,
    /// The tenant it acts in.
    pub tenant: String,
    /// The party it authenticates.
    pub party: String,
    /// The role it acts in.
    pub role: Role,
    /// Lowercase hex SHA-256 of the secret part.
    pub secret_sha256: String,
    /// A label for people (which detector, which system).
    #[serde(default)]
    pub label: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was revoked, if it was: a revoked key authenticates nothing.
    #[serde(default)]
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Everything the decision point needs about one tenant, indexed by data subject.
#[derive(Debug, Clone, Default)]
pub struct TenantPolicy {
    /// The tenant.
    pub tenant: String,
    /// What is personal and what is public.
    pub classification: Classification,
    /// Registered parties by id.
    pub parties: HashMap<String, Party>,
    by_subject: HashMap<String, PolicySnapshot>,
    empty: PolicySnapshot,
}

impl TenantPolicy {
    /// Builds the index. Records of other controllers are kept out.
    pub fn new(
        tenant: impl Into<String>,
        classification: Classification,
        parties: Vec<Party>,
        consents: Vec<ConsentRecord>,
        delegations: Vec<Delegation>,
        usage_stops: Vec<UsageStop>,
    ) -> TenantPolicy {
        let tenant = tenant.into();
        let mut by_subject: HashMap<String, PolicySnapshot> = HashMap::new();
        let blank = || PolicySnapshot { classification: classification.clone(), ..PolicySnapshot::default() };
        for c in consents.into_iter().filter(|c| c.controller == tenant) {
            by_subject.entry(c.subject.clone()).or_insert_with(blank).consents.push(c);
        }
        for d in delegations.into_iter().filter(|d| d.controller == tenant) {
            by_subject.entry(d.subject.clone()).or_insert_with(blank).delegations.push(d);
        }
        for s in usage_stops.into_iter().filter(|s| s.controller == tenant) {
            by_subject.entry(s.subject.clone()).or_insert_with(blank).usage_stops.push(s);
        }
        let empty = blank();
        TenantPolicy {
            tenant,
            classification,
            parties: parties.into_iter().map(|p| (p.id.clone(), p)).collect(),
            by_subject,
            empty,
        }
    }

    /// Adds the tenant's guardianships (each to its ward's records). Records of other
    /// controllers are kept out.
    pub fn with_guardianships(mut self, guardianships: Vec<Guardianship>) -> TenantPolicy {
        let classification = self.classification.clone();
        for g in guardianships.into_iter().filter(|g| g.controller == self.tenant) {
            self.by_subject
                .entry(g.ward.clone())
                .or_insert_with(|| PolicySnapshot {
                    classification: classification.clone(),
                    ..PolicySnapshot::default()
                })
                .guardianships
                .push(g);
        }
        self
    }

    /// The wards `guardian` acts for at `now` (sorted).
    pub fn wards_of(&self, guardian: &str, now: DateTime<Utc>) -> Vec<String> {
        let mut out: Vec<String> = self
            .by_subject
            .values()
            .flat_map(|s| s.guardianships.iter())
            .filter(|g| g.guardian == guardian && g.is_valid_at(now))
            .map(|g| g.ward.clone())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The caller as the decision point needs it: `caller` with the registered purposes
    /// and recipient kind of its party filled in from the registry (an unregistered
    /// party has none).
    pub fn enrich(&self, mut caller: Caller) -> Caller {
        match caller.party.as_ref().and_then(|p| self.parties.get(p)) {
            Some(p) => {
                caller.registered_purposes = p.registered_purposes.clone();
                caller.recipient_kind = p.recipient_kind.clone();
            }
            None => {
                caller.registered_purposes.clear();
                caller.recipient_kind = None;
            }
        }
        caller
    }

    /// The snapshot holding the records of `subject` (empty for `None` or a subject
    /// without records).
    pub fn snapshot_for(&self, subject: Option<&str>) -> &PolicySnapshot {
        subject.and_then(|s| self.by_subject.get(s)).unwrap_or(&self.empty)
    }

    /// [`decide`] with the records of the entity's subject.
    pub fn decide(&self, req: &AccessRequest, e: &Entity, now: DateTime<Utc>) -> Decision {
        let subject = match self.classification.classify(e) {
            Classified::Personal { subject, .. } => subject,
            _ => None,
        };
        decide(req, e, self.snapshot_for(subject.as_deref()), now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Category, ConsentMethod, LegalBasis};
    use crate::Action;
    use kizuna_ngsild::{AttrKind, Attribute};
    use serde_json::json;

    const BP: &str = "https://uri.etsi.org/ngsi-ld/default-context/BloodPressure";

    fn entity(id: &str, subject: &str) -> Entity {
        let mut e = Entity {
            id: id.into(),
            types: vec![BP.into()],
            scope: vec![],
            attrs: Default::default(),
            created_at: None,
            modified_at: None,
        };
        let a = Attribute { kind: AttrKind::Relationship, ..Attribute::property(json!(subject)) };
        e.attrs.insert(crate::DATA_SUBJECT.into(), vec![a]);
        e
    }

    fn consent(id: &str, subject: &str, controller: &str) -> ConsentRecord {
        ConsentRecord {
            id: id.into(),
            subject: subject.into(),
            controller: controller.into(),
            recipient: "urn:party:clinic".into(),
            purposes: vec![Purpose::new("healthcare")],
            categories: vec![Category::Health],
            types: vec![],
            attributes: vec![],
            legal_basis: LegalBasis::Consent,
            notice_version: "1".into(),
            method: ConsentMethod::App,
            granted_at: DateTime::<Utc>::MIN_UTC,
            expires_at: None,
            withdrawn_at: None,
            given_by: None,
            withdrawn_by: None,
        }
    }

    #[test]
    fn decides_with_the_subjects_records_only_and_ignores_other_controllers() {
        let class = Classification::new().with_personal(BP, Category::Health, None);
        let clinic = Party {
            id: "urn:party:clinic".into(),
            name: "Clinic".into(),
            roles: vec![Role::DataHolder],
            registered_purposes: vec![],
            recipient_kind: None,
        };
        let p = TenantPolicy::new(
            "t",
            class,
            vec![clinic],
            vec![consent("c1", "urn:person:a", "t"), consent("c2", "urn:person:b", "other")],
            vec![],
            vec![],
        );
        let caller = p.enrich(Caller {
            party: Some("urn:party:clinic".into()),
            role: Role::DataHolder,
            ..Caller::anonymous("t")
        });
        let req = AccessRequest { caller, purpose: Some(Purpose::new("healthcare")), action: Action::Read };
        let now = Utc::now();
        assert!(p.decide(&req, &entity("urn:bp:1", "urn:person:a"), now).is_allowed());
        assert!(!p.decide(&req, &entity("urn:bp:2", "urn:person:b"), now).is_allowed());
        assert!(!p.decide(&req, &entity("urn:bp:3", "urn:person:c"), now).is_allowed());
    }
}
