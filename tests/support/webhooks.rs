//! Signed webhook requests for every provider, and a receive role configured
//! with known test secrets (kept in files in a temp dir, as operators would).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use http::Request;
use slipway::config::{
    Config, DockerHubProvider, GitLabProvider, HarborProvider, SignedProvider, WebhooksConfig,
};
use slipway::metrics::Metrics;
use slipway::receive::ReceiveRole;
use slipway::secret::{Secret, SecretSource};
use slipway::webhook::signature::{StandardKey, sign_hub, sign_standard};
use slipway::worker::RecordOnly;

pub const GITHUB_SECRET: &str = "github test secret";
pub const GITLAB_TOKEN: &str = "gitlab-test-token";
/// `whsec_` + base64 of 32 bytes.
pub const GENERIC_SECRET: &str = "whsec_c2xpcHdheS1nZW5lcmljLXRlc3Qtc2VjcmV0LTMyYg==";
pub const GITLAB_SIGNING: &str = "whsec_c2xpcHdheS1naXRsYWItc2lnbmluZy10b2tlbi0zMmI=";
pub const SYNC_SECRET: &str = "whsec_c2xpcHdheS1zeW5jLXJlcG9ydC1zZWNyZXQtMzJieXQ=";
pub const OPERATOR_SECRET: &str = "whsec_c2xpcHdheS1vcGVyYXRvci1zZWNyZXQtdGVzdC0zMmI=";
pub const HARBOR_AUTH: &str = "Bearer harbor-test-auth-header";
pub const DOCKERHUB_TOKEN: &str = "dh0123456789abcdef0123456789abcdef01234567";

/// The fixtures directory.
pub fn fixture_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/webhooks")
        .join(relative)
}

/// A fixture's bytes, exactly as stored.
pub fn fixture(relative: &str) -> Vec<u8> {
    std::fs::read(fixture_path(relative)).unwrap_or_else(|e| panic!("read fixture {relative}: {e}"))
}

fn secret_file(dir: &Path, name: &str, value: &str) -> SecretSource {
    let path = dir.join(name);
    std::fs::write(&path, format!("{value}\n")).expect("write secret file");
    SecretSource::File(path)
}

/// A config enabling every provider with the test secrets, state under `dir`.
pub fn test_config(dir: &Path) -> Config {
    let secrets = dir.join("secrets");
    std::fs::create_dir_all(&secrets).expect("secrets dir");
    let signed = |name: &str, value: &str| SignedProvider {
        secrets: vec![secret_file(&secrets, name, value)],
        tolerance_seconds: 300,
    };
    Config {
        state_dir: dir.join("state"),
        webhooks: WebhooksConfig {
            github: Some(signed("github", GITHUB_SECRET)),
            gitlab: Some(GitLabProvider {
                tokens: vec![secret_file(&secrets, "gitlab", GITLAB_TOKEN)],
                signing_tokens: vec![secret_file(&secrets, "gitlab-signing", GITLAB_SIGNING)],
                tolerance_seconds: 300,
            }),
            generic: Some(signed("generic", GENERIC_SECRET)),
            sync: Some(signed("sync", SYNC_SECRET)),
            operator: Some(signed("operator", OPERATOR_SECRET)),
            harbor: Some(HarborProvider {
                auth_headers: vec![secret_file(&secrets, "harbor", HARBOR_AUTH)],
            }),
            dockerhub: Some(DockerHubProvider {
                url_tokens: vec![secret_file(&secrets, "dockerhub", DOCKERHUB_TOKEN)],
            }),
        },
        ..Config::default()
    }
}

/// A receive role over `test_config(dir)` that records without acting.
pub fn test_role(dir: &Path) -> ReceiveRole {
    ReceiveRole::new(
        &test_config(dir),
        Arc::new(RecordOnly),
        Arc::new(Metrics::default()),
    )
    .expect("receive role")
}

pub fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

fn standard_key(secret: &str) -> StandardKey {
    StandardKey::from_secret(&Secret::new(secret)).expect("test key")
}

