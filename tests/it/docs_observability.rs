//! What `docs/operations.md` says an operator sees is what a run shows. One
//! `slipway run --log-json` against the Kubernetes API and forge test servers
//! goes through everything the docs name: a sync with a refused manifest, a
//! hand edit put back, a pruned object, a refused webhook, a policy wait, a
//! duplicate, a forge that fails and then refuses, a rollout that fails and
//! is rolled back, and a SIGTERM. Then every metric in the tables and alert
//! rules must be on `/metrics` with its type and labels and counted, and every
//! line in the table of log lines must be in the JSON log with its fields.

use crate::docs_common;
use crate::support;

use std::path::{Path, PathBuf};

use docs_common::observed::*;
use serde_json::{Value, json};
use slipway::bootstrap::{EXAMPLE_FILES, create_bare_repo};
use support::forge::{Failure, ForgeServer};
use support::git_repos::git;
use support::kube_api::KubeApiServer;
use support::process::{
    STEP_TIMEOUT, SlipwayProcess, create_namespaces, eventually, free_port, secret_file,
};
use support::webhooks::{GENERIC_SECRET, SYNC_SECRET, now, standard_headers};

const FORGE_TOKEN: &str = "docs-forge-token";
const COMMIT_1: &str = "1111111111111111111111111111111111111111";
const COMMIT_2: &str = "2222222222222222222222222222222222222222";

/// Log lines the run cannot bring about, and why; their message must still
/// be logged somewhere in `src/` with the documented fields.
const NOT_EXERCISED: &[(&str, &str)] = &[("store commit failed", "needs a failing disk")];

/// The example deploy repo, plus: a policy that makes dev wait for a tested
/// build, a ConfigMap in dev to edit by hand and then prune, and a manifest
/// in prod outside the app's scope.
fn deploy_repo_files() -> Vec<(&'static str, &'static str)> {
    let mut files = EXAMPLE_FILES.to_vec();
    files.extend([
        ("policies/dev-tested.yaml", "environments: [dev]\ntested_artifact: { wait_minutes: 60 }\n"),
        (
            "apps/hello/dev/extra.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\ndata:\n  key: a\n",
        ),
        (
            "apps/hello/prod/outside.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: outside\n  namespace: kube-system\n",
        ),
    ]);
    files
}

