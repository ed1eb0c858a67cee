//! The writer against real bare repositories on disk.

use crate::support::git_repos;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use git_repos::*;
use slipway::deployrepo::{
    DeployRequest, DeployWriter, Disposition, NoDowngrade, Recheck, WriterLimits, Written,
};
use slipway::repoconfig::WriteMode::Commit;

fn writer(bare: &std::path::Path, dir: &std::path::Path) -> DeployWriter {
    DeployWriter::new(
        local_settings(bare.to_str().unwrap()),
        dir.to_path_buf(),
        None,
    )
}

const DEV_WEB: &str = "envs/dev/web/deployment.yaml";

#[tokio::test]
async fn a_deploy_changes_one_line_and_carries_trailers() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = seed_remote(tmp.path(), &["web".to_string()]);
    let before = remote_file(&bare, "main", DEV_WEB);
    let outcomes = writer(&bare, &tmp.path().join("w"))
        .write(vec![request("evt-1", "web", "dev", "1.4.2", Commit)])
        .await;
    let Written::Committed { commit, changes } = written(&outcomes[0]) else {
        panic!("{outcomes:?}")
    };
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].field, "spec.template.spec.containers[0].image");
    let after = remote_file(&bare, "main", DEV_WEB);
    assert_eq!(after, before.replace("web:1.0.0   #", "web:1.4.2   #"));
    let message = tip_message(&bare, "main");
    assert!(message.starts_with("deploy(web/dev): 1.4.2\n"), "{message}");
    for trailer in [
        "Slipway-Event: evt-1",
        "Slipway-App: web",
        "Slipway-Environment: dev",
        "Slipway-Image: ghcr.io/acme/web:1.4.2",
        "Slipway-Digest: none",
        "Slipway-Verdict: allow: tests passed",
    ] {
        assert!(
            message.lines().any(|l| l == trailer),
            "{trailer} missing: {message}"
        );
    }
    assert_eq!(git(&bare, &["rev-parse", "main"]).trim(), commit);
    let trailers = git(
        &bare,
        &[
            "log",
            "-1",
            "--format=%(trailers:key=Slipway-Event,valueonly)",
            "main",
        ],
    );
    assert_eq!(trailers.trim(), "evt-1", "git itself reads the trailer");
}

#[tokio::test]
async fn replaying_an_event_makes_no_second_commit_even_after_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = seed_remote(tmp.path(), &["web".to_string()]);
    let first = writer(&bare, &tmp.path().join("w1"));
    let req = request("evt-1", "web", "dev", "1.4.2", Commit);
    first.write(vec![req.clone()]).await;
    let commits = commit_count(&bare, "main");
    let again = first.write(vec![req.clone()]).await;
    assert!(
        matches!(written(&again[0]), Written::AlreadyWritten { .. }),
        "{again:?}"
    );
    // A fresh writer on a fresh clone (a restart, or another replica).
    let restarted = writer(&bare, &tmp.path().join("w2")).write(vec![req]).await;
    assert!(
        matches!(written(&restarted[0]), Written::AlreadyWritten { .. }),
        "{restarted:?}"
    );
    assert_eq!(commit_count(&bare, "main"), commits);
}

#[tokio::test]
async fn an_edit_that_changes_nothing_makes_no_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = seed_remote(tmp.path(), &["web".to_string()]);
    let commits = commit_count(&bare, "main");
    let outcomes = writer(&bare, &tmp.path().join("w"))
        .write(vec![request("evt-same", "web", "dev", "1.0.0", Commit)])
        .await;
    assert_eq!(written(&outcomes[0]), &Written::Unchanged);
    assert_eq!(commit_count(&bare, "main"), commits);
}

#[tokio::test]
async fn a_burst_over_many_apps_becomes_one_commit_and_drops_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let apps = app_names(5);
    let bare = seed_remote(tmp.path(), &apps);
    let commits = commit_count(&bare, "main");
    let mut burst: Vec<DeployRequest> = Vec::new();
    for round in 1..=3 {
        for app in &apps {
            burst.push(request(
                &format!("evt-{app}-{round}"),
                app,
                "dev",
                &format!("1.{round}.0"),
                Commit,
            ));
        }
    }
    let outcomes = writer(&bare, &tmp.path().join("w")).write(burst).await;
    assert_eq!(commit_count(&bare, "main"), commits + 1);
    let message = tip_message(&bare, "main");
    for outcome in &outcomes {
        assert!(
            matches!(written(outcome), Written::Committed { .. }),
            "{outcome:?}"
        );
        assert!(
            message.contains(&format!("Slipway-Event: {}", outcome.event_id)),
            "{message}"
        );
    }
    for app in &apps {
        let file = remote_file(&bare, "main", &format!("envs/dev/{app}/deployment.yaml"));
        assert!(
            file.contains(&format!("ghcr.io/acme/{app}:1.3.0")),
            "{file}"
        );
    }
}

