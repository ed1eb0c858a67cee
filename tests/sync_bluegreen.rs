//! Blue-green rollouts against the API test server and its simulated pods:
//! the new colour runs beside the old one without traffic, the Services
//! switch in one step once it is verified, the old colour drains and goes;
//! failures and aborts clean up, and a sync stopped in any phase resumes or
//! cleans up and ends with exactly one colour serving.

mod support;
mod sync_common;

use std::sync::Arc;
use std::time::Duration;

use slipway::store::rollout::{RolloutEnd, RolloutPhase};
use slipway::store::sync_state::{SyncPhase, TargetStatus};
use slipway::sync::cluster::{ClusterTarget, KubeCluster};
use support::colours::{Colours, TrafficLog};
use support::kube_api::{KubeApiServer, ServerConfig};
use sync_common::{DeployRepo, Harness, ReportInbox, config_map, deployment, reporter};

/// Upper bound on waiting for a phase; a guard, not a timing assertion.
const WAIT_LIMIT: Duration = Duration::from_secs(20);

fn slipway_yaml(strategy: &str) -> String {
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

const AUTO: &str = "{blue_green: {drain_seconds: 1}}";
const MANUAL: &str = "{blue_green: {drain_seconds: 1, auto_promote: false}}";
const SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports: [{port: 80}]\n";

fn repo(strategy: &str, image: &str) -> DeployRepo {
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

fn bump(repo: &DeployRepo, image: &str) -> String {
    repo.set_web_image(image, "bump")
}

struct World {
    server: KubeApiServer,
    harness: Harness,
    inbox: ReportInbox,
}

async fn world(repo: &DeployRepo) -> World {
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
async fn started(strategy: &str) -> (DeployRepo, Arc<World>, String) {
    let repo = repo(strategy, "ghcr.io/acme/web:1.0.0");
    let world = Arc::new(world(&repo).await);
    world.pass().await;
    let first = world.stable().await;
    (repo, world, first)
}

/// The first colour (drained over 30 s), a new image committed and a pass
/// in the background that has switched to it and is draining the first.
async fn draining() -> (Arc<World>, String, tokio::task::JoinHandle<()>) {
    let (repo, world, first) = started("{blue_green: {drain_seconds: 30}}").await;
    bump(&repo, "ghcr.io/acme/web:2.0.0");
    let pass = background_pass(&world);
    world.until_phase(RolloutPhase::Draining).await;
    (world, first, pass)
}

/// Once `pass` ends, the Service selects `first` again and its colour is
/// the only one.
async fn switched_back(world: &World, first: &str, pass: tokio::task::JoinHandle<()>) {
    pass.await.unwrap();
    assert_eq!(world.serving().as_deref(), Some(first), "switched back");
    world.assert_only_colour(first, "the new colour is deleted");
}

/// A sync pass run in the background.
fn background_pass(world: &Arc<World>) -> tokio::task::JoinHandle<()> {
    let world = world.clone();
    tokio::spawn(async move { world.pass().await })
}

impl World {
    /// One sync pass, which must succeed.
    async fn pass(&self) {
        self.harness.sync.sync_once().await.unwrap();
    }

    /// The revision the Service `web` selects, when it exists.
    fn serving(&self) -> Option<String> {
        COLOURS.serving(&self.server)
    }

    /// `revision`'s colour is the only Deployment in the namespace.
    fn assert_only_colour(&self, revision: &str, case: &str) {
        assert_eq!(self.deployments(), [format!("web-{revision}")], "{case}");
    }

    /// Names of the Deployments in the namespace.
    fn deployments(&self) -> Vec<String> {
        COLOURS.deployments(&self.server)
    }

    /// One sync pass with the Service `web` watched while it runs; what it selected.
    async fn watched_pass(self: &Arc<Self>) -> TrafficLog {
        let world = self.clone();
        let (log, watcher) = TrafficLog::watch(move || COLOURS.observe(&world.server, "web"));
        self.pass().await;
        watcher.abort();
        log
    }

    async fn status(&self) -> TargetStatus {
        self.harness.status().await
    }

    /// The stable colour's revision in the record.
    async fn stable(&self) -> String {
        let status = self.status().await;
        status
            .rollout
            .and_then(|r| r.stable)
            .map(|s| s.revision)
            .unwrap_or_default()
    }

    /// The new colour's revision in the record.
    async fn candidate(&self) -> String {
        let record = self.status().await.rollout.unwrap();
        record.candidate.unwrap().revision
    }

    /// Wait until the record reaches `phase` (a pass runs in the background).
    async fn until_phase(&self, phase: RolloutPhase) {
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

#[tokio::test]
async fn a_new_colour_is_verified_switched_to_and_the_old_one_drained() {
    let (repo, world, first) = started(AUTO).await;
    assert_eq!(first.len(), 10, "a revision hash");
    world.assert_only_colour(&first, "one colour");
    assert_eq!(world.serving().as_deref(), Some(first.as_str()));
    assert_eq!(world.status().await.state, SyncPhase::Verified);

    let revision = bump(&repo, "ghcr.io/acme/web:2.0.0");
    let log = world.watched_pass().await;
    let second = world.stable().await;
    assert_ne!(second, first);
    assert_eq!(
        log.revisions(),
        [first.clone(), second.clone()],
        "one switch"
    );
    assert!(
        log.never_unready(),
        "traffic only ever reached an available colour"
    );
    world.assert_only_colour(&second, "the old colour is gone");
    let status = world.status().await;
    assert_eq!(status.state, SyncPhase::Verified);
    assert_eq!(status.verified_revision.as_deref(), Some(revision.as_str()));
    let record = status.rollout.unwrap();
    assert_eq!(
        (record.phase, record.end),
        (RolloutPhase::Idle, Some(RolloutEnd::Promoted))
    );
    assert_eq!(
        world.inbox.verdicts().last().map(String::as_str),
        Some("verified")
    );

    // A change outside the pod template is applied in place: no new colour.
    repo.commit(&[("envs/dev/cm.yaml", &config_map("extra", "x"))], "config");
    world.pass().await;
    assert_eq!(world.stable().await, second);
    world.assert_only_colour(&second, "one colour");
}

#[tokio::test]
async fn a_failure_before_the_switch_never_moves_traffic() {
    let (repo, world, first) = started(AUTO).await;

    bump(&repo, "ghcr.io/acme/web:2.0.0-crash");
    let log = world.watched_pass().await;
    assert_eq!(
        log.revisions(),
        std::slice::from_ref(&first),
        "the Service never left the old colour"
    );
    world.assert_only_colour(&first, "the new colour is deleted");
    let status = world.status().await;
    assert_eq!(
        status.state,
        SyncPhase::RolledBack,
        "{:?}",
        status.last_error
    );
    assert!(
        status
            .failed_reason
            .as_deref()
            .unwrap_or_default()
            .contains("CrashLoopBackOff"),
        "{:?}",
        status.failed_reason
    );
    let evidence = &status.failure_evidence;
    assert!(!evidence.is_empty(), "the failing pods' logs are kept");
    assert!(
        evidence.iter().any(|e| e.previous && !e.log.is_empty()),
        "the crashed container's previous log: {evidence:?}"
    );
    let record = status.rollout.unwrap();
    assert_eq!(record.end, Some(RolloutEnd::Failed));
    assert!(record.candidate.is_none());
    assert_eq!(
        world.inbox.verdicts().last().map(String::as_str),
        Some("failed")
    );

    // Held: the next pass does not try the same content again.
    world.pass().await;
    world.assert_only_colour(&first, "one colour");
    assert_eq!(world.status().await.state, SyncPhase::RolledBack);
}

#[tokio::test]
async fn a_paused_rollout_waits_for_promote_and_an_abort_cleans_it_up() {
    let (repo, world, first) = started(MANUAL).await;
    assert_eq!(
        world.serving().as_deref(),
        Some(first.as_str()),
        "the first colour needs no promote"
    );

    bump(&repo, "ghcr.io/acme/web:2.0.0");
    world.pass().await;
    let status = world.status().await;
    assert_eq!(status.state, SyncPhase::Paused);
    let record = status.rollout.unwrap();
    let candidate = record.candidate.unwrap().revision;
    assert_eq!(record.phase, RolloutPhase::Paused);
    assert_eq!(world.serving().as_deref(), Some(first.as_str()));
    assert_eq!(world.deployments().len(), 2, "both colours run");

    world.harness.ctx.rollouts.abort.request("web", "dev");
    world.pass().await;
    assert_eq!(world.serving().as_deref(), Some(first.as_str()));
    world.assert_only_colour(&first, "one colour");
    let status = world.status().await;
    assert_eq!(
        status.rollout.as_ref().unwrap().end,
        Some(RolloutEnd::Aborted)
    );
    assert_eq!(status.state, SyncPhase::RolledBack);

    // `slipway retry` runs it again; this time it is promoted.
    world.harness.ctx.retries.request("web", "dev");
    world.pass().await;
    assert_eq!(world.status().await.state, SyncPhase::Paused);
    world.harness.ctx.rollouts.promote.request("web", "dev");
    world.pass().await;
    assert_eq!(world.serving().as_deref(), Some(candidate.as_str()));
    world.assert_only_colour(&candidate, "one colour");
    assert_eq!(world.status().await.state, SyncPhase::Verified);
}

#[tokio::test]
async fn a_promote_sent_before_a_rollout_started_does_not_skip_its_pause() {
    let (repo, world, _) = started(MANUAL).await;
    // As one sent during the last rollout's drain would be left.
    world.harness.ctx.rollouts.promote.request("web", "dev");
    bump(&repo, "ghcr.io/acme/web:2.0.0");
    world.pass().await;
    assert_eq!(world.status().await.state, SyncPhase::Paused);
    assert_eq!(world.deployments().len(), 2, "both colours run");
}

#[tokio::test]
async fn an_abort_during_the_drain_switches_back_then_deletes_the_new_colour() {
    let (world, first, pass) = draining().await;
    assert_ne!(world.serving().as_deref(), Some(first.as_str()), "switched");
    world.harness.ctx.rollouts.abort.request("web", "dev");
    switched_back(&world, &first, pass).await;
    let status = world.status().await;
    assert_eq!(status.rollout.unwrap().end, Some(RolloutEnd::Aborted));
    assert_eq!(status.state, SyncPhase::RolledBack);
}

#[tokio::test]
async fn a_new_colour_that_fails_during_the_drain_is_switched_away_from() {
    let (world, first, pass) = draining().await;
    let candidate = world.serving().unwrap();
    let client = world.server.client().unwrap();
    let deployments: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
        kube::Api::namespaced(client, "web-dev");
    deployments
        .delete(&format!("web-{candidate}"), &Default::default())
        .await
        .unwrap();
    switched_back(&world, &first, pass).await;
    let status = world.status().await;
    assert!(
        status
            .failed_reason
            .as_deref()
            .unwrap_or_default()
            .contains("deleted during the drain"),
        "{:?}",
        status.failed_reason
    );
}

/// Stop a pass the way a crash would: at whatever await point it reached
/// once the stored record shows `phase`. Everything sync knows is in the
/// store and the cluster, so a new pass is a restarted sync.
async fn crash_in(world: &Arc<World>, phase: RolloutPhase) {
    let pass = background_pass(world);
    world.until_phase(phase).await;
    pass.abort();
    let _ = pass.await;
}

/// Rewrite the stored record's phase: a crash right after storing it,
/// before its step touched the cluster.
async fn stored_phase(world: &World, phase: RolloutPhase, end: Option<RolloutEnd>) {
    let mut status = world.status().await;
    let record = status.rollout.as_mut().unwrap();
    record.phase = phase;
    if end.is_some() {
        record.end = end;
        record.cause = Some("crashed test".into());
    }
    world.harness.store.put_sync_status(status).await.unwrap();
}

/// One colour serves, it is the only Deployment, and nothing is in flight.
async fn exactly_one_colour(world: &World, want: &str, case: &str) {
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

/// Case, the phase it stops in, a stored phase (and end) to rewrite to,
/// and whether the new colour ends up serving.
type CrashCase = (
    &'static str,
    RolloutPhase,
    Option<(RolloutPhase, Option<RolloutEnd>)>,
    bool,
);

#[tokio::test]
async fn a_sync_stopped_in_any_phase_resumes_or_cleans_up_on_restart() {
    // (case, where it stops, a stored phase to rewrite to, whether the new colour ends up serving)
    let cases: [CrashCase; 5] = [
        ("deploying", RolloutPhase::Deploying, None, true),
        (
            "switching",
            RolloutPhase::Deploying,
            Some((RolloutPhase::Switching, None)),
            true,
        ),
        ("draining", RolloutPhase::Draining, None, true),
        (
            "cleaning up before the switch",
            RolloutPhase::Deploying,
            Some((RolloutPhase::CleaningUp, Some(RolloutEnd::Failed))),
            false,
        ),
        (
            "cleaning up after the switch",
            RolloutPhase::Draining,
            Some((RolloutPhase::CleaningUp, Some(RolloutEnd::Aborted))),
            false,
        ),
    ];
    for (case, stop, rewrite, promoted) in cases {
        let (repo, world, first) = started("{blue_green: {drain_seconds: 2}}").await;
        bump(&repo, "ghcr.io/acme/web:2.0.0");
        crash_in(&world, stop).await;
        let candidate = world.candidate().await;
        if let Some((phase, end)) = rewrite {
            stored_phase(&world, phase, end).await;
        }
        world.pass().await;
        let want = if promoted { &candidate } else { &first };
        exactly_one_colour(&world, want, case).await;
    }
}

#[tokio::test]
async fn a_newer_revision_waits_for_the_cleanup_then_starts_from_a_clean_state() {
    let (repo, world, _) = started(AUTO).await;
    bump(&repo, "ghcr.io/acme/web:2.0.0-crash");
    crash_in(&world, RolloutPhase::Deploying).await;
    stored_phase(&world, RolloutPhase::CleaningUp, Some(RolloutEnd::Failed)).await;
    let failed = world.candidate().await;

    bump(&repo, "ghcr.io/acme/web:3.0.0");
    let log = world.watched_pass().await;
    let newest = world.stable().await;
    assert!(
        !log.revisions().contains(&failed),
        "the failed colour never served"
    );
    exactly_one_colour(&world, &newest, "after the cleanup").await;
    assert_eq!(world.status().await.state, SyncPhase::Verified);
}

#[tokio::test]
async fn a_newer_revision_before_the_switch_supersedes_the_one_in_flight() {
    let (repo, world, _) = started(MANUAL).await;
    bump(&repo, "ghcr.io/acme/web:2.0.0");
    world.pass().await;
    let paused = world.candidate().await;

    bump(&repo, "ghcr.io/acme/web:3.0.0");
    world.pass().await;
    let record = world.status().await.rollout.unwrap();
    assert_eq!(record.phase, RolloutPhase::Paused);
    let newest = record.candidate.unwrap().revision;
    assert_ne!(newest, paused);
    assert!(
        !world.deployments().contains(&format!("web-{paused}")),
        "the superseded colour is gone"
    );
    assert_eq!(world.deployments().len(), 2);
}

#[tokio::test]
async fn a_workload_that_predates_the_strategy_is_adopted_without_traffic_to_the_new_revision() {
    let (repo, world, _) = started("rolling").await;
    assert_eq!(world.deployments(), ["web"]);
    assert_eq!(world.serving().as_deref(), Some(""), "git's own selector");

    repo.commit(
        &[
            ("slipway.yaml", &slipway_yaml(AUTO)),
            (
                "envs/dev/web.yaml",
                &deployment("web", "ghcr.io/acme/web:2.0.0"),
            ),
        ],
        "blue-green, and a new image",
    );
    let log = world.watched_pass().await;
    let stable = world.stable().await;
    exactly_one_colour(&world, &stable, "adopted").await;
    let seen = log.revisions();
    assert_eq!(
        seen.len(),
        3,
        "git's selector, the verified revision's colour, the new one: {seen:?}"
    );
    assert_eq!(seen[0], "");
    assert!(log.never_unready());
    let live = world
        .server
        .get_object(
            "apps/v1",
            "Deployment",
            Some("web-dev"),
            &format!("web-{stable}"),
        )
        .unwrap();
    assert_eq!(
        live["spec"]["template"]["spec"]["containers"][0]["image"],
        "ghcr.io/acme/web:2.0.0"
    );
}
