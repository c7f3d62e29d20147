//! Client JSON → [`Entity`] / [`Attribute`], expanding names with the request's
//! `@context` and rejecting anything the specification does not allow with a
//! `BadRequestData` error that names the offending member.
//!
//! Both the normalized representation and the concise one (ETSI GS CIM 009 §4.5.1,
//! attribute `type` left out and inferred from the member that carries the value) are
//! accepted on input.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{AttrKind, Attribute, Entity};
use crate::context::{is_absolute_iri, Context, NGSI_LD};
use crate::error::NgsiError;
use crate::geo::validate_geometry;

/// How deep sub-attributes may nest (properties of properties of ...).
const MAX_DEPTH: usize = 8;

/// Attribute-level members with a meaning of their own (never sub-attributes).
const RESERVED_ATTR_MEMBERS: &[&str] = &[
    "type",
    "value",
    "object",
    "languageMap",
    "valueList",
    "objectList",
    "json",
    "vocab",
    "datasetId",
    "observedAt",
    "unitCode",
    "objectType",
    "createdAt",
    "modifiedAt",
    "deletedAt",
    "instanceId",
    "lang",
    "@context",
];

/// The GeoProperties the core context defines: they must be GeoProperties.
const GEO_ATTRS: &[&str] = &["location", "observationSpace", "operationSpace"];

const GEOMETRY_TYPES: &[&str] =
    &["Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon", "GeometryCollection"];

/// Checks that an entity id is an absolute URI.
pub fn validate_entity_id(id: &str) -> Result<(), NgsiError> {
    if id.is_empty() {
        return Err(NgsiError::bad_data("the entity id is empty"));
    }
    if id.len() > 2048 {
        return Err(NgsiError::bad_data("the entity id is longer than 2048 characters"));
    }
    if !is_absolute_iri(id) {
        return Err(NgsiError::bad_data(format!("the entity id '{id}' is not a URI")));
    }
    Ok(())
}

/// Checks an attribute (or type) name against the characters NGSI-LD forbids.
pub fn validate_attr_name(name: &str) -> Result<(), NgsiError> {
    if name.is_empty() {
        return Err(NgsiError::bad_data("an attribute name is empty"));
    }
    if name.len() > 512 {
        return Err(NgsiError::bad_data(format!("the attribute name '{}…' is too long", &name[..32])));
    }
    if let Some(c) = name.chars().find(|c| c.is_whitespace() || c.is_control() || "<>\"'=;()".contains(*c)) {
        return Err(NgsiError::bad_data(format!("the attribute name '{name}' contains the forbidden character {c:?}")));
    }
    Ok(())
}

/// Parses a whole entity (as in `POST /entities`).
pub fn parse_entity(body: &Value, ctx: &Context) -> Result<Entity, NgsiError> {
    let obj = body.as_object().ok_or_else(|| NgsiError::bad_data("an entity must be a JSON object"))?;
    let id = match obj.get("id").or_else(|| obj.get("@id")) {
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(NgsiError::bad_data("the entity id must be a string")),
        None => return Err(NgsiError::bad_data("the entity has no 'id'")),
    };
    validate_entity_id(&id)?;
    let types = match obj.get("type").or_else(|| obj.get("@type")) {
        Some(t) => parse_types(t, ctx)?,
        None => return Err(NgsiError::bad_data(format!("the entity '{id}' has no 'type'"))),
    };
    let scope = match obj.get("scope") {
        Some(s) => parse_scope(s)?,
        None => Vec::new(),
    };
    let attrs = parse_attr_members(obj, ctx, &["id", "@id", "type", "@type", "scope"])?;
    Ok(Entity { id, types, scope, attrs, created_at: None, modified_at: None })
}

/// Parses entity types: a name or a non-empty array of names, expanded.
pub(crate) fn parse_types(t: &Value, ctx: &Context) -> Result<Vec<String>, NgsiError> {
    let names: Vec<&str> = match t {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) if !a.is_empty() => a
            .iter()
            .map(|v| v.as_str().ok_or_else(|| NgsiError::bad_data("entity types must be strings")))
            .collect::<Result<_, _>>()?,
        _ => return Err(NgsiError::bad_data("the entity 'type' must be a string or a non-empty array of strings")),
    };
    let mut out = Vec::with_capacity(names.len());
    for n in names {
        validate_attr_name(n).map_err(|_| NgsiError::bad_data(format!("'{n}' is not a valid entity type name")))?;
        let iri = ctx.expand(n);
        if !out.contains(&iri) {
            out.push(iri);
        }
    }
    Ok(out)
}

