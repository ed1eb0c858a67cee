//! Slipway's integration tests, in one binary: a module per area. Each
//! runs the real binary, real git repositories and the test servers in
//! `tests/support` (the Kubernetes API test server is the
//! `kube-test-server` crate). Run one area with `cargo test --test it AREA::`.

#[path = "../support/mod.rs"]
mod support;

mod docs_common;
mod policy_common;
mod sync_bluegreen_world;
mod sync_common;

mod canary_analysis;
mod deployrepo_edit_golden;
mod deployrepo_forge;
mod deployrepo_helm_values;
mod deployrepo_http;
mod deployrepo_writer;
mod docs_examples;
mod docs_observability;
mod e2e;
mod e2e_bluegreen;
mod e2e_canary;
mod examples;
mod kube_api_events;
mod kube_api_fidelity;
mod kube_api_gateway;
mod kube_api_kubectl;
mod kube_api_lease;
mod kube_api_logs;
mod kube_api_rollouts;
mod kube_api_server;
mod manifests;
mod policy_cli;
mod policy_explain;
mod policy_schema;
mod real_world_cases;
mod receive_batch;
mod receive_crash;
mod receive_pipeline;
mod receive_registries;
mod repoconfig_schema;
mod report_deployments;
mod stand_ins;
mod status_api;
mod sync_apply;
mod sync_bluegreen;
mod sync_bluegreen_restart;
mod sync_canary;
mod sync_cluster_problems;
mod sync_evidence;
mod sync_logs;
mod sync_loop;
mod sync_ownership;
mod sync_plan;
mod sync_refusals;
mod sync_render;
mod sync_rollout;
mod sync_status;
mod sync_workloads;
mod webhook_fixtures;
mod webhook_properties;
mod webhook_pubsub;
mod webhook_rejections;
mod webhook_required_fields;
