//! Reading an original ParkAI central database (`data/central.db`) for the cut-over import.
//!
//! The file is checked before anything is read: it must be SQLite, must not be in the middle of
//! a write by a running original central (a rollback journal or a non-empty WAL beside it, or a
//! lock that another connection holds), and must have the original's `history` and
//! `history_changes` tables with their key columns. Everything is then read in one read
//! transaction, so the rows are a consistent snapshot even if someone writes meanwhile. Column
//! values are read leniently (the original's Python code stored whatever it had: numbers as
//! text, text as numbers); deciding whether a row can be imported is `parkmesh_parking::parkai`'s
//! job. Nothing is ever written to the original file.

use std::path::Path;

use parkmesh_parking::parkai::{OriginalCamera, OriginalChange, OriginalLot, OriginalSession};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use crate::error::StorageError;

/// Everything read from an original database.
#[derive(Debug, Clone, Default)]
pub struct OriginalDb {
    /// `history` rows, by id.
    pub sessions: Vec<OriginalSession>,
    /// `history_changes` rows, by id.
    pub changes: Vec<OriginalChange>,
    /// `cameras` rows (empty when the table is absent).
    pub cameras: Vec<OriginalCamera>,
    /// `parking_lots` rows (empty when the table is absent).
    pub lots: Vec<OriginalLot>,
}

const SESSION_COLUMNS: [&str; 18] = [
    "id",
    "event_id",
    "source_central",
    "edge_id",
    "plate_id",
    "plate_view",
    "entry_time",
    "entry_camera_id",
    "entry_camera_name",
    "entry_confidence",
    "entry_source",
    "exit_time",
    "exit_camera_id",
    "exit_camera_name",
    "exit_confidence",
    "exit_source",
    "fee",
    "status",
];
const CHANGE_COLUMNS: [&str; 10] = [
    "id",
    "history_id",
    "change_type",
    "old_plate_id",
    "old_plate_view",
    "new_plate_id",
    "new_plate_view",
    "old_data",
    "changed_at",
    "changed_by",
];
const LOT_COLUMNS: [&str; 6] = [
    "id",
    "location_name",
    "capacity",
    "camera_id",
    "camera_type",
    "edge_id",
];
const CAMERA_COLUMNS: [&str; 3] = ["id", "name", "type"];

fn refuse(path: &Path, problem: impl Into<String>) -> StorageError {
    StorageError::Original {
        path: path.display().to_string(),
        problem: problem.into(),
    }
}

fn text(v: ValueRef<'_>) -> Option<String> {
    match v {
        ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Integer(i) => Some(i.to_string()),
        ValueRef::Real(f) => Some(f.to_string()),
        ValueRef::Null | ValueRef::Blob(_) => None,
    }
}

fn real(v: ValueRef<'_>) -> Option<f64> {
    match v {
        ValueRef::Integer(i) => Some(i as f64),
        ValueRef::Real(f) => Some(f),
        ValueRef::Text(t) => std::str::from_utf8(t).ok()?.trim().parse().ok(),
        ValueRef::Null | ValueRef::Blob(_) => None,
    }
}

fn int(v: ValueRef<'_>) -> Option<i64> {
    match v {
        ValueRef::Integer(i) => Some(i),
        ValueRef::Text(t) => {
            let t = std::str::from_utf8(t).ok()?.trim();
            t.parse()
                .ok()
                .or_else(|| t.parse::<f64>().ok().and_then(whole))
        }
        other => real(other).and_then(whole),
    }
}

fn whole(f: f64) -> Option<i64> {
    (f.is_finite() && f.abs() < 9.0e15).then_some(f.round() as i64)
}

/// Refuses a file that is not SQLite or that a running original central is writing.
fn check_file(path: &Path) -> Result<(), StorageError> {
    use std::io::Read as _;
    let mut header = [0u8; 16];
    let mut file = std::fs::File::open(path).map_err(|e| {
        refuse(
            path,
            format!("cannot open it ({e}); pass the original central's data/central.db"),
        )
    })?;
    let n = file.read(&mut header).unwrap_or(0);
    if n < 16 || &header != b"SQLite format 3\0" {
        return Err(refuse(
            path,
            "is not an SQLite database (no SQLite header); pass the original backend-central's \
             data/central.db",
        ));
    }
    let beside = |suffix: &str| {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
    };
    if beside("-journal") > 0 || beside("-wal") > 0 {
        return Err(refuse(
            path,
            "has an unfinished write beside it (a -journal or -wal file): the original central is \
             running or stopped mid-write; stop the original central (start and stop it once if it \
             had crashed), then import again",
        ));
    }
    Ok(())
}

/// The columns of `table`, or `None` when it does not exist.
fn columns(conn: &Connection, table: &str) -> Result<Option<Vec<String>>, StorageError> {
    let cols: Vec<String> = conn
        .prepare(&format!("PRAGMA table_info({table})"))?
        .query_map([], |r| r.get::<_, String>(1))?
        .collect::<Result<_, _>>()?;
    Ok((!cols.is_empty()).then_some(cols))
}

/// `SELECT` of `wanted` from `table` (absent columns read as NULL), ordered by id.
fn select(table: &str, have: &[String], wanted: &[&str]) -> String {
    let list: Vec<String> = wanted
        .iter()
        .map(|c| {
            if have.iter().any(|h| h.eq_ignore_ascii_case(c)) {
                format!("\"{c}\"")
            } else {
                "NULL".to_owned()
            }
        })
        .collect();
    format!("SELECT {} FROM {table} ORDER BY id", list.join(", "))
}

