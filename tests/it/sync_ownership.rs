//! Field ownership. Drift is judged on the server's form of the fields
//! Slipway applied: a hand edit is put back; what the server normalised or
//! defaulted, and fields another manager owns, are not drift. The replicas
//! of a workload a HorizontalPodAutoscaler scales are the autoscaler's, and
//! replicas that leave git keep their live value.

use crate::support;
use crate::sync_common;

use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};
use slipway::store::sync_state::SyncPhase;
use support::kube_api::{KubeApiServer, Verb};
use sync_common::{DeployRepo, Harness, ReportInbox, config_map, deployment};

const SLIPWAY_YAML: &str = "
apps:
  web:
    image: ghcr.io/acme/web
    environments:
      - { name: dev, path: envs/dev, namespace: web-dev, create_namespace: true, rollout_timeout_seconds: 10 }
";

async fn started(files: &[(&str, &str)]) -> (DeployRepo, KubeApiServer, Harness, ReportInbox) {
    let mut all = vec![("slipway.yaml", SLIPWAY_YAML)];
    all.extend_from_slice(files);
    let repo = DeployRepo::new(&all);
    let server = KubeApiServer::start().await.unwrap();
    let (h, inbox) = Harness::reporting(&repo, server.client().unwrap()).await;
    h.sync.sync_once().await.unwrap();
    assert_eq!(h.status().await.state, SyncPhase::Verified);
    (repo, server, h, inbox)
}

fn deployments(server: &KubeApiServer) -> kube::Api<kube::api::DynamicObject> {
    let resource = kube::api::ApiResource::from_gvk(&kube::core::GroupVersionKind::gvk(
        "apps",
        "v1",
        "Deployment",
    ));
    kube::Api::namespaced_with(server.client().unwrap(), "web-dev", &resource)
}

/// The Deployment `web` as sync's cache will see it after `patch` by
/// `params`' field manager: the cache has caught up on return.
async fn patch_deployment(
    server: &KubeApiServer,
    h: &Harness,
    params: &PatchParams,
    patch: &Patch<Value>,
) {
    let patched = deployments(server)
        .patch("web", params, patch)
        .await
        .unwrap();
    let version = patched.metadata.resource_version.unwrap();
    h.until_cached(("apps/v1", "Deployment"), ("web-dev", "web"), &version)
        .await;
}

/// Another writer touches the object, so its resourceVersion moves and
/// sync has to look at it again.
async fn touch(server: &KubeApiServer, h: &Harness, n: u32) {
    let patch = json!({"metadata": {"annotations": {"ops.example.com/touched": n.to_string()}}});
    patch_deployment(server, h, &PatchParams::default(), &Patch::Merge(patch)).await;
}

fn drift_events(server: &KubeApiServer) -> usize {
    server
        .list_objects("events.k8s.io/v1", "Event", Some("web-dev"))
        .iter()
        .filter(|e| e["reason"] == "DriftCorrected")
        .count()
}

fn live_container(server: &KubeApiServer) -> Value {
    let d = server
        .get_object("apps/v1", "Deployment", Some("web-dev"), "web")
        .unwrap();
    d["spec"]["template"]["spec"]["containers"][0].clone()
}

/// Three passes, each after another writer moved the resourceVersion: none
/// may apply anything or report drift.
async fn assert_no_drift_over_passes(server: &KubeApiServer, h: &Harness) {
    server.reset_stats();
    for n in 0..3 {
        touch(server, h, n).await;
        h.sync.sync_once().await.unwrap();
        let status = h.status().await;
        assert_eq!(status.state, SyncPhase::Verified, "{:?}", status.drifted);
    }
    assert_eq!(server.stats().verb(Verb::Apply), 0, "{:?}", server.stats());
    assert_eq!(drift_events(server), 0);
}

