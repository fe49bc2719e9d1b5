//! Storage against a real SQLite file: migrations, local ingest, replicated events in any order,
//! idempotency, gaps, and that the projection equals a rebuild from the log.

use parkmesh_parking::payload::{
    EntryPayload, ExitPayload, HistoryDeletePayload, HistoryEditPayload, LocationPayload, Payload,
};
use parkmesh_protocol::{CentralId, Event, StreamId};
use parkmesh_storage::{HistoryQuery, Ingested, Intent, Storage, StorageOptions};

mod common;

use common::{entry, open, tz};

fn exit(plate: &str, at_ms: i64) -> ExitPayload {
    let gate = EntryPayload {
        camera_id: Some(2),
        camera_name: "Exit".into(),
        camera_type: "EXIT".into(),
        edge_id: Some("2".into()),
        ..entry(plate, at_ms)
    };
    ExitPayload::at_gate(gate, None)
}

/// An entry of `plate` at `at` and its exit two hours later; the exit's session row.
async fn visit(s: &Storage, plate: &str, at: i64) -> Box<parkmesh_storage::HistoryRow> {
    s.ingest(Intent::Entry {
        payload: entry(plate, at),
        request_key: None,
    })
    .await
    .unwrap();
    let out = s
        .ingest(Intent::Exit {
            payload: exit(plate, at + 2 * HOUR),
            request_key: None,
        })
        .await
        .unwrap();
    let Ingested::Stored {
        session: Some(row), ..
    } = out
    else {
        panic!("expected a stored exit with its session")
    };
    row
}

fn remote(
    origin: &str,
    seq: u64,
    at: i64,
    payload: serde_json::Value,
    kind: parkmesh_protocol::EventKind,
) -> Event {
    common::stream_event(origin, 7, seq, at, kind, payload)
}

const T0: i64 = 1_790_000_000_000;
const HOUR: i64 = 3_600_000;

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
            "SELECT id_text FROM events t WHERE t.plate_key = ?1 AND t.group_key IS NOT t.plate_key",
            "events_plate_moved",
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

#[tokio::test]
async fn a_repeated_request_gets_the_first_outcome_even_after_the_session_changed() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "central-a").await;
    let request = || Intent::Entry {
        payload: entry("30A12345", T0),
        request_key: Some("ENTRY:edge-1".into()),
    };
    let Ingested::Stored {
        event: first,
        session: Some(at_first),
    } = s.ingest(request()).await.unwrap()
    else {
        panic!("expected a stored entry with its session")
    };
    assert_eq!(at_first.status, "IN");
    // The car leaves; then the edge replays its entry request (a lost answer).
    s.ingest(Intent::Exit {
        payload: exit("30A12345", T0 + 2 * HOUR),
        request_key: Some("EXIT:edge-2".into()),
    })
    .await
    .unwrap();
    let events_before = s.all_events().await.unwrap().len();
    let Ingested::Duplicate { event, session } = s.ingest(request()).await.unwrap() else {
        panic!("expected the repeat to be recognised")
    };
    assert_eq!(event, first, "the first request's event");
    assert_eq!(
        session.as_deref(),
        Some(&*at_first),
        "the session as the first answer showed it (IN), not as it is now (OUT)"
    );
    assert_eq!(
        s.all_events().await.unwrap().len(),
        events_before,
        "nothing written"
    );
    // The outcome survives a restart (it is stored, not cached).
    drop(s);
    let s = open(dir.path(), "central-a").await;
    let Ingested::Duplicate { session, .. } = s.ingest(request()).await.unwrap() else {
        panic!("expected the repeat to be recognised after a restart")
    };
    assert_eq!(session.as_deref().map(|r| r.status.as_str()), Some("IN"));
}

