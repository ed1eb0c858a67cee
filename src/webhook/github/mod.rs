//! GitHub webhooks: `X-Hub-Signature-256` over the raw body, `X-GitHub-Event`,
//! `X-GitHub-Delivery`; JSON or form-encoded (`payload=`) bodies.

mod events;

pub use events::normalise;

use crate::event::{Delivery, Provider};
use crate::secret::Secret;

use super::signature::verify_hub_signature;
use super::{Hook, Inbound, Rejection, checked_delivery_id};

/// The GitHub provider with its accepted secrets.
#[derive(Debug, Clone)]
pub struct GitHubHook {
    secrets: Vec<Secret>,
}

impl GitHubHook {
    /// A provider accepting signatures made with any of `secrets`.
    pub fn new(secrets: Vec<Secret>) -> Self {
        GitHubHook { secrets }
    }
}

/// The JSON document of a delivery, whichever content type carried it.
fn json_document(request: &Inbound<'_>) -> Result<Vec<u8>, Rejection> {
    match request.media_type().as_str() {
        "application/json" => Ok(request.body.to_vec()),
        "application/x-www-form-urlencoded" => form_urlencoded::parse(request.body)
            .find(|(key, _)| key == "payload")
            .map(|(_, value)| value.into_owned().into_bytes())
            .ok_or_else(|| Rejection::BadRequest("form body has no payload field".to_string())),
        other => Err(Rejection::unsupported(other)),
    }
}

impl Hook for GitHubHook {
    fn provider(&self) -> Provider {
        Provider::GitHub
    }

    fn receive(&self, request: &Inbound<'_>) -> Result<Delivery, Rejection> {
        // Content type first: it decides nothing about trust, and a 415 tells a
        // misconfigured hook what is wrong without revealing anything.
        let media = request.media_type();
        if !matches!(
            media.as_str(),
            "application/json" | "application/x-www-form-urlencoded"
        ) {
            return Err(Rejection::unsupported(&media));
        }
        verify_hub_signature(
            &self.secrets,
            request.header("x-hub-signature-256"),
            request.body,
        )?;
        let event_type = request.required_header("x-github-event")?.to_string();
        let delivery_id = checked_delivery_id(request.required_header("x-github-delivery")?)?;
        let document = json_document(request)?;
        let event = normalise(&event_type, &document)?;
        Ok(Delivery {
            provider: Provider::GitHub,
            delivery_id,
            event_type,
            event,
        })
    }
}
