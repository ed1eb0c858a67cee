use proptest::prelude::*;

use super::*;
use crate::event::{ImageRef, PipelineLevel, PipelineStatus, Provider, SourceInfo};
use crate::policy::facts::{DesiredFact, PipelineFact};
use crate::policy::request::Trigger;
use crate::policy::{PolicyError, Verdict, WaitFor};
use crate::repoconfig::RepoConfig;

const CONFIG: &str = "
apps:
  web:
    image: ghcr.io/acme/web
    environments:
      - { name: dev, path: envs/dev/web }
      - { name: prod, path: envs/prod/web }
  api:
    image: ghcr.io/acme/api
    environments:
      - { name: dev, path: envs/dev/api }
";

fn ts(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn set(files: &[(&str, &str)]) -> PolicySet {
    let config = RepoConfig::parse(CONFIG, "slipway.yaml").unwrap();
    PolicySet::from_files(
        config,
        files
            .iter()
            .map(|(f, t)| (f.to_string(), Ok::<_, PolicyError>(t.to_string())))
            .collect(),
    )
}

fn request(app: &str, env: &str, tag: &str) -> DeployRequest {
    DeployRequest {
        app: app.into(),
        environment: env.into(),
        image: ImageRef {
            repository: format!("ghcr.io/acme/{app}"),
            tag: Some(tag.into()),
            digest: None,
        },
        source: SourceInfo {
            repository: Some(format!("acme/{app}")),
            commit: Some("abc123".into()),
            git_ref: Some("refs/heads/main".into()),
            url: None,
        },
        provider: Some(Provider::GitHub),
        built_at: None,
        trigger: Trigger::Artifact,
        event_id: "d-1".into(),
        requested_at: ts("2026-06-10T11:55:00Z"),
    }
}

const NOW: &str = "2026-06-10T12:00:00Z";

fn verdict(set: &PolicySet, facts: &Facts, req: &DeployRequest) -> Verdict {
    evaluate(set, facts, req, ts(NOW)).verdict
}

#[test]
fn policies_combine_deny_over_wait_over_allow() {
    let allow_all = ("policies/default.yaml", "no_downgrade: true\n");
    let tested = (
        "policies/tested.yaml",
        "tested_artifact: { wait_minutes: 30 }\n",
    );
    let tags = ("policies/tags.yaml", "image: { mutable_tags: [latest] }\n");
    let facts = Facts::default();
    let cases = [
        ("one allowing policy", vec![allow_all], "v1", "allow"),
        (
            "a waiting policy makes it wait",
            vec![allow_all, tested],
            "v1",
            "wait",
        ),
        (
            "a denying policy beats the wait",
            vec![allow_all, tested, tags],
            "latest",
            "deny",
        ),
        ("no policy at all denies", vec![], "v1", "deny"),
    ];
    for (name, files, tag, want) in cases {
        let got = verdict(&set(&files), &facts, &request("web", "dev", tag));
        assert_eq!(got.name(), want, "{name}: {got:?}");
    }
}

#[test]
fn waits_report_the_first_reason_and_the_earliest_change() {
    let policies = set(&[
        ("policies/a.yaml", "tested_artifact: { wait_minutes: 30 }\n"),
        (
            "policies/b.yaml",
            "windows: { time_zone: UTC, allow: [{ from: '13:00', to: '14:00' }] }\n",
        ),
    ]);
    let got = verdict(&policies, &Facts::default(), &request("web", "dev", "v1"));
    assert_eq!(
        got,
        Verdict::Wait {
            waiting_for: WaitFor::PipelineResult,
            until: Some(ts("2026-06-10T12:25:00Z")),
            reasons: match &got {
                Verdict::Wait { reasons, .. } => reasons.clone(),
                _ => vec![],
            },
        }
    );
    if let Verdict::Wait { reasons, .. } = got {
        assert_eq!(reasons.len(), 2, "{reasons:?}");
    }
}

#[test]
fn a_pipeline_that_never_comes_turns_the_wait_into_a_deny() {
    let policies = set(&[("policies/a.yaml", "tested_artifact: { wait_minutes: 30 }\n")]);
    let req = request("web", "dev", "v1");
    let passed = Facts {
        pipelines: vec![PipelineFact {
            name: "ci".into(),
            level: PipelineLevel::Pipeline,
            status: PipelineStatus::Success,
            at: ts(NOW),
        }],
        ..Facts::default()
    };
    let cases = [
        (
            "before the deadline",
            Facts::default(),
            "2026-06-10T12:20:00Z",
            "wait",
        ),
        (
            "after the deadline",
            Facts::default(),
            "2026-06-10T12:25:00Z",
            "deny",
        ),
        ("result arrived", passed, "2026-06-10T12:20:00Z", "allow"),
    ];
    for (name, facts, now, want) in cases {
        assert_eq!(
            evaluate(&policies, &facts, &req, ts(now)).verdict.name(),
            want,
            "{name}"
        );
    }
}

#[test]
fn a_broken_file_denies_only_what_it_governs() {
    let policies = set(&[
        ("policies/default.yaml", "no_downgrade: true\n"),
        (
            "policies/prod.yaml",
            "environments: [prod]\nimage: { tag_pattern: '(' }\n",
        ),
    ]);
    assert_eq!(policies.broken.len(), 1);
    let facts = Facts::default();
    let prod = evaluate(&policies, &facts, &request("web", "prod", "v1"), ts(NOW));
    let Verdict::Deny { reasons } = &prod.verdict else {
        panic!("prod must be denied: {prod:?}");
    };
    assert!(reasons[0].contains("policies/prod.yaml:2"), "{reasons:?}");
    assert!(reasons[0].contains("image.tag_pattern"), "{reasons:?}");
    assert_eq!(
        verdict(&policies, &facts, &request("web", "dev", "v1")).name(),
        "allow"
    );
}

#[test]
fn undeclared_targets_and_foreign_images_are_denied() {
    let policies = set(&[("policies/default.yaml", "no_downgrade: true\n")]);
    let facts = Facts::default();
    let mut foreign = request("web", "dev", "v1");
    foreign.image.repository = "ghcr.io/acme/api".into();
    let cases = [
        ("unknown app", request("shop", "dev", "v1")),
        ("unknown environment", request("api", "prod", "v1")),
        ("another app's image", foreign),
    ];
    for (name, req) in cases {
        assert_eq!(verdict(&policies, &facts, &req).name(), "deny", "{name}");
    }
}

#[test]
fn a_policy_can_require_pull_requests_but_never_relax_them() {
    let facts = Facts::default();
    let pr = set(&[("policies/p.yaml", "mode: pull-request\n")]);
    assert_eq!(
        verdict(&pr, &facts, &request("web", "dev", "v1")),
        Verdict::Allow {
            mode: WriteMode::PullRequest
        }
    );
    let commit = set(&[("policies/p.yaml", "mode: commit\n")]);
    assert_eq!(
        verdict(&commit, &facts, &request("web", "dev", "v1")),
        Verdict::Allow {
            mode: WriteMode::Commit
        }
    );
}

#[test]
fn the_trace_names_every_rule_with_values_in_text_and_json() {
    let policies = set(&[(
        "policies/prod.yaml",
        "image: { semver: '>=1.0.0', mutable_tags: [latest] }\nno_downgrade: true\n",
    )]);
    let facts = Facts {
        desired: Some(DesiredFact {
            image: ImageRef {
                repository: "ghcr.io/acme/web".into(),
                tag: Some("v1.4.0".into()),
                digest: None,
            },
            built_at: None,
            set_at: ts("2026-06-01T00:00:00Z"),
        }),
        ..Facts::default()
    };
    let decision = evaluate(
        &policies,
        &facts,
        &request("web", "prod", "v1.3.0"),
        ts(NOW),
    );
    let text = decision.render_text();
    assert!(
        text.starts_with("web/prod ghcr.io/acme/web:v1.3.0: DENY"),
        "{text}"
    );
    for needle in [
        "image.semver",
        "1.3.0 is in >=1.0.0",
        "image.mutable_tags",
        "no_downgrade",
        "1.3.0 is older than desired 1.4.0",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
    let json = serde_json::to_value(&decision).unwrap();
    assert_eq!(json["verdict"], "deny");
    assert_eq!(json["trace"][0]["result"], "pass");
    let back: Decision = serde_json::from_value(json).unwrap();
    assert_eq!(back, decision);
}

#[test]
fn an_unloadable_repo_denies_with_the_error() {
    let decision = deny_unloadable(
        &request("web", "dev", "v1"),
        "slipway.yaml: apps: missing",
        ts(NOW),
    );
    assert_eq!(decision.verdict.name(), "deny");
    assert!(decision.render_text().contains("apps: missing"));
}

const EVERY_RULE: &str = r#"
image:
  registries: [ghcr.io]
  repositories: ["ghcr.io/*"]
  tag_pattern: '.*'
  semver: ">=0.0.0"
  allow_prerelease: true
  require_digest: true
  mutable_tags: [latest]
source: { providers: [github], repositories: ["*"], refs: ["refs/*"] }
tested_artifact: { wait_minutes: 527040 }
no_downgrade: true
promotion: { min_soak_minutes: 527040, wait_minutes: 0 }
windows:
  time_zone: America/New_York
  allow: [{ days: [sun-sat], from: "23:00", to: "01:00" }]
  freeze: [{ from: "sun 00:00", to: "sat 23:59" }, { start: "2026-03-08T02:30", end: "2026-11-01T01:30" }]
rate_limit: { max_per_hour: 1 }
"#;

fn arb_time() -> impl Strategy<Value = Timestamp> {
    prop_oneof![
        (-377_705_116_800i64..253_402_207_200).prop_map(|s| Timestamp::from_second(s).unwrap()),
        Just(Timestamp::MIN),
        Just(Timestamp::MAX),
    ]
}

fn arb_text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(prop_oneof![
        any::<String>(),
        "v?[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}(-rc\\.[0-9])?",
        "sha256:[0-9a-f]{64}",
        "refs/(heads|tags)/[a-z0-9./]{0,12}",
    ])
}

prop_compose! {
    fn arb_request()(app in prop_oneof![Just("web".to_string()), any::<String>()],
                     env in prop_oneof![Just("dev".to_string()), Just("prod".to_string()), any::<String>()],
                     repo in prop_oneof![Just("ghcr.io/acme/web".to_string()), any::<String>()],
                     tag in arb_text(), digest in arb_text(), commit in arb_text(), git_ref in arb_text(),
                     built_at in proptest::option::of(arb_time()), requested_at in arb_time(),
                     rollback in any::<bool>()) -> DeployRequest {
        DeployRequest {
            app, environment: env,
            image: ImageRef { repository: repo, tag, digest },
            source: SourceInfo { repository: Some("acme/web".into()), commit, git_ref, url: None },
            provider: Some(Provider::GitHub), built_at,
            trigger: if rollback { Trigger::Rollback } else { Trigger::Artifact },
            event_id: "e".into(), requested_at,
        }
    }
}

prop_compose! {
    fn arb_facts()(times in proptest::collection::vec(arb_time(), 0..6),
                   statuses in proptest::collection::vec(0u8..5, 0..4),
                   desired_tag in arb_text(), digests in proptest::collection::vec(arb_text(), 0..3)) -> Facts {
        let status = |s: u8| match s { 0 => PipelineStatus::Success, 1 => PipelineStatus::Failure,
            2 => PipelineStatus::Cancelled, 3 => PipelineStatus::Running, _ => PipelineStatus::Other };
        let at = times.first().copied().unwrap_or(Timestamp::UNIX_EPOCH);
        Facts {
            pipelines: statuses.iter().map(|s| PipelineFact { name: String::new(), level: PipelineLevel::Pipeline, status: status(*s), at }).collect(),
            artifact: None,
            commit_digests: digests.into_iter().flatten().collect(),
            desired: Some(DesiredFact { image: ImageRef { repository: "ghcr.io/acme/web".into(), tag: desired_tag, digest: None }, built_at: times.get(1).copied(), set_at: at }),
            upstream_rollouts: times.iter().map(|t| crate::policy::facts::RolloutFact { verdict: crate::event::RolloutVerdict::Verified, at: *t }).collect(),
            recent_deploys: times,
        }
    }
}

proptest! {
    #[test]
    fn evaluation_never_panics(req in arb_request(), facts in arb_facts(), now in arb_time()) {
        let policies = set(&[("policies/all.yaml", EVERY_RULE)]);
        prop_assert!(policies.broken.is_empty(), "{:?}", policies.broken);
        let decision = evaluate(&policies, &facts, &req, now);
        prop_assert!(!decision.trace.is_empty());
        let _ = decision.render_text();
    }

    #[test]
    fn loading_arbitrary_text_never_panics(text in any::<String>(), yamlish in "[a-z_]{1,12}: [\\[\\]{}a-z0-9:'\"*-]{0,20}\n") {
        let policies = set(&[("policies/a.yaml", &text), ("policies/b.yaml", &yamlish)]);
        prop_assert_eq!(policies.policies.len() + policies.broken.len(), 2);
    }
}
