//! `slipway logs` against the API test server: sync's status API streams
//! an app/environment's pods' logs, prefixed `pod/container: `, following
//! new lines; it needs the bearer token when one is set, and a revision
//! that is not rolling out is a one-line 404.

use crate::support;
use crate::sync_common;

use std::time::Duration;

use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use slipway::secret::Secret;
use slipway::sync::cluster::{ClusterTarget, KubeCluster};
use slipway::sync::status::{SyncHttpState, routes};
use support::kube_api::KubeApiServer;
use sync_common::{DeployRepo, Harness, web_repo};
use tower::ServiceExt;

/// Upper bound on waiting for a streamed line; a guard, not a timing assertion.
const WAIT_LIMIT: Duration = Duration::from_secs(20);
const TOKEN: &str = "logs-test-token";
const IMAGE: &str = "ghcr.io/acme/web:1.0.0";

/// A verified `web`/`dev` on a test server, and sync's routes reading it.
struct Fixture {
    server: KubeApiServer,
    _repo: DeployRepo,
    harness: Harness,
    router: axum::Router,
}

async fn fixture() -> Fixture {
    let repo = web_repo(IMAGE);
    let server = KubeApiServer::start().await.unwrap();
    let cluster = KubeCluster::new(server.client().unwrap());
    let harness = Harness::new(&repo, ClusterTarget::Kube(cluster.clone()), None);
    harness.sync.sync_once().await.unwrap();
    let router = router(&harness, Some(cluster));
    Fixture {
        server,
        _repo: repo,
        harness,
        router,
    }
}

fn router(harness: &Harness, cluster: Option<KubeCluster>) -> axum::Router {
    let state = SyncHttpState::new(
        harness.store.clone(),
        harness.sync.nudge_handle(),
        &[],
        300,
        Some(Secret::new(TOKEN)),
    )
    .unwrap()
    .with_cluster(cluster);
    routes(state)
}

fn get(path: &str, token: Option<&str>) -> Request<Body> {
    let mut request = Request::get(path);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    request.body(Body::empty()).unwrap()
}

fn pods(server: &KubeApiServer) -> Vec<String> {
    server
        .list_objects("v1", "Pod", Some("web-dev"))
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

async fn error_of(response: axum::response::Response) -> String {
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    body["error"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn logs_stream_every_pods_lines_prefixed_and_follow_sends_appended_ones() {
    let f = fixture().await;
    let pods = pods(&f.server);
    assert_eq!(pods.len(), 2, "{pods:?}");
    let response = f
        .router
        .clone()
        .oneshot(get("/api/v1/apps/web/dev/logs", Some(TOKEN)))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let mut lines: Vec<&str> = std::str::from_utf8(&body).unwrap().lines().collect();
    lines.sort_unstable();
    let expected: Vec<String> = pods
        .iter()
        .map(|p| format!("{p}/web: starting web from image {IMAGE}"))
        .collect();
    assert_eq!(lines, expected);

    let response = f
        .router
        .clone()
        .oneshot(get(
            "/api/v1/apps/web/dev/logs?follow=true&tail=0",
            Some(TOKEN),
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    assert!(
        f.server
            .append_pod_log("web-dev", &pods[1], "web", "GET /checkout 500")
    );
    let mut received = String::new();
    let wanted = format!("{}/web: GET /checkout 500\n", pods[1]);
    while !received.contains(&wanted) {
        let frame = tokio::time::timeout(WAIT_LIMIT, body.frame())
            .await
            .expect("the appended line arrives")
            .expect("the follow stays open")
            .unwrap();
        if let Ok(data) = frame.into_data() {
            received.push_str(std::str::from_utf8(&data).unwrap());
        }
    }
    assert_eq!(received, wanted, "tail=0: only the new line");
}

#[tokio::test]
async fn logs_need_the_token_a_cluster_and_a_revision_that_is_rolling_out() {
    let f = fixture().await;
    let cases = [
        (
            "no token",
            "/api/v1/apps/web/dev/logs",
            None,
            StatusCode::UNAUTHORIZED,
        ),
        (
            "wrong token",
            "/api/v1/apps/web/dev/logs",
            Some("nope"),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "unknown app",
            "/api/v1/apps/shop/dev/logs",
            Some(TOKEN),
            StatusCode::NOT_FOUND,
        ),
        (
            "all revisions",
            "/api/v1/apps/web/dev/logs",
            Some(TOKEN),
            StatusCode::OK,
        ),
        (
            "bad revision",
            "/api/v1/apps/web/dev/logs?revision=newest",
            Some(TOKEN),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (case, path, token, status) in cases {
        let response = f.router.clone().oneshot(get(path, token)).await.unwrap();
        assert_eq!(response.status(), status, "{case}");
    }
    let response = f
        .router
        .clone()
        .oneshot(get("/api/v1/apps/web/dev/logs?revision=new", Some(TOKEN)))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_of(response).await, "no new revision is rolling out");

    let plan_only = router(&f.harness, None);
    let response = plan_only
        .oneshot(get("/api/v1/apps/web/dev/logs", Some(TOKEN)))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(error_of(response).await.contains("no cluster"));
}

#[tokio::test]
async fn the_new_revision_is_the_candidate_workloads_pods() {
    let f = fixture().await;
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(f.server.client().unwrap(), "web-dev");
    let label = json!({"metadata": {"labels": {"slipway.dev/rollout-role": "candidate"}}});
    deployments
        .patch("web", &PatchParams::default(), &Patch::Merge(&label))
        .await
        .unwrap();
    for (revision, status) in [("new", StatusCode::OK), ("old", StatusCode::NOT_FOUND)] {
        let path = format!("/api/v1/apps/web/dev/logs?revision={revision}");
        let response = f
            .router
            .clone()
            .oneshot(get(&path, Some(TOKEN)))
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{revision}");
        if status == StatusCode::OK {
            let body = response.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(std::str::from_utf8(&body).unwrap().lines().count(), 2);
        }
    }
}

#[tokio::test]
async fn slipway_logs_prints_the_lines_and_a_one_line_refusal() {
    let f = fixture().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let router = f.router.clone();
    let serving = tokio::spawn(async move { axum::serve(listener, router).await });
    let run = |args: &'static [&'static str]| {
        let url = url.clone();
        async move {
            tokio::process::Command::new(env!("CARGO_BIN_EXE_slipway"))
                .args(["logs", "web", "--env", "dev", "--url", &url])
                .args(args)
                .env("SLIPWAY_API_TOKEN", TOKEN)
                .output()
                .await
                .unwrap()
        }
    };
    let output = run(&["--tail", "1"]).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    assert!(
        stdout
            .lines()
            .all(|l| l.ends_with(&format!("/web: starting web from image {IMAGE}"))),
        "{stdout}"
    );
    let refused = run(&["--revision", "new"]).await;
    assert!(!refused.status.success());
    let stderr = String::from_utf8(refused.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("404: no new revision is rolling out"),
        "{stderr}"
    );
    serving.abort();
}