#[tokio::test]
async fn local_entry_exit_and_reopen_keep_identity() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "central-a").await;
    let stream = s.stream().clone();
    let row = visit(&s, "30A12345", T0).await;
    assert_eq!(
        (row.fee, row.status.as_str(), row.sync_status.as_str()),
        (50_000, "OUT", "LOCAL")
    );
    let err = s
        .ingest(Intent::Entry {
            payload: entry("30A12345", T0 + 3 * HOUR),
            request_key: None,
        })
        .await;
    assert!(err.is_ok(), "the car left, so it may enter again");
    let err = s
        .ingest(Intent::Entry {
            payload: entry("30A12345", T0 + 4 * HOUR),
            request_key: None,
        })
        .await;
    assert!(matches!(
        err,
        Err(parkmesh_storage::StorageError::AlreadyInside { .. })
    ));
    drop(s);
    let s = open(dir.path(), "central-a").await;
    assert_eq!(s.stream(), &stream, "reopening keeps the incarnation");
    assert_eq!(s.vector().await.unwrap().get(&stream), 3);
    assert!(matches!(
        Storage::open(StorageOptions {
            db_path: dir.path().join("central.db"),
            origin: CentralId::new("other").unwrap(),
            tz: tz()
        })
        .await,
        Err(parkmesh_storage::StorageError::WrongOrigin { .. })
    ));
}

