//! The controller's own configuration file (YAML), shared by every role.
//!
//! Each role reads the sections it needs; a section a role needs and does not
//! find is a startup error naming it. Secrets are named here (env or file) and
//! loaded by the role that uses them, so a role never holds another's secrets.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::secret::SecretSource;

/// Default largest webhook body accepted: 5 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 5 * 1024 * 1024;
/// Default tolerance for Standard Webhooks timestamps: 5 minutes either way.
pub const DEFAULT_TIMESTAMP_TOLERANCE_SECS: u64 = 300;
/// Default address: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default state directory.
pub const DEFAULT_STATE_DIR: &str = "./slipway-data";

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server binds.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Directory for the embedded store and git checkouts.
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    /// Largest webhook body accepted, in bytes.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Who may read the status API.
    #[serde(default)]
    pub api: ApiConfig,
    /// Webhook providers and their secrets.
    #[serde(default)]
    pub webhooks: WebhooksConfig,
    /// The deploy repository (receive writes it, sync reads it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy_repo: Option<crate::deployrepo::settings::DeployRepoSettings>,
    /// Pull/merge request API for gated environments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forge: Option<crate::deployrepo::settings::ForgeSettings>,
    /// Where receive nudges a separately running sync after it pushes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nudge_sync: Option<crate::pipeline::nudge::NudgeSettings>,
    /// The sync role: cluster access, poll interval, reporting back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<crate::sync::settings::SyncSettings>,
}

fn default_listen() -> SocketAddr {
    DEFAULT_LISTEN.parse().expect("constant address parses")
}

fn default_state_dir() -> PathBuf {
    PathBuf::from(DEFAULT_STATE_DIR)
}

fn default_max_body() -> usize {
    DEFAULT_MAX_BODY_BYTES
}

fn default_tolerance() -> u64 {
    DEFAULT_TIMESTAMP_TOLERANCE_SECS
}

/// Access to the read-only status API.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// When set, `/api/v1/*` requires `Authorization: Bearer <token>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<SecretSource>,
    /// The address people reach this API at (`https://slipway.example.com`).
    /// Commit messages link each delivery's status under it; unset, they
    /// give the path (`/api/v1/deliveries/{id}`) alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
}

/// Secrets for HMAC-signed providers (GitHub, Standard Webhooks).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedProvider {
    /// Every secret accepted at once (rotation).
    #[serde(default)]
    pub secrets: Vec<SecretSource>,
    /// Standard Webhooks timestamp tolerance, in seconds.
    #[serde(default = "default_tolerance")]
    pub tolerance_seconds: u64,
}

/// GitLab: the plain secret token and/or the newer signing token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitLabProvider {
    /// Values accepted in `X-Gitlab-Token`.
    #[serde(default)]
    pub tokens: Vec<SecretSource>,
    /// `whsec_` signing tokens, verified when Standard Webhooks headers are present.
    #[serde(default)]
    pub signing_tokens: Vec<SecretSource>,
    /// Standard Webhooks timestamp tolerance, in seconds.
    #[serde(default = "default_tolerance")]
    pub tolerance_seconds: u64,
}

/// Harbor: the value configured as the webhook's auth header.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HarborProvider {
    /// Values accepted in the `Authorization` header.
    #[serde(default)]
    pub auth_headers: Vec<SecretSource>,
}

/// Docker Hub: long random tokens embedded in per-hook URLs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DockerHubProvider {
    /// Tokens accepted as the last path segment of `/hooks/dockerhub/{token}`.
    #[serde(default)]
    pub url_tokens: Vec<SecretSource>,
}

/// Every provider; a provider without secrets is disabled (its route answers 404).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksConfig {
    /// `POST /hooks/github`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github: Option<SignedProvider>,
    /// `POST /hooks/gitlab`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gitlab: Option<GitLabProvider>,
    /// `POST /hooks/generic` (Standard Webhooks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generic: Option<SignedProvider>,
    /// `POST /hooks/harbor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub harbor: Option<HarborProvider>,
    /// `POST /hooks/dockerhub/{token}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dockerhub: Option<DockerHubProvider>,
    /// `POST /hooks/rollouts`: rollout reports from the sync role (Standard Webhooks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<SignedProvider>,
    /// `POST /hooks/operator`: `slipway rollback` / `slipway promote` (Standard Webhooks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<SignedProvider>,
}

/// Why the configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("read config {path}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The YAML does not fit the schema; the message names line and field.
    #[error("parse config {path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// The parser's message with its location.
        message: String,
    },
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: default_listen(),
            state_dir: default_state_dir(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            api: ApiConfig::default(),
            webhooks: WebhooksConfig::default(),
            deploy_repo: None,
            forge: None,
            nudge_sync: None,
            sync: None,
        }
    }
}

impl Config {
    /// Read a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parse config text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        serde_saphyr::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_string(),
            message: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_in_the_issue_parses_with_defaults() {
        let text = "
listen: 127.0.0.1:9090
state_dir: /var/lib/slipway
webhooks:
  github:  { secrets: [ { env: GITHUB_WEBHOOK_SECRET } ] }
  gitlab:  { tokens:  [ { env: GITLAB_WEBHOOK_TOKEN } ] }
  generic: { secrets: [ { env: SLIPWAY_WEBHOOK_SECRET }, { file: /run/secrets/x } ] }
";
        let config = Config::parse(text, "test.yaml").unwrap();
        assert_eq!(config.listen.port(), 9090);
        assert_eq!(config.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
        let generic = config.webhooks.generic.unwrap();
        assert_eq!(generic.secrets.len(), 2);
        assert_eq!(generic.tolerance_seconds, 300);
    }

    #[test]
    fn an_empty_file_gives_the_defaults() {
        let config = Config::parse("{}", "empty").unwrap();
        assert_eq!(config, Config::default());
    }

    #[test]
    fn unknown_keys_are_errors_with_a_location() {
        let err = Config::parse("listen: 127.0.0.1:1\nlisen: x\n", "bad.yaml").unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("bad.yaml") && message.contains("lisen"),
            "{message}"
        );
    }
}
