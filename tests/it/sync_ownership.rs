//! Field ownership. Drift is judged on the server's form of the fields
//! Slipway applied: a hand edit is put back; what the server normalised or
//! defaulted, and fields another manager owns, are not drift. The replicas
//! of a workload a HorizontalPodAutoscaler scales are the autoscaler's, and
//! replicas that leave git keep their live value.
//!
//! These run on the test server, or on the cluster `SLIPWAY_TEST_KUBECONFIG`
//! names (`support::cluster`); request counts are checked on the test server.

use crate::support;
use crate::sync_common;

use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};
use slipway::store::sync_state::SyncPhase;
use support::cluster::TestCluster;
use support::kube_api::Verb;
use support::process::eventually_within;
use sync_common::{DeployRepo, Harness, ReportInbox, config_map, deployment};

/// `web`/`dev` synced once into its own namespace.
struct World {
    repo: DeployRepo,
    cluster: TestCluster,
    ns: String,
    h: Harness,
    _inbox: ReportInbox,
}

async fn started(files: &[(&str, &str)]) -> World {
    let cluster = TestCluster::start().await;
    let ns = cluster.namespace("web-dev").await;
    let slipway_yaml = format!(
        "
apps:
  web:
    image: ghcr.io/acme/web
    environments:
      - {{ name: dev, path: envs/dev, namespace: {ns}, create_namespace: true, rollout_timeout_seconds: 10 }}
"
    );
    let mut all = vec![("slipway.yaml", slipway_yaml.as_str())];
    all.extend_from_slice(files);
    let repo = DeployRepo::new(&all);
    let (h, inbox) = Harness::reporting(&repo, cluster.client()).await;
    h.sync.sync_once().await.unwrap();
    assert_eq!(h.status().await.state, SyncPhase::Verified);
    World {
        repo,
        cluster,
        ns,
        h,
        _inbox: inbox,
    }
}

fn deployments(w: &World) -> kube::Api<kube::api::DynamicObject> {
    w.cluster.api(("apps/v1", "Deployment"), &w.ns)
}

/// Asserts the test server counted `n` requests of `verb` (a real cluster
/// counts none for us).
fn assert_requests(w: &World, verb: Verb, n: u64, what: &str) {
    if let Some(counted) = w.cluster.requests(verb) {
        assert_eq!(counted, n, "{what}: {verb:?}");
    }
}

/// The Deployment `web` as sync's cache will see it after `patch` by
/// `params`' field manager: the cache has caught up on return.
async fn patch_deployment(w: &World, params: &PatchParams, patch: &Patch<Value>) {
    let patched = deployments(w).patch("web", params, patch).await.unwrap();
    let version = patched.metadata.resource_version.unwrap();
    w.h.until_cached(("apps/v1", "Deployment"), (&w.ns, "web"), &version)
        .await;
}

/// Another writer touches the object, so its resourceVersion moves and
/// sync has to look at it again.
async fn touch(w: &World, n: u32) {
    let patch = json!({"metadata": {"annotations": {"ops.example.com/touched": n.to_string()}}});
    patch_deployment(w, &PatchParams::default(), &Patch::Merge(patch)).await;
}

async fn events_named(w: &World, reason: &str) -> Vec<Value> {
    w.cluster
        .list(("events.k8s.io/v1", "Event"), &w.ns)
        .await
        .into_iter()
        .filter(|e| e["reason"] == reason)
        .collect()
}

async fn drift_events(w: &World) -> usize {
    events_named(w, "DriftCorrected").await.len()
}

async fn live_web(w: &World) -> Value {
    w.cluster
        .get(("apps/v1", "Deployment"), &w.ns, "web")
        .await
        .unwrap()
}

async fn live_container(w: &World) -> Value {
    live_web(w).await["spec"]["template"]["spec"]["containers"][0].clone()
}

