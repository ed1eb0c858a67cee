//! One bounded, offline run of a render tool: a cleared environment,
//! a time limit, a cap on its output, and its own error message kept.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

use super::tools::Limits;

/// Most of a tool's error output kept for the status, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024;

/// Where a tool's HTTP(S) requests go: a closed port on the loopback, so
/// a remote resource or chart fails at once and nothing is fetched.
const OFFLINE_PROXY: &str = "http://127.0.0.1:9";

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
