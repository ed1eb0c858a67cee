//! Blue-green end to end with the real binary: `slipway run` (receive and
//! sync in one process) over a local deploy repo whose environment rolls out
//! blue-green, against the Kubernetes API test server and its simulated pods.
//!
//! A signed webhook for a new image becomes a commit; sync starts the new
//! colour and the Service switches once, only to an available colour. A
//! crash-looping image never gets traffic and leaves its pods' logs in the
//! status. `auto_promote: false` pauses until `slipway promote --env`, and
//! `slipway abort` cleans up. The process killed with SIGKILL while the
//! stored phase is `deploying`, `draining` or `cleaning_up` and started again
//! on the same state ends with exactly one colour serving (a cleanup is
//! caught by holding its DELETE in the test cluster).

use crate::support;

use std::time::Duration;

use serde_json::Value;
use slipway::store::rollout::RolloutPhase;
use support::colours::{Colours, TrafficLog};
use support::kube_api::KubeApiServer;
use support::process::SlipwayProcess;
use support::slipway_run::{RunWorld, WEB_DEV as APP, WEB_DEV_NAMESPACE as NAMESPACE};

const COLOURS: Colours = Colours {
    namespace: NAMESPACE,
    service: "web",
};
const AUTO: &str = "{blue_green: {services: [web], drain_seconds: 2}}";
const MANUAL: &str = "{blue_green: {services: [web], drain_seconds: 2, auto_promote: false}}";

/// Nothing in flight and the verified colour serving (not `previous`).
async fn until_promoted(world: &RunWorld, previous: &str) -> String {
    let status = world
        .until(APP, "a new colour promoted", |s| {
            s["state"] == "verified"
                && s["rollout"]["phase"] == "idle"
                && stable(s).is_some_and(|r| r != previous)
        })
        .await;
    stable(&status).unwrap().to_string()
}

/// Record what the Service selects every 5 ms.
fn watch(world: &RunWorld) -> (TrafficLog, tokio::task::JoinHandle<()>) {
    let kube = world.kube.clone();
    TrafficLog::watch(move || COLOURS.observe(&kube, "web"))
}

/// Exactly one colour: `want` is the only Deployment, the Service selects
/// it and the record has nothing in flight.
async fn exactly_one_colour(world: &RunWorld, want: &str, case: &str) {
    assert_eq!(
        COLOURS.serving(&world.kube).as_deref(),
        Some(want),
        "{case}: the Service selects the colour"
    );
    assert_eq!(
        COLOURS.deployments(&world.kube),
        [format!("web-{want}")],
        "{case}: one Deployment, no stale colour"
    );
    let status = world.status(APP.0, APP.1).await;
    assert_eq!(status["rollout"]["phase"], "idle", "{case}: {status}");
    assert!(status["rollout"]["candidate"].is_null(), "{case}: {status}");
}

/// The serving colour's revision in a status.
fn stable(status: &Value) -> Option<&str> {
    status["rollout"]["stable"]["revision"].as_str()
}

/// The new colour's revision in a status.
fn candidate(status: &Value) -> String {
    let revision = status["rollout"]["candidate"]["revision"].as_str();
    revision.expect("a candidate in flight").to_string()
}

/// The image of Deployment `name`.
fn image(kube: &KubeApiServer, name: &str) -> String {
    let live = kube.get_object("apps/v1", "Deployment", Some(NAMESPACE), name);
    let live = live.unwrap_or_default();
    let image = &live["spec"]["template"]["spec"]["containers"][0]["image"];
    image.as_str().unwrap_or_default().to_string()
}