fn parse_scope(s: &Value) -> Result<Vec<String>, NgsiError> {
    let items: Vec<&Value> = match s {
        Value::Array(a) => a.iter().collect(),
        v => vec![v],
    };
    items
        .into_iter()
        .map(|v| match v.as_str() {
            Some(s) if s.starts_with('/') && !s.contains(char::is_whitespace) => Ok(s.to_string()),
            _ => Err(NgsiError::bad_data("a scope must be a string starting with '/'")),
        })
        .collect()
}

/// Parses the attributes of an entity fragment (as in `POST/PATCH /entities/{id}/attrs`);
/// `id`, `type`, `scope` and `@context` members are not attributes and are skipped.
pub fn parse_attributes(body: &Value, ctx: &Context) -> Result<BTreeMap<String, Vec<Attribute>>, NgsiError> {
    let obj = body.as_object().ok_or_else(|| NgsiError::bad_data("the request body must be a JSON object"))?;
    parse_attr_members(obj, ctx, &["id", "@id", "type", "@type", "scope"])
}

fn parse_attr_members(
    obj: &Map<String, Value>,
    ctx: &Context,
    skip: &[&str],
) -> Result<BTreeMap<String, Vec<Attribute>>, NgsiError> {
    let mut attrs = BTreeMap::new();
    for (name, v) in obj {
        if skip.contains(&name.as_str())
            || matches!(name.as_str(), "@context" | "createdAt" | "modifiedAt" | "deletedAt")
        {
            continue;
        }
        validate_attr_name(name)?;
        let instances = parse_attr_instances(name, v, ctx)?;
        attrs.insert(ctx.expand(name), instances);
    }
    Ok(attrs)
}

/// Parses one attribute's value: one instance, or an array of instances (multi-attribute).
fn parse_attr_instances(name: &str, v: &Value, ctx: &Context) -> Result<Vec<Attribute>, NgsiError> {
    let instances = match v {
        Value::Array(items) if !items.is_empty() && items.iter().all(looks_like_attribute) => {
            items.iter().map(|i| parse_one(name, i, ctx, 0)).collect::<Result<Vec<_>, _>>()?
        }
        _ => vec![parse_one(name, v, ctx, 0)?],
    };
    let mut seen: Vec<Option<&str>> = Vec::new();
    for i in &instances {
        let ds = i.dataset_id.as_deref();
        if seen.contains(&ds) {
            return Err(NgsiError::bad_data(match ds {
                Some(d) => format!("attribute '{name}' has two instances with datasetId '{d}'"),
                None => format!("attribute '{name}' has two instances without a datasetId"),
            }));
        }
        seen.push(ds);
    }
    Ok(instances)
}

fn looks_like_attribute(v: &Value) -> bool {
    let Some(o) = v.as_object() else { return false };
    o.get("type").and_then(Value::as_str).is_some_and(|t| AttrKind::from_name(t).is_some())
        || ["value", "object", "languageMap", "valueList", "objectList", "json", "vocab"]
            .iter()
            .any(|k| o.contains_key(*k))
}

fn is_geometry(o: &Map<String, Value>) -> bool {
    o.get("type").and_then(Value::as_str).is_some_and(|t| GEOMETRY_TYPES.contains(&t))
        && (o.contains_key("coordinates") || o.contains_key("geometries"))
}

