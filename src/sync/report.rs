//! Rollout reports to `receive`: a [`RolloutReported`] event, signed with the
//! Standard Webhooks scheme (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{ts}.{body}">`).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit, Mac};
use sha2::Sha256;

use crate::event::{RolloutReported, RolloutVerdict};
use crate::secret::Secret;

/// Prefix of Standard Webhooks secrets; the rest is the base64 key.
pub const SECRET_PREFIX: &str = "whsec_";
/// Tries per report before it is given up (and logged).
pub const REPORT_ATTEMPTS: u32 = 3;
/// Time allowed for one report request.
pub const REPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// Wait before the first retry; doubled each time.
pub const REPORT_BACKOFF: Duration = Duration::from_millis(200);

/// Why a report could not be signed or delivered.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The secret is not `whsec_` followed by base64.
    #[error("report secret is not a Standard Webhooks secret")]
    BadSecret,
    /// The event could not be encoded.
    #[error("encode report")]
    Encode(#[source] serde_json::Error),
    /// The request failed.
    #[error("send report")]
    Send(#[source] reqwest::Error),
    /// `receive` answered with an error status.
    #[error("receive answered {0}")]
    Rejected(u16),
}

/// The HMAC key of a Standard Webhooks secret (`whsec_<base64>`; a secret
/// without the prefix is taken as base64 too).
pub fn signing_key(secret: &Secret) -> Result<Vec<u8>, ReportError> {
    let text = secret.expose();
    let encoded = text.strip_prefix(SECRET_PREFIX).unwrap_or(text);
    STANDARD.decode(encoded).map_err(|_| ReportError::BadSecret)
}

/// The `webhook-signature` value for a message.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> Result<String, ReportError> {
    let mut mac =
        <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(key).map_err(|_| ReportError::BadSecret)?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// The delivery id of a report: the same verdict on the same revision is the
/// same delivery, so `receive` de-duplicates retries.
pub fn delivery_id(report: &RolloutReported) -> String {
    let verdict = match report.verdict {
        RolloutVerdict::Verified => "verified",
        RolloutVerdict::Failed => "failed",
    };
    let short: String = report.revision.chars().take(12).collect();
    format!(
        "rollout-{}-{}-{short}-{verdict}",
        report.app, report.environment
    )
}

/// Sends signed reports to `receive`.
#[derive(Clone)]
pub struct Reporter {
    client: reqwest::Client,
    url: String,
    key: Vec<u8>,
}

impl std::fmt::Debug for Reporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reporter")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Reporter {
    /// A reporter posting to `url`, signing with `secret`.
    pub fn new(url: &str, secret: &Secret) -> Result<Self, ReportError> {
        let client = reqwest::Client::builder()
            .timeout(REPORT_TIMEOUT)
            .build()
            .map_err(ReportError::Send)?;
        Ok(Reporter {
            client,
            url: url.to_string(),
            key: signing_key(secret)?,
        })
    }

    /// Send one report, retrying a few times with backoff.
    pub async fn send(&self, report: &RolloutReported) -> Result<(), ReportError> {
        let body = serde_json::to_vec(report).map_err(ReportError::Encode)?;
        let id = delivery_id(report);
        let mut wait = REPORT_BACKOFF;
        let mut attempt = 1;
        loop {
            match self.send_once(&id, &body).await {
                Ok(()) => return Ok(()),
                Err(e) if attempt >= REPORT_ATTEMPTS => return Err(e),
                Err(ReportError::Rejected(code)) if (400..500).contains(&code) && code != 429 => {
                    return Err(ReportError::Rejected(code));
                }
                Err(_) => {
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                    attempt += 1;
                }
            }
        }
    }

    async fn send_once(&self, id: &str, body: &[u8]) -> Result<(), ReportError> {
        let timestamp = jiff::Timestamp::now().as_second();
        let response = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", sign(&self.key, id, timestamp, body)?)
            .body(body.to_vec())
            .send()
            .await
            .map_err(ReportError::Send)?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(ReportError::Rejected(status.as_u16()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_standard_webhooks_reference() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let key = signing_key(&Secret::new(secret)).unwrap();
        let body = br#"{"test": 2432232314}"#;
        let signature = sign(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).unwrap();
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        let reference = standardwebhooks::Webhook::new(secret).unwrap();
        let now = jiff::Timestamp::now().as_second();
        let ours = sign(&key, "msg_1", now, body).unwrap();
        assert_eq!(ours, reference.sign("msg_1", now, body).unwrap());
        let mut headers = http::HeaderMap::new();
        headers.insert("webhook-id", "msg_1".parse().unwrap());
        headers.insert("webhook-timestamp", now.to_string().parse().unwrap());
        headers.insert("webhook-signature", ours.parse().unwrap());
        reference.verify(body, &headers).unwrap();
    }

    #[test]
    fn a_secret_that_is_not_base64_is_refused() {
        assert!(matches!(
            signing_key(&Secret::new("whsec_not base64!")),
            Err(ReportError::BadSecret)
        ));
    }
}
