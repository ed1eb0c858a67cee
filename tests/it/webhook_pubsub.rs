//! Cloud Build notifications by Pub/Sub push: the OIDC token is verified
//! against a JWKS served on 127.0.0.1 with a key made in the test; a bad or
//! missing token is a 401 and stores nothing; a redelivered `messageId` is a
//! 200 duplicate; keys are fetched again on an unknown key id, at most once
//! per `jwks_min_refresh_seconds`. Also Quay's repository push.

use crate::support;

use std::sync::Arc;

use axum::Router;
use http::StatusCode;
use serde_json::{Value, json};
use slipway::metrics::Metrics;
use slipway::receive::ReceiveRole;
use slipway::server::router;
use slipway::store::Store;
use slipway::worker::RecordOnly;
use support::oidc::*;
use support::webhooks::*;

const SHA: &str = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";

struct Receiver {
    app: Router,
    store: Store,
    _dir: tempfile::TempDir,
}

fn receiver(jwks: &JwksServer, min_refresh_seconds: u64) -> Receiver {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.webhooks.pubsub = Some(jwks.config(min_refresh_seconds));
    let role = ReceiveRole::new(&config, Arc::new(RecordOnly), Arc::new(Metrics::default()))
        .expect("receive role");
    Receiver {
        store: role.state.store.clone(),
        app: router(role.state),
        _dir: dir,
    }
}

fn build_success() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": "b-1", "status": "SUCCESS",
        "substitutions": {"COMMIT_SHA": SHA, "REPO_NAME": "web", "BRANCH_NAME": "main"},
        "results": {"images": [{
            "name": "us-docker.pkg.dev/acme-ci/apps/web:1.2.0",
            "digest": format!("sha256:{}", "ab".repeat(32))
        }]},
        "finishTime": "2026-06-10T09:00:00Z"
    }))
    .unwrap()
}

fn with(claims: Value, change: &[(&str, Value)]) -> Value {
    let mut claims = claims;
    for (name, value) in change {
        claims[*name] = value.clone();
    }
    claims
}

#[tokio::test]
async fn a_verified_build_notification_is_stored_once() {
    let key = TestKey::generate("k1");
    let jwks = JwksServer::start(vec![key.jwk()]).await;
    let r = receiver(&jwks, 60);
    let token = key.token(&claims());
    let request = || pubsub_push(Some(&token), envelope("msg-1", &build_success()));
    let (status, body) = send(&r.app, request()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["event"], "artifact_published");
    let (status, body) = send(&r.app, request()).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "Pub/Sub stops redelivering on a 2xx"
    );
    assert_eq!(body["status"], "duplicate");
    let stored = r.store.recent_deliveries(10).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(jwks.hits(), 1, "the keys are cached");
}

