//! Deploy results show up where people look: a commit to the deploy repo
//! becomes an `in_progress` deployment of the source commit on GitHub or
//! GitLab, a verified or failed rollout its `success` or `failure`, and
//! receivers get a signed notification per decision and per verdict. The
//! forge test server keeps every call, so the exact requests are asserted.

use crate::support;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use slipway::bootstrap::{EXAMPLE_FILES, create_bare_repo};
use slipway::deployrepo::settings::{ForgeKind, ForgeSettings};
use slipway::report::Reporter;
use slipway::report::deployments::{
    DeploymentReport, DeploymentState, Deployments, GitHubDeployments, GitLabDeployments,
};
use slipway::report::settings::{NotificationTarget, ReportSettings, SourceForgeSettings};
use slipway::secret::{Secret, SecretSource};
use slipway::store::Store;
use slipway::store::outbox;
use slipway::webhook::signature::{StandardHeaders, StandardKey, verify_standard};
use slipway::worker::Worker;
use support::forge::{Failure, ForgeServer};
use support::webhooks::*;

const TOKEN: &str = "source-forge-token";
const NOTIFY_SECRET: &str = "whsec_c2xpcHdheS1yZXBvcnQtbm90aWZpY2F0aW9uLTMyYg==";
const SHA: &str = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";
const REPO: &str = "Codertocat/hello-world";

type Received = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

struct Harness {
    app: Router,
    worker: Worker,
    reporter: Reporter,
    store: Store,
    forge: ForgeServer,
    received: Received,
    _dir: tempfile::TempDir,
}

/// A notification receiver on 127.0.0.1 keeping what it gets.
async fn receiver() -> (String, Received) {
    let received: Received = Arc::default();
    let kept = received.clone();
    let app = Router::new().route(
        "/events",
        post(move |headers: HeaderMap, body: Bytes| {
            kept.lock().unwrap().push((headers, body));
            async { StatusCode::NO_CONTENT }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/events", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    (url, received)
}

async fn harness(kind: ForgeKind) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let bare = dir.path().join("deploy.git");
    create_bare_repo(&bare, "main", EXAMPLE_FILES).unwrap();
    let forge = ForgeServer::start("acme", TOKEN).await;
    let (url, received) = receiver().await;
    let write = |name: &str, value: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, value).unwrap();
        SecretSource::File(path)
    };
    let mut config = test_config(dir.path());
    let api_url = match kind {
        ForgeKind::GitHub => forge.github_url(),
        ForgeKind::GitLab => forge.gitlab_url(),
    };
    config.forge = Some(ForgeSettings {
        kind,
        api_url: api_url.clone(),
        project: "acme/deploy".into(),
        token: write("deploy-forge-token", TOKEN),
    });
    config.report = Some(ReportSettings {
        public_url: Some("https://slipway.test".into()),
        environment: "{app}/{env}".into(),
        forge: Some(SourceForgeSettings {
            kind,
            api_url,
            token: write("source-token", TOKEN),
        }),
        webhooks: vec![NotificationTarget {
            url,
            secret: write("notify-secret", NOTIFY_SECRET),
        }],
    });
    let r = InProcessReceive::start(config, &bare, None);
    Harness {
        app: r.app,
        worker: r.worker,
        reporter: r.reporter.expect("report is configured"),
        store: r.store,
        forge,
        received,
        _dir: dir,
    }
}

impl Harness {
    async fn deliver(&self, request: http::Request<axum::body::Body>) {
        let (status, body) = send(&self.app, request).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        self.worker.run_once().await.unwrap();
    }

    async fn outbox(&self) -> Vec<(String, String, Option<String>)> {
        self.store.read(outbox::all).await.unwrap()
    }
}

fn artifact(tag: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "image": "ghcr.io/codertocat/hello-world", "tag": tag,
        "source": {"repository": REPO, "commit": SHA, "ref": "refs/heads/main"}
    }))
    .unwrap()
}

fn verdict(verdict: &str, tag: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "app": "hello", "environment": "dev", "revision": "0123456789abcdef0123456789abcdef01234567",
        "image": {"repository": "ghcr.io/codertocat/hello-world", "tag": tag}, "verdict": verdict,
        "reason": if verdict == "failed" { "ProgressDeadlineExceeded: web did not become available" } else { "" },
        "at": jiff::Timestamp::now().to_string()
    }))
    .unwrap()
}

