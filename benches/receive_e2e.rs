//! What a user gets from `slipway receive`, measured from the socket: the
//! real binary is started with a deploy repository (a local bare repo) and
//! driven over loopback with signed generic webhooks; the figures are taken
//! by watching the bare repository, as a person would with `git log`.
//!
//! 1. single events, one at a time on a quiet system: webhook sent -> commit
//!    visible in the bare repo, p50/p99, on a one-app repo and on a 500-app
//!    repo with 1,000 commits of history;
//! 2. a burst (1,000 events over 500 apps, 2 versions each, 16 senders):
//!    first send -> every app's final version pushed, the commits made, and
//!    the receive process's peak RSS;
//! 3. the git CLI script (sed + git commit + git push per event) on the same
//!    burst, in the same run, and the ratio.
//!
//! `cargo bench --bench receive_e2e`; scale with `SLIPWAY_BENCH_SINGLE`
//! (200), `SLIPWAY_BENCH_APPS` (500), `SLIPWAY_BENCH_HISTORY` (1000),
//! `SLIPWAY_BENCH_SENDERS` (16); run only some parts with
//! `SLIPWAY_BENCH_PHASES` (default `single,burst`; the script runs with the
//! burst). Only 127.0.0.1 is contacted.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use slipway::secret::Secret;

#[path = "../tests/support/fleet.rs"]
mod fleet;
use fleet::*;
use slipway::webhook::signature::{StandardKey, sign_standard};

const SECRET: &str = "whsec_c2xpcHdheS1nZW5lcmljLXRlc3Qtc2VjcmV0LTMyYg==";
/// Longest wait for one commit or the whole burst before the bench gives up.
const DEADLINE: Duration = Duration::from_secs(600);

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

struct Receive {
    child: Child,
    address: String,
}

impl Drop for Receive {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Receive {
    fn start(dir: &Path, bare: &Path) -> Receive {
        std::fs::write(dir.join("secret"), SECRET).expect("secret");
        let config = format!(
            "listen: 127.0.0.1:0\nstate_dir: {}\nwebhooks:\n  generic: {{ secrets: [ {{ file: {} }} ] }}\ndeploy_repo:\n  url: {}\n  branch: main\n",
            dir.join("state").display(),
            dir.join("secret").display(),
            bare.display(),
        );
        std::fs::write(dir.join("config.yaml"), config).expect("config");
        let mut child = Command::new(env!("CARGO_BIN_EXE_slipway"))
            .args(["receive", "--config"])
            .arg(dir.join("config.yaml"))
            .env("SLIPWAY_LOG", "warn,slipway=info")
            .env("NO_COLOR", "1")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("start slipway receive");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let address = loop {
            let line = lines
                .next()
                .expect("slipway exited before listening")
                .expect("log line");
            if let Some(rest) = line.split("address=").nth(1) {
                break rest.split_whitespace().next().expect("address").to_string();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Receive { child, address }
    }

    /// Peak resident set size of the process, in MiB (`VmHWM`).
    fn peak_rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    }
}

/// One keep-alive connection that sends signed generic artifact events.
struct Sender {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    key: StandardKey,
}

impl Sender {
    async fn connect(address: &str) -> Sender {
        let stream = tokio::net::TcpStream::connect(address)
            .await
            .expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        tokio::spawn(conn);
        let key = StandardKey::from_secret(&Secret::new(SECRET)).expect("key");
        Sender { sender, key }
    }

