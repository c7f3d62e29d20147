//! The contract every storage backend fulfils. `pub(crate)`: callers use [`crate::Store`].

use crate::{AttributeInfo, EntityQuery, QueryResult, StoreError, TemporalEntity, TemporalFilter, Txn, TypeInfo};
use crate::{OutboxItem, StoredSubscription};
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
    fn set_outbox_listener(&self, f: std::sync::Arc<dyn Fn() + Send + Sync>);
    fn close(&self);
}
