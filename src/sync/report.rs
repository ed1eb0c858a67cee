//! Rollout reports to `receive`: a [`RolloutReported`] event, signed with the
//! Standard Webhooks scheme (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{ts}.{body}">`).

use std::time::Duration;

use crate::event::{RolloutReported, RolloutVerdict};
use crate::secret::Secret;
use crate::webhook::signature::{StandardKey, sign_standard};

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
    key: StandardKey,
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
            key: StandardKey::from_secret(secret).map_err(|_| ReportError::BadSecret)?,
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
            .header(
                "webhook-signature",
                sign_standard(&self.key, id, timestamp, body),
            )
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
    fn a_secret_that_is_not_base64_is_refused() {
        let refused = Reporter::new(
            "http://127.0.0.1:1/hooks/rollouts",
            &Secret::new("whsec_not base64!"),
        );
        assert!(matches!(refused, Err(ReportError::BadSecret)));
    }

    #[test]
    fn the_delivery_id_is_stable_per_revision_and_verdict() {
        let report = RolloutReported {
            app: "web".into(),
            environment: "dev".into(),
            revision: "0123456789abcdef0123".into(),
            image: None,
            verdict: RolloutVerdict::Failed,
            reason: None,
            evidence: Vec::new(),
            at: "2026-01-01T00:00:00Z".into(),
        };
        assert_eq!(delivery_id(&report), "rollout-web-dev-0123456789ab-failed");
    }
}
