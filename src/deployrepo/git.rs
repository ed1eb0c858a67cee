//! The deploy repository checkout: fetch, reset, commit, push. Blocking
//! (libgit2); callers run it on a blocking thread.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use git2::{FetchOptions, Oid, RemoteCallbacks, Repository, Signature, build::CheckoutBuilder};

use super::credentials::{CredentialOffer, LoadedCredentials};
use super::request::{Disposition, WriteKey};
use super::settings::Author;

/// How many commits of history are searched for an event's trailer.
pub const MAX_HISTORY_WALK: usize = 2_000;

/// Branches Slipway owns and may force-push; nothing else is ever forced.
pub const OWNED_BRANCH_PREFIX: &str = "slipway/";

mod push;

pub use push::local_path;

/// Local ref a commit is pushed from.
const OUTGOING_REF: &str = "refs/slipway/outgoing";

/// Why a git operation failed.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The checkout directory could not be opened or created.
    #[error("open checkout {path}")]
    OpenCheckout {
        /// The directory.
        path: String,
        /// The cause.
        #[source]
        source: git2::Error,
    },
    /// Fetching from the remote failed (unreachable, cut off, 5xx).
    #[error("fetch {url}")]
    Fetch {
        /// The remote (never holds credentials: they are not put in URLs).
        url: String,
        /// The cause.
        #[source]
        source: git2::Error,
    },
    /// The remote refused the credentials offered (or asked for some and none are configured).
    #[error("credentials refused by {url}")]
    CredentialsRefused {
        /// The remote.
        url: String,
    },
    /// The branch does not exist on the remote.
    #[error("branch {branch} does not exist on the remote")]
    BranchMissing {
        /// The branch.
        branch: String,
    },
    /// Reading or writing the local checkout failed.
    #[error("update checkout")]
    Checkout {
        /// The cause.
        #[source]
        source: git2::Error,
    },
    /// Walking the history for trailers failed.
    #[error("read history")]
    ReadHistory {
        /// The cause.
        #[source]
        source: git2::Error,
    },
    /// Creating the commit failed.
    #[error("create commit")]
    Commit {
        /// The cause.
        #[source]
        source: git2::Error,
    },
    /// The push failed on the wire.
    #[error("push {refname}")]
    Push {
        /// The target ref.
        refname: String,
        /// The cause.
        #[source]
        source: git2::Error,
    },
    /// The remote refused the ref update (not a fast-forward, protected branch).
    #[error("push of {refname} rejected: {reason}")]
    PushRejected {
        /// The target ref.
        refname: String,
        /// The remote's reason.
        reason: String,
    },
    /// A force-push to a branch Slipway does not own was attempted.
    #[error("refusing to force-push {refname}: only {OWNED_BRANCH_PREFIX}* branches may be forced")]
    ForceForbidden {
        /// The target ref.
        refname: String,
    },
}

impl GitError {
    /// Retry (network, rejection, credentials that may be rotated) or stall.
    pub fn disposition(&self) -> Disposition {
        match self {
            GitError::BranchMissing { .. } | GitError::ForceForbidden { .. } => Disposition::Stall,
            _ => Disposition::Retry,
        }
    }
}

/// A working checkout of the deploy repository under the state directory.
pub struct Checkout {
    repo: Repository,
    url: String,
    credentials: Option<LoadedCredentials>,
    author: Author,
    written: RefCell<WrittenIndex>,
    /// The commit the working tree and index are known to match exactly:
    /// set by a checkout or a commit, cleared by any write to the tree.
    /// Resetting to it again skips the checkout, whose walk of every file
    /// would otherwise grow with the repository.
    clean_at: std::cell::Cell<Option<Oid>>,
}

/// The writes recorded in the deploy branch's trailers, read once and then
/// kept up to date commit by commit, so an event's cost does not grow with
/// the history. After a restart it is built again by one bounded walk.
#[derive(Default)]
struct WrittenIndex {
    /// The branch head everything below was read from.
    tip: Option<Oid>,
    /// Each write found, with the commit that carries it.
    keys: HashMap<WriteKey, Oid>,
}

impl Checkout {
    /// Open the checkout in `dir`, or create it (an empty repository that the
    /// first fetch fills).
    pub fn open_or_init(
        dir: &Path,
        url: &str,
        credentials: Option<LoadedCredentials>,
        author: Author,
    ) -> Result<Self, GitError> {
        let open_error = |source| GitError::OpenCheckout {
            path: dir.display().to_string(),
            source,
        };
        let repo = match Repository::open(dir) {
            Ok(repo) => repo,
            Err(_) => {
                std::fs::create_dir_all(dir)
                    .map_err(|e| open_error(git2::Error::from_str(&e.to_string())))?;
                Repository::init(dir).map_err(open_error)?
            }
        };
        share_local_objects(&repo, url);
        Ok(Checkout {
            repo,
            url: url.to_string(),
            credentials,
            author,
            written: RefCell::new(WrittenIndex::default()),
            clean_at: std::cell::Cell::new(None),
        })
    }

