//! The writer the receive worker calls: validates requests, then commits them
//! (coalesced) or proposes them as pull/merge requests.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::credentials::LoadedCredentials;
use super::forge::Forge;
use super::git::{Checkout, GitError};
use super::image::TargetImage;
use super::recheck::{NoDowngrade, Recheck};
use super::request::{
    DeployRequest, Disposition, FailureKind, WriteFailure, WriteOutcome, error_chain,
    is_safe_event_id,
};
use super::settings::DeployRepoSettings;
use crate::image::ImageRefError;
use crate::repoconfig::{WriteMode, is_safe_name};

/// Limits of the push loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterLimits {
    /// Push attempts per batch before the requests are handed back as retryable.
    pub push_attempts: u32,
    /// First backoff after a rejected push; doubles each time.
    pub backoff_base: Duration,
    /// Longest backoff.
    pub backoff_max: Duration,
}

impl Default for WriterLimits {
    fn default() -> Self {
        WriterLimits {
            push_attempts: 10,
            backoff_base: Duration::from_millis(50),
            backoff_max: Duration::from_secs(5),
        }
    }
}

impl WriterLimits {
    /// The wait before attempt `attempt` (1-based retry count): exponential,
    /// capped, with up to 100% jitter so racing writers spread out.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exponential = self.backoff_base.saturating_mul(1u32 << attempt.min(16));
        let capped = exponential.min(self.backoff_max);
        let jitter = getrandom::u64().unwrap_or(0) % (capped.as_millis().max(1) as u64);
        capped + Duration::from_millis(jitter) / 2
    }
}

/// Why the writer could not even start on a batch.
#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    /// A request is malformed; nothing of it is written.
    #[error("request {event_id}: {reason}")]
    InvalidRequest {
        /// The event.
        event_id: String,
        /// What is wrong.
        reason: String,
    },
    /// The image reference is refused.
    #[error("request {event_id}")]
    InvalidImage {
        /// The event.
        event_id: String,
        /// Why.
        #[source]
        source: ImageRefError,
    },
    /// Credentials could not be loaded.
    #[error("load git credentials")]
    LoadCredentials(#[source] crate::secret::SecretError),
    /// A git operation failed.
    #[error(transparent)]
    Git(#[from] GitError),
    /// The blocking task died.
    #[error("git worker stopped")]
    WorkerStopped,
}

impl WriterError {
    /// Retry or stall.
    pub fn disposition(&self) -> Disposition {
        match self {
            WriterError::Git(e) => e.disposition(),
            WriterError::WorkerStopped => Disposition::Retry,
            _ => Disposition::Stall,
        }
    }

    /// As the status API shows it.
    pub fn to_failure(&self) -> WriteFailure {
        let kind = match self {
            WriterError::InvalidRequest { .. } | WriterError::InvalidImage { .. } => {
                FailureKind::Content
            }
            _ => FailureKind::Git,
        };
        WriteFailure {
            disposition: self.disposition(),
            kind,
            message: error_chain(self),
            retry_at: None,
        }
    }
}

/// A request that passed validation.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The request.
    pub request: DeployRequest,
    /// Its validated image.
    pub image: TargetImage,
}

/// Writes deploys into the deploy repository. Cheap to clone; one checkout,
/// used by one blocking task at a time.
#[derive(Clone)]
pub struct DeployWriter {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub settings: DeployRepoSettings,
    pub repo_dir: PathBuf,
    pub checkout: Mutex<Option<Checkout>>,
    pub forge: Option<Arc<dyn Forge>>,
    pub recheck: Arc<dyn Recheck>,
    pub limits: WriterLimits,
    /// Where people reach the status API; commit messages link each
    /// delivery's status under it (empty: the path alone).
    pub status_url: String,
}

impl DeployWriter {
    /// A writer for the repository `settings` names, checked out in
    /// `repo_dir` (under the state directory). `forge` opens pull/merge
    /// requests; without one, pull-request mode fails as a stall.
    pub fn new(
        settings: DeployRepoSettings,
        repo_dir: PathBuf,
        forge: Option<Arc<dyn Forge>>,
    ) -> Self {
        DeployWriter {
            inner: Arc::new(Inner {
                settings,
                repo_dir,
                checkout: Mutex::new(None),
                forge,
                recheck: Arc::new(NoDowngrade),
                limits: WriterLimits::default(),
                status_url: String::new(),
            }),
        }
    }

    /// Replace the re-check run at the head each write lands on ([`NoDowngrade`] by default).
    pub fn with_recheck(self, recheck: Arc<dyn Recheck>) -> Self {
        self.rebuild(|inner| inner.recheck = recheck)
    }

    /// Link each delivery's status under `url` (`api.public_url`) in commit messages.
    pub fn with_status_url(self, url: &str) -> Self {
        let url = url.trim_end_matches('/').to_string();
        self.rebuild(|inner| inner.status_url = url)
    }

