//! Deliveries through the whole receive side, against a real deploy
//! repository and the GitHub API test server: an artifact commits to dev, a
//! verified rollout opens the staging pull request, a failed one commits a
//! revert, and a mutable tag is denied with its reason.

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use http::{Request, StatusCode};
use serde_json::json;
use slipway::bootstrap::{EXAMPLE_FILES, create_bare_repo};
use slipway::deployrepo::settings::{ForgeKind, ForgeSettings};
use slipway::metrics::Metrics;
use slipway::pipeline::nudge::LocalNudge;
use slipway::secret::SecretSource;
use slipway::store::Store;
use slipway::worker::Worker;
use support::forge::{Failure, ForgeServer};
use support::git_repos::{commit_count, remote_file};
use support::webhooks::*;
use tokio::sync::Notify;
use tower::ServiceExt;

const DIGEST: &str = "sha256:3da1996a8115d7616457760d9920b815241d0a03b34cf5f04e9a0e9d8de37498";
const FORGE_TOKEN: &str = "forge-test-token";
const DEV: &str = "apps/hello/dev/deployment.yaml";

struct Harness {
    app: Router,
    worker: Worker,
    store: Store,
    metrics: Arc<Metrics>,
    bare: std::path::PathBuf,
    nudge: Arc<Notify>,
    forge: ForgeServer,
    _dir: tempfile::TempDir,
}

async fn harness() -> Harness {
    harness_with(ForgeKind::GitHub).await
}

async fn harness_with(kind: ForgeKind) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let bare = dir.path().join("deploy.git");
    create_bare_repo(&bare, "main", EXAMPLE_FILES).unwrap();
    let forge = ForgeServer::start("acme", FORGE_TOKEN).await;
    let token = dir.path().join("forge-token");
    std::fs::write(&token, FORGE_TOKEN).unwrap();
    let mut config = test_config(dir.path());
    let api_url = match kind {
        ForgeKind::GitHub => forge.github_url(),
        ForgeKind::GitLab => forge.gitlab_url(),
    };
    config.forge = Some(ForgeSettings {
        kind,
        api_url,
        project: "acme/deploy".into(),
        token: SecretSource::File(token),
    });
    let nudge = Arc::new(Notify::new());
    let receive = InProcessReceive::start(config, &bare, Some(Arc::new(LocalNudge(nudge.clone()))));
    Harness {
        app: receive.app,
        worker: receive.worker,
        store: receive.store,
        metrics: receive.metrics,
        bare,
        nudge,
        forge,
        _dir: dir,
    }
}

impl Harness {
    async fn deliver(&self, request: Request<Body>) {
        let response = self.app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        self.worker.run_once().await.unwrap();
    }

    async fn summary(&self, id: &str) -> String {
        let d = self.store.delivery(id.into()).await.unwrap().unwrap();
        assert_eq!(
            d.state,
            slipway::store::inbox::DeliveryState::Done,
            "{id}: {:?}",
            d
        );
        d.outcome.unwrap()["summary"].as_str().unwrap().to_string()
    }

    fn file(&self, path: &str) -> String {
        remote_file(&self.bare, "main", path)
    }
}

fn report(verdict: &str, env: &str, image: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "app": "hello", "environment": env, "revision": "0123456789abcdef0123456789abcdef01234567",
        "image": image, "verdict": verdict, "reason": if verdict == "failed" { "ProgressDeadlineExceeded" } else { "" },
        "at": jiff::Timestamp::now().to_string()
    }))
    .unwrap()
}

fn generic_image(tag: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"image": "ghcr.io/codertocat/hello-world", "tag": tag})).unwrap()
}

async fn nudged(nudge: &Notify) -> bool {
    tokio::time::timeout(Duration::from_secs(1), nudge.notified())
        .await
        .is_ok()
}

#[tokio::test]
async fn an_artifact_commits_to_dev_and_a_verified_rollout_opens_the_staging_pull_request() {
    let h = harness().await;
    let before = commit_count(&h.bare, "main");
    h.deliver(github(
        "registry_package",
        "pkg-1",
        slipway::quickstart::DEMO_PAYLOAD.to_vec(),
    ))
    .await;
    let summary = h.summary("pkg-1").await;
    assert!(summary.starts_with("hello/dev: committed"), "{summary}");
    let dev = h.file(DEV);
    assert!(
        dev.contains(&format!(
            "image: ghcr.io/codertocat/hello-world:1.1.0@{DIGEST} # the first release"
        )),
        "{dev}"
    );
    assert_eq!(commit_count(&h.bare, "main"), before + 1);
    assert!(nudged(&h.nudge).await, "sync is nudged after the commit");
    assert!(
        !h.file("apps/hello/staging/deployment.yaml")
            .contains(DIGEST),
        "staging untouched"
    );

    let image = json!({"repository": "ghcr.io/codertocat/hello-world", "digest": DIGEST});
    h.deliver(rollout_report(
        "report-dev-ok",
        report("verified", "dev", image),
    ))
    .await;
    let summary = h.summary("report-dev-ok").await;
    assert!(
        summary.contains("hello/staging: opened pull request #1"),
        "{summary}"
    );
    let prs = h.forge.stored();
    assert_eq!(prs.len(), 1);
    assert_eq!(prs[0].head, "slipway/hello/staging");
    assert!(
        prs[0].body.contains("allow"),
        "the PR body holds the policy trace: {}",
        prs[0].body
    );
    assert_eq!(
        commit_count(&h.bare, "main"),
        before + 1,
        "staging waits for the merge"
    );
}

