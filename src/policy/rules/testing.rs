//! Builders for rule tests.

use jiff::Timestamp;

use super::Context;
use crate::event::{ImageRef, SourceInfo};
use crate::policy::facts::Facts;
use crate::policy::request::{DeployRequest, Trigger};

pub const NOW: &str = "2026-06-10T12:00:00Z";

pub fn ts(text: &str) -> Timestamp {
    text.parse().unwrap()
}

pub fn request(image: &str) -> DeployRequest {
    let (repository, rest) = image.split_once(':').unwrap_or((image, ""));
    let (tag, digest) = match rest.split_once('@') {
        Some((tag, digest)) => (tag, Some(digest.to_string())),
        None => (rest, None),
    };
    DeployRequest {
        app: "web".into(),
        environment: "prod".into(),
        image: ImageRef {
            repository: repository.into(),
            tag: (!tag.is_empty()).then(|| tag.to_string()),
            digest,
        },
        source: SourceInfo {
            repository: Some("acme/web".into()),
            commit: Some("c0ffee".repeat(6) + "abcd"),
            git_ref: Some("refs/tags/v1.2.3".into()),
            url: None,
        },
        provider: Some(crate::event::Provider::GitHub),
        built_at: None,
        trigger: Trigger::Artifact,
        event_id: "evt-1".into(),
        requested_at: ts("2026-06-10T11:50:00Z"),
    }
}

pub fn context<'a>(request: &'a DeployRequest, facts: &'a Facts, now: &str) -> Context<'a> {
    Context {
        request,
        facts,
        now: ts(now),
        source: facts.source_of(&request.source),
        upstream: Some("staging"),
    }
}
