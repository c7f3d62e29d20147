//! Who is calling, and what they may see and change: authentication of every NGSI-LD
//! request and the consent gate on every read and write path.
//!
//! # Layout
//! - [`Access`]: the caller of one request (identity from a token or an API key, the
//!   role, the stated purpose) with the tenant's policy as of this request, built by
//!   [`Access::establish`] in the [`crate::request::Ngsi`] extractor;
//! - reads: [`Access::decide`] for one entity (retrieve, temporal retrieve,
//!   notifications), [`Access::gate`] + [`Ledger`] for queries (the store applies the
//!   gate while paging, so `count` and pages cover only what the caller may see);
//!   [`record`] appends the audit records and provision records of a request;
//! - writes: [`Access::check_write`], applied by [`Guarded`], the transaction wrapper
//!   every NGSI-LD write runs through.
//!
//! Every decision about personal data is audited, allowed or denied. A query audits
//! the entities it returned and the personal entities it withheld that matched it.
//! A direct retrieve of an entity the caller may not see answers 404, exactly as if it
//! did not exist, so that a caller cannot learn that someone has, say, a health record.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use kizuna_auth::{Credentials, Identity, Via};
use kizuna_consent::{
    AccessRequest, Action, AuditEntry, Caller, Classified, DenyReason, ProvisionRecord, Purpose, Role, TenantPolicy,
};
use kizuna_ngsild::subscription::Subscription;
use kizuna_ngsild::Entity;
use kizuna_store::{Attribute, EntityQuery, Gate, StoreError, Txn};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::ApiState;

/// The header a caller states the purpose of use in (overrides the token's `purpose`).
pub const PURPOSE_HEADER: &str = "Kizuna-Purpose";

/// The caller of one request and the tenant's policy as of this request.
#[derive(Clone, Debug)]
pub struct Access {
    /// Who they are, as authenticated.
    pub identity: Identity,
    /// The decision point's request: the caller (with registered purposes and
    /// recipient kind from the party registry) and the stated purpose.
    pub request: AccessRequest,
    /// The tenant's classification, parties and consent records.
    pub policy: Arc<TenantPolicy>,
    /// The development setting: anonymous callers may read and write non-personal data.
    pub dev_open: bool,
}

/// What one decision released, and what it must leave in the record.
pub struct Verdict {
    /// The entity as the caller may see it; `None`: withheld.
    pub released: Option<Entity>,
    /// The audit entry (personal data only).
    pub audit: Option<AuditEntry>,
    /// The provision record (information-bank provision only).
    pub provision: Option<ProvisionRecord>,
}

impl Access {
    /// Authenticates the request and loads the tenant's policy. `header_tenant` is the
    /// `NGSILD-Tenant` header, if given: a token or key bound to another tenant is refused;
    /// without the header, the credentials' tenant is used. Returns the access and the
    /// tenant the request acts in.
    pub async fn establish(
        st: &ApiState,
        headers: &HeaderMap,
        header_tenant: Option<&str>,
    ) -> Result<(Access, String), ApiError> {
        let identity = authenticate(st, headers, header_tenant).await?;
        let tenant = match (header_tenant, &identity.via) {
            (Some(t), _) => t.to_string(),
            (None, Via::Anonymous) => String::new(),
            (None, _) => identity.tenant.clone(),
        };
        if !matches!(identity.via, Via::Anonymous) && identity.tenant != tenant {
            return Err(ApiError::Forbidden(format!(
                "the credentials are for tenant '{}', not '{}'",
                identity.tenant, tenant
            )));
        }
        let purpose = match headers.get(PURPOSE_HEADER) {
            Some(v) => {
                let p = v.to_str().map_err(|_| bad_header("the Kizuna-Purpose header is not ASCII"))?.trim();
                if p.is_empty() {
                    return Err(bad_header("the Kizuna-Purpose header is empty"));
                }
                Some(Purpose::new(p))
            }
            None => identity.purpose.clone(),
        };
        let t = tenant.clone();
        let policy = st.read(move |s| s.policy(&t)).await?;
        let caller = policy.enrich(Caller { tenant: tenant.clone(), ..identity.to_caller() });
        let request = AccessRequest { caller, purpose, action: Action::Read };
        Ok((Access { identity, request, policy, dev_open: st.config.dev_open_access }, tenant))
    }

