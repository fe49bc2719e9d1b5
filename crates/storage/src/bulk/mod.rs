//! The bulk import of an original ParkAI database's sessions: one writer command, one
//! transaction, events inserted with prepared statements and projections folded in memory.
//!
//! The normal path re-folds a plate from the database for every event (~300 000 instructions an
//! event); a million-row import needs far less. Here sessions are sorted by plate, their events
//! are inserted in that order (consecutive seqs of this central's stream), and when a plate's
//! events are all written they are folded once with the same `fold_plate` the writer uses and
//! their rows inserted. That shortcut is only taken for plates the result cannot depend on
//! anything else for: a plate that already had events in the database, or whose sessions get a
//! plate correction (which moves sessions between plates), is instead re-folded at the end
//! through the normal `refold::refold`, in the same transaction. So the projection is exactly
//! what the normal path would hold for the same events. The JSON, clock and fold work runs on
//! a thread of its own that hands the writer one finished batch per plate (`prepare`), so it
//! overlaps SQLite's inserts, and the secondary indexes the walk does not read are dropped while
//! it runs and built again (sorted once) before the commit.
//!
//! Idempotency: every imported event carries an import key ([`parkmesh_parking::import`]). The
//! keys already in the log (imported here earlier, or imported by a peer and replicated) are read
//! inside the transaction, and an entry, exit or change whose key is present is skipped. The
//! same walk, without writing, gives the dry-run's report ([`preview`]).

use std::collections::HashMap;
use std::path::Path;

use parkmesh_parking::parkai::{ChangeKind, OriginalCamera, PlannedChange, PlannedSession};
use parkmesh_parking::payload::ZoneConfigPayload;
use parkmesh_protocol::EventKind;
use rusqlite::{Connection, OpenFlags, params};

use crate::error::StorageError;

mod prepare;
mod write;

/// What to import.
#[derive(Debug, Clone, Default)]
pub struct ImportInput {
    /// Sessions (with their corrections and deletes).
    pub sessions: Vec<PlannedSession>,
    /// In-lot zones (`zone.config`).
    pub zones: Vec<ZoneConfigPayload>,
    /// Edge cameras (this central's local registry, offline until their next heartbeat).
    pub cameras: Vec<OriginalCamera>,
    /// Replicated settings: `fees.set`, `subscriptions.set`, `staff.set` payloads.
    pub settings: Vec<(EventKind, serde_json::Value)>,
}

/// What an import wrote (or, in a dry run, would write).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// New sessions still inside.
    pub sessions_in: u64,
    /// New sessions that have left.
    pub sessions_out: u64,
    /// Exits added to a session already present (imported earlier without its exit).
    pub exits_added: u64,
    /// Plate corrections.
    pub edits: u64,
    /// Deletes.
    pub deletes: u64,
    /// Zones set.
    pub zones: u64,
    /// Cameras added.
    pub cameras: u64,
    /// Settings set (fees, subscriptions, staff).
    pub settings: u64,
    /// Entries, exits, changes, zones, cameras and settings already present (skipped).
    pub skipped: u64,
    /// Events appended.
    pub events: u64,
}

/// Called with (sessions done, sessions total) while a bulk import runs.
pub type Progress = Box<dyn Fn(u64, u64) + Send>;

const IMPORT_KINDS: [EventKind; 4] = [
    EventKind::VehicleEntry,
    EventKind::VehicleExit,
    EventKind::HistoryEdit,
    EventKind::HistoryDelete,
];

/// Import keys already in a log: per kind (index in [`IMPORT_KINDS`]) and key, the event id.
#[derive(Debug, Default)]
struct Known([HashMap<String, String>; 4]);

fn slot(kind: &EventKind) -> usize {
    IMPORT_KINDS.iter().position(|k| k == kind).unwrap_or(0)
}