/// Three passes, each after another writer moved the resourceVersion: none
/// may apply anything or report drift.
async fn assert_no_drift_over_passes(w: &World) {
    w.cluster.reset_requests();
    for n in 0..3 {
        touch(w, n).await;
        w.h.sync.sync_once().await.unwrap();
        let status = w.h.status().await;
        assert_eq!(status.state, SyncPhase::Verified, "{:?}", status.drifted);
    }
    assert_requests(w, Verb::Apply, 0, "no pass applies");
    assert_eq!(drift_events(w).await, 0);
}

#[tokio::test]
async fn quantities_the_server_normalised_are_not_drift() {
    let manifest = deployment("web", "ghcr.io/acme/web:1.0.0").replace(
        "          image: ghcr.io/acme/web:1.0.0\n",
        "          image: ghcr.io/acme/web:1.0.0\n          resources:\n            requests: { cpu: \"0.5\", memory: 0.5Gi }\n            limits: { cpu: 1, memory: 1024Mi }\n",
    );
    let w = started(&[("envs/dev/web.yaml", &manifest)]).await;
    let resources = live_container(&w).await["resources"].clone();
    assert_eq!(
        resources,
        json!({"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}),
        "the server stores the canonical form"
    );
    assert_no_drift_over_passes(&w).await;
}

#[tokio::test]
async fn another_managers_env_var_is_kept_and_is_not_drift() {
    let manifest = deployment("web", "ghcr.io/acme/web:1.0.0").replace(
        "          image: ghcr.io/acme/web:1.0.0\n",
        "          image: ghcr.io/acme/web:1.0.0\n          env: [{ name: GREETING, value: hello }]\n",
    );
    let w = started(&[("envs/dev/web.yaml", &manifest)]).await;
    let alice = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": w.ns},
        "spec": {"template": {"spec": {"containers": [{"name": "web",
            "env": [{"name": "ALICE_DEBUG", "value": "1"}]}]}}}});
    patch_deployment(&w, &PatchParams::apply("alice"), &Patch::Apply(alice)).await;
    assert_no_drift_over_passes(&w).await;
    let env: Vec<Value> = live_container(&w).await["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].clone())
        .collect();
    assert_eq!(env, [json!("GREETING"), json!("ALICE_DEBUG")], "both kept");
}

#[tokio::test]
async fn an_image_set_by_hand_is_put_back_and_named_as_the_drifted_field() {
    let w = started(&[(
        "envs/dev/web.yaml",
        &deployment("web", "ghcr.io/acme/web:1.0.0"),
    )])
    .await;
    let patch = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "web", "image": "ghcr.io/acme/web:hotfix"}]}}}});
    deployments(&w)
        .patch("web", &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .unwrap();
    w.cluster.reset_requests();
    w.h.sync.sync_once().await.unwrap();
    assert_eq!(live_container(&w).await["image"], "ghcr.io/acme/web:1.0.0");
    assert_requests(&w, Verb::Apply, 1, "the Deployment put back");
    let status = w.h.status().await;
    assert_eq!(status.state, SyncPhase::Drifted);
    assert!(
        status.drifted[0].ends_with("/spec/template/spec/containers[name=web]/image"),
        "{:?}",
        status.drifted
    );
    assert_eq!(drift_events(&w).await, 1);
}

#[tokio::test]
async fn a_hand_edit_in_the_cluster_is_put_back_and_reported_as_drift() {
    let w = started(&[("envs/dev/config.yaml", &config_map("web", "a"))]).await;
    let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(w.cluster.client(), &w.ns);
    let edit = json!({"data": {"key": "edited by hand"}});
    let edited = api
        .patch("web", &PatchParams::default(), &Patch::Merge(&edit))
        .await
        .unwrap();
    let version = edited.metadata.resource_version.unwrap();
    w.h.until_cached(("v1", "ConfigMap"), (&w.ns, "web"), &version)
        .await;
    w.cluster.reset_requests();
    w.h.sync.sync_once().await.unwrap();
    let live = w
        .cluster
        .get(("v1", "ConfigMap"), &w.ns, "web")
        .await
        .unwrap();
    assert_eq!(live["data"]["key"], "a", "put back");
    assert_requests(&w, Verb::Apply, 1, "only the drifted object is applied");
    let status = w.h.status().await;
    assert_eq!(status.state, SyncPhase::Drifted);
    assert!(
        status.drifted[0].contains(&format!("ConfigMap {}/web", w.ns))
            && status.drifted[0].contains("/data/key"),
        "{:?}",
        status.drifted
    );
    w.h.sync.sync_once().await.unwrap();
    assert_eq!(
        w.h.status().await.state,
        SyncPhase::Verified,
        "drift cleared on the next clean pass"
    );
}