    /// The working tree.
    pub fn workdir(&self) -> PathBuf {
        self.repo
            .workdir()
            .unwrap_or_else(|| self.repo.path())
            .to_path_buf()
    }

    /// Fetch `branch` and every `slipway/*` branch; return the remote head of `branch`.
    pub fn fetch(&self, branch: &str) -> Result<Oid, GitError> {
        let offer = CredentialOffer::new(self.credentials.as_ref());
        let fail = |source| {
            if offer.refused() {
                GitError::CredentialsRefused {
                    url: redact_url(&self.url),
                }
            } else {
                GitError::Fetch {
                    url: redact_url(&self.url),
                    source,
                }
            }
        };
        let callbacks = || {
            let mut callbacks = RemoteCallbacks::new();
            callbacks.credentials(|_url, user, allowed| offer.offer(user, allowed));
            callbacks
        };
        let mut remote = self.repo.remote_anonymous(&self.url).map_err(fail)?;
        // The advertisement first: when every branch fetched is where it was
        // (the writer's own push moved it there), fetching is skipped. A
        // fetch would walk the history to decide what to send, at a cost
        // that grows with it.
        let up_to_date = remote
            .connect_auth(git2::Direction::Fetch, Some(callbacks()), None)
            .and_then(|connection| {
                let heads = connection.list()?;
                Ok(heads
                    .iter()
                    .all(|head| match tracking_ref(head.name(), branch) {
                        Some(local) => self.repo.refname_to_id(&local).ok() == Some(head.oid()),
                        None => true,
                    }))
            })
            .map_err(fail)?;
        if !up_to_date {
            let mut options = FetchOptions::new();
            options.remote_callbacks(callbacks());
            let refspecs = [
                format!("+refs/heads/{branch}:refs/remotes/origin/{branch}"),
                format!(
                    "+refs/heads/{OWNED_BRANCH_PREFIX}*:refs/remotes/origin/{OWNED_BRANCH_PREFIX}*"
                ),
            ];
            remote
                .fetch(&refspecs, Some(&mut options), None)
                .map_err(fail)?;
        }
        self.remote_head(branch)?
            .ok_or_else(|| GitError::BranchMissing {
                branch: branch.to_string(),
            })
    }

    /// The last fetched head of a remote branch, if it exists.
    pub fn remote_head(&self, branch: &str) -> Result<Option<Oid>, GitError> {
        match self
            .repo
            .refname_to_id(&format!("refs/remotes/origin/{branch}"))
        {
            Ok(oid) => Ok(Some(oid)),
            Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(source) => Err(GitError::ReadHistory { source }),
        }
    }

    /// Make the working tree exactly `oid`: tracked changes and untracked files go.
    pub fn reset_hard(&self, oid: Oid) -> Result<(), GitError> {
        if self.clean_at.get() == Some(oid) {
            return Ok(());
        }
        self.clean_at.set(None);
        let checkout = |source| GitError::Checkout { source };
        let commit = self.repo.find_commit(oid).map_err(checkout)?;
        let mut builder = CheckoutBuilder::new();
        builder.force().remove_untracked(true);
        self.repo
            .checkout_tree(commit.as_object(), Some(&mut builder))
            .map_err(checkout)?;
        self.repo.set_head_detached(oid).map_err(checkout)?;
        self.clean_at.set(Some(oid));
        Ok(())
    }

    /// Write `text` to the file `path` (relative to the working tree). The
    /// tree is no longer known to match a commit until the next checkout or
    /// commit.
    pub fn write_file(&self, path: &str, text: &str) -> std::io::Result<()> {
        self.clean_at.set(None);
        std::fs::write(self.workdir().join(path), text)
    }

