//! Rules that compare a request with what happened before: no downgrade, rate limit.

use std::cmp::Ordering;

use super::image::version_of_tag;
use super::{Context, Finding, after};
use crate::policy::decision::{StepResult, WaitFor};

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
    let versions = (
        image.tag.as_deref().and_then(version_of_tag),
        desired.image.tag.as_deref().and_then(version_of_tag),
    );
    if let (Some(new), Some(old)) = versions {
        return match new.cmp_precedence(&old) {
            Ordering::Greater => Finding::pass(RULE, format!("{new} is newer than desired {old}")),
            Ordering::Less => Finding::deny(RULE, format!("{new} is older than desired {old}")),
            Ordering::Equal if matches!(digests, (Some(_), Some(_))) => Finding::deny(
                RULE,
                format!("{new} equals desired {old} but names another digest"),
            ),
            Ordering::Equal => Finding::pass(RULE, format!("{new} equals desired {old}")),
        };
    }
    let built = ctx
        .request
        .built_at
        .or_else(|| ctx.facts.artifact.as_ref().and_then(|a| a.built_at));
    match (built, desired.built_at) {
        (Some(new), Some(old)) if new < old => Finding::deny(
            RULE,
            format!("built {new}, before the desired image (built {old})"),
        ),
        (Some(new), Some(old)) => Finding::pass(
            RULE,
            format!("built {new}, not before the desired image (built {old})"),
        ),
        _ => Finding::pass(
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
