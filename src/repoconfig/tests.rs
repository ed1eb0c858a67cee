use super::*;

const GOOD: &str = "
apps:
  web:
    image: ghcr.io/acme/web
    source: acme/web
    environments:
      - { name: dev, path: envs/dev/web, namespace: web-dev }
      - { name: staging, path: envs/staging/web, mode: pull-request }
      - { name: prod, path: envs/prod/web, mode: pull-request }
";

#[test]
fn a_valid_file_loads_with_defaults_and_promotion_order() {
    let config = RepoConfig::parse(GOOD, "slipway.yaml").unwrap();
    assert_eq!(config.branch, "main");
    let web = &config.apps["web"];
    assert_eq!(web.environment("dev").unwrap().mode, WriteMode::Commit);
    assert_eq!(
        web.environment("prod").unwrap().mode,
        WriteMode::PullRequest
    );
    assert_eq!(web.promoted_from("staging").unwrap().name, "dev");
    assert!(web.promoted_from("dev").is_none());
    assert_eq!(web.promotes_to("staging").unwrap().name, "prod");
    assert!(web.allows_kind("Deployment"));
    assert!(!web.allows_kind("ClusterRoleBinding"));
}

#[test]
fn images_with_a_registry_port_load() {
    for image in [
        "localhost:5000/web",
        "registry.example.com:5000/acme/web",
        "harbor.example.com:8443/acme/web",
        "10.1.2.3:5000/web",
        "nginx",
    ] {
        let text = GOOD.replace("ghcr.io/acme/web", image);
        let config =
            RepoConfig::parse(&text, "slipway.yaml").unwrap_or_else(|e| panic!("{image}: {e}"));
        assert_eq!(config.apps["web"].image, image);
    }
}

#[test]
fn invalid_files_name_the_field() {
    let cases = [
        (
            "path escapes",
            GOOD.replace("envs/dev/web", "../etc"),
            "environments[0].path",
        ),
        (
            "absolute path",
            GOOD.replace("envs/dev/web", "/etc"),
            "environments[0].path",
        ),
        (
            "bad app name",
            GOOD.replace("  web:", "  Web_1:"),
            "apps.Web_1",
        ),
        (
            "image with tag",
            GOOD.replace("acme/web\n    source", "acme/web:1\n    source"),
            "image",
        ),
        (
            "image with digest",
            GOOD.replace("acme/web\n    source", "acme/web@sha256:00\n    source"),
            "apps.web.image: a repository name without tag or digest",
        ),
        (
            "uppercase repository",
            GOOD.replace("acme/web\n    source", "Acme/web\n    source"),
            "apps.web.image: the image name has an uppercase letter",
        ),
        (
            "duplicate env",
            GOOD.replace("name: prod", "name: dev"),
            "duplicate",
        ),
        (
            "bad env name",
            GOOD.replace("name: dev", "name: \"dev;rm\""),
            "environments[0].name",
        ),
        ("unknown field", GOOD.replace("source:", "sorce:"), "sorce"),
        (
            "bad mode",
            GOOD.replace(
                "mode: pull-request }\n      - { name: prod",
                "mode: pr }\n      - { name: prod",
            ),
            "pr",
        ),
    ];
    for (name, text, needle) in cases {
        let err = RepoConfig::parse(&text, "slipway.yaml").expect_err(name);
        assert!(err.to_string().contains(needle), "{name}: {err}");
    }
}

#[test]
fn safe_names_and_paths() {
    for (input, want) in [
        ("web", true),
        ("web-2", true),
        ("-web", false),
        ("a/b", false),
        ("", false),
        ("ÄB", false),
    ] {
        assert_eq!(is_safe_name(input), want, "{input}");
    }
    for (input, want) in [
        ("envs/dev", true),
        ("./envs", true),
        ("../x", false),
        ("/abs", false),
        ("a\nb", false),
    ] {
        assert_eq!(is_safe_relative_path(input), want, "{input}");
    }
}
