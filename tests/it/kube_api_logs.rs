//! Pod logs and kubelet Events of the Kubernetes API test server, read with
//! the `kube` crate's log API as sync reads them.

use crate::support;

use std::time::Duration;

use anyhow::{Context, Result};
use futures::{AsyncBufReadExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, DeleteParams, ListParams, LogParams, Patch, PatchParams};
use serde_json::json;

use support::kube_api::{KubeApiServer, ServerConfig};

/// Upper bound on waiting for the simulator; a guard, not a timing assertion.
const WAIT_LIMIT: Duration = Duration::from_secs(20);

async fn start() -> Result<(KubeApiServer, kube::Client)> {
    let config = ServerConfig {
        rollout_delay: Duration::from_millis(30),
        ..ServerConfig::default()
    };
    let server = KubeApiServer::start_with(config).await?;
    let client = server.client()?;
    Ok((server, client))
}

/// Deploy `name` with one replica of `image` and return its pod once the
/// rollout has brought it to the state `ready` accepts.
async fn deploy(
    client: &kube::Client,
    name: &str,
    image: &str,
    ready: fn(&Pod) -> bool,
) -> Result<Pod> {
    let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "main", "image": image}]}}}});
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::default_namespaced(client.clone());
    deployments
        .patch(
            name,
            &PatchParams::apply("test"),
            &Patch::Apply(&deployment),
        )
        .await?;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let deadline = tokio::time::Instant::now() + WAIT_LIMIT;
    loop {
        let list = pods
            .list(&ListParams::default().labels(&format!("app={name}")))
            .await?;
        if let Some(pod) = list.items.into_iter().find(&ready) {
            return Ok(pod);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "pod of {name} never settled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn waiting_reason(pod: &Pod) -> Option<String> {
    pod.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .first()?
        .state
        .as_ref()?
        .waiting
        .as_ref()?
        .reason
        .clone()
}

fn running(pod: &Pod) -> bool {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
        && waiting_reason(pod).is_none()
}

fn name_of(pod: &Pod) -> String {
    pod.metadata.name.clone().unwrap_or_default()
}

fn bad_request_message(error: kube::Error) -> Result<(u16, String)> {
    match error {
        kube::Error::Api(status) => Ok((status.code, status.message)),
        other => Err(other).context("expected a Status answer"),
    }
}

#[tokio::test]
async fn a_running_container_logs_its_start_and_appended_lines_within_tail_and_limit() -> Result<()>
{
    let (server, client) = start().await?;
    let pod = deploy(&client, "web", "web:1.0", running).await?;
    let name = name_of(&pod);
    assert!(server.append_pod_log("default", &name, "main", "GET /healthz 200"));
    assert!(!server.append_pod_log("default", "no-such-pod", "main", "lost"));
    let pods: Api<Pod> = Api::default_namespaced(client);
    let all = pods.logs(&name, &LogParams::default()).await?;
    assert_eq!(all, "starting main from image web:1.0\nGET /healthz 200\n");
    let tail = LogParams {
        tail_lines: Some(1),
        timestamps: true,
        ..LogParams::default()
    };
    assert_eq!(pods.logs(&name, &tail).await?, "GET /healthz 200\n");
    let limited = LogParams {
        limit_bytes: Some(8),
        ..LogParams::default()
    };
    assert_eq!(pods.logs(&name, &limited).await?, "starting");
    Ok(())
}

#[tokio::test]
async fn log_requests_are_refused_as_the_api_server_and_kubelet_refuse_them() -> Result<()> {
    let (_server, client) = start().await?;
    let running_pod = name_of(&deploy(&client, "web", "web:1.0", running).await?);
    let pulling = |p: &Pod| waiting_reason(p).as_deref() == Some("ImagePullBackOff");
    let pulling_pod = name_of(&deploy(&client, "api", "api:1.0-badimage", pulling).await?);
    let pods: Api<Pod> = Api::default_namespaced(client);
    let refusal = |lp: LogParams, pod: String| {
        let pods = pods.clone();
        async move { bad_request_message(pods.logs(&pod, &lp).await.expect_err("refused")) }
    };
    let cases = [
        (
            "missing pod",
            "nope".to_string(),
            LogParams::default(),
            404,
            r#"pods "nope" not found"#.to_string(),
        ),
        (
            "unknown container",
            running_pod.clone(),
            LogParams {
                container: Some("sidecar".into()),
                ..LogParams::default()
            },
            400,
            format!("container sidecar is not valid for pod {running_pod}"),
        ),
        (
            "never restarted",
            running_pod.clone(),
            LogParams {
                previous: true,
                ..LogParams::default()
            },
            400,
            format!(r#"previous terminated container "main" in pod "{running_pod}" not found"#),
        ),
        (
            "image never pulled",
            pulling_pod.clone(),
            LogParams::default(),
            400,
            format!(
                r#"container "main" in pod "{pulling_pod}" is waiting to start: trying and failing to pull image"#
            ),
        ),
    ];
    for (case, pod, params, code, message) in cases {
        assert_eq!(refusal(params, pod).await?, (code, message), "{case}");
    }
    Ok(())
}

#[tokio::test]
async fn a_crash_looping_container_has_previous_logs_and_a_backoff_warning() -> Result<()> {
    let (_server, client) = start().await?;
    let crashing = |p: &Pod| waiting_reason(p).as_deref() == Some("CrashLoopBackOff");
    let pod = name_of(&deploy(&client, "web", "web:1.0-crash", crashing).await?);
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let previous = LogParams {
        previous: true,
        ..LogParams::default()
    };
    let expected =
        "starting main from image web:1.0-crash\npanic: main exited with status 1 (restart 3)\n";
    assert_eq!(pods.logs(&pod, &previous).await?, expected);
    assert_eq!(
        pods.logs(&pod, &LogParams::default()).await?,
        expected,
        "the last run, as the kubelet shows it"
    );
    let events: Api<Event> = Api::default_namespaced(client);
    let selector = format!("involvedObject.kind=Pod,involvedObject.name={pod},type=Warning");
    let warnings = events
        .list(&ListParams::default().fields(&selector))
        .await?
        .items;
    let reasons: Vec<_> = warnings
        .iter()
        .map(|e| {
            (
                e.reason.clone().unwrap_or_default(),
                e.message.clone().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert_eq!(reasons[0].0, "BackOff");
    assert!(
        reasons[0].1.starts_with(&format!(
            "Back-off restarting failed container main in pod {pod}_default("
        )),
        "{reasons:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_follow_sends_appended_lines_until_the_pod_is_deleted() -> Result<()> {
    let (server, client) = start().await?;
    let pod = name_of(&deploy(&client, "web", "web:1.0", running).await?);
    let pods: Api<Pod> = Api::default_namespaced(client);
    let follow = LogParams {
        follow: true,
        ..LogParams::default()
    };
    let mut lines = pods.log_stream(&pod, &follow).await?.lines();
    let mut next = async || -> Result<Option<String>> {
        Ok(tokio::time::timeout(WAIT_LIMIT, lines.try_next()).await??)
    };
    assert_eq!(
        next().await?.as_deref(),
        Some("starting main from image web:1.0")
    );
    server.append_pod_log("default", &pod, "main", "first request");
    assert_eq!(next().await?.as_deref(), Some("first request"));
    pods.delete(&pod, &DeleteParams::default()).await?;
    assert_eq!(next().await?, None, "the stream ends with the pod");
    Ok(())
}