fn require(
    path: &Path,
    table: &str,
    have: Option<&Vec<String>>,
    needed: &[&str],
) -> Result<(), StorageError> {
    let Some(have) = have else {
        return Err(refuse(
            path,
            format!(
                "has no table {table}: this is not an original ParkAI central database (it needs \
                 the tables history and history_changes); pass the original backend-central's \
                 data/central.db"
            ),
        ));
    };
    for c in needed {
        if !have.iter().any(|h| h.eq_ignore_ascii_case(c)) {
            return Err(refuse(
                path,
                format!(
                    "table {table} has no column {c}: this is not an original ParkAI central \
                     database; pass the original backend-central's data/central.db"
                ),
            ));
        }
    }
    Ok(())
}

/// Reads an original ParkAI central database; see the module doc for what is refused.
pub fn read_original(path: &Path) -> Result<OriginalDb, StorageError> {
    check_file(path)?;
    let locked = || {
        refuse(
            path,
            "is locked by another program: the original central is writing it; stop the original \
             central, then import again",
        )
    };
    // Probe for a writer: an exclusive lock is refused while any other connection holds one.
    if let Ok(probe) = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    ) {
        match probe.execute_batch("BEGIN EXCLUSIVE; ROLLBACK;") {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) =>
            {
                return Err(locked());
            }
            _ => {}
        }
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| refuse(path, format!("cannot open it as SQLite ({e})")))?;
    let corrupt = |e: rusqlite::Error| match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(
                f.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ) =>
        {
            locked()
        }
        _ => refuse(
            path,
            format!("cannot be read as SQLite ({e}); check the file, or restore it from a backup"),
        ),
    };
    conn.execute_batch("BEGIN").map_err(corrupt)?;
    let history = columns(&conn, "history").map_err(|e| match e {
        StorageError::Write(e) => corrupt(e),
        other => other,
    })?;
    let changes = columns(&conn, "history_changes")?;
    require(
        path,
        "history",
        history.as_ref(),
        &["id", "plate_id", "entry_time", "status"],
    )?;
    require(
        path,
        "history_changes",
        changes.as_ref(),
        &["id", "history_id", "change_type"],
    )?;
    let mut out = OriginalDb::default();
    let history = history.unwrap_or_default();
    let mut stmt = conn.prepare(&select("history", &history, &SESSION_COLUMNS))?;
    let mut rows = stmt.query([]).map_err(corrupt)?;
    while let Some(r) = rows.next().map_err(corrupt)? {
        let v = |i: usize| r.get_ref(i).unwrap_or(ValueRef::Null);
        let Some(id) = int(v(0)) else { continue };
        out.sessions.push(OriginalSession {
            id,
            event_id: text(v(1)),
            source_central: text(v(2)),
            edge_id: text(v(3)),
            plate_id: text(v(4)),
            plate_view: text(v(5)),
            entry_time: text(v(6)),
            entry_camera_id: int(v(7)),
            entry_camera_name: text(v(8)),
            entry_confidence: real(v(9)),
            entry_source: text(v(10)),
            exit_time: text(v(11)),
            exit_camera_id: int(v(12)),
            exit_camera_name: text(v(13)),
            exit_confidence: real(v(14)),
            exit_source: text(v(15)),
            fee: int(v(16)),
            status: text(v(17)),
        });
    }
    drop(rows);
    drop(stmt);
    let changes = changes.unwrap_or_default();
    let mut stmt = conn.prepare(&select("history_changes", &changes, &CHANGE_COLUMNS))?;
    let mut rows = stmt.query([]).map_err(corrupt)?;
    while let Some(r) = rows.next().map_err(corrupt)? {
        let v = |i: usize| r.get_ref(i).unwrap_or(ValueRef::Null);
        let Some(id) = int(v(0)) else { continue };
        out.changes.push(OriginalChange {
            id,
            history_id: int(v(1)),
            change_type: text(v(2)),
            old_plate_id: text(v(3)),
            old_plate_view: text(v(4)),
            new_plate_id: text(v(5)),
            new_plate_view: text(v(6)),
            old_data: text(v(7)),
            changed_at: text(v(8)),
            changed_by: text(v(9)),
        });
    }
    drop(rows);
    drop(stmt);
    if let Some(have) = columns(&conn, "parking_lots")? {
        let mut stmt = conn.prepare(&select("parking_lots", &have, &LOT_COLUMNS))?;
        let mut rows = stmt.query([]).map_err(corrupt)?;
        while let Some(r) = rows.next().map_err(corrupt)? {
            let v = |i: usize| r.get_ref(i).unwrap_or(ValueRef::Null);
            let Some(id) = int(v(0)) else { continue };
            out.lots.push(OriginalLot {
                id,
                location_name: text(v(1)),
                capacity: int(v(2)),
                camera_id: int(v(3)),
                camera_type: text(v(4)),
                edge_id: text(v(5)),
            });
        }
    }
    if let Some(have) = columns(&conn, "cameras")? {
        let mut stmt = conn.prepare(&select("cameras", &have, &CAMERA_COLUMNS))?;
        let mut rows = stmt.query([]).map_err(corrupt)?;
        while let Some(r) = rows.next().map_err(corrupt)? {
            let v = |i: usize| r.get_ref(i).unwrap_or(ValueRef::Null);
            let Some(id) = int(v(0)) else { continue };
            out.cameras.push(OriginalCamera {
                id,
                name: text(v(1)).unwrap_or_else(|| format!("camera {id}")),
                camera_type: text(v(2)).unwrap_or_else(|| "ENTRY".to_owned()),
            });
        }
    }
    conn.execute_batch("COMMIT").map_err(corrupt)?;
    Ok(out)
}
