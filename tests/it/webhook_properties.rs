//! No input panics a provider: arbitrary bytes, arbitrary JSON, and published
//! payloads with fields removed or replaced, through every provider's parser
//! and through full verification. Set `PROPTEST_CASES` for longer runs.

use crate::support;

use http::HeaderMap;
use proptest::prelude::*;
use serde_json::Value;
use slipway::event::Provider;
use slipway::webhook::normalise::normalise;
use slipway::webhook::signature::sign_hub;
use slipway::webhook::{Hook, Inbound};
use support::webhooks::*;

const GITHUB_EVENTS: &[&str] = &[
    "ping",
    "push",
    "workflow_run",
    "workflow_job",
    "check_suite",
    "pull_request",
    "release",
    "registry_package",
    "package",
    "star",
];
const GITLAB_EVENTS: &[&str] = &[
    "Push Hook",
    "Tag Push Hook",
    "Pipeline Hook",
    "Job Hook",
    "Merge Request Hook",
    "Release Hook",
    "Note Hook",
];
const PROVIDERS: &[Provider] = &[
    Provider::GitHub,
    Provider::GitLab,
    Provider::Generic,
    Provider::Harbor,
    Provider::DockerHub,
    Provider::Sync,
];

const FIXTURES: &[&str] = &[
    "github/push.branch.json",
    "github/workflow_run.completed.success.json",
    "github/registry_package.published.json",
    "github/pull_request.closed.json",
    "github/release.published.json",
    "github/check_suite.completed.json",
    "gitlab/push.json",
    "gitlab/pipeline.json",
    "gitlab/job.json",
    "gitlab/merge_request.merge.json",
    "gitlab/release.json",
    "harbor/push_artifact.json",
    "harbor/delete_artifact.cloudevents.json",
    "dockerhub/push.json",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,40}".prop_map(Value::String),
        Just(Value::String("sha256:".to_string())),
        Just(Value::String(
            "0000000000000000000000000000000000000000".to_string()
        )),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Replace or remove the value at a pseudo-random path of `doc`.
fn mutate(doc: &mut Value, mut choice: u64, replacement: Value, remove: bool) {
    let mut node = doc;
    loop {
        let keys: Vec<String> = match node {
            Value::Object(map) if !map.is_empty() => map.keys().cloned().collect(),
            _ => {
                *node = replacement;
                return;
            }
        };
        let key = keys[(choice % keys.len() as u64) as usize].clone();
        choice /= keys.len() as u64 + 1;
        let Value::Object(map) = node else { return };
        if choice.is_multiple_of(3) {
            if remove {
                map.remove(&key);
            } else {
                map.insert(key, replacement);
            }
            return;
        }
        node = map.get_mut(&key).expect("key exists");
    }
}

/// Run `body` through every provider's normaliser under every event name.
fn normalise_as_everything(body: &[u8]) {
    for event in GITHUB_EVENTS {
        let _ = normalise(Provider::GitHub, event, body);
    }
    for event in GITLAB_EVENTS {
        let _ = normalise(Provider::GitLab, event, body);
    }
    for provider in &PROVIDERS[2..] {
        let _ = normalise(*provider, "", body);
    }
}

fn all_hooks() -> (tempfile::TempDir, Vec<std::sync::Arc<dyn Hook>>) {
    let dir = tempfile::tempdir().unwrap();
    let hooks = slipway::receive::build_hooks(&test_config(dir.path()).webhooks).unwrap();
    (dir, hooks.into_values().collect())
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_a_normaliser(body in prop::collection::vec(any::<u8>(), 0..512), e in 0usize..16) {
        for provider in PROVIDERS {
            let _ = normalise(*provider, GITHUB_EVENTS[e % GITHUB_EVENTS.len()], &body);
            let _ = normalise(*provider, GITLAB_EVENTS[e % GITLAB_EVENTS.len()], &body);
        }
    }

    #[test]
    fn arbitrary_json_never_panics_a_normaliser(value in json_value()) {
        let body = serde_json::to_vec(&value).unwrap();
        normalise_as_everything(&body);
    }

    #[test]
    fn damaged_published_payloads_never_panic(file in 0usize..FIXTURES.len(), choice in any::<u64>(),
                                              replacement in json_value(), remove in any::<bool>()) {
        let mut doc: Value = serde_json::from_slice(&fixture(FIXTURES[file])).unwrap();
        mutate(&mut doc, choice, replacement, remove);
        let body = serde_json::to_vec(&doc).unwrap();
        normalise_as_everything(&body);
    }

    #[test]
    fn arbitrary_headers_and_bodies_never_panic_verification(
        headers in prop::collection::vec((prop::sample::select(vec![
            "content-type", "x-hub-signature-256", "x-github-event", "x-github-delivery", "x-gitlab-token",
            "x-gitlab-event", "idempotency-key", "webhook-id", "webhook-timestamp", "webhook-signature",
            "authorization",
        ]), "[ -~]{0,80}"), 0..10),
        body in prop::collection::vec(any::<u8>(), 0..256),
        token in proptest::option::of("[ -~]{0,64}"),
        now in any::<i64>(),
    ) {
        let (_dir, hooks) = all_hooks();
        let mut map = HeaderMap::new();
        for (name, value) in &headers {
            if let Ok(value) = value.parse() {
                map.append(*name, value);
            }
        }
        for hook in &hooks {
            let request = Inbound { headers: &map, body: &body, path_token: token.as_deref(), now };
            let _ = hook.receive(&request);
        }
    }

    #[test]
    fn a_github_signature_never_verifies_another_body(body in prop::collection::vec(any::<u8>(), 1..256),
                                                       flip in any::<usize>()) {
        let (_dir, hooks) = all_hooks();
        let github = hooks.iter().find(|h| h.provider() == Provider::GitHub).unwrap();
        let mut map = HeaderMap::new();
        map.insert("content-type", "application/json".parse().unwrap());
        map.insert("x-github-event", "ping".parse().unwrap());
        map.insert("x-github-delivery", "p".parse().unwrap());
        map.insert("x-hub-signature-256", sign_hub(GITHUB_SECRET, &body).parse().unwrap());
        let mut changed = body.clone();
        let i = flip % changed.len();
        changed[i] ^= 0x01;
        let request = Inbound { headers: &map, body: &changed, path_token: None, now: 0 };
        prop_assert!(matches!(github.receive(&request), Err(slipway::webhook::Rejection::Unauthorized(_))));
    }
}
