//! Test servers and helpers shared by the integration tests (`tests/it`) and
//! the benches. A bench uses a part of them, so unused items are expected.
#![allow(dead_code)]

pub mod autoscaler;
pub mod cluster;
pub mod colours;
pub mod fleet;
pub mod forge;
pub mod git_http;
pub mod git_repos;
pub mod kubelet;
pub mod oidc;
pub mod process;
pub mod prometheus;
pub mod schema_fields;
pub mod slipway_run;
pub mod webhooks;

/// The Kubernetes API test server (`crates/kube-test-server`).
pub use kube_test_server as kube_api;
