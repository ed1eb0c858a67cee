//! `slipway run` (receive and sync in one process) over a local deploy repo,
//! against the Kubernetes API test server, whose pods the kubelet stand-in
//! runs through the API (`super::kubelet`): its config (reports sent to
//! itself), start and restart on the same state directory, its status API,
//! signed generic webhooks and the CLI pointed at it; and the deploy repo of
//! app `web` in `dev` that the end-to-end rollouts use.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use slipway::bootstrap::create_bare_repo;

use super::fleet::artifact_body;
use super::kube_api::{KubeApiServer, Kubelet, ServerConfig};
use super::kubelet::{PodScope, SimulatedKubelet};
use super::process::{STEP_TIMEOUT, SlipwayProcess, create_namespaces, free_port, secret_file};
use super::webhooks::{GENERIC_SECRET, SYNC_SECRET, now, standard_headers};

/// The app and environment of [`web_dev_repo`].
pub const WEB_DEV: (&str, &str) = ("web", "dev");
/// The namespace of [`web_dev_repo`]'s environment.
pub const WEB_DEV_NAMESPACE: &str = "web-dev";
/// The image of [`web_dev_repo`]'s app; the repo starts at tag `1.0.0`.
pub const WEB_IMAGE: &str = "ghcr.io/acme/web";

/// The deploy repo's files: app `web` in `dev` (namespace `web-dev`,
/// `apps/web/dev`, commit mode) rolled out with `strategy` (YAML flow), a
/// Deployment `web` of `replicas` on `ghcr.io/acme/web:1.0.0`, a Service
/// `web`, a policy allowing everything, and `extra` (top-level YAML, may be
/// empty) appended to slipway.yaml.
pub fn web_dev_repo(strategy: &str, replicas: i64, extra: &str) -> Vec<(&'static str, String)> {
    let namespace = WEB_DEV_NAMESPACE;
    let slipway_yaml = format!(
        "apps:\n  web:\n    image: {WEB_IMAGE}\n    environments:\n\
         \x20     - name: dev\n        path: apps/web/dev\n        namespace: {namespace}\n\
         \x20       mode: commit\n        rollout_timeout_seconds: 30\n\
         \x20       strategy: {strategy}\n{extra}"
    );
    let deployment = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: {namespace}\n\
         spec:\n  replicas: {replicas}\n  selector:\n    matchLabels: {{ app: web }}\n  template:\n\
         \x20   metadata:\n      labels: {{ app: web }}\n    spec:\n      containers:\n\
         \x20       - name: web\n          image: {WEB_IMAGE}:1.0.0\n"
    );
    let service = format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: {namespace}\n\
         spec:\n  selector: {{ app: web }}\n  ports: [{{ port: 80 }}]\n"
    );
    vec![
        ("slipway.yaml", slipway_yaml),
        (
            "policies/default.yaml",
            "apps: [\"*\"]\nenvironments: [\"*\"]\n".into(),
        ),
        ("apps/web/dev/deployment.yaml", deployment),
        ("apps/web/dev/service.yaml", service),
    ]
}

/// The deploy repo, the cluster and `slipway run`'s config and state.
pub struct RunWorld {
    pub dir: tempfile::TempDir,
    pub kube: Arc<KubeApiServer>,
    _kubelet: SimulatedKubelet,
    config: PathBuf,
    /// `http://127.0.0.1:PORT`: webhooks, the status API and `/metrics`.
    pub url: String,
    client: reqwest::Client,
}