    /// Replace the push loop limits.
    pub fn with_limits(self, limits: WriterLimits) -> Self {
        self.rebuild(|inner| inner.limits = limits)
    }

    fn rebuild(self, change: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = match Arc::try_unwrap(self.inner) {
            Ok(inner) => inner,
            Err(shared) => Inner {
                settings: shared.settings.clone(),
                repo_dir: shared.repo_dir.clone(),
                checkout: Mutex::new(None),
                forge: shared.forge.clone(),
                recheck: shared.recheck.clone(),
                limits: shared.limits,
                status_url: shared.status_url.clone(),
            },
        };
        change(&mut inner);
        DeployWriter {
            inner: Arc::new(inner),
        }
    }

    /// Write a batch. Commit-mode requests become one commit (each keeps its
    /// trailers; later requests for the same app and environment are applied
    /// on top of earlier ones, subject to the re-check); pull-request-mode
    /// requests each update their app/environment branch and request. One
    /// outcome per request, in order.
    pub async fn write(&self, requests: Vec<DeployRequest>) -> Vec<WriteOutcome> {
        let mut outcomes: Vec<Option<WriteOutcome>> = vec![None; requests.len()];
        let mut commits = Vec::new();
        let mut pulls = Vec::new();
        for (index, request) in requests.into_iter().enumerate() {
            match prepare(request.clone()) {
                Ok(prepared) if prepared.request.mode == WriteMode::Commit => {
                    commits.push((index, prepared))
                }
                Ok(prepared) => pulls.push((index, prepared)),
                Err(e) => {
                    outcomes[index] = Some(WriteOutcome::new(request.key(), Err(e.to_failure())))
                }
            }
        }
        if !commits.is_empty() {
            let (indices, batch): (Vec<_>, Vec<_>) = commits.into_iter().unzip();
            let keys: Vec<_> = batch.iter().map(|p| p.request.key()).collect();
            let results = self
                .blocking(move |inner, checkout| {
                    super::commit_flow::commit_batch(inner, checkout, &batch)
                })
                .await;
            let results = results.unwrap_or_else(|e| {
                let failure = e.to_failure();
                keys.into_iter()
                    .map(|key| WriteOutcome::new(key, Err(failure.clone())))
                    .collect()
            });
            for (index, outcome) in indices.into_iter().zip(results) {
                outcomes[index] = Some(outcome);
            }
        }
        for (index, prepared) in pulls {
            outcomes[index] = Some(super::pr_flow::propose(self, prepared).await);
        }
        outcomes.into_iter().flatten().collect()
    }

    /// Run `job` with the checkout on a blocking thread (libgit2 blocks, and
    /// its repository may not be shared between threads).
    pub(super) async fn blocking<T, F>(&self, job: F) -> Result<T, WriterError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner, &Checkout) -> T + Send + 'static,
    {
        let inner = self.inner.clone();
        let task = tokio::task::spawn_blocking(move || {
            let mut slot = match inner.checkout.lock() {
                Ok(slot) => slot,
                Err(poisoned) => poisoned.into_inner(),
            };
            if slot.is_none() {
                *slot = Some(open_checkout(&inner)?);
            }
            match slot.as_ref() {
                Some(checkout) => Ok(job(&inner, checkout)),
                None => Err(WriterError::WorkerStopped),
            }
        });
        task.await.unwrap_or(Err(WriterError::WorkerStopped))
    }
}

fn open_checkout(inner: &Inner) -> Result<Checkout, WriterError> {
    let credentials = match &inner.settings.credentials {
        Some(config) => {
            Some(LoadedCredentials::load(config).map_err(WriterError::LoadCredentials)?)
        }
        None => None,
    };
    Ok(Checkout::open_or_init(
        &inner.repo_dir,
        &inner.settings.url,
        credentials,
        inner.settings.author.clone(),
    )?)
}

/// Check names, event id and image before anything touches the checkout.
pub fn prepare(request: DeployRequest) -> Result<Prepared, WriterError> {
    let invalid = |reason: &str| WriterError::InvalidRequest {
        event_id: request.event_id.escape_debug().to_string(),
        reason: reason.to_string(),
    };
    if !is_safe_event_id(&request.event_id) {
        return Err(invalid("event ids are printable ASCII without spaces"));
    }
    if !is_safe_name(&request.app) {
        return Err(invalid("app names are lowercase letters, digits and '-'"));
    }
    if !is_safe_name(&request.environment) {
        return Err(invalid(
            "environment names are lowercase letters, digits and '-'",
        ));
    }
    let image = TargetImage::new(&request.image).map_err(|source| WriterError::InvalidImage {
        event_id: request.event_id.clone(),
        source,
    })?;
    Ok(Prepared { request, image })
}
