//! Evaluation of a Query Term against an [`Entity`] (§4.9).
//!
//! 1. The **target element** of each instance of the attribute (one per `datasetId`):
//!    the attribute, then its sub-attributes along `path.sub`; a metadata name
//!    (`observedAt`, `unitCode`, ...) as the last step reads that member instead.
//! 2. The **target values**: the value (`value`, `object`, `valueList`, `json`, ...),
//!    or every string of the languageMap of a LanguageProperty addressed without a
//!    language; then the compound keys are followed (`[city]`, `[en]`, `[*]`). A path
//!    that leads nowhere means the element does not exist.
//! 3. The **comparison**, where a target value that is an array holds if any element
//!    does, and a typed literal (`{"@value": ...}`) is read as its value:
//!    - existence: some instance has the target element;
//!    - `==`: some target value equals the query value (any member of a list; within
//!      a range, both ends included);
//!    - `!=`: the target element exists and `==` does not hold — so `color!="red"`
//!      rejects an entity if any instance is red, and accepts one whose color is a
//!      number (different types are unequal, says the specification);
//!    - `>`, `>=`, `<`, `<=`: some target value of the same type compares so;
//!    - `~=`: some string target value matches the pattern (anywhere in the string);
//!    - `!~=`: there are string target values and none matches.
//!
//! Types: numbers with numbers, strings with strings and URIs, booleans with booleans;
//! a dateTime, date or time query value with a string target value that parses as
//! one (so `observedAt>=2017-12-24T12:00:00Z` compares instants, not text). Anything
//! else does not match. A Relationship or ListRelationship only matches existence,
//! `==` and `!=`, as §4.9 requires.

use std::cmp::Ordering;

use chrono::DateTime;
use serde_json::Value;

use super::parse::{parse_date, parse_time};
use super::{Op, QValue, Term};
use crate::entity::{AttrKind, Attribute, Entity};

/// One target value: a JSON value of the attribute, or a metadata string.
#[derive(Clone, Copy)]
enum Cand<'a> {
    Json(&'a Value),
    Text(&'a str),
}

/// The target element of one instance: its kind (`None` for metadata) and values.
struct Target<'a> {
    kind: Option<AttrKind>,
    values: Vec<Cand<'a>>,
}

/// Whether the term holds for the entity.
pub(super) fn term_matches(t: &Term, e: &Entity) -> bool {
    let Some(instances) = e.attrs.get(&t.path.attr) else {
        return false;
    };
    let targets: Vec<Target<'_>> = instances.iter().filter_map(|a| target(a, t)).collect();
    let Some((op, v)) = &t.op else {
        return !targets.is_empty();
    };
    match op {
        Op::Eq => targets.iter().any(|tg| tg.values.iter().any(|c| equals(*c, v))),
        Op::Ne => !targets.is_empty() && !targets.iter().any(|tg| tg.values.iter().any(|c| equals(*c, v))),
        Op::Gt | Op::Ge | Op::Lt | Op::Le => targets
            .iter()
            .filter(|tg| !is_relationship(tg))
            .any(|tg| tg.values.iter().any(|c| scalars(*c).any(|s| compare(s, v).is_some_and(|o| op_accepts(*op, o))))),
        Op::Match | Op::NotMatch => {
            let QValue::Regex(p) = v else {
                return false;
            };
            let mut strings = targets
                .iter()
                .filter(|tg| !is_relationship(tg))
                .flat_map(|tg| tg.values.iter().flat_map(|c| scalars(*c)))
                .filter_map(|s| match s {
                    Scalar::Str(s) => Some(s),
                    _ => None,
                })
                .peekable();
            if *op == Op::Match {
                strings.any(|s| p.is_match(s))
            } else {
                strings.peek().is_some() && strings.all(|s| !p.is_match(s))
            }
        }
    }
}

fn is_relationship(t: &Target<'_>) -> bool {
    matches!(t.kind, Some(AttrKind::Relationship | AttrKind::ListRelationship))
}

fn op_accepts(op: Op, o: Ordering) -> bool {
    match op {
        Op::Gt => o == Ordering::Greater,
        Op::Ge => o != Ordering::Less,
        Op::Lt => o == Ordering::Less,
        Op::Le => o != Ordering::Greater,
        Op::Eq => o == Ordering::Equal,
        Op::Ne => o != Ordering::Equal,
        Op::Match | Op::NotMatch => false,
    }
}

