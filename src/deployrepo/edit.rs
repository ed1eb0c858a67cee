//! Format-preserving image edits of manifest text. Pure: text in, text and a
//! change set out.
//!
//! The lossless syntax tree of `yaml-edit` is changed only at the image
//! scalars (and, in a kustomization, the `newTag`/`digest` keys of the app's
//! `images:` entry); every other byte is kept. Each edit is then checked by
//! re-parsing the old and new text ([`super::check`]): if anything but the
//! intended fields differs, the edit is refused.

use yaml_edit::{Document, Mapping, Scalar, YamlNode};

use super::check::{self, FieldPath, PlannedField};
use super::image::{TargetImage, image_name, repository_part};

/// Kinds whose pod template is edited, and where the pod spec lives.
pub const WORKLOADS: &[(&str, &[&str])] = &[
    ("Pod", &["spec"]),
    ("Deployment", &["spec", "template", "spec"]),
    ("StatefulSet", &["spec", "template", "spec"]),
    ("DaemonSet", &["spec", "template", "spec"]),
    ("ReplicaSet", &["spec", "template", "spec"]),
    ("Job", &["spec", "template", "spec"]),
    (
        "CronJob",
        &["spec", "jobTemplate", "spec", "template", "spec"],
    ),
];

/// Container lists of a pod spec that hold images.
const CONTAINER_LISTS: &[&str] = &["initContainers", "containers"];

/// File names kustomize reads as a kustomization.
pub const KUSTOMIZATION_FILES: &[&str] =
    &["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Why a manifest could not be edited. All of these are refusals: nothing is written.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The text is not YAML the checker can read.
    #[error("{file}: not valid YAML: {message}")]
    ParseManifest {
        /// The file.
        file: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// The lossless parser does not reproduce the file exactly, so an edit
    /// could change bytes it was not asked to.
    #[error("{file}: the editor cannot reproduce this file byte for byte")]
    NotLossless {
        /// The file.
        file: String,
    },
    /// The image sits in a form the editor does not rewrite (block scalar,
    /// alias, tag), or resolves through an alias to a field it cannot reach.
    #[error("{file}: document {document}: {field}: image in a form that cannot be edited in place")]
    UneditableImage {
        /// The file.
        file: String,
        /// Document index in the file.
        document: usize,
        /// Field path.
        field: String,
    },
    /// Re-parsing showed a difference other than the intended image fields.
    #[error("{file}: the edit would change more than the image: {detail}")]
    UnintendedChange {
        /// The file.
        file: String,
        /// The first unexpected difference.
        detail: String,
    },
}

/// One image field changed by an edit: what commit messages and PR bodies list.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImageChange {
    /// File, relative to the repository root.
    pub file: String,
    /// Index of the YAML document in the file.
    pub document: usize,
    /// Object kind (`Deployment`, `Kustomization`).
    pub kind: String,
    /// Object name (`metadata.name`), empty when absent.
    pub name: String,
    /// Field path (`spec.template.spec.containers[0].image`).
    pub field: String,
    /// The reference before.
    pub old_image: String,
    /// The reference after.
    pub new_image: String,
}

impl ImageChange {
    /// `Kind/name` of the object changed, or the kind alone when it has no
    /// name (a Helm values file).
    pub fn object(&self) -> String {
        if self.name.is_empty() {
            self.kind.clone()
        } else {
            format!("{}/{}", self.kind, self.name)
        }
    }
}

/// The result of editing one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEdit {
    /// The new text (identical to the input when nothing changed).
    pub text: String,
    /// The image fields changed; empty when the file already held the image.
    pub changes: Vec<ImageChange>,
}

