//! Cloud Build (by Pub/Sub push, with a token signed by a test JWKS key) and
//! Quay deliveries through the whole receive side, each ending in a commit
//! to the deploy repository.

use crate::support;

use axum::Router;
use http::StatusCode;
use serde_json::json;
use slipway::bootstrap::{EXAMPLE_FILES, create_bare_repo};
use slipway::store::Store;
use slipway::worker::Worker;
use support::git_repos::{commit_count, remote_file};
use support::oidc::*;
use support::webhooks::*;

const EXAMPLE_IMAGE: &str = "ghcr.io/codertocat/hello-world";
const DEV: &str = "apps/hello/dev/deployment.yaml";

struct Harness {
    app: Router,
    worker: Worker,
    store: Store,
    bare: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

/// The example deploy repository with the app's image renamed to `image`.
async fn harness(image: &str, jwks: &JwksServer) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let bare = dir.path().join("deploy.git");
    let files: Vec<(String, String)> = EXAMPLE_FILES
        .iter()
        .map(|(path, text)| (path.to_string(), text.replace(EXAMPLE_IMAGE, image)))
        .collect();
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    create_bare_repo(&bare, "main", &files).unwrap();
    let mut config = test_config(dir.path());
    config.webhooks.pubsub = Some(jwks.config(60));
    let r = InProcessReceive::start(config, &bare, None);
    Harness {
        app: r.app,
        worker: r.worker,
        store: r.store,
        bare,
        _dir: dir,
    }
}

impl Harness {
    async fn deliver(&self, request: http::Request<axum::body::Body>) -> String {
        let (status, body) = send(&self.app, request).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        self.worker.run_once().await.unwrap();
        let id = body["delivery_id"].as_str().unwrap().to_string();
        let delivery = self.store.delivery(id).await.unwrap().unwrap();
        delivery.outcome.unwrap()["summary"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

#[tokio::test]
async fn a_cloud_build_success_with_an_image_ends_in_a_deploy_commit() {
    let image = "us-docker.pkg.dev/acme-ci/apps/hello";
    let key = TestKey::generate("google-1");
    let jwks = JwksServer::start(vec![key.jwk()]).await;
    let h = harness(image, &jwks).await;
    let before = commit_count(&h.bare, "main");
    let digest = format!("sha256:{}", "3d".repeat(32));
    let build = serde_json::to_vec(&json!({
        "id": "0f5b1a2c", "status": "SUCCESS", "projectId": "acme-ci",
        "substitutions": {
            "COMMIT_SHA": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
            "REPO_NAME": "hello-world", "BRANCH_NAME": "main", "TRIGGER_NAME": "hello-main"
        },
        "results": {"images": [
            {"name": format!("{image}:1.3.0"), "digest": digest},
            {"name": image, "digest": digest}
        ]},
        "logUrl": "https://console.cloud.google.com/cloud-build/builds/0f5b1a2c",
        "finishTime": "2026-06-10T09:00:00Z"
    }))
    .unwrap();
    let token = key.token(&claims());
    let summary = h
        .deliver(pubsub_push(Some(&token), envelope("1234567890", &build)))
        .await;
    assert!(summary.starts_with("hello/dev: committed"), "{summary}");
    let dev = remote_file(&h.bare, "main", DEV);
    assert!(
        dev.contains(&format!("image: {image}:1.3.0@{digest}")),
        "{dev}"
    );
    assert_eq!(commit_count(&h.bare, "main"), before + 1);
}

#[tokio::test]
async fn a_quay_push_ends_in_a_deploy_commit() {
    let jwks = JwksServer::start(Vec::new()).await;
    let h = harness("quay.io/acme/hello", &jwks).await;
    let before = commit_count(&h.bare, "main");
    let body = br#"{"name": "hello", "repository": "acme/hello", "namespace": "acme",
        "docker_url": "quay.io/acme/hello", "homepage": "https://quay.io/repository/acme/hello",
        "updated_tags": ["1.4.0"]}"#;
    let summary = h.deliver(quay(body.to_vec())).await;
    assert!(summary.starts_with("hello/dev: committed"), "{summary}");
    assert!(remote_file(&h.bare, "main", DEV).contains("image: quay.io/acme/hello:1.4.0"));
    assert_eq!(commit_count(&h.bare, "main"), before + 1);
}
