//! Empty is missing: a required field that is present but blank is refused
//! like a missing one, by every provider, with a 400 that names the field, and
//! nothing is stored (so nothing nudges sync). A property test blanks each
//! required field of each provider's published payload in turn.

use crate::support;

use axum::body::Body;
use http::{Request, StatusCode};
use proptest::prelude::*;
use serde_json::{Value, json};
use slipway::event::Provider;
use slipway::server::router;
use slipway::webhook::Rejection;
use slipway::webhook::normalise::normalise;
use support::webhooks::*;

/// A provider's payload and the JSON pointers of its required fields.
struct Required {
    provider: Provider,
    event: &'static str,
    body: fn() -> Value,
    fields: &'static [&'static str],
}

fn load(relative: &str) -> Value {
    serde_json::from_slice(&fixture(relative)).unwrap()
}

fn generic_artifact() -> Value {
    json!({"image": "ghcr.io/acme/web", "tag": "1.5.0",
           "pipeline": {"status": "success", "name": "build"}})
}

const REQUIRED: &[Required] = &[
    Required {
        provider: Provider::GitHub,
        event: "push",
        body: || load("github/push.branch.json"),
        fields: &["/ref", "/after", "/repository/full_name"],
    },
    Required {
        provider: Provider::GitHub,
        event: "workflow_run",
        body: || load("github/workflow_run.completed.success.json"),
        fields: &["/workflow_run/head_sha", "/repository/full_name"],
    },
    Required {
        provider: Provider::GitHub,
        event: "pull_request",
        body: || load("github/pull_request.closed.json"),
        fields: &[
            "/pull_request/head/ref",
            "/pull_request/base/ref",
            "/repository/full_name",
        ],
    },
    Required {
        provider: Provider::GitHub,
        event: "release",
        body: || load("github/release.published.json"),
        fields: &["/release/tag_name", "/repository/full_name"],
    },
    Required {
        provider: Provider::GitHub,
        event: "registry_package",
        body: || serde_json::from_slice(slipway::quickstart::DEMO_PAYLOAD).unwrap(),
        fields: &["/repository/full_name"],
    },
    Required {
        provider: Provider::GitLab,
        event: "Push Hook",
        body: || load("gitlab/push.json"),
        fields: &["/ref", "/after"],
    },
    Required {
        provider: Provider::GitLab,
        event: "Tag Push Hook",
        body: || load("gitlab/tag_push.json"),
        fields: &["/ref", "/after"],
    },
    Required {
        provider: Provider::GitLab,
        event: "Pipeline Hook",
        body: || load("gitlab/pipeline.json"),
        fields: &[
            "/object_attributes/status",
            "/object_attributes/ref",
            "/object_attributes/sha",
        ],
    },
    Required {
        provider: Provider::GitLab,
        event: "Job Hook",
        body: || load("gitlab/job.json"),
        fields: &["/build_status", "/ref", "/sha"],
    },
    Required {
        provider: Provider::GitLab,
        event: "Release Hook",
        body: || load("gitlab/release.json"),
        fields: &["/tag"],
    },
    Required {
        provider: Provider::Generic,
        event: "artifact.published",
        body: generic_artifact,
        fields: &["/image", "/tag", "/pipeline/status"],
    },
    Required {
        provider: Provider::Harbor,
        event: "PUSH_ARTIFACT",
        body: || load("harbor/push_artifact.json"),
        fields: &["/type", "/event_data/resources/0/resource_url"],
    },
    Required {
        provider: Provider::DockerHub,
        event: "push",
        body: || load("dockerhub/push.json"),
        fields: &["/push_data/tag", "/repository/repo_name"],
    },
];

/// The payload with the field at `pointer` set to `blank`.
fn blanked(required: &Required, pointer: &str, blank: &str) -> Vec<u8> {
    let mut body = (required.body)();
    let field = body
        .pointer_mut(pointer)
        .unwrap_or_else(|| panic!("{} has no {pointer}", required.event));
    *field = Value::String(blank.to_string());
    serde_json::to_vec(&body).unwrap()
}

/// The field's own name, as the error must say it.
fn field_name(pointer: &str) -> &str {
    pointer.rsplit('/').next().unwrap()
}

fn all_fields() -> Vec<(usize, &'static str)> {
    REQUIRED
        .iter()
        .enumerate()
        .flat_map(|(i, r)| r.fields.iter().map(move |f| (i, *f)))
        .collect()
}

