//! The deterministic session projection: one plate's events in, sessions and conflicts out.
//!
//! # Order
//!
//! [`fold_plate`] is a pure function of the *set* of events: it drops duplicate ids, sorts by
//! the total order `(at_ms, kind rank, hlc, origin, incarnation, seq)` and folds. (Two events
//! with one id are the same event: the log guarantees it, so keeping either copy is the same.)
//!
//! - Business time `at_ms` (the gate's own timestamp, honoured and clamped by the central) comes
//!   first rather than the HLC: the HLC says when a *central* recorded an event, so an exit
//!   recorded at B while A's entry was still in flight (or queued at a disconnected edge) would
//!   sort before its entry and leave a car inside forever. By business time the entry sorts first
//!   and the two merge into one closed session whatever the arrival order.
//! - At equal `at_ms` an entry sorts before a sighting, and a sighting before an exit
//!   (kind rank 0, 1, 2), so a same-millisecond entry/exit pair never turns into an exception
//!   plus a ghost.
//! - The rest of [`Event::order_key`] (`hlc, origin, incarnation, seq`) breaks the remaining
//!   ties; event ids are unique, so the order is total and two centrals holding the same events
//!   produce identical sessions and conflicts.
//!
//! # Rules, in fold order
//!
//! - ENTRY with no open session opens one (id = the entry's event id). ENTRY while a session is
//!   open keeps the earlier one and records a `concurrent_entry` conflict listing the loser
//!   (a partition, a misread or a cloned plate) — never silently dropped. An open anomaly does not
//!   block an entry: it is superseded (set OUT, no exit side) and the entry opens a session.
//! - EXIT with `entry_ref` closes the session whose entry has that edge event id or event id. If
//!   that session is already closed the exit is a `duplicate_exit` conflict. If that entry is not
//!   folded yet (clock skew between sites made it sort later, or it has not arrived) the exit
//!   waits as an exception session and the entry, when folded, completes it — never a car left
//!   inside forever. EXIT without a ref closes the open session. An EXIT that matches nothing
//!   becomes an exception session (status OUT, no entry side).
//! - LOCATION updates the open session's location, or opens an anomaly session (status IN, id =
//!   the sighting's event id).
//! - `history.edit` overrides a session's plate (newest edit by [`Event::order_key`] wins);
//!   `history.delete` tombstones it (`deleted`). Both name a session by id; an edit or delete also
//!   applies when it names the session's entry or exit event (an exception session that later
//!   merged with its entry keeps the edits made while it was an exception). A deleted session is
//!   kept for audit and never counts as open: later entries and sightings ignore it, and so does
//!   an exit without a ref made after the delete (such an exit becomes an exception). An exit
//!   without a ref made before the delete ([`Event::cmp_order`]: the car left, then the operator
//!   deleted the record) still closes it, as does an exit that names its entry by `entry_ref`;
//!   the session stays deleted rather than leaving its exit as an exception.
//!
//! A session's id is the id of its entry event when it has one, otherwise the id of the event
//! that opened it (the exception exit or the anomaly sighting).
//!
//! # Imported sessions
//!
//! Vehicle events imported from an original ParkAI database carry an import key
//! ([`crate::import`]); copies of one original session imported at several centrals share it.
//! The first entry (or exit) with a key opens the session; any later entry with the same key
//! is an *alias* of it (no second session, no conflict), and the first exit with the key closes
//! it whatever else is open for the plate, later ones become aliases too. An imported exit
//! keeps the fee the original recorded. Aliases name the session like its own events do, so an
//! edit or delete made through any copy applies to the one session.

use std::collections::{BTreeMap, BTreeSet};

use parkmesh_protocol::{CentralId, Event, EventKind};

use crate::fee::{Tariff, duration_text};
use crate::import::ImportTag;
use crate::payload::{
    EntryPayload, ExitPayload, HistoryDeletePayload, HistoryEditPayload, LocationPayload, Payload,
};

/// Conflict kind: two entries for one plate with no exit between them.
pub const CONCURRENT_ENTRY: &str = "concurrent_entry";
/// Conflict kind: an exit naming an entry whose session is already closed.
pub const DUPLICATE_EXIT: &str = "duplicate_exit";

/// Open or closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStatus {
    /// Inside the lot.
    In,
    /// Left (or superseded).
    Out,
}

