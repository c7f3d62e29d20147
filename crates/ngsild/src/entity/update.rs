//! The update semantics of the NGSI-LD entity operations, on the model alone: which
//! attribute instances an append, update, merge or delete touches (ETSI GS CIM 009
//! §5.6). Storage backends call these inside their transaction; the HTTP layer reports
//! the [`UpdateOutcome`].

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Attribute, Entity};
use crate::error::NgsiError;

/// The value that deletes an attribute in a merge (ETSI GS CIM 009 §4.5.0).
pub const NGSI_LD_NULL: &str = "urn:ngsi-ld:null";

/// Which instances of an attribute a delete applies to.
#[derive(Debug, Clone, Copy, Default)]
pub struct AttrSelector<'a> {
    /// The instance with this datasetId (`None`: the default instance).
    pub dataset_id: Option<&'a str>,
    /// Every instance (`deleteAll=true`).
    pub delete_all: bool,
}

/// Which attributes an update changed and which it did not, and why.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateOutcome {
    /// Expanded names of the attributes changed.
    pub updated: Vec<String>,
    /// Expanded names of the attributes left as they were, with the reason.
    pub not_updated: Vec<(String, String)>,
}

impl Entity {
    /// Appends attributes (`POST /entities/{id}/attrs`): new instances are added;
    /// existing ones (same name and datasetId) are replaced unless `overwrite` is false.
    pub fn append_attrs(
        &mut self,
        attrs: BTreeMap<String, Vec<Attribute>>,
        overwrite: bool,
        now: &str,
    ) -> UpdateOutcome {
        let mut out = UpdateOutcome::default();
        for (name, incoming) in attrs {
            let existing = self.attrs.entry(name.clone()).or_default();
            let mut changed = false;
            for mut inst in incoming {
                match existing.iter_mut().find(|e| e.dataset_id == inst.dataset_id) {
                    Some(old) if overwrite => {
                        inst.created_at = old.created_at.clone();
                        inst.stamp(now);
                        *old = inst;
                        changed = true;
                    }
                    Some(_) => {}
                    None => {
                        inst.stamp(now);
                        existing.push(inst);
                        changed = true;
                    }
                }
            }
            if changed {
                out.updated.push(name);
            } else {
                out.not_updated.push((name, "attribute exists and options=noOverwrite was given".into()));
            }
        }
        self.touch_if(&out, now);
        out
    }

    /// Updates existing attributes only (`PATCH /entities/{id}/attrs`); attributes (or
    /// datasetIds) the entity does not have are reported as not updated.
    pub fn update_attrs(&mut self, attrs: BTreeMap<String, Vec<Attribute>>, now: &str) -> UpdateOutcome {
        let mut out = UpdateOutcome::default();
        for (name, incoming) in attrs {
            let Some(existing) = self.attrs.get_mut(&name) else {
                out.not_updated.push((name, "attribute does not exist".into()));
                continue;
            };
            let mut changed = false;
            let mut missing = false;
            for mut inst in incoming {
                match existing.iter_mut().find(|e| e.dataset_id == inst.dataset_id) {
                    Some(old) => {
                        inst.created_at = old.created_at.clone();
                        inst.stamp(now);
                        *old = inst;
                        changed = true;
                    }
                    None => missing = true,
                }
            }
            if changed {
                out.updated.push(name);
            } else if missing {
                out.not_updated.push((name, "no attribute instance with that datasetId".into()));
            }
        }
        self.touch_if(&out, now);
        out
    }

    /// Merges a fragment (`PATCH /entities/{id}`): existing instances are merged member
    /// by member, new ones added, and a value of `urn:ngsi-ld:null` deletes an instance.
    pub fn merge(&mut self, attrs: BTreeMap<String, Vec<Attribute>>, now: &str) -> UpdateOutcome {
        let mut out = UpdateOutcome::default();
        for (name, incoming) in attrs {
            let existing = self.attrs.entry(name.clone()).or_default();
            for inst in incoming {
                let pos = existing.iter().position(|e| e.dataset_id == inst.dataset_id);
                if inst.value == Value::String(NGSI_LD_NULL.into()) {
                    if let Some(p) = pos {
                        existing.remove(p);
                    }
                    continue;
                }
                match pos {
                    Some(p) => merge_instance(&mut existing[p], inst, now),
                    None => {
                        let mut inst = inst;
                        inst.stamp(now);
                        existing.push(inst);
                    }
                }
            }
            if existing.is_empty() {
                self.attrs.remove(&name);
            }
            out.updated.push(name);
        }
        self.touch_if(&out, now);
        out
    }

    /// Partially updates one attribute instance (`PATCH /entities/{id}/attrs/{attrId}`).
    /// A `fragment.value` of `Null` means the fragment did not change the value.
    pub fn patch_attr(&mut self, name: &str, fragment: Attribute, now: &str) -> Result<(), NgsiError> {
        let instances = self
            .attrs
            .get_mut(name)
            .ok_or_else(|| NgsiError::not_found(format!("entity '{}' has no attribute '{name}'", self.id)))?;
        let inst = instances.iter_mut().find(|e| e.dataset_id == fragment.dataset_id).ok_or_else(|| {
            NgsiError::not_found(format!(
                "attribute '{name}' of entity '{}' has no instance with datasetId '{}'",
                self.id,
                fragment.dataset_id.as_deref().unwrap_or("(default)")
            ))
        })?;
        merge_instance(inst, fragment, now);
        self.modified_at = Some(now.to_string());
        Ok(())
    }

