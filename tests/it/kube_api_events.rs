//! Kubernetes Events through the API test server, published with kube's
//! event `Recorder` (events.k8s.io/v1), as the sync role reports changes.

use crate::support;

use anyhow::Result;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use serde_json::json;

use support::kube_api::KubeApiServer;

#[tokio::test]
async fn recorded_events_are_stored_against_their_object() -> Result<()> {
    let server = KubeApiServer::start().await?;
    let reporter = Reporter {
        controller: "slipway".into(),
        instance: Some("sync-0".into()),
    };
    let recorder = Recorder::new(server.client()?, reporter);
    let reference = ObjectReference {
        api_version: Some("apps/v1".into()),
        kind: Some("Deployment".into()),
        name: Some("web".into()),
        namespace: Some("default".into()),
        ..ObjectReference::default()
    };
    let event = Event {
        type_: EventType::Normal,
        reason: "Applied".into(),
        note: Some("revision abc123".into()),
        action: "Apply".into(),
        secondary: None,
    };
    recorder.publish(&event, &reference).await?;
    recorder.publish(&event, &reference).await?;
    let events = server.list_objects("events.k8s.io/v1", "Event", Some("default"));
    assert_eq!(events.len(), 1, "a repeated event becomes a series");
    assert_eq!(events[0]["regarding"]["name"], json!("web"));
    assert_eq!(events[0]["reason"], json!("Applied"));
    assert_eq!(events[0]["series"]["count"], json!(2));
    Ok(())
}