    /// Which of `wanted` writes the deploy branch at `head` carries, from the
    /// index of its trailers: only commits added since the last call are
    /// read. A head that does not descend from the indexed one (the branch
    /// was rewritten) rebuilds the index with one walk of at most
    /// [`MAX_HISTORY_WALK`] commits.
    pub fn find_branch_writes(
        &self,
        head: Oid,
        wanted: &HashSet<WriteKey>,
    ) -> Result<HashMap<WriteKey, Oid>, GitError> {
        let history = |source| GitError::ReadHistory { source };
        let mut index = self.written.borrow_mut();
        if let Some(tip) = index.tip
            && tip != head
            && !self.repo.graph_descendant_of(head, tip).map_err(history)?
        {
            *index = WrittenIndex::default();
        }
        if index.tip != Some(head) {
            let hide = index.tip;
            self.walk_written(head, hide, |oid, keys| {
                for key in keys {
                    index.keys.entry(key).or_insert(oid);
                }
                true
            })?;
            index.tip = Some(head);
        }
        Ok(wanted
            .iter()
            .filter_map(|key| Some((key.clone(), *index.keys.get(key)?)))
            .collect())
    }

    /// Which of `wanted` writes appear in the trailers (`Slipway-Event`,
    /// `Slipway-App`, `Slipway-Environment`) of the last [`MAX_HISTORY_WALK`]
    /// commits reachable from `head`, and where.
    pub fn find_writes(
        &self,
        head: Oid,
        wanted: &HashSet<WriteKey>,
    ) -> Result<HashMap<WriteKey, Oid>, GitError> {
        let mut found = HashMap::new();
        if wanted.is_empty() {
            return Ok(found);
        }
        self.walk_written(head, None, |oid, keys| {
            for key in keys {
                if wanted.contains(&key) {
                    found.entry(key).or_insert(oid);
                }
            }
            found.len() < wanted.len()
        })?;
        Ok(found)
    }

    /// Hand `visit` the writes each commit from `head` back records (newest
    /// first, at most [`MAX_HISTORY_WALK`] commits, none reachable from
    /// `hide`), until it returns false.
    fn walk_written(
        &self,
        head: Oid,
        hide: Option<Oid>,
        mut visit: impl FnMut(Oid, Vec<WriteKey>) -> bool,
    ) -> Result<(), GitError> {
        let history = |source| GitError::ReadHistory { source };
        let mut walk = self.repo.revwalk().map_err(history)?;
        walk.push(head).map_err(history)?;
        if let Some(hide) = hide {
            walk.hide(hide).map_err(history)?;
        }
        for oid in walk.take(MAX_HISTORY_WALK) {
            let oid = oid.map_err(history)?;
            let commit = self.repo.find_commit(oid).map_err(history)?;
            let message = String::from_utf8_lossy(commit.message_bytes());
            if !visit(oid, super::message::written_keys(&message)) {
                break;
            }
        }
        Ok(())
    }

    /// Commit the changed `files` (relative paths) on top of `parent`; `None`
    /// when the tree did not change.
    pub fn commit(
        &self,
        parent: Oid,
        files: &[String],
        message: &str,
    ) -> Result<Option<Oid>, GitError> {
        let commit_error = |source| GitError::Commit { source };
        let mut index = self.repo.index().map_err(commit_error)?;
        for file in files {
            index.add_path(Path::new(file)).map_err(commit_error)?;
        }
        index.write().map_err(commit_error)?;
        let tree_id = index.write_tree().map_err(commit_error)?;
        let parent = self.repo.find_commit(parent).map_err(commit_error)?;
        if parent.tree_id() == tree_id {
            // Every file written holds what the parent holds.
            self.clean_at.set(Some(parent.id()));
            return Ok(None);
        }
        let tree = self.repo.find_tree(tree_id).map_err(commit_error)?;
        let signature =
            Signature::now(&self.author.name, &self.author.email).map_err(commit_error)?;
        let oid = self
            .repo
            .commit(None, &signature, &signature, message, &tree, &[&parent])
            .map_err(commit_error)?;
        self.repo.set_head_detached(oid).map_err(commit_error)?;
        self.clean_at.set(Some(oid));
        Ok(Some(oid))
    }

    /// The object ids of `paths` (files or directories) in the commit `oid`,
    /// in order; `None` where a path is absent. Two commits with the same ids
    /// hold the same content there.
    pub fn entry_ids(&self, oid: Oid, paths: &[&str]) -> Result<Vec<Option<Oid>>, GitError> {
        paths.iter().map(|path| self.entry_id(oid, path)).collect()
    }

    /// The object id of `path` in the commit `oid`; `None` when absent.
    fn entry_id(&self, oid: Oid, path: &str) -> Result<Option<Oid>, GitError> {
        let history = |source| GitError::ReadHistory { source };
        let tree = self
            .repo
            .find_commit(oid)
            .and_then(|c| c.tree())
            .map_err(history)?;
        match tree.get_path(Path::new(path)) {
            Ok(entry) => Ok(Some(entry.id())),
            Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(source) => Err(history(source)),
        }
    }

