//! Media registration for alerts (issue 7, "Distributing"): a TV station, radio, web
//! site or app vendor registers an endpoint with the areas and warning levels it wants,
//! and every matching alert entity is pushed to it.
//!
//! A medium *is* a subscription, so delivery is the durable, ordered, retried path of
//! `notifier.rs` (outbox written in the alert's own transaction, one ordered drain per
//! subscription, backoff, HMAC signature `Kizuna-Signature` with a per-medium secret):
//!
//! - entities of type `Alert` (`https://uri.etsi.org/ngsi-ld/default-context/Alert`),
//!   trigger `entityCreated` only (an Update or Cancel is a new alert entity);
//! - areas: `q=geocodes=="102016","102024"` (list membership; an alert's `geocodes` is
//!   an array, which matches if any element does) and/or a `geoQ` `intersects` with the
//!   medium's polygon on the alert's `location`; both given: an alert must match both;
//!   neither: every alert of the tenant;
//! - level: the `q` language has no negated existence, so "warningLevel ≥ n, or no
//!   level at all" (shelter opening and closing, lifting) cannot be a `q`; the minimum is
//!   kept in `notifierInfo` (`kizunaMinLevel`) and applied by the notifier at delivery
//!   ([`admits`]): an alert below it is dropped and logged as `discarded` with
//!   [`BELOW_LEVEL`] as reason (so [`receipts`] leaves it out);
//! - `notifierInfo`: `hmacSecret` (32 random bytes, hex, shown once by [`register`]),
//!   `kizunaFormat` (`cap+xml`: each alert is POSTed as its CAP 1.2 XML, `capXml`; `json`:
//!   an ordinary NGSI-LD notification), `kizunaMedium` (marks the subscription as a
//!   medium), `kizunaGeocodes`, `kizunaMinLevel`;
//! - owner: the tenant administrator, so the delivery-time consent decision passes
//!   (alerts are public information).
//!
//! The functions here are the service layer; the HTTP routes belong to the alerts API.

use kizuna_consent::Role;
use kizuna_ngsild::entity::now_timestamp;
use kizuna_ngsild::subscription::Subscription;
use kizuna_ngsild::{Context, Entity, ErrorKind, NgsiError};
use kizuna_store::{DeliveryStatus, ReceiptOutcome, StoredSubscription};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::{bad_data, ApiError};
use crate::notifier::HMAC_SECRET_KEY;
use crate::ApiState;

/// Where NGSI-LD names of the alert entities expand to.
pub const VOCAB: &str = "https://uri.etsi.org/ngsi-ld/default-context/";
/// The expanded type of alert entities.
pub const ALERT_TYPE: &str = "https://uri.etsi.org/ngsi-ld/default-context/Alert";
/// The expanded `capXml` attribute (a Property holding the CAP 1.2 XML string).
pub const CAP_XML_ATTR: &str = "https://uri.etsi.org/ngsi-ld/default-context/capXml";
/// The expanded `warningLevel` attribute (a number; absent for shelter opening/closing).
pub const WARNING_LEVEL_ATTR: &str = "https://uri.etsi.org/ngsi-ld/default-context/warningLevel";

/// `notifierInfo` key: the notification format of a medium (`cap+xml` or `json`).
pub const FORMAT_KEY: &str = "kizunaFormat";
/// `notifierInfo` key: the lowest warning level a medium wants.
pub const MIN_LEVEL_KEY: &str = "kizunaMinLevel";
/// `notifierInfo` key: marks a subscription as a medium (value `true`).
pub const MEDIUM_KEY: &str = "kizunaMedium";
/// `notifierInfo` key: the medium's municipality codes, comma-separated.
pub const GEOCODES_KEY: &str = "kizunaGeocodes";
/// The reason logged for an alert below a medium's minimum level.
pub const BELOW_LEVEL: &str = "below the medium's minimum warning level";
/// The reason logged for a CAP XML medium notified of an entity without `capXml`.
pub const NO_CAP_XML: &str = "the entity has no capXml string to send";

/// The `kizunaFormat` value of CAP XML media.
pub const FORMAT_CAP_XML: &str = "cap+xml";
/// The `kizunaFormat` value of JSON media.
pub const FORMAT_JSON: &str = "json";

/// Longest medium name, in characters.
const MAX_NAME: usize = 200;
/// Most municipality codes per medium.
const MAX_GEOCODES: usize = 2000;

/// How a medium wants alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum MediumFormat {
    /// `application/cap+xml`: the alert's CAP 1.2 XML, one POST per alert.
    #[default]
    #[serde(rename = "cap+xml")]
    CapXml,
    /// An NGSI-LD notification (`application/json`) carrying the alert entity.
    #[serde(rename = "json")]
    Json,
}

