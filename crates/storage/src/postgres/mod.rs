//! PostgreSQL: connecting to a central's database, checking it, and applying its schema.
//!
//! This is the groundwork of the PostgreSQL backend: everything that does not depend on the
//! storage contract the writer and the readers go through. It connects (with a bounded wait and
//! every failure turned into one line naming the problem: a bad URL, an unreachable server, a
//! refused login, a missing database, missing rights), reports what it found for `check-config`
//! ([`postgres_check`]) and applies the schema of `migrations/postgres/` ([`postgres_migrate`],
//! in `migrate`). The backend proper (the writer's transaction and the readers' queries) plugs in
//! beside this module once the contract exists; see ARCHITECTURE.md. `connect` is the connection
//! both the check here and `migrate` use.

mod connect;
mod migrate;

use std::str::FromStr;

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};

use self::connect::{connect, describe, explain, problem, without_password};
use crate::error::StorageError;

pub use self::migrate::postgres_migrate;

/// What `check-config` reports about a PostgreSQL database it could connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgSummary {
    /// Where: `user@host:port/database` (never the password).
    pub target: String,
    /// The server's version, e.g. `15.18`.
    pub server_version: String,
    /// Migrations of `migrations/postgres/` already applied.
    pub applied: usize,
    /// Migrations still to apply (the next start applies them).
    pub pending: usize,
    /// The central the database belongs to (`None` before the first start).
    pub origin: Option<String>,
    /// The server's estimate of the number of events (`None` before the table is analysed).
    pub events_estimate: Option<i64>,
}

/// `user@host:port/database` of a URL, without its password, for messages; the URL as far as it
/// can be read when it does not parse.
pub fn postgres_target(url: &str) -> String {
    match PgConnectOptions::from_str(url) {
        Ok(opts) => describe(&opts),
        Err(_) => without_password(url),
    }
}

/// The URL with its password (if any) removed: what a message or a printed command may show.
pub fn postgres_url_without_password(url: &str) -> String {
    without_password(url)
}

/// Connects to `url` and checks what a central needs there: the server answers, the login and
/// the database exist, the role may create the schema (before the first start) or read and write
/// every table (after it), and the schema is not newer than this binary. Changes nothing.
pub async fn postgres_check(url: &str) -> Result<PgSummary, StorageError> {
    let (mut conn, target, user) = connect(url).await?;
    let result = check_on(&mut conn, &target, &user).await;
    // Closing politely is a courtesy; the check's answer is already known.
    let _ = conn.close().await;
    result
}

async fn check_on(
    conn: &mut PgConnection,
    target: &str,
    user: &str,
) -> Result<PgSummary, StorageError> {
    let err = |e| explain(target, user, e);
    let server_version: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(&mut *conn)
        .await
        .map_err(err)?;
    // Rights first: a role that may not read the tables cannot even say how far the schema is.
    let denied: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c
          WHERE c.relkind = 'r' AND c.relnamespace = current_schema()::regnamespace
            AND NOT has_table_privilege(c.oid, 'SELECT, INSERT, UPDATE, DELETE')
          ORDER BY 1",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(err)?;
    if !denied.is_empty() {
        return Err(problem(
            target,
            format!(
                "missing rights: role {user:?} may not read and write the tables {} — GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO \"{user}\" (or connect as the role that owns them)",
                denied.join(", ")
            ),
        ));
    }
    let status = migrate::status(conn).await.map_err(err)?;
    if let Some((found, name)) = status.too_new {
        return Err(migrate::too_new(found, name));
    }
    if status.pending > 0 {
        let may_create: Option<bool> =
            sqlx::query_scalar("SELECT has_schema_privilege(current_schema(), 'CREATE')")
                .fetch_one(&mut *conn)
                .await
                .map_err(err)?;
        if may_create != Some(true) {
            return Err(problem(
                target,
                format!(
                    "missing rights: role {user:?} may not create tables in the database's schema, so the schema cannot be applied — GRANT CREATE ON SCHEMA public TO \"{user}\", or let the database owner run `cargo xtask migrate --database-url URL` first"
                ),
            ));
        }
    }
    let mut origin = None;
    let mut events_estimate = None;
    if status.applied > 0 {
        origin = sqlx::query_scalar("SELECT value FROM meta WHERE key = 'origin'")
            .fetch_optional(&mut *conn)
            .await
            .map_err(err)?;
        let estimate: Option<f32> =
            sqlx::query_scalar("SELECT reltuples FROM pg_class WHERE oid = 'events'::regclass")
                .fetch_optional(&mut *conn)
                .await
                .map_err(err)?;
        events_estimate = estimate.filter(|n| *n >= 0.0).map(|n| n as i64);
    }
    Ok(PgSummary {
        target: target.to_owned(),
        server_version,
        applied: status.applied,
        pending: status.pending,
        origin,
        events_estimate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        assert_eq!(
            without_password("postgres://app:s3cret@db.lan:5433/parkmesh?sslmode=require"),
            "postgres://app@db.lan:5433/parkmesh?sslmode=require"
        );
        assert_eq!(
            without_password("postgresql://app@db.lan/parkmesh"),
            "postgresql://app@db.lan/parkmesh"
        );
        assert_eq!(
            without_password("postgres://db.lan/parkmesh"),
            "postgres://db.lan/parkmesh"
        );
        assert_eq!(without_password("no url here"), "(not a URL)");
        let target = postgres_target("postgres://app:s3cret@db.lan:5433/parkmesh");
        assert_eq!(target, "app@db.lan:5433/parkmesh");
        let socket = postgres_target("postgres://app:pw@localhost/central?host=/run/pg");
        assert_eq!(socket, "app@/run/pg/.s.PGSQL.5432/central");
    }

    #[tokio::test]
    async fn a_bad_url_is_named() {
        let e = postgres_check("postgres://app:pw@db.lan:notaport/x")
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad URL"), "{e}");
        assert!(!e.contains("pw"), "{e}");
    }
}
