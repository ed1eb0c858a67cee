//! The sync loop's triggers and mutual exclusion: a nudge starts a sync at
//! once (not at the next poll), a hand edit is put back as soon as its
//! watch event arrives, and a Lease keeps two replicas from rolling
//! out the same app/environment together.

use crate::support;
use crate::sync_common;

use std::time::{Duration, Instant};

use slipway::sync::cluster::{ClusterTarget, KubeCluster};
use slipway::sync::lock::{LeaseConfig, RolloutLocks, lease_name};
use slipway::sync::runner::TargetOutcome;
use support::kube_api::KubeApiServer;
use sync_common::{DeployRepo, Harness, config_map};

const SLIPWAY: &str = "
apps:
  web:
    image: ghcr.io/acme/web
    environments:
      - { name: dev, path: envs/dev, namespace: default }
";

/// Longest the tests wait for something that should take well under a second.
const PATIENCE: Duration = Duration::from_secs(10);

fn leases(server: &KubeApiServer, identity: &str) -> RolloutLocks {
    RolloutLocks::new(Some(LeaseConfig {
        client: server.client().unwrap(),
        namespace: "default".into(),
        identity: identity.into(),
        duration_seconds: 5,
    }))
}

/// A running loop (the poll interval is an hour) over one ConfigMap `c`,
/// after its first pass applied it.
struct RunningLoop {
    repo: DeployRepo,
    server: KubeApiServer,
    nudge: std::sync::Arc<tokio::sync::Notify>,
    stop: tokio::sync::oneshot::Sender<()>,
    running: tokio::task::JoinHandle<()>,
}

impl RunningLoop {
    async fn start() -> Self {
        let repo = DeployRepo::new(&[
            ("slipway.yaml", SLIPWAY),
            ("envs/dev/c.yaml", &config_map("c", "1")),
        ]);
        let server = KubeApiServer::start().await.unwrap();
        let cluster = ClusterTarget::Kube(KubeCluster::new(server.client().unwrap()));
        let h = Harness::new(&repo, cluster, None);
        let nudge = h.sync.nudge_handle();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(h.sync.clone().run(async {
            let _ = stopped.await;
        }));
        let started = RunningLoop {
            repo,
            server,
            nudge,
            stop,
            running,
        };
        let latency = started.until_value("1").await;
        println!("start to applied: {latency:?}");
        started
    }

    fn value(&self) -> Option<String> {
        self.server
            .get_object("v1", "ConfigMap", Some("default"), "c")
            .and_then(|c| c["data"]["key"].as_str().map(String::from))
    }

    /// Wait (at most [`PATIENCE`]) until `c` holds `want`; how long it took.
    async fn until_value(&self, want: &str) -> Duration {
        let since = Instant::now();
        while self.value().as_deref() != Some(want) && since.elapsed() < PATIENCE {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(self.value().as_deref(), Some(want));
        since.elapsed()
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.running.await.unwrap();
    }
}

#[tokio::test]
async fn a_nudge_applies_a_new_commit_without_waiting_for_the_poll() {
    let running = RunningLoop::start().await;
    running
        .repo
        .commit(&[("envs/dev/c.yaml", &config_map("c", "2"))], "change");
    running.nudge.notify_one();
    let latency = running.until_value("2").await;
    println!("nudge to applied: {latency:?}");
    running.stop().await;
}

#[tokio::test]
async fn a_hand_edit_is_put_back_on_its_watch_event_without_waiting_for_the_poll() {
    let running = RunningLoop::start().await;
    let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(running.server.client().unwrap(), "default");
    let edit = serde_json::json!({"data": {"key": "by hand"}});
    api.patch("c", &Default::default(), &kube::api::Patch::Merge(&edit))
        .await
        .unwrap();
    let latency = running.until_value("1").await;
    println!("hand edit to put back: {latency:?}");
    running.stop().await;
}

#[tokio::test]
async fn a_lease_held_by_another_replica_keeps_this_one_out_until_released() {
    let server = KubeApiServer::start().await.unwrap();
    let first = leases(&server, "replica-a");
    let second = leases(&server, "replica-b");
    let held = first.try_acquire("web", "dev").await.unwrap();
    assert!(held.is_some(), "the first replica takes the lease");
    let lease = server
        .get_object(
            "coordination.k8s.io/v1",
            "Lease",
            Some("default"),
            &lease_name("web", "dev"),
        )
        .unwrap();
    assert_eq!(lease["spec"]["holderIdentity"], "replica-a");
    assert!(
        second.try_acquire("web", "dev").await.unwrap().is_none(),
        "the second replica stays out"
    );
    assert!(
        second.try_acquire("web", "prod").await.unwrap().is_some(),
        "other targets are free"
    );

    drop(held);
    let deadline = Instant::now() + PATIENCE;
    let mut taken = None;
    while taken.is_none() && Instant::now() < deadline {
        taken = second.try_acquire("web", "dev").await.unwrap();
    }
    assert!(taken.is_some(), "released on drop, then taken over");
}

#[tokio::test]
async fn a_replica_without_the_lease_skips_the_target_and_the_holder_syncs_it() {
    let repo = DeployRepo::new(&[
        ("slipway.yaml", SLIPWAY),
        ("envs/dev/c.yaml", &config_map("c", "1")),
    ]);
    let server = KubeApiServer::start().await.unwrap();
    let holder = leases(&server, "replica-a");
    let _held = holder.try_acquire("web", "dev").await.unwrap().unwrap();
    let cluster = ClusterTarget::Kube(KubeCluster::new(server.client().unwrap()));
    let h = Harness::with_locks(&repo, cluster, None, leases(&server, "replica-b"));
    let report = h.sync.sync_once().await.unwrap();
    assert!(matches!(report.targets[0].2, TargetOutcome::Busy));
    assert!(
        server
            .get_object("v1", "ConfigMap", Some("default"), "c")
            .is_none(),
        "nothing applied"
    );
}
