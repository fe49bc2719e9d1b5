//! Errors and diagnostics of the config crate.
//!
//! A [`Diagnostic`] is one finding about one field (`peer_centrals[1].id: ...`); problems become a
//! [`ConfigError::Invalid`], warnings travel beside the loaded config. [`AdminDenied`] is the answer
//! of the admin-access rule and is kept apart because the API maps it to 401/403, not to a bad config.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// One finding about one field: where (`path`, e.g. `peer_centrals[1].id`) and what to do
/// (`message`, which names the problem and the fix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Field path in the document, `this_central.api_port` or `peer_centrals[0].ip`; empty for the
    /// document as a whole.
    pub path: String,
    /// What is wrong and how to fix it, lower case, no trailing dot.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Why a config could not be loaded, validated or saved.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file does not exist.
    #[error(
        "{}: config file not found — create it (config/p2p_config.json is a sample) or pass --config <path>",
        path.display()
    )]
    NotFound {
        /// The path that was tried.
        path: PathBuf,
    },
    /// The config file exists but could not be read.
    #[error("{}: cannot read config file: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The document is not valid JSON.
    #[error("{origin}: invalid JSON at line {line} column {column}: {message} — fix the syntax")]
    Syntax {
        /// The file or `config` for documents that did not come from a file.
        origin: String,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// The parser's description.
        message: String,
    },
    /// The document is JSON but has wrong, missing or inconsistent fields; every one is listed.
    #[error("{origin}: {}", describe(problems))]
    Invalid {
        /// The file or `config` for documents that did not come from a file.
        origin: String,
        /// Every problem found, in document order; never empty.
        problems: Vec<Diagnostic>,
    },
    /// Saving failed; the previous file, if any, is untouched.
    #[error("{}: cannot save config: {source}", path.display())]
    Write {
        /// The target file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

impl ConfigError {
    /// The field problems of an [`ConfigError::Invalid`] error; empty for the other kinds.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            ConfigError::Invalid { problems, .. } => problems,
            _ => &[],
        }
    }
}

fn describe(problems: &[Diagnostic]) -> String {
    match problems {
        [one] => one.to_string(),
        many => {
            let list: Vec<String> = many.iter().map(Diagnostic::to_string).collect();
            format!("{} problems: {}", many.len(), list.join("; "))
        }
    }
}

/// Why a request to a mutating admin endpoint was refused (see [`crate::Config::authorize_admin`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminDenied {
    /// No admin token is configured and the client is not in `admin_networks`.
    #[error(
        "admin changes are accepted only from admin_networks while no admin_token is configured, and {} is not in them — add its network to admin_networks or set admin_token",
        remote.map_or_else(|| "this client".to_owned(), |ip| ip.to_string())
    )]
    NotAdminNetwork {
        /// The client's address, when known.
        remote: Option<std::net::IpAddr>,
    },
    /// A token is configured, the request carried no `Authorization: Bearer` header and the
    /// client is not in `admin_networks`.
    #[error(
        "missing admin token — send Authorization: Bearer <admin_token>, or make the change from a network listed in admin_networks"
    )]
    MissingToken,
    /// A token is configured and the request carried a different one.
    #[error("wrong admin token")]
    WrongToken,
}
