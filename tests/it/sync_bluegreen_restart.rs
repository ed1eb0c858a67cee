//! Blue-green sync stopped in any phase (deploying, switching, draining,
//! cleaning up before or after the switch) and started again: it resumes or
//! cleans up and ends with exactly one colour serving, and a newer revision
//! waits for a cleanup left behind.

use crate::sync_bluegreen_world;

use std::sync::Arc;

use slipway::store::rollout::{RolloutEnd, RolloutPhase};
use slipway::store::sync_state::SyncPhase;
use sync_bluegreen_world::{AUTO, World, background_pass, bump, exactly_one_colour, started};

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
