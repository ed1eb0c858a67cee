//! Pull-request promotion against GitHub and GitLab API test servers and a
//! real bare repository.

use crate::support::forge;
use crate::support::git_repos;

use std::sync::Arc;

use forge::{Failure, ForgeServer};
use futures::future::BoxFuture;
use git_repos::*;
use slipway::deployrepo::forge::{
    Forge, ForgeError, PullRequest as OpenRequest, PullRequestSpec, open_or_update,
};
use slipway::deployrepo::github::GitHub;
use slipway::deployrepo::gitlab::GitLab;
use slipway::deployrepo::{DeployWriter, Disposition, FailureKind, Written};
use slipway::repoconfig::WriteMode::PullRequest;
use slipway::secret::Secret;

const TOKEN: &str = "forge-token";
const PROD_WEB: &str = "envs/prod/web/deployment.yaml";

fn clients(server: &ForgeServer) -> Vec<(&'static str, Arc<dyn Forge>)> {
    vec![
        (
            "github",
            Arc::new(GitHub::new(&server.github_url(), "acme/deploy", Secret::new(TOKEN)).unwrap()),
        ),
        (
            "gitlab",
            Arc::new(GitLab::new(&server.gitlab_url(), "acme/deploy", Secret::new(TOKEN)).unwrap()),
        ),
    ]
}

#[tokio::test]
async fn a_pull_request_is_opened_then_updated_by_a_newer_image() {
    for kind in ["github", "gitlab"] {
        let tmp = tempfile::tempdir().unwrap();
        let bare = seed_remote(tmp.path(), &["web".to_string()]);
        let server = ForgeServer::start("acme", TOKEN).await;
        let forge = clients(&server)
            .into_iter()
            .find(|(k, _)| *k == kind)
            .unwrap()
            .1;
        let writer = DeployWriter::new(
            local_settings(bare.to_str().unwrap()),
            tmp.path().join("w"),
            Some(forge),
        );
        let main_before = git(&bare, &["rev-parse", "main"]);

        let first = writer
            .write(vec![request("evt-1", "web", "prod", "1.1.0", PullRequest)])
            .await;
        let Written::PullRequest {
            branch,
            number,
            updated,
            commit,
            ..
        } = written(&first[0]).clone()
        else {
            panic!("{kind}: {first:?}")
        };
        assert_eq!(
            (branch.as_str(), number, updated),
            ("slipway/web/prod", 1, false),
            "{kind}"
        );
        assert!(
            remote_file(&bare, &branch, PROD_WEB).contains("ghcr.io/acme/web:1.1.0"),
            "{kind}"
        );
        assert_eq!(
            git(&bare, &["rev-parse", "main"]),
            main_before,
            "{kind}: main must not move"
        );
        let stored = server.stored();
        assert_eq!(stored.len(), 1, "{kind}");
        assert_eq!(stored[0].title, "deploy(web/prod): 1.1.0", "{kind}");
        for needle in [
            "ghcr.io/acme/web:1.0.0",
            "ghcr.io/acme/web:1.1.0",
            "rule tests-passed",
            "https://ci.example/acme/run/42",
            PROD_WEB,
        ] {
            assert!(
                stored[0].body.contains(needle),
                "{kind}: {needle} missing from {}",
                stored[0].body
            );
        }

        let second = writer
            .write(vec![request("evt-2", "web", "prod", "1.2.0", PullRequest)])
            .await;
        let Written::PullRequest {
            number,
            updated,
            commit: newer,
            ..
        } = written(&second[0]).clone()
        else {
            panic!("{kind}: {second:?}")
        };
        assert_eq!((number, updated), (1, true), "{kind}");
        assert_ne!(newer, commit);
        assert!(
            remote_file(&bare, "slipway/web/prod", PROD_WEB).contains("ghcr.io/acme/web:1.2.0"),
            "{kind}"
        );
        let stored = server.stored();
        assert_eq!(stored.len(), 1, "{kind}: no second request is opened");
        assert!(stored[0].body.contains("ghcr.io/acme/web:1.2.0"), "{kind}");
        assert_eq!(stored[0].title, "deploy(web/prod): 1.2.0", "{kind}");

        // Replaying the event reuses the pushed branch: no new commit.
        let replay = writer
            .write(vec![request("evt-2", "web", "prod", "1.2.0", PullRequest)])
            .await;
        assert!(
            matches!(
                written(&replay[0]),
                Written::PullRequest { updated: true, .. }
            ),
            "{kind}: {replay:?}"
        );
        assert_eq!(
            git(&bare, &["rev-parse", "slipway/web/prod"]).trim(),
            newer,
            "{kind}"
        );

        // A late event with an older image does not replace the newer proposal.
        let late = writer
            .write(vec![request("evt-0", "web", "prod", "1.1.5", PullRequest)])
            .await;
        assert!(
            matches!(written(&late[0]), Written::Refused { .. }),
            "{kind}: {late:?}"
        );
        assert_eq!(
            git(&bare, &["rev-parse", "slipway/web/prod"]).trim(),
            newer,
            "{kind}"
        );
    }
}

