//! In-place upgrade of the SQLite file: a database in the layout before migration 0010 (table
//! `fold_marks`, table `peer_cursors`) opens, migrates once and answers exactly as before; a
//! migration that fails leaves the old database as it was, usable by the next start.
//!
//! The old layout is written by the test itself: a database filled through the storage, then
//! put back into the shape the earlier binary left (0010's changes undone, its `_migrations` row
//! removed), so the old file holds the same log, projections and settled points.

use parkmesh_storage::{HistoryQuery, Storage};

mod common;

use common::entry;
use common::scenario::*;

async fn open(dir: &std::path::Path) -> Result<Storage, parkmesh_storage::StorageError> {
    Storage::open(parkmesh_storage::StorageOptions {
        db_path: dir.join("central.db"),
        origin: parkmesh_protocol::CentralId::new("central-c").unwrap(),
        tz: common::tz(),
    })
    .await
}

/// Everything the API answers from storage for this site: history (all of it, and the cars
/// inside), conflicts, the version vector, the dashboard counters and the daily report.
async fn answers(s: &Storage) -> String {
    let history = s
        .history(&HistoryQuery {
            limit: 100_000,
            ..Default::default()
        })
        .await
        .unwrap();
    let inside = s.in_parking().await.unwrap();
    let conflicts = s.conflicts().await.unwrap();
    let vector = s.vector().await.unwrap();
    let stats = s.stats((T0 - 24 * HOUR, T0 + 48 * HOUR)).await.unwrap();
    let day = jiff::Timestamp::from_millisecond(T0)
        .unwrap()
        .to_zoned(common::tz())
        .date();
    let report = s
        .daily_report(day.yesterday().unwrap(), day.tomorrow().unwrap())
        .await
        .unwrap();
    format!("{history:?}\n{inside:?}\n{conflicts:?}\n{vector:?}\n{stats:?}\n{report:?}")
}

/// A database of central-c with corrected and deleted sessions, a conflict, settled visits and a
/// car still inside; returns its answers.
async fn filled(dir: &std::path::Path) -> String {
    let s = open(dir).await.unwrap();
    s.apply_remote(misread_events()).await.unwrap();
    for (i, plate) in ["30A10001", "30A10002", "30A10003"].iter().enumerate() {
        visit(&s, plate, T0 + i as i64 * HOUR).await;
    }
    s.ingest(parkmesh_storage::Intent::Entry {
        payload: entry("30A20000", T0 + 5 * HOUR),
        request_key: None,
    })
    .await
    .unwrap();
    let out = answers(&s).await;
    drop(s);
    out
}

/// Puts the database in `dir` back into the layout before migration 0010 (what later migrations
/// added stays, recorded as applied).
fn downgrade(dir: &std::path::Path) {
    let conn = rusqlite::Connection::open(dir.join("central.db")).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .unwrap();
    conn.execute_batch(
        "BEGIN;
         ALTER TABLE settled_points RENAME TO fold_marks;
         CREATE TABLE peer_cursors (
             peer_id TEXT NOT NULL, origin TEXT NOT NULL, incarnation INTEGER NOT NULL,
             acked_seq INTEGER NOT NULL, updated_at_ms INTEGER NOT NULL,
             PRIMARY KEY (peer_id, origin, incarnation));
         DELETE FROM _migrations WHERE version = 10;
         COMMIT;",
    )
    .unwrap();
}

fn count(dir: &std::path::Path, sql: &str) -> i64 {
    let conn = rusqlite::Connection::open(dir.join("central.db")).unwrap();
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[tokio::test]
async fn an_old_layout_database_upgrades_in_place_and_answers_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let before = filled(dir.path()).await;
    let marks = count(dir.path(), "SELECT COUNT(*) FROM settled_points");
    assert!(marks > 0, "the history leaves settled points");
    downgrade(dir.path());

    let applied = parkmesh_storage::migrate(&dir.path().join("central.db"))
        .await
        .unwrap();
    assert_eq!(applied, vec!["0010_settled_points".to_owned()]);
    assert_eq!(
        count(dir.path(), "SELECT COUNT(*) FROM settled_points"),
        marks
    );
    assert_eq!(
        count(
            dir.path(),
            "SELECT COUNT(*) FROM sqlite_schema WHERE name IN ('fold_marks', 'peer_cursors')"
        ),
        0
    );
    let s = open(dir.path()).await.unwrap();
    assert_eq!(answers(&s).await, before);
    // The upgraded database keeps working: a new visit is stored and closed.
    let row = visit(&s, "30A30000", T0 + 6 * HOUR).await;
    assert_eq!(
        (row.plate_id.as_str(), row.status.as_str()),
        ("30A30000", "OUT")
    );
}

#[tokio::test]
async fn a_failed_migration_leaves_the_old_database_usable() {
    let dir = tempfile::tempdir().unwrap();
    let before = filled(dir.path()).await;
    downgrade(dir.path());
    // Something in the way of the rename: migration 0010 fails half-way (after it dropped
    // `peer_cursors`) and must leave nothing of itself behind.
    {
        let conn = rusqlite::Connection::open(dir.path().join("central.db")).unwrap();
        conn.execute_batch("CREATE TABLE settled_points (x INTEGER)")
            .unwrap();
    }
    let err = open(dir.path()).await.unwrap_err();
    assert!(err.to_string().contains("settled_points"), "{err}");
    assert_eq!(
        count(
            dir.path(),
            "SELECT COUNT(*) FROM sqlite_schema WHERE name IN ('fold_marks', 'peer_cursors')"
        ),
        2,
        "the old tables are still there"
    );
    assert_eq!(
        count(
            dir.path(),
            "SELECT COUNT(*) FROM _migrations WHERE version = 10"
        ),
        0
    );
    // Once the obstacle is gone the next start migrates and answers as before.
    {
        let conn = rusqlite::Connection::open(dir.path().join("central.db")).unwrap();
        conn.execute_batch("DROP TABLE settled_points").unwrap();
    }
    let s = open(dir.path()).await.unwrap();
    assert_eq!(answers(&s).await, before);
}
