//! Rollout simulation and watch details of the Kubernetes API test server,
//! driven over HTTP with the `kube` crate and plain requests.

use crate::support;

use std::time::Duration;

use anyhow::{Context, Result};
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::pinned_kind;
use kube::runtime::wait::await_condition;
use serde_json::{Value, json};

use support::kube_api::{KubeApiServer, RolloutOutcome, ServerConfig};

/// Upper bound on waiting for the simulator; a guard, not a timing assertion.
const WAIT_LIMIT: Duration = Duration::from_secs(20);

async fn start() -> Result<(KubeApiServer, kube::Client)> {
    let config = ServerConfig {
        rollout_delay: Duration::from_millis(50),
        bookmark_interval: Duration::from_millis(100),
        ..ServerConfig::default()
    };
    let server = KubeApiServer::start_with(config).await?;
    let client = server.client()?;
    Ok((server, client))
}

async fn api(client: &kube::Client, group: &str, kind: &str) -> Result<Api<DynamicObject>> {
    let (resource, _) = pinned_kind(client, &GroupVersionKind::gvk(group, "v1", kind)).await?;
    Ok(Api::namespaced_with(client.clone(), "default", &resource))
}

fn workload(api_version: &str, kind: &str, name: &str, image: &str) -> Value {
    let template = json!({"metadata": {"labels": {"app": name}},
                          "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": image}]}});
    let spec = match kind {
        "Job" => json!({"template": template}),
        _ => {
            json!({"replicas": 2, "selector": {"matchLabels": {"app": name}}, "template": template})
        }
    };
    json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name}, "spec": spec})
}

async fn apply_and_wait(
    api: &Api<DynamicObject>,
    object: &Value,
    done: impl Fn(&Value) -> bool + Send + 'static,
) -> Result<DynamicObject> {
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    api.patch(&name, &PatchParams::apply("slipway"), &Patch::Apply(object))
        .await?;
    let condition = move |o: Option<&DynamicObject>| o.is_some_and(|o| done(&o.data));
    tokio::time::timeout(WAIT_LIMIT, await_condition(api.clone(), &name, condition)).await??;
    Ok(api.get(&name).await?)
}

fn has_condition(status: &Value, kind: &str, reason: &str) -> bool {
    status["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == kind && c["reason"] == reason && c["status"] == "True")
    })
}

#[tokio::test]
async fn statefulsets_daemonsets_and_jobs_complete_for_good_tags() -> Result<()> {
    let (_server, client) = start().await?;
    let sets = api(&client, "apps", "StatefulSet").await?;
    let done = apply_and_wait(
        &sets,
        &workload("apps/v1", "StatefulSet", "db", "db:1"),
        |o| {
            o["status"]["readyReplicas"] == json!(2)
                && o["status"]["currentRevision"] == o["status"]["updateRevision"]
        },
    )
    .await?;
    assert_eq!(done.data["status"]["observedGeneration"], json!(1));

    let daemons = api(&client, "apps", "DaemonSet").await?;
    let done = apply_and_wait(
        &daemons,
        &workload("apps/v1", "DaemonSet", "agent", "agent:1"),
        |o| o["status"]["numberReady"] == json!(1),
    )
    .await?;
    assert_eq!(done.data["status"]["desiredNumberScheduled"], json!(1));

    let jobs = api(&client, "batch", "Job").await?;
    let done = apply_and_wait(
        &jobs,
        &workload("batch/v1", "Job", "migrate", "migrate:1"),
        |o| has_condition(&o["status"], "Complete", "CompletionsReached"),
    )
    .await?;
    assert_eq!(done.data["status"]["succeeded"], json!(1));
    Ok(())
}

#[tokio::test]
async fn a_failing_job_reports_backoff_limit_exceeded() -> Result<()> {
    let (_server, client) = start().await?;
    let jobs = api(&client, "batch", "Job").await?;
    let failed = apply_and_wait(
        &jobs,
        &workload("batch/v1", "Job", "migrate", "migrate:1-fail"),
        |o| has_condition(&o["status"], "Failed", "BackoffLimitExceeded"),
    )
    .await?;
    assert_eq!(failed.data["status"]["failed"], json!(7));
    Ok(())
}

