//! Every published payload in `tests/fixtures/webhooks/` is signed with its
//! provider's scheme, accepted, stored, and normalised to the right fields.

use crate::support;

use axum::body::Body;
use http::{Request, StatusCode};
use serde_json::{Value, json};
use slipway::server::router;
use support::webhooks::*;
use tower::ServiceExt;

const HARBOR_DIGEST: &str =
    "sha256:954b378c375d852eb3c63ab88978f640b4348b01c1b3456a024a81536dafbbf4";
const GHCR_DIGEST: &str = "sha256:3da1996a8115d7616457760d9920b815241d0a03b34cf5f04e9a0e9d8de37498";

struct Case {
    name: &'static str,
    request: Request<Body>,
    delivery_id: String,
    /// The stored, normalised event must contain these fields with these values.
    want: Value,
}

fn case(name: &'static str, request: Request<Body>, delivery_id: &str, want: Value) -> Case {
    Case {
        name,
        request,
        delivery_id: delivery_id.to_string(),
        want,
    }
}

/// True when every field of `want` is in `got` with the same value (recursively).
fn contains(got: &Value, want: &Value) -> bool {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => w
            .iter()
            .all(|(k, wv)| g.get(k).is_some_and(|gv| contains(gv, wv))),
        _ => got == want,
    }
}

fn github_cases() -> Vec<Case> {
    let gh =
        |name, event, file: &str, want| case(name, github(event, name, fixture(file)), name, want);
    vec![
        gh(
            "gh-ping",
            "ping",
            "github/ping.json",
            json!({"kind": "ping"}),
        ),
        gh(
            "gh-push-branch",
            "push",
            "github/push.branch.json",
            json!({
            "kind": "ref_pushed", "deleted": false,
            "source": {"repository": "Codertocat/Hello-World", "commit": "6113728f27ae82c7b1a177c8d03f9e96e0adf246", "git_ref": "refs/heads/master"}}),
        ),
        gh(
            "gh-push-tag",
            "push",
            "github/push.tag.json",
            json!({
            "kind": "ref_pushed",
            "source": {"repository": "jessesuen/test-repo", "commit": "63738bb582c8b540af7bcfc18f87c575c3ed66e0", "git_ref": "refs/tags/v1.0"}}),
        ),
        gh(
            "gh-push-tag-deleted",
            "push",
            "github/push.tag-deleted.json",
            json!({
            "kind": "ref_pushed", "deleted": true, "source": {"git_ref": "refs/tags/simple-tag"}}),
        ),
        gh(
            "gh-workflow-run",
            "workflow_run",
            "github/workflow_run.completed.success.json",
            json!({
            "kind": "pipeline_completed", "status": "success", "level": "pipeline",
            "source": {"repository": "octo-org/octo-repo", "commit": "3484a3fb816e0859fd6e1cea078d76385ff50625", "git_ref": "refs/heads/master"},
            "url": "https://github.com/octo-org/octo-repo/actions/runs/289782451"}),
        ),
        gh(
            "gh-workflow-requested",
            "workflow_run",
            "github/workflow_run.requested.json",
            json!({"kind": "ignored"}),
        ),
        gh(
            "gh-job-success",
            "workflow_job",
            "github/workflow_job.completed.success.json",
            json!({
            "kind": "pipeline_completed", "status": "success", "level": "job", "source": {"git_ref": "refs/heads/main"}}),
        ),
        gh(
            "gh-job-failure",
            "workflow_job",
            "github/workflow_job.completed.failure.json",
            json!({
            "kind": "pipeline_completed", "status": "failure", "level": "job", "name": "linters",
            "source": {"commit": "3484a3fb816e0859fd6e1cea078d76385ff50625"}}),
        ),
        gh(
            "gh-registry-package",
            "registry_package",
            "github/registry_package.published.json",
            // GitHub's example is an untagged per-platform manifest (empty
            // tag name, package_url ending in ':'): never deployed.
            json!({"kind": "ignored", "reason": format!(
                "ghcr.io/codertocat/hello-world@{GHCR_DIGEST}: untagged manifest (one platform of a multi-arch push), not deployed; the tagged index is")}),
        ),
        gh(
            "gh-package",
            "package",
            "github/package.published.docker.json",
            json!({"kind": "ignored"}),
        ),
        gh(
            "gh-check-suite",
            "check_suite",
            "github/check_suite.completed.json",
            json!({
            "kind": "pipeline_completed", "status": "success",
            "source": {"commit": "ec26c3e57ca3a959ca5aad62de7213c562f8c821", "git_ref": "refs/heads/changes"}}),
        ),
        gh(
            "gh-pr-closed-unmerged",
            "pull_request",
            "github/pull_request.closed.json",
            json!({"kind": "ignored"}),
        ),
        gh(
            "gh-release",
            "release",
            "github/release.published.json",
            json!({
            "kind": "release_published", "tag": "0.0.1",
            "source": {"repository": "Codertocat/Hello-World", "git_ref": "refs/tags/0.0.1"}}),
        ),
        gh(
            "gh-deployment",
            "deployment",
            "github/deployment.json",
            json!({"kind": "ignored"}),
        ),
        gh(
            "gh-deployment-status",
            "deployment_status",
            "github/deployment_status.json",
            json!({"kind": "ignored"}),
        ),
        gh(
            "gh-create",
            "create",
            "github/create.tag.json",
            json!({"kind": "ignored"}),
        ),
        gh(
            "gh-status",
            "status",
            "github/status.json",
            json!({"kind": "ignored"}),
        ),
    ]
}