#[tokio::test]
async fn remote_exit_before_entry_merges_and_gaps_hold_the_vector() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "central-c").await;
    let e = remote(
        "central-a",
        1,
        T0,
        entry("51F99999", T0).to_value(),
        EntryPayload::KIND,
    );
    let x = remote(
        "central-b",
        1,
        T0 + 2 * HOUR,
        exit("51F99999", T0 + 2 * HOUR).to_value(),
        ExitPayload::KIND,
    );
    s.apply_remote(vec![x.clone()]).await.unwrap();
    let h = s
        .history(&HistoryQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(h.len(), 1);
    assert!(
        h[0].exception,
        "an exit without its entry is kept as an exception"
    );
    s.apply_remote(vec![e.clone(), x.clone(), e.clone()])
        .await
        .unwrap();
    let h = s
        .history(&HistoryQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(h.len(), 1, "{h:?}");
    assert_eq!(
        (h[0].status.as_str(), h[0].fee, h[0].exception),
        ("OUT", 50_000, false)
    );
    assert_eq!(h[0].sync_status, "SYNCED");
    assert_eq!(s.event_count().await.unwrap(), 2, "duplicates are ignored");

    // A gap: seq 3 arrives before seq 2; the vector stays at 1 until 2 arrives.
    let a = StreamId {
        origin: CentralId::new("central-a").unwrap(),
        incarnation: 7,
    };
    let e3 = remote(
        "central-a",
        3,
        T0 + 5 * HOUR,
        entry("29A11111", T0 + 5 * HOUR).to_value(),
        EntryPayload::KIND,
    );
    s.apply_remote(vec![e3]).await.unwrap();
    assert_eq!(s.vector().await.unwrap().get(&a), 1);
    let e2 = remote(
        "central-a",
        2,
        T0 + 4 * HOUR,
        entry("29A22222", T0 + 4 * HOUR).to_value(),
        EntryPayload::KIND,
    );
    s.apply_remote(vec![e2]).await.unwrap();
    assert_eq!(s.vector().await.unwrap().get(&a), 3);
    assert_eq!(s.read_stream(&a, 2, 10).await.unwrap().len(), 2);
}

#[tokio::test]
async fn projection_equals_a_rebuild_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "central-a").await;
    for i in 0..20i64 {
        let plate = format!("30A{:05}", i % 7);
        let _ = s
            .ingest(Intent::Entry {
                payload: entry(&plate, T0 + i * 60_000),
                request_key: None,
            })
            .await;
        if i % 3 == 0 {
            s.ingest(Intent::Exit {
                payload: exit(&plate, T0 + i * 60_000 + HOUR),
                request_key: None,
            })
            .await
            .unwrap();
        }
    }
    let events = s.all_events().await.unwrap();
    let rebuilt = parkmesh_parking::project(&events);
    let rows = s
        .history(&HistoryQuery {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    let n_sessions: usize = rebuilt.plates.values().map(|p| p.sessions.len()).sum();
    assert_eq!(rows.len(), n_sessions);
    for r in &rows {
        let fold = &rebuilt.plates[&r.plate_key];
        let s = fold
            .sessions
            .iter()
            .find(|s| s.id == r.session_id)
            .expect("row matches a rebuilt session");
        assert_eq!((r.fee, r.exception), (s.fee, s.exception));
    }
}

// ---- Sessions grouped under the operator-corrected plate ----------------------------------

fn edit(session: &Event, plate: &str) -> serde_json::Value {
    HistoryEditPayload {
        session: session.id.to_string(),
        plate_id: plate.into(),
        plate_view: plate.into(),
        changed_by: "operator".into(),
    }
    .to_value()
}

fn delete(session: &Event) -> serde_json::Value {
    HistoryDeletePayload {
        session: session.id.to_string(),
        changed_by: "operator".into(),
    }
    .to_value()
}

fn all() -> HistoryQuery {
    HistoryQuery {
        limit: 1000,
        ..Default::default()
    }
}

/// Every `history` row (tombstoned ones too) without the local columns (`id`, `created_at`,
/// `updated_at`), ordered by session id, and every conflict without its local id.
type Snapshot = (
    Vec<Vec<(String, rusqlite::types::Value)>>,
    Vec<(String, String, String, String, i64)>,
);

fn snapshot(db: &std::path::Path) -> Snapshot {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut stmt = conn
        .prepare("SELECT * FROM history ORDER BY session_id")
        .unwrap();
    let names: Vec<String> = stmt.column_names().iter().map(|n| n.to_string()).collect();
    let rows = stmt
        .query_map([], |r| {
            let mut row = Vec::new();
            for (i, name) in names.iter().enumerate() {
                if !matches!(name.as_str(), "id" | "created_at" | "updated_at") {
                    row.push((name.clone(), r.get::<_, rusqlite::types::Value>(i)?));
                }
            }
            Ok(row)
        })
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let conflicts = conn
        .prepare(
            "SELECT plate_key, kind, winner, losers, at_ms FROM conflicts
              ORDER BY plate_key, kind, winner, losers, at_ms",
        )
        .unwrap()
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    (rows, conflicts)
}

/// The stored sessions and conflicts are exactly `parkmesh_parking::project` of the stored log:
/// same sessions under the same (corrected) plates, nothing more.
async fn assert_equals_projection(s: &Storage, db: &std::path::Path) {
    let events = s.all_events().await.unwrap();
    let rebuilt = parkmesh_parking::project(&events);
    let (rows, conflicts) = snapshot(db);
    let n_sessions: usize = rebuilt.plates.values().map(|p| p.sessions.len()).sum();
    assert_eq!(rows.len(), n_sessions, "{rows:?}\n{rebuilt:?}");
    let mut expected_conflicts = Vec::new();
    for (plate, fold) in &rebuilt.plates {
        for p in &fold.sessions {
            let r = s
                .session_by_session_id(&p.id)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("session {} of {plate} is stored", p.id));
            assert_eq!(&r.plate_key, plate, "{r:?}");
            assert_eq!(
                (
                    r.plate_id.as_str(),
                    r.status.as_str(),
                    r.fee,
                    r.exception,
                    r.deleted,
                    r.is_anomaly
                ),
                (
                    p.plate_id.as_str(),
                    if p.is_open() || p.status == parkmesh_parking::fold::SessionStatus::In {
                        "IN"
                    } else {
                        "OUT"
                    },
                    p.fee,
                    p.exception,
                    p.deleted,
                    p.is_anomaly
                ),
                "{r:?}\n{p:?}"
            );
            assert_eq!(
                (r.entry_event_id.as_ref(), r.exit_event_id.as_ref()),
                (
                    p.entry.as_ref().map(|e| &e.event_id),
                    p.exit.as_ref().map(|e| &e.event_id)
                )
            );
            assert_eq!(r.last_location, p.last_location);
        }
        for c in &fold.conflicts {
            expected_conflicts.push((
                plate.clone(),
                c.kind.clone(),
                c.winner.clone(),
                serde_json::to_string(&c.losers).unwrap(),
                c.at_ms,
            ));
        }
    }
    expected_conflicts.sort();
    assert_eq!(conflicts, expected_conflicts);
}