/// One side (entry or exit) of a session.
#[derive(Debug, Clone, PartialEq)]
pub struct Side {
    /// Event id text.
    pub event_id: String,
    /// Business time (ms).
    pub at_ms: i64,
    /// Camera id.
    pub camera_id: Option<i64>,
    /// Camera name.
    pub camera_name: String,
    /// OCR confidence.
    pub confidence: f64,
    /// Source (`auto`, `manual`, `parking_lot_auto` for an anomaly sighting).
    pub source: String,
    /// Central that recorded it.
    pub origin: CentralId,
    /// Edge id.
    pub edge_id: Option<String>,
    /// The edge's event id.
    pub edge_event_id: Option<String>,
    /// It reached a central well after its gate time (a replayed edge queue).
    pub late: bool,
    /// Its gate time was out of bounds and replaced by the recording central's clock.
    pub clamped: bool,
    /// Who made it, for a manual (operator) entry or exit.
    pub operator: Option<String>,
}

/// One parking session.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// Id: the entry's event id text, else the event that opened it.
    pub id: String,
    /// Plate (after operator edits).
    pub plate_id: String,
    /// Plate as shown (after operator edits).
    pub plate_view: String,
    /// Entry side (for an anomaly: the first sighting).
    pub entry: Option<Side>,
    /// Exit side.
    pub exit: Option<Side>,
    /// Open or closed.
    pub status: SessionStatus,
    /// Fee in VND.
    pub fee: i64,
    /// Duration text.
    pub duration: Option<String>,
    /// An exit that matched no entry.
    pub exception: bool,
    /// Opened by an in-lot sighting without an entry.
    pub is_anomaly: bool,
    /// Tombstoned by an operator.
    pub deleted: bool,
    /// Last in-lot location.
    pub last_location: Option<String>,
    /// Last in-lot sighting (ms).
    pub last_location_ms: Option<i64>,
    /// Central whose event opened the session (the entry's origin once the entry is known).
    pub source_central: CentralId,
    /// Subscription type that exempted the fee.
    pub exempt: Option<String>,
    /// Import key of a session brought over from an original ParkAI database.
    pub import_key: Option<String>,
    /// Ids of the other imported copies of this session (same import key), in fold order.
    pub aliases: Vec<String>,
}

impl Session {
    /// Whether the session counts as "inside": IN, not deleted.
    pub fn is_open(&self) -> bool {
        self.status == SessionStatus::In && !self.deleted
    }

    /// Whether this session keeps its plate from entering again (see [`blocks_entry`]).
    pub fn blocks_entry(&self) -> bool {
        blocks_entry(self.status, self.deleted, self.is_anomaly)
    }

    /// Whether `target` (a session id or event id text) names this session.
    pub fn is_named_by(&self, target: &str) -> bool {
        self.id == target
            || self.entry.as_ref().is_some_and(|s| s.event_id == target)
            || self.exit.as_ref().is_some_and(|s| s.event_id == target)
            || self.aliases.iter().any(|a| a == target)
    }
}

/// A conflict found by the fold.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    /// Plate.
    pub plate_id: String,
    /// [`CONCURRENT_ENTRY`] or [`DUPLICATE_EXIT`].
    pub kind: String,
    /// Session that stands.
    pub winner: String,
    /// Events that lost, in fold order.
    pub losers: Vec<String>,
    /// Business time of the first loser.
    pub at_ms: i64,
}

/// Sessions and conflicts of one plate.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlateFold {
    /// Sessions in fold order.
    pub sessions: Vec<Session>,
    /// Conflicts in fold order.
    pub conflicts: Vec<Conflict>,
}

impl PlateFold {
    /// The open session (IN, not deleted), if any.
    pub fn open(&self) -> Option<&Session> {
        self.sessions.iter().rev().find(|s| s.is_open())
    }
}

/// The raw plate a vehicle event belongs to (`plate_id` of its payload); `None` for other kinds.
pub fn plate_key(event: &Event) -> Option<String> {
    match event.kind {
        EventKind::VehicleEntry | EventKind::VehicleExit | EventKind::VehicleLocation => event
            .payload
            .get("plate_id")
            .and_then(|v| v.as_str())
            .map(str::to_owned),
        _ => None,
    }
}

