//! Signature and token checks over raw request bytes, in constant time.
//!
//! Three schemes: GitHub's `X-Hub-Signature-256` (hex HMAC-SHA256 of the
//! body), Standard Webhooks (`v1,<base64>` HMAC-SHA256 of `id.timestamp.body`,
//! used by `/hooks/generic`, GitLab's signing token and Slipway's own rollout
//! reports), and plain shared tokens (GitLab's `X-Gitlab-Token`, Harbor's auth
//! header, Docker Hub and Quay URL tokens). Google's OIDC tokens on Pub/Sub
//! push deliveries are checked in [`super::pubsub`].

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretSlice};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::secret::Secret;

type HmacSha256 = Hmac<Sha256>;

/// Prefix of Standard Webhooks secrets as users see them.
pub const WHSEC_PREFIX: &str = "whsec_";

/// Why a signature or token was refused. Deliberately vague towards the
/// sender; precise enough for the operator's metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No signature or token was sent.
    #[error("missing signature")]
    Missing,
    /// The header is not of the expected form (prefix, encoding, length).
    #[error("malformed signature")]
    Malformed,
    /// Well-formed, but no configured secret produces it.
    #[error("signature does not match")]
    Mismatch,
    /// The timestamp is not a number or is outside the tolerance (for a
    /// token: expired, or issued or valid only in the future).
    #[error("timestamp outside tolerance")]
    Stale,
    /// A signed token whose issuer, audience or identity is not the one configured.
    #[error("token claims not accepted")]
    Claims,
}

impl SignatureError {
    /// Label for metrics.
    pub fn label(self) -> &'static str {
        match self {
            SignatureError::Missing => "missing",
            SignatureError::Malformed => "malformed",
            SignatureError::Mismatch => "mismatch",
            SignatureError::Stale => "stale",
            SignatureError::Claims => "claims",
        }
    }
}

/// A Standard Webhooks HMAC key, decoded from its `whsec_<base64>` form.
#[derive(Clone)]
pub struct StandardKey(SecretSlice<u8>);

impl std::fmt::Debug for StandardKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StandardKey([redacted])")
    }
}

impl StandardKey {
    /// Decode `whsec_<base64>` (or the bare base64, as the reference libraries accept).
    /// The error never contains the secret.
    pub fn from_secret(secret: &Secret) -> Result<Self, &'static str> {
        let text = secret.expose();
        let encoded = text.strip_prefix(WHSEC_PREFIX).unwrap_or(text);
        let key = BASE64
            .decode(encoded)
            .map_err(|_| "a Standard Webhooks secret is whsec_ followed by base64")?;
        if key.is_empty() {
            return Err("a Standard Webhooks secret must not be empty");
        }
        Ok(StandardKey(key.into()))
    }

    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(self.0.expose_secret()).expect("HMAC takes keys of any length")
    }
}

/// Check GitHub's `X-Hub-Signature-256: sha256=<hex>` against every secret.
pub fn verify_hub_signature(
    secrets: &[Secret],
    header: Option<&str>,
    body: &[u8],
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let hex_sig = header
        .strip_prefix("sha256=")
        .ok_or(SignatureError::Malformed)?;
    let sig = hex::decode(hex_sig).map_err(|_| SignatureError::Malformed)?;
    if sig.len() != 32 {
        return Err(SignatureError::Malformed);
    }
    let matched = secrets.iter().any(|secret| {
        let mut mac = HmacSha256::new_from_slice(secret.expose().as_bytes())
            .expect("HMAC takes keys of any length");
        mac.update(body);
        mac.verify_slice(&sig).is_ok()
    });
    matched.then_some(()).ok_or(SignatureError::Mismatch)
}

/// Compute GitHub's `X-Hub-Signature-256` header value (for tests and tooling).
pub fn sign_hub(secret: &str, body: &[u8]) -> String {
    let mut mac =
        HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The Standard Webhooks headers of one delivery.
#[derive(Debug, Clone, Copy)]
pub struct StandardHeaders<'a> {
    /// `webhook-id`.
    pub id: &'a str,
    /// `webhook-timestamp` (Unix seconds, as sent).
    pub timestamp: &'a str,
    /// `webhook-signature`: space-separated `v1,<base64>` entries.
    pub signature: Option<&'a str>,
}

