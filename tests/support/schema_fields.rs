//! Comparing a JSON schema with what a serde loader accepts: the property
//! names of a schema object, and the field names in serde's "unknown field
//! ..., expected one of ..." message.

use serde_json::Value;

/// The sorted property names of a schema object.
pub fn keys(object: &Value) -> Vec<String> {
    let mut keys: Vec<String> = object["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

/// The sorted field names an "expected one of" message lists (or the one
/// field of an "expected `url`" message).
pub fn expected_fields(message: &str) -> Vec<String> {
    let list = match message.split("expected one of ").nth(1) {
        Some(list) => list,
        None => message.split("expected ").nth(1).unwrap(),
    };
    let list = list.lines().next().unwrap();
    let list = list.split(" (at").next().unwrap();
    let mut fields: Vec<String> = list
        .split(',')
        .map(|f| f.trim().trim_matches('`').to_string())
        .filter(|f| !f.is_empty())
        .collect();
    fields.sort();
    fields
}
