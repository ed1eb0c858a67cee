//! The table of resource types the server serves, and what each one needs:
//! the built-in ones, and the custom resources of CustomResourceDefinitions,
//! served once the CRD is established and discovery has caught up.

use std::sync::{Mutex, RwLock};

/// How a rollout of this kind is simulated, if at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// apps/v1 Deployment: ReplicaSet plus pods, conditions Progressing/Available.
    Deployment,
    /// apps/v1 StatefulSet: ordinal pods, current/update revisions.
    StatefulSet,
    /// apps/v1 DaemonSet: one pod per simulated node.
    DaemonSet,
    /// batch/v1 Job: pods run to completion, conditions Complete/Failed.
    Job,
}

/// One resource type: where it lives on the wire and how it behaves.
#[derive(Debug)]
pub struct ResourceType {
    /// API group, empty for core.
    pub group: &'static str,
    /// Version within the group.
    pub version: &'static str,
    /// Plural name used in URLs.
    pub plural: &'static str,
    /// Singular name as discovery reports it.
    pub singular: &'static str,
    /// Kind of one object.
    pub kind: &'static str,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Short names kubectl accepts (`deploy`, `cm`).
    pub short_names: &'static [&'static str],
    /// Categories such as `all`.
    pub categories: &'static [&'static str],
    /// Whether `/status` is a separate subresource (status is ignored on the main endpoint).
    pub has_status: bool,
    /// Whether `metadata.generation` is maintained.
    pub has_generation: bool,
    /// Rollout simulation, for workloads.
    pub workload: Option<Workload>,
}

impl ResourceType {
    /// `apiVersion` of objects of this type.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// URL prefix of the group version (`/api/v1`, `/apis/apps/v1`).
    pub fn group_version_path(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }
}

/// Verbs of every served resource, as discovery lists them.
pub const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// Verbs of a status subresource.
pub const STATUS_VERBS: &[&str] = &["get", "patch", "update"];

const NO_NAMES: &[&str] = &[];
const ALL: &[&str] = &["all"];

macro_rules! resource {
    ($group:expr, $version:expr, $plural:expr, $singular:expr, $kind:expr, namespaced: $ns:expr,
     short: $short:expr, categories: $cat:expr, status: $status:expr, generation: $gen:expr,
     workload: $workload:expr) => {
        ResourceType {
            group: $group,
            version: $version,
            plural: $plural,
            singular: $singular,
            kind: $kind,
            namespaced: $ns,
            short_names: $short,
            categories: $cat,
            has_status: $status,
            has_generation: $gen,
            workload: $workload,
        }
    };
}

/// Every resource type served, in discovery order.
pub static RESOURCES: &[ResourceType] = &[
    resource!("", "v1", "namespaces", "namespace", "Namespace", namespaced: false,
        short: &["ns"], categories: NO_NAMES, status: true, generation: false, workload: None),
    resource!("", "v1", "nodes", "node", "Node", namespaced: false,
        short: &["no"], categories: NO_NAMES, status: true, generation: false, workload: None),
    resource!("", "v1", "configmaps", "configmap", "ConfigMap", namespaced: true,
        short: &["cm"], categories: NO_NAMES, status: false, generation: false, workload: None),
    resource!("", "v1", "secrets", "secret", "Secret", namespaced: true,
        short: NO_NAMES, categories: NO_NAMES, status: false, generation: false, workload: None),
    resource!("", "v1", "services", "service", "Service", namespaced: true,
        short: &["svc"], categories: ALL, status: true, generation: false, workload: None),
    resource!("", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", namespaced: true,
        short: &["sa"], categories: NO_NAMES, status: false, generation: false, workload: None),
    resource!("", "v1", "pods", "pod", "Pod", namespaced: true,
        short: &["po"], categories: ALL, status: true, generation: true, workload: None),
    resource!("", "v1", "events", "event", "Event", namespaced: true,
        short: &["ev"], categories: NO_NAMES, status: false, generation: false, workload: None),
    resource!("apps", "v1", "deployments", "deployment", "Deployment", namespaced: true,
        short: &["deploy"], categories: ALL, status: true, generation: true,
        workload: Some(Workload::Deployment)),
    resource!("apps", "v1", "statefulsets", "statefulset", "StatefulSet", namespaced: true,
        short: &["sts"], categories: ALL, status: true, generation: true,
        workload: Some(Workload::StatefulSet)),
    resource!("apps", "v1", "daemonsets", "daemonset", "DaemonSet", namespaced: true,
        short: &["ds"], categories: ALL, status: true, generation: true,
        workload: Some(Workload::DaemonSet)),
    resource!("apps", "v1", "replicasets", "replicaset", "ReplicaSet", namespaced: true,
        short: &["rs"], categories: ALL, status: true, generation: true, workload: None),
    resource!("batch", "v1", "jobs", "job", "Job", namespaced: true,
        short: NO_NAMES, categories: ALL, status: true, generation: true,
        workload: Some(Workload::Job)),
    resource!("batch", "v1", "cronjobs", "cronjob", "CronJob", namespaced: true,
        short: &["cj"], categories: ALL, status: true, generation: true, workload: None),
    resource!("autoscaling", "v2", "horizontalpodautoscalers", "horizontalpodautoscaler",
        "HorizontalPodAutoscaler", namespaced: true, short: &["hpa"], categories: ALL,
        status: true, generation: true, workload: None),
    resource!("events.k8s.io", "v1", "events", "event", "Event", namespaced: true,
        short: &["ev"], categories: NO_NAMES, status: false, generation: false, workload: None),
    resource!("coordination.k8s.io", "v1", "leases", "lease", "Lease", namespaced: true,
        short: NO_NAMES, categories: NO_NAMES, status: false, generation: false, workload: None),
    resource!("rbac.authorization.k8s.io", "v1", "roles", "role", "Role", namespaced: true,
        short: NO_NAMES, categories: NO_NAMES, status: false, generation: false, workload: None),
    resource!("rbac.authorization.k8s.io", "v1", "rolebindings", "rolebinding", "RoleBinding",
        namespaced: true, short: NO_NAMES, categories: NO_NAMES, status: false, generation: false,
        workload: None),
    resource!("rbac.authorization.k8s.io", "v1", "clusterroles", "clusterrole", "ClusterRole",
        namespaced: false, short: NO_NAMES, categories: NO_NAMES, status: false,
        generation: false, workload: None),
    resource!("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "clusterrolebinding",
        "ClusterRoleBinding", namespaced: false, short: NO_NAMES, categories: NO_NAMES,
        status: false, generation: false, workload: None),
    resource!("example.slipway.dev", "v1", "widgets", "widget", "Widget", namespaced: true,
        short: &["wdg"], categories: NO_NAMES, status: true, generation: true, workload: None),
    resource!("apiextensions.k8s.io", "v1", "customresourcedefinitions",
        "customresourcedefinition", "CustomResourceDefinition", namespaced: false,
        short: &["crd", "crds"], categories: NO_NAMES, status: true, generation: true,
        workload: None),
];

