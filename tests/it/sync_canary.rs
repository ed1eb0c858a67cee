//! Canary rollouts against the API test server and its simulated pods, and a
//! real Prometheus for the analyses: replica-ratio steps, Gateway API
//! weights, `pause: {}` with promote, aborts, a sync stopped at each step,
//! and an analysis that passes and then one that fails for real.

use crate::support;
use crate::sync_common;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use slipway::store::rollout::{RolloutEnd, RolloutPhase};
use slipway::store::sync_state::{SyncPhase, TargetStatus};
use slipway::sync::cluster::{ClusterTarget, KubeCluster};
use support::kube_api::{KubeApiServer, ServerConfig};
use support::prometheus::{MetricsTarget, Prometheus};
use sync_common::{DeployRepo, Harness};

/// Upper bound on waiting for a phase; a guard, not a timing assertion.
const WAIT_LIMIT: Duration = Duration::from_secs(30);

fn slipway_yaml(canary: &str, analyses: &str) -> String {
    format!(
        "
apps:
  web:
    image: ghcr.io/acme/web
    kinds: [Namespace, Deployment, Service, ConfigMap, HTTPRoute]
    environments:
      - name: dev
        path: envs/dev
        namespace: web-dev
        rollout_timeout_seconds: 10
        strategy: {{canary: {canary}}}
{analyses}"
    )
}

fn deployment(image: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: 4
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec: {{containers: [{{name: web, image: '{image}'}}]}}
"
    )
}

const SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports: [{port: 80}]\n";
const ROUTE: &str = "apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web}
spec:
  parentRefs: [{name: gateway}]
  rules:
    - backendRefs: [{name: web, port: 80}]
";

struct World {
    server: KubeApiServer,
    harness: Harness,
    repo: DeployRepo,
}

async fn world(canary: &str, analyses: &str, route: bool) -> Arc<World> {
    let mut files = vec![
        ("slipway.yaml".to_string(), slipway_yaml(canary, analyses)),
        (
            "envs/dev/ns.yaml".into(),
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: web-dev}\n".into(),
        ),
        (
            "envs/dev/web.yaml".into(),
            deployment("ghcr.io/acme/web:1.0.0"),
        ),
        ("envs/dev/svc.yaml".into(), SERVICE.into()),
    ];
    if route {
        files.push(("envs/dev/route.yaml".into(), ROUTE.into()));
    }
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    let repo = DeployRepo::new(&files);
    let config = ServerConfig {
        rollout_delay: Duration::from_millis(50),
        ..ServerConfig::default()
    };
    let server = KubeApiServer::start_with(config).await.unwrap();
    if route {
        serve_httproutes(&server).await;
    }
    let cluster = ClusterTarget::Kube(KubeCluster::new(server.client().unwrap()));
    let harness = Harness::new(&repo, cluster, None);
    harness.sync.sync_once().await.unwrap();
    assert_eq!(
        harness.status().await.state,
        SyncPhase::Verified,
        "the first revision rolls as rolling does"
    );
    Arc::new(World {
        server,
        harness,
        repo,
    })
}

/// Apply the HTTPRoute CRD fixture and wait until the kind is served.
async fn serve_httproutes(server: &KubeApiServer) {
    use kube::api::{Api, DynamicObject, Patch, PatchParams};
    use kube::core::GroupVersionKind;
    use kube::discovery::pinned_kind;
    let client = server.client().unwrap();
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/gateway-api/httproute-crd.yaml"
    );
    let crd: Value = serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let gvk = GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition");
    let (crds, _) = pinned_kind(&client, &gvk).await.unwrap();
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &crds);
    let name = crd["metadata"]["name"].as_str().unwrap();
    api.patch(name, &PatchParams::apply("test"), &Patch::Apply(&crd))
        .await
        .unwrap();
    let gvk = GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "HTTPRoute");
    let deadline = tokio::time::Instant::now() + WAIT_LIMIT;
    while pinned_kind(&client, &gvk).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "HTTPRoute never served"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

