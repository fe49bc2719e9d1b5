//! Fault injection under the log reads that feed catch-up: a damaged row makes the read fail
//! with an error naming the event (instead of a panic or a silently short page), reads of the
//! rest of the stream still work, and once the row is repaired the same read succeeds. The mesh
//! driver hands such a failure to `Engine::handle_log_read_failed`, which retries with a backoff.

mod common;

use common::{entry, open};
use parkmesh_storage::Intent;

#[tokio::test]
async fn a_damaged_event_fails_the_read_naming_it_and_a_repair_lets_the_stream_through() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "central-1").await;
    for (i, plate) in ["30A11111", "30A22222", "30A33333"].iter().enumerate() {
        s.ingest(Intent::Entry {
            payload: entry(plate, 1_700_000_000_000 + i as i64 * 1_000),
            request_key: None,
        })
        .await
        .unwrap();
    }
    let stream = s.stream().clone();
    assert_eq!(s.read_stream(&stream, 1, 10).await.unwrap().len(), 3);

    // Damage seq 2 behind the storage's back, as a failing disk or a bad restore would.
    let raw = rusqlite::Connection::open(dir.path().join("central.db")).unwrap();
    let good: rusqlite::types::Value = raw
        .query_row("SELECT payload FROM events WHERE seq = 2", [], |r| r.get(0))
        .unwrap();
    raw.execute("UPDATE events SET payload = '{truncated' WHERE seq = 2", [])
        .unwrap();

    let err = s.read_stream(&stream, 1, 10).await.unwrap_err().to_string();
    assert!(
        err.contains(&format!("{}/{}/2", stream.origin, stream.incarnation)),
        "the error names the damaged event: {err}"
    );
    let after = s.read_stream(&stream, 3, 10).await.unwrap();
    assert_eq!(after.iter().map(|e| e.id.seq).collect::<Vec<_>>(), vec![3]);

    raw.execute("UPDATE events SET payload = ?1 WHERE seq = 2", [&good])
        .unwrap();
    let healed = s.read_stream(&stream, 1, 10).await.unwrap();
    assert_eq!(
        healed.iter().map(|e| e.id.seq).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
}