#[tokio::test]
async fn quantities_the_server_normalised_are_not_drift() {
    let manifest = deployment("web", "ghcr.io/acme/web:1.0.0").replace(
        "          image: ghcr.io/acme/web:1.0.0\n",
        "          image: ghcr.io/acme/web:1.0.0\n          resources:\n            requests: { cpu: \"0.5\", memory: 0.5Gi }\n            limits: { cpu: 1, memory: 1024Mi }\n",
    );
    let (_repo, server, h, _inbox) = started(&[("envs/dev/web.yaml", &manifest)]).await;
    let resources = live_container(&server)["resources"].clone();
    assert_eq!(
        resources,
        json!({"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}),
        "the server stores the canonical form"
    );
    assert_no_drift_over_passes(&server, &h).await;
}

#[tokio::test]
async fn another_managers_env_var_is_kept_and_is_not_drift() {
    let manifest = deployment("web", "ghcr.io/acme/web:1.0.0").replace(
        "          image: ghcr.io/acme/web:1.0.0\n",
        "          image: ghcr.io/acme/web:1.0.0\n          env: [{ name: GREETING, value: hello }]\n",
    );
    let (_repo, server, h, _inbox) = started(&[("envs/dev/web.yaml", &manifest)]).await;
    let alice = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "web-dev"},
        "spec": {"template": {"spec": {"containers": [{"name": "web",
            "env": [{"name": "ALICE_DEBUG", "value": "1"}]}]}}}});
    patch_deployment(
        &server,
        &h,
        &PatchParams::apply("alice"),
        &Patch::Apply(alice),
    )
    .await;
    assert_no_drift_over_passes(&server, &h).await;
    let env: Vec<Value> = live_container(&server)["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].clone())
        .collect();
    assert_eq!(env, [json!("GREETING"), json!("ALICE_DEBUG")], "both kept");
}

#[tokio::test]
async fn an_image_set_by_hand_is_put_back_and_named_as_the_drifted_field() {
    let (_repo, server, h, _inbox) = started(&[(
        "envs/dev/web.yaml",
        &deployment("web", "ghcr.io/acme/web:1.0.0"),
    )])
    .await;
    let patch = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "web", "image": "ghcr.io/acme/web:hotfix"}]}}}});
    deployments(&server)
        .patch("web", &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .unwrap();
    server.reset_stats();
    h.sync.sync_once().await.unwrap();
    assert_eq!(live_container(&server)["image"], "ghcr.io/acme/web:1.0.0");
    assert_eq!(server.stats().verb(Verb::Apply), 1);
    let status = h.status().await;
    assert_eq!(status.state, SyncPhase::Drifted);
    assert!(
        status.drifted[0].ends_with("/spec/template/spec/containers[name=web]/image"),
        "{:?}",
        status.drifted
    );
    assert_eq!(drift_events(&server), 1);
}

