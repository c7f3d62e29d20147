//! NGSI-LD subscriptions (ETSI GS CIM 009 V1.8 §5.2.12 Subscription, §5.2.14
//! NotificationParams, §5.2.15 Endpoint) as a pure model: parsing and validating client
//! JSON, rendering it back, merging a PATCH, and deciding whether a change of an entity
//! fires a subscription.
//!
//! Names (entity types, attributes, the `q` attribute paths, the `geoQ` GeoProperty) are
//! held expanded, like [`Entity`] holds them, so matching never depends on a context.
//! The `q` text is kept as the client wrote it, for rendering.
//!
//! # Layout
//! - this file: the model ([`Subscription`], [`EntitySelector`], [`TypeSelection`],
//!   [`QFilter`], [`NotificationParams`], [`Endpoint`], [`Accept`], [`Trigger`]),
//!   rendering ([`Subscription::to_json`], [`Subscription::to_storage_json`]) and the
//!   notification semantics ([`Subscription::selects`], [`Subscription::trigger`],
//!   [`Subscription::project`], [`Subscription::render_notification_data`]);
//! - `parse.rs`: client JSON → model with every error naming the offending member
//!   ([`Subscription::parse`], [`Subscription::restore`], [`Subscription::merge_patch`]),
//!   and the type selection syntax of `entities[].type`.
//!
//! # Decisions
//! - Entity creation fires `entityCreated` if listed, else `attributeCreated` if listed
//!   and the new entity has a watched attribute (every attribute of a new entity is
//!   created); entity deletion likewise fires `entityDeleted`, else `attributeDeleted`.
//!   So the default triggers (`attributeCreated`, `attributeUpdated`) notify creations of
//!   matching entities but not their deletion.
//! - When several triggers apply to one change, the first one in the subscription's
//!   `notificationTrigger` order is reported.
//! - An attribute is *updated* when its instances differ in anything but the system
//!   timestamps (`createdAt`, `modifiedAt`): writing the same value again fires nothing.
//! - A periodic subscription (`timeInterval`) has no triggers (its
//!   [`Subscription::notification_trigger`] is empty) and never fires on changes.

mod parse;

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::context::Context;
use crate::entity::{render_entity, Attribute, Entity, Format, RenderOptions};
use crate::geoquery::GeoQuery;
use crate::query::{Pattern, Query};

pub use parse::parse_type_selection;

/// What kind of change fires a notification (`notificationTrigger`, §5.2.12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trigger {
    /// A matching entity was created.
    EntityCreated,
    /// A matching entity changed (any watched attribute created, updated or deleted).
    EntityUpdated,
    /// A matching entity was deleted.
    EntityDeleted,
    /// A watched attribute was added to a matching entity.
    AttributeCreated,
    /// A watched attribute of a matching entity changed.
    AttributeUpdated,
    /// A watched attribute was removed from a matching entity.
    AttributeDeleted,
}

/// The triggers of a subscription that names none (§5.2.12).
pub const DEFAULT_TRIGGERS: [Trigger; 2] = [Trigger::AttributeCreated, Trigger::AttributeUpdated];

impl Trigger {
    /// Every trigger, in the order the specification lists them.
    pub const ALL: [Trigger; 6] = [
        Trigger::EntityCreated,
        Trigger::EntityUpdated,
        Trigger::EntityDeleted,
        Trigger::AttributeCreated,
        Trigger::AttributeUpdated,
        Trigger::AttributeDeleted,
    ];