fn edit_event(origin: &str, seq: u64, at: i64, payload: serde_json::Value) -> Event {
    remote(origin, seq, at, payload, HistoryEditPayload::KIND)
}

#[tokio::test]
async fn a_corrected_misread_entry_is_closed_by_the_exit_of_the_real_plate() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "central-a").await;
    let Ingested::Stored {
        event: e1,
        session: Some(opened),
    } = s
        .ingest(Intent::Entry {
            payload: entry("51A12346", T0),
            request_key: None,
        })
        .await
        .unwrap()
    else {
        panic!("the misread entry is stored with its session")
    };
    assert_eq!(opened.plate_key, "51A12346");
    let stored = s
        .ingest(Intent::Event {
            kind: HistoryEditPayload::KIND,
            payload: edit(&e1, "51A12345"),
        })
        .await
        .unwrap();
    assert!(matches!(stored, Ingested::Stored { .. }));
    let edited = s
        .session_by_session_id(&e1.id.to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            edited.session_id.as_str(),
            edited.plate_key.as_str(),
            edited.plate_id.as_str(),
            edited.status.as_str()
        ),
        (e1.id.to_string().as_str(), "51A12345", "51A12345", "IN"),
        "the corrected session is filed under the corrected plate"
    );
    assert_eq!(edited.id, opened.id, "the row keeps its local id");
    // The open-session lookup now finds the car under its real plate, and only there.
    assert!(matches!(
        s.ingest(Intent::Entry {
            payload: entry("51A12345", T0 + HOUR),
            request_key: None,
        })
        .await,
        Err(parkmesh_storage::StorageError::AlreadyInside { .. })
    ));

    let Ingested::Stored {
        session: Some(closed),
        ..
    } = s
        .ingest(Intent::Exit {
            payload: exit("51A12345", T0 + 2 * HOUR),
            request_key: None,
        })
        .await
        .unwrap()
    else {
        panic!("the exit is stored with the session it closed")
    };
    assert_eq!(closed.session_id, e1.id.to_string());
    let h = s.history(&all()).await.unwrap();
    assert_eq!(h.len(), 1, "no exception session: {h:?}");
    let r = &h[0];
    assert_eq!(
        (
            r.plate_key.as_str(),
            r.plate_id.as_str(),
            r.status.as_str(),
            r.fee,
            r.exception,
            r.entry_ms
        ),
        ("51A12345", "51A12345", "OUT", 50_000, false, Some(T0))
    );
    assert!(s.in_parking().await.unwrap().is_empty());
    assert!(s.conflicts().await.unwrap().is_empty());
    assert_equals_projection(&s, &dir.path().join("central.db")).await;
    // The misread plate is free again and the real plate may come back in.
    for plate in ["51A12346", "51A12345"] {
        s.ingest(Intent::Entry {
            payload: entry(plate, T0 + 3 * HOUR),
            request_key: None,
        })
        .await
        .unwrap();
    }
    assert_equals_projection(&s, &dir.path().join("central.db")).await;
}