impl Known {
    fn read(conn: &Connection) -> Result<Self, StorageError> {
        let mut out = Self::default();
        // Every event of these kinds is decoded: the compact payloads cannot be searched in SQL.
        let mut stmt = conn.prepare(&format!(
            "SELECT kind, {}, payload FROM events WHERE kind IN (?1, ?2, ?3, ?4)",
            crate::events::id_text_of("events")
        ))?;
        let mut rows = stmt.query(params![
            crate::codec::kind_value(&IMPORT_KINDS[0]),
            crate::codec::kind_value(&IMPORT_KINDS[1]),
            crate::codec::kind_value(&IMPORT_KINDS[2]),
            crate::codec::kind_value(&IMPORT_KINDS[3])
        ])?;
        while let Some(r) = rows.next()? {
            let id: String = r.get(1)?;
            let stored = crate::codec::StoredPayload::of(r.get_ref(2)?).ok_or_else(|| {
                StorageError::Corrupt(format!(
                    "event {id}: the stored payload is neither text nor a blob"
                ))
            })?;
            let payload = crate::codec::decode_stored(stored, &|| format!("event {id}"))?;
            let key = payload
                .get(parkmesh_parking::import::IMPORT_FIELD)
                .and_then(|t| t.get("key"))
                .and_then(serde_json::Value::as_str);
            if let Some(key) = key {
                let kind = match crate::events::kind_from_row_w(r, 0)? {
                    crate::events::KindColumn::Code(code) => crate::codec::kind_of_code(code)
                        .unwrap_or_else(|| EventKind::from(String::new())),
                    crate::events::KindColumn::Text(text) => EventKind::from(text),
                };
                out.0[slot(&kind)].entry(key.to_owned()).or_insert(id);
            }
        }
        Ok(out)
    }

    fn get(&self, kind: &EventKind, key: &str) -> Option<&String> {
        self.0[slot(kind)].get(key)
    }

    fn insert(&mut self, kind: &EventKind, key: &str, id: String) {
        self.0[slot(kind)].insert(key.to_owned(), id);
    }
}

/// Where the walk's decisions go: the writer writes, the preview counts.
trait Sink {
    /// Writes an entry; returns its event id.
    fn entry(&mut self, s: &PlannedSession) -> Result<String, StorageError>;
    fn exit(&mut self, s: &PlannedSession) -> Result<String, StorageError>;
    fn change(
        &mut self,
        s: &PlannedSession,
        c: &PlannedChange,
        target: &str,
    ) -> Result<String, StorageError>;
    /// Every event of `plate` has been written.
    fn plate_done(&mut self, plate: &str) -> Result<(), StorageError>;
    fn progress(&mut self, done: u64, total: u64);
}

/// Walks the sessions in plate order, skipping what `known` holds; counts into `report`.
fn walk(
    sessions: &[PlannedSession],
    known: &mut Known,
    sink: &mut dyn Sink,
    report: &mut ImportReport,
) -> Result<(), StorageError> {
    let mut order: Vec<&PlannedSession> = sessions.iter().collect();
    order.sort_by(|a, b| {
        (&a.entry.plate_id, a.entry.at_ms, a.row_id).cmp(&(
            &b.entry.plate_id,
            b.entry.at_ms,
            b.row_id,
        ))
    });
    let total = order.len() as u64;
    for (i, s) in order.iter().enumerate() {
        let (entry_id, entry_new) = match known.get(&EventKind::VehicleEntry, &s.key) {
            Some(id) => {
                report.skipped += 1;
                (id.clone(), false)
            }
            None => {
                let id = sink.entry(s)?;
                if s.exit.is_some() {
                    report.sessions_out += 1;
                } else {
                    report.sessions_in += 1;
                }
                known.insert(&EventKind::VehicleEntry, &s.key, id.clone());
                (id, true)
            }
        };
        if s.exit.is_some() {
            if known.get(&EventKind::VehicleExit, &s.key).is_some() {
                report.skipped += 1;
            } else {
                let id = sink.exit(s)?;
                known.insert(&EventKind::VehicleExit, &s.key, id);
                if !entry_new {
                    // The session was present without its exit (it was IN where imported first).
                    report.exits_added += 1;
                }
            }
        }
        for c in &s.changes {
            let kind = match c.kind {
                ChangeKind::Edit { .. } => EventKind::HistoryEdit,
                ChangeKind::Delete => EventKind::HistoryDelete,
            };
            if known.get(&kind, &c.key).is_some() {
                report.skipped += 1;
                continue;
            }
            let id = sink.change(s, c, &entry_id)?;
            known.insert(&kind, &c.key, id);
            match c.kind {
                ChangeKind::Edit { .. } => report.edits += 1,
                ChangeKind::Delete => report.deletes += 1,
            }
        }
        let last_of_plate = order
            .get(i + 1)
            .is_none_or(|n| n.entry.plate_id != s.entry.plate_id);
        if last_of_plate {
            sink.plate_done(&s.entry.plate_id)?;
        }
        if i % 4096 == 4095 || i + 1 == order.len() {
            sink.progress(i as u64 + 1, total);
        }
    }
    Ok(())
}

