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

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use slipway::bootstrap::create_bare_repo;
use slipway::store::rollout::RolloutPhase;
use support::colours::{Colours, TrafficLog};
use support::fleet::artifact_body;
use support::kube_api::{KubeApiServer, ServerConfig};
use support::process::{STEP_TIMEOUT, SlipwayProcess, create_namespaces, free_port, secret_file};
use support::webhooks::{GENERIC_SECRET, SYNC_SECRET, now, standard_headers};

const NAMESPACE: &str = "web-dev";
const COLOURS: Colours = Colours {
    namespace: NAMESPACE,
    service: "web",
};
const AUTO: &str = "{blue_green: {services: [web], drain_seconds: 2}}";
const MANUAL: &str = "{blue_green: {services: [web], drain_seconds: 2, auto_promote: false}}";

/// The deploy repo: app `web` in `dev`, rolled out with `strategy`.
fn deploy_repo(bare: &Path, strategy: &str) {
    let slipway_yaml = format!(
        "apps:\n  web:\n    image: ghcr.io/acme/web\n    environments:\n\
         \x20     - name: dev\n        path: apps/web/dev\n        namespace: {NAMESPACE}\n\
         \x20       mode: commit\n        rollout_timeout_seconds: 30\n        strategy: {strategy}\n"
    );
    let deployment = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: {NAMESPACE}\n\
         spec:\n  replicas: 2\n  selector:\n    matchLabels: {{ app: web }}\n  template:\n\
         \x20   metadata:\n      labels: {{ app: web }}\n    spec:\n      containers:\n\
         \x20       - name: web\n          image: ghcr.io/acme/web:1.0.0\n"
    );
    let service = format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: {NAMESPACE}\n\
         spec:\n  selector: {{ app: web }}\n  ports: [{{ port: 80 }}]\n"
    );
    let files = [
        ("slipway.yaml", slipway_yaml.as_str()),
        (
            "policies/default.yaml",
            "apps: [\"*\"]\nenvironments: [\"*\"]\n",
        ),
        ("apps/web/dev/deployment.yaml", deployment.as_str()),
        ("apps/web/dev/service.yaml", service.as_str()),
    ];
    create_bare_repo(bare, "main", &files).unwrap();
}

struct World {
    dir: tempfile::TempDir,
    kube: Arc<KubeApiServer>,
    config: PathBuf,
    url: String,
    client: reqwest::Client,
}