impl World {
    fn bump(&self, image: &str) {
        self.repo
            .commit(&[("envs/dev/web.yaml", &deployment(image))], "bump");
    }

    fn deployment(&self, name: &str) -> Option<Value> {
        self.server
            .get_object("apps/v1", "Deployment", Some("web-dev"), name)
    }

    /// (replicas, image) of a Deployment.
    fn shape(&self, name: &str) -> Option<(i64, String)> {
        let d = self.deployment(name)?;
        Some((
            d["spec"]["replicas"].as_i64().unwrap_or_default(),
            d["spec"]["template"]["spec"]["containers"][0]["image"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        ))
    }

    /// (backend name, weight) of the route's first rule.
    fn weights(&self) -> Vec<(String, i64)> {
        let route = self
            .server
            .get_object(
                "gateway.networking.k8s.io/v1",
                "HTTPRoute",
                Some("web-dev"),
                "web",
            )
            .unwrap();
        route["spec"]["rules"][0]["backendRefs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b["name"].as_str().unwrap().to_string(),
                    b["weight"].as_i64().unwrap_or(1),
                )
            })
            .collect()
    }

    async fn status(&self) -> TargetStatus {
        self.harness.status().await
    }

    async fn until(&self, what: &str, check: impl Fn(&TargetStatus) -> bool) {
        let deadline = tokio::time::Instant::now() + WAIT_LIMIT;
        loop {
            if let Some(status) = self.harness.store.sync_status("web", "dev").await.unwrap()
                && check(&status)
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "never reached: {what}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn background_pass(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let world = self.clone();
        tokio::spawn(async move {
            world.harness.sync.sync_once().await.unwrap();
        })
    }

    /// Only the stable version serves: `web` at full size on `image`, no canary.
    async fn only_stable(&self, image: &str, case: &str) {
        assert_eq!(
            self.shape("web"),
            Some((4, image.to_string())),
            "{case}: stable"
        );
        assert!(
            self.deployment("web-canary").is_none(),
            "{case}: the canary is gone"
        );
        let record = self.status().await.rollout.unwrap();
        assert_eq!(record.phase, RolloutPhase::Idle, "{case}");
        assert!(record.candidate.is_none(), "{case}");
    }
}

fn step(status: &TargetStatus) -> (RolloutPhase, usize) {
    let record = status.rollout.as_ref().unwrap();
    (record.phase, record.step)
}

const OLD: &str = "ghcr.io/acme/web:1.0.0";
const NEW: &str = "ghcr.io/acme/web:2.0.0";

#[tokio::test]
async fn replica_ratio_steps_pause_for_promote_then_promote_the_stable_deployment() {
    let world = world(
        "{steps: [{weight: 25}, {pause: {}}, {weight: 50}, {pause: {}}, {weight: 100}]}",
        "",
        false,
    )
    .await;
    world.bump(NEW);
    world.harness.sync.sync_once().await.unwrap();
    let status = world.status().await;
    assert_eq!(status.state, SyncPhase::Paused);
    assert_eq!(step(&status), (RolloutPhase::Paused, 1));
    assert_eq!(
        world.shape("web"),
        Some((3, OLD.into())),
        "the stable keeps 3 of 4"
    );
    assert_eq!(
        world.shape("web-canary"),
        Some((1, NEW.into())),
        "the canary gets 1 of 4"
    );
    let canary = world.deployment("web-canary").unwrap();
    assert_eq!(
        canary["spec"]["template"]["metadata"]["labels"]["app"], "web",
        "behind the one Service"
    );
    assert_eq!(status.rollout.as_ref().unwrap().weight, 25);

    world.harness.ctx.rollouts.promote.request("web", "dev");
    world.harness.sync.sync_once().await.unwrap();
    assert_eq!(step(&world.status().await), (RolloutPhase::Paused, 3));
    assert_eq!(world.shape("web"), Some((2, OLD.into())));
    assert_eq!(world.shape("web-canary"), Some((2, NEW.into())));

    world.harness.ctx.rollouts.promote.request("web", "dev");
    world.harness.sync.sync_once().await.unwrap();
    world.only_stable(NEW, "promoted").await;
    let status = world.status().await;
    assert_eq!(status.state, SyncPhase::Verified);
    assert_eq!(status.rollout.unwrap().end, Some(RolloutEnd::Promoted));
}

