//! The server's form of the fields a field manager owns, and drift judged on
//! it.
//!
//! After a server-side apply, the API server answers with the object as it
//! stored it: quantities normalised (`"0.5"` CPU is `500m`, `0.5Gi` is
//! `512Mi`), defaults filled in, empty values dropped. Its
//! `metadata.managedFields` entry for the manager says which fields the
//! apply owns, in the `fieldsV1` format (`f:<field>`, list items by merge
//! key `k:{"name":"web"}`, set items `v:<value>`, positions `i:<n>`, and `.`
//! for the item itself; see the Kubernetes server-side apply docs and
//! sigs.k8s.io/structured-merge-diff). [`OwnedForm`] keeps those fields and
//! their values; a live object has drifted when one of them differs, so
//! what the server normalised, the fields it defaulted and other managers'
//! list items are never drift. This is the comparison Argo CD's server-side
//! diff and Flux's dry-run apply make.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The fields one field manager owns, in the server's form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnedForm {
    /// The manager's `fieldsV1` tree (`{"f:spec":{"f:replicas":{}}}`).
    pub fields: Value,
    /// The object cut down to those fields, as the server stored them.
    pub values: Value,
}

impl OwnedForm {
    /// The form of the fields `manager` applied in `object` (an API
    /// server's answer); `None` when no `Apply` entry of the manager exists.
    pub fn of(object: &Value, manager: &str) -> Option<Self> {
        let fields = applied_fields(object, manager)?;
        let values = match fields.as_object() {
            Some(tree) => project(tree, object),
            None => Value::Null,
        };
        Some(OwnedForm { fields, values })
    }

    /// The first owned field whose value in `live` differs from the
    /// server's form, as a path (`/spec/template/spec/containers[name=web]/image`);
    /// `None` when every owned field holds its value.
    pub fn drift(&self, live: &Value) -> Option<String> {
        let tree = self.fields.as_object()?;
        let mut path = String::new();
        first_difference(tree, &self.values, live, &mut path).then_some(path)
    }

    /// Whether the manager owns the field at `path` (map fields only, such
    /// as `["spec", "replicas"]`).
    pub fn owns(&self, path: &[&str]) -> bool {
        let mut node = &self.fields;
        for field in path {
            match node.get(format!("f:{field}")) {
                Some(next) => node = next,
                None => return false,
            }
        }
        true
    }
}

/// The union of the `fieldsV1` trees of `manager`'s `Apply` entries on the
/// main resource (not a subresource such as `status`).
pub fn applied_fields(object: &Value, manager: &str) -> Option<Value> {
    let entries = object.pointer("/metadata/managedFields")?.as_array()?;
    let mut merged: Option<Value> = None;
    for entry in entries {
        let text = |k: &str| entry.get(k).and_then(Value::as_str);
        let main_resource = text("subresource").is_none_or(str::is_empty);
        if text("manager") != Some(manager) || text("operation") != Some("Apply") || !main_resource
        {
            continue;
        }
        let tree = entry.get("fieldsV1").cloned().unwrap_or(Value::Null);
        match &mut merged {
            Some(into) => merge_trees(into, tree),
            None => merged = Some(tree),
        }
    }
    merged
}

fn merge_trees(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(into), Value::Object(from)) => {
            for (k, v) in from {
                match into.get_mut(&k) {
                    Some(existing) => merge_trees(existing, v),
                    None => {
                        into.insert(k, v);
                    }
                }
            }
        }
        (into, from) if into.is_null() => *into = from,
        _ => {}
    }
}

/// Whether a `fieldsV1` node has owned members below it (not just `.`).
fn has_members(node: &Value) -> Option<&Map<String, Value>> {
    node.as_object().filter(|m| m.keys().any(|k| k != "."))
}

/// The element of `value` that one `fieldsV1` key names.
fn child<'a>(key: &str, value: &'a Value) -> Option<&'a Value> {
    if let Some(name) = key.strip_prefix("f:") {
        return value.as_object()?.get(name);
    }
    let items = value.as_array()?;
    if let Some(index) = key.strip_prefix("i:") {
        return items.get(index.parse::<usize>().ok()?);
    }
    if let Some(json) = key.strip_prefix("k:") {
        let wanted: Map<String, Value> = serde_json::from_str(json).ok()?;
        return items.iter().find(|item| {
            wanted
                .iter()
                .all(|(field, v)| item.get(field).is_some_and(|found| same(found, v)))
        });
    }
    let wanted: Value = serde_json::from_str(key.strip_prefix("v:")?).ok()?;
    items.iter().find(|item| same(item, &wanted))
}

/// How a path names one `fieldsV1` key: `/replicas`, `[name=web]`, `[=a]`, `/0`.
fn label(key: &str) -> String {
    if let Some(name) = key.strip_prefix("f:") {
        return format!("/{name}");
    }
    if let Some(index) = key.strip_prefix("i:") {
        return format!("/{index}");
    }
    if let Some(json) = key.strip_prefix("k:") {
        let fields: Map<String, Value> = serde_json::from_str(json).unwrap_or_default();
        let parts: Vec<String> = fields
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect();
        return format!("[{}]", parts.join(","));
    }
    format!("[={}]", key.strip_prefix("v:").unwrap_or(key))
}

/// `value` cut down to the members of `tree`; list items keep their order.
fn project(tree: &Map<String, Value>, value: &Value) -> Value {
    let cut = |node: &Value, found: &Value| match has_members(node) {
        Some(sub) => project(sub, found),
        None => found.clone(),
    };
    match value {
        Value::Object(_) => {
            let mut out = Map::new();
            for (key, node) in tree {
                if let (Some(name), Some(found)) = (key.strip_prefix("f:"), child(key, value)) {
                    out.insert(name.to_string(), cut(node, found));
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .filter_map(|item| {
                    tree.iter().find_map(|(key, node)| {
                        child(key, value)
                            .filter(|found| std::ptr::eq(*found, item))
                            .map(|found| with_key_fields(key, cut(node, found)))
                    })
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A list item cut down to its owned fields still carries its merge key
/// (a port's defaulted `protocol` is part of its key without being owned).
fn with_key_fields(key: &str, mut item: Value) -> Value {
    let fields = key
        .strip_prefix("k:")
        .and_then(|json| serde_json::from_str::<Map<String, Value>>(json).ok());
    if let (Some(fields), Some(out)) = (fields, item.as_object_mut()) {
        for (field, value) in fields {
            out.entry(field).or_insert(value);
        }
    }
    item
}

fn first_difference(
    tree: &Map<String, Value>,
    reference: &Value,
    live: &Value,
    path: &mut String,
) -> bool {
    for (key, node) in tree {
        if key == "." {
            continue;
        }
        let Some(want) = child(key, reference) else {
            continue;
        };
        let len = path.len();
        path.push_str(&label(key));
        let differs = match (child(key, live), has_members(node)) {
            (None, _) => !want.is_null(),
            (Some(found), Some(sub)) => first_difference(sub, want, found, path),
            // A list item owned only as a whole: being there is what counts.
            (Some(_), None) if !key.starts_with("f:") => false,
            (Some(found), None) => !same(want, found),
        };
        if differs {
            return true;
        }
        path.truncate(len);
    }
    false
}

/// Equality that takes `2` and `2.0` as the same number.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests;
