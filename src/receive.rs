//! The receive role assembled: providers from configuration, the store, the
//! HTTP server and the worker, with a graceful shutdown.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

use crate::config::{Config, WebhooksConfig};
use crate::deployrepo::forge::from_settings;
use crate::deployrepo::writer::DeployWriter;
use crate::event::Provider;
use crate::metrics::Metrics;
use crate::pipeline::DeployPipeline;
use crate::pipeline::nudge::{HttpNudge, SyncNudge};
use crate::pipeline::view::PolicyView;
use crate::secret::{SecretError, SecretSource, load_all};
use crate::server::{AppState, router};
use crate::store::{Store, StoreError};
use crate::webhook::Hook;
use crate::webhook::dockerhub::{DockerHubHook, MIN_URL_TOKEN_LEN};
use crate::webhook::generic::StandardHook;
use crate::webhook::github::GitHubHook;
use crate::webhook::gitlab::GitLabHook;
use crate::webhook::harbor::HarborHook;
use crate::webhook::signature::StandardKey;
use crate::worker::{Processor, RecordOnly, Worker};

/// Why the receive role could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    /// A configured secret could not be loaded.
    #[error("webhooks.{provider}")]
    LoadSecret {
        /// The provider section.
        provider: &'static str,
        /// The cause (never the value).
        #[source]
        source: SecretError,
    },
    /// A secret has the wrong form for its provider.
    #[error("webhooks.{provider}: {message}")]
    BadSecret {
        /// The provider section.
        provider: &'static str,
        /// What is wrong.
        message: &'static str,
    },
    /// `api.public_url` is not an http(s) URL.
    #[error("api.public_url: {0:?} is not an http:// or https:// URL")]
    PublicUrl(String),
    /// The API bearer token could not be loaded.
    #[error("api.bearer_token")]
    LoadApiToken(#[source] SecretError),
    /// The store could not be opened.
    #[error("open store")]
    OpenStore(#[source] StoreError),
    /// The listen address could not be bound.
    #[error("bind {address}")]
    Bind {
        /// The address.
        address: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The forge client could not be built.
    #[error("forge")]
    Forge(#[source] crate::deployrepo::forge::ForgeError),
    /// The sync nudge target could not be set up.
    #[error("nudge_sync")]
    Nudge(#[source] crate::pipeline::nudge::NudgeError),
    /// The server failed while running.
    #[error("serve http")]
    Serve(#[source] std::io::Error),
}

fn load(
    provider: &'static str,
    sources: &[SecretSource],
) -> Result<Vec<crate::secret::Secret>, ReceiveError> {
    load_all(sources).map_err(|source| ReceiveError::LoadSecret { provider, source })
}

fn load_keys(
    provider: &'static str,
    sources: &[SecretSource],
) -> Result<Vec<StandardKey>, ReceiveError> {
    load(provider, sources)?
        .iter()
        .map(|s| {
            StandardKey::from_secret(s)
                .map_err(|message| ReceiveError::BadSecret { provider, message })
        })
        .collect()
}

/// Build every provider that has at least one secret. A provider without
/// secrets stays disabled: an open, unauthenticated hook is never the default.
pub fn build_hooks(
    config: &WebhooksConfig,
) -> Result<HashMap<Provider, Arc<dyn Hook>>, ReceiveError> {
    let mut hooks: HashMap<Provider, Arc<dyn Hook>> = HashMap::new();
    if let Some(c) = config.github.as_ref().filter(|c| !c.secrets.is_empty()) {
        hooks.insert(
            Provider::GitHub,
            Arc::new(GitHubHook::new(load("github", &c.secrets)?)),
        );
    }
    if let Some(c) = config
        .gitlab
        .as_ref()
        .filter(|c| !c.tokens.is_empty() || !c.signing_tokens.is_empty())
    {
        let hook = GitLabHook::new(
            load("gitlab", &c.tokens)?,
            load_keys("gitlab", &c.signing_tokens)?,
            c.tolerance_seconds,
        );
        hooks.insert(Provider::GitLab, Arc::new(hook));
    }
    if let Some(c) = config.generic.as_ref().filter(|c| !c.secrets.is_empty()) {
        let hook = StandardHook::generic(load_keys("generic", &c.secrets)?, c.tolerance_seconds);
        hooks.insert(Provider::Generic, Arc::new(hook));
    }
    if let Some(c) = config.sync.as_ref().filter(|c| !c.secrets.is_empty()) {
        let hook = StandardHook::sync_reports(load_keys("sync", &c.secrets)?, c.tolerance_seconds);
        hooks.insert(Provider::Sync, Arc::new(hook));
    }
    if let Some(c) = config.operator.as_ref().filter(|c| !c.secrets.is_empty()) {
        let hook = StandardHook::operator(load_keys("operator", &c.secrets)?, c.tolerance_seconds);
        hooks.insert(Provider::Operator, Arc::new(hook));
    }
    if let Some(c) = config
        .harbor
        .as_ref()
        .filter(|c| !c.auth_headers.is_empty())
    {
        hooks.insert(
            Provider::Harbor,
            Arc::new(HarborHook::new(load("harbor", &c.auth_headers)?)),
        );
    }
    if let Some(c) = config
        .dockerhub
        .as_ref()
        .filter(|c| !c.url_tokens.is_empty())
    {
        let tokens = load("dockerhub", &c.url_tokens)?;
        if tokens.iter().any(|t| t.expose().len() < MIN_URL_TOKEN_LEN) {
            return Err(ReceiveError::BadSecret {
                provider: "dockerhub",
                message: "URL tokens must be at least 32 random characters",
            });
        }
        hooks.insert(Provider::DockerHub, Arc::new(DockerHubHook::new(tokens)));
    }
    Ok(hooks)
}

/// The processor for `config`: the deploy pipeline when a deploy repository
/// is configured, otherwise record-only (said once in the log).
pub fn processor(
    config: &Config,
    store: &Store,
    nudge: Option<Arc<dyn SyncNudge>>,
) -> Result<Arc<dyn Processor>, ReceiveError> {
    let Some(repo) = &config.deploy_repo else {
        tracing::warn!("no deploy_repo configured: deliveries are recorded, nothing is deployed");
        return Ok(Arc::new(RecordOnly));
    };
    let forge = config
        .forge
        .as_ref()
        .map(from_settings)
        .transpose()
        .map_err(ReceiveError::Forge)?;
    let nudge = match (nudge, &config.nudge_sync) {
        (Some(nudge), _) => Some(nudge),
        (None, Some(settings)) => Some(Arc::new(
            HttpNudge::new(settings).map_err(ReceiveError::Nudge)?,
        ) as Arc<dyn SyncNudge>),
        (None, None) => None,
    };
    let receive_dir = config.state_dir.join("receive");
    let mut writer = DeployWriter::new(repo.clone(), receive_dir.join("checkout"), forge);
    if let Some(url) = &config.api.public_url {
        let parsed = reqwest::Url::parse(url).map_err(|_| ReceiveError::PublicUrl(url.clone()))?;
        if !matches!(parsed.scheme(), "http" | "https") || !parsed.has_host() {
            return Err(ReceiveError::PublicUrl(url.clone()));
        }
        writer = writer.with_status_url(url);
    }
    let view = PolicyView::new(repo.clone(), receive_dir.join("policy-view"));
    Ok(Arc::new(DeployPipeline::new(
        store.clone(),
        view,
        writer,
        nudge,
    )))
}

/// The receive role, ready to serve.
pub struct ReceiveRole {
    /// Handler state (exposed for tests and for `run`, which adds routes).
    pub state: AppState,
    worker: Worker,
}

impl ReceiveRole {
    /// Load secrets, open the store and build the worker.
    pub fn new(
        config: &Config,
        processor: Arc<dyn Processor>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, ReceiveError> {
        let store = Store::open(&config.state_dir).map_err(ReceiveError::OpenStore)?;
        Self::with_store(config, store, processor, metrics)
    }

    /// Load secrets and build the worker over an open store.
    pub fn with_store(
        config: &Config,
        store: Store,
        processor: Arc<dyn Processor>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, ReceiveError> {
        let hooks = build_hooks(&config.webhooks)?;
        if hooks.is_empty() {
            tracing::warn!(
                "no webhook provider has a secret configured: every /hooks route answers 404"
            );
        }
        let api_token = config
            .api
            .bearer_token
            .as_ref()
            .map(SecretSource::load)
            .transpose()
            .map_err(ReceiveError::LoadApiToken)?;
        let wake = Arc::new(Notify::new());
        let worker = Worker::new(store.clone(), processor, wake.clone(), metrics.clone());
        let state = AppState {
            store,
            hooks: Arc::new(hooks),
            metrics,
            api_token,
            max_body_bytes: config.max_body_bytes,
            wake_worker: wake,
        };
        Ok(ReceiveRole { state, worker })
    }

    /// The handler state and the worker, for callers that drive the worker
    /// themselves (tests step it with [`Worker::run_once`]).
    pub fn into_parts(self) -> (AppState, Worker) {
        (self.state, self.worker)
    }

    /// Serve on `listener` and run the worker until `shutdown` turns true.
    /// `extra` routes (sync's, in `slipway run`) are merged in.
    pub async fn serve(
        self,
        listener: TcpListener,
        extra: Option<axum::Router>,
        shutdown: watch::Receiver<bool>,
    ) -> Result<(), ReceiveError> {
        let mut app = router(self.state);
        if let Some(extra) = extra {
            app = app.merge(extra);
        }
        let worker = tokio::spawn(self.worker.run(shutdown.clone()));
        let mut stop = shutdown;
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await
            .map_err(ReceiveError::Serve);
        let _ = worker.await;
        served
    }
}

/// Bind the configured address.
pub async fn bind(config: &Config) -> Result<TcpListener, ReceiveError> {
    TcpListener::bind(config.listen)
        .await
        .map_err(|source| ReceiveError::Bind {
            address: config.listen.to_string(),
            source,
        })
}
