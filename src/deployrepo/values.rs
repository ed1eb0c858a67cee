//! Format-preserving image edits of Helm values files. Pure: text in, text
//! and a change set out, under the same byte-exact guarantee and re-parse
//! check as manifest edits ([`super::edit`]).
//!
//! Where the image lives comes from the environment's `helm_values` mapping
//! (dotted key paths), or, without one, from the shapes charts commonly use,
//! at the top level or under one top-level key per container:
//!
//! - `image: {repository: ghcr.io/acme/web, tag: "1.2.3"}` (and `digest`),
//! - `image: {registry: ghcr.io, repository: acme/web, tag: "1.2.3"}`,
//! - `image: "ghcr.io/acme/web:1.2.3"`.

use serde_json::Value;
use yaml_edit::{Mapping, YamlNode};

use super::check::{self, FieldPath, PlannedField};
use super::edit::{
    EditError, FileEdit, ImageChange, KUSTOMIZATION_FILES, set_scalar_keeping_style,
};
use super::image::{ImageName, TargetImage, image_name, repository_part};
use crate::repoconfig::HelmValues;

/// The `kind` an [`ImageChange`] in a values file carries.
pub const VALUES_KIND: &str = "HelmValues";
/// The key the common shapes keep an image under.
const IMAGE_KEY: &str = "image";

/// Whether `file` reads as Helm values rather than Kubernetes objects: it
/// parses, it is not a kustomization, and no document has a `kind`.
pub fn is_values_file(file: &str, text: &str) -> bool {
    if KUSTOMIZATION_FILES.iter().any(|n| file.ends_with(n)) {
        return false;
    }
    match check::parse_documents(text) {
        Ok(docs) => {
            let docs: Vec<&Value> = docs.iter().filter(|d| !d.is_null()).collect();
            !docs.is_empty()
                && docs
                    .iter()
                    .all(|d| d.as_object().is_some_and(|m| !m.contains_key("kind")))
        }
        Err(_) => false,
    }
}

/// Where one image sits in a values document: key paths from its root.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Slot {
    /// One string holding the whole reference.
    Reference(Vec<String>),
    /// Repository, registry, tag and digest under their own keys.
    Parts {
        repository: Vec<String>,
        registry: Option<Vec<String>>,
        tag: Option<Vec<String>>,
        digest: Option<Vec<String>>,
    },
}

fn keys(dotted: &str) -> Vec<String> {
    dotted.split('.').map(String::from).collect()
}

/// The slots the mapping names, or the common shapes found in `doc`.
fn slots(doc: &Value, mapping: Option<&HelmValues>) -> Vec<Slot> {
    if let Some(m) = mapping {
        return vec![Slot::Parts {
            repository: keys(&m.repository),
            registry: m.registry.as_deref().map(keys),
            tag: m.tag.as_deref().map(keys),
            digest: m.digest.as_deref().map(keys),
        }];
    }
    let Some(root) = doc.as_object() else {
        return Vec::new();
    };
    let mut found = Vec::new();
    let mut look = |map: &serde_json::Map<String, Value>, prefix: Vec<String>| {
        let at = |key: &str| {
            let mut path = prefix.clone();
            path.extend([IMAGE_KEY.to_string(), key.to_string()]);
            path
        };
        match map.get(IMAGE_KEY) {
            Some(Value::String(_)) => {
                let mut path = prefix.clone();
                path.push(IMAGE_KEY.into());
                found.push(Slot::Reference(path));
            }
            Some(Value::Object(image)) if image.get("repository").is_some_and(Value::is_string) => {
                let has = |key: &str| image.contains_key(key).then(|| at(key));
                found.push(Slot::Parts {
                    repository: at("repository"),
                    registry: has("registry"),
                    tag: Some(at("tag")),
                    digest: has("digest"),
                });
            }
            _ => {}
        }
    };
    look(root, Vec::new());
    for (key, value) in root {
        if let Value::Object(inner) = value {
            look(inner, vec![key.clone()]);
        }
    }
    found
}

/// The tag of a reference, when it has one.
fn tag_of(reference: &str) -> Option<String> {
    super::image::parse_reference(reference).ok()?.tag
}

fn lookup<'v>(doc: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter().try_fold(doc, |v, k| v.get(k))
}

/// A scalar as the string a template would print (`1.10` stays `1.10` only
/// when quoted; a number prints as YAML read it).
fn scalar_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The reference a slot holds now, when it names `name`.
fn current(doc: &Value, slot: &Slot, name: &ImageName) -> Option<String> {
    let text = |path: &Option<Vec<String>>| {
        path.as_ref()
            .and_then(|p| lookup(doc, p))
            .and_then(scalar_string)
            .filter(|s| !s.is_empty())
    };
    match slot {
        Slot::Reference(path) => {
            let reference = lookup(doc, path)?.as_str()?;
            (image_name(reference).as_ref() == Some(name)).then(|| reference.to_string())
        }
        Slot::Parts {
            repository,
            registry,
            tag,
            digest,
        } => {
            let repository = lookup(doc, repository)?.as_str()?;
            let mut reference = match text(registry) {
                Some(registry) => format!("{}/{repository}", registry.trim_end_matches('/')),
                None => repository.to_string(),
            };
            if image_name(&reference).as_ref() != Some(name) {
                return None;
            }
            if let Some(tag) = text(tag) {
                reference = format!("{reference}:{tag}");
            }
            if let Some(digest) = text(digest) {
                reference = format!("{reference}@{digest}");
            }
            Some(reference)
        }
    }
}

