//! Configuration errors: every problem names the dotted key, the bad value and the fix.

use std::fmt;
use std::path::PathBuf;

/// One problem found while loading or validating the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source} (check the path and its permissions)")]
    Io {
        /// File that failed.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The config file is not valid TOML.
    #[error("{path}: invalid TOML: {message}")]
    Toml {
        /// File (or `<string>`) that failed.
        path: String,
        /// Parser message, with line and column.
        message: String,
    },
    /// A key that logmind does not know.
    #[error("unknown key `{key}` in {section}{hint}")]
    UnknownKey {
        /// Full dotted key.
        key: String,
        /// `section [agent]` or `the top level`.
        section: String,
        /// ` (did you mean ...?)` or a list of known keys.
        hint: String,
    },
    /// A value of the wrong TOML type (`expected` says what to write instead).
    #[error("{key} {found}: expected {expected}")]
    Type {
        /// Full dotted key.
        key: String,
        /// The value found, rendered as TOML.
        found: String,
        /// What the key accepts, with an example.
        expected: String,
    },
    /// A value that has the right type but is not acceptable.
    #[error("{key} {value}: {problem}")]
    Invalid {
        /// Full dotted key (with `[i]` for list elements).
        key: String,
        /// The value, rendered as TOML (secrets never appear here).
        value: String,
        /// What is wrong, ending with the fix in parentheses.
        problem: String,
    },
    /// An error caused by an environment variable or a command-line flag rather than the file.
    #[error("{inner} (set by {origin})")]
    FromOverride {
        /// `LOGMIND_INDEXER_LISTEN` or `command-line flag for indexer.listen`.
        origin: String,
        /// The error itself.
        inner: Box<ConfigError>,
    },
    /// The merged tree could not be deserialised (should be caught earlier; reported as is).
    #[error("configuration: {0}")]
    Deserialize(String),
}

impl ConfigError {
    /// The dotted key the error is about, when there is one.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::UnknownKey { key, .. }
            | ConfigError::Type { key, .. }
            | ConfigError::Invalid { key, .. } => Some(key),
            ConfigError::FromOverride { inner, .. } => inner.key(),
            ConfigError::Io { .. } | ConfigError::Toml { .. } | ConfigError::Deserialize(_) => None,
        }
    }

    pub(crate) fn invalid(
        key: impl Into<String>,
        value: impl Into<String>,
        problem: impl Into<String>,
    ) -> Self {
        ConfigError::Invalid {
            key: key.into(),
            value: value.into(),
            problem: problem.into(),
        }
    }
}

/// Every problem found in one load, displayed one per line.
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// The individual errors, in the order found.
    pub fn iter(&self) -> impl Iterator<Item = &ConfigError> {
        self.0.iter()
    }

    /// Number of errors.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there is no error (never the case for a returned `Err`).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        ConfigErrors(vec![e])
    }
}