/// The misread scenario plus neighbours: a sighting of the real plate, a concurrent entry of the
/// real plate recorded at another central, and a later car that really is 51A12346.
fn misread_events() -> Vec<Event> {
    let e1 = remote(
        "central-a",
        1,
        T0,
        entry("51A12346", T0).to_value(),
        EntryPayload::KIND,
    );
    let fix = edit_event("central-a", 2, T0 + 10 * 60_000, edit(&e1, "51A12345"));
    let seen = remote(
        "central-a",
        3,
        T0 + 30 * 60_000,
        LocationPayload {
            plate_id: "51A12345".into(),
            plate_view: "51A12345".into(),
            location: "B1".into(),
            at_ms: T0 + 30 * 60_000,
            camera_id: Some(9),
            camera_name: "Lot".into(),
            edge_event_id: None,
        }
        .to_value(),
        LocationPayload::KIND,
    );
    let x = remote(
        "central-a",
        4,
        T0 + 2 * HOUR,
        exit("51A12345", T0 + 2 * HOUR).to_value(),
        ExitPayload::KIND,
    );
    let twin = remote(
        "central-b",
        1,
        T0 + HOUR,
        entry("51A12345", T0 + HOUR).to_value(),
        EntryPayload::KIND,
    );
    let real = remote(
        "central-b",
        2,
        T0 + 3 * HOUR,
        entry("51A12346", T0 + 3 * HOUR).to_value(),
        EntryPayload::KIND,
    );
    vec![e1, fix, seen, x, twin, real]
}

#[tokio::test]
async fn corrected_plates_give_the_same_sessions_in_any_arrival_order() {
    let events = misread_events();
    let (e1, fix, x) = (&events[0], &events[1], &events[3]);
    let mut orders: Vec<Vec<usize>> = vec![
        vec![0, 1, 2, 3, 4, 5],
        vec![0, 2, 3, 1, 4, 5], // the edit after the exit
        vec![3, 2, 0, 4, 5, 1], // the exit first, the edit last
        vec![1, 3, 4, 2, 0, 5], // the edit before its entry
        vec![5, 4, 3, 2, 1, 0],
    ];
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..5 {
        let mut o: Vec<usize> = (0..events.len()).collect();
        for i in (1..o.len()).rev() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            o.swap(i, (seed % (i as u64 + 1)) as usize);
        }
        orders.push(o);
    }
    let mut first: Option<Snapshot> = None;
    for (n, order) in orders.iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("central.db");
        let s = open(dir.path(), "central-c").await;
        for (k, &i) in order.iter().enumerate() {
            s.apply_remote(vec![events[i].clone()]).await.unwrap();
            if k % 2 == 1 {
                // A duplicate of something already held changes nothing.
                s.apply_remote(vec![events[order[k / 2]].clone()])
                    .await
                    .unwrap();
            }
            assert_equals_projection(&s, &db).await;
        }
        if n == 0 {
            // Everything once more, in one batch.
            s.apply_remote(events.clone()).await.unwrap();
        }
        assert_eq!(s.event_count().await.unwrap(), events.len() as i64);
        let snap = snapshot(&db);
        match &first {
            None => first = Some(snap),
            Some(f) => assert_eq!(&snap, f, "order {order:?}"),
        }
    }
    // One batch holding everything (and a duplicate) converges to the same rows.
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "central-c").await;
    let mut batch = events.clone();
    batch.push(fix.clone());
    s.apply_remote(batch).await.unwrap();
    assert_eq!(Some(snapshot(&dir.path().join("central.db"))), first);

    // And the rows are the expected ones, not merely consistent.
    let h = s.history(&all()).await.unwrap();
    let fixed = h
        .iter()
        .find(|r| r.session_id == e1.id.to_string())
        .unwrap();
    assert_eq!(
        (
            fixed.plate_key.as_str(),
            fixed.status.as_str(),
            fixed.fee,
            fixed.exit_event_id.clone(),
            fixed.last_location.as_deref()
        ),
        (
            "51A12345",
            "OUT",
            50_000,
            Some(x.id.to_string()),
            Some("B1")
        )
    );
    assert!(h.iter().all(|r| !r.exception), "{h:?}");
    let open: Vec<_> = s
        .in_parking()
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.plate_key, r.entry_ms))
        .collect();
    assert_eq!(open, vec![("51A12346".to_owned(), Some(T0 + 3 * HOUR))]);
    let conflicts = s.conflicts().await.unwrap();
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(
        (
            conflicts[0].plate_key.as_str(),
            conflicts[0].winner.clone(),
            conflicts[0].losers.clone()
        ),
        (
            "51A12345",
            e1.id.to_string(),
            vec![events[4].id.to_string()]
        ),
        "the concurrent entry is a conflict under the corrected plate"
    );
}

