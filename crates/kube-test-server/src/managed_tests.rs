use serde_json::json;

use serde_json::Value;

use crate::fieldset::{FieldPath, FieldSet, PathElement};
use crate::managed::*;

const NOW: &str = "2026-01-01T00:00:00Z";

fn writer(manager: &str) -> Writer<'_> {
    Writer {
        manager,
        subresource: "",
        api_version: "apps/v1",
        now: NOW,
    }
}

fn deployment(replicas: i64, image: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
           "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "app", "image": image}]}}}})
}

fn skeleton() -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"}})
}

fn managers(object: &Value) -> Vec<String> {
    read_entries(object)
        .into_iter()
        .map(|e| e.manager)
        .collect()
}

#[test]
fn first_apply_records_the_manager_and_its_fields() -> Result<(), Vec<Conflict>> {
    let object = apply(
        &skeleton(),
        &deployment(2, "x:1"),
        &writer("slipway"),
        false,
    )?;
    let entries = read_entries(&object);
    assert_eq!(managers(&object), vec!["slipway"]);
    assert_eq!(entries[0].operation, Operation::Apply);
    assert_eq!(
        entries[0].fields,
        FieldSet::from_value(&ownable_part(&deployment(2, "x:1")))
    );
    Ok(())
}

#[test]
fn apply_conflicts_decide_by_owner_value_and_force() -> Result<(), Vec<Conflict>> {
    let live = apply(
        &skeleton(),
        &deployment(2, "x:1"),
        &writer("slipway"),
        false,
    )?;
    let rows: &[(&str, Value, bool, Option<&str>)] = &[
        (
            "different value owned by another conflicts",
            deployment(3, "x:1"),
            false,
            Some(".spec.replicas"),
        ),
        (
            "same value is shared without conflict",
            deployment(2, "x:1"),
            false,
            None,
        ),
        ("force takes the field", deployment(3, "x:1"), true, None),
    ];
    for (case, config, force, expected) in rows {
        let result = apply(&live, config, &writer("other"), *force);
        match (result, expected) {
            (Err(conflicts), Some(field)) => {
                assert_eq!(conflicts.len(), 1, "{case}");
                assert_eq!(conflicts[0].field(), *field, "{case}");
                assert_eq!(conflicts[0].manager, "\"slipway\"", "{case}");
            }
            (Ok(_), None) => {}
            (other, _) => panic!("{case}: unexpected {other:?}"),
        }
    }
    Ok(())
}

#[test]
fn forced_apply_moves_ownership_of_the_contested_field() -> Result<(), Vec<Conflict>> {
    let live = apply(
        &skeleton(),
        &deployment(2, "x:1"),
        &writer("slipway"),
        false,
    )?;
    let replicas_only = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"}, "spec": {"replicas": 5}});
    let forced = apply(&live, &replicas_only, &writer("hpa"), true)?;
    let replicas = vec![
        PathElement::Field("spec".into()),
        PathElement::Field("replicas".into()),
    ];
    let entries = read_entries(&forced);
    let owner_of = |path: &FieldPath| {
        entries
            .iter()
            .filter(|e| e.fields.contains(path))
            .map(|e| e.manager.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(owner_of(&replicas), vec!["hpa"]);
    assert_eq!(forced["spec"]["replicas"], json!(5));
    Ok(())
}

#[test]
fn fields_a_manager_stops_applying_are_removed_unless_shared() -> Result<(), Vec<Conflict>> {
    let mut with_label = deployment(2, "x:1");
    with_label["metadata"]["labels"] = json!({"team": "a"});
    let live = apply(&skeleton(), &with_label, &writer("slipway"), false)?;
    let dropped = apply(&live, &deployment(2, "x:1"), &writer("slipway"), false)?;
    assert_eq!(
        dropped.pointer("/metadata/labels"),
        None,
        "sole owner drops the label"
    );

    let shared = apply(&live, &with_label, &writer("other"), false)?;
    let kept = apply(&shared, &deployment(2, "x:1"), &writer("slipway"), false)?;
    assert_eq!(
        kept.pointer("/metadata/labels/team"),
        Some(&json!("a")),
        "co-owned label stays"
    );
    Ok(())
}

#[test]
fn an_update_takes_the_fields_it_changes_from_appliers() -> Result<(), Vec<Conflict>> {
    let live = apply(
        &skeleton(),
        &deployment(2, "x:1"),
        &writer("slipway"),
        false,
    )?;
    let mut edited = live.clone();
    edited["spec"]["replicas"] = json!(4);
    record_update(Some(&live), &mut edited, &writer("kubectl-edit"));
    let entries = read_entries(&edited);
    assert_eq!(managers(&edited), vec!["slipway", "kubectl-edit"]);
    assert_eq!(entries[1].operation, Operation::Update);
    let conflict = apply(&edited, &deployment(2, "x:1"), &writer("slipway"), false);
    let Err(conflicts) = conflict else {
        panic!("expected a conflict with the editor")
    };
    assert_eq!(conflicts[0].manager, "\"kubectl-edit\" using apps/v1");
    Ok(())
}

#[test]
fn an_identical_apply_changes_nothing() -> Result<(), Vec<Conflict>> {
    let live = apply(
        &skeleton(),
        &deployment(2, "x:1"),
        &writer("slipway"),
        false,
    )?;
    let again = apply(&live, &deployment(2, "x:1"), &writer("slipway"), false)?;
    assert_eq!(again, live);
    Ok(())
}
