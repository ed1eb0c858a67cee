//! Receive works in batches: deliveries waiting together are decided in
//! order against the batch's own result and written in one commit; killed
//! with SIGKILL mid-burst, the real process loses nothing acknowledged and
//! writes nothing twice.

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use slipway::deployrepo::message::written_keys;
use slipway::store::inbox::DeliveryState;
use support::fleet::*;
use support::process::{SlipwayProcess, eventually};
use support::webhooks::*;
use tower::ServiceExt;

/// Apps in the burst; each gets two versions.
const APPS: usize = 100;
/// Concurrent senders.
const SENDERS: usize = 8;

/// Every `Slipway-Event` written after `since`, with how often.
fn written_events(bare: &Path, since: git2::Oid) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for message in messages_since(bare, since) {
        for key in written_keys(&message) {
            *seen.entry(key.event_id).or_default() += 1;
        }
    }
    seen
}

/// An in-process receive over a fleet repo of `apps` apps.
fn in_process(apps: usize) -> (InProcessReceive, std::path::PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let bare = deploy_repo(dir.path(), apps, 0);
    let mut config = test_config(dir.path());
    config.api.public_url = Some("https://slipway.example.com".into());
    (InProcessReceive::start(config, &bare, None), bare, dir)
}

#[tokio::test]
async fn deliveries_waiting_together_are_decided_in_order_and_written_in_one_commit() {
    let (h, bare, _dir) = in_process(3);
    let seed = head(&bare);
    // Admitted while the worker is busy elsewhere: they wait together.
    let deliveries = [
        ("b-1", "app0", "1.2.0"),
        ("b-2", "app0", "1.1.0"), // a downgrade against the batch's own result
        ("b-3", "app1", "latest"), // denied by policy; must not hold up the rest
        ("b-4", "app1", "1.3.0"),
        ("b-5", "app2", "1.1.0"),
        ("b-6", "app2", "1.4.0"), // a later version replaces an earlier one
    ];
    for (id, app, tag) in deliveries {
        let request = generic(id, artifact_body(app, tag).into_bytes());
        let response = h.app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), 202, "{id}");
    }
    assert_eq!(h.worker.run_once().await.unwrap(), deliveries.len());

    assert_eq!(tags_at_tip(&bare, 3), ["1.2.0", "1.3.0", "1.4.0"]);
    let messages = messages_since(&bare, seed);
    assert_eq!(messages.len(), 1, "one commit for the batch: {messages:?}");
    let message = &messages[0];
    assert!(
        message.starts_with("deploy: 4 changes to 3 apps\n\n"),
        "{message}"
    );
    assert!(
        message.lines().any(|l| l
            == "deploy(app2/dev): 1.4.0 · allow (commit) · https://slipway.example.com/api/v1/deliveries/b-6"),
        "{message}"
    );
    let written: Vec<String> = written_keys(message)
        .into_iter()
        .map(|k| k.event_id)
        .collect();
    assert_eq!(written, ["b-1", "b-4", "b-5", "b-6"]);

    for (id, want) in [
        ("b-1", "app0/dev: committed"),
        ("b-2", "app0/dev: denied"),
        ("b-3", "app1/dev: denied"),
        ("b-4", "app1/dev: committed"),
        ("b-6", "app2/dev: committed"),
    ] {
        let delivery = h.store.delivery(id.into()).await.unwrap().unwrap();
        assert_eq!(delivery.state, DeliveryState::Done, "{id}: {delivery:?}");
        let summary = delivery.outcome.unwrap()["summary"].to_string();
        assert!(summary.contains(want), "{id}: {summary}");
    }
    let downgrade = h.store.delivery("b-2".into()).await.unwrap().unwrap();
    assert!(
        downgrade.outcome.unwrap()["summary"]
            .as_str()
            .unwrap()
            .contains("1.2.0"),
        "the refusal names the batch's own version"
    );
}

