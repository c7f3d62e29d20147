//! The contract every storage backend fulfils. `pub(crate)`: callers use [`crate::Store`].

use crate::{AttributeInfo, EntityQuery, QueryResult, StoreError, TemporalEntity, TemporalFilter, Txn, TypeInfo};
use crate::{AuditReport, OutboxItem, Receipt, StoredSubscription};
use crate::{FhirHit, FhirPage, FhirRecord, FhirSearch};
use kizuna_consent::{
    ApiKeyRecord, AuditRecord, ChainHead, Classification, ConsentRecord, Delegation, Party, ProvisionRecord,
    TenantPolicy, UsageStop,
};
use kizuna_ngsild::Entity;

/// Called once the transaction a job ran in has committed (or failed to).
pub(crate) type Completion = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// A unit of write work: runs inside the transaction, says whether its changes stand
/// (`false`: roll back to before it) and how to report the outcome after commit.
pub(crate) type Job = Box<dyn FnOnce(&mut dyn Txn) -> (bool, Completion) + Send>;

pub(crate) trait Backend: Send + Sync {
    /// Queues a write job for `tenant`.
    fn submit(&self, tenant: String, job: Job) -> Result<(), StoreError>;
    fn get(&self, tenant: &str, id: &str) -> Result<Option<Entity>, StoreError>;
    fn query(&self, tenant: &str, q: &EntityQuery) -> Result<QueryResult, StoreError>;
    fn types(&self, tenant: &str) -> Result<Vec<TypeInfo>, StoreError>;
    fn attributes(&self, tenant: &str) -> Result<Vec<AttributeInfo>, StoreError>;
    fn tenant_exists(&self, tenant: &str) -> Result<bool, StoreError>;
    fn count(&self, tenant: &str) -> Result<u64, StoreError>;
    fn temporal_entity(&self, tenant: &str, id: &str, f: &TemporalFilter)
        -> Result<Option<TemporalEntity>, StoreError>;
    fn temporal_query(
        &self,
        tenant: &str,
        q: &EntityQuery,
        f: &TemporalFilter,
    ) -> Result<(Vec<TemporalEntity>, Option<u64>), StoreError>;
    fn retention(&self, tenant: &str) -> Result<Vec<(String, u64)>, StoreError>;
    fn subscription(&self, tenant: &str, id: &str) -> Result<Option<StoredSubscription>, StoreError>;
    fn subscriptions(&self, tenant: &str) -> Result<Vec<StoredSubscription>, StoreError>;
    fn periodic_subscriptions(
        &self,
    ) -> Result<Vec<(String, std::sync::Arc<kizuna_ngsild::subscription::Subscription>)>, StoreError>;
    fn outbox_due(&self, now_ms: i64, limit: usize) -> Result<Vec<(String, String)>, StoreError>;
    fn outbox_head(&self, tenant: &str, sub_id: &str) -> Result<Option<OutboxItem>, StoreError>;
    fn receipts(&self, tenant: &str, entity_id: &str) -> Result<Vec<Receipt>, StoreError>;
    fn set_outbox_listener(&self, f: std::sync::Arc<dyn Fn() + Send + Sync>);
    /// The tenant's policy, cached until a write of a record it is built from commits.
    fn policy(&self, tenant: &str) -> Result<std::sync::Arc<TenantPolicy>, StoreError>;
    fn party(&self, tenant: &str, id: &str) -> Result<Option<Party>, StoreError>;
    fn parties(&self, tenant: &str) -> Result<Vec<Party>, StoreError>;
    fn api_key(&self, id: &str) -> Result<Option<ApiKeyRecord>, StoreError>;
    fn api_keys(&self, tenant: &str) -> Result<Vec<ApiKeyRecord>, StoreError>;
    fn classification(&self, tenant: &str) -> Result<Classification, StoreError>;
    fn consents_of(&self, tenant: &str, subject: &str) -> Result<Vec<ConsentRecord>, StoreError>;
    fn consent(&self, tenant: &str, id: &str) -> Result<Option<ConsentRecord>, StoreError>;
    fn consents_by_recipient(&self, tenant: &str, recipient: &str) -> Result<Vec<ConsentRecord>, StoreError>;
    fn delegations_of(&self, tenant: &str, subject: &str) -> Result<Vec<Delegation>, StoreError>;
    fn delegation(&self, tenant: &str, id: &str) -> Result<Option<Delegation>, StoreError>;
    fn usage_stops_of(&self, tenant: &str, subject: &str) -> Result<Vec<UsageStop>, StoreError>;
    fn provisions_of(
        &self,
        tenant: &str,
        subject: &str,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<(i64, ProvisionRecord)>, StoreError>;
    fn audit_of_subject(
        &self,
        tenant: &str,
        subject: &str,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError>;
    fn audit_page(&self, tenant: &str, after_seq: u64, limit: usize) -> Result<Vec<AuditRecord>, StoreError>;
    fn audit_tenants(&self) -> Result<Vec<String>, StoreError>;
    fn audit_heads(&self) -> Result<Vec<ChainHead>, StoreError>;
    fn verify_audit(&self) -> Result<AuditReport, StoreError>;
    fn guardianships_of(&self, tenant: &str, subject: &str) -> Result<Vec<kizuna_consent::Guardianship>, StoreError>;
    fn fhir_read(&self, tenant: &str, rtype: &str, id: &str) -> Result<Option<FhirRecord>, StoreError>;
    fn fhir_vread(&self, tenant: &str, rtype: &str, id: &str, version: u64) -> Result<Option<FhirRecord>, StoreError>;
    fn fhir_history(&self, tenant: &str, rtype: &str, id: &str) -> Result<Vec<FhirRecord>, StoreError>;
    fn fhir_search(
        &self,
        tenant: &str,
        q: &FhirSearch,
        offset: usize,
        limit: usize,
        gate: &mut dyn FnMut(&FhirHit) -> bool,
    ) -> Result<FhirPage, StoreError>;
    fn fhir_of_subject(&self, tenant: &str, subject: &str) -> Result<Vec<FhirRecord>, StoreError>;
    fn fhir_state(&self, tenant: &str, key: &str) -> Result<Option<serde_json::Value>, StoreError>;
    fn close(&self);
}