#[tokio::test]
async fn a_hand_edit_in_the_cluster_is_put_back_and_reported_as_drift() {
    let (_repo, server, h, _inbox) =
        started(&[("envs/dev/config.yaml", &config_map("web", "a"))]).await;
    let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(server.client().unwrap(), "web-dev");
    let edit = json!({"data": {"key": "edited by hand"}});
    let edited = api
        .patch("web", &PatchParams::default(), &Patch::Merge(&edit))
        .await
        .unwrap();
    let version = edited.metadata.resource_version.unwrap();
    h.until_cached(("v1", "ConfigMap"), ("web-dev", "web"), &version)
        .await;
    server.reset_stats();
    h.sync.sync_once().await.unwrap();
    let live = server
        .get_object("v1", "ConfigMap", Some("web-dev"), "web")
        .unwrap();
    assert_eq!(live["data"]["key"], "a", "put back");
    assert_eq!(
        server.stats().verb(Verb::Apply),
        1,
        "only the drifted object is applied"
    );
    let status = h.status().await;
    assert_eq!(status.state, SyncPhase::Drifted);
    assert!(
        status.drifted[0].contains("ConfigMap web-dev/web")
            && status.drifted[0].contains("/data/key"),
        "{:?}",
        status.drifted
    );
    h.sync.sync_once().await.unwrap();
    assert_eq!(
        h.status().await.state,
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

fn replicas(server: &KubeApiServer) -> Value {
    server
        .get_object("apps/v1", "Deployment", Some("web-dev"), "web")
        .unwrap()["spec"]["replicas"]
        .clone()
}

/// The autoscaler's controller at work: it writes the target's replicas
/// (as kube-controller-manager does through the scale subresource).
async fn autoscale_to(server: &KubeApiServer, h: &Harness, n: u32) {
    let patch = json!({"spec": {"replicas": n}});
    let params = PatchParams {
        field_manager: Some("kube-controller-manager".into()),
        ..Default::default()
    };
    patch_deployment(server, h, &params, &Patch::Merge(patch)).await;
}

fn events_named(server: &KubeApiServer, reason: &str) -> Vec<Value> {
    server
        .list_objects("events.k8s.io/v1", "Event", Some("web-dev"))
        .into_iter()
        .filter(|e| e["reason"] == reason)
        .collect()
}

/// Passes in which the autoscaler keeps scaling: sync applies nothing and
/// leaves its replicas.
async fn assert_autoscaler_keeps_replicas(server: &KubeApiServer, h: &Harness) {
    server.reset_stats();
    for n in [5, 6, 4] {
        autoscale_to(server, h, n).await;
        h.sync.sync_once().await.unwrap();
        assert_eq!(replicas(server), json!(n));
        let status = h.status().await;
        assert_eq!(status.state, SyncPhase::Verified, "{:?}", status.drifted);
        assert_eq!(
            status.autoscaled,
            ["Deployment web-dev/web: spec.replicas left to HorizontalPodAutoscaler web"]
        );
    }
    assert_eq!(server.stats().verb(Verb::Apply), 0, "{:?}", server.stats());
    assert_eq!(drift_events(server), 0);
}

#[tokio::test]
async fn a_deployment_an_hpa_in_git_scales_is_never_scaled_back() {
    let (_repo, server, h, _inbox) = started(&[
        (
            "envs/dev/web.yaml",
            &deployment("web", "ghcr.io/acme/web:1.0.0"),
        ),
        ("envs/dev/hpa.yaml", HPA),
    ])
    .await;
    autoscale_to(&server, &h, 4).await;
    assert_autoscaler_keeps_replicas(&server, &h).await;
}

#[tokio::test]
async fn an_hpa_added_in_the_cluster_takes_the_replicas_over_without_a_dip() {
    let (_repo, server, h, _inbox) = started(&[(
        "envs/dev/web.yaml",
        &deployment("web", "ghcr.io/acme/web:1.0.0"),
    )])
    .await;
    assert_eq!(replicas(&server), json!(2));
    let hpa: kube::api::DynamicObject = serde_saphyr::from_str(HPA).unwrap();
    let resource = kube::api::ApiResource::from_gvk(&kube::core::GroupVersionKind::gvk(
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
    ));
    kube::Api::<kube::api::DynamicObject>::namespaced_with(
        server.client().unwrap(),
        "web-dev",
        &resource,
    )
    .create(&Default::default(), &hpa)
    .await
    .unwrap();
    let cluster = h.cluster();
    let deadline = tokio::time::Instant::now() + sync_common::CACHE_WAIT;
    while cluster.autoscalers("web-dev").await.unwrap().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the HPA never reached the cache"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    autoscale_to(&server, &h, 4).await;
    h.sync.sync_once().await.unwrap();
    assert_eq!(replicas(&server), json!(4), "the autoscaler's value stays");
    let handed = events_named(&server, "ReplicasHandedOver");
    assert_eq!(handed.len(), 1, "{handed:?}");
    assert!(
        handed[0]["note"]
            .as_str()
            .unwrap()
            .contains("spec.replicas left to HorizontalPodAutoscaler web"),
        "{handed:?}"
    );
    assert_autoscaler_keeps_replicas(&server, &h).await;
}

#[tokio::test]
async fn replicas_removed_from_git_keep_their_live_value() {
    let manifest =
        deployment("web", "ghcr.io/acme/web:1.0.0").replace("replicas: 2", "replicas: 3");
    let (repo, server, h, _inbox) = started(&[("envs/dev/web.yaml", &manifest)]).await;
    assert_eq!(replicas(&server), json!(3));
    repo.commit(
        &[(
            "envs/dev/web.yaml",
            &manifest.replace("  replicas: 3\n", ""),
        )],
        "let replicas go",
    );
    h.sync.sync_once().await.unwrap();
    assert_eq!(replicas(&server), json!(3), "not reset to the default of 1");
    let live = server
        .get_object("apps/v1", "Deployment", Some("web-dev"), "web")
        .unwrap();
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
    assert_eq!(events_named(&server, "ReplicasHandedOver").len(), 1);
    assert_eq!(h.status().await.state, SyncPhase::Verified);
}

#[tokio::test]
async fn an_inventory_without_the_servers_form_gets_it_from_one_dry_run() {
    let manifest = deployment("web", "ghcr.io/acme/web:1.0.0").replace(
        "          image: ghcr.io/acme/web:1.0.0\n",
        "          image: ghcr.io/acme/web:1.0.0\n          resources: { requests: { cpu: \"0.5\" } }\n",
    );
    let (_repo, server, h, _inbox) = started(&[("envs/dev/web.yaml", &manifest)]).await;
    // As recorded before the reference was kept.
    let older: Vec<_> = h
        .store
        .sync_inventory("web", "dev")
        .await
        .unwrap()
        .into_iter()
        .map(|mut e| {
            e.owned = None;
            e
        })
        .collect();
    h.store
        .update_sync_inventory("web", "dev", older, vec![])
        .await
        .unwrap();
    assert_no_drift_over_passes(&server, &h).await;
    let stats = server.stats();
    assert_eq!(stats.verb(Verb::DryRun), 1, "once, then kept: {stats:?}");
    let kept = h.store.sync_inventory("web", "dev").await.unwrap();
    assert!(kept.iter().all(|e| e.owned.is_some()));
}
