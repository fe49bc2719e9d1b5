//! In-place upgrade of the SQLite file: a database in the layout before migrations 0010 (table
//! `fold_marks`, table `peer_cursors`) and 0011 (event ids as text, JSON payloads, the derived
//! `history` columns stored) opens, migrates once and answers exactly as before; a migration
//! that fails leaves the old database as it was, usable by the next start.
//!
//! The old layout is written by the test itself: a database filled through the storage, then
//! put back into the shape the earlier binary left (0010's and 0011's changes undone, the old
//! columns filled with what the earlier binary wrote, their `_migrations` rows removed), so the
//! old file holds the same log, projections and settled points.

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

/// What the old layout stored that the new one derives: each event's JSON payload and each
/// session's full row.
struct OldColumns {
    events: Vec<parkmesh_protocol::Event>,
    history: Vec<parkmesh_storage::HistoryRow>,
}

/// A database of central-c with corrected and deleted sessions, a conflict, settled visits and a
/// car still inside; returns its answers and what its old layout stored.
async fn filled(dir: &std::path::Path) -> (String, OldColumns) {
    let s = open(dir).await.unwrap();
    s.apply_remote(misread_events()).await.unwrap();
    for (i, plate) in ["30A10001", "30A10002", "30A10003"].iter().enumerate() {
        visit(&s, plate, T0 + i as i64 * HOUR).await;
    }
    // A returning car: its plate has two settled sessions, so a settled point.
    visit(&s, "30A10001", T0 + 3 * HOUR).await;
    s.ingest(parkmesh_storage::Intent::Entry {
        payload: entry("30A20000", T0 + 5 * HOUR),
        request_key: None,
    })
    .await
    .unwrap();
    let out = answers(&s).await;
    // Every row, the deleted ones too (the history list leaves those out).
    let mut history = Vec::new();
    for id in 1..=count(dir, "SELECT MAX(id) FROM history") {
        history.extend(s.session(id).await.unwrap());
    }
    assert_eq!(
        history.len() as i64,
        count(dir, "SELECT COUNT(*) FROM history")
    );
    let old = OldColumns {
        events: s.all_events().await.unwrap(),
        history,
    };
    drop(s);
    (out, old)
}

/// Puts the database in `dir` back into the layout before migration 0010 (undoing 0012's and
/// 0013's additions too), with `old`'s values in the columns 0011 removed.
fn downgrade(dir: &std::path::Path, old: &OldColumns) {
    let mut conn = rusqlite::Connection::open(dir.join("central.db")).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .unwrap();
    let tx = conn.transaction().unwrap();
    tx.execute_batch(
        "CREATE TABLE events_old (
             pk INTEGER PRIMARY KEY, origin TEXT NOT NULL, incarnation INTEGER NOT NULL,
             seq INTEGER NOT NULL, id_text TEXT NOT NULL UNIQUE, hlc_ms INTEGER NOT NULL,
             hlc_counter INTEGER NOT NULL, kind TEXT NOT NULL, schema INTEGER NOT NULL,
             payload TEXT NOT NULL, plate_key TEXT, session_ref TEXT,
             received_at_ms INTEGER NOT NULL, group_key TEXT,
             UNIQUE (origin, incarnation, seq));
         INSERT INTO events_old
             SELECT pk, origin, incarnation, seq, origin || ':' || incarnation || ':' || seq, hlc_ms,
                    hlc_counter,
                    CASE kind WHEN 1 THEN 'vehicle.entry' WHEN 2 THEN 'vehicle.exit'
                        WHEN 3 THEN 'vehicle.location' WHEN 4 THEN 'history.edit'
                        WHEN 5 THEN 'history.delete' WHEN 6 THEN 'fees.set'
                        WHEN 7 THEN 'subscriptions.set' WHEN 8 THEN 'staff.set'
                        WHEN 9 THEN 'zone.config' WHEN 10 THEN 'config.cameras'
                        WHEN 11 THEN 'site.timezone' ELSE kind END,
                    schema, payload, COALESCE(plate_key, group_key), session_ref, hlc_ms, group_key
               FROM events;
         DROP TABLE events;
         ALTER TABLE events_old RENAME TO events;
         CREATE INDEX events_session_ref ON events (session_ref) WHERE session_ref IS NOT NULL;
         CREATE INDEX events_group_key ON events (group_key) WHERE group_key IS NOT NULL;
         CREATE INDEX events_site_timezone ON events (origin) WHERE kind = 'site.timezone';
         CREATE INDEX events_plate_moved ON events (plate_key) WHERE group_key IS NOT plate_key;
         ALTER TABLE history ADD COLUMN entry_time TEXT;
         ALTER TABLE history ADD COLUMN exit_time TEXT;
         ALTER TABLE history ADD COLUMN duration TEXT;
         ALTER TABLE history ADD COLUMN sync_status TEXT NOT NULL DEFAULT '';
         ALTER TABLE history ADD COLUMN last_location_time TEXT;
         DROP INDEX history_event_id;
         CREATE INDEX history_event_id ON history (event_id);
         ALTER TABLE settled_points RENAME TO fold_marks;
         CREATE TABLE peer_cursors (
             peer_id TEXT NOT NULL, origin TEXT NOT NULL, incarnation INTEGER NOT NULL,
             acked_seq INTEGER NOT NULL, updated_at_ms INTEGER NOT NULL,
             PRIMARY KEY (peer_id, origin, incarnation));
         DROP INDEX history_open_skeleton;
         DROP TRIGGER history_plates_insert;
         DROP TRIGGER history_plates_update;
         DROP TRIGGER history_plates_delete;
         DROP TABLE history_plates;
         DROP INDEX history_located;
         ALTER TABLE history DROP COLUMN exit_plate;
         ALTER TABLE history DROP COLUMN exit_plate_view;
         ALTER TABLE history DROP COLUMN plate_match;
         ALTER TABLE history DROP COLUMN match_candidates;
         DELETE FROM _migrations WHERE version >= 10;",
    )
    .unwrap();
    for e in &old.events {
        let n = tx
            .execute(
                "UPDATE events SET payload = ?1 WHERE id_text = ?2",
                rusqlite::params![serde_json::to_string(&e.payload).unwrap(), e.id.to_string()],
            )
            .unwrap();
        assert_eq!(n, 1);
    }
    for h in &old.history {
        let n = tx
            .execute(
                "UPDATE history SET entry_event_id = ?2, event_id = ?3, entry_time = ?4, exit_time = ?5,
                        duration = ?6, sync_status = ?7, last_location_time = ?8
                  WHERE session_id = ?1",
                rusqlite::params![
                    h.session_id,
                    h.entry_event_id,
                    h.event_id,
                    h.entry_time,
                    h.exit_time,
                    h.duration,
                    h.sync_status,
                    h.last_location_time
                ],
            )
            .unwrap();
        assert_eq!(n, 1);
    }
    tx.commit().unwrap();
}