#[tokio::test]
async fn a_hanging_rollout_leaves_unschedulable_pods() -> Result<()> {
    let (server, client) = start().await?;
    server.set_global_rollout_outcome(Some(RolloutOutcome::Hang));
    let deployments = api(&client, "apps", "Deployment").await?;
    let observed = apply_and_wait(
        &deployments,
        &workload("apps/v1", "Deployment", "web", "web:1"),
        |o| o["status"]["observedGeneration"] == json!(1),
    )
    .await?;
    assert!(has_condition(
        &observed.data["status"],
        "Progressing",
        "ReplicaSetUpdated"
    ));
    let pods = api(&client, "", "Pod")
        .await?
        .list(&ListParams::default().labels("app=web"))
        .await?;
    assert_eq!(pods.items.len(), 2);
    for pod in &pods.items {
        assert_eq!(pod.data["status"]["phase"], json!("Pending"));
        assert_eq!(
            pod.data["status"]["conditions"][0]["reason"],
            json!("Unschedulable")
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_new_image_replaces_the_old_replica_set_pods() -> Result<()> {
    let (server, client) = start().await?;
    let deployments = api(&client, "apps", "Deployment").await?;
    let complete = |o: &Value| {
        o["status"]["observedGeneration"] == json!(2)
            && has_condition(&o["status"], "Progressing", "NewReplicaSetAvailable")
    };
    apply_and_wait(
        &deployments,
        &workload("apps/v1", "Deployment", "web", "web:1"),
        |o| has_condition(&o["status"], "Progressing", "NewReplicaSetAvailable"),
    )
    .await?;
    apply_and_wait(
        &deployments,
        &workload("apps/v1", "Deployment", "web", "web:2"),
        complete,
    )
    .await?;
    let pods = server.list_objects("v1", "Pod", Some("default"));
    assert_eq!(pods.len(), 2);
    assert!(
        pods.iter()
            .all(|p| p["spec"]["containers"][0]["image"] == json!("web:2"))
    );
    let replica_sets = server.list_objects("apps/v1", "ReplicaSet", Some("default"));
    let replicas: Vec<Value> = replica_sets
        .iter()
        .map(|rs| rs["spec"]["replicas"].clone())
        .collect();
    assert_eq!(replica_sets.len(), 2);
    assert!(
        replicas.contains(&json!(0)) && replicas.contains(&json!(2)),
        "{replicas:?}"
    );
    Ok(())
}

#[tokio::test]
async fn watch_streams_events_and_bookmarks_until_its_timeout() -> Result<()> {
    let (server, client) = start().await?;
    let maps = api(&client, "", "ConfigMap").await?;
    let map = |name: &str, tier: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {"tier": tier}}});
    let first = maps
        .patch(
            "a",
            &PatchParams::apply("t"),
            &Patch::Apply(map("a", "front")),
        )
        .await?;
    let version = first.metadata.resource_version.context("resourceVersion")?;
    maps.patch(
        "b",
        &PatchParams::apply("t"),
        &Patch::Apply(map("b", "back")),
    )
    .await?;
    maps.patch(
        "a",
        &PatchParams::apply("t"),
        &Patch::Apply(map("a", "back")),
    )
    .await?;
    let url = format!(
        "{}/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={version}&labelSelector=tier%3Dfront&allowWatchBookmarks=true&timeoutSeconds=1",
        server.url()
    );
    let body = reqwest::get(url).await?.text().await?;
    let events: Vec<Value> = body
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(
        types.first(),
        Some(&"DELETED"),
        "a leaving the selection is a deletion: {types:?}"
    );
    assert!(
        types[1..].iter().all(|t| *t == "BOOKMARK") && types.len() > 1,
        "{types:?}"
    );
    assert_eq!(events[1]["object"]["kind"], json!("ConfigMap"));
    Ok(())
}

#[tokio::test]
async fn dry_run_apply_answers_without_storing() -> Result<()> {
    let (server, client) = start().await?;
    let maps = api(&client, "", "ConfigMap").await?;
    let map = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}});
    let answer = maps
        .patch("c", &PatchParams::apply("t").dry_run(), &Patch::Apply(&map))
        .await?;
    assert_eq!(answer.data["data"]["k"], json!("v"));
    assert_eq!(
        server.get_object("v1", "ConfigMap", Some("default"), "c"),
        None
    );
    Ok(())
}

