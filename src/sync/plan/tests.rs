use serde_json::json;

use super::*;

fn cm(name: &str, value: &str) -> RenderedObject {
    RenderedObject {
        source: "f.yaml".into(),
        manifest: json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "team"}, "data": {"k": value}}),
    }
}

fn entry(d: &DesiredObject) -> InventoryEntry {
    InventoryEntry {
        object: d.object.clone(),
        hash: d.hash.clone(),
        resource_version: Some("1".into()),
        owned: None,
    }
}

#[test]
fn desired_objects_carry_ownership_labels_and_namespaces_come_first() {
    let ns = RenderedObject {
        source: "ns.yaml".into(),
        manifest: json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}),
    };
    let objects = desired("web", "dev", vec![cm("a", "1"), ns]);
    assert_eq!(objects[0].object.kind, "Namespace");
    let labels = &objects[1].manifest["metadata"]["labels"];
    assert_eq!(labels[LABEL_MANAGED_BY], "slipway");
    assert_eq!(labels[LABEL_APP], "web");
    assert_eq!(labels[LABEL_ENVIRONMENT], "dev");
}

#[test]
fn the_plan_applies_changes_skips_unchanged_and_prunes_the_removed() {
    let before = desired(
        "web",
        "dev",
        vec![cm("a", "1"), cm("b", "1"), cm("gone", "1")],
    );
    let inventory: Vec<InventoryEntry> = before.iter().map(entry).collect();
    let now = desired(
        "web",
        "dev",
        vec![cm("a", "1"), cm("b", "2"), cm("new", "1")],
    );
    let plan = plan(now, &inventory);
    let names = |v: Vec<&ObjectRef>| v.into_iter().map(|o| o.name.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(plan.apply.iter().map(|d| &d.object).collect()),
        ["b", "new"]
    );
    assert_eq!(
        names(plan.unchanged.iter().map(|(d, _)| &d.object).collect()),
        ["a"]
    );
    assert_eq!(
        names(plan.prune.iter().map(|e| &e.object).collect()),
        ["gone"]
    );
}

#[test]
fn the_set_hash_ignores_order_and_changes_with_content() {
    let a = desired("web", "dev", vec![cm("a", "1"), cm("b", "1")]);
    let b = desired("web", "dev", vec![cm("b", "1"), cm("a", "1")]);
    let c = desired("web", "dev", vec![cm("a", "1"), cm("b", "2")]);
    assert_eq!(set_hash(&a), set_hash(&b));
    assert_ne!(set_hash(&a), set_hash(&c));
}

#[test]
fn only_objects_labelled_for_this_app_and_environment_are_owned() {
    let live = |labels: serde_json::Value| json!({"metadata": {"labels": labels}});
    let cases = [
        (
            "ours",
            live(json!({LABEL_MANAGED_BY: "slipway", LABEL_APP: "web", LABEL_ENVIRONMENT: "dev"})),
            true,
        ),
        (
            "other env",
            live(json!({LABEL_MANAGED_BY: "slipway", LABEL_APP: "web", LABEL_ENVIRONMENT: "prod"})),
            false,
        ),
        ("hand made", live(json!({"app": "web"})), false),
        ("no labels", json!({"metadata": {}}), false),
    ];
    for (name, object, want) in cases {
        assert_eq!(owned_by(&object, "web", "dev"), want, "{name}");
    }
}
