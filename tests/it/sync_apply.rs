//! Sync against the Kubernetes API test server: apply, no-op, prune, scope
//! refusal.

use crate::support;
use crate::sync_common;

use serde_json::json;
use slipway::store::sync_state::SyncPhase;
use slipway::sync::cluster::{ClusterTarget, KubeCluster};
use support::kube_api::{KubeApiServer, Verb};
use sync_common::{DeployRepo, Harness, ReportInbox, SLIPWAY_YAML, config_map, deployment};

async fn started(repo: &DeployRepo) -> (KubeApiServer, Harness, ReportInbox) {
    let server = KubeApiServer::start().await.unwrap();
    let (h, inbox) = Harness::reporting(repo, server.client().unwrap()).await;
    (server, h, inbox)
}

fn namespace_yaml() -> String {
    "apiVersion: v1\nkind: Namespace\nmetadata: {name: web-dev}\n".to_string()
}

const KINDS_WITH_NAMESPACE: &str = "
apps:
  web:
    image: ghcr.io/acme/web
    kinds: [Namespace, Deployment, ConfigMap, Service]
    environments:
      - { name: dev, path: envs/dev, namespace: web-dev, rollout_timeout_seconds: 10 }
";

fn web_repo() -> DeployRepo {
    DeployRepo::new(&[
        ("slipway.yaml", KINDS_WITH_NAMESPACE),
        ("envs/dev/namespace.yaml", &namespace_yaml()),
        (
            "envs/dev/web.yaml",
            &deployment("web", "ghcr.io/acme/web:1.0.0"),
        ),
        ("envs/dev/config.yaml", &config_map("web", "a")),
        ("envs/dev/extra.yaml", &config_map("extra", "x")),
    ])
}

#[tokio::test]
async fn a_first_sync_applies_everything_labelled_and_reports_it_verified() {
    let repo = web_repo();
    let (server, h, inbox) = started(&repo).await;
    h.sync.sync_once().await.unwrap();
    let status = h.store.sync_status("web", "dev").await.unwrap().unwrap();
    assert_eq!(status.state, SyncPhase::Verified, "{:?}", status.last_error);
    assert_eq!(
        status.verified_revision.as_deref(),
        Some(repo.head().as_str())
    );
    let d = server
        .get_object("apps/v1", "Deployment", Some("web-dev"), "web")
        .expect("applied");
    let labels = &d["metadata"]["labels"];
    assert_eq!(labels["app.kubernetes.io/managed-by"], "slipway");
    assert_eq!(labels["slipway.dev/app"], "web");
    assert_eq!(labels["slipway.dev/environment"], "dev");
    let managers: Vec<&str> = d["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["manager"].as_str())
        .collect();
    assert!(managers.contains(&"slipway"), "{managers:?}");
    assert!(
        server
            .get_object("v1", "Namespace", None, "web-dev")
            .is_some()
    );
    let events = server.list_objects("events.k8s.io/v1", "Event", Some("web-dev"));
    assert_eq!(events.len(), 1, "one Event for the pass: {events:?}");
    assert_eq!(events[0]["reason"], "Applied");
    assert_eq!(events[0]["type"], "Normal");
    assert_eq!(
        events[0]["regarding"]["kind"], "Deployment",
        "on the workload"
    );
    assert_eq!(events[0]["regarding"]["name"], "web");
    assert!(
        events[0]["note"].as_str().unwrap().contains("4 objects"),
        "{events:?}"
    );
    let stats = server.stats();
    assert!(
        stats.writes() <= 4 + 2,
        "writes at most the objects changed and two: {stats:?}"
    );
    assert_eq!(inbox.verdicts(), ["verified"]);
    assert_eq!(inbox.last()["image"]["tag"], "1.0.0");
    assert_eq!(inbox.last()["revision"], repo.head());
}

#[tokio::test]
async fn a_sync_with_nothing_changed_makes_no_request() {
    let repo = web_repo();
    let (server, h, _inbox) = started(&repo).await;
    h.sync.sync_once().await.unwrap();
    repo.commit(&[("README.md", "unrelated change\n")], "docs");
    server.reset_stats();
    h.sync.sync_once().await.unwrap();
    let stats = server.stats();
    let status = h.store.sync_status("web", "dev").await.unwrap().unwrap();
    assert_eq!(stats.total, 0, "{stats:?} {:?}", status.drifted);
    let status = h.store.sync_status("web", "dev").await.unwrap().unwrap();
    assert_eq!(status.state, SyncPhase::Verified);
    assert_eq!(
        status.desired_revision.as_deref(),
        Some(repo.head().as_str())
    );
}

#[tokio::test]
async fn an_object_removed_from_git_is_pruned_and_foreign_objects_are_kept() {
    let repo = web_repo();
    let (server, h, _inbox) = started(&repo).await;
    h.sync.sync_once().await.unwrap();
    let foreign = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "hand-made", "namespace": "web-dev"}, "data": {"k": "v"}});
    let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(server.client().unwrap(), "web-dev");
    api.create(
        &Default::default(),
        &serde_json::from_value(foreign).unwrap(),
    )
    .await
    .unwrap();
    repo.commit(&[("envs/dev/extra.yaml", "")], "drop extra");
    h.sync.sync_once().await.unwrap();
    assert!(
        server
            .get_object("v1", "ConfigMap", Some("web-dev"), "extra")
            .is_none(),
        "pruned"
    );
    assert!(
        server
            .get_object("v1", "ConfigMap", Some("web-dev"), "hand-made")
            .is_some(),
        "not Slipway's"
    );
    assert!(
        server
            .get_object("v1", "ConfigMap", Some("web-dev"), "web")
            .is_some()
    );
    let inventory = h.store.sync_inventory("web", "dev").await.unwrap();
    assert!(inventory.iter().all(|e| e.object.name != "extra"));
}

