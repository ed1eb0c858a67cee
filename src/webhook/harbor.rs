//! Harbor registry webhooks. Harbor signs nothing; it sends the policy's
//! configured "auth header" value in `Authorization`, compared here in
//! constant time. Both payload formats (Default and CloudEvents) are read.

use serde::Deserialize;

use crate::event::{ArtifactPublished, Delivery, DomainEvent, Provider, SourceInfo};
use crate::image::ImageRef;
use crate::secret::Secret;

use super::normalise::{Required, bad_image, valid_digest};
use super::signature::verify_token;
use super::{Hook, Inbound, Rejection, body_delivery_id, checked_delivery_id, parse_json};

/// Harbor's event type for a pushed artifact, in each payload format.
const PUSHED: &[&str] = &["PUSH_ARTIFACT", "harbor.artifact.pushed"];

/// The Harbor provider with its accepted auth header values.
#[derive(Debug, Clone)]
pub struct HarborHook {
    auth_headers: Vec<Secret>,
}

impl HarborHook {
    /// A provider accepting any of `auth_headers` in `Authorization`.
    pub fn new(auth_headers: Vec<Secret>) -> Self {
        HarborHook { auth_headers }
    }
}

#[derive(Deserialize)]
struct Payload {
    #[serde(rename = "type")]
    kind: Required,
    /// CloudEvents id; the Default format has none.
    #[serde(default)]
    id: Option<String>,
    #[serde(alias = "data")]
    event_data: EventData,
}

#[derive(Deserialize)]
struct EventData {
    #[serde(default)]
    resources: Vec<Resource>,
}

#[derive(Deserialize)]
struct Resource {
    #[serde(default)]
    digest: Option<String>,
    #[serde(default)]
    tag: Option<String>,
    resource_url: Required,
}

impl Hook for HarborHook {
    fn provider(&self) -> Provider {
        Provider::Harbor
    }

    fn receive(&self, request: &Inbound<'_>) -> Result<Delivery, Rejection> {
        request.require_json()?;
        verify_token(&self.auth_headers, request.header("authorization"))?;
        let payload: Payload = parse_json(request.body)?;
        let delivery_id = match payload.id.as_deref() {
            Some(id) => checked_delivery_id(id)?,
            None => body_delivery_id("harbor", request.body),
        };
        let event_type = payload.kind.0.clone();
        Ok(Delivery {
            provider: Provider::Harbor,
            delivery_id,
            event_type,
            event: into_event(payload)?,
        })
    }
}

/// Normalise a Harbor payload without verifying it.
pub fn normalise(body: &[u8]) -> Result<DomainEvent, Rejection> {
    into_event(parse_json(body)?)
}

fn into_event(payload: Payload) -> Result<DomainEvent, Rejection> {
    if !PUSHED.contains(&&*payload.kind) {
        return Ok(DomainEvent::Ignored {
            reason: format!("Harbor event {:?} is not used", payload.kind.0),
        });
    }
    if payload.event_data.resources.is_empty() {
        return Err(Rejection::BadRequest(
            "event_data.resources: missing (a push names at least one)".into(),
        ));
    }
    let mut artifacts = Vec::new();
    let mut skipped = Vec::new();
    for (i, resource) in payload.event_data.resources.iter().enumerate() {
        let field = format!("event_data.resources[{i}].resource_url");
        let mut image =
            ImageRef::parse(&resource.resource_url).map_err(|e| bad_image(&field, e))?;
        if let Some(digest) = resource.digest.as_deref().and_then(valid_digest) {
            image.digest = Some(digest);
        }
        if image.tag.is_none() {
            // Harbor names a push by digest with the digest in `tag`, or none.
            image.tag = resource
                .tag
                .as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty() && valid_digest(t).is_none())
                .map(str::to_string);
        }
        let image = ImageRef::from_parts(
            &image.repository,
            image.tag.as_deref(),
            image.digest.as_deref(),
        )
        .map_err(|e| bad_image(&format!("event_data.resources[{i}]"), e))?;
        if image.tag.is_none() {
            skipped.push(format!(
                "{image}: untagged manifest, not deployed (only a tag is a release)"
            ));
            continue;
        }
        artifacts.push(ArtifactPublished {
            image,
            source: SourceInfo::default(),
            pipeline: None,
            built_at: None,
        });
    }
    if artifacts.is_empty() {
        return Ok(DomainEvent::Ignored {
            reason: skipped.join("; "),
        });
    }
    Ok(DomainEvent::ArtifactsPublished { artifacts, skipped })
}
