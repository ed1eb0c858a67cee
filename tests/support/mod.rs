//! Test servers and helpers shared by the integration tests. Each test crate
//! uses a part of them, so unused items are expected.
#![allow(dead_code)]

pub mod colours;
pub mod fleet;
pub mod forge;
pub mod git_http;
pub mod git_repos;
pub use kube_test_server as kube_api;
pub mod oidc;
pub mod process;
pub mod prometheus;
pub mod schema_fields;
pub mod slipway_run;
pub mod webhooks;
