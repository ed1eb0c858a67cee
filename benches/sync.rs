//! Sync figures: 100 apps, 1,000 objects, then one image changed, then a
//! pass with nothing changed. Prints the API requests and wall time of
//! Slipway's sync of the change and of the no-op pass (whose reads come from
//! its watch-fed cache), side by side with `kubectl apply --server-side -R
//! -f` of the same tree. Each tool gets
//! its own fresh instance of the API test server and the same steps: apply
//! the first tree (not measured), then apply the tree with one image changed
//! (measured).
//!
//! Run: `cargo bench --bench sync`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use slipway::deployrepo::settings::{Author, DeployRepoSettings};
use slipway::store::Store;
use slipway::sync::cluster::{ClusterTarget, KubeCluster};
use slipway::sync::lock::RolloutLocks;
use slipway::sync::metrics::SyncMetrics;
use slipway::sync::reconcile::SyncContext;
use slipway::sync::runner::SyncLoop;
use slipway::sync::source::DeployRepoSource;
use support::kube_api::{KubeApiServer, ServerConfig, Stats, Verb};

const APPS: usize = 100;
const CONFIG_MAPS_PER_APP: usize = 8;
const KUBECTL: &str = "/usr/bin/kubectl";
const PARALLEL: usize = 8;

fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .args(args)
        .current_dir(dir)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "git {args:?}");
}

fn commit(dir: &Path, message: &str) {
    git(dir, &["add", "-A"]);
    git(
        dir,
        &[
            "-c",
            "user.name=bench",
            "-c",
            "user.email=b@b",
            "commit",
            "-q",
            "-m",
            message,
        ],
    );
}

/// One app's manifests: its namespace, a Deployment and some ConfigMaps.
fn app_manifests(app: usize, tag: &str) -> String {
    let ns = format!("app-{app:03}");
    let mut text = format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n");
    text.push_str(&format!(
        "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: {ns}\nspec:\n  replicas: 2\n  \
         selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n    spec:\n      \
         containers:\n        - name: web\n          image: ghcr.io/acme/app-{app:03}:{tag}\n"
    ));
    for c in 0..CONFIG_MAPS_PER_APP {
        text.push_str(&format!(
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config-{c}\n  namespace: {ns}\ndata:\n  key: value-{c}\n"
        ));
    }
    text
}

fn write_tree(dir: &Path) {
    let mut slipway = String::from("apps:\n");
    for app in 0..APPS {
        slipway.push_str(&format!(
            "  app-{app:03}:\n    image: ghcr.io/acme/app-{app:03}\n    kinds: [Namespace, Deployment, ConfigMap]\n    \
             environments:\n      - {{ name: prod, path: envs/app-{app:03}, namespace: app-{app:03} }}\n"
        ));
        let path = dir.join(format!("envs/app-{app:03}"));
        std::fs::create_dir_all(&path).unwrap();
        std::fs::write(path.join("app.yaml"), app_manifests(app, "1.0.0")).unwrap();
    }
    std::fs::write(dir.join("slipway.yaml"), slipway).unwrap();
}

fn change_one_image(dir: &Path) {
    std::fs::write(
        dir.join("envs/app-042/app.yaml"),
        app_manifests(42, "1.0.1"),
    )
    .unwrap();
}

fn server_config() -> ServerConfig {
    ServerConfig {
        rollout_delay: Duration::from_millis(10),
        ..ServerConfig::default()
    }
}

fn print_row(tool: &str, stats: &Stats, wall: Duration) {
    println!(
        "{tool:<28} {:>8} {:>6} {:>6} {:>6} {:>6} {:>9} {:>10.1}",
        stats.total,
        stats.verb(Verb::Discovery),
        stats.verb(Verb::Get),
        stats.verb(Verb::List),
        stats.verb(Verb::Apply),
        stats.writes(),
        wall.as_secs_f64() * 1000.0
    );
}

/// Stats and wall time of one measured run.
type Measured = (Stats, Duration);