#[test]
fn the_published_payloads_are_accepted_whole() {
    for required in REQUIRED {
        let body = serde_json::to_vec(&(required.body)()).unwrap();
        let event = normalise(required.provider, required.event, &body);
        assert!(
            event.is_ok(),
            "{} {}: {event:?}",
            required.provider,
            required.event
        );
    }
}

proptest! {
    #[test]
    fn a_blank_required_field_is_a_400_that_names_it(
        which in 0usize..all_fields().len(),
        blank in "[ \t]{0,3}",
    ) {
        let (index, pointer) = all_fields()[which];
        let required = &REQUIRED[index];
        let body = blanked(required, pointer, &blank);
        match normalise(required.provider, required.event, &body) {
            Err(Rejection::BadRequest(message)) => prop_assert!(
                message.contains(field_name(pointer)),
                "{} {pointer}: {message}", required.provider
            ),
            other => prop_assert!(false, "{} {pointer} blank: {other:?}", required.provider),
        }
    }
}

fn signed(required: &Required, id: &str, body: Vec<u8>) -> Request<Body> {
    match required.provider {
        Provider::GitHub => github(required.event, id, body),
        Provider::GitLab => gitlab(required.event, id, body),
        Provider::Generic => generic(id, body),
        Provider::Harbor => harbor(body),
        Provider::DockerHub => dockerhub(body),
        other => panic!("no route for {other}"),
    }
}

#[tokio::test]
async fn blank_required_fields_are_refused_at_the_door_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let role = test_role(dir.path());
    let store = role.state.store.clone();
    let app = router(role.state);
    for (n, (index, pointer)) in all_fields().into_iter().enumerate() {
        let required = &REQUIRED[index];
        let request = signed(
            required,
            &format!("blank-{n}"),
            blanked(required, pointer, ""),
        );
        let response = tower::ServiceExt::oneshot(app.clone(), request)
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "{} {pointer}",
            required.provider
        );
        let bytes = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains(field_name(pointer)), "{pointer}: {error}");
    }
    assert!(store.recent_deliveries(1000).await.unwrap().is_empty());
}

#[test]
fn a_ref_that_names_no_branch_or_tag_is_refused() {
    for (provider, event, file) in [
        (Provider::GitHub, "push", "github/push.tag.json"),
        (Provider::GitLab, "Tag Push Hook", "gitlab/tag_push.json"),
    ] {
        let mut body = load(file);
        body["ref"] = json!("refs/tags/");
        let got = normalise(provider, event, &serde_json::to_vec(&body).unwrap());
        assert!(
            matches!(&got, Err(Rejection::BadRequest(m)) if m.starts_with("ref:")),
            "{provider}: {got:?}"
        );
    }
}

#[tokio::test]
async fn a_reference_that_is_not_an_image_is_refused_at_the_door() {
    let dir = tempfile::tempdir().unwrap();
    let role = test_role(dir.path());
    let store = role.state.store.clone();
    let app = router(role.state);
    let cases = [
        (
            "yaml in tag",
            json!({"image": "ghcr.io/acme/web", "tag": "1.5.0\nkind: ClusterRole"}),
            "tag",
        ),
        (
            "shell in tag",
            json!({"image": "ghcr.io/acme/web", "tag": "$(id)"}),
            "tag",
        ),
        (
            "path in tag",
            json!({"image": "ghcr.io/acme/web", "tag": "../../x"}),
            "tag",
        ),
        (
            "space in tag",
            json!({"image": "ghcr.io/acme/web", "tag": "1.6 0"}),
            "tag",
        ),
        (
            "uppercase repository",
            json!({"image": "ghcr.io/Acme/web", "tag": "1"}),
            "image",
        ),
        (
            "short digest",
            json!({"image": "ghcr.io/acme/web", "digest": "sha256:6c62"}),
            "digest",
        ),
        (
            "no tag or digest",
            json!({"image": "ghcr.io/acme/web"}),
            "tag",
        ),
    ];
    for (n, (row, body, field)) in cases.into_iter().enumerate() {
        let request = generic(&format!("bad-ref-{n}"), serde_json::to_vec(&body).unwrap());
        let response = tower::ServiceExt::oneshot(app.clone(), request)
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{row}");
        let bytes = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        let error: Value = serde_json::from_slice(&bytes).unwrap();
        let error = error["error"].as_str().unwrap_or_default().to_string();
        assert!(error.contains(&format!("{field}:")), "{row}: {error}");
        assert!(!error.contains('\n'), "{row}: one line: {error}");
    }
    assert!(store.recent_deliveries(100).await.unwrap().is_empty());
}
