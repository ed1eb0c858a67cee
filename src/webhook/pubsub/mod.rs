//! Google Cloud Pub/Sub push deliveries (`/hooks/pubsub`), carrying Cloud
//! Build's build notifications from the `cloud-builds` topic.
//!
//! The body is Pub/Sub's push envelope
//! (<https://cloud.google.com/pubsub/docs/push#receive_push>):
//! `{"message": {"data": <base64>, "attributes": {...}, "messageId": ...,
//! "publishTime": ...}, "subscription": ...}`. Pub/Sub signs nothing in the
//! body; the push subscription attaches a Google-signed OIDC token, checked
//! in [`oidc`] against keys cached by [`jwks`]. `messageId` is the delivery
//! id: Pub/Sub redelivers until it gets a 2xx, and a redelivery is answered
//! 200 as a duplicate.

pub mod jwks;
pub mod oidc;

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures::future::BoxFuture;
use http::HeaderMap;
use serde::Deserialize;

use crate::event::{Delivery, DomainEvent, Provider};

use super::normalise::Required;
use super::{Hook, Inbound, Rejection, checked_delivery_id, parse_json};
use jwks::JwksCache;
use oidc::Expected;

/// Event type recorded for a Cloud Build notification (the topic's name).
pub const CLOUD_BUILDS: &str = "cloud-builds";

/// The Pub/Sub push provider: the token's expected claims and the key cache.
#[derive(Debug, Clone)]
pub struct PubSubHook {
    expected: Expected,
    keys: Arc<JwksCache>,
}

impl PubSubHook {
    /// A provider accepting tokens that match `expected`, signed by a key of `keys`.
    pub fn new(expected: Expected, keys: Arc<JwksCache>) -> Self {
        PubSubHook { expected, keys }
    }
}

#[derive(Deserialize)]
struct Envelope {
    message: Message,
}

/// Pub/Sub also sends `message_id` and `publish_time` copies, and
/// `attributes` (`buildId`, `status`) that repeat what the Build says; they
/// are not read.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Message {
    message_id: Required,
    #[serde(default)]
    data: Option<String>,
}

impl Hook for PubSubHook {
    fn provider(&self) -> Provider {
        Provider::PubSub
    }

    fn prepare<'a>(&'a self, headers: &HeaderMap) -> BoxFuture<'a, ()> {
        let kid = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| oidc::bearer(Some(v)).ok())
            .and_then(oidc::key_id);
        Box::pin(async move {
            if let Some(kid) = kid {
                self.keys.ensure(&kid).await;
            }
        })
    }

    fn receive(&self, request: &Inbound<'_>) -> Result<Delivery, Rejection> {
        let token = oidc::bearer(request.header("authorization"))?;
        oidc::verify(token, &self.keys, &self.expected, request.now)?;
        request.require_json()?;
        let envelope: Envelope = parse_json(request.body)?;
        let delivery_id = checked_delivery_id(&envelope.message.message_id)?;
        Ok(Delivery {
            provider: Provider::PubSub,
            delivery_id,
            event_type: CLOUD_BUILDS.to_string(),
            event: into_event(envelope.message)?,
        })
    }
}

/// Normalise a push envelope without verifying it.
pub fn normalise(body: &[u8]) -> Result<DomainEvent, Rejection> {
    into_event(parse_json::<Envelope>(body)?.message)
}

fn into_event(message: Message) -> Result<DomainEvent, Rejection> {
    let not_a_build = |cause: String| {
        Rejection::BadRequest(format!("message.data is not a Cloud Build Build: {cause}"))
    };
    let data = message
        .data
        .as_deref()
        .filter(|d| !d.trim().is_empty())
        .ok_or_else(|| not_a_build("missing".into()))?;
    let build = BASE64
        .decode(data.trim())
        .map_err(|_| not_a_build("not base64".into()))?;
    super::cloudbuild::normalise(&build).map_err(|rejection| match rejection {
        Rejection::BadRequest(cause) => not_a_build(cause),
        other => other,
    })
}
