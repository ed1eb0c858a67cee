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

#[cfg(test)]
mod tests {
    use super::*;

    fn basic() -> LoadedCredentials {
        LoadedCredentials::UserPass {
            username: "u".into(),
            password: Secret::new("p"),
        }
    }

    #[test]
    fn offers_stop_after_the_limit() {
        let credentials = basic();
        let offer = CredentialOffer::new(Some(&credentials));
        for attempt in 1..=MAX_CREDENTIAL_ATTEMPTS {
            assert!(
                offer
                    .offer(None, CredentialType::USER_PASS_PLAINTEXT)
                    .is_ok(),
                "attempt {attempt}"
            );
            assert!(!offer.refused());
        }
        assert!(
            offer
                .offer(None, CredentialType::USER_PASS_PLAINTEXT)
                .is_err()
        );
        assert!(offer.refused());
    }

    #[test]
    fn offers_follow_what_the_server_allows() {
        let key = LoadedCredentials::SshKey {
            username: "git".into(),
            path: "/nonexistent/key".into(),
        };
        let basic = basic();
        let cases: [(&str, Option<&LoadedCredentials>, CredentialType, bool); 5] = [
            (
                "basic over https",
                Some(&basic),
                CredentialType::USER_PASS_PLAINTEXT,
                true,
            ),
            (
                "basic asked for a key",
                Some(&basic),
                CredentialType::SSH_KEY,
                false,
            ),
            (
                "key asked for a user name",
                Some(&key),
                CredentialType::USERNAME,
                true,
            ),
            ("key over ssh", Some(&key), CredentialType::SSH_KEY, true),
            (
                "nothing configured",
                None,
                CredentialType::USER_PASS_PLAINTEXT,
                false,
            ),
        ];
        for (name, credentials, allowed, ok) in cases {
            let offer = CredentialOffer::new(credentials);
            assert_eq!(offer.offer(Some("git"), allowed).is_ok(), ok, "{name}");
        }
    }

    #[test]
    fn tokens_are_sent_as_the_access_token_user() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "t0ken\n").unwrap();
        let loaded = LoadedCredentials::load(&GitCredentials::Token(
            crate::secret::SecretSource::File(path),
        ))
        .unwrap();
        let LoadedCredentials::UserPass { username, password } = loaded else {
            panic!("not user/pass")
        };
        assert_eq!(
            (username.as_str(), password.expose()),
            (TOKEN_USER, "t0ken")
        );
    }
}
