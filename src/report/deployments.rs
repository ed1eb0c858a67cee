//! Deployments and their statuses on the source repository's forge.
//!
//! GitHub: `POST /repos/{owner}/{repo}/deployments` (`ref` = the commit,
//! `auto_merge: false`, `required_contexts: []`), then
//! `POST .../deployments/{id}/statuses` (`in_progress`, `success`, `failure`).
//! GitLab: `POST /projects/:id/deployments` (`ref`, `sha`, `tag`,
//! `environment`, `status`), then `PUT /projects/:id/deployments/:id`.
//! Before creating, each looks for the deployment it may have created on an
//! earlier try whose answer was lost, so a retry never makes a second one.

use futures::future::BoxFuture;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::deployrepo::forge::{ForgeError, http_client, send_json, with_query};
use crate::deployrepo::{github, gitlab};
use crate::secret::Secret;

/// Longest description GitHub accepts on a deployment status (characters).
const MAX_DESCRIPTION: usize = 140;

/// A deployment's state, in both forges' words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentState {
    /// Written to the deploy repository; sync has not reported yet.
    InProgress,
    /// Sync verified the rollout.
    Success,
    /// The rollout failed (and was rolled back).
    Failure,
}

impl DeploymentState {
    fn github(self) -> &'static str {
        match self {
            DeploymentState::InProgress => "in_progress",
            DeploymentState::Success => "success",
            DeploymentState::Failure => "failure",
        }
    }

    fn gitlab(self) -> &'static str {
        match self {
            DeploymentState::InProgress => "running",
            DeploymentState::Success => "success",
            DeploymentState::Failure => "failed",
        }
    }
}

/// One state of one deployment: a source commit in a forge environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentReport {
    /// `owner/repo` (GitHub) or the project path (GitLab).
    pub repository: String,
    /// The source commit deployed.
    pub commit: String,
    /// Its ref (`refs/heads/main`, `refs/tags/v1.2.0`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_ref: Option<String>,
    /// The forge environment (`web/prod`).
    pub environment: String,
    /// The state to report.
    pub state: DeploymentState,
    /// For people: what was deployed, or why it failed.
    pub description: String,
    /// Link to the status API's entry, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_url: Option<String>,
}

impl DeploymentReport {
    /// The outbox lane of this deployment: its states go in order.
    pub fn lane(&self) -> String {
        format!(
            "deployment:{}@{}#{}",
            self.repository, self.commit, self.environment
        )
    }

    fn description(&self) -> String {
        self.description.chars().take(MAX_DESCRIPTION).collect()
    }
}

/// A forge that takes deployment reports.
pub trait Deployments: Send + Sync {
    /// Report `report` on the deployment `known` (its forge id) or, when
    /// `None`, on the one found or created; the deployment's id.
    fn report<'a>(
        &'a self,
        report: &'a DeploymentReport,
        known: Option<u64>,
    ) -> BoxFuture<'a, Result<u64, ForgeError>>;
}

#[derive(Deserialize)]
struct Created {
    id: u64,
}

#[derive(Deserialize)]
struct Listed {
    id: u64,
    #[serde(default)]
    sha: Option<String>,
}

/// A forge's API base URL with receive's token for the source repositories.
struct Api {
    client: reqwest::Client,
    api_url: String,
    token: Secret,
}

impl Api {
    fn new(api_url: &str, token: Secret) -> Result<Self, ForgeError> {
        Ok(Api {
            client: http_client("configure")?,
            api_url: api_url.trim_end_matches('/').to_string(),
            token,
        })
    }
}

/// GitHub's deployments API.
pub struct GitHubDeployments(Api);

impl GitHubDeployments {
    /// A client for `api_url` (`https://api.github.com` or a test server).
    pub fn new(api_url: &str, token: Secret) -> Result<Self, ForgeError> {
        Api::new(api_url, token).map(GitHubDeployments)
    }

    fn request(&self, method: Method, repository: &str, path: &str) -> reqwest::RequestBuilder {
        let api = &self.0;
        api.client
            .request(method, format!("{}/repos/{repository}/{path}", api.api_url))
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", github::API_VERSION)
            .bearer_auth(api.token.expose())
    }

