//! The operator commands' client side: `slipway rollback` and
//! `slipway promote` send a signed request to receive's `/hooks/operator`, so
//! they pass the same inbox, policy gate and writer as webhooks, and are
//! recorded the same way; `slipway status` reads the status API and
//! `slipway retry` asks sync's status API to run a failed revision again.

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

/// Call a status API path (`GET`, or `POST` for an action) with the bearer
/// token when one is given; the answer's JSON.
async fn call_api(
    method: reqwest::Method,
    base_url: &str,
    path: &str,
    token: Option<&Secret>,
) -> Result<Value, OperatorError> {
    let url = format!("{}{path}", base_url.trim_end_matches('/'));
    let mut request = client()?.request(method, &url);
    if let Some(token) = token {
        request = request.bearer_auth(token.expose());
    }
    let response = request.send().await.map_err(|source| OperatorError::Send {
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
    call_api(reqwest::Method::GET, base_url, path, token).await
}

/// What an operator may ask of sync for one app/environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncRequest {
    /// Run the failed revision again (and retry a cluster problem now).
    Retry,
    /// Let a paused rollout go on.
    Promote,
    /// Clean up the rollout in flight.
    Abort,
}

impl SyncRequest {
    /// The last segment of its route.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncRequest::Retry => "retry",
            SyncRequest::Promote => "promote",
            SyncRequest::Abort => "abort",
        }
    }
}

/// Ask sync for `request` on `app`/`environment`
/// (`POST /api/v1/apps/{app}/{env}/{retry|promote|abort}`, with the bearer
/// token when given); returns sync's answer (the state, or the phase).
pub async fn request_sync(
    base_url: &str,
    app: &str,
    environment: &str,
    request: SyncRequest,
    token: Option<&Secret>,
) -> Result<Value, OperatorError> {
    let path = format!("/api/v1/apps/{app}/{environment}/{}", request.as_str());
    call_api(reqwest::Method::POST, base_url, &path, token).await
}

fn field<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key].as_str().unwrap_or("-")
}

/// The pull/merge requests the history shows, newest first, one per branch.
fn pull_requests(deliveries: &Value) -> String {
    let mut out = String::new();
    let mut branches = Vec::new();
    for d in deliveries["deliveries"].as_array().into_iter().flatten() {
        for write in d["outcome"]["detail"]["writes"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let written = &write["result"]["Ok"];
            if written["status"] != "pull_request" || branches.contains(&written["branch"]) {
                continue;
            }
            if branches.is_empty() {
                out.push_str("PULL REQUESTS (newest first)\n");
            }
            branches.push(written["branch"].clone());
            out.push_str(&format!(
                "  {:<32} #{} {}\n",
                field(written, "branch"),
                written["number"],
                field(written, "url")
            ));
        }
    }
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

/// An app/environment's error, with how often and since when it repeats.
fn error_text(app: &Value) -> String {
    let error = app["last_error"].as_str().unwrap_or("");
    match (app["error_count"].as_u64(), app["first_error_at"].as_str()) {
        (Some(count), Some(since)) if count > 1 => format!("{error} ({count} times since {since})"),
        _ => error.to_string(),
    }
}

/// The status as a person reads it: apps and environments (when sync
/// answered), then the latest deliveries with their outcome.
pub fn render_status(deliveries: &Value, apps: Option<&Value>) -> String {
    let mut out = String::new();
    if let Some(apps) = apps {
        out.push_str("APP/ENV                  STATE        DESIRED   APPLIED   VERIFIED  ERROR\n");
        for app in apps["apps"].as_array().into_iter().flatten() {
            let short = |key: &str| field(app, key).chars().take(8).collect::<String>();
            out.push_str(&format!(
                "{:<24} {:<12} {:<9} {:<9} {:<9} {}\n",
                format!("{}/{}", field(app, "app"), field(app, "environment")),
                field(app, "state"),
                short("desired_revision"),
                short("applied_revision"),
                short("verified_revision"),
                error_text(app),
            ));
        }
        out.push('\n');
    }
    out.push_str(&pull_requests(deliveries));
    out.push_str(
        "DELIVERY                              PROVIDER   EVENT                STATE    OUTCOME\n",
    );
    for d in deliveries["deliveries"].as_array().into_iter().flatten() {
        let outcome = d["outcome"]
            .get("summary")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| d["last_error"].as_str().map(|e| format!("retrying: {e}")))
            .unwrap_or_default();
        out.push_str(&format!(
            "{:<37} {:<10} {:<20} {:<8} {}\n",
            field(d, "delivery_id"),
            field(d, "provider"),
            d["event"]["kind"].as_str().unwrap_or("-"),
            field(d, "state"),
            outcome
        ));
    }
    out
}

/// Seconds from `now` until the RFC 3339 time in `value`, when it is later.
fn seconds_until(value: &Value, now: jiff::Timestamp) -> Option<i64> {
    let at: jiff::Timestamp = value.as_str()?.parse().ok()?;
    let left = now.duration_until(at).as_secs();
    (left > 0).then_some(left)
}

