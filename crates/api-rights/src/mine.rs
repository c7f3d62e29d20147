//! Finding what is held about the caller: the personal entities whose data subject is
//! the citizen, as they are now and as history (temporal entities, including the
//! history of entities deleted since).
//!
//! An entity is the citizen's when the tenant's classification
//! ([`kizuna_consent::Classification::classify`]) says it is personal with the citizen
//! as its one known subject. Entities with an unknown or ambiguous subject (several
//! people) are not the citizen's alone and are left out of `/me/data`, the export and
//! the erasure.
//!
//! # Layout
//! - [`current`]: the current entities (queries by personal type, plus by the
//!   `dataSubject` attribute, gated by the subject test so only the citizen's come back);
//! - [`history_only`]: temporal entities whose history is the citizen's but which no
//!   longer exist as entities;
//! - [`holdings`]: both of them;
//! - [`history`]: the whole recorded history of one entity;
//! - rendering: [`render`] (normalized NGSI-LD) and [`render_history`] (the temporal
//!   representation).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use kizuna_consent::{Classification, Classified, DATA_SUBJECT};
use kizuna_ngsild::entity::{render_attribute, render_entity, Format, RenderOptions};
use kizuna_ngsild::{Context, Entity};
use kizuna_store::{EntityQuery, Gate, Store, StoreError, TemporalEntity, TemporalFilter, TypeSelector};
use serde_json::{Map, Value};

/// "All of them" as a page size: large enough for any one person's data, small enough
/// for any backend's `LIMIT`.
const ALL: usize = u32::MAX as usize;

/// Most history instances read per attribute of one entity (export).
pub(crate) const HISTORY_LIMIT: usize = 1_000_000;

/// Whether `e` is personal data whose one known subject is `subject`.
pub(crate) fn is_of(classification: &Classification, e: &Entity, subject: &str) -> bool {
    matches!(classification.classify(e), Classified::Personal { subject: Some(s), .. } if s == subject)
}

/// The relationships that can name a data subject: `dataSubject` and the subject
/// relationship of every personal type.
fn subject_relationships(classification: &Classification) -> Vec<String> {
    let mut rels: BTreeSet<String> = classification.personal.values().map(|p| p.subject_relationship.clone()).collect();
    rels.insert(DATA_SUBJECT.to_string());
    rels.into_iter().collect()
}

/// The gate releasing only the subject's entities.
fn subject_gate(classification: &Arc<Classification>, subject: &str) -> Gate {
    let c = classification.clone();
    let s = subject.to_string();
    Gate::new(move |e| is_of(&c, &e, &s).then_some(e))
}

/// The current entities of `tenant` that are `subject`'s personal data, in id order:
/// every entity of a personal type, plus every entity with a `dataSubject` attribute,
/// kept if classified as the subject's. Blocking.
pub(crate) fn current(
    store: &Store,
    tenant: &str,
    classification: &Arc<Classification>,
    subject: &str,
) -> Result<Vec<Entity>, StoreError> {
    let gate = subject_gate(classification, subject);
    let mut queries: Vec<EntityQuery> = classification
        .personal
        .keys()
        .map(|t| EntityQuery {
            types: Some(TypeSelector(vec![vec![t.clone()]])),
            limit: ALL,
            gate: Some(gate.clone()),
            ..EntityQuery::default()
        })
        .collect();
    queries.push(EntityQuery {
        attrs: vec![DATA_SUBJECT.to_string()],
        limit: ALL,
        gate: Some(gate.clone()),
        ..EntityQuery::default()
    });
    let mut found: BTreeMap<String, Entity> = BTreeMap::new();
    for q in &queries {
        for e in store.query(tenant, q)?.entities {
            found.entry(e.id.clone()).or_insert(e);
        }
    }
    Ok(found.into_values().collect())
}

/// Temporal entities of `tenant` whose recorded subject is `subject` and that are not in
/// `current` (entities deleted since; their history is still held). Each is returned
/// with its subject relationships only (enough to classify it). Blocking.
pub(crate) fn history_only(
    store: &Store,
    tenant: &str,
    classification: &Arc<Classification>,
    subject: &str,
    current: &BTreeSet<String>,
) -> Result<Vec<Entity>, StoreError> {
    let filter = TemporalFilter {
        attrs: subject_relationships(classification),
        instance_limit: HISTORY_LIMIT,
        ..TemporalFilter::default()
    };
    let q = EntityQuery { limit: ALL, gate: Some(subject_gate(classification, subject)), ..EntityQuery::default() };
    let (found, _) = store.temporal_query(tenant, &q, &filter)?;
    Ok(found.into_iter().map(|te| te.entity).filter(|e| !current.contains(&e.id)).collect())
}

/// Everything held about one person: their current entities and the temporal entities
/// left of entities deleted since.
pub(crate) struct Holdings {
    /// Current entities, in id order.
    pub current: Vec<Entity>,
    /// History-only entities (subject relationships only), in id order.
    pub history_only: Vec<Entity>,
}

/// [`current`] and [`history_only`] of `subject`. Blocking.
pub(crate) fn holdings(
    store: &Store,
    tenant: &str,
    classification: &Arc<Classification>,
    subject: &str,
) -> Result<Holdings, StoreError> {
    let current = current(store, tenant, classification, subject)?;
    let ids: BTreeSet<String> = current.iter().map(|e| e.id.clone()).collect();
    let history_only = history_only(store, tenant, classification, subject, &ids)?;
    Ok(Holdings { current, history_only })
}

/// The recorded history of entity `id` (every attribute, up to [`HISTORY_LIMIT`]
/// instances each), if it has any. Blocking.
pub(crate) fn history(store: &Store, tenant: &str, id: &str) -> Result<Option<TemporalEntity>, StoreError> {
    let filter = TemporalFilter { instance_limit: HISTORY_LIMIT, ..TemporalFilter::default() };
    store.temporal_entity(tenant, id, &filter)
}

/// Options of the renderings here: normalized, with system attributes.
fn options() -> RenderOptions<'static> {
    RenderOptions { format: Format::Normalized, sys_attrs: true, attrs: None, lang: None }
}

/// `e` in normalized NGSI-LD with its system attributes, names compacted with `ctx`.
pub(crate) fn render(e: &Entity, ctx: &Context) -> Value {
    Value::Object(render_entity(e, &options(), ctx))
}

/// `te` in the temporal representation (each attribute an array of its instances,
/// oldest first, with `instanceId`), names compacted with `ctx`.
pub(crate) fn render_history(te: &TemporalEntity, ctx: &Context) -> Value {
    let e = &te.entity;
    let mut out = Map::new();
    out.insert("id".into(), Value::String(e.id.clone()));
    let types: Vec<Value> = e.types.iter().map(|t| Value::String(ctx.compact(t))).collect();
    out.insert("type".into(), if types.len() == 1 { types[0].clone() } else { Value::Array(types) });
    let ro = options();
    for (name, instances) in &e.attrs {
        out.insert(ctx.compact(name), Value::Array(instances.iter().map(|a| render_attribute(a, &ro, ctx)).collect()));
    }
    Value::Object(out)
}
