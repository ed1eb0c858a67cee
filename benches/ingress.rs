//! Ingress benchmark: starts the real `slipway receive` process with its
//! durable inbox (SQLite, WAL, synchronous=FULL) and drives it from this
//! separate process over loopback with signed 7 KB GitHub push deliveries on
//! keep-alive connections. Prints accepted deliveries per second and the
//! p50/p99/max latency seen by the client. Only 127.0.0.1 is contacted.
//!
//! `cargo bench --bench ingress` (env: `INGRESS_DELIVERIES`, `INGRESS_CONNECTIONS`).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use slipway::webhook::signature::sign_hub;

const SECRET: &str = "ingress-bench-secret";
const DEFAULT_DELIVERIES: usize = 20_000;
const DEFAULT_CONNECTIONS: usize = 32;
const WARMUP: usize = 500;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn start_server(dir: &std::path::Path) -> (std::process::Child, String) {
    std::fs::write(dir.join("secret"), SECRET).unwrap();
    let config = format!(
        "listen: 127.0.0.1:0\nstate_dir: {}\nwebhooks:\n  github: {{ secrets: [ {{ file: {} }} ] }}\n",
        dir.join("state").display(),
        dir.join("secret").display()
    );
    std::fs::write(dir.join("config.yaml"), config).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_slipway"))
        .args(["receive", "--config"])
        .arg(dir.join("config.yaml"))
        .env("SLIPWAY_LOG", "warn,slipway=info")
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start slipway receive");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let address = loop {
        let line = lines
            .next()
            .expect("slipway exited before listening")
            .unwrap();
        if let Some(rest) = line.split("address=").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    // Keep draining the log so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, address)
}

async fn connection(
    address: String,
    body: Bytes,
    ids: std::ops::Range<usize>,
    tag: usize,
) -> Vec<Duration> {
    let stream = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connect");
    stream.set_nodelay(true).unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let signature = sign_hub(SECRET, &body);
    let mut latencies = Vec::with_capacity(ids.len());
    for n in ids {
        let request = Request::post("/hooks/github")
            .header("host", address.as_str())
            .header("content-type", "application/json")
            .header("x-github-event", "push")
            .header("x-github-delivery", format!("bench-{tag}-{n}"))
            .header("x-hub-signature-256", signature.as_str())
            .body(Full::new(body.clone()))
            .unwrap();
        let started = Instant::now();
        let response = sender.send_request(request).await.expect("request");
        let status = response.status();
        response.into_body().collect().await.expect("body");
        latencies.push(started.elapsed());
        assert_eq!(status, 202, "delivery not accepted");
    }
    latencies
}

async fn run(
    address: &str,
    body: &Bytes,
    total: usize,
    connections: usize,
    tag: usize,
) -> (Duration, Vec<Duration>) {
    let per = total / connections;
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|c| {
            tokio::spawn(connection(
                address.to_string(),
                body.clone(),
                c * per..(c + 1) * per,
                tag,
            ))
        })
        .collect();
    let mut latencies = Vec::with_capacity(total);
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    (started.elapsed(), latencies)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn main() {
    let total = env_usize("INGRESS_DELIVERIES", DEFAULT_DELIVERIES);
    let connections = env_usize("INGRESS_CONNECTIONS", DEFAULT_CONNECTIONS).max(1);
    let body = Bytes::from(
        std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/webhooks/github/push.tag.json"
        ))
        .unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let (mut child, address) = start_server(dir.path());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        run(&address, &body, WARMUP, connections.min(WARMUP), 0).await;
        let (elapsed, mut latencies) = run(&address, &body, total, connections, 1).await;
        latencies.sort();
        let sent = latencies.len();
        println!("ingress: {sent} signed GitHub push deliveries of {} bytes, {connections} keep-alive connections, durable inbox (fsync per group commit)", body.len());
        println!("  throughput: {:.0} accepted deliveries/s ({:.2} s)", sent as f64 / elapsed.as_secs_f64(), elapsed.as_secs_f64());
        println!(
            "  latency: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            percentile(&latencies, 0.50).as_secs_f64() * 1e3,
            percentile(&latencies, 0.99).as_secs_f64() * 1e3,
            latencies.last().unwrap().as_secs_f64() * 1e3
        );
        println!("  targets: >= 5000 deliveries/s, p99 < 20 ms");
    });
    let _ = child.kill();
    let _ = child.wait();
}