#[tokio::test]
async fn a_verified_and_a_failed_rollout_become_github_deployment_statuses() {
    let h = harness(ForgeKind::GitHub).await;
    h.deliver(generic("build-1", artifact("1.1.0"))).await;
    assert_eq!(
        h.reporter.run_once().await.unwrap(),
        2,
        "deployment and decision notice"
    );
    h.deliver(rollout_report("r-ok", verdict("verified", "1.1.0")))
        .await;
    h.reporter.run_once().await.unwrap();
    h.deliver(rollout_report("r-bad", verdict("failed", "1.1.0")))
        .await;
    h.reporter.run_once().await.unwrap();

    let calls = h.forge.deployment_calls();
    let path = format!("/repos/{REPO}/deployments");
    assert_eq!(calls.len(), 4, "{calls:#?}");
    assert_eq!(calls[0].0, format!("POST {path}"));
    let mut created = calls[0].1.clone();
    let description = created["description"].take();
    assert!(
        description.as_str().unwrap().starts_with(
            "ghcr.io/codertocat/hello-world:1.1.0 written to the deploy repository in "
        ),
        "{description}"
    );
    assert_eq!(
        created,
        json!({"ref": SHA, "environment": "hello/dev", "auto_merge": false, "required_contexts": [],
               "description": null})
    );
    let statuses = format!("POST {path}/100/statuses");
    assert_eq!(calls[1].0, statuses);
    assert_eq!(calls[1].1["state"], "in_progress");
    assert_eq!(calls[1].1["environment"], "hello/dev");
    assert_eq!(calls[2].0, statuses);
    assert_eq!(
        calls[2].1,
        json!({"state": "success", "environment": "hello/dev",
               "description": "ghcr.io/codertocat/hello-world:1.1.0 rolled out and verified in hello/dev",
               "log_url": "https://slipway.test/api/v1/deliveries/r-ok"})
    );
    assert_eq!(calls[3].1["state"], "failure");
    assert_eq!(
        calls[3].1["description"],
        "rollout of ghcr.io/codertocat/hello-world:1.1.0 failed: ProgressDeadlineExceeded: web did not become available"
    );
    assert_eq!(
        h.forge.deployments().len(),
        1,
        "one deployment, three statuses"
    );

    let received = h.received.lock().unwrap().clone();
    let kinds: Vec<String> = received
        .iter()
        .map(|(headers, body)| {
            let key = StandardKey::from_secret(&Secret::new(NOTIFY_SECRET)).unwrap();
            let header = |n: &str| headers.get(n).unwrap().to_str().unwrap();
            let signed = StandardHeaders {
                id: header("webhook-id"),
                timestamp: header("webhook-timestamp"),
                signature: Some(header("webhook-signature")),
            };
            verify_standard(&[key], signed, body, now(), 300).expect("signed notification");
            let body: Value = serde_json::from_slice(body).unwrap();
            body["type"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "deploy.decided",  // 1.1.0 into hello/dev
            "rollout.verdict", // verified in hello/dev
            "deploy.decided",  // the promotion to hello/staging
            "rollout.verdict"  // failed in hello/dev
        ]
    );
}

#[tokio::test]
async fn gitlab_deployments_are_created_running_and_updated() {
    let h = harness(ForgeKind::GitLab).await;
    h.deliver(generic("build-1", artifact("1.1.0"))).await;
    h.reporter.run_once().await.unwrap();
    h.deliver(rollout_report("r-ok", verdict("verified", "1.1.0")))
        .await;
    h.reporter.run_once().await.unwrap();
    let calls = h.forge.deployment_calls();
    assert_eq!(calls.len(), 2, "{calls:#?}");
    assert_eq!(calls[0].0, format!("POST /projects/{REPO}/deployments"));
    assert_eq!(
        calls[0].1,
        json!({"ref": "main", "sha": SHA, "tag": false, "environment": "hello/dev", "status": "running"})
    );
    assert_eq!(calls[1].0, format!("PUT /projects/{REPO}/deployments/100"));
    assert_eq!(calls[1].1, json!({"status": "success"}));
    assert_eq!(h.forge.deployments()[0].states, ["running", "success"]);
    let statuses = h.forge.commit_status_calls();
    assert_eq!(statuses.len(), 1, "{statuses:#?}");
    assert!(
        statuses[0]
            .0
            .starts_with("POST /projects/acme/deploy/statuses/")
    );
    assert_eq!(statuses[0].1["name"], "slipway/policy");
    assert_eq!(statuses[0].1["state"], "success");
}

#[tokio::test]
async fn a_promotion_pull_request_gets_the_policy_status_on_its_head() {
    let h = harness(ForgeKind::GitHub).await;
    h.deliver(generic("build-1", artifact("1.1.0"))).await;
    h.deliver(rollout_report("r-ok", verdict("verified", "1.1.0")))
        .await;
    let outcome = h
        .store
        .delivery("r-ok".into())
        .await
        .unwrap()
        .unwrap()
        .outcome
        .unwrap();
    assert!(
        outcome["summary"]
            .as_str()
            .unwrap()
            .contains("opened pull request #1"),
        "{outcome}"
    );
    let head = outcome["detail"]["writes"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|w| w["result"]["Ok"]["commit"].as_str())
        .unwrap()
        .to_string();
    h.reporter.run_once().await.unwrap();
    let statuses = h.forge.commit_status_calls();
    assert_eq!(statuses.len(), 1, "{statuses:#?}");
    assert_eq!(
        statuses[0].0,
        format!("POST /repos/acme/deploy/statuses/{head}")
    );
    let body = &statuses[0].1;
    assert_eq!(body["state"], "success");
    assert_eq!(body["context"], "slipway/policy");
    assert_eq!(
        body["target_url"],
        "https://slipway.test/api/v1/deliveries/r-ok"
    );
    let description = body["description"].as_str().unwrap();
    assert!(
        description.starts_with("ghcr.io/codertocat/hello-world:1.1.0 allowed by policy ("),
        "{description}"
    );
}

#[tokio::test]
async fn a_rate_limited_forge_waits_for_its_reset_and_never_blocks_the_deploy() {
    let h = harness(ForgeKind::GitHub).await;
    let reset = jiff::Timestamp::now().as_second() as u64 + 600;
    h.forge.fail_with(Some(Failure::GitHubRateLimit(reset)));
    h.deliver(generic("build-1", artifact("1.1.0"))).await;
    let summary = h
        .store
        .delivery("build-1".into())
        .await
        .unwrap()
        .unwrap()
        .outcome
        .unwrap();
    assert!(
        summary["summary"].as_str().unwrap().contains("committed"),
        "{summary}"
    );
    h.reporter.run_once().await.unwrap();
    let seen = h.forge.state.seen.lock().unwrap().len();
    h.reporter.run_once().await.unwrap();
    assert_eq!(
        h.forge.state.seen.lock().unwrap().len(),
        seen,
        "no call before the reset"
    );
    let outbox = h.outbox().await;
    let forge_item = outbox
        .iter()
        .find(|(key, ..)| key.starts_with("deployment:"))
        .unwrap();
    assert_eq!(forge_item.1, "pending");
    assert!(
        forge_item.2.as_deref().unwrap().contains("rate limited"),
        "{forge_item:?}"
    );
    assert!(h.forge.deployments().is_empty());
}

#[tokio::test]
async fn a_retried_report_finds_its_deployment_instead_of_creating_another() {
    let forge = ForgeServer::start("acme", TOKEN).await;
    let report = |state| DeploymentReport {
        repository: REPO.into(),
        commit: SHA.into(),
        git_ref: Some("refs/tags/v1.1.0".into()),
        environment: "hello/prod".into(),
        state,
        description: "x".into(),
        log_url: None,
    };
    let github = GitHubDeployments::new(&forge.github_url(), Secret::new(TOKEN)).unwrap();
    let first = github
        .report(&report(DeploymentState::InProgress), None)
        .await
        .unwrap();
    let again = github
        .report(&report(DeploymentState::InProgress), None)
        .await
        .unwrap();
    assert_eq!(first, again);
    let gitlab = GitLabDeployments::new(&forge.gitlab_url(), Secret::new(TOKEN)).unwrap();
    let first = gitlab
        .report(&report(DeploymentState::InProgress), None)
        .await
        .unwrap();
    let again = gitlab
        .report(&report(DeploymentState::Failure), None)
        .await
        .unwrap();
    assert_eq!(first, again);
    let deployments = forge.deployments();
    assert_eq!(deployments.len(), 2, "one on each forge: {deployments:#?}");
    assert_eq!(deployments[1].states, ["running", "failed"]);
    let gitlab_create = &forge.deployment_calls()[3];
    assert_eq!(gitlab_create.1["ref"], "v1.1.0");
    assert_eq!(gitlab_create.1["tag"], true, "a tag ref is a tag on GitLab");
}
