//! Runs the Kubernetes API test server as its own process, for benchmarks
//! and manual use: `cargo run --example kube_test_server -- --port 6443`.
//! Prints the URL and the kubeconfig path, then serves until interrupted.

use std::time::Duration;

use clap::Parser;

use kube_test_server::{KubeApiServer, ServerConfig};

/// Command line of the test server.
#[derive(Debug, Parser)]
struct Args {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Milliseconds before each simulated controller step.
    #[arg(long, default_value_t = 200)]
    rollout_delay_ms: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = ServerConfig {
        port: args.port,
        rollout_delay: Duration::from_millis(args.rollout_delay_ms),
        ..ServerConfig::default()
    };
    let server = KubeApiServer::start_with(config).await?;
    println!("url: {}", server.url());
    println!("kubeconfig: {}", server.kubeconfig_path().display());
    tokio::signal::ctrl_c().await?;
    Ok(())
}