impl MediumFormat {
    /// The `kizunaFormat` value.
    pub fn as_str(self) -> &'static str {
        match self {
            MediumFormat::CapXml => FORMAT_CAP_XML,
            MediumFormat::Json => FORMAT_JSON,
        }
    }

    fn from_name(s: &str) -> Option<MediumFormat> {
        match s {
            FORMAT_CAP_XML => Some(MediumFormat::CapXml),
            FORMAT_JSON => Some(MediumFormat::Json),
            _ => None,
        }
    }
}

/// The areas a medium wants; both empty: the whole tenant.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MediumAreas {
    /// 6-digit 全国地方公共団体コード: an alert matches if one of its `geocodes` is listed.
    #[serde(default)]
    pub geocodes: Vec<String>,
    /// A GeoJSON Polygon: an alert matches if its `location` intersects it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub polygon: Option<Value>,
}

/// A medium's registration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Medium {
    /// A name for people (the station, the app).
    pub name: String,
    /// An absolute `http` or `https` URL alerts are POSTed to.
    pub endpoint: String,
    /// The areas it wants.
    #[serde(default)]
    pub areas: MediumAreas,
    /// Deliver alerts whose `warningLevel` is at least this (1–5), and those without a
    /// level; `None`: every alert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_level: Option<u8>,
    /// CAP XML or JSON.
    #[serde(default)]
    pub format: MediumFormat,
}

/// What [`register`] answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Registered {
    /// The medium's id (its subscription's id).
    pub id: String,
    /// The HMAC-SHA256 key of its `Kizuna-Signature` header: 32 random bytes, hex.
    /// Shown only here.
    pub hmac_secret: String,
}

/// A registered medium with its delivery statistics (the secret is never shown).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MediumInfo {
    /// The medium's id (its subscription's id).
    pub id: String,
    /// The registration.
    pub medium: Medium,
    /// Notifications delivered.
    pub times_sent: u64,
    /// Delivery attempts that failed.
    pub times_failed: u64,
    /// Failures since the last success.
    pub consecutive_failures: u64,
    /// Last successful delivery (RFC 3339).
    pub last_success: Option<String>,
    /// Why the last attempt failed.
    pub last_failure_reason: Option<String>,
    /// Notifications waiting in the outbox.
    pub pending: u64,
}

/// Where one alert stands for one medium.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum DeliveryState {
    /// The medium acknowledged it (2xx).
    #[serde(rename_all = "camelCase")]
    Delivered {
        /// When.
        at: String,
        /// Attempts it took.
        attempts: u32,
    },
    /// Attempts failed; it is being retried.
    #[serde(rename_all = "camelCase")]
    Retrying {
        /// Attempts so far.
        attempts: u32,
        /// Why the last one failed.
        last_failure: Option<String>,
        /// When it last failed.
        at: Option<String>,
    },
    /// Queued, not attempted yet.
    Pending,
    /// Dropped without delivery (the medium was deleted, or the consent decision
    /// withheld it).
    #[serde(rename_all = "camelCase")]
    Discarded {
        /// Why.
        reason: Option<String>,
    },
}

/// The receipt of one alert for one medium.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MediumReceipt {
    /// The medium's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Where the alert stands.
    #[serde(flatten)]
    pub state: DeliveryState,
}

fn field(name: &str, detail: impl std::fmt::Display) -> ApiError {
    bad_data(format!("{name}: {detail}"))
}

