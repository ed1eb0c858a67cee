//! Field paths and sets in the shape the API server tracks ownership with
//! (`metadata.managedFields[].fieldsV1`), derived without an OpenAPI schema.
//!
//! Lists are classified by field name the way the built-in schemas declare
//! them: associative lists keyed by `name` (containers, env, volumes, ...),
//! `containerPort`/`port` plus `protocol`, `mountPath`, condition `type`; a set
//! for `finalizers`; every other list is atomic (owned and replaced whole).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{Map, Value};

/// One step of a path into an object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathElement {
    /// A field of a map.
    Field(String),
    /// An item of an associative list, by its key fields as canonical JSON.
    Key(String),
    /// An item of a set-like list of scalars, as canonical JSON.
    Value(String),
}

/// A path from the object root.
pub type FieldPath = Vec<PathElement>;

/// How the items of a list are identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    /// Replaced and owned as one value.
    Atomic,
    /// Scalars, each owned on its own.
    Set,
    /// Maps identified by these key fields.
    Map(&'static [&'static str]),
}

const NAME_KEY: &[&str] = &["name"];
const CONTAINER_PORT_KEY: &[&str] = &["containerPort", "protocol"];
const SERVICE_PORT_KEY: &[&str] = &["port", "protocol"];
const MOUNT_KEY: &[&str] = &["mountPath"];
const DEVICE_KEY: &[&str] = &["devicePath"];
const CONDITION_KEY: &[&str] = &["type"];
const ATOMIC_FIELDS: &[&str] = &["subjects", "rules", "args", "command", "tolerations"];

/// Classifies the list found at field `field` holding `items`.
pub fn list_kind(field: &str, items: &[Value]) -> ListKind {
    let objects = items.iter().all(Value::is_object);
    let all_have = |key: &str| items.iter().all(|item| item.get(key).is_some());
    match field {
        "finalizers" => ListKind::Set,
        _ if ATOMIC_FIELDS.contains(&field) || !objects || items.is_empty() => ListKind::Atomic,
        "ports" if all_have("containerPort") => ListKind::Map(CONTAINER_PORT_KEY),
        "ports" if all_have("port") => ListKind::Map(SERVICE_PORT_KEY),
        "volumeMounts" if all_have("mountPath") => ListKind::Map(MOUNT_KEY),
        "volumeDevices" if all_have("devicePath") => ListKind::Map(DEVICE_KEY),
        "conditions" if all_have("type") => ListKind::Map(CONDITION_KEY),
        _ if items
            .iter()
            .all(|item| item.get("name").is_some_and(Value::is_string)) =>
        {
            ListKind::Map(NAME_KEY)
        }
        _ => ListKind::Atomic,
    }
}

/// The canonical key of a list item: its key fields, sorted, as compact JSON.
pub fn item_key(item: &Value, keys: &[&str]) -> String {
    let mut fields = Map::new();
    for key in keys {
        match item.get(*key) {
            Some(value) => {
                fields.insert((*key).to_string(), value.clone());
            }
            // The protocol of a port defaults to TCP, and keys carry the default.
            None if *key == "protocol" => {
                fields.insert((*key).to_string(), Value::String("TCP".into()));
            }
            None => {}
        }
    }
    Value::Object(fields).to_string()
}

/// Finds the element of `items` a path element designates.
pub fn find_item(items: &[Value], element: &PathElement, keys: &[&str]) -> Option<usize> {
    match element {
        PathElement::Key(key) => items.iter().position(|item| item_key(item, keys) == *key),
        PathElement::Value(value) => {
            let wanted: Value = serde_json::from_str(value).ok()?;
            items.iter().position(|item| *item == wanted)
        }
        PathElement::Field(_) => None,
    }
}

/// A set of owned paths: leaves, atomic values and list items.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet {
    members: BTreeSet<FieldPath>,
}

impl FieldSet {
    /// The empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every leaf and list item of `value`, from the root.
    pub fn from_value(value: &Value) -> Self {
        let mut set = Self::new();
        collect_members(value, &mut Vec::new(), &mut set.members);
        // An empty object owns nothing; the root itself is never a member.
        set.members.remove(&Vec::new());
        set
    }

    /// Builds a set from paths.
    pub fn from_paths(paths: impl IntoIterator<Item = FieldPath>) -> Self {
        Self {
            members: paths.into_iter().collect(),
        }
    }

    /// Whether no path is owned.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Whether `path` itself is a member.
    #[cfg(test)]
    pub fn contains(&self, path: &[PathElement]) -> bool {
        self.members.contains(path)
    }

    /// Whether a member equals `prefix` or lies below it.
    pub fn has_prefix(&self, prefix: &[PathElement]) -> bool {
        self.members.iter().any(|member| member.starts_with(prefix))
    }

    /// Members in order.
    pub fn iter(&self) -> impl Iterator<Item = &FieldPath> {
        self.members.iter()
    }

