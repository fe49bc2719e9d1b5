//! Storage contract: local ingest, idempotent edge requests, replicated events in any order and
//! with gaps, and a projection equal to a rebuild from the log. Backend-neutral: the storage is
//! opened through `common::open` (the backend under test, see `common::Backend`).

use parkmesh_parking::payload::{EntryPayload, ExitPayload, Payload};
use parkmesh_protocol::{CentralId, StreamId};
use parkmesh_storage::{HistoryQuery, Ingested, Intent, Storage, StorageOptions};

mod common;

use common::scenario::*;
use common::{entry, open, tz};

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
        matching: parkmesh_parking::plate::ExitMatch::Exact,
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
                matching: parkmesh_parking::plate::ExitMatch::Exact,
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