const HPA: &str = "apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: { name: web }
spec:
  scaleTargetRef: { apiVersion: apps/v1, kind: Deployment, name: web }
  minReplicas: 4
  maxReplicas: 8
";

async fn replicas(w: &World) -> Value {
    live_web(w).await["spec"]["replicas"].clone()
}

/// How long a real cluster's autoscaler controller may take to act: it
/// looks at each autoscaler every 15 s (`--horizontal-pod-autoscaler-sync-period`).
const REAL_AUTOSCALER_WAIT: std::time::Duration = std::time::Duration::from_secs(40);

/// Waits until the autoscaler's controller (the test server's stand-in, at
/// once, or a real cluster's own, at its next sync) has brought the
/// replicas to `n` and sync's cache has seen it.
async fn until_autoscaled_to(w: &World, n: u32) {
    let wait = if w.cluster.is_external() {
        REAL_AUTOSCALER_WAIT
    } else {
        sync_common::CACHE_WAIT
    };
    let version = eventually_within(wait, &format!("autoscaled to {n}"), async || {
        let live = live_web(w).await;
        let version = live["metadata"]["resourceVersion"].as_str()?.to_string();
        (live["spec"]["replicas"] == json!(n)).then_some(version)
    })
    .await;
    w.h.until_cached(("apps/v1", "Deployment"), (&w.ns, "web"), &version)
        .await;
}

/// The autoscaler's controller scaling on its metrics: it writes the
/// target's replicas (as kube-controller-manager does through the scale
/// subresource).
async fn autoscale_to(w: &World, n: u32) {
    let patch = json!({"spec": {"replicas": n}});
    let params = PatchParams {
        field_manager: Some("kube-controller-manager".into()),
        ..Default::default()
    };
    patch_deployment(w, &params, &Patch::Merge(patch)).await;
}

/// Passes in which the autoscaler keeps scaling: sync applies nothing and
/// leaves its replicas.
async fn assert_autoscaler_keeps_replicas(w: &World) {
    w.cluster.reset_requests();
    for n in [5, 6, 4] {
        autoscale_to(w, n).await;
        w.h.sync.sync_once().await.unwrap();
        assert_eq!(replicas(w).await, json!(n));
        let status = w.h.status().await;
        assert_eq!(status.state, SyncPhase::Verified, "{:?}", status.drifted);
        assert_eq!(
            status.autoscaled,
            [format!(
                "Deployment {}/web: spec.replicas left to HorizontalPodAutoscaler web",
                w.ns
            )]
        );
    }
    assert_requests(w, Verb::Apply, 0, "no pass applies");
    assert_eq!(drift_events(w).await, 0);
}

#[tokio::test]
async fn a_deployment_an_hpa_in_git_scales_is_never_scaled_back() {
    let w = started(&[
        (
            "envs/dev/web.yaml",
            &deployment("web", "ghcr.io/acme/web:1.0.0"),
        ),
        ("envs/dev/hpa.yaml", HPA),
    ])
    .await;
    until_autoscaled_to(&w, 4).await;
    // The fight the autoscaler's minimum used to start, pass after pass.
    w.cluster.reset_requests();
    for _ in 0..5 {
        w.h.sync.sync_once().await.unwrap();
        assert_eq!(replicas(&w).await, json!(4));
        assert_eq!(w.h.status().await.state, SyncPhase::Verified);
    }
    assert_requests(&w, Verb::Apply, 0, "no pass applies");
    assert_eq!(drift_events(&w).await, 0);
    assert_autoscaler_keeps_replicas(&w).await;
}

