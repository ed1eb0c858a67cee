//! A read-only view of the deploy repository's branch head, from which the
//! gate loads `slipway.yaml` and the policies. It has its own checkout, so
//! loading never races the writer's working tree.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::deployrepo::credentials::LoadedCredentials;
use crate::deployrepo::git::{Checkout, GitError};
use crate::deployrepo::settings::DeployRepoSettings;
use crate::policy::{PolicyError, PolicySet};
use crate::secret::SecretError;

/// Why the view could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    /// The deploy repo credential could not be loaded.
    #[error("deploy_repo.credentials")]
    Credentials(#[source] SecretError),
    /// Fetching the branch failed (network, credentials): retry later.
    #[error("fetch deploy repo")]
    Fetch(#[source] GitError),
    /// `slipway.yaml` or the policies directory is unusable: a stall until the repo changes.
    #[error("load policies")]
    Policy(#[source] PolicyError),
    /// The blocking task died.
    #[error("policy view task stopped")]
    Task,
}

/// What the policies are read from: `slipway.yaml` and the policies
/// directory. Their object ids name their content.
const POLICY_INPUTS: [&str; 2] = [crate::repoconfig::FILE_NAME, crate::policy::POLICY_DIR];

/// Policies and the object ids of the [`POLICY_INPUTS`] they were read from.
type Loaded = (Vec<Option<git2::Oid>>, PolicySet);

/// The branch head's policies, loaded on demand and kept while `slipway.yaml`
/// and the policies directory are unchanged (a commit that only moves an
/// image, as Slipway's own do, reuses them).
#[derive(Clone)]
pub struct PolicyView {
    settings: DeployRepoSettings,
    dir: PathBuf,
    checkout: Arc<Mutex<Option<Checkout>>>,
    /// The policies last loaded, under the object ids of [`POLICY_INPUTS`]
    /// they were read from: the same ids are not parsed again.
    loaded: Arc<Mutex<Option<Loaded>>>,
}

impl PolicyView {
    /// A view checked out in `dir`.
    pub fn new(settings: DeployRepoSettings, dir: PathBuf) -> Self {
        PolicyView {
            settings,
            dir,
            checkout: Arc::new(Mutex::new(None)),
            loaded: Arc::new(Mutex::new(None)),
        }
    }

    /// Fetch the branch and load its policies, with the head commit id.
    pub async fn load(&self) -> Result<(PolicySet, String), ViewError> {
        let view = self.clone();
        tokio::task::spawn_blocking(move || view.load_blocking())
            .await
            .map_err(|_| ViewError::Task)?
    }

    fn load_blocking(&self) -> Result<(PolicySet, String), ViewError> {
        let mut guard = self.checkout.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            let credentials = self
                .settings
                .credentials
                .as_ref()
                .map(LoadedCredentials::load)
                .transpose()
                .map_err(ViewError::Credentials)?;
            let checkout = Checkout::open_or_init(
                &self.dir,
                &self.settings.url,
                credentials,
                self.settings.author.clone(),
            )
            .map_err(ViewError::Fetch)?;
            *guard = Some(checkout);
        }
        let checkout = guard.as_ref().ok_or(ViewError::Task)?;
        let oid = checkout
            .fetch(&self.settings.branch)
            .map_err(ViewError::Fetch)?;
        let head = oid.to_string();
        let inputs = checkout
            .entry_ids(oid, &POLICY_INPUTS)
            .map_err(ViewError::Fetch)?;
        let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((from, set)) = loaded.as_ref()
            && *from == inputs
        {
            return Ok((set.clone(), head));
        }
        checkout.reset_hard(oid).map_err(ViewError::Fetch)?;
        let set = PolicySet::load(&checkout.workdir()).map_err(ViewError::Policy)?;
        *loaded = Some((inputs, set.clone()));
        Ok((set, head))
    }
}
