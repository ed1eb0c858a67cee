//! Providers that sign nothing and send no secret header (Docker Hub, Quay):
//! a delivery is trusted only because it arrives on a URL holding a long
//! random token (`/hooks/{provider}/{token}`). That is weaker than a
//! signature: the token travels in every request line, may be logged by
//! proxies on the way, and does not bind the body. The README says so.

use crate::event::{Delivery, DomainEvent, Provider};
use crate::secret::Secret;

use super::signature::verify_token;
use super::{Hook, Inbound, Rejection, body_delivery_id};

/// Shortest URL token accepted in configuration (characters).
pub const MIN_URL_TOKEN_LEN: usize = 32;

/// Turns a trusted body into its event.
pub type Normaliser = fn(&[u8]) -> Result<DomainEvent, Rejection>;

/// A provider authenticated by a token in its URL. The sender sends no
/// delivery id, so the id is a hash of the body.
#[derive(Debug, Clone)]
pub struct UrlTokenHook {
    provider: Provider,
    event_type: &'static str,
    url_tokens: Vec<Secret>,
    normalise: Normaliser,
}

impl UrlTokenHook {
    /// A provider accepting any of `url_tokens` in the path; each must be at
    /// least [`MIN_URL_TOKEN_LEN`] characters long.
    pub fn new(
        provider: Provider,
        event_type: &'static str,
        url_tokens: Vec<Secret>,
        normalise: Normaliser,
    ) -> Result<Self, &'static str> {
        if url_tokens
            .iter()
            .any(|t| t.expose().len() < MIN_URL_TOKEN_LEN)
        {
            return Err("URL tokens must be at least 32 random characters");
        }
        Ok(UrlTokenHook {
            provider,
            event_type,
            url_tokens,
            normalise,
        })
    }
}

impl Hook for UrlTokenHook {
    fn provider(&self) -> Provider {
        self.provider
    }

    fn receive(&self, request: &Inbound<'_>) -> Result<Delivery, Rejection> {
        request.require_json()?;
        verify_token(&self.url_tokens, request.path_token)?;
        Ok(Delivery {
            provider: self.provider,
            delivery_id: body_delivery_id(self.provider.as_str(), request.body),
            event_type: self.event_type.to_string(),
            event: (self.normalise)(request.body)?,
        })
    }
}
