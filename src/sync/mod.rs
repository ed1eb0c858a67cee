//! The sync role: render, diff, server-side apply, verify, roll back.

pub mod cluster;
pub mod converge;
pub mod drift;
pub mod dryrun;
pub mod failures;
pub mod fault;
pub mod lock;
pub mod metrics;
pub mod owned;
pub mod plan;
pub mod podcheck;
pub mod prune;
pub mod reconcile;
pub mod render;
pub mod report;
pub mod retry;
pub mod rollout;
pub mod runner;
pub mod scope;
pub mod settings;
pub mod setup;
pub mod source;
pub mod status;
pub mod tree;
pub mod verdict;
pub mod verify;
