//! [`Entity`] → client JSON in the representation the client asked for, with names
//! compacted through the request's `@context` (ETSI GS CIM 009 §4.5).

use serde_json::{Map, Value};

use super::{AttrKind, Attribute, Entity};
use crate::context::Context;

/// Which representation to produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Every attribute with its `type` and members (the default).
    #[default]
    Normalized,
    /// Redundant `type`s left out (`options=concise`).
    Concise,
    /// Attribute values only (`options=keyValues`, the simplified representation).
    KeyValues,
}

/// What to render.
#[derive(Debug, Clone, Default)]
pub struct RenderOptions<'a> {
    /// The representation.
    pub format: Format,
    /// Include `createdAt`/`modifiedAt` (`options=sysAttrs`).
    pub sys_attrs: bool,
    /// Only these attributes (expanded names); `None`: all.
    pub attrs: Option<&'a [String]>,
    /// Language to pick from LanguageProperties (`lang=`); `*` keeps all.
    pub lang: Option<&'a str>,
}

/// Renders `e` as a JSON object (without `@context`; the caller adds it or a `Link`).
pub fn render_entity(e: &Entity, opts: &RenderOptions<'_>, ctx: &Context) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("id".into(), Value::String(e.id.clone()));
    let types: Vec<Value> = e.types.iter().map(|t| Value::String(ctx.compact(t))).collect();
    out.insert("type".into(), one_or_many(types));
    if !e.scope.is_empty() {
        out.insert("scope".into(), one_or_many(e.scope.iter().cloned().map(Value::String).collect()));
    }
    if opts.sys_attrs {
        if let Some(c) = &e.created_at {
            out.insert("createdAt".into(), Value::String(c.clone()));
        }
        if let Some(m) = &e.modified_at {
            out.insert("modifiedAt".into(), Value::String(m.clone()));
        }
    }
    for (name, instances) in &e.attrs {
        if let Some(only) = opts.attrs {
            if !only.iter().any(|a| a == name) {
                continue;
            }
        }
        let mut rendered: Vec<Value> = instances.iter().map(|a| render_attr(a, opts, ctx)).collect();
        if opts.format == Format::Concise && rendered.len() > 1 {
            // In an array of instances each must read back as an attribute, not a bare value.
            for r in rendered.iter_mut() {
                let is_attr = r.as_object().is_some_and(|o| {
                    ["value", "object", "languageMap", "valueList", "objectList", "json", "vocab"]
                        .iter()
                        .any(|k| o.contains_key(*k))
                });
                if !is_attr {
                    *r = serde_json::json!({ "value": r.take() });
                }
            }
        }
        out.insert(ctx.compact(name), one_or_many(rendered));
    }
    out
}

fn one_or_many(mut v: Vec<Value>) -> Value {
    if v.len() == 1 {
        v.pop().unwrap_or(Value::Null)
    } else {
        Value::Array(v)
    }
}

/// Picks one string from a languageMap for `lang` (falling back to `@none`, then the first).
fn pick_language(map: &Value, lang: &str) -> Option<(String, Value)> {
    let m = map.as_object()?;
    m.get_key_value(lang)
        .or_else(|| m.get_key_value("@none"))
        .or_else(|| m.iter().next())
        .map(|(k, v)| (k.clone(), v.clone()))
}

fn compact_vocab(v: &Value, ctx: &Context) -> Value {
    match v {
        Value::String(s) => Value::String(ctx.compact(s)),
        Value::Array(a) => Value::Array(a.iter().map(|x| compact_vocab(x, ctx)).collect()),
        other => other.clone(),
    }
}

/// Renders one attribute instance.
pub fn render_attribute(a: &Attribute, opts: &RenderOptions<'_>, ctx: &Context) -> Value {
    render_attr(a, opts, ctx)
}