/// The entry rule: a session with these facts keeps its plate from entering again when it is
/// open (IN, not deleted) and was opened by a real entry. A session opened by an in-lot sighting
/// without an entry (an anomaly) does not block: the entry supersedes it. The writer refuses an
/// entry while any of the plate's sessions blocks it.
pub fn blocks_entry(status: SessionStatus, deleted: bool, is_anomaly: bool) -> bool {
    status == SessionStatus::In && !deleted && !is_anomaly
}

pub(crate) enum Vehicle {
    Entry(EntryPayload),
    Exit(ExitPayload),
    Location(LocationPayload),
}

impl Vehicle {
    /// The typed payload of a vehicle event; `None` for other kinds and malformed payloads.
    pub(crate) fn decode(e: &Event) -> Option<Self> {
        match e.kind {
            EventKind::VehicleEntry => EntryPayload::from_event(e).ok().map(Self::Entry),
            EventKind::VehicleExit => ExitPayload::from_event(e).ok().map(Self::Exit),
            EventKind::VehicleLocation => LocationPayload::from_event(e).ok().map(Self::Location),
            _ => None,
        }
    }

    pub(crate) fn at_ms(&self) -> i64 {
        match self {
            Self::Entry(p) => p.at_ms,
            Self::Exit(p) => p.gate.at_ms,
            Self::Location(p) => p.at_ms,
        }
    }

    pub(crate) fn rank(&self) -> u8 {
        match self {
            Self::Entry(_) => 0,
            Self::Location(_) => 1,
            Self::Exit(_) => 2,
        }
    }
}

pub(crate) struct Item<'a> {
    pub(crate) event: &'a Event,
    pub(crate) what: Vehicle,
    pub(crate) import: Option<ImportTag>,
}

/// An exception exit waiting for the entry it references.
struct Waiter {
    session: usize,
    tariff: Tariff,
    exempt: Option<String>,
    fee: Option<i64>,
}

fn side(e: &Event, at_ms: i64, camera_id: Option<i64>, camera_name: &str) -> Side {
    Side {
        event_id: e.id.to_string(),
        at_ms,
        camera_id,
        camera_name: camera_name.to_owned(),
        confidence: 0.0,
        source: String::new(),
        origin: e.id.origin.clone(),
        edge_id: None,
        edge_event_id: None,
        late: false,
        clamped: false,
        operator: None,
    }
}

/// Closes `s` with `exit`; `recorded` is an imported exit's original fee, kept as it is.
fn close(
    s: &mut Session,
    exit: Side,
    tariff: &Tariff,
    exempt: Option<String>,
    recorded: Option<i64>,
) {
    if let Some(entry) = &s.entry {
        s.fee = match recorded {
            Some(fee) => fee,
            None if exempt.is_some() => 0,
            None => tariff.fee(entry.at_ms, exit.at_ms),
        };
        s.duration = Some(duration_text(exit.at_ms.saturating_sub(entry.at_ms)));
    }
    s.exempt = exempt;
    s.exit = Some(exit);
    s.status = SessionStatus::Out;
}

fn new_session(id: String, plate_id: &str, plate_view: &str, origin: &CentralId) -> Session {
    Session {
        id,
        plate_id: plate_id.to_owned(),
        plate_view: plate_view.to_owned(),
        entry: None,
        exit: None,
        status: SessionStatus::In,
        fee: 0,
        duration: None,
        exception: false,
        is_anomaly: false,
        deleted: false,
        last_location: None,
        last_location_ms: None,
        source_central: origin.clone(),
        exempt: None,
        import_key: None,
        aliases: Vec::new(),
    }
}

/// A session opened by `e` with its import tag applied: the key, and the original creator as
/// source (so every copy shows the same source whichever copy stands).
fn tagged(mut s: Session, tag: Option<&ImportTag>) -> Session {
    if let Some(tag) = tag {
        s.import_key = Some(tag.key.clone());
        if let Some(src) = tag.source.as_deref().and_then(|c| CentralId::new(c).ok()) {
            s.source_central = src;
        }
    }
    s
}

