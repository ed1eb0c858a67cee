//! The safety net under every edit: re-parse the old and new text into plain
//! values and prove that only the intended fields differ.

use std::fmt;
use std::str::FromStr;

use serde_json::Value;
use yaml_edit::YamlFile;

use super::edit::EditError;
use super::image::{TargetImage, image_name};

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

/// A path from a document's root to a field (`spec.containers[0].image`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldPath(Vec<Segment>);

impl FieldPath {
    /// This path extended by a key.
    pub fn key(&self, key: &str) -> FieldPath {
        let mut next = self.0.clone();
        next.push(Segment::Key(key.to_string()));
        FieldPath(next)
    }

    /// This path extended by an index.
    pub fn index(&self, index: usize) -> FieldPath {
        let mut next = self.0.clone();
        next.push(Segment::Index(index));
        FieldPath(next)
    }

    fn lookup<'v>(&self, value: &'v Value) -> Option<&'v Value> {
        self.0.iter().try_fold(value, |v, segment| match segment {
            Segment::Key(k) => v.get(k),
            Segment::Index(i) => v.get(i),
        })
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(k) if i == 0 => f.write_str(k)?,
                Segment::Key(k) => write!(f, ".{k}")?,
                Segment::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// A field an edit means to change, and the string it must hold afterwards
/// (`None`: the key is removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedField {
    /// Document index.
    pub document: usize,
    /// Field path within the document.
    pub path: FieldPath,
    /// The value afterwards.
    pub value: Option<String>,
}

/// Parse every document of a YAML stream into plain values.
pub fn parse_documents(text: &str) -> Result<Vec<Value>, String> {
    serde_saphyr::from_multiple::<Value>(text).map_err(|e| e.to_string())
}

/// The plain values of `text` (for the check after an edit) and its
/// lossless syntax tree (to edit), refused unless the tree reproduces the
/// text byte for byte.
pub fn parse_lossless(file: &str, text: &str) -> Result<(Vec<Value>, YamlFile), EditError> {
    let old_values = parse_documents(text).map_err(|message| EditError::ParseManifest {
        file: file.to_string(),
        message,
    })?;
    let yaml = YamlFile::from_str(text).map_err(|e| EditError::ParseManifest {
        file: file.to_string(),
        message: e.to_string(),
    })?;
    if yaml.to_string() != text {
        return Err(EditError::NotLossless {
            file: file.to_string(),
        });
    }
    Ok((old_values, yaml))
}

/// The text of `yaml` after an edit (`text` itself when nothing `changed`),
/// refused unless it differs from `old` only in the planned `fields`.
pub fn edited_text(
    file: &str,
    text: &str,
    yaml: &YamlFile,
    old: &[Value],
    changed: bool,
    fields: &[PlannedField],
) -> Result<String, EditError> {
    let new_text = if changed {
        yaml.to_string()
    } else {
        text.to_string()
    };
    only_planned_fields_changed(old, &new_text, fields).map_err(|detail| {
        EditError::UnintendedChange {
            file: file.to_string(),
            detail,
        }
    })?;
    Ok(new_text)
}

/// Whether `text` written as a plain scalar reads back as that same string.
pub fn reads_as_string(text: &str) -> bool {
    matches!(serde_saphyr::from_str::<Value>(text), Ok(Value::String(s)) if s == text)
}

/// Compare old values with the new text: every difference must be a planned
/// field holding its planned value. Returns the first unexpected difference.
pub fn only_planned_fields_changed(
    old: &[Value],
    new_text: &str,
    planned: &[PlannedField],
) -> Result<(), String> {
    let new = parse_documents(new_text).map_err(|e| format!("the new text does not parse: {e}"))?;
    if old.len() != new.len() {
        return Err(format!("{} documents became {}", old.len(), new.len()));
    }
    for (document, (before, after)) in old.iter().zip(&new).enumerate() {
        let mut differences = Vec::new();
        diff(before, after, FieldPath::default(), &mut differences);
        for path in differences {
            let plan = planned
                .iter()
                .find(|p| p.document == document && p.path == path);
            let Some(plan) = plan else {
                return Err(format!("document {document}: {path} changed"));
            };
            let got = path.lookup(after);
            let ok = match (&plan.value, got) {
                (Some(want), Some(Value::String(s))) => s == want,
                (None, None) => true,
                _ => false,
            };
            if !ok {
                return Err(format!(
                    "document {document}: {path} does not read back as intended"
                ));
            }
        }
    }
    Ok(())
}

