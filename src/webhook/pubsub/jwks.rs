//! The signing keys of an OpenID Connect issuer, fetched from its JWKS URL
//! (RFC 7517 JSON Web Key Set) and cached.
//!
//! The cache is refreshed when a token names a key id it does not hold (the
//! issuer rotated its keys) and when it is older than [`JWKS_MAX_AGE`], but at
//! most once per `min_refresh`, so a flood of tokens with made-up key ids
//! cannot turn into a flood of fetches. A failed fetch keeps the keys held.
//! Only RSA keys for RS256 are kept: that is what Google signs with.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet, KeyAlgorithm};

/// Google's OAuth 2.0 signing keys, as a JWKS.
pub const GOOGLE_JWKS_URL: &str = "https://www.googleapis.com/oauth2/v3/certs";
/// Keys older than this are fetched again on the next request.
pub const JWKS_MAX_AGE: Duration = Duration::from_secs(60 * 60);
/// How long one JWKS fetch may take.
pub const JWKS_FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest JWKS document read.
const MAX_JWKS_BYTES: usize = 256 * 1024;

/// Why a JWKS could not be fetched. The keys held stay in use.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    /// The request failed or the server answered with an error status.
    #[error("fetch {url}")]
    Fetch {
        /// The JWKS URL.
        url: String,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// The document is not a JWKS, or is too large.
    #[error("parse JWKS from {url}: {message}")]
    Parse {
        /// The JWKS URL.
        url: String,
        /// What is wrong.
        message: String,
    },
}

#[derive(Default)]
struct Held {
    keys: HashMap<String, DecodingKey>,
    fetched_at: Option<Instant>,
    attempted_at: Option<Instant>,
}

/// A cached JWKS. Cheap to share behind an `Arc`; lookups never wait on I/O.
pub struct JwksCache {
    url: String,
    client: reqwest::Client,
    min_refresh: Duration,
    held: RwLock<Held>,
    fetching: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksCache")
            .field("url", &self.url)
            .field("min_refresh", &self.min_refresh)
            .finish_non_exhaustive()
    }
}

impl JwksCache {
    /// An empty cache for the JWKS at `url`, refreshed at most once per `min_refresh`.
    pub fn new(url: impl Into<String>, min_refresh: Duration) -> Self {
        let client = reqwest::Client::builder()
            .timeout(JWKS_FETCH_TIMEOUT)
            .build()
            .unwrap_or_default();
        JwksCache {
            url: url.into(),
            client,
            min_refresh,
            held: RwLock::new(Held::default()),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    /// The RS256 key with this key id, if held.
    pub fn key(&self, kid: &str) -> Option<DecodingKey> {
        self.held.read().ok()?.keys.get(kid).cloned()
    }

    /// Make sure the key `kid` is held if the issuer publishes it: fetch the
    /// JWKS when the key is unknown or the keys are stale, unless a fetch was
    /// tried less than `min_refresh` ago. A failed fetch is logged.
    pub async fn ensure(&self, kid: &str) {
        if !self.needs_fetch(kid) {
            return;
        }
        let _one_at_a_time = self.fetching.lock().await;
        // Another request may have fetched while this one waited.
        if !self.needs_fetch(kid) {
            return;
        }
        if let Ok(mut held) = self.held.write() {
            held.attempted_at = Some(Instant::now());
        }
        match self.fetch().await {
            Ok(keys) => {
                tracing::info!(url = %self.url, keys = keys.len(), "fetched JWKS");
                if let Ok(mut held) = self.held.write() {
                    held.keys = keys;
                    held.fetched_at = Some(Instant::now());
                }
            }
            Err(e) => {
                tracing::warn!(error = %crate::error_chain(&e), "JWKS fetch failed; keeping the keys held")
            }
        }
    }

    fn needs_fetch(&self, kid: &str) -> bool {
        let Ok(held) = self.held.read() else {
            return false;
        };
        let now = Instant::now();
        let fresh = held
            .fetched_at
            .is_some_and(|at| now.duration_since(at) < JWKS_MAX_AGE);
        if held.keys.contains_key(kid) && fresh {
            return false;
        }
        held.attempted_at
            .is_none_or(|at| now.duration_since(at) >= self.min_refresh)
    }

    async fn fetch(&self) -> Result<HashMap<String, DecodingKey>, JwksError> {
        let fetch_error = |source| JwksError::Fetch {
            url: self.url.clone(),
            source,
        };
        let response = self
            .client
            .get(&self.url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(fetch_error)?;
        let body = response.bytes().await.map_err(fetch_error)?;
        if body.len() > MAX_JWKS_BYTES {
            return Err(JwksError::Parse {
                url: self.url.clone(),
                message: format!("larger than {MAX_JWKS_BYTES} bytes"),
            });
        }
        parse_jwks(&body).map_err(|message| JwksError::Parse {
            url: self.url.clone(),
            message,
        })
    }
}

/// The RS256 keys of a JWKS document, by key id. Keys without a `kid`, of
/// another type or algorithm, or that do not load are left out.
pub fn parse_jwks(body: &[u8]) -> Result<HashMap<String, DecodingKey>, String> {
    let set: JwkSet = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    Ok(set
        .keys
        .iter()
        .filter(|jwk| matches!(jwk.algorithm, AlgorithmParameters::RSA(_)))
        .filter(|jwk| matches!(jwk.common.key_algorithm, None | Some(KeyAlgorithm::RS256)))
        .filter_map(|jwk| {
            let kid = jwk.common.key_id.clone()?;
            DecodingKey::from_jwk(jwk).ok().map(|key| (kid, key))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_rs256_keys_with_an_id_are_kept() {
        let body = br#"{"keys": [
            {"kty": "RSA", "kid": "a", "alg": "RS256", "use": "sig", "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw", "e": "AQAB"},
            {"kty": "RSA", "alg": "RS256", "n": "sXch", "e": "AQAB"},
            {"kty": "RSA", "kid": "ps", "alg": "PS256", "n": "sXch", "e": "AQAB"},
            {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}
        ]}"#;
        let keys = parse_jwks(body).unwrap();
        assert_eq!(keys.keys().collect::<Vec<_>>(), ["a"]);
        assert!(parse_jwks(b"not json").is_err());
    }
}
