//! Commit mode: one optimistic loop of fetch, reset, re-check, edit, commit,
//! fast-forward push; on rejection, back off and start again from the new head.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;

use git2::Oid;

use super::edit::ImageChange;
use super::files::Manifests;
use super::git::{Checkout, GitError};
use super::image::image_name;
use super::message::{CommittedRequest, commit_message};
use super::request::{
    Disposition, FailureKind, WriteFailure, WriteKey, WriteOutcome, Written, error_chain,
};
use super::writer::{Inner, Prepared};
use crate::repoconfig::{Environment, RepoConfig};

/// How one attempt ended, when it did not produce outcomes.
enum AttemptError {
    /// Worth another attempt now: the push was rejected or cut off.
    PushAgain(GitError),
    /// Hand back to the caller.
    GiveUp(GitError),
}

/// Commit a batch; one outcome per request, in order.
pub(super) fn commit_batch(
    inner: &Inner,
    checkout: &Checkout,
    batch: &[Prepared],
) -> Vec<WriteOutcome> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match attempt_batch(inner, checkout, batch) {
            Ok(results) => {
                return batch
                    .iter()
                    .zip(results)
                    .map(|(p, result)| WriteOutcome::new(p.request.key(), result))
                    .collect();
            }
            Err(AttemptError::PushAgain(e)) if attempt < inner.limits.push_attempts => {
                tracing::info!(attempt, error = %error_chain(&e), "push rejected; retrying on the new head");
                std::thread::sleep(inner.limits.backoff(attempt));
            }
            Err(AttemptError::PushAgain(e) | AttemptError::GiveUp(e)) => {
                let failure = WriteFailure {
                    disposition: e.disposition(),
                    kind: FailureKind::Git,
                    message: error_chain(&e),
                    retry_at: None,
                };
                return batch
                    .iter()
                    .map(|p| WriteOutcome::new(p.request.key(), Err(failure.clone())))
                    .collect();
            }
        }
    }
}

type Results = Vec<Result<Written, WriteFailure>>;

fn attempt_batch(
    inner: &Inner,
    checkout: &Checkout,
    batch: &[Prepared],
) -> Result<Results, AttemptError> {
    let branch = &inner.settings.branch;
    let head = checkout.fetch(branch).map_err(AttemptError::GiveUp)?;
    checkout.reset_hard(head).map_err(AttemptError::GiveUp)?;
    let root = checkout.workdir();
    let config = match RepoConfig::load(&root) {
        Ok(config) => config,
        Err(e) => return Ok(batch.iter().map(|_| Err(stall(error_chain(&e)))).collect()),
    };
    let keys: HashSet<WriteKey> = batch.iter().map(|p| p.request.key()).collect();
    let found = checkout
        .find_branch_writes(head, &keys)
        .map_err(AttemptError::GiveUp)?;

    let mut results: Vec<Option<Result<Written, WriteFailure>>> = vec![None; batch.len()];
    let mut manifests: BTreeMap<String, Manifests> = BTreeMap::new();
    let mut touched: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
    let mut committed: Vec<(usize, Vec<ImageChange>)> = Vec::new();
    let mut first_of: HashMap<WriteKey, usize> = HashMap::new();
    for (i, prepared) in batch.iter().enumerate() {
        let id = prepared.request.key();
        if let Some(commit) = found.get(&id) {
            results[i] = Some(Ok(Written::AlreadyWritten {
                commit: commit.to_string(),
            }));
            continue;
        }
        if first_of.contains_key(&id) {
            continue; // a duplicate within the batch takes the first one's outcome below
        }
        first_of.insert(id, i);
        match stage(inner, &root, &config, prepared, &mut manifests, &[]) {
            Ok(Staged::Changed(changes)) => {
                let env_path = changes_env(prepared, &config);
                let set = touched.entry(env_path).or_default();
                set.extend(changes.iter().map(|(index, _)| *index));
                committed.push((i, changes.into_iter().map(|(_, c)| c).collect()));
            }
            Ok(Staged::Done(written)) => results[i] = Some(Ok(written)),
            Err(failure) => results[i] = Some(Err(failure)),
        }
    }
    if !committed.is_empty() {
        let oid = commit_and_push(
            inner, checkout, head, batch, &manifests, &touched, &committed,
        )?;
        for (i, changes) in committed {
            results[i] = Some(Ok(match oid {
                Some(oid) => Written::Committed {
                    commit: oid.to_string(),
                    changes,
                },
                None => Written::Unchanged,
            }));
        }
    }
    for (i, prepared) in batch.iter().enumerate() {
        if results[i].is_none()
            && let Some(&first) = first_of.get(&prepared.request.key())
        {
            results[i] = results[first].clone();
        }
    }
    Ok(results
        .into_iter()
        .map(|r| r.unwrap_or(Ok(Written::Unchanged)))
        .collect())
}