/// Verify a Standard Webhooks delivery: the timestamp within `tolerance_secs`
/// of `now` (either way) and any `v1` signature made by any key.
pub fn verify_standard(
    keys: &[StandardKey],
    headers: StandardHeaders<'_>,
    body: &[u8],
    now: i64,
    tolerance_secs: u64,
) -> Result<(), SignatureError> {
    let signature = headers.signature.ok_or(SignatureError::Missing)?;
    let timestamp: i64 = headers
        .timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::Stale)?;
    if now.abs_diff(timestamp) > tolerance_secs {
        return Err(SignatureError::Stale);
    }
    let mut candidates = Vec::new();
    for entry in signature.split_ascii_whitespace() {
        let Some((version, value)) = entry.split_once(',') else {
            continue;
        };
        if version == "v1"
            && let Ok(bytes) = BASE64.decode(value)
            && bytes.len() == 32
        {
            candidates.push(bytes);
        }
    }
    if candidates.is_empty() {
        return Err(SignatureError::Malformed);
    }
    for key in keys {
        let mut mac = key.mac();
        mac.update(headers.id.as_bytes());
        mac.update(b".");
        mac.update(headers.timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        let expected = mac.finalize().into_bytes();
        if candidates
            .iter()
            .any(|c| bool::from(c.as_slice().ct_eq(expected.as_slice())))
        {
            return Ok(());
        }
    }
    Err(SignatureError::Mismatch)
}

/// Compute a Standard Webhooks `webhook-signature` value (`v1,<base64>`).
pub fn sign_standard(key: &StandardKey, id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = key.mac();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
}