/// Checks a registration; the error names the field at fault.
pub fn validate(m: &Medium) -> Result<(), ApiError> {
    let name = m.name.trim();
    if name.is_empty() {
        return Err(field("name", "must not be empty"));
    }
    if name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(field("name", format!("at most {MAX_NAME} characters, no control characters")));
    }
    let url = reqwest::Url::parse(&m.endpoint).map_err(|e| field("endpoint", format!("not an absolute URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(field("endpoint", format!("the scheme must be http or https, not '{}'", url.scheme())));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(field("endpoint", "the URL has no host"));
    }
    if m.areas.geocodes.len() > MAX_GEOCODES {
        return Err(field("areas.geocodes", format!("at most {MAX_GEOCODES} codes")));
    }
    for (i, c) in m.areas.geocodes.iter().enumerate() {
        if c.len() != 6 || !c.bytes().all(|b| b.is_ascii_digit()) {
            return Err(field(
                &format!("areas.geocodes[{i}]"),
                format!("'{c}' is not a 6-digit 全国地方公共団体コード (local government code)"),
            ));
        }
    }
    if let Some(p) = &m.areas.polygon {
        if p.get("type").and_then(Value::as_str) != Some("Polygon") {
            return Err(field("areas.polygon", "must be a GeoJSON Polygon ({\"type\": \"Polygon\", ...})"));
        }
        kizuna_ngsild::geo::validate_geometry(p).map_err(|e| field("areas.polygon", e))?;
    }
    if let Some(l) = m.min_level {
        if !(1..=5).contains(&l) {
            return Err(field("minLevel", format!("{l} is not a warning level (1 to 5)")));
        }
    }
    Ok(())
}

/// The subscription body of a medium (names under the core context).
fn subscription_json(m: &Medium, secret: &str) -> Value {
    let mut codes: Vec<&str> = m.areas.geocodes.iter().map(String::as_str).collect();
    codes.sort_unstable();
    codes.dedup();
    let mut info = vec![
        json!({"key": HMAC_SECRET_KEY, "value": secret}),
        json!({"key": FORMAT_KEY, "value": m.format.as_str()}),
        json!({"key": MEDIUM_KEY, "value": "true"}),
    ];
    if !codes.is_empty() {
        info.push(json!({"key": GEOCODES_KEY, "value": codes.join(",")}));
    }
    if let Some(l) = m.min_level {
        info.push(json!({"key": MIN_LEVEL_KEY, "value": l.to_string()}));
    }
    let mut sub = json!({
        "type": "Subscription",
        "subscriptionName": m.name.trim(),
        "description": "Kizuna alert medium",
        "entities": [{"type": "Alert"}],
        "notificationTrigger": ["entityCreated"],
        "notification": {
            "endpoint": {
                "uri": m.endpoint,
                "accept": "application/json",
                "notifierInfo": info,
            }
        }
    });
    if !codes.is_empty() {
        let list: Vec<String> = codes.iter().map(|c| format!("\"{c}\"")).collect();
        sub["q"] = Value::String(format!("geocodes=={}", list.join(",")));
    }
    if let Some(p) = &m.areas.polygon {
        sub["geoQ"] = json!({
            "georel": "intersects",
            "geometry": "Polygon",
            "coordinates": p.get("coordinates").cloned().unwrap_or(Value::Null),
            "geoproperty": "location",
        });
    }
    sub
}

/// 32 random bytes from the system's generator, hex.
fn random_secret() -> Result<String, ApiError> {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| ApiError::Ngsi(NgsiError::new(ErrorKind::InternalError, "the system random generator failed")))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// Registers a medium in `tenant`: validates it (400 naming the field) and stores its
/// subscription, owned by the tenant administrator. Answers its id and the signing
/// secret (shown only now).
pub async fn register(state: &ApiState, tenant: &str, m: Medium) -> Result<Registered, ApiError> {
    validate(&m)?;
    let secret = random_secret()?;
    let body = subscription_json(&m, &secret);
    let id = format!("urn:ngsi-ld:Subscription:medium:{}", uuid::Uuid::new_v4());
    let mut sub = Subscription::parse(&body, &Context::core(), &id)?;
    let now = now_timestamp();
    sub.created_at = Some(now.clone());
    sub.modified_at = Some(now);
    sub.owner = Some(json!({"role": Role::TenantAdmin, "party": null, "subject": null, "purpose": null}));
    state
        .write_unguarded(tenant, move |tx| {
            if tx.insert_subscription(&sub)? {
                Ok(())
            } else {
                Err(ApiError::Ngsi(NgsiError::new(ErrorKind::AlreadyExists, "the medium id is taken")))
            }
        })
        .await?;
    Ok(Registered { id, hmac_secret: secret })
}

fn info_value<'a>(sub: &'a Subscription, key: &str) -> Option<&'a str> {
    sub.notification.endpoint.notifier_info.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// Whether `sub` is a medium's subscription.
pub fn is_medium(sub: &Subscription) -> bool {
    info_value(sub, MEDIUM_KEY) == Some("true") && info_value(sub, FORMAT_KEY).is_some()
}

/// The delivery format of a subscription: `Some(CapXml)` for a CAP XML medium.
pub(crate) fn format_of(sub: &Subscription) -> Option<MediumFormat> {
    info_value(sub, FORMAT_KEY).and_then(MediumFormat::from_name)
}

/// The medium's filter at delivery: `Err(reason)` if `e` is not for it (below its
/// minimum warning level; for a CAP XML medium, no `capXml` to send). Subscriptions that
/// are not media admit everything.
pub(crate) fn admits(sub: &Subscription, e: &Entity) -> Result<(), &'static str> {
    if let Some(min) = info_value(sub, MIN_LEVEL_KEY).and_then(|v| v.parse::<f64>().ok()) {
        let levels: Vec<f64> =
            e.attrs.get(WARNING_LEVEL_ATTR).into_iter().flatten().filter_map(|a| a.value.as_f64()).collect();
        if !levels.is_empty() && levels.iter().all(|l| *l < min) {
            return Err(BELOW_LEVEL);
        }
    }
    if format_of(sub) == Some(MediumFormat::CapXml) && cap_xml(e).is_none() {
        return Err(NO_CAP_XML);
    }
    Ok(())
}

