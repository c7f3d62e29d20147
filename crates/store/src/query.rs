//! Entity queries in domain terms, so backends can plan them with their own indexes.

use kizuna_ngsild::geoquery::GeoQuery;
use kizuna_ngsild::query::Query;
use kizuna_ngsild::Entity;
use std::sync::Arc;

/// Which entity types a query selects: a disjunction of conjunctions of expanded type
/// IRIs (`A,B` is `[[A],[B]]`; `(A;B)|C` is `[[A,B],[C]]`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TypeSelector(pub Vec<Vec<String>>);

impl TypeSelector {
    /// Whether an entity with `types` is selected.
    pub fn matches(&self, types: &[String]) -> bool {
        self.0.iter().any(|all| all.iter().all(|t| types.contains(t)))
    }
}

/// What a caller may see of an entity, decided per entity while a query runs: `None`
/// withholds it, `Some` releases it — possibly with fewer attributes. The consent
/// engine's decision point is attached here, so that paging and `count` are computed
/// over what the caller may see, and `q`/`attrs`/geo conditions are evaluated only on
/// released attributes (a condition on a withheld attribute must not reveal its value).
#[derive(Clone)]
pub struct Gate(pub Arc<dyn Fn(Entity) -> Option<Entity> + Send + Sync>);

impl Gate {
    /// A gate from a closure.
    pub fn new(f: impl Fn(Entity) -> Option<Entity> + Send + Sync + 'static) -> Gate {
        Gate(Arc::new(f))
    }

    /// What the caller may see of `e`.
    pub fn release(&self, e: Entity) -> Option<Entity> {
        (self.0)(e)
    }
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Gate")
    }
}

/// A query over one tenant's entities (ETSI GS CIM 009 §5.7.2).
#[derive(Debug, Clone, Default)]
pub struct EntityQuery {
    /// `type=`: the types to select (`None`: any type).
    pub types: Option<TypeSelector>,
    /// `id=`: only these ids.
    pub ids: Vec<String>,
    /// `idPattern=`: ids matching this regular expression.
    pub id_pattern: Option<regex::Regex>,
    /// `attrs=` (expanded): entities having at least one of these attributes.
    pub attrs: Vec<String>,
    /// `q=` with names expanded.
    pub q: Option<Query>,
    /// `geoQ` (georel, geometry, coordinates, geoproperty) with the property expanded.
    pub geo: Option<GeoQuery>,
    /// Page size.
    pub limit: usize,
    /// Matches to skip.
    pub offset: usize,
    /// Whether to count all matches (`count=true`).
    pub count: bool,
    /// The access gate, applied to every entity the selection (`type`, `id`,
    /// `idPattern`) accepts, before `attrs`, `q` and geo conditions are evaluated.
    pub gate: Option<Gate>,
}

impl EntityQuery {
    /// Whether `e` is selected by `type`, `id` and `idPattern`.
    pub fn selects(&self, e: &Entity) -> bool {
        self.types.as_ref().is_none_or(|t| t.matches(&e.types))
            && (self.ids.is_empty() || self.ids.contains(&e.id))
            && self.id_pattern.as_ref().is_none_or(|p| p.is_match(&e.id))
    }

    /// Whether `e` satisfies the conditions on its content: `attrs`, `q` and geo.
    pub fn content_matches(&self, e: &Entity) -> bool {
        (self.attrs.is_empty() || self.attrs.iter().any(|a| e.attrs.contains_key(a)))
            && self.q.as_ref().is_none_or(|q| q.matches(e))
            && self.geo.as_ref().is_none_or(|g| g.matches(e))
    }

    /// What a query returns for the stored entity `e`: `None` if the selection rejects
    /// it, the gate withholds it, or the released entity fails the content conditions;
    /// otherwise the released entity. Backends call this for every candidate.
    pub fn admit(&self, e: Entity) -> Option<Entity> {
        if !self.selects(&e) {
            return None;
        }
        let e = match &self.gate {
            Some(g) => g.release(e)?,
            None => e,
        };
        self.content_matches(&e).then_some(e)
    }

    /// Whether `e` satisfies every condition, ignoring the gate (the reference semantics; backends may
    /// pre-filter with indexes but must return exactly the entities this accepts).
    pub fn matches(&self, e: &Entity) -> bool {
        self.selects(e) && self.content_matches(e)
    }
}

/// One page of query results.
#[derive(Debug, Clone, Default)]
pub struct QueryResult {
    /// The entities of the page, in id order.
    pub entities: Vec<Entity>,
    /// All matches, when `count` was asked for.
    pub total: Option<u64>,
}

/// An entity type in use.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeInfo {
    /// Expanded type IRI.
    pub type_iri: String,
    /// Entities of this type.
    pub entity_count: u64,
    /// Attributes that entities of this type have: (expanded name, kinds, entity count).
    pub attributes: Vec<(String, Vec<String>, u64)>,
}

/// An attribute name in use.
#[derive(Debug, Clone, PartialEq)]
pub struct AttributeInfo {
    /// Expanded attribute name.
    pub name: String,
    /// Kinds it occurs as (Property, Relationship, ...).
    pub kinds: Vec<String>,
    /// Expanded types of the entities that have it.
    pub type_names: Vec<String>,
    /// Entities that have it.
    pub entity_count: u64,
}
