//! Field ownership: `metadata.managedFields`, server-side apply with
//! conflicts and removal of disowned fields, and ownership after plain writes.

use serde_json::{Map, Value, json};

use super::fieldset::{DisplayPath, FieldPath, FieldSet, PathElement};
use super::merge::{changed_paths, get_path, merge, remove_path};

/// How a manager last wrote its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Server-side apply.
    Apply,
    /// Create, update or non-apply patch.
    Update,
}

/// One entry of `metadata.managedFields`.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedEntry {
    /// The field manager's name.
    pub manager: String,
    /// How it wrote.
    pub operation: Operation,
    /// The `apiVersion` it wrote with.
    pub api_version: String,
    /// When its fields last changed (RFC 3339).
    pub time: String,
    /// `status` for writes through the status subresource, else empty.
    pub subresource: String,
    /// The fields it owns.
    pub fields: FieldSet,
}

impl ManagedEntry {
    /// How conflict messages name this manager.
    pub fn display_name(&self) -> String {
        match self.operation {
            Operation::Apply => format!("{:?}", self.manager),
            Operation::Update => format!("{:?} using {}", self.manager, self.api_version),
        }
    }
}

/// Who is writing, through which endpoint, at what time.
#[derive(Debug, Clone, Copy)]
pub struct Writer<'a> {
    /// The field manager.
    pub manager: &'a str,
    /// `status` or empty.
    pub subresource: &'a str,
    /// `apiVersion` of the written object.
    pub api_version: &'a str,
    /// The time to record.
    pub now: &'a str,
}

/// A field that another manager owns with a different value.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    /// The owner, as conflict messages print it.
    pub manager: String,
    /// The contested field.
    pub path: FieldPath,
}

impl Conflict {
    /// The field as the API server prints it (`.spec.replicas`).
    pub fn field(&self) -> String {
        DisplayPath(&self.path).to_string()
    }
}

const SYSTEM_METADATA: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// The part of an object that managers can own: without `apiVersion`,
/// `kind` and the metadata the server maintains.
pub fn ownable_part(object: &Value) -> Value {
    let mut owned = object.clone();
    if let Value::Object(map) = &mut owned {
        map.remove("apiVersion");
        map.remove("kind");
        if let Some(Value::Object(metadata)) = map.get_mut("metadata") {
            for field in SYSTEM_METADATA {
                metadata.remove(*field);
            }
            if metadata.is_empty() {
                map.remove("metadata");
            }
        }
    }
    owned
}

/// The entries recorded on `object`.
pub fn read_entries(object: &Value) -> Vec<ManagedEntry> {
    let Some(Value::Array(items)) = object.pointer("/metadata/managedFields") else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| {
            let text = |name: &str| {
                item.get(name)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            let operation = match item.get("operation").and_then(Value::as_str) {
                Some("Apply") => Operation::Apply,
                _ => Operation::Update,
            };
            Some(ManagedEntry {
                manager: item.get("manager")?.as_str()?.to_string(),
                operation,
                api_version: text("apiVersion"),
                time: text("time"),
                subresource: text("subresource"),
                fields: FieldSet::from_fields_v1(item.get("fieldsV1").unwrap_or(&Value::Null)),
            })
        })
        .collect()
}

/// Records `entries` as `metadata.managedFields` of `object`.
pub fn write_entries(object: &mut Value, entries: &[ManagedEntry]) {
    let rendered: Vec<Value> = entries
        .iter()
        .map(|entry| {
            let mut item = json!({
                "manager": entry.manager,
                "operation": match entry.operation { Operation::Apply => "Apply", Operation::Update => "Update" },
                "apiVersion": entry.api_version,
                "time": entry.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": entry.fields.to_fields_v1(),
            });
            if !entry.subresource.is_empty() {
                item["subresource"] = Value::String(entry.subresource.clone());
            }
            item
        })
        .collect();
    if let Some(Value::Object(metadata)) = object.get_mut("metadata") {
        if rendered.is_empty() {
            metadata.remove("managedFields");
        } else {
            metadata.insert("managedFields".into(), Value::Array(rendered));
        }
    }
}

fn is_writer(entry: &ManagedEntry, writer: &Writer, operation: Operation) -> bool {
    entry.manager == writer.manager
        && entry.operation == operation
        && entry.subresource == writer.subresource
}

