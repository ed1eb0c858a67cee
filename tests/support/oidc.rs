//! A stand-in for Google's OIDC signing: an RSA key made in the test, its
//! JWKS served on 127.0.0.1 (counting fetches), RS256 tokens with the claims
//! a Pub/Sub push subscription sends, and push-envelope requests.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use axum::body::Body;
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64URL};
use http::Request;
use serde_json::{Value, json};
use slipway::config::PubSubProvider;

use super::webhooks::{now, post};

pub const AUDIENCE: &str = "https://slipway.test/hooks/pubsub";
pub const SERVICE_ACCOUNT: &str = "cloud-build-push@acme-ci.iam.gserviceaccount.com";

/// An RSA signing key with its key id.
pub struct TestKey {
    pub kid: String,
    pair: KeyPair,
}

impl TestKey {
    pub fn generate(kid: &str) -> TestKey {
        TestKey {
            kid: kid.to_string(),
            pair: KeyPair::generate(KeySize::Rsa2048).expect("generate RSA key"),
        }
    }

    /// The public key as a JWK, as Google publishes its keys.
    pub fn jwk(&self) -> Value {
        let public = self.pair.public_key();
        json!({
            "kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.kid,
            "n": B64URL.encode(public.modulus().big_endian_without_leading_zero()),
            "e": B64URL.encode(public.exponent().big_endian_without_leading_zero()),
        })
    }

    /// A compact JWS (RS256) over `claims`, with this key's id in the header.
    pub fn token(&self, claims: &Value) -> String {
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": self.kid});
        let signing_input = format!(
            "{}.{}",
            B64URL.encode(header.to_string()),
            B64URL.encode(claims.to_string())
        );
        let mut signature = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .expect("sign");
        format!("{signing_input}.{}", B64URL.encode(signature))
    }
}

/// The claims of a valid push token, issued now.
pub fn claims() -> Value {
    let now = now();
    json!({
        "aud": AUDIENCE, "azp": "117", "email": SERVICE_ACCOUNT, "email_verified": true,
        "exp": now + 3600, "iat": now, "iss": "https://accounts.google.com", "sub": "117"
    })
}

/// A JWKS on 127.0.0.1 whose keys the test can change; counts fetches.
pub struct JwksServer {
    pub url: String,
    keys: Arc<Mutex<Vec<Value>>>,
    hits: Arc<AtomicUsize>,
}

impl JwksServer {
    pub async fn start(keys: Vec<Value>) -> JwksServer {
        let keys = Arc::new(Mutex::new(keys));
        let hits = Arc::new(AtomicUsize::new(0));
        let (k, h) = (keys.clone(), hits.clone());
        let app = Router::new().route(
            "/oauth2/v3/certs",
            get(move || {
                h.fetch_add(1, Ordering::SeqCst);
                let keys = k.lock().unwrap().clone();
                async move { Json(json!({ "keys": keys })) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/oauth2/v3/certs", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.ok() });
        JwksServer { url, keys, hits }
    }

    pub fn set_keys(&self, keys: Vec<Value>) {
        *self.keys.lock().unwrap() = keys;
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// The `webhooks.pubsub` section for this JWKS.
    pub fn config(&self, min_refresh_seconds: u64) -> PubSubProvider {
        PubSubProvider {
            audience: AUDIENCE.into(),
            service_account: SERVICE_ACCOUNT.into(),
            jwks_url: self.url.clone(),
            clock_skew_seconds: 60,
            jwks_min_refresh_seconds: min_refresh_seconds,
        }
    }
}

/// A Pub/Sub push envelope whose `message.data` is `data` (base64-encoded here).
pub fn envelope(message_id: &str, data: &[u8]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "message": {
            "attributes": {"buildId": "b-1", "status": "SUCCESS"},
            "data": STANDARD.encode(data),
            "messageId": message_id, "message_id": message_id,
            "publishTime": "2026-06-10T09:00:01Z", "publish_time": "2026-06-10T09:00:01Z"
        },
        "subscription": "projects/acme-ci/subscriptions/slipway"
    }))
    .unwrap()
}

/// `POST /hooks/pubsub` with `Authorization: Bearer <token>` (none when `None`).
pub fn pubsub_push(token: Option<&str>, body: Vec<u8>) -> Request<Body> {
    let headers: Vec<(String, String)> = token
        .map(|t| vec![("authorization".to_string(), format!("Bearer {t}"))])
        .unwrap_or_default();
    post("/hooks/pubsub", &headers, body)
}
