//! Original ParkAI central databases for the import tests: the original schema (`parkai.sql`)
//! and rows as the original wrote them.

use std::path::Path;
use std::process::{Command, Output};

use rusqlite::{Connection, params};

/// The original central's DDL.
pub const DDL: &str = include_str!("parkai.sql");

/// Creates an original-schema database at `path`.
pub fn create(path: &Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(DDL).unwrap();
    conn
}

/// Site-local `YYYY-MM-DD HH:MM:SS` text (Asia/Ho_Chi_Minh) of `ms`.
pub fn local(ms: i64) -> String {
    let tz = jiff::tz::TimeZone::get("Asia/Ho_Chi_Minh").unwrap();
    jiff::Timestamp::from_millisecond(ms)
        .unwrap()
        .to_zoned(tz)
        .strftime("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// One original session row.
#[derive(Debug, Clone, Default)]
pub struct Row {
    pub id: i64,
    pub event_id: Option<String>,
    pub source_central: Option<String>,
    pub plate_id: String,
    pub plate_view: String,
    pub entry_time: String,
    /// (exit_time, fee) of an OUT row.
    pub exit: Option<(String, i64)>,
}

impl Row {
    /// A session of `plate` that entered at `entry_ms` (edge event id from the time and plate).
    pub fn new(id: i64, plate: &str, entry_ms: i64) -> Self {
        let plate_id: String = plate
            .to_uppercase()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        Self {
            id,
            event_id: Some(format!("edge-1_{entry_ms}_{plate_id}")),
            source_central: None,
            plate_id,
            plate_view: plate.to_uppercase(),
            entry_time: local(entry_ms),
            exit: None,
        }
    }

    pub fn out(mut self, exit_ms: i64, fee: i64) -> Self {
        self.exit = Some((local(exit_ms), fee));
        self
    }

    /// A copy replicated from `central` (as the original's P2P layer stores it).
    pub fn from(mut self, central: &str) -> Self {
        self.source_central = Some(central.to_owned());
        self
    }
}

/// Inserts `row` the way the original wrote it.
pub fn insert(conn: &Connection, r: &Row) {
    let synced = r.source_central.is_some();
    conn.execute(
        "INSERT INTO history (id, event_id, source_central, edge_id, plate_id, plate_view, entry_time,
                entry_camera_id, entry_camera_name, entry_confidence, entry_source, exit_time, exit_camera_id,
                exit_camera_name, exit_confidence, exit_source, duration, fee, status, sync_status)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
        params![
            r.id,
            r.event_id,
            r.source_central,
            synced.then_some("1"),
            r.plate_id,
            r.plate_view,
            r.entry_time,
            (!synced).then_some(1),
            if synced { format!("{}/1", r.source_central.as_deref().unwrap_or("")) } else { "Cổng vào".to_owned() },
            if synced { 0.0 } else { 0.91 },
            if synced { "p2p_sync" } else { "auto" },
            r.exit.as_ref().map(|e| e.0.clone()),
            r.exit.as_ref().map(|_| 2),
            r.exit.as_ref().map(|_| "Cổng ra"),
            r.exit.as_ref().map(|_| 0.88),
            r.exit.as_ref().map(|_| "auto"),
            r.exit.as_ref().map(|_| "1 giờ 30 phút"),
            r.exit.as_ref().map_or(0, |e| e.1),
            if r.exit.is_some() { "OUT" } else { "IN" },
            if synced { "SYNCED" } else { "LOCAL" },
        ],
    )
    .unwrap();
}

/// Records a plate correction of row `id` as the original did (row updated, audit row added).
pub fn edit(conn: &Connection, id: i64, new_plate: &str) {
    let (old_id, old_view): (String, String) = conn
        .query_row(
            "SELECT plate_id, plate_view FROM history WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    conn.execute(
        "UPDATE history SET plate_id = ?2, plate_view = ?2, updated_at = CURRENT_TIMESTAMP WHERE id = ?1",
        params![id, new_plate],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO history_changes (history_id, change_type, old_plate_id, old_plate_view, new_plate_id,
                new_plate_view, old_data, new_data)
         VALUES (?1, 'UPDATE', ?2, ?3, ?4, ?4, '{}', '{}')",
        params![id, old_id, old_view, new_plate],
    )
    .unwrap();
}

/// Deletes row `id` as the original did (hard delete, audit row with the old row as JSON).
pub fn delete(conn: &Connection, id: i64) {
    let old: String = conn
        .query_row(
            "SELECT json_object('id', id, 'event_id', event_id, 'source_central', source_central,
                    'plate_id', plate_id, 'plate_view', plate_view, 'entry_time', entry_time,
                    'exit_time', exit_time, 'fee', fee, 'status', status)
               FROM history WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap();
    conn.execute(
        "INSERT INTO history_changes (history_id, change_type, old_plate_id, old_plate_view, old_data)
         SELECT id, 'DELETE', plate_id, plate_view, ?2 FROM history WHERE id = ?1",
        params![id, old],
    )
    .unwrap();
    conn.execute("DELETE FROM history WHERE id = ?1", [id])
        .unwrap();
}

/// Runs `central-server import-parkai --config CONFIG --from DB [extra...]`.
pub fn import(config: &Path, db: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_central-server"))
        .arg("import-parkai")
        .arg("--config")
        .arg(config)
        .arg("--from")
        .arg(db)
        .args(extra)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

/// stdout and stderr of a finished command, for messages.
pub fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The count on the summary line `name` of an import's stdout.
pub fn count(stdout: &str, name: &str) -> u64 {
    stdout
        .lines()
        .find(|l| l.trim_start().starts_with(name))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no line {name:?} in {stdout}"))
}
