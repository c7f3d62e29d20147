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
    /// Attributes the access decision needs whatever the window (the relationships
    /// naming the data subject): their latest instance per `datasetId` is read apart,
    /// into [`TemporalEntity::decision_attrs`], ignoring `timerel`, `lastN` and `attrs`.
    pub decision_attrs: Vec<String>,
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
    /// The latest instances of [`TemporalFilter::decision_attrs`], whatever the window.
    pub decision_attrs: std::collections::BTreeMap<String, Vec<kizuna_ngsild::Attribute>>,
}

impl TemporalEntity {
    /// The entity the access decision is made on: the selected history, with the
    /// decision attributes (the data subject) as last recorded, so that a time window
    /// can neither hide whose data this is nor make it look non-personal.
    pub fn decision_view(&self) -> kizuna_ngsild::Entity {
        let mut e = self.entity.clone();
        for (k, v) in &self.decision_attrs {
            e.attrs.insert(k.clone(), v.clone());
        }
        e
    }

    /// Keeps only the attributes `released` (what the decision let through of
    /// [`TemporalEntity::decision_view`]) still has.
    pub fn restrict_to(&mut self, released: &kizuna_ngsild::Entity) {
        self.entity.attrs.retain(|k, _| released.attrs.contains_key(k));
        self.truncated.retain(|t| released.attrs.contains_key(&t.attr));
    }
}
