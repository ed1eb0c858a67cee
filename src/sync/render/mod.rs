//! Rendering: turn an app/environment path of one revision into Kubernetes
//! objects, without touching the cluster.
//!
//! A directory with a `kustomization.yaml` (or `.yml`, or `Kustomization`) is
//! built with the supported subset of kustomize (see [`kustomize`]); any other
//! directory is read as plain YAML: every `.yaml`/`.yml` file below it,
//! recursively, in path order, each possibly holding several documents.

pub mod kustomize;
pub mod transform;

use serde_json::Value;

use super::tree::{ManifestTree, Node, TreeError};

/// Deepest nesting of directories and kustomizations followed.
pub const MAX_DEPTH: usize = 32;
/// Largest manifest file read, in bytes.
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;
/// File names that mark a kustomization directory, in kustomize's order.
pub const KUSTOMIZATION_FILES: &[&str] =
    &["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// One rendered object and the file it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedObject {
    /// Repository path of the file that declared it.
    pub source: String,
    /// The object as JSON (`apiVersion`, `kind`, `metadata`, ...).
    pub manifest: Value,
}

/// Why a path could not be rendered. Each names the file and, where it
/// applies, the key.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The path does not exist in this revision.
    #[error("{path}: not found in the revision")]
    Missing {
        /// The path.
        path: String,
    },
    /// Reading the tree failed.
    #[error("read tree")]
    Tree(#[from] TreeError),
    /// A file is not valid YAML.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// The parser's message with line and column.
        message: String,
    },
    /// A file is too large to be a manifest.
    #[error("{path}: larger than {MAX_FILE_BYTES} bytes")]
    TooLarge {
        /// The file.
        path: String,
    },
    /// A document is not a Kubernetes object.
    #[error("{path}: document {index}: {message}")]
    NotAnObject {
        /// The file.
        path: String,
        /// Zero-based document index in the file.
        index: usize,
        /// What is missing.
        message: String,
    },
    /// A kustomization uses a feature Slipway does not implement.
    #[error("{path}: `{key}` is not supported: {why}")]
    Unsupported {
        /// The kustomization file.
        path: String,
        /// The key.
        key: String,
        /// What to do instead.
        why: String,
    },
    /// A kustomization field has the wrong shape.
    #[error("{path}: `{key}`: {message}")]
    Invalid {
        /// The kustomization file.
        path: String,
        /// The key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// Directories or kustomizations nest deeper than [`MAX_DEPTH`] (or form a cycle).
    #[error("{path}: nested deeper than {MAX_DEPTH} levels")]
    TooDeep {
        /// Where the limit was hit.
        path: String,
    },
}

/// Render the manifests at `path` (a directory of plain YAML or a
/// kustomization) from `tree`.
pub fn render(tree: &dyn ManifestTree, path: &str) -> Result<Vec<RenderedObject>, RenderError> {
    render_dir(tree, path, 0)
}

/// Render one directory, choosing kustomize or plain YAML.
pub(crate) fn render_dir(
    tree: &dyn ManifestTree,
    path: &str,
    depth: usize,
) -> Result<Vec<RenderedObject>, RenderError> {
    if depth > MAX_DEPTH {
        return Err(RenderError::TooDeep { path: path.into() });
    }
    match tree.node(path)? {
        None => Err(RenderError::Missing { path: path.into() }),
        Some(Node::File(bytes)) => parse_file(path, &bytes),
        Some(Node::Dir(names)) => {
            if let Some(name) = KUSTOMIZATION_FILES
                .iter()
                .find(|k| names.iter().any(|n| n == *k))
            {
                return kustomize::build(tree, path, name, depth);
            }
            let mut objects = Vec::new();
            for name in names {
                let child = child_path(path, &name);
                match tree.node(&child)? {
                    Some(Node::Dir(_)) => objects.extend(render_dir(tree, &child, depth + 1)?),
                    Some(Node::File(bytes)) if is_yaml_name(&name) => {
                        objects.extend(parse_file(&child, &bytes)?)
                    }
                    _ => {}
                }
            }
            Ok(objects)
        }
    }
}

/// `dir/name`, or `name` at the root.
pub(crate) fn child_path(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

fn is_yaml_name(name: &str) -> bool {
    name.ends_with(".yaml") || name.ends_with(".yml")
}

/// Parse every document of one YAML file into objects; empty documents are
/// skipped, a `List` is flattened into its items.
pub fn parse_file(path: &str, bytes: &[u8]) -> Result<Vec<RenderedObject>, RenderError> {
    let docs = parse_documents(path, bytes)?;
    let mut objects = Vec::new();
    for (index, doc) in docs.into_iter().enumerate() {
        let items = match doc.get("kind").and_then(Value::as_str) {
            Some(kind) if kind.ends_with("List") && doc.get("items").is_some() => doc
                .get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            _ => vec![doc],
        };
        for manifest in items {
            check_object(path, index, &manifest)?;
            objects.push(RenderedObject {
                source: path.to_string(),
                manifest,
            });
        }
    }
    Ok(objects)
}

/// Parse the YAML documents of a file as JSON values.
pub(crate) fn parse_documents(path: &str, bytes: &[u8]) -> Result<Vec<Value>, RenderError> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(RenderError::TooLarge { path: path.into() });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| RenderError::Parse {
        path: path.into(),
        message: e.to_string(),
    })?;
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).map_err(|e| RenderError::Parse {
        path: path.into(),
        message: e.to_string(),
    })?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

fn check_object(path: &str, index: usize, manifest: &Value) -> Result<(), RenderError> {
    let missing = |message: &str| RenderError::NotAnObject {
        path: path.into(),
        index,
        message: message.into(),
    };
    if !manifest.is_object() {
        return Err(missing("not a mapping"));
    }
    for field in ["apiVersion", "kind"] {
        if manifest
            .get(field)
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(missing(&format!("no {field}")));
        }
    }
    let name = manifest.pointer("/metadata/name").and_then(Value::as_str);
    if name.is_none_or(str::is_empty) {
        return Err(missing("no metadata.name (generateName is not supported)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
