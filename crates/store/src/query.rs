//! Entity queries in domain terms, so backends can plan them with their own indexes.

use kizuna_ngsild::geoquery::GeoQuery;
use kizuna_ngsild::query::Query;
use kizuna_ngsild::Entity;

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
}

impl EntityQuery {
    /// Whether `e` satisfies every condition (the reference semantics; backends may
    /// pre-filter with indexes but must return exactly the entities this accepts).
    pub fn matches(&self, e: &Entity) -> bool {
        self.types.as_ref().is_none_or(|t| t.matches(&e.types))
            && (self.ids.is_empty() || self.ids.contains(&e.id))
            && self.id_pattern.as_ref().is_none_or(|p| p.is_match(&e.id))
            && (self.attrs.is_empty() || self.attrs.iter().any(|a| e.attrs.contains_key(a)))
            && self.q.as_ref().is_none_or(|q| q.matches(e))
            && self.geo.as_ref().is_none_or(|g| g.matches(e))
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