    /// The access of a subscription's owner, for deciding a notification at delivery
    /// time against `policy` (loaded fresh for the delivery).
    pub fn of_owner(owner: Option<&Value>, tenant: &str, policy: Arc<TenantPolicy>, dev_open: bool) -> Access {
        let text = |k: &str| owner.and_then(|o| o.get(k)).and_then(Value::as_str).map(str::to_string);
        let role = owner
            .and_then(|o| o.get("role"))
            .and_then(|r| serde_json::from_value::<Role>(r.clone()).ok())
            .unwrap_or(Role::Anonymous);
        let party = text("party");
        let identity = Identity {
            tenant: tenant.to_string(),
            party: party.clone(),
            role,
            subject: text("subject"),
            purpose: text("purpose").map(Purpose::new),
            via: if role == Role::Anonymous { Via::Anonymous } else { Via::Token { issuer: "subscription".into() } },
        };
        let caller = policy.enrich(Caller { tenant: tenant.to_string(), ..identity.to_caller() });
        let request = AccessRequest { caller, purpose: identity.purpose.clone(), action: Action::Read };
        Access { identity, request, policy, dev_open }
    }

    /// What a subscription stores as its owner (see [`Access::of_owner`]).
    pub fn owner(&self) -> Value {
        let c = &self.request.caller;
        json!({
            "role": c.role,
            "party": c.party,
            "subject": c.subject,
            "purpose": self.request.purpose.as_ref().map(Purpose::as_str),
        })
    }

    /// Whether this caller owns `sub` (or is the tenant admin, who may manage every
    /// subscription of the tenant).
    pub fn may_manage(&self, sub: &Subscription) -> bool {
        let c = &self.request.caller;
        if c.role == Role::TenantAdmin {
            return true;
        }
        let owner = sub.owner.as_ref();
        let field = |k: &str| owner.and_then(|o| o.get(k)).cloned().unwrap_or(Value::Null);
        let role = owner.and_then(|o| o.get("role")).cloned().unwrap_or_else(|| json!("anonymous"));
        role == json!(c.role) && field("party") == json!(c.party) && field("subject") == json!(c.subject)
    }

    /// Decides whether the caller may read `e` now.
    pub fn decide(&self, e: Entity, now: DateTime<Utc>) -> Verdict {
        let d = self.policy.decide(&self.request, &e, now);
        let audit = d.must_audit().then(|| AuditEntry::from_decision(&self.request, &e.id, &d, now));
        if self.dev_open && d.reason() == Some(DenyReason::NotPublic) {
            return Verdict { released: Some(e), audit, provision: None };
        }
        let provision = d.provision().cloned();
        Verdict { released: d.apply(e), audit, provision }
    }

    /// The gate a query runs with: each selected entity is decided; the ledger keeps
    /// what must be audited. `query` is the query without gate (a withheld entity is
    /// audited only if it matched the query).
    pub fn gate(&self, query: &EntityQuery, ledger: &Ledger) -> Gate {
        let access = self.clone();
        let mut plain = query.clone();
        plain.gate = None;
        let ledger = ledger.clone();
        Gate::new(move |e| {
            let now = Utc::now();
            let matched = plain.content_matches(&e);
            let id = e.id.clone();
            let v = access.decide(e, now);
            if let Some(audit) = v.audit {
                if v.released.is_some() || matched {
                    ledger.push(id, v.released.is_some(), audit, v.provision);
                }
            }
            v.released
        })
    }

    /// Checks a write that changes `before` (the stored entity, if any) into `after`
    /// (`None`: deleted):
    /// - the tenant admin and data holders may write anything;
    /// - a citizen may write only personal entities whose subject is themself (their
    ///   own measurements), before and after;
    /// - service providers may not write entities (they read under consent);
    /// - anonymous callers may not write, except non-personal data under the
    ///   development setting (`--dev-open-access`).
    pub fn check_write(&self, before: Option<&Entity>, after: Option<&Entity>) -> Result<(), ApiError> {
        let c = &self.request.caller;
        let class = |e: &Entity| self.policy.classification.classify(e);
        match c.role {
            Role::TenantAdmin | Role::DataHolder => Ok(()),
            Role::Citizen => {
                let own = |e: &Entity| matches!(class(e), Classified::Personal { subject: Some(s), .. } if Some(&s) == c.subject.as_ref());
                if before.into_iter().chain(after).all(own) {
                    Ok(())
                } else {
                    Err(ApiError::Forbidden(
                        "a citizen may write only personal data about themself (with their own dataSubject)".into(),
                    ))
                }
            }
            Role::ServiceProvider => {
                Err(ApiError::Forbidden("service providers may read under consent but not write entities".into()))
            }
            Role::Anonymous if !self.dev_open => Err(ApiError::Unauthorized("writing requires credentials".into())),
            Role::Anonymous => {
                let personal = before.into_iter().chain(after).any(|e| matches!(class(e), Classified::Personal { .. }));
                if personal {
                    Err(ApiError::Unauthorized("writing personal data requires credentials".into()))
                } else {
                    Ok(())
                }
            }
        }
    }

