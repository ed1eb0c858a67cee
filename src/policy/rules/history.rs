//! Rules that compare a request with what happened before: no downgrade, rate limit.

use std::cmp::Ordering;

use super::{Context, Finding, after};
use crate::policy::decision::{StepResult, WaitFor};
use crate::version::{Candidate, ImageOrder, order_images};

/// How far back the rate limit counts.
const RATE_WINDOW: jiff::SignedDuration = jiff::SignedDuration::from_hours(1);

pub(super) fn no_downgrade(ctx: &Context<'_>) -> Finding {
    const RULE: &str = "no_downgrade";
    if ctx.request.is_rollback() {
        return Finding::pass(RULE, "explicit rollback; an older image is allowed".into());
    }
    let Some(desired) = &ctx.facts.desired else {
        return Finding::pass(RULE, "nothing is desired yet".into());
    };
    let image = &ctx.request.image;
    let digests = (image.digest.as_ref(), desired.image.digest.as_ref());
    if let (Some(a), Some(b)) = digests
        && a == b
    {
        return Finding::pass(RULE, format!("{a} is already desired"));
    }
    let built = ctx
        .request
        .built_at
        .or_else(|| ctx.facts.artifact.as_ref().and_then(|a| a.built_at));
    let new = Candidate {
        tag: image.tag.as_deref(),
        built_at: built,
    };
    let old = Candidate {
        tag: desired.image.tag.as_deref(),
        built_at: desired.built_at,
    };
    match order_images(new, old) {
        ImageOrder::Versions {
            ordering: Ordering::Greater,
            new,
            old,
        } => Finding::pass(RULE, format!("{new} is newer than desired {old}")),
        ImageOrder::Versions {
            ordering: Ordering::Less,
            new,
            old,
        } => Finding::deny(RULE, format!("{new} is older than desired {old}")),
        ImageOrder::Versions { new, old, .. } if matches!(digests, (Some(_), Some(_))) => {
            Finding::deny(
                RULE,
                format!("{new} equals desired {old} but names another digest"),
            )
        }
        ImageOrder::Versions { new, old, .. } => {
            Finding::pass(RULE, format!("{new} equals desired {old}"))
        }
        ImageOrder::BuildTimes {
            ordering: Ordering::Less,
            new,
            old,
        } => Finding::deny(
            RULE,
            format!("built {new}, before the desired image (built {old})"),
        ),
        ImageOrder::BuildTimes { new, old, .. } => Finding::pass(
            RULE,
            format!("built {new}, not before the desired image (built {old})"),
        ),
        ImageOrder::Unordered => Finding::pass(
            RULE,
            format!(
                "cannot order {image} against desired {}: tags are not both versions and a build time is unknown",
                desired.image
            ),
        ),
    }
}

/// `rate_limit`: at most `max_per_hour` deploys to one app and environment in any hour.
#[derive(Debug, Clone)]
pub struct RateLimit {
    /// Deploys allowed in a sliding hour.
    pub max_per_hour: u32,
}