fn diff(before: &Value, after: &Value, path: FieldPath, out: &mut Vec<FieldPath>) {
    match (before, after) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                match b.get(key) {
                    Some(other) => diff(value, other, path.key(key), out),
                    None => out.push(path.key(key)),
                }
            }
            for key in b.keys().filter(|k| !a.contains_key(*k)) {
                out.push(path.key(key));
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff(x, y, path.index(i), out);
            }
        }
        _ if before == after => {}
        _ => out.push(path),
    }
}

/// After an edit, no container in a workload may still name the app's
/// repository with another tag or digest (an alias or merge key the editor
/// could not reach). Returns the document and field that was missed.
pub fn every_matching_image_updated(
    new_text: &str,
    image: &TargetImage,
) -> Result<(), (usize, String)> {
    let docs = parse_documents(new_text).map_err(|e| (0, e))?;
    for (document, doc) in docs.iter().enumerate() {
        let kind = doc.get("kind").and_then(Value::as_str).unwrap_or_default();
        if !super::edit::WORKLOADS.iter().any(|(k, _)| *k == kind) {
            continue;
        }
        let mut images = Vec::new();
        collect_images(doc, FieldPath::default(), &mut images);
        for (path, text) in images {
            let Some(name) = image_name(&text) else {
                continue;
            };
            if &name != image.name() {
                continue;
            }
            let reference =
                super::image::parse_reference(&text).map_err(|_| (document, path.to_string()))?;
            let tag_ok = image.tag().is_none() || reference.tag.as_deref() == image.tag();
            if !tag_ok || reference.digest.as_deref() != image.digest() {
                return Err((document, path.to_string()));
            }
        }
    }
    Ok(())
}

/// Every `image` string under a `containers` or `initContainers` list.
fn collect_images(value: &Value, path: FieldPath, out: &mut Vec<(FieldPath, String)>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                if (key == "containers" || key == "initContainers")
                    && let Value::Array(items) = child
                {
                    for (i, item) in items.iter().enumerate() {
                        if let Some(Value::String(s)) = item.get("image") {
                            out.push((path.key(key).index(i).key("image"), s.clone()));
                        }
                    }
                }
                collect_images(child, path.key(key), out);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                collect_images(item, path.index(i), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_print_like_kubectl_field_paths() {
        let path = FieldPath::default()
            .key("spec")
            .key("containers")
            .index(2)
            .key("image");
        assert_eq!(path.to_string(), "spec.containers[2].image");
    }

    #[test]
    fn plain_scalars_that_read_as_other_types_are_detected() {
        for (text, want) in [
            ("1.4.2", true),
            ("1.10", false),
            ("true", false),
            ("null", false),
            ("42", false),
            ("web:1", true),
        ] {
            assert_eq!(reads_as_string(text), want, "{text}");
        }
    }

    #[test]
    fn unplanned_differences_are_reported() {
        let old = parse_documents("a: 1\nb: old\n").unwrap();
        let plan = [PlannedField {
            document: 0,
            path: FieldPath::default().key("b"),
            value: Some("new".into()),
        }];
        let cases = [
            ("planned only", "a: 1\nb: new\n", true),
            ("wrong value", "a: 1\nb: other\n", false),
            ("other field", "a: 2\nb: new\n", false),
            ("added key", "a: 1\nb: new\nc: 3\n", false),
            ("extra document", "a: 1\nb: new\n---\nc: 1\n", false),
        ];
        for (name, new, ok) in cases {
            let got = only_planned_fields_changed(&old, new, &plan);
            assert_eq!(got.is_ok(), ok, "{name}: {got:?}");
        }
    }
}
