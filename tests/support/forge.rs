//! GitHub and GitLab REST test servers on 127.0.0.1, following the public
//! docs for pull requests (`/repos/{owner}/{repo}/pulls`) and merge requests
//! (`/api/v4/projects/:id/merge_requests`), with switchable failures.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use serde_json::{Value, json};

#[path = "forge_deployments.rs"]
mod deployments;
#[path = "forge_gitlab.rs"]
mod gitlab;

pub use deployments::StoredDeployment;

/// A failure the next requests get instead of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// This status with a JSON `message`.
    Status(u16),
    /// GitHub primary limit: 403, `x-ratelimit-remaining: 0`, `x-ratelimit-reset` = this epoch.
    GitHubRateLimit(u64),
    /// GitHub secondary limit: 403 with `retry-after` seconds.
    GitHubSecondaryLimit(u64),
    /// GitLab: 429 with `RateLimit-Reset` = this epoch (and no `Retry-After`).
    GitLabRateLimit(u64),
    /// Either forge: 429 with `retry-after` seconds.
    TooManyRequests(u64),
}

/// One stored pull/merge request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRequest {
    /// Number / iid.
    pub number: u64,
    /// Head / source branch.
    pub head: String,
    /// Base / target branch.
    pub base: String,
    /// Title.
    pub title: String,
    /// Body / description.
    pub body: String,
    /// `open`/`opened` or closed.
    pub open: bool,
    /// How many times it was updated.
    pub updates: u32,
}

/// Shared state of a forge test server.
#[derive(Default)]
pub struct ForgeState {
    /// Stored requests.
    pub requests: Mutex<Vec<StoredRequest>>,
    /// The failure to answer with, if any.
    pub failure: Mutex<Option<Failure>>,
    /// Every request line seen (`METHOD path?query`).
    pub seen: Mutex<Vec<String>>,
    /// Deployments created through either API.
    pub deployments: Mutex<Vec<StoredDeployment>>,
    /// Deployment calls that carry a body: the request line and the body.
    pub calls: Mutex<Vec<(String, Value)>>,
}

struct Server {
    token: String,
    owner: String,
    state: Arc<ForgeState>,
}

/// A running forge test server.
pub struct ForgeServer {
    /// Address.
    pub addr: SocketAddr,
    /// State to inspect and switch.
    pub state: Arc<ForgeState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ForgeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ForgeServer {
    /// GitHub API base URL.
    pub fn github_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// GitLab API base URL (`.../api/v4`).
    pub fn gitlab_url(&self) -> String {
        format!("http://{}/api/v4", self.addr)
    }

    /// Fail every following request this way (`None`: stop failing).
    pub fn fail_with(&self, failure: Option<Failure>) {
        *self.state.failure.lock().unwrap() = failure;
    }

    /// The deployments created.
    pub fn deployments(&self) -> Vec<StoredDeployment> {
        self.state.deployments.lock().unwrap().clone()
    }

    /// The deployment calls with their bodies, in order.
    pub fn deployment_calls(&self) -> Vec<(String, Value)> {
        self.calls_to("/deployments")
    }

    /// The commit status calls with their bodies, in order.
    pub fn commit_status_calls(&self) -> Vec<(String, Value)> {
        self.calls_to("/statuses/")
    }

    fn calls_to(&self, part: &str) -> Vec<(String, Value)> {
        let calls = self.state.calls.lock().unwrap();
        calls
            .iter()
            .filter(|(line, _)| line.contains(part))
            .cloned()
            .collect()
    }

    /// The stored requests.
    pub fn stored(&self) -> Vec<StoredRequest> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Start a server speaking both APIs; GitHub for `owner`, tokens must equal `token`.
    pub async fn start(owner: &str, token: &str) -> ForgeServer {
        let state = Arc::new(ForgeState::default());
        let server = Arc::new(Server {
            token: token.into(),
            owner: owner.into(),
            state: state.clone(),
        });
        let app = Router::new()
            .route(
                "/repos/{owner}/{repo}/pulls",
                get(github_list).post(github_create),
            )
            .route("/repos/{owner}/{repo}/pulls/{number}", patch(github_update))
            .route(
                "/repos/{owner}/{repo}/deployments",
                get(deployments::github_list).post(deployments::github_create),
            )
            .route(
                "/repos/{owner}/{repo}/deployments/{id}/statuses",
                post(deployments::github_status),
            )
            .route(
                "/repos/{owner}/{repo}/statuses/{sha}",
                post(deployments::github_commit_status),
            )
            .route(
                "/api/v4/projects/{id}/statuses/{sha}",
                post(deployments::gitlab_commit_status),
            )
            .route(
                "/api/v4/projects/{id}/deployments",
                get(deployments::gitlab_list).post(deployments::gitlab_create),
            )
            .route(
                "/api/v4/projects/{id}/deployments/{deployment}",
                put(deployments::gitlab_update),
            )
            .route(
                "/api/v4/projects/{id}/merge_requests",
                get(gitlab::gitlab_list).post(gitlab::gitlab_create),
            )
            .route(
                "/api/v4/projects/{id}/merge_requests/{iid}",
                put(gitlab::gitlab_update),
            )
            .with_state(server);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        ForgeServer { addr, state, task }
    }
}

fn message(status: u16, text: &str) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (code, Json(json!({ "message": text }))).into_response()
}

