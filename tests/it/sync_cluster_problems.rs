//! The cluster's problems are not the revision's: a missing, late or
//! deleted namespace is retried and shown as `degraded` (with when it first
//! and last happened), never recorded as a failed revision and never shown
//! as `verified`; the environment's namespace is created and never pruned
//! while in use; `slipway retry` runs a failed revision again.

use crate::support;
use crate::sync_common;

use std::time::Duration;

use axum::body::Body;
use http::{Request, StatusCode};
use serde_json::json;
use slipway::store::sync_state::{SyncPhase, TargetStatus};
use slipway::sync::status::{SyncHttpState, routes};
use support::kube_api::controllers::Timings;
use support::kube_api::{KubeApiServer, RolloutOutcome, ServerConfig, Verb};
use sync_common::{DeployRepo, Harness, ReportInbox, config_map, deployment};
use tower::ServiceExt;

/// Upper bound on waiting for the namespace controller; a guard.
const WAIT_LIMIT: Duration = Duration::from_secs(20);

fn slipway_yaml(create_namespace: bool, kinds: &str) -> String {
    format!(
        "
apps:
  web:
    image: ghcr.io/acme/web
    kinds: [{kinds}]
    environments:
      - {{ name: dev, path: envs/dev, namespace: web-dev, rollout_timeout_seconds: 10, create_namespace: {create_namespace} }}
"
    )
}

const KINDS: &str = "Deployment, ConfigMap";

fn repo(create_namespace: bool) -> DeployRepo {
    DeployRepo::new(&[
        ("slipway.yaml", &slipway_yaml(create_namespace, KINDS)),
        (
            "envs/dev/web.yaml",
            &deployment("web", "ghcr.io/acme/web:1.0.0"),
        ),
        ("envs/dev/config.yaml", &config_map("web", "a")),
    ])
}

async fn started(
    repo: &DeployRepo,
    termination: Duration,
) -> (KubeApiServer, Harness, ReportInbox) {
    let config = ServerConfig {
        controllers: Timings {
            namespace_termination: termination,
            ..ServerConfig::default().controllers
        },
        ..ServerConfig::default()
    };
    let server = KubeApiServer::start_with(config).await.unwrap();
    let (h, inbox) = Harness::reporting(repo, server.client().unwrap()).await;
    (server, h, inbox)
}

async fn create_namespace(server: &KubeApiServer) {
    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> =
        kube::Api::all(server.client().unwrap());
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "web-dev"}});
    namespaces
        .create(&Default::default(), &serde_json::from_value(ns).unwrap())
        .await
        .unwrap();
}

async fn delete_namespace(server: &KubeApiServer) {
    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> =
        kube::Api::all(server.client().unwrap());
    namespaces
        .delete("web-dev", &Default::default())
        .await
        .unwrap();
}