fn run_config(
    dir: &Path,
    bare: &Path,
    port: u16,
    forge: &ForgeServer,
    kube: &KubeApiServer,
) -> PathBuf {
    let text = format!(
        "listen: 127.0.0.1:{port}\nstate_dir: {state}\n\
         webhooks:\n  generic: {{ secrets: [ {{ file: {gen} }} ] }}\n  sync: {{ secrets: [ {{ file: {ev} }} ] }}\n\
         deploy_repo: {{ url: {bare}, branch: main }}\n\
         forge: {{ kind: github, api_url: '{forge}', project: acme/deploy, token: {{ file: {ft} }} }}\n\
         sync:\n  kubeconfig: {kubeconfig}\n  poll_interval_seconds: 1\n  rollout_poll_millis: 100\n\
         \x20 report_url: 'http://127.0.0.1:{port}/hooks/rollouts'\n  report_secret: {{ file: {ev} }}\n\
         report: {{ webhooks: [ {{ url: 'http://127.0.0.1:{port}/hooks/nowhere', secret: {{ file: {gen} }} }} ] }}\n",
        state = dir.join("state").display(),
        gen = secret_file(dir, "generic", GENERIC_SECRET),
        ev = secret_file(dir, "event", SYNC_SECRET),
        bare = bare.display(),
        forge = forge.github_url(),
        ft = secret_file(dir, "forge", FORGE_TOKEN),
        kubeconfig = kube.kubeconfig_path().display(),
    );
    let path = dir.join("run.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// POST a generic delivery signed with `secret`; the status code.
async fn post_generic(
    client: &reqwest::Client,
    url: &str,
    secret: &str,
    id: &str,
    body: Value,
) -> u16 {
    let body = serde_json::to_vec(&body).unwrap();
    let mut request = client
        .post(format!("{url}/hooks/generic"))
        .header("content-type", "application/json");
    for (name, value) in standard_headers(secret, id, now(), &body) {
        request = request.header(name, value);
    }
    request.body(body).send().await.unwrap().status().as_u16()
}

fn artifact(tag: &str, commit: &str, pipeline: Option<&str>) -> Value {
    let mut body = json!({
        "type": "artifact.published",
        "image": "ghcr.io/codertocat/hello-world",
        "tag": tag,
        "source": {"repository": "Codertocat/hello-world", "commit": commit, "ref": "refs/heads/main"},
    });
    if let Some(status) = pipeline {
        body["pipeline"] = json!({"status": status, "name": "ci"});
    }
    body
}

async fn scrape(client: &reqwest::Client, url: &str) -> String {
    client
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Wait until the samples of `name` with `labels` add up to at least one;
/// on time-out, fail naming what `/metrics` has instead.
async fn counted(client: &reqwest::Client, url: &str, name: &str, labels: &[(&str, &str)]) {
    let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
    loop {
        let scraped = samples(&scrape(client, url).await);
        if total(&scraped, name, labels) >= 1.0 {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            let names: std::collections::BTreeSet<&str> =
                scraped.iter().map(|s| s.name.as_str()).collect();
            panic!("timed out waiting for {name}{labels:?} to be counted; /metrics has {names:?}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A person removes a file from the deploy repo's main branch.
fn remove_from_git(dir: &Path, bare: &Path, file: &str) {
    let work = dir.join("person");
    git(
        dir,
        &[
            "clone",
            "-q",
            bare.to_str().unwrap(),
            work.to_str().unwrap(),
        ],
    );
    git(&work, &["rm", "-q", file]);
    git(&work, &["commit", "-q", "-m", "Drop a file"]);
    git(&work, &["push", "-q", "origin", "HEAD:main"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_metrics_and_log_lines_of_operations_md_show_up_in_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let bare = dir.path().join("deploy.git");
    create_bare_repo(&bare, "main", &deploy_repo_files()).unwrap();
    let kube = KubeApiServer::start().await.unwrap();
    create_namespaces(&kube, &["hello-dev", "hello-staging", "hello-prod"]).await;
    let forge = ForgeServer::start("acme", FORGE_TOKEN).await;
    forge.fail_with(Some(Failure::Status(503)));
    let port = free_port();
    let config = run_config(dir.path(), &bare, port, &forge, &kube);
    let home = dir.path().display().to_string();
    let mut slipway = SlipwayProcess::start(
        &["run", "--config", config.to_str().unwrap(), "--log-json"],
        &[("HOME", &home)],
        dir.path(),
    );
    let (client, url) = (reqwest::Client::new(), slipway.url());
    let dev = [("app", "hello"), ("environment", "dev")];

    // Sync: the first pass applies dev and refuses prod's stray manifest; a
    // hand edit is put back; a file removed from git is pruned.
    for (name, labels) in [
        (
            "slipway_sync_syncs_total",
            // hello's own: the example's other apps have a dev too.
            &[
                ("app", "hello"),
                ("environment", "dev"),
                ("outcome", "verified"),
            ][..],
        ),
        ("slipway_sync_refusals_total", &[("environment", "prod")]),
    ] {
        counted(&client, &url, name, labels).await;
    }
    let config_maps: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(kube.client().unwrap(), "hello-dev");
    let edit = json!({"data": {"key": "edited by hand"}});
    config_maps
        .patch(
            "extra",
            &Default::default(),
            &kube::api::Patch::Merge(&edit),
        )
        .await
        .unwrap();
    counted(&client, &url, "slipway_sync_drifts_total", &dev).await;
    remove_from_git(dir.path(), &bare, "apps/hello/dev/extra.yaml");
    counted(&client, &url, "slipway_sync_prunes_total", &dev).await;

    // Receive: a forged delivery is refused; a build without a pipeline
    // result waits, and a redelivery of it is a duplicate.
    let forged = "whsec_Zm9yZ2VkLWJ5LXNvbWVvbmUtZWxzZS0zMmJ5dGVzIQ==";
    let build_1 = artifact("1.1.0", COMMIT_1, None);
    for (secret, id, body, want) in [
        (forged, "forged", artifact("9.9.9", COMMIT_1, None), 401),
        (GENERIC_SECRET, "build-1", build_1.clone(), 202),
        (GENERIC_SECRET, "build-1", build_1, 200),
    ] {
        assert_eq!(
            post_generic(&client, &url, secret, id, body).await,
            want,
            "{id}"
        );
    }
    counted(
        &client,
        &url,
        "slipway_inbox_processed_total",
        &[("result", "wait")],
    )
    .await;

    // The pipeline result lets it into dev; verified there, it is promoted to
    // staging by pull request, which the forge fails (retry), then refuses (stall).
    let passed = json!({"type": "pipeline.completed", "source": {"commit": COMMIT_1}, "pipeline": {"status": "success", "name": "ci"}});
    assert_eq!(
        post_generic(&client, &url, GENERIC_SECRET, "pipeline-1", passed).await,
        202
    );
    counted(
        &client,
        &url,
        "slipway_inbox_processed_total",
        &[("result", "retry")],
    )
    .await;
    forge.fail_with(Some(Failure::Status(422)));
    counted(
        &client,
        &url,
        "slipway_inbox_processed_total",
        &[("result", "failed")],
    )
    .await;

    // A build whose rollout fails is rolled back.
    assert_eq!(
        post_generic(
            &client,
            &url,
            GENERIC_SECRET,
            "build-2",
            artifact("2.0.0-fail", COMMIT_2, Some("success"))
        )
        .await,
        202
    );
    for (name, labels) in [
        (
            "slipway_sync_failures_total",
            &[("environment", "dev"), ("outcome", "rollout")][..],
        ),
        (
            "slipway_sync_rollout_duration_seconds_count",
            &[("verdict", "failed")],
        ),
    ] {
        counted(&client, &url, name, labels).await;
    }

    let text = scrape(&client, &url).await;
    let exited = slipway.terminate();
    assert!(
        exited.success(),
        "slipway run exits cleanly on SIGTERM: {exited}"
    );
    let log = eventually("the last log line", async || {
        let lines = slipway.log_lines();
        lines
            .iter()
            .any(|l| l.contains("shutting down"))
            .then_some(lines)
    })
    .await;
    let log: Vec<Value> = log
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();

    let mut problems = Vec::new();
    let documented = documented_metrics();
    let scraped = samples(&text);
    for metric in &documented {
        problems.extend(check_metric(metric, &text, &scraped));
    }
    for use_ in alert_rule_uses().iter().chain(&mentioned_uses()) {
        problems.extend(check_use(use_, &documented));
    }
    for line in documented_log_lines() {
        match NOT_EXERCISED
            .iter()
            .find(|(message, _)| *message == line.message)
        {
            Some((message, _)) => problems.extend(logged_in_source(message, &line.fields).err()),
            None => problems.extend(check_log_line(&line, &log).err()),
        }
    }
    assert!(
        problems.is_empty(),
        "the docs and the run disagree:\n{}\n\n/metrics:\n{text}",
        problems.join("\n")
    );
}

/// A line the run cannot show is still logged by `src/` with its fields.
fn logged_in_source(message: &str, fields: &[String]) -> Result<(), String> {
    let quoted = format!("\"{message}\"");
    let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if let Some(end) = text.find(&quoted) {
            let call = &text[text[..end].rfind("tracing::").unwrap_or(0)..end];
            return match fields.iter().find(|f| !call.contains(&format!("{f} ="))) {
                None => Ok(()),
                Some(f) => Err(format!("`{message}` in {}: no field {f}", path.display())),
            };
        }
    }
    Err(format!("`{message}`: logged nowhere in src/"))
}
