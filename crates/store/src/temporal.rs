//! Temporal queries in domain terms (ETSI GS CIM 009 §5.7.3, §5.7.4): which recorded
//! attribute instances to return.

/// Which timestamp of an instance the time filter applies to (`timeproperty`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeProperty {
    /// `observedAt` (the default); instances without one are not selected by a time filter.
    #[default]
    ObservedAt,
    /// When the instance was recorded.
    CreatedAt,
    /// When the instance was last modified.
    ModifiedAt,
}

impl TimeProperty {
    /// The column holding this timestamp.
    pub(crate) fn column(self) -> &'static str {
        match self {
            TimeProperty::ObservedAt => "observed_ms",
            TimeProperty::CreatedAt => "created_ms",
            TimeProperty::ModifiedAt => "modified_ms",
        }
    }
}

/// The time relation (`timerel` with `timeAt`/`endTimeAt`), in Unix milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeRel {
    /// Strictly before.
    Before(i64),
    /// Strictly after.
    After(i64),
    /// From (inclusive) to (exclusive).
    Between(i64, i64),
}

/// What to return of each entity's history.
#[derive(Debug, Clone, Default)]
pub struct TemporalFilter {
    /// Only these attributes (expanded); empty: all.
    pub attrs: Vec<String>,
    /// The timestamp the time relation and ordering use.
    pub timeproperty: TimeProperty,
    /// The time window; `None`: all of history.
    pub timerel: Option<TimeRel>,
    /// Only the last N instances of each attribute (`lastN`).
    pub last_n: Option<usize>,
    /// Most instances returned per attribute (the rest is reported as truncated).
    pub instance_limit: usize,
}

/// Instances of one attribute that did not fit the instance limit.
#[derive(Debug, Clone, PartialEq)]
pub struct Truncation {
    /// Expanded attribute name.
    pub attr: String,
    /// The timestamp (ms) of the last instance returned: the next page starts after it.
    pub last_returned_ms: i64,
}

/// An entity's temporal evolution: the entity with, per attribute, every selected
/// instance (oldest first, `instance_id` set), and what was cut off.
#[derive(Debug, Clone)]
pub struct TemporalEntity {
    /// The entity; `attrs` hold the instances.
    pub entity: kizuna_ngsild::Entity,
    /// Attributes with more instances than the limit.
    pub truncated: Vec<Truncation>,
}
