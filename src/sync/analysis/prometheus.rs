//! The Prometheus HTTP API's instant queries
//! (<https://prometheus.io/docs/prometheus/latest/querying/api/>):
//! `GET {url}/api/v1/query?query=...`, answered with an envelope
//! `{"status": "success"|"error", "data": ..., "errorType", "error"}` whose
//! `data` is `{"resultType": "vector"|"scalar"|"matrix"|"string", "result":
//! ...}`; sample values are strings (`"0.5"`, `"NaN"`, `"+Inf"`).

use std::time::Duration;

use serde_json::Value;

/// Longest one query may take, connection included; a slower one is a miss.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest response body read; a larger one is a miss (a query returning
/// that much is not the single number an analysis needs).
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// What an instant query returned, as far as an analysis cares.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryValue {
    /// Exactly one sample (or a scalar), possibly `NaN` or infinite.
    Single(f64),
    /// An empty instant vector: no series matched.
    NoData,
    /// Anything else: several series, a range vector, a string, a histogram.
    NotASingleNumber(String),
}

/// Why an instant query gave no result.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The request failed: connection, timeout, body.
    #[error("query prometheus")]
    Request(#[source] reqwest::Error),
    /// Prometheus answered an error (`bad_data`, `execution`, `timeout`...).
    #[error("prometheus answered {status}: {error_type}: {error}")]
    Prometheus {
        /// The HTTP status code.
        status: u16,
        /// The API's `errorType`.
        error_type: String,
        /// The API's `error`.
        error: String,
    },
    /// The answer is not the API's JSON envelope.
    #[error("answer {status} is not a Prometheus API response: {detail}")]
    Decode {
        /// The HTTP status code.
        status: u16,
        /// What did not fit.
        detail: String,
    },
    /// The base URL and the query make no URL (the loader checks the base).
    #[error("query URL: {0}")]
    BadUrl(String),
    /// The answer was larger than [`MAX_RESPONSE_BYTES`].
    #[error("answer larger than {MAX_RESPONSE_BYTES} bytes")]
    TooLarge,
}

/// Read a Prometheus `/api/v1/query` answer: its HTTP status and body.
pub fn parse_query_response(status: u16, body: &[u8]) -> Result<QueryValue, QueryError> {
    let decode = |detail: String| QueryError::Decode { status, detail };
    let envelope: Value =
        serde_json::from_slice(body).map_err(|e| decode(format!("not JSON ({e})")))?;
    match envelope["status"].as_str() {
        Some("success") => {}
        Some("error") => {
            return Err(QueryError::Prometheus {
                status,
                error_type: envelope["errorType"].as_str().unwrap_or("unknown").into(),
                error: envelope["error"].as_str().unwrap_or_default().into(),
            });
        }
        _ => return Err(decode("no status \"success\" or \"error\"".into())),
    }
    let data = &envelope["data"];
    let result = &data["result"];
    match data["resultType"].as_str() {
        Some("vector") => {
            let samples = result
                .as_array()
                .ok_or_else(|| decode("vector result is not a list".into()))?;
            match samples.as_slice() {
                [] => Ok(QueryValue::NoData),
                [sample] if sample.get("value").is_some() => {
                    sample_value(status, &sample["value"]).map(QueryValue::Single)
                }
                [sample] => Ok(QueryValue::NotASingleNumber(format!(
                    "a histogram sample of {}",
                    sample["metric"]
                ))),
                many => Ok(QueryValue::NotASingleNumber(format!(
                    "{} series: {}",
                    many.len(),
                    series_names(many)
                ))),
            }
        }
        Some("scalar") => sample_value(status, result).map(QueryValue::Single),
        Some(other) => Ok(QueryValue::NotASingleNumber(format!("a {other} result"))),
        None => Err(decode("no data.resultType".into())),
    }
}

/// The number of a `[<unix time>, "<value>"]` pair; Prometheus writes
/// `NaN`, `+Inf` and `-Inf` for the special values.
fn sample_value(status: u16, pair: &Value) -> Result<f64, QueryError> {
    let text = pair[1].as_str().ok_or_else(|| QueryError::Decode {
        status,
        detail: format!("sample {pair} is not [time, \"value\"]"),
    })?;
    match text {
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => text.parse().map_err(|_| QueryError::Decode {
            status,
            detail: format!("sample value {text:?} is not a number"),
        }),
    }
}

/// The label sets of the first few series, for a miss's message.
fn series_names(samples: &[Value]) -> String {
    const SHOWN: usize = 3;
    let mut names: Vec<String> = samples
        .iter()
        .take(SHOWN)
        .map(|s| s["metric"].to_string())
        .collect();
    if samples.len() > SHOWN {
        names.push("...".into());
    }
    names.join(", ")
}

/// An HTTP client for Prometheus instant queries, bounded by
/// [`QUERY_TIMEOUT`] and [`MAX_RESPONSE_BYTES`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PrometheusClient {
    http: reqwest::Client,
}

impl Default for PrometheusClient {
    fn default() -> Self {
        Self::new()
    }
}

impl PrometheusClient {
    /// A client with the bounds above.
    pub fn new() -> Self {
        let http = reqwest::Client::builder()
            .user_agent(concat!("slipway/", env!("CARGO_PKG_VERSION")))
            .timeout(QUERY_TIMEOUT)
            .build()
            .unwrap_or_default();
        PrometheusClient { http }
    }

    /// Run `query` as an instant query at the server's current time against
    /// the Prometheus at `base_url` (`http://prometheus:9090`, path prefix kept).
    pub async fn instant_query(
        &self,
        base_url: &str,
        query: &str,
    ) -> Result<QueryValue, QueryError> {
        let url = query_url(base_url, query).map_err(QueryError::BadUrl)?;
        let mut response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(QueryError::Request)?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(QueryError::Request)? {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(QueryError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        parse_query_response(status, &body)
    }
}

/// `{base}/api/v1/query?query=...`, the query form-encoded.
pub(super) fn query_url(base_url: &str, query: &str) -> Result<reqwest::Url, String> {
    let mut url = reqwest::Url::parse(&format!("{}/api/v1/query", base_url.trim_end_matches('/')))
        .map_err(|e| format!("bad Prometheus URL ({e})"))?;
    url.query_pairs_mut().append_pair("query", query);
    Ok(url)
}