/// Parses one attribute instance (normalized or concise).
fn parse_one(name: &str, v: &Value, ctx: &Context, depth: usize) -> Result<Attribute, NgsiError> {
    if depth > MAX_DEPTH {
        return Err(NgsiError::bad_data(format!("attribute '{name}': sub-attributes nest deeper than {MAX_DEPTH}")));
    }
    let geo_name =
        GEO_ATTRS.contains(&name) || ctx.expand(name).strip_prefix(NGSI_LD).is_some_and(|r| GEO_ATTRS.contains(&r));
    let obj = match v {
        Value::Object(o) => o,
        Value::Null => return Err(NgsiError::bad_data(format!("attribute '{name}' is null"))),
        other => {
            // Concise: a bare value is a Property.
            if geo_name {
                return Err(NgsiError::bad_data(format!("attribute '{name}' must be a GeoProperty")));
            }
            return Ok(Attribute::property(other.clone()));
        }
    };
    if is_geometry(obj) && !looks_like_attribute(v) {
        // Concise GeoProperty: the geometry itself.
        validate_geometry(v).map_err(|e| NgsiError::bad_data(format!("attribute '{name}': {e}")))?;
        let mut a = Attribute::property(v.clone());
        a.kind = AttrKind::GeoProperty;
        return Ok(a);
    }
    let kind = match obj.get("type") {
        Some(Value::String(t)) => AttrKind::from_name(t).ok_or_else(|| {
            NgsiError::bad_data(format!("attribute '{name}' has type '{t}', which is not an NGSI-LD attribute type"))
        })?,
        Some(_) => return Err(NgsiError::bad_data(format!("the type of attribute '{name}' must be a string"))),
        None => {
            let inferred = [
                ("value", AttrKind::Property),
                ("object", AttrKind::Relationship),
                ("languageMap", AttrKind::LanguageProperty),
                ("valueList", AttrKind::ListProperty),
                ("objectList", AttrKind::ListRelationship),
                ("json", AttrKind::JsonProperty),
                ("vocab", AttrKind::VocabProperty),
            ]
            .into_iter()
            .find(|(m, _)| obj.contains_key(*m))
            .map(|(_, k)| k);
            match inferred {
                Some(k) => k,
                None => {
                    // Concise compound value: the object is the Property's value.
                    if geo_name {
                        return Err(NgsiError::bad_data(format!("attribute '{name}' must be a GeoProperty")));
                    }
                    return Ok(Attribute::property(v.clone()));
                }
            }
        }
    };
    // Concise: a value that is a GeoJSON geometry makes a GeoProperty.
    let value_is_geometry = obj.get("value").and_then(Value::as_object).is_some_and(is_geometry);
    let kind = if kind == AttrKind::Property && obj.get("type").is_none() && (geo_name || value_is_geometry) {
        AttrKind::GeoProperty
    } else {
        kind
    };
    if geo_name && kind != AttrKind::GeoProperty {
        return Err(NgsiError::bad_data(format!("attribute '{name}' must be a GeoProperty")));
    }
    let member = kind.value_member();
    let value = match obj.get(member) {
        None | Some(Value::Null) => {
            return Err(NgsiError::bad_data(format!(
                "attribute '{name}' is a {} and needs a non-null '{member}'",
                kind.name()
            )))
        }
        Some(v) => check_value(name, kind, v, ctx)?,
    };
    let mut attr = Attribute::property(value);
    attr.kind = kind;
    for (key, mv) in obj {
        match key.as_str() {
            "type" => {}
            k if k == member => {}
            "datasetId" => {
                let ds = mv
                    .as_str()
                    .filter(|s| is_absolute_iri(s))
                    .ok_or_else(|| NgsiError::bad_data(format!("attribute '{name}': datasetId must be a URI")))?;
                attr.dataset_id = Some(ds.to_string());
            }
            "observedAt" => attr.observed_at = Some(check_datetime(name, "observedAt", mv)?),
            "unitCode" => {
                let u = mv.as_str().filter(|s| !s.is_empty()).ok_or_else(|| {
                    NgsiError::bad_data(format!("attribute '{name}': unitCode must be a non-empty string"))
                })?;
                attr.unit_code = Some(u.to_string());
            }
            "objectType" => {
                let expand = |s: &Value| s.as_str().map(|s| Value::String(ctx.expand(s)));
                attr.object_type = Some(match mv {
                    Value::Array(a) => Value::Array(a.iter().filter_map(expand).collect()),
                    other => expand(other).ok_or_else(|| {
                        NgsiError::bad_data(format!("attribute '{name}': objectType must be a type name"))
                    })?,
                });
            }
            k if RESERVED_ATTR_MEMBERS.contains(&k) => {
                // System-generated (createdAt, ...) or a value member of another kind.
                if ["value", "object", "languageMap", "valueList", "objectList", "json", "vocab"].contains(&k) {
                    return Err(NgsiError::bad_data(format!(
                        "attribute '{name}' is a {} and cannot have '{k}'",
                        kind.name()
                    )));
                }
            }
            sub_name => {
                validate_attr_name(sub_name)?;
                if mv.is_array() && mv.as_array().is_some_and(|a| a.iter().all(looks_like_attribute) && !a.is_empty()) {
                    return Err(NgsiError::bad_data(format!(
                        "sub-attribute '{sub_name}' of '{name}' cannot have several instances"
                    )));
                }
                let sub = parse_one(sub_name, mv, ctx, depth + 1)?;
                attr.sub.insert(ctx.expand(sub_name), sub);
            }
        }
    }
    Ok(attr)
}

