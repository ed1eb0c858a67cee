//! Tests of the durable inbox.

use super::*;

fn delivery(id: &str) -> Delivery {
    Delivery {
        provider: Provider::GitHub,
        delivery_id: id.to_string(),
        event_type: "ping".to_string(),
        event: DomainEvent::Ping,
    }
}

#[tokio::test]
async fn replayed_delivery_is_admitted_once_also_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let first = {
        let store = Store::open(dir.path()).unwrap();
        let first = store.admit(delivery("d-1")).await.unwrap();
        assert!(matches!(first, Admission::Accepted(_)));
        assert_eq!(
            store.admit(delivery("d-1")).await.unwrap(),
            Admission::Duplicate(match first {
                Admission::Accepted(s) | Admission::Duplicate(s) => s,
            })
        );
        first
    };
    let store = Store::open(dir.path()).unwrap();
    let again = store.admit(delivery("d-1")).await.unwrap();
    assert!(matches!((first, again), (Admission::Accepted(a), Admission::Duplicate(b)) if a == b));
    assert_eq!(store.recent_deliveries(10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_same_id_from_another_provider_is_another_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.admit(delivery("x")).await.unwrap();
    let mut other = delivery("x");
    other.provider = Provider::GitLab;
    assert!(matches!(
        store.admit(other).await.unwrap(),
        Admission::Accepted(_)
    ));
}

#[tokio::test]
async fn settled_and_retried_deliveries_leave_the_due_list() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for id in ["a", "b", "c"] {
        store.admit(delivery(id)).await.unwrap();
    }
    let due = store.due(10, 0).await.unwrap();
    assert_eq!(
        due.iter()
            .map(|d| d.delivery_id.as_str())
            .collect::<Vec<_>>(),
        ["a", "b", "c"]
    );
    let (a, b) = (due[0].seq, due[1].seq);
    store
        .write(move |c| settle(c, a, DeliveryState::Done, &serde_json::json!({"ok": true})))
        .await
        .unwrap();
    store
        .write(move |c| retry_later(c, b, "remote unreachable", 5_000, 0))
        .await
        .unwrap();
    let due_now: Vec<_> = store
        .due(10, 1_000)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.delivery_id)
        .collect();
    assert_eq!(due_now, ["c"]);
    let due_later: Vec<_> = store
        .due(10, 6_000)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.delivery_id)
        .collect();
    assert_eq!(due_later, ["b", "c"]);
    let b_row = store.delivery("b".into()).await.unwrap().unwrap();
    assert_eq!(b_row.last_error.as_deref(), Some("remote unreachable"));
    assert_eq!(b_row.attempts, 1);
    let a_row = store.delivery("a".into()).await.unwrap().unwrap();
    assert_eq!(a_row.state, DeliveryState::Done);
    assert_eq!(a_row.outcome, Some(serde_json::json!({"ok": true})));
    assert!(store.delivery("nope".into()).await.unwrap().is_none());
}

#[tokio::test]
async fn a_wake_brings_retries_forward_but_not_past_their_not_before() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for id in ["backoff", "rate-limited"] {
        store.admit(delivery(id)).await.unwrap();
    }
    let due = store.due(10, 0).await.unwrap();
    let (backoff, limited) = (due[0].seq, due[1].seq);
    store
        .write(move |c| retry_later(c, backoff, "remote unreachable", 5_000, 0))
        .await
        .unwrap();
    store
        .write(move |c| retry_later(c, limited, "rate limited", 60_000, 60_000))
        .await
        .unwrap();
    store.wake_pending().await.unwrap();
    let ids = |at: i64| {
        let store = store.clone();
        async move {
            let due = store.due(10, at).await.unwrap();
            due.into_iter().map(|d| d.delivery_id).collect::<Vec<_>>()
        }
    };
    assert_eq!(ids(1_000).await, ["backoff"]);
    assert_eq!(ids(59_999).await, ["backoff"]);
    assert_eq!(ids(60_000).await, ["backoff", "rate-limited"]);
}
