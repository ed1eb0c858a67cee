//! Slipway: a webhook-driven GitOps controller for Kubernetes.
//!
//! `receive` verifies webhooks, gates artifacts on policy and writes the deploy
//! repository; `sync` applies the deploy repository to a cluster, verifies the
//! rollout and rolls back what fails. See `DESIGN.md` in the README for the map.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod deployrepo;
pub mod event;
pub mod policy;
pub mod repoconfig;
pub mod secret;
pub mod store;
pub mod sync;
