//! A real Prometheus for tests: the `prometheus` binary (Debian's
//! `prometheus` package, which `.ci/run` installs; `$PROMETHEUS` names
//! another) started on 127.0.0.1 with its own storage in a temporary
//! directory, scraping every second a small in-test target whose metric
//! values the test sets. Only the binary runs; no system service is used.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;

/// How long Prometheus may take to answer `/-/ready`.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the target is scraped.
pub const SCRAPE_INTERVAL: &str = "1s";

/// A `/metrics` endpoint on 127.0.0.1 serving the series the test sets.
pub struct MetricsTarget {
    /// `127.0.0.1:PORT`.
    pub address: String,
    series: Arc<Mutex<BTreeMap<String, f64>>>,
    task: tokio::task::JoinHandle<()>,
}

impl MetricsTarget {
    /// Start serving an empty `/metrics`.
    pub async fn start() -> MetricsTarget {
        let series = Arc::new(Mutex::new(BTreeMap::new()));
        let app = Router::new()
            .route("/metrics", get(exposition))
            .with_state(series.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.ok();
        });
        MetricsTarget {
            address,
            series,
            task,
        }
    }

    /// Set a gauge series, written as in the exposition format:
    /// `canary_error_ratio{app="web",revision="abc"}`.
    pub fn set(&self, series: &str, value: f64) {
        self.series
            .lock()
            .unwrap()
            .insert(series.to_string(), value);
    }
}

impl Drop for MetricsTarget {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The text exposition format (version 0.0.4), every series untyped.
async fn exposition(
    State(series): State<Arc<Mutex<BTreeMap<String, f64>>>>,
) -> ([(&'static str, &'static str); 1], String) {
    let body: String = series
        .lock()
        .unwrap()
        .iter()
        .map(|(name, value)| format!("{name} {value}\n"))
        .collect();
    (
        [("content-type", "text/plain; version=0.0.4; charset=utf-8")],
        body,
    )
}

/// A running Prometheus scraping one target; killed when dropped.
pub struct Prometheus {
    /// Base URL of its HTTP API: `http://127.0.0.1:PORT`.
    pub url: String,
    child: Child,
    dir: tempfile::TempDir,
}

impl Prometheus {
    /// Start Prometheus scraping `target` every [`SCRAPE_INTERVAL`] and wait
    /// until it is ready.
    pub async fn start(target: &MetricsTarget) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: {SCRAPE_INTERVAL}\n  scrape_timeout: {SCRAPE_INTERVAL}\n  evaluation_interval: {SCRAPE_INTERVAL}\nscrape_configs:\n  - job_name: target\n    static_configs:\n      - targets: ['{}']\n",
                target.address
            ),
        )
        .unwrap();
        let port = super::process::free_port();
        let binary = std::env::var("PROMETHEUS").unwrap_or_else(|_| "prometheus".into());
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new(&binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("start {binary} ({e}); install Debian's prometheus package, as .ci/run does")
            });
        let mut prometheus = Prometheus {
            url: format!("http://127.0.0.1:{port}"),
            child,
            dir,
        };
        prometheus.wait_ready().await;
        prometheus
    }

    async fn wait_ready(&mut self) {
        let client = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("prometheus exited with {status}: {}", self.log());
            }
            let ready = client.get(format!("{}/-/ready", self.url)).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "prometheus not ready after {READY_TIMEOUT:?}: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Wait until the target was scraped once: Prometheus' discovery starts
    /// the first scrape a few seconds after it is ready.
    pub async fn until_scraped(&self) {
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        let url = format!("{}/api/v1/query?query=up", self.url);
        loop {
            let answer: serde_json::Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
            if answer["data"]["result"][0]["value"][1] == "1" {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "never scraped: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// What Prometheus wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}