#[tokio::test]
async fn an_hpa_added_in_the_cluster_takes_the_replicas_over_without_a_dip() {
    let w = started(&[(
        "envs/dev/web.yaml",
        &deployment("web", "ghcr.io/acme/web:1.0.0"),
    )])
    .await;
    assert_eq!(replicas(&w).await, json!(2));
    let hpa: kube::api::DynamicObject = serde_saphyr::from_str(HPA).unwrap();
    w.cluster
        .api(("autoscaling/v2", "HorizontalPodAutoscaler"), &w.ns)
        .create(&Default::default(), &hpa)
        .await
        .unwrap();
    let cluster = w.h.cluster();
    let deadline = tokio::time::Instant::now() + sync_common::CACHE_WAIT;
    while cluster.autoscalers(&w.ns).await.unwrap().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the HPA never reached the cache"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    until_autoscaled_to(&w, 4).await;
    w.h.sync.sync_once().await.unwrap();
    assert_eq!(replicas(&w).await, json!(4), "the autoscaler's value stays");
    let handed = events_named(&w, "ReplicasHandedOver").await;
    assert_eq!(handed.len(), 1, "{handed:?}");
    assert!(
        handed[0]["note"]
            .as_str()
            .unwrap()
            .contains("spec.replicas left to HorizontalPodAutoscaler web"),
        "{handed:?}"
    );
    assert_autoscaler_keeps_replicas(&w).await;
}

#[tokio::test]
async fn replicas_removed_from_git_keep_their_live_value() {
    let manifest =
        deployment("web", "ghcr.io/acme/web:1.0.0").replace("replicas: 2", "replicas: 3");
    let w = started(&[("envs/dev/web.yaml", &manifest)]).await;
    assert_eq!(replicas(&w).await, json!(3));
    w.repo.commit(
        &[(
            "envs/dev/web.yaml",
            &manifest.replace("  replicas: 3\n", ""),
        )],
        "let replicas go",
    );
    w.h.sync.sync_once().await.unwrap();
    assert_eq!(
        replicas(&w).await,
        json!(3),
        "not reset to the default of 1"
    );
    let live = live_web(&w).await;
    let slipway = live["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["manager"] == "slipway")
        .unwrap();
    assert!(
        slipway["fieldsV1"]["f:spec"].get("f:replicas").is_none(),
        "slipway no longer owns spec.replicas: {slipway}"
    );
    assert_eq!(events_named(&w, "ReplicasHandedOver").await.len(), 1);
    assert_eq!(w.h.status().await.state, SyncPhase::Verified);
}

#[tokio::test]
async fn an_inventory_without_the_servers_form_gets_it_from_one_dry_run() {
    let manifest = deployment("web", "ghcr.io/acme/web:1.0.0").replace(
        "          image: ghcr.io/acme/web:1.0.0\n",
        "          image: ghcr.io/acme/web:1.0.0\n          resources: { requests: { cpu: \"0.5\" } }\n",
    );
    let w = started(&[("envs/dev/web.yaml", &manifest)]).await;
    // As recorded before the reference was kept.
    let older: Vec<_> =
        w.h.store
            .sync_inventory("web", "dev")
            .await
            .unwrap()
            .into_iter()
            .map(|mut e| {
                e.owned = None;
                e
            })
            .collect();
    w.h.store
        .update_sync_inventory("web", "dev", older, vec![])
        .await
        .unwrap();
    assert_no_drift_over_passes(&w).await;
    assert_requests(&w, Verb::DryRun, 1, "once, then kept");
    let kept = w.h.store.sync_inventory("web", "dev").await.unwrap();
    assert!(kept.iter().all(|e| e.owned.is_some()));
}