#[tokio::test]
async fn gateway_api_weights_move_on_the_route_and_are_reset_after_promotion() {
    let world = world(
        "{steps: [{weight: 10}, {pause: {}}, {weight: 100}], traffic: gateway_api}",
        "",
        true,
    )
    .await;
    assert_eq!(world.weights(), [("web".to_string(), 1)]);
    world.bump(NEW);
    world.harness.sync.sync_once().await.unwrap();
    assert_eq!(
        world.weights(),
        [("web".to_string(), 90), ("web-canary".to_string(), 10)]
    );
    let service = world
        .server
        .get_object("v1", "Service", Some("web-dev"), "web-canary")
        .expect("the canary's own Service");
    assert_eq!(service["spec"]["selector"]["app"], "web-canary");
    assert_eq!(
        world.shape("web"),
        Some((4, OLD.into())),
        "the stable keeps its size"
    );
    let canary = world.deployment("web-canary").unwrap();
    assert_eq!(
        canary["spec"]["template"]["metadata"]["labels"]["app"], "web-canary",
        "set apart from the stable Service"
    );

    world.harness.ctx.rollouts.promote.request("web", "dev");
    world.harness.sync.sync_once().await.unwrap();
    world.only_stable(NEW, "promoted").await;
    assert_eq!(
        world.weights(),
        [("web".to_string(), 1)],
        "the route as git has it"
    );
    assert!(
        world
            .server
            .get_object("v1", "Service", Some("web-dev"), "web-canary")
            .is_none()
    );
}

#[tokio::test]
async fn an_abort_at_each_step_leaves_only_the_stable_version_serving() {
    let cases = [
        (
            "at a weight step",
            "{steps: [{weight: 50}, {pause: {}}]}",
            RolloutPhase::Paused,
        ),
        (
            "in a timed pause",
            "{steps: [{weight: 50}, {pause: 30s}]}",
            RolloutPhase::Stepping,
        ),
    ];
    for (case, steps, phase) in cases {
        let world = world(steps, "", false).await;
        world.bump(NEW);
        let pass = world.background_pass();
        world
            .until(case, |s| {
                s.rollout
                    .as_ref()
                    .is_some_and(|r| r.phase == phase && r.step == 1)
            })
            .await;
        world.harness.ctx.rollouts.abort.request("web", "dev");
        pass.await.unwrap();
        world.harness.sync.sync_once().await.unwrap();
        world.only_stable(OLD, case).await;
        let status = world.status().await;
        assert_eq!(status.state, SyncPhase::RolledBack, "{case}");
        let record = status.rollout.unwrap();
        assert_eq!(record.end, Some(RolloutEnd::Aborted), "{case}");
        assert!(
            record.cause.unwrap().contains("step 2"),
            "{case}: names the step"
        );
    }
}

#[tokio::test]
async fn a_failed_canary_is_cleaned_up_and_held() {
    let world = world("{steps: [{weight: 25}, {pause: {}}]}", "", false).await;
    world.bump("ghcr.io/acme/web:2.0.0-crash");
    world.harness.sync.sync_once().await.unwrap();
    world.only_stable(OLD, "failed").await;
    let status = world.status().await;
    assert_eq!(status.state, SyncPhase::RolledBack);
    assert!(
        status
            .failed_reason
            .as_deref()
            .unwrap_or_default()
            .contains("step 1 (weight 25%)"),
        "{:?}",
        status.failed_reason
    );
    world.harness.sync.sync_once().await.unwrap();
    world.only_stable(OLD, "held").await;
}

