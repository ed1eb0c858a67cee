//! Rendering: turn an app/environment of one revision into Kubernetes
//! objects, without touching the cluster.
//!
//! How an environment is rendered is decided by what its `path` holds
//! ([`recipe`]):
//!
//! - a `helm:` section in `slipway.yaml`, or a `Chart.yaml`: the chart is
//!   rendered by `helm template`;
//! - a `kustomization.yaml` (or `.yml`, or `Kustomization`): it is built by
//!   the real kustomize (`kustomize build`, or `kubectl kustomize`);
//! - anything else is read as plain YAML: every `.yaml`/`.yml` file below
//!   it, recursively, in path order, each possibly holding several documents.
//!
//! The tools run on the commit's files written to a private temporary
//! directory ([`workdir`]), offline, bounded in time and output
//! ([`run`]); their failures are refusals carrying the tool's own
//! message. Outputs are cached by the git ids of their inputs and the
//! tools' versions ([`Renderer`]).

pub mod objects;
pub mod plain;
pub mod recipe;
mod renderer;
pub mod run;
pub mod tools;
pub mod workdir;

use serde_json::Value;

pub use plain::{parse_file, render_plain};
pub use renderer::{Prepared, Renderer};

use super::tree::TreeError;

/// Deepest nesting of directories followed in plain YAML.
pub const MAX_DEPTH: usize = 32;
/// Largest plain manifest file read, in bytes.
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;

/// One rendered object and the file it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedObject {
    /// Repository path of the file that declared it: the manifest file, the
    /// chart's template, or the kustomization that built it.
    pub source: String,
    /// The object as JSON (`apiVersion`, `kind`, `metadata`, ...).
    pub manifest: Value,
}

/// Why an environment could not be rendered. Each names the file or
/// directory and, for a tool's refusal, the tool and its own message.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RenderError {
    /// The path does not exist in this revision.
    #[error("{path}: not found in the revision")]
    Missing {
        /// The path.
        path: String,
    },
    /// Reading the tree failed.
    #[error("read tree")]
    Tree(#[from] TreeError),
    /// A file is not valid YAML.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// The parser's message with line and column.
        message: String,
    },
    /// A file is too large to be a manifest.
    #[error("{path}: larger than {MAX_FILE_BYTES} bytes")]
    TooLarge {
        /// The file.
        path: String,
    },
    /// A document is not a Kubernetes object.
    #[error("{path}: document {index}: {message}")]
    NotAnObject {
        /// The file.
        path: String,
        /// Zero-based document index in the file.
        index: usize,
        /// What is missing.
        message: String,
    },
    /// A field of the environment's render settings is unusable.
    #[error("{path}: `{key}`: {message}")]
    Invalid {
        /// The file or directory.
        path: String,
        /// The field.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// Directories nest deeper than the limit (or form a cycle).
    #[error("{path}: nested too deep")]
    TooDeep {
        /// Where the limit was hit.
        path: String,
    },
    /// The environment needs a tool sync did not find at start.
    #[error(
        "{path}: rendering needs {tool}, which is not installed (install it, or name it in sync.render.{tool})"
    )]
    ToolMissing {
        /// `kustomize` or `helm`.
        tool: &'static str,
        /// The environment's path.
        path: String,
    },
    /// The tool refused the input, ran too long or wrote too much.
    #[error("{path}: {tool}: {message}")]
    Tool {
        /// `kustomize` or `helm`.
        tool: &'static str,
        /// The kustomization or chart.
        path: String,
        /// The tool's own message, or which limit was passed.
        message: String,
    },
    /// The revision holds more files than a render writes out.
    #[error(
        "the revision is larger than a render writes out ({} files, {} bytes)",
        workdir::MAX_TREE_FILES,
        workdir::MAX_TREE_BYTES
    )]
    RevisionTooLarge,
    /// The temporary directory for the tools could not be written.
    #[error("temporary render directory: {message}")]
    Workdir {
        /// What failed.
        message: String,
    },
}

impl RenderError {
    /// Whether the same input gives the same error again, so that it may
    /// be remembered; a damaged tree or a full disk may heal.
    pub fn is_deterministic(&self) -> bool {
        !matches!(self, RenderError::Tree(_) | RenderError::Workdir { .. })
    }
}

#[cfg(test)]
mod tests;