    /// The name as written in `notificationTrigger` (and in a notification's `triggerReason`).
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::EntityCreated => "entityCreated",
            Trigger::EntityUpdated => "entityUpdated",
            Trigger::EntityDeleted => "entityDeleted",
            Trigger::AttributeCreated => "attributeCreated",
            Trigger::AttributeUpdated => "attributeUpdated",
            Trigger::AttributeDeleted => "attributeDeleted",
        }
    }

    /// The trigger named `name`, if any.
    pub fn from_name(name: &str) -> Option<Trigger> {
        Trigger::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// Entity type selection (§4.17): a disjunction of conjunctions of expanded type IRIs.
///
/// `A` is `[[A]]`, `A,B` (or `A|B`) is `[[A],[B]]`, `(A;B)|C` is `[[A,B],[C]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeSelection(pub Vec<Vec<String>>);

impl TypeSelection {
    /// Selects entities having the type `iri` (expanded).
    pub fn single(iri: impl Into<String>) -> TypeSelection {
        TypeSelection(vec![vec![iri.into()]])
    }

    /// Whether an entity with `types` (expanded) is selected.
    pub fn matches(&self, types: &[String]) -> bool {
        self.0.iter().any(|all| all.iter().all(|t| types.contains(t)))
    }

    /// The selection in the type selection syntax, names compacted with `ctx`: `A`,
    /// `A,B` when every alternative is a single type, otherwise `(A;B)|C`.
    pub fn render(&self, ctx: &Context) -> String {
        let simple = self.0.iter().all(|all| all.len() == 1);
        let alts: Vec<String> = self
            .0
            .iter()
            .map(|all| {
                let names: Vec<String> = all.iter().map(|t| ctx.compact(t)).collect();
                if names.len() == 1 {
                    names.join("")
                } else {
                    format!("({})", names.join(";"))
                }
            })
            .collect();
        alts.join(if simple { "," } else { "|" })
    }
}

/// Which entities a subscription is about (EntitySelector).
#[derive(Debug, Clone, PartialEq)]
pub struct EntitySelector {
    /// Only the entity with this id.
    pub id: Option<String>,
    /// Only entities whose id matches this regular expression (anywhere in the id).
    pub id_pattern: Option<Pattern>,
    /// The entity types selected (mandatory in the specification).
    pub types: TypeSelection,
}

impl EntitySelector {
    /// Whether `e` is selected: its types match and its id equals `id` and matches
    /// `idPattern`, for those given.
    pub fn matches(&self, e: &Entity) -> bool {
        self.types.matches(&e.types)
            && self.id.as_ref().is_none_or(|id| *id == e.id)
            && self.id_pattern.as_ref().is_none_or(|p| p.is_match(&e.id))
    }
}

/// A `q` filter: the text as the client wrote it and the parsed query with its
/// attribute names expanded.
#[derive(Debug, Clone, PartialEq)]
pub struct QFilter {
    /// The text, as given.
    pub text: String,
    /// The parsed query, names expanded with the subscription's context.
    pub query: Query,
}

/// The media type notifications are sent as (`endpoint.accept`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Accept {
    /// `application/json` (the default): the `@context` goes in a `Link` header.
    #[default]
    Json,
    /// `application/ld+json`: the `@context` goes in the body.
    JsonLd,
}

impl Accept {
    /// The media type.
    pub fn as_str(self) -> &'static str {
        match self {
            Accept::Json => "application/json",
            Accept::JsonLd => "application/ld+json",
        }
    }
}

/// Where and how notifications are delivered (Endpoint, §5.2.15).
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// An absolute URI with scheme `http`, `https`, `mqtt` or `mqtts`.
    pub uri: String,
    /// The media type of notifications.
    pub accept: Accept,
    /// Extra key-value pairs for the receiver (HTTP headers, MQTT user properties).
    pub receiver_info: Vec<(String, String)>,
    /// Key-value pairs configuring the notifier (e.g. `MQTT-QoS`).
    pub notifier_info: Vec<(String, String)>,
}

/// What notifications contain and where they go (NotificationParams, §5.2.14).
#[derive(Debug, Clone, PartialEq)]
pub struct NotificationParams {
    /// The attributes (expanded) included in notified entities; empty: all.
    pub attributes: Vec<String>,
    /// The entity representation.
    pub format: Format,
    /// Whether `createdAt`/`modifiedAt` are included.
    pub sys_attrs: bool,
    /// Whether previous values are included (`showChanges`).
    pub show_changes: bool,
    /// The endpoint.
    pub endpoint: Endpoint,
}

