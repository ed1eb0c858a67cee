//! Slipway: a webhook-driven GitOps controller for Kubernetes.
//!
//! `receive` verifies webhooks, gates artifacts on policy and writes the deploy
//! repository; `sync` applies the deploy repository to a cluster, verifies the
//! rollout and rolls back what fails. The README describes the roles and links the guides.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod bootstrap;
pub mod config;
pub mod deployrepo;
pub mod event;
pub mod image;
pub mod metrics;
pub mod operator;
pub mod pipeline;
pub mod policy;
pub mod quickstart;
pub mod receive;
pub mod repoconfig;
pub mod report;
pub mod roles;
pub mod secret;
pub mod server;
pub mod store;
pub mod sync;
pub mod version;
pub mod webhook;
pub mod worker;

/// An error and its chain of causes on one line, for logs and CLI output.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
