//! The `slipway` command line: parse, load config, start a role.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio::sync::watch;

use slipway::config::Config;
use slipway::metrics::Metrics;
use slipway::receive::{ReceiveRole, bind};
use slipway::worker::RecordOnly;

/// Webhook-driven GitOps for Kubernetes: verified webhooks in, policy-gated
/// deploy-repo writes, verified rollouts out.
#[derive(Parser)]
#[command(name = "slipway", version, about, long_about = None)]
struct Cli {
    /// Log as JSON lines instead of text.
    #[arg(long, global = true, env = "SLIPWAY_LOG_JSON")]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Receive signed webhooks, store them durably and act on them.
    Receive {
        /// Configuration file (YAML).
        #[arg(long, short, env = "SLIPWAY_CONFIG")]
        config: PathBuf,
    },
}

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SLIPWAY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// A watch channel that turns true on SIGINT or SIGTERM.
fn shutdown_signal() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(term) => term,
                    Err(_) => {
                        let _ = ctrl_c.await;
                        let _ = tx.send(true);
                        return;
                    }
                };
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutting down");
        let _ = tx.send(true);
    });
    rx
}

async fn receive(config_path: PathBuf) -> anyhow::Result<()> {
    let config = Config::load(&config_path)?;
    let role = ReceiveRole::new(&config, Arc::new(RecordOnly), Arc::new(Metrics::default()))?;
    let listener = bind(&config).await?;
    let address = listener.local_addr().context("listen address")?;
    tracing::info!(%address, state_dir = %config.state_dir.display(), "receive listening");
    role.serve(listener, None, shutdown_signal())
        .await
        .context("receive")?;
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_json);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: start runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Receive { config } => receive(config).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
