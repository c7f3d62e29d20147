//! Delivering notifications from the store's outbox (ETSI GS CIM 009 §5.8.1, §5.3).
//!
//! - A dispatcher wakes when a commit queued notifications (or every 500 ms, for
//!   retries that came due) and starts one *drain* task per subscription with pending
//!   notifications, at most one per subscription at a time: that is what keeps each
//!   subscription's notifications in order, while a slow or dead receiver only ever
//!   holds up its own queue — never writes, never other subscriptions.
//! - A drain sends the queue head; on success the outbox row is removed and the
//!   subscription's status updated in one durable write; on failure the row stays with
//!   the next attempt scheduled after an exponential backoff (1 s doubling to
//!   [`NotifierConfig::max_backoff`]), and after [`NotifierConfig::max_failures`]
//!   consecutive failures the subscription reports `status: failed` (delivery is still
//!   retried; the next success makes it `ok` again).
//! - The subscription is read again at every delivery, so a change (or deletion, or
//!   `isActive: false`) applies to notifications already queued.
//! - Throttling delays a notification until `throttling` seconds after the previous
//!   one; nothing is dropped.
//!
//! MQTT endpoints are published to by `mqtt.rs`, with the same headers as metadata.
//!
//! Each request carries `Kizuna-Notification-Id` (stable across retries, for receivers
//! to drop duplicates) and `Kizuna-Subscription-Id`; when the subscription's
//! `notification.endpoint.notifierInfo` has a `hmacSecret`, it also carries
//! `Kizuna-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
//!
//! Alert media (`media.rs`) are subscriptions with Kizuna keys in `notifierInfo`: their
//! filter (minimum warning level) is applied here at delivery, an item it refuses is
//! dropped and logged as `discarded`; a `kizunaFormat: cap+xml` medium gets each entity's
//! `capXml` as one `POST` (`application/cap+xml; charset=utf-8`, same headers, the
//! signature over the XML). Every outcome is also appended to the delivery log
//! (`Store::receipts`) by `Txn::record_delivery`, in the same transaction.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, Mac};
use kizuna_ngsild::context::CORE_CONTEXT_URL;
use kizuna_ngsild::entity::now_timestamp;
use kizuna_store::{Delivery, OutboxItem, Store, StoreError, StoredSubscription, Subscription};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::sync::Notify;

use crate::ApiState;

/// Settings of notification delivery.
#[derive(Debug, Clone)]
pub struct NotifierConfig {
    /// Consecutive failures after which a subscription shows `failed`.
    pub max_failures: u64,
    /// The first retry delay; it doubles per failure.
    pub base_backoff: Duration,
    /// The longest retry delay.
    pub max_backoff: Duration,
    /// Timeout of one delivery request.
    pub timeout: Duration,
}

impl Default for NotifierConfig {
    fn default() -> Self {
        NotifierConfig {
            max_failures: 3,
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            timeout: Duration::from_secs(10),
        }
    }
}

/// The header with the notification's HMAC signature.
pub const SIGNATURE_HEADER: &str = "Kizuna-Signature";
/// The `notifierInfo` key holding the signing secret.
pub const HMAC_SECRET_KEY: &str = "hmacSecret";

/// Starts the dispatcher; it runs until the store closes.
pub fn spawn_notifier(state: ApiState, config: NotifierConfig) {
    let wake = Arc::new(Notify::new());
    let w = Arc::clone(&wake);
    state.store.set_outbox_listener(Arc::new(move || w.notify_one()));
    let client = reqwest::Client::builder()
        .timeout(config.timeout)
        .user_agent(concat!("kizuna/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default();
    let inflight: Arc<Mutex<HashSet<(String, String)>>> = Arc::new(Mutex::new(HashSet::new()));
    let last_sent: LastSent = Arc::new(Mutex::new(HashMap::new()));
    tokio::spawn(periodic(state.clone()));
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
            let store = state.store.clone();
            let now = chrono::Utc::now().timestamp_millis();
            let due = match tokio::task::spawn_blocking(move || store.outbox_due(now, 10_000)).await {
                Ok(Ok(d)) => d,
                Ok(Err(StoreError::Closed)) | Err(_) => break,
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "reading the outbox failed");
                    continue;
                }
            };
            for key in due {
                let fresh = inflight.lock().map(|mut s| s.insert(key.clone())).unwrap_or(false);
                if !fresh {
                    continue;
                }
                let (state, client, config, inflight, last_sent) =
                    (state.clone(), client.clone(), config.clone(), Arc::clone(&inflight), Arc::clone(&last_sent));
                tokio::spawn(async move {
                    drain(&state, &client, &config, &last_sent, &key.0, &key.1).await;
                    if let Ok(mut s) = inflight.lock() {
                        s.remove(&key);
                    }
                });
            }
        }
    });
}

