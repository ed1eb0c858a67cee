//! The deploy requests one stored event asks for: artifacts and promotions
//! (the policy module's mapping), and the two this module adds because they
//! need history: reverting a failed rollout and operators' requests.

use jiff::Timestamp;

use crate::event::{
    DomainEvent, ImageRef, OperatorAction, OperatorRequested, RolloutReported, RolloutVerdict,
};
use crate::policy::{DeployRequest, Origin, Trigger, requests_for_event};
use crate::repoconfig::RepoConfig;
use crate::store::facts::{desired_image, verified_images};
use crate::store::{Store, StoreError};

/// Every request `event` produces under `config`.
pub async fn requests_for(
    store: &Store,
    config: &RepoConfig,
    event: &DomainEvent,
    origin: &Origin,
) -> Result<Vec<DeployRequest>, StoreError> {
    match event {
        DomainEvent::RolloutReported(report) if report.verdict == RolloutVerdict::Failed => {
            revert(store, config, report, origin).await
        }
        DomainEvent::OperatorRequested(request) => operator(store, config, request, origin).await,
        other => Ok(requests_for_event(config, other, origin)),
    }
}

fn request(
    app: &str,
    environment: &str,
    image: ImageRef,
    trigger: Trigger,
    origin: &Origin,
) -> DeployRequest {
    DeployRequest {
        app: app.to_string(),
        environment: environment.to_string(),
        image,
        source: Default::default(),
        provider: Some(origin.provider),
        built_at: None,
        trigger,
        event_id: origin.event_id.clone(),
        requested_at: origin.received_at,
    }
}

/// The newest image verified in `app`/`environment` other than `except`.
async fn last_verified_except(
    store: &Store,
    app: &str,
    environment: &str,
    except: Option<ImageRef>,
) -> Result<Option<ImageRef>, StoreError> {
    let (app, environment) = (app.to_string(), environment.to_string());
    let images = store
        .read(move |conn| verified_images(conn, &app, &environment))
        .await?;
    Ok(images
        .into_iter()
        .find(|image| Some(image) != except.as_ref()))
}

/// A failed rollout was rolled back in the cluster; propose the same in git,
/// so the desired state says what runs.
async fn revert(
    store: &Store,
    config: &RepoConfig,
    report: &RolloutReported,
    origin: &Origin,
) -> Result<Vec<DeployRequest>, StoreError> {
    let Some(app) = config.apps.get(&report.app) else {
        return Ok(Vec::new());
    };
    let failed = report
        .image
        .clone()
        .map(|image| with_repository(image, &app.image));
    let Some(previous) =
        last_verified_except(store, &report.app, &report.environment, failed).await?
    else {
        return Ok(Vec::new());
    };
    let image = with_repository(previous, &app.image);
    Ok(vec![request(
        &report.app,
        &report.environment,
        image,
        Trigger::Rollback,
        origin,
    )])
}

async fn operator(
    store: &Store,
    config: &RepoConfig,
    asked: &OperatorRequested,
    origin: &Origin,
) -> Result<Vec<DeployRequest>, StoreError> {
    let Some(app) = config.apps.get(&asked.app) else {
        return Ok(Vec::new());
    };
    if app.environment(&asked.environment).is_none() {
        return Ok(Vec::new());
    }
    match &asked.action {
        OperatorAction::Rollback { to: Some(to) } => {
            let image = if to.starts_with("sha256:") {
                ImageRef {
                    repository: app.image.clone(),
                    tag: None,
                    digest: Some(to.clone()),
                }
            } else {
                ImageRef {
                    repository: app.image.clone(),
                    tag: Some(to.clone()),
                    digest: None,
                }
            };
            Ok(vec![request(
                &asked.app,
                &asked.environment,
                image,
                Trigger::Rollback,
                origin,
            )])
        }
        OperatorAction::Rollback { to: None } => {
            let (name, env) = (asked.app.clone(), asked.environment.clone());
            let current = store
                .read(move |conn| desired_image(conn, &name, &env))
                .await?
                .map(|d| with_repository(d.image, &app.image));
            let previous =
                last_verified_except(store, &asked.app, &asked.environment, current).await?;
            Ok(previous
                .map(|image| {
                    let image = with_repository(image, &app.image);
                    request(
                        &asked.app,
                        &asked.environment,
                        image,
                        Trigger::Rollback,
                        origin,
                    )
                })
                .into_iter()
                .collect())
        }
        OperatorAction::Promote => {
            let Some(from) = app.promoted_from(&asked.environment) else {
                return Ok(Vec::new());
            };
            let verified = last_verified_except(store, &asked.app, &from.name, None).await?;
            let trigger = Trigger::Promotion {
                from: from.name.clone(),
            };
            Ok(verified
                .map(|image| {
                    let image = with_repository(image, &app.image);
                    request(&asked.app, &asked.environment, image, trigger, origin)
                })
                .into_iter()
                .collect())
        }
    }
}

/// The same image under the app's own spelling of its repository (facts
/// store repositories in a canonical form).
fn with_repository(image: ImageRef, repository: &str) -> ImageRef {
    ImageRef {
        repository: repository.to_string(),
        ..image
    }
}

/// When the delivery arrived, for waits measured from arrival.
pub fn received_at(text: &str) -> Timestamp {
    text.parse().unwrap_or_else(|_| Timestamp::now())
}
