//! The deterministic session projection: one plate's events in, sessions and conflicts out.
//!
//! # Order
//!
//! [`fold_plate`] is a pure function of the *set* of events: it drops duplicate ids, sorts by
//! the total order `(at_ms, kind rank, hlc, origin, incarnation, seq)` (module `order`, the one
//! place that order is written) and folds. (Two events with one id are the same event: the log
//! guarantees it, so keeping either copy is the same.)
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
//! - An EXIT that its central matched to a confusable plate's session carries that plate as its
//!   `plate_id` (and the plate read as `exit_plate`), so it is an exit of this group like any
//!   other; its matching facts stay on the exit side. Once an `exit.unmatch` names it, it closes
//!   nothing: it is an exception under the plate it was read as, listing this plate as candidate.
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
use crate::order::{Item, Vehicle};
use crate::payload::{
    EntryPayload, ExitPayload, ExitUnmatchPayload, HistoryDeletePayload, HistoryEditPayload,
    LocationPayload, Payload,
};
pub use crate::session::{
    CONCURRENT_ENTRY, Conflict, DUPLICATE_EXIT, PlateFold, Session, SessionStatus, Side,
    blocks_entry,
};
use crate::settled::{SettledPoint, Trace};

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

/// An exception exit waiting for the entry it references.
struct Waiter {
    session: usize,
    tariff: Tariff,
    exempt: Option<String>,
    fee: Option<i64>,
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
    let unmatched: BTreeSet<String> = events
        .iter()
        .filter(|e| e.kind == EventKind::ExitUnmatch)
        .filter_map(|e| ExitUnmatchPayload::from_event(e).ok())
        .map(|p| p.session)
        .collect();
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
        if let Some(mut what) = what {
            let import = ImportTag::of(e);
            // (The id text is made only for exits, and only when some exit was unmatched.)
            let unmatched = !unmatched.is_empty()
                && matches!(what, Vehicle::Exit(_))
                && unmatched.contains(&e.id.to_string())
                && what.unmatch();
            items.push(Item {
                event: e,
                what,
                import,
                unmatched,
            });
        }
    }
    items.sort_by(|a, b| a.position().cmp(&b.position()));
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

/// [`fold_members`] plus the settled point of the fold (see [`crate::settled`]).
pub(crate) fn fold_traced(events: &[&Event]) -> (PlateFold, BTreeMap<String, usize>, SettledPoint) {
    let Prepared {
        items,
        edits,
        deletes,
    } = prepare(events);
    let mut walk = Walk::new(&items, &deletes);
    for (at, item) in items.iter().enumerate() {
        walk.step(at, item);
    }
    walk.note_if_settled(items.len());
    walk.finish(&items, &edits, &deletes)
}

/// The state of one fold while it walks a plate's vehicle events in fold order. Each kind of
/// event is one step; a step reads and changes only this state.
struct Walk<'a> {
    /// Sessions and conflicts so far.
    out: PlateFold,
    /// Per vehicle event id, the index of the session it became part of.
    members: BTreeMap<String, usize>,
    /// Index of the open session (IN, not deleted), if any.
    open: Option<usize>,
    /// A session whose entry was deleted, while no later session opened: an exit without a ref
    /// made before the delete (in event order) still closes it — the car left before the
    /// operator deleted the record — instead of becoming an exception. (Never set with `open`.)
    closable: Option<(usize, &'a Event)>,
    /// Exception exits waiting for the entry they reference: ref -> waiter.
    waiting: BTreeMap<String, Waiter>,
    /// Imported sessions by import key.
    by_key: BTreeMap<String, usize>,
    /// Imported exits waiting for their entry, by import key.
    waiting_import: BTreeMap<String, Waiter>,
    /// Per deleted session id, its first delete in event order.
    deleted: BTreeMap<&'a str, &'a Event>,
    /// Where the fold was settled, and which references crossed back.
    trace: Trace,
}

