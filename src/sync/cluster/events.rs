//! Events on the objects Slipway changes, through kube-runtime's
//! [`Recorder`](kube::runtime::events::Recorder) (events.k8s.io/v1; a repeat
//! of the same reason on the same object becomes a series, not a new Event).

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType};

use super::super::fault;
use super::KubeCluster;
use crate::sync::plan::ObjectRef;

/// Most characters of an Event's note (the API allows 1 kB).
const MAX_NOTE_CHARS: usize = 1000;

/// One Event about one object.
#[derive(Debug, Clone)]
pub struct ObjectEvent {
    /// `PascalCase` reason (`Applied`, `DriftCorrected`, `ApplyRejected`, `RolloutFailed`, `RolledBack`).
    pub reason: &'static str,
    /// `PascalCase` action Slipway took (`Apply`, `DryRun`, `Verify`, `Rollback`).
    pub action: &'static str,
    /// What happened, one line.
    pub note: String,
    /// A Warning rather than a Normal Event.
    pub warning: bool,
}

impl KubeCluster {
    /// Record `event` on `object` (its `uid` when known). Best effort: an
    /// Event that cannot be written is logged, never a sync failure.
    pub async fn event(&self, object: &ObjectRef, uid: Option<&str>, event: ObjectEvent) {
        let reference = ObjectReference {
            api_version: Some(object.api_version.clone()),
            kind: Some(object.kind.clone()),
            name: Some(object.name.clone()),
            namespace: object.namespace.clone(),
            uid: uid.map(String::from),
            ..ObjectReference::default()
        };
        let published = Event {
            type_: if event.warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: event.reason.into(),
            note: Some(fault::bounded(&event.note, MAX_NOTE_CHARS)),
            action: event.action.into(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&published, &reference).await {
            tracing::warn!(%object, reason = event.reason, error = %fault::one_line(&e), "could not record an Event");
        }
    }
}

/// The `uid` of a live object, as the server answered it.
pub fn uid_of(live: &serde_json::Value) -> Option<&str> {
    live.pointer("/metadata/uid")
        .and_then(serde_json::Value::as_str)
}
