use serde_json::json;

use serde_json::Value;

use crate::fieldset::{DisplayPath, PathElement};
use crate::merge::*;

#[test]
fn merge_combines_maps_and_keyed_lists_and_replaces_atomic_values() {
    let rows: &[(&str, Value, Value, Value)] = &[
        (
            "maps merge",
            json!({"a": 1, "b": {"c": 1}}),
            json!({"b": {"d": 2}}),
            json!({"a": 1, "b": {"c": 1, "d": 2}}),
        ),
        (
            "keyed items merge",
            json!({"containers": [{"name": "a", "image": "1", "args": ["x"]}, {"name": "b"}]}),
            json!({"containers": [{"name": "a", "image": "2"}]}),
            json!({"containers": [{"name": "a", "image": "2", "args": ["x"]}, {"name": "b"}]}),
        ),
        (
            "atomic lists replace",
            json!({"args": ["a", "b"]}),
            json!({"args": ["c"]}),
            json!({"args": ["c"]}),
        ),
        (
            "sets union",
            json!({"finalizers": ["a"]}),
            json!({"finalizers": ["b", "a"]}),
            json!({"finalizers": ["a", "b"]}),
        ),
    ];
    for (case, live, config, expected) in rows {
        assert_eq!(merge(live, config), *expected, "{case}");
    }
}

#[test]
fn changed_paths_report_modified_and_added_members() {
    let before = json!({"spec": {"replicas": 1, "containers": [{"name": "a", "image": "1"}]}});
    let after = json!({"spec": {"replicas": 1, "containers": [{"name": "a", "image": "2"}, {"name": "b"}]}});
    let shown: Vec<String> = changed_paths(&before, &after)
        .iter()
        .map(|p| DisplayPath(p).to_string())
        .collect();
    assert_eq!(
        shown,
        vec![
            r#".spec.containers[name="a"].image"#,
            r#".spec.containers[name="b"]"#,
            r#".spec.containers[name="b"].name"#
        ]
    );
}

#[test]
fn removing_the_last_field_removes_emptied_parents() {
    let mut object = json!({"metadata": {"name": "x", "labels": {"a": "1"}}});
    let path = vec![
        PathElement::Field("metadata".into()),
        PathElement::Field("labels".into()),
        PathElement::Field("a".into()),
    ];
    remove_path(&mut object, &path, &|_| false);
    assert_eq!(object, json!({"metadata": {"name": "x"}}));
}

#[test]
fn patches_follow_their_dialect() {
    let target =
        json!({"a": 1, "containers": [{"name": "x", "image": "1"}, {"name": "y", "image": "1"}]});
    let rows: &[(&str, bool, Value, Value)] = &[
        (
            "merge patch null deletes",
            false,
            json!({"a": null}),
            json!({"containers": target["containers"]}),
        ),
        (
            "merge patch replaces lists",
            false,
            json!({"containers": [{"name": "x", "image": "2"}]}),
            json!({"a": 1, "containers": [{"name": "x", "image": "2"}]}),
        ),
        (
            "strategic patch merges keyed lists",
            true,
            json!({"containers": [{"name": "x", "image": "2"}]}),
            json!({"a": 1, "containers": [{"name": "x", "image": "2"}, {"name": "y", "image": "1"}]}),
        ),
        (
            "strategic patch deletes items",
            true,
            json!({"containers": [{"name": "y", "$patch": "delete"}]}),
            json!({"a": 1, "containers": [{"name": "x", "image": "1"}]}),
        ),
    ];
    for (case, strategic, patch, expected) in rows {
        let result = if *strategic {
            strategic_merge_patch(&target, patch)
        } else {
            json_merge_patch(&target, patch)
        };
        assert_eq!(result, *expected, "{case}");
    }
}
