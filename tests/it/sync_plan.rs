//! Without a cluster, sync renders each revision of the deploy repo, checks
//! scope and records what it would apply as `planned`.

use crate::sync_common;

use slipway::store::sync_state::SyncPhase;
use slipway::sync::cluster::ClusterTarget;
use slipway::sync::reconcile::Target;
use slipway::sync::runner::TargetOutcome;
use sync_common::{DeployRepo, Harness, SLIPWAY_YAML, config_map, deployment};

#[tokio::test]
async fn without_a_cluster_the_plan_is_recorded_as_planned() {
    let repo = DeployRepo::new(&[
        ("slipway.yaml", SLIPWAY_YAML),
        (
            "envs/dev/web.yaml",
            &deployment("web", "ghcr.io/acme/web:1.0.0"),
        ),
        ("envs/dev/config.yaml", &config_map("web", "a")),
    ]);
    let h = Harness::new(&repo, ClusterTarget::PlanOnly, None);
    let report = h.sync.sync_once().await.unwrap();
    assert_eq!(report.revision, repo.head());
    assert!(
        matches!(&report.targets[0].2, TargetOutcome::Synced(s) if s.state == SyncPhase::Planned)
    );
    let status = h.store.sync_status("web", "dev").await.unwrap().unwrap();
    assert_eq!(status.state, SyncPhase::Planned);
    assert_eq!(
        status.desired_revision.as_deref(),
        Some(repo.head().as_str())
    );
    let plan = status.plan.unwrap();
    assert_eq!(
        plan.apply,
        ["ConfigMap web-dev/web", "Deployment web-dev/web"]
    );
    assert!(plan.prune.is_empty());
    assert!(status.applied_revision.is_none(), "nothing was applied");
}

#[tokio::test]
async fn a_manifest_outside_the_scope_is_refused_and_named() {
    let binding = "apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: admin }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin }
";
    let repo = DeployRepo::new(&[
        ("slipway.yaml", SLIPWAY_YAML),
        (
            "envs/dev/web.yaml",
            &deployment("web", "ghcr.io/acme/web:1.0.0"),
        ),
        ("envs/dev/rbac.yaml", binding),
        (
            "envs/dev/other.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: billing}\n",
        ),
    ]);
    let h = Harness::new(&repo, ClusterTarget::PlanOnly, None);
    h.sync.sync_once().await.unwrap();
    let status = h.store.sync_status("web", "dev").await.unwrap().unwrap();
    assert_eq!(status.refused.len(), 2, "{:?}", status.refused);
    assert!(
        status
            .refused
            .iter()
            .any(|r| r.contains("envs/dev/rbac.yaml") && r.contains("ClusterRoleBinding"))
    );
    assert!(
        status
            .refused
            .iter()
            .any(|r| r.contains("namespace billing"))
    );
    assert_eq!(
        status.plan.unwrap().apply,
        ["Deployment web-dev/web"],
        "the rest still syncs"
    );
}

#[tokio::test]
async fn an_older_revision_renders_from_its_own_tree() {
    let repo = DeployRepo::new(&[
        ("slipway.yaml", SLIPWAY_YAML),
        (
            "envs/dev/web.yaml",
            &deployment("web", "ghcr.io/acme/web:1.0.0"),
        ),
    ]);
    let first = repo.head();
    repo.commit(
        &[(
            "envs/dev/web.yaml",
            &deployment("web", "ghcr.io/acme/web:2.0.0"),
        )],
        "bump",
    );
    let h = Harness::new(&repo, ClusterTarget::PlanOnly, None);
    assert_eq!(h.ctx.source.fetch().unwrap(), repo.head());
    let config = h.ctx.source.repo_config(&first).unwrap();
    let app = config.apps["web"].clone();
    let target = Target {
        app_name: "web".into(),
        env: app.environments[0].clone(),
        app,
        analyses: Default::default(),
    };
    let old = slipway::sync::reconcile::render_at(&h.ctx, &first, &target)
        .await
        .unwrap()
        .unwrap();
    let image = old[0]
        .manifest
        .pointer("/spec/template/spec/containers/0/image")
        .unwrap();
    assert_eq!(image, "ghcr.io/acme/web:1.0.0");
}
