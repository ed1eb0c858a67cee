//! GitLab REST v4: merge requests list, create and update.

use futures::future::BoxFuture;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde_json::json;

use crate::secret::Secret;

use super::forge::{
    DEFAULT_RATE_LIMIT_WAIT_SECONDS, Forge, ForgeError, PullRequest, PullRequestSpec,
    after_seconds, epoch, header_u64, http_client, send_json, with_query,
};

/// A GitLab project's merge requests.
pub struct GitLab {
    client: reqwest::Client,
    api_url: String,
    project: String,
    token: Secret,
}

#[derive(Deserialize)]
struct MergeRequest {
    iid: u64,
    web_url: String,
}

impl From<MergeRequest> for PullRequest {
    fn from(m: MergeRequest) -> Self {
        PullRequest {
            number: m.iid,
            url: m.web_url,
        }
    }
}

impl GitLab {
    /// `project` is a numeric id or a path (`group/app`, sent URL-encoded);
    /// `api_url` ends in `/api/v4`.
    pub fn new(api_url: &str, project: &str, token: Secret) -> Result<Self, ForgeError> {
        Ok(GitLab {
            client: http_client("configure")?,
            api_url: api_url.trim_end_matches('/').to_string(),
            project: form_urlencoded::byte_serialize(project.as_bytes()).collect(),
            token,
        })
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(
                method,
                format!("{}/projects/{}/{path}", self.api_url, self.project),
            )
            .header("private-token", self.token.expose())
    }
}

/// GitLab answers 429 with `RateLimit-Reset` (epoch seconds) and `Retry-After` (seconds).
pub fn rate_limit(status: StatusCode, headers: &HeaderMap) -> Option<jiff::Timestamp> {
    if status != StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    if let Some(seconds) = header_u64(headers, "retry-after") {
        return Some(after_seconds(seconds));
    }
    Some(
        header_u64(headers, "ratelimit-reset")
            .map(epoch)
            .unwrap_or_else(|| after_seconds(DEFAULT_RATE_LIMIT_WAIT_SECONDS)),
    )
}

impl Forge for GitLab {
    fn find_open<'a>(
        &'a self,
        spec: &'a PullRequestSpec,
    ) -> BoxFuture<'a, Result<Option<PullRequest>, ForgeError>> {
        Box::pin(async move {
            let path = with_query(
                "merge_requests",
                &[
                    ("source_branch", spec.head_branch.as_str()),
                    ("target_branch", spec.base_branch.as_str()),
                    ("state", "opened"),
                ],
            );
            let request = self.request(reqwest::Method::GET, &path);
            let found: Vec<MergeRequest> =
                send_json("list merge requests", request, rate_limit).await?;
            Ok(found.into_iter().next().map(PullRequest::from))
        })
    }

    fn create<'a>(
        &'a self,
        spec: &'a PullRequestSpec,
    ) -> BoxFuture<'a, Result<PullRequest, ForgeError>> {
        Box::pin(async move {
            let request = self
                .request(reqwest::Method::POST, "merge_requests")
                .json(&json!({
                    "source_branch": spec.head_branch,
                    "target_branch": spec.base_branch,
                    "title": spec.title,
                    "description": spec.body,
                    "remove_source_branch": true,
                }));
            Ok(
                send_json::<MergeRequest>("create merge request", request, rate_limit)
                    .await?
                    .into(),
            )
        })
    }

    fn update<'a>(
        &'a self,
        number: u64,
        spec: &'a PullRequestSpec,
    ) -> BoxFuture<'a, Result<PullRequest, ForgeError>> {
        Box::pin(async move {
            let request = self
                .request(reqwest::Method::PUT, &format!("merge_requests/{number}"))
                .json(&json!({ "title": spec.title, "description": spec.body }));
            Ok(
                send_json::<MergeRequest>("update merge request", request, rate_limit)
                    .await?
                    .into(),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_429_is_a_rate_limit_and_its_reset_is_used() {
        let mut reset = HeaderMap::new();
        reset.insert("ratelimit-reset", "4102444800".parse().unwrap());
        let cases = [
            (
                "429 with reset",
                StatusCode::TOO_MANY_REQUESTS,
                Some(4_102_444_800),
            ),
            ("403", StatusCode::FORBIDDEN, None),
            ("503", StatusCode::SERVICE_UNAVAILABLE, None),
        ];
        for (name, status, want) in cases {
            assert_eq!(
                rate_limit(status, &reset).map(|t| t.as_second()),
                want,
                "{name}"
            );
        }
        let bare = rate_limit(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new()).unwrap();
        assert!(
            bare > jiff::Timestamp::now(),
            "a 429 without headers still waits"
        );
    }
}