/// The decoded input of a fold.
struct Prepared<'a> {
    /// Vehicle events, deduplicated, in fold order.
    items: Vec<Item<'a>>,
    /// Edits, newest first.
    edits: Vec<(&'a Event, HistoryEditPayload)>,
    /// Deletes and their targets.
    deletes: Vec<(&'a Event, String)>,
}

/// Decodes, dedups and sorts the vehicle events; collects edits and deletes.
fn prepare<'a>(events: &[&'a Event]) -> Prepared<'a> {
    let mut seen = BTreeSet::new();
    let mut items = Vec::new();
    let mut edits = Vec::new();
    let mut deletes = Vec::new();
    for &e in events {
        if !seen.insert(&e.id) {
            continue;
        }
        let what = match e.kind {
            EventKind::VehicleEntry | EventKind::VehicleExit | EventKind::VehicleLocation => {
                Vehicle::decode(e)
            }
            EventKind::HistoryEdit => {
                if let Ok(p) = HistoryEditPayload::from_event(e) {
                    edits.push((e, p));
                }
                None
            }
            EventKind::HistoryDelete => {
                if let Ok(p) = HistoryDeletePayload::from_event(e) {
                    deletes.push((e, p.session));
                }
                None
            }
            _ => None,
        };
        if let Some(what) = what {
            let import = ImportTag::of(e);
            items.push(Item {
                event: e,
                what,
                import,
            });
        }
    }
    items.sort_by(|a, b| {
        (a.what.at_ms(), a.what.rank())
            .cmp(&(b.what.at_ms(), b.what.rank()))
            .then_with(|| a.event.cmp_order(b.event))
    });
    // Newest edit first, so the first match per session wins.
    edits.sort_by(|a, b| b.0.cmp_order(a.0));
    Prepared {
        items,
        edits,
        deletes,
    }
}

/// Folds one plate's events (vehicle events plus operator events targeting its sessions), in
/// any order and with duplicates, into sessions and conflicts. Malformed payloads are skipped.
pub fn fold_plate(events: &[Event]) -> PlateFold {
    fold_members(events).0
}

/// [`fold_plate`] plus, per vehicle event id, the index of the session it became part of
/// (entries and exits of the session, sightings that updated it, duplicate exits of it).
/// Concurrent-entry losers belong to no session.
pub(crate) fn fold_members(events: &[Event]) -> (PlateFold, BTreeMap<String, usize>) {
    let events: Vec<&Event> = events.iter().collect();
    let (fold, members, _) = fold_traced(&events);
    (fold, members)
}

