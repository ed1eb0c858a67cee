//! The sync role's routes: status API answers from the store; the nudge hook
//! wakes the loop only for a correctly signed, fresh request.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use slipway::operator::SyncRequest;
use slipway::secret::Secret;
use slipway::store::Store;
use slipway::store::rollout::{RolloutPhase, RolloutRecord};
use slipway::store::sync_state::{SyncPhase, TargetStatus};
use slipway::sync::progressive::RolloutRequests;
use slipway::sync::render::tools::ToolVersions;
use slipway::sync::status::{SyncHttpState, routes};
use tokio::sync::Notify;
use tower::ServiceExt;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    nudge: Arc<Notify>,
    router: axum::Router,
}

fn fixture(token: Option<&str>) -> Fixture {
    fixture_with(token, RolloutRequests::default())
}

fn fixture_with(token: Option<&str>, rollouts: RolloutRequests) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let nudge = Arc::new(Notify::new());
    let state = SyncHttpState::new(
        store.clone(),
        nudge.clone(),
        &[Secret::new(SECRET)],
        300,
        token.map(Secret::new),
    )
    .unwrap()
    .with_rollouts(rollouts)
    .with_render_tools(Some(ToolVersions {
        kustomize: Some("kustomize v5.6.0 (kubectl v1.33.9)".into()),
        helm: None,
    }));
    Fixture {
        _dir: dir,
        store,
        nudge,
        router: routes(state),
    }
}

fn signed_nudge(secret: &str, timestamp: i64) -> Request<Body> {
    let body = br#"{"reason":"pushed"}"#;
    let signature = standardwebhooks::Webhook::new(secret)
        .unwrap()
        .sign("msg_1", timestamp, body)
        .unwrap();
    Request::post("/hooks/sync")
        .header("webhook-id", "msg_1")
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(Body::from(body.to_vec()))
        .unwrap()
}

async fn was_nudged(nudge: &Notify) -> bool {
    tokio::time::timeout(Duration::from_millis(100), nudge.notified())
        .await
        .is_ok()
}

#[tokio::test]
async fn a_signed_nudge_wakes_the_loop() {
    let f = fixture(None);
    let now = jiff::Timestamp::now().as_second();
    let response = f
        .router
        .clone()
        .oneshot(signed_nudge(SECRET, now))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert!(was_nudged(&f.nudge).await);
}

#[tokio::test]
async fn bad_nudges_are_rejected_and_wake_nothing() {
    let now = jiff::Timestamp::now().as_second();
    let cases = [
        (
            "wrong secret",
            signed_nudge("whsec_c2VjcmV0LXRoYXQtaXMtd3Jvbmc=", now),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "stale",
            signed_nudge(SECRET, now - 3600),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "unsigned",
            Request::post("/hooks/sync").body(Body::from("{}")).unwrap(),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (name, request, want) in cases {
        let f = fixture(None);
        let response = f.router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), want, "{name}");
        assert!(!was_nudged(&f.nudge).await, "{name}");
    }
}

async fn get_json(
    router: &axum::Router,
    uri: &str,
    token: Option<&str>,
) -> (StatusCode, serde_json::Value) {
    let mut request = Request::get(uri);
    if let Some(t) = token {
        request = request.header("authorization", format!("Bearer {t}"));
    }
    let response = router
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or_default())
}

