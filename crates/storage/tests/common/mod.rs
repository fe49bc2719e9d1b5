//! Helpers shared by the storage tests: the backend under test, a storage on a temp dir, the
//! site time zone, and an edge-shaped entry payload.
//!
//! The contract tests (`contract_*.rs`) open their storage with [`open`] and read stored rows
//! with [`snapshot`], both through the backend under test ([`Backend::under_test`]), so the same
//! tests run against every backend; the `sqlite_*.rs` tests are about the SQLite backend's own
//! file.

#![allow(dead_code, unreachable_pub)]

pub mod scenario;

use parkmesh_parking::payload::EntryPayload;
use parkmesh_protocol::CentralId;
use parkmesh_storage::{Storage, StorageOptions};

pub fn tz() -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get("Asia/Ho_Chi_Minh").unwrap()
}

/// A storage backend the contract tests can run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded SQLite file (`central.db` in the test's directory).
    Sqlite,
}

impl Backend {
    /// The backend named by `PARKMESH_TEST_BACKEND` (`sqlite`, the default when unset).
    pub fn under_test() -> Self {
        match std::env::var("PARKMESH_TEST_BACKEND").as_deref() {
            Err(_) | Ok("sqlite") => Self::Sqlite,
            Ok(other) => panic!("PARKMESH_TEST_BACKEND={other:?}: no such backend (known: sqlite)"),
        }
    }

    /// Opens (or reopens) the storage of central `id` kept in `dir`.
    pub async fn open(self, dir: &std::path::Path, id: &str) -> Storage {
        match self {
            Self::Sqlite => Storage::open(StorageOptions {
                db_path: dir.join("central.db"),
                origin: CentralId::new(id).unwrap(),
                tz: tz(),
            })
            .await
            .unwrap(),
        }
    }

    /// Every stored session (deleted ones too) without the local columns, ordered by session
    /// id, and every conflict without its local id, as this backend holds them.
    pub fn snapshot(self, db: &std::path::Path) -> Snapshot {
        match self {
            Self::Sqlite => sqlite_snapshot(db),
        }
    }
}

/// Opens (or reopens) the storage of central `id` in `dir`, on the backend under test.
pub async fn open(dir: &std::path::Path, id: &str) -> Storage {
    Backend::under_test().open(dir, id).await
}

/// [`Backend::snapshot`] of the backend under test; `db` is the storage's database file in the
/// test's directory.
pub fn snapshot(db: &std::path::Path) -> Snapshot {
    Backend::under_test().snapshot(db)
}

/// Stored sessions (each a list of column name and value, values as JSON so that any backend
/// can give them) and conflicts (plate key, kind, winner, losers, time).
pub type Snapshot = (
    Vec<Vec<(String, serde_json::Value)>>,
    Vec<(String, String, String, String, i64)>,
);

fn sqlite_snapshot(db: &std::path::Path) -> Snapshot {
    use rusqlite::types::Value;
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
                    let v = match r.get::<_, Value>(i)? {
                        Value::Null => serde_json::Value::Null,
                        Value::Integer(n) => n.into(),
                        Value::Real(x) => x.into(),
                        Value::Text(t) => t.into(),
                        Value::Blob(b) => b.into(),
                    };
                    row.push((name.clone(), v));
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
    EntryPayload::read(plate, at_ms)
        .with_camera(1, "Gate", "ENTRY")
        .with_read(0.9, "auto")
        .with_edge("1", None)
}
