//! The writer's side of a bulk import: one transaction in which the preparing thread's
//! per-plate batches (`prepare.rs`) are inserted with cached statements, plates that had events
//! before are re-folded through the database at the end, and zones, settings, cameras and the
//! stream head follow.

use std::collections::BTreeSet;
use std::sync::LazyLock;
use std::sync::mpsc::sync_channel;

use parkmesh_parking::payload::{Payload, ZoneConfigPayload};
use parkmesh_protocol::{Event, EventId, EventKind};
use rusqlite::params;

use super::prepare::{PlateBatch, Prepare};
use super::{ImportInput, ImportReport, Known, Progress, setting_is, setting_key, walk, zone_is};
use crate::error::StorageError;
use crate::events::RAW_PLATE;
use crate::report;
use crate::work::WorkingSet;
use crate::write_conn::WriteConn;
use crate::{append, refold};

/// Whether plate `?1` has vehicle events: under its group key, or moved away from its raw plate
/// (formatted once, not for every plate of an import).
static HAS_VEHICLES: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT EXISTS (SELECT 1 FROM events WHERE group_key = ?1)
             OR EXISTS (SELECT 1 FROM events t WHERE {})",
        RAW_PLATE[1]
    )
});

/// Plate batches the preparing thread may run ahead of the writer.
const AHEAD: usize = 256;

