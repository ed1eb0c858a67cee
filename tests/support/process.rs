//! Runs the real `slipway` binary as a child process, finds the address it
//! bound from its log (text or `--log-json`) and keeps every log line.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// How long a child may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `slipway` process; killed when dropped.
pub struct SlipwayProcess {
    pub child: Child,
    pub address: String,
    /// Every line it wrote to stderr so far.
    pub log: Arc<Mutex<Vec<String>>>,
}

/// The bound address in a log line: `address=...` in text, `"address"` in JSON.
fn address_in(line: &str) -> Option<String> {
    if let Some(rest) = line.split("address=").nth(1) {
        return rest.split_whitespace().next().map(String::from);
    }
    let json: serde_json::Value = serde_json::from_str(line).ok()?;
    json["fields"]["address"].as_str().map(String::from)
}

impl SlipwayProcess {
    /// Start `slipway <args>` and wait for the log line naming the address.
    pub fn start(args: &[&str], envs: &[(&str, &str)], cwd: &Path) -> SlipwayProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_slipway"))
            .args(args)
            .envs(envs.iter().copied())
            .env("SLIPWAY_LOG", "info")
            .env("NO_COLOR", "1")
            .current_dir(cwd)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn slipway");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let kept = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(address) = address_in(&line) {
                    let _ = tx.send(address);
                }
                if std::env::var_os("SLIPWAY_TEST_ECHO").is_some() {
                    eprintln!("[slipway] {line}");
                }
                kept.lock().unwrap().push(line);
            }
        });
        let address = rx
            .recv_timeout(START_TIMEOUT)
            .unwrap_or_else(|_| panic!("slipway {args:?} did not start listening"));
        SlipwayProcess {
            child,
            address,
            log,
        }
    }

    /// The log lines written so far.
    pub fn log_lines(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// SIGTERM, then wait for the process to exit, as Kubernetes stops a pod.
    pub fn terminate(&mut self) -> ExitStatus {
        let signalled = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(signalled.success(), "kill -TERM {}", self.child.id());
        self.child.wait().expect("wait for slipway")
    }

    /// `http://address`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// SIGKILL: no shutdown handler runs.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for SlipwayProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Longest wait for any one step of a run.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(60);

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Poll `check` until it returns Some, or fail naming `what` after
/// [`STEP_TIMEOUT`].
pub async fn eventually<T>(what: &str, check: impl AsyncFnMut() -> Option<T>) -> T {
    eventually_within(STEP_TIMEOUT, what, check).await
}

/// Poll `check` until it returns Some, or fail naming `what` after `limit`.
pub async fn eventually_within<T>(
    limit: Duration,
    what: &str,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Write a secret into `dir/name` for a config to name; the path.
pub fn secret_file(dir: &Path, name: &str, value: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, value).unwrap();
    path.display().to_string()
}

/// Create the namespaces a run deploys into on the Kubernetes API test server.
pub async fn create_namespaces(kube: &super::kube_api::KubeApiServer, names: &[&str]) {
    let client = kube.client().unwrap();
    for name in names {
        create_namespace(&client, name, &[]).await;
    }
}

/// Create namespace `name` with `labels` through `client`.
pub async fn create_namespace(client: &kube::Client, name: &str, labels: &[(&str, &str)]) {
    let labels: serde_json::Map<String, serde_json::Value> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
        .collect();
    let namespace = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}
    }))
    .unwrap();
    kube::Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone())
        .create(&Default::default(), &namespace)
        .await
        .unwrap_or_else(|e| panic!("create namespace {name}: {e}"));
}
