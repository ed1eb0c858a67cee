//! Lease contention through the Kubernetes API test server, with the
//! `kube-lease-manager` crate the sync role uses for one rollout at a time.

use crate::support;

use std::time::Duration;

use anyhow::{Context, Result};
use kube_lease_manager::LeaseManagerBuilder;
use serde_json::{Value, json};

use support::kube_api::{KubeApiServer, Verb};

/// Lease duration: the waiting manager sleeps up to this long between looks.
const LEASE_SECONDS: u64 = 3;

/// Renewal margin of the holder.
const GRACE_SECONDS: u64 = 1;

/// Upper bound on waiting for the second manager; a guard, not a timing assertion.
const WAIT_LIMIT: Duration = Duration::from_secs(20);

fn lease_reads(server: &KubeApiServer) -> u64 {
    let stats = server.stats();
    stats
        .by_resource
        .get("leases.coordination.k8s.io")
        .and_then(|v| v.get(&Verb::Get))
        .copied()
        .unwrap_or(0)
}

fn holder(server: &KubeApiServer) -> Option<Value> {
    server
        .get_object(
            "coordination.k8s.io/v1",
            "Lease",
            Some("default"),
            "app-dev",
        )
        .map(|l| l["spec"]["holderIdentity"].clone())
}

#[tokio::test]
async fn a_held_lease_is_taken_by_the_second_manager_only_after_release() -> Result<()> {
    let server = KubeApiServer::start().await?;
    let first = LeaseManagerBuilder::new(server.client()?, "app-dev")
        .with_identity("sync-a")
        .with_duration(LEASE_SECONDS)
        .with_grace(GRACE_SECONDS)
        .build()
        .await?;
    let second = LeaseManagerBuilder::new(server.client()?, "app-dev")
        .with_identity("sync-b")
        .with_duration(LEASE_SECONDS)
        .with_grace(GRACE_SECONDS)
        .build()
        .await?;
    assert!(
        first.changed().await?,
        "the first manager takes the free lease"
    );
    assert_eq!(holder(&server), Some(json!("sync-a")));

    let reads_before = lease_reads(&server);
    let contender =
        tokio::spawn(async move { second.changed().await.map(|leader| (leader, second)) });
    let deadline = tokio::time::Instant::now() + WAIT_LIMIT;
    while lease_reads(&server) == reads_before {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the second manager never looked at the lease"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        holder(&server),
        Some(json!("sync-a")),
        "a held lease is not taken"
    );

    first.release().await?;
    let (leader, _second) = tokio::time::timeout(WAIT_LIMIT, contender).await???;
    assert!(leader, "the second manager takes the released lease");
    assert_eq!(holder(&server), Some(json!("sync-b")));
    let lease = server
        .get_object(
            "coordination.k8s.io/v1",
            "Lease",
            Some("default"),
            "app-dev",
        )
        .context("lease")?;
    assert_eq!(
        lease["spec"]["leaseTransitions"],
        json!(2),
        "one per acquisition"
    );
    Ok(())
}
