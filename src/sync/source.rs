//! The deploy repository, read-only: fetched with git2 into the state
//! directory, and read from the tree of a given commit (never a working
//! tree), so that a rollback renders exactly the revision last verified.

use std::path::{Path, PathBuf};

use git2::{FetchOptions, ObjectType, Oid, RemoteCallbacks, Repository};

use super::tree::{ManifestTree, Node, TreeError};
use crate::deployrepo::settings::{DeployRepoSettings, GitCredentials};
use crate::repoconfig::{self, RepoConfig, RepoConfigError};

/// Directory under the state dir holding sync's bare copy of the deploy repo.
pub const MIRROR_DIR: &str = "sync/deploy.git";

/// Why the deploy repo could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The local bare copy could not be created or opened.
    #[error("open {path}")]
    OpenMirror {
        /// Its directory.
        path: String,
        /// The cause.
        #[source]
        source: git2::Error,
    },
    /// Fetching the branch failed (network, credentials, missing branch).
    #[error("fetch {branch} from the deploy repo")]
    Fetch {
        /// The branch.
        branch: String,
        /// The cause.
        #[source]
        source: git2::Error,
    },
    /// A revision is not a commit in the local copy.
    #[error("revision {revision} is not in the deploy repo")]
    Revision {
        /// The revision asked for.
        revision: String,
        /// The cause.
        #[source]
        source: git2::Error,
    },
    /// `slipway.yaml` of a revision could not be used.
    #[error("slipway.yaml at {revision}")]
    RepoConfig {
        /// The revision.
        revision: String,
        /// The cause.
        #[source]
        source: RepoConfigError,
    },
}

impl SourceError {
    /// Whether trying again later may help (network) rather than needing a
    /// change to the repo or the config.
    pub fn is_retryable(&self) -> bool {
        matches!(self, SourceError::Fetch { .. })
    }
}

/// Sync's read-only copy of the deploy repository.
#[derive(Debug, Clone)]
pub struct DeployRepoSource {
    mirror: PathBuf,
    url: String,
    branch: String,
    credentials: Option<GitCredentials>,
}

impl DeployRepoSource {
    /// A source for `settings`, mirrored under `state_dir`.
    pub fn new(state_dir: &Path, settings: &DeployRepoSettings) -> Self {
        DeployRepoSource {
            mirror: state_dir.join(MIRROR_DIR),
            url: settings.url.clone(),
            branch: settings.branch.clone(),
            credentials: settings.credentials.clone(),
        }
    }

    fn open(&self) -> Result<Repository, SourceError> {
        let open_err = |source| SourceError::OpenMirror {
            path: self.mirror.display().to_string(),
            source,
        };
        match Repository::open_bare(&self.mirror) {
            Ok(repo) => Ok(repo),
            Err(_) => Repository::init_bare(&self.mirror).map_err(open_err),
        }
    }

    /// Fetch the branch and return the commit it points at. Blocking.
    pub fn fetch(&self) -> Result<String, SourceError> {
        let repo = self.open()?;
        let fetch_err = |source| SourceError::Fetch {
            branch: self.branch.clone(),
            source,
        };
        let local_ref = format!("refs/remotes/origin/{}", self.branch);
        let refspec = format!("+refs/heads/{}:{local_ref}", self.branch);
        let mut remote = repo.remote_anonymous(&self.url).map_err(fetch_err)?;
        let mut options = FetchOptions::new();
        options.remote_callbacks(credential_callbacks(self.credentials.clone()));
        remote
            .fetch(&[&refspec], Some(&mut options), None)
            .map_err(fetch_err)?;
        let head = repo
            .find_reference(&local_ref)
            .and_then(|r| r.peel_to_commit())
            .map_err(fetch_err)?;
        Ok(head.id().to_string())
    }