    /// Read a file of the commit `oid` without touching the working tree.
    pub fn read_blob(&self, oid: Oid, path: &str) -> Result<Option<Vec<u8>>, GitError> {
        let Some(id) = self.entry_id(oid, path)? else {
            return Ok(None);
        };
        let blob = self
            .repo
            .find_blob(id)
            .map_err(|source| GitError::ReadHistory { source })?;
        Ok(Some(blob.content().to_vec()))
    }
}

/// For a remote on this machine (a path or `file://`), read its objects in
/// place, for this process only (nothing is written to the checkout), as
/// `git clone --shared` would. libgit2's local transport walks the whole
/// history of a fetched branch to find what to copy; with the objects
/// shared, a fetch finds the new head already present and only moves refs.
/// Best effort: without it, fetches copy objects as before.
fn share_local_objects(repo: &Repository, url: &str) {
    let Some(path) = push::local_path(url) else {
        return;
    };
    let shared = Repository::open(&path).and_then(|remote| {
        let objects = remote.path().join("objects");
        repo.odb()?
            .add_disk_alternate(&objects.display().to_string())
    });
    if let Err(e) = shared {
        tracing::debug!(error = %e, "not sharing the local remote's objects");
    }
}

/// Where [`Checkout::fetch`] keeps the remote ref `name` when fetching
/// `branch`: `refs/remotes/origin/…` for the branch and Slipway's own
/// branches; `None` for refs it does not fetch.
fn tracking_ref(name: &str, branch: &str) -> Option<String> {
    let short = name.strip_prefix("refs/heads/")?;
    (short == branch || short.starts_with(OWNED_BRANCH_PREFIX))
        .then(|| format!("refs/remotes/origin/{short}"))
}

/// The URL with any user name and password replaced, for errors and logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_in_errors_never_carry_credentials() {
        let cases = [
            (
                "user and password",
                "https://bot:hunter2@git.example/deploy.git",
                "https://***@git.example/deploy.git",
            ),
            (
                "token only",
                "https://ghp_x@git.example/a@b.git",
                "https://***@git.example/a@b.git",
            ),
            (
                "plain",
                "https://git.example/deploy.git",
                "https://git.example/deploy.git",
            ),
            ("local path", "/srv/deploy.git", "/srv/deploy.git"),
        ];
        for (name, url, want) in cases {
            assert_eq!(redact_url(url), want, "{name}");
        }
    }

    #[test]
    fn fetched_refs_are_the_branch_and_slipways_own() {
        let cases = [
            ("refs/heads/main", Some("refs/remotes/origin/main")),
            (
                "refs/heads/slipway/web-prod",
                Some("refs/remotes/origin/slipway/web-prod"),
            ),
            ("refs/heads/feature", None),
            ("refs/heads/mainline", None),
            ("refs/tags/v1", None),
            ("HEAD", None),
        ];
        for (name, want) in cases {
            assert_eq!(tracking_ref(name, "main").as_deref(), want, "{name}");
        }
    }

    #[test]
    fn a_reset_to_the_clean_commit_is_skipped_until_the_tree_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let bare = dir.path().join("deploy.git");
        crate::bootstrap::create_bare_repo(&bare, "main", &[("a.yaml", "a: 1\n")]).unwrap();
        let checkout = Checkout::open_or_init(
            &dir.path().join("checkout"),
            &bare.display().to_string(),
            None,
            Author::default(),
        )
        .unwrap();
        let head = checkout.fetch("main").unwrap();
        let file = checkout.workdir().join("a.yaml");
        let read = || std::fs::read_to_string(&file).unwrap();

        checkout.reset_hard(head).unwrap();
        assert_eq!(read(), "a: 1\n");
        // A change behind its back is not seen: the tree is trusted as clean.
        std::fs::write(&file, "stray\n").unwrap();
        checkout.reset_hard(head).unwrap();
        assert_eq!(read(), "stray\n", "the checkout was skipped");
        // A write through the checkout makes the next reset a real one.
        checkout.write_file("a.yaml", "a: 2\n").unwrap();
        checkout.reset_hard(head).unwrap();
        assert_eq!(read(), "a: 1\n");
        // A commit leaves the tree clean at the new commit.
        checkout.write_file("a.yaml", "a: 3\n").unwrap();
        let commit = checkout
            .commit(head, &["a.yaml".to_string()], "change")
            .unwrap()
            .unwrap();
        assert_eq!(checkout.clean_at.get(), Some(commit));
        checkout.reset_hard(head).unwrap();
        assert_eq!(read(), "a: 1\n", "back to the fetched head");
    }
}