#[tokio::test]
async fn bad_or_missing_tokens_are_refused_and_nothing_is_stored() {
    let key = TestKey::generate("k1");
    let stranger = TestKey::generate("k2");
    let jwks = JwksServer::start(vec![key.jwk()]).await;
    let r = receiver(&jwks, 60);
    let now = now();
    let good = key.token(&claims());
    let mut tampered = good.clone();
    tampered.replace_range(good.len() - 6.., "AAAAAA");
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no token", None),
        ("not a JWT", Some("not-a-jwt".into())),
        ("signature changed", Some(tampered)),
        ("key not in the JWKS", Some(stranger.token(&claims()))),
        (
            "other audience",
            Some(key.token(&with(claims(), &[("aud", json!("https://elsewhere/"))]))),
        ),
        (
            "other service account",
            Some(key.token(&with(
                claims(),
                &[("email", json!("x@evil.iam.gserviceaccount.com"))],
            ))),
        ),
        (
            "email not verified",
            Some(key.token(&with(claims(), &[("email_verified", json!(false))]))),
        ),
        (
            "no email_verified",
            Some(key.token(&with(claims(), &[("email_verified", Value::Null)]))),
        ),
        (
            "other issuer",
            Some(key.token(&with(claims(), &[("iss", json!("https://evil.example"))]))),
        ),
        (
            "expired",
            Some(key.token(&with(
                claims(),
                &[("exp", json!(now - 3600)), ("iat", json!(now - 7200))],
            ))),
        ),
        (
            "issued in the future",
            Some(key.token(&with(
                claims(),
                &[("iat", json!(now + 3600)), ("exp", json!(now + 7200))],
            ))),
        ),
        (
            "not valid yet",
            Some(key.token(&with(claims(), &[("nbf", json!(now + 3600))]))),
        ),
    ];
    for (row, token) in cases {
        let (status, body) = send(
            &r.app,
            pubsub_push(token.as_deref(), envelope(row, &build_success())),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{row}: {body}");
    }
    assert!(r.store.recent_deliveries(100).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_rotated_key_is_fetched_and_refreshes_are_rate_limited() {
    let old = TestKey::generate("old");
    let new = TestKey::generate("new");
    let jwks = JwksServer::start(vec![old.jwk()]).await;
    let r = receiver(&jwks, 0);
    let (status, _) = send(
        &r.app,
        pubsub_push(
            Some(&old.token(&claims())),
            envelope("m1", &build_success()),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    jwks.set_keys(vec![old.jwk(), new.jwk()]);
    let (status, body) = send(
        &r.app,
        pubsub_push(
            Some(&new.token(&claims())),
            envelope("m2", &build_success()),
        ),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "the unknown key id triggers a fetch: {body}"
    );
    assert_eq!(jwks.hits(), 2);

    let limited = receiver(&jwks, 3600);
    let unknown = TestKey::generate("unknown");
    for id in ["u1", "u2", "u3"] {
        let request = pubsub_push(
            Some(&unknown.token(&claims())),
            envelope(id, &build_success()),
        );
        let (status, _) = send(&limited.app, request).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        jwks.hits(),
        3,
        "one fetch for three unknown-key tokens within the limit"
    );
}

#[tokio::test]
async fn what_is_not_a_finished_build_is_refused_or_ignored() {
    let key = TestKey::generate("k1");
    let jwks = JwksServer::start(vec![key.jwk()]).await;
    let r = receiver(&jwks, 60);
    let token = key.token(&claims());
    // Google's own push example: its data is "test message 3", not a Build.
    let (status, body) = send(
        &r.app,
        pubsub_push(Some(&token), fixture("gcp-cloudbuild/pubsub_push.json")),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("message.data is not a Cloud Build Build"),
        "{body}"
    );
    // Google's example Build: a success without built images is a pipeline result.
    let build = fixture("gcp-cloudbuild/build.json");
    let (status, body) = send(
        &r.app,
        pubsub_push(Some(&token), envelope("fixture", &build)),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["event"], "pipeline_completed");
    let working = br#"{"id": "b-2", "status": "WORKING"}"#;
    let (status, body) = send(
        &r.app,
        pubsub_push(Some(&token), envelope("working", working)),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["event"], "ignored");
}

#[tokio::test]
async fn quay_pushes_are_accepted_on_their_url_token_only() {
    let dir = tempfile::tempdir().unwrap();
    let role = test_role(dir.path());
    let store = role.state.store.clone();
    let app = router(role.state);
    let (status, body) = send(&app, quay(fixture("quay/repo_push.json"))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["event"], "artifact_published");
    let stored = store.recent_deliveries(10).await.unwrap();
    assert_eq!(stored.len(), 1);
    let wrong = post(
        &format!("/hooks/quay/{}", "x".repeat(40)),
        &[],
        fixture("quay/repo_push.json"),
    );
    assert_eq!(send(&app, wrong).await.0, StatusCode::UNAUTHORIZED);
    let unknown = post(&format!("/hooks/nope/{QUAY_TOKEN}"), &[], b"{}".to_vec());
    assert_eq!(send(&app, unknown).await.0, StatusCode::NOT_FOUND);
}