/// One app/environment in detail, from sync's `GET /api/v1/apps/{app}/{env}`:
/// its revisions and error, then its rollout's strategy, phase, colours, the
/// time left in a drain or pause, and the canary's step, weight and analysis runs.
pub fn render_target(target: &Value, now: jiff::Timestamp) -> String {
    let mut out = format!(
        "{}/{}: {}\n",
        field(target, "app"),
        field(target, "environment"),
        field(target, "state")
    );
    for (label, key) in [
        ("desired", "desired_revision"),
        ("applied", "applied_revision"),
        ("verified", "verified_revision"),
        ("failed", "failed_revision"),
    ] {
        if let Some(revision) = target[key].as_str() {
            out.push_str(&format!("  {label:<9} {revision}\n"));
        }
    }
    if let Some(error) = target["last_error"].as_str() {
        out.push_str(&format!("  error     {error}\n"));
    }
    let rollout = &target["rollout"];
    if rollout.is_null() {
        out.push_str("  strategy  rolling\n");
        return out;
    }
    out.push_str(&format!(
        "  strategy  {}\n  phase     {} since {}\n",
        field(rollout, "strategy"),
        field(rollout, "phase"),
        field(rollout, "phase_since")
    ));
    for (label, key) in [("stable", "stable"), ("new", "candidate")] {
        let colour = &rollout[key];
        if colour.is_null() {
            continue;
        }
        let deployments: Vec<&str> = colour["deployments"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let revision = colour["revision"]
            .as_str()
            .filter(|r| !r.is_empty())
            .unwrap_or("(unlabelled)");
        let commit: String = field(colour, "commit").chars().take(12).collect();
        out.push_str(&format!(
            "  {label:<9} {revision} from {commit}: {}\n",
            deployments.join(", ")
        ));
    }
    if let Some(left) = seconds_until(&rollout["drain_until"], now) {
        out.push_str(&format!("  drain     {left}s left\n"));
    }
    if field(rollout, "strategy") == "canary" {
        out.push_str(&format!(
            "  step      {} at weight {}%\n",
            rollout["step"].as_u64().unwrap_or(0) + 1,
            rollout["weight"].as_u64().unwrap_or(0)
        ));
    }
    if let Some(left) = seconds_until(&rollout["pause_until"], now) {
        out.push_str(&format!("  pause     {left}s left\n"));
    }
    for run in rollout["analysis_runs"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  analysis  {} value {} {}\n",
            field(run, "at"),
            run["value"]
                .as_f64()
                .map_or("-".to_string(), |v| v.to_string()),
            field(run, "verdict")
        ));
    }
    if let Some(end) = rollout["end"].as_str() {
        let cause = rollout["cause"]
            .as_str()
            .map(|c| format!(": {c}"))
            .unwrap_or_default();
        out.push_str(&format!("  last      {end}{cause}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn one_target_shows_its_rollout_phase_colours_and_drain() {
        let now: jiff::Timestamp = "2026-12-01T10:00:00Z".parse().unwrap();
        let target = json!({"app": "web", "environment": "prod", "state": "progressing",
            "applied_revision": "c2", "verified_revision": "c1",
            "rollout": {"strategy": "blue_green", "phase": "draining", "phase_since": "2026-12-01T09:59:50Z",
                "stable": {"revision": "aaaa", "commit": "c1", "deployments": ["shop/web-aaaa"]},
                "candidate": {"revision": "bbbb", "commit": "c2", "deployments": ["shop/web-bbbb"]},
                "drain_until": "2026-12-01T10:00:25Z"}});
        let text = render_target(&target, now);
        for line in [
            "web/prod: progressing",
            "  strategy  blue_green",
            "  phase     draining since 2026-12-01T09:59:50Z",
            "  stable    aaaa from c1: shop/web-aaaa",
            "  new       bbbb from c2: shop/web-bbbb",
            "  drain     25s left",
        ] {
            assert!(text.contains(line), "{line:?} in\n{text}");
        }
        let rolling = render_target(
            &json!({"app": "web", "environment": "dev", "state": "verified"}),
            now,
        );
        assert!(rolling.contains("strategy  rolling"), "{rolling}");
    }

    #[test]
    fn status_shows_apps_and_deliveries_with_outcomes() {
        let deliveries = json!({"deliveries": [
            {"delivery_id": "d-1", "provider": "github", "event": {"kind": "artifact_published"},
             "state": "done", "outcome": {"summary": "hello/dev: committed 1a2b3c4"}},
            {"delivery_id": "d-0", "provider": "sync", "event": {"kind": "rollout_reported"}, "state": "done",
             "outcome": {"summary": "hello/staging: opened pull request #7", "detail": {"writes": [
                {"event_id": "d-0", "result": {"Ok": {"status": "pull_request", "branch": "slipway/hello/staging",
                 "number": 7, "url": "https://forge/pr/7", "commit": "c", "updated": false, "changes": []}}}]}}},
            {"delivery_id": "d-2", "provider": "generic", "event": {"kind": "artifact_published"},
             "state": "pending", "outcome": null, "last_error": "remote unreachable"}
        ]});
        let apps = json!({"apps": [{"app": "hello", "environment": "dev", "state": "verified",
            "desired_revision": "1a2b3c4d5e", "applied_revision": "1a2b3c4d5e", "verified_revision": "1a2b3c4d5e"},
            {"app": "hello", "environment": "prod", "state": "degraded",
             "last_error": "envs/prod/web.yaml: Deployment prod/web: namespaces \"prod\" not found",
             "first_error_at": "2026-01-01T00:00:00Z", "error_count": 3}]});
        let text = render_status(&deliveries, Some(&apps));
        assert!(
            text.contains("hello/dev") && text.contains("verified") && text.contains("1a2b3c4d "),
            "{text}"
        );
        assert!(text.contains("committed 1a2b3c4"), "{text}");
        assert!(
            text.contains("degraded")
                && text.contains("not found (3 times since 2026-01-01T00:00:00Z)"),
            "{text}"
        );
        assert!(text.contains("retrying: remote unreachable"), "{text}");
        assert!(
            text.contains("slipway/hello/staging") && text.contains("#7 https://forge/pr/7"),
            "{text}"
        );
        let without_apps = render_status(&deliveries, None);
        assert!(!without_apps.contains("APP/ENV"));
    }
}