    async fn find_or_create(&self, r: &DeploymentReport) -> Result<u64, ForgeError> {
        let query = with_query(
            "deployments",
            &[
                ("sha", r.commit.as_str()),
                ("environment", r.environment.as_str()),
            ],
        );
        let found: Vec<Listed> = send_json(
            "list deployments",
            self.request(Method::GET, &r.repository, &query),
            github::rate_limit,
        )
        .await?;
        if let Some(existing) = found.first() {
            return Ok(existing.id);
        }
        let body = json!({
            "ref": r.commit,
            "environment": r.environment,
            "auto_merge": false,
            "required_contexts": [],
            "description": r.description(),
        });
        let created: Created = send_json(
            "create deployment",
            self.request(Method::POST, &r.repository, "deployments")
                .json(&body),
            github::rate_limit,
        )
        .await?;
        Ok(created.id)
    }
}

impl Deployments for GitHubDeployments {
    fn report<'a>(
        &'a self,
        r: &'a DeploymentReport,
        known: Option<u64>,
    ) -> BoxFuture<'a, Result<u64, ForgeError>> {
        Box::pin(async move {
            let id = match known {
                Some(id) => id,
                None => self.find_or_create(r).await?,
            };
            let mut body = json!({
                "state": r.state.github(),
                "description": r.description(),
                "environment": r.environment,
            });
            if let Some(url) = &r.log_url {
                body["log_url"] = json!(url);
            }
            let _: Created = send_json(
                "create deployment status",
                self.request(
                    Method::POST,
                    &r.repository,
                    &format!("deployments/{id}/statuses"),
                )
                .json(&body),
                github::rate_limit,
            )
            .await?;
            Ok(id)
        })
    }
}

/// GitLab's deployments API.
pub struct GitLabDeployments(Api);

impl GitLabDeployments {
    /// A client for `api_url` (ending in `/api/v4`).
    pub fn new(api_url: &str, token: Secret) -> Result<Self, ForgeError> {
        Api::new(api_url, token).map(GitLabDeployments)
    }

    fn request(&self, method: Method, project: &str, path: &str) -> reqwest::RequestBuilder {
        let project: String = form_urlencoded::byte_serialize(project.as_bytes()).collect();
        let api = &self.0;
        api.client
            .request(method, format!("{}/projects/{project}/{path}", api.api_url))
            .header("private-token", api.token.expose())
    }

    async fn find(&self, r: &DeploymentReport) -> Result<Option<u64>, ForgeError> {
        let query = with_query(
            "deployments",
            &[
                ("environment", r.environment.as_str()),
                ("order_by", "id"),
                ("sort", "desc"),
            ],
        );
        let found: Vec<Listed> = send_json(
            "list deployments",
            self.request(Method::GET, &r.repository, &query),
            gitlab::rate_limit,
        )
        .await?;
        Ok(found
            .into_iter()
            .find(|d| d.sha.as_deref() == Some(r.commit.as_str()))
            .map(|d| d.id))
    }
}

impl Deployments for GitLabDeployments {
    fn report<'a>(
        &'a self,
        r: &'a DeploymentReport,
        known: Option<u64>,
    ) -> BoxFuture<'a, Result<u64, ForgeError>> {
        Box::pin(async move {
            let existing = match known {
                Some(id) => Some(id),
                None => self.find(r).await?,
            };
            if let Some(id) = existing {
                let body = json!({ "status": r.state.gitlab() });
                let _: Created = send_json(
                    "update deployment",
                    self.request(Method::PUT, &r.repository, &format!("deployments/{id}"))
                        .json(&body),
                    gitlab::rate_limit,
                )
                .await?;
                return Ok(id);
            }
            let git_ref = r.git_ref.as_deref().unwrap_or(&r.commit);
            let (name, tag) = match git_ref.strip_prefix("refs/tags/") {
                Some(tag) => (tag, true),
                None => (
                    git_ref.strip_prefix("refs/heads/").unwrap_or(git_ref),
                    false,
                ),
            };
            let body = json!({
                "ref": name,
                "sha": r.commit,
                "tag": tag,
                "environment": r.environment,
                "status": r.state.gitlab(),
            });
            let created: Created = send_json(
                "create deployment",
                self.request(Method::POST, &r.repository, "deployments")
                    .json(&body),
                gitlab::rate_limit,
            )
            .await?;
            Ok(created.id)
        })
    }
}