fn render_attr(a: &Attribute, opts: &RenderOptions<'_>, ctx: &Context) -> Value {
    let lang = opts.lang.filter(|l| *l != "*");
    let mut kind = a.kind;
    let mut value = a.value.clone();
    let mut picked_lang = None;
    if kind == AttrKind::LanguageProperty {
        if let Some((tag, s)) = lang.and_then(|l| pick_language(&a.value, l)) {
            kind = AttrKind::Property;
            value = s;
            picked_lang = Some(tag);
        }
    }
    if kind == AttrKind::VocabProperty {
        value = compact_vocab(&value, ctx);
    }
    if opts.format == Format::KeyValues {
        return match kind {
            AttrKind::LanguageProperty => serde_json::json!({ "languageMap": value }),
            _ => value,
        };
    }
    let mut out = Map::new();
    let concise = opts.format == Format::Concise;
    if !concise {
        out.insert("type".into(), Value::String(kind.name().into()));
    }
    out.insert(kind.value_member().into(), value);
    if let Some(tag) = picked_lang {
        out.insert("lang".into(), Value::String(tag));
    }
    if let Some(ds) = &a.dataset_id {
        out.insert("datasetId".into(), Value::String(ds.clone()));
    }
    if let Some(o) = &a.observed_at {
        out.insert("observedAt".into(), Value::String(o.clone()));
    }
    if let Some(u) = &a.unit_code {
        out.insert("unitCode".into(), Value::String(u.clone()));
    }
    if let Some(t) = &a.object_type {
        out.insert("objectType".into(), compact_vocab(t, ctx));
    }
    if opts.sys_attrs {
        if let Some(c) = &a.created_at {
            out.insert("createdAt".into(), Value::String(c.clone()));
        }
        if let Some(m) = &a.modified_at {
            out.insert("modifiedAt".into(), Value::String(m.clone()));
        }
    }
    if let Some(i) = &a.instance_id {
        out.insert("instanceId".into(), Value::String(i.clone()));
    }
    for (name, sub) in &a.sub {
        out.insert(ctx.compact(name), render_attr(sub, opts, ctx));
    }
    if concise && out.len() == 1 {
        // A Property (or GeoProperty) with nothing but a value is just the value, unless the
        // value is itself an object or array (which would read as something else).
        if matches!(kind, AttrKind::Property) && !matches!(out.get("value"), Some(Value::Object(_) | Value::Array(_))) {
            return out.remove("value").unwrap_or(Value::Null);
        }
        if kind == AttrKind::GeoProperty {
            return out.remove("value").unwrap_or(Value::Null);
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entity::parse_entity;
    use serde_json::json;

    fn sample() -> Entity {
        parse_entity(
            &json!({"id": "urn:x:1", "type": "T",
                    "p": {"type": "Property", "value": 5, "unitCode": "CEL"},
                    "r": {"type": "Relationship", "object": "urn:y:1"},
                    "n": {"type": "LanguageProperty", "languageMap": {"ja": "橋", "en": "bridge"}},
                    "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [1, 2]}}}),
            &Context::core(),
        )
        .expect("valid")
    }

    #[test]
    fn formats() {
        let e = sample();
        let ctx = Context::core();
        let norm = render_entity(&e, &RenderOptions::default(), &ctx);
        assert_eq!(norm["p"], json!({"type": "Property", "value": 5, "unitCode": "CEL"}));
        assert_eq!(norm["r"], json!({"type": "Relationship", "object": "urn:y:1"}));
        let kv = render_entity(&e, &RenderOptions { format: Format::KeyValues, ..Default::default() }, &ctx);
        assert_eq!(kv["p"], json!(5));
        assert_eq!(kv["r"], json!("urn:y:1"));
        assert_eq!(kv["location"], json!({"type": "Point", "coordinates": [1, 2]}));
        let concise = render_entity(&e, &RenderOptions { format: Format::Concise, ..Default::default() }, &ctx);
        assert_eq!(concise["p"], json!({"value": 5, "unitCode": "CEL"}));
        assert_eq!(concise["r"], json!({"object": "urn:y:1"}));
        let ja = render_entity(&e, &RenderOptions { lang: Some("ja"), ..Default::default() }, &ctx);
        assert_eq!(ja["n"], json!({"type": "Property", "value": "橋", "lang": "ja"}));
    }
}
