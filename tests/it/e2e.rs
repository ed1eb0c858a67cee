//! The whole loop with real processes: `slipway receive` and `slipway sync`
//! run apart with their own credentials, against a deploy repo served over
//! smart HTTP (a writer and a read-only user), the GitHub API test server and
//! the Kubernetes API test server, or the cluster `SLIPWAY_TEST_KUBECONFIG`
//! names (`support::cluster`), the example deploy repo's environments in
//! this test's own namespaces.
//!
//! A signed GitHub `registry_package` delivery -> policy allows dev -> commit
//! -> sync applies -> rollout verified -> report -> staging pull request ->
//! merged, push webhook -> sync applies staging -> verified. Then a rollout
//! that crash-loops: rolled back in the cluster, the status says why, a revert is
//! committed under policy. And the split: sync's git credential cannot push,
//! receive has no cluster credential at all.

use crate::support;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{Value, json};
use slipway::bootstrap::{EXAMPLE_FILES, create_bare_repo};
use slipway::webhook::signature::sign_hub;
use support::cluster::TestCluster;
use support::forge::ForgeServer;
use support::git_http::GitHttpServer;
use support::git_repos::{git, remote_file};
use support::process::{SlipwayProcess, eventually, free_port, secret_file};
use support::webhooks::{
    GENERIC_SECRET, GITHUB_SECRET, SYNC_SECRET, fixture, now, standard_headers,
};

const DIGEST: &str = "sha256:3da1996a8115d7616457760d9920b815241d0a03b34cf5f04e9a0e9d8de37498";
const FORGE_TOKEN: &str = "e2e-forge-token";
const PUSH_SECRET: &str = "e2e-deploy-repo-push-secret";

/// The namespaces of the example deploy repo's environments.
const EXAMPLE_NAMESPACES: &[&str] = &[
    "hello-dev",
    "hello-staging",
    "hello-prod",
    "shop-dev",
    "shop-prod",
    "api-dev",
    "api-prod",
];

async fn deployment_image(kube: &TestCluster, namespace: &str) -> Option<String> {
    let deployment = kube
        .get(("apps/v1", "Deployment"), namespace, "hello")
        .await?;
    deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .map(String::from)
}

async fn app_status(client: &reqwest::Client, sync_url: &str, env: &str) -> Value {
    let url = format!("{sync_url}/api/v1/apps/hello/{env}");
    match client.get(url).send().await {
        Ok(response) => response.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    }
}

struct World {
    dir: tempfile::TempDir,
    bare: PathBuf,
    git: GitHttpServer,
    forge: ForgeServer,
    kube: TestCluster,
    /// The namespace each of [`EXAMPLE_NAMESPACES`] became in this test.
    namespaces: BTreeMap<&'static str, String>,
    receive_url: String,
    sync_url: String,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let kube = TestCluster::start().await;
    let mut namespaces = BTreeMap::new();
    for base in EXAMPLE_NAMESPACES {
        namespaces.insert(*base, kube.namespace(base).await);
    }
    // The example deploy repo, its environments in this test's namespaces.
    let files: Vec<(&str, String)> = EXAMPLE_FILES
        .iter()
        .map(|(path, text)| {
            let text = namespaces
                .iter()
                .fold(text.to_string(), |text, (base, ns)| text.replace(base, ns));
            (*path, text)
        })
        .collect();
    let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
    let repos = dir.path().join("git");
    let bare = repos.join("deploy.git");
    create_bare_repo(&bare, "main", &files).unwrap();
    let git =
        GitHttpServer::start_with_reader(&repos, ("writer", "write-pass"), ("reader", "read-pass"))
            .await;
    let forge = ForgeServer::start("acme", FORGE_TOKEN).await;
    let (receive_port, sync_port) = (free_port(), free_port());
    World {
        receive_url: format!("http://127.0.0.1:{receive_port}"),
        sync_url: format!("http://127.0.0.1:{sync_port}"),
        dir,
        bare,
        git,
        forge,
        kube,
        namespaces,
    }
}