async fn blocking<T: Send + 'static>(
    store: &Store,
    f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let s = store.clone();
    tokio::task::spawn_blocking(move || f(&s)).await.map_err(|_| StoreError::Closed)?
}

/// When each subscription last had a notification sent (for throttling).
type LastSent = Arc<Mutex<HashMap<(String, String), tokio::time::Instant>>>;

/// Delivers one subscription's queue in order until it is empty or a delivery fails.
async fn drain(
    state: &ApiState,
    client: &reqwest::Client,
    config: &NotifierConfig,
    last_sent: &LastSent,
    tenant: &str,
    sub_id: &str,
) {
    let key = (tenant.to_string(), sub_id.to_string());
    loop {
        let (t, s) = (tenant.to_string(), sub_id.to_string());
        let head = match blocking(&state.store, move |st| st.outbox_head(&t, &s)).await {
            Ok(Some(h)) => h,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(error = %e, "reading the outbox failed");
                return;
            }
        };
        let head_seq = head.seq;
        let (t, s) = (tenant.to_string(), sub_id.to_string());
        let stored = match blocking(&state.store, move |st| st.subscription(&t, &s)).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "reading a subscription failed");
                return;
            }
        };
        let outcome = match stored {
            None => {
                tracing::warn!(subscription = %sub_id, seq = head.seq, "subscription deleted: dropping its queued notification");
                Delivery::Discard
            }
            // Paused or expired: the queue is kept, nothing is sent.
            Some(StoredSubscription { sub, .. }) if !sub.is_active || sub.is_expired() => return,
            Some(StoredSubscription { sub, .. }) => {
                // The owner's rights are decided now, at delivery, against the policy as
                // it is now: a withdrawal stops even a notification queued before it.
                let head = match release_to_owner(state, tenant, &sub, head).await {
                    Ok(Some(item)) => item,
                    Ok(None) => {
                        tracing::info!(subscription = %sub_id, "notification withheld: the owner may see none of its entities");
                        let reason = "the owner may see none of its entities".to_string();
                        if drop_head(state, tenant, sub_id, head_seq, reason).await {
                            continue;
                        }
                        return;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "deciding a notification's release failed");
                        return;
                    }
                };
                // A medium's own filter (minimum warning level; CAP XML to send).
                let head = match media_filter(&sub, head) {
                    Ok(item) => item,
                    Err(reason) => {
                        tracing::debug!(subscription = %sub_id, %reason, "notification not for this medium");
                        if drop_head(state, tenant, sub_id, head_seq, reason).await {
                            continue;
                        }
                        return;
                    }
                };
                let previous = last_sent.lock().ok().and_then(|m| m.get(&key).copied());
                if let (Some(secs), Some(at)) = (sub.throttling, previous) {
                    tokio::time::sleep_until(at + Duration::from_secs(secs)).await;
                }
                if let Ok(mut m) = last_sent.lock() {
                    m.insert(key.clone(), tokio::time::Instant::now());
                }
                match send(state, client, tenant, &sub, &head, config.timeout).await {
                    Ok(()) => Delivery::Delivered,
                    Err(reason) => {
                        let exp = head.attempts.min(16);
                        let delay = config.base_backoff.saturating_mul(1u32 << exp).min(config.max_backoff);
                        tracing::warn!(subscription = %sub_id, attempts = head.attempts + 1, %reason, "notification failed");
                        Delivery::Failed {
                            reason,
                            retry_at_ms: chrono::Utc::now().timestamp_millis() + delay.as_millis() as i64,
                        }
                    }
                }
            }
        };
        let failed = matches!(outcome, Delivery::Failed { .. });
        let (s, seq) = (sub_id.to_string(), head_seq);
        let now = now_timestamp();
        let record = state.write_unguarded(tenant, move |tx| Ok(tx.record_delivery(&s, seq, &outcome, &now)?)).await;
        if let Err(e) = record {
            tracing::error!(error = %e, "recording a delivery failed");
            return;
        }
        if failed {
            return;
        }
    }
}