#[tokio::test]
async fn a_failed_rollout_commits_a_revert_to_the_last_verified_image() {
    let h = harness().await;
    h.deliver(generic("build-1", generic_image("1.1.0"))).await;
    let verified = json!({"repository": "ghcr.io/codertocat/hello-world", "tag": "1.1.0"});
    h.deliver(rollout_report("r-1", report("verified", "dev", verified)))
        .await;
    h.deliver(generic("build-2", generic_image("1.2.0"))).await;
    assert!(h.file(DEV).contains("hello-world:1.2.0"));
    let failed = json!({"repository": "ghcr.io/codertocat/hello-world", "tag": "1.2.0"});
    h.deliver(rollout_report("r-2", report("failed", "dev", failed)))
        .await;
    let summary = h.summary("r-2").await;
    assert!(summary.contains("hello/dev: committed"), "{summary}");
    assert!(
        h.file(DEV).contains("hello-world:1.1.0"),
        "reverted past the no-downgrade guard"
    );
}

#[tokio::test]
async fn a_mutable_tag_is_denied_with_its_reason_and_nothing_is_written() {
    let h = harness().await;
    let before = commit_count(&h.bare, "main");
    h.deliver(generic("latest-1", generic_image("latest")))
        .await;
    let summary = h.summary("latest-1").await;
    assert!(summary.starts_with("hello/dev: denied"), "{summary}");
    assert!(summary.contains("latest"), "{summary}");
    assert_eq!(commit_count(&h.bare, "main"), before);
}

#[tokio::test]
async fn an_operator_rollback_goes_through_the_gate_and_the_writer() {
    let h = harness().await;
    for (n, tag) in [(1, "1.1.0"), (2, "1.2.0")] {
        h.deliver(generic(&format!("b-{n}"), generic_image(tag)))
            .await;
        let image = json!({"repository": "ghcr.io/codertocat/hello-world", "tag": tag});
        h.deliver(rollout_report(
            &format!("v-{n}"),
            report("verified", "dev", image),
        ))
        .await;
    }
    assert!(h.file(DEV).contains("hello-world:1.2.0"));
    let body =
        br#"{"app": "hello", "environment": "dev", "action": "rollback", "requested_by": "ann"}"#
            .to_vec();
    h.deliver(post(
        "/hooks/operator",
        &standard_headers(OPERATOR_SECRET, "op-rb", now(), &body),
        body,
    ))
    .await;
    let summary = h.summary("op-rb").await;
    assert!(summary.contains("hello/dev: committed"), "{summary}");
    assert!(h.file(DEV).contains("hello-world:1.1.0"));
}

/// Regression: the forge's rate-limit reset was turned into text on its way
/// to the worker, which retried after its own 1 s backoff, into the limit.
#[tokio::test]
async fn a_rate_limited_pull_request_is_retried_no_earlier_than_the_reset() {
    const WAIT_SECONDS: u64 = 600;
    let before = jiff::Timestamp::now();
    let reset_epoch = before.as_second() as u64 + WAIT_SECONDS;
    let cases = [
        (
            "github 403 x-ratelimit-reset",
            ForgeKind::GitHub,
            Failure::GitHubRateLimit(reset_epoch),
        ),
        (
            "github 403 retry-after",
            ForgeKind::GitHub,
            Failure::GitHubSecondaryLimit(WAIT_SECONDS),
        ),
        (
            "github 429 retry-after",
            ForgeKind::GitHub,
            Failure::TooManyRequests(WAIT_SECONDS),
        ),
        (
            "gitlab 429 ratelimit-reset",
            ForgeKind::GitLab,
            Failure::GitLabRateLimit(reset_epoch),
        ),
        (
            "gitlab 429 retry-after",
            ForgeKind::GitLab,
            Failure::TooManyRequests(WAIT_SECONDS),
        ),
    ];
    for (name, kind, failure) in cases {
        let h = harness_with(kind).await;
        h.deliver(generic("build-1", generic_image("1.1.0"))).await;
        h.forge.fail_with(Some(failure));
        let verified = json!({"repository": "ghcr.io/codertocat/hello-world", "tag": "1.1.0"});
        h.deliver(rollout_report("r-1", report("verified", "dev", verified)))
            .await;
        let after = jiff::Timestamp::now();
        // A fresh CI result wakes waiting deliveries; the rate limit still holds.
        h.store.wake_pending().await.unwrap();

        let d = h.store.delivery("r-1".into()).await.unwrap().unwrap();
        assert_eq!(d.attempts, 1, "{name}: {d:?}");
        let error = d.last_error.unwrap_or_default();
        assert!(error.contains("rate limited until"), "{name}: {error}");
        let due = |at: jiff::Timestamp, margin_seconds: i64| {
            let ms = at.as_millisecond() + margin_seconds * 1000;
            let store = h.store.clone();
            async move {
                let due = store.due(64, ms).await.unwrap();
                due.iter().any(|d| d.delivery_id == "r-1")
            }
        };
        let wait = WAIT_SECONDS as i64;
        assert!(
            !due(before, wait - 10).await,
            "{name}: due before the reset"
        );
        assert!(
            due(after, wait + 1).await,
            "{name}: not due after the reset"
        );
        let metrics = h.metrics.render();
        assert!(
            metrics.contains(
                r#"slipway_inbox_processed_total{result="retry",error_kind="forge_rate_limit"} 1"#
            ),
            "{name}: {metrics}"
        );
    }
}
