//! Workloads whose rollout sync judges: a Job runs once per content even
//! when its TTL deletes it, a CRD and its custom resources sync together
//! while discovery lags, a crash loop or a stuck image fails the rollout
//! long before its deadline, and the deadline survives a restart.

use crate::support;
use crate::sync_common;

use std::time::Duration;

use slipway::store::sync_state::SyncPhase;
use slipway::sync::cluster::{ClusterTarget, KubeCluster};
use slipway::sync::podcheck::PodLimits;
use support::kube_api::controllers::Timings;
use support::kube_api::{KubeApiServer, ServerConfig, Verb};
use support::process::eventually_within;
use sync_common::{DeployRepo, Harness, deployment};

/// Upper bound on a pass that must not wait for its deadline; a guard.
const GUARD: Duration = Duration::from_secs(30);

async fn harness(repo: &DeployRepo, config: ServerConfig) -> (KubeApiServer, Harness) {
    let server = KubeApiServer::start_with(config).await.unwrap();
    let cluster = ClusterTarget::Kube(KubeCluster::new(server.client().unwrap()));
    (server, Harness::new(repo, cluster, None))
}

fn slipway_yaml(kinds: &str, timeout: u64) -> String {
    format!(
        "
apps:
  web:
    image: ghcr.io/acme/web
    kinds: [{kinds}]
    environments:
      - {{ name: dev, path: envs/dev, namespace: web-dev, rollout_timeout_seconds: {timeout} }}
"
    )
}

fn migrate(image: &str) -> String {
    format!(
        "apiVersion: batch/v1
kind: Job
metadata: {{ name: migrate }}
spec:
  ttlSecondsAfterFinished: 0
  template:
    metadata: {{ labels: {{ app: migrate }} }}
    spec:
      restartPolicy: Never
      containers: [{{ name: migrate, image: '{image}' }}]
"
    )
}

#[tokio::test]
async fn a_job_deleted_by_its_ttl_runs_once_per_content() {
    let repo = DeployRepo::new(&[
        ("slipway.yaml", &slipway_yaml("Job, ConfigMap", 20)),
        ("envs/dev/migrate.yaml", &migrate("ghcr.io/acme/migrate:1")),
    ]);
    let (server, h) = harness(&repo, ServerConfig::default()).await;
    h.sync.sync_once().await.unwrap();
    let s = h.status().await;
    assert_eq!(
        s.state,
        SyncPhase::Verified,
        "seen complete before its TTL deleted it: {:?}",
        s.last_error
    );
    let gone = tokio::time::timeout(GUARD, async {
        while server
            .get_object("batch/v1", "Job", Some("web-dev"), "migrate")
            .is_some()
        {
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    });
    gone.await
        .expect("the TTL controller deletes the finished Job");

    server.reset_stats();
    repo.commit(
        &[(
            "envs/dev/other.yaml",
            &sync_common::config_map("other", "x"),
        )],
        "unrelated",
    );
    h.sync.sync_once().await.unwrap();
    h.sync.sync_once().await.unwrap();
    assert_eq!(
        server.stats().verb_on("jobs.batch", Verb::Apply),
        0,
        "not created again"
    );
    assert!(
        server
            .get_object("batch/v1", "Job", Some("web-dev"), "migrate")
            .is_none()
    );
    assert_eq!(h.status().await.state, SyncPhase::Verified);

    repo.commit(
        &[("envs/dev/migrate.yaml", &migrate("ghcr.io/acme/migrate:2"))],
        "migrate 2",
    );
    server.reset_stats();
    h.sync.sync_once().await.unwrap();
    assert_eq!(
        server.stats().verb_on("jobs.batch", Verb::Apply),
        1,
        "new content runs it again"
    );
    let s = h.status().await;
    assert_eq!(s.state, SyncPhase::Verified, "{:?}", s.last_error);
}

#[tokio::test]
async fn a_rollback_does_not_run_the_verified_revisions_job_again() {
    let repo = DeployRepo::new(&[
        ("slipway.yaml", &slipway_yaml("Job, Deployment", 20)),
        ("envs/dev/migrate.yaml", &migrate("ghcr.io/acme/migrate:1")),
        (
            "envs/dev/web.yaml",
            &deployment("web", "ghcr.io/acme/web:1.0.0"),
        ),
    ]);
    let (server, h) = harness(&repo, ServerConfig::default()).await;
    h.sync.sync_once().await.unwrap();
    assert_eq!(h.status().await.state, SyncPhase::Verified);
    repo.commit(
        &[
            ("envs/dev/migrate.yaml", &migrate("ghcr.io/acme/migrate:2")),
            (
                "envs/dev/web.yaml",
                &deployment("web", "ghcr.io/acme/web:2.0.0-crash"),
            ),
        ],
        "2.0.0",
    );
    server.reset_stats();
    h.sync.sync_once().await.unwrap();
    assert_eq!(h.status().await.state, SyncPhase::RolledBack);
    assert_eq!(
        server.stats().verb_on("jobs.batch", Verb::Apply),
        1,
        "migrate:2 ran; migrate:1 is not run again by the rollback"
    );
}

const CRONTAB_CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: { name: crontabs.stable.example.com }
spec:
  group: stable.example.com
  scope: Namespaced
  names: { plural: crontabs, singular: crontab, kind: CronTab }
  versions:
    - name: v1
      served: true
      storage: true
      schema: { openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true } }
