//! The SQLite backend's own schema: migrations, the query plans of the hot lookups, and the
//! start-up data migrations of databases written before them (set up by writing the old state
//! into the file directly).

use parkmesh_parking::payload::{EntryPayload, ExitPayload, HistoryDeletePayload, Payload};
use parkmesh_storage::Storage;

mod common;

use common::scenario::*;
use common::{Backend, Snapshot, entry};

/// These tests are about the SQLite file itself, whatever backend the contract tests run on.
async fn open(dir: &std::path::Path, id: &str) -> Storage {
    Backend::Sqlite.open(dir, id).await
}

fn snapshot(db: &std::path::Path) -> Snapshot {
    Backend::Sqlite.snapshot(db)
}

#[tokio::test]
async fn migrations_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x/central.db");
    assert_eq!(
        parkmesh_storage::migrate(&db).await.unwrap(),
        vec![
            "0001_init".to_owned(),
            "0002_group_key".to_owned(),
            "0003_late_and_operator".to_owned(),
            "0004_edge_requests_retention".to_owned(),
            "0005_reports".to_owned(),
            "0006_fold_marks".to_owned(),
            "0007_report_days".to_owned(),
            "0008_fewer_index_writes".to_owned(),
            "0009_refold_deleted".to_owned(),
            "0010_settled_points".to_owned(),
            "0011_compact_layout".to_owned(),
            "0012_read_indexes".to_owned(),
            "0013_exit_matching".to_owned(),
        ]
    );
    assert!(parkmesh_storage::migrate(&db).await.unwrap().is_empty());
}

/// The lookups the writer and the dashboard make per event or per page load find their rows
/// through an index after migration 0008 narrowed and split the indexes (a partial index is
/// used only when the query's terms imply its condition).
#[tokio::test]
async fn hot_lookups_use_the_narrowed_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("central.db");
    parkmesh_storage::migrate(&db).await.unwrap();
    let conn = rusqlite::Connection::open(&db).unwrap();
    let cases = [
        // The entry check: the plate's open sessions.
        (
            "SELECT * FROM history WHERE plate_key = ?1 AND status = 'IN'",
            "history_open",
        ),
        (
            "SELECT session_id FROM history WHERE plate_key = ?1",
            "history_plate_key",
        ),
        // The dashboard's vehicles in the lot.
        (
            "SELECT COUNT(*) FROM history WHERE deleted = 0 AND status = 'IN'",
            "history_open",
        ),
        // Exits of a day (dashboard, reports).
        (
            "SELECT COUNT(*) FROM history WHERE deleted = 0 AND status = 'OUT' AND exit_ms >= ?1 AND exit_ms < ?2",
            "history_exit_ms",
        ),
        (
            "SELECT * FROM history WHERE session_id = ?1 OR exit_event_id = ?1 LIMIT 1",
            "history_exit_event",
        ),
        // A raw plate's events whose group key a correction moved.
        (
            "SELECT seq FROM events t WHERE t.plate_key = ?1",
            "events_plate_moved",
        ),
        // A raw plate's events that stayed under it (migration 0011: raw plate NULL).
        (
            "SELECT seq FROM events t WHERE t.group_key = ?1 AND t.plate_key IS NULL",
            "events_group_key",
        ),
        // One event by its id (0011: no id text column; the stream key).
        (
            "SELECT payload FROM events WHERE origin = ?1 AND incarnation = ?2 AND seq = ?3",
            "sqlite_autoindex_events_1",
        ),
        // A session by its entry's edge event id (0011: NULL when it is the session id).
        (
            "SELECT * FROM history WHERE (event_id = ?1 OR (event_id IS NULL AND session_id = ?1))
               AND deleted = 0 ORDER BY id DESC LIMIT 1",
            "history_event_id",
        ),
        // The fold's check of an exit's `entry_ref` against an edge event id.
        (
            "SELECT session_id, plate_key, is_anomaly, entry_ms FROM history WHERE event_id = ?1",
            "history_event_id",
        ),
    ];
    for (sql, index) in cases {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let nulls = std::iter::repeat_n(rusqlite::types::Null, stmt.parameter_count());
        let plan: Vec<String> = stmt
            .query_map(rusqlite::params_from_iter(nulls), |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            plan.iter()
                .any(|step| step.contains(&format!("INDEX {index}"))),
            "{sql}: expected {index}, got {plan:?}"
        );
        assert!(
            !plan.iter().any(
                |step| step.starts_with("SCAN history") && !step.contains("INDEX history_open")
            ),
            "{sql}: scans history: {plan:?}"
        );
    }
}