    /// Checks an operation reserved to the tenant admin (retention settings); the
    /// development setting lets anonymous callers do it too.
    pub fn check_admin(&self) -> Result<(), ApiError> {
        match self.request.caller.role {
            Role::TenantAdmin => Ok(()),
            Role::Anonymous if self.dev_open => Ok(()),
            Role::Anonymous => Err(ApiError::Unauthorized("this operation requires credentials".into())),
            _ => Err(ApiError::Forbidden("this operation is reserved to the tenant administrator".into())),
        }
    }

    /// Checks an operation only the tenant admin may do (issuing alerts, the policy API,
    /// ...): anonymous → 401, any other role → 403, both saying "`need` needs the tenant
    /// administrator's role".
    pub fn require_tenant_admin(&self, need: &str) -> Result<(), ApiError> {
        let detail = || format!("{need} needs the tenant administrator's role");
        match self.request.caller.role {
            Role::TenantAdmin => Ok(()),
            Role::Anonymous => Err(ApiError::Unauthorized(detail())),
            _ => Err(ApiError::Forbidden(detail())),
        }
    }

    /// Checks creating a subscription: any authenticated caller (notifications carry
    /// only what the owner may read); anonymous callers only under the development setting.
    pub fn check_subscribe(&self) -> Result<(), ApiError> {
        if self.request.caller.role == Role::Anonymous && !self.dev_open {
            return Err(ApiError::Unauthorized("subscribing requires credentials".into()));
        }
        Ok(())
    }

    /// Whether discovery (`/types`, `/attributes`) may show entity type `type_iri` to
    /// this caller: the tenant admin sees every type; anonymous callers only public types
    /// (non-personal ones too under the development setting); everyone else the
    /// non-personal types. Personal types are not listed, so that their entity counts
    /// say nothing about how many people have, say, a health record. (An attribute's
    /// entity count still covers every entity that has it.)
    pub fn may_discover(&self, type_iri: &str) -> bool {
        let class = &self.policy.classification;
        match self.request.caller.role {
            Role::TenantAdmin => true,
            _ if class.personal.contains_key(type_iri) => false,
            Role::Anonymous => self.dev_open || class.public.contains(type_iri),
            _ => true,
        }
    }

    /// The expanded names of the relationships that name data subjects in this tenant
    /// (`dataSubject` and each personal type's subject relationship): a read that
    /// projects attributes must still fetch them for the decision.
    pub fn subject_relationships(&self) -> Vec<String> {
        let mut v: Vec<String> =
            self.policy.classification.personal.values().map(|p| p.subject_relationship.clone()).collect();
        v.push(kizuna_consent::DATA_SUBJECT.to_string());
        v.sort();
        v.dedup();
        v
    }
}

/// For APIs other than NGSI-LD (the citizen and admin APIs): authenticates the request
/// (tenant from `NGSILD-Tenant` or the credentials) and loads the tenant's policy.
impl axum::extract::FromRequestParts<ApiState> for Access {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, st: &ApiState) -> Result<Access, ApiError> {
        let tenant = crate::request::header_tenant(&parts.headers)?;
        Ok(Access::establish(st, &parts.headers, tenant.as_deref()).await?.0)
    }
}

impl Access {
    /// The tenant the request acts in.
    pub fn tenant(&self) -> &str {
        &self.request.caller.tenant
    }
}

fn bad_header(detail: &str) -> ApiError {
    ApiError::Ngsi(kizuna_ngsild::NgsiError::bad_data(detail))
}