";

const CRONTAB: &str = "apiVersion: stable.example.com/v1
kind: CronTab
metadata: { name: nightly }
spec: { cronSpec: '0 3 * * *' }
";

#[tokio::test]
async fn a_crd_and_its_resources_sync_together_while_discovery_lags() {
    let repo = DeployRepo::new(&[
        (
            "slipway.yaml",
            &slipway_yaml("CustomResourceDefinition, CronTab", 20),
        ),
        ("envs/dev/crd.yaml", CRONTAB_CRD),
        ("envs/dev/crontab.yaml", CRONTAB),
    ]);
    let config = ServerConfig {
        controllers: Timings {
            crd_establish: Duration::from_millis(200),
            crd_discovery_lag: Duration::from_millis(1500),
            ..ServerConfig::default().controllers
        },
        ..ServerConfig::default()
    };
    let (server, h) = harness(&repo, config).await;
    h.sync.sync_once().await.unwrap();
    let s = h.status().await;
    assert_eq!(s.state, SyncPhase::Verified, "{:?}", s.last_error);
    assert!(s.failed_revision.is_none());
    assert!(
        server
            .get_object(
                "stable.example.com/v1",
                "CronTab",
                Some("web-dev"),
                "nightly"
            )
            .is_some()
    );
    let history = h.store.sync_history("web", "dev").await.unwrap();
    assert!(
        history
            .iter()
            .all(|e| e.state != "failed" && e.state != "rolled_back"),
        "{history:?}"
    );
}

const BACKUP_POLICY_CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: { name: backuppolicies.stable.example.com }
spec:
  group: stable.example.com
  scope: Cluster
  names: { plural: backuppolicies, singular: backuppolicy, kind: BackupPolicy }
  versions:
    - name: v1
      served: true
      storage: true
      schema: { openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true } }
";

const BACKUP_POLICY: &str = "apiVersion: stable.example.com/v1
kind: BackupPolicy
metadata: { name: nightly }
spec: { schedule: '0 3 * * *' }
";

/// The kind's scope comes from the CRD in the same pass, then from
/// discovery: a cluster-scoped custom resource is recorded without a
/// namespace, and a pass with nothing changed costs no request for it.
#[tokio::test]
async fn a_cluster_scoped_custom_resource_is_known_as_one() {
    let repo = DeployRepo::new(&[
        (
            "slipway.yaml",
            &slipway_yaml("CustomResourceDefinition, BackupPolicy", 20),
        ),
        ("envs/dev/crd.yaml", BACKUP_POLICY_CRD),
        ("envs/dev/policy.yaml", BACKUP_POLICY),
    ]);
    let (server, h) = harness(&repo, ServerConfig::default()).await;
    h.sync.sync_once().await.unwrap();
    let s = h.status().await;
    assert_eq!(s.state, SyncPhase::Verified, "{:?}", s.last_error);
    assert!(
        server
            .get_object("stable.example.com/v1", "BackupPolicy", None, "nightly")
            .is_some()
    );
    let inventory = h.store.sync_inventory("web", "dev").await.unwrap();
    let policy = inventory
        .iter()
        .find(|e| e.object.kind == "BackupPolicy")
        .expect("in the inventory");
    assert_eq!(policy.object.namespace, None, "{:?}", policy.object);

    // Sync's watch-fed cache of the kind is filled and its watch open (the
    // reflector lists first, then watches) before the pass that must cost
    // nothing.
    let cluster = h.cluster();
    eventually_within(
        sync_common::CACHE_WAIT,
        "the kind cached and watched",
        async || {
            let cached = cluster
                .owned_live(
                    "stable.example.com/v1",
                    "BackupPolicy",
                    None,
                    ("web", "dev"),
                )
                .await
                .unwrap()
                .contains_key("nightly");
            let watching = server
                .stats()
                .verb_on("backuppolicies.stable.example.com", Verb::Watch)
                > 0;
            (cached && watching).then_some(())
        },
    )
    .await;
    repo.commit(&[("README.md", "unrelated\n")], "docs");
    server.reset_stats();
    h.sync.sync_once().await.unwrap();
    let stats = server.stats();
    assert_eq!(stats.total, 0, "{stats:?}");
    assert_eq!(h.status().await.state, SyncPhase::Verified);
}

