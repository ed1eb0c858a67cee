//! Blue-green rollouts against the API test server and its simulated pods:
//! the new colour runs beside the old one without traffic, the Services
//! switch in one step once it is verified, the old colour drains and goes;
//! failures and aborts clean up, a newer revision supersedes a paused one,
//! and a workload from before the strategy is adopted. (A sync stopped in
//! any phase: sync_bluegreen_restart.rs.)

use crate::sync_bluegreen_world;
use crate::sync_common;

use std::sync::Arc;

use slipway::store::rollout::{RolloutEnd, RolloutPhase};
use slipway::store::sync_state::SyncPhase;
use sync_bluegreen_world::{
    AUTO, MANUAL, World, background_pass, bump, exactly_one_colour, slipway_yaml, started,
};
use sync_common::{config_map, deployment};

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
