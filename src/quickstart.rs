//! `slipway run` with no configuration: everything it needs is made once in
//! the state directory — webhook secrets (files readable by the owner only),
//! a local deploy repository from the built-in example, and a signed test
//! delivery — and the secrets and the command that sends it are printed once.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use base64::Engine;

use crate::bootstrap::{BootstrapError, EXAMPLE_FILES, create_bare_repo};
use crate::config::{Config, SignedProvider, WebhooksConfig};
use crate::deployrepo::settings::{Author, DeployRepoSettings};
use crate::secret::SecretSource;
use crate::sync::settings::SyncSettings;
use crate::webhook::signature::sign_hub;

/// GitHub's `registry_package` example delivery for the example app's image,
/// as the tagged delivery of a push (`examples/webhooks/README.md`).
pub const DEMO_PAYLOAD: &[u8] =
    include_bytes!("../examples/webhooks/github-registry_package.tagged.json");
/// Random bytes in each generated secret.
const SECRET_BYTES: usize = 32;

/// Why the embedded defaults could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum QuickstartError {
    /// A file or directory could not be written.
    #[error("write {path}")]
    Write {
        /// The path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The system gave no randomness.
    #[error("generate a secret")]
    Random,
    /// The example deploy repository could not be created.
    #[error("example deploy repo")]
    Bootstrap(#[from] BootstrapError),
}

fn write_err(path: &Path) -> impl FnOnce(std::io::Error) -> QuickstartError + '_ {
    move |source| QuickstartError::Write {
        path: path.display().to_string(),
        source,
    }
}

/// The secrets `run` generates, by file name.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// GitHub: any text.
    Hex,
    /// Standard Webhooks: `whsec_` + base64.
    Whsec,
}

const SECRETS: &[(&str, Kind)] = &[
    ("github", Kind::Hex),
    ("generic", Kind::Whsec),
    ("rollouts", Kind::Whsec),
    ("operator", Kind::Whsec),
];

/// Create `dir/name` with a new secret unless it exists; true when created.
fn ensure_secret(dir: &Path, name: &str, kind: Kind) -> Result<bool, QuickstartError> {
    let path = dir.join(name);
    if path.exists() {
        return Ok(false);
    }
    let mut bytes = [0u8; SECRET_BYTES];
    getrandom::fill(&mut bytes).map_err(|_| QuickstartError::Random)?;
    let value = match kind {
        Kind::Hex => hex::encode(bytes),
        Kind::Whsec => format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        ),
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path).map_err(write_err(&path))?;
    file.write_all(value.as_bytes()).map_err(write_err(&path))?;
    file.sync_all().map_err(write_err(&path))?;
    Ok(true)
}

/// The configuration `run` uses on its own, and what to tell a newcomer the
/// first time (`None` on later starts).
pub fn embedded_config(
    state_dir: &Path,
    listen: SocketAddr,
) -> Result<(Config, Option<String>), QuickstartError> {
    let state_dir = std::path::absolute(state_dir).map_err(write_err(state_dir))?;
    let secrets = state_dir.join("secrets");
    std::fs::create_dir_all(&secrets).map_err(write_err(&secrets))?;
    let mut created = false;
    for (name, kind) in SECRETS {
        created |= ensure_secret(&secrets, name, *kind)?;
    }
    let repo = state_dir.join("deploy-repo.git");
    created |= create_bare_repo(&repo, "main", EXAMPLE_FILES)?;
    let file = |name: &str| SecretSource::File(secrets.join(name));
    let signed = |name: &str| SignedProvider {
        secrets: vec![file(name)],
        tolerance_seconds: crate::config::DEFAULT_TIMESTAMP_TOLERANCE_SECS,
    };
    let config = Config {
        listen,
        state_dir: state_dir.clone(),
        webhooks: WebhooksConfig {
            github: Some(signed("github")),
            generic: Some(signed("generic")),
            sync: Some(signed("rollouts")),
            operator: Some(signed("operator")),
            ..WebhooksConfig::default()
        },
        deploy_repo: Some(DeployRepoSettings {
            url: repo.display().to_string(),
            branch: "main".to_string(),
            credentials: None,
            author: Author::default(),
        }),
        sync: Some(SyncSettings {
            report_url: Some(format!("http://{listen}/hooks/rollouts")),
            report_secret: Some(file("rollouts")),
            ..SyncSettings::default()
        }),
        ..Config::default()
    };
    if !created {
        return Ok((config, None));
    }
    Ok((config, Some(welcome(&state_dir, &secrets, listen)?)))
}

fn welcome(
    state_dir: &Path,
    secrets: &Path,
    listen: SocketAddr,
) -> Result<String, QuickstartError> {
    let demo = state_dir.join("demo").join("registry_package.json");
    if let Some(parent) = demo.parent() {
        std::fs::create_dir_all(parent).map_err(write_err(parent))?;
    }
    std::fs::write(&demo, DEMO_PAYLOAD).map_err(write_err(&demo))?;
    let github = std::fs::read_to_string(secrets.join("github")).map_err(write_err(secrets))?;
    let mut text =
        String::from("First start: secrets were generated once (they are not printed again):\n");
    for (name, _) in SECRETS {
        let path: PathBuf = secrets.join(name);
        let value = std::fs::read_to_string(&path).map_err(write_err(&path))?;
        text.push_str(&format!("  {name:<9} {value}   ({})\n", path.display()));
    }
    text.push_str(&format!(
        "The deploy repository is {} (from the built-in example).\n\
         Send a signed test webhook (GitHub's registry_package example, tagged 1.1.0, for the example app):\n\n\
         curl -sS http://{listen}/hooks/github -H 'content-type: application/json' \
         -H 'x-github-event: registry_package' -H 'x-github-delivery: demo-1' \
         -H 'x-hub-signature-256: {}' --data-binary @{}\n\n\
         then: slipway status --url http://{listen}\n",
        state_dir.join("deploy-repo.git").display(),
        sign_hub(&github, DEMO_PAYLOAD),
        demo.display(),
    ));
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_start_makes_secrets_once_and_says_so_once() {
        let dir = tempfile::tempdir().unwrap();
        let listen: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let (config, welcome) = embedded_config(dir.path(), listen).unwrap();
        let welcome = welcome.expect("first start prints the welcome");
        assert!(
            welcome.contains("x-hub-signature-256: sha256=") && welcome.contains("--data-binary @")
        );
        let github = std::fs::read_to_string(dir.path().join("secrets/github")).unwrap();
        assert!(
            welcome.contains(&github),
            "the secret is printed the first time"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("secrets/operator"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        crate::receive::build_hooks(&config.webhooks).expect("the generated secrets load");
        let (again, second) = embedded_config(dir.path(), listen).unwrap();
        assert!(second.is_none(), "later starts print nothing");
        assert_eq!(again, config);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("secrets/github")).unwrap(),
            github
        );
    }
}
