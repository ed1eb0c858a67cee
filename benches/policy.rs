//! Evaluations per second for 100 apps, each governed by 20 rules (two policy
//! files: one of 14 rules, one of 6), with facts that make every rule compare.

use std::time::{Duration, Instant};

use jiff::Timestamp;
use slipway::event::{
    ImageRef, PipelineLevel, PipelineStatus, Provider, RolloutVerdict, SourceInfo,
};
use slipway::policy::{
    DeployRequest, DesiredFact, Facts, PipelineFact, PolicyError, PolicySet, RolloutFact, Trigger,
    evaluate,
};
use slipway::repoconfig::RepoConfig;

const APPS: usize = 100;
const MEASURE_FOR: Duration = Duration::from_secs(3);

const STRICT: &str = r#"
apps: [APP]
environments: [prod]
image:
  registries: [ghcr.io]
  repositories: ["ghcr.io/acme/*"]
  tag_pattern: 'v\d+\.\d+\.\d+'
  semver: ">=1.0.0"
  require_digest: true
  mutable_tags: [latest, stable]
source: { providers: [github], repositories: ["acme/*"], refs: ["refs/tags/v*"] }
tested_artifact: { wait_minutes: 60 }
no_downgrade: true
promotion: { min_soak_minutes: 60 }
windows:
  time_zone: Europe/Berlin
  allow: [{ days: [mon-fri], from: "08:00", to: "18:00" }]
  freeze: [{ from: "fri 16:00", to: "mon 08:00" }, { start: "2026-12-21T00:00", end: "2027-01-04T00:00" }]
rate_limit: { max_per_hour: 5 }
"#;

const EXTRA: &str = r#"
apps: [APP]
image:
  registries: ["*.io"]
  repositories: ["ghcr.io/*"]
  mutable_tags: [main]
source: { providers: [github, gitlab], refs: ["refs/*"] }
windows: { time_zone: America/New_York }
"#;

fn main() {
    let mut config_text = String::from("apps:\n");
    for i in 0..APPS {
        config_text.push_str(&format!(
            "  app{i}:\n    image: ghcr.io/acme/app{i}\n    environments:\n      - {{ name: staging, path: s/{i} }}\n      - {{ name: prod, path: p/{i} }}\n"
        ));
    }
    let config = RepoConfig::parse(&config_text, "slipway.yaml").expect("bench config");
    let mut files: Vec<(String, Result<String, PolicyError>)> = Vec::new();
    for i in 0..APPS {
        let app = format!("app{i}");
        files.push((
            format!("policies/{app}-strict.yaml"),
            Ok(STRICT.replace("APP", &app)),
        ));
        files.push((
            format!("policies/{app}-extra.yaml"),
            Ok(EXTRA.replace("APP", &app)),
        ));
    }
    let loading = Instant::now();
    let set = PolicySet::from_files(config, files);
    let load_time = loading.elapsed();
    assert!(set.broken.is_empty(), "{:?}", set.broken.first());
    let rules: usize = set
        .policies
        .iter()
        .filter(|p| p.governs("app0", "prod"))
        .map(|p| p.rules.len())
        .sum();

    let now: Timestamp = "2026-06-09T08:00:00Z".parse().expect("time");
    let at = |s: &str| -> Timestamp { s.parse().expect("time") };
    let digest = format!("sha256:{}", "ab".repeat(32));
    let requests: Vec<DeployRequest> = (0..APPS)
        .map(|i| DeployRequest {
            app: format!("app{i}"),
            environment: "prod".into(),
            image: ImageRef {
                repository: format!("ghcr.io/acme/app{i}"),
                tag: Some("v1.4.0".into()),
                digest: Some(digest.clone()),
            },
            source: SourceInfo {
                repository: Some(format!("acme/app{i}")),
                commit: Some("9e1d0000d1b2c3d4e5f60718293a4b5c6d7e8f90".into()),
                git_ref: Some("refs/tags/v1.4.0".into()),
                url: None,
            },
            provider: Some(Provider::GitHub),
            built_at: None,
            trigger: Trigger::Promotion {
                from: "staging".into(),
            },
            event_id: format!("e{i}"),
            requested_at: now,
        })
        .collect();
    let facts = Facts {
        pipelines: vec![PipelineFact {
            name: "ci".into(),
            level: PipelineLevel::Pipeline,
            status: PipelineStatus::Success,
            at: at("2026-06-09T06:00:00Z"),
        }],
        artifact: None,
        commit_digests: vec![digest.clone()],
        desired: Some(DesiredFact {
            image: ImageRef {
                repository: "ghcr.io/acme/app0".into(),
                tag: Some("v1.3.0".into()),
                digest: None,
            },
            built_at: None,
            set_at: at("2026-06-01T00:00:00Z"),
        }),
        upstream_rollouts: vec![RolloutFact {
            verdict: RolloutVerdict::Verified,
            at: at("2026-06-09T05:00:00Z"),
        }],
        recent_deploys: vec![at("2026-06-09T07:30:00Z")],
    };
    let first = evaluate(&set, &facts, &requests[0], now);
    assert_eq!(first.verdict.name(), "allow", "{}", first.render_text());

    let start = Instant::now();
    let mut evaluations = 0u64;
    let mut trace_steps = 0usize;
    while start.elapsed() < MEASURE_FOR {
        for request in &requests {
            trace_steps += evaluate(&set, &facts, request, now).trace.len();
            evaluations += 1;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "policy bench: {APPS} apps, {rules} rules per app ({} policy files)",
        set.policies.len()
    );
    println!(
        "  load and validate: {:.1} ms",
        load_time.as_secs_f64() * 1000.0
    );
    println!(
        "  evaluate: {evaluations} evaluations in {elapsed:.2} s = {:.0} evaluations/s ({:.1} us each, {} trace steps each)",
        evaluations as f64 / elapsed,
        elapsed * 1e6 / evaluations as f64,
        trace_steps / usize::try_from(evaluations).unwrap_or(1).max(1)
    );
}