impl WriteConn {
    /// Runs a bulk import in its own transaction; on any error nothing is written.
    pub(crate) fn import(
        &mut self,
        input: ImportInput,
        progress: Option<Progress>,
    ) -> Result<ImportReport, StorageError> {
        let (seq, hlc) = (self.next_seq, self.hlc);
        let rollback_journal = self.leave_wal();
        // A large page cache for the duration of the import (the default is 2 MB).
        self.conn
            .execute_batch("PRAGMA cache_size = -262144; BEGIN IMMEDIATE")?;
        let res = self.import_tx(input, progress);
        tracing::info!(ok = res.is_ok(), "import: ending the transaction");
        let end = match &res {
            Ok(_) => self.conn.execute_batch("COMMIT"),
            Err(_) => self.conn.execute_batch("ROLLBACK"),
        };
        let _ = self.conn.execute_batch("PRAGMA cache_size = -2000");
        if rollback_journal {
            self.return_to_wal();
        }
        let res = match (res, end) {
            (Ok(r), Ok(())) => Ok(r),
            (Ok(_), Err(e)) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e.into())
            }
            (Err(e), _) => Err(e),
        };
        if res.is_err() {
            self.next_seq = seq;
            self.hlc = hlc;
        }
        res
    }

    /// Switches the database to a rollback journal for the import when this is the only
    /// connection to it (as under `central-server import-parkai`, which refuses a database a
    /// running central has open): in WAL mode each of the import's pages is written twice, into
    /// the WAL and again by the checkpoint after the commit, and every read looks the WAL up
    /// first; with a rollback journal the new pages go straight into the database file and the
    /// journal holds only the few pages that existed before. The commit stays atomic and
    /// durable (`synchronous = FULL`; a crash leaves a journal that the next open rolls back).
    /// When another connection is open (a central serving while an embedding application
    /// imports), SQLite refuses the switch at once and the import runs in WAL mode as before.
    fn leave_wal(&mut self) -> bool {
        match self
            .conn
            .query_row("PRAGMA journal_mode = DELETE", [], |r| {
                r.get::<_, String>(0)
            }) {
            Ok(mode) if mode.eq_ignore_ascii_case("delete") => {
                tracing::info!(
                    "import: writing with a rollback journal (no other connection is open)"
                );
                true
            }
            Ok(mode) => {
                tracing::info!(%mode, "import: keeping the journal mode");
                false
            }
            Err(error) => {
                tracing::info!(%error, "import: keeping the WAL (another connection is open)");
                false
            }
        }
    }

    /// Back to WAL mode after an import with a rollback journal. Should that fail, the next
    /// start of the writer sets it again; readers work in either mode meanwhile.
    fn return_to_wal(&mut self) {
        match self
            .conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))
        {
            Ok(mode) if mode.eq_ignore_ascii_case("wal") => {}
            Ok(mode) => tracing::warn!(%mode, "import: could not return to WAL mode"),
            Err(error) => tracing::warn!(%error, "import: could not return to WAL mode"),
        }
    }

    /// Inserts one plate's batch: its events and audit rows, then its rows folded in memory,
    /// unless the plate must be re-folded through the database at the end (`complex`): it had
    /// events before the import, or a correction moves its sessions between plates.
    fn store(
        &mut self,
        batch: PlateBatch,
        had_vehicles: bool,
        now: &crate::rows::Now,
        complex: &mut BTreeSet<String>,
        days: &mut BTreeSet<i64>,
    ) -> Result<(), StorageError> {
        // Asked before the batch's own events are in.
        let had = had_vehicles
            && self
                .conn
                .prepare_cached(&HAS_VEHICLES)?
                .query_row([&batch.plate], |r| r.get::<_, bool>(0))?;
        {
            let mut insert = self.conn.prepare_cached(
                "INSERT INTO events (origin, incarnation, seq, hlc_ms, hlc_counter, kind, schema,
                                     payload, plate_key, group_key, session_ref)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, NULL, ?8, ?9)",
            )?;
            for e in &batch.events {
                let inserted = insert.execute(params![
                    self.stream.origin.as_str(),
                    self.stream.incarnation as i64,
                    e.seq as i64,
                    e.hlc.wall_ms as i64,
                    i64::from(e.hlc.counter),
                    crate::codec::kind_value(&e.kind),
                    e.payload,
                    e.plate,
                    e.target,
                ])?;
                if inserted != 1 {
                    return Err(StorageError::Corrupt(format!(
                        "event {} not stored",
                        e.id_text
                    )));
                }
            }
            let mut audit = self.conn.prepare_cached(
                "INSERT OR IGNORE INTO history_changes (change_event, session_id, change_type, old_plate_id,
                        old_plate_view, new_plate_id, new_plate_view, changed_at_ms, changed_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            for a in &batch.audits {
                audit.execute(params![
                    a.change_event,
                    a.session,
                    a.change_type,
                    a.old.0,
                    a.old.1,
                    a.new.0,
                    a.new.1,
                    a.at_ms,
                    a.changed_by,
                ])?;
            }
        }
        if had || batch.corrected {
            complex.insert(batch.plate);
            return Ok(());
        }
        for row in &batch.rows {
            days.extend(
                row.entry_ms
                    .into_iter()
                    .chain(row.exit_ms)
                    .map(report::utc_day),
            );
            if crate::sessions::insert_row_unmarked(&self.conn, &self.tz, now, row)?.is_none() {
                return Err(StorageError::Corrupt(format!(
                    "history row of session {} already present",
                    row.session_id
                )));
            }
        }
        for c in &batch.conflicts {
            self.no_conflicts = false;
            self.conn
                .prepare_cached("INSERT INTO conflicts (plate_key, kind, winner, losers, at_ms) VALUES (?1, ?2, ?3, ?4, ?5)")?
                .execute(params![batch.plate, c.kind, c.winner, serde_json::to_string(&c.losers)?, c.at_ms])?;
        }
        Ok(())
    }

    fn import_tx(
        &mut self,
        input: ImportInput,
        progress: Option<Progress>,
    ) -> Result<ImportReport, StorageError> {
        let now = parkmesh_clock::now_ms();
        let stamp = crate::rows::Now::new(now, &self.tz);
        let report = ImportReport::default();
        let mut known = Known::read(&self.conn)?;
        let had_vehicles: bool = self.conn.query_row(
            // (Group and raw plate are set together.)
            "SELECT EXISTS (SELECT 1 FROM events WHERE group_key IS NOT NULL)",
            [],
            |r| r.get(0),
        )?;
        let first_seq = self.next_seq;
        let deferred = drop_indexes(&self.conn)?;
        let (tx, rx) = sync_channel::<PlateBatch>(AHEAD);
        let prepare = Prepare {
            stream: self.stream.clone(),
            next_seq: self.next_seq,
            hlc: self.hlc,
            now,
            now_text: stamp.text.clone(),
            tz: self.tz.clone(),
            progress,
            out: tx,
            plate: Vec::new(),
            plate_ids: Default::default(),
            batch: PlateBatch::default(),
            late_targets: Vec::new(),
            events: 0,
        };
        let (mut complex, mut days) = (BTreeSet::new(), BTreeSet::new());
        let (walked, stored) = std::thread::scope(|scope| {
            let sessions = &input.sessions;
            let preparing = scope.spawn(move || {
                let (mut prepare, mut report) = (prepare, report);
                let walked = walk(sessions, &mut known, &mut prepare, &mut report);
                walked.map(|()| (prepare.finish(), report))
            });
            // Ends when the preparing thread drops its sender (done or failed); on an error
            // here `rx` is dropped, so the preparing thread's next send fails and it stops.
            let stored = rx.into_iter().try_for_each(|batch| {
                self.store(batch, had_vehicles, &stamp, &mut complex, &mut days)
            });
            let walked = preparing.join().unwrap_or_else(|_| {
                Err(StorageError::Corrupt(
                    "the import's preparing thread panicked".into(),
                ))
            });
            (walked, stored)
        });
        stored?;
        let (prepared, mut report) = walked?;
        self.next_seq = prepared.next_seq;
        self.hlc = prepared.hlc;
        tracing::info!(
            events = prepared.events,
            indexes = deferred.len(),
            "import: events and rows written, building indexes"
        );
        for sql in deferred {
            self.conn.execute_batch(&sql)?;
        }
        for day in days {
            report::mark_day(&self.conn, day)?;
        }
        let mut plates = complex;
        for target in prepared.late_targets {
            plates.extend(crate::events::plate_of(&self.conn, &target)?.flatten());
        }
        report.events = prepared.events;
        let w = self;
        // Zones and settings through the normal projection (few events).
        let mut dirty = WorkingSet {
            plates,
            no_conflicts: w.no_conflicts,
            full: true,
            ..WorkingSet::default()
        };
        // The plates folded above have rows but no settled points: their next fold is a full one.
        w.conn.execute("DELETE FROM settled_points", [])?;
        crate::group::note_all_edits(&w.conn)?;
        let mut others: Vec<(EventKind, serde_json::Value)> = Vec::new();
        for z in input.zones {
            if zone_is(&w.conn, &z)? {
                report.skipped += 1;
            } else {
                report.zones += 1;
                others.push((ZoneConfigPayload::KIND, z.to_value()));
            }
        }
        for (kind, value) in input.settings {
            if setting_is(&w.conn, setting_key(&kind), &value)? {
                report.skipped += 1;
            } else {
                report.settings += 1;
                others.push((kind, value));
            }
        }
        for (kind, payload) in others {
            let event = Event {
                id: EventId {
                    origin: w.stream.origin.clone(),
                    incarnation: w.stream.incarnation,
                    seq: w.next_seq,
                },
                hlc: w.hlc.now(now.max(0) as u64),
                schema: 1,
                kind,
                payload,
            };
            w.next_seq += 1;
            report.events += 1;
            append::insert_event(&w.conn, event, true, &mut dirty)?;
        }
        dirty.new_events.clear();
        for cam in &input.cameras {
            let added = w
                .conn
                .prepare_cached(
                    "INSERT OR IGNORE INTO cameras (id, name, type, status, events_sent, events_failed,
                                                    created_at_ms, updated_at_ms)
                     VALUES (?1, ?2, ?3, 'offline', 0, 0, ?4, ?4)",
                )?
                .execute(params![cam.id, cam.name, cam.camera_type, now])?;
            if added == 1 {
                report.cameras += 1;
            } else {
                report.skipped += 1;
            }
        }
        // Sessions whose result depends on more than their own new events.
        tracing::info!(plates = dirty.plates.len(), "import: re-folding plates");
        refold::refold(&w.conn, &w.stream, &w.tz, now, &mut dirty)?;
        w.no_conflicts &= dirty.no_conflicts;
        if w.next_seq > first_seq {
            w.conn
                .prepare_cached(
                    "INSERT INTO streams (origin, incarnation, head_seq) VALUES (?1, ?2, ?3)
                     ON CONFLICT(origin, incarnation) DO UPDATE SET head_seq = excluded.head_seq",
                )?
                .execute(params![
                    w.stream.origin.as_str(),
                    w.stream.incarnation as i64,
                    (w.next_seq - 1) as i64
                ])?;
        }
        Ok(report)
    }
}

