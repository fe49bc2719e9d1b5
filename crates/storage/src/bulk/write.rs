//! The writer's side of a bulk import: events appended with a prepared statement, each plate
//! folded in memory once written (or marked for the normal re-fold), audit rows, zones,
//! settings, cameras and the stream head, all inside the import's one transaction.

use std::collections::{BTreeSet, HashSet};

use parkmesh_parking::import::ImportTag;
use parkmesh_parking::parkai::{ChangeKind, PlannedChange, PlannedSession};
use parkmesh_parking::payload::{
    EntryPayload, ExitPayload, HistoryDeletePayload, HistoryEditPayload, Payload, ZoneConfigPayload,
};
use parkmesh_protocol::{Event, EventId, EventKind};
use rusqlite::{OptionalExtension, params};

use super::{
    ImportInput, ImportReport, Known, Progress, Sink, setting_is, setting_key, walk, zone_is,
};
use crate::project::{self, Dirty};
use crate::writer::Writer;
use crate::{StorageError, now_ms};

/// The writer's side of the walk.
struct Write<'w> {
    w: &'w mut Writer,
    now: i64,
    now_text: String,
    /// The log held vehicle events before the import (else no plate can have any).
    had_vehicles: bool,
    /// Events of the plate being written, for its in-memory fold.
    plate: Vec<Event>,
    /// Ids of those events.
    plate_ids: HashSet<String>,
    /// The plate must be re-folded through the database at the end.
    plate_complex: Option<bool>,
    /// Raw plates re-folded at the end.
    complex: BTreeSet<String>,
    /// Targets of changes outside their plate's batch (resolved at the end).
    late_targets: Vec<String>,
    progress: Option<Progress>,
    events: u64,
}

impl Write<'_> {
    fn append(
        &mut self,
        kind: EventKind,
        payload: serde_json::Value,
        plate: Option<&str>,
        target: Option<&str>,
    ) -> Result<Event, StorageError> {
        let w = &mut *self.w;
        let event = Event {
            id: EventId {
                origin: w.stream.origin.clone(),
                incarnation: w.stream.incarnation,
                seq: w.next_seq,
            },
            hlc: w.hlc.now(self.now.max(0) as u64),
            schema: 1,
            kind,
            payload,
        };
        let id_text = event.id.to_string();
        let inserted = w
            .conn
            .prepare_cached(
                "INSERT INTO events (origin, incarnation, seq, id_text, hlc_ms, hlc_counter, kind, schema,
                                     payload, plate_key, group_key, session_ref, received_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11, ?12)",
            )?
            .execute(params![
                event.id.origin.as_str(),
                event.id.incarnation as i64,
                event.id.seq as i64,
                id_text,
                event.hlc.wall_ms as i64,
                i64::from(event.hlc.counter),
                event.kind.as_str(),
                i64::from(event.schema),
                serde_json::to_string(&event.payload)?,
                plate,
                target,
                self.now,
            ])?;
        if inserted != 1 {
            return Err(StorageError::Corrupt(format!("event {id_text} not stored")));
        }
        w.next_seq += 1;
        self.events += 1;
        Ok(event)
    }

    /// Whether `plate` must be re-folded from the database (it had events before).
    fn check_plate(&mut self, plate: &str) -> Result<(), StorageError> {
        if self.plate_complex.is_none() {
            let had = self.had_vehicles
                && self
                    .w
                    .conn
                    .prepare_cached(
                        "SELECT EXISTS (SELECT 1 FROM events WHERE plate_key = ?1)
                             OR EXISTS (SELECT 1 FROM events WHERE group_key = ?1)",
                    )?
                    .query_row([plate], |r| r.get::<_, bool>(0))?;
            self.plate_complex = Some(had);
        }
        Ok(())
    }

    fn vehicle(
        &mut self,
        kind: EventKind,
        payload: serde_json::Value,
        plate: &str,
    ) -> Result<String, StorageError> {
        self.check_plate(plate)?;
        let event = self.append(kind, payload, Some(plate), None)?;
        let id = event.id.to_string();
        self.plate_ids.insert(id.clone());
        self.plate.push(event);
        Ok(id)
    }
}

fn tag(s: &PlannedSession, fee: Option<i64>) -> ImportTag {
    ImportTag {
        key: s.key.clone(),
        source: Some(s.source.clone()),
        fee,
        at_ms: None,
    }
}