/// The references to `name` a values file holds (for the re-check before a
/// write). `mapping` is the environment's `helm_values` when it names this file.
pub fn values_images(text: &str, name: &ImageName, mapping: Option<&HelmValues>) -> Vec<String> {
    let Ok(docs) = check::parse_documents(text) else {
        return Vec::new();
    };
    docs.iter()
        .flat_map(|doc| {
            slots(doc, mapping)
                .into_iter()
                .filter_map(|slot| current(doc, &slot, name))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Set `image` wherever the values file `file` keeps the app's image.
/// `mapping` is the environment's `helm_values` when it names this file.
pub fn edit_values(
    file: &str,
    text: &str,
    image: &TargetImage,
    mapping: Option<&HelmValues>,
) -> Result<FileEdit, EditError> {
    let (old_values, yaml) = check::parse_lossless(file, text)?;
    let mut editor = ValuesEditor {
        file,
        image,
        changes: Vec::new(),
        fields: Vec::new(),
    };
    for (index, (doc, value)) in yaml.documents().zip(&old_values).enumerate() {
        let Some(root) = doc.as_mapping() else {
            continue;
        };
        for slot in slots(value, mapping) {
            if let Some(old) = current(value, &slot, image.name()) {
                editor.slot(index, &root, &slot, old)?;
            }
        }
    }
    let changed = !editor.changes.is_empty();
    let new_text = check::edited_text(file, text, &yaml, &old_values, changed, &editor.fields)?;
    Ok(FileEdit {
        text: new_text,
        changes: editor.changes,
    })
}

struct ValuesEditor<'a> {
    file: &'a str,
    image: &'a TargetImage,
    changes: Vec<ImageChange>,
    fields: Vec<PlannedField>,
}

impl ValuesEditor<'_> {
    fn slot(
        &mut self,
        document: usize,
        root: &Mapping,
        slot: &Slot,
        old: String,
    ) -> Result<(), EditError> {
        let (field, new, touched) = match slot {
            Slot::Reference(path) => {
                let new = self.image.with_repository(&repository_part(&old));
                let touched = self.set(document, root, path, Some(&new))?;
                (path.join("."), new, touched)
            }
            Slot::Parts {
                repository,
                tag,
                digest,
                ..
            } => {
                // A digest-only image keeps the old tag (the digest decides);
                // a stale digest is emptied so it cannot pin the old image.
                let mut touched = false;
                let mut new = repository_part(&old);
                if let (Some(tag), Some(value)) = (tag, self.image.tag()) {
                    touched |= self.set(document, root, tag, Some(value))?;
                }
                let new_tag = match (tag, self.image.tag()) {
                    (Some(_), Some(value)) => Some(value.to_string()),
                    _ => tag_of(&old),
                };
                if let Some(value) = new_tag {
                    new = format!("{new}:{value}");
                }
                if let Some(digest) = digest {
                    touched |= self.set(document, root, digest, self.image.digest())?;
                    if let Some(value) = self.image.digest() {
                        new = format!("{new}@{value}");
                    }
                }
                let parent = &repository[..repository.len().saturating_sub(1)];
                (parent.join("."), new, touched)
            }
        };
        if touched && new != old {
            self.changes.push(ImageChange {
                file: self.file.to_string(),
                document,
                kind: VALUES_KIND.into(),
                name: String::new(),
                field,
                old_image: old,
                new_image: new,
            });
        }
        Ok(())
    }

    /// Set the scalar at `path` to `value`, inserting the key when it is
    /// missing; `None` empties a value that is there. True when the text
    /// changed.
    fn set(
        &mut self,
        document: usize,
        root: &Mapping,
        path: &[String],
        value: Option<&str>,
    ) -> Result<bool, EditError> {
        let uneditable = || EditError::UneditableImage {
            file: self.file.to_string(),
            document,
            field: path.join("."),
        };
        let (last, parents) = path.split_last().ok_or_else(uneditable)?;
        let mut parent = root.clone();
        for key in parents {
            parent = parent.get_mapping(key).ok_or_else(uneditable)?;
        }
        let wanted = value.unwrap_or_default();
        match parent.get(last) {
            Some(YamlNode::Scalar(s)) if !s.is_block() => {
                let now = s.as_string();
                let empty = now.is_empty() || s.value().trim() == "~" || now == "null";
                if now == wanted || (value.is_none() && empty) {
                    return Ok(false);
                }
                if value.is_none() {
                    s.set_value("\"\"");
                } else {
                    set_scalar_keeping_style(&s, wanted);
                }
            }
            None if value.is_some() => parent.set(last, wanted),
            None => return Ok(false),
            Some(_) => return Err(uneditable()),
        }
        let mut field = FieldPath::default();
        for key in path {
            field = field.key(key);
        }
        self.fields.push(PlannedField {
            document,
            path: field,
            value: Some(wanted.to_string()),
        });
        Ok(true)
    }
}

#[cfg(test)]
mod tests;
