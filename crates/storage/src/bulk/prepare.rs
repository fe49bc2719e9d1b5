//! The preparing half of a bulk import, run on a thread of its own beside the writer.
//!
//! It walks the planned sessions, builds each event (id, clock reading, payload text), folds a
//! plate's events with the same `fold_plate` the writer uses and turns the sessions into
//! history rows, then hands the writer one finished [`PlateBatch`] per plate. The writer thread
//! only executes the inserts (`write.rs`), so on two cores the JSON and fold work of one plate
//! overlaps SQLite's work on the one before. Nothing here touches the database: whether a plate
//! must instead be re-folded through the database (it had events before the import) is decided
//! by the writer when the batch arrives, before it inserts the batch's events.

use std::collections::HashSet;
use std::sync::mpsc::SyncSender;

use parkmesh_parking::fold::Conflict;
use parkmesh_parking::import::ImportTag;
use parkmesh_parking::parkai::{ChangeKind, PlannedChange, PlannedSession};
use parkmesh_parking::payload::{
    EntryPayload, ExitPayload, HistoryDeletePayload, HistoryEditPayload, Payload,
};
use parkmesh_protocol::{Event, EventId, EventKind, Hlc, HlcClock, StreamId};

use super::{Progress, Sink};
use crate::error::StorageError;
use crate::rows::HistoryRow;

/// One event as the writer inserts it.
pub(super) struct EventRow {
    pub(super) seq: u64,
    pub(super) hlc: Hlc,
    pub(super) kind: EventKind,
    pub(super) id_text: String,
    pub(super) payload: Vec<u8>,
    /// The plate of a vehicle event (`plate_key` and `group_key`).
    pub(super) plate: Option<String>,
    /// The session an edit or delete targets (`session_ref`).
    pub(super) target: Option<String>,
}

/// The audit row of an imported correction or delete (the original's plates and time).
pub(super) struct AuditRow {
    pub(super) change_event: String,
    pub(super) session: String,
    pub(super) change_type: &'static str,
    pub(super) old: (Option<String>, Option<String>),
    pub(super) new: (Option<String>, Option<String>),
    pub(super) at_ms: i64,
    pub(super) changed_by: String,
}

/// Everything the import writes for one plate.
#[derive(Default)]
pub(super) struct PlateBatch {
    pub(super) plate: String,
    pub(super) events: Vec<EventRow>,
    pub(super) audits: Vec<AuditRow>,
    /// The plate's sessions folded in memory (empty when `corrected`).
    pub(super) rows: Vec<HistoryRow>,
    pub(super) conflicts: Vec<Conflict>,
    /// A plate correction moves sessions between plates: re-fold through the database.
    pub(super) corrected: bool,
}

/// Where the preparing thread stopped: the writer continues its stream from here.
pub(super) struct Prepared {
    pub(super) next_seq: u64,
    pub(super) hlc: HlcClock,
    pub(super) events: u64,
    /// Targets of changes outside their plate's batch (resolved by the writer at the end).
    pub(super) late_targets: Vec<String>,
}

/// The walk's sink on the preparing thread.
pub(super) struct Prepare {
    pub(super) stream: StreamId,
    pub(super) next_seq: u64,
    pub(super) hlc: HlcClock,
    pub(super) now: i64,
    pub(super) now_text: String,
    pub(super) tz: jiff::tz::TimeZone,
    pub(super) progress: Option<Progress>,
    pub(super) out: SyncSender<PlateBatch>,
    /// Events of the plate being prepared, for its in-memory fold.
    pub(super) plate: Vec<Event>,
    /// Ids of those events.
    pub(super) plate_ids: HashSet<String>,
    pub(super) batch: PlateBatch,
    pub(super) late_targets: Vec<String>,
    pub(super) events: u64,
}

impl Prepare {
    pub(super) fn finish(self) -> Prepared {
        Prepared {
            next_seq: self.next_seq,
            hlc: self.hlc,
            events: self.events,
            late_targets: self.late_targets,
        }
    }

    fn append(
        &mut self,
        kind: EventKind,
        payload: serde_json::Value,
        plate: Option<&str>,
        target: Option<&str>,
    ) -> Result<String, StorageError> {
        let event = Event {
            id: EventId {
                origin: self.stream.origin.clone(),
                incarnation: self.stream.incarnation,
                seq: self.next_seq,
            },
            hlc: self.hlc.now(self.now.max(0) as u64),
            schema: 1,
            kind,
            payload,
        };
        self.next_seq += 1;
        self.events += 1;
        let id_text = event.id.to_string();
        self.batch.events.push(EventRow {
            payload: crate::codec::encode(&event.payload),
            id_text: id_text.clone(),
            seq: event.id.seq,
            hlc: event.hlc,
            kind: event.kind.clone(),
            plate: plate.map(str::to_owned),
            target: target.map(str::to_owned),
        });
        self.plate.push(event);
        Ok(id_text)
    }

    fn vehicle(
        &mut self,
        kind: EventKind,
        payload: serde_json::Value,
        plate: &str,
    ) -> Result<String, StorageError> {
        let id = self.append(kind, payload, Some(plate), None)?;
        self.plate_ids.insert(id.clone());
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

impl Sink for Prepare {
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
        _: &PlannedSession,
        c: &PlannedChange,
        target: &str,
    ) -> Result<String, StorageError> {
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
                self.batch.corrected = true;
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
        let change_type = if kind == EventKind::HistoryEdit {
            "UPDATE"
        } else {
            "DELETE"
        };
        let id = self.append(kind, tag.attach(payload), None, Some(target))?;
        let wall_ms = self.plate.last().map_or(self.now, |e| e.hlc.wall_ms as i64);
        self.batch.audits.push(AuditRow {
            change_event: id.clone(),
            session: target.to_owned(),
            change_type,
            old,
            new,
            at_ms: c.at_ms.unwrap_or(wall_ms),
            changed_by: c.changed_by.clone(),
        });
        if !self.plate_ids.contains(target) {
            self.late_targets.push(target.to_owned());
        }
        Ok(id)
    }

    fn plate_done(&mut self, plate: &str) -> Result<(), StorageError> {
        let events = std::mem::take(&mut self.plate);
        self.plate_ids.clear();
        let mut batch = std::mem::take(&mut self.batch);
        if events.is_empty() {
            return Ok(());
        }
        batch.plate = plate.to_owned();
        if !batch.corrected {
            let fold = parkmesh_parking::fold::fold_plate(&events);
            batch.rows = fold
                .sessions
                .iter()
                .map(|s| crate::sessions::to_row(s, plate, &self.stream, &self.tz, &self.now_text))
                .collect();
            batch.conflicts = fold.conflicts;
        }
        // A closed channel means the writer stopped on an error of its own, which it reports.
        self.out.send(batch).map_err(|_| StorageError::Closed)
    }

    fn progress(&mut self, done: u64, total: u64) {
        if let Some(p) = &self.progress {
            p(done, total);
        }
    }
}
