//! GitHub REST: pulls list, create and update.

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

/// The REST API version the requests are written against.
pub const API_VERSION: &str = "2022-11-28";

/// A GitHub repository's pull requests.
pub struct GitHub {
    client: reqwest::Client,
    api_url: String,
    owner: String,
    repo: String,
    token: Secret,
}

#[derive(Deserialize)]
struct Pull {
    number: u64,
    html_url: String,
}

impl From<Pull> for PullRequest {
    fn from(p: Pull) -> Self {
        PullRequest {
            number: p.number,
            url: p.html_url,
        }
    }
}

impl GitHub {
    /// `project` is `owner/repo`; `api_url` is `https://api.github.com` or a test server.
    pub fn new(api_url: &str, project: &str, token: Secret) -> Result<Self, ForgeError> {
        let (owner, repo) = project
            .split_once('/')
            .ok_or_else(|| ForgeError::Unexpected {
                what: "configure",
                status: 0,
                message: format!("project {project:?} is not owner/repo"),
            })?;
        Ok(GitHub {
            client: http_client("configure")?,
            api_url: api_url.trim_end_matches('/').to_string(),
            owner: owner.to_string(),
            repo: repo.to_string(),
            token,
        })
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(
                method,
                format!("{}/repos/{}/{}/{path}", self.api_url, self.owner, self.repo),
            )
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", API_VERSION)
            .bearer_auth(self.token.expose())
    }
}

/// GitHub marks a primary limit with 403/429 and `x-ratelimit-remaining: 0`
/// (wait for `x-ratelimit-reset`, epoch seconds) and a secondary one with
/// `retry-after` (seconds); a 429 without either waits a minute.
pub fn rate_limit(status: StatusCode, headers: &HeaderMap) -> Option<jiff::Timestamp> {
    if status != StatusCode::FORBIDDEN && status != StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    if let Some(seconds) = header_u64(headers, "retry-after") {
        return Some(after_seconds(seconds));
    }
    if header_u64(headers, "x-ratelimit-remaining") == Some(0) {
        let reset = header_u64(headers, "x-ratelimit-reset");
        return Some(
            reset
                .map(epoch)
                .unwrap_or_else(|| after_seconds(DEFAULT_RATE_LIMIT_WAIT_SECONDS)),
        );
    }
    (status == StatusCode::TOO_MANY_REQUESTS)
        .then(|| after_seconds(DEFAULT_RATE_LIMIT_WAIT_SECONDS))
}

impl Forge for GitHub {
    fn find_open<'a>(
        &'a self,
        spec: &'a PullRequestSpec,
    ) -> BoxFuture<'a, Result<Option<PullRequest>, ForgeError>> {
        Box::pin(async move {
            let head = format!("{}:{}", self.owner, spec.head_branch);
            let path = with_query(
                "pulls",
                &[
                    ("head", head.as_str()),
                    ("state", "open"),
                    ("base", spec.base_branch.as_str()),
                ],
            );
            let request = self.request(reqwest::Method::GET, &path);
            let pulls: Vec<Pull> = send_json("list pull requests", request, rate_limit).await?;
            Ok(pulls.into_iter().next().map(PullRequest::from))
        })
    }

    fn create<'a>(
        &'a self,
        spec: &'a PullRequestSpec,
    ) -> BoxFuture<'a, Result<PullRequest, ForgeError>> {
        Box::pin(async move {
            let request = self.request(reqwest::Method::POST, "pulls").json(&json!({
                "title": spec.title,
                "head": spec.head_branch,
                "base": spec.base_branch,
                "body": spec.body,
            }));
            Ok(
                send_json::<Pull>("create pull request", request, rate_limit)
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
                .request(reqwest::Method::PATCH, &format!("pulls/{number}"))
                .json(&json!({ "title": spec.title, "body": spec.body }));
            Ok(
                send_json::<Pull>("update pull request", request, rate_limit)
                    .await?
                    .into(),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, v.parse().unwrap());
        }
        map
    }

    #[test]
    fn rate_limits_are_told_from_permission_errors() {
        type Headers = &'static [(&'static str, &'static str)];
        const RESET: Headers = &[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "4102444800"),
        ];
        let cases: [(&str, u16, Headers, Option<i64>); 5] = [
            ("primary limit", 403, RESET, Some(4_102_444_800)),
            ("primary limit as 429", 429, RESET, Some(4_102_444_800)),
            (
                "plain 403 is a permission error",
                403,
                &[("x-ratelimit-remaining", "42")],
                None,
            ),
            ("404 is never a limit", 404, RESET, None),
            ("ok", 200, &[], None),
        ];
        for (name, status, pairs, want) in cases {
            let got = rate_limit(StatusCode::from_u16(status).unwrap(), &headers(pairs));
            assert_eq!(got.map(|t| t.as_second()), want, "{name}");
        }
        let secondary =
            rate_limit(StatusCode::FORBIDDEN, &headers(&[("retry-after", "30")])).unwrap();
        assert!(
            secondary > jiff::Timestamp::now(),
            "retry-after counts from now"
        );
    }
}
