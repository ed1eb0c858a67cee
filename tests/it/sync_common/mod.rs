//! Helpers shared by the sync tests: a deploy repo in a temp dir, and a
//! sync context around it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use slipway::deployrepo::settings::{Author, DeployRepoSettings};
use slipway::store::Store;
use slipway::sync::cluster::ClusterTarget;
use slipway::sync::lock::RolloutLocks;
use slipway::sync::metrics::SyncMetrics;
use slipway::sync::reconcile::SyncContext;
use slipway::sync::render::Renderer;
use slipway::sync::report::Reporter;
use slipway::sync::runner::SyncLoop;
use slipway::sync::source::DeployRepoSource;

/// A git repository playing the deploy repo.
pub struct DeployRepo {
    pub dir: tempfile::TempDir,
}

impl DeployRepo {
    /// A repo with `files` committed on `main`.
    pub fn new(files: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        git(dir.path(), &["init", "-q", "-b", "main"]);
        let repo = DeployRepo { dir };
        repo.commit(files, "initial");
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Write `files` (an empty content deletes the file) and commit; return the commit id.
    pub fn commit(&self, files: &[(&str, &str)], message: &str) -> String {
        for (path, content) in files {
            let full = self.dir.path().join(path);
            if content.is_empty() {
                let _ = std::fs::remove_file(&full);
                continue;
            }
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(&full, content).unwrap();
        }
        git(self.dir.path(), &["add", "-A"]);
        git(
            self.dir.path(),
            &[
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "commit",
                "-q",
                "--allow-empty",
                "-m",
                message,
            ],
        );
        self.head()
    }

    /// Commit Deployment `web` in `envs/dev/web.yaml` running `image`
    /// (see [`deployment`]); return the commit id.
    pub fn set_web_image(&self, image: &str, message: &str) -> String {
        self.commit(&[("envs/dev/web.yaml", &deployment("web", image))], message)
    }

    pub fn head(&self) -> String {
        let out = Command::new("git")
            .args(["rev-parse", "HEAD"])
            .current_dir(self.dir.path())
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    pub fn settings(&self) -> DeployRepoSettings {
        DeployRepoSettings {
            url: format!("file://{}", self.dir.path().display()),
            branch: "main".into(),
            credentials: None,
            author: Author::default(),
        }
    }
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(args)
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

/// A sync loop over `repo` with its own state dir.
pub struct Harness {
    pub state: tempfile::TempDir,
    pub store: Store,
    pub ctx: SyncContext,
    pub sync: SyncLoop,
}

impl Harness {
    pub fn new(repo: &DeployRepo, cluster: ClusterTarget, reporter: Option<Reporter>) -> Self {
        Self::with_locks(repo, cluster, reporter, RolloutLocks::new(None))
    }

    pub fn with_locks(
        repo: &DeployRepo,
        cluster: ClusterTarget,
        reporter: Option<Reporter>,
        locks: RolloutLocks,
    ) -> Self {
        let state = tempfile::tempdir().unwrap();
        let store = Store::open(state.path()).unwrap();
        let ctx = SyncContext {
            store: store.clone(),
            source: DeployRepoSource::new(state.path(), &repo.settings()),
            cluster,
            reporter,
            metrics: SyncMetrics::default(),
            rollout_poll: Duration::from_millis(50),
            pod_limits: Default::default(),
            retries: Default::default(),
            rollouts: Default::default(),
            renderer: Renderer::new(&Default::default()),
        };
        let sync = SyncLoop::new(ctx.clone(), locks, Duration::from_secs(3600), 4);
        Harness {
            state,
            store,
            ctx,
            sync,
        }
    }

    pub fn state_dir(&self) -> PathBuf {
        self.state.path().to_path_buf()
    }

    /// A harness on the cluster `client` reaches, reporting to a stand-in for `receive`.
    pub async fn reporting(repo: &DeployRepo, client: kube::Client) -> (Self, ReportInbox) {
        let cluster = ClusterTarget::Kube(slipway::sync::cluster::KubeCluster::new(client));
        let (inbox, url) = ReportInbox::start().await;
        (Harness::new(repo, cluster, Some(reporter(&url))), inbox)
    }

    /// The status of `web`/`dev`, the target the sync tests use.
    pub async fn status(&self) -> slipway::store::sync_state::TargetStatus {
        self.store
            .sync_status("web", "dev")
            .await
            .unwrap()
            .expect("web/dev was synced")
    }
}

/// `slipway.yaml` with one app `web` whose `dev` environment is `envs/dev` in namespace `web-dev`.
pub const SLIPWAY_YAML: &str = "
apps:
  web:
    image: ghcr.io/acme/web
    environments:
      - { name: dev, path: envs/dev, namespace: web-dev, rollout_timeout_seconds: 5 }
";

pub fn deployment(name: &str, image: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: 2
  selector:
    matchLabels: {{ app: {name} }}
  template:
    metadata:
      labels: {{ app: {name} }}
    spec:
      containers:
        - name: {name}
          image: {image}
"
    )
}

pub fn config_map(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  key: \"{value}\"\n"
    )
}

/// Reports received by a stand-in for `receive`, checked against the secret.
#[derive(Clone, Default)]
pub struct ReportInbox {
    pub reports: std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
}

/// The Standard Webhooks secret reports are signed with in tests.
pub const REPORT_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

impl ReportInbox {
    /// Serve on 127.0.0.1; reports with a bad signature are answered 401 and not kept.
    pub async fn start() -> (Self, String) {
        use axum::routing::post;
        let inbox = ReportInbox::default();
        let kept = inbox.clone();
        let app = axum::Router::new().route(
            "/hooks/sync",
            post(move |headers: http::HeaderMap, body: axum::body::Bytes| {
                let kept = kept.clone();
                async move {
                    let verifier = standardwebhooks::Webhook::new(REPORT_SECRET).unwrap();
                    if verifier.verify(&body, &headers).is_err() {
                        return http::StatusCode::UNAUTHORIZED;
                    }
                    kept.reports
                        .lock()
                        .unwrap()
                        .push(serde_json::from_slice(&body).unwrap());
                    http::StatusCode::ACCEPTED
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks/sync", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (inbox, url)
    }

    pub fn verdicts(&self) -> Vec<String> {
        self.reports
            .lock()
            .unwrap()
            .iter()
            .map(|r| r["verdict"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    pub fn last(&self) -> serde_json::Value {
        self.reports
            .lock()
            .unwrap()
            .last()
            .cloned()
            .unwrap_or_default()
    }
}

pub fn reporter(url: &str) -> Reporter {
    Reporter::new(url, &slipway::secret::Secret::new(REPORT_SECRET)).unwrap()
}

/// How long a test waits for sync's watch-fed cache to see a change it made.
pub const CACHE_WAIT: Duration = Duration::from_secs(5);

impl Harness {
    /// The cluster sync reaches.
    pub fn cluster(&self) -> slipway::sync::cluster::KubeCluster {
        match &self.ctx.cluster {
            ClusterTarget::Kube(cluster) => cluster.clone(),
            ClusterTarget::PlanOnly => panic!("the harness has no cluster"),
        }
    }

    /// Wait until sync's watch-fed cache holds resourceVersion `version` of
    /// `web`/`dev`'s object `kind` `name` in `namespace`: the watch event of
    /// a change the test made arrived, as it does before the pass that
    /// event starts.
    pub async fn until_cached(
        &self,
        (api_version, kind): (&str, &str),
        (namespace, name): (&str, &str),
        version: &str,
    ) {
        let cluster = self.cluster();
        let deadline = tokio::time::Instant::now() + CACHE_WAIT;
        loop {
            let live = cluster
                .owned_live(api_version, kind, Some(namespace), ("web", "dev"))
                .await
                .unwrap();
            let cached = live
                .get(name)
                .and_then(|o| o.pointer("/metadata/resourceVersion"))
                .and_then(serde_json::Value::as_str);
            if cached == Some(version) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the cache never saw {kind} {name} at {version}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// `slipway.yaml` with one app `web` applying Namespaces and Deployments,
/// its `dev` environment `envs/dev` in namespace `web-dev`, with a 3 s
/// rollout deadline.
pub const SLIPWAY_WEB_DEPLOYMENT: &str = "
apps:
  web:
    image: ghcr.io/acme/web
    kinds: [Namespace, Deployment]
    environments:
      - { name: dev, path: envs/dev, namespace: web-dev, rollout_timeout_seconds: 3 }
";

/// A deploy repo of [`SLIPWAY_WEB_DEPLOYMENT`]: namespace `web-dev` and
/// Deployment `web` running `image`.
pub fn web_repo(image: &str) -> DeployRepo {
    DeployRepo::new(&[
        ("slipway.yaml", SLIPWAY_WEB_DEPLOYMENT),
        (
            "envs/dev/ns.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: web-dev}\n",
        ),
        ("envs/dev/web.yaml", &deployment("web", image)),
    ])
}