/// Custom resource types ever defined in this process, by any server; each
/// is leaked once so it lives as long as the built-in ones.
static INTERNED: Mutex<Vec<&'static ResourceType>> = Mutex::new(Vec::new());

fn leak(text: &str) -> &'static str {
    Box::leak(text.to_string().into_boxed_str())
}

/// The resource type a CustomResourceDefinition defines (its storage
/// version), interned; `None` when the CRD lacks group, names or versions.
pub fn from_crd(crd: &serde_json::Value) -> Option<&'static ResourceType> {
    let text = |p: &str| crd.pointer(p).and_then(serde_json::Value::as_str);
    let (group, plural, kind) = (
        text("/spec/group")?,
        text("/spec/names/plural")?,
        text("/spec/names/kind")?,
    );
    let versions = crd.pointer("/spec/versions")?.as_array()?;
    let version = versions
        .iter()
        .find(|v| v["storage"] == true)
        .or_else(|| versions.first())?["name"]
        .as_str()?;
    let mut interned = INTERNED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(found) = interned
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
    {
        return Some(found);
    }
    let singular = text("/spec/names/singular")
        .map(str::to_string)
        .unwrap_or_else(|| kind.to_lowercase());
    let resource: &'static ResourceType = Box::leak(Box::new(ResourceType {
        group: leak(group),
        version: leak(version),
        plural: leak(plural),
        singular: leak(&singular),
        kind: leak(kind),
        namespaced: text("/spec/scope") != Some("Cluster"),
        short_names: NO_NAMES,
        categories: NO_NAMES,
        has_status: crd
            .pointer("/spec/versions/0/subresources/status")
            .is_some(),
        has_generation: true,
        workload: None,
    }));
    interned.push(resource);
    Some(resource)
}

fn interned() -> Vec<&'static ResourceType> {
    INTERNED.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// The custom resource types one server serves.
#[derive(Debug, Default)]
pub struct Served(RwLock<Vec<&'static ResourceType>>);

impl Served {
    /// Serve `resource` (discovery and its paths).
    pub fn add(&self, resource: &'static ResourceType) {
        let mut served = self.0.write().unwrap_or_else(|p| p.into_inner());
        if !served.iter().any(|r| std::ptr::eq(*r, resource)) {
            served.push(resource);
        }
    }

    /// Stop serving `resource` (its CRD was deleted).
    pub fn remove(&self, resource: &'static ResourceType) {
        let mut served = self.0.write().unwrap_or_else(|p| p.into_inner());
        served.retain(|r| !std::ptr::eq(*r, resource));
    }

    /// Every resource type this server serves, built-in first.
    pub fn all(&self) -> Vec<&'static ResourceType> {
        let custom = self.0.read().unwrap_or_else(|p| p.into_inner()).clone();
        RESOURCES.iter().chain(custom).collect()
    }

    /// The resource served at `plural` in `group`/`version`.
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<&'static ResourceType> {
        self.all()
            .into_iter()
            .find(|r| r.group == group && r.version == version && r.plural == plural)
    }
}

/// The resource whose objects have this `apiVersion` and `kind` (custom
/// resources too, served or not).
pub fn by_kind(api_version: &str, kind: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .chain(interned())
        .find(|r| r.kind == kind && r.api_version() == api_version)
}

/// The resource type a store key names, built-in or custom.
pub fn by_group_plural(group: &str, plural: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .chain(interned())
        .find(|r| r.group == group && r.plural == plural)
}

/// The namespace resource, which other objects need to exist in.
pub fn namespaces() -> &'static ResourceType {
    &RESOURCES[0]
}

/// API groups other than core among `served`, in order, without repeats.
pub fn groups(served: &[&'static ResourceType]) -> Vec<&'static str> {
    let mut groups: Vec<&'static str> = Vec::new();
    for resource in served.iter().filter(|r| !r.group.is_empty()) {
        if !groups.contains(&resource.group) {
            groups.push(resource.group);
        }
    }
    groups
}