#[tokio::test]
async fn a_crash_loop_or_a_stuck_image_fails_long_before_the_deadline() {
    // tag, what the cause names
    let cases = [
        ("2.0.0-crash", "CrashLoopBackOff after 3 restarts"),
        ("2.0.0-badimage", "ImagePullBackOff for"),
    ];
    for (tag, needle) in cases {
        let repo = DeployRepo::new(&[
            ("slipway.yaml", &slipway_yaml("Deployment", 300)),
            (
                "envs/dev/web.yaml",
                &deployment("web", "ghcr.io/acme/web:1.0.0"),
            ),
        ]);
        let (server, mut h) = harness(&repo, ServerConfig::default()).await;
        h.ctx.pod_limits = PodLimits {
            crash_loop_restarts: 2,
            image_pull_grace: Duration::from_secs(1),
        };
        let sync = slipway::sync::runner::SyncLoop::new(
            h.ctx.clone(),
            Default::default(),
            Duration::from_secs(3600),
            2,
        );
        sync.sync_once().await.unwrap();
        let image = format!("ghcr.io/acme/web:{tag}");
        repo.commit(&[("envs/dev/web.yaml", &deployment("web", &image))], "bump");
        tokio::time::timeout(GUARD, sync.sync_once())
            .await
            .expect("failed well before the 300 s deadline")
            .unwrap();
        let s = h.status().await;
        assert_eq!(s.state, SyncPhase::RolledBack, "{tag}");
        let cause = s.last_error.unwrap();
        assert!(
            cause.contains("Deployment web-dev/web") && cause.contains(needle),
            "{tag}: {cause}"
        );
        let live = server
            .get_object("apps/v1", "Deployment", Some("web-dev"), "web")
            .unwrap();
        assert_eq!(
            live.pointer("/spec/template/spec/containers/0/image")
                .unwrap(),
            "ghcr.io/acme/web:1.0.0",
            "{tag}"
        );
    }
}

#[tokio::test]
async fn the_rollout_deadline_is_kept_across_a_restart() {
    let repo = DeployRepo::new(&[
        ("slipway.yaml", &slipway_yaml("Deployment", 300)),
        (
            "envs/dev/web.yaml",
            &deployment("web", "ghcr.io/acme/web:1.0.0"),
        ),
    ]);
    let (_server, h) = harness(&repo, ServerConfig::default()).await;
    h.sync.sync_once().await.unwrap();
    repo.commit(
        &[(
            "envs/dev/web.yaml",
            &deployment("web", "ghcr.io/acme/web:2.0.0-hang"),
        )],
        "bump",
    );
    let running = tokio::spawn({
        let sync = h.sync.clone();
        async move { sync.sync_once().await }
    });
    tokio::time::timeout(GUARD, async {
        while h.status().await.state != SyncPhase::Progressing {
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    })
    .await
    .expect("the rollout starts");
    running.abort();
    // The process was down for an hour: the 300 s deadline has long passed.
    let mut s = h.status().await;
    let started = s.rollout_started_at.clone().expect("the start is stored");
    let an_hour_earlier =
        started.parse::<jiff::Timestamp>().unwrap() - jiff::SignedDuration::from_hours(1);
    s.rollout_started_at = Some(an_hour_earlier.to_string());
    h.store.put_sync_status(s).await.unwrap();

    tokio::time::timeout(GUARD, h.sync.sync_once())
        .await
        .expect("concluded at once, not after another 300 s")
        .unwrap();
    let s = h.status().await;
    assert_eq!(s.state, SyncPhase::RolledBack);
    assert!(s.last_error.unwrap().contains("timed out after 300s"));
}
