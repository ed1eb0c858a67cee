//! The `report:` section: where deploy results are reported.

use serde::{Deserialize, Serialize};

use crate::deployrepo::settings::ForgeKind;
use crate::secret::SecretSource;

/// Default forge environment name: `{app}/{env}`.
pub const DEFAULT_ENVIRONMENT: &str = "{app}/{env}";

/// Where receive reports deploy results. Reporting never blocks a deploy:
/// the calls are queued in the store and retried apart from the pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSettings {
    /// Base URL under which people reach receive's status API
    /// (`https://slipway.example.com`); a deployment status links to
    /// `{public_url}/api/v1/deliveries/{delivery id}`. No links when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// The forge environment of an app's environment; `{app}` and `{env}`
    /// are replaced.
    #[serde(default = "default_environment")]
    pub environment: String,
    /// The forge hosting the source repositories of the deployed images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forge: Option<SourceForgeSettings>,
    /// Receivers of a signed notification per decision and per rollout verdict.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webhooks: Vec<NotificationTarget>,
}

fn default_environment() -> String {
    DEFAULT_ENVIRONMENT.to_string()
}

impl ReportSettings {
    /// The forge environment name for `app` in `environment`.
    pub fn environment_name(&self, app: &str, environment: &str) -> String {
        self.environment
            .replace("{app}", app)
            .replace("{env}", environment)
    }
}

/// The forge of the source repositories, with receive's own token for them
/// (apart from the deploy repo's credential; sync never holds it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceForgeSettings {
    /// GitHub or GitLab.
    pub kind: ForgeKind,
    /// API base URL (`https://api.github.com`, `https://gitlab.example.com/api/v4`).
    pub api_url: String,
    /// A token that may create deployments in the source repositories
    /// (GitHub: `deployments: write`; GitLab: Developer with `api` scope).
    pub token: SecretSource,
}

/// A receiver of Standard Webhooks notifications.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationTarget {
    /// Where to POST.
    pub url: String,
    /// The `whsec_` secret the notification is signed with.
    pub secret: SecretSource,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_names_follow_the_template() {
        let cases = [
            ("default", DEFAULT_ENVIRONMENT, "web/prod"),
            ("env only", "{env}", "prod"),
            ("prefixed", "k8s-{env}-{app}", "k8s-prod-web"),
        ];
        for (row, template, want) in cases {
            let settings = ReportSettings {
                public_url: None,
                environment: template.into(),
                forge: None,
                webhooks: Vec::new(),
            };
            assert_eq!(settings.environment_name("web", "prod"), want, "{row}");
        }
    }
}
