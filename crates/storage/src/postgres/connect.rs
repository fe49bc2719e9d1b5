//! Connecting to a PostgreSQL database: the URL read, a bounded wait, and every failure turned
//! into one line naming the problem (a bad URL, an unreachable server, a refused login, a missing
//! database, missing rights) with where, never the password.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};

use crate::error::StorageError;

/// Longest wait for a connection: an unreachable host must not hang a start or a check.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The URL with its password (if any) removed.
pub(super) fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "(not a URL)".to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!("{scheme}://{user}@{host}{tail}")
        }
        None => format!("{scheme}://{authority}{tail}"),
    }
}

/// `user@host:port/database` (or the socket) of parsed options.
pub(super) fn describe(opts: &PgConnectOptions) -> String {
    let user = opts.get_username();
    let db = opts.get_database().unwrap_or(user);
    match opts.get_socket() {
        Some(dir) => format!("{user}@{}/.s.PGSQL.{}/{db}", dir.display(), opts.get_port()),
        None => format!("{user}@{}:{}/{db}", opts.get_host(), opts.get_port()),
    }
}

/// The error for `target` with a problem in words.
pub(super) fn problem(target: &str, problem: impl Into<String>) -> StorageError {
    StorageError::Postgres {
        target: target.to_owned(),
        problem: problem.into(),
    }
}

/// Turns a driver error into one line naming the problem and, where there is one, the fix.
pub(crate) fn explain(target: &str, user: &str, e: sqlx::Error) -> StorageError {
    let text = match &e {
        sqlx::Error::Configuration(c) => format!("bad URL: {c}"),
        sqlx::Error::Io(io) => format!("cannot reach the server: {io}"),
        sqlx::Error::Tls(t) => format!("TLS failed: {t}"),
        sqlx::Error::Database(db) => {
            let message = db.message();
            match db.code().as_deref() {
                Some("28P01" | "28000") => {
                    format!("login refused for role {user:?}: {message}")
                }
                Some("3D000") => {
                    format!("{message} — create it (createdb) or fix the database name in the URL")
                }
                Some("42501") => format!(
                    "missing rights: {message} — the role {user:?} needs the rights named in the README (\"A central on PostgreSQL\")"
                ),
                Some(code) => format!("{message} (SQLSTATE {code})"),
                None => message.to_owned(),
            }
        }
        other => other.to_string(),
    };
    problem(target, text)
}

/// Connects to `url`, waiting at most [`CONNECT_TIMEOUT`]; returns the connection and its
/// target for messages.
pub(crate) async fn connect(url: &str) -> Result<(PgConnection, String, String), StorageError> {
    let opts = PgConnectOptions::from_str(url)
        .map_err(|e| explain(&without_password(url), "", e))?
        .application_name("parkmesh")
        // The server's NOTICEs (e.g. "already exists, skipping") are not worth a log line.
        .options([("client_min_messages", "warning")])
        .disable_statement_logging();
    let target = describe(&opts);
    let user = opts.get_username().to_owned();
    match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&opts)).await {
        Ok(Ok(conn)) => Ok((conn, target, user)),
        Ok(Err(e)) => Err(explain(&target, &user, e)),
        Err(_) => Err(problem(
            &target,
            format!(
                "cannot reach the server: no answer within {} s",
                CONNECT_TIMEOUT.as_secs()
            ),
        )),
    }
}
