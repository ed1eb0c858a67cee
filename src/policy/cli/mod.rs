//! `slipway policy check | explain | test`: library functions that write to
//! any `Write` and return the process exit code.
//!
//! Exit codes: 0 allowed / all pass, 1 denied (or waiting) / a test failed /
//! a target that no policy governs, 2 usage error or invalid files.

mod testcases;

use std::io::Write;
use std::path::{Path, PathBuf};

use jiff::Timestamp;

use super::{
    Decision, Facts, Origin, POLICY_DIR, PolicySet, Verdict, error_chain, evaluate,
    requests_for_event,
};
use crate::event::{DomainEvent, Provider};

pub use testcases::TEST_DIR;

/// Everything allowed, or every test passed.
pub const EXIT_OK: u8 = 0;
/// Something denied or waiting, a test failed, or a target no policy governs.
pub const EXIT_DENIED: u8 = 1;
/// Bad usage or invalid files.
pub const EXIT_INVALID: u8 = 2;

/// The `slipway policy` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum PolicyCommand {
    /// Validate slipway.yaml, policies/*.yaml and policies/tests/*.yaml, and
    /// list every app/environment that no policy governs (exit 1: every
    /// deploy there is denied).
    Check {
        /// Root of a deploy-repo checkout.
        #[arg(long, default_value = ".")]
        repo: PathBuf,
    },
    /// Print the decision and trace for one event.
    Explain {
        /// Root of a deploy-repo checkout.
        #[arg(long, default_value = ".")]
        repo: PathBuf,
        /// The event: a raw webhook payload of `--provider` (with `--event-type`),
        /// or a normalised domain event as JSON.
        #[arg(long)]
        event: PathBuf,
        /// Who sent it (github, gitlab, generic, harbor, dockerhub, quay, pubsub, sync, operator).
        #[arg(long, default_value = "generic")]
        provider: String,
        /// The sender's event name (`X-GitHub-Event`, `X-Gitlab-Event`: `push`, `Pipeline Hook`, ...).
        #[arg(long)]
        event_type: Option<String>,
        /// Facts to evaluate against (YAML or JSON); none when absent.
        #[arg(long)]
        facts: Option<PathBuf>,
        /// Evaluate as of this instant (RFC 3339); now when absent.
        #[arg(long)]
        now: Option<Timestamp>,
        /// Print the decisions as JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Run the cases in policies/tests/*.yaml (none: "0 passed", exit 0).
    Test {
        /// Root of a deploy-repo checkout.
        #[arg(long, default_value = ".")]
        repo: PathBuf,
    },
}

/// Run one subcommand, writing to `out`; returns the exit code.
pub fn run(command: PolicyCommand, out: &mut impl Write) -> u8 {
    match command {
        PolicyCommand::Check { repo } => check(&repo, out),
        PolicyCommand::Explain {
            repo,
            event,
            provider,
            event_type,
            facts,
            now,
            json,
        } => {
            let Some(provider) = parse_provider(&provider) else {
                let _ = writeln!(out, "error: unknown provider {provider:?}");
                return EXIT_INVALID;
            };
            let options = ExplainOptions {
                facts,
                json,
                event_type,
            };
            explain(
                &repo,
                &event,
                provider,
                &options,
                now.unwrap_or_else(Timestamp::now),
                out,
            )
        }
        PolicyCommand::Test { repo } => test(&repo, out),
    }
}

fn parse_provider(name: &str) -> Option<Provider> {
    serde_json::from_value(serde_json::Value::String(name.to_ascii_lowercase())).ok()
}

