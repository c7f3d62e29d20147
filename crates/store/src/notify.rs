//! Subscriptions and the notification outbox, in domain terms.
//!
//! A write decides which subscriptions it fires *inside its own transaction* and stores
//! one outbox row per notification; the row is removed only when the receiver has
//! acknowledged it. So a notification survives a crash after the write was
//! acknowledged, and is delivered at least once.

use std::sync::Arc;

use kizuna_ngsild::subscription::Subscription;
use kizuna_ngsild::Entity;

/// Delivery statistics of a subscription (ETSI GS CIM 009 §5.2.12 `notification` status).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeliveryStatus {
    /// Notifications delivered.
    pub times_sent: u64,
    /// Delivery attempts that failed.
    pub times_failed: u64,
    /// Failures since the last success.
    pub consecutive_failures: u64,
    /// Last attempt (RFC 3339).
    pub last_notification: Option<String>,
    /// Last successful delivery.
    pub last_success: Option<String>,
    /// Last failed attempt.
    pub last_failure: Option<String>,
    /// Why the last attempt failed.
    pub last_failure_reason: Option<String>,
}

/// A subscription as stored, with its delivery status and queue length.
#[derive(Debug, Clone)]
pub struct StoredSubscription {
    /// The subscription.
    pub sub: Arc<Subscription>,
    /// Delivery statistics.
    pub status: DeliveryStatus,
    /// Notifications waiting in the outbox.
    pub pending: u64,
}

/// One pending notification.
#[derive(Debug, Clone)]
pub struct OutboxItem {
    /// Position in the outbox (delivery order within a subscription).
    pub seq: i64,
    /// Tenant of the subscription.
    pub tenant: String,
    /// The subscription.
    pub sub_id: String,
    /// Why it fired (`entityCreated`, `attributeUpdated`, ...).
    pub trigger: String,
    /// The entities to notify: whole, as they were after the change (before, for a
    /// deletion); several for a periodic notification. The deliverer decides what the
    /// owner may see and applies the subscription's attribute projection.
    pub entities: Vec<Entity>,
    /// When the change happened (Unix ms).
    pub created_ms: i64,
    /// Delivery attempts so far.
    pub attempts: u32,
}

/// The outcome of one delivery attempt.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// The receiver accepted it: remove it from the outbox.
    Delivered,
    /// It failed: try again at `retry_at_ms`; after `max_failures` consecutive failures
    /// the subscription's status shows `failed` (delivery goes on being retried).
    Failed {
        /// Why.
        reason: String,
        /// When to try again (Unix ms).
        retry_at_ms: i64,
    },
    /// It can no longer be delivered (subscription gone): drop it, saying why in the log.
    Discard,
    /// It is not for this receiver (the owner may see none of it, or a medium's filter
    /// refused it): drop it without counting a delivery or a failure; the delivery log
    /// records it as `discarded` with `reason`.
    Dropped {
        /// Why.
        reason: String,
    },
}

/// What became of one entity's notification to one subscription (the delivery log,
/// [`crate::Store::receipts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptOutcome {
    /// The receiver accepted it.
    Delivered,
    /// The last attempt failed (it is retried while still pending).
    Failed,
    /// It was dropped (subscription gone, nothing the owner may see, filtered out).
    Discarded,
}

impl ReceiptOutcome {
    /// The name stored in the log: `delivered`, `failed`, `discarded`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiptOutcome::Delivered => "delivered",
            ReceiptOutcome::Failed => "failed",
            ReceiptOutcome::Discarded => "discarded",
        }
    }

    /// The outcome named `s` (see [`ReceiptOutcome::as_str`]).
    pub fn from_name(s: &str) -> Option<ReceiptOutcome> {
        [ReceiptOutcome::Delivered, ReceiptOutcome::Failed, ReceiptOutcome::Discarded]
            .into_iter()
            .find(|o| o.as_str() == s)
    }
}

/// The delivery state of one entity for one subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The subscription.
    pub sub_id: String,
    /// The latest logged outcome; `None`: queued, never attempted yet.
    pub outcome: Option<ReceiptOutcome>,
    /// Why the latest attempt failed or was discarded.
    pub reason: Option<String>,
    /// When the latest outcome was logged (RFC 3339).
    pub at: Option<String>,
    /// Delivery attempts made for the latest notification of the entity (1 for a first
    /// success); 0 when never attempted.
    pub attempts: u32,
    /// Whether a notification of the entity is still queued for the subscription.
    pub pending: bool,
    /// The latest failure's reason, if any attempt failed (also after a later success).
    pub last_failure: Option<String>,
}
