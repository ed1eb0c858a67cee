//! Rules about where the image came from.

use super::{Context, Finding, Patterns};
use crate::event::Provider;

pub(super) fn providers(allowed: &[Provider], ctx: &Context<'_>) -> Finding {
    const RULE: &str = "source.providers";
    let list = format!(
        "[{}]",
        allowed
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    match ctx.request.provider {
        None => Finding::deny(RULE, format!("the sender is unknown (allowed: {list})")),
        Some(p) if allowed.contains(&p) => Finding::pass(RULE, format!("{p} is in {list}")),
        Some(p) => Finding::deny(RULE, format!("{p} is not in {list}")),
    }
}

fn matches(rule: &'static str, what: &str, value: Option<&String>, allowed: &Patterns) -> Finding {
    match value {
        None => Finding::deny(
            rule,
            format!("the {what} is unknown (allowed: {})", allowed.list()),
        ),
        Some(v) => match allowed.matching(v) {
            Some(p) => Finding::pass(rule, format!("{what} {v} matches {p}")),
            None => Finding::deny(rule, format!("{what} {v} is not in {}", allowed.list())),
        },
    }
}

pub(super) fn repositories(allowed: &Patterns, ctx: &Context<'_>) -> Finding {
    matches(
        "source.repositories",
        "source repository",
        ctx.source.repository.as_ref(),
        allowed,
    )
}

pub(super) fn refs(allowed: &Patterns, ctx: &Context<'_>) -> Finding {
    matches(
        "source.refs",
        "source ref",
        ctx.source.git_ref.as_ref(),
        allowed,
    )
}

#[cfg(test)]
mod tests {
    use super::super::testing::{NOW, context, request};
    use super::*;
    use crate::policy::decision::StepResult;
    use crate::policy::facts::{ArtifactFact, Facts};

    #[test]
    fn prod_only_from_tags_and_dev_from_any_branch() {
        let prod = Patterns::new(vec!["refs/tags/*".into()]).unwrap();
        let dev = Patterns::new(vec!["refs/heads/*".into(), "refs/tags/*".into()]).unwrap();
        let cases = [
            ("tag into prod", Some("refs/tags/v1.2.3"), true, true),
            ("branch into prod", Some("refs/heads/main"), false, true),
            (
                "feature branch into dev",
                Some("refs/heads/feat/x"),
                false,
                true,
            ),
            ("pull request ref", Some("refs/pull/4/merge"), false, false),
            ("unknown ref", None, false, false),
        ];
        let facts = Facts::default();
        for (name, git_ref, prod_ok, dev_ok) in cases {
            let mut req = request("r:1");
            req.source.git_ref = git_ref.map(String::from);
            let ctx = context(&req, &facts, NOW);
            assert_eq!(
                refs(&prod, &ctx).result == StepResult::Pass,
                prod_ok,
                "{name} prod"
            );
            assert_eq!(
                refs(&dev, &ctx).result == StepResult::Pass,
                dev_ok,
                "{name} dev"
            );
        }
    }

    #[test]
    fn a_recorded_source_fills_what_the_event_lacks() {
        let allowed = Patterns::new(vec!["acme/*".into()]).unwrap();
        let mut req = request("r:1");
        req.source.repository = None;
        let empty = Facts::default();
        assert_eq!(
            repositories(&allowed, &context(&req, &empty, NOW)).result,
            StepResult::Deny
        );
        let mut recorded = ArtifactFact::default();
        recorded.source.repository = Some("acme/web".into());
        let facts = Facts {
            artifact: Some(recorded),
            ..Facts::default()
        };
        assert_eq!(
            repositories(&allowed, &context(&req, &facts, NOW)).result,
            StepResult::Pass
        );
    }

    #[test]
    fn providers_are_checked_by_name() {
        let facts = Facts::default();
        let cases = [
            ("allowed", Some(Provider::GitHub), true),
            ("other", Some(Provider::DockerHub), false),
            ("unknown", None, false),
        ];
        for (name, provider, want) in cases {
            let mut req = request("r:1");
            req.provider = provider;
            let found = providers(
                &[Provider::GitHub, Provider::GitLab],
                &context(&req, &facts, NOW),
            );
            assert_eq!(found.result == StepResult::Pass, want, "{name}");
        }
    }
}
