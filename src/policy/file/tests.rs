use super::*;
use crate::policy::rules::Rule;

const CONFIG: &str = "
apps:
  web:
    image: ghcr.io/acme/web
    environments:
      - { name: dev, path: envs/dev/web }
      - { name: prod, path: envs/prod/web, mode: pull-request }
";

fn config() -> RepoConfig {
    RepoConfig::parse(CONFIG, "slipway.yaml").unwrap()
}

fn parse(text: &str) -> Result<Policy, PolicyError> {
    Policy::parse(text, "p", "policies/p.yaml", &config())
}

const FULL: &str = r#"description: everything at once
apps: [web]
environments: [prod]
mode: pull-request
image:
  registries: [ghcr.io]
  repositories: ["ghcr.io/acme/*"]
  tag_pattern: 'v\d+\.\d+\.\d+'
  semver: ">=1.0.0, <2.0.0"
  allow_prerelease: false
  require_digest: true
  mutable_tags: [latest]
source:
  providers: [github]
  repositories: ["acme/*"]
  refs: ["refs/tags/*"]
tested_artifact:
  wait_minutes: 30
no_downgrade: true
promotion:
  min_soak_minutes: 60
windows:
  time_zone: Europe/Berlin
  allow:
    - { days: [mon-thu], from: 09:00, to: "17:00" }
  freeze:
    - { from: "fri 16:00", to: "mon 08:00" }
    - { start: "2026-12-23T00:00", end: "2027-01-04T08:00" }
rate_limit:
  max_per_hour: 4
"#;

#[test]
fn a_full_policy_loads_every_rule_in_order() {
    let policy = parse(FULL).unwrap();
    let names: Vec<&str> = policy
        .rules
        .iter()
        .map(|r| match r {
            Rule::Registries(_) => "registries",
            Rule::Repositories(_) => "repositories",
            Rule::TagPattern(_) => "tag_pattern",
            Rule::Semver(_) => "semver",
            Rule::RequireDigest => "require_digest",
            Rule::MutableTags(_) => "mutable_tags",
            Rule::SourceProviders(_) => "providers",
            Rule::SourceRepositories(_) => "source_repositories",
            Rule::SourceRefs(_) => "refs",
            Rule::TestedArtifact(_) => "tested",
            Rule::NoDowngrade => "no_downgrade",
            Rule::Promotion(_) => "promotion",
            Rule::Windows(_) => "windows",
            Rule::RateLimit(_) => "rate_limit",
        })
        .collect();
    assert_eq!(names.len(), 14, "{names:?}");
    assert!(policy.governs("web", "prod"));
    assert!(!policy.governs("web", "dev"));
    assert_eq!(policy.mode, Some(WriteMode::PullRequest));
    let Some(Rule::Windows(w)) = policy.rules.iter().find(|r| matches!(r, Rule::Windows(_))) else {
        panic!("windows rule missing");
    };
    assert_eq!(w.allow.len(), 4, "mon-thu expands to four days");
    assert_eq!(w.freezes.len(), 2);
}

