//! Rollout verification, on the test server or the cluster
//! `SLIPWAY_TEST_KUBECONFIG` names (`support::cluster`): a failed, crashing or
//! hanging rollout is rolled back to the last verified revision, reported,
//! and not tried again until the repo changes.

use crate::support;
use crate::sync_common;

use serde_json::Value;
use slipway::store::sync_state::SyncPhase;
use slipway::sync::cluster::{ClusterTarget, KubeCluster};
use support::cluster::TestCluster;
use support::kube_api::{KubeApiServer, ServerConfig};
use sync_common::{DeployRepo, Harness, ReportInbox, config_map, deployment, reporter};

const SLIPWAY: &str = "
apps:
  web:
    image: ghcr.io/acme/web
    kinds: [Namespace, Deployment, ConfigMap]
    environments:
      - { name: dev, path: envs/dev, namespace: web-dev, rollout_timeout_seconds: 3 }
";

fn image_in(deployment: &Value) -> String {
    deployment
        .pointer("/spec/template/spec/containers/0/image")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// A verified revision, then one whose rollout fails with `tag`: it is
/// rolled back and reported with `needle` in the cause, not tried again
/// until the repo changes, and drift on the rolled-back revision is put back.
async fn rolled_back_and_not_retried(cluster: &TestCluster, tag: &str, needle: &str) {
    let ns = cluster.namespace("web-dev").await;
    let slipway = SLIPWAY.replace("web-dev", &ns);
    let repo = DeployRepo::new(&[
        ("slipway.yaml", &slipway),
        (
            "envs/dev/ns.yaml",
            &format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n"),
        ),
        (
            "envs/dev/web.yaml",
            &deployment("web", "ghcr.io/acme/web:1.0.0"),
        ),
    ]);
    let verified = repo.head();
    let (inbox, url) = ReportInbox::start().await;
    let h = Harness::new(
        &repo,
        ClusterTarget::Kube(KubeCluster::new(cluster.client())),
        Some(reporter(&url)),
    );
    let live_image = async || {
        let d = cluster.get(("apps/v1", "Deployment"), &ns, "web").await;
        image_in(&d.unwrap())
    };
    h.sync.sync_once().await.unwrap();
    let image = format!("ghcr.io/acme/web:{tag}");
    let bad = repo.commit(
        &[
            ("envs/dev/web.yaml", &deployment("web", &image)),
            ("envs/dev/new.yaml", &config_map("new", "n")),
        ],
        "bump",
    );
    h.sync.sync_once().await.unwrap();

    let status = h.store.sync_status("web", "dev").await.unwrap().unwrap();
    assert_eq!(
        status.state,
        SyncPhase::RolledBack,
        "{tag}: {:?}",
        status.last_error
    );
    assert_eq!(
        status.applied_revision.as_deref(),
        Some(verified.as_str()),
        "{tag}"
    );
    assert_eq!(
        status.failed_revision.as_deref(),
        Some(bad.as_str()),
        "{tag}"
    );
    let cause = status.last_error.clone().unwrap_or_default();
    assert!(
        cause.contains(&format!("Deployment {ns}/web")) && cause.contains(needle),
        "{tag}: {cause}"
    );
    assert_eq!(
        live_image().await,
        "ghcr.io/acme/web:1.0.0",
        "{tag}: the verified image is back"
    );
    assert!(
        cluster.get(("v1", "ConfigMap"), &ns, "new").await.is_none(),
        "{tag}: the failed revision's additions are pruned"
    );
    assert_eq!(inbox.verdicts(), ["verified", "failed"], "{tag}");
    assert_eq!(inbox.last()["revision"], bad, "{tag}");
    assert!(
        inbox.last()["reason"].as_str().unwrap().contains(needle),
        "{tag}"
    );

    cluster.reset_requests();
    repo.commit(&[("README.md", "unrelated\n")], "docs");
    h.sync.sync_once().await.unwrap();
    if let Some(writes) = cluster.writes() {
        assert_eq!(writes, 0, "{tag}: the failed content is not tried again");
    }
    assert_eq!(live_image().await, "ghcr.io/acme/web:1.0.0");

    let api: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
        kube::Api::namespaced(cluster.client(), &ns);
    let edit = serde_json::json!({"spec": {"replicas": 7}});
    let edited = api
        .patch(
            "web",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&edit),
        )
        .await
        .unwrap();
    let version = edited.metadata.resource_version.unwrap();
    h.until_cached(("apps/v1", "Deployment"), (&ns, "web"), &version)
        .await;
    h.sync.sync_once().await.unwrap();
    let live = cluster
        .get(("apps/v1", "Deployment"), &ns, "web")
        .await
        .unwrap();
    assert_eq!(
        live["spec"]["replicas"], 2,
        "{tag}: drift on the rolled-back revision is put back"
    );
    assert_eq!(image_in(&live), "ghcr.io/acme/web:1.0.0");

    repo.set_web_image("ghcr.io/acme/web:2.0.1", "fix");
    h.sync.sync_once().await.unwrap();
    let status = h.store.sync_status("web", "dev").await.unwrap().unwrap();
    assert_eq!(
        status.state,
        SyncPhase::Verified,
        "{tag}: a changed revision is tried: {:?}",
        status.last_error
    );
    assert_eq!(live_image().await, "ghcr.io/acme/web:2.0.1");
}

/// Pods the kubelet stand-in crash-loops or never binds, on the test server
/// or the cluster `SLIPWAY_TEST_KUBECONFIG` names.
#[tokio::test]
async fn bad_rollouts_are_rolled_back_reported_and_not_retried() {
    let cluster = TestCluster::start().await;
    for (tag, needle) in [
        ("2.0.0-crash", "CrashLoopBackOff"),
        ("2.0.0-hang", "timed out after 3s"),
    ] {
        rolled_back_and_not_retried(&cluster, tag, needle).await;
    }
}

/// The Deployment controller's own verdict; the test server gives it at
/// once (a real controller waits out `progressDeadlineSeconds`, 600 s by
/// default), so this one runs on the test server alone.
#[tokio::test]
async fn a_rollout_past_its_progress_deadline_is_rolled_back() {
    let cluster = TestCluster::start_with(ServerConfig::default()).await;
    if cluster.is_external() {
        return;
    }
    rolled_back_and_not_retried(&cluster, "2.0.0-fail", "ProgressDeadlineExceeded").await;
}

#[tokio::test]
async fn a_failure_without_a_verified_revision_is_recorded_as_failed() {
    let repo = DeployRepo::new(&[
        ("slipway.yaml", SLIPWAY),
        (
            "envs/dev/ns.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: web-dev}\n",
        ),
        (
            "envs/dev/web.yaml",
            &deployment("web", "ghcr.io/acme/web:1.0.0-fail"),
        ),
    ]);
    let server = KubeApiServer::start().await.unwrap();
    let (inbox, url) = ReportInbox::start().await;
    let cluster = ClusterTarget::Kube(KubeCluster::new(server.client().unwrap()));
    let h = Harness::new(&repo, cluster, Some(reporter(&url)));
    h.sync.sync_once().await.unwrap();
    let status = h.store.sync_status("web", "dev").await.unwrap().unwrap();
    assert_eq!(status.state, SyncPhase::Failed);
    assert!(status.verified_revision.is_none());
    assert!(status.last_error.unwrap().contains("ImagePullBackOff"));
    assert_eq!(inbox.verdicts(), ["failed"]);
    let history = h.store.sync_history("web", "dev").await.unwrap();
    let states: Vec<&str> = history.iter().rev().map(|h| h.state.as_str()).collect();
    assert_eq!(states, ["progressing", "failed"]);
}
