//! The kustomize subset Slipway builds itself.
//!
//! Supported: `resources` (local files and directories; a directory must hold
//! its own kustomization, as in kustomize), `namespace`, `images` (`name`,
//! `newName`, `newTag`, `digest`), `commonLabels`, `labels` (with
//! `includeSelectors` and `includeTemplates`) and `commonAnnotations`.
//! Anything else (generators, patches, `helmCharts`, name prefixes, remote
//! resources, components, replacements...) is refused with the file and the
//! key, so a manifest is never applied half-understood.

use serde_json::{Map, Value};

use super::transform::{self, ImageOverride, LabelTargets};
use super::{RenderError, RenderedObject, child_path, parse_documents, parse_file, render_dir};
use crate::sync::tree::{self, ManifestTree, Node};

/// Keys of a kustomization Slipway implements.
pub const SUPPORTED_KEYS: &[&str] = &[
    "apiVersion",
    "kind",
    "resources",
    "namespace",
    "images",
    "commonLabels",
    "labels",
    "commonAnnotations",
];

/// Build the kustomization `file_name` in directory `dir`.
pub fn build(
    tree: &dyn ManifestTree,
    dir: &str,
    file_name: &str,
    depth: usize,
) -> Result<Vec<RenderedObject>, RenderError> {
    let path = child_path(dir, file_name);
    let Some(Node::File(bytes)) = tree.node(&path)? else {
        return Err(RenderError::Missing { path });
    };
    let docs = parse_documents(&path, &bytes)?;
    let Some(Value::Object(k)) = docs.into_iter().next() else {
        return Err(invalid(&path, "kustomization", "not a mapping"));
    };
    for key in k.keys() {
        if !SUPPORTED_KEYS.contains(&key.as_str()) {
            return Err(RenderError::Unsupported {
                path,
                key: key.clone(),
                why: "outside the kustomize subset Slipway builds; render it into plain YAML \
                      or use resources/namespace/images/labels/annotations"
                    .into(),
            });
        }
    }
    let mut objects = Vec::new();
    for resource in string_list(&path, &k, "resources")? {
        objects.extend(load_resource(tree, dir, &path, &resource, depth)?);
    }
    apply_transformers(&path, &k, &mut objects)?;
    Ok(objects)
}

fn load_resource(
    tree: &dyn ManifestTree,
    dir: &str,
    path: &str,
    resource: &str,
    depth: usize,
) -> Result<Vec<RenderedObject>, RenderError> {
    if resource.contains("://")
        || resource.starts_with("git@")
        || resource.starts_with("github.com/")
    {
        return Err(RenderError::Unsupported {
            path: path.into(),
            key: format!("resources: {resource}"),
            why: "remote resources are not fetched; vendor them into the deploy repo".into(),
        });
    }
    let target = tree::join(dir, resource).ok_or_else(|| {
        invalid(
            path,
            "resources",
            &format!("{resource} leaves the repository"),
        )
    })?;
    match tree.node(&target)? {
        None => Err(invalid(
            path,
            "resources",
            &format!("{resource} does not exist"),
        )),
        Some(Node::File(bytes)) => parse_file(&target, &bytes),
        Some(Node::Dir(names)) => {
            if !super::KUSTOMIZATION_FILES
                .iter()
                .any(|k| names.iter().any(|n| n == k))
            {
                return Err(invalid(
                    path,
                    "resources",
                    &format!("directory {resource} has no kustomization"),
                ));
            }
            render_dir(tree, &target, depth + 1)
        }
    }
}

fn apply_transformers(
    path: &str,
    k: &Map<String, Value>,
    objects: &mut [RenderedObject],
) -> Result<(), RenderError> {
    if let Some(ns) = k.get("namespace") {
        let ns = ns
            .as_str()
            .ok_or_else(|| invalid(path, "namespace", "not a string"))?;
        for o in objects.iter_mut() {
            transform::set_namespace(&mut o.manifest, ns);
        }
    }
    let common = string_map(path, k, "commonLabels")?;
    for o in objects.iter_mut() {
        let all = LabelTargets {
            selectors: true,
            templates: true,
        };
        transform::add_labels(&mut o.manifest, &common, all);
    }
    for (labels, targets) in label_entries(path, k)? {
        for o in objects.iter_mut() {
            transform::add_labels(&mut o.manifest, &labels, targets);
        }
    }
    let annotations = string_map(path, k, "commonAnnotations")?;
    let images: Vec<ImageOverride> = match k.get("images") {
        None => Vec::new(),
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|e| invalid(path, "images", &e.to_string()))?,
    };
    for o in objects.iter_mut() {
        transform::add_annotations(&mut o.manifest, &annotations);
        transform::set_images(&mut o.manifest, &images);
    }
    Ok(())
}

/// Labels of one `labels` entry and where they go.
type LabelEntry = (Map<String, Value>, LabelTargets);

fn label_entries(path: &str, k: &Map<String, Value>) -> Result<Vec<LabelEntry>, RenderError> {
    let Some(list) = k.get("labels") else {
        return Ok(Vec::new());
    };
    let list = list
        .as_array()
        .ok_or_else(|| invalid(path, "labels", "not a list"))?;
    let mut out = Vec::new();
    for entry in list {
        let entry = entry
            .as_object()
            .ok_or_else(|| invalid(path, "labels", "entry not a mapping"))?;
        for key in entry.keys() {
            if !["pairs", "includeSelectors", "includeTemplates"].contains(&key.as_str()) {
                return Err(RenderError::Unsupported {
                    path: path.into(),
                    key: format!("labels.{key}"),
                    why: "only pairs, includeSelectors and includeTemplates".into(),
                });
            }
        }
        let flag = |name: &str| entry.get(name).and_then(Value::as_bool).unwrap_or(false);
        let targets = LabelTargets {
            selectors: flag("includeSelectors"),
            templates: flag("includeTemplates"),
        };
        out.push((string_map(path, entry, "pairs")?, targets));
    }
    Ok(out)
}

fn string_list(path: &str, k: &Map<String, Value>, key: &str) -> Result<Vec<String>, RenderError> {
    match k.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(String::from)
                    .ok_or_else(|| invalid(path, key, "entries must be strings"))
            })
            .collect(),
        Some(_) => Err(invalid(path, key, "not a list")),
    }
}

/// A mapping of string values (label and annotation values are strings).
fn string_map(
    path: &str,
    k: &Map<String, Value>,
    key: &str,
) -> Result<Map<String, Value>, RenderError> {
    match k.get(key) {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(name, v)| match v {
                Value::String(_) => Ok((name.clone(), v.clone())),
                Value::Bool(_) | Value::Number(_) => {
                    Ok((name.clone(), Value::String(v.to_string())))
                }
                _ => Err(invalid(path, key, &format!("{name}: not a string"))),
            })
            .collect(),
        Some(_) => Err(invalid(path, key, "not a mapping")),
    }
}

fn invalid(path: &str, key: &str, message: &str) -> RenderError {
    RenderError::Invalid {
        path: path.into(),
        key: key.into(),
        message: message.into(),
    }
}
