//! The table of resource types the server serves, and what each one needs.

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
];

/// The resource served at `plural` in `group`/`version`.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// The resource whose objects have this `apiVersion` and `kind`.
pub fn by_kind(api_version: &str, kind: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .find(|r| r.kind == kind && r.api_version() == api_version)
}

/// The namespace resource, which other objects need to exist in.
pub fn namespaces() -> &'static ResourceType {
    &RESOURCES[0]
}

/// API groups other than core, in discovery order, without repeats.
pub fn groups() -> Vec<&'static str> {
    let mut groups: Vec<&'static str> = Vec::new();
    for resource in RESOURCES.iter().filter(|r| !r.group.is_empty()) {
        if !groups.contains(&resource.group) {
            groups.push(resource.group);
        }
    }
    groups
}

/// Resources of one group (version `v1` for all groups served here).
pub fn in_group(group: &str) -> impl Iterator<Item = &'static ResourceType> + '_ {
    RESOURCES.iter().filter(move |r| r.group == group)
}