/// The configured failure, or a 401 when the token is wrong.
/// Record the request line, then check its token.
fn admit(server: &Server, headers: &HeaderMap, github: bool, seen: String) -> Option<Response> {
    server.state.seen.lock().unwrap().push(seen);
    gate(server, headers, github)
}

fn gate(server: &Server, headers: &HeaderMap, github: bool) -> Option<Response> {
    let presented = if github {
        headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(String::from)
    } else {
        headers
            .get("private-token")
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    };
    if presented.as_deref() != Some(server.token.as_str()) {
        return Some(message(
            401,
            if github {
                "Bad credentials"
            } else {
                "401 Unauthorized"
            },
        ));
    }
    let failure = server.state.failure.lock().unwrap().clone()?;
    Some(match failure {
        Failure::Status(status) => message(status, "failure requested by the test"),
        Failure::GitHubRateLimit(reset) => {
            let mut r = message(403, "API rate limit exceeded for user ID 1.");
            r.headers_mut()
                .insert("x-ratelimit-remaining", "0".parse().unwrap());
            r.headers_mut()
                .insert("x-ratelimit-reset", reset.to_string().parse().unwrap());
            r
        }
        Failure::GitHubSecondaryLimit(seconds) => {
            let mut r = message(403, "You have exceeded a secondary rate limit.");
            r.headers_mut()
                .insert("retry-after", seconds.to_string().parse().unwrap());
            r
        }
        Failure::TooManyRequests(seconds) => {
            let mut r = message(429, "Too Many Requests");
            r.headers_mut()
                .insert("retry-after", seconds.to_string().parse().unwrap());
            r
        }
        Failure::GitLabRateLimit(reset) => {
            let mut r = message(429, "Retry later");
            r.headers_mut()
                .insert("ratelimit-reset", reset.to_string().parse().unwrap());
            r
        }
    })
}

fn github_json(owner: &str, repo: &str, r: &StoredRequest) -> Value {
    json!({
        "number": r.number,
        "state": if r.open { "open" } else { "closed" },
        "html_url": format!("https://github.example/{owner}/{repo}/pull/{}", r.number),
        "title": r.title,
        "body": r.body,
        "head": { "ref": r.head, "label": format!("{owner}:{}", r.head) },
        "base": { "ref": r.base },
    })
}

async fn github_list(
    State(server): State<Arc<Server>>,
    Path((owner, repo)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = admit(&server, &headers, true, format!("GET pulls {query:?}")) {
        return r;
    }
    let head = query.get("head").cloned().unwrap_or_default();
    let state = query.get("state").map(String::as_str).unwrap_or("open");
    let found: Vec<Value> = server
        .state
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter(|r| head.is_empty() || head == format!("{}:{}", server.owner, r.head))
        .filter(|r| query.get("base").is_none_or(|b| *b == r.base))
        .filter(|r| state == "all" || (state == "open") == r.open)
        .map(|r| github_json(&owner, &repo, r))
        .collect();
    Json(found).into_response()
}

async fn github_create(
    State(server): State<Arc<Server>>,
    Path((owner, repo)): Path<(String, String)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Some(r) = admit(&server, &headers, true, "POST pulls".into()) {
        return r;
    }
    let field = |k: &str| body.get(k).and_then(Value::as_str).map(String::from);
    let (Some(title), Some(head), Some(base)) = (field("title"), field("head"), field("base"))
    else {
        return message(422, "Validation Failed");
    };
    let mut requests = server.state.requests.lock().unwrap();
    if requests
        .iter()
        .any(|r| r.open && r.head == head && r.base == base)
    {
        let text = format!("A pull request already exists for {}:{head}.", server.owner);
        return (StatusCode::UNPROCESSABLE_ENTITY, Json(json!({ "message": "Validation Failed", "errors": [{ "resource": "PullRequest", "code": "custom", "message": text }] }))).into_response();
    }
    let stored = StoredRequest {
        number: requests.len() as u64 + 1,
        head,
        base,
        title,
        body: field("body").unwrap_or_default(),
        open: true,
        updates: 0,
    };
    let answer = github_json(&owner, &repo, &stored);
    requests.push(stored);
    (StatusCode::CREATED, Json(answer)).into_response()
}

async fn github_update(
    State(server): State<Arc<Server>>,
    Path((owner, repo, number)): Path<(String, String, u64)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let seen = format!("PATCH pulls/{number}");
    let render = |stored: &StoredRequest| github_json(&owner, &repo, stored);
    update_stored(&server, &headers, true, seen, number, &body, "body", render)
}

/// Record the call, check its token, and apply a title/body update to
/// request `number` (GitHub's or GitLab's, which name the body differently).
#[allow(clippy::too_many_arguments)]
fn update_stored(
    server: &Server,
    headers: &HeaderMap,
    github: bool,
    seen: String,
    number: u64,
    body: &Value,
    body_key: &str,
    render: impl FnOnce(&StoredRequest) -> Value,
) -> Response {
    if let Some(r) = admit(server, headers, github, seen) {
        return r;
    }
    let mut requests = server.state.requests.lock().unwrap();
    let not_found = if github { "Not Found" } else { "404 Not found" };
    let Some(stored) = requests.iter_mut().find(|r| r.number == number) else {
        return message(404, not_found);
    };
    if let Some(title) = body.get("title").and_then(Value::as_str) {
        stored.title = title.into();
    }
    if let Some(text) = body.get(body_key).and_then(Value::as_str) {
        stored.body = text.into();
    }
    stored.updates += 1;
    Json(render(stored)).into_response()
}