/// Set `image` in every place of `text` that deploys its repository.
/// `file` names the file in errors and in the change set.
pub fn edit_manifest(file: &str, text: &str, image: &TargetImage) -> Result<FileEdit, EditError> {
    let (old_values, yaml) = check::parse_lossless(file, text)?;
    let is_kustomization = KUSTOMIZATION_FILES.iter().any(|n| file.ends_with(n));
    let mut planner = Planner {
        file,
        image,
        changes: Vec::new(),
        fields: Vec::new(),
    };
    for (index, doc) in yaml.documents().enumerate() {
        planner.document(index, &doc, is_kustomization)?;
    }
    let changed = !planner.changes.is_empty();
    let new_text = check::edited_text(file, text, &yaml, &old_values, changed, &planner.fields)?;
    check::every_matching_image_updated(&new_text, image).map_err(|(document, field)| {
        EditError::UneditableImage {
            file: file.to_string(),
            document,
            field,
        }
    })?;
    Ok(FileEdit {
        text: new_text,
        changes: planner.changes,
    })
}

/// Walks one file's documents, edits the tree in place and records what it
/// changed (for the change set) and what it intended (for the check).
struct Planner<'a> {
    file: &'a str,
    image: &'a TargetImage,
    changes: Vec<ImageChange>,
    fields: Vec<PlannedField>,
}

impl Planner<'_> {
    fn document(
        &mut self,
        index: usize,
        doc: &Document,
        kustomization: bool,
    ) -> Result<(), EditError> {
        let Some(root) = doc.as_mapping() else {
            return Ok(());
        };
        let kind = scalar_text(&root, "kind").unwrap_or_default();
        let name = root
            .get_mapping("metadata")
            .and_then(|m| scalar_text(&m, "name"))
            .unwrap_or_default();
        let object = Object {
            document: index,
            kind: kind.clone(),
            name,
        };
        if kind == "Kustomization" || (kustomization && kind.is_empty()) {
            let object = Object {
                kind: "Kustomization".into(),
                ..object
            };
            return self.kustomization(&object, &root);
        }
        let Some((_, spec_path)) = WORKLOADS.iter().find(|(k, _)| *k == kind) else {
            return Ok(());
        };
        let mut pod_spec = root;
        let mut path = FieldPath::default();
        for key in *spec_path {
            let Some(next) = pod_spec.get_mapping(key) else {
                return Ok(());
            };
            pod_spec = next;
            path = path.key(key);
        }
        for list in CONTAINER_LISTS {
            let Some(containers) = pod_spec.get_sequence(list) else {
                continue;
            };
            for (i, container) in containers.values().enumerate() {
                let Some(container) = container.as_mapping() else {
                    continue;
                };
                let field = path.key(list).index(i).key("image");
                self.container_image(&object, container, field)?;
            }
        }
        Ok(())
    }

    fn container_image(
        &mut self,
        object: &Object,
        container: &Mapping,
        field: FieldPath,
    ) -> Result<(), EditError> {
        let Some(node) = container.get("image") else {
            return Ok(());
        };
        let scalar = match node {
            YamlNode::Scalar(s) if !s.is_block() => s,
            // Aliases and tags are left for the post-edit check to judge: it
            // refuses the edit if one of them resolves to the app's image.
            _ => return Ok(()),
        };
        let old = scalar.as_string();
        if image_name(&old).as_ref() != Some(self.image.name()) {
            return Ok(());
        }
        let new = self.image.with_repository(&repository_part(&old));
        if new == old {
            return Ok(());
        }
        set_scalar_keeping_style(&scalar, &new);
        self.fields.push(PlannedField {
            document: object.document,
            path: field.clone(),
            value: Some(new.clone()),
        });
        self.changes
            .push(object.change(self.file, &field, old, new));
        Ok(())
    }

    fn kustomization(&mut self, object: &Object, root: &Mapping) -> Result<(), EditError> {
        let Some(images) = root.get_sequence("images") else {
            return Ok(());
        };
        for (i, entry) in images.values().enumerate() {
            let Some(entry) = entry.as_mapping() else {
                continue;
            };
            let name = scalar_text(entry, "name").unwrap_or_default();
            let new_name = scalar_text(entry, "newName");
            let target = self.image.name();
            let matches = image_name(&name).as_ref() == Some(target)
                || new_name.as_deref().and_then(image_name).as_ref() == Some(target);
            if !matches {
                continue;
            }
            let base = FieldPath::default().key("images").index(i);
            let old = kustomize_reference(&name, entry);
            let mut touched = false;
            if let Some(new_name) = &new_name
                && image_name(new_name).as_ref() != Some(target)
            {
                touched |= self.set_key(
                    object,
                    entry,
                    &base,
                    "newName",
                    Some(self.image.repository()),
                )?;
            }
            touched |= self.set_key(object, entry, &base, "newTag", self.image.tag())?;
            touched |= self.set_key(object, entry, &base, "digest", self.image.digest())?;
            if touched {
                let new = kustomize_reference(&name, entry);
                self.changes.push(object.change(self.file, &base, old, new));
            }
        }
        Ok(())
    }

    /// Set, insert or remove one key of a kustomization image entry; true when it changed.
    fn set_key(
        &mut self,
        object: &Object,
        entry: &Mapping,
        base: &FieldPath,
        key: &str,
        value: Option<&str>,
    ) -> Result<bool, EditError> {
        let path = base.key(key);
        let current = entry.get(key);
        match (current, value) {
            (None, None) => return Ok(false),
            (Some(YamlNode::Scalar(s)), Some(v)) if !s.is_block() => {
                if s.as_string() == v {
                    return Ok(false);
                }
                set_scalar_keeping_style(&s, v);
            }
            (Some(YamlNode::Scalar(_)), None) => {
                entry.remove(key);
            }
            (None, Some(v)) => entry.set(key, v),
            (Some(_), _) => {
                return Err(EditError::UneditableImage {
                    file: self.file.to_string(),
                    document: object.document,
                    field: path.to_string(),
                });
            }
        }
        self.fields.push(PlannedField {
            document: object.document,
            path,
            value: value.map(String::from),
        });
        Ok(true)
    }
}

