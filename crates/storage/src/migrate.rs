//! Embedded, ordered, version-recording schema migrations (one transaction each).
//!
//! The SQL lives in the workspace's `migrations/` folder and is compiled into the binary, so the
//! server, `cargo xtask migrate` and the tests all apply exactly the same schema.

use sqlx::{Connection, SqliteConnection};

use crate::StorageError;

/// Every migration, in order: (version, name, SQL).
const MIGRATIONS: &[(i64, &str, &str)] = &[(
    1,
    "0001_init",
    include_str!("../../../migrations/0001_init.sql"),
)];

/// Applies the migrations that `conn`'s database lacks; returns the names applied (empty when the
/// schema was already current).
pub(crate) async fn run(conn: &mut SqliteConnection) -> Result<Vec<String>, StorageError> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS _migrations (
            version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at_ms INTEGER NOT NULL)",
    )
    .execute(&mut *conn)
    .await?;
    let mut applied = Vec::new();
    for (version, name, sql) in MIGRATIONS {
        let mut tx = conn.begin().await?;
        let done: Option<i64> =
            sqlx::query_scalar("SELECT version FROM _migrations WHERE version = ?")
                .bind(version)
                .fetch_optional(&mut *tx)
                .await?;
        if done.is_some() {
            continue;
        }
        sqlx::raw_sql(sqlx::AssertSqlSafe(*sql))
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO _migrations (version, name, applied_at_ms) VALUES (?, ?, ?)")
            .bind(version)
            .bind(name)
            .bind(crate::now_ms())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(migration = name, "applied migration");
        applied.push((*name).to_owned());
    }
    Ok(applied)
}
