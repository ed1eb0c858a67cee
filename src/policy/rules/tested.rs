//! Build once, test the artifact: deploy only what a passing pipeline built.

use super::{Context, Finding, after, minutes, short};
use crate::event::{PipelineLevel, PipelineStatus};
use crate::policy::decision::{StepResult, WaitFor};

/// `tested_artifact`: the image's source commit has a successful pipeline-level
/// result and no failed pipeline or job; a known digest is the one first built
/// from that commit.
#[derive(Debug, Clone)]
pub struct TestedArtifact {
    /// How long an image may wait for its pipeline result before it is denied.
    pub wait_minutes: u64,
}

impl TestedArtifact {
    pub(super) fn check(&self, ctx: &Context<'_>, out: &mut Vec<Finding>) {
        out.push(self.pipeline(ctx));
        out.push(digest(ctx));
    }

    fn pipeline(&self, ctx: &Context<'_>) -> Finding {
        const RULE: &str = "tested_artifact.pipeline";
        let Some(commit) = &ctx.source.commit else {
            return Finding::deny(
                RULE,
                "the source commit is unknown; no pipeline can vouch for it".into(),
            );
        };
        let commit = short(commit);
        let failed = ctx.facts.pipelines.iter().find(|p| {
            matches!(
                p.status,
                PipelineStatus::Failure | PipelineStatus::Cancelled
            )
        });
        if let Some(f) = failed {
            let level = match f.level {
                PipelineLevel::Pipeline => "pipeline",
                PipelineLevel::Job => "job",
            };
            return Finding::deny(
                RULE,
                format!(
                    "{level} {:?} ended {:?} for commit {commit}",
                    f.name, f.status
                ),
            );
        }
        let passed =
            ctx.facts.pipelines.iter().find(|p| {
                p.level == PipelineLevel::Pipeline && p.status == PipelineStatus::Success
            });
        if let Some(p) = passed {
            return Finding::pass(
                RULE,
                format!(
                    "pipeline {:?} succeeded for commit {commit} at {}",
                    p.name, p.at
                ),
            );
        }
        let deadline = after(ctx.request.requested_at, minutes(self.wait_minutes));
        if ctx.now < deadline {
            Finding {
                rule: RULE,
                compared: format!(
                    "no pipeline result yet for commit {commit}; waiting until {deadline}"
                ),
                result: StepResult::Wait {
                    waiting_for: WaitFor::PipelineResult,
                    until: Some(deadline),
                },
            }
        } else {
            Finding::deny(
                RULE,
                format!(
                    "no successful pipeline for commit {commit} within {} minutes",
                    self.wait_minutes
                ),
            )
        }
    }
}

fn digest(ctx: &Context<'_>) -> Finding {
    const RULE: &str = "tested_artifact.digest";
    let Some(given) = &ctx.request.image.digest else {
        return Finding::pass(RULE, "the request names no digest to compare".into());
    };
    let built = ctx
        .facts
        .commit_digests
        .first()
        .or_else(|| ctx.facts.artifact.as_ref().and_then(|a| a.digest.as_ref()));
    match built {
        None => Finding::pass(
            RULE,
            format!("{given} is the first digest seen for its commit"),
        ),
        Some(built) if built == given => {
            Finding::pass(RULE, format!("{given} is the digest built from its commit"))
        }
        Some(built) => Finding::deny(
            RULE,
            format!("{given} is not {built}, the digest first built from its commit"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{NOW, context, request, ts};
    use super::*;
    use crate::policy::facts::{Facts, PipelineFact};

    fn result(name: &str, level: PipelineLevel, status: PipelineStatus) -> PipelineFact {
        PipelineFact {
            name: name.into(),
            level,
            status,
            at: ts("2026-06-10T11:40:00Z"),
        }
    }

    #[test]
    fn pipeline_results_decide_pass_wait_and_deny() {
        use PipelineLevel::{Job, Pipeline};
        use PipelineStatus::*;
        let late = "2026-06-10T12:30:00Z";
        let cases: Vec<(&str, Vec<PipelineFact>, &str, &str)> = vec![
            (
                "pipeline success",
                vec![result("ci", Pipeline, Success)],
                NOW,
                "pass",
            ),
            ("no result yet waits", vec![], NOW, "wait"),
            ("no result after the wait denies", vec![], late, "deny"),
            (
                "running waits",
                vec![result("ci", Pipeline, Running)],
                NOW,
                "wait",
            ),
            (
                "job success alone is not enough",
                vec![result("test", Job, Success)],
                NOW,
                "wait",
            ),
            (
                "job failure beats pipeline success",
                vec![
                    result("ci", Pipeline, Success),
                    result("test", Job, Failure),
                ],
                NOW,
                "deny",
            ),
            (
                "cancelled pipeline denies",
                vec![result("ci", Pipeline, Cancelled)],
                NOW,
                "deny",
            ),
            (
                "skipped pipeline keeps waiting",
                vec![result("ci", Pipeline, Other)],
                NOW,
                "wait",
            ),
        ];
        let rule = TestedArtifact { wait_minutes: 30 };
        for (name, pipelines, now, want) in cases {
            let facts = Facts {
                pipelines,
                ..Facts::default()
            };
            let req = request("r:1");
            let found = rule.pipeline(&context(&req, &facts, now));
            let got = match found.result {
                StepResult::Pass => "pass",
                StepResult::Deny => "deny",
                StepResult::Wait { until, .. } => {
                    assert_eq!(until, Some(ts("2026-06-10T12:20:00Z")), "{name}");
                    "wait"
                }
            };
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn an_unknown_commit_is_denied() {
        let mut req = request("r:1");
        req.source.commit = None;
        let facts = Facts::default();
        let rule = TestedArtifact { wait_minutes: 30 };
        assert_eq!(
            rule.pipeline(&context(&req, &facts, NOW)).result,
            StepResult::Deny
        );
    }

    #[test]
    fn only_the_digest_built_from_the_commit_passes() {
        let built = "sha256:".to_string() + &"a".repeat(64);
        let other = "sha256:".to_string() + &"b".repeat(64);
        let cases = [
            (
                "same digest",
                Some(built.clone()),
                vec![built.clone()],
                true,
            ),
            (
                "rebuilt digest",
                Some(other.clone()),
                vec![built.clone(), other.clone()],
                false,
            ),
            ("nothing recorded", Some(other.clone()), vec![], true),
            ("no digest requested", None, vec![built.clone()], true),
        ];
        for (name, given, commit_digests, want) in cases {
            let mut req = request("r:1");
            req.image.digest = given;
            let facts = Facts {
                commit_digests,
                ..Facts::default()
            };
            let found = digest(&context(&req, &facts, NOW));
            assert_eq!(found.result == StepResult::Pass, want, "{name}");
        }
    }
}