    /// Run `f` over the tree of `revision`. Blocking.
    pub fn with_tree<T>(
        &self,
        revision: &str,
        f: impl FnOnce(&dyn ManifestTree) -> T,
    ) -> Result<T, SourceError> {
        let repo = self.open()?;
        let rev_err = |source| SourceError::Revision {
            revision: revision.to_string(),
            source,
        };
        let tree = Oid::from_str(revision)
            .and_then(|oid| repo.find_commit(oid))
            .and_then(|c| c.tree())
            .map_err(rev_err)?;
        Ok(f(&GitTree { repo: &repo, tree }))
    }

    /// Read and validate `slipway.yaml` from the tree of `revision`. Blocking.
    pub fn repo_config(&self, revision: &str) -> Result<RepoConfig, SourceError> {
        let config_err = |source| SourceError::RepoConfig {
            revision: revision.to_string(),
            source,
        };
        let text = self.with_tree(revision, |tree| match tree.node(repoconfig::FILE_NAME) {
            Ok(Some(Node::File(bytes))) => String::from_utf8(bytes).map_err(|e| e.to_string()),
            Ok(_) => Err("not found".to_string()),
            Err(e) => Err(e.to_string()),
        })?;
        let text = text.map_err(|message| {
            config_err(RepoConfigError::Parse {
                path: repoconfig::FILE_NAME.into(),
                message,
            })
        })?;
        RepoConfig::parse(&text, repoconfig::FILE_NAME).map_err(config_err)
    }
}

/// Answer the remote's credential requests from the configured credentials.
/// Secrets are read when asked for and handed straight to libgit2; a second
/// request in one fetch means they were refused, so it fails instead of looping.
fn credential_callbacks(credentials: Option<GitCredentials>) -> RemoteCallbacks<'static> {
    let mut callbacks = RemoteCallbacks::new();
    let mut asked = false;
    callbacks.credentials(move |_url, _user, _allowed| {
        let refused =
            || git2::Error::from_str("deploy repo credentials were refused or are missing");
        let Some(credentials) = &credentials else {
            return Err(refused());
        };
        if std::mem::replace(&mut asked, true) {
            return Err(refused());
        }
        let load = |s: &crate::secret::SecretSource| {
            s.load().map_err(|e| git2::Error::from_str(&e.to_string()))
        };
        match credentials {
            GitCredentials::Basic { username, password } => {
                git2::Cred::userpass_plaintext(username, load(password)?.expose())
            }
            GitCredentials::Token(token) => {
                git2::Cred::userpass_plaintext("x-access-token", load(token)?.expose())
            }
            GitCredentials::SshKey { path, username } => {
                git2::Cred::ssh_key(username, None, path, None)
            }
        }
    });
    callbacks
}

/// The tree of one commit.
struct GitTree<'r> {
    repo: &'r Repository,
    tree: git2::Tree<'r>,
}

impl ManifestTree for GitTree<'_> {
    fn id_at(&self, path: &str) -> Option<String> {
        if path.is_empty() {
            return Some(self.tree.id().to_string());
        }
        let entry = self.tree.get_path(Path::new(path)).ok()?;
        Some(entry.id().to_string())
    }

    fn node(&self, path: &str) -> Result<Option<Node>, TreeError> {
        let backend = |e: git2::Error| TreeError::Backend {
            path: path.to_string(),
            message: e.message().to_string(),
        };
        let object = if path.is_empty() {
            self.tree.as_object().clone()
        } else {
            match self.tree.get_path(Path::new(path)) {
                Ok(entry) => entry.to_object(self.repo).map_err(backend)?,
                Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
                Err(e) => return Err(backend(e)),
            }
        };
        match object.kind() {
            Some(ObjectType::Blob) => {
                let blob = object.peel_to_blob().map_err(backend)?;
                Ok(Some(Node::File(blob.content().to_vec())))
            }
            Some(ObjectType::Tree) => {
                let tree = object.peel_to_tree().map_err(backend)?;
                let mut names: Vec<String> = tree
                    .iter()
                    .filter_map(|e| e.name().ok().map(String::from))
                    .collect();
                names.sort();
                Ok(Some(Node::Dir(names)))
            }
            _ => Ok(None),
        }
    }
}
