//! The `slipway/policy` commit status on a promotion pull request's head in
//! the deploy repository: what the gate decided and why, where the reviewer
//! looks. GitHub: `POST /repos/{owner}/{repo}/statuses/{sha}` with
//! `context`; GitLab: `POST /projects/:id/statuses/:sha` with `name`. Both
//! replace an earlier status of the same context, so a retry is harmless.
//! It uses the deploy repository's forge settings (`forge:`).

use futures::future::BoxFuture;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::deployrepo::forge::{ForgeError, http_client, send_json};
use crate::deployrepo::settings::{ForgeKind, ForgeSettings};
use crate::deployrepo::{github, gitlab};
use crate::secret::Secret;

/// The status context (GitHub) or name (GitLab).
pub const POLICY_CONTEXT: &str = "slipway/policy";
/// Longest description GitHub accepts on a commit status (characters).
const MAX_DESCRIPTION: usize = 140;

/// One policy status for a commit of the deploy repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyStatus {
    /// The pull request's head commit.
    pub commit: String,
    /// Whether the gate allowed the change.
    pub allowed: bool,
    /// What it decided and why, for people.
    pub description: String,
    /// Link to the status API's entry, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_url: Option<String>,
}

/// A forge that takes commit statuses on the deploy repository.
pub trait CommitStatuses: Send + Sync {
    /// Set the `slipway/policy` status of `status.commit`.
    fn set<'a>(&'a self, status: &'a PolicyStatus) -> BoxFuture<'a, Result<(), ForgeError>>;
}

#[derive(Deserialize)]
struct Answer {}

/// The deploy repository's commit statuses, on the forge `settings` name.
pub struct DeployRepoStatuses {
    client: reqwest::Client,
    kind: ForgeKind,
    url: String,
    token: Secret,
}

impl DeployRepoStatuses {
    /// A client for the deploy repository's forge.
    pub fn new(settings: &ForgeSettings, token: Secret) -> Result<Self, ForgeError> {
        let api = settings.api_url.trim_end_matches('/');
        let url = match settings.kind {
            ForgeKind::GitHub => format!("{api}/repos/{}/statuses", settings.project),
            ForgeKind::GitLab => {
                let project: String =
                    form_urlencoded::byte_serialize(settings.project.as_bytes()).collect();
                format!("{api}/projects/{project}/statuses")
            }
        };
        Ok(DeployRepoStatuses {
            client: http_client("configure")?,
            kind: settings.kind,
            url,
            token,
        })
    }
}

impl CommitStatuses for DeployRepoStatuses {
    fn set<'a>(&'a self, status: &'a PolicyStatus) -> BoxFuture<'a, Result<(), ForgeError>> {
        Box::pin(async move {
            let description: String = status.description.chars().take(MAX_DESCRIPTION).collect();
            let request = self
                .client
                .request(Method::POST, format!("{}/{}", self.url, status.commit));
            let (request, rate_limit): (_, fn(_, &_) -> _) = match self.kind {
                ForgeKind::GitHub => {
                    let mut body = json!({
                        "state": if status.allowed { "success" } else { "failure" },
                        "context": POLICY_CONTEXT,
                        "description": description,
                    });
                    if let Some(url) = &status.target_url {
                        body["target_url"] = json!(url);
                    }
                    let request = request
                        .header("accept", "application/vnd.github+json")
                        .header("x-github-api-version", github::API_VERSION)
                        .bearer_auth(self.token.expose())
                        .json(&body);
                    (request, github::rate_limit)
                }
                ForgeKind::GitLab => {
                    let mut body = json!({
                        "state": if status.allowed { "success" } else { "failed" },
                        "name": POLICY_CONTEXT,
                        "description": description,
                    });
                    if let Some(url) = &status.target_url {
                        body["target_url"] = json!(url);
                    }
                    let request = request
                        .header("private-token", self.token.expose())
                        .json(&body);
                    (request, gitlab::rate_limit)
                }
            };
            let _: Answer = send_json("set commit status", request, rate_limit).await?;
            Ok(())
        })
    }
}
