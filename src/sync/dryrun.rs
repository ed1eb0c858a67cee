//! A revision checked whole before its first write: every object it would
//! apply goes through a server-side dry run (`dryRun=All`), so a refusal
//! stops the revision with nothing written.
//!
//! Two kinds of object cannot be checked before anything is written, and are
//! checked by their real apply instead: custom resources whose
//! CustomResourceDefinition comes in the same revision (the server does not
//! serve them yet), and objects in a namespace the revision itself creates.
//! An object whose immutable field changed is re-created when it opts in
//! (annotation or environment setting); otherwise the change is refused.

use std::collections::BTreeSet;

use serde_json::Value;

use super::cluster::{ClusterError, KubeCluster};
use super::fault::Fault;
use super::plan::{DesiredObject, ObjectRef, RECREATE_ANNOTATION};

/// An object the API server refused, and why.
#[derive(Debug)]
pub struct Rejection {
    /// The object refused.
    pub object: ObjectRef,
    /// The refusal (a [`Fault::Content`] error).
    pub error: ClusterError,
}

/// What the dry run of a set of objects came to.
#[derive(Debug)]
pub enum Checked {
    /// Nothing refused; the keys of objects to delete and re-create first.
    Passed {
        /// [`ObjectRef::key`]s of objects whose immutable field changed, opted in.
        recreate: BTreeSet<String>,
    },
    /// The server refuses an object: the revision stops here.
    Rejected(Rejection),
}

/// Whether `d` is defined by a CustomResourceDefinition among `objects`.
pub fn defined_by_crd_in(d: &DesiredObject, objects: &[DesiredObject]) -> bool {
    let group = d.object.api_version.rsplit_once('/').map_or("", |(g, _)| g);
    objects.iter().any(|crd| {
        crd.object.kind == "CustomResourceDefinition"
            && crd.manifest.pointer("/spec/group").and_then(Value::as_str) == Some(group)
            && crd
                .manifest
                .pointer("/spec/names/kind")
                .and_then(Value::as_str)
                == Some(d.object.kind.as_str())
    })
}

/// Whether an object asks to be re-created when its immutable field changes.
pub fn opts_into_recreate(d: &DesiredObject) -> bool {
    d.manifest
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(RECREATE_ANNOTATION))
        .and_then(Value::as_str)
        == Some("true")
}

/// Dry-run every object of `objects`; cluster problems are errors, a
/// refusal of content is [`Checked::Rejected`].
pub async fn check(
    cluster: &KubeCluster,
    objects: &[DesiredObject],
    recreate_on_immutable: bool,
) -> Result<Checked, ClusterError> {
    let namespaces_created: BTreeSet<&str> = objects
        .iter()
        .filter(|d| d.object.kind == "Namespace")
        .map(|d| d.object.name.as_str())
        .collect();
    let mut recreate = BTreeSet::new();
    for d in objects {
        match cluster.apply(d, true).await {
            Ok(_) => {}
            Err(ClusterError::Discover { .. }) if defined_by_crd_in(d, objects) => {
                tracing::debug!(object = %d.object, "its CustomResourceDefinition comes first; checked when applied");
            }
            Err(e)
                if e.is_missing_namespace()
                    && d.object
                        .namespace
                        .as_deref()
                        .is_some_and(|ns| namespaces_created.contains(ns)) =>
            {
                tracing::debug!(object = %d.object, "its namespace comes first; checked when applied");
            }
            Err(e) if e.fault() == Fault::Content => {
                if e.immutable_field().is_some() && (recreate_on_immutable || opts_into_recreate(d))
                {
                    recreate.insert(d.object.key());
                    continue;
                }
                return Ok(Checked::Rejected(Rejection {
                    object: d.object.clone(),
                    error: e,
                }));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Checked::Passed { recreate })
}
