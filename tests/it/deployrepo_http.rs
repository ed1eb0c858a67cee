//! The writer against git's smart-HTTP backend with basic auth: credentials,
//! refused pushes, cut connections and an unreachable remote.

use crate::support::git_http;
use crate::support::git_repos;

use std::sync::atomic::Ordering;
use std::time::Duration;

use git_http::GitHttpServer;
use git_repos::*;
use slipway::deployrepo::credentials::MAX_CREDENTIAL_ATTEMPTS;
use slipway::deployrepo::settings::GitCredentials;
use slipway::deployrepo::{DeployWriter, Disposition, WriterLimits, Written};
use slipway::repoconfig::WriteMode::Commit;
use slipway::secret::SecretSource;

const USER: &str = "deployer";
const PASSWORD: &str = "s3cret-pass";
const DEV_WEB: &str = "envs/dev/web/deployment.yaml";

fn http_writer(
    url: String,
    dir: &std::path::Path,
    password_file: &std::path::Path,
) -> DeployWriter {
    let mut settings = local_settings(&url);
    settings.credentials = Some(GitCredentials::Basic {
        username: USER.into(),
        password: SecretSource::File(password_file.to_path_buf()),
    });
    let limits = WriterLimits {
        push_attempts: 2,
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(20),
    };
    DeployWriter::new(settings, dir.to_path_buf(), None).with_limits(limits)
}

struct Setup {
    tmp: tempfile::TempDir,
    bare: std::path::PathBuf,
    server: GitHttpServer,
    password_file: std::path::PathBuf,
}

async fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let bare = seed_remote(tmp.path(), &["web".to_string()]);
    let server = GitHttpServer::start(tmp.path(), USER, PASSWORD).await;
    let password_file = tmp.path().join("password");
    std::fs::write(&password_file, format!("{PASSWORD}\n")).unwrap();
    Setup {
        tmp,
        bare,
        server,
        password_file,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_over_smart_http_with_basic_auth() {
    let s = setup().await;
    let w = http_writer(
        s.server.url("deploy.git"),
        &s.tmp.path().join("w"),
        &s.password_file,
    );
    let outcomes = w
        .write(vec![request("evt-1", "web", "dev", "1.4.2", Commit)])
        .await;
    assert!(
        matches!(written(&outcomes[0]), Written::Committed { .. }),
        "{outcomes:?}"
    );
    assert!(remote_file(&s.bare, "main", DEV_WEB).contains("ghcr.io/acme/web:1.4.2"));
    assert!(s.server.switches.authorised_requests.load(Ordering::SeqCst) > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_keep_the_request_pending_with_a_visible_error() {
    let s = setup().await;
    s.server
        .switches
        .reject_credentials
        .store(true, Ordering::SeqCst);
    let w = http_writer(
        s.server.url("deploy.git"),
        &s.tmp.path().join("w"),
        &s.password_file,
    );
    let req = request("evt-1", "web", "dev", "1.4.2", Commit);
    let outcomes = w.write(vec![req.clone()]).await;
    let failure = outcomes[0]
        .result
        .as_ref()
        .expect_err("credentials are refused");
    assert_eq!(failure.disposition, Disposition::Retry);
    assert!(
        failure.message.contains("credentials refused"),
        "{}",
        failure.message
    );
    assert!(
        !failure.message.contains(PASSWORD),
        "the secret leaked into {}",
        failure.message
    );
    // libgit2 was stopped after a bounded number of offers, not left looping.
    let asked = s
        .server
        .switches
        .unauthorised_requests
        .load(Ordering::SeqCst);
    assert!(
        asked <= MAX_CREDENTIAL_ATTEMPTS as usize + 2,
        "{asked} attempts"
    );
    // Once the server accepts them again, the same request goes through: nothing was lost.
    s.server
        .switches
        .reject_credentials
        .store(false, Ordering::SeqCst);
    let retried = w.write(vec![req]).await;
    assert!(
        matches!(written(&retried[0]), Written::Committed { .. }),
        "{retried:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_reported_as_refused_credentials() {
    let s = setup().await;
    std::fs::write(&s.password_file, "not-the-password").unwrap();
    let w = http_writer(
        s.server.url("deploy.git"),
        &s.tmp.path().join("w"),
        &s.password_file,
    );
    let outcomes = w
        .write(vec![request("evt-1", "web", "dev", "1.4.2", Commit)])
        .await;
    let failure = outcomes[0].result.as_ref().expect_err("wrong password");
    assert!(
        failure.is_retryable() && failure.message.contains("credentials refused"),
        "{failure:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_remote_keeps_the_request_pending() {
    let s = setup().await;
    // A port nothing listens on: bind, note it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/deploy.git");
    let w = http_writer(url, &s.tmp.path().join("w"), &s.password_file);
    let outcomes = w
        .write(vec![request("evt-1", "web", "dev", "1.4.2", Commit)])
        .await;
    let failure = outcomes[0].result.as_ref().expect_err("unreachable");
    assert!(failure.is_retryable(), "{failure:?}");
    assert!(failure.message.contains("fetch"), "{}", failure.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_and_cut_off_pushes_are_retryable_and_leave_the_remote_untouched() {
    for switch in ["refuse pushes", "cut pushes", "cut connection"] {
        let s = setup().await;
        let w = http_writer(
            s.server.url("deploy.git"),
            &s.tmp.path().join("w"),
            &s.password_file,
        );
        let before = commit_count(&s.bare, "main");
        // Fetch works; the push (and, for a cut, everything after the flag) fails.
        match switch {
            "refuse pushes" => s
                .server
                .switches
                .refuse_pushes
                .store(true, Ordering::SeqCst),
            _ => s
                .server
                .switches
                .cut_connection
                .store(true, Ordering::SeqCst),
        }
        let req = request("evt-1", "web", "dev", "1.4.2", Commit);
        let outcomes = w.write(vec![req.clone()]).await;
        let failure = outcomes[0].result.as_ref().expect_err(switch);
        assert!(failure.is_retryable(), "{switch}: {failure:?}");
        assert_eq!(commit_count(&s.bare, "main"), before, "{switch}");
        s.server
            .switches
            .refuse_pushes
            .store(false, Ordering::SeqCst);
        s.server
            .switches
            .cut_connection
            .store(false, Ordering::SeqCst);
        let retried = w.write(vec![req]).await;
        assert!(
            matches!(written(&retried[0]), Written::Committed { .. }),
            "{switch}: {retried:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_is_sent_as_the_access_token_user() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = seed_remote(tmp.path(), &["web".to_string()]);
    let server = GitHttpServer::start(tmp.path(), "x-access-token", "ghs_token").await;
    let token_file = tmp.path().join("token");
    std::fs::write(&token_file, "ghs_token\n").unwrap();
    let mut settings = local_settings(&server.url("deploy.git"));
    settings.credentials = Some(GitCredentials::Token(SecretSource::File(token_file)));
    let w = DeployWriter::new(settings, tmp.path().join("w"), None);
    let outcomes = w
        .write(vec![request("evt-1", "web", "dev", "1.4.2", Commit)])
        .await;
    assert!(
        matches!(written(&outcomes[0]), Written::Committed { .. }),
        "{outcomes:?}"
    );
    assert!(remote_file(&bare, "main", DEV_WEB).contains("ghcr.io/acme/web:1.4.2"));
}