impl RateLimit {
    pub(super) fn check(&self, ctx: &Context<'_>) -> Finding {
        const RULE: &str = "rate_limit";
        let since = ctx
            .now
            .checked_sub(RATE_WINDOW)
            .unwrap_or(jiff::Timestamp::MIN);
        let mut recent: Vec<_> = ctx
            .facts
            .recent_deploys
            .iter()
            .filter(|t| **t > since && **t <= ctx.now)
            .copied()
            .collect();
        recent.sort();
        let count = recent.len();
        let max = usize::try_from(self.max_per_hour).unwrap_or(usize::MAX);
        if count < max {
            return Finding::pass(
                RULE,
                format!("{count} deploys in the last hour, limit {max}"),
            );
        }
        // Room opens when the oldest deploy that keeps us at the limit leaves the hour.
        let frees = recent.get(count - max).map(|t| after(*t, RATE_WINDOW));
        Finding {
            rule: RULE,
            compared: format!("{count} deploys in the last hour, limit {max}"),
            result: StepResult::Wait {
                waiting_for: WaitFor::RateLimit,
                until: frees,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{NOW, context, request, ts};
    use super::*;
    use crate::policy::facts::{DesiredFact, Facts};
    use crate::policy::request::Trigger;

    const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn desired(image: &str, built_at: Option<&str>) -> Facts {
        Facts {
            desired: Some(DesiredFact {
                image: request(image).image,
                built_at: built_at.map(ts),
                set_at: ts("2026-06-10T10:00:00Z"),
            }),
            ..Facts::default()
        }
    }

    #[test]
    fn downgrades_are_refused_unless_rolled_back() {
        let cases = [
            (
                "newer version",
                "r:v1.3.0",
                "r:v1.2.0",
                None,
                None,
                false,
                true,
            ),
            (
                "older version",
                "r:v1.1.0",
                "r:v1.2.0",
                None,
                None,
                false,
                false,
            ),
            (
                "older version rolled back",
                "r:v1.1.0",
                "r:v1.2.0",
                None,
                None,
                true,
                true,
            ),
            (
                "equal version",
                "r:v1.2.0",
                "r:1.2.0",
                None,
                None,
                false,
                true,
            ),
            (
                "release after its rc",
                "r:1.2.0",
                "r:1.2.0-rc.2",
                None,
                None,
                false,
                true,
            ),
            (
                "rc after its release",
                "r:1.2.0-rc.2",
                "r:1.2.0",
                None,
                None,
                false,
                false,
            ),
            (
                "build metadata is equal",
                "r:1.2.0+b2",
                "r:1.2.0+b1",
                None,
                None,
                false,
                true,
            ),
            (
                "two-part versions: 1.9 after 1.10",
                "r:1.9",
                "r:1.10",
                None,
                None,
                false,
                false,
            ),
            (
                "two-part versions: 1.10 after 1.9",
                "r:1.10",
                "r:v1.9",
                None,
                None,
                false,
                true,
            ),
            (
                "newer build time",
                "r:main-2",
                "r:main-1",
                Some("2026-06-10T11:00:00Z"),
                Some("2026-06-10T10:00:00Z"),
                false,
                true,
            ),
            (
                "older build time",
                "r:main-1",
                "r:main-2",
                Some("2026-06-10T09:00:00Z"),
                Some("2026-06-10T10:00:00Z"),
                false,
                false,
            ),
            (
                "unknown build time",
                "r:main-1",
                "r:main-2",
                None,
                Some("2026-06-10T10:00:00Z"),
                false,
                true,
            ),
        ];
        for (name, new, old, new_built, old_built, rollback, want) in cases {
            let mut req = request(new);
            req.built_at = new_built.map(ts);
            if rollback {
                req.trigger = Trigger::Rollback;
            }
            let facts = desired(old, old_built);
            let found = no_downgrade(&context(&req, &facts, NOW));
            assert_eq!(
                found.result == StepResult::Pass,
                want,
                "{name}: {}",
                found.compared
            );
        }
    }

    #[test]
    fn equal_versions_compare_digests() {
        let cases = [("same digest", A, A, true), ("other digest", A, B, false)];
        for (name, new, old, want) in cases {
            let req = request(&format!("r:1.2.0@{new}"));
            let facts = desired(&format!("r:1.2.0@{old}"), None);
            let found = no_downgrade(&context(&req, &facts, NOW));
            assert_eq!(found.result == StepResult::Pass, want, "{name}");
        }
        let req = request("r:1.2.0");
        assert_eq!(
            no_downgrade(&context(&req, &Facts::default(), NOW)).result,
            StepResult::Pass,
            "nothing desired"
        );
    }

    #[test]
    fn no_downgrade_and_the_writers_recheck_agree() {
        use crate::deployrepo::request::DeployRequest as WriteRequest;
        use crate::deployrepo::{NoDowngrade, Recheck};
        let cases = [
            ("build metadata is equal", "1.0.0+b.2", "1.0.0+b.1", true),
            ("1.9 after 1.10 is a downgrade", "1.9", "1.10", false),
            ("1.10 after 1.9 is not", "1.10", "1.9", true),
            ("v1.2 equals 1.2.0", "v1.2", "1.2.0", true),
            ("rc after its release", "1.0.0-rc.1", "1.0.0", false),
        ];
        for (name, new, old, allowed) in cases {
            let req = request(&format!("r:{new}"));
            let facts = desired(&format!("r:{old}"), None);
            let policy = no_downgrade(&context(&req, &facts, NOW)).result == StepResult::Pass;
            let write = WriteRequest {
                event_id: req.event_id.clone(),
                app: req.app.clone(),
                environment: req.environment.clone(),
                image: req.image.clone(),
                mode: crate::repoconfig::WriteMode::Commit,
                verdict: "allow".into(),
                trace: String::new(),
                source: req.source.clone(),
                rollback: false,
            };
            let recheck = NoDowngrade.recheck(&write, &[format!("r:{old}")]).is_ok();
            assert_eq!((policy, recheck), (allowed, allowed), "{name}");
        }
    }

    #[test]
    fn rate_limit_counts_a_sliding_hour() {
        let rule = RateLimit { max_per_hour: 2 };
        let cases = [
            ("none", vec![], None),
            ("one", vec!["2026-06-10T11:30:00Z"], None),
            (
                "two waits for the older to leave",
                vec!["2026-06-10T11:30:00Z", "2026-06-10T11:10:00Z"],
                Some("2026-06-10T12:10:00Z"),
            ),
            (
                "exactly an hour ago no longer counts",
                vec!["2026-06-10T11:00:00Z", "2026-06-10T11:30:00Z"],
                None,
            ),
            (
                "three waits for the second oldest",
                vec![
                    "2026-06-10T11:05:00Z",
                    "2026-06-10T11:20:00Z",
                    "2026-06-10T11:50:00Z",
                ],
                Some("2026-06-10T12:20:00Z"),
            ),
        ];
        for (name, deploys, wait_until) in cases {
            let facts = Facts {
                recent_deploys: deploys.into_iter().map(ts).collect(),
                ..Facts::default()
            };
            let req = request("r:1");
            let found = rule.check(&context(&req, &facts, NOW));
            let got = match found.result {
                StepResult::Wait { until, .. } => until,
                _ => None,
            };
            assert_eq!(got, wait_until.map(ts), "{name}");
            assert_eq!(
                found.result == StepResult::Pass,
                wait_until.is_none(),
                "{name}"
            );
        }
    }
}
