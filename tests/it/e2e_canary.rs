//! Canary rollouts end to end through the real `slipway run` (receive and
//! sync in one process), against the Kubernetes API test server and a real
//! Prometheus scraping a target whose values the test sets. A signed webhook
//! for a new image is committed, then rolled out in weight steps with a
//! timed pause and an analysis: good metrics promote it, a bad one fails the
//! analysis and cleanup leaves only the old version serving. `pause: {}`
//! waits for `slipway promote`, `slipway abort` cleans up, and a run killed
//! with SIGKILL in a pause or an analysis resumes on restart.

use crate::support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use support::kube_api::KubeApiServer;
use support::process::eventually;
use support::prometheus::{MetricsTarget, Prometheus};
use support::slipway_run::{
    RunWorld, WEB_DEV as APP, WEB_DEV_NAMESPACE as NAMESPACE, WEB_IMAGE as IMAGE, web_dev_repo,
};

const REPLICAS: i64 = 4;
/// Two weight steps (and 100 %), a timed pause, one analysis, and a pause
/// after the second weight so its split can be seen settled.
const STEPS: &str = "{steps: [{weight: 25}, {pause: 2s}, {analysis: errors}, {weight: 50}, {pause: 1s}, {weight: 100}]}";
const METRIC: &str = "canary_error_ratio";

/// The analysis `errors`: the error ratio of the canary's revision, below 5 %.
fn errors_analysis(prometheus: &Prometheus) -> String {
    format!(
        "analyses:\n  errors:\n    prometheus: {{ url: '{}' }}\n\
         \x20   query: '{METRIC}{{app=\"{{{{app}}}}\",revision=\"{{{{revision}}}}\"}}'\n\
         \x20   success: '< 0.05'\n    interval: 1s\n    count: 2\n",
        prometheus.url
    )
}

/// The world, with `slipway run` started and the first revision verified
/// (it rolls as `rolling` does: nothing was verified before).
async fn started(steps: &str, analyses: &str) -> (RunWorld, support::process::SlipwayProcess) {
    let files = web_dev_repo(&format!("{{canary: {steps}}}"), REPLICAS, analyses);
    let world = RunWorld::new(&files, &[NAMESPACE], Duration::from_millis(50)).await;
    let run = world.start();
    world
        .until(APP, "the first revision verified", |s| {
            s["state"] == "verified"
        })
        .await;
    only_stable(&world, "1.0.0", "the first revision").await;
    (world, run)
}

/// (replicas, image) of Deployment `name`.
fn shape(kube: &KubeApiServer, name: &str) -> Option<(i64, String)> {
    let d = kube.get_object("apps/v1", "Deployment", Some(NAMESPACE), name)?;
    let image = &d["spec"]["template"]["spec"]["containers"][0]["image"];
    Some((
        d["spec"]["replicas"].as_i64().unwrap_or_default(),
        image.as_str().unwrap_or_default().to_string(),
    ))
}

/// Only the stable version serves: `web` at full size on `tag`, no canary
/// Deployment or Service, nothing in flight.
async fn only_stable(world: &RunWorld, tag: &str, case: &str) {
    let status = world.status(APP.0, APP.1).await;
    assert_eq!(
        shape(&world.kube, "web"),
        Some((REPLICAS, format!("{IMAGE}:{tag}"))),
        "{case}: the stable Deployment; {status}"
    );
    assert_eq!(shape(&world.kube, "web-canary"), None, "{case}: no canary");
    let service = world
        .kube
        .get_object("v1", "Service", Some(NAMESPACE), "web-canary");
    assert!(service.is_none(), "{case}: no canary Service");
    let rollout = &status["rollout"];
    if !rollout.is_null() {
        assert_eq!(rollout["phase"], "idle", "{case}: {status}");
        assert!(rollout["candidate"].is_null(), "{case}: {status}");
    }
}

/// The rollout ended with `end` and its cleanup (if any) is done.
fn ended(status: &Value, end: &str) -> bool {
    status["rollout"]["end"] == end && status["rollout"]["phase"] == "idle"
}

fn rollout_at(status: &Value, phase: &str, step: u64) -> bool {
    status["rollout"]["phase"] == phase && status["rollout"]["step"] == step
}

