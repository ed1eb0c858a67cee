//! Sync renders kustomizations with the real kustomize and Helm charts with
//! `helm template`, offline, from the commit's own tree; what the tools
//! refuse is recorded as `refused` with their own message.
//!
//! These tests need `kubectl` (or `kustomize`) and `helm` on `$PATH`:
//! `.ci/install-kube-tools.sh` installs both.

use crate::sync_common;

use std::path::Path;

use serde_json::Value;
use slipway::store::sync_state::SyncPhase;
use slipway::sync::cluster::ClusterTarget;
use slipway::sync::reconcile::{SyncContext, Target, render_at};
use slipway::sync::render::tools::{RenderSettings, RenderTools, Tool};
use slipway::sync::render::{RenderError, RenderedObject, Renderer};
use sync_common::{DeployRepo, Harness, deployment};

const BASE_DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: { app: web }
  template:
    metadata:
      labels: { app: web }
    spec:
      containers:
        - name: web
          image: ghcr.io/acme/web:1.0.0
          envFrom:
            - configMapRef: { name: web-config }
";

const OVERLAY: &[(&str, &str)] = &[
    (
        "base/kustomization.yaml",
        "resources: [deployment.yaml, service.yaml]\n",
    ),
    ("base/deployment.yaml", BASE_DEPLOYMENT),
    (
        "base/service.yaml",
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports: [{port: 80}]\n",
    ),
    (
        "components/team/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\ncommonAnnotations:\n  team: payments\n",
    ),
    (
        "envs/prod/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: web-prod
namePrefix: prod-
resources: [../../base]
components: [../../components/team]
images:
  - name: ghcr.io/acme/web
    newTag: 2.0.0
configMapGenerator:
  - name: web-config
    literals: [MODE=production]
patches:
  - path: replicas.yaml
  - target: { kind: Deployment, name: web }
    patch: |-
      - op: add
        path: /spec/template/spec/containers/0/args
        value: [--fast]
",
    ),
    (
        "envs/prod/replicas.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 3\n",
    ),
];

const SLIPWAY_YAML: &str = "
apps:
  web:
    image: ghcr.io/acme/web
    environments:
      - { name: prod, path: envs/prod, namespace: web-prod }
";

/// The one environment of the one app in `slipway.yaml` at `revision`.
fn target(ctx: &SyncContext, revision: &str) -> Target {
    let config = ctx.source.repo_config(revision).unwrap();
    let (name, app) = config.apps.into_iter().next().unwrap();
    Target {
        app_name: name,
        env: app.environments[0].clone(),
        app,
        analyses: Default::default(),
    }
}

async fn render(ctx: &SyncContext) -> Result<Vec<RenderedObject>, RenderError> {
    let revision = ctx.source.fetch().unwrap();
    render_at(ctx, &revision, &target(ctx, &revision))
        .await
        .unwrap()
}

fn find<'a>(objects: &'a [RenderedObject], kind: &str) -> &'a Value {
    &objects
        .iter()
        .find(|o| o.manifest["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in {objects:?}"))
        .manifest
}