impl<'a> Walk<'a> {
    fn new(items: &[Item<'a>], deletes: &'a [(&'a Event, String)]) -> Self {
        let mut deleted: BTreeMap<&str, &Event> = BTreeMap::new();
        for (d, target) in deletes {
            let first = deleted.entry(target.as_str()).or_insert(d);
            if d.cmp_order(first).is_lt() {
                *first = d;
            }
        }
        Self {
            out: PlateFold::default(),
            members: BTreeMap::new(),
            open: None,
            closable: None,
            waiting: BTreeMap::new(),
            by_key: BTreeMap::new(),
            waiting_import: BTreeMap::new(),
            deleted,
            trace: Trace::new(items),
        }
    }

    /// The settled-point predicate: nothing is open or closable and no exit waits.
    fn is_settled(&self) -> bool {
        self.open.is_none()
            && self.closable.is_none()
            && self.waiting.is_empty()
            && self.waiting_import.is_empty()
    }

    /// Records the point after `at` items as settled when it is (never the point before all).
    fn note_if_settled(&mut self, at: usize) {
        if at > 0 && self.is_settled() {
            self.trace.settled(at, self.out.sessions.len());
        }
    }

    /// The first delete of the session with id `id`, if it was deleted.
    fn delete_of(&self, id: &str) -> Option<&'a Event> {
        self.deleted.get(id).copied()
    }

    /// Folds item number `at`.
    fn step(&mut self, at: usize, item: &Item<'a>) {
        self.note_if_settled(at);
        match &item.what {
            Vehicle::Entry(p) => self.entry(item, p),
            Vehicle::Exit(x) => match &item.import {
                Some(tag) => self.imported_exit(item.event, tag, x),
                None if item.unmatched => {
                    let exit = Side::gate(item.event, &x.gate);
                    self.exception(item.event, item.event.id.to_string(), exit, x, None);
                }
                None => self.exit(at, item.event, x),
            },
            Vehicle::Location(p) => self.sighting(item.event, p),
        }
    }

    /// An entry: completes the exit waiting for it, or is an alias of its imported session, or
    /// loses to the open session, or opens a session (superseding an open anomaly).
    fn entry(&mut self, item: &Item<'a>, p: &EntryPayload) {
        let e = item.event;
        let id = e.id.to_string();
        let key = item.import.as_ref().map(|t| t.key.as_str());
        let waiter = self
            .waiting
            .remove(&id)
            .or_else(|| {
                p.edge_event_id
                    .as_ref()
                    .and_then(|r| self.waiting.remove(r))
            })
            .or_else(|| key.and_then(|k| self.waiting_import.remove(k)));
        if let Some(w) = waiter {
            self.complete(w, item, id, p);
            return;
        }
        if let Some(&idx) = key.and_then(|k| self.by_key.get(k)) {
            // Another copy of an imported session: the first one stands.
            if self.delete_of(&id).is_some() && self.open == Some(idx) {
                self.open = None;
            }
            self.members.insert(id.clone(), idx);
            self.out.sessions[idx].aliases.push(id);
            return;
        }
        if let Some(idx) = self.open {
            if !self.out.sessions[idx].is_anomaly {
                self.concurrent_entry(idx, id, p);
                return;
            }
            self.out.sessions[idx].status = SessionStatus::Out;
        }
        let deleted_by = self.delete_of(&id);
        let mut s = tagged(
            Session::new(id.clone(), &p.plate_id, &p.plate_view, &e.id.origin),
            item.import.as_ref(),
        );
        s.entry = Some(Side::gate(e, p));
        let idx = self.push(id, s);
        if let Some(k) = key {
            self.by_key.insert(k.to_owned(), idx);
        }
        self.open = deleted_by.is_none().then_some(idx);
        self.closable = deleted_by.map(|d| (idx, d));
    }

    /// The entry that waiter `w`'s exit referenced arrived (it sorted later): the exception
    /// becomes a closed session with this entry.
    fn complete(&mut self, w: Waiter, item: &Item<'a>, id: String, p: &EntryPayload) {
        let e = item.event;
        self.waiting.retain(|_, o| o.session != w.session);
        self.waiting_import.retain(|_, o| o.session != w.session);
        self.members.insert(id.clone(), w.session);
        let s = &mut self.out.sessions[w.session];
        if let Some(exit) = s.exit.take() {
            s.id = id;
            s.entry = Some(Side::gate(e, p));
            s.exception = false;
            s.source_central = e.id.origin.clone();
            if let Some(tag) = &item.import {
                if let Some(src) = tag.source.as_deref() {
                    s.source_central = CentralId::new(src).unwrap_or_else(|_| e.id.origin.clone());
                }
                if s.import_key.is_none() {
                    s.import_key = Some(tag.key.clone());
                    self.by_key.insert(tag.key.clone(), w.session);
                }
            }
            close(s, exit, &w.tariff, w.exempt, w.fee);
        }
    }

    /// An entry while session `open` is open: the open one stands, the entry is listed as a
    /// loser of its `concurrent_entry` conflict.
    fn concurrent_entry(&mut self, open: usize, id: String, p: &EntryPayload) {
        let winner = self.out.sessions[open].id.clone();
        match self
            .out
            .conflicts
            .iter_mut()
            .find(|c| c.winner == winner && c.kind == CONCURRENT_ENTRY)
        {
            Some(c) => c.losers.push(id),
            None => self.out.conflicts.push(Conflict {
                plate_id: p.plate_id.clone(),
                kind: CONCURRENT_ENTRY.into(),
                winner,
                losers: vec![id],
                at_ms: p.at_ms,
            }),
        }
    }

    /// An imported exit: the first one with its key closes the imported session, later copies
    /// are aliases; with the session not known yet it waits as an exception.
    fn imported_exit(&mut self, e: &'a Event, tag: &ImportTag, x: &ExitPayload) {
        let id = e.id.to_string();
        let exit = Side::gate(e, &x.gate);
        match self.by_key.get(&tag.key) {
            Some(&idx) => {
                self.members.insert(id.clone(), idx);
                let s = &mut self.out.sessions[idx];
                if s.exit.is_none() && s.status == SessionStatus::In {
                    close(s, exit, &x.tariff, x.exempt.clone(), tag.fee);
                    if self.open == Some(idx) {
                        self.open = None;
                    }
                } else {
                    s.aliases.push(id);
                }
            }
            None => {
                // Its entry sorts later (odd original times) or is missing: an exception that
                // the entry completes when folded.
                let idx = self.exception(e, id, exit, x, Some(tag));
                self.by_key.insert(tag.key.clone(), idx);
                self.waiting_import.insert(
                    tag.key.clone(),
                    Waiter {
                        session: idx,
                        tariff: x.tariff,
                        exempt: x.exempt.clone(),
                        fee: tag.fee,
                    },
                );
            }
        }
    }

    /// An exit (item number `at`): closes the session its `entry_ref` names, else the open
    /// (or closable) one; a closed named session makes it a `duplicate_exit`; with nothing to
    /// close it is an exception, which waits for the entry it names.
    fn exit(&mut self, at: usize, e: &'a Event, x: &ExitPayload) {
        let id = e.id.to_string();
        let p = &x.gate;
        let by_ref = x.entry_ref.as_ref().and_then(|r| {
            self.out.sessions.iter().position(|s| {
                s.entry.as_ref().is_some_and(|en| {
                    !s.is_anomaly && (&en.event_id == r || en.edge_event_id.as_ref() == Some(r))
                })
            })
        });
        if let Some(idx) = by_ref {
            self.trace.refers(at, idx);
        }
        let target = match by_ref {
            Some(idx) if self.out.sessions[idx].is_open() => Some(idx),
            Some(idx) => {
                // The named session is closed (or deleted): keep the exit as a conflict.
                self.out.conflicts.push(Conflict {
                    plate_id: p.plate_id.clone(),
                    kind: DUPLICATE_EXIT.into(),
                    winner: self.out.sessions[idx].id.clone(),
                    losers: vec![id.clone()],
                    at_ms: p.at_ms,
                });
                self.members.insert(id, idx);
                return;
            }
            None => self.open.or_else(|| {
                self.closable
                    .filter(|&(idx, delete)| {
                        self.out.sessions[idx].status == SessionStatus::In
                            && e.cmp_order(delete).is_lt()
                    })
                    .map(|(idx, _)| idx)
            }),
        };
        let exit = Side {
            matched: x.matched.clone(),
            ..Side::gate(e, p)
        };
        match target {
            Some(idx) => {
                if self.closable.is_some_and(|(c, _)| c == idx) {
                    self.closable = None;
                }
                self.members.insert(id, idx);
                close(
                    &mut self.out.sessions[idx],
                    exit,
                    &x.tariff,
                    x.exempt.clone(),
                    None,
                );
                if self.open == Some(idx) {
                    self.open = None;
                }
            }
            None => {
                let idx = self.exception(e, id, exit, x, None);
                if let Some(r) = &x.entry_ref {
                    self.waiting.entry(r.clone()).or_insert(Waiter {
                        session: idx,
                        tariff: x.tariff,
                        exempt: x.exempt.clone(),
                        fee: None,
                    });
                }
            }
        }
    }

    /// An in-lot sighting: updates the open session's location, or opens an anomaly.
    fn sighting(&mut self, e: &'a Event, p: &LocationPayload) {
        let id = e.id.to_string();
        if let Some(idx) = self.open {
            self.members.insert(id, idx);
            let s = &mut self.out.sessions[idx];
            s.last_location = Some(p.location.clone());
            s.last_location_ms = Some(p.at_ms);
            return;
        }
        let deleted_now = self.delete_of(&id).is_some();
        let mut s = Session::new(id.clone(), &p.plate_id, &p.plate_view, &e.id.origin);
        s.entry = Some(Side::sighting(e, p));
        s.is_anomaly = true;
        s.last_location = Some(p.location.clone());
        s.last_location_ms = Some(p.at_ms);
        let idx = self.push(id, s);
        self.open = (!deleted_now).then_some(idx);
        if self.open.is_some() {
            self.closable = None;
        }
    }

    /// Adds an exception session: exit `exit` of event `e` (id `id`) that matched no entry.
    fn exception(
        &mut self,
        e: &Event,
        id: String,
        exit: Side,
        x: &ExitPayload,
        tag: Option<&ImportTag>,
    ) -> usize {
        let p = &x.gate;
        let mut s = tagged(
            Session::new(id.clone(), &p.plate_id, &p.plate_view, &e.id.origin),
            tag,
        );
        s.exit = Some(Side {
            matched: x.matched.clone(),
            ..exit
        });
        s.status = SessionStatus::Out;
        s.exception = true;
        s.exempt = x.exempt.clone();
        self.push(id, s)
    }

    /// Appends session `s`, opened by event `id`, and returns its index.
    fn push(&mut self, id: String, s: Session) -> usize {
        let idx = self.out.sessions.len();
        self.members.insert(id, idx);
        self.out.sessions.push(s);
        idx
    }

    /// Applies edits (newest first) and deletes to the sessions by the ids that name them, and
    /// picks the settled point.
    fn finish(
        self,
        items: &[Item<'_>],
        edits: &[(&Event, HistoryEditPayload)],
        deletes: &[(&Event, String)],
    ) -> (PlateFold, BTreeMap<String, usize>, SettledPoint) {
        let Self {
            mut out,
            members,
            trace,
            ..
        } = self;
        for s in &mut out.sessions {
            if let Some((_, edit)) = edits.iter().find(|(_, p)| s.is_named_by(&p.session)) {
                s.plate_id = edit.plate_id.clone();
                s.plate_view = edit.plate_view.clone();
            }
            s.deleted = deletes.iter().any(|(_, d)| s.is_named_by(d));
        }
        let point = trace.settled_point(items, &out.sessions);
        (out, members, point)
    }
}
