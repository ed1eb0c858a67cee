//! The deploy repository writer: format-preserving image edits, idempotent
//! commits with trailers, fast-forward pushes, pull/merge request promotion.

pub mod check;
mod commit_flow;
pub mod credentials;
pub mod edit;
pub mod files;
pub mod forge;
pub mod git;
pub mod github;
pub mod gitlab;
pub mod image;
pub mod message;
pub mod pr_flow;
pub mod recheck;
pub mod request;
pub mod settings;
pub mod values;
pub mod writer;

pub use forge::{Forge, ForgeError, PullRequest, PullRequestSpec};
pub use recheck::{NoDowngrade, Recheck};
pub use request::{DeployRequest, Disposition, FailureKind, WriteFailure, WriteOutcome, Written};
pub use writer::{DeployWriter, WriterLimits};
