//! `slipway run` (receive and sync in one process) over a local deploy repo
//! whose app `web` rolls out blue-green in `dev`, against the Kubernetes API
//! test server: start it, read its status API, send signed webhooks, run the
//! CLI against it and look at the colours in the cluster.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use slipway::bootstrap::create_bare_repo;

use crate::support::colours::{Colours, TrafficLog};
use crate::support::fleet::artifact_body;
use crate::support::kube_api::{KubeApiServer, ServerConfig};
use crate::support::process::{
    STEP_TIMEOUT, SlipwayProcess, create_namespaces, free_port, secret_file,
};
use crate::support::webhooks::{GENERIC_SECRET, SYNC_SECRET, now, standard_headers};

pub const NAMESPACE: &str = "web-dev";
pub const COLOURS: Colours = Colours {
    namespace: NAMESPACE,
    service: "web",
};
pub const AUTO: &str = "{blue_green: {services: [web], drain_seconds: 2}}";
pub const MANUAL: &str = "{blue_green: {services: [web], drain_seconds: 2, auto_promote: false}}";

/// The deploy repo: app `web` in `dev`, rolled out with `strategy`.
pub fn deploy_repo(bare: &Path, strategy: &str) {
    let slipway_yaml = format!(
        "apps:\n  web:\n    image: ghcr.io/acme/web\n    environments:\n\
         \x20     - name: dev\n        path: apps/web/dev\n        namespace: {NAMESPACE}\n\
         \x20       mode: commit\n        rollout_timeout_seconds: 30\n        strategy: {strategy}\n"
    );
    let deployment = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: {NAMESPACE}\n\
         spec:\n  replicas: 2\n  selector:\n    matchLabels: {{ app: web }}\n  template:\n\
         \x20   metadata:\n      labels: {{ app: web }}\n    spec:\n      containers:\n\
         \x20       - name: web\n          image: ghcr.io/acme/web:1.0.0\n"
    );
    let service = format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: {NAMESPACE}\n\
         spec:\n  selector: {{ app: web }}\n  ports: [{{ port: 80 }}]\n"
    );
    let files = [
        ("slipway.yaml", slipway_yaml.as_str()),
        (
            "policies/default.yaml",
            "apps: [\"*\"]\nenvironments: [\"*\"]\n",
        ),
        ("apps/web/dev/deployment.yaml", deployment.as_str()),
        ("apps/web/dev/service.yaml", service.as_str()),
    ];
    create_bare_repo(bare, "main", &files).unwrap();
}

/// The deploy repo, the cluster and `slipway run`'s config and state.
pub struct World {
    pub dir: tempfile::TempDir,
    pub kube: Arc<KubeApiServer>,
    config: PathBuf,
    pub url: String,
    client: reqwest::Client,
}