#[tokio::test]
async fn a_manifest_out_of_scope_is_refused_and_the_rest_is_applied() {
    let binding = "apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: web-admin }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin }
subjects: [{ kind: ServiceAccount, name: default, namespace: web-dev }]
";
    let repo = DeployRepo::new(&[
        ("slipway.yaml", SLIPWAY_YAML),
        (
            "envs/dev/web.yaml",
            &deployment("web", "ghcr.io/acme/web:1.0.0"),
        ),
        ("envs/dev/namespace.yaml", &namespace_yaml()),
        ("envs/dev/rbac.yaml", binding),
        (
            "envs/dev/billing.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: steal, namespace: billing}\n",
        ),
    ]);
    let (server, h, inbox) = started(&repo).await;
    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> =
        kube::Api::all(server.client().unwrap());
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "web-dev"}});
    namespaces
        .create(&Default::default(), &serde_json::from_value(ns).unwrap())
        .await
        .unwrap();
    h.sync.sync_once().await.unwrap();
    assert!(
        server
            .get_object(
                "rbac.authorization.k8s.io/v1",
                "ClusterRoleBinding",
                None,
                "web-admin"
            )
            .is_none()
    );
    assert!(
        server
            .get_object("v1", "ConfigMap", Some("billing"), "steal")
            .is_none()
    );
    assert!(
        server
            .get_object("apps/v1", "Deployment", Some("web-dev"), "web")
            .is_some()
    );
    let status = h.store.sync_status("web", "dev").await.unwrap().unwrap();
    assert_eq!(status.state, SyncPhase::Refused);
    assert_eq!(status.refused.len(), 3, "{:?}", status.refused);
    assert!(
        status
            .refused
            .iter()
            .any(|r| r.contains("Namespace web-dev: kind not allowed"))
    );
    assert_eq!(
        status.verified_revision.as_deref(),
        Some(repo.head().as_str()),
        "the rest rolled out"
    );
    assert_eq!(inbox.verdicts(), ["verified"]);
}

#[tokio::test]
async fn metrics_count_syncs_applies_and_prunes_in_the_callers_registry() {
    let repo = web_repo();
    let server = KubeApiServer::start().await.unwrap();
    let mut registry = prometheus_client::registry::Registry::default();
    let mut h = Harness::new(
        &repo,
        ClusterTarget::Kube(KubeCluster::new(server.client().unwrap())),
        None,
    );
    h.ctx.metrics = slipway::sync::metrics::SyncMetrics::register(&mut registry);
    let sync = slipway::sync::runner::SyncLoop::new(
        h.ctx.clone(),
        Default::default(),
        std::time::Duration::from_secs(3600),
        2,
    );
    sync.sync_once().await.unwrap();
    repo.commit(&[("envs/dev/extra.yaml", "")], "drop extra");
    sync.sync_once().await.unwrap();
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    for line in [
        r#"slipway_sync_applies_total{app="web",environment="dev"} 4"#,
        r#"slipway_sync_prunes_total{app="web",environment="dev"} 1"#,
        r#"slipway_sync_syncs_total{app="web",environment="dev",outcome="verified"} 2"#,
        r#"slipway_sync_rollout_duration_seconds_count{verdict="verified"} 2"#,
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }
}

#[tokio::test]
async fn an_environment_removed_from_slipway_yaml_is_pruned_and_forgotten() {
    let repo = web_repo();
    let (server, h, _inbox) = started(&repo).await;
    h.sync.sync_once().await.unwrap();
    repo.commit(&[("slipway.yaml", "apps: {}\n")], "retire web");
    h.sync.sync_once().await.unwrap();
    assert!(
        server
            .get_object("apps/v1", "Deployment", Some("web-dev"), "web")
            .is_none()
    );
    assert!(
        server
            .get_object("v1", "ConfigMap", Some("web-dev"), "web")
            .is_none()
    );
    assert!(h.store.sync_status("web", "dev").await.unwrap().is_none());
    assert!(
        h.store
            .sync_inventory("web", "dev")
            .await
            .unwrap()
            .is_empty()
    );
    let history = h.store.sync_history("web", "dev").await.unwrap();
    assert_eq!(history[0].state, "removed");
}

#[tokio::test]
async fn one_changed_image_costs_a_handful_of_requests() {
    let repo = web_repo();
    let (server, h, _inbox) = started(&repo).await;
    h.sync.sync_once().await.unwrap();
    h.sync.sync_once().await.unwrap();
    repo.commit(
        &[(
            "envs/dev/web.yaml",
            &deployment("web", "ghcr.io/acme/web:1.0.1"),
        )],
        "bump",
    );
    server.reset_stats();
    h.sync.sync_once().await.unwrap();
    let stats = server.stats();
    assert_eq!(h.status().await.state, SyncPhase::Verified);
    assert_eq!(stats.writes(), 2, "the apply and its Event: {stats:?}");
    assert_eq!(
        stats.verb(Verb::List),
        stats.verb_on("pods", Verb::List) * 2,
        "no LIST but the rollout's pods and ReplicaSets: {stats:?}"
    );
}
