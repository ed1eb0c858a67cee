//! The read-only status API and the metrics endpoint.

use crate::support;

use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use slipway::server::router;
use support::webhooks::*;
use tower::ServiceExt;

async fn metrics_text(app: &axum::Router) -> String {
    let response = app
        .clone()
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
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
    let text = metrics_text(&app).await;
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
    let text = metrics_text(&app).await;
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
