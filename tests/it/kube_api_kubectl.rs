//! Fidelity of the Kubernetes API test server, checked with the real
//! `kubectl` (install it with `.ci/install-kube-tools.sh`; `$KUBECTL` overrides
//! the binary). These tests fail when kubectl is missing.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use support::kube_api::{KubeApiServer, ServerConfig};

const MANIFEST: &str = include_str!("../../crates/kube-test-server/src/fixtures/shop.yaml");

/// Guard on `kubectl rollout status`; the simulator takes well under a second.
const ROLLOUT_TIMEOUT: &str = "30s";
/// `kubectl rollout status` of Deployment `web` in `shop`.
const ROLLOUT_STATUS: [&str; 7] = [
    "rollout",
    "status",
    "-n",
    "shop",
    "deployment/web",
    "--timeout",
    ROLLOUT_TIMEOUT,
];

fn kubectl_binary() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("KUBECTL") {
        return Ok(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("kubectl"))
        .find(|candidate| candidate.is_file())
        .context("kubectl not found on PATH (and $KUBECTL unset): these fidelity tests need the real kubectl; install it with .ci/install-kube-tools.sh")
}

/// A server plus a kubectl configured for it, with its own cache directory.
struct Kubectl {
    server: KubeApiServer,
    binary: PathBuf,
    work: tempfile::TempDir,
}

impl Kubectl {
    async fn start() -> Result<Self> {
        let binary = kubectl_binary()?;
        let config = ServerConfig {
            rollout_delay: Duration::from_millis(100),
            ..ServerConfig::default()
        };
        let server = KubeApiServer::start_with(config).await?;
        Ok(Self {
            server,
            binary,
            work: tempfile::tempdir()?,
        })
    }

    async fn run(&self, args: &[&str]) -> Result<Output> {
        let output = tokio::process::Command::new(&self.binary)
            .arg("--kubeconfig")
            .arg(self.server.kubeconfig_path())
            .arg("--cache-dir")
            .arg(self.work.path().join("cache"))
            .args(args)
            .env("HOME", self.work.path())
            .output()
            .await
            .with_context(|| format!("run {}", self.binary.display()))?;
        Ok(output)
    }

    async fn succeed(&self, args: &[&str]) -> Result<String> {
        let output = self.run(args).await?;
        if !output.status.success() {
            bail!(
                "kubectl {args:?} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(String::from_utf8(output.stdout)?)
    }

    /// `kubectl apply --server-side` of the manifest at image `tag`; its stdout.
    async fn apply(&self, tag: &str) -> Result<String> {
        let file = self.manifest(tag)?;
        let path = file.to_str().context("path")?;
        self.succeed(&["apply", "--server-side", "-f", path]).await
    }

    fn manifest(&self, tag: &str) -> Result<PathBuf> {
        write_file(
            self.work.path(),
            &format!("shop-{tag}.yaml"),
            &MANIFEST.replace("IMAGE_TAG", tag),
        )
    }

    async fn get_json(&self, args: &[&str]) -> Result<Value> {
        let mut all = vec!["get", "-o", "json"];
        all.extend_from_slice(args);
        Ok(serde_json::from_str(&self.succeed(&all).await?)?)
    }
}

fn write_file(dir: &Path, name: &str, text: &str) -> Result<PathBuf> {
    let path = dir.join(name);
    std::fs::write(&path, text)?;
    Ok(path)
}

fn text(value: &Value, pointer: &str) -> String {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn kubectl_server_side_apply_creates_every_document_of_a_file() -> Result<()> {
    let kubectl = Kubectl::start().await?;
    let out = kubectl.apply("1.0.0").await?;
    for line in [
        "namespace/shop serverside-applied",
        "deployment.apps/web serverside-applied",
        "configmap/web-config serverside-applied",
        "widget.example.slipway.dev/gadget serverside-applied",
    ] {
        assert!(out.contains(line), "missing {line:?} in {out}");
    }
    let deployment = kubectl
        .get_json(&["-n", "shop", "deployment/web", "--show-managed-fields"])
        .await?;
    assert_eq!(
        text(&deployment, "/spec/template/spec/containers/0/image"),
        "registry.example/web:1.0.0"
    );
    assert_eq!(
        text(&deployment, "/metadata/managedFields/0/manager"),
        "kubectl"
    );
    assert_eq!(
        text(&deployment, "/metadata/managedFields/0/operation"),
        "Apply"
    );
    let config_map = kubectl
        .get_json(&["-n", "shop", "configmap", "web-config"])
        .await?;
    assert_eq!(text(&config_map, "/data/greeting"), "hello");
    let widget = kubectl
        .get_json(&["-n", "shop", "widgets.example.slipway.dev", "gadget"])
        .await?;
    assert_eq!(widget.pointer("/spec/size"), Some(&Value::from(3)));
    let listed = kubectl
        .get_json(&["-n", "shop", "deploy", "-l", "app=web"])
        .await?;
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1));
    Ok(())
}

#[tokio::test]
async fn kubectl_rollout_status_succeeds_for_a_good_tag_and_fails_for_a_fail_tag() -> Result<()> {
    let kubectl = Kubectl::start().await?;
    kubectl.apply("1.0.0").await?;
    let out = kubectl.succeed(&ROLLOUT_STATUS).await?;
    assert!(
        out.contains("deployment \"web\" successfully rolled out"),
        "{out}"
    );

    kubectl.apply("1.1.0-fail").await?;
    let failed = kubectl.run(&ROLLOUT_STATUS).await?;
    assert!(!failed.status.success(), "rollout of a fail tag must fail");
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(
        stderr.contains("exceeded its progress deadline"),
        "{stderr}"
    );
    Ok(())
}

#[tokio::test]
async fn a_second_field_manager_conflicts_until_it_forces() -> Result<()> {
    let kubectl = Kubectl::start().await?;
    kubectl.apply("1.0.0").await?;
    let scale = write_file(
        kubectl.work.path(),
        "scale.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  replicas: 5\n",
    )?;
    let scale = scale.to_str().context("path")?;
    let refused = kubectl
        .run(&[
            "apply",
            "--server-side",
            "--field-manager",
            "autoscaler",
            "-f",
            scale,
        ])
        .await?;
    assert!(!refused.status.success(), "conflicting apply must fail");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("Apply failed with 1 conflict: conflict with \"kubectl\": .spec.replicas"),
        "{stderr}"
    );

