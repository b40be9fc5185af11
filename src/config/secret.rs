//! The join-token secret: from `[auth]`, its file, or the environment (set
//! through the command line's overrides), loaded once at start.

use ejtimaa_token::JoinSecret;

use super::{AuthConfig, ConfigError};

impl AuthConfig {
    /// The secret tokens are checked against, `None` when signaling is open.
    /// A file is read here, so that a missing or short one stops the start.
    pub fn join_secret(&self) -> Result<Option<JoinSecret>, ConfigError> {
        let (bytes, origin) = match (&self.secret, &self.secret_file) {
            (None, None) => return Ok(None),
            (Some(_), Some(_)) => {
                return Err(ConfigError::Invalid(
                    "auth.secret and auth.secret_file are both set; keep one".into(),
                ));
            }
            (Some(secret), None) => (secret.clone().into_bytes(), "auth.secret".to_owned()),
            (None, Some(path)) => {
                let mut bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                })?;
                // `echo secret > file` leaves a newline that is not part of it.
                if bytes.ends_with(b"\n") {
                    bytes.pop();
                    if bytes.ends_with(b"\r") {
                        bytes.pop();
                    }
                }
                (bytes, format!("auth.secret_file {}", path.display()))
            }
        };
        JoinSecret::new(bytes)
            .map(Some)
            .map_err(|e| ConfigError::Invalid(format!("{origin}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn grant() -> ejtimaa_token::JoinGrant {
        ejtimaa_token::JoinGrant {
            room: "r".into(),
            peer: "p".into(),
        }
    }

    #[test]
    fn no_secret_means_open() {
        assert!(AuthConfig::default().join_secret().unwrap().is_none());
    }

    #[test]
    fn a_file_secret_signs_like_the_same_inline_one_without_its_newline() {
        let mut file = tempfile();
        writeln!(file.1, "{SECRET}").unwrap();
        let from_file = AuthConfig {
            secret_file: Some(file.0.clone()),
            ..AuthConfig::default()
        };
        let inline = AuthConfig {
            secret: Some(SECRET.into()),
            ..AuthConfig::default()
        };
        let token = inline.join_secret().unwrap().unwrap().mint(
            &grant(),
            100,
            std::time::Duration::from_secs(60),
        );
        let checked = from_file
            .join_secret()
            .unwrap()
            .unwrap()
            .verify(&token, 100);
        assert_eq!(checked, Ok(grant()));
        std::fs::remove_file(&file.0).unwrap();
    }

    #[test]
    fn short_missing_or_doubled_secrets_are_errors() {
        let short = AuthConfig {
            secret: Some("short".into()),
            ..AuthConfig::default()
        };
        let err = short.join_secret().unwrap_err().to_string();
        assert!(err.contains("auth.secret") && err.contains("32"), "{err}");
        let missing = AuthConfig {
            secret_file: Some("/nonexistent/ejtimaa-secret".into()),
            ..AuthConfig::default()
        };
        let err = missing.join_secret().unwrap_err().to_string();
        assert!(err.contains("/nonexistent/ejtimaa-secret"), "{err}");
        let both = AuthConfig {
            secret: Some(SECRET.into()),
            secret_file: Some("/etc/hostname".into()),
            ..AuthConfig::default()
        };
        assert!(both.join_secret().unwrap_err().to_string().contains("both"));
    }

    fn tempfile() -> (std::path::PathBuf, std::fs::File) {
        let path = std::env::temp_dir().join(format!(
            "ejtimaa-secret-test-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let file = std::fs::File::create(&path).unwrap();
        (path, file)
    }
}
