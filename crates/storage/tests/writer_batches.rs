//! The writer's per-command shortcuts keep the observable results: stream heads advanced once per
//! command over gaps inside and across batches, and conflicts deleted when they go away, also
//! after a restart (the writer skips the delete only while the table is known to be empty), and
//! a local command that fails after it wrote fails alone.

use parkmesh_parking::payload::{EntryPayload, ExitPayload, Payload};
use parkmesh_protocol::{CentralId, Event, EventKind, StreamId};
use parkmesh_storage::{Intent, Storage};

const T0: i64 = 1_790_000_000_000;
const HOUR: i64 = 3_600_000;

mod common;

use common::entry;

async fn open(dir: &std::path::Path) -> Storage {
    common::open(dir, "central-a").await
}

fn exit(plate: &str, at_ms: i64) -> ExitPayload {
    ExitPayload::at_gate(entry(plate, at_ms), None)
}

fn event(seq: u64, at: i64, kind: EventKind, payload: serde_json::Value) -> Event {
    common::stream_event("central-b", 7, seq, at, kind, payload)
}

fn entry_event(seq: u64, plate: &str, at: i64) -> Event {
    event(seq, at, EntryPayload::KIND, entry(plate, at).to_value())
}

fn b() -> StreamId {
    StreamId {
        origin: CentralId::new("central-b").unwrap(),
        incarnation: 7,
    }
}

#[tokio::test]
async fn heads_advance_over_gaps_within_and_across_batches() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path()).await;
    // A stream whose first batch starts with a gap: nothing is claimed.
    s.apply_remote(vec![entry_event(2, "51A00002", T0)])
        .await
        .unwrap();
    assert_eq!(s.vector().await.unwrap().get(&b()), 0);
    // One batch with a gap inside: the head stops before it.
    s.apply_remote(vec![
        entry_event(1, "51A00001", T0),
        entry_event(3, "51A00003", T0),
        entry_event(5, "51A00005", T0),
    ])
    .await
    .unwrap();
    assert_eq!(s.vector().await.unwrap().get(&b()), 3);
    // Filling the gap walks over the successor already held; a repeat changes nothing.
    let stored = s
        .apply_remote(vec![
            entry_event(4, "51A00004", T0),
            entry_event(1, "x", T0),
        ])
        .await
        .unwrap();
    assert_eq!(stored.len(), 1, "the repeat of seq 1 is not stored again");
    assert_eq!(s.vector().await.unwrap().get(&b()), 5);
    assert_eq!(s.event_count().await.unwrap(), 5);
}

#[tokio::test]
async fn a_conflict_that_goes_away_after_a_restart_is_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path()).await;
    // A plate with no conflict is written while the table is empty.
    s.apply_remote(vec![entry_event(1, "29A00001", T0)])
        .await
        .unwrap();
    assert!(s.conflicts().await.unwrap().is_empty());
    // Two entries with no exit between them: a concurrent-entry conflict.
    s.apply_remote(vec![
        entry_event(2, "51A12345", T0),
        entry_event(3, "51A12345", T0 + 2 * HOUR),
    ])
    .await
    .unwrap();
    assert_eq!(s.conflicts().await.unwrap().len(), 1);
    drop(s);

    let s = open(dir.path()).await;
    // The exit between them arrives: the first session closes, the second entry opens its own
    // session and the conflict is gone.
    s.apply_remote(vec![event(
        4,
        T0 + HOUR,
        ExitPayload::KIND,
        exit("51A12345", T0 + HOUR).to_value(),
    )])
    .await
    .unwrap();
    assert!(s.conflicts().await.unwrap().is_empty());
    assert_eq!(s.in_parking().await.unwrap().len(), 2);
}

/// Local commands run without a savepoint each. One that fails after it wrote (here a trigger
/// refuses its edge-request row, after its event and session are in) fails alone, whichever batch
/// it lands in: the others are stored with contiguous seqs, and it leaves no event, session or
/// seq behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_command_failing_after_it_wrote_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path()).await;
    let ingest = |s: Storage, plate: String, key: String| async move {
        s.ingest(Intent::Entry {
            payload: entry(&plate, T0),
            request_key: Some(key),
        })
        .await
    };
    ingest(s.clone(), "51A00000".into(), "K-first".into())
        .await
        .unwrap();
    let db = rusqlite::Connection::open(dir.path().join("central.db")).unwrap();
    db.execute_batch(
        "CREATE TRIGGER poison BEFORE INSERT ON edge_requests WHEN NEW.request_key = 'POISON'
         BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;",
    )
    .unwrap();
    const N: usize = 40;
    let tasks: Vec<_> = (1..=N)
        .map(|i| {
            let key = if i == 20 {
                "POISON".into()
            } else {
                format!("K{i}")
            };
            tokio::spawn(ingest(s.clone(), format!("51A{i:05}"), key))
        })
        .collect();
    let mut failed = Vec::new();
    for (i, t) in (1..=N).zip(tasks) {
        if t.await.unwrap().is_err() {
            failed.push(i);
        }
    }
    assert_eq!(failed, vec![20], "only the refused command fails");
    let count = |sql: &str| -> i64 { db.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(
        count("SELECT COUNT(*) FROM events WHERE plate_key = '51A00020'"),
        0
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM history WHERE plate_key = '51A00020'"),
        0
    );
    assert_eq!(count("SELECT COUNT(*) FROM history"), N as i64);
    assert_eq!(count("SELECT COUNT(*) FROM edge_requests"), N as i64);
    // Seqs 1..=N with no gap, and the stream head on the last.
    assert_eq!(
        count("SELECT COUNT(*) FROM events WHERE origin = 'central-a'"),
        N as i64
    );
    assert_eq!(
        count("SELECT MAX(seq) FROM events WHERE origin = 'central-a'"),
        N as i64
    );
    let own = s.stream().clone();
    assert_eq!(s.vector().await.unwrap().get(&own), N as u64);
}
