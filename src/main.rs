//! The `slipway` command line: parse, load config, start a role.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio::sync::watch;

use slipway::config::Config;
use slipway::event::{OperatorAction, OperatorRequested};
use slipway::metrics::Metrics;
use slipway::operator::SyncRequest;
use slipway::receive::{ReceiveRole, bind};
use slipway::secret::{Secret, SecretSource};
use slipway::store::Store;

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
    /// Apply the deploy repo to the cluster, verify rollouts, roll back failures.
    Sync {
        /// Configuration file (YAML) with `deploy_repo` and `sync` sections.
        #[arg(long, short, env = "SLIPWAY_CONFIG")]
        config: PathBuf,
    },
    /// Run receive and sync in one process. Without --config, on embedded
    /// defaults: secrets, a local deploy repo and a test webhook are made in
    /// --state-dir the first time; without a kubeconfig it only plans.
    Run {
        /// Configuration file; the embedded defaults when absent.
        #[arg(long, short, env = "SLIPWAY_CONFIG")]
        config: Option<PathBuf>,
        /// State directory for the embedded defaults.
        #[arg(long, default_value = slipway::config::DEFAULT_STATE_DIR)]
        state_dir: PathBuf,
        /// Listen address for the embedded defaults.
        #[arg(long, default_value = slipway::config::DEFAULT_LISTEN)]
        listen: std::net::SocketAddr,
    },
    /// Check, explain and test the deploy repo's policies.
    #[command(subcommand)]
    Policy(slipway::policy::cli::PolicyCommand),
    /// Show deliveries and, when sync is reachable, apps and environments.
    Status(StatusArgs),
    /// Ask for an older image in an environment (through the policy gate and the writer).
    Rollback {
        /// App name from slipway.yaml.
        app: String,
        /// Environment name.
        env: String,
        /// Tag or digest to return to; the last verified image before the current one when absent.
        #[arg(long)]
        to: Option<String>,
        #[command(flatten)]
        target: OperatorTarget,
    },
    /// Run an app/environment's failed (rolled back or rejected) revision
    /// again, and retry a cluster problem now, through sync's status API.
    Retry(SyncTargetArgs),
    /// `--to ENV`: promote the image verified in the previous environment
    /// into ENV (through the policy gate and the writer). `--env ENV`: let
    /// ENV's blue-green or canary rollout go past its pause (through sync's
    /// status API).
    #[command(group(clap::ArgGroup::new("where").required(true).args(["to", "env"])))]
    Promote {
        /// App name from slipway.yaml.
        app: String,
        /// Environment to promote the previous environment's image into.
        #[arg(long)]
        to: Option<String>,
        /// Environment whose paused rollout goes on.
        #[arg(long)]
        env: Option<String>,
        #[command(flatten)]
        target: OperatorTarget,
        /// Base URL of the sync role for `--env` (default: `--url`).
        #[arg(long, env = "SLIPWAY_SYNC_URL")]
        sync_url: Option<String>,
        /// Environment variable holding the status API bearer token, if one is required.
        #[arg(long, default_value = "SLIPWAY_API_TOKEN")]
        token_env: String,
    },
    /// Abort an app/environment's blue-green or canary rollout: traffic goes
    /// back to the stable version and the new one is deleted.
    Abort(SyncTargetArgs),
}

/// Where operator requests go and what signs them.
#[derive(clap::Args)]
struct OperatorTarget {
    /// Base URL of the receive role.
    #[arg(long, env = "SLIPWAY_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// File holding the operator secret (`whsec_...`); `slipway run` writes one here.
    #[arg(
        long,
        env = "SLIPWAY_OPERATOR_SECRET_FILE",
        default_value = "slipway-data/secrets/operator"
    )]
    secret_file: PathBuf,
}

/// One app/environment on sync's status API.
#[derive(clap::Args)]
struct SyncTargetArgs {
    /// App name from slipway.yaml.
    app: String,
    /// Environment name.
    #[arg(long)]
    env: String,
    /// Base URL of the sync role (or of `slipway run`).
    #[arg(
        long,
        env = "SLIPWAY_SYNC_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    url: String,
    /// Environment variable holding the status API bearer token, if one is required.
    #[arg(long, default_value = "SLIPWAY_API_TOKEN")]
    token_env: String,
}

#[derive(clap::Args)]
struct StatusArgs {
    /// App name: with ENV, show that app/environment in detail (its
    /// rollout's strategy, phase, colours and steps) instead of the lists.
    #[arg(requires = "env")]
    app: Option<String>,
    /// Environment name.
    env: Option<String>,
    /// Base URL of the receive role (or of `slipway run`).
    #[arg(long, env = "SLIPWAY_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Base URL of the sync role, when it runs apart from receive.
    #[arg(long, env = "SLIPWAY_SYNC_URL")]
    sync_url: Option<String>,
    /// Environment variable holding the status API bearer token, if one is required.
    #[arg(long, default_value = "SLIPWAY_API_TOKEN")]
    token_env: String,
    /// Deliveries to list.
    #[arg(long, default_value_t = 10)]
    limit: usize,
}

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SLIPWAY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
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
    let store = Store::open(&config.state_dir)?;
    let processor = slipway::receive::processor(&config, &store, None)?;
    let role = ReceiveRole::with_store(&config, store, processor, Arc::new(Metrics::default()))?;
    let listener = bind(&config).await?;
    let address = listener.local_addr().context("listen address")?;
    tracing::info!(%address, state_dir = %config.state_dir.display(), "receive listening");
    role.serve(listener, None, shutdown_signal())
        .await
        .context("receive")?;
    Ok(())
}