fn write_config(dir: &Path, bare: &Path) -> String {
    let secret = support::process::secret_file(dir, "generic-secret", GENERIC_SECRET);
    let config = format!(
        "listen: 127.0.0.1:0\nstate_dir: {}\nwebhooks:\n  generic: {{ secrets: [ {{ file: {secret} }} ] }}\ndeploy_repo:\n  url: {}\n  branch: main\n",
        dir.join("state").display(),
        bare.display(),
    );
    let path = dir.join("config.yaml");
    std::fs::write(&path, config).unwrap();
    path.display().to_string()
}

async fn send(client: &reqwest::Client, url: &str, id: &str, app: &str, tag: &str) -> Option<u16> {
    let body = artifact_body(app, tag).into_bytes();
    let mut request = client
        .post(format!("{url}/hooks/generic"))
        .header("content-type", "application/json");
    for (name, value) in standard_headers(GENERIC_SECRET, id, now(), &body) {
        request = request.header(name, value);
    }
    Some(request.body(body).send().await.ok()?.status().as_u16())
}

/// Send `events` from [`SENDERS`] tasks, keeping the ids answered 202.
fn burst(
    url: &str,
    events: &[(String, String, String)],
    acked: Arc<std::sync::Mutex<BTreeSet<String>>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let client = reqwest::Client::new();
    (0..SENDERS)
        .map(|s| {
            let mine: Vec<_> = events.iter().skip(s).step_by(SENDERS).cloned().collect();
            let (client, url, acked) = (client.clone(), url.to_string(), acked.clone());
            tokio::spawn(async move {
                for (id, app, tag) in mine {
                    match send(&client, &url, &id, &app, &tag).await {
                        Some(202) => {
                            acked.lock().unwrap().insert(id);
                        }
                        other => panic!("unexpected answer {other:?} for {id}"),
                    }
                }
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_survives_a_kill_mid_batch_and_every_app_ends_on_its_highest_version() {
    let dir = tempfile::tempdir().unwrap();
    let bare = deploy_repo(dir.path(), APPS, 0);
    let seed = head(&bare);
    let config = write_config(dir.path(), &bare);
    let args = ["receive", "--config", config.as_str()];
    let mut first = SlipwayProcess::start(&args, &[], dir.path());
    let events = burst_events(APPS);
    let acked = Arc::new(std::sync::Mutex::new(BTreeSet::new()));
    let senders = burst(&first.url(), &events, acked.clone());
    // Kill the moment the last delivery is acknowledged: the worker is
    // still deciding or writing the batches the burst left waiting.
    for sender in senders {
        sender.await.unwrap();
    }
    first.kill();
    let acked = acked.lock().unwrap().clone();
    assert_eq!(
        acked.len(),
        events.len(),
        "all acknowledged before the kill"
    );
    let before_restart = head(&bare);

    // The restarted process finishes what was acknowledged, and a resend
    // of any of it is a duplicate.
    let second = SlipwayProcess::start(&args, &[], dir.path());
    let url = second.url();
    let client = reqwest::Client::new();
    for (id, app, tag) in events.iter().step_by(10) {
        assert_eq!(send(&client, &url, id, app, tag).await, Some(200), "{id}");
    }
    let deliveries = eventually("every delivery settled", async || {
        let list: serde_json::Value = client
            .get(format!("{url}/api/v1/deliveries?limit=500"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let deliveries = list["deliveries"].as_array()?.clone();
        let settled =
            deliveries.len() == events.len() && deliveries.iter().all(|d| d["state"] != "pending");
        settled.then_some(deliveries)
    })
    .await;
    for d in &deliveries {
        assert_eq!(d["state"], "done", "{d}");
    }
    assert!(
        tags_at_tip(&bare, APPS).iter().all(|t| t == "1.2.0"),
        "every app on its highest version: {:?}",
        tags_at_tip(&bare, APPS)
    );
    let written = written_events(&bare, seed);
    let twice: Vec<_> = written.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "written twice: {twice:?}");
    // Whatever the first process left is due at once after the restart:
    // one batch, one commit (none if the kill came after the last push).
    let after_restart = commits_since(&bare, before_restart);
    assert!(
        after_restart <= 1,
        "{after_restart} commits after the restart"
    );
    let commits = commits_since(&bare, seed);
    assert!(
        commits < events.len(),
        "{commits} commits for {} events",
        events.len()
    );
}