async fn namespace_gone(server: &KubeApiServer) {
    tokio::time::timeout(WAIT_LIMIT, async {
        while server
            .get_object("v1", "Namespace", None, "web-dev")
            .is_some()
        {
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    })
    .await
    .expect("the namespace controller removes it");
}

/// The status of a pass the cluster's problem stopped: degraded, not a failed revision.
fn assert_degraded(s: &TargetStatus, needle: &str) {
    assert_eq!(s.state, SyncPhase::Degraded, "{:?}", s.last_error);
    assert!(
        s.failed_revision.is_none() && s.failed_hash.is_none(),
        "not a bad revision"
    );
    let line = s.last_error.as_deref().unwrap_or_default();
    assert!(line.contains(needle), "{line}");
    assert!(s.first_error_at.is_some() && s.last_error_at.is_some());
}

#[tokio::test]
async fn a_fresh_cluster_gets_the_environments_namespace_labelled_as_slipways() {
    let repo = repo(true);
    let (server, h, inbox) = started(&repo, Duration::from_millis(300)).await;
    h.sync.sync_once().await.unwrap();
    let s = h.status().await;
    assert_eq!(s.state, SyncPhase::Verified, "{:?}", s.last_error);
    let namespace = server
        .get_object("v1", "Namespace", None, "web-dev")
        .expect("created");
    assert_eq!(
        namespace["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "slipway"
    );
    assert_eq!(inbox.verdicts(), ["verified"]);
}

#[tokio::test]
async fn a_namespace_deleted_behind_syncs_back_is_created_again() {
    let repo = repo(true);
    let (server, h, _inbox) = started(&repo, Duration::from_millis(300)).await;
    h.sync.sync_once().await.unwrap();
    assert_eq!(h.status().await.state, SyncPhase::Verified);
    server.reset_stats();
    repo.commit(&[("envs/dev/one.yaml", &config_map("one", "1"))], "one");
    h.sync.sync_once().await.unwrap();
    assert_eq!(
        server.stats().verb_on("namespaces", Verb::Get),
        0,
        "a namespace seen before is not looked up again"
    );

    delete_namespace(&server).await;
    namespace_gone(&server).await;
    repo.commit(&[("envs/dev/two.yaml", &config_map("two", "2"))], "two");
    h.sync.sync_once().await.unwrap();
    assert_degraded(&h.status().await, "not found");
    h.sync.sync_once().await.unwrap();
    let s = h.status().await;
    assert_eq!(s.state, SyncPhase::Verified, "{:?}", s.last_error);
    assert!(
        server
            .get_object("v1", "Namespace", None, "web-dev")
            .is_some(),
        "created again"
    );
}

#[tokio::test]
async fn a_late_namespace_is_retried_and_the_state_is_never_verified_meanwhile() {
    let repo = repo(false);
    let (server, h, inbox) = started(&repo, Duration::from_millis(300)).await;
    h.sync.sync_once().await.unwrap();
    let first = h.status().await;
    assert_degraded(&first, "namespaces \"web-dev\" not found");
    assert!(
        first.last_error.as_deref().unwrap().contains("envs/dev/"),
        "names the file"
    );
    h.sync.sync_once().await.unwrap();
    let again = h.status().await;
    assert_degraded(&again, "not found");
    assert_eq!(again.error_count, 2);
    assert_eq!(
        again.first_error_at, first.first_error_at,
        "the first occurrence is kept"
    );
    assert!(
        inbox.verdicts().is_empty(),
        "no verdict on a revision the cluster kept out"
    );

    create_namespace(&server).await;
    h.sync.sync_once().await.unwrap();
    let s = h.status().await;
    assert_eq!(s.state, SyncPhase::Verified, "{:?}", s.last_error);
    assert!(s.last_error.is_none() && s.first_error_at.is_none() && s.error_count == 0);
    assert_eq!(inbox.verdicts(), ["verified"]);
}

#[tokio::test]
async fn a_deleted_namespace_is_the_clusters_problem_until_it_is_back() {
    let repo = repo(false);
    let (server, h, _inbox) = started(&repo, Duration::from_secs(3)).await;
    create_namespace(&server).await;
    h.sync.sync_once().await.unwrap();
    assert_eq!(h.status().await.state, SyncPhase::Verified);

    delete_namespace(&server).await;
    repo.commit(
        &[("envs/dev/extra.yaml", &config_map("extra", "x"))],
        "add extra",
    );
    h.sync.sync_once().await.unwrap();
    assert_degraded(&h.status().await, "because it is being terminated");

    namespace_gone(&server).await;
    h.sync.sync_once().await.unwrap();
    assert_degraded(&h.status().await, "namespaces \"web-dev\" not found");
    h.sync.sync_once().await.unwrap();
    assert_degraded(&h.status().await, "not found");

    repo.commit(
        &[("slipway.yaml", &slipway_yaml(true, KINDS))],
        "create the namespace",
    );
    h.sync.sync_once().await.unwrap();
    let s = h.status().await;
    assert_eq!(s.state, SyncPhase::Verified, "{:?}", s.last_error);
    for name in ["web", "extra"] {
        assert!(
            server
                .get_object("v1", "ConfigMap", Some("web-dev"), name)
                .is_some(),
            "{name} is back"
        );
    }
    assert!(
        server
            .get_object("apps/v1", "Deployment", Some("web-dev"), "web")
            .is_some()
    );
}

#[tokio::test]
async fn a_namespace_an_environment_uses_is_never_pruned() {
    let namespace = "apiVersion: v1\nkind: Namespace\nmetadata: {name: web-dev}\n";
    let repo = DeployRepo::new(&[
        (
            "slipway.yaml",
            &slipway_yaml(false, "Namespace, Deployment, ConfigMap"),
        ),
        ("envs/dev/namespace.yaml", namespace),
        ("envs/dev/config.yaml", &config_map("web", "a")),
    ]);
    let (server, h, _inbox) = started(&repo, Duration::from_millis(300)).await;
    h.sync.sync_once().await.unwrap();
    assert_eq!(h.status().await.state, SyncPhase::Verified);
    repo.commit(
        &[("envs/dev/namespace.yaml", "")],
        "stop declaring the namespace",
    );
    h.sync.sync_once().await.unwrap();
    let live = server
        .get_object("v1", "Namespace", None, "web-dev")
        .expect("kept");
    assert!(
        live.pointer("/metadata/deletionTimestamp").is_none(),
        "not even terminating"
    );
    assert!(
        server
            .get_object("v1", "ConfigMap", Some("web-dev"), "web")
            .is_some()
    );
}

#[tokio::test]
async fn slipway_retry_runs_a_failed_revision_again() {
    let repo = repo(true);
    let (server, h, inbox) = started(&repo, Duration::from_millis(300)).await;
    h.sync.sync_once().await.unwrap();
    server.set_rollout_outcome("web-dev", "web", RolloutOutcome::Crash);
    let bad = repo.commit(
        &[(
            "envs/dev/web.yaml",
            &deployment("web", "ghcr.io/acme/web:2.0.0"),
        )],
        "2.0.0",
    );
    h.sync.sync_once().await.unwrap();
    assert_eq!(h.status().await.state, SyncPhase::RolledBack);
    server.set_rollout_outcome("web-dev", "web", RolloutOutcome::Succeed);
    h.sync.sync_once().await.unwrap();
    assert_eq!(
        h.status().await.state,
        SyncPhase::RolledBack,
        "not retried on its own"
    );

    let state = SyncHttpState::new(h.store.clone(), h.sync.nudge_handle(), &[], 300, None)
        .unwrap()
        .with_retries(h.sync.retry_handle());
    let request = |path: &str| Request::post(path).body(Body::empty()).unwrap();
    let router = routes(state);
    let unknown = router
        .clone()
        .oneshot(request("/api/v1/apps/web/prod/retry"))
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let asked = router
        .oneshot(request("/api/v1/apps/web/dev/retry"))
        .await
        .unwrap();
    assert_eq!(asked.status(), StatusCode::ACCEPTED);

    h.sync.sync_once().await.unwrap();
    let s = h.status().await;
    assert_eq!(s.state, SyncPhase::Verified, "{:?}", s.last_error);
    assert_eq!(s.verified_revision.as_deref(), Some(bad.as_str()));
    assert_eq!(inbox.verdicts(), ["verified", "failed", "verified"]);
}