/// Counts without writing (the dry run).
struct Count(u64);

impl Sink for Count {
    fn entry(&mut self, _: &PlannedSession) -> Result<String, StorageError> {
        self.0 += 1;
        Ok(format!("new:{}", self.0))
    }
    fn exit(&mut self, s: &PlannedSession) -> Result<String, StorageError> {
        self.entry(s)
    }
    fn change(
        &mut self,
        s: &PlannedSession,
        _: &PlannedChange,
        _: &str,
    ) -> Result<String, StorageError> {
        self.entry(s)
    }
    fn plate_done(&mut self, _: &str) -> Result<(), StorageError> {
        Ok(())
    }
    fn progress(&mut self, _: u64, _: u64) {}
}

/// The newest value of setting `key` and of each zone, to skip settings that would not change.
fn setting_is(
    conn: &Connection,
    key: &str,
    value: &serde_json::Value,
) -> Result<bool, StorageError> {
    Ok(crate::settings::setting(conn, key)?
        .and_then(|v| serde_json::from_str::<serde_json::Value>(&v).ok())
        .is_some_and(|v| v == *value))
}

fn zone_is(conn: &Connection, z: &ZoneConfigPayload) -> Result<bool, StorageError> {
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM zones WHERE location_name = ?1 AND capacity = ?2 AND camera_id IS ?3
                AND camera_type IS ?4 AND edge_id IS ?5",
        )?
        .exists(params![
            z.location_name,
            z.capacity,
            z.camera_id,
            z.camera_type,
            z.edge_id
        ])?)
}

fn setting_key(kind: &EventKind) -> &'static str {
    match kind {
        EventKind::FeesSet => "fees",
        EventKind::SubscriptionsSet => "subscriptions",
        EventKind::StaffSet => "staff",
        _ => "",
    }
}

/// What importing `input` into the database at `db_path` would do, without writing (a missing
/// database counts as empty).
pub fn preview(db_path: &Path, input: &ImportInput) -> Result<ImportReport, StorageError> {
    let mut report = ImportReport::default();
    let conn = if db_path.exists() {
        Some(Connection::open_with_flags(
            db_path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?)
    } else {
        None
    };
    let mut known = match &conn {
        Some(c) => Known::read(c)?,
        None => Known::default(),
    };
    let mut count = Count(0);
    walk(&input.sessions, &mut known, &mut count, &mut report)?;
    for z in &input.zones {
        match &conn {
            Some(c) if zone_is(c, z)? => report.skipped += 1,
            _ => report.zones += 1,
        }
    }
    for (kind, value) in &input.settings {
        match &conn {
            Some(c) if setting_is(c, setting_key(kind), value)? => report.skipped += 1,
            _ => report.settings += 1,
        }
    }
    for cam in &input.cameras {
        let present = match &conn {
            Some(c) => c
                .prepare_cached("SELECT 1 FROM cameras WHERE id = ?1")?
                .exists([cam.id])?,
            None => false,
        };
        if present {
            report.skipped += 1;
        } else {
            report.cameras += 1;
        }
    }
    report.events = count.0 + report.zones + report.settings;
    Ok(report)
}