    /// Members in both sets.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        Self::from_paths(self.members.intersection(&other.members).cloned())
    }

    /// Members of `self` not in `other`.
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        Self::from_paths(self.members.difference(&other.members).cloned())
    }

    /// Members of either set.
    pub fn union(&self, other: &FieldSet) -> FieldSet {
        Self::from_paths(self.members.union(&other.members).cloned())
    }

    /// Keeps only the members `keep` accepts.
    pub fn retain(&mut self, keep: impl FnMut(&FieldPath) -> bool) {
        self.members.retain(keep);
    }

    /// The `fieldsV1` tree of this set (`{"f:spec":{"f:replicas":{}}}`).
    pub fn to_fields_v1(&self) -> Value {
        let mut root = Map::new();
        for member in &self.members {
            let mut node = &mut root;
            for element in member {
                let entry = node
                    .entry(encode_element(element))
                    .or_insert_with(|| Value::Object(Map::new()));
                let Value::Object(next) = entry else { break };
                node = next;
            }
        }
        add_self_markers(&mut root, &self.members, &mut Vec::new());
        Value::Object(root)
    }

    /// Parses a `fieldsV1` tree; entries it cannot read are skipped.
    pub fn from_fields_v1(tree: &Value) -> Self {
        let mut set = Self::new();
        if let Value::Object(map) = tree {
            parse_tree(map, &mut Vec::new(), &mut set.members);
        }
        set
    }
}

fn collect_members(value: &Value, path: &mut FieldPath, out: &mut BTreeSet<FieldPath>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (name, child) in map {
                path.push(PathElement::Field(name.clone()));
                collect_field(name, child, path, out);
                path.pop();
            }
        }
        _ => {
            out.insert(path.clone());
        }
    }
}

fn collect_field(name: &str, value: &Value, path: &mut FieldPath, out: &mut BTreeSet<FieldPath>) {
    let Value::Array(items) = value else {
        collect_members(value, path, out);
        return;
    };
    match list_kind(name, items) {
        ListKind::Atomic => {
            out.insert(path.clone());
        }
        ListKind::Set => {
            for item in items {
                path.push(PathElement::Value(item.to_string()));
                out.insert(path.clone());
                path.pop();
            }
        }
        ListKind::Map(keys) => {
            for item in items {
                path.push(PathElement::Key(item_key(item, keys)));
                out.insert(path.clone());
                collect_members(item, path, out);
                path.pop();
            }
        }
    }
}

/// A member that also has members below it is marked with `"."`; the plain
/// insertion loop above cannot see that when the deeper member comes first.
fn add_self_markers(
    node: &mut Map<String, Value>,
    members: &BTreeSet<FieldPath>,
    path: &mut FieldPath,
) {
    for (name, child) in node.iter_mut() {
        let Some(element) = decode_element(name) else {
            continue;
        };
        path.push(element);
        if let Value::Object(child_map) = child {
            let has_children = child_map.keys().any(|k| k != ".");
            if has_children && members.contains(path.as_slice()) {
                child_map.insert(".".into(), Value::Object(Map::new()));
            }
            add_self_markers(child_map, members, path);
        }
        path.pop();
    }
}

fn parse_tree(map: &Map<String, Value>, path: &mut FieldPath, out: &mut BTreeSet<FieldPath>) {
    for (name, child) in map {
        if name == "." {
            out.insert(path.clone());
            continue;
        }
        let Some(element) = decode_element(name) else {
            continue;
        };
        path.push(element);
        match child {
            Value::Object(child_map) if !child_map.is_empty() => parse_tree(child_map, path, out),
            _ => {
                out.insert(path.clone());
            }
        }
        path.pop();
    }
}

fn encode_element(element: &PathElement) -> String {
    match element {
        PathElement::Field(name) => format!("f:{name}"),
        PathElement::Key(key) => format!("k:{key}"),
        PathElement::Value(value) => format!("v:{value}"),
    }
}

fn decode_element(encoded: &str) -> Option<PathElement> {
    let canonical = |json: &str| {
        serde_json::from_str::<Value>(json)
            .ok()
            .map(|v| v.to_string())
    };
    if let Some(name) = encoded.strip_prefix("f:") {
        Some(PathElement::Field(name.to_string()))
    } else if let Some(key) = encoded.strip_prefix("k:") {
        canonical(key).map(PathElement::Key)
    } else {
        encoded
            .strip_prefix("v:")
            .and_then(canonical)
            .map(PathElement::Value)
    }
}

/// Renders a path the way the API server's conflict messages do:
/// `.spec.template.spec.containers[name="app"].image`.
pub struct DisplayPath<'a>(pub &'a [PathElement]);

impl fmt::Display for DisplayPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for element in self.0 {
            match element {
                PathElement::Field(name) => write!(f, ".{name}")?,
                PathElement::Value(value) => write!(f, "[={value}]")?,
                PathElement::Key(key) => {
                    let fields: BTreeMap<String, Value> =
                        serde_json::from_str(key).unwrap_or_default();
                    let parts: Vec<String> = fields
                        .iter()
                        .map(|(name, value)| format!("{name}={value}"))
                        .collect();
                    write!(f, "[{}]", parts.join(","))?;
                }
            }
        }
        Ok(())
    }
}