/// The deploy repo, the cluster and `slipway run`'s config (not started).
pub async fn world(strategy: &str, rollout_delay: Duration) -> World {
    let dir = tempfile::tempdir().unwrap();
    let bare = dir.path().join("deploy.git");
    deploy_repo(&bare, strategy);
    let kube = KubeApiServer::start_with(ServerConfig {
        rollout_delay,
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    create_namespaces(&kube, &[NAMESPACE]).await;
    let port = free_port();
    let text = format!(
        "listen: 127.0.0.1:{port}\nstate_dir: {state}\n\
         webhooks:\n  generic: {{ secrets: [ {{ file: {gen} }} ] }}\n  sync: {{ secrets: [ {{ file: {ev} }} ] }}\n\
         deploy_repo: {{ url: {bare}, branch: main }}\n\
         sync:\n  kubeconfig: {kubeconfig}\n  poll_interval_seconds: 1\n  rollout_poll_millis: 50\n",
        state = dir.path().join("state").display(),
        gen = secret_file(dir.path(), "generic", GENERIC_SECRET),
        ev = secret_file(dir.path(), "event", SYNC_SECRET),
        bare = bare.display(),
        kubeconfig = kube.kubeconfig_path().display(),
    );
    let config = dir.path().join("run.yaml");
    std::fs::write(&config, text).unwrap();
    World {
        dir,
        kube: Arc::new(kube),
        config,
        url: format!("http://127.0.0.1:{port}"),
        client: reqwest::Client::new(),
    }
}

impl World {
    /// Start `slipway run` on the world's config and state.
    pub fn start(&self) -> SlipwayProcess {
        let home = self.dir.path().display().to_string();
        SlipwayProcess::start(
            &["run", "--config", self.config.to_str().unwrap()],
            &[("HOME", &home)],
            self.dir.path(),
        )
    }

    /// `GET /api/v1/apps/web/dev`; null while nothing answers.
    pub async fn status(&self) -> Value {
        let url = format!("{}/api/v1/apps/web/dev", self.url);
        match self.client.get(url).send().await {
            Ok(response) if response.status().is_success() => {
                response.json().await.unwrap_or(Value::Null)
            }
            _ => Value::Null,
        }
    }

    /// Poll the status every 10 ms until `check` holds; the status then.
    pub async fn until(&self, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
        loop {
            let status = self.status().await;
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

    /// Nothing in flight and the verified colour serving (not `previous`).
    pub async fn until_promoted(&self, previous: &str) -> String {
        let status = self
            .until("a new colour promoted", |s| {
                s["state"] == "verified"
                    && s["rollout"]["phase"] == "idle"
                    && stable(s).is_some_and(|r| r != previous)
            })
            .await;
        stable(&status).unwrap().to_string()
    }

    /// A signed generic webhook announcing `ghcr.io/acme/web:<tag>`.
    pub async fn deliver(&self, id: &str, tag: &str) {
        let body = artifact_body("web", tag).into_bytes();
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

    /// Run the CLI against the run's API.
    pub fn cli(&self, args: &[&str]) -> Output {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_slipway"))
            .args(args)
            .args(["--url", &self.url])
            .env("NO_COLOR", "1")
            .current_dir(self.dir.path())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "slipway {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// Record what the Service selects every 5 ms.
    pub fn watch(&self) -> (TrafficLog, tokio::task::JoinHandle<()>) {
        let kube = self.kube.clone();
        TrafficLog::watch(move || COLOURS.observe(&kube, "web"))
    }

    /// Exactly one colour: `want` is the only Deployment, the Service selects
    /// it and the record has nothing in flight.
    pub async fn exactly_one_colour(&self, want: &str, case: &str) {
        assert_eq!(
            COLOURS.serving(&self.kube).as_deref(),
            Some(want),
            "{case}: the Service selects the colour"
        );
        assert_eq!(
            COLOURS.deployments(&self.kube),
            [format!("web-{want}")],
            "{case}: one Deployment, no stale colour"
        );
        let status = self.status().await;
        assert_eq!(status["rollout"]["phase"], "idle", "{case}: {status}");
        assert!(status["rollout"]["candidate"].is_null(), "{case}: {status}");
    }
}

/// The serving colour's revision in a status.
pub fn stable(status: &Value) -> Option<&str> {
    status["rollout"]["stable"]["revision"].as_str()
}

/// The new colour's revision in a status.
pub fn candidate(status: &Value) -> String {
    let revision = status["rollout"]["candidate"]["revision"].as_str();
    revision.expect("a candidate in flight").to_string()
}

/// The image of Deployment `name`.
pub fn image(kube: &KubeApiServer, name: &str) -> String {
    let live = kube.get_object("apps/v1", "Deployment", Some(NAMESPACE), name);
    let live = live.unwrap_or_default();
    let image = &live["spec"]["template"]["spec"]["containers"][0]["image"];
    image.as_str().unwrap_or_default().to_string()
}

/// Start, and wait for the first colour: it serves at once (nothing served
/// before, so there is no promote to wait for).
pub async fn first_colour(world: &World) -> (SlipwayProcess, String) {
    let process = world.start();
    let first = world.until_promoted("").await;
    world.exactly_one_colour(&first, "the first deploy").await;
    (process, first)
}
