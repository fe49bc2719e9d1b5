//! Helpers shared by the storage tests: a storage on a temp dir, the site time zone, and an
//! edge-shaped entry payload.

#![allow(dead_code, unreachable_pub)]

use parkmesh_parking::payload::EntryPayload;
use parkmesh_protocol::CentralId;
use parkmesh_storage::{Storage, StorageOptions};

pub fn tz() -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get("Asia/Ho_Chi_Minh").unwrap()
}

/// Opens (or reopens) the storage of central `id` in `dir`.
pub async fn open(dir: &std::path::Path, id: &str) -> Storage {
    Storage::open(StorageOptions {
        db_path: dir.join("central.db"),
        origin: CentralId::new(id).unwrap(),
        tz: tz(),
    })
    .await
    .unwrap()
}

/// An event of stream (`origin`, `incarnation`) at `seq`, stamped `at` (ms) with counter 0.
pub fn stream_event(
    origin: &str,
    incarnation: u64,
    seq: u64,
    at: i64,
    kind: parkmesh_protocol::EventKind,
    payload: serde_json::Value,
) -> parkmesh_protocol::Event {
    parkmesh_protocol::Event {
        id: parkmesh_protocol::EventId {
            origin: parkmesh_protocol::CentralId::new(origin).unwrap(),
            incarnation,
            seq,
        },
        hlc: parkmesh_protocol::Hlc {
            wall_ms: at as u64,
            counter: 0,
        },
        kind,
        payload,
        schema: 1,
    }
}

/// An entry at gate camera 1 at `at_ms`.
pub fn entry(plate: &str, at_ms: i64) -> EntryPayload {
    EntryPayload {
        plate_id: plate.into(),
        plate_view: plate.into(),
        at_ms,
        time_clamped: false,
        late: false,
        operator: None,
        camera_id: Some(1),
        camera_name: "Gate".into(),
        camera_type: "ENTRY".into(),
        confidence: 0.9,
        source: "auto".into(),
        edge_event_id: None,
        edge_id: Some("1".into()),
    }
}