/// Validate `slipway.yaml`, every policy file and every test file, and list
/// every target that no policy governs. Invalid files exit 2; otherwise a
/// target without a policy (or no policy at all) exits 1.
pub fn check(repo: &Path, out: &mut impl Write) -> u8 {
    let set = match PolicySet::load(repo) {
        Ok(set) => set,
        Err(e) => {
            let _ = writeln!(out, "error: {}", error_chain(&e));
            return EXIT_INVALID;
        }
    };
    let environments: usize = set.config.apps.values().map(|a| a.environments.len()).sum();
    let _ = writeln!(
        out,
        "ok    slipway.yaml: {} apps, {environments} environments",
        set.config.apps.len()
    );
    for policy in &set.policies {
        let _ = writeln!(
            out,
            "ok    {}: apps {} environments {}, {} rules",
            policy.file,
            policy.apps,
            policy.environments,
            policy.rules.len()
        );
    }
    for broken in &set.broken {
        let _ = writeln!(out, "error {}", broken.error);
    }
    let mut failed = !set.broken.is_empty();
    match testcases::load_all(repo) {
        Ok(files) => {
            for file in files {
                let _ = writeln!(out, "ok    {}: {} cases", file.path, file.cases.len());
            }
        }
        Err(errors) => {
            for e in errors {
                let _ = writeln!(out, "error {e}");
            }
            failed = true;
        }
    }
    let no_policies = set.policies.is_empty() && set.broken.is_empty();
    if no_policies {
        let _ = writeln!(
            out,
            "error no policies in {POLICY_DIR}/*.yaml: every deploy is denied"
        );
    }
    let ungoverned = set.ungoverned();
    for target in &ungoverned {
        let _ = writeln!(
            out,
            "error no policy governs {}/{}: every deploy there is denied ({POLICY_DIR}/default.yaml allows everything)",
            target.app, target.environment
        );
    }
    if failed {
        EXIT_INVALID
    } else if no_policies || !ungoverned.is_empty() {
        EXIT_DENIED
    } else {
        EXIT_OK
    }
}

/// Options of `explain` beyond the event itself.
#[derive(Debug, Default, Clone)]
pub struct ExplainOptions {
    /// Facts file (YAML or JSON); empty facts when absent.
    pub facts: Option<PathBuf>,
    /// Print JSON instead of text.
    pub json: bool,
    /// The sender's event name, for raw payloads.
    pub event_type: Option<String>,
}

/// Print the decision and trace for the requests one event produces.
pub fn explain(
    repo: &Path,
    event_file: &Path,
    provider: Provider,
    options: &ExplainOptions,
    now: Timestamp,
    out: &mut impl Write,
) -> u8 {
    let set = match PolicySet::load(repo) {
        Ok(set) => set,
        Err(e) => {
            let _ = writeln!(out, "error: {}", error_chain(&e));
            return EXIT_INVALID;
        }
    };
    let event = match read_event(event_file, provider, options.event_type.as_deref()) {
        Ok(event) => event,
        Err(message) => {
            let _ = writeln!(out, "error: {message}");
            return EXIT_INVALID;
        }
    };
    let facts = match &options.facts {
        None => Facts::default(),
        Some(path) => match read_facts(path) {
            Ok(facts) => facts,
            Err(message) => {
                let _ = writeln!(out, "error: {message}");
                return EXIT_INVALID;
            }
        },
    };
    let origin = Origin {
        provider,
        event_id: event_file.display().to_string(),
        received_at: now,
    };
    let requests = requests_for_event(&set.config, &event, &origin);
    if requests.is_empty() {
        let why = match &event {
            DomainEvent::Ignored { reason } => format!(" ({reason})"),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "{} event{why} produces no deploy request under {}",
            event.kind(),
            repo.join(crate::repoconfig::FILE_NAME).display()
        );
        return EXIT_OK;
    }
    let decisions: Vec<Decision> = requests
        .iter()
        .map(|r| evaluate(&set, &facts, r, now))
        .collect();
    if options.json {
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&decisions).unwrap_or_default()
        );
    } else {
        for d in &decisions {
            let _ = writeln!(out, "{}", d.render_text());
        }
    }
    if decisions
        .iter()
        .all(|d| matches!(d.verdict, Verdict::Allow { .. }))
    {
        EXIT_OK
    } else {
        EXIT_DENIED
    }
}

/// The event in `path`: a normalised domain event as JSON (it has a `kind`),
/// or a raw webhook payload of `provider`, normalised the way the server
/// does after verifying it (`event_type` is the sender's event header).
fn read_event(
    path: &Path,
    provider: Provider,
    event_type: Option<&str>,
) -> Result<DomainEvent, String> {
    let body = std::fs::read(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    if let Ok(event) = serde_json::from_slice::<DomainEvent>(&body) {
        return Ok(event);
    }
    crate::webhook::normalise::normalise(provider, event_type.unwrap_or_default(), &body).map_err(
        |e| {
            format!(
                "{}: neither a normalised event nor a {provider} payload{}: {e}",
                path.display(),
                event_type
                    .map(|t| format!(" of type {t:?}"))
                    .unwrap_or_else(|| " (is --event-type missing?)".into())
            )
        },
    )
}

fn read_facts(path: &Path) -> Result<Facts, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    serde_saphyr::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Run `policies/tests/*.yaml` and print pass or fail per case.
pub fn test(repo: &Path, out: &mut impl Write) -> u8 {
    testcases::run_all(repo, out)
}
