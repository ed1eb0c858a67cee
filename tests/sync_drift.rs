//! Drift, judged on the server's form of the fields Slipway applied: a hand
//! edit is put back; what the server normalised or defaulted, and fields
//! another manager owns, are not drift.

mod support;
mod sync_common;

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

/// Another writer (field manager `ops`) touches the object, so its
/// resourceVersion moves and sync has to look at it again.
async fn touch(server: &KubeApiServer, n: u32) {
    let patch = json!({"metadata": {"annotations": {"ops.example.com/touched": n.to_string()}}});
    deployments(server)
        .patch("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
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
        touch(server, n).await;
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
    deployments(&server)
        .patch("web", &PatchParams::apply("alice"), &Patch::Apply(&alice))
        .await
        .unwrap();
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
    api.patch("web", &PatchParams::default(), &Patch::Merge(&edit))
        .await
        .unwrap();
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