/// Removes the queue head without delivering it, logging why; `false` if that failed.
async fn drop_head(state: &ApiState, tenant: &str, sub_id: &str, seq: i64, reason: String) -> bool {
    let now = now_timestamp();
    let s = sub_id.to_string();
    let r = state
        .write_unguarded(tenant, move |tx| Ok(tx.record_delivery(&s, seq, &Delivery::Dropped { reason }, &now)?))
        .await;
    if let Err(e) = r {
        tracing::error!(error = %e, "recording a delivery failed");
        return false;
    }
    true
}

/// The item restricted to the entities a medium's filter admits (`crate::media`);
/// `Err(reason)` if none. Subscriptions that are not media pass unchanged.
fn media_filter(sub: &Subscription, mut item: OutboxItem) -> Result<OutboxItem, String> {
    let mut reason = None;
    item.entities.retain(|e| match crate::media::admits(sub, e) {
        Ok(()) => true,
        Err(r) => {
            reason = Some(r);
            false
        }
    });
    match (item.entities.is_empty(), reason) {
        (true, Some(r)) => Err(r.to_string()),
        _ => Ok(item),
    }
}

/// The queued item restricted to what the subscription's owner may read now (`None`:
/// nothing), with the decisions audited before anything is sent.
async fn release_to_owner(
    state: &ApiState,
    tenant: &str,
    sub: &Subscription,
    mut item: OutboxItem,
) -> Result<Option<OutboxItem>, crate::ApiError> {
    let t = tenant.to_string();
    let policy = state.read(move |s| s.policy(&t)).await?;
    let access = crate::access::Access::of_owner(sub.owner.as_ref(), tenant, policy, state.config.dev_open_access);
    let now = chrono::Utc::now();
    let (mut audits, mut provisions, mut released) = (Vec::new(), Vec::new(), Vec::new());
    let periodic = sub.is_periodic();
    for e in std::mem::take(&mut item.entities) {
        let v = access.decide(e, now);
        audits.extend(v.audit);
        provisions.extend(v.provision);
        // The trigger was decided on the whole entity at write time; what fired it must
        // also hold on what the owner may see, or the notification itself would tell
        // them something about a withheld attribute (say `q=diastolic>100`).
        let visible = v.released.filter(|r| {
            sub.selects(r)
                && (periodic
                    || sub.watched_attributes.is_empty()
                    || sub.watched_attributes.iter().any(|w| r.attrs.contains_key(w)))
        });
        released.extend(visible);
    }
    crate::access::record(state, tenant, audits, provisions).await?;
    if released.is_empty() {
        return Ok(None);
    }
    item.entities = released;
    Ok(Some(item))
}

/// Queues periodic notifications (`timeInterval`): every matching entity, in one
/// notification per interval, through the same outbox as change notifications.
async fn periodic(state: ApiState) {
    let mut last: HashMap<(String, String), tokio::time::Instant> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tick.tick().await;
        let store = state.store.clone();
        let subs = match tokio::task::spawn_blocking(move || store.periodic_subscriptions()).await {
            Ok(Ok(s)) => s,
            Ok(Err(StoreError::Closed)) | Err(_) => return,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "reading periodic subscriptions failed");
                continue;
            }
        };
        let now = tokio::time::Instant::now();
        let live: HashSet<(String, String)> = subs.iter().map(|(t, s)| (t.clone(), s.id.clone())).collect();
        last.retain(|k, _| live.contains(k));
        for (tenant, sub) in subs {
            let Some(secs) = sub.time_interval else { continue };
            let key = (tenant.clone(), sub.id.clone());
            let due = last.get(&key).is_none_or(|t| now.duration_since(*t) >= Duration::from_secs(secs));
            if !due || !sub.is_active || sub.is_expired() {
                continue;
            }
            last.insert(key, now);
            if let Err(e) = enqueue_periodic(&state, &tenant, &sub).await {
                tracing::error!(subscription = %sub.id, error = %e, "periodic notification failed");
            }
        }
    }
}

