use super::*;
use crate::event::{Delivery, Provider};
use crate::policy::Trigger;
use crate::store::inbox::Admission;

const CONFIG: &str = "
apps:
  web:
    image: ghcr.io/acme/web
    environments:
      - { name: dev, path: envs/dev }
      - { name: prod, path: envs/prod }
";
const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

fn ts(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn source() -> SourceInfo {
    SourceInfo {
        repository: Some("acme/web".into()),
        commit: Some(COMMIT.into()),
        git_ref: Some("refs/tags/v1.0.0".into()),
        url: None,
    }
}

fn artifact(tag: &str, digest: &str, with_source: bool) -> DomainEvent {
    DomainEvent::ArtifactPublished(ArtifactPublished {
        image: ImageRef {
            repository: "ghcr.io/acme/web".into(),
            tag: Some(tag.into()),
            digest: Some(digest.into()),
        },
        source: if with_source {
            source()
        } else {
            SourceInfo::default()
        },
        pipeline: None,
        built_at: Some("2026-06-01T10:00:00Z".into()),
    })
}

fn pipeline(level: PipelineLevel, name: &str, status: PipelineStatus) -> DomainEvent {
    timed_pipeline(level, name, status, RunClock::default())
}

fn timed_pipeline(
    level: PipelineLevel,
    name: &str,
    status: PipelineStatus,
    run: RunClock,
) -> DomainEvent {
    DomainEvent::PipelineCompleted(PipelineCompleted {
        source: source(),
        status,
        name: Some(name.into()),
        url: None,
        tests: None,
        level,
        run,
    })
}

fn rollout(env: &str, verdict: RolloutVerdict, at: &str) -> DomainEvent {
    DomainEvent::RolloutReported(RolloutReported {
        app: "web".into(),
        environment: env.into(),
        revision: "r1".into(),
        image: Some(ImageRef {
            repository: "ghcr.io/acme/web".into(),
            tag: Some("v1.0.0".into()),
            digest: Some(D1.into()),
        }),
        verdict,
        reason: None,
        evidence: Vec::new(),
        at: at.into(),
    })
}

/// Admit each event as a delivery and record it in the settling write.
async fn feed(store: &Store, events: Vec<DomainEvent>) {
    for (i, event) in events.into_iter().enumerate() {
        let delivery = Delivery {
            provider: Provider::Generic,
            delivery_id: format!("d-{i}-{}", event.kind()),
            event_type: event.kind().into(),
            event: event.clone(),
        };
        let Admission::Accepted(seq) = store.admit(delivery).await.unwrap() else {
            panic!("duplicate delivery");
        };
        store
            .write(move |conn| {
                record_event(conn, seq, &event)?;
                // Replaying the same delivery records nothing twice.
                record_event(conn, seq, &event)?;
                crate::store::inbox::settle(
                    conn,
                    seq,
                    crate::store::inbox::DeliveryState::Done,
                    &serde_json::json!({}),
                )
            })
            .await
            .unwrap();
    }
}

fn request(env: &str, digest: &str, with_source: bool) -> DeployRequest {
    DeployRequest {
        app: "web".into(),
        environment: env.into(),
        image: ImageRef {
            repository: "ghcr.io/acme/web".into(),
            tag: Some("v1.0.0".into()),
            digest: Some(digest.into()),
        },
        source: if with_source {
            source()
        } else {
            SourceInfo::default()
        },
        provider: Some(Provider::Generic),
        built_at: None,
        trigger: Trigger::Artifact,
        event_id: "x".into(),
        requested_at: ts("2026-06-01T11:00:00Z"),
    }
}

#[tokio::test]
async fn ingress_events_become_the_facts_of_a_request() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let config = RepoConfig::parse(CONFIG, "slipway.yaml").unwrap();
    feed(
        &store,
        vec![
            artifact("v1.0.0", D1, true),
            artifact("v1.0.0", D2, false),
            pipeline(PipelineLevel::Job, "test", PipelineStatus::Failure),
            pipeline(PipelineLevel::Pipeline, "ci", PipelineStatus::Running),
            pipeline(PipelineLevel::Pipeline, "ci", PipelineStatus::Success),
            pipeline(PipelineLevel::Pipeline, "ci", PipelineStatus::Running),
            pipeline(PipelineLevel::Job, "test", PipelineStatus::Success),
            rollout("dev", RolloutVerdict::Verified, "2026-06-01T12:00:00Z"),
            rollout("prod", RolloutVerdict::Failed, "2026-06-01T13:00:00Z"),
        ],
    )
    .await;
    let now = ts("2026-06-01T14:00:00Z");
    // A registry event without source is tied to its commit by the earlier CI event.
    let facts = store
        .facts_for(&config, &request("prod", D2, false), now)
        .await
        .unwrap();
    let artifact = facts.artifact.clone().unwrap();
    assert_eq!(
        artifact.digest.as_deref(),
        Some(D1),
        "first digest of the tag"
    );
    assert_eq!(artifact.source.commit.as_deref(), Some(COMMIT));
    assert_eq!(artifact.built_at, Some(ts("2026-06-01T10:00:00Z")));
    let mut states: Vec<_> = facts
        .pipelines
        .iter()
        .map(|p| (p.name.as_str(), p.status))
        .collect();
    states.sort_by_key(|s| s.0);
    assert_eq!(
        states,
        [
            ("ci", PipelineStatus::Success),
            ("test", PipelineStatus::Success)
        ],
        "latest state per pipeline and job; the re-run job replaced its failure"
    );
    assert_eq!(facts.commit_digests, [D1], "only D1 came with the commit");
    assert!(
        facts.upstream_rollouts.is_empty(),
        "the D2 image was never verified in dev"
    );
    let promoted = store
        .facts_for(&config, &request("prod", D1, true), now)
        .await
        .unwrap();
    assert_eq!(promoted.upstream_rollouts.len(), 1);
    assert_eq!(
        promoted.upstream_rollouts[0].verdict,
        RolloutVerdict::Verified
    );
    let first_env = store
        .facts_for(&config, &request("dev", D1, true), now)
        .await
        .unwrap();
    assert!(
        first_env.upstream_rollouts.is_empty(),
        "dev is promoted from nothing"
    );
}