#[tokio::test]
async fn the_status_api_shows_revisions_state_and_history() {
    let f = fixture(None);
    let mut status = TargetStatus::new("web", "dev");
    status.state = SyncPhase::Progressing;
    status.applied_revision = Some("abc".into());
    f.store.put_sync_status(status.clone()).await.unwrap();
    status.state = SyncPhase::RolledBack;
    status.last_error = Some("Deployment web-dev/web: ProgressDeadlineExceeded".into());
    f.store.put_sync_status(status).await.unwrap();

    let (code, list) = get_json(&f.router, "/api/v1/apps", None).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(list["apps"][0]["app"], "web");
    assert_eq!(list["apps"][0]["state"], "rolled_back");
    assert_eq!(
        list["render_tools"],
        serde_json::json!({"kustomize": "kustomize v5.6.0 (kubectl v1.33.9)", "helm": null})
    );

    let (code, one) = get_json(&f.router, "/api/v1/apps/web/dev", None).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(one["applied_revision"], "abc");
    assert!(
        one["last_error"]
            .as_str()
            .unwrap()
            .contains("ProgressDeadlineExceeded")
    );
    assert_eq!(one["history"][0]["state"], "rolled_back");
    assert_eq!(one["history"][1]["state"], "progressing");

    let (code, _) = get_json(&f.router, "/api/v1/apps/web/prod", None).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_status_api_requires_the_bearer_token_when_configured() {
    let f = fixture(Some("let-me-in"));
    assert_eq!(
        get_json(&f.router, "/api/v1/apps", None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get_json(&f.router, "/api/v1/apps", Some("wrong")).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get_json(&f.router, "/api/v1/apps", Some("let-me-in"))
            .await
            .0,
        StatusCode::OK
    );
}

fn github_push(secret: &str, event: &str) -> Request<Body> {
    use hmac::{KeyInit, Mac};
    let body = br#"{"ref":"refs/heads/main","after":"0123"}"#;
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    Request::post("/hooks/sync/push")
        .header("x-github-event", event)
        .header("x-hub-signature-256", signature)
        .body(Body::from(body.to_vec()))
        .unwrap()
}

#[tokio::test]
async fn the_deploy_repos_push_webhook_nudges_only_when_genuine() {
    let gitlab = |token: &str| {
        Request::post("/hooks/sync/push")
            .header("x-gitlab-event", "Push Hook")
            .header("x-gitlab-token", token)
            .body(Body::from("{}"))
            .unwrap()
    };
    let cases = [
        (
            "github push",
            github_push("push-secret", "push"),
            StatusCode::ACCEPTED,
            true,
        ),
        (
            "github ping",
            github_push("push-secret", "ping"),
            StatusCode::OK,
            false,
        ),
        (
            "github wrong secret",
            github_push("other", "push"),
            StatusCode::UNAUTHORIZED,
            false,
        ),
        (
            "gitlab push",
            gitlab("push-secret"),
            StatusCode::ACCEPTED,
            true,
        ),
        (
            "gitlab wrong token",
            gitlab("nope"),
            StatusCode::UNAUTHORIZED,
            false,
        ),
    ];
    for (name, request, want, nudged) in cases {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let nudge = Arc::new(Notify::new());
        let state = SyncHttpState::new(store, nudge.clone(), &[], 300, None)
            .unwrap()
            .with_push_secrets(vec![Secret::new("push-secret")]);
        let response = routes(state).oneshot(request).await.unwrap();
        assert_eq!(response.status(), want, "{name}");
        assert_eq!(was_nudged(&nudge).await, nudged, "{name}");
    }
}

#[tokio::test]
async fn slipway_retry_asks_with_the_bearer_token_and_wakes_the_loop() {
    let f = fixture(Some("let-me-in"));
    let mut status = TargetStatus::new("web", "dev");
    status.state = SyncPhase::RolledBack;
    status.failed_revision = Some("0123abc".into());
    f.store.put_sync_status(status).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let router = f.router.clone();
    tokio::spawn(async move { axum::serve(listener, router).await });

    let refused =
        slipway::operator::request_sync(&url, "web", "dev", SyncRequest::Retry, None).await;
    assert!(refused.is_err(), "the status API's token is required");
    assert!(!was_nudged(&f.nudge).await);
    let token = Secret::new("let-me-in");
    let answer =
        slipway::operator::request_sync(&url, "web", "dev", SyncRequest::Retry, Some(&token))
            .await
            .unwrap();
    assert_eq!(answer["retry"], "requested");
    assert_eq!(answer["failed_revision"], "0123abc");
    assert!(was_nudged(&f.nudge).await);
    let unknown =
        slipway::operator::request_sync(&url, "web", "prod", SyncRequest::Retry, Some(&token))
            .await;
    assert!(unknown.unwrap_err().to_string().contains("404"));
}

#[tokio::test]
async fn promote_and_abort_are_taken_only_in_the_phases_they_act_in() {
    // (phase, promote answer, abort answer); None: no rollout record at all
    let cases = [
        (None, StatusCode::CONFLICT, StatusCode::CONFLICT),
        (
            Some(RolloutPhase::Idle),
            StatusCode::CONFLICT,
            StatusCode::CONFLICT,
        ),
        (
            Some(RolloutPhase::Paused),
            StatusCode::ACCEPTED,
            StatusCode::ACCEPTED,
        ),
        (
            Some(RolloutPhase::Stepping),
            StatusCode::ACCEPTED,
            StatusCode::ACCEPTED,
        ),
        (
            Some(RolloutPhase::Draining),
            StatusCode::CONFLICT,
            StatusCode::ACCEPTED,
        ),
        (
            Some(RolloutPhase::CleaningUp),
            StatusCode::CONFLICT,
            StatusCode::CONFLICT,
        ),
    ];
    for (phase, promote, abort) in cases {
        let rollouts = RolloutRequests::default();
        let f = fixture_with(Some("t0ken"), rollouts.clone());
        let mut status = TargetStatus::new("web", "prod");
        status.rollout = phase.map(|phase| RolloutRecord {
            phase,
            ..RolloutRecord::idle("blue_green")
        });
        f.store.put_sync_status(status).await.unwrap();
        for (what, want, requests) in [
            ("promote", promote, &rollouts.promote),
            ("abort", abort, &rollouts.abort),
        ] {
            let request = Request::post(format!("/api/v1/apps/web/prod/{what}"))
                .header("authorization", "Bearer t0ken")
                .body(Body::empty())
                .unwrap();
            let response = f.router.clone().oneshot(request).await.unwrap();
            assert_eq!(response.status(), want, "{what} in {phase:?}");
            let body = response.into_body().collect().await.unwrap().to_bytes();
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
            if want == StatusCode::CONFLICT {
                assert!(
                    body["error"]
                        .as_str()
                        .unwrap()
                        .contains("web/prod has no rollout"),
                    "{body}"
                );
            }
            assert_eq!(
                requests.take("web", "prod"),
                want == StatusCode::ACCEPTED,
                "{what} in {phase:?}: handed to the loop"
            );
        }
        let unauthorised = Request::post("/api/v1/apps/web/prod/abort")
            .body(Body::empty())
            .unwrap();
        let response = f.router.clone().oneshot(unauthorised).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
}