fn gitlab_cases() -> Vec<Case> {
    let gl =
        |name, event, file: &str, want| case(name, gitlab(event, name, fixture(file)), name, want);
    vec![
        gl(
            "gl-push",
            "Push Hook",
            "gitlab/push.json",
            json!({
            "kind": "ref_pushed",
            "source": {"repository": "mike/diaspora", "commit": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7", "git_ref": "refs/heads/master"},
            "before": "95790bf891e76fee5e1747ab589903a6a1f80f22"}),
        ),
        gl(
            "gl-tag-push",
            "Tag Push Hook",
            "gitlab/tag_push.json",
            json!({
            "kind": "ref_pushed", "deleted": false,
            "source": {"repository": "jsmith/example", "commit": "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7", "git_ref": "refs/tags/v1.0.0"}}),
        ),
        gl(
            "gl-pipeline",
            "Pipeline Hook",
            "gitlab/pipeline.json",
            json!({
            "kind": "pipeline_completed", "status": "success", "level": "pipeline",
            "source": {"repository": "gitlab-org/gitlab-test", "commit": "bcbb5ec396a2c0f828686f14fac9b80b780504f2", "git_ref": "refs/heads/master"},
            "url": "http://192.168.64.1:3005/gitlab-org/gitlab-test/-/pipelines/31"}),
        ),
        gl(
            "gl-job",
            "Job Hook",
            "gitlab/job.json",
            json!({
            "kind": "pipeline_completed", "status": "success", "level": "job", "name": "auto_deploy:start",
            "source": {"repository": "jsmithy2/release-tools-fake", "commit": "95d49d1efbd941908580e79d65e4b5ecaf4a8305", "git_ref": "refs/heads/main"}}),
        ),
        gl(
            "gl-merge",
            "Merge Request Hook",
            "gitlab/merge_request.merge.json",
            json!({
            "kind": "change_merged", "number": 1402,
            "source": {"repository": "exm-namespace/example-project", "commit": "ac3ca1559bc39abf963586372eff7f8fdded646e"}}),
        ),
        gl(
            "gl-release",
            "Release Hook",
            "gitlab/release.json",
            json!({
            "kind": "release_published", "tag": "1.0.0",
            "source": {"repository": "exm-namespace/example-project", "commit": "2626dbdb936782b5c54816b1c6d45b1279303c6d", "git_ref": "refs/tags/1.0.0"}}),
        ),
        gl(
            "gl-deployment",
            "Deployment Hook",
            "gitlab/deployment.json",
            json!({"kind": "ignored"}),
        ),
        case(
            "gl-signed-pipeline",
            gitlab_signed(
                "Pipeline Hook",
                "gl-signed-pipeline",
                fixture("gitlab/pipeline.json"),
            ),
            "gl-signed-pipeline",
            json!({"kind": "pipeline_completed", "status": "success"}),
        ),
    ]
}

fn registry_cases() -> Vec<Case> {
    let harbor_push = fixture("harbor/push_artifact.json");
    let harbor_id = slipway::webhook::body_delivery_id("harbor", &harbor_push);
    let dockerhub_push = fixture("dockerhub/push.json");
    let dockerhub_id = slipway::webhook::body_delivery_id("dockerhub", &dockerhub_push);
    let quay_push = fixture("quay/repo_push.json");
    let quay_id = slipway::webhook::body_delivery_id("quay", &quay_push);
    vec![
        // Harbor's example pushes by digest (its `tag` is the digest): no tag, no deploy.
        case("harbor-push", harbor(harbor_push), &harbor_id, json!({
            "kind": "ignored",
            "reason": format!("localhost/harbor/alpine@{HARBOR_DIGEST}: untagged manifest, not deployed (only a tag is a release)")})),
        case("harbor-delete-cloudevents", harbor(fixture("harbor/delete_artifact.cloudevents.json")),
            "343f1623-7cba-487c-88f1-c5ebf55e93aa", json!({"kind": "ignored"})),
        case("dockerhub-push", dockerhub(dockerhub_push), &dockerhub_id, json!({
            "kind": "artifact_published",
            "image": {"repository": "docker.io/svendowideit/testhook", "tag": "latest"},
            "built_at": "2014-12-03T00:22:41Z"})),
        case("quay-repo-push", quay(quay_push), &quay_id, json!({
            "kind": "artifact_published",
            "image": {"repository": "quay.io/mynamespace/repository", "tag": "latest"},
            "source": {"url": "https://quay.io/repository/mynamespace/repository"}})),
        case("sync-rollout-report", rollout_report("report-1", br#"{
            "app": "web", "environment": "dev", "revision": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
            "verdict": "verified", "at": "2026-11-22T03:00:00Z"}"#.to_vec()), "report-1", json!({
            "kind": "rollout_reported", "app": "web", "environment": "dev", "verdict": "verified"})),
        case("operator-rollback", post("/hooks/operator", &standard_headers(OPERATOR_SECRET, "op-1", now(),
            br#"{"app": "web", "environment": "prod", "action": "rollback", "to": "1.4.1", "requested_by": "ann"}"#),
            br#"{"app": "web", "environment": "prod", "action": "rollback", "to": "1.4.1", "requested_by": "ann"}"#.to_vec()),
            "op-1", json!({"kind": "operator_requested", "app": "web", "environment": "prod", "action": "rollback", "to": "1.4.1"})),
        case("generic-artifact", generic("gen-1", br#"{
            "image": "ghcr.io/acme/web", "tag": "1.4.2",
            "digest": "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "source": {"repository": "acme/web", "commit": "6113728f27ae82c7b1a177c8d03f9e96e0adf246", "ref": "refs/tags/v1.4.2"},
            "pipeline": {"status": "success", "url": "https://ci.example/run/7", "tests": {"passed": 120, "failed": 0, "skipped": 3}}
        }"#.to_vec()), "gen-1", json!({
            "kind": "artifact_published",
            "image": {"repository": "ghcr.io/acme/web", "tag": "1.4.2",
                      "digest": "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
            "source": {"repository": "acme/web", "git_ref": "refs/tags/v1.4.2"},
            "pipeline": {"status": "success", "tests": {"passed": 120, "failed": 0, "skipped": 3}}})),
    ]
}

