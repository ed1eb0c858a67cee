//! Docker Hub webhooks. Docker Hub signs nothing and sends no event or
//! delivery header, so a delivery is trusted only because it arrives on a URL
//! holding a long random token (`/hooks/dockerhub/{token}`). That is weaker
//! than a signature: the token travels in every request line and may be logged
//! by proxies on the way, and it does not bind the body. The README says so.

use serde::Deserialize;

use crate::event::{ArtifactPublished, Delivery, DomainEvent, Provider, SourceInfo};
use crate::image::{ImageRef, ReferencePart};
use crate::secret::Secret;

use super::normalise::{Required, bad_image};
use super::signature::verify_token;
use super::{Hook, Inbound, Rejection, body_delivery_id, parse_json};

/// Registry host of Docker Hub repositories.
const DOCKER_HUB_REGISTRY: &str = "docker.io";
/// Shortest URL token accepted in configuration (characters).
pub const MIN_URL_TOKEN_LEN: usize = 32;

/// The Docker Hub provider with its accepted URL tokens.
#[derive(Debug, Clone)]
pub struct DockerHubHook {
    url_tokens: Vec<Secret>,
}

impl DockerHubHook {
    /// A provider accepting any of `url_tokens` in the path.
    pub fn new(url_tokens: Vec<Secret>) -> Self {
        DockerHubHook { url_tokens }
    }
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

impl Hook for DockerHubHook {
    fn provider(&self) -> Provider {
        Provider::DockerHub
    }

    fn receive(&self, request: &Inbound<'_>) -> Result<Delivery, Rejection> {
        request.require_json()?;
        verify_token(&self.url_tokens, request.path_token)?;
        Ok(Delivery {
            provider: Provider::DockerHub,
            delivery_id: body_delivery_id("dockerhub", request.body),
            event_type: "push".to_string(),
            event: normalise(request.body)?,
        })
    }
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
