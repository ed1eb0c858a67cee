//! The real tools sync renders with: kustomize (a standalone `kustomize`, or
//! the one built into `kubectl`) and `helm`, found once at start and asked
//! for their versions; how they are found and bounded is `sync.render`.
//! Each run is offline and bounded ([`super::run`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::run::{RunError, offline_env, run};

/// Default seconds one render may take.
pub const DEFAULT_TIMEOUT_SECS: u64 = 60;
/// Default largest rendered output, in bytes (32 MiB).
pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 32 * 1024 * 1024;
/// Seconds a `version` query may take at start.
const VERSION_TIMEOUT: Duration = Duration::from_secs(10);

/// How sync finds and bounds its render tools (`sync.render` in the config).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenderSettings {
    /// The kustomize to run: a `kustomize` binary, or a `kubectl` (run as
    /// `kubectl kustomize`). When absent, `kustomize` then `kubectl` on `$PATH`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kustomize: Option<PathBuf>,
    /// The `helm` binary; `helm` on `$PATH` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helm: Option<PathBuf>,
    /// Seconds one render may take before it is refused.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// Largest rendered output, in bytes, before it is refused.
    #[serde(default = "default_max_output")]
    pub max_output_bytes: usize,
}

impl Default for RenderSettings {
    fn default() -> Self {
        RenderSettings {
            kustomize: None,
            helm: None,
            timeout_seconds: DEFAULT_TIMEOUT_SECS,
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
        }
    }
}

fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_SECS
}

fn default_max_output() -> usize {
    DEFAULT_MAX_OUTPUT_BYTES
}

/// Bounds of one tool run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time before the tool is killed.
    pub timeout: Duration,
    /// Largest standard output kept; more kills the tool.
    pub max_output: usize,
}

impl Limits {
    /// The limits `settings` names.
    pub fn from_settings(settings: &RenderSettings) -> Self {
        Limits {
            timeout: Duration::from_secs(settings.timeout_seconds),
            max_output: settings.max_output_bytes,
        }
    }
}

/// One tool, found and asked for its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tool {
    /// The executable.
    pub program: PathBuf,
    /// Arguments before the tool's own (`["kustomize"]` for `kubectl`).
    pub prefix: Vec<String>,
    /// What the tool reports of itself (`kubectl v1.33.9, kustomize v5.6.0`).
    pub version: String,
}

/// The tools found at start; `None` where a tool is not installed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenderTools {
    /// kustomize, standalone or in kubectl.
    pub kustomize: Option<Tool>,
    /// helm.
    pub helm: Option<Tool>,
}

/// The versions of the render tools, as the status API shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolVersions {
    /// kustomize's (and its kubectl's) version; `null` when not installed.
    pub kustomize: Option<String>,
    /// helm's version; `null` when not installed.
    pub helm: Option<String>,
}

impl RenderTools {
    /// Find the tools `settings` names (or `$PATH` holds) and read their
    /// versions. A tool that is missing or does not answer is `None`, and
    /// an environment that needs it is refused with a clear message.
    pub async fn discover(settings: &RenderSettings) -> Self {
        let kustomize_program = settings
            .kustomize
            .clone()
            .or_else(|| find_on_path("kustomize"))
            .or_else(|| find_on_path("kubectl"));
        let helm_program = settings.helm.clone().or_else(|| find_on_path("helm"));
        let kustomize = match kustomize_program {
            Some(program) => kustomize_tool(program).await,
            None => None,
        };
        let helm = match helm_program {
            Some(program) => helm_tool(program).await,
            None => None,
        };
        RenderTools { kustomize, helm }
    }

    /// Their versions.
    pub fn versions(&self) -> ToolVersions {
        ToolVersions {
            kustomize: self.kustomize.as_ref().map(|t| t.version.clone()),
            helm: self.helm.as_ref().map(|t| t.version.clone()),
        }
    }
}

fn is_kubectl(program: &Path) -> bool {
    program
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("kubectl"))
}

async fn kustomize_tool(program: PathBuf) -> Option<Tool> {
    let limits = Limits {
        timeout: VERSION_TIMEOUT,
        max_output: 64 * 1024,
    };
    let cwd = std::env::temp_dir();
    if is_kubectl(&program) {
        let out = run(
            &program,
            &["version", "--client", "-o", "json"],
            &cwd,
            &[],
            limits,
        )
        .await
        .map_err(|e| warn_version(&program, &e))
        .ok()?;
        let json: serde_json::Value = serde_json::from_slice(&out).ok()?;
        let kubectl = json.pointer("/clientVersion/gitVersion")?.as_str()?;
        let kustomize = json.get("kustomizeVersion")?.as_str()?;
        return Some(Tool {
            program,
            prefix: vec!["kustomize".into()],
            version: format!("kustomize {kustomize} (kubectl {kubectl})"),
        });
    }
    let out = run(&program, &["version"], &cwd, &[], limits)
        .await
        .map_err(|e| warn_version(&program, &e))
        .ok()?;
    Some(Tool {
        program,
        prefix: vec!["build".into()],
        version: format!("kustomize {}", String::from_utf8_lossy(&out).trim()),
    })
}

async fn helm_tool(program: PathBuf) -> Option<Tool> {
    let limits = Limits {
        timeout: VERSION_TIMEOUT,
        max_output: 64 * 1024,
    };
    let home = tempfile::tempdir().ok()?;
    let env = offline_env(home.path());
    let out = run(&program, &["version", "--short"], home.path(), &env, limits)
        .await
        .map_err(|e| warn_version(&program, &e))
        .ok()?;
    Some(Tool {
        program,
        prefix: Vec::new(),
        version: format!("helm {}", String::from_utf8_lossy(&out).trim()),
    })
}

fn warn_version(program: &Path, e: &RunError) {
    tracing::warn!(program = %program.display(), error = %e, "render tool does not answer `version`; environments that need it are refused");
}

/// The first executable file called `name` in a directory of `$PATH`.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| {
            candidate
                .metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}