/// The CAP XML an alert entity carries (`capXml`).
pub(crate) fn cap_xml(e: &Entity) -> Option<&str> {
    e.attrs.get(CAP_XML_ATTR)?.iter().find_map(|a| a.value.as_str())
}

fn to_info(s: &StoredSubscription) -> MediumInfo {
    let sub = &s.sub;
    let geocodes = info_value(sub, GEOCODES_KEY)
        .map(|v| v.split(',').filter(|c| !c.is_empty()).map(str::to_string).collect())
        .unwrap_or_default();
    let polygon = sub.geo_q.as_ref().map(|g| g.geometry.clone());
    let st: &DeliveryStatus = &s.status;
    MediumInfo {
        id: sub.id.clone(),
        medium: Medium {
            name: sub.name.clone().unwrap_or_default(),
            endpoint: sub.notification.endpoint.uri.clone(),
            areas: MediumAreas { geocodes, polygon },
            min_level: info_value(sub, MIN_LEVEL_KEY).and_then(|v| v.parse().ok()),
            format: format_of(sub).unwrap_or_default(),
        },
        times_sent: st.times_sent,
        times_failed: st.times_failed,
        consecutive_failures: st.consecutive_failures,
        last_success: st.last_success.clone(),
        last_failure_reason: st.last_failure_reason.clone(),
        pending: s.pending,
    }
}

/// Every medium of `tenant`, in id order.
pub async fn list(state: &ApiState, tenant: &str) -> Result<Vec<MediumInfo>, ApiError> {
    let t = tenant.to_string();
    let subs = state.read(move |s| s.subscriptions(&t)).await?;
    Ok(subs.iter().filter(|s| is_medium(&s.sub)).map(to_info).collect())
}

fn not_found(id: &str) -> ApiError {
    ApiError::Ngsi(NgsiError::not_found(format!("medium '{id}' not found")))
}

/// The medium `id` of `tenant` (404 if there is none, or `id` is not a medium).
pub async fn get(state: &ApiState, tenant: &str, id: &str) -> Result<MediumInfo, ApiError> {
    let (t, i) = (tenant.to_string(), id.to_string());
    match state.read(move |s| s.subscription(&t, &i)).await? {
        Some(s) if is_medium(&s.sub) => Ok(to_info(&s)),
        _ => Err(not_found(id)),
    }
}

/// Deletes the medium `id` of `tenant` and its queued alerts (404 if there is none).
pub async fn delete(state: &ApiState, tenant: &str, id: &str) -> Result<(), ApiError> {
    let i = id.to_string();
    let gone = state
        .write_unguarded(tenant, move |tx| match tx.get_subscription(&i)? {
            Some(s) if is_medium(&s) => Ok(tx.delete_subscription(&i)?),
            _ => Ok(false),
        })
        .await?;
    if gone {
        Ok(())
    } else {
        Err(not_found(id))
    }
}

/// Per medium of `tenant`, where the alert entity `alert_entity_id` stands: delivered
/// (when, after how many attempts), still being retried (attempts, last failure), queued,
/// or discarded. Media the alert was not for (other areas, below their level) are not
/// listed; neither are deleted media.
pub async fn receipts(state: &ApiState, tenant: &str, alert_entity_id: &str) -> Result<Vec<MediumReceipt>, ApiError> {
    let (t, e) = (tenant.to_string(), alert_entity_id.to_string());
    let (receipts, subs) = state.read(move |s| Ok((s.receipts(&t, &e)?, s.subscriptions(&t)?))).await?;
    let mut out = Vec::new();
    for r in receipts {
        let Some(s) = subs.iter().find(|s| s.sub.id == r.sub_id && is_medium(&s.sub)) else { continue };
        let state = match (r.outcome, r.pending) {
            (Some(ReceiptOutcome::Discarded), _) if r.reason.as_deref() == Some(BELOW_LEVEL) => continue,
            (Some(ReceiptOutcome::Delivered), false) => {
                DeliveryState::Delivered { at: r.at.unwrap_or_default(), attempts: r.attempts }
            }
            (Some(ReceiptOutcome::Failed), _) => {
                DeliveryState::Retrying { attempts: r.attempts, last_failure: r.reason, at: r.at }
            }
            (Some(ReceiptOutcome::Discarded), false) => DeliveryState::Discarded { reason: r.reason },
            // Queued again after an earlier outcome (a periodic or repeated notification).
            (_, true) => DeliveryState::Pending,
            (None, false) => continue,
        };
        out.push(MediumReceipt { id: s.sub.id.clone(), name: s.sub.name.clone().unwrap_or_default(), state });
    }
    Ok(out)
}
