//! Webhook providers. Each verifies a delivery over its raw bytes and turns it
//! into one [`Delivery`], or refuses it with a typed [`Rejection`].
//!
//! Every provider has the same contract ([`Hook`]): headers and body in, a
//! verified, normalised delivery or a rejection out. No I/O happens in
//! `receive`; the server stores what comes out. A provider whose keys live
//! elsewhere (Pub/Sub's JWKS) fetches them in [`Hook::prepare`] first.

pub mod cloudbuild;
pub mod dockerhub;
pub mod generic;
pub mod github;
pub mod gitlab;
pub mod harbor;
pub mod normalise;
pub mod pubsub;
pub mod quay;
pub mod signature;
pub mod url_token;

use futures::future::BoxFuture;
use http::HeaderMap;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::event::{Delivery, Provider};
use signature::SignatureError;

/// Why a delivery was refused. Each maps to one HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Signature, token or timestamp check failed (401).
    #[error("unauthorized: {0}")]
    Unauthorized(SignatureError),
    /// The request is not a well-formed delivery of this provider (400).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The content type is not one this provider sends (415).
    #[error("unsupported content type: {0}")]
    UnsupportedMediaType(String),
    /// The body is larger than the configured `max_body_bytes` (413).
    #[error("payload too large: the limit is {limit} bytes")]
    PayloadTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
}

impl Rejection {
    /// A 415 naming the media type received.
    pub fn unsupported(media: &str) -> Self {
        Rejection::UnsupportedMediaType(if media.is_empty() {
            "missing content-type".to_string()
        } else {
            media.to_string()
        })
    }
}

impl From<SignatureError> for Rejection {
    fn from(e: SignatureError) -> Self {
        Rejection::Unauthorized(e)
    }
}

/// One incoming request as a provider sees it.
#[derive(Debug, Clone, Copy)]
pub struct Inbound<'a> {
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// The raw body, exactly as received.
    pub body: &'a [u8],
    /// The token in the URL path, for providers that authenticate that way.
    pub path_token: Option<&'a str>,
    /// Current Unix time in seconds (passed in so tests can pin it).
    pub now: i64,
}

/// The contract every provider module fulfils.
pub trait Hook: Send + Sync {
    /// Which provider this is.
    fn provider(&self) -> Provider;
    /// Fetch what verifying this request needs and the provider may not
    /// hold yet (signing keys), before [`Hook::receive`]. Nothing for most
    /// providers. It never fails: `receive` refuses what it cannot verify.
    fn prepare<'a>(&'a self, _headers: &HeaderMap) -> BoxFuture<'a, ()> {
        Box::pin(std::future::ready(()))
    }
    /// Verify and normalise one delivery.
    fn receive(&self, request: &Inbound<'_>) -> Result<Delivery, Rejection>;
}

impl Inbound<'_> {
    /// A header as text; absent or not visible ASCII is `None`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A header that must be present and non-empty, or a 400 naming it.
    pub fn required_header(&self, name: &str) -> Result<&str, Rejection> {
        self.header(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| Rejection::BadRequest(format!("missing {name} header")))
    }

    /// The media type without parameters, lowercased.
    pub fn media_type(&self) -> String {
        self.header("content-type")
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    }

    /// Refuse anything but JSON (`application/json` or `application/*+json`).
    pub fn require_json(&self) -> Result<(), Rejection> {
        let media = self.media_type();
        let is_json = media == "application/json"
            || (media.starts_with("application/") && media.ends_with("+json"));
        if is_json {
            Ok(())
        } else {
            Err(Rejection::unsupported(&media))
        }
    }
}

/// Largest delivery id kept; longer ids are refused rather than truncated.
pub const MAX_DELIVERY_ID_LEN: usize = 200;

/// Check a sender's delivery id before it becomes a database key.
pub fn checked_delivery_id(id: &str) -> Result<String, Rejection> {
    let id = id.trim();
    if id.is_empty() || id.len() > MAX_DELIVERY_ID_LEN || id.chars().any(|c| c.is_control()) {
        return Err(Rejection::BadRequest("invalid delivery id".to_string()));
    }
    Ok(id.to_string())
}

/// A delivery id for senders that send none: the SHA-256 of the body, so a
/// redelivery of the same body is recognised.
pub fn body_delivery_id(prefix: &str, body: &[u8]) -> String {
    format!("{prefix}-{}", hex::encode(&Sha256::digest(body)[..16]))
}

/// Parse a JSON body into a provider's payload type. On failure the 400
/// names the field's path (`push_data.tag: must not be empty`).
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, Rejection> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let mut path = e.path().to_string();
        let mut cause = e.into_inner().to_string();
        // serde names a missing field in its message; put it on the path.
        if let Some(rest) = cause.strip_prefix("missing field `")
            && let Some((field, _)) = rest.split_once('`')
        {
            path = match path.as_str() {
                "." => field.to_string(),
                parent => format!("{parent}.{field}"),
            };
            cause = "missing".to_string();
        }
        Rejection::BadRequest(match path.as_str() {
            "." => format!("payload: {cause}"),
            _ => format!("payload: {path}: {cause}"),
        })
    })?;
    deserializer
        .end()
        .map_err(|e| Rejection::BadRequest(format!("payload: {e}")))?;
    Ok(value)
}
