//! Plain YAML: every `.yaml`/`.yml` file below a directory, recursively,
//! in path order, each possibly holding several documents.

use serde_json::Value;

use super::{MAX_DEPTH, MAX_FILE_BYTES, RenderError, RenderedObject};
use crate::sync::tree::{ManifestTree, Node};

/// Read every manifest below `path` (or the file at `path`) from `tree`.
pub fn render_plain(
    tree: &dyn ManifestTree,
    path: &str,
) -> Result<Vec<RenderedObject>, RenderError> {
    render_dir(tree, path, 0)
}

fn render_dir(
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
    if bytes.len() > MAX_FILE_BYTES {
        return Err(RenderError::TooLarge { path: path.into() });
    }
    parse_output(path, bytes)
}

/// Parse a tool's output (or a file) into objects, as [`parse_file`] does,
/// with no limit of its own: a tool's output is bounded when it is read.
pub fn parse_output(path: &str, bytes: &[u8]) -> Result<Vec<RenderedObject>, RenderError> {
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
fn parse_documents(path: &str, bytes: &[u8]) -> Result<Vec<Value>, RenderError> {
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
