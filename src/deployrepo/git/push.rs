//! Pushing: fast-forward only (forced only on Slipway's own branches), with
//! rejected refs detected, and compare-and-swap for local remotes.

use std::cell::RefCell;
use std::io::Write;
use std::path::{Path, PathBuf};

use git2::{Oid, PushOptions, RemoteCallbacks, Repository};

use super::{Checkout, GitError, OUTGOING_REF, OWNED_BRANCH_PREFIX};
use crate::deployrepo::credentials::CredentialOffer;

impl Checkout {
    /// Push `oid` to `branch`. Fast-forward only, unless `force` and the
    /// branch is Slipway's own. A ref the remote rejects is an error even
    /// though libgit2 reports the push itself as done.
    pub fn push(&self, oid: Oid, branch: &str, force: bool) -> Result<(), GitError> {
        let refname = format!("refs/heads/{branch}");
        if force && !branch.starts_with(OWNED_BRANCH_PREFIX) {
            return Err(GitError::ForceForbidden { refname });
        }
        self.repo
            .reference(OUTGOING_REF, oid, true, "slipway push")
            .map_err(|source| GitError::Commit { source })?;
        match local_path(&self.url) {
            Some(path) => self.push_local(&path, oid, &refname, force),
            None => {
                let plus = if force { "+" } else { "" };
                self.push_refspec(&format!("{plus}{OUTGOING_REF}:{refname}"), &refname)
            }
        }
    }

    /// libgit2's local transport moves the target ref without checking that it
    /// still holds the value the fast-forward check saw, so two writers can
    /// overwrite each other. Copy the objects into the remote's object
    /// database, then move the branch with a compare-and-swap, as
    /// `git receive-pack` does. No temporary refs: another writer listing the
    /// remote's refs at that moment must not see one vanish.
    fn push_local(
        &self,
        remote_path: &Path,
        oid: Oid,
        refname: &str,
        force: bool,
    ) -> Result<(), GitError> {
        let push_error = |source| GitError::Push {
            refname: refname.to_string(),
            source,
        };
        let remote = Repository::open_bare(remote_path)
            .or_else(|_| Repository::open(remote_path))
            .map_err(push_error)?;
        self.send_objects(&remote, oid).map_err(push_error)?;
        let current = match remote.refname_to_id(refname) {
            Ok(current) => Some(current),
            Err(e) if e.code() == git2::ErrorCode::NotFound => None,
            Err(e) => return Err(push_error(e)),
        };
        let fast_forward = match current {
            None => true,
            Some(current) => {
                current == oid
                    || remote
                        .graph_descendant_of(oid, current)
                        .map_err(push_error)?
            }
        };
        if !fast_forward && !force {
            return Err(GitError::PushRejected {
                refname: refname.to_string(),
                reason: "not a fast-forward".into(),
            });
        }
        let updated = match current {
            Some(current) => remote.reference_matching(refname, oid, true, current, "slipway push"),
            None => remote.reference(refname, oid, false, "slipway push"),
        };
        match updated {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.code(),
                    git2::ErrorCode::Modified | git2::ErrorCode::Exists | git2::ErrorCode::Locked
                ) =>
            {
                Err(GitError::PushRejected {
                    refname: refname.to_string(),
                    reason: "the branch moved during the push".into(),
                })
            }
            Err(e) => Err(push_error(e)),
        }
    }

    /// Pack the commit `oid` (its parents are on the remote already: it was
    /// built on a fetched head) and write the pack into `remote`'s objects.
    fn send_objects(&self, remote: &Repository, oid: Oid) -> Result<(), git2::Error> {
        let commit = self.repo.find_commit(oid)?;
        let mut walk = self.repo.revwalk()?;
        walk.push(oid)?;
        for parent in commit.parent_ids() {
            walk.hide(parent)?;
        }
        let mut builder = self.repo.packbuilder()?;
        builder.insert_walk(&mut walk)?;
        let odb = remote.odb()?;
        let mut writer = odb.packwriter()?;
        let mut failed = None;
        builder.foreach(|chunk| match writer.write_all(chunk) {
            Ok(()) => true,
            Err(e) => {
                failed = Some(e);
                false
            }
        })?;
        if let Some(e) = failed {
            return Err(git2::Error::from_str(&e.to_string()));
        }
        writer.commit()?;
        Ok(())
    }

    fn push_refspec(&self, refspec: &str, refname: &str) -> Result<(), GitError> {
        let refname = refname.to_string();
        let offer = CredentialOffer::new(self.credentials.as_ref());
        let rejection: RefCell<Option<String>> = RefCell::new(None);
        let mut callbacks = RemoteCallbacks::new();
        callbacks.credentials(|_url, user, allowed| offer.offer(user, allowed));
        callbacks.push_update_reference(|_name, status| {
            if let Some(status) = status {
                *rejection.borrow_mut() = Some(status.to_string());
            }
            Ok(())
        });
        let mut options = PushOptions::new();
        options.remote_callbacks(callbacks);
        let result = self
            .repo
            .remote_anonymous(&self.url)
            .and_then(|mut remote| remote.push(&[refspec], Some(&mut options)));
        drop(options);
        if let Err(source) = result {
            if offer.refused() {
                return Err(GitError::CredentialsRefused {
                    url: super::redact_url(&self.url),
                });
            }
            // libgit2 reports a non-fast-forward it detects itself as an error.
            if source.code() == git2::ErrorCode::NotFastForward {
                return Err(GitError::PushRejected {
                    refname,
                    reason: source.message().to_string(),
                });
            }
            return Err(GitError::Push { refname, source });
        }
        if let Some(reason) = rejection.into_inner() {
            return Err(GitError::PushRejected { refname, reason });
        }
        Ok(())
    }
}

/// The directory of a local remote (`/srv/deploy.git`, `file:///srv/deploy.git`),
/// or `None` for a network URL.
pub fn local_path(url: &str) -> Option<PathBuf> {
    if let Some(path) = url.strip_prefix("file://") {
        return Some(PathBuf::from(path));
    }
    let scp_like = url.contains(':') && !url.starts_with('/') && !url.starts_with('.');
    (!url.contains("://") && !scp_like).then(|| PathBuf::from(url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_remotes_are_told_from_network_ones() {
        let cases = [
            ("absolute path", "/srv/deploy.git", Some("/srv/deploy.git")),
            ("relative path", "./deploy.git", Some("./deploy.git")),
            (
                "file url",
                "file:///srv/deploy.git",
                Some("/srv/deploy.git"),
            ),
            ("https", "https://example.com/deploy.git", None),
            ("ssh url", "ssh://git@example.com/deploy.git", None),
            ("scp-like", "git@example.com:acme/deploy.git", None),
        ];
        for (name, url, want) in cases {
            assert_eq!(local_path(url), want.map(PathBuf::from), "{name}");
        }
    }
}