/// [`fold_members`] plus the last settled point of the fold (see [`crate::incremental`]).
pub(crate) fn fold_traced(
    events: &[&Event],
) -> (PlateFold, BTreeMap<String, usize>, crate::incremental::Cut) {
    let Prepared {
        items,
        edits,
        deletes,
    } = prepare(events);
    // Per deleted session id, its first delete in event order.
    let mut deleted: BTreeMap<&str, &Event> = BTreeMap::new();
    for (d, target) in &deletes {
        let first = deleted.entry(target.as_str()).or_insert(d);
        if d.cmp_order(first).is_lt() {
            *first = d;
        }
    }
    let delete_of = |e: &Event| deleted.get(e.id.to_string().as_str()).copied();

    let mut out = PlateFold::default();
    // Index of the open session (IN, not deleted), if any.
    let mut open: Option<usize> = None;
    // A session whose entry was deleted, while no later session opened: an exit without a ref
    // made before the delete (in event order) still closes it — the car left before the
    // operator deleted the record — instead of becoming an exception. (Never set with `open`.)
    let mut closable: Option<(usize, &Event)> = None;
    // Exception exits waiting for the entry they reference: ref -> waiter.
    let mut waiting: BTreeMap<String, Waiter> = BTreeMap::new();
    let mut members: BTreeMap<String, usize> = BTreeMap::new();
    // Imported sessions by import key, and imported exits waiting for their entry.
    let mut by_key: BTreeMap<String, usize> = BTreeMap::new();
    let mut waiting_import: BTreeMap<String, Waiter> = BTreeMap::new();
    let mut trace = crate::incremental::Trace::new(&items);
    for (at, item) in items.iter().enumerate() {
        if at > 0
            && open.is_none()
            && closable.is_none()
            && waiting.is_empty()
            && waiting_import.is_empty()
        {
            trace.settled(at, out.sessions.len());
        }
        let e = item.event;
        let id = e.id.to_string();
        let key = item.import.as_ref().map(|t| t.key.as_str());
        match &item.what {
            Vehicle::Entry(p) => {
                let entry = Side {
                    confidence: p.confidence,
                    source: p.source.clone(),
                    edge_id: p.edge_id.clone(),
                    edge_event_id: p.edge_event_id.clone(),
                    late: p.late,
                    clamped: p.time_clamped,
                    operator: p.operator.clone(),
                    ..side(e, p.at_ms, p.camera_id, &p.camera_name)
                };
                let waiter = waiting
                    .remove(&id)
                    .or_else(|| p.edge_event_id.as_ref().and_then(|r| waiting.remove(r)))
                    .or_else(|| key.and_then(|k| waiting_import.remove(k)));
                if let Some(w) = waiter {
                    // An exit that referenced this entry was folded first: complete it.
                    waiting.retain(|_, o| o.session != w.session);
                    waiting_import.retain(|_, o| o.session != w.session);
                    let s = &mut out.sessions[w.session];
                    members.insert(id.clone(), w.session);
                    if let Some(exit) = s.exit.take() {
                        s.id = id;
                        s.entry = Some(entry);
                        s.exception = false;
                        s.source_central = e.id.origin.clone();
                        if let Some(tag) = &item.import {
                            if let Some(src) = tag.source.as_deref() {
                                s.source_central =
                                    CentralId::new(src).unwrap_or_else(|_| e.id.origin.clone());
                            }
                            if s.import_key.is_none() {
                                s.import_key = Some(tag.key.clone());
                                by_key.insert(tag.key.clone(), w.session);
                            }
                        }
                        close(s, exit, &w.tariff, w.exempt, w.fee);
                    }
                    continue;
                }
                if let Some(&idx) = key.and_then(|k| by_key.get(k)) {
                    // Another copy of an imported session: the first one stands.
                    members.insert(id.clone(), idx);
                    out.sessions[idx].aliases.push(id);
                    if delete_of(e).is_some() && open == Some(idx) {
                        open = None;
                    }
                    continue;
                }
                if let Some(idx) = open {
                    let s = &mut out.sessions[idx];
                    if s.is_anomaly {
                        s.status = SessionStatus::Out;
                    } else {
                        let winner = s.id.clone();
                        match out
                            .conflicts
                            .iter_mut()
                            .find(|c| c.winner == winner && c.kind == CONCURRENT_ENTRY)
                        {
                            Some(c) => c.losers.push(id),
                            None => out.conflicts.push(Conflict {
                                plate_id: p.plate_id.clone(),
                                kind: CONCURRENT_ENTRY.into(),
                                winner,
                                losers: vec![id],
                                at_ms: p.at_ms,
                            }),
                        }
                        continue;
                    }
                }
                let deleted_by = delete_of(e);
                let mut s = tagged(
                    new_session(id, &p.plate_id, &p.plate_view, &e.id.origin),
                    item.import.as_ref(),
                );
                s.entry = Some(entry);
                out.sessions.push(s);
                if let Some(k) = key {
                    by_key.insert(k.to_owned(), out.sessions.len() - 1);
                }
                let idx = out.sessions.len() - 1;
                members.insert(e.id.to_string(), idx);
                open = deleted_by.is_none().then_some(idx);
                closable = deleted_by.map(|d| (idx, d));
            }
            Vehicle::Exit(x) => {
                let p = &x.gate;
                let exit = Side {
                    confidence: p.confidence,
                    source: p.source.clone(),
                    edge_id: p.edge_id.clone(),
                    edge_event_id: p.edge_event_id.clone(),
                    late: p.late,
                    clamped: p.time_clamped,
                    operator: p.operator.clone(),
                    ..side(e, p.at_ms, p.camera_id, &p.camera_name)
                };
                if let Some(k) = key {
                    let fee = item.import.as_ref().and_then(|t| t.fee);
                    match by_key.get(k) {
                        Some(&idx) => {
                            // The imported session is known: its first exit closes it, later
                            // copies are aliases.
                            members.insert(id.clone(), idx);
                            let s = &mut out.sessions[idx];
                            if s.exit.is_none() && s.status == SessionStatus::In {
                                close(s, exit, &x.tariff, x.exempt.clone(), fee);
                                if open == Some(idx) {
                                    open = None;
                                }
                            } else {
                                s.aliases.push(id);
                            }
                        }
                        None => {
                            // Its entry sorts later (odd original times) or is missing: an
                            // exception that the entry completes when folded.
                            let idx = out.sessions.len();
                            members.insert(id.clone(), idx);
                            let mut s = tagged(
                                new_session(id, &p.plate_id, &p.plate_view, &e.id.origin),
                                item.import.as_ref(),
                            );
                            s.exit = Some(exit);
                            s.status = SessionStatus::Out;
                            s.exception = true;
                            s.exempt = x.exempt.clone();
                            out.sessions.push(s);
                            by_key.insert(k.to_owned(), idx);
                            waiting_import.insert(
                                k.to_owned(),
                                Waiter {
                                    session: idx,
                                    tariff: x.tariff,
                                    exempt: x.exempt.clone(),
                                    fee,
                                },
                            );
                        }
                    }
                    continue;
                }
                let by_ref = x.entry_ref.as_ref().and_then(|r| {
                    out.sessions.iter().position(|s| {
                        s.entry.as_ref().is_some_and(|en| {
                            !s.is_anomaly
                                && (&en.event_id == r || en.edge_event_id.as_ref() == Some(r))
                        })
                    })
                });
                if let Some(idx) = by_ref {
                    trace.refers(at, idx);
                }
                let target = match by_ref {
                    Some(idx) if out.sessions[idx].is_open() => Some(idx),
                    Some(idx) => {
                        // The named session is closed (or deleted): keep the exit as a conflict.
                        out.conflicts.push(Conflict {
                            plate_id: p.plate_id.clone(),
                            kind: DUPLICATE_EXIT.into(),
                            winner: out.sessions[idx].id.clone(),
                            losers: vec![id.clone()],
                            at_ms: p.at_ms,
                        });
                        members.insert(id, idx);
                        continue;
                    }
                    None => open.or_else(|| {
                        closable
                            .filter(|&(idx, delete)| {
                                out.sessions[idx].status == SessionStatus::In
                                    && e.cmp_order(delete).is_lt()
                            })
                            .map(|(idx, _)| idx)
                    }),
                };
                match target {
                    Some(idx) => {
                        if closable.is_some_and(|(c, _)| c == idx) {
                            closable = None;
                        }
                        members.insert(id, idx);
                        close(
                            &mut out.sessions[idx],
                            exit,
                            &x.tariff,
                            x.exempt.clone(),
                            None,
                        );
                        if open == Some(idx) {
                            open = None;
                        }
                    }
                    None => {
                        members.insert(id.clone(), out.sessions.len());
                        let mut s = new_session(id, &p.plate_id, &p.plate_view, &e.id.origin);
                        s.exit = Some(exit);
                        s.status = SessionStatus::Out;
                        s.exception = true;
                        s.exempt = x.exempt.clone();
                        out.sessions.push(s);
                        if let Some(r) = &x.entry_ref {
                            waiting.entry(r.clone()).or_insert(Waiter {
                                session: out.sessions.len() - 1,
                                tariff: x.tariff,
                                exempt: x.exempt.clone(),
                                fee: None,
                            });
                        }
                    }
                }
            }
            Vehicle::Location(p) => match open {
                Some(idx) => {
                    members.insert(id, idx);
                    let s = &mut out.sessions[idx];
                    s.last_location = Some(p.location.clone());
                    s.last_location_ms = Some(p.at_ms);
                }
                None => {
                    members.insert(id.clone(), out.sessions.len());
                    let mut s = new_session(id, &p.plate_id, &p.plate_view, &e.id.origin);
                    s.entry = Some(Side {
                        source: "parking_lot_auto".into(),
                        edge_event_id: p.edge_event_id.clone(),
                        ..side(e, p.at_ms, p.camera_id, &p.camera_name)
                    });
                    s.is_anomaly = true;
                    s.last_location = Some(p.location.clone());
                    s.last_location_ms = Some(p.at_ms);
                    let deleted_now = delete_of(e).is_some();
                    out.sessions.push(s);
                    open = (!deleted_now).then_some(out.sessions.len() - 1);
                    if open.is_some() {
                        closable = None;
                    }
                }
            },
        }
    }
    if !items.is_empty()
        && open.is_none()
        && closable.is_none()
        && waiting.is_empty()
        && waiting_import.is_empty()
    {
        trace.settled(items.len(), out.sessions.len());
    }
    for s in &mut out.sessions {
        if let Some((_, edit)) = edits.iter().find(|(_, p)| s.is_named_by(&p.session)) {
            s.plate_id = edit.plate_id.clone();
            s.plate_view = edit.plate_view.clone();
        }
        s.deleted = deletes.iter().any(|(_, d)| s.is_named_by(d));
    }
    let cut = trace.cut(&items, &out);
    (out, members, cut)
}
