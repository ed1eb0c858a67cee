//! The writer bumps an image kept in Helm values, in a real bare repository:
//! by the common shapes in a chart's own `values.yaml`, and where an
//! environment's `helm_values` mapping says. The chart's templates (not
//! YAML) and vendored charts are left alone, and one line changes.

use crate::support::git_repos;

use std::path::{Path, PathBuf};

use git_repos::*;
use slipway::deployrepo::{DeployWriter, Written};
use slipway::repoconfig::WriteMode::Commit;

const SLIPWAY_YAML: &str = "apps:
  web:
    image: ghcr.io/acme/web
    environments:
      - { name: dev, path: envs/dev }
      - name: prod
        path: envs/prod
        helm: { chart: charts/web, values: [values-prod.yaml] }
        helm_values:
          file: values-prod.yaml
          repository: web.image.name
          tag: web.image.version
";

const VALUES_DEV: &str = "# dev values
replicaCount: 1
image:
  repository: ghcr.io/acme/web   # the app
  tag: \"1.0.0\"
";

const VALUES_PROD: &str = "web:
  image:
    name: ghcr.io/acme/web
    version: 1.0.0   # promoted by Slipway
  # a shape the common rules would also match, but the mapping names the keys
  image2: ghcr.io/acme/web:0.1.0
";

const TEMPLATE: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-web
spec:
  template:
    spec:
      containers:
        - name: web
          image: \"{{ .Values.image.repository }}:{{ .Values.image.tag }}\"
";

fn seed(root: &Path) -> PathBuf {
    let bare = root.join("deploy.git");
    std::fs::create_dir_all(&bare).unwrap();
    git(&bare, &["init", "--bare", "-q", "-b", "main"]);
    let work = root.join("seed");
    let files = [
        ("slipway.yaml", SLIPWAY_YAML),
        (
            "envs/dev/Chart.yaml",
            "apiVersion: v2\nname: web\nversion: 0.1.0\n",
        ),
        ("envs/dev/values.yaml", VALUES_DEV),
        ("envs/dev/templates/deployment.yaml", TEMPLATE),
        (
            "envs/dev/charts/redis/values.yaml",
            "image:\n  repository: ghcr.io/acme/web\n  tag: \"9.9.9\"\n",
        ),
        (
            "charts/web/Chart.yaml",
            "apiVersion: v2\nname: web\nversion: 0.1.0\n",
        ),
        ("charts/web/templates/deployment.yaml", TEMPLATE),
        ("envs/prod/values-prod.yaml", VALUES_PROD),
    ];
    for (path, text) in files {
        let path = work.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    git(&work, &["init", "-q", "-b", "main"]);
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "seed"]);
    git(&work, &["push", "-q", bare.to_str().unwrap(), "main"]);
    bare
}

fn writer(bare: &Path, dir: &Path) -> DeployWriter {
    DeployWriter::new(
        local_settings(bare.to_str().unwrap()),
        dir.to_path_buf(),
        None,
    )
}

#[tokio::test]
async fn a_charts_values_are_bumped_in_place_and_its_templates_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = seed(tmp.path());
    let outcomes = writer(&bare, &tmp.path().join("w"))
        .write(vec![request("evt-1", "web", "dev", "1.10", Commit)])
        .await;
    let Written::Committed { changes, .. } = written(&outcomes[0]) else {
        panic!("{outcomes:?}")
    };
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].file, "envs/dev/values.yaml");
    assert_eq!(changes[0].kind, "HelmValues");
    assert_eq!(changes[0].field, "image");
    assert_eq!(changes[0].old_image, "ghcr.io/acme/web:1.0.0");
    assert_eq!(changes[0].new_image, "ghcr.io/acme/web:1.10");
    assert_eq!(
        remote_file(&bare, "main", "envs/dev/values.yaml"),
        VALUES_DEV.replace("tag: \"1.0.0\"", "tag: \"1.10\"")
    );
    let message = tip_message(&bare, "main");
    assert!(
        message.contains(
            "  envs/dev/values.yaml HelmValues image: ghcr.io/acme/web:1.0.0 -> ghcr.io/acme/web:1.10\n"
        ),
        "{message}"
    );
    assert_eq!(
        remote_file(&bare, "main", "envs/dev/charts/redis/values.yaml"),
        "image:\n  repository: ghcr.io/acme/web\n  tag: \"9.9.9\"\n",
        "a vendored chart's values are not the app's"
    );
}

#[tokio::test]
async fn an_environments_helm_values_mapping_names_the_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = seed(tmp.path());
    let outcomes = writer(&bare, &tmp.path().join("w"))
        .write(vec![request("evt-1", "web", "prod", "1.4.2", Commit)])
        .await;
    let Written::Committed { changes, .. } = written(&outcomes[0]) else {
        panic!("{outcomes:?}")
    };
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].field, "web.image");
    assert_eq!(
        remote_file(&bare, "main", "envs/prod/values-prod.yaml"),
        VALUES_PROD.replace("version: 1.0.0", "version: 1.4.2")
    );
    // An older image is refused against what the values hold now.
    let outcomes = writer(&bare, &tmp.path().join("w2"))
        .write(vec![request("evt-2", "web", "prod", "1.3.0", Commit)])
        .await;
    assert!(
        matches!(written(&outcomes[0]), Written::Refused { .. }),
        "{outcomes:?}"
    );
}