    async fn send(&mut self, id: &str, app: &str, tag: &str) {
        let body = Bytes::from(artifact_body(app, tag));
        let now = jiff::Timestamp::now().as_second();
        let request = Request::post("/hooks/generic")
            .header("host", "127.0.0.1")
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", now.to_string())
            .header(
                "webhook-signature",
                sign_standard(&self.key, id, now, &body),
            )
            .body(Full::new(body))
            .expect("request");
        self.sender.ready().await.expect("ready");
        let response = self.sender.send_request(request).await.expect("send");
        let status = response.status();
        response.into_body().collect().await.expect("body");
        assert_eq!(status.as_u16(), 202, "delivery {id} not accepted");
    }
}

async fn single_events(label: &str, apps: usize, history: usize, samples: usize) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let bare = deploy_repo(tmp.path(), apps, history);
    let receive = Receive::start(tmp.path(), &bare);
    let mut sender = Sender::connect(&receive.address).await;
    let mut times = Vec::with_capacity(samples);
    for i in 0..samples {
        let before = head(&bare);
        let start = Instant::now();
        sender
            .send(&format!("single-{i}"), &app(i % apps), &format!("2.0.{i}"))
            .await;
        while head(&bare) == before {
            assert!(start.elapsed() < DEADLINE, "event {i} never pushed");
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        times.push(start.elapsed());
    }
    times.sort();
    println!(
        "single events, {label} ({apps} apps, {history} commits of history), {samples} one at a time, webhook sent -> commit in the bare repo: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms(percentile(&times, 0.50)),
        ms(percentile(&times, 0.99)),
        ms(times[times.len() - 1]),
    );
}

async fn slipway_burst(apps: usize, senders: usize) -> f64 {
    let tmp = tempfile::tempdir().expect("tempdir");
    let bare = deploy_repo(tmp.path(), apps, 0);
    let receive = Receive::start(tmp.path(), &bare);
    let seed = head(&bare);
    let events = burst_events(apps);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for s in 0..senders {
        let mine: Vec<_> = events.iter().skip(s).step_by(senders).cloned().collect();
        let address = receive.address.clone();
        tasks.push(tokio::spawn(async move {
            let mut sender = Sender::connect(&address).await;
            for (id, app, tag) in mine {
                sender.send(&id, &app, &tag).await;
            }
        }));
    }
    for task in tasks {
        task.await.expect("sender");
    }
    let accepted = start.elapsed();
    let mut last = seed;
    loop {
        let now = head(&bare);
        if now != last {
            last = now;
            if tags_at_tip(&bare, apps).iter().all(|t| t == "1.2.0") {
                break;
            }
        }
        assert!(start.elapsed() < DEADLINE, "the burst never settled");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let elapsed = start.elapsed();
    println!(
        "burst through slipway receive: {} events over {apps} apps (2 versions each, {senders} senders): all accepted in {:.2} s, every app at its final version in {:.2} s, {} commits, peak RSS {:.1} MiB",
        events.len(),
        accepted.as_secs_f64(),
        elapsed.as_secs_f64(),
        commits_since(&bare, seed),
        receive.peak_rss_mib(),
    );
    elapsed.as_secs_f64()
}

fn shell_burst(apps: usize) -> f64 {
    let tmp = tempfile::tempdir().expect("tempdir");
    let bare = deploy_repo(tmp.path(), apps, 0);
    let seed = head(&bare);
    let work = tmp.path().join("cli");
    let status = Command::new("git")
        .args(["clone", "-q"])
        .arg(&bare)
        .arg(&work)
        .status()
        .expect("git clone");
    assert!(status.success());
    let script = tmp.path().join("deploy.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nset -e\nwhile read -r id app tag; do\n  f=apps/$app/kustomization.yaml\n  sed -i \"s|newTag: .*|newTag: $tag|\" \"$f\"\n  git commit -q -am \"deploy($app/dev): $tag\" -m \"Slipway-Event: $id\"\n  git push -q origin HEAD:main\ndone\n",
    )
    .expect("script");
    let input: String = burst_events(apps)
        .into_iter()
        .map(|(id, app, tag)| format!("{id} {app} {tag}\n"))
        .collect();
    let start = Instant::now();
    let mut child = Command::new("sh")
        .arg(&script)
        .current_dir(&work)
        .env("GIT_AUTHOR_NAME", "Script")
        .env("GIT_AUTHOR_EMAIL", "script@example.com")
        .env("GIT_COMMITTER_NAME", "Script")
        .env("GIT_COMMITTER_EMAIL", "script@example.com")
        .stdin(Stdio::piped())
        .spawn()
        .expect("sh");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("feed");
    assert!(child.wait().expect("wait").success(), "script failed");
    let elapsed = start.elapsed();
    println!(
        "git CLI script (sed + git commit + git push per event) on the same burst: {:.2} s, {} commits",
        elapsed.as_secs_f64(),
        commits_since(&bare, seed),
    );
    elapsed.as_secs_f64()
}

fn main() {
    let samples = env_number("SLIPWAY_BENCH_SINGLE", 200);
    let apps = env_number("SLIPWAY_BENCH_APPS", 500);
    let history = env_number("SLIPWAY_BENCH_HISTORY", 1000);
    let senders = env_number("SLIPWAY_BENCH_SENDERS", 16);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let phases = std::env::var("SLIPWAY_BENCH_PHASES").unwrap_or_else(|_| "single,burst".into());
    let slipway = runtime.block_on(async {
        if phases.contains("single") {
            single_events("fresh repo", 1, 0, samples).await;
            single_events("large repo", apps, history, samples).await;
        }
        if phases.contains("burst") {
            Some(slipway_burst(apps, senders).await)
        } else {
            None
        }
    });
    if let Some(slipway) = slipway {
        let script = shell_burst(apps);
        println!(
            "burst ratio: slipway receive {:.1}x faster than the git CLI script",
            script / slipway
        );
    }
}