#[tokio::test]
async fn the_newest_result_by_the_senders_clock_counts_whatever_the_arrival_order() {
    let clock = |run: &str, attempt: u64, at: &str| RunClock {
        run_id: Some(run.into()),
        attempt: Some(attempt),
        at: Some(at.into()),
    };
    // (row, results in arrival order, the status that must count)
    let cases = [
        (
            "late first attempt after a failed retry",
            vec![
                (
                    PipelineStatus::Failure,
                    clock("7", 2, "2026-06-01T09:10:00Z"),
                ),
                (
                    PipelineStatus::Success,
                    clock("7", 1, "2026-06-01T09:00:00Z"),
                ),
            ],
            PipelineStatus::Failure,
        ),
        (
            "retry that passed, in order",
            vec![
                (
                    PipelineStatus::Failure,
                    clock("7", 1, "2026-06-01T09:00:00Z"),
                ),
                (
                    PipelineStatus::Success,
                    clock("7", 2, "2026-06-01T09:10:00Z"),
                ),
            ],
            PipelineStatus::Success,
        ),
        (
            "an older run delivered late",
            vec![
                (
                    PipelineStatus::Failure,
                    clock("9", 1, "2026-06-01T10:00:00Z"),
                ),
                (
                    PipelineStatus::Success,
                    clock("8", 1, "2026-06-01T09:00:00Z"),
                ),
            ],
            PipelineStatus::Failure,
        ),
        (
            "no clock: arrival order",
            vec![
                (PipelineStatus::Failure, RunClock::default()),
                (PipelineStatus::Success, RunClock::default()),
            ],
            PipelineStatus::Success,
        ),
    ];
    let config = RepoConfig::parse(CONFIG, "slipway.yaml").unwrap();
    for (row, results, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let events = results
            .into_iter()
            .map(|(status, run)| timed_pipeline(PipelineLevel::Pipeline, "build", status, run))
            .collect();
        feed(&store, events).await;
        let facts = store
            .facts_for(
                &config,
                &request("dev", D1, true),
                ts("2026-06-01T14:00:00Z"),
            )
            .await
            .unwrap();
        let got: Vec<_> = facts.pipelines.iter().map(|p| p.status).collect();
        assert_eq!(got, [want], "{row}");
    }
}

#[tokio::test]
async fn desired_images_and_recent_deploys_come_from_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let config = RepoConfig::parse(CONFIG, "slipway.yaml").unwrap();
    let image = ImageRef {
        repository: "ghcr.io/acme/web".into(),
        tag: Some("v0.9.0".into()),
        digest: Some(D2.into()),
    };
    for (i, at) in [
        "2026-06-01T11:00:00Z",
        "2026-06-01T13:10:00Z",
        "2026-06-01T13:50:00Z",
    ]
    .into_iter()
    .enumerate()
    {
        let image = image.clone();
        store
            .write(move |conn| {
                record_desired(
                    conn,
                    "web",
                    "prod",
                    &image,
                    None,
                    &format!("rev{i}"),
                    ts(at),
                )
            })
            .await
            .unwrap();
    }
    let facts = store
        .facts_for(
            &config,
            &request("prod", D1, true),
            ts("2026-06-01T14:00:00Z"),
        )
        .await
        .unwrap();
    let desired = facts.desired.unwrap();
    assert_eq!(desired.image.tag.as_deref(), Some("v0.9.0"));
    assert_eq!(desired.set_at, ts("2026-06-01T13:50:00Z"));
    assert_eq!(
        facts.recent_deploys,
        [ts("2026-06-01T13:10:00Z"), ts("2026-06-01T13:50:00Z")],
        "only the last hour"
    );
    let other = store
        .read(|c| desired_image(c, "web", "dev"))
        .await
        .unwrap();
    assert!(other.is_none());
}