#[tokio::test]
async fn an_overlay_with_patches_generators_components_and_a_prefix_renders_as_kustomize_does() {
    let mut files = OVERLAY.to_vec();
    files.push(("slipway.yaml", SLIPWAY_YAML));
    let repo = DeployRepo::new(&files);
    let h = Harness::new(&repo, ClusterTarget::PlanOnly, None);
    let objects = render(&h.ctx).await.unwrap();

    let config = find(&objects, "ConfigMap");
    let config_name = config["metadata"]["name"].as_str().unwrap();
    assert!(
        config_name.starts_with("prod-web-config-") && config_name.len() > 16,
        "hashed name: {config_name}"
    );
    let deploy = find(&objects, "Deployment");
    assert_eq!(deploy["metadata"]["name"], "prod-web");
    assert_eq!(deploy["metadata"]["namespace"], "web-prod");
    assert_eq!(deploy["metadata"]["annotations"]["team"], "payments");
    assert_eq!(deploy["spec"]["replicas"], 3, "strategic-merge patch");
    let container = &deploy["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["args"][0], "--fast", "JSON 6902 patch");
    assert_eq!(container["image"], "ghcr.io/acme/web:2.0.0");
    assert_eq!(
        container["envFrom"][0]["configMapRef"]["name"], config_name,
        "the generated name is rewritten into the workload"
    );
    assert!(
        objects
            .iter()
            .all(|o| o.source == "envs/prod/kustomization.yaml")
    );

    h.sync.sync_once().await.unwrap();
    let status = h.store.sync_status("web", "prod").await.unwrap().unwrap();
    assert_eq!(status.state, SyncPhase::Planned, "{:?}", status.last_error);
    let mut apply = status.plan.unwrap().apply;
    apply.sort();
    assert_eq!(
        apply,
        [
            format!("ConfigMap web-prod/{config_name}"),
            "Deployment web-prod/prod-web".to_string(),
            "Service web-prod/prod-web".to_string(),
        ]
    );
}

const CHART: &[(&str, &str)] = &[
    (
        "charts/web/Chart.yaml",
        "apiVersion: v2\nname: web\nversion: 0.1.0\ndependencies:\n  - name: cache\n    version: 0.1.0\n",
    ),
    (
        "charts/web/values.yaml",
        "replicas: 1\nimage:\n  repository: ghcr.io/acme/web\n  tag: \"1.0.0\"\n",
    ),
    (
        "charts/web/templates/deployment.yaml",
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  namespace: {{ .Release.Namespace }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels: { app: {{ .Release.Name }} }
  template:
    metadata:
      labels: { app: {{ .Release.Name }} }
    spec:
      containers:
        - name: web
          image: \"{{ .Values.image.repository }}:{{ .Values.image.tag }}\"
",
    ),
    (
        "charts/web/charts/cache/Chart.yaml",
        "apiVersion: v2\nname: cache\nversion: 0.1.0\n",
    ),
    (
        "charts/web/charts/cache/templates/service.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}-cache\nspec:\n  ports: [{port: 6379}]\n",
    ),
    (
        "envs/prod/values.yaml",
        "replicas: 4\nimage:\n  tag: \"2.0.0\"\n",
    ),
    (
        "slipway.yaml",
        "
apps:
  web:
    image: ghcr.io/acme/web
    environments:
      - name: prod
        path: envs/prod
        namespace: web-prod
        helm: { chart: charts/web, values: [values.yaml], release_name: shop }
",
    ),
];

#[tokio::test]
async fn a_chart_renders_with_the_environments_values_and_its_vendored_dependency() {
    let repo = DeployRepo::new(CHART);
    let h = Harness::new(&repo, ClusterTarget::PlanOnly, None);
    let objects = render(&h.ctx).await.unwrap();
    let deploy = find(&objects, "Deployment");
    assert_eq!(deploy["metadata"]["name"], "shop");
    assert_eq!(deploy["metadata"]["namespace"], "web-prod");
    assert_eq!(deploy["spec"]["replicas"], 4);
    assert_eq!(
        deploy["spec"]["template"]["spec"]["containers"][0]["image"],
        "ghcr.io/acme/web:2.0.0"
    );
    let sources: Vec<&str> = objects.iter().map(|o| o.source.as_str()).collect();
    assert_eq!(
        sources,
        [
            "charts/web/charts/cache/templates/service.yaml",
            "charts/web/templates/deployment.yaml"
        ]
    );
    h.sync.sync_once().await.unwrap();
    let status = h.store.sync_status("web", "prod").await.unwrap().unwrap();
    assert_eq!(status.state, SyncPhase::Planned, "{:?}", status.last_error);
}

#[tokio::test]
async fn a_kustomization_inflates_a_local_helm_chart() {
    // The chart sits under the kustomization's own charts/ directory.
    let moved: Vec<(String, &str)> = CHART
        .iter()
        .filter(|(path, _)| path.starts_with("charts/web/"))
        .map(|(path, text)| (format!("envs/prod/{path}"), *text))
        .collect();
    let mut files: Vec<(&str, &str)> = moved.iter().map(|(p, t)| (p.as_str(), *t)).collect();
    files.push(("slipway.yaml", SLIPWAY_YAML));
    files.push((
        "envs/prod/kustomization.yaml",
        "helmCharts:\n  - name: web\n    releaseName: shop\n    namespace: web-prod\n    valuesInline: {replicas: 2}\n",
    ));
    let repo = DeployRepo::new(&files);
    let h = Harness::new(&repo, ClusterTarget::PlanOnly, None);
    let objects = render(&h.ctx).await.unwrap();
    let deploy = find(&objects, "Deployment");
    assert_eq!(deploy["metadata"]["name"], "shop");
    assert_eq!(deploy["spec"]["replicas"], 2);
    find(&objects, "Service");
}

#[tokio::test]
async fn every_environment_of_the_example_deploy_repo_plans_without_a_cluster() {
    let repo = DeployRepo::new(slipway::bootstrap::EXAMPLE_FILES);
    let h = Harness::new(&repo, ClusterTarget::PlanOnly, None);
    h.sync.sync_once().await.unwrap();
    for (app, env, want) in [
        ("hello", "dev", "Deployment hello-dev/hello"),
        ("shop", "dev", "Deployment shop-dev/dev-shop"),
        ("shop", "prod", "Deployment shop-prod/shop"),
        ("api", "dev", "Deployment api-dev/api"),
        ("api", "prod", "Deployment api-prod/api"),
    ] {
        let status = h.store.sync_status(app, env).await.unwrap().unwrap();
        assert_eq!(
            status.state,
            SyncPhase::Planned,
            "{app}/{env}: {:?}",
            status.last_error
        );
        let apply = status.plan.unwrap().apply;
        assert!(apply.iter().any(|a| a == want), "{app}/{env}: {apply:?}");
    }
}

/// Sync once and return the refusal recorded for `web/prod`.
async fn refusal(repo: &DeployRepo) -> String {
    let h = Harness::new(repo, ClusterTarget::PlanOnly, None);
    h.sync.sync_once().await.unwrap();
    let status = h.store.sync_status("web", "prod").await.unwrap().unwrap();
    assert_eq!(status.state, SyncPhase::Refused, "{status:?}");
    status.last_error.unwrap()
}

#[tokio::test]
async fn a_remote_base_is_refused_offline_with_kustomizes_message() {
    let repo = DeployRepo::new(&[
        ("slipway.yaml", SLIPWAY_YAML),
        (
            "envs/prod/kustomization.yaml",
            "resources:\n  - https://github.com/acme/deploy//base?ref=v1\n",
        ),
    ]);
    let status = refusal(&repo).await;
    assert!(
        status.starts_with("envs/prod/kustomization.yaml: kustomize: render is offline"),
        "{status}"
    );
    let h = Harness::new(&repo, ClusterTarget::PlanOnly, None);
    let error = render(&h.ctx).await.unwrap_err().to_string();
    assert!(
        error.contains("https://github.com/acme/deploy//base?ref=v1"),
        "the tool's own message: {error}"
    );
}

#[tokio::test]
async fn an_unvendored_chart_dependency_is_refused_with_helms_message() {
    let files: Vec<(&str, &str)> = CHART
        .iter()
        .copied()
        .filter(|(path, _)| !path.starts_with("charts/web/charts/"))
        .collect();
    let repo = DeployRepo::new(&files);
    let error = refusal(&repo).await;
    assert!(
        error.contains("charts/web: helm:") && error.contains("missing in charts/ directory"),
        "{error}"
    );
}

#[tokio::test]
async fn an_environment_the_tool_rejects_is_refused_with_the_file() {
    let repo = DeployRepo::new(&[
        ("slipway.yaml", SLIPWAY_YAML),
        (
            "envs/prod/kustomization.yaml",
            "resources: [web.yaml, missing.yaml]\n",
        ),
        (
            "envs/prod/web.yaml",
            &deployment("web", "ghcr.io/acme/web:1.0.0"),
        ),
    ]);
    let error = refusal(&repo).await;
    assert!(
        error.contains("envs/prod/kustomization.yaml: kustomize:")
            && error.contains("missing.yaml"),
        "{error}"
    );
}

#[tokio::test]
async fn a_render_past_its_time_limit_is_stopped_and_refused() {
    let mut files: Vec<(&str, &str)> = CHART.to_vec();
    // About a hundred million template steps: far longer than a second.
    files.push((
        "charts/web/templates/slow.yaml",
        "{{- range until 10000 }}{{- range until 10000 }}{{- end }}{{- end }}\n",
    ));
    let repo = DeployRepo::new(&files);
    let h = Harness::new(&repo, ClusterTarget::PlanOnly, None);
    let mut ctx = h.ctx.clone();
    ctx.renderer = Renderer::new(&RenderSettings {
        timeout_seconds: 1,
        ..RenderSettings::default()
    });
    let error = render(&ctx).await.unwrap_err().to_string();
    assert!(
        error.contains("charts/web: helm: took longer than 1 s and was stopped"),
        "{error}"
    );
}

/// A stand-in for a render tool in `dir` that counts its runs in
/// `dir/runs` and prints one ConfigMap.
fn counting_tool(dir: &Path) -> Tool {
    let script = dir.join("tool");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho run >> {}\nprintf 'apiVersion: v1\\nkind: ConfigMap\\nmetadata: {{name: a}}\\n'\n",
            dir.join("runs").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    Tool {
        program: script,
        prefix: Vec::new(),
        version: "v0-test".into(),
    }
}

fn runs(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("runs"))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

#[tokio::test]
async fn an_unchanged_tree_is_rendered_once_per_tool_version() {
    let mut files = OVERLAY.to_vec();
    files.push(("slipway.yaml", SLIPWAY_YAML));
    let repo = DeployRepo::new(&files);
    let h = Harness::new(&repo, ClusterTarget::PlanOnly, None);
    let bin = tempfile::tempdir().unwrap();
    let tools = RenderTools {
        kustomize: Some(counting_tool(bin.path())),
        helm: None,
    };
    let mut ctx = h.ctx.clone();
    ctx.renderer = Renderer::with_tools(tools, &RenderSettings::default());

    let first = render(&ctx).await.unwrap();
    let again = render(&ctx).await.unwrap();
    assert_eq!(first, again);
    assert_eq!(runs(bin.path()), 1, "the second pass is remembered");

    repo.commit(&[("envs/prod/replicas.yaml", "# changed\n")], "change");
    render(&ctx).await.unwrap();
    assert_eq!(runs(bin.path()), 2, "a new tree renders again");
}

#[tokio::test]
async fn a_chart_renders_again_only_when_its_chart_or_values_change() {
    let mut files: Vec<(&str, &str)> = CHART.to_vec();
    files.push(("docs/README.md", "unrelated"));
    let repo = DeployRepo::new(&files);
    let h = Harness::new(&repo, ClusterTarget::PlanOnly, None);
    let bin = tempfile::tempdir().unwrap();
    let tools = RenderTools {
        kustomize: None,
        helm: Some(counting_tool(bin.path())),
    };
    let mut ctx = h.ctx.clone();
    ctx.renderer = Renderer::with_tools(tools, &RenderSettings::default());

    render(&ctx).await.unwrap();
    repo.commit(&[("docs/README.md", "changed, unrelated")], "docs");
    render(&ctx).await.unwrap();
    assert_eq!(runs(bin.path()), 1, "another file's change is not an input");
    repo.commit(&[("envs/prod/values.yaml", "replicas: 5\n")], "values");
    render(&ctx).await.unwrap();
    assert_eq!(runs(bin.path()), 2, "a values file is an input");
    repo.commit(&[("charts/web/values.yaml", "replicas: 1\n")], "chart");
    render(&ctx).await.unwrap();
    assert_eq!(runs(bin.path()), 3, "the chart is an input");
}
