//! Runs the real `slipway` binary as a child process and finds the address it
//! bound from its log.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long a child may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `slipway` process; killed when dropped.
pub struct SlipwayProcess {
    pub child: Child,
    pub address: String,
}

impl SlipwayProcess {
    /// Start `slipway <args>` and wait for the log line naming the address.
    pub fn start(args: &[&str], envs: &[(&str, &str)], cwd: &Path) -> SlipwayProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_slipway"))
            .args(args)
            .envs(envs.iter().copied())
            .env("SLIPWAY_LOG", "info")
            .env("NO_COLOR", "1")
            .current_dir(cwd)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn slipway");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("address=").nth(1) {
                    let address = rest
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    let _ = tx.send(address);
                }
                if std::env::var_os("SLIPWAY_TEST_ECHO").is_some() {
                    eprintln!("[slipway] {line}");
                }
            }
        });
        let address = rx
            .recv_timeout(START_TIMEOUT)
            .unwrap_or_else(|_| panic!("slipway {args:?} did not start listening"));
        SlipwayProcess { child, address }
    }

    /// `http://address`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// SIGKILL: no shutdown handler runs.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for SlipwayProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