/// The world rolling out with `strategy`, started, and its first colour: it
/// serves at once (nothing served before, so there is no promote to wait for).
async fn first_colour(
    strategy: &str,
    rollout_delay: Duration,
) -> (RunWorld, SlipwayProcess, String) {
    let world = RunWorld::web_dev(strategy, rollout_delay).await;
    let process = world.start();
    let first = until_promoted(&world, "").await;
    exactly_one_colour(&world, &first, "the first deploy").await;
    (world, process, first)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_webhook_becomes_a_new_colour_that_gets_traffic_once_it_is_available() {
    let (world, _run, first) = first_colour(AUTO, Duration::from_millis(100)).await;

    let (traffic, watcher) = watch(&world);
    world.deliver("bg-good", "web", "1.1.0").await;
    let second = until_promoted(&world, &first).await;
    watcher.abort();
    assert_eq!(traffic.revisions(), [first, second.clone()], "one switch");
    assert!(
        traffic.never_unready(),
        "the Service only ever selected an available colour"
    );
    assert!(traffic.len() > 10, "observed during the rollout");
    exactly_one_colour(&world, &second, "promoted").await;
    assert_eq!(
        image(&world.kube, &format!("web-{second}")),
        "ghcr.io/acme/web:1.1.0"
    );
    assert_eq!(
        world.status(APP.0, APP.1).await["rollout"]["end"],
        "promoted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crashing_image_never_gets_traffic_and_its_logs_say_why() {
    let (world, _run, first) = first_colour(AUTO, Duration::from_millis(100)).await;

    let (traffic, watcher) = watch(&world);
    world.deliver("bg-crash", "web", "1.1.0-crash").await;
    let failed = world
        .until(APP, "the crashing colour cleaned up", |s| {
            s["state"] == "rolled_back" && s["rollout"]["phase"] == "idle"
        })
        .await;
    watcher.abort();
    assert_eq!(
        traffic.revisions(),
        std::slice::from_ref(&first),
        "the selector never moved"
    );
    exactly_one_colour(&world, &first, "after the failure").await;
    assert_eq!(failed["rollout"]["end"], "failed");
    let evidence = failed["failure_evidence"].as_array().cloned();
    let evidence = evidence.unwrap_or_default();
    assert!(
        evidence
            .iter()
            .any(|e| e["log"].as_array().is_some_and(|l| !l.is_empty())),
        "the crashing pods' log lines: {failed}"
    );

    let shown = world.cli(&["status", "web", "dev"]);
    assert!(shown.starts_with("web/dev: rolled_back\n"), "{shown}");
    assert!(shown.contains("CrashLoopBackOff"), "{shown}");
    assert!(shown.contains("  last      failed: "), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_paused_rollout_switches_on_promote_and_an_abort_cleans_up() {
    let (world, _run, first) = first_colour(MANUAL, Duration::from_millis(100)).await;

    let (traffic, watcher) = watch(&world);
    world.deliver("bg-manual-1", "web", "1.1.0").await;
    let paused = world.until(APP, "paused", |s| s["state"] == "paused").await;
    assert_eq!(paused["rollout"]["phase"], "paused");
    let second = candidate(&paused);
    assert_eq!(
        COLOURS.serving(&world.kube).as_deref(),
        Some(first.as_str())
    );
    assert_eq!(
        COLOURS.deployments(&world.kube).len(),
        2,
        "both colours run"
    );
    world.cli(&["promote", "web", "--env", "dev"]);
    // A second promote, sent while the switched colour drains, has nothing
    // left to let go: it is refused, and the next rollout still pauses.
    world
        .until(APP, "draining", |s| s["rollout"]["phase"] == "draining")
        .await;
    let refused = world.cli_output(&["promote", "web", "--env", "dev"]);
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("409") && said.contains("phase draining"),
        "{said}"
    );
    assert_eq!(until_promoted(&world, &first).await, second);
    exactly_one_colour(&world, &second, "promoted").await;

    world.deliver("bg-manual-2", "web", "1.2.0").await;
    let paused = world
        .until(APP, "paused again", |s| {
            s["state"] == "paused" && s["rollout"]["candidate"]["revision"] != second.as_str()
        })
        .await;
    let third = candidate(&paused);
    world.cli(&["abort", "web", "--env", "dev"]);
    let aborted = world
        .until(APP, "the abort cleaned up", |s| {
            s["rollout"]["phase"] == "idle" && s["rollout"]["end"] == "aborted"
        })
        .await;
    watcher.abort();
    assert_eq!(aborted["state"], "rolled_back");
    exactly_one_colour(&world, &second, "aborted").await;
    assert_eq!(
        traffic.revisions(),
        [first, second],
        "the aborted colour never served"
    );
    assert!(traffic.never_unready());
    assert!(!traffic.revisions().contains(&third));
}

/// Kill `run` with SIGKILL once the stored phase is `phase`; the status then.
async fn kill_in(world: &RunWorld, run: &mut SlipwayProcess, phase: RolloutPhase) -> Value {
    let what = format!("phase {}", phase.as_str());
    let status = world
        .until(APP, &what, |s| s["rollout"]["phase"] == phase.as_str())
        .await;
    run.kill();
    status
}

/// Kill `run` once the stored phase is `cleaning_up`: the cleanup's
/// DELETE of the new colour is held by the cluster until then, since a
/// cleanup is otherwise over in a few API calls.
async fn kill_in_cleanup(world: &RunWorld, run: &mut SlipwayProcess) -> Value {
    let status = kill_in(world, run, RolloutPhase::CleaningUp).await;
    world.kube.release_deletes("Deployment");
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_killed_in_any_phase_ends_with_exactly_one_colour_after_a_restart() {
    // Slower simulated rollouts keep `deploying` in view for about a second.
    let (world, mut run, first) = first_colour(AUTO, Duration::from_millis(400)).await;
    let (traffic, watcher) = watch(&world);

    world.deliver("bg-kill-1", "web", "1.1.0").await;
    let second = candidate(&kill_in(&world, &mut run, RolloutPhase::Deploying).await);
    let mut run = world.start();
    assert_eq!(until_promoted(&world, &first).await, second);
    exactly_one_colour(&world, &second, "killed while deploying").await;

    world.deliver("bg-kill-2", "web", "1.2.0").await;
    let third = candidate(&kill_in(&world, &mut run, RolloutPhase::Draining).await);
    assert_eq!(COLOURS.deployments(&world.kube).len(), 2, "draining");
    let mut run = world.start();
    assert_eq!(until_promoted(&world, &second).await, third);
    exactly_one_colour(&world, &third, "killed while draining").await;

    // Cleaning up before the switch: a crashing image.
    world.kube.hold_deletes("Deployment");
    world.deliver("bg-kill-3", "web", "1.3.0-crash").await;
    let crashed = kill_in_cleanup(&world, &mut run).await;
    assert_eq!(crashed["rollout"]["end"], "failed");
    let mut run = world.start();
    let status = world
        .until(APP, "the cleanup finished", |s| {
            s["rollout"]["phase"] == "idle" && s["state"] == "rolled_back"
        })
        .await;
    assert_eq!(status["rollout"]["end"], "failed");
    exactly_one_colour(&world, &third, "killed cleaning up before the switch").await;

    // Cleaning up after the switch: an abort during the drain switches
    // back, then the kill comes before the new colour is deleted.
    world.deliver("bg-kill-4", "web", "1.4.0").await;
    world
        .until(APP, "draining", |s| s["rollout"]["phase"] == "draining")
        .await;
    world.kube.hold_deletes("Deployment");
    world.cli(&["abort", "web", "--env", "dev"]);
    let aborted = kill_in_cleanup(&world, &mut run).await;
    let fourth = candidate(&aborted);
    let _run = world.start();
    let status = world
        .until(APP, "the cleanup finished", |s| {
            s["rollout"]["phase"] == "idle" && s["rollout"]["end"] == "aborted"
        })
        .await;
    assert_eq!(status["state"], "rolled_back");
    watcher.abort();
    exactly_one_colour(&world, &third, "killed cleaning up after the switch").await;
    assert_eq!(
        traffic.revisions(),
        [first, second, third.clone(), fourth, third],
        "the crashing colour never served; the aborted one was switched away from"
    );
    assert!(
        traffic.never_unready(),
        "across the kills, traffic only reached available colours"
    );
}
