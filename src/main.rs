//! The `slipway` command line: parse, load config, start a role.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Webhook-driven GitOps controller for Kubernetes.
#[derive(Debug, Parser)]
#[command(name = "slipway", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check, explain and test the deploy repo's policies.
    #[command(subcommand)]
    Policy(slipway::policy::cli::PolicyCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Policy(command) => ExitCode::from(slipway::policy::cli::run(
            command,
            &mut std::io::stdout().lock(),
        )),
    }
}
