//! Git credentials for libgit2's callback: loaded once, offered a bounded
//! number of times (libgit2 asks again and again while a server refuses them).

use std::cell::Cell;
use std::path::PathBuf;

use git2::{Cred, CredentialType};

use crate::secret::{Secret, SecretError};

use super::settings::GitCredentials;

/// How many times one operation offers credentials before giving up.
pub const MAX_CREDENTIAL_ATTEMPTS: u32 = 3;

/// User name GitHub and GitLab accept with a token as the password.
pub const TOKEN_USER: &str = "x-access-token";

/// Credentials with their secrets loaded.
#[derive(Debug, Clone)]
pub enum LoadedCredentials {
    /// User name and password or token.
    UserPass {
        /// User name.
        username: String,
        /// Password or token.
        password: Secret,
    },
    /// An SSH private key file.
    SshKey {
        /// User name.
        username: String,
        /// Key file.
        path: PathBuf,
    },
}

impl LoadedCredentials {
    /// Load the secrets a configuration names.
    pub fn load(config: &GitCredentials) -> Result<Self, SecretError> {
        Ok(match config {
            GitCredentials::Basic { username, password } => LoadedCredentials::UserPass {
                username: username.clone(),
                password: password.load()?,
            },
            GitCredentials::Token(source) => LoadedCredentials::UserPass {
                username: TOKEN_USER.to_string(),
                password: source.load()?,
            },
            GitCredentials::SshKey { path, username } => LoadedCredentials::SshKey {
                username: username.clone(),
                path: path.clone(),
            },
        })
    }
}

/// One operation's credential callback state: counts the offers so a refusing
/// server ends the operation instead of looping.
pub struct CredentialOffer<'a> {
    credentials: Option<&'a LoadedCredentials>,
    attempts: Cell<u32>,
}

impl<'a> CredentialOffer<'a> {
    /// Offer `credentials` (none: fail at once if the server asks).
    pub fn new(credentials: Option<&'a LoadedCredentials>) -> Self {
        CredentialOffer {
            credentials,
            attempts: Cell::new(0),
        }
    }

    /// Whether the server asked more times than allowed, i.e. refused what was offered.
    pub fn refused(&self) -> bool {
        self.attempts.get() > MAX_CREDENTIAL_ATTEMPTS
            || (self.credentials.is_none() && self.attempts.get() > 0)
    }

    /// The libgit2 callback body.
    pub fn offer(
        &self,
        username_from_url: Option<&str>,
        allowed: CredentialType,
    ) -> Result<Cred, git2::Error> {
        self.attempts.set(self.attempts.get() + 1);
        if self.attempts.get() > MAX_CREDENTIAL_ATTEMPTS {
            return Err(git2::Error::from_str("credentials refused by the remote"));
        }
        match self.credentials {
            None => Err(git2::Error::from_str(
                "the remote asks for credentials and none are configured",
            )),
            Some(LoadedCredentials::UserPass { username, password })
                if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) =>
            {
                Cred::userpass_plaintext(username, password.expose())
            }
            Some(LoadedCredentials::SshKey { username, .. })
                if allowed.contains(CredentialType::USERNAME) =>
            {
                Cred::username(username_from_url.unwrap_or(username))
            }
            Some(LoadedCredentials::SshKey { username, path })
                if allowed.contains(CredentialType::SSH_KEY) =>
            {
                Cred::ssh_key(username_from_url.unwrap_or(username), None, path, None)
            }
            Some(_) => Err(git2::Error::from_str(
                "the remote asks for a kind of credential that is not configured",
            )),
        }
    }
}
