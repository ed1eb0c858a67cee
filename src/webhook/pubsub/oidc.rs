//! The Google-signed OpenID Connect token a Pub/Sub push subscription sends
//! as `Authorization: Bearer <JWT>`, verified with `jsonwebtoken` against
//! the cached JWKS.
//!
//! Checked, as Google's "Authenticate push subscriptions" page says: the
//! RS256 signature by a key of the JWKS; `iss` is Google's; `aud` is the
//! configured audience; `email` is the configured service account with
//! `email_verified: true`; and `exp`, `iat` and `nbf` (when present) hold at
//! the request's time within the clock-skew allowance.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;

use super::jwks::JwksCache;
use crate::webhook::signature::SignatureError;

/// The issuers of Google ID tokens (both forms occur).
pub const GOOGLE_ISSUERS: &[&str] = &["https://accounts.google.com", "accounts.google.com"];

/// What a token must say to be accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// The `aud` claim: the audience set on the push subscription (by
    /// default the push endpoint URL).
    pub audience: String,
    /// The `email` claim: the push subscription's service account.
    pub service_account: String,
    /// Allowed difference between Google's clock and ours, in seconds.
    pub clock_skew_secs: u64,
}

/// The claims read from the token; the crate has checked `iss` and `aud`.
#[derive(Debug, Deserialize)]
struct Claims {
    exp: i64,
    iat: i64,
    #[serde(default)]
    nbf: Option<i64>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    email_verified: Option<bool>,
}

/// The bearer token of an `Authorization` header value.
pub fn bearer(header: Option<&str>) -> Result<&str, SignatureError> {
    let value = header.ok_or(SignatureError::Missing)?;
    let (scheme, token) = value
        .trim()
        .split_once(' ')
        .ok_or(SignatureError::Malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(SignatureError::Malformed);
    }
    Ok(token.trim())
}

/// The key id a token names in its header, for fetching the key before
/// [`verify`]; `None` when the token is malformed.
pub fn key_id(token: &str) -> Option<String> {
    jsonwebtoken::decode_header(token).ok()?.kid
}

/// Verify `token` at Unix time `now` against the keys held in `keys`.
pub fn verify(
    token: &str,
    keys: &JwksCache,
    expected: &Expected,
    now: i64,
) -> Result<(), SignatureError> {
    let kid = key_id(token).ok_or(SignatureError::Malformed)?;
    let key = keys.key(&kid).ok_or(SignatureError::Mismatch)?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(GOOGLE_ISSUERS);
    validation.set_audience(&[&expected.audience]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud"]);
    // Times are checked below against the request's clock.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
        .map_err(|e| token_error(e.kind()))?
        .claims;
    check_times(&claims, now, expected.clock_skew_secs)?;
    let identity_matches = claims.email.as_deref() == Some(expected.service_account.as_str())
        && claims.email_verified == Some(true);
    identity_matches.then_some(()).ok_or(SignatureError::Claims)
}

fn check_times(claims: &Claims, now: i64, skew_secs: u64) -> Result<(), SignatureError> {
    let skew = i64::try_from(skew_secs).unwrap_or(i64::MAX);
    let expired = now > claims.exp.saturating_add(skew);
    let from_future = claims.iat.saturating_sub(skew) > now
        || claims.nbf.is_some_and(|nbf| nbf.saturating_sub(skew) > now);
    if expired || from_future {
        Err(SignatureError::Stale)
    } else {
        Ok(())
    }
}

fn token_error(kind: &ErrorKind) -> SignatureError {
    match kind {
        ErrorKind::InvalidSignature => SignatureError::Mismatch,
        ErrorKind::InvalidIssuer
        | ErrorKind::InvalidAudience
        | ErrorKind::MissingRequiredClaim(_) => SignatureError::Claims,
        ErrorKind::ExpiredSignature | ErrorKind::ImmatureSignature => SignatureError::Stale,
        _ => SignatureError::Malformed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_times_hold_within_the_skew() {
        let claims = |exp, iat, nbf| Claims {
            exp,
            iat,
            nbf,
            email: None,
            email_verified: None,
        };
        let now = 1_000_000;
        let cases = [
            ("valid", claims(now + 3600, now - 10, None), Ok(())),
            (
                "expired within skew",
                claims(now - 30, now - 3600, None),
                Ok(()),
            ),
            (
                "expired",
                claims(now - 61, now - 3600, None),
                Err(SignatureError::Stale),
            ),
            (
                "issued in the future within skew",
                claims(now + 3600, now + 60, None),
                Ok(()),
            ),
            (
                "issued in the future",
                claims(now + 3600, now + 61, None),
                Err(SignatureError::Stale),
            ),
            (
                "not yet valid",
                claims(now + 3600, now, Some(now + 120)),
                Err(SignatureError::Stale),
            ),
            ("nbf passed", claims(now + 3600, now, Some(now - 1)), Ok(())),
        ];
        for (row, c, want) in cases {
            assert_eq!(check_times(&c, now, 60), want, "{row}");
        }
    }

    #[test]
    fn bearer_headers_are_read_strictly() {
        let cases = [
            ("missing", None, Err(SignatureError::Missing)),
            ("bearer", Some("Bearer a.b.c"), Ok("a.b.c")),
            ("lowercase scheme", Some("bearer a.b.c"), Ok("a.b.c")),
            (
                "basic",
                Some("Basic dXNlcjpwYXNz"),
                Err(SignatureError::Malformed),
            ),
            ("no token", Some("Bearer "), Err(SignatureError::Malformed)),
            ("no scheme", Some("a.b.c"), Err(SignatureError::Malformed)),
        ];
        for (row, header, want) in cases {
            assert_eq!(bearer(header), want, "{row}");
        }
    }

    #[test]
    fn token_failures_sort_into_reasons() {
        let cases = [
            (ErrorKind::InvalidSignature, SignatureError::Mismatch),
            (ErrorKind::InvalidAudience, SignatureError::Claims),
            (ErrorKind::InvalidIssuer, SignatureError::Claims),
            (
                ErrorKind::MissingRequiredClaim("exp".into()),
                SignatureError::Claims,
            ),
            (ErrorKind::InvalidToken, SignatureError::Malformed),
            (ErrorKind::InvalidAlgorithm, SignatureError::Malformed),
        ];
        for (kind, want) in cases {
            assert_eq!(token_error(&kind), want, "{kind:?}");
        }
    }
}
