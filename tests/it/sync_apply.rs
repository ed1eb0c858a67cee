//! Sync on the test server, or on the cluster `SLIPWAY_TEST_KUBECONFIG`
//! names (`support::cluster`): apply, no-op, prune, scope refusal. Request
//! counts are checked on the test server.

use crate::support;
use crate::sync_common;

use serde_json::json;
use slipway::store::sync_state::SyncPhase;
use slipway::sync::cluster::{ClusterTarget, KubeCluster};
use support::cluster::TestCluster;
use support::kube_api::Verb;
use sync_common::{DeployRepo, Harness, ReportInbox, SLIPWAY_YAML, config_map, deployment};

/// A cluster and the name its test uses for `web-dev`.
async fn cluster() -> (TestCluster, String) {
    let cluster = TestCluster::start().await;
    let ns = cluster.namespace("web-dev").await;
    (cluster, ns)
}

async fn started(repo: &DeployRepo, cluster: &TestCluster) -> (Harness, ReportInbox) {
    Harness::reporting(repo, cluster.client()).await
}

fn namespace_yaml(ns: &str) -> String {
    format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n")
}

/// The Events Slipway recorded in `ns` (a real cluster's controllers add
/// their own).
async fn slipway_events(cluster: &TestCluster, ns: &str) -> Vec<serde_json::Value> {
    cluster
        .list(("events.k8s.io/v1", "Event"), ns)
        .await
        .into_iter()
        .filter(|e| e["reportingController"] == "slipway")
        .collect()
}

const KINDS_WITH_NAMESPACE: &str = "
apps:
  web:
    image: ghcr.io/acme/web
    kinds: [Namespace, Deployment, ConfigMap, Service]
    environments:
      - { name: dev, path: envs/dev, namespace: web-dev, rollout_timeout_seconds: 10 }
";