/// Most entities in one periodic notification.
const PERIODIC_MAX_ENTITIES: usize = 1000;

async fn enqueue_periodic(state: &ApiState, tenant: &str, sub: &Arc<Subscription>) -> Result<(), crate::ApiError> {
    let (t, s) = (tenant.to_string(), Arc::clone(sub));
    let entities = state
        .read(move |store| {
            let mut found: Vec<kizuna_ngsild::Entity> = Vec::new();
            for sel in &s.entities {
                let q = kizuna_store::EntityQuery {
                    types: Some(kizuna_store::TypeSelector(sel.types.0.clone())),
                    ids: sel.id.iter().cloned().collect(),
                    q: s.q.as_ref().map(|f| f.query.clone()),
                    geo: s.geo_q.clone(),
                    limit: PERIODIC_MAX_ENTITIES,
                    ..Default::default()
                };
                for e in store.query(&t, &q)?.entities {
                    // Whole entities: the delivery decides and projects them.
                    if s.selects(&e) && !found.iter().any(|f| f.id == e.id) {
                        found.push(e);
                    }
                }
            }
            Ok(found)
        })
        .await?;
    if entities.is_empty() {
        return Ok(());
    }
    let id = sub.id.clone();
    state.write_unguarded(tenant, move |tx| Ok(tx.enqueue_notification(&id, "timeInterval", &entities)?)).await
}

/// The stable id of a notification (the same on every retry).
fn notification_id(item: &OutboxItem) -> String {
    format!("urn:ngsi-ld:Notification:{}-{}", item.created_ms, item.seq)
}

/// Sends one notification; `Err` says why it failed.
async fn send(
    state: &ApiState,
    client: &reqwest::Client,
    tenant: &str,
    sub: &Subscription,
    item: &OutboxItem,
    timeout: Duration,
) -> Result<(), String> {
    if crate::media::format_of(sub) == Some(crate::media::MediumFormat::CapXml) {
        return send_cap_xml(client, tenant, sub, item).await;
    }
    let user = sub.jsonld_context.as_ref().map(|u| Value::String(u.clone()));
    let ctx = state.contexts.resolve(user.as_ref()).await.map_err(|e| format!("@context: {e}"))?;
    let ld = sub.notification.endpoint.accept == kizuna_ngsild::subscription::Accept::JsonLd;
    let mut body = json!({
        "id": notification_id(item),
        "type": "Notification",
        "subscriptionId": sub.id,
        "notifiedAt": now_timestamp(),
        "data": item.entities.iter().map(|e| sub.render_notification_data(e, &ctx)).collect::<Vec<_>>(),
        "triggerReason": item.trigger,
    });
    let context_url = sub.jsonld_context.clone().unwrap_or_else(|| CORE_CONTEXT_URL.to_string());
    if ld {
        body["@context"] = Value::String(context_url.clone());
    }
    let uri = &sub.notification.endpoint.uri;
    if uri.starts_with("mqtt://") || uri.starts_with("mqtts://") {
        let mut meta = serde_json::Map::new();
        meta.insert(
            "Content-Type".into(),
            Value::String(if ld { "application/ld+json" } else { "application/json" }.into()),
        );
        if !ld {
            meta.insert(
                "Link".into(),
                Value::String(format!(
                    "<{context_url}>; rel=\"http://www.w3.org/ns/json-ld#context\"; type=\"application/ld+json\""
                )),
            );
        }
        meta.insert("Kizuna-Notification-Id".into(), Value::String(notification_id(item)));
        if !tenant.is_empty() {
            meta.insert(crate::TENANT_HEADER.into(), Value::String(tenant.into()));
        }
        for (k, v) in &sub.notification.endpoint.receiver_info {
            meta.insert(k.clone(), Value::String(v.clone()));
        }
        if let Some((_, secret)) = sub.notification.endpoint.notifier_info.iter().find(|(k, _)| k == HMAC_SECRET_KEY) {
            let sig = signature(secret, &body.to_string(), chrono::Utc::now().timestamp());
            meta.insert(SIGNATURE_HEADER.into(), Value::String(sig));
        }
        let qos = sub
            .notification
            .endpoint
            .notifier_info
            .iter()
            .find(|(k, _)| k == "MQTT-QoS")
            .and_then(|(_, v)| v.parse::<u8>().ok())
            .unwrap_or(1);
        return crate::mqtt::publish(uri, meta, body, qos, timeout).await;
    }
    let text = body.to_string();
    if !(uri.starts_with("http://") || uri.starts_with("https://")) {
        return Err(format!("endpoint scheme of {uri} is not supported"));
    }
    let mut req = client
        .post(uri)
        .header("Content-Type", if ld { "application/ld+json" } else { "application/json" })
        .header("Kizuna-Notification-Id", notification_id(item))
        .header("Kizuna-Subscription-Id", &sub.id);
    if !ld {
        req = req.header(
            "Link",
            format!("<{context_url}>; rel=\"http://www.w3.org/ns/json-ld#context\"; type=\"application/ld+json\""),
        );
    }
    if !tenant.is_empty() {
        req = req.header(crate::TENANT_HEADER, tenant);
    }
    for (k, v) in &sub.notification.endpoint.receiver_info {
        req = req.header(k.as_str(), v.as_str());
    }
    if let Some((_, secret)) = sub.notification.endpoint.notifier_info.iter().find(|(k, _)| k == HMAC_SECRET_KEY) {
        req = req.header(SIGNATURE_HEADER, signature(secret, &text, chrono::Utc::now().timestamp()));
    }
    let resp = req.body(text).send().await.map_err(|e| format!("{uri}: {e}"))?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(format!("{uri} answered HTTP {}", resp.status().as_u16()))
    }
}