/// An NGSI-LD subscription (§5.2.12), names expanded.
///
/// The status members (`status`, `timesSent`, ...) are system-generated and not part of
/// this model; the caller adds them when rendering.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    /// The subscription id (an absolute URI).
    pub id: String,
    /// `subscriptionName`.
    pub name: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// `entities`: the entities concerned; empty: any entity (then
    /// `watched_attributes` is not empty).
    pub entities: Vec<EntitySelector>,
    /// `watchedAttributes` (expanded); empty: any attribute.
    pub watched_attributes: Vec<String>,
    /// `notificationTrigger`, in the client's order; [`DEFAULT_TRIGGERS`] if none was
    /// given; empty for periodic subscriptions.
    pub notification_trigger: Vec<Trigger>,
    /// `timeInterval` (seconds): a periodic subscription.
    pub time_interval: Option<u64>,
    /// `q`.
    pub q: Option<QFilter>,
    /// `geoQ`, its GeoProperty expanded.
    pub geo_q: Option<GeoQuery>,
    /// `isActive` (default `true`).
    pub is_active: bool,
    /// `expiresAt` (RFC 3339, as given).
    pub expires_at: Option<String>,
    /// `throttling` (seconds).
    pub throttling: Option<u64>,
    /// `lang`: the language picked from LanguageProperties in notifications.
    pub lang: Option<String>,
    /// `notification`.
    pub notification: NotificationParams,
    /// `jsonldContext`: the `@context` URL notifications are compacted with. The caller
    /// sets it from the request's context when the client did not give one.
    pub jsonld_context: Option<String>,
    /// `createdAt` (system, set by the caller).
    pub created_at: Option<String>,
    /// `modifiedAt` (system, set by the caller).
    pub modified_at: Option<String>,
    /// Who created the subscription (opaque to this crate; set by the caller): the
    /// identity notifications are released to, decided again at each delivery. Stored
    /// (as `kizunaOwner`), never rendered.
    pub owner: Option<Value>,
}

impl Subscription {
    /// Whether `expiresAt` has passed at `now_ms` (Unix milliseconds).
    pub fn is_expired_at(&self, now_ms: i64) -> bool {
        self.expires_at
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .is_some_and(|t| t.timestamp_millis() <= now_ms)
    }

    /// Whether `expiresAt` has passed.
    pub fn is_expired(&self) -> bool {
        self.is_expired_at(chrono::Utc::now().timestamp_millis())
    }

    /// Whether this is a periodic subscription (`timeInterval`).
    pub fn is_periodic(&self) -> bool {
        self.time_interval.is_some()
    }

