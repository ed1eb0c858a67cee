//! Finding drift among the objects unchanged since their last apply: an
//! object whose resourceVersion moved is compared, field by field, with the
//! server's form of what Slipway applied ([`OwnedForm`]), never with the
//! manifest text.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::cluster::KubeCluster;
use super::owned::OwnedForm;
use super::plan::{self, DesiredObject, FIELD_MANAGER, InventoryEntry};
use super::reconcile::ReconcileError;

/// `(apiVersion, kind, namespace)`: what one LIST reads.
type GroupKey = (String, String, Option<String>);

/// Drifted objects to apply again, entries whose resourceVersion (or
/// reference) moved on to record, and a note per drifted object (by
/// [`super::plan::ObjectRef::key`]) naming the first field that differed.
pub type DriftFound = (
    Vec<DesiredObject>,
    Vec<InventoryEntry>,
    BTreeMap<String, String>,
);

/// Read the live objects of unchanged entries (from the watch-fed cache;
/// what looks drifted there is confirmed with a GET) and sort them into drifted ones and ones whose
/// resourceVersion merely moved on. A Job gone since its content was
/// applied ran (the TTL controller or its owner removed it): it is not
/// created again; new content runs it again.
pub async fn find_drift(
    cluster: &KubeCluster,
    app: &str,
    env: &str,
    unchanged: Vec<(DesiredObject, InventoryEntry)>,
) -> Result<DriftFound, ReconcileError> {
    let mut groups: BTreeMap<GroupKey, Vec<(DesiredObject, InventoryEntry)>> = BTreeMap::new();
    for (d, e) in unchanged {
        let key = (
            d.object.api_version.clone(),
            d.object.kind.clone(),
            d.object.namespace.clone(),
        );
        groups.entry(key).or_default().push((d, e));
    }
    let (mut drifted, mut refreshed, mut notes) = (Vec::new(), Vec::new(), BTreeMap::new());
    for ((api_version, kind, namespace), members) in groups {
        let live: HashMap<String, Value> = cluster
            .owned_live(&api_version, &kind, namespace.as_deref(), (app, env))
            .await?;
        for (d, mut entry) in members {
            let mut found = live.get(&d.object.name).cloned();
            let mut difference = judge(cluster, &d, &mut entry, found.as_ref()).await?;
            if difference.is_some() {
                // The watch may lag the server: confirm with a GET.
                found = cluster
                    .get(&d.object)
                    .await?
                    .filter(|l| plan::owned_by(l, app, env));
                difference = judge(cluster, &d, &mut entry, found.as_ref()).await?;
            }
            let version = found
                .as_ref()
                .and_then(|l| l.pointer("/metadata/resourceVersion"))
                .and_then(Value::as_str);
            match difference {
                Some(field) => {
                    notes.insert(d.object.key(), format!("{}: {field}", d.object));
                    drifted.push(d);
                }
                None if found.is_some() && version != entry.resource_version.as_deref() => {
                    entry.resource_version = version.map(String::from);
                    refreshed.push(entry);
                }
                None => {}
            }
        }
    }
    Ok((drifted, refreshed, notes))
}

/// The first field of `d` that differs in `found` (its live object), or
/// why it counts as drifted; `None` when it holds what Slipway applied.
async fn judge(
    cluster: &KubeCluster,
    d: &DesiredObject,
    entry: &mut InventoryEntry,
    found: Option<&Value>,
) -> Result<Option<String>, ReconcileError> {
    let Some(live) = found else {
        return Ok((d.object.kind != "Job").then(|| "missing or relabelled".to_string()));
    };
    let version = live
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str);
    if version.is_some() && version == entry.resource_version.as_deref() {
        return Ok(None);
    }
    if entry.owned.is_none() {
        entry.owned = reference(cluster, d).await?;
    }
    Ok(match &entry.owned {
        Some(form) => form.drift(live),
        None => Some(format!("no field applied by {FIELD_MANAGER}")),
    })
}

/// The server's form of `d` when the inventory has none (it was recorded
/// before forms were kept): what a server-side dry run of its apply answers.
async fn reference(
    cluster: &KubeCluster,
    d: &DesiredObject,
) -> Result<Option<OwnedForm>, ReconcileError> {
    let answer = cluster.apply(d, true).await?;
    Ok(OwnedForm::of(&answer, FIELD_MANAGER))
}
