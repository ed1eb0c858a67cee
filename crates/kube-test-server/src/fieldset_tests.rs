use serde_json::json;

use serde_json::Value;

use crate::fieldset::*;

fn field(name: &str) -> PathElement {
    PathElement::Field(name.into())
}

#[test]
fn lists_are_classified_by_field_name_and_items() {
    let rows: &[(&str, &str, Value, ListKind)] = &[
        (
            "containers keyed by name",
            "containers",
            json!([{"name": "a"}]),
            ListKind::Map(&["name"]),
        ),
        (
            "container ports keyed by port and protocol",
            "ports",
            json!([{"containerPort": 80}]),
            ListKind::Map(&["containerPort", "protocol"]),
        ),
        (
            "service ports keyed by port and protocol",
            "ports",
            json!([{"port": 80}]),
            ListKind::Map(&["port", "protocol"]),
        ),
        (
            "volume mounts keyed by path",
            "volumeMounts",
            json!([{"mountPath": "/x", "name": "v"}]),
            ListKind::Map(&["mountPath"]),
        ),
        (
            "conditions keyed by type",
            "conditions",
            json!([{"type": "Ready"}]),
            ListKind::Map(&["type"]),
        ),
        (
            "finalizers are a set",
            "finalizers",
            json!(["a"]),
            ListKind::Set,
        ),
        ("args are atomic", "args", json!(["--x"]), ListKind::Atomic),
        (
            "rbac subjects are atomic though named",
            "subjects",
            json!([{"name": "x", "kind": "User"}]),
            ListKind::Atomic,
        ),
        (
            "unnamed maps are atomic",
            "rules",
            json!([{"verbs": ["get"]}]),
            ListKind::Atomic,
        ),
    ];
    for (case, name, items, expected) in rows {
        let items = items.as_array().cloned().unwrap_or_default();
        assert_eq!(list_kind(name, &items), *expected, "{case}");
    }
}

#[test]
fn a_value_owns_its_leaves_and_list_items() {
    let value = json!({"spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "app", "image": "x:1"}]}}},
                       "metadata": {"labels": {}}});
    let set = FieldSet::from_value(&value);
    let item = vec![
        field("spec"),
        field("template"),
        field("spec"),
        field("containers"),
        PathElement::Key(r#"{"name":"app"}"#.into()),
    ];
    let rows: &[(&str, FieldPath, bool)] = &[
        ("scalar leaf", vec![field("spec"), field("replicas")], true),
        ("list item marker", item.clone(), true),
        (
            "field inside item",
            [item.clone(), vec![field("image")]].concat(),
            true,
        ),
        (
            "empty map is a leaf",
            vec![field("metadata"), field("labels")],
            true,
        ),
        (
            "intermediate map is not a member",
            vec![field("spec")],
            false,
        ),
    ];
    for (case, path, expected) in rows {
        assert_eq!(set.contains(path), *expected, "{case}");
    }
}

#[test]
fn fields_v1_round_trips_with_self_markers() {
    let value = json!({"spec": {"containers": [{"name": "app", "image": "x:1"}], "replicas": 1}});
    let set = FieldSet::from_value(&value);
    let tree = set.to_fields_v1();
    assert_eq!(
        tree,
        json!({"f:spec": {"f:replicas": {}, "f:containers": {r#"k:{"name":"app"}"#: {".": {}, "f:image": {}, "f:name": {}}}}})
    );
    assert_eq!(FieldSet::from_fields_v1(&tree), set);
}

#[test]
fn paths_display_like_the_api_server() {
    let path = vec![
        field("spec"),
        field("containers"),
        PathElement::Key(r#"{"containerPort":80,"protocol":"TCP"}"#.into()),
        field("name"),
    ];
    assert_eq!(
        DisplayPath(&path).to_string(),
        r#".spec.containers[containerPort=80,protocol="TCP"].name"#
    );
}

#[test]
fn an_empty_object_owns_nothing() {
    assert!(FieldSet::from_value(&json!({})).is_empty());
}
