//! Pull-request mode: the change goes to `slipway/<app>/<env>` (a branch
//! Slipway owns and may force), and the open request for it is updated or opened.

use std::collections::{BTreeMap, HashSet};

use git2::Oid;

use super::commit_flow::{Staged, resolve_environment, stage, stall};
use super::edit::ImageChange;
use super::files::Manifests;
use super::forge::{PullRequestSpec, open_or_update};
use super::git::{Checkout, GitError, OWNED_BRANCH_PREFIX};
use super::message::{CommittedRequest, commit_message, pull_request_body, subject};
use super::request::{FailureKind, WriteFailure, WriteKey, WriteOutcome, Written, error_chain};
use super::writer::{DeployWriter, Inner, Prepared};
use crate::repoconfig::RepoConfig;

/// The branch a request's change is proposed on.
pub fn proposal_branch(app: &str, environment: &str) -> String {
    format!("{OWNED_BRANCH_PREFIX}{app}/{environment}")
}

/// What the git half of a proposal produced.
enum Pushed {
    /// The branch holds the change at `commit`; the request must be opened or updated.
    Branch {
        commit: Oid,
        changes: Vec<ImageChange>,
    },
    /// Nothing to propose.
    Done(Written),
}

/// Push the proposal branch, then open or update its pull/merge request.
pub(super) async fn propose(writer: &DeployWriter, prepared: Prepared) -> WriteOutcome {
    let key = prepared.request.key();
    let result = propose_inner(writer, prepared).await;
    WriteOutcome::new(key, result)
}

async fn propose_inner(writer: &DeployWriter, prepared: Prepared) -> Result<Written, WriteFailure> {
    let Some(forge) = writer.inner.forge.clone() else {
        return Err(stall("pull-request mode needs a forge configured".into()));
    };
    let branch = proposal_branch(&prepared.request.app, &prepared.request.environment);
    let job = {
        let prepared = prepared.clone();
        let branch = branch.clone();
        move |inner: &Inner, checkout: &Checkout| push_proposal(inner, checkout, &prepared, &branch)
    };
    let pushed = writer.blocking(job).await.map_err(|e| e.to_failure())??;
    let (commit, changes) = match pushed {
        Pushed::Done(written) => return Ok(written),
        Pushed::Branch { commit, changes } => (commit, changes),
    };
    let request = &prepared.request;
    let spec = PullRequestSpec {
        head_branch: branch.clone(),
        base_branch: writer.inner.settings.branch.clone(),
        title: subject(&request.app, &request.environment, &prepared.image),
        body: pull_request_body(request, &prepared.image, &changes),
    };
    let (pull, updated) = open_or_update(forge.as_ref(), &spec)
        .await
        .map_err(|e| e.to_failure())?;
    Ok(Written::PullRequest {
        branch,
        commit: commit.to_string(),
        number: pull.number,
        url: pull.url,
        updated,
        changes,
    })
}

fn push_proposal(
    inner: &Inner,
    checkout: &Checkout,
    prepared: &Prepared,
    branch: &str,
) -> Result<Pushed, WriteFailure> {
    let git_failure = |e: GitError| WriteFailure {
        disposition: e.disposition(),
        kind: FailureKind::Git,
        message: error_chain(&e),
        retry_at: None,
    };
    let head = checkout
        .fetch(&inner.settings.branch)
        .map_err(git_failure)?;
    checkout.reset_hard(head).map_err(git_failure)?;
    let root = checkout.workdir();
    let config = RepoConfig::load(&root).map_err(|e| stall(error_chain(&e)))?;
    let id = prepared.request.key();
    let ids: HashSet<WriteKey> = [id.clone()].into();
    if let Some(commit) = checkout
        .find_branch_writes(head, &ids)
        .map_err(git_failure)?
        .get(&id)
    {
        return Ok(Pushed::Done(Written::AlreadyWritten {
            commit: commit.to_string(),
        }));
    }
    let proposed = checkout.remote_head(branch).map_err(git_failure)?;
    let proposed_images = match proposed {
        Some(tip) => proposal_images(checkout, tip, &root, &config, prepared)?,
        None => Vec::new(),
    };
    let mut manifests = BTreeMap::new();
    let changes = match stage(
        inner,
        &root,
        &config,
        prepared,
        &mut manifests,
        &proposed_images,
    )? {
        Staged::Done(written) => return Ok(Pushed::Done(written)),
        Staged::Changed(changes) => changes,
    };
    // Pushed before but the request was not opened (a forge error): reuse the branch.
    if let Some(proposed) = checkout.remote_head(branch).map_err(git_failure)?
        && checkout
            .find_writes(proposed, &ids)
            .map_err(git_failure)?
            .contains_key(&id)
    {
        return Ok(Pushed::Branch {
            commit: proposed,
            changes: changes.into_iter().map(|(_, c)| c).collect(),
        });
    }
    let mut files = Vec::new();
    for set in manifests.values() {
        let indices: Vec<usize> = changes.iter().map(|(i, _)| *i).collect();
        files.extend(
            set.write(checkout, &indices)
                .map_err(|e| stall(error_chain(&e)))?,
        );
    }
    let changes: Vec<ImageChange> = changes.into_iter().map(|(_, c)| c).collect();
    let message = commit_message(
        &[CommittedRequest {
            request: &prepared.request,
            image: &prepared.image,
            changes: changes.clone(),
        }],
        &inner.status_url,
    );
    let Some(commit) = checkout
        .commit(head, &files, &message)
        .map_err(git_failure)?
    else {
        return Ok(Pushed::Done(Written::Unchanged));
    };
    checkout.push(commit, branch, true).map_err(git_failure)?;
    Ok(Pushed::Branch { commit, changes })
}

/// The app's images on the open proposal branch, so the re-check sees a newer
/// image already proposed (a late, older event must not replace it).
fn proposal_images(
    checkout: &Checkout,
    tip: Oid,
    root: &std::path::Path,
    config: &RepoConfig,
    prepared: &Prepared,
) -> Result<Vec<String>, WriteFailure> {
    let env = resolve_environment(config, prepared).map_err(stall)?;
    let manifests = Manifests::read(root, env).map_err(|e| stall(error_chain(&e)))?;
    let mut images = Vec::new();
    for path in manifests.paths() {
        let blob = checkout
            .read_blob(tip, path)
            .map_err(|e| stall(error_chain(&e)))?;
        if let Some(text) = blob.and_then(|b| String::from_utf8(b).ok()) {
            images.extend(manifests.images_in(path, &text, prepared.image.name()));
        }
    }
    Ok(images)
}