fn count(dir: &std::path::Path, sql: &str) -> i64 {
    let conn = rusqlite::Connection::open(dir.join("central.db")).unwrap();
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[tokio::test]
async fn an_old_layout_database_upgrades_in_place_and_answers_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let (before, old) = filled(dir.path()).await;
    let marks = count(dir.path(), "SELECT COUNT(*) FROM settled_points");
    assert!(marks > 0, "the history leaves settled points");
    downgrade(dir.path(), &old);
    let held = count(dir.path(), "SELECT COUNT(*) FROM events");
    assert_eq!(
        count(
            dir.path(),
            "SELECT COUNT(*) FROM events WHERE typeof(kind) = 'text'"
        ),
        held
    );
    assert_eq!(
        count(
            dir.path(),
            "SELECT COUNT(*) FROM events WHERE typeof(payload) = 'text'"
        ),
        held
    );

    let applied = parkmesh_storage::migrate(&dir.path().join("central.db"))
        .await
        .unwrap();
    assert_eq!(
        applied,
        vec![
            "0010_settled_points".to_owned(),
            "0011_compact_layout".to_owned(),
            "0012_read_indexes".to_owned(),
            "0013_exit_matching".to_owned(),
        ]
    );
    // The schema step copies the payloads as they are; the writer's start-up re-encodes them.
    assert_eq!(
        count(
            dir.path(),
            "SELECT COUNT(*) FROM events WHERE typeof(payload) = 'text'"
        ),
        held
    );
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
    assert_eq!(s.all_events().await.unwrap(), old.events);
    assert_eq!(
        count(
            dir.path(),
            "SELECT COUNT(*) FROM events WHERE typeof(payload) = 'blob'"
        ),
        held
    );
    assert_eq!(
        count(
            dir.path(),
            "SELECT COUNT(*) FROM meta WHERE key = 'compact_payloads_pending'"
        ),
        0
    );
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
    let (before, old) = filled(dir.path()).await;
    downgrade(dir.path(), &old);
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

/// Payloads in either stored form read the same: a database whose re-encoding has not run (or
/// a row written as JSON text by hand) answers as one fully re-encoded.
#[tokio::test]
async fn json_and_compact_payloads_read_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let (before, old) = filled(dir.path()).await;
    {
        let conn = rusqlite::Connection::open(dir.path().join("central.db")).unwrap();
        for e in old.events.iter().step_by(2) {
            conn.execute(
                "UPDATE events SET payload = ?1 WHERE origin = ?2 AND incarnation = ?3 AND seq = ?4",
                rusqlite::params![
                    serde_json::to_string(&e.payload).unwrap(),
                    e.id.origin.as_str(),
                    e.id.incarnation as i64,
                    e.id.seq as i64
                ],
            )
            .unwrap();
        }
    }
    assert!(
        count(
            dir.path(),
            "SELECT COUNT(*) FROM events WHERE typeof(payload) = 'text'"
        ) > 0
    );
    let s = open(dir.path()).await.unwrap();
    assert_eq!(answers(&s).await, before);
    assert_eq!(s.all_events().await.unwrap(), old.events);
}
