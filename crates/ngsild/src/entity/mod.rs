//! The NGSI-LD information model as Kizuna holds it: entities whose type and attribute
//! names are already expanded to IRIs, so that storage and queries never depend on the
//! `@context` a client happened to use.
//!
//! # Layout
//! - this file: [`Entity`], [`Attribute`], [`AttrKind`] and timestamps;
//! - `parse.rs`: client JSON (normalized or concise) → model, with validation;
//! - `render.rs`: model → client JSON (normalized, concise, keyValues), compacted;
//! - `update.rs`: the update semantics of append, update, merge and attribute delete.

mod parse;
mod render;
mod update;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use parse::{
    parse_attribute_fragment, parse_attributes, parse_entity, parse_temporal_attributes, validate_attr_name,
    validate_entity_id,
};
pub use render::{render_attribute, render_entity, Format, RenderOptions};
pub use update::{AttrSelector, UpdateOutcome};

/// What kind of attribute this is (ETSI GS CIM 009 §4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttrKind {
    /// `value`: any JSON value.
    Property,
    /// `object`: the URI (or URIs) of another entity.
    Relationship,
    /// `value`: a GeoJSON geometry.
    GeoProperty,
    /// `languageMap`: language tag → string.
    LanguageProperty,
    /// `valueList`: an ordered list of values.
    ListProperty,
    /// `objectList`: an ordered list of entity URIs.
    ListRelationship,
    /// `json`: a JSON value not to be interpreted as JSON-LD.
    JsonProperty,
    /// `vocab`: a term (or terms) expanded as IRIs.
    VocabProperty,
}

impl AttrKind {
    /// The name of the kind in the NGSI-LD core context.
    pub fn name(self) -> &'static str {
        match self {
            AttrKind::Property => "Property",
            AttrKind::Relationship => "Relationship",
            AttrKind::GeoProperty => "GeoProperty",
            AttrKind::LanguageProperty => "LanguageProperty",
            AttrKind::ListProperty => "ListProperty",
            AttrKind::ListRelationship => "ListRelationship",
            AttrKind::JsonProperty => "JsonProperty",
            AttrKind::VocabProperty => "VocabProperty",
        }
    }

    /// The member that carries this kind's value in the normalized form.
    pub fn value_member(self) -> &'static str {
        match self {
            AttrKind::Property | AttrKind::GeoProperty => "value",
            AttrKind::Relationship => "object",
            AttrKind::LanguageProperty => "languageMap",
            AttrKind::ListProperty => "valueList",
            AttrKind::ListRelationship => "objectList",
            AttrKind::JsonProperty => "json",
            AttrKind::VocabProperty => "vocab",
        }
    }

    /// The kind named `name` in the core context, if any.
    pub fn from_name(name: &str) -> Option<AttrKind> {
        Some(match name {
            "Property" => AttrKind::Property,
            "Relationship" => AttrKind::Relationship,
            "GeoProperty" => AttrKind::GeoProperty,
            "LanguageProperty" => AttrKind::LanguageProperty,
            "ListProperty" => AttrKind::ListProperty,
            "ListRelationship" => AttrKind::ListRelationship,
            "JsonProperty" => AttrKind::JsonProperty,
            "VocabProperty" => AttrKind::VocabProperty,
            _ => return None,
        })
    }
}

/// One instance of an attribute (an entity may hold several instances of the same
/// attribute, told apart by `datasetId`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attribute {
    /// Property, Relationship, ...
    pub kind: AttrKind,
    /// The value: `value`, `object`, `languageMap`, ... depending on `kind`.
    pub value: Value,
    /// Which instance of a multi-attribute this is (`None`: the default instance).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_id: Option<String>,
    /// When the value was observed (RFC 3339, as given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_at: Option<String>,
    /// UN/CEFACT unit code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_code: Option<String>,
    /// Type of the target entity of a Relationship (expanded), if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_type: Option<Value>,
    /// System attribute: when this instance was created (RFC 3339 UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// System attribute: when this instance last changed (RFC 3339 UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_at: Option<String>,
    /// Sub-attributes (properties of properties), keyed by expanded name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sub: BTreeMap<String, Attribute>,
    /// Temporal representation only: which recorded instance this is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
}

impl Attribute {
    /// A plain Property with `value`.
    pub fn property(value: Value) -> Attribute {
        Attribute {
            kind: AttrKind::Property,
            value,
            dataset_id: None,
            observed_at: None,
            unit_code: None,
            object_type: None,
            created_at: None,
            modified_at: None,
            sub: BTreeMap::new(),
            instance_id: None,
        }
    }

    /// Sets `createdAt` (if unset) and `modifiedAt` here and in sub-attributes.
    pub fn stamp(&mut self, now: &str) {
        if self.created_at.is_none() {
            self.created_at = Some(now.to_string());
        }
        self.modified_at = Some(now.to_string());
        for s in self.sub.values_mut() {
            s.stamp(now);
        }
    }
}

/// An NGSI-LD entity with expanded names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entity {
    /// The entity id (an absolute URI).
    pub id: String,
    /// Expanded type IRIs (at least one).
    pub types: Vec<String>,
    /// Scopes (`/Madrid/Gardens`), if any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scope: Vec<String>,
    /// Attributes by expanded name; each holds one instance per `datasetId`.
    #[serde(default)]
    pub attrs: BTreeMap<String, Vec<Attribute>>,
    /// System attribute: when the entity was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// System attribute: when the entity last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_at: Option<String>,
}

impl Entity {
    /// Sets the system timestamps of a new entity and all its attributes.
    pub fn stamp_new(&mut self, now: &str) {
        self.created_at = Some(now.to_string());
        self.modified_at = Some(now.to_string());
        for inst in self.attrs.values_mut().flatten() {
            inst.created_at = None;
            inst.stamp(now);
        }
    }
}

/// The current time as NGSI-LD writes it: RFC 3339, UTC, millisecond precision.
pub fn now_timestamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