fn web_repo(ns: &str) -> DeployRepo {
    DeployRepo::new(&[
        ("slipway.yaml", &KINDS_WITH_NAMESPACE.replace("web-dev", ns)),
        ("envs/dev/namespace.yaml", &namespace_yaml(ns)),
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
    let (cluster, ns) = cluster().await;
    let repo = web_repo(&ns);
    let (h, inbox) = started(&repo, &cluster).await;
    h.sync.sync_once().await.unwrap();
    let status = h.store.sync_status("web", "dev").await.unwrap().unwrap();
    assert_eq!(status.state, SyncPhase::Verified, "{:?}", status.last_error);
    assert_eq!(
        status.verified_revision.as_deref(),
        Some(repo.head().as_str())
    );
    let d = cluster
        .get(("apps/v1", "Deployment"), &ns, "web")
        .await
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
    assert!(cluster.get(("v1", "Namespace"), "", &ns).await.is_some());
    let events = slipway_events(&cluster, &ns).await;
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
    if let Some(writes) = cluster.writes() {
        assert!(
            writes <= 4 + 2,
            "writes at most the objects changed and two: {writes}"
        );
    }
    assert_eq!(inbox.verdicts(), ["verified"]);
    assert_eq!(inbox.last()["image"]["tag"], "1.0.0");
    assert_eq!(inbox.last()["revision"], repo.head());
}

#[tokio::test]
async fn a_sync_with_nothing_changed_makes_no_request() {
    let (cluster, ns) = cluster().await;
    let repo = web_repo(&ns);
    let (h, _inbox) = started(&repo, &cluster).await;
    h.sync.sync_once().await.unwrap();
    repo.commit(&[("README.md", "unrelated change\n")], "docs");
    cluster.reset_requests();
    h.sync.sync_once().await.unwrap();
    let status = h.store.sync_status("web", "dev").await.unwrap().unwrap();
    if let Some(server) = cluster.test_server() {
        let stats = server.stats();
        assert_eq!(stats.total, 0, "{stats:?} {:?}", status.drifted);
    }
    let status = h.store.sync_status("web", "dev").await.unwrap().unwrap();
    assert_eq!(status.state, SyncPhase::Verified);
    assert_eq!(
        status.desired_revision.as_deref(),
        Some(repo.head().as_str())
    );
}

#[tokio::test]
async fn an_object_removed_from_git_is_pruned_and_foreign_objects_are_kept() {
    let (cluster, ns) = cluster().await;
    let repo = web_repo(&ns);
    let (h, _inbox) = started(&repo, &cluster).await;
    h.sync.sync_once().await.unwrap();
    let foreign = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "hand-made", "namespace": ns}, "data": {"k": "v"}});
    let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(cluster.client(), &ns);
    api.create(
        &Default::default(),
        &serde_json::from_value(foreign).unwrap(),
    )
    .await
    .unwrap();
    repo.commit(&[("envs/dev/extra.yaml", "")], "drop extra");
    h.sync.sync_once().await.unwrap();
    assert!(
        cluster
            .get(("v1", "ConfigMap"), &ns, "extra")
            .await
            .is_none(),
        "pruned"
    );
    assert!(
        cluster
            .get(("v1", "ConfigMap"), &ns, "hand-made")
            .await
            .is_some(),
        "not Slipway's"
    );
    assert!(cluster.get(("v1", "ConfigMap"), &ns, "web").await.is_some());
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
    let (cluster, ns) = cluster().await;
    let repo = DeployRepo::new(&[
        ("slipway.yaml", &SLIPWAY_YAML.replace("web-dev", &ns)),
        (
            "envs/dev/web.yaml",
            &deployment("web", "ghcr.io/acme/web:1.0.0"),
        ),
        ("envs/dev/namespace.yaml", &namespace_yaml(&ns)),
        ("envs/dev/rbac.yaml", &binding.replace("web-dev", &ns)),
        (
            "envs/dev/billing.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: steal, namespace: billing}\n",
        ),
    ]);
    let (h, inbox) = started(&repo, &cluster).await;
    h.sync.sync_once().await.unwrap();
    assert!(
        cluster
            .get(
                ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
                "",
                "web-admin"
            )
            .await
            .is_none()
    );
    assert!(
        cluster
            .get(("v1", "ConfigMap"), "billing", "steal")
            .await
            .is_none()
    );
    assert!(
        cluster
            .get(("apps/v1", "Deployment"), &ns, "web")
            .await
            .is_some()
    );
    let status = h.store.sync_status("web", "dev").await.unwrap().unwrap();
    assert_eq!(status.state, SyncPhase::Refused);
    assert_eq!(status.refused.len(), 3, "{:?}", status.refused);
    assert!(
        status
            .refused
            .iter()
            .any(|r| r.contains(&format!("Namespace {ns}: kind not allowed")))
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
    let (cluster, ns) = cluster().await;
    let repo = web_repo(&ns);
    let mut registry = prometheus_client::registry::Registry::default();
    let mut h = Harness::new(
        &repo,
        ClusterTarget::Kube(KubeCluster::new(cluster.client())),
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
    let (cluster, ns) = cluster().await;
    let repo = web_repo(&ns);
    let (h, _inbox) = started(&repo, &cluster).await;
    h.sync.sync_once().await.unwrap();
    repo.commit(&[("slipway.yaml", "apps: {}\n")], "retire web");
    h.sync.sync_once().await.unwrap();
    assert!(
        cluster
            .get(("apps/v1", "Deployment"), &ns, "web")
            .await
            .is_none()
    );
    assert!(cluster.get(("v1", "ConfigMap"), &ns, "web").await.is_none());
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
    let (cluster, ns) = cluster().await;
    let repo = web_repo(&ns);
    let (h, _inbox) = started(&repo, &cluster).await;
    h.sync.sync_once().await.unwrap();
    h.sync.sync_once().await.unwrap();
    repo.commit(
        &[(
            "envs/dev/web.yaml",
            &deployment("web", "ghcr.io/acme/web:1.0.1"),
        )],
        "bump",
    );
    cluster.reset_requests();
    h.sync.sync_once().await.unwrap();
    assert_eq!(h.status().await.state, SyncPhase::Verified);
    let Some(server) = cluster.test_server() else {
        return;
    };
    let stats = server.stats();
    assert_eq!(stats.writes(), 2, "the apply and its Event: {stats:?}");
    assert_eq!(
        stats.verb(Verb::List),
        stats.verb_on("pods", Verb::List) * 2,
        "no LIST but the rollout's pods and ReplicaSets: {stats:?}"
    );
}
