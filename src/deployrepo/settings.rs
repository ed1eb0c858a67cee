//! Configuration of the deploy repository and the forge API.

use serde::{Deserialize, Serialize};

use crate::secret::SecretSource;

/// Where the deploy repository lives and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployRepoSettings {
    /// A local path, `file://`, `https://` or `ssh://` URL.
    pub url: String,
    /// Branch holding the desired state.
    #[serde(default = "default_branch")]
    pub branch: String,
    /// Credentials for fetch and push; none for local paths.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<GitCredentials>,
    /// Author and committer of Slipway's commits.
    #[serde(default)]
    pub author: Author,
}

fn default_branch() -> String {
    "main".to_string()
}

/// Git credentials, from env or files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum GitCredentials {
    /// HTTPS basic auth.
    Basic {
        /// User name (not secret).
        username: String,
        /// Password or token.
        password: SecretSource,
    },
    /// HTTPS token, sent as the password of user `x-access-token`.
    Token(SecretSource),
    /// SSH private key file.
    SshKey {
        /// Path of the private key.
        path: std::path::PathBuf,
        /// User name, `git` by default.
        #[serde(default = "default_ssh_user")]
        username: String,
    },
}

fn default_ssh_user() -> String {
    "git".to_string()
}

/// Commit author and committer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Author {
    /// Display name.
    pub name: String,
    /// E-mail address.
    pub email: String,
}

impl Default for Author {
    fn default() -> Self {
        Author {
            name: "Slipway".to_string(),
            email: "slipway@localhost".to_string(),
        }
    }
}

/// Which forge API opens pull/merge requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForgeKind {
    /// GitHub REST v3.
    GitHub,
    /// GitLab REST v4.
    GitLab,
}

/// The forge that hosts the deploy repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForgeSettings {
    /// GitHub or GitLab.
    pub kind: ForgeKind,
    /// API base URL (`https://api.github.com`, `https://gitlab.example.com/api/v4`).
    pub api_url: String,
    /// `owner/repo` on GitHub, the project path or id on GitLab.
    pub project: String,
    /// API token.
    pub token: SecretSource,
}