#[tokio::test]
async fn an_edit_back_to_the_raw_plate_moves_the_session_back() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("central.db");
    let s = open(dir.path(), "central-c").await;
    let e1 = remote(
        "central-a",
        1,
        T0,
        entry("51A12346", T0).to_value(),
        EntryPayload::KIND,
    );
    let to_other = edit_event("central-a", 2, T0 + 10 * 60_000, edit(&e1, "51A12345"));
    let back = edit_event("central-b", 1, T0 + 20 * 60_000, edit(&e1, "51A12346"));
    let x_other = remote(
        "central-a",
        3,
        T0 + HOUR,
        exit("51A12345", T0 + HOUR).to_value(),
        ExitPayload::KIND,
    );
    let x_raw = remote(
        "central-a",
        4,
        T0 + 2 * HOUR,
        exit("51A12346", T0 + 2 * HOUR).to_value(),
        ExitPayload::KIND,
    );
    let key = |s: &Storage, id: String| {
        let s = s.clone();
        async move { s.session_by_session_id(&id).await.unwrap().unwrap() }
    };
    s.apply_remote(vec![e1.clone(), to_other.clone()])
        .await
        .unwrap();
    let r = key(&s, e1.id.to_string()).await;
    assert_eq!(
        (r.plate_key.as_str(), r.status.as_str()),
        ("51A12345", "IN")
    );
    s.apply_remote(vec![back.clone()]).await.unwrap();
    let r2 = key(&s, e1.id.to_string()).await;
    assert_eq!(
        (
            r2.plate_key.as_str(),
            r2.plate_id.as_str(),
            r2.status.as_str()
        ),
        ("51A12346", "51A12346", "IN")
    );
    assert_eq!(r2.id, r.id, "the row keeps its local id when it moves back");
    assert_equals_projection(&s, &db).await;
    // The real plate's exit finds nothing open under it; the raw plate's exit closes the car.
    s.apply_remote(vec![x_other.clone(), x_raw.clone()])
        .await
        .unwrap();
    let r = key(&s, e1.id.to_string()).await;
    assert_eq!(
        (
            r.plate_key.as_str(),
            r.status.as_str(),
            r.fee,
            r.exit_event_id.clone()
        ),
        ("51A12346", "OUT", 50_000, Some(x_raw.id.to_string()))
    );
    let exc = key(&s, x_other.id.to_string()).await;
    assert_eq!((exc.plate_key.as_str(), exc.exception), ("51A12345", true));
    assert_eq!(s.history(&all()).await.unwrap().len(), 2);
    assert_equals_projection(&s, &db).await;

    // Same events, the edits last and in reverse: the same rows.
    let dir2 = tempfile::tempdir().unwrap();
    let s2 = open(dir2.path(), "central-c").await;
    for e in [&x_raw, &e1, &x_other, &back, &to_other] {
        s2.apply_remote(vec![e.clone()]).await.unwrap();
        assert_equals_projection(&s2, &dir2.path().join("central.db")).await;
    }
    assert_eq!(snapshot(&dir2.path().join("central.db")), snapshot(&db));
}