    kubectl
        .succeed(&[
            "apply",
            "--server-side",
            "--field-manager",
            "autoscaler",
            "--force-conflicts",
            "-f",
            scale,
        ])
        .await?;
    let deployment = kubectl.get_json(&["-n", "shop", "deployment/web"]).await?;
    assert_eq!(deployment.pointer("/spec/replicas"), Some(&Value::from(5)));
    assert_eq!(
        deployment.pointer("/metadata/generation"),
        Some(&Value::from(2))
    );
    Ok(())
}

#[tokio::test]
async fn kubectl_delete_removes_the_object_and_get_then_reports_not_found() -> Result<()> {
    let kubectl = Kubectl::start().await?;
    kubectl.apply("1.0.0").await?;
    let out = kubectl
        .succeed(&["delete", "-n", "shop", "configmap", "web-config"])
        .await?;
    assert!(out.contains("configmap \"web-config\" deleted"), "{out}");
    let missing = kubectl
        .run(&["get", "-n", "shop", "configmap", "web-config"])
        .await?;
    assert!(!missing.status.success());
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("configmaps \"web-config\" not found"),
        "{stderr}"
    );

    kubectl.succeed(&["delete", "namespace", "shop"]).await?;
    assert_eq!(
        kubectl
            .server
            .get_object("apps/v1", "Deployment", Some("shop"), "web"),
        None
    );
    Ok(())
}

#[tokio::test]
async fn kubectl_logs_reads_follows_and_refuses_as_against_a_real_server() -> Result<()> {
    let kubectl = Kubectl::start().await?;
    kubectl.apply("1.0.0").await?;
    kubectl.succeed(&ROLLOUT_STATUS).await?;
    let start = "starting app from image registry.example/web:1.0.0\n";
    let by_deployment = kubectl
        .succeed(&["logs", "-n", "shop", "deployment/web"])
        .await?;
    assert_eq!(by_deployment, start);
    let pods = kubectl
        .get_json(&["-n", "shop", "pods", "-l", "app=web"])
        .await?;
    let pod = text(&pods, "/items/0/metadata/name");

    let previous = kubectl
        .run(&["logs", "-n", "shop", &pod, "--previous"])
        .await?;
    let stderr = String::from_utf8_lossy(&previous.stderr);
    assert!(
        stderr.contains(&format!(
            "previous terminated container \"app\" in pod \"{pod}\" not found"
        )),
        "{stderr}"
    );
    let unknown = kubectl
        .run(&["logs", "-n", "shop", &pod, "-c", "nope"])
        .await?;
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        stderr.contains(&format!("container nope is not valid for pod {pod}")),
        "{stderr}"
    );

    let follow = tokio::process::Command::new(&kubectl.binary)
        .arg("--kubeconfig")
        .arg(kubectl.server.kubeconfig_path())
        .args(["logs", "-f", "-n", "shop", &pod])
        .env("HOME", kubectl.work.path())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut stdout = tokio::io::BufReader::new(follow.stdout.context("stdout")?);
    let mut line = String::new();
    use tokio::io::AsyncBufReadExt;
    let read = async |stdout: &mut tokio::io::BufReader<_>, line: &mut String| -> Result<usize> {
        line.clear();
        Ok(tokio::time::timeout(Duration::from_secs(30), stdout.read_line(line)).await??)
    };
    read(&mut stdout, &mut line).await?;
    assert_eq!(line, start);
    assert!(
        kubectl
            .server
            .append_pod_log("shop", &pod, "app", "GET / 200")
    );
    read(&mut stdout, &mut line).await?;
    assert_eq!(line, "GET / 200\n");
    kubectl
        .succeed(&["delete", "-n", "shop", "pod", &pod])
        .await?;
    assert_eq!(
        read(&mut stdout, &mut line).await?,
        0,
        "kubectl logs -f ends with the pod"
    );
    Ok(())
}
