//! Storage against a real SQLite file: migrations, local ingest, replicated events in any order,
//! idempotency, gaps, and that the projection equals a rebuild from the log.

use parkmesh_parking::payload::{EntryPayload, ExitPayload, Payload, Tariff};
use parkmesh_protocol::{CentralId, Event, EventId, Hlc, StreamId};
use parkmesh_storage::{HistoryQuery, Ingested, Intent, Storage, StorageOptions};

fn tz() -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get("Asia/Ho_Chi_Minh").unwrap()
}

async fn open(dir: &std::path::Path, id: &str) -> Storage {
    Storage::open(StorageOptions {
        db_path: dir.join("central.db"),
        origin: CentralId::new(id).unwrap(),
        tz: tz(),
    })
    .await
    .unwrap()
}

fn entry(plate: &str, at_ms: i64) -> EntryPayload {
    EntryPayload {
        plate_id: plate.into(),
        plate_view: plate.into(),
        at_ms,
        time_clamped: false,
        camera_id: Some(1),
        camera_name: "Gate".into(),
        camera_type: "ENTRY".into(),
        confidence: 0.9,
        source: "auto".into(),
        edge_event_id: None,
        edge_id: Some("1".into()),
    }
}

fn exit(plate: &str, at_ms: i64) -> ExitPayload {
    ExitPayload {
        plate_id: plate.into(),
        plate_view: plate.into(),
        at_ms,
        time_clamped: false,
        camera_id: Some(2),
        camera_name: "Exit".into(),
        camera_type: "EXIT".into(),
        confidence: 0.9,
        source: "auto".into(),
        edge_event_id: None,
        edge_id: Some("2".into()),
        entry_ref: None,
        tariff: Tariff::default(),
        exempt: None,
    }
}

fn remote(
    origin: &str,
    seq: u64,
    at: i64,
    payload: serde_json::Value,
    kind: parkmesh_protocol::EventKind,
) -> Event {
    Event {
        id: EventId {
            origin: CentralId::new(origin).unwrap(),
            incarnation: 7,
            seq,
        },
        hlc: Hlc {
            wall_ms: at as u64,
            counter: 0,
        },
        kind,
        payload,
        schema: 1,
    }
}

const T0: i64 = 1_790_000_000_000;
const HOUR: i64 = 3_600_000;

#[tokio::test]
async fn migrations_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x/central.db");
    assert_eq!(
        parkmesh_storage::migrate(&db).await.unwrap(),
        vec!["0001_init".to_owned(), "0002_group_key".to_owned()]
    );
    assert!(parkmesh_storage::migrate(&db).await.unwrap().is_empty());
}

#[tokio::test]
async fn local_entry_exit_and_reopen_keep_identity() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "central-a").await;
    let stream = s.stream().clone();
    s.ingest(
        Intent::Entry {
            payload: entry("30A12345", T0),
            request_key: None,
        },
        None,
    )
    .await
    .unwrap();
    let out = s
        .ingest(
            Intent::Exit {
                payload: exit("30A12345", T0 + 2 * HOUR),
                request_key: None,
            },
            None,
        )
        .await
        .unwrap();
    let Ingested::Stored {
        session: Some(row), ..
    } = out
    else {
        panic!("expected a stored exit with its session")
    };
    assert_eq!(
        (row.fee, row.status.as_str(), row.sync_status.as_str()),
        (50_000, "OUT", "LOCAL")
    );
    let err = s
        .ingest(
            Intent::Entry {
                payload: entry("30A12345", T0 + 3 * HOUR),
                request_key: None,
            },
            None,
        )
        .await;
    assert!(err.is_ok(), "the car left, so it may enter again");
    let err = s
        .ingest(
            Intent::Entry {
                payload: entry("30A12345", T0 + 4 * HOUR),
                request_key: None,
            },
            None,
        )
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
            .ingest(
                Intent::Entry {
                    payload: entry(&plate, T0 + i * 60_000),
                    request_key: None,
                },
                None,
            )
            .await;
        if i % 3 == 0 {
            s.ingest(
                Intent::Exit {
                    payload: exit(&plate, T0 + i * 60_000 + HOUR),
                    request_key: None,
                },
                None,
            )
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