#[tokio::test]
async fn a_forge_error_keeps_the_pushed_branch_and_a_retry_opens_the_request() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = seed_remote(tmp.path(), &["web".to_string()]);
    let server = ForgeServer::start("acme", TOKEN).await;
    let forge = clients(&server).remove(0).1;
    let writer = DeployWriter::new(
        local_settings(bare.to_str().unwrap()),
        tmp.path().join("w"),
        Some(forge),
    );
    server.fail_with(Some(Failure::Status(502)));
    let req = request("evt-1", "web", "prod", "1.1.0", PullRequest);
    let failed = writer.write(vec![req.clone()]).await;
    let failure = failed[0].result.as_ref().expect_err("502");
    assert_eq!(failure.disposition, Disposition::Retry, "{failure:?}");
    assert_eq!(failure.kind, FailureKind::Forge, "{failure:?}");
    server.fail_with(Some(Failure::GitHubRateLimit(4_102_444_800)));
    let limited = writer.write(vec![req.clone()]).await;
    let failure = limited[0].result.as_ref().expect_err("rate limited");
    assert_eq!(failure.kind, FailureKind::ForgeRateLimit, "{failure:?}");
    assert_eq!(
        failure.retry_at.map(|t| t.as_second()),
        Some(4_102_444_800),
        "the reset reaches the caller as a time"
    );
    server.fail_with(None);
    let retried = writer.write(vec![req]).await;
    assert!(
        matches!(written(&retried[0]), Written::PullRequest { number: 1, .. }),
        "{retried:?}"
    );
    assert_eq!(server.stored().len(), 1);
}

#[tokio::test]
async fn pull_request_mode_without_a_forge_stalls() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = seed_remote(tmp.path(), &["web".to_string()]);
    let writer = DeployWriter::new(
        local_settings(bare.to_str().unwrap()),
        tmp.path().join("w"),
        None,
    );
    let outcomes = writer
        .write(vec![request("evt-1", "web", "prod", "1.1.0", PullRequest)])
        .await;
    assert_eq!(
        outcomes[0].result.as_ref().unwrap_err().disposition,
        Disposition::Stall
    );
}

fn spec() -> PullRequestSpec {
    PullRequestSpec {
        head_branch: "slipway/web/prod".into(),
        base_branch: "main".into(),
        title: "deploy(web/prod): 1.1.0".into(),
        body: "body".into(),
    }
}