/// The object a change belongs to.
struct Object {
    document: usize,
    kind: String,
    name: String,
}

impl Object {
    fn change(
        &self,
        file: &str,
        field: &FieldPath,
        old_image: String,
        new_image: String,
    ) -> ImageChange {
        ImageChange {
            file: file.to_string(),
            document: self.document,
            kind: self.kind.clone(),
            name: self.name.clone(),
            field: field.to_string(),
            old_image,
            new_image,
        }
    }
}

fn scalar_text(mapping: &Mapping, key: &str) -> Option<String> {
    match mapping.get(key)? {
        YamlNode::Scalar(s) => Some(s.as_string()),
        _ => None,
    }
}

/// The image a kustomization entry produces: `newName` or `name`, then tag and digest.
fn kustomize_reference(name: &str, entry: &Mapping) -> String {
    let mut out = scalar_text(entry, "newName").unwrap_or_else(|| name.to_string());
    if let Some(tag) = scalar_text(entry, "newTag") {
        out.push(':');
        out.push_str(&tag);
    }
    if let Some(digest) = scalar_text(entry, "digest") {
        out.push('@');
        out.push_str(&digest);
    }
    out
}

/// Replace a scalar's text, keeping its quote style so the diff is one value.
/// Plain text that YAML would read as something other than this string (a tag
/// `1.10` reads as a number) is single-quoted. Validated references hold no
/// quotes or escapes, so wrapping them is enough.
pub(super) fn set_scalar_keeping_style(scalar: &Scalar, value: &str) {
    let raw = scalar.value();
    let text = if raw.starts_with('"') {
        format!("\"{value}\"")
    } else if raw.starts_with('\'') || !check::reads_as_string(value) {
        format!("'{value}'")
    } else {
        value.to_string()
    };
    scalar.set_value(&text);
}

#[cfg(test)]
mod tests;