async fn authenticate(st: &ApiState, headers: &HeaderMap, header_tenant: Option<&str>) -> Result<Identity, ApiError> {
    match kizuna_auth::credentials(headers).map_err(unauthorized)? {
        Credentials::None => Ok(Identity::anonymous(header_tenant.unwrap_or(""))),
        Credentials::Bearer(token) => st.auth.verify_refreshing(&token).await.map_err(unauthorized),
        Credentials::ApiKey(key) => {
            let (id, secret) = kizuna_auth::parse_api_key(&key).map_err(unauthorized)?;
            let (id, secret) = (id.to_string(), secret.to_string());
            let record = st.read(move |s| s.api_key(&id)).await?;
            let record = record.ok_or_else(|| unauthorized(kizuna_auth::AuthError::UnknownApiKey))?;
            kizuna_auth::check_api_key(&secret, &record).map_err(unauthorized)
        }
    }
}

fn unauthorized(e: kizuna_auth::AuthError) -> ApiError {
    if e.status_code() == 401 {
        ApiError::Unauthorized(e.to_string())
    } else {
        ApiError::AuthUnavailable(e.to_string())
    }
}

/// The audit entries and provision records gathered while a query runs.
#[derive(Clone, Default)]
pub struct Ledger(Arc<Mutex<Vec<Noted>>>);

/// One decision noted during a query: entity id, released or not, its audit entry and
/// provision record.
type Noted = (String, bool, AuditEntry, Option<ProvisionRecord>);

impl Ledger {
    /// Notes one decision about `id` (an entity id, or another resource name such as a
    /// FHIR `Type/id`): whether it was released, its audit entry and provision record.
    pub fn push(&self, id: String, released: bool, audit: AuditEntry, provision: Option<ProvisionRecord>) {
        if let Ok(mut v) = self.0.lock() {
            v.push((id, released, audit, provision));
        }
    }

    /// What to record once the page is known: released entities only if they are on
    /// the page `returned`, every withheld one.
    pub fn settle<'a>(&self, returned: impl IntoIterator<Item = &'a str>) -> (Vec<AuditEntry>, Vec<ProvisionRecord>) {
        let returned: HashSet<&str> = returned.into_iter().collect();
        let mut audits = Vec::new();
        let mut provisions = Vec::new();
        let mut seen = HashSet::new();
        let items = self.0.lock().map(|mut v| std::mem::take(&mut *v)).unwrap_or_default();
        for (id, released, audit, provision) in items {
            if released && (!returned.contains(id.as_str()) || !seen.insert(id.clone())) {
                continue;
            }
            audits.push(audit);
            provisions.extend(provision);
        }
        (audits, provisions)
    }
}

/// Appends a request's audit entries and provision records in one durable write
/// before the response leaves: a read of personal data that cannot be recorded fails.
pub async fn record(
    st: &ApiState,
    tenant: &str,
    audits: Vec<AuditEntry>,
    provisions: Vec<ProvisionRecord>,
) -> Result<(), ApiError> {
    if audits.is_empty() && provisions.is_empty() {
        return Ok(());
    }
    st.write_unguarded(tenant, move |tx| {
        tx.append_audit(audits)?;
        tx.add_provisions(&provisions)?;
        Ok(())
    })
    .await
}

/// A transaction as one caller may use it: every entity write is checked with
/// [`Access::check_write`] against the stored entity and the result.
pub struct Guarded<'a> {
    inner: &'a mut dyn Txn,
    access: &'a Access,
    /// Why the last refused operation was refused.
    pub refusal: Option<ApiError>,
}

impl<'a> Guarded<'a> {
    /// Wraps `inner` for `access`.
    pub fn new(inner: &'a mut dyn Txn, access: &'a Access) -> Guarded<'a> {
        Guarded { inner, access, refusal: None }
    }

    fn check(&mut self, r: Result<(), ApiError>) -> Result<(), StoreError> {
        r.map_err(|e| {
            let msg = e.to_string();
            self.refusal = Some(e);
            StoreError::Refused(msg)
        })
    }

    fn temporal_entity(&mut self, id: &str) -> Result<Option<Entity>, StoreError> {
        Ok(self.inner.temporal_types(id)?.map(|types| Entity {
            id: id.to_string(),
            types,
            scope: vec![],
            attrs: Default::default(),
            created_at: None,
            modified_at: None,
        }))
    }

    fn check_subscription_owner(&mut self, id: &str) -> Result<(), StoreError> {
        if let Some(old) = self.inner.get_subscription(id)? {
            if !self.access.may_manage(&old) {
                // Like a retrieve: another caller's subscription answers as a missing one.
                let missing = kizuna_ngsild::NgsiError::not_found(format!("subscription '{id}' not found"));
                return self.check(Err(ApiError::Ngsi(missing)));
            }
        }
        Ok(())
    }
}

