//! Evaluation: a pure function of policies, facts, request and time.
//!
//! Every policy that selects the request's app and environment is consulted
//! and all must allow: any deny denies, else any wait waits, else allow. A
//! broken policy file that governs the target denies; so does having no
//! policy at all, because an unguarded environment is more likely a mistake
//! than a wish (ship `policies/default.yaml` to allow everything on purpose).

use jiff::Timestamp;

use super::PolicySet;
use super::decision::{Decision, DecisionHead, StepResult, TraceStep};
use super::facts::Facts;
use super::request::DeployRequest;
use super::rules::{Context, Finding};
use crate::image::same_repository;
use crate::repoconfig::WriteMode;

/// Where findings about `slipway.yaml` itself are attributed.
const REPO_CONFIG: &str = "slipway.yaml";

fn step(policy: &str, rule: &str, compared: String, result: StepResult) -> TraceStep {
    TraceStep {
        policy: policy.to_string(),
        rule: rule.to_string(),
        compared,
        result,
    }
}

fn head(request: &DeployRequest, now: Timestamp) -> DecisionHead {
    DecisionHead {
        app: request.app.clone(),
        environment: request.environment.clone(),
        image: request.image.to_string(),
        event_id: request.event_id.clone(),
        evaluated_at: now,
    }
}

/// Decide whether `request` may be deployed, with the trace of every rule consulted.
pub fn evaluate(
    set: &PolicySet,
    facts: &Facts,
    request: &DeployRequest,
    now: Timestamp,
) -> Decision {
    let mut trace = Vec::new();
    let Some(app) = set.config.apps.get(&request.app) else {
        trace.push(step(
            REPO_CONFIG,
            "apps",
            format!("app {:?} is not declared", request.app),
            StepResult::Deny,
        ));
        return Decision::from_steps(head(request, now), WriteMode::PullRequest, trace);
    };
    let Some(env) = app.environment(&request.environment) else {
        trace.push(step(
            REPO_CONFIG,
            "environments",
            format!(
                "{} has no environment {:?}",
                request.app, request.environment
            ),
            StepResult::Deny,
        ));
        return Decision::from_steps(head(request, now), WriteMode::PullRequest, trace);
    };
    let image_matches = same_repository(&app.image, &request.image.repository);
    trace.push(step(
        REPO_CONFIG,
        "image",
        format!(
            "{} {} the image repository of {}",
            request.image.repository,
            if image_matches { "is" } else { "is not" },
            request.app
        ),
        if image_matches {
            StepResult::Pass
        } else {
            StepResult::Deny
        },
    ));
    for broken in &set.broken {
        if broken.governs(&request.app, &request.environment) {
            trace.push(step(
                &broken.name,
                "load",
                format!(
                    "policy file is invalid and governs this target: {}",
                    broken.error
                ),
                StepResult::Deny,
            ));
        }
    }
    let governing: Vec<_> = set
        .policies
        .iter()
        .filter(|p| p.governs(&request.app, &request.environment))
        .collect();
    if !set.governs(&request.app, &request.environment) {
        trace.push(step(
            "policies",
            "selection",
            format!(
                "no policy governs {}/{}; add one (policies/default.yaml allows everything)",
                request.app, request.environment
            ),
            StepResult::Deny,
        ));
    }
    let ctx = Context {
        request,
        facts,
        now,
        source: facts.source_of(&request.source),
        upstream: app
            .promoted_from(&request.environment)
            .map(|e| e.name.as_str()),
    };
    let mut mode = env.mode;
    let mut findings: Vec<Finding> = Vec::new();
    for policy in governing {
        trace.push(step(
            &policy.name,
            "selection",
            format!(
                "apps {} and environments {} include {}/{}",
                policy.apps, policy.environments, request.app, request.environment
            ),
            StepResult::Pass,
        ));
        if policy.mode == Some(WriteMode::PullRequest) && mode != WriteMode::PullRequest {
            mode = WriteMode::PullRequest;
            trace.push(step(
                &policy.name,
                "mode",
                format!("pull-request required instead of {}", env.mode.as_str()),
                StepResult::Pass,
            ));
        }
        for rule in &policy.rules {
            findings.clear();
            rule.check(&ctx, &mut findings);
            trace.extend(
                findings
                    .drain(..)
                    .map(|f| step(&policy.name, f.rule, f.compared, f.result)),
            );
        }
    }
    Decision::from_steps(head(request, now), mode, trace)
}

/// The decision when the policies cannot be loaded at all (a bad
/// `slipway.yaml`): deny, naming the error.
pub fn deny_unloadable(request: &DeployRequest, error: &str, now: Timestamp) -> Decision {
    let trace = vec![step(
        REPO_CONFIG,
        "load",
        format!("policies cannot be loaded: {error}"),
        StepResult::Deny,
    )];
    Decision::from_steps(head(request, now), WriteMode::PullRequest, trace)
}

#[cfg(test)]
#[path = "evaluate_tests.rs"]
mod tests;