#[tokio::test]
async fn a_sync_stopped_at_each_step_resumes_there() {
    let steps = "{steps: [{weight: 25}, {pause: 1s}, {weight: 50}, {pause: 1s}, {weight: 100}]}";
    for stop_at in 0..4 {
        let world = world(steps, "", false).await;
        world.bump(NEW);
        let pass = world.background_pass();
        world
            .until("the step", |s| {
                s.rollout
                    .as_ref()
                    .is_some_and(|r| r.step == stop_at && r.phase == RolloutPhase::Stepping)
            })
            .await;
        pass.abort();
        let _ = pass.await;
        world.harness.sync.sync_once().await.unwrap();
        world
            .only_stable(NEW, &format!("stopped at step {}", stop_at + 1))
            .await;
        assert_eq!(world.status().await.state, SyncPhase::Verified);
    }
}

#[tokio::test]
async fn a_newer_revision_during_the_cleanup_waits_then_starts_clean() {
    let world = world("{steps: [{weight: 25}, {pause: {}}]}", "", false).await;
    world.bump(NEW);
    world.harness.sync.sync_once().await.unwrap();
    let mut status = world.status().await;
    let record = status.rollout.as_mut().unwrap();
    record.phase = RolloutPhase::CleaningUp;
    record.end = Some(RolloutEnd::Aborted);
    world.harness.store.put_sync_status(status).await.unwrap();

    world.bump("ghcr.io/acme/web:3.0.0");
    world.harness.sync.sync_once().await.unwrap();
    let status = world.status().await;
    // The cleanup ran first (the aborted content is held); the newer content
    // then started from the stable revision alone.
    assert_eq!(
        step(&status),
        (RolloutPhase::Paused, 1),
        "{:?}",
        status.last_error
    );
    assert_eq!(world.shape("web"), Some((3, OLD.into())));
    assert_eq!(
        world.shape("web-canary"),
        Some((1, "ghcr.io/acme/web:3.0.0".into()))
    );
}

#[tokio::test]
async fn a_canary_with_an_analysis_is_promoted_on_good_metrics_and_cleaned_up_on_bad_ones() {
    let target = MetricsTarget::start().await;
    let prometheus = Prometheus::start(&target).await;
    prometheus.until_scraped().await;
    let analyses = format!(
        "analyses:
  errors:
    prometheus: {{url: '{}'}}
    query: 'canary_error_ratio{{app=\"{{{{app}}}}\",revision=\"{{{{revision}}}}\"}}'
    success: '< 0.05'
    interval: 1s
    count: 2
",
        prometheus.url
    );
    let steps =
        "{steps: [{weight: 25}, {pause: 2s}, {analysis: errors}, {weight: 50}, {weight: 100}]}";
    for (case, ratio, promoted) in [("good metrics", 0.01, true), ("bad metrics", 0.5, false)] {
        let world = world(steps, &analyses, false).await;
        world.bump(if promoted {
            NEW
        } else {
            "ghcr.io/acme/web:2.0.1"
        });
        let pass = world.background_pass();
        world
            .until(case, |s| {
                s.rollout.as_ref().is_some_and(|r| r.candidate.is_some())
            })
            .await;
        let revision = world
            .status()
            .await
            .rollout
            .unwrap()
            .candidate
            .unwrap()
            .revision;
        target.set(
            &format!("canary_error_ratio{{app=\"web\",revision=\"{revision}\"}}"),
            ratio,
        );
        pass.await.unwrap();
        let status = world.status().await;
        let record = status.rollout.clone().unwrap();
        if promoted {
            assert_eq!(
                record.end,
                Some(RolloutEnd::Promoted),
                "{case}: {:?}",
                record.cause
            );
            world.only_stable(NEW, case).await;
            assert_eq!(
                status.state,
                SyncPhase::Verified,
                "{case}: {:?}",
                status.last_error
            );
        } else {
            world.only_stable(OLD, case).await;
            assert_eq!(status.state, SyncPhase::RolledBack, "{case}");
            assert_eq!(record.end, Some(RolloutEnd::Failed));
            let cause = record.cause.unwrap();
            assert!(
                cause.contains("step 3 (analysis errors)"),
                "{case}: {cause}"
            );
            assert!(cause.contains("0.5"), "{case}: the values seen: {cause}");
        }
    }
    drop(prometheus);
}