#[test]
fn bad_values_name_file_line_and_field() {
    let cases = [
        (
            "bad regex",
            FULL.replace(r"v\d+\.\d+\.\d+", "v(["),
            8,
            "image.tag_pattern",
        ),
        (
            "bad range",
            FULL.replace(">=1.0.0, <2.0.0", ">=one"),
            9,
            "image.semver",
        ),
        (
            "unknown zone",
            FULL.replace("Europe/Berlin", "Europe/Atlantis"),
            23,
            "windows.time_zone",
        ),
        (
            "unknown app",
            FULL.replace("apps: [web]", "apps: [wbe]"),
            2,
            "apps[0]",
        ),
        (
            "unknown environment",
            FULL.replace("[prod]", "[production]"),
            3,
            "environments[0]",
        ),
        (
            "bad provider",
            FULL.replace("[github]", "[gitea]"),
            14,
            "source.providers[0]",
        ),
        (
            "bad time",
            FULL.replace("\"17:00\"", "\"5pm\""),
            25,
            "windows.allow[0].to",
        ),
        (
            "bad day",
            FULL.replace("mon-thu", "monday-funday"),
            25,
            "windows.allow[0].days[0]",
        ),
        (
            "bad date",
            FULL.replace("2027-01-04T08:00", "soon"),
            28,
            "windows.freeze[1].end",
        ),
        (
            "end before start",
            FULL.replace("2027-01-04T08:00", "2026-01-04T08:00"),
            28,
            "windows.freeze[1].end",
        ),
        (
            "zero rate",
            FULL.replace("max_per_hour: 4", "max_per_hour: 0"),
            30,
            "rate_limit.max_per_hour",
        ),
        (
            "huge soak",
            FULL.replace("min_soak_minutes: 60", "min_soak_minutes: 99999999"),
            21,
            "promotion.min_soak_minutes",
        ),
        (
            "dated window",
            FULL.replace(
                "{ days: [mon-thu], from: 09:00, to: \"17:00\" }",
                "{ start: \"2026-01-01T00:00\", end: \"2026-01-02T00:00\" }",
            ),
            25,
            "windows.allow[0]",
        ),
    ];
    for (name, text, line, field) in cases {
        let err = parse(&text).expect_err(name);
        match &err {
            PolicyError::Invalid {
                file,
                line: got,
                field: f,
                ..
            } => {
                assert_eq!(file, "policies/p.yaml", "{name}");
                assert_eq!(*got, line, "{name}: {err}");
                assert_eq!(f, field, "{name}");
            }
            other => panic!("{name}: expected an invalid value, got {other}"),
        }
    }
}

#[test]
fn syntax_and_schema_errors_carry_positions() {
    let cases = [
        (
            "unknown field",
            FULL.replace("no_downgrade: true", "no_downgrad: true"),
            19,
            "no_downgrad",
        ),
        (
            "wrong type",
            FULL.replace("require_digest: true", "require_digest: [x]"),
            11,
            "require_digest",
        ),
        (
            "bad mode",
            FULL.replace("mode: pull-request", "mode: pr"),
            4,
            "pr",
        ),
        (
            "broken yaml",
            FULL.replace("apps: [web]", "apps: [web"),
            3,
            "",
        ),
    ];
    for (name, text, line, needle) in cases {
        let err = parse(&text).expect_err(name);
        match &err {
            PolicyError::Parse {
                line: got, message, ..
            } => {
                assert!(
                    *got >= line.min(2) && *got <= line + 1,
                    "{name}: line {got}: {err}"
                );
                assert!(message.contains(needle), "{name}: {message}");
            }
            other => panic!("{name}: expected a parse error, got {other}"),
        }
    }
}

#[test]
fn broken_files_still_say_what_they_govern() {
    let config = config();
    let cases = [
        (
            "readable selectors",
            "apps: [web]\nenvironments: [prod]\nimage: {tag_pattern: '('}",
            Selector::Named(vec!["web".into()]),
            Selector::Named(vec!["prod".into()]),
        ),
        (
            "typo in selector governs all",
            "apps: [wbe]\n",
            Selector::All,
            Selector::All,
        ),
        (
            "unparseable governs all",
            "apps: [web\n",
            Selector::All,
            Selector::All,
        ),
        (
            "no selectors governs all",
            "image: 3\n",
            Selector::All,
            Selector::All,
        ),
    ];
    for (name, text, apps, envs) in cases {
        assert_eq!(
            Policy::selectors_of_broken(text, &config),
            (apps, envs),
            "{name}"
        );
    }
}

#[test]
fn selectors_default_to_everything() {
    let policy = parse("no_downgrade: true\n").unwrap();
    assert!(policy.governs("web", "dev") && policy.governs("other", "x"));
    let star = parse("apps: ['*']\nenvironments: [dev]\n").unwrap();
    assert!(star.governs("web", "dev") && !star.governs("web", "prod"));
    assert!(matches!(
        parse("apps: []\n"),
        Err(PolicyError::Invalid { .. })
    ));
}
