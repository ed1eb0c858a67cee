//! Deploy-writer figures on a local bare repository (printed, not asserted):
//! - webhook-to-push latency, p50/p99, one event at a time;
//! - a burst of events over many apps: wall time and commits, Slipway's
//!   coalescing writer side by side with a shell script driving the git CLI
//!   (sed + git commit + git push per event).
//!
//! `SLIPWAY_BENCH_EVENTS` (default 1000), `SLIPWAY_BENCH_APPS` (default 50) and
//! `SLIPWAY_BENCH_LATENCY_SAMPLES` (default 100) scale it.

#[path = "../tests/support/git_repos.rs"]
mod git_repos;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use git_repos::*;
use slipway::deployrepo::{DeployWriter, Written};
use slipway::repoconfig::WriteMode::Commit;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn latency(samples: usize) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let bare = seed_remote(tmp.path(), &["web".to_string()]);
    let writer = DeployWriter::new(
        local_settings(bare.to_str().expect("utf-8")),
        tmp.path().join("w"),
        None,
    );
    let mut times = Vec::with_capacity(samples);
    for i in 0..samples {
        let start = Instant::now();
        let outcome = writer
            .write(vec![request(
                &format!("lat-{i}"),
                "web",
                "dev",
                &format!("2.0.{i}"),
                Commit,
            )])
            .await;
        times.push(start.elapsed());
        assert!(matches!(written(&outcome[0]), Written::Committed { .. }));
    }
    times.sort();
    println!(
        "webhook-to-push latency, local bare repo, {samples} events one at a time: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms(percentile(&times, 0.50)),
        ms(percentile(&times, 0.99)),
        ms(times[times.len() - 1])
    );
}

fn burst_events(events: usize, apps: &[String]) -> Vec<(String, String, String)> {
    (0..events)
        .map(|i| {
            let app = apps[i % apps.len()].clone();
            (format!("burst-{i}"), app, format!("3.0.{}", i / apps.len()))
        })
        .collect()
}

async fn slipway_burst(events: usize, apps: &[String], batch: usize) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let bare = seed_remote(tmp.path(), apps);
    let writer = DeployWriter::new(
        local_settings(bare.to_str().expect("utf-8")),
        tmp.path().join("w"),
        None,
    );
    let before = commit_count(&bare, "main");
    let start = Instant::now();
    let all = burst_events(events, apps);
    for chunk in all.chunks(batch) {
        let requests = chunk
            .iter()
            .map(|(id, app, tag)| request(id, app, "dev", tag, Commit))
            .collect();
        for outcome in writer.write(requests).await {
            written(&outcome);
        }
    }
    let elapsed = start.elapsed();
    println!(
        "slipway writer: {events} events over {} apps in batches of {batch}: {:.2} s, {} commits",
        apps.len(),
        elapsed.as_secs_f64(),
        commit_count(&bare, "main") - before
    );
}

fn shell_burst(events: usize, apps: &[String]) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let bare = seed_remote(tmp.path(), apps);
    let work = tmp.path().join("cli");
    git(
        tmp.path(),
        &[
            "clone",
            "-q",
            bare.to_str().expect("utf-8"),
            work.to_str().expect("utf-8"),
        ],
    );
    let script = tmp.path().join("deploy.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nset -e\nwhile read -r id app tag; do\n  f=envs/dev/$app/deployment.yaml\n  sed -i \"s|image: ghcr.io/acme/$app:[^ ]*|image: ghcr.io/acme/$app:$tag|\" \"$f\"\n  git commit -q -am \"deploy($app/dev): $tag\" -m \"Slipway-Event: $id\"\n  git push -q origin HEAD:main\ndone\n",
    )
    .expect("write script");
    let input: String = burst_events(events, apps)
        .into_iter()
        .map(|(id, app, tag)| format!("{id} {app} {tag}\n"))
        .collect();
    let before = commit_count(&bare, "main");
    let start = Instant::now();
    run_script(&script, &work, &input);
    let elapsed = start.elapsed();
    println!(
        "shell script (sed + git commit + git push per event): {events} events over {} apps: {:.2} s, {} commits",
        apps.len(),
        elapsed.as_secs_f64(),
        commit_count(&bare, "main") - before
    );
}

fn run_script(script: &Path, dir: &Path, input: &str) {
    use std::io::Write;
    let mut child = Command::new("sh")
        .arg(script)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Script")
        .env("GIT_AUTHOR_EMAIL", "script@example.com")
        .env("GIT_COMMITTER_NAME", "Script")
        .env("GIT_COMMITTER_EMAIL", "script@example.com")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("run sh");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("feed script");
    assert!(
        child.wait().expect("wait").success(),
        "the shell script failed"
    );
}

fn main() {
    let events = env_number("SLIPWAY_BENCH_EVENTS", 1000);
    let app_count = env_number("SLIPWAY_BENCH_APPS", 50);
    let samples = env_number("SLIPWAY_BENCH_LATENCY_SAMPLES", 100);
    let apps = app_names(app_count);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        latency(samples).await;
        slipway_burst(events, &apps, events).await;
        slipway_burst(events, &apps, apps.len()).await;
    });
    shell_burst(events, &apps);
}
