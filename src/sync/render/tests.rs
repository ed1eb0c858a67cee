use serde_json::json;

use super::*;
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
    let objects = render(&tree, "envs/dev").unwrap();
    assert_eq!(
        names(&objects),
        ["ConfigMap/a", "ConfigMap/b", "Service/s", "Secret/c"]
    );
    assert_eq!(objects[3].source, "envs/dev/sub/c.yml");
}

#[test]
fn a_kustomization_applies_namespace_images_labels_and_annotations() {
    let tree = MemoryTree::new([
        (
            "base/kustomization.yaml",
            "resources: [deploy.yaml]\ncommonLabels: {team: a}\n",
        ),
        ("base/deploy.yaml", DEPLOY),
        (
            "envs/dev/kustomization.yaml",
            "
resources: [../../base, cm.yaml]
namespace: web-dev
images:
  - { name: ghcr.io/acme/web, newTag: 2.0.0 }
labels:
  - pairs: { tier: front }
commonAnnotations: { owner: web-team }
",
        ),
        (
            "envs/dev/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\n",
        ),
    ]);
    let objects = render(&tree, "envs/dev").unwrap();
    assert_eq!(names(&objects), ["Deployment/web", "ConfigMap/cfg"]);
    let d = &objects[0].manifest;
    assert_eq!(d["metadata"]["namespace"], "web-dev");
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "ghcr.io/acme/web:2.0.0"
    );
    assert_eq!(
        d["spec"]["selector"]["matchLabels"],
        json!({"app": "web", "team": "a"})
    );
    assert_eq!(
        d["metadata"]["labels"],
        json!({"team": "a", "tier": "front"})
    );
    assert_eq!(
        d["spec"]["template"]["metadata"]["annotations"]["owner"],
        "web-team"
    );
    assert_eq!(objects[1].manifest["metadata"]["namespace"], "web-dev");
}

#[test]
fn unsupported_kustomize_features_are_refused_with_file_and_key() {
    let cases = [
        (
            "generator",
            "configMapGenerator: [{name: x}]\n",
            "configMapGenerator",
        ),
        ("patches", "patches: [{path: p.yaml}]\n", "patches"),
        ("helm", "helmCharts: [{name: x}]\n", "helmCharts"),
        ("prefix", "namePrefix: x-\n", "namePrefix"),
        (
            "remote",
            "resources: [https://github.com/acme/x//base]\n",
            "remote resources",
        ),
        (
            "label fields",
            "labels: [{pairs: {a: b}, fields: []}]\n",
            "labels.fields",
        ),
    ];
    for (name, text, needle) in cases {
        let tree = MemoryTree::new([("k/kustomization.yaml", text)]);
        let err = render(&tree, "k").expect_err(name).to_string();
        assert!(
            err.contains("k/kustomization.yaml") && err.contains(needle),
            "{name}: {err}"
        );
    }
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
            "missing resource",
            MemoryTree::new([("d/kustomization.yaml", "resources: [x.yaml]\n")]),
            "x.yaml does not exist",
        ),
        (
            "escaping resource",
            MemoryTree::new([("d/kustomization.yaml", "resources: [../../x]\n")]),
            "leaves the repository",
        ),
        (
            "plain dir resource",
            MemoryTree::new([
                ("d/kustomization.yaml", "resources: [sub]\n"),
                ("d/sub/a.yaml", DEPLOY),
            ]),
            "has no kustomization",
        ),
        (
            "missing path",
            MemoryTree::new([("x/a.yaml", DEPLOY)]),
            "not found",
        ),
        (
            "cycle",
            MemoryTree::new([("d/kustomization.yaml", "resources: [.]\n")]),
            "deeper",
        ),
    ];
    for (name, tree, needle) in cases {
        let err = render(&tree, "d").expect_err(name).to_string();
        assert!(err.contains(needle), "{name}: {err}");
    }
}