impl RunWorld {
    /// A deploy repo with `files` on `main`, a test server whose pods become
    /// ready `rollout_delay` after a change, with `namespaces`, and the
    /// config of a run polling git every second (not started).
    pub async fn new(
        files: &[(&str, String)],
        namespaces: &[&str],
        rollout_delay: Duration,
    ) -> RunWorld {
        let dir = tempfile::tempdir().unwrap();
        let bare = dir.path().join("deploy.git");
        let files: Vec<(&str, &str)> = files.iter().map(|(p, c)| (*p, c.as_str())).collect();
        create_bare_repo(&bare, "main", &files).unwrap();
        let kube = KubeApiServer::start_with(ServerConfig {
            rollout_delay,
            kubelet: Kubelet::External,
            ..ServerConfig::default()
        })
        .await
        .unwrap();
        let kubelet = SimulatedKubelet::start(kube.config().unwrap(), rollout_delay, PodScope::All)
            .await
            .unwrap();
        create_namespaces(&kube, namespaces).await;
        let port = free_port();
        let text = format!(
            "listen: 127.0.0.1:{port}\nstate_dir: {state}\n\
             webhooks:\n  generic: {{ secrets: [ {{ file: {gen} }} ] }}\n  sync: {{ secrets: [ {{ file: {ev} }} ] }}\n\
             deploy_repo: {{ url: {bare}, branch: main }}\n\
             sync:\n  kubeconfig: {kubeconfig}\n  poll_interval_seconds: 1\n  rollout_poll_millis: 50\n\
             \x20 report_url: 'http://127.0.0.1:{port}/hooks/rollouts'\n  report_secret: {{ file: {ev} }}\n",
            state = dir.path().join("state").display(),
            gen = secret_file(dir.path(), "generic", GENERIC_SECRET),
            ev = secret_file(dir.path(), "event", SYNC_SECRET),
            bare = bare.display(),
            kubeconfig = kube.kubeconfig_path().display(),
        );
        let config = dir.path().join("run.yaml");
        std::fs::write(&config, text).unwrap();
        RunWorld {
            dir,
            kube: Arc::new(kube),
            _kubelet: kubelet,
            config,
            url: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
        }
    }

    /// [`web_dev_repo`] with `strategy` (2 replicas), its namespace, and pods
    /// ready `rollout_delay` after a change (not started).
    pub async fn web_dev(strategy: &str, rollout_delay: Duration) -> RunWorld {
        let files = web_dev_repo(strategy, 2, "");
        RunWorld::new(&files, &[WEB_DEV_NAMESPACE], rollout_delay).await
    }

    /// Start `slipway run` on the world's config and state (again after a kill).
    pub fn start(&self) -> SlipwayProcess {
        let home = self.dir.path().display().to_string();
        SlipwayProcess::start(
            &["run", "--config", self.config.to_str().unwrap()],
            &[("HOME", &home)],
            self.dir.path(),
        )
    }

    /// `GET /api/v1/apps/{app}/{env}`; null while nothing answers.
    pub async fn status(&self, app: &str, env: &str) -> Value {
        let url = format!("{}/api/v1/apps/{app}/{env}", self.url);
        match self.client.get(url).send().await {
            Ok(response) if response.status().is_success() => {
                response.json().await.unwrap_or(Value::Null)
            }
            _ => Value::Null,
        }
    }

    /// Poll `app`/`env`'s status every 10 ms until `check` holds; the status then.
    pub async fn until(
        &self,
        (app, env): (&str, &str),
        what: &str,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
        loop {
            let status = self.status(app, env).await;
            if check(&status) {
                return status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}; last status: {status}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// A signed generic webhook announcing `ghcr.io/acme/<app>:<tag>`.
    pub async fn deliver(&self, id: &str, app: &str, tag: &str) {
        let body = artifact_body(app, tag).into_bytes();
        let mut request = self
            .client
            .post(format!("{}/hooks/generic", self.url))
            .header("content-type", "application/json");
        for (name, value) in standard_headers(GENERIC_SECRET, id, now(), &body) {
            request = request.header(name, value);
        }
        let response = request.body(body).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 202, "delivery {id}");
    }

    /// Run `slipway <args> --url <the run>`, which must succeed; its stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let output = self.cli_output(args);
        assert!(
            output.status.success(),
            "slipway {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Run the CLI against the run's API, whatever it answers.
    pub fn cli_output(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_slipway"))
            .args(args)
            .args(["--url", &self.url])
            .env("NO_COLOR", "1")
            .current_dir(self.dir.path())
            .output()
            .unwrap()
    }
}
