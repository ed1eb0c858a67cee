//! What the gate is asked: put this image into this app's environment.
//!
//! Requests are derived from events: an artifact enters the first environment
//! of every app that deploys its image repository; a verified rollout in one
//! environment asks to promote the same image into the next one.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::event::{DomainEvent, ImageRef, Provider, RolloutVerdict, SourceInfo};
use crate::image::same_repository;
use crate::repoconfig::RepoConfig;

/// Why a request was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Trigger {
    /// A newly published artifact entering an app's first environment.
    Artifact,
    /// An image verified in `from` moving on to the next environment.
    Promotion {
        /// The environment it was verified in.
        from: String,
    },
    /// A person or a revert asking for an older image on purpose.
    Rollback,
}

/// A request to make `image` the desired image of `app` in `environment`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployRequest {
    /// App name from `slipway.yaml`.
    pub app: String,
    /// Target environment.
    pub environment: String,
    /// The image to deploy.
    pub image: ImageRef,
    /// Where the image was built from, as the event said.
    #[serde(default)]
    pub source: SourceInfo,
    /// Who sent the originating event, when it came from a webhook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<Provider>,
    /// When the image was built, when the event said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub built_at: Option<Timestamp>,
    /// Why the request was made.
    pub trigger: Trigger,
    /// The originating event (the sender's delivery id).
    pub event_id: String,
    /// When the originating event arrived; waits are measured from here.
    pub requested_at: Timestamp,
}

impl DeployRequest {
    /// Whether this request asks for an older image on purpose.
    pub fn is_rollback(&self) -> bool {
        self.trigger == Trigger::Rollback
    }
}

/// The delivery a request comes from: who sent it, its id and when it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The sender.
    pub provider: Provider,
    /// The sender's delivery id.
    pub event_id: String,
    /// When it arrived.
    pub received_at: Timestamp,
}

/// The requests one event produces under a deploy repo's description.
///
/// An `ArtifactPublished` whose image repository is an app's image enters that
/// app's first environment; a verified `RolloutReported` asks to promote the
/// reported image into the next environment. Other events produce none.
pub fn requests_for_event(
    config: &RepoConfig,
    event: &DomainEvent,
    origin: &Origin,
) -> Vec<DeployRequest> {
    match event {
        DomainEvent::ArtifactPublished(_) | DomainEvent::ArtifactsPublished { .. } => event
            .artifacts()
            .iter()
            .flat_map(|artifact| {
                config
                    .apps
                    .iter()
                    .filter(|(_, app)| same_repository(&app.image, &artifact.image.repository))
                    .map(move |(name, app)| (artifact, name, app))
            })
            .filter_map(|(artifact, name, app)| {
                let first = app.environments.first()?;
                Some(DeployRequest {
                    app: name.clone(),
                    environment: first.name.clone(),
                    image: artifact.image.clone(),
                    source: artifact.source.clone(),
                    provider: Some(origin.provider),
                    built_at: artifact.built_at.as_deref().and_then(|t| t.parse().ok()),
                    trigger: Trigger::Artifact,
                    event_id: origin.event_id.clone(),
                    requested_at: origin.received_at,
                })
            })
            .collect(),
        DomainEvent::RolloutReported(report) if report.verdict == RolloutVerdict::Verified => {
            let Some(image) = &report.image else {
                return Vec::new();
            };
            let Some(app) = config.apps.get(&report.app) else {
                return Vec::new();
            };
            let Some(next) = app.promotes_to(&report.environment) else {
                return Vec::new();
            };
            vec![DeployRequest {
                app: report.app.clone(),
                environment: next.name.clone(),
                image: image.clone(),
                source: SourceInfo::default(),
                provider: Some(origin.provider),
                built_at: None,
                trigger: Trigger::Promotion {
                    from: report.environment.clone(),
                },
                event_id: origin.event_id.clone(),
                requested_at: origin.received_at,
            }]
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{ArtifactPublished, RolloutReported};

    const CONFIG: &str = "
apps:
  web:
    image: ghcr.io/acme/web
    environments:
      - { name: dev, path: d/web }
      - { name: staging, path: s/web }
      - { name: prod, path: p/web }
  web-canary:
    image: GHCR.io/acme/web
    environments:
      - { name: canary, path: c/web }
  proxy:
    image: nginx
    environments:
      - { name: edge, path: e/proxy }
";

    fn origin() -> Origin {
        Origin {
            provider: Provider::GitHub,
            event_id: "d-7".into(),
            received_at: "2026-06-10T12:00:00Z".parse().unwrap(),
        }
    }

    fn artifact(repository: &str) -> DomainEvent {
        DomainEvent::ArtifactPublished(ArtifactPublished {
            image: ImageRef {
                repository: repository.into(),
                tag: Some("v1".into()),
                digest: None,
            },
            source: SourceInfo::default(),
            pipeline: None,
            built_at: Some("2026-06-10T11:00:00Z".into()),
        })
    }

    fn report(env: &str, verdict: RolloutVerdict) -> DomainEvent {
        DomainEvent::RolloutReported(RolloutReported {
            app: "web".into(),
            environment: env.into(),
            revision: "r".into(),
            image: Some(ImageRef {
                repository: "ghcr.io/acme/web".into(),
                tag: Some("v1".into()),
                digest: None,
            }),
            verdict,
            reason: None,
            evidence: Vec::new(),
            at: "2026-06-10T11:59:00Z".into(),
        })
    }

    #[test]
    fn events_map_to_first_environments_and_promotions() {
        let config = RepoConfig::parse(CONFIG, "slipway.yaml").unwrap();
        let cases = [
            (
                "artifact enters every matching app's first env",
                artifact("ghcr.io/acme/web"),
                vec!["web-canary/canary", "web/dev"],
            ),
            (
                "docker hub names compare canonically",
                artifact("docker.io/library/nginx"),
                vec!["proxy/edge"],
            ),
            ("unknown image", artifact("ghcr.io/acme/api"), vec![]),
            (
                "verified in dev promotes to staging",
                report("dev", RolloutVerdict::Verified),
                vec!["web/staging"],
            ),
            (
                "verified in prod promotes nowhere",
                report("prod", RolloutVerdict::Verified),
                vec![],
            ),
            (
                "a failed rollout promotes nothing",
                report("dev", RolloutVerdict::Failed),
                vec![],
            ),
            ("other events ask for nothing", DomainEvent::Ping, vec![]),
        ];
        for (name, event, want) in cases {
            let mut got: Vec<String> = requests_for_event(&config, &event, &origin())
                .iter()
                .map(|r| format!("{}/{}", r.app, r.environment))
                .collect();
            got.sort();
            assert_eq!(got, want, "{name}");
        }
        let promoted =
            requests_for_event(&config, &report("dev", RolloutVerdict::Verified), &origin());
        assert_eq!(
            promoted[0].trigger,
            Trigger::Promotion { from: "dev".into() }
        );
        let built = requests_for_event(&config, &artifact("ghcr.io/acme/web"), &origin());
        assert_eq!(built[0].built_at, "2026-06-10T11:00:00Z".parse().ok());
        assert_eq!(built[0].event_id, "d-7");
    }
}