    /// Renders the subscription with names compacted through `ctx`, spec member names,
    /// and without status members (the caller adds `status`, `timesSent`, ...).
    pub fn to_json(&self, ctx: &Context) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert("id".into(), Value::String(self.id.clone()));
        out.insert("type".into(), Value::String("Subscription".into()));
        if let Some(n) = &self.name {
            out.insert("subscriptionName".into(), Value::String(n.clone()));
        }
        if let Some(d) = &self.description {
            out.insert("description".into(), Value::String(d.clone()));
        }
        if !self.entities.is_empty() {
            let sels = self
                .entities
                .iter()
                .map(|s| {
                    let mut o = Map::new();
                    if let Some(id) = &s.id {
                        o.insert("id".into(), Value::String(id.clone()));
                    }
                    if let Some(p) = &s.id_pattern {
                        o.insert("idPattern".into(), Value::String(p.as_str().to_string()));
                    }
                    o.insert("type".into(), Value::String(s.types.render(ctx)));
                    Value::Object(o)
                })
                .collect();
            out.insert("entities".into(), Value::Array(sels));
        }
        if !self.watched_attributes.is_empty() {
            out.insert("watchedAttributes".into(), compact_list(&self.watched_attributes, ctx));
        }
        if !self.notification_trigger.is_empty() {
            let t = self.notification_trigger.iter().map(|t| Value::String(t.as_str().into())).collect();
            out.insert("notificationTrigger".into(), Value::Array(t));
        }
        if let Some(t) = self.time_interval {
            out.insert("timeInterval".into(), json!(t));
        }
        if let Some(q) = &self.q {
            out.insert("q".into(), Value::String(q.text.clone()));
        }
        if let Some(g) = &self.geo_q {
            let mut gj = g.to_json();
            if let Some(o) = gj.as_object_mut() {
                o.insert("geoproperty".into(), Value::String(ctx.compact(&g.property)));
            }
            out.insert("geoQ".into(), gj);
        }
        out.insert("isActive".into(), Value::Bool(self.is_active));
        if let Some(e) = &self.expires_at {
            out.insert("expiresAt".into(), Value::String(e.clone()));
        }
        if let Some(t) = self.throttling {
            out.insert("throttling".into(), json!(t));
        }
        if let Some(l) = &self.lang {
            out.insert("lang".into(), Value::String(l.clone()));
        }
        out.insert("notification".into(), self.notification_json(ctx));
        if let Some(c) = &self.jsonld_context {
            out.insert("jsonldContext".into(), Value::String(c.clone()));
        }
        if let Some(c) = &self.created_at {
            out.insert("createdAt".into(), Value::String(c.clone()));
        }
        if let Some(m) = &self.modified_at {
            out.insert("modifiedAt".into(), Value::String(m.clone()));
        }
        out
    }

    fn notification_json(&self, ctx: &Context) -> Value {
        let n = &self.notification;
        let mut o = Map::new();
        if !n.attributes.is_empty() {
            o.insert("attributes".into(), compact_list(&n.attributes, ctx));
        }
        let format = match n.format {
            Format::Normalized => "normalized",
            Format::KeyValues => "keyValues",
            Format::Concise => "concise",
        };
        o.insert("format".into(), Value::String(format.into()));
        let mut ep = Map::new();
        ep.insert("uri".into(), Value::String(n.endpoint.uri.clone()));
        ep.insert("accept".into(), Value::String(n.endpoint.accept.as_str().into()));
        if !n.endpoint.receiver_info.is_empty() {
            ep.insert("receiverInfo".into(), key_values(&n.endpoint.receiver_info));
        }
        if !n.endpoint.notifier_info.is_empty() {
            ep.insert("notifierInfo".into(), key_values(&n.endpoint.notifier_info));
        }
        o.insert("endpoint".into(), Value::Object(ep));
        o.insert("sysAttrs".into(), Value::Bool(n.sys_attrs));
        o.insert("showChanges".into(), Value::Bool(n.show_changes));
        Value::Object(o)
    }

    /// The form to persist: [`Subscription::to_json`] with the core context, plus a
    /// `qNames` member mapping each short name of the `q` text to its IRI where the core
    /// context would expand it differently (the `q` text cannot hold IRIs).
    /// [`Subscription::restore`] with the core context reads it back exactly.
    pub fn to_storage_json(&self) -> Map<String, Value> {
        let core = Context::core();
        let mut out = self.to_json(&core);
        if let Some(owner) = &self.owner {
            out.insert("kizunaOwner".into(), owner.clone());
        }
        if let Some(q) = &self.q {
            if let Ok(raw) = Query::parse(&q.text) {
                let (mut short, mut long) = (Vec::new(), Vec::new());
                path_names(&raw, &mut short);
                path_names(&q.query, &mut long);
                let names: Map<String, Value> = short
                    .into_iter()
                    .zip(long)
                    .filter(|(s, l)| core.expand(s) != *l)
                    .map(|(s, l)| (s, Value::String(l)))
                    .collect();
                if !names.is_empty() {
                    out.insert("qNames".into(), Value::Object(names));
                }
            }
        }
        out
    }

    /// Whether the subscription selects `e`: some entity selector matches it (or there
    /// are none), and `q` and `geoQ` (if any) hold.
    pub fn selects(&self, e: &Entity) -> bool {
        (self.entities.is_empty() || self.entities.iter().any(|s| s.matches(e)))
            && self.q.as_ref().is_none_or(|q| q.query.matches(e))
            && self.geo_q.as_ref().is_none_or(|g| g.matches(e))
    }

    /// Decides whether the change of an entity from `old` to `new` (`None`: did not
    /// exist / was deleted) fires this subscription, and with which trigger.
    ///
    /// Periodic subscriptions never fire on changes. Selection is evaluated on `new`
    /// (on `old` for a deletion). Attribute changes are restricted to the watched
    /// attributes if any; see the module documentation for the exact rules.
    pub fn trigger(&self, old: Option<&Entity>, new: Option<&Entity>) -> Option<Trigger> {
        if self.is_periodic() {
            return None;
        }
        let subject = new.or(old)?;
        if !self.selects(subject) {
            return None;
        }
        let watched =
            |name: &str| self.watched_attributes.is_empty() || self.watched_attributes.iter().any(|w| w == name);
        let (mut created, mut updated, mut deleted) = (false, false, false);
        let mut entity_changed = false;
        match (old, new) {
            (None, Some(n)) => created = n.attrs.keys().any(|k| watched(k)),
            (Some(o), None) => deleted = o.attrs.keys().any(|k| watched(k)),
            (Some(o), Some(n)) => {
                for (name, insts) in &n.attrs {
                    if !watched(name) {
                        continue;
                    }
                    match o.attrs.get(name) {
                        None => created = true,
                        Some(before) if !same_instances(before, insts) => updated = true,
                        Some(_) => {}
                    }
                }
                deleted = o.attrs.keys().any(|k| watched(k) && !n.attrs.contains_key(k));
                entity_changed = self.watched_attributes.is_empty() && (o.types != n.types || o.scope != n.scope);
            }
            (None, None) => return None,
        }
        self.notification_trigger.iter().copied().find(|t| match t {
            Trigger::EntityCreated => old.is_none(),
            Trigger::EntityDeleted => new.is_none(),
            Trigger::EntityUpdated => {
                old.is_some() && new.is_some() && (created || updated || deleted || entity_changed)
            }
            Trigger::AttributeCreated => created,
            Trigger::AttributeUpdated => updated,
            Trigger::AttributeDeleted => deleted,
        })
    }

    /// The entity restricted to `notification.attributes` (all of them if empty).
    pub fn project(&self, e: &Entity) -> Entity {
        let only = &self.notification.attributes;
        if only.is_empty() {
            return e.clone();
        }
        let attrs: BTreeMap<String, Vec<Attribute>> =
            e.attrs.iter().filter(|(k, _)| only.contains(k)).map(|(k, v)| (k.clone(), v.clone())).collect();
        Entity { attrs, ..e.clone() }
    }

    /// The entity as it goes in a notification's `data` array: rendered in the
    /// subscription's format, with `sysAttrs`, `lang` and the attribute projection,
    /// names compacted with `ctx` (without `@context`).
    pub fn render_notification_data(&self, e: &Entity, ctx: &Context) -> Value {
        let n = &self.notification;
        let opts = RenderOptions {
            format: n.format,
            sys_attrs: n.sys_attrs,
            attrs: if n.attributes.is_empty() { None } else { Some(&n.attributes) },
            lang: self.lang.as_deref(),
        };
        Value::Object(render_entity(e, &opts, ctx))
    }
}