/// Server-side apply of `config` onto `live` (an empty skeleton when the
/// object is new). Returns the new object with its managed fields, or the
/// conflicts when `force` is not set.
pub fn apply(
    live: &Value,
    config: &Value,
    writer: &Writer,
    force: bool,
) -> Result<Value, Vec<Conflict>> {
    let mut entries = read_entries(live);
    let applied = FieldSet::from_value(&ownable_part(config));
    let mut merged = merge(live, config);
    let changed = changed_paths(&ownable_part(live), &ownable_part(&merged));

    let mut conflicts = Vec::new();
    for entry in entries
        .iter_mut()
        .filter(|e| !is_writer(e, writer, Operation::Apply))
    {
        let contested = entry.fields.intersection(&changed);
        if contested.is_empty() {
            continue;
        }
        if force {
            entry.fields = entry.fields.difference(&contested);
        } else {
            let manager = entry.display_name();
            conflicts.extend(contested.iter().map(|path| Conflict {
                manager: manager.clone(),
                path: path.clone(),
            }));
        }
    }
    if !conflicts.is_empty() {
        return Err(conflicts);
    }

    let previous = entries
        .iter()
        .find(|e| is_writer(e, writer, Operation::Apply))
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    let others: Vec<FieldSet> = entries
        .iter()
        .filter(|e| !is_writer(e, writer, Operation::Apply))
        .map(|e| e.fields.clone())
        .collect();
    let owned_elsewhere = |path: &[PathElement]| {
        others.iter().any(|set| set.has_prefix(path)) || applied.has_prefix(path)
    };
    for path in previous.difference(&applied).iter() {
        if !owned_elsewhere(path) {
            remove_path(&mut merged, path, &owned_elsewhere);
        }
    }

    let object_changed = ownable_part(live) != ownable_part(&merged);
    match entries
        .iter_mut()
        .find(|e| is_writer(e, writer, Operation::Apply))
    {
        Some(entry) if entry.fields != applied || object_changed => {
            entry.fields = applied;
            entry.time = writer.now.to_string();
            entry.api_version = writer.api_version.to_string();
        }
        Some(_) => {}
        None => entries.push(new_entry(writer, Operation::Apply, applied)),
    }
    finish_entries(&mut merged, entries);
    Ok(merged)
}

/// Ownership after a create, update or non-apply patch by `writer`: it takes
/// every field it changed, from whoever owned it.
pub fn record_update(live: Option<&Value>, new: &mut Value, writer: &Writer) {
    let mut entries = live.map(read_entries).unwrap_or_default();
    let changed = match live {
        Some(old) => changed_paths(&ownable_part(old), &ownable_part(new)),
        None => FieldSet::from_value(&ownable_part(new)),
    };
    if changed.is_empty() {
        finish_entries(new, entries);
        return;
    }
    for entry in entries
        .iter_mut()
        .filter(|e| !is_writer(e, writer, Operation::Update))
    {
        entry.fields = entry.fields.difference(&changed);
    }
    match entries
        .iter_mut()
        .find(|e| is_writer(e, writer, Operation::Update))
    {
        Some(entry) => {
            entry.fields = entry.fields.union(&changed);
            entry.time = writer.now.to_string();
        }
        None => entries.push(new_entry(writer, Operation::Update, changed)),
    }
    finish_entries(new, entries);
}

fn new_entry(writer: &Writer, operation: Operation, fields: FieldSet) -> ManagedEntry {
    ManagedEntry {
        manager: writer.manager.to_string(),
        operation,
        api_version: writer.api_version.to_string(),
        time: writer.now.to_string(),
        subresource: writer.subresource.to_string(),
        fields,
    }
}

/// Drops owned paths the object no longer has, and managers left with nothing.
fn finish_entries(object: &mut Value, mut entries: Vec<ManagedEntry>) {
    let owned = ownable_part(object);
    for entry in &mut entries {
        entry.fields.retain(|path| get_path(&owned, path).is_some());
    }
    entries.retain(|entry| !entry.fields.is_empty());
    if object.get("metadata").is_none() {
        object["metadata"] = Value::Object(Map::new());
    }
    write_entries(object, &entries);
}