#[tokio::test]
async fn two_writers_at_once_both_land_their_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let apps = app_names(2);
    let bare = seed_remote(tmp.path(), &apps);
    let a = writer(&bare, &tmp.path().join("a"));
    let b = writer(&bare, &tmp.path().join("b"));
    let mut tasks = Vec::new();
    for i in 0..5 {
        let (a, b) = (a.clone(), b.clone());
        tasks.push(tokio::spawn(async move {
            a.write(vec![request(
                &format!("a-{i}"),
                "app0",
                "dev",
                &format!("2.{i}.0"),
                Commit,
            )])
            .await
        }));
        tasks.push(tokio::spawn(async move {
            b.write(vec![request(
                &format!("b-{i}"),
                "app1",
                "dev",
                &format!("3.{i}.0"),
                Commit,
            )])
            .await
        }));
    }
    let mut committed = Vec::new();
    for task in tasks {
        for outcome in task.await.unwrap() {
            match written(&outcome) {
                Written::Committed { .. } => committed.push(outcome.event_id.clone()),
                // Arriving after a newer version of the same app is a refused downgrade.
                Written::Refused { .. } => {}
                other => panic!("{other:?}"),
            }
        }
    }
    assert!(remote_file(&bare, "main", "envs/dev/app0/deployment.yaml").contains("app0:2.4.0"));
    assert!(remote_file(&bare, "main", "envs/dev/app1/deployment.yaml").contains("app1:3.4.0"));
    let log = git(&bare, &["log", "--format=%B", "main"]);
    for event in &committed {
        assert!(
            log.contains(&format!("Slipway-Event: {event}\n")),
            "{event} missing from history"
        );
    }
    assert!(committed.contains(&"a-4".to_string()) && committed.contains(&"b-4".to_string()));
}

/// A re-check that, the first time it runs, lets a person push a commit to
/// the remote: the writer's first push then races it and is rejected.
struct HumanRacesTheWriter {
    bare: std::path::PathBuf,
    scratch: std::path::PathBuf,
    path: &'static str,
    fired: AtomicBool,
}

impl Recheck for HumanRacesTheWriter {
    fn recheck(&self, request: &DeployRequest, current: &[String]) -> Result<(), String> {
        if !self.fired.swap(true, Ordering::SeqCst) {
            human_commit(&self.bare, &self.scratch, self.path, |t| {
                t.replace("replicas: 2", "replicas: 5")
            });
        }
        NoDowngrade.recheck(request, current)
    }
}

