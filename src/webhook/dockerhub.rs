//! Docker Hub webhooks. Docker Hub signs nothing and sends no event or
//! delivery header, so it is accepted only on a per-hook URL token
//! ([`super::url_token`]).

use serde::Deserialize;

use crate::event::{ArtifactPublished, DomainEvent, Provider, SourceInfo};
use crate::image::{ImageRef, ReferencePart};
use crate::secret::Secret;

use super::normalise::{Required, bad_image};
use super::url_token::UrlTokenHook;
use super::{Rejection, parse_json};

/// Registry host of Docker Hub repositories.
const DOCKER_HUB_REGISTRY: &str = "docker.io";

/// The Docker Hub provider, accepting any of `url_tokens` in the path.
pub fn hook(url_tokens: Vec<Secret>) -> Result<UrlTokenHook, &'static str> {
    UrlTokenHook::new(Provider::DockerHub, "push", url_tokens, normalise)
}

#[derive(Deserialize)]
struct Payload {
    push_data: PushData,
    repository: Repository,
}

#[derive(Deserialize)]
struct PushData {
    tag: Required,
    #[serde(default)]
    pushed_at: Option<f64>,
}

#[derive(Deserialize)]
struct Repository {
    repo_name: Required,
    #[serde(default)]
    repo_url: Option<String>,
}

/// Normalise a Docker Hub payload without verifying it.
pub fn normalise(body: &[u8]) -> Result<DomainEvent, Rejection> {
    let payload: Payload = parse_json(body)?;
    let name = payload.repository.repo_name.to_ascii_lowercase();
    let path = if name.contains('/') {
        name
    } else {
        format!("library/{name}")
    };
    let image = ImageRef::from_parts(
        &format!("{DOCKER_HUB_REGISTRY}/{path}"),
        Some(&payload.push_data.tag),
        None,
    )
    .map_err(|e| match e.part() {
        ReferencePart::Name => bad_image("repository.repo_name", e),
        _ => bad_image("push_data.tag", e),
    })?;
    let built_at = payload
        .push_data
        .pushed_at
        .and_then(|secs| jiff::Timestamp::from_second(secs as i64).ok())
        .map(|t| t.to_string());
    Ok(DomainEvent::ArtifactPublished(ArtifactPublished {
        image,
        source: SourceInfo {
            url: payload.repository.repo_url,
            ..SourceInfo::default()
        },
        pipeline: None,
        built_at,
    }))
}