fn check_value(name: &str, kind: AttrKind, v: &Value, ctx: &Context) -> Result<Value, NgsiError> {
    let bad = |msg: String| Err(NgsiError::bad_data(format!("attribute '{name}': {msg}")));
    match kind {
        AttrKind::Property | AttrKind::JsonProperty => Ok(v.clone()),
        AttrKind::Relationship => match v {
            Value::String(s) if is_absolute_iri(s) => Ok(v.clone()),
            Value::Array(a) if !a.is_empty() && a.iter().all(|o| o.as_str().is_some_and(is_absolute_iri)) => {
                Ok(v.clone())
            }
            _ => bad("a Relationship's object must be a URI or a non-empty array of URIs".into()),
        },
        AttrKind::GeoProperty => match validate_geometry(v) {
            Ok(()) => Ok(v.clone()),
            Err(e) => bad(e),
        },
        AttrKind::LanguageProperty => {
            let Some(m) = v.as_object() else {
                return bad("a languageMap must be an object of language tags to strings".into());
            };
            for (tag, s) in m {
                let tag_ok =
                    tag == "@none" || (!tag.is_empty() && tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
                if !tag_ok {
                    return bad(format!("'{tag}' is not a language tag"));
                }
                let ok = s.is_string() || s.as_array().is_some_and(|a| a.iter().all(Value::is_string));
                if !ok {
                    return bad(format!("the languageMap entry '{tag}' must be a string"));
                }
            }
            Ok(v.clone())
        }
        AttrKind::ListProperty => match v {
            Value::Array(_) => Ok(v.clone()),
            _ => bad("a ListProperty's valueList must be an array".into()),
        },
        AttrKind::ListRelationship => match v {
            Value::Array(a)
                if a.iter().all(|o| {
                    o.as_str().or_else(|| o.get("object").and_then(Value::as_str)).is_some_and(is_absolute_iri)
                }) =>
            {
                Ok(v.clone())
            }
            _ => bad("a ListRelationship's objectList must be an array of URIs".into()),
        },
        AttrKind::VocabProperty => match v {
            Value::String(s) => Ok(Value::String(ctx.expand(s))),
            Value::Array(a) if a.iter().all(Value::is_string) => {
                Ok(Value::Array(a.iter().filter_map(Value::as_str).map(|s| Value::String(ctx.expand(s))).collect()))
            }
            _ => bad("a VocabProperty's vocab must be a term or an array of terms".into()),
        },
    }
}

fn check_datetime(name: &str, member: &str, v: &Value) -> Result<String, NgsiError> {
    let s = v
        .as_str()
        .ok_or_else(|| NgsiError::bad_data(format!("attribute '{name}': {member} must be a date-time string")))?;
    chrono::DateTime::parse_from_rfc3339(s)
        .map_err(|_| NgsiError::bad_data(format!("attribute '{name}': {member} '{s}' is not an RFC 3339 date-time")))?;
    Ok(s.to_string())
}

/// Parses the attributes of a temporal representation (`POST /temporal/entities`,
/// `POST /temporal/entities/{id}/attrs`): each attribute is one instance or an array of
/// instances, several of which may share a datasetId (they differ in time).
pub fn parse_temporal_attributes(body: &Value, ctx: &Context) -> Result<Vec<(String, Attribute)>, NgsiError> {
    let obj = body.as_object().ok_or_else(|| NgsiError::bad_data("the request body must be a JSON object"))?;
    let mut out = Vec::new();
    for (name, v) in obj {
        if matches!(name.as_str(), "id" | "@id" | "type" | "@type" | "scope" | "@context" | "createdAt" | "modifiedAt")
        {
            continue;
        }
        validate_attr_name(name)?;
        let iri = ctx.expand(name);
        let items: Vec<&Value> = match v {
            Value::Array(a) if !a.is_empty() && a.iter().all(looks_like_attribute) => a.iter().collect(),
            Value::Array(a) if a.is_empty() => {
                return Err(NgsiError::bad_data(format!("attribute '{name}' has an empty list of instances")))
            }
            other => vec![other],
        };
        for item in items {
            out.push((iri.clone(), parse_one(name, item, ctx, 0)?));
        }
    }
    Ok(out)
}

/// Parses the body of `PATCH /entities/{id}/attrs/{attrId}` (a partial attribute): the
/// type may be left out, in which case the existing attribute's kind is assumed.
pub fn parse_attribute_fragment(
    name: &str,
    body: &Value,
    existing_kind: AttrKind,
    ctx: &Context,
) -> Result<Attribute, NgsiError> {
    let obj = body.as_object().ok_or_else(|| NgsiError::bad_data("the attribute fragment must be a JSON object"))?;
    if obj.contains_key("type") {
        return parse_one(name, body, ctx, 0);
    }
    let member = existing_kind.value_member();
    let mut with_type = obj.clone();
    with_type.insert("type".into(), Value::String(existing_kind.name().into()));
    if !with_type.contains_key(member) {
        // Only metadata or sub-attributes change; mark the value as absent.
        with_type.insert(member.into(), Value::Bool(false));
        let mut a = parse_one(name, &Value::Object(with_type), ctx, 0)?;
        a.value = Value::Null;
        return Ok(a);
    }
    parse_one(name, &Value::Object(with_type), ctx, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx() -> Context {
        Context::core()
    }

    #[test]
    fn normalized_entity() {
        let e = parse_entity(
            &json!({
                "id": "urn:ngsi-ld:Shelter:1", "type": "Shelter",
                "capacity": {"type": "Property", "value": 120, "unitCode": "C62", "observedAt": "2026-11-23T06:00:00Z",
                             "reliability": {"type": "Property", "value": 0.9}},
                "near": {"type": "Relationship", "object": "urn:ngsi-ld:Road:1"},
                "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [139.0, 36.3]}},
                "name": {"type": "LanguageProperty", "languageMap": {"ja": "第一避難所", "en": "Shelter 1"}},
                "temp": [{"type": "Property", "value": 1, "datasetId": "urn:a"}, {"type": "Property", "value": 2}]
            }),
            &ctx(),
        )
        .expect("valid");
        assert_eq!(e.types, vec!["https://uri.etsi.org/ngsi-ld/default-context/Shelter"]);
        let cap = &e.attrs["https://uri.etsi.org/ngsi-ld/default-context/capacity"][0];
        assert_eq!(cap.value, json!(120));
        assert_eq!(cap.unit_code.as_deref(), Some("C62"));
        assert!(cap.sub.contains_key("https://uri.etsi.org/ngsi-ld/default-context/reliability"));
        assert_eq!(e.attrs["https://uri.etsi.org/ngsi-ld/location"][0].kind, AttrKind::GeoProperty);
        assert_eq!(e.attrs["https://uri.etsi.org/ngsi-ld/default-context/temp"].len(), 2);
    }

    #[test]
    fn concise_entity() {
        let e = parse_entity(
            &json!({"id": "urn:x:1", "type": "T", "n": 5, "addr": {"street": "a"},
                    "location": {"type": "Point", "coordinates": [1, 2]}, "rel": {"object": "urn:y:1"}}),
            &ctx(),
        )
        .expect("valid");
        assert_eq!(e.attrs["https://uri.etsi.org/ngsi-ld/default-context/n"][0].value, json!(5));
        assert_eq!(e.attrs["https://uri.etsi.org/ngsi-ld/default-context/addr"][0].value, json!({"street": "a"}));
        assert_eq!(e.attrs["https://uri.etsi.org/ngsi-ld/location"][0].kind, AttrKind::GeoProperty);
        assert_eq!(e.attrs["https://uri.etsi.org/ngsi-ld/default-context/rel"][0].kind, AttrKind::Relationship);
    }

    #[test]
    fn bad_input_is_named() {
        let cases = [
            (json!({"type": "T"}), "no 'id'"),
            (json!({"id": "not a uri", "type": "T"}), "not a URI"),
            (json!({"id": "urn:x:1"}), "no 'type'"),
            (json!({"id": "urn:x:1", "type": "T", "a(b": 1}), "forbidden character"),
            (json!({"id": "urn:x:1", "type": "T", "p": {"type": "Property"}}), "needs a non-null 'value'"),
            (json!({"id": "urn:x:1", "type": "T", "p": {"type": "Foo", "value": 1}}), "not an NGSI-LD attribute type"),
            (
                json!({"id": "urn:x:1", "type": "T", "r": {"type": "Relationship", "object": "x y"}}),
                "object must be a URI",
            ),
            (json!({"id": "urn:x:1", "type": "T", "location": 5}), "must be a GeoProperty"),
            (
                json!({"id": "urn:x:1", "type": "T", "p": {"type": "Property", "value": 1, "observedAt": "yesterday"}}),
                "not an RFC 3339",
            ),
            (
                json!({"id": "urn:x:1", "type": "T", "p": [{"type": "Property", "value": 1}, {"type": "Property", "value": 2}]}),
                "two instances without a datasetId",
            ),
        ];
        for (body, want) in cases {
            let err = parse_entity(&body, &ctx()).expect_err("invalid");
            assert!(err.detail.contains(want), "{body}: got '{}', want '{want}'", err.detail);
        }
    }
}
