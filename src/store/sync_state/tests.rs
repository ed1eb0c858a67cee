use super::*;
use crate::sync::plan::{InventoryEntry, ObjectRef};

fn object(name: &str) -> ObjectRef {
    ObjectRef {
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        namespace: Some("t".into()),
        name: name.into(),
    }
}

#[tokio::test]
async fn statuses_round_trip_and_state_changes_enter_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut status = TargetStatus::new("web", "dev");
    status.state = SyncPhase::Progressing;
    status.applied_revision = Some("abc".into());
    store.put_sync_status(status.clone()).await.unwrap();
    store.put_sync_status(status.clone()).await.unwrap();
    status.state = SyncPhase::Verified;
    store.put_sync_status(status.clone()).await.unwrap();
    let got = store.sync_status("web", "dev").await.unwrap().unwrap();
    assert_eq!(got.state, SyncPhase::Verified);
    assert_eq!(store.sync_statuses().await.unwrap().len(), 1);
    let history = store.sync_history("web", "dev").await.unwrap();
    let states: Vec<&str> = history.iter().map(|h| h.state.as_str()).collect();
    assert_eq!(
        states,
        ["verified", "progressing"],
        "an unchanged status is not repeated"
    );
    assert!(store.sync_status("web", "prod").await.unwrap().is_none());
}

#[tokio::test]
async fn the_inventory_records_applies_and_forgets_prunes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let entry = |name: &str, hash: &str| InventoryEntry {
        object: object(name),
        hash: hash.into(),
        resource_version: Some("1".into()),
        owned: Some(crate::sync::owned::OwnedForm {
            fields: serde_json::json!({"f:data": {"f:k": {}}}),
            values: serde_json::json!({"data": {"k": hash}}),
        }),
    };
    store
        .update_sync_inventory(
            "web",
            "dev",
            vec![entry("a", "h1"), entry("b", "h1")],
            vec![],
        )
        .await
        .unwrap();
    store
        .update_sync_inventory("web", "dev", vec![entry("a", "h2")], vec![object("b")])
        .await
        .unwrap();
    let inventory = store.sync_inventory("web", "dev").await.unwrap();
    assert_eq!(inventory, vec![entry("a", "h2")]);
    assert!(
        store
            .sync_inventory("web", "prod")
            .await
            .unwrap()
            .is_empty()
    );
}
