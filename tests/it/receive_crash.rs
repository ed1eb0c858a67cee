//! Kill the real process while deliveries stream in: every delivery answered
//! 202 is still there after a restart, settled exactly once, and a resend of
//! it is a duplicate.

use crate::support;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use support::process::SlipwayProcess;
use support::webhooks::*;

/// Deliveries sent in all.
const DELIVERIES: usize = 400;
/// Concurrent senders.
const SENDERS: usize = 8;
/// Kill the server once this many were acknowledged.
const KILL_AFTER: usize = 120;

fn write_config(dir: &Path) -> std::path::PathBuf {
    let mut config = test_config(dir);
    config.listen = "127.0.0.1:0".parse().unwrap();
    let path = dir.join("slipway.yaml");
    std::fs::write(&path, serde_saphyr::to_string(&config).unwrap()).unwrap();
    path
}

async fn send(client: &reqwest::Client, url: &str, id: &str, body: &[u8]) -> Option<u16> {
    let response = client
        .post(format!("{url}/hooks/github"))
        .header("content-type", "application/json")
        .header("x-github-event", "push")
        .header("x-github-delivery", id)
        .header(
            "x-hub-signature-256",
            slipway::webhook::signature::sign_hub(GITHUB_SECRET, body),
        )
        .body(body.to_vec())
        .send()
        .await
        .ok()?;
    Some(response.status().as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nothing_acknowledged_is_lost_or_processed_twice_when_the_process_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let config_arg = config.to_str().unwrap().to_string();
    let mut server = SlipwayProcess::start(&["receive", "--config", &config_arg], &[], dir.path());
    let url = server.url();
    let body = Arc::new(fixture("github/push.branch.json"));
    let client = reqwest::Client::new();
    let acked = Arc::new(std::sync::Mutex::new(BTreeSet::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let mut senders = Vec::new();
    for sender in 0..SENDERS {
        let (client, url, body, acked, count) = (
            client.clone(),
            url.clone(),
            body.clone(),
            acked.clone(),
            count.clone(),
        );
        senders.push(tokio::spawn(async move {
            for n in (sender..DELIVERIES).step_by(SENDERS) {
                let id = format!("crash-{n:04}");
                match send(&client, &url, &id, &body).await {
                    Some(202) => {
                        acked.lock().unwrap().insert(id);
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                    Some(other) => panic!("unexpected status {other} for {id}"),
                    None => return, // the server is gone
                }
            }
        }));
    }
    while count.load(Ordering::SeqCst) < KILL_AFTER {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    server.kill();
    for sender in senders {
        sender.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= KILL_AFTER && acked.len() < DELIVERIES,
        "killed mid-stream: {} acked",
        acked.len()
    );

    let server = SlipwayProcess::start(&["receive", "--config", &config_arg], &[], dir.path());
    let url = server.url();
    // Wait for the worker to settle what the first process left pending.
    let mut pending = usize::MAX;
    for _ in 0..600 {
        let list: serde_json::Value = client
            .get(format!("{url}/api/v1/deliveries?limit=500"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let deliveries = list["deliveries"].as_array().unwrap().clone();
        pending = deliveries
            .iter()
            .filter(|d| d["state"] == "pending")
            .count();
        if pending == 0 {
            let stored: BTreeSet<String> = deliveries
                .iter()
                .map(|d| d["delivery_id"].as_str().unwrap().to_string())
                .collect();
            assert!(
                acked.is_subset(&stored),
                "acknowledged deliveries lost: {:?}",
                acked.difference(&stored).collect::<Vec<_>>()
            );
            for d in &deliveries {
                assert_eq!(d["state"], "done", "{d}");
                assert_eq!(d["attempts"], 1, "settled exactly once: {d}");
            }
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(pending, 0, "the restarted worker settled everything");
    for id in acked.iter().take(20) {
        assert_eq!(
            send(&client, &url, id, &body).await,
            Some(200),
            "{id} is a duplicate after restart"
        );
    }
}