/// The deploy repo, the cluster and `slipway run`'s config (not started).
async fn world(strategy: &str, rollout_delay: Duration) -> World {
    let dir = tempfile::tempdir().unwrap();
    let bare = dir.path().join("deploy.git");
    deploy_repo(&bare, strategy);
    let kube = KubeApiServer::start_with(ServerConfig {
        rollout_delay,
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    create_namespaces(&kube, &[NAMESPACE]).await;
    let port = free_port();
    let text = format!(
        "listen: 127.0.0.1:{port}\nstate_dir: {state}\n\
         webhooks:\n  generic: {{ secrets: [ {{ file: {gen} }} ] }}\n  sync: {{ secrets: [ {{ file: {ev} }} ] }}\n\
         deploy_repo: {{ url: {bare}, branch: main }}\n\
         sync:\n  kubeconfig: {kubeconfig}\n  poll_interval_seconds: 1\n  rollout_poll_millis: 50\n",
        state = dir.path().join("state").display(),
        gen = secret_file(dir.path(), "generic", GENERIC_SECRET),
        ev = secret_file(dir.path(), "event", SYNC_SECRET),
        bare = bare.display(),
        kubeconfig = kube.kubeconfig_path().display(),
    );
    let config = dir.path().join("run.yaml");
    std::fs::write(&config, text).unwrap();
    World {
        dir,
        kube: Arc::new(kube),
        config,
        url: format!("http://127.0.0.1:{port}"),
        client: reqwest::Client::new(),
    }
}

impl World {
    /// Start `slipway run` on the world's config and state.
    fn start(&self) -> SlipwayProcess {
        let home = self.dir.path().display().to_string();
        SlipwayProcess::start(
            &["run", "--config", self.config.to_str().unwrap()],
            &[("HOME", &home)],
            self.dir.path(),
        )
    }

    /// `GET /api/v1/apps/web/dev`; null while nothing answers.
    async fn status(&self) -> Value {
        let url = format!("{}/api/v1/apps/web/dev", self.url);
        match self.client.get(url).send().await {
            Ok(response) if response.status().is_success() => {
                response.json().await.unwrap_or(Value::Null)
            }
            _ => Value::Null,
        }
    }

    /// Poll the status every 10 ms until `check` holds; the status then.
    async fn until(&self, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
        loop {
            let status = self.status().await;
            if check(&status) {
                return status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}; last status: {status}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Nothing in flight and the verified colour serving (not `previous`).
    async fn until_promoted(&self, previous: &str) -> String {
        let status = self
            .until("a new colour promoted", |s| {
                s["state"] == "verified"
                    && s["rollout"]["phase"] == "idle"
                    && stable(s).is_some_and(|r| r != previous)
            })
            .await;
        stable(&status).unwrap().to_string()
    }

    /// A signed generic webhook announcing `ghcr.io/acme/web:<tag>`.
    async fn deliver(&self, id: &str, tag: &str) {
        let body = artifact_body("web", tag).into_bytes();
        let mut request = self
            .client
            .post(format!("{}/hooks/generic", self.url))
            .header("content-type", "application/json");
        for (name, value) in standard_headers(GENERIC_SECRET, id, now(), &body) {
            request = request.header(name, value);
        }
        let response = request.body(body).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 202, "delivery {id}");
    }

    /// Run the CLI against the run's API.
    fn cli(&self, args: &[&str]) -> Output {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_slipway"))
            .args(args)
            .args(["--url", &self.url])
            .env("NO_COLOR", "1")
            .current_dir(self.dir.path())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "slipway {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// Record what the Service selects every 5 ms.
    fn watch(&self) -> (TrafficLog, tokio::task::JoinHandle<()>) {
        let kube = self.kube.clone();
        TrafficLog::watch(move || COLOURS.observe(&kube, "web"))
    }

    /// Exactly one colour: `want` is the only Deployment, the Service selects
    /// it and the record has nothing in flight.
    async fn exactly_one_colour(&self, want: &str, case: &str) {
        assert_eq!(
            COLOURS.serving(&self.kube).as_deref(),
            Some(want),
            "{case}: the Service selects the colour"
        );
        assert_eq!(
            COLOURS.deployments(&self.kube),
            [format!("web-{want}")],
            "{case}: one Deployment, no stale colour"
        );
        let status = self.status().await;
        assert_eq!(status["rollout"]["phase"], "idle", "{case}: {status}");
        assert!(status["rollout"]["candidate"].is_null(), "{case}: {status}");
    }
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

/// Start, and wait for the first colour: it serves at once (nothing served
/// before, so there is no promote to wait for).
async fn first_colour(world: &World) -> (SlipwayProcess, String) {
    let process = world.start();
    let first = world.until_promoted("").await;
    world.exactly_one_colour(&first, "the first deploy").await;
    (process, first)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_webhook_becomes_a_new_colour_that_gets_traffic_once_it_is_available() {
    let world = world(AUTO, Duration::from_millis(100)).await;
    let (_run, first) = first_colour(&world).await;

    let (traffic, watcher) = world.watch();
    world.deliver("bg-good", "1.1.0").await;
    let second = world.until_promoted(&first).await;
    watcher.abort();
    assert_eq!(traffic.revisions(), [first, second.clone()], "one switch");
    assert!(
        traffic.never_unready(),
        "the Service only ever selected an available colour"
    );
    assert!(traffic.len() > 10, "observed during the rollout");
    world.exactly_one_colour(&second, "promoted").await;
    assert_eq!(
        image(&world.kube, &format!("web-{second}")),
        "ghcr.io/acme/web:1.1.0"
    );
    assert_eq!(world.status().await["rollout"]["end"], "promoted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crashing_image_never_gets_traffic_and_its_logs_say_why() {
    let world = world(AUTO, Duration::from_millis(100)).await;
    let (_run, first) = first_colour(&world).await;

    let (traffic, watcher) = world.watch();
    world.deliver("bg-crash", "1.1.0-crash").await;
    let failed = world
        .until("the crashing colour cleaned up", |s| {
            s["state"] == "rolled_back" && s["rollout"]["phase"] == "idle"
        })
        .await;
    watcher.abort();
    assert_eq!(
        traffic.revisions(),
        std::slice::from_ref(&first),
        "the selector never moved"
    );
    world.exactly_one_colour(&first, "after the failure").await;
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
    let shown = String::from_utf8(shown.stdout).unwrap();
    assert!(shown.starts_with("web/dev: rolled_back\n"), "{shown}");
    assert!(shown.contains("CrashLoopBackOff"), "{shown}");
    assert!(shown.contains("  last      failed: "), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_paused_rollout_switches_on_promote_and_an_abort_cleans_up() {
    let world = world(MANUAL, Duration::from_millis(100)).await;
    let (_run, first) = first_colour(&world).await;

    let (traffic, watcher) = world.watch();
    world.deliver("bg-manual-1", "1.1.0").await;
    let paused = world.until("paused", |s| s["state"] == "paused").await;
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
    // A second promote, sent while the switched colour drains, is accepted
    // but has nothing left to let go: the next rollout still pauses.
    world
        .until("draining", |s| s["rollout"]["phase"] == "draining")
        .await;
    world.cli(&["promote", "web", "--env", "dev"]);
    assert_eq!(world.until_promoted(&first).await, second);
    world.exactly_one_colour(&second, "promoted").await;

    world.deliver("bg-manual-2", "1.2.0").await;
    let paused = world
        .until("paused again", |s| {
            s["state"] == "paused" && s["rollout"]["candidate"]["revision"] != second.as_str()
        })
        .await;
    let third = candidate(&paused);
    world.cli(&["abort", "web", "--env", "dev"]);
    let aborted = world
        .until("the abort cleaned up", |s| {
            s["rollout"]["phase"] == "idle" && s["rollout"]["end"] == "aborted"
        })
        .await;
    watcher.abort();
    assert_eq!(aborted["state"], "rolled_back");
    world.exactly_one_colour(&second, "aborted").await;
    assert_eq!(
        traffic.revisions(),
        [first, second],
        "the aborted colour never served"
    );
    assert!(traffic.never_unready());
    assert!(!traffic.revisions().contains(&third));
}

/// Kill `run` with SIGKILL once the stored phase is `phase`; the status then.
async fn kill_in(world: &World, run: &mut SlipwayProcess, phase: RolloutPhase) -> Value {
    let what = format!("phase {}", phase.as_str());
    let status = world
        .until(&what, |s| s["rollout"]["phase"] == phase.as_str())
        .await;
    run.kill();
    status
}

/// Kill `run` once the stored phase is `cleaning_up`: the cleanup's
/// DELETE of the new colour is held by the cluster until then, since a
/// cleanup is otherwise over in a few API calls.
async fn kill_in_cleanup(world: &World, run: &mut SlipwayProcess) -> Value {
    let status = kill_in(world, run, RolloutPhase::CleaningUp).await;
    world.kube.release_deletes("Deployment");
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_killed_in_any_phase_ends_with_exactly_one_colour_after_a_restart() {
    // Slower simulated rollouts keep `deploying` in view for about a second.
    let world = world(AUTO, Duration::from_millis(400)).await;
    let (mut run, first) = first_colour(&world).await;
    let (traffic, watcher) = world.watch();

    world.deliver("bg-kill-1", "1.1.0").await;
    let second = candidate(&kill_in(&world, &mut run, RolloutPhase::Deploying).await);
    let mut run = world.start();
    assert_eq!(world.until_promoted(&first).await, second);
    world
        .exactly_one_colour(&second, "killed while deploying")
        .await;

    world.deliver("bg-kill-2", "1.2.0").await;
    let third = candidate(&kill_in(&world, &mut run, RolloutPhase::Draining).await);
    assert_eq!(COLOURS.deployments(&world.kube).len(), 2, "draining");
    let mut run = world.start();
    assert_eq!(world.until_promoted(&second).await, third);
    world
        .exactly_one_colour(&third, "killed while draining")
        .await;

    // Cleaning up before the switch: a crashing image.
    world.kube.hold_deletes("Deployment");
    world.deliver("bg-kill-3", "1.3.0-crash").await;
    let crashed = kill_in_cleanup(&world, &mut run).await;
    assert_eq!(crashed["rollout"]["end"], "failed");
    let mut run = world.start();
    let status = world
        .until("the cleanup finished", |s| {
            s["rollout"]["phase"] == "idle" && s["state"] == "rolled_back"
        })
        .await;
    assert_eq!(status["rollout"]["end"], "failed");
    world
        .exactly_one_colour(&third, "killed cleaning up before the switch")
        .await;

    // Cleaning up after the switch: an abort during the drain switches
    // back, then the kill comes before the new colour is deleted.
    world.deliver("bg-kill-4", "1.4.0").await;
    world
        .until("draining", |s| s["rollout"]["phase"] == "draining")
        .await;
    world.kube.hold_deletes("Deployment");
    world.cli(&["abort", "web", "--env", "dev"]);
    let aborted = kill_in_cleanup(&world, &mut run).await;
    let fourth = candidate(&aborted);
    let _run = world.start();
    let status = world
        .until("the cleanup finished", |s| {
            s["rollout"]["phase"] == "idle" && s["rollout"]["end"] == "aborted"
        })
        .await;
    assert_eq!(status["state"], "rolled_back");
    watcher.abort();
    world
        .exactly_one_colour(&third, "killed cleaning up after the switch")
        .await;
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
