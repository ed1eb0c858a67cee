//! Why a cluster call failed, whose fault it is and how a person reads it.

use super::super::fault::{self, Fault};
use super::super::plan::RECREATE_ANNOTATION;

/// Why a cluster call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The kubeconfig or in-cluster config could not be used.
    #[error("configure the cluster client")]
    Configure(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The API server does not serve this kind (yet).
    #[error("discover {api_version} {kind}")]
    Discover {
        /// The apiVersion.
        api_version: String,
        /// The kind.
        kind: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
    /// A server-side apply (or its dry run) failed.
    #[error("{}apply {object}", if *.dry_run { "dry-run " } else { "" })]
    ApplyObject {
        /// The deploy-repo file that declared the object.
        file: String,
        /// The object, as `Kind namespace/name`.
        object: String,
        /// Whether it was the dry run (`dryRun=All`) that failed.
        dry_run: bool,
        /// The cause.
        #[source]
        source: kube::Error,
    },
    /// Reading objects failed.
    #[error("read {what}")]
    Read {
        /// What was read.
        what: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
    /// Deleting an object (pruned, or to re-create it) failed.
    #[error("delete {object}")]
    DeleteObject {
        /// The object.
        object: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
    /// Creating the environment's namespace failed.
    #[error("create namespace {namespace}")]
    CreateNamespace {
        /// The namespace.
        namespace: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
    /// The environment's namespace is being deleted.
    #[error("namespace {namespace} is being terminated")]
    NamespaceTerminating {
        /// The namespace.
        namespace: String,
    },
    /// A watch of the cluster could not list its kind in time.
    #[error("watch {what}: the first list did not complete")]
    CacheNotReady {
        /// The apiVersion and kind watched.
        what: String,
    },
    /// Waiting on the cluster (a CRD to be established, its kinds to be
    /// served, an object to be gone) took longer than allowed or failed.
    #[error("wait for {what}")]
    Wait {
        /// What was awaited.
        what: String,
        /// The cause, when the watch failed rather than timed out.
        #[source]
        source: Option<kube::runtime::wait::Error>,
    },
}

impl ClusterError {
    /// Whose fault it is: only a refusal of an object's content is the revision's.
    pub fn fault(&self) -> Fault {
        match self {
            ClusterError::ApplyObject { source, .. } => fault::fault_of(source),
            _ => Fault::Cluster,
        }
    }

    /// The field a 422 says may not change, for an apply or its dry run.
    pub fn immutable_field(&self) -> Option<String> {
        match self {
            ClusterError::ApplyObject { source, .. } => fault::immutable_field(source),
            _ => None,
        }
    }

    /// Whether a write failed because its namespace does not exist.
    pub fn is_missing_namespace(&self) -> bool {
        match self {
            ClusterError::ApplyObject { source, .. } | ClusterError::Read { source, .. } => {
                fault::is_missing_namespace(source)
            }
            _ => false,
        }
    }

    /// One line for the status, an Event or a report: the deploy-repo file
    /// and object when known, and the server's message once.
    pub fn summary(&self) -> String {
        let line = match self {
            ClusterError::ApplyObject {
                file,
                object,
                source,
                ..
            } => match fault::immutable_field(source) {
                Some(field) => format!(
                    "{file}: {object}: {field} is immutable; to delete and re-create it, annotate it \
                     {RECREATE_ANNOTATION}: \"true\" or set recreate_on_immutable: true on the environment"
                ),
                None => format!("{file}: {object}: {}", fault::server_message(source)),
            },
            other => fault::one_line(other),
        };
        fault::bounded(&line, fault::MAX_LINE_CHARS)
    }

    /// A short label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            ClusterError::Configure(_) => "configure",
            ClusterError::Discover { .. } => "discover",
            ClusterError::ApplyObject { dry_run: true, .. } => "dry_run",
            ClusterError::ApplyObject { .. } => "apply",
            ClusterError::Read { .. } => "read",
            ClusterError::DeleteObject { .. } => "delete",
            ClusterError::CreateNamespace { .. } | ClusterError::NamespaceTerminating { .. } => {
                "namespace"
            }
            ClusterError::Wait { .. } => "wait",
            ClusterError::CacheNotReady { .. } => "watch",
        }
    }
}
