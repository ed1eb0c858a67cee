//! A failed rollout's evidence against the API test server: the failing
//! pods' last log lines (the previous run's for a crash loop) and their
//! Warning Events land in the status and in the failure report, and go
//! when a rollout is verified again.

use crate::support;
use crate::sync_common;

use slipway::store::sync_state::SyncPhase;
use slipway::sync::cluster::{ClusterTarget, KubeCluster};
use slipway::sync::evidence::MAX_PODS;
use support::kube_api::KubeApiServer;
use sync_common::{Harness, ReportInbox, reporter, web_repo};

#[tokio::test]
async fn a_failed_rollout_records_its_pods_logs_and_warnings_until_one_is_verified() {
    // (tag, previous run read, a log line expected, a Warning expected)
    let cases = [
        (
            "2.0.0-crash",
            true,
            Some("panic: web exited with status 1 (restart 3)"),
            "BackOff: Back-off restarting failed container web in pod ",
        ),
        ("2.0.0-fail", false, None, "Failed: Error: ImagePullBackOff"),
    ];
    for (tag, previous, line, warning) in cases {
        let repo = web_repo("ghcr.io/acme/web:1.0.0");
        let server = KubeApiServer::start().await.unwrap();
        let (inbox, url) = ReportInbox::start().await;
        let cluster = ClusterTarget::Kube(KubeCluster::new(server.client().unwrap()));
        let h = Harness::new(&repo, cluster, Some(reporter(&url)));
        h.sync.sync_once().await.unwrap();
        assert!(h.status().await.failure_evidence.is_empty(), "{tag}");

        let image = format!("ghcr.io/acme/web:{tag}");
        repo.set_web_image(&image, "bump");
        h.sync.sync_once().await.unwrap();
        let status = h.status().await;
        assert_eq!(status.state, SyncPhase::RolledBack, "{tag}");
        let evidence = &status.failure_evidence;
        assert!(
            !evidence.is_empty() && evidence.len() <= MAX_PODS,
            "{tag}: {evidence:?}"
        );
        for pod in evidence {
            assert!(pod.pod.starts_with("web-"), "{tag}: {pod:?}");
            assert_eq!(pod.container, "web", "{tag}");
            assert_eq!(pod.previous, previous, "{tag}");
            match line {
                Some(line) => assert_eq!(
                    pod.log,
                    [format!("starting web from image {image}"), line.to_string()],
                    "{tag}"
                ),
                None => assert!(pod.log.is_empty(), "{tag}: never started: {pod:?}"),
            }
            assert!(
                pod.warnings.iter().any(|w| w.starts_with(warning)),
                "{tag}: {:?}",
                pod.warnings
            );
        }
        let report = inbox.last();
        assert_eq!(report["verdict"], "failed", "{tag}");
        assert_eq!(
            report["evidence"],
            serde_json::to_value(evidence).unwrap(),
            "{tag}: the report carries the evidence"
        );

        repo.set_web_image("ghcr.io/acme/web:2.0.1", "fix");
        h.sync.sync_once().await.unwrap();
        let status = h.status().await;
        assert_eq!(status.state, SyncPhase::Verified, "{tag}");
        assert!(status.failure_evidence.is_empty(), "{tag}: cleared");
        assert!(inbox.last().get("evidence").is_none(), "{tag}");
    }
}