fn commit_and_push(
    inner: &Inner,
    checkout: &Checkout,
    head: Oid,
    batch: &[Prepared],
    manifests: &BTreeMap<String, Manifests>,
    touched: &BTreeMap<String, BTreeSet<usize>>,
    committed: &[(usize, Vec<ImageChange>)],
) -> Result<Option<Oid>, AttemptError> {
    let mut files = Vec::new();
    for (env_path, indices) in touched {
        let Some(set) = manifests.get(env_path) else {
            continue;
        };
        let indices: Vec<usize> = indices.iter().copied().collect();
        let written = set.write(checkout, &indices).map_err(|e| {
            AttemptError::GiveUp(GitError::Checkout {
                source: git2::Error::from_str(&error_chain(&e)),
            })
        })?;
        files.extend(written);
    }
    let requests: Vec<CommittedRequest<'_>> = committed
        .iter()
        .map(|(i, changes)| CommittedRequest {
            request: &batch[*i].request,
            image: &batch[*i].image,
            changes: changes.clone(),
        })
        .collect();
    let message = commit_message(&requests, &inner.status_url);
    let Some(oid) = checkout
        .commit(head, &files, &message)
        .map_err(AttemptError::GiveUp)?
    else {
        return Ok(None);
    };
    match checkout.push(oid, &inner.settings.branch, false) {
        Ok(()) => Ok(Some(oid)),
        Err(e @ (GitError::PushRejected { .. } | GitError::Push { .. })) => {
            Err(AttemptError::PushAgain(e))
        }
        Err(e) => Err(AttemptError::GiveUp(e)),
    }
}

/// What staging one request did.
pub(super) enum Staged {
    /// Files were edited in memory: (file index, change) pairs.
    Changed(Vec<(usize, ImageChange)>),
    /// Nothing to write, with the reason.
    Done(Written),
}

/// Resolve, re-check and edit one request against the checkout's current
/// files; `also_current` adds images found elsewhere (an open proposal).
pub(super) fn stage(
    inner: &Inner,
    root: &Path,
    config: &RepoConfig,
    prepared: &Prepared,
    manifests: &mut BTreeMap<String, Manifests>,
    also_current: &[String],
) -> Result<Staged, WriteFailure> {
    let env = resolve_environment(config, prepared).map_err(stall)?;
    let set = match manifests.entry(env.path.clone()) {
        std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
        std::collections::btree_map::Entry::Vacant(v) => {
            v.insert(Manifests::read(root, env).map_err(|e| stall(error_chain(&e)))?)
        }
    };
    let mut current = set.current_images(&prepared.image);
    if current.is_empty() {
        // Nothing here deploys the app (e.g. a kustomization without an
        // `images:` entry over a base elsewhere): saying "unchanged" would hide it.
        return Err(stall(format!(
            "no manifest under {} references {}; add the image, a kustomization images: entry, or the environment's helm_values",
            env.path,
            prepared.image.repository()
        )));
    }
    current.extend_from_slice(also_current);
    if let Err(reason) = inner.recheck.recheck(&prepared.request, &current) {
        return Ok(Staged::Done(Written::Refused { reason }));
    }
    let changes = set
        .edit(&prepared.image)
        .map_err(|e| stall(error_chain(&e)))?;
    if changes.is_empty() {
        return Ok(Staged::Done(Written::Unchanged));
    }
    Ok(Staged::Changed(changes))
}

/// The environment a request names, if `slipway.yaml` has it and the image is the app's.
pub(super) fn resolve_environment<'c>(
    config: &'c RepoConfig,
    prepared: &Prepared,
) -> Result<&'c Environment, String> {
    let request = &prepared.request;
    let app = config
        .apps
        .get(&request.app)
        .ok_or_else(|| format!("app {} is not in slipway.yaml", request.app))?;
    let env = app.environment(&request.environment).ok_or_else(|| {
        format!(
            "app {} has no environment {}",
            request.app, request.environment
        )
    })?;
    if image_name(&app.image).as_ref() != Some(prepared.image.name()) {
        return Err(format!(
            "image {} is not app {}'s repository {}",
            prepared.image.repository(),
            request.app,
            app.image
        ));
    }
    Ok(env)
}

fn changes_env(prepared: &Prepared, config: &RepoConfig) -> String {
    resolve_environment(config, prepared)
        .map(|e| e.path.clone())
        .unwrap_or_default()
}

/// A failure that needs a person.
pub(super) fn stall(message: String) -> WriteFailure {
    WriteFailure {
        disposition: Disposition::Stall,
        kind: FailureKind::Content,
        message,
        retry_at: None,
    }
}
