//! Promotion: an image enters an environment only after it was verified, and
//! soaked, in the environment before it.

use super::{Context, Finding, after, minutes};
use crate::event::RolloutVerdict;
use crate::policy::decision::{StepResult, WaitFor};

/// `promotion`: verified in the upstream environment for at least `min_soak_minutes`.
#[derive(Debug, Clone)]
pub struct Promotion {
    /// Time the image must have run verified upstream.
    pub min_soak_minutes: u64,
    /// How long a request may wait for the upstream verification before it is denied.
    pub wait_minutes: u64,
}

impl Promotion {
    pub(super) fn check(&self, ctx: &Context<'_>) -> Finding {
        const RULE: &str = "promotion";
        let Some(upstream) = ctx.upstream else {
            return Finding::pass(RULE, "first environment; images enter it directly".into());
        };
        if ctx.request.is_rollback() {
            return Finding::pass(RULE, "explicit rollback; not a promotion".into());
        }
        let reports = &ctx.facts.upstream_rollouts;
        let Some(last) = reports.iter().max_by_key(|r| r.at) else {
            let deadline = after(ctx.request.requested_at, minutes(self.wait_minutes));
            if ctx.now >= deadline {
                return Finding::deny(
                    RULE,
                    format!(
                        "not verified in {upstream} within {} minutes",
                        self.wait_minutes
                    ),
                );
            }
            return Finding {
                rule: RULE,
                compared: format!("not verified in {upstream} yet"),
                result: StepResult::Wait {
                    waiting_for: WaitFor::Verification,
                    until: Some(deadline),
                },
            };
        };
        if last.verdict == RolloutVerdict::Failed {
            return Finding::deny(
                RULE,
                format!("its rollout failed in {upstream} at {}", last.at),
            );
        }
        // Soak counts from the first verification since the last failure.
        let last_failure = reports
            .iter()
            .filter(|r| r.verdict == RolloutVerdict::Failed)
            .map(|r| r.at)
            .max();
        let soak_start = reports
            .iter()
            .filter(|r| r.verdict == RolloutVerdict::Verified)
            .filter(|r| last_failure.is_none_or(|f| r.at > f))
            .map(|r| r.at)
            .min()
            .unwrap_or(last.at);
        let soaked_until = after(soak_start, minutes(self.min_soak_minutes));
        if ctx.now >= soaked_until {
            Finding::pass(
                RULE,
                format!(
                    "verified in {upstream} at {soak_start}, soak of {} minutes over at {soaked_until}",
                    self.min_soak_minutes
                ),
            )
        } else {
            Finding {
                rule: RULE,
                compared: format!(
                    "verified in {upstream} at {soak_start}; soaking {} minutes until {soaked_until}",
                    self.min_soak_minutes
                ),
                result: StepResult::Wait {
                    waiting_for: WaitFor::Soak,
                    until: Some(soaked_until),
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{NOW, context, request, ts};
    use super::*;
    use crate::policy::facts::{Facts, RolloutFact};

    fn report(verdict: RolloutVerdict, at: &str) -> RolloutFact {
        RolloutFact {
            verdict,
            at: ts(at),
        }
    }

    #[test]
    fn promotion_waits_for_verification_and_soak() {
        use RolloutVerdict::{Failed, Verified};
        let rule = Promotion {
            min_soak_minutes: 60,
            wait_minutes: 120,
        };
        let cases = [
            ("not verified yet", vec![], NOW, "wait verification"),
            ("never verified", vec![], "2026-06-10T13:50:00Z", "deny"),
            (
                "soak over",
                vec![report(Verified, "2026-06-10T10:59:00Z")],
                NOW,
                "pass",
            ),
            (
                "soak exactly over",
                vec![report(Verified, "2026-06-10T11:00:00Z")],
                NOW,
                "pass",
            ),
            (
                "still soaking",
                vec![report(Verified, "2026-06-10T11:30:00Z")],
                NOW,
                "wait soak",
            ),
            (
                "failed upstream",
                vec![
                    report(Verified, "2026-06-10T09:00:00Z"),
                    report(Failed, "2026-06-10T10:00:00Z"),
                ],
                NOW,
                "deny",
            ),
            (
                "soak restarts after a failure",
                vec![
                    report(Verified, "2026-06-10T08:00:00Z"),
                    report(Failed, "2026-06-10T11:00:00Z"),
                    report(Verified, "2026-06-10T11:40:00Z"),
                ],
                NOW,
                "wait soak",
            ),
            (
                "reverification does not restart soak",
                vec![
                    report(Verified, "2026-06-10T09:00:00Z"),
                    report(Verified, "2026-06-10T11:50:00Z"),
                ],
                NOW,
                "pass",
            ),
        ];
        for (name, upstream_rollouts, now, want) in cases {
            let facts = Facts {
                upstream_rollouts,
                ..Facts::default()
            };
            let req = request("r:1");
            let got = match rule.check(&context(&req, &facts, now)).result {
                StepResult::Pass => "pass",
                StepResult::Deny => "deny",
                StepResult::Wait {
                    waiting_for: WaitFor::Soak,
                    ..
                } => "wait soak",
                StepResult::Wait { .. } => "wait verification",
            };
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn the_first_environment_and_rollbacks_pass() {
        let rule = Promotion {
            min_soak_minutes: 60,
            wait_minutes: 60,
        };
        let facts = Facts::default();
        let req = request("r:1");
        let mut ctx = context(&req, &facts, NOW);
        ctx.upstream = None;
        assert_eq!(rule.check(&ctx).result, StepResult::Pass);
        let mut rollback = request("r:1");
        rollback.trigger = crate::policy::request::Trigger::Rollback;
        assert_eq!(
            rule.check(&context(&rollback, &facts, NOW)).result,
            StepResult::Pass
        );
    }
}