/// Sends each entity of the item to a CAP XML medium as one `POST` of its `capXml`
/// (`application/cap+xml`), in order, with the headers of every notification and the
/// signature over the XML; `Err` at the first refusal (the whole item is retried).
async fn send_cap_xml(
    client: &reqwest::Client,
    tenant: &str,
    sub: &Subscription,
    item: &OutboxItem,
) -> Result<(), String> {
    let uri = &sub.notification.endpoint.uri;
    if !(uri.starts_with("http://") || uri.starts_with("https://")) {
        return Err(format!("endpoint scheme of {uri} is not supported for CAP XML"));
    }
    let secret = sub.notification.endpoint.notifier_info.iter().find(|(k, _)| k == HMAC_SECRET_KEY);
    for e in &item.entities {
        // The medium filter dropped entities without XML before this point.
        let Some(xml) = crate::media::cap_xml(e) else { continue };
        let mut req = client
            .post(uri)
            .header("Content-Type", "application/cap+xml; charset=utf-8")
            .header("Kizuna-Notification-Id", notification_id(item))
            .header("Kizuna-Subscription-Id", &sub.id);
        if !tenant.is_empty() {
            req = req.header(crate::TENANT_HEADER, tenant);
        }
        for (k, v) in &sub.notification.endpoint.receiver_info {
            req = req.header(k.as_str(), v.as_str());
        }
        if let Some((_, secret)) = secret {
            req = req.header(SIGNATURE_HEADER, signature(secret, xml, chrono::Utc::now().timestamp()));
        }
        let resp = req.body(xml.to_string()).send().await.map_err(|e| format!("{uri}: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("{uri} answered HTTP {}", resp.status().as_u16()));
        }
    }
    Ok(())
}

/// `t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn signature(secret: &str, body: &str, unix: i64) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(), // HMAC accepts keys of any length; unreachable
    };
    mac.update(format!("{unix}.{body}").as_bytes());
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("t={unix},v1={hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_rfc4231_hmac() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").expect("key");
        mac.update(b"what do ya want for nothing?");
        let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        let s = signature("k", "{}", 1700000000);
        assert!(s.starts_with("t=1700000000,v1=") && s.len() == "t=1700000000,v1=".len() + 64);
    }
}
