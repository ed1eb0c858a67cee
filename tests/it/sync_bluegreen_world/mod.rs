//! The blue-green sync tests' world: a deploy repo whose app `web` in `dev`
//! rolls out with a given strategy, the API test server with simulated pods,
//! a sync harness reporting to an inbox, and what the tests look at (the
//! colour the Service selects, the Deployments, the stored rollout record).
//! Each test crate uses a part of it, so unused items are expected.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use slipway::store::rollout::RolloutPhase;
use slipway::store::sync_state::TargetStatus;
use slipway::sync::cluster::{ClusterTarget, KubeCluster};

use crate::support::colours::{Colours, TrafficLog};
use crate::support::kube_api::{KubeApiServer, ServerConfig};
use crate::sync_common::{DeployRepo, Harness, ReportInbox, deployment, reporter};

/// Upper bound on waiting for a phase; a guard, not a timing assertion.
const WAIT_LIMIT: Duration = Duration::from_secs(20);

pub fn slipway_yaml(strategy: &str) -> String {
    format!(
        "
apps:
  web:
    image: ghcr.io/acme/web
    kinds: [Namespace, Deployment, Service, ConfigMap]
    environments:
      - name: dev
        path: envs/dev
        namespace: web-dev
        rollout_timeout_seconds: 5
        strategy: {strategy}
"
    )
}

pub const AUTO: &str = "{blue_green: {drain_seconds: 1}}";
pub const MANUAL: &str = "{blue_green: {drain_seconds: 1, auto_promote: false}}";
const SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports: [{port: 80}]\n";

pub fn repo(strategy: &str, image: &str) -> DeployRepo {
    DeployRepo::new(&[
        ("slipway.yaml", &slipway_yaml(strategy)),
        (
            "envs/dev/ns.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: web-dev}\n",
        ),
        ("envs/dev/web.yaml", &deployment("web", image)),
        ("envs/dev/svc.yaml", SERVICE),
    ])
}

pub fn bump(repo: &DeployRepo, image: &str) -> String {
    repo.set_web_image(image, "bump")
}

pub struct World {
    pub server: KubeApiServer,
    pub harness: Harness,
    pub inbox: ReportInbox,
}

pub async fn world(repo: &DeployRepo) -> World {
    let config = ServerConfig {
        rollout_delay: Duration::from_millis(50),
        ..ServerConfig::default()
    };
    let server = KubeApiServer::start_with(config).await.unwrap();
    let (inbox, url) = ReportInbox::start().await;
    let cluster = ClusterTarget::Kube(KubeCluster::new(server.client().unwrap()));
    let harness = Harness::new(repo, cluster, Some(reporter(&url)));
    World {
        server,
        harness,
        inbox,
    }
}

const COLOURS: Colours = Colours {
    namespace: "web-dev",
    service: "web",
};

/// The repo at `ghcr.io/acme/web:1.0.0` rolled out with `strategy`, its
/// world, and the revision of the first colour after the first pass.
pub async fn started(strategy: &str) -> (DeployRepo, Arc<World>, String) {
    let repo = repo(strategy, "ghcr.io/acme/web:1.0.0");
    let world = Arc::new(world(&repo).await);
    world.pass().await;
    let first = world.stable().await;
    (repo, world, first)
}

/// A sync pass run in the background.
pub fn background_pass(world: &Arc<World>) -> tokio::task::JoinHandle<()> {
    let world = world.clone();
    tokio::spawn(async move { world.pass().await })
}

impl World {
    /// One sync pass, which must succeed.
    pub async fn pass(&self) {
        self.harness.sync.sync_once().await.unwrap();
    }

    /// The revision the Service `web` selects, when it exists.
    pub fn serving(&self) -> Option<String> {
        COLOURS.serving(&self.server)
    }

    /// `revision`'s colour is the only Deployment in the namespace.
    pub fn assert_only_colour(&self, revision: &str, case: &str) {
        assert_eq!(self.deployments(), [format!("web-{revision}")], "{case}");
    }

    /// Names of the Deployments in the namespace.
    pub fn deployments(&self) -> Vec<String> {
        COLOURS.deployments(&self.server)
    }

    /// One sync pass with the Service `web` watched while it runs; what it selected.
    pub async fn watched_pass(self: &Arc<Self>) -> TrafficLog {
        let world = self.clone();
        let (log, watcher) = TrafficLog::watch(move || COLOURS.observe(&world.server, "web"));
        self.pass().await;
        watcher.abort();
        log
    }

    pub async fn status(&self) -> TargetStatus {
        self.harness.status().await
    }

    /// The stable colour's revision in the record.
    pub async fn stable(&self) -> String {
        let status = self.status().await;
        status
            .rollout
            .and_then(|r| r.stable)
            .map(|s| s.revision)
            .unwrap_or_default()
    }

    /// The new colour's revision in the record.
    pub async fn candidate(&self) -> String {
        let record = self.status().await.rollout.unwrap();
        record.candidate.unwrap().revision
    }

    /// Wait until the record reaches `phase` (a pass runs in the background).
    pub async fn until_phase(&self, phase: RolloutPhase) {
        let deadline = tokio::time::Instant::now() + WAIT_LIMIT;
        loop {
            let status = self.harness.store.sync_status("web", "dev").await.unwrap();
            if status
                .and_then(|s| s.rollout)
                .is_some_and(|r| r.phase == phase)
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "never reached {phase:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// One colour serves, it is the only Deployment, and nothing is in flight.
pub async fn exactly_one_colour(world: &World, want: &str, case: &str) {
    let serving = world.serving().unwrap_or_default();
    assert_eq!(
        serving, want,
        "{case}: the Service selects the expected colour"
    );
    world.assert_only_colour(want, &format!("{case}: no stale colour"));
    let record = world.status().await.rollout.unwrap();
    assert_eq!(record.phase, RolloutPhase::Idle, "{case}");
    assert!(record.candidate.is_none(), "{case}");
}
