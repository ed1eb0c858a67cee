//! GitLab webhooks: the plain `X-Gitlab-Token`, or the newer signing token
//! (Standard Webhooks headers) when the sender signs; `X-Gitlab-Event` names
//! the hook; `Idempotency-Key` (stable across retries) identifies the delivery.

mod events;

pub use events::normalise;

use crate::event::{Delivery, Provider};
use crate::secret::Secret;

use super::signature::{StandardHeaders, StandardKey, verify_standard, verify_token};
use super::{Hook, Inbound, Rejection, checked_delivery_id};

/// Headers that may carry GitLab's delivery id, most stable first.
const DELIVERY_ID_HEADERS: &[&str] = &["idempotency-key", "webhook-id", "x-gitlab-event-uuid"];

/// The GitLab provider with its accepted tokens and signing keys.
#[derive(Debug, Clone)]
pub struct GitLabHook {
    tokens: Vec<Secret>,
    signing_keys: Vec<StandardKey>,
    tolerance_secs: u64,
}

impl GitLabHook {
    /// A provider accepting any of `tokens`, and signatures by any of `signing_keys`.
    pub fn new(tokens: Vec<Secret>, signing_keys: Vec<StandardKey>, tolerance_secs: u64) -> Self {
        GitLabHook {
            tokens,
            signing_keys,
            tolerance_secs,
        }
    }

    /// When the delivery is signed and signing keys are configured, the
    /// signature decides; otherwise the plain token does.
    fn authenticate(&self, request: &Inbound<'_>) -> Result<(), Rejection> {
        let signature = request.header("webhook-signature");
        if signature.is_some() && !self.signing_keys.is_empty() {
            let headers = StandardHeaders {
                id: request.required_header("webhook-id")?,
                timestamp: request.required_header("webhook-timestamp")?,
                signature,
            };
            return Ok(verify_standard(
                &self.signing_keys,
                headers,
                request.body,
                request.now,
                self.tolerance_secs,
            )?);
        }
        Ok(verify_token(
            &self.tokens,
            request.header("x-gitlab-token"),
        )?)
    }
}

impl Hook for GitLabHook {
    fn provider(&self) -> Provider {
        Provider::GitLab
    }

    fn receive(&self, request: &Inbound<'_>) -> Result<Delivery, Rejection> {
        request.require_json()?;
        self.authenticate(request)?;
        let event_type = request.required_header("x-gitlab-event")?.to_string();
        let delivery_id = DELIVERY_ID_HEADERS
            .iter()
            .find_map(|name| request.header(name).filter(|v| !v.trim().is_empty()))
            .ok_or_else(|| {
                Rejection::BadRequest(
                    "missing Idempotency-Key or X-Gitlab-Event-UUID header".into(),
                )
            })?;
        let delivery_id = checked_delivery_id(delivery_id)?;
        let event = normalise(&event_type, request.body)?;
        Ok(Delivery {
            provider: Provider::GitLab,
            delivery_id,
            event_type,
            event,
        })
    }
}
