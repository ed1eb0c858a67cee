//! Pure tree operations behind apply and patch: merging an applied
//! configuration into a live object, finding what changed, removing owned
//! paths, and the JSON merge patch and strategic merge patch dialects.

use serde_json::{Map, Value};

use super::fieldset::{FieldPath, FieldSet, ListKind, PathElement, find_item, item_key, list_kind};

/// Merges `config` into `live`: maps field by field, associative lists item
/// by item, sets by union, anything else replaced by the configuration.
pub fn merge(live: &Value, config: &Value) -> Value {
    merge_field("", live, config)
}

fn merge_field(field: &str, live: &Value, config: &Value) -> Value {
    match (live, config) {
        (Value::Object(live_map), Value::Object(config_map)) => {
            let mut merged = live_map.clone();
            for (name, value) in config_map {
                let next = match live_map.get(name) {
                    Some(existing) => merge_field(name, existing, value),
                    None => value.clone(),
                };
                merged.insert(name.clone(), next);
            }
            Value::Object(merged)
        }
        (Value::Array(live_items), Value::Array(config_items)) => {
            match list_kind(field, config_items) {
                ListKind::Map(keys) if list_kind(field, live_items) != ListKind::Atomic => {
                    let mut merged = live_items.clone();
                    for item in config_items {
                        let key = PathElement::Key(item_key(item, keys));
                        match find_item(&merged, &key, keys) {
                            Some(index) => merged[index] = merge_field("", &merged[index], item),
                            None => merged.push(item.clone()),
                        }
                    }
                    Value::Array(merged)
                }
                ListKind::Set => {
                    let mut merged = live_items.clone();
                    merged.extend(
                        config_items
                            .iter()
                            .filter(|i| !live_items.contains(i))
                            .cloned(),
                    );
                    Value::Array(merged)
                }
                _ => config.clone(),
            }
        }
        _ => config.clone(),
    }
}

/// Paths whose value differs between `before` and `after`, or that only
/// `after` has (the server's "modified or added"), at member granularity.
pub fn changed_paths(before: &Value, after: &Value) -> FieldSet {
    let mut out = Vec::new();
    compare("", Some(before), after, &mut Vec::new(), &mut out);
    FieldSet::from_paths(out)
}

fn compare(
    field: &str,
    before: Option<&Value>,
    after: &Value,
    path: &mut FieldPath,
    out: &mut Vec<FieldPath>,
) {
    match (before, after) {
        (Some(Value::Object(old)), Value::Object(new)) if !new.is_empty() => {
            for (name, value) in new {
                path.push(PathElement::Field(name.clone()));
                compare(name, old.get(name), value, path, out);
                path.pop();
            }
        }
        (Some(Value::Array(old)), Value::Array(new)) if !new.is_empty() => {
            let keys = match list_kind(field, new) {
                ListKind::Map(keys) => keys,
                ListKind::Set => &[],
                ListKind::Atomic => {
                    if old != new {
                        out.push(path.clone());
                    }
                    return;
                }
            };
            for item in new {
                let element = if keys.is_empty() {
                    PathElement::Value(item.to_string())
                } else {
                    PathElement::Key(item_key(item, keys))
                };
                let existing = find_item(old, &element, keys).map(|index| &old[index]);
                path.push(element);
                if existing.is_none() {
                    out.push(path.clone());
                }
                if !keys.is_empty() {
                    compare("", existing, item, path, out);
                }
                path.pop();
            }
        }
        (Some(old), new) if old == new => {}
        (_, new) => {
            let below = FieldSet::from_value(new);
            if below.is_empty() {
                out.push(path.clone());
            }
            out.extend(below.iter().map(|tail| [path.as_slice(), tail].concat()));
        }
    }
}

/// The value at `path`, if present.
pub fn get_path<'a>(root: &'a Value, path: &[PathElement]) -> Option<&'a Value> {
    let mut node = root;
    let mut field = "";
    for element in path {
        node = match (element, node) {
            (PathElement::Field(name), Value::Object(map)) => {
                field = name;
                map.get(name)?
            }
            (_, Value::Array(items)) => {
                let keys = keys_of(field, items);
                field = "";
                &items[find_item(items, element, keys)?]
            }
            _ => return None,
        };
    }
    Some(node)
}

