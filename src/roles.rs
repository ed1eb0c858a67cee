//! Starting the roles that need more than one part: `slipway sync` (the sync
//! loop plus its HTTP surface) and `slipway run` (receive and sync in one
//! process, one store, one port, sync nudged in-process).

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::pipeline::nudge::LocalNudge;
use crate::receive::{ReceiveError, ReceiveRole, bind, processor};
use crate::server::ops_router;
use crate::store::{Store, StoreError};
use crate::sync::setup::{SetupError, sync_role};
use crate::sync::status::routes as sync_routes;

/// Why a role could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum RoleError {
    /// The store could not be opened.
    #[error("open store")]
    Store(#[from] StoreError),
    /// The receive side failed.
    #[error("receive")]
    Receive(#[from] ReceiveError),
    /// The sync side could not be set up.
    #[error("sync")]
    Sync(#[from] SetupError),
    /// The HTTP server failed.
    #[error("serve http")]
    Serve(#[source] std::io::Error),
}

async fn stopped(mut shutdown: watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}

/// `slipway sync`: the loop, the status API, the nudge hooks, health and metrics.
pub async fn serve_sync(config: &Config, shutdown: watch::Receiver<bool>) -> Result<(), RoleError> {
    let store = Store::open(&config.state_dir)?;
    let mut metrics = Metrics::default();
    let role = sync_role(config, store.clone(), metrics.registry_mut()).await?;
    let app = sync_routes(role.http).merge(ops_router(store, Arc::new(metrics)));
    let listener = bind(config).await?;
    log_listening("sync", &listener);
    let sync_loop = tokio::spawn(role.sync_loop.run(stopped(shutdown.clone())));
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(stopped(shutdown))
        .await
        .map_err(RoleError::Serve);
    let _ = sync_loop.await;
    served
}

/// `slipway run`: both roles over one store and one listener.
pub async fn serve_both(config: &Config, shutdown: watch::Receiver<bool>) -> Result<(), RoleError> {
    let store = Store::open(&config.state_dir)?;
    let mut metrics = Metrics::default();
    let sync = sync_role(config, store.clone(), metrics.registry_mut()).await?;
    let nudge = Arc::new(LocalNudge(sync.sync_loop.nudge_handle()));
    let processor = processor(config, &store, Some(nudge))?;
    let receive = ReceiveRole::with_store(config, store, processor, Arc::new(metrics))?;
    let listener = bind(config).await?;
    log_listening("run", &listener);
    let sync_loop = tokio::spawn(sync.sync_loop.run(stopped(shutdown.clone())));
    let served = receive
        .serve(listener, Some(sync_routes(sync.http)), shutdown)
        .await;
    let _ = sync_loop.await;
    Ok(served?)
}

fn log_listening(role: &str, listener: &TcpListener) {
    if let Ok(address) = listener.local_addr() {
        tracing::info!(%address, role, "listening");
    }
}
