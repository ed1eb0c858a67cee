//! Deployments on both forges, as their REST docs describe them: GitHub
//! `/repos/{owner}/{repo}/deployments` with `/statuses`, GitLab
//! `/api/v4/projects/:id/deployments`. Every call is kept with its body so
//! tests can assert the exact requests.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Server, admit};

/// One deployment the server holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDeployment {
    pub id: u64,
    /// `github` or `gitlab`: which API created it.
    pub forge: &'static str,
    /// `owner/repo` or the decoded GitLab project path.
    pub repository: String,
    pub sha: String,
    pub environment: String,
    /// The states posted, in order (GitLab: the status it was created with, then updates).
    pub states: Vec<String>,
}

/// Check the call like any other, and keep it with its body when admitted.
fn admit_call(
    server: &Server,
    headers: &HeaderMap,
    github: bool,
    line: String,
    body: &Value,
) -> Option<Response> {
    let refused = admit(server, headers, github, line.clone());
    if refused.is_none() {
        server
            .state
            .calls
            .lock()
            .unwrap()
            .push((line, body.clone()));
    }
    refused
}

fn create(
    server: &Server,
    forge: &'static str,
    repository: String,
    sha: &str,
    environment: &str,
    first: Option<&str>,
) -> u64 {
    let mut all = server.state.deployments.lock().unwrap();
    let id = 100 + all.len() as u64;
    all.push(StoredDeployment {
        id,
        forge,
        repository,
        sha: sha.into(),
        environment: environment.into(),
        states: first.map(String::from).into_iter().collect(),
    });
    id
}

fn add_state(server: &Server, id: u64, state: &str) -> bool {
    let mut all = server.state.deployments.lock().unwrap();
    match all.iter_mut().find(|d| d.id == id) {
        Some(d) => {
            d.states.push(state.into());
            true
        }
        None => false,
    }
}

fn listed(
    server: &Server,
    forge: &str,
    repository: &str,
    keep: impl Fn(&StoredDeployment) -> bool,
) -> Vec<Value> {
    let all = server.state.deployments.lock().unwrap();
    all.iter()
        .filter(|d| d.forge == forge && d.repository == repository && keep(d))
        .rev()
        .map(|d| json!({"id": d.id, "sha": d.sha, "environment": d.environment}))
        .collect()
}

pub(super) async fn github_list(
    State(server): State<Arc<Server>>,
    Path((owner, repo)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = admit(
        &server,
        &headers,
        true,
        format!("GET deployments {query:?}"),
    ) {
        return r;
    }
    let (sha, env) = (query.get("sha").cloned(), query.get("environment").cloned());
    Json(listed(&server, "github", &format!("{owner}/{repo}"), |d| {
        sha.as_ref().is_none_or(|s| *s == d.sha) && env.as_ref().is_none_or(|e| *e == d.environment)
    }))
    .into_response()
}

pub(super) async fn github_create(
    State(server): State<Arc<Server>>,
    Path((owner, repo)): Path<(String, String)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let line = format!("POST /repos/{owner}/{repo}/deployments");
    if let Some(r) = admit_call(&server, &headers, true, line, &body) {
        return r;
    }
    let (sha, env) = (
        body["ref"].as_str().unwrap_or(""),
        body["environment"].as_str().unwrap_or(""),
    );
    let id = create(&server, "github", format!("{owner}/{repo}"), sha, env, None);
    (
        StatusCode::CREATED,
        Json(json!({"id": id, "sha": sha, "ref": sha, "environment": env})),
    )
        .into_response()
}

pub(super) async fn github_status(
    State(server): State<Arc<Server>>,
    Path((owner, repo, id)): Path<(String, String, u64)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let line = format!("POST /repos/{owner}/{repo}/deployments/{id}/statuses");
    if let Some(r) = admit_call(&server, &headers, true, line, &body) {
        return r;
    }
    let state = body["state"].as_str().unwrap_or("");
    if !add_state(&server, id, state) {
        return (StatusCode::NOT_FOUND, Json(json!({"message": "Not Found"}))).into_response();
    }
    (StatusCode::CREATED, Json(json!({"id": 1, "state": state}))).into_response()
}

pub(super) async fn gitlab_list(
    State(server): State<Arc<Server>>,
    Path(project): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = admit(
        &server,
        &headers,
        false,
        format!("GET deployments {query:?}"),
    ) {
        return r;
    }
    let env = query.get("environment").cloned();
    Json(listed(&server, "gitlab", &project, |d| {
        env.as_ref().is_none_or(|e| *e == d.environment)
    }))
    .into_response()
}

pub(super) async fn gitlab_create(
    State(server): State<Arc<Server>>,
    Path(project): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let line = format!("POST /projects/{project}/deployments");
    if let Some(r) = admit_call(&server, &headers, false, line, &body) {
        return r;
    }
    let (sha, env, status) = (
        body["sha"].as_str().unwrap_or(""),
        body["environment"].as_str().unwrap_or(""),
        body["status"].as_str().unwrap_or(""),
    );
    if body["ref"].as_str().is_none() || body["tag"].as_bool().is_none() {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"message": "ref and tag are required"})),
        )
            .into_response();
    }
    let id = create(&server, "gitlab", project, sha, env, Some(status));
    (
        StatusCode::CREATED,
        Json(json!({"id": id, "sha": sha, "status": status})),
    )
        .into_response()
}

pub(super) async fn gitlab_update(
    State(server): State<Arc<Server>>,
    Path((project, id)): Path<(String, u64)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let line = format!("PUT /projects/{project}/deployments/{id}");
    if let Some(r) = admit_call(&server, &headers, false, line, &body) {
        return r;
    }
    let status = body["status"].as_str().unwrap_or("");
    if !add_state(&server, id, status) {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"message": "404 Not found"})),
        )
            .into_response();
    }
    Json(json!({"id": id, "status": status})).into_response()
}

/// `POST /repos/{owner}/{repo}/statuses/{sha}` (GitHub commit status).
pub(super) async fn github_commit_status(
    State(server): State<Arc<Server>>,
    Path((owner, repo, sha)): Path<(String, String, String)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let line = format!("POST /repos/{owner}/{repo}/statuses/{sha}");
    if let Some(r) = admit_call(&server, &headers, true, line, &body) {
        return r;
    }
    (
        StatusCode::CREATED,
        Json(json!({"id": 1, "state": body["state"], "context": body["context"]})),
    )
        .into_response()
}

/// `POST /api/v4/projects/:id/statuses/:sha` (GitLab commit status).
pub(super) async fn gitlab_commit_status(
    State(server): State<Arc<Server>>,
    Path((project, sha)): Path<(String, String)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let line = format!("POST /projects/{project}/statuses/{sha}");
    if let Some(r) = admit_call(&server, &headers, false, line, &body) {
        return r;
    }
    (
        StatusCode::CREATED,
        Json(json!({"id": 1, "status": body["state"], "name": body["name"]})),
    )
        .into_response()
}
