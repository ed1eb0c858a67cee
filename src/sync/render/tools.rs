//! The real tools sync renders with: kustomize (a standalone `kustomize`, or
//! the one built into `kubectl`) and `helm`. Found once at start, their
//! versions read and logged; each run is offline, bounded in time and in
//! output, with a cleared environment.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Default seconds one render may take.
pub const DEFAULT_TIMEOUT_SECS: u64 = 60;
/// Default largest rendered output, in bytes (32 MiB).
pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 32 * 1024 * 1024;
/// Most of a tool's error output kept for the status, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024;
/// Seconds a `version` query may take at start.
const VERSION_TIMEOUT: Duration = Duration::from_secs(10);
/// Where a tool's HTTP(S) requests go: a closed port on the loopback, so
/// a remote resource or chart fails at once and nothing is fetched.
const OFFLINE_PROXY: &str = "http://127.0.0.1:9";

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

/// The whole environment a tool runs with, rooted at `home` (a private
/// temporary directory): no `$PATH` (so kustomize finds no `git` to clone
/// a remote base with), an unreachable proxy for every HTTP(S) request, no
/// kubeconfig, and helm's cache, configuration and data kept under `home`.
pub fn offline_env(home: &Path) -> Vec<(&'static str, String)> {
    let at = |sub: &str| home.join(sub).to_string_lossy().into_owned();
    vec![
        ("HOME", at("")),
        ("TMPDIR", at("")),
        ("HTTP_PROXY", OFFLINE_PROXY.into()),
        ("HTTPS_PROXY", OFFLINE_PROXY.into()),
        ("http_proxy", OFFLINE_PROXY.into()),
        ("https_proxy", OFFLINE_PROXY.into()),
        ("NO_PROXY", String::new()),
        ("no_proxy", String::new()),
        ("KUBECONFIG", "/dev/null".into()),
        ("HELM_CACHE_HOME", at(".helm/cache")),
        ("HELM_CONFIG_HOME", at(".helm/config")),
        ("HELM_DATA_HOME", at(".helm/data")),
    ]
}

/// Why a tool run did not give output.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The program could not be started.
    #[error("start {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// It ran longer than its limit and was killed.
    #[error("took longer than {0:?}")]
    TimedOut(Duration),
    /// Its output passed the limit and it was killed.
    #[error("output larger than {0} bytes")]
    TooLarge(usize),
    /// It exited unsuccessfully; `message` is its error output, shortened.
    #[error("{message}")]
    Failed {
        /// Its error output (or exit status when it wrote none).
        message: String,
    },
}

/// Run `program args` in `cwd` with exactly the environment `env`, stdin
/// closed; its standard output, or why there is none.
pub async fn run(
    program: &Path,
    args: &[&str],
    cwd: &Path,
    env: &[(&str, String)],
    limits: Limits,
) -> Result<Vec<u8>, RunError> {
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| RunError::Spawn {
            program: program.display().to_string(),
            source,
        })?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(RunError::Failed {
            message: "no output pipes".into(),
        });
    };
    let work = async move {
        let (out, err) = tokio::join!(
            read_capped(stdout, limits.max_output),
            read_capped(stderr, MAX_MESSAGE_BYTES)
        );
        let (out, out_over) = out.unwrap_or_default();
        if out_over {
            return Err(RunError::TooLarge(limits.max_output));
        }
        let (err, _) = err.unwrap_or_default();
        let status = child.wait().await.map_err(|source| RunError::Spawn {
            program: program.display().to_string(),
            source,
        })?;
        if status.success() {
            return Ok(out);
        }
        let message = String::from_utf8_lossy(&err).trim().to_string();
        Err(RunError::Failed {
            message: if message.is_empty() {
                format!("exited with {status}")
            } else {
                message
            },
        })
    };
    tokio::time::timeout(limits.timeout, work)
        .await
        .unwrap_or(Err(RunError::TimedOut(limits.timeout)))
}

/// Read `reader` to its end, keeping at most `cap` bytes; `true` when more
/// came. Stops at once when over, so an endless output is not drained.
async fn read_capped(
    reader: impl AsyncRead + Unpin,
    cap: usize,
) -> std::io::Result<(Vec<u8>, bool)> {
    let mut kept = Vec::new();
    reader.take(cap as u64 + 1).read_to_end(&mut kept).await?;
    let over = kept.len() > cap;
    kept.truncate(cap);
    Ok((kept, over))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, limits: Limits) -> Result<Vec<u8>, RunError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(run(
            Path::new("/bin/sh"),
            &["-c", script],
            Path::new("/"),
            &[],
            limits,
        ))
    }

    #[test]
    fn runs_are_bounded_in_time_and_output_and_report_the_tools_message() {
        let limits = Limits {
            timeout: Duration::from_secs(5),
            max_output: 16,
        };
        assert_eq!(sh("printf hello", limits).unwrap(), b"hello");
        let failed = sh("echo 'bad input' >&2; exit 3", limits).unwrap_err();
        assert_eq!(failed.to_string(), "bad input");
        let silent = sh("exit 3", limits).unwrap_err();
        assert!(silent.to_string().contains("exit status: 3"), "{silent}");
        assert!(matches!(
            sh("yes", limits).unwrap_err(),
            RunError::TooLarge(16)
        ));
        let quick = Limits {
            timeout: Duration::from_millis(200),
            max_output: 16,
        };
        assert!(matches!(
            sh("exec sleep 30", quick).unwrap_err(),
            RunError::TimedOut(_)
        ));
    }

    #[test]
    fn the_environment_is_cleared_and_offline() {
        let limits = Limits {
            timeout: Duration::from_secs(5),
            max_output: 4096,
        };
        let dir = tempfile::tempdir().unwrap();
        let env = offline_env(dir.path());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let out = rt
            .block_on(run(
                Path::new("/usr/bin/env"),
                &[],
                dir.path(),
                &env,
                limits,
            ))
            .unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(!out.contains("PATH="), "{out}");
        assert!(
            out.contains(&format!("HTTPS_PROXY={OFFLINE_PROXY}\n")),
            "{out}"
        );
        assert!(out.contains("KUBECONFIG=/dev/null\n"), "{out}");
    }
}