#[tokio::test]
async fn a_deleted_corrected_session_stays_deleted_under_its_corrected_plate() {
    let e1 = remote(
        "central-a",
        1,
        T0,
        entry("51A12346", T0).to_value(),
        EntryPayload::KIND,
    );
    let fix = edit_event("central-a", 2, T0 + 10 * 60_000, edit(&e1, "51A12345"));
    let del = remote(
        "central-b",
        1,
        T0 + 20 * 60_000,
        delete(&e1),
        HistoryDeletePayload::KIND,
    );
    let x = remote(
        "central-a",
        3,
        T0 + 2 * HOUR,
        exit("51A12345", T0 + 2 * HOUR).to_value(),
        ExitPayload::KIND,
    );
    let mut snaps = Vec::new();
    for order in [
        vec![&e1, &fix, &del, &x],
        vec![&del, &x, &fix, &e1],
        vec![&x, &e1, &del, &fix],
    ] {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("central.db");
        let s = open(dir.path(), "central-c").await;
        for e in order {
            s.apply_remote(vec![e.clone()]).await.unwrap();
            assert_equals_projection(&s, &db).await;
        }
        let r = s
            .session_by_session_id(&e1.id.to_string())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (r.plate_key.as_str(), r.plate_id.as_str(), r.deleted),
            ("51A12345", "51A12345", true)
        );
        // A deleted session never counts as open: the exit is an exception, nothing is inside.
        let h = s.history(&all()).await.unwrap();
        assert_eq!(h.len(), 1, "{h:?}");
        assert_eq!(
            (
                h[0].session_id.clone(),
                h[0].plate_key.as_str(),
                h[0].exception
            ),
            (x.id.to_string(), "51A12345", true)
        );
        assert!(s.in_parking().await.unwrap().is_empty());
        s.ingest(Intent::Entry {
            payload: entry("51A12345", T0 + 3 * HOUR),
            request_key: None,
        })
        .await
        .expect("the deleted session does not block an entry of the corrected plate");
        snaps.push(snapshot(&db).1);
    }
    assert!(snaps.windows(2).all(|w| w[0] == w[1]));
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
            "UPDATE events SET group_key = plate_key;
             UPDATE history SET plate_key = (SELECT plate_key FROM events WHERE id_text = session_id);
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
                                  exit_ms, status, sync_status, exception, created_at, updated_at)
             VALUES ('{x}', '51A12345', '{x}', '51A12345', '51A12345', {at}, 'OUT', 'SYNCED', 1,
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

// ---- Incremental re-fold from the stored settled point -----------------------------------

/// A long history of two plates (visits by event id and by edge id, a repeated edge id, exits
/// before entries, sightings, concurrent entries, late events, edits and deletes) arrives in
/// small replicated batches, mostly in order; the stored sessions and conflicts must equal the
/// projection of the log after every few batches, whichever fold (incremental or full) ran.
#[tokio::test]
async fn incremental_refolds_equal_the_projection_of_the_log() {
    // Several histories: the writer remembers the unsettled parts of the groups it folded across commands,
    // and every one must give what a rebuild gives.
    for seed in [
        0x9e37_79b9_7f4a_7c15u64,
        0x2545_f491_4f6c_dd1d,
        0x1234_5678_9abc_def1,
        0x0bad_cafe_dead_beef,
        7,
        0x5851_f42d_4c95_7f2d,
    ] {
        incremental_case(seed).await;
    }
}

async fn incremental_case(mut seed: u64) {
    let mut rnd = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let plates = ["30A00001", "30A00002"];
    let mut events = Vec::new();
    let mut entries: Vec<(Event, String)> = Vec::new();
    let mut seq = 0u64;
    let mut at = T0;
    for _ in 0..120 {
        seq += 1;
        at += 60_000 * (1 + rnd(90) as i64);
        // Now and then an event from an hour ago (a late edge queue).
        let t = if rnd(10) == 0 { at - HOUR } else { at };
        let plate = plates[rnd(2) as usize];
        let origin = ["central-b", "central-c"][rnd(2) as usize];
        let e = match rnd(24) {
            0..=8 => {
                let edge = if rnd(8) == 0 {
                    "dup".to_owned()
                } else {
                    format!("e{seq}")
                };
                let p = EntryPayload {
                    edge_event_id: Some(edge.clone()),
                    ..entry(plate, t)
                };
                let e = remote(origin, seq, t, p.to_value(), EntryPayload::KIND);
                entries.push((e.clone(), edge));
                e
            }
            9..=17 => {
                let r = match (rnd(3), entries.is_empty()) {
                    (0, _) | (_, true) => None,
                    (1, false) => Some(entries[rnd(entries.len() as u64) as usize].1.clone()),
                    _ => Some(entries[entries.len() - 1].0.id.to_string()),
                };
                let p = ExitPayload {
                    entry_ref: r,
                    ..exit(plate, t)
                };
                remote(origin, seq, t, p.to_value(), ExitPayload::KIND)
            }
            18..=20 => {
                let p = LocationPayload {
                    plate_id: plate.into(),
                    plate_view: plate.into(),
                    location: "Zone A".into(),
                    at_ms: t,
                    camera_id: Some(3),
                    camera_name: "Zone A".into(),
                    edge_event_id: None,
                };
                remote(origin, seq, t, p.to_value(), LocationPayload::KIND)
            }
            21 if !events.is_empty() => {
                let target: &Event = &events[rnd(events.len() as u64) as usize];
                edit_event(origin, seq, t, edit(target, plates[rnd(2) as usize]))
            }
            22 if !events.is_empty() => {
                let target: &Event = &events[rnd(events.len() as u64) as usize];
                remote(origin, seq, t, delete(target), HistoryDeletePayload::KIND)
            }
            _ => remote(
                origin,
                seq,
                t,
                entry(plate, t).to_value(),
                EntryPayload::KIND,
            ),
        };
        events.push(e);
    }
    // Arrival: in order, with one event in ten held back and delivered a few batches later.
    let mut arrival = Vec::new();
    let mut held_back = Vec::new();
    for e in events {
        if rnd(10) == 0 {
            held_back.push(e);
        } else {
            arrival.push(e);
            if rnd(4) == 0 {
                arrival.append(&mut held_back);
            }
        }
    }
    arrival.append(&mut held_back);

    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "central-a").await;
    let db = dir.path().join("central.db");
    let mut rest = arrival.as_slice();
    let mut n = 0;
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at((1 + rnd(3) as usize).min(rest.len()));
        s.apply_remote(chunk.to_vec()).await.unwrap();
        rest = tail;
        n += 1;
        if n % 10 == 0 || rest.is_empty() {
            assert_equals_projection(&s, &db).await;
        }
    }
    // An exit that arrives before its entry waits as an exception after the settled point; the entry
    // then completes it, and the exception's row goes.
    let plate = "30A00003";
    let visit = |seq: u64, at: i64, edge: &str| {
        let p = EntryPayload {
            edge_event_id: Some(edge.into()),
            ..entry(plate, at)
        };
        let x = ExitPayload {
            entry_ref: Some(edge.into()),
            ..exit(plate, at + HOUR)
        };
        (
            remote("central-b", seq, at, p.to_value(), EntryPayload::KIND),
            remote(
                "central-b",
                seq + 1,
                at + HOUR,
                x.to_value(),
                ExitPayload::KIND,
            ),
        )
    };
    let (e1, x1) = visit(1000, T0, "v1");
    let (e2, x2) = visit(1002, T0 + 3 * HOUR, "v2");
    s.apply_remote(vec![e1, x1]).await.unwrap();
    s.apply_remote(vec![x2]).await.unwrap();
    s.apply_remote(vec![e2]).await.unwrap();
    assert_equals_projection(&s, &db).await;

    // The incremental path ran: some plate has a settled point after its first event.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let cuts: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM settled_points WHERE at_ms IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(cuts > 0);
}

/// The writer keeps the fee table in memory between exits; a new fee table applies to the very
/// next exit.
#[tokio::test]
async fn an_exit_after_a_fee_change_pays_the_new_tariff() {
    use parkmesh_parking::fee::Tariff;
    use parkmesh_parking::payload::Payload as _;
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "central-a").await;
    assert_eq!(visit(&s, "30A11111", T0).await.fee, 50_000);
    let tariff = Tariff {
        fee_base: 0.0,
        fee_per_hour: 10_000,
    };
    s.ingest(Intent::Event {
        kind: parkmesh_protocol::EventKind::FeesSet,
        payload: tariff.to_value(),
    })
    .await
    .unwrap();
    assert_eq!(visit(&s, "30A22222", T0 + 4 * HOUR).await.fee, 20_000);
}