#[tokio::test]
async fn deployment_rollouts_end_as_the_image_tag_says() -> Result<()> {
    let (_server, client) = start().await?;
    let deployments = api(&client, "apps", "Deployment").await?;
    let good = apply_and_wait(
        &deployments,
        &workload("apps/v1", "Deployment", "good", "web:1.0"),
        |o| has_condition(&o["status"], "Progressing", "NewReplicaSetAvailable"),
    )
    .await?;
    assert_eq!(good.data["status"]["availableReplicas"], json!(2));
    assert_eq!(good.data["status"]["observedGeneration"], json!(1));
    let bad = apply_and_wait(
        &deployments,
        &workload("apps/v1", "Deployment", "bad", "web:1.0-fail"),
        |o| {
            o["status"]["conditions"].as_array().is_some_and(|c| {
                c.iter().any(|c| {
                    c["type"] == "Progressing" && c["reason"] == "ProgressDeadlineExceeded"
                })
            })
        },
    )
    .await?;
    assert_eq!(bad.data["status"].get("availableReplicas"), None);
    Ok(())
}

#[tokio::test]
async fn crashing_rollout_leaves_crash_looping_pods_of_the_deployment() -> Result<()> {
    let (server, client) = start().await?;
    server.set_rollout_outcome("default", "web", RolloutOutcome::Crash);
    let deployments = api(&client, "apps", "Deployment").await?;
    apply_and_wait(
        &deployments,
        &workload("apps/v1", "Deployment", "web", "web:1.0"),
        |o| o["status"]["observedGeneration"] == json!(1),
    )
    .await?;
    let pods = api(&client, "", "Pod").await?;
    let crash_looping = |list: &[DynamicObject]| {
        list.len() == 2
            && list.iter().all(|p| {
                p.data
                    .pointer("/status/containerStatuses/0/state/waiting/reason")
                    == Some(&json!("CrashLoopBackOff"))
            })
    };
    let deadline = tokio::time::Instant::now() + WAIT_LIMIT;
    loop {
        let list = pods
            .list(&ListParams::default().labels("app=web"))
            .await?
            .items;
        if crash_looping(&list) {
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "pods never crash-looped: {list:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = deployments.get("web").await?.data["status"].clone();
    assert_eq!(status.get("availableReplicas"), None, "never available");
    Ok(())
}

#[tokio::test]
async fn streaming_list_watcher_receives_initial_objects_then_changes() -> Result<()> {
    use futures::{StreamExt, TryStreamExt};
    use kube::runtime::{WatchStreamExt, watcher};

    let (_server, client) = start().await?;
    let maps = api(&client, "", "ConfigMap").await?;
    let map = |value: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": value}});
    maps.patch("c", &PatchParams::apply("t"), &Patch::Apply(map("1")))
        .await?;
    let config = watcher::Config::default().streaming_lists();
    let mut stream = watcher(maps.clone(), config).applied_objects().boxed();
    let first = tokio::time::timeout(WAIT_LIMIT, stream.try_next())
        .await??
        .context("initial object")?;
    assert_eq!(first.data["data"]["k"], json!("1"));
    maps.patch("c", &PatchParams::apply("t"), &Patch::Apply(map("2")))
        .await?;
    let second = tokio::time::timeout(WAIT_LIMIT, stream.try_next())
        .await??
        .context("changed object")?;
    assert_eq!(second.data["data"]["k"], json!("2"));
    Ok(())
}

#[tokio::test]
async fn the_outcome_endpoint_overrides_the_image_tag() -> Result<()> {
    let (server, client) = start().await?;
    let endpoint = format!("{}/_test/rollout-outcome", server.url());
    let http = reqwest::Client::new();
    http.post(&endpoint)
        .json(&json!({"namespace": "default", "name": "web", "outcome": "fail"}))
        .send()
        .await?
        .error_for_status()?;
    let deployments = api(&client, "apps", "Deployment").await?;
    apply_and_wait(
        &deployments,
        &workload("apps/v1", "Deployment", "web", "web:1.0"),
        |o| {
            o["status"]["conditions"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c["reason"] == "ProgressDeadlineExceeded"))
        },
    )
    .await?;
    http.post(&endpoint)
        .json(&json!({"namespace": "default", "name": "web", "outcome": null}))
        .send()
        .await?
        .error_for_status()?;
    apply_and_wait(
        &deployments,
        &workload("apps/v1", "Deployment", "web", "web:1.1"),
        |o| has_condition(&o["status"], "Progressing", "NewReplicaSetAvailable"),
    )
    .await?;
    Ok(())
}