#[tokio::test]
async fn a_human_commit_between_fetch_and_push_is_kept_on_another_file_and_on_the_same_file() {
    for (name, human_path) in [
        ("another file", "envs/dev/app1/deployment.yaml"),
        ("same file", "envs/dev/app0/deployment.yaml"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let bare = seed_remote(tmp.path(), &app_names(2));
        let recheck = Arc::new(HumanRacesTheWriter {
            bare: bare.clone(),
            scratch: tmp.path().to_path_buf(),
            path: human_path,
            fired: AtomicBool::new(false),
        });
        let w = writer(&bare, &tmp.path().join("w")).with_recheck(recheck);
        let outcomes = w
            .write(vec![request("evt-race", "app0", "dev", "2.0.0", Commit)])
            .await;
        assert!(
            matches!(written(&outcomes[0]), Written::Committed { .. }),
            "{name}: {outcomes:?}"
        );
        let ours = remote_file(&bare, "main", "envs/dev/app0/deployment.yaml");
        assert!(ours.contains("ghcr.io/acme/app0:2.0.0"), "{name}: {ours}");
        let theirs = remote_file(&bare, "main", human_path);
        assert!(
            theirs.contains("replicas: 5"),
            "{name}: the human change was lost: {theirs}"
        );
        let parents = git(&bare, &["log", "-2", "--format=%s", "main"]);
        assert_eq!(
            parents.lines().collect::<Vec<_>>(),
            ["deploy(app0/dev): 2.0.0", "human: tune replicas"],
            "{name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_concurrent_events_for_one_app_end_with_the_highest_allowed_version() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = seed_remote(tmp.path(), &["web".to_string()]);
    let limits = WriterLimits {
        push_attempts: 60,
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(200),
    };
    let writers: Vec<DeployWriter> = (0..4)
        .map(|i| writer(&bare, &tmp.path().join(format!("w{i}"))).with_limits(limits))
        .collect();
    // A fixed shuffle: versions arrive out of order.
    let mut versions: Vec<u32> = (1..=100).collect();
    for i in 0..versions.len() {
        let j = (i * 37 + 11) % versions.len();
        versions.swap(i, j);
    }
    let mut tasks = Vec::new();
    for (n, v) in versions.into_iter().enumerate() {
        let w = writers[n % writers.len()].clone();
        tasks.push(tokio::spawn(async move {
            w.write(vec![request(
                &format!("evt-{v}"),
                "web",
                "dev",
                &format!("1.0.{v}"),
                Commit,
            )])
            .await
        }));
    }
    let mut committed = Vec::new();
    for task in tasks {
        for outcome in task.await.unwrap() {
            match written(&outcome) {
                Written::Committed { commit, .. } => committed.push(commit.clone()),
                Written::Refused { .. } | Written::Unchanged => {}
                other => panic!("{other:?}"),
            }
        }
    }
    assert!(remote_file(&bare, "main", DEV_WEB).contains("ghcr.io/acme/web:1.0.100"));
    // No reported commit was overwritten by a racing writer.
    let history = git(&bare, &["rev-list", "main"]);
    for commit in &committed {
        assert!(history.contains(commit.as_str()), "{commit} was lost");
    }
}

#[tokio::test]
async fn invalid_requests_stall_and_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = seed_remote(tmp.path(), &["web".to_string()]);
    let commits = commit_count(&bare, "main");
    let mut newline = request("evt-nl", "web", "dev", "1.0.1", Commit);
    newline.image.tag = Some("1.0.1\nkind: Secret".into());
    let mut traversal = request("evt-path", "web", "dev", "1.0.1", Commit);
    traversal.environment = "../../etc".into();
    let mut unknown = request("evt-unknown", "web", "staging", "1.0.1", Commit);
    unknown.environment = "staging".into();
    let mut wrong_repo = request("evt-repo", "web", "dev", "1.0.1", Commit);
    wrong_repo.image.repository = "ghcr.io/evil/web".into();
    let mut bad_id = request("evt with space", "web", "dev", "1.0.1", Commit);
    bad_id.event_id = "evt\nSlipway-Event: forged".into();
    let outcomes = writer(&bare, &tmp.path().join("w"))
        .write(vec![newline, traversal, unknown, wrong_repo, bad_id])
        .await;
    for outcome in &outcomes {
        let failure = outcome.result.as_ref().expect_err("must fail");
        assert_eq!(failure.disposition, Disposition::Stall, "{outcome:?}");
    }
    assert_eq!(commit_count(&bare, "main"), commits);
}

#[tokio::test]
async fn two_writers_given_the_same_event_make_one_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = seed_remote(tmp.path(), &["web".to_string()]);
    let commits = commit_count(&bare, "main");
    let req = request("evt-shared", "web", "dev", "1.4.2", Commit);
    let (a, b) = (
        writer(&bare, &tmp.path().join("a")),
        writer(&bare, &tmp.path().join("b")),
    );
    let (ra, rb) = tokio::join!(a.write(vec![req.clone()]), b.write(vec![req]));
    let head = git(&bare, &["rev-parse", "main"]).trim().to_string();
    for outcome in [&ra[0], &rb[0]] {
        match written(outcome) {
            // Identical commits made in the same second share one id.
            Written::Committed { commit, .. } | Written::AlreadyWritten { commit } => {
                assert_eq!(commit, &head)
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(commit_count(&bare, "main"), commits + 1);
}

#[tokio::test]
async fn an_environment_that_never_names_the_image_stalls_instead_of_reporting_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = seed_remote(tmp.path(), &["web".to_string()]);
    human_commit(&bare, tmp.path(), DEV_WEB, |t| {
        t.replace("ghcr.io/acme/web:1.0.0", "ghcr.io/acme/other:1.0.0")
    });
    let outcomes = writer(&bare, &tmp.path().join("w"))
        .write(vec![request("evt-1", "web", "dev", "1.4.2", Commit)])
        .await;
    let failure = outcomes[0].result.as_ref().expect_err("nothing to edit");
    assert_eq!(failure.disposition, Disposition::Stall);
    assert!(
        failure.message.contains("no manifest under envs/dev/web"),
        "{}",
        failure.message
    );
}
