//! Crash safety: SIGKILL a central while an edge is posting, restart it, and check that every
//! event that got a 200 is there exactly once and that the projection equals a rebuild from
//! the event log.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use parkmesh_protocol::CentralId;
use parkmesh_storage::{HistoryQuery, Storage, StorageOptions};
use serde_json::json;

use common::now_secs;

/// Kill/restart rounds (each kills the server mid-stream): `CRASH_ROUNDS`, default 3 for CI.
fn rounds() -> usize {
    std::env::var("CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

#[test]
fn sigkill_while_posting_loses_nothing_acknowledged() {
    let mut c = common::start("central-1", json!({}));
    let acked: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let mut next = 0usize;
    let rounds = rounds();
    for round in 0..rounds {
        let stop = Arc::new(AtomicBool::new(false));
        let (port, acked2, stop2) = (c.api_port, acked.clone(), stop.clone());
        let start = next;
        let poster = std::thread::spawn(move || {
            let mut i = start;
            while !stop2.load(Ordering::Relaxed) {
                let plate = format!("30K{i:05}");
                let ev = json!({ "type": "ENTRY", "camera_id": 1, "timestamp": now_secs(), "event_id": format!("e-{i}"),
                                 "data": { "plate_text": plate, "confidence": 0.9 } });
                let body = serde_json::to_vec(&ev).unwrap();
                if let Ok((200, _)) =
                    common::request(port, "POST", "/api/edge/event", Some(&body), &[])
                {
                    acked2.lock().unwrap().insert(plate);
                }
                i += 1;
            }
            i
        });
        std::thread::sleep(Duration::from_millis(300 + 200 * (round % 5) as u64));
        common::stop(&mut c); // SIGKILL
        stop.store(true, Ordering::Relaxed);
        next = poster.join().unwrap();
        common::restart(&mut c);
    }
    common::stop(&mut c);
    let acked = acked.lock().unwrap().clone();
    assert!(!acked.is_empty());

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let storage = Storage::open(StorageOptions {
            db_path: c.dir.path().join("data/central.db"),
            origin: CentralId::new("central-1").unwrap(),
            tz: jiff::tz::TimeZone::get("Asia/Ho_Chi_Minh").unwrap(),
        })
        .await
        .unwrap();
        let rows = storage
            .history(&HistoryQuery {
                limit: i64::MAX,
                ..Default::default()
            })
            .await
            .unwrap();
        common::assert_stored_once(rows.iter().map(|r| r.plate_id.as_str()), &acked);
        // The projection equals a rebuild from the log.
        let events = storage.all_events().await.unwrap();
        let rebuilt = parkmesh_parking::project(&events);
        let n: usize = rebuilt.plates.values().map(|p| p.sessions.len()).sum();
        assert_eq!(n, rows.len());
        let v = storage.vector().await.unwrap();
        assert_eq!(
            v.get(storage.stream()) as usize,
            events.len(),
            "the vector covers the whole log, no gaps"
        );
    });
}