#[tokio::test]
async fn every_fixture_verifies_and_normalises_to_the_right_fields() {
    let dir = tempfile::tempdir().unwrap();
    let role = test_role(dir.path());
    let store = role.state.store.clone();
    let app = router(role.state);
    let cases: Vec<Case> = github_cases()
        .into_iter()
        .chain(gitlab_cases())
        .chain(registry_cases())
        .collect();
    for c in cases {
        let response = app.clone().oneshot(c.request).await.unwrap();
        assert_eq!(response.status(), StatusCode::ACCEPTED, "{}", c.name);
        let stored = store
            .delivery(c.delivery_id.clone())
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{} not stored under {}", c.name, c.delivery_id));
        let event = serde_json::to_value(&stored.event).unwrap();
        assert!(
            contains(&event, &c.want),
            "{}: got {event:#}\nwant {:#}",
            c.name,
            c.want
        );
    }
}

#[tokio::test]
async fn github_form_encoded_deliveries_are_verified_over_the_raw_body() {
    let dir = tempfile::tempdir().unwrap();
    let role = test_role(dir.path());
    let store = role.state.store.clone();
    let app = router(role.state);
    let json = fixture("github/push.branch.json");
    let body: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", std::str::from_utf8(&json).unwrap())
        .finish();
    let mut request = github("push", "gh-form", body.into_bytes());
    request.headers_mut().insert(
        "content-type",
        "application/x-www-form-urlencoded".parse().unwrap(),
    );
    let response = app.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let stored = store.delivery("gh-form".into()).await.unwrap().unwrap();
    assert_eq!(stored.event.kind(), "ref_pushed");
}

#[tokio::test]
async fn pubsub_and_quay_bodies_are_not_accepted_as_generic_artifacts() {
    let dir = tempfile::tempdir().unwrap();
    let app = router(test_role(dir.path()).state);
    for file in [
        "gcp-cloudbuild/pubsub_push.json",
        "gcp-cloudbuild/build.json",
        "quay/repo_push.json",
    ] {
        let response = app
            .clone()
            .oneshot(generic(file, fixture(file)))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{file}");
    }
}
