//! Bad input gets a clear answer and leaves nothing behind; replays are
//! answered `duplicate` and stored once, also after a restart.

use crate::support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::Body;
use http::{Request, StatusCode};
use slipway::server::router;
use slipway::webhook::signature::sign_hub;
use support::webhooks::*;

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

/// A body stream of 512-byte chunks that never ends and notes whether it was read.
fn endless_body(polled: Arc<AtomicBool>) -> Body {
    Body::from_stream(futures::stream::repeat_with(move || {
        polled.store(true, Ordering::SeqCst);
        Ok::<_, std::io::Error>(bytes::Bytes::from_static(&[b' '; 512]))
    }))
}

#[tokio::test]
async fn bodies_over_the_limit_get_a_json_413_counted_as_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.max_body_bytes = 1024;
    let metrics = Arc::new(slipway::metrics::Metrics::default());
    let role = slipway::receive::ReceiveRole::new(
        &config,
        Arc::new(slipway::worker::RecordOnly),
        metrics.clone(),
    )
    .unwrap();
    let store = role.state.store.clone();
    let app = router(role.state);
    let declared_read = Arc::new(AtomicBool::new(false));
    let cases: Vec<(&str, Request<Body>, StatusCode)> = vec![
        (
            "a declared length over the limit is refused on the header alone",
            Request::post("/hooks/github")
                .header("content-type", "application/json")
                .header("content-length", "10000000")
                .body(endless_body(declared_read.clone()))
                .unwrap(),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "a chunked body is refused once it passes the limit",
            Request::post("/hooks/github")
                .header("content-type", "application/json")
                .body(endless_body(Arc::default()))
                .unwrap(),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "a body one byte over the limit",
            github("push", "big", vec![b' '; 1025]),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "a body at the limit is read (and is no JSON)",
            github("push", "at-limit", vec![b' '; 1024]),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (name, request, want) in cases {
        let (status, body) = send(&app, request).await;
        assert_eq!(status, want, "{name}: {body}");
        let error = body["error"].as_str().unwrap_or_default();
        if want == StatusCode::PAYLOAD_TOO_LARGE {
            assert_eq!(
                error, "payload too large: the limit is 1024 bytes",
                "{name}"
            );
        } else {
            assert!(!error.is_empty(), "{name}: JSON error body, got {body}");
        }
    }
    assert!(
        !declared_read.load(Ordering::SeqCst),
        "a declared length over the limit is refused before the body is read"
    );
    let text = metrics.render();
    for line in [
        r#"slipway_webhook_deliveries_total{provider="github",event="none",outcome="rejected"} 4"#,
        r#"slipway_webhook_request_duration_seconds_count{provider="github"} 4"#,
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }
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