/// `history` indexes whose keys the walk inserts in random order.
const RANDOM_KEYS: [&str; 4] = [
    "history_entry_ms",
    "history_exit_ms",
    "history_sort",
    "history_event_id",
];

/// Drops the secondary indexes of `history` whose keys the walk inserts in random order (times,
/// edge event ids) and returns the statements that create them again (inside the same
/// transaction, so a failed import leaves them as they were): building such an index once from
/// the finished table sorts instead of inserting into a B-tree at random per row. The other
/// indexes stay: the walk writes in plate order with rising seqs, so their keys arrive in order
/// (plates, exit event ids, a few statuses) or hardly at all (operator targets, partial indexes
/// no imported row matches), and each rebuild would read the whole table again.
fn drop_indexes(conn: &rusqlite::Connection) -> Result<Vec<String>, StorageError> {
    let mut stmt = conn.prepare(
        "SELECT name, sql FROM sqlite_master
         WHERE type = 'index' AND sql IS NOT NULL AND tbl_name = 'history'",
    )?;
    let all: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut kept = Vec::new();
    for (name, sql) in all {
        if !RANDOM_KEYS.contains(&name.as_str()) {
            continue;
        }
        conn.execute_batch(&format!("DROP INDEX \"{name}\""))?;
        kept.push(sql);
    }
    Ok(kept)
}