async fn run(
    config: Option<PathBuf>,
    state_dir: PathBuf,
    listen: std::net::SocketAddr,
) -> anyhow::Result<()> {
    let config = match config {
        Some(path) => Config::load(&path)?,
        None => {
            let (config, welcome) = slipway::quickstart::embedded_config(&state_dir, listen)?;
            if let Some(welcome) = welcome {
                println!("{welcome}");
            }
            config
        }
    };
    slipway::roles::serve_both(&config, shutdown_signal())
        .await
        .context("run")
}

async fn operator(
    target: &OperatorTarget,
    app: String,
    environment: String,
    action: OperatorAction,
) -> anyhow::Result<()> {
    let secret = SecretSource::File(target.secret_file.clone())
        .load()
        .context("operator secret (see --secret-file)")?;
    let requested_by = std::env::var("USER").unwrap_or_else(|_| "operator".to_string());
    let request = OperatorRequested {
        app,
        environment,
        action,
        requested_by,
    };
    let answer = slipway::operator::send_request(&target.url, &secret, &request).await?;
    println!("{}", serde_json::to_string_pretty(&answer)?);
    println!("follow it with: slipway status --url {}", target.url);
    Ok(())
}

async fn status(args: StatusArgs) -> anyhow::Result<()> {
    let token = std::env::var(&args.token_env).ok().map(Secret::new);
    if let (Some(app), Some(env)) = (&args.app, &args.env) {
        let url = args.sync_url.as_deref().unwrap_or(&args.url);
        let target = slipway::operator::get_status(
            url,
            &format!("/api/v1/apps/{app}/{env}"),
            token.as_ref(),
        )
        .await?;
        print!(
            "{}",
            slipway::operator::render_target(&target, jiff::Timestamp::now())
        );
        return Ok(());
    }
    let deliveries = slipway::operator::get_status(
        &args.url,
        &format!("/api/v1/deliveries?limit={}", args.limit),
        token.as_ref(),
    )
    .await?;
    let apps_url = args.sync_url.as_deref().unwrap_or(&args.url);
    let apps = slipway::operator::get_status(apps_url, "/api/v1/apps", token.as_ref()).await;
    print!(
        "{}",
        slipway::operator::render_status(&deliveries, apps.as_ref().ok())
    );
    if let Err(e) = apps {
        println!("apps: not available from {apps_url} ({e})");
    }
    Ok(())
}

async fn sync_request(args: SyncTargetArgs, request: SyncRequest) -> anyhow::Result<()> {
    let token = std::env::var(&args.token_env).ok().map(Secret::new);
    let answer =
        slipway::operator::request_sync(&args.url, &args.app, &args.env, request, token.as_ref())
            .await?;
    println!("{}", serde_json::to_string_pretty(&answer)?);
    println!(
        "follow it with: slipway status {} {} --sync-url {}",
        args.app, args.env, args.url
    );
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
        let done = match cli.command {
            // Policy commands have their own exit codes: 0 allowed, 1 denied, 2 invalid.
            Command::Policy(command) => {
                let code = slipway::policy::cli::run(command, &mut std::io::stdout().lock());
                return Ok(ExitCode::from(code));
            }
            Command::Receive { config } => receive(config).await,
            Command::Sync { config } => {
                let config = Config::load(&config)?;
                slipway::roles::serve_sync(&config, shutdown_signal())
                    .await
                    .context("sync")
            }
            Command::Run {
                config,
                state_dir,
                listen,
            } => run(config, state_dir, listen).await,
            Command::Status(args) => status(args).await,
            Command::Retry(args) => sync_request(args, SyncRequest::Retry).await,
            Command::Abort(args) => sync_request(args, SyncRequest::Abort).await,
            Command::Rollback {
                app,
                env,
                to,
                target,
            } => operator(&target, app, env, OperatorAction::Rollback { to }).await,
            Command::Promote {
                app,
                to,
                env,
                target,
                sync_url,
                token_env,
            } => match (to, env) {
                (Some(to), _) => operator(&target, app, to, OperatorAction::Promote).await,
                (None, env) => {
                    let args = SyncTargetArgs {
                        app,
                        env: env.unwrap_or_default(),
                        url: sync_url.unwrap_or(target.url),
                        token_env,
                    };
                    sync_request(args, SyncRequest::Promote).await
                }
            },
        };
        done.map(|()| ExitCode::SUCCESS)
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