/// Compare a presented token with every configured one in constant time.
/// Both sides are hashed first so that the comparison does not leak length.
pub fn verify_token(secrets: &[Secret], presented: Option<&str>) -> Result<(), SignatureError> {
    let presented = presented
        .filter(|p| !p.is_empty())
        .ok_or(SignatureError::Missing)?;
    let presented = Sha256::digest(presented.as_bytes());
    let matched = secrets.iter().fold(false, |found, secret| {
        let expected = Sha256::digest(secret.expose().as_bytes());
        found | bool::from(expected.as_slice().ct_eq(presented.as_slice()))
    });
    matched.then_some(()).ok_or(SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SW_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SW_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SW_TS: i64 = 1614265330;
    const SW_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SW_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn github_documented_test_vector_verifies() {
        let secret = "It's a Secret to Everybody";
        let want = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert_eq!(sign_hub(secret, b"Hello, World!"), want);
        assert_eq!(
            verify_hub_signature(&[Secret::new(secret)], Some(want), b"Hello, World!"),
            Ok(())
        );
    }

    #[test]
    fn github_signatures_are_refused_for_each_kind_of_fault() {
        let good = sign_hub("s3cret", b"body");
        let truncated = &good[..good.len() - 2];
        let sha1 = good.replace("sha256=", "sha1=");
        let other = sign_hub("other", b"body");
        let cases: [(&str, Option<&str>, &[u8], SignatureError); 6] = [
            ("missing", None, b"body", SignatureError::Missing),
            (
                "wrong prefix",
                Some(&sha1),
                b"body",
                SignatureError::Malformed,
            ),
            (
                "truncated",
                Some(truncated),
                b"body",
                SignatureError::Malformed,
            ),
            (
                "not hex",
                Some("sha256=zz"),
                b"body",
                SignatureError::Malformed,
            ),
            (
                "other secret",
                Some(&other),
                b"body",
                SignatureError::Mismatch,
            ),
            (
                "body changed",
                Some(&good),
                b"bodY",
                SignatureError::Mismatch,
            ),
        ];
        for (name, header, body, want) in cases {
            assert_eq!(
                verify_hub_signature(&[Secret::new("s3cret")], header, body),
                Err(want),
                "{name}"
            );
        }
    }

    #[test]
    fn any_configured_secret_verifies_during_rotation() {
        let header = sign_hub("new", b"x");
        let secrets = [Secret::new("old"), Secret::new("new")];
        assert_eq!(verify_hub_signature(&secrets, Some(&header), b"x"), Ok(()));
    }

    fn sw_key() -> StandardKey {
        StandardKey::from_secret(&Secret::new(SW_SECRET)).unwrap()
    }

    #[test]
    fn standard_webhooks_reference_vector_signs_and_verifies() {
        assert_eq!(sign_standard(&sw_key(), SW_ID, SW_TS, SW_BODY), SW_SIG);
        let ts = SW_TS.to_string();
        let headers = StandardHeaders {
            id: SW_ID,
            timestamp: &ts,
            signature: Some(SW_SIG),
        };
        assert_eq!(
            verify_standard(&[sw_key()], headers, SW_BODY, SW_TS, 300),
            Ok(())
        );
    }

    #[test]
    fn standard_webhooks_refusals() {
        let ts = SW_TS.to_string();
        let wrong = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=";
        let listed = format!("v1a,abc {wrong} {SW_SIG}");
        type Row<'a> = (
            &'a str,
            Option<&'a str>,
            &'a str,
            i64,
            Result<(), SignatureError>,
        );
        let cases: [Row; 8] = [
            (
                "wrong signature",
                Some(wrong),
                &ts,
                SW_TS,
                Err(SignatureError::Mismatch),
            ),
            (
                "truncated v1,",
                Some("v1,"),
                &ts,
                SW_TS,
                Err(SignatureError::Malformed),
            ),
            (
                "other scheme only",
                Some("v1a,abcd"),
                &ts,
                SW_TS,
                Err(SignatureError::Malformed),
            ),
            ("missing", None, &ts, SW_TS, Err(SignatureError::Missing)),
            (
                "too old",
                Some(SW_SIG),
                &ts,
                SW_TS + 301,
                Err(SignatureError::Stale),
            ),
            (
                "too new",
                Some(SW_SIG),
                &ts,
                SW_TS - 301,
                Err(SignatureError::Stale),
            ),
            (
                "timestamp not a number",
                Some(SW_SIG),
                "soon",
                SW_TS,
                Err(SignatureError::Stale),
            ),
            (
                "one of several matches",
                Some(&listed),
                &ts,
                SW_TS + 300,
                Ok(()),
            ),
        ];
        for (name, signature, timestamp, now, want) in cases {
            let headers = StandardHeaders {
                id: SW_ID,
                timestamp,
                signature,
            };
            assert_eq!(
                verify_standard(&[sw_key()], headers, SW_BODY, now, 300),
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn standard_keys_accept_the_bare_base64_and_refuse_junk() {
        let bare = Secret::new(SW_SECRET.trim_start_matches(WHSEC_PREFIX));
        let key = StandardKey::from_secret(&bare).unwrap();
        assert_eq!(sign_standard(&key, SW_ID, SW_TS, SW_BODY), SW_SIG);
        assert!(StandardKey::from_secret(&Secret::new("whsec_!!!")).is_err());
        assert!(StandardKey::from_secret(&Secret::new("whsec_")).is_err());
    }

    #[test]
    fn tokens_compare_whole_values() {
        let secrets = [Secret::new("tok-a"), Secret::new("tok-b")];
        let cases = [
            ("first", Some("tok-a"), Ok(())),
            ("second", Some("tok-b"), Ok(())),
            ("prefix", Some("tok-"), Err(SignatureError::Mismatch)),
            ("longer", Some("tok-ab"), Err(SignatureError::Mismatch)),
            ("empty", Some(""), Err(SignatureError::Missing)),
            ("absent", None, Err(SignatureError::Missing)),
        ];
        for (name, presented, want) in cases {
            assert_eq!(verify_token(&secrets, presented), want, "{name}");
        }
    }
}
