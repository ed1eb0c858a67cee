//! The operator commands' client side: `slipway rollback` and
//! `slipway promote` send a signed request to receive's `/hooks/operator`, so
//! they pass the same inbox, policy gate and writer as webhooks, and are
//! recorded the same way; `slipway status` reads the status API.

use serde_json::Value;

use crate::event::OperatorRequested;
use crate::secret::Secret;
use crate::webhook::signature::{StandardKey, sign_standard};

/// How long one operator call may take.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Why an operator command failed.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// The operator secret is not a `whsec_` secret.
    #[error("operator secret: {0}")]
    BadSecret(&'static str),
    /// The HTTP client could not be built.
    #[error("build http client")]
    Client(#[source] reqwest::Error),
    /// The server could not be reached.
    #[error("reach {url}")]
    Send {
        /// Where.
        url: String,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// The server refused the request.
    #[error("{url} answered {status}: {body}")]
    Refused {
        /// Where.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The answer's body.
        body: String,
    },
}

fn client() -> Result<reqwest::Client, OperatorError> {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(OperatorError::Client)
}

async fn answer(url: String, response: reqwest::Response) -> Result<Value, OperatorError> {
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    if !(200..300).contains(&status) {
        return Err(OperatorError::Refused { url, status, body });
    }
    Ok(serde_json::from_str(&body).unwrap_or(Value::String(body)))
}

/// Sign and send an operator request; returns receive's answer.
pub async fn send_request(
    base_url: &str,
    secret: &Secret,
    request: &OperatorRequested,
) -> Result<Value, OperatorError> {
    let key = StandardKey::from_secret(secret).map_err(OperatorError::BadSecret)?;
    let body = serde_json::to_vec(request).expect("operator requests serialise");
    let mut id_bytes = [0u8; 12];
    getrandom::fill(&mut id_bytes)
        .map_err(|_| OperatorError::BadSecret("no randomness for an id"))?;
    let id = format!("op_{}", hex::encode(id_bytes));
    let timestamp = jiff::Timestamp::now().as_second();
    let url = format!("{}/hooks/operator", base_url.trim_end_matches('/'));
    let response = client()?
        .post(&url)
        .header("content-type", "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", timestamp.to_string())
        .header(
            "webhook-signature",
            sign_standard(&key, &id, timestamp, &body),
        )
        .body(body)
        .send()
        .await
        .map_err(|source| OperatorError::Send {
            url: url.clone(),
            source,
        })?;
    answer(url, response).await
}

/// GET a status API path, with the bearer token when one is given.
pub async fn get_status(
    base_url: &str,
    path: &str,
    token: Option<&Secret>,
) -> Result<Value, OperatorError> {
    let url = format!("{}{path}", base_url.trim_end_matches('/'));
    let mut request = client()?.get(&url);
    if let Some(token) = token {
        request = request.bearer_auth(token.expose());
    }
    let response = request.send().await.map_err(|source| OperatorError::Send {
        url: url.clone(),
        source,
    })?;
    answer(url, response).await
}