#[tokio::test]
async fn forge_errors_are_typed_with_retry_or_stall_and_reset_times() {
    let reset: u64 = 4_102_444_800; // 2100-01-01T00:00:00Z
    type IsExpected = fn(&ForgeError) -> bool;
    let cases: Vec<(&str, &str, Failure, Disposition, IsExpected)> = vec![
        (
            "github 401",
            "github",
            Failure::Status(401),
            Disposition::Stall,
            |e| matches!(e, ForgeError::Unauthorized { .. }),
        ),
        (
            "github 403",
            "github",
            Failure::Status(403),
            Disposition::Stall,
            |e| matches!(e, ForgeError::Forbidden { .. }),
        ),
        (
            "github 404",
            "github",
            Failure::Status(404),
            Disposition::Stall,
            |e| matches!(e, ForgeError::NotFound { .. }),
        ),
        (
            "github 422",
            "github",
            Failure::Status(422),
            Disposition::Stall,
            |e| matches!(e, ForgeError::Unprocessable { .. }),
        ),
        (
            "github 500",
            "github",
            Failure::Status(500),
            Disposition::Retry,
            |e| matches!(e, ForgeError::Server { status: 500, .. }),
        ),
        (
            "github primary limit",
            "github",
            Failure::GitHubRateLimit(reset),
            Disposition::Retry,
            |e| e.retry_at().map(|t| t.as_second()) == Some(4_102_444_800),
        ),
        (
            "github secondary limit",
            "github",
            Failure::GitHubSecondaryLimit(120),
            Disposition::Retry,
            |e| matches!(e, ForgeError::RateLimited { .. }),
        ),
        (
            "gitlab 401",
            "gitlab",
            Failure::Status(401),
            Disposition::Stall,
            |e| matches!(e, ForgeError::Unauthorized { .. }),
        ),
        (
            "gitlab 404",
            "gitlab",
            Failure::Status(404),
            Disposition::Stall,
            |e| matches!(e, ForgeError::NotFound { .. }),
        ),
        (
            "gitlab 503",
            "gitlab",
            Failure::Status(503),
            Disposition::Retry,
            |e| matches!(e, ForgeError::Server { status: 503, .. }),
        ),
        (
            "gitlab rate limit",
            "gitlab",
            Failure::GitLabRateLimit(reset),
            Disposition::Retry,
            |e| e.retry_at().map(|t| t.as_second()) == Some(4_102_444_800),
        ),
    ];
    for (name, kind, failure, disposition, is_expected) in cases {
        let server = ForgeServer::start("acme", TOKEN).await;
        let forge = clients(&server)
            .into_iter()
            .find(|(k, _)| *k == kind)
            .unwrap()
            .1;
        server.fail_with(Some(failure));
        let err = open_or_update(forge.as_ref(), &spec())
            .await
            .expect_err(name);
        assert_eq!(err.disposition(), disposition, "{name}: {err}");
        assert!(is_expected(&err), "{name}: {err:?}");
        assert!(!err.to_string().contains(TOKEN), "{name}: token leaked");
    }
}

/// A forge whose first list misses an open request, as when another writer
/// opens it between our list and our create.
struct RacingForge {
    inner: Arc<dyn Forge>,
    missed: std::sync::atomic::AtomicBool,
}

impl Forge for RacingForge {
    fn find_open<'a>(
        &'a self,
        spec: &'a PullRequestSpec,
    ) -> BoxFuture<'a, Result<Option<OpenRequest>, ForgeError>> {
        if !self.missed.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Box::pin(async { Ok(None) });
        }
        self.inner.find_open(spec)
    }
    fn create<'a>(
        &'a self,
        spec: &'a PullRequestSpec,
    ) -> BoxFuture<'a, Result<OpenRequest, ForgeError>> {
        self.inner.create(spec)
    }
    fn update<'a>(
        &'a self,
        number: u64,
        spec: &'a PullRequestSpec,
    ) -> BoxFuture<'a, Result<OpenRequest, ForgeError>> {
        self.inner.update(number, spec)
    }
}

#[tokio::test]
async fn a_create_that_loses_a_race_updates_the_winner() {
    let server = ForgeServer::start("acme", TOKEN).await;
    for (kind, forge) in clients(&server) {
        let spec = PullRequestSpec {
            head_branch: format!("slipway/{kind}/prod"),
            ..spec()
        };
        let (winner, _) = open_or_update(forge.as_ref(), &spec).await.unwrap();
        let racing = RacingForge {
            inner: forge,
            missed: Default::default(),
        };
        let (pull, updated) = open_or_update(&racing, &spec).await.unwrap();
        assert!(updated, "{kind}");
        assert_eq!(pull.number, winner.number, "{kind}");
    }
    assert_eq!(server.stored().len(), 2);
    assert!(server.stored().iter().all(|r| r.updates == 1));
}

#[tokio::test]
async fn a_wrong_token_is_unauthorised() {
    let server = ForgeServer::start("acme", TOKEN).await;
    let forge = GitLab::new(&server.gitlab_url(), "acme/deploy", Secret::new("wrong")).unwrap();
    let err = open_or_update(&forge, &spec()).await.unwrap_err();
    assert!(matches!(err, ForgeError::Unauthorized { .. }), "{err:?}");
    let seen = server.state.seen.lock().unwrap().clone();
    assert!(
        seen[0].starts_with("GET merge_requests acme/deploy"),
        "the project path is sent encoded and decoded by the server: {seen:?}"
    );
}