impl World {
    /// Receive's config: webhook secrets, the WRITE credential, the forge token. No cluster.
    fn receive_config(&self) -> PathBuf {
        let s = self.dir.path().join("receive-secrets");
        std::fs::create_dir_all(&s).unwrap();
        let text = format!(
            "listen: {listen}\nstate_dir: {state}\n\
             webhooks:\n  github: {{ secrets: [ {{ file: {gh} }} ] }}\n  generic: {{ secrets: [ {{ file: {gen} }} ] }}\n  sync: {{ secrets: [ {{ file: {ev} }} ] }}\n\
             deploy_repo:\n  url: {url}\n  branch: main\n  credentials: {{ basic: {{ username: writer, password: {{ file: {pw} }} }} }}\n\
             forge: {{ kind: github, api_url: '{forge}', project: acme/deploy, token: {{ file: {ft} }} }}\n\
             nudge_sync: {{ url: '{sync}/hooks/sync', secret: {{ file: {ev} }} }}\n",
            listen = self.receive_url.trim_start_matches("http://"),
            state = self.dir.path().join("receive-state").display(),
            gh = secret_file(&s, "github", GITHUB_SECRET),
            gen = secret_file(&s, "generic", GENERIC_SECRET),
            ev = secret_file(&s, "event", SYNC_SECRET),
            url = self.git.url("deploy.git"),
            pw = secret_file(&s, "git-write", "write-pass"),
            forge = self.forge.github_url(),
            ft = secret_file(&s, "forge", FORGE_TOKEN),
            sync = self.sync_url,
        );
        let path = self.dir.path().join("receive.yaml");
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Sync's config: the READ credential, the cluster, the event secret.
    fn sync_config(&self) -> PathBuf {
        let s = self.dir.path().join("sync-secrets");
        std::fs::create_dir_all(&s).unwrap();
        let text = format!(
            "listen: {listen}\nstate_dir: {state}\n\
             deploy_repo:\n  url: {url}\n  branch: main\n  credentials: {{ basic: {{ username: reader, password: {{ file: {pw} }} }} }}\n\
             sync:\n  kubeconfig: {kubeconfig}\n  poll_interval_seconds: 30\n  rollout_poll_millis: 100\n\
             \x20 report_url: '{receive}/hooks/rollouts'\n  report_secret: {{ file: {ev} }}\n\
             \x20 nudge_secrets: [ {{ file: {ev} }} ]\n  push_secrets: [ {{ file: {push} }} ]\n",
            listen = self.sync_url.trim_start_matches("http://"),
            state = self.dir.path().join("sync-state").display(),
            url = self.git.url("deploy.git"),
            pw = secret_file(&s, "git-read", "read-pass"),
            kubeconfig = self.kube.kubeconfig_path().display(),
            receive = self.receive_url,
            ev = secret_file(&s, "event", SYNC_SECRET),
            push = secret_file(&s, "push", PUSH_SECRET),
        );
        let path = self.dir.path().join("sync.yaml");
        std::fs::write(&path, text).unwrap();
        path
    }

    fn dev_file(&self) -> String {
        remote_file(&self.bare, "main", "apps/hello/dev/deployment.yaml")
    }

    /// A person merges the staging pull request's branch on the git host.
    fn merge(&self, branch: &str) {
        let work = self.dir.path().join("merge");
        let bare = self.bare.display().to_string();
        git(
            self.dir.path(),
            &["clone", "-q", &bare, work.to_str().unwrap()],
        );
        git(
            &work,
            &["fetch", "-q", "origin", &format!("{branch}:{branch}")],
        );
        git(
            &work,
            &[
                "merge",
                "-q",
                "--no-ff",
                "-m",
                "Merge the staging promotion",
                branch,
            ],
        );
        git(&work, &["push", "-q", "origin", "HEAD:main"]);
    }
}

async fn post_signed_github(
    client: &reqwest::Client,
    url: &str,
    secret: &str,
    event: &str,
    id: &str,
    body: Vec<u8>,
) -> u16 {
    client
        .post(url)
        .header("content-type", "application/json")
        .header("x-github-event", event)
        .header("x-github-delivery", id)
        .header("x-hub-signature-256", sign_hub(secret, &body))
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_webhook_becomes_a_verified_rollout_and_a_promotion_and_a_failure_is_rolled_back() {
    let w = world().await;
    let home = w.dir.path().join("empty-home");
    std::fs::create_dir_all(&home).unwrap();
    let home = home.display().to_string();
    let receive_config = w.receive_config();
    let sync_config = w.sync_config();
    // Receive gets no kubeconfig and a HOME without one: it has no way to the cluster.
    assert!(
        !std::fs::read_to_string(&receive_config)
            .unwrap()
            .contains("kubeconfig")
    );
    let _sync = SlipwayProcess::start(
        &["sync", "--config", sync_config.to_str().unwrap()],
        &[("HOME", &home)],
        w.dir.path(),
    );
    let _receive = SlipwayProcess::start(
        &["receive", "--config", receive_config.to_str().unwrap()],
        &[("HOME", &home), ("KUBECONFIG", "/nonexistent")],
        w.dir.path(),
    );
    let client = reqwest::Client::new();

    // 1. A signed registry_package webhook: policy allows dev, receive commits.
    let status = post_signed_github(
        &client,
        &format!("{}/hooks/github", w.receive_url),
        GITHUB_SECRET,
        "registry_package",
        "e2e-pkg-1",
        slipway::quickstart::DEMO_PAYLOAD.to_vec(),
    )
    .await;
    assert_eq!(status, 202);
    eventually("the dev commit", async || {
        w.dev_file().contains(DIGEST).then_some(())
    })
    .await;

    // 2. Sync applies dev, the rollout verifies, the report reaches receive,
    //    which opens the staging pull request.
    eventually("dev applied", async || {
        deployment_image(&w.kube, &w.namespaces["hello-dev"])
            .await
            .filter(|i| i.contains(DIGEST))
    })
    .await;
    eventually("dev verified", async || {
        (app_status(&client, &w.sync_url, "dev").await["state"] == "verified").then_some(())
    })
    .await;
    let pr = eventually("the staging pull request", async || {
        w.forge.stored().into_iter().next()
    })
    .await;
    assert_eq!(pr.head, "slipway/hello/staging");
    let staging = deployment_image(&w.kube, &w.namespaces["hello-staging"])
        .await
        .unwrap_or_default();
    assert!(
        !staging.contains(DIGEST),
        "staging waits for the merge: {staging}"
    );

    // 3. The pull request is merged; the deploy repo's push webhook nudges sync.
    w.merge("slipway/hello/staging");
    let push = post_signed_github(
        &client,
        &format!("{}/hooks/sync/push", w.sync_url),
        PUSH_SECRET,
        "push",
        "e2e-push-1",
        fixture("github/push.branch.json"),
    )
    .await;
    assert_eq!(push, 202);
    eventually("staging applied", async || {
        deployment_image(&w.kube, &w.namespaces["hello-staging"])
            .await
            .filter(|i| i.contains(DIGEST))
    })
    .await;
    eventually("staging verified", async || {
        (app_status(&client, &w.sync_url, "staging").await["state"] == "verified").then_some(())
    })
    .await;

    // 4. A build whose rollout fails: rolled back in the cluster, the status
    //    says why, and a revert is committed under policy.
    let body = serde_json::to_vec(
        &json!({"image": "ghcr.io/codertocat/hello-world", "tag": "2.0.0-crash"}),
    )
    .unwrap();
    let response = client
        .post(format!("{}/hooks/generic", w.receive_url))
        .header("content-type", "application/json")
        .headers(
            standard_headers(GENERIC_SECRET, "e2e-bad-1", now(), &body)
                .into_iter()
                .map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap()))
                .collect(),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    eventually("the failing build committed", async || {
        w.dev_file().contains("2.0.0-crash").then_some(())
    })
    .await;
    let failed = eventually("dev rolled back", async || {
        let status = app_status(&client, &w.sync_url, "dev").await;
        (status["state"] == "rolled_back").then_some(status)
    })
    .await;
    let error = failed["last_error"].as_str().unwrap_or_default();
    assert!(
        error.contains("CrashLoopBackOff"),
        "the status says why: {failed}"
    );
    assert!(
        deployment_image(&w.kube, &w.namespaces["hello-dev"])
            .await
            .unwrap()
            .contains(DIGEST),
        "the cluster runs the verified image again"
    );
    eventually("the revert commit", async || {
        (!w.dev_file().contains("2.0.0-crash") && w.dev_file().contains(DIGEST)).then_some(())
    })
    .await;

    // 5. Sync's credential reads but cannot push.
    let clone = w.dir.path().join("reader-clone");
    let reader_url = w
        .git
        .url("deploy.git")
        .replace("http://", "http://reader:read-pass@");
    git(
        w.dir.path(),
        &["clone", "-q", &reader_url, clone.to_str().unwrap()],
    );
    std::fs::write(clone.join("intruder.txt"), "no").unwrap();
    git(&clone, &["add", "intruder.txt"]);
    git(&clone, &["commit", "-q", "-m", "should not land"]);
    let pushed = std::process::Command::new("git")
        .args(["push", "-q", "origin", "HEAD:main"])
        .current_dir(&clone)
        .output()
        .unwrap();
    assert!(!pushed.status.success(), "the read credential pushed");
    assert!(!remote_file(&w.bare, "main", "slipway.yaml").is_empty());
}