fn keys_of(field: &str, items: &[Value]) -> &'static [&'static str] {
    match list_kind(field, items) {
        ListKind::Map(keys) => keys,
        _ => &[],
    }
}

/// Removes the value at `path`; then removes maps and lists it leaves empty,
/// up to the top level, unless `keep` says a now-empty parent is owned.
pub fn remove_path(root: &mut Value, path: &[PathElement], keep: &dyn Fn(&[PathElement]) -> bool) {
    let Some((last, parent_path)) = path.split_last() else {
        return;
    };
    let field_of_list = match parent_path.last() {
        Some(PathElement::Field(name)) => name.clone(),
        _ => String::new(),
    };
    let Some(parent) = get_path_mut(root, parent_path) else {
        return;
    };
    match (last, parent) {
        (PathElement::Field(name), Value::Object(map)) => {
            map.remove(name);
        }
        (element, Value::Array(items)) => {
            let keys = keys_of(&field_of_list, items);
            if let Some(index) = find_item(items, element, keys) {
                items.remove(index);
            }
        }
        _ => return,
    }
    let now_empty = match get_path(root, parent_path) {
        Some(Value::Object(map)) => map.is_empty(),
        Some(Value::Array(items)) => items.is_empty(),
        _ => false,
    };
    if now_empty && parent_path.len() > 1 && !keep(parent_path) {
        remove_path(root, parent_path, keep);
    }
}

fn get_path_mut<'a>(root: &'a mut Value, path: &[PathElement]) -> Option<&'a mut Value> {
    let mut node = root;
    let mut field = String::new();
    for element in path {
        node = match (element, node) {
            (PathElement::Field(name), Value::Object(map)) => {
                field = name.clone();
                map.get_mut(name)?
            }
            (_, Value::Array(items)) => {
                let keys = keys_of(&field, items);
                field.clear();
                let index = find_item(items, element, keys)?;
                &mut items[index]
            }
            _ => return None,
        };
    }
    Some(node)
}

/// RFC 7386 JSON merge patch: maps merge, `null` deletes, the rest replaces.
pub fn json_merge_patch(target: &Value, patch: &Value) -> Value {
    let Value::Object(patch_map) = patch else {
        return patch.clone();
    };
    let mut result = match target {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    for (name, value) in patch_map {
        if value.is_null() {
            result.remove(name);
        } else {
            let next = json_merge_patch(result.get(name).unwrap_or(&Value::Null), value);
            result.insert(name.clone(), next);
        }
    }
    Value::Object(result)
}

/// Strategic merge patch as far as this server models it: a JSON merge patch
/// in which associative lists merge item by item (an item holding
/// `"$patch": "delete"` is removed) and `$`-directives are otherwise dropped.
pub fn strategic_merge_patch(target: &Value, patch: &Value) -> Value {
    strategic_field("", target, patch)
}

fn strategic_field(field: &str, target: &Value, patch: &Value) -> Value {
    match (target, patch) {
        (_, Value::Object(patch_map)) => {
            let mut result = match target {
                Value::Object(map) => map.clone(),
                _ => Map::new(),
            };
            for (name, value) in patch_map {
                if name.starts_with('$') {
                    continue;
                }
                if value.is_null() {
                    result.remove(name);
                    continue;
                }
                let next = strategic_field(name, result.get(name).unwrap_or(&Value::Null), value);
                result.insert(name.clone(), next);
            }
            Value::Object(result)
        }
        (Value::Array(items), Value::Array(patch_items)) => match list_kind(field, patch_items) {
            ListKind::Map(keys) => {
                let mut merged = items.clone();
                for item in patch_items {
                    let key = PathElement::Key(item_key(item, keys));
                    let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
                    match (find_item(&merged, &key, keys), delete) {
                        (Some(index), true) => {
                            merged.remove(index);
                        }
                        (Some(index), false) => {
                            merged[index] = strategic_field("", &merged[index], item);
                        }
                        (None, false) => merged.push(strategic_field("", &Value::Null, item)),
                        (None, true) => {}
                    }
                }
                Value::Array(merged)
            }
            _ => patch.clone(),
        },
        _ => patch.clone(),
    }
}