/// Compacts each IRI in `names` into a JSON array of strings.
fn compact_list(names: &[String], ctx: &Context) -> Value {
    Value::Array(names.iter().map(|n| Value::String(ctx.compact(n))).collect())
}

/// `[{"key": k, "value": v}, ...]`.
fn key_values(pairs: &[(String, String)]) -> Value {
    Value::Array(pairs.iter().map(|(k, v)| json!({"key": k, "value": v})).collect())
}

/// The names [`Query::map_names`] maps, in the same order: each term's attribute and
/// its sub-attributes other than the metadata names.
fn path_names(q: &Query, out: &mut Vec<String>) {
    match q {
        Query::And(qs) | Query::Or(qs) => qs.iter().for_each(|q| path_names(q, out)),
        Query::Term(t) => {
            out.push(t.path.attr.clone());
            out.extend(t.path.sub.iter().filter(|s| !crate::query::METADATA_NAMES.contains(&s.as_str())).cloned());
        }
    }
}

/// An attribute instance without its system timestamps (in sub-attributes too).
fn without_timestamps(a: &Attribute) -> Attribute {
    let mut a = a.clone();
    strip(&mut a);
    a
}

fn strip(a: &mut Attribute) {
    a.created_at = None;
    a.modified_at = None;
    a.sub.values_mut().for_each(strip);
}

/// Whether two instance lists hold the same instances (by `datasetId`, in any order),
/// ignoring the system timestamps.
fn same_instances(a: &[Attribute], b: &[Attribute]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().all(|x| {
        b.iter().find(|y| y.dataset_id == x.dataset_id).is_some_and(|y| without_timestamps(x) == without_timestamps(y))
    })
}