/// A database written before migration 0002 held sessions under their raw plate; at start-up
/// the writer recomputes the group keys of corrected plates and re-folds them.
#[tokio::test]
async fn reopening_a_pre_group_key_database_regroups_corrected_plates() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("central.db");
    let events = misread_events();
    let s = open(dir.path(), "central-c").await;
    s.apply_remote(events.clone()).await.unwrap();
    let expected = snapshot(&db);
    drop(s);
    {
        // Put the database back into its v1 shape: every key raw, sessions under raw plates.
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .unwrap();
        conn.execute_batch(
            "UPDATE events SET group_key = COALESCE(plate_key, group_key), plate_key = NULL;
             UPDATE history SET plate_key = (SELECT group_key FROM events WHERE origin || ':' || incarnation || ':' || seq = session_id);
             DELETE FROM conflicts;
             INSERT INTO meta (key, value) VALUES ('regroup_pending', '1');",
        )
        .unwrap();
        assert_ne!(snapshot(&db), expected);
    }
    reopen_finishes_the_refold(dir.path(), &expected, "regroup_pending").await;
}

/// Opens the database in `dir`, whose `meta` holds `marker`: the start-up re-fold must give
/// `expected`, equal to the projection of the log, and delete the marker, so that a second
/// start-up has nothing to do.
async fn reopen_finishes_the_refold(dir: &std::path::Path, expected: &Snapshot, marker: &str) {
    let db = dir.join("central.db");
    let s = open(dir, "central-c").await;
    assert_eq!(&snapshot(&db), expected);
    assert_equals_projection(&s, &db).await;
    drop(s);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let pending: i64 = conn
        .query_row("SELECT COUNT(*) FROM meta WHERE key = ?1", [marker], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(pending, 0);
}

/// The exit of a session deleted after it closed stays in that session. A database written
/// before migration 0009 kept it as an exception of its own; at start-up the writer re-folds
/// the plates with deleted sessions.
#[tokio::test]
async fn reopening_a_pre_0009_database_refolds_plates_with_deleted_sessions() {
    let e = remote(
        "central-a",
        1,
        T0,
        entry("51A12345", T0).to_value(),
        EntryPayload::KIND,
    );
    let x = remote(
        "central-a",
        2,
        T0 + HOUR,
        exit("51A12345", T0 + HOUR).to_value(),
        ExitPayload::KIND,
    );
    let del = remote(
        "central-b",
        1,
        T0 + 2 * HOUR,
        delete(&e),
        HistoryDeletePayload::KIND,
    );
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("central.db");
    let s = open(dir.path(), "central-c").await;
    s.apply_remote(vec![e.clone(), x.clone()]).await.unwrap();
    s.apply_remote(vec![del]).await.unwrap();
    let h = s.history(&all()).await.unwrap();
    assert!(h.is_empty(), "no exception row for the exit: {h:?}");
    let r = s
        .session_by_session_id(&e.id.to_string())
        .await
        .unwrap()
        .unwrap();
    assert!(r.deleted && !r.exception);
    assert_eq!(r.exit_event_id, Some(x.id.to_string()));
    assert_equals_projection(&s, &db).await;
    let expected = snapshot(&db);
    drop(s);
    {
        // Put back what the old rule wrote: the session still inside, its exit an exception.
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .unwrap();
        conn.execute_batch(&format!(
            "UPDATE history SET exit_event_id = NULL, exit_ms = NULL, status = 'IN', fee = 0
              WHERE session_id = '{e}';
             INSERT INTO history (session_id, plate_key, exit_event_id, plate_id, plate_view,
                                  exit_ms, status, exception, created_at, updated_at)
             VALUES ('{x}', '51A12345', '{x}', '51A12345', '51A12345', {at}, 'OUT', 1,
                     'then', 'then');
             DELETE FROM settled_points;
             INSERT INTO meta (key, value) VALUES ('refold_deleted_pending', '1');",
            e = e.id,
            x = x.id,
            at = T0 + HOUR,
        ))
        .unwrap();
        assert_ne!(snapshot(&db), expected);
    }
    reopen_finishes_the_refold(dir.path(), &expected, "refold_deleted_pending").await;
}
