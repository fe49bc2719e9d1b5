//! Embedded, ordered, version-recording schema migrations (one transaction each).
//!
//! The SQL lives in the workspace's `migrations/` folder and is compiled into the binary, so the
//! server, `cargo xtask migrate` and the tests all apply exactly the same schema. The data steps
//! that some of them leave for the writer's start-up are in [`data`].

use sqlx::{Connection, SqliteConnection};

use crate::error::StorageError;

pub(crate) mod data;

/// Every migration, in order: (version, name, SQL).
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "0001_init",
        include_str!("../../../../migrations/0001_init.sql"),
    ),
    (
        2,
        "0002_group_key",
        include_str!("../../../../migrations/0002_group_key.sql"),
    ),
    (
        3,
        "0003_late_and_operator",
        include_str!("../../../../migrations/0003_late_and_operator.sql"),
    ),
    (
        4,
        "0004_edge_requests_retention",
        include_str!("../../../../migrations/0004_edge_requests_retention.sql"),
    ),
    (
        5,
        "0005_reports",
        include_str!("../../../../migrations/0005_reports.sql"),
    ),
    (
        6,
        "0006_fold_marks",
        include_str!("../../../../migrations/0006_fold_marks.sql"),
    ),
    (
        7,
        "0007_report_days",
        include_str!("../../../../migrations/0007_report_days.sql"),
    ),
    (
        8,
        "0008_fewer_index_writes",
        include_str!("../../../../migrations/0008_fewer_index_writes.sql"),
    ),
    (
        9,
        "0009_refold_deleted",
        include_str!("../../../../migrations/0009_refold_deleted.sql"),
    ),
    (
        10,
        "0010_settled_points",
        include_str!("../../../../migrations/0010_settled_points.sql"),
    ),
    (
        11,
        "0011_compact_layout",
        include_str!("../../../../migrations/0011_compact_layout.sql"),
    ),
    (
        12,
        "0012_read_indexes",
        include_str!("../../../../migrations/0012_read_indexes.sql"),
    ),
    (
        13,
        "0013_exit_matching",
        include_str!("../../../../migrations/0013_exit_matching.sql"),
    ),
];

/// Applies the migrations that `conn`'s database lacks; returns the names applied (empty when the
/// schema was already current).
pub(crate) async fn run(conn: &mut SqliteConnection) -> Result<Vec<String>, StorageError> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS _migrations (
            version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at_ms INTEGER NOT NULL)",
    )
    .execute(&mut *conn)
    .await?;
    refuse_newer(conn).await?;
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
        // Index builds on a large database take seconds: say what the start-up is doing.
        let started = std::time::Instant::now();
        tracing::info!(migration = name, "applying migration");
        sqlx::raw_sql(sqlx::AssertSqlSafe(*sql))
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO _migrations (version, name, applied_at_ms) VALUES (?, ?, ?)")
            .bind(version)
            .bind(name)
            .bind(parkmesh_clock::now_ms())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(
            migration = name,
            ms = started.elapsed().as_millis() as u64,
            "applied migration"
        );
        applied.push((*name).to_owned());
    }
    Ok(applied)
}

/// Fails with [`StorageError::SchemaTooNew`] when a newer build has migrated the database past
/// the last migration this binary has.
async fn refuse_newer(conn: &mut SqliteConnection) -> Result<(), StorageError> {
    let known = MIGRATIONS.last().map_or(0, |m| m.0);
    let newest: Option<(i64, String)> =
        sqlx::query_as("SELECT version, name FROM _migrations ORDER BY version DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await?;
    match newest {
        Some((found, name)) if found > known => Err(StorageError::SchemaTooNew {
            found,
            name,
            known,
            binary: parkmesh_protocol::build_info().announced(),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;

    /// Every file of `migrations/` is embedded, in order and numbered by its prefix: a new file
    /// that is not listed in [`MIGRATIONS`] would silently never run.
    #[test]
    fn every_migration_file_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter_map(|n| n.strip_suffix(".sql").map(str::to_owned))
            .collect();
        files.sort();
        let listed: Vec<String> = MIGRATIONS.iter().map(|m| m.1.to_owned()).collect();
        assert_eq!(files, listed);
        // Versions rise (a number reserved by a branch not merged yet may be missing).
        for pair in MIGRATIONS.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{} before {}", pair[0].1, pair[1].1);
        }
        for (version, name, _) in MIGRATIONS {
            assert!(name.starts_with(&format!("{version:04}_")), "{name}");
        }
    }
}
