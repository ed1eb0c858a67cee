//! Secrets named in configuration: read from the environment or a file, kept
//! in a wrapper that never prints its value.

use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Where a secret comes from, as written in the config file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum SecretSource {
    /// An environment variable holding the secret.
    Env(String),
    /// A file holding the secret; one trailing newline is ignored.
    File(PathBuf),
}

impl std::fmt::Display for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretSource::Env(name) => write!(f, "env {name}"),
            SecretSource::File(path) => write!(f, "file {}", path.display()),
        }
    }
}

/// A secret value. `Debug` prints a placeholder; the value is reachable only
/// through [`Secret::expose`].
#[derive(Clone)]
pub struct Secret(SecretString);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl Secret {
    /// Wrap a value already in memory (generated secrets, tests).
    pub fn new(value: impl Into<String>) -> Self {
        Secret(SecretString::from(value.into()))
    }

    /// The secret's text. Call it only where the value is used.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

/// Why a secret could not be loaded. Never holds the value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The environment variable is unset or not UTF-8.
    #[error("environment variable {0} is not set")]
    MissingEnv(String),
    /// The file could not be read.
    #[error("read secret file {path}")]
    ReadFile {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The secret is empty.
    #[error("secret from {0} is empty")]
    Empty(String),
}

impl SecretSource {
    /// Read the secret now.
    pub fn load(&self) -> Result<Secret, SecretError> {
        let value = match self {
            SecretSource::Env(name) => {
                std::env::var(name).map_err(|_| SecretError::MissingEnv(name.clone()))?
            }
            SecretSource::File(path) => {
                let mut text =
                    std::fs::read_to_string(path).map_err(|source| SecretError::ReadFile {
                        path: path.display().to_string(),
                        source,
                    })?;
                if text.ends_with('\n') {
                    text.pop();
                    if text.ends_with('\r') {
                        text.pop();
                    }
                }
                text
            }
        };
        if value.is_empty() {
            return Err(SecretError::Empty(self.to_string()));
        }
        Ok(Secret::new(value))
    }
}

/// Load every source in a list (several secrets at once allow rotation).
pub fn load_all(sources: &[SecretSource]) -> Result<Vec<Secret>, SecretError> {
    sources.iter().map(SecretSource::load).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?}"), "Secret([redacted])");
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn file_secrets_drop_one_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("plain", "abc", "abc"),
            ("lf", "abc\n", "abc"),
            ("crlf", "abc\r\n", "abc"),
            ("inner", "a\nb\n", "a\nb"),
        ];
        for (name, content, want) in cases {
            let path = dir.path().join(name);
            std::fs::write(&path, content).unwrap();
            assert_eq!(
                SecretSource::File(path).load().unwrap().expose(),
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn missing_and_empty_secrets_are_errors_that_name_the_source() {
        let err = SecretSource::Env("SLIPWAY_TEST_SURELY_UNSET".into())
            .load()
            .unwrap_err();
        assert!(err.to_string().contains("SLIPWAY_TEST_SURELY_UNSET"));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty");
        std::fs::write(&path, "\n").unwrap();
        assert!(matches!(
            SecretSource::File(path).load(),
            Err(SecretError::Empty(_))
        ));
    }

    #[test]
    fn sources_parse_from_yaml() {
        let sources: Vec<SecretSource> =
            serde_saphyr::from_str("- { env: A }\n- { file: /run/secrets/b }\n").unwrap();
        assert_eq!(sources[0], SecretSource::Env("A".into()));
        assert_eq!(sources[1], SecretSource::File("/run/secrets/b".into()));
    }
}
