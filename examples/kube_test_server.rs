//! Runs the Kubernetes API test server as its own process, for benchmarks
//! and manual use: `cargo run --example kube_test_server -- --port 6443`.
//! Prints the URL and the kubeconfig path, then serves until interrupted.
//!
//! `--kubelet external --autoscaler` makes it a cluster for the portable
//! tests (`SLIPWAY_TEST_KUBECONFIG`): its controllers leave the pods to the
//! tests' own kubelet stand-in, and an autoscaler stand-in plays the
//! HorizontalPodAutoscaler controller, as kube-controller-manager would.

#[path = "../tests/support/autoscaler.rs"]
mod autoscaler;
#[path = "../tests/support/kubelet.rs"]
#[allow(dead_code)]
mod kubelet;

use std::time::Duration;

use clap::{Parser, ValueEnum};

use kube_test_server::{KubeApiServer, Kubelet, ServerConfig};

/// Who runs the pods.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum KubeletArg {
    /// The server, by image tag.
    Simulated,
    /// A client through the API (the tests' stand-in).
    External,
}

/// Command line of the test server.
#[derive(Debug, Parser)]
struct Args {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Milliseconds before each simulated controller step.
    #[arg(long, default_value_t = 200)]
    rollout_delay_ms: u64,
    /// Who runs the pods.
    #[arg(long, value_enum, default_value = "simulated")]
    kubelet: KubeletArg,
    /// Also run the HorizontalPodAutoscaler controller's stand-in.
    #[arg(long)]
    autoscaler: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = ServerConfig {
        port: args.port,
        rollout_delay: Duration::from_millis(args.rollout_delay_ms),
        kubelet: match args.kubelet {
            KubeletArg::Simulated => Kubelet::Simulated,
            KubeletArg::External => Kubelet::External,
        },
        ..ServerConfig::default()
    };
    let server = KubeApiServer::start_with(config).await?;
    let _autoscaler = if args.autoscaler {
        Some(autoscaler::SimulatedAutoscaler::start(server.config()?)?)
    } else {
        None
    };
    println!("url: {}", server.url());
    println!("kubeconfig: {}", server.kubeconfig_path().display());
    tokio::signal::ctrl_c().await?;
    Ok(())
}