/// The target element of `a` for the term's path, `None` if it does not exist.
fn target<'a>(a: &'a Attribute, t: &Term) -> Option<Target<'a>> {
    let path = &t.path;
    let mut el = a;
    for (i, name) in path.sub.iter().enumerate() {
        if let Some(meta) = metadata(el, name) {
            // Metadata ends the path: `temperature.observedAt.x` addresses nothing.
            if i + 1 != path.sub.len() || !path.compound.is_empty() {
                return None;
            }
            return meta.map(|s| Target { kind: None, values: vec![Cand::Text(s)] });
        }
        el = el.sub.get(name)?;
    }
    let mut values: Vec<Cand<'a>> = if el.kind == AttrKind::LanguageProperty && path.compound.is_empty() {
        match &el.value {
            Value::Object(m) => m.values().map(Cand::Json).collect(),
            other => vec![Cand::Json(other)],
        }
    } else {
        vec![Cand::Json(&el.value)]
    };
    for key in &path.compound {
        values = values.into_iter().flat_map(|c| member(c, key)).collect();
        if values.is_empty() {
            return None;
        }
    }
    Some(Target { kind: Some(el.kind), values })
}

/// `Some(value or None)` if `name` is a metadata name, `None` if it is a sub-attribute.
fn metadata<'a>(a: &'a Attribute, name: &str) -> Option<Option<&'a str>> {
    Some(match name {
        "observedAt" => a.observed_at.as_deref(),
        "createdAt" => a.created_at.as_deref(),
        "modifiedAt" => a.modified_at.as_deref(),
        "unitCode" => a.unit_code.as_deref(),
        "datasetId" => a.dataset_id.as_deref(),
        _ => return None,
    })
}

/// Follows one compound key: an object member (`*`: all of them), an array index, or
/// the member of each object in an array.
fn member<'a>(c: Cand<'a>, key: &str) -> Vec<Cand<'a>> {
    let Cand::Json(v) = c else {
        return Vec::new();
    };
    match unwrap_typed(v) {
        Value::Object(m) if key == "*" => m.values().map(Cand::Json).collect(),
        Value::Object(m) => m.get(key).map(Cand::Json).into_iter().collect(),
        Value::Array(items) if key == "*" => items.iter().map(Cand::Json).collect(),
        Value::Array(items) => match key.parse::<usize>() {
            Ok(i) => items.get(i).map(Cand::Json).into_iter().collect(),
            Err(_) => items.iter().filter_map(|it| it.as_object()?.get(key)).map(Cand::Json).collect(),
        },
        _ => Vec::new(),
    }
}

/// `{"@value": x, "@type": ...}` (a JSON-LD typed literal) → `x`.
fn unwrap_typed(v: &Value) -> &Value {
    match v {
        Value::Object(m) => m.get("@value").unwrap_or(v),
        _ => v,
    }
}

/// A target value reduced to what can be compared.
#[derive(Clone, Copy)]
enum Scalar<'a> {
    Num(f64),
    Str(&'a str),
    Bool(bool),
    Other,
}

fn scalar(v: &Value) -> Scalar<'_> {
    match unwrap_typed(v) {
        Value::Number(n) => n.as_f64().map_or(Scalar::Other, Scalar::Num),
        Value::String(s) => Scalar::Str(s),
        Value::Bool(b) => Scalar::Bool(*b),
        _ => Scalar::Other,
    }
}

/// The scalars of a target value: itself, or each element if it is an array.
fn scalars(c: Cand<'_>) -> Box<dyn Iterator<Item = Scalar<'_>> + '_> {
    match c {
        Cand::Text(s) => Box::new(std::iter::once(Scalar::Str(s))),
        Cand::Json(v) => match unwrap_typed(v) {
            Value::Array(items) => Box::new(items.iter().map(scalar)),
            other => Box::new(std::iter::once(scalar(other))),
        },
    }
}

/// Whether the target value `c` equals the query value `v` (a list: any member; a
/// range: within it).
fn equals(c: Cand<'_>, v: &QValue) -> bool {
    match v {
        QValue::List(items) => items.iter().any(|i| equals(c, i)),
        QValue::Range(lo, hi) => scalars(c).any(|s| {
            compare(s, lo).is_some_and(|o| o != Ordering::Less)
                && compare(s, hi).is_some_and(|o| o != Ordering::Greater)
        }),
        _ => scalars(c).any(|s| scalar_equals(s, v)),
    }
}

fn scalar_equals(s: Scalar<'_>, v: &QValue) -> bool {
    match (s, v) {
        (Scalar::Bool(a), QValue::Bool(b)) => a == *b,
        (Scalar::Str(a), QValue::Uri(b)) => a == b,
        _ => compare(s, v) == Some(Ordering::Equal),
    }
}

/// How the target scalar orders against a comparable query value; `None` for
/// different types.
fn compare(s: Scalar<'_>, v: &QValue) -> Option<Ordering> {
    match (s, v) {
        (Scalar::Num(a), QValue::Number(b)) => a.partial_cmp(b),
        (Scalar::Str(a), QValue::Str(b)) => Some(a.cmp(b.as_str())),
        (Scalar::Str(a), QValue::DateTime(b)) => DateTime::parse_from_rfc3339(a).ok().map(|a| a.cmp(b)),
        (Scalar::Str(a), QValue::Date(b)) => parse_date(a).map(|a| a.cmp(b)),
        (Scalar::Str(a), QValue::Time(b)) => parse_time(a).map(|a| a.cmp(b)),
        _ => None,
    }
}