/// The canary's revision, once the rollout has one.
async fn candidate(world: &RunWorld) -> String {
    let status = world
        .until(APP, "a canary in flight", |s| {
            s["rollout"]["candidate"]["revision"].is_string()
        })
        .await;
    status["rollout"]["candidate"]["revision"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The reason in the failed rollout report receive got from sync.
async fn failed_report(world: &RunWorld) -> String {
    let url = format!("{}/api/v1/deliveries?limit=50", world.url);
    eventually("the failed rollout report", async || {
        let answer: Value = reqwest::get(&url).await.ok()?.json().await.ok()?;
        let deliveries = answer["deliveries"].as_array()?;
        deliveries.iter().find_map(|d| {
            let event = &d["event"];
            let failed = event["kind"] == "rollout_reported" && event["verdict"] == "failed";
            failed.then(|| event["reason"].as_str().unwrap_or_default().to_string())
        })
    })
    .await
}

/// Set the error ratio Prometheus scrapes for the canary's revision.
fn set_ratio(target: &MetricsTarget, revision: &str, ratio: f64) {
    let series = format!("{METRIC}{{app=\"web\",revision=\"{revision}\"}}");
    target.set(&series, ratio);
}

/// The split seen at one moment: the status' (step, weight), then the
/// stable and canary Deployments' (replicas, image).
type Sample = (u64, u64, Option<(i64, String)>, Option<(i64, String)>);

/// Sample the split every 10 ms, keeping only samples whose status read
/// before and after the cluster agree (the step was settled).
fn sample_splits(world: &RunWorld) -> (Arc<Mutex<Vec<Sample>>>, tokio::task::JoinHandle<()>) {
    let samples = Arc::new(Mutex::new(Vec::new()));
    let (kept, kube, url) = (samples.clone(), world.kube.clone(), world.url.clone());
    let task = tokio::spawn(async move {
        let client = reqwest::Client::new();
        let url = format!("{url}/api/v1/apps/web/dev");
        let read = async || -> Option<(String, u64, u64)> {
            let status: Value = client.get(&url).send().await.ok()?.json().await.ok()?;
            let rollout = &status["rollout"];
            Some((
                rollout["phase"].as_str()?.to_string(),
                rollout["step"].as_u64()?,
                rollout["weight"].as_u64()?,
            ))
        };
        loop {
            let before = read().await;
            let split = (shape(&kube, "web"), shape(&kube, "web-canary"));
            if let Some((phase, step, weight)) = before.clone()
                && phase == "stepping"
                && read().await == before
            {
                kept.lock().unwrap().push((step, weight, split.0, split.1));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    (samples, task)
}

/// In the pause after each weight step, the replicas are split by the
/// weight: stable + canary = the total, the canary at least one pod, on the
/// old and the new image.
fn assert_splits(samples: &[Sample], old: &str, new: &str) {
    let (old, new) = (format!("{IMAGE}:{old}"), format!("{IMAGE}:{new}"));
    for (step, weight, want) in [(1, 25, (3, 1)), (2, 25, (3, 1)), (4, 50, (2, 2))] {
        let seen: Vec<&Sample> = samples.iter().filter(|s| s.0 == step).collect();
        assert!(!seen.is_empty(), "no sample at step {}", step + 1);
        for (_, w, stable, canary) in seen {
            assert_eq!(*w, weight, "step {}", step + 1);
            let (stable, canary) = (stable.clone().unwrap(), canary.clone().unwrap());
            assert_eq!(stable.0 + canary.0, REPLICAS, "step {}", step + 1);
            assert!(canary.0 >= 1);
            assert_eq!((stable.0, canary.0), want, "weight {weight}");
            assert_eq!((&stable.1, &canary.1), (&old, &new), "weight {weight}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_canary_is_promoted_on_good_metrics_and_cleaned_up_on_a_bad_one() {
    let target = MetricsTarget::start().await;
    let prometheus = Prometheus::start(&target).await;
    prometheus.until_scraped().await;
    let (world, _run) = started(STEPS, &errors_analysis(&prometheus)).await;

    // Good metrics: every step runs and the stable Deployment is promoted.
    let (samples, sampler) = sample_splits(&world);
    world.deliver("build-2", "web", "2.0.0").await;
    let revision = candidate(&world).await;
    set_ratio(&target, &revision, 0.01);
    let status = world
        .until(APP, "the canary promoted", |s| {
            ended(s, "promoted") && s["state"] == "verified"
        })
        .await;
    sampler.abort();
    assert_eq!(status["rollout"]["phase"], "idle", "{status}");
    only_stable(&world, "2.0.0", "promoted").await;
    assert_splits(&samples.lock().unwrap(), "1.0.0", "2.0.0");

    // A bad metric: the analysis fails, cleanup leaves 2.0.0 alone serving.
    world.deliver("build-3", "web", "3.0.0").await;
    let revision = candidate(&world).await;
    set_ratio(&target, &revision, 0.5);
    let status = world
        .until(APP, "the canary failed", |s| ended(s, "failed"))
        .await;
    let cause = status["rollout"]["cause"].as_str().unwrap_or_default();
    let query = format!("{METRIC}{{app=\"web\",revision=\"{revision}\"}}");
    for part in ["step 3 (analysis errors)", &query, "values seen: 0.5"] {
        assert!(cause.contains(part), "the cause names {part}: {cause}");
    }
    only_stable(&world, "2.0.0", "after a bad metric").await;
    let report = failed_report(&world).await;
    for part in ["step 3 (analysis errors)", &query, "values seen: 0.5"] {
        assert!(report.contains(part), "the report names {part}: {report}");
    }
    let shown = world.cli(&["status", "web", "dev"]);
    for part in ["failed: step 3 (analysis errors)", "0.5", "miss"] {
        assert!(
            shown.contains(part),
            "slipway status shows {part}:\n{shown}"
        );
    }
    drop(prometheus);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pause_waits_for_slipway_promote_and_slipway_abort_cleans_up() {
    let steps = "{steps: [{weight: 50}, {pause: {}}, {weight: 100}]}";
    let (world, _run) = started(steps, "").await;
    let paused = |s: &Value| s["state"] == "paused" && rollout_at(s, "paused", 1);

    world.deliver("build-2", "web", "2.0.0").await;
    world.until(APP, "paused for promote", paused).await;
    assert_eq!(
        shape(&world.kube, "web"),
        Some((2, format!("{IMAGE}:1.0.0")))
    );
    assert_eq!(
        shape(&world.kube, "web-canary"),
        Some((2, format!("{IMAGE}:2.0.0")))
    );
    let shown = world.cli(&["status", "web", "dev"]);
    assert!(shown.contains("step      2 at weight 50%"), "{shown}");
    world.cli(&["promote", "web", "--env", "dev"]);
    world.until(APP, "promoted", |s| ended(s, "promoted")).await;
    only_stable(&world, "2.0.0", "promoted").await;

    world.deliver("build-3", "web", "3.0.0").await;
    world.until(APP, "paused again", paused).await;
    world.cli(&["abort", "web", "--env", "dev"]);
    let status = world.until(APP, "aborted", |s| ended(s, "aborted")).await;
    let cause = status["rollout"]["cause"].as_str().unwrap_or_default();
    assert!(cause.contains("slipway abort at step 2"), "{cause}");
    only_stable(&world, "2.0.0", "aborted").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_killed_in_a_pause_and_in_an_analysis_resumes_and_promotes() {
    let target = MetricsTarget::start().await;
    let prometheus = Prometheus::start(&target).await;
    prometheus.until_scraped().await;
    let (world, mut run) = started(STEPS, &errors_analysis(&prometheus)).await;

    world.deliver("build-2", "web", "2.0.0").await;
    let revision = candidate(&world).await;
    set_ratio(&target, &revision, 0.01);
    let in_pause =
        |s: &Value| rollout_at(s, "stepping", 1) && s["rollout"]["pause_until"].is_string();
    world.until(APP, "the timed pause", in_pause).await;
    run.kill();
    let mut run = world.start();
    let in_analysis = |s: &Value| {
        rollout_at(s, "stepping", 2)
            && s["rollout"]["analysis_runs"]
                .as_array()
                .is_some_and(|r| r.len() == 1)
    };
    world.until(APP, "the analysis half run", in_analysis).await;
    run.kill();
    let _run = world.start();
    let status = world
        .until(APP, "promoted after the restarts", |s| {
            s["rollout"]["end"].is_string() && s["rollout"]["phase"] == "idle"
        })
        .await;
    assert_eq!(status["rollout"]["end"], "promoted", "{status}");
    assert_eq!(status["state"], "verified", "{status}");
    only_stable(&world, "2.0.0", "after the restarts").await;
    drop(prometheus);
}