impl Txn for Guarded<'_> {
    fn get(&mut self, id: &str) -> Result<Option<Entity>, StoreError> {
        self.inner.get(id)
    }
    fn insert(&mut self, e: &Entity) -> Result<bool, StoreError> {
        let before = self.inner.get(&e.id)?;
        let r = self.access.check_write(before.as_ref(), Some(e));
        self.check(r)?;
        self.inner.insert(e)
    }
    fn update(&mut self, e: &Entity) -> Result<bool, StoreError> {
        let before = self.inner.get(&e.id)?;
        let r = self.access.check_write(before.as_ref(), Some(e));
        self.check(r)?;
        self.inner.update(e)
    }
    fn delete(&mut self, id: &str) -> Result<bool, StoreError> {
        if let Some(before) = self.inner.get(id)? {
            let r = self.access.check_write(Some(&before), None);
            self.check(r)?;
        }
        self.inner.delete(id)
    }
    fn append_history(&mut self, id: &str, types: &[String], attrs: &[(String, Attribute)]) -> Result<(), StoreError> {
        let mut e = Entity {
            id: id.to_string(),
            types: types.to_vec(),
            scope: vec![],
            attrs: Default::default(),
            created_at: None,
            modified_at: None,
        };
        for (name, a) in attrs {
            e.attrs.entry(name.clone()).or_default().push(a.clone());
        }
        let r = self.access.check_write(None, Some(&e));
        self.check(r)?;
        self.inner.append_history(id, types, attrs)
    }
    fn temporal_types(&mut self, id: &str) -> Result<Option<Vec<String>>, StoreError> {
        self.inner.temporal_types(id)
    }
    fn delete_history(&mut self, id: &str) -> Result<bool, StoreError> {
        if let Some(e) = self.temporal_entity(id)? {
            let r = self.access.check_write(Some(&e), None);
            self.check(r)?;
        }
        self.inner.delete_history(id)
    }
    fn delete_attr_history(
        &mut self,
        id: &str,
        attr: &str,
        dataset_id: Option<&str>,
        all: bool,
    ) -> Result<u64, StoreError> {
        if let Some(e) = self.temporal_entity(id)? {
            let r = self.access.check_write(Some(&e), Some(&e));
            self.check(r)?;
        }
        self.inner.delete_attr_history(id, attr, dataset_id, all)
    }
    fn delete_instance(&mut self, id: &str, attr: &str, instance_id: &str) -> Result<bool, StoreError> {
        if let Some(e) = self.temporal_entity(id)? {
            let r = self.access.check_write(Some(&e), Some(&e));
            self.check(r)?;
        }
        self.inner.delete_instance(id, attr, instance_id)
    }
    fn replace_instance(&mut self, id: &str, attr: &str, instance_id: &str, a: &Attribute) -> Result<bool, StoreError> {
        if let Some(e) = self.temporal_entity(id)? {
            let r = self.access.check_write(Some(&e), Some(&e));
            self.check(r)?;
        }
        self.inner.replace_instance(id, attr, instance_id, a)
    }
    fn set_retention(&mut self, type_iri: &str, seconds: Option<u64>) -> Result<(), StoreError> {
        let r = self.access.check_admin();
        self.check(r)?;
        self.inner.set_retention(type_iri, seconds)
    }
    fn purge(&mut self, now_ms: i64) -> Result<Vec<(String, String, u64)>, StoreError> {
        let r = self.access.check_admin();
        self.check(r)?;
        self.inner.purge(now_ms)
    }
    fn insert_subscription(&mut self, sub: &Subscription) -> Result<bool, StoreError> {
        let r = self.access.check_subscribe();
        self.check(r)?;
        self.inner.insert_subscription(sub)
    }
    fn replace_subscription(&mut self, sub: &Subscription) -> Result<bool, StoreError> {
        self.check_subscription_owner(&sub.id)?;
        self.inner.replace_subscription(sub)
    }
    fn delete_subscription(&mut self, id: &str) -> Result<bool, StoreError> {
        self.check_subscription_owner(id)?;
        self.inner.delete_subscription(id)
    }
    fn get_subscription(&mut self, id: &str) -> Result<Option<Subscription>, StoreError> {
        self.inner.get_subscription(id)
    }
    fn enqueue_notification(&mut self, sub_id: &str, trigger: &str, entities: &[Entity]) -> Result<(), StoreError> {
        self.inner.enqueue_notification(sub_id, trigger, entities)
    }
    // The policy records and the audit log are written by the server's own code (the
    // citizen and admin APIs check their callers themselves), never from request content
    // of the NGSI-LD API: passed through.
    fn put_party(&mut self, p: &kizuna_consent::Party) -> Result<(), StoreError> {
        self.inner.put_party(p)
    }
    fn delete_party(&mut self, id: &str) -> Result<bool, StoreError> {
        self.inner.delete_party(id)
    }
    fn put_api_key(&mut self, k: &kizuna_consent::ApiKeyRecord) -> Result<bool, StoreError> {
        self.inner.put_api_key(k)
    }
    fn revoke_api_key(&mut self, id: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        self.inner.revoke_api_key(id, at)
    }
    fn set_classification(&mut self, c: &kizuna_consent::Classification) -> Result<(), StoreError> {
        self.inner.set_classification(c)
    }
    fn put_consent(&mut self, c: &kizuna_consent::ConsentRecord) -> Result<(), StoreError> {
        self.inner.put_consent(c)
    }
    fn put_delegation(&mut self, d: &kizuna_consent::Delegation) -> Result<(), StoreError> {
        self.inner.put_delegation(d)
    }
    fn put_usage_stop(&mut self, s: &kizuna_consent::UsageStop) -> Result<(), StoreError> {
        self.inner.put_usage_stop(s)
    }
    fn delete_usage_stop(&mut self, subject: &str, recipient: &str) -> Result<bool, StoreError> {
        self.inner.delete_usage_stop(subject, recipient)
    }
    fn add_provisions(&mut self, p: &[ProvisionRecord]) -> Result<(), StoreError> {
        self.inner.add_provisions(p)
    }
    fn append_audit(&mut self, entries: Vec<AuditEntry>) -> Result<Vec<kizuna_consent::AuditRecord>, StoreError> {
        self.inner.append_audit(entries)
    }
    fn erase_subject_records(&mut self, subject: &str) -> Result<u64, StoreError> {
        self.inner.erase_subject_records(subject)
    }
    fn record_delivery(
        &mut self,
        sub_id: &str,
        seq: i64,
        outcome: &kizuna_store::Delivery,
        now: &str,
    ) -> Result<(), StoreError> {
        self.inner.record_delivery(sub_id, seq, outcome, now)
    }

    fn put_guardianship(&mut self, g: &kizuna_consent::Guardianship) -> Result<(), StoreError> {
        self.inner.put_guardianship(g)
    }

    // FHIR resources are written by the FHIR API with its own checks, never through an
    // NGSI-LD request.
    fn fhir_current(&mut self, rtype: &str, id: &str) -> Result<Option<kizuna_store::FhirRecord>, StoreError> {
        self.inner.fhir_current(rtype, id)
    }

    fn fhir_put(&mut self, _: &kizuna_store::FhirRecord, _: &[kizuna_store::FhirIndexRow]) -> Result<(), StoreError> {
        self.check(Err(ApiError::Forbidden("FHIR resources are written through the FHIR API".into())))
    }

    fn fhir_search(
        &mut self,
        _: &kizuna_store::FhirSearch,
        _: usize,
        _: usize,
        _: &mut dyn FnMut(&kizuna_store::FhirHit) -> bool,
    ) -> Result<kizuna_store::FhirPage, StoreError> {
        self.check(Err(ApiError::Forbidden("FHIR resources are searched through the FHIR API".into())))?;
        Ok(kizuna_store::FhirPage { records: Vec::new(), total: 0 })
    }

    fn fhir_erase_subject(&mut self, _: &str) -> Result<Vec<String>, StoreError> {
        self.check(Err(ApiError::Forbidden("FHIR resources are erased through the rights API".into())))?;
        Ok(Vec::new())
    }

    fn fhir_state(&mut self, key: &str) -> Result<Option<Value>, StoreError> {
        self.inner.fhir_state(key)
    }

    fn set_fhir_state(&mut self, _: &str, _: &Value) -> Result<(), StoreError> {
        self.check(Err(ApiError::Forbidden("FHIR settings are written through the FHIR API".into())))
    }
}
