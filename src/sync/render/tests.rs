use serde_json::json;

use super::recipe::{HelmTemplate, Recipe, recipe};
use super::*;
use crate::repoconfig::{Environment, HelmRelease, WriteMode};
use crate::sync::tree::MemoryTree;

const DEPLOY: &str = "apiVersion: apps/v1
kind: Deployment
metadata: { name: web }
spec:
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      containers:
        - { name: web, image: 'ghcr.io/acme/web:1.0.0' }
";

fn names(objects: &[RenderedObject]) -> Vec<String> {
    objects
        .iter()
        .map(|o| {
            format!(
                "{}/{}",
                o.manifest["kind"].as_str().unwrap(),
                o.manifest["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect()
}

fn env(path: &str, helm: Option<HelmRelease>) -> Environment {
    Environment {
        name: "prod".into(),
        path: path.into(),
        mode: WriteMode::Commit,
        namespace: Some("web-prod".into()),
        rollout_timeout_seconds: 60,
        create_namespace: true,
        recreate_on_immutable: false,
        helm,
        helm_values: None,
        strategy: Default::default(),
    }
}

#[test]
fn plain_directories_are_read_recursively_with_every_document() {
    let tree = MemoryTree::new([
        (
            "envs/dev/a.yaml",
            "kind: ConfigMap\napiVersion: v1\nmetadata: {name: a}\n---\n---\nkind: ConfigMap\napiVersion: v1\nmetadata: {name: b}\n",
        ),
        (
            "envs/dev/sub/c.yml",
            "kind: Secret\napiVersion: v1\nmetadata: {name: c}\n",
        ),
        ("envs/dev/README.md", "not yaml"),
        (
            "envs/dev/list.yaml",
            "apiVersion: v1\nkind: List\nitems:\n  - {apiVersion: v1, kind: Service, metadata: {name: s}}\n",
        ),
    ]);
    let objects = render_plain(&tree, "envs/dev").unwrap();
    assert_eq!(
        names(&objects),
        ["ConfigMap/a", "ConfigMap/b", "Service/s", "Secret/c"]
    );
    assert_eq!(objects[3].source, "envs/dev/sub/c.yml");
}

#[test]
fn the_environment_path_decides_the_tool() {
    let helm = |chart: Option<&str>, values: &[&str]| HelmRelease {
        chart: chart.map(String::from),
        values: values.iter().map(|v| v.to_string()).collect(),
        release_name: None,
        namespace: None,
    };
    let template = |chart: &str, values: &[&str]| {
        Recipe::Helm(HelmTemplate {
            chart: chart.into(),
            values: values.iter().map(|v| v.to_string()).collect(),
            release_name: "web".into(),
            namespace: "web-prod".into(),
        })
    };
    let cases = [
        (
            "kustomization",
            MemoryTree::new([("e/kustomization.yaml", "resources: []")]),
            env("e", None),
            Recipe::Kustomize {
                dir: "e".into(),
                file: "e/kustomization.yaml".into(),
            },
        ),
        (
            "Kustomization",
            MemoryTree::new([("e/Kustomization", "resources: []")]),
            env("e", None),
            Recipe::Kustomize {
                dir: "e".into(),
                file: "e/Kustomization".into(),
            },
        ),
        (
            "chart in the path",
            MemoryTree::new([("e/Chart.yaml", "name: web")]),
            env("e", None),
            template("e", &[]),
        ),
        (
            "chart named, values beside the environment",
            MemoryTree::new([
                ("charts/web/Chart.yaml", "name: web"),
                ("envs/prod/values.yaml", "a: 1"),
                ("envs/common.yaml", "a: 0"),
            ]),
            env(
                "envs/prod",
                Some(helm(Some("charts/web"), &["../common.yaml", "values.yaml"])),
            ),
            template("charts/web", &["envs/common.yaml", "envs/prod/values.yaml"]),
        ),
        (
            "plain",
            MemoryTree::new([("e/a.yaml", DEPLOY)]),
            env("e", None),
            Recipe::Plain { path: "e".into() },
        ),
    ];
    for (name, tree, env, want) in cases {
        assert_eq!(recipe(&tree, "web", &env).unwrap(), want, "{name}");
    }
}

#[test]
fn a_chart_that_is_not_there_is_refused_with_the_field() {
    let tree = MemoryTree::new([("charts/web/Chart.yaml", "name: web"), ("e/a.yaml", DEPLOY)]);
    let release = |chart: &str, values: &[&str]| HelmRelease {
        chart: Some(chart.into()),
        values: values.iter().map(|v| v.to_string()).collect(),
        ..HelmRelease::default()
    };
    let cases = [
        (
            "no chart",
            release("charts/api", &[]),
            "charts/api: `helm.chart`",
        ),
        (
            "no values file",
            release("charts/web", &["nope.yaml"]),
            "e/nope.yaml: `helm.values`: no such values file",
        ),
        (
            "values outside",
            release("charts/web", &["../../x.yaml"]),
            "leaves the repository",
        ),
    ];
    for (name, helm, needle) in cases {
        let err = recipe(&tree, "web", &env("e", Some(helm)))
            .expect_err(name)
            .to_string();
        assert!(err.contains(needle), "{name}: {err}");
    }
}

#[test]
fn helm_output_names_the_template_of_each_object() {
    let recipe = Recipe::Helm(HelmTemplate {
        chart: "charts/web".into(),
        values: Vec::new(),
        release_name: "web".into(),
        namespace: "default".into(),
    });
    let output = "---\n# Source: web/templates/service.yaml\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\n---\n# Source: web/charts/db/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: db\ndata:\n  text: |\n    a\n    b\n";
    let objects = recipe.parse(output.as_bytes()).unwrap();
    let sources: Vec<&str> = objects.iter().map(|o| o.source.as_str()).collect();
    assert_eq!(
        sources,
        [
            "charts/web/templates/service.yaml",
            "charts/web/charts/db/templates/cm.yaml"
        ]
    );
    assert_eq!(objects[1].manifest["data"], json!({"text": "a\nb\n"}));
}

#[test]
fn broken_inputs_are_errors_that_name_the_file() {
    let cases = [
        (
            "bad yaml",
            MemoryTree::new([("d/a.yaml", "a: [")]),
            "d/a.yaml",
        ),
        (
            "no kind",
            MemoryTree::new([("d/a.yaml", "apiVersion: v1\nmetadata: {name: a}\n")]),
            "no kind",
        ),
        (
            "no name",
            MemoryTree::new([("d/a.yaml", "apiVersion: v1\nkind: ConfigMap\n")]),
            "metadata.name",
        ),
        (
            "missing path",
            MemoryTree::new([("x/a.yaml", DEPLOY)]),
            "not found",
        ),
    ];
    for (name, tree, needle) in cases {
        let err = render_plain(&tree, "d").expect_err(name).to_string();
        assert!(err.contains(needle), "{name}: {err}");
    }
}

#[tokio::test]
async fn a_missing_tool_is_a_clear_refusal() {
    let renderer = Renderer::with_tools(tools::RenderTools::default(), &Default::default());
    let tree = MemoryTree::new([("e/kustomization.yaml", "resources: []")]);
    let err = renderer
        .render(&tree, "web", &env("e", None))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("e: rendering needs kustomize, which is not installed"),
        "{err}"
    );
}
