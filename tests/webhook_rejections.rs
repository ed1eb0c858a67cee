//! Bad input gets a clear answer and leaves nothing behind; replays are
//! answered `duplicate` and stored once, also after a restart.

mod support;

use axum::Router;
use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use slipway::server::router;
use slipway::webhook::signature::sign_hub;
use support::webhooks::*;
use tower::ServiceExt;

async fn send(app: &Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn with_header(mut request: Request<Body>, name: &'static str, value: &str) -> Request<Body> {
    request.headers_mut().insert(name, value.parse().unwrap());
    request
}

fn without_header(mut request: Request<Body>, name: &'static str) -> Request<Body> {
    request.headers_mut().remove(name);
    request
}

fn push() -> Vec<u8> {
    fixture("github/push.branch.json")
}

fn generic_at(timestamp: i64) -> Request<Body> {
    let body = br#"{"image": "ghcr.io/acme/web:1.0.0"}"#.to_vec();
    post(
        "/hooks/generic",
        &standard_headers(GENERIC_SECRET, "stale-1", timestamp, &body),
        body,
    )
}

#[tokio::test]
async fn bad_deliveries_get_their_status_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let role = test_role(dir.path());
    let store = role.state.store.clone();
    let app = router(role.state);
    let good_sig = sign_hub(GITHUB_SECRET, &push());
    let cases: Vec<(&str, Request<Body>, StatusCode)> = vec![
        (
            "no signature",
            without_header(github("push", "r1", push()), "x-hub-signature-256"),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "unknown secret",
            with_header(
                github("push", "r2", push()),
                "x-hub-signature-256",
                &sign_hub("nope", &push()),
            ),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "sha1 prefix",
            with_header(
                github("push", "r3", push()),
                "x-hub-signature-256",
                &good_sig.replace("sha256=", "sha1="),
            ),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "truncated signature",
            with_header(
                github("push", "r4", push()),
                "x-hub-signature-256",
                &good_sig[..40],
            ),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "body changed after signing",
            with_header(
                github("push", "r5", b"{}".to_vec()),
                "x-hub-signature-256",
                &good_sig,
            ),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "wrong gitlab token",
            with_header(
                gitlab("Push Hook", "r6", fixture("gitlab/push.json")),
                "x-gitlab-token",
                "guess",
            ),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "missing gitlab token",
            without_header(
                gitlab("Push Hook", "r7", fixture("gitlab/push.json")),
                "x-gitlab-token",
            ),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "gitlab signature by another key",
            with_header(
                gitlab_signed("Push Hook", "r8", fixture("gitlab/push.json")),
                "webhook-signature",
                "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
            ),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "generic too old",
            generic_at(now() - 301),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "generic from the future",
            generic_at(now() + 301),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "generic truncated signature",
            with_header(generic_at(now()), "webhook-signature", "v1,"),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "wrong harbor auth",
            with_header(
                harbor(fixture("harbor/push_artifact.json")),
                "authorization",
                "Bearer x",
            ),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "wrong dockerhub url token",
            post(
                "/hooks/dockerhub/short",
                &[],
                fixture("dockerhub/push.json"),
            ),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "malformed json",
            github("push", "r9", b"{not json".to_vec()),
            StatusCode::BAD_REQUEST,
        ),
        (
            "payload of the wrong shape",
            github("push", "r10", br#"{"ref": 7}"#.to_vec()),
            StatusCode::BAD_REQUEST,
        ),
        (
            "missing event header",
            without_header(github("push", "r11", push()), "x-github-event"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "missing delivery header",
            without_header(github("push", "r12", push()), "x-github-delivery"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "missing gitlab delivery id",
            without_header(
                gitlab("Push Hook", "r13", fixture("gitlab/push.json")),
                "idempotency-key",
            ),
            StatusCode::BAD_REQUEST,
        ),
        (
            "generic without webhook-id",
            without_header(generic("r14", b"{}".to_vec()), "webhook-id"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "generic without an image",
            generic("r15", br#"{"tag": "1"}"#.to_vec()),
            StatusCode::BAD_REQUEST,
        ),
        (
            "generic with a bad digest",
            generic(
                "r16",
                br#"{"image": "r/a", "digest": "sha256:abc"}"#.to_vec(),
            ),
            StatusCode::BAD_REQUEST,
        ),
        (
            "text/plain",
            with_header(github("push", "r17", push()), "content-type", "text/plain"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "no content type on gitlab",
            without_header(
                gitlab("Push Hook", "r18", fixture("gitlab/push.json")),
                "content-type",
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "xml to generic",
            with_header(
                generic("r19", b"<a/>".to_vec()),
                "content-type",
                "application/xml",
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "unknown provider",
            post("/hooks/bitbucket", &[], b"{}".to_vec()),
            StatusCode::NOT_FOUND,
        ),
    ];
    for (name, request, want) in cases {
        let (status, body) = send(&app, request).await;
        assert_eq!(status, want, "{name}: {body}");
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{name}: JSON error body, got {body}"
        );
        for secret in [GITHUB_SECRET, GITLAB_TOKEN, HARBOR_AUTH, DOCKERHUB_TOKEN] {
            assert!(
                !body.to_string().contains(secret),
                "{name}: secret in answer"
            );
        }
    }
    assert!(
        store.recent_deliveries(100).await.unwrap().is_empty(),
        "nothing stored"
    );
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused_with_413_before_they_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.max_body_bytes = 1024;
    let role = slipway::receive::ReceiveRole::new(
        &config,
        std::sync::Arc::new(slipway::worker::RecordOnly),
        std::sync::Arc::new(slipway::metrics::Metrics::default()),
    )
    .unwrap();
    let store = role.state.store.clone();
    let app = router(role.state);
    let (status, _) = send(&app, github("push", "big", vec![b' '; 2048])).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // A declared length over the limit is refused on the header alone: the
    // body stream here would never end if it were read.
    let endless = futures::stream::repeat_with(|| {
        Ok::<_, std::io::Error>(bytes::Bytes::from_static(&[b' '; 512]))
    });
    let request = Request::post("/hooks/github")
        .header("content-type", "application/json")
        .header("content-length", "10000000")
        .body(Body::from_stream(endless))
        .unwrap();
    let (status, _) = send(&app, request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(store.recent_deliveries(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn replayed_delivery_is_accepted_once_also_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let app = router(test_role(dir.path()).state);
        let (status, body) = send(&app, github("push", "replay-1", push())).await;
        assert_eq!(
            (status, body["status"].as_str()),
            (StatusCode::ACCEPTED, Some("accepted"))
        );
        let (status, body) = send(&app, github("push", "replay-1", push())).await;
        assert_eq!(
            (status, body["status"].as_str()),
            (StatusCode::OK, Some("duplicate"))
        );
    }
    let role = test_role(dir.path());
    let store = role.state.store.clone();
    let app = router(role.state);
    let (status, body) = send(&app, github("push", "replay-1", push())).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("duplicate"))
    );
    assert_eq!(store.recent_deliveries(10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_status_api_lists_and_finds_deliveries_and_needs_the_token_when_set() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    let token_file = dir.path().join("api-token");
    std::fs::write(&token_file, "api-test-token").unwrap();
    config.api.bearer_token = Some(slipway::secret::SecretSource::File(token_file));
    let role = slipway::receive::ReceiveRole::new(
        &config,
        std::sync::Arc::new(slipway::worker::RecordOnly),
        std::sync::Arc::new(slipway::metrics::Metrics::default()),
    )
    .unwrap();
    let app = router(role.state);
    for id in ["a-1", "a-2", "a-3"] {
        assert_eq!(
            send(&app, github("push", id, push())).await.0,
            StatusCode::ACCEPTED
        );
    }
    let get = |uri: &str, token: Option<&str>| {
        let mut builder = Request::get(uri);
        if let Some(token) = token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        builder.body(Body::empty()).unwrap()
    };
    let (status, _) = send(&app, get("/api/v1/deliveries", None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = send(&app, get("/api/v1/deliveries", Some("wrong"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = send(
        &app,
        get("/api/v1/deliveries?limit=2", Some("api-test-token")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> = body["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["delivery_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a-3", "a-2"], "newest first, limited");
    let (status, body) = send(&app, get("/api/v1/deliveries/a-1", Some("api-test-token"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["provider"], "github");
    assert_eq!(body["event"]["kind"], "ref_pushed");
    assert_eq!(body["state"], "pending");
    let (status, _) = send(
        &app,
        get("/api/v1/deliveries/unknown", Some("api-test-token")),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let response = app.clone().oneshot(get("/metrics", None)).await.unwrap();
    let text = String::from_utf8(
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    assert!(text.contains(r#"slipway_webhook_deliveries_total{provider="github",event="ref_pushed",outcome="accepted"} 3"#), "{text}");
    assert!(
        text.contains("slipway_webhook_request_duration_seconds_bucket"),
        "{text}"
    );
}

#[tokio::test]
async fn verification_failures_are_counted_by_reason() {
    let dir = tempfile::tempdir().unwrap();
    let app = router(test_role(dir.path()).state);
    send(
        &app,
        without_header(github("push", "m1", push()), "x-hub-signature-256"),
    )
    .await;
    send(&app, generic_at(now() - 1000)).await;
    let response = app
        .clone()
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let text = String::from_utf8(
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    assert!(
        text.contains(
            r#"slipway_webhook_verification_failures_total{provider="github",reason="missing"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"slipway_webhook_verification_failures_total{provider="generic",reason="stale"} 1"#
        ),
        "{text}"
    );
}