impl Sink for Write<'_> {
    fn entry(&mut self, s: &PlannedSession) -> Result<String, StorageError> {
        let payload = tag(s, None).attach(serde_json::to_value(&s.entry)?);
        self.vehicle(EntryPayload::KIND, payload, &s.entry.plate_id)
    }

    fn exit(&mut self, s: &PlannedSession) -> Result<String, StorageError> {
        let Some((exit, fee)) = &s.exit else {
            return Err(StorageError::Corrupt(format!(
                "session {} has no exit",
                s.key
            )));
        };
        let payload = tag(s, Some(*fee)).attach(serde_json::to_value(exit)?);
        self.vehicle(ExitPayload::KIND, payload, &s.entry.plate_id)
    }

    fn change(
        &mut self,
        s: &PlannedSession,
        c: &PlannedChange,
        target: &str,
    ) -> Result<String, StorageError> {
        self.check_plate(&s.entry.plate_id)?;
        let tag = ImportTag {
            key: c.key.clone(),
            source: None,
            fee: None,
            at_ms: c.at_ms,
        };
        let (kind, payload, old, new) = match &c.kind {
            ChangeKind::Edit {
                plate_id,
                plate_view,
                old_plate_id,
                old_plate_view,
            } => {
                // A correction moves sessions between plates: re-fold through the database.
                self.plate_complex = Some(true);
                let p = HistoryEditPayload {
                    session: target.to_owned(),
                    plate_id: plate_id.clone(),
                    plate_view: plate_view.clone(),
                    changed_by: c.changed_by.clone(),
                };
                (
                    HistoryEditPayload::KIND,
                    p.to_value(),
                    (old_plate_id.clone(), old_plate_view.clone()),
                    (Some(plate_id.clone()), Some(plate_view.clone())),
                )
            }
            ChangeKind::Delete => {
                let p = HistoryDeletePayload {
                    session: target.to_owned(),
                    changed_by: c.changed_by.clone(),
                };
                (
                    HistoryDeletePayload::KIND,
                    p.to_value(),
                    (None, None),
                    (None, None),
                )
            }
        };
        let event = self.append(kind.clone(), tag.attach(payload), None, Some(target))?;
        let id = event.id.to_string();
        // The audit row keeps the original's plates and time.
        self.w
            .conn
            .prepare_cached(
                "INSERT OR IGNORE INTO history_changes (change_event, session_id, change_type, old_plate_id,
                        old_plate_view, new_plate_id, new_plate_view, changed_at_ms, changed_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                id,
                target,
                if kind == EventKind::HistoryEdit { "UPDATE" } else { "DELETE" },
                old.0,
                old.1,
                new.0,
                new.1,
                c.at_ms.unwrap_or(event.hlc.wall_ms as i64),
                c.changed_by,
            ])?;
        if !self.plate_ids.contains(target) {
            self.late_targets.push(target.to_owned());
        }
        self.plate.push(event);
        Ok(id)
    }

    fn plate_done(&mut self, plate: &str) -> Result<(), StorageError> {
        let events = std::mem::take(&mut self.plate);
        self.plate_ids.clear();
        let complex = self.plate_complex.take().unwrap_or(false);
        if events.is_empty() {
            return Ok(());
        }
        if complex {
            self.complex.insert(plate.to_owned());
            return Ok(());
        }
        let fold = parkmesh_parking::fold::fold_plate(&events);
        let w = &mut *self.w;
        for session in &fold.sessions {
            let row = crate::sessions::to_row(session, plate, &w.stream, &w.tz, &self.now_text);
            if crate::sessions::insert_row(&w.conn, &row)?.is_none() {
                return Err(StorageError::Corrupt(format!(
                    "history row of session {} already present",
                    session.id
                )));
            }
        }
        for c in &fold.conflicts {
            w.no_conflicts = false;
            w.conn
                .prepare_cached("INSERT INTO conflicts (plate_key, kind, winner, losers, at_ms) VALUES (?1, ?2, ?3, ?4, ?5)")?
                .execute(params![plate, c.kind, c.winner, serde_json::to_string(&c.losers)?, c.at_ms])?;
        }
        Ok(())
    }

    fn progress(&mut self, done: u64, total: u64) {
        if let Some(p) = &self.progress {
            p(done, total);
        }
    }
}

impl Writer {
    /// Runs a bulk import in its own transaction; on any error nothing is written.
    pub(crate) fn import(
        &mut self,
        input: ImportInput,
        progress: Option<Progress>,
    ) -> Result<ImportReport, StorageError> {
        let (seq, hlc) = (self.next_seq, self.hlc);
        // A large page cache for the duration of the import (the default is 2 MB).
        self.conn
            .execute_batch("PRAGMA cache_size = -262144; BEGIN IMMEDIATE")?;
        let res = self.import_tx(input, progress);
        let end = match &res {
            Ok(_) => self.conn.execute_batch("COMMIT"),
            Err(_) => self.conn.execute_batch("ROLLBACK"),
        };
        let _ = self.conn.execute_batch("PRAGMA cache_size = -2000");
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

    fn import_tx(
        &mut self,
        input: ImportInput,
        progress: Option<Progress>,
    ) -> Result<ImportReport, StorageError> {
        let now = now_ms();
        let mut report = ImportReport::default();
        let mut known = Known::read(&self.conn)?;
        let had_vehicles: bool = self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM events WHERE plate_key IS NOT NULL)",
            [],
            |r| r.get(0),
        )?;
        let first_seq = self.next_seq;
        let mut sink = Write {
            now_text: parkmesh_parking::time::format_local(now, &self.tz),
            w: self,
            now,
            had_vehicles,
            plate: Vec::new(),
            plate_ids: HashSet::new(),
            plate_complex: None,
            complex: BTreeSet::new(),
            late_targets: Vec::new(),
            progress,
            events: 0,
        };
        walk(&input.sessions, &mut known, &mut sink, &mut report)?;
        let mut plates = std::mem::take(&mut sink.complex);
        for target in std::mem::take(&mut sink.late_targets) {
            let plate: Option<Option<String>> = sink
                .w
                .conn
                .prepare_cached("SELECT plate_key FROM events WHERE id_text = ?1")?
                .query_row([&target], |r| r.get(0))
                .optional()?;
            plates.extend(plate.flatten());
        }
        report.events = sink.events;
        let w = sink.w;
        // Zones and settings through the normal projection (few events).
        let mut dirty = Dirty {
            plates,
            no_conflicts: w.no_conflicts,
            full: true,
            ..Dirty::default()
        };
        // The plates folded above have rows but no fold marks: their next fold is a full one.
        w.conn.execute("DELETE FROM fold_marks", [])?;
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
            project::insert_event(&w.conn, event, now, &mut dirty)?;
        }
        dirty.stored.clear();
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
        project::refold(&w.conn, &w.stream, &w.tz, now, &mut dirty)?;
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