/// Standard Webhooks headers for `body`, signed with `secret` at `timestamp`.
pub fn standard_headers(
    secret: &str,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Vec<(String, String)> {
    vec![
        ("webhook-id".into(), id.into()),
        ("webhook-timestamp".into(), timestamp.to_string()),
        (
            "webhook-signature".into(),
            sign_standard(&standard_key(secret), id, timestamp, body),
        ),
    ]
}

/// A POST with JSON content type and the given headers.
pub fn post(uri: &str, headers: &[(String, String)], body: Vec<u8>) -> Request<Body> {
    let mut builder = Request::post(uri).header("content-type", "application/json");
    for (name, value) in headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder.body(Body::from(body)).expect("request")
}

pub fn github(event: &str, delivery: &str, body: Vec<u8>) -> Request<Body> {
    let headers = vec![
        ("x-github-event".to_string(), event.to_string()),
        ("x-github-delivery".to_string(), delivery.to_string()),
        (
            "x-hub-signature-256".to_string(),
            sign_hub(GITHUB_SECRET, &body),
        ),
    ];
    post("/hooks/github", &headers, body)
}

pub fn gitlab(event: &str, delivery: &str, body: Vec<u8>) -> Request<Body> {
    let headers = vec![
        ("x-gitlab-event".to_string(), event.to_string()),
        ("idempotency-key".to_string(), delivery.to_string()),
        ("x-gitlab-token".to_string(), GITLAB_TOKEN.to_string()),
    ];
    post("/hooks/gitlab", &headers, body)
}

pub fn gitlab_signed(event: &str, delivery: &str, body: Vec<u8>) -> Request<Body> {
    let mut headers = standard_headers(GITLAB_SIGNING, delivery, now(), &body);
    headers.push(("x-gitlab-event".to_string(), event.to_string()));
    headers.push(("idempotency-key".to_string(), delivery.to_string()));
    post("/hooks/gitlab", &headers, body)
}

pub fn generic(delivery: &str, body: Vec<u8>) -> Request<Body> {
    let headers = standard_headers(GENERIC_SECRET, delivery, now(), &body);
    post("/hooks/generic", &headers, body)
}

pub fn harbor(body: Vec<u8>) -> Request<Body> {
    post(
        "/hooks/harbor",
        &[("authorization".into(), HARBOR_AUTH.into())],
        body,
    )
}

pub fn dockerhub(body: Vec<u8>) -> Request<Body> {
    post(&format!("/hooks/dockerhub/{DOCKERHUB_TOKEN}"), &[], body)
}

pub fn rollout_report(delivery: &str, body: Vec<u8>) -> Request<Body> {
    let headers = standard_headers(SYNC_SECRET, delivery, now(), &body);
    post("/hooks/rollouts", &headers, body)
}

/// Send a request through a router; the status and the JSON body (Null when not JSON).
pub async fn send(
    app: &axum::Router,
    request: Request<Body>,
) -> (http::StatusCode, serde_json::Value) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let response = app.clone().oneshot(request).await.expect("router answers");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

pub fn with_header(mut request: Request<Body>, name: &'static str, value: &str) -> Request<Body> {
    request
        .headers_mut()
        .insert(name, value.parse().expect("header value"));
    request
}

pub fn without_header(mut request: Request<Body>, name: &'static str) -> Request<Body> {
    request.headers_mut().remove(name);
    request
}

/// The published GitHub branch push.
pub fn push() -> Vec<u8> {
    fixture("github/push.branch.json")
}

/// A generic artifact delivery signed at `timestamp`.
pub fn generic_at(timestamp: i64) -> Request<Body> {
    let body = br#"{"image": "ghcr.io/acme/web:1.0.0"}"#.to_vec();
    post(
        "/hooks/generic",
        &standard_headers(GENERIC_SECRET, "stale-1", timestamp, &body),
        body,
    )
}

/// A receive role run in process over `config` (with its deploy repo): the
/// router that admits deliveries, the worker that settles them, the store.
pub struct InProcessReceive {
    pub app: axum::Router,
    pub worker: slipway::worker::Worker,
    pub store: slipway::store::Store,
    pub metrics: Arc<Metrics>,
}

impl InProcessReceive {
    /// Start it over `config`, writing to the local bare repo `bare` (any
    /// `deploy_repo` in `config` is replaced), nudging sync through `nudge`.
    pub fn start(
        mut config: Config,
        bare: &Path,
        nudge: Option<Arc<dyn slipway::pipeline::nudge::SyncNudge>>,
    ) -> InProcessReceive {
        config.deploy_repo = Some(slipway::deployrepo::settings::DeployRepoSettings {
            url: bare.display().to_string(),
            branch: "main".into(),
            credentials: None,
            author: Default::default(),
        });
        let store = slipway::store::Store::open(&config.state_dir).expect("open store");
        let processor = slipway::receive::processor(&config, &store, nudge).expect("processor");
        let metrics = Arc::new(Metrics::default());
        let role = ReceiveRole::with_store(&config, store.clone(), processor, metrics.clone())
            .expect("receive role");
        let (state, worker) = role.into_parts();
        InProcessReceive {
            app: slipway::server::router(state),
            worker,
            store,
            metrics,
        }
    }
}
