//! Progressive delivery on plain Deployments and Services: blue-green and
//! canary rollouts, run as phases kept in the store and on labels of the
//! objects, with a cleanup that always runs.

/// Label on a colour's Deployment, its selector and its pods: the short hash
/// of the pod template the colour runs.
pub const LABEL_REVISION: &str = "slipway.dev/revision";
/// Label on a colour's Deployment: [`ROLE_STABLE`] or [`ROLE_CANDIDATE`].
pub const LABEL_ROLE: &str = "slipway.dev/rollout-role";
/// Label on a candidate's Deployment: the phase its rollout reached.
pub const LABEL_PHASE: &str = "slipway.dev/rollout-phase";
/// [`LABEL_ROLE`] of the colour that serves (or served before a switch).
pub const ROLE_STABLE: &str = "stable";
/// [`LABEL_ROLE`] of the new revision being rolled out.
pub const ROLE_CANDIDATE: &str = "candidate";

pub mod colour;
pub mod traffic;

pub mod bluegreen;
pub mod canary;
mod run;

use crate::sync::retry::TargetRequests;

/// What a person asked of the rollouts in flight, through the status API.
#[derive(Debug, Clone, Default)]
pub struct RolloutRequests {
    /// `slipway promote APP --env ENV`: go past a pause.
    pub promote: TargetRequests,
    /// `slipway abort APP --env ENV`: clean up the rollout in flight.
    pub abort: TargetRequests,
}
