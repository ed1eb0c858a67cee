//! The GitLab half of the forge test server: merge requests under
//! `/api/v4/projects/:id/merge_requests`, as GitLab's REST docs describe them.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Server, StoredRequest, admit, message, update_stored};

fn gitlab_json(project: &str, r: &StoredRequest) -> Value {
    json!({
        "id": 1000 + r.number,
        "iid": r.number,
        "project_id": 7,
        "title": r.title,
        "description": r.body,
        "state": if r.open { "opened" } else { "closed" },
        "source_branch": r.head,
        "target_branch": r.base,
        "web_url": format!("https://gitlab.example/{project}/-/merge_requests/{}", r.number),
    })
}

pub(super) async fn gitlab_list(
    State(server): State<Arc<Server>>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = admit(
        &server,
        &headers,
        false,
        format!("GET merge_requests {id} {query:?}"),
    ) {
        return r;
    }
    let state = query.get("state").map(String::as_str).unwrap_or("all");
    let found: Vec<Value> = server
        .state
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter(|r| query.get("source_branch").is_none_or(|b| *b == r.head))
        .filter(|r| query.get("target_branch").is_none_or(|b| *b == r.base))
        .filter(|r| state == "all" || (state == "opened") == r.open)
        .map(|r| gitlab_json(&id, r))
        .collect();
    Json(found).into_response()
}

pub(super) async fn gitlab_create(
    State(server): State<Arc<Server>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Some(r) = admit(
        &server,
        &headers,
        false,
        format!("POST merge_requests {id}"),
    ) {
        return r;
    }
    let field = |k: &str| body.get(k).and_then(Value::as_str).map(String::from);
    let (Some(title), Some(head), Some(base)) = (
        field("title"),
        field("source_branch"),
        field("target_branch"),
    ) else {
        return message(400, "title, source_branch and target_branch are missing");
    };
    let mut requests = server.state.requests.lock().unwrap();
    if let Some(existing) = requests
        .iter()
        .find(|r| r.open && r.head == head && r.base == base)
    {
        let text = format!(
            "Another open merge request already exists for this source branch: !{}",
            existing.number
        );
        return (StatusCode::CONFLICT, Json(json!({ "message": [text] }))).into_response();
    }
    let stored = StoredRequest {
        number: requests.len() as u64 + 1,
        head,
        base,
        title,
        body: field("description").unwrap_or_default(),
        open: true,
        updates: 0,
    };
    let answer = gitlab_json(&id, &stored);
    requests.push(stored);
    (StatusCode::CREATED, Json(answer)).into_response()
}

pub(super) async fn gitlab_update(
    State(server): State<Arc<Server>>,
    Path((id, iid)): Path<(String, u64)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let seen = format!("PUT merge_requests/{iid}");
    let render = |stored: &StoredRequest| gitlab_json(&id, stored);
    update_stored(
        &server,
        &headers,
        false,
        seen,
        iid,
        &body,
        "description",
        render,
    )
}
