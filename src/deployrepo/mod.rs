//! The deploy repository writer: format-preserving image edits, idempotent
//! commits with trailers, fast-forward pushes, pull/merge request promotion.

pub mod check;
pub mod edit;
pub mod image;
pub mod settings;
pub mod credentials;
pub mod git;
pub mod message;
pub mod request;
pub mod files;
pub mod forge;
pub mod github;
pub mod gitlab;
pub mod recheck;
mod commit_flow;
pub mod pr_flow;
pub mod writer;

pub use forge::{Forge, ForgeError, PullRequest, PullRequestSpec};
pub use recheck::{NoDowngrade, Recheck};
pub use request::{DeployRequest, Disposition, WriteFailure, WriteOutcome, Written};
pub use writer::{DeployWriter, WriterLimits};
