//! The PostgreSQL schema's migrations (`migrations/postgres/` at the workspace root, compiled
//! in), applied in order, one transaction each, recorded in `_migrations` like SQLite's.
//!
//! PostgreSQL runs DDL inside transactions, so a failed migration leaves nothing behind. Two
//! processes starting at once (two replicas of a service, or a start beside `cargo xtask
//! migrate`) take turns on a session advisory lock; the second finds the work done.

use parkmesh_clock::now_ms;
use sqlx::postgres::PgConnection;
use sqlx::{Connection, Executor};

use super::connect::{connect, explain};
use crate::error::StorageError;

/// Every migration of the PostgreSQL schema, in order: (version, name, SQL).
const MIGRATIONS: &[(i64, &str, &str)] = &[(
    1,
    "0001_init",
    include_str!("../../../../migrations/postgres/0001_init.sql"),
)];

/// Key of the advisory lock that serialises migrations (any fixed number; "parkmesh" in ASCII).
const LOCK_KEY: i64 = 0x7061_726b_6d65_7368;

/// How far a database's schema is.
pub(super) struct Status {
    pub(super) applied: usize,
    pub(super) pending: usize,
    /// The newest recorded migration, when this binary does not know it.
    pub(super) too_new: Option<(i64, String)>,
}

/// Reads which migrations `conn`'s database holds; changes nothing.
pub(super) async fn status(conn: &mut PgConnection) -> Result<Status, sqlx::Error> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('_migrations') IS NOT NULL")
        .fetch_one(&mut *conn)
        .await?;
    let versions: Vec<(i64, String)> = if exists {
        sqlx::query_as("SELECT version, name FROM _migrations ORDER BY version")
            .fetch_all(&mut *conn)
            .await?
    } else {
        Vec::new()
    };
    let known = MIGRATIONS.last().map_or(0, |m| m.0);
    let applied = MIGRATIONS
        .iter()
        .filter(|m| versions.iter().any(|(v, _)| *v == m.0))
        .count();
    Ok(Status {
        applied,
        pending: MIGRATIONS.len() - applied,
        too_new: versions.into_iter().rev().find(|(v, _)| *v > known),
    })
}

/// The error for a schema newer than this binary.
pub(super) fn too_new(found: i64, name: String) -> StorageError {
    StorageError::SchemaTooNew {
        found,
        name,
        known: MIGRATIONS.last().map_or(0, |m| m.0),
        binary: parkmesh_protocol::build_info().announced(),
    }
}

/// Applies the migrations of `migrations/postgres/` that the database at `url` lacks; returns
/// the names applied (empty when the schema was already current). Refuses a schema newer than
/// this binary knows.
pub async fn postgres_migrate(url: &str) -> Result<Vec<String>, StorageError> {
    let (mut conn, target, user) = connect(url).await?;
    let result = run(&mut conn).await;
    let _ = conn.close().await;
    match result {
        Ok(applied) => Ok(applied),
        Err(Failure::Db(e)) => Err(explain(&target, &user, e)),
        Err(Failure::TooNew(found, name)) => Err(too_new(found, name)),
    }
}

enum Failure {
    Db(sqlx::Error),
    TooNew(i64, String),
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        Failure::Db(e)
    }
}

async fn run(conn: &mut PgConnection) -> Result<Vec<String>, Failure> {
    // Held until the connection closes (also when this function fails half-way).
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(LOCK_KEY)
        .execute(&mut *conn)
        .await?;
    conn.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (
            version bigint PRIMARY KEY, name text NOT NULL, applied_at_ms bigint NOT NULL)",
    )
    .await?;
    if let Some((found, name)) = status(conn).await?.too_new {
        return Err(Failure::TooNew(found, name));
    }
    let mut applied = Vec::new();
    for (version, name, sql) in MIGRATIONS {
        let mut tx = conn.begin().await?;
        let done: Option<i64> =
            sqlx::query_scalar("SELECT version FROM _migrations WHERE version = $1")
                .bind(version)
                .fetch_optional(&mut *tx)
                .await?;
        if done.is_some() {
            continue;
        }
        let started = std::time::Instant::now();
        tracing::info!(migration = name, "applying PostgreSQL migration");
        sqlx::raw_sql(sqlx::AssertSqlSafe(*sql))
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO _migrations (version, name, applied_at_ms) VALUES ($1, $2, $3)")
            .bind(version)
            .bind(name)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(
            migration = name,
            ms = started.elapsed().as_millis() as u64,
            "applied PostgreSQL migration"
        );
        applied.push((*name).to_owned());
    }
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(LOCK_KEY)
        .execute(&mut *conn)
        .await?;
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;

    /// Every file of `migrations/postgres/` is embedded, in order and numbered by its prefix.
    #[test]
    fn every_migration_file_is_embedded() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations/postgres");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter_map(|n| n.strip_suffix(".sql").map(str::to_owned))
            .collect();
        files.sort();
        let listed: Vec<String> = MIGRATIONS.iter().map(|m| m.1.to_owned()).collect();
        assert_eq!(files, listed);
        for (version, name, _) in MIGRATIONS {
            assert!(name.starts_with(&format!("{version:04}_")), "{name}");
        }
    }
}