    /// Deletes an attribute's instance(s) (`DELETE /entities/{id}/attrs/{attrId}`).
    pub fn delete_attr(&mut self, name: &str, sel: AttrSelector<'_>, now: &str) -> Result<(), NgsiError> {
        let instances = self
            .attrs
            .get_mut(name)
            .ok_or_else(|| NgsiError::not_found(format!("entity '{}' has no attribute '{name}'", self.id)))?;
        if sel.delete_all {
            self.attrs.remove(name);
        } else {
            let pos = instances.iter().position(|e| e.dataset_id.as_deref() == sel.dataset_id).ok_or_else(|| {
                NgsiError::not_found(format!(
                    "attribute '{name}' of entity '{}' has no instance with datasetId '{}'",
                    self.id,
                    sel.dataset_id.unwrap_or("(default)")
                ))
            })?;
            instances.remove(pos);
            if instances.is_empty() {
                self.attrs.remove(name);
            }
        }
        self.modified_at = Some(now.to_string());
        Ok(())
    }

    /// Replaces all attributes and types (`PUT /entities/{id}`), keeping id and createdAt.
    pub fn replace_with(&mut self, mut new: Entity, now: &str) {
        let created = self.created_at.clone();
        new.stamp_new(now);
        new.created_at = created;
        new.id = self.id.clone();
        *self = new;
    }

    fn touch_if(&mut self, out: &UpdateOutcome, now: &str) {
        if !out.updated.is_empty() {
            self.modified_at = Some(now.to_string());
        }
    }
}

fn merge_instance(old: &mut Attribute, new: Attribute, now: &str) {
    if !new.value.is_null() {
        old.kind = new.kind;
        old.value = new.value;
    }
    if new.observed_at.is_some() {
        old.observed_at = new.observed_at;
    }
    if new.unit_code.is_some() {
        old.unit_code = new.unit_code;
    }
    if new.object_type.is_some() {
        old.object_type = new.object_type;
    }
    for (k, mut sub) in new.sub {
        if sub.value == Value::String(NGSI_LD_NULL.into()) {
            old.sub.remove(&k);
            continue;
        }
        sub.stamp(now);
        old.sub.insert(k, sub);
    }
    old.modified_at = Some(now.to_string());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Context;
    use crate::entity::{parse_attributes, parse_entity};
    use serde_json::json;

    const P: &str = "https://uri.etsi.org/ngsi-ld/default-context/p";

    fn entity() -> Entity {
        let mut e = parse_entity(
            &json!({"id": "urn:x:1", "type": "T", "p": {"type": "Property", "value": 1}}),
            &Context::core(),
        )
        .expect("valid");
        e.stamp_new("2026-01-01T00:00:00.000Z");
        e
    }

    fn attrs(v: serde_json::Value) -> BTreeMap<String, Vec<Attribute>> {
        parse_attributes(&v, &Context::core()).expect("valid")
    }

    #[test]
    fn append_respects_no_overwrite() {
        let mut e = entity();
        let out = e.append_attrs(attrs(json!({"p": 2, "q": 3})), false, "t1");
        assert_eq!(e.attrs[P][0].value, json!(1));
        assert_eq!(out.not_updated.len(), 1);
        let out = e.append_attrs(attrs(json!({"p": 2})), true, "t2");
        assert_eq!(e.attrs[P][0].value, json!(2));
        assert_eq!(e.attrs[P][0].created_at.as_deref(), Some("2026-01-01T00:00:00.000Z"));
        assert_eq!(out.updated, vec![P.to_string()]);
    }

    #[test]
    fn update_only_existing_and_merge_null_deletes() {
        let mut e = entity();
        let out = e.update_attrs(attrs(json!({"p": 5, "zz": 1})), "t");
        assert_eq!(out.updated, vec![P.to_string()]);
        assert_eq!(out.not_updated[0].1, "attribute does not exist");
        e.merge(attrs(json!({"p": "urn:ngsi-ld:null"})), "t");
        assert!(!e.attrs.contains_key(P));
    }

    #[test]
    fn delete_by_dataset() {
        let mut e = entity();
        e.append_attrs(attrs(json!({"p": {"type": "Property", "value": 9, "datasetId": "urn:d:1"}})), true, "t");
        assert_eq!(e.attrs[P].len(), 2);
        e.delete_attr(P, AttrSelector { dataset_id: Some("urn:d:1"), delete_all: false }, "t").expect("deleted");
        assert_eq!(e.attrs[P].len(), 1);
        assert!(e.delete_attr(P, AttrSelector { dataset_id: Some("urn:d:1"), delete_all: false }, "t").is_err());
        e.delete_attr(P, AttrSelector { dataset_id: None, delete_all: true }, "t").expect("deleted");
        assert!(e.attrs.is_empty());
    }
}