async fn slipway_run(repo: &Path) -> [Measured; 3] {
    let server = KubeApiServer::start_with(server_config()).await.unwrap();
    let state = tempfile::tempdir().unwrap();
    let settings = DeployRepoSettings {
        url: format!("file://{}", repo.display()),
        branch: "main".into(),
        credentials: None,
        author: Author::default(),
    };
    let ctx = SyncContext {
        store: Store::open(state.path()).unwrap(),
        source: DeployRepoSource::new(state.path(), &settings),
        cluster: ClusterTarget::Kube(KubeCluster::new(server.client().unwrap())),
        reporter: None,
        metrics: SyncMetrics::default(),
        rollout_poll: Duration::from_millis(20),
        pod_limits: Default::default(),
        retries: Default::default(),
        rollouts: Default::default(),
        renderer: slipway::sync::render::Renderer::new(&Default::default()),
    };
    let sync = SyncLoop::new(
        ctx,
        RolloutLocks::new(None),
        Duration::from_secs(3600),
        PARALLEL,
    );
    let started = Instant::now();
    sync.sync_once().await.unwrap();
    let first = (server.stats(), started.elapsed());
    change_one_image(repo);
    commit(repo, "bump app-042");
    server.reset_stats();
    let started = Instant::now();
    sync.sync_once().await.unwrap();
    let changed = (server.stats(), started.elapsed());
    server.reset_stats();
    let started = Instant::now();
    sync.sync_once().await.unwrap();
    [first, changed, (server.stats(), started.elapsed())]
}

fn kubectl_apply(server: &KubeApiServer, tree: &Path) -> Duration {
    let started = Instant::now();
    let out = Command::new(KUBECTL)
        .arg("--kubeconfig")
        .arg(server.kubeconfig_path())
        .args(["apply", "--server-side", "--force-conflicts", "-R", "-f"])
        .arg(tree)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    started.elapsed()
}

async fn kubectl_run(tree: &Path) -> (Stats, Duration, Stats, Duration) {
    let server = KubeApiServer::start_with(server_config()).await.unwrap();
    let server = std::sync::Arc::new(server);
    let (s, t) = (server.clone(), tree.to_path_buf());
    let first_wall = tokio::task::spawn_blocking(move || kubectl_apply(&s, &t))
        .await
        .unwrap();
    let first = server.stats();
    change_one_image(tree.parent().unwrap());
    server.reset_stats();
    let (s, t) = (server.clone(), tree.to_path_buf());
    let wall = tokio::task::spawn_blocking(move || kubectl_apply(&s, &t))
        .await
        .unwrap();
    (first, first_wall, server.stats(), wall)
}

#[tokio::main]
async fn main() {
    let repo = tempfile::tempdir().unwrap();
    git(repo.path(), &["init", "-q", "-b", "main"]);
    write_tree(repo.path());
    commit(repo.path(), "initial");
    let objects = APPS * (CONFIG_MAPS_PER_APP + 2);
    println!("sync benchmark: {APPS} apps, {objects} objects; then one image changed");
    println!(
        "{:<28} {:>8} {:>6} {:>6} {:>6} {:>6} {:>9} {:>10}",
        "run", "requests", "disc", "get", "list", "apply", "writes", "wall ms"
    );
    let [first, changed, unchanged] = slipway_run(repo.path()).await;
    print_row("slipway: first sync", &first.0, first.1);
    print_row("slipway: one image changed", &changed.0, changed.1);
    print_row("slipway: nothing changed", &unchanged.0, unchanged.1);

    let kubectl_tree = tempfile::tempdir().unwrap();
    write_tree(kubectl_tree.path());
    if Path::new(KUBECTL).exists() {
        let (first, first_wall, changed, wall) =
            kubectl_run(&kubectl_tree.path().join("envs")).await;
        print_row("kubectl: first apply", &first, first_wall);
        print_row("kubectl: one image changed", &changed, wall);
    } else {
        println!("kubectl not found at {KUBECTL}: its rows are left out");
    }
}
